/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procfs_util.c - the small cursor helpers every /proc parser of the host collector uses: line
 * and field views over a buffer that need not be NUL-terminated (fuzz input is not), strict
 * number parsing without locale or errno, and the family helper that derives a unit from the
 * metric name. Pure; thread-safe.
 */
#include "procfs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

tw_mfamily_t *tw_procfs_family(tw_mset_t *out, const char *name, tw_metric_type_t type,
                               const char *help)
{
    size_t n = strlen(name);
    if (ends_with(name, n, "_total")) {
        n -= strlen("_total");
    }
    const char *unit = NULL;
    if (ends_with(name, n, "_seconds")) {
        unit = "seconds";
    } else if (ends_with(name, n, "_bytes")) {
        unit = "bytes";
    }
    return tw_mset_family(out, name, type, help, unit);
}

bool tw_procfs_next_line(const char *buf, size_t len, size_t *pos, const char **line,
                         size_t *line_len)
{
    if (*pos >= len) {
        return false;
    }
    const char *start = buf + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    size_t n = nl != NULL ? (size_t)(nl - start) : len - *pos;
    *line = start;
    *line_len = n;
    *pos += n + (nl != NULL ? 1 : 0);
    return true;
}

/* NUL separates too: no field (and so no label value) may hold one, whatever the input. */
static bool is_space(char c)
{
    return c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

size_t tw_procfs_fields(const char *line, size_t len, const char **f, size_t *flen, size_t max)
{
    size_t count = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(line[i])) {
            i++;
        }
        if (i >= len) {
            break;
        }
        size_t start = i;
        while (i < len && !is_space(line[i])) {
            i++;
        }
        if (count < max) {
            f[count] = line + start;
            flen[count] = i - start;
        }
        count++;
    }
    return count;
}

bool tw_procfs_parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool tw_procfs_parse_i64(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t v;
    if (!tw_procfs_parse_u64(s + (neg ? 1 : 0), n - (neg ? 1 : 0), &v)) {
        return false;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) {
            return false;
        }
        *out = (int64_t)v;
    }
    return true;
}

bool tw_procfs_parse_double(const char *s, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp)) {
        return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end = NULL;
    double v = strtod(tmp, &end);
    if (end != tmp + n) {
        return false;
    }
    *out = v;
    return true;
}

int tw_procfs_bad_line(tw_error_t *err, int lineno, const char *what, const char *text,
                       size_t text_len)
{
    if (err != NULL && err->code == 0) {
        int shown = text_len > 80 ? 80 : (int)text_len;
        tw_error_set(err, TW_EPARSE, "line %d: %s: \"%.*s\"", lineno, what, shown, text);
        err->line = lineno;
    }
    return TW_EPARSE;
}
