/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vpa_loop.c - the vertical autoscaler's loop without a cluster: the dryrun driver (no pod
 * list, so series are matched by the Deployment's pod-name pattern) and a fake query source
 * that answers the history subqueries with 8 days of steady usage (0.5 cores, 200 MB) and the
 * live queries with the same. Checks the queries sent, the recommendation (exact values after
 * bucket rounding, margin, pod minimum and minAllowed), /metrics, the JSON of
 * /api/v1/recommendations, the checkpoint file and a restart that keeps the recommendation
 * without history, a corrupt checkpoint (logged, counted, ignored), and the config-load rules
 * (HPA/VPA on the same resource refused unless AverageValue; min above max). The leader test
 * runs the kubernetes driver against a scripted API server (orch_peer.h): while the leader hook
 * says no, the pass reads the scale and the pods and publishes the recommendation but writes
 * nothing; once it says yes, the same pass patches the Deployment's pod template.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/metric_set.h"
#include "common/query_source.h"
#include "daemon/config.h"
#include "daemon/vpa_api.h"
#include "daemon/vpa_loop.h"
#include "tests/unit/orchestrator/orch_peer.h"

#define NOW INT64_C(1700000000000)
#define HOUR INT64_C(3600000)
#define NPTS 192

typedef struct fake_qs {
    bool history; /* answer the history subqueries */
    int calls;
    char queries[8][1024];
    tw_label_t labels[3];
    tw_qs_point_t points[NPTS];
    tw_qs_series_t series;
} fake_qs_t;

static int fake_instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out,
                        tw_error_t *err)
{
    fake_qs_t *f = ctx;
    (void)err;
    snprintf(f->queries[f->calls % 8], sizeof(f->queries[0]), "%s", expr);
    f->calls++;
    memset(out, 0, sizeof(*out));
    bool hist = strstr(expr, "))[") != NULL; /* a subquery */
    bool cpu = strstr(expr, "container_cpu_usage_seconds_total") != NULL;
    bool oom = strstr(expr, "container_oom_events_total") != NULL;
    double v = cpu ? 0.5 : oom ? 0 : 200e6;
    f->labels[0] = (tw_label_t){"container", "api"};
    f->labels[1] = (tw_label_t){"namespace", "shop"};
    f->labels[2] = (tw_label_t){"pod", "api-7d9f8-abcde"};
    size_t n = 1;
    if (hist) {
        if (!f->history) {
            out->type = TW_QS_MATRIX;
            return 0;
        }
        n = NPTS;
        for (size_t i = 0; i < n; i++) {
            f->points[i] = (tw_qs_point_t){t_ms - (int64_t)(NPTS - i) * HOUR, v};
        }
    } else {
        f->points[0] = (tw_qs_point_t){t_ms, v};
    }
    f->series = (tw_qs_series_t){f->labels, 3, f->points, n};
    out->type = hist ? TW_QS_MATRIX : TW_QS_VECTOR;
    out->series = &f->series;
    out->n_series = 1;
    return 0;
}

typedef struct fixture {
    char dir[64];
    tw_config_t *cfg;
    fake_qs_t fq;
    tw_query_source_t qs;
} fixture_t;

static const char vpa_yaml[] =
    "      - apiVersion: autoscaling.k8s.io/v1\n"
    "        kind: VerticalPodAutoscaler\n"
    "        metadata: {name: api, namespace: shop}\n"
    "        spec:\n"
    "          targetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n"
    "          updatePolicy: {updateMode: Recreate}\n"
    "          resourcePolicy:\n"
    "            containerPolicies:\n"
    "              - containerName: api\n"
    "                minAllowed: {cpu: 100m}\n"
    "              - containerName: ghost\n"
    "                maxAllowed: {memory: 1Gi}\n";

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char yaml[4096];
    tw_error_t err;
    snprintf(f->dir, sizeof(f->dir), "/tmp/tw-vpaloop-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(yaml, sizeof(yaml),
             "storage:\n  path: %s\n"
             "autoscaling:\n"
             "  driver: {type: dryrun}\n"
             "  recommender: {recommender_interval: 1m}\n"
             "  vertical:\n%s",
             f->dir, vpa_yaml);
    tw_error_clear(&err);
    int rc = tw_config_load_mem(yaml, strlen(yaml), "t.yml", &f->cfg, &err);
    if (rc != 0) {
        fprintf(stderr, "%s:%d:%d %s\n", err.file, err.line, err.col, err.msg);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(f->cfg->autoscaling.n_vertical, 1);
    f->fq.history = true;
    f->qs = (tw_query_source_t){.ctx = &f->fq, .instant = fake_instant};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/vpa/shop_api_api.twvc", f->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/vpa", f->dir);
    rmdir(path);
    rmdir(f->dir);
    tw_config_free(f->cfg);
    free(f);
    return 0;
}

