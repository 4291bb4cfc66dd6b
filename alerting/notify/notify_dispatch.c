/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify_dispatch.c - one webhook receiver's aggregation groups and notification log, as
 * Alertmanager 0.25's dispatcher (dispatch/dispatch.go) and dedup stage (notify/notify.go)
 * behave for a single route. Pure: time is a parameter, no I/O, no logging.
 *
 * How it works:
 *  - An alert belongs to the group named by its group_by labels ("..." = all labels); the group
 *    key is `{}:{name="value", ...}` as Alertmanager prints it for the root route.
 *  - A new group flushes group_wait after its creation, or at once when an inserted alert
 *    started more than group_wait ago and the group has never flushed. After each flush the
 *    next one is group_interval later.
 *  - A flush takes the group's alerts (ordered like types.AlertSlice), splits them into firing
 *    and resolved (endsAt set and not after now) and asks the notification log whether the
 *    receiver needs to hear about it (DedupStage.needsUpdate): never notified and something
 *    fires; a firing alert it has not been told about; everything resolved after it was told
 *    something fired; with send_resolved, a resolution it has not been told about; or
 *    repeat_interval passed since the last notification.
 *  - Without send_resolved only firing alerts are sent, and a notification of resolved alerts
 *    only is logged but not sent (RetryStage).
 *  - Once a notification is accepted by emit (the outbox made it durable) the log entry records
 *    the firing and resolved fingerprints and the time; resolved alerts leave the group, and an
 *    empty group is removed. A refused notification changes nothing: the next flush retries.
 *  - Log entries outlive their groups while something was notified as firing (so a restart or
 *    a re-created group does not notify twice); they expire after 120 h like Alertmanager's.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "alerting/notify/notify_int.h"
#include "common/mem.h"

#define NFLOG_RETENTION_MS (120LL * 3600 * 1000)
#define NFLOG_MAGIC 0x4c4e5754u /* "TWNL" */

typedef struct nflog_entry {
    char *key;
    int64_t ts_ms;
    uint64_t *firing; /* sorted */
    size_t n_firing;
    uint64_t *resolved; /* sorted */
    size_t n_resolved;
} nflog_entry_t;

typedef struct group {
    char *key;
    tw_label_t *glabels; /* sorted, owned */
    size_t n_glabels;
    notify_alert_t *alerts;
    size_t n, cap;
    int64_t next_ms;
    bool has_flushed;
} group_t;

struct notify_dispatch {
    const tw_notify_webhook_config_t *cfg;
    char *external_url;
    group_t **groups;
    size_t n_groups, cap_groups;
    nflog_entry_t *log;
    size_t n_log, cap_log;
    bool dirty;
};

notify_dispatch_t *notify_dispatch_new(const tw_notify_webhook_config_t *cfg,
                                       const char *external_url)
{
    notify_dispatch_t *d = tw_xcalloc(1, sizeof(*d));
    d->cfg = cfg;
    d->external_url = tw_xstrdup(external_url != NULL ? external_url : "");
    return d;
}

static void group_free(group_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        notify_alert_fini(&g->alerts[i]);
    }
    for (size_t i = 0; i < g->n_glabels; i++) {
        free((char *)g->glabels[i].name);
        free((char *)g->glabels[i].value);
    }
    free(g->glabels);
    free(g->alerts);
    free(g->key);
    free(g);
}

static void entry_fini(nflog_entry_t *e)
{
    free(e->key);
    free(e->firing);
    free(e->resolved);
    memset(e, 0, sizeof(*e));
}

void notify_dispatch_free(notify_dispatch_t *d)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->n_groups; i++) {
        group_free(d->groups[i]);
    }
    for (size_t i = 0; i < d->n_log; i++) {
        entry_fini(&d->log[i]);
    }
    free(d->groups);
    free(d->log);
    free(d->external_url);
    free(d);
}

/* Go's %q for a label value: quotes, backslash escapes, \xNN for other control bytes. */
static void go_quote(tw_buf_t *b, const char *s)
{
    tw_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            tw_buf_putc(b, '\\');
            tw_buf_putc(b, (char)*p);
        } else if (*p == '\n') {
            tw_buf_puts(b, "\\n");
        } else if (*p == '\t') {
            tw_buf_puts(b, "\\t");
        } else if (*p == '\r') {
            tw_buf_puts(b, "\\r");
        } else if (*p < 0x20 || *p == 0x7f) {
            tw_buf_printf(b, "\\x%02x", *p);
        } else {
            tw_buf_putc(b, (char)*p);
        }
    }
    tw_buf_putc(b, '"');
}

