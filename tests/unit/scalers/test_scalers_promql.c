/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scalers_promql.c - Pods, Object and External metrics through the metric_queries table
 * and a fake query source: the expanded query, the join by the `pod` label, missing values,
 * duplicate series, result types, and the upstream error texts.
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
#include "fake_qs.h"

#define T0 INT64_C(1700000000000)

static const char *const config_yaml =
    "metric_queries:\n"
    "  - name: rps\n"
    "    type: Pods\n"
    "    query: 'sum by (pod) (rate(http_requests_total{namespace=\"{{.Namespace}}\","
    "pod=~\"{{.PodSelector}}\",{{.LabelSelector}}}[2m]))'\n"
    "  - name: depth\n"
    "    query: 'max(queue_depth{namespace=\"{{.Namespace}}\",kind=\"{{.ObjectKind}}\","
    "name=\"{{.ObjectName}}\"})'\n"
    "  - name: depth\n"
    "    type: External\n"
    "    query: 'queue_depth{ {{.LabelSelector}} }'\n";

static void load(tw_scalers_config_t *c)
{
    tw_yaml_doc_t *doc = NULL;
    tw_error_t err;
    assert_int_equal(tw_yaml_doc_parse(config_yaml, strlen(config_yaml), "t.yml", &doc, &err), 0);
    const tw_yaml_node_t *root = tw_yaml_doc_root(doc);
    tw_yaml_walk_t w = {.file = "t.yml", .err = &err};
    tw_scalers_config_init(c);
    assert_int_equal(tw_scalers_queries_from_yaml(&w, root->items[1], "metric_queries", c), 0);
    tw_yaml_doc_free(doc);
}

static tw_hpa_pod_t pod(const char *name)
{
    tw_hpa_pod_t p;
    memset(&p, 0, sizeof(p));
    p.name = name;
    p.phase = TW_HPA_POD_RUNNING;
    p.ready = TW_HPA_STATUS_TRUE;
    return p;
}

static const tw_label_t l_p1[] = {{"pod", "p1"}};
static const tw_label_t l_p2[] = {{"pod", "p2"}};
static const tw_label_t l_p3[] = {{"pod", "p3"}};
static const tw_label_t l_other[] = {{"pod", "other"}};
static const tw_label_t l_job[] = {{"job", "x"}};
static const tw_label_t l_q1[] = {{"queue", "q1"}};
static const tw_label_t l_q2[] = {{"queue", "q2"}};
static const tw_qs_point_t v15[] = {{T0 - 1000, 1.5}};
static const tw_qs_point_t v2[] = {{T0, 2}};
static const tw_qs_point_t vnan[] = {{T0, NAN}};
static const tw_qs_point_t v42[] = {{T0, 42.5}};

static int fetch(const tw_scalers_config_t *cfg, fake_qs_t *fq, const tw_scalers_target_t *t,
                 tw_hpa_metric_type_t type, const char *name, tw_hpa_metric_input_t *in,
                 tw_scalers_fetch_t *f)
{
    tw_query_source_t qs = fake_source(fq);
    memset(in, 0, sizeof(*in));
    in->type = type;
    in->name = name;
    in->target_type = TW_HPA_TARGET_AVERAGE_VALUE;
    in->target_milli = 1000;
    return tw_scalers_fetch(cfg, &qs, t, T0, in, f);
}

