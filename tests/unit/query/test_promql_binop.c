/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_promql_binop.c - the evaluator's binary operators (query/promql_binop.c) on hand-built
 * inputs: an evaluation context with a grid of one to three steps, operand matrices written as
 * small strings, and the node from the real parser. Every case compares the whole output
 * (series order, labels, the to-be-dropped-name flag, every point) or the exact error message
 * with what Prometheus 3.5 / 2.42 give (promql/engine.go VectorBinop and friends).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/buf.h"
#include "query/promql_eval_int.h"

typedef struct fx {
    tw_arena_t *arena;
    tw_promql_engine_options_t opts;
    tw_ev_t ev;
    tw_promql_ast_t *ast;
} fx_t;

/* An evaluation over start..end by interval (ms). */
static void fx_init(fx_t *f, int64_t start, int64_t end, int64_t interval, bool delayed,
                    tw_promql_compat_t compat)
{
    memset(f, 0, sizeof(*f));
    f->arena = tw_arena_new(0);
    f->opts.compat = compat;
    f->opts.lookback_delta_ms = TW_PROMQL_DEFAULT_LOOKBACK_MS;
    f->opts.max_samples = 1000;
    f->opts.timeout_ms = -1;
    f->opts.default_subquery_step_ms = TW_PROMQL_DEFAULT_SUBQUERY_STEP_MS;
    f->opts.delayed_name_removal = delayed;
    f->ev.arena = f->arena;
    f->ev.opts = &f->opts;
    f->ev.start = start;
    f->ev.end = end;
    f->ev.interval = interval;
    f->ev.n_steps = (size_t)((end - start) / interval + 1);
    f->ev.query_start = start;
    f->ev.query_end = end;
}

static void fx_fini(fx_t *f)
{
    tw_promql_ast_free(f->ast);
    tw_arena_free(f->arena);
}

/* Parses the query and returns its root, which must be a binary expression. */
static const tw_promql_expr_t *fx_parse(fx_t *f, const char *q)
{
    tw_promql_parse_options_t po = {.compat = f->opts.compat};
    tw_error_t err;
    tw_error_clear(&err);
    tw_promql_ast_free(f->ast);
    f->ast = NULL;
    int rc = tw_promql_parse(q, strlen(q), &po, &f->ast, &err);
    if (rc != 0) {
        fail_msg("parse %s: %s", q, err.msg);
    }
    f->ev.query = tw_promql_ast_input(f->ast);
    const tw_promql_expr_t *e = tw_promql_ast_root(f->ast);
    assert_int_equal(e->kind, TW_PROMQL_BINARY);
    return e;
}

/*
 * Adds a series to m: labels "name=value,name=value" (may be empty), points "t:v t:v" (ms).
 */
static void add_series(fx_t *f, tw_ev_matrix_t *m, const char *labels, const char *points)
{
    tw_label_t *l = tw_arena_calloc(f->arena, 16 * sizeof(*l));
    uint32_t n = 0;
    const char *p = labels;
    while (*p != '\0') {
        const char *eq = strchr(p, '=');
        assert_non_null(eq);
        const char *end = strchr(eq, ',');
        if (end == NULL) {
            end = eq + strlen(eq);
        }
        assert_true(n < 16);
        l[n].name = tw_arena_strndup(f->arena, p, (size_t)(eq - p));
        l[n].value = tw_arena_strndup(f->arena, eq + 1, (size_t)(end - eq - 1));
        n++;
        p = *end == ',' ? end + 1 : end;
    }
    tw_labels_sort(l, n);
    tw_ev_labels_t ls = {l, n};
    tw_ev_series_t *s = tw_ev_matrix_add(&f->ev, m, ls, false);
    p = points;
    while (*p != '\0') {
        char *colon;
        long long t = strtoll(p, &colon, 10);
        assert_int_equal(*colon, ':');
        char *next;
        double v = strtod(colon + 1, &next);
        tw_ev_series_push(&f->ev, s, t, v);
        p = next;
        while (*p == ' ') {
            p++;
        }
    }
}

