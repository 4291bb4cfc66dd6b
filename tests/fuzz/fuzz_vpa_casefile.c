/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_vpa_casefile.c - libFuzzer target for the VPA case-file runner (vpa_casefile.c): any
 * byte string is fed to tw_vpa_cases_run_buf() with checking on, so the JSON walking, the range
 * checks and every histogram, model, estimator and capping path the cases reach run under the
 * sanitizers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "autoscaler/vpa/vpa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (sink == NULL) {
        sink = fopen("/dev/null", "w");
        if (sink == NULL) {
            return 0;
        }
    }
    tw_error_t err;
    tw_error_clear(&err);
    (void)tw_vpa_cases_run_buf((const char *)data, size, "fuzz", 1, sink, &err);
    return 0;
}
