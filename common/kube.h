/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube.h - a small Kubernetes API client shared by the orchestrator's kubernetes driver, the
 * scraper's kubernetes_sd_configs and leader election: where the API server is (a kubeconfig
 * context or the in-cluster service account), one request function (QPS token bucket, bearer
 * token re-read from its file, 429/5xx/transport retries honouring Retry-After, Status errors
 * mapped to TW_E* codes), a list+watch loop (newline-delimited watch events, reconnect from the
 * last resourceVersion, re-list after 410 Gone) and coordination.k8s.io/v1 Lease leader election
 * with client-go's timings.
 *
 * Layout: kube_config.c (kubeconfig and in-cluster config: pure except where said), kube_util.c
 * (pure helpers: Retry-After, backoff, token bucket, URL escaping, Status errors, watch lines),
 * kube.c (the libcurl client and the watch loop), kube_lease.c (the lease state machine, pure,
 * and the calls that drive it).
 *
 * Thread model: a client is used by one thread at a time (its easy handle, token bucket and token
 * cache are its own); create one client per thread from the same tw_kube_config_t. The pure
 * functions are thread-safe. Nothing here logs: callers decide what to say.
 */
#ifndef TW_COMMON_KUBE_H
#define TW_COMMON_KUBE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

/* ---- where the API server is ----------------------------------------------------------------- */

/* The service account folder client-go's rest.InClusterConfig reads. */
#define TW_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Where and how to reach an API server: a kubeconfig context or the in-cluster config. Every
 * string is owned (free with tw_kube_config_fini()). */
typedef struct tw_kube_config {
    char *server;    /* "https://host:port", no trailing '/' once loaded */
    char *namespace; /* the context's namespace (in-cluster: the service account's), or NULL */
    char *ca_file;   /* certificate-authority (absolute path) */
    char *ca_data;   /* certificate-authority-data, decoded PEM */
    size_t ca_data_len;
    char *cert_file; /* client-certificate */
    char *cert_data; /* client-certificate-data, decoded */
    size_t cert_data_len;
    char *key_file; /* client-key */
    char *key_data; /* client-key-data, decoded */
    size_t key_data_len;
    char *token;           /* static bearer token */
    char *token_file;      /* tokenFile or the service-account token: re-read as it rotates */
    char *tls_server_name; /* tls-server-name (parsed; not used by the client yet) */
    bool insecure;         /* insecure-skip-tls-verify: true */
} tw_kube_config_t;

/* Frees the strings and zeroes kc. NULL is a no-op. */
void tw_kube_config_fini(tw_kube_config_t *kc);

/*
 * Parses a kubeconfig (data[0..len), named file in errors) and resolves context (NULL:
 * current-context) into *out, as client-go's clientcmd does for the fields tidewatch supports.
 * Relative file paths are resolved against dir (the kubeconfig's folder; NULL: the working
 * directory). exec, auth-provider and basic-auth users are refused (TW_EINVAL). Errors name
 * file:line:col where a node is at fault. Pure.
 */
int tw_kube_config_parse(const char *data, size_t len, const char *file, const char *dir,
                         const char *context, tw_kube_config_t *out, tw_error_t *err);

/*
 * The in-cluster configuration: https://host:port (an IPv6 host in brackets), sa_dir/token
 * (re-read by the client), sa_dir/ca.crt and the namespace in sa_dir/namespace (read now; absent
 * is fine). sa_dir NULL: TW_KUBE_SA_DIR. host or port NULL/empty is TW_ENOTFOUND ("not running in
 * a cluster").
 */
int tw_kube_config_incluster(const char *sa_dir, const char *host, const char *port,
                             tw_kube_config_t *out, tw_error_t *err);

/*
 * Loads the configuration the usual way: kubeconfig (a file path, may be NULL/"") with context
 * (NULL: current-context) when given, else the in-cluster config from sa_dir (NULL: the default)
 * and KUBERNETES_SERVICE_HOST/PORT, which then also requires a readable token file (as
 * client-go does). server (NULL/"": keep) overrides the server URL. The server must be an
 * http(s) URL; trailing slashes are removed. Reads files and the environment.
 */
int tw_kube_config_load(const char *kubeconfig, const char *context, const char *sa_dir,
                        const char *server, tw_kube_config_t *out, tw_error_t *err);

/* ---- pure helpers ------------------------------------------------------------------------- */

/*
 * A Retry-After value: delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT",
 * relative to now_ms; a date in the past is 0). Returns 0 with *delay_ms, or TW_EPARSE.
 */
int tw_kube_retry_after_parse(const char *value, int64_t now_ms, int64_t *delay_ms);

