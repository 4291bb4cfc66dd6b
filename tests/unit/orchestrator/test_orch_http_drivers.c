/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_orch_http_drivers.c - the kubernetes and nomad drivers against a real HTTP peer on
 * 127.0.0.1 (orch_peer.h, libmicrohttpd): the requests they build (method, path, query, token
 * headers, bodies), the scale round trip with resourceVersion, a 409 answered by re-reading and
 * recomputing, 429 with Retry-After waited out, 5xx retries giving up as TW_ETRANSIENT, the
 * token file re-read after a 401, pod list pagination, the pod resize JSON patch, and the Nomad
 * scale request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoscaler/orchestrator/orchestrator.h"
#include "autoscaler/orchestrator/orchestrator_int.h"
#include "orch_peer.h"

#define SCALE_7                                                                                    \
    "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"web\","        \
    "\"namespace\":\"shop\",\"resourceVersion\":\"1003\"},\"spec\":{\"replicas\":7},"              \
    "\"status\":{\"replicas\":7,\"selector\":\"app=web\"}}"
#define SCALE_8                                                                                    \
    "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"web\","        \
    "\"namespace\":\"shop\",\"resourceVersion\":\"1004\"},\"spec\":{\"replicas\":8},"              \
    "\"status\":{\"replicas\":7,\"selector\":\"app=web\"}}"
#define SCALE_9                                                                                    \
    "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"web\","        \
    "\"namespace\":\"shop\",\"resourceVersion\":\"1005\"},\"spec\":{\"replicas\":9},"              \
    "\"status\":{\"replicas\":8,\"selector\":\"app=web\"}}"
#define CONFLICT                                                                                   \
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","           \
    "\"message\":\"Operation cannot be fulfilled on deployments.apps \\\"web\\\": the object has " \
    "been modified; please apply your changes to the latest version and try again\","              \
    "\"reason\":\"Conflict\",\"code\":409}"

typedef struct fixture {
    char dir[64];
    char kubeconfig[128];
    char token_file[128];
} fixture_t;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A kubeconfig pointing at the peer, with a token file next to it. */
static tw_orch_driver_t *kube_driver(fixture_t *fx, const peer_t *p, int max_retries)
{
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/tw-orch-kc-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->kubeconfig, sizeof(fx->kubeconfig), "%s/config", fx->dir);
    snprintf(fx->token_file, sizeof(fx->token_file), "%s/token", fx->dir);
    write_file(fx->token_file, "token-one\n");
    char kc[1024];
    snprintf(kc, sizeof(kc),
             "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster:\n"
             "    server: http://127.0.0.1:%d\nusers:\n- name: u\n  user:\n    tokenFile: token\n"
             "contexts:\n- name: t\n  context:\n    cluster: c\n    user: u\n    namespace: shop\n",
             p->port);
    write_file(fx->kubeconfig, kc);
    tw_orch_config_t cfg = {0};
    cfg.kubernetes.kubeconfig = fx->kubeconfig;
    cfg.kubernetes.qps = 1000;
    cfg.kubernetes.burst = 100;
    cfg.kubernetes.max_retries = max_retries;
    cfg.kubernetes.timeout_ms = 5000;
    tw_orch_driver_t *d = NULL;
    tw_error_t err;
    int rc = tw_orch_driver_new("kubernetes", &cfg, &d, &err);
    if (rc != 0) {
        fail_msg("driver: %s", err.msg);
    }
    return d;
}

static void fixture_clean(fixture_t *fx)
{
    unlink(fx->kubeconfig);
    unlink(fx->token_file);
    rmdir(fx->dir);
}

