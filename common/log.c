/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - logfmt/JSON logger on stderr (see log.h).
 *
 * Each line is formatted into a stack buffer (long lines are truncated with "...") and written
 * with one write(2), so lines from different threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "timeutil.h"

static _Atomic int g_min_level = TW_LOG_INFO;
static _Atomic int g_format = TW_LOG_FMT_LOGFMT;
static _Atomic int g_fd = 2;
static atomic_ulong g_counts[4];

static const char *level_names[] = {"debug", "info", "warn", "error"};

int tw_log_level_parse(const char *s, tw_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (tw_log_level_t)i;
            return 0;
        }
    }
    return TW_EINVAL;
}

int tw_log_format_parse(const char *s, tw_log_format_t *out)
{
    if (strcmp(s, "logfmt") == 0) {
        *out = TW_LOG_FMT_LOGFMT;
        return 0;
    }
    if (strcmp(s, "json") == 0) {
        *out = TW_LOG_FMT_JSON;
        return 0;
    }
    return TW_EINVAL;
}

void tw_log_setup(tw_log_level_t min_level, tw_log_format_t format)
{
    atomic_store(&g_min_level, (int)min_level);
    atomic_store(&g_format, (int)format);
}

void tw_log_set_fd(int fd)
{
    atomic_store(&g_fd, fd);
}

int tw_log_enabled(tw_log_level_t lvl)
{
    return (int)lvl >= atomic_load(&g_min_level);
}

unsigned long tw_log_count(tw_log_level_t lvl)
{
    if ((int)lvl < 0 || (int)lvl > 3) {
        return 0;
    }
    return atomic_load(&g_counts[lvl]);
}

typedef struct line {
    char buf[4096];
    size_t len;
    bool truncated;
} line_t;

static void put(line_t *l, const char *s, size_t n)
{
    /* Keep 5 bytes for "...\n" and the terminator. */
    size_t room = sizeof(l->buf) - 5 - l->len;
    if (n > room) {
        n = room;
        l->truncated = true;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(line_t *l, const char *s)
{
    put(l, s, strlen(s));
}

static bool logfmt_needs_quotes(const char *v)
{
    if (*v == '\0') {
        return true;
    }
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c >= 0x7f) {
            return true;
        }
    }
    return false;
}

/* Writes v quoted and escaped (JSON string rules, which logfmt readers accept too). */
static void put_quoted(line_t *l, const char *v)
{
    put(l, "\"", 1);
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        switch (c) {
        case '"':
            put(l, "\\\"", 2);
            break;
        case '\\':
            put(l, "\\\\", 2);
            break;
        case '\n':
            put(l, "\\n", 2);
            break;
        case '\t':
            put(l, "\\t", 2);
            break;
        case '\r':
            put(l, "\\r", 2);
            break;
        default:
            if (c < 0x20) {
                static const char hex[] = "0123456789abcdef";
                esc[0] = '\\';
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                put(l, esc, 6);
            } else {
                put(l, (const char *)p, 1);
            }
        }
    }
    put(l, "\"", 1);
}

static void put_kv(line_t *l, int fmt, bool first, const char *k, const char *v)
{
    if (v == NULL) {
        v = "";
    }
    if (fmt == TW_LOG_FMT_JSON) {
        if (!first) {
            put(l, ",", 1);
        }
        put_quoted(l, k);
        put(l, ":", 1);
        put_quoted(l, v);
        return;
    }
    if (!first) {
        put(l, " ", 1);
    }
    puts_(l, k);
    put(l, "=", 1);
    if (logfmt_needs_quotes(v)) {
        put_quoted(l, v);
    } else {
        puts_(l, v);
    }
}

void tw_log(tw_log_level_t lvl, const char *component, const char *msg, ...)
{
    if (!tw_log_enabled(lvl)) {
        return;
    }
    int fmt = atomic_load(&g_format);
    line_t l = {.len = 0, .truncated = false};
    char ts[40];
    tw_time_format_rfc3339(tw_now_ms(), ts, sizeof(ts));
    if (fmt == TW_LOG_FMT_JSON) {
        put(&l, "{", 1);
    }
    put_kv(&l, fmt, true, "ts", ts);
    put_kv(&l, fmt, false, "level", level_names[lvl]);
    if (component != NULL) {
        put_kv(&l, fmt, false, "component", component);
    }
    put_kv(&l, fmt, false, "msg", msg);
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL) {
            break;
        }
        const char *v = va_arg(ap, const char *);
        put_kv(&l, fmt, false, k, v);
    }
    va_end(ap);
    if (fmt == TW_LOG_FMT_JSON) {
        put(&l, "}", 1);
    }
    if (l.truncated) {
        memcpy(l.buf + l.len, "...", 3);
        l.len += 3;
    }
    l.buf[l.len++] = '\n';
    atomic_fetch_add(&g_counts[lvl], 1);
    ssize_t off = 0;
    while ((size_t)off < l.len) {
        ssize_t n = write(atomic_load(&g_fd), l.buf + off, l.len - (size_t)off);
        if (n <= 0) {
            break;
        }
        off += n;
    }
}
