/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vpa_histogram.c - the VPA histograms (vpa_histogram.c): the CPU and memory bucket
 * layouts quoted in ../shared/conformance/vpa/README.md, percentile as the end of a bucket,
 * epsilon emptiness, decay with renormalisation, merge, and checkpoint scaling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"

#define HOUR_MS INT64_C(3600000)
/* decaying_histogram_test.go's startTime (1234567890 s). */
#define START_MS INT64_C(1234567890000)

static void assert_close(double want, double got, double rel)
{
    if (fabs(got - want) > rel * fabs(want)) {
        fail_msg("expected %.17g, got %.17g", want, got);
    }
}

static void test_cpu_layout(void **state)
{
    (void)state;
    tw_vpa_hist_options_t o;
    tw_vpa_hist_options_cpu(&o);
    assert_int_equal(o.num_buckets, 176);
    assert_close(0.01, tw_vpa_hist_options_bucket_start(&o, 1), 1e-12);
    assert_close(0.0205, tw_vpa_hist_options_bucket_start(&o, 2), 1e-12);
    assert_close(0.12578, tw_vpa_hist_options_bucket_start(&o, 10), 1e-4);
    assert_close(2.0935, tw_vpa_hist_options_bucket_start(&o, 50), 1e-4);
    assert_close(26.100, tw_vpa_hist_options_bucket_start(&o, 100), 1e-4);
    assert_close(1021.1, tw_vpa_hist_options_bucket_start(&o, 175), 1e-4);
    assert_true(o.epsilon == 1e-4);
    /* Values beyond the last start go to the last bucket; below the first, to bucket 0. */
    assert_int_equal(tw_vpa_hist_options_find_bucket(&o, 1e9), 175);
    assert_int_equal(tw_vpa_hist_options_find_bucket(&o, 0.009), 0);
    assert_int_equal(tw_vpa_hist_options_find_bucket(&o, -1), 0);
    assert_int_equal(tw_vpa_hist_options_find_bucket(&o, 0.01), 1);
}

static void test_memory_layout(void **state)
{
    (void)state;
    tw_vpa_hist_options_t o;
    tw_vpa_hist_options_memory(&o);
    assert_int_equal(o.num_buckets, 176);
    assert_close(1e7, tw_vpa_hist_options_bucket_start(&o, 1), 1e-12);
    assert_close(1.0211e12, tw_vpa_hist_options_bucket_start(&o, 175), 1e-3);
}

static void test_bad_options(void **state)
{
    (void)state;
    tw_vpa_hist_options_t o;
    tw_error_t err = {0};
    assert_int_equal(tw_vpa_hist_options_linear(&o, 10, 0, 1e-3, &err), TW_EINVAL);
    assert_int_equal(tw_vpa_hist_options_exponential(&o, 10, 1, 1.0, 1e-3, &err), TW_EINVAL);
    assert_int_equal(tw_vpa_hist_options_linear(&o, 1e9, 1e-3, 1e-3, &err), TW_EINVAL);
}

static void test_percentile_is_bucket_end(void **state)
{
    (void)state;
    tw_vpa_hist_options_t o;
    tw_vpa_hist_options_cpu(&o);
    tw_vpa_hist_t *h = tw_vpa_hist_new(&o);
    assert_true(tw_vpa_hist_is_empty(h));
    assert_true(tw_vpa_hist_percentile(h, 0.5) == 0.0);
    tw_vpa_hist_add(h, 1.0, 1.0, 0);
    /* 1.0 core sits in bucket 36; the answer is its end (bucket 37's start), 1.0163 cores. */
    assert_int_equal(tw_vpa_hist_options_find_bucket(&o, 1.0), 36);
    assert_close(tw_vpa_hist_options_bucket_start(&o, 37), tw_vpa_hist_percentile(h, 0.9), 0);
    assert_close(1.0163, tw_vpa_hist_percentile(h, 0.9), 1e-4);
    tw_vpa_hist_add(h, 3.0, 1.0, 0);
    assert_close(1.0163, tw_vpa_hist_percentile(h, 0.5), 1e-4);
    assert_true(tw_vpa_hist_percentile(h, 0.51) > 3.0);
    tw_vpa_hist_free(h);
}

