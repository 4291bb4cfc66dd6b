/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_util.c - the pure pieces of the Kubernetes client: Retry-After, the retry backoff, the
 * QPS token bucket, URL escaping, Status errors, MicroTime formatting and the watch stream
 * decoder (newline-delimited {"type":...,"object":...} events).
 *
 * No I/O, no clock (time is a parameter), no logging. Thread-safe (no shared state).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/kube.h"
#include "common/mem.h"
#include "common/timeutil.h"

#define WATCH_LINE_MAX_DEFAULT (16u << 20)

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* ---- Retry-After and backoff ---- */

int tw_kube_retry_after_parse(const char *value, int64_t now_ms, int64_t *delay_ms)
{
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r' ||
                     value[n - 1] == '\n')) {
        n--;
    }
    if (n == 0) {
        return TW_EPARSE;
    }
    if (isdigit((unsigned char)value[0])) {
        int64_t s = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)value[i])) {
                return TW_EPARSE;
            }
            if (s > INT64_MAX / 10000) {
                return TW_EPARSE;
            }
            s = s * 10 + (value[i] - '0');
        }
        *delay_ms = s * 1000;
        return 0;
    }
    /* IMF-fixdate, the form RFC 9110 requires senders to use: "Sun, 06 Nov 1994 08:49:37 GMT". */
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char buf[64];
    if (n >= sizeof(buf) || n != 29) {
        return TW_EPARSE;
    }
    memcpy(buf, value, n);
    buf[n] = '\0';
    int d, y, h, mi, sec;
    if (buf[3] != ',' || buf[4] != ' ' || !digits(buf + 5, 2, &d) || buf[7] != ' ' ||
        buf[11] != ' ' || !digits(buf + 12, 4, &y) || buf[16] != ' ' || !digits(buf + 17, 2, &h) ||
        buf[19] != ':' || !digits(buf + 20, 2, &mi) || buf[22] != ':' ||
        !digits(buf + 23, 2, &sec) || strcmp(buf + 25, " GMT") != 0) {
        return TW_EPARSE;
    }
    int mo = 0;
    for (int i = 0; i < 12; i++) {
        if (memcmp(buf + 8, months + 3 * i, 3) == 0) {
            mo = i + 1;
        }
    }
    if (mo == 0 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return TW_EPARSE;
    }
    int64_t t_ms =
        (tw_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec) *
        1000;
    *delay_ms = t_ms > now_ms ? t_ms - now_ms : 0;
    return 0;
}

int64_t tw_kube_backoff_ms(int attempt, int64_t cap_ms)
{
    int64_t d = 250;
    for (int i = 0; i < attempt && d < cap_ms; i++) {
        d *= 2;
    }
    return d < cap_ms ? d : cap_ms;
}

/* ---- token bucket ---- */

void tw_kube_ratelimit_init(tw_kube_ratelimit_t *rl, double qps, int burst)
{
    memset(rl, 0, sizeof(*rl));
    rl->qps = qps;
    rl->burst = burst < 1 ? 1 : burst;
    rl->tokens = rl->burst;
}

/*
 * How it works: tokens accrue at qps per second up to burst. A reservation takes a token now,
 * possibly driving the count negative; the caller then waits until the deficit has refilled
 * (-tokens / qps seconds). Later reservations queue behind it, so N callers in a row are spaced
 * 1/qps apart once the burst is spent, exactly like rate.Limiter.Wait.
 */
int64_t tw_kube_ratelimit_reserve(tw_kube_ratelimit_t *rl, int64_t now_ns)
{
    if (rl->qps <= 0) {
        return 0;
    }
    if (!rl->started) {
        rl->started = true;
        rl->last_ns = now_ns;
    }
    if (now_ns > rl->last_ns) {
        rl->tokens += (double)(now_ns - rl->last_ns) / 1e9 * rl->qps;
        if (rl->tokens > rl->burst) {
            rl->tokens = rl->burst;
        }
        rl->last_ns = now_ns;
    }
    rl->tokens -= 1.0;
    if (rl->tokens >= 0) {
        return 0;
    }
    return (int64_t)ceil(-rl->tokens / rl->qps * 1e9);
}

/* ---- URL escaping ---- */

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

int tw_kube_query_escape(tw_buf_t *out, const char *s)
{
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && rc == 0; p++) {
        if (unreserved(*p)) {
            rc = tw_buf_putc(out, (char)*p);
        } else if (*p == ' ') {
            rc = tw_buf_putc(out, '+');
        } else {
            rc = tw_buf_printf(out, "%%%02X", *p);
        }
    }
    return rc;
}

int tw_kube_path_escape(tw_buf_t *out, const char *s)
{
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && rc == 0; p++) {
        /* url.PathEscape keeps unreserved and the sub-delims allowed in a segment, except
         * that it escapes '/', ';', ',' and '?'. */
        if (unreserved(*p) || strchr("$&+:=@", *p) != NULL) {
            rc = tw_buf_putc(out, (char)*p);
        } else {
            rc = tw_buf_printf(out, "%%%02X", *p);
        }
    }
    return rc;
}

/* ---- Status errors ---- */

static const char *json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int code_for_status(long st)
{
    switch (st) {
    case 400:
    case 422:
        return TW_EINVAL;
    case 401:
    case 403:
        return TW_EFORBIDDEN;
    case 404:
        return TW_ENOTFOUND;
    case 409:
        return TW_ECONFLICT;
    case 410: /* Gone: an expired continue token; a fresh list works */
    case 429:
        return TW_ETRANSIENT;
    default:
        return st >= 500 ? TW_ETRANSIENT : TW_EIO;
    }
}

