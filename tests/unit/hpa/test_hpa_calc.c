/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hpa_calc.c - hand-written cases for the replica calculator's tricky rules: the CPU
 * initialization period and readiness delay, readiness being CPU-only, Pending pods, the
 * inclusive asymmetric tolerance, container requests, scale from zero and saturation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "autoscaler/hpa/hpa.h"

#define NOW INT64_C(1700000000000)
#define SEC INT64_C(1000)
#define LONG_AGO (NOW - INT64_C(1000000000) * SEC)

static tw_hpa_container_t req1000[] = {{"app", true, 1000}};

static tw_hpa_pod_t ready_pod(const char *name)
{
    tw_hpa_pod_t p;
    memset(&p, 0, sizeof(p));
    p.name = name;
    p.phase = TW_HPA_POD_RUNNING;
    p.ready = TW_HPA_STATUS_TRUE;
    p.has_start_time = true;
    p.start_time_ms = LONG_AGO;
    p.ready_transition_ms = LONG_AGO;
    p.containers = req1000;
    p.n_containers = 1;
    return p;
}

static tw_hpa_pod_metric_t sample(const char *pod, int64_t v)
{
    tw_hpa_pod_metric_t m = {pod, v, NOW, 60 * SEC};
    return m;
}

static tw_hpa_calc_config_t config(void)
{
    tw_hpa_calc_config_t c;
    tw_hpa_calc_config_init(&c);
    return c;
}

/*
 * Pods 0 and 1 are ready at 150 %; pod 2 is new and hot (300 %). The answer depends only on
 * whether pod 2 counts as ready for CPU.
 */
static int32_t hot_new_pod(const char *resource, int64_t start_ago_s, tw_hpa_status_t ready,
                           int64_t transition_ago_s, int32_t *util)
{
    tw_hpa_pod_t pods[3] = {ready_pod("p0"), ready_pod("p1"), ready_pod("p2")};
    pods[2].start_time_ms = NOW - start_ago_s * SEC;
    pods[2].ready = ready;
    pods[2].ready_transition_ms = NOW - transition_ago_s * SEC;
    tw_hpa_pod_metric_t m[3] = {sample("p0", 1500), sample("p1", 1500), sample("p2", 3000)};
    tw_hpa_pod_set_t set = {pods, 3, m, 3, NOW};
    tw_hpa_calc_config_t cfg = config();
    tw_hpa_calc_result_t r;
    tw_error_t err;
    assert_int_equal(tw_hpa_calc_resource_utilization(&cfg, 3, 100, resource, NULL, &set, &r, &err),
                     0);
    *util = r.utilization_percent;
    return r.replicas;
}

static void test_cpu_initialization_window_not_complete(void **state)
{
    (void)state;
    int32_t util;
    /* started 60 s ago, ready for 20 s: no full 60 s window since the transition -> unready; on a
     * scale-up it counts as 0 %, the ratio drops to exactly 1.0 -> keep 3 */
    assert_int_equal(hot_new_pod("cpu", 60, TW_HPA_STATUS_TRUE, 20, &util), 3);
    assert_int_equal(util, 150);
    /* ready for 130 s: a full window has passed -> ready, 200 % -> ceil(2 * 3) */
    assert_int_equal(hot_new_pod("cpu", 200, TW_HPA_STATUS_TRUE, 130, &util), 6);
    assert_int_equal(util, 200);
    /* still initializing and Ready=False -> unready regardless of the window */
    assert_int_equal(hot_new_pod("cpu", 200, TW_HPA_STATUS_FALSE, 130, &util), 3);
    /* no Ready condition at all -> unready */
    assert_int_equal(hot_new_pod("cpu", 1000, TW_HPA_STATUS_NONE, 900, &util), 3);
}

static void test_cpu_after_initialization_readiness_delay(void **state)
{
    (void)state;
    int32_t util;
    /* started 10 min ago, Ready=False since 9:55 ago: never ready within the 30 s delay */
    assert_int_equal(hot_new_pod("cpu", 600, TW_HPA_STATUS_FALSE, 595, &util), 3);
    /* Ready=False since 8 min ago: it had become ready before -> counts as ready for CPU */
    assert_int_equal(hot_new_pod("cpu", 600, TW_HPA_STATUS_FALSE, 480, &util), 6);
    /* boundary: start + 30 s == transition is not "after" -> ready */
    assert_int_equal(hot_new_pod("cpu", 600, TW_HPA_STATUS_FALSE, 570, &util), 6);
}

static void test_readiness_is_cpu_only(void **state)
{
    (void)state;
    int32_t util;
    assert_int_equal(hot_new_pod("memory", 60, TW_HPA_STATUS_FALSE, 20, &util), 6);
    assert_int_equal(util, 200);
}

