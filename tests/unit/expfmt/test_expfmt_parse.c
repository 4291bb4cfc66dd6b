/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_expfmt_parse.c - the exposition pull parser: every field of every entry kind in text
 * 0.0.4 and OpenMetrics, escapes, special floats, timestamps, exemplars, error positions and
 * messages, the label limit, stickiness after an error, and no reallocation across entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collector/expfmt/expfmt.h"
#include "collector/expfmt/expfmt_int.h"
#include "common/error.h"

static tw_expfmt_parser_t *open_p(const char *s, tw_expfmt_format_t fmt, bool lenient)
{
    tw_expfmt_parse_options_t o = {fmt, lenient, 0};
    return tw_expfmt_parser_new(s, strlen(s), &o);
}

static void assert_view(tw_strview_t v, const char *s)
{
    assert_int_equal(v.len, strlen(s));
    assert_memory_equal(v.p, s, v.len);
}

static void test_text_entries(void **state)
{
    (void)state;
    const char *doc =
        "# HELP http_requests_total Requests\\nserved \\\\ \\q.\n"
        "# TYPE http_requests_total counter\n"
        "\n"
        "  # a comment\n"
        "http_requests_total{method=\"GET\", path=\"/a\\\"b\\\\c\\nd\",} 1027 1395066363000\n"
        "x 1e3\n"
        "y{} -Inf\n"
        "z NaN -5\n"
        "w +Inf\n";
    tw_expfmt_parser_t *p = open_p(doc, TW_EXPFMT_TEXT_0_0_4, false);
    tw_expfmt_entry_t e;
    tw_error_t err;
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.kind, TW_EXPFMT_ENTRY_HELP);
    assert_int_equal(e.line, 1);
    assert_view(e.name, "http_requests_total");
    assert_view(e.text, "Requests\nserved \\ \\q.");
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.kind, TW_EXPFMT_ENTRY_TYPE);
    assert_int_equal(e.type, TW_MTYPE_COUNTER);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.kind, TW_EXPFMT_ENTRY_COMMENT);
    assert_int_equal(e.line, 4);
    assert_view(e.text, "a comment");
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.kind, TW_EXPFMT_ENTRY_SERIES);
    assert_int_equal(e.line, 5);
    assert_view(e.name, "http_requests_total");
    assert_int_equal(e.nlabels, 2);
    assert_view(e.labels[0].name, "method");
    assert_view(e.labels[0].value, "GET");
    /* An unescaped value is a view into the input. */
    assert_true(e.labels[0].value.p > doc && e.labels[0].value.p < doc + strlen(doc));
    assert_view(e.labels[1].name, "path");
    assert_view(e.labels[1].value, "/a\"b\\c\nd");
    assert_true(e.value == 1027.0);
    assert_true(e.has_timestamp);
    assert_int_equal(e.timestamp_ms, 1395066363000LL);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_view(e.name, "x");
    assert_int_equal(e.nlabels, 0);
    assert_true(e.value == 1000.0);
    assert_false(e.has_timestamp);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_true(isinf(e.value) && e.value < 0);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_true(isnan(e.value));
    assert_int_equal(e.timestamp_ms, -5);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_true(isinf(e.value) && e.value > 0);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 0);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 0);
    tw_expfmt_parser_free(p);
}

static void expect_error(const char *doc, tw_expfmt_format_t fmt, bool lenient, int line, int col,
                         const char *msg_part)
{
    tw_expfmt_parser_t *p = open_p(doc, fmt, lenient);
    tw_expfmt_entry_t e;
    tw_error_t err;
    int rc;
    while ((rc = tw_expfmt_parser_next(p, &e, &err)) == 1) {
    }
    if (rc != TW_EPARSE || err.line != line || err.col != col ||
        strstr(err.msg, msg_part) == NULL) {
        fail_msg("%s: got rc=%d %d:%d %s; want %d:%d ...%s", doc, rc, err.line, err.col, err.msg,
                 line, col, msg_part);
    }
    /* Sticky: the same error again. */
    tw_error_t again;
    assert_int_equal(tw_expfmt_parser_next(p, &e, &again), TW_EPARSE);
    assert_int_equal(again.line, line);
    assert_string_equal(again.msg, err.msg);
    tw_expfmt_parser_free(p);
}

