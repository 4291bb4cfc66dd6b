/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scrape_relabel.c - relabel rules: every action with the results Prometheus' relabel
 * package documents (and its relabel_test.go cases), the defaults, Go's $-expansion, RE2
 * regexes (syntax, leftmost-first captures), MD5 vectors for hashmod, and the validation errors
 * with file:line:col.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/scrape/scrape_int.h"
#include "common/mem.h"

static int parse_rules(const char *yaml, tw_relabel_rules_t **out, tw_error_t *err)
{
    tw_yaml_doc_t *doc = NULL;
    int rc = tw_yaml_doc_parse(yaml, strlen(yaml), "t.yml", &doc, err);
    if (rc != 0) {
        return rc;
    }
    tw_yaml_walk_t w = {"t.yml", err, NULL};
    rc = tw_relabel_rules_parse(&w, tw_yaml_doc_root(doc), "relabel_configs", out);
    tw_yaml_doc_free(doc);
    return rc;
}

/* Applies yaml rules to "a=foo,b=bar" style input; returns "DROPPED" or the sorted result. */
static char *apply(const char *yaml, const char *input)
{
    tw_relabel_rules_t *r = NULL;
    tw_error_t err;
    int rc = parse_rules(yaml, &r, &err);
    if (rc != 0) {
        fail_msg("parse: %s", err.msg);
    }
    tw_arena_t *a = tw_arena_new(0);
    tw_label_t in[32];
    size_t n = 0;
    char *copy = tw_arena_strdup(a, input);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        in[n].name = tok;
        in[n].value = eq + 1;
        n++;
    }
    tw_label_t *out = NULL;
    size_t nout = 0;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_buf_puts(&b, "");
    if (tw_relabel_process(r, in, n, a, &out, &nout) == 0) {
        tw_buf_puts(&b, "DROPPED");
    } else {
        for (size_t i = 0; i < nout; i++) {
            tw_buf_printf(&b, "%s%s=%s", i > 0 ? "," : "", out[i].name, out[i].value);
        }
    }
    tw_arena_free(a);
    tw_relabel_rules_free(r);
    return tw_buf_steal(&b, NULL);
}

#define CHECK(yaml, in, want)                                                                      \
    do {                                                                                           \
        char *got_ = apply(yaml, in);                                                              \
        assert_string_equal(got_, want);                                                           \
        free(got_);                                                                                \
    } while (0)

