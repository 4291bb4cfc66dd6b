/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procfs_collector.c - the host collector: reads /proc files under proc_root into one reused
 * buffer, hands each to its pure parser, counts the files that failed, and measures filesystems
 * with statfs(2) in a helper thread under a deadline.
 *
 * Thread model: one thread calls collect (and free). The statfs helpers are detached threads
 * that share only a refcounted fs_worker_t with the collector, so a helper stuck in a dead NFS
 * mount outlives the collector safely and frees its state when statfs finally returns.
 */
#define _GNU_SOURCE
#include "procfs_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "common/buf.h"
#include "common/mem.h"

/* Largest /proc file we read (a /proc/stat of a few thousand CPUs stays far below). */
#define PROCFS_FILE_MAX (16u << 20)

/*
 * One statfs helper thread and its mailbox. refs counts the holders (the collector, through
 * c->worker or a stuck entry, and the thread); the last one to let go frees it.
 */
typedef struct fs_worker {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on every change below */
    int refs;
    bool quit;    /* the collector is done with this worker */
    bool has_job; /* path holds a request the thread has not answered */
    bool done;    /* the answer to the last request is in st/rc */
    char path[PATH_MAX];
    tw_procfs_statfs_fn fn;
    void *ctx;
    struct statfs st;
    int rc; /* 0 or -errno */
} fs_worker_t;

typedef struct stuck_mount {
    char *mountpoint; /* owned */
    fs_worker_t *w;   /* holds a reference; its statfs has not returned yet */
} stuck_mount_t;

struct tw_procfs_collector {
    char *proc_root;   /* owned */
    char *sys_root;    /* owned; nothing read from it yet */
    char *rootfs_root; /* owned, without trailing '/' except for "/" itself */
    int64_t timeout_ms;
    long clk_tck;

    tw_buf_t buf; /* every file is read into this one buffer */
    tw_procfs_stat_t stat;
    tw_procfs_cpu_t *cpu_cache; /* node_exporter's backwards-jump guard, indexed by CPU id */
    size_t cpu_cache_cap;
    tw_procfs_mount_t *mounts;
    size_t nmounts, mounts_cap;

    size_t nerrors;
    char first_error[512];

    tw_procfs_statfs_fn statfs_fn; /* NULL: statfs(2) */
    void *statfs_ctx;
    fs_worker_t *worker; /* an idle helper, or NULL */
    stuck_mount_t *stuck;
    size_t nstuck, stuck_cap;
};

/* ---- statfs helpers ---------------------------------------------------------------------- */

static void worker_unref_locked(fs_worker_t *w, bool *last)
{
    w->refs--;
    *last = w->refs == 0;
}

static void worker_destroy(fs_worker_t *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

/* The collector lets go of w: the thread exits as soon as it is not inside statfs. */
static void worker_release(fs_worker_t *w)
{
    if (w == NULL) {
        return;
    }
    bool last;
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_cond_broadcast(&w->cv);
    worker_unref_locked(w, &last);
    pthread_mutex_unlock(&w->mu);
    if (last) {
        worker_destroy(w);
    }
}

static void *worker_main(void *arg)
{
    fs_worker_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->has_job && !w->quit) {
            pthread_cond_wait(&w->cv, &w->mu);
        }
        if (w->quit) {
            break;
        }
        /* path, fn and ctx stay put while has_job is set: only this thread clears it. */
        tw_procfs_statfs_fn fn = w->fn;
        void *ctx = w->ctx;
        pthread_mutex_unlock(&w->mu);
        struct statfs st;
        memset(&st, 0, sizeof(st));
        int rc;
        if (fn != NULL) {
            rc = fn(w->path, &st, ctx);
        } else {
            rc = statfs(w->path, &st) == 0 ? 0 : -errno;
        }
        pthread_mutex_lock(&w->mu);
        w->st = st;
        w->rc = rc;
        w->done = true;
        w->has_job = false;
        pthread_cond_broadcast(&w->cv);
    }
    bool last;
    worker_unref_locked(w, &last);
    pthread_mutex_unlock(&w->mu);
    if (last) {
        worker_destroy(w);
    }
    return NULL;
}

static fs_worker_t *worker_start(void)
{
    fs_worker_t *w = tw_xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    w->refs = 2;

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* The helper must not take the daemon's signals: block them all while it is created. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        worker_destroy(w);
        return NULL;
    }
    return w;
}

/* Result of asking a helper. */
enum { ASK_DONE = 0, ASK_TIMEOUT = 1, ASK_NOTHREAD = 2 };

