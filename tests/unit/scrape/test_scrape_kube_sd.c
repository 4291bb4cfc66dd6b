/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scrape_kube_sd.c - kubernetes_sd_configs: the target groups of node, pod and endpoints
 * objects with exactly the __meta_kubernetes_* labels Prometheus' discovery/kubernetes
 * (node.go, pod.go, endpoints.go) gives them, and the config section's validation with
 * Prometheus' messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/scrape/scrape_int.h"
#include "common/mem.h"

static json_t *J(const char *s)
{
    json_error_t je;
    json_t *v = json_loads(s, 0, &je);
    if (v == NULL) {
        fail_msg("bad test JSON: %s", je.text);
    }
    return v;
}

/* Asserts that target i of g (group labels, its own labels, __address__) is exactly want[]
 * ("name=value" each, any order). */
static void assert_target(const tw_scrape_group_t *g, size_t i, const char *const *want, size_t n)
{
    assert_true(i < g->ntargets);
    tw_label_t all[128];
    size_t na = 0;
    for (size_t j = 0; j < g->ntlabels[i]; j++) {
        all[na++] = g->tlabels[i][j];
    }
    for (size_t j = 0; j < g->nlabels; j++) {
        if (tw_labels_get(all, na, g->labels[j].name) == NULL) {
            all[na++] = g->labels[j];
        }
    }
    all[na++] = g->targets[i];
    for (size_t k = 0; k < n; k++) {
        const char *eq = strchr(want[k], '=');
        char name[160];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - want[k]), want[k]);
        const char *got = tw_labels_get(all, na, name);
        if (got == NULL || strcmp(got, eq + 1) != 0) {
            fail_msg("target %zu: %s is %s, want %s", i, name, got != NULL ? got : "(absent)",
                     eq + 1);
        }
    }
    /* want may name a label twice (the endpoints and pod macros both hold the namespace) */
    size_t uniq = 0;
    for (size_t k = 0; k < n; k++) {
        bool dup = false;
        for (size_t q = 0; q < k && !dup; q++) {
            dup = strcmp(want[q], want[k]) == 0;
        }
        uniq += !dup;
    }
    if (na != uniq) {
        for (size_t k = 0; k < na; k++) {
            print_message("  have %s=%s\n", all[k].name, all[k].value);
        }
        fail_msg("target %zu: %zu labels, want %zu", i, na, uniq);
    }
}

#define ASSERT_TARGET(g, i, ...)                                                                   \
    do {                                                                                           \
        static const char *const w_[] = {__VA_ARGS__};                                             \
        assert_target((g), (i), w_, sizeof(w_) / sizeof(w_[0]));                                   \
    } while (0)

static void test_node(void **state)
{
    (void)state;
    json_t *node = J("{\"metadata\":{\"name\":\"testnode\",\"labels\":{\"test-label\":"
                     "\"testvalue\"},\"annotations\":{\"test.io/annotation\":\"testannotationvalue"
                     "\"}},\"spec\":{\"providerID\":\"aws:///de/i-1\"},\"status\":{\"addresses\":["
                     "{\"type\":\"Hostname\",\"address\":\"testnode\"},"
                     "{\"type\":\"InternalIP\",\"address\":\"1.2.3.4\"},"
                     "{\"type\":\"InternalIP\",\"address\":\"9.9.9.9\"}],"
                     "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":10250}}}}");
    tw_scrape_group_t g;
    assert_int_equal(tw_scrape_kube_node_group(node, &g), 1);
    assert_int_equal(g.ntargets, 1);
    ASSERT_TARGET(&g, 0, "__address__=1.2.3.4:10250", "instance=testnode",
                  "__meta_kubernetes_node_address_InternalIP=1.2.3.4",
                  "__meta_kubernetes_node_address_Hostname=testnode",
                  "__meta_kubernetes_node_name=testnode",
                  "__meta_kubernetes_node_provider_id=aws:///de/i-1",
                  "__meta_kubernetes_node_label_test_label=testvalue",
                  "__meta_kubernetes_node_labelpresent_test_label=true",
                  "__meta_kubernetes_node_annotation_test_io_annotation=testannotationvalue",
                  "__meta_kubernetes_node_annotationpresent_test_io_annotation=true");
    tw_scrape_group_t *gp = tw_xcalloc(1, sizeof(*gp));
    *gp = g;
    tw_scrape_groups_free(gp, 1);
    json_decref(node);

    /* IPv6 and the address priority (InternalDNS before ExternalIP); no port: 0 */
    node = J("{\"metadata\":{\"name\":\"n6\"},\"status\":{\"addresses\":["
             "{\"type\":\"ExternalIP\",\"address\":\"8.8.8.8\"},"
             "{\"type\":\"InternalDNS\",\"address\":\"fd00::1\"}]}}");
    assert_int_equal(tw_scrape_kube_node_group(node, &g), 1);
    ASSERT_TARGET(&g, 0, "__address__=[fd00::1]:0", "instance=n6",
                  "__meta_kubernetes_node_address_ExternalIP=8.8.8.8",
                  "__meta_kubernetes_node_address_InternalDNS=fd00::1",
                  "__meta_kubernetes_node_name=n6", "__meta_kubernetes_node_provider_id=");
    gp = tw_xcalloc(1, sizeof(*gp));
    *gp = g;
    tw_scrape_groups_free(gp, 1);
    json_decref(node);

    node = J("{\"metadata\":{\"name\":\"bare\"},\"status\":{}}");
    assert_int_equal(tw_scrape_kube_node_group(node, &g), 0);
    assert_int_equal(g.ntargets, 0);
    json_decref(node);
}

