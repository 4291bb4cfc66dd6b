/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_orchestrator_kube.c - libFuzzer target for the orchestrator's parsers of untrusted
 * input: the first byte picks the parser (kubeconfig YAML, Scale JSON, PodList JSON, Status
 * error body, Nomad job JSON, a Kubernetes quantity, Retry-After, RFC 3339, an exec template
 * word), the rest is its input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/kube.h"
#include "common/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    unsigned sel = data[0] % 9;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    char *z = tw_xstrndup(in, n); /* NUL-terminated copy for the string parsers */
    tw_error_t err;
    tw_error_clear(&err);
    switch (sel) {
    case 0: {
        tw_kube_config_t kc;
        if (tw_kube_config_parse(in, n, "fuzz", "/tmp", NULL, &kc, &err) == 0) {
            tw_kube_config_fini(&kc);
        }
        break;
    }
    case 1: {
        tw_orch_scale_t sc;
        (void)tw_orch_kube_scale_parse(in, n, "fuzz", &sc, &err);
        break;
    }
    case 2: {
        tw_orch_pod_list_t l;
        char cont[256];
        tw_orch_pod_list_init(&l);
        (void)tw_orch_kube_pods_parse(in, n, &l, cont, sizeof(cont), &err);
        tw_orch_pod_list_fini(&l);
        break;
    }
    case 3:
        (void)tw_kube_status_error(409, in, n, "fuzz", &err);
        break;
    case 4: {
        tw_orch_scale_t sc;
        (void)tw_orch_nomad_job_parse(in, n, "job", n % 2 ? "g" : NULL, &sc, &err);
        break;
    }
    case 5: {
        int64_t v;
        (void)tw_orch_quantity_milli(z, &v);
        break;
    }
    case 6: {
        int64_t v;
        (void)tw_kube_retry_after_parse(z, 0, &v);
        break;
    }
    case 7: {
        int64_t v;
        (void)tw_orch_rfc3339_parse(z, &v);
        break;
    }
    default: {
        const char *tmpl[] = {"cmd", z, NULL};
        tw_orch_exec_vars_t vars = {"ns", "name", "group", 3};
        char **argv = NULL;
        if (tw_orch_exec_expand(tmpl, &vars, &argv, &err) == 0) {
            tw_orch_exec_argv_free(argv);
        }
        break;
    }
    }
    free(z);
    return 0;
}
