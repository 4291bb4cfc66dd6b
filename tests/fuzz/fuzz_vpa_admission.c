/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_vpa_admission.c - libFuzzer target for the admission webhook's review parser and patch
 * builder (vpa_admission.c). Any byte string is reviewed against a lookup that matches every
 * pod with a recommendation and a policy; the answer must always be an allowing AdmissionReview,
 * an error must say why, and a returned patch must be a JSON array.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "autoscaler/vpa/vpa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lookup(void *ctx, const tw_vpa_admission_pod_t *pod, tw_vpa_admission_match_t *out,
                  tw_error_t *err)
{
    (void)err;
    static const tw_vpa_container_policy_t cp = {
        .name = "*", .max_allowed = {.has = {true, true}, .v = {4000, 8000000000}}};
    static const tw_vpa_policy_t pol = {.containers = &cp, .n = 1};
    tw_vpa_container_rec_t *recs = ctx;
    size_t n = pod->n_containers < 4 ? pod->n_containers : 4;
    for (size_t i = 0; i < n; i++) {
        memset(&recs[i], 0, sizeof(recs[i]));
        recs[i].name = pod->containers[i].name;
        for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
            recs[i].bound[b].has[TW_VPA_CPU] = recs[i].bound[b].has[TW_VPA_MEMORY] = true;
            recs[i].bound[b].v[TW_VPA_CPU] = 250 * (int64_t)(i + 1);
            recs[i].bound[b].v[TW_VPA_MEMORY] = INT64_C(262144000);
        }
    }
    snprintf(out->vpa_name, sizeof(out->vpa_name), "fuzz");
    out->mode = pod->n_labels % 2 ? TW_VPA_UPDATE_RECREATE : TW_VPA_UPDATE_IN_PLACE_OR_RECREATE;
    out->policy = &pol;
    out->recs = recs;
    out->n_recs = n;
    out->has_recs = true;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_vpa_container_rec_t recs[4];
    tw_vpa_admission_result_t res;
    tw_error_t err;
    tw_error_clear(&err);
    if (tw_vpa_admission_review((const char *)data, size, lookup, NULL, recs, &res, &err) != 0) {
        return 0;
    }
    if (res.response == NULL || strstr(res.response, "\"allowed\":true") == NULL) {
        abort();
    }
    if (res.outcome == TW_VPA_ADMISSION_ERROR && res.message[0] == '\0') {
        abort(); /* every refusal says why */
    }
    if (res.patch != NULL) {
        json_t *p = json_loads(res.patch, 0, NULL);
        if (!json_is_array(p)) {
            abort();
        }
        json_decref(p);
    }
    tw_vpa_admission_result_fini(&res);
    return 0;
}
