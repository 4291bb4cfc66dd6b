/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify.c - the notifier loop: the alert sink, the Alertmanager queue and batches, the
 * webhook dispatchers feeding their outboxes, delivery with retries, the notifier thread and
 * self-metrics. The only file of the module that logs (once per failed attempt, as Prometheus'
 * notifier does) and reads the clock (in the thread only; tw_notify_tick() takes time).
 *
 * Locking: mu guards the Alertmanager queue, the dispatchers and the counters; it is held while
 * alerts are inserted (the sink) and while due groups are flushed into outboxes (an fsync), never
 * across HTTP. Outboxes and HTTP are touched by the ticking thread only.
 */
#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerting/notify/notify_int.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#define MAX_BATCHES_PER_TICK 16
#define MAX_DELIVERIES_PER_TICK 64

typedef struct counters {
    uint64_t sent, errors, dropped, queued;
    double latency_sum_s;
    uint64_t latency_count;
} counters_t;

typedef struct am {
    const tw_notify_am_config_t *cfg;
    char **urls; /* resolved /api/v2/alerts URLs */
    size_t n_urls;
    int64_t next_refresh_ms;
    counters_t c; /* per Alertmanager set, summed over its URLs */
} am_t;

typedef struct webhook {
    const tw_notify_webhook_config_t *cfg;
    notify_dispatch_t *disp;
    notify_outbox_t *ob;
    char *dir;
    int attempt;             /* failed attempts of the current head */
    int64_t next_attempt_ms; /* when the head may be tried again */
    counters_t c;
    size_t pending; /* mirror of the outbox's count, for collect() */
} webhook_t;

struct tw_notify {
    tw_notify_config_t cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop, kick;

    notify_alert_t *queue; /* ring of Alertmanager alerts */
    size_t qhead, qlen, qcap;
    uint64_t am_dropped; /* queue overflow */

    am_t *ams;
    size_t n_ams;
    webhook_t *hooks;
    size_t n_hooks;

    tw_label_t *ext;
    size_t n_ext;
    char *external_url;
    char *user_agent;
    size_t max_body;
    int64_t backoff_min_ms, backoff_max_ms;
    uint64_t rng;
    const tw_notify_transport_t *tr;
    tw_notify_queued_fn on_queued;
    void *on_queued_ctx;
    webhook_t *flushing; /* the webhook whose dispatcher is flushing (emit's context) */
    int64_t flush_now_ms;
};

/* ---- small helpers ---- */

int64_t notify_backoff_ms(int attempt, int64_t min_ms, int64_t max_ms, uint64_t *rng)
{
    int64_t base = min_ms;
    for (int i = 1; i < attempt && base < max_ms; i++) {
        base *= 2;
    }
    if (base > max_ms) {
        base = max_ms;
    }
    /* splitmix64 */
    uint64_t z = (*rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    int64_t half = base / 2;
    return base - half + (int64_t)(z % (uint64_t)(half + 1));
}

static void base64(tw_buf_t *b, const uint8_t *p, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= p[i + 2];
        }
        char o[4] = {t[v >> 18], t[(v >> 12) & 63], i + 1 < n ? t[(v >> 6) & 63] : '=',
                     i + 2 < n ? t[v & 63] : '='};
        tw_buf_append(b, o, 4);
    }
}

/* Reads a small secret file, trimming surrounding whitespace as Prometheus does. */
static int read_secret(const char *path, tw_buf_t *out, tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, 64 * 1024);
    int rc = tw_buf_read_file(&b, path, err);
    if (rc == 0) {
        const char *s = b.data != NULL ? b.data : "";
        size_t len = b.len;
        while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' ||
                           s[len - 1] == '\t')) {
            len--;
        }
        while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n')) {
            s++;
            len--;
        }
        tw_buf_reset(out);
        tw_buf_append(out, s, len);
    }
    tw_buf_fini(&b);
    return rc;
}

