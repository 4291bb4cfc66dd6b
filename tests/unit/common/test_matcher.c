/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_matcher.c - label matchers: the four operators, empty-value semantics, full anchoring,
 * RE2 syntax (what Prometheus accepts is accepted, what it refuses is refused) and selectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/matcher.h"

static bool m1(tw_match_type_t t, const char *re, const char *v)
{
    tw_matcher_t m;
    tw_error_t err;
    if (tw_matcher_init(&m, t, "l", re, &err) != 0) {
        fail_msg("init %s: %s", re, err.msg);
    }
    bool r = tw_matcher_matches(&m, v);
    tw_matcher_fini(&m);
    return r;
}

static void test_operators(void **state)
{
    (void)state;
    assert_true(m1(TW_MATCH_EQ, "a", "a"));
    assert_false(m1(TW_MATCH_EQ, "a", "ab"));
    assert_true(m1(TW_MATCH_NEQ, "a", "b"));
    assert_false(m1(TW_MATCH_NEQ, "a", "a"));
    assert_true(m1(TW_MATCH_RE, "a.*", "abc"));
    assert_false(m1(TW_MATCH_RE, "a.*", "ba")); /* anchored at the start */
    assert_false(m1(TW_MATCH_RE, "b", "abc"));  /* and at the end */
    assert_true(m1(TW_MATCH_RE, "foo|bar", "bar"));
    assert_false(m1(TW_MATCH_RE, "foo|bar", "foobar"));
    assert_true(m1(TW_MATCH_NRE, "foo|bar", "baz"));
    assert_false(m1(TW_MATCH_NRE, "foo|bar", "foo"));
    assert_true(m1(TW_MATCH_RE, "literal", "literal"));
    assert_false(m1(TW_MATCH_RE, "literal", "literally"));
    assert_true(m1(TW_MATCH_RE, ".+", "x"));
    assert_false(m1(TW_MATCH_RE, ".+", ""));
    assert_true(m1(TW_MATCH_RE, "a.b", "a\nb")); /* '.' matches a newline (Prometheus 3) */
}

static void test_empty_semantics(void **state)
{
    (void)state;
    tw_matcher_t m;
    assert_int_equal(tw_matcher_init(&m, TW_MATCH_EQ, "foo", "", NULL), 0);
    assert_true(tw_matcher_matches_empty(&m));
    tw_matcher_fini(&m);
    assert_int_equal(tw_matcher_init(&m, TW_MATCH_NEQ, "foo", "", NULL), 0);
    assert_false(tw_matcher_matches_empty(&m));
    tw_matcher_fini(&m);
    assert_int_equal(tw_matcher_init(&m, TW_MATCH_RE, "foo", ".*", NULL), 0);
    assert_true(tw_matcher_matches_empty(&m));
    tw_matcher_fini(&m);
    assert_int_equal(tw_matcher_init(&m, TW_MATCH_NRE, "foo", ".+", NULL), 0);
    assert_true(tw_matcher_matches_empty(&m));
    tw_matcher_fini(&m);
    assert_int_equal(tw_matcher_init(&m, TW_MATCH_NRE, "foo", "", NULL), 0);
    assert_false(tw_matcher_matches_empty(&m));
    tw_matcher_fini(&m);
    assert_int_equal(tw_matcher_init(&m, TW_MATCH_RE, "foo", "a|", NULL), 0);
    assert_true(tw_matcher_matches_empty(&m));
    tw_matcher_fini(&m);
}

static void test_re2_syntax(void **state)
{
    (void)state;
    /* RE2 constructs the POSIX translation used to refuse. */
    assert_true(m1(TW_MATCH_RE, "\\bword\\b", "word"));
    assert_true(m1(TW_MATCH_RE, "\\pL+", "\xc3\xa9t\xc3\xa9"));
    assert_false(m1(TW_MATCH_RE, "\\pL+", "a1"));
    assert_true(m1(TW_MATCH_RE, "a(?i)b", "aB"));
    assert_false(m1(TW_MATCH_RE, "a(?i)b", "AB"));
    assert_true(m1(TW_MATCH_RE, "[\\D]+", "ab"));
    assert_false(m1(TW_MATCH_RE, "[\\D]+", "a1"));
    assert_true(m1(TW_MATCH_RE, "\\Qa.b\\E", "a.b"));
    assert_false(m1(TW_MATCH_RE, "\\Qa.b\\E", "axb"));
    assert_true(m1(TW_MATCH_RE, "a.*?b", "axxb"));
    assert_true(m1(TW_MATCH_RE, "x{2,3}?", "xxx"));
    assert_true(m1(TW_MATCH_RE, "(?P<name>x)", "x"));
    assert_true(m1(TW_MATCH_RE, "(?s:.*)", "a\nb"));
    /* '.' is one UTF-8 rune, '$' the end of the value only. */
    assert_true(m1(TW_MATCH_RE, "caf.", "caf\xc3\xa9"));
    assert_false(m1(TW_MATCH_RE, "caf..", "caf\xc3\xa9"));
    assert_false(m1(TW_MATCH_RE, "a$\n", "a\n"));
    /* Escapes mean what they mean in RE2. */
    assert_true(m1(TW_MATCH_RE, "\\x41\\t", "A\t"));
    assert_true(m1(TW_MATCH_RE, "\\.\\-\\/", ".-/"));
    assert_true(m1(TW_MATCH_RE, "[\\d.]+", "1.2"));
    assert_true(m1(TW_MATCH_RE, "[^\\]a-]", "b"));
    assert_false(m1(TW_MATCH_RE, "[^\\]a-]", "-"));
    assert_true(m1(TW_MATCH_RE, "a{b", "a{b"));
    assert_false(m1(TW_MATCH_RE, "\\s", "\v"));
}

