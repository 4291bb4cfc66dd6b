/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_chunk_xor.c - the XOR chunk: exact bytes of a small chunk (Prometheus' layout), round
 * trips of special values and irregular timestamps, dod width boundaries, malformed input.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/tsdb/tsdb_int.h"

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static uint64_t to_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static void roundtrip(const int64_t *ts, const uint64_t *vb, size_t n)
{
    tsdb_chunk_t c;
    tsdb_xor_state_t st;
    tsdb_chunk_init(&c, &st);
    for (size_t i = 0; i < n; i++) {
        tsdb_chunk_append(&c, &st, ts[i], from_bits(vb[i]));
    }
    assert_int_equal(tsdb_chunk_count(c.data, tsdb_chunk_bytes(&c)), n);
    assert_int_equal(c.mint, ts[0]);
    assert_int_equal(c.maxt, ts[n - 1]);
    tsdb_chunk_trim(&c);
    tsdb_xor_iter_t it;
    tsdb_xor_iter_init(&it, c.data, tsdb_chunk_bytes(&c));
    for (size_t i = 0; i < n; i++) {
        assert_true(tsdb_xor_iter_next(&it));
        assert_int_equal(it.st.t, ts[i]);
        assert_int_equal(it.st.vbits, vb[i]);
    }
    assert_false(tsdb_xor_iter_next(&it));
    assert_int_equal(it.err, 0);
    tsdb_chunk_fini(&c);
}

static void test_exact_bytes(void **state)
{
    (void)state;
    tsdb_chunk_t c;
    tsdb_xor_state_t st;
    tsdb_chunk_init(&c, &st);
    tsdb_chunk_append(&c, &st, 1000, 1.0);
    /* count 1, varint(1000) = zigzag 2000 = d0 0f, then the bits of 1.0 */
    static const uint8_t want1[] = {0x00, 0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(tsdb_chunk_bytes(&c), sizeof(want1));
    assert_memory_equal(c.data, want1, sizeof(want1));
    /* t+15000 (uvarint 15000 = 98 75), same value: one 0 bit */
    tsdb_chunk_append(&c, &st, 16000, 1.0);
    static const uint8_t want2[] = {0x00, 0x02, 0xd0, 0x0f, 0x3f, 0xf0, 0,   0,
                                    0,    0,    0,    0,    0x98, 0x75, 0x00};
    assert_int_equal(tsdb_chunk_bytes(&c), sizeof(want2));
    assert_memory_equal(c.data, want2, sizeof(want2));
    /* same interval (dod 0: bit 0), same value (bit 0) */
    tsdb_chunk_append(&c, &st, 31000, 1.0);
    assert_int_equal(tsdb_chunk_bytes(&c), 15);
    assert_int_equal(c.nbits, 10 * 8 + 8 + 8 + 1 + 2);
    tsdb_chunk_fini(&c);
}

static void test_special_values(void **state)
{
    (void)state;
    int64_t ts[] = {-5, 0, 15000, 30000, 45001, 59999, 75000, 90000, 105000, 120000, 135000};
    uint64_t vb[] = {to_bits(0.0),
                     to_bits(-0.0),
                     UINT64_C(0x7ff0000000000002), /* stale NaN */
                     UINT64_C(0x7ff8000000000001), /* another NaN payload */
                     to_bits(INFINITY),
                     to_bits(-INFINITY),
                     to_bits(1e308),
                     to_bits(-4.9e-324),
                     UINT64_C(0x7ff0000000000002),
                     UINT64_C(0x7ff0000000000002),
                     to_bits(42.5)};
    roundtrip(ts, vb, sizeof(ts) / sizeof(ts[0]));
}

static void test_irregular_and_jumps(void **state)
{
    (void)state;
    /* dod at each width boundary: 0, 8192 (14 bits), -8191, 8193 (17), 65536, -65535, 65537
     * (20 bits), 524288, 524289 (64 bits), and huge jumps both ways. */
    int64_t d[] = {15000,  15000,
                   23192,  15001,
                   23194,  88730,
                   23195,  88732,
                   612020, 1136309,
                   1000,   INT64_C(1) << 40,
                   1,      -(INT64_C(1) << 35),
                   7};
    size_t n = sizeof(d) / sizeof(d[0]) + 1;
    int64_t ts[32];
    uint64_t vb[32];
    ts[0] = INT64_C(1700000000000);
    for (size_t i = 1; i < n; i++) {
        ts[i] = ts[i - 1] + d[i - 1];
    }
    for (size_t i = 0; i < n; i++) {
        vb[i] = to_bits((double)(i * 37 % 11) * 1.5 + (i % 3 == 0 ? 1e-9 : 0));
    }
    roundtrip(ts, vb, n);
}

static void test_many_counter(void **state)
{
    (void)state;
    int64_t ts[120];
    uint64_t vb[120];
    for (int i = 0; i < 120; i++) {
        ts[i] = 1000 + i * 15000 + (i % 7 == 0 ? 3 : 0);
        vb[i] = to_bits(1000.0 + i * 12.25);
    }
    roundtrip(ts, vb, 120);
    /* compression sanity: 120 regular samples of a counter stay well under 16 bytes each */
    tsdb_chunk_t c;
    tsdb_xor_state_t st;
    tsdb_chunk_init(&c, &st);
    for (int i = 0; i < 120; i++) {
        tsdb_chunk_append(&c, &st, ts[i], from_bits(vb[i]));
    }
    assert_true(tsdb_chunk_bytes(&c) < 120 * 4);
    tsdb_chunk_fini(&c);
}

static void test_malformed(void **state)
{
    (void)state;
    tsdb_chunk_t c;
    tsdb_xor_state_t st;
    tsdb_chunk_init(&c, &st);
    for (int i = 0; i < 10; i++) {
        tsdb_chunk_append(&c, &st, i * 1000 + (i * i), (double)i * 3.3);
    }
    size_t len = tsdb_chunk_bytes(&c);
    /* truncated: decoding stops with an error, never reads past len */
    for (size_t cut = 0; cut < len - 1; cut++) {
        tsdb_xor_iter_t it;
        tsdb_xor_iter_init(&it, c.data, cut);
        int k = 0;
        while (tsdb_xor_iter_next(&it)) {
            k++;
        }
        assert_true(k < 10);
        assert_int_equal(it.err, TW_EIO);
    }
    /* a count larger than the data */
    uint8_t bad[] = {0xff, 0xff, 0x02, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
    tsdb_xor_iter_t it;
    tsdb_xor_iter_init(&it, bad, sizeof(bad));
    assert_true(tsdb_xor_iter_next(&it));
    assert_int_equal(it.st.t, 1);
    assert_false(tsdb_xor_iter_next(&it));
    assert_int_equal(it.err, TW_EIO);
    tsdb_chunk_fini(&c);
}

/* ---- a reference decoder that reads bit by bit (the format as docs/formats/chunks.md states
 * it), to check the word-at-a-time reader sample for sample, error for error ---- */

typedef struct ref_rd {
    const uint8_t *d;
    size_t nbits, pos;
    bool bad;
} ref_rd_t;

static uint64_t ref_bits(ref_rd_t *r, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (r->pos >= r->nbits) {
            r->bad = true;
            return 0;
        }
        v = (v << 1) | ((r->d[2 + r->pos / 8] >> (7 - r->pos % 8)) & 1);
        r->pos++;
    }
    return v;
}

static uint64_t ref_uvarint(ref_rd_t *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70 && !r->bad; shift += 7) {
        uint64_t b = ref_bits(r, 8);
        if (shift == 63 && b > 1) {
            r->bad = true;
        }
        v |= (b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return v;
        }
    }
    r->bad = true;
    return 0;
}

/* Decodes like Prometheus' XORChunk iterator; returns the samples before the first error and
 * sets *bad when there was one. */
static size_t ref_decode(const uint8_t *d, size_t len, int64_t *ts, uint64_t *vs, size_t max,
                         bool *bad)
{
    *bad = false;
    if (len < 2) {
        *bad = true;
        return 0;
    }
    ref_rd_t r = {d, (len - 2) * 8, 0, false};
    size_t n = ((size_t)d[0] << 8) | d[1], k = 0;
    int64_t t = 0, delta = 0;
    uint64_t vb = 0;
    unsigned lead = 0xff, trail = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        if (i == 0) {
            uint64_t u = ref_uvarint(&r);
            t = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
            vb = ref_bits(&r, 64);
        } else {
            if (i == 1) {
                delta = (int64_t)ref_uvarint(&r);
            } else {
                unsigned ones = 0;
                while (ones < 4 && !r.bad && ref_bits(&r, 1) == 1) {
                    ones++;
                }
                static const unsigned w[] = {0, 14, 17, 20, 64};
                uint64_t raw = w[ones] > 0 ? ref_bits(&r, w[ones]) : 0;
                if (w[ones] > 0 && w[ones] < 64 && raw > (UINT64_C(1) << (w[ones] - 1))) {
                    raw -= UINT64_C(1) << w[ones];
                }
                delta = (int64_t)((uint64_t)delta + raw);
            }
            t = (int64_t)((uint64_t)t + (uint64_t)delta);
            if (ref_bits(&r, 1) == 1) {
                if (ref_bits(&r, 1) == 1) {
                    unsigned lz = (unsigned)ref_bits(&r, 5), sig = (unsigned)ref_bits(&r, 6);
                    sig = sig == 0 ? 64 : sig;
                    if (lz + sig > 64) {
                        r.bad = true;
                    }
                    lead = lz;
                    trail = 64 - lz - sig;
                } else if (lead == 0xff) {
                    r.bad = true;
                }
                if (!r.bad) {
                    vb ^= ref_bits(&r, 64 - lead - trail) << trail;
                }
            }
        }
        if (r.bad) {
            break;
        }
        ts[k] = t;
        vs[k] = vb;
        k++;
    }
    *bad = r.bad;
    return k;
}