/* Adds the Authorization header http asks for to hdrs (as an owned string in *owned). */
static int auth_header(const tw_notify_http_config_t *h, char **owned, tw_error_t *err)
{
    *owned = NULL;
    tw_buf_t secret, line;
    tw_buf_init(&secret, 0);
    tw_buf_init(&line, 0);
    int rc = 0;
    if (h->basic_username != NULL || h->basic_password != NULL || h->basic_password_file != NULL) {
        if (h->basic_password_file != NULL) {
            rc = read_secret(h->basic_password_file, &secret, err);
        } else {
            tw_buf_puts(&secret, h->basic_password != NULL ? h->basic_password : "");
        }
        if (rc == 0) {
            tw_buf_t up;
            tw_buf_init(&up, 0);
            tw_buf_printf(&up, "%s:%s", h->basic_username != NULL ? h->basic_username : "",
                          secret.data != NULL ? secret.data : "");
            tw_buf_puts(&line, "Authorization: Basic ");
            base64(&line, (const uint8_t *)up.data, up.len);
            tw_buf_fini(&up);
        }
    } else if (h->bearer_token != NULL || h->bearer_token_file != NULL) {
        if (h->bearer_token_file != NULL) {
            rc = read_secret(h->bearer_token_file, &secret, err);
        } else {
            tw_buf_puts(&secret, h->bearer_token);
        }
        if (rc == 0) {
            tw_buf_printf(&line, "Authorization: %s %s",
                          h->auth_type != NULL ? h->auth_type : "Bearer",
                          secret.data != NULL ? secret.data : "");
        }
    }
    if (rc == 0 && line.len > 0) {
        *owned = tw_buf_steal(&line, NULL);
    }
    tw_buf_fini(&secret);
    tw_buf_fini(&line);
    return rc;
}

/* ---- the sink ---- */

static void queue_push(tw_notify_t *n, const notify_alert_t *a)
{
    if (n->qlen == n->qcap) {
        /* Full: drop the oldest in favour of the newer, as Prometheus does. */
        notify_alert_fini(&n->queue[n->qhead]);
        n->qhead = (n->qhead + 1) % n->qcap;
        n->qlen--;
        n->am_dropped++;
    }
    tw_alert_t view = {a->labels,       a->n_labels,   a->annotations,  a->n_annotations,
                       a->starts_at_ms, a->ends_at_ms, a->generator_url};
    notify_alert_copy(&n->queue[(n->qhead + n->qlen) % n->qcap], &view, NULL, 0);
    n->qlen++;
}

static int sink_send(void *ctx, const tw_alert_t *alerts, size_t count, int64_t now_ms)
{
    tw_notify_t *n = ctx;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < count; i++) {
        notify_alert_t a;
        notify_alert_copy(&a, &alerts[i], n->ext, n->n_ext);
        for (size_t k = 0; k < n->n_hooks; k++) {
            notify_dispatch_insert(n->hooks[k].disp, &a, now_ms);
        }
        if (n->n_ams > 0) {
            queue_push(n, &a);
        }
        notify_alert_fini(&a);
    }
    n->kick = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return 0;
}

tw_alert_sink_t tw_notify_sink(tw_notify_t *n)
{
    return (tw_alert_sink_t){n, sink_send};
}

/* ---- lifecycle ---- */

static void sanitize_name(const char *in, char *out, size_t outsz)
{
    size_t j = 0;
    for (const char *p = in; *p != '\0' && j + 1 < outsz; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        out[j++] = ok ? c : '_';
    }
    out[j] = '\0';
}

static void load_nflog(webhook_t *w, size_t *groups)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/nflog", w->dir);
    tw_buf_t b;
    tw_buf_init(&b, 64u << 20);
    if (tw_buf_read_file(&b, path, NULL) == 0) {
        size_t entries = 0;
        if (notify_dispatch_nflog_decode(w->disp, (const uint8_t *)b.data, b.len, &entries) == 0) {
            *groups += entries;
        } else {
            tw_log(TW_LOG_WARN, "notify", "notification log damaged: ignoring it", "path", path,
                   NULL);
        }
    }
    tw_buf_fini(&b);
}

