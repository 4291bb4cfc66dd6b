/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify.h - the notifier: takes alerts from the rules engine through the alert sink
 * (common/alert_sink.h) and delivers them to Alertmanagers (API v2, Prometheus 2.42's payload
 * and batching) and to webhooks (Alertmanager 0.25's grouping, timing and webhook payload
 * version 4), on its own thread, apart from rule evaluation.
 *
 * Alertmanager path: as Prometheus' notifier.Manager. Alerts get the external labels they lack,
 * go into one in-memory queue (capacity queue_capacity, oldest dropped and counted when full)
 * and are POSTed to /api/v2/alerts of every configured Alertmanager in batches of 64. Firing
 * alerts are re-sent by the rules engine every resend_delay, so a failed batch is counted and
 * not retried, exactly as Prometheus does.
 *
 * Webhook path: each webhook is a receiver with its own aggregation groups (group_by,
 * group_wait, group_interval, repeat_interval) and notification log (send_resolved), as
 * Alertmanager's dispatcher and dedup stage. A notification, once decided, is written to a
 * durable per-webhook outbox on disk (fsync'd) and then delivered oldest first with retries,
 * exponential backoff and jitter; the notification log is persisted next to it, so neither a
 * receiver outage nor a restart loses or duplicates a notification. See docs/alerting-notify.md.
 *
 * Thread model: tw_notify_sink()'s send() may be called from any thread; tw_notify_tick() and
 * the rest from one thread (the notifier's own after tw_notify_start()).
 */
#ifndef TW_ALERTING_NOTIFY_H
#define TW_ALERTING_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alert_sink.h"
#include "common/error.h"
#include "common/labels.h"
#include "common/metric_set.h"
#include "common/yaml_tree.h"

/* Prometheus' notifier defaults. */
#define TW_NOTIFY_MAX_BATCH 64
#define TW_NOTIFY_QUEUE_CAPACITY 10000

/* HTTP client settings (Prometheus' common http_config subset). Empty strings are unset. */
typedef struct tw_notify_http_config {
    char *basic_username;
    char *basic_password;
    char *basic_password_file;
    char *bearer_token; /* sent as "Authorization: <auth_type> <token>" */
    char *bearer_token_file;
    char *auth_type; /* "Bearer" unless authorization.type says otherwise */
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *server_name;
    bool insecure_skip_verify;
    bool follow_redirects; /* default true */
} tw_notify_http_config_t;

/* One entry of alerting.alertmanagers[]. */
typedef struct tw_notify_am_config {
    char *scheme;      /* "http" (default) or "https" */
    char *path_prefix; /* "" or "/prefix" */
    int64_t timeout_ms;
    char **targets; /* host:port from every static_configs[].targets[] */
    size_t n_targets;
    char **sd_files; /* file_sd_configs[].files[] patterns (glob) */
    size_t n_sd_files;
    int64_t sd_refresh_ms; /* file_sd_configs refresh_interval, default 5m */
    tw_notify_http_config_t http;
} tw_notify_am_config_t;

/* One entry of alerting.webhooks[]. Defaults are Alertmanager's route and webhook defaults. */
typedef struct tw_notify_webhook_config {
    char *name; /* the receiver name in payloads and the outbox dir; default "webhook-<index>" */
    char *url;
    char **group_by; /* label names; empty: one group for all alerts */
    size_t n_group_by;
    bool group_by_all;          /* group_by: ['...'] */
    int64_t group_wait_ms;      /* 30s */
    int64_t group_interval_ms;  /* 5m */
    int64_t repeat_interval_ms; /* 4h */
    bool send_resolved;         /* true */
    uint64_t max_alerts;        /* 0: all */
    char *hmac_secret;          /* signs the body when set (X-Tidewatch-Signature) */
    char *hmac_secret_file;
    int64_t timeout_ms; /* 10s */
    tw_notify_http_config_t http;
} tw_notify_webhook_config_t;

/* The `alerting:` section. Owned strings; free with tw_notify_config_fini(). */
typedef struct tw_notify_config {
    tw_notify_am_config_t *alertmanagers;
    size_t n_alertmanagers;
    tw_notify_webhook_config_t *webhooks;
    size_t n_webhooks;
} tw_notify_config_t;

/*
 * Fills cfg (zero it first) from the YAML value of `alerting:` (node may be NULL or null: no
 * notification targets). file names the input in errors. Unknown or duplicate keys, bad
 * durations, bad URLs, duplicate webhook names and unsupported features (relabel configs) are
 * TW_EINVAL with file:line:col in err. On error cfg is left partly filled: call fini anyway.
 */
int tw_notify_config_parse(const tw_yaml_node_t *node, const char *file, tw_notify_config_t *cfg,
                           tw_error_t *err);
/* Frees what cfg owns and zeroes it. NULL is a no-op. */
void tw_notify_config_fini(tw_notify_config_t *cfg);

/* One HTTP POST as the notifier makes it (for transports). Everything borrowed for the call. */
typedef struct tw_notify_request {
    const char *url;
    const char *const *headers; /* "Name: value" lines */
    size_t n_headers;
    const char *body;
    size_t body_len;
    const tw_notify_http_config_t *http;
    int64_t timeout_ms;
} tw_notify_request_t;

/*
 * How requests leave the process: the default is libcurl; tests inject a fake. post() returns
 * 0 with *status set to the HTTP status, or a negative TW_E* code for a failure before a status
 * (connection refused, timeout, TLS) with err filled.
 */
typedef struct tw_notify_transport {
    void *ctx;
    int (*post)(void *ctx, const tw_notify_request_t *req, int *status, tw_error_t *err);
} tw_notify_transport_t;

/* Called on the notifier thread after a notification was made durable in a webhook's outbox. */
typedef void (*tw_notify_queued_fn)(void *ctx, const char *receiver, uint64_t seq,
                                    const char *group_key, const char *body, size_t body_len);

typedef struct tw_notify_options {
    const tw_notify_config_t *config;  /* borrowed for tw_notify_new() only (copied) */
    const char *outbox_dir;            /* where webhook outboxes live; required with webhooks */
    const char *external_url;          /* "externalURL" in webhook payloads; may be NULL */
    const tw_label_t *external_labels; /* sorted; copied */
    size_t n_external_labels;
    size_t queue_capacity;                  /* Alertmanager queue; 0: TW_NOTIFY_QUEUE_CAPACITY */
    size_t outbox_max_records;              /* per webhook; 0: 10000 (oldest dropped and counted) */
    size_t outbox_max_bytes;                /* per notification body; 0: 4 MiB */
    int64_t backoff_min_ms;                 /* first retry delay; 0: 500 ms */
    int64_t backoff_max_ms;                 /* cap; 0: 60 s */
    uint64_t jitter_seed;                   /* 0: from the clock */
    const char *user_agent;                 /* NULL: "tidewatch" */
    const tw_notify_transport_t *transport; /* NULL: libcurl; borrowed for the notifier's life */
    tw_notify_queued_fn on_queued;          /* may be NULL */
    void *on_queued_ctx;
} tw_notify_options_t;

typedef struct tw_notify tw_notify_t;

/* What opening the outboxes found (summed over webhooks), for the caller to log. */
typedef struct tw_notify_replay {
    size_t pending;       /* notifications still to deliver */
    size_t skipped_bytes; /* torn or corrupt bytes skipped */
    size_t groups;        /* notification-log entries restored */
} tw_notify_replay_t;

/*
 * Creates a notifier: copies the config, opens (creating) each webhook's outbox under
 * outbox_dir and replays it into *replay (may be NULL). Returns 0 or a negative code (bad
 * options, an outbox directory that cannot be created or locked) with err filled.
 */
int tw_notify_new(const tw_notify_options_t *opts, tw_notify_t **out, tw_notify_replay_t *replay,
                  tw_error_t *err);
/* Stops the thread if running, closes the outboxes, frees. NULL is a no-op. */
void tw_notify_free(tw_notify_t *n);

/* The alert sink this notifier implements; valid while n lives. */
tw_alert_sink_t tw_notify_sink(tw_notify_t *n);

/*
 * Does everything due at now_ms (ms since epoch): flushes due aggregation groups into the
 * outboxes, sends queued Alertmanager batches, delivers due outbox heads (blocking HTTP).
 * Returns the time of the next thing due (ms since epoch), at most now_ms + 1 s. For tests and
 * for the notifier thread.
 */
int64_t tw_notify_tick(tw_notify_t *n, int64_t now_ms);

/* Starts the notifier thread (ticks with the wall clock). Returns 0 or -errno. */
int tw_notify_start(tw_notify_t *n);
/* Stops and joins the thread; safe when not started. Pending outbox entries stay on disk. */
void tw_notify_stop(tw_notify_t *n);

/*
 * Appends the self-metrics (tidewatch_notifications_sent_total, _errors_total,
 * _dropped_total, _queue_length, _queue_capacity, _latency_seconds, per receiver) to out.
 * Thread-safe.
 */
void tw_notify_collect(tw_notify_t *n, tw_mset_t *out);

/* Counters for tests and the daemon, summed over receivers. Thread-safe. */
typedef struct tw_notify_stats {
    uint64_t sent;    /* notifications (webhook) or alerts (Alertmanager) delivered */
    uint64_t errors;  /* failed attempts */
    uint64_t dropped; /* given up: queue full, permanent HTTP errors, every AM failed */
    uint64_t queued;  /* webhook notifications written to outboxes */
    size_t queue_length;
} tw_notify_stats_t;
void tw_notify_stats(tw_notify_t *n, tw_notify_stats_t *out);

#endif
