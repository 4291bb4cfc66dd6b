/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_orchestrator.c - the common parts: the driver registry, the dry-run driver's records and
 * read-compute-write, Retry-After parsing (seconds and HTTP-date), the exponential backoff, the
 * QPS token bucket with time as a parameter, and RFC 3339 times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/orchestrator/orchestrator.h"
#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/kube.h"

#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)

static void test_registry(void **state)
{
    (void)state;
    tw_orch_driver_t *d = NULL;
    tw_error_t err;
    assert_int_equal(tw_orch_driver_new(NULL, NULL, &d, &err), 0);
    assert_string_equal(tw_orch_driver_name(d), "dryrun");
    tw_orch_driver_free(d);
    assert_int_equal(tw_orch_driver_new("k8s", NULL, &d, &err), TW_EINVAL);
    assert_null(d);
    assert_string_equal(err.msg, "unknown orchestrator driver \"k8s\" (expected kubernetes, "
                                 "nomad, exec or dryrun)");
    assert_true(tw_orch_driver_known("kubernetes"));
    assert_true(tw_orch_driver_known("exec"));
    assert_false(tw_orch_driver_known("Kubernetes"));
    assert_false(tw_orch_driver_known(NULL));
    /* exec without a scale command is a configuration error */
    assert_int_equal(tw_orch_driver_new("exec", NULL, &d, &err), TW_EINVAL);
    assert_string_equal(err.msg, "exec template: empty command");
    /* kubernetes outside a cluster, without a kubeconfig */
    tw_orch_config_t cfg = {0};
    cfg.kubernetes.service_account_dir = "/nonexistent";
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(tw_orch_driver_new("kubernetes", &cfg, &d, &err), TW_ENOTFOUND);
    cfg.kubernetes.kubeconfig = "/nonexistent/kubeconfig";
    assert_int_equal(tw_orch_driver_new("kubernetes", &cfg, &d, &err), -ENOENT);
    tw_orch_driver_free(NULL);
}

static int to_five(void *ctx, const tw_orch_scale_t *cur)
{
    (void)ctx;
    (void)cur;
    return 5;
}

static void test_dryrun(void **state)
{
    (void)state;
    tw_orch_config_t cfg = {0};
    cfg.dryrun.max_records = 2;
    tw_orch_driver_t *d;
    tw_error_t err;
    assert_int_equal(tw_orch_driver_new("dryrun", &cfg, &d, &err), 0);
    tw_orch_ref_t ref = {.kind = "Deployment", .namespace = "shop", .name = "web"};
    tw_orch_scale_t sc, out;
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), TW_ENOTFOUND);
    assert_string_equal(err.msg, "dry run: no scale known for shop/web yet");
    memset(&sc, 0, sizeof(sc));
    sc.spec_replicas = 3;
    snprintf(sc.version, sizeof(sc.version), "1003");
    assert_int_equal(tw_orch_set_scale(d, &ref, &sc, 4, &out, &err), 0);
    assert_int_equal(out.spec_replicas, 4);
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), 0);
    assert_int_equal(sc.spec_replicas, 4);
    int attempts;
    assert_int_equal(tw_orch_scale_update(d, &ref, to_five, NULL, 0, &out, &attempts, &err), 0);
    assert_int_equal(attempts, 1);
    assert_int_equal(out.spec_replicas, 5);
    /* nothing to do: no write */
    assert_int_equal(tw_orch_scale_update(d, &ref, to_five, NULL, 0, &out, &attempts, &err), 0);
    assert_int_equal(attempts, 0);
    tw_orch_resources_t r = {"app", 250, 134217728, -1, -1};
    assert_int_equal(tw_orch_patch_resources(d, &ref, &r, 1, &err), 0);

    const tw_orch_record_t *recs;
    size_t n = tw_orch_dryrun_records(d, &recs);
    assert_int_equal(n, 2); /* the oldest of three was dropped */
    assert_string_equal(recs[0].op, "set_scale");
    assert_string_equal(recs[0].target, "shop/web");
    assert_string_equal(recs[0].detail, "would scale Deployment shop/web from 4 to 5 replicas "
                                        "(version 1003)");
    assert_int_equal(recs[0].from, 4);
    assert_int_equal(recs[0].to, 5);
    assert_string_equal(recs[1].op, "patch_resources");
    assert_string_equal(recs[1].detail, "would set resources of Deployment shop/web: app "
                                        "requests.cpu=250m requests.memory=134217728");
    tw_orch_pod_list_t l;
    tw_orch_pod_list_init(&l);
    assert_int_equal(tw_orch_list_pods(d, &ref, "app=web", &l, &err), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(tw_orch_set_scale(d, &ref, NULL, -1, &out, &err), TW_EINVAL);
    tw_orch_ref_t noname = {.namespace = "x"};
    assert_int_equal(tw_orch_get_scale(d, &noname, &sc, &err), TW_EINVAL);

    /* reads go to another driver when given: here a second dry run that knows the workload */
    tw_orch_config_t cfg2 = {0};
    cfg2.dryrun.reads = d;
    tw_orch_driver_t *d2;
    assert_int_equal(tw_orch_driver_new("dryrun", &cfg2, &d2, &err), 0);
    assert_int_equal(tw_orch_get_scale(d2, &ref, &sc, &err), 0);
    assert_int_equal(sc.spec_replicas, 5);
    assert_int_equal(tw_orch_dryrun_records(d2, &recs), 0);
    tw_orch_driver_free(d2);
    tw_orch_driver_free(d);
}

