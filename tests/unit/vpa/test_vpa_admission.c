/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vpa_admission.c - the admission webhook's pure part (vpa_admission.c): review parsing,
 * the JSON patch in upstream's order and wording, capping and proportional limits, the
 * fail-open answers, quantity formatting and base64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"

/* The lookup's world: one VPA, and what the lookup saw. */
typedef struct world {
    int answer; /* what lookup returns */
    tw_vpa_update_mode_t mode;
    const tw_vpa_policy_t *policy;
    tw_vpa_container_rec_t recs[4];
    size_t n_recs;
    bool has_recs;
    tw_vpa_limit_range_t container_lr;
    bool has_container_lr;
    /* seen */
    int lookups, releases;
    char seen_pod[128], seen_owner[128], seen_labels[256];
    size_t seen_containers;
    int64_t seen_cpu_request;
} world_t;

static int lookup(void *ctx, const tw_vpa_admission_pod_t *pod, tw_vpa_admission_match_t *out,
                  tw_error_t *err)
{
    world_t *w = ctx;
    w->lookups++;
    snprintf(w->seen_pod, sizeof(w->seen_pod), "%s/%s", pod->namespace, pod->name);
    snprintf(w->seen_owner, sizeof(w->seen_owner), "%s/%s", pod->owner_kind ? pod->owner_kind : "-",
             pod->owner_name ? pod->owner_name : "-");
    w->seen_labels[0] = '\0';
    for (size_t i = 0; i < pod->n_labels; i++) {
        size_t l = strlen(w->seen_labels);
        snprintf(w->seen_labels + l, sizeof(w->seen_labels) - l, "%s=%s;", pod->labels[i].name,
                 pod->labels[i].value);
    }
    w->seen_containers = pod->n_containers;
    w->seen_cpu_request = pod->n_containers && pod->containers[0].requests.has[TW_VPA_CPU]
                              ? pod->containers[0].requests.v[TW_VPA_CPU]
                              : -1;
    if (w->answer < 0) {
        return tw_error_set(err, w->answer, "vpa store unavailable");
    }
    if (w->answer == 1) {
        snprintf(out->vpa_name, sizeof(out->vpa_name), "web-vpa");
        out->mode = w->mode;
        out->policy = w->policy;
        out->recs = w->recs;
        out->n_recs = w->n_recs;
        out->has_recs = w->has_recs;
        out->container_lr = w->has_container_lr ? &w->container_lr : NULL;
    }
    return w->answer;
}

static void release(void *ctx, tw_vpa_admission_match_t *m)
{
    world_t *w = ctx;
    assert_string_equal(m->vpa_name, "web-vpa");
    w->releases++;
}

static void set_rec(world_t *w, size_t i, const char *name, int64_t cpu, int64_t mem)
{
    tw_vpa_container_rec_t *r = &w->recs[i];
    memset(r, 0, sizeof(*r));
    r->name = name;
    for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
        r->bound[b].has[TW_VPA_CPU] = r->bound[b].has[TW_VPA_MEMORY] = true;
        r->bound[b].v[TW_VPA_CPU] = cpu;
        r->bound[b].v[TW_VPA_MEMORY] = mem;
    }
    r->bound[TW_VPA_LOWER].v[TW_VPA_CPU] = cpu / 2;
    r->bound[TW_VPA_UPPER].v[TW_VPA_CPU] = cpu * 2;
    r->uncapped = r->bound[TW_VPA_TARGET];
    if (i + 1 > w->n_recs) {
        w->n_recs = i + 1;
    }
    w->has_recs = true;
}

static void review(world_t *w, const char *body, tw_vpa_admission_result_t *res)
{
    tw_error_t err;
    tw_error_clear(&err);
    assert_int_equal(tw_vpa_admission_review(body, strlen(body), lookup, release, w, res, &err), 0);
}

/* The response must carry uid, allowed and (when given) the base64 of patch. */
static void check_response(const tw_vpa_admission_result_t *res, const char *uid, const char *patch)
{
    char want[8192];
    if (patch != NULL) {
        char *b64 = tw_vpa_admission_base64(patch, strlen(patch));
        snprintf(want, sizeof(want),
                 "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
                 "\"response\":{\"uid\":\"%s\",\"allowed\":true,\"patch\":\"%s\","
                 "\"patchType\":\"JSONPatch\"}}",
                 uid, b64);
        free(b64);
        assert_non_null(res->patch);
        assert_string_equal(res->patch, patch);
    } else {
        snprintf(want, sizeof(want),
                 "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\","
                 "\"response\":{\"uid\":\"%s\",\"allowed\":true}}",
                 uid);
        assert_null(res->patch);
    }
    assert_string_equal(res->response, want);
    assert_int_equal(res->response_len, strlen(want));
}

