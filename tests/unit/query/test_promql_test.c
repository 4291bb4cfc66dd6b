/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_promql_test.c - the PromQL test-script runner's parts: series descriptions, the float
 * comparison, scalar lines, the script parser (blocks, eval headers, expect lines, errors), the
 * in-memory storage, and whole scripts run against the engine (pass, fail, skip, exit codes).
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
#include <unistd.h>

#include "query/promql_test_int.h"
#include "query/query.h"

static double stale_nan(void)
{
    uint64_t bits = TW_PROMQL_STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

static void parse_ok(const char *s, tw_promql_series_desc_t *d)
{
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_promql_series_desc_parse(s, strlen(s), false, 0, d, &err);
    if (rc != 0) {
        fail_msg("%s: %d:%s", s, err.col, err.msg);
    }
}

/* Parses s and checks its float values (omitted as NAN with kind checked by the caller). */
static void expect_values(const char *s, const double *want, size_t n)
{
    tw_promql_series_desc_t d;
    parse_ok(s, &d);
    assert_int_equal(d.n_values, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d.values[i].kind, TW_PROMQL_SEQ_FLOAT);
        if (memcmp(&d.values[i].v, &want[i], sizeof(double)) != 0) {
            fail_msg("%s: value %zu is %.17g, want %.17g", s, i, d.values[i].v, want[i]);
        }
    }
    tw_promql_series_desc_fini(&d);
}

static void test_series_values(void **state)
{
    (void)state;
    expect_values("m 0+10x3", (double[]){0, 10, 20, 30}, 4);
    expect_values("m -2+4x3", (double[]){-2, 2, 6, 10}, 4);
    expect_values("m 1-1x2", (double[]){1, 0, -1}, 3);
    expect_values("m 7x2", (double[]){7, 7, 7}, 3);
    expect_values("m 0x3", (double[]){0, 0, 0, 0}, 4); /* not hexadecimal: 0 repeated */
    expect_values("m 3 -2.5 .5 1e-3 1E3", (double[]){3, -2.5, 0.5, 1e-3, 1e3}, 5);
    expect_values("m Inf +Inf -inf", (double[]){INFINITY, INFINITY, -INFINITY}, 3);
    expect_values("m 1e-3+1e-3x1", (double[]){1e-3, 2e-3}, 2);
    /* repeated addition, not a + i*b: 0.1+0.1+0.1 is 0.30000000000000004 */
    double a = 0.1, b = a + 0.1, c = b + 0.1;
    expect_values("m 0.1+0.1x2", (double[]){a, b, c}, 3);
    expect_values("m\t1\t\t2  ", (double[]){1, 2}, 2);

    tw_promql_series_desc_t d;
    parse_ok("m 1 _ 3 stale _x2 NaN", &d);
    assert_int_equal(d.n_values, 7);
    assert_int_equal(d.values[1].kind, TW_PROMQL_SEQ_OMITTED);
    assert_true(tw_promql_is_stale_nan(d.values[3].v));
    assert_int_equal(d.values[4].kind, TW_PROMQL_SEQ_OMITTED);
    assert_int_equal(d.values[5].kind, TW_PROMQL_SEQ_OMITTED);
    assert_true(isnan(d.values[6].v) && !tw_promql_is_stale_nan(d.values[6].v));
    assert_false(d.has_histograms);
    tw_promql_series_desc_fini(&d);

    parse_ok("h {{schema:0 sum:5 count:4 buckets:[1 2 1]}}x3 1 "
             "{{schema:0 sum:1}}+{{schema:0 sum:2 buckets:[1]}}x2",
             &d);
    assert_true(d.has_histograms);
    assert_int_equal(d.n_values, 8);
    assert_int_equal(d.values[3].kind, TW_PROMQL_SEQ_HISTOGRAM);
    assert_int_equal(d.values[4].kind, TW_PROMQL_SEQ_FLOAT);
    assert_int_equal(d.values[7].kind, TW_PROMQL_SEQ_HISTOGRAM);
    tw_promql_series_desc_fini(&d);
}

