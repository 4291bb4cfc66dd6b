/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_ftoa.c - the shortest decimal digits of a float64 that read back as it (what Go's
 * strconv.FormatFloat(v, fmt, -1, 64) prints), fast: every sample value of an API response goes
 * through here, hundreds of thousands per range query.
 *
 * How it works. Three paths, all giving the same digits (the shortest string that reads back
 * as v, and of those the nearest to v, ties to an even last digit):
 *   - integers below 2^53: their own decimal digits (neighbouring doubles are at most 1 apart,
 *     so no shorter decimal reads back as one), trailing zeros dropped;
 *   - other values below 2^54 (binary exponent below zero after Ryu's scaling): Ulf Adams' Ryu
 *     algorithm (PLDI 2018), written from the paper: v's rounding interval is scaled by a
 *     power of ten with one 64x128-bit multiplication against a 125-bit power of five, then
 *     digits are removed while both interval ends still differ. The powers of five are
 *     computed exactly once, on first use, with a small multi-word integer;
 *   - everything else (large values): the reference method, "%.*e" at the shortest precision
 *     that strtod() reads back as v, that precision found by bisection (if p digits read
 *     back, so do p + 1: the nearest (p+1)-digit decimal is at least as near as the nearest
 *     p-digit one).
 * tw_promql_shortest_digits_ref() is the reference method for every value (tests compare).
 *
 * Thread model: pure functions; the table is filled once under pthread_once.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

__extension__ typedef unsigned __int128 u128;

#define POW5_BITS 125  /* bits kept of each power of five */
#define POW5_COUNT 326 /* 5^0 .. 5^325: enough for the smallest subnormal */

/* 5^i scaled to exactly POW5_BITS bits (truncated), as {low, high} 64-bit halves. */
static uint64_t pow5_split[POW5_COUNT][2];
static pthread_once_t pow5_once = PTHREAD_ONCE_INIT;

/* The bit length of 5^e (e == 0: 1), for 0 <= e <= 3528 (Ryu's pow5bits). */
static int pow5bits(int e)
{
    return (int)(((uint32_t)e * 1217359u) >> 19) + 1;
}

/* floor(log10(5^e)) for 0 <= e <= 2620 (Ryu's log10Pow5). */
static uint32_t log10pow5(int e)
{
    return ((uint32_t)e * 732923u) >> 20;
}

static void pow5_init(void)
{
    uint32_t w[32] = {1}; /* 5^i, little-endian 32-bit words; 5^325 has 755 bits */
    size_t nw = 1;
    for (int i = 0; i < POW5_COUNT; i++) {
        if (i > 0) {
            uint64_t carry = 0;
            for (size_t k = 0; k < nw; k++) {
                uint64_t x = (uint64_t)w[k] * 5 + carry;
                w[k] = (uint32_t)x;
                carry = x >> 32;
            }
            if (carry != 0) {
                w[nw++] = (uint32_t)carry;
            }
        }
        int bl = pow5bits(i);
        int shift = bl - POW5_BITS; /* > 0: drop low bits; < 0: append zero bits */
        u128 r = 0;
        for (int b = bl - 1; b >= (shift > 0 ? shift : 0); b--) {
            r = (r << 1) | ((w[b / 32] >> (b % 32)) & 1u);
        }
        if (shift < 0) {
            r <<= -shift;
        }
        pow5_split[i][0] = (uint64_t)r;
        pow5_split[i][1] = (uint64_t)(r >> 64);
    }
}

/* (m * mul) >> j for a 128-bit mul given as {low, high}, 64 <= j < 128. */
static uint64_t mulshift64(uint64_t m, const uint64_t *mul, int j)
{
    u128 b0 = (u128)m * mul[0];
    u128 b2 = (u128)m * mul[1];
    return (uint64_t)(((b0 >> 64) + b2) >> (j - 64));
}

/*
 * Ryu for a positive finite v whose scaled binary exponent is negative: the shortest decimal
 * mantissa and its power of ten (v ~ *out * 10^*e10). False when v is outside this path.
 */
static bool ryu_shortest(double v, uint64_t *out, int *e10_out)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    uint64_t mant = bits & ((UINT64_C(1) << 52) - 1);
    uint32_t iexp = (uint32_t)(bits >> 52) & 0x7ffu;
    int e2;
    uint64_t m2;
    if (iexp == 0) {
        e2 = 1 - 1023 - 52 - 2;
        m2 = mant;
    } else {
        e2 = (int)iexp - 1023 - 52 - 2;
        m2 = (UINT64_C(1) << 52) | mant;
    }
    if (e2 >= 0 || m2 == 0) {
        return false;
    }
    (void)pthread_once(&pow5_once, pow5_init);
    bool accept_bounds = (m2 & 1) == 0;
    uint64_t mv = 4 * m2;
    uint32_t mm_shift = mant != 0 || iexp <= 1;

    /* The interval (vm, vp) around vr, all scaled by 10^-e10: x * 5^i / 2^q. */
    uint32_t q = log10pow5(-e2) - (-e2 > 1);
    int e10 = (int)q + e2;
    int i = -e2 - (int)q;
    int k = pow5bits(i) - POW5_BITS;
    int j = (int)q - k;
    uint64_t vr = mulshift64(mv, pow5_split[i], j);
    uint64_t vp = mulshift64(mv + 2, pow5_split[i], j);
    uint64_t vm = mulshift64(mv - 1 - mm_shift, pow5_split[i], j);
    bool vm_tz = false; /* whether the scaling of vm (vr) dropped only zero digits */
    bool vr_tz = false;
    if (q <= 1) {
        vr_tz = true;
        if (accept_bounds) {
            vm_tz = mm_shift == 1;
        } else {
            vp--;
        }
    } else if (q < 63) {
        vr_tz = (mv & ((UINT64_C(1) << q) - 1)) == 0;
    }

    /* Remove digits while the interval still holds a shorter number. */
    int removed = 0;
    uint64_t output;
    if (vm_tz || vr_tz) {
        uint32_t last = 0;
        while (vp / 10 > vm / 10) {
            vm_tz &= vm % 10 == 0;
            vr_tz &= last == 0;
            last = (uint32_t)(vr % 10);
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed++;
        }
        if (vm_tz) {
            while (vm % 10 == 0) {
                vr_tz &= last == 0;
                last = (uint32_t)(vr % 10);
                vr /= 10;
                vp /= 10;
                vm /= 10;
                removed++;
            }
        }
        if (vr_tz && last == 5 && vr % 2 == 0) {
            last = 4; /* exactly ...50..0: round half to even */
        }
        output = vr + ((vr == vm && (!accept_bounds || !vm_tz)) || last >= 5);
    } else {
        bool round_up = false;
        while (vp / 10 > vm / 10) {
            round_up = vr % 10 >= 5;
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed++;
        }
        output = vr + (vr == vm || round_up);
    }
    *out = output;
    *e10_out = e10 + removed;
    return true;
}

