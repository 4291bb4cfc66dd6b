/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_promql_ftoa.c - the shortest round-trip digits of float64 values (query/promql_ftoa.c):
 * known strings (Go's FormatFloat(v, 'f', -1, 64) output), and the fast paths (integers, Ryu)
 * against the slow reference method ("%.*e" at the shortest precision strtod reads back) over
 * random bit patterns, short mantissas (where rounding ties happen), decimals and subnormals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include <cmocka.h>

#include "common/buf.h"
#include "query/query_int.h"

static void expect_f(double v, const char *want)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    assert_int_equal(tw_promql_format_float(v, &b), 0);
    assert_string_equal(b.data, want);
    tw_buf_fini(&b);
    double a = fabs(v);
    if (isfinite(v) && (a == 0 || (a >= 1e-6 && a < 1e21))) {
        char out[TW_PROMQL_FLOAT_CHARS_MAX + 1];
        size_t n = tw_promql_format_float_chars(v, out);
        assert_true(n <= TW_PROMQL_FLOAT_CHARS_MAX);
        out[n] = '\0';
        assert_string_equal(out, want);
    }
}

static void test_known_strings(void **state)
{
    (void)state;
    expect_f(0, "0");
    expect_f(-0.0, "-0");
    expect_f(1, "1");
    expect_f(-1024, "-1024");
    expect_f(1e15, "1000000000000000");
    expect_f(0.1, "0.1");
    expect_f(0.3, "0.3");
    expect_f(0.1 + 0.2, "0.30000000000000004");
    expect_f(1.0 / 3, "0.3333333333333333");
    expect_f(2.0 / 3, "0.6666666666666666");
    expect_f(123456789.125, "123456789.125");
    expect_f(1e-6, "0.000001");
    expect_f(5e-7, "0.0000005");
    expect_f(9007199254740993.0, "9007199254740992");
    expect_f(1e23, "100000000000000000000000");
    /* The extremes: 323 zeros after the point, 292 after the digits. */
    expect_f(5e-324,
             "0.000000000000000000000000000000000000000000000000000000000000000000000000000000"
             "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
             "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
             "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
             "000005");
    expect_f(1.7976931348623157e308,
             "17976931348623157000000000000000000000000000000000000000000000000000000000000000"
             "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
             "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
             "000000000000000000000000000000000000000000000000000000000000000000000");
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t mismatches;

static void check_same(double v)
{
    if (!isfinite(v) || v == 0) {
        return;
    }
    char a[32], b[32];
    size_t na, nb;
    int ea, eb;
    bool sa = tw_promql_shortest_digits(v, a, &na, &ea);
    bool sb = tw_promql_shortest_digits_ref(v, b, &nb, &eb);
    if (sa != sb || na != nb || ea != eb || memcmp(a, b, na) != 0) {
        if (mismatches++ < 5) {
            print_error("%.17g: fast %.*se%d, reference %.*se%d\n", v, (int)na, a, ea, (int)nb, b,
                        eb);
        }
    }
}

static void test_fast_equals_reference(void **state)
{
    (void)state;
    mismatches = 0;
    for (int i = 0; i < 40000; i++) {
        uint64_t r = next_rand();
        double v;
        memcpy(&v, &r, sizeof(v));
        check_same(v);
        check_same((double)(next_rand() >> 11) * ldexp(1.0, (int)(next_rand() % 200) - 150));
        check_same((double)(next_rand() % 100000) * ldexp(1.0, (int)(next_rand() % 120) - 80));
        check_same((double)(next_rand() % 1000000) / 1000.0);
        check_same((double)(next_rand() % 100000000) / (double)(1 + next_rand() % 1000));
        uint64_t sub = next_rand() & ((UINT64_C(1) << 52) - 1);
        memcpy(&v, &sub, sizeof(v));
        check_same(v);
    }
    assert_int_equal(mismatches, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_strings),
        cmocka_unit_test(test_fast_equals_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
