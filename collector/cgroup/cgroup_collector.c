/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_collector.c - the container collector: finds every cgroup under opts.root, reads its
 * cpu, memory, block I/O, pids and PSI files (cgroup v1, v2 or hybrid), and writes cAdvisor's
 * metric families with kubelet's label set (container, id, image, name, namespace, pod), plus
 * the kube-state-metrics pod series when a pod table is installed.
 *
 * How it works:
 *  - new() looks at root once: root/cgroup.controllers means unified v2; otherwise the v1
 *    controller mounts (cpu, cpuacct, or "cpu,cpuacct"; memory; blkio; pids), with a v2 mount
 *    at root/unified in hybrid mode. Each resource is read from v2 when the v2 root lists its
 *    controller, else from its v1 hierarchy.
 *  - collect() walks each hierarchy it reads from (a hierarchy reached twice through symlinks
 *    is walked once), takes the union of the relative paths (one container = one path, "/" for
 *    the root), sorts them, and reads each container through directory fds with openat + read
 *    into a stack buffer (no heap per file). Label arrays are built once per container in the
 *    metric set's arena and shared by all its samples (tw_mset_add_borrowed).
 *  - A missing, unreadable or unparsable file is counted and skipped. A required file that is
 *    missing because the cgroup directory itself vanished drops the container silently.
 *
 * Thread model: one thread calls collect; set_pods may run on any thread (mutex around the
 * table pointer; the table itself is immutable and reference-counted).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup_int.h"
#include "common/arena.h"
#include "common/hash.h"
#include "common/mem.h"

enum { SRC_NONE = 0, SRC_V1, SRC_V2 };

enum { H_CPU, H_CPUACCT, H_MEMORY, H_BLKIO, H_PIDS, H_V2, H_COUNT };

#define READ_BUF 8192

/* Families, in the order they are created on first use. */
enum {
    F_CPU_USAGE,
    F_CPU_USER,
    F_CPU_SYSTEM,
    F_CFS_PERIODS,
    F_CFS_THROTTLED_PERIODS,
    F_CFS_THROTTLED_SECONDS,
    F_MEM_USAGE,
    F_MEM_WORKING_SET,
    F_MEM_RSS,
    F_MEM_CACHE,
    F_MEM_SWAP,
    F_MEM_FAILCNT,
    F_MEM_MAX_USAGE,
    F_OOM,
    F_SPEC_MEM_LIMIT,
    F_SPEC_CPU_QUOTA,
    F_SPEC_CPU_PERIOD,
    F_SPEC_CPU_SHARES,
    F_FS_READS,
    F_FS_WRITES,
    F_PROCESSES,
    F_THREADS,
    F_PSI_CPU_WAITING,
    F_PSI_CPU_STALLED,
    F_PSI_MEM_WAITING,
    F_PSI_MEM_STALLED,
    F_PSI_IO_WAITING,
    F_PSI_IO_STALLED,
    F_LAST_SEEN,
    F_COUNT
};

static const struct {
    const char *name;
    tw_metric_type_t type;
    const char *help;
    const char *unit;
} families[F_COUNT] = {
    [F_CPU_USAGE] = {"container_cpu_usage_seconds_total", TW_MTYPE_COUNTER,
                     "Cumulative cpu time consumed in seconds.", "seconds"},
    [F_CPU_USER] = {"container_cpu_user_seconds_total", TW_MTYPE_COUNTER,
                    "Cumulative user cpu time consumed in seconds.", "seconds"},
    [F_CPU_SYSTEM] = {"container_cpu_system_seconds_total", TW_MTYPE_COUNTER,
                      "Cumulative system cpu time consumed in seconds.", "seconds"},
    [F_CFS_PERIODS] = {"container_cpu_cfs_periods_total", TW_MTYPE_COUNTER,
                       "Number of elapsed enforcement period intervals.", NULL},
    [F_CFS_THROTTLED_PERIODS] = {"container_cpu_cfs_throttled_periods_total", TW_MTYPE_COUNTER,
                                 "Number of throttled period intervals.", NULL},
    [F_CFS_THROTTLED_SECONDS] = {"container_cpu_cfs_throttled_seconds_total", TW_MTYPE_COUNTER,
                                 "Total time duration the container has been throttled.",
                                 "seconds"},
    [F_MEM_USAGE] = {"container_memory_usage_bytes", TW_MTYPE_GAUGE,
                     "Current memory usage in bytes, including all memory regardless of when it "
                     "was accessed",
                     "bytes"},
    [F_MEM_WORKING_SET] = {"container_memory_working_set_bytes", TW_MTYPE_GAUGE,
                           "Current working set in bytes.", "bytes"},
    [F_MEM_RSS] = {"container_memory_rss", TW_MTYPE_GAUGE, "Size of RSS in bytes.", "bytes"},
    [F_MEM_CACHE] = {"container_memory_cache", TW_MTYPE_GAUGE,
                     "Number of bytes of page cache memory.", "bytes"},
    [F_MEM_SWAP] = {"container_memory_swap", TW_MTYPE_GAUGE, "Container swap usage in bytes.",
                    "bytes"},
    [F_MEM_FAILCNT] = {"container_memory_failcnt", TW_MTYPE_COUNTER,
                       "Number of memory usage hits limits", NULL},
    [F_MEM_MAX_USAGE] = {"container_memory_max_usage_bytes", TW_MTYPE_GAUGE,
                         "Maximum memory usage recorded in bytes", "bytes"},
    [F_OOM] = {"container_oom_events_total", TW_MTYPE_COUNTER,
               "Count of out of memory events observed for the container", NULL},
    [F_SPEC_MEM_LIMIT] = {"container_spec_memory_limit_bytes", TW_MTYPE_GAUGE,
                          "Memory limit for the container.", "bytes"},
    [F_SPEC_CPU_QUOTA] = {"container_spec_cpu_quota", TW_MTYPE_GAUGE, "CPU quota of the container.",
                          NULL},
    [F_SPEC_CPU_PERIOD] = {"container_spec_cpu_period", TW_MTYPE_GAUGE,
                           "CPU period of the container.", NULL},
    [F_SPEC_CPU_SHARES] = {"container_spec_cpu_shares", TW_MTYPE_GAUGE,
                           "CPU share of the container.", NULL},
    [F_FS_READS] = {"container_fs_reads_bytes_total", TW_MTYPE_COUNTER,
                    "Cumulative count of bytes read", "bytes"},
    [F_FS_WRITES] = {"container_fs_writes_bytes_total", TW_MTYPE_COUNTER,
                     "Cumulative count of bytes written", "bytes"},
    [F_PROCESSES] = {"container_processes", TW_MTYPE_GAUGE,
                     "Number of processes running inside the container.", NULL},
    [F_THREADS] = {"container_threads", TW_MTYPE_GAUGE,
                   "Number of threads running inside the container", NULL},
    [F_PSI_CPU_WAITING] = {"container_pressure_cpu_waiting_seconds_total", TW_MTYPE_COUNTER,
                           "Total time duration tasks in the container have waited due to CPU "
                           "congestion.",
                           "seconds"},
    [F_PSI_CPU_STALLED] = {"container_pressure_cpu_stalled_seconds_total", TW_MTYPE_COUNTER,
                           "Total time duration no tasks in the container could make progress "
                           "due to CPU congestion.",
                           "seconds"},
    [F_PSI_MEM_WAITING] = {"container_pressure_memory_waiting_seconds_total", TW_MTYPE_COUNTER,
                           "Total time duration tasks in the container have waited due to "
                           "memory congestion.",
                           "seconds"},
    [F_PSI_MEM_STALLED] = {"container_pressure_memory_stalled_seconds_total", TW_MTYPE_COUNTER,
                           "Total time duration no tasks in the container could make progress "
                           "due to memory congestion.",
                           "seconds"},
    [F_PSI_IO_WAITING] = {"container_pressure_io_waiting_seconds_total", TW_MTYPE_COUNTER,
                          "Total time duration tasks in the container have waited due to IO "
                          "congestion.",
                          "seconds"},
    [F_PSI_IO_STALLED] = {"container_pressure_io_stalled_seconds_total", TW_MTYPE_COUNTER,
                          "Total time duration no tasks in the container could make progress "
                          "due to IO congestion.",
                          "seconds"},
    [F_LAST_SEEN] = {"container_last_seen", TW_MTYPE_GAUGE,
                     "Last time a container was seen by the exporter", "seconds"},
};

