/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_promql_aggregate.c - the evaluator's aggregations (promql_aggregate.c) on hand-made
 * input: a tw_ev_t with a grid of one to three steps, input matrices built point by point, the
 * aggregation node from the parser, and exact expectations for every operator: by/without,
 * gaps in the grid, topk/bottomk order with NaN, count_values labels, limit_ratio's hash
 * sampling (offsets computed with an independent xxHash64), annotations and errors, in
 * Prometheus 3.5 and 2.42 modes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "common/buf.h"
#include "query/promql_eval_int.h"

/* A value slot with no point at that step. */
#define GAP 1.5e300

typedef struct fx {
    tw_arena_t *arena;
    tw_promql_engine_options_t opts;
    tw_ev_t ev;
    tw_promql_ast_t *ast;
    const tw_promql_expr_t *node;
    tw_ev_matrix_t in;
    tw_ev_matrix_t param;
    tw_ev_matrix_t out;
} fx_t;

/* Sets up a grid of n_steps steps at 0, 60s, 120s and parses query. */
static void fx_init(fx_t *f, const char *query, size_t n_steps, tw_promql_compat_t compat)
{
    memset(f, 0, sizeof(*f));
    f->arena = tw_arena_new(0);
    f->opts = (tw_promql_engine_options_t){.compat = compat,
                                           .lookback_delta_ms = TW_PROMQL_DEFAULT_LOOKBACK_MS,
                                           .max_samples = TW_PROMQL_DEFAULT_MAX_SAMPLES,
                                           .timeout_ms = -1,
                                           .default_subquery_step_ms = 60000};
    tw_promql_parse_options_t po = {.compat = compat};
    tw_error_t err;
    tw_error_clear(&err);
    assert_int_equal(tw_promql_parse(query, strlen(query), &po, &f->ast, &err), 0);
    f->node = tw_promql_ast_root(f->ast);
    assert_int_equal(f->node->kind, TW_PROMQL_AGGREGATE);
    f->ev = (tw_ev_t){.arena = f->arena,
                      .opts = &f->opts,
                      .query = tw_promql_ast_input(f->ast),
                      .start = 0,
                      .end = (int64_t)(n_steps - 1) * 60000,
                      .interval = n_steps == 1 ? 1 : 60000,
                      .n_steps = n_steps};
}

static void fx_fini(fx_t *f)
{
    tw_promql_ast_free(f->ast);
    tw_arena_free(f->arena);
}

static int64_t step_t(const fx_t *f, size_t k)
{
    return f->ev.start + (int64_t)k * f->ev.interval;
}

/*
 * Adds an input series: labels "name=value,name=value" (sorted by the caller), one value per
 * step (GAP: no point).
 */
static void add_series(fx_t *f, const char *labels, const double *v, bool drop_name)
{
    tw_label_t *l = tw_arena_alloc(f->arena, 8 * sizeof(*l));
    uint32_t n = 0;
    char *s = tw_arena_strdup(f->arena, labels);
    while (s != NULL && *s != '\0') {
        char *comma = strchr(s, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        char *eq = strchr(s, '=');
        assert_non_null(eq);
        *eq = '\0';
        l[n].name = s;
        l[n].value = eq + 1;
        n++;
        s = comma != NULL ? comma + 1 : NULL;
    }
    tw_ev_series_t *se = tw_ev_matrix_add(&f->ev, &f->in, (tw_ev_labels_t){l, n}, drop_name);
    for (size_t k = 0; k < f->ev.n_steps; k++) {
        if (v[k] != GAP) {
            tw_ev_series_push(&f->ev, se, step_t(f, k), v[k]);
        }
    }
}

static void add1(fx_t *f, const char *labels, double v)
{
    add_series(f, labels, &v, false);
}

/* The scalar parameter: one point per step. */
static void set_param(fx_t *f, const double *v)
{
    tw_ev_series_t *s = tw_ev_matrix_add(&f->ev, &f->param, (tw_ev_labels_t){NULL, 0}, false);
    for (size_t k = 0; k < f->ev.n_steps; k++) {
        tw_ev_series_push(&f->ev, s, step_t(f, k), v[k]);
    }
}

static void set_param1(fx_t *f, double v)
{
    double p[3] = {v, v, v};
    set_param(f, p);
}

static int run(fx_t *f, const char *label)
{
    return tw_ev_aggregate(&f->ev, f->node, &f->in, f->param.n > 0 ? &f->param : NULL, label,
                           &f->out);
}

/* The labels of s as "a=1,b=2". */
static const char *fmt_labels(fx_t *f, const tw_ev_series_t *s)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    for (uint32_t i = 0; i < s->m.n; i++) {
        tw_buf_printf(&b, "%s%s=%s", i > 0 ? "," : "", s->m.l[i].name, s->m.l[i].value);
    }
    const char *r = tw_arena_strdup(f->arena, b.data != NULL ? b.data : "");
    tw_buf_fini(&b);
    return r;
}

