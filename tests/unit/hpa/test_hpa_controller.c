/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hpa_controller.c - the reconcile pass and normalization: gates, legacy caps, behavior
 * policies over recorded events across passes, select policies, stabilization history reuse and
 * the scale-to-zero round trip.
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

static const char *reason_of(const tw_hpa_state_t *st, tw_hpa_condition_type_t t)
{
    const tw_hpa_condition_t *c = tw_hpa_conditions_get(&st->conditions, t);
    return c == NULL ? "<absent>" : c->reason;
}

static void test_legacy_rate_limit(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(tw_hpa_rate_limit_legacy(1, 10, 1, 10, &why), 4);
    assert_string_equal(why, "ScaleUpLimit");
    assert_int_equal(tw_hpa_rate_limit_legacy(3, 10, 1, 5, &why), 5);
    assert_string_equal(why, "TooManyReplicas");
    assert_int_equal(tw_hpa_rate_limit_legacy(3, 0, 2, 5, &why), 2);
    assert_string_equal(why, "TooFewReplicas");
    assert_int_equal(tw_hpa_rate_limit_legacy(3, 6, 2, 10, &why), 6);
    assert_string_equal(why, "DesiredWithinRange");
}

static void test_select_policies_and_period_boundary(void **state)
{
    (void)state;
    tw_hpa_history_t h;
    tw_hpa_history_init(&h);
    tw_hpa_policy_t pol[2] = {{TW_HPA_POLICY_PODS, 4, 60}, {TW_HPA_POLICY_PERCENT, 50, 60}};
    tw_hpa_scaling_rules_t in = {.policies = pol, .n_policies = 2};
    tw_hpa_scaling_rules_t up, down;
    const char *why;
    in.select_policy = TW_HPA_SELECT_MIN;
    tw_hpa_scaling_rules_resolve(&in, true, 300, &up);
    tw_hpa_scaling_rules_resolve(NULL, false, 300, &down);
    /* Min on the way up: min(10 + 4, ceil(10 * 1.5)) = 14 */
    assert_int_equal(tw_hpa_rate_limit_behavior(&h, 10, 100, 1, 1000, &up, &down, NOW, &why), 14);
    assert_string_equal(why, "ScaleUpLimit");
    /* an event exactly one period old no longer counts; one second younger does */
    tw_hpa_history_add_event(&h, true, 3, NOW - 60 * SEC);
    assert_int_equal(tw_hpa_rate_limit_behavior(&h, 10, 100, 1, 1000, &up, &down, NOW, &why), 14);
    h.up[0].timestamp_ms = NOW - 59 * SEC;
    /* period start 7: min(11, ceil(10.5)) = 11 */
    assert_int_equal(tw_hpa_rate_limit_behavior(&h, 10, 100, 1, 1000, &up, &down, NOW, &why), 11);
    /* Disabled: never above current */
    in.select_policy = TW_HPA_SELECT_DISABLED;
    tw_hpa_scaling_rules_resolve(&in, true, 300, &up);
    assert_int_equal(tw_hpa_rate_limit_behavior(&h, 10, 100, 1, 1000, &up, &down, NOW, &why), 10);
    assert_string_equal(why, "ScaleUpLimit");
    /* Percent on the way down truncates: int(7 * 0.5) = 3 */
    tw_hpa_policy_t dp[1] = {{TW_HPA_POLICY_PERCENT, 50, 60}};
    tw_hpa_scaling_rules_t din = {.policies = dp, .n_policies = 1};
    tw_hpa_scaling_rules_resolve(&din, false, 300, &down);
    assert_int_equal(
        tw_hpa_rate_limit_behavior(&h, 7, 1, 1, 1000, &up, &down, NOW + 120 * SEC, &why), 3);
    assert_string_equal(why, "ScaleDownLimit");
    /* Min on the way down keeps the most replicas: max(7 - 1, int(7 * 0.5)) = 6 */
    tw_hpa_policy_t dp2[2] = {{TW_HPA_POLICY_PODS, 1, 60}, {TW_HPA_POLICY_PERCENT, 50, 60}};
    tw_hpa_scaling_rules_t din2 = {
        .policies = dp2, .n_policies = 2, .select_policy = TW_HPA_SELECT_MIN};
    tw_hpa_scaling_rules_resolve(&din2, false, 300, &down);
    assert_int_equal(
        tw_hpa_rate_limit_behavior(&h, 7, 1, 1, 1000, &up, &down, NOW + 120 * SEC, &why), 6);
    tw_hpa_history_fini(&h);
}