static const char pod_json[] =
    "{\"metadata\":{\"name\":\"testpod\",\"namespace\":\"default\",\"uid\":\"abc123\","
    "\"labels\":{\"test/label\":\"testvalue\"},\"annotations\":{\"test/annotation\":"
    "\"testannotationvalue\"},\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"other\"},"
    "{\"kind\":\"testcontrollerkind\",\"name\":\"testcontrollername\",\"controller\":true}]},"
    "\"spec\":{\"nodeName\":\"testnode\",\"containers\":[{\"name\":\"testcontainer\",\"image\":"
    "\"testcontainer:latest\",\"ports\":[{\"name\":\"testport\",\"protocol\":\"TCP\","
    "\"containerPort\":9000}]},{\"name\":\"noports\",\"image\":\"np:1\"}],"
    "\"initContainers\":[{\"name\":\"initcontainer\",\"image\":\"initcontainer:latest\"}]},"
    "\"status\":{\"podIP\":\"1.2.3.4\",\"hostIP\":\"2.3.4.5\",\"phase\":\"Running\","
    "\"conditions\":[{\"type\":\"Initialized\",\"status\":\"True\"},{\"type\":\"Ready\","
    "\"status\":\"True\"}],\"containerStatuses\":[{\"name\":\"testcontainer\",\"containerID\":"
    "\"containerd://a1b2c3d4e5f6\"}],\"initContainerStatuses\":[{\"name\":\"initcontainer\","
    "\"containerID\":\"containerd://init1\"}]}}";

#define POD_LABELS                                                                                 \
    "__meta_kubernetes_namespace=default", "__meta_kubernetes_pod_name=testpod",                   \
        "__meta_kubernetes_pod_ip=1.2.3.4", "__meta_kubernetes_pod_ready=true",                    \
        "__meta_kubernetes_pod_phase=Running", "__meta_kubernetes_pod_node_name=testnode",         \
        "__meta_kubernetes_pod_host_ip=2.3.4.5", "__meta_kubernetes_pod_uid=abc123",               \
        "__meta_kubernetes_pod_controller_kind=testcontrollerkind",                                \
        "__meta_kubernetes_pod_controller_name=testcontrollername",                                \
        "__meta_kubernetes_pod_label_test_label=testvalue",                                        \
        "__meta_kubernetes_pod_labelpresent_test_label=true",                                      \
        "__meta_kubernetes_pod_annotation_test_annotation=testannotationvalue",                    \
        "__meta_kubernetes_pod_annotationpresent_test_annotation=true"

