/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_expfmt_write.c - the text 0.0.4 and OpenMetrics 1.0.0 writers: whole expected documents
 * for every metric type, escaping, special floats, timestamps, the OpenMetrics naming rules,
 * merging across sets, limits; the float formatting against real client_golang and
 * prometheus_client output; and promtool's verdict on what we write.
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
#include <sys/wait.h>
#include <unistd.h>

#include "collector/expfmt/expfmt.h"
#include "collector/expfmt/expfmt_int.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/metric_set.h"

#define NOTS TW_NO_TIMESTAMP

static void add0(tw_mset_t *s, tw_mfamily_t *f, const char *suffix, double v, int64_t ts)
{
    tw_mset_add(s, f, suffix, NULL, 0, v, ts);
}

static void add1(tw_mset_t *s, tw_mfamily_t *f, const char *suffix, const char *n1, const char *v1,
                 double v)
{
    tw_label_t l[1] = {{n1, v1}};
    tw_mset_add(s, f, suffix, l, 1, v, NOTS);
}

static void add2(tw_mset_t *s, tw_mfamily_t *f, const char *suffix, const char *n1, const char *v1,
                 const char *n2, const char *v2, double v, int64_t ts)
{
    tw_label_t l[2] = {{n1, v1}, {n2, v2}};
    tw_mset_add(s, f, suffix, l, 2, v, ts);
}

/* One family of every type, created in an unsorted order. */
static tw_mset_t *every_type_set(void)
{
    tw_mset_t *s = tw_mset_new();
    tw_mfamily_t *f;

    f = tw_mset_family(s, "temperature_celsius", TW_MTYPE_GAUGE, "Temp.", "celsius");
    add1(s, f, NULL, "room", "a\"b\\c\nd", 21.5);
    add0(s, f, NULL, NAN, NOTS);
    add0(s, f, NULL, INFINITY, NOTS);
    add0(s, f, NULL, -INFINITY, NOTS);

    f = tw_mset_family(s, "http_requests_total", TW_MTYPE_COUNTER,
                       "Requests.\nSecond \\ line \"q\"", NULL);
    add2(s, f, NULL, "code", "200", "method", "GET", 42, NOTS);
    add2(s, f, "_created", "code", "200", "method", "GET", 1.7e9, NOTS);
    add2(s, f, NULL, "code", "500", "method", "POST", 3, 1700000000123);

    f = tw_mset_family(s, "legacy_untyped", TW_MTYPE_UNTYPED, "", NULL);
    add0(s, f, NULL, 1e-05, NOTS);

    f = tw_mset_family(s, "container_memory_failcnt", TW_MTYPE_COUNTER, "Failures.", NULL);
    add0(s, f, NULL, 3, NOTS);
    add0(s, f, "_created", 1.7e9, NOTS);

    f = tw_mset_family(s, "rpc_duration_seconds", TW_MTYPE_SUMMARY, "RPC latency.", "seconds");
    add1(s, f, NULL, "quantile", "0.5", 0.05);
    add1(s, f, NULL, "quantile", "1", 0.2);
    add0(s, f, "_sum", 17.5, NOTS);
    add0(s, f, "_count", 2693, NOTS);

    f = tw_mset_family(s, "req_latency_seconds", TW_MTYPE_HISTOGRAM, "Latency.", "seconds");
    add1(s, f, "_bucket", "le", "0.1", 2);
    add1(s, f, "_bucket", "le", "1", 5);
    add1(s, f, "_bucket", "le", "+Inf", 6);
    add0(s, f, "_sum", 3.25, NOTS);
    add0(s, f, "_count", 6, NOTS);
    add0(s, f, "_created", 1700000000.5, NOTS);

    f = tw_mset_family(s, "build_info", TW_MTYPE_INFO, "Build information.", NULL);
    add1(s, f, NULL, "version", "1.0", 1);

    f = tw_mset_family(s, "scaler_state", TW_MTYPE_STATESET, "State.", NULL);
    add1(s, f, NULL, "scaler_state", "idle", 0);
    add1(s, f, NULL, "scaler_state", "busy", 1);

    f = tw_mset_family(s, "queue_size_bytes", TW_MTYPE_GAUGE_HISTOGRAM, "Queue sizes.", "bytes");
    add1(s, f, "_bucket", "le", "1024", 3);
    add1(s, f, "_bucket", "le", "+Inf", 4);
    add0(s, f, "_gcount", 4, NOTS);
    add0(s, f, "_gsum", 5000, NOTS);
    return s;
}

