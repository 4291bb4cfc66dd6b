/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_quantity.c - Kubernetes resource quantities ("250m", "1.5", "128Mi", "1G", "1e3") in the
 * pod specs the collector reads: the common scanner (common/quantity.h) with this module's
 * contract on top: a digit is required, an exponent is at most 1000009 in size, and Value() and
 * MilliValue() are exact, rounded up away from zero like apimachinery's Quantity ("0.1m" of CPU
 * is 1 milli, "1.5Ki" is 1536) and saturating at +-(2^63-1).
 * Pure, thread-safe.
 */
#include "cgroup_int.h"

#include "common/error.h"
#include "common/quantity.h"

/* The largest exponent written ("1e1000009") this parser has always accepted. */
#define EXP_WRITTEN_MAX 1000009

/* q * 10^scale10 rounded away from zero, saturating at +-INT64_MAX. */
static int64_t saturated(const tw_quantity_t *q, int scale10)
{
    int64_t v;
    if (tw_quantity_round_up(q, scale10, &v) != 0) {
        return q->neg ? -INT64_MAX : INT64_MAX;
    }
    return v;
}

int tw_cg_quantity_parse(const char *s, size_t len, tw_cg_quantity_t *out)
{
    tw_quantity_t q;
    if (tw_quantity_parse(s, len, &q) != 0 || !q.has_digits ||
        (q.exp_written && (q.exp > EXP_WRITTEN_MAX || q.exp < -EXP_WRITTEN_MAX))) {
        return TW_EPARSE;
    }
    out->value = saturated(&q, 0);
    out->milli = saturated(&q, 3);
    return 0;
}

int64_t tw_cg_quantity_value(const tw_cg_quantity_t *q)
{
    return q->value;
}

int64_t tw_cg_quantity_milli(const tw_cg_quantity_t *q)
{
    return q->milli;
}