static tw_vpa_loop_t *loop_for(fixture_t *f)
{
    tw_error_t err;
    tw_vpa_loop_t *l = tw_vpa_loop_new();
    assert_int_equal(tw_vpa_loop_configure(l, f->cfg, &f->qs, &err), 0);
    return l;
}

/* The published recommendation of shop/api's container api. */
static void get_rec(tw_vpa_loop_t *l, tw_vpa_loop_rec_t *r)
{
    assert_int_equal(tw_vpa_loop_find(l, "shop", "Deployment", "api", r, 1, NULL), 1);
    assert_string_equal(r->container, "api");
}

static void test_recommendation_from_history(void **state)
{
    fixture_t *f = *state;
    tw_vpa_loop_t *l = loop_for(f);
    assert_int_equal(tw_vpa_loop_run_once(l, NOW), 0);
    /* history: CPU and memory subqueries; live: CPU, memory, OOM */
    assert_int_equal(f->fq.calls, 5);
    assert_string_equal(f->fq.queries[0],
                        "sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_"
                        "total{namespace=\"shop\",container!=\"\",container!=\"POD\",pod=~\"api-["
                        "a-z0-9]+-[a-z0-9]+\"}[3600s]))[691200s:3600s]");
    assert_string_equal(f->fq.queries[3],
                        "max by (namespace, pod, container) (max_over_time(container_memory_"
                        "working_set_bytes{namespace=\"shop\",container!=\"\",container!=\"POD\","
                        "pod=~\"api-[a-z0-9]+-[a-z0-9]+\"}[60s]))");

    tw_vpa_loop_rec_t r;
    get_rec(l, &r);
    /* 0.5 cores lands in the bucket ending at 0.511 cores: 511m + trunc(511 * 0.15) = 587m */
    assert_true(r.bound[TW_VPA_TARGET].has[TW_VPA_CPU]);
    assert_int_equal(r.bound[TW_VPA_TARGET].v[TW_VPA_CPU], 587);
    /* 200 MB peaks give 248153481 bytes, below the pod minimum of 250 MiB */
    assert_int_equal(r.bound[TW_VPA_TARGET].v[TW_VPA_MEMORY], 262144000);
    assert_int_equal(r.uncapped.v[TW_VPA_CPU], 587);
    assert_int_equal(r.samples, NPTS + 1);
    assert_int_equal(r.history_ms, NPTS * HOUR);
    /* min(8 days, samples per minute): hourly history counts as 193 one-minute samples */
    assert_true(r.confidence == (double)(NPTS + 1) / 1440.0);
    assert_true(r.bound[TW_VPA_LOWER].v[TW_VPA_CPU] <= 587);
    assert_true(r.bound[TW_VPA_UPPER].v[TW_VPA_CPU] >= 587);

    tw_mset_t *ms = tw_mset_new();
    tw_vpa_loop_collect_metrics(l, ms);
    const tw_mfamily_t *fam = tw_mset_find(ms, "tidewatch_vpa_recommendation");
    assert_non_null(fam);
    assert_non_null(tw_mset_find(ms, "tidewatch_vpa_checkpoint_errors_total"));
    tw_mset_free(ms);

    tw_http_response_t resp = {.status = 0};
    tw_buf_init(&resp.body, 0);
    assert_int_equal(tw_vpa_api_recommendations(l, NULL, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(resp.body.data, "\"containerName\":\"api\",\"target\":{\"cpu\":"
                                           "\"587m\",\"memory\":\"262144000\"}"));
    assert_non_null(strstr(resp.body.data, "\"updateMode\":\"Recreate\""));
    assert_non_null(strstr(resp.body.data, "{\"status\":\"success\",\"data\":{"));
    tw_buf_fini(&resp.body);

    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/vpa/shop_api_api.twvc", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 40);
    tw_vpa_loop_free(l);

    /* A restart with no history left in the TSDB keeps the recommendation. */
    f->fq.history = false;
    f->fq.calls = 0;
    l = loop_for(f);
    assert_int_equal(tw_vpa_loop_run_once(l, NOW + 60000), 0);
    get_rec(l, &r);
    assert_int_equal(r.bound[TW_VPA_TARGET].v[TW_VPA_CPU], 587);
    assert_int_equal(r.bound[TW_VPA_TARGET].v[TW_VPA_MEMORY], 262144000);
    assert_int_equal(r.samples, NPTS + 2);
    tw_vpa_loop_free(l);
}

/* ---- leader election ------------------------------------------------------------------------ */

#define SCALE_API                                                                                  \
    "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"api\","        \
    "\"namespace\":\"shop\",\"resourceVersion\":\"7\"},\"spec\":{\"replicas\":2},"                 \
    "\"status\":{\"replicas\":2,\"selector\":\"app=api\"}}"
#define POD_API(name)                                                                              \
    "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"shop\",\"labels\":{\"app\":\"api\"},"    \
    "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":"           \
    "\"api-7d9f8\",\"controller\":true}]},\"spec\":{\"containers\":[{\"name\":\"api\","            \
    "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}]},\"status\":{"          \
    "\"phase\":\"Running\",\"startTime\":\"2023-11-01T00:00:00Z\",\"conditions\":[{\"type\":"      \
    "\"Ready\",\"status\":\"True\"}]}}"
#define PODS_API                                                                                   \
    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[" POD_API(             \
        "api-7d9f8-abcde") "," POD_API("api-7d9f8-fghij") "]}"

