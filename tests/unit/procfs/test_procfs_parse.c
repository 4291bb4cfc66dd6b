/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_procfs_parse.c - the pure /proc parsers of the host collector, on literal buffers: exact
 * values, node_exporter's names, help texts and types, and what happens to broken input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collector/procfs/procfs_int.h"
#include "procfs_test_util.h"

#define LIT(s) (s), (sizeof(s) - 1)

static void test_stat_cpu_seconds(void **state)
{
    (void)state;
    tw_procfs_stat_t st = {0};
    tw_error_t err;
    assert_int_equal(tw_procfs_stat_parse(LIT("cpu  1 2 3 4 5 6 7 8 9 10\n"
                                              "cpu0 1234 5 1748 90234 825 0 163 7 42 3\n"
                                              "cpu3 10 20 30 40\n"
                                              "intr 154954 0 0 1\n"
                                              "ctxt 295612\nbtime 1795672929\nprocesses 5980\n"
                                              "procs_running 3\nprocs_blocked 1\n"
                                              "softirq 1 2 3\n"),
                                          &st, &err),
                     0);
    assert_int_equal(st.ncpus, 2);
    tw_mset_t *set = tw_mset_new();
    tw_procfs_stat_emit(&st, 100, set);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "user") == 1234 / 100.0);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "nice") == 5 / 100.0);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "system") == 1748 / 100.0);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "idle") == 90234 / 100.0);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "iowait") == 825 / 100.0);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "irq") == 0);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "softirq") == 163 / 100.0);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "steal") == 7 / 100.0);
    assert_true(VALUE(set, "node_cpu_guest_seconds_total", "cpu", "0", "mode", "user") ==
                42 / 100.0);
    assert_true(VALUE(set, "node_cpu_guest_seconds_total", "cpu", "0", "mode", "nice") ==
                3 / 100.0);
    /* A 2.4-era line with four fields: the rest are zero, all ten series still exist. */
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "3", "mode", "idle") == 0.4);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "3", "mode", "steal") == 0);
    assert_int_equal(count_samples(set, "node_cpu_seconds_total", NULL), 16);
    assert_int_equal(count_samples(set, "node_cpu_guest_seconds_total", NULL), 4);
    /* The aggregate "cpu" line is not exported. */
    assert_int_equal(
        count_samples(set, "node_cpu_seconds_total", (const char *const[]){"cpu", "", NULL}), 0);
    assert_true(VALUE0(set, "node_boot_time_seconds") == 1795672929.0);
    assert_true(VALUE0(set, "node_context_switches_total") == 295612.0);
    assert_true(VALUE0(set, "node_forks_total") == 5980.0);
    assert_true(VALUE0(set, "node_intr_total") == 154954.0);
    assert_true(VALUE0(set, "node_procs_running") == 3.0);
    assert_true(VALUE0(set, "node_procs_blocked") == 1.0);

    const tw_mfamily_t *f = tw_mset_find(set, "node_cpu_seconds_total");
    assert_string_equal(f->help, "Seconds the CPUs spent in each mode.");
    assert_int_equal(f->type, TW_MTYPE_COUNTER);
    assert_string_equal(f->unit, "seconds");
    f = tw_mset_find(set, "node_boot_time_seconds");
    assert_string_equal(f->help, "Node boot time, in unixtime.");
    assert_int_equal(f->type, TW_MTYPE_GAUGE);
    f = tw_mset_find(set, "node_procs_blocked");
    assert_string_equal(f->help, "Number of processes blocked waiting for I/O to complete.");
    assert_int_equal(f->type, TW_MTYPE_GAUGE);
    assert_int_equal(tw_mset_find(set, "node_intr_total")->type, TW_MTYPE_COUNTER);

    tw_mset_free(set);
    tw_procfs_stat_fini(&st);
}

static void test_stat_clk_tck(void **state)
{
    (void)state;
    tw_procfs_stat_t st = {0};
    assert_int_equal(tw_procfs_stat_parse(LIT("cpu0 250 0 0 1000\n"), &st, NULL), 0);
    tw_mset_t *set = tw_mset_new();
    tw_procfs_stat_emit(&st, 250, set);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "user") == 1.0);
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "idle") == 4.0);
    tw_mset_free(set);
    tw_procfs_stat_fini(&st);
}