/* Exponential backoff for a retry without Retry-After: 250 ms doubled per attempt (attempt 0 is
 * the first retry), at most cap_ms. */
int64_t tw_kube_backoff_ms(int attempt, int64_t cap_ms);

/*
 * A token bucket (golang.org/x/time/rate semantics, as client-go's QPS/burst limiter): holds up
 * to burst tokens, refills qps tokens per second. Time is a parameter (monotonic ns).
 */
typedef struct tw_kube_ratelimit {
    double qps;
    double burst;
    double tokens;   /* may go negative: reservations not yet covered */
    int64_t last_ns; /* when tokens was last brought up to date */
    bool started;
} tw_kube_ratelimit_t;

/* A full bucket. qps <= 0 disables limiting. */
void tw_kube_ratelimit_init(tw_kube_ratelimit_t *rl, double qps, int burst);
/* Takes one token at now_ns; returns how long (ns) the caller must wait before acting (0: now). */
int64_t tw_kube_ratelimit_reserve(tw_kube_ratelimit_t *rl, int64_t now_ns);

/* Appends s percent-encoded as Go's url.QueryEscape does (space as '+'). */
int tw_kube_query_escape(tw_buf_t *out, const char *s);
/* Appends s percent-encoded as a path segment (url.PathEscape). */
int tw_kube_path_escape(tw_buf_t *out, const char *s);

/*
 * Maps an HTTP answer that is not 2xx to a TW_E* code (400/422 EINVAL, 401/403 EFORBIDDEN, 404
 * ENOTFOUND, 409 ECONFLICT, 410/429/5xx ETRANSIENT, else EIO), with the Status object's message
 * when the body is one: "<what>: Error from server (Conflict): Operation cannot be ...".
 */
int tw_kube_status_error(long http_status, const char *body, size_t len, const char *what,
                         tw_error_t *err);

/* Formats t_ms as a metav1.MicroTime ("2026-01-02T03:04:05.123000Z", RFC 3339 with
 * microseconds, UTC). Returns out. */
const char *tw_kube_time_format_micro(int64_t t_ms, char *out, size_t outsz);

/* ---- watch events (pure) -------------------------------------------------------------------- */

typedef enum {
    TW_KUBE_EVENT_ADDED = 0,
    TW_KUBE_EVENT_MODIFIED,
    TW_KUBE_EVENT_DELETED,
    TW_KUBE_EVENT_BOOKMARK,
    TW_KUBE_EVENT_ERROR,
} tw_kube_event_type_t;

/* One watch event. */
typedef struct tw_kube_event {
    tw_kube_event_type_t type;
    json_t *object;               /* owned reference: the object (ERROR: the Status) */
    const char *resource_version; /* object's metadata.resourceVersion (points into object), or
                                   * NULL */
    long code; /* ERROR: the Status code (410 when the version expired), else 0 */
} tw_kube_event_t;

/* Drops the object reference and zeroes ev. */
void tw_kube_event_fini(tw_kube_event_t *ev);

/*
 * Parses one watch line ({"type":"ADDED","object":{...}}, no newline needed). A missing or
 * non-object "object", or an unknown type, is TW_EPARSE with a message naming what is wrong.
 */
int tw_kube_watch_line_parse(const char *line, size_t len, tw_kube_event_t *ev, tw_error_t *err);

/*
 * Splits a watch response body, fed in arbitrary pieces, into lines and parses each. Lines are
 * bounded by max_line (0: 16 MiB); a longer line is TW_ELIMIT. Blank lines are skipped.
 */
typedef struct tw_kube_watch_decoder {
    tw_buf_t pending; /* the incomplete last line */
} tw_kube_watch_decoder_t;

void tw_kube_watch_decoder_init(tw_kube_watch_decoder_t *d, size_t max_line);
void tw_kube_watch_decoder_fini(tw_kube_watch_decoder_t *d);
/*
 * Feeds data; for each complete line calls on_event(ctx, ev) with an event the callback owns
 * (it must tw_kube_event_fini() it). A callback returning non-zero stops the feed with that code.
 * A line that does not parse stops it with TW_EPARSE.
 */
int tw_kube_watch_decoder_feed(tw_kube_watch_decoder_t *d, const char *data, size_t len,
                               int (*on_event)(void *ctx, tw_kube_event_t *ev), void *ctx,
                               tw_error_t *err);

/* ---- the client ---------------------------------------------------------------------------- */

typedef struct tw_kube_client tw_kube_client_t;

