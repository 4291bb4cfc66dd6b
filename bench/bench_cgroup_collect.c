// SPDX-License-Identifier: Apache-2.0
/*
 * bench_cgroup_collect.c - CPU cost of one cgroup collection over a node with many containers.
 *
 * Generates a fake cgroup tree under a temp dir (or takes an existing root with --root), creates
 * a tw_cgroup_collector on it, warms up, then runs --runs collections and measures each with
 * CLOCK_PROCESS_CPUTIME_ID (user + system CPU of this process, i.e. the parsing and the kernel's
 * read/open/getdents work) and CLOCK_MONOTONIC. Prints one markdown table row on stdout:
 *
 *   | tree | containers | cgroups reported | values | CPU ms/collection median (min-max) |
 *   CPU ms per 100 containers | CPU-s per 1e6 values | wall ms median |
 *
 * "values" are the samples one collection produces (tw_mset_sample_count), the unit of
 * collectd's "CPU-seconds per million values" figure in shared/bench/BASELINE.md.
 *
 * The generated trees look like a Kubernetes node: --containers containers, two per pod (the app
 * and its pause container), under kubepods/burstable. v2 (systemd driver): kubepods.slice/
 * kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope with the
 * files of a 6.1 kernel (cpu.stat, cpu.max, cpu.weight, memory.current, memory.max, memory.stat
 * with all its lines, memory.events, io.stat with two devices, pids.*, the *.pressure files...).
 * v1 (cgroupfs driver): kubepods/burstable/pod<uid>/<id> in the cpu,cpuacct (with the cpu and
 * cpuacct symlinks systemd makes), memory, pids and blkio hierarchies. Values are pseudo-random
 * from a fixed seed, so every run reads the same bytes.
 *
 * Before creating the collector it raises RLIMIT_NOFILE to --nofile (65536 by default; 0 leaves
 * it) as the daemon does, since the collector keeps a descriptor per cgroup file within a budget
 * derived from that limit (--max-open-files sets the budget; 1 is close to keeping none).
 *
 * Single-threaded. The tree is removed at exit unless --keep. --generate-only writes the tree,
 * prints its root and exits (bench/run.sh points a whole daemon at it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/cgroup/cgroup.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/metric_set.h"

#define PATH_BYTES 4096
#define NCPU 8

typedef struct bench_opts {
    const char *layout; /* "v1" or "v2" */
    const char *root;   /* existing tree; NULL: generate */
    const char *dir;    /* parent of the generated tree */
    const char *label;  /* first column; NULL: derived */
    unsigned containers;
    unsigned runs;
    unsigned warmup;
    int keep;
    int generate_only;            /* write the tree, print its root on stdout, exit */
    unsigned long nofile;         /* RLIMIT_NOFILE to raise to first (0: leave it) */
    unsigned long max_open_files; /* the collector's descriptor budget (0: its default) */
} bench_opts_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static uint64_t rng_range(uint64_t lo, uint64_t hi)
{
    return lo + rng_next() % (hi - lo + 1);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_cgroup_collect: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void path_join(char *out, const char *a, const char *b)
{
    int n = snprintf(out, PATH_BYTES, "%s/%s", a, b);
    if (n < 0 || n >= PATH_BYTES) {
        die("path too long: %s/%s", a, b);
    }
}

static void mkdir_p1(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        die("mkdir %s: %s", path, strerror(errno));
    }
}

