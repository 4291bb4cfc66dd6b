/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_promql_functions.c - the PromQL functions (query/promql_functions.c) called directly.
 *
 * Each case parses a query for its call node (positions and the range selector's range and
 * offset come from there), builds a one-step tw_ev_t by hand, calls the function found by
 * tw_ev_func_lookup with hand-made arguments and checks the exact outputs, annotations and
 * errors, in Prometheus 3.5 mode and, where the maths differs, in 2.42 mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include <cmocka.h>

#include "common/arena.h"
#include "query/promql_eval_int.h"
#include "query/query.h"

/* One evaluation step around one call. */
typedef struct fx {
    tw_promql_engine_options_t opts;
    tw_ev_t ev;
    tw_promql_ast_t *ast;
    tw_ev_vector_t out;
    tw_ev_call_t call;
    tw_ev_func_t fn;
} fx_t;

static void fx_init(fx_t *f, const char *query, tw_promql_compat_t compat, int64_t ts)
{
    memset(f, 0, sizeof(*f));
    f->opts.compat = compat;
    f->opts.lookback_delta_ms = TW_PROMQL_DEFAULT_LOOKBACK_MS;
    f->opts.max_samples = TW_PROMQL_DEFAULT_MAX_SAMPLES;
    f->opts.timeout_ms = TW_PROMQL_DEFAULT_TIMEOUT_MS;
    f->opts.default_subquery_step_ms = TW_PROMQL_DEFAULT_SUBQUERY_STEP_MS;
    tw_promql_parse_options_t po = {.compat = compat};
    assert_int_equal(tw_promql_parse(query, strlen(query), &po, &f->ast, NULL), 0);
    f->ev.arena = tw_arena_new(0);
    f->ev.opts = &f->opts;
    f->ev.query = tw_promql_ast_input(f->ast);
    f->ev.start = f->ev.end = f->ev.query_start = f->ev.query_end = ts;
    f->ev.interval = 1;
    f->ev.n_steps = 1;
    const tw_promql_expr_t *root = tw_promql_ast_root(f->ast);
    while (root->kind == TW_PROMQL_PAREN) {
        root = root->u.paren.expr;
    }
    assert_int_equal(root->kind, TW_PROMQL_CALL);
    f->call = (tw_ev_call_t){.ev = &f->ev, .node = root, .ts = ts, .out = &f->out};
    f->fn = tw_ev_func_lookup(root->u.call.func->name);
    assert_non_null(f->fn);
}

static void fx_fini(fx_t *f)
{
    tw_promql_ast_free(f->ast);
    tw_arena_free(f->ev.arena);
}

static int fx_call(fx_t *f, const tw_ev_arg_t *args, size_t n)
{
    f->out.n = 0;
    return f->fn(&f->call, args, n);
}

/* A window of points (t in seconds) for a range argument. */
static tw_ev_series_t window(const tw_label_t *l, uint32_t nl, tw_promql_point_t *p, size_t n)
{
    return (tw_ev_series_t){.m = {l, nl}, .p = p, .n = n, .cap = n};
}

static tw_ev_arg_t matrix_arg(const tw_ev_series_t *s)
{
    return (tw_ev_arg_t){.type = TW_PROMQL_TYPE_MATRIX, .series = s};
}

static tw_ev_arg_t scalar_arg(double v)
{
    return (tw_ev_arg_t){.type = TW_PROMQL_TYPE_SCALAR, .scalar = v};
}

static tw_ev_arg_t vector_arg(const tw_ev_vector_t *v)
{
    return (tw_ev_arg_t){.type = TW_PROMQL_TYPE_VECTOR, .vec = v};
}

static tw_ev_arg_t string_arg(const char *s)
{
    return (tw_ev_arg_t){.type = TW_PROMQL_TYPE_STRING, .str = s, .str_len = strlen(s)};
}

/* Equal to within a few ulps (the maths is the same as upstream's, the rounding may not be). */
static void assert_close(double got, double want)
{
    if (isnan(want)) {
        assert_true(isnan(got));
        return;
    }
    if (got != want && fabs(got - want) > 1e-12 * fabs(want)) {
        fail_msg("got %.17g, want %.17g", got, want);
    }
}