/* Asserts output series i: its labels and its values per step (GAP: no point). */
static void expect_series(fx_t *f, size_t i, const char *labels, const double *v)
{
    assert_true(i < f->out.n);
    const tw_ev_series_t *s = &f->out.s[i];
    assert_string_equal(fmt_labels(f, s), labels);
    size_t j = 0;
    for (size_t k = 0; k < f->ev.n_steps; k++) {
        if (v[k] == GAP) {
            if (j < s->n) {
                assert_true(s->p[j].t != step_t(f, k));
            }
            continue;
        }
        assert_true(j < s->n);
        assert_int_equal(s->p[j].t, step_t(f, k));
        if (isnan(v[k])) {
            assert_true(isnan(s->p[j].v));
        } else if (s->p[j].v != v[k]) {
            fail_msg("%s step %zu: got %.17g, want %.17g", labels, k, s->p[j].v, v[k]);
        }
        j++;
    }
    assert_int_equal(j, s->n);
}

static void expect1(fx_t *f, size_t i, const char *labels, double v)
{
    expect_series(f, i, labels, &v);
}

/* The instant-vector data most tests aggregate. */
static void load_http(fx_t *f)
{
    add1(f, "__name__=http,group=canary,instance=0,job=api", 300);
    add1(f, "__name__=http,group=canary,instance=1,job=api", 400);
    add1(f, "__name__=http,group=production,instance=0,job=api", 100);
    add1(f, "__name__=http,group=production,instance=1,job=api", 200);
    add1(f, "__name__=http,group=production,instance=0,job=app", 500);
}

