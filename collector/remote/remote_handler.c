/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote_handler.c - POST /api/v1/write: the remote_write 1.0 receiver on the common HTTP server.
 *
 * One request: check the media headers (absent ones are accepted, as Prometheus 2.42 does; a
 * Content-Encoding other than snappy or a Content-Type other than application/x-protobuf is 415,
 * as the 2.0 spec asks, so a 2.0 sender falls back to 1.0), check the size (413), decode
 * (remote_decode.c; 400 with its message), then append every sample through the sink in one
 * transaction. Like Prometheus 2.42's writeHandler, the first append error ends the request and
 * rolls the whole transaction back: out of order, duplicate and too old are 400 (the sender must
 * not retry: the data can never be stored), anything else is 500 (the sender retries). An
 * identical resend is not an error at the sink, so a retried request succeeds with 204.
 *
 * Thread model: the HTTP server calls handle_write() on its pool threads concurrently. The only
 * shared state is the counters and a small pool of decoded requests (their memory is reused, so
 * steady traffic does not allocate), both under h->mu; a request taken from the pool belongs to
 * one call until it is put back. The
 * sink must accept concurrent transactions (the sink contract's implementations do).
 */
#include "remote.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"
#include "remote_int.h"

#define DEFAULT_PATH "/api/v1/write"
/* Decoded requests kept for reuse (one per concurrent request in steady state), and the most
 * memory one may keep: a rare huge request does not pin its memory for the process' life. */
#define POOL_MAX 8
#define POOL_KEEP_BYTES ((size_t)16 << 20)

/* Status codes the handler answers with; counted by index. */
static const int status_codes[] = {204, 400, 413, 415, 500};
#define NCODES (sizeof(status_codes) / sizeof(status_codes[0]))

struct tw_remote_write_handler {
    tw_sink_t sink; /* copied; sink.ctx borrowed */
    tw_remote_write_limits_t limits;
    char *path;

    pthread_mutex_t mu; /* guards everything below */
    tw_remote_write_request_t *pool[POOL_MAX];
    size_t npool;
    uint64_t requests[NCODES];
    uint64_t rejected_requests[TW_REMOTE_WRITE_REASON_COUNT];
    uint64_t samples_received;
    uint64_t samples_rejected[TW_REMOTE_WRITE_REASON_COUNT];
    uint64_t metadata_received;
    uint64_t exemplars_dropped;
    uint64_t histograms_dropped;
    uint64_t body_bytes;
    uint64_t decoded_bytes;
};

/* What one request adds to the counters; applied once, at the end, under the lock. */
typedef struct outcome {
    int status;
    tw_remote_write_reason_t reason;
    size_t body_bytes;
    size_t decoded_bytes;
    size_t samples_received;
    size_t samples_rejected;
    size_t metadata;
    size_t exemplars;
    size_t histograms;
} outcome_t;

static void record(tw_remote_write_handler_t *h, const outcome_t *o)
{
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < NCODES; i++) {
        if (status_codes[i] == o->status) {
            h->requests[i]++;
        }
    }
    if (o->reason != TW_REMOTE_WRITE_OK) {
        h->rejected_requests[o->reason]++;
        h->samples_rejected[o->reason] += o->samples_rejected;
    }
    h->samples_received += o->samples_received;
    h->metadata_received += o->metadata;
    h->exemplars_dropped += o->exemplars;
    h->histograms_dropped += o->histograms;
    h->body_bytes += o->body_bytes;
    h->decoded_bytes += o->decoded_bytes;
    pthread_mutex_unlock(&h->mu);
}

/* Takes a request from the pool (or a new one). */
static tw_remote_write_request_t *pool_get(tw_remote_write_handler_t *h)
{
    tw_remote_write_request_t *r = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->npool > 0) {
        r = h->pool[--h->npool];
    }
    pthread_mutex_unlock(&h->mu);
    return r != NULL ? r : tw_remote_write_request_new();
}

/* Returns r to the pool, or frees it when the pool is full or r holds too much memory. */
static void pool_put(tw_remote_write_handler_t *h, tw_remote_write_request_t *r)
{
    if (tw_remote_write_request_capacity(r) <= POOL_KEEP_BYTES) {
        pthread_mutex_lock(&h->mu);
        if (h->npool < POOL_MAX) {
            h->pool[h->npool++] = r;
            r = NULL;
        }
        pthread_mutex_unlock(&h->mu);
    }
    tw_remote_write_request_free(r);
}

