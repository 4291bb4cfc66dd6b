/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_expfmt_accept.c - libFuzzer target for the /metrics negotiation parsers: the input's
 * first line is an Accept header value, the rest an Accept-Encoding value. Both parsers must
 * terminate, stay in bounds and return one of their defined answers for any bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/expfmt/expfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *nl = memchr(copy, '\n', size);
    const char *encoding = "";
    if (nl != NULL) {
        *nl = '\0';
        encoding = nl + 1;
    }
    tw_expfmt_format_t fmt = tw_expfmt_negotiate(copy);
    if (fmt != TW_EXPFMT_TEXT_0_0_4 && fmt != TW_EXPFMT_OPENMETRICS_1_0_0) {
        abort();
    }
    if (tw_expfmt_content_type(fmt) == NULL) {
        abort();
    }
    (void)tw_expfmt_accepts_gzip(encoding);
    free(copy);
    return 0;
}
