/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scalers_template.c - the metric_queries template expander, the label selector to PromQL
 * matcher conversion, the unit conversions and the `autoscaling.metric_queries` YAML parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/scalers/scalers.h"

/* Expands tmpl with v into a fresh buffer; returns the code, the text in *out (caller frees). */
static int expand(const char *tmpl, const tw_scalers_vars_t *v, size_t max, char **out,
                  tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, max);
    tw_error_clear(err);
    int rc = tw_scalers_template_expand(tmpl, strlen(tmpl), v, &b, err);
    *out = tw_buf_steal(&b, NULL);
    tw_buf_fini(&b);
    return rc;
}

static int matchers(const char *sel, char **out, tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, 4096);
    tw_error_clear(err);
    int rc = tw_scalers_selector_to_matchers(sel, strlen(sel), &b, err);
    *out = tw_buf_steal(&b, NULL);
    tw_buf_fini(&b);
    return rc;
}

static void test_expand_all_placeholders(void **state)
{
    (void)state;
    const char *pods[] = {"web-1", "web.2"};
    tw_scalers_vars_t v = {.namespace = "prod",
                           .pod_names = pods,
                           .n_pods = 2,
                           .object_kind = "Service",
                           .object_name = "front",
                           .label_selector = "tier in (b,a),app=web"};
    char *s = NULL;
    tw_error_t err;
    assert_int_equal(expand("q{namespace=\"{{.Namespace}}\",pod=~\"{{ .PodSelector }}\","
                            "kind=\"{{.ObjectKind}}\",name=\"{{.ObjectName}}\",{{.LabelSelector}}}",
                            &v, 4096, &s, &err),
                     0);
    assert_string_equal(s, "q{namespace=\"prod\",pod=~\"web-1|web\\\\.2\",kind=\"Service\","
                           "name=\"front\",app=\"web\",tier=~\"a|b\"}");
    free(s);

    /* unset values expand to nothing; text without placeholders is copied as is */
    tw_scalers_vars_t none = {0};
    assert_int_equal(expand("sum(x{ {{.LabelSelector}} }) by (pod) # }}", &none, 4096, &s, &err),
                     0);
    assert_string_equal(s, "sum(x{  }) by (pod) # }}");
    free(s);
}

static void test_expand_escapes(void **state)
{
    (void)state;
    const char *pods[] = {"a\"b", "c\\d", "e+f(g)"};
    tw_scalers_vars_t v = {.namespace = "x\"} or vector(1) #\n", .pod_names = pods, .n_pods = 3};
    char *s = NULL;
    tw_error_t err;
    assert_int_equal(expand("{{.Namespace}}|{{.PodSelector}}", &v, 4096, &s, &err), 0);
    /* the namespace cannot close the string; regex metacharacters are escaped twice */
    assert_string_equal(s, "x\\\"} or vector(1) #\\n|a\\\"b|c\\\\\\\\d|e\\\\+f\\\\(g\\\\)");
    free(s);
}

static void test_template_errors(void **state)
{
    (void)state;
    tw_error_t err;
    const char *t = "rate(x{a=\"{{.Foo}}\"}[1m])";
    assert_int_equal(tw_scalers_template_check(t, strlen(t), &err), TW_EINVAL);
    assert_string_equal(err.msg, "unknown placeholder \"{{.Foo}}\" at offset 10; expected one of "
                                 "{{.Namespace}}, {{.PodSelector}}, {{.ObjectName}}, "
                                 "{{.ObjectKind}}, {{.LabelSelector}}");
    t = "x{a=\"{{.Namespace\"}";
    assert_int_equal(tw_scalers_template_check(t, strlen(t), &err), TW_EINVAL);
    assert_string_equal(err.msg, "unclosed placeholder at offset 5: missing \"}}\"");
    assert_int_equal(tw_scalers_template_check("  \n", 3, &err), TW_EINVAL);
    assert_string_equal(err.msg, "empty query template");
    assert_int_equal(tw_scalers_template_check("up\0x", 4, &err), TW_EINVAL);
    assert_string_equal(err.msg, "query template contains a NUL byte");
    t = "up{namespace=\"{{.Namespace}}\"}";
    assert_int_equal(tw_scalers_template_check(t, strlen(t), &err), 0);

    /* the limit of the output buffer */
    char *s = NULL;
    tw_scalers_vars_t v = {.namespace = "a-rather-long-namespace"};
    assert_int_equal(expand("up{namespace=\"{{.Namespace}}\"}", &v, 16, &s, &err), TW_ELIMIT);
    assert_string_equal(err.msg, "query longer than 16 bytes after expansion");
    free(s);
    /* a bad selector makes the expansion fail */
    v.label_selector = "a>1";
    assert_int_equal(expand("up{ {{.LabelSelector}} }", &v, 4096, &s, &err), TW_EINVAL);
    assert_string_equal(err.msg,
                        "label selector: operator not supported by query builder at offset 1");
    free(s);
}