static void test_stat_garbage(void **state)
{
    (void)state;
    tw_procfs_stat_t st = {0};
    tw_error_t err;
    /* Bad lines are skipped and reported; good ones stay. */
    assert_int_equal(tw_procfs_stat_parse(LIT("cpu0 1 2 3 4\n"
                                              "cpu1 1 2 x 4\n"
                                              "cpu0 9 9 9 9\n"
                                              "cpu2 1 2\n"
                                              "cpu99999999 1 2 3 4\n"
                                              "ctxt\n"
                                              "btime 99999999999999999999999\n"
                                              "processes 7\nprocesses 8\n"
                                              "cpu5 5 5 5 5"),
                                          &st, &err),
                     TW_EPARSE);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.msg, "cpu1 1 2 x 4"));
    assert_int_equal(st.ncpus, 2);
    assert_int_equal(st.cpus[0].id, 0);
    assert_int_equal(st.cpus[0].ticks[TW_PROCFS_CPU_USER], 1);
    assert_int_equal(st.cpus[1].id, 5); /* last line without '\n' still counts */
    assert_int_equal(st.have, TW_PROCFS_HAVE_PROCESSES);
    assert_int_equal(st.processes, 7);

    assert_int_equal(tw_procfs_stat_parse("", 0, &st, &err), 0);
    assert_int_equal(st.ncpus, 0);
    assert_int_equal(st.have, 0);
    tw_procfs_stat_fini(&st);
}

static void test_cpu_merge_monotonic(void **state)
{
    (void)state;
    tw_procfs_stat_t st = {0};
    tw_procfs_cpu_t *cache = NULL;
    size_t cap = 0;
    assert_int_equal(tw_procfs_stat_parse(LIT("cpu1 100 0 50 1000\n"), &st, NULL), 0);
    tw_procfs_cpu_merge(&cache, &cap, &st, 100);
    /* user went back by 2 ticks: the old value stays; idle back by < 3 s: kept too. */
    assert_int_equal(tw_procfs_stat_parse(LIT("cpu1 98 0 60 900\n"), &st, NULL), 0);
    tw_procfs_cpu_merge(&cache, &cap, &st, 100);
    assert_int_equal(st.cpus[0].ticks[TW_PROCFS_CPU_USER], 100);
    assert_int_equal(st.cpus[0].ticks[TW_PROCFS_CPU_SYSTEM], 60);
    assert_int_equal(st.cpus[0].ticks[TW_PROCFS_CPU_IDLE], 1000);
    /* idle back by >= 3 s (300 ticks): hotplug, the cache resets and fresh values pass. */
    assert_int_equal(tw_procfs_stat_parse(LIT("cpu1 5 0 6 700\n"), &st, NULL), 0);
    tw_procfs_cpu_merge(&cache, &cap, &st, 100);
    assert_int_equal(st.cpus[0].ticks[TW_PROCFS_CPU_USER], 5);
    assert_int_equal(st.cpus[0].ticks[TW_PROCFS_CPU_IDLE], 700);
    free(cache);
    tw_procfs_stat_fini(&st);
}

static void test_meminfo(void **state)
{
    (void)state;
    tw_mset_t *set = tw_mset_new();
    tw_error_t err;
    assert_int_equal(tw_procfs_meminfo_parse(LIT("MemTotal:       24683620 kB\n"
                                                 "Active(anon):       1596 kB\n"
                                                 "Committed_AS:      93068 kB\n"
                                                 "\n"
                                                 "HugePages_Total:      16\n"
                                                 "Hugepagesize:       2048 kB\n"),
                                             set, &err),
                     0);
    assert_true(VALUE0(set, "node_memory_MemTotal_bytes") == 24683620.0 * 1024);
    assert_true(VALUE0(set, "node_memory_Active_anon_bytes") == 1596.0 * 1024);
    assert_true(VALUE0(set, "node_memory_Committed_AS_bytes") == 93068.0 * 1024);
    assert_true(VALUE0(set, "node_memory_HugePages_Total") == 16.0);
    assert_true(VALUE0(set, "node_memory_Hugepagesize_bytes") == 2048.0 * 1024);
    assert_null(tw_mset_find(set, "node_memory_HugePages_Total_bytes"));
    const tw_mfamily_t *f = tw_mset_find(set, "node_memory_Active_anon_bytes");
    assert_string_equal(f->help, "Memory information field Active_anon_bytes.");
    assert_int_equal(f->type, TW_MTYPE_GAUGE);
    assert_string_equal(f->unit, "bytes");
    f = tw_mset_find(set, "node_memory_HugePages_Total");
    assert_string_equal(f->help, "Memory information field HugePages_Total.");
    assert_int_equal(f->type, TW_MTYPE_GAUGE);
    assert_int_equal(tw_mset_family_count(set), 5);
    tw_mset_free(set);
}

