/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_ast.c - the PromQL AST's support code: the function table (Prometheus 3.5's
 * promql/parser/functions.go plus 2.42's holt_winters), expression types, operator names,
 * durations in Prometheus' syntax, Go-compatible float formatting, and freeing an AST.
 *
 * Pure; the table is constant and shared by all threads.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "query/query_int.h"

#define S TW_PROMQL_TYPE_SCALAR
#define V TW_PROMQL_TYPE_VECTOR
#define M TW_PROMQL_TYPE_MATRIX
#define STR TW_PROMQL_TYPE_STRING

static const tw_promql_type_t a_v[] = {V};
static const tw_promql_type_t a_m[] = {M};
static const tw_promql_type_t a_vss[] = {V, S, S};
static const tw_promql_type_t a_vs[] = {V, S};
static const tw_promql_type_t a_msss[] = {M, S, S};
static const tw_promql_type_t a_ssv[] = {S, S, V};
static const tw_promql_type_t a_sv[] = {S, V};
static const tw_promql_type_t a_vv[] = {V, V};
static const tw_promql_type_t a_vstr4[] = {V, STR, STR, STR, STR};
static const tw_promql_type_t a_vstr3[] = {V, STR, STR, STR};
static const tw_promql_type_t a_ms[] = {M, S};
static const tw_promql_type_t a_sm[] = {S, M};
static const tw_promql_type_t a_s[] = {S};
static const tw_promql_type_t a_vstr[] = {V, STR};

#define FN(name, args, var, ret, exp)                                                              \
    {                                                                                              \
        name, args, (int)(sizeof(args) / sizeof(args[0])), var, ret, exp                           \
    }
#define FN0(name, ret)                                                                             \
    {                                                                                              \
        name, NULL, 0, 0, ret, false                                                               \
    }

/* Sorted by name (tw_promql_function_lookup bisects). */
static const tw_promql_function_t functions[] = {
    FN("abs", a_v, 0, V, false),
    FN("absent", a_v, 0, V, false),
    FN("absent_over_time", a_m, 0, V, false),
    FN("acos", a_v, 0, V, false),
    FN("acosh", a_v, 0, V, false),
    FN("asin", a_v, 0, V, false),
    FN("asinh", a_v, 0, V, false),
    FN("atan", a_v, 0, V, false),
    FN("atanh", a_v, 0, V, false),
    FN("avg_over_time", a_m, 0, V, false),
    FN("ceil", a_v, 0, V, false),
    FN("changes", a_m, 0, V, false),
    FN("clamp", a_vss, 0, V, false),
    FN("clamp_max", a_vs, 0, V, false),
    FN("clamp_min", a_vs, 0, V, false),
    FN("cos", a_v, 0, V, false),
    FN("cosh", a_v, 0, V, false),
    FN("count_over_time", a_m, 0, V, false),
    FN("day_of_month", a_v, 1, V, false),
    FN("day_of_week", a_v, 1, V, false),
    FN("day_of_year", a_v, 1, V, false),
    FN("days_in_month", a_v, 1, V, false),
    FN("deg", a_v, 0, V, false),
    FN("delta", a_m, 0, V, false),
    FN("deriv", a_m, 0, V, false),
    FN("double_exponential_smoothing", a_msss, 0, V, true),
    FN("exp", a_v, 0, V, false),
    FN("floor", a_v, 0, V, false),
    FN("histogram_avg", a_v, 0, V, false),
    FN("histogram_count", a_v, 0, V, false),
    FN("histogram_fraction", a_ssv, 0, V, false),
    FN("histogram_quantile", a_sv, 0, V, false),
    FN("histogram_stddev", a_v, 0, V, false),
    FN("histogram_stdvar", a_v, 0, V, false),
    FN("histogram_sum", a_v, 0, V, false),
    FN("holt_winters", a_msss, 0, V, false),
    FN("hour", a_v, 1, V, false),
    FN("idelta", a_m, 0, V, false),
    FN("increase", a_m, 0, V, false),
    FN("info", a_vv, 1, V, true),
    FN("irate", a_m, 0, V, false),
    FN("label_join", a_vstr3, -1, V, false),
    FN("label_replace", a_vstr4, 0, V, false),
    FN("last_over_time", a_m, 0, V, false),
    FN("ln", a_v, 0, V, false),
    FN("log10", a_v, 0, V, false),
    FN("log2", a_v, 0, V, false),
    FN("mad_over_time", a_m, 0, V, true),
    FN("max_over_time", a_m, 0, V, false),
    FN("min_over_time", a_m, 0, V, false),
    FN("minute", a_v, 1, V, false),
    FN("month", a_v, 1, V, false),
    FN0("pi", S),
    FN("predict_linear", a_ms, 0, V, false),
    FN("present_over_time", a_m, 0, V, false),
    FN("quantile_over_time", a_sm, 0, V, false),
    FN("rad", a_v, 0, V, false),
    FN("rate", a_m, 0, V, false),
    FN("resets", a_m, 0, V, false),
    FN("round", a_vs, 1, V, false),
    FN("scalar", a_v, 0, S, false),
    FN("sgn", a_v, 0, V, false),
    FN("sin", a_v, 0, V, false),
    FN("sinh", a_v, 0, V, false),
    FN("sort", a_v, 0, V, false),
    FN("sort_by_label", a_vstr, -1, V, true),
    FN("sort_by_label_desc", a_vstr, -1, V, true),
    FN("sort_desc", a_v, 0, V, false),
    FN("sqrt", a_v, 0, V, false),
    FN("stddev_over_time", a_m, 0, V, false),
    FN("stdvar_over_time", a_m, 0, V, false),
    FN("sum_over_time", a_m, 0, V, false),
    FN("tan", a_v, 0, V, false),
    FN("tanh", a_v, 0, V, false),
    FN0("time", S),
    FN("timestamp", a_v, 0, V, false),
    FN("ts_of_last_over_time", a_m, 0, V, true),
    FN("ts_of_max_over_time", a_m, 0, V, true),
    FN("ts_of_min_over_time", a_m, 0, V, true),
    FN("vector", a_s, 0, V, false),
    FN("year", a_v, 1, V, false),
};