static void test_sum_by_without(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, "sum by (group) (http)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    load_http(&f);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 2);
    expect1(&f, 0, "group=canary", 700);
    expect1(&f, 1, "group=production", 800);
    fx_fini(&f);

    fx_init(&f, "sum without (instance) (http)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    load_http(&f);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 3);
    expect1(&f, 0, "group=canary,job=api", 700);
    expect1(&f, 1, "group=production,job=api", 300);
    expect1(&f, 2, "group=production,job=app", 500);
    fx_fini(&f);

    fx_init(&f, "sum(http)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    load_http(&f);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 1);
    expect1(&f, 0, "", 1500);
    fx_fini(&f);

    /* by (__name__) keeps the name; a missing label does not appear. */
    fx_init(&f, "sum by (__name__, nonexistent) (http)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    load_http(&f);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 1);
    expect1(&f, 0, "__name__=http", 1500);
    fx_fini(&f);

    /* Kahan summation: 1e100 + 2 - 1e100 + 8 is 10, not 8. */
    fx_init(&f, "sum(x)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "a=1", 2);
    add1(&f, "a=2", 1e100);
    add1(&f, "a=3", 8);
    add1(&f, "a=4", -1e100);
    assert_int_equal(run(&f, NULL), 0);
    expect1(&f, 0, "", 10);
    fx_fini(&f);

    /* Prometheus 2.42 sums plainly. */
    fx_init(&f, "sum(x)", 1, TW_PROMQL_COMPAT_PROMETHEUS2);
    add1(&f, "a=1", 2);
    add1(&f, "a=2", 1e100);
    add1(&f, "a=3", 8);
    add1(&f, "a=4", -1e100);
    assert_int_equal(run(&f, NULL), 0);
    expect1(&f, 0, "", 0);
    fx_fini(&f);
}

static void test_simple_ops(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        double canary, production;
    } cases[] = {
        {"avg by (group) (http)", 350, 800.0 / 3},
        {"count by (group) (http)", 2, 3},
        {"min by (group) (http)", 300, 100},
        {"max by (group) (http)", 400, 500},
        {"group by (group) (http)", 1, 1},
        {"stdvar by (group) (http)", 2500, 28888.888888888887},
        {"stddev by (group) (http)", 50, 169.96731711975949},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx_t f;
        fx_init(&f, cases[i].q, 1, TW_PROMQL_COMPAT_PROMETHEUS3);
        load_http(&f);
        assert_int_equal(run(&f, NULL), 0);
        assert_int_equal(f.out.n, 2);
        expect1(&f, 0, "group=canary", cases[i].canary);
        expect1(&f, 1, "group=production", cases[i].production);
        fx_fini(&f);
    }
}

static void test_nan_inf(void **state)
{
    (void)state;
    fx_t f;
    /* max/min skip a NaN unless everything is NaN. */
    fx_init(&f, "max by (g) (x)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "a=1,g=1", NAN);
    add1(&f, "a=2,g=1", 3);
    add1(&f, "a=3,g=2", NAN);
    assert_int_equal(run(&f, NULL), 0);
    expect1(&f, 0, "g=1", 3);
    expect1(&f, 1, "g=2", NAN);
    fx_fini(&f);

    /* stddev of a lone Inf: NaN in 3.5, 0 in 2.42. */
    fx_init(&f, "stddev(x)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "a=1", INFINITY);
    assert_int_equal(run(&f, NULL), 0);
    expect1(&f, 0, "", NAN);
    fx_fini(&f);
    fx_init(&f, "stddev(x)", 1, TW_PROMQL_COMPAT_PROMETHEUS2);
    add1(&f, "a=1", INFINITY);
    assert_int_equal(run(&f, NULL), 0);
    expect1(&f, 0, "", 0);
    fx_fini(&f);

    /* avg: the sum would overflow, the incremental mean does not. */
    fx_init(&f, "avg(x)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    for (int i = 0; i < 4; i++) {
        char l[8];
        snprintf(l, sizeof(l), "a=%d", i);
        add1(&f, l, 9.988465674311579e+307);
    }
    assert_int_equal(run(&f, NULL), 0);
    expect1(&f, 0, "", 9.988465674311579e+307);
    fx_fini(&f);

    /* avg of Inf and a finite value. */
    fx_init(&f, "avg(x)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "a=1", INFINITY);
    add1(&f, "a=2", 2);
    assert_int_equal(run(&f, NULL), 0);
    expect1(&f, 0, "", INFINITY);
    fx_fini(&f);
    fx_init(&f, "avg(x)", 1, TW_PROMQL_COMPAT_PROMETHEUS2);
    add1(&f, "a=1", INFINITY);
    add1(&f, "a=2", 2);
    assert_int_equal(run(&f, NULL), 0);
    expect1(&f, 0, "", INFINITY);
    fx_fini(&f);
}

/* Three steps with gaps: a group without points at a step has no point there. */
static void test_grid_gaps(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, "sum by (job) (x)", 3, TW_PROMQL_COMPAT_PROMETHEUS3);
    add_series(&f, "__name__=x,i=0,job=a", (double[]){1, GAP, 3}, false);
    add_series(&f, "__name__=x,i=1,job=a", (double[]){10, 20, GAP}, false);
    add_series(&f, "__name__=x,i=0,job=b", (double[]){GAP, 5, GAP}, false);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 2);
    expect_series(&f, 0, "job=a", (double[]){11, 20, 3});
    expect_series(&f, 1, "job=b", (double[]){GAP, 5, GAP});
    fx_fini(&f);

    /* A group never seen produces no series at all. */
    fx_init(&f, "count without (i) (x)", 3, TW_PROMQL_COMPAT_PROMETHEUS3);
    add_series(&f, "__name__=x,i=0,job=a", (double[]){GAP, GAP, 3}, false);
    add_series(&f, "__name__=x,i=1,job=a", (double[]){1, GAP, 3}, false);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 1);
    expect_series(&f, 0, "job=a", (double[]){1, GAP, 2});
    fx_fini(&f);
}

static void test_topk_bottomk_order(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, "topk(3, http)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "__name__=http,instance=0", 100);
    add1(&f, "__name__=http,instance=1", 200);
    add1(&f, "__name__=http,instance=2", NAN);
    add1(&f, "__name__=http,instance=3", 50);
    set_param1(&f, 3);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 3);
    expect1(&f, 0, "__name__=http,instance=1", 200);
    expect1(&f, 1, "__name__=http,instance=0", 100);
    expect1(&f, 2, "__name__=http,instance=3", 50);
    fx_fini(&f);

    /* NaN sorts last in both directions. */
    fx_init(&f, "bottomk(3, http)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "__name__=http,instance=0", 100);
    add1(&f, "__name__=http,instance=1", 200);
    add1(&f, "__name__=http,instance=2", NAN);
    set_param1(&f, 3);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 3);
    expect1(&f, 0, "__name__=http,instance=0", 100);
    expect1(&f, 1, "__name__=http,instance=1", 200);
    expect1(&f, 2, "__name__=http,instance=2", NAN);
    fx_fini(&f);

    /* by (group): groups in order of first appearance, each sorted. */
    fx_init(&f, "topk by (group) (1, http)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    load_http(&f);
    set_param1(&f, 1);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 2);
    expect1(&f, 0, "__name__=http,group=canary,instance=1,job=api", 400);
    expect1(&f, 1, "__name__=http,group=production,instance=0,job=app", 500);
    fx_fini(&f);

    /* k larger than the input, and k < 1. */
    fx_init(&f, "bottomk(9999999999, http)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    load_http(&f);
    set_param1(&f, 9999999999.0);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 5);
    expect1(&f, 0, "__name__=http,group=production,instance=0,job=api", 100);
    expect1(&f, 4, "__name__=http,group=production,instance=0,job=app", 500);
    fx_fini(&f);
    fx_init(&f, "topk(0.5, http)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    load_http(&f);
    set_param1(&f, 0.5);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 0);
    fx_fini(&f);

    /* 2.42 gives the same order here. */
    fx_init(&f, "topk(2, http)", 1, TW_PROMQL_COMPAT_PROMETHEUS2);
    load_http(&f);
    set_param1(&f, 2);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 2);
    expect1(&f, 0, "__name__=http,group=production,instance=0,job=app", 500);
    expect1(&f, 1, "__name__=http,group=canary,instance=1,job=api", 400);
    fx_fini(&f);
}

/* topk over a range with k changing per step: the kept series merge by labels. */
static void test_topk_range(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, "topk(scalar(k), x)", 3, TW_PROMQL_COMPAT_PROMETHEUS3);
    add_series(&f, "__name__=x,i=0", (double[]){1, 5, 9}, true);
    add_series(&f, "__name__=x,i=1", (double[]){2, 4, GAP}, false);
    add_series(&f, "__name__=x,i=2", (double[]){3, GAP, 7}, false);
    set_param(&f, (double[]){1, 2, 0});
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 3);
    expect_series(&f, 0, "__name__=x,i=2", (double[]){3, GAP, GAP});
    expect_series(&f, 1, "__name__=x,i=0", (double[]){GAP, 5, GAP});
    expect_series(&f, 2, "__name__=x,i=1", (double[]){GAP, 4, GAP});
    /* topk keeps the input's name-dropping mark. */
    assert_true(f.out.s[1].drop_name);
    assert_false(f.out.s[0].drop_name);
    fx_fini(&f);
}