/* The fast decoder (both tsdb_xor_iter_next and tsdb_xor_iter_decode) agrees with the reference
 * on d (copied to the heap with no slack, so a sanitizer sees any read past len). */
static void check_same(const uint8_t *d, size_t len)
{
    uint8_t *copy = malloc(len == 0 ? 1 : len);
    assert_non_null(copy);
    memcpy(copy, d, len);
    static int64_t rt[70000], ft[70000];
    static uint64_t rv[70000], fv[70000];
    bool bad;
    size_t rn = ref_decode(copy, len, rt, rv, 70000, &bad);
    tsdb_xor_iter_t it;
    tsdb_xor_iter_init(&it, copy, len);
    size_t fn = 0;
    while (tsdb_xor_iter_next(&it)) {
        assert_true(fn < rn);
        assert_int_equal(it.st.t, rt[fn]);
        assert_int_equal(it.st.vbits, rv[fn]);
        fn++;
    }
    assert_int_equal(fn, rn);
    assert_int_equal(it.err, bad ? TW_EIO : 0);
    tsdb_xor_iter_init(&it, copy, len);
    size_t half = tsdb_xor_iter_decode(&it, ft, fv, rn / 2);
    size_t rest = tsdb_xor_iter_decode(&it, ft + half, fv + half, 70000 - half);
    assert_int_equal(half + rest, rn);
    assert_memory_equal(ft, rt, rn * sizeof(*ft));
    assert_memory_equal(fv, rv, rn * sizeof(*fv));
    assert_int_equal(it.err, bad ? TW_EIO : 0);
    free(copy);
}

