/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vpa_capping.c - quantities, proportional limits, recommender-side policy capping and
 * the updater-side Apply with container and Pod LimitRanges (vpa_quantity.c, vpa_capping.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "autoscaler/vpa/vpa.h"

static int64_t q(const char *s, tw_vpa_resource_t r)
{
    int64_t v = -1;
    assert_int_equal(tw_vpa_quantity_parse(s, strlen(s), r, &v, NULL), 0);
    return v;
}

static void test_quantities(void **state)
{
    (void)state;
    assert_int_equal(q("500m", TW_VPA_CPU), 500);
    assert_int_equal(q("1.50", TW_VPA_CPU), 1500);
    assert_int_equal(q("0.0001", TW_VPA_CPU), 1); /* MilliValue rounds up */
    assert_int_equal(q("1Gi", TW_VPA_MEMORY), 1073741824);
    assert_int_equal(q("10G", TW_VPA_MEMORY), 10000000000);
    assert_int_equal(q("1m", TW_VPA_MEMORY), 1); /* Value rounds up */
    assert_int_equal(q("2e3", TW_VPA_MEMORY), 2000);
    int64_t v;
    tw_error_t err = {0};
    assert_int_equal(tw_vpa_quantity_parse("1Qi", 3, TW_VPA_MEMORY, &v, &err), TW_EPARSE);
    assert_int_equal(tw_vpa_quantity_parse("", 0, TW_VPA_MEMORY, &v, &err), TW_EPARSE);
    assert_int_equal(tw_vpa_quantity_parse("10E", 3, TW_VPA_CPU, &v, &err), TW_ELIMIT);
}

static void test_proportional_limits(void **state)
{
    (void)state;
    int64_t lim = 2000, req = 1000, rec = 10000, def = 2000, zero = 0;
    tw_vpa_limit_result_t r;
    tw_vpa_proportional_limit(TW_VPA_CPU, &lim, &req, &rec, NULL, &r);
    assert_true(r.has_limit && r.limit == 20000 && !r.annotation);
    tw_vpa_proportional_limit(TW_VPA_CPU, NULL, &req, &rec, &def, &r);
    assert_true(r.has_limit && r.limit == 20000);
    tw_vpa_proportional_limit(TW_VPA_CPU, NULL, &req, &rec, NULL, &r);
    assert_true(!r.has_limit && r.annotation);
    tw_vpa_proportional_limit(TW_VPA_CPU, &lim, &req, &zero, NULL, &r);
    assert_true(!r.has_limit && r.annotation);
    tw_vpa_proportional_limit(TW_VPA_MEMORY, &lim, NULL, &rec, NULL, &r);
    assert_true(r.has_limit && r.limit == 10000);
    /* 10G limit, 1m request, 10G recommendation: int64 overflow saturates */
    int64_t big = 10000000000000, one = 1;
    tw_vpa_proportional_limit(TW_VPA_CPU, &big, &one, &big, NULL, &r);
    assert_true(r.saturated && r.annotation && r.limit == INT64_MAX);
    int64_t out;
    assert_int_equal(tw_vpa_scale_cpu(1000, 0, 20000, true, &out), TW_VPA_SCALE_DIVISION_BY_ZERO);
    assert_int_equal(out, 1000);
    assert_int_equal(tw_vpa_scale_cpu(15, 115, 150, true, &out), TW_VPA_SCALE_OK);
    assert_int_equal(out, 20);
    assert_int_equal(tw_vpa_scale_cpu(15, 115, 150, false, &out), TW_VPA_SCALE_OK);
    assert_int_equal(out, 19);
}

static void test_policy_apply_global_max(void **state)
{
    (void)state;
    tw_vpa_container_rec_t rec = {.name = "foo"};
    for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
        rec.bound[b] = (tw_vpa_rlist_t){{true, true}, {42 + 10 * (b == 2) - 11 * (b == 1), 42}};
    }
    rec.uncapped = rec.bound[0];
    tw_vpa_container_policy_t cp = {.name = "*",
                                    .min_allowed = {{true, false}, {35, 0}},
                                    .max_allowed = {{true, false}, {40, 0}}};
    tw_vpa_policy_t pol = {&cp, 1};
    tw_vpa_rlist_t gmax = {{true, true}, {1, 41}};
    tw_vpa_policy_apply(&rec, 1, &pol, &gmax);
    /* cpu: the container's max (40) wins over the global (1); memory: the global fills in */
    assert_int_equal(rec.bound[TW_VPA_TARGET].v[TW_VPA_CPU], 40);
    assert_int_equal(rec.bound[TW_VPA_LOWER].v[TW_VPA_CPU], 35);
    assert_int_equal(rec.bound[TW_VPA_TARGET].v[TW_VPA_MEMORY], 41);
    assert_int_equal(rec.uncapped.v[TW_VPA_CPU], 42);
}

