/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query.h - the PromQL front end: parser, AST, type checker, printer and function table.
 *
 * tw_promql_parse() turns a query string into a typed AST with Prometheus' grammar (3.5 LTS by
 * default, 2.42 with TW_PROMQL_COMPAT_PROMETHEUS2) and Prometheus' error messages, positions
 * included ("1:5: parse error: unexpected ..."). The whole tree lives in one tw_promql_ast_t
 * (an arena plus the compiled label matchers); tw_promql_ast_free() releases it. The evaluator
 * walks the tree read-only; tw_promql_print() renders any subtree back to canonical PromQL like
 * Prometheus' Expr.String(). Native-histogram literals and experimental duration expressions are
 * not part of the language here (docs/promql.md).
 *
 * Thread model: parsing has no shared state; a finished AST is immutable and may be read by
 * any number of threads. The function table is static and constant.
 */
#ifndef TW_QUERY_QUERY_H
#define TW_QUERY_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/labels.h"
#include "common/matcher.h"

/* Which Prometheus the language (and later the evaluator) follows. */
typedef enum {
    TW_PROMQL_COMPAT_PROMETHEUS3 = 0, /* Prometheus 3.5 LTS (default) */
    TW_PROMQL_COMPAT_PROMETHEUS2,     /* Prometheus 2.42 */
} tw_promql_compat_t;

/* The value types of PromQL expressions (Prometheus' ValueType). */
typedef enum {
    TW_PROMQL_TYPE_NONE = 0,
    TW_PROMQL_TYPE_SCALAR,
    TW_PROMQL_TYPE_VECTOR, /* instant vector */
    TW_PROMQL_TYPE_MATRIX, /* range vector */
    TW_PROMQL_TYPE_STRING,
} tw_promql_type_t;

/* Node kinds. */
typedef enum {
    TW_PROMQL_NUMBER = 1,
    TW_PROMQL_STRING,
    TW_PROMQL_VECTOR_SELECTOR,
    TW_PROMQL_MATRIX_SELECTOR,
    TW_PROMQL_SUBQUERY,
    TW_PROMQL_UNARY,
    TW_PROMQL_BINARY,
    TW_PROMQL_AGGREGATE,
    TW_PROMQL_CALL,
    TW_PROMQL_PAREN,
    TW_PROMQL_STEP_INVARIANT, /* never produced by the parser; for the evaluator's rewrites */
} tw_promql_kind_t;

/* Binary and unary operators. */
typedef enum {
    TW_PROMQL_OP_ADD = 1,
    TW_PROMQL_OP_SUB,
    TW_PROMQL_OP_MUL,
    TW_PROMQL_OP_DIV,
    TW_PROMQL_OP_MOD,
    TW_PROMQL_OP_POW,
    TW_PROMQL_OP_ATAN2,
    TW_PROMQL_OP_EQLC, /* == */
    TW_PROMQL_OP_NEQ,  /* != */
    TW_PROMQL_OP_GTR,  /* > */
    TW_PROMQL_OP_LSS,  /* < */
    TW_PROMQL_OP_GTE,  /* >= */
    TW_PROMQL_OP_LTE,  /* <= */
    TW_PROMQL_OP_AND,
    TW_PROMQL_OP_OR,
    TW_PROMQL_OP_UNLESS,
} tw_promql_op_t;

/* Aggregation operators. */
typedef enum {
    TW_PROMQL_AGG_SUM = 1,
    TW_PROMQL_AGG_AVG,
    TW_PROMQL_AGG_COUNT,
    TW_PROMQL_AGG_MIN,
    TW_PROMQL_AGG_MAX,
    TW_PROMQL_AGG_GROUP,
    TW_PROMQL_AGG_STDDEV,
    TW_PROMQL_AGG_STDVAR,
    TW_PROMQL_AGG_TOPK,
    TW_PROMQL_AGG_BOTTOMK,
    TW_PROMQL_AGG_COUNT_VALUES,
    TW_PROMQL_AGG_QUANTILE,
    TW_PROMQL_AGG_LIMITK,
    TW_PROMQL_AGG_LIMIT_RATIO,
} tw_promql_agg_t;

