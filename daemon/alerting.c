/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alerting.c - the daemon's alerting wiring (see alerting.h): one rules loop, at most one
 * notifier, the API routes. The query source the groups use is the engine over the TSDB with
 * the config's query settings; a reload installs a fresh one and frees the previous one after
 * the loop stopped using it (tw_rules_loop_configure() waits for an evaluation in progress).
 *
 * Locks: `mu` guards the notifier pointer for the self-metrics readers; the rules loop's own
 * proxy sink guards the notifier the groups send to.
 */
#include "alerting.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/notify/notify.h"
#include "alerting_api.h"
#include "build_info.h"
#include "common/log.h"
#include "common/mem.h"
#include "query/query.h"
#include "rules_loop.h"

struct tw_alerting {
    struct tw_tsdb *db;
    char *outbox_dir;
    tw_rules_loop_t *loop;
    tw_alerting_api_t *api;
    tw_promql_qs_t *qs; /* the engine view the groups query */
    bool started;

    pthread_mutex_t mu;
    tw_notify_t *notify; /* under mu; NULL without targets */
    /* What the notifier was created from (a canonical text of its settings), to tell whether
     * a reload changes it; NULL before the first configure or after a failed one. */
    char *notify_key;
};

/* ---- the notifier's settings as one comparable text ---- */

static void key_str(tw_buf_t *b, const char *s)
{
    s = s != NULL ? s : "";
    tw_buf_printf(b, "%zu:%s;", strlen(s), s);
}

static void key_http(tw_buf_t *b, const tw_notify_http_config_t *h)
{
    const char *const s[] = {h->basic_username, h->basic_password,    h->basic_password_file,
                             h->bearer_token,   h->bearer_token_file, h->auth_type,
                             h->ca_file,        h->cert_file,         h->key_file,
                             h->server_name};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        key_str(b, s[i]);
    }
    tw_buf_printf(b, "%d%d;", h->insecure_skip_verify, h->follow_redirects);
}

static char *notify_key(const tw_config_t *c)
{
    tw_buf_t b;
    tw_buf_init(&b, 64u << 20);
    key_str(&b, c->global.external_url);
    for (size_t i = 0; i < c->global.n_external_labels; i++) {
        key_str(&b, c->global.external_labels[i].name);
        key_str(&b, c->global.external_labels[i].value);
    }
    const tw_notify_config_t *n = c->alerting;
    for (size_t i = 0; n != NULL && i < n->n_alertmanagers; i++) {
        const tw_notify_am_config_t *am = &n->alertmanagers[i];
        tw_buf_puts(&b, "AM;");
        key_str(&b, am->scheme);
        key_str(&b, am->path_prefix);
        tw_buf_printf(&b, "%lld;%lld;", (long long)am->timeout_ms, (long long)am->sd_refresh_ms);
        for (size_t k = 0; k < am->n_targets; k++) {
            key_str(&b, am->targets[k]);
        }
        tw_buf_puts(&b, "|");
        for (size_t k = 0; k < am->n_sd_files; k++) {
            key_str(&b, am->sd_files[k]);
        }
        key_http(&b, &am->http);
    }
    for (size_t i = 0; n != NULL && i < n->n_webhooks; i++) {
        const tw_notify_webhook_config_t *w = &n->webhooks[i];
        tw_buf_puts(&b, "WH;");
        key_str(&b, w->name);
        key_str(&b, w->url);
        for (size_t k = 0; k < w->n_group_by; k++) {
            key_str(&b, w->group_by[k]);
        }
        tw_buf_printf(&b, "|%d;%lld;%lld;%lld;%d;%llu;%lld;", w->group_by_all,
                      (long long)w->group_wait_ms, (long long)w->group_interval_ms,
                      (long long)w->repeat_interval_ms, w->send_resolved,
                      (unsigned long long)w->max_alerts, (long long)w->timeout_ms);
        key_str(&b, w->hmac_secret);
        key_str(&b, w->hmac_secret_file);
        key_http(&b, &w->http);
    }
    char *s = tw_buf_steal(&b, NULL);
    tw_buf_fini(&b);
    return s != NULL ? s : tw_xstrdup("");
}

static bool has_targets(const tw_config_t *c)
{
    return c->alerting != NULL && (c->alerting->n_alertmanagers > 0 || c->alerting->n_webhooks > 0);
}

