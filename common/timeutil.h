/* SPDX-License-Identifier: Apache-2.0 */
/*
 * timeutil.h - clocks and Prometheus-style durations.
 *
 * Logic modules never read a clock (STYLE.md): loops read these and pass the time down.
 * Thread-safe.
 */
#ifndef TW_COMMON_TIMEUTIL_H
#define TW_COMMON_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Wall-clock milliseconds since the Unix epoch. */
int64_t tw_now_ms(void);
/* Monotonic nanoseconds, for durations. */
int64_t tw_mono_ns(void);
/* The CLOCK_MONOTONIC timespec of a tw_mono_ns() time: a deadline for pthread_cond_timedwait on
 * a condition variable whose clock attribute is CLOCK_MONOTONIC. */
struct timespec tw_mono_timespec(int64_t mono_ns);

/*
 * Parses a Prometheus duration ("30s", "1h30m", "15d", "2w", "1y", "500ms", or "0") into
 * milliseconds. Units: ms, s, m, h, d, w, y (365d), each at most once and in that descending
 * order, as Prometheus' model.ParseDuration requires. Returns 0 or TW_EINVAL.
 */
int tw_duration_parse(const char *s, int64_t *out_ms);

/* Formats a duration in Prometheus' form ("1h30m", "0s") into out. Returns out. */
const char *tw_duration_format(int64_t ms, char *out, size_t outsz);

/* Formats t (ms since epoch) as RFC 3339 UTC with milliseconds ("2026-11-26T06:00:00.123Z"). */
const char *tw_time_format_rfc3339(int64_t t_ms, char *out, size_t outsz);

/*
 * Days since 1970-01-01 of the proleptic Gregorian date y-m-d (Howard Hinnant's
 * days_from_civil): negative before 1970. m is 1..12 and d 1..31; d past the month's end counts
 * on into the next month (Feb 30 is Mar 1 or 2), as the algorithm does. Pure.
 */
int64_t tw_days_from_civil(int64_t y, unsigned m, unsigned d);

/*
 * Parses s (NUL-terminated) as Go's time.Parse(time.RFC3339Nano, s) does, into milliseconds
 * since the epoch (the fraction truncated toward the past, like Time.UnixMilli()):
 *   YYYY-MM-DD "T" hh:mm:ss [("." | ",") digits] ("Z" | ("+" | "-") hh:mm)
 * "t" and "z" are accepted for "T" and "Z". The date must exist (Feb 29 only in leap years), the
 * second is 00..59 (no leap second), the offset at most 23:59; any number of fraction digits.
 * The whole string must match. Returns 0 or TW_EPARSE (*out_ms untouched). Pure, thread-safe.
 */
int tw_time_rfc3339_parse(const char *s, int64_t *out_ms);

#endif