static const char POD_WEB[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\","
    "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
    "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
    "\"namespace\":\"shop\",\"operation\":\"CREATE\",\"object\":{"
    "\"metadata\":{\"name\":\"web-1\",\"labels\":{\"app\":\"web\",\"tier\":\"fe\"},"
    "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-x\","
    "\"controller\":true}]},"
    "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"busybox\",\"resources\":{"
    "\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"},\"limits\":{\"cpu\":\"200m\"}}}]}}}}";

static void test_patch_requests_and_proportional_limit(void **state)
{
    (void)state;
    world_t w = {.answer = 1, .mode = TW_VPA_UPDATE_RECREATE};
    set_rec(&w, 0, "app", 250, 262144000);
    tw_vpa_admission_result_t res;
    review(&w, POD_WEB, &res);
    assert_int_equal(res.outcome, TW_VPA_ADMISSION_APPLIED);
    assert_string_equal(res.pod, "shop/web-1");
    assert_string_equal(res.vpa_name, "web-vpa");
    assert_string_equal(res.message, "");
    assert_string_equal(w.seen_pod, "shop/web-1");
    assert_string_equal(w.seen_owner, "ReplicaSet/web-x");
    assert_string_equal(w.seen_labels, "app=web;tier=fe;");
    assert_int_equal(w.seen_containers, 1);
    assert_int_equal(w.seen_cpu_request, 100);
    assert_int_equal(w.releases, 1);
    /* limit 200m/100m keeps its ratio: 500m; memory has no limit, so none is set */
    check_response(
        &res, "705ab4f5-6393-11e8-b7cc-42010a800002",
        "[{\"op\":\"add\",\"path\":\"/metadata/annotations\",\"value\":{}},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests/"
        "cpu\",\"value\":\"250m\"},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests/memory\","
        "\"value\":\"262144k\"},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/limits/cpu\",\"value\":\"500m\"},"
        "{\"op\":\"add\",\"path\":\"/metadata/annotations/vpaUpdates\",\"value\":\"Pod resources "
        "updated by web-vpa: container 0: cpu request, memory request, cpu limit\"},"
        "{\"op\":\"add\",\"path\":\"/metadata/annotations/vpaObservedContainers\","
        "\"value\":\"app\"}]");
    tw_vpa_admission_result_fini(&res);
}

static void test_patch_generate_name_capping_and_missing_rec(void **state)
{
    (void)state;
    /* maxAllowed cpu 1 for every container; "side" has no recommendation and no resources */
    tw_vpa_container_policy_t cp = {.name = "*"};
    cp.max_allowed.has[TW_VPA_CPU] = true;
    cp.max_allowed.v[TW_VPA_CPU] = 1000;
    tw_vpa_policy_t pol = {.containers = &cp, .n = 1};
    world_t w = {.answer = 1, .mode = TW_VPA_UPDATE_IN_PLACE_OR_RECREATE, .policy = &pol};
    set_rec(&w, 0, "app", 3500, 2000000000);
    const char *body =
        "{\"request\":{\"uid\":\"u2\",\"resource\":{\"group\":\"\",\"version\":\"v1\","
        "\"resource\":\"pods\"},\"object\":{\"metadata\":{\"generateName\":\"web-7d9f-\","
        "\"namespace\":\"shop\",\"annotations\":{\"a\":\"b\"}},\"spec\":{\"containers\":["
        "{\"name\":\"app\",\"resources\":{}},{\"name\":\"side\"}]}}}}";
    tw_vpa_admission_result_t res;
    review(&w, body, &res);
    assert_int_equal(res.outcome, TW_VPA_ADMISSION_APPLIED);
    assert_string_equal(res.pod, "shop/web-7d9f-%");
    assert_string_equal(w.seen_owner, "-/-");
    check_response(
        &res, "u2",
        "[{\"op\":\"add\",\"path\":\"/spec/containers/0/resources\",\"value\":{}},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests\",\"value\":{}},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests/cpu\",\"value\":\"1\"},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests/memory\","
        "\"value\":\"2G\"},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/1/resources\",\"value\":{}},"
        "{\"op\":\"add\",\"path\":\"/metadata/annotations/vpaUpdates\",\"value\":\"Pod resources "
        "updated by web-vpa: container 0: cpu capped to maxAllowed, cpu request, memory request; "
        "container 1: \"},"
        "{\"op\":\"add\",\"path\":\"/metadata/annotations/vpaObservedContainers\","
        "\"value\":\"app, side\"}]");
    tw_vpa_admission_result_fini(&res);
}

