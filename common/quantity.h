/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quantity.h - Kubernetes resource.Quantity strings ("250m", "1.5", "128Mi", "1G", "2e3") read
 * exactly: the scanner of apimachinery's ParseQuantity (parseQuantityString() and the suffix
 * table) and exact integer conversions, shared by the cgroup collector, the HPA, the VPA and the
 * orchestrator drivers, which each keep their own contract (limits, rounding, messages) on top.
 *
 * Pure: no I/O, no allocation, no state. Thread-safe.
 */
#ifndef TW_COMMON_QUANTITY_H
#define TW_COMMON_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A scanned quantity, exact: |value| = int_digits.frac_digits * base^exp. The digit pointers
 * are views into the parsed text and stay valid as long as it does.
 */
typedef struct tw_quantity {
    bool neg;               /* a '-' sign was written (also on a zero) */
    bool has_digits;        /* at least one digit was written ("+", "." and "Ki" have none) */
    const char *int_digits; /* integer digits, leading zeros skipped (int_len may be 0) */
    size_t int_len;
    const char *frac_digits; /* fraction digits as written (frac_len may be 0) */
    size_t frac_len;
    int base;         /* 10 (no suffix, n u m k M G T P E, or an e/E exponent) or 2 (Ki .. Ei) */
    int64_t exp;      /* power of base: -9 .. 18, 10 .. 60, or the exponent as written (int64) */
    bool exp_written; /* the suffix is an e/E exponent */
} tw_quantity_t;

/*
 * Scans text[0..len) with apimachinery's grammar: [+-] digits [. digits] then suffix letters
 * from "eEinumkKMGTP", an optional sign and digits (the regular expression
 * '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'), and interprets the suffix: "", n u m k M G T
 * P E, Ki Mi Gi Ti Pi Ei, or e/E followed by a Go int64 ("e3", "E-2", "e+05"). Like upstream it
 * accepts a quantity without digits ("+", ".", "Ki": zero); callers that want a digit check
 * has_digits. No blanks are skipped. Returns 0; TW_EPARSE when the text does not have the
 * grammar's shape (upstream's ErrFormatWrong); TW_EINVAL when it has the shape but the suffix
 * is none of the above (upstream's ErrSuffix: "1KM", "1ki", "1e", "1e99999999999999999999").
 * On either error the sign and digit fields are still set as scanned (the digits come first),
 * so a caller can rank a limit on the digits before a syntax error.
 */
int tw_quantity_parse(const char *text, size_t len, tw_quantity_t *out);

/* True when every digit of q is zero (or there are none). */
bool tw_quantity_is_zero(const tw_quantity_t *q);

/*
 * The number of significant digits of q: from the first non-zero digit to the last non-zero
 * one (trailing zeros of the fraction do not count; those of the integer part do). 0 for zero.
 */
size_t tw_quantity_sig_digits(const tw_quantity_t *q);

/*
 * |q| * 10^scale10, exactly: *whole gets the integer part and *inexact whether a non-zero
 * fraction is left below it. Any number of digits and any exponent. Returns 0, or TW_ELIMIT when
 * the integer part exceeds INT64_MAX (then *whole and *inexact are unspecified).
 */
int tw_quantity_scaled(const tw_quantity_t *q, int scale10, uint64_t *whole, bool *inexact);

/*
 * q * 10^scale10 rounded away from zero, as Quantity.Value() (scale10 0) and MilliValue()
 * (scale10 3) do. Returns 0, or TW_ELIMIT when the magnitude exceeds INT64_MAX.
 */
int tw_quantity_round_up(const tw_quantity_t *q, int scale10, int64_t *out);

#endif
