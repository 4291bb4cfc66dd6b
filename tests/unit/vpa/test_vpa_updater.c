/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vpa_updater.c - the VPA updater's decisions (vpa_updater.c): update modes, the
 * vpaObservedContainers annotation, pod priority and its order, the priority calculator's
 * eligibility rules, evictionRequirements, and the eviction / in-place restrictions with their
 * replica groups, tolerance, minReplicas and resize fallbacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "autoscaler/vpa/vpa.h"

#define MIN_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)

static tw_vpa_rlist_t rl(int64_t cpu_milli, int64_t mem_bytes)
{
    tw_vpa_rlist_t r = {{cpu_milli >= 0, mem_bytes >= 0}, {cpu_milli, mem_bytes}};
    return r;
}

static tw_vpa_container_rec_t rec(const char *name, tw_vpa_rlist_t target, tw_vpa_rlist_t lower,
                                  tw_vpa_rlist_t upper)
{
    tw_vpa_container_rec_t r = {.name = name};
    r.bound[TW_VPA_TARGET] = target;
    r.bound[TW_VPA_LOWER] = lower;
    r.bound[TW_VPA_UPPER] = upper;
    return r;
}

static const tw_vpa_rlist_t none = {{false, false}, {0, 0}};

static void test_update_modes(void **state)
{
    (void)state;
    tw_vpa_update_mode_t m = TW_VPA_UPDATE_OFF;
    assert_int_equal(tw_vpa_update_mode_parse("InPlaceOrRecreate", &m, NULL), 0);
    assert_int_equal(m, TW_VPA_UPDATE_IN_PLACE_OR_RECREATE);
    assert_int_equal(tw_vpa_update_mode_parse("Auto", &m, NULL), 0);
    assert_int_equal(m, TW_VPA_UPDATE_AUTO);
    tw_error_t err = {0};
    assert_int_equal(tw_vpa_update_mode_parse("recreate", &m, &err), TW_EINVAL);
    assert_non_null(strstr(err.msg, "unknown updateMode \"recreate\""));
    assert_string_equal(tw_vpa_update_mode_name(TW_VPA_UPDATE_IN_PLACE), "InPlace");
    assert_string_equal(tw_vpa_update_mode_name(TW_VPA_UPDATE_RECREATE), "Recreate");
}

static void test_observed_containers(void **state)
{
    (void)state;
    tw_vpa_updater_pod_t p = {.name = "p"};
    assert_true(tw_vpa_pod_observes(&p, "a")); /* no annotation */
    p.observed_containers = "a, b-2";
    assert_true(tw_vpa_pod_observes(&p, "a"));
    assert_true(tw_vpa_pod_observes(&p, "b-2"));
    assert_false(tw_vpa_pod_observes(&p, "b"));
    p.observed_containers = "";
    assert_false(tw_vpa_pod_observes(&p, "a"));
    /* not DNS-1123 labels, or the wrong separator: treated as absent */
    p.observed_containers = "abcd;';";
    assert_true(tw_vpa_pod_observes(&p, "x"));
    p.observed_containers = "a,b";
    assert_true(tw_vpa_pod_observes(&p, "x"));
    p.observed_containers = "a, -b";
    assert_true(tw_vpa_pod_observes(&p, "x"));
    p.observed_containers = "a, B";
    assert_true(tw_vpa_pod_observes(&p, "x"));
}

