/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.c - wiring and lifecycle of the running daemon (see daemon.h).
 *
 * Threads: the main thread runs tw_daemon_run(), which owns every start, stop and reload; the
 * collector loop, the pod fetcher and the HTTP pool have their own threads. HTTP handlers never
 * restart anything themselves: /-/reload queues a request for the main thread and waits for its
 * answer (as Prometheus' reload channel does), so a reload that moves the listen address can
 * stop the old server without a handler waiting on itself.
 *
 * Locks: `state_mu` guards the pointers HTTP threads read (the HTTP server and pod fetcher for
 * the self-metrics, the reload status) and the reload request queue; the main thread swaps the
 * pointers under it and stops the old objects after releasing it.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alerting.h"
#include "autoscale_loop.h"
#include "build_info.h"
#include "collect_loop.h"
#include "collector/remote/remote.h"
#include "collector/scrape/scrape.h"
#include "collector/tsdb/tsdb.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "query/query.h"
#include "selfmetrics.h"
#include "vpa_api.h"
#include "vpa_loop.h"
#include "vpa_webhook.h"
#include "web.h"

/* A /-/reload request waiting for the main thread. */
typedef struct reload_req {
    struct reload_req *next;
    bool done;
    int rc;
    tw_error_t err;
} reload_req_t;

struct tw_daemon {
    char *config_file; /* NULL: embedded default */
    char *ovr_listen, *ovr_storage, *ovr_retention;
    char *ovr_query[4]; /* --query.compat, .lookback-delta, .max-samples, .timeout */
    tw_config_t *cfg;   /* current; main thread only */

    int lock_fd; /* storage lock, -1 when not held */
    char *lock_path;
    int sig_fd;   /* signalfd, -1 before start */
    int event_fd; /* wakes the main loop: reload requests, shutdown */

    tw_collect_loop_t *loop;
    tw_tsdb_t *tsdb;             /* open while the daemon runs */
    tw_sink_t sink;              /* tsdb's sample sink, shared by every source */
    tw_scrape_manager_t *scrape; /* created at start */
    bool rw_enabled;             /* --web.enable-remote-write-receiver */
    bool admin_enabled;          /* --web.enable-admin-api */
    tw_web_ops_t ops;
    tw_query_api_t *api; /* the /api/v1 query endpoints, created with the TSDB */
    /* The autoscaler thread, the engine view it queries (replaced as a whole on reload) and
     * the config whose manifests it borrows: d->cfg, or an older one kept alive when a reload
     * could not reconfigure the autoscaler (main thread only). */
    tw_autoscale_loop_t *autoscale;
    tw_vpa_loop_t *vpa;            /* the vertical recommender and updater */
    tw_vpa_webhook_t *vpa_webhook; /* its admission webhook (listens when configured) */
    char *vpa_webhook_key;         /* address, cert and key it listens with; NULL: off */
    tw_alerting_t *alerting; /* rules loop, notifier, /api/v1/rules and /alerts (alerting.h) */
    tw_promql_qs_t *as_qs;
    tw_config_t *as_cfg;
    int64_t start_ms; /* for /api/v1/status/runtimeinfo */
    /* A server replaced by a reload, stopped after a grace period so the answer to the
     * /-/reload that replaced it is delivered (main thread only). */
    tw_http_server_t *retiring;
    tw_remote_write_handler_t *rw_retiring; /* registered on `retiring` */
    int64_t retire_at_ns;

    pthread_mutex_t state_mu;
    pthread_cond_t state_cond;
    /* guarded by state_mu */
    tw_http_server_t *http;
    tw_remote_write_handler_t *rw; /* registered on `http`, NULL when disabled */
    tw_cgroup_pods_fetcher_t *fetcher;
    bool reload_ok;
    int64_t reload_success_ms;
    reload_req_t *reqs;
    /* What the API callbacks report about the current configuration (HTTP threads). */
    char *config_text;                   /* the YAML the config was loaded from */
    int query_compat;                    /* tw_promql_compat_t */
    int64_t retention_ms;                /* storage.retention.time */
    uint64_t retention_bytes;            /* storage.retention.size */
    char *listen_address, *storage_path; /* effective values, for the flags */
    tw_promql_engine_options_t engine_opts;
    bool running;  /* tw_daemon_run() is serving requests */
    bool shutdown; /* asked to stop */
};

/* ---- helpers --------------------------------------------------------------------------- */

static void config_overrides(const tw_daemon_t *d, tw_config_overrides_t *o)
{
    o->listen_address = d->ovr_listen;
    o->storage_path = d->ovr_storage;
    o->retention_time = d->ovr_retention;
    o->query_compat = d->ovr_query[0];
    o->query_lookback_delta = d->ovr_query[1];
    o->query_max_samples = d->ovr_query[2];
    o->query_timeout = d->ovr_query[3];
}

static int config_load(const tw_daemon_t *d, tw_config_t **out, tw_error_t *err)
{
    tw_config_t *c = NULL;
    tw_config_overrides_t o;
    int rc = d->config_file != NULL ? tw_config_load_file(d->config_file, &c, err)
                                    : tw_config_load_default(&c, err);
    if (rc != 0) {
        return rc;
    }
    config_overrides(d, &o);
    rc = tw_config_apply_overrides(c, &o, err);
    if (rc != 0) {
        tw_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The node name for the pod list: the config's, else $NODE_NAME, else the hostname. */
static void node_name_resolve(const tw_config_t *c, char *out, size_t outsz)
{
    const char *env = getenv("NODE_NAME");
    if (c->collector.kubernetes.node_name[0] != '\0') {
        tw_strlcpy(out, c->collector.kubernetes.node_name, outsz);
    } else if (env != NULL && env[0] != '\0') {
        tw_strlcpy(out, env, outsz);
    } else if (gethostname(out, outsz) != 0) {
        out[0] = '\0';
    } else {
        out[outsz - 1] = '\0';
    }
}

/* node is caller storage that must outlive the call (the collector copies it). */
static void loop_options(const tw_config_t *c, const char *node, tw_collect_loop_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->interval_ms = c->collector.interval_ms;
    o->cgroup_enabled = c->collector.cgroup.enabled;
    o->cgroup.root = c->collector.cgroup.root;
    o->cgroup.max_cgroups = c->collector.cgroup.max_cgroups;
    o->cgroup.node_name = c->collector.kubernetes.pods_url[0] != '\0' ? node : NULL;
    o->procfs_enabled = c->collector.procfs.enabled;
    o->procfs.proc_root = c->collector.procfs.proc_root;
    o->procfs.sys_root = c->collector.procfs.sys_root;
    o->procfs.rootfs_root = c->collector.procfs.rootfs;
    o->procfs.statfs_timeout_ms = c->collector.procfs.statfs_timeout_ms;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static bool collect_changed(const tw_config_t *a, const tw_config_t *b)
{
    const __typeof__(a->collector) *x = &a->collector, *y = &b->collector;
    return x->interval_ms != y->interval_ms || x->cgroup.enabled != y->cgroup.enabled ||
           !str_eq(x->cgroup.root, y->cgroup.root) ||
           x->cgroup.max_cgroups != y->cgroup.max_cgroups ||
           x->procfs.enabled != y->procfs.enabled ||
           !str_eq(x->procfs.proc_root, y->procfs.proc_root) ||
           !str_eq(x->procfs.sys_root, y->procfs.sys_root) ||
           !str_eq(x->procfs.rootfs, y->procfs.rootfs) ||
           x->procfs.statfs_timeout_ms != y->procfs.statfs_timeout_ms ||
           !str_eq(x->kubernetes.node_name, y->kubernetes.node_name) ||
           (x->kubernetes.pods_url[0] == '\0') != (y->kubernetes.pods_url[0] == '\0');
}

static bool pods_changed(const tw_config_t *a, const tw_config_t *b)
{
    const __typeof__(a->collector.kubernetes) *x = &a->collector.kubernetes,
                                              *y = &b->collector.kubernetes;
    return !str_eq(x->pods_url, y->pods_url) ||
           !str_eq(x->bearer_token_file, y->bearer_token_file) || !str_eq(x->ca_file, y->ca_file) ||
           x->insecure_skip_verify != y->insecure_skip_verify ||
           x->refresh_interval_ms != y->refresh_interval_ms;
}

/* Only a new address needs a new server (binding the same address twice would fail); the body
 * limit changes live, and the connection settings wait for the next start. */
static bool web_changed(const tw_config_t *a, const tw_config_t *b)
{
    return !str_eq(a->web.listen_address, b->web.listen_address);
}

/* ---- the pieces -------------------------------------------------------------------------- */

static tw_collect_snapshot_t *op_snapshot(void *ctx)
{
    tw_daemon_t *d = ctx;
    return tw_collect_loop_snapshot(d->loop);
}

static bool op_ready(void *ctx)
{
    tw_daemon_t *d = ctx;
    return tw_collect_loop_ready(d->loop);
}

static void op_self_metrics(void *ctx, tw_mset_t *out)
{
    tw_daemon_t *d = ctx;
    tw_selfmetrics_sources_t src = {.loop = d->loop, .proc_root = "/proc"};
    pthread_mutex_lock(&d->state_mu);
    src.http = d->http;
    src.pods_fetcher = d->fetcher;
    src.tsdb = d->tsdb;
    src.scrape = d->scrape;
    src.remote_write = d->rw;
    src.reload_ok = d->reload_ok;
    src.reload_success_ms = d->reload_success_ms;
    tw_selfmetrics_collect(&src, out);
    pthread_mutex_unlock(&d->state_mu);
    tw_autoscale_loop_collect_metrics(d->autoscale, out);
    tw_vpa_loop_collect_metrics(d->vpa, out);
    tw_vpa_webhook_collect(d->vpa_webhook, out);
    tw_alerting_collect_metrics(d->alerting, out);
}

/* /-/reload: hand the request to the main loop and wait for its answer. */
static int op_reload(void *ctx, tw_error_t *err)
{
    tw_daemon_t *d = ctx;
    reload_req_t req = {0};
    uint64_t one = 1;
    int rc;

    pthread_mutex_lock(&d->state_mu);
    if (!d->running || __atomic_load_n(&d->shutdown, __ATOMIC_SEQ_CST)) {
        pthread_mutex_unlock(&d->state_mu);
        return tw_error_set(err, TW_ESTATE, "the daemon is not running its main loop");
    }
    req.next = d->reqs;
    d->reqs = &req;
    if (write(d->event_fd, &one, sizeof(one)) < 0) {
        /* The counter cannot overflow in practice; the main loop also drains on wakeups. */
    }
    while (!req.done) {
        pthread_cond_wait(&d->state_cond, &d->state_mu);
    }
    rc = req.rc;
    pthread_mutex_unlock(&d->state_mu);
    if (rc != 0 && err != NULL) {
        *err = req.err;
    }
    return rc;
}

/*
 * POST /api/v1/admin/tsdb/snapshot[?skip_head=true]: Prometheus' admin API. Writes the blocks
 * (and the head, unless skipped) under <storage.path>/snapshots/<name>/ and answers
 * {"status":"success","data":{"name":"<name>"}}.
 */
static int handle_snapshot(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    tw_daemon_t *d = ctx;
    const char *skip = tw_http_request_arg(req, "skip_head");
    bool skip_head = false;
    if (skip != NULL && skip[0] != '\0') {
        if (strcmp(skip, "true") == 0 || strcmp(skip, "1") == 0 || strcmp(skip, "t") == 0 ||
            strcmp(skip, "TRUE") == 0 || strcmp(skip, "True") == 0 || strcmp(skip, "T") == 0) {
            skip_head = true;
        } else if (!(strcmp(skip, "false") == 0 || strcmp(skip, "0") == 0 ||
                     strcmp(skip, "f") == 0 || strcmp(skip, "FALSE") == 0 ||
                     strcmp(skip, "False") == 0 || strcmp(skip, "F") == 0)) {
            resp->status = 400;
            resp->content_type = "application/json";
            tw_buf_printf(&resp->body, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
                                       "\"unable to parse boolean 'skip_head' argument\"}");
            return 0;
        }
    }
    char name[128];
    tw_error_t err;
    tw_error_clear(&err);
    resp->content_type = "application/json";
    if (tw_tsdb_snapshot(d->tsdb, tw_now_ms(), skip_head, name, sizeof(name), &err) != 0) {
        char msg[sizeof(err.msg) + sizeof(err.file) + 32];
        tw_error_format(&err, msg, sizeof(msg));
        for (char *p = msg; *p != '\0'; p++) {
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
                *p = ' ';
            }
        }
        resp->status = 500;
        tw_buf_printf(&resp->body,
                      "{\"status\":\"error\",\"errorType\":\"internal\",\"error\":"
                      "\"create snapshot: %s\"}",
                      msg);
        return 0;
    }
    tw_log(TW_LOG_INFO, "tsdb", "Snapshot created", "name", name, NULL);
    tw_buf_printf(&resp->body, "{\"status\":\"success\",\"data\":{\"name\":\"%s\"}}", name);
    return 0;
}

/* GET /api/v1/autoscalers: spec, status, conditions and the last decisions of every HPA. */
static int handle_autoscalers(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    tw_daemon_t *d = ctx;
    (void)req;
    resp->status = 200;
    resp->content_type = "application/json";
    tw_buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
    if (tw_autoscale_loop_status_json(d->autoscale, &resp->body) != 0) {
        tw_buf_reset(&resp->body);
        resp->status = 500;
        tw_buf_puts(&resp->body, "{\"status\":\"error\",\"errorType\":\"internal\",\"error\":"
                                 "\"the autoscaler status does not fit the response\"}");
        return 0;
    }
    tw_buf_putc(&resp->body, '}');
    return 0;
}

static void engine_options(const tw_config_t *c, tw_promql_engine_options_t *o);

/* A tw_vpa_leader_fn: the VPA updater follows the autoscaler loop's Lease (ctx: that loop). */
static bool vpa_leader(void *ctx)
{
    return tw_autoscale_loop_is_leader(ctx);
}

/*
 * What the webhook listener was started from: the address and both files, with the files'
 * size and modification time, so that a reload after a certificate was rotated in place (a
 * Secret volume, cert-manager) restarts the listener with the new one. Caller frees; NULL
 * when the webhook is off.
 */
static char *vpa_webhook_key(const tw_config_t *c)
{
    const __typeof__(c->autoscaling.admission_webhook) *wh = &c->autoscaling.admission_webhook;
    if (wh->listen_address[0] == '\0') {
        return NULL;
    }
    const char *files[2] = {wh->cert_file, wh->key_file};
    char id[2][64];
    for (size_t i = 0; i < 2; i++) {
        struct stat st;
        if (stat(files[i], &st) != 0) {
            snprintf(id[i], sizeof(id[i]), "-");
        } else {
            snprintf(id[i], sizeof(id[i]), "%lld.%09ld:%lld", (long long)st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec, (long long)st.st_size);
        }
    }
    size_t n = strlen(wh->listen_address) + strlen(wh->cert_file) + strlen(wh->key_file) +
               strlen(id[0]) + strlen(id[1]) + 8;
    char *key = tw_xmalloc(n);
    snprintf(key, n, "%s\n%s@%s\n%s@%s", wh->listen_address, wh->cert_file, id[0], wh->key_file,
             id[1]);
    return key;
}

/*
 * Starts, moves or stops the VPA admission webhook's listener to match
 * c->autoscaling.admission_webhook. An unchanged setting (and unchanged files) keeps the
 * running listener and its connections. When the new listener cannot start, the previous one
 * (prev, NULL: none) is started again and the error returned, so a bad reload leaves the
 * webhook as it was. While it is off the VPA loop does not evict (Recreate patches pod
 * templates).
 */
static int vpa_webhook_apply(tw_daemon_t *d, const tw_config_t *c, const tw_config_t *prev,
                             tw_error_t *err)
{
    char *key = vpa_webhook_key(c);
    bool same = key == NULL ? d->vpa_webhook_key == NULL
                            : d->vpa_webhook_key != NULL && strcmp(key, d->vpa_webhook_key) == 0;
    if (same) {
        free(key);
        return 0;
    }
    bool was_on = d->vpa_webhook_key != NULL;
    tw_vpa_webhook_stop(d->vpa_webhook);
    free(d->vpa_webhook_key);
    d->vpa_webhook_key = NULL;
    if (key == NULL) {
        return 0;
    }
    const __typeof__(c->autoscaling.admission_webhook) *wh = &c->autoscaling.admission_webhook;
    int rc =
        tw_vpa_webhook_listen(d->vpa_webhook, wh->listen_address, wh->cert_file, wh->key_file, err);
    free(key);
    if (rc == 0) {
        d->vpa_webhook_key = vpa_webhook_key(c);
        return 0;
    }
    if (was_on && prev != NULL) {
        const __typeof__(prev->autoscaling.admission_webhook) *pw =
            &prev->autoscaling.admission_webhook;
        tw_error_t perr;
        tw_error_clear(&perr);
        if (tw_vpa_webhook_listen(d->vpa_webhook, pw->listen_address, pw->cert_file, pw->key_file,
                                  &perr) == 0) {
            d->vpa_webhook_key = vpa_webhook_key(prev);
        } else {
            tw_log(TW_LOG_ERROR, "vpa-webhook",
                   "Cannot restart the previous admission webhook listener: the VPA updater "
                   "will not evict until a reload starts one",
                   "err", perr.msg, NULL);
        }
    }
    return rc;
}

/*
 * Hands c's autoscaling settings to the autoscaler loops with a fresh engine view. On success c
 * becomes the config the loops borrow (d->as_cfg); the caller decides about the previous one.
 * On failure nothing changes: the webhook is set up first (and restored when it cannot be), and
 * a VPA loop that refuses c puts the horizontal loop back on the previous settings.
 */
static int autoscale_configure(tw_daemon_t *d, tw_config_t *c, tw_error_t *err)
{
    int rc = vpa_webhook_apply(d, c, d->as_cfg, err);
    if (rc != 0) {
        return rc;
    }
    tw_promql_qs_t *qsc = tw_xcalloc(1, sizeof(*qsc));
    tw_query_source_t qs;
    engine_options(c, &qsc->opts);
    tw_promql_storage_tsdb(d->tsdb, &qsc->storage);
    tw_promql_query_source(qsc, &qs);
    rc = tw_autoscale_loop_configure(d->autoscale, c, &qs, err);
    if (rc == 0) {
        /* The same query source for both loops: they swap it together on reload. */
        rc = tw_vpa_loop_configure(d->vpa, c, &qs, err);
        if (rc != 0 && d->as_cfg != NULL && d->as_qs != NULL) {
            tw_query_source_t old;
            tw_error_t rerr;
            tw_error_clear(&rerr);
            tw_promql_query_source(d->as_qs, &old);
            if (tw_autoscale_loop_configure(d->autoscale, d->as_cfg, &old, &rerr) != 0) {
                tw_log(TW_LOG_ERROR, "autoscaler",
                       "Cannot put the horizontal autoscalers back on the previous settings", "err",
                       rerr.msg, NULL);
            }
        }
    }
    if (rc != 0) {
        (void)vpa_webhook_apply(d, d->as_cfg != NULL ? d->as_cfg : c, NULL, NULL);
        free(qsc);
        return rc;
    }
    free(d->as_qs);
    d->as_qs = qsc;
    d->as_cfg = c;
    char n[32], sync[32];
    snprintf(n, sizeof(n), "%zu", c->autoscaling.n_horizontal);
    tw_log(TW_LOG_INFO, "autoscaler", "Autoscalers configured", "horizontal", n, "driver",
           c->autoscaling.driver.type, "sync_period",
           tw_duration_format(c->autoscaling.sync_period_ms, sync, sizeof(sync)), "leader_election",
           c->autoscaling.leader_election.enabled ? "true" : "false", NULL);
    return 0;
}

/* ---- the query API's view of the daemon ------------------------------------------------ */

static void engine_options(const tw_config_t *c, tw_promql_engine_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->compat = (tw_promql_compat_t)c->query.compat;
    o->lookback_delta_ms = c->query.lookback_delta_ms;
    o->max_samples = (size_t)c->query.max_samples;
    o->timeout_ms = c->query.timeout_ms;
    o->delayed_name_removal = c->query.delayed_name_removal;
}

/* Records what the API callbacks show of c (main thread; under state_mu for readers). */
static void api_config_publish(tw_daemon_t *d, const tw_config_t *c)
{
    tw_buf_t text;
    tw_buf_init(&text, TW_CONFIG_MAX_BYTES);
    if (d->config_file == NULL || tw_buf_read_file(&text, d->config_file, NULL) != 0) {
        tw_buf_reset(&text);
        tw_buf_puts(&text, d->config_file == NULL ? tw_config_default_yaml() : "");
    }
    char *yaml = tw_buf_steal(&text, NULL);
    tw_buf_fini(&text);
    pthread_mutex_lock(&d->state_mu);
    free(d->config_text);
    free(d->listen_address);
    free(d->storage_path);
    d->config_text = yaml;
    d->listen_address = tw_xstrdup(c->web.listen_address);
    d->storage_path = tw_xstrdup(c->storage.path);
    d->query_compat = c->query.compat;
    d->retention_ms = c->storage.retention_time_ms;
    d->retention_bytes = c->storage.retention_size_bytes;
    engine_options(c, &d->engine_opts);
    pthread_mutex_unlock(&d->state_mu);
    if (d->api != NULL) {
        tw_query_api_set_engine_options(d->api, &d->engine_opts);
    }
}

static int api_config_yaml(void *ctx, tw_buf_t *out, tw_error_t *err)
{
    tw_daemon_t *d = ctx;
    (void)err;
    pthread_mutex_lock(&d->state_mu);
    int rc = tw_buf_puts(out, d->config_text != NULL ? d->config_text : "");
    pthread_mutex_unlock(&d->state_mu);
    return rc;
}

/* Appends "name":"value" (with a leading comma unless first). */
static void json_member(tw_buf_t *out, bool first, const char *name, const char *value)
{
    if (!first) {
        tw_buf_putc(out, ',');
    }
    tw_query_api_json_string(out, name);
    tw_buf_putc(out, ':');
    tw_query_api_json_string(out, value);
}

static int api_flags(void *ctx, tw_buf_t *out, tw_error_t *err)
{
    tw_daemon_t *d = ctx;
    char lb[32], to[32], ms[32], ret[32];
    (void)err;
    pthread_mutex_lock(&d->state_mu);
    tw_buf_t dur;
    tw_buf_init(&dur, 64);
    tw_promql_duration_format(d->engine_opts.lookback_delta_ms, &dur);
    tw_strlcpy(lb, dur.data != NULL ? dur.data : "", sizeof(lb));
    tw_buf_reset(&dur);
    tw_promql_duration_format(d->engine_opts.timeout_ms, &dur);
    tw_strlcpy(to, dur.data != NULL ? dur.data : "", sizeof(to));
    tw_buf_reset(&dur);
    tw_promql_duration_format(d->retention_ms, &dur);
    tw_strlcpy(ret, dur.data != NULL ? dur.data : "", sizeof(ret));
    tw_buf_fini(&dur);
    snprintf(ms, sizeof(ms), "%zu", d->engine_opts.max_samples);
    /* Sorted by name, as Prometheus' map comes out of encoding/json. */
    tw_buf_putc(out, '{');
    json_member(out, true, "config.file", d->config_file != NULL ? d->config_file : "");
    json_member(out, false, "query.compat",
                d->query_compat == TW_PROMQL_COMPAT_PROMETHEUS2 ? "prometheus2" : "prometheus3");
    json_member(out, false, "query.lookback-delta", lb);
    json_member(out, false, "query.max-samples", ms);
    json_member(out, false, "query.timeout", to);
    json_member(out, false, "storage.tsdb.path", d->storage_path != NULL ? d->storage_path : "");
    json_member(out, false, "storage.tsdb.retention.time", ret);
    json_member(out, false, "web.enable-admin-api", d->admin_enabled ? "true" : "false");
    json_member(out, false, "web.enable-remote-write-receiver", d->rw_enabled ? "true" : "false");
    json_member(out, false, "web.listen-address",
                d->listen_address != NULL ? d->listen_address : "");
    tw_buf_putc(out, '}');
    pthread_mutex_unlock(&d->state_mu);
    return 0;
}

/* Threads of this process (Prometheus reports goroutines). */
static long thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long n = 0;
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Threads:", 8) == 0) {
            n = strtol(line + 8, NULL, 10);
            break;
        }
    }
    fclose(f);
    return n;
}

