/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vpa_manifest.c - VerticalPodAutoscaler manifests (vpa_manifest.c): the seed fixture
 * api-vpa.yaml parses with its policy; defaults (Recreate, both resources controlled); Auto is
 * deprecated with a warning; every validation error names the field path and the node's
 * line:column (min above max, bad modes, minReplicas, missing targetRef); bundles skip other
 * kinds; and the recommender options read the upstream flags with their defaults.
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
#include "common/yaml_tree.h"

#define HEAD                                                                                       \
    "apiVersion: autoscaling.k8s.io/v1\n"                                                          \
    "kind: VerticalPodAutoscaler\n"                                                                \
    "metadata: {name: api-vpa, namespace: ecommerce}\n"

static int parse(const char *yaml, tw_vpa_manifest_list_t *l, tw_error_t *err)
{
    memset(l, 0, sizeof(*l));
    tw_error_clear(err);
    return tw_vpa_manifests_parse(yaml, strlen(yaml), "vpa.yaml", l, err);
}

static void test_seed_fixture(void **state)
{
    (void)state;
    tw_vpa_manifest_list_t l;
    tw_error_t err;
    tw_error_clear(&err);
    assert_int_equal(tw_vpa_manifests_load(
                         TW_SHARED "/conformance/fixtures/kubernetes/seed/api-vpa.yaml", &l, &err),
                     0);
    assert_int_equal(l.n, 1);
    const tw_vpa_manifest_t *m = l.items[0];
    assert_string_equal(m->name, "api-vpa");
    assert_string_equal(m->namespace, "ecommerce");
    assert_string_equal(m->target.kind, "Deployment");
    assert_string_equal(m->target.name, "api");
    assert_int_equal(m->mode, TW_VPA_UPDATE_AUTO);
    assert_true(m->mode_deprecated);
    assert_non_null(strstr(m->warning, "deprecated"));
    assert_int_equal(m->policy.n, 1);
    const tw_vpa_container_policy_t *p = tw_vpa_manifest_policy(m, "api", NULL);
    assert_non_null(p);
    assert_int_equal(p->max_allowed.v[TW_VPA_CPU], 1000);
    assert_int_equal(p->max_allowed.v[TW_VPA_MEMORY], INT64_C(2147483648));
    assert_int_equal(p->min_allowed.v[TW_VPA_CPU], 100);
    assert_int_equal(p->min_allowed.v[TW_VPA_MEMORY], INT64_C(134217728));
    assert_false(p->requests_only);
    assert_null(tw_vpa_manifest_policy(m, "other", NULL));
    assert_true(tw_vpa_manifest_controls(m, "api", TW_VPA_MEMORY));
    tw_vpa_manifest_list_fini(&l);
}

static void test_defaults_and_bundle(void **state)
{
    (void)state;
    tw_vpa_manifest_list_t l;
    tw_error_t err;
    const char *y =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\n" HEAD "spec:\n"
        "  targetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}\n"
        "  resourcePolicy:\n"
        "    containerPolicies:\n"
        "      - containerName: '*'\n"
        "        controlledResources: [memory]\n"
        "        controlledValues: RequestsOnly\n"
        "      - containerName: sidecar\n"
        "        mode: \"Off\"\n";
    assert_int_equal(parse(y, &l, &err), 0);
    assert_int_equal(l.n, 1);
    const tw_vpa_manifest_t *m = l.items[0];
    assert_int_equal(m->line, 5);
    assert_int_equal(m->mode, TW_VPA_UPDATE_RECREATE);
    assert_false(m->has_update_policy);
    assert_string_equal(m->warning, "");
    assert_false(tw_vpa_manifest_controls(m, "app", TW_VPA_CPU));
    assert_true(tw_vpa_manifest_controls(m, "app", TW_VPA_MEMORY));
    assert_false(tw_vpa_manifest_controls(m, "sidecar", TW_VPA_MEMORY));
    assert_true(tw_vpa_manifest_policy(m, "app", NULL)->requests_only);
    tw_vpa_manifest_list_fini(&l);
}

