/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_autoscale_loop.c - the autoscaler loop's passes without a cluster: the exec driver (a
 * shell reads the replica count from a file and writes the new one there) and a fake query
 * source answering an External metric. Checks the write, the metrics on /metrics, the hold when
 * the metric source fails (no write, counted), the status JSON, and the autoscaling: config
 * section (defaults, errors with positions). Leader election runs against a scripted API
 * server (orch_peer.h) with no HPA at all: the Lease is still acquired, renewed and lost, and
 * tw_autoscale_loop_is_leader() (what the VPA updater follows) says so, within the renew
 * deadline of the last renewal only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoscaler/scalers/scalers.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/metric_set.h"
#include "common/query_source.h"
#include "common/timeutil.h"
#include "daemon/autoscale_loop.h"
#include "daemon/config.h"
#include "tests/unit/orchestrator/orch_peer.h"

#define NOW INT64_C(1700000000000)

/* The fake query source: one series with `value`, or an error when fail is set. */
typedef struct fake_qs {
    double value;
    bool fail;
    int calls;
    char last[512];
    tw_qs_point_t point;
    tw_qs_series_t series;
} fake_qs_t;

static int fake_instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out,
                        tw_error_t *err)
{
    fake_qs_t *f = ctx;
    f->calls++;
    snprintf(f->last, sizeof(f->last), "%s", expr);
    memset(out, 0, sizeof(*out));
    if (f->fail) {
        return tw_error_set(err, TW_EEXEC, "storage is down");
    }
    f->point = (tw_qs_point_t){t_ms, f->value};
    f->series = (tw_qs_series_t){NULL, 0, &f->point, 1};
    out->type = TW_QS_VECTOR;
    out->series = &f->series;
    out->n_series = 1;
    return 0;
}

typedef struct fixture {
    char dir[64];
    char file[96];
    tw_config_t *cfg;
    tw_autoscale_loop_t *loop;
    fake_qs_t fq;
    tw_query_source_t qs;
} fixture_t;

