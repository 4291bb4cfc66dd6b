/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_orch_kubernetes.c - the Kubernetes driver's pure pieces: kubeconfig resolution (fixtures
 * in tests/fixtures/kubeconfig/), the in-cluster config, the Scale object both ways (the
 * captured kubectl traffic in ../shared/conformance/fixtures/kubernetes/), the 409 Status,
 * selector queries, pod lists and the resources patch.
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
#include <sys/stat.h>
#include <unistd.h>

#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/kube.h"
#include "common/buf.h"

#define KC_DIR TW_FIXTURES "/kubeconfig"
#define K8S_CAPTURED TW_SHARED "/conformance/fixtures/kubernetes/captured"

static int parse_fixture(const char *name, const char *context, tw_kube_config_t *kc,
                         tw_error_t *err)
{
    char path[512];
    tw_buf_t b;
    snprintf(path, sizeof(path), "%s/%s", KC_DIR, name);
    tw_buf_init(&b, 0);
    assert_int_equal(tw_buf_read_file(&b, path, NULL), 0);
    int rc = tw_kube_config_parse(b.data, b.len, name, KC_DIR, context, kc, err);
    tw_buf_fini(&b);
    return rc;
}

static void test_kubeconfig_current_context(void **state)
{
    (void)state;
    tw_kube_config_t kc;
    tw_error_t err;
    assert_int_equal(parse_fixture("two-contexts.yaml", NULL, &kc, &err), 0);
    assert_string_equal(kc.server, "https://api.prod.example:6443/");
    assert_string_equal(kc.namespace, "shop");
    assert_string_equal(kc.token, "prod-token-123");
    assert_null(kc.token_file);
    assert_null(kc.ca_file);
    assert_non_null(kc.ca_data);
    assert_int_equal(kc.ca_data_len, 61);
    assert_memory_equal(kc.ca_data, "-----BEGIN CERTIFICATE-----\nTESTCA\n", 35);
    assert_string_equal(kc.tls_server_name, "kubernetes.default");
    assert_false(kc.insecure);
    tw_kube_config_fini(&kc);

    /* An explicit context overrides current-context. */
    assert_int_equal(parse_fixture("two-contexts.yaml", "dev", &kc, &err), 0);
    assert_string_equal(kc.server, "https://127.0.0.1:6443");
    assert_true(kc.insecure);
    assert_string_equal(kc.token, "dev-token");
    assert_null(kc.namespace);
    assert_null(kc.ca_data);
    tw_kube_config_fini(&kc);

    assert_int_equal(parse_fixture("two-contexts.yaml", "staging", &kc, &err), TW_EINVAL);
    assert_string_equal(err.msg, "context was not found for specified context: staging");
    assert_int_equal(err.line, 27); /* the contexts list */
}

static void test_kubeconfig_files_and_errors(void **state)
{
    (void)state;
    tw_kube_config_t kc;
    tw_error_t err;
    assert_int_equal(parse_fixture("files.yaml", NULL, &kc, &err), 0);
    assert_string_equal(kc.server, "https://10.0.0.1:443");
    assert_string_equal(kc.ca_file, KC_DIR "/certs/ca.crt");
    assert_string_equal(kc.cert_file, KC_DIR "/certs/client.crt");
    assert_string_equal(kc.key_file, "/etc/tidewatch/client.key");
    assert_string_equal(kc.token_file, KC_DIR "/token");
    assert_null(kc.token);
    tw_kube_config_fini(&kc);

    assert_int_equal(parse_fixture("exec-user.yaml", NULL, &kc, &err), TW_EINVAL);
    assert_string_equal(err.msg, "user aws: exec authentication is not supported (use a token, "
                                 "tokenFile or a client certificate)");
    assert_int_equal(err.line, 11);
    assert_int_equal(err.col, 5);

    assert_int_equal(parse_fixture("no-current-context.yaml", NULL, &kc, &err), TW_EINVAL);
    assert_string_equal(err.msg, "current-context is not set");

    assert_int_equal(parse_fixture("bad-base64.yaml", NULL, &kc, &err), TW_EINVAL);
    assert_string_equal(err.msg, "cluster.certificate-authority-data: not valid base64");
    assert_int_equal(err.line, 8);

    const char *broken = "clusters: [\n";
    assert_int_equal(tw_kube_config_parse(broken, strlen(broken), "x", NULL, NULL, &kc, &err),
                     TW_EPARSE);
}

