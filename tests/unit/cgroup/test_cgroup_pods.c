/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cgroup_pods.c - the pod table: PodList parsing and its errors, lookups by pod UID and
 * runtime container id, and the kube-state-metrics series with exact values and labels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test_util.h"
#include "collector/cgroup/cgroup.h"
#include "collector/cgroup/cgroup_int.h"
#include "common/buf.h"

#define FIX TW_FIXTURES "/cgroup"
#define K1 "1111aaaa2222bbbb1111aaaa2222bbbb1111aaaa2222bbbb1111aaaa2222bbbb"
#define S1 "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
#define K2 "3333cccc4444dddd3333cccc4444dddd3333cccc4444dddd3333cccc4444dddd"
#define UID1 "5f3c2a10-1b2c-4d3e-8f90-0a1b2c3d4e5f"
#define UID2 "9e8d7c6b-5a49-4838-a716-0a0b0c0d0e0f"
#define UID3 "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f"

static tw_cgroup_pods_t *load(void)
{
    tw_buf_t b;
    tw_buf_init(&b, 1 << 20);
    assert_int_equal(tw_buf_read_file(&b, FIX "/podlist.json", NULL), 0);
    tw_error_t err;
    tw_cgroup_pods_t *p = tw_cgroup_pods_parse(b.data, b.len, &err);
    if (p == NULL) {
        fail_msg("parse: %s", err.msg);
    }
    tw_buf_fini(&b);
    return p;
}

static void test_lookup(void **state)
{
    (void)state;
    tw_cgroup_pods_t *p = load();
    assert_int_equal(tw_cgroup_pods_count(p), 3);
    tw_cg_pod_ref_t r;
    assert_true(tw_cg_pods_lookup(p, UID1, K1, &r));
    assert_string_equal(r.namespace_, "shop");
    assert_string_equal(r.name, "web-6b7f9c-x2k4p");
    assert_string_equal(r.uid, UID1);
    assert_string_equal(r.container, "nginx");
    assert_string_equal(r.image, "docker.io/library/nginx:1.25");
    /* The sandbox id is not in containerStatuses: the pod matches, the container does not. */
    assert_true(tw_cg_pods_lookup(p, UID1, S1, &r));
    assert_string_equal(r.name, "web-6b7f9c-x2k4p");
    assert_null(r.container);
    /* Pod-level cgroup. */
    assert_true(tw_cg_pods_lookup(p, UID2, "", &r));
    assert_string_equal(r.namespace_, "jobs");
    assert_null(r.container);
    /* Another pod's container id does not match. */
    assert_true(tw_cg_pods_lookup(p, UID1, K2, &r));
    assert_null(r.container);
    assert_false(tw_cg_pods_lookup(p, "00000000-0000-0000-0000-000000000000", K1, &r));
    assert_false(tw_cg_pods_lookup(NULL, UID1, K1, &r));
    assert_false(tw_cg_pods_lookup(p, "", K1, &r));
    /* References: the last unref frees (ASan checks). */
    tw_cgroup_pods_ref(p);
    tw_cgroup_pods_unref(p);
    assert_int_equal(tw_cgroup_pods_count(p), 3);
    tw_cgroup_pods_unref(p);
    tw_cgroup_pods_unref(NULL);
}

static double ksm(const tw_mset_t *s, const char *family, const char *pod, const char *container,
                  const char *resource)
{
    const tw_msample_t *m =
        resource != NULL ? cg_find(s, family, "pod", pod, "container", container, "resource",
                                   resource, (char *)NULL)
                         : cg_find(s, family, "pod", pod, "container", container, (char *)NULL);
    if (m == NULL) {
        fail_msg("no %s{pod=%s,container=%s,resource=%s}", family, pod, container,
                 resource ? resource : "-");
    }
    return m->value;
}