static void test_update_policy(void **state)
{
    (void)state;
    tw_vpa_manifest_list_t l;
    tw_error_t err;
    const char *y = HEAD "spec:\n"
                         "  targetRef: {kind: Deployment, name: api}\n"
                         "  updatePolicy:\n"
                         "    updateMode: InPlaceOrRecreate\n"
                         "    minReplicas: 1\n"
                         "    evictionRequirements:\n"
                         "      - resources: [cpu, memory]\n"
                         "        changeRequirement: TargetLowerThanRequests\n";
    assert_int_equal(parse(y, &l, &err), 0);
    const tw_vpa_manifest_t *m = l.items[0];
    assert_int_equal(m->mode, TW_VPA_UPDATE_IN_PLACE_OR_RECREATE);
    assert_true(m->has_min_replicas);
    assert_int_equal(m->min_replicas, 1);
    assert_int_equal(m->n_eviction_reqs, 1);
    assert_true(m->eviction_reqs[0].resources[TW_VPA_CPU]);
    assert_int_equal(m->eviction_reqs[0].change, TW_VPA_TARGET_LOWER_THAN_REQUESTS);
    tw_vpa_manifest_list_fini(&l);
}

/* Parses y, expects TW_EINVAL with msg at line:col. */
static void expect_error(const char *y, int line, int col, const char *msg)
{
    tw_vpa_manifest_list_t l;
    tw_error_t err;
    int rc = parse(y, &l, &err);
    if (rc == 0 || strcmp(err.msg, msg) != 0 || err.line != line || err.col != col) {
        fprintf(stderr, "got rc=%d %d:%d %s\nwant %d:%d %s\n", rc, err.line, err.col, err.msg, line,
                col, msg);
    }
    assert_int_equal(rc, TW_EINVAL);
    assert_int_equal(l.n, 0);
    assert_string_equal(err.msg, msg);
    assert_int_equal(err.line, line);
    assert_int_equal(err.col, col);
}

static void test_min_above_max(void **state)
{
    (void)state;
    expect_error(HEAD "spec:\n"
                      "  targetRef: {kind: Deployment, name: api}\n"
                      "  resourcePolicy:\n"
                      "    containerPolicies:\n"
                      "      - containerName: api\n"
                      "        minAllowed: {cpu: '2', memory: 1Gi}\n"
                      "        maxAllowed:\n"
                      "          cpu: 500m\n",
                 11, 16,
                 "spec.resourcePolicy.containerPolicies[0].maxAllowed.cpu: max resource for cpu "
                 "is lower than min");
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(HEAD "spec:\n  targetRef: {kind: Deployment, name: api}\n"
                      "  updatePolicy: {updateMode: Sometimes}\n",
                 6, 30,
                 "spec.updatePolicy.updateMode: unexpected UpdateMode value Sometimes "
                 "(supported: Off, Initial, Recreate, Auto, InPlaceOrRecreate)");
    expect_error(HEAD "spec:\n  targetRef: {kind: Deployment, name: api}\n"
                      "  updatePolicy: {updateMode: Recreate, minReplicas: 0}\n",
                 6, 53, "spec.updatePolicy.minReplicas: minReplicas has to be positive, got 0");
    expect_error(HEAD "spec:\n  targetRef: {kind: Deployment, name: api}\n"
                      "  updatePolicy: {minReplicas: 2}\n",
                 6, 17, "spec.updatePolicy: updateMode is required if UpdatePolicy is used");
    expect_error(HEAD "spec:\n  updatePolicy: {updateMode: \"Off\"}\n", 5, 3,
                 "spec.targetRef: targetRef is required. If you're using v1beta1 version of the "
                 "API, please migrate to v1");
    expect_error(HEAD "spec:\n  targetRef: {kind: Deployment, name: api}\n"
                      "  resourcePolicy:\n    containerPolicies:\n"
                      "      - {containerName: api, mode: Sometimes}\n",
                 8, 36,
                 "spec.resourcePolicy.containerPolicies[0].mode: unexpected Mode value Sometimes "
                 "(supported: Auto, Off)");
    expect_error(HEAD "spec:\n  targetRef: {kind: Deployment, name: api}\n"
                      "  resourcePolicy:\n    containerPolicies:\n"
                      "      - {containerName: api, mode: 'Off', controlledValues: "
                      "RequestsAndLimits}\n",
                 8, 61,
                 "spec.resourcePolicy.containerPolicies[0].controlledValues: controlledValues "
                 "shouldn't be specified if container scaling mode is off");
    expect_error(HEAD "spec:\n  targetRef: {kind: Deployment, name: api}\n"
                      "  resourcePolicy:\n    containerPolicies:\n"
                      "      - {containerName: api, maxAllowed: {gpu: 1}}\n",
                 8, 43,
                 "spec.resourcePolicy.containerPolicies[0].maxAllowed: Unsupported value: "
                 "\"gpu\": supported values: \"cpu\", \"memory\"");
    expect_error(HEAD "spec:\n  targetRef: {kind: Deployment, name: api}\n"
                      "  resourcePolicy:\n    containerPolicies:\n"
                      "      - {containerName: api}\n      - {containerName: api}\n",
                 9, 25,
                 "spec.resourcePolicy.containerPolicies[1].containerName: Duplicate value: \"api\" "
                 "(also in entry 0)");
    expect_error(HEAD "spec:\n  targetRef: {kind: Deployment, name: api}\n  replicas: 3\n", 6, 3,
                 "unknown key \"replicas\" in spec (expected one of targetRef, updatePolicy, "
                 "resourcePolicy, recommenders, startupBoost)");
    expect_error(
        "apiVersion: autoscaling.k8s.io/v1beta2\nkind: VerticalPodAutoscaler\n", 1, 13,
        "apiVersion: expected \"autoscaling.k8s.io/v1\", got \"autoscaling.k8s.io/v1beta2\"");
}