static void test_pending_pod_unready_for_pods_metric(void **state)
{
    (void)state;
    tw_hpa_pod_t pods[3] = {ready_pod("p0"), ready_pod("p1"), ready_pod("p2")};
    pods[2].phase = TW_HPA_POD_PENDING;
    tw_hpa_pod_metric_t m[3] = {sample("p0", 30000), sample("p1", 30000), sample("p2", 90000)};
    tw_hpa_pod_set_t set = {pods, 3, m, 3, NOW};
    tw_hpa_calc_config_t cfg = config();
    tw_hpa_calc_result_t r;
    tw_error_t err;
    /* ready average 30000 vs 10000 -> ratio 3; the pending pod counts as 0: 60000/3 -> ratio 2,
     * ceil(2 * 3 pods) */
    assert_int_equal(tw_hpa_calc_pods_average(&cfg, 2, 10000, &set, &r, &err), 0);
    assert_int_equal(r.replicas, 6);
    assert_int_equal(r.usage_milli, 30000);
}

static void test_tolerance_inclusive_and_asymmetric(void **state)
{
    (void)state;
    tw_hpa_pod_t pods[3] = {ready_pod("p0"), ready_pod("p1"), ready_pod("p2")};
    tw_hpa_pod_metric_t m[3] = {sample("p0", 1100), sample("p1", 1100), sample("p2", 1100)};
    tw_hpa_pod_set_t set = {pods, 3, m, 3, NOW};
    tw_hpa_calc_config_t cfg = config();
    tw_hpa_calc_result_t r;
    tw_error_t err;
    /* 110 % of a 100 % target: exactly on the 10 % band -> no change */
    assert_int_equal(tw_hpa_calc_resource_utilization(&cfg, 3, 100, "cpu", NULL, &set, &r, &err),
                     0);
    assert_int_equal(r.replicas, 3);
    /* 111 % -> ceil(1.11 * 3) */
    m[0].value_milli = m[1].value_milli = m[2].value_milli = 1110;
    assert_int_equal(tw_hpa_calc_resource_utilization(&cfg, 3, 100, "cpu", NULL, &set, &r, &err),
                     0);
    assert_int_equal(r.replicas, 4);
    /* 70 % with a 35 % scale-down band is within; the up band does not matter */
    m[0].value_milli = m[1].value_milli = m[2].value_milli = 700;
    cfg.tolerances.scale_down = 0.35;
    cfg.tolerances.scale_up = 0.0;
    assert_int_equal(tw_hpa_calc_resource_utilization(&cfg, 3, 100, "cpu", NULL, &set, &r, &err),
                     0);
    assert_int_equal(r.replicas, 3);
    cfg.tolerances.scale_down = 0.25;
    assert_int_equal(tw_hpa_calc_resource_utilization(&cfg, 3, 100, "cpu", NULL, &set, &r, &err),
                     0);
    assert_int_equal(r.replicas, 3); /* ceil(0.7 * 3) = ceil(2.1) */
    m[0].value_milli = m[1].value_milli = m[2].value_milli = 600;
    assert_int_equal(tw_hpa_calc_resource_utilization(&cfg, 3, 100, "cpu", NULL, &set, &r, &err),
                     0);
    assert_int_equal(r.replicas, 2); /* ceil(1.8) */
}

static void test_container_requests_and_errors(void **state)
{
    (void)state;
    tw_hpa_container_t cs[2] = {{"app", true, 500}, {"sidecar", false, 0}};
    tw_hpa_pod_t pods[1] = {ready_pod("p0")};
    pods[0].containers = cs;
    pods[0].n_containers = 2;
    tw_hpa_pod_metric_t m[1] = {sample("p0", 1000)};
    tw_hpa_pod_set_t set = {pods, 1, m, 1, NOW};
    tw_hpa_calc_config_t cfg = config();
    tw_hpa_calc_result_t r;
    tw_error_t err;
    /* the named container's request only: 1000/500 = 200 % of a 50 % target -> ceil(4 * 1) */
    assert_int_equal(tw_hpa_calc_resource_utilization(&cfg, 1, 50, "cpu", "app", &set, &r, &err),
                     0);
    assert_int_equal(r.utilization_percent, 200);
    assert_int_equal(r.replicas, 4);
    /* the whole pod: the sidecar has no request */
    assert_int_equal(tw_hpa_calc_resource_utilization(&cfg, 1, 50, "cpu", NULL, &set, &r, &err),
                     TW_EINVAL);
    assert_string_equal(err.msg, "missing request for cpu in container sidecar of Pod p0");
    assert_int_equal(tw_hpa_calc_resource_utilization(&cfg, 1, 50, "cpu", "db", &set, &r, &err),
                     TW_EINVAL);
    assert_string_equal(err.msg, "container db not found in Pod p0");
    /* pod-level requests win when the gate is on and no container is named */
    pods[0].pod_level_requests_set = true;
    pods[0].has_pod_request = true;
    pods[0].pod_request_milli = 2000;
    cfg.pod_level_resources = true;
    assert_int_equal(tw_hpa_calc_resource_utilization(&cfg, 1, 50, "cpu", NULL, &set, &r, &err), 0);
    assert_int_equal(r.utilization_percent, 50);
    assert_int_equal(r.replicas, 1);
}