static void test_text_errors(void **state)
{
    (void)state;
    const tw_expfmt_format_t T = TW_EXPFMT_TEXT_0_0_4;
    expect_error("a{b=\"1\",b=\"2\"} 1\n", T, false, 1, 9, "duplicate label name \"b\"");
    expect_error("a{b\"1\"} 1\n", T, false, 1, 4, "expected '=' after label name \"b\"");
    expect_error("ok 1\na{b=\"1} 1\n", T, false, 2, 10, "missing its closing");
    expect_error("a 0x1p3\n", T, false, 1, 3, "invalid value \"0x1p3\"");
    expect_error("a 1_000\n", T, false, 1, 3, "invalid value");
    expect_error("a 1 12z\n", T, false, 1, 5, "invalid timestamp");
    expect_error("a 1 1 2\n", T, false, 1, 7, "unexpected text after the timestamp");
    expect_error("a\n", T, false, 1, 2, "expected a value");
    expect_error("# TYPE a gaugehistogram\n", T, false, 1, 10, "invalid metric type");
    expect_error("0a 1\n", T, false, 1, 1, "expected a metric name");
    expect_error("a 1 99999999999999999999\n", T, false, 1, 5, "timestamp out of range");
}

static void test_om_entries(void **state)
{
    (void)state;
    const char *doc = "# TYPE foo_seconds histogram\n"
                      "# UNIT foo_seconds seconds\n"
                      "# HELP foo_seconds A \\\"histogram\\\".\n"
                      "foo_seconds_bucket{le=\"0.5\",a=\"x\\ty\"} 1 1.5 # {trace_id=\"abc\"} 0.25 "
                      "1.001\n"
                      "foo_seconds_bucket{le=\"+Inf\",a=\"x\\ty\"} 2 1.5\n"
                      "foo_seconds_count{a=\"x\\ty\"} 2 1.5\n"
                      "foo_seconds_sum{a=\"x\\ty\"} 0.75 1.5\n"
                      "# EOF\n";
    tw_expfmt_parser_t *p = open_p(doc, TW_EXPFMT_OPENMETRICS_1_0_0, false);
    tw_expfmt_entry_t e;
    tw_error_t err;
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.kind, TW_EXPFMT_ENTRY_TYPE);
    assert_int_equal(e.type, TW_MTYPE_HISTOGRAM);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.kind, TW_EXPFMT_ENTRY_UNIT);
    assert_view(e.text, "seconds");
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.kind, TW_EXPFMT_ENTRY_HELP);
    assert_view(e.text, "A \"histogram\".");
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.kind, TW_EXPFMT_ENTRY_SERIES);
    assert_int_equal(e.line, 4);
    assert_view(e.name, "foo_seconds_bucket");
    assert_int_equal(e.nlabels, 2);
    assert_view(e.labels[0].value, "0.5");
    assert_view(e.labels[1].value, "x\\ty"); /* unknown escapes are kept */
    assert_true(e.value == 1.0);
    assert_true(e.has_timestamp);
    assert_int_equal(e.timestamp_ms, 1500);
    assert_true(e.has_exemplar);
    assert_int_equal(e.exemplar_nlabels, 1);
    assert_view(e.exemplar_labels[0].name, "trace_id");
    assert_view(e.exemplar_labels[0].value, "abc");
    assert_true(e.exemplar_value == 0.25);
    assert_true(e.exemplar_has_timestamp);
    /* int64(1.001 * 1000) truncates to 1000 in Prometheus too (1000.9999999999999). */
    assert_int_equal(e.exemplar_timestamp_ms, 1000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
        assert_false(e.has_exemplar);
    }
    assert_view(e.name, "foo_seconds_sum");
    assert_true(e.value == 0.75);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 0);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 0);
    tw_expfmt_parser_free(p);
}

static void test_om_errors(void **state)
{
    (void)state;
    const tw_expfmt_format_t O = TW_EXPFMT_OPENMETRICS_1_0_0;
    expect_error("a 1\n", O, false, 2, 1, "does not end with # EOF");
    expect_error("a 1\n\n# EOF\n", O, false, 2, 1, "blank lines");
    expect_error("a 1\n# EOF\n\n", O, true, 3, 1, "after # EOF");
    expect_error("# TYPE a counter\na_total -1\n# EOF\n", O, false, 2, 1,
                 "a_total: counter-like samples cannot be negative");
    expect_error("# TYPE a counter\na 1\n# EOF\n", O, false, 3, 1, "clashing name: a");
    expect_error("a{a=\"1\",} 1\n# EOF\n", O, true, 1, 9, "expected a label name after ','");
    expect_error("a 1 # {x=\"y\"} 1\n# EOF\n", O, true, 1, 1, "does not support exemplars");
    expect_error("# UNIT a_b c\n# EOF\n", O, true, 1, 1, "unit \"c\" is not a suffix");
    expect_error("# TYPE a untyped\n# EOF\n", O, true, 1, 10, "invalid metric type \"untyped\"");
    expect_error("a 1 NaN\n# EOF\n", O, true, 1, 5, "invalid timestamp \"NaN\"");
    expect_error("#  HELP a x\n# EOF\n", O, false, 1, 3, "expected HELP, TYPE, UNIT or EOF");
    /* Lenient still refuses syntax and duplicate label names. */
    expect_error("a{b=\"1\",b=\"1\"} 1\n# EOF\n", O, true, 1, 9, "duplicate label name");
}