/* One cgroup of a collection: its path, and its directory in each hierarchy that has it. */
typedef struct path_ent {
    const char *rel; /* the first node's rel: valid until the next walk */
    size_t len;
    uint64_t hash;
    tw_cg_node_t *node[H_COUNT]; /* NULL where the hierarchy has no such directory */
} path_ent_t;

typedef struct devname {
    unsigned major, minor;
    char *name; /* "/dev/sda", or "8:0" when sysfs does not know it */
} devname_t;

struct tw_cgroup_collector {
    char *root;
    char *node_name;
    size_t max_cgroups;
    unsigned max_depth;

    char *hier[H_COUNT]; /* absolute hierarchy roots; NULL when absent */
    unsigned v2_ctrls;   /* controllers listed by the v2 root's cgroup.controllers */
    bool pure_v2;
    int src_cpu, src_mem, src_io, src_pids;
    char *sysfs_dev_block; /* "<sysfs>/dev/block" for device names, or NULL */

    pthread_mutex_t pods_lock;
    tw_cgroup_pods_t *pods;

    /* Kept between collections: each hierarchy's directory tree with its open files. */
    tw_cg_fds_t fds;
    tw_cg_tree_t *tree[H_COUNT]; /* NULL when hier[h] is */
    int primary[H_COUNT];        /* the hierarchy whose tree stands for h (h, or an alias) */

    /* Per collection. */
    tw_arena_t *scratch;
    path_ent_t *paths;
    size_t npaths, paths_cap;
    uint64_t *set; /* open addressing over path hashes: index + 1 */
    size_t set_cap;
    tw_mfamily_t *fam[F_COUNT];
    size_t errors;
    size_t containers;
    char first_error[512];
    bool limit_hit;

    devname_t *devs;
    size_t ndevs, devs_cap;

    /* Test hook: runs after the walk, before the reads. */
    void (*after_walk)(void *);
    void *after_walk_ctx;
};

void tw_cg_collector_set_after_walk(tw_cgroup_collector_t *c, void (*fn)(void *), void *ctx)
{
    c->after_walk = fn;
    c->after_walk_ctx = ctx;
}

static char *path_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = tw_xmalloc(na + nb + 2);
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Reads a whole small file at dfd/name into buf (NUL-terminated). Returns length or -errno. */
static ssize_t read_at(int dfd, const char *name, char *buf, size_t cap)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size_t len = 0;
    while (len + 1 < cap) {
        size_t want = cap - 1 - len;
        ssize_t n = read(fd, buf + len, want);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int e = errno;
            close(fd);
            return -e;
        }
        len += (size_t)n;
        /* A short read is the end: seq_file (cgroupfs) and regular files only return less than
         * asked at EOF. Saves the extra read(2) that would return 0. */
        if (n == 0 || (size_t)n < want) {
            break;
        }
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

static ssize_t read_path(const char *path, char *buf, size_t cap)
{
    return read_at(AT_FDCWD, path, buf, cap);
}

/* The default descriptor budget: what the soft RLIMIT_NOFILE leaves after a reserve for the rest
 * of the daemon (sockets, storage files): an eighth of the limit, from 512 to 4096 descriptors,
 * and at least half of a limit below 1024. */
static size_t default_fd_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 0;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)1 << 20) {
        rl.rlim_cur = (rlim_t)1 << 20;
    }
    size_t lim = (size_t)rl.rlim_cur;
    size_t reserve = lim / 8;
    reserve = reserve < 512 ? 512 : reserve > 4096 ? 4096 : reserve;
    if (lim < 1024) {
        reserve = lim / 2;
    }
    return lim - reserve;
}