/* Vector matching cardinality. */
typedef enum {
    TW_PROMQL_CARD_ONE_TO_ONE = 0,
    TW_PROMQL_CARD_MANY_TO_ONE,  /* group_left */
    TW_PROMQL_CARD_ONE_TO_MANY,  /* group_right */
    TW_PROMQL_CARD_MANY_TO_MANY, /* set operators */
} tw_promql_card_t;

/* The `@` modifier of a selector or subquery. */
typedef enum {
    TW_PROMQL_AT_NONE = 0,
    TW_PROMQL_AT_TIMESTAMP, /* at_ms holds the time */
    TW_PROMQL_AT_START,     /* @ start() */
    TW_PROMQL_AT_END,       /* @ end() */
} tw_promql_at_t;

/* A byte range [start, end) of the query text. */
typedef struct tw_promql_pos {
    uint32_t start;
    uint32_t end;
} tw_promql_pos_t;

/* A function of the language: Prometheus' parser.Function. */
typedef struct tw_promql_function {
    const char *name;
    const tw_promql_type_t *arg_types; /* n_args entries */
    int n_args;
    /* 0: exactly n_args; -1: the last type repeats without bound; k > 0: the last argument is
     * optional and may appear up to k times (Prometheus' Variadic). */
    int variadic;
    tw_promql_type_t return_type;
    bool experimental; /* needs experimental functions enabled (Prometheus 3.5 flag) */
} tw_promql_function_t;

typedef struct tw_promql_expr tw_promql_expr_t;

/*
 * One node. Strings and arrays are owned by the AST's arena; matchers are initialized
 * tw_matcher_t (compiled regexes) freed with the AST. Durations and times are milliseconds.
 */
struct tw_promql_expr {
    tw_promql_kind_t kind;
    tw_promql_pos_t pos; /* the text this node covers, as Prometheus' PositionRange */
    uint32_t height; /* height of this subtree (1 for a leaf): bounds the evaluator's recursion */
    union {
        struct {
            double val;
        } number;
        struct {
            const char *val; /* unquoted; may hold NUL bytes: use len */
            size_t len;
        } string;
        struct {
            const char *name;       /* metric name written before `{`, or NULL */
            tw_matcher_t *matchers; /* includes __name__="name" last when name is set */
            size_t n_matchers;
            int64_t offset_ms; /* `offset`, negative allowed; 0 = none */
            tw_promql_at_t at; /* `@` modifier */
            int64_t at_ms;     /* with TW_PROMQL_AT_TIMESTAMP */
        } vs;
        struct {
            tw_promql_expr_t *vs; /* a TW_PROMQL_VECTOR_SELECTOR carrying offset and @ */
            int64_t range_ms;
        } matrix;
        struct {
            tw_promql_expr_t *expr;
            int64_t range_ms;
            int64_t step_ms; /* 0: the default evaluation interval */
            int64_t offset_ms;
            tw_promql_at_t at;
            int64_t at_ms;
        } subquery;
        struct {
            tw_promql_op_t op; /* ADD or SUB */
            tw_promql_expr_t *expr;
        } unary;
        struct {
            tw_promql_op_t op;
            tw_promql_expr_t *lhs;
            tw_promql_expr_t *rhs;
            bool return_bool;
            /* Vector matching; has_matching is false when either side is a scalar. */
            bool has_matching;
            tw_promql_card_t card;
            bool on; /* on(...) rather than ignoring(...) */
            const char **labels;
            size_t n_labels;
            const char **include; /* group_left/group_right labels */
            size_t n_include;
        } binary;
        struct {
            tw_promql_agg_t op;
            tw_promql_expr_t *param; /* topk/bottomk/quantile/count_values/limitk/limit_ratio */
            tw_promql_expr_t *expr;
            const char **grouping;
            size_t n_grouping;
            bool without;
        } aggregate;
        struct {
            const tw_promql_function_t *func;
            tw_promql_expr_t **args;
            size_t n_args;
        } call;
        struct {
            tw_promql_expr_t *expr;
        } paren;
        struct {
            tw_promql_expr_t *expr;
        } step_invariant;
    } u;
};