/* Creates the notifier for c (NULL without targets). */
static int notify_create(tw_alerting_t *a, const tw_config_t *c, tw_notify_t **out, tw_error_t *err)
{
    *out = NULL;
    if (!has_targets(c)) {
        return 0;
    }
    tw_label_t ext[128];
    size_t n_ext = 0;
    for (size_t i = 0; i < c->global.n_external_labels && n_ext < 128; i++) {
        ext[n_ext].name = c->global.external_labels[i].name;
        ext[n_ext].value = c->global.external_labels[i].value;
        n_ext++;
    }
    tw_notify_options_t o = {
        .config = c->alerting,
        .outbox_dir = a->outbox_dir,
        .external_url = c->global.external_url,
        .external_labels = ext,
        .n_external_labels = n_ext,
        .user_agent = "tidewatch/" TW_VERSION,
    };
    tw_notify_replay_t rep = {0};
    int rc = tw_notify_new(&o, out, &rep, err);
    if (rc != 0) {
        return rc;
    }
    char p[32], s[32], g[32], am[32], wh[32];
    snprintf(p, sizeof(p), "%zu", rep.pending);
    snprintf(s, sizeof(s), "%zu", rep.skipped_bytes);
    snprintf(g, sizeof(g), "%zu", rep.groups);
    snprintf(am, sizeof(am), "%zu", c->alerting->n_alertmanagers);
    snprintf(wh, sizeof(wh), "%zu", c->alerting->n_webhooks);
    tw_log(TW_LOG_INFO, "notifier", "Notifier configured", "alertmanagers", am, "webhooks", wh,
           "outbox", a->outbox_dir, "replayed_pending", p, "skipped_bytes", s, "nflog_entries", g,
           NULL);
    return 0;
}

/* ---- public ---- */

tw_alerting_t *tw_alerting_new(struct tw_tsdb *db, const tw_sink_t *sink, const char *outbox_dir)
{
    tw_alerting_t *a = tw_xcalloc(1, sizeof(*a));
    a->db = db;
    a->outbox_dir = tw_xstrdup(outbox_dir);
    tw_rules_loop_options_t lo = {.sink = sink};
    a->loop = tw_rules_loop_new(&lo);
    a->api = tw_alerting_api_new(a->loop);
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

int tw_alerting_configure(tw_alerting_t *a, const tw_config_t *c, tw_error_t *err)
{
    tw_promql_qs_t *qsc = tw_xcalloc(1, sizeof(*qsc));
    tw_query_source_t qs;
    qsc->opts.compat = (tw_promql_compat_t)c->query.compat;
    qsc->opts.lookback_delta_ms = c->query.lookback_delta_ms;
    qsc->opts.max_samples = (size_t)c->query.max_samples;
    qsc->opts.timeout_ms = c->query.timeout_ms;
    qsc->opts.delayed_name_removal = c->query.delayed_name_removal;
    tw_promql_storage_tsdb(a->db, &qsc->storage);
    tw_promql_query_source(qsc, &qs);

    char *key = notify_key(c);
    bool renew = a->notify_key == NULL || strcmp(key, a->notify_key) != 0;
    int rc = tw_rules_loop_configure(a->loop, c, &qs, err);
    if (rc != 0) {
        free(key);
        free(qsc);
        return rc;
    }
    free(a->qs); /* the loop queries qsc now */
    a->qs = qsc;
    tw_alerting_api_set_compat(a->api, c->query.compat);
    if (!renew) {
        free(key);
        return 0;
    }
    /* One process per outbox: the old notifier lets go of it before the new one opens it. */
    tw_rules_loop_set_notify(a->loop, NULL);
    pthread_mutex_lock(&a->mu);
    tw_notify_t *old = a->notify;
    a->notify = NULL;
    pthread_mutex_unlock(&a->mu);
    tw_notify_free(old);
    tw_notify_t *n = NULL;
    rc = notify_create(a, c, &n, err);
    if (rc == 0 && n != NULL && a->started) {
        int src = tw_notify_start(n);
        if (src != 0) {
            rc = tw_error_set(err, src, "cannot start the notifier thread");
            tw_notify_free(n);
            n = NULL;
        }
    }
    if (rc != 0) {
        free(key);
        free(a->notify_key);
        a->notify_key = NULL; /* the next configure retries */
        return rc;
    }
    pthread_mutex_lock(&a->mu);
    a->notify = n;
    pthread_mutex_unlock(&a->mu);
    if (n != NULL) {
        tw_alert_sink_t s = tw_notify_sink(n);
        tw_rules_loop_set_notify(a->loop, &s);
    }
    free(a->notify_key);
    a->notify_key = key;
    return 0;
}

int tw_alerting_start(tw_alerting_t *a, tw_error_t *err)
{
    pthread_mutex_lock(&a->mu);
    tw_notify_t *n = a->notify;
    pthread_mutex_unlock(&a->mu);
    if (n != NULL) {
        int rc = tw_notify_start(n);
        if (rc != 0) {
            return tw_error_set(err, rc, "cannot start the notifier thread");
        }
    }
    a->started = true;
    return tw_rules_loop_start(a->loop, err);
}

int tw_alerting_register(tw_http_server_t *srv, tw_alerting_t *a)
{
    return tw_alerting_api_register(srv, a->api);
}

void tw_alerting_collect_metrics(tw_alerting_t *a, tw_mset_t *out)
{
    if (a == NULL) {
        return;
    }
    tw_rules_loop_collect_metrics(a->loop, out);
    pthread_mutex_lock(&a->mu);
    if (a->notify != NULL) {
        tw_notify_collect(a->notify, out);
    }
    pthread_mutex_unlock(&a->mu);
}

void tw_alerting_free(tw_alerting_t *a)
{
    if (a == NULL) {
        return;
    }
    tw_rules_loop_free(a->loop); /* no more alerts are sent */
    tw_notify_free(a->notify);
    tw_alerting_api_free(a->api);
    free(a->qs);
    free(a->notify_key);
    free(a->outbox_dir);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
