/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_promql_engine.c - the evaluator's driver: selectors with lookback and staleness, offset,
 * `@`, range vectors, subqueries, range queries, absent(), the sample limit, and the TSDB
 * storage adapter. Data sit in a tiny storage written here (series in label order).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/tsdb/tsdb.h"
#include "query/promql_eval_int.h"
#include "query/query.h"

#define MAXS 8
#define MAXP 64

typedef struct tseries {
    tw_label_t l[4];
    size_t nl;
    int64_t t[MAXP];
    double v[MAXP];
    size_t n;
} tseries_t;

typedef struct tstore {
    tseries_t s[MAXS];
    size_t n;
    int opens;
} tstore_t;

static int ts_open(void *ctx, int64_t mint, int64_t maxt, void **q, tw_error_t *err)
{
    (void)mint;
    (void)maxt;
    (void)err;
    tstore_t *st = ctx;
    st->opens++;
    *q = st;
    return 0;
}

static void ts_close(void *q)
{
    tstore_t *st = q;
    st->opens--;
}

static int ts_select(void *q, const tw_matcher_t *ms, size_t n, int64_t mint, int64_t maxt,
                     tw_promql_series_fn fn, void *arg, tw_error_t *err)
{
    (void)err;
    tstore_t *st = q;
    for (size_t i = 0; i < st->n; i++) {
        tseries_t *s = &st->s[i];
        bool ok = true;
        for (size_t k = 0; k < n && ok; k++) {
            const char *v = tw_labels_get(s->l, s->nl, ms[k].name);
            ok = tw_matcher_matches(&ms[k], v != NULL ? v : "");
        }
        size_t lo = 0, hi = 0;
        while (lo < s->n && s->t[lo] < mint) {
            lo++;
        }
        hi = lo;
        while (hi < s->n && s->t[hi] <= maxt) {
            hi++;
        }
        if (!ok || hi == lo) {
            continue;
        }
        int rc = fn(arg, s->l, s->nl, s->t + lo, s->v + lo, hi - lo);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static tstore_t store;
static tw_promql_storage_t storage = {
    .ctx = &store, .open = ts_open, .close = ts_close, .select = ts_select};

static double stale_nan(void)
{
    uint64_t bits = TW_EV_STALE_NAN_BITS;
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* Adds a series named name with label job=job and samples v[i] at i*step_s seconds. */
static void add(const char *name, const char *job, int step_s, const double *v, size_t n)
{
    tseries_t *s = &store.s[store.n++];
    memset(s, 0, sizeof(*s));
    s->l[0] = (tw_label_t){"__name__", name};
    s->l[1] = (tw_label_t){"job", job};
    s->nl = 2;
    for (size_t i = 0; i < n; i++) {
        if (isnan(v[i]) && !tw_ev_is_stale(v[i])) {
            continue; /* NaN in the table = no sample */
        }
        s->t[s->n] = (int64_t)i * step_s * 1000;
        s->v[s->n] = v[i];
        s->n++;
    }
}

static int setup(void **state)
{
    (void)state;
    memset(&store, 0, sizeof(store));
    /* Kept in label order: metric a{job=x}, a{job=y}, b{job=x}. */
    double a_x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    double a_y[] = {10, 20, 30, stale_nan(), NAN, NAN, 70};
    double b_x[] = {100};
    add("a", "x", 60, a_x, 10);
    add("a", "y", 60, a_y, 7);
    add("b", "x", 60, b_x, 1);
    return 0;
}

static tw_promql_result_t *instant(const char *q, int64_t t_ms, const tw_promql_engine_options_t *o)
{
    tw_promql_result_t *r = NULL;
    tw_error_t err;
    int rc = tw_promql_exec_instant(o, &storage, q, strlen(q), t_ms, &r, &err);
    if (rc != 0) {
        fail_msg("%s: %s", q, err.msg);
    }
    assert_int_equal(store.opens, 0);
    return r;
}

static const char *label(const tw_promql_series_t *s, const char *name)
{
    const char *v = tw_labels_get(s->labels, s->n_labels, name);
    return v != NULL ? v : "";
}

static void test_vector_selector_lookback_and_staleness(void **state)
{
    (void)state;
    /* At 150 s: a{x} has 2 (t=120), a{y} has 30 (t=120). */
    tw_promql_result_t *r = instant("a", 150000, NULL);
    assert_int_equal(r->type, TW_PROMQL_TYPE_VECTOR);
    assert_int_equal(r->n_series, 2);
    assert_string_equal(label(&r->series[0], "job"), "x");
    assert_true(r->series[0].points[0].v == 3);
    assert_int_equal(r->series[0].points[0].t, 150000);
    assert_true(r->series[1].points[0].v == 30);
    tw_promql_result_free(r);
    /* At 200 s a{y}'s newest sample is the stale marker (t=180): the series is gone. */
    r = instant("a", 200000, NULL);
    assert_int_equal(r->n_series, 1);
    tw_promql_result_free(r);
    /* b's only sample is at 0: visible up to 5 m minus a millisecond (left-open lookback). */
    r = instant("b", 299999, NULL);
    assert_int_equal(r->n_series, 1);
    tw_promql_result_free(r);
    r = instant("b", 300000, NULL);
    assert_int_equal(r->n_series, 0);
    tw_promql_result_free(r);
    /* Prometheus 2.42 includes the left end of the lookback window. */
    tw_promql_engine_options_t o2 = {.compat = TW_PROMQL_COMPAT_PROMETHEUS2};
    r = instant("b", 300000, &o2);
    assert_int_equal(r->n_series, 1);
    tw_promql_result_free(r);
}

static void test_offset_and_at(void **state)
{
    (void)state;
    tw_promql_result_t *r = instant("a{job=\"x\"} offset 2m", 300000, NULL);
    assert_int_equal(r->n_series, 1);
    assert_true(r->series[0].points[0].v == 4);
    tw_promql_result_free(r);
    r = instant("a{job=\"x\"} @ 60", 540000, NULL);
    assert_true(r->series[0].points[0].v == 2);
    assert_int_equal(r->series[0].points[0].t, 540000);
    tw_promql_result_free(r);
    r = instant("a{job=\"x\"} @ 120 offset -1m", 0, NULL);
    assert_true(r->series[0].points[0].v == 4);
    tw_promql_result_free(r);
}

static void test_range_vector_windows(void **state)
{
    (void)state;
    /* (0, 180] holds t=60,120,180 in Prometheus 3; [0, 180] also t=0 in 2.42. */
    tw_promql_result_t *r = instant("a{job=\"x\"}[3m]", 180000, NULL);
    assert_int_equal(r->type, TW_PROMQL_TYPE_MATRIX);
    assert_int_equal(r->n_series, 1);
    assert_int_equal(r->series[0].n_points, 3);
    assert_int_equal(r->series[0].points[0].t, 60000);
    assert_string_equal(label(&r->series[0], "__name__"), "a");
    tw_promql_result_free(r);
    tw_promql_engine_options_t o2 = {.compat = TW_PROMQL_COMPAT_PROMETHEUS2};
    r = instant("a{job=\"x\"}[3m]", 180000, &o2);
    assert_int_equal(r->series[0].n_points, 4);
    tw_promql_result_free(r);
    /* Stale markers never appear in range vectors. */
    r = instant("a{job=\"y\"}[10m]", 400000, NULL);
    assert_int_equal(r->series[0].n_points, 4);
    tw_promql_result_free(r);
}

static void test_subquery_points(void **state)
{
    (void)state;
    /* Inner steps aligned to 2 m inside (60 s, 360 s]: 120, 240, 360. */
    tw_promql_result_t *r = instant("a{job=\"x\"}[5m:2m]", 360000, NULL);
    assert_int_equal(r->type, TW_PROMQL_TYPE_MATRIX);
    assert_int_equal(r->series[0].n_points, 3);
    assert_int_equal(r->series[0].points[0].t, 120000);
    assert_true(r->series[0].points[0].v == 3);
    assert_true(r->series[0].points[2].v == 7);
    tw_promql_result_free(r);
}

static void test_range_query_and_scalars(void **state)
{
    (void)state;
    tw_promql_result_t *r = NULL;
    tw_error_t err;
    const char *q = "b";
    assert_int_equal(
        tw_promql_exec_range(NULL, &storage, q, strlen(q), 0, 600000, 120000, &r, &err), 0);
    assert_int_equal(r->type, TW_PROMQL_TYPE_MATRIX);
    assert_int_equal(r->n_series, 1);
    assert_int_equal(r->series[0].n_points, 3); /* 0, 120, 240; 360 is past the lookback */
    tw_promql_result_free(r);
    q = "42";
    assert_int_equal(
        tw_promql_exec_range(NULL, &storage, q, strlen(q), 0, 600000, 300000, &r, &err), 0);
    assert_int_equal(r->n_series, 1);
    assert_int_equal(r->series[0].n_labels, 0);
    assert_int_equal(r->series[0].n_points, 3);
    tw_promql_result_free(r);
    r = instant("42", 5000, NULL);
    assert_int_equal(r->type, TW_PROMQL_TYPE_SCALAR);
    assert_true(r->scalar == 42);
    assert_int_equal(r->t, 5000);
    tw_promql_result_free(r);
    r = instant("\"hi\"", 0, NULL);
    assert_int_equal(r->type, TW_PROMQL_TYPE_STRING);
    assert_string_equal(r->str, "hi");
    tw_promql_result_free(r);
    q = "a[5m]";
    assert_int_equal(tw_promql_exec_range(NULL, &storage, q, strlen(q), 0, 60000, 1000, &r, &err),
                     TW_EPARSE);
    assert_string_equal(err.msg, "invalid expression type \"range vector\" for range query, must "
                                 "be Scalar or instant Vector");
}

static void test_absent(void **state)
{
    (void)state;
    tw_promql_result_t *r = instant("absent(nope{job=\"j\", x=~\"y\"})", 0, NULL);
    assert_int_equal(r->n_series, 1);
    assert_int_equal(r->series[0].n_labels, 1);
    assert_string_equal(label(&r->series[0], "job"), "j");
    assert_true(r->series[0].points[0].v == 1);
    tw_promql_result_free(r);
    r = instant("absent(a)", 0, NULL);
    assert_int_equal(r->n_series, 0);
    tw_promql_result_free(r);
    r = instant("absent_over_time(b{job=\"x\"}[1m])", 120000, NULL);
    assert_int_equal(r->n_series, 1);
    assert_string_equal(label(&r->series[0], "job"), "x");
    tw_promql_result_free(r);
    r = instant("absent_over_time(b[1m])", 30000, NULL);
    assert_int_equal(r->n_series, 0);
    tw_promql_result_free(r);
}

static void test_sample_limit(void **state)
{
    (void)state;
    tw_promql_engine_options_t o = {.max_samples = 5};
    tw_promql_result_t *r = NULL;
    tw_error_t err;
    const char *q = "a[10m]";
    assert_int_equal(tw_promql_exec_instant(&o, &storage, q, strlen(q), 600000, &r, &err),
                     TW_EEXEC);
    assert_null(r);
    assert_string_equal(err.msg, "query processing would load too many samples into memory in "
                                 "query execution");
    assert_int_equal(store.opens, 0);
    q = "a{job=\"x\"}";
    assert_int_equal(tw_promql_exec_range(&o, &storage, q, strlen(q), 0, 540000, 60000, &r, &err),
                     TW_EEXEC);
}

static void test_parse_error_position(void **state)
{
    (void)state;
    tw_promql_result_t *r = NULL;
    tw_error_t err;
    const char *q = "sum(a";
    assert_int_equal(tw_promql_exec_instant(NULL, &storage, q, strlen(q), 0, &r, &err), TW_EPARSE);
    assert_non_null(strstr(err.msg, "unclosed left parenthesis"));
}

static void test_tsdb_storage(void **state)
{
    (void)state;
    char dir[] = "/tmp/tw-engine-XXXXXX";
    assert_non_null(mkdtemp(dir));
    tw_tsdb_options_t opts;
    tw_tsdb_options_default(&opts);
    opts.path = dir;
    opts.compact_interval_ms = 0;
    tw_tsdb_t *db = NULL;
    tw_error_t err;
    assert_int_equal(tw_tsdb_open(&opts, &db, &err), 0);
    tw_tsdb_appender_t *app = tw_tsdb_appender_begin(db);
    assert_non_null(app);
    tw_label_t l[] = {{"__name__", "up"}, {"job", "t"}};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tw_tsdb_appender_append(app, l, 2, 1700000000000 + i * 15000, i, &err), 0);
    }
    assert_int_equal(tw_tsdb_appender_commit(app, &err), 0);
    tw_promql_storage_t s;
    tw_promql_storage_tsdb(db, &s);
    tw_promql_result_t *r = NULL;
    const char *q = "up{job=\"t\"}[1m]";
    assert_int_equal(tw_promql_exec_instant(NULL, &s, q, strlen(q), 1700000060000, &r, &err), 0);
    assert_int_equal(r->n_series, 1);
    assert_int_equal(r->series[0].n_points, 4);
    assert_true(r->series[0].points[3].v == 4);
    assert_string_equal(label(&r->series[0], "job"), "t");
    tw_promql_result_free(r);
    tw_tsdb_close(db);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_vector_selector_lookback_and_staleness, setup),
        cmocka_unit_test_setup(test_offset_and_at, setup),
        cmocka_unit_test_setup(test_range_vector_windows, setup),
        cmocka_unit_test_setup(test_subquery_points, setup),
        cmocka_unit_test_setup(test_range_query_and_scalars, setup),
        cmocka_unit_test_setup(test_absent, setup),
        cmocka_unit_test_setup(test_sample_limit, setup),
        cmocka_unit_test_setup(test_parse_error_position, setup),
        cmocka_unit_test_setup(test_tsdb_storage, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
