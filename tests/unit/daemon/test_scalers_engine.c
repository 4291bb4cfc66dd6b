/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scalers_engine.c - the metric sources (autoscaler/scalers) end to end against the real
 * PromQL engine over a TSDB in a temporary directory: cAdvisor-shaped container series written
 * through the appender, read back through tw_promql_query_source(), turned into HPA inputs and
 * fed to the replica calculator. It lives under daemon/ because only tw_daemon links the engine,
 * the TSDB and the autoscaler together.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/scalers/scalers.h"
#include "collector/tsdb/tsdb.h"
#include "common/query_source.h"
#include "query/query.h"

#define T0 INT64_C(1700000000000)
#define START (T0 - INT64_C(120000))

typedef struct fixture {
    char dir[64];
    tw_tsdb_t *db;
    tw_promql_qs_t qsctx;
    tw_query_source_t qs;
} fixture_t;

/* A cAdvisor-style container series: the kubelet's label set plus cpu="total" for CPU. */
static void put(tw_tsdb_appender_t *app, const char *metric, const char *ns, const char *pod,
                const char *container, double per_s, bool counter)
{
    tw_label_t l[8];
    size_t n = 0;
    l[n++] = (tw_label_t){"__name__", metric};
    l[n++] = (tw_label_t){"container", container};
    if (strcmp(metric, "container_cpu_usage_seconds_total") == 0) {
        l[n++] = (tw_label_t){"cpu", "total"};
    }
    l[n++] = (tw_label_t){"id", "/kubepods/x"};
    l[n++] = (tw_label_t){"namespace", ns};
    l[n++] = (tw_label_t){"pod", pod};
    tw_error_t err;
    for (int64_t t = START; t <= T0; t += 10000) {
        double v = counter ? per_s * (double)(t - START) / 1000.0 : per_s;
        assert_int_equal(tw_tsdb_appender_append(app, l, n, t, v, &err), 0);
    }
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/tw-scalers-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    tw_tsdb_options_t opts;
    tw_tsdb_options_default(&opts);
    opts.path = fx->dir;
    opts.compact_interval_ms = 0;
    tw_error_t err;
    assert_int_equal(tw_tsdb_open(&opts, &fx->db, &err), 0);
    tw_tsdb_appender_t *app = tw_tsdb_appender_begin(fx->db);
    assert_non_null(app);
    const char *cpu = "container_cpu_usage_seconds_total";
    const char *mem = "container_memory_working_set_bytes";
    put(app, cpu, "web", "a", "app", 0.25, true);
    put(app, cpu, "web", "a", "sidecar", 0.125, true);
    put(app, cpu, "web", "a", "", 3, true); /* the pod's own cgroup: left out */
    put(app, cpu, "web", "b", "app", 0.5, true);
    put(app, cpu, "other", "b", "app", 7, true); /* same pod name, other namespace */
    put(app, mem, "web", "a", "app", 104857600, false);
    put(app, mem, "web", "a", "sidecar", 52428800, false);
    put(app, mem, "web", "a", "", 999999999, false);
    tw_label_t rq[] = {{"__name__", "http_requests_total"}, {"namespace", "web"}, {"pod", "a"}};
    tw_label_t rq2[] = {{"__name__", "http_requests_total"}, {"namespace", "web"}, {"pod", "b"}};
    tw_label_t qd[] = {{"__name__", "queue_depth"}, {"queue", "orders"}};
    tw_label_t qd2[] = {{"__name__", "queue_depth"}, {"queue", "mail"}};
    for (int64_t t = START; t <= T0; t += 10000) {
        double s = (double)(t - START) / 1000.0;
        assert_int_equal(tw_tsdb_appender_append(app, rq, 3, t, 2 * s, &err), 0);
        assert_int_equal(tw_tsdb_appender_append(app, rq2, 3, t, 4 * s, &err), 0);
        assert_int_equal(tw_tsdb_appender_append(app, qd, 2, t, 17, &err), 0);
        assert_int_equal(tw_tsdb_appender_append(app, qd2, 2, t, 5, &err), 0);
    }
    assert_int_equal(tw_tsdb_appender_commit(app, &err), 0);
    memset(&fx->qsctx, 0, sizeof(fx->qsctx));
    tw_promql_storage_tsdb(fx->db, &fx->qsctx.storage);
    tw_promql_query_source(&fx->qsctx, &fx->qs);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    tw_tsdb_close(fx->db);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static const tw_hpa_container_t two[] = {{"app", true, 500}, {"sidecar", true, 500}};
static const tw_hpa_container_t one[] = {{"app", true, 500}};

static tw_hpa_pod_t pod(const char *name, const tw_hpa_container_t *c, size_t n)
{
    tw_hpa_pod_t p;
    memset(&p, 0, sizeof(p));
    p.name = name;
    p.phase = TW_HPA_POD_RUNNING;
    p.ready = TW_HPA_STATUS_TRUE;
    p.has_start_time = true;
    p.start_time_ms = T0 - INT64_C(3600000);
    p.ready_transition_ms = T0 - INT64_C(3500000);
    p.containers = c;
    p.n_containers = n;
    return p;
}

static void test_resource_metrics(void **state)
{
    fixture_t *fx = *state;
    tw_scalers_config_t cfg;
    tw_scalers_config_init(&cfg);
    tw_hpa_pod_t pods[] = {pod("a", two, 2), pod("b", one, 1), pod("c", one, 1)};
    tw_scalers_target_t t = {.namespace = "web", .pods = pods, .n_pods = 3};
    tw_hpa_metric_input_t in = {.type = TW_HPA_METRIC_RESOURCE,
                                .name = "cpu",
                                .target_type = TW_HPA_TARGET_UTILIZATION,
                                .target_utilization = 50};
    tw_scalers_fetch_t f;
    tw_scalers_fetch_init(&f);
    assert_int_equal(tw_scalers_fetch(&cfg, &fx->qs, &t, T0, &in, &f), 0);
    assert_null(in.fetch_error);
    assert_int_equal(in.pods.n_metrics, 2); /* c has no series: missing */
    assert_string_equal(in.pods.metrics[0].pod, "a");
    assert_int_equal(in.pods.metrics[0].value_milli, 375);
    assert_true(in.pods.metrics[0].timestamp_ms == T0);
    assert_int_equal(in.pods.metrics[0].window_ms, 60000);
    assert_string_equal(in.pods.metrics[1].pod, "b");
    assert_int_equal(in.pods.metrics[1].value_milli, 500);

    /*
     * (375 + 500) / (1000 + 500) = 58 % against 50 % asks for more pods, but c is missing and
     * counts as 0 on the way up: 875 / 2000 = 43 % points the other way, so nothing changes
     */
    tw_hpa_calc_config_t cc;
    tw_hpa_calc_config_init(&cc);
    tw_hpa_calc_result_t r;
    tw_error_t err;
    assert_int_equal(tw_hpa_calc_resource_utilization(&cc, 3, 50, "cpu", NULL, &in.pods, &r, &err),
                     0);
    assert_int_equal(r.utilization_percent, 58);
    assert_int_equal(r.replicas, 3);
    /* without c the same samples scale 2 pods to ceil(58 / 50 x 2) = 3 */
    in.pods.n_pods = 2;
    assert_int_equal(tw_hpa_calc_resource_utilization(&cc, 2, 50, "cpu", NULL, &in.pods, &r, &err),
                     0);
    assert_int_equal(r.replicas, 3);
    in.pods.n_pods = 3;

    in.type = TW_HPA_METRIC_CONTAINER_RESOURCE;
    in.container = "sidecar";
    assert_int_equal(tw_scalers_fetch(&cfg, &fx->qs, &t, T0, &in, &f), TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "failed to get container metrics: container sidecar not "
                                        "present in metrics for pod web/b");
    in.container = "app";
    assert_int_equal(tw_scalers_fetch(&cfg, &fx->qs, &t, T0, &in, &f), 0);
    assert_int_equal(in.pods.n_metrics, 2);
    assert_int_equal(in.pods.metrics[0].value_milli, 250);

    in.type = TW_HPA_METRIC_RESOURCE;
    in.name = "memory";
    assert_int_equal(tw_scalers_fetch(&cfg, &fx->qs, &t, T0, &in, &f), 0);
    assert_int_equal(in.pods.n_metrics, 1); /* b has no memory series */
    assert_string_equal(in.pods.metrics[0].pod, "a");
    assert_int_equal(in.pods.metrics[0].value_milli, INT64_C(157286400000));

    /* long past the data: nothing in the lookback window is "missing", not zero */
    in.name = "cpu";
    assert_int_equal(tw_scalers_fetch(&cfg, &fx->qs, &t, T0 + INT64_C(3600000), &in, &f),
                     TW_ENOTFOUND);
    assert_string_equal(in.fetch_error, "no metrics returned from resource metrics API");
    tw_scalers_fetch_fini(&f);
}

static void test_promql_metrics(void **state)
{
    fixture_t *fx = *state;
    static const char yaml[] =
        "metric_queries:\n"
        "  - name: rps\n"
        "    type: Pods\n"
        "    query: 'sum by (pod) (rate(http_requests_total{namespace=\"{{.Namespace}}\","
        "pod=~\"{{.PodSelector}}\"}[1m]))'\n"
        "  - name: depth\n"
        "    query: 'sum(queue_depth{ {{.LabelSelector}} })'\n"
        "  - name: broken\n"
        "    query: 'sum(rate(queue_depth{queue=\"{{.ObjectName}}\"}))'\n";
    tw_yaml_doc_t *doc = NULL;
    tw_error_t err;
    assert_int_equal(tw_yaml_doc_parse(yaml, strlen(yaml), "t.yml", &doc, &err), 0);
    tw_yaml_walk_t w = {.file = "t.yml", .err = &err};
    tw_scalers_config_t cfg;
    tw_scalers_config_init(&cfg);
    assert_int_equal(
        tw_scalers_queries_from_yaml(&w, tw_yaml_doc_root(doc)->items[1], "metric_queries", &cfg),
        0);
    tw_yaml_doc_free(doc);

    tw_hpa_pod_t pods[] = {pod("a", one, 1), pod("b", one, 1)};
    tw_scalers_target_t t = {.namespace = "web",
                             .pods = pods,
                             .n_pods = 2,
                             .selector = "queue=orders",
                             .object_kind = "Queue",
                             .object_name = "orders"};
    tw_hpa_metric_input_t in = {.type = TW_HPA_METRIC_PODS,
                                .name = "rps",
                                .target_type = TW_HPA_TARGET_AVERAGE_VALUE,
                                .target_milli = 1000};
    tw_scalers_fetch_t f;
    tw_scalers_fetch_init(&f);
    assert_int_equal(tw_scalers_fetch(&cfg, &fx->qs, &t, T0, &in, &f), 0);
    assert_int_equal(in.pods.n_metrics, 2);
    assert_string_equal(in.pods.metrics[0].pod, "a");
    assert_int_equal(in.pods.metrics[0].value_milli, 2000);
    assert_int_equal(in.pods.metrics[1].value_milli, 4000);
    tw_hpa_calc_config_t cc;
    tw_hpa_calc_config_init(&cc);
    tw_hpa_calc_result_t r;
    assert_int_equal(tw_hpa_calc_pods_average(&cc, 2, 1000, &in.pods, &r, &err), 0);
    assert_int_equal(r.replicas, 6); /* 3 per pod on average against 1 */

    in.type = TW_HPA_METRIC_EXTERNAL;
    in.name = "depth";
    assert_int_equal(tw_scalers_fetch(&cfg, &fx->qs, &t, T0, &in, &f), 0);
    assert_string_equal(f.query, "sum(queue_depth{ queue=\"orders\" })");
    assert_int_equal(in.n_external_values, 1);
    assert_int_equal(in.external_values_milli[0], 17000);

    in.type = TW_HPA_METRIC_OBJECT;
    assert_int_equal(tw_scalers_fetch(&cfg, &fx->qs, &t, T0, &in, &f), 0);
    assert_int_equal(in.object_value_milli, 17000);

    /* the engine's own error text comes through */
    in.name = "broken";
    assert_int_equal(tw_scalers_fetch(&cfg, &fx->qs, &t, T0, &in, &f), TW_EPARSE);
    assert_non_null(strstr(in.fetch_error, "unable to fetch metrics from custom metrics API: "));
    assert_non_null(strstr(in.fetch_error, "range vector"));
    tw_scalers_fetch_fini(&f);
    tw_scalers_config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resource_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promql_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
