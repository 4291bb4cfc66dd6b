/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_lease.c - the leader-election state machine of common/kube_lease.c with time as a
 * parameter: creating a missing Lease, waiting while another holder's lease is valid (measured
 * from when *we* saw it change), taking over after it expired (acquireTime and leaseTransitions
 * + 1), renewing (both kept), stepping down after the renew deadline without a successful
 * write, client-go's timing checks, and the Lease JSON both ways (MicroTime format).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/kube.h"
#include "common/mem.h"

#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static tw_kube_lease_t *candidate(const char *id)
{
    tw_kube_lease_options_t o = {.namespace = "kube-system", .name = "tw", .identity = id};
    tw_kube_lease_t *l = NULL;
    tw_error_t err;
    assert_int_equal(tw_kube_lease_new(&o, &l, &err), 0);
    return l;
}

static tw_kube_lease_record_t rec(const char *holder, int64_t acquire, int64_t renew, int32_t tr,
                                  const char *rv)
{
    tw_kube_lease_record_t r;
    memset(&r, 0, sizeof(r));
    tw_strlcpy(r.holder, holder, sizeof(r.holder));
    r.duration_s = 15;
    r.acquire_ms = acquire;
    r.renew_ms = renew;
    r.transitions = tr;
    tw_strlcpy(r.resource_version, rv, sizeof(r.resource_version));
    return r;
}

static void test_create_then_renew(void **state)
{
    (void)state;
    tw_kube_lease_t *l = candidate("a");
    tw_kube_lease_record_t out;
    assert_false(tw_kube_lease_is_leader(l, T0));
    assert_int_equal(tw_kube_lease_next_ms(l), 0);
    assert_int_equal(tw_kube_lease_decide(l, NULL, T0, &out), TW_KUBE_LEASE_CREATE);
    assert_string_equal(out.holder, "a");
    assert_int_equal(out.duration_s, 15);
    assert_int_equal(out.acquire_ms, T0);
    assert_int_equal(out.renew_ms, T0);
    assert_int_equal(out.transitions, 0);
    assert_int_equal(tw_kube_lease_next_ms(l), T0 + 2000);
    /* not leader until the write succeeded */
    assert_false(tw_kube_lease_is_leader(l, T0));
    tw_kube_lease_record_t written = rec("a", T0, T0, 0, "10");
    tw_kube_lease_observe(l, true, &written, T0);
    assert_true(tw_kube_lease_is_leader(l, T0));
    assert_true(tw_kube_lease_is_leader(l, T0 + 9999));
    assert_false(tw_kube_lease_is_leader(l, T0 + 10000)); /* renew deadline */

    /* renew at +2 s: acquireTime and transitions kept, the observed resourceVersion used */
    assert_int_equal(tw_kube_lease_decide(l, &written, T0 + 2000, &out), TW_KUBE_LEASE_UPDATE);
    assert_int_equal(out.acquire_ms, T0);
    assert_int_equal(out.renew_ms, T0 + 2000);
    assert_int_equal(out.transitions, 0);
    assert_string_equal(out.resource_version, "10");
    tw_kube_lease_observe(l, true, NULL, T0 + 2000);
    assert_true(tw_kube_lease_is_leader(l, T0 + 11999));
    assert_false(tw_kube_lease_is_leader(l, T0 + 12000));

    /* failed renewals: leadership ends at the last success + renew deadline */
    tw_kube_lease_observe(l, false, NULL, T0 + 4000);
    tw_kube_lease_observe(l, false, NULL, T0 + 6000);
    assert_true(tw_kube_lease_is_leader(l, T0 + 11000));
    assert_false(tw_kube_lease_is_leader(l, T0 + 12000));
    tw_kube_lease_free(l);
}

static void test_wait_then_take_over(void **state)
{
    (void)state;
    tw_kube_lease_t *b = candidate("b");
    tw_kube_lease_record_t out;
    /* a's record as b first sees it at T0 (its renewTime is far in the past on purpose: only
     * b's own observation time counts) */
    tw_kube_lease_record_t held = rec("a", T0 - 100000, T0 - 100000, 4, "20");
    assert_int_equal(tw_kube_lease_decide(b, &held, T0, &out), TW_KUBE_LEASE_WAIT);
    assert_int_equal(tw_kube_lease_decide(b, &held, T0 + 14999, &out), TW_KUBE_LEASE_WAIT);
    /* a renews: a new record restarts b's clock */
    tw_kube_lease_record_t renewed = rec("a", T0 - 100000, T0 + 10000, 4, "21");
    assert_int_equal(tw_kube_lease_decide(b, &renewed, T0 + 10000, &out), TW_KUBE_LEASE_WAIT);
    assert_int_equal(tw_kube_lease_decide(b, &renewed, T0 + 24999, &out), TW_KUBE_LEASE_WAIT);
    assert_false(tw_kube_lease_is_leader(b, T0 + 24999));
    /* unchanged for the lease duration: take over */
    assert_int_equal(tw_kube_lease_decide(b, &renewed, T0 + 25000, &out), TW_KUBE_LEASE_UPDATE);
    assert_string_equal(out.holder, "b");
    assert_int_equal(out.acquire_ms, T0 + 25000);
    assert_int_equal(out.renew_ms, T0 + 25000);
    assert_int_equal(out.transitions, 5);
    assert_string_equal(out.resource_version, "21");
    /* the write lost a race (409): still not leader */
    tw_kube_lease_observe(b, false, NULL, T0 + 25000);
    assert_false(tw_kube_lease_is_leader(b, T0 + 25001));
    tw_kube_lease_free(b);
}