static void test_incluster(void **state)
{
    (void)state;
    char dir[] = "/tmp/tw-orch-sa-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof(path), "%s/namespace", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("monitoring\n", f);
    fclose(f);

    tw_kube_config_t kc;
    tw_error_t err;
    assert_int_equal(tw_kube_config_incluster(dir, "10.96.0.1", "443", &kc, &err), 0);
    assert_string_equal(kc.server, "https://10.96.0.1:443");
    snprintf(path, sizeof(path), "%s/token", dir);
    assert_string_equal(kc.token_file, path);
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    assert_string_equal(kc.ca_file, path);
    assert_string_equal(kc.namespace, "monitoring");
    tw_kube_config_fini(&kc);

    assert_int_equal(tw_kube_config_incluster(dir, "fd00::1", "6443", &kc, &err), 0);
    assert_string_equal(kc.server, "https://[fd00::1]:6443");
    tw_kube_config_fini(&kc);

    assert_int_equal(tw_kube_config_incluster(dir, "", "443", &kc, &err), TW_ENOTFOUND);
    assert_string_equal(err.msg, "unable to load in-cluster configuration, "
                                 "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be "
                                 "defined");
    snprintf(path, sizeof(path), "%s/namespace", dir);
    unlink(path);
    rmdir(dir);
}

/* The body of the one response in a captured exchange, re-serialized. */
static char *captured_body(const char *rel, int *status)
{
    json_error_t je;
    json_t *x = json_load_file(rel, 0, &je);
    assert_non_null(x);
    json_t *resp = json_object_get(x, "response");
    *status = (int)json_integer_value(json_object_get(resp, "status"));
    char *s = json_dumps(json_object_get(resp, "body"), JSON_COMPACT);
    json_decref(x);
    return s;
}

static void test_scale_parse_emit(void **state)
{
    (void)state;
    int st;
    char *body = captured_body(
        K8S_CAPTURED
        "/04-get-raw-scale/02-GET-apis_apps_v1_namespaces_shop_deployments_web_scale.json",
        &st);
    assert_int_equal(st, 200);
    tw_orch_scale_t sc;
    tw_error_t err;
    assert_int_equal(tw_orch_kube_scale_parse(body, strlen(body), "web", &sc, &err), 0);
    assert_int_equal(sc.spec_replicas, 7);
    assert_int_equal(sc.status_replicas, 7);
    assert_string_equal(sc.selector, "app=web");
    assert_string_equal(sc.version, "1003");
    free(body);

    tw_buf_t out;
    tw_buf_init(&out, 0);
    assert_int_equal(tw_orch_kube_scale_emit(&out, "shop", "web", &sc, 9), 0);
    assert_string_equal(out.data,
                        "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{"
                        "\"name\":\"web\",\"namespace\":\"shop\",\"resourceVersion\":\"1003\"},"
                        "\"spec\":{\"replicas\":9}}");
    tw_buf_reset(&out);
    assert_int_equal(tw_orch_kube_scale_emit(&out, "shop", "web", NULL, 0), 0);
    assert_string_equal(out.data, "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\","
                                  "\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"
                                  "\"spec\":{\"replicas\":0}}");
    tw_buf_fini(&out);

    /* spec.replicas omitted (0 replicas, omitempty) and no status */
    const char *zero = "{\"kind\":\"Scale\",\"metadata\":{\"resourceVersion\":\"5\"},\"spec\":{}}";
    assert_int_equal(tw_orch_kube_scale_parse(zero, strlen(zero), "w", &sc, &err), 0);
    assert_int_equal(sc.spec_replicas, 0);
    assert_string_equal(sc.selector, "");
    const char *dep = "{\"kind\":\"Deployment\"}";
    assert_int_equal(tw_orch_kube_scale_parse(dep, strlen(dep), "w", &sc, &err), TW_EINVAL);
    assert_string_equal(err.msg, "w: expected kind Scale, got Deployment");
    const char *neg = "{\"kind\":\"Scale\",\"spec\":{\"replicas\":-1}}";
    assert_int_equal(tw_orch_kube_scale_parse(neg, strlen(neg), "w", &sc, &err), TW_EINVAL);
    assert_int_equal(tw_orch_kube_scale_parse("[1]", 3, "w", &sc, &err), TW_EINVAL);
}

