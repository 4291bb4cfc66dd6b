/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_scalers_template.c - libFuzzer target for the metric_queries template expander and the
 * label selector conversion (autoscaler/scalers/scalers_template.c). The input is split at its
 * first newline: the first part is the template, the rest the label selector (and, in turn, a
 * pod name and the namespace). Checks that checking and expanding agree, and that an expansion
 * stays within its buffer limit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/scalers/scalers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t tlen = nl != NULL ? (size_t)(nl - s) : size;
    char *rest = NULL;
    if (nl != NULL) {
        rest = malloc(size - tlen);
        memcpy(rest, nl + 1, size - tlen - 1);
        rest[size - tlen - 1] = '\0';
    }
    const char *pods[] = {rest != NULL ? rest : "p.1", "web-0"};
    tw_scalers_vars_t v = {.namespace = rest,
                           .pod_names = pods,
                           .n_pods = 2,
                           .object_kind = "Service",
                           .object_name = rest,
                           .label_selector = rest};
    tw_error_t err;
    tw_buf_t b;
    tw_buf_init(&b, 4096);
    int checked = tw_scalers_template_check(s, tlen, &err);
    int rc = tw_scalers_template_expand(s, tlen, &v, &b, &err);
    /* a template that passes the check fails to expand only through the selector or the limit */
    if (checked == 0 && rc != 0 && rc != TW_ELIMIT && rest == NULL) {
        abort();
    }
    if (b.len > 4096) {
        abort();
    }
    tw_buf_reset(&b);
    if (rest != NULL) {
        (void)tw_scalers_selector_to_matchers(rest, strlen(rest), &b, &err);
    }
    tw_buf_fini(&b);
    free(rest);
    return 0;
}
