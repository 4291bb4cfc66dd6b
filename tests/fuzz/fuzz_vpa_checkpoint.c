/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_vpa_checkpoint.c - libFuzzer target for the VPA checkpoint decoder (vpa_checkpoint.c).
 * Any byte string is decoded; an accepted checkpoint must load into an aggregate or be refused
 * with a message, and must re-encode to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_vpa_aggregate_checkpoint_t cp;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_vpa_checkpoint_decode(data, size, &cp, &err);
    if (rc != 0) {
        if (err.msg[0] == '\0') {
            abort(); /* every refusal says why */
        }
        tw_vpa_aggregate_checkpoint_fini(&cp);
        return 0;
    }
    size_t len = 0;
    uint8_t *again = tw_vpa_checkpoint_encode(&cp, &len, &err);
    if (again != NULL && (len != size || memcmp(again, data, size) != 0)) {
        abort();
    }
    free(again);
    tw_vpa_aggregate_t *a = tw_vpa_aggregate_new(NULL, 0);
    if (tw_vpa_aggregate_load(a, &cp, &err) == 0) {
        (void)tw_vpa_hist_percentile(tw_vpa_aggregate_cpu(a), 0.9);
        (void)tw_vpa_hist_percentile(tw_vpa_aggregate_memory(a), 0.9);
    }
    tw_vpa_aggregate_free(a);
    tw_vpa_aggregate_checkpoint_fini(&cp);
    return 0;
}
