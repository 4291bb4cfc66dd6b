/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vpa_checkpoint.c - aggregate checkpoints (vpa_model.c) and their byte encoding
 * (vpa_checkpoint.c): a round trip restores the recommendation, every flipped bit is caught by
 * the CRC, truncation and a wrong version are clear errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"

#define T0 INT64_C(1700000000000)

static tw_vpa_aggregate_t *filled(void)
{
    tw_vpa_aggregate_t *a = tw_vpa_aggregate_new(NULL, T0);
    tw_vpa_container_t c;
    tw_vpa_container_init(&c, a);
    for (int64_t m = 0; m < 3000; m++) {
        tw_vpa_container_add_cpu(&c, 200 + (m % 7) * 100, T0 + m * 60000);
        tw_vpa_container_add_memory(&c, 300000000 + (m % 13) * 10000000, T0 + m * 60000);
    }
    return a;
}

static void test_round_trip_keeps_recommendation(void **state)
{
    (void)state;
    tw_vpa_aggregate_t *a = filled();
    tw_vpa_aggregate_checkpoint_t cp, back;
    tw_vpa_aggregate_save(a, &cp);
    assert_string_equal(cp.version, "v3");
    size_t len = 0;
    uint8_t *bytes = tw_vpa_checkpoint_encode(&cp, &len, NULL);
    assert_non_null(bytes);
    assert_int_equal(tw_vpa_checkpoint_decode(bytes, len, &back, NULL), 0);
    assert_int_equal(back.total_samples, 3000);
    assert_true(back.first_sample_ms == T0 && back.last_sample_ms == T0 + 2999 * 60000);
    assert_int_equal(back.cpu.n_buckets, cp.cpu.n_buckets);
    assert_true(back.cpu.total_weight == cp.cpu.total_weight);
    assert_true(back.memory.reference_ms == cp.memory.reference_ms);

    tw_vpa_aggregate_t *r = tw_vpa_aggregate_new(NULL, T0);
    assert_int_equal(tw_vpa_aggregate_load(r, &back, NULL), 0);
    tw_vpa_recommender_config_t cfg;
    tw_vpa_estimators_t est;
    tw_vpa_recommender_config_init(&cfg);
    tw_vpa_estimators_init(&est, &cfg);
    tw_vpa_pod_container_t pa = {.name = "x", .agg = a, .controls = {true, true}};
    tw_vpa_pod_container_t pr = {.name = "x", .agg = r, .controls = {true, true}};
    tw_vpa_estimate_t ea, er;
    tw_vpa_recommend_pod(&est, &pa, 1, &ea);
    tw_vpa_recommend_pod(&est, &pr, 1, &er);
    for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
        for (int res = 0; res < TW_VPA_NRES; res++) {
            assert_int_equal(ea.bound[b].v[res], er.bound[b].v[res]);
        }
    }
    free(bytes);
    tw_vpa_aggregate_checkpoint_fini(&cp);
    tw_vpa_aggregate_checkpoint_fini(&back);
    tw_vpa_aggregate_free(a);
    tw_vpa_aggregate_free(r);
}

static void test_corruption_is_detected(void **state)
{
    (void)state;
    tw_vpa_aggregate_t *a = filled();
    tw_vpa_aggregate_checkpoint_t cp, back;
    tw_vpa_aggregate_save(a, &cp);
    size_t len = 0;
    uint8_t *bytes = tw_vpa_checkpoint_encode(&cp, &len, NULL);
    tw_error_t err = {0};
    for (size_t i = 4; i < len; i++) {
        bytes[i] ^= 0x10;
        assert_int_equal(tw_vpa_checkpoint_decode(bytes, len, &back, &err), TW_EPARSE);
        tw_vpa_aggregate_checkpoint_fini(&back);
        bytes[i] ^= 0x10;
    }
    assert_non_null(strstr(err.msg, "checkpoint is corrupt: CRC"));
    bytes[0] = 'X';
    assert_int_equal(tw_vpa_checkpoint_decode(bytes, len, &back, &err), TW_EPARSE);
    assert_non_null(strstr(err.msg, "bad magic"));
    bytes[0] = 'T';
    assert_int_equal(tw_vpa_checkpoint_decode(bytes, len - 1, &back, &err), TW_EPARSE);
    assert_int_equal(tw_vpa_checkpoint_decode(bytes, 10, &back, &err), TW_EPARSE);
    assert_non_null(strstr(err.msg, "truncated"));
    tw_vpa_aggregate_checkpoint_fini(&back);
    /* a version other than v3 is refused when loading */
    tw_vpa_aggregate_checkpoint_t old = {.version = "v2"};
    assert_int_equal(tw_vpa_aggregate_load(a, &old, &err), TW_EINVAL);
    assert_string_equal(err.msg, "unsupported checkpoint version v2");
    free(bytes);
    tw_vpa_aggregate_checkpoint_fini(&cp);
    tw_vpa_aggregate_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_keeps_recommendation),
        cmocka_unit_test(test_corruption_is_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