/*
 * Asks c's helper to statfs path and waits up to the timeout. On ASK_TIMEOUT the helper is left
 * in *stuck_out (the caller records it) and c->worker is cleared.
 */
static int ask_statfs(tw_procfs_collector_t *c, const char *path, struct statfs *st, int *rc,
                      fs_worker_t **stuck_out)
{
    if (c->worker == NULL) {
        c->worker = worker_start();
        if (c->worker == NULL) {
            return ASK_NOTHREAD;
        }
    }
    fs_worker_t *w = c->worker;
    struct timespec deadline = tw_mono_timespec(tw_mono_ns() + (int64_t)c->timeout_ms * 1000000);
    pthread_mutex_lock(&w->mu);
    tw_strlcpy(w->path, path, sizeof(w->path));
    w->fn = c->statfs_fn;
    w->ctx = c->statfs_ctx;
    w->done = false;
    w->has_job = true;
    pthread_cond_broadcast(&w->cv);
    while (!w->done) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) == ETIMEDOUT && !w->done) {
            break;
        }
    }
    if (!w->done) {
        pthread_mutex_unlock(&w->mu);
        *stuck_out = w;
        c->worker = NULL;
        return ASK_TIMEOUT;
    }
    *st = w->st;
    *rc = w->rc;
    w->done = false;
    pthread_mutex_unlock(&w->mu);
    return ASK_DONE;
}

/* Forgets stuck mounts whose statfs has returned since (node_exporter: "has recovered"). */
static void sweep_stuck(tw_procfs_collector_t *c)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->nstuck; i++) {
        fs_worker_t *w = c->stuck[i].w;
        pthread_mutex_lock(&w->mu);
        bool done = w->done;
        w->done = false;
        pthread_mutex_unlock(&w->mu);
        if (!done) {
            c->stuck[kept++] = c->stuck[i];
            continue;
        }
        free(c->stuck[i].mountpoint);
        if (c->worker == NULL) {
            c->worker = w; /* idle again: reuse it */
        } else {
            worker_release(w);
        }
    }
    c->nstuck = kept;
}

static bool is_stuck(const tw_procfs_collector_t *c, const char *mountpoint)
{
    for (size_t i = 0; i < c->nstuck; i++) {
        if (strcmp(c->stuck[i].mountpoint, mountpoint) == 0) {
            return true;
        }
    }
    return false;
}

void tw_procfs_collector_set_statfs(tw_procfs_collector_t *c, tw_procfs_statfs_fn fn, void *ctx)
{
    c->statfs_fn = fn;
    c->statfs_ctx = ctx;
}

size_t tw_procfs_collector_stuck_count(tw_procfs_collector_t *c)
{
    sweep_stuck(c);
    return c->nstuck;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static char *dup_root(const char *s, const char *def)
{
    if (s == NULL || s[0] == '\0') {
        s = def;
    }
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/') {
        n--;
    }
    return tw_xstrndup(s, n);
}

tw_procfs_collector_t *tw_procfs_collector_new(const tw_procfs_options_t *opts, tw_error_t *err)
{
    if (opts != NULL && opts->statfs_timeout_ms < 0) {
        tw_error_set(err, TW_EINVAL, "statfs_timeout_ms must not be negative, got %lld",
                     (long long)opts->statfs_timeout_ms);
        return NULL;
    }
    tw_procfs_collector_t *c = tw_xcalloc(1, sizeof(*c));
    c->proc_root = dup_root(opts != NULL ? opts->proc_root : NULL, "/proc");
    c->sys_root = dup_root(opts != NULL ? opts->sys_root : NULL, "/sys");
    c->rootfs_root = dup_root(opts != NULL ? opts->rootfs_root : NULL, "/");
    c->timeout_ms = opts != NULL && opts->statfs_timeout_ms > 0 ? opts->statfs_timeout_ms : 2000;
    long hz = sysconf(_SC_CLK_TCK);
    c->clk_tck = hz > 0 ? hz : 100;
    tw_buf_init(&c->buf, PROCFS_FILE_MAX);
    return c;
}

void tw_procfs_collector_free(tw_procfs_collector_t *c)
{
    if (c == NULL) {
        return;
    }
    worker_release(c->worker);
    for (size_t i = 0; i < c->nstuck; i++) {
        free(c->stuck[i].mountpoint);
        worker_release(c->stuck[i].w);
    }
    free(c->stuck);
    free(c->mounts);
    free(c->cpu_cache);
    tw_procfs_stat_fini(&c->stat);
    tw_buf_fini(&c->buf);
    free(c->proc_root);
    free(c->sys_root);
    free(c->rootfs_root);
    free(c);
}