/* A scalar operand: one series without labels, value v at every step. */
static void add_scalar(fx_t *f, tw_ev_matrix_t *m, double v)
{
    tw_ev_labels_t none = {NULL, 0};
    tw_ev_series_t *s = tw_ev_matrix_add(&f->ev, m, none, false);
    for (size_t i = 0; i < f->ev.n_steps; i++) {
        tw_ev_series_push(&f->ev, s, f->ev.start + (int64_t)i * f->ev.interval, v);
    }
}

/* Renders a result: `{a="b", c="d"}[*] t:v t:v; ...` (* = name to be dropped). */
static void render(const tw_ev_matrix_t *m, char *out, size_t outsz)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    for (size_t i = 0; i < m->n; i++) {
        const tw_ev_series_t *s = &m->s[i];
        if (i > 0) {
            tw_buf_puts(&b, "; ");
        }
        tw_buf_putc(&b, '{');
        for (uint32_t j = 0; j < s->m.n; j++) {
            tw_buf_printf(&b, "%s%s=\"%s\"", j > 0 ? ", " : "", s->m.l[j].name, s->m.l[j].value);
        }
        tw_buf_putc(&b, '}');
        if (s->drop_name) {
            tw_buf_putc(&b, '*');
        }
        for (size_t j = 0; j < s->n; j++) {
            tw_buf_printf(&b, " %lld:%g", (long long)s->p[j].t, s->p[j].v);
        }
    }
    snprintf(out, outsz, "%s", b.data != NULL ? b.data : "");
    tw_buf_fini(&b);
}

/* Runs q over lhs/rhs and checks the rendered result. */
static void expect_result(fx_t *f, const char *q, const tw_ev_matrix_t *lhs,
                          const tw_ev_matrix_t *rhs, const char *want)
{
    const tw_promql_expr_t *e = fx_parse(f, q);
    tw_ev_matrix_t out = {0};
    int rc = tw_ev_binop(&f->ev, e, lhs, rhs, &out);
    if (rc != 0) {
        fail_msg("%s: unexpected error %d: %s", q, rc, f->ev.err_msg);
    }
    char got[2048];
    render(&out, got, sizeof(got));
    if (strcmp(got, want) != 0) {
        fail_msg("%s\n got: %s\nwant: %s", q, got, want);
    }
}

static void expect_error(fx_t *f, const char *q, const tw_ev_matrix_t *lhs,
                         const tw_ev_matrix_t *rhs, const char *want)
{
    const tw_promql_expr_t *e = fx_parse(f, q);
    tw_ev_matrix_t out = {0};
    f->ev.err_code = 0;
    f->ev.err_msg[0] = '\0';
    int rc = tw_ev_binop(&f->ev, e, lhs, rhs, &out);
    assert_int_equal(rc, TW_EEXEC);
    assert_int_equal(f->ev.err_code, TW_EEXEC);
    assert_string_equal(f->ev.err_msg, want);
    f->ev.err_code = 0;
    f->ev.err_msg[0] = '\0';
}

