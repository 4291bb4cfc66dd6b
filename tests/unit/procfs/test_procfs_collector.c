/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_procfs_collector.c - the host collector end to end: on the fixture tree (exact values,
 * device and mount exclusions), on missing and garbage files (skipped and counted), with a statfs
 * that hangs (the stuck-mount path, through the private statfs hook), and on this machine's real
 * /proc, plus tw_procfs_process_collect on a fixture process and on ourselves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/procfs/procfs.h"
#include "collector/procfs/procfs_int.h"
#include "procfs_test_util.h"

#define FIXTURE_PROC TW_FIXTURES "/procfs/proc"

static double hz(void)
{
    long t = sysconf(_SC_CLK_TCK);
    return t > 0 ? (double)t : 100.0;
}

/* A fake statfs: fixed numbers, EIO for /fail, a hang for /hang until released. */
typedef struct fake_fs {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *hang_path; /* full path that blocks */
    const char *fail_path; /* full path that fails with EIO */
    int released;
    int calls_hang;
    int returned_hang;
    int calls_total;
} fake_fs_t;

static int fake_statfs(const char *path, struct statfs *out, void *ctx)
{
    fake_fs_t *f = ctx;
    pthread_mutex_lock(&f->mu);
    f->calls_total++;
    int hang = f->hang_path != NULL && strcmp(path, f->hang_path) == 0;
    if (hang) {
        f->calls_hang++;
        while (!f->released) {
            pthread_cond_wait(&f->cv, &f->mu);
        }
    }
    int fail = f->fail_path != NULL && strcmp(path, f->fail_path) == 0;
    pthread_mutex_unlock(&f->mu);
    memset(out, 0, sizeof(*out));
    out->f_bsize = 4096;
    out->f_blocks = 1000;
    out->f_bfree = 600;
    out->f_bavail = 500;
    out->f_files = 100;
    out->f_ffree = 40;
    if (hang) {
        pthread_mutex_lock(&f->mu);
        f->returned_hang++;
        pthread_mutex_unlock(&f->mu);
    }
    return fail ? -EIO : 0;
}

static void fake_init(fake_fs_t *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
}

static void fake_release(fake_fs_t *f)
{
    pthread_mutex_lock(&f->mu);
    f->released = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Waits (up to 5 s) until the hanging call has returned and the helper had time to finish. */
static void fake_wait_returned(fake_fs_t *f)
{
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&f->mu);
        int r = f->returned_hang;
        pthread_mutex_unlock(&f->mu);
        if (r > 0) {
            usleep(50 * 1000);
            return;
        }
        usleep(10 * 1000);
    }
    fail_msg("the hanging statfs never returned");
}

