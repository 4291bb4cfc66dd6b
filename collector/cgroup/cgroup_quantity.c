/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_quantity.c - Kubernetes resource quantities ("250m", "1.5", "128Mi", "1G", "1e3").
 *
 * How it works: the number is kept exactly as a decimal mantissa (at most 18 significant
 * digits; a "sticky" flag remembers non-zero digits dropped past that), a power of ten (from
 * the fraction, a decimal SI suffix or an exponent) and a power of two (from a binary SI
 * suffix). Value() and MilliValue() are then integer arithmetic in 128 bits, rounded up away
 * from zero like apimachinery's Quantity, so "0.1m" of CPU is 1 milli and "1.5Ki" is 1536.
 * Pure, thread-safe.
 */
#include "cgroup_int.h"

#include <string.h>

#include "common/error.h"

#define MANT_DIGITS_MAX 18

typedef struct qparse {
    tw_cg_quantity_t q;
    bool sticky; /* non-zero digits were dropped */
} qparse_t;

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void add_digit(qparse_t *p, unsigned d, bool fraction, unsigned *ndigits)
{
    if (*ndigits == 0 && d == 0) {
        if (fraction) {
            p->q.exp10--; /* a leading zero after the point */
        }
        return;
    }
    if (*ndigits >= MANT_DIGITS_MAX) {
        if (d != 0) {
            p->sticky = true;
        }
        if (!fraction) {
            p->q.exp10++; /* integer digits past the mantissa still scale it */
        }
        return;
    }
    p->q.mant = p->q.mant * 10 + d;
    (*ndigits)++;
    if (fraction) {
        p->q.exp10--;
    }
}

int tw_cg_quantity_parse(const char *s, size_t len, tw_cg_quantity_t *out)
{
    qparse_t p;
    memset(&p, 0, sizeof(p));
    size_t i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        p.q.neg = s[i] == '-';
        i++;
    }
    unsigned nd = 0;
    size_t digits = 0;
    while (i < len && is_digit(s[i])) {
        add_digit(&p, (unsigned)(s[i] - '0'), false, &nd);
        i++;
        digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && is_digit(s[i])) {
            add_digit(&p, (unsigned)(s[i] - '0'), true, &nd);
            i++;
            digits++;
        }
    }
    if (digits == 0) {
        return TW_EPARSE;
    }
    /* Suffix. */
    size_t rest = len - i;
    const char *suf = s + i;
    if (rest == 0) {
        /* plain number */
    } else if (rest == 2 && suf[1] == 'i') {
        static const char bin[] = "KMGTPE";
        const char *b = memchr(bin, suf[0], 6);
        if (b == NULL) {
            return TW_EPARSE;
        }
        p.q.exp2 = 10 * (int)(b - bin + 1);
    } else if (rest == 1 && strchr("numkMGTPE", suf[0]) != NULL && suf[0] != '\0') {
        static const struct {
            char c;
            int e;
        } dec[] = {{'n', -9}, {'u', -6}, {'m', -3}, {'k', 3}, {'M', 6},
                   {'G', 9},  {'T', 12}, {'P', 15}, {'E', 18}};
        for (size_t k = 0; k < sizeof(dec) / sizeof(dec[0]); k++) {
            if (dec[k].c == suf[0]) {
                p.q.exp10 += dec[k].e;
            }
        }
    } else if (suf[0] == 'e' || suf[0] == 'E') {
        size_t j = 1;
        bool eneg = false;
        if (j < rest && (suf[j] == '+' || suf[j] == '-')) {
            eneg = suf[j] == '-';
            j++;
        }
        if (j >= rest) {
            return TW_EPARSE;
        }
        int e = 0;
        for (; j < rest; j++) {
            if (!is_digit(suf[j]) || e > 100000) {
                return TW_EPARSE;
            }
            e = e * 10 + (suf[j] - '0');
        }
        p.q.exp10 += eneg ? -e : e;
    } else {
        return TW_EPARSE;
    }
    if (p.sticky) {
        /* Keep the rounding-up information: one more digit whose value is tiny but non-zero. */
        if (p.q.mant <= (UINT64_MAX - 1) / 10) {
            p.q.mant = p.q.mant * 10 + 1;
            p.q.exp10--;
        }
    }
    if (p.q.mant == 0) {
        p.q.exp10 = 0;
        p.q.exp2 = 0;
        p.q.neg = false;
    }
    *out = p.q;
    return 0;
}

/* |q| * 10^extra10 rounded up to an integer, saturating at INT64_MAX. */
static int64_t scaled_ceil(const tw_cg_quantity_t *q, int extra10)
{
    __extension__ typedef unsigned __int128 u128;
    const u128 limit = (u128)INT64_MAX;
    if (q->mant == 0) {
        return 0;
    }
    u128 n = (u128)q->mant << q->exp2; /* mant < 2^64, exp2 <= 60: fits */
    int e = q->exp10 + extra10;
    if (e >= 0) {
        for (int k = 0; k < e; k++) {
            if (n > limit) {
                return INT64_MAX;
            }
            n *= 10;
        }
        return n > limit ? INT64_MAX : (int64_t)n;
    }
    if (-e > 38) {
        return 1; /* 0 < x < 1 */
    }
    u128 d = 1;
    for (int k = 0; k < -e; k++) {
        d *= 10;
    }
    u128 r = n / d + (n % d != 0 ? 1 : 0);
    return r > limit ? INT64_MAX : (int64_t)r;
}

int64_t tw_cg_quantity_value(const tw_cg_quantity_t *q)
{
    int64_t v = scaled_ceil(q, 0);
    return q->neg ? -v : v;
}

int64_t tw_cg_quantity_milli(const tw_cg_quantity_t *q)
{
    int64_t v = scaled_ceil(q, 3);
    return q->neg ? -v : v;
}