static void test_series_labels(void **state)
{
    (void)state;
    tw_promql_series_desc_t d;
    parse_ok("http_requests{job=\"api\", instance='0', a=`x\\y`,} 1", &d);
    assert_int_equal(d.n_labels, 4);
    assert_string_equal(d.labels[0].name, "__name__");
    assert_string_equal(d.labels[0].value, "http_requests");
    assert_string_equal(d.labels[1].name, "a");
    assert_string_equal(d.labels[1].value, "x\\y");
    assert_string_equal(d.labels[2].name, "instance");
    assert_string_equal(d.labels[3].value, "api");
    tw_promql_series_desc_fini(&d);

    parse_ok("{} 7", &d);
    assert_int_equal(d.n_labels, 0);
    assert_int_equal(d.n_values, 1);
    tw_promql_series_desc_fini(&d);

    parse_ok("{\"my.metric\", l=\"a\\\"b\\n\"} 1", &d);
    assert_int_equal(d.n_labels, 2);
    assert_string_equal(d.labels[0].value, "my.metric");
    assert_string_equal(d.labels[1].value, "a\"b\n");
    tw_promql_series_desc_fini(&d);

    parse_ok("ns:rate5m", &d); /* load lines may have no values */
    assert_int_equal(d.n_values, 0);
    assert_string_equal(d.labels[0].value, "ns:rate5m");
    tw_promql_series_desc_fini(&d);
}

static void expect_desc_error(const char *s, int code, int col)
{
    tw_promql_series_desc_t d;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_promql_series_desc_parse(s, strlen(s), true, 100, &d, &err);
    if (rc != code) {
        fail_msg("%s: rc %d, want %d", s, rc, code);
    }
    if (col > 0 && err.col != col) {
        fail_msg("%s: col %d (%s), want %d", s, err.col, err.msg, col);
    }
    assert_null(d.labels);
    assert_null(d.values);
}

static void test_series_errors(void **state)
{
    (void)state;
    expect_desc_error("m{a!=\"b\"} 1", TW_EPARSE, 4);
    expect_desc_error("m{a=~\"b\"} 1", TW_EPARSE, 4);
    expect_desc_error("m{a=\"b\" 1", TW_EPARSE, 9);
    expect_desc_error("m{a=\"b\", a=\"c\"} 1", TW_EPARSE, 10);
    expect_desc_error("m 1+2", TW_EPARSE, 0);
    expect_desc_error("m 0x", TW_EPARSE, 0);
    expect_desc_error("m abc", TW_EPARSE, 3);
    expect_desc_error("m {{schema:0", TW_EPARSE, 3);
    expect_desc_error("m _xa", TW_EPARSE, 0);
    expect_desc_error("m", TW_EPARSE, 0); /* values required here */
    expect_desc_error("1 2", TW_EPARSE, 1);
    expect_desc_error("m 0+1x100", TW_ELIMIT, 0); /* 101 values, max 100 */
    expect_desc_error("m 1x99 2", TW_ELIMIT, 0);
    expect_desc_error("m 0+1x99999999999999999999", TW_EPARSE, 0);
}

static void test_float_equal(void **state)
{
    (void)state;
    assert_true(tw_promql_test_float_equal(1, 1));
    assert_true(tw_promql_test_float_equal(NAN, NAN));
    assert_false(tw_promql_test_float_equal(NAN, stale_nan()));
    assert_false(tw_promql_test_float_equal(stale_nan(), NAN));
    assert_true(tw_promql_test_float_equal(stale_nan(), stale_nan()));
    assert_true(tw_promql_test_float_equal(1, 1 + 1e-7));
    assert_false(tw_promql_test_float_equal(1, 1.00001));
    assert_true(tw_promql_test_float_equal(1e300, 1e300 * (1 + 1e-9)));
    assert_true(tw_promql_test_float_equal(INFINITY, INFINITY));
    assert_false(tw_promql_test_float_equal(INFINITY, -INFINITY));
    assert_false(tw_promql_test_float_equal(INFINITY, 1e308));
    assert_true(tw_promql_test_float_equal(0, 1e-320));  /* absolute tolerance near zero */
    assert_false(tw_promql_test_float_equal(0, 1e-300)); /* normal numbers are not zero */
    assert_false(tw_promql_test_float_equal(0, NAN));
}

static void expect_number(const char *s, double want)
{
    double v = 12345;
    if (!tw_pt_parse_number(s, strlen(s), &v)) {
        fail_msg("%s: not a number", s);
    }
    if (!(v == want || (isnan(v) && isnan(want)))) {
        fail_msg("%s: %.17g, want %.17g", s, v, want);
    }
}

