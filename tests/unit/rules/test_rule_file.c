/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_rule_file.c - rule files (alerting/rules/rule_file.c): what loads, and every rejection
 * worded as promtool 2.42 prints it (the texts come from ../shared/conformance/rules/
 * check-manifest.json), and `check rules`' duplicate lint and exit codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerting/rules/rules.h"

/* A fake PromQL check: "rate(hi)" and anything ending in "+" fail like the real parser. */
static int fake_check(void *ctx, const char *expr, tw_error_t *err)
{
    (void)ctx;
    size_t n = strlen(expr);
    if (strcmp(expr, "rate(hi)") == 0) {
        return tw_error_set(err, TW_EPARSE,
                            "1:6: parse error: expected type range vector in call to function "
                            "\"rate\", got instant vector");
    }
    if (n > 0 && expr[n - 1] == '+') {
        return tw_error_set(err, TW_EPARSE, "1:%zu: parse error: unexpected end of input", n + 1);
    }
    return 0;
}

static const tw_rule_load_options_t opts = {.check_expr = fake_check};

/* Parses text as file "f.yml"; returns the messages joined by "|" (or "" when it loaded). */
static char *load(const char *text, tw_rule_file_t **out)
{
    tw_rule_errors_t errs = {0};
    tw_rule_file_t *f = NULL;
    int rc = tw_rule_file_parse("f.yml", text, strlen(text), &opts, &f, &errs);
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_buf_puts(&b, "");
    for (size_t i = 0; i < errs.n; i++) {
        tw_buf_printf(&b, "%s%s", i > 0 ? "|" : "", errs.msgs[i]);
    }
    char *s = tw_buf_steal(&b, NULL);
    assert_int_equal(rc == 0, errs.n == 0);
    tw_rule_errors_fini(&errs);
    if (out != NULL) {
        *out = f;
    } else {
        tw_rule_file_free(f);
    }
    return s;
}

static void expect(const char *text, const char *want)
{
    char *got = load(text, NULL);
    assert_string_equal(got, want);
    free(got);
}

static void test_good_file(void **state)
{
    (void)state;
    tw_rule_file_t *f = NULL;
    char *e = load("groups:\n"
                   "  - name: g1\n"
                   "    interval: 30s\n"
                   "    limit: 7\n"
                   "    rules:\n"
                   "      - alert: High\n"
                   "        expr: up == 0\n"
                   "        for: 5m\n"
                   "        keep_firing_for: 1m\n"
                   "        labels: {team: b, severity: page}\n"
                   "        annotations:\n"
                   "          summary: 'x {{ $value }}'\n"
                   "      - record: job:up:sum\n"
                   "        expr: sum by (job) (up)\n"
                   "        labels:\n"
                   "          env: prod\n"
                   "  - name: g2\n"
                   "    rules: []\n",
                   &f);
    assert_string_equal(e, "");
    free(e);
    assert_non_null(f);
    assert_int_equal(f->n_groups, 2);
    assert_int_equal(tw_rule_file_count_rules(f), 2);
    const tw_rule_group_spec_t *g = &f->groups[0];
    assert_string_equal(g->name, "g1");
    assert_int_equal(g->interval_ms, 30000);
    assert_int_equal(g->limit, 7);
    const tw_rule_spec_t *r = &g->rules[0];
    assert_int_equal(r->kind, TW_RULE_ALERTING);
    assert_string_equal(r->name, "High");
    assert_int_equal(r->line, 6);
    assert_int_equal(r->col, 16);
    assert_int_equal(r->expr_line, 7);
    assert_int_equal(r->expr_col, 15);
    assert_int_equal(r->for_ms, 300000);
    assert_int_equal(r->keep_firing_for_ms, 60000);
    assert_int_equal(r->n_labels, 2);
    assert_string_equal(r->labels[0].name, "severity"); /* sorted */
    assert_string_equal(r->labels[1].value, "b");
    assert_string_equal(r->annotations[0].value, "x {{ $value }}");
    r = &g->rules[1];
    assert_int_equal(r->kind, TW_RULE_RECORDING);
    assert_string_equal(r->expr, "sum by (job) (up)");
    assert_string_equal(r->labels[0].name, "env");
    assert_int_equal(f->groups[1].n_rules, 0);
    tw_rule_file_free(f);
}