/* The labels of sample i rendered as {a="b",...}. */
static const char *labels_str(const tw_ev_sample_t *s, char *buf, size_t n)
{
    size_t off = (size_t)snprintf(buf, n, "{");
    for (uint32_t i = 0; i < s->m.n && off < n; i++) {
        off += (size_t)snprintf(buf + off, n - off, "%s%s=\"%s\"", i > 0 ? "," : "", s->m.l[i].name,
                                s->m.l[i].value);
    }
    if (off < n) {
        snprintf(buf + off, n - off, "}");
    }
    return buf;
}

static void test_lookup(void **state)
{
    (void)state;
    size_t n;
    const tw_promql_function_t *all = tw_promql_functions(&n);
    for (size_t i = 0; i < n; i++) {
        const char *name = all[i].name;
        bool optional = strncmp(name, "histogram_", 10) == 0 || strcmp(name, "info") == 0;
        if (strcmp(name, "histogram_quantile") == 0) {
            optional = false;
        }
        if (!optional && tw_ev_func_lookup(name) == NULL) {
            fail_msg("no implementation of %s", name);
        }
    }
    assert_null(tw_ev_func_lookup("nonexistent"));
    assert_ptr_equal(tw_ev_func_lookup("holt_winters"),
                     tw_ev_func_lookup("double_exponential_smoothing"));
}

/*
 * Three samples at 100s, 160s, 220s in a 240s window ending at 240s: the start gap (100s) is
 * beyond 1.1 average spacings, the counter's zero point lies 60s before the first sample.
 * 3.5 first caps the start gap to half a spacing (30s) and keeps it (the zero point is
 * further); 2.42 first takes the zero point (60s) and keeps it since it is under the threshold.
 */
static void test_rate_extrapolation(void **state)
{
    (void)state;
    static const tw_label_t l[] = {{"__name__", "http_requests_total"}, {"job", "a"}};
    tw_promql_point_t p[] = {{100000, 10}, {160000, 20}, {220000, 30}};
    tw_ev_series_t s = window(l, 2, p, 3);
    tw_ev_arg_t a = matrix_arg(&s);
    fx_t f;

    fx_init(&f, "increase(http_requests_total[4m])", TW_PROMQL_COMPAT_PROMETHEUS3, 240000);
    assert_int_equal(fx_call(&f, &a, 1), 0);
    assert_int_equal(f.out.n, 1);
    assert_close(f.out.s[0].f, 20.0 * (120 + 30 + 20) / 120);
    assert_int_equal(f.ev.n_infos, 0);
    fx_fini(&f);

    fx_init(&f, "increase(http_requests_total[4m])", TW_PROMQL_COMPAT_PROMETHEUS2, 240000);
    assert_int_equal(fx_call(&f, &a, 1), 0);
    assert_int_equal(f.out.n, 1);
    assert_close(f.out.s[0].f, 20.0 * (120 + 60 + 20) / 120);
    fx_fini(&f);

    /* rate divides by the range; a counter reset adds the value before the drop. */
    tw_promql_point_t p2[] = {{60000, 10}, {120000, 20}, {180000, 5}, {240000, 15}};
    tw_ev_series_t s2 = window(l, 2, p2, 4);
    a = matrix_arg(&s2);
    fx_init(&f, "rate(http_requests_total[4m])", TW_PROMQL_COMPAT_PROMETHEUS3, 240000);
    assert_int_equal(fx_call(&f, &a, 1), 0);
    assert_int_equal(f.out.n, 1);
    /* result 15 - 10 + 20 = 25; to_start 60 (< 66), zero point 180 * 10/25 = 72 is further;
     * to_end 0: factor (180 + 60) / 180 / 240. */
    assert_close(f.out.s[0].f, 25.0 * 240 / 180 / 240);
    fx_fini(&f);

    /* delta: no reset handling, and one sample gives nothing. */
    fx_init(&f, "delta(http_requests_total[4m])", TW_PROMQL_COMPAT_PROMETHEUS3, 240000);
    assert_int_equal(fx_call(&f, &a, 1), 0);
    assert_close(f.out.s[0].f, 5.0 * 240 / 180);
    tw_ev_series_t one = window(l, 2, p2, 1);
    tw_ev_arg_t a1 = matrix_arg(&one);
    assert_int_equal(fx_call(&f, &a1, 1), 0);
    assert_int_equal(f.out.n, 0);
    fx_fini(&f);

    /* A metric name without a counter suffix gets Prometheus' info, at the argument. */
    static const tw_label_t g[] = {{"__name__", "some_gauge"}};
    tw_ev_series_t s3 = window(g, 1, p2, 4);
    a = matrix_arg(&s3);
    fx_init(&f, "rate(some_gauge[4m])", TW_PROMQL_COMPAT_PROMETHEUS3, 240000);
    assert_int_equal(fx_call(&f, &a, 1), 0);
    assert_int_equal(f.ev.n_infos, 1);
    assert_string_equal(f.ev.infos[0], "PromQL info: metric might not be a counter, name does not "
                                       "end in _total/_sum/_count/_bucket: \"some_gauge\" (1:6)");
    fx_fini(&f);

    /* irate: the last two samples; a drop counts as a reset. */
    fx_init(&f, "irate(some_gauge[4m])", TW_PROMQL_COMPAT_PROMETHEUS3, 240000);
    assert_int_equal(fx_call(&f, &a, 1), 0);
    assert_close(f.out.s[0].f, 10.0 / 60);
    fx_fini(&f);
}