static void test_replace(void **state)
{
    (void)state;
    CHECK("- source_labels: [a]\n  regex: f(.*)\n  target_label: d\n"
          "  replacement: ch${1}-ch${1}\n",
          "a=foo,b=bar,c=baz", "a=foo,b=bar,c=baz,d=choo-choo");
    /* two sources joined by the default separator */
    CHECK("- source_labels: [a, b]\n  regex: f(.*);(.*)r\n  target_label: a\n"
          "  replacement: b${1}${2}m\n",
          "a=foo,b=bar,c=baz", "a=boobam,b=bar,c=baz");
    /* no match: nothing happens */
    CHECK("- source_labels: [a]\n  regex: x(.*)\n  target_label: d\n", "a=foo", "a=foo");
    /* fully anchored: "o" does not match "foo" */
    CHECK("- source_labels: [a]\n  regex: o\n  target_label: d\n  replacement: hit\n", "a=foo",
          "a=foo");
    /* defaults: regex (.*), replacement $1 copy the value */
    CHECK("- source_labels: [a]\n  target_label: d\n", "a=foo", "a=foo,d=foo");
    /* a missing source label is the empty string */
    CHECK("- source_labels: [a, zz]\n  target_label: d\n", "a=foo", "a=foo,d=foo;");
    CHECK("- source_labels: [a, zz]\n  separator: '-'\n  target_label: d\n", "a=foo",
          "a=foo,d=foo-");
    /* an empty result deletes the target */
    CHECK("- source_labels: [zz]\n  target_label: a\n", "a=foo,b=bar", "b=bar");
    /* static value with no sources */
    CHECK("- target_label: env\n  replacement: prod\n", "a=foo", "a=foo,env=prod");
    /* target_label expansion; an invalid expanded name changes nothing */
    CHECK("- source_labels: [a]\n  regex: (.*)\n  target_label: ${1}_x\n  replacement: v\n",
          "a=foo", "a=foo,foo_x=v");
    CHECK("- source_labels: [a]\n  regex: (.*)\n  target_label: ${1}\n  replacement: v\n", "a=1bad",
          "a=1bad");
    /* Go's expansion: $1x is the (absent) group named "1x", so the value is empty */
    CHECK("- source_labels: [a]\n  regex: (f)oo\n  target_label: d\n  replacement: $1x\n",
          "a=foo,d=old", "a=foo");
    CHECK("- source_labels: [a]\n  regex: (f)oo\n  target_label: d\n  replacement: ${1}x$$\n",
          "a=foo", "a=foo,d=fx$");
    /* named groups and non-capturing groups keep RE2 numbering */
    CHECK("- source_labels: [a]\n  regex: (?:f)(?P<rest>o+)\n  target_label: d\n"
          "  replacement: $1-${rest}\n",
          "a=foo", "a=foo,d=oo-oo");
    /* \d and \w translate */
    CHECK("- source_labels: [__address__]\n  regex: '([\\w.]+):\\d+'\n  target_label: host\n",
          "__address__=node-1.example:9100", "__address__=node-1.example:9100");
    CHECK("- source_labels: [__address__]\n  regex: '([a-z0-9.]+):\\d+'\n  target_label: host\n",
          "__address__=node1.example:9100", "__address__=node1.example:9100,host=node1.example");
    /* captures are RE2's leftmost-first: POSIX leftmost-longest would give "ab-cd" */
    CHECK("- source_labels: [a]\n  regex: (a|ab)(c|bcd)\n  target_label: d\n"
          "  replacement: $1-$2\n",
          "a=abcd", "a=abcd,d=a-bcd");
    /* lazy quantifiers change captures, as in RE2 */
    CHECK("- source_labels: [a]\n  regex: (.+?)(o*)\n  target_label: d\n"
          "  replacement: $1|$2\n",
          "a=foo", "a=foo,d=f|oo");
    CHECK("- source_labels: [a]\n  regex: (.+)(o*)\n  target_label: d\n"
          "  replacement: $1|$2\n",
          "a=foo", "a=foo,d=foo|");
    /* '.' matches a newline (Prometheus 3's "^(?s:...)$") and is one UTF-8 rune */
    CHECK("- source_labels: [a]\n  regex: x(.)y(.)\n  target_label: d\n"
          "  replacement: $2\n",
          "a=x\ny\xc3\xa9", "a=x\ny\xc3\xa9,d=\xc3\xa9");
}

static void test_keep_drop(void **state)
{
    (void)state;
    CHECK("- source_labels: [a]\n  regex: .*o.*\n  action: drop\n", "a=foo", "DROPPED");
    CHECK("- source_labels: [a]\n  regex: f(.*)\n  action: drop\n", "a=abc", "a=abc");
    CHECK("- source_labels: [a]\n  regex: f.*\n  action: keep\n", "a=foo", "a=foo");
    CHECK("- source_labels: [a]\n  regex: f.*\n  action: keep\n", "a=boo", "DROPPED");
    /* keep on a missing label: "" does not match f.* */
    CHECK("- source_labels: [zz]\n  regex: f.*\n  action: keep\n", "a=foo", "DROPPED");
    /* action is case-insensitive */
    CHECK("- source_labels: [a]\n  regex: foo\n  action: Drop\n", "a=foo", "DROPPED");
    CHECK("- source_labels: [a]\n  target_label: b\n  action: keepequal\n", "a=foo,b=foo",
          "a=foo,b=foo");
    CHECK("- source_labels: [a]\n  target_label: b\n  action: keepequal\n", "a=foo,b=bar",
          "DROPPED");
    CHECK("- source_labels: [a]\n  target_label: b\n  action: dropequal\n", "a=foo,b=foo",
          "DROPPED");
    CHECK("- source_labels: [a]\n  target_label: b\n  action: dropequal\n", "a=foo,b=bar",
          "a=foo,b=bar");
    /* rules run in order and stop at a drop */
    CHECK("- target_label: x\n  replacement: y\n- source_labels: [x]\n  regex: y\n"
          "  action: drop\n",
          "a=foo", "DROPPED");
}

static void test_hashmod_md5(void **state)
{
    (void)state;
    uint8_t d[16];
    char hex[33];
    static const char *const vec[][2] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (size_t i = 0; i < 4; i++) {
        tw_scrape_md5(vec[i][0], strlen(vec[i][0]), d);
        for (int j = 0; j < 16; j++) {
            snprintf(hex + 2 * j, 3, "%02x", d[j]);
        }
        assert_string_equal(hex, vec[i][1]);
    }
    /* relabel_test.go: md5("baz") last 8 bytes % 1000 = 976 */
    CHECK("- source_labels: [c]\n  target_label: d\n  modulus: 1000\n  action: hashmod\n",
          "a=foo,b=bar,c=baz", "a=foo,b=bar,c=baz,d=976");
    CHECK("- source_labels: [a]\n  target_label: d\n  modulus: 1000\n  action: hashmod\n", "a=foo",
          "a=foo,d=696");
}