static void test_empty_holder_and_release(void **state)
{
    (void)state;
    tw_kube_lease_t *c = candidate("c");
    tw_kube_lease_record_t out;
    /* a released lease (holder "") can be taken at once */
    tw_kube_lease_record_t released = rec("", T0, T0, 2, "30");
    assert_int_equal(tw_kube_lease_decide(c, &released, T0, &out), TW_KUBE_LEASE_UPDATE);
    assert_int_equal(out.transitions, 3);
    tw_kube_lease_free(c);
}

static void test_options(void **state)
{
    (void)state;
    tw_kube_lease_t *l = NULL;
    tw_error_t err;
    tw_kube_lease_options_t o = {.namespace = "ns",
                                 .name = "n",
                                 .identity = "i",
                                 .lease_duration_ms = 10000,
                                 .renew_deadline_ms = 10000};
    assert_int_equal(tw_kube_lease_new(&o, &l, &err), TW_EINVAL);
    assert_string_equal(err.msg,
                        "leader election: leaseDuration must be greater than renewDeadline");
    o.lease_duration_ms = 15000;
    o.renew_deadline_ms = 2400;
    o.retry_period_ms = 2000;
    assert_int_equal(tw_kube_lease_new(&o, &l, &err), TW_EINVAL);
    assert_string_equal(err.msg, "leader election: renewDeadline must be greater than "
                                 "retryPeriod*JitterFactor");
    o.identity = "";
    assert_int_equal(tw_kube_lease_new(&o, &l, &err), TW_EINVAL);
    assert_null(l);
}

static void test_json(void **state)
{
    (void)state;
    tw_kube_lease_t *l = candidate("node-a");
    tw_kube_lease_record_t r = rec("node-a", T0 + 1, T0 + 2500, 3, "");
    tw_buf_t b;
    tw_buf_init(&b, 0);
    assert_int_equal(tw_kube_lease_emit(l, &r, "42", &b), 0);
    assert_string_equal(b.data,
                        "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                        "\"metadata\":{\"name\":\"tw\",\"namespace\":\"kube-system\","
                        "\"resourceVersion\":\"42\"},\"spec\":{\"holderIdentity\":\"node-a\","
                        "\"leaseDurationSeconds\":15,"
                        "\"acquireTime\":\"2026-01-01T00:00:00.001000Z\","
                        "\"renewTime\":\"2026-01-01T00:00:02.500000Z\",\"leaseTransitions\":3}}");
    tw_kube_lease_record_t back;
    tw_error_t err;
    const char *srv = "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"43\"},"
                      "\"spec\":{\"holderIdentity\":\"node-a\",\"leaseDurationSeconds\":15,"
                      "\"acquireTime\":\"2026-01-01T00:00:00.001000Z\","
                      "\"renewTime\":\"2026-01-01T01:00:02.500999+01:00\","
                      "\"leaseTransitions\":3}}";
    assert_int_equal(tw_kube_lease_parse(srv, strlen(srv), &back, &err), 0);
    assert_string_equal(back.holder, "node-a");
    assert_string_equal(back.resource_version, "43");
    assert_int_equal(back.duration_s, 15);
    assert_int_equal(back.acquire_ms, T0 + 1);
    assert_int_equal(back.renew_ms, T0 + 2500);
    assert_int_equal(back.transitions, 3);
    assert_int_equal(tw_kube_lease_parse("{\"kind\":\"Pod\"}", 14, &back, &err), TW_EPARSE);
    assert_int_equal(tw_kube_lease_parse("[]", 2, &back, &err), TW_EPARSE);
    char t[48];
    assert_string_equal(tw_kube_time_format_micro(T0 - 1, t, sizeof(t)),
                        "2025-12-31T23:59:59.999000Z");
    tw_buf_fini(&b);
    tw_kube_lease_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_then_renew),
        cmocka_unit_test(test_wait_then_take_over),
        cmocka_unit_test(test_empty_holder_and_release),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