static const char want_text[] =
    "# HELP build_info Build information.\n"
    "# TYPE build_info gauge\n"
    "build_info{version=\"1.0\"} 1\n"
    "# HELP container_memory_failcnt Failures.\n"
    "# TYPE container_memory_failcnt counter\n"
    "container_memory_failcnt 3\n"
    "# HELP http_requests_total Requests.\\nSecond \\\\ line \"q\"\n"
    "# TYPE http_requests_total counter\n"
    "http_requests_total{code=\"200\",method=\"GET\"} 42\n"
    "http_requests_total{code=\"500\",method=\"POST\"} 3 1700000000123\n"
    "# TYPE legacy_untyped untyped\n"
    "legacy_untyped 1e-05\n"
    "# HELP queue_size_bytes Queue sizes.\n"
    "# TYPE queue_size_bytes histogram\n"
    "queue_size_bytes_bucket{le=\"1024\"} 3\n"
    "queue_size_bytes_bucket{le=\"+Inf\"} 4\n"
    "queue_size_bytes_count 4\n"
    "queue_size_bytes_sum 5000\n"
    "# HELP req_latency_seconds Latency.\n"
    "# TYPE req_latency_seconds histogram\n"
    "req_latency_seconds_bucket{le=\"0.1\"} 2\n"
    "req_latency_seconds_bucket{le=\"1\"} 5\n"
    "req_latency_seconds_bucket{le=\"+Inf\"} 6\n"
    "req_latency_seconds_sum 3.25\n"
    "req_latency_seconds_count 6\n"
    "# HELP rpc_duration_seconds RPC latency.\n"
    "# TYPE rpc_duration_seconds summary\n"
    "rpc_duration_seconds{quantile=\"0.5\"} 0.05\n"
    "rpc_duration_seconds{quantile=\"1\"} 0.2\n"
    "rpc_duration_seconds_sum 17.5\n"
    "rpc_duration_seconds_count 2693\n"
    "# HELP scaler_state State.\n"
    "# TYPE scaler_state gauge\n"
    "scaler_state{scaler_state=\"idle\"} 0\n"
    "scaler_state{scaler_state=\"busy\"} 1\n"
    "# HELP temperature_celsius Temp.\n"
    "# TYPE temperature_celsius gauge\n"
    "temperature_celsius{room=\"a\\\"b\\\\c\\nd\"} 21.5\n"
    "temperature_celsius NaN\n"
    "temperature_celsius +Inf\n"
    "temperature_celsius -Inf\n";

