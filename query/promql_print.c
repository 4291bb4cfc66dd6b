/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_print.c - renders a PromQL AST back to text the way Prometheus' Expr.String()
 * (promql/parser/printer.go) does: canonical spacing, matchers sorted, the metric name in
 * front, durations in model.Duration form, numbers as strconv.FormatFloat(v, 'f', -1),
 * strings re-quoted with Go's escapes. Used for format_query, error messages and tests; with
 * TW_PROMQL_PRINT_PARENS every operator application is parenthesized to show the tree.
 *
 * Pure; reads the AST only.
 */
#include <stdlib.h>
#include <string.h>

#include "common/labels.h"
#include "query/query_int.h"

static int print_expr(const tw_promql_expr_t *e, unsigned flags, tw_buf_t *out);

static int print_labels(const char *const *labels, size_t n, tw_buf_t *out)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            rc |= tw_buf_puts(out, ", ");
        }
        if (tw_promql_is_legacy_label(labels[i])) {
            rc |= tw_buf_puts(out, labels[i]);
        } else {
            rc |= tw_promql_go_quote(labels[i], strlen(labels[i]), out);
        }
    }
    return rc;
}

static int print_matcher(const tw_matcher_t *m, tw_buf_t *out)
{
    int rc = 0;
    if (tw_promql_is_legacy_label(m->name)) {
        rc |= tw_buf_puts(out, m->name);
    } else {
        rc |= tw_promql_go_quote(m->name, strlen(m->name), out);
    }
    rc |= tw_buf_puts(out, tw_match_type_str(m->type));
    return rc | tw_promql_go_quote(m->value, strlen(m->value), out);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int print_at_offset(tw_promql_at_t at, int64_t at_ms, int64_t offset_ms, tw_buf_t *out)
{
    int rc = 0;
    switch (at) {
    case TW_PROMQL_AT_TIMESTAMP:
        rc |= tw_buf_printf(out, " @ %.3f", (double)at_ms / 1000.0);
        break;
    case TW_PROMQL_AT_START:
        rc |= tw_buf_puts(out, " @ start()");
        break;
    case TW_PROMQL_AT_END:
        rc |= tw_buf_puts(out, " @ end()");
        break;
    case TW_PROMQL_AT_NONE:
        break;
    }
    if (offset_ms > 0) {
        rc |= tw_buf_puts(out, " offset ");
        rc |= tw_promql_duration_format(offset_ms, out);
    } else if (offset_ms < 0) {
        rc |= tw_buf_puts(out, " offset -");
        rc |= tw_promql_duration_format(-offset_ms, out);
    }
    return rc;
}

/* The selector part without @ and offset. */
static int print_selector(const tw_promql_expr_t *e, tw_buf_t *out)
{
    const char *name = e->u.vs.name;
    size_t n = e->u.vs.n_matchers;
    int rc = 0;
    /* Each matcher rendered into its own string so they can be sorted like printer.go. */
    char **strs = calloc(n > 0 ? n : 1, sizeof(char *));
    size_t ns = 0;
    if (strs == NULL) {
        return TW_ELIMIT;
    }
    for (size_t i = 0; i < n; i++) {
        const tw_matcher_t *m = &e->u.vs.matchers[i];
        if (name != NULL && m->type == TW_MATCH_EQ && strcmp(m->name, TW_METRIC_NAME_LABEL) == 0 &&
            strcmp(m->value, name) == 0 && name[0] != '\0') {
            continue;
        }
        tw_buf_t b;
        tw_buf_init(&b, 0);
        print_matcher(m, &b);
        strs[ns++] = tw_buf_steal(&b, NULL);
    }
    qsort(strs, ns, sizeof(char *), cmp_str);
    bool quoted_name = name != NULL && !tw_promql_is_legacy_metric(name);
    if (name != NULL && !quoted_name) {
        rc |= tw_buf_puts(out, name);
    }
    if (ns > 0 || quoted_name) {
        rc |= tw_buf_putc(out, '{');
        if (quoted_name) {
            rc |= tw_promql_go_quote(name, strlen(name), out);
        }
        for (size_t i = 0; i < ns; i++) {
            if (i > 0 || quoted_name) {
                rc |= tw_buf_putc(out, ',');
            }
            rc |= tw_buf_puts(out, strs[i]);
        }
        rc |= tw_buf_putc(out, '}');
    }
    for (size_t i = 0; i < ns; i++) {
        free(strs[i]);
    }
    free(strs);
    return rc;
}

static int print_binary(const tw_promql_expr_t *e, unsigned flags, tw_buf_t *out)
{
    int rc = 0;
    if (flags & TW_PROMQL_PRINT_PARENS) {
        rc |= tw_buf_putc(out, '(');
    }
    rc |= print_expr(e->u.binary.lhs, flags, out);
    rc |= tw_buf_putc(out, ' ');
    rc |= tw_buf_puts(out, tw_promql_op_str(e->u.binary.op));
    if (e->u.binary.return_bool) {
        rc |= tw_buf_puts(out, " bool");
    }
    if (e->u.binary.has_matching) {
        tw_promql_card_t card = e->u.binary.card;
        bool grouped = card == TW_PROMQL_CARD_MANY_TO_ONE || card == TW_PROMQL_CARD_ONE_TO_MANY;
        if (e->u.binary.n_labels > 0 || e->u.binary.on || grouped) {
            rc |= tw_buf_puts(out, e->u.binary.on ? " on (" : " ignoring (");
            rc |= print_labels(e->u.binary.labels, e->u.binary.n_labels, out);
            rc |= tw_buf_putc(out, ')');
        }
        if (grouped) {
            rc |= tw_buf_puts(out, card == TW_PROMQL_CARD_MANY_TO_ONE ? " group_left ("
                                                                      : " group_right (");
            rc |= print_labels(e->u.binary.include, e->u.binary.n_include, out);
            rc |= tw_buf_putc(out, ')');
        }
    }
    rc |= tw_buf_putc(out, ' ');
    rc |= print_expr(e->u.binary.rhs, flags, out);
    if (flags & TW_PROMQL_PRINT_PARENS) {
        rc |= tw_buf_putc(out, ')');
    }
    return rc;
}

static int print_expr(const tw_promql_expr_t *e, unsigned flags, tw_buf_t *out)
{
    int rc = 0;
    switch (e->kind) {
    case TW_PROMQL_NUMBER:
        return tw_promql_format_float(e->u.number.val, out);
    case TW_PROMQL_STRING:
        return tw_promql_go_quote(e->u.string.val, e->u.string.len, out);
    case TW_PROMQL_VECTOR_SELECTOR:
        rc |= print_selector(e, out);
        return rc | print_at_offset(e->u.vs.at, e->u.vs.at_ms, e->u.vs.offset_ms, out);
    case TW_PROMQL_MATRIX_SELECTOR: {
        const tw_promql_expr_t *vs = e->u.matrix.vs;
        rc |= print_selector(vs, out);
        rc |= tw_buf_putc(out, '[');
        rc |= tw_promql_duration_format(e->u.matrix.range_ms, out);
        rc |= tw_buf_putc(out, ']');
        return rc | print_at_offset(vs->u.vs.at, vs->u.vs.at_ms, vs->u.vs.offset_ms, out);
    }
    case TW_PROMQL_SUBQUERY:
        rc |= print_expr(e->u.subquery.expr, flags, out);
        rc |= tw_buf_putc(out, '[');
        rc |= tw_promql_duration_format(e->u.subquery.range_ms, out);
        rc |= tw_buf_putc(out, ':');
        if (e->u.subquery.step_ms != 0) {
            rc |= tw_promql_duration_format(e->u.subquery.step_ms, out);
        }
        rc |= tw_buf_putc(out, ']');
        return rc |
               print_at_offset(e->u.subquery.at, e->u.subquery.at_ms, e->u.subquery.offset_ms, out);
    case TW_PROMQL_UNARY:
        if (flags & TW_PROMQL_PRINT_PARENS) {
            rc |= tw_buf_putc(out, '(');
        }
        rc |= tw_buf_puts(out, tw_promql_op_str(e->u.unary.op));
        rc |= print_expr(e->u.unary.expr, flags, out);
        if (flags & TW_PROMQL_PRINT_PARENS) {
            rc |= tw_buf_putc(out, ')');
        }
        return rc;
    case TW_PROMQL_BINARY:
        return print_binary(e, flags, out);
    case TW_PROMQL_AGGREGATE:
        rc |= tw_buf_puts(out, tw_promql_agg_str(e->u.aggregate.op));
        if (e->u.aggregate.without) {
            rc |= tw_buf_puts(out, " without (");
            rc |= print_labels(e->u.aggregate.grouping, e->u.aggregate.n_grouping, out);
            rc |= tw_buf_puts(out, ") ");
        } else if (e->u.aggregate.n_grouping > 0) {
            rc |= tw_buf_puts(out, " by (");
            rc |= print_labels(e->u.aggregate.grouping, e->u.aggregate.n_grouping, out);
            rc |= tw_buf_puts(out, ") ");
        }
        rc |= tw_buf_putc(out, '(');
        if (e->u.aggregate.param != NULL) {
            rc |= print_expr(e->u.aggregate.param, flags, out);
            rc |= tw_buf_puts(out, ", ");
        }
        rc |= print_expr(e->u.aggregate.expr, flags, out);
        return rc | tw_buf_putc(out, ')');
    case TW_PROMQL_CALL:
        rc |= tw_buf_puts(out, e->u.call.func->name);
        rc |= tw_buf_putc(out, '(');
        for (size_t i = 0; i < e->u.call.n_args; i++) {
            if (i > 0) {
                rc |= tw_buf_puts(out, ", ");
            }
            rc |= print_expr(e->u.call.args[i], flags, out);
        }
        return rc | tw_buf_putc(out, ')');
    case TW_PROMQL_PAREN:
        rc |= tw_buf_putc(out, '(');
        rc |= print_expr(e->u.paren.expr, flags, out);
        return rc | tw_buf_putc(out, ')');
    case TW_PROMQL_STEP_INVARIANT:
        return print_expr(e->u.step_invariant.expr, flags, out);
    }
    return 0;
}

int tw_promql_print(const tw_promql_expr_t *e, unsigned flags, tw_buf_t *out)
{
    return print_expr(e, flags, out) != 0 ? TW_ELIMIT : 0;
}