static void test_status_errors(void **state)
{
    (void)state;
    int st;
    char *body = captured_body(K8S_CAPTURED "/13-replace-raw-stale-rv/"
                                            "02-PUT-apis_apps_v1_namespaces_shop_deployments_web_"
                                            "scale.json",
                               &st);
    assert_int_equal(st, 409);
    tw_error_t err;
    assert_int_equal(tw_kube_status_error(st, body, strlen(body), "PUT x", &err), TW_ECONFLICT);
    assert_string_equal(err.msg, "PUT x: Error from server (Conflict): Operation cannot be "
                                 "fulfilled on deployments.apps \"web\": the object has been "
                                 "modified; please apply your changes to the latest version and "
                                 "try again");
    free(body);
    const char *nf = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"deployments.apps "
                     "\\\"nope\\\" not found\",\"reason\":\"NotFound\",\"code\":404}";
    assert_int_equal(tw_kube_status_error(404, nf, strlen(nf), "GET y", &err), TW_ENOTFOUND);
    assert_string_equal(err.msg,
                        "GET y: Error from server (NotFound): deployments.apps \"nope\" not found");
    assert_int_equal(tw_kube_status_error(403, "", 0, "z", &err), TW_EFORBIDDEN);
    assert_string_equal(err.msg, "z: server answered HTTP 403");
    assert_int_equal(tw_kube_status_error(503, "busy\n", 5, "z", &err), TW_ETRANSIENT);
    assert_string_equal(err.msg, "z: server answered HTTP 503: busy ");
    assert_int_equal(tw_kube_status_error(429, "", 0, "z", &err), TW_ETRANSIENT);
    assert_int_equal(tw_kube_status_error(422, "", 0, "z", &err), TW_EINVAL);
    assert_int_equal(tw_kube_status_error(401, "", 0, "z", &err), TW_EFORBIDDEN);
    assert_int_equal(tw_kube_status_error(302, "", 0, "z", &err), TW_EIO);
}

static void test_paths_and_selector_query(void **state)
{
    (void)state;
    tw_buf_t b;
    tw_error_t err;
    tw_buf_init(&b, 0);
    assert_int_equal(tw_orch_kube_scale_path(&b, "Deployment", "shop", "web", &err), 0);
    assert_string_equal(b.data, "/apis/apps/v1/namespaces/shop/deployments/web/scale");
    tw_buf_reset(&b);
    assert_int_equal(tw_orch_kube_scale_path(&b, "statefulsets", "db", "pg", &err), 0);
    assert_string_equal(b.data, "/apis/apps/v1/namespaces/db/statefulsets/pg/scale");
    tw_buf_reset(&b);
    assert_int_equal(tw_orch_kube_scale_path(&b, NULL, "a", "b", &err), 0);
    assert_string_equal(b.data, "/apis/apps/v1/namespaces/a/deployments/b/scale");
    assert_int_equal(tw_orch_kube_scale_path(&b, "ReplicaSet", "a", "b", &err), TW_EINVAL);
    assert_string_equal(err.msg, "kubernetes: cannot scale kind ReplicaSet (expected Deployment or "
                                 "StatefulSet)");

    tw_buf_reset(&b);
    assert_int_equal(tw_orch_kube_selector_query(&b, "app=web"), 0);
    assert_string_equal(b.data, "labelSelector=app%3Dweb");
    tw_buf_reset(&b);
    /* url.QueryEscape: space is '+', everything but unreserved is %XX */
    assert_int_equal(
        tw_orch_kube_selector_query(&b, "app.kubernetes.io/name=web,tier in (a,b),!canary"), 0);
    assert_string_equal(b.data, "labelSelector=app.kubernetes.io%2Fname%3Dweb%2Ctier+in+%28a%2Cb%"
                                "29%2C%21canary");
    tw_buf_reset(&b);
    assert_int_equal(tw_orch_kube_selector_query(&b, ""), 0);
    assert_int_equal(b.len, 0);
    tw_buf_reset(&b);
    assert_int_equal(tw_kube_path_escape(&b, "a b/c:d"), 0);
    assert_string_equal(b.data, "a%20b%2Fc:d");
    tw_buf_fini(&b);
}

