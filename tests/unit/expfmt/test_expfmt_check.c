/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_expfmt_check.c - `check metrics`: our lint findings against the real `promtool check
 * metrics` (Prometheus 2.42, run here when installed) on the captured payloads and on crafted
 * inputs that trigger every promlint rule; exact expected findings for a fixed input; parse
 * errors with positions, including TextParser's extra rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector/expfmt/expfmt.h"
#include "collector/expfmt/expfmt_int.h"
#include "common/buf.h"
#include "common/error.h"

/* Runs our check; returns what it printed (caller frees) and the return code. */
static char *run_ours(const char *doc, size_t len, int *rc)
{
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    tw_error_t err;
    *rc = tw_expfmt_check_metrics(doc, len, TW_EXPFMT_TEXT_0_0_4, f, &err);
    fclose(f);
    return out;
}

/* Runs promtool check metrics on doc; its findings go to stderr. NULL when not installed. */
static char *run_promtool(const char *doc, size_t len, int *status)
{
    if (access("/usr/bin/promtool", X_OK) != 0) {
        return NULL;
    }
    char in[] = "/tmp/tw_check_in_XXXXXX";
    int fd = mkstemp(in);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, doc, len), (ssize_t)len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", in);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    tw_buf_t b;
    tw_buf_init(&b, 1 << 22);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        assert_int_equal(tw_buf_append(&b, chunk, n), 0);
    }
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    unlink(in);
    size_t l;
    return tw_buf_steal(&b, &l);
}

static void same_as_promtool(const char *doc, size_t len, const char *what)
{
    int rc, st;
    char *ours = run_ours(doc, len, &rc);
    char *theirs = run_promtool(doc, len, &st);
    if (theirs == NULL) {
        free(ours);
        skip();
    }
    if (st == 0 || st == 3) {
        assert_true(rc >= 0);
        if (strcmp(ours, theirs) != 0) {
            fail_msg("%s: findings differ\n--- promtool\n%s--- ours\n%s", what, theirs, ours);
        }
        assert_int_equal(st == 3, rc > 0);
    } else {
        /* promtool: a parse error (status 1); ours must refuse too. */
        if (rc >= 0) {
            fail_msg("%s: promtool refused (%s) but we accepted", what, theirs);
        }
    }
    free(ours);
    free(theirs);
}

static void test_fixtures_like_promtool(void **state)
{
    (void)state;
    static const char *const files[] = {
        "/conformance/fixtures/exposition/alertmanager-metrics.text.txt",
        "/conformance/fixtures/exposition/prometheus-metrics.text.txt",
        "/conformance/fixtures/exposition/pyclient-metrics.text.txt",
        "/conformance/openmetrics/prometheus-textparse/alltypes.237mfs.prom.txt",
        "/conformance/openmetrics/prometheus-textparse/alltypes.237mfs.nometa.prom.txt",
        "/conformance/openmetrics/prometheus-promtool/metrics-test.prom",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s%s", TW_SHARED, files[i]);
        tw_buf_t b;
        tw_buf_init(&b, 1 << 24);
        assert_int_equal(tw_buf_read_file(&b, path, NULL), 0);
        same_as_promtool(b.data, b.len, files[i]);
        tw_buf_fini(&b);
    }
}

static const char crafted_all_rules[] =
    "# HELP http_requests A counter.\n"
    "# TYPE http_requests counter\n"
    "http_requests{fooBar=\"1\"} 1\n"
    "http_requests{fooBar=\"2\"} 1\n"
    "# HELP latency_milliseconds x\n"
    "# TYPE latency_milliseconds gauge\n"
    "latency_milliseconds 1\n"
    "# TYPE size_kilobytes_total gauge\n"
    "size_kilobytes_total{le=\"1\",quantile=\"0.5\"} 1\n"
    "# HELP a:b_ms x\n"
    "# TYPE a:b_ms untyped\n"
    "a:b_ms 1\n"
    "# HELP x_count x\n# TYPE x_count gauge\nx_count 1\n"
    "# HELP x_sum x\n# TYPE x_sum counter\nx_sum 1\n"
    "# HELP y_bucket x\n# TYPE y_bucket summary\ny_bucket{quantile=\"0.5\"} 1\n"
    "# HELP req_gauge_histogram x\n# TYPE req_gauge_histogram gauge\nreq_gauge_histogram 1\n"
    "# HELP temp_fahrenheit x\n# TYPE temp_fahrenheit gauge\ntemp_fahrenheit 1\n"
    "# HELP mem_mibibytes_total x\n# TYPE mem_mibibytes_total counter\nmem_mibibytes_total 1\n"
    "# HELP dur_s_sec_summary x\n# TYPE dur_s_sec_summary summary\n"
    "dur_s_sec_summary_sum 1\ndur_s_sec_summary_count 1\n"
    "# HELP k_x x\n# TYPE k_x summary\n"
    "k_x{fooBar=\"a\",quantile=\"0.5\"} 1\nk_x{fooBar=\"a\",quantile=\"0.9\"} 1\n"
    "k_x_sum{fooBar=\"a\"} 1\nk_x{fooBar=\"b\",quantile=\"0.9\"} 1\n"
    "# HELP only_meta_seconds_total x\n# TYPE only_meta_seconds_total gauge\n"
    "no_help_metric 3\n";