static void test_empty_and_multi_doc(void **state)
{
    (void)state;
    tw_rule_file_t *f = NULL;
    char *e = load("", &f);
    assert_string_equal(e, "");
    assert_int_equal(f->n_groups, 0);
    free(e);
    tw_rule_file_free(f);
    /* only the first document counts, as in Prometheus */
    e = load("groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n---\n"
             "groups: [{name: a}, {name: a}]\n",
             &f);
    assert_string_equal(e, "");
    assert_int_equal(tw_rule_file_count_rules(f), 1);
    free(e);
    tw_rule_file_free(f);
}

static void test_merge_keys(void **state)
{
    (void)state;
    tw_rule_file_t *f = NULL;
    char *e = load("groups:\n"
                   "  - name: g\n"
                   "    rules:\n"
                   "      - &base\n"
                   "        alert: A\n"
                   "        expr: up\n"
                   "        labels: {severity: page}\n"
                   "      - <<: *base\n"
                   "        alert: B\n",
                   &f);
    assert_string_equal(e, "");
    free(e);
    assert_string_equal(f->groups[0].rules[1].name, "B");
    assert_string_equal(f->groups[0].rules[1].expr, "up");
    assert_string_equal(f->groups[0].rules[1].labels[0].value, "page");
    tw_rule_file_free(f);
}

static void test_decoding_errors(void **state)
{
    (void)state;
    expect("groups:\n  - name: yolo\n    rules:\n      - alert: hola\n        expr: up\n"
           "        labels:\n          a: b\n        annotation:\n          x: y\n",
           "f.yml: yaml: unmarshal errors:\n  line 8: field annotation not found in type "
           "rulefmt.RuleNode");
    expect("groups:\n  - name: a\n    namespace: x\n    rules: []\n  - name: b\n    owner: y\n",
           "f.yml: yaml: unmarshal errors:\n  line 3: field namespace not found in type "
           "rulefmt.RuleGroup\n  line 6: field owner not found in type rulefmt.RuleGroup");
    expect("groups:\n  - name: d\n    interval: 30 seconds\n    rules:\n      - alert: X\n"
           "        expr: up\n        for: 5 minutes\n",
           "f.yml: not a valid duration string: \"30 seconds\"");
    expect("groups:\n  - name: d\n    limit: many\n",
           "f.yml: yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `many` into int");
    /* a syntax error is printed twice, as rulefmt decodes twice */
    expect("groups:\n  - name: broken-yaml\n    rules:\n      - alert: Indented\n"
           "        expr: up == 0\n       for: 5m\n",
           "f.yml: yaml: line 3: did not find expected '-' indicator|"
           "f.yml: yaml: line 3: did not find expected '-' indicator");
}

