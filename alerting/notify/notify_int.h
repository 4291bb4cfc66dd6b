/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify_int.h - declarations shared inside alerting/notify only: SHA-256/HMAC, the owned alert
 * copy, the JSON payload writers, the webhook dispatcher (aggregation groups + notification
 * log), the durable outbox, backoff. Nothing outside this folder includes it (tests do).
 */
#ifndef TW_ALERTING_NOTIFY_INT_H
#define TW_ALERTING_NOTIFY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerting/notify/notify.h"
#include "common/buf.h"

/* ---- SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) ---- */

#define NOTIFY_SHA256_LEN 32

/* Digest of p[0..n) into out. */
void notify_sha256(const void *p, size_t n, uint8_t out[NOTIFY_SHA256_LEN]);
/* HMAC-SHA256 of msg under key into out. */
void notify_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        uint8_t out[NOTIFY_SHA256_LEN]);
/* Lower-case hex of p[0..n) into out (2n+1 bytes). */
void notify_hex(const uint8_t *p, size_t n, char *out);

/* ---- alerts ---- */

/* An owned alert: every string is its own allocation. */
typedef struct notify_alert {
    tw_label_t *labels; /* sorted, owned strings */
    size_t n_labels;
    tw_label_t *annotations; /* sorted, owned strings */
    size_t n_annotations;
    int64_t starts_at_ms; /* 0: unset */
    int64_t ends_at_ms;   /* 0: unset */
    char *generator_url;  /* owned, never NULL */
    uint64_t fp;          /* Alertmanager fingerprint of labels */
} notify_alert_t;

/*
 * Copies a into out, adding each external label (sorted ext[0..n_ext)) the alert lacks or has
 * empty, as Prometheus' relabelAlerts does.
 */
void notify_alert_copy(notify_alert_t *out, const tw_alert_t *a, const tw_label_t *ext,
                       size_t n_ext);
/* Frees what a owns and zeroes it. */
void notify_alert_fini(notify_alert_t *a);
/* Alertmanager's model.LabelSet.Fingerprint: FNV-1a 64 over sorted name 0xff value 0xff. */
uint64_t notify_fingerprint(const tw_label_t *labels, size_t n);
/* Whether a is resolved at now_ms (endsAt set and not after now), as types.Alert.ResolvedAt. */
bool notify_alert_resolved(const notify_alert_t *a, int64_t now_ms);

/* ---- JSON (Go's encoding/json escaping: <, >, & as \u003c etc.) ---- */

/* Appends s as a JSON string. */
int notify_json_string(tw_buf_t *b, const char *s);
/* Go time.Time MarshalJSON (RFC 3339 nano, trailing zeros trimmed, UTC); 0 is Go's zero time. */
int notify_json_time_go(tw_buf_t *b, int64_t t_ms);
/* strfmt.DateTime (RFC 3339 with milliseconds, UTC). */
int notify_json_time_millis(tw_buf_t *b, int64_t t_ms);

/* Prometheus' POST /api/v2/alerts body for alerts[0..n). */
int notify_json_am_alerts(tw_buf_t *b, const notify_alert_t *alerts, size_t n);

/* What a webhook notification is made of. */
typedef struct notify_webhook_msg {
    const char *receiver;
    const char *group_key;
    const tw_label_t *group_labels; /* sorted */
    size_t n_group_labels;
    const notify_alert_t *alerts; /* sorted as Alertmanager sorts them, already filtered */
    size_t n_alerts;
    uint64_t max_alerts; /* 0: all */
    const char *external_url;
    int64_t now_ms; /* decides each alert's status */
} notify_webhook_msg_t;

/* Alertmanager's webhook payload version 4 for m, ending in a newline as Alertmanager's. */
int notify_json_webhook(tw_buf_t *b, const notify_webhook_msg_t *m);

/* Alertmanager's types.AlertSlice order (job, instance, then LabelSet.Before). */
void notify_alerts_sort(notify_alert_t *a, size_t n);

/* ---- the webhook dispatcher (pure: time is a parameter, no I/O) ---- */

typedef struct notify_dispatch notify_dispatch_t;

/* Called for each notification a flush decides to send; return non-zero to refuse it (the
 * notification log is then left as it was and resolved alerts are kept for the next flush). */
typedef int (*notify_emit_fn)(void *ctx, const char *group_key, const char *body, size_t len);

/* Creates a dispatcher for cfg (borrowed for the dispatcher's life). */
notify_dispatch_t *notify_dispatch_new(const tw_notify_webhook_config_t *cfg,
                                       const char *external_url);
/* NULL is a no-op. */
void notify_dispatch_free(notify_dispatch_t *d);
/* Inserts (or merges) a copy of a into its group at now_ms. */
void notify_dispatch_insert(notify_dispatch_t *d, const notify_alert_t *a, int64_t now_ms);
/* Flushes every group due at now_ms through emit. Returns the number of notifications emitted. */
size_t notify_dispatch_flush(notify_dispatch_t *d, int64_t now_ms, notify_emit_fn emit, void *ctx);
/* Earliest group timer, or INT64_MAX with no groups. */
int64_t notify_dispatch_next_ms(const notify_dispatch_t *d);
/* Number of live aggregation groups. */
size_t notify_dispatch_groups(const notify_dispatch_t *d);

