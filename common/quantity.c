/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quantity.c - the scanner and exact conversions of Kubernetes quantities (see quantity.h).
 *
 * How it works: the scanner follows apimachinery's parseQuantityString() step by step (sign,
 * leading zeros, integer digits, fraction digits, suffix letters, an optional exponent sign and
 * digits) and keeps the digits as views, so nothing is rounded or limited while reading. A
 * conversion multiplies the digit string by the binary suffix's 2^n (1 for a decimal one) one
 * digit at a time, from the last digit up, like schoolbook multiplication by a one-word number:
 * the carry stays below 2^n, so it fits in 64 bits. Each product digit lands at a known power of
 * ten (its place, plus the decimal exponent and the caller's scale, minus the fraction length);
 * digits at or above the units place are added into the integer part (more than 19 places up,
 * or a sum past INT64_MAX, is an overflow), a non-zero digit below it only marks the result
 * inexact. So the answer is exact for any number of digits and any exponent, with no
 * allocation, in time linear in the text.
 *
 * Pure; thread-safe.
 */
#include "common/quantity.h"

#include <string.h>

#include "common/error.h"

/* A decimal exponent this far out leaves every digit of any text above 19 places or below 0. */
#define EXP_CLAMP (INT64_C(1) << 40)

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
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

/* quantitySuffixer.interpret(): the base and its power for a suffix text. */
static bool interpret_suffix(const char *s, size_t n, tw_quantity_t *q)
{
    static const struct {
        const char *s;
        int base;
        int exp;
    } table[] = {
        {"", 10, 0},   {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"k", 10, 3},  {"M", 10, 6},
        {"G", 10, 9},  {"T", 10, 12}, {"P", 10, 15}, {"E", 10, 18}, {"Ki", 2, 10}, {"Mi", 2, 20},
        {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strlen(table[i].s) == n && memcmp(table[i].s, s, n) == 0) {
            q->base = table[i].base;
            q->exp = table[i].exp;
            return true;
        }
    }
    if (n > 1 && (s[0] == 'e' || s[0] == 'E')) {
        if (!parse_go_int64(s + 1, n - 1, &q->exp)) {
            return false;
        }
        q->base = 10;
        q->exp_written = true;
        return true;
    }
    return false;
}

int tw_quantity_parse(const char *text, size_t len, tw_quantity_t *out)
{
    const char *s = text;
    size_t n = len, pos = 0;
    memset(out, 0, sizeof(*out));
    out->int_digits = out->frac_digits = s;
    out->base = 10;
    if (pos < n && (s[0] == '-' || s[0] == '+')) {
        out->neg = s[0] == '-';
        pos++;
    }
    while (pos < n && s[pos] == '0') {
        out->has_digits = true;
        pos++;
    }
    out->int_digits = s + pos;
    while (pos < n && is_digit(s[pos])) {
        pos++;
    }
    out->int_len = (size_t)(s + pos - out->int_digits);
    out->frac_digits = s + pos;
    if (pos < n && s[pos] == '.') {
        pos++;
        out->frac_digits = s + pos;
        while (pos < n && is_digit(s[pos])) {
            pos++;
        }
        out->frac_len = (size_t)(s + pos - out->frac_digits);
    }
    out->has_digits = out->has_digits || out->int_len > 0 || out->frac_len > 0;
    const char *suf = s + pos;
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
        return TW_EPARSE;
    }
    if (!interpret_suffix(suf, (size_t)(s + n - suf), out)) {
        return TW_EINVAL;
    }
    return 0;
}

/* Digit i of int_digits ++ frac_digits. */
static unsigned digit_at(const tw_quantity_t *q, size_t i)
{
    char c = i < q->int_len ? q->int_digits[i] : q->frac_digits[i - q->int_len];
    return (unsigned)(c - '0');
}

bool tw_quantity_is_zero(const tw_quantity_t *q)
{
    for (size_t i = 0; i < q->int_len + q->frac_len; i++) {
        if (digit_at(q, i) != 0) {
            return false;
        }
    }
    return true;
}

size_t tw_quantity_sig_digits(const tw_quantity_t *q)
{
    size_t n = q->int_len + q->frac_len;
    while (n > q->int_len && q->frac_digits[n - q->int_len - 1] == '0') {
        n--;
    }
    size_t first = 0;
    while (first < n && digit_at(q, first) == 0) {
        first++;
    }
    return n - first;
}

typedef struct acc {
    uint64_t whole; /* <= INT64_MAX */
    bool inexact;
} acc_t;

/* Adds digit d at power of ten pos. */
static int emit(acc_t *a, unsigned d, int64_t pos)
{
    static const uint64_t pow10[19] = {1,
                                       10,
                                       100,
                                       1000,
                                       10000,
                                       100000,
                                       1000000,
                                       10000000,
                                       100000000,
                                       1000000000,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull};
    if (d == 0) {
        return 0;
    }
    if (pos < 0) {
        a->inexact = true;
        return 0;
    }
    if (pos > 18) {
        return TW_ELIMIT;
    }
    uint64_t add = d * pow10[pos]; /* <= 9 * 10^18 < 2^64 */
    if (add > (uint64_t)INT64_MAX - a->whole) {
        return TW_ELIMIT;
    }
    a->whole += add;
    return 0;
}

int tw_quantity_scaled(const tw_quantity_t *q, int scale10, uint64_t *whole, bool *inexact)
{
    acc_t a = {0, false};
    uint64_t mul = 1;
    int64_t exp10 = 0;
    if (q->base == 2) {
        if (q->exp < 0 || q->exp > 60) {
            return TW_EINVAL;
        }
        mul = UINT64_C(1) << q->exp;
    } else {
        exp10 = q->exp < -EXP_CLAMP ? -EXP_CLAMP : q->exp > EXP_CLAMP ? EXP_CLAMP : q->exp;
    }
    size_t n = q->int_len + q->frac_len;
    int64_t frac = q->frac_len > (size_t)EXP_CLAMP ? EXP_CLAMP : (int64_t)q->frac_len;
    int64_t pos = exp10 - frac + scale10; /* the place of the last digit */
    uint64_t carry = 0;                   /* < mul, so d * mul + carry < 10 * 2^60 */
    for (size_t k = 0; k < n; k++, pos++) {
        carry += digit_at(q, n - 1 - k) * mul;
        int rc = emit(&a, (unsigned)(carry % 10), pos);
        if (rc != 0) {
            return rc;
        }
        carry /= 10;
    }
    for (; carry != 0; pos++) {
        int rc = emit(&a, (unsigned)(carry % 10), pos);
        if (rc != 0) {
            return rc;
        }
        carry /= 10;
    }
    *whole = a.whole;
    *inexact = a.inexact;
    return 0;
}

int tw_quantity_round_up(const tw_quantity_t *q, int scale10, int64_t *out)
{
    uint64_t w;
    bool inexact;
    int rc = tw_quantity_scaled(q, scale10, &w, &inexact);
    if (rc != 0) {
        return rc;
    }
    if (inexact) {
        if (w == (uint64_t)INT64_MAX) {
            return TW_ELIMIT;
        }
        w++;
    }
    *out = q->neg ? -(int64_t)w : (int64_t)w;
    return 0;
}