int tw_kube_status_error(long http_status, const char *body, size_t len, const char *what,
                         tw_error_t *err)
{
    int code = code_for_status(http_status);
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *kind = json_str(root, "kind");
    const char *msg = json_str(root, "message");
    if (kind != NULL && strcmp(kind, "Status") == 0 && msg != NULL) {
        const char *reason = json_str(root, "reason");
        tw_error_set(err, code, "%s: Error from server (%s): %s", what,
                     reason != NULL && reason[0] != '\0' ? reason : "Unknown", msg);
    } else {
        /* Not a Status: show the start of the body, on one line. */
        char snip[160];
        size_t n = len < sizeof(snip) - 1 ? len : sizeof(snip) - 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)body[i];
            snip[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
        }
        snip[n] = '\0';
        tw_error_set(err, code, "%s: server answered HTTP %ld%s%s", what, http_status,
                     n > 0 ? ": " : "", snip);
    }
    json_decref(root);
    return code;
}

/* ---- MicroTime ---- */

const char *tw_kube_time_format_micro(int64_t t_ms, char *out, size_t outsz)
{
    time_t s = (time_t)(t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000);
    int ms = (int)(t_ms - (int64_t)s * 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03d000Z", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return out;
}

/* ---- watch events ---- */

void tw_kube_event_fini(tw_kube_event_t *ev)
{
    if (ev == NULL) {
        return;
    }
    json_decref(ev->object);
    memset(ev, 0, sizeof(*ev));
}

static const struct {
    const char *name;
    tw_kube_event_type_t type;
} event_types[] = {
    {"ADDED", TW_KUBE_EVENT_ADDED},     {"MODIFIED", TW_KUBE_EVENT_MODIFIED},
    {"DELETED", TW_KUBE_EVENT_DELETED}, {"BOOKMARK", TW_KUBE_EVENT_BOOKMARK},
    {"ERROR", TW_KUBE_EVENT_ERROR},
};

int tw_kube_watch_line_parse(const char *line, size_t len, tw_kube_event_t *ev, tw_error_t *err)
{
    json_error_t je;
    memset(ev, 0, sizeof(*ev));
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    int rc = 0;
    if (root == NULL || !json_is_object(root)) {
        rc = tw_error_set(err, TW_EPARSE, "watch event: not a JSON object (%s)",
                          root == NULL ? je.text : "another JSON value");
        goto out;
    }
    const char *type = json_str(root, "type");
    if (type == NULL) {
        rc = tw_error_set(err, TW_EPARSE, "watch event: no \"type\" string");
        goto out;
    }
    size_t i;
    for (i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++) {
        if (strcmp(type, event_types[i].name) == 0) {
            break;
        }
    }
    if (i == sizeof(event_types) / sizeof(event_types[0])) {
        char t[64];
        tw_strlcpy(t, type, sizeof(t));
        rc = tw_error_set(err, TW_EPARSE,
                          "watch event: unknown type \"%s\" (expected ADDED, MODIFIED, DELETED, "
                          "BOOKMARK or ERROR)",
                          t);
        goto out;
    }
    json_t *obj = json_object_get(root, "object");
    if (!json_is_object(obj)) {
        rc = tw_error_set(err, TW_EPARSE, "watch event %s: \"object\" is not a JSON object", type);
        goto out;
    }
    ev->type = event_types[i].type;
    ev->object = json_incref(obj);
    ev->resource_version = json_str(json_object_get(obj, "metadata"), "resourceVersion");
    if (ev->type == TW_KUBE_EVENT_ERROR) {
        json_t *code = json_object_get(obj, "code");
        ev->code = json_is_integer(code) ? (long)json_integer_value(code) : 0;
        ev->resource_version = NULL;
    }
out:
    json_decref(root);
    return rc;
}

void tw_kube_watch_decoder_init(tw_kube_watch_decoder_t *d, size_t max_line)
{
    tw_buf_init(&d->pending, max_line > 0 ? max_line : WATCH_LINE_MAX_DEFAULT);
}

void tw_kube_watch_decoder_fini(tw_kube_watch_decoder_t *d)
{
    tw_buf_fini(&d->pending);
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
            return false;
        }
    }
    return true;
}

static int emit_line(const char *s, size_t n, int (*on_event)(void *, tw_kube_event_t *), void *ctx,
                     tw_error_t *err)
{
    if (blank(s, n)) {
        return 0;
    }
    tw_kube_event_t ev;
    int rc = tw_kube_watch_line_parse(s, n, &ev, err);
    if (rc != 0) {
        return rc;
    }
    return on_event(ctx, &ev);
}

int tw_kube_watch_decoder_feed(tw_kube_watch_decoder_t *d, const char *data, size_t len,
                               int (*on_event)(void *ctx, tw_kube_event_t *ev), void *ctx,
                               tw_error_t *err)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl != NULL ? (size_t)(nl - data) : len;
        if (tw_buf_append(&d->pending, data, take) != 0) {
            size_t max = d->pending.max;
            tw_buf_reset(&d->pending);
            return tw_error_set(err, TW_ELIMIT, "watch event: a line longer than %zu bytes", max);
        }
        if (nl == NULL) {
            return 0;
        }
        data += take + 1;
        len -= take + 1;
        int rc = emit_line(d->pending.data != NULL ? d->pending.data : "", d->pending.len, on_event,
                           ctx, err);
        tw_buf_reset(&d->pending);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