int tw_notify_new(const tw_notify_options_t *opts, tw_notify_t **out, tw_notify_replay_t *replay,
                  tw_error_t *err)
{
    *out = NULL;
    if (opts->config == NULL) {
        return tw_error_set(err, TW_EINVAL, "notify: no configuration");
    }
    if (opts->config->n_webhooks > 0 && (opts->outbox_dir == NULL || opts->outbox_dir[0] == 0)) {
        return tw_error_set(err, TW_EINVAL, "notify: webhooks need an outbox directory");
    }
    tw_notify_replay_t rp = {0};
    tw_notify_t *n = tw_xcalloc(1, sizeof(*n));
    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    notify_config_copy(&n->cfg, opts->config);
    n->qcap = opts->queue_capacity > 0 ? opts->queue_capacity : TW_NOTIFY_QUEUE_CAPACITY;
    n->queue = tw_xcalloc(n->qcap, sizeof(*n->queue));
    n->ext = tw_xcalloc(opts->n_external_labels + 1, sizeof(*n->ext));
    for (size_t i = 0; i < opts->n_external_labels; i++) {
        n->ext[i].name = tw_xstrdup(opts->external_labels[i].name);
        n->ext[i].value = tw_xstrdup(opts->external_labels[i].value);
    }
    n->n_ext = opts->n_external_labels;
    n->external_url = tw_xstrdup(opts->external_url != NULL ? opts->external_url : "");
    n->user_agent = tw_xstrdup(opts->user_agent != NULL ? opts->user_agent : "tidewatch");
    n->max_body = opts->outbox_max_bytes > 0 ? opts->outbox_max_bytes : 4u << 20;
    n->backoff_min_ms = opts->backoff_min_ms > 0 ? opts->backoff_min_ms : 500;
    n->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 60000;
    if (n->backoff_max_ms < n->backoff_min_ms) {
        n->backoff_max_ms = n->backoff_min_ms;
    }
    n->rng = opts->jitter_seed != 0 ? opts->jitter_seed : (uint64_t)tw_mono_ns();
    n->tr = opts->transport != NULL ? opts->transport : notify_curl_transport();
    n->on_queued = opts->on_queued;
    n->on_queued_ctx = opts->on_queued_ctx;

    n->ams = tw_xcalloc(n->cfg.n_alertmanagers + 1, sizeof(*n->ams));
    n->n_ams = n->cfg.n_alertmanagers;
    for (size_t i = 0; i < n->n_ams; i++) {
        n->ams[i].cfg = &n->cfg.alertmanagers[i];
    }
    n->hooks = tw_xcalloc(n->cfg.n_webhooks + 1, sizeof(*n->hooks));
    int rc = 0;
    for (size_t i = 0; i < n->cfg.n_webhooks; i++) {
        webhook_t *w = &n->hooks[i];
        w->cfg = &n->cfg.webhooks[i];
        w->disp = notify_dispatch_new(w->cfg, n->external_url);
        n->n_hooks++;
        char name[256], dir[4096];
        sanitize_name(w->cfg->name, name, sizeof(name));
        snprintf(dir, sizeof(dir), "%s/%s", opts->outbox_dir, name);
        w->dir = tw_xstrdup(dir);
        notify_outbox_replay_t orp;
        rc = notify_outbox_open(dir, opts->outbox_max_records, &w->ob, &orp, err);
        if (rc != 0) {
            goto out;
        }
        rp.pending += orp.pending;
        rp.skipped_bytes += orp.skipped_bytes;
        w->pending = orp.pending;
        load_nflog(w, &rp.groups);
    }
out:
    if (rc != 0) {
        tw_notify_free(n);
        return rc;
    }
    if (replay != NULL) {
        *replay = rp;
    }
    *out = n;
    return 0;
}

void tw_notify_free(tw_notify_t *n)
{
    if (n == NULL) {
        return;
    }
    tw_notify_stop(n);
    for (size_t i = 0; i < n->n_hooks; i++) {
        notify_dispatch_free(n->hooks[i].disp);
        notify_outbox_close(n->hooks[i].ob);
        free(n->hooks[i].dir);
    }
    for (size_t i = 0; i < n->n_ams; i++) {
        for (size_t k = 0; k < n->ams[i].n_urls; k++) {
            free(n->ams[i].urls[k]);
        }
        free(n->ams[i].urls);
    }
    for (size_t i = 0; i < n->qlen; i++) {
        notify_alert_fini(&n->queue[(n->qhead + i) % n->qcap]);
    }
    for (size_t i = 0; i < n->n_ext; i++) {
        free((char *)n->ext[i].name);
        free((char *)n->ext[i].value);
    }
    free(n->ext);
    free(n->queue);
    free(n->hooks);
    free(n->ams);
    free(n->external_url);
    free(n->user_agent);
    tw_notify_config_fini(&n->cfg);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

/* ---- Alertmanager ---- */

static void am_add_url(am_t *a, char ***urls, size_t *n, const char *target)
{
    const tw_notify_am_config_t *c = a->cfg;
    const char *prefix = c->path_prefix != NULL ? c->path_prefix : "";
    size_t pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/') {
        pl--;
    }
    tw_buf_t u;
    tw_buf_init(&u, 0);
    tw_buf_printf(&u, "%s://%s%s%.*s/api/v2/alerts", c->scheme != NULL ? c->scheme : "http", target,
                  pl > 0 && prefix[0] != '/' ? "/" : "", (int)pl, prefix);
    *urls = tw_xrealloc(*urls, (*n + 1) * sizeof(**urls));
    (*urls)[(*n)++] = tw_buf_steal(&u, NULL);
}