/* Parser settings. Zero-initialized means Prometheus 3.5 defaults with limits below. */
typedef struct tw_promql_parse_options {
    tw_promql_compat_t compat;
    /* Refuse experimental functions and limitk/limit_ratio like Prometheus without
     * --enable-feature=promql-experimental-functions. Default false: they are available. */
    bool disable_experimental_functions;
    size_t max_input_bytes; /* 0: TW_PROMQL_DEFAULT_MAX_INPUT */
    int max_depth; /* parser recursion and AST height limit; 0: TW_PROMQL_DEFAULT_MAX_DEPTH */
} tw_promql_parse_options_t;

#define TW_PROMQL_DEFAULT_MAX_INPUT (256u * 1024u)
#define TW_PROMQL_DEFAULT_MAX_DEPTH 256

/* A parsed query: owns every node, string and matcher reachable from its root. */
typedef struct tw_promql_ast tw_promql_ast_t;

/*
 * Parses input (len bytes, need not be NUL-terminated) into *out. opts may be NULL (defaults).
 * Returns 0, TW_EPARSE with err->msg "parse error: ..." and err->line/col 1-based like
 * Prometheus (tw_error_format gives "1:5: parse error: ..."), or TW_ELIMIT when the input is
 * longer than max_input_bytes or nests deeper than max_depth. On error *out is NULL.
 */
int tw_promql_parse(const char *input, size_t len, const tw_promql_parse_options_t *opts,
                    tw_promql_ast_t **out, tw_error_t *err);

/* The root expression; valid until tw_promql_ast_free(). */
tw_promql_expr_t *tw_promql_ast_root(const tw_promql_ast_t *ast);

/* The query text the AST was parsed from (NUL-terminated copy), for positions in messages. */
const char *tw_promql_ast_input(const tw_promql_ast_t *ast);

/* Frees the AST and everything in it. NULL is a no-op. */
void tw_promql_ast_free(tw_promql_ast_t *ast);

/* The value type of e (Prometheus' Expr.Type()). */
tw_promql_type_t tw_promql_expr_type(const tw_promql_expr_t *e);

/* "scalar", "instant vector", "range vector", "string" or "none" (DocumentedType). */
const char *tw_promql_type_str(tw_promql_type_t t);

/* "+", "==", "and", "atan2", ... */
const char *tw_promql_op_str(tw_promql_op_t op);

/* "sum", "count_values", ... */
const char *tw_promql_agg_str(tw_promql_agg_t op);

/* Whether op is a comparison (==, !=, >, <, >=, <=) or a set operator (and, or, unless). */
bool tw_promql_op_is_comparison(tw_promql_op_t op);
bool tw_promql_op_is_set(tw_promql_op_t op);

/* Printer flags. */
enum {
    /* Wrap every binary and unary expression in parentheses (shows the tree's shape). */
    TW_PROMQL_PRINT_PARENS = 1u << 0,
};

/*
 * Appends e rendered as PromQL to out, like Prometheus' String() (flags 0). Returns 0 or
 * TW_ELIMIT from out.
 */
int tw_promql_print(const tw_promql_expr_t *e, unsigned flags, tw_buf_t *out);

/*
 * Appends d formatted like Prometheus' model.Duration ("1h30m", "0s", "1d", "500ms") to out.
 * d must be >= 0. Returns 0 or TW_ELIMIT.
 */
int tw_promql_duration_format(int64_t d_ms, tw_buf_t *out);

/*
 * Parses a Prometheus duration ("1h30m", "5m", "0", "10s53ms"; units y w d h m s ms in
 * decreasing order) into *ms. Returns 0 or TW_EPARSE ("not a valid duration string: ...").
 */
int tw_promql_duration_parse(const char *s, size_t len, int64_t *ms, tw_error_t *err);

/* Looks a function up by name (NUL-terminated). NULL when unknown. */
const tw_promql_function_t *tw_promql_function_lookup(const char *name);

/* The whole function table: *n receives the count. Sorted by name. */
const tw_promql_function_t *tw_promql_functions(size_t *n);

/* ---- evaluation ---- */

/*
 * The storage the engine reads: a table of functions plus a context (the TSDB implements it with
 * tw_promql_storage_tsdb(); tests use an in-memory one). Read side only.
 */
typedef int (*tw_promql_series_fn)(void *arg, const tw_label_t *labels, size_t n_labels,
                                   const int64_t *t_ms, const double *v, size_t n_samples);