static int api_runtime_info(void *ctx, tw_buf_t *out, tw_error_t *err)
{
    tw_daemon_t *d = ctx;
    char cwd[4096], ret[64];
    tw_tsdb_stats_t st;
    (void)err;
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        cwd[0] = '\0';
    }
    tw_tsdb_stats_get(d->tsdb, &st);
    pthread_mutex_lock(&d->state_mu);
    tw_buf_t r;
    tw_buf_init(&r, 64);
    tw_promql_duration_format(d->retention_ms, &r);
    if (d->retention_bytes > 0) {
        tw_buf_printf(&r, " or %lluB", (unsigned long long)d->retention_bytes);
    }
    tw_strlcpy(ret, r.data != NULL ? r.data : "", sizeof(ret));
    tw_buf_fini(&r);
    tw_buf_puts(out, "{\"startTime\":");
    tw_query_api_json_time(out, d->start_ms);
    tw_buf_puts(out, ",\"CWD\":");
    tw_query_api_json_string(out, cwd);
    tw_buf_printf(
        out, ",\"reloadConfigSuccess\":%s,\"lastConfigTime\":", d->reload_ok ? "true" : "false");
    tw_query_api_json_time(out, d->reload_success_ms);
    tw_buf_printf(out,
                  ",\"corruptionCount\":%llu,\"goroutineCount\":%ld,\"GOMAXPROCS\":%ld,"
                  "\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":",
                  (unsigned long long)st.wal_corruptions, thread_count(),
                  sysconf(_SC_NPROCESSORS_ONLN));
    tw_query_api_json_string(out, ret);
    tw_buf_putc(out, '}');
    pthread_mutex_unlock(&d->state_mu);
    return 0;
}