static void test_priority(void **state)
{
    (void)state;
    /* two containers, two resources (upstream's "multiple containers, multiple resources") */
    tw_vpa_pod_spec_container_t cs[2] = {
        {.name = "c1", .requests = rl(6000, 10000000)},
        {.name = "c2", .requests = rl(4000, 30000000)},
    };
    tw_vpa_updater_pod_t p = {.name = "p", .containers = cs, .n_containers = 2};
    tw_vpa_container_rec_t recs[2] = {
        rec("c1", rl(8000, 20000000), none, none),
        rec("c2", rl(7000, 30000000), none, none),
    };
    tw_vpa_pod_priority_t pr;
    tw_vpa_priority_get(&p, recs, 2, &pr);
    assert_false(pr.outside_range);
    assert_true(pr.scale_up);
    assert_true(pr.resource_diff == 0.75); /* 5/10 + 10M/40M */

    /* request == lowerBound is inside; a bound below the request of c2 is outside */
    recs[0] = rec("c1", rl(6000, -1), rl(6000, -1), none);
    recs[1] = rec("c2", rl(3000, -1), none, rl(3500, -1));
    tw_vpa_priority_get(&p, recs, 2, &pr);
    assert_true(pr.outside_range);
    assert_false(pr.scale_up);
    assert_true(pr.resource_diff == 0.1); /* |10000 - 9000| / 10000, memory not in targets */

    /* a missing request: scale up and outside, denominator clamped to 1 milli */
    cs[1].requests = rl(4000, -1);
    recs[1] = rec("c2", rl(4000, 2), none, none);
    tw_vpa_priority_get(&p, recs, 2, &pr);
    assert_true(pr.outside_range && pr.scale_up);
    assert_true(pr.resource_diff == 0.0 + 1999.0); /* cpu 0, memory |1 - 2000| / 1 */

    /* containers left out by the annotation, or without a recommendation, do not count */
    p.observed_containers = "c1";
    tw_vpa_priority_get(&p, recs, 2, &pr);
    assert_false(pr.outside_range || pr.scale_up);
    assert_true(pr.resource_diff == 0.0);
    p.observed_containers = NULL;
    tw_vpa_priority_get(&p, NULL, 0, &pr);
    assert_false(pr.outside_range || pr.scale_up);
    assert_true(pr.resource_diff == 0.0);
}

static void test_priority_order_and_sort(void **state)
{
    (void)state;
    tw_vpa_pod_priority_t up_small = {false, true, 0.1}, up_big = {false, true, 1.0};
    tw_vpa_pod_priority_t down_big = {true, false, 5.0};
    assert_true(tw_vpa_priority_less(&up_small, &up_big));
    assert_false(tw_vpa_priority_less(&up_big, &up_small));
    assert_true(tw_vpa_priority_less(&down_big, &up_small)); /* scale-up wins over the diff */
    assert_false(tw_vpa_priority_less(&up_small, &up_small));

    tw_vpa_update_candidate_t c[5] = {
        {0, {false, false, 0.25}}, {1, {false, true, 0.25}}, {2, {false, false, 0.5}},
        {3, {false, false, 0.25}}, {4, {false, true, 0.25}},
    };
    tw_vpa_update_sort(c, 5);
    size_t want[5] = {1, 4, 2, 0, 3}; /* equal priorities keep their order */
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(c[i].index, want[i]);
    }
}

static void test_has_lower(void **state)
{
    (void)state;
    tw_vpa_container_rec_t last = rec("c", rl(200, 512), none, none);
    tw_vpa_container_rec_t same = rec("c", rl(200, 512), none, none);
    tw_vpa_container_rec_t mixed = rec("c", rl(100, 1024), none, none);
    tw_vpa_container_rec_t other = rec("d", rl(1, 1), none, none);
    tw_vpa_container_rec_t cpu_only = rec("c", rl(-1, 100), none, none);
    assert_false(tw_vpa_recommendation_has_lower(&last, 1, &same, 1));
    assert_true(tw_vpa_recommendation_has_lower(&last, 1, &mixed, 1));
    assert_false(tw_vpa_recommendation_has_lower(&last, 1, &other, 1));
    assert_true(tw_vpa_recommendation_has_lower(&last, 1, &cpu_only, 1));
    assert_false(tw_vpa_recommendation_has_lower(NULL, 0, &mixed, 1));
}

