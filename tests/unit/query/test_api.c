/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_api.c - the Prometheus HTTP API handlers (query/api.c) against an in-memory storage:
 * number, time and duration syntaxes, the envelope and every error message and status code,
 * series/labels/label values with match[], /federate's text and the status endpoints. Bodies
 * are compared byte for byte with what Prometheus answers for the same data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "query/query.h"

/* ---- fixtures -------------------------------------------------------------------------------- */

typedef struct fixture {
    tw_promql_memstore_t *mem;
    tw_query_api_t *api;
    tw_http_response_t resp;
} fixture_t;

/* The clock queries without `time` use: 2023-11-14T22:13:20Z. */
static int64_t fixed_now(void *ctx)
{
    (void)ctx;
    return 1700000000000LL;
}

static int head_stats(void *ctx, tw_query_api_head_stats_t *out, tw_error_t *err)
{
    (void)ctx;
    (void)err;
    out->num_series = 3;
    out->chunk_count = 3;
    out->min_time_ms = 1699999700000LL;
    out->max_time_ms = 1700000000000LL;
    return 0;
}

static int config_yaml(void *ctx, tw_buf_t *out, tw_error_t *err)
{
    (void)ctx;
    (void)err;
    return tw_buf_puts(out, "global:\n  scrape_interval: 1m\n");
}

static void add(tw_promql_memstore_t *m, const char *name, const char *job, const char *inst,
                int64_t t, double v)
{
    tw_label_t l[3] = {{"__name__", name}, {"instance", inst}, {"job", job}};
    assert_int_equal(tw_promql_memstore_add(m, l, 3, t, v, NULL), 0);
}

static int setup_compat(void **state, tw_promql_compat_t compat)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->mem = tw_promql_memstore_new();
    /* up: two targets, every 15 s over the last 5 minutes. */
    for (int64_t t = 1699999700000LL; t <= 1700000000000LL; t += 15000) {
        add(f->mem, "up", "node", "a:9100", t, 1);
        add(f->mem, "up", "prom", "b:9090", t, 0);
    }
    add(f->mem, "big", "node", "a:9100", 1700000000000LL, 1e22);
    tw_query_api_config_t cfg = {.engine = {.compat = compat},
                                 .build = {.version = "0.1.0", .revision = "abc"},
                                 .now_ms = fixed_now,
                                 .head_stats = head_stats,
                                 .config_yaml = config_yaml};
    tw_promql_memstore_storage(f->mem, &cfg.storage);
    f->api = tw_query_api_new(&cfg);
    tw_buf_init(&f->resp.body, 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_compat(state, TW_PROMQL_COMPAT_PROMETHEUS3);
}

static int setup2(void **state)
{
    return setup_compat(state, TW_PROMQL_COMPAT_PROMETHEUS2);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    tw_query_api_free(f->api);
    tw_promql_memstore_free(f->mem);
    tw_buf_fini(&f->resp.body);
    free(f);
    return 0;
}

/*
 * Serves method path with "name=value" parameters (NULL-terminated list) and checks the
 * status and the exact body.
 */
static void expect(fixture_t *f, const char *method, const char *path, int status, const char *body,
                   ...)
{
    tw_query_api_param_t ps[16];
    char store[16][256];
    size_t n = 0;
    va_list ap;
    va_start(ap, body);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        snprintf(store[n], sizeof(store[n]), "%s", a);
        char *eq = strchr(store[n], '=');
        assert_non_null(eq);
        *eq = '\0';
        ps[n].name = store[n];
        ps[n].value = eq + 1;
        n++;
    }
    va_end(ap);
    tw_buf_reset(&f->resp.body);
    f->resp.status = 0;
    assert_int_equal(tw_query_api_serve(f->api, method, path, ps, n, &f->resp), 0);
    const char *got = f->resp.body.data != NULL ? f->resp.body.data : "";
    if (strcmp(got, body) != 0 || f->resp.status != status) {
        fprintf(stderr, "%s %s\n  want %d %s\n  got  %d %s\n", method, path, status, body,
                f->resp.status, got);
    }
    assert_int_equal(f->resp.status, status);
    assert_string_equal(got, body);
}

/* ---- formatting ----------------------------------------------------------------------------- */

static void check_value(double v, const char *want, int (*fn)(double, tw_buf_t *))
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    assert_int_equal(fn(v, &b), 0);
    assert_string_equal(b.data, want);
    tw_buf_fini(&b);
}