static void test_selector_to_matchers(void **state)
{
    (void)state;
    char *s = NULL;
    tw_error_t err;
    assert_int_equal(
        matchers(" tier in (b, a, b),app=web,!debug, env ,x!=y,k==v,n notin (z)", &s, &err), 0);
    assert_string_equal(s, "app=\"web\",debug=\"\",env!=\"\",k=\"v\",n!~\"z\",tier=~\"a|b\","
                           "x!=\"y\"");
    free(s);
    assert_int_equal(matchers("", &s, &err), 0);
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(matchers("a=", &s, &err), 0);
    assert_string_equal(s, "a=\"\"");
    free(s);

    struct {
        const char *sel;
        const char *msg;
    } bad[] = {
        {"a>1", "label selector: operator not supported by query builder at offset 1"},
        {"app.kubernetes.io/name=x",
         "label selector: key \"app.kubernetes.io/name\" is not a valid Prometheus label name"},
        {"a in ()", "label selector: for 'in', 'notin' operators, values set can't be empty"},
        {"a in (x", "label selector: expected ',' or ')' at offset 7"},
        {"a in x", "label selector: expected '(' at offset 5"},
        {"a,", "label selector: expected a requirement after ',' at offset 2"},
        {"a b", "label selector: expected one of '=', '==', '!=', 'in', 'notin' at offset 2"},
        {"a!b", "label selector: expected '=' at offset 2"},
        {"=x", "label selector: expected a label key at offset 0"},
        {"a=b c", "label selector: expected ',' at offset 4"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(matchers(bad[i].sel, &s, &err), TW_EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
        free(s);
    }
}

static void test_conversions(void **state)
{
    (void)state;
    int64_t m = 0;
    assert_true(tw_scalers_cpu_milli(0.25, &m));
    assert_int_equal(m, 250);
    assert_true(tw_scalers_cpu_milli(0.0000001, &m)); /* 100 nanocores round up to 1m */
    assert_int_equal(m, 1);
    assert_true(tw_scalers_cpu_milli(0.1000001, &m));
    assert_int_equal(m, 101);
    assert_true(tw_scalers_cpu_milli(0, &m));
    assert_int_equal(m, 0);
    assert_true(tw_scalers_cpu_milli(1e300, &m));
    assert_int_equal(m, INT64_MAX);
    assert_false(tw_scalers_cpu_milli(-0.5, &m));
    assert_false(tw_scalers_cpu_milli(NAN, &m));
    assert_false(tw_scalers_cpu_milli(INFINITY, &m));

    assert_true(tw_scalers_bytes_milli(1048576, &m));
    assert_int_equal(m, 1048576000);
    assert_true(tw_scalers_bytes_milli(1.9, &m));
    assert_int_equal(m, 1000);
    assert_true(tw_scalers_bytes_milli(1e17, &m));
    assert_int_equal(m, INT64_MAX);
    assert_false(tw_scalers_bytes_milli(-1, &m));

    assert_true(tw_scalers_value_milli(1.9999, &m));
    assert_int_equal(m, 1999);
    assert_true(tw_scalers_value_milli(-1.5, &m));
    assert_int_equal(m, -1500);
    assert_true(tw_scalers_value_milli(1e300, &m));
    assert_int_equal(m, INT64_MAX);
    assert_true(tw_scalers_value_milli(-1e300, &m));
    assert_int_equal(m, INT64_MIN);
    assert_false(tw_scalers_value_milli(NAN, &m));
    assert_false(tw_scalers_value_milli(-INFINITY, &m));
}

/* Parses `metric_queries:` out of a YAML text into c. */
static int parse(const char *yaml, tw_scalers_config_t *c, tw_error_t *err)
{
    tw_yaml_doc_t *doc = NULL;
    tw_error_clear(err);
    int rc = tw_yaml_doc_parse(yaml, strlen(yaml), "t.yml", &doc, err);
    assert_int_equal(rc, 0);
    const tw_yaml_node_t *root = tw_yaml_doc_root(doc);
    tw_yaml_walk_t w = {.file = "t.yml", .err = err};
    static const char *const keys[] = {"metric_queries"};
    const tw_yaml_node_t *v[1];
    rc = tw_yaml_fields(&w, root, NULL, keys, 1, v);
    if (rc == 0) {
        rc = tw_scalers_queries_from_yaml(&w, v[0], "autoscaling.metric_queries", c);
    }
    tw_yaml_doc_free(doc);
    return rc;
}

static void test_config_parse_and_find(void **state)
{
    (void)state;
    tw_scalers_config_t c;
    tw_scalers_config_init(&c);
    assert_int_equal(c.resource_window_ms, 60000);
    tw_error_t err;
    assert_int_equal(parse("metric_queries:\n"
                           "  - name: rps\n"
                           "    query: 'sum by (pod) (rate(x{pod=~\"{{.PodSelector}}\"}[2m]))'\n"
                           "  - name: rps\n"
                           "    type: External\n"
                           "    query: sum(rate(x[2m]))\n"
                           "  - name: depth\n"
                           "    type: Object\n"
                           "    query: q{name=\"{{.ObjectName}}\"}\n",
                           &c, &err),
                     0);
    assert_int_equal(c.n_queries, 3);
    assert_string_equal(c.queries[2].query, "q{name=\"{{.ObjectName}}\"}");
    assert_int_equal(c.queries[1].line, 4);
    assert_int_equal(c.queries[1].col, 5);
    /* a typed entry wins over an untyped one; an untyped one serves every kind */
    assert_ptr_equal(tw_scalers_query_find(&c, "rps", TW_SCALERS_KIND_EXTERNAL), &c.queries[1]);
    assert_ptr_equal(tw_scalers_query_find(&c, "rps", TW_SCALERS_KIND_PODS), &c.queries[0]);
    assert_ptr_equal(tw_scalers_query_find(&c, "depth", TW_SCALERS_KIND_OBJECT), &c.queries[2]);
    assert_null(tw_scalers_query_find(&c, "depth", TW_SCALERS_KIND_PODS));
    assert_null(tw_scalers_query_find(&c, "nope", TW_SCALERS_KIND_PODS));

    /* an error leaves the old table alone; null empties it */
    assert_int_equal(parse("metric_queries: 3\n", &c, &err), TW_EINVAL);
    assert_int_equal(c.n_queries, 3);
    assert_int_equal(parse("metric_queries:\n", &c, &err), 0);
    assert_int_equal(c.n_queries, 0);
    tw_scalers_config_fini(&c);
    tw_scalers_config_fini(NULL);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct {
        const char *yaml;
        int line, col;
        const char *msg;
    } cases[] = {
        {"metric_queries: {a: 1}\n", 1, 17,
         "autoscaling.metric_queries: expected a list of {name, query} entries, got a mapping"},
        {"metric_queries:\n  - rps\n", 2, 5,
         "autoscaling.metric_queries[0]: expected a mapping with name and query, got \"rps\""},
        {"metric_queries:\n  - name: a\n    query: up\n    window: 1m\n", 4, 5,
         "unknown key \"window\" in autoscaling.metric_queries[0] (expected one of name, type, "
         "query)"},
        {"metric_queries:\n  - query: up\n", 2, 5,
         "autoscaling.metric_queries[0].name: name is required"},
        {"metric_queries:\n  - name: a\n", 2, 5,
         "autoscaling.metric_queries[0].query: query is required"},
        {"metric_queries:\n  - name: a\n    type: pods\n    query: up\n", 3, 11,
         "autoscaling.metric_queries[0].type: expected one of Pods, Object, External, got "
         "\"pods\""},
        {"metric_queries:\n  - name: a\n    query: 'up{a=\"{{.Pod}}\"}'\n", 3, 12,
         "autoscaling.metric_queries[0].query: unknown placeholder \"{{.Pod}}\" at offset 6; "
         "expected one of {{.Namespace}}, {{.PodSelector}}, {{.ObjectName}}, {{.ObjectKind}}, "
         "{{.LabelSelector}}"},
        {"metric_queries:\n  - name: a\n    type: Pods\n    query: up\n"
         "  - {name: a, type: Pods, query: down}\n",
         5, 5,
         "autoscaling.metric_queries[1]: duplicate entry for metric \"a\" (Pods); the first is at "
         "line 2, column 5"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tw_scalers_config_t c;
        tw_scalers_config_init(&c);
        tw_error_t err;
        assert_int_equal(parse(cases[i].yaml, &c, &err), TW_EINVAL);
        assert_string_equal(err.msg, cases[i].msg);
        assert_int_equal(err.line, cases[i].line);
        assert_int_equal(err.col, cases[i].col);
        assert_string_equal(err.file, "t.yml");
        assert_int_equal(c.n_queries, 0);
        tw_scalers_config_fini(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_all_placeholders),
        cmocka_unit_test(test_expand_escapes),
        cmocka_unit_test(test_template_errors),
        cmocka_unit_test(test_selector_to_matchers),
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_config_parse_and_find),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
