/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote_decode.c - decodes and validates a remote_write 1.0 body: snappy block format around a
 * protobuf WriteRequest (see remote.proto and docs/formats/remote-write.md).
 *
 * How it works, and where each limit bites:
 *   1. The compressed body is checked against max_body_bytes.
 *   2. snappy's block header (a uvarint) announces the uncompressed length; it is checked
 *      against max_decoded_bytes BEFORE the output buffer is allocated, so a 20-byte body cannot
 *      make us allocate 4 GiB. snappy_uncompress() then refuses any body whose elements do not
 *      produce exactly that many bytes.
 *   3. protobuf-c unpacks with our allocator, which takes memory from a scratch arena and fails
 *      (returns NULL, which protobuf-c turns into an unpack failure) once max_decode_memory_bytes
 *      would be exceeded: structs cost ~20x their wire size, so this bounds the amplification.
 *      The allocator remembers that it ran dry, so we can say "too large" instead of "malformed".
 *   4. Each series is validated and copied into the request's own arena as NUL-terminated
 *      strings: label names must match [a-zA-Z_][a-zA-Z0-9_]*, values must be UTF-8 without
 *      NUL bytes, empty values are dropped (Prometheus' head does the same), the rest is sorted
 *      (Prometheus sorts incoming labels too), then duplicate names, a missing __name__ and an
 *      invalid metric name are errors. The scratch arena is freed before returning.
 * Pure: no I/O, no clock, no logging; reentrant (all state is on the stack or in the arenas).
 */
#include "remote.h"

#include <inttypes.h>
#include <protobuf-c/protobuf-c.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/mem.h"
#include "remote.pb-c.h"
#include "remote_int.h"

static const char *const reason_names[TW_REMOTE_WRITE_REASON_COUNT] = {
    [TW_REMOTE_WRITE_OK] = "ok",
    [TW_REMOTE_WRITE_EMPTY_BODY] = "empty_body",
    [TW_REMOTE_WRITE_TOO_LARGE] = "too_large",
    [TW_REMOTE_WRITE_SNAPPY] = "snappy",
    [TW_REMOTE_WRITE_PROTOBUF] = "protobuf",
    [TW_REMOTE_WRITE_NO_LABELS] = "no_labels",
    [TW_REMOTE_WRITE_MISSING_NAME] = "missing_name",
    [TW_REMOTE_WRITE_INVALID_NAME] = "invalid_metric_name",
    [TW_REMOTE_WRITE_INVALID_LABEL_NAME] = "invalid_label_name",
    [TW_REMOTE_WRITE_INVALID_LABEL_VALUE] = "invalid_label_value",
    [TW_REMOTE_WRITE_DUPLICATE_LABEL] = "duplicate_label",
    [TW_REMOTE_WRITE_UNSUPPORTED_MEDIA] = "unsupported_media_type",
    [TW_REMOTE_WRITE_OUT_OF_ORDER] = "out_of_order",
    [TW_REMOTE_WRITE_DUPLICATE_SAMPLE] = "duplicate_sample",
    [TW_REMOTE_WRITE_TOO_OLD] = "too_old",
    [TW_REMOTE_WRITE_STORAGE] = "storage",
};

const char *tw_remote_write_reason_name(tw_remote_write_reason_t r)
{
    if ((int)r < 0 || r >= TW_REMOTE_WRITE_REASON_COUNT) {
        return "unknown";
    }
    return reason_names[r];
}

void tw_remote_write_limits_resolve(const tw_remote_write_limits_t *in,
                                    tw_remote_write_limits_t *out)
{
    tw_remote_write_limits_t l = {0};
    if (in != NULL) {
        l = *in;
    }
    if (l.max_body_bytes == 0) {
        l.max_body_bytes = TW_REMOTE_WRITE_DEFAULT_MAX_BODY_BYTES;
    }
    if (l.max_decoded_bytes == 0) {
        l.max_decoded_bytes = TW_REMOTE_WRITE_DEFAULT_MAX_DECODED_BYTES;
    }
    if (l.max_decode_memory_bytes == 0) {
        l.max_decode_memory_bytes =
            l.max_decoded_bytes > SIZE_MAX / 8 ? SIZE_MAX : l.max_decoded_bytes * 8;
    }
    if (l.max_labels_per_series == 0) {
        l.max_labels_per_series = TW_REMOTE_WRITE_DEFAULT_MAX_LABELS;
    }
    *out = l;
}

/* ---- bounded allocator for protobuf-c --------------------------------------------------- */

typedef struct budget {
    tw_arena_t *arena;
    size_t used; /* bytes handed out so far */
    size_t max;  /* max_decode_memory_bytes */
    bool exhausted;
} budget_t;

static void *budget_alloc(void *data, size_t n)
{
    budget_t *b = data;
    if (n > b->max - b->used) {
        b->exhausted = true;
        return NULL;
    }
    b->used += n;
    return tw_arena_alloc(b->arena, n != 0 ? n : 1);
}

static void budget_free(void *data, void *p)
{
    /* The arena releases everything at once. */
    (void)data;
    (void)p;
}

/* ---- text checks ------------------------------------------------------------------------ */

static bool label_name_ok(const uint8_t *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
            return false;
        }
    }
    return true;
}