static void test_pod(void **state)
{
    (void)state;
    json_t *pod = J(pod_json);
    tw_scrape_group_t *g = tw_xcalloc(1, sizeof(*g));
    assert_int_equal(tw_scrape_kube_pod_group(pod, g), 1);
    assert_int_equal(g->ntargets, 3);
    ASSERT_TARGET(g, 0, POD_LABELS, "__address__=1.2.3.4:9000",
                  "__meta_kubernetes_pod_container_name=testcontainer",
                  "__meta_kubernetes_pod_container_id=containerd://a1b2c3d4e5f6",
                  "__meta_kubernetes_pod_container_image=testcontainer:latest",
                  "__meta_kubernetes_pod_container_port_number=9000",
                  "__meta_kubernetes_pod_container_port_name=testport",
                  "__meta_kubernetes_pod_container_port_protocol=TCP",
                  "__meta_kubernetes_pod_container_init=false");
    ASSERT_TARGET(
        g, 1, POD_LABELS, "__address__=1.2.3.4", "__meta_kubernetes_pod_container_name=noports",
        "__meta_kubernetes_pod_container_id=", "__meta_kubernetes_pod_container_image=np:1",
        "__meta_kubernetes_pod_container_init=false");
    ASSERT_TARGET(g, 2, POD_LABELS, "__address__=1.2.3.4",
                  "__meta_kubernetes_pod_container_name=initcontainer",
                  "__meta_kubernetes_pod_container_id=containerd://init1",
                  "__meta_kubernetes_pod_container_image=initcontainer:latest",
                  "__meta_kubernetes_pod_container_init=true");
    tw_scrape_groups_free(g, 1);
    json_decref(pod);

    /* no IP yet: an empty group; no Ready condition: "unknown" */
    pod = J("{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"},\"spec\":{\"containers\":"
            "[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Pending\"}}");
    tw_scrape_group_t e;
    assert_int_equal(tw_scrape_kube_pod_group(pod, &e), 0);
    assert_int_equal(e.ntargets, 0);
    json_object_set_new(json_object_get(pod, "status"), "podIP", json_string("fd00::5"));
    g = tw_xcalloc(1, sizeof(*g));
    assert_int_equal(tw_scrape_kube_pod_group(pod, g), 1);
    ASSERT_TARGET(g, 0, "__address__=fd00::5", "__meta_kubernetes_namespace=ns",
                  "__meta_kubernetes_pod_name=p", "__meta_kubernetes_pod_ip=fd00::5",
                  "__meta_kubernetes_pod_ready=unknown", "__meta_kubernetes_pod_phase=Pending",
                  "__meta_kubernetes_pod_node_name=", "__meta_kubernetes_pod_host_ip=",
                  "__meta_kubernetes_pod_uid=", "__meta_kubernetes_pod_container_name=c",
                  "__meta_kubernetes_pod_container_id=", "__meta_kubernetes_pod_container_image=",
                  "__meta_kubernetes_pod_container_init=false");
    tw_scrape_groups_free(g, 1);
    json_decref(pod);
}

static json_t *the_pod;

static const json_t *lookup_pod(void *ctx, const char *ns, const char *name)
{
    (void)ctx;
    return strcmp(ns, "default") == 0 && strcmp(name, "testpod") == 0 ? the_pod : NULL;
}