static void test_label_actions(void **state)
{
    (void)state;
    CHECK("- regex: (b.*)\n  replacement: bar_${1}\n  action: labelmap\n", "a=foo,b1=bar,b2=baz",
          "a=foo,b1=bar,b2=baz,bar_b1=bar,bar_b2=baz");
    CHECK("- regex: __meta_kubernetes_pod_label_(.+)\n  action: labelmap\n",
          "__meta_kubernetes_pod_label_app=web,a=foo",
          "__meta_kubernetes_pod_label_app=web,a=foo,app=web");
    CHECK("- regex: (b.*)\n  action: labeldrop\n", "a=foo,b1=bar,b2=baz", "a=foo");
    CHECK("- regex: (b.*)\n  action: labelkeep\n", "a=foo,b1=bar,b2=baz", "b1=bar,b2=baz");
    /* anchored: "b" alone matches only the label named b */
    CHECK("- regex: b\n  action: labeldrop\n", "a=foo,b=x,bb=y", "a=foo,bb=y");
    CHECK("- source_labels: [foo]\n  target_label: foo_lower\n  action: lowercase\n", "foo=AbCdEf",
          "foo=AbCdEf,foo_lower=abcdef");
    CHECK("- source_labels: [foo]\n  target_label: foo_upper\n  action: uppercase\n", "foo=AbCdEf",
          "foo=AbCdEf,foo_upper=ABCDEF");
    CHECK("- source_labels: [foo, bar]\n  separator: _\n  target_label: x\n  action: lowercase\n",
          "foo=A,bar=B", "bar=B,foo=A,x=a_b");
}

static void expect_error(const char *yaml, int line, int col, const char *msg_part)
{
    tw_relabel_rules_t *r = NULL;
    tw_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = parse_rules(yaml, &r, &err);
    assert_int_not_equal(rc, 0);
    assert_null(r);
    if (strstr(err.msg, msg_part) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg_part);
    }
    assert_int_equal(err.line, line);
    assert_int_equal(err.col, col);
    assert_string_equal(err.file, "t.yml");
}

static void test_validation(void **state)
{
    (void)state;
    expect_error("- source_labels: [a]\n  action: hashmod\n  target_label: d\n", 2, 11,
                 "relabel_configs[0]: relabel configuration for hashmod requires non-zero "
                 "modulus");
    expect_error("- source_labels: [a]\n  action: replace\n", 2, 11,
                 "relabel configuration for replace action requires 'target_label' value");
    expect_error("- source_labels: [a]\n  target_label: 1abc\n", 2, 17,
                 "\"1abc\" is invalid 'target_label' for replace action");
    expect_error("- source_labels: [a]\n  target_label: ${1}-x\n", 2, 17,
                 "\"${1}-x\" is invalid 'target_label' for replace action");
    expect_error("- action: bogus\n", 1, 11, "unknown relabel action \"bogus\"");
    expect_error("- source_labels: [a]\n  regex: 'a(b'\n  target_label: x\n", 2, 10,
                 "invalid regex a(b");
    expect_error("- source_labels: [a]\n  regex: 'a(?=b)'\n  target_label: x\n", 2, 10,
                 "invalid regex a(?=b): lookahead is not supported: `(?=` (RE2 has no "
                 "lookaround)");
    expect_error("- source_labels: [a]\n  regex: '(a)\\1'\n  target_label: x\n", 2, 10,
                 "invalid regex (a)\\1: invalid escape sequence: `\\1` (RE2 has no "
                 "backreferences)");
    expect_error("- source_labels: [a]\n  action: labeldrop\n", 2, 11,
                 "labeldrop action requires only 'regex', and no other fields");
    expect_error("- source_labels: [a]\n  target_label: b\n  regex: x\n  action: keepequal\n", 4,
                 11, "keepequal action requires only 'source_labels' and `target_label`");
    expect_error("- source_labels: [a]\n  target_label: b\n  replacement: x\n"
                 "  action: lowercase\n",
                 3, 16, "'replacement' can not be set for lowercase action");
    expect_error("- source_labels: [1a]\n  target_label: b\n", 1, 19,
                 "\"1a\" is not a valid label name");
    expect_error("- source_labels: [a]\n  target: b\n", 2, 3, "unknown key \"target\"");
    expect_error("- regex: x\n  replacement: '1-$1'\n  action: labelmap\n", 2, 16,
                 "is invalid 'replacement' for labelmap action");
}