static int api_head_stats(void *ctx, tw_query_api_head_stats_t *out, tw_error_t *err)
{
    tw_daemon_t *d = ctx;
    tw_tsdb_stats_t st;
    (void)err;
    tw_tsdb_stats_get(d->tsdb, &st);
    out->num_series = st.head_series;
    out->chunk_count = st.head_chunks;
    out->min_time_ms = st.head_min_time;
    out->max_time_ms = st.head_max_time;
    return 0;
}

static void json_labels(tw_buf_t *out, const tw_label_t *l, size_t n)
{
    tw_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        json_member(out, i == 0, l[i].name, l[i].value);
    }
    tw_buf_putc(out, '}');
}

/* /api/v1/targets from the scrape manager (no dropped targets are kept). */
static int api_targets(void *ctx, const char *state, tw_buf_t *out, tw_error_t *err)
{
    tw_daemon_t *d = ctx;
    tw_scrape_target_info_t *ts = NULL;
    size_t n = 0;
    bool any = state[0] == '\0' || strcmp(state, "any") == 0;
    bool active = any || strcmp(state, "active") == 0;
    bool dropped = any || strcmp(state, "dropped") == 0;
    pthread_mutex_lock(&d->state_mu);
    bool p2 = d->query_compat == TW_PROMQL_COMPAT_PROMETHEUS2;
    int rc = active && d->scrape != NULL ? tw_scrape_manager_targets(d->scrape, &ts, &n) : 0;
    pthread_mutex_unlock(&d->state_mu);
    if (rc != 0) {
        return tw_error_set(err, rc, "listing targets: %s", tw_strerror(rc));
    }
    tw_buf_puts(out, "{\"activeTargets\":[");
    for (size_t i = 0; i < n; i++) {
        const tw_scrape_target_info_t *t = &ts[i];
        tw_buf_puts(out, i > 0 ? ",{\"discoveredLabels\":" : "{\"discoveredLabels\":");
        json_labels(out, t->discovered_labels, t->ndiscovered_labels);
        tw_buf_puts(out, ",\"labels\":");
        json_labels(out, t->labels, t->nlabels);
        json_member(out, false, "scrapePool", t->scrape_pool);
        json_member(out, false, "scrapeUrl", t->scrape_url);
        json_member(out, false, "globalUrl", t->global_url);
        json_member(out, false, "lastError", t->last_error);
        tw_buf_puts(out, ",\"lastScrape\":");
        if (t->last_scrape_ms == 0) {
            tw_buf_puts(out, "\"0001-01-01T00:00:00Z\"");
        } else {
            tw_query_api_json_time(out, t->last_scrape_ms);
        }
        tw_buf_puts(out, ",\"lastScrapeDuration\":");
        tw_query_api_json_float(out, t->last_scrape_duration_s);
        json_member(out, false, "health", tw_scrape_health_name(t->health));
        tw_buf_t dur;
        tw_buf_init(&dur, 64);
        tw_promql_duration_format(t->scrape_interval_ms, &dur);
        json_member(out, false, "scrapeInterval", dur.data != NULL ? dur.data : "");
        tw_buf_reset(&dur);
        tw_promql_duration_format(t->scrape_timeout_ms, &dur);
        json_member(out, false, "scrapeTimeout", dur.data != NULL ? dur.data : "");
        tw_buf_fini(&dur);
        tw_buf_putc(out, '}');
    }
    tw_buf_puts(out, "],\"droppedTargets\":[]");
    if (!p2) {
        /* 3.x counts dropped targets per pool; none are kept, so every pool has 0. */
        tw_buf_puts(out, ",\"droppedTargetCounts\":{");
        for (size_t i = 0, k = 0; dropped && i < n; i++) {
            if (i > 0 && strcmp(ts[i].scrape_pool, ts[i - 1].scrape_pool) == 0) {
                continue;
            }
            if (k++ > 0) {
                tw_buf_putc(out, ',');
            }
            tw_query_api_json_string(out, ts[i].scrape_pool);
            tw_buf_puts(out, ":0");
        }
        tw_buf_putc(out, '}');
    }
    tw_buf_putc(out, '}');
    tw_scrape_target_infos_free(ts, n);
    return 0;
}