static void test_subtract_clamps_below_epsilon(void **state)
{
    (void)state;
    tw_vpa_hist_options_t o;
    assert_int_equal(tw_vpa_hist_options_linear(&o, 1.0, 0.1, 1e-15, NULL), 0);
    tw_vpa_hist_t *h = tw_vpa_hist_new(&o);
    tw_vpa_hist_add(h, 0.1, 2.5e-15, 0);
    tw_vpa_hist_subtract(h, 0.1, 1e-15, 0);
    assert_false(tw_vpa_hist_is_empty(h));
    tw_vpa_hist_subtract(h, 0.1, 1e-15, 0);
    assert_true(tw_vpa_hist_is_empty(h));
    assert_true(tw_vpa_hist_bucket_weight(h, 1) == 0.0);
    assert_true(tw_vpa_hist_total_weight(h) == 0.0);
    tw_vpa_hist_free(h);
}

static void test_decay_halves_per_half_life(void **state)
{
    (void)state;
    tw_vpa_hist_options_t o;
    assert_int_equal(tw_vpa_hist_options_linear(&o, 10, 1, 1e-15, NULL), 0);
    tw_vpa_hist_t *h = tw_vpa_hist_new_decaying(&o, HOUR_MS);
    /* First sample: the reference moves off Go's zero time to the nearest whole hour. */
    tw_vpa_hist_add(h, 2, 1, START_MS);
    /* 1234567890 s is 1890 s past a whole hour counted from year 1: rounds up (+1710 s). */
    assert_true(tw_vpa_hist_reference_ms(h) == START_MS + 1710000);
    double w0 = tw_vpa_hist_bucket_weight(h, 2);
    assert_close(exp2(-1710.0 / 3600.0), w0, 1e-15);
    tw_vpa_hist_add(h, 3, 1, START_MS + HOUR_MS);
    assert_close(2 * w0, tw_vpa_hist_bucket_weight(h, 3), 1e-15);
    tw_vpa_hist_free(h);
}

static void test_renormalisation_after_100_half_lives(void **state)
{
    (void)state;
    tw_vpa_hist_options_t o;
    assert_int_equal(tw_vpa_hist_options_linear(&o, 10, 1, 1e-15, NULL), 0);
    tw_vpa_hist_t *h = tw_vpa_hist_new_decaying(&o, HOUR_MS);
    tw_vpa_hist_add(h, 2, 1, START_MS);
    int64_t ref = tw_vpa_hist_reference_ms(h);
    tw_vpa_hist_add(h, 1, 1, START_MS + 101 * HOUR_MS);
    assert_true(tw_vpa_hist_reference_ms(h) == ref + 101 * HOUR_MS);
    /* The old sample dropped below epsilon: invisible to percentiles, still in the total. */
    assert_close(2.0, tw_vpa_hist_percentile(h, 1.0), 0);
    assert_true(tw_vpa_hist_bucket_weight(h, 2) > 0 && tw_vpa_hist_bucket_weight(h, 2) < 1e-15);
    assert_close(exp2(-1710.0 / 3600.0), tw_vpa_hist_bucket_weight(h, 1), 1e-15);
    tw_vpa_hist_free(h);
}