/* UTF-8 as Go's utf8.Valid: no overlong forms, no surrogates, nothing above U+10FFFF. NUL bytes
 * are valid UTF-8 but cannot live in a C string, so they are refused too. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0) {
            return false;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) {
                lo = 0xA0;
            } else if (c == 0xED) {
                hi = 0x9F;
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) {
                lo = 0x90;
            } else if (c == 0xF4) {
                hi = 0x8F;
            }
        } else {
            return false;
        }
        if (n - i - 1 < need) {
            return false;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k <= need; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) {
                return false;
            }
        }
        i += need + 1;
    }
    return true;
}

/* Appends c to out at *pos, escaped like Go's %q for the characters that matter here. */
static void put_escaped(char *out, size_t outsz, size_t *pos, uint8_t c)
{
    char tmp[8];
    int n;
    if (c == '"' || c == '\\') {
        n = snprintf(tmp, sizeof(tmp), "\\%c", c);
    } else if (c == '\n') {
        n = snprintf(tmp, sizeof(tmp), "\\n");
    } else if (c < 0x20 || c == 0x7f) {
        n = snprintf(tmp, sizeof(tmp), "\\x%02x", c);
    } else {
        tmp[0] = (char)c;
        n = 1;
    }
    for (int i = 0; i < n && *pos + 1 < outsz; i++) {
        out[(*pos)++] = tmp[i];
    }
    out[*pos] = '\0';
}

/* Writes "quoted" bytes (at most 64 of them, then ...) into out. */
static const char *quote_bytes(const uint8_t *s, size_t n, char *out, size_t outsz)
{
    size_t pos = 0;
    out[pos++] = '"';
    out[pos] = '\0';
    for (size_t i = 0; i < n && i < 64; i++) {
        put_escaped(out, outsz, &pos, s[i]);
    }
    const char *tail = n > 64 ? "...\"" : "\"";
    for (const char *t = tail; *t != '\0' && pos + 1 < outsz; t++) {
        out[pos++] = *t;
    }
    out[pos] = '\0';
    return out;
}

static void put_str(char *out, size_t outsz, size_t *pos, const char *s)
{
    for (; *s != '\0' && *pos + 1 < outsz; s++) {
        out[(*pos)++] = *s;
    }
    out[*pos] = '\0';
}