/* Creates the query API over the open TSDB (main thread, at start). */
static void api_create(tw_daemon_t *d)
{
    char compiler[64];
    snprintf(compiler, sizeof(compiler), "gcc %d.%d", __GNUC__, __GNUC_MINOR__);
    tw_query_api_config_t ac = {
        .build = {.version = TW_VERSION,
                  .revision = TW_REVISION,
                  .branch = "",
                  .build_user = "",
                  .build_date = "",
                  .go_version = compiler},
        .ctx = d,
        .targets = api_targets,
        .runtime_info = api_runtime_info,
        .flags = api_flags,
        .config_yaml = api_config_yaml,
        .head_stats = api_head_stats,
    };
    tw_label_t ext[64];
    size_t n_ext = 0;
    for (size_t i = 0; i < d->cfg->global.n_external_labels && n_ext < 64; i++) {
        ext[n_ext].name = d->cfg->global.external_labels[i].name;
        ext[n_ext].value = d->cfg->global.external_labels[i].value;
        n_ext++;
    }
    ac.external_labels = ext;
    ac.n_external_labels = n_ext;
    tw_promql_storage_tsdb(d->tsdb, &ac.storage);
    engine_options(d->cfg, &ac.engine);
    d->api = tw_query_api_new(&ac);
}

