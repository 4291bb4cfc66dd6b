/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_timeutil.c - the calendar and RFC 3339 parsing of common/timeutil.h. Expected values are
 * Go's time.Parse(time.RFC3339Nano, s).UnixMilli() and Python's datetime.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/timeutil.h"

static void test_days_from_civil(void **state)
{
    (void)state;
    assert_int_equal(tw_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tw_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(tw_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(tw_days_from_civil(1600, 2, 29), -135081);
    assert_int_equal(tw_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(tw_days_from_civil(2026, 1, 1), 20454);
    /* past the month's end counts on */
    assert_int_equal(tw_days_from_civil(2023, 2, 29), tw_days_from_civil(2023, 3, 1));
}

static int64_t parse_ok(const char *s)
{
    int64_t t = -42;
    int rc = tw_time_rfc3339_parse(s, &t);
    if (rc != 0) {
        fail_msg("\"%s\": rc %d", s, rc);
    }
    return t;
}

static void test_rfc3339(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2026-01-01T00:00:00Z"), INT64_C(1767225600000));
    assert_int_equal(parse_ok("2024-02-29T12:00:00Z"), INT64_C(1709208000000));
    assert_int_equal(parse_ok("2026-01-01T00:00:00.123456789Z"), INT64_C(1767225600123));
    assert_int_equal(parse_ok("2026-01-01T00:00:00.5Z"), INT64_C(1767225600500));
    assert_int_equal(parse_ok("2026-01-01T00:00:00,25Z"), INT64_C(1767225600250));
    assert_int_equal(parse_ok("2026-01-01T00:00:00.000000000000001Z"), INT64_C(1767225600000));
    assert_int_equal(parse_ok("2026-01-01t05:30:00+05:30"), INT64_C(1767225600000));
    assert_int_equal(parse_ok("2025-12-31T18:30:00-05:30"), INT64_C(1767225600000));
    assert_int_equal(parse_ok("2026-01-01T00:00:00z"), INT64_C(1767225600000));
    assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), -1000);
    assert_int_equal(parse_ok("1969-12-31T23:59:59.5Z"), -500);
    assert_int_equal(parse_ok("0001-01-01T00:00:00Z"), INT64_C(-62135596800000));
    assert_int_equal(parse_ok("9999-12-31T23:59:59Z"), INT64_C(253402300799000));
    assert_int_equal(parse_ok("2000-02-29T00:00:00+23:59"), INT64_C(951696060000));

    static const char *const bad[] = {
        "",
        "2026-01-01",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00Zjunk",
        "2026-01-01T00:00:00.Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:60Z",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+05:60",
        "2026-01-01T00:00:00+0530",
        "26-01-01T00:00:00Z",
        "2026-1-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = 7;
        if (tw_time_rfc3339_parse(bad[i], &t) != TW_EPARSE || t != 7) {
            fail_msg("\"%s\" should not parse", bad[i]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