/* Answers like Go's http.Error: text/plain, nosniff, the message on one line. */
static void respond_error(tw_http_response_t *resp, int status, const char *msg)
{
    tw_http_response_text(resp, status, "%s", msg);
    tw_http_response_header(resp, "X-Content-Type-Options", "nosniff");
}

/* Copies the token of s up to ';' with surrounding blanks removed. */
static void media_token(const char *s, char *out, size_t outsz)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strcspn(s, ";");
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    if (n >= outsz) {
        n = outsz - 1;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

/*
 * Returns NULL when the headers announce remote_write 1.0 (or announce nothing), else a reason
 * for the 415. A `proto=` parameter other than prometheus.WriteRequest (2.0's
 * io.prometheus.write.v2.Request) is refused so that a 2.0 sender falls back to 1.0.
 */
static const char *media_check(const tw_http_request_t *req, char *why, size_t whysz)
{
    char tok[128];
    const char *ce = tw_http_request_header(req, "Content-Encoding");
    if (ce != NULL) {
        media_token(ce, tok, sizeof(tok));
        if (strcasecmp(tok, "snappy") != 0) {
            snprintf(why, whysz, "unsupported Content-Encoding \"%s\": expected snappy", tok);
            return why;
        }
    }
    const char *ct = tw_http_request_header(req, "Content-Type");
    if (ct == NULL) {
        return NULL;
    }
    media_token(ct, tok, sizeof(tok));
    if (strcasecmp(tok, "application/x-protobuf") != 0) {
        snprintf(why, whysz, "unsupported Content-Type \"%s\": expected application/x-protobuf",
                 tok);
        return why;
    }
    for (const char *p = strchr(ct, ';'); p != NULL; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t') {
            q++;
        }
        if (strncasecmp(q, "proto=", 6) == 0) {
            media_token(q + 6, tok, sizeof(tok));
            if (strcmp(tok, "prometheus.WriteRequest") != 0) {
                snprintf(why, whysz,
                         "unsupported remote write message \"%s\": this receiver speaks "
                         "remote_write 1.0 (prometheus.WriteRequest)",
                         tok);
                return why;
            }
        }
    }
    return NULL;
}

/* Maps a sink error to the reason, the Prometheus error text and whether it is a 400. */
static tw_remote_write_reason_t classify(int rc, const char **text)
{
    switch (rc) {
    case TW_EOUTOFORDER:
        *text = "out of order sample";
        return TW_REMOTE_WRITE_OUT_OF_ORDER;
    case TW_EDUPLICATE:
        *text = "duplicate sample for timestamp";
        return TW_REMOTE_WRITE_DUPLICATE_SAMPLE;
    case TW_ETOOOLD:
        *text = "out of bounds";
        return TW_REMOTE_WRITE_TOO_OLD;
    default:
        *text = "storage error";
        return TW_REMOTE_WRITE_STORAGE;
    }
}