const tw_promql_function_t *tw_promql_functions(size_t *n)
{
    *n = sizeof(functions) / sizeof(functions[0]);
    return functions;
}

const tw_promql_function_t *tw_promql_function_lookup(const char *name)
{
    size_t lo = 0, hi = sizeof(functions) / sizeof(functions[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, functions[mid].name);
        if (c == 0) {
            return &functions[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

tw_promql_type_t tw_promql_expr_type(const tw_promql_expr_t *e)
{
    switch (e->kind) {
    case TW_PROMQL_NUMBER:
        return TW_PROMQL_TYPE_SCALAR;
    case TW_PROMQL_STRING:
        return TW_PROMQL_TYPE_STRING;
    case TW_PROMQL_VECTOR_SELECTOR:
    case TW_PROMQL_AGGREGATE:
        return TW_PROMQL_TYPE_VECTOR;
    case TW_PROMQL_MATRIX_SELECTOR:
    case TW_PROMQL_SUBQUERY:
        return TW_PROMQL_TYPE_MATRIX;
    case TW_PROMQL_UNARY:
        return tw_promql_expr_type(e->u.unary.expr);
    case TW_PROMQL_PAREN:
        return tw_promql_expr_type(e->u.paren.expr);
    case TW_PROMQL_STEP_INVARIANT:
        return tw_promql_expr_type(e->u.step_invariant.expr);
    case TW_PROMQL_BINARY:
        if (tw_promql_expr_type(e->u.binary.lhs) == TW_PROMQL_TYPE_SCALAR &&
            tw_promql_expr_type(e->u.binary.rhs) == TW_PROMQL_TYPE_SCALAR) {
            return TW_PROMQL_TYPE_SCALAR;
        }
        return TW_PROMQL_TYPE_VECTOR;
    case TW_PROMQL_CALL:
        return e->u.call.func != NULL ? e->u.call.func->return_type : TW_PROMQL_TYPE_NONE;
    }
    return TW_PROMQL_TYPE_NONE;
}

const char *tw_promql_type_str(tw_promql_type_t t)
{
    switch (t) {
    case TW_PROMQL_TYPE_SCALAR:
        return "scalar";
    case TW_PROMQL_TYPE_VECTOR:
        return "instant vector";
    case TW_PROMQL_TYPE_MATRIX:
        return "range vector";
    case TW_PROMQL_TYPE_STRING:
        return "string";
    case TW_PROMQL_TYPE_NONE:
        break;
    }
    return "none";
}

const char *tw_promql_op_str(tw_promql_op_t op)
{
    static const char *const names[] = {
        [TW_PROMQL_OP_ADD] = "+",         [TW_PROMQL_OP_SUB] = "-",   [TW_PROMQL_OP_MUL] = "*",
        [TW_PROMQL_OP_DIV] = "/",         [TW_PROMQL_OP_MOD] = "%",   [TW_PROMQL_OP_POW] = "^",
        [TW_PROMQL_OP_ATAN2] = "atan2",   [TW_PROMQL_OP_EQLC] = "==", [TW_PROMQL_OP_NEQ] = "!=",
        [TW_PROMQL_OP_GTR] = ">",         [TW_PROMQL_OP_LSS] = "<",   [TW_PROMQL_OP_GTE] = ">=",
        [TW_PROMQL_OP_LTE] = "<=",        [TW_PROMQL_OP_AND] = "and", [TW_PROMQL_OP_OR] = "or",
        [TW_PROMQL_OP_UNLESS] = "unless",
    };
    if ((int)op <= 0 || (size_t)op >= sizeof(names) / sizeof(names[0])) {
        return "?";
    }
    return names[op];
}

const char *tw_promql_agg_str(tw_promql_agg_t op)
{
    static const char *const names[] = {
        [TW_PROMQL_AGG_SUM] = "sum",
        [TW_PROMQL_AGG_AVG] = "avg",
        [TW_PROMQL_AGG_COUNT] = "count",
        [TW_PROMQL_AGG_MIN] = "min",
        [TW_PROMQL_AGG_MAX] = "max",
        [TW_PROMQL_AGG_GROUP] = "group",
        [TW_PROMQL_AGG_STDDEV] = "stddev",
        [TW_PROMQL_AGG_STDVAR] = "stdvar",
        [TW_PROMQL_AGG_TOPK] = "topk",
        [TW_PROMQL_AGG_BOTTOMK] = "bottomk",
        [TW_PROMQL_AGG_COUNT_VALUES] = "count_values",
        [TW_PROMQL_AGG_QUANTILE] = "quantile",
        [TW_PROMQL_AGG_LIMITK] = "limitk",
        [TW_PROMQL_AGG_LIMIT_RATIO] = "limit_ratio",
    };
    if ((int)op <= 0 || (size_t)op >= sizeof(names) / sizeof(names[0])) {
        return "?";
    }
    return names[op];
}

bool tw_promql_op_is_comparison(tw_promql_op_t op)
{
    return op == TW_PROMQL_OP_EQLC || op == TW_PROMQL_OP_NEQ || op == TW_PROMQL_OP_GTR ||
           op == TW_PROMQL_OP_LSS || op == TW_PROMQL_OP_GTE || op == TW_PROMQL_OP_LTE;
}

bool tw_promql_op_is_set(tw_promql_op_t op)
{
    return op == TW_PROMQL_OP_AND || op == TW_PROMQL_OP_OR || op == TW_PROMQL_OP_UNLESS;
}

/* ---- durations ---- */

static const struct {
    const char *unit;
    int pos;
    int64_t ns;
} duration_units[] = {
    {"ms", 7, 1000000LL},
    {"s", 6, 1000000000LL},
    {"m", 5, 60LL * 1000000000LL},
    {"h", 4, 3600LL * 1000000000LL},
    {"d", 3, 86400LL * 1000000000LL},
    {"w", 2, 7LL * 86400LL * 1000000000LL},
    {"y", 1, 365LL * 86400LL * 1000000000LL},
};

int tw_promql_duration_parse(const char *s, size_t len, int64_t *ms, tw_error_t *err)
{
    if (len == 1 && s[0] == '0') {
        *ms = 0;
        return 0;
    }
    if (len == 0) {
        return tw_error_set(err, TW_EPARSE, "empty duration string");
    }
    uint64_t total = 0;
    int last_pos = 0;
    size_t i = 0;
    while (i < len) {
        if (s[i] < '0' || s[i] > '9') {
            goto invalid;
        }
        uint64_t v = 0;
        bool overflow = false;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (v > (UINT64_MAX - 9) / 10) {
                overflow = true;
            }
            v = v * 10 + (uint64_t)(s[i] - '0');
            i++;
        }
        if (overflow) {
            goto invalid;
        }
        size_t u = i;
        while (i < len && (s[i] < '0' || s[i] > '9')) {
            i++;
        }
        if (i == u) {
            goto invalid;
        }
        int found = -1;
        for (size_t k = 0; k < sizeof(duration_units) / sizeof(duration_units[0]); k++) {
            if (strlen(duration_units[k].unit) == i - u &&
                memcmp(duration_units[k].unit, s + u, i - u) == 0) {
                found = (int)k;
            }
        }
        if (found < 0) {
            return tw_error_set(err, TW_EPARSE, "unknown unit \"%.*s\" in duration \"%.*s\"",
                                (int)(i - u), s + u, (int)len, s);
        }
        if (duration_units[found].pos <= last_pos) {
            goto invalid;
        }
        last_pos = duration_units[found].pos;
        uint64_t mult = (uint64_t)duration_units[found].ns;
        if (v > ((uint64_t)1 << 63) / mult) {
            return tw_error_set(err, TW_EPARSE, "duration out of range");
        }
        total += v * mult;
        if (total > (uint64_t)INT64_MAX) {
            return tw_error_set(err, TW_EPARSE, "duration out of range");
        }
    }
    *ms = (int64_t)(total / 1000000u);
    return 0;
invalid:
    return tw_error_set(err, TW_EPARSE, "not a valid duration string: \"%.*s\"", (int)len, s);
}

int tw_promql_duration_format(int64_t d_ms, tw_buf_t *out)
{
    if (d_ms == 0) {
        return tw_buf_puts(out, "0s");
    }
    static const struct {
        const char *unit;
        int64_t mult;
        bool exact;
    } u[] = {
        {"y", 1000LL * 60 * 60 * 24 * 365, true},
        {"w", 1000LL * 60 * 60 * 24 * 7, true},
        {"d", 1000LL * 60 * 60 * 24, false},
        {"h", 1000LL * 60 * 60, false},
        {"m", 1000LL * 60, false},
        {"s", 1000LL, false},
        {"ms", 1, false},
    };
    int rc = 0;
    int64_t ms = d_ms;
    for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
        if (u[i].exact && ms % u[i].mult != 0) {
            continue;
        }
        int64_t v = ms / u[i].mult;
        if (v > 0) {
            rc |= tw_buf_printf(out, "%lld%s", (long long)v, u[i].unit);
            ms -= v * u[i].mult;
        }
    }
    return rc;
}

int tw_promql_format_float(double v, tw_buf_t *out)
{
    if (isnan(v)) {
        return tw_buf_puts(out, "NaN");
    }
    if (isinf(v)) {
        return tw_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    }
    if (v == 0) {
        return tw_buf_puts(out, signbit(v) ? "-0" : "0");
    }
    /* Shortest digits that read back exactly, laid out without exponent like 'f', -1. */
    char digits[32];
    size_t nd = 0;
    int exp10 = 0;
    bool neg = tw_promql_shortest_digits(v, digits, &nd, &exp10);
    int rc = 0;
    if (neg) {
        rc |= tw_buf_putc(out, '-');
    }
    /* The decimal point goes after digit index exp10. */
    int point = exp10 + 1;
    if (point <= 0) {
        rc |= tw_buf_puts(out, "0.");
        for (int i = 0; i < -point; i++) {
            rc |= tw_buf_putc(out, '0');
        }
        rc |= tw_buf_append(out, digits, nd);
    } else if ((size_t)point >= nd) {
        rc |= tw_buf_append(out, digits, nd);
        for (size_t i = nd; i < (size_t)point; i++) {
            rc |= tw_buf_putc(out, '0');
        }
    } else {
        rc |= tw_buf_append(out, digits, (size_t)point);
        rc |= tw_buf_putc(out, '.');
        rc |= tw_buf_append(out, digits + point, nd - (size_t)point);
    }
    return rc;
}

/* ---- the container ---- */

tw_promql_expr_t *tw_promql_ast_root(const tw_promql_ast_t *ast)
{
    return ast->root;
}

const char *tw_promql_ast_input(const tw_promql_ast_t *ast)
{
    return ast->input;
}

void tw_promql_ast_free(tw_promql_ast_t *ast)
{
    if (ast == NULL) {
        return;
    }
    for (size_t i = 0; i < ast->n_arrays; i++) {
        for (size_t k = 0; k < ast->matcher_counts[i]; k++) {
            tw_matcher_fini(&ast->matcher_arrays[i][k]);
        }
        free(ast->matcher_arrays[i]);
    }
    free(ast->matcher_arrays);
    free(ast->matcher_counts);
    free(ast->input);
    tw_arena_free(ast->arena);
    free(ast);
}
