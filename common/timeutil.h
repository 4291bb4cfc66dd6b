/* SPDX-License-Identifier: Apache-2.0 */
/*
 * timeutil.h - clocks and Prometheus-style durations.
 *
 * Logic modules never read a clock (STYLE.md): loops read these and pass the time down.
 * Thread-safe.
 */
#ifndef TW_COMMON_TIMEUTIL_H
#define TW_COMMON_TIMEUTIL_H

#include <stdint.h>
#include <stddef.h>

/* Wall-clock milliseconds since the Unix epoch. */
int64_t tw_now_ms(void);
/* Monotonic nanoseconds, for durations. */
int64_t tw_mono_ns(void);

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

#endif