/* Starts a server on c's address with every route; *rw receives the remote_write handler
 * registered on it (NULL when the receiver is off), to be freed after the server. */
static tw_http_server_t *http_start(tw_daemon_t *d, const tw_config_t *c,
                                    tw_remote_write_handler_t **rw, tw_error_t *err)
{
    *rw = NULL;
    tw_http_server_options_t o = {
        .listen_address = c->web.listen_address,
        .threads = 4,
        .max_body_bytes = c->web.max_request_body_bytes,
        .timeout_s =
            (unsigned)(c->web.read_timeout_ms / 1000 > 0 ? c->web.read_timeout_ms / 1000 : 1),
        .max_connections = (unsigned)c->web.max_connections,
    };
    tw_http_server_t *srv = tw_http_server_new(&o, err);
    if (srv == NULL) {
        return NULL;
    }
    tw_remote_write_options_t rwo = {.path = NULL};
    rwo.limits.max_body_bytes = c->web.max_request_body_bytes;
    if (tw_web_routes_register(srv, &d->ops) != 0 ||
        (d->api != NULL && tw_query_api_register(srv, d->api) != 0) ||
        (d->admin_enabled && tw_http_server_route(srv, "POST", "/api/v1/admin/tsdb/snapshot",
                                                  handle_snapshot, d) != 0) ||
        (d->admin_enabled && tw_http_server_route(srv, "PUT", "/api/v1/admin/tsdb/snapshot",
                                                  handle_snapshot, d) != 0) ||
        tw_http_server_route(srv, "GET", "/api/v1/autoscalers", handle_autoscalers, d) != 0 ||
        tw_http_server_route(srv, "GET", "/api/v1/recommendations", tw_vpa_api_recommendations,
                             d->vpa) != 0 ||
        (d->alerting != NULL && tw_alerting_register(srv, d->alerting) != 0) ||
        (d->rw_enabled && tw_remote_write_handler_register(srv, &rwo, &d->sink, rw) != 0) ||
        tw_http_server_start(srv, err) != 0) {
        if (err != NULL && err->msg[0] == '\0') {
            tw_error_set(err, TW_EINVAL, "cannot start the web server on %s",
                         c->web.listen_address);
        }
        tw_http_server_free(srv);
        tw_remote_write_handler_free(*rw);
        *rw = NULL;
        return NULL;
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", tw_http_server_port(srv));
    tw_log(TW_LOG_INFO, "web", "Listening on", "address", c->web.listen_address, "port", port,
           NULL);
    return srv;
}

static tw_cgroup_pods_fetcher_t *fetcher_start(tw_daemon_t *d, const tw_config_t *c,
                                               tw_error_t *err)
{
    const __typeof__(c->collector.kubernetes) *k = &c->collector.kubernetes;
    tw_cgroup_collector_t *cg = tw_collect_loop_cgroup(d->loop);
    if (k->pods_url[0] == '\0' || cg == NULL) {
        return NULL;
    }
    tw_cgroup_pods_fetcher_options_t o = {
        .url = k->pods_url,
        .bearer_token_file = k->bearer_token_file[0] != '\0' ? k->bearer_token_file : NULL,
        .ca_file = k->ca_file[0] != '\0' ? k->ca_file : NULL,
        .insecure_skip_verify = k->insecure_skip_verify,
        .interval_ms = k->refresh_interval_ms,
    };
    tw_cgroup_pods_fetcher_t *f = tw_cgroup_pods_fetcher_start(&o, cg, err);
    if (f != NULL) {
        tw_log(TW_LOG_INFO, "daemon", "Pod metadata fetcher started", "url", k->pods_url, NULL);
    }
    return f;
}

/* Creates dir and its parents (mkdir -p). */
static int mkdir_all(const char *dir, tw_error_t *err)
{
    char *p = tw_xstrdup(dir);
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        bool end = *s == '\0';
        if (*s != '/' && !end) {
            continue;
        }
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = tw_error_set(err, -errno, "create storage directory %s: %s", p, strerror(errno));
        }
        if (end) {
            break;
        }
        *s = '/';
    }
    free(p);
    return rc;
}

static int storage_lock(tw_daemon_t *d, tw_error_t *err)
{
    const char *dir = d->cfg->storage.path;
    size_t n = strlen(dir) + sizeof("/lock");
    int rc = mkdir_all(dir, err);
    if (rc != 0) {
        return rc;
    }
    d->lock_path = tw_xmalloc(n);
    snprintf(d->lock_path, n, "%s/lock", dir);
    d->lock_fd = open(d->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->lock_fd < 0) {
        return tw_error_set(err, -errno, "open lock file %s: %s", d->lock_path, strerror(errno));
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(d->lock_fd);
        d->lock_fd = -1;
        if (e == EWOULDBLOCK) {
            return tw_error_set(err, TW_ECONFLICT,
                                "storage directory %s is in use: %s is locked by another "
                                "process (is another tidewatch running with this "
                                "--storage.tsdb.path?)",
                                dir, d->lock_path);
        }
        return tw_error_set(err, -e, "lock %s: %s", d->lock_path, strerror(e));
    }
    /* The holder's pid, for people looking at the directory. */
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(d->lock_fd, 0) != 0 || write(d->lock_fd, pid, (size_t)len) != len) {
        /* Informational only; the lock is what matters. */
    }
    return 0;
}

static void storage_unlock(tw_daemon_t *d)
{
    if (d->lock_fd >= 0) {
        flock(d->lock_fd, LOCK_UN);
        close(d->lock_fd);
        d->lock_fd = -1;
    }
}

/* Opens the TSDB in the locked storage directory (replaying its WAL) and logs what the replay
 * had to skip. */
static int storage_open(tw_daemon_t *d, tw_error_t *err)
{
    tw_tsdb_options_t o;
    tw_tsdb_options_default(&o);
    o.path = d->cfg->storage.path;
    o.retention_time_ms = d->cfg->storage.retention_time_ms;
    o.retention_size_bytes = d->cfg->storage.retention_size_bytes;
    o.out_of_order_window_ms = d->cfg->storage.out_of_order_window_ms;
    o.fsync_policy = (tw_tsdb_fsync_policy_t)d->cfg->storage.wal_fsync;
    o.fsync_interval_ms = d->cfg->storage.wal_fsync_interval_ms;
    o.wal_segment_bytes = (size_t)d->cfg->storage.wal_segment_bytes;
    int64_t t0 = tw_mono_ns();
    int rc = tw_tsdb_open(&o, &d->tsdb, err);
    if (rc != 0) {
        return rc;
    }
    d->sink = tw_tsdb_sink(d->tsdb);
    char took[32];
    snprintf(took, sizeof(took), "%.3fs", (double)(tw_mono_ns() - t0) / 1e9);
    const tw_tsdb_replay_report_t *rep = tw_tsdb_replay_report(d->tsdb);
    if (rep->message[0] != '\0') {
        /* The WAL is damaged: say exactly what replay skipped, once, at start. */
        tw_log(TW_LOG_WARN, "tsdb", "WAL replay skipped damaged data", "report", rep->message,
               NULL);
    }
    const char *blocks = tw_tsdb_blocks_report(d->tsdb);
    if (blocks != NULL && blocks[0] != '\0') {
        tw_log(TW_LOG_WARN, "tsdb", "Skipped damaged blocks or removed leftovers", "report", blocks,
               NULL);
    }
    char series[32], samples[32];
    snprintf(series, sizeof(series), "%llu", (unsigned long long)rep->series);
    snprintf(samples, sizeof(samples), "%llu", (unsigned long long)rep->samples);
    tw_log(TW_LOG_INFO, "tsdb", "TSDB started", "path", d->cfg->storage.path, "duration", took,
           "replayed_series", series, "replayed_samples", samples, NULL);
    return 0;
}