static void test_store_event_reuses_outdated(void **state)
{
    (void)state;
    tw_hpa_history_t h;
    tw_hpa_history_init(&h);
    tw_hpa_scaling_rules_t up;
    tw_hpa_scaling_rules_resolve(NULL, true, 300, &up); /* longest period 15 s */
    tw_hpa_history_store_event(&h, &up, 2, 6, NOW);
    tw_hpa_history_store_event(&h, &up, 6, 8, NOW + 10 * SEC);
    assert_int_equal(h.n_up, 2);
    tw_hpa_history_store_event(&h, &up, 8, 9, NOW + 20 * SEC); /* the first is 20 s old */
    assert_int_equal(h.n_up, 2);
    assert_int_equal(h.up[0].change, 1);
    assert_int_equal(h.up[1].change, 2);
    tw_hpa_history_store_event(&h, &up, 9, 4, NOW + 20 * SEC);
    assert_int_equal(h.n_down, 1);
    assert_int_equal(h.down[0].change, 5);
    tw_hpa_history_fini(&h);
}

static void test_stabilize_behavior_history(void **state)
{
    (void)state;
    tw_hpa_history_t h;
    tw_hpa_history_init(&h);
    tw_hpa_history_add_recommendation(&h, 8, NOW - 400 * SEC);
    tw_hpa_history_add_recommendation(&h, 6, NOW - 100 * SEC);
    const char *why;
    /* down window 300 s: max(2, 6) = 6; the 400 s old entry is reused */
    assert_int_equal(tw_hpa_stabilize_behavior(&h, 10, 2, 0, 300, NOW, &why), 6);
    assert_string_equal(why, "ScaleDownStabilized");
    assert_int_equal(h.n_recs, 2);
    assert_int_equal(h.recs[0].replicas, 2);
    assert_int_equal(h.recs[0].timestamp_ms, NOW);
    tw_hpa_history_fini(&h);
}

/* One Pods metric over n ready pods that all report value. */
typedef struct fixture {
    tw_hpa_container_t none[1];
    tw_hpa_pod_t pods[16];
    tw_hpa_pod_metric_t samples[16];
    char names[16][32];
    tw_hpa_metric_input_t metric;
} fixture_t;

static void fixture_pods(fixture_t *f, size_t n, int64_t value, int64_t target)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        snprintf(f->names[i], sizeof(f->names[i]), "pod-%zu", i);
        f->pods[i].name = f->names[i];
        f->pods[i].phase = TW_HPA_POD_RUNNING;
        f->pods[i].ready = TW_HPA_STATUS_TRUE;
        f->pods[i].has_start_time = true;
        f->samples[i].pod = f->names[i];
        f->samples[i].value_milli = value;
        f->samples[i].timestamp_ms = NOW;
        f->samples[i].window_ms = 60 * SEC;
    }
    f->metric.type = TW_HPA_METRIC_PODS;
    f->metric.name = "qps";
    f->metric.target_type = TW_HPA_TARGET_AVERAGE_VALUE;
    f->metric.target_milli = target;
    f->metric.pods.pods = f->pods;
    f->metric.pods.n_pods = n;
    f->metric.pods.metrics = f->samples;
    f->metric.pods.n_metrics = n;
}

static void test_gates_without_metrics(void **state)
{
    (void)state;
    fixture_t f;
    fixture_pods(&f, 2, 1000, 1000);
    tw_hpa_controller_config_t cfg;
    tw_hpa_controller_config_init(&cfg);
    tw_hpa_spec_t spec = {.max_replicas = 5, .metrics = &f.metric, .n_metrics = 1};
    tw_hpa_state_t st;
    tw_hpa_state_init(&st);
    tw_hpa_decision_t d;
    tw_error_t err;
    /* scaled to 0 by hand: disabled */
    assert_int_equal(tw_hpa_reconcile(&cfg, &spec, 0, 0, NOW, &st, NULL, &d, &err), 0);
    assert_false(d.rescale);
    assert_int_equal(d.desired_replicas, 0);
    assert_string_equal(reason_of(&st, TW_HPA_COND_SCALING_ACTIVE), "ScalingDisabled");
    /* above max: straight to max, no metrics read */
    assert_int_equal(tw_hpa_reconcile(&cfg, &spec, 9, 9, NOW, &st, NULL, &d, &err), 0);
    assert_true(d.rescale);
    assert_false(d.metrics_computed);
    assert_int_equal(d.desired_replicas, 5);
    assert_string_equal(d.reason, "Current number of replicas above Spec.MaxReplicas");
    tw_hpa_state_fini(&st);
}

