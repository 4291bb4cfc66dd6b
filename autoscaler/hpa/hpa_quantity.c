/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hpa_quantity.c - Kubernetes resource.Quantity strings ("500m", "1Gi", "2.5", "1e3") to the
 * milli-units the HPA maths uses (tw_hpa_quantity_parse, declared in hpa.h).
 *
 * How it works: the scanner follows apimachinery's parseQuantityString() step by step (sign,
 * leading zeros, integer digits, fraction digits, suffix letters, an optional exponent sign and
 * digits), so the same strings are accepted and refused with the same two messages. The suffix
 * is then interpreted as a power of ten (decimal SI or an e/E exponent, whose int64 is
 * truncated to int32 as upstream does) or of two (Ki..Ei). Upstream keeps an exact decimal and
 * rounds it up to nano units; MilliValue() then rounds up (away from zero) to milli units.
 * Rounding up to a coarser grid after a finer one is the same as rounding once, so we compute
 * ceil(|value| * 1000) directly and exactly: the digits above the milli position form the
 * integer, any non-zero digit below it adds one. A binary suffix multiplies by up to 2^60, so
 * there the digits are first gathered into a 128-bit integer (at most 18 significant digits).
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

__extension__ typedef unsigned __int128 u128_t;

static const char err_format[] = "quantities must match the regular expression "
                                 "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
static const char err_suffix[] = "unable to parse quantity's suffix";

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The scanned pieces of a quantity string. */
typedef struct qscan {
    bool negative;
    const char *num; /* integer digits without leading zeros (may be empty) */
    size_t num_len;
    const char *den; /* fraction digits (may be empty) */
    size_t den_len;
    const char *suf; /* suffix text */
    size_t suf_len;
} qscan_t;

/* parseQuantityString(). Returns 0, 1 for "all zeros" (value 0, no suffix), or -1. */
static int scan(const char *s, size_t n, qscan_t *q)
{
    size_t pos = 0;
    memset(q, 0, sizeof(*q));
    q->num = q->den = q->suf = s;
    if (pos < n && (s[0] == '-' || s[0] == '+')) {
        q->negative = s[0] == '-';
        pos++;
    }
    while (pos < n && s[pos] == '0') {
        pos++;
    }
    if (pos >= n) {
        return 1;
    }
    q->num = s + pos;
    while (pos < n && is_digit(s[pos])) {
        pos++;
    }
    q->num_len = (size_t)(s + pos - q->num);
    if (pos < n && s[pos] == '.') {
        pos++;
        q->den = s + pos;
        while (pos < n && is_digit(s[pos])) {
            pos++;
        }
        q->den_len = (size_t)(s + pos - q->den);
    }
    q->suf = s + pos;
    while (pos < n && strchr("eEinumkKMGTP", s[pos]) != NULL) {
        pos++;
    }
    if (pos < n && (s[pos] == '-' || s[pos] == '+')) {
        pos++;
    }
    while (pos < n && is_digit(s[pos])) {
        pos++;
    }
    if (pos < n) {
        return -1;
    }
    q->suf_len = (size_t)(s + n - q->suf);
    return 0;
}