static void fake_fini(fake_fs_t *f)
{
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define FS(set, name, mp) VALUE((set), (name), "mountpoint", (mp))

static void test_fixture_tree(void **state)
{
    (void)state;
    tw_procfs_options_t o = {.proc_root = FIXTURE_PROC,
                             .sys_root = TW_FIXTURES "/procfs/sys",
                             .rootfs_root = "/fixture-root/",
                             .statfs_timeout_ms = 1000};
    tw_error_t err;
    tw_procfs_collector_t *c = tw_procfs_collector_new(&o, &err);
    assert_non_null(c);
    fake_fs_t fake;
    fake_init(&fake);
    fake.fail_path = "/fixture-root/mnt/My Share";
    tw_procfs_collector_set_statfs(c, fake_statfs, &fake);
    tw_mset_t *set = tw_mset_new();
    assert_int_equal(tw_procfs_collector_collect(c, set, 1700000000000, &err), 0);
    const char *first = "unset";
    assert_int_equal(tw_procfs_collector_errors(c, &first), 0);
    assert_null(first);

    /* stat */
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "user") == 1234 / hz());
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "1", "mode", "idle") == 89829 / hz());
    assert_true(VALUE(set, "node_cpu_guest_seconds_total", "cpu", "0", "mode", "user") ==
                42 / hz());
    assert_int_equal(count_samples(set, "node_cpu_seconds_total", NULL), 16);
    assert_true(VALUE0(set, "node_boot_time_seconds") == 1795672929.0);
    assert_true(VALUE0(set, "node_procs_running") == 3);
    /* meminfo */
    assert_true(VALUE0(set, "node_memory_MemTotal_bytes") == 24683620.0 * 1024);
    assert_true(VALUE0(set, "node_memory_Active_anon_bytes") == 1552.0 * 1024);
    assert_true(VALUE0(set, "node_memory_HugePages_Total") == 16);
    assert_true(VALUE0(set, "node_memory_VmallocTotal_bytes") == 34359738367.0 * 1024);
    /* load, pressure */
    assert_true(VALUE0(set, "node_load5") == 0.18);
    assert_true(VALUE0(set, "node_pressure_cpu_waiting_seconds_total") ==
                8874406 / 1000.0 / 1000.0);
    assert_true(VALUE0(set, "node_pressure_memory_stalled_seconds_total") == 45 / 1000.0 / 1000.0);
    /* net/dev */
    assert_true(VALUE(set, "node_network_transmit_colls_total", "device", "eth0") == 10);
    assert_true(VALUE(set, "node_network_receive_bytes_total", "device", "veth1a2b3c4") ==
                12345678901234.0);
    assert_int_equal(count_samples(set, "node_network_receive_bytes_total", NULL), 4);
    /* diskstats: loop, ram, zram and partitions are excluded */
    assert_int_equal(count_samples(set, "node_disk_reads_completed_total", NULL), 4);
    static const char *const disks[] = {"vda", "sda", "nvme0n1", "dm-0"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(count_samples(set, "node_disk_reads_completed_total",
                                       (const char *const[]){"device", disks[i], NULL}),
                         1);
    }
    assert_true(VALUE(set, "node_disk_read_bytes_total", "device", "vda") == 3088554.0 * 512);
    assert_true(VALUE(set, "node_disk_written_bytes_total", "device", "sda") == 600.0 * 512);

    /* filesystems: /, /boot, /run, /devices, /mnt/My Share remain */
    assert_int_equal(count_samples(set, "node_filesystem_device_error", NULL), 5);
    assert_true(FS(set, "node_filesystem_size_bytes", "/") == 1000.0 * 4096);
    assert_true(FS(set, "node_filesystem_free_bytes", "/") == 600.0 * 4096);
    assert_true(FS(set, "node_filesystem_avail_bytes", "/") == 500.0 * 4096);
    assert_true(FS(set, "node_filesystem_files", "/") == 100);
    assert_true(FS(set, "node_filesystem_files_free", "/") == 40);
    assert_true(FS(set, "node_filesystem_readonly", "/") == 0);
    assert_true(FS(set, "node_filesystem_device_error", "/") == 0);
    assert_true(VALUE(set, "node_filesystem_readonly", "mountpoint", "/boot", "device", "/dev/vda1",
                      "fstype", "ext4") == 1);
    assert_true(FS(set, "node_filesystem_device_error", "/run") == 0);
    assert_true(FS(set, "node_filesystem_device_error", "/devices") == 0);
    assert_true(VALUE(set, "node_filesystem_device_error", "mountpoint", "/mnt/My Share", "device",
                      "nfs:/export", "fstype", "nfs4") == 1);
    assert_int_equal(count_samples(set, "node_filesystem_size_bytes",
                                   (const char *const[]){"mountpoint", "/mnt/My Share", NULL}),
                     0);
    assert_int_equal(count_samples(set, "node_filesystem_size_bytes", NULL), 4);
    assert_int_equal(fake.calls_total, 5);
    const tw_mfamily_t *f = tw_mset_find(set, "node_filesystem_avail_bytes");
    assert_string_equal(f->help, "Filesystem space available to non-root users in bytes.");
    assert_int_equal(f->type, TW_MTYPE_GAUGE);
    const tw_msample_t *s = &f->samples[0];
    assert_int_equal(s->nlabels, 3);
    assert_string_equal(s->labels[0].name, "device");
    assert_string_equal(s->labels[1].name, "fstype");
    assert_string_equal(s->labels[2].name, "mountpoint");

    /* A second collection into a fresh set gives the same families. */
    size_t fams = tw_mset_family_count(set);
    tw_mset_reset(set);
    assert_int_equal(tw_procfs_collector_collect(c, set, 1700000010000, &err), 0);
    assert_int_equal(tw_mset_family_count(set), fams);

    tw_mset_free(set);
    tw_procfs_collector_free(c);
    fake_fini(&fake);
}

