/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_wal.c - WAL segment files: writing batches, group-committed fsync, cutting segments and
 * listing a WAL directory (docs/formats/wal.md). The record coding is tsdb_record.c.
 *
 * Thread model: writers are serialized by the caller (the DB's commit mutex); w->mu guards the
 * sync bookkeeping, so commits wait for durability without holding the commit mutex.
 *
 * How group commit works: every write advances `written` (a byte sequence over the WAL's life).
 * A committer that needs position seq to be durable takes w->mu; if `synced >= seq` it is done;
 * if another thread is syncing, it waits for that sync to end and checks again; otherwise it
 * becomes the syncer: notes target = written, drops the lock, fdatasync()s, then publishes
 * synced = target and wakes everyone. N concurrent commits thus cost ~2 fsyncs, not N.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/mem.h"

struct tsdb_wal {
    char *dir;
    int fd;
    int seg;        /* current segment number */
    size_t seg_len; /* bytes in the current segment */
    size_t seg_max;
    tw_tsdb_fsync_policy_t policy;
    int64_t interval_ms;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cond;
    uint64_t written; /* bytes written over the WAL's life */
    uint64_t synced;
    bool syncing;
    bool stop;
    int sync_err; /* sticky: the first fdatasync error */
    pthread_t thread;
    bool has_thread;
    tsdb_wal_stats_t stats;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_segment(tsdb_wal_t *w, int seg, tw_error_t *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%08d", w->dir, seg);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return tw_error_set(err, -errno, "wal: cannot create segment %s: %s", path,
                            strerror(errno));
    }
    if (write(fd, TSDB_WAL_MAGIC, TSDB_WAL_MAGIC_LEN) != TSDB_WAL_MAGIC_LEN) {
        int e = errno != 0 ? errno : EIO;
        close(fd);
        return tw_error_set(err, -e, "wal: cannot write segment %s: %s", path, strerror(e));
    }
    /* Make the new file's directory entry durable, so later fsyncs of it mean something. */
    int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    w->fd = fd;
    w->seg = seg;
    w->seg_len = TSDB_WAL_MAGIC_LEN;
    w->stats.bytes += TSDB_WAL_MAGIC_LEN;
    return 0;
}

static void do_sync_locked(tsdb_wal_t *w)
{
    /* Called with mu held and syncing set by us; drops and retakes mu. */
    uint64_t target = w->written;
    int fd = w->fd;
    pthread_mutex_unlock(&w->mu);
    double t0 = now_s();
    int rc = fdatasync(fd);
    double dt = now_s() - t0;
    int e = errno;
    pthread_mutex_lock(&w->mu);
    w->stats.fsyncs++;
    w->stats.fsync_seconds += dt;
    if (rc != 0 && w->sync_err == 0) {
        w->sync_err = -e;
    }
    if (rc == 0 && target > w->synced) {
        w->synced = target;
    }
}

static void *interval_main(void *arg)
{
    tsdb_wal_t *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (w->interval_ms % 1000) * 1000000;
        ts.tv_sec += w->interval_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&w->cond, &w->mu, &ts);
        if (w->stop) {
            break;
        }
        if (!w->syncing && w->synced < w->written) {
            w->syncing = true;
            do_sync_locked(w);
            w->syncing = false;
            pthread_cond_broadcast(&w->cond);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int tsdb_wal_open(const char *dir, int first_seg, size_t seg_bytes, tw_tsdb_fsync_policy_t pol,
                  int64_t interval_ms, uint64_t existing_bytes, tsdb_wal_t **out, tw_error_t *err)
{
    tsdb_wal_t *w = tw_xcalloc(1, sizeof(*w));
    w->dir = tw_xstrdup(dir);
    w->fd = -1;
    w->seg_max = seg_bytes;
    w->policy = pol;
    w->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    w->stats.bytes = existing_bytes;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    int rc = open_segment(w, first_seg, err);
    if (rc != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cond);
        free(w->dir);
        free(w);
        return rc;
    }
    if (pol == TW_TSDB_FSYNC_INTERVAL) {
        if (pthread_create(&w->thread, NULL, interval_main, w) == 0) {
            w->has_thread = true;
        }
    }
    *out = w;
    return 0;
}

void tsdb_wal_close(tsdb_wal_t *w)
{
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    if (w->has_thread) {
        pthread_join(w->thread, NULL);
    }
    if (w->fd >= 0) {
        if (w->policy != TW_TSDB_FSYNC_NEVER) {
            (void)fdatasync(w->fd);
        }
        close(w->fd);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    free(w->dir);
    free(w);
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Cuts with mu held: waits for an in-flight sync (it uses the fd), syncs, closes, opens next. */
static int cut_locked(tsdb_wal_t *w, tw_error_t *err)
{
    while (w->syncing) {
        pthread_cond_wait(&w->cond, &w->mu);
    }
    if (w->policy != TW_TSDB_FSYNC_NEVER && fdatasync(w->fd) != 0) {
        return tw_error_set(err, -errno, "wal: fsync of segment %08d failed: %s", w->seg,
                            strerror(errno));
    }
    w->synced = w->written;
    close(w->fd);
    w->fd = -1;
    return open_segment(w, w->seg + 1, err);
}

int tsdb_wal_write(tsdb_wal_t *w, const void *p, size_t n, uint64_t *seq, tw_error_t *err)
{
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    if (w->fd < 0) {
        rc = tw_error_set(err, TW_EIO, "wal: no open segment in %s (an earlier error)", w->dir);
        goto out;
    }
    if (w->seg_len > TSDB_WAL_MAGIC_LEN && w->seg_len + n > w->seg_max) {
        if ((rc = cut_locked(w, err)) != 0) {
            goto out;
        }
    }
    /* The write itself happens under mu only so a concurrent syncer never sees a half-cut fd;
     * writes are serialized by the caller anyway. */
    rc = write_all(w->fd, p, n);
    if (rc != 0) {
        rc = tw_error_set(err, rc, "wal: write to %s/%08d failed: %s", w->dir, w->seg,
                          strerror(-rc));
        goto out;
    }
    w->seg_len += n;
    w->written += n;
    w->stats.bytes += n;
    *seq = w->written;
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int tsdb_wal_sync(tsdb_wal_t *w, uint64_t seq, tw_error_t *err)
{
    if (w->policy != TW_TSDB_FSYNC_ALWAYS) {
        return 0;
    }
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    while (w->synced < seq && w->sync_err == 0) {
        if (w->syncing) {
            pthread_cond_wait(&w->cond, &w->mu);
            continue;
        }
        w->syncing = true;
        do_sync_locked(w);
        w->syncing = false;
        pthread_cond_broadcast(&w->cond);
    }
    if (w->synced < seq) {
        rc = tw_error_set(err, w->sync_err, "wal: fsync of %s/%08d failed: %s", w->dir, w->seg,
                          tw_strerror(w->sync_err));
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int tsdb_wal_cut(tsdb_wal_t *w, int *closed, tw_error_t *err)
{
    pthread_mutex_lock(&w->mu);
    *closed = w->seg;
    int rc = cut_locked(w, err);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void tsdb_wal_stats_get(tsdb_wal_t *w, tsdb_wal_stats_t *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->stats;
    pthread_mutex_unlock(&w->mu);
}

void tsdb_wal_note_truncation(tsdb_wal_t *w, bool ok, int64_t bytes_delta)
{
    pthread_mutex_lock(&w->mu);
    if (ok) {
        w->stats.truncations++;
    } else {
        w->stats.truncation_failures++;
    }
    if (bytes_delta < 0 && (uint64_t)(-bytes_delta) > w->stats.bytes) {
        w->stats.bytes = 0;
    } else {
        w->stats.bytes = (uint64_t)((int64_t)w->stats.bytes + bytes_delta);
    }
    pthread_mutex_unlock(&w->mu);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int parse_num(const char *s, int *out)
{
    if (strlen(s) != 8) {
        return -1;
    }
    int v = 0;
    for (int i = 0; i < 8; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int tsdb_wal_list(const char *dir, int **segs, size_t *nsegs, int *checkpoint, tw_error_t *err)
{
    *segs = NULL;
    *nsegs = 0;
    *checkpoint = -1;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return tw_error_set(err, -errno, "wal: cannot read directory %s: %s", dir, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int n;
        if (parse_num(e->d_name, &n) == 0) {
            tw_grow((void **)segs, &cap, *nsegs + 1, sizeof(**segs));
            (*segs)[(*nsegs)++] = n;
        } else if (strncmp(e->d_name, "checkpoint.", 11) == 0 &&
                   parse_num(e->d_name + 11, &n) == 0 && n > *checkpoint) {
            *checkpoint = n;
        }
    }
    closedir(d);
    if (*nsegs > 1) {
        qsort(*segs, *nsegs, sizeof(**segs), cmp_int);
    }
    return 0;
}