/* Client knobs; zero members take the defaults in brackets. */
typedef struct tw_kube_client_options {
    double qps;                /* [5] client-go's default; < 0: no limit */
    int burst;                 /* [10] */
    int64_t timeout_ms;        /* [10000] per request (not for watches) */
    int max_retries;           /* [3] retries after 429/5xx/transport errors; < 0: none */
    int64_t max_retry_wait_ms; /* [30000] longest Retry-After a call waits; also the backoff cap */
    size_t max_body_bytes;     /* [64 MiB] largest answer accepted */
    bool insecure_skip_tls_verify; /* also when the config says so */
    const char *user_agent;        /* ["tidewatch"] copied */
} tw_kube_client_options_t;

/*
 * Creates a client for kc (copied: kc may be freed afterwards). The token file, when kc has one,
 * is read now and re-read once a minute and after a 401. Returns 0 or TW_EINVAL (server is not an
 * http(s) URL) / TW_EIO (libcurl).
 */
int tw_kube_client_new(const tw_kube_config_t *kc, const tw_kube_client_options_t *o,
                       tw_kube_client_t **out, tw_error_t *err);
/* NULL is a no-op. */
void tw_kube_client_free(tw_kube_client_t *c);
/* The configuration the client uses (valid while c is). */
const tw_kube_config_t *tw_kube_client_config(const tw_kube_client_t *c);

/* An answer. Initialise with tw_kube_resp_init() (its max bounds the body), free with _fini(). */
typedef struct tw_kube_resp {
    long status;           /* 0 when no answer came */
    tw_buf_t body;         /* bounded by max_body_bytes */
    tw_buf_t headers;      /* the final response's header lines, "Name: value\r\n" each */
    char retry_after[128]; /* the Retry-After header, "" when absent */
} tw_kube_resp_t;

void tw_kube_resp_init(tw_kube_resp_t *r);
void tw_kube_resp_fini(tw_kube_resp_t *r);

/*
 * One API call: method ("GET", "POST", "PUT", "PATCH", "DELETE"), path_query (everything after
 * the server URL, e.g. "/api/v1/namespaces/x/pods?labelSelector=a%3Db"), body (NUL-terminated or
 * NULL) with content_type (NULL: none), what (names the object in errors). Waits for the token
 * bucket, retries 429 and 5xx answers and transport failures max_retries times (Retry-After when
 * sent, longer than max_retry_wait_ms gives up at once; else the exponential backoff), re-reads
 * the token file once after a 401. Returns 0 for a 2xx answer (resp has it), else a TW_E* code
 * with the Status message (resp keeps the last answer: resp->status 0 when none came).
 */
int tw_kube_request(tw_kube_client_t *c, const char *method, const char *path_query,
                    const char *body, const char *content_type, const char *what,
                    tw_kube_resp_t *resp, tw_error_t *err);

/* ---- list + watch ---------------------------------------------------------------------------- */

/* What to watch. Strings borrowed for the call. */
typedef struct tw_kube_watch_options {
    const char *path;           /* the collection, "/api/v1/pods" or "/api/v1/namespaces/n/pods" */
    const char *label_selector; /* NULL/"": none */
    const char *field_selector; /* NULL/"": none */
    int timeout_s;              /* server-side watch timeout per connection [300] */
    int64_t max_backoff_ms;     /* wait cap between failed attempts [30000] */
} tw_kube_watch_options_t;

/* Callbacks, called from the watching thread. */
typedef struct tw_kube_watch_ops {
    /* A full list arrived (first, and after every re-list): items replaces all earlier state.
     * items (a JSON array of objects) is borrowed for the call. */
    void (*replace)(void *ctx, json_t *items);
    /* ADDED, MODIFIED or DELETED for object (borrowed for the call). */
    void (*event)(void *ctx, tw_kube_event_type_t type, json_t *object);
    /* A failure the loop recovers from by retrying (may be NULL): for the caller's log. */
    void (*error)(void *ctx, int code, const char *msg);
} tw_kube_watch_ops_t;

/*
 * Lists o->path, hands the items to ops->replace, then watches from the list's resourceVersion,
 * handing each event to ops->event; reconnects from the last resourceVersion seen when the
 * connection ends, re-lists after a 410 Gone (an ERROR event or the HTTP status), and waits with
 * backoff after failures (reported to ops->error). Returns 0 once *stop becomes true (checked at
 * least every 200 ms, also during a transfer). Blocks: run it on its own thread with its own
 * client.
 */
int tw_kube_watch_run(tw_kube_client_t *c, const tw_kube_watch_options_t *o,
                      const tw_kube_watch_ops_t *ops, void *ctx, const atomic_bool *stop);

/* ---- leader election (coordination.k8s.io/v1 Lease) --------------------------------------- */