/* The notification log (Alertmanager's nflog entry per group key), serialized for the disk. */
int notify_dispatch_nflog_encode(const notify_dispatch_t *d, tw_buf_t *out);
/* Restores entries from notify_dispatch_nflog_encode() output; bad input is TW_EPARSE. */
int notify_dispatch_nflog_decode(notify_dispatch_t *d, const uint8_t *p, size_t len,
                                 size_t *entries);
/* Whether the notification log changed since the last call (and clears the flag). */
bool notify_dispatch_nflog_dirty(notify_dispatch_t *d);

/* ---- the durable outbox ---- */

/*
 * Record format (little-endian), see docs/alerting-notify.md:
 *   u32 magic "TWOB" | u32 body_len | u32 crc32(body) | body
 *   body = u64 seq | i64 created_ms | u32 key_len | key | u32 payload_len | payload
 */
#define NOTIFY_OUTBOX_MAGIC 0x424f5754u /* "TWOB" read as LE */
#define NOTIFY_OUTBOX_HDR 12
#define NOTIFY_OUTBOX_MAX_BODY (64u << 20)

/* A decoded record; pointers into the decoded bytes. */
typedef struct notify_outbox_rec {
    uint64_t seq;
    int64_t created_ms;
    const char *key;
    size_t key_len;
    const char *payload;
    size_t payload_len;
} notify_outbox_rec_t;

/*
 * Decodes the record at p[0..len): returns its full size (> 0), 0 when p holds no complete
 * valid record there (short, bad magic, bad length, bad checksum, bad body). Pure.
 */
size_t notify_outbox_decode(const uint8_t *p, size_t len, notify_outbox_rec_t *out);

/* Called for each valid record found by notify_outbox_scan() at byte offset off. */
typedef void (*notify_outbox_scan_fn)(void *ctx, size_t off, size_t size,
                                      const notify_outbox_rec_t *rec);
/*
 * Walks p[0..len) from the start: valid records go to fn; invalid bytes are skipped by
 * looking for the next valid record and counted in *bad_bytes. *good_end receives the offset
 * just after the last valid record (where a torn tail starts). Pure.
 */
void notify_outbox_scan(const uint8_t *p, size_t len, notify_outbox_scan_fn fn, void *ctx,
                        size_t *bad_bytes, size_t *good_end);

typedef struct notify_outbox notify_outbox_t;

/* What opening found. */
typedef struct notify_outbox_replay {
    size_t pending;
    size_t skipped_bytes;
} notify_outbox_replay_t;

/*
 * Opens (creating) the outbox in dir: outbox.log (records), outbox.acked (acked sequence and
 * offset). Replays pending records, truncates a torn tail. max_records bounds the pending
 * count (appending past it drops the oldest, counted in *dropped of append).
 */
int notify_outbox_open(const char *dir, size_t max_records, notify_outbox_t **out,
                       notify_outbox_replay_t *replay, tw_error_t *err);
/* NULL is a no-op. */
void notify_outbox_close(notify_outbox_t *o);
/* Appends and fsyncs a record; *seq receives its number, *dropped how many old ones fell out. */
int notify_outbox_append(notify_outbox_t *o, int64_t created_ms, const char *key,
                         const char *payload, size_t len, uint64_t *seq, size_t *dropped,
                         tw_error_t *err);
/*
 * Reads the oldest pending record into buf (replacing its contents); *rec points into buf.
 * Returns 0, TW_ENOTFOUND when nothing is pending, or an I/O error.
 */
int notify_outbox_peek(notify_outbox_t *o, tw_buf_t *buf, notify_outbox_rec_t *rec,
                       tw_error_t *err);
/* Marks the oldest pending record delivered (durably); compacts the log when all are acked. */
int notify_outbox_ack(notify_outbox_t *o, tw_error_t *err);
/* Number of pending records. */
size_t notify_outbox_pending(const notify_outbox_t *o);
/* Current size of outbox.log in bytes (for tests of compaction). */
uint64_t notify_outbox_log_bytes(const notify_outbox_t *o);

/* Writes data to dir/name atomically (tmp file, fsync, rename, fsync dir). */
int notify_file_replace(const char *dir, const char *name, const void *data, size_t len,
                        tw_error_t *err);

/* ---- retries ---- */

/*
 * Delay before retry number attempt (1-based) with "equal jitter": base = min(max_ms,
 * min_ms * 2^(attempt-1)), delay in [base/2, base]. *rng is a splitmix64 state.
 */
int64_t notify_backoff_ms(int attempt, int64_t min_ms, int64_t max_ms, uint64_t *rng);

/* ---- config ---- */

/* Deep copy of src into dst (free with tw_notify_config_fini()). */
void notify_config_copy(tw_notify_config_t *dst, const tw_notify_config_t *src);

/* ---- HTTP ---- */

/* The libcurl transport. */
const tw_notify_transport_t *notify_curl_transport(void);

#endif