static const char want_om[] =
    "# HELP build Build information.\n"
    "# TYPE build info\n"
    "build_info{version=\"1.0\"} 1.0\n"
    "# HELP container_memory_failcnt Failures.\n"
    "# TYPE container_memory_failcnt unknown\n"
    "container_memory_failcnt 3.0\n"
    "# HELP http_requests Requests.\\nSecond \\\\ line \\\"q\\\"\n"
    "# TYPE http_requests counter\n"
    "http_requests_total{code=\"200\",method=\"GET\"} 42.0\n"
    "http_requests_created{code=\"200\",method=\"GET\"} 1.7e+09\n"
    "http_requests_total{code=\"500\",method=\"POST\"} 3.0 1.700000000123e+09\n"
    "# TYPE legacy_untyped unknown\n"
    "legacy_untyped 1e-05\n"
    "# HELP queue_size_bytes Queue sizes.\n"
    "# TYPE queue_size_bytes gaugehistogram\n"
    "# UNIT queue_size_bytes bytes\n"
    "queue_size_bytes_bucket{le=\"1024.0\"} 3\n"
    "queue_size_bytes_bucket{le=\"+Inf\"} 4\n"
    "queue_size_bytes_gcount 4\n"
    "queue_size_bytes_gsum 5000.0\n"
    "# HELP req_latency_seconds Latency.\n"
    "# TYPE req_latency_seconds histogram\n"
    "# UNIT req_latency_seconds seconds\n"
    "req_latency_seconds_bucket{le=\"0.1\"} 2\n"
    "req_latency_seconds_bucket{le=\"1.0\"} 5\n"
    "req_latency_seconds_bucket{le=\"+Inf\"} 6\n"
    "req_latency_seconds_sum 3.25\n"
    "req_latency_seconds_count 6\n"
    "req_latency_seconds_created 1.7000000005e+09\n"
    "# HELP rpc_duration_seconds RPC latency.\n"
    "# TYPE rpc_duration_seconds summary\n"
    "# UNIT rpc_duration_seconds seconds\n"
    "rpc_duration_seconds{quantile=\"0.5\"} 0.05\n"
    "rpc_duration_seconds{quantile=\"1.0\"} 0.2\n"
    "rpc_duration_seconds_sum 17.5\n"
    "rpc_duration_seconds_count 2693\n"
    "# HELP scaler_state State.\n"
    "# TYPE scaler_state stateset\n"
    "scaler_state{scaler_state=\"idle\"} 0.0\n"
    "scaler_state{scaler_state=\"busy\"} 1.0\n"
    "# HELP temperature_celsius Temp.\n"
    "# TYPE temperature_celsius gauge\n"
    "# UNIT temperature_celsius celsius\n"
    "temperature_celsius{room=\"a\\\"b\\\\c\\nd\"} 21.5\n"
    "temperature_celsius NaN\n"
    "temperature_celsius +Inf\n"
    "temperature_celsius -Inf\n"
    "# EOF\n";

static void check_write(const tw_mset_t *const *sets, size_t n, tw_expfmt_format_t fmt,
                        const char *want)
{
    tw_buf_t b;
    tw_error_t err;
    tw_buf_init(&b, 0);
    assert_int_equal(tw_expfmt_write(&b, fmt, sets, n, &err), 0);
    assert_non_null(b.data);
    if (strcmp(b.data, want) != 0) {
        FILE *g = fopen("/tmp/tw_expfmt_got.txt", "w"), *w = fopen("/tmp/tw_expfmt_want.txt", "w");
        if (g != NULL && w != NULL) {
            fputs(b.data, g);
            fputs(want, w);
        }
        if (g != NULL) {
            fclose(g);
        }
        if (w != NULL) {
            fclose(w);
        }
        fail_msg("output differs: diff /tmp/tw_expfmt_want.txt /tmp/tw_expfmt_got.txt");
    }
    assert_int_equal(b.len, strlen(want));
    tw_buf_fini(&b);
}

static void test_text_every_type(void **state)
{
    (void)state;
    tw_mset_t *s = every_type_set();
    const tw_mset_t *sets[] = {s};
    check_write(sets, 1, TW_EXPFMT_TEXT_0_0_4, want_text);
    tw_mset_free(s);
}

static void test_openmetrics_every_type(void **state)
{
    (void)state;
    tw_mset_t *s = every_type_set();
    const tw_mset_t *sets[] = {s};
    check_write(sets, 1, TW_EXPFMT_OPENMETRICS_1_0_0, want_om);
    tw_mset_free(s);
}