static void test_retry_after(void **state)
{
    (void)state;
    int64_t d = -1;
    assert_int_equal(tw_kube_retry_after_parse("120", 0, &d), 0);
    assert_int_equal(d, 120000);
    assert_int_equal(tw_kube_retry_after_parse(" 0 \r\n", 0, &d), 0);
    assert_int_equal(d, 0);
    /* 1994-11-06T08:49:37Z = 784111777 s */
    int64_t now = INT64_C(784111777000) - 5500;
    assert_int_equal(tw_kube_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", now, &d), 0);
    assert_int_equal(d, 5500);
    assert_int_equal(
        tw_kube_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", INT64_C(784111777000) + 1, &d),
        0);
    assert_int_equal(d, 0);
    assert_int_equal(tw_kube_retry_after_parse("-1", 0, &d), TW_EPARSE);
    assert_int_equal(tw_kube_retry_after_parse("1.5", 0, &d), TW_EPARSE);
    assert_int_equal(tw_kube_retry_after_parse("", 0, &d), TW_EPARSE);
    assert_int_equal(tw_kube_retry_after_parse("Sun, 06 Nov 1994 08:49:37 UTC", 0, &d), TW_EPARSE);
    assert_int_equal(tw_kube_retry_after_parse("Sun, 06 Foo 1994 08:49:37 GMT", 0, &d), TW_EPARSE);
    assert_int_equal(tw_kube_retry_after_parse("99999999999999999999", 0, &d), TW_EPARSE);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(tw_kube_backoff_ms(0, 30000), 250);
    assert_int_equal(tw_kube_backoff_ms(1, 30000), 500);
    assert_int_equal(tw_kube_backoff_ms(3, 30000), 2000);
    assert_int_equal(tw_kube_backoff_ms(20, 30000), 30000);
    assert_int_equal(tw_kube_backoff_ms(1000, 100), 100);
}

static void test_ratelimit(void **state)
{
    (void)state;
    tw_kube_ratelimit_t rl;
    tw_kube_ratelimit_init(&rl, 5.0, 10);
    int64_t t = 1000 * SEC;
    /* the burst goes at once */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(tw_kube_ratelimit_reserve(&rl, t), 0);
    }
    /* then one every 200 ms, queued behind each other */
    assert_int_equal(tw_kube_ratelimit_reserve(&rl, t), 200 * MS);
    assert_int_equal(tw_kube_ratelimit_reserve(&rl, t), 400 * MS);
    /* 600 ms later both reservations are covered and one token is back */
    assert_int_equal(tw_kube_ratelimit_reserve(&rl, t + 600 * MS), 0);
    assert_int_equal(tw_kube_ratelimit_reserve(&rl, t + 600 * MS), 200 * MS);
    /* a long idle refills only up to the burst */
    t += 100 * SEC;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(tw_kube_ratelimit_reserve(&rl, t), 0);
    }
    assert_int_equal(tw_kube_ratelimit_reserve(&rl, t), 200 * MS);
    /* a clock that goes backwards adds nothing */
    assert_int_equal(tw_kube_ratelimit_reserve(&rl, t - SEC), 400 * MS);

    tw_kube_ratelimit_init(&rl, 0, 0); /* disabled */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(tw_kube_ratelimit_reserve(&rl, 0), 0);
    }
}

static void test_rfc3339(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(tw_orch_rfc3339_parse("2026-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, INT64_C(1767225600000));
    assert_int_equal(tw_orch_rfc3339_parse("2026-01-01T00:00:00.123456Z", &t), 0);
    assert_int_equal(t, INT64_C(1767225600123));
    assert_int_equal(tw_orch_rfc3339_parse("2026-01-01T02:00:00.5+02:00", &t), 0);
    assert_int_equal(t, INT64_C(1767225600500));
    assert_int_equal(tw_orch_rfc3339_parse("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(tw_orch_rfc3339_parse("2024-02-29T12:00:00Z", &t), 0);
    assert_int_equal(t, INT64_C(1709208000000));
    assert_int_equal(tw_orch_rfc3339_parse("2026-01-01 00:00:00Z", &t), TW_EPARSE);
    assert_int_equal(tw_orch_rfc3339_parse("2026-13-01T00:00:00Z", &t), TW_EPARSE);
    assert_int_equal(tw_orch_rfc3339_parse("2026-01-01T00:00:00", &t), TW_EPARSE);
    assert_int_equal(tw_orch_rfc3339_parse("2026-01-01T00:00:00Zjunk", &t), TW_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),    cmocka_unit_test(test_dryrun),
        cmocka_unit_test(test_retry_after), cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_ratelimit),   cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
