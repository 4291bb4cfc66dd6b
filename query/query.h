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

#endif