/* Reads one file_sd file (JSON or YAML: a list of {targets, labels}). */
static int am_read_sd_file(am_t *a, const char *path, char ***urls, size_t *n, tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, 16u << 20);
    tw_yaml_doc_t *doc = NULL;
    int rc = tw_buf_read_file(&b, path, err);
    if (rc == 0) {
        rc = tw_yaml_doc_parse(b.data != NULL ? b.data : "", b.len, path, &doc, err);
    }
    const tw_yaml_node_t *root = rc == 0 ? tw_yaml_doc_root(doc) : NULL;
    if (rc == 0 && root != NULL && root->kind != TW_YAML_SEQ) {
        rc = tw_error_set_at(err, TW_EINVAL, path, root->line, root->col,
                             "expected a list of target groups");
    }
    for (size_t i = 0; rc == 0 && root != NULL && i < root->n; i++) {
        const tw_yaml_node_t *g = root->items[i];
        if (g->kind != TW_YAML_MAP) {
            rc = tw_error_set_at(err, TW_EINVAL, path, g->line, g->col,
                                 "expected a target group mapping");
            break;
        }
        for (size_t k = 0; k + 1 < g->n; k += 2) {
            const tw_yaml_node_t *key = g->items[k], *val = g->items[k + 1];
            if (strcmp(key->value, "targets") != 0 || val->kind != TW_YAML_SEQ) {
                continue;
            }
            for (size_t t = 0; t < val->n; t++) {
                if (val->items[t]->kind == TW_YAML_SCALAR && val->items[t]->value[0] != '\0') {
                    am_add_url(a, urls, n, val->items[t]->value);
                }
            }
        }
    }
    tw_yaml_doc_free(doc);
    tw_buf_fini(&b);
    return rc;
}

static void am_refresh(am_t *a, int64_t now_ms)
{
    if (a->urls != NULL && now_ms < a->next_refresh_ms) {
        return;
    }
    const tw_notify_am_config_t *c = a->cfg;
    char **urls = NULL;
    size_t nu = 0;
    bool failed = false;
    for (size_t i = 0; i < c->n_targets; i++) {
        am_add_url(a, &urls, &nu, c->targets[i]);
    }
    for (size_t i = 0; i < c->n_sd_files; i++) {
        glob_t g;
        if (glob(c->sd_files[i], 0, NULL, &g) != 0) {
            continue;
        }
        for (size_t k = 0; k < g.gl_pathc; k++) {
            tw_error_t e;
            tw_error_clear(&e);
            if (am_read_sd_file(a, g.gl_pathv[k], &urls, &nu, &e) != 0) {
                char msg[900];
                tw_log(TW_LOG_ERROR, "notify", "Error reading file", "path", g.gl_pathv[k], "err",
                       tw_error_format(&e, msg, sizeof(msg)), NULL);
                failed = true;
            }
        }
        globfree(&g);
    }
    a->next_refresh_ms = now_ms + c->sd_refresh_ms;
    if (failed && a->urls != NULL) {
        /* Keep the last good list, as Prometheus' file SD does. */
        for (size_t i = 0; i < nu; i++) {
            free(urls[i]);
        }
        free(urls);
        return;
    }
    for (size_t i = 0; i < a->n_urls; i++) {
        free(a->urls[i]);
    }
    free(a->urls);
    a->urls = urls != NULL ? urls : tw_xcalloc(1, sizeof(char *));
    a->n_urls = nu;
}