static int read_replicas(const fixture_t *f)
{
    FILE *fp = fopen(f->file, "r");
    int v = -1;
    if (fp != NULL) {
        if (fscanf(fp, "%d", &v) != 1) {
            v = -1;
        }
        fclose(fp);
    }
    return v;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char yaml[4096];
    tw_error_t err;
    snprintf(f->dir, sizeof(f->dir), "/tmp/tw-asloop-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->file, sizeof(f->file), "%s/replicas", f->dir);
    FILE *fp = fopen(f->file, "w");
    assert_non_null(fp);
    fputs("2\n", fp);
    fclose(fp);
    snprintf(
        yaml, sizeof(yaml),
        "autoscaling:\n"
        "  sync_period: 1s\n"
        "  max_decisions: 3\n"
        "  driver:\n"
        "    type: exec\n"
        "    exec:\n"
        "      get_command: [sh, -c, 'cat %s']\n"
        "      scale_command: [sh, -c, 'echo {replicas} > %s']\n"
        "  metric_queries:\n"
        "    - {name: queue, type: External, query: 'sum(queue_depth{ {{.LabelSelector}} })'}\n"
        "  horizontal:\n"
        "    - apiVersion: autoscaling/v2\n"
        "      kind: HorizontalPodAutoscaler\n"
        "      metadata: {name: worker, namespace: jobs}\n"
        "      spec:\n"
        "        scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: worker}\n"
        "        minReplicas: 1\n"
        "        maxReplicas: 4\n"
        "        metrics:\n"
        "          - type: External\n"
        "            external:\n"
        "              metric: {name: queue, selector: {matchLabels: {q: jobs}}}\n"
        "              target: {type: AverageValue, averageValue: '100'}\n",
        f->file, f->file);
    assert_int_equal(tw_config_load_mem(yaml, strlen(yaml), "t.yml", &f->cfg, &err), 0);
    f->qs = (tw_query_source_t){.ctx = &f->fq, .instant = fake_instant};
    f->loop = tw_autoscale_loop_new();
    assert_int_equal(tw_autoscale_loop_configure(f->loop, f->cfg, &f->qs, &err), 0);
    tw_log_setup(TW_LOG_ERROR, TW_LOG_FMT_LOGFMT);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char dirfile[160];
    tw_autoscale_loop_free(f->loop);
    tw_config_free(f->cfg);
    unlink(f->file);
    snprintf(dirfile, sizeof(dirfile), "%s", f->dir);
    rmdir(dirfile);
    free(f);
    return 0;
}

/* The value of family name with the given label value for label (NULL: the first sample). */
static double metric(tw_autoscale_loop_t *l, const char *name, const char *label, const char *v)
{
    tw_mset_t *s = tw_mset_new();
    double out = -1;
    tw_autoscale_loop_collect_metrics(l, s);
    const tw_mfamily_t *fam = tw_mset_find(s, name);
    for (size_t i = 0; fam != NULL && i < fam->nsamples && out < 0; i++) {
        const tw_msample_t *smp = &fam->samples[i];
        for (size_t k = 0; k < smp->nlabels; k++) {
            if (label == NULL ||
                (strcmp(smp->labels[k].name, label) == 0 && strcmp(smp->labels[k].value, v) == 0)) {
                out = smp->value;
                break;
            }
        }
        if (label == NULL && smp->nlabels == 0) {
            out = smp->value;
        }
    }
    tw_mset_free(s);
    return out;
}

static void status(tw_autoscale_loop_t *l, tw_buf_t *b)
{
    tw_buf_reset(b);
    assert_int_equal(tw_autoscale_loop_status_json(l, b), 0);
    assert_non_null(b->data);
}

static void test_scale_then_hold(void **state)
{
    fixture_t *f = *state;
    tw_buf_t b;
    tw_buf_init(&b, 1 << 20);
    assert_true(tw_autoscale_loop_is_leader(f->loop)); /* no election */

    /* 900 over a target of 100 per replica: 9, capped at maxReplicas 4. */
    f->fq.value = 900;
    assert_int_equal(tw_autoscale_loop_run_once(f->loop, NOW), 0);
    assert_int_equal(f->fq.calls, 1);
    assert_string_equal(f->fq.last, "sum(queue_depth{ q=\"jobs\" })");
    assert_int_equal(read_replicas(f), 4);
    assert_true(metric(f->loop, "tidewatch_autoscaler_desired_replicas", "name", "worker") == 4);
    assert_true(
        metric(f->loop, "tidewatch_autoscaler_scale_operations_total", "result", "success") == 1);
    /* status.currentMetrics of an External AverageValue: ceil(900 / 2 status replicas) */
    assert_true(metric(f->loop, "tidewatch_autoscaler_metric_value", "metric", "queue") == 450);
    assert_true(
        metric(f->loop, "tidewatch_autoscaler_limited_total", "reason", "TooManyReplicas") == 1);
    status(f->loop, &b);
    assert_non_null(strstr(b.data, "\"outcome\":\"scaled\""));
    assert_non_null(strstr(b.data, "\"desiredReplicas\":4"));
    assert_non_null(strstr(b.data, "\"driver\":\"exec\""));

    /* The metric source fails: hold at 4, no write, counted with the HPA's reason. */
    FILE *fp = fopen(f->file, "w");
    fputs("4\n", fp);
    fclose(fp);
    f->fq.fail = true;
    assert_int_equal(tw_autoscale_loop_run_once(f->loop, NOW + 1000), 0);
    assert_int_equal(read_replicas(f), 4);
    assert_true(metric(f->loop, "tidewatch_autoscaler_refusals_total", "reason",
                       "FailedGetExternalMetric") == 1);
    assert_true(
        metric(f->loop, "tidewatch_autoscaler_scale_operations_total", "result", "success") == 1);
    status(f->loop, &b);
    assert_non_null(strstr(b.data, "\"outcome\":\"held\""));
    assert_non_null(strstr(b.data, "storage is down"));
    assert_non_null(strstr(b.data, "\"reason\":\"FailedGetExternalMetric\""));

    /* Back: 150 -> 2 replicas, but the legacy 5 min window still holds the first pass's raw
     * proposal of 9, which maxReplicas cuts to 4: held at 4, limited by TooManyReplicas. */
    f->fq.fail = false;
    f->fq.value = 150;
    assert_int_equal(tw_autoscale_loop_run_once(f->loop, NOW + 2000), 0);
    assert_int_equal(read_replicas(f), 4);
    status(f->loop, &b);
    assert_non_null(strstr(b.data, "\"outcome\":\"limited\",\"reason\":\"TooManyReplicas\""));
    assert_non_null(strstr(b.data, "\"proposal\":2"));
    assert_true(
        metric(f->loop, "tidewatch_autoscaler_limited_total", "reason", "TooManyReplicas") == 2);
    /* The ring keeps max_decisions (3): a fourth pass drops the oldest. */
    assert_int_equal(tw_autoscale_loop_run_once(f->loop, NOW + 3000), 0);
    status(f->loop, &b);
    size_t n = 0;
    for (const char *p = b.data; (p = strstr(p, "\"outcome\":")) != NULL; p++) {
        n++;
    }
    assert_int_equal(n, 3);
    assert_null(strstr(b.data, "\"outcome\":\"scaled\""));
    assert_true(metric(f->loop, "tidewatch_autoscaler_passes_total", NULL, NULL) == 4);
    tw_buf_fini(&b);
}

/* A read failure decides nothing: FailedGetScale, no write. */
static void test_unreadable_scale(void **state)
{
    fixture_t *f = *state;
    unlink(f->file); /* `cat` fails */
    f->fq.value = 900;
    assert_int_equal(tw_autoscale_loop_run_once(f->loop, NOW), 1);
    assert_int_equal(f->fq.calls, 0);
    assert_int_equal(read_replicas(f), -1);
    assert_true(
        metric(f->loop, "tidewatch_autoscaler_refusals_total", "reason", "FailedGetScale") == 1);
}

#define LEASE_PATH "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
#define LEASE_HELD_BY(id, rv)                                                                      \
    "{\"kind\":\"Lease\",\"apiVersion\":\"coordination.k8s.io/v1\",\"metadata\":{\"name\":"        \
    "\"tw-test\",\"namespace\":\"kube-system\",\"resourceVersion\":\"" rv "\"},\"spec\":{"         \
    "\"holderIdentity\":\"" id "\",\"leaseDurationSeconds\":15,\"acquireTime\":"                   \
    "\"2023-11-14T22:13:20.000000Z\",\"renewTime\":\"2023-11-14T22:13:20.000000Z\","               \
    "\"leaseTransitions\":0}}"
#define NOT_FOUND                                                                                  \
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","           \
    "\"message\":\"leases.coordination.k8s.io \\\"tw-test\\\" not "                                \
    "found\",\"reason\":\"NotFound\","                                                             \
    "\"code\":404}"

/* With leader election and no HPA the passes still run the Lease (the VPA updater needs it). */
static void test_lease_without_hpas(void **state)
{
    (void)state;
    peer_resp_t rs[] = {
        {404, NULL, NOT_FOUND},                  /* GET: no Lease yet */
        {201, NULL, LEASE_HELD_BY("tw-a", "4")}, /* POST: created, held by us */
        {200, NULL, LEASE_HELD_BY("tw-a", "4")}, /* GET */
        {200, NULL, LEASE_HELD_BY("tw-a", "5")}, /* PUT: renewed */
        {200, NULL, LEASE_HELD_BY("tw-b", "9")}, /* GET: someone else took it */
    };
    peer_t *p = peer_start(rs, 5);
    assert_non_null(p);
    char dir[64], kc[128], yaml[2048];
    snprintf(dir, sizeof(dir), "/tmp/tw-aslease-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_true(peer_write_kubeconfig(p, dir, kc, sizeof(kc)));
    snprintf(yaml, sizeof(yaml),
             "kubernetes: {kubeconfig: %s, qps: 1000, burst: 100}\n"
             "autoscaling:\n"
             "  leader_election: {enabled: true, namespace: kube-system, name: tw-test, "
             "identity: tw-a}\n",
             kc);
    tw_config_t *c = NULL;
    tw_error_t err;
    tw_error_clear(&err);
    assert_int_equal(tw_config_load_mem(yaml, strlen(yaml), "t.yml", &c, &err), 0);
    assert_int_equal(c->autoscaling.n_horizontal, 0);
    fake_qs_t fq = {0};
    tw_query_source_t qs = {.ctx = &fq, .instant = fake_instant};
    tw_autoscale_loop_t *l = tw_autoscale_loop_new();
    assert_int_equal(tw_autoscale_loop_configure(l, c, &qs, &err), 0);
    assert_false(tw_autoscale_loop_is_leader(l)); /* not before the first round */

    /* A round 15 s ago acquired the Lease, but its renew deadline (10 s) is over: a loop that
     * stalled since then no longer counts as leader for the VPA updater. */
    int64_t t0 = tw_now_ms() - 15000;
    assert_int_equal(tw_autoscale_loop_run_once(l, t0), 0);
    assert_int_equal(p->n_reqs, 2);
    assert_string_equal(p->reqs[0].method, "GET");
    assert_string_equal(p->reqs[0].path, LEASE_PATH "/tw-test");
    assert_string_equal(p->reqs[1].method, "POST");
    assert_string_equal(p->reqs[1].path, LEASE_PATH);
    assert_non_null(strstr(p->reqs[1].body, "\"holderIdentity\":\"tw-a\""));
    assert_true(metric(l, "tidewatch_autoscaler_leader", NULL, NULL) == 1);
    assert_false(tw_autoscale_loop_is_leader(l));

    /* Renewed now: leader for the next 10 s. */
    assert_int_equal(tw_autoscale_loop_run_once(l, tw_now_ms()), 0);
    assert_int_equal(p->n_reqs, 4);
    assert_string_equal(p->reqs[3].method, "PUT");
    assert_string_equal(p->reqs[3].path, LEASE_PATH "/tw-test");
    assert_true(tw_autoscale_loop_is_leader(l));
    assert_int_equal(fq.calls, 0); /* no HPA: nothing queried */

    /* Another replica holds it now (our renewals were lost): not the leader at once. */
    assert_int_equal(tw_autoscale_loop_run_once(l, tw_now_ms() + 3000), 0);
    assert_int_equal(p->n_reqs, 5);
    assert_false(tw_autoscale_loop_is_leader(l));
    assert_true(metric(l, "tidewatch_autoscaler_leader", NULL, NULL) == 0);
    assert_true(metric(l, "tidewatch_autoscaler_passes_total", NULL, NULL) == 3);

    tw_autoscale_loop_free(l); /* never started: nothing to release */
    tw_config_free(c);
    peer_stop(p);
    unlink(kc);
    char tok[160];
    snprintf(tok, sizeof(tok), "%s/token", dir);
    unlink(tok);
    rmdir(dir);
}

static void load_err(const char *yaml, const char *want)
{
    tw_config_t *c = NULL;
    tw_error_t err;
    char msg[1024];
    assert_int_not_equal(tw_config_load_mem(yaml, strlen(yaml), "t.yml", &c, &err), 0);
    tw_error_format(&err, msg, sizeof(msg));
    if (strstr(msg, want) == NULL) {
        fail_msg("got \"%s\", want it to contain \"%s\"", msg, want);
    }
}

static void test_config_section(void **state)
{
    (void)state;
    tw_config_t *c = NULL;
    tw_error_t err;
    assert_int_equal(tw_config_load_default(&c, &err), 0);
    assert_int_equal(c->autoscaling.sync_period_ms, 5000);
    assert_string_equal(c->autoscaling.driver.type, "dryrun");
    assert_int_equal(c->autoscaling.n_horizontal, 0);
    assert_false(c->kubernetes.configured);
    assert_int_equal(c->autoscaling.controller.downscale_stabilization_ms, 300000);
    tw_config_free(c);

    const char *ok = "kubernetes: {kubeconfig: /k, qps: 20, burst: 40, timeout: 3s}\n"
                     "autoscaling:\n"
                     "  resource_window: 30s\n"
                     "  leader_election: {enabled: true, namespace: kube-system}\n";
    assert_int_equal(tw_config_load_mem(ok, strlen(ok), "t.yml", &c, &err), 0);
    assert_true(c->kubernetes.configured);
    assert_string_equal(c->kubernetes.kubeconfig, "/k");
    assert_true(c->kubernetes.qps == 20.0);
    assert_int_equal(c->kubernetes.burst, 40);
    assert_int_equal(c->kubernetes.timeout_ms, 3000);
    assert_int_equal(c->autoscaling.scalers->resource_window_ms, 30000);
    assert_true(c->autoscaling.leader_election.enabled);
    assert_string_equal(c->autoscaling.leader_election.name, "tidewatch-autoscaler");
    tw_config_free(c);

    load_err("autoscaling:\n  driver: {type: helm}\n",
             "t.yml:2:18: autoscaling.driver.type: expected dryrun, kubernetes, nomad or exec");
    load_err("autoscaling:\n  driver: {type: exec}\n",
             "autoscaling.driver.exec.scale_command: required with type exec");
    load_err("autoscaling:\n  sync: 1s\n", "t.yml:2:3");
    load_err("kubernetes: {server: ftp://x}\n",
             "kubernetes.server: expected an https:// or http:// URL");
    load_err("autoscaling:\n  horizontal:\n    - files: [nope.yaml]\n", "nope.yaml: no such file");
    load_err("autoscaling:\n"
             "  horizontal:\n"
             "    - apiVersion: autoscaling/v2\n"
             "      kind: HorizontalPodAutoscaler\n"
             "      metadata: {name: a}\n"
             "      spec:\n"
             "        scaleTargetRef: {kind: Deployment, name: a}\n"
             "        minReplicas: 3\n"
             "        maxReplicas: 2\n",
             "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`");
    load_err("autoscaling:\n"
             "  leader_election: {enabled: true, lease_duration: 5s}\n",
             "lease_duration > renew_deadline");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scale_then_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_scale, setup, teardown),
        cmocka_unit_test(test_lease_without_hpas),
        cmocka_unit_test(test_config_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