/* Writes a file dir/name with printf-formatted content. */
static void put(const char *dir, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put(const char *dir, const char *name, const char *fmt, ...)
{
    char path[PATH_BYTES];
    path_join(path, dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        die("open %s: %s", path, strerror(errno));
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    if (fclose(f) != 0) {
        die("write %s: %s", path, strerror(errno));
    }
}

static void hex_id(char *out, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[i] = digits[rng_next() & 15];
    }
    out[len] = '\0';
}

static void pod_uid(char *out, char sep)
{
    /* 8-4-4-4-12 */
    char h[33];
    hex_id(h, 32);
    snprintf(out, 37, "%.8s%c%.4s%c%.4s%c%.4s%c%.12s", h, sep, h + 8, sep, h + 12, sep, h + 16, sep,
             h + 20);
}

static void put_pressure(const char *dir, const char *name, int full)
{
    uint64_t some = rng_range(0, 50000000);
    if (full) {
        put(dir, name,
            "some avg10=0.00 avg60=0.01 avg300=0.00 total=%" PRIu64
            "\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=%" PRIu64 "\n",
            some, some / 2);
    } else {
        put(dir, name, "some avg10=0.00 avg60=0.01 avg300=0.00 total=%" PRIu64 "\n", some);
    }
}

/* One cgroup v2 directory with the files a 6.1 kernel shows; leaf: no children. */
static void gen_v2_cgroup(const char *dir, int leaf, int is_root)
{
    static const char *const stat_names[] = {"anon",
                                             "file",
                                             "kernel",
                                             "kernel_stack",
                                             "pagetables",
                                             "sec_pagetables",
                                             "percpu",
                                             "sock",
                                             "vmalloc",
                                             "shmem",
                                             "zswap",
                                             "zswapped",
                                             "file_mapped",
                                             "file_dirty",
                                             "file_writeback",
                                             "swapcached",
                                             "anon_thp",
                                             "file_thp",
                                             "shmem_thp",
                                             "inactive_anon",
                                             "active_anon",
                                             "inactive_file",
                                             "active_file",
                                             "unevictable",
                                             "slab_reclaimable",
                                             "slab_unreclaimable",
                                             "slab",
                                             "workingset_refault_anon",
                                             "workingset_refault_file",
                                             "workingset_activate_anon",
                                             "workingset_activate_file",
                                             "workingset_restore_anon",
                                             "workingset_restore_file",
                                             "workingset_nodereclaim",
                                             "pgscan",
                                             "pgsteal",
                                             "pgscan_kswapd",
                                             "pgscan_direct",
                                             "pgsteal_kswapd",
                                             "pgsteal_direct",
                                             "pgfault",
                                             "pgmajfault",
                                             "pgrefill",
                                             "pgactivate",
                                             "pgdeactivate",
                                             "pglazyfree",
                                             "pglazyfreed",
                                             "zswpin",
                                             "zswpout",
                                             "thp_fault_alloc",
                                             "thp_collapse_alloc"};
    char stat[4096];
    size_t off = 0;
    uint64_t anon = rng_range(1, 400) << 20, file = rng_range(0, 200) << 20;
    for (size_t i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]); i++) {
        uint64_t v;
        const char *n = stat_names[i];
        if (strcmp(n, "anon") == 0 || strcmp(n, "active_anon") == 0) {
            v = anon;
        } else if (strcmp(n, "file") == 0) {
            v = file;
        } else if (strcmp(n, "inactive_file") == 0) {
            v = file / 2;
        } else if (strcmp(n, "active_file") == 0) {
            v = file - file / 2;
        } else {
            v = rng_range(0, 5000000);
        }
        off += (size_t)snprintf(stat + off, sizeof(stat) - off, "%s %" PRIu64 "\n", n, v);
    }
    uint64_t usage = anon + file + rng_range(0, 8) * 4096 * 64;

    put(dir, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put(dir, "cgroup.subtree_control", "%s", leaf ? "" : "cpuset cpu io memory hugetlb pids\n");
    put(dir, "cgroup.procs", "%s", "");
    put(dir, "cgroup.threads", "%s", "");
    put(dir, "cgroup.stat", "nr_descendants 0\nnr_dying_descendants 0\n");
    put(dir, "cpu.stat",
        "usage_usec %" PRIu64 "\nuser_usec %" PRIu64 "\nsystem_usec %" PRIu64
        "\ncore_sched.force_idle_usec 0\nnr_periods %" PRIu64 "\nnr_throttled %" PRIu64
        "\nthrottled_usec %" PRIu64 "\nnr_bursts 0\nburst_usec 0\n",
        rng_range(1000000, 900000000000ULL), rng_range(1000000, 600000000000ULL),
        rng_range(100000, 300000000000ULL), rng_range(0, 1000000), rng_range(0, 10000),
        rng_range(0, 100000000));
    put(dir, "memory.stat", "%s", stat);
    put_pressure(dir, "cpu.pressure", 1);
    put_pressure(dir, "memory.pressure", 1);
    put_pressure(dir, "io.pressure", 1);
    put(dir, "io.stat",
        "8:0 rbytes=%" PRIu64 " wbytes=%" PRIu64 " rios=%" PRIu64 " wios=%" PRIu64
        " dbytes=0 dios=0\n259:0 rbytes=%" PRIu64 " wbytes=%" PRIu64 " rios=%" PRIu64
        " wios=%" PRIu64 " dbytes=0 dios=0\n",
        rng_range(0, 1ULL << 34), rng_range(0, 1ULL << 34), rng_range(0, 1000000),
        rng_range(0, 1000000), rng_range(0, 1ULL << 34), rng_range(0, 1ULL << 34),
        rng_range(0, 1000000), rng_range(0, 1000000));
    if (is_root) {
        return; /* the root has no limits, no memory.current, no pids.current */
    }
    put(dir, "cgroup.type", "domain\n");
    put(dir, "cgroup.events", "populated 1\nfrozen 0\n");
    put(dir, "cgroup.freeze", "0\n");
    if (rng_next() & 1) {
        put(dir, "cpu.max", "max 100000\n");
    } else {
        put(dir, "cpu.max", "%" PRIu64 " 100000\n", rng_range(10, 400) * 1000);
    }
    put(dir, "cpu.max.burst", "0\n");
    put(dir, "cpu.weight", "%" PRIu64 "\n", rng_range(1, 200));
    put(dir, "cpu.weight.nice", "0\n");
    put(dir, "cpu.idle", "0\n");
    put(dir, "cpuset.cpus", "%s", "");
    put(dir, "cpuset.cpus.effective", "0-%d\n", NCPU - 1);
    put(dir, "cpuset.mems", "%s", "");
    put(dir, "cpuset.mems.effective", "0\n");
    put(dir, "memory.current", "%" PRIu64 "\n", usage);
    put(dir, "memory.peak", "%" PRIu64 "\n", usage + (rng_range(0, 64) << 20));
    put(dir, "memory.min", "0\n");
    put(dir, "memory.low", "0\n");
    put(dir, "memory.high", "max\n");
    if (rng_next() & 1) {
        put(dir, "memory.max", "max\n");
    } else {
        put(dir, "memory.max", "%" PRIu64 "\n", rng_range(512, 4096) << 20);
    }
    put(dir, "memory.events",
        "low 0\nhigh 0\nmax %" PRIu64 "\noom 0\noom_kill %" PRIu64 "\noom_group_kill 0\n",
        rng_range(0, 20), rng_range(0, 2));
    put(dir, "memory.events.local", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
    put(dir, "memory.swap.current", "0\n");
    put(dir, "memory.swap.max", "max\n");
    put(dir, "memory.swap.events", "high 0\nmax 0\nfail 0\n");
    put(dir, "memory.oom.group", "%d\n", leaf);
    put(dir, "io.max", "%s", "");
    put(dir, "io.weight", "default 100\n");
    put(dir, "pids.current", "%" PRIu64 "\n", rng_range(1, 200));
    put(dir, "pids.max", "%s", (rng_next() & 1) ? "max\n" : "4096\n");
    put(dir, "pids.peak", "%" PRIu64 "\n", rng_range(200, 300));
    put(dir, "pids.events", "max 0\n");
}

/* The files of one cgroup in each v1 hierarchy (dirs: cpu,cpuacct / memory / pids / blkio). */
static void gen_v1_cgroup(const char *const dirs[4], int is_root)
{
    static const char *const mstat[] = {
        "cache",         "rss",         "rss_huge",      "shmem",       "mapped_file", "dirty",
        "writeback",     "swap",        "pgpgin",        "pgpgout",     "pgfault",     "pgmajfault",
        "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable"};
    const char *cpu = dirs[0], *mem = dirs[1], *pids = dirs[2], *blkio = dirs[3];

    uint64_t user = rng_range(1000000, 600000000000ULL), sys = rng_range(100000, 300000000000ULL);
    char percpu[512], all[1024];
    size_t po = 0, ao = 0;
    ao += (size_t)snprintf(all + ao, sizeof(all) - ao, "cpu user system\n");
    for (int i = 0; i < NCPU; i++) {
        po +=
            (size_t)snprintf(percpu + po, sizeof(percpu) - po, "%" PRIu64 " ", (user + sys) / NCPU);
        ao += (size_t)snprintf(all + ao, sizeof(all) - ao, "%d %" PRIu64 " %" PRIu64 "\n", i,
                               user / NCPU, sys / NCPU);
    }
    put(cpu, "cgroup.procs", "%s", "");
    put(cpu, "tasks", "%s", "");
    put(cpu, "notify_on_release", "0\n");
    put(cpu, "cpuacct.usage", "%" PRIu64 "\n", user + sys);
    put(cpu, "cpuacct.usage_user", "%" PRIu64 "\n", user);
    put(cpu, "cpuacct.usage_sys", "%" PRIu64 "\n", sys);
    put(cpu, "cpuacct.usage_percpu", "%s\n", percpu);
    put(cpu, "cpuacct.usage_all", "%s", all);
    put(cpu, "cpuacct.stat", "user %" PRIu64 "\nsystem %" PRIu64 "\n", user / 10000000,
        sys / 10000000);
    put(cpu, "cpu.shares", "%" PRIu64 "\n", rng_range(2, 2048));
    put(cpu, "cpu.cfs_period_us", "100000\n");
    put(cpu, "cpu.cfs_quota_us", "%" PRId64 "\n",
        (rng_next() & 1) ? (int64_t)-1 : (int64_t)rng_range(10, 400) * 1000);
    put(cpu, "cpu.stat",
        "nr_periods %" PRIu64 "\nnr_throttled %" PRIu64 "\nthrottled_time %" PRIu64 "\n",
        rng_range(0, 1000000), rng_range(0, 10000), rng_range(0, 100000000000ULL));

    char stat[4096];
    size_t off = 0;
    uint64_t rss = rng_range(1, 400) << 20, cache = rng_range(0, 200) << 20;
    uint64_t vals[sizeof(mstat) / sizeof(mstat[0])];
    for (size_t i = 0; i < sizeof(mstat) / sizeof(mstat[0]); i++) {
        vals[i] = rng_range(0, 5000000);
        if (strcmp(mstat[i], "rss") == 0 || strcmp(mstat[i], "active_anon") == 0) {
            vals[i] = rss;
        } else if (strcmp(mstat[i], "cache") == 0) {
            vals[i] = cache;
        } else if (strcmp(mstat[i], "inactive_file") == 0) {
            vals[i] = cache / 2;
        }
        off +=
            (size_t)snprintf(stat + off, sizeof(stat) - off, "%s %" PRIu64 "\n", mstat[i], vals[i]);
    }
    off += (size_t)snprintf(stat + off, sizeof(stat) - off,
                            "hierarchical_memory_limit 9223372036854771712\n"
                            "hierarchical_memsw_limit 9223372036854771712\n");
    for (size_t i = 0; i < sizeof(mstat) / sizeof(mstat[0]); i++) {
        off += (size_t)snprintf(stat + off, sizeof(stat) - off, "total_%s %" PRIu64 "\n", mstat[i],
                                vals[i]);
    }
    uint64_t usage = rss + cache + (rng_range(0, 8) << 16);
    put(mem, "cgroup.procs", "%s", "");
    put(mem, "tasks", "%s", "");
    put(mem, "memory.stat", "%s", stat);
    put(mem, "memory.usage_in_bytes", "%" PRIu64 "\n", usage);
    put(mem, "memory.max_usage_in_bytes", "%" PRIu64 "\n", usage + (rng_range(0, 64) << 20));
    put(mem, "memory.limit_in_bytes", "%" PRIu64 "\n",
        is_root || (rng_next() & 1) ? (uint64_t)9223372036854771712ULL
                                    : rng_range(512, 4096) << 20);
    put(mem, "memory.soft_limit_in_bytes", "9223372036854771712\n");
    put(mem, "memory.failcnt", "%" PRIu64 "\n", rng_range(0, 20));
    put(mem, "memory.memsw.usage_in_bytes", "%" PRIu64 "\n", usage);
    put(mem, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
    put(mem, "memory.kmem.usage_in_bytes", "%" PRIu64 "\n", rng_range(0, 1 << 24));
    put(mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill %" PRIu64 "\n",
        rng_range(0, 2));
    put(mem, "memory.use_hierarchy", "1\n");
    put(mem, "memory.swappiness", "60\n");

    put(pids, "cgroup.procs", "%s", "");
    put(pids, "tasks", "%s", "");
    if (!is_root) {
        put(pids, "pids.current", "%" PRIu64 "\n", rng_range(1, 200));
        put(pids, "pids.max", "%s", (rng_next() & 1) ? "max\n" : "4096\n");
        put(pids, "pids.events", "max 0\n");
    }

    char io[2048];
    size_t io_off = 0;
    const char *const devs[] = {"8:0", "259:0"};
    const char *const files[] = {"blkio.throttle.io_service_bytes", "blkio.throttle.io_serviced"};
    for (int f = 0; f < 2; f++) {
        io_off = 0;
        uint64_t total = 0;
        for (int d = 0; d < 2; d++) {
            uint64_t r = rng_range(0, 1ULL << 32), w = rng_range(0, 1ULL << 32);
            io_off +=
                (size_t)snprintf(io + io_off, sizeof(io) - io_off,
                                 "%s Read %" PRIu64 "\n%s Write %" PRIu64 "\n%s Sync %" PRIu64
                                 "\n%s Async %" PRIu64 "\n%s Discard 0\n%s Total %" PRIu64 "\n",
                                 devs[d], r, devs[d], w, devs[d], w / 2, devs[d], r + w - w / 2,
                                 devs[d], devs[d], r + w);
            total += r + w;
        }
        snprintf(io + io_off, sizeof(io) - io_off, "Total %" PRIu64 "\n", total);
        put(blkio, files[f], "%s", io);
    }
    put(blkio, "cgroup.procs", "%s", "");
    put(blkio, "tasks", "%s", "");
}

static void gen_v2(const char *root, unsigned containers)
{
    char a[PATH_BYTES], b[PATH_BYTES], pod[PATH_BYTES], ctr[PATH_BYTES], name[256];
    gen_v2_cgroup(root, 0, 1);
    path_join(a, root, "kubepods.slice");
    mkdir_p1(a);
    gen_v2_cgroup(a, 0, 0);
    path_join(b, a, "kubepods-burstable.slice");
    mkdir_p1(b);
    gen_v2_cgroup(b, 0, 0);
    for (unsigned i = 0; i < containers; i += 2) {
        char uid[40], id[65];
        pod_uid(uid, '_');
        snprintf(name, sizeof(name), "kubepods-burstable-pod%s.slice", uid);
        path_join(pod, b, name);
        mkdir_p1(pod);
        gen_v2_cgroup(pod, 0, 0);
        for (unsigned j = 0; j < 2 && i + j < containers; j++) {
            hex_id(id, 64);
            snprintf(name, sizeof(name), "cri-containerd-%s.scope", id);
            path_join(ctr, pod, name);
            mkdir_p1(ctr);
            gen_v2_cgroup(ctr, 1, 0);
        }
    }
}

static void gen_v1(const char *root, unsigned containers)
{
    static const char *const hier[4] = {"cpu,cpuacct", "memory", "pids", "blkio"};
    char base[4][PATH_BYTES], lvl1[4][PATH_BYTES], lvl2[4][PATH_BYTES], pod[4][PATH_BYTES];
    char ctr[4][PATH_BYTES], path[PATH_BYTES];
    const char *dirs[4];

    for (int h = 0; h < 4; h++) {
        path_join(base[h], root, hier[h]);
        mkdir_p1(base[h]);
        dirs[h] = base[h];
    }
    /* As systemd mounts them: cpu and cpuacct are symlinks to the joint hierarchy. */
    path_join(path, root, "cpu");
    if (symlink("cpu,cpuacct", path) != 0 && errno != EEXIST) {
        die("symlink %s: %s", path, strerror(errno));
    }
    path_join(path, root, "cpuacct");
    if (symlink("cpu,cpuacct", path) != 0 && errno != EEXIST) {
        die("symlink %s: %s", path, strerror(errno));
    }
    gen_v1_cgroup(dirs, 1);
    for (int h = 0; h < 4; h++) {
        path_join(lvl1[h], base[h], "kubepods");
        mkdir_p1(lvl1[h]);
        dirs[h] = lvl1[h];
    }
    gen_v1_cgroup(dirs, 0);
    for (int h = 0; h < 4; h++) {
        path_join(lvl2[h], lvl1[h], "burstable");
        mkdir_p1(lvl2[h]);
        dirs[h] = lvl2[h];
    }
    gen_v1_cgroup(dirs, 0);
    for (unsigned i = 0; i < containers; i += 2) {
        char uid[40], name[64], id[65];
        pod_uid(uid, '-');
        snprintf(name, sizeof(name), "pod%s", uid);
        for (int h = 0; h < 4; h++) {
            path_join(pod[h], lvl2[h], name);
            mkdir_p1(pod[h]);
            dirs[h] = pod[h];
        }
        gen_v1_cgroup(dirs, 0);
        for (unsigned j = 0; j < 2 && i + j < containers; j++) {
            hex_id(id, 64);
            for (int h = 0; h < 4; h++) {
                path_join(ctr[h], pod[h], id);
                mkdir_p1(ctr[h]);
                dirs[h] = ctr[h];
            }
            gen_v1_cgroup(dirs, 0);
        }
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_cgroup_collect [--layout v1|v2] [--containers N] [--runs N]\n"
                    "         [--warmup N] [--dir PARENT] [--root EXISTING_ROOT] [--label TEXT]\n"
                    "         [--keep] [--header] [--generate-only] [--nofile N]\n"
                    "         [--max-open-files N]\n");
    exit(2);
}

static unsigned parse_uint(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v == 0 || v > 1000000) {
        die("not a positive count: %s", s);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.layout = "v2",
                      .dir = "/tmp",
                      .containers = 1000,
                      .runs = 50,
                      .warmup = 3,
                      .nofile = 65536};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            o.keep = 1;
            continue;
        }
        if (strcmp(a, "--generate-only") == 0) {
            o.generate_only = 1;
            continue;
        }
        if (strcmp(a, "--header") == 0) {
            printf("| tree | containers | cgroups reported | values per collection | CPU ms per "
                   "collection, median (min–max) | CPU ms per 100 containers | CPU-s per 1e6 "
                   "values | wall ms, median |\n|---|---|---|---|---|---|---|---|\n");
            return 0;
        }
        if (v == NULL) {
            usage();
        }
        i++;
        if (strcmp(a, "--layout") == 0) {
            o.layout = v;
        } else if (strcmp(a, "--containers") == 0) {
            o.containers = parse_uint(v);
        } else if (strcmp(a, "--runs") == 0) {
            o.runs = parse_uint(v);
        } else if (strcmp(a, "--warmup") == 0) {
            o.warmup = parse_uint(v);
        } else if (strcmp(a, "--dir") == 0) {
            o.dir = v;
        } else if (strcmp(a, "--root") == 0) {
            o.root = v;
        } else if (strcmp(a, "--label") == 0) {
            o.label = v;
        } else if (strcmp(a, "--nofile") == 0) {
            o.nofile = strcmp(v, "0") == 0 ? 0 : parse_uint(v);
        } else if (strcmp(a, "--max-open-files") == 0) {
            o.max_open_files = parse_uint(v);
        } else {
            usage();
        }
    }
    if (strcmp(o.layout, "v1") != 0 && strcmp(o.layout, "v2") != 0) {
        usage();
    }

    char tmpl[PATH_BYTES];
    const char *root = o.root;
    if (root == NULL) {
        int n = snprintf(tmpl, sizeof(tmpl), "%s/tw-bench-cgroup-%s.XXXXXX", o.dir, o.layout);
        if (n < 0 || (size_t)n >= sizeof(tmpl) || mkdtemp(tmpl) == NULL) {
            die("mkdtemp under %s: %s", o.dir, strerror(errno));
        }
        root = tmpl;
        double t0 = now_s(CLOCK_MONOTONIC);
        if (strcmp(o.layout, "v2") == 0) {
            gen_v2(root, o.containers);
        } else {
            gen_v1(root, o.containers);
        }
        fprintf(stderr, "generated a cgroup %s tree of %u containers under %s in %.1f s\n",
                o.layout, o.containers, root, now_s(CLOCK_MONOTONIC) - t0);
        if (o.generate_only) {
            printf("%s\n", root);
            return 0;
        }
    }

    tw_error_t err = {0};
    if (o.nofile != 0) {
        /* As the daemon does at startup (tw_cgroup_nofile_raise(0) up to the hard limit, which
         * systemd sets to 524288): room to keep a descriptor per cgroup file. */
        uint64_t soft = 0;
        if (tw_cgroup_nofile_raise(o.nofile, &soft, &err) != 0) {
            fprintf(stderr, "note: %s\n", err.msg);
        } else if (soft < o.nofile) {
            fprintf(stderr, "note: RLIMIT_NOFILE is %llu, not %lu\n", (unsigned long long)soft,
                    o.nofile);
        }
    }
    tw_cgroup_options_t copts = {.root = root, .max_open_files = o.max_open_files};
    tw_cgroup_collector_t *c = tw_cgroup_collector_new(&copts, &err);
    if (c == NULL) {
        char msg[1024];
        die("tw_cgroup_collector_new(%s): %s", root, tw_error_format(&err, msg, sizeof(msg)));
    }
    tw_mset_t *set = tw_mset_new();
    double *cpu_ms = tw_xcalloc(o.runs, sizeof(double));
    double *wall_ms = tw_xcalloc(o.runs, sizeof(double));
    size_t values = 0, values_min = SIZE_MAX, values_max = 0, errors = 0;
    int64_t now_ms = (int64_t)(now_s(CLOCK_REALTIME) * 1000);

    for (unsigned i = 0; i < o.warmup + o.runs; i++) {
        tw_mset_reset(set);
        double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID), w0 = now_s(CLOCK_MONOTONIC);
        int rc = tw_cgroup_collector_collect(c, set, now_ms + 1000 * (int64_t)i, &err);
        double c1 = now_s(CLOCK_PROCESS_CPUTIME_ID), w1 = now_s(CLOCK_MONOTONIC);
        if (rc != 0) {
            char msg[1024];
            die("collect: %s", tw_error_format(&err, msg, sizeof(msg)));
        }
        if (i < o.warmup) {
            continue;
        }
        cpu_ms[i - o.warmup] = (c1 - c0) * 1000;
        wall_ms[i - o.warmup] = (w1 - w0) * 1000;
        values = tw_mset_sample_count(set);
        values_min = values < values_min ? values : values_min;
        values_max = values > values_max ? values : values_max;
        const char *first = NULL;
        errors = tw_cgroup_collector_errors(c, &first);
        if (errors > 0 && i == o.warmup) {
            fprintf(stderr, "note: %zu files failed in a collection; first: %s\n", errors,
                    first ? first : "?");
        }
    }
    size_t reported = tw_cgroup_collector_containers(c);
    fprintf(stderr, "note: %zu descriptors kept open between collections\n",
            tw_cgroup_collector_open_files(c));
    if (values_min != values_max) {
        fprintf(stderr, "note: values per collection varied: %zu-%zu\n", values_min, values_max);
    }

    double cmin = cpu_ms[0], cmax = cpu_ms[0];
    for (unsigned i = 0; i < o.runs; i++) {
        cmin = cpu_ms[i] < cmin ? cpu_ms[i] : cmin;
        cmax = cpu_ms[i] > cmax ? cpu_ms[i] : cmax;
    }
    double cmed = median(cpu_ms, o.runs), wmed = median(wall_ms, o.runs);
    unsigned ctrs = o.root ? (unsigned)reported : o.containers;
    char label[256];
    if (o.label) {
        snprintf(label, sizeof(label), "%s", o.label);
    } else {
        snprintf(label, sizeof(label), "generated cgroup %s, %u runs", o.layout, o.runs);
    }
    printf("| %s | %u | %zu | %zu | %.2f (%.2f–%.2f) | %.3f | %.2f | %.2f |\n", label, ctrs,
           reported, values, cmed, cmin, cmax, ctrs ? cmed * 100.0 / ctrs : 0.0,
           values ? cmed / 1000.0 / (double)values * 1e6 : 0.0, wmed);
    if (errors > 0) {
        fprintf(stderr, "note: %zu file errors per collection\n", errors);
    }

    free(cpu_ms);
    free(wall_ms);
    tw_mset_free(set);
    tw_cgroup_collector_free(c);
    if (o.root == NULL && !o.keep) {
        nftw(root, rm_entry, 64, FTW_DEPTH | FTW_PHYS);
    } else if (o.root == NULL) {
        fprintf(stderr, "kept %s\n", root);
    }
    return 0;
}