static void test_pods_metric(void **state)
{
    (void)state;
    tw_scalers_config_t cfg;
    load(&cfg);
    static const tw_qs_series_t series[] = {
        {l_job, 1, v2, 1},   /* no pod label: ignored */
        {l_other, 1, v2, 1}, /* a pod we were not asked about: ignored */
        {l_p2, 1, vnan, 1},  /* NaN: p2 is missing */
        {l_p1, 1, v15, 1},
    };
    fake_row_t rows[] = {{.query = "sum by (pod) (rate(http_requests_total{namespace=\"shop\","
                                   "pod=~\"p1|p2|p3\",tier=\"front\"}[2m]))",
                          .type = TW_QS_VECTOR,
                          .series = series,
                          .n_series = 4}};
    fake_qs_t fq = {.rows = rows, .n_rows = 1};
    tw_hpa_pod_t pods[] = {pod("p1"), pod("p2"), pod("p3")};
    tw_scalers_target_t t = {
        .namespace = "shop", .pods = pods, .n_pods = 3, .selector = "tier=front"};
    tw_hpa_metric_input_t in;
    tw_scalers_fetch_t f;
    tw_scalers_fetch_init(&f);
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_PODS, "rps", &in, &f), 0);
    assert_null(in.fetch_error);
    assert_int_equal(fq.released, 1);
    assert_int_equal(in.pods.n_metrics, 1);
    assert_string_equal(in.pods.metrics[0].pod, "p1");
    assert_int_equal(in.pods.metrics[0].value_milli, 1500);
    assert_true(in.pods.metrics[0].timestamp_ms == T0 - 1000);
    assert_int_equal(in.pods.metrics[0].window_ms, 60000);

    /* the calculator: p1 at 1.5 against 1 per pod, p2 and p3 missing count as 0 on scale-up */
    tw_hpa_calc_config_t cc;
    tw_hpa_calc_config_init(&cc);
    tw_hpa_calc_result_t r;
    tw_error_t err;
    assert_int_equal(tw_hpa_calc_pods_average(&cc, 3, 1000, &in.pods, &r, &err), 0);
    assert_int_equal(r.usage_milli, 1500);
    assert_int_equal(r.replicas, 3); /* 1.5/3 = 0.5: the move flips, so no change */

    /* two series for one pod: the query lacks `by (pod)` */
    static const tw_qs_series_t dup[] = {{l_p1, 1, v15, 1}, {l_p1, 1, v2, 1}};
    rows[0].series = dup;
    rows[0].n_series = 2;
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_PODS, "rps", &in, &f), TW_EINVAL);
    assert_string_equal(in.fetch_error,
                        "unable to fetch metrics from custom metrics API: the query for metric "
                        "rps returned more than one series for pod shop/p1");
    assert_null(in.pods.metrics);

    /* nothing for our pods */
    rows[0].series = series;
    rows[0].n_series = 3;
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_PODS, "rps", &in, &f), TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "no metrics returned from custom metrics API");

    /* a scalar cannot be spread over pods */
    rows[0].type = TW_QS_SCALAR;
    rows[0].series = series + 3;
    rows[0].n_series = 1;
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_PODS, "rps", &in, &f), TW_EINVAL);
    assert_string_equal(in.fetch_error,
                        "unable to fetch metrics from custom metrics API: the query for metric "
                        "rps returned a scalar, expected an instant vector");
    assert_int_equal(fq.released, fq.calls);

    /* no pods: nothing to ask */
    int calls = fq.calls;
    t.n_pods = 0;
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_PODS, "rps", &in, &f), TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "no metrics returned from custom metrics API");
    assert_int_equal(fq.calls, calls);

    /* a bad selector is a fetch error, not a query */
    t.n_pods = 3;
    t.selector = "app.kubernetes.io/name=x";
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_PODS, "rps", &in, &f), TW_EINVAL);
    assert_string_equal(in.fetch_error,
                        "unable to fetch metrics from custom metrics API: metric rps: label "
                        "selector: key \"app.kubernetes.io/name\" is not a valid Prometheus label "
                        "name");
    assert_int_equal(fq.calls, calls);
    tw_scalers_fetch_fini(&f);
    tw_scalers_config_fini(&cfg);
}

static void test_object_metric(void **state)
{
    (void)state;
    tw_scalers_config_t cfg;
    load(&cfg);
    static const tw_qs_series_t one[] = {{NULL, 0, v42, 1}};
    fake_row_t rows[] = {{.query = "max(queue_depth{namespace=\"shop\",kind=\"Service\","
                                   "name=\"orders\"})",
                          .type = TW_QS_VECTOR,
                          .series = one,
                          .n_series = 1}};
    fake_qs_t fq = {.rows = rows, .n_rows = 1};
    tw_hpa_pod_t pods[] = {pod("p1")};
    tw_scalers_target_t t = {.namespace = "shop",
                             .pods = pods,
                             .n_pods = 1,
                             .object_kind = "Service",
                             .object_name = "orders"};
    tw_hpa_metric_input_t in;
    tw_scalers_fetch_t f;
    tw_scalers_fetch_init(&f);
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_OBJECT, "depth", &in, &f), 0);
    assert_null(in.fetch_error);
    assert_int_equal(in.object_value_milli, 42500);
    assert_ptr_equal(in.pods.pods, pods); /* Value targets count ready pods */

    /* a scalar is one value too */
    rows[0].type = TW_QS_SCALAR;
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_OBJECT, "depth", &in, &f), 0);
    assert_int_equal(in.object_value_milli, 42500);

    rows[0].type = TW_QS_VECTOR;
    rows[0].n_series = 0;
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_OBJECT, "depth", &in, &f), TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "unable to fetch metrics from custom metrics API: the "
                                        "server could not find the metric depth for Service "
                                        "orders");
    assert_int_equal(in.object_value_milli, 0);

    static const tw_qs_series_t two[] = {{l_q1, 1, v2, 1}, {l_q2, 1, v2, 1}};
    rows[0].series = two;
    rows[0].n_series = 2;
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_OBJECT, "depth", &in, &f), TW_EINVAL);
    assert_string_equal(in.fetch_error, "unable to fetch metrics from custom metrics API: the "
                                        "query for metric depth returned 2 series for Service "
                                        "orders, expected one");

    /* no entry for the metric */
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_OBJECT, "latency", &in, &f), TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "unable to fetch metrics from custom metrics API: no "
                                        "autoscaling.metric_queries entry for metric latency");
    /* the untyped entry serves Pods too (its series carry no pod label: nothing matches) */
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_PODS, "depth", &in, &f), TW_ENOTFOUND);
    assert_string_equal(fq.last, "max(queue_depth{namespace=\"shop\",kind=\"Service\","
                                 "name=\"orders\"})");
    assert_string_equal(in.fetch_error, "no metrics returned from custom metrics API");
    /* but a Pods-only entry does not serve External */
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_EXTERNAL, "rps", &in, &f), TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "unable to fetch metrics from external metrics API: no "
                                        "autoscaling.metric_queries entry for metric rps");
    assert_int_equal(fq.released, fq.calls);
    tw_scalers_fetch_fini(&f);
    tw_scalers_config_fini(&cfg);
}

