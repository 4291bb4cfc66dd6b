/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_vpa_manifest.c - libFuzzer target for the VerticalPodAutoscaler manifest loader
 * (vpa_manifest.c): the input is parsed as a multi-document YAML file. Every failure must carry
 * a message and leave the list empty; every accepted manifest must satisfy what validation
 * promises (a target kind and name, minAllowed <= maxAllowed, minReplicas > 0, named container
 * policies) and be freed cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "autoscaler/vpa/vpa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_vpa_manifest_list_t l = {NULL, 0};
    tw_error_t err;
    tw_error_clear(&err);
    if (tw_vpa_manifests_parse((const char *)data, size, "fuzz.yaml", &l, &err) != 0) {
        if (err.msg[0] == '\0' || l.n != 0) {
            abort();
        }
        return 0;
    }
    for (size_t i = 0; i < l.n; i++) {
        const tw_vpa_manifest_t *m = l.items[i];
        if (m->target.kind[0] == '\0' || m->target.name[0] == '\0' ||
            (m->has_min_replicas && m->min_replicas <= 0)) {
            abort();
        }
        for (size_t k = 0; k < m->policy.n; k++) {
            const tw_vpa_container_policy_t *p = &m->policy.containers[k];
            if (p->name == NULL || p->name[0] == '\0') {
                abort();
            }
            for (int r = 0; r < TW_VPA_NRES; r++) {
                if (p->min_allowed.has[r] && p->max_allowed.has[r] &&
                    p->min_allowed.v[r] > p->max_allowed.v[r]) {
                    abort();
                }
            }
        }
    }
    tw_vpa_manifest_list_fini(&l);
    return 0;
}