static void test_regex_translation(void **state)
{
    (void)state;
    tw_scrape_re_t re;
    char eb[128];
    int so[TW_SCRAPE_RE_MAX_GROUPS + 1], eo[TW_SCRAPE_RE_MAX_GROUPS + 1];
    assert_int_equal(tw_scrape_re_compile(&re, "\\d+\\s\\w+", eb, sizeof(eb)), 0);
    assert_true(tw_scrape_re_match(&re, "42 ab_c", NULL, NULL));
    assert_false(tw_scrape_re_match(&re, "42 ab-c", NULL, NULL));
    assert_false(tw_scrape_re_match(&re, "x42 abc", NULL, NULL));
    tw_scrape_re_fini(&re);
    assert_int_equal(tw_scrape_re_compile(&re, "[^\\d]+\\D", eb, sizeof(eb)), 0);
    assert_true(tw_scrape_re_match(&re, "abc", NULL, NULL));
    assert_false(tw_scrape_re_match(&re, "a1c", NULL, NULL));
    tw_scrape_re_fini(&re);
    assert_int_equal(tw_scrape_re_compile(&re, "(?i)foo|bar", eb, sizeof(eb)), 0);
    assert_true(tw_scrape_re_match(&re, "FOO", NULL, NULL));
    assert_true(tw_scrape_re_match(&re, "bar", NULL, NULL));
    assert_false(tw_scrape_re_match(&re, "foobar", NULL, NULL));
    tw_scrape_re_fini(&re);
    assert_int_equal(tw_scrape_re_compile(&re, "(?:a|b)(c)(?P<d>d)?", eb, sizeof(eb)), 0);
    assert_int_equal(re.ngroups, 2);
    assert_true(tw_scrape_re_match(&re, "bc", so, eo));
    assert_int_equal(so[1], 1);
    assert_int_equal(eo[1], 2);
    assert_int_equal(so[2], -1);
    tw_scrape_re_fini(&re);
    assert_int_equal(tw_scrape_re_compile(&re, "a\\.b[\\]x]", eb, sizeof(eb)), 0);
    assert_true(tw_scrape_re_match(&re, "a.b]", NULL, NULL));
    assert_true(tw_scrape_re_match(&re, "a.bx", NULL, NULL));
    assert_false(tw_scrape_re_match(&re, "aXb]", NULL, NULL));
    tw_scrape_re_fini(&re);
    /* RE2-only syntax the POSIX translation used to refuse */
    assert_int_equal(tw_scrape_re_compile(&re, "\\pL+\\b.*?", eb, sizeof(eb)), 0);
    assert_true(tw_scrape_re_match(&re, "\xc3\xa9t\xc3\xa9 x", NULL, NULL));
    assert_false(tw_scrape_re_match(&re, "1", NULL, NULL));
    tw_scrape_re_fini(&re);
    /* RE2 refuses nested repetition (a++ is possessive in PCRE2) and counts above 1000 */
    assert_int_equal(tw_scrape_re_compile(&re, "a++", eb, sizeof(eb)), TW_EINVAL);
    assert_string_equal(eb, "invalid regex a++: invalid nested repetition operator: `++` (RE2 has "
                            "no possessive quantifiers)");
    tw_scrape_re_fini(&re);
    assert_int_equal(tw_scrape_re_compile(&re, "(a{500}){600}", eb, sizeof(eb)), TW_EINVAL);
    assert_string_equal(eb, "invalid regex (a{500}){600}: invalid repeat count: `{600}`");
    tw_scrape_re_fini(&re);
    assert_int_equal(tw_scrape_re_compile(&re, "a*\\d+(b){2,3}c?", eb, sizeof(eb)), 0);
    assert_true(tw_scrape_re_match(&re, "aa12bbb", NULL, NULL));
    assert_false(tw_scrape_re_match(&re, "aa12b", NULL, NULL));
    tw_scrape_re_fini(&re);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace),     cmocka_unit_test(test_keep_drop),
        cmocka_unit_test(test_hashmod_md5), cmocka_unit_test(test_label_actions),
        cmocka_unit_test(test_validation),  cmocka_unit_test(test_regex_translation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
