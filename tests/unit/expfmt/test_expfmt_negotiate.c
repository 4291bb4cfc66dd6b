/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_expfmt_negotiate.c - Accept negotiation (as client_golang's NegotiateIncludingOpenMetrics
 * decides), the Content-Type strings (as Prometheus and prometheus_client send them), and
 * Accept-Encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "collector/expfmt/expfmt.h"
#include "common/buf.h"

#define TEXT TW_EXPFMT_TEXT_0_0_4
#define OM TW_EXPFMT_OPENMETRICS_1_0_0

static void expect(const char *accept, tw_expfmt_format_t want)
{
    tw_expfmt_format_t got = tw_expfmt_negotiate(accept);
    if (got != want) {
        fail_msg("Accept: %s: got %d, want %d", accept != NULL ? accept : "(null)", (int)got,
                 (int)want);
    }
}

/* The header Prometheus 2.42 sends on every scrape, taken from the captured request. */
static void test_captured_scrape_request(void **state)
{
    (void)state;
    tw_buf_t b;
    tw_buf_init(&b, 1 << 16);
    assert_int_equal(
        tw_buf_read_file(
            &b, TW_SHARED "/conformance/fixtures/exposition/prometheus-scrape-request.headers",
            NULL),
        0);
    char *line = strstr(b.data, "\nAccept: ");
    assert_non_null(line);
    line += strlen("\nAccept: ");
    char *end = strpbrk(line, "\r\n");
    assert_non_null(end);
    *end = '\0';
    assert_string_equal(line, "application/openmetrics-text;version=1.0.0,application/"
                              "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
                              "q=0.5,*/*;q=0.1");
    expect(line, OM);
    tw_buf_fini(&b);
}

static void test_negotiate(void **state)
{
    (void)state;
    expect(NULL, TEXT);
    expect("", TEXT);
    expect("*/*", TEXT);
    expect("application/json", TEXT);
    expect("text/plain", TEXT);
    expect("text/plain;version=0.0.4", TEXT);
    expect("application/openmetrics-text", OM);
    expect("application/openmetrics-text;version=1.0.0", OM);
    expect("application/openmetrics-text; version=0.0.1", OM);
    expect("application/openmetrics-text;version=2.0.0", TEXT);
    expect("application/openmetrics-text;version=2.0.0,text/plain;q=0.1", TEXT);
    expect("text/plain;version=0.0.5,application/openmetrics-text;q=0.1", OM);
    /* Highest q wins, whatever the order. */
    expect("text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4", TEXT);
    expect("text/plain;version=0.0.4;q=0.4,application/openmetrics-text;version=1.0.0;q=0.5", OM);
    expect("  application/openmetrics-text ; version=1.0.0 ; q=0.9 , text/plain;q=0.8", OM);
    /* Equal q: the header's order decides, as in client_golang. */
    expect("text/plain;version=0.0.4,application/openmetrics-text;version=1.0.0", TEXT);
    expect("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4", OM);
    /* A q that is not a number counts as 0 (Go's ParseFloat error). */
    expect("application/openmetrics-text;q=0.x,text/plain;q=0.2", TEXT);
    expect("application/openmetrics-text;q= 0.9,text/plain;q=0.2", TEXT);
    /* Wildcards sort after concrete types but are never chosen themselves. */
    expect("*/*;q=0.9,application/openmetrics-text;version=1.0.0;q=0.8", OM);
    expect("*,application/openmetrics-text", OM);
    /* Prometheus 2.x with protobuf negotiation: we have no protobuf, text comes next. */
    expect("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
           "encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3",
           TEXT);
    expect("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
           "encoding=delimited;q=0.7,application/openmetrics-text;q=0.3",
           OM);
    /* Malformed headers fall back to text. */
    expect("%%%,;;;==", TEXT);
    expect(",,,", TEXT);
    expect("application/openmetrics-text/extra", TEXT);
    expect("application", TEXT);
    expect(";q=1", TEXT);
    /* Types are compared as Go does: exactly. */
    expect("Application/OpenMetrics-Text", TEXT);
}

static void test_content_types(void **state)
{
    (void)state;
    /* Byte for byte what the captured Prometheus answer carries. */
    tw_buf_t b;
    tw_buf_init(&b, 1 << 16);
    assert_int_equal(
        tw_buf_read_file(
            &b, TW_SHARED "/conformance/fixtures/exposition/prometheus-metrics.text.resp-headers",
            NULL),
        0);
    char want[128];
    snprintf(want, sizeof(want), "\nContent-Type: %s\r", tw_expfmt_content_type(TEXT));
    if (strstr(b.data, want) == NULL) {
        want[strlen(want) - 1] = '\n';
        assert_non_null(strstr(b.data, want));
    }
    tw_buf_fini(&b);
    assert_string_equal(tw_expfmt_content_type(TEXT), "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(tw_expfmt_content_type(OM),
                        "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

static void expect_gzip(const char *ae, bool want)
{
    if (tw_expfmt_accepts_gzip(ae) != want) {
        fail_msg("Accept-Encoding: %s: want %s", ae != NULL ? ae : "(null)",
                 want ? "gzip" : "no gzip");
    }
}

static void test_accepts_gzip(void **state)
{
    (void)state;
    expect_gzip(NULL, false);
    expect_gzip("", false);
    expect_gzip("gzip", true);
    expect_gzip("GZip", true);
    expect_gzip("x-gzip", true);
    expect_gzip("identity", false);
    expect_gzip("deflate, br", false);
    expect_gzip("deflate, gzip;q=1.0, *;q=0.5", true);
    expect_gzip("gzip;q=0", false);
    expect_gzip("gzip; q=0.000", false);
    expect_gzip(" gzip ; q=0.001", true);
    expect_gzip("*", true);
    expect_gzip("*;q=0", false);
    expect_gzip("br, gzip;q=0, *", false);
    expect_gzip("gzip;q=0, gzip", true);
    expect_gzip("gzip;q=bad", false);
    expect_gzip("gzipx", false);
    expect_gzip(",,;;,", false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captured_scrape_request),
        cmocka_unit_test(test_negotiate),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_accepts_gzip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
