/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify_json.c - owned alert copies, Alertmanager fingerprints and ordering, and the two JSON
 * bodies the notifier sends: Prometheus 2.42's POST /api/v2/alerts array and Alertmanager
 * 0.25's webhook message version 4. Bytes follow Go's encoding/json: map keys sorted, "<", ">",
 * "&", U+2028 and U+2029 escaped as \uXXXX, invalid UTF-8 as \ufffd; times as Go prints them
 * (time.Time: RFC 3339 with trailing zeros of the fraction trimmed; strfmt.DateTime: always
 * milliseconds). Pure, thread-safe.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerting/notify/notify_int.h"
#include "common/mem.h"

static tw_label_t *copy_labels(const tw_label_t *l, size_t n, size_t extra)
{
    tw_label_t *out = tw_xcalloc(n + extra + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        out[i].name = tw_xstrdup(l[i].name);
        out[i].value = tw_xstrdup(l[i].value != NULL ? l[i].value : "");
    }
    return out;
}

static void free_labels(tw_label_t *l, size_t n)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free((char *)l[i].name);
        free((char *)l[i].value);
    }
    free(l);
}

void notify_alert_copy(notify_alert_t *out, const tw_alert_t *a, const tw_label_t *ext,
                       size_t n_ext)
{
    memset(out, 0, sizeof(*out));
    out->labels = copy_labels(a->labels, a->n_labels, n_ext);
    out->n_labels = a->n_labels;
    for (size_t i = 0; i < n_ext; i++) {
        const char *v = tw_labels_get(a->labels, a->n_labels, ext[i].name);
        if (v != NULL && v[0] != '\0') {
            continue;
        }
        if (v != NULL) {
            /* Present but empty: replace the value in place. */
            for (size_t j = 0; j < out->n_labels; j++) {
                if (strcmp(out->labels[j].name, ext[i].name) == 0) {
                    free((char *)out->labels[j].value);
                    out->labels[j].value = tw_xstrdup(ext[i].value);
                }
            }
            continue;
        }
        out->labels[out->n_labels].name = tw_xstrdup(ext[i].name);
        out->labels[out->n_labels].value = tw_xstrdup(ext[i].value);
        out->n_labels++;
    }
    tw_labels_sort(out->labels, out->n_labels);
    out->annotations = copy_labels(a->annotations, a->n_annotations, 0);
    out->n_annotations = a->n_annotations;
    tw_labels_sort(out->annotations, out->n_annotations);
    out->starts_at_ms = a->starts_at_ms;
    out->ends_at_ms = a->ends_at_ms;
    out->generator_url = tw_xstrdup(a->generator_url != NULL ? a->generator_url : "");
    out->fp = notify_fingerprint(out->labels, out->n_labels);
}

void notify_alert_fini(notify_alert_t *a)
{
    free_labels(a->labels, a->n_labels);
    free_labels(a->annotations, a->n_annotations);
    free(a->generator_url);
    memset(a, 0, sizeof(*a));
}

uint64_t notify_fingerprint(const tw_label_t *labels, size_t n)
{
    const uint64_t prime = 1099511628211ULL;
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        const char *parts[2] = {labels[i].name, labels[i].value};
        for (int k = 0; k < 2; k++) {
            for (const unsigned char *p = (const unsigned char *)parts[k]; *p != '\0'; p++) {
                h ^= *p;
                h *= prime;
            }
            h ^= 0xff;
            h *= prime;
        }
    }
    return h;
}

