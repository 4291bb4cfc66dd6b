/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rw_encode.h - the remote_write 1.0 request encoding the load generators share (demo_gen.c,
 * rw_crash_load.c): the WriteRequest protobuf written by hand in proto3 wire format
 * (docs/formats/remote-write.md: WriteRequest{repeated TimeSeries = 1}, TimeSeries{repeated
 * Label = 1, repeated Sample = 2}, Label{name = 1, value = 2}, Sample{double value = 1, int64
 * timestamp = 2}), snappy block compression, and Prometheus 2.42's request headers.
 *
 * Written apart from collector/remote on purpose: the tools are an independent encoder that the
 * daemon's decoder is tested against. Header-only (static inline), because each tools/ source file
 * is its own executable. Single-threaded use; no state.
 */
#ifndef TW_TESTS_TOOLS_RW_ENCODE_H
#define TW_TESTS_TOOLS_RW_ENCODE_H

#include <curl/curl.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"

/* Appends v as a protobuf varint. Returns 0 or the buffer's error. */
static inline int rw_put_uvarint(tw_buf_t *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    return tw_buf_append(b, tmp, n);
}

/* Appends a length-delimited field: tag, length, bytes. Returns 0 or -1. */
static inline int rw_put_bytes_field(tw_buf_t *b, unsigned field, const void *p, size_t n)
{
    if (rw_put_uvarint(b, ((uint64_t)field << 3) | 2) != 0 || rw_put_uvarint(b, n) != 0) {
        return -1;
    }
    return tw_buf_append(b, p, n);
}

/* Appends Label{name, value} as field 1 of the TimeSeries in ts. Returns 0 or -1. */
static inline int rw_put_label(tw_buf_t *ts, const char *name, const char *value)
{
    tw_buf_t l;
    tw_buf_init(&l, 0);
    int rc = rw_put_bytes_field(&l, 1, name, strlen(name));
    if (rc == 0) {
        rc = rw_put_bytes_field(&l, 2, value, strlen(value));
    }
    if (rc == 0) {
        rc = rw_put_bytes_field(ts, 1, l.data, l.len);
    }
    tw_buf_fini(&l);
    return rc;
}

/* Appends Sample{value, timestamp} as field 2 of the TimeSeries in ts, the value given as its
 * IEEE 754 bits (so a stale NaN keeps its payload). Returns 0 or -1. */
static inline int rw_put_sample_bits(tw_buf_t *ts, uint64_t bits, int64_t t)
{
    unsigned char s[1 + 8 + 1 + 10];
    s[0] = (1 << 3) | 1; /* fixed64 */
    for (int i = 0; i < 8; i++) {
        s[1 + i] = (unsigned char)(bits >> (8 * i));
    }
    s[9] = (2 << 3) | 0; /* varint: an int64 is its two's complement as uint64 */
    size_t n = 10;
    uint64_t u = (uint64_t)t;
    while (u >= 0x80) {
        s[n++] = (unsigned char)(u | 0x80);
        u >>= 7;
    }
    s[n++] = (unsigned char)u;
    return rw_put_bytes_field(ts, 2, s, n);
}

/* rw_put_sample_bits() with a double. */
static inline int rw_put_sample(tw_buf_t *ts, double v, int64_t t)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return rw_put_sample_bits(ts, bits, t);
}

/*
 * Compresses req with snappy's block format into *comp (grown with tw_xrealloc as needed;
 * *cap is its size; the caller frees *comp). Returns the compressed length, or 0 on failure.
 */
static inline size_t rw_snappy(const tw_buf_t *req, char **comp, size_t *cap)
{
    size_t need = snappy_max_compressed_length(req->len);
    if (need > *cap) {
        *comp = tw_xrealloc(*comp, need);
        *cap = need;
    }
    size_t len = *cap;
    if (snappy_compress(req->data, req->len, *comp, &len) != SNAPPY_OK) {
        return 0;
    }
    return len;
}

/*
 * The headers Prometheus 2.42 sends with a remote_write request, with "User-Agent: <agent>"
 * and no "Expect: 100-continue". Free with curl_slist_free_all().
 */
static inline struct curl_slist *rw_headers(const char *agent)
{
    char ua[128];
    snprintf(ua, sizeof(ua), "User-Agent: %s", agent);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Encoding: snappy");
    h = curl_slist_append(h, "Content-Type: application/x-protobuf");
    h = curl_slist_append(h, "X-Prometheus-Remote-Write-Version: 0.1.0");
    h = curl_slist_append(h, ua);
    h = curl_slist_append(h, "Expect:");
    return h;
}

#endif