static void test_kube_get_and_set(void **state)
{
    (void)state;
    peer_resp_t rs[] = {{200, NULL, SCALE_7}, {200, NULL, SCALE_9}};
    peer_t *p = peer_start(rs, 2);
    assert_non_null(p);
    fixture_t fx;
    tw_orch_driver_t *d = kube_driver(&fx, p, 0);
    tw_orch_ref_t ref = {.kind = "Deployment", .name = "web"};
    tw_orch_scale_t sc, out;
    tw_error_t err;
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), 0);
    assert_int_equal(sc.spec_replicas, 7);
    assert_string_equal(sc.version, "1003");
    assert_string_equal(sc.selector, "app=web");
    assert_int_equal(tw_orch_set_scale(d, &ref, &sc, 9, &out, &err), 0);
    assert_int_equal(out.spec_replicas, 9);
    assert_string_equal(out.version, "1005");

    assert_int_equal(p->n_reqs, 2);
    assert_string_equal(p->reqs[0].method, "GET");
    assert_string_equal(p->reqs[0].path, "/apis/apps/v1/namespaces/shop/deployments/web/scale");
    assert_string_equal(p->reqs[0].auth, "Bearer token-one");
    assert_string_equal(p->reqs[1].method, "PUT");
    assert_string_equal(p->reqs[1].path, "/apis/apps/v1/namespaces/shop/deployments/web/scale");
    assert_string_equal(p->reqs[1].content_type, "application/json");
    assert_string_equal(p->reqs[1].body,
                        "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{"
                        "\"name\":\"web\",\"namespace\":\"shop\",\"resourceVersion\":\"1003\"},"
                        "\"spec\":{\"replicas\":9}}");
    tw_orch_driver_free(d);
    peer_stop(p);
    fixture_clean(&fx);
}

static int plus_two(void *ctx, const tw_orch_scale_t *cur)
{
    int *calls = ctx;
    (*calls)++;
    return cur->spec_replicas + 2;
}

static void test_kube_conflict_rereads(void **state)
{
    (void)state;
    /* read 7 -> PUT 9 conflicts -> read 8 -> PUT 10 ok (the peer answers 9's body) */
    peer_resp_t rs[] = {
        {200, NULL, SCALE_7}, {409, NULL, CONFLICT}, {200, NULL, SCALE_8}, {200, NULL, SCALE_9}};
    peer_t *p = peer_start(rs, 4);
    fixture_t fx;
    tw_orch_driver_t *d = kube_driver(&fx, p, 0);
    tw_orch_ref_t ref = {.kind = "Deployment", .namespace = "shop", .name = "web"};
    tw_orch_scale_t out;
    tw_error_t err;
    int calls = 0, attempts = 0;
    assert_int_equal(tw_orch_scale_update(d, &ref, plus_two, &calls, 3, &out, &attempts, &err), 0);
    assert_int_equal(calls, 2);
    assert_int_equal(attempts, 2);
    assert_int_equal(p->n_reqs, 4);
    assert_non_null(strstr(p->reqs[1].body, "\"resourceVersion\":\"1003\""));
    assert_non_null(strstr(p->reqs[1].body, "\"replicas\":9"));
    assert_string_equal(p->reqs[2].method, "GET");
    assert_non_null(strstr(p->reqs[3].body, "\"resourceVersion\":\"1004\""));
    assert_non_null(strstr(p->reqs[3].body, "\"replicas\":10"));
    tw_orch_driver_free(d);
    peer_stop(p);
    fixture_clean(&fx);

    /* Conflicts every time: bounded, then TW_ECONFLICT with the server's message. */
    peer_resp_t always[] = {{200, NULL, SCALE_7},  {409, NULL, CONFLICT}, {200, NULL, SCALE_7},
                            {409, NULL, CONFLICT}, {200, NULL, SCALE_7},  {409, NULL, CONFLICT}};
    p = peer_start(always, 6);
    d = kube_driver(&fx, p, 0);
    calls = 0;
    assert_int_equal(tw_orch_scale_update(d, &ref, plus_two, &calls, 2, &out, &attempts, &err),
                     TW_ECONFLICT);
    assert_int_equal(attempts, 3);
    assert_int_equal(p->n_reqs, 6);
    assert_non_null(strstr(err.msg, "Error from server (Conflict): Operation cannot be fulfilled"));
    tw_orch_driver_free(d);
    peer_stop(p);
    fixture_clean(&fx);
}