static void test_meminfo_garbage(void **state)
{
    (void)state;
    tw_mset_t *set = tw_mset_new();
    tw_error_t err;
    assert_int_equal(tw_procfs_meminfo_parse(LIT("MemFree:  12 kB\n"
                                                 "MemFree:  13 kB\n"
                                                 "NoColon 12 kB\n"
                                                 "Bad:  twelve kB\n"
                                                 "Odd(x:  1 kB\n"
                                                 "Too: 1 kB extra\n"
                                                 "Weird-Key: 1\n"
                                                 "MemTotal:"),
                                             set, &err),
                     TW_EPARSE);
    assert_int_equal(err.line, 2);
    assert_int_equal(tw_mset_family_count(set), 1);
    assert_true(VALUE0(set, "node_memory_MemFree_bytes") == 12.0 * 1024);
    tw_mset_free(set);
}

static void test_loadavg(void **state)
{
    (void)state;
    tw_mset_t *set = tw_mset_new();
    assert_int_equal(tw_procfs_loadavg_parse(LIT("0.36 0.18 0.09 1/88 5980\n"), set, NULL), 0);
    assert_true(VALUE0(set, "node_load1") == 0.36);
    assert_true(VALUE0(set, "node_load5") == 0.18);
    assert_true(VALUE0(set, "node_load15") == 0.09);
    assert_string_equal(tw_mset_find(set, "node_load15")->help, "15m load average.");
    assert_int_equal(tw_mset_find(set, "node_load1")->type, TW_MTYPE_GAUGE);
    tw_mset_reset(set);
    assert_int_equal(tw_procfs_loadavg_parse(LIT("0.36 0.1"), set, NULL), TW_EPARSE);
    assert_int_equal(tw_procfs_loadavg_parse(LIT("0.36 abc 1\n"), set, NULL), TW_EPARSE);
    assert_int_equal(tw_procfs_loadavg_parse("", 0, set, NULL), TW_EPARSE);
    assert_int_equal(tw_mset_family_count(set), 0);
    tw_mset_free(set);
}

static void test_pressure(void **state)
{
    (void)state;
    tw_mset_t *set = tw_mset_new();
    const char io[] = "some avg10=0.00 avg60=0.00 avg300=0.23 total=3541745\n"
                      "full avg10=0.00 avg60=0.00 avg300=0.22 total=3339203\n";
    const char cpu[] = "some avg10=3.90 avg60=2.81 avg300=1.31 total=8874406\n"
                       "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
    assert_int_equal(tw_procfs_pressure_parse(io, sizeof(io) - 1, "io", set, NULL), 0);
    assert_int_equal(tw_procfs_pressure_parse(cpu, sizeof(cpu) - 1, "cpu", set, NULL), 0);
    assert_true(VALUE0(set, "node_pressure_io_waiting_seconds_total") == 3541745 / 1000.0 / 1000.0);
    assert_true(VALUE0(set, "node_pressure_io_stalled_seconds_total") == 3339203 / 1000.0 / 1000.0);
    assert_true(VALUE0(set, "node_pressure_cpu_waiting_seconds_total") ==
                8874406 / 1000.0 / 1000.0);
    assert_int_equal(tw_mset_family_count(set), 3); /* cpu "full" is not exported */
    const tw_mfamily_t *f = tw_mset_find(set, "node_pressure_io_stalled_seconds_total");
    assert_string_equal(
        f->help, "Total time in seconds no process could make progress due to IO congestion");
    assert_int_equal(f->type, TW_MTYPE_COUNTER);
    tw_mset_reset(set);
    assert_int_equal(
        tw_procfs_pressure_parse(LIT("some avg10=1 total=12\nfull total=x\n"), "memory", set, NULL),
        TW_EPARSE);
    assert_true(VALUE0(set, "node_pressure_memory_waiting_seconds_total") == 12 / 1000.0 / 1000.0);
    assert_null(tw_mset_find(set, "node_pressure_memory_stalled_seconds_total"));
    assert_int_equal(tw_procfs_pressure_parse(LIT("some total=1\n"), "irq", set, NULL), TW_EINVAL);
    tw_mset_free(set);
}