typedef struct tw_promql_storage {
    void *ctx;
    /* Opens a read view over [mint, maxt] (inclusive, ms) into *q. */
    int (*open)(void *ctx, int64_t mint, int64_t maxt, void **q, tw_error_t *err);
    /* Closes a view from open(); everything it handed out becomes invalid. */
    void (*close)(void *q);
    /*
     * Calls fn once for each series that matches all n matchers and has a sample in [mint, maxt]
     * (within the view's range), in label order (tw_labels_compare), with its samples in
     * [mint, maxt] ascending (stale markers included). labels stay valid until close(); the
     * sample arrays only during the call. fn returns 0 to go on, or a negative code that
     * select() returns at once.
     */
    int (*select)(void *q, const tw_matcher_t *ms, size_t n, int64_t mint, int64_t maxt,
                  tw_promql_series_fn fn, void *arg, tw_error_t *err);
    /*
     * Sorted distinct label names, or values of label `name` (name != NULL), of series that
     * match ms (n == 0: every series) with samples in the view's range. *out is a malloc'd
     * array of strings valid until close(); the caller frees the array only. Optional (NULL):
     * the API then answers from select().
     */
    int (*label_names)(void *q, const tw_matcher_t *ms, size_t n, const char ***out, size_t *n_out,
                       tw_error_t *err);
    int (*label_values)(void *q, const char *name, const tw_matcher_t *ms, size_t n,
                        const char ***out, size_t *n_out, tw_error_t *err);
} tw_promql_storage_t;

/* Engine settings. Zero-initialized means the Prometheus defaults given per field. */
typedef struct tw_promql_engine_options {
    tw_promql_compat_t compat;
    int64_t lookback_delta_ms;        /* 0: 5 minutes */
    size_t max_samples;               /* samples in memory at once; 0: 50,000,000 */
    int64_t timeout_ms;               /* 0: 2 minutes; a negative value: no timeout */
    int64_t default_subquery_step_ms; /* step of `[r:]` subqueries; 0: 1 minute */
    bool delayed_name_removal;        /* Prometheus 3.5 feature flag; off by default */
    bool disable_experimental_functions;
} tw_promql_engine_options_t;

#define TW_PROMQL_DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define TW_PROMQL_DEFAULT_MAX_SAMPLES 50000000u
#define TW_PROMQL_DEFAULT_TIMEOUT_MS (2 * 60 * 1000)
#define TW_PROMQL_DEFAULT_SUBQUERY_STEP_MS (60 * 1000)

/* One point of a series: time (ms) and value. */
typedef struct tw_promql_point {
    int64_t t;
    double v;
} tw_promql_point_t;

/* One series of a result: sorted labels and its points (one for an instant vector). */
typedef struct tw_promql_series {
    const tw_label_t *labels;
    size_t n_labels;
    const tw_promql_point_t *points;
    size_t n_points;
} tw_promql_series_t;

/*
 * A query's answer. Everything it points to is owned by the result (tw_promql_result_free).
 * type is SCALAR (scalar + t), STRING (str, str_len, t), VECTOR (each series one point, in the
 * engine's order: sorted by labels unless sort* or topk/bottomk decided the order, in which
 * case `ordered` is true) or MATRIX (series sorted by labels, points ascending).
 * warnings and infos are Prometheus' annotation strings ("PromQL warning: ... (1:6)").
 */
typedef struct tw_promql_result {
    tw_promql_type_t type;
    double scalar;
    int64_t t;
    const char *str;
    size_t str_len;
    const tw_promql_series_t *series;
    size_t n_series;
    bool ordered;
    const char *const *warnings;
    size_t n_warnings;
    const char *const *infos;
    size_t n_infos;
    size_t samples_total; /* samples read from storage (the query's stats) */
    size_t peak_samples;  /* the most samples held at once */
    void *priv_;          /* the engine's arena: not for callers */
} tw_promql_result_t;

/*
 * Evaluates query at time t_ms (an instant query, like /api/v1/query) against storage.
 * opts may be NULL (defaults). On success *out receives the result (free it with
 * tw_promql_result_free). Errors (*out NULL, err->msg as Prometheus words it):
 * TW_EPARSE (bad_data: the parse error, or a string/range-vector result where none is allowed),
 * TW_EEXEC (execution: e.g. "vector cannot contain metrics with the same labelset",
 * "query processing would load too many samples into memory in query execution"),
 * TW_ETIMEOUT ("query timed out in query execution"), or a storage error.
 */