size_t tw_procfs_collector_errors(const tw_procfs_collector_t *c, const char **first)
{
    if (first != NULL) {
        *first = c->nerrors > 0 ? c->first_error : NULL;
    }
    return c->nerrors;
}

/* ---- collection -------------------------------------------------------------------------- */

static void count_error(tw_procfs_collector_t *c, const char *path, const tw_error_t *e)
{
    if (c->nerrors++ == 0) {
        const char *msg = e != NULL && e->msg[0] != '\0' ? e->msg : tw_strerror(e ? e->code : 0);
        /* Read errors already name the path; parse errors name the line only. */
        int n;
        if (strncmp(msg, path, strlen(path)) == 0) {
            n = snprintf(c->first_error, sizeof(c->first_error), "%s", msg);
        } else {
            n = snprintf(c->first_error, sizeof(c->first_error), "%s: %s", path, msg);
        }
        if (n > 0 && (size_t)n >= sizeof(c->first_error)) {
            memcpy(c->first_error + sizeof(c->first_error) - 4, "...", 4);
        }
    }
}

/* Reads proc_root/rel into c->buf. 0, or a negative code with e filled. */
static int read_proc(tw_procfs_collector_t *c, const char *rel, char *path, size_t pathsz,
                     tw_error_t *e)
{
    int n = snprintf(path, pathsz, "%s/%s", c->proc_root, rel);
    if (n < 0 || (size_t)n >= pathsz) {
        return tw_error_set(e, TW_EINVAL, "%s/%s: path too long", c->proc_root, rel);
    }
    return tw_buf_read_file(&c->buf, path, e);
}

typedef int (*parse_fn)(const char *buf, size_t len, tw_mset_t *out, tw_error_t *err);

static void collect_simple(tw_procfs_collector_t *c, const char *rel, parse_fn parse,
                           tw_mset_t *out)
{
    char path[PATH_MAX];
    tw_error_t e;
    tw_error_clear(&e);
    int rc = read_proc(c, rel, path, sizeof(path), &e);
    if (rc == 0) {
        rc = parse(c->buf.data, c->buf.len, out, &e);
    }
    if (rc != 0) {
        count_error(c, path, &e);
    }
}

static void collect_stat(tw_procfs_collector_t *c, tw_mset_t *out)
{
    char path[PATH_MAX];
    tw_error_t e;
    tw_error_clear(&e);
    int rc = read_proc(c, "stat", path, sizeof(path), &e);
    if (rc == 0) {
        rc = tw_procfs_stat_parse(c->buf.data, c->buf.len, &c->stat, &e);
        tw_procfs_cpu_merge(&c->cpu_cache, &c->cpu_cache_cap, &c->stat, c->clk_tck);
        tw_procfs_stat_emit(&c->stat, c->clk_tck, out);
    }
    if (rc != 0) {
        count_error(c, path, &e);
    }
}

static void collect_pressure(tw_procfs_collector_t *c, tw_mset_t *out)
{
    static const char *const resources[3] = {"cpu", "io", "memory"};
    for (size_t i = 0; i < 3; i++) {
        char rel[32];
        snprintf(rel, sizeof(rel), "pressure/%s", resources[i]);
        char path[PATH_MAX];
        tw_error_t e;
        tw_error_clear(&e);
        int rc = read_proc(c, rel, path, sizeof(path), &e);
        if (rc == -ENOENT || rc == -EOPNOTSUPP) {
            return; /* kernel < 4.20, CONFIG_PSI off, or psi=0: node_exporter skips quietly */
        }
        if (rc == 0) {
            rc = tw_procfs_pressure_parse(c->buf.data, c->buf.len, resources[i], out, &e);
        }
        if (rc != 0) {
            count_error(c, path, &e);
        }
    }
}

static bool seen_before(const tw_procfs_mount_t *m, size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (strcmp(m[j].mountpoint, m[i].mountpoint) == 0 &&
            strcmp(m[j].device, m[i].device) == 0 && strcmp(m[j].fstype, m[i].fstype) == 0) {
            return true;
        }
    }
    return false;
}