bool notify_alert_resolved(const notify_alert_t *a, int64_t now_ms)
{
    return a->ends_at_ms != 0 && a->ends_at_ms <= now_ms;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        return 1;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

int notify_json_string(tw_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = tw_buf_putc(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (rc == 0 && *p != '\0') {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = tw_buf_append(b, e, 2);
            p++;
        } else if (c == '\n') {
            rc = tw_buf_puts(b, "\\n");
            p++;
        } else if (c == '\r') {
            rc = tw_buf_puts(b, "\\r");
            p++;
        } else if (c == '\t') {
            rc = tw_buf_puts(b, "\\t");
            p++;
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc = tw_buf_append(b, e, 6);
            p++;
        } else if (c < 0x80) {
            rc = tw_buf_putc(b, (char)c);
            p++;
        } else {
            size_t n = utf8_len(p);
            if (n == 0) {
                rc = tw_buf_puts(b, "\\ufffd");
                p++;
            } else if (n == 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
                rc = tw_buf_puts(b, p[2] == 0xa8 ? "\\u2028" : "\\u2029");
                p += 3;
            } else {
                rc = tw_buf_append(b, p, n);
                p += n;
            }
        }
    }
    if (rc == 0) {
        rc = tw_buf_putc(b, '"');
    }
    return rc;
}

/* Splits t_ms into broken-down UTC time and milliseconds (floor division). */
static void split_time(int64_t t_ms, struct tm *tm, int *ms)
{
    int64_t sec = t_ms / 1000;
    int64_t rem = t_ms % 1000;
    if (rem < 0) {
        rem += 1000;
        sec--;
    }
    time_t tt = (time_t)sec;
    gmtime_r(&tt, tm);
    *ms = (int)rem;
}

int notify_json_time_go(tw_buf_t *b, int64_t t_ms)
{
    if (t_ms == 0) {
        return tw_buf_puts(b, "\"0001-01-01T00:00:00Z\"");
    }
    struct tm tm;
    int ms;
    split_time(t_ms, &tm, &ms);
    char frac[8] = "";
    if (ms != 0) {
        int digits = 3;
        int v = ms;
        while (v % 10 == 0) {
            v /= 10;
            digits--;
        }
        frac[0] = '.';
        for (int i = digits; i >= 1; i--) {
            frac[i] = (char)('0' + v % 10);
            v /= 10;
        }
        frac[digits + 1] = '\0';
    }
    return tw_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d%sZ\"", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

int notify_json_time_millis(tw_buf_t *b, int64_t t_ms)
{
    if (t_ms == 0) {
        return tw_buf_puts(b, "\"0001-01-01T00:00:00.000Z\"");
    }
    struct tm tm;
    int ms;
    split_time(t_ms, &tm, &ms);
    return tw_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* A label set as a JSON object; labels are sorted by name, as Go sorts map keys. */
static int json_kv(tw_buf_t *b, const tw_label_t *l, size_t n)
{
    int rc = tw_buf_putc(b, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i > 0) {
            rc = tw_buf_putc(b, ',');
        }
        if (rc == 0) {
            rc = notify_json_string(b, l[i].name);
        }
        if (rc == 0) {
            rc = tw_buf_putc(b, ':');
        }
        if (rc == 0) {
            rc = notify_json_string(b, l[i].value);
        }
    }
    if (rc == 0) {
        rc = tw_buf_putc(b, '}');
    }
    return rc;
}

int notify_json_am_alerts(tw_buf_t *b, const notify_alert_t *alerts, size_t n)
{
    /* models.PostableAlert field order; annotations and generatorURL are omitempty. */
    int rc = tw_buf_putc(b, '[');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const notify_alert_t *a = &alerts[i];
        rc = tw_buf_puts(b, i > 0 ? ",{" : "{");
        if (rc == 0 && a->n_annotations > 0) {
            rc = tw_buf_puts(b, "\"annotations\":");
            if (rc == 0) {
                rc = json_kv(b, a->annotations, a->n_annotations);
            }
            if (rc == 0) {
                rc = tw_buf_putc(b, ',');
            }
        }
        if (rc == 0) {
            rc = tw_buf_puts(b, "\"endsAt\":");
        }
        if (rc == 0) {
            rc = notify_json_time_millis(b, a->ends_at_ms);
        }
        if (rc == 0) {
            rc = tw_buf_puts(b, ",\"startsAt\":");
        }
        if (rc == 0) {
            rc = notify_json_time_millis(b, a->starts_at_ms);
        }
        if (rc == 0 && a->generator_url[0] != '\0') {
            rc = tw_buf_puts(b, ",\"generatorURL\":");
            if (rc == 0) {
                rc = notify_json_string(b, a->generator_url);
            }
        }
        if (rc == 0) {
            rc = tw_buf_puts(b, ",\"labels\":");
        }
        if (rc == 0) {
            rc = json_kv(b, a->labels, a->n_labels);
        }
        if (rc == 0) {
            rc = tw_buf_putc(b, '}');
        }
    }
    if (rc == 0) {
        rc = tw_buf_putc(b, ']');
    }
    return rc;
}

/* Go's regexp.QuoteMeta, which template.Data applies to the receiver name. */
static int json_string_quotemeta(tw_buf_t *b, const char *s)
{
    tw_buf_t q;
    tw_buf_init(&q, 0);
    int rc = 0;
    for (const char *p = s; rc == 0 && *p != '\0'; p++) {
        if (strchr("\\.+*?()|[]{}^$", *p) != NULL) {
            rc = tw_buf_putc(&q, '\\');
        }
        if (rc == 0) {
            rc = tw_buf_putc(&q, *p);
        }
    }
    if (rc == 0) {
        rc = notify_json_string(b, q.data != NULL ? q.data : "");
    }
    tw_buf_fini(&q);
    return rc;
}

/* The labels of first that every alert has with the same value (template.Data's common KV). */
static int json_common(tw_buf_t *b, const notify_alert_t *alerts, size_t n, bool annotations)
{
    int rc = tw_buf_putc(b, '{');
    if (n == 0) {
        return rc == 0 ? tw_buf_putc(b, '}') : rc;
    }
    const tw_label_t *l = annotations ? alerts[0].annotations : alerts[0].labels;
    size_t nl = annotations ? alerts[0].n_annotations : alerts[0].n_labels;
    bool first = true;
    for (size_t i = 0; rc == 0 && i < nl; i++) {
        bool common = true;
        for (size_t j = 1; common && j < n; j++) {
            const char *v =
                annotations
                    ? tw_labels_get(alerts[j].annotations, alerts[j].n_annotations, l[i].name)
                    : tw_labels_get(alerts[j].labels, alerts[j].n_labels, l[i].name);
            common = v != NULL && strcmp(v, l[i].value) == 0;
        }
        if (!common) {
            continue;
        }
        if (!first) {
            rc = tw_buf_putc(b, ',');
        }
        first = false;
        if (rc == 0) {
            rc = notify_json_string(b, l[i].name);
        }
        if (rc == 0) {
            rc = tw_buf_putc(b, ':');
        }
        if (rc == 0) {
            rc = notify_json_string(b, l[i].value);
        }
    }
    if (rc == 0) {
        rc = tw_buf_putc(b, '}');
    }
    return rc;
}

int notify_json_webhook(tw_buf_t *b, const notify_webhook_msg_t *m)
{
    bool any_firing = false;
    for (size_t i = 0; i < m->n_alerts; i++) {
        any_firing = any_firing || !notify_alert_resolved(&m->alerts[i], m->now_ms);
    }
    size_t shown = m->n_alerts;
    if (m->max_alerts > 0 && shown > m->max_alerts) {
        shown = (size_t)m->max_alerts;
    }
    int rc = tw_buf_puts(b, "{\"receiver\":");
    if (rc == 0) {
        rc = json_string_quotemeta(b, m->receiver);
    }
    if (rc == 0) {
        rc =
            tw_buf_printf(b, ",\"status\":\"%s\",\"alerts\":[", any_firing ? "firing" : "resolved");
    }
    for (size_t i = 0; rc == 0 && i < shown; i++) {
        const notify_alert_t *a = &m->alerts[i];
        bool resolved = notify_alert_resolved(a, m->now_ms);
        rc = tw_buf_printf(b, "%s{\"status\":\"%s\",\"labels\":", i > 0 ? "," : "",
                           resolved ? "resolved" : "firing");
        if (rc == 0) {
            rc = json_kv(b, a->labels, a->n_labels);
        }
        if (rc == 0) {
            rc = tw_buf_puts(b, ",\"annotations\":");
        }
        if (rc == 0) {
            rc = json_kv(b, a->annotations, a->n_annotations);
        }
        if (rc == 0) {
            rc = tw_buf_puts(b, ",\"startsAt\":");
        }
        if (rc == 0) {
            rc = notify_json_time_go(b, a->starts_at_ms);
        }
        if (rc == 0) {
            rc = tw_buf_puts(b, ",\"endsAt\":");
        }
        /* types.Alerts hides the end of an alert that has not ended yet. */
        if (rc == 0) {
            rc = notify_json_time_go(b, resolved ? a->ends_at_ms : 0);
        }
        if (rc == 0) {
            rc = tw_buf_puts(b, ",\"generatorURL\":");
        }
        if (rc == 0) {
            rc = notify_json_string(b, a->generator_url);
        }
        if (rc == 0) {
            rc = tw_buf_printf(b, ",\"fingerprint\":\"%016llx\"}", (unsigned long long)a->fp);
        }
    }
    if (rc == 0) {
        rc = tw_buf_puts(b, "],\"groupLabels\":");
    }
    if (rc == 0) {
        rc = json_kv(b, m->group_labels, m->n_group_labels);
    }
    if (rc == 0) {
        rc = tw_buf_puts(b, ",\"commonLabels\":");
    }
    if (rc == 0) {
        rc = json_common(b, m->alerts, m->n_alerts, false);
    }
    if (rc == 0) {
        rc = tw_buf_puts(b, ",\"commonAnnotations\":");
    }
    if (rc == 0) {
        rc = json_common(b, m->alerts, m->n_alerts, true);
    }
    if (rc == 0) {
        rc = tw_buf_puts(b, ",\"externalURL\":");
    }
    if (rc == 0) {
        rc = notify_json_string(b, m->external_url != NULL ? m->external_url : "");
    }
    if (rc == 0) {
        rc = tw_buf_puts(b, ",\"version\":\"4\",\"groupKey\":");
    }
    if (rc == 0) {
        rc = notify_json_string(b, m->group_key);
    }
    if (rc == 0) {
        /* json.Encoder.Encode ends the body with a newline. */
        rc = tw_buf_printf(b, ",\"truncatedAlerts\":%zu}\n", m->n_alerts - shown);
    }
    return rc;
}

/* Go's model.LabelSet.Before over sorted arrays: shorter first, then by the union of names. */
static bool labelset_before(const tw_label_t *a, size_t na, const tw_label_t *b, size_t nb)
{
    if (na != nb) {
        return na < nb;
    }
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        const char *ln;
        if (j >= nb || (i < na && strcmp(a[i].name, b[j].name) <= 0)) {
            ln = a[i].name;
        } else {
            ln = b[j].name;
        }
        const char *mv = tw_labels_get(a, na, ln);
        if (mv == NULL) {
            return true;
        }
        const char *ov = tw_labels_get(b, nb, ln);
        if (ov == NULL) {
            return false;
        }
        int c = strcmp(mv, ov);
        if (c != 0) {
            return c < 0;
        }
        /* Step past ln in both arrays (it may be in one or both). */
        if (i < na && strcmp(a[i].name, ln) == 0) {
            i++;
        }
        if (j < nb && strcmp(b[j].name, ln) == 0) {
            j++;
        }
    }
    return false;
}

static bool alert_less(const notify_alert_t *x, const notify_alert_t *y)
{
    static const char *const keys[] = {"job", "instance"};
    for (size_t k = 0; k < 2; k++) {
        const char *xv = tw_labels_get(x->labels, x->n_labels, keys[k]);
        const char *yv = tw_labels_get(y->labels, y->n_labels, keys[k]);
        if (xv == NULL && yv == NULL) {
            continue;
        }
        if (xv == NULL) {
            return false;
        }
        if (yv == NULL) {
            return true;
        }
        int c = strcmp(xv, yv);
        if (c != 0) {
            return c < 0;
        }
    }
    return labelset_before(x->labels, x->n_labels, y->labels, y->n_labels);
}

void notify_alerts_sort(notify_alert_t *a, size_t n)
{
    /* Insertion sort: stable like sort.Stable, and groups are small. */
    for (size_t i = 1; i < n; i++) {
        notify_alert_t t = a[i];
        size_t j = i;
        while (j > 0 && alert_less(&t, &a[j - 1])) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = t;
    }
}
