/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scalers_resource.c - Resource and ContainerResource metrics through a fake query source:
 * the PromQL sent, the join of container series to pods, "missing" pods (no series, a spec
 * container without a series, NaN), the milli-unit conversions, and the upstream error texts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "autoscaler/scalers/scalers.h"
#include "fake_qs.h"

#define T0 INT64_C(1700000000000)

static const tw_hpa_container_t two[] = {{"app", true, 500}, {"sidecar", true, 500}};
static const tw_hpa_container_t one[] = {{"app", true, 500}};
static const tw_hpa_container_t other[] = {{"x", true, 500}};

static tw_hpa_pod_t pod(const char *name, const tw_hpa_container_t *c, size_t n)
{
    tw_hpa_pod_t p;
    memset(&p, 0, sizeof(p));
    p.name = name;
    p.phase = TW_HPA_POD_RUNNING;
    p.ready = TW_HPA_STATUS_TRUE;
    p.has_start_time = true;
    p.start_time_ms = T0 - INT64_C(3600000); /* an hour old: past the CPU warm-up rules */
    p.ready_transition_ms = T0 - INT64_C(3500000);
    p.containers = c;
    p.n_containers = n;
    return p;
}

/* One series per (pod, container) with labels container, namespace, pod (sorted). */
#define SERIES(lbl, pt)                                                                            \
    {                                                                                              \
        lbl, 3, pt, 1                                                                              \
    }
#define LABELS(p, c)                                                                               \
    {                                                                                              \
        {"container", c}, {"namespace", "web"},                                                    \
        {                                                                                          \
            "pod", p                                                                               \
        }                                                                                          \
    }

static const tw_label_t l_a_app[] = LABELS("a", "app");
static const tw_label_t l_a_side[] = LABELS("a", "sidecar");
static const tw_label_t l_a_pod[] = LABELS("a", "");
static const tw_label_t l_b_app[] = LABELS("b", "app");
static const tw_label_t l_d_app[] = LABELS("d", "app");
static const tw_label_t l_e_x[] = LABELS("e", "x");
static const tw_label_t l_f_side[] = LABELS("f", "sidecar");
static const tw_label_t l_zzz_app[] = LABELS("zzz", "app");

static const tw_qs_point_t p025[] = {{T0, 0.25}};
static const tw_qs_point_t p01[] = {{T0, 0.1000001}};
static const tw_qs_point_t p03[] = {{T0, 0.3}};
static const tw_qs_point_t p5[] = {{T0, 5}};
static const tw_qs_point_t pnan[] = {{T0, NAN}};
static const tw_qs_point_t pmib[] = {{T0, 1048576}};
static const tw_qs_point_t p2k[] = {{T0, 2048}};

static const tw_qs_series_t cpu_series[] = {
    SERIES(l_a_pod, p5),   SERIES(l_a_app, p025), SERIES(l_a_side, p01), SERIES(l_b_app, p03),
    SERIES(l_d_app, pnan), SERIES(l_f_side, p03), SERIES(l_zzz_app, p5),
};

static int fetch(const tw_scalers_config_t *cfg, fake_qs_t *fq, const tw_hpa_pod_t *pods, size_t n,
                 tw_hpa_metric_type_t type, const char *name, const char *container,
                 tw_hpa_metric_input_t *in, tw_scalers_fetch_t *f)
{
    tw_query_source_t qs = fake_source(fq);
    tw_scalers_target_t t = {.namespace = "web", .pods = pods, .n_pods = n};
    memset(in, 0, sizeof(*in));
    in->type = type;
    in->name = name;
    in->container = container;
    in->target_type = TW_HPA_TARGET_UTILIZATION;
    in->target_utilization = 50;
    return tw_scalers_fetch(cfg, &qs, &t, T0, in, f);
}

static void test_query_text(void **state)
{
    (void)state;
    tw_hpa_pod_t pods[] = {pod("web-1", one, 1), pod("web.2", one, 1)};
    tw_buf_t b;
    tw_buf_init(&b, 4096);
    tw_error_t err;
    assert_int_equal(tw_scalers_resource_query("cpu", "web", pods, 2, 90000, &b, &err), 0);
    assert_string_equal(b.data, "sum by (namespace, pod, container) "
                                "(rate(container_cpu_usage_seconds_total{namespace=\"web\","
                                "pod=~\"web-1|web\\\\.2\",container!=\"\",container!=\"POD\"}"
                                "[1m30s]))");
    tw_buf_reset(&b);
    assert_int_equal(tw_scalers_resource_query("memory", "web", pods, 1, 90000, &b, &err), 0);
    assert_string_equal(b.data, "sum by (namespace, pod, container) "
                                "(container_memory_working_set_bytes{namespace=\"web\","
                                "pod=~\"web-1\",container!=\"\",container!=\"POD\"})");
    tw_buf_reset(&b);
    assert_int_equal(tw_scalers_resource_query("nvidia.com/gpu", "web", pods, 1, 1, &b, &err),
                     TW_EINVAL);
    assert_string_equal(err.msg,
                        "resource nvidia.com/gpu is not collected (only cpu and memory are)");
    tw_buf_fini(&b);
    tw_buf_init(&b, 64);
    assert_int_equal(tw_scalers_resource_query("cpu", "web", pods, 2, 60000, &b, &err), TW_ELIMIT);
    assert_string_equal(err.msg, "query longer than 64 bytes");
    tw_buf_fini(&b);
}