static void test_eviction_admission(void **state)
{
    (void)state;
    tw_vpa_pod_spec_container_t cs[2] = {
        {.name = "c1", .requests = rl(500, 1000)},
        {.name = "c2", .requests = rl(500, 1000)},
    };
    tw_vpa_updater_pod_t p = {.name = "p", .containers = cs, .n_containers = 2};
    tw_vpa_container_rec_t recs[2] = {
        rec("c1", rl(400, 1000), none, none),
        rec("c2", rl(500, 1100), none, none),
    };
    tw_vpa_eviction_requirement_t cpu_up = {{true, false}, TW_VPA_TARGET_HIGHER_THAN_REQUESTS};
    tw_vpa_eviction_requirement_t any_up = {{true, true}, TW_VPA_TARGET_HIGHER_THAN_REQUESTS};
    tw_vpa_eviction_requirement_t cpu_down = {{true, false}, TW_VPA_TARGET_LOWER_THAN_REQUESTS};
    tw_vpa_eviction_requirement_t both[2] = {cpu_up, any_up};

    assert_true(tw_vpa_eviction_admit(&p, NULL, 0, false, recs, 2)); /* no updatePolicy */
    assert_true(tw_vpa_eviction_admit(&p, NULL, 0, true, recs, 2));  /* empty list */
    assert_false(tw_vpa_eviction_admit(&p, &cpu_up, 1, true, recs, 2));
    assert_true(tw_vpa_eviction_admit(&p, &any_up, 1, true, recs, 2));   /* c2's memory */
    assert_true(tw_vpa_eviction_admit(&p, &cpu_down, 1, true, recs, 2)); /* c1's cpu */
    assert_false(tw_vpa_eviction_admit(&p, both, 2, true, recs, 2));     /* all must hold */
    /* only c2 has a recommendation: c1 does not count */
    assert_false(tw_vpa_eviction_admit(&p, &cpu_down, 1, true, &recs[1], 1));
    /* a container without a memory request admits at once */
    cs[1].requests = rl(500, -1);
    assert_true(tw_vpa_eviction_admit(&p, &cpu_up, 1, true, recs, 2));
}

