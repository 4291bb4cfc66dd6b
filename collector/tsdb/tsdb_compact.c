/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_compact.c - the db's blocks over time (docs/formats/block.md): loading them on open
 * (leftovers removed, damaged blocks skipped and reported), cutting blocks from the head,
 * Prometheus' leveled compaction (planning is pure: tsdb_compact_plan), retention by time and
 * size, the admin snapshot, and the background thread that runs one maintenance pass every
 * compact_interval_ms.
 *
 * Thread model: compact_mu serializes passes and snapshots; the block list is swapped under mu,
 * and readers hold references, so a block deleted by compaction or retention stays mapped until
 * the last querier using it is freed.
 */
#include <dirent.h>
#include <stdarg.h>
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

#define DAY_MS ((int64_t)24 * 3600 * 1000)

void tsdb_blockset_init(tsdb_blockset_t *bs)
{
    memset(bs, 0, sizeof(*bs));
    pthread_mutex_init(&bs->mu, NULL);
    pthread_mutex_init(&bs->compact_mu, NULL);
    pthread_mutex_init(&bs->tmu, NULL);
    pthread_cond_init(&bs->tcond, NULL);
}

void tsdb_blockset_fini(tsdb_blockset_t *bs)
{
    if (bs->thread_started) {
        pthread_mutex_lock(&bs->tmu);
        bs->stop = true;
        pthread_cond_broadcast(&bs->tcond);
        pthread_mutex_unlock(&bs->tmu);
        pthread_join(bs->thread, NULL);
        bs->thread_started = false;
    }
    for (size_t i = 0; i < bs->n; i++) {
        tsdb_block_unref(bs->blocks[i]);
    }
    free(bs->blocks);
    bs->blocks = NULL;
    bs->n = bs->cap = 0;
    pthread_mutex_destroy(&bs->mu);
    pthread_mutex_destroy(&bs->compact_mu);
    pthread_mutex_destroy(&bs->tmu);
    pthread_cond_destroy(&bs->tcond);
}