static uint64_t rnd_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_fast_reader_matches_reference(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 60; round++) {
        tsdb_chunk_t c;
        tsdb_xor_state_t st;
        tsdb_chunk_init(&c, &st);
        int64_t t = (int64_t)(rnd_next(&seed) % 2000000) - 1000000;
        double v = 100;
        size_t n = 1 + rnd_next(&seed) % 300;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rnd_next(&seed);
            /* every dod width, every value encoding (same, reused window, new window, 64-bit) */
            static const int64_t steps[] = {15000, 15000, 15000,   15003,
                                            14000, 80000, 1 << 20, (int64_t)1 << 40};
            t += steps[r % 8] + (int64_t)((r >> 8) % 3);
            switch ((r >> 16) % 5) {
            case 0:
                break;
            case 1:
                v += 1;
                break;
            case 2:
                v = from_bits(rnd_next(&seed));
                break;
            case 3:
                v *= -1.5;
                break;
            default:
                v = (double)(r >> 20);
            }
            tsdb_chunk_append(&c, &st, t, v);
        }
        size_t len = tsdb_chunk_bytes(&c);
        check_same(c.data, len);
        /* every truncation of small chunks, and random cuts and bit flips of any */
        for (size_t cut = 0; cut < len && len < 64; cut++) {
            check_same(c.data, cut);
        }
        for (int k = 0; k < 40; k++) {
            uint8_t *d = malloc(len);
            assert_non_null(d);
            memcpy(d, c.data, len);
            size_t cut = len;
            if (k % 2 == 0) {
                cut = (size_t)(rnd_next(&seed) % (len + 1));
            }
            for (int f = 0; f < 1 + k % 3; f++) {
                size_t bit = (size_t)(rnd_next(&seed) % (len * 8));
                d[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
            }
            check_same(d, cut);
            free(d);
        }
        tsdb_chunk_fini(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_irregular_and_jumps),
        cmocka_unit_test(test_many_counter),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_fast_reader_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
