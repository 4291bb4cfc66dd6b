/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vpa_model.c - aggregate state, memory peaks, OOM bumps and expiry (vpa_model.c), and
 * the estimator chain and pod recommendation on top of them (vpa_estimator.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"

#define DAY_MS INT64_C(86400000)
#define MIB INT64_C(1048576)
/* upstream's testTimestamp, 2017-04-18 17:35:05 UTC */
#define T0 INT64_C(1492536905000)

typedef struct calls {
    int n;
    bool subtract[8];
    double value[8];
    int64_t t[8];
} calls_t;

static void record(void *ctx, tw_vpa_resource_t r, bool subtract, double value, double weight,
                   int64_t t_ms)
{
    calls_t *c = ctx;
    (void)weight;
    if (r == TW_VPA_MEMORY && c->n < 8) {
        c->subtract[c->n] = subtract;
        c->value[c->n] = value;
        c->t[c->n] = t_ms;
        c->n++;
    }
}

static void test_memory_peak_per_interval(void **state)
{
    (void)state;
    tw_vpa_aggregate_t *a = tw_vpa_aggregate_new(NULL, T0);
    calls_t calls = {0};
    tw_vpa_aggregate_set_trace(a, record, &calls);
    tw_vpa_container_t c;
    tw_vpa_container_init(&c, a);
    assert_true(tw_vpa_container_add_memory(&c, 100 * MIB, T0));
    assert_true(tw_vpa_container_add_memory(&c, 50 * MIB, T0 + 1000));   /* lower: no change */
    assert_true(tw_vpa_container_add_memory(&c, 200 * MIB, T0 + 2000));  /* replaces the peak */
    assert_false(tw_vpa_container_add_memory(&c, 300 * MIB, T0 + 1000)); /* out of order */
    assert_true(tw_vpa_container_add_memory(&c, 10 * MIB, T0 + 3 * DAY_MS + 5)); /* new interval */
    assert_int_equal(calls.n, 4);
    assert_true(!calls.subtract[0] && calls.value[0] == 100.0 * MIB && calls.t[0] == T0 + DAY_MS);
    assert_true(calls.subtract[1] && calls.value[1] == 100.0 * MIB);
    assert_true(!calls.subtract[2] && calls.value[2] == 200.0 * MIB);
    /* shifted by whole intervals past the old end (T0+1d): to T0+4d */
    assert_true(calls.t[3] == T0 + 4 * DAY_MS);
    tw_vpa_aggregate_free(a);
}

static void test_oom_bump(void **state)
{
    (void)state;
    tw_vpa_aggregate_t *a = tw_vpa_aggregate_new(NULL, T0);
    calls_t calls = {0};
    tw_vpa_aggregate_set_trace(a, record, &calls);
    tw_vpa_container_t c;
    tw_vpa_container_init(&c, a);
    /* 1 MiB request: the 100 MiB minimum bump wins. */
    assert_int_equal(tw_vpa_container_record_oom(&c, T0, MIB, NULL), 0);
    assert_true(calls.value[0] == 105906176.0);
    /* 1000 MiB: x1.2 wins and replaces the peak. */
    assert_int_equal(tw_vpa_container_record_oom(&c, T0, 1000 * MIB, NULL), 0);
    assert_int_equal(calls.n, 3);
    assert_true(calls.value[2] == 1258291200.0);
    /* An OOM more than one interval before the last memory sample is refused. */
    tw_error_t err = {0};
    assert_int_equal(tw_vpa_container_record_oom(&c, T0 - DAY_MS - 1, MIB, &err), TW_EINVAL);
    assert_non_null(strstr(err.msg, "too old"));
    tw_vpa_aggregate_free(a);
}

static void test_cpu_dedup_and_confidence(void **state)
{
    (void)state;
    tw_vpa_aggregate_t *a = tw_vpa_aggregate_new(NULL, 0);
    tw_vpa_container_t c;
    tw_vpa_container_init(&c, a);
    for (int i = 0; i < 9; i++) {
        assert_true(tw_vpa_container_add_cpu(&c, 1000, i * 120000));
    }
    assert_false(tw_vpa_container_add_cpu(&c, 1000, 8 * 120000)); /* duplicate */
    assert_false(tw_vpa_container_add_cpu(&c, -1, 9 * 120000));   /* invalid */
    assert_int_equal(tw_vpa_aggregate_samples(a), 9);
    /* 9 samples over 16 min: min(16 min/1 d, 9/1440) = 0.00625 */
    assert_true(tw_vpa_aggregate_confidence(a, DAY_MS) == 9.0 / 1440.0);
    tw_vpa_aggregate_free(a);
}

static void test_expiry(void **state)
{
    (void)state;
    tw_vpa_aggregate_t *a = tw_vpa_aggregate_new(NULL, T0);
    assert_false(tw_vpa_aggregate_is_expired(a, T0 + 8 * DAY_MS - 1));
    assert_true(tw_vpa_aggregate_is_expired(a, T0 + 8 * DAY_MS));
    tw_vpa_aggregate_add_cpu(a, 1, T0 + DAY_MS);
    assert_false(tw_vpa_aggregate_is_expired(a, T0 + 8 * DAY_MS));
    assert_true(tw_vpa_aggregate_is_expired(a, T0 + 9 * DAY_MS));
    tw_vpa_aggregate_free(a);
}

static void test_chain_arithmetic(void **state)
{
    (void)state;
    tw_vpa_chain_t ch = {.n = 2};
    ch.stages[0] = (tw_vpa_stage_t){.kind = TW_VPA_STAGE_CONST, .amount = 100};
    ch.stages[1] = (tw_vpa_stage_t){.kind = TW_VPA_STAGE_MARGIN, .value = 0.15};
    /* base + trunc(base*0.15) = 115, where trunc(100*1.15) would be 114 */
    assert_int_equal(tw_vpa_chain_estimate(&ch, TW_VPA_CPU, NULL), 115);
    ch.stages[0].amount = 3140;
    ch.stages[1] = (tw_vpa_stage_t){
        .kind = TW_VPA_STAGE_CONFIDENCE, .value = 1.0, .exponent = 1.0, .interval_ms = DAY_MS};
    /* no history: confidence 0, the upper bound saturates at 1e14 */
    assert_int_equal(tw_vpa_chain_estimate(&ch, TW_VPA_CPU, NULL), TW_VPA_MAX_RESOURCE_AMOUNT);
    ch.stages[1].value = 0.001;
    ch.stages[1].exponent = -2.0;
    assert_int_equal(tw_vpa_chain_estimate(&ch, TW_VPA_CPU, NULL), 0);
    ch.stages[1] = (tw_vpa_stage_t){.kind = TW_VPA_STAGE_MIN, .amount = 5000};
    assert_int_equal(tw_vpa_chain_estimate(&ch, TW_VPA_CPU, NULL), 5000);
    ch.stages[1].kind = TW_VPA_STAGE_CONST; /* const only innermost */
    assert_int_equal(tw_vpa_chain_estimate(&ch, TW_VPA_CPU, NULL), -1);
}

static void test_recommend_pod_defaults(void **state)
{
    (void)state;
    tw_vpa_recommender_config_t cfg;
    tw_vpa_recommender_config_init(&cfg);
    tw_vpa_estimators_t est;
    tw_vpa_estimators_init(&est, &cfg);
    tw_vpa_aggregate_t *a = tw_vpa_aggregate_new(NULL, 0);
    tw_vpa_container_t c;
    tw_vpa_container_init(&c, a);
    /* one day of 2-core samples, one a minute, and a steady 1 GB memory peak */
    for (int64_t m = 0; m <= 1440; m++) {
        tw_vpa_container_add_cpu(&c, 2000, T0 + m * 60000);
        tw_vpa_container_add_memory(&c, 1000000000, T0 + m * 60000);
    }
    tw_vpa_pod_container_t pc[3] = {
        {.name = "app", .agg = a, .controls = {true, true}},
        {.name = "sidecar", .agg = NULL, .controls = {true, false}},
        {.name = "off", .agg = a, .mode_off = true, .controls = {true, true}},
    };
    tw_vpa_estimate_t out[3];
    tw_vpa_recommend_pod(&est, pc, 3, out);
    tw_vpa_hist_options_t o;
    tw_vpa_hist_options_cpu(&o);
    /* p90 of 2 cores is the end of bucket 49 (bucket 50 starts at 2.0935 cores, README),
     * truncated to millicores, plus a 15 % margin */
    int64_t p90 = (int64_t)(tw_vpa_hist_options_bucket_start(&o, 50) * 1000.0);
    assert_int_equal(p90, 2093);
    assert_int_equal(tw_vpa_hist_options_find_bucket(&o, 2.0), 49);
    assert_int_equal(out[0].bound[TW_VPA_TARGET].v[TW_VPA_CPU], p90 + (int64_t)(p90 * 0.15));
    /* one day of history: upper x2 (1 + 1/1) */
    int64_t with_margin = p90 + (int64_t)(p90 * 0.15);
    assert_int_equal(out[0].bound[TW_VPA_UPPER].v[TW_VPA_CPU],
                     (int64_t)((double)with_margin * 2.0));
    /* the sidecar has no history: 25 millicores / 2 counted containers = 12 (trunc) */
    assert_true(out[1].present && out[1].bound[TW_VPA_TARGET].has[TW_VPA_CPU]);
    assert_int_equal(out[1].bound[TW_VPA_TARGET].v[TW_VPA_CPU], 12);
    assert_false(out[1].bound[TW_VPA_TARGET].has[TW_VPA_MEMORY]);
    /* 250 MiB / 2 */
    assert_true(out[0].bound[TW_VPA_LOWER].v[TW_VPA_MEMORY] >= 125 * MIB);
    assert_false(out[2].present);
    tw_vpa_aggregate_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_peak_per_interval),
        cmocka_unit_test(test_oom_bump),
        cmocka_unit_test(test_cpu_dedup_and_confidence),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_chain_arithmetic),
        cmocka_unit_test(test_recommend_pod_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