static void test_empty(void **state)
{
    (void)state;
    tw_mset_t *s = tw_mset_new();
    const tw_mset_t *sets[] = {s, NULL};
    tw_buf_t b;
    tw_buf_init(&b, 0);
    assert_int_equal(tw_expfmt_write(&b, TW_EXPFMT_TEXT_0_0_4, sets, 2, NULL), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(tw_expfmt_write(&b, TW_EXPFMT_OPENMETRICS_1_0_0, sets, 2, NULL), 0);
    assert_string_equal(b.data, "# EOF\n");
    assert_int_equal(tw_expfmt_write(&b, TW_EXPFMT_TEXT_0_0_4, NULL, 0, NULL), 0);
    tw_buf_fini(&b);
    tw_mset_free(s);
}

/* UNIT only when the OpenMetrics family name ends in "_<unit>"; counters lose "_total" first. */
static void test_openmetrics_unit_rule(void **state)
{
    (void)state;
    tw_mset_t *s = tw_mset_new();
    tw_mfamily_t *f;
    f = tw_mset_family(s, "process_cpu_seconds_total", TW_MTYPE_COUNTER, "CPU.", "seconds");
    add0(s, f, NULL, 12.5, NOTS);
    f = tw_mset_family(s, "memory_usage", TW_MTYPE_GAUGE, "Mem.", "bytes");
    add0(s, f, NULL, 1048576, NOTS);
    f = tw_mset_family(s, "xbytes", TW_MTYPE_GAUGE, "No separator.", "bytes");
    add0(s, f, NULL, 0, NOTS);
    f = tw_mset_family(s, "bytes", TW_MTYPE_GAUGE, "Unit only.", "bytes");
    add0(s, f, NULL, -1, NOTS);
    const tw_mset_t *sets[] = {s};
    check_write(sets, 1, TW_EXPFMT_OPENMETRICS_1_0_0,
                "# HELP bytes Unit only.\n"
                "# TYPE bytes gauge\n"
                "bytes -1.0\n"
                "# HELP memory_usage Mem.\n"
                "# TYPE memory_usage gauge\n"
                "memory_usage 1.048576e+06\n"
                "# HELP process_cpu_seconds CPU.\n"
                "# TYPE process_cpu_seconds counter\n"
                "# UNIT process_cpu_seconds seconds\n"
                "process_cpu_seconds_total 12.5\n"
                "# HELP xbytes No separator.\n"
                "# TYPE xbytes gauge\n"
                "xbytes 0.0\n"
                "# EOF\n");
    check_write(sets, 1, TW_EXPFMT_TEXT_0_0_4,
                "# HELP bytes Unit only.\n"
                "# TYPE bytes gauge\n"
                "bytes -1\n"
                "# HELP memory_usage Mem.\n"
                "# TYPE memory_usage gauge\n"
                "memory_usage 1.048576e+06\n"
                "# HELP process_cpu_seconds_total CPU.\n"
                "# TYPE process_cpu_seconds_total counter\n"
                "process_cpu_seconds_total 12.5\n"
                "# HELP xbytes No separator.\n"
                "# TYPE xbytes gauge\n"
                "xbytes 0\n");
    tw_mset_free(s);
}

/* Same family in two sets: one family, samples of the first set then the second's. */
static void test_merge_across_sets(void **state)
{
    (void)state;
    tw_mset_t *a = tw_mset_new(), *b = tw_mset_new();
    tw_mfamily_t *f;
    f = tw_mset_family(b, "up", TW_MTYPE_GAUGE, "From b.", NULL);
    add1(b, f, NULL, "job", "b", 0);
    f = tw_mset_family(a, "zeta", TW_MTYPE_GAUGE, "Last.", NULL);
    add0(a, f, NULL, 0.25, NOTS);
    f = tw_mset_family(a, "up", TW_MTYPE_GAUGE, "From a.", NULL);
    add1(a, f, NULL, "job", "a1", 1);
    add1(a, f, NULL, "job", "a2", 1);
    f = tw_mset_family(b, "alpha_total", TW_MTYPE_COUNTER, "First.", NULL);
    add0(b, f, NULL, 7, NOTS);
    const tw_mset_t *sets[] = {a, b};
    check_write(sets, 2, TW_EXPFMT_TEXT_0_0_4,
                "# HELP alpha_total First.\n"
                "# TYPE alpha_total counter\n"
                "alpha_total 7\n"
                "# HELP up From a.\n"
                "# TYPE up gauge\n"
                "up{job=\"a1\"} 1\n"
                "up{job=\"a2\"} 1\n"
                "up{job=\"b\"} 0\n"
                "# HELP zeta Last.\n"
                "# TYPE zeta gauge\n"
                "zeta 0.25\n");
    /* The other order puts b's samples first and b's HELP on top. */
    const tw_mset_t *rev[] = {b, a};
    check_write(rev, 2, TW_EXPFMT_OPENMETRICS_1_0_0,
                "# HELP alpha First.\n"
                "# TYPE alpha counter\n"
                "alpha_total 7.0\n"
                "# HELP up From b.\n"
                "# TYPE up gauge\n"
                "up{job=\"b\"} 0.0\n"
                "up{job=\"a1\"} 1.0\n"
                "up{job=\"a2\"} 1.0\n"
                "# HELP zeta Last.\n"
                "# TYPE zeta gauge\n"
                "zeta 0.25\n"
                "# EOF\n");
    tw_mset_free(a);
    tw_mset_free(b);
}

static void test_type_conflict(void **state)
{
    (void)state;
    tw_mset_t *a = tw_mset_new(), *b = tw_mset_new();
    tw_mfamily_t *f = tw_mset_family(a, "jobs", TW_MTYPE_GAUGE, "A.", NULL);
    add0(a, f, NULL, 1, NOTS);
    f = tw_mset_family(b, "jobs", TW_MTYPE_COUNTER, "B.", NULL);
    add0(b, f, NULL, 2, NOTS);
    const tw_mset_t *sets[] = {a, b};
    tw_buf_t out;
    tw_error_t err;
    tw_buf_init(&out, 0);
    assert_int_equal(tw_expfmt_write(&out, TW_EXPFMT_TEXT_0_0_4, sets, 2, &err), TW_EINVAL);
    assert_int_equal(err.code, TW_EINVAL);
    assert_string_equal(err.msg,
                        "metric family jobs has type gauge in one metric set and counter in "
                        "another");
    assert_int_equal(out.len, 0);
    tw_buf_fini(&out);
    tw_mset_free(a);
    tw_mset_free(b);
}

static void test_limit(void **state)
{
    (void)state;
    tw_mset_t *s = every_type_set();
    const tw_mset_t *sets[] = {s};
    tw_buf_t b;
    tw_error_t err;
    /* Exactly enough fits; one byte less does not. */
    tw_buf_init(&b, sizeof(want_text) - 1);
    assert_int_equal(tw_expfmt_write(&b, TW_EXPFMT_TEXT_0_0_4, sets, 1, &err), 0);
    assert_string_equal(b.data, want_text);
    tw_buf_fini(&b);
    tw_buf_init(&b, sizeof(want_text) - 2);
    assert_int_equal(tw_expfmt_write(&b, TW_EXPFMT_TEXT_0_0_4, sets, 1, &err), TW_ELIMIT);
    assert_int_equal(err.code, TW_ELIMIT);
    char msg[64];
    snprintf(msg, sizeof(msg), "exposition larger than %zu bytes", sizeof(want_text) - 2);
    assert_string_equal(err.msg, msg);
    tw_buf_fini(&b);
    tw_buf_init(&b, sizeof(want_om) - 2);
    assert_int_equal(tw_expfmt_write(&b, TW_EXPFMT_OPENMETRICS_1_0_0, sets, 1, NULL), TW_ELIMIT);
    tw_buf_fini(&b);
    tw_mset_free(s);
}

/* The first family of the captured Prometheus 2.42 /metrics, rebuilt: byte-identical. */
static void test_matches_client_golang(void **state)
{
    (void)state;
    tw_mset_t *s = tw_mset_new();
    tw_mfamily_t *f =
        tw_mset_family(s, "go_gc_duration_seconds", TW_MTYPE_SUMMARY,
                       "A summary of the pause duration of garbage collection cycles.", "seconds");
    add1(s, f, NULL, "quantile", "0", 6.8853e-05);
    add1(s, f, NULL, "quantile", "0.25", 8.9864e-05);
    add1(s, f, NULL, "quantile", "0.5", 0.000110215);
    add1(s, f, NULL, "quantile", "0.75", 0.000122242);
    add1(s, f, NULL, "quantile", "1", 0.000222132);
    add0(s, f, "_sum", 0.000714526, NOTS);
    add0(s, f, "_count", 6, NOTS);
    f = tw_mset_family(s, "go_memstats_alloc_bytes", TW_MTYPE_GAUGE,
                       "Number of bytes allocated and still in use.", "bytes");
    add0(s, f, NULL, 1.2035008e+07, NOTS);
    f = tw_mset_family(s, "go_memstats_frees_total", TW_MTYPE_COUNTER, "Total number of frees.",
                       NULL);
    add0(s, f, NULL, 110530, NOTS);

    tw_buf_t fixture;
    tw_buf_init(&fixture, 1 << 20);
    assert_int_equal(tw_buf_read_file(&fixture,
                                      TW_SHARED "/conformance/fixtures/exposition/"
                                                "prometheus-metrics.text.txt",
                                      NULL),
                     0);
    const char *summary = strstr(fixture.data, "# HELP go_gc_duration_seconds ");
    const char *alloc = strstr(fixture.data, "# HELP go_memstats_alloc_bytes ");
    const char *frees = strstr(fixture.data, "# HELP go_memstats_frees_total ");
    assert_non_null(summary);
    assert_non_null(alloc);
    assert_non_null(frees);
    const char *summary_end = strstr(summary, "# HELP go_goroutines");
    const char *alloc_end = strstr(alloc, "# HELP go_memstats_alloc_bytes_total");
    const char *frees_end = strstr(frees, "# HELP go_memstats_gc_sys_bytes");
    assert_non_null(summary_end);
    assert_non_null(alloc_end);
    assert_non_null(frees_end);
    tw_buf_t want;
    tw_buf_init(&want, 0);
    tw_buf_append(&want, summary, (size_t)(summary_end - summary));
    tw_buf_append(&want, alloc, (size_t)(alloc_end - alloc));
    tw_buf_append(&want, frees, (size_t)(frees_end - frees));
    const tw_mset_t *sets[] = {s};
    check_write(sets, 1, TW_EXPFMT_TEXT_0_0_4, want.data);
    tw_buf_fini(&want);
    tw_buf_fini(&fixture);
    tw_mset_free(s);
}

/*
 * Every sample value in a real payload, read back and printed again, gives the same bytes:
 * client_golang's text output for the text formatter, prometheus_client's OpenMetrics output
 * for the OpenMetrics one.
 */
static void check_fixture_values(const char *path, int om)
{
    tw_buf_t b;
    tw_buf_init(&b, 1 << 22);
    assert_int_equal(tw_buf_read_file(&b, path, NULL), 0);
    size_t checked = 0;
    char *next = NULL;
    for (char *line = b.data; line != NULL && *line != '\0'; line = next) {
        char *nl = strchr(line, '\n');
        next = nl != NULL ? nl + 1 : NULL;
        if (nl != NULL) {
            *nl = '\0';
        }
        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        char *ex = strstr(line, " # ");
        if (ex != NULL) {
            *ex = '\0'; /* exemplar */
        }
        char *close = strrchr(line, '}');
        char *val = strchr(close != NULL ? close : line, ' ');
        assert_non_null(val);
        val++;
        char *sp = strchr(val, ' ');
        if (sp != NULL) {
            *sp = '\0'; /* timestamp */
        }
        double v = strtod(val, NULL);
        char got[TW_EXPFMT_FLOAT_MAX];
        if (om) {
            tw_expfmt_format_om_float(got, v);
        } else {
            tw_expfmt_format_float(got, v);
        }
        if (strcmp(got, val) != 0) {
            fail_msg("%s: value %s printed as %s", path, val, got);
        }
        checked++;
    }
    assert_true(checked > 20);
    tw_buf_fini(&b);
}

static void test_float_format_fixtures(void **state)
{
    (void)state;
    check_fixture_values(TW_SHARED "/conformance/fixtures/exposition/prometheus-metrics.text.txt",
                         0);
    check_fixture_values(TW_SHARED "/conformance/fixtures/exposition/alertmanager-metrics.text.txt",
                         0);
    check_fixture_values(
        TW_SHARED "/conformance/fixtures/exposition/pyclient-metrics.openmetrics.txt", 1);
}

static void check_float(double v, const char *text, const char *om)
{
    char got[TW_EXPFMT_FLOAT_MAX];
    assert_int_equal(tw_expfmt_format_float(got, v), strlen(text));
    assert_string_equal(got, text);
    assert_int_equal(tw_expfmt_format_om_float(got, v), strlen(om));
    assert_string_equal(got, om);
}

static void test_float_format(void **state)
{
    (void)state;
    check_float(0, "0", "0.0");
    check_float(-0.0, "0", "0.0");
    check_float(1, "1", "1.0");
    check_float(-1, "-1", "-1.0");
    check_float(110826, "110826", "110826.0");
    check_float(999999, "999999", "999999.0");
    check_float(1e6, "1e+06", "1e+06");
    check_float(1234567.5, "1.2345675e+06", "1.2345675e+06");
    check_float(123456.7, "123456.7", "123456.7");
    check_float(0.0001, "0.0001", "0.0001");
    check_float(0.00001, "1e-05", "1e-05");
    check_float(0.1, "0.1", "0.1");
    check_float(0.30000000000000004, "0.30000000000000004", "0.30000000000000004");
    check_float(1e300, "1e+300", "1e+300");
    check_float(-2.5e-300, "-2.5e-300", "-2.5e-300");
    check_float(5e-324, "5e-324", "5e-324");
    check_float(1.7976931348623157e308, "1.7976931348623157e+308", "1.7976931348623157e+308");
    check_float(NAN, "NaN", "NaN");
    check_float(INFINITY, "+Inf", "+Inf");
    check_float(-INFINITY, "-Inf", "-Inf");
}

/* promtool (Prometheus 2.42) finds nothing to complain about in a well-named set. */
static void test_promtool_check_metrics(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        skip();
    }
    tw_mset_t *s = tw_mset_new();
    tw_mfamily_t *f;
    f = tw_mset_family(s, "tidewatch_scrapes_total", TW_MTYPE_COUNTER, "Scrapes done.", NULL);
    add2(s, f, NULL, "job", "node", "result", "ok", 12, NOTS);
    f = tw_mset_family(s, "tidewatch_memory_bytes", TW_MTYPE_GAUGE, "Memory in \"use\".\nNow.",
                       "bytes");
    add1(s, f, NULL, "kind", "heap\\\"x\"", 1.5e9);
    f = tw_mset_family(s, "tidewatch_request_duration_seconds", TW_MTYPE_HISTOGRAM,
                       "Request latency.", "seconds");
    add1(s, f, "_bucket", "le", "0.1", 1);
    add1(s, f, "_bucket", "le", "+Inf", 2);
    add0(s, f, "_sum", 0.35, NOTS);
    add0(s, f, "_count", 2, NOTS);
    f = tw_mset_family(s, "tidewatch_build_info", TW_MTYPE_INFO, "Build.", NULL);
    add1(s, f, NULL, "version", "0.1.0", 1);

    char path[] = "/tmp/tw_test_promtool_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    tw_buf_t b;
    tw_buf_init(&b, 0);
    const tw_mset_t *sets[] = {s};
    assert_int_equal(tw_expfmt_write(&b, TW_EXPFMT_TEXT_0_0_4, sets, 1, NULL), 0);
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);

    char cmd[256];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(path);
    if (n != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("promtool check metrics said (status %d): %s\ninput:\n%s", status, out, b.data);
    }

    /* And it does complain about a badly named counter: the check above can fail. */
    tw_mset_reset(s);
    f = tw_mset_family(s, "tidewatch_scrapes", TW_MTYPE_COUNTER, "No suffix.", NULL);
    add0(s, f, NULL, 1, NOTS);
    tw_buf_reset(&b);
    assert_int_equal(tw_expfmt_write(&b, TW_EXPFMT_TEXT_0_0_4, sets, 1, NULL), 0);
    memcpy(path + sizeof(path) - 7, "XXXXXX", 6);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    unlink(path);
    assert_non_null(strstr(out, "counter metrics should have \"_total\" suffix"));

    tw_buf_fini(&b);
    tw_mset_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_every_type),
        cmocka_unit_test(test_openmetrics_every_type),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_openmetrics_unit_rule),
        cmocka_unit_test(test_merge_across_sets),
        cmocka_unit_test(test_type_conflict),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_matches_client_golang),
        cmocka_unit_test(test_float_format_fixtures),
        cmocka_unit_test(test_float_format),
        cmocka_unit_test(test_promtool_check_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