static const char pod_list[] =
    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"77\","
    "\"continue\":\"tok/1\"},\"items\":["
    "{\"metadata\":{\"name\":\"web-1\",\"labels\":{\"app\":\"web\"}},"
    " \"spec\":{\"containers\":[{\"name\":\"app\",\"resources\":{\"requests\":{\"cpu\":\"250m\","
    "\"memory\":\"128Mi\"}}},{\"name\":\"log\"}],"
    "  \"initContainers\":[{\"name\":\"init\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}},"
    "   {\"name\":\"proxy\",\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"cpu\":"
    "\"0.1\"}}}]},"
    " \"status\":{\"phase\":\"Running\",\"startTime\":\"2026-01-01T00:00:00Z\",\"conditions\":["
    "  {\"type\":\"PodScheduled\",\"status\":\"True\"},"
    "  {\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"2026-01-01T00:00:30Z\"}]}},"
    "{\"metadata\":{\"name\":\"web-2\",\"deletionTimestamp\":\"2026-01-01T00:01:00Z\"},"
    " \"spec\":{\"resources\":{\"requests\":{\"cpu\":\"2\",\"memory\":\"1Gi\"}},"
    "  \"containers\":[{\"name\":\"app\"}]},"
    " \"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
    "\"False\"}]}},"
    "{\"metadata\":{\"name\":\"web-3\"},\"spec\":{\"containers\":[]},\"status\":{}}"
    "]}";

static void test_pods_parse(void **state)
{
    (void)state;
    tw_orch_pod_list_t l;
    tw_error_t err;
    char cont[64];
    tw_orch_pod_list_init(&l);
    assert_int_equal(
        tw_orch_kube_pods_parse(pod_list, strlen(pod_list), &l, cont, sizeof(cont), &err), 0);
    assert_string_equal(cont, "tok/1");
    assert_int_equal(l.n, 3);
    const tw_orch_pod_t *p = &l.pods[0];
    assert_string_equal(p->name, "web-1");
    assert_int_equal(p->phase, TW_ORCH_POD_RUNNING);
    assert_false(p->deleting);
    assert_int_equal(p->ready, TW_ORCH_COND_TRUE);
    assert_true(p->has_start_time);
    assert_int_equal(p->start_time_ms, INT64_C(1767225600000));
    assert_int_equal(p->ready_transition_ms, INT64_C(1767225630000));
    /* app, log, then the sidecar; the plain init container is left out */
    assert_int_equal(p->n_containers, 3);
    assert_string_equal(p->containers[0].name, "app");
    assert_true(p->containers[0].has_cpu_request);
    assert_int_equal(p->containers[0].cpu_request_milli, 250);
    assert_int_equal(p->containers[0].memory_request_milli, INT64_C(134217728000));
    assert_string_equal(p->containers[1].name, "log");
    assert_false(p->containers[1].has_cpu_request);
    assert_string_equal(p->containers[2].name, "proxy");
    assert_int_equal(p->containers[2].cpu_request_milli, 100);
    assert_false(p->has_pod_cpu_request);

    p = &l.pods[1];
    assert_true(p->deleting);
    assert_int_equal(p->phase, TW_ORCH_POD_PENDING);
    assert_int_equal(p->ready, TW_ORCH_COND_FALSE);
    assert_false(p->has_start_time);
    assert_true(p->has_pod_cpu_request);
    assert_int_equal(p->pod_cpu_request_milli, 2000);
    assert_int_equal(p->pod_memory_request_milli, INT64_C(1073741824000));

    p = &l.pods[2];
    assert_int_equal(p->phase, TW_ORCH_POD_UNKNOWN);
    assert_int_equal(p->ready, TW_ORCH_COND_NONE);
    assert_int_equal(p->n_containers, 0);
    tw_orch_pod_list_fini(&l);

    const char *bad = "{\"items\":[{\"metadata\":{\"name\":\"x\"},\"spec\":{\"containers\":["
                      "{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"lots\"}}}]}}]}";
    tw_orch_pod_list_init(&l);
    assert_int_equal(tw_orch_kube_pods_parse(bad, strlen(bad), &l, cont, sizeof(cont), &err),
                     TW_EINVAL);
    assert_string_equal(err.msg, "pod x: requests.cpu is not a quantity");
    tw_orch_pod_list_fini(&l);
}