static void test_quantile(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, "quantile without (point) (0.8, data)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "__name__=data,point=a,test=three", 0);
    add1(&f, "__name__=data,point=b,test=three", 1);
    add1(&f, "__name__=data,point=c,test=three", 2);
    add1(&f, "__name__=data,point=a,test=uneven", 0);
    add1(&f, "__name__=data,point=b,test=uneven", 1);
    add1(&f, "__name__=data,point=c,test=uneven", 4);
    set_param1(&f, 0.8);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 2);
    expect1(&f, 0, "test=three", 1.6);
    expect1(&f, 1, "test=uneven", 2.8000000000000003);
    assert_int_equal(f.ev.n_warnings, 0);
    fx_fini(&f);

    /* Out-of-range φ over a range: a warning for each extreme, at the parameter. */
    fx_init(&f, "quantile(scalar(q), data)", 3, TW_PROMQL_COMPAT_PROMETHEUS3);
    add_series(&f, "__name__=data,p=a", (double[]){1, 1, 1}, false);
    add_series(&f, "__name__=data,p=b", (double[]){2, 2, 2}, false);
    set_param(&f, (double[]){0.5, 1.5, -2});
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 1);
    expect_series(&f, 0, "", (double[]){1.5, INFINITY, -INFINITY});
    assert_int_equal(f.ev.n_warnings, 2);
    assert_string_equal(f.ev.warnings[0],
                        "PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:10)");
    assert_string_equal(f.ev.warnings[1],
                        "PromQL warning: quantile value should be between 0 and 1, got -2 (1:10)");
    fx_fini(&f);

    fx_init(&f, "quantile((NaN), data)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "__name__=data,p=a", 1);
    set_param1(&f, NAN);
    assert_int_equal(run(&f, NULL), 0);
    expect1(&f, 0, "", NAN);
    assert_int_equal(f.ev.n_warnings, 1);
    assert_string_equal(f.ev.warnings[0],
                        "PromQL warning: quantile value should be between 0 and 1, got NaN (1:11)");
    fx_fini(&f);

    /* 2.42 had no annotations. */
    fx_init(&f, "quantile(NaN, data)", 1, TW_PROMQL_COMPAT_PROMETHEUS2);
    add1(&f, "__name__=data,p=a", 1);
    set_param1(&f, NAN);
    assert_int_equal(run(&f, NULL), 0);
    expect1(&f, 0, "", NAN);
    assert_int_equal(f.ev.n_warnings, 0);
    fx_fini(&f);
}