static group_t *group_find(notify_dispatch_t *d, const char *key)
{
    for (size_t i = 0; i < d->n_groups; i++) {
        if (strcmp(d->groups[i]->key, key) == 0) {
            return d->groups[i];
        }
    }
    return NULL;
}

static nflog_entry_t *log_find(notify_dispatch_t *d, const char *key)
{
    for (size_t i = 0; i < d->n_log; i++) {
        if (strcmp(d->log[i].key, key) == 0) {
            return &d->log[i];
        }
    }
    return NULL;
}

static void log_remove(notify_dispatch_t *d, nflog_entry_t *e)
{
    size_t i = (size_t)(e - d->log);
    entry_fini(e);
    memmove(&d->log[i], &d->log[i + 1], (d->n_log - i - 1) * sizeof(*d->log));
    d->n_log--;
    d->dirty = true;
}

void notify_dispatch_insert(notify_dispatch_t *d, const notify_alert_t *a, int64_t now_ms)
{
    const tw_notify_webhook_config_t *c = d->cfg;
    tw_label_t *gl = tw_xcalloc(a->n_labels + 1, sizeof(*gl));
    size_t ngl = 0;
    for (size_t i = 0; i < a->n_labels; i++) {
        bool take = c->group_by_all;
        for (size_t k = 0; !take && k < c->n_group_by; k++) {
            take = strcmp(c->group_by[k], a->labels[i].name) == 0;
        }
        if (take) {
            gl[ngl++] = a->labels[i];
        }
    }
    tw_buf_t key;
    tw_buf_init(&key, 0);
    tw_buf_puts(&key, "{}:{");
    for (size_t i = 0; i < ngl; i++) {
        tw_buf_printf(&key, "%s%s=", i > 0 ? ", " : "", gl[i].name);
        go_quote(&key, gl[i].value);
    }
    tw_buf_putc(&key, '}');

    group_t *g = group_find(d, key.data);
    if (g == NULL) {
        g = tw_xcalloc(1, sizeof(*g));
        g->key = tw_buf_steal(&key, NULL);
        g->glabels = tw_xcalloc(ngl + 1, sizeof(*g->glabels));
        for (size_t i = 0; i < ngl; i++) {
            g->glabels[i].name = tw_xstrdup(gl[i].name);
            g->glabels[i].value = tw_xstrdup(gl[i].value);
        }
        g->n_glabels = ngl;
        g->next_ms = now_ms + c->group_wait_ms;
        tw_grow((void **)&d->groups, &d->cap_groups, d->n_groups + 1, sizeof(*d->groups));
        d->groups[d->n_groups++] = g;
    }
    tw_buf_fini(&key);
    free(gl);

    /* Same fingerprint: the newer alert wins, keeping the earliest start (types.Alert.Merge). */
    tw_alert_t view = {a->labels,       a->n_labels,   a->annotations,  a->n_annotations,
                       a->starts_at_ms, a->ends_at_ms, a->generator_url};
    notify_alert_t copy;
    notify_alert_copy(&copy, &view, NULL, 0);
    if (copy.starts_at_ms == 0) {
        copy.starts_at_ms = now_ms; /* as Alertmanager's API does for a missing startsAt */
    }
    size_t i;
    for (i = 0; i < g->n; i++) {
        if (g->alerts[i].fp == a->fp &&
            tw_labels_compare(g->alerts[i].labels, g->alerts[i].n_labels, a->labels, a->n_labels) ==
                0) {
            break;
        }
    }
    if (i < g->n) {
        int64_t old_start = g->alerts[i].starts_at_ms;
        if (old_start != 0 && (copy.starts_at_ms == 0 || old_start < copy.starts_at_ms)) {
            copy.starts_at_ms = old_start;
        }
        notify_alert_fini(&g->alerts[i]);
        g->alerts[i] = copy;
    } else {
        tw_grow((void **)&g->alerts, &g->cap, g->n + 1, sizeof(*g->alerts));
        g->alerts[g->n++] = copy;
    }
    if (!g->has_flushed && copy.starts_at_ms + c->group_wait_ms < now_ms && g->next_ms > now_ms) {
        g->next_ms = now_ms;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Whether every element of sub[0..ns) is in the sorted set[0..n). */
static bool is_subset(const uint64_t *sub, size_t ns, const uint64_t *set, size_t n)
{
    for (size_t i = 0; i < ns; i++) {
        if (bsearch(&sub[i], set, n, sizeof(*set), cmp_u64) == NULL) {
            return false;
        }
    }
    return true;
}

static bool needs_update(const nflog_entry_t *e, const uint64_t *firing, size_t nf,
                         const uint64_t *resolved, size_t nr, bool send_resolved, int64_t repeat_ms,
                         int64_t now_ms)
{
    if (e == NULL) {
        return nf > 0;
    }
    if (!is_subset(firing, nf, e->firing, e->n_firing)) {
        return true;
    }
    if (nf == 0) {
        return e->n_firing > 0;
    }
    if (send_resolved && !is_subset(resolved, nr, e->resolved, e->n_resolved)) {
        return true;
    }
    return e->ts_ms < now_ms - repeat_ms;
}

/* Flushes g; returns 1 when a notification was emitted, -1 when emit refused it. */
static int group_flush(notify_dispatch_t *d, group_t *g, int64_t now_ms, notify_emit_fn emit,
                       void *ctx)
{
    const tw_notify_webhook_config_t *c = d->cfg;
    g->next_ms = now_ms + c->group_interval_ms;
    g->has_flushed = true;

    notify_alert_t *snap = tw_xcalloc(g->n + 1, sizeof(*snap));
    memcpy(snap, g->alerts, g->n * sizeof(*snap)); /* shallow: strings stay owned by g */
    notify_alerts_sort(snap, g->n);
    uint64_t *firing = tw_xcalloc(g->n + 1, sizeof(*firing));
    uint64_t *resolved = tw_xcalloc(g->n + 1, sizeof(*resolved));
    notify_alert_t *send = tw_xcalloc(g->n + 1, sizeof(*send));
    size_t nf = 0, nr = 0, ns = 0;
    for (size_t i = 0; i < g->n; i++) {
        bool res = notify_alert_resolved(&snap[i], now_ms);
        if (res) {
            resolved[nr++] = snap[i].fp;
        } else {
            firing[nf++] = snap[i].fp;
        }
        if (!res || c->send_resolved) {
            send[ns++] = snap[i];
        }
    }
    qsort(firing, nf, sizeof(*firing), cmp_u64);
    qsort(resolved, nr, sizeof(*resolved), cmp_u64);

    int result = 0;
    nflog_entry_t *e = log_find(d, g->key);
    if (needs_update(e, firing, nf, resolved, nr, c->send_resolved, c->repeat_interval_ms,
                     now_ms)) {
        if (c->send_resolved || nf > 0) {
            notify_webhook_msg_t m = {
                .receiver = c->name,
                .group_key = g->key,
                .group_labels = g->glabels,
                .n_group_labels = g->n_glabels,
                .alerts = send,
                .n_alerts = ns,
                .max_alerts = c->max_alerts,
                .external_url = d->external_url,
                .now_ms = now_ms,
            };
            tw_buf_t body;
            tw_buf_init(&body, 0);
            notify_json_webhook(&body, &m);
            int rc = emit(ctx, g->key, body.data, body.len);
            tw_buf_fini(&body);
            if (rc != 0) {
                result = -1;
                goto out;
            }
            result = 1;
        }
        if (e == NULL) {
            tw_grow((void **)&d->log, &d->cap_log, d->n_log + 1, sizeof(*d->log));
            e = &d->log[d->n_log++];
            memset(e, 0, sizeof(*e));
            e->key = tw_xstrdup(g->key);
        }
        free(e->firing);
        free(e->resolved);
        e->firing = tw_xcalloc(nf + 1, sizeof(*firing));
        memcpy(e->firing, firing, nf * sizeof(*firing));
        e->n_firing = nf;
        e->resolved = tw_xcalloc(nr + 1, sizeof(*resolved));
        memcpy(e->resolved, resolved, nr * sizeof(*resolved));
        e->n_resolved = nr;
        e->ts_ms = now_ms;
        d->dirty = true;
    }
    /* The receiver has heard (or need not hear) about the resolved alerts: drop them. */
    size_t w = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (notify_alert_resolved(&g->alerts[i], now_ms)) {
            notify_alert_fini(&g->alerts[i]);
        } else {
            g->alerts[w++] = g->alerts[i];
        }
    }
    g->n = w;
out:
    free(snap);
    free(firing);
    free(resolved);
    free(send);
    return result;
}

size_t notify_dispatch_flush(notify_dispatch_t *d, int64_t now_ms, notify_emit_fn emit, void *ctx)
{
    size_t emitted = 0;
    for (size_t i = 0; i < d->n_groups;) {
        group_t *g = d->groups[i];
        if (g->next_ms > now_ms) {
            i++;
            continue;
        }
        int rc = group_flush(d, g, now_ms, emit, ctx);
        if (rc > 0) {
            emitted++;
        }
        if (g->n == 0) {
            nflog_entry_t *e = log_find(d, g->key);
            if (e != NULL && e->n_firing == 0) {
                log_remove(d, e); /* same verdicts as having no entry at all */
            }
            group_free(g);
            memmove(&d->groups[i], &d->groups[i + 1], (d->n_groups - i - 1) * sizeof(*d->groups));
            d->n_groups--;
            continue;
        }
        i++;
    }
    for (size_t i = 0; i < d->n_log;) {
        if (d->log[i].ts_ms < now_ms - NFLOG_RETENTION_MS && group_find(d, d->log[i].key) == NULL) {
            log_remove(d, &d->log[i]);
            continue;
        }
        i++;
    }
    return emitted;
}

int64_t notify_dispatch_next_ms(const notify_dispatch_t *d)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < d->n_groups; i++) {
        if (d->groups[i]->next_ms < next) {
            next = d->groups[i]->next_ms;
        }
    }
    return next;
}