static void test_requests_only_and_limit_range_default(void **state)
{
    (void)state;
    const char *body =
        "{\"request\":{\"uid\":\"u3\",\"namespace\":\"shop\",\"resource\":{\"group\":\"\","
        "\"version\":\"v1\",\"resource\":\"pods\"},\"object\":{\"metadata\":{\"name\":\"p\","
        "\"annotations\":{}},\"spec\":{\"containers\":[{\"name\":\"app\",\"resources\":{"
        "\"requests\":{\"cpu\":\"100m\",\"memory\":\"100M\"}}}]}}}}";
    /* RequestsAndLimits with a LimitRange default limit of 300m: limit = 300m * 200/100 */
    world_t w = {.answer = 1, .mode = TW_VPA_UPDATE_RECREATE, .has_container_lr = true};
    w.container_lr.def.has[TW_VPA_CPU] = true;
    w.container_lr.def.v[TW_VPA_CPU] = 300;
    set_rec(&w, 0, "app", 200, 100000000);
    tw_vpa_admission_result_t res;
    review(&w, body, &res);
    check_response(
        &res, "u3",
        "[{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests/"
        "cpu\",\"value\":\"200m\"},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests/memory\","
        "\"value\":\"100M\"},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/limits\",\"value\":{}},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/limits/cpu\",\"value\":\"600m\"},"
        "{\"op\":\"add\",\"path\":\"/metadata/annotations/vpaUpdates\",\"value\":\"Pod resources "
        "updated by web-vpa: container 0: cpu request, memory request, cpu limit\"},"
        "{\"op\":\"add\",\"path\":\"/metadata/annotations/vpaObservedContainers\","
        "\"value\":\"app\"}]");
    tw_vpa_admission_result_fini(&res);
    /* RequestsOnly: the same pod gets requests only */
    tw_vpa_container_policy_t cp = {.name = "app", .requests_only = true};
    tw_vpa_policy_t pol = {.containers = &cp, .n = 1};
    w.policy = &pol;
    review(&w, body, &res);
    check_response(
        &res, "u3",
        "[{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests/"
        "cpu\",\"value\":\"200m\"},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests/memory\","
        "\"value\":\"100M\"},"
        "{\"op\":\"add\",\"path\":\"/metadata/annotations/vpaUpdates\",\"value\":\"Pod resources "
        "updated by web-vpa: container 0: cpu request, memory request\"},"
        "{\"op\":\"add\",\"path\":\"/metadata/annotations/vpaObservedContainers\","
        "\"value\":\"app\"}]");
    tw_vpa_admission_result_fini(&res);
}

static void test_skipped(void **state)
{
    (void)state;
    tw_vpa_admission_result_t res;
    /* no VPA */
    world_t w = {.answer = 0};
    review(&w, POD_WEB, &res);
    assert_int_equal(res.outcome, TW_VPA_ADMISSION_SKIPPED);
    assert_string_equal(res.vpa_name, "");
    assert_int_equal(w.releases, 0);
    check_response(&res, "705ab4f5-6393-11e8-b7cc-42010a800002", NULL);
    tw_vpa_admission_result_fini(&res);
    /* mode Off: matched, released, nothing patched */
    world_t off = {.answer = 1, .mode = TW_VPA_UPDATE_OFF};
    set_rec(&off, 0, "app", 250, 262144000);
    review(&off, POD_WEB, &res);
    assert_int_equal(res.outcome, TW_VPA_ADMISSION_SKIPPED);
    assert_string_equal(res.vpa_name, "web-vpa");
    assert_int_equal(off.releases, 1);
    check_response(&res, "705ab4f5-6393-11e8-b7cc-42010a800002", NULL);
    tw_vpa_admission_result_fini(&res);
    /* a VPA without a recommendation still records the observed containers */
    world_t norec = {.answer = 1, .mode = TW_VPA_UPDATE_INITIAL};
    review(&norec, POD_WEB, &res);
    assert_int_equal(res.outcome, TW_VPA_ADMISSION_APPLIED);
    check_response(&res, "705ab4f5-6393-11e8-b7cc-42010a800002",
                   "[{\"op\":\"add\",\"path\":\"/metadata/annotations\",\"value\":{}},"
                   "{\"op\":\"add\",\"path\":\"/metadata/annotations/vpaObservedContainers\","
                   "\"value\":\"app\"}]");
    tw_vpa_admission_result_fini(&res);
}

static void check_error(const char *body, const char *uid, const char *message)
{
    world_t w = {.answer = 1};
    set_rec(&w, 0, "app", 250, 262144000);
    tw_vpa_admission_result_t res;
    review(&w, body, &res);
    assert_int_equal(res.outcome, TW_VPA_ADMISSION_ERROR);
    assert_string_equal(res.message, message);
    assert_int_equal(w.lookups, 0);
    check_response(&res, uid, NULL);
    tw_vpa_admission_result_fini(&res);
}