static int post(tw_notify_t *n, const char *url, const tw_notify_http_config_t *http,
                int64_t timeout_ms, const char *body, size_t len, const char *extra1,
                const char *extra2, int *status, double *secs, tw_error_t *err)
{
    char *auth = NULL;
    int rc = auth_header(http, &auth, err);
    if (rc != 0) {
        return rc;
    }
    char ua[300];
    snprintf(ua, sizeof(ua), "User-Agent: %s", n->user_agent);
    const char *hdrs[5];
    size_t nh = 0;
    hdrs[nh++] = "Content-Type: application/json";
    hdrs[nh++] = ua;
    if (auth != NULL) {
        hdrs[nh++] = auth;
    }
    if (extra1 != NULL) {
        hdrs[nh++] = extra1;
    }
    if (extra2 != NULL) {
        hdrs[nh++] = extra2;
    }
    tw_notify_request_t req = {url, hdrs, nh, body, len, http, timeout_ms};
    int64_t t0 = tw_mono_ns();
    *status = 0;
    rc = n->tr->post(n->tr->ctx, &req, status, err);
    *secs = (double)(tw_mono_ns() - t0) / 1e9;
    free(auth);
    return rc;
}

/* Sends queued alerts to every Alertmanager in batches of 64 (Prometheus' sendAll). */
static void am_send(tw_notify_t *n, int64_t now_ms)
{
    for (int b = 0; b < MAX_BATCHES_PER_TICK; b++) {
        pthread_mutex_lock(&n->mu);
        size_t cnt = n->qlen < TW_NOTIFY_MAX_BATCH ? n->qlen : TW_NOTIFY_MAX_BATCH;
        notify_alert_t batch[TW_NOTIFY_MAX_BATCH];
        for (size_t i = 0; i < cnt; i++) {
            batch[i] = n->queue[n->qhead];
            n->qhead = (n->qhead + 1) % n->qcap;
            n->qlen--;
        }
        pthread_mutex_unlock(&n->mu);
        if (cnt == 0) {
            return;
        }
        tw_buf_t body;
        tw_buf_init(&body, 0);
        notify_json_am_alerts(&body, batch, cnt);
        bool any_ok = false;
        size_t n_targets = 0;
        for (size_t i = 0; i < n->n_ams; i++) {
            am_t *a = &n->ams[i];
            am_refresh(a, now_ms);
            for (size_t k = 0; k < a->n_urls; k++) {
                n_targets++;
                int status = 0;
                double secs = 0;
                tw_error_t e;
                tw_error_clear(&e);
                int rc = post(n, a->urls[k], &a->cfg->http, a->cfg->timeout_ms, body.data, body.len,
                              NULL, NULL, &status, &secs, &e);
                pthread_mutex_lock(&n->mu);
                a->c.latency_sum_s += secs;
                a->c.latency_count++;
                if (rc == 0 && status / 100 == 2) {
                    a->c.sent += cnt;
                    any_ok = true;
                } else {
                    a->c.errors += cnt;
                }
                pthread_mutex_unlock(&n->mu);
                if (rc != 0 || status / 100 != 2) {
                    char msg[900], st[32];
                    snprintf(st, sizeof(st), "%d", status);
                    tw_log(TW_LOG_ERROR, "notify", "Error sending alert", "alertmanager",
                           a->urls[k], "count", (snprintf(msg, sizeof(msg), "%zu", cnt), msg),
                           "status", rc == 0 ? st : NULL, "err",
                           rc != 0 ? e.msg : "bad response status", NULL);
                }
            }
        }
        if (!any_ok && n_targets > 0) {
            pthread_mutex_lock(&n->mu);
            n->am_dropped += cnt;
            pthread_mutex_unlock(&n->mu);
        }
        tw_buf_fini(&body);
        for (size_t i = 0; i < cnt; i++) {
            notify_alert_fini(&batch[i]);
        }
    }
}

/* ---- webhooks ---- */