/* Appends every sample of r in one transaction. Returns 0, or fills resp and o on failure. */
static int append_all(tw_remote_write_handler_t *h, const tw_remote_write_request_t *r,
                      tw_http_response_t *resp, outcome_t *o)
{
    void *txn = NULL;
    tw_error_t serr;
    char set[512];
    char msg[1280];
    const char *text = NULL;
    tw_error_clear(&serr);
    int rc = h->sink.begin(h->sink.ctx, &txn);
    if (rc != 0) {
        o->reason = TW_REMOTE_WRITE_STORAGE;
        snprintf(msg, sizeof(msg), "storage error: cannot begin a transaction: %s",
                 tw_strerror(rc));
        goto fail;
    }
    for (size_t i = 0; i < r->nseries; i++) {
        const tw_remote_series_t *s = &r->series[i];
        for (size_t k = 0; k < s->nsamples; k++) {
            rc = h->sink.append(txn, s->labels, s->nlabels, s->samples[k].t_ms, s->samples[k].v,
                                &serr);
            if (rc == 0) {
                continue;
            }
            h->sink.rollback(txn);
            o->reason = classify(rc, &text);
            tw_remote_labels_format(s->labels, s->nlabels, set, sizeof(set));
            if (o->reason == TW_REMOTE_WRITE_STORAGE) {
                snprintf(msg, sizeof(msg),
                         "storage error for series %s at timestamp %" PRId64 ": %s", set,
                         s->samples[k].t_ms, serr.msg[0] != '\0' ? serr.msg : tw_strerror(rc));
            } else {
                snprintf(msg, sizeof(msg), "%s for series %s at timestamp %" PRId64, text, set,
                         s->samples[k].t_ms);
            }
            goto fail;
        }
    }
    rc = h->sink.commit(txn, &serr);
    if (rc != 0) {
        o->reason = classify(rc, &text);
        snprintf(msg, sizeof(msg), "%s: commit failed: %s", text,
                 serr.msg[0] != '\0' ? serr.msg : tw_strerror(rc));
        goto fail;
    }
    return 0;

fail:
    o->status = o->reason == TW_REMOTE_WRITE_STORAGE ? 500 : 400;
    o->samples_rejected = r->nsamples;
    respond_error(resp, o->status, msg);
    return -1;
}

static void written_headers(tw_http_response_t *resp, size_t samples)
{
    char n[32];
    snprintf(n, sizeof(n), "%zu", samples);
    tw_http_response_header(resp, "X-Prometheus-Remote-Write-Samples-Written", n);
    tw_http_response_header(resp, "X-Prometheus-Remote-Write-Histograms-Written", "0");
    tw_http_response_header(resp, "X-Prometheus-Remote-Write-Exemplars-Written", "0");
}

static int handle_write(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    tw_remote_write_handler_t *h = ctx;
    tw_remote_write_request_t *r = pool_get(h);
    tw_remote_write_reject_t rej;
    tw_error_t err;
    char why[256];
    outcome_t o = {.status = 204, .reason = TW_REMOTE_WRITE_OK};
    size_t len = 0;
    const char *body = tw_http_request_body(req, &len);
    o.body_bytes = len;

    if (media_check(req, why, sizeof(why)) != NULL) {
        o.status = 415;
        o.reason = TW_REMOTE_WRITE_UNSUPPORTED_MEDIA;
        respond_error(resp, 415, why);
        goto out;
    }
    if (len > h->limits.max_body_bytes) {
        o.status = 413;
        o.reason = TW_REMOTE_WRITE_TOO_LARGE;
        snprintf(why, sizeof(why), "request body of %zu bytes exceeds the limit of %zu bytes", len,
                 h->limits.max_body_bytes);
        respond_error(resp, 413, why);
        goto out;
    }
    tw_error_clear(&err);
    if (tw_remote_write_decode_reuse(body, len, &h->limits, r, &rej, &err) != 0) {
        o.status = 400;
        o.reason = rej.reason;
        o.samples_received = rej.nsamples;
        o.samples_rejected = rej.nsamples;
        respond_error(resp, 400, err.msg);
        goto out;
    }
    o.decoded_bytes = r->decoded_bytes;
    o.samples_received = r->nsamples;
    o.metadata = r->nmetadata;
    if (r->nsamples > 0 && append_all(h, r, resp, &o) != 0) {
        goto out;
    }
    /* Stored: only now do exemplars and histograms count as dropped rather than rejected. */
    o.exemplars = r->nexemplars;
    o.histograms = r->nhistograms;
    resp->status = 204;
    written_headers(resp, r->nsamples);

out:
    record(h, &o);
    pool_put(h, r);
    return 0;
}