static void test_kube_retry_after_and_5xx(void **state)
{
    (void)state;
    peer_resp_t rs[] = {{429, "1",
                         "{\"kind\":\"Status\",\"message\":\"slow down\","
                         "\"reason\":\"TooManyRequests\",\"code\":429}"},
                        {200, NULL, SCALE_7}};
    peer_t *p = peer_start(rs, 2);
    fixture_t fx;
    tw_orch_driver_t *d = kube_driver(&fx, p, 2);
    tw_orch_ref_t ref = {.kind = "StatefulSet", .name = "web"};
    tw_orch_scale_t sc;
    tw_error_t err;
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), 0);
    assert_int_equal(p->n_reqs, 2);
    assert_string_equal(p->reqs[0].path, "/apis/apps/v1/namespaces/shop/statefulsets/web/scale");
    long long waited = p->reqs[1].t_ms - p->reqs[0].t_ms;
    if (waited < 950 || waited > 3000) {
        fail_msg("Retry-After 1 s: waited %lld ms", waited);
    }
    tw_orch_driver_free(d);
    peer_stop(p);
    fixture_clean(&fx);

    /* 503 forever: 1 + 2 retries, then TW_ETRANSIENT with the status. */
    peer_resp_t busy[] = {{503, NULL, "overloaded"}};
    p = peer_start(busy, 1);
    d = kube_driver(&fx, p, 2);
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), TW_ETRANSIENT);
    assert_int_equal(p->n_reqs, 3);
    assert_non_null(strstr(err.msg, "server answered HTTP 503: overloaded"));
    tw_orch_driver_free(d);
    peer_stop(p);
    fixture_clean(&fx);

    /* A Retry-After longer than the call may wait gives up at once. */
    peer_resp_t longwait[] = {{429, "3600", "{}"}};
    p = peer_start(longwait, 1);
    d = kube_driver(&fx, p, 2);
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), TW_ETRANSIENT);
    assert_int_equal(p->n_reqs, 1);
    assert_non_null(strstr(err.msg, "HTTP 429 with Retry-After 3600, longer than the 30000 ms"));
    tw_orch_driver_free(d);
    peer_stop(p);
    fixture_clean(&fx);
}

static void test_kube_token_reread_and_errors(void **state)
{
    (void)state;
    peer_resp_t rs[] = {{401, NULL,
                         "{\"kind\":\"Status\",\"message\":\"Unauthorized\","
                         "\"reason\":\"Unauthorized\",\"code\":401}"},
                        {200, NULL, SCALE_7},
                        {404, NULL,
                         "{\"kind\":\"Status\",\"message\":\"deployments.apps "
                         "\\\"nope\\\" not found\",\"reason\":\"NotFound\"}"},
                        {403, NULL,
                         "{\"kind\":\"Status\",\"message\":\"forbidden: no\","
                         "\"reason\":\"Forbidden\"}"}};
    peer_t *p = peer_start(rs, 4);
    fixture_t fx;
    tw_orch_driver_t *d = kube_driver(&fx, p, 0);
    write_file(fx.token_file, "token-two\n"); /* rotated after the driver read it */
    tw_orch_ref_t ref = {.name = "web"};
    tw_orch_scale_t sc;
    tw_error_t err;
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), 0);
    assert_string_equal(p->reqs[0].auth, "Bearer token-one");
    assert_string_equal(p->reqs[1].auth, "Bearer token-two");
    ref.name = "nope";
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), TW_ENOTFOUND);
    assert_non_null(strstr(err.msg, "Error from server (NotFound): deployments.apps \"nope\" not "
                                    "found"));
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), TW_EFORBIDDEN);
    ref.kind = "CronJob";
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), TW_EINVAL);
    assert_int_equal(p->n_reqs, 4);
    tw_orch_driver_free(d);
    peer_stop(p);
    fixture_clean(&fx);
}

