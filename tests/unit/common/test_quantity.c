/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_quantity.c - the shared Kubernetes quantity scanner and its exact conversions
 * (common/quantity.h). Expected values are apimachinery's (exact decimal arithmetic).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/error.h"
#include "common/quantity.h"

static tw_quantity_t scan_ok(const char *s)
{
    tw_quantity_t q;
    int rc = tw_quantity_parse(s, strlen(s), &q);
    if (rc != 0) {
        fail_msg("\"%s\": rc %d", s, rc);
    }
    return q;
}

/* q * 10^scale10 rounded away from zero; fails the test on an error. */
static int64_t up(const char *s, int scale10)
{
    tw_quantity_t q = scan_ok(s);
    int64_t v = -42;
    int rc = tw_quantity_round_up(&q, scale10, &v);
    if (rc != 0) {
        fail_msg("\"%s\" scale %d: rc %d", s, scale10, rc);
    }
    return v;
}

static void test_scan_fields(void **state)
{
    (void)state;
    tw_quantity_t q = scan_ok("-0012.500Ki");
    assert_true(q.neg);
    assert_true(q.has_digits);
    assert_int_equal(q.int_len, 2);
    assert_memory_equal(q.int_digits, "12", 2);
    assert_int_equal(q.frac_len, 3);
    assert_memory_equal(q.frac_digits, "500", 3);
    assert_int_equal(q.base, 2);
    assert_int_equal(q.exp, 10);
    assert_false(q.exp_written);
    assert_int_equal(tw_quantity_sig_digits(&q), 3); /* "125" */

    q = scan_ok("3e-7");
    assert_int_equal(q.base, 10);
    assert_int_equal(q.exp, -7);
    assert_true(q.exp_written);
    q = scan_ok("1E");
    assert_int_equal(q.exp, 18);
    assert_false(q.exp_written);
    q = scan_ok("+5e+0009");
    assert_int_equal(q.exp, 9);

    /* upstream accepts these as zero; has_digits tells them apart from "0" */
    static const char *const empty[] = {"", "+", "-", ".", "Ki", "m"};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        q = scan_ok(empty[i]);
        assert_false(q.has_digits);
        assert_true(tw_quantity_is_zero(&q));
    }
    q = scan_ok("000");
    assert_true(q.has_digits);
    assert_true(tw_quantity_is_zero(&q));
    assert_int_equal(q.int_len, 0);
    assert_int_equal(tw_quantity_sig_digits(&q), 0);
    q = scan_ok("100");
    assert_int_equal(tw_quantity_sig_digits(&q), 3);
    q = scan_ok("0.0012000");
    assert_int_equal(tw_quantity_sig_digits(&q), 2);
}

static void test_scan_errors(void **state)
{
    (void)state;
    static const char *const format[] = {"abc", "1x", "1.2.3", "1Kib", "1 m", " 1", "1Qi", "--1e"};
    for (size_t i = 0; i < sizeof(format) / sizeof(format[0]); i++) {
        tw_quantity_t q;
        if (tw_quantity_parse(format[i], strlen(format[i]), &q) != TW_EPARSE) {
            fail_msg("\"%s\" should be a format error", format[i]);
        }
    }
    static const char *const suffix[] = {
        "1KM", "1e", "1ki", "1ee3", "1e-", "1m3", "1Ki2", "--1", "1e9223372036854775808", "1mi"};
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        tw_quantity_t q;
        if (tw_quantity_parse(suffix[i], strlen(suffix[i]), &q) != TW_EINVAL) {
            fail_msg("\"%s\" should be a suffix error", suffix[i]);
        }
    }
    /* the digits are reported even when the suffix is wrong */
    tw_quantity_t q;
    assert_int_equal(tw_quantity_parse("12345x", 6, &q), TW_EPARSE);
    assert_int_equal(q.int_len, 5);
    /* len bounds the text: what follows is not read */
    assert_int_equal(tw_quantity_parse("250mXYZ", 4, &q), 0);
    assert_int_equal(q.exp, -3);
}

static void test_round_up(void **state)
{
    (void)state;
    assert_int_equal(up("250m", 3), 250);
    assert_int_equal(up("1.5Ki", 0), 1536);
    assert_int_equal(up("128Mi", 0), 134217728);
    assert_int_equal(up("0.1m", 3), 1); /* rounded up */
    assert_int_equal(up("0.1m", 0), 1);
    assert_int_equal(up("-1.5m", 3), -2); /* away from zero */
    assert_int_equal(up("-1.5m", 0), -1);
    assert_int_equal(up("12e-1", 0), 2);
    assert_int_equal(up("1E", 0), INT64_C(1000000000000000000));
    assert_int_equal(up("7.5Ei", 0), INT64_C(8646911284551352320));
    assert_int_equal(up("9223372036854775.807", 3), INT64_MAX);
    assert_int_equal(up("9223372036854775807", 0), INT64_MAX);
    assert_int_equal(up("1e-1000000", 3), 1);
    assert_int_equal(up("0e1000000", 3), 0);
    assert_int_equal(up("-0", 3), 0);
    /* exact past 18 significant digits, with or without a binary suffix */
    assert_int_equal(up("1234567890123456789", 0), INT64_C(1234567890123456789));
    assert_int_equal(up("1.0000000000000000000001", 3), 1001);
    assert_int_equal(up("1.0000000000000000000001", 0), 2);
    assert_int_equal(up("4559.080270000002000048Ti", 3), INT64_C(5012761768829147779));
    assert_int_equal(up("0.000009Ei", 3), INT64_C(10376293541461623));
    assert_int_equal(up("0.0000000000000000000000000000000000000000001Ki", 3), 1);

    tw_quantity_t q = scan_ok("9223372036854775808");
    int64_t v;
    assert_int_equal(tw_quantity_round_up(&q, 0, &v), TW_ELIMIT);
    q = scan_ok("9223372036854775.8071");
    assert_int_equal(tw_quantity_round_up(&q, 3, &v), TW_ELIMIT); /* the round-up overflows */
    q = scan_ok("8Ei");
    assert_int_equal(tw_quantity_round_up(&q, 0, &v), TW_ELIMIT);
    q = scan_ok("1e19");
    assert_int_equal(tw_quantity_round_up(&q, 0, &v), TW_ELIMIT);
    q = scan_ok("1e9000000000000000000");
    assert_int_equal(tw_quantity_round_up(&q, 0, &v), TW_ELIMIT);
}

static void test_scaled(void **state)
{
    (void)state;
    uint64_t w = 99;
    bool inexact = true;
    tw_quantity_t q = scan_ok("-2.5");
    assert_int_equal(tw_quantity_scaled(&q, 0, &w, &inexact), 0);
    assert_int_equal(w, 2);
    assert_true(inexact);
    assert_int_equal(tw_quantity_scaled(&q, 1, &w, &inexact), 0);
    assert_int_equal(w, 25);
    assert_false(inexact);
    q = scan_ok("1.5Ki");
    assert_int_equal(tw_quantity_scaled(&q, -3, &w, &inexact), 0);
    assert_int_equal(w, 1); /* 1.536 */
    assert_true(inexact);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_fields),
        cmocka_unit_test(test_scan_errors),
        cmocka_unit_test(test_round_up),
        cmocka_unit_test(test_scaled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