static void test_behavior_rate_limit_across_passes(void **state)
{
    (void)state;
    fixture_t f;
    /* 2 pods at 10x the target want 20 replicas */
    fixture_pods(&f, 2, 10000, 1000);
    tw_hpa_controller_config_t cfg;
    tw_hpa_controller_config_init(&cfg);
    tw_hpa_policy_t pol[1] = {{TW_HPA_POLICY_PODS, 3, 60}};
    tw_hpa_scaling_rules_t up = {.policies = pol, .n_policies = 1};
    tw_hpa_behavior_t beh = {&up, NULL};
    tw_hpa_spec_t spec = {
        .max_replicas = 50, .behavior = &beh, .metrics = &f.metric, .n_metrics = 1};
    tw_hpa_state_t st;
    tw_hpa_state_init(&st);
    tw_hpa_decision_t d;
    tw_error_t err;
    assert_int_equal(tw_hpa_reconcile(&cfg, &spec, 2, 2, NOW, &st, NULL, &d, &err), 0);
    assert_int_equal(d.desired_replicas, 5);
    assert_string_equal(reason_of(&st, TW_HPA_COND_SCALING_LIMITED), "ScaleUpLimit");
    assert_string_equal(d.reason, "pods metric qps above target");
    tw_hpa_rescale_done(&cfg, &spec, &d, true, NULL, NOW, &st);
    assert_int_equal(st.history.n_up, 1);
    /* 15 s later, 5 pods still at 10x: the period started at 2, so 2 + 3 = 5 -> held */
    fixture_pods(&f, 5, 10000, 1000);
    assert_int_equal(tw_hpa_reconcile(&cfg, &spec, 5, 5, NOW + 15 * SEC, &st, NULL, &d, &err), 0);
    assert_false(d.rescale);
    assert_int_equal(d.desired_replicas, 5);
    /* after the 60 s period: 5 + 3 */
    assert_int_equal(tw_hpa_reconcile(&cfg, &spec, 5, 5, NOW + 61 * SEC, &st, NULL, &d, &err), 0);
    assert_int_equal(d.desired_replicas, 8);
    tw_hpa_state_fini(&st);
}

static void test_legacy_first_pass_and_cap(void **state)
{
    (void)state;
    fixture_t f;
    fixture_pods(&f, 2, 10000, 1000);
    tw_hpa_controller_config_t cfg;
    tw_hpa_controller_config_init(&cfg);
    tw_hpa_spec_t spec = {.max_replicas = 50, .metrics = &f.metric, .n_metrics = 1};
    tw_hpa_state_t st;
    tw_hpa_state_init(&st);
    tw_hpa_decision_t d;
    tw_hpa_metric_result_t res[1];
    tw_error_t err;
    /* wants 20, capped at max(2 * 2, 4) */
    assert_int_equal(tw_hpa_reconcile(&cfg, &spec, 2, 2, NOW, &st, res, &d, &err), 0);
    assert_int_equal(res[0].rc, 0);
    assert_int_equal(res[0].calc.replicas, 20);
    assert_int_equal(d.desired_replicas, 4);
    assert_string_equal(reason_of(&st, TW_HPA_COND_SCALING_LIMITED), "ScaleUpLimit");
    assert_true(st.history.seeded);
    assert_int_equal(st.history.n_recs, 2); /* the seed {2} and the proposal {20} */
    tw_hpa_state_fini(&st);
}