static void test_ksm_node_a(void **state)
{
    (void)state;
    tw_cgroup_pods_t *p = load();
    tw_mset_t *s = tw_mset_new();
    tw_cg_pods_write_ksm(p, "node-a", s);
    const char *web = "web-6b7f9c-x2k4p";

    const tw_mfamily_t *f = tw_mset_find(s, "kube_pod_container_status_restarts_total");
    assert_non_null(f);
    assert_int_equal(f->type, TW_MTYPE_COUNTER);
    assert_int_equal(f->nsamples, 3);
    assert_true(ksm(s, f->name, web, "nginx", NULL) == 2);
    assert_true(ksm(s, f->name, web, "sidecar", NULL) == 0);
    assert_true(ksm(s, f->name, "batch-28374650-abcde", "worker", NULL) == 0);

    f = tw_mset_find(s, "kube_pod_container_status_ready");
    assert_int_equal(f->type, TW_MTYPE_GAUGE);
    assert_true(ksm(s, f->name, web, "nginx", NULL) == 1);
    assert_true(ksm(s, f->name, web, "sidecar", NULL) == 0);

    const char *rq = "kube_pod_container_resource_requests";
    const char *lm = "kube_pod_container_resource_limits";
    assert_int_equal(tw_mset_find(s, rq)->nsamples, 5);
    assert_int_equal(tw_mset_find(s, lm)->nsamples, 4);
    assert_true(ksm(s, rq, web, "nginx", "cpu") == 0.25);
    assert_true(ksm(s, rq, web, "nginx", "memory") == 67108864);
    assert_true(ksm(s, rq, web, "nginx", "ephemeral_storage") == 2147483648.0);
    assert_true(ksm(s, rq, web, "sidecar", "cpu") == 0.1);
    assert_true(ksm(s, rq, web, "sidecar", "memory") == 1572864);
    assert_true(ksm(s, lm, web, "nginx", "cpu") == 1);
    assert_true(ksm(s, lm, web, "nginx", "memory") == 134217728);
    assert_true(ksm(s, lm, web, "nginx", "nvidia_com_gpu") == 1);
    assert_true(ksm(s, lm, web, "sidecar", "memory") == 1e9);
    char buf[512];
    const tw_msample_t *m = cg_find(s, rq, "container", "nginx", "resource", "cpu", (char *)NULL);
    assert_string_equal(cg_labels(m, buf, sizeof(buf)),
                        "namespace=shop,pod=web-6b7f9c-x2k4p,uid=" UID1
                        ",container=nginx,node=node-a,resource=cpu,unit=core");
    m = cg_find(s, lm, "container", "nginx", "resource", "nvidia_com_gpu", (char *)NULL);
    assert_string_equal(tw_labels_get(m->labels, m->nlabels, "unit"), "integer");
    m = cg_find(s, lm, "container", "sidecar", "resource", "memory", (char *)NULL);
    assert_string_equal(tw_labels_get(m->labels, m->nlabels, "unit"), "byte");

    f = tw_mset_find(s, "kube_pod_status_phase");
    assert_int_equal(f->nsamples, 10);
    m = cg_find(s, f->name, "pod", web, "phase", "Running", (char *)NULL);
    assert_string_equal(cg_labels(m, buf, sizeof(buf)),
                        "namespace=shop,pod=web-6b7f9c-x2k4p,uid=" UID1 ",phase=Running");
    assert_true(m->value == 1);
    static const char *const others[] = {"Pending", "Succeeded", "Failed", "Unknown"};
    for (size_t i = 0; i < 4; i++) {
        m = cg_find(s, f->name, "pod", web, "phase", others[i], (char *)NULL);
        assert_non_null(m);
        assert_true(m->value == 0);
    }
    assert_null(cg_find(s, f->name, "pod", "api-0", (char *)NULL));
    tw_mset_free(s);
    tw_cgroup_pods_unref(p);
}