static void test_missing_files(void **state)
{
    (void)state;
    tw_procfs_options_t o = {.proc_root = "/nonexistent/proc", .rootfs_root = "/"};
    tw_procfs_collector_t *c = tw_procfs_collector_new(&o, NULL);
    tw_mset_t *set = tw_mset_new();
    assert_int_equal(tw_procfs_collector_collect(c, set, 0, NULL), 0);
    const char *first = NULL;
    /* stat, meminfo, loadavg, net/dev, diskstats, mounts; absent pressure is not an error. */
    assert_int_equal(tw_procfs_collector_errors(c, &first), 6);
    assert_non_null(first);
    assert_non_null(strstr(first, "/nonexistent/proc/stat"));
    assert_int_equal(tw_mset_family_count(set), 0);
    tw_mset_free(set);
    tw_procfs_collector_free(c);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_garbage_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/tw_procfs_garbageXXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/net", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof(sub), "%s/pressure", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_file(dir, "stat", "cpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 \x01\x02garbage\nctxt 5\n");
    write_file(dir, "meminfo", "MemTotal:  1000 kB\nMemFree:"); /* truncated */
    write_file(dir, "loadavg", "");
    write_file(dir, "pressure/cpu", "some avg10=0.00 total=1000000\n");
    write_file(dir, "pressure/io", "\xff\xfe binary junk");
    write_file(dir, "pressure/memory", "some total=2000000\nfull total=3000000\n");
    write_file(dir, "net/dev", "Inter-|\n face |\n eth0: 1 2 3\n");
    write_file(dir, "diskstats", "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 0 sdb one\n");
    write_file(dir, "mounts", "/dev/sda / ext4 rw 0 0\nshort\n");

    tw_procfs_options_t o = {.proc_root = dir, .rootfs_root = "/"};
    tw_procfs_collector_t *c = tw_procfs_collector_new(&o, NULL);
    fake_fs_t fake;
    fake_init(&fake);
    tw_procfs_collector_set_statfs(c, fake_statfs, &fake);
    tw_mset_t *set = tw_mset_new();
    assert_int_equal(tw_procfs_collector_collect(c, set, 0, NULL), 0);
    const char *first = NULL;
    /* stat, meminfo, loadavg, pressure/io, net/dev, diskstats, mounts (from the fallback). */
    assert_int_equal(tw_procfs_collector_errors(c, &first), 7);
    assert_non_null(strstr(first, "/stat: line 2"));
    /* What was readable is still there. */
    assert_true(VALUE(set, "node_cpu_seconds_total", "cpu", "0", "mode", "steal") == 8 / hz());
    assert_true(VALUE0(set, "node_context_switches_total") == 5);
    assert_true(VALUE0(set, "node_memory_MemTotal_bytes") == 1000.0 * 1024);
    assert_true(VALUE0(set, "node_pressure_cpu_waiting_seconds_total") == 1.0);
    assert_true(VALUE0(set, "node_pressure_memory_stalled_seconds_total") == 3.0);
    assert_null(tw_mset_find(set, "node_load1"));
    assert_null(tw_mset_find(set, "node_network_receive_bytes_total"));
    assert_true(VALUE(set, "node_disk_reads_completed_total", "device", "sda") == 1);
    assert_true(FS(set, "node_filesystem_size_bytes", "/") == 4096000.0);
    tw_mset_free(set);
    tw_procfs_collector_free(c);
    fake_fini(&fake);

    static const char *const files[] = {"stat",         "meminfo",     "loadavg",
                                        "pressure/cpu", "pressure/io", "pressure/memory",
                                        "net/dev",      "diskstats",   "mounts"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(sub, sizeof(sub), "%s/%s", dir, files[i]);
        unlink(sub);
    }
    snprintf(sub, sizeof(sub), "%s/net", dir);
    rmdir(sub);
    snprintf(sub, sizeof(sub), "%s/pressure", dir);
    rmdir(sub);
    rmdir(dir);
}

