/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rw_test_util.h - helpers for the remote_write tests: a tiny hand-written protobuf encoder (so
 * the tests build bodies independently of the protobuf-c code under test), snappy compression
 * with libsnappy, and reading fixture files. Header-only (static functions); test code only.
 */
#ifndef TW_TESTS_RW_TEST_UTIL_H
#define TW_TESTS_RW_TEST_UTIL_H

#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"

#define RW_FIXTURES TW_SHARED "/conformance/fixtures/remote-write"

/* The Prometheus stale marker. */
#define RW_STALE_NAN_BITS 0x7ff0000000000002ULL

static inline uint64_t rw_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static inline double rw_from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static inline void pb_varint(tw_buf_t *b, uint64_t v)
{
    while (v >= 0x80) {
        tw_buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    tw_buf_putc(b, (char)v);
}

static inline void pb_key(tw_buf_t *b, unsigned field, unsigned wt)
{
    pb_varint(b, ((uint64_t)field << 3) | wt);
}

static inline void pb_bytes(tw_buf_t *b, unsigned field, const void *p, size_t n)
{
    pb_key(b, field, 2);
    pb_varint(b, n);
    tw_buf_append(b, p, n);
}

static inline void pb_str(tw_buf_t *b, unsigned field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

static inline void pb_double(tw_buf_t *b, unsigned field, double v)
{
    uint64_t bits = rw_bits(v);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) {
        le[i] = (uint8_t)(bits >> (8 * i));
    }
    pb_key(b, field, 1);
    tw_buf_append(b, le, 8);
}

/* Appends sub as a length-delimited field and resets it. */
static inline void pb_msg(tw_buf_t *b, unsigned field, tw_buf_t *sub)
{
    pb_bytes(b, field, sub->data != NULL ? sub->data : "", sub->len);
    tw_buf_reset(sub);
}

/* Label message bytes into out (field 1 of a TimeSeries). */
static inline void pb_label(tw_buf_t *series, const char *name, const char *value)
{
    tw_buf_t l;
    tw_buf_init(&l, 0);
    pb_str(&l, 1, name);
    pb_str(&l, 2, value);
    pb_msg(series, 1, &l);
    tw_buf_fini(&l);
}

static inline void pb_sample(tw_buf_t *series, double v, int64_t t)
{
    tw_buf_t s;
    tw_buf_init(&s, 0);
    pb_double(&s, 1, v);
    pb_key(&s, 2, 0);
    pb_varint(&s, (uint64_t)t);
    pb_msg(series, 2, &s);
    tw_buf_fini(&s);
}

/* A WriteRequest with one series of n label pairs {name, value, ...} and one sample. */
static inline void pb_one_series(tw_buf_t *req, const char *const *kv, size_t npairs, double v,
                                 int64_t t)
{
    tw_buf_t ts;
    tw_buf_init(&ts, 0);
    for (size_t i = 0; i < npairs; i++) {
        pb_label(&ts, kv[2 * i], kv[2 * i + 1]);
    }
    pb_sample(&ts, v, t);
    pb_msg(req, 1, &ts);
    tw_buf_fini(&ts);
}

/* snappy-compresses raw into a new malloc'd buffer (*outlen bytes). */
static inline char *rw_snappy(const void *raw, size_t len, size_t *outlen)
{
    size_t cap = snappy_max_compressed_length(len);
    char *out = tw_xmalloc(cap);
    *outlen = cap;
    if (snappy_compress(raw, len, out, outlen) != SNAPPY_OK) {
        abort();
    }
    return out;
}

/* Reads a whole file (aborts on failure: fixtures must exist). */
static inline char *rw_read_file(const char *path, size_t *len)
{
    tw_buf_t b;
    tw_error_t err;
    tw_buf_init(&b, 64u * 1024u * 1024u);
    if (tw_buf_read_file(&b, path, &err) != 0) {
        fprintf(stderr, "cannot read %s: %s\n", path, err.msg);
        abort();
    }
    return tw_buf_steal(&b, len);
}

#endif