static void test_update_check(void **state)
{
    (void)state;
    tw_vpa_update_config_t cfg;
    tw_vpa_update_config_init(&cfg);
    assert_true(cfg.min_change_priority == 0.1);
    assert_int_equal(cfg.pod_lifetime_update_threshold_ms, 12 * HOUR_MS);
    assert_int_equal(cfg.evict_after_oom_threshold_ms, 10 * MIN_MS);

    tw_vpa_container_policy_t cps[1] = {{.name = "*", .mode_off = false}};
    tw_vpa_policy_t pol = {cps, 1};
    tw_vpa_update_vpa_t vpa = {.mode = TW_VPA_UPDATE_RECREATE, .policy = &pol};
    tw_vpa_container_status_t st = {"c", "OOMKilled", 1000 * MIN_MS, 1000 * MIN_MS + 9 * MIN_MS};
    tw_vpa_updater_pod_t p = {.name = "p", .has_start_time = true, .start_ms = 0};
    int64_t now = 11 * HOUR_MS;
    tw_vpa_pod_priority_t in_range = {false, true, 0.5}, outside = {true, false, 0.0};
    bool oom = true;

    /* in range and young: wait; older than 12 h: go; then a too small diff */
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &in_range, NULL, 0, NULL, 0, false, now, &oom),
        TW_VPA_UPDATE_SHORT_LIVED);
    assert_false(oom);
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &in_range, NULL, 0, NULL, 0, false, 12 * HOUR_MS, NULL),
        TW_VPA_UPDATE_ACCEPTED);
    tw_vpa_pod_priority_t small = {false, true, 0.09};
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &small, NULL, 0, NULL, 0, false, 13 * HOUR_MS, NULL),
        TW_VPA_UPDATE_DIFF_TOO_LOW);
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &outside, NULL, 0, NULL, 0, false, now, NULL),
        TW_VPA_UPDATE_ACCEPTED);
    p.has_start_time = false;
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &in_range, NULL, 0, NULL, 0, false, 13 * HOUR_MS, NULL),
        TW_VPA_UPDATE_NO_START_TIME);

    /* a quick OOM (9 min < 10 min) makes a young pod eligible, unless nothing would change */
    p.statuses = &st;
    p.n_statuses = 1;
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &in_range, NULL, 0, NULL, 0, false, now, &oom),
        TW_VPA_UPDATE_ACCEPTED);
    assert_true(oom);
    tw_vpa_pod_priority_t no_diff = {false, true, 0.0};
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &no_diff, NULL, 0, NULL, 0, false, now, NULL),
        TW_VPA_UPDATE_QUICK_OOM_NO_CHANGE);
    /* per-VPA evictAfterOOMSeconds only with the PerVPAConfig gate */
    vpa.has_evict_after_oom = true;
    vpa.evict_after_oom_ms = 5 * MIN_MS;
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &in_range, NULL, 0, NULL, 0, false, now, NULL),
        TW_VPA_UPDATE_ACCEPTED);
    cfg.per_vpa_config = true;
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &in_range, NULL, 0, NULL, 0, false, now, &oom),
        TW_VPA_UPDATE_NO_START_TIME);
    assert_false(oom);
    cfg.per_vpa_config = false;
    /* mode Off containers and containers the annotation leaves out are not looked at */
    cps[0].mode_off = true;
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &in_range, NULL, 0, NULL, 0, false, now, NULL),
        TW_VPA_UPDATE_NO_START_TIME);
    cps[0].mode_off = false;
    p.observed_containers = "other";
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &in_range, NULL, 0, NULL, 0, false, now, NULL),
        TW_VPA_UPDATE_NO_START_TIME);
    p.observed_containers = NULL;
    /* outside the range and a quick OOM, but a zero diff: nothing to gain */
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &outside, NULL, 0, NULL, 0, false, now, NULL),
        TW_VPA_UPDATE_QUICK_OOM_NO_CHANGE);
    p.n_statuses = 0;

    /* InPlace mode skips a pod whose recommendation is not lower than the infeasible try */
    tw_vpa_container_rec_t last = rec("c", rl(200, 512), none, none);
    tw_vpa_container_rec_t same = rec("c", rl(300, 512), none, none);
    tw_vpa_container_rec_t lower = rec("c", rl(300, 256), none, none);
    vpa.mode = TW_VPA_UPDATE_IN_PLACE;
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &outside, &same, 1, &last, 1, true, now, NULL),
        TW_VPA_UPDATE_INFEASIBLE_CACHED);
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &outside, &lower, 1, &last, 1, true, now, NULL),
        TW_VPA_UPDATE_ACCEPTED);
    vpa.mode = TW_VPA_UPDATE_IN_PLACE_OR_RECREATE;
    assert_int_equal(
        tw_vpa_update_check(&cfg, &vpa, &p, &outside, &same, 1, &last, 1, true, now, NULL),
        TW_VPA_UPDATE_ACCEPTED);
    assert_string_equal(tw_vpa_update_verdict_text(TW_VPA_UPDATE_DIFF_TOO_LOW),
                        "resource diff too low");
}