static void test_scalar_lines(void **state)
{
    (void)state;
    expect_number("7", 7);
    expect_number("-5", -5);
    expect_number("0x10", 16);
    expect_number("0o17", 15);
    expect_number("0b101", 5);
    expect_number("010", 8); /* Go's base-0 ParseInt: leading 0 is octal */
    expect_number("08", 8);  /* not octal: ParseFloat */
    expect_number("0", 0);
    expect_number("1e3", 1000);
    expect_number(".5", 0.5);
    expect_number("NaN", NAN);
    expect_number("-Inf", -INFINITY);
    expect_number("+inf", INFINITY);
    expect_number("Infinity", INFINITY);
    double v;
    assert_false(tw_pt_parse_number("{} 1", 4, &v));
    assert_false(tw_pt_parse_number("1 2", 3, &v));
    assert_false(tw_pt_parse_number("foo", 3, &v));
    assert_false(tw_pt_parse_number("", 0, &v));
}

static tw_pt_script_t *script_ok(const char *text)
{
    tw_pt_script_t *sc = NULL;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_pt_script_parse("t.test", text, strlen(text), &sc, &err);
    if (rc != 0) {
        char m[800];
        fail_msg("%s", tw_error_format(&err, m, sizeof(m)));
    }
    return sc;
}

static void test_script_parse(void **state)
{
    (void)state;
    const char *text = "# comment\n"
                       "load 5m\n"
                       "  foo{a=\"1\"} 0+10x2\n"
                       "  foo{a=\"1\"} 1 2\n" /* the later line wins */
                       "  bar 1\n"
                       "\n"
                       "eval instant at 10m  sum(foo)  by (a)\n"
                       "  {a=\"1\"} 2\n"
                       "\n"
                       "eval_fail instant at 0 foo\n"
                       "  expected_fail_message vector cannot contain metrics\n"
                       "eval range from 0 to 10m step 5m foo\n"
                       "  expect warn msg: PromQL warning: x\n"
                       "  expect no_info\n"
                       "  foo{a=\"1\"} 1 _ 3\n"
                       "\n"
                       "clear\n"
                       "load_with_nhcb 1m\n"
                       "  x_bucket{le=\"1\"} 1\n"
                       "\n"
                       "eval instant at 1m foo[2m]\n"
                       "  expect range vector from 0 to 1m step 30s\n"
                       "  foo 1 2 3\n"
                       "\n"
                       "eval_ordered instant at 0 \"s\"\n"
                       "  expect string \"a\\tb\"\n"
                       "\n"
                       "eval instant at 0 1\n"
                       "  0x1f\n"
                       "clear\n"; /* a scalar line ends the command */
    tw_pt_script_t *sc = script_ok(text);
    assert_int_equal(sc->n_cmds, 10);
    const tw_pt_cmd_t *c = sc->cmds;
    assert_int_equal(c[0].kind, TW_PT_LOAD);
    assert_int_equal(c[0].line, 2);
    assert_int_equal(c[0].load.interval_ms, 300000);
    assert_int_equal(c[0].load.n_series, 2);
    assert_int_equal(c[0].load.series[0].n_values, 2);
    assert_false(c[0].load.nhcb);

    assert_int_equal(c[1].kind, TW_PT_EVAL);
    assert_string_equal(c[1].eval.expr, "sum(foo)  by (a)");
    assert_int_equal(c[1].eval.start_ms, 600000);
    assert_false(c[1].eval.range);
    assert_int_equal(c[1].eval.n_series, 1);
    assert_int_equal(c[1].eval.series[0].pos, 1);

    assert_true(c[2].eval.fail);
    assert_true(tw_pt_eval_expects_fail(&c[2].eval));
    assert_string_equal(c[2].eval.fail_message, "vector cannot contain metrics");
    /* expected_fail_message ends the command: the next line starts a new one */
    assert_int_equal(c[3].line, 12);
    assert_true(c[3].eval.range);
    assert_int_equal(c[3].eval.end_ms, 600000);
    assert_int_equal(c[3].eval.step_ms, 300000);
    assert_int_equal(c[3].eval.n_expects, 2);
    assert_int_equal(c[3].eval.expects[0].kind, TW_PT_EXPECT_WARN);
    assert_string_equal(c[3].eval.expects[0].text, "PromQL warning: x");
    assert_int_equal(c[3].eval.expects[1].kind, TW_PT_EXPECT_NO_INFO);
    assert_null(c[3].eval.expects[1].text);
    assert_int_equal(c[3].eval.series[0].d.values[1].kind, TW_PROMQL_SEQ_OMITTED);

    assert_int_equal(c[4].kind, TW_PT_CLEAR);
    assert_int_equal(c[4].line, 17);
    assert_true(c[5].load.nhcb);
    assert_int_equal(c[5].load.interval_ms, 60000);

    assert_true(c[6].eval.range_vector);
    assert_int_equal(c[6].eval.rv_start_ms, 0);
    assert_int_equal(c[6].eval.rv_step_ms, 30000);
    assert_int_equal(c[6].eval.start_ms, 60000);
    assert_int_equal(c[6].eval.series[0].d.n_values, 3);

    assert_true(tw_pt_eval_is_ordered(&c[7].eval));
    assert_true(c[7].eval.has_string);
    assert_int_equal(c[7].eval.string_len, 3);
    assert_memory_equal(c[7].eval.string, "a\tb", 3);

    assert_true(c[8].eval.expect_scalar);
    assert_true(c[8].eval.scalar == 31);
    assert_int_equal(c[9].kind, TW_PT_CLEAR);
    tw_pt_script_free(sc);
}

