/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hpa_quantity.c - Kubernetes resource.Quantity strings ("500m", "1Gi", "2.5", "1e3") to the
 * milli-units the HPA maths uses (tw_hpa_quantity_parse, declared in hpa.h).
 *
 * How it works: common/quantity.h scans the text exactly as apimachinery's parseQuantityString()
 * does, so the same strings are accepted and refused with the same two messages, and computes
 * ceil(|value| * 1000) exactly. On top of it this file keeps what upstream does differently
 * from a plain exact value: an e/E exponent's int64 is truncated to int32, as upstream does;
 * upstream keeps an exact decimal and rounds it up to nano units, MilliValue() then rounds up
 * (away from zero) to milli units, and rounding up to a coarser grid after a finer one is the
 * same as rounding once. A binary suffix is refused past 18 significant digits (our limit, see
 * hpa.h), and the approximate float value is computed here.
 *
 * Pure; thread-safe.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/hpa/hpa.h"
#include "autoscaler/hpa/hpa_int.h"
#include "common/mem.h"
#include "common/quantity.h"

static const char err_format[] = "quantities must match the regular expression "
                                 "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
static const char err_suffix[] = "unable to parse quantity's suffix";
static const char err_too_large[] = "quantity too large: its value in milli-units does not fit "
                                    "in 64 bits";

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* AsApproximateFloat64(), near enough: strtod of the digits, then the suffix. */
static double approx_value(const tw_quantity_t *q, int32_t exp)
{
    size_t cap = q->int_len + q->frac_len + 32;
    char *s = tw_xmalloc(cap);
    size_t k = 0;
    s[k++] = q->neg ? '-' : '+';
    s[k++] = '0';
    memcpy(s + k, q->int_digits, q->int_len);
    k += q->int_len;
    s[k++] = '.';
    memcpy(s + k, q->frac_digits, q->frac_len);
    k += q->frac_len;
    if (q->base == 10) {
        snprintf(s + k, cap - k, "e%d", (int)exp);
    } else {
        s[k] = '\0';
    }
    double v = strtod(s, NULL);
    free(s);
    return q->base == 2 ? ldexp(v, exp) : v;
}

int tw_hpa_quantity_parse(const char *text, size_t len, tw_hpa_quantity_t *out, tw_error_t *err)
{
    tw_quantity_t q;
    memset(out, 0, sizeof(*out));
    while (len > 0 && is_blank(text[0])) {
        text++;
        len--;
    }
    while (len > 0 && is_blank(text[len - 1])) {
        len--;
    }
    if (len == 0) {
        return tw_error_set(err, TW_EPARSE, "%s", err_format);
    }
    int rc = tw_quantity_parse(text, len, &q);
    if (rc == TW_EINVAL) {
        return tw_error_set(err, TW_EPARSE, "%s", err_suffix);
    }
    if (rc != 0) {
        return tw_error_set(err, TW_EPARSE, "%s", err_format);
    }
    int32_t exp = (int32_t)(uint32_t)(uint64_t)q.exp; /* Go's int32(v) */
    q.exp = exp;
    if (tw_quantity_is_zero(&q)) {
        return 0;
    }
    if (q.base == 2 && q.int_len > 18) {
        return tw_error_set(err, TW_ELIMIT, "%s", err_too_large); /* >= 10^18 * 1024 * 1000 */
    }
    if (q.base == 2 && tw_quantity_sig_digits(&q) > 18) {
        return tw_error_set(err, TW_ELIMIT,
                            "quantity with a binary suffix has more than 18 significant digits");
    }
    int64_t milli;
    if (tw_quantity_round_up(&q, 3, &milli) != 0) {
        return tw_error_set(err, TW_ELIMIT, "%s", err_too_large);
    }
    out->sign = q.neg ? -1 : 1;
    out->milli = milli;
    out->approx = approx_value(&q, exp);
    return 0;
}