static void test_apply_container_limit_range(void **state)
{
    (void)state;
    tw_vpa_pod_spec_container_t pod = {.name = "c",
                                       .requests = {{true, true}, {1000, 50000000}},
                                       .limits = {{true, true}, {1000, 600000000}}};
    tw_vpa_container_rec_t rec = {.name = "c"};
    rec.bound[TW_VPA_TARGET] = (tw_vpa_rlist_t){{true, true}, {2000, 200000000}};
    tw_vpa_limit_range_t lr = {.min = {{false, true}, {0, 500000000}},
                               .max = {{true, false}, {1000, 0}}};
    tw_vpa_container_rec_t out[2];
    tw_vpa_annotations_t ann[2];
    size_t n = 0;
    assert_int_equal(tw_vpa_cap_apply(&rec, 1, true, NULL, &pod, 1, &lr, NULL, out, ann, &n), 1);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].bound[TW_VPA_TARGET].v[TW_VPA_CPU], 1000);
    /* min for the limit would be 41.6M, but the request itself must be >= 500M */
    assert_int_equal(out[0].bound[TW_VPA_TARGET].v[TW_VPA_MEMORY], 500000000);
    assert_int_equal(ann[0].n, 2);
    assert_string_equal(ann[0].text[0], "cpu capped to fit Max in container LimitRange");
    assert_string_equal(ann[0].text[1], "memory capped to fit Min in container LimitRange");
    /* no recommendation and no policy: a nil result */
    assert_int_equal(tw_vpa_cap_apply(NULL, 0, false, NULL, &pod, 1, &lr, NULL, out, ann, &n), 0);
}

static void test_apply_pod_limit_range_and_requests_only(void **state)
{
    (void)state;
    tw_vpa_pod_spec_container_t pod[2] = {
        {.name = "a",
         .requests = {{false, true}, {0, 50000000}},
         .limits = {{false, true}, {0, 50000000}}},
        {.name = "b",
         .requests = {{false, true}, {0, 50000000}},
         .limits = {{false, true}, {0, 50000000}}},
    };
    tw_vpa_container_rec_t recs[2] = {{.name = "a"}, {.name = "b"}};
    recs[0].bound[TW_VPA_TARGET] = (tw_vpa_rlist_t){{false, true}, {0, 1073741824}};
    recs[1].bound[TW_VPA_TARGET] = (tw_vpa_rlist_t){{false, true}, {0, 2147483648}};
    tw_vpa_limit_range_t plr = {.min = {{false, true}, {0, 4294967296}}};
    tw_vpa_container_policy_t cp = {.name = "b", .requests_only = true};
    tw_vpa_policy_t pol = {&cp, 1};
    tw_vpa_container_rec_t out[4];
    tw_vpa_annotations_t ann[4];
    size_t n = 0;
    assert_int_equal(tw_vpa_cap_apply(recs, 2, true, &pol, pod, 2, NULL, &plr, out, ann, &n), 1);
    assert_int_equal(n, 2);
    /* scaled up to the pod minimum: 1Gi*4Gi/3Gi floored */
    assert_int_equal(out[0].bound[TW_VPA_TARGET].v[TW_VPA_MEMORY], 1431655765);
    /* b is RequestsOnly: cut to its 50M limit */
    assert_int_equal(out[1].bound[TW_VPA_TARGET].v[TW_VPA_MEMORY], 50000000);
    assert_int_equal(ann[1].n, 1);
    assert_string_equal(ann[1].text[0], "memory capped to container limit");
    /* the input is untouched */
    assert_int_equal(recs[0].bound[TW_VPA_TARGET].v[TW_VPA_MEMORY], 1073741824);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_proportional_limits),
        cmocka_unit_test(test_policy_apply_global_max),
        cmocka_unit_test(test_apply_container_limit_range),
        cmocka_unit_test(test_apply_pod_limit_range_and_requests_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
