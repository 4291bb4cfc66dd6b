/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_eval_int.h - the PromQL evaluator's internal types and the contracts between its parts,
 * shared inside query/ only.
 *
 * The evaluator follows the structure of Prometheus' promql/engine.go, so that its semantics
 * (and its annotations and errors) come out the same:
 *   - promql_engine.c: the driver. Every expression is evaluated over the whole step grid at
 *     once (ev->start .. ev->end by ev->interval; an instant query is a grid of one step) into a
 *     tw_ev_matrix_t: a set of series, each with at most one point per step. Selectors, offsets,
 *     `@`, subqueries, step invariance, the per-step loop for functions (rangeEval), limits,
 *     name dropping and the result's final form live there.
 *   - promql_functions.c: the functions of the language, one tw_ev_func_t each, called per step
 *     (like Prometheus' FunctionCall with its EvalNodeHelper).
 *   - promql_aggregate.c: aggregations over a whole step grid (like rangeEvalAgg).
 *   - promql_binop.c: binary operators over a whole step grid (vector matching, set operators,
 *     comparisons, scalar arithmetic).
 *
 * Memory: everything an evaluation allocates comes from ev->arena (freed with the query), so
 * parts never free what they get or return. Label arrays are immutable once built and may be
 * shared by any number of samples and series; label strings are either the storage's (valid for
 * the query) or arena copies.
 *
 * Errors: parts return 0 or a negative code after calling tw_ev_fail() (which keeps the first
 * error's message). Annotations (warnings and infos) are added with tw_ev_warn()/tw_ev_info(),
 * deduplicated, and do not stop the evaluation.
 *
 * Thread model: one evaluation per tw_ev_t, on one thread.
 */
#ifndef TW_QUERY_PROMQL_EVAL_INT_H
#define TW_QUERY_PROMQL_EVAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/labels.h"
#include "query/query.h"

/* Prometheus' stale NaN (value.StaleNaN). */
#define TW_EV_STALE_NAN_BITS 0x7ff0000000000002ull

/* A label set as the evaluator passes it around: sorted by name, immutable, arena or storage. */
typedef struct tw_ev_labels {
    const tw_label_t *l;
    uint32_t n;
} tw_ev_labels_t;

/*
 * One element of an instant vector at one step (Prometheus' promql.Sample). drop_name marks
 * that __name__ must be removed when the result is finished (delayed name removal); with
 * delayed removal off, parts remove __name__ at once instead and never set it.
 */
typedef struct tw_ev_sample {
    tw_ev_labels_t m;
    int64_t t;
    double f;
    bool drop_name;
} tw_ev_sample_t;

/* An instant vector at one step: a growable array from the arena. */
typedef struct tw_ev_vector {
    tw_ev_sample_t *s;
    size_t n;
    size_t cap;
} tw_ev_vector_t;

/* One series over the grid, or over a range window (Prometheus' promql.Series). */
typedef struct tw_ev_series {
    tw_ev_labels_t m;
    tw_promql_point_t *p; /* ascending by t */
    size_t n;
    size_t cap;
    bool drop_name;
} tw_ev_series_t;

/*
 * A set of series (Prometheus' promql.Matrix). As the value of an instant-vector expression it
 * holds points only at grid steps, at most one per series per step; as the value of a scalar
 * expression it holds exactly one series with no labels and a point at every step.
 */
typedef struct tw_ev_matrix {
    tw_ev_series_t *s;
    size_t n;
    size_t cap;
} tw_ev_matrix_t;

/* The evaluation: settings, the grid, the storage view, counters, annotations, the error. */
typedef struct tw_ev {
    tw_arena_t *arena;
    const tw_promql_engine_options_t *opts; /* defaults applied: every field is set */
    const char *query;                      /* the query text (for annotation positions) */
    int64_t start; /* the grid, ms; an instant query has start == end and interval 1 */
    int64_t end;
    int64_t interval;
    size_t n_steps;      /* (end - start) / interval + 1 */
    int64_t query_start; /* the outer query's start and end, for @ start() / end() */
    int64_t query_end;
    const tw_promql_storage_t *storage;
    void *view;         /* the storage's open view */
    size_t cur_samples; /* samples held at once, against opts->max_samples */
    size_t peak_samples;
    size_t total_samples; /* samples read from storage */
    int64_t deadline_ns;  /* CLOCK_MONOTONIC; 0 = none */
    /* Annotations, deduplicated, as full strings ("PromQL warning: msg (1:6)"). */
    char **warnings;
    size_t n_warnings;
    size_t cap_warnings;
    char **infos;
    size_t n_infos;
    size_t cap_infos;
    int err_code;
    char err_msg[512];
} tw_ev_t;

/* ---- helpers every part uses (promql_engine.c) ---- */

/* Records the first error (printf-style message as Prometheus words it) and returns code. */
int tw_ev_fail(tw_ev_t *ev, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Adds an annotation about the expression at pos: "PromQL warning: <msg> (<line>:<col>)" or
 * "PromQL info: ...", line/col of pos.start in ev->query. Duplicates are dropped.
 */
void tw_ev_warn(tw_ev_t *ev, tw_promql_pos_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tw_ev_info(tw_ev_t *ev, tw_promql_pos_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Counts n more samples held in memory; fails with Prometheus' "query processing would load too
 * many samples into memory in query execution" (TW_EEXEC) past opts->max_samples. Release
 * with tw_ev_samples_release() when the memory is no longer needed.
 */
int tw_ev_samples_add(tw_ev_t *ev, size_t n);
void tw_ev_samples_release(tw_ev_t *ev, size_t n);

/* TW_ETIMEOUT ("query timed out in query execution") once the deadline has passed, else 0. */
int tw_ev_check_deadline(tw_ev_t *ev);

/* Growable arrays in the arena (allocation failure aborts, like every arena use). */
void tw_ev_vector_push(tw_ev_t *ev, tw_ev_vector_t *v, tw_ev_labels_t m, int64_t t, double f,
                       bool drop_name);
void tw_ev_series_push(tw_ev_t *ev, tw_ev_series_t *s, int64_t t, double f);
/* Appends a new empty series with labels m and returns it (valid until the next add). */
tw_ev_series_t *tw_ev_matrix_add(tw_ev_t *ev, tw_ev_matrix_t *m, tw_ev_labels_t labels,
                                 bool drop_name);

/*
 * A label-set builder (Prometheus' labels.Builder) over a base set: set (value "" deletes, as
 * in Prometheus), delete, then finish into a new sorted arena label set. name/value strings
 * are borrowed: copy them into the arena first when they are temporary (tw_arena_strdup).
 */
typedef struct tw_ev_lb {
    tw_ev_t *ev;
    tw_label_t *l;
    size_t n;
    size_t cap;
} tw_ev_lb_t;
void tw_ev_lb_init(tw_ev_lb_t *b, tw_ev_t *ev, tw_ev_labels_t base);
void tw_ev_lb_set(tw_ev_lb_t *b, const char *name, const char *value);
void tw_ev_lb_del(tw_ev_lb_t *b, const char *name);
/* Keeps only the listed names (for `by`/`on`); names need not be sorted. */
void tw_ev_lb_keep(tw_ev_lb_t *b, const char *const *names, size_t n);
tw_ev_labels_t tw_ev_lb_finish(tw_ev_lb_t *b);

/* m without __name__ (shares m when it has none). */
tw_ev_labels_t tw_ev_labels_drop_name(tw_ev_t *ev, tw_ev_labels_t m);
/* The value of name in m, or NULL. */
const char *tw_ev_labels_get(tw_ev_labels_t m, const char *name);
/* Hash of m (tw_labels_hash). */
uint64_t tw_ev_labels_hash(tw_ev_labels_t m);
/* Whether a and b are equal label sets. */
bool tw_ev_labels_equal(tw_ev_labels_t a, tw_ev_labels_t b);
/*
 * Hash of only the listed names of m (on(...)/by(...): include = true), or of all but the
 * listed names and __name__ (ignoring(...)/without(...): include = false), like Prometheus'
 * HashForLabels / HashWithoutLabels. names need not be sorted.
 */
uint64_t tw_ev_labels_hash_for(tw_ev_labels_t m, const char *const *names, size_t n, bool include);

/* Whether v is the stale NaN. */
bool tw_ev_is_stale(double v);

/* The Go-style float formatting used in messages (%g-like like Go's strconv 'g' -1). */
int tw_ev_format_g(double v, tw_buf_t *out);

/* ---- functions (promql_functions.c) ---- */

/*
 * One argument of a function call at one step. For the range-vector argument of a function
 * like rate(), `series` is the one input series' points inside the window that ends at the
 * step (after offset/@), with the series' labels; the engine calls the function once per
 * input series per step. Other arguments are the step's scalar, string or instant vector.
 */
typedef struct tw_ev_arg {
    tw_promql_type_t type;
    double scalar;
    const char *str;
    size_t str_len;
    const tw_ev_vector_t *vec;
    const tw_ev_series_t *series;
} tw_ev_arg_t;

/*
 * The call context (Prometheus' EvalNodeHelper plus the call's AST): the step time `ts`, the
 * call node (for argument positions and the range-vector argument's range_ms/offset, read
 * through tw_ev_call_range()), and `out`, where the function appends its output samples.
 * `cache` is a per-call scratch pointer kept across steps (e.g. label_replace's compiled regex
 * and output label sets by input set); the engine sets it to NULL before the first step.
 */
typedef struct tw_ev_call {
    tw_ev_t *ev;
    const tw_promql_expr_t *node; /* TW_PROMQL_CALL */
    int64_t ts;
    tw_ev_vector_t *out;
    void *cache;
} tw_ev_call_t;

typedef int (*tw_ev_func_t)(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n_args);

/*
 * The implementation of a function by name, or NULL (the engine then fails with "function not
 * implemented"). Functions the engine evaluates itself (timestamp's raw times, absent and
 * absent_over_time's labels from the matchers, sort* ordering) still have entries here that do
 * the per-step part.
 */
tw_ev_func_t tw_ev_func_lookup(const char *name);

/*
 * For a function whose argument i is a range vector (a matrix selector or a subquery): the
 * range and the effective offset in ms, as rate()'s extrapolation needs them
 * (Prometheus: ms.Range, vs.Offset / subquery Range, OriginalOffset).
 */
void tw_ev_call_range(const tw_ev_call_t *c, size_t i, int64_t *range_ms, int64_t *offset_ms);

/*
 * One step's window over the points of a range-vector argument, for a whole-series function:
 * the step time, the window's end (the step time less the offset, or the `@` time less the
 * offset) and the window's points p[lo..hi) (hi > lo).
 */
typedef struct tw_ev_window {
    int64_t ts;
    int64_t end;
    size_t lo, hi;
} tw_ev_window_t;

/*
 * The whole-series form of a range-vector function whose only argument is the range vector (an
 * optional fast path of the engine, same results as calling the tw_ev_func_t once per step):
 * computes out[j] for each of the nw windows of series s (range_ms long), with has[j] false
 * where the function gives no sample. Annotations go through c (c->ts may be changed).
 */
typedef int (*tw_ev_series_func_t)(tw_ev_call_t *c, const tw_ev_series_t *s, int64_t range_ms,
                                   const tw_ev_window_t *w, size_t nw, double *out, bool *has);

/* The whole-series form of a function by name, or NULL (then the engine calls it per step). */
tw_ev_series_func_t tw_ev_series_func_lookup(const char *name);

/* ---- aggregations (promql_aggregate.c) ---- */

/*
 * Evaluates the aggregation node over the whole grid: in is the operand's value (an instant
 * vector over the grid), param the parameter's value when the operator has one (a scalar over
 * the grid for topk/bottomk/quantile/limitk/limit_ratio: param->s[0] has a point per step; NULL
 * otherwise), label the count_values label name (NULL otherwise). Fills *out with one series
 * per output group (topk/bottomk/limitk: the kept input series). Like Prometheus' rangeEvalAgg
 * and aggregation()/aggregationK()/aggregationCountValues(), with its annotations and errors.
 */
int tw_ev_aggregate(tw_ev_t *ev, const tw_promql_expr_t *node, const tw_ev_matrix_t *in,
                    const tw_ev_matrix_t *param, const char *label, tw_ev_matrix_t *out);

/* ---- binary operators (promql_binop.c) ---- */

/*
 * Evaluates the binary node over the whole grid given both operands' values (each a scalar or
 * an instant vector over the grid, per tw_promql_expr_type of node->u.binary.lhs/rhs). Fills
 * *out: a scalar series for scalar op scalar, else the result vector over the grid. Like
 * Prometheus' VectorBinop, VectorscalarBinop, VectorAnd/Or/Unless with its errors ("many-to-many
 * matching not allowed: matching labels must be unique on one side", "multiple matches for
 * labels: many-to-one matching must be explicit (group_left/group_right)", ...).
 */
int tw_ev_binop(tw_ev_t *ev, const tw_promql_expr_t *node, const tw_ev_matrix_t *lhs,
                const tw_ev_matrix_t *rhs, tw_ev_matrix_t *out);

/* The arithmetic and comparison of two floats (Prometheus' vectorElemBinop for floats);
 * *keep false means a comparison dropped the element. */
double tw_ev_binop_float(tw_promql_op_t op, double lhs, double rhs, bool *keep);

#endif