static bool leader_answer(void *ctx)
{
    return *(bool *)ctx;
}

/* The value of the first sample of family name in l's metrics with label=v (NULL: no label). */
static double vpa_metric(tw_vpa_loop_t *l, const char *name, const char *label, const char *v)
{
    tw_mset_t *s = tw_mset_new();
    double out = -1;
    tw_vpa_loop_collect_metrics(l, s);
    const tw_mfamily_t *fam = tw_mset_find(s, name);
    for (size_t i = 0; fam != NULL && i < fam->nsamples && out < 0; i++) {
        const tw_msample_t *smp = &fam->samples[i];
        if (label == NULL && smp->nlabels == 0) {
            out = smp->value;
        }
        for (size_t k = 0; label != NULL && k < smp->nlabels; k++) {
            if (strcmp(smp->labels[k].name, label) == 0 && strcmp(smp->labels[k].value, v) == 0) {
                out = smp->value;
            }
        }
    }
    tw_mset_free(s);
    return out;
}

static void test_updater_only_when_leader(void **state)
{
    fixture_t *f = *state;
    /* Three passes: scale and pods each; only the second (leader) one ends with the PATCH. */
    peer_resp_t rs[] = {{200, NULL, SCALE_API},
                        {200, NULL, PODS_API},
                        {200, NULL, SCALE_API},
                        {200, NULL, PODS_API},
                        {200, NULL, "{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\"}"},
                        {200, NULL, SCALE_API},
                        {200, NULL, PODS_API}};
    peer_t *p = peer_start(rs, 7);
    assert_non_null(p);
    char kc[160], yaml[4096];
    assert_true(peer_write_kubeconfig(p, f->dir, kc, sizeof(kc)));
    snprintf(yaml, sizeof(yaml),
             "storage:\n  path: %s\n"
             "kubernetes: {kubeconfig: %s, qps: 1000, burst: 100}\n"
             "autoscaling:\n"
             "  driver: {type: kubernetes}\n"
             "  vertical:\n%s",
             f->dir, kc, vpa_yaml);
    tw_config_t *c = NULL;
    tw_error_t err;
    tw_error_clear(&err);
    assert_int_equal(tw_config_load_mem(yaml, strlen(yaml), "t.yml", &c, &err), 0);

    bool leader = false;
    tw_vpa_loop_t *l = tw_vpa_loop_new();
    assert_int_equal(tw_vpa_loop_configure(l, c, &f->qs, &err), 0);
    tw_vpa_loop_set_leader(l, leader_answer, &leader);
    assert_true(vpa_metric(l, "tidewatch_vpa_updater_leader", NULL, NULL) == 1);

    /* Not the leader: reads, recommends and publishes, writes nothing. */
    assert_int_equal(tw_vpa_loop_run_once(l, NOW), 0);
    assert_int_equal(p->n_reqs, 2);
    assert_string_equal(p->reqs[0].method, "GET");
    assert_string_equal(p->reqs[0].path, "/apis/apps/v1/namespaces/shop/deployments/api/scale");
    assert_string_equal(p->reqs[1].method, "GET");
    assert_string_equal(p->reqs[1].path, "/api/v1/namespaces/shop/pods");
    tw_vpa_loop_rec_t r;
    get_rec(l, &r);
    assert_int_equal(r.bound[TW_VPA_TARGET].v[TW_VPA_CPU], 587);
    assert_true(vpa_metric(l, "tidewatch_vpa_updater_leader", NULL, NULL) == 0);
    assert_true(vpa_metric(l, "tidewatch_vpa_updater_actions_total", "action", "template_patch") ==
                0);
    assert_true(vpa_metric(l, "tidewatch_vpa_updater_actions_total", "action", "refused") == 0);

    /* The leader: the same pods are now outside the range, so Recreate without the admission
     * webhook patches the pod template once. */
    leader = true;
    assert_int_equal(tw_vpa_loop_run_once(l, NOW + 60000), 0);
    assert_int_equal(p->n_reqs, 5);
    assert_string_equal(p->reqs[4].method, "PATCH");
    assert_string_equal(p->reqs[4].path, "/apis/apps/v1/namespaces/shop/deployments/api");
    assert_string_equal(p->reqs[4].content_type, "application/strategic-merge-patch+json");
    assert_string_equal(p->reqs[4].body,
                        "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"api\","
                        "\"resources\":{\"requests\":{\"cpu\":\"587m\",\"memory\":"
                        "\"262144000\"}}}]}}}}");
    assert_true(vpa_metric(l, "tidewatch_vpa_updater_leader", NULL, NULL) == 1);
    assert_true(vpa_metric(l, "tidewatch_vpa_updater_actions_total", "action", "template_patch") ==
                1);

    /* Losing the Lease stops the writes again. */
    leader = false;
    assert_int_equal(tw_vpa_loop_run_once(l, NOW + 120000), 0);
    assert_int_equal(p->n_reqs, 7);
    assert_string_equal(p->reqs[6].method, "GET");
    assert_true(vpa_metric(l, "tidewatch_vpa_updater_leader", NULL, NULL) == 0);
    assert_true(vpa_metric(l, "tidewatch_vpa_updater_actions_total", "action", "template_patch") ==
                1);

    tw_vpa_loop_free(l);
    tw_config_free(c);
    peer_stop(p);
    unlink(kc);
    char tok[160];
    snprintf(tok, sizeof(tok), "%s/token", f->dir);
    unlink(tok);
}