tw_cgroup_collector_t *tw_cgroup_collector_new(const tw_cgroup_options_t *opts, tw_error_t *err)
{
    if (opts == NULL || opts->root == NULL || opts->root[0] == '\0') {
        tw_error_set(err, TW_EINVAL, "cgroup collector: no root path given");
        return NULL;
    }
    if (!is_dir(opts->root)) {
        tw_error_set(err, -ENOENT, "cgroup collector: %s is not a directory", opts->root);
        return NULL;
    }
    tw_cgroup_collector_t *c = tw_xcalloc(1, sizeof(*c));
    c->root = tw_xstrdup(opts->root);
    c->node_name = opts->node_name != NULL ? tw_xstrdup(opts->node_name) : NULL;
    c->max_cgroups = opts->max_cgroups != 0 ? opts->max_cgroups : 100000;
    c->max_depth = opts->max_depth != 0 ? opts->max_depth : 32;
    pthread_mutex_init(&c->pods_lock, NULL);
    c->fds.max = opts->max_open_files != 0 ? opts->max_open_files : default_fd_budget();
    c->scratch = tw_arena_new(64 * 1024);

    char buf[512];
    char *p = path_join(c->root, "cgroup.controllers");
    ssize_t n = read_path(p, buf, sizeof(buf));
    free(p);
    if (n >= 0) {
        c->pure_v2 = true;
        c->hier[H_V2] = tw_xstrdup(c->root);
        c->v2_ctrls = tw_cg_parse_controllers(buf, (size_t)n);
    } else {
        static const struct {
            int h;
            const char *names[3];
        } v1[] = {
            {H_CPU, {"cpu", "cpu,cpuacct", "cpuacct,cpu"}},
            {H_CPUACCT, {"cpuacct", "cpu,cpuacct", "cpuacct,cpu"}},
            {H_MEMORY, {"memory", NULL, NULL}},
            {H_BLKIO, {"blkio", NULL, NULL}},
            {H_PIDS, {"pids", NULL, NULL}},
        };
        for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++) {
            for (size_t k = 0; k < 3 && v1[i].names[k] != NULL; k++) {
                char *d = path_join(c->root, v1[i].names[k]);
                if (is_dir(d)) {
                    c->hier[v1[i].h] = d;
                    break;
                }
                free(d);
            }
        }
        char *u = path_join(c->root, "unified");
        p = path_join(u, "cgroup.controllers");
        n = read_path(p, buf, sizeof(buf));
        free(p);
        if (n >= 0) {
            c->hier[H_V2] = u;
            c->v2_ctrls = tw_cg_parse_controllers(buf, (size_t)n);
        } else {
            free(u);
        }
    }
    if (c->hier[H_V2] != NULL) {
        c->src_cpu = (c->pure_v2 || (c->v2_ctrls & TW_CG_CTRL_CPU)) ? SRC_V2 : SRC_NONE;
        c->src_mem = (c->pure_v2 || (c->v2_ctrls & TW_CG_CTRL_MEMORY)) ? SRC_V2 : SRC_NONE;
        c->src_io = (c->pure_v2 || (c->v2_ctrls & TW_CG_CTRL_IO)) ? SRC_V2 : SRC_NONE;
        c->src_pids = (c->pure_v2 || (c->v2_ctrls & TW_CG_CTRL_PIDS)) ? SRC_V2 : SRC_NONE;
    }
    if (c->src_cpu == SRC_NONE && (c->hier[H_CPU] != NULL || c->hier[H_CPUACCT] != NULL)) {
        c->src_cpu = SRC_V1;
    }
    if (c->src_mem == SRC_NONE && c->hier[H_MEMORY] != NULL) {
        c->src_mem = SRC_V1;
    }
    if (c->src_io == SRC_NONE && c->hier[H_BLKIO] != NULL) {
        c->src_io = SRC_V1;
    }
    if (c->src_pids == SRC_NONE && c->hier[H_PIDS] != NULL) {
        c->src_pids = SRC_V1;
    }
    if (c->src_cpu == SRC_NONE && c->src_mem == SRC_NONE && c->src_io == SRC_NONE &&
        c->src_pids == SRC_NONE) {
        tw_error_set(err, TW_ENOTFOUND,
                     "cgroup collector: no cgroup v1 controller (cpu, cpuacct, memory, blkio, "
                     "pids) or cgroup v2 hierarchy under %s",
                     c->root);
        tw_cgroup_collector_free(c);
        return NULL;
    }
    for (int h = 0; h < H_COUNT; h++) {
        c->primary[h] = h;
        if (c->hier[h] != NULL) {
            c->tree[h] = tw_cg_tree_new(c->hier[h], &c->fds);
        }
    }
    /* sysfs for device names: root is normally <sysfs>/fs/cgroup. */
    size_t rl = strlen(c->root);
    while (rl > 1 && c->root[rl - 1] == '/') {
        rl--;
    }
    if (rl >= 10 && memcmp(c->root + rl - 10, "/fs/cgroup", 10) == 0) {
        size_t sl = rl - 10;
        c->sysfs_dev_block = tw_xmalloc(sl + sizeof("/dev/block"));
        memcpy(c->sysfs_dev_block, c->root, sl);
        memcpy(c->sysfs_dev_block + sl, "/dev/block", sizeof("/dev/block"));
    }
    return c;
}

void tw_cgroup_collector_free(tw_cgroup_collector_t *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < H_COUNT; i++) {
        tw_cg_tree_free(c->tree[i]);
        free(c->hier[i]);
    }
    for (size_t i = 0; i < c->ndevs; i++) {
        free(c->devs[i].name);
    }
    free(c->devs);
    free(c->sysfs_dev_block);
    free(c->root);
    free(c->node_name);
    free(c->paths);
    free(c->set);
    tw_arena_free(c->scratch);
    tw_cgroup_pods_unref(c->pods);
    pthread_mutex_destroy(&c->pods_lock);
    free(c);
}

size_t tw_cgroup_collector_errors(const tw_cgroup_collector_t *c, const char **first)
{
    if (first != NULL) {
        *first = c->errors > 0 ? c->first_error : NULL;
    }
    return c->errors;
}

size_t tw_cgroup_collector_containers(const tw_cgroup_collector_t *c)
{
    return c->containers;
}

void tw_cgroup_collector_set_pods(tw_cgroup_collector_t *c, tw_cgroup_pods_t *pods)
{
    tw_cgroup_pods_ref(pods);
    pthread_mutex_lock(&c->pods_lock);
    tw_cgroup_pods_t *old = c->pods;
    c->pods = pods;
    pthread_mutex_unlock(&c->pods_lock);
    tw_cgroup_pods_unref(old);
}

static void note_error(tw_cgroup_collector_t *c, const char *rel, const char *file, int code,
                       const char *what)
{
    if (c->errors++ == 0) {
        snprintf(c->first_error, sizeof(c->first_error), "%s/%s: %s", strcmp(rel, "/") ? rel : "",
                 file, code != 0 ? tw_strerror(code) : what);
    }
}

/* ---- Walk ---- */

static path_ent_t *path_find(tw_cgroup_collector_t *c, const tw_cg_node_t *n, size_t *slot)
{
    if (c->set_cap == 0) {
        *slot = 0;
        return NULL;
    }
    size_t s = n->hash & (c->set_cap - 1);
    while (c->set[s] != 0) {
        path_ent_t *p = &c->paths[c->set[s] - 1];
        if (p->hash == n->hash && p->len == n->rel_len && memcmp(p->rel, n->rel, n->rel_len) == 0) {
            return p;
        }
        s = (s + 1) & (c->set_cap - 1);
    }
    *slot = s;
    return NULL;
}