static int emit_to_outbox(void *ctx, const char *group_key, const char *body, size_t len)
{
    tw_notify_t *n = ctx;
    webhook_t *w = n->flushing;
    if (len > n->max_body) {
        w->c.dropped++;
        tw_log(TW_LOG_ERROR, "notify", "Notification larger than the outbox limit, dropped",
               "receiver", w->cfg->name, "group", group_key, NULL);
        return 0; /* counted; do not retry it forever */
    }
    uint64_t seq = 0;
    size_t dropped = 0;
    tw_error_t e;
    tw_error_clear(&e);
    int rc = notify_outbox_append(w->ob, n->flush_now_ms, group_key, body, len, &seq, &dropped, &e);
    if (rc != 0) {
        w->c.errors++;
        tw_log(TW_LOG_ERROR, "notify", "Cannot queue notification, will retry", "receiver",
               w->cfg->name, "err", e.msg, NULL);
        return rc;
    }
    w->c.queued++;
    w->c.dropped += dropped;
    w->pending = notify_outbox_pending(w->ob);
    if (dropped > 0) {
        tw_log(TW_LOG_WARN, "notify", "Notification outbox full, dropped the oldest", "receiver",
               w->cfg->name, NULL);
    }
    if (n->on_queued != NULL) {
        n->on_queued(n->on_queued_ctx, w->cfg->name, seq, group_key, body, len);
    }
    return 0;
}

static void flush_webhooks(tw_notify_t *n, int64_t now_ms)
{
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->n_hooks; i++) {
        webhook_t *w = &n->hooks[i];
        n->flushing = w;
        n->flush_now_ms = now_ms;
        notify_dispatch_flush(w->disp, now_ms, emit_to_outbox, n);
        if (notify_dispatch_nflog_dirty(w->disp)) {
            tw_buf_t b;
            tw_buf_init(&b, 0);
            notify_dispatch_nflog_encode(w->disp, &b);
            tw_error_t e;
            tw_error_clear(&e);
            if (notify_file_replace(w->dir, "nflog", b.data, b.len, &e) != 0) {
                tw_log(TW_LOG_ERROR, "notify", "Cannot write the notification log", "receiver",
                       w->cfg->name, "err", e.msg, NULL);
            }
            tw_buf_fini(&b);
        }
    }
    n->flushing = NULL;
    pthread_mutex_unlock(&n->mu);
}

/* Whether a failed POST is worth retrying (Alertmanager's webhook: 5xx and 429 are). */
static bool retryable(int rc, int status)
{
    return rc != 0 || status / 100 == 5 || status == 429 || status == 408;
}

static void deliver(tw_notify_t *n, webhook_t *w, int64_t now_ms)
{
    tw_buf_t rec;
    tw_buf_init(&rec, NOTIFY_OUTBOX_MAX_BODY + 64);
    for (int d = 0; d < MAX_DELIVERIES_PER_TICK; d++) {
        if (notify_outbox_pending(w->ob) == 0 || now_ms < w->next_attempt_ms) {
            break;
        }
        notify_outbox_rec_t r;
        tw_error_t e;
        tw_error_clear(&e);
        int rc = notify_outbox_peek(w->ob, &rec, &r, &e);
        if (rc == TW_EPARSE) {
            tw_log(TW_LOG_ERROR, "notify", "Dropping damaged notification", "receiver",
                   w->cfg->name, "err", e.msg, NULL);
            pthread_mutex_lock(&n->mu);
            w->c.dropped++;
            pthread_mutex_unlock(&n->mu);
            notify_outbox_ack(w->ob, NULL);
            continue;
        }
        if (rc != 0) {
            tw_log(TW_LOG_ERROR, "notify", "Cannot read the outbox", "receiver", w->cfg->name,
                   "err", e.msg, NULL);
            w->next_attempt_ms = now_ms + n->backoff_max_ms;
            break;
        }
        char sig[128] = "", id[80];
        const char *sig_hdr = NULL;
        snprintf(id, sizeof(id), "X-Tidewatch-Notification-Id: %llu", (unsigned long long)r.seq);
        if (w->cfg->hmac_secret != NULL || w->cfg->hmac_secret_file != NULL) {
            tw_buf_t key;
            tw_buf_init(&key, 0);
            if (w->cfg->hmac_secret_file != NULL) {
                rc = read_secret(w->cfg->hmac_secret_file, &key, &e);
            } else {
                tw_buf_puts(&key, w->cfg->hmac_secret);
            }
            if (rc == 0) {
                uint8_t mac[NOTIFY_SHA256_LEN];
                char hex[2 * NOTIFY_SHA256_LEN + 1];
                notify_hmac_sha256(key.data != NULL ? key.data : "", key.len, r.payload,
                                   r.payload_len, mac);
                notify_hex(mac, sizeof(mac), hex);
                snprintf(sig, sizeof(sig), "X-Tidewatch-Signature: sha256=%s", hex);
                sig_hdr = sig;
            }
            tw_buf_fini(&key);
        }
        int status = 0;
        double secs = 0;
        if (rc == 0) {
            rc = post(n, w->cfg->url, &w->cfg->http, w->cfg->timeout_ms, r.payload, r.payload_len,
                      id, sig_hdr, &status, &secs, &e);
        }
        bool ok = rc == 0 && status / 100 == 2;
        pthread_mutex_lock(&n->mu);
        w->c.latency_sum_s += secs;
        w->c.latency_count++;
        if (ok) {
            w->c.sent++;
        } else {
            w->c.errors++;
        }
        pthread_mutex_unlock(&n->mu);
        if (ok) {
            w->attempt = 0;
            w->next_attempt_ms = 0;
            tw_error_clear(&e);
            if (notify_outbox_ack(w->ob, &e) != 0) {
                tw_log(TW_LOG_ERROR, "notify", "Cannot record a delivery", "receiver", w->cfg->name,
                       "err", e.msg, NULL);
            }
            continue;
        }
        char st[32], att[32];
        snprintf(st, sizeof(st), "%d", status);
        if (!retryable(rc, status)) {
            tw_log(TW_LOG_ERROR, "notify", "Notify failed, not retrying", "receiver", w->cfg->name,
                   "status", st, NULL);
            pthread_mutex_lock(&n->mu);
            w->c.dropped++;
            pthread_mutex_unlock(&n->mu);
            w->attempt = 0;
            notify_outbox_ack(w->ob, NULL);
            continue;
        }
        w->attempt++;
        int64_t delay =
            notify_backoff_ms(w->attempt, n->backoff_min_ms, n->backoff_max_ms, &n->rng);
        w->next_attempt_ms = now_ms + delay;
        snprintf(att, sizeof(att), "%d", w->attempt);
        tw_log(TW_LOG_WARN, "notify", "Notify attempt failed, will retry", "receiver", w->cfg->name,
               "attempts", att, "status", rc == 0 ? st : NULL, "err",
               rc != 0 ? e.msg : "bad response status", NULL);
        break;
    }
    pthread_mutex_lock(&n->mu);
    w->pending = notify_outbox_pending(w->ob);
    pthread_mutex_unlock(&n->mu);
    tw_buf_fini(&rec);
}