static void test_predict_linear_deriv(void **state)
{
    (void)state;
    static const tw_label_t l[] = {{"__name__", "disk"}};
    tw_promql_point_t p[] = {{0, 0}, {60000, 60}, {120000, 120}};
    tw_ev_series_t s = window(l, 1, p, 3);
    tw_ev_arg_t a[2] = {matrix_arg(&s), scalar_arg(3600)};
    fx_t f;
    fx_init(&f, "predict_linear(disk[5m], 3600)", TW_PROMQL_COMPAT_PROMETHEUS3, 180000);
    assert_int_equal(fx_call(&f, a, 2), 0);
    assert_int_equal(f.out.n, 1);
    /* slope 1/s, value at ts (180s) is 180, plus 3600s. */
    assert_close(f.out.s[0].f, 3780);
    fx_fini(&f);

    fx_init(&f, "deriv(disk[5m])", TW_PROMQL_COMPAT_PROMETHEUS3, 180000);
    assert_int_equal(fx_call(&f, a, 1), 0);
    assert_close(f.out.s[0].f, 1);
    fx_fini(&f);

    /* A constant infinite series has no slope. */
    tw_promql_point_t pi[] = {{0, INFINITY}, {60000, INFINITY}};
    tw_ev_series_t si = window(l, 1, pi, 2);
    a[0] = matrix_arg(&si);
    fx_init(&f, "deriv(disk[5m])", TW_PROMQL_COMPAT_PROMETHEUS3, 180000);
    assert_int_equal(fx_call(&f, a, 1), 0);
    assert_true(isnan(f.out.s[0].f));
    fx_fini(&f);
}