static path_ent_t *path_insert(tw_cgroup_collector_t *c, const tw_cg_node_t *n)
{
    if ((c->npaths + 1) * 2 > c->set_cap) {
        size_t ncap = c->set_cap == 0 ? 1024 : c->set_cap * 2;
        free(c->set);
        c->set = tw_xcalloc(ncap, sizeof(*c->set));
        c->set_cap = ncap;
        for (size_t i = 0; i < c->npaths; i++) {
            size_t s = c->paths[i].hash & (ncap - 1);
            while (c->set[s] != 0) {
                s = (s + 1) & (ncap - 1);
            }
            c->set[s] = i + 1;
        }
    }
    size_t slot = 0;
    path_find(c, n, &slot);
    tw_grow((void **)&c->paths, &c->paths_cap, c->npaths + 1, sizeof(*c->paths));
    path_ent_t *p = &c->paths[c->npaths];
    memset(p, 0, sizeof(*p));
    p->rel = n->rel;
    p->len = n->rel_len;
    p->hash = n->hash;
    c->set[slot] = ++c->npaths;
    return p;
}

typedef struct walk_ctx {
    tw_cgroup_collector_t *c;
    int h;
    bool add; /* a hierarchy we report from (else only probed for the paths found elsewhere) */
} walk_ctx_t;

/* Tree visitor: joins node to its path, adding the path when h is reported from and the limit
 * allows. Returns whether to walk below it: the paths below a path that is not reported are
 * not either (paths are added in pre-order, parents first). */
static bool walk_visit(void *ctx, tw_cg_node_t *n)
{
    walk_ctx_t *w = ctx;
    tw_cgroup_collector_t *c = w->c;
    size_t slot = 0;
    path_ent_t *p = path_find(c, n, &slot);
    if (p == NULL) {
        if (!w->add || c->limit_hit) {
            return false;
        }
        if (c->npaths >= c->max_cgroups) {
            c->limit_hit = true;
            return false;
        }
        p = path_insert(c, n);
    }
    p->node[w->h] = n;
    return true;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(((const path_ent_t *)a)->rel, ((const path_ent_t *)b)->rel);
}

/* ---- Reading one container ---- */

typedef struct cstats {
    bool cpu, cfs, cpu_spec;
    uint64_t usage_ns, user_ns, system_ns;
    uint64_t periods, throttled, throttled_ns;
    uint64_t shares, period_us, quota_us;

    bool mem, max_usage_ok;
    uint64_t usage, max_usage, failcnt, limit, cache, rss, swap, inactive_file, oom;

    bool io;
    tw_cg_io_t iostat;

    bool threads_ok, procs_ok;
    uint64_t threads, procs;

    bool psi_ok[3];
    tw_cg_psi_t psi[3];
} cstats_t;

typedef struct rd {
    tw_cgroup_collector_t *c;
    const char *rel;
    bool missing;                /* a required file was missing: maybe the cgroup vanished */
    tw_cg_node_t *node[H_COUNT]; /* NULL: not in that hierarchy (or gone since the walk) */
    tw_cg_tree_t *tree[H_COUNT];
    char buf[READ_BUF];
} rd_t;

/* The cgroup's directory in h vanished since the walk: read nothing more from it (nor from the
 * hierarchies that are the same directory). */
static void rd_gone(rd_t *r, int h)
{
    tw_cg_node_t *n = r->node[h];
    for (int k = 0; k < H_COUNT; k++) {
        if (r->node[k] == n) {
            r->node[k] = NULL;
        }
    }
}

/* Reads file from hierarchy h. Returns the length, or -1 (missing/failed; counted when
 * required). A file missing because its directory went away since the walk is not counted:
 * the hierarchy is dropped for this cgroup, as if the walk had not seen it. */
static ssize_t rd_file(rd_t *r, int h, unsigned file, bool required)
{
    if (r->node[h] == NULL) {
        return -1;
    }
    const char *name = tw_cg_file_names[file];
    ssize_t n = tw_cg_tree_read(r->tree[h], r->node[h], file, r->buf, sizeof(r->buf), NULL);
    if (n >= 0) {
        return n;
    }
    if (n == -ENOENT || n == -ENOTDIR) {
        if (tw_cg_tree_gone(r->tree[h], r->node[h])) {
            rd_gone(r, h);
            return -1;
        }
        if (required) {
            r->missing = true;
            note_error(r->c, r->rel, name, -ENOENT, NULL);
        }
        return -1;
    }
    note_error(r->c, r->rel, name, (int)n, NULL);
    return -1;
}

static bool rd_u64(rd_t *r, int h, unsigned file, bool required, bool allow_max, uint64_t *v)
{
    ssize_t n = rd_file(r, h, file, required);
    if (n < 0) {
        return false;
    }
    if (tw_cg_parse_u64(r->buf, (size_t)n, allow_max, v) != 0) {
        note_error(r->c, r->rel, tw_cg_file_names[file], 0, "not a number");
        return false;
    }
    return true;
}

/* Reads a keyed file into vals; *found gets the mask of keys seen. Returns false when the file
 * could not be read or parsed (counted when it matters). */
static bool rd_keyed(rd_t *r, int h, unsigned file, bool required, const char *const *keys,
                     size_t nkeys, uint64_t *vals, uint32_t *found)
{
    *found = 0;
    ssize_t n = rd_file(r, h, file, required);
    if (n < 0) {
        return false;
    }
    if (tw_cg_parse_keyed(r->buf, (size_t)n, keys, nkeys, vals, found) != 0) {
        note_error(r->c, r->rel, tw_cg_file_names[file], 0, "malformed line");
        *found = 0;
        return false;
    }
    return true;
}

/* Counts a required key set as an error when it is incomplete. */
static bool need_keys(rd_t *r, const char *name, uint32_t found, uint32_t want)
{
    if ((found & want) != want) {
        note_error(r->c, r->rel, name, 0, "expected keys missing (truncated file?)");
        return false;
    }
    return true;
}

/* Counts the lines of cgroup.procs (which may be larger than the buffer). Returns 1 when
 * counted, 0 when it failed (counted), -1 when the directory vanished since the walk. */
static int count_procs(rd_t *r, int h, uint64_t *out)
{
    ssize_t n =
        tw_cg_tree_read(r->tree[h], r->node[h], TW_CG_FILE_PROCS, r->buf, sizeof(r->buf), out);
    if (n >= 0) {
        return 1;
    }
    if (n == -ENOENT || n == -ENOTDIR) {
        if (tw_cg_tree_gone(r->tree[h], r->node[h])) {
            rd_gone(r, h);
            return -1;
        }
        r->missing = true;
    }
    note_error(r->c, r->rel, "cgroup.procs", (int)n, NULL);
    return 0;
}