static void test_om_lenient_accepts(void **state)
{
    (void)state;
    /* Negative counter, metadata after samples, repeated HELP: Prometheus 2.42 takes these. */
    const char *doc = "# TYPE a counter\na_total -1\n# HELP a x\n# HELP a y\n# EOF";
    tw_expfmt_parser_t *p = open_p(doc, TW_EXPFMT_OPENMETRICS_1_0_0, true);
    tw_expfmt_entry_t e;
    tw_error_t err;
    int n = 0, rc;
    while ((rc = tw_expfmt_parser_next(p, &e, &err)) == 1) {
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 4);
    tw_expfmt_parser_free(p);
}

static void test_om_timestamp_conversion(void **state)
{
    (void)state;
    const char *doc = "a 1 -1.5\nb 1 1e3\nc 1 12345678901234567890.5\n# EOF\n";
    tw_expfmt_parser_t *p = open_p(doc, TW_EXPFMT_OPENMETRICS_1_0_0, false);
    tw_expfmt_entry_t e;
    tw_error_t err;
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.timestamp_ms, -1500);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.timestamp_ms, 1000000);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(e.timestamp_ms, INT64_MAX); /* saturated */
    tw_expfmt_parser_free(p);
}

static void test_max_labels(void **state)
{
    (void)state;
    const char *doc = "a{x=\"1\",y=\"2\"} 1\na{x=\"1\",y=\"2\",z=\"3\"} 1\n";
    tw_expfmt_parse_options_t o = {TW_EXPFMT_TEXT_0_0_4, false, 2};
    tw_expfmt_parser_t *p = tw_expfmt_parser_new(doc, strlen(doc), &o);
    tw_expfmt_entry_t e;
    tw_error_t err;
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), 1);
    assert_int_equal(tw_expfmt_parser_next(p, &e, &err), TW_ELIMIT);
    assert_int_equal(err.line, 2);
    assert_string_equal(err.msg, "more than 2 labels");
    tw_expfmt_parser_free(p);
}

static void test_parse_float_rules(void **state)
{
    (void)state;
    double v;
    assert_true(tw_expfmt_parse_float("1.5e-3", 6, true, &v) && v == 1.5e-3);
    assert_true(tw_expfmt_parse_float(".5", 2, true, &v) && v == 0.5);
    assert_true(tw_expfmt_parse_float("5.", 2, true, &v) && v == 5.0);
    assert_true(tw_expfmt_parse_float("-infinity", 9, true, &v) && isinf(v) && v < 0);
    assert_true(tw_expfmt_parse_float("nan", 3, true, &v) && isnan(v));
    assert_false(tw_expfmt_parse_float("+nan", 4, true, &v));
    assert_true(tw_expfmt_parse_float("+nan", 4, false, &v) && isnan(v));
    assert_false(tw_expfmt_parse_float("1e400", 5, true, &v));
    assert_true(tw_expfmt_parse_float("1e400", 5, false, &v) && isinf(v));
    assert_false(tw_expfmt_parse_float("0x10", 4, true, &v));
    assert_false(tw_expfmt_parse_float("1e", 2, true, &v));
    assert_false(tw_expfmt_parse_float(".", 1, true, &v));
    assert_true(tw_expfmt_parse_float("9007199254740993", 16, true, &v) && v == 9007199254740992.0);
    assert_true(tw_expfmt_parse_float("-0", 2, true, &v) && v == 0 && signbit(v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_entries),       cmocka_unit_test(test_text_errors),
        cmocka_unit_test(test_om_entries),         cmocka_unit_test(test_om_errors),
        cmocka_unit_test(test_om_lenient_accepts), cmocka_unit_test(test_om_timestamp_conversion),
        cmocka_unit_test(test_max_labels),         cmocka_unit_test(test_parse_float_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
