/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_hpa_manifest.c - libFuzzer target for the HorizontalPodAutoscaler manifest loader
 * (hpa_manifest.c): the first byte picks the HPAScaleToZero gate, the rest is parsed as a
 * multi-document YAML file. Every failure must carry a message; every accepted manifest must
 * satisfy what validation promises (1 <= max, min <= max, at least one metric, positive
 * targets) and be freed cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "autoscaler/hpa/hpa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    tw_hpa_manifest_options_t o = {.gate_scale_to_zero = (data[0] & 1) != 0};
    tw_hpa_manifest_list_t l = {NULL, 0};
    tw_error_t err;
    tw_error_clear(&err);
    if (tw_hpa_manifests_parse((const char *)data + 1, size - 1, "fuzz.yaml", &o, &l, &err) != 0) {
        if (err.msg[0] == '\0' || l.n != 0) {
            abort();
        }
        return 0;
    }
    for (size_t i = 0; i < l.n; i++) {
        const tw_hpa_manifest_t *m = l.items[i];
        if (m->spec.max_replicas < 1 || m->spec.min_replicas > m->spec.max_replicas ||
            m->spec.min_replicas < (o.gate_scale_to_zero ? 0 : 1) || m->spec.n_metrics == 0) {
            abort();
        }
        for (size_t k = 0; k < m->spec.n_metrics; k++) {
            const tw_hpa_metric_input_t *mi = &m->spec.metrics[k];
            if (mi->type == TW_HPA_METRIC_INVALID ||
                (mi->target_type == TW_HPA_TARGET_UTILIZATION && mi->target_utilization < 1 &&
                 mi->type != TW_HPA_METRIC_OBJECT) ||
                (mi->target_type != TW_HPA_TARGET_UTILIZATION && mi->target_milli < 1)) {
                abort();
            }
        }
    }
    tw_hpa_manifest_list_fini(&l);
    return 0;
}
