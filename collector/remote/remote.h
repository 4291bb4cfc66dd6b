/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote.h - the Prometheus remote_write 1.0 receiver: a pure decoder for request bodies and an
 * HTTP handler (POST /api/v1/write) that appends what it decodes through a sample sink.
 *
 * The decoder (remote_decode.c) takes a snappy-compressed (block format) protobuf WriteRequest
 * and returns a validated request: every series' labels sorted by name, unique, with __name__,
 * empty-valued labels dropped (as Prometheus does), label names and metric names checked against
 * the 1.0 rules, label values checked for UTF-8. Every size it handles is bounded by
 * tw_remote_write_limits_t before memory is allocated for it. It does no I/O and never logs.
 *
 * The handler (remote_handler.c) runs on the common HTTP server's threads and follows Prometheus
 * 2.42's writeHandler: all samples of a request are appended in one sink transaction; the first
 * sample the sink refuses as out of order, duplicate or too old rolls the whole request back and
 * is answered 400 with the series named; any other sink failure is 500 (the sender retries).
 * docs/formats/remote-write.md describes the wire format and every status code.
 *
 * Thread model: decoding is reentrant; a handler is shared by the server's threads (its counters
 * are locked), and a request's decoded form belongs to the caller that decoded it.
 */
#ifndef TW_COLLECTOR_REMOTE_REMOTE_H
#define TW_COLLECTOR_REMOTE_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/http_server.h"
#include "common/labels.h"
#include "common/metric_set.h"
#include "common/sink.h"

/* Defaults used when a limit is 0. */
#define TW_REMOTE_WRITE_DEFAULT_MAX_BODY_BYTES (10u * 1024u * 1024u)    /* compressed */
#define TW_REMOTE_WRITE_DEFAULT_MAX_DECODED_BYTES (64u * 1024u * 1024u) /* after snappy */
#define TW_REMOTE_WRITE_DEFAULT_MAX_LABELS 128                          /* per series */

/* Size limits of one request. Zero fields take the defaults above. */
typedef struct tw_remote_write_limits {
    size_t max_body_bytes;    /* compressed body; larger is TW_ELIMIT (the handler says 413) */
    size_t max_decoded_bytes; /* snappy's announced uncompressed length, checked before alloc */
    /* Memory the decoder may use for the decoded elements (series, labels, samples, metadata
     * entries; strings stay in the decoded body); 0: 8 x max_decoded_bytes. An empty sample
     * costs 2 wire bytes but 16 bytes decoded, so this caps the amplification a hostile body
     * can cause. */
    size_t max_decode_memory_bytes;
    size_t max_labels_per_series; /* 0: TW_REMOTE_WRITE_DEFAULT_MAX_LABELS */
} tw_remote_write_limits_t;

/*
 * Why a request was refused. Each has a stable snake_case name (tw_remote_write_reason_name)
 * used as the `reason` label of the rejection counters.
 */
typedef enum {
    TW_REMOTE_WRITE_OK = 0,
    TW_REMOTE_WRITE_EMPTY_BODY,          /* "empty_body" */
    TW_REMOTE_WRITE_TOO_LARGE,           /* "too_large": a limit was hit */
    TW_REMOTE_WRITE_SNAPPY,              /* "snappy": not a valid snappy block */
    TW_REMOTE_WRITE_PROTOBUF,            /* "protobuf": not a valid WriteRequest */
    TW_REMOTE_WRITE_NO_LABELS,           /* "no_labels" */
    TW_REMOTE_WRITE_MISSING_NAME,        /* "missing_name": no __name__ */
    TW_REMOTE_WRITE_INVALID_NAME,        /* "invalid_metric_name" */
    TW_REMOTE_WRITE_INVALID_LABEL_NAME,  /* "invalid_label_name" */
    TW_REMOTE_WRITE_INVALID_LABEL_VALUE, /* "invalid_label_value": bad UTF-8 or a NUL byte */
    TW_REMOTE_WRITE_DUPLICATE_LABEL,     /* "duplicate_label" */
    TW_REMOTE_WRITE_UNSUPPORTED_MEDIA,   /* "unsupported_media_type": handler only (415) */
    TW_REMOTE_WRITE_OUT_OF_ORDER,        /* "out_of_order": handler only, from the sink */
    TW_REMOTE_WRITE_DUPLICATE_SAMPLE,    /* "duplicate_sample": handler only, from the sink */
    TW_REMOTE_WRITE_TOO_OLD,             /* "too_old": handler only, from the sink */
    TW_REMOTE_WRITE_STORAGE,             /* "storage": any other sink failure (500) */
    TW_REMOTE_WRITE_REASON_COUNT
} tw_remote_write_reason_t;

/* Returns the static snake_case name of r ("ok" for TW_REMOTE_WRITE_OK, "unknown" if invalid). */
const char *tw_remote_write_reason_name(tw_remote_write_reason_t r);

/* One sample: the value's bits are kept exactly (stale markers stay 0x7ff0000000000002). */
typedef struct tw_remote_sample {
    int64_t t_ms;
    double v;
} tw_remote_sample_t;