static void test_count_values(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, "count_values(\"version\", v)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "__name__=v,i=0,job=a", 6);
    add1(&f, "__name__=v,i=1,job=a", 6);
    add1(&f, "__name__=v,i=2,job=b", 8);
    add1(&f, "__name__=v,i=3,job=b", 1.5e-7);
    add1(&f, "__name__=v,i=4,job=b", 1e21);
    assert_int_equal(run(&f, "version"), 0);
    assert_int_equal(f.out.n, 4);
    expect1(&f, 0, "version=6", 2);
    expect1(&f, 1, "version=8", 1);
    expect1(&f, 2, "version=0.00000015", 1);
    expect1(&f, 3, "version=1000000000000000000000", 1);
    fx_fini(&f);

    fx_init(&f, "count_values without (i) (\"version\", v)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "__name__=v,i=0,job=a", 6);
    add1(&f, "__name__=v,i=1,job=a", 6);
    add1(&f, "__name__=v,i=2,job=b", 6);
    assert_int_equal(run(&f, "version"), 0);
    assert_int_equal(f.out.n, 2);
    expect1(&f, 0, "job=a,version=6", 2);
    expect1(&f, 1, "job=b,version=6", 1);
    fx_fini(&f);

    /* The value label overwrites a grouping label; over three steps. */
    fx_init(&f, "count_values by (job) (\"job\", v)", 3, TW_PROMQL_COMPAT_PROMETHEUS3);
    add_series(&f, "__name__=v,i=0,job=a", (double[]){6, 7, GAP}, false);
    add_series(&f, "__name__=v,i=1,job=b", (double[]){6, 6, 7}, false);
    assert_int_equal(run(&f, "job"), 0);
    assert_int_equal(f.out.n, 2);
    expect_series(&f, 0, "job=6", (double[]){2, 1, GAP});
    expect_series(&f, 1, "job=7", (double[]){GAP, 1, 1});
    fx_fini(&f);
}

static void test_errors(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, "count_values(\"a\\xc5z\", v)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "__name__=v", 1);
    assert_int_equal(run(&f, "a\xc5z"), TW_EEXEC);
    assert_string_equal(f.ev.err_msg, "invalid label name \"a\\xc5z\"");
    fx_fini(&f);

    /* UTF-8 label names are fine in 3.5, not in 2.42. */
    fx_init(&f, "count_values(\"ü\", v)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "__name__=v", 1);
    assert_int_equal(run(&f, "\xc3\xbc"), 0);
    expect1(&f, 0, "\xc3\xbc=1", 1);
    fx_fini(&f);
    fx_init(&f, "count_values(\"1x\", v)", 1, TW_PROMQL_COMPAT_PROMETHEUS2);
    add1(&f, "__name__=v", 1);
    assert_int_equal(run(&f, "1x"), TW_EEXEC);
    assert_string_equal(f.ev.err_msg, "invalid label name \"1x\"");
    fx_fini(&f);

    fx_init(&f, "topk(scalar(k), v)", 3, TW_PROMQL_COMPAT_PROMETHEUS3);
    add_series(&f, "__name__=v", (double[]){1, 1, 1}, false);
    set_param(&f, (double[]){1, NAN, 2});
    assert_int_equal(run(&f, NULL), TW_EEXEC);
    assert_string_equal(f.ev.err_msg, "Parameter value is NaN");
    fx_fini(&f);

    fx_init(&f, "topk(scalar(k), v)", 3, TW_PROMQL_COMPAT_PROMETHEUS3);
    add_series(&f, "__name__=v", (double[]){1, 1, 1}, false);
    set_param(&f, (double[]){1, 1e19, 2});
    assert_int_equal(run(&f, NULL), TW_EEXEC);
    assert_string_equal(f.ev.err_msg, "Scalar value 1e+19 overflows int64");
    fx_fini(&f);

    fx_init(&f, "bottomk(scalar(k), v)", 3, TW_PROMQL_COMPAT_PROMETHEUS3);
    add_series(&f, "__name__=v", (double[]){1, 1, 1}, false);
    set_param(&f, (double[]){1, -1e19, 2});
    assert_int_equal(run(&f, NULL), TW_EEXEC);
    assert_string_equal(f.ev.err_msg, "Scalar value -1e+19 underflows int64");
    fx_fini(&f);

    fx_init(&f, "topk(NaN, v)", 1, TW_PROMQL_COMPAT_PROMETHEUS2);
    add1(&f, "__name__=v", 1);
    set_param1(&f, NAN);
    assert_int_equal(run(&f, NULL), TW_EEXEC);
    assert_string_equal(f.ev.err_msg, "Scalar value NaN overflows int64");
    fx_fini(&f);

    fx_init(&f, "limit_ratio(NaN, v)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "__name__=v", 1);
    set_param1(&f, NAN);
    assert_int_equal(run(&f, NULL), TW_EEXEC);
    assert_string_equal(f.ev.err_msg, "Ratio value is NaN");
    fx_fini(&f);
}

/* limit_ratio samples by xxHash64 of the label set (offsets from an independent xxHash64). */
static void test_limitk_limit_ratio(void **state)
{
    (void)state;
    /* Offsets of {__name__="x", i="0".."5"}: .674 .136 .509 .339 .093 .989. */
    static const double ratios[] = {0.5, -0.5};
    static const char *const keep[][3] = {{"1", "3", "4"}, {"0", "2", "5"}};
    for (size_t r = 0; r < 2; r++) {
        fx_t f;
        fx_init(&f, "limit_ratio(0.5, x)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
        for (int i = 0; i < 6; i++) {
            char l[32];
            snprintf(l, sizeof(l), "__name__=x,i=%d", i);
            add1(&f, l, i);
        }
        set_param1(&f, ratios[r]);
        assert_int_equal(run(&f, NULL), 0);
        assert_int_equal(f.out.n, 3);
        for (size_t j = 0; j < 3; j++) {
            bool found = false;
            for (size_t o = 0; o < f.out.n; o++) {
                found = found || strcmp(tw_ev_labels_get(f.out.s[o].m, "i"), keep[r][j]) == 0;
            }
            assert_true(found);
        }
        fx_fini(&f);
    }

    /* A label set longer than 32 bytes (the hash's striped path): offset 0.40722546856613. */
    static const double around[] = {0.4072, 0.4073};
    for (size_t r = 0; r < 2; r++) {
        fx_t f;
        fx_init(&f, "limit_ratio(1.5, x)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
        add1(&f,
             "__name__=a_rather_long_metric_name_for_hashing,instance=localhost:9090,"
             "job=prometheus",
             1);
        set_param1(&f, around[r]);
        assert_int_equal(run(&f, NULL), 0);
        assert_int_equal(f.out.n, r);
        fx_fini(&f);
    }

    /* The empty label set: XXH64("") / 2^64 = 0.9347... */
    for (size_t r = 0; r < 2; r++) {
        fx_t f;
        fx_init(&f, "limit_ratio(1.5, x)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
        add1(&f, "", 1);
        set_param1(&f, r == 0 ? 0.93 : 0.94);
        assert_int_equal(run(&f, NULL), 0);
        assert_int_equal(f.out.n, r);
        fx_fini(&f);
    }

    /* A ratio above 1 is capped, with a warning at the parameter. */
    fx_t f;
    fx_init(&f, "limit_ratio(1.5, x)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    add1(&f, "__name__=x,i=0", 1);
    add1(&f, "__name__=x,i=1", 2);
    set_param1(&f, 1.5);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 2);
    assert_int_equal(f.ev.n_warnings, 1);
    assert_string_equal(f.ev.warnings[0], "PromQL warning: ratio value should be between -1 and "
                                          "1, got 1.5, capping to 1 (1:13)");
    fx_fini(&f);

    /* limitk keeps the first k series of each group. */
    fx_init(&f, "limitk by (group) (1, http)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    load_http(&f);
    set_param1(&f, 1);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 2);
    expect1(&f, 0, "__name__=http,group=canary,instance=0,job=api", 300);
    expect1(&f, 1, "__name__=http,group=production,instance=0,job=api", 100);
    fx_fini(&f);
}

/* Delayed name removal: a `by (__name__)` group carries its inputs' mark. */
static void test_drop_name(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, "sum by (__name__) (x)", 1, TW_PROMQL_COMPAT_PROMETHEUS3);
    f.opts.delayed_name_removal = true;
    double one = 1;
    add_series(&f, "__name__=a,i=0", &one, false);
    add_series(&f, "__name__=a,i=1", &one, true);
    add_series(&f, "__name__=b,i=0", &one, false);
    assert_int_equal(run(&f, NULL), 0);
    assert_int_equal(f.out.n, 2);
    expect1(&f, 0, "__name__=a", 2);
    expect1(&f, 1, "__name__=b", 1);
    assert_true(f.out.s[0].drop_name);
    assert_false(f.out.s[1].drop_name);
    fx_fini(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_by_without),
        cmocka_unit_test(test_simple_ops),
        cmocka_unit_test(test_nan_inf),
        cmocka_unit_test(test_grid_gaps),
        cmocka_unit_test(test_topk_bottomk_order),
        cmocka_unit_test(test_topk_range),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_count_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limitk_limit_ratio),
        cmocka_unit_test(test_drop_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
