/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote_int.h - declarations shared by the files of collector/remote only (no other folder
 * includes this).
 */
#ifndef TW_COLLECTOR_REMOTE_REMOTE_INT_H
#define TW_COLLECTOR_REMOTE_REMOTE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "remote.h"

/* Copies in (may be NULL) to out with every zero limit replaced by its default. */
void tw_remote_write_limits_resolve(const tw_remote_write_limits_t *in,
                                    tw_remote_write_limits_t *out);

/* Where a label's name and value end in the decoded body (the decoder writes a NUL there). */
typedef struct tw_remote_label_len {
    uint32_t name;
    uint32_t value;
} tw_remote_label_len_t;

/*
 * The reusable memory behind a decoded request (tw_remote_write_request_t.store): the decoded
 * protobuf (strings point into it) and one array per kind of element, all grown on demand and
 * kept between requests by the handler's pool, so a steady stream of requests allocates nothing.
 */
struct tw_remote_store {
    uint8_t *raw; /* snappy output, one spare byte for the last string's NUL */
    size_t raw_cap;
    tw_remote_series_t *series;
    size_t series_cap;
    tw_label_t *labels; /* every series' labels, in wire order */
    tw_remote_label_len_t *lens;
    size_t labels_cap;
    tw_remote_sample_t *samples;
    size_t samples_cap;
    tw_remote_metadata_t *metadata;
    size_t metadata_cap;
    size_t nlabels; /* labels filled by the last parse */
};

/* A request with no memory yet, for tw_remote_write_decode_reuse(). Never NULL. */
tw_remote_write_request_t *tw_remote_write_request_new(void);

/*
 * Like tw_remote_write_decode(), but decodes into req (from tw_remote_write_request_new() or a
 * previous decode), reusing its memory. On failure req holds no valid request (its memory is
 * kept). Same returns, reject and err as tw_remote_write_decode().
 */
int tw_remote_write_decode_reuse(const void *body, size_t len,
                                 const tw_remote_write_limits_t *limits,
                                 tw_remote_write_request_t *req, tw_remote_write_reject_t *reject,
                                 tw_error_t *err);

/* Bytes of memory req keeps for reuse. */
size_t tw_remote_write_request_capacity(const tw_remote_write_request_t *req);

/*
 * The wire parse alone (step 3 of remote_decode.c) over raw[0..len) (raw[len] must be
 * writable): fills req's store with the series (labels and samples as spans: a label's name
 * and value point into raw, their lengths in store->lens, not yet NUL-terminated), samples
 * and metadata. Returns 0, TW_EPARSE (not a WriteRequest) or TW_ELIMIT (more than max_mem
 * bytes of elements). Exposed for the differential fuzz target.
 */
int tw_remote_write_parse(uint8_t *raw, size_t len, size_t max_mem, tw_remote_write_request_t *req);

/*
 * The reference: protobuf-c's generated unpacker over the same bytes (remote_pbc.c), summarized
 * so the fuzz target can check that tw_remote_write_parse() accepts exactly what protobuf-c
 * accepts and reads the same values. digest covers every kept label byte, sample and metadata
 * field in wire order.
 */
typedef struct tw_remote_wire_summary {
    size_t nseries, nlabels, nsamples, nexemplars, nhistograms, nmetadata;
    uint64_t digest;
} tw_remote_wire_summary_t;

/* Unpacks raw with protobuf-c. Returns 0 and fills *out, or TW_EPARSE. */
int tw_remote_pbc_summarize(const uint8_t *raw, size_t len, tw_remote_wire_summary_t *out);

/* The same summary of a request filled by tw_remote_write_parse(). */
void tw_remote_write_parse_summarize(const tw_remote_write_request_t *req,
                                     tw_remote_wire_summary_t *out);

/* MetricMetadata.MetricType (remote.proto) to ours; unknown values are untyped. */
tw_metric_type_t tw_remote_metric_type_from_wire(int t);

/* Folds n bytes into a summary digest (shared by both summaries). */
uint64_t tw_remote_digest(uint64_t h, const void *p, size_t n);

#endif