static void read_cpu(rd_t *r, cstats_t *s, bool is_root, unsigned v2ctrls)
{
    tw_cgroup_collector_t *c = r->c;
    if (c->src_cpu == SRC_V1) {
        uint64_t v;
        if (rd_u64(r, H_CPUACCT, TW_CG_FILE_CPUACCT_USAGE, true, false, &v)) {
            s->cpu = true;
            s->usage_ns = v;
            static const char *const k[] = {"user", "system"};
            uint64_t vals[2] = {0, 0};
            /* cpuacct.stat is in USER_HZ ticks, 100 a second on every Linux ABI. */
            uint32_t f;
            if (rd_keyed(r, H_CPUACCT, TW_CG_FILE_CPUACCT_STAT, true, k, 2, vals, &f) &&
                need_keys(r, "cpuacct.stat", f, 3)) {
                s->user_ns = vals[0] * 10000000ull;
                s->system_ns = vals[1] * 10000000ull;
            }
        }
        if (r->node[H_CPU] != NULL) {
            if (rd_u64(r, H_CPU, TW_CG_FILE_CPU_SHARES, true, false, &s->shares)) {
                s->cpu_spec = true;
                rd_u64(r, H_CPU, TW_CG_FILE_CFS_PERIOD, false, false, &s->period_us);
                ssize_t n = rd_file(r, H_CPU, TW_CG_FILE_CFS_QUOTA, false);
                int64_t q;
                if (n >= 0) {
                    if (tw_cg_parse_i64(r->buf, (size_t)n, &q) != 0) {
                        note_error(c, r->rel, "cpu.cfs_quota_us", 0, "not a number");
                    } else if (q > 0) {
                        s->quota_us = (uint64_t)q;
                    }
                }
            }
            static const char *const k[] = {"nr_periods", "nr_throttled", "throttled_time"};
            uint64_t vals[3] = {0, 0, 0};
            uint32_t f;
            if (rd_keyed(r, H_CPU, TW_CG_FILE_CPU_STAT, false, k, 3, vals, &f) && f == 7) {
                s->cfs = true;
                s->periods = vals[0];
                s->throttled = vals[1];
                s->throttled_ns = vals[2];
            }
        }
    } else if (c->src_cpu == SRC_V2) {
        static const char *const k[] = {"usage_usec", "user_usec",    "system_usec",
                                        "nr_periods", "nr_throttled", "throttled_usec"};
        uint64_t vals[6] = {0};
        uint32_t f;
        if (rd_keyed(r, H_V2, TW_CG_FILE_CPU_STAT, true, k, 6, vals, &f) &&
            need_keys(r, "cpu.stat", f, 7)) {
            s->cpu = true;
            s->usage_ns = vals[0] * 1000;
            s->user_ns = vals[1] * 1000;
            s->system_ns = vals[2] * 1000;
        }
        if ((f & 0x38) == 0x38) {
            s->cfs = true;
            s->periods = vals[3];
            s->throttled = vals[4];
            s->throttled_ns = vals[5] * 1000;
        }
        if (!is_root && (v2ctrls & TW_CG_CTRL_CPU)) {
            ssize_t n = rd_file(r, H_V2, TW_CG_FILE_CPU_MAX, true);
            bool max_ok = n >= 0;
            if (max_ok &&
                tw_cg_parse_cpu_max(r->buf, (size_t)n, &s->quota_us, &s->period_us) != 0) {
                note_error(c, r->rel, "cpu.max", 0, "expected \"max|QUOTA PERIOD\"");
                max_ok = false;
            }
            uint64_t w;
            bool weight_ok = rd_u64(r, H_V2, TW_CG_FILE_CPU_WEIGHT, true, false, &w);
            if (weight_ok) {
                s->shares = tw_cg_weight_to_shares(w);
            }
            s->cpu_spec = max_ok && weight_ok;
            if (!max_ok) {
                s->quota_us = 0;
            }
        }
    }
}

static void read_memory(rd_t *r, cstats_t *s, bool is_root, unsigned v2ctrls)
{
    tw_cgroup_collector_t *c = r->c;
    if (c->src_mem == SRC_V1) {
        if (!rd_u64(r, H_MEMORY, TW_CG_FILE_MEM_USAGE, true, false, &s->usage)) {
            return;
        }
        s->mem = true;
        s->max_usage_ok = rd_u64(r, H_MEMORY, TW_CG_FILE_MEM_MAX_USAGE, true, false, &s->max_usage);
        rd_u64(r, H_MEMORY, TW_CG_FILE_MEM_FAILCNT, true, false, &s->failcnt);
        rd_u64(r, H_MEMORY, TW_CG_FILE_MEM_LIMIT, true, false, &s->limit);
        static const char *const k[] = {
            "total_cache", "total_rss", "total_swap", "total_inactive_file",
            "cache",       "rss",       "swap",       "inactive_file"};
        uint64_t v[8] = {0};
        uint32_t f;
        rd_keyed(r, H_MEMORY, TW_CG_FILE_MEM_STAT, true, k, 8, v, &f);
        /* cAdvisor reads the hierarchical total_* counters; old kernels without them: own. */
        s->cache = (f & 1) ? v[0] : v[4];
        s->rss = (f & 2) ? v[1] : v[5];
        s->swap = (f & 4) ? v[2] : v[6];
        s->inactive_file = (f & 8) ? v[3] : v[7];
        static const char *const ko[] = {"oom_kill"};
        uint64_t oom = 0;
        uint32_t fo;
        if (rd_keyed(r, H_MEMORY, TW_CG_FILE_MEM_OOM_CONTROL, false, ko, 1, &oom, &fo) && fo == 1) {
            s->oom = oom;
        }
    } else if (c->src_mem == SRC_V2) {
        if (is_root || !(v2ctrls & TW_CG_CTRL_MEMORY)) {
            return; /* the v2 root has no memory.current */
        }
        if (!rd_u64(r, H_V2, TW_CG_FILE_MEM_CURRENT, true, false, &s->usage)) {
            return;
        }
        s->mem = true;
        s->max_usage_ok = rd_u64(r, H_V2, TW_CG_FILE_MEM_PEAK, false, false, &s->max_usage);
        rd_u64(r, H_V2, TW_CG_FILE_MEM_MAX, true, true, &s->limit);
        rd_u64(r, H_V2, TW_CG_FILE_MEM_SWAP_CURRENT, false, false, &s->swap);
        static const char *const k[] = {"file", "anon", "inactive_file"};
        uint64_t v[3] = {0};
        uint32_t f;
        if (rd_keyed(r, H_V2, TW_CG_FILE_MEM_STAT, true, k, 3, v, &f)) {
            need_keys(r, "memory.stat", f, 3);
        }
        s->cache = v[0];
        s->rss = v[1];
        s->inactive_file = v[2];
        static const char *const ke[] = {"max", "oom_kill"};
        uint64_t e[2] = {0};
        if (rd_keyed(r, H_V2, TW_CG_FILE_MEM_EVENTS, true, ke, 2, e, &f)) {
            need_keys(r, "memory.events", f, 3);
        }
        s->failcnt = e[0];
        s->oom = e[1];
    }
}