static void test_scale_to_zero_round_trip(void **state)
{
    (void)state;
    tw_hpa_controller_config_t cfg;
    tw_hpa_controller_config_init(&cfg);
    cfg.gate_scale_to_zero = true;
    tw_hpa_metric_input_t m;
    memset(&m, 0, sizeof(m));
    m.type = TW_HPA_METRIC_OBJECT;
    m.name = "queue_depth";
    m.target_type = TW_HPA_TARGET_VALUE;
    m.target_milli = 10000;
    m.object_value_milli = 0;
    tw_hpa_policy_t pol[1] = {{TW_HPA_POLICY_PERCENT, 100, 15}};
    tw_hpa_scaling_rules_t down = {.has_stabilization_window = true,
                                   .stabilization_window_s = 0,
                                   .policies = pol,
                                   .n_policies = 1};
    tw_hpa_behavior_t beh = {NULL, &down};
    tw_hpa_spec_t spec = {.has_min_replicas = true,
                          .min_replicas = 0,
                          .max_replicas = 10,
                          .behavior = &beh,
                          .metrics = &m,
                          .n_metrics = 1};
    tw_hpa_state_t st;
    tw_hpa_state_init(&st);
    tw_hpa_decision_t d;
    tw_error_t err;
    /* value 0 from 2 replicas: ceil(0 * ready) = 0 */
    tw_hpa_pod_t pods[2];
    memset(pods, 0, sizeof(pods));
    pods[0].name = "a";
    pods[1].name = "b";
    pods[0].ready = pods[1].ready = TW_HPA_STATUS_TRUE;
    m.pods.pods = pods;
    m.pods.n_pods = 2;
    st.history.seeded = true; /* not the first pass */
    assert_int_equal(tw_hpa_reconcile(&cfg, &spec, 2, 2, NOW, &st, NULL, &d, &err), 0);
    assert_true(d.rescale);
    assert_int_equal(d.desired_replicas, 0);
    tw_hpa_rescale_done(&cfg, &spec, &d, true, NULL, NOW, &st);
    assert_string_equal(reason_of(&st, TW_HPA_COND_SCALED_TO_ZERO), "ScaledToZero");
    /* load comes back: from zero, ceil(25000 / 10000) = 3 */
    m.object_value_milli = 25000;
    assert_int_equal(tw_hpa_reconcile(&cfg, &spec, 0, 0, NOW + 60 * SEC, &st, NULL, &d, &err), 0);
    assert_true(d.rescale);
    assert_int_equal(d.desired_replicas, 3);
    tw_hpa_rescale_done(&cfg, &spec, &d, true, NULL, NOW + 60 * SEC, &st);
    assert_string_equal(reason_of(&st, TW_HPA_COND_SCALED_TO_ZERO), "NotScaledToZero");
    /* with the gate off the condition is not honoured: scaling stays disabled at 0 */
    cfg.gate_scale_to_zero = false;
    tw_hpa_conditions_set(&st.conditions, TW_HPA_COND_SCALED_TO_ZERO, TW_HPA_STATUS_TRUE,
                          "ScaledToZero", NOW, "x");
    assert_int_equal(tw_hpa_reconcile(&cfg, &spec, 0, 0, NOW + 90 * SEC, &st, NULL, &d, &err), 0);
    assert_false(d.rescale);
    assert_string_equal(reason_of(&st, TW_HPA_COND_SCALING_ACTIVE), "ScalingDisabled");
    assert_string_equal(reason_of(&st, TW_HPA_COND_SCALED_TO_ZERO), "<absent>");
    tw_hpa_state_fini(&st);
}

static void test_all_metrics_invalid(void **state)
{
    (void)state;
    tw_hpa_metric_input_t m;
    memset(&m, 0, sizeof(m));
    m.type = TW_HPA_METRIC_EXTERNAL;
    m.name = "lag";
    m.target_type = TW_HPA_TARGET_VALUE;
    m.target_milli = 1;
    m.fetch_error = "connection refused";
    tw_hpa_controller_config_t cfg;
    tw_hpa_controller_config_init(&cfg);
    tw_hpa_spec_t spec = {.max_replicas = 10, .metrics = &m, .n_metrics = 1};
    tw_hpa_state_t st;
    tw_hpa_state_init(&st);
    tw_hpa_decision_t d;
    tw_error_t err;
    assert_true(tw_hpa_reconcile(&cfg, &spec, 3, 3, NOW, &st, NULL, &d, &err) < 0);
    assert_false(d.rescale);
    assert_int_equal(d.desired_replicas, 3);
    assert_string_equal(reason_of(&st, TW_HPA_COND_SCALING_ACTIVE), "FailedGetExternalMetric");
    assert_non_null(strstr(err.msg, "connection refused"));
    tw_hpa_rescale_done(&cfg, &spec, &d, false, "conflict", NOW, &st);
    assert_string_equal(reason_of(&st, TW_HPA_COND_ABLE_TO_SCALE), "FailedUpdateScale");
    tw_hpa_state_fini(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_rate_limit),
        cmocka_unit_test(test_select_policies_and_period_boundary),
        cmocka_unit_test(test_store_event_reuses_outdated),
        cmocka_unit_test(test_stabilize_behavior_history),
        cmocka_unit_test(test_gates_without_metrics),
        cmocka_unit_test(test_behavior_rate_limit_across_passes),
        cmocka_unit_test(test_legacy_first_pass_and_cap),
        cmocka_unit_test(test_scale_to_zero_round_trip),
        cmocka_unit_test(test_all_metrics_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
