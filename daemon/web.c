/* SPDX-License-Identifier: Apache-2.0 */
/*
 * web.c - the daemon's HTTP routes (see web.h).
 *
 * /metrics takes a reference on the latest collection snapshot, builds the self-metrics into a
 * per-request set, renders both in the negotiated format (and gzip when the client accepts it)
 * and drops the reference: a slow client never holds up the collector. Handlers run
 * concurrently on the server's pool threads and share no mutable state.
 */
#include "web.h"

#include <string.h>

#include "collector/expfmt/expfmt.h"
#include "common/buf.h"

int tw_web_metrics_render(const tw_mset_t *const *sets, size_t nsets, const char *accept,
                          const char *accept_encoding, size_t max_bytes, tw_buf_t *out,
                          const char **content_type, bool *gzipped, tw_error_t *err)
{
    tw_expfmt_format_t fmt = tw_expfmt_negotiate(accept);
    bool gzip = accept_encoding != NULL && tw_expfmt_accepts_gzip(accept_encoding);
    tw_buf_t text;
    int rc;

    *content_type = tw_expfmt_content_type(fmt);
    *gzipped = false;
    tw_buf_init(&text, max_bytes);
    rc = tw_expfmt_write(&text, fmt, sets, nsets, err);
    if (rc == TW_ELIMIT) {
        rc = tw_error_set(err, TW_ELIMIT, "metrics document larger than %zu bytes", max_bytes);
    }
    if (rc == 0 && gzip) {
        rc = tw_expfmt_gzip(out, text.data != NULL ? text.data : "", text.len, err);
        *gzipped = rc == 0;
    } else if (rc == 0) {
        /* Hand the rendered memory over instead of copying it; out keeps its own limit. */
        size_t out_max = out->max;
        tw_buf_fini(out);
        *out = text;
        out->max = out_max;
        tw_buf_init(&text, 0);
    }
    tw_buf_fini(&text);
    return rc;
}

static int handle_metrics(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    const tw_web_ops_t *ops = ctx;
    size_t max = ops->max_metrics_bytes != 0 ? ops->max_metrics_bytes : TW_WEB_MAX_METRICS_BYTES;
    tw_collect_snapshot_t *snap = ops->snapshot(ops->ctx);
    tw_mset_t *self = tw_mset_new();
    const tw_mset_t *sets[4];
    size_t nsets = 0;
    const char *ctype = NULL;
    bool gzipped = false;
    tw_error_t err;

    tw_error_clear(&err);
    if (snap != NULL) {
        size_t n = 0;
        const tw_mset_t *const *ss = tw_collect_snapshot_sets(snap, &n);
        for (size_t i = 0; i < n && nsets < 3; i++) {
            sets[nsets++] = ss[i];
        }
    }
    ops->self_metrics(ops->ctx, self);
    sets[nsets++] = self;

    int rc = tw_web_metrics_render(sets, nsets, tw_http_request_header(req, "Accept"),
                                   tw_http_request_header(req, "Accept-Encoding"), max, &resp->body,
                                   &ctype, &gzipped, &err);
    tw_mset_free(self);
    tw_collect_snapshot_unref(snap);
    if (rc != 0) {
        tw_buf_reset(&resp->body);
        tw_http_response_text(resp, 500, "error rendering metrics: %s",
                              err.msg[0] != '\0' ? err.msg : tw_strerror(rc));
        return 0;
    }
    resp->status = 200;
    resp->content_type = ctype;
    tw_http_response_header(resp, "Vary", "Accept-Encoding");
    if (gzipped) {
        tw_http_response_header(resp, "Content-Encoding", "gzip");
    }
    return 0;
}

static int handle_healthy(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    (void)ctx;
    (void)req;
    tw_http_response_text(resp, 200, "tidewatch is Healthy.");
    return 0;
}

static int handle_ready(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    const tw_web_ops_t *ops = ctx;
    (void)req;
    if (ops->ready(ops->ctx)) {
        tw_http_response_text(resp, 200, "tidewatch is Ready.");
    } else {
        tw_http_response_text(resp, 503, "Service Unavailable");
    }
    return 0;
}

static int handle_reload(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    const tw_web_ops_t *ops = ctx;
    tw_error_t err;
    (void)req;
    tw_error_clear(&err);
    int rc = ops->reload(ops->ctx, &err);
    if (rc != 0) {
        char msg[sizeof(err.msg) + sizeof(err.file) + 32];
        tw_error_format(&err, msg, sizeof(msg));
        tw_http_response_text(resp, 500, "failed to reload config: %s",
                              msg[0] != '\0' ? msg : tw_strerror(rc));
        return 0;
    }
    resp->status = 200;
    return 0;
}

int tw_web_routes_register(tw_http_server_t *srv, const tw_web_ops_t *ops)
{
    void *ctx = (void *)ops;
    int rc = tw_http_server_route(srv, "GET", "/metrics", handle_metrics, ctx);
    if (rc == 0) {
        rc = tw_http_server_route(srv, "GET", "/-/healthy", handle_healthy, ctx);
    }
    if (rc == 0) {
        rc = tw_http_server_route(srv, "GET", "/-/ready", handle_ready, ctx);
    }
    if (rc == 0) {
        rc = tw_http_server_route(srv, "POST", "/-/reload", handle_reload, ctx);
    }
    if (rc == 0) {
        rc = tw_http_server_route(srv, "PUT", "/-/reload", handle_reload, ctx);
    }
    return rc;
}