/* n pods owned by ReplicaSet "rs", the first `pending` of them Pending. */
static void rs_pods(tw_vpa_updater_pod_t *p, size_t n, size_t pending)
{
    static const char *const names[] = {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"};
    memset(p, 0, n * sizeof(*p));
    for (size_t i = 0; i < n; i++) {
        p[i].name = names[i];
        p[i].owner_kind = "ReplicaSet";
        p[i].owner_name = "rs";
        p[i].pending = i < pending;
    }
}

static void test_restriction_tolerance(void **state)
{
    (void)state;
    tw_vpa_restriction_config_t cfg;
    tw_vpa_restriction_config_init(&cfg);
    assert_int_equal(cfg.min_replicas, 2);
    assert_true(cfg.eviction_tolerance == 0.5);
    tw_vpa_updater_pod_t pods[8];
    tw_vpa_replica_owner_t rs = {"ReplicaSet", "rs", 5};

    /* 5 of 5, tolerance int(2.5) = 2: two evictions, then the budget is exhausted */
    rs_pods(pods, 5, 0);
    tw_vpa_restriction_t *r =
        tw_vpa_restriction_new(&cfg, pods, 5, &rs, 1, TW_VPA_UPDATE_RECREATE, NULL);
    tw_error_t err = {0};
    for (size_t i = 0; i < 2; i++) {
        assert_true(tw_vpa_restriction_can_evict(r, i, 0));
        assert_int_equal(tw_vpa_restriction_evict_check(r, i, 0, &err), 0);
        tw_vpa_restriction_evicted(r, i);
    }
    assert_false(tw_vpa_restriction_can_evict(r, 2, 0));
    assert_int_equal(tw_vpa_restriction_evict_check(r, 2, 0, &err), TW_ESTATE);
    assert_string_equal(err.msg, "cannot evict pod p2: eviction budget exceeded");
    tw_vpa_restriction_free(r);

    /* tolerance 0.1 -> 0: one pod at a time, and only with every replica running */
    cfg.eviction_tolerance = 0.1;
    r = tw_vpa_restriction_new(&cfg, pods, 5, &rs, 1, TW_VPA_UPDATE_RECREATE, NULL);
    assert_true(tw_vpa_restriction_can_evict(r, 0, 0));
    tw_vpa_restriction_evicted(r, 0);
    assert_false(tw_vpa_restriction_can_evict(r, 1, 0));
    tw_vpa_restriction_free(r);
    r = tw_vpa_restriction_new(&cfg, pods, 4, &rs, 1, TW_VPA_UPDATE_RECREATE, NULL);
    assert_false(tw_vpa_restriction_can_evict(r, 0, 0)); /* one of 5 missing */
    tw_vpa_restriction_free(r);

    /* Pending pods always go and are not counted; running ones are counted without them */
    cfg.eviction_tolerance = 0.5;
    rs.replicas = 4;
    rs_pods(pods, 4, 3);
    r = tw_vpa_restriction_new(&cfg, pods, 4, &rs, 1, TW_VPA_UPDATE_RECREATE, NULL);
    assert_true(tw_vpa_restriction_can_evict(r, 0, 0));
    tw_vpa_restriction_evicted(r, 0);
    assert_true(tw_vpa_restriction_can_evict(r, 1, 0));
    assert_false(tw_vpa_restriction_can_evict(r, 3, 0)); /* 1 running > 4 - 2 fails */
    tw_vpa_restriction_free(r);

    /* in-place resizes count against the same budget */
    rs_pods(pods, 4, 0);
    r = tw_vpa_restriction_new(&cfg, pods, 4, &rs, 1, TW_VPA_UPDATE_IN_PLACE_OR_RECREATE, NULL);
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, TW_VPA_UPDATE_IN_PLACE_OR_RECREATE, NULL,
                                                     0, true, NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_APPROVED);
    assert_int_equal(tw_vpa_restriction_in_place_check(r, 0, NULL), 0);
    tw_vpa_restriction_in_place_done(r, 0, 77);
    int64_t at = 0;
    assert_true(tw_vpa_restriction_last_attempt(r, 0, &at));
    assert_int_equal(at, 77);
    tw_vpa_restriction_evicted(r, 1);
    assert_false(tw_vpa_restriction_can_evict(r, 2, 0));
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 2, TW_VPA_UPDATE_IN_PLACE_OR_RECREATE, NULL,
                                                     0, true, NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_DEFERRED);
    /* a nil recommendation defers */
    tw_vpa_restriction_free(r);
    r = tw_vpa_restriction_new(&cfg, pods, 4, &rs, 1, TW_VPA_UPDATE_IN_PLACE_OR_RECREATE, NULL);
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, TW_VPA_UPDATE_IN_PLACE_OR_RECREATE, NULL,
                                                     0, false, NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_DEFERRED);
    tw_vpa_restriction_free(r);
}