static void test_stuck_mount(void **state)
{
    (void)state;
    tw_procfs_options_t o = {
        .proc_root = FIXTURE_PROC, .rootfs_root = "/fixture-root", .statfs_timeout_ms = 300};
    tw_procfs_collector_t *c = tw_procfs_collector_new(&o, NULL);
    fake_fs_t fake;
    fake_init(&fake);
    fake.hang_path = "/fixture-root/mnt/My Share";
    tw_procfs_collector_set_statfs(c, fake_statfs, &fake);
    tw_mset_t *set = tw_mset_new();

    /* 1st: the NFS mount hangs; after the deadline it is an error, the others are measured. */
    double t0 = now_s();
    assert_int_equal(tw_procfs_collector_collect(c, set, 0, NULL), 0);
    double took = now_s() - t0;
    assert_true(took >= 0.29);
    assert_true(took < 3.0);
    assert_true(FS(set, "node_filesystem_device_error", "/mnt/My Share") == 1);
    assert_true(FS(set, "node_filesystem_device_error", "/devices") == 0);
    assert_true(FS(set, "node_filesystem_size_bytes", "/devices") == 4096000.0);
    assert_int_equal(tw_procfs_collector_stuck_count(c), 1);
    assert_int_equal(fake.calls_hang, 1);
    int calls = fake.calls_total;
    assert_int_equal(calls, 5);

    /* 2nd: the stuck mount is not asked again and costs no wait (well under the 300 ms). */
    tw_mset_reset(set);
    t0 = now_s();
    assert_int_equal(tw_procfs_collector_collect(c, set, 0, NULL), 0);
    assert_true(now_s() - t0 < 0.25);
    assert_true(FS(set, "node_filesystem_device_error", "/mnt/My Share") == 1);
    assert_true(FS(set, "node_filesystem_device_error", "/") == 0);
    pthread_mutex_lock(&fake.mu);
    assert_int_equal(fake.calls_hang, 1);
    assert_int_equal(fake.calls_total, calls + 4);
    pthread_mutex_unlock(&fake.mu);

    /* The mount recovers: it is measured again. */
    fake_release(&fake);
    fake_wait_returned(&fake);
    assert_int_equal(tw_procfs_collector_stuck_count(c), 0);
    tw_mset_reset(set);
    assert_int_equal(tw_procfs_collector_collect(c, set, 0, NULL), 0);
    assert_true(FS(set, "node_filesystem_device_error", "/mnt/My Share") == 0);
    assert_true(FS(set, "node_filesystem_avail_bytes", "/mnt/My Share") == 500.0 * 4096);
    assert_int_equal(fake.calls_hang, 2);
    tw_mset_free(set);
    tw_procfs_collector_free(c);
    fake_fini(&fake);
}

static void test_free_while_stuck(void **state)
{
    (void)state;
    tw_procfs_options_t o = {
        .proc_root = FIXTURE_PROC, .rootfs_root = "/fixture-root", .statfs_timeout_ms = 50};
    tw_procfs_collector_t *c = tw_procfs_collector_new(&o, NULL);
    fake_fs_t fake;
    fake_init(&fake);
    fake.hang_path = "/fixture-root/";
    tw_procfs_collector_set_statfs(c, fake_statfs, &fake);
    tw_mset_t *set = tw_mset_new();
    assert_int_equal(tw_procfs_collector_collect(c, set, 0, NULL), 0);
    assert_true(FS(set, "node_filesystem_device_error", "/") == 1);
    assert_true(FS(set, "node_filesystem_device_error", "/boot") == 0);
    tw_mset_free(set);
    /* The collector goes away while its helper is still inside statfs: the helper cleans up
     * after itself when statfs returns (ASan would report the leak otherwise). */
    tw_procfs_collector_free(c);
    fake_release(&fake);
    fake_wait_returned(&fake);
    fake_fini(&fake);
}