int tw_remote_write_handler_register(tw_http_server_t *srv, const tw_remote_write_options_t *o,
                                     const tw_sink_t *sink, tw_remote_write_handler_t **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (srv == NULL || sink == NULL || out == NULL || sink->begin == NULL || sink->append == NULL ||
        sink->commit == NULL || sink->rollback == NULL) {
        return TW_EINVAL;
    }
    tw_remote_write_handler_t *h = tw_xcalloc(1, sizeof(*h));
    h->sink = *sink;
    tw_remote_write_limits_resolve(o != NULL ? &o->limits : NULL, &h->limits);
    h->path = tw_xstrdup(o != NULL && o->path != NULL ? o->path : DEFAULT_PATH);
    pthread_mutex_init(&h->mu, NULL);
    int rc = tw_http_server_route(srv, "POST", h->path, handle_write, h);
    if (rc != 0) {
        tw_remote_write_handler_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

static void add_counter(tw_mset_t *out, const char *name, const char *help, const char *lname,
                        const char *lvalue, uint64_t v)
{
    tw_mfamily_t *f = tw_mset_family(out, name, TW_MTYPE_COUNTER, help, NULL);
    tw_label_t l = {lname, lvalue};
    tw_mset_add(out, f, NULL, lname != NULL ? &l : NULL, lname != NULL ? 1 : 0, (double)v,
                TW_NO_TIMESTAMP);
}

void tw_remote_write_handler_collect(tw_remote_write_handler_t *h, tw_mset_t *out)
{
    tw_remote_write_handler_t c;
    pthread_mutex_lock(&h->mu);
    memcpy(c.requests, h->requests, sizeof(c.requests));
    memcpy(c.rejected_requests, h->rejected_requests, sizeof(c.rejected_requests));
    memcpy(c.samples_rejected, h->samples_rejected, sizeof(c.samples_rejected));
    c.samples_received = h->samples_received;
    c.metadata_received = h->metadata_received;
    c.exemplars_dropped = h->exemplars_dropped;
    c.histograms_dropped = h->histograms_dropped;
    c.body_bytes = h->body_bytes;
    c.decoded_bytes = h->decoded_bytes;
    pthread_mutex_unlock(&h->mu);

    char code[8];
    for (size_t i = 0; i < NCODES; i++) {
        snprintf(code, sizeof(code), "%d", status_codes[i]);
        add_counter(out, "tidewatch_remote_write_requests_total",
                    "Remote write requests handled, by HTTP status code.", "code", code,
                    c.requests[i]);
    }
    for (int r = 1; r < TW_REMOTE_WRITE_REASON_COUNT; r++) {
        add_counter(out, "tidewatch_remote_write_requests_rejected_total",
                    "Remote write requests refused (any non-2xx answer), by reason.", "reason",
                    tw_remote_write_reason_name((tw_remote_write_reason_t)r),
                    c.rejected_requests[r]);
    }
    add_counter(out, "tidewatch_remote_write_samples_received_total",
                "Samples in remote write requests whose protobuf could be decoded.", NULL, NULL,
                c.samples_received);
    for (int r = 1; r < TW_REMOTE_WRITE_REASON_COUNT; r++) {
        add_counter(out, "tidewatch_remote_write_samples_rejected_total",
                    "Received samples that were not stored because their request was refused, "
                    "by reason.",
                    "reason", tw_remote_write_reason_name((tw_remote_write_reason_t)r),
                    c.samples_rejected[r]);
    }
    add_counter(out, "tidewatch_remote_write_metadata_received_total",
                "Metric metadata entries received in accepted remote write requests.", NULL, NULL,
                c.metadata_received);
    add_counter(out, "tidewatch_remote_write_exemplars_dropped_total",
                "Exemplars received in accepted remote write requests and not stored.", NULL, NULL,
                c.exemplars_dropped);
    add_counter(out, "tidewatch_remote_write_histograms_dropped_total",
                "Native histogram samples received in accepted remote write requests and not "
                "stored.",
                NULL, NULL, c.histograms_dropped);
    add_counter(out, "tidewatch_remote_write_request_body_bytes_total",
                "Bytes of remote write request bodies as sent (snappy-compressed).", NULL, NULL,
                c.body_bytes);
    add_counter(out, "tidewatch_remote_write_request_decoded_bytes_total",
                "Bytes of remote write request bodies after snappy decompression.", NULL, NULL,
                c.decoded_bytes);
}

void tw_remote_write_handler_free(tw_remote_write_handler_t *h)
{
    if (h == NULL) {
        return;
    }
    for (size_t i = 0; i < h->npool; i++) {
        tw_remote_write_request_free(h->pool[i]);
    }
    pthread_mutex_destroy(&h->mu);
    free(h->path);
    free(h);
}
