/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_fake_json.c - the fake apiserver's JSON helpers: merge, JSON and strategic merge
 * patches, label/field selectors, Scale selector strings, the seed reader and age formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/fakes/kube_fake.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, 0, &e);
    assert_non_null(v);
    return v;
}

/* Asserts that got (stolen) equals the JSON text want. */
static void assert_json(json_t *got, const char *want)
{
    assert_non_null(got);
    json_t *w = J(want);
    if (!json_equal(got, w)) {
        char *s = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        print_error("got %s\nwant %s\n", s, want);
        free(s);
        fail();
    }
    json_decref(w);
    json_decref(got);
}

static void test_merge_patch(void **state)
{
    (void)state;
    json_t *t = J("{\"spec\":{\"replicas\":3,\"paused\":true},\"metadata\":{\"name\":\"a\"}}");
    json_t *p = J("{\"spec\":{\"replicas\":5,\"paused\":null},\"x\":[1]}");
    assert_json(tw_kfake_patch_merge(t, p),
                "{\"spec\":{\"replicas\":5},\"metadata\":{\"name\":\"a\"},\"x\":[1]}");
    /* the target is not modified */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(t, "spec"), "replicas")),
                     3);
    json_decref(t);
    json_decref(p);
}

static void test_json_patch(void **state)
{
    (void)state;
    char msg[TW_KFAKE_MSG];
    json_t *t = J("{\"spec\":{\"replicas\":3,\"l\":[1,2]},\"a/b\":1}");
    json_t *ops = J("[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":2},"
                    "{\"op\":\"add\",\"path\":\"/spec/l/-\",\"value\":3},"
                    "{\"op\":\"remove\",\"path\":\"/a~1b\"},"
                    "{\"op\":\"test\",\"path\":\"/spec/l/0\",\"value\":1},"
                    "{\"op\":\"copy\",\"from\":\"/spec/replicas\",\"path\":\"/n\"}]");
    assert_json(tw_kfake_patch_json(t, ops, msg),
                "{\"spec\":{\"replicas\":2,\"l\":[1,2,3]},\"n\":2}");
    json_decref(ops);
    ops = J("[{\"op\":\"replace\",\"path\":\"/spec/nope\",\"value\":2}]");
    assert_null(tw_kfake_patch_json(t, ops, msg));
    assert_string_equal(msg, "replace operation does not apply: doc is missing path: "
                             "\"/spec/nope\"");
    json_decref(ops);
    json_decref(t);
}

static void test_strategic_patch(void **state)
{
    (void)state;
    char msg[TW_KFAKE_MSG];
    json_t *t =
        J("{\"containers\":[{\"name\":\"a\",\"image\":\"a:1\",\"ports\":"
          "[{\"containerPort\":80,\"protocol\":\"TCP\"}]},{\"name\":\"b\",\"image\":\"b:1\"}],"
          "\"args\":[\"x\"]}");
    json_t *p = J("{\"containers\":[{\"name\":\"b\",\"image\":\"b:2\"},{\"name\":\"a\",\"ports\":"
                  "[{\"containerPort\":81}]},{\"name\":\"c\",\"image\":\"c:1\"}],"
                  "\"$setElementOrder/containers\":[{\"name\":\"a\"}],\"args\":[\"y\"]}");
    assert_json(tw_kfake_patch_strategic(t, p, msg),
                "{\"containers\":[{\"name\":\"a\",\"image\":\"a:1\",\"ports\":[{\"containerPort\":"
                "80,\"protocol\":\"TCP\"},{\"containerPort\":81}]},{\"name\":\"b\",\"image\":"
                "\"b:2\"},{\"name\":\"c\",\"image\":\"c:1\"}],\"args\":[\"y\"]}");
    json_decref(p);
    p = J("{\"containers\":[{\"name\":\"a\",\"$patch\":\"delete\"}]}");
    assert_json(tw_kfake_patch_strategic(t, p, msg),
                "{\"containers\":[{\"name\":\"b\",\"image\":\"b:1\"}],\"args\":[\"x\"]}");
    json_decref(p);
    json_decref(t);
}

static bool sel_match(const char *sel, bool field, const char *obj)
{
    char msg[TW_KFAKE_MSG];
    tw_kfake_selector_t *s = NULL;
    assert_int_equal(tw_kfake_selector_parse(sel, field, &s, msg), 0);
    json_t *o = J(obj);
    bool m = tw_kfake_selector_match(s, o);
    json_decref(o);
    tw_kfake_selector_free(s);
    return m;
}