int tw_promql_exec_instant(const tw_promql_engine_options_t *opts,
                           const tw_promql_storage_t *storage, const char *query, size_t len,
                           int64_t t_ms, tw_promql_result_t **out, tw_error_t *err);

/*
 * Evaluates query at start_ms, start_ms + step_ms, ... up to end_ms (a range query, like
 * /api/v1/query_range). The result is a MATRIX (a scalar expression gives one series without
 * labels). step_ms > 0 and end_ms >= start_ms, else TW_EPARSE. The query must be of type
 * scalar or instant vector (else TW_EPARSE: "invalid expression type \"range vector\" for range
 * query, must be Scalar or instant Vector"). Errors as tw_promql_exec_instant().
 */
int tw_promql_exec_range(const tw_promql_engine_options_t *opts, const tw_promql_storage_t *storage,
                         const char *query, size_t len, int64_t start_ms, int64_t end_ms,
                         int64_t step_ms, tw_promql_result_t **out, tw_error_t *err);

/* Frees a result. NULL is a no-op. */
void tw_promql_result_free(tw_promql_result_t *r);

/*
 * Appends v formatted like Prometheus' API does for sample values (Go's
 * strconv.FormatFloat(v, 'f', -1, 64) for |v| in [1e-6, 1e21), else the shortest exponent form
 * "1e-07", "1e+22"; "NaN", "+Inf", "-Inf"). Returns 0 or TW_ELIMIT.
 */
int tw_promql_format_value(double v, tw_buf_t *out);

struct tw_tsdb;
/*
 * A storage view of a TSDB (the daemon's). *s is filled in; db is borrowed and must outlive
 * every query that uses s.
 */
void tw_promql_storage_tsdb(struct tw_tsdb *db, tw_promql_storage_t *s);

/* The engine as a query source (common/query_source.h) for rules and autoscalers. */
struct tw_query_source;
typedef struct tw_promql_qs {
    tw_promql_engine_options_t opts;
    tw_promql_storage_t storage;
} tw_promql_qs_t;

/*
 * Fills *out with a query source that evaluates instant queries with ctx's options against
 * ctx's storage. ctx is borrowed and must outlive every use of *out. Thread-safe as far as the
 * storage is.
 */
void tw_promql_query_source(tw_promql_qs_t *ctx, struct tw_query_source *out);

/* ---- test scripts ---- */

#include <stdio.h> /* FILE, for the runner's report */

/*
 * An in-memory storage for tests and the test-script runner: series with sorted labels, samples
 * ascending by time, staleness markers stored like any value. Not thread-safe; the storage view
 * (tw_promql_memstore_storage) must not be used while samples are being added.
 */
typedef struct tw_promql_memstore tw_promql_memstore_t;

/* Creates an empty store. Never NULL (out of memory aborts). */
tw_promql_memstore_t *tw_promql_memstore_new(void);

/* Frees the store and every string it copied. NULL is a no-op. */
void tw_promql_memstore_free(tw_promql_memstore_t *m);

/*
 * Adds the sample (t_ms, v) to the series with these labels (any order; names must be unique
 * and non-empty, else TW_EINVAL; the strings are copied). A sample at a time the series already
 * has replaces the old value. Returns 0 or TW_EINVAL.
 */
int tw_promql_memstore_add(tw_promql_memstore_t *m, const tw_label_t *labels, size_t n,
                           int64_t t_ms, double v, tw_error_t *err);

/* Number of series in the store. */
size_t tw_promql_memstore_series_count(const tw_promql_memstore_t *m);

/*
 * Fills *s with a storage view of m (open/close/select/label_names/label_values). m is
 * borrowed and must outlive every query that uses s.
 */
void tw_promql_memstore_storage(tw_promql_memstore_t *m, tw_promql_storage_t *s);

/* The bit pattern of Prometheus' staleness marker NaN (value.StaleNaN). */
#define TW_PROMQL_STALE_NAN_BITS 0x7ff0000000000002ull

/* Whether v is the staleness marker (not just any NaN). */
bool tw_promql_is_stale_nan(double v);