static void test_validation_errors(void **state)
{
    (void)state;
    expect("groups:\n- name: yolo\n  rules: []\n- name: yolo\n  rules: []\n",
           "f.yml: 4:3: groupname: \"yolo\" is repeated in the same file");
    expect("groups:\n  - name: yolo\n    rules:\n      - record: Hello\n        alert: Hello\n"
           "        expr: up\n",
           "f.yml: 4:17: 5:16: group \"yolo\", rule 1, \"Hello\": only one of 'record' and "
           "'alert' must be set");
    expect("groups:\n  - name: yolo\n    rules:\n      - expr: up\n",
           "f.yml: 0:0: group \"yolo\", rule 1, \"\": one of 'record' or 'alert' must be set");
    expect("groups:\n  - name: yolo\n    rules:\n      - record: ylo\n",
           "f.yml: 0:0: group \"yolo\", rule 1, \"ylo\": field 'expr' must be set in rule");
    expect("groups:\n  - name: yolo\n    rules:\n      - record: yolo\n        expr: rate(hi)\n",
           "f.yml: 5:15: group \"yolo\", rule 1, \"yolo\": could not parse expression: 1:6: "
           "parse error: expected type range vector in call to function \"rate\", got instant "
           "vector");
    expect("groups:\n  - name: yolo\n    rules:\n      - record: Hello\n        expr: up\n"
           "        for: 1m\n        keep_firing_for: 1m\n",
           "f.yml: 4:17: group \"yolo\", rule 1, \"Hello\": invalid field 'for' in recording "
           "rule|f.yml: 4:17: group \"yolo\", rule 1, \"Hello\": invalid field 'keep_firing_for' "
           "in recording rule");
    expect("groups:\n  - name: yolo\n    rules:\n      - record: strawberry{flavor=\"sweet\"}\n"
           "        expr: up\n",
           "f.yml: 4:17: group \"yolo\", rule 1, \"strawberry{flavor=\\\"sweet\\\"}\": invalid "
           "recording rule name: strawberry{flavor=\"sweet\"}");
    expect("groups:\n  - name: yolo\n    rules:\n      - alert: hola\n        expr: up\n"
           "        labels:\n          __name__: x\n        annotations:\n          ins-tance: y\n",
           "f.yml: group \"yolo\", rule 1, \"hola\": invalid label name: __name__|"
           "f.yml: group \"yolo\", rule 1, \"hola\": invalid annotation name: ins-tance");
    expect("groups:\n  - name: t\n    rules:\n      - alert: UnmatchedEnd\n        expr: up\n"
           "        annotations:\n          description: 'x {{end}}'\n",
           "f.yml: group \"t\", rule 1, \"UnmatchedEnd\": annotation \"description\": template: "
           "__alert_UnmatchedEnd:1: unexpected {{end}}");
}

static void test_check_lint(void **state)
{
    (void)state;
    char path[] = "/tmp/tw-test-rule-check-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *w = fdopen(fd, "w");
    fputs("groups:\n  - name: a\n    rules:\n      - record: job:x\n        expr: up\n"
          "  - name: b\n    rules:\n      - record: job:x\n        expr: up\n"
          "      - alert: A\n        expr: up\n        labels: {severity: page}\n"
          "      - alert: A\n        expr: up\n        labels: {severity: page}\n",
          w);
    fclose(w);
    char *files[] = {path};
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&obuf, &olen);
    FILE *err = open_memstream(&ebuf, &elen);
    tw_rules_check_options_t o = {.check_expr = fake_check, .lint = 1};
    assert_int_equal(tw_rules_check_files(&o, files, 1, out, err), 0);
    o.lint_fatal = true;
    assert_int_equal(tw_rules_check_files(&o, files, 1, out, err), 3);
    o.lint = 0;
    assert_int_equal(tw_rules_check_files(&o, files, 1, out, err), 0);
    fclose(out);
    fclose(err);
    const char *want_err = "  FAILED:\nlint error 2 duplicate rule(s) found.\nMetric: A\n"
                           "Label(s):\n\tseverity: page\nMetric: job:x\nLabel(s):\n"
                           "Might cause inconsistency while recording expressions\n";
    assert_non_null(strstr(ebuf, want_err));
    assert_non_null(strstr(obuf, "  SUCCESS: 4 rules found\n"));
    free(obuf);
    free(ebuf);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),         cmocka_unit_test(test_empty_and_multi_doc),
        cmocka_unit_test(test_merge_keys),        cmocka_unit_test(test_decoding_errors),
        cmocka_unit_test(test_validation_errors), cmocka_unit_test(test_check_lint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