static void collect_filesystems(tw_procfs_collector_t *c, tw_mset_t *out)
{
    char path[PATH_MAX];
    tw_error_t e;
    tw_error_clear(&e);
    /* node_exporter reads PID 1's mounts (the host's, from a pod with hostPID) and falls back
     * to /proc/mounts when hidepid hides PID 1. */
    int rc = read_proc(c, "1/mounts", path, sizeof(path), &e);
    if (rc == -ENOENT || rc == -EACCES) {
        tw_error_clear(&e);
        rc = read_proc(c, "mounts", path, sizeof(path), &e);
    }
    if (rc != 0) {
        count_error(c, path, &e);
        return;
    }
    tw_arena_t *arena = tw_mset_arena(out);
    rc = tw_procfs_mounts_parse(c->buf.data, c->buf.len, c->rootfs_root, arena, &c->mounts,
                                &c->nmounts, &c->mounts_cap, &e);
    if (rc != 0) {
        count_error(c, path, &e);
    }
    sweep_stuck(c);

    static const char *const names[7] = {
        "node_filesystem_device_error", "node_filesystem_size_bytes", "node_filesystem_free_bytes",
        "node_filesystem_avail_bytes",  "node_filesystem_files",      "node_filesystem_files_free",
        "node_filesystem_readonly",
    };
    static const char *const helps[7] = {
        "Whether an error occurred while getting statistics for the given device.",
        "Filesystem size in bytes.",
        "Filesystem free space in bytes.",
        "Filesystem space available to non-root users in bytes.",
        "Filesystem total file nodes.",
        "Filesystem total free file nodes.",
        "Filesystem read-only status.",
    };
    tw_mfamily_t *fams[7] = {NULL};
    bool root_prefix = strcmp(c->rootfs_root, "/") != 0;
    for (size_t i = 0; i < c->nmounts; i++) {
        const tw_procfs_mount_t *m = &c->mounts[i];
        if (tw_procfs_mountpoint_excluded(m->mountpoint) || tw_procfs_fstype_excluded(m->fstype) ||
            seen_before(c->mounts, i)) {
            continue;
        }
        if (fams[0] == NULL) {
            for (size_t k = 0; k < 7; k++) {
                fams[k] = tw_procfs_family(out, names[k], TW_MTYPE_GAUGE, helps[k]);
            }
        }
        /* Labels sorted by name, as client_golang prints them. */
        tw_label_t *l = tw_arena_alloc(arena, 3 * sizeof(*l));
        l[0].name = "device";
        l[0].value = m->device;
        l[1].name = "fstype";
        l[1].value = m->fstype;
        l[2].name = "mountpoint";
        l[2].value = m->mountpoint;

        bool error = true;
        struct statfs st;
        if (!is_stuck(c, m->mountpoint)) {
            char fpath[PATH_MAX];
            int n = snprintf(fpath, sizeof(fpath), "%s%s", root_prefix ? c->rootfs_root : "",
                             m->mountpoint);
            if (n > 0 && (size_t)n < sizeof(fpath)) {
                int src = 0;
                fs_worker_t *stuck = NULL;
                int r = ask_statfs(c, fpath, &st, &src, &stuck);
                if (r == ASK_DONE) {
                    error = src != 0;
                } else if (r == ASK_TIMEOUT) {
                    tw_grow((void **)&c->stuck, &c->stuck_cap, c->nstuck + 1, sizeof(*c->stuck));
                    c->stuck[c->nstuck].mountpoint = tw_xstrdup(m->mountpoint);
                    c->stuck[c->nstuck].w = stuck;
                    c->nstuck++;
                }
            }
        }
        tw_mset_add_borrowed(out, fams[0], NULL, l, 3, error ? 1 : 0, TW_NO_TIMESTAMP);
        if (error) {
            continue;
        }
        double bsize = (double)st.f_bsize;
        double v[6] = {
            (double)st.f_blocks * bsize, (double)st.f_bfree * bsize, (double)st.f_bavail * bsize,
            (double)st.f_files,          (double)st.f_ffree,         m->readonly ? 1 : 0,
        };
        for (size_t k = 0; k < 6; k++) {
            tw_mset_add_borrowed(out, fams[k + 1], NULL, l, 3, v[k], TW_NO_TIMESTAMP);
        }
    }
}

int tw_procfs_collector_collect(tw_procfs_collector_t *c, tw_mset_t *out, int64_t now_ms,
                                tw_error_t *err)
{
    (void)now_ms; /* node_exporter's samples carry no timestamp */
    if (c == NULL || out == NULL) {
        return tw_error_set(err, TW_EINVAL, "procfs collect: NULL collector or set");
    }
    c->nerrors = 0;
    c->first_error[0] = '\0';
    collect_stat(c, out);
    collect_simple(c, "meminfo", tw_procfs_meminfo_parse, out);
    collect_simple(c, "loadavg", tw_procfs_loadavg_parse, out);
    collect_pressure(c, out);
    collect_simple(c, "net/dev", tw_procfs_netdev_parse, out);
    collect_simple(c, "diskstats", tw_procfs_diskstats_parse, out);
    collect_filesystems(c, out);
    return 0;
}