static void test_external_metric(void **state)
{
    (void)state;
    tw_scalers_config_t cfg;
    load(&cfg);
    static const tw_qs_series_t qs3[] = {{l_q1, 1, v42, 1}, {l_p3, 1, vnan, 1}, {l_q2, 1, v2, 1}};
    fake_row_t rows[] = {{.query = "queue_depth{ queue=~\"q1|q2\" }",
                          .type = TW_QS_VECTOR,
                          .series = qs3,
                          .n_series = 3}};
    fake_qs_t fq = {.rows = rows, .n_rows = 1};
    tw_hpa_pod_t pods[] = {pod("p1"), pod("p2")};
    tw_scalers_target_t t = {
        .namespace = "shop", .pods = pods, .n_pods = 2, .selector = "queue in (q2,q1)"};
    tw_hpa_metric_input_t in;
    tw_scalers_fetch_t f;
    tw_scalers_fetch_init(&f);
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_EXTERNAL, "depth", &in, &f), 0);
    assert_null(in.fetch_error);
    assert_int_equal(in.n_external_values, 2); /* the NaN series is left out */
    assert_int_equal(in.external_values_milli[0], 42500);
    assert_int_equal(in.external_values_milli[1], 2000);

    /* through the controller: 44.5 against an average of 1 per pod over 2 replicas */
    tw_hpa_controller_config_t cc;
    tw_hpa_controller_config_init(&cc);
    tw_hpa_spec_t spec = {.max_replicas = 100, .metrics = &in, .n_metrics = 1};
    tw_hpa_state_t st;
    tw_hpa_state_init(&st);
    tw_hpa_decision_t d;
    tw_error_t err;
    assert_int_equal(tw_hpa_reconcile(&cc, &spec, 2, 2, T0, &st, NULL, &d, &err), 0);
    assert_true(d.rescale);
    assert_int_equal(d.desired_replicas, 4); /* proposal 45, legacy limit max(2 x 2, 4) */
    tw_hpa_state_fini(&st);

    fake_row_t fail[] = {{.rc = TW_EPARSE, .errmsg = "1:13: parse error: unexpected \"}\""}};
    fq = (fake_qs_t){.rows = fail, .n_rows = 1};
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_EXTERNAL, "depth", &in, &f), TW_EPARSE);
    assert_string_equal(in.fetch_error, "unable to fetch metrics from external metrics API: "
                                        "1:13: parse error: unexpected \"}\"");
    assert_null(in.external_values_milli);

    static const tw_qs_series_t nan_only[] = {{l_q1, 1, vnan, 1}};
    fake_row_t nan_rows[] = {{.type = TW_QS_VECTOR, .series = nan_only, .n_series = 1}};
    fq = (fake_qs_t){.rows = nan_rows, .n_rows = 1};
    assert_int_equal(fetch(&cfg, &fq, &t, TW_HPA_METRIC_EXTERNAL, "depth", &in, &f), TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "no metrics returned from external metrics API");
    assert_int_equal(in.n_external_values, 0);

    /* the controller reports it as FailedGetExternalMetric, never as a zero */
    tw_hpa_state_init(&st);
    assert_int_not_equal(tw_hpa_reconcile(&cc, &spec, 2, 2, T0, &st, NULL, &d, &err), 0);
    assert_false(d.rescale);
    assert_string_equal(d.error, "invalid metrics (1 invalid out of 1), first error is: unable to "
                                 "get external metric depth: no metrics returned from external "
                                 "metrics API");
    tw_hpa_state_fini(&st);
    tw_scalers_fetch_fini(&f);
    tw_scalers_config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pods_metric),
        cmocka_unit_test(test_object_metric),
        cmocka_unit_test(test_external_metric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