static void test_cpu_pod_sum_and_missing(void **state)
{
    (void)state;
    tw_scalers_config_t cfg;
    tw_scalers_config_init(&cfg);
    fake_row_t rows[] = {{.type = TW_QS_VECTOR, .series = cpu_series, .n_series = 7}};
    fake_qs_t fq = {.rows = rows, .n_rows = 1};
    tw_hpa_pod_t pods[] = {pod("a", two, 2), pod("b", two, 2), pod("c", one, 1), pod("d", one, 1)};
    tw_hpa_metric_input_t in;
    tw_scalers_fetch_t f;
    tw_scalers_fetch_init(&f);
    assert_int_equal(fetch(&cfg, &fq, pods, 4, TW_HPA_METRIC_RESOURCE, "cpu", NULL, &in, &f), 0);
    assert_int_equal(fq.calls, 1);
    assert_int_equal(fq.released, 1);
    assert_true(fq.last_t_ms == T0);
    assert_string_equal(fq.last, "sum by (namespace, pod, container) "
                                 "(rate(container_cpu_usage_seconds_total{namespace=\"web\","
                                 "pod=~\"a|b|c|d\",container!=\"\",container!=\"POD\"}[1m]))");
    assert_string_equal(f.query, fq.last);
    assert_null(in.fetch_error);
    /* a: 250m + ceil(100000.1 nanocores -> 100.0001m) = 351m; b lacks its sidecar, c has no
     * series, d is NaN: all three missing; the pod-level series and pod zzz are ignored */
    assert_int_equal(in.pods.n_metrics, 1);
    assert_ptr_equal(in.pods.metrics, f.metrics);
    assert_string_equal(in.pods.metrics[0].pod, "a");
    assert_ptr_equal(in.pods.metrics[0].pod, pods[0].name);
    assert_int_equal(in.pods.metrics[0].value_milli, 351);
    assert_true(in.pods.metrics[0].timestamp_ms == T0);
    assert_int_equal(in.pods.metrics[0].window_ms, 60000);
    assert_ptr_equal(in.pods.pods, pods);
    assert_int_equal(in.pods.n_pods, 4);

    /* the calculator sees a missing-pods case: a is at 35 % of its 1000m request */
    tw_hpa_calc_config_t cc;
    tw_hpa_calc_config_init(&cc);
    tw_hpa_calc_result_t r;
    tw_error_t err;
    in.pods.now_ms = T0;
    assert_int_equal(tw_hpa_calc_resource_utilization(&cc, 4, 50, "cpu", NULL, &in.pods, &r, &err),
                     0);
    assert_int_equal(r.utilization_percent, 35);
    assert_int_equal(r.replicas, 4); /* scale-down vetoed: missing pods count as 100 % */
    tw_scalers_fetch_fini(&f);
}

static void test_memory_and_window(void **state)
{
    (void)state;
    static const tw_qs_series_t mem[] = {SERIES(l_a_app, pmib), SERIES(l_a_side, p2k)};
    tw_scalers_config_t cfg;
    tw_scalers_config_init(&cfg);
    cfg.resource_window_ms = 120000;
    fake_row_t rows[] = {{.query = "sum by (namespace, pod, container) "
                                   "(container_memory_working_set_bytes{namespace=\"web\","
                                   "pod=~\"a\",container!=\"\",container!=\"POD\"})",
                          .type = TW_QS_VECTOR,
                          .series = mem,
                          .n_series = 2}};
    fake_qs_t fq = {.rows = rows, .n_rows = 1};
    tw_hpa_pod_t pods[] = {pod("a", two, 2)};
    tw_hpa_metric_input_t in;
    tw_scalers_fetch_t f;
    tw_scalers_fetch_init(&f);
    assert_int_equal(fetch(&cfg, &fq, pods, 1, TW_HPA_METRIC_RESOURCE, "memory", NULL, &in, &f), 0);
    assert_int_equal(in.pods.n_metrics, 1);
    assert_int_equal(in.pods.metrics[0].value_milli, INT64_C(1050624000));
    assert_int_equal(in.pods.metrics[0].window_ms, 120000);
    tw_scalers_fetch_fini(&f);
}