static void test_netdev(void **state)
{
    (void)state;
    tw_mset_t *set = tw_mset_new();
    tw_error_t err;
    const char dev[] =
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
        "drop fifo colls carrier compressed\n"
        "  eth0: 55801970    1825    1    2    3     4          5         6    80622    1056    7 "
        "   8    9    10      11         12\n"
        "veth1:12345678901234 99 0 0 0 0 0 0 1 2 0 0 0 0 0 0\n"
        "  bad: 1 2 3\n";
    assert_int_equal(tw_procfs_netdev_parse(dev, sizeof(dev) - 1, set, &err), TW_EPARSE);
    assert_int_equal(err.line, 5);
    static const char *const keys[16] = {
        "receive_bytes",  "receive_packets",  "receive_errs",       "receive_drop",
        "receive_fifo",   "receive_frame",    "receive_compressed", "receive_multicast",
        "transmit_bytes", "transmit_packets", "transmit_errs",      "transmit_drop",
        "transmit_fifo",  "transmit_colls",   "transmit_carrier",   "transmit_compressed"};
    static const double eth0[16] = {55801970, 1825, 1, 2, 3, 4,  5,  6,
                                    80622,    1056, 7, 8, 9, 10, 11, 12};
    for (size_t i = 0; i < 16; i++) {
        char name[64], help[80];
        snprintf(name, sizeof(name), "node_network_%s_total", keys[i]);
        snprintf(help, sizeof(help), "Network device statistic %s.", keys[i]);
        assert_true(VALUE(set, name, "device", "eth0") == eth0[i]);
        assert_int_equal(count_samples(set, name, NULL), 2);
        const tw_mfamily_t *f = tw_mset_find(set, name);
        assert_string_equal(f->help, help);
        assert_int_equal(f->type, TW_MTYPE_COUNTER);
    }
    assert_true(VALUE(set, "node_network_receive_bytes_total", "device", "veth1") ==
                12345678901234.0);
    assert_string_equal(tw_mset_find(set, "node_network_receive_bytes_total")->unit, "bytes");
    assert_int_equal(tw_mset_family_count(set), 16);
    tw_mset_free(set);
}

static void test_disk_ignored(void **state)
{
    (void)state;
    static const char *const ignored[] = {"ram0", "zram0", "loop12", "fd0",       "sda1",
                                          "hdb2", "vdc10", "xvda1",  "nvme0n1p1", "nvme12n3p45"};
    static const char *const kept[] = {
        "sda", "vda",      "nvme0n1",  "dm-0",     "md127",  "loop",      "xvda", "sdaa1",
        "ram", "nvmen1p1", "nvme0np1", "nvme0n1p", "zzram0", "mmcblk0p1", "sr0",  "xd1"};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        if (!tw_procfs_disk_ignored(ignored[i], strlen(ignored[i]))) {
            fail_msg("%s should be ignored", ignored[i]);
        }
    }
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        if (tw_procfs_disk_ignored(kept[i], strlen(kept[i]))) {
            fail_msg("%s should be kept", kept[i]);
        }
    }
}