static void test_endpoints(void **state)
{
    (void)state;
    the_pod = J(pod_json);
    /* a second container port (9001) that no endpoint port covers */
    json_array_append_new(
        json_object_get(
            json_array_get(json_object_get(json_object_get(the_pod, "spec"), "containers"), 0),
            "ports"),
        J("{\"name\":\"sideport\",\"protocol\":\"UDP\",\"containerPort\":9001}"));
    json_t *eps =
        J("{\"metadata\":{\"name\":\"testendpoints\",\"namespace\":\"default\",\"labels\":"
          "{\"app\":\"web\"}},\"subsets\":["
          "{\"addresses\":[{\"ip\":\"1.2.3.4\",\"hostname\":\"testendpoint1\",\"nodeName\":"
          "\"foobar\"},{\"ip\":\"1.2.3.4\",\"targetRef\":{\"kind\":\"Pod\",\"name\":\"testpod\","
          "\"namespace\":\"default\"}}],\"ports\":[{\"name\":\"testport\",\"port\":9000,"
          "\"protocol\":\"TCP\"}]},"
          "{\"notReadyAddresses\":[{\"ip\":\"2.3.4.5\",\"targetRef\":{\"kind\":\"Node\",\"name\":"
          "\"n1\"}}],\"ports\":[{\"port\":9002,\"protocol\":\"TCP\"}]}]}");
    json_t *svc = J("{\"metadata\":{\"name\":\"testendpoints\",\"namespace\":\"default\","
                    "\"labels\":{\"app.kubernetes.io/name\":\"web\"}}}");
    tw_scrape_group_t *g = tw_xcalloc(1, sizeof(*g));
    assert_int_equal(tw_scrape_kube_endpoints_group(eps, svc, lookup_pod, NULL, g), 1);
    assert_int_equal(g->ntargets, 4);
#define EPS_LABELS                                                                                 \
    "__meta_kubernetes_namespace=default", "__meta_kubernetes_endpoints_name=testendpoints",       \
        "__meta_kubernetes_endpoints_label_app=web",                                               \
        "__meta_kubernetes_endpoints_labelpresent_app=true",                                       \
        "__meta_kubernetes_service_name=testendpoints",                                            \
        "__meta_kubernetes_service_label_app_kubernetes_io_name=web",                              \
        "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name=true"
    ASSERT_TARGET(g, 0, EPS_LABELS, "__address__=1.2.3.4:9000",
                  "__meta_kubernetes_endpoint_hostname=testendpoint1",
                  "__meta_kubernetes_endpoint_node_name=foobar",
                  "__meta_kubernetes_endpoint_port_name=testport",
                  "__meta_kubernetes_endpoint_port_protocol=TCP",
                  "__meta_kubernetes_endpoint_ready=true");
    ASSERT_TARGET(g, 1, EPS_LABELS, POD_LABELS, "__address__=1.2.3.4:9000",
                  "__meta_kubernetes_endpoint_port_name=testport",
                  "__meta_kubernetes_endpoint_port_protocol=TCP",
                  "__meta_kubernetes_endpoint_ready=true",
                  "__meta_kubernetes_endpoint_address_target_kind=Pod",
                  "__meta_kubernetes_endpoint_address_target_name=testpod",
                  "__meta_kubernetes_pod_container_name=testcontainer",
                  "__meta_kubernetes_pod_container_image=testcontainer:latest",
                  "__meta_kubernetes_pod_container_port_name=testport",
                  "__meta_kubernetes_pod_container_port_number=9000",
                  "__meta_kubernetes_pod_container_port_protocol=TCP");
    ASSERT_TARGET(
        g, 2, EPS_LABELS, "__address__=2.3.4.5:9002",
        "__meta_kubernetes_endpoint_port_name=", "__meta_kubernetes_endpoint_port_protocol=TCP",
        "__meta_kubernetes_endpoint_ready=false",
        "__meta_kubernetes_endpoint_address_target_kind=Node",
        "__meta_kubernetes_endpoint_address_target_name=n1");
    ASSERT_TARGET(g, 3, EPS_LABELS, POD_LABELS, "__address__=1.2.3.4:9001",
                  "__meta_kubernetes_pod_container_name=testcontainer",
                  "__meta_kubernetes_pod_container_image=testcontainer:latest",
                  "__meta_kubernetes_pod_container_port_name=sideport",
                  "__meta_kubernetes_pod_container_port_number=9001",
                  "__meta_kubernetes_pod_container_port_protocol=UDP");
    tw_scrape_groups_free(g, 1);
    /* without the service */
    g = tw_xcalloc(1, sizeof(*g));
    assert_int_equal(tw_scrape_kube_endpoints_group(eps, NULL, NULL, NULL, g), 1);
    assert_int_equal(g->ntargets, 3);
    assert_int_equal(g->nlabels, 4);
    tw_scrape_groups_free(g, 1);
    json_decref(eps);
    json_decref(svc);
    json_decref(the_pod);
}

static int parse(const char *yaml, tw_scrape_config_t ***out, size_t *n, tw_error_t *err)
{
    tw_yaml_doc_t *doc = NULL;
    int rc = tw_yaml_doc_parse(yaml, strlen(yaml), "tw.yml", &doc, err);
    if (rc != 0) {
        return rc;
    }
    tw_yaml_walk_t w = {"tw.yml", err, NULL};
    tw_scrape_global_t g = {60000, 10000};
    rc = tw_scrape_configs_parse(&w, tw_yaml_doc_root(doc), &g, "/etc/tw", out, n);
    tw_yaml_doc_free(doc);
    return rc;
}