int64_t tw_notify_tick(tw_notify_t *n, int64_t now_ms)
{
    flush_webhooks(n, now_ms);
    am_send(n, now_ms);
    int64_t next = now_ms + 1000;
    for (size_t i = 0; i < n->n_hooks; i++) {
        webhook_t *w = &n->hooks[i];
        deliver(n, w, now_ms);
        if (notify_outbox_pending(w->ob) > 0 && w->next_attempt_ms < next) {
            next = w->next_attempt_ms > now_ms ? w->next_attempt_ms : now_ms;
        }
        pthread_mutex_lock(&n->mu);
        int64_t g = notify_dispatch_next_ms(w->disp);
        pthread_mutex_unlock(&n->mu);
        if (g < next) {
            next = g;
        }
    }
    pthread_mutex_lock(&n->mu);
    if (n->qlen > 0) {
        next = now_ms;
    }
    pthread_mutex_unlock(&n->mu);
    return next;
}

/* ---- the thread ---- */

static void *run(void *arg)
{
    tw_notify_t *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        n->kick = false;
        pthread_mutex_unlock(&n->mu);
        int64_t now = tw_now_ms();
        int64_t next = tw_notify_tick(n, now);
        pthread_mutex_lock(&n->mu);
        int64_t wait_ms = next - tw_now_ms();
        if (n->stop || n->kick || wait_ms <= 0) {
            continue;
        }
        struct timespec ts = tw_mono_timespec(tw_mono_ns() + wait_ms * 1000000);
        pthread_cond_timedwait(&n->cv, &n->mu, &ts);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

int tw_notify_start(tw_notify_t *n)
{
    if (n->running) {
        return 0;
    }
    n->stop = false;
    int rc = pthread_create(&n->thread, NULL, run, n);
    if (rc != 0) {
        return -rc;
    }
    n->running = true;
    return 0;
}

void tw_notify_stop(tw_notify_t *n)
{
    if (!n->running) {
        return;
    }
    pthread_mutex_lock(&n->mu);
    n->stop = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->thread, NULL);
    n->running = false;
}