static void test_kube_list_pods_pages(void **state)
{
    (void)state;
    peer_resp_t rs[] = {
        {200, NULL,
         "{\"kind\":\"PodList\",\"metadata\":{\"continue\":\"next page\"},\"items\":["
         "{\"metadata\":{\"name\":\"web-a\"},\"spec\":{\"containers\":[{\"name\":\"app\","
         "\"resources\":{\"requests\":{\"cpu\":\"500m\"}}}]},\"status\":{\"phase\":\"Running\"}}]"
         "}"},
        {200, NULL,
         "{\"kind\":\"PodList\",\"metadata\":{},\"items\":[{\"metadata\":{\"name\":\"web-b\"},"
         "\"spec\":{\"containers\":[]},\"status\":{\"phase\":\"Failed\"}}]}"},
        {200, NULL, "{}"}};
    peer_t *p = peer_start(rs, 3);
    fixture_t fx;
    tw_orch_driver_t *d = kube_driver(&fx, p, 0);
    tw_orch_ref_t ref = {.namespace = "prod"};
    tw_orch_pod_list_t l;
    tw_error_t err;
    tw_orch_pod_list_init(&l);
    assert_int_equal(tw_orch_list_pods(d, &ref, "app=web,tier in (a,b)", &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.pods[0].name, "web-a");
    assert_int_equal(l.pods[0].containers[0].cpu_request_milli, 500);
    assert_string_equal(l.pods[1].name, "web-b");
    assert_int_equal(l.pods[1].phase, TW_ORCH_POD_FAILED);
    assert_int_equal(p->n_reqs, 2);
    assert_string_equal(p->reqs[0].path, "/api/v1/namespaces/prod/pods");
    assert_string_equal(p->reqs[0].query, "limit=500&labelSelector=app=web,tier in (a,b)");
    assert_string_equal(p->reqs[1].query,
                        "limit=500&labelSelector=app=web,tier in (a,b)&continue=next page");
    tw_orch_pod_list_fini(&l);

    /* patch_resources: a strategic merge patch of the pod template */
    tw_orch_resources_t r = {"app", 250, -1, -1, -1};
    ref = (tw_orch_ref_t){.kind = "Deployment", .name = "web"};
    assert_int_equal(tw_orch_patch_resources(d, &ref, &r, 1, &err), 0);
    assert_string_equal(p->reqs[2].method, "PATCH");
    assert_string_equal(p->reqs[2].path, "/apis/apps/v1/namespaces/shop/deployments/web");
    assert_string_equal(p->reqs[2].query, "fieldManager=tidewatch");
    assert_string_equal(p->reqs[2].content_type, "application/strategic-merge-patch+json");
    assert_string_equal(p->reqs[2].body, "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{"
                                         "\"name\":\"app\",\"resources\":{\"requests\":{\"cpu\":"
                                         "\"250m\"}}}]}}}}");
    tw_orch_driver_free(d);
    peer_stop(p);
    fixture_clean(&fx);
}

/*
 * patch_resources of a Pod: a GET of the pod for its container indexes, then the VPA updater's
 * JSON patch of pods/<name>/resize (updater/inplace/resource_updates.go): empty resources and
 * requests/limits objects added where the pod has none, then one add per value.
 */
static void test_kube_resize_json_patch(void **state)
{
    (void)state;
    static const char pod[] =
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\",\"namespace\":\"shop\"},"
        "\"spec\":{\"containers\":[{\"name\":\"side\",\"image\":\"b\"},{\"name\":\"app\","
        "\"image\":\"b\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}]}"
        "}";
    peer_resp_t rs[] = {{200, NULL, pod}, {200, NULL, pod}, {200, NULL, pod}};
    peer_t *p = peer_start(rs, 3);
    fixture_t fx;
    tw_orch_driver_t *d = kube_driver(&fx, p, 0);
    tw_orch_ref_t ref = {.kind = "Pod", .namespace = "shop", .name = "web-1"};
    tw_orch_resources_t r[2] = {{"app", 182, 380258472, -1, 536870912}, {"side", 50, -1, -1, -1}};
    tw_error_t err;
    assert_int_equal(tw_orch_patch_resources(d, &ref, r, 2, &err), 0);
    assert_int_equal(p->n_reqs, 2);
    assert_string_equal(p->reqs[0].method, "GET");
    assert_string_equal(p->reqs[0].path, "/api/v1/namespaces/shop/pods/web-1");
    assert_string_equal(p->reqs[1].method, "PATCH");
    assert_string_equal(p->reqs[1].path, "/api/v1/namespaces/shop/pods/web-1/resize");
    assert_string_equal(p->reqs[1].query, "fieldManager=tidewatch");
    assert_string_equal(p->reqs[1].content_type, "application/json-patch+json");
    assert_string_equal(
        p->reqs[1].body,
        "[{\"op\":\"add\",\"path\":\"/spec/containers/1/resources/requests/cpu\",\"value\":"
        "\"182m\"},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/1/resources/requests/memory\",\"value\":"
        "\"380258472\"},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/1/resources/limits\",\"value\":{}},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/1/resources/limits/memory\",\"value\":"
        "\"536870912\"},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources\",\"value\":{}},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests\",\"value\":{}},"
        "{\"op\":\"add\",\"path\":\"/spec/containers/0/resources/requests/cpu\",\"value\":"
        "\"50m\"}]");

    /* a container the pod does not run: an error, and no PATCH */
    tw_orch_resources_t bad = {"db", 100, -1, -1, -1};
    assert_int_equal(tw_orch_patch_resources(d, &ref, &bad, 1, &err), TW_EINVAL);
    assert_string_equal(err.msg, "resources of pod shop/web-1: the pod has no container \"db\"");
    assert_int_equal(p->n_reqs, 3);
    assert_string_equal(p->reqs[2].method, "GET");
    tw_orch_driver_free(d);
    peer_stop(p);
    fixture_clean(&fx);
}

static void test_kube_unreachable_is_transient(void **state)
{
    (void)state;
    peer_resp_t rs[] = {{200, NULL, "{}"}};
    peer_t *p = peer_start(rs, 1);
    fixture_t fx;
    tw_orch_driver_t *d = kube_driver(&fx, p, -1);
    peer_stop(p); /* nothing listens there any more */
    tw_orch_ref_t ref = {.name = "web"};
    tw_orch_scale_t sc;
    tw_error_t err;
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), TW_ETRANSIENT);
    assert_non_null(strstr(err.msg, "GET http://127.0.0.1:"));
    tw_orch_driver_free(d);
    fixture_clean(&fx);
}

