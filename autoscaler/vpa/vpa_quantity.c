/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_quantity.c - Kubernetes resource.Quantity strings reduced to the integers the VPA's
 * capping code compares: MilliValue() for CPU and Value() for memory, both rounded up like
 * apimachinery does. Exact: the mantissa is a 128-bit integer, so "0.1", "1.5Gi" or "2e3" do
 * not go through floating point.
 *
 * Pure, no state. Thread-safe.
 */
#include <stdio.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"

__extension__ typedef __int128 i128;

__extension__ typedef unsigned __int128 u128;
#define I128_MAX ((i128)((((u128)1) << 127) - 1))
/* Mantissa digits kept exactly; more significant digits than this are refused. */
#define MAX_DIGITS 36

static int bad(tw_error_t *err, const char *text, size_t len)
{
    return tw_error_set(err, TW_EPARSE,
                        "quantity \"%.*s\": quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTPE]*[-+]?[0-9]*)$'",
                        (int)(len > 64 ? 64 : len), text);
}

static bool mul_ok(i128 a, i128 b, i128 *out)
{
    if (a != 0 && (b > I128_MAX / a)) {
        return false;
    }
    *out = a * b;
    return true;
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
    size_t n = len - i, p = 0;
    bool neg = false;
    if (p < n && (s[p] == '+' || s[p] == '-')) {
        neg = s[p] == '-';
        p++;
    }
    i128 mant = 0;
    int digits = 0, frac = 0, exp10 = 0, pow2 = 0;
    bool any = false, dot = false;
    for (; p < n; p++) {
        char ch = s[p];
        if (ch == '.' && !dot) {
            dot = true;
            continue;
        }
        if (ch < '0' || ch > '9') {
            break;
        }
        any = true;
        if (mant == 0 && ch == '0') {
            if (dot) {
                frac++;
            }
            continue;
        }
        if (digits >= MAX_DIGITS) {
            if (ch != '0' || !dot) {
                if (!dot) {
                    /* an integer part too long to keep exactly */
                    return tw_error_set(err, TW_ELIMIT, "quantity \"%.*s\" is too large",
                                        (int)(n > 64 ? 64 : n), s);
                }
                continue; /* fraction digits beyond precision: dropped (rounded up below) */
            }
            continue;
        }
        mant = mant * 10 + (ch - '0');
        digits++;
        if (dot) {
            frac++;
        }
    }
    if (!any) {
        return bad(err, text, len);
    }
    /* suffix */
    const char *suf = s + p;
    size_t sl = n - p;
    if (sl == 0) {
    } else if (sl == 2 && suf[1] == 'i') {
        const char *bin = "KMGTPE";
        const char *at = memchr(bin, suf[0], 6);
        if (at == NULL) {
            return bad(err, text, len);
        }
        pow2 = 10 * (int)(at - bin + 1);
    } else if (sl == 1 && memchr("numkMGTPE", suf[0], 9) != NULL) {
        static const struct {
            char c;
            int e;
        } dec[] = {{'n', -9}, {'u', -6}, {'m', -3}, {'k', 3}, {'M', 6},
                   {'G', 9},  {'T', 12}, {'P', 15}, {'E', 18}};
        for (size_t k = 0; k < sizeof(dec) / sizeof(dec[0]); k++) {
            if (dec[k].c == suf[0]) {
                exp10 = dec[k].e;
            }
        }
    } else if (suf[0] == 'e' || suf[0] == 'E') {
        size_t q = 1;
        bool eneg = false;
        if (q < sl && (suf[q] == '+' || suf[q] == '-')) {
            eneg = suf[q] == '-';
            q++;
        }
        if (q == sl) {
            return bad(err, text, len);
        }
        int e = 0;
        for (; q < sl; q++) {
            if (suf[q] < '0' || suf[q] > '9') {
                return bad(err, text, len);
            }
            if (e < 100000) {
                e = e * 10 + (suf[q] - '0');
            }
        }
        exp10 = eneg ? -e : e;
    } else {
        return tw_error_set(err, TW_EPARSE, "quantity \"%.*s\": unable to parse quantity's suffix",
                            (int)(len > 64 ? 64 : len), text);
    }
    exp10 -= frac;
    if (r == TW_VPA_CPU) {
        exp10 += 3;
    }
    i128 v = 0;
    if (mant == 0) {
        v = 0;
    } else if (exp10 >= 0) {
        v = mant;
        for (int k = 0; k < exp10; k++) {
            if (!mul_ok(v, 10, &v)) {
                goto too_big;
            }
        }
        for (int k = 0; k < pow2; k++) {
            if (!mul_ok(v, 2, &v)) {
                goto too_big;
            }
        }
    } else {
        i128 num = mant;
        for (int k = 0; k < pow2; k++) {
            if (!mul_ok(num, 2, &num)) {
                goto too_big;
            }
        }
        i128 den = 1;
        for (int k = 0; k < -exp10; k++) {
            if (!mul_ok(den, 10, &den)) {
                den = 0; /* more than 38 fraction digits: the value is below one unit */
                break;
            }
        }
        if (den == 0) {
            v = neg ? 0 : 1;
        } else {
            v = num / den;
            if (num % den != 0 && !neg) {
                v += 1; /* round up, like Quantity.Value()/MilliValue() */
            }
        }
    }
    if (v > INT64_MAX) {
        goto too_big;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
too_big:
    return tw_error_set(err, TW_ELIMIT, "quantity \"%.*s\" does not fit in an int64 of %s",
                        (int)(len > 64 ? 64 : len), text, r == TW_VPA_CPU ? "millis" : "units");
}

void tw_vpa_quantity_format(tw_vpa_resource_t r, int64_t amount, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, r == TW_VPA_CPU ? "%lldm" : "%lld", (long long)amount);
}
