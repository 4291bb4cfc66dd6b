/* SPDX-License-Identifier: Apache-2.0 */
/* test_cgroup_parse.c - the cgroup file parsers, the Kubernetes quantity parser and container
 * identity from every cgroup path spelling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "collector/cgroup/cgroup_int.h"
#include "common/error.h"

#define S(x) x, sizeof(x) - 1

static void test_keyed(void **state)
{
    (void)state;
    static const char *const k[] = {"usage_usec", "user_usec", "nr_throttled"};
    uint64_t v[3] = {0, 0, 0};
    uint32_t f = 0;
    assert_int_equal(
        tw_cg_parse_keyed(S("usage_usec 123\nuser_usec 45\nsystem_usec 6\n"), k, 3, v, &f), 0);
    assert_int_equal(f, 3);
    assert_true(v[0] == 123 && v[1] == 45);
    /* No trailing newline, blank lines, unknown keys with odd values are fine. */
    assert_int_equal(
        tw_cg_parse_keyed(S("\nfoo bar baz\nnr_throttled 18446744073709551615"), k, 3, v, &f), 0);
    assert_int_equal(f, 4);
    assert_true(v[2] == UINT64_MAX);
    /* A wanted key with garbage, a negative number or an overflow is an error. */
    assert_int_equal(tw_cg_parse_keyed(S("usage_usec abc\n"), k, 3, v, &f), TW_EPARSE);
    assert_int_equal(tw_cg_parse_keyed(S("usage_usec -1\n"), k, 3, v, &f), TW_EPARSE);
    assert_int_equal(tw_cg_parse_keyed(S("usage_usec 18446744073709551616\n"), k, 3, v, &f),
                     TW_EPARSE);
    assert_int_equal(tw_cg_parse_keyed(S("usage_usec 1 2\n"), k, 3, v, &f), TW_EPARSE);
    /* Truncated in the key: that key is simply absent. */
    assert_int_equal(tw_cg_parse_keyed(S("usage_usec 5\nuser_u"), k, 3, v, &f), 0);
    assert_int_equal(f, 1);
}