static void test_diskstats(void **state)
{
    (void)state;
    tw_mset_t *set = tw_mset_new();
    tw_error_t err;
    const char ds[] =
        " 254 0 vda 31316 6694 3088554 9245 8806 8448 1278288 3284 2 6392 13655 4512 14 114144 "
        "640 1370 484\n"
        " 254 1 vda1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n"
        "   8 0 sda 100 1 2000 30 40 5 600 70 0 80 100\n"
        " 259 0 nvme0n1 500 10 8000 120 300 20 4000 90 1 200 210 5 0 40 1\n"
        "   8 16 sdb 1 2 3\n"
        "   x 16 sdc 1 2 3 4 5 6 7 8 9 10 11\n";
    assert_int_equal(tw_procfs_diskstats_parse(ds, sizeof(ds) - 1, set, &err), TW_EPARSE);
    assert_int_equal(err.line, 5);
    assert_true(VALUE(set, "node_disk_reads_completed_total", "device", "vda") == 31316);
    assert_true(VALUE(set, "node_disk_reads_merged_total", "device", "vda") == 6694);
    assert_true(VALUE(set, "node_disk_read_bytes_total", "device", "vda") == 3088554.0 * 512);
    assert_true(VALUE(set, "node_disk_read_time_seconds_total", "device", "vda") == 9245 * 0.001);
    assert_true(VALUE(set, "node_disk_writes_completed_total", "device", "vda") == 8806);
    assert_true(VALUE(set, "node_disk_writes_merged_total", "device", "vda") == 8448);
    assert_true(VALUE(set, "node_disk_written_bytes_total", "device", "vda") == 1278288.0 * 512);
    assert_true(VALUE(set, "node_disk_write_time_seconds_total", "device", "vda") == 3284 * 0.001);
    assert_true(VALUE(set, "node_disk_io_now", "device", "vda") == 2);
    assert_true(VALUE(set, "node_disk_io_time_seconds_total", "device", "vda") == 6392 * 0.001);
    assert_true(VALUE(set, "node_disk_io_time_weighted_seconds_total", "device", "vda") ==
                13655 * 0.001);
    assert_true(VALUE(set, "node_disk_discards_completed_total", "device", "vda") == 4512);
    assert_true(VALUE(set, "node_disk_discards_merged_total", "device", "vda") == 14);
    assert_true(VALUE(set, "node_disk_discarded_sectors_total", "device", "vda") == 114144);
    assert_true(VALUE(set, "node_disk_discard_time_seconds_total", "device", "vda") == 640 * 0.001);
    assert_true(VALUE(set, "node_disk_flush_requests_total", "device", "vda") == 1370);
    assert_true(VALUE(set, "node_disk_flush_requests_time_seconds_total", "device", "vda") ==
                484 * 0.001);
    /* 11 counters (sda): no discard or flush series; 15 (nvme0n1): no flush series. */
    assert_true(VALUE(set, "node_disk_io_time_weighted_seconds_total", "device", "sda") ==
                100 * 0.001);
    assert_int_equal(count_samples(set, "node_disk_discards_completed_total",
                                   (const char *const[]){"device", "sda", NULL}),
                     0);
    assert_true(VALUE(set, "node_disk_discarded_sectors_total", "device", "nvme0n1") == 40);
    assert_true(VALUE(set, "node_disk_discard_time_seconds_total", "device", "nvme0n1") ==
                1 * 0.001);
    assert_int_equal(count_samples(set, "node_disk_flush_requests_total", NULL), 1);
    assert_int_equal(count_samples(set, "node_disk_reads_completed_total", NULL), 3);
    assert_int_equal(count_samples(set, "node_disk_reads_completed_total",
                                   (const char *const[]){"device", "vda1", NULL}),
                     0);
    const tw_mfamily_t *f = tw_mset_find(set, "node_disk_io_now");
    assert_int_equal(f->type, TW_MTYPE_GAUGE);
    assert_string_equal(f->help, "The number of I/Os currently in progress.");
    f = tw_mset_find(set, "node_disk_written_bytes_total");
    assert_string_equal(f->help, "The total number of bytes written successfully.");
    assert_int_equal(f->type, TW_MTYPE_COUNTER);
    tw_mset_free(set);
}

static void test_mounts(void **state)
{
    (void)state;
    tw_arena_t *arena = tw_arena_new(0);
    tw_procfs_mount_t *m = NULL;
    size_t n = 0, cap = 0;
    tw_error_t err;
    const char mounts[] = "/dev/vda / ext4 rw,relatime 0 0\n"
                          "nfs:/x /mnt/My\\040Share\\011tab nfs4 rw,ro 0 0\n"
                          "short line\n"
                          "/dev/sdb /host/data xfs rw,rom 0 0\n"
                          "/dev/sdc /host xfs ro 0 0\n"
                          "/dev/sdd /hostile xfs rw 0 0\n";
    assert_int_equal(
        tw_procfs_mounts_parse(mounts, sizeof(mounts) - 1, "/host", arena, &m, &n, &cap, &err),
        TW_EPARSE);
    assert_int_equal(err.line, 3);
    assert_int_equal(n, 5);
    assert_string_equal(m[0].mountpoint, "/");
    assert_false(m[0].readonly);
    assert_string_equal(m[1].device, "nfs:/x");
    assert_string_equal(m[1].mountpoint, "/mnt/My Share\ttab");
    assert_string_equal(m[1].fstype, "nfs4");
    assert_true(m[1].readonly);
    assert_string_equal(m[2].mountpoint, "/data");
    assert_false(m[2].readonly); /* "rom" is not "ro" */
    assert_string_equal(m[3].mountpoint, "/");
    assert_true(m[3].readonly);
    assert_string_equal(m[4].mountpoint, "/hostile");
    free(m);
    tw_arena_free(arena);
}