/* The jitter seed Prometheus uses: hostname plus external labels. */
static void jitter_seed(const tw_config_t *c, char *out, size_t outsz)
{
    size_t off = 0;
    if (gethostname(out, outsz) != 0) {
        out[0] = '\0';
    }
    out[outsz - 1] = '\0';
    off = strlen(out);
    for (size_t i = 0; i < c->global.n_external_labels && off < outsz; i++) {
        int n = snprintf(out + off, outsz - off, ",%s=%s", c->global.external_labels[i].name,
                         c->global.external_labels[i].value);
        off += n > 0 ? (size_t)n : 0;
    }
}

static int scrape_start(tw_daemon_t *d, tw_error_t *err)
{
    char seed[512];
    jitter_seed(d->cfg, seed, sizeof(seed));
    tw_scrape_manager_options_t o = {.jitter_seed = seed, .user_agent = "tidewatch/" TW_VERSION};
    d->scrape = tw_scrape_manager_new(&d->sink, &o, err);
    if (d->scrape == NULL) {
        return err != NULL && err->code != 0 ? err->code : TW_EINVAL;
    }
    return tw_scrape_manager_apply(d->scrape, d->cfg->scrape_configs, d->cfg->n_scrape_configs,
                                   err);
}

/* Creates the rules loop and the notifier (outbox in <storage.path>/notify) and loads the rule
 * files; a bad rule file fails the start, as it fails Prometheus'. */
static int alerting_setup(tw_daemon_t *d, tw_error_t *err)
{
    size_t n = strlen(d->cfg->storage.path) + sizeof("/notify");
    char *outbox = tw_xmalloc(n);
    snprintf(outbox, n, "%s/notify", d->cfg->storage.path);
    d->alerting = tw_alerting_new(d->tsdb, &d->sink, outbox);
    free(outbox);
    return tw_alerting_configure(d->alerting, d->cfg, err);
}

/* ---- public ------------------------------------------------------------------------------- */

tw_daemon_t *tw_daemon_new(const tw_daemon_options_t *o, tw_error_t *err)
{
    tw_daemon_t *d = tw_xcalloc(1, sizeof(*d));
    d->config_file = o->config_file != NULL ? tw_xstrdup(o->config_file) : NULL;
    d->ovr_listen = o->overrides.listen_address ? tw_xstrdup(o->overrides.listen_address) : NULL;
    d->ovr_storage = o->overrides.storage_path ? tw_xstrdup(o->overrides.storage_path) : NULL;
    d->ovr_retention = o->overrides.retention_time ? tw_xstrdup(o->overrides.retention_time) : NULL;
    const char *qo[4] = {o->overrides.query_compat, o->overrides.query_lookback_delta,
                         o->overrides.query_max_samples, o->overrides.query_timeout};
    for (size_t i = 0; i < 4; i++) {
        d->ovr_query[i] = qo[i] != NULL ? tw_xstrdup(qo[i]) : NULL;
    }
    d->lock_fd = -1;
    d->rw_enabled = o->enable_remote_write;
    d->admin_enabled = o->enable_admin_api;
    d->sig_fd = -1;
    d->event_fd = -1;
    pthread_mutex_init(&d->state_mu, NULL);
    pthread_cond_init(&d->state_cond, NULL);
    d->ops.ctx = d;
    d->ops.snapshot = op_snapshot;
    d->ops.self_metrics = op_self_metrics;
    d->ops.ready = op_ready;
    d->ops.reload = op_reload;
    d->loop = tw_collect_loop_new();
    d->autoscale = tw_autoscale_loop_new();
    d->vpa = tw_vpa_loop_new();
    d->vpa_webhook = tw_vpa_webhook_new(d->vpa);
    tw_vpa_loop_set_webhook(d->vpa, tw_vpa_webhook_ready, d->vpa_webhook);
    tw_vpa_loop_set_leader(d->vpa, vpa_leader, d->autoscale);

    tw_log(TW_LOG_INFO, "daemon", "Loading configuration file", "filename",
           d->config_file != NULL ? d->config_file : "<default>", NULL);
    if (config_load(d, &d->cfg, err) != 0) {
        tw_daemon_free(d);
        return NULL;
    }
    return d;
}

int tw_daemon_start(tw_daemon_t *d, tw_error_t *err)
{
    sigset_t set;
    char node[256];
    tw_collect_loop_options_t lo;
    int rc;

    /* Before any thread exists, so all inherit the mask and only the signalfd sees these. */
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    d->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    d->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->sig_fd < 0 || d->event_fd < 0) {
        return tw_error_set(err, -errno, "signalfd/eventfd: %s", strerror(errno));
    }

    char version[160];
    snprintf(version, sizeof(version), "(version=%s, revision=%s, build_type=%s)", TW_VERSION,
             TW_REVISION, TW_BUILD_TYPE);
    tw_log(TW_LOG_INFO, "daemon", "Starting tidewatch", "version", version, "config",
           d->config_file != NULL ? d->config_file : "<default>", NULL);

    /* The cgroup collector keeps a descriptor per cgroup file open between collections (a
     * third of the syscalls): give it the hard limit to work with. */
    tw_error_t nerr;
    uint64_t nofile = 0;
    if (tw_cgroup_nofile_raise(0, &nofile, &nerr) != 0) {
        tw_log(TW_LOG_WARN, "daemon", "Cannot raise the open-files limit", "err", nerr.msg, NULL);
    } else {
        char lim[32];
        snprintf(lim, sizeof(lim), "%llu", (unsigned long long)nofile);
        tw_log(TW_LOG_DEBUG, "daemon", "Open-files limit", "soft", lim, NULL);
    }
    rc = storage_lock(d, err);
    if (rc != 0) {
        return rc;
    }
    rc = storage_open(d, err);
    if (rc != 0) {
        return rc;
    }
    d->start_ms = tw_now_ms();
    api_create(d);
    api_config_publish(d, d->cfg);
    node_name_resolve(d->cfg, node, sizeof(node));
    loop_options(d->cfg, node, &lo);
    rc = tw_collect_loop_configure(d->loop, &lo, err);
    if (rc != 0) {
        return rc;
    }
    tw_collect_loop_set_sink(d->loop, &d->sink);
    rc = autoscale_configure(d, d->cfg, err);
    if (rc != 0) {
        return rc;
    }
    rc = alerting_setup(d, err);
    if (rc != 0) {
        return rc;
    }
    rc = scrape_start(d, err);
    if (rc != 0) {
        return rc;
    }
    tw_remote_write_handler_t *rw = NULL;
    tw_http_server_t *srv = http_start(d, d->cfg, &rw, err);
    if (srv == NULL) {
        return err != NULL && err->code != 0 ? err->code : TW_EIO;
    }
    tw_error_t ferr;
    tw_error_clear(&ferr);
    tw_cgroup_pods_fetcher_t *f = fetcher_start(d, d->cfg, &ferr);
    if (f == NULL && ferr.msg[0] != '\0') {
        /* Pod metadata is an enrichment: run without it rather than not at all. */
        tw_log(TW_LOG_ERROR, "daemon", "Cannot start the pod metadata fetcher", "err", ferr.msg,
               NULL);
    }
    pthread_mutex_lock(&d->state_mu);
    d->http = srv;
    d->rw = rw;
    d->fetcher = f;
    d->reload_ok = true;
    d->reload_success_ms = tw_now_ms();
    pthread_mutex_unlock(&d->state_mu);

    rc = tw_collect_loop_start(d->loop, err);
    if (rc != 0) {
        return rc;
    }
    rc = tw_autoscale_loop_start(d->autoscale, err);
    if (rc != 0) {
        return rc;
    }
    rc = tw_vpa_loop_start(d->vpa, err);
    if (rc != 0) {
        return rc;
    }
    rc = tw_alerting_start(d->alerting, err);
    if (rc != 0) {
        return rc;
    }
    tw_log(TW_LOG_INFO, "daemon", "Completed loading of configuration file", "filename",
           d->config_file != NULL ? d->config_file : "<default>", NULL);
    tw_log(TW_LOG_INFO, "daemon", "Server is ready to receive web requests.", NULL);
    return 0;
}