const char *tw_remote_labels_format(const tw_label_t *labels, size_t n, char *out, size_t outsz)
{
    size_t pos = 0;
    if (outsz == 0) {
        return out;
    }
    out[0] = '\0';
    if (outsz < 8) {
        return out;
    }
    /* Leave room for the "...}" that marks a cut. */
    size_t room = outsz - 4;
    put_str(out, room, &pos, "{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            put_str(out, room, &pos, ", ");
        }
        put_str(out, room, &pos, labels[i].name);
        put_str(out, room, &pos, "=\"");
        for (const char *v = labels[i].value; *v != '\0'; v++) {
            if (*v == '"' || *v == '\\') {
                put_str(out, room, &pos, *v == '"' ? "\\\"" : "\\\\");
            } else if (*v == '\n') {
                put_str(out, room, &pos, "\\n");
            } else {
                char c[2] = {*v, '\0'};
                put_str(out, room, &pos, c);
            }
        }
        put_str(out, room, &pos, "\"");
    }
    if (pos + 1 >= room) {
        put_str(out, outsz, &pos, "...}");
    } else {
        put_str(out, outsz, &pos, "}");
    }
    return out;
}

/* ---- decode ----------------------------------------------------------------------------- */

static tw_metric_type_t map_type(int t)
{
    switch (t) {
    case TW__PROMPB__METRIC_METADATA__METRIC_TYPE__COUNTER:
        return TW_MTYPE_COUNTER;
    case TW__PROMPB__METRIC_METADATA__METRIC_TYPE__GAUGE:
        return TW_MTYPE_GAUGE;
    case TW__PROMPB__METRIC_METADATA__METRIC_TYPE__HISTOGRAM:
        return TW_MTYPE_HISTOGRAM;
    case TW__PROMPB__METRIC_METADATA__METRIC_TYPE__GAUGEHISTOGRAM:
        return TW_MTYPE_GAUGE_HISTOGRAM;
    case TW__PROMPB__METRIC_METADATA__METRIC_TYPE__SUMMARY:
        return TW_MTYPE_SUMMARY;
    case TW__PROMPB__METRIC_METADATA__METRIC_TYPE__INFO:
        return TW_MTYPE_INFO;
    case TW__PROMPB__METRIC_METADATA__METRIC_TYPE__STATESET:
        return TW_MTYPE_STATESET;
    default:
        return TW_MTYPE_UNTYPED;
    }
}

static char *copy_bytes(tw_arena_t *a, const ProtobufCBinaryData *d)
{
    if (d->len == 0 || d->data == NULL) {
        return tw_arena_strndup(a, "", 0);
    }
    char *s = tw_arena_alloc(a, d->len + 1);
    memcpy(s, d->data, d->len);
    s[d->len] = '\0';
    return s;
}

static int reject_set(tw_remote_write_reject_t *reject, tw_remote_write_reason_t reason)
{
    if (reject != NULL) {
        reject->reason = reason;
    }
    return 0;
}