static void test_errors_fail_open(void **state)
{
    (void)state;
    check_error("not json", "",
                "AdmissionReview: '[' or '{' expected near 'not' at line 1 column 3");
    check_error("{\"kind\":\"AdmissionReview\"}", "", "AdmissionReview: no request object");
    check_error("{\"request\":{\"uid\":\"d\",\"resource\":{\"group\":\"apps\",\"version\":\"v1\","
                "\"resource\":\"deployments\"}}}",
                "d", "not supported resource type: deployments.apps");
    check_error("{\"request\":{\"uid\":\"v\",\"resource\":{\"group\":\"\",\"version\":\"v2\","
                "\"resource\":\"pods\"}}}",
                "v", "only v1 Pods are supported");
    check_error("{\"request\":{\"uid\":\"q\",\"resource\":{\"group\":\"\",\"version\":\"v1\","
                "\"resource\":\"pods\"},\"object\":{\"metadata\":{\"name\":\"p\"},\"spec\":{"
                "\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"memory\":\"1Qi\"}}}"
                "]}}}}",
                "q",
                "spec.containers[0].resources.limits.memory: quantity \"1Qi\": quantities must "
                "match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTPE]*[-+]?[0-9]*)$'");
    check_error("{\"request\":{\"uid\":\"c\",\"resource\":{\"group\":\"\",\"version\":\"v1\","
                "\"resource\":\"pods\"},\"object\":{\"metadata\":{\"name\":\"p\"},\"spec\":{}}}}",
                "c", "spec.containers: want an array");
    /* a failing lookup */
    world_t w = {.answer = TW_ETRANSIENT};
    tw_vpa_admission_result_t res;
    review(&w, POD_WEB, &res);
    assert_int_equal(res.outcome, TW_VPA_ADMISSION_ERROR);
    assert_string_equal(res.message, "vpa store unavailable");
    check_response(&res, "705ab4f5-6393-11e8-b7cc-42010a800002", NULL);
    tw_vpa_admission_result_fini(&res);
    /* too large: refused outright */
    tw_error_t err;
    tw_error_clear(&err);
    assert_int_equal(tw_vpa_admission_review(POD_WEB, TW_VPA_ADMISSION_MAX_BYTES + 1u, lookup, NULL,
                                             &w, &res, &err),
                     TW_EINVAL);
    assert_null(res.response);
    tw_vpa_admission_result_fini(NULL);
}

static void test_quantity_and_base64(void **state)
{
    (void)state;
    char b[32];
    static const struct {
        tw_vpa_resource_t r;
        int64_t v;
        const char *want;
    } cases[] = {
        {TW_VPA_CPU, 0, "0"},
        {TW_VPA_CPU, 250, "250m"},
        {TW_VPA_CPU, 1000, "1"},
        {TW_VPA_CPU, 1500, "1500m"},
        {TW_VPA_CPU, 2000000, "2k"},
        {TW_VPA_MEMORY, 0, "0"},
        {TW_VPA_MEMORY, 1023, "1023"},
        {TW_VPA_MEMORY, 262144000, "262144k"},
        {TW_VPA_MEMORY, 1000000, "1M"},
        {TW_VPA_MEMORY, 67108864, "67108864"},
        {TW_VPA_MEMORY, INT64_C(3000000000000000000), "3E"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tw_vpa_admission_quantity(cases[i].r, cases[i].v, b, sizeof(b));
        assert_string_equal(b, cases[i].want);
    }
    static const char *const b64[][2] = {{"", ""},
                                         {"f", "Zg=="},
                                         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},
                                         {"foob", "Zm9vYg=="},
                                         {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(b64) / sizeof(b64[0]); i++) {
        char *s = tw_vpa_admission_base64(b64[i][0], strlen(b64[i][0]));
        assert_string_equal(s, b64[i][1]);
        free(s);
    }
    assert_string_equal(tw_vpa_admission_outcome_name(TW_VPA_ADMISSION_APPLIED), "applied");
    assert_string_equal(tw_vpa_admission_outcome_name(TW_VPA_ADMISSION_SKIPPED), "skipped");
    assert_string_equal(tw_vpa_admission_outcome_name(TW_VPA_ADMISSION_ERROR), "error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patch_requests_and_proportional_limit),
        cmocka_unit_test(test_patch_generate_name_capping_and_missing_rec),
        cmocka_unit_test(test_requests_only_and_limit_range_default),
        cmocka_unit_test(test_skipped),
        cmocka_unit_test(test_errors_fail_open),
        cmocka_unit_test(test_quantity_and_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