/* ---- metrics ---- */

void tw_notify_stats(tw_notify_t *n, tw_notify_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&n->mu);
    out->dropped = n->am_dropped;
    out->queue_length = n->qlen;
    for (size_t i = 0; i < n->n_ams; i++) {
        out->sent += n->ams[i].c.sent;
        out->errors += n->ams[i].c.errors;
    }
    for (size_t i = 0; i < n->n_hooks; i++) {
        const counters_t *c = &n->hooks[i].c;
        out->sent += c->sent;
        out->errors += c->errors;
        out->dropped += c->dropped;
        out->queued += c->queued;
        out->queue_length += n->hooks[i].pending;
    }
    pthread_mutex_unlock(&n->mu);
}

void tw_notify_collect(tw_notify_t *n, tw_mset_t *out)
{
    tw_mfamily_t *sent = tw_mset_family(out, "tidewatch_notifications_sent_total", TW_MTYPE_COUNTER,
                                        "Notifications delivered (Alertmanager: alerts).", NULL);
    tw_mfamily_t *errs =
        tw_mset_family(out, "tidewatch_notifications_errors_total", TW_MTYPE_COUNTER,
                       "Failed delivery attempts (Alertmanager: alerts in failed batches).", NULL);
    tw_mfamily_t *drop =
        tw_mset_family(out, "tidewatch_notifications_dropped_total", TW_MTYPE_COUNTER,
                       "Notifications or alerts given up on (queue full, permanent errors).", NULL);
    tw_mfamily_t *qlen = tw_mset_family(out, "tidewatch_notifications_queue_length", TW_MTYPE_GAUGE,
                                        "Notifications waiting to be sent.", NULL);
    tw_mfamily_t *qcap = tw_mset_family(out, "tidewatch_notifications_queue_capacity",
                                        TW_MTYPE_GAUGE, "Capacity of the alert queue.", NULL);
    tw_mfamily_t *lat = tw_mset_family(out, "tidewatch_notifications_latency_seconds",
                                       TW_MTYPE_SUMMARY, "Latency of delivery attempts.", NULL);
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->n_ams; i++) {
        char name[48];
        snprintf(name, sizeof(name), "alertmanager-%zu", i);
        tw_label_t l[] = {{"receiver", name}};
        const counters_t *c = &n->ams[i].c;
        tw_mset_add(out, sent, NULL, l, 1, (double)c->sent, TW_NO_TIMESTAMP);
        tw_mset_add(out, errs, NULL, l, 1, (double)c->errors, TW_NO_TIMESTAMP);
        tw_mset_add(out, lat, "_sum", l, 1, c->latency_sum_s, TW_NO_TIMESTAMP);
        tw_mset_add(out, lat, "_count", l, 1, (double)c->latency_count, TW_NO_TIMESTAMP);
    }
    if (n->n_ams > 0) {
        tw_label_t l[] = {{"receiver", "alertmanager"}};
        tw_mset_add(out, drop, NULL, l, 1, (double)n->am_dropped, TW_NO_TIMESTAMP);
        tw_mset_add(out, qlen, NULL, l, 1, (double)n->qlen, TW_NO_TIMESTAMP);
        tw_mset_add(out, qcap, NULL, l, 1, (double)n->qcap, TW_NO_TIMESTAMP);
    }
    for (size_t i = 0; i < n->n_hooks; i++) {
        const webhook_t *w = &n->hooks[i];
        tw_label_t l[] = {{"receiver", w->cfg->name}};
        tw_mset_add(out, sent, NULL, l, 1, (double)w->c.sent, TW_NO_TIMESTAMP);
        tw_mset_add(out, errs, NULL, l, 1, (double)w->c.errors, TW_NO_TIMESTAMP);
        tw_mset_add(out, drop, NULL, l, 1, (double)w->c.dropped, TW_NO_TIMESTAMP);
        tw_mset_add(out, qlen, NULL, l, 1, (double)w->pending, TW_NO_TIMESTAMP);
        tw_mset_add(out, lat, "_sum", l, 1, w->c.latency_sum_s, TW_NO_TIMESTAMP);
        tw_mset_add(out, lat, "_count", l, 1, (double)w->c.latency_count, TW_NO_TIMESTAMP);
    }
    pthread_mutex_unlock(&n->mu);
}