static void read_io(rd_t *r, cstats_t *s, bool is_root, unsigned v2ctrls)
{
    tw_cgroup_collector_t *c = r->c;
    if (c->src_io == SRC_V1) {
        unsigned file = TW_CG_FILE_BLKIO_RECURSIVE;
        ssize_t n = rd_file(r, H_BLKIO, file, false);
        if (n < 0) {
            file = TW_CG_FILE_BLKIO;
            n = rd_file(r, H_BLKIO, file, false);
        }
        if (n >= 0) {
            if (tw_cg_parse_blkio(r->buf, (size_t)n, &s->iostat) != 0) {
                note_error(c, r->rel, tw_cg_file_names[file], 0, "malformed line");
            } else {
                s->io = true;
            }
        }
    } else if (c->src_io == SRC_V2 && (is_root || (v2ctrls & TW_CG_CTRL_IO))) {
        ssize_t n = rd_file(r, H_V2, TW_CG_FILE_IO_STAT, !is_root);
        if (n >= 0) {
            if (tw_cg_parse_io_stat(r->buf, (size_t)n, &s->iostat) != 0) {
                note_error(c, r->rel, "io.stat", 0, "malformed line");
            } else {
                s->io = true;
            }
        }
    }
}

static void read_pids(rd_t *r, cstats_t *s, bool is_root, unsigned v2ctrls)
{
    tw_cgroup_collector_t *c = r->c;
    int h = -1;
    if (c->src_pids == SRC_V1 && r->node[H_PIDS] != NULL) {
        h = H_PIDS;
        if (!is_root) {
            s->threads_ok = rd_u64(r, H_PIDS, TW_CG_FILE_PIDS_CURRENT, true, false, &s->threads);
        }
    } else if (c->src_pids == SRC_V2 && r->node[H_V2] != NULL) {
        h = H_V2;
        if (!is_root && (v2ctrls & TW_CG_CTRL_PIDS)) {
            s->threads_ok = rd_u64(r, H_V2, TW_CG_FILE_PIDS_CURRENT, true, false, &s->threads);
        }
    }
    for (;;) {
        if (h < 0 || r->node[h] == NULL) {
            /* No pids controller (or its directory vanished): count processes in whichever
             * hierarchy has this cgroup. */
            static const int order[] = {H_CPU, H_CPUACCT, H_MEMORY, H_BLKIO, H_V2};
            h = -1;
            for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
                if (r->node[order[i]] != NULL) {
                    h = order[i];
                    break;
                }
            }
        }
        if (h < 0) {
            return;
        }
        int rc = count_procs(r, h, &s->procs);
        if (rc >= 0) {
            s->procs_ok = rc == 1;
            return;
        }
    }
}

static void read_psi(rd_t *r, cstats_t *s)
{
    static const unsigned files[3] = {TW_CG_FILE_CPU_PRESSURE, TW_CG_FILE_MEM_PRESSURE,
                                      TW_CG_FILE_IO_PRESSURE};
    for (int i = 0; i < 3; i++) {
        ssize_t n = rd_file(r, H_V2, files[i], false);
        if (n < 0) {
            continue;
        }
        if (tw_cg_parse_psi(r->buf, (size_t)n, &s->psi[i]) != 0) {
            note_error(r->c, r->rel, tw_cg_file_names[files[i]], 0, "no some/full total");
            continue;
        }
        s->psi_ok[i] = true;
    }
}

/* ---- Emitting ---- */

static tw_mfamily_t *fam(tw_cgroup_collector_t *c, tw_mset_t *out, int f)
{
    if (c->fam[f] == NULL) {
        c->fam[f] = tw_mset_family(out, families[f].name, families[f].type, families[f].help,
                                   families[f].unit);
    }
    return c->fam[f];
}

static void emit(tw_cgroup_collector_t *c, tw_mset_t *out, int f, const tw_label_t *l, size_t n,
                 double v)
{
    tw_mset_add_borrowed(out, fam(c, out, f), NULL, l, n, v, TW_NO_TIMESTAMP);
}

static const char *device_name(tw_cgroup_collector_t *c, unsigned maj, unsigned min)
{
    for (size_t i = 0; i < c->ndevs; i++) {
        if (c->devs[i].major == maj && c->devs[i].minor == min) {
            return c->devs[i].name;
        }
    }
    char name[320];
    snprintf(name, sizeof(name), "%u:%u", maj, min);
    if (c->sysfs_dev_block != NULL) {
        char path[4200];
        char buf[1024];
        snprintf(path, sizeof(path), "%s/%u:%u/uevent", c->sysfs_dev_block, maj, min);
        ssize_t n = read_path(path, buf, sizeof(buf));
        const char *dn = n > 0 ? strstr(buf, "DEVNAME=") : NULL;
        if (dn != NULL) {
            dn += 8;
            size_t l = strcspn(dn, "\n");
            snprintf(name, sizeof(name), "/dev/%.*s", (int)(l < 200 ? l : 200), dn);
        }
    }
    tw_grow((void **)&c->devs, &c->devs_cap, c->ndevs + 1, sizeof(*c->devs));
    c->devs[c->ndevs] = (devname_t){maj, min, tw_xstrdup(name)};
    return c->devs[c->ndevs++].name;
}

/* Label arrays are sorted by name: container, [cpu|device], id, image, name, namespace, pod. */
static tw_label_t *labels_with(tw_arena_t *a, const tw_label_t *base, const char *extra_name,
                               const char *extra_value)
{
    tw_label_t *l = tw_arena_alloc(a, 7 * sizeof(*l));
    l[0] = base[0];
    l[1] = (tw_label_t){extra_name, extra_value};
    memcpy(&l[2], &base[1], 5 * sizeof(*l));
    return l;
}