static void report(tsdb_blockset_t *bs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(tsdb_blockset_t *bs, const char *fmt, ...)
{
    size_t l = strlen(bs->report);
    if (l + 1 < sizeof(bs->report)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(bs->report + l, sizeof(bs->report) - l, fmt, ap);
        va_end(ap);
    }
}

static int cmp_block(const void *a, const void *b)
{
    const tsdb_block_t *x = *(tsdb_block_t *const *)a, *y = *(tsdb_block_t *const *)b;
    if (x->meta.mint != y->meta.mint) {
        return x->meta.mint < y->meta.mint ? -1 : 1;
    }
    return strcmp(x->meta.ulid, y->meta.ulid);
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Whether every source of a is a source of b (a was compacted into b). */
static bool sources_within(const tsdb_block_meta_t *a, const tsdb_block_meta_t *b)
{
    for (size_t i = 0; i < a->nsources; i++) {
        bool found = false;
        for (size_t j = 0; j < b->nsources && !found; j++) {
            found = strcmp(a->sources[i], b->sources[j]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

int tsdb_blocks_load(tw_tsdb_t *db, bool rw)
{
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    const char *path = tsdb_db_options(db)->path;
    DIR *d = opendir(path);
    if (d == NULL) {
        return 0;
    }
    struct dirent *e;
    char p[4096 + 512];
    while ((e = readdir(d)) != NULL) {
        if (strlen(path) + strlen(e->d_name) + 2 > sizeof(p)) {
            continue;
        }
        if (snprintf(p, sizeof(p), "%s/%s", path, e->d_name) >= (int)sizeof(p)) {
            continue;
        }
        if (has_suffix(e->d_name, ".tmp-for-creation") ||
            has_suffix(e->d_name, ".tmp-for-deletion")) {
            if (rw) {
                tsdb_rm_rf(p);
                report(bs, "%s: leftover of an interrupted block write or deletion removed\n",
                       e->d_name);
            }
            continue;
        }
        struct stat st;
        if (!tsdb_ulid_valid(e->d_name) || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            continue;
        }
        tsdb_block_t *b;
        tw_error_t err;
        if (tsdb_block_open(p, &b, &err) != 0) {
            bs->blocks_skipped++;
            report(bs, "%s (skipped)\n", err.msg);
            continue;
        }
        tw_grow((void **)&bs->blocks, &bs->cap, bs->n + 1, sizeof(*bs->blocks));
        bs->blocks[bs->n++] = b;
    }
    closedir(d);
    /* A crash after a compaction wrote its block but before it deleted the inputs. */
    for (size_t i = 0; i < bs->n;) {
        bool covered = false;
        for (size_t j = 0; j < bs->n && !covered; j++) {
            covered = j != i && bs->blocks[j]->meta.level > bs->blocks[i]->meta.level &&
                      sources_within(&bs->blocks[i]->meta, &bs->blocks[j]->meta);
        }
        if (!covered) {
            i++;
            continue;
        }
        tsdb_block_t *b = bs->blocks[i];
        report(bs, "block %s: already compacted into a newer block, %s\n", b->meta.ulid,
               rw ? "deleted" : "ignored");
        if (rw) {
            (void)tsdb_block_dir_delete(b->dir);
        }
        tsdb_block_unref(b);
        bs->blocks[i] = bs->blocks[--bs->n];
    }
    if (bs->n > 1) {
        qsort(bs->blocks, bs->n, sizeof(*bs->blocks), cmp_block);
    }
    return 0;
}

size_t tsdb_db_blocks_acquire(tw_tsdb_t *db, tsdb_block_t ***out)
{
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    pthread_mutex_lock(&bs->mu);
    size_t n = bs->n;
    tsdb_block_t **arr = tw_xmalloc((n + 1) * sizeof(*arr));
    for (size_t i = 0; i < n; i++) {
        arr[i] = bs->blocks[i];
        tsdb_block_ref(arr[i]);
    }
    pthread_mutex_unlock(&bs->mu);
    *out = arr;
    return n;
}

static void release(tsdb_block_t **arr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tsdb_block_unref(arr[i]);
    }
    free(arr);
}

const char *tw_tsdb_blocks_report(tw_tsdb_t *db)
{
    return tsdb_db_blockset(db)->report;
}

/* ---- planning (pure) ---- */

size_t tsdb_compact_ranges(int64_t base, int64_t max_ms, int64_t *out, size_t cap)
{
    size_t n = 0;
    int64_t r = base;
    for (size_t i = 0; i < 10 && n < cap; i++) {
        if (i > 0 && r > max_ms) {
            break;
        }
        out[n++] = r;
        if (r > INT64_MAX / 3) {
            break;
        }
        r *= 3;
    }
    return n;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

size_t tsdb_compact_plan(const tsdb_block_meta_t *const *m, size_t n, const int64_t *ranges,
                         size_t nranges, size_t *out)
{
    if (n == 0) {
        return 0;
    }
    /* Overlapping blocks first (vertical compaction). */
    size_t k = 0;
    int64_t gmax = m[0]->maxt;
    for (size_t i = 1; i < n; i++) {
        if (m[i]->mint < gmax) {
            if (k == 0) {
                out[k++] = i - 1;
            }
            out[k++] = i;
        } else if (k > 0) {
            break;
        }
        if (m[i]->maxt > gmax) {
            gmax = m[i]->maxt;
        }
    }
    if (k > 0) {
        return k;
    }
    /* The newest block stays out: it was just cut from the head. */
    n--;
    if (n == 0 || nranges < 2) {
        return 0;
    }
    int64_t high = m[n - 1]->mint;
    for (size_t r = 1; r < nranges; r++) {
        int64_t tr = ranges[r];
        for (size_t i = 0; i < n;) {
            int64_t t0 = floor_div(m[i]->mint, tr) * tr;
            if (m[i]->maxt > t0 + tr) {
                i++;
                continue;
            }
            size_t g0 = i;
            while (i < n && m[i]->maxt <= t0 + tr) {
                i++;
            }
            size_t g = i - g0;
            int64_t mint = m[g0]->mint, maxt = m[i - 1]->maxt;
            if (g > 1 && (maxt - mint == tr || maxt <= high)) {
                for (size_t j = 0; j < g; j++) {
                    out[j] = g0 + j;
                }
                return g;
            }
        }
    }
    return 0;
}

/* ---- writing blocks from a querier ---- */

typedef struct qsrc {
    tw_tsdb_series_set_t *set;
    tw_tsdb_iter_t *it;
    int err;
} qsrc_t;

static bool qsrc_next(void *ctx, const tw_label_t **l, size_t *n)
{
    qsrc_t *q = ctx;
    if (!tw_tsdb_series_set_next(q->set)) {
        return false;
    }
    *l = tw_tsdb_series_set_labels(q->set, n);
    q->it = tw_tsdb_series_set_iter(q->set, q->it);
    return true;
}

static bool qsrc_sample(void *ctx, int64_t *t, uint64_t *vbits)
{
    qsrc_t *q = ctx;
    if (!tw_tsdb_iter_next(q->it)) {
        if (tw_tsdb_iter_err(q->it) != 0) {
            q->err = TW_EIO;
        }
        return false;
    }
    double v;
    tw_tsdb_iter_at(q->it, t, &v);
    memcpy(vbits, &v, sizeof(*vbits));
    return true;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Writes [meta->mint, meta->maxt) from the chosen sources as a block under parent; on success
 * (and when not empty) *out is the opened block (NULL when empty).
 */
static int write_from(tw_tsdb_t *db, const char *parent, tsdb_block_meta_t *meta, bool use_head,
                      tsdb_block_t *const *blocks, size_t nb, tsdb_block_t **out, tw_error_t *err)
{
    *out = NULL;
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    double t0 = mono_s();
    tw_tsdb_querier_t *q =
        tsdb_querier_new_src(db, meta->mint, meta->maxt - 1, use_head, blocks, nb);
    qsrc_t qs = {0};
    qs.set = tw_tsdb_select(q, NULL, 0, NULL);
    tsdb_wsource_t src = {&qs, qsrc_next, qsrc_sample};
    bool empty = false;
    int rc = tsdb_block_write(parent, meta, &src, tsdb_db_options(db)->chunk_target_samples, &empty,
                              err);
    tw_tsdb_iter_free(qs.it);
    tw_tsdb_series_set_free(qs.set);
    tw_tsdb_querier_free(q);
    char dir[4096 + 64];
    snprintf(dir, sizeof(dir), "%s/%s", parent, meta->ulid);
    if (rc == 0 && qs.err != 0) {
        rc = tw_error_set(err, TW_EIO, "block %s: a source chunk could not be decoded", meta->ulid);
        tsdb_block_dir_delete(dir);
    }
    if (rc == 0 && !empty) {
        rc = tsdb_block_open(dir, out, err);
    }
    pthread_mutex_lock(&bs->mu);
    bs->compaction_seconds += mono_s() - t0;
    bs->compaction_count++;
    if (rc != 0) {
        bs->compactions_failed++;
    }
    pthread_mutex_unlock(&bs->mu);
    return rc;
}

/* Replaces the blocks old[0..nold) (may be none) by nb (may be NULL) in the db's list. */
static void swap_blocks(tsdb_blockset_t *bs, tsdb_block_t *const *old, size_t nold,
                        tsdb_block_t *nb)
{
    pthread_mutex_lock(&bs->mu);
    for (size_t j = 0; j < nold; j++) {
        for (size_t i = 0; i < bs->n; i++) {
            if (bs->blocks[i] == old[j]) {
                memmove(&bs->blocks[i], &bs->blocks[i + 1], (bs->n - i - 1) * sizeof(*bs->blocks));
                bs->n--;
                break;
            }
        }
    }
    if (nb != NULL) {
        tw_grow((void **)&bs->blocks, &bs->cap, bs->n + 1, sizeof(*bs->blocks));
        bs->blocks[bs->n++] = nb;
        qsort(bs->blocks, bs->n, sizeof(*bs->blocks), cmp_block);
    }
    pthread_mutex_unlock(&bs->mu);
    for (size_t j = 0; j < nold; j++) {
        (void)tsdb_block_dir_delete(old[j]->dir);
        tsdb_block_unref(old[j]); /* the list's reference */
    }
}

static int64_t newest_block_end(tw_tsdb_t *db)
{
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    int64_t m = INT64_MIN;
    pthread_mutex_lock(&bs->mu);
    for (size_t i = 0; i < bs->n; i++) {
        if (bs->blocks[i]->meta.maxt > m) {
            m = bs->blocks[i]->meta.maxt;
        }
    }
    pthread_mutex_unlock(&bs->mu);
    return m;
}

static int cut_head(tw_tsdb_t *db, int64_t now_ms, tw_error_t *err)
{
    const tw_tsdb_options_t *o = tsdb_db_options(db);
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    int64_t range = o->block_range_ms;
    for (;;) {
        tsdb_head_stats_t hs;
        tsdb_head_stats_get(tsdb_db_head(db), &hs);
        if (hs.mint > hs.maxt) {
            return 0;
        }
        int64_t hmint = hs.mint, mv = tsdb_head_min_valid(tsdb_db_head(db));
        int64_t nb = newest_block_end(db);
        hmint = mv > hmint ? mv : hmint;
        hmint = nb > hmint ? nb : hmint;
        /* Prometheus' compactable(): the head spans more than 1.5 block ranges. */
        if (hs.maxt - hmint <= range / 2 * 3) {
            return 0;
        }
        tsdb_block_meta_t meta = {0};
        char self[TSDB_ULID_LEN + 1];
        tsdb_ulid_new(meta.ulid, now_ms);
        tw_strlcpy(self, meta.ulid, sizeof(self));
        meta.mint = floor_div(hmint, range) * range;
        meta.maxt = meta.mint + range;
        meta.level = 1;
        meta.sources = &self;
        meta.nsources = 1;
        tsdb_block_t *b;
        int rc = write_from(db, o->path, &meta, true, NULL, 0, &b, err);
        if (rc != 0) {
            return rc;
        }
        if (b != NULL) {
            swap_blocks(bs, NULL, 0, b);
            pthread_mutex_lock(&bs->mu);
            bs->head_cuts++;
            pthread_mutex_unlock(&bs->mu);
        }
        tw_tsdb_head_truncate(db, meta.maxt, NULL);
        /* A failed checkpoint only keeps the WAL longer (counted in its own metric). */
        (void)tw_tsdb_checkpoint(db, meta.maxt, NULL);
    }
}

static int cmp_src(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int compact_once(tw_tsdb_t *db, int64_t now_ms, bool *did, tw_error_t *err)
{
    const tw_tsdb_options_t *o = tsdb_db_options(db);
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    *did = false;
    int64_t maxdur = 31 * DAY_MS;
    if (o->retention_time_ms > 0 && o->retention_time_ms / 10 < maxdur) {
        maxdur = o->retention_time_ms / 10;
    }
    int64_t ranges[10];
    size_t nr = tsdb_compact_ranges(o->block_range_ms, maxdur, ranges, 10);
    tsdb_block_t **bl;
    size_t n = tsdb_db_blocks_acquire(db, &bl);
    const tsdb_block_meta_t **metas = tw_xmalloc((n + 1) * sizeof(*metas));
    size_t *idx = tw_xmalloc((n + 1) * sizeof(*idx));
    for (size_t i = 0; i < n; i++) {
        metas[i] = &bl[i]->meta;
    }
    size_t k = tsdb_compact_plan(metas, n, ranges, nr, idx);
    int rc = 0;
    if (k > 1) {
        tsdb_block_t **sel = tw_xmalloc(k * sizeof(*sel));
        tsdb_block_meta_t meta = {0};
        size_t nsrc = 0;
        meta.mint = INT64_MAX;
        meta.maxt = INT64_MIN;
        for (size_t i = 0; i < k; i++) {
            sel[i] = bl[idx[i]];
            nsrc += sel[i]->meta.nsources;
        }
        meta.sources = tw_xcalloc(nsrc + 1, sizeof(*meta.sources));
        for (size_t i = 0; i < k; i++) {
            const tsdb_block_meta_t *m = &sel[i]->meta;
            meta.mint = m->mint < meta.mint ? m->mint : meta.mint;
            meta.maxt = m->maxt > meta.maxt ? m->maxt : meta.maxt;
            meta.level = m->level > meta.level ? m->level : meta.level;
            for (size_t j = 0; j < m->nsources; j++) {
                memcpy(meta.sources[meta.nsources++], m->sources[j], TSDB_ULID_LEN + 1);
            }
        }
        qsort(meta.sources, meta.nsources, sizeof(*meta.sources), cmp_src);
        size_t u = 0;
        for (size_t j = 0; j < meta.nsources; j++) {
            if (u == 0 || strcmp(meta.sources[u - 1], meta.sources[j]) != 0) {
                memmove(meta.sources[u++], meta.sources[j], TSDB_ULID_LEN + 1);
            }
        }
        meta.nsources = u;
        meta.level++;
        tsdb_ulid_new(meta.ulid, now_ms);
        tsdb_block_t *nb;
        rc = write_from(db, o->path, &meta, false, sel, k, &nb, err);
        if (rc == 0) {
            swap_blocks(bs, sel, k, nb);
            pthread_mutex_lock(&bs->mu);
            bs->compactions++;
            pthread_mutex_unlock(&bs->mu);
            *did = true;
        }
        tsdb_block_meta_fini(&meta);
        free(sel);
    }
    free(metas);
    free(idx);
    release(bl, n);
    return rc;
}

static int cmp_maxt_desc(const void *a, const void *b)
{
    const tsdb_block_t *x = *(tsdb_block_t *const *)a, *y = *(tsdb_block_t *const *)b;
    return x->meta.maxt > y->meta.maxt ? -1 : (x->meta.maxt < y->meta.maxt);
}

static void retention(tw_tsdb_t *db)
{
    const tw_tsdb_options_t *o = tsdb_db_options(db);
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    tsdb_block_t **bl;
    size_t n = tsdb_db_blocks_acquire(db, &bl);
    if (n == 0) {
        free(bl);
        return;
    }
    qsort(bl, n, sizeof(*bl), cmp_maxt_desc);
    size_t keep_time = n, keep_size = n;
    if (o->retention_time_ms > 0) {
        for (size_t i = 1; i < n; i++) {
            if (bl[0]->meta.maxt - bl[i]->meta.maxt > o->retention_time_ms) {
                keep_time = i;
                break;
            }
        }
    }
    if (o->retention_size_bytes > 0) {
        tw_tsdb_stats_t st;
        tw_tsdb_stats_get(db, &st);
        uint64_t total = st.wal_bytes;
        for (size_t i = 0; i < n; i++) {
            total += bl[i]->bytes;
            if (total > o->retention_size_bytes) {
                keep_size = i;
                break;
            }
        }
    }
    size_t keep = keep_time < keep_size ? keep_time : keep_size;
    if (keep < n) {
        swap_blocks(bs, bl + keep, n - keep, NULL);
        pthread_mutex_lock(&bs->mu);
        bs->blocks_deleted += n - keep;
        if (keep_time < n) {
            bs->time_retentions++;
        }
        if (keep_size < n && keep_size <= keep_time) {
            bs->size_retentions++;
        }
        pthread_mutex_unlock(&bs->mu);
    }
    release(bl, n);
}

int tw_tsdb_compact(tw_tsdb_t *db, int64_t now_ms, tw_error_t *err)
{
    const tw_tsdb_options_t *o = tsdb_db_options(db);
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    if (o->read_only) {
        return tw_error_set(err, TW_ESTATE, "tsdb: compaction on a read-only database");
    }
    pthread_mutex_lock(&bs->compact_mu);
    int rc = cut_head(db, now_ms, err);
    bool did = true;
    while (rc == 0 && did) {
        rc = compact_once(db, now_ms, &did, err);
    }
    retention(db);
    pthread_mutex_unlock(&bs->compact_mu);
    return rc;
}

/* ---- the background thread ---- */

static void *compactor_main(void *arg)
{
    tw_tsdb_t *db = arg;
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    int64_t every = tsdb_db_options(db)->compact_interval_ms;
    pthread_mutex_lock(&bs->tmu);
    while (!bs->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += every / 1000;
        ts.tv_nsec += (every % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&bs->tcond, &bs->tmu, &ts);
        if (bs->stop) {
            break;
        }
        pthread_mutex_unlock(&bs->tmu);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        /* Failures are counted (compactions_failed_total); the next pass retries. */
        (void)tw_tsdb_compact(db, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, NULL);
        pthread_mutex_lock(&bs->tmu);
    }
    pthread_mutex_unlock(&bs->tmu);
    return NULL;
}

void tsdb_compactor_start(tw_tsdb_t *db)
{
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    if (tsdb_db_options(db)->compact_interval_ms <= 0) {
        return;
    }
    bs->thread_started = pthread_create(&bs->thread, NULL, compactor_main, db) == 0;
}

/* ---- snapshot ---- */

static int link_or_copy(const char *from, const char *to)
{
    if (link(from, to) == 0) {
        return 0;
    }
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        return -errno;
    }
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    char buf[65536];
    ssize_t k;
    int rc = 0;
    while ((k = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t)k) != k) {
            rc = -EIO;
            break;
        }
    }
    if (k < 0 || fsync(out) != 0) {
        rc = -errno;
    }
    close(in);
    close(out);
    return rc;
}

static int snapshot_block(const tsdb_block_t *b, const char *dir, tw_error_t *err)
{
    char to[4096 + 512], from[4096 + 512];
    snprintf(to, sizeof(to), "%s/%s", dir, b->meta.ulid);
    if (mkdir(to, 0755) != 0) {
        return tw_error_set(err, -errno, "snapshot: cannot create %s: %s", to, strerror(errno));
    }
    snprintf(to, sizeof(to), "%s/%s/chunks", dir, b->meta.ulid);
    if (mkdir(to, 0755) != 0) {
        return tw_error_set(err, -errno, "snapshot: cannot create %s: %s", to, strerror(errno));
    }
    static const char *files[] = {"meta.json", "index", "tombstones"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(from, sizeof(from), "%s/%s", b->dir, files[i]);
        snprintf(to, sizeof(to), "%s/%s/%s", dir, b->meta.ulid, files[i]);
        if (access(from, F_OK) != 0 && i == 2) {
            continue;
        }
        int rc = link_or_copy(from, to);
        if (rc != 0) {
            return tw_error_set(err, rc, "snapshot: cannot copy %s: %s", from, strerror(-rc));
        }
    }
    for (size_t i = 0; i < b->nfiles; i++) {
        snprintf(from, sizeof(from), "%s/chunks/%06zu", b->dir, i + 1);
        snprintf(to, sizeof(to), "%s/%s/chunks/%06zu", dir, b->meta.ulid, i + 1);
        int rc = link_or_copy(from, to);
        if (rc != 0) {
            return tw_error_set(err, rc, "snapshot: cannot copy %s: %s", from, strerror(-rc));
        }
    }
    return 0;
}

int tw_tsdb_snapshot(tw_tsdb_t *db, int64_t now_ms, bool skip_head, char *name_out, size_t name_sz,
                     tw_error_t *err)
{
    const tw_tsdb_options_t *o = tsdb_db_options(db);
    tsdb_blockset_t *bs = tsdb_db_blockset(db);
    if (name_out == NULL || name_sz < 40) {
        return tw_error_set(err, TW_EINVAL, "snapshot: name buffer too small");
    }
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    uint8_t rnd[8] = {0};
    char ulid[TSDB_ULID_LEN + 1];
    tsdb_ulid_new(ulid, now_ms);
    for (size_t i = 0; i < 8; i++) { /* the ULID's random part is random enough here */
        rnd[i] = (uint8_t)(ulid[10 + 2 * i] * 31 + ulid[11 + 2 * i]);
    }
    uint64_t r = 0;
    memcpy(&r, rnd, sizeof(r));
    snprintf(name_out, name_sz, "%04d%02d%02dT%02d%02d%02dZ-%016llx", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned long long)r);
    char snaps[4096 + 32], dir[4096 + 96];
    snprintf(snaps, sizeof(snaps), "%s/snapshots", o->path);
    snprintf(dir, sizeof(dir), "%s/%s", snaps, name_out);
    if ((mkdir(snaps, 0755) != 0 && errno != EEXIST) || mkdir(dir, 0755) != 0) {
        return tw_error_set(err, -errno, "snapshot: cannot create %s: %s", dir, strerror(errno));
    }
    pthread_mutex_lock(&bs->compact_mu);
    tsdb_block_t **bl;
    size_t n = tsdb_db_blocks_acquire(db, &bl);
    int rc = 0;
    int64_t newest = INT64_MIN;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = snapshot_block(bl[i], dir, err);
        newest = bl[i]->meta.maxt > newest ? bl[i]->meta.maxt : newest;
    }
    if (rc == 0 && !skip_head) {
        tsdb_head_stats_t hs;
        tsdb_head_stats_get(tsdb_db_head(db), &hs);
        if (hs.mint <= hs.maxt) {
            tsdb_block_meta_t meta = {0};
            char self[TSDB_ULID_LEN + 1];
            tsdb_ulid_new(meta.ulid, now_ms);
            tw_strlcpy(self, meta.ulid, sizeof(self));
            meta.mint = hs.mint > newest ? hs.mint : newest;
            meta.maxt = hs.maxt + 1;
            meta.level = 1;
            meta.sources = &self;
            meta.nsources = 1;
            if (meta.mint < meta.maxt) {
                tsdb_block_t *b;
                rc = write_from(db, dir, &meta, true, NULL, 0, &b, err);
                tsdb_block_unref(b);
            }
        }
    }
    release(bl, n);
    pthread_mutex_unlock(&bs->compact_mu);
    if (rc == 0) {
        tsdb_fsync_dir(dir);
        tsdb_fsync_dir(snaps);
    }
    return rc;
}