/* Applies a freshly loaded config. On success takes ownership of nc and sets *old_http to a
 * server the caller must free after answering waiting requests. */
static int reload_apply(tw_daemon_t *d, tw_config_t *nc, tw_http_server_t **old_http,
                        tw_remote_write_handler_t **old_rw, tw_error_t *err)
{
    tw_config_t *oc = d->cfg;
    bool ch_web = web_changed(oc, nc);
    bool ch_collect = collect_changed(oc, nc);
    bool ch_pods = ch_collect || pods_changed(oc, nc);
    tw_http_server_t *srv = NULL;
    tw_remote_write_handler_t *rw = NULL;
    tw_cgroup_pods_fetcher_t *old_f = NULL;
    char node[256];
    tw_collect_loop_options_t lo;
    int rc = 0;

    *old_http = NULL;
    *old_rw = NULL;
    /* Scrape configs first: the manager validates and applies them as a whole, so a failure
     * leaves every other part of the old configuration untouched. */
    rc = tw_scrape_manager_apply(d->scrape, nc->scrape_configs, nc->n_scrape_configs, err);
    if (rc != 0) {
        return rc;
    }
    if (!ch_web && (oc->web.read_timeout_ms != nc->web.read_timeout_ms ||
                    oc->web.max_connections != nc->web.max_connections)) {
        tw_log(TW_LOG_WARN, "daemon",
               "web.read_timeout and web.max_connections changes take effect at the next start "
               "or with a new listen_address",
               NULL);
    }
    if (ch_web) {
        srv = http_start(d, nc, &rw, err);
        if (srv == NULL) {
            (void)tw_scrape_manager_apply(d->scrape, oc->scrape_configs, oc->n_scrape_configs,
                                          NULL);
            return err != NULL && err->code != 0 ? err->code : TW_EIO;
        }
    }
    if (ch_pods) {
        /* The fetcher borrows the cgroup collector: stop it before the collector changes. */
        pthread_mutex_lock(&d->state_mu);
        old_f = d->fetcher;
        d->fetcher = NULL;
        pthread_mutex_unlock(&d->state_mu);
        tw_cgroup_pods_fetcher_stop(old_f);
    }
    if (ch_collect) {
        node_name_resolve(nc, node, sizeof(node));
        loop_options(nc, node, &lo);
        rc = tw_collect_loop_configure(d->loop, &lo, err);
        if (rc != 0) {
            tw_http_server_free(srv);
            tw_remote_write_handler_free(rw);
            (void)tw_scrape_manager_apply(d->scrape, oc->scrape_configs, oc->n_scrape_configs,
                                          NULL);
            if (ch_pods) {
                tw_cgroup_pods_fetcher_t *f = fetcher_start(d, oc, NULL);
                pthread_mutex_lock(&d->state_mu);
                d->fetcher = f;
                pthread_mutex_unlock(&d->state_mu);
            }
            return rc;
        }
    }
    /* From here on the new configuration is in effect. */
    tw_cgroup_pods_fetcher_t *f = NULL;
    if (ch_pods) {
        f = fetcher_start(d, nc, err);
        if (f == NULL && err != NULL && err->msg[0] != '\0') {
            rc = err->code != 0 ? err->code : TW_EINVAL;
        }
    }
    if (!str_eq(oc->storage.path, nc->storage.path)) {
        tw_log(TW_LOG_WARN, "daemon", "storage.path changes take effect at the next start",
               "current", oc->storage.path, "configured", nc->storage.path, NULL);
    }
    pthread_mutex_lock(&d->state_mu);
    if (ch_pods) {
        d->fetcher = f;
    }
    if (srv != NULL) {
        *old_http = d->http;
        *old_rw = d->rw;
        d->http = srv;
        d->rw = rw;
    } else if (d->http != NULL) {
        tw_http_server_set_max_body_bytes(d->http, nc->web.max_request_body_bytes);
    }
    pthread_mutex_unlock(&d->state_mu);
    d->cfg = nc;
    /* The autoscaler borrows its config's manifests: a config it still uses stays alive. */
    tw_config_t *old_as = d->as_cfg;
    tw_error_t aerr;
    tw_error_clear(&aerr);
    if (autoscale_configure(d, nc, &aerr) == 0) {
        if (old_as != oc && old_as != nc) {
            tw_config_free(old_as);
        }
        tw_config_free(oc);
    } else {
        char msg[sizeof(aerr.msg) + sizeof(aerr.file) + 32];
        tw_error_format(&aerr, msg, sizeof(msg));
        tw_log(TW_LOG_ERROR, "autoscaler",
               "Cannot apply the new autoscaling settings: the autoscalers keep the previous ones",
               "err", msg, NULL);
        if (rc == 0) {
            rc = aerr.code != 0 ? aerr.code : TW_EINVAL;
            if (err != NULL) {
                *err = aerr;
            }
        }
        if (old_as != oc) {
            tw_config_free(oc);
        }
    }
    /* Rules and notifications: a bad rule file keeps the running rules (alerting.h). */
    tw_error_t alerr;
    tw_error_clear(&alerr);
    if (d->alerting != NULL && tw_alerting_configure(d->alerting, nc, &alerr) != 0 && rc == 0) {
        rc = alerr.code != 0 ? alerr.code : TW_EINVAL;
        if (err != NULL) {
            *err = alerr;
        }
    }
    api_config_publish(d, nc);
    return rc;
}

/* Loads and applies the configuration file, logs and records the outcome. *old_http: see
 * reload_apply(). */
static int reload(tw_daemon_t *d, tw_http_server_t **old_http, tw_remote_write_handler_t **old_rw,
                  tw_error_t *err)
{
    tw_config_t *nc = NULL;
    const char *name = d->config_file != NULL ? d->config_file : "<default>";
    int rc;

    *old_http = NULL;
    *old_rw = NULL;
    tw_error_clear(err);
    tw_log(TW_LOG_INFO, "daemon", "Loading configuration file", "filename", name, NULL);
    rc = config_load(d, &nc, err);
    if (rc == 0) {
        rc = reload_apply(d, nc, old_http, old_rw, err);
    }
    pthread_mutex_lock(&d->state_mu);
    d->reload_ok = rc == 0;
    if (rc == 0) {
        d->reload_success_ms = tw_now_ms();
    }
    pthread_mutex_unlock(&d->state_mu);
    if (rc != 0) {
        char msg[sizeof(err->msg) + sizeof(err->file) + 32];
        tw_error_format(err, msg, sizeof(msg));
        tw_log(TW_LOG_ERROR, "daemon", "Error reloading config", "filename", name, "err", msg,
               NULL);
        return rc;
    }
    tw_log(TW_LOG_INFO, "daemon", "Completed loading of configuration file", "filename", name,
           NULL);
    return 0;
}

int tw_daemon_reload(tw_daemon_t *d, tw_error_t *err)
{
    tw_error_t local;
    tw_http_server_t *old = NULL;
    tw_remote_write_handler_t *old_rw = NULL;
    int rc = reload(d, &old, &old_rw, err != NULL ? err : &local);
    tw_http_server_free(old);
    tw_remote_write_handler_free(old_rw);
    return rc;
}

/* How long a replaced HTTP server keeps serving the responses in flight. */
#define RETIRE_GRACE_MS 1000