static void test_format_value(void **state)
{
    (void)state;
    check_value(1000000, "1000000", tw_promql_format_value);
    check_value(1e-7, "1e-07", tw_promql_format_value);
    check_value(1e22, "1e+22", tw_promql_format_value);
    check_value(1e21, "1e+21", tw_promql_format_value);
    check_value(1e20, "100000000000000000000", tw_promql_format_value);
    check_value(1e-6, "0.000001", tw_promql_format_value);
    check_value(-1.5e-9, "-1.5e-09", tw_promql_format_value);
    check_value(0.1, "0.1", tw_promql_format_value);
    check_value(123456.789, "123456.789", tw_promql_format_value);
    check_value(0, "0", tw_promql_format_value);
    check_value(NAN, "NaN", tw_promql_format_value);
    check_value(INFINITY, "+Inf", tw_promql_format_value);
    check_value(-INFINITY, "-Inf", tw_promql_format_value);
    check_value(1.2345678901234567e300, "1.2345678901234567e+300", tw_promql_format_value);
}

static void test_format_g(void **state)
{
    (void)state;
    check_value(1e6, "1e+06", tw_query_api_format_g);
    check_value(100000, "100000", tw_query_api_format_g);
    check_value(123456789, "1.23456789e+08", tw_query_api_format_g);
    check_value(0.0001, "0.0001", tw_query_api_format_g);
    check_value(0.00001, "1e-05", tw_query_api_format_g);
    check_value(1.5, "1.5", tw_query_api_format_g);
    check_value(-2, "-2", tw_query_api_format_g);
    check_value(NAN, "NaN", tw_query_api_format_g);
}

static void test_json(void **state)
{
    (void)state;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_query_api_json_string(&b, "a\"b\\c\n<&>\x01\xe2\x80\xa8\xff");
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u003c\\u0026\\u003e\\u0001\\u2028\\ufffd\"");
    tw_buf_reset(&b);
    tw_query_api_json_time(&b, 1700000000500LL);
    assert_string_equal(b.data, "\"2023-11-14T22:13:20.5Z\"");
    tw_buf_reset(&b);
    tw_query_api_json_time(&b, 0);
    assert_string_equal(b.data, "\"1970-01-01T00:00:00Z\"");
    tw_buf_reset(&b);
    tw_query_api_json_float(&b, 1e-7);
    assert_string_equal(b.data, "1e-7");
    tw_buf_reset(&b);
    tw_query_api_json_float(&b, 0.25);
    assert_string_equal(b.data, "0.25");
    tw_buf_fini(&b);
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t t = 0;
    tw_error_t err;
    assert_int_equal(tw_query_api_parse_time("1700000000.5", &t, &err), 0);
    assert_int_equal(t, 1700000000500LL);
    assert_int_equal(tw_query_api_parse_time("1700000000.1234", &t, &err), 0);
    assert_int_equal(t, 1700000000123LL);
    assert_int_equal(tw_query_api_parse_time("-1.5", &t, &err), 0);
    assert_int_equal(t, -1500);
    assert_int_equal(tw_query_api_parse_time("1e9", &t, &err), 0);
    assert_int_equal(t, 1000000000000LL);
    assert_int_equal(tw_query_api_parse_time("2023-11-14T22:13:20.5Z", &t, &err), 0);
    assert_int_equal(t, 1700000000500LL);
    assert_int_equal(tw_query_api_parse_time("2023-11-14T23:13:20+01:00", &t, &err), 0);
    assert_int_equal(t, 1700000000000LL);
    assert_int_equal(tw_query_api_parse_time("-292273086-05-16T16:47:06Z", &t, &err), 0);
    assert_int_equal(t, (INT64_MIN / 1000 + 62135596801LL) * 1000);
    assert_int_equal(tw_query_api_parse_time("2023-02-29T00:00:00Z", &t, &err), TW_EINVAL);
    assert_int_equal(tw_query_api_parse_time("yesterday", &t, &err), TW_EINVAL);
    assert_string_equal(err.msg, "cannot parse \"yesterday\" to a valid timestamp");
}

static void test_parse_duration(void **state)
{
    (void)state;
    int64_t d = 0;
    tw_error_t err;
    assert_int_equal(tw_query_api_parse_duration("15", &d, &err), 0);
    assert_int_equal(d, 15000000000LL);
    assert_int_equal(tw_query_api_parse_duration("0.5", &d, &err), 0);
    assert_int_equal(d, 500000000LL);
    assert_int_equal(tw_query_api_parse_duration("1m30s", &d, &err), 0);
    assert_int_equal(d, 90000000000LL);
    assert_int_equal(tw_query_api_parse_duration("1e10", &d, &err), TW_EINVAL);
    assert_string_equal(err.msg, "cannot parse \"1e10\" to a valid duration. It overflows int64");
    assert_int_equal(tw_query_api_parse_duration("5 min", &d, &err), TW_EINVAL);
    assert_string_equal(err.msg, "cannot parse \"5 min\" to a valid duration");
}

/* ---- queries ----------------------------------------------------------------------------------
 */

