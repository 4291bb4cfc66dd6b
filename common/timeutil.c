/* SPDX-License-Identifier: Apache-2.0 */
/* timeutil.c - clocks, Prometheus durations and RFC 3339 times (see timeutil.h). Thread-safe. */
#include "timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"

int64_t tw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tw_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct timespec tw_mono_timespec(int64_t mono_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(mono_ns / 1000000000),
                          .tv_nsec = (long)(mono_ns % 1000000000)};
    return ts;
}

typedef struct unit {
    const char *name;
    int64_t ms;
} unit_t;

/* Descending order, as a duration must list them. */
static const unit_t units[] = {
    {"y", 365LL * 24 * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

int tw_duration_parse(const char *s, int64_t *out_ms)
{
    if (s == NULL || *s == '\0') {
        return TW_EINVAL;
    }
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return 0;
    }
    const char *p = s;
    int64_t total = 0;
    size_t next_unit = 0; /* units must appear in descending order, each once */
    while (*p != '\0') {
        if (*p < '0' || *p > '9') {
            return TW_EINVAL;
        }
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > INT64_MAX / 10 - 10) {
                return TW_EINVAL;
            }
            n = n * 10 + (*p - '0');
            p++;
        }
        size_t u;
        for (u = next_unit; u < NUNITS; u++) {
            size_t len = strlen(units[u].name);
            /* "m" must not match the start of "ms". */
            if (strncmp(p, units[u].name, len) == 0 &&
                !(units[u].name[0] == 'm' && len == 1 && p[1] == 's')) {
                break;
            }
        }
        if (u == NUNITS) {
            return TW_EINVAL;
        }
        if (n != 0 && units[u].ms > INT64_MAX / n) {
            return TW_EINVAL;
        }
        if (total > INT64_MAX - n * units[u].ms) {
            return TW_EINVAL;
        }
        total += n * units[u].ms;
        p += strlen(units[u].name);
        next_unit = u + 1;
    }
    *out_ms = total;
    return 0;
}

const char *tw_duration_format(int64_t ms, char *out, size_t outsz)
{
    if (outsz == 0) {
        return out;
    }
    if (ms == 0) {
        snprintf(out, outsz, "0s");
        return out;
    }
    size_t len = 0;
    out[0] = '\0';
    if (ms < 0) {
        len += (size_t)snprintf(out + len, outsz - len, "-");
        ms = -ms;
    }
    for (size_t u = 0; u < NUNITS && len < outsz; u++) {
        if (ms >= units[u].ms) {
            int64_t n = ms / units[u].ms;
            ms %= units[u].ms;
            len += (size_t)snprintf(out + len, outsz - len, "%lld%s", (long long)n, units[u].name);
        }
    }
    return out;
}

const char *tw_time_format_rfc3339(int64_t t_ms, char *out, size_t outsz)
{
    time_t sec = (time_t)(t_ms / 1000);
    int ms = (int)(t_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        sec -= 1;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return out;
}

int64_t tw_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm: years start in March so the leap day is the year's last. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly n decimal digits at *p and moves past them; false (and *p kept) otherwise. */
static bool digits_n(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

int tw_time_rfc3339_parse(const char *s, int64_t *out_ms)
{
    const char *p = s;
    int y, mo, d, h, mi, se, oh = 0, om = 0;
    if (!digits_n(&p, 4, &y) || *p++ != '-' || !digits_n(&p, 2, &mo) || *p++ != '-' ||
        !digits_n(&p, 2, &d) || (*p != 'T' && *p != 't')) {
        return TW_EPARSE;
    }
    p++;
    if (!digits_n(&p, 2, &h) || *p++ != ':' || !digits_n(&p, 2, &mi) || *p++ != ':' ||
        !digits_n(&p, 2, &se)) {
        return TW_EPARSE;
    }
    int64_t frac_ms = 0;
    if (*p == '.' || *p == ',') {
        p++;
        int nd = 0;
        for (; *p >= '0' && *p <= '9'; p++, nd++) {
            if (nd < 3) {
                frac_ms = frac_ms * 10 + (*p - '0');
            }
        }
        if (nd == 0) {
            return TW_EPARSE;
        }
        for (; nd < 3; nd++) {
            frac_ms *= 10;
        }
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (!digits_n(&p, 2, &oh) || *p++ != ':' || !digits_n(&p, 2, &om)) {
            return TW_EPARSE;
        }
    } else {
        return TW_EPARSE;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || se > 59 || oh > 23 || om > 59) {
        return TW_EPARSE;
    }
    int64_t secs =
        tw_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
    secs -= sign * (oh * 3600 + om * 60);
    *out_ms = secs * 1000 + frac_ms;
    return 0;
}
