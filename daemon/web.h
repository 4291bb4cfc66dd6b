/* SPDX-License-Identifier: Apache-2.0 */
/*
 * web.h - the daemon's HTTP routes: GET /metrics, GET /-/healthy, GET /-/ready and
 * POST|PUT /-/reload, as Prometheus serves them.
 *
 * The routes reach the daemon only through tw_web_ops_t, so they are independent of its
 * wiring. Handlers run on the HTTP server's pool threads; the ops must be thread-safe.
 */
#ifndef TW_DAEMON_WEB_H
#define TW_DAEMON_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include "collect_loop.h"
#include "common/error.h"
#include "common/http_server.h"
#include "common/metric_set.h"

/* The largest /metrics document rendered (before compression); larger is a 500. */
#define TW_WEB_MAX_METRICS_BYTES ((size_t)256 * 1024 * 1024)

typedef struct tw_web_ops {
    void *ctx; /* passed to every op; borrowed, must outlive the server */
    /* The latest collection with a new reference, or NULL (nothing collected yet). */
    tw_collect_snapshot_t *(*snapshot)(void *ctx);
    /* Adds the self-metrics to out (a fresh set per request). */
    void (*self_metrics)(void *ctx, tw_mset_t *out);
    /* Whether the first collection has finished. */
    bool (*ready)(void *ctx);
    /* Reloads the configuration; returns 0 or an error whose message is sent to the client. */
    int (*reload)(void *ctx, tw_error_t *err);
    size_t max_metrics_bytes; /* 0: TW_WEB_MAX_METRICS_BYTES */
} tw_web_ops_t;

/*
 * Registers the routes on srv (before it starts). ops is borrowed and must outlive srv.
 * Returns 0 or the router's error.
 */
int tw_web_routes_register(tw_http_server_t *srv, const tw_web_ops_t *ops);

/*
 * Renders sets (the snapshot's, then the self-metrics) for /metrics into out: negotiates the
 * format from accept, gzips when accept_encoding allows (*gzipped set), replaces out's contents
 * with the result, and returns the content type in *content_type (static). Returns 0, or
 * TW_ELIMIT when the uncompressed document is larger than max_bytes, or another error from the
 * writer (out's contents are then unspecified). Exposed for tests.
 */
int tw_web_metrics_render(const tw_mset_t *const *sets, size_t nsets, const char *accept,
                          const char *accept_encoding, size_t max_bytes, tw_buf_t *out,
                          const char **content_type, bool *gzipped, tw_error_t *err);

#endif