static void expect_script_error(const char *text, int line, const char *needle)
{
    tw_pt_script_t *sc = (tw_pt_script_t *)1;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_pt_script_parse("t.test", text, strlen(text), &sc, &err);
    if (rc != TW_EPARSE) {
        fail_msg("%s: rc %d, want TW_EPARSE", text, rc);
    }
    assert_null(sc);
    if (err.line != line || strstr(err.msg, needle) == NULL) {
        fail_msg("%s: line %d \"%s\", want line %d with \"%s\"", text, err.line, err.msg, line,
                 needle);
    }
}

static void test_script_errors(void **state)
{
    (void)state;
    expect_script_error("load 5m\n  a 1\n\nfoo bar\n", 4, "invalid command \"foo bar\"");
    /* a comment ends the block: the series line after it is a command of its own */
    expect_script_error("eval instant at 0 foo\n# c\n  foo 1\n", 3, "invalid command");
    expect_script_error("eval instant at 0 foo\n  foo 1 2\n", 2,
                        "expecting multiple values in instant evaluation not allowed");
    expect_script_error("eval instant at 0 foo\n  expect warn\n  expect no_warn\n", 3,
                        "warn and no_warn cannot be used together");
    expect_script_error("eval instant at 0 foo\n  expect fail\n  expect fail\n", 3,
                        "multiple expect fail lines");
    expect_script_error("eval instant at 0 foo\n  expect bogus\n", 2, "invalid expect statement");
    expect_script_error("eval instant at 0 foo\n  expect fail msg:\n", 2,
                        "invalid expect statement");
    expect_script_error("eval range from 10m to 5m step 1m foo\n", 1, "is before start");
    expect_script_error("eval_ordered range from 0 to 5m step 1m foo\n", 1,
                        "invalid evaluation command");
    expect_script_error("eval instant at 5x foo\n", 1, "invalid timestamp definition");
    expect_script_error("eval instant at 0\n", 1, "invalid evaluation command");
    expect_script_error("load\n", 1, "invalid load command");
    expect_script_error("load 5m\n  a{b=\"c\" 1\n", 2, "expected ',' or '}'");
    expect_script_error("eval instant at 0 foo\n  expect string \"abc\n", 2,
                        "expected string literal not valid");
}

static int collect(void *arg, const tw_label_t *ls, size_t n, const int64_t *t, const double *v,
                   size_t ns)
{
    tw_buf_t *b = arg;
    tw_buf_printf(b, "%s:", n > 0 ? ls[n - 1].value : "-");
    for (size_t i = 0; i < ns; i++) {
        tw_buf_printf(b, " %lld=%g", (long long)t[i], v[i]);
    }
    tw_buf_puts(b, ";");
    return 0;
}