static void test_ksm_all_nodes(void **state)
{
    (void)state;
    tw_cgroup_pods_t *p = load();
    tw_mset_t *s = tw_mset_new();
    tw_cg_pods_write_ksm(p, NULL, s);
    assert_int_equal(tw_mset_find(s, "kube_pod_status_phase")->nsamples, 15);
    const tw_msample_t *m =
        cg_find(s, "kube_pod_status_phase", "pod", "api-0", "phase", "Pending", (char *)NULL);
    assert_true(m != NULL && m->value == 1);
    assert_string_equal(tw_labels_get(m->labels, m->nlabels, "uid"), UID3);
    assert_true(ksm(s, "kube_pod_container_resource_requests", "api-0", "api", "cpu") == 0.5);
    assert_true(ksm(s, "kube_pod_container_resource_requests", "api-0", "api", "memory") == 1000);
    m = cg_find(s, "kube_pod_container_resource_requests", "pod", "api-0", "resource", "cpu",
                (char *)NULL);
    assert_string_equal(tw_labels_get(m->labels, m->nlabels, "node"), "node-b");
    /* api-0 has no containerStatuses yet: no restart or ready series. */
    assert_null(cg_find(s, "kube_pod_container_status_ready", "pod", "api-0", (char *)NULL));
    /* Another node: nothing. */
    tw_mset_reset(s);
    tw_cg_pods_write_ksm(p, "node-z", s);
    assert_int_equal(tw_mset_find(s, "kube_pod_status_phase")->nsamples, 0);
    tw_mset_free(s);
    tw_cgroup_pods_unref(p);
}

static void test_parse_errors(void **state)
{
    (void)state;
    tw_error_t err;
    static const char bad[] = "{\"items\": [\n  {\"metadata\": }\n]}";
    assert_null(tw_cgroup_pods_parse(bad, sizeof(bad) - 1, &err));
    assert_int_equal(err.code, TW_EPARSE);
    assert_int_equal(err.line, 2);
    assert_true(err.col > 0);
    assert_string_equal(err.file, "<podlist>");
    assert_null(tw_cgroup_pods_parse("[]", 2, &err));
    assert_int_equal(err.code, TW_EPARSE);
    assert_null(tw_cgroup_pods_parse("{\"items\": 5}", 12, &err));
    assert_null(tw_cgroup_pods_parse("", 0, &err));
    assert_null(tw_cgroup_pods_parse("{\"items\":[],\"items\":[]}", 23, NULL));

    /* No items: an empty table. Not NUL-terminated: only len bytes are read. */
    static const char empty[] = "{\"kind\":\"PodList\",\"items\":null}GARBAGE";
    tw_cgroup_pods_t *p = tw_cgroup_pods_parse(empty, sizeof(empty) - 1 - 7, &err);
    assert_non_null(p);
    assert_int_equal(tw_cgroup_pods_count(p), 0);
    tw_cgroup_pods_unref(p);

    /* Odd items and fields are skipped, not fatal; bad quantities drop that resource. */
    static const char odd[] =
        "{\"items\":[1,\"x\",null,{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"u\"},"
        "\"spec\":{\"nodeName\":7,\"containers\":[5,{\"name\":\"c\",\"resources\":{\"requests\":"
        "{\"cpu\":\"lots\",\"memory\":\"1Ki\",\"example.com/foo\":\"3\",\"pods\":\"2\"}}}]},"
        "\"status\":{\"phase\":\"Weird\",\"containerStatuses\":[{\"name\":\"c\","
        "\"restartCount\":\"9\",\"ready\":\"yes\"}]}}]}";
    p = tw_cgroup_pods_parse(odd, sizeof(odd) - 1, &err);
    assert_non_null(p);
    assert_int_equal(tw_cgroup_pods_count(p), 1);
    tw_mset_t *s = tw_mset_new();
    tw_cg_pods_write_ksm(p, NULL, s);
    assert_int_equal(tw_mset_find(s, "kube_pod_container_resource_requests")->nsamples, 2);
    assert_true(ksm(s, "kube_pod_container_resource_requests", "p", "c", "memory") == 1024);
    assert_true(ksm(s, "kube_pod_container_resource_requests", "p", "c", "example_com_foo") == 3);
    assert_true(ksm(s, "kube_pod_container_status_restarts_total", "p", "c", NULL) == 0);
    assert_true(ksm(s, "kube_pod_container_status_ready", "p", "c", NULL) == 0);
    /* An unknown phase: all five series are 0. */
    const tw_mfamily_t *f = tw_mset_find(s, "kube_pod_status_phase");
    assert_int_equal(f->nsamples, 5);
    for (size_t i = 0; i < f->nsamples; i++) {
        assert_true(f->samples[i].value == 0);
    }
    tw_mset_free(s);
    tw_cgroup_pods_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_ksm_node_a),
        cmocka_unit_test(test_ksm_all_nodes),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