static void test_selectors(void **state)
{
    (void)state;
    const char *pod = "{\"metadata\":{\"labels\":{\"app\":\"api\",\"tier\":\"be\",\"n\":\"3\"}},"
                      "\"spec\":{\"nodeName\":\"node-a\"},\"status\":{\"phase\":\"Running\"}}";
    assert_true(sel_match("", false, pod));
    assert_true(sel_match("app=api", false, pod));
    assert_true(sel_match("app==api,tier", false, pod));
    assert_false(sel_match("app!=api", false, pod));
    assert_true(sel_match("app in (web, api),!missing", false, pod));
    assert_false(sel_match("app notin (api)", false, pod));
    assert_true(sel_match("n>2,n<4", false, pod));
    assert_false(sel_match("tier,missing", false, pod));
    assert_true(sel_match("spec.nodeName=node-a,status.phase!=Pending", true, pod));
    assert_false(sel_match("spec.nodeName=node-b", true, pod));
    char msg[TW_KFAKE_MSG];
    tw_kfake_selector_t *s = NULL;
    assert_int_equal(tw_kfake_selector_parse("app in (a", false, &s, msg), -1);
    assert_string_equal(msg, "unable to parse requirement: found ' ', expected: ',' or ')'");
    assert_int_equal(tw_kfake_selector_parse("app=a,", false, &s, msg), -1);
    assert_null(s);
}

static void test_selector_format(void **state)
{
    (void)state;
    json_t *ls = J("{\"matchLabels\":{\"tier\":\"be\",\"app\":\"api\"},\"matchExpressions\":"
                   "[{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"prod\",\"dev\"]},"
                   "{\"key\":\"zz\",\"operator\":\"DoesNotExist\"}]}");
    char *s = tw_kfake_selector_format(ls);
    assert_string_equal(s, "app=api,env in (dev,prod),tier=be,!zz");
    free(s);
    json_decref(ls);
    s = tw_kfake_selector_format(NULL);
    assert_string_equal(s, "");
    free(s);
}

static void test_yaml_seed(void **state)
{
    (void)state;
    char msg[TW_KFAKE_MSG];
    json_t *docs = json_array();
    assert_int_equal(tw_kfake_yaml_load(TW_SHARED "/conformance/fixtures/kubernetes/seed/"
                                                  "ecommerce.yaml",
                                        docs, msg),
                     0);
    assert_int_equal(json_array_size(docs), 4);
    json_t *api = json_array_get(docs, 2);
    assert_string_equal(json_string_value(json_object_get(api, "kind")), "Deployment");
    json_t *spec = json_object_get(api, "spec");
    assert_int_equal(json_integer_value(json_object_get(spec, "replicas")), 5);
    json_t *c = json_array_get(
        json_object_get(json_object_get(json_object_get(spec, "template"), "spec"), "containers"),
        0);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(c, "resources"), "limits"), "memory")),
                        "1Gi");
    json_decref(docs);
    docs = json_array();
    assert_int_equal(tw_kfake_yaml_load("/nonexistent/seed.yaml", docs, msg), -1);
    assert_string_equal(msg, "/nonexistent/seed.yaml: No such file or directory");
    json_decref(docs);
}

static void test_human_duration(void **state)
{
    (void)state;
    static const struct {
        long long s;
        const char *want;
    } cases[] = {{-5, "<invalid>"},
                 {-1, "0s"},
                 {0, "0s"},
                 {119, "119s"},
                 {130, "2m10s"},
                 {600, "10m"},
                 {3 * 3600, "3h"},
                 {3 * 3600 + 60, "3h1m"},
                 {86400, "24h"},
                 {3 * 86400, "3d"},
                 {86400 * 329, "329d"},
                 {86400 * 800, "2y70d"},
                 {86400 * 365 * 9, "9y"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        tw_kfake_human_duration(cases[i].s, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
}

static void test_base64_decode(void **state)
{
    (void)state;
    static const char *const cases[][2] = {{"", ""},
                                           {"Zg==", "f"},
                                           {"Zm8=", "fo"},
                                           {"Zm9v", "foo"},
                                           {"Zm9vYg==", "foob"},
                                           {"Zm9vYmE=", "fooba"},
                                           {"Zm9vYmFy", "foobar"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = 99;
        unsigned char *d = tw_kfake_base64_decode(cases[i][0], &n);
        assert_non_null(d);
        assert_int_equal(n, strlen(cases[i][1]));
        assert_memory_equal(d, cases[i][1], n);
        free(d);
    }
    static const char *const bad[] = {"Zg=", "Z===", "Zg=a", "Z!==", "Zg==Zg=="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = 0;
        assert_null(tw_kfake_base64_decode(bad[i], &n));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_patch),     cmocka_unit_test(test_json_patch),
        cmocka_unit_test(test_strategic_patch), cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_selector_format), cmocka_unit_test(test_yaml_seed),
        cmocka_unit_test(test_human_duration),  cmocka_unit_test(test_base64_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