static void test_real_proc(void **state)
{
    (void)state;
    tw_procfs_options_t o = {0};
    tw_error_t err;
    tw_procfs_collector_t *c = tw_procfs_collector_new(&o, &err);
    assert_non_null(c);
    tw_mset_t *set = tw_mset_new();
    assert_int_equal(tw_procfs_collector_collect(c, set, 0, &err), 0);
    const char *first = NULL;
    size_t nerr = tw_procfs_collector_errors(c, &first);
    if (nerr != 0) {
        fprintf(stderr, "real /proc: %zu errors, first: %s\n", nerr, first);
    }
    assert_int_equal(nerr, 0);
    assert_int_equal(count_samples(set, "node_cpu_seconds_total",
                                   (const char *const[]){"cpu", "0", "mode", "user", NULL}),
                     1);
    assert_true(VALUE0(set, "node_memory_MemTotal_bytes") > 0);
    assert_true(VALUE0(set, "node_boot_time_seconds") > 1e9);
    assert_non_null(tw_mset_find(set, "node_load1"));
    assert_int_equal(count_samples(set, "node_network_receive_bytes_total",
                                   (const char *const[]){"device", "lo", NULL}),
                     1);
    tw_mset_free(set);
    tw_procfs_collector_free(c);
}

static void test_process_fixture(void **state)
{
    (void)state;
    tw_mset_t *set = tw_mset_new();
    tw_error_t err;
    assert_int_equal(tw_procfs_process_collect(FIXTURE_PROC, 4242, set, &err), 0);
    double page = (double)sysconf(_SC_PAGESIZE);
    assert_true(VALUE0(set, "process_cpu_seconds_total") == (250 + 130) / hz());
    assert_true(VALUE0(set, "process_virtual_memory_bytes") == 734003200.0);
    assert_true(VALUE0(set, "process_resident_memory_bytes") == 5120 * page);
    assert_true(VALUE0(set, "process_start_time_seconds") == 1795672929.0 + 84819 / hz());
    assert_true(VALUE0(set, "process_open_fds") == 5);
    assert_true(VALUE0(set, "process_max_fds") == 20000);
    assert_true(VALUE0(set, "process_virtual_memory_max_bytes") == 18446744073709551615.0);
    static const struct {
        const char *name, *help;
        tw_metric_type_t type;
    } want[] = {
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
         TW_MTYPE_COUNTER},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", TW_MTYPE_GAUGE},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", TW_MTYPE_GAUGE},
        {"process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.",
         TW_MTYPE_GAUGE},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
         TW_MTYPE_GAUGE},
        {"process_open_fds", "Number of open file descriptors.", TW_MTYPE_GAUGE},
        {"process_max_fds", "Maximum number of open file descriptors.", TW_MTYPE_GAUGE},
    };
    assert_int_equal(tw_mset_family_count(set), 7);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const tw_mfamily_t *f = tw_mset_find(set, want[i].name);
        assert_non_null(f);
        assert_string_equal(f->help, want[i].help);
        assert_int_equal(f->type, want[i].type);
    }
    tw_mset_reset(set);
    assert_true(tw_procfs_process_collect(FIXTURE_PROC, 999999, set, &err) < 0);
    assert_non_null(strstr(err.msg, "999999"));
    tw_mset_free(set);
}

static void test_process_self(void **state)
{
    (void)state;
    tw_mset_t *set = tw_mset_new();
    tw_error_t err;
    assert_int_equal(tw_procfs_process_collect("/proc", 0, set, &err), 0);
    assert_true(VALUE0(set, "process_open_fds") >= 3);
    assert_true(VALUE0(set, "process_max_fds") > 0);
    assert_true(VALUE0(set, "process_resident_memory_bytes") > 0);
    assert_true(VALUE0(set, "process_virtual_memory_bytes") > 0);
    assert_true(VALUE0(set, "process_start_time_seconds") > 1e9);
    assert_true(VALUE0(set, "process_start_time_seconds") <= (double)time(NULL) + 1);
    tw_mset_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_tree),     cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_garbage_files),    cmocka_unit_test(test_stuck_mount),
        cmocka_unit_test(test_free_while_stuck), cmocka_unit_test(test_real_proc),
        cmocka_unit_test(test_process_fixture),  cmocka_unit_test(test_process_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
