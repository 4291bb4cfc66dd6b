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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes),         cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_irregular_and_jumps), cmocka_unit_test(test_many_counter),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