static void test_memstore(void **state)
{
    (void)state;
    tw_promql_memstore_t *m = tw_promql_memstore_new();
    tw_label_t a[] = {{"job", "x"}, {"__name__", "up"}};
    tw_label_t b[] = {{"__name__", "up"}, {"job", "y"}};
    tw_label_t c[] = {{"__name__", "down"}};
    assert_int_equal(tw_promql_memstore_add(m, a, 2, 20, 2, NULL), 0);
    assert_int_equal(tw_promql_memstore_add(m, a, 2, 10, 1, NULL), 0); /* out of order */
    assert_int_equal(tw_promql_memstore_add(m, a, 2, 20, 3, NULL), 0); /* replaces */
    assert_int_equal(tw_promql_memstore_add(m, b, 2, 30, stale_nan(), NULL), 0);
    assert_int_equal(tw_promql_memstore_add(m, c, 1, 5, 9, NULL), 0);
    tw_label_t dup[] = {{"a", "1"}, {"a", "2"}};
    assert_int_equal(tw_promql_memstore_add(m, dup, 2, 5, 9, NULL), TW_EINVAL);
    assert_int_equal(tw_promql_memstore_series_count(m), 3);

    tw_promql_storage_t st;
    tw_promql_memstore_storage(m, &st);
    void *q = NULL;
    assert_int_equal(st.open(st.ctx, 0, 25, &q, NULL), 0);
    tw_matcher_t ms[1];
    assert_int_equal(tw_matcher_init(&ms[0], TW_MATCH_EQ, "__name__", "up", NULL), 0);
    tw_buf_t out;
    tw_buf_init(&out, 0);
    /* view [0,25]: job="y" has its only sample at 30 and is left out */
    assert_int_equal(st.select(q, ms, 1, 0, 100, collect, &out, NULL), 0);
    assert_string_equal(out.data, "x: 10=1 20=3;");
    tw_buf_reset(&out);
    assert_int_equal(st.select(q, NULL, 0, 15, 25, collect, &out, NULL), 0);
    assert_string_equal(out.data, "x: 20=3;");
    tw_buf_reset(&out);
    assert_int_equal(st.select(q, NULL, 0, 0, 25, collect, &out, NULL), 0);
    assert_string_equal(out.data, "down: 5=9;x: 10=1 20=3;"); /* label order */
    const char **names = NULL;
    size_t nn = 0;
    assert_int_equal(st.label_names(q, NULL, 0, &names, &nn, NULL), 0);
    assert_int_equal(nn, 2);
    assert_string_equal(names[0], "__name__");
    assert_string_equal(names[1], "job");
    free(names);
    assert_int_equal(st.label_values(q, "__name__", NULL, 0, &names, &nn, NULL), 0);
    assert_int_equal(nn, 2);
    assert_string_equal(names[0], "down");
    assert_string_equal(names[1], "up");
    free(names);
    st.close(q);

    assert_int_equal(st.open(st.ctx, 0, 100, &q, NULL), 0);
    tw_buf_reset(&out);
    tw_matcher_t re;
    assert_int_equal(tw_matcher_init(&re, TW_MATCH_RE, "job", "y|z", NULL), 0);
    assert_int_equal(st.select(q, &re, 1, 0, 100, collect, &out, NULL), 0);
    assert_string_equal(out.data, "y: 30=nan;"); /* the stale marker is stored */
    st.close(q);
    tw_matcher_fini(&re);
    tw_matcher_fini(&ms[0]);
    tw_buf_fini(&out);
    tw_promql_memstore_free(m);
}

/* Runs a script; returns what it printed (malloc'd). */
static char *run_script(const char *text, tw_promql_compat_t compat, int verbose,
                        tw_promql_test_counts_t *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    tw_promql_test_options_t o = {.compat = compat, .verbose = verbose};
    memset(c, 0, sizeof(*c));
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_promql_test_run_script("s.test", text, strlen(text), &o, out, c, &err);
    fclose(out);
    if (rc != 0) {
        fail_msg("run: %s", err.msg);
    }
    return buf;
}