/* Answers every queued /-/reload request. */
static void serve_reload_requests(tw_daemon_t *d)
{
    for (;;) {
        pthread_mutex_lock(&d->state_mu);
        reload_req_t *r = d->reqs;
        if (r != NULL) {
            d->reqs = r->next;
        }
        pthread_mutex_unlock(&d->state_mu);
        if (r == NULL) {
            return;
        }
        tw_http_server_t *old = NULL;
        tw_remote_write_handler_t *old_rw = NULL;
        int rc = reload(d, &old, &old_rw, &r->err);
        pthread_mutex_lock(&d->state_mu);
        r->rc = rc;
        r->done = true;
        pthread_cond_broadcast(&d->state_cond);
        pthread_mutex_unlock(&d->state_mu);
        /* Stopping the old server now would cut off the answer to this very request: retire
         * it after a grace period instead. */
        if (old != NULL) {
            tw_http_server_free(d->retiring);
            tw_remote_write_handler_free(d->rw_retiring);
            d->retiring = old;
            d->rw_retiring = old_rw;
            d->retire_at_ns = tw_mono_ns() + RETIRE_GRACE_MS * 1000000;
        }
    }
}

/* Fails every queued request (at shutdown). */
static void fail_reload_requests(tw_daemon_t *d)
{
    pthread_mutex_lock(&d->state_mu);
    d->running = false;
    while (d->reqs != NULL) {
        reload_req_t *r = d->reqs;
        d->reqs = r->next;
        r->rc = tw_error_set(&r->err, TW_ESTATE, "tidewatch is shutting down");
        r->done = true;
    }
    pthread_cond_broadcast(&d->state_cond);
    pthread_mutex_unlock(&d->state_mu);
}

/* How often the main thread returns free heap memory to the kernel (malloc_trim). */
#define TRIM_PERIOD_NS (60LL * 1000 * 1000 * 1000)

int tw_daemon_run(tw_daemon_t *d, tw_error_t *err)
{
    int rc = 0;
    if (d->sig_fd < 0 || d->event_fd < 0) {
        return tw_error_set(err, TW_ESTATE, "tidewatch_daemon_run before start");
    }
    pthread_mutex_lock(&d->state_mu);
    d->running = true;
    pthread_mutex_unlock(&d->state_mu);
    bool stop = __atomic_load_n(&d->shutdown, __ATOMIC_SEQ_CST);
    int64_t trim_at_ns = tw_mono_ns() + TRIM_PERIOD_NS;

    while (!stop) {
        struct pollfd pfd[2] = {{.fd = d->sig_fd, .events = POLLIN},
                                {.fd = d->event_fd, .events = POLLIN}};
        int64_t wake_ns = trim_at_ns;
        if (d->retiring != NULL && d->retire_at_ns < wake_ns) {
            wake_ns = d->retire_at_ns;
        }
        int64_t left_ns = wake_ns - tw_mono_ns();
        int timeout_ms = left_ns > 0 ? (int)(left_ns / 1000000) + 1 : 0;
        int np = poll(pfd, 2, timeout_ms);
        if (tw_mono_ns() >= trim_at_ns) {
            /* main.c keeps freed memory mapped for the next query; what a burst left free goes
             * back to the kernel once a period, so it does not stay resident for good. */
            (void)malloc_trim(0);
            trim_at_ns = tw_mono_ns() + TRIM_PERIOD_NS;
        }
        if (d->retiring != NULL && tw_mono_ns() >= d->retire_at_ns) {
            tw_http_server_free(d->retiring);
            tw_remote_write_handler_free(d->rw_retiring);
            d->retiring = NULL;
            d->rw_retiring = NULL;
        }
        if (np < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = tw_error_set(err, -errno, "poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(d->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    tw_error_t rerr;
                    (void)tw_daemon_reload(d, &rerr); /* logged by reload() */
                } else {
                    tw_log(TW_LOG_WARN, "daemon",
                           si.ssi_signo == SIGINT ? "Received SIGINT, exiting gracefully..."
                                                  : "Received SIGTERM, exiting gracefully...",
                           NULL);
                    stop = true;
                }
            }
        }
        if (pfd[1].revents & POLLIN) {
            uint64_t v;
            if (read(d->event_fd, &v, sizeof(v)) < 0) {
                /* EAGAIN: another wakeup consumed it; the queue below is what counts. */
            }
            serve_reload_requests(d);
        }
        stop = stop || __atomic_load_n(&d->shutdown, __ATOMIC_SEQ_CST);
    }
    fail_reload_requests(d);
    return rc;
}

void tw_daemon_shutdown(tw_daemon_t *d)
{
    uint64_t one = 1;
    /* No lock: this may run in a signal handler. The flag is read after the eventfd wakes the
     * loop; a racing reader sees it on the next wakeup at the latest. */
    __atomic_store_n(&d->shutdown, true, __ATOMIC_SEQ_CST);
    if (d->event_fd >= 0 && write(d->event_fd, &one, sizeof(one)) < 0) {
        /* Nothing to do: the counter is already non-zero. */
    }
}

int tw_daemon_port(tw_daemon_t *d)
{
    pthread_mutex_lock(&d->state_mu);
    int port = d->http != NULL ? tw_http_server_port(d->http) : 0;
    pthread_mutex_unlock(&d->state_mu);
    return port;
}

void tw_daemon_free(tw_daemon_t *d)
{
    if (d == NULL) {
        return;
    }
    fail_reload_requests(d);
    pthread_mutex_lock(&d->state_mu);
    tw_http_server_t *srv = d->http;
    tw_remote_write_handler_t *rw = d->rw;
    tw_cgroup_pods_fetcher_t *f = d->fetcher;
    tw_scrape_manager_t *scrape = d->scrape;
    d->http = NULL;
    d->rw = NULL;
    d->fetcher = NULL;
    d->scrape = NULL;
    pthread_mutex_unlock(&d->state_mu);
    /* HTTP first so no request sees a half-stopped daemon; then every source that appends;
     * the loop after the fetcher, which borrows its cgroup collector; storage last. */
    tw_http_server_free(d->retiring);
    tw_http_server_free(srv);
    tw_remote_write_handler_free(d->rw_retiring);
    tw_remote_write_handler_free(rw);
    tw_scrape_manager_free(scrape);
    tw_vpa_loop_stop(d->vpa); /* its thread calls the webhook and Lease checks freed below */
    tw_autoscale_loop_free(d->autoscale); /* queries the TSDB: before it closes */
    tw_vpa_webhook_free(d->vpa_webhook);  /* its handler reads the loop's recommendations */
    free(d->vpa_webhook_key);
    tw_vpa_loop_free(d->vpa);
    d->autoscale = NULL;
    tw_alerting_free(d->alerting); /* evaluates rules into the TSDB: before it closes */
    d->alerting = NULL;
    free(d->as_qs);
    tw_cgroup_pods_fetcher_stop(f);
    tw_collect_loop_free(d->loop);
    tw_query_api_free(d->api); /* every server using it is gone */
    tw_tsdb_close(d->tsdb);
    storage_unlock(d);
    bool started = d->sig_fd >= 0;
    if (d->sig_fd >= 0) {
        close(d->sig_fd);
    }
    if (d->event_fd >= 0) {
        close(d->event_fd);
    }
    /* The signals stay blocked: a late SIGTERM must not kill a process that is exiting
     * cleanly. */
    if (started) {
        tw_log(TW_LOG_INFO, "daemon", "See you next time!", NULL);
    }
    if (d->as_cfg != d->cfg) {
        tw_config_free(d->as_cfg);
    }
    tw_config_free(d->cfg);
    free(d->lock_path);
    free(d->config_file);
    free(d->ovr_listen);
    free(d->ovr_storage);
    free(d->ovr_retention);
    for (size_t i = 0; i < 4; i++) {
        free(d->ovr_query[i]);
    }
    free(d->config_text);
    free(d->listen_address);
    free(d->storage_path);
    pthread_cond_destroy(&d->state_cond);
    pthread_mutex_destroy(&d->state_mu);
    free(d);
}