#define NOMAD_JOB                                                                                  \
    "{\"ID\":\"web\",\"Name\":\"web\",\"Namespace\":\"apps\",\"JobModifyIndex\":42,"               \
    "\"TaskGroups\":[{\"Name\":\"api\",\"Count\":3},{\"Name\":\"cache\",\"Count\":1}]}"

static void test_nomad(void **state)
{
    (void)state;
    peer_resp_t rs[] = {
        {200, NULL, NOMAD_JOB},
        {200, NULL, "{\"EvalID\":\"e1\",\"EvalCreateIndex\":50,\"JobModifyIndex\":50}"},
        {200, NULL,
         "[{\"ID\":\"a1\",\"TaskGroup\":\"api\",\"ClientStatus\":\"running\",\"DesiredStatus\":"
         "\"run\",\"DeploymentStatus\":{\"Healthy\":true},\"CreateTime\":1767225600123456789},"
         "{\"ID\":\"c1\",\"TaskGroup\":\"cache\",\"ClientStatus\":\"running\"},"
         "{\"ID\":\"a2\",\"TaskGroup\":\"api\",\"ClientStatus\":\"pending\",\"DesiredStatus\":"
         "\"stop\"}]"},
        {403, NULL, "Permission denied"},
        {404, NULL, "job not found"},
        {500, NULL, "rpc error: job modify index does not match"},
    };
    peer_t *p = peer_start(rs, 6);
    char addr[64];
    snprintf(addr, sizeof(addr), "http://127.0.0.1:%d/", p->port);
    tw_orch_config_t cfg = {0};
    cfg.nomad.address = addr;
    cfg.nomad.token = "s3cr3t-acl";
    cfg.nomad.namespace = "apps";
    cfg.nomad.region = "eu";
    tw_orch_driver_t *d;
    tw_error_t err;
    assert_int_equal(tw_orch_driver_new("nomad", &cfg, &d, &err), 0);
    tw_orch_ref_t ref = {.name = "web", .group = "api"};
    tw_orch_scale_t sc, out;
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), 0);
    assert_int_equal(sc.spec_replicas, 3);
    assert_string_equal(sc.version, "42");
    assert_int_equal(tw_orch_set_scale(d, &ref, &sc, 5, &out, &err), 0);
    assert_int_equal(out.spec_replicas, 5);
    assert_string_equal(out.version, "50");

    assert_string_equal(p->reqs[0].method, "GET");
    assert_string_equal(p->reqs[0].path, "/v1/job/web");
    assert_string_equal(p->reqs[0].query, "namespace=apps&region=eu");
    assert_string_equal(p->reqs[0].nomad_token, "s3cr3t-acl");
    assert_string_equal(p->reqs[1].method, "POST");
    assert_string_equal(p->reqs[1].path, "/v1/job/web/scale");
    assert_string_equal(p->reqs[1].nomad_token, "s3cr3t-acl");
    json_t *body = json_loads(p->reqs[1].body, 0, NULL);
    assert_non_null(body);
    assert_int_equal(json_integer_value(json_object_get(body, "Count")), 5);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "Target"), "Group")), "api");
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "Target"), "Job")),
                        "web");
    assert_int_equal(json_integer_value(json_object_get(body, "JobModifyIndex")), 42);
    assert_true(json_is_true(json_object_get(body, "EnforceIndex")));
    assert_true(json_is_false(json_object_get(body, "PolicyOverride")));
    assert_string_equal(json_string_value(json_object_get(body, "Message")),
                        "tidewatch: scaled from 3 to 5");
    json_decref(body);

    tw_orch_pod_list_t l;
    tw_orch_pod_list_init(&l);
    assert_int_equal(tw_orch_list_pods(d, &ref, "", &l, &err), 0);
    assert_string_equal(p->reqs[2].path, "/v1/job/web/allocations");
    assert_int_equal(l.n, 2);
    assert_string_equal(l.pods[0].name, "a1");
    assert_int_equal(l.pods[0].ready, TW_ORCH_COND_TRUE);
    assert_int_equal(l.pods[0].start_time_ms, INT64_C(1767225600123));
    assert_false(l.pods[0].deleting);
    assert_int_equal(l.pods[1].phase, TW_ORCH_POD_PENDING);
    assert_true(l.pods[1].deleting);
    tw_orch_pod_list_fini(&l);

    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), TW_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "HTTP 403: Permission denied"));
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_int_equal(tw_orch_get_scale(d, &ref, &sc, &err), TW_ENOTFOUND);
    assert_int_equal(tw_orch_set_scale(d, &ref, NULL, 1, &out, &err), TW_ECONFLICT);
    tw_orch_resources_t r = {"x", 1, 1, 1, 1};
    assert_int_equal(tw_orch_patch_resources(d, &ref, &r, 1, &err), TW_EINVAL);
    assert_string_equal(err.msg, "the nomad orchestrator driver does not support patch_resources");
    tw_orch_driver_free(d);
    peer_stop(p);
}