static void test_numbers(void **state)
{
    (void)state;
    uint64_t u = 0;
    int64_t i = 0;
    assert_int_equal(tw_cg_parse_u64(S("209715200\n"), false, &u), 0);
    assert_true(u == 209715200);
    assert_int_equal(tw_cg_parse_u64(S("max\n"), true, &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(tw_cg_parse_u64(S("max\n"), false, &u), TW_EPARSE);
    assert_int_equal(tw_cg_parse_u64(S(""), false, &u), TW_EPARSE);
    assert_int_equal(tw_cg_parse_u64(S("12 13\n"), false, &u), TW_EPARSE);
    assert_int_equal(tw_cg_parse_u64(S("12\n13\n"), false, &u), TW_EPARSE);
    assert_int_equal(tw_cg_parse_u64(S("-3\n"), false, &u), TW_EPARSE);
    assert_int_equal(tw_cg_parse_i64(S("-1\n"), &i), 0);
    assert_true(i == -1);
    assert_int_equal(tw_cg_parse_i64(S("50000"), &i), 0);
    assert_true(i == 50000);
    assert_int_equal(tw_cg_parse_i64(S("--1"), &i), TW_EPARSE);
}

static void test_cpu_max_and_weight(void **state)
{
    (void)state;
    uint64_t q = 1, p = 0;
    assert_int_equal(tw_cg_parse_cpu_max(S("max 100000\n"), &q, &p), 0);
    assert_true(q == 0 && p == 100000);
    assert_int_equal(tw_cg_parse_cpu_max(S("50000 100000\n"), &q, &p), 0);
    assert_true(q == 50000 && p == 100000);
    assert_int_equal(tw_cg_parse_cpu_max(S("50000\n"), &q, &p), TW_EPARSE);
    assert_int_equal(tw_cg_parse_cpu_max(S("50000 x\n"), &q, &p), TW_EPARSE);
    /* cAdvisor: 2 + (weight - 1) * 262142 / 9999; runc maps shares 1024 to weight 39. */
    assert_int_equal(tw_cg_weight_to_shares(1), 2);
    assert_int_equal(tw_cg_weight_to_shares(39), 998);
    assert_int_equal(tw_cg_weight_to_shares(100), 2597);
    assert_int_equal(tw_cg_weight_to_shares(10000), 262144);
    assert_int_equal(tw_cg_weight_to_shares(0), 0);
    assert_int_equal(tw_cg_weight_to_shares(10001), 0);
}

static void test_psi(void **state)
{
    (void)state;
    tw_cg_psi_t p;
    assert_int_equal(tw_cg_parse_psi(S("some avg10=1.00 avg60=0.50 avg300=0.10 total=1234567\n"
                                       "full avg10=0.00 avg60=0.00 avg300=0.00 total=234567\n"),
                                     &p),
                     0);
    assert_true(p.has_some && p.has_full);
    assert_true(p.some_total_us == 1234567 && p.full_total_us == 234567);
    /* Before Linux 5.13 cpu.pressure has no full line. */
    assert_int_equal(tw_cg_parse_psi(S("some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n"), &p), 0);
    assert_true(p.has_some && !p.has_full && p.some_total_us == 9);
    assert_int_equal(tw_cg_parse_psi(S("some avg10=0.00 avg60=0.0"), &p), TW_EPARSE);
    assert_int_equal(tw_cg_parse_psi(S("some total=12x\n"), &p), TW_EPARSE);
    assert_int_equal(tw_cg_parse_psi(S(""), &p), TW_EPARSE);
}

static void test_blkio_and_io_stat(void **state)
{
    (void)state;
    tw_cg_io_t io;
    assert_int_equal(tw_cg_parse_blkio(S("8:0 Read 4096000\n8:0 Write 8192000\n8:0 Sync 1\n"
                                         "8:0 Async 2\n8:0 Discard 0\n8:0 Total 12288000\n"
                                         "253:1 Read 100\n253:1 Write 200\nTotal 12288300\n"),
                                       &io),
                     0);
    assert_int_equal(io.n, 2);
    assert_true(io.dev[0].major == 8 && io.dev[0].minor == 0);
    assert_true(io.dev[0].read_bytes == 4096000 && io.dev[0].write_bytes == 8192000);
    assert_true(io.dev[1].major == 253 && io.dev[1].minor == 1);
    assert_true(io.dev[1].read_bytes == 100 && io.dev[1].write_bytes == 200);
    assert_int_equal(tw_cg_parse_blkio(S("Total 0\n"), &io), 0);
    assert_int_equal(io.n, 0);
    assert_int_equal(tw_cg_parse_blkio(S("8:0 Read\n"), &io), TW_EPARSE);
    assert_int_equal(tw_cg_parse_blkio(S("garbage here\n"), &io), TW_EPARSE);

    assert_int_equal(tw_cg_parse_io_stat(S("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 "
                                           "dios=0\n259:0 rbytes=1 wbytes=2\n"),
                                         &io),
                     0);
    assert_int_equal(io.n, 2);
    assert_true(io.dev[0].read_bytes == 4096 && io.dev[0].write_bytes == 8192);
    assert_true(io.dev[1].major == 259 && io.dev[1].read_bytes == 1 && io.dev[1].write_bytes == 2);
    assert_int_equal(tw_cg_parse_io_stat(S("8:0 rbytes=12 wbytes\n"), &io), TW_EPARSE);
    assert_int_equal(tw_cg_parse_io_stat(S("8:0 rbytes=x\n"), &io), TW_EPARSE);
    assert_int_equal(tw_cg_parse_io_stat(S("8 rbytes=1\n"), &io), TW_EPARSE);

    /* More devices than fit are dropped, not overflowed. */
    char big[4096];
    size_t o = 0;
    for (int d = 0; d < TW_CG_MAX_DEVICES + 8; d++) {
        o += (size_t)snprintf(big + o, sizeof(big) - o, "8:%d rbytes=%d wbytes=1\n", d, d);
    }
    assert_int_equal(tw_cg_parse_io_stat(big, o, &io), 0);
    assert_int_equal(io.n, TW_CG_MAX_DEVICES);
}

static void test_controllers(void **state)
{
    (void)state;
    assert_int_equal(tw_cg_parse_controllers(S("cpuset cpu io memory hugetlb pids rdma misc\n")),
                     TW_CG_CTRL_CPU | TW_CG_CTRL_IO | TW_CG_CTRL_MEMORY | TW_CG_CTRL_PIDS);
    assert_int_equal(tw_cg_parse_controllers(S("\n")), 0);
    assert_int_equal(tw_cg_parse_controllers(S("cpuset memory\n")), TW_CG_CTRL_MEMORY);
}

/* ---- quantities ---- */

static int64_t qv(const char *s)
{
    tw_cg_quantity_t q;
    assert_int_equal(tw_cg_quantity_parse(s, strlen(s), &q), 0);
    return tw_cg_quantity_value(&q);
}

static int64_t qm(const char *s)
{
    tw_cg_quantity_t q;
    assert_int_equal(tw_cg_quantity_parse(s, strlen(s), &q), 0);
    return tw_cg_quantity_milli(&q);
}

static void test_quantity(void **state)
{
    (void)state;
    assert_int_equal(qm("250m"), 250);
    assert_int_equal(qm("1.5"), 1500);
    assert_int_equal(qm("0.1"), 100);
    assert_int_equal(qm("2"), 2000);
    assert_int_equal(qm("100u"), 1); /* rounded up, like MilliValue() */
    assert_int_equal(qm("0.0001"), 1);
    assert_int_equal(qv("128Mi"), 134217728);
    assert_int_equal(qv("1.5Mi"), 1572864);
    assert_int_equal(qv("1.5Ki"), 1536);
    assert_int_equal(qv("1G"), 1000000000);
    assert_int_equal(qv("1e3"), 1000);
    assert_int_equal(qv("1E3"), 1000);
    assert_int_equal(qv("1E"), 1000000000000000000LL);
    assert_int_equal(qv("2Ei"), 2305843009213693952LL);
    assert_int_equal(qv("8Ei"), INT64_MAX); /* 2^63 saturates */
    assert_int_equal(qv("12e-1"), 2);       /* 1.2 rounded up */
    assert_int_equal(qv("500m"), 1);
    assert_int_equal(qv("0"), 0);
    assert_int_equal(qv("+7k"), 7000);
    assert_int_equal(qv("-7k"), -7000);
    assert_int_equal(qv(".5"), 1);
    assert_int_equal(qv("5."), 5);
    assert_int_equal(qv("123456789012345678901234"), INT64_MAX);
    assert_int_equal(qv("0.0000000000000000000000000000000000000000001"), 1);
    assert_int_equal(qm("1.0000000000000000000001"), 1001); /* digits past 18 round up */

    static const char *const bad[] = {"",    "m",    "1x", "1Ki2", "1ki", "1e",  "1e+",
                                      "--1", "1..2", "1 ", "abc",  "1Zi", "1mi", "."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tw_cg_quantity_t q;
        if (tw_cg_quantity_parse(bad[i], strlen(bad[i]), &q) != TW_EPARSE) {
            fail_msg("quantity \"%s\" should not parse", bad[i]);
        }
    }
}

/* ---- identity ---- */

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID "5f3c2a10-1b2c-4d3e-8f90-0a1b2c3d4e5f"
#define UIDU "5f3c2a10_1b2c_4d3e_8f90_0a1b2c3d4e5f"

static void check_id(const char *path, tw_cg_kind_t kind, const char *cid, const char *uid,
                     const char *qos)
{
    tw_cg_identity_t id;
    tw_cg_identity_parse(path, &id);
    if (id.kind != kind || strcmp(id.container_id, cid) != 0 || strcmp(id.pod_uid, uid) != 0 ||
        strcmp(id.qos, qos) != 0) {
        fail_msg("%s: got kind=%d id=%s uid=%s qos=%s", path, (int)id.kind, id.container_id,
                 id.pod_uid, id.qos);
    }
}

static void test_identity(void **state)
{
    (void)state;
    check_id("/", TW_CG_KIND_ROOT, "", "", "");
    check_id("/docker/" ID64, TW_CG_KIND_DOCKER, ID64, "", "");
    check_id("/system.slice/docker-" ID64 ".scope", TW_CG_KIND_DOCKER, ID64, "", "");
    check_id("/system.slice/nginx.service", TW_CG_KIND_SYSTEMD, "", "", "");
    check_id("/system.slice", TW_CG_KIND_SYSTEMD, "", "", "");
    check_id("/user.slice/user-1000.slice/session-2.scope", TW_CG_KIND_SYSTEMD, "", "", "");
    check_id("/docker", TW_CG_KIND_OTHER, "", "", "");
    check_id("/kubepods", TW_CG_KIND_OTHER, "", "", "");
    check_id("/kubepods/burstable", TW_CG_KIND_OTHER, "", "", "");
    /* cgroupfs driver */
    check_id("/kubepods/pod" UID, TW_CG_KIND_POD, "", UID, "guaranteed");
    check_id("/kubepods/pod" UID "/" ID64, TW_CG_KIND_CONTAINERD, ID64, UID, "guaranteed");
    check_id("/kubepods/burstable/pod" UID, TW_CG_KIND_POD, "", UID, "burstable");
    check_id("/kubepods/burstable/pod" UID "/" ID64, TW_CG_KIND_CONTAINERD, ID64, UID, "burstable");
    check_id("/kubepods/besteffort/pod" UID "/" ID64 "/", TW_CG_KIND_CONTAINERD, ID64, UID,
             "besteffort");
    /* static pods have 32-hex uids */
    check_id("/kubepods/burstable/pod0123456789abcdef0123456789abcdef", TW_CG_KIND_POD, "",
             "0123456789abcdef0123456789abcdef", "burstable");
    /* systemd driver */
    check_id("/kubepods.slice/kubepods-pod" UIDU ".slice", TW_CG_KIND_POD, "", UID, "guaranteed");
    check_id("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU ".slice",
             TW_CG_KIND_POD, "", UID, "burstable");
    check_id("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU
             ".slice/cri-containerd-" ID64 ".scope",
             TW_CG_KIND_CONTAINERD, ID64, UID, "burstable");
    check_id("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU
             ".slice/crio-" ID64 ".scope",
             TW_CG_KIND_CRIO, ID64, UID, "besteffort");
    check_id("/kubepods.slice/kubepods-pod" UIDU ".slice/docker-" ID64 ".scope", TW_CG_KIND_DOCKER,
             ID64, UID, "guaranteed");
    check_id("/kubepods.slice/kubepods-burstable.slice", TW_CG_KIND_SYSTEMD, "", "", "");
    /* Not containers: conmon, short ids, bad uids. */
    check_id("/kubepods.slice/kubepods-pod" UIDU ".slice/crio-conmon-" ID64 ".scope",
             TW_CG_KIND_SYSTEMD, "", "", "");
    check_id("/docker/0123456789ab", TW_CG_KIND_OTHER, "", "", "");
    check_id("/kubepods/burstable/podnot-a-uid", TW_CG_KIND_OTHER, "", "", "");
    check_id("/system.slice/docker-.scope", TW_CG_KIND_SYSTEMD, "", "", "");
    check_id("/a/b/cri-containerd-" ID64 ".scope", TW_CG_KIND_CONTAINERD, ID64, "", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyed),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_cpu_max_and_weight),
        cmocka_unit_test(test_psi),
        cmocka_unit_test(test_blkio_and_io_stat),
        cmocka_unit_test(test_controllers),
        cmocka_unit_test(test_quantity),
        cmocka_unit_test(test_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
