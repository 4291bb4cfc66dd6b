/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_hpa_quantity.c - libFuzzer target for the Kubernetes quantity parser (hpa_quantity.c):
 * any byte string goes to tw_hpa_quantity_parse(), and an accepted one must be self-consistent
 * (zero sign means zero milli-units; a positive quantity is at least 1 milli, rounded up).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "autoscaler/hpa/hpa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_hpa_quantity_t q;
    tw_error_t err;
    tw_error_clear(&err);
    if (tw_hpa_quantity_parse((const char *)data, size, &q, &err) != 0) {
        if (err.msg[0] == '\0') {
            abort(); /* every refusal says why */
        }
        return 0;
    }
    if ((q.sign == 0 && q.milli != 0) || (q.sign > 0 && q.milli < 1) ||
        (q.sign < 0 && q.milli > -1)) {
        abort();
    }
    return 0;
}