/*
 * Float equality of the test scripts (Prometheus' util/almost.Equal with epsilon 1e-6):
 * bit-identical, or both NaN (a staleness marker equals only another staleness marker), or a
 * relative difference below 1e-6 (an absolute one near zero).
 */
bool tw_promql_test_float_equal(double a, double b);

/* One item of a series description ("1", "_", "stale", "{{...}}"). */
typedef enum {
    TW_PROMQL_SEQ_FLOAT = 0, /* v holds the value (a staleness marker is a float) */
    TW_PROMQL_SEQ_OMITTED,   /* `_`: no sample at this step */
    TW_PROMQL_SEQ_HISTOGRAM, /* a native histogram `{{...}}` (not interpreted; v is 0) */
} tw_promql_seq_kind_t;

typedef struct tw_promql_seq_value {
    tw_promql_seq_kind_t kind;
    double v;
} tw_promql_seq_value_t;

/*
 * A parsed series description (promqltest's `load` lines and expected results; promtool's
 * input_series): the label set, sorted by name with __name__ included, and the values.
 */
typedef struct tw_promql_series_desc {
    tw_label_t *labels; /* owned (strings too), sorted by name */
    size_t n_labels;
    tw_promql_seq_value_t *values; /* owned */
    size_t n_values;
    bool has_histograms; /* some item was a `{{...}}` histogram */
} tw_promql_series_desc_t;

#define TW_PROMQL_SERIES_DESC_MAX_VALUES 1000000u

/*
 * Parses a series description `name{l="v", ...} <items>` (len bytes of s; FORMAT.md section
 * 4: numbers incl. Inf/NaN, `a+bxN`, `a-bxN`, `axN`, `_`, `_xN`, `stale`, `{{...}}` histograms
 * with `xN` / `+{{...}}xN`). values_required: whether at least one item must follow the labels.
 * At most max_values values (0: TW_PROMQL_SERIES_DESC_MAX_VALUES; more is TW_ELIMIT).
 * Returns 0, TW_EPARSE (err->col 1-based within s) or TW_ELIMIT. On error *d is empty.
 * Free with tw_promql_series_desc_fini().
 */
int tw_promql_series_desc_parse(const char *s, size_t len, bool values_required, size_t max_values,
                                tw_promql_series_desc_t *d, tw_error_t *err);

/* Frees what tw_promql_series_desc_parse() allocated and empties *d. NULL is a no-op. */
void tw_promql_series_desc_fini(tw_promql_series_desc_t *d);

/*
 * The runner of Prometheus' PromQL test scripts (promqltest `.test` files: load/clear/eval
 * commands, see ../shared/conformance/promql/FORMAT.md). Every eval is evaluated by
 * tw_promql_exec_instant()/tw_promql_exec_range() against a tw_promql_memstore_t with the
 * settings upstream's test engine uses (lookback 5m, at most 10000 samples, timeout 100s,
 * subquery step 1m, delayed name removal in prometheus3 mode). Evals that need what tidewatch
 * does not implement (native histograms, duration expressions, info(), anchored/smoothed
 * selectors, fill modifiers, start timestamps) are skipped and counted by reason.
 */
typedef enum {
    TW_PROMQL_TEST_SKIP_NATIVE_HISTOGRAMS = 0,
    TW_PROMQL_TEST_SKIP_DURATION_EXPRESSIONS,
    TW_PROMQL_TEST_SKIP_INFO_FUNCTION,
    TW_PROMQL_TEST_SKIP_EXTENDED_RANGE_SELECTORS, /* anchored / smoothed */
    TW_PROMQL_TEST_SKIP_FILL_MODIFIERS,
    TW_PROMQL_TEST_SKIP_START_TIMESTAMPS,
    TW_PROMQL_TEST_SKIP_N,
} tw_promql_test_skip_t;

/* A short human name of a skip reason ("native histograms", ...). */
const char *tw_promql_test_skip_str(tw_promql_test_skip_t r);

/* Runner settings. Zero-initialized: prometheus3, failures printed, both section 8 checks on. */
typedef struct tw_promql_test_options {
    tw_promql_compat_t compat;
    int verbose;         /* 0: failures; 1: also skipped evals; 2: also passed evals */
    bool no_range_check; /* leave out the range-mode re-run of instant evals (section 8) */
    bool no_at_rewrite;  /* leave out the `@`-rewrite re-runs of instant evals (section 8) */
} tw_promql_test_options_t;