static void test_query_instant(void **state)
{
    fixture_t *f = *state;
    expect(f, "GET", "/api/v1/query", 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
           "{\"metric\":{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"},"
           "\"value\":[1700000000,\"1\"]},"
           "{\"metric\":{\"__name__\":\"up\",\"instance\":\"b:9090\",\"job\":\"prom\"},"
           "\"value\":[1700000000,\"0\"]}]}}",
           "query=up", NULL);
    expect(f, "POST", "/api/v1/query", 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
           "{\"metric\":{\"job\":\"node\"},\"value\":[1700000000.500,\"1e+22\"]}]}}",
           "query=sum by (job) (big)", "time=1700000000.5", NULL);
    expect(f, "GET", "/api/v1/query", 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":"
           "[1700000000.123,\"0.0000001\"]}}",
           "query=1e-7", "time=2023-11-14T22:13:20.123Z", NULL);
    expect(f, "GET", "/api/v1/query", 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":"
           "[1700000000,\"a\\u003cb\"]}}",
           "query=\"a<b\"", NULL);
    expect(f, "GET", "/api/v1/query", 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}",
           "query=nothing", NULL);
}

static void test_query_errors(void **state)
{
    fixture_t *f = *state;
    expect(f, "GET", "/api/v1/query", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"query\\\": 1:4: parse error: unexpected end of input inside braces\"}",
           "query=up{", NULL);
    expect(f, "GET", "/api/v1/query", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"time\\\": Invalid time value for 'time': cannot parse \\\"now\\\" to a valid "
           "timestamp\"}",
           "query=up", "time=now", NULL);
    expect(f, "GET", "/api/v1/query", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"timeout\\\": cannot parse \\\"soon\\\" to a valid duration\"}",
           "query=up", "timeout=soon", NULL);
    expect(f, "GET", "/api/v1/query", 422,
           "{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"vector cannot contain "
           "metrics with the same labelset\"}",
           "query={__name__=~\"up|big\", job=\"node\"} * 0", NULL);
}

static void test_query_range(void **state)
{
    fixture_t *f = *state;
    expect(f, "GET", "/api/v1/query_range", 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
           "{\"metric\":{\"__name__\":\"up\",\"instance\":\"b:9090\",\"job\":\"prom\"},"
           "\"values\":[[1699999940,\"0\"],[1700000000,\"0\"]]}]}}",
           "query=up{job=\"prom\"}", "start=1699999940", "end=1700000000", "step=1m", NULL);
    expect(f, "GET", "/api/v1/query_range", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"end\\\": end timestamp must not be before start time\"}",
           "query=up", "start=10", "end=5", "step=1", NULL);
    expect(f, "GET", "/api/v1/query_range", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"step\\\": zero or negative query resolution step widths are not accepted. Try "
           "a positive integer\"}",
           "query=up", "start=1", "end=5", "step=0", NULL);
    expect(f, "GET", "/api/v1/query_range", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"exceeded maximum "
           "resolution of 11,000 points per timeseries. Try decreasing the query resolution "
           "(?step=XX)\"}",
           "query=up", "start=0", "end=11001", "step=1", NULL);
    expect(f, "GET", "/api/v1/query_range", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"start\\\": cannot parse \\\"\\\" to a valid timestamp\"}",
           "query=up", NULL);
    expect(f, "GET", "/api/v1/query_range", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"query\\\": invalid expression type \\\"range vector\\\" for range query, must "
           "be Scalar or instant Vector\"}",
           "query=up[5m]", "start=1", "end=5", "step=1", NULL);
}

/* ---- metadata endpoints --------------------------------------------------------------------- */

static void test_series_labels(void **state)
{
    fixture_t *f = *state;
    expect(f, "GET", "/api/v1/series", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"no match[] parameter "
           "provided\"}",
           NULL);
    expect(f, "POST", "/api/v1/series", 200,
           "{\"status\":\"success\",\"data\":["
           "{\"__name__\":\"big\",\"instance\":\"a:9100\",\"job\":\"node\"},"
           "{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"}]}",
           "match[]={job=\"node\"}", "match[]=big", NULL);
    expect(f, "GET", "/api/v1/series", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"match[]\\\": 1:1: parse error: vector selector must contain at least one "
           "non-empty matcher\"}",
           "match[]={job=~\".*\"}", NULL);
    expect(f, "GET", "/api/v1/labels", 200,
           "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\",\"job\"]}", NULL);
    expect(f, "GET", "/api/v1/label/job/values", 200,
           "{\"status\":\"success\",\"data\":[\"node\",\"prom\"]}", NULL);
    expect(f, "GET", "/api/v1/label/job/values", 200,
           "{\"status\":\"success\",\"data\":[\"node\"],\"warnings\":[\"results truncated due "
           "to limit\"]}",
           "limit=1", NULL);
    expect(f, "GET", "/api/v1/label/__name__/values", 200,
           "{\"status\":\"success\",\"data\":[\"up\"]}", "match[]={job=\"prom\"}", NULL);
    expect(f, "GET", "/api/v1/label/job/values", 200, "{\"status\":\"success\",\"data\":[]}",
           "start=0", "end=1", NULL);
    expect(f, "GET", "/api/v1/labels", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"limit\\\": limit must be non-negative\"}",
           "limit=-1", NULL);
}