/* Formats v with prec + 1 significant digits ("%.*e") into e; whether it reads back as v. */
static bool e_roundtrips(double v, int prec, char *e, size_t esz)
{
    snprintf(e, esz, "%.*e", prec, v);
    return strtod(e, NULL) == v;
}

/* Digits and exponent of a "%.*e" string. */
static size_t e_digits(const char *e, char *digits, int *exp10)
{
    size_t n = 0;
    const char *p = e;
    for (; *p != 'e' && *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9' && n < 31) {
            digits[n++] = *p;
        }
    }
    *exp10 = *p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0;
    return n;
}

/* The reference method for a positive finite v: returns the digit count. */
static size_t ref_digits(double a, char *digits, int *exp10)
{
    char e[40], best[40];
    int lo = 0, hi = 16, have = -1;       /* precisions below lo fail; hi reads back */
    static const int probes[] = {15, 14}; /* measured values mostly need 16 or 17 digits */
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]) && lo < hi; i++) {
        int p = probes[i] >= hi ? hi - 1 : probes[i];
        if (p < lo) {
            break;
        }
        if (e_roundtrips(a, p, e, sizeof(e))) {
            hi = p;
            memcpy(best, e, sizeof(best));
            have = p;
        } else {
            lo = p + 1;
        }
    }
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (e_roundtrips(a, mid, e, sizeof(e))) {
            hi = mid;
            memcpy(best, e, sizeof(best));
            have = mid;
        } else {
            lo = mid + 1;
        }
    }
    if (have != hi) {
        snprintf(best, sizeof(best), "%.*e", hi, a);
    }
    return e_digits(best, digits, exp10);
}

/* Writes the decimal digits of u (non-zero) into digits; returns their count. */
static size_t u64_digits(uint64_t u, char *digits)
{
    char rev[20];
    size_t k = 0;
    for (; u != 0; u /= 10) {
        rev[k++] = (char)('0' + u % 10);
    }
    size_t n = 0;
    while (k > 0) {
        digits[n++] = rev[--k];
    }
    return n;
}

static size_t trim_zeros(const char *digits, size_t n)
{
    while (n > 1 && digits[n - 1] == '0') {
        n--;
    }
    return n;
}

bool tw_promql_shortest_digits(double v, char *digits, size_t *nd, int *exp10)
{
    bool neg = v < 0;
    double a = fabs(v);
    size_t n;
    uint64_t m;
    int e10;
    if (a < 9007199254740992.0 && a == floor(a)) {
        n = u64_digits((uint64_t)a, digits);
        *exp10 = (int)n - 1;
    } else if (ryu_shortest(a, &m, &e10)) {
        n = u64_digits(m, digits);
        *exp10 = e10 + (int)n - 1;
    } else {
        n = ref_digits(a, digits, exp10);
    }
    *nd = trim_zeros(digits, n);
    return neg;
}

bool tw_promql_shortest_digits_ref(double v, char *digits, size_t *nd, int *exp10)
{
    bool neg = v < 0;
    size_t n = ref_digits(fabs(v), digits, exp10);
    *nd = trim_zeros(digits, n);
    return neg;
}

size_t tw_promql_format_float_chars(double v, char *out)
{
    if (v == 0) {
        if (signbit(v)) {
            memcpy(out, "-0", 2);
            return 2;
        }
        out[0] = '0';
        return 1;
    }
    char digits[32];
    size_t nd = 0;
    int exp10 = 0;
    size_t n = 0;
    if (tw_promql_shortest_digits(v, digits, &nd, &exp10)) {
        out[n++] = '-';
    }
    /* The decimal point goes after digit index exp10. */
    int point = exp10 + 1;
    if (point <= 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -point; i++) {
            out[n++] = '0';
        }
        memcpy(out + n, digits, nd);
        n += nd;
    } else if ((size_t)point >= nd) {
        memcpy(out + n, digits, nd);
        n += nd;
        for (size_t i = nd; i < (size_t)point; i++) {
            out[n++] = '0';
        }
    } else {
        memcpy(out + n, digits, (size_t)point);
        n += (size_t)point;
        out[n++] = '.';
        memcpy(out + n, digits + point, nd - (size_t)point);
        n += nd - (size_t)point;
    }
    return n;
}
