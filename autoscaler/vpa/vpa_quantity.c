/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_quantity.c - Kubernetes resource.Quantity strings reduced to the integers the VPA's
 * capping code compares: MilliValue() for CPU and Value() for memory, both rounded up (toward
 * +infinity). Exact: common/quantity.h scans the text and converts it in integers, so "0.1",
 * "1.5Gi" or "2e3" do not go through floating point. This file adds the VPA's contract: blanks
 * (space, tab) around the text are ignored, at most 36 integer digits, and the messages name the
 * quantity.
 *
 * Pure, no state. Thread-safe.
 */
#include <stdio.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"
#include "common/quantity.h"

/* Integer digits kept; a longer integer part is refused as too large. */
#define MAX_INT_DIGITS 36

static int bad(tw_error_t *err, const char *text, size_t len)
{
    return tw_error_set(err, TW_EPARSE,
                        "quantity \"%.*s\": quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTPE]*[-+]?[0-9]*)$'",
                        (int)(len > 64 ? 64 : len), text);
}

int tw_vpa_quantity_parse(const char *text, size_t len, tw_vpa_resource_t r, int64_t *out,
                          tw_error_t *err)
{
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t')) {
        i++;
    }
    while (len > i && (text[len - 1] == ' ' || text[len - 1] == '\t')) {
        len--;
    }
    const char *s = text + i;
    size_t n = len - i;
    tw_quantity_t q;
    int rc = tw_quantity_parse(s, n, &q);
    if (q.int_len > MAX_INT_DIGITS) {
        /* an integer part too long to keep exactly */
        return tw_error_set(err, TW_ELIMIT, "quantity \"%.*s\" is too large",
                            (int)(n > 64 ? 64 : n), s);
    }
    if (rc == TW_EINVAL) {
        return tw_error_set(err, TW_EPARSE, "quantity \"%.*s\": unable to parse quantity's suffix",
                            (int)(len > 64 ? 64 : len), text);
    }
    if (rc != 0 || !q.has_digits) {
        return bad(err, text, len);
    }
    uint64_t v;
    bool inexact;
    if (tw_quantity_scaled(&q, r == TW_VPA_CPU ? 3 : 0, &v, &inexact) != 0 ||
        (inexact && !q.neg && v == (uint64_t)INT64_MAX)) {
        return tw_error_set(err, TW_ELIMIT, "quantity \"%.*s\" does not fit in an int64 of %s",
                            (int)(len > 64 ? 64 : len), text, r == TW_VPA_CPU ? "millis" : "units");
    }
    if (inexact && !q.neg) {
        v++; /* round up, like Quantity.Value()/MilliValue() */
    }
    *out = q.neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

void tw_vpa_quantity_format(tw_vpa_resource_t r, int64_t amount, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, r == TW_VPA_CPU ? "%lldm" : "%lld", (long long)amount);
}