static void test_merge_aligns_references(void **state)
{
    (void)state;
    tw_vpa_hist_options_t o;
    assert_int_equal(tw_vpa_hist_options_linear(&o, 10, 1, 1e-15, NULL), 0);
    tw_vpa_hist_t *a = tw_vpa_hist_new_decaying(&o, HOUR_MS);
    tw_vpa_hist_t *b = tw_vpa_hist_new_decaying(&o, HOUR_MS);
    tw_vpa_hist_t *want = tw_vpa_hist_new_decaying(&o, HOUR_MS);
    tw_vpa_hist_add(a, 1, 1, START_MS);
    tw_vpa_hist_add(b, 2, 1, START_MS + 200 * HOUR_MS);
    tw_vpa_hist_add(want, 2, 1, START_MS + 200 * HOUR_MS);
    tw_vpa_hist_add(want, 1, 1, START_MS);
    assert_int_equal(tw_vpa_hist_merge(a, b, NULL), 0);
    assert_true(tw_vpa_hist_equals(a, want));
    tw_vpa_hist_t *plain = tw_vpa_hist_new(&o);
    assert_int_equal(tw_vpa_hist_merge(a, plain, NULL), TW_EINVAL);
    tw_vpa_hist_free(a);
    tw_vpa_hist_free(b);
    tw_vpa_hist_free(want);
    tw_vpa_hist_free(plain);
}

static void test_checkpoint_scaling_and_load(void **state)
{
    (void)state;
    tw_vpa_hist_options_t o;
    assert_int_equal(tw_vpa_hist_options_linear(&o, 10, 1, 1e-15, NULL), 0);
    tw_vpa_hist_t *h = tw_vpa_hist_new(&o);
    tw_vpa_hist_add(h, 1, 1, 0);
    tw_vpa_hist_add(h, 2, 3, 0);
    tw_vpa_hist_add(h, 5, 0.00001, 0); /* scales to 0.0333: dropped */
    tw_vpa_hist_checkpoint_t cp;
    tw_vpa_hist_save(h, &cp);
    assert_int_equal(cp.n_buckets, 2);
    assert_int_equal(cp.buckets[0].index, 1);
    assert_int_equal(cp.buckets[0].weight, 3333); /* 1 * 10000/3 rounded */
    assert_int_equal(cp.buckets[1].index, 2);
    assert_int_equal(cp.buckets[1].weight, 10000);
    assert_close(4.00001, cp.total_weight, 1e-15);

    tw_vpa_hist_t *l = tw_vpa_hist_new(&o);
    assert_int_equal(tw_vpa_hist_load(l, &cp, NULL), 0);
    assert_close(4.00001 * 3333 / 13333, tw_vpa_hist_bucket_weight(l, 1), 1e-12);
    assert_close(4.00001, tw_vpa_hist_total_weight(l), 1e-15);
    /* Loading adds to what is there. */
    assert_int_equal(tw_vpa_hist_load(l, &cp, NULL), 0);
    assert_close(8.00002, tw_vpa_hist_total_weight(l), 1e-15);

    tw_error_t err = {0};
    cp.buckets[0].index = 10; /* num_buckets is 11: index 10 is the last valid one */
    assert_int_equal(tw_vpa_hist_load(l, &cp, &err), 0);
    cp.buckets[0].index = 11;
    assert_int_equal(tw_vpa_hist_load(l, &cp, &err), TW_EINVAL);
    assert_non_null(strstr(err.msg, "exceeding histogram buckets"));
    cp.buckets[0].index = -1;
    assert_int_equal(tw_vpa_hist_load(l, &cp, &err), TW_EINVAL);
    cp.buckets[0].index = 1;
    cp.total_weight = -1;
    assert_int_equal(tw_vpa_hist_load(l, &cp, &err), TW_EINVAL);
    assert_int_equal(tw_vpa_hist_load(l, NULL, &err), TW_EINVAL);
    tw_vpa_hist_checkpoint_fini(&cp);
    tw_vpa_hist_free(h);
    tw_vpa_hist_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_layout),
        cmocka_unit_test(test_memory_layout),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_percentile_is_bucket_end),
        cmocka_unit_test(test_subtract_clamps_below_epsilon),
        cmocka_unit_test(test_decay_halves_per_half_life),
        cmocka_unit_test(test_renormalisation_after_100_half_lives),
        cmocka_unit_test(test_merge_aligns_references),
        cmocka_unit_test(test_checkpoint_scaling_and_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