static void test_restriction_groups(void **state)
{
    (void)state;
    tw_vpa_restriction_config_t cfg;
    tw_vpa_restriction_config_init(&cfg);
    tw_vpa_updater_pod_t pods[8];
    tw_vpa_replica_owner_t rs = {"ReplicaSet", "rs", 1};
    tw_error_t err = {0};

    /* one replica: below --min-replicas 2 */
    rs_pods(pods, 1, 0);
    tw_vpa_restriction_t *r =
        tw_vpa_restriction_new(&cfg, pods, 1, &rs, 1, TW_VPA_UPDATE_RECREATE, NULL);
    assert_false(tw_vpa_restriction_can_evict(r, 0, 0));
    assert_int_equal(tw_vpa_restriction_evict_check(r, 0, 0, &err), TW_ENOTFOUND);
    assert_string_equal(err.msg, "pod not suitable for eviction p0: not in replicated pods map");
    assert_int_equal(tw_vpa_restriction_in_place_check(r, 0, &err), TW_ENOTFOUND);
    tw_vpa_restriction_free(r);

    /* updatePolicy.minReplicas 1 replaces the flag */
    int one = 1;
    r = tw_vpa_restriction_new(&cfg, pods, 1, &rs, 1, TW_VPA_UPDATE_RECREATE, &one);
    assert_true(tw_vpa_restriction_can_evict(r, 0, 0));
    tw_vpa_restriction_free(r);

    /* a CPU startup boost keeps the group, fully */
    pods[0].cpu_boost = true;
    r = tw_vpa_restriction_new(&cfg, pods, 1, &rs, 1, TW_VPA_UPDATE_RECREATE, NULL);
    assert_true(tw_vpa_restriction_can_evict(r, 0, 0));
    tw_vpa_restriction_free(r);
    pods[0].cpu_boost = false;

    /* the skip-disruption-budget flag keeps it for in-place only */
    cfg.in_place_skip_disruption_budget = true;
    r = tw_vpa_restriction_new(&cfg, pods, 1, &rs, 1, TW_VPA_UPDATE_RECREATE, NULL);
    assert_false(tw_vpa_restriction_can_evict(r, 0, 0)); /* not an in-place mode */
    tw_vpa_restriction_free(r);
    r = tw_vpa_restriction_new(&cfg, pods, 1, &rs, 1, TW_VPA_UPDATE_IN_PLACE_OR_RECREATE, NULL);
    assert_false(tw_vpa_restriction_can_evict(r, 0, 0));
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, TW_VPA_UPDATE_IN_PLACE_OR_RECREATE, NULL,
                                                     0, true, NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_APPROVED);
    pods[0].restart_on_resize = true; /* a restart is a disruption: budget applies */
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, TW_VPA_UPDATE_IN_PLACE_OR_RECREATE, NULL,
                                                     0, true, NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_APPROVED); /* configured 1 == running, tolerance 0 */
    tw_vpa_restriction_free(r);
    cfg.in_place_skip_disruption_budget = false;

    /* owners: unknown, without replicas, of an unsupported kind, none; a Job counts live pods */
    rs_pods(pods, 3, 0);
    tw_vpa_replica_owner_t zero = {"ReplicaSet", "rs", 0};
    r = tw_vpa_restriction_new(&cfg, pods, 3, NULL, 0, TW_VPA_UPDATE_RECREATE, NULL);
    assert_false(tw_vpa_restriction_can_evict(r, 0, 0));
    tw_vpa_restriction_free(r);
    r = tw_vpa_restriction_new(&cfg, pods, 3, &zero, 1, TW_VPA_UPDATE_RECREATE, NULL);
    assert_false(tw_vpa_restriction_can_evict(r, 0, 0));
    tw_vpa_restriction_free(r);
    for (size_t i = 0; i < 3; i++) {
        pods[i].owner_kind = "Job";
        pods[i].owner_name = "j";
    }
    pods[2].owner_kind = NULL;
    r = tw_vpa_restriction_new(&cfg, pods, 3, NULL, 0, TW_VPA_UPDATE_RECREATE, NULL);
    assert_true(tw_vpa_restriction_can_evict(r, 0, 0)); /* 2 of 2, tolerance 1 */
    tw_vpa_restriction_evicted(r, 0);
    assert_false(tw_vpa_restriction_can_evict(r, 1, 0));
    assert_false(tw_vpa_restriction_can_evict(r, 2, 0)); /* no owner */
    tw_vpa_restriction_free(r);
    for (size_t i = 0; i < 3; i++) {
        pods[i].owner_kind = "CronTab";
    }
    tw_vpa_replica_owner_t crd = {"CronTab", "j", 3};
    r = tw_vpa_restriction_new(&cfg, pods, 3, &crd, 1, TW_VPA_UPDATE_RECREATE, NULL);
    assert_false(tw_vpa_restriction_can_evict(r, 0, 0));
    tw_vpa_restriction_free(r);
    /* a DaemonSet counts its ready pods */
    tw_vpa_replica_owner_t ds = {"DaemonSet", "ds", 2};
    for (size_t i = 0; i < 2; i++) {
        pods[i].owner_kind = "DaemonSet";
        pods[i].owner_name = "ds";
    }
    r = tw_vpa_restriction_new(&cfg, pods, 2, &ds, 1, TW_VPA_UPDATE_RECREATE, NULL);
    assert_true(tw_vpa_restriction_can_evict(r, 0, 0));
    tw_vpa_restriction_free(r);
}