static void test_run(void **state)
{
    (void)state;
    const char *text = "load 5m\n"
                       "  foo{a=\"1\"} 0+10x10\n"
                       "  foo{a=\"2\"} 1 2 stale\n"
                       "  hist {{schema:0 sum:1 count:1}}x2\n"
                       "\n"
                       "eval instant at 10m foo\n" /* line 6: pass */
                       "  foo{a=\"1\"} 20\n"
                       "\n"
                       "eval instant at 10m foo\n" /* line 9: wrong value */
                       "  foo{a=\"1\"} 21\n"
                       "\n"
                       "eval range from 0 to 10m step 5m foo\n" /* line 12: pass */
                       "  foo{a=\"1\"} 0 10 20\n"
                       "  foo{a=\"2\"} 1 2\n"
                       "\n"
                       "eval instant at 0 1 + 1\n" /* line 16: pass, scalar */
                       "  2\n"
                       "\n"
                       "eval instant at 0 1 + 1\n" /* line 19: a vector was expected */
                       "  {} 2\n"
                       "\n"
                       "eval_fail instant at 0 foo +\n" /* line 22: a parse error is a failure */
                       "\n"
                       "eval instant at 0 {__name__=~\"h.*\"}\n" /* line 24: reads hist: skip */
                       "\n"
                       "eval instant at 0 count(foo)\n" /* line 26: expected empty, got 1 */
                       "\n"
                       "eval instant at 5m foo\n" /* line 28: extra series */
                       "  foo{a=\"2\"} 2\n"
                       "\n"
                       "eval instant at 0 label_replace(foo, \"x\", \"y\", \"a\", \"(.*)\")\n"
                       "  expect fail\n" /* line 31: succeeded although failure was expected */
                       "\n"
                       "eval instant at 0 \"x\"\n" /* line 34: pass */
                       "  expect string \"x\"\n"
                       "\n"
                       "eval instant at 10m foo[10m]\n" /* line 37: pass */
                       "  expect range vector from 0 to 10m step 5m\n"
                       "  foo{a=\"1\"} _ 10 20\n"
                       "  foo{a=\"2\"} _ 2\n";
    tw_promql_test_counts_t c;
    char *out = run_script(text, TW_PROMQL_COMPAT_PROMETHEUS3, 1, &c);
    fputs(out, stderr);
    assert_int_equal(c.passed, 6);
    assert_int_equal(c.failed, 5);
    assert_int_equal(c.skipped, 1);
    assert_int_equal(c.skipped_by[TW_PROMQL_TEST_SKIP_NATIVE_HISTOGRAMS], 1);
    assert_non_null(strstr(out, "s.test:9: FAIL eval instant at 600000ms foo\n"
                                "    expected 21 for {__name__=\"foo\", a=\"1\"} but got 20\n"));
    assert_non_null(strstr(out, "s.test:19: FAIL"));
    assert_non_null(strstr(out, "expected vector or matrix result, but got scalar 2"));
    assert_non_null(strstr(out, "s.test:24: SKIP (native histograms)"));
    assert_non_null(strstr(out, "s.test:26: FAIL"));
    assert_non_null(strstr(out, "unexpected metric {} in result, has value 2"));
    assert_non_null(strstr(out, "s.test:28: FAIL"));
    assert_non_null(strstr(out, "s.test:31: FAIL"));
    assert_null(strstr(out, "s.test:6: FAIL"));
    assert_null(strstr(out, "s.test:12: FAIL"));
    assert_null(strstr(out, "s.test:22: FAIL"));
    assert_null(strstr(out, "s.test:37: FAIL"));
    free(out);
}

static void test_run_annotations(void **state)
{
    (void)state;
    const char *text = "load 1m\n"
                       "  m{l=\"a\"} 1 2\n"
                       "\n"
                       "eval instant at 1m quantile(2, m)\n" /* pass: warning without position */
                       "  expect warn msg: PromQL warning: quantile value should be between 0 and "
                       "1, got 2\n"
                       "  {} +Inf\n"
                       "\n"
                       "eval instant at 1m quantile(2, m)\n" /* pass: regex */
                       "  expect warn regex: quantile value\n"
                       "  {} +Inf\n"
                       "\n"
                       "eval instant at 1m quantile(2, m)\n" /* fail: no_warn */
                       "  expect no_warn\n"
                       "  {} +Inf\n"
                       "\n"
                       "eval_warn instant at 1m sum(m)\n" /* fail: no warning */
                       "  {} 2\n"
                       "\n"
                       "eval instant at 1m quantile(2, m)\n" /* fail: other message */
                       "  expect warn msg: something else\n"
                       "  {} +Inf\n";
    tw_promql_test_counts_t c;
    char *out = run_script(text, TW_PROMQL_COMPAT_PROMETHEUS3, 0, &c);
    fputs(out, stderr);
    assert_int_equal(c.passed, 2);
    assert_int_equal(c.failed, 3);
    assert_non_null(strstr(out, "s.test:12: FAIL"));
    assert_non_null(strstr(out, "s.test:16: FAIL"));
    assert_non_null(strstr(out, "expected warnings but got none"));
    assert_non_null(strstr(out, "s.test:19: FAIL"));
    free(out);
}