static void test_crafted_exact(void **state)
{
    (void)state;
    int rc;
    char *ours = run_ours(crafted_all_rules, strlen(crafted_all_rules), &rc);
    const char *want =
        "a:b_ms metric names should not contain ':'\n"
        "a:b_ms metric names should not contain abbreviated units\n"
        "dur_s_sec_summary metric name should not include type 'summary'\n"
        "dur_s_sec_summary metric names should not contain abbreviated units\n"
        "dur_s_sec_summary metric names should not contain abbreviated units\n"
        "http_requests counter metrics should have \"_total\" suffix\n"
        "http_requests label names should be written in 'snake_case' not 'camelCase'\n"
        "http_requests label names should be written in 'snake_case' not 'camelCase'\n"
        "k_x label names should be written in 'snake_case' not 'camelCase'\n"
        "k_x label names should be written in 'snake_case' not 'camelCase'\n"
        "latency_milliseconds use base unit \"seconds\" instead of \"milliseconds\"\n"
        "mem_mibibytes_total use base unit \"bytes\" instead of \"mibibytes\"\n"
        "no_help_metric no help text\n"
        "req_gauge_histogram metric name should not include type 'gauge'\n"
        "req_gauge_histogram metric name should not include type 'gauge_histogram'\n"
        "req_gauge_histogram metric name should not include type 'histogram'\n"
        "size_kilobytes_total no help text\n"
        "size_kilobytes_total non-counter metrics should not have \"_total\" suffix\n"
        "size_kilobytes_total non-histogram metrics should not have \"le\" label\n"
        "size_kilobytes_total non-summary metrics should not have \"quantile\" label\n"
        "size_kilobytes_total use base unit \"bytes\" instead of \"kilobytes\"\n"
        "temp_fahrenheit use base unit \"celsius\" instead of \"fahrenheit\"\n"
        "x_count non-histogram and non-summary metrics should not have \"_count\" suffix\n"
        "x_sum counter metrics should have \"_total\" suffix\n"
        "x_sum non-histogram and non-summary metrics should not have \"_sum\" suffix\n"
        "y_bucket non-histogram metrics should not have \"_bucket\" suffix\n";
    assert_string_equal(ours, want);
    assert_int_equal(rc, 26);
    free(ours);
}

static void test_crafted_like_promtool(void **state)
{
    (void)state;
    static const char *const docs[] = {
        crafted_all_rules,
        "# HELP a x\n# HELP a y\na 1\n",
        "a 1\n# TYPE a gauge\n",
        "# HELP a x\na{b=\"\\q\"} 1\n",
        "# HELP a \\q\na 1\n",
        "a{b=\"1\",b=\"2\"} 1\n",
        "# HELP a x\na{b=\"1\",} 1 -5\n",
        "# HELP g_kibibytes x\ng_kibibytes 1\n# HELP a_weeks x\na_weeks 1\n",
        "# HELP j_x_total x\n# TYPE j_x_total histogram\nj_x_total_bucket{le=\"+Inf\",zZ=\"1\"} 1\n"
        "j_x_total_count{zZ=\"1\"} 1\nj_x_total_sum{zZ=\"1\"} 1\n",
        "# HELP fooMs x\n# TYPE fooMs counter\nfooMs{aB=\"1\"} 1\n",
        "",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        same_as_promtool(docs[i], strlen(docs[i]), docs[i]);
    }
}

static void test_errors(void **state)
{
    (void)state;
    tw_error_t err;
    const char *d1 = "# HELP a x\n# HELP a y\na 1\n";
    assert_int_equal(tw_expfmt_check_metrics(d1, strlen(d1), TW_EXPFMT_TEXT_0_0_4, NULL, &err),
                     TW_EPARSE);
    assert_int_equal(err.line, 2);
    assert_string_equal(err.msg, "second HELP line for metric name \"a\"");
    const char *d2 = "# HELP a x\na{b=\"x\\qy\"} 1\n";
    assert_int_equal(tw_expfmt_check_metrics(d2, strlen(d2), TW_EXPFMT_TEXT_0_0_4, NULL, &err),
                     TW_EPARSE);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 7);
    const char *d3 = "# TYPE a counter\na_total 1\n";
    assert_int_equal(
        tw_expfmt_check_metrics(d3, strlen(d3), TW_EXPFMT_OPENMETRICS_1_0_0, NULL, &err),
        TW_EPARSE);
    assert_string_equal(err.msg, "data does not end with # EOF");
    /* OpenMetrics: counter family "a" is linted as a_total, as promtool sees it in text. */
    const char *d4 = "# TYPE a counter\n# HELP a x\na_total 1\n# EOF\n";
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    assert_int_equal(tw_expfmt_check_metrics(d4, strlen(d4), TW_EXPFMT_OPENMETRICS_1_0_0, f, &err),
                     0);
    fclose(f);
    assert_string_equal(out, "");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_like_promtool),
        cmocka_unit_test(test_crafted_exact),
        cmocka_unit_test(test_crafted_like_promtool),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