static void test_quantities(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t milli;
    } cases[] = {
        {"250m", 0, 250},
        {"1", 0, 1000},
        {"1.5", 0, 1500},
        {"0.1m", 0, 1}, /* rounded up */
        {"100u", 0, 1},
        {"128Mi", 0, INT64_C(134217728000)},
        {"1.5Ki", 0, 1536000},
        {"1G", 0, INT64_C(1000000000000)},
        {"1e3", 0, 1000000},
        {"2E-3", 0, 2},
        {"0", 0, 0},
        {"-1", 0, -1000},
        {"+5k", 0, 5000000},
        {"1E", 0, TW_ELIMIT}, /* exa-units in milli do not fit */
        {"", TW_EPARSE, 0},
        {"m", TW_EPARSE, 0},
        {"1x", TW_EPARSE, 0},
        {"1mi", TW_EPARSE, 0},
        {"1Ki2", TW_EPARSE, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -42;
        int rc = tw_orch_quantity_milli(cases[i].in, &v);
        int want_rc = cases[i].milli == TW_ELIMIT ? TW_ELIMIT : cases[i].rc;
        if (rc != want_rc || (rc == 0 && v != cases[i].milli)) {
            fail_msg("%s: rc %d value %lld", cases[i].in, rc, (long long)v);
        }
    }
}

static void test_resources_patch(void **state)
{
    (void)state;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_orch_resources_t r[2] = {{"app", 300, 268435456, -1, 536870912}, {"side", -1, -1, -1, -1}};
    assert_int_equal(tw_orch_kube_resources_patch(&b, true, r, 2), 0);
    assert_string_equal(b.data, "{\"spec\":{\"template\":{\"spec\":{\"containers\":["
                                "{\"name\":\"app\",\"resources\":{\"requests\":{\"cpu\":\"300m\","
                                "\"memory\":\"268435456\"},\"limits\":{\"memory\":\"536870912\"}}},"
                                "{\"name\":\"side\",\"resources\":{}}]}}}}");
    tw_buf_reset(&b);
    assert_int_equal(tw_orch_kube_resources_patch(&b, false, r, 1), 0);
    assert_string_equal(b.data, "{\"spec\":{\"containers\":[{\"name\":\"app\",\"resources\":{"
                                "\"requests\":{\"cpu\":\"300m\",\"memory\":\"268435456\"},"
                                "\"limits\":{\"memory\":\"536870912\"}}}]}}");
    tw_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubeconfig_current_context),
        cmocka_unit_test(test_kubeconfig_files_and_errors),
        cmocka_unit_test(test_incluster),
        cmocka_unit_test(test_scale_parse_emit),
        cmocka_unit_test(test_status_errors),
        cmocka_unit_test(test_paths_and_selector_query),
        cmocka_unit_test(test_pods_parse),
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_resources_patch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