static void test_config(void **state)
{
    (void)state;
    tw_scrape_config_t **c = NULL;
    size_t n = 0;
    tw_error_t err;
    const char *ok = "- job_name: k\n"
                     "  kubernetes_sd_configs:\n"
                     "    - role: endpoints\n"
                     "      api_server: https://10.0.0.1:6443\n"
                     "      bearer_token_file: token\n"
                     "      tls_config: {ca_file: ca.crt, insecure_skip_verify: true}\n"
                     "      namespaces: {names: [a, b], own_namespace: true}\n"
                     "      selectors:\n"
                     "        - {role: service, label: app=web}\n"
                     "        - {role: pod, field: spec.nodeName=n1}\n"
                     "    - role: node\n"
                     "      kubeconfig_file: kube/config\n";
    assert_int_equal(parse(ok, &c, &n, &err), 0);
    assert_int_equal(c[0]->nkube_sd, 2);
    const tw_scrape_kube_sd_t *k = &c[0]->kube_sd[0];
    assert_int_equal(k->role, TW_SCRAPE_KUBE_ROLE_ENDPOINTS);
    assert_string_equal(k->api_server, "https://10.0.0.1:6443");
    assert_string_equal(k->bearer_token_file, "/etc/tw/token");
    assert_string_equal(k->ca_file, "/etc/tw/ca.crt");
    assert_true(k->insecure_skip_verify);
    assert_int_equal(k->nnamespaces, 2);
    assert_string_equal(k->namespaces[1], "b");
    assert_true(k->own_namespace);
    assert_string_equal(k->selector_label[TW_SCRAPE_KUBE_ROLE_SERVICE], "app=web");
    assert_string_equal(k->selector_field[TW_SCRAPE_KUBE_ROLE_POD], "spec.nodeName=n1");
    assert_null(k->selector_label[TW_SCRAPE_KUBE_ROLE_POD]);
    assert_string_equal(c[0]->kube_sd[1].kubeconfig_file, "/etc/tw/kube/config");
    tw_scrape_configs_free(c, n);

    static const struct {
        const char *yaml;
        const char *msg;
    } bad[] = {
        {"- job_name: k\n  kubernetes_sd_configs:\n    - api_server: http://x\n",
         "tw.yml:3:7: scrape_configs[0].kubernetes_sd_configs[0]: role missing (one of: pod, "
         "service, endpoints, endpointslice, node, ingress)"},
        {"- job_name: k\n  kubernetes_sd_configs:\n    - role: pods\n",
         "tw.yml:3:13: scrape_configs[0].kubernetes_sd_configs[0]: unknown Kubernetes SD role "
         "\"pods\""},
        {"- job_name: k\n  kubernetes_sd_configs:\n    - role: ingress\n",
         "tw.yml:3:13: scrape_configs[0].kubernetes_sd_configs[0]: role \"ingress\" is not "
         "supported by tidewatch (supported: node, pod, endpoints)"},
        {"- job_name: k\n  kubernetes_sd_configs:\n    - role: pod\n      bearer_token: x\n",
         "tw.yml:3:7: scrape_configs[0].kubernetes_sd_configs[0]: to use custom HTTP client "
         "configuration please provide the 'api_server' URL explicitly"},
        {"- job_name: k\n  kubernetes_sd_configs:\n    - role: pod\n      api_server: http://a\n"
         "      kubeconfig_file: c\n",
         "tw.yml:5:24: scrape_configs[0].kubernetes_sd_configs[0]: cannot use 'kubeconfig_file' "
         "and 'api_server' simultaneously"},
        {"- job_name: k\n  kubernetes_sd_configs:\n    - role: pod\n      selectors:\n"
         "        - {role: node, label: a=b}\n",
         "tw.yml:5:18: scrape_configs[0].kubernetes_sd_configs[0].selectors[0]: pod role "
         "supports only pod selectors"},
        {"- job_name: k\n  kubernetes_sd_configs:\n    - role: endpoints\n      selectors:\n"
         "        - {role: pod}\n        - {role: pod}\n",
         "tw.yml:6:18: scrape_configs[0].kubernetes_sd_configs[0].selectors[1]: duplicated "
         "selector role: pod"},
        {"- job_name: k\n  kubernetes_sd_configs:\n    - role: pod\n      foo: 1\n", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = NULL;
        n = 0;
        tw_error_clear(&err);
        assert_int_not_equal(parse(bad[i].yaml, &c, &n, &err), 0);
        if (bad[i].msg != NULL) {
            char buf[512];
            assert_string_equal(tw_error_format(&err, buf, sizeof(buf)), bad[i].msg);
        }
        assert_null(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node),
        cmocka_unit_test(test_pod),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