/* One decoded series. All memory belongs to the request it came from. */
typedef struct tw_remote_series {
    const tw_label_t *labels; /* sorted by name, unique, includes __name__, no empty values */
    size_t nlabels;
    const tw_remote_sample_t *samples; /* in wire order */
    size_t nsamples;
    size_t nexemplars;  /* exemplars on the wire (not kept) */
    size_t nhistograms; /* native histogram samples on the wire (not kept) */
} tw_remote_series_t;

/* One metadata entry (WriteRequest field 3). Strings are NUL-terminated, "" when absent. */
typedef struct tw_remote_metadata {
    tw_metric_type_t type; /* MetricType mapped; unknown enum values become UNTYPED */
    const char *family;    /* metric_family_name */
    const char *help;
    const char *unit;
} tw_remote_metadata_t;

/* A decoded request. Read-only for callers; free with tw_remote_write_request_free(). */
typedef struct tw_remote_write_request {
    const tw_remote_series_t *series;
    size_t nseries;
    const tw_remote_metadata_t *metadata;
    size_t nmetadata;
    size_t nsamples;               /* total over all series */
    size_t nexemplars;             /* total over all series */
    size_t nhistograms;            /* total over all series */
    size_t decoded_bytes;          /* protobuf size after snappy */
    struct tw_remote_store *store; /* private: owns everything above */
} tw_remote_write_request_t;

/* What a refused decode tells the caller besides the error message. */
typedef struct tw_remote_write_reject {
    tw_remote_write_reason_t reason;
    /* Samples the request held when its protobuf could be read (so a caller can count the
     * samples it rejects); 0 when the body did not get that far. */
    size_t nsamples;
} tw_remote_write_reject_t;

/*
 * Decodes and validates a remote_write 1.0 body (snappy block format around a protobuf
 * WriteRequest). body (len bytes) is only read and may be freed after the call. limits may be
 * NULL (all defaults). On success *out receives a new request (free with
 * tw_remote_write_request_free) and 0 is returned. On failure *out is NULL and the return is:
 *   TW_ELIMIT  a size limit was hit (body, decoded length, decode memory, labels per series);
 *   TW_EPARSE  the body is empty, not snappy, or not a WriteRequest;
 *   TW_EINVAL  a series breaks the label rules (the message names the series).
 * reject (may be NULL) receives the reason and sample count; err (may be NULL) a one-line
 * message fit for an HTTP 400 body. Pure: no I/O, no clock, no logging; reentrant.
 */
int tw_remote_write_decode(const void *body, size_t len, const tw_remote_write_limits_t *limits,
                           tw_remote_write_request_t **out, tw_remote_write_reject_t *reject,
                           tw_error_t *err);

/* Frees a decoded request. NULL is a no-op. */
void tw_remote_write_request_free(tw_remote_write_request_t *req);

/*
 * Formats labels as `{__name__="x", a="b"}` (Prometheus' labels.String, values escaped) into
 * out (size outsz, always NUL-terminated; long sets are cut with "..."). Returns out.
 */
const char *tw_remote_labels_format(const tw_label_t *labels, size_t n, char *out, size_t outsz);

/* Options of the HTTP handler. Zero fields take defaults. */
typedef struct tw_remote_write_options {
    const char *path; /* route path; NULL: "/api/v1/write". Copied. */
    tw_remote_write_limits_t limits;
} tw_remote_write_options_t;

typedef struct tw_remote_write_handler tw_remote_write_handler_t;

/*
 * Creates a handler and registers it as POST on o->path of srv (before the server starts).
 * o may be NULL (defaults). sink is copied; sink->ctx is borrowed and must outlive the handler.
 * The handler must outlive the server's last request: free it after tw_http_server_stop() or
 * tw_http_server_free(). The server's own body limit (tw_http_server_options_t.max_body_bytes)
 * applies first; set it at least to limits.max_body_bytes so oversized bodies are counted here.
 * Returns 0 and *out, or TW_EINVAL (bad arguments) / the router's error.
 */
int tw_remote_write_handler_register(tw_http_server_t *srv, const tw_remote_write_options_t *o,
                                     const tw_sink_t *sink, tw_remote_write_handler_t **out);

/*
 * Adds the handler's self-metrics to out (thread-safe):
 *   tidewatch_remote_write_requests_total{code}                 counter
 *   tidewatch_remote_write_requests_rejected_total{reason}      counter (every non-2xx)
 *   tidewatch_remote_write_samples_received_total               counter (samples in parsed bodies)
 *   tidewatch_remote_write_samples_rejected_total{reason}       counter (received, not stored)
 *   tidewatch_remote_write_metadata_received_total              counter
 *   tidewatch_remote_write_exemplars_dropped_total              counter (1.0 exemplars: not stored)
 *   tidewatch_remote_write_histograms_dropped_total             counter (native histograms)
 *   tidewatch_remote_write_request_body_bytes_total             counter (compressed)
 *   tidewatch_remote_write_request_decoded_bytes_total          counter (after snappy)
 */
void tw_remote_write_handler_collect(tw_remote_write_handler_t *h, tw_mset_t *out);

/* Frees the handler (see register for when). NULL is a no-op. */
void tw_remote_write_handler_free(tw_remote_write_handler_t *h);

#endif