static void test_translated_matching(void **state)
{
    (void)state;
    assert_true(m1(TW_MATCH_RE, "node-\\d+", "node-12"));
    assert_false(m1(TW_MATCH_RE, "node-\\d+", "node-1a"));
    assert_true(m1(TW_MATCH_RE, "(?i)ERROR|warn", "error"));
    assert_true(m1(TW_MATCH_RE, "(?i)ERROR|warn", "WARN"));
    assert_true(m1(TW_MATCH_RE, "[\\w-]+\\.example\\.com", "a-b.example.com"));
    assert_false(m1(TW_MATCH_RE, "[\\w-]+\\.example\\.com", "a-bxexample.com"));
    assert_true(m1(TW_MATCH_RE, "(?:10|192)\\.\\d+\\.\\d+\\.\\d+:\\d+", "10.0.0.1:9100"));
    assert_true(m1(TW_MATCH_NRE, "kube-.*", "default"));
    assert_true(m1(TW_MATCH_RE, "[]x]", "]"));
    assert_true(m1(TW_MATCH_RE, "[\\^]", "^"));
}

static void test_refused(void **state)
{
    (void)state;
    /* What RE2 (and so Prometheus) refuses; PCRE2 alone would accept most of it. */
    static const char *bad[] = {"(unclosed", "a[",   "(a)\\1",  "a(?=b)", "(?<!a)b", "(?>a)", "a++",
                                "\\C",       "(?R)", "a{1001}", "a**",    "(?x)a b", "\\Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tw_matcher_t m;
        tw_error_t err;
        int rc = tw_matcher_init(&m, TW_MATCH_RE, "l", bad[i], &err);
        assert_int_equal(rc, TW_EPARSE);
        assert_non_null(strstr(err.msg, bad[i]));
        assert_null(m.re);
    }
}

static void test_format(void **state)
{
    (void)state;
    tw_matcher_t m;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    assert_int_equal(tw_matcher_init(&m, TW_MATCH_NEQ, "job", "a\"b\\", NULL), 0);
    tw_matcher_format(&m, &b);
    assert_string_equal(b.data, "job!=\"a\\\"b\\\\\"");
    tw_matcher_fini(&m);
    tw_matcher_fini(&m);
    tw_buf_fini(&b);
}

static void test_selector(void **state)
{
    (void)state;
    tw_matcher_t m[8];
    size_t n = 0;
    tw_error_t err;
    assert_int_equal(tw_matchers_parse_selector("up", m, 8, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].name, "__name__");
    assert_string_equal(m[0].value, "up");
    tw_matcher_fini(&m[0]);

    const char *sel = " node_cpu:rate { mode != 'idle' , cpu=~\"[0-9]+\", job=`a\\b`, "
                      "x=\"q\\\"\\u00e9\\n\",} ";
    assert_int_equal(tw_matchers_parse_selector(sel, m, 8, &n, &err), 0);
    assert_int_equal(n, 5);
    assert_string_equal(m[0].value, "node_cpu:rate");
    assert_int_equal(m[1].type, TW_MATCH_NEQ);
    assert_string_equal(m[1].name, "mode");
    assert_string_equal(m[1].value, "idle");
    assert_int_equal(m[2].type, TW_MATCH_RE);
    assert_true(tw_matcher_matches(&m[2], "12"));
    assert_false(tw_matcher_matches(&m[2], "x1"));
    assert_string_equal(m[3].value, "a\\b");
    assert_string_equal(m[4].value, "q\"\xc3\xa9\n");
    for (size_t i = 0; i < n; i++) {
        tw_matcher_fini(&m[i]);
    }

    assert_int_equal(tw_matchers_parse_selector("{__name__=~\"a.+\"}", m, 8, &n, &err), 0);
    assert_int_equal(n, 1);
    tw_matcher_fini(&m[0]);

    assert_int_equal(tw_matchers_parse_selector("{job=\"\"}", m, 8, &n, &err), TW_EPARSE);
    assert_string_equal(err.msg, "vector selector must contain at least one non-empty matcher");
    assert_int_equal(n, 0);
    assert_int_equal(tw_matchers_parse_selector("{}", m, 8, &n, &err), TW_EPARSE);
    assert_int_equal(tw_matchers_parse_selector("up{job=x}", m, 8, &n, &err), TW_EPARSE);
    assert_string_equal(err.msg, "column 8: expected a quoted label value");
    assert_int_equal(tw_matchers_parse_selector("up{job==\"x\"}", m, 8, &n, &err), TW_EPARSE);
    assert_int_equal(tw_matchers_parse_selector("up{job=\"x\"", m, 8, &n, &err), TW_EPARSE);
    assert_string_equal(err.msg, "column 11: expected ',' or '}'");
    assert_int_equal(tw_matchers_parse_selector("up{job=\"x}", m, 8, &n, &err), TW_EPARSE);
    assert_string_equal(err.msg, "column 8: unterminated string");
    assert_int_equal(tw_matchers_parse_selector("up x", m, 8, &n, &err), TW_EPARSE);
    assert_int_equal(tw_matchers_parse_selector("up{a=\"1\",b=\"2\"}", m, 2, &n, &err), TW_ELIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(tw_matchers_parse_selector("{a=~\"(\"}", m, 8, &n, &err), TW_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),  cmocka_unit_test(test_empty_semantics),
        cmocka_unit_test(test_re2_syntax), cmocka_unit_test(test_translated_matching),
        cmocka_unit_test(test_refused),    cmocka_unit_test(test_format),
        cmocka_unit_test(test_selector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