/* Validates one series and fills s in the request's arena. Returns 0 or an error code. */
static int build_series(const Tw__Prompb__TimeSeries *ts, size_t idx,
                        const tw_remote_write_limits_t *lim, tw_arena_t *a, tw_remote_series_t *s,
                        tw_remote_write_reject_t *reject, tw_error_t *err)
{
    char q[300];
    char set[512];
    if (ts->n_labels > lim->max_labels_per_series) {
        reject_set(reject, TW_REMOTE_WRITE_TOO_LARGE);
        return tw_error_set(err, TW_ELIMIT, "series %zu has %zu labels, more than the limit of %zu",
                            idx, ts->n_labels, lim->max_labels_per_series);
    }
    tw_label_t *labels = tw_arena_alloc(a, (ts->n_labels + 1) * sizeof(*labels));
    size_t n = 0;
    for (size_t i = 0; i < ts->n_labels; i++) {
        const Tw__Prompb__Label *l = ts->labels[i];
        if (!label_name_ok(l->name.data, l->name.len)) {
            reject_set(reject, TW_REMOTE_WRITE_INVALID_LABEL_NAME);
            return tw_error_set(
                err, TW_EINVAL,
                "invalid label name %s in series %zu: expected [a-zA-Z_][a-zA-Z0-9_]*",
                quote_bytes(l->name.data, l->name.len, q, sizeof(q)), idx);
        }
        if (!utf8_ok(l->value.data, l->value.len)) {
            reject_set(reject, TW_REMOTE_WRITE_INVALID_LABEL_VALUE);
            return tw_error_set(
                err, TW_EINVAL,
                "invalid value for label %s in series %zu: not UTF-8 or contains a NUL byte",
                quote_bytes(l->name.data, l->name.len, q, sizeof(q)), idx);
        }
        if (l->value.len == 0) {
            continue; /* an empty value is the same as no label (Prometheus: WithoutEmpty) */
        }
        labels[n].name = copy_bytes(a, &l->name);
        labels[n].value = copy_bytes(a, &l->value);
        n++;
    }
    if (n == 0) {
        reject_set(reject, TW_REMOTE_WRITE_NO_LABELS);
        return tw_error_set(err, TW_EINVAL, "series %zu has no labels%s", idx,
                            ts->n_labels > 0 ? " with a non-empty value" : "");
    }
    tw_labels_sort(labels, n);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(labels[i - 1].name, labels[i].name) == 0) {
            reject_set(reject, TW_REMOTE_WRITE_DUPLICATE_LABEL);
            return tw_error_set(err, TW_EINVAL, "duplicate label name \"%s\" in series %s",
                                labels[i].name,
                                tw_remote_labels_format(labels, n, set, sizeof(set)));
        }
    }
    const char *name = tw_labels_get(labels, n, TW_METRIC_NAME_LABEL);
    if (name == NULL) {
        reject_set(reject, TW_REMOTE_WRITE_MISSING_NAME);
        return tw_error_set(err, TW_EINVAL, "series %s has no __name__ label",
                            tw_remote_labels_format(labels, n, set, sizeof(set)));
    }
    if (!tw_metric_name_valid(name)) {
        reject_set(reject, TW_REMOTE_WRITE_INVALID_NAME);
        return tw_error_set(
            err, TW_EINVAL,
            "invalid metric name %s in series %s: expected [a-zA-Z_:][a-zA-Z0-9_:]*",
            quote_bytes((const uint8_t *)name, strlen(name), q, sizeof(q)),
            tw_remote_labels_format(labels, n, set, sizeof(set)));
    }
    tw_remote_sample_t *samples = tw_arena_alloc(a, (ts->n_samples + 1) * sizeof(*samples));
    for (size_t i = 0; i < ts->n_samples; i++) {
        samples[i].t_ms = ts->samples[i]->timestamp;
        /* memcpy keeps a NaN's payload bits (the stale marker) whatever the FPU does. */
        memcpy(&samples[i].v, &ts->samples[i]->value, sizeof(double));
    }
    s->labels = labels;
    s->nlabels = n;
    s->samples = samples;
    s->nsamples = ts->n_samples;
    s->nexemplars = ts->n_exemplars;
    s->nhistograms = ts->n_histograms;
    return 0;
}