static void test_float_ops(void **state)
{
    (void)state;
    bool keep;
    assert_true(isinf(tw_ev_binop_float(TW_PROMQL_OP_DIV, 1, 0, &keep)) && keep);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_DIV, -1, 0, &keep) < 0);
    assert_true(isnan(tw_ev_binop_float(TW_PROMQL_OP_DIV, 0, 0, &keep)));
    /* Go's math.Mod: the sign of the dividend, NaN for a zero divisor or an infinite x. */
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_MOD, -7, 3, &keep) == -1);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_MOD, 7, -3, &keep) == 1);
    assert_true(isnan(tw_ev_binop_float(TW_PROMQL_OP_MOD, 5, 0, &keep)));
    assert_true(isnan(tw_ev_binop_float(TW_PROMQL_OP_MOD, INFINITY, 2, &keep)));
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_MOD, 5, INFINITY, &keep) == 5);
    /* 1000 % 0.3 like Go: 0.1 (not exactly) */
    assert_true(fabs(tw_ev_binop_float(TW_PROMQL_OP_MOD, 1000, 0.3, &keep) - 0.1) < 1e-9);
    /* Go's math.Pow special cases. */
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_POW, 2, 10, &keep) == 1024);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_POW, 2, -2, &keep) == 0.25);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_POW, NAN, 0, &keep) == 1);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_POW, 1, NAN, &keep) == 1);
    assert_true(isnan(tw_ev_binop_float(TW_PROMQL_OP_POW, -8, 1.0 / 3, &keep)));
    double v = tw_ev_binop_float(TW_PROMQL_OP_POW, -0.0, -1, &keep);
    assert_true(isinf(v) && v < 0);
    v = tw_ev_binop_float(TW_PROMQL_OP_POW, 0, -2, &keep);
    assert_true(isinf(v) && v > 0);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_POW, -1, INFINITY, &keep) == 1);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_POW, 0.5, INFINITY, &keep) == 0);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_POW, -2, 3, &keep) == -8);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_POW, 4, 0.5, &keep) == 2);
    assert_true(fabs(tw_ev_binop_float(TW_PROMQL_OP_POW, 2, 1.5, &keep) - 2.8284271247461903) <
                1e-15);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_POW, 10, 400, &keep) == INFINITY);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_POW, 10, -400, &keep) == 0);
    v = tw_ev_binop_float(TW_PROMQL_OP_ATAN2, 10, 20, &keep);
    assert_true(fabs(v - 0.4636476090008061) < 1e-15 && keep);
    /* Comparisons return the left value and whether to keep it. */
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_GTR, 3, 2, &keep) == 3 && keep);
    assert_true(tw_ev_binop_float(TW_PROMQL_OP_LTE, 3, 2, &keep) == 3 && !keep);
    (void)tw_ev_binop_float(TW_PROMQL_OP_EQLC, NAN, NAN, &keep);
    assert_false(keep);
    (void)tw_ev_binop_float(TW_PROMQL_OP_NEQ, NAN, NAN, &keep);
    assert_true(keep);
}

static void test_scalar_scalar(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0, 20, 10, false, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_ev_matrix_t l = {0};
    tw_ev_matrix_t r = {0};
    add_scalar(&f, &l, 7);
    add_scalar(&f, &r, 2);
    expect_result(&f, "7 % 2", &l, &r, "{} 0:1 10:1 20:1");
    expect_result(&f, "7 ^ 2", &l, &r, "{} 0:49 10:49 20:49");
    expect_result(&f, "7 < bool 2", &l, &r, "{} 0:0 10:0 20:0");
    expect_result(&f, "7 >= bool 2", &l, &r, "{} 0:1 10:1 20:1");
    expect_result(&f, "7 / 2", &l, &r, "{} 0:3.5 10:3.5 20:3.5");
    fx_fini(&f);
}