static void test_no_pods_and_unready_only(void **state)
{
    (void)state;
    tw_hpa_pod_t pods[1] = {ready_pod("p0")};
    pods[0].phase = TW_HPA_POD_PENDING;
    tw_hpa_pod_metric_t m[1] = {sample("p0", 1000)};
    tw_hpa_pod_set_t set = {pods, 0, m, 1, NOW};
    tw_hpa_calc_config_t cfg = config();
    tw_hpa_calc_result_t r;
    tw_error_t err;
    assert_int_equal(tw_hpa_calc_pods_average(&cfg, 1, 10, &set, &r, &err), TW_ENOTFOUND);
    assert_string_equal(err.msg, "no pods returned by selector while calculating replica count");
    set.n_pods = 1;
    assert_int_equal(tw_hpa_calc_pods_average(&cfg, 1, 10, &set, &r, &err), TW_ENOTFOUND);
    assert_string_equal(err.msg,
                        "did not receive metrics for targeted pods (pods might be unready)");
}

static void test_object_external_value(void **state)
{
    (void)state;
    tw_hpa_calc_config_t cfg = config();
    tw_hpa_calc_result_t r;
    tw_error_t err;
    /* from zero: ceil(ratio), no tolerance and no pods needed */
    assert_int_equal(tw_hpa_calc_object_value(&cfg, 0, 10000, 10500, NULL, 0, &r, &err), 0);
    assert_int_equal(r.replicas, 2);
    assert_int_equal(tw_hpa_calc_object_value(&cfg, 0, 10000, 0, NULL, 0, &r, &err), 0);
    assert_int_equal(r.replicas, 0);
    /* not within tolerance and no pods -> error */
    assert_int_equal(tw_hpa_calc_object_value(&cfg, 2, 10000, 50000, NULL, 0, &r, &err),
                     TW_ENOTFOUND);
    /* external sums saturate at MaxInt64; the replica count at MaxInt32 */
    int64_t vals[2] = {INT64_MAX, 5};
    assert_int_equal(tw_hpa_calc_external_value(&cfg, 0, 1, vals, 2, NULL, 0, &r, &err), 0);
    assert_int_equal(r.usage_milli, INT64_MAX);
    assert_int_equal(r.replicas, INT32_MAX);
    assert_int_equal(tw_hpa_calc_external_average(&cfg, 3, 1, vals, 2, &r, &err), 0);
    assert_int_equal(r.replicas, INT32_MAX);
    assert_int_equal(r.usage_milli, INT64_MAX);
    assert_int_equal(tw_hpa_calc_external_value(&cfg, 0, 1, vals, 0, NULL, 0, &r, &err),
                     TW_ENOTFOUND);
}

static void test_container_usage_reduce(void **state)
{
    (void)state;
    tw_hpa_container_usage_t u[2] = {{"a", true, 100}, {"b", true, 250}};
    int64_t v = 0;
    assert_int_equal(tw_hpa_container_usage_reduce(u, 2, NULL, &v), 0);
    assert_int_equal(v, 350);
    assert_int_equal(tw_hpa_container_usage_reduce(u, 2, "b", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(tw_hpa_container_usage_reduce(u, 2, "c", &v), TW_ENOTFOUND);
    assert_int_equal(tw_hpa_container_usage_reduce(u, 0, NULL, &v), TW_ENOTFOUND);
    u[0].has_usage = false;
    assert_int_equal(tw_hpa_container_usage_reduce(u, 2, NULL, &v), TW_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_initialization_window_not_complete),
        cmocka_unit_test(test_cpu_after_initialization_readiness_delay),
        cmocka_unit_test(test_readiness_is_cpu_only),
        cmocka_unit_test(test_pending_pod_unready_for_pods_metric),
        cmocka_unit_test(test_tolerance_inclusive_and_asymmetric),
        cmocka_unit_test(test_container_requests_and_errors),
        cmocka_unit_test(test_no_pods_and_unready_only),
        cmocka_unit_test(test_object_external_value),
        cmocka_unit_test(test_container_usage_reduce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