/* strconv.ParseInt(s, 10, 64): optional sign, at least one digit, no overflow. */
static bool parse_go_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    if (i == n) {
        return false;
    }
    uint64_t v = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(s[i])) {
            return false;
        }
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (limit - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* quantitySuffixer.interpret(): base 10 or 2 and the exponent. */
static bool interpret_suffix(const char *s, size_t n, int *base, int32_t *exp)
{
    static const struct {
        const char *s;
        int base;
        int32_t exp;
    } table[] = {
        {"", 10, 0},   {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"k", 10, 3},  {"M", 10, 6},
        {"G", 10, 9},  {"T", 10, 12}, {"P", 10, 15}, {"E", 10, 18}, {"Ki", 2, 10}, {"Mi", 2, 20},
        {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strlen(table[i].s) == n && memcmp(table[i].s, s, n) == 0) {
            *base = table[i].base;
            *exp = table[i].exp;
            return true;
        }
    }
    if (n > 1 && (s[0] == 'e' || s[0] == 'E')) {
        int64_t v;
        if (!parse_go_int64(s + 1, n - 1, &v)) {
            return false;
        }
        *base = 10;
        *exp = (int32_t)(uint32_t)(uint64_t)v; /* Go's int32(v) */
        return true;
    }
    return false;
}

/* Digit i of the concatenation num ++ den. */
static int digit_at(const qscan_t *q, size_t i)
{
    return i < q->num_len ? q->num[i] - '0' : q->den[i - q->num_len] - '0';
}

/* ceil(|value| * 1000) for a decimal exponent; false when it exceeds INT64_MAX. */
static bool milli_decimal(const qscan_t *q, int32_t exp10, uint64_t *out)
{
    size_t nd = q->num_len + q->den_len;
    uint64_t m = 0;
    bool frac = false;
    bool any = false;
    int64_t last_p = 0;
    for (size_t i = 0; i < nd; i++) {
        /* the power of ten of digit i, in milli units */
        int64_t p = (int64_t)q->num_len - 1 - (int64_t)i + exp10 + 3;
        int d = digit_at(q, i);
        if (p >= 0) {
            if (m > ((uint64_t)INT64_MAX - (uint64_t)d) / 10) {
                return false;
            }
            m = m * 10 + (uint64_t)d;
            any = true;
            last_p = p;
        } else if (d != 0) {
            frac = true;
        }
    }
    if (any && m != 0) {
        for (int64_t k = 0; k < last_p; k++) {
            if (m > (uint64_t)INT64_MAX / 10) {
                return false;
            }
            m *= 10;
        }
    }
    if (frac) {
        if (m == (uint64_t)INT64_MAX) {
            return false;
        }
        m++;
    }
    *out = m;
    return true;
}

/* ceil(|value| * 1000) for a binary suffix 2^exp2 (no decimal exponent). */
static int milli_binary(const qscan_t *q, int32_t exp2, uint64_t *out)
{
    size_t den_len = q->den_len;
    if (q->num_len > 18) {
        return TW_EINVAL; /* >= 10^18 * 1024 * 1000 */
    }
    while (den_len > 0 && q->den[den_len - 1] == '0') {
        den_len--;
    }
    size_t nd = q->num_len + den_len;
    u128_t n = 0;
    size_t sig = 0;
    for (size_t i = 0; i < nd; i++) {
        int d = digit_at(q, i);
        if (sig > 0 || d != 0) {
            if (++sig > 18) {
                return TW_ELIMIT;
            }
        }
        n = n * 10 + (u128_t)d;
    }
    u128_t x = n << exp2; /* < 10^18 * 2^60 */
    u128_t m;
    if (den_len <= 3) {
        if (x > (u128_t)INT64_MAX) {
            return TW_EINVAL;
        }
        for (size_t k = den_len; k < 3; k++) {
            x *= 10;
        }
        m = x;
    } else if (den_len - 3 > 36) {
        m = x != 0 ? 1 : 0;
    } else {
        u128_t div = 1;
        for (size_t k = 3; k < den_len; k++) {
            div *= 10;
        }
        m = x / div + (x % div != 0 ? 1 : 0);
    }
    if (m > (u128_t)INT64_MAX) {
        return TW_EINVAL;
    }
    *out = (uint64_t)m;
    return 0;
}

/* AsApproximateFloat64(), near enough: strtod of the digits, then the suffix. */
static double approx_value(const qscan_t *q, int base, int32_t exp)
{
    size_t cap = q->num_len + q->den_len + 32;
    char *s = tw_xmalloc(cap);
    size_t k = 0;
    s[k++] = q->negative ? '-' : '+';
    s[k++] = '0';
    memcpy(s + k, q->num, q->num_len);
    k += q->num_len;
    s[k++] = '.';
    memcpy(s + k, q->den, q->den_len);
    k += q->den_len;
    if (base == 10) {
        snprintf(s + k, cap - k, "e%d", (int)exp);
    } else {
        s[k] = '\0';
    }
    double v = strtod(s, NULL);
    free(s);
    return base == 2 ? ldexp(v, exp) : v;
}

int tw_hpa_quantity_parse(const char *text, size_t len, tw_hpa_quantity_t *out, tw_error_t *err)
{
    qscan_t q;
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
    int rc = scan(text, len, &q);
    if (rc < 0) {
        return tw_error_set(err, TW_EPARSE, "%s", err_format);
    }
    if (rc == 1) {
        return 0; /* only zeros after the sign */
    }
    int base = 10;
    int32_t exp = 0;
    if (!interpret_suffix(q.suf, q.suf_len, &base, &exp)) {
        return tw_error_set(err, TW_EPARSE, "%s", err_suffix);
    }
    bool nonzero = false;
    for (size_t i = 0; i < q.num_len + q.den_len && !nonzero; i++) {
        nonzero = digit_at(&q, i) != 0;
    }
    if (!nonzero) {
        return 0;
    }
    uint64_t m = 0;
    if (base == 10) {
        if (!milli_decimal(&q, exp, &m)) {
            return tw_error_set(err, TW_ELIMIT,
                                "quantity too large: its value in milli-units does not fit in "
                                "64 bits");
        }
    } else {
        rc = milli_binary(&q, exp, &m);
        if (rc == TW_ELIMIT) {
            return tw_error_set(err, TW_ELIMIT,
                                "quantity with a binary suffix has more than 18 significant "
                                "digits");
        }
        if (rc != 0) {
            return tw_error_set(err, TW_ELIMIT,
                                "quantity too large: its value in milli-units does not fit in "
                                "64 bits");
        }
    }
    out->sign = q.negative ? -1 : 1;
    out->milli = q.negative ? -(int64_t)m : (int64_t)m;
    out->approx = approx_value(&q, base, exp);
    return 0;
}