static void test_over_time(void **state)
{
    (void)state;
    static const tw_label_t l[] = {{"__name__", "data"}};
    tw_promql_point_t p[] = {{10000, 3}, {20000, 1}, {30000, NAN}, {40000, 2}};
    tw_ev_series_t s = window(l, 1, p, 4);
    tw_ev_arg_t a[2] = {scalar_arg(0.5), matrix_arg(&s)};
    fx_t f;

    /* Sorted NaN first: NaN 1 2 3; rank 1.5 between 1 and 2. */
    fx_init(&f, "quantile_over_time(0.5, data[1m])", TW_PROMQL_COMPAT_PROMETHEUS3, 60000);
    assert_int_equal(fx_call(&f, a, 2), 0);
    assert_close(f.out.s[0].f, 1.5);
    assert_int_equal(f.ev.n_warnings, 0);
    fx_fini(&f);

    a[0] = scalar_arg(2);
    fx_init(&f, "quantile_over_time(2, data[1m])", TW_PROMQL_COMPAT_PROMETHEUS3, 60000);
    assert_int_equal(fx_call(&f, a, 2), 0);
    assert_true(isinf(f.out.s[0].f) && f.out.s[0].f > 0);
    assert_int_equal(f.ev.n_warnings, 1);
    assert_string_equal(f.ev.warnings[0],
                        "PromQL warning: quantile value should be between 0 and 1, got 2 (1:20)");
    fx_fini(&f);

    /* 2.42 had no annotations. */
    fx_init(&f, "quantile_over_time(2, data[1m])", TW_PROMQL_COMPAT_PROMETHEUS2, 60000);
    assert_int_equal(fx_call(&f, a, 2), 0);
    assert_int_equal(f.ev.n_warnings, 0);
    fx_fini(&f);

    tw_promql_point_t q[] = {{10000, 1}, {20000, 2}, {30000, 3}, {40000, 4}, {50000, 5}};
    tw_ev_series_t sq = window(l, 1, q, 5);
    tw_ev_arg_t m = matrix_arg(&sq);
    struct {
        const char *query;
        double want;
    } cases[] = {
        {"avg_over_time(data[1m])", 3},
        {"sum_over_time(data[1m])", 15},
        {"count_over_time(data[1m])", 5},
        {"min_over_time(data[1m])", 1},
        {"max_over_time(data[1m])", 5},
        {"last_over_time(data[1m])", 5},
        {"stdvar_over_time(data[1m])", 2},
        {"stddev_over_time(data[1m])", 1.4142135623730951},
        {"mad_over_time(data[1m])", 1},
        {"ts_of_max_over_time(data[1m])", 50},
        {"present_over_time(data[1m])", 1},
        {"changes(data[1m])", 4},
        {"resets(data[1m])", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fx_init(&f, cases[i].query, TW_PROMQL_COMPAT_PROMETHEUS3, 60000);
        assert_int_equal(fx_call(&f, &m, 1), 0);
        assert_int_equal(f.out.n, 1);
        assert_close(f.out.s[0].f, cases[i].want);
        fx_fini(&f);
    }

    /* avg_over_time switches to an incremental mean instead of overflowing. */
    tw_promql_point_t big[] = {{10000, 9.988465674311579e+307}, {20000, 9.988465674311579e+307}};
    tw_ev_series_t sb = window(l, 1, big, 2);
    m = matrix_arg(&sb);
    fx_init(&f, "avg_over_time(data[1m])", TW_PROMQL_COMPAT_PROMETHEUS3, 60000);
    assert_int_equal(fx_call(&f, &m, 1), 0);
    assert_close(f.out.s[0].f, 9.988465674311579e+307);
    fx_fini(&f);

    /* double_exponential_smoothing refuses factors outside (0, 1). */
    tw_ev_arg_t h[3] = {matrix_arg(&sq), scalar_arg(1), scalar_arg(0.5)};
    fx_init(&f, "double_exponential_smoothing(data[1m], 1, 0.5)", TW_PROMQL_COMPAT_PROMETHEUS3,
            60000);
    assert_int_equal(fx_call(&f, h, 3), TW_EEXEC);
    assert_string_equal(f.ev.err_msg,
                        "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000");
    fx_fini(&f);
    /* A straight line is smoothed to itself. */
    h[1] = scalar_arg(0.5);
    fx_init(&f, "holt_winters(data[1m], 0.5, 0.5)", TW_PROMQL_COMPAT_PROMETHEUS2, 60000);
    assert_int_equal(fx_call(&f, h, 3), 0);
    assert_close(f.out.s[0].f, 5);
    fx_fini(&f);
}

static void test_label_replace(void **state)
{
    (void)state;
    static const tw_label_t l1[] = {{"__name__", "testmetric"}, {"src", "source-value-10"}};
    static const tw_label_t l2[] = {{"__name__", "testmetric"}, {"src", "source-value-20"}};
    static const tw_label_t l3[] = {{"__name__", "testmetric"}, {"src", "other"}};
    tw_ev_sample_t in[] = {{.m = {l1, 2}, .f = 1}, {.m = {l2, 2}, .f = 2}, {.m = {l3, 2}, .f = 3}};
    tw_ev_vector_t v = {.s = in, .n = 3, .cap = 3};
    char buf[256];
    fx_t f;

    const char *q = "label_replace(testmetric, \"dst\", \"d-$1-${1}x-$name-$$-$1x\", \"src\", "
                    "\"source-value-(?P<name>.*)\")";
    fx_init(&f, q, TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    tw_ev_arg_t a[5] = {vector_arg(&v), string_arg("dst"), string_arg("d-$1-${1}x-$name-$$-$1x"),
                        string_arg("src"), string_arg("source-value-(?P<name>.*)")};
    for (int step = 0; step < 2; step++) { /* the second step comes from the cache */
        assert_int_equal(fx_call(&f, a, 5), 0);
        assert_int_equal(f.out.n, 3);
        assert_string_equal(
            labels_str(&f.out.s[0], buf, sizeof(buf)),
            "{__name__=\"testmetric\",dst=\"d-10-10x-10-$-\",src=\"source-value-10\"}");
        assert_string_equal(
            labels_str(&f.out.s[1], buf, sizeof(buf)),
            "{__name__=\"testmetric\",dst=\"d-20-20x-20-$-\",src=\"source-value-20\"}");
        assert_string_equal(labels_str(&f.out.s[2], buf, sizeof(buf)),
                            "{__name__=\"testmetric\",src=\"other\"}");
        assert_close(f.out.s[1].f, 2);
    }
    fx_fini(&f);

    /* Errors, worded like Prometheus. */
    fx_init(&f, "label_replace(testmetric, \"dst\", \"v-$1\", \"src\", \"(.*\")",
            TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    tw_ev_arg_t bad[5] = {vector_arg(&v), string_arg("dst"), string_arg("v-$1"), string_arg("src"),
                          string_arg("(.*")};
    assert_int_equal(fx_call(&f, bad, 5), TW_EEXEC);
    assert_string_equal(f.ev.err_msg, "invalid regular expression in label_replace(): (.*");
    fx_fini(&f);

    tw_ev_arg_t dst[5] = {vector_arg(&v), string_arg("invalid-label-name"), string_arg(""),
                          string_arg("src"), string_arg("(.*)")};
    fx_init(&f, "label_replace(testmetric, \"invalid-label-name\", \"\", \"src\", \"(.*)\")",
            TW_PROMQL_COMPAT_PROMETHEUS2, 0);
    assert_int_equal(fx_call(&f, dst, 5), TW_EEXEC);
    assert_string_equal(f.ev.err_msg,
                        "invalid destination label name in label_replace(): invalid-label-name");
    fx_fini(&f);
    /* 3.x accepts any UTF-8 label name. */
    fx_init(&f, "label_replace(testmetric, \"invalid-label-name\", \"\", \"src\", \"(.*)\")",
            TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    assert_int_equal(fx_call(&f, dst, 5), 0);
    fx_fini(&f);

    /* Deleting the only distinguishing label makes duplicates. */
    tw_ev_arg_t dup[5] = {vector_arg(&v), string_arg("src"), string_arg(""), string_arg(""),
                          string_arg("")};
    fx_init(&f, "label_replace(testmetric, \"src\", \"\", \"\", \"\")",
            TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    assert_int_equal(fx_call(&f, dup, 5), TW_EEXEC);
    assert_string_equal(f.ev.err_msg, "vector cannot contain metrics with the same labelset");
    fx_fini(&f);

    /* label_join. */
    tw_ev_arg_t j[5] = {vector_arg(&v), string_arg("joined"), string_arg("+"), string_arg("src"),
                        string_arg("__name__")};
    fx_init(&f, "label_join(testmetric, \"joined\", \"+\", \"src\", \"__name__\")",
            TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    assert_int_equal(fx_call(&f, j, 5), 0);
    assert_string_equal(labels_str(&f.out.s[2], buf, sizeof(buf)),
                        "{__name__=\"testmetric\",joined=\"other+testmetric\",src=\"other\"}");
    fx_fini(&f);
}

static void test_histogram_quantile(void **state)
{
    (void)state;
    static const tw_label_t b1[] = {{"__name__", "x_bucket"}, {"job", "a"}, {"le", "0.1"}};
    static const tw_label_t b2[] = {{"__name__", "x_bucket"}, {"job", "a"}, {"le", "0.2"}};
    static const tw_label_t b3[] = {{"__name__", "x_bucket"}, {"job", "a"}, {"le", "+Inf"}};
    static const tw_label_t bad[] = {{"__name__", "x_bucket"}, {"job", "a"}, {"le", "abc"}};
    static const tw_label_t c1[] = {{"__name__", "y_bucket"}, {"le", "1"}};
    static const tw_label_t c2[] = {{"__name__", "y_bucket"}, {"le", "10"}};
    static const tw_label_t c3[] = {{"__name__", "y_bucket"}, {"le", "+Inf"}};
    tw_ev_sample_t in[] = {
        {.m = {b3, 3}, .f = 4},  {.m = {b1, 3}, .f = 1}, {.m = {bad, 3}, .f = 7},
        {.m = {b2, 3}, .f = 3},  {.m = {c1, 2}, .f = 5}, {.m = {c2, 2}, .f = 4},
        {.m = {c3, 2}, .f = 10},
    };
    tw_ev_vector_t v = {.s = in, .n = 7, .cap = 7};
    tw_ev_arg_t a[2] = {scalar_arg(0.5), vector_arg(&v)};
    char buf[256];
    fx_t f;

    fx_init(&f, "histogram_quantile(0.5, x_bucket)", TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    assert_int_equal(fx_call(&f, a, 2), 0);
    assert_int_equal(f.out.n, 2);
    /* x: rank 2 of 4 falls in (0.1, 0.2] holding 2, halfway. */
    assert_string_equal(labels_str(&f.out.s[0], buf, sizeof(buf)), "{job=\"a\"}");
    assert_close(f.out.s[0].f, 0.15);
    /* y: 10 is forced up to 5; rank 5 of 10 is reached in the first bucket. */
    assert_string_equal(labels_str(&f.out.s[1], buf, sizeof(buf)), "{}");
    assert_close(f.out.s[1].f, 1);
    assert_int_equal(f.ev.n_warnings, 1);
    assert_string_equal(f.ev.warnings[0],
                        "PromQL warning: bucket label \"le\" is missing or has a malformed value "
                        "of \"abc\" for metric name \"x_bucket\" (1:25)");
    assert_int_equal(f.ev.n_infos, 1);
    assert_string_equal(f.ev.infos[0],
                        "PromQL info: input to histogram_quantile needed to be fixed for "
                        "monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/"
                        "functions/#histogram_quantile) (1:25)");
    fx_fini(&f);

    /* Quantiles outside [0, 1] give -Inf/+Inf and a warning at the quantile argument. */
    a[0] = scalar_arg(-0.1);
    fx_init(&f, "histogram_quantile(-0.1, x_bucket)", TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    assert_int_equal(fx_call(&f, a, 2), 0);
    assert_true(isinf(f.out.s[0].f) && f.out.s[0].f < 0);
    assert_string_equal(f.ev.warnings[0], "PromQL warning: quantile value should be between 0 "
                                          "and 1, got -0.1 (1:20)");
    fx_fini(&f);

    /* Delayed name removal keeps __name__ and marks it. */
    a[0] = scalar_arg(0.5);
    fx_init(&f, "histogram_quantile(0.5, x_bucket)", TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    f.opts.delayed_name_removal = true;
    assert_int_equal(fx_call(&f, a, 2), 0);
    assert_string_equal(labels_str(&f.out.s[0], buf, sizeof(buf)),
                        "{__name__=\"x_bucket\",job=\"a\"}");
    assert_true(f.out.s[0].drop_name);
    fx_fini(&f);
}

static void test_instant_functions(void **state)
{
    (void)state;
    static const tw_label_t l1[] = {{"__name__", "m"}, {"i", "a10"}};
    static const tw_label_t l2[] = {{"__name__", "m"}, {"i", "a9"}};
    static const tw_label_t l3[] = {{"__name__", "m"}, {"i", "a1"}};
    tw_ev_sample_t in[] = {
        {.m = {l1, 2}, .f = 1136239445}, {.m = {l2, 2}, .f = NAN}, {.m = {l3, 2}, .f = -2.5}};
    tw_ev_vector_t v = {.s = in, .n = 3, .cap = 3};
    char buf[256];
    fx_t f;

    /* 1136239445 is 2006-01-02T22:04:05Z, a Monday. */
    struct {
        const char *query;
        double want;
    } dates[] = {
        {"year(m)", 2006}, {"month(m)", 1},       {"day_of_month(m)", 2}, {"hour(m)", 22},
        {"minute(m)", 4},  {"day_of_week(m)", 1}, {"day_of_year(m)", 2},  {"days_in_month(m)", 31},
    };
    tw_ev_vector_t one = {.s = in, .n = 1, .cap = 1};
    tw_ev_arg_t a = vector_arg(&one);
    for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        fx_init(&f, dates[i].query, TW_PROMQL_COMPAT_PROMETHEUS3, 0);
        assert_int_equal(fx_call(&f, &a, 1), 0);
        assert_close(f.out.s[0].f, dates[i].want);
        assert_string_equal(labels_str(&f.out.s[0], buf, sizeof(buf)), "{i=\"a10\"}");
        fx_fini(&f);
    }
    /* No argument: the step time (2016-02-29 is in a leap year). */
    fx_init(&f, "days_in_month()", TW_PROMQL_COMPAT_PROMETHEUS3, 1456790399000);
    assert_int_equal(fx_call(&f, NULL, 0), 0);
    assert_close(f.out.s[0].f, 29);
    fx_fini(&f);

    /* sort puts NaN last; sort_by_label compares numbers inside values naturally. */
    a = vector_arg(&v);
    fx_init(&f, "sort(m)", TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    assert_int_equal(fx_call(&f, &a, 1), 0);
    assert_close(f.out.s[0].f, -2.5);
    assert_close(f.out.s[1].f, 1136239445);
    assert_true(isnan(f.out.s[2].f));
    assert_string_equal(labels_str(&f.out.s[0], buf, sizeof(buf)), "{__name__=\"m\",i=\"a1\"}");
    fx_fini(&f);

    tw_ev_arg_t sl[2] = {vector_arg(&v), string_arg("i")};
    fx_init(&f, "sort_by_label(m, \"i\")", TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    assert_int_equal(fx_call(&f, sl, 2), 0);
    assert_string_equal(tw_ev_labels_get(f.out.s[0].m, "i"), "a1");
    assert_string_equal(tw_ev_labels_get(f.out.s[1].m, "i"), "a9");
    assert_string_equal(tw_ev_labels_get(f.out.s[2].m, "i"), "a10");
    fx_fini(&f);

    /* clamp follows Go's Min/Max: NaN stays NaN; max < min gives nothing. */
    tw_ev_arg_t cl[3] = {vector_arg(&v), scalar_arg(0), scalar_arg(10)};
    fx_init(&f, "clamp(m, 0, 10)", TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    assert_int_equal(fx_call(&f, cl, 3), 0);
    assert_close(f.out.s[0].f, 10);
    assert_true(isnan(f.out.s[1].f));
    assert_close(f.out.s[2].f, 0);
    cl[2] = scalar_arg(-1);
    assert_int_equal(fx_call(&f, cl, 3), 0);
    assert_int_equal(f.out.n, 0);
    fx_fini(&f);

    /* round to a multiple, ties up. */
    tw_ev_arg_t r[2] = {vector_arg(&v), scalar_arg(2)};
    fx_init(&f, "round(m, 2)", TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    assert_int_equal(fx_call(&f, r, 2), 0);
    assert_close(f.out.s[2].f, -2);
    fx_fini(&f);

    /* scalar() of more than one element is NaN. */
    fx_init(&f, "scalar(m)", TW_PROMQL_COMPAT_PROMETHEUS3, 0);
    assert_int_equal(fx_call(&f, &a, 1), 0);
    assert_true(isnan(f.out.s[0].f));
    fx_fini(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_rate_extrapolation),
        cmocka_unit_test(test_predict_linear_deriv),
        cmocka_unit_test(test_over_time),
        cmocka_unit_test(test_label_replace),
        cmocka_unit_test(test_histogram_quantile),
        cmocka_unit_test(test_instant_functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