/* A Lease's spec as read from or written to the API server. */
typedef struct tw_kube_lease_record {
    char holder[256];          /* spec.holderIdentity, "" when nobody holds it */
    int32_t duration_s;        /* spec.leaseDurationSeconds */
    int64_t acquire_ms;        /* spec.acquireTime (ms since epoch), 0 when absent */
    int64_t renew_ms;          /* spec.renewTime, 0 when absent */
    int32_t transitions;       /* spec.leaseTransitions */
    char resource_version[64]; /* metadata.resourceVersion of what was read */
} tw_kube_lease_record_t;

/* Election settings; zero members take client-go's defaults in brackets. Strings copied. */
typedef struct tw_kube_lease_options {
    const char *namespace;     /* required */
    const char *name;          /* required */
    const char *identity;      /* required: this candidate's holderIdentity */
    int64_t lease_duration_ms; /* [15000] how long a holder is trusted without renewing */
    int64_t renew_deadline_ms; /* [10000] a leader that cannot renew this long steps down */
    int64_t retry_period_ms;   /* [2000] how often to try to acquire or renew */
} tw_kube_lease_options_t;

typedef struct tw_kube_lease tw_kube_lease_t;

/* Creates a candidate (not leader). TW_EINVAL for missing names or inconsistent timings
 * (client-go: lease duration > renew deadline > retry period * 1.2). */
int tw_kube_lease_new(const tw_kube_lease_options_t *o, tw_kube_lease_t **out, tw_error_t *err);
/* NULL is a no-op. */
void tw_kube_lease_free(tw_kube_lease_t *l);

/* What tw_kube_lease_decide() asks the caller to do. */
typedef enum {
    TW_KUBE_LEASE_WAIT = 0, /* someone else holds a valid lease: do nothing */
    TW_KUBE_LEASE_CREATE,   /* no Lease object: create *out */
    TW_KUBE_LEASE_UPDATE,   /* write *out with the observed resourceVersion */
} tw_kube_lease_action_t;

/*
 * The pure step of client-go's tryAcquireOrRenew at now_ms: current is what the GET returned
 * (NULL: 404). A record that differs from the last one observed restarts the observed time; a
 * lease held by another identity whose observed time + its duration is still ahead means WAIT;
 * otherwise the record to write: holder = identity, renew = now, acquire = now and transitions+1
 * when the holder changes (kept when renewing), duration from the options.
 */
tw_kube_lease_action_t tw_kube_lease_decide(tw_kube_lease_t *l,
                                            const tw_kube_lease_record_t *current, int64_t now_ms,
                                            tw_kube_lease_record_t *out);

/*
 * Records the outcome of the write decide() asked for (ok: 2xx; written: the record the server
 * returned, may be NULL when !ok) at now_ms. A success makes this candidate leader until
 * now + renew deadline (extended by each later success); a failure leaves that deadline alone,
 * so a leader that cannot renew steps down when it passes.
 */
void tw_kube_lease_observe(tw_kube_lease_t *l, bool ok, const tw_kube_lease_record_t *written,
                           int64_t now_ms);

/* Whether this candidate is leader at now_ms (pure). */
bool tw_kube_lease_is_leader(const tw_kube_lease_t *l, int64_t now_ms);

/* When the next tw_kube_lease_tick() is due (ms since epoch): a retry period after the last. */
int64_t tw_kube_lease_next_ms(const tw_kube_lease_t *l);

/* The lease's JSON (kind Lease, metadata name, namespace and resourceVersion when rv is not
 * empty, spec with micro times) appended to out. Pure. */
int tw_kube_lease_emit(const tw_kube_lease_t *l, const tw_kube_lease_record_t *r, const char *rv,
                       tw_buf_t *out);
/* Parses a Lease object. TW_EPARSE when it is not one. Pure. */
int tw_kube_lease_parse(const char *body, size_t len, tw_kube_lease_record_t *out, tw_error_t *err);

/*
 * One round at now_ms (call it when tw_kube_lease_next_ms() is due, or more often: a call
 * before then only re-evaluates the deadline): GET the Lease, decide, create or update it, and
 * observe the result. *leader receives tw_kube_lease_is_leader(l, now_ms) afterwards. Returns 0,
 * or the request's error (the state already accounts for it: the caller only logs it).
 */
int tw_kube_lease_tick(tw_kube_lease_t *l, tw_kube_client_t *c, int64_t now_ms, bool *leader,
                       tw_error_t *err);

/*
 * Gives the lease up if this candidate holds it (client-go's ReleaseOnCancel): writes holder ""
 * with lease duration 1 s so that another candidate takes over at once. Returns 0 when there was
 * nothing to release or the write succeeded.
 */
int tw_kube_lease_release(tw_kube_lease_t *l, tw_kube_client_t *c, int64_t now_ms, tw_error_t *err);

#endif