static void test_label_name_prometheus2(void **state)
{
    fixture_t *f = *state;
    expect(f, "GET", "/api/v1/label/a.b/values", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid label name: "
           "\\\"a.b\\\"\"}",
           NULL);
    /* 2.42 has no limit parameter: it is ignored. */
    expect(f, "GET", "/api/v1/label/job/values", 200,
           "{\"status\":\"success\",\"data\":[\"node\",\"prom\"]}", "limit=1", NULL);
}

static void test_federate(void **state)
{
    fixture_t *f = *state;
    expect(f, "GET", "/federate", 200,
           "# TYPE big untyped\n"
           "big{instance=\"a:9100\",job=\"node\"} 1e+22 1700000000000\n"
           "# TYPE up untyped\n"
           "up{instance=\"a:9100\",job=\"node\"} 1 1700000000000\n"
           "up{instance=\"b:9090\",job=\"prom\"} 0 1700000000000\n",
           "match[]=up", "match[]={job=\"node\"}", NULL);
    expect(f, "GET", "/federate", 200, "", NULL);
}

static void test_status(void **state)
{
    fixture_t *f = *state;
    expect(f, "GET", "/api/v1/status/buildinfo", 200,
           "{\"status\":\"success\",\"data\":{\"version\":\"0.1.0\",\"revision\":\"abc\","
           "\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\"}}",
           NULL);
    expect(f, "GET", "/api/v1/status/config", 200,
           "{\"status\":\"success\",\"data\":{\"yaml\":\"global:\\n  scrape_interval: 1m\\n\"}}",
           NULL);
    expect(f, "GET", "/api/v1/status/flags", 200, "{\"status\":\"success\",\"data\":{}}", NULL);
    expect(f, "GET", "/api/v1/metadata", 200, "{\"status\":\"success\",\"data\":{}}", NULL);
    expect(f, "GET", "/api/v1/metadata", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"limit must be a "
           "number\"}",
           "limit=x", NULL);
    expect(f, "GET", "/api/v1/targets", 200,
           "{\"status\":\"success\",\"data\":{\"activeTargets\":[],\"droppedTargets\":[],"
           "\"droppedTargetCounts\":{}}}",
           NULL);
    expect(f, "GET", "/api/v1/status/tsdb", 200,
           "{\"status\":\"success\",\"data\":{\"headStats\":{\"numSeries\":3,\"numLabelPairs\":6,"
           "\"chunkCount\":3,\"minTime\":1699999700000,\"maxTime\":1700000000000},"
           "\"seriesCountByMetricName\":[{\"name\":\"up\",\"value\":2},{\"name\":\"big\","
           "\"value\":1}],"
           "\"labelValueCountByLabelName\":[{\"name\":\"__name__\",\"value\":2},{\"name\":"
           "\"instance\",\"value\":2},{\"name\":\"job\",\"value\":2}],"
           "\"memoryInBytesByLabelName\":[{\"name\":\"instance\",\"value\":18},{\"name\":"
           "\"job\",\"value\":12},{\"name\":\"__name__\",\"value\":7}],"
           "\"seriesCountByLabelValuePair\":[{\"name\":\"__name__=up\",\"value\":2},{\"name\":"
           "\"instance=a:9100\",\"value\":2},{\"name\":\"job=node\",\"value\":2},{\"name\":"
           "\"__name__=big\",\"value\":1},{\"name\":\"instance=b:9090\",\"value\":1},{\"name\":"
           "\"job=prom\",\"value\":1}]}}",
           NULL);
    expect(f, "GET", "/api/v1/status/tsdb", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"limit must be a "
           "positive number\"}",
           "limit=0", NULL);
    tw_buf_reset(&f->resp.body);
    assert_int_equal(tw_query_api_serve(f->api, "GET", "/api/v1/nope", NULL, 0, &f->resp),
                     TW_ENOTFOUND);
    assert_int_equal(tw_query_api_serve(f->api, "POST", "/federate", NULL, 0, &f->resp),
                     TW_ENOTFOUND);
}

static void test_targets_prometheus2(void **state)
{
    fixture_t *f = *state;
    expect(f, "GET", "/api/v1/targets", 200,
           "{\"status\":\"success\",\"data\":{\"activeTargets\":[],\"droppedTargets\":[]}}", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_value),
        cmocka_unit_test(test_format_g),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test_setup_teardown(test_query_instant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_series_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_name_prometheus2, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_federate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_targets_prometheus2, setup2, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