int tw_remote_write_decode(const void *body, size_t len, const tw_remote_write_limits_t *limits,
                           tw_remote_write_request_t **out, tw_remote_write_reject_t *reject,
                           tw_error_t *err)
{
    tw_remote_write_limits_t lim;
    tw_remote_write_request_t *req = NULL;
    char *raw = NULL;
    tw_arena_t *scratch = NULL;
    Tw__Prompb__WriteRequest *wr = NULL;
    int rc = 0;

    tw_remote_write_limits_resolve(limits, &lim);
    *out = NULL;
    if (reject != NULL) {
        reject->reason = TW_REMOTE_WRITE_OK;
        reject->nsamples = 0;
    }
    if (len == 0 || body == NULL) {
        reject_set(reject, TW_REMOTE_WRITE_EMPTY_BODY);
        rc = tw_error_set(err, TW_EPARSE, "empty body: expected a snappy-compressed WriteRequest");
        goto out;
    }
    if (len > lim.max_body_bytes) {
        reject_set(reject, TW_REMOTE_WRITE_TOO_LARGE);
        rc =
            tw_error_set(err, TW_ELIMIT, "request body of %zu bytes exceeds the limit of %zu bytes",
                         len, lim.max_body_bytes);
        goto out;
    }
    size_t dlen = 0;
    if (snappy_uncompressed_length(body, len, &dlen) != SNAPPY_OK) {
        reject_set(reject, TW_REMOTE_WRITE_SNAPPY);
        rc = tw_error_set(err, TW_EPARSE,
                          "snappy: corrupt input: no valid block-format length header");
        goto out;
    }
    if (dlen > lim.max_decoded_bytes) {
        reject_set(reject, TW_REMOTE_WRITE_TOO_LARGE);
        rc =
            tw_error_set(err, TW_ELIMIT, "decoded body of %zu bytes exceeds the limit of %zu bytes",
                         dlen, lim.max_decoded_bytes);
        goto out;
    }
    raw = tw_xmalloc(dlen != 0 ? dlen : 1);
    size_t got = dlen;
    if (snappy_uncompress(body, len, raw, &got) != SNAPPY_OK || got != dlen) {
        reject_set(reject, TW_REMOTE_WRITE_SNAPPY);
        rc = tw_error_set(err, TW_EPARSE, "snappy: corrupt input");
        goto out;
    }

    scratch = tw_arena_new(64 * 1024);
    budget_t b = {.arena = scratch, .used = 0, .max = lim.max_decode_memory_bytes};
    ProtobufCAllocator alloc = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &b};
    wr = tw__prompb__write_request__unpack(&alloc, dlen, (const uint8_t *)raw);
    if (wr == NULL) {
        if (b.exhausted) {
            reject_set(reject, TW_REMOTE_WRITE_TOO_LARGE);
            rc = tw_error_set(err, TW_ELIMIT,
                              "request too large: decoding it needs more than %zu bytes of memory",
                              lim.max_decode_memory_bytes);
        } else {
            reject_set(reject, TW_REMOTE_WRITE_PROTOBUF);
            rc = tw_error_set(err, TW_EPARSE,
                              "protobuf: cannot parse WriteRequest (%zu bytes): truncated or "
                              "malformed message, or a field with the wrong wire type",
                              dlen);
        }
        goto out;
    }

    size_t nsamples = 0, nexemplars = 0, nhistograms = 0;
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        nsamples += wr->timeseries[i]->n_samples;
        nexemplars += wr->timeseries[i]->n_exemplars;
        nhistograms += wr->timeseries[i]->n_histograms;
    }
    if (reject != NULL) {
        reject->nsamples = nsamples;
    }

    req = tw_xcalloc(1, sizeof(*req));
    req->arena = tw_arena_new(64 * 1024);
    tw_remote_series_t *series =
        tw_arena_calloc(req->arena, (wr->n_timeseries + 1) * sizeof(*series));
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        rc = build_series(wr->timeseries[i], i, &lim, req->arena, &series[i], reject, err);
        if (rc != 0) {
            goto out;
        }
    }
    tw_remote_metadata_t *md = tw_arena_calloc(req->arena, (wr->n_metadata + 1) * sizeof(*md));
    for (size_t i = 0; i < wr->n_metadata; i++) {
        const Tw__Prompb__MetricMetadata *m = wr->metadata[i];
        md[i].type = map_type((int)m->type);
        md[i].family = copy_bytes(req->arena, &m->metric_family_name);
        md[i].help = copy_bytes(req->arena, &m->help);
        md[i].unit = copy_bytes(req->arena, &m->unit);
    }
    req->series = series;
    req->nseries = wr->n_timeseries;
    req->metadata = md;
    req->nmetadata = wr->n_metadata;
    req->nsamples = nsamples;
    req->nexemplars = nexemplars;
    req->nhistograms = nhistograms;
    req->decoded_bytes = dlen;
    *out = req;
    req = NULL;

out:
    /* wr lives in scratch: freeing the arena frees it. */
    tw_arena_free(scratch);
    free(raw);
    tw_remote_write_request_free(req);
    return rc;
}

void tw_remote_write_request_free(tw_remote_write_request_t *req)
{
    if (req == NULL) {
        return;
    }
    tw_arena_free(req->arena);
    free(req);
}
