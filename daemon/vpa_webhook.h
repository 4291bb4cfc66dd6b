/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_webhook.h - the vertical autoscaler's mutating admission webhook: POST /mutate/pods, an
 * AdmissionReview v1 endpoint like the VPA admission controller's, which gives a pod being
 * created the requests (and proportional limits) of the VPA that targets its workload. The
 * review itself is autoscaler/vpa's tw_vpa_admission_review(); this file finds the VPA through
 * the VPA loop's published recommendations, serves the route, counts the outcomes and logs.
 *
 * The API server calls webhooks over TLS only, so the webhook normally gets a listener of its
 * own (tw_vpa_webhook_listen: its address, certificate and key), apart from the main web
 * server, which may stay plain HTTP on 127.0.0.1; tw_vpa_webhook_register puts the same route
 * on any other server. While the listener runs, tw_vpa_webhook_ready() says yes: the VPA loop
 * evicts (Recreate) only then (tw_vpa_loop_set_webhook).
 *
 * Thread model: the handler runs on the HTTP threads, concurrently; listen/stop/free from the
 * controlling thread; ready and collect from any thread.
 */
#ifndef TW_DAEMON_VPA_WEBHOOK_H
#define TW_DAEMON_VPA_WEBHOOK_H

#include <stdbool.h>

#include "autoscaler/vpa/vpa.h"
#include "common/error.h"
#include "common/http_server.h"
#include "common/metric_set.h"
#include "vpa_loop.h"

/* The route the API server posts to (the VPA admission controller's path is "/"). */
#define TW_VPA_WEBHOOK_PATH "/mutate/pods"

typedef struct tw_vpa_webhook tw_vpa_webhook_t;

/*
 * Creates the webhook over loop (borrowed; must outlive the webhook; may be NULL, then no pod
 * matches until tw_vpa_webhook_set_lookup installs a lookup).
 */
tw_vpa_webhook_t *tw_vpa_webhook_new(tw_vpa_loop_t *loop);

/* Replaces the VPA lookup (tests; ctx borrowed). Call before serving. */
void tw_vpa_webhook_set_lookup(tw_vpa_webhook_t *w, tw_vpa_admission_lookup_fn lookup,
                               tw_vpa_admission_release_fn release, void *ctx);

/*
 * The route handler (ctx: the tw_vpa_webhook_t): 415-like 400 for a Content-Type other than
 * application/json, 413 above TW_VPA_ADMISSION_MAX_BYTES, otherwise 200 with the
 * AdmissionReview response (always allowed; errors are logged and counted).
 */
int tw_vpa_webhook_handle(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp);

/* Registers POST TW_VPA_WEBHOOK_PATH on srv. Returns 0 or a negative code. */
int tw_vpa_webhook_register(tw_http_server_t *srv, tw_vpa_webhook_t *w);

/*
 * Starts the webhook's own HTTPS listener on listen_address ("host:port", ":port") with the
 * PEM cert_file and key_file (both required: the API server only speaks TLS to webhooks).
 * Errors name the address or the file. Returns 0 or a negative code.
 */
int tw_vpa_webhook_listen(tw_vpa_webhook_t *w, const char *listen_address, const char *cert_file,
                          const char *key_file, tw_error_t *err);

/* The port the listener bound (0 when not listening). */
int tw_vpa_webhook_port(const tw_vpa_webhook_t *w);

/* A tw_vpa_webhook_ready_fn: true while the listener runs (ctx: the tw_vpa_webhook_t). */
bool tw_vpa_webhook_ready(void *ctx);

/* Adds tidewatch_vpa_admission_requests_total{outcome} (applied, skipped, error). */
void tw_vpa_webhook_collect(tw_vpa_webhook_t *w, tw_mset_t *out);

/* Stops the listener (idempotent). */
void tw_vpa_webhook_stop(tw_vpa_webhook_t *w);

/* Stops and frees. NULL is a no-op. */
void tw_vpa_webhook_free(tw_vpa_webhook_t *w);

#endif