/* What a run counted; the runner adds to it (zero it before the first file). */
typedef struct tw_promql_test_counts {
    size_t passed;
    size_t failed;
    size_t skipped;
    size_t skipped_by[TW_PROMQL_TEST_SKIP_N];
} tw_promql_test_counts_t;

/*
 * Runs the script text (len bytes; name is used in messages, e.g. the path). Each failing eval
 * prints "name:line: FAIL ..." with the expression, what was expected and what came back to out
 * (NULL: silent). Returns 0 when the script was run (whatever its evals gave), TW_EPARSE when the
 * script is malformed (nothing is run; err names the line), TW_ELIMIT, or a storage error.
 */
int tw_promql_test_run_script(const char *name, const char *text, size_t len,
                              const tw_promql_test_options_t *o, FILE *out,
                              tw_promql_test_counts_t *counts, tw_error_t *err);

/* Reads path (at most 64 MiB) and runs it like tw_promql_test_run_script(). -errno on I/O. */
int tw_promql_test_run_file(const char *path, const tw_promql_test_options_t *o, FILE *out,
                            tw_promql_test_counts_t *counts, tw_error_t *err);

/*
 * `tidewatch test promql [--query.compat=prometheus2|prometheus3] [-v|--verbose]
 * [--no-range-check] [--no-at-rewrite] FILE...`: argv[0] is the first argument after "promql".
 * Runs every file, printing per file "FILE: N passed, N failed, N skipped" and the skip reasons
 * with counts to out, and usage or script errors to errout. Returns the exit code: 0 when no eval
 * failed and every script ran, 1 otherwise, 2 for a usage error.
 */
int tw_promql_test_main(int argc, char **argv, FILE *out, FILE *errout);

/* ---- HTTP API ---- */

#include "common/http_server.h"

/*
 * The Prometheus HTTP API v1 (query/api.c): /api/v1/query, /api/v1/query_range, /api/v1/series,
 * /api/v1/labels (GET and form POST), /api/v1/label/<name>/values, /api/v1/metadata,
 * /api/v1/targets, /api/v1/status/{buildinfo,config,flags,runtimeinfo,tsdb} and /federate,
 * with Prometheus' envelope ({"status","data","errorType","error","warnings","infos"}), error
 * types and status codes (400 bad_data, 422 execution, 503 timeout, 500 internal), parameter
 * syntax and messages. What the query module cannot know (targets, the config text, flags,
 * runtime facts, head statistics) comes from the daemon through the callbacks below.
 * docs/http-api.md lists every endpoint and where tidewatch differs.
 *
 * Thread model: handlers run concurrently on the HTTP pool; the API object is immutable after
 * tw_query_api_new() except for the engine options (tw_query_api_set_engine_options(), guarded
 * by a mutex). The callbacks must be thread-safe.
 */
typedef struct tw_query_api tw_query_api_t;

/* Build facts for /api/v1/status/buildinfo; every field may be NULL (""). Copied. */
typedef struct tw_query_api_build_info {
    const char *version;
    const char *revision;
    const char *branch;
    const char *build_user;
    const char *build_date;
    const char *go_version; /* tidewatch reports the C compiler here */
} tw_query_api_build_info_t;

/* Head facts for /api/v1/status/tsdb ("headStats"). */
typedef struct tw_query_api_head_stats {
    uint64_t num_series;
    uint64_t chunk_count;
    int64_t min_time_ms; /* INT64_MAX when empty, reported like Prometheus */
    int64_t max_time_ms; /* INT64_MIN when empty */
} tw_query_api_head_stats_t;