static void test_skip_rules(void **state)
{
    (void)state;
    const char *text = "load_with_nhcb 1m\n"
                       "  x_bucket{le=\"1\", j=\"a\"} 1 2\n"
                       "  x_bucket{le=\"+Inf\", j=\"a\"} 2 3\n"
                       "\n"
                       "eval instant at 1m x_bucket{le=\"1\"}\n" /* floats: runs */
                       "  x_bucket{le=\"1\", j=\"a\"} 2\n"
                       "\n"
                       "eval instant at 1m x\n" /* the nhcb series: skip */
                       "\n"
                       "eval instant at 1m histogram_count(x_bucket)\n" /* NH function: skip */
                       "\n"
                       "eval instant at 1m x_bucket[1m+1m]\n" /* duration expression: skip */
                       "\n"
                       "eval instant at 1m x_bucket offset (2 * 2)\n"
                       "\n"
                       "eval instant at 1m info(x_bucket)\n"
                       "\n"
                       "eval instant at 1m rate(x_bucket[1m] anchored)\n"
                       "\n"
                       "eval instant at 1m x_bucket + fill(0) x_bucket\n"
                       "\n"
                       "eval instant at 1m x_bucket\n" /* expected histogram: skip */
                       "  x_bucket{le=\"1\", j=\"a\"} {{count:1}}\n"
                       "\n"
                       "clear\n"
                       "\n"
                       "eval instant at 1m x\n" /* cleared: runs (and passes: empty) */
                       "\n"
                       "load 1m\n"
                       "  c@st _ 1s\n"
                       "  c 1 2\n"
                       "\n"
                       "eval instant at 1m c\n";
    tw_promql_test_counts_t c;
    char *out = run_script(text, TW_PROMQL_COMPAT_PROMETHEUS3, 1, &c);
    fputs(out, stderr);
    assert_int_equal(c.failed, 0);
    assert_int_equal(c.passed, 2);
    assert_int_equal(c.skipped_by[TW_PROMQL_TEST_SKIP_NATIVE_HISTOGRAMS], 3);
    assert_int_equal(c.skipped_by[TW_PROMQL_TEST_SKIP_DURATION_EXPRESSIONS], 2);
    assert_int_equal(c.skipped_by[TW_PROMQL_TEST_SKIP_INFO_FUNCTION], 1);
    assert_int_equal(c.skipped_by[TW_PROMQL_TEST_SKIP_EXTENDED_RANGE_SELECTORS], 1);
    assert_int_equal(c.skipped_by[TW_PROMQL_TEST_SKIP_FILL_MODIFIERS], 1);
    assert_int_equal(c.skipped_by[TW_PROMQL_TEST_SKIP_START_TIMESTAMPS], 1);
    assert_int_equal(c.skipped, 9);
    free(out);
}

static void test_main(void **state)
{
    (void)state;
    char path[] = "/tmp/tw_promql_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "load 1m\n  m 1\n\neval instant at 0 m\n  m 1\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    FILE *errout = fopen("/dev/null", "w");
    char *argv[] = {"--query.compat=prometheus2", path, NULL};
    assert_int_equal(tw_promql_test_main(2, argv, out, errout), 0);
    fflush(out);
    assert_non_null(strstr(buf, ": 1 passed, 0 failed, 0 skipped\n"));
    char *bad_mode[] = {"--query.compat=prometheus1", path, NULL};
    assert_int_equal(tw_promql_test_main(2, bad_mode, out, errout), 2);
    char *no_files[] = {"-v", NULL};
    assert_int_equal(tw_promql_test_main(1, no_files, out, errout), 2);
    char *missing[] = {"/nonexistent/x.test", NULL};
    assert_int_equal(tw_promql_test_main(1, missing, out, errout), 1);

    FILE *f = fopen(path, "w");
    fputs("load 1m\n  m 1\n\neval instant at 0 m\n  m 2\n", f);
    fclose(f);
    assert_int_equal(tw_promql_test_main(1, argv + 1, out, errout), 1);
    fclose(out);
    fclose(errout);
    free(buf);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_values), cmocka_unit_test(test_series_labels),
        cmocka_unit_test(test_series_errors), cmocka_unit_test(test_float_equal),
        cmocka_unit_test(test_scalar_lines),  cmocka_unit_test(test_script_parse),
        cmocka_unit_test(test_script_errors), cmocka_unit_test(test_memstore),
        cmocka_unit_test(test_run),           cmocka_unit_test(test_run_annotations),
        cmocka_unit_test(test_skip_rules),    cmocka_unit_test(test_main),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