static void test_container_resource(void **state)
{
    (void)state;
    tw_scalers_config_t cfg;
    tw_scalers_config_init(&cfg);
    fake_row_t rows[] = {{.type = TW_QS_VECTOR, .series = cpu_series, .n_series = 7}};
    fake_qs_t fq = {.rows = rows, .n_rows = 1};
    /* f declares app but has a series for its sidecar only: missing, not an error */
    tw_hpa_pod_t pods[] = {pod("a", two, 2), pod("b", two, 2), pod("d", one, 1), pod("f", two, 2)};
    tw_hpa_metric_input_t in;
    tw_scalers_fetch_t f;
    tw_scalers_fetch_init(&f);
    assert_int_equal(
        fetch(&cfg, &fq, pods, 4, TW_HPA_METRIC_CONTAINER_RESOURCE, "cpu", "app", &in, &f), 0);
    assert_null(in.fetch_error);
    assert_int_equal(in.pods.n_metrics, 2);
    assert_string_equal(in.pods.metrics[0].pod, "a");
    assert_int_equal(in.pods.metrics[0].value_milli, 250);
    assert_string_equal(in.pods.metrics[1].pod, "b");
    assert_int_equal(in.pods.metrics[1].value_milli, 300);

    /* e has metrics but neither runs nor declares "app": upstream's error */
    static const tw_qs_series_t with_e[] = {SERIES(l_a_app, p025), SERIES(l_e_x, p03)};
    rows[0].series = with_e;
    rows[0].n_series = 2;
    tw_hpa_pod_t pods2[] = {pod("a", two, 2), pod("e", other, 1)};
    assert_int_equal(
        fetch(&cfg, &fq, pods2, 2, TW_HPA_METRIC_CONTAINER_RESOURCE, "cpu", "app", &in, &f),
        TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "failed to get container metrics: container app not "
                                        "present in metrics for pod web/e");
    assert_ptr_equal(in.fetch_error, f.error);
    assert_int_equal(in.pods.n_metrics, 0);
    assert_null(in.pods.metrics);
    assert_int_equal(fq.released, fq.calls);
    tw_scalers_fetch_fini(&f);
}

static void test_errors(void **state)
{
    (void)state;
    tw_scalers_config_t cfg;
    tw_scalers_config_init(&cfg);
    tw_hpa_pod_t pods[] = {pod("a", one, 1)};
    tw_hpa_metric_input_t in;
    tw_scalers_fetch_t f;
    tw_scalers_fetch_init(&f);

    /* the query source fails */
    fake_row_t fail[] = {{.rc = TW_ETIMEOUT, .errmsg = "query timed out in query execution"}};
    fake_qs_t fq = {.rows = fail, .n_rows = 1};
    assert_int_equal(fetch(&cfg, &fq, pods, 1, TW_HPA_METRIC_RESOURCE, "cpu", NULL, &in, &f),
                     TW_ETIMEOUT);
    assert_string_equal(in.fetch_error, "unable to fetch metrics from resource metrics API: "
                                        "query timed out in query execution");
    assert_int_equal(in.pods.n_metrics, 0);

    /* no series at all */
    fake_row_t empty[] = {{.type = TW_QS_VECTOR}};
    fq = (fake_qs_t){.rows = empty, .n_rows = 1};
    assert_int_equal(fetch(&cfg, &fq, pods, 1, TW_HPA_METRIC_RESOURCE, "cpu", NULL, &in, &f),
                     TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "no metrics returned from resource metrics API");
    assert_int_equal(fq.released, 1);

    /* no pods: no query at all */
    fq = (fake_qs_t){.rows = empty, .n_rows = 1};
    assert_int_equal(fetch(&cfg, &fq, pods, 0, TW_HPA_METRIC_RESOURCE, "cpu", NULL, &in, &f),
                     TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "no metrics returned from resource metrics API");
    assert_int_equal(fq.calls, 0);

    /* a resource the collector does not have */
    assert_int_equal(
        fetch(&cfg, &fq, pods, 1, TW_HPA_METRIC_RESOURCE, "ephemeral-storage", NULL, &in, &f),
        TW_EINVAL);
    assert_string_equal(in.fetch_error,
                        "unable to fetch metrics from resource metrics API: resource "
                        "ephemeral-storage is not collected (only cpu and memory are)");

    /* the calculator turns fetch_error into FailedGetResourceMetric */
    tw_hpa_controller_config_t cc;
    tw_hpa_controller_config_init(&cc);
    tw_hpa_spec_t spec = {.max_replicas = 10, .metrics = &in, .n_metrics = 1};
    tw_hpa_state_t st;
    tw_hpa_state_init(&st);
    tw_hpa_decision_t d;
    tw_error_t err;
    assert_int_not_equal(tw_hpa_reconcile(&cc, &spec, 3, 3, T0, &st, NULL, &d, &err), 0);
    assert_false(d.rescale);
    assert_non_null(strstr(d.error, "unable to get metrics for resource ephemeral-storage: "
                                    "unable to fetch metrics from resource metrics API"));
    tw_hpa_state_fini(&st);
    tw_scalers_fetch_fini(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_text),
        cmocka_unit_test(test_cpu_pod_sum_and_missing),
        cmocka_unit_test(test_memory_and_window),
        cmocka_unit_test(test_container_resource),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