typedef struct tw_query_api_config {
    tw_promql_storage_t storage;       /* copied; its ctx must outlive the API */
    tw_promql_engine_options_t engine; /* initial engine options */
    tw_query_api_build_info_t build;
    const tw_label_t *external_labels; /* added by /federate; copied */
    size_t n_external_labels;
    void *ctx; /* passed to every callback; borrowed */
    /* The time of a query without `time` (ms). NULL: the wall clock. */
    int64_t (*now_ms)(void *ctx);
    /*
     * Each appends the JSON value of "data" to out (a complete JSON value) and returns 0, or a
     * negative code with err set (answered as an internal error). NULL: the endpoint answers
     * an empty value of its shape. state is "", "active", "dropped" or "any".
     */
    int (*targets)(void *ctx, const char *state, tw_buf_t *out, tw_error_t *err);
    int (*runtime_info)(void *ctx, tw_buf_t *out, tw_error_t *err);
    int (*flags)(void *ctx, tw_buf_t *out, tw_error_t *err);
    /* Appends the configuration as YAML text (not JSON) to out. */
    int (*config_yaml)(void *ctx, tw_buf_t *out, tw_error_t *err);
    /* Fills the head facts of /api/v1/status/tsdb. */
    int (*head_stats)(void *ctx, tw_query_api_head_stats_t *out, tw_error_t *err);
} tw_query_api_config_t;

/* Creates the API from cfg (copied). Never NULL (out of memory aborts). */
tw_query_api_t *tw_query_api_new(const tw_query_api_config_t *cfg);

/* Frees the API. The server it was registered on must be stopped first. NULL is a no-op. */
void tw_query_api_free(tw_query_api_t *api);

/* Replaces the engine options for queries that start from now on. Thread-safe. */
void tw_query_api_set_engine_options(tw_query_api_t *api, const tw_promql_engine_options_t *o);

/*
 * Registers every route of the API on srv (before it starts); api is borrowed and must outlive
 * srv. Returns 0 or the router's error.
 */
int tw_query_api_register(tw_http_server_t *srv, tw_query_api_t *api);

/* One request parameter (a query-string or form-body argument). */
typedef struct tw_query_api_param {
    const char *name;
    const char *value;
} tw_query_api_param_t;

/*
 * Answers one request as the routes do, with its parameters given directly (repeated names,
 * like match[], in order; the first of a name wins for single-valued ones). path is the full
 * path ("/api/v1/query", "/api/v1/label/job/values", "/federate"). Fills resp (status,
 * content type, body). Returns 0 (errors are answers), or TW_ENOTFOUND for a path the API does
 * not serve. For tests and for the CLI.
 */
int tw_query_api_serve(tw_query_api_t *api, const char *method, const char *path,
                       const tw_query_api_param_t *params, size_t n_params,
                       tw_http_response_t *resp);

/*
 * Parses a time the way Prometheus' API does: Unix seconds with a fraction ("1700000000.5",
 * rounded to milliseconds) or RFC 3339 ("2023-11-14T22:13:20.5Z"). *t_ms receives milliseconds.
 * Returns 0 or TW_EINVAL with err "cannot parse \"x\" to a valid timestamp".
 */
int tw_query_api_parse_time(const char *s, int64_t *t_ms, tw_error_t *err);

/*
 * Parses a duration the way Prometheus' API does: seconds as a float ("15", "0.5") or a
 * Prometheus duration ("1m30s"). *d_ns receives nanoseconds (Go's time.Duration). Returns 0 or
 * TW_EINVAL with err "cannot parse \"x\" to a valid duration".
 */
int tw_query_api_parse_duration(const char *s, int64_t *d_ns, tw_error_t *err);

/* Appends s as a JSON string the way Go's encoding/json does (HTML-safe escapes). */
int tw_query_api_json_string(tw_buf_t *out, const char *s);

/* Appends a time as Go marshals a time.Time: RFC 3339 UTC, trailing fraction zeros dropped. */
int tw_query_api_json_time(tw_buf_t *out, int64_t t_ms);

/* Appends a float as Go's encoding/json writes a float64 (1e-7 style exponents; no NaN). */
int tw_query_api_json_float(tw_buf_t *out, double v);

/*
 * Appends v like Go's strconv.FormatFloat(v, 'g', -1, 64), as the text exposition (and so
 * /federate) writes values: "1e+06", "0.25", "NaN", "+Inf".
 */
int tw_query_api_format_g(double v, tw_buf_t *out);

/* Appends v like Go's strconv.FormatFloat(v, 'f', -1, 64): "1e22" is "10000000000000000000000". */
int tw_query_api_format_f(double v, tw_buf_t *out);

#endif
