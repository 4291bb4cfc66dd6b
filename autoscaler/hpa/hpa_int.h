/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hpa_int.h - helpers shared by the files of autoscaler/hpa only (never included from another
 * module): the exact integer type used for sums, and the float-to-replica conversions that
 * mirror Go's math.Ceil + int32() without C's undefined out-of-range casts.
 */
#ifndef TW_AUTOSCALER_HPA_INT_H
#define TW_AUTOSCALER_HPA_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "autoscaler/hpa/hpa.h"

/* 128-bit integer for exact sums of int64 milli-values (upstream falls back to big.Int). */
__extension__ typedef __int128 tw_i128_t;

/* (1 - scale_down) <= ratio <= (1 + scale_up); NaN is never within. */
bool tw_hpa_within_tolerance(const tw_hpa_tolerances_t *t, double ratio);

/* int32(math.Ceil(x)), saturating at the int32 range; NaN gives 0. */
int32_t tw_hpa_ceil_to_int32(double x);

#endif