static void emit_container(tw_cgroup_collector_t *c, tw_mset_t *out, const char *rel,
                           const cstats_t *s, const tw_cgroup_pods_t *pods, int64_t now_ms)
{
    tw_arena_t *a = tw_mset_arena(out);
    tw_cg_identity_t id;
    tw_cg_identity_parse(rel, &id);
    tw_cg_pod_ref_t ref;
    bool in_pod = false;
    if (id.pod_uid[0] != '\0') {
        in_pod = tw_cg_pods_lookup(pods, id.pod_uid, id.container_id, &ref);
    }
    const char *name = "";
    if (in_pod && ref.container != NULL) {
        name = ref.container;
    } else if (id.kind == TW_CG_KIND_DOCKER) {
        name = tw_arena_strndup(a, id.container_id, 12);
    } else if (id.kind == TW_CG_KIND_CONTAINERD || id.kind == TW_CG_KIND_CRIO) {
        name = id.container_id;
    }
    tw_label_t *base = tw_arena_alloc(a, 6 * sizeof(*base));
    base[0] = (tw_label_t){
        "container", in_pod && ref.container != NULL ? tw_arena_strdup(a, ref.container) : ""};
    base[1] = (tw_label_t){"id", tw_arena_strdup(a, rel)};
    base[2] =
        (tw_label_t){"image", in_pod && ref.image != NULL ? tw_arena_strdup(a, ref.image) : ""};
    base[3] = (tw_label_t){"name", name[0] != '\0' ? tw_arena_strdup(a, name) : ""};
    base[4] = (tw_label_t){"namespace", in_pod ? tw_arena_strdup(a, ref.namespace_) : ""};
    base[5] = (tw_label_t){"pod", in_pod ? tw_arena_strdup(a, ref.name) : ""};

    if (s->cpu) {
        if (s->usage_ns > 0) {
            emit(c, out, F_CPU_USAGE, labels_with(a, base, "cpu", "total"), 7,
                 (double)s->usage_ns / 1e9);
        }
        emit(c, out, F_CPU_USER, base, 6, (double)s->user_ns / 1e9);
        emit(c, out, F_CPU_SYSTEM, base, 6, (double)s->system_ns / 1e9);
    }
    if (s->cfs && s->quota_us != 0) {
        emit(c, out, F_CFS_PERIODS, base, 6, (double)s->periods);
        emit(c, out, F_CFS_THROTTLED_PERIODS, base, 6, (double)s->throttled);
        emit(c, out, F_CFS_THROTTLED_SECONDS, base, 6, (double)s->throttled_ns / 1e9);
    }
    if (s->mem) {
        uint64_t ws = s->usage > s->inactive_file ? s->usage - s->inactive_file : 0;
        emit(c, out, F_MEM_USAGE, base, 6, (double)s->usage);
        emit(c, out, F_MEM_WORKING_SET, base, 6, (double)ws);
        emit(c, out, F_MEM_RSS, base, 6, (double)s->rss);
        emit(c, out, F_MEM_CACHE, base, 6, (double)s->cache);
        emit(c, out, F_MEM_SWAP, base, 6, (double)s->swap);
        emit(c, out, F_MEM_FAILCNT, base, 6, (double)s->failcnt);
        if (s->max_usage_ok) {
            emit(c, out, F_MEM_MAX_USAGE, base, 6, (double)s->max_usage);
        }
        emit(c, out, F_OOM, base, 6, (double)s->oom);
        /* Like cAdvisor: "unlimited" (anything past 2^62, or v2's max) is 0. */
        emit(c, out, F_SPEC_MEM_LIMIT, base, 6, s->limit > (1ull << 62) ? 0.0 : (double)s->limit);
    }
    if (s->cpu_spec) {
        if (s->quota_us != 0) {
            emit(c, out, F_SPEC_CPU_QUOTA, base, 6, (double)s->quota_us);
        }
        emit(c, out, F_SPEC_CPU_PERIOD, base, 6, (double)s->period_us);
        emit(c, out, F_SPEC_CPU_SHARES, base, 6, (double)s->shares);
    }
    if (s->io) {
        for (size_t i = 0; i < s->iostat.n; i++) {
            const char *dev =
                tw_arena_strdup(a, device_name(c, s->iostat.dev[i].major, s->iostat.dev[i].minor));
            tw_label_t *l = labels_with(a, base, "device", dev);
            emit(c, out, F_FS_READS, l, 7, (double)s->iostat.dev[i].read_bytes);
            emit(c, out, F_FS_WRITES, l, 7, (double)s->iostat.dev[i].write_bytes);
        }
    }
    if (s->procs_ok) {
        emit(c, out, F_PROCESSES, base, 6, (double)s->procs);
    }
    if (s->threads_ok) {
        emit(c, out, F_THREADS, base, 6, (double)s->threads);
    }
    static const int waiting[3] = {F_PSI_CPU_WAITING, F_PSI_MEM_WAITING, F_PSI_IO_WAITING};
    static const int stalled[3] = {F_PSI_CPU_STALLED, F_PSI_MEM_STALLED, F_PSI_IO_STALLED};
    for (int i = 0; i < 3; i++) {
        if (!s->psi_ok[i]) {
            continue;
        }
        if (s->psi[i].has_some) {
            emit(c, out, waiting[i], base, 6, (double)s->psi[i].some_total_us / 1e6);
        }
        if (s->psi[i].has_full) {
            emit(c, out, stalled[i], base, 6, (double)s->psi[i].full_total_us / 1e6);
        }
    }
    emit(c, out, F_LAST_SEEN, base, 6, (double)(now_ms / 1000));
}

/* Reads and emits one cgroup; returns false when it vanished. */
static bool collect_one(tw_cgroup_collector_t *c, tw_mset_t *out, const path_ent_t *p, rd_t *r,
                        const tw_cgroup_pods_t *pods, int64_t now_ms)
{
    const char *rel = p->rel;
    bool is_root = p->len == 1;
    int present = 0;
    for (int h = 0; h < H_COUNT; h++) {
        r->node[h] = p->node[h];
        r->tree[h] = c->tree[c->primary[h]];
        if (r->node[h] != NULL && c->after_walk != NULL &&
            tw_cg_tree_gone(r->tree[h], r->node[h])) {
            /* Tests remove directories after the walk; a kept descriptor on their tmpfs would
             * still read the removed files, where cgroupfs answers ENODEV. */
            r->node[h] = NULL;
        }
        present += r->node[h] != NULL;
    }
    if (present == 0) {
        return false; /* gone from every hierarchy since the walk */
    }
    r->rel = rel;
    r->missing = false;
    size_t errors_before = c->errors;
    char first_before[sizeof(c->first_error)];
    memcpy(first_before, c->first_error, sizeof(first_before));

    unsigned v2ctrls = 0;
    if (r->node[H_V2] != NULL && c->pure_v2 && !is_root) {
        ssize_t n = tw_cg_tree_read(r->tree[H_V2], r->node[H_V2], TW_CG_FILE_CONTROLLERS, r->buf,
                                    sizeof(r->buf), NULL);
        if (n >= 0) {
            v2ctrls = tw_cg_parse_controllers(r->buf, (size_t)n);
        }
    } else if (r->node[H_V2] != NULL) {
        v2ctrls = c->v2_ctrls; /* hybrid: what the unified root offers */
    }
    cstats_t s;
    memset(&s, 0, sizeof(s));
    read_cpu(r, &s, is_root, v2ctrls);
    read_memory(r, &s, is_root, v2ctrls);
    read_io(r, &s, is_root, v2ctrls);
    read_pids(r, &s, is_root, v2ctrls);
    read_psi(r, &s);

    bool vanished = true;
    for (int h = 0; h < H_COUNT && vanished; h++) {
        vanished = r->node[h] == NULL;
    }
    if (!vanished && r->missing) {
        /* A required file was missing: did the directory go away under us? */
        vanished = true;
        for (int h = 0; h < H_COUNT && vanished; h++) {
            if (r->node[h] != NULL) {
                vanished = tw_cg_tree_gone(r->tree[h], r->node[h]);
            }
        }
    }
    if (vanished) {
        c->errors = errors_before; /* not a fault: the container stopped */
        memcpy(c->first_error, first_before, sizeof(first_before));
        return false;
    }
    emit_container(c, out, rel, &s, pods, now_ms);
    return true;
}