static void test_options(void **state)
{
    (void)state;
    tw_vpa_options_t o;
    tw_yaml_doc_t *doc = NULL;
    tw_error_t err;
    tw_vpa_options_init(&o);
    assert_int_equal(o.interval_ms, 60000);
    assert_int_equal(o.history_length_ms, INT64_C(691200000));
    assert_int_equal(o.history_resolution_ms, 3600000);
    assert_true(o.rec.target_cpu_percentile == 0.9);
    assert_int_equal(o.model.memory_interval_count, 8);
    assert_int_equal(o.restriction.min_replicas, 2);
    const char *y = "recommender_interval: 30s\nhistory_length: 2d\ntarget_cpu_percentile: 0.8\n"
                    "oom_min_bump_up_bytes: 200Mi\ncontainer_recommendation_max_allowed_cpu: 4\n"
                    "min_replicas: 1\n";
    assert_int_equal(tw_yaml_doc_parse(y, strlen(y), "c.yml", &doc, &err), 0);
    assert_int_equal(tw_vpa_options_from_node(tw_yaml_doc_root(doc), "c.yml",
                                              "autoscaling.recommender", &o, &err),
                     0);
    assert_int_equal(o.interval_ms, 30000);
    assert_int_equal(o.history_length_ms, 172800000);
    assert_true(o.rec.target_cpu_percentile == 0.8);
    assert_int_equal(o.model.oom_min_bump_up_bytes, 209715200);
    assert_true(o.global_max.has[TW_VPA_CPU]);
    assert_int_equal(o.global_max.v[TW_VPA_CPU], 4000);
    assert_false(o.global_max.has[TW_VPA_MEMORY]);
    assert_int_equal(o.restriction.min_replicas, 1);
    tw_yaml_doc_free(doc);

    y = "target_memory_percentile: 1.5\n";
    assert_int_equal(tw_yaml_doc_parse(y, strlen(y), "c.yml", &doc, &err), 0);
    assert_int_equal(tw_vpa_options_from_node(tw_yaml_doc_root(doc), "c.yml",
                                              "autoscaling.recommender", &o, &err),
                     TW_EINVAL);
    assert_string_equal(err.msg, "autoscaling.recommender.target_memory_percentile: expected a "
                                 "number > 0 and <= 1, got \"1.5\"");
    assert_int_equal(err.line, 1);
    tw_yaml_doc_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_fixture),  cmocka_unit_test(test_defaults_and_bundle),
        cmocka_unit_test(test_update_policy), cmocka_unit_test(test_min_above_max),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
