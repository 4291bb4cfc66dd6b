/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orch_tool.c - a small command-line front end to the orchestrator drivers, for the integration
 * tests (test_orchestrator_kube.sh drives the kubernetes driver against tests/fakes/kube_fake):
 *
 *   orch_tool [options] get KIND NAMESPACE NAME         spec=N status=N selector=S version=V
 *   orch_tool [options] set KIND NAMESPACE NAME N [VERSION]   PUT with that resourceVersion
 *   orch_tool [options] update KIND NAMESPACE NAME N    read, write N, re-read on conflict
 *   orch_tool [options] pods NAMESPACE SELECTOR         one line per pod
 *
 * Options: --driver NAME (kubernetes), --kubeconfig FILE, --context NAME, --retries N,
 * --max-retry-wait-ms N, --qps Q, --burst N. On failure it prints
 * "error code=<conflict|notfound|forbidden|transient|invalid|other> msg=<message>" and exits
 * 2, 3, 4, 5, 6 or 1 respectively.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/orchestrator/orchestrator.h"

static int report(int rc, const tw_error_t *err)
{
    const char *name = "other";
    int code = 1;
    switch (rc) {
    case TW_ECONFLICT:
        name = "conflict";
        code = 2;
        break;
    case TW_ENOTFOUND:
        name = "notfound";
        code = 3;
        break;
    case TW_EFORBIDDEN:
        name = "forbidden";
        code = 4;
        break;
    case TW_ETRANSIENT:
        name = "transient";
        code = 5;
        break;
    case TW_EINVAL:
        name = "invalid";
        code = 6;
        break;
    default:
        break;
    }
    printf("error code=%s msg=%s\n", name, err->msg);
    return code;
}

static int want_replicas(void *ctx, const tw_orch_scale_t *cur)
{
    (void)cur;
    return *(const int *)ctx;
}

static const char *phase_name(tw_orch_pod_phase_t p)
{
    static const char *const names[] = {"Running", "Pending", "Succeeded", "Failed", "Unknown"};
    return (unsigned)p < 5 ? names[p] : "?";
}

static const char *cond_name(tw_orch_cond_t c)
{
    static const char *const names[] = {"None", "True", "False", "Unknown"};
    return (unsigned)c < 4 ? names[c] : "?";
}

static int usage(void)
{
    fprintf(stderr, "usage: orch_tool [--driver D] [--kubeconfig F] [--context C] [--retries N]\n"
                    "                 [--max-retry-wait-ms N] [--qps Q] [--burst N]\n"
                    "                 get|set|update|pods ARGS...\n");
    return 64;
}

static int num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *end == '\0' ? (int)v : -1;
}

int main(int argc, char **argv)
{
    tw_orch_config_t cfg = {0};
    const char *driver = "kubernetes";
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--driver") == 0) {
            driver = v;
        } else if (strcmp(k, "--kubeconfig") == 0) {
            cfg.kubernetes.kubeconfig = v;
        } else if (strcmp(k, "--context") == 0) {
            cfg.kubernetes.context = v;
        } else if (strcmp(k, "--retries") == 0) {
            cfg.kubernetes.max_retries = num(v);
        } else if (strcmp(k, "--max-retry-wait-ms") == 0) {
            cfg.kubernetes.max_retry_wait_ms = num(v);
        } else if (strcmp(k, "--qps") == 0) {
            cfg.kubernetes.qps = strtod(v, NULL);
        } else if (strcmp(k, "--burst") == 0) {
            cfg.kubernetes.burst = num(v);
        } else {
            return usage();
        }
    }
    if (i >= argc) {
        return usage();
    }
    const char *cmd = argv[i++];
    int nargs = argc - i;
    char **a = argv + i;
    tw_error_t err;
    tw_orch_driver_t *d = NULL;
    int rc = tw_orch_driver_new(driver, &cfg, &d, &err);
    if (rc != 0) {
        return report(rc, &err);
    }
    int status = 0;
    tw_orch_scale_t sc, out;
    if (strcmp(cmd, "get") == 0 && nargs == 3) {
        tw_orch_ref_t ref = {.kind = a[0], .namespace = a[1], .name = a[2]};
        rc = tw_orch_get_scale(d, &ref, &sc, &err);
        if (rc == 0) {
            printf("spec=%d status=%d selector=%s version=%s\n", (int)sc.spec_replicas,
                   (int)sc.status_replicas, sc.selector, sc.version);
        }
    } else if (strcmp(cmd, "set") == 0 && (nargs == 4 || nargs == 5)) {
        tw_orch_ref_t ref = {.kind = a[0], .namespace = a[1], .name = a[2]};
        memset(&sc, 0, sizeof(sc));
        if (nargs == 5) {
            snprintf(sc.version, sizeof(sc.version), "%s", a[4]);
        }
        rc = tw_orch_set_scale(d, &ref, &sc, num(a[3]), &out, &err);
        if (rc == 0) {
            printf("spec=%d version=%s\n", (int)out.spec_replicas, out.version);
        }
    } else if (strcmp(cmd, "update") == 0 && nargs == 4) {
        tw_orch_ref_t ref = {.kind = a[0], .namespace = a[1], .name = a[2]};
        int want = num(a[3]), attempts = 0;
        rc = tw_orch_scale_update(d, &ref, want_replicas, &want, 3, &out, &attempts, &err);
        if (rc == 0) {
            printf("spec=%d version=%s writes=%d\n", (int)out.spec_replicas, out.version, attempts);
        }
    } else if (strcmp(cmd, "pods") == 0 && nargs == 2) {
        tw_orch_ref_t ref = {.namespace = a[0], .name = "-"};
        tw_orch_pod_list_t l;
        tw_orch_pod_list_init(&l);
        rc = tw_orch_list_pods(d, &ref, a[1], &l, &err);
        for (size_t p = 0; rc == 0 && p < l.n; p++) {
            const tw_orch_pod_t *pod = &l.pods[p];
            printf("%s phase=%s ready=%s deleting=%d start_ms=%lld", pod->name,
                   phase_name(pod->phase), cond_name(pod->ready), pod->deleting ? 1 : 0,
                   pod->has_start_time ? (long long)pod->start_time_ms : -1LL);
            for (size_t c = 0; c < pod->n_containers; c++) {
                printf(" %s:cpu=%lldm", pod->containers[c].name,
                       pod->containers[c].has_cpu_request
                           ? (long long)pod->containers[c].cpu_request_milli
                           : -1LL);
            }
            printf("\n");
        }
        tw_orch_pod_list_fini(&l);
    } else {
        tw_orch_driver_free(d);
        return usage();
    }
    if (rc != 0) {
        status = report(rc, &err);
    }
    tw_orch_driver_free(d);
    return status;
}
