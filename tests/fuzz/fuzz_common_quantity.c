/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_common_quantity.c - libFuzzer target for the shared Kubernetes quantity scanner and its
 * exact conversions (common/quantity.h) and for the RFC 3339 parser (common/timeutil.h). An
 * accepted quantity must be self-consistent: the digit views lie inside the input, scaling by
 * 10 more never gives a smaller magnitude, and rounding up agrees with the exact split.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/quantity.h"
#include "common/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    tw_quantity_t q;
    int rc = tw_quantity_parse(s, size, &q);
    if (rc != 0 && rc != TW_EPARSE && rc != TW_EINVAL) {
        abort();
    }
    if (q.int_digits < s || q.int_digits + q.int_len > s + size || q.frac_digits < s ||
        q.frac_digits + q.frac_len > s + size) {
        abort();
    }
    if (rc == 0) {
        uint64_t w0, w3;
        bool x0, x3;
        int r0 = tw_quantity_scaled(&q, 0, &w0, &x0);
        int r3 = tw_quantity_scaled(&q, 3, &w3, &x3);
        if (r0 == 0 && r3 == 0 && (w3 < w0 || (x3 && !x0))) {
            abort();
        }
        if (r3 == 0 && r0 != 0) {
            abort(); /* a thousandfold value fits but the value does not */
        }
        int64_t v;
        if (tw_quantity_round_up(&q, 3, &v) == 0 && r3 == 0) {
            uint64_t mag = q.neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            if (mag != w3 + (x3 ? 1 : 0) || (tw_quantity_is_zero(&q) && v != 0)) {
                abort();
            }
        }
    }
    char buf[64];
    if (size < sizeof(buf)) {
        memcpy(buf, data, size);
        buf[size] = '\0';
        int64_t t;
        (void)tw_time_rfc3339_parse(buf, &t);
    }
    return 0;
}