static void test_nomad_job_parse(void **state)
{
    (void)state;
    tw_orch_scale_t sc;
    tw_error_t err;
    const char *one = "{\"JobModifyIndex\":7,\"TaskGroups\":[{\"Name\":\"g\",\"Count\":0}]}";
    assert_int_equal(tw_orch_driver_known("nomad"), true);
    /* the only group when none is named */
    assert_int_equal(tw_orch_nomad_job_parse(one, strlen(one), "j", NULL, &sc, &err), 0);
    assert_int_equal(sc.spec_replicas, 0);
    assert_string_equal(sc.version, "7");
    assert_int_equal(tw_orch_nomad_job_parse(NOMAD_JOB, strlen(NOMAD_JOB), "web", NULL, &sc, &err),
                     TW_EINVAL);
    assert_string_equal(err.msg, "nomad job web has 2 task groups: name the one to scale");
    assert_int_equal(tw_orch_nomad_job_parse(NOMAD_JOB, strlen(NOMAD_JOB), "web", "db", &sc, &err),
                     TW_ENOTFOUND);
    assert_string_equal(err.msg, "nomad job web has no task group db");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kube_get_and_set),
        cmocka_unit_test(test_kube_conflict_rereads),
        cmocka_unit_test(test_kube_retry_after_and_5xx),
        cmocka_unit_test(test_kube_token_reread_and_errors),
        cmocka_unit_test(test_kube_list_pods_pages),
        cmocka_unit_test(test_kube_resize_json_patch),
        cmocka_unit_test(test_kube_unreachable_is_transient),
        cmocka_unit_test(test_nomad),
        cmocka_unit_test(test_nomad_job_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