static bool hier_used(const tw_cgroup_collector_t *c, int h)
{
    return (h == H_V2 && (c->src_cpu == SRC_V2 || c->src_mem == SRC_V2 || c->src_io == SRC_V2 ||
                          c->src_pids == SRC_V2)) ||
           ((h == H_CPU || h == H_CPUACCT) && c->src_cpu == SRC_V1) ||
           (h == H_MEMORY && c->src_mem == SRC_V1) || (h == H_BLKIO && c->src_io == SRC_V1) ||
           (h == H_PIDS && c->src_pids == SRC_V1);
}

int tw_cgroup_collector_collect(tw_cgroup_collector_t *c, tw_mset_t *out, int64_t now_ms,
                                tw_error_t *err)
{
    c->errors = 0;
    c->first_error[0] = '\0';
    c->containers = 0;
    c->npaths = 0;
    c->limit_hit = false;
    if (c->set != NULL) {
        memset(c->set, 0, c->set_cap * sizeof(*c->set));
    }
    tw_arena_reset(c->scratch);
    memset(c->fam, 0, sizeof(c->fam));

    /*
     * Walk each distinct hierarchy (a directory reached through two names, like cpu and
     * cpuacct on one mount, is walked once): first those we report from, whose directories
     * make the paths, then the others (the unified tree in hybrid mode, for PSI and process
     * counts), which only join the paths found already.
     */
    static const int walk_order[] = {H_V2, H_CPUACCT, H_CPU, H_MEMORY, H_BLKIO, H_PIDS};
    uint64_t seen_dev[H_COUNT], seen_ino[H_COUNT];
    int seen_h[H_COUNT];
    int nseen = 0, walked = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof(walk_order) / sizeof(walk_order[0]); i++) {
            int h = walk_order[i];
            bool used = hier_used(c, h);
            if (c->tree[h] == NULL || used != (pass == 0)) {
                continue;
            }
            c->primary[h] = h;
            struct stat st;
            if (stat(c->hier[h], &st) != 0) {
                if (used) {
                    note_error(c, "/", c->hier[h], -errno, NULL);
                }
                continue;
            }
            int dup = -1;
            for (int k = 0; k < nseen && dup < 0; k++) {
                if (seen_dev[k] == (uint64_t)st.st_dev && seen_ino[k] == (uint64_t)st.st_ino) {
                    dup = seen_h[k];
                }
            }
            if (dup >= 0) {
                c->primary[h] = dup;
                continue;
            }
            walk_ctx_t w = {c, h, used};
            uint64_t dev, ino;
            int rc = tw_cg_tree_walk(c->tree[h], c->max_depth, walk_visit, &w, &dev, &ino);
            if (rc != 0) {
                if (used) {
                    note_error(c, "/", c->hier[h], rc, NULL);
                }
                continue;
            }
            seen_dev[nseen] = dev;
            seen_ino[nseen] = ino;
            seen_h[nseen++] = h;
            walked += used;
        }
    }
    if (walked == 0) {
        return tw_error_set(err, TW_EIO, "cgroup collector: cannot read any hierarchy under %s",
                            c->root);
    }
    if (c->limit_hit) {
        note_error(c, "/", "", 0, "max_cgroups reached; the rest is not reported");
    }
    for (int h = 0; h < H_COUNT; h++) {
        if (c->primary[h] != h) {
            for (size_t i = 0; i < c->npaths; i++) {
                c->paths[i].node[h] = c->paths[i].node[c->primary[h]];
            }
        }
    }
    qsort(c->paths, c->npaths, sizeof(*c->paths), cmp_path);
    if (c->after_walk != NULL) {
        c->after_walk(c->after_walk_ctx);
    }

    pthread_mutex_lock(&c->pods_lock);
    tw_cgroup_pods_t *pods = c->pods;
    tw_cgroup_pods_ref(pods);
    pthread_mutex_unlock(&c->pods_lock);

    rd_t *r = tw_arena_alloc(c->scratch, sizeof(*r));
    r->c = c;
    for (size_t i = 0; i < c->npaths; i++) {
        if (collect_one(c, out, &c->paths[i], r, pods, now_ms)) {
            c->containers++;
        }
    }
    tw_cg_pods_write_ksm(pods, c->node_name, out);
    tw_cgroup_pods_unref(pods);
    return 0;
}

size_t tw_cgroup_collector_open_files(const tw_cgroup_collector_t *c)
{
    return c->fds.kept;
}

int tw_cgroup_nofile_raise(uint64_t want, uint64_t *soft_out, tw_error_t *err)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        int e = errno;
        return tw_error_set(err, -e, "getrlimit(RLIMIT_NOFILE): %s", strerror(e));
    }
    rlim_t target = want == 0 ? rl.rlim_max : (rlim_t)want;
    if (target == RLIM_INFINITY || target > (rlim_t)1 << 20) {
        target = (rlim_t)1 << 20; /* keep the descriptor table a sane size */
    }
    if (target > rl.rlim_cur) {
        struct rlimit up = {target, rl.rlim_max};
        if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max) {
            up.rlim_max = target; /* needs CAP_SYS_RESOURCE */
            if (setrlimit(RLIMIT_NOFILE, &up) != 0) {
                up.rlim_cur = up.rlim_max = rl.rlim_max; /* unprivileged: up to the hard limit */
            }
        }
        if (up.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &up) != 0) {
            int e = errno;
            return tw_error_set(err, -e, "setrlimit(RLIMIT_NOFILE, %llu): %s",
                                (unsigned long long)up.rlim_cur, strerror(e));
        }
        if (up.rlim_cur > rl.rlim_cur) {
            rl.rlim_cur = up.rlim_cur;
        }
    }
    if (soft_out != NULL) {
        *soft_out = (uint64_t)rl.rlim_cur;
    }
    return 0;
}