static void test_in_place_fallbacks(void **state)
{
    (void)state;
    tw_vpa_restriction_config_t cfg;
    tw_vpa_restriction_config_init(&cfg);
    tw_vpa_updater_pod_t pods[3];
    tw_vpa_replica_owner_t rs = {"ReplicaSet", "rs", 3};
    tw_vpa_pod_condition_t deferred = {"PodResizePending", true, "Deferred", NULL};
    tw_vpa_pod_condition_t infeasible = {"PodResizePending", true, "Infeasible", NULL};
    tw_vpa_pod_condition_t progress = {"PodResizeInProgress", true, NULL, NULL};
    tw_vpa_pod_condition_t error = {"PodResizeInProgress", true, "Error", "oops"};
    tw_vpa_pod_condition_t done = {"PodResizePending", false, "Deferred", NULL};
    const tw_vpa_update_mode_t ipr = TW_VPA_UPDATE_IN_PLACE_OR_RECREATE;
    rs_pods(pods, 3, 0);
    pods[0].conditions = &deferred;
    pods[0].n_conditions = 1;
    pods[0].has_last_in_place_attempt = true;
    pods[0].last_in_place_attempt_ms = 0;

    tw_vpa_restriction_t *r = tw_vpa_restriction_new(&cfg, pods, 3, &rs, 1, ipr, NULL);
    /* Deferred: wait 5 min (strictly more), then evict */
    assert_int_equal(
        tw_vpa_restriction_can_in_place(r, 0, ipr, NULL, 0, true, NULL, 0, false, 5 * MIN_MS),
        TW_VPA_IN_PLACE_DEFERRED);
    assert_false(tw_vpa_restriction_can_evict(r, 0, 5 * MIN_MS));
    assert_int_equal(
        tw_vpa_restriction_can_in_place(r, 0, ipr, NULL, 0, true, NULL, 0, false, 5 * MIN_MS + 1),
        TW_VPA_IN_PLACE_EVICT);
    assert_true(tw_vpa_restriction_can_evict(r, 0, 5 * MIN_MS + 1));
    /* InPlace never evicts, and needs its gate */
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, TW_VPA_UPDATE_IN_PLACE, NULL, 0, true,
                                                     NULL, 0, false, HOUR_MS),
                     TW_VPA_IN_PLACE_DEFERRED);
    tw_vpa_restriction_free(r);

    /* in progress: a clock starting now when nothing is recorded, 1 h timeout */
    pods[0].conditions = &progress;
    pods[0].has_last_in_place_attempt = false;
    r = tw_vpa_restriction_new(&cfg, pods, 3, &rs, 1, ipr, NULL);
    assert_int_equal(
        tw_vpa_restriction_can_in_place(r, 0, ipr, NULL, 0, true, NULL, 0, false, 10 * HOUR_MS),
        TW_VPA_IN_PLACE_DEFERRED);
    int64_t at = 0;
    assert_true(tw_vpa_restriction_last_attempt(r, 0, &at));
    assert_int_equal(at, 10 * HOUR_MS);
    assert_int_equal(
        tw_vpa_restriction_can_in_place(r, 0, ipr, NULL, 0, true, NULL, 0, false, 11 * HOUR_MS + 1),
        TW_VPA_IN_PLACE_EVICT);
    tw_vpa_restriction_free(r);

    /* errors and infeasible resizes fall back at once; not when the group has no room */
    pods[0].conditions = &error;
    r = tw_vpa_restriction_new(&cfg, pods, 3, &rs, 1, ipr, NULL);
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, ipr, NULL, 0, true, NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_EVICT);
    tw_vpa_restriction_evicted(r, 1);
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, ipr, NULL, 0, true, NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_DEFERRED);
    tw_vpa_restriction_free(r);

    cfg.gate_in_place = true;
    pods[0].conditions = &infeasible;
    r = tw_vpa_restriction_new(&cfg, pods, 3, &rs, 1, ipr, NULL);
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, ipr, NULL, 0, true, NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_EVICT);
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, TW_VPA_UPDATE_IN_PLACE, NULL, 0, true,
                                                     NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_INFEASIBLE);
    tw_vpa_restriction_free(r);
    pods[0].conditions = &error;
    r = tw_vpa_restriction_new(&cfg, pods, 3, &rs, 1, ipr, NULL);
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, TW_VPA_UPDATE_IN_PLACE, NULL, 0, true,
                                                     NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_INFEASIBLE);
    tw_vpa_restriction_free(r);

    /* InPlace caches infeasible attempts against the raw recommendation */
    pods[0].conditions = &done; /* status False: no resize under way */
    tw_vpa_container_rec_t last = rec("c", rl(2000, 1024), none, none);
    tw_vpa_container_rec_t same = rec("c", rl(2000, 2048), none, none);
    tw_vpa_container_rec_t lower = rec("c", rl(1000, 2048), none, none);
    r = tw_vpa_restriction_new(&cfg, pods, 3, &rs, 1, TW_VPA_UPDATE_IN_PLACE, NULL);
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, TW_VPA_UPDATE_IN_PLACE, &same, 1, true,
                                                     &last, 1, true, 0),
                     TW_VPA_IN_PLACE_INFEASIBLE_CACHED);
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 0, TW_VPA_UPDATE_IN_PLACE, &lower, 1, true,
                                                     &last, 1, true, 0),
                     TW_VPA_IN_PLACE_APPROVED);
    /* Pending pods are deferred, not resized */
    tw_vpa_restriction_free(r);
    pods[1].pending = true;
    r = tw_vpa_restriction_new(&cfg, pods, 3, &rs, 1, ipr, NULL);
    assert_int_equal(tw_vpa_restriction_can_in_place(r, 1, ipr, NULL, 0, true, NULL, 0, false, 0),
                     TW_VPA_IN_PLACE_DEFERRED);
    assert_true(tw_vpa_restriction_can_evict(r, 1, 0));
    tw_vpa_restriction_free(r);
    assert_string_equal(tw_vpa_in_place_decision_name(TW_VPA_IN_PLACE_INFEASIBLE_CACHED),
                        "InPlaceInfeasibleCached");
    tw_vpa_restriction_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_modes),       cmocka_unit_test(test_observed_containers),
        cmocka_unit_test(test_priority),           cmocka_unit_test(test_priority_order_and_sort),
        cmocka_unit_test(test_has_lower),          cmocka_unit_test(test_eviction_admission),
        cmocka_unit_test(test_update_check),       cmocka_unit_test(test_restriction_tolerance),
        cmocka_unit_test(test_restriction_groups), cmocka_unit_test(test_in_place_fallbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