size_t notify_dispatch_groups(const notify_dispatch_t *d)
{
    return d->n_groups;
}

bool notify_dispatch_nflog_dirty(notify_dispatch_t *d)
{
    bool was = d->dirty;
    d->dirty = false;
    return was;
}

static void put_u32(tw_buf_t *b, uint32_t v)
{
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    tw_buf_append(b, p, 4);
}

static void put_u64(tw_buf_t *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/*
 * nflog file: u32 magic | u32 count | entries | u32 crc32(everything before), each entry
 * u32 key_len | key | i64 ts_ms | u32 n_firing | u64... | u32 n_resolved | u64...
 */
int notify_dispatch_nflog_encode(const notify_dispatch_t *d, tw_buf_t *out)
{
    tw_buf_reset(out);
    put_u32(out, NFLOG_MAGIC);
    put_u32(out, (uint32_t)d->n_log);
    for (size_t i = 0; i < d->n_log; i++) {
        const nflog_entry_t *e = &d->log[i];
        size_t kl = strlen(e->key);
        put_u32(out, (uint32_t)kl);
        tw_buf_append(out, e->key, kl);
        put_u64(out, (uint64_t)e->ts_ms);
        put_u32(out, (uint32_t)e->n_firing);
        for (size_t k = 0; k < e->n_firing; k++) {
            put_u64(out, e->firing[k]);
        }
        put_u32(out, (uint32_t)e->n_resolved);
        for (size_t k = 0; k < e->n_resolved; k++) {
            put_u64(out, e->resolved[k]);
        }
    }
    put_u32(out, (uint32_t)crc32(0, (const Bytef *)out->data, (uInt)out->len));
    return 0;
}

static int read_set(const uint8_t *p, size_t len, size_t *off, uint64_t **out, size_t *n)
{
    if (len - *off < 4) {
        return TW_EPARSE;
    }
    uint32_t cnt = get_u32(p + *off);
    *off += 4;
    if (cnt > (len - *off) / 8) {
        return TW_EPARSE;
    }
    *out = tw_xcalloc(cnt + 1, sizeof(**out));
    for (uint32_t k = 0; k < cnt; k++) {
        (*out)[k] = get_u64(p + *off);
        *off += 8;
    }
    qsort(*out, cnt, sizeof(**out), cmp_u64);
    *n = cnt;
    return 0;
}

int notify_dispatch_nflog_decode(notify_dispatch_t *d, const uint8_t *p, size_t len,
                                 size_t *entries)
{
    *entries = 0;
    if (len < 12 || get_u32(p) != NFLOG_MAGIC ||
        get_u32(p + len - 4) != (uint32_t)crc32(0, p, (uInt)(len - 4))) {
        return TW_EPARSE;
    }
    len -= 4;
    uint32_t count = get_u32(p + 4);
    size_t off = 8;
    for (uint32_t i = 0; i < count; i++) {
        nflog_entry_t e = {0};
        if (len - off < 4) {
            return TW_EPARSE;
        }
        uint32_t kl = get_u32(p + off);
        off += 4;
        if (kl > len - off || len - off - kl < 8) {
            return TW_EPARSE;
        }
        e.key = tw_xstrndup((const char *)p + off, kl);
        off += kl;
        e.ts_ms = (int64_t)get_u64(p + off);
        off += 8;
        if (read_set(p, len, &off, &e.firing, &e.n_firing) != 0 ||
            read_set(p, len, &off, &e.resolved, &e.n_resolved) != 0) {
            entry_fini(&e);
            return TW_EPARSE;
        }
        nflog_entry_t *old = log_find(d, e.key);
        if (old != NULL) {
            entry_fini(old);
            *old = e;
        } else {
            tw_grow((void **)&d->log, &d->cap_log, d->n_log + 1, sizeof(*d->log));
            d->log[d->n_log++] = e;
        }
        (*entries)++;
    }
    return off == len ? 0 : TW_EPARSE;
}