static void test_mount_exclusions(void **state)
{
    (void)state;
    static const char *const excluded[] = {"/dev",
                                           "/dev/shm",
                                           "/proc",
                                           "/proc/sys/fs/binfmt_misc",
                                           "/sys",
                                           "/sys/fs/cgroup",
                                           "/run/credentials/x.service",
                                           "/var/lib/docker/overlay2/a/merged",
                                           "/var/lib/containers/storage/overlay"};
    static const char *const kept[] = {
        "/",         "/devices", "/run", "/run/credentials/", "/var/lib/docker", "/var/lib/docker/",
        "/home/dev", "/system",  "dev"};
    for (size_t i = 0; i < sizeof(excluded) / sizeof(excluded[0]); i++) {
        if (!tw_procfs_mountpoint_excluded(excluded[i])) {
            fail_msg("%s should be excluded", excluded[i]);
        }
    }
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        if (tw_procfs_mountpoint_excluded(kept[i])) {
            fail_msg("%s should be kept", kept[i]);
        }
    }
    assert_true(tw_procfs_fstype_excluded("cgroup2"));
    assert_true(tw_procfs_fstype_excluded("overlay"));
    assert_true(tw_procfs_fstype_excluded("squashfs"));
    assert_true(tw_procfs_fstype_excluded("tracefs"));
    assert_false(tw_procfs_fstype_excluded("tmpfs"));
    assert_false(tw_procfs_fstype_excluded("ext4"));
    assert_false(tw_procfs_fstype_excluded("cgroup3"));
    assert_false(tw_procfs_fstype_excluded("nfs4"));
}

static void test_pid_stat_and_limits(void **state)
{
    (void)state;
    tw_procfs_pid_stat_t ps;
    const char stat[] = "4242 (a) b) c) S 1 4242 4242 0 -1 4194560 2150 0 3 0 250 130 0 0 20 0 "
                        "7 0 84819 734003200 5120 18446744073709551615 1 1 0\n";
    assert_int_equal(tw_procfs_pid_stat_parse(stat, sizeof(stat) - 1, &ps, NULL), 0);
    assert_int_equal(ps.utime, 250);
    assert_int_equal(ps.stime, 130);
    assert_int_equal(ps.starttime, 84819);
    assert_int_equal(ps.vsize, 734003200);
    assert_int_equal(ps.rss, 5120);
    assert_int_equal(tw_procfs_pid_stat_parse(LIT("4242 (x) S 1 2 3"), &ps, NULL), TW_EPARSE);
    assert_int_equal(tw_procfs_pid_stat_parse(LIT("4242 x S 1 2 3"), &ps, NULL), TW_EPARSE);

    double files = -1, as = -1;
    assert_int_equal(tw_procfs_limits_parse(
                         LIT("Limit                     Soft Limit           Hard Limit\n"
                             "Max open files            20000                1048576  files\n"
                             "Max address space         unlimited            unlimited bytes\n"),
                         &files, &as, NULL),
                     0);
    assert_true(files == 20000);
    assert_true(as == 18446744073709551615.0);
    files = as = -1;
    assert_int_equal(tw_procfs_limits_parse(LIT("Max open files   lots  1\n"), &files, &as, NULL),
                     TW_EPARSE);
    assert_true(files == -1);
    assert_true(as == -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat_cpu_seconds), cmocka_unit_test(test_stat_clk_tck),
        cmocka_unit_test(test_stat_garbage),     cmocka_unit_test(test_cpu_merge_monotonic),
        cmocka_unit_test(test_meminfo),          cmocka_unit_test(test_meminfo_garbage),
        cmocka_unit_test(test_loadavg),          cmocka_unit_test(test_pressure),
        cmocka_unit_test(test_netdev),           cmocka_unit_test(test_disk_ignored),
        cmocka_unit_test(test_diskstats),        cmocka_unit_test(test_mounts),
        cmocka_unit_test(test_mount_exclusions), cmocka_unit_test(test_pid_stat_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