static void test_vector_scalar(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0, 20, 10, false, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_ev_matrix_t v = {0};
    tw_ev_matrix_t s = {0};
    add_series(&f, &v, "__name__=m,i=1", "0:1 10:5 20:3");
    add_series(&f, &v, "__name__=m,i=2", "10:2");
    add_scalar(&f, &s, 3);
    expect_result(&f, "m * 3", &v, &s, "{i=\"1\"} 0:3 10:15 20:9; {i=\"2\"} 10:6");
    /* Comparisons filter and keep the name; the vector's value even when it is on the right. */
    expect_result(&f, "m >= 3", &v, &s, "{__name__=\"m\", i=\"1\"} 10:5 20:3");
    expect_result(&f, "3 < m", &s, &v, "{__name__=\"m\", i=\"1\"} 10:5");
    expect_result(&f, "3 - m", &s, &v, "{i=\"1\"} 0:2 10:-2 20:0; {i=\"2\"} 10:1");
    /* bool: 0/1 and no name. */
    expect_result(&f, "m > bool 3", &v, &s, "{i=\"1\"} 0:0 10:1 20:0; {i=\"2\"} 10:0");
    expect_result(&f, "3 > bool m", &s, &v, "{i=\"1\"} 0:1 10:0 20:0; {i=\"2\"} 10:1");
    fx_fini(&f);

    /* Delayed name removal: the name stays, marked. Comparisons keep it unmarked. */
    fx_init(&f, 0, 10, 10, true, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_ev_matrix_t v2 = {0};
    tw_ev_matrix_t s2 = {0};
    add_series(&f, &v2, "__name__=m,i=1", "0:1 10:5");
    add_scalar(&f, &s2, 3);
    expect_result(&f, "m + 3", &v2, &s2, "{__name__=\"m\", i=\"1\"}* 0:4 10:8");
    tw_ev_matrix_t s5 = {0};
    add_scalar(&f, &s5, 5);
    expect_result(&f, "m == bool 5", &v2, &s5, "{__name__=\"m\", i=\"1\"}* 0:0 10:1");
    expect_result(&f, "m != 5", &v2, &s5, "{__name__=\"m\", i=\"1\"} 0:1");
    fx_fini(&f);
}

static void test_same_labelset(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0, 10, 10, false, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_ev_matrix_t v = {0};
    tw_ev_matrix_t s = {0};
    add_series(&f, &v, "__name__=a,i=1", "0:1");
    add_series(&f, &v, "__name__=b,i=1", "10:2");
    add_scalar(&f, &s, 2);
    /* At different steps the two series become one output series... */
    expect_result(&f, "{i=\"1\"} * 2", &v, &s, "{i=\"1\"} 0:2 10:4");
    /* ...at the same step they collide. */
    add_series(&f, &v, "__name__=c,i=1", "10:3");
    expect_error(&f, "{i=\"1\"} * 2", &v, &s,
                 "vector cannot contain metrics with the same labelset");
    fx_fini(&f);

    fx_init(&f, 0, 10, 10, true, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_ev_matrix_t v2 = {0};
    tw_ev_matrix_t s2 = {0};
    add_series(&f, &v2, "__name__=b,i=1", "10:2");
    add_series(&f, &v2, "__name__=c,i=1", "10:3");
    add_scalar(&f, &s2, 2);
    expect_result(&f, "{i=\"1\"} * 2", &v2, &s2,
                  "{__name__=\"b\", i=\"1\"}* 10:4; {__name__=\"c\", i=\"1\"}* 10:6");
    fx_fini(&f);
}

static void test_one_to_one(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0, 20, 10, false, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_ev_matrix_t a = {0};
    tw_ev_matrix_t b = {0};
    add_series(&f, &a, "__name__=a,x=1,y=1", "0:10 10:20 20:30");
    add_series(&f, &a, "__name__=a,x=2,y=1", "0:7");
    add_series(&f, &b, "__name__=b,x=1,z=9", "0:2 10:4");
    add_series(&f, &b, "__name__=b,x=2", "10:1");
    expect_result(&f, "a / on(x) b", &a, &b, "{x=\"1\"} 0:5 10:5");
    expect_result(&f, "a - ignoring(y, z) b", &a, &b, "{x=\"1\"} 0:8 10:16");
    /* Default matching: all labels but the name, so nothing matches here. */
    expect_result(&f, "a + b", &a, &b, "");
    /* Comparisons keep the left side's labels (and name) unless on() cuts them. */
    expect_result(&f, "a > ignoring(y, z) b", &a, &b, "{__name__=\"a\", x=\"1\"} 0:10 10:20");
    expect_result(&f, "a < on(x) b", &a, &b, "");
    expect_result(&f, "a > bool on(x) b", &a, &b, "{x=\"1\"} 0:1 10:1");
    expect_result(&f, "a > bool ignoring(y, z) b", &a, &b, "{x=\"1\"} 0:1 10:1");
    /* on(__name__, x) only matches equal names. */
    expect_result(&f, "a + on(__name__, x) b", &a, &b, "");
    fx_fini(&f);
}

static void test_group_left_right(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0, 20, 10, false, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_ev_matrix_t cpu = {0};
    tw_ev_matrix_t role = {0};
    add_series(&f, &cpu, "__name__=cpu,instance=a,mode=idle", "0:3 10:6 20:9");
    add_series(&f, &cpu, "__name__=cpu,instance=a,mode=user", "0:1 10:2");
    add_series(&f, &cpu, "__name__=cpu,instance=b,mode=idle", "0:8");
    add_series(&f, &role, "__name__=role,instance=a,role=db", "0:2 10:2");
    add_series(&f, &role, "__name__=role,instance=b,role=web", "20:4");
    expect_result(&f, "cpu * on(instance) group_left(role) role", &cpu, &role,
                  "{instance=\"a\", mode=\"idle\", role=\"db\"} 0:6 10:12; "
                  "{instance=\"a\", mode=\"user\", role=\"db\"} 0:2 10:4");
    /* group_right: the right side is the "many" side; values keep their sides. */
    expect_result(&f, "role - on(instance) group_right(role) cpu", &role, &cpu,
                  "{instance=\"a\", mode=\"idle\", role=\"db\"} 0:-1 10:-4; "
                  "{instance=\"a\", mode=\"user\", role=\"db\"} 0:1 10:0");
    /* A comparison with group_left keeps the name of the many side and filters. */
    expect_result(&f, "cpu > on(instance) group_left(role) role", &cpu, &role,
                  "{__name__=\"cpu\", instance=\"a\", mode=\"idle\", role=\"db\"} 0:3 10:6");
    /* An include label missing on the one side is removed from the result. */
    tw_ev_matrix_t cpu2 = {0};
    tw_ev_matrix_t info = {0};
    add_series(&f, &cpu2, "__name__=cpu,instance=a,mode=idle,role=old", "0:3");
    add_series(&f, &info, "__name__=info,instance=a", "0:1");
    expect_result(&f, "cpu * on(instance) group_left(role) info", &cpu2, &info,
                  "{instance=\"a\", mode=\"idle\"} 0:3");
    fx_fini(&f);
}

static void test_matching_errors(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0, 20, 10, false, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_ev_matrix_t a = {0};
    tw_ev_matrix_t b = {0};
    add_series(&f, &a, "__name__=a,x=1", "0:1 10:1 20:1");
    add_series(&f, &b, "__name__=b,x=1,y=1", "0:1");
    add_series(&f, &b, "__name__=b,x=1,y=2", "10:1");
    /* Two rhs series of one group at different steps: fine. */
    expect_result(&f, "a + on(x) b", &a, &b, "{x=\"1\"} 0:2 10:2");
    add_series(&f, &b, "__name__=b,x=1,a.b=3", "10:5");
    expect_error(&f, "a + on(x) b", &a, &b,
                 "found duplicate series for the match group {x=\"1\"} on the right hand-side of "
                 "the operation: [{__name__=\"b\", \"a.b\"=\"3\", x=\"1\"}, {__name__=\"b\", "
                 "x=\"1\", y=\"2\"}];many-to-many matching not allowed: matching labels must be "
                 "unique on one side");
    expect_error(&f, "b - on(x) group_right a", &b, &a,
                 "found duplicate series for the match group {x=\"1\"} on the left hand-side of "
                 "the operation: [{__name__=\"b\", \"a.b\"=\"3\", x=\"1\"}, {__name__=\"b\", "
                 "x=\"1\", y=\"2\"}];many-to-many matching not allowed: matching labels must be "
                 "unique on one side");
    /* Many on the left without group_left. */
    expect_error(&f, "b + on(x) a", &b, &a,
                 "multiple matches for labels: many-to-one matching must be explicit "
                 "(group_left/group_right)");
    /* A comparison that filters one of them out is not a duplicate match. */
    tw_ev_matrix_t c = {0};
    add_series(&f, &c, "__name__=c,x=1,y=1", "0:5");
    add_series(&f, &c, "__name__=c,x=1,y=2", "0:0");
    expect_result(&f, "c > on(x) a", &c, &a, "{x=\"1\"} 0:5");
    /* group_left whose results collide. */
    tw_ev_matrix_t d = {0};
    add_series(&f, &d, "__name__=d,x=1", "20:1");
    add_series(&f, &d, "__name__=e,x=1", "20:2");
    expect_error(&f, "{x=\"1\"} * on(x) group_left a", &d, &a,
                 "multiple matches for labels: grouping labels must ensure unique matches");
    fx_fini(&f);

    /* Prometheus 2.42 prints label names unquoted. */
    fx_init(&f, 0, 0, 1, false, TW_PROMQL_COMPAT_PROMETHEUS2);
    tw_ev_matrix_t a2 = {0};
    tw_ev_matrix_t b2 = {0};
    add_series(&f, &a2, "__name__=a,x=1", "0:1");
    add_series(&f, &b2, "__name__=b,x=1,a.b=3", "0:1");
    add_series(&f, &b2, "__name__=b,x=1", "0:1");
    expect_error(&f, "a + on(x) b", &a2, &b2,
                 "found duplicate series for the match group {x=\"1\"} on the right hand-side of "
                 "the operation: [{__name__=\"b\", x=\"1\"}, {__name__=\"b\", a.b=\"3\", "
                 "x=\"1\"}];many-to-many matching not allowed: matching labels must be unique "
                 "on one side");
    fx_fini(&f);
}

static void test_set_operators(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0, 20, 10, false, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_ev_matrix_t a = {0};
    tw_ev_matrix_t b = {0};
    add_series(&f, &a, "__name__=a,i=0", "0:1 20:3");
    add_series(&f, &a, "__name__=a,i=1", "0:2 10:2");
    add_series(&f, &b, "__name__=b,i=1", "0:9 20:9");
    add_series(&f, &b, "__name__=b,i=2", "10:8 20:8");
    expect_result(&f, "a and b", &a, &b, "{__name__=\"a\", i=\"1\"} 0:2");
    expect_result(&f, "a unless b", &a, &b,
                  "{__name__=\"a\", i=\"0\"} 0:1 20:3; {__name__=\"a\", i=\"1\"} 10:2");
    /* `or` appends unmatched rhs samples after the lhs ones, per step. */
    expect_result(&f, "a or b", &a, &b,
                  "{__name__=\"a\", i=\"0\"} 0:1 20:3; {__name__=\"a\", i=\"1\"} 0:2 10:2; "
                  "{__name__=\"b\", i=\"2\"} 10:8 20:8; {__name__=\"b\", i=\"1\"} 20:9");
    /* on() with no labels: everything matches while the other side has anything. */
    expect_result(&f, "a and on() b", &a, &b,
                  "{__name__=\"a\", i=\"0\"} 0:1 20:3; {__name__=\"a\", i=\"1\"} 0:2 10:2");
    expect_result(&f, "b unless on() a", &b, &a, "");
    expect_result(&f, "b unless on(i) a", &b, &a,
                  "{__name__=\"b\", i=\"2\"} 10:8 20:8; {__name__=\"b\", i=\"1\"} 20:9");
    expect_result(&f, "a or ignoring(i) b", &a, &b,
                  "{__name__=\"a\", i=\"0\"} 0:1 20:3; {__name__=\"a\", i=\"1\"} 0:2 10:2");
    fx_fini(&f);
}

/* atan2 drops the name since Prometheus 3.0 only. */
static void test_atan2_name(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0, 0, 1, false, TW_PROMQL_COMPAT_PROMETHEUS2);
    tw_ev_matrix_t y = {0};
    tw_ev_matrix_t x = {0};
    add_series(&f, &y, "__name__=trigy", "0:10");
    add_series(&f, &x, "__name__=trigx", "0:20");
    expect_result(&f, "trigy atan2 trigx", &y, &x, "{__name__=\"trigy\"} 0:0.463648");
    fx_fini(&f);
    fx_init(&f, 0, 0, 1, false, TW_PROMQL_COMPAT_PROMETHEUS3);
    tw_ev_matrix_t y3 = {0};
    tw_ev_matrix_t x3 = {0};
    add_series(&f, &y3, "__name__=trigy", "0:10");
    add_series(&f, &x3, "__name__=trigx", "0:20");
    expect_result(&f, "trigy atan2 trigx", &y3, &x3, "{} 0:0.463648");
    fx_fini(&f);
}

static void test_sample_limit(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, 0, 20, 10, false, TW_PROMQL_COMPAT_PROMETHEUS3);
    f.opts.max_samples = 2;
    tw_ev_matrix_t v = {0};
    tw_ev_matrix_t s = {0};
    add_series(&f, &v, "__name__=m,i=1", "0:1 10:5 20:3");
    add_scalar(&f, &s, 3);
    expect_error(&f, "m + 3", &v, &s,
                 "query processing would load too many samples into memory in query execution");
    fx_fini(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_ops),       cmocka_unit_test(test_scalar_scalar),
        cmocka_unit_test(test_vector_scalar),   cmocka_unit_test(test_same_labelset),
        cmocka_unit_test(test_one_to_one),      cmocka_unit_test(test_group_left_right),
        cmocka_unit_test(test_matching_errors), cmocka_unit_test(test_set_operators),
        cmocka_unit_test(test_atan2_name),      cmocka_unit_test(test_sample_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