static void test_corrupt_checkpoint(void **state)
{
    fixture_t *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/vpa", f->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/vpa/shop_api_api.twvc", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("TWVC\001\002v3 this is not a checkpoint", fp);
    fclose(fp);

    tw_vpa_loop_t *l = loop_for(f);
    assert_int_equal(tw_vpa_loop_run_once(l, NOW), 0);
    tw_vpa_loop_rec_t r;
    get_rec(l, &r);
    assert_int_equal(r.bound[TW_VPA_TARGET].v[TW_VPA_CPU], 587); /* from the history alone */
    tw_mset_t *ms = tw_mset_new();
    tw_vpa_loop_collect_metrics(l, ms);
    assert_non_null(tw_mset_find(ms, "tidewatch_vpa_checkpoint_errors_total"));
    tw_mset_free(ms);
    tw_vpa_loop_free(l);
    /* the corrupt file was replaced by a good one */
    f->fq.history = false;
    l = loop_for(f);
    assert_int_equal(tw_vpa_loop_run_once(l, NOW + 60000), 0);
    get_rec(l, &r);
    assert_int_equal(r.bound[TW_VPA_TARGET].v[TW_VPA_CPU], 587);
    tw_vpa_loop_free(l);
}

static void test_recommend_history_cli(void **state)
{
    fixture_t *f = *state;
    tw_buf_t out;
    tw_error_t err;
    tw_buf_init(&out, 0);
    assert_int_equal(tw_vpa_recommend_history(&f->qs, "namespace=\"shop\"", NULL, NOW, &out, &err),
                     0);
    assert_int_equal(f->fq.calls, 2);
    assert_non_null(strstr(f->fq.queries[0], "{container!=\"\",container!=\"POD\",namespace="
                                             "\"shop\"}[3600s]))[691200s:3600s]"));
    assert_string_equal(out.data,
                        "{\"namespace\":\"shop\",\"containerName\":\"api\",\"target\":{\"cpu\":"
                        "\"587m\",\"memory\":\"262144000\"},\"lowerBound\":{\"cpu\":\"578m\","
                        "\"memory\":\"262144000\"},\"upperBound\":{\"cpu\":\"4989m\",\"memory\":"
                        "\"2109304580\"},\"uncappedTarget\":{\"cpu\":\"587m\",\"memory\":"
                        "\"262144000\"},\"historyLengthSeconds\":687600,\"confidence\":"
                        "0.13333333333333333,\"totalSamples\":192}\n");
    tw_buf_fini(&out);
}

/* Loads a config made of an HPA (with the given metric target) and the VPA above. */
static int load_pair(const char *target, tw_error_t *err)
{
    char yaml[4096];
    tw_config_t *c = NULL;
    snprintf(yaml, sizeof(yaml),
             "autoscaling:\n"
             "  horizontal:\n"
             "    - apiVersion: autoscaling/v2\n"
             "      kind: HorizontalPodAutoscaler\n"
             "      metadata: {name: api-hpa, namespace: shop}\n"
             "      spec:\n"
             "        scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n"
             "        maxReplicas: 5\n"
             "        metrics:\n"
             "          - type: Resource\n"
             "            resource: {name: cpu, target: %s}\n"
             "  vertical:\n%s",
             target, vpa_yaml);
    tw_error_clear(err);
    int rc = tw_config_load_mem(yaml, strlen(yaml), "t.yml", &c, err);
    tw_config_free(c);
    return rc;
}

static void test_hpa_vpa_conflict(void **state)
{
    (void)state;
    tw_error_t err;
    assert_int_equal(load_pair("{type: Utilization, averageUtilization: 60}", &err), TW_EINVAL);
    assert_int_equal(err.line, 13);
    assert_int_equal(err.col, 9);
    assert_non_null(strstr(err.msg, "autoscaling.vertical: VerticalPodAutoscaler shop/api and "
                                    "HorizontalPodAutoscaler shop/api-hpa (t.yml:3:7) both act on "
                                    "cpu of Deployment api"));
    assert_non_null(strstr(err.msg, "Give the HPA an AverageValue target"));
    assert_int_equal(load_pair("{type: AverageValue, averageValue: 500m}", &err), 0);
}

static void test_min_above_max_in_config(void **state)
{
    (void)state;
    tw_error_t err;
    tw_config_t *c = NULL;
    const char *y = "autoscaling:\n"
                    "  vertical:\n"
                    "    - apiVersion: autoscaling.k8s.io/v1\n"
                    "      kind: VerticalPodAutoscaler\n"
                    "      metadata: {name: api}\n"
                    "      spec:\n"
                    "        targetRef: {kind: Deployment, name: api}\n"
                    "        resourcePolicy:\n"
                    "          containerPolicies:\n"
                    "            - containerName: api\n"
                    "              minAllowed: {memory: 2Gi}\n"
                    "              maxAllowed: {memory: 1Gi}\n";
    tw_error_clear(&err);
    assert_int_equal(tw_config_load_mem(y, strlen(y), "t.yml", &c, &err), TW_EINVAL);
    assert_null(c);
    assert_string_equal(err.msg, "spec.resourcePolicy.containerPolicies[0].maxAllowed.memory: max "
                                 "resource for memory is lower than min");
    assert_int_equal(err.line, 12);
    assert_int_equal(err.col, 36);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recommendation_from_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_updater_only_when_leader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recommend_history_cli, setup, teardown),
        cmocka_unit_test(test_hpa_vpa_conflict),
        cmocka_unit_test(test_min_above_max_in_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
