/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_db.c - the database object: open (WAL replay), close, transactions and commit, the sink
 * adapter, head truncation, WAL checkpoints and self-metrics. The head lives in tsdb_head.c, the
 * WAL files in tsdb_wal.c, the record coding in tsdb_record.c, reading in tsdb_querier.c.
 *
 * Thread model (see tsdb.h): commit_mu serializes "apply to head + write the batch", so the head
 * sees commits in WAL order and a replay rebuilds exactly what was live; the fsync wait happens
 * after commit_mu is released (group commit). gc_mu/gc_cond let head truncation wait for
 * queriers. ckpt_mu allows one checkpoint at a time.
 *
 * How WAL replay works: find the newest complete checkpoint.N, replay its segments, then every
 * segment > N in order. Series records create series under their logged id; samples go through
 * the same checks as live appends. Each segment is mmapped and parsed by tsdb_segment_parse():
 * a torn tail of the last segment is cut off (writable opens only), damage elsewhere is skipped
 * and described in the replay report. A new segment is started for this process' writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/mem.h"

struct tw_tsdb {
    tw_tsdb_options_t opts;
    char *path;
    char *wal_dir;
    tsdb_head_t *head;
    tsdb_wal_t *wal; /* NULL when read-only */
    tw_tsdb_replay_report_t report;
    pthread_mutex_t commit_mu;
    tw_buf_t series_rec; /* scratch under commit_mu */
    tw_buf_t samples_rec;
    tw_buf_t batch;
    pthread_mutex_t gc_mu;
    pthread_cond_t gc_cond;
    unsigned readers;
    bool gc_active;
    pthread_mutex_t ckpt_mu;
    uint64_t commits, rollbacks, corruptions; /* atomic */
    tsdb_blockset_t bs;                       /* blocks, compaction, retention (tsdb_compact.c) */
};

#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define SCRATCH_KEEP_BYTES ((size_t)4 << 20)
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

double tw_tsdb_stale_nan(void)
{
    uint64_t b = TW_TSDB_STALE_NAN_BITS;
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

bool tw_tsdb_is_stale_nan(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b == TW_TSDB_STALE_NAN_BITS;
}

void tw_tsdb_options_default(tw_tsdb_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->wal_segment_bytes = (size_t)128 << 20;
    o->fsync_policy = TW_TSDB_FSYNC_ALWAYS;
    o->fsync_interval_ms = 1000;
    o->out_of_order_window_ms = 0;
    o->chunk_target_samples = 120;
    o->stripes = 1024;
    o->block_range_ms = (int64_t)2 * 3600 * 1000;
    o->retention_time_ms = (int64_t)15 * 24 * 3600 * 1000;
    o->retention_size_bytes = 0;
    o->compact_interval_ms = 60000;
}

tsdb_blockset_t *tsdb_db_blockset(tw_tsdb_t *db)
{
    return &db->bs;
}

const tw_tsdb_options_t *tsdb_db_options(tw_tsdb_t *db)
{
    return &db->opts;
}

/* ---- replay ---- */

typedef struct {
    uint64_t key;
    tsdb_series_t *s;
} alias_t;

typedef struct replay {
    tw_tsdb_t *db;
    alias_t *alias; /* open addressing, key 0 = empty */
    size_t alias_cap, alias_n;
    tw_buf_t *msg;
    const char *seg_name;
    size_t rec_off;
} replay_t;

static void alias_put(replay_t *r, uint64_t key, tsdb_series_t *s)
{
    if ((r->alias_n + 1) * 2 > r->alias_cap) {
        size_t nc = r->alias_cap == 0 ? 64 : r->alias_cap * 2;
        alias_t *na = tw_xcalloc(nc, sizeof(*na));
        for (size_t i = 0; i < r->alias_cap; i++) {
            if (r->alias[i].key != 0) {
                size_t k = (r->alias[i].key * 0x9e3779b97f4a7c15ull) & (nc - 1);
                while (na[k].key != 0) {
                    k = (k + 1) & (nc - 1);
                }
                na[k] = r->alias[i];
            }
        }
        free(r->alias);
        r->alias = na;
        r->alias_cap = nc;
    }
    size_t k = (key * 0x9e3779b97f4a7c15ull) & (r->alias_cap - 1);
    while (r->alias[k].key != 0 && r->alias[k].key != key) {
        k = (k + 1) & (r->alias_cap - 1);
    }
    if (r->alias[k].key == 0) {
        r->alias_n++;
    }
    r->alias[k].key = key;
    r->alias[k].s = s;
}

static tsdb_series_t *alias_get(replay_t *r, uint64_t key)
{
    if (r->alias_cap == 0) {
        return NULL;
    }
    size_t k = (key * 0x9e3779b97f4a7c15ull) & (r->alias_cap - 1);
    while (r->alias[k].key != 0) {
        if (r->alias[k].key == key) {
            return r->alias[k].s;
        }
        k = (k + 1) & (r->alias_cap - 1);
    }
    return NULL;
}

static int replay_series(void *ctx, uint64_t ref, const tw_label_t *labels, size_t n)
{
    replay_t *r = ctx;
    bool created;
    tsdb_series_t *s = tsdb_head_get_or_create(r->db->head, labels, n, ref, false, &created);
    if (s == NULL) {
        /* The id is taken by other labels (or out of range): give the series a fresh id. */
        s = tsdb_head_get_or_create(r->db->head, labels, n, 0, false, &created);
    }
    if (s == NULL) {
        return 0;
    }
    if (s->ref != ref) {
        alias_put(r, ref, s);
        /* The series record in the WAL has another id; log the new one on its next commit. */
    } else {
        s->wal_logged = 1;
    }
    r->db->report.series++;
    return 0;
}

static int replay_sample(void *ctx, uint64_t ref, int64_t t, uint64_t vbits)
{
    replay_t *r = ctx;
    tsdb_series_t *s = alias_get(r, ref);
    if (s == NULL) {
        s = tsdb_head_by_ref(r->db->head, ref);
    }
    if (s == NULL) {
        r->db->report.unknown_series_samples++;
        return 0;
    }
    tsdb_append_res_t res;
    tsdb_head_lock(r->db->head, s);
    int rc = tsdb_head_append(r->db->head, s, t, vbits, &res);
    tsdb_head_unlock(r->db->head, s);
    if (rc != 0) {
        r->db->report.rejected_samples++;
    } else if (res != TSDB_APPEND_IDENTICAL) {
        r->db->report.samples++;
    }
    return 0;
}

static int replay_record(void *ctx, int type, const uint8_t *payload, size_t len, size_t off)
{
    replay_t *r = ctx;
    tw_error_t e;
    int rc;
    r->db->report.records++;
    if (type == TSDB_REC_SERIES) {
        rc = tsdb_record_series_decode(payload, len, replay_series, r, &e);
    } else if (type == TSDB_REC_SAMPLES2) {
        rc = tsdb_record_samples2_decode(payload, len, replay_sample, r, &e);
    } else {
        rc = tsdb_record_samples_decode(payload, len, replay_sample, r, &e);
    }
    if (rc != 0) {
        /* The CRC matched, so this is a writer bug or a foreign file: report, keep going. */
        r->db->report.corruptions++;
        tw_buf_printf(r->msg, "%s offset %zu: undecodable record: %s\n", r->seg_name, off, e.msg);
    }
    return 0;
}

static int replay_file(replay_t *r, const char *path, const char *name, bool last, bool rw,
                       uint64_t *bytes, tw_error_t *err)
{
    int fd = open(path, (rw && last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        return tw_error_set(err, -errno, "wal: cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tw_error_set(err, -e, "wal: cannot stat %s: %s", path, strerror(e));
    }
    size_t len = (size_t)st.st_size;
    *bytes += len;
    const uint8_t *data = NULL;
    if (len > 0) {
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return tw_error_set(err, -e, "wal: cannot map %s: %s", path, strerror(e));
        }
        data = m;
    }
    tsdb_segment_result_t res;
    r->seg_name = name;
    tsdb_segment_parse(data != NULL ? data : (const uint8_t *)"", len, last, name, replay_record, r,
                       &res, r->msg);
    r->db->report.segments++;
    r->db->report.corruptions += res.corruptions;
    r->db->report.corrupt_bytes += res.corrupt_bytes;
    if (res.torn) {
        r->db->report.torn_tails++;
        r->db->report.torn_bytes += res.torn_bytes;
        tw_buf_printf(r->msg,
                      "%s offset %zu: torn tail, %llu bytes of an incomplete record (a write cut "
                      "short by a crash, never acknowledged) %s\n",
                      name, res.valid_end, (unsigned long long)res.torn_bytes,
                      rw ? "removed" : "ignored");
        if (rw && ftruncate(fd, (off_t)res.valid_end) == 0) {
            *bytes -= res.torn_bytes;
        }
    }
    if (data != NULL) {
        munmap((void *)data, len);
    }
    close(fd);
    return 0;
}

static int list_dir_files(const char *dir, int **segs, size_t *n, tw_error_t *err)
{
    int ck;
    return tsdb_wal_list(dir, segs, n, &ck, err);
}

static int replay_all(tw_tsdb_t *db, int *next_seg, uint64_t *wal_bytes, tw_error_t *err)
{
    int *segs = NULL, *csegs = NULL;
    size_t nsegs = 0, ncsegs = 0;
    int ckpt = -1;
    tw_buf_t msg;
    replay_t r = {.db = db, .msg = &msg};
    char path[4200], name[64];
    bool rw = !db->opts.read_only;
    tw_buf_init(&msg, 1 << 20);
    int rc = tsdb_wal_list(db->wal_dir, &segs, &nsegs, &ckpt, err);
    if (rc != 0) {
        goto out;
    }
    if (ckpt >= 0) {
        char cdir[4096];
        snprintf(cdir, sizeof(cdir), "%s/checkpoint.%08d", db->wal_dir, ckpt);
        if ((rc = list_dir_files(cdir, &csegs, &ncsegs, err)) != 0) {
            goto out;
        }
        for (size_t i = 0; i < ncsegs; i++) {
            snprintf(path, sizeof(path), "%s/%08d", cdir, csegs[i]);
            snprintf(name, sizeof(name), "checkpoint.%08d/%08d", ckpt, csegs[i]);
            if ((rc = replay_file(&r, path, name, false, false, wal_bytes, err)) != 0) {
                goto out;
            }
        }
    }
    *next_seg = ckpt + 1;
    for (size_t i = 0; i < nsegs; i++) {
        if (segs[i] <= ckpt) {
            /* Left over by a crash between checkpoint rename and deletion. */
            snprintf(path, sizeof(path), "%s/%08d", db->wal_dir, segs[i]);
            if (rw) {
                (void)unlink(path);
            }
            continue;
        }
        snprintf(path, sizeof(path), "%s/%08d", db->wal_dir, segs[i]);
        snprintf(name, sizeof(name), "segment %08d", segs[i]);
        if ((rc = replay_file(&r, path, name, i + 1 == nsegs, rw, wal_bytes, err)) != 0) {
            goto out;
        }
        *next_seg = segs[i] + 1;
    }
    if (db->report.unknown_series_samples > 0) {
        tw_buf_printf(&msg, "%llu samples lost: their series records were in damaged WAL data\n",
                      (unsigned long long)db->report.unknown_series_samples);
    }
    if (db->report.rejected_samples > 0) {
        tw_buf_printf(&msg,
                      "%llu samples in the WAL were rejected by the head again (counted "
                      "in tidewatch_tsdb_samples_rejected_total)\n",
                      (unsigned long long)db->report.rejected_samples);
    }
    db->corruptions += db->report.corruptions;
out:
    if (msg.data != NULL) {
        tw_strlcpy(db->report.message, msg.data, sizeof(db->report.message));
    }
    tw_buf_fini(&msg);
    free(r.alias);
    free(segs);
    free(csegs);
    return rc;
}

static int mkdir_p(const char *path, tw_error_t *err)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return tw_error_set(err, -errno, "tsdb: cannot create directory %s: %s", path,
                            strerror(errno));
    }
    return 0;
}

int tw_tsdb_open(const tw_tsdb_options_t *o, tw_tsdb_t **out, tw_error_t *err)
{
    *out = NULL;
    if (o == NULL || o->path == NULL || o->path[0] == '\0') {
        return tw_error_set(err, TW_EINVAL, "tsdb: no data directory given");
    }
    if (o->fsync_policy != TW_TSDB_FSYNC_ALWAYS && o->fsync_policy != TW_TSDB_FSYNC_INTERVAL &&
        o->fsync_policy != TW_TSDB_FSYNC_NEVER) {
        return tw_error_set(err, TW_EINVAL, "tsdb: unknown fsync policy %d", (int)o->fsync_policy);
    }
    if (o->out_of_order_window_ms < 0) {
        return tw_error_set(err, TW_EINVAL, "tsdb: out_of_order_window_ms must be >= 0, got %lld",
                            (long long)o->out_of_order_window_ms);
    }
    if (o->block_range_ms < 0 || o->retention_time_ms < 0 || o->compact_interval_ms < 0) {
        return tw_error_set(err, TW_EINVAL,
                            "tsdb: block_range_ms, retention_time_ms and compact_interval_ms "
                            "must be >= 0");
    }
    tw_tsdb_t *db = tw_xcalloc(1, sizeof(*db));
    db->opts = *o;
    tsdb_blockset_init(&db->bs);
    if (db->opts.block_range_ms == 0) {
        db->opts.block_range_ms = (int64_t)2 * 3600 * 1000;
    }
    if (db->opts.wal_segment_bytes == 0) {
        db->opts.wal_segment_bytes = (size_t)128 << 20;
    }
    if (db->opts.wal_segment_bytes < 4096) {
        db->opts.wal_segment_bytes = 4096;
    }
    db->path = tw_xstrdup(o->path);
    db->opts.path = db->path;
    size_t wl = strlen(o->path) + sizeof("/wal");
    db->wal_dir = tw_xmalloc(wl);
    snprintf(db->wal_dir, wl, "%s/wal", o->path);
    db->head = tsdb_head_new(o->stripes > 0 ? o->stripes : 1024, o->chunk_target_samples,
                             o->out_of_order_window_ms);
    pthread_mutex_init(&db->commit_mu, NULL);
    pthread_mutex_init(&db->gc_mu, NULL);
    pthread_cond_init(&db->gc_cond, NULL);
    pthread_mutex_init(&db->ckpt_mu, NULL);
    tw_buf_init(&db->series_rec, TSDB_WAL_MAX_RECORD);
    tw_buf_init(&db->samples_rec, TSDB_WAL_MAX_RECORD);
    tw_buf_init(&db->batch, 2 * (size_t)TSDB_WAL_MAX_RECORD + 64);
    int rc = 0;
    struct stat st;
    if (o->read_only) {
        if (stat(o->path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = tw_error_set(err, TW_ENOTFOUND, "tsdb: %s is not a directory", o->path);
            goto fail;
        }
        if (stat(db->wal_dir, &st) != 0) {
            tsdb_blocks_load(db, false);
            *out = db; /* no WAL: blocks only (a snapshot, a copied block) */
            return 0;
        }
    } else if ((rc = mkdir_p(o->path, err)) != 0 || (rc = mkdir_p(db->wal_dir, err)) != 0) {
        goto fail;
    }
    tsdb_blocks_load(db, !o->read_only);
    int next_seg = 0;
    uint64_t wal_bytes = 0;
    if ((rc = replay_all(db, &next_seg, &wal_bytes, err)) != 0) {
        goto fail;
    }
    /* WAL samples already in a block (a crash before the checkpoint): the block has them. */
    int64_t newest = INT64_MIN;
    for (size_t i = 0; i < db->bs.n; i++) {
        newest = db->bs.blocks[i]->meta.maxt > newest ? db->bs.blocks[i]->meta.maxt : newest;
    }
    if (newest != INT64_MIN) {
        tsdb_head_stats_t hs;
        tsdb_head_stats_get(db->head, &hs);
        if (hs.mint < newest) {
            tsdb_head_truncate(db->head, newest);
        }
    }
    if (!o->read_only) {
        rc = tsdb_wal_open(db->wal_dir, next_seg, db->opts.wal_segment_bytes, o->fsync_policy,
                           o->fsync_interval_ms, wal_bytes, &db->wal, err);
        if (rc != 0) {
            goto fail;
        }
        tsdb_compactor_start(db);
    }
    *out = db;
    return 0;
fail:
    tw_tsdb_close(db);
    return rc;
}

void tw_tsdb_close(tw_tsdb_t *db)
{
    if (db == NULL) {
        return;
    }
    tsdb_blockset_fini(&db->bs);
    tsdb_wal_close(db->wal);
    tsdb_head_free(db->head);
    tw_buf_fini(&db->series_rec);
    tw_buf_fini(&db->samples_rec);
    tw_buf_fini(&db->batch);
    pthread_mutex_destroy(&db->commit_mu);
    pthread_mutex_destroy(&db->gc_mu);
    pthread_cond_destroy(&db->gc_cond);
    pthread_mutex_destroy(&db->ckpt_mu);
    free(db->wal_dir);
    free(db->path);
    free(db);
}

const tw_tsdb_replay_report_t *tw_tsdb_replay_report(const tw_tsdb_t *db)
{
    return &db->report;
}

/* ---- transactions ---- */

typedef struct pend {
    tsdb_series_t *s;
    int64_t t;
    uint64_t vbits;
} pend_t;

typedef struct txn_ent {
    tsdb_series_t *s; /* NULL: empty slot */
    int64_t max_t;
    uint64_t vbits;
} txn_ent_t;

struct tw_tsdb_appender {
    tw_tsdb_t *db;
    pend_t *p;
    size_t n, cap;
    txn_ent_t *map; /* open addressing by series pointer */
    size_t map_cap, map_n;
};

tw_tsdb_appender_t *tw_tsdb_appender_begin(tw_tsdb_t *db)
{
    if (db == NULL || db->wal == NULL) {
        return NULL;
    }
    tw_tsdb_appender_t *a = tw_xcalloc(1, sizeof(*a));
    a->db = db;
    return a;
}

static size_t ptr_slot(const void *p, size_t cap)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull) & (cap - 1);
}

static txn_ent_t *txn_find(tw_tsdb_appender_t *a, tsdb_series_t *s, bool create)
{
    if (create && (a->map_n + 1) * 2 > a->map_cap) {
        size_t nc = a->map_cap == 0 ? 32 : a->map_cap * 2;
        txn_ent_t *nm = tw_xcalloc(nc, sizeof(*nm));
        for (size_t i = 0; i < a->map_cap; i++) {
            if (a->map[i].s != NULL) {
                size_t k = ptr_slot(a->map[i].s, nc);
                while (nm[k].s != NULL) {
                    k = (k + 1) & (nc - 1);
                }
                nm[k] = a->map[i];
            }
        }
        free(a->map);
        a->map = nm;
        a->map_cap = nc;
    }
    if (a->map_cap == 0) {
        return NULL;
    }
    size_t k = ptr_slot(s, a->map_cap);
    while (a->map[k].s != NULL && a->map[k].s != s) {
        k = (k + 1) & (a->map_cap - 1);
    }
    if (a->map[k].s == NULL) {
        if (!create) {
            return NULL;
        }
        a->map[k].s = s;
        a->map[k].max_t = INT64_MIN;
        a->map_n++;
    }
    return &a->map[k];
}

static int reject_msg(tw_error_t *err, int rc, const tw_label_t *labels, size_t n, int64_t t)
{
    tw_buf_t b;
    tw_buf_init(&b, 400);
    tsdb_labels_format(&b, labels, n);
    const char *why = rc == TW_EOUTOFORDER  ? "out of order sample"
                      : rc == TW_EDUPLICATE ? "duplicate sample for timestamp"
                                            : "too old sample";
    tw_error_set(err, rc, "%s: series %s, timestamp %lld", why, b.data != NULL ? b.data : "{}",
                 (long long)t);
    tw_buf_fini(&b);
    return rc;
}

int tw_tsdb_appender_append(tw_tsdb_appender_t *a, const tw_label_t *labels, size_t nlabels,
                            int64_t t_ms, double v, tw_error_t *err)
{
    if (nlabels == 0 || nlabels > 1024) {
        return tw_error_set(err, TW_EINVAL, "tsdb: a series needs 1 to 1024 labels, got %zu",
                            nlabels);
    }
    bool has_name = false;
    for (size_t i = 0; i < nlabels; i++) {
        if (labels[i].name == NULL || labels[i].value == NULL || labels[i].name[0] == '\0' ||
            (i > 0 && strcmp(labels[i - 1].name, labels[i].name) >= 0)) {
            return tw_error_set(err, TW_EINVAL,
                                "tsdb: labels must be sorted by name, unique and non-empty "
                                "(label %zu)",
                                i);
        }
        if (labels[i].name[0] == '_' && strcmp(labels[i].name, TW_METRIC_NAME_LABEL) == 0) {
            has_name = labels[i].value[0] != '\0';
        }
    }
    if (!has_name) {
        return tw_error_set(err, TW_EINVAL, "tsdb: series without a metric name (__name__)");
    }
    tsdb_head_t *h = a->db->head;
    bool created;
    /* Look up, check and pin under one stripe lock. */
    tsdb_series_t *s = tsdb_head_get_or_create_locked(h, labels, nlabels, &created);
    if (s == NULL) {
        return tw_error_set(err, TW_ELIMIT, "tsdb: series id space exhausted");
    }
    uint64_t vbits;
    memcpy(&vbits, &v, sizeof(vbits));
    tsdb_append_res_t res;
    int rc = tsdb_head_check(h, s, t_ms, vbits, &res);
    bool pinned = rc == 0 && res != TSDB_APPEND_IDENTICAL;
    if (pinned) {
        s->pending++;
    }
    tsdb_head_unlock(h, s);
    if (pinned) {
        txn_ent_t *e = txn_find(a, s, true);
        if (e->max_t == t_ms) {
            if (e->vbits != vbits) {
                rc = TW_EDUPLICATE;
            } else {
                res = TSDB_APPEND_IDENTICAL;
            }
        } else if (e->max_t > t_ms && res == TSDB_APPEND_OK) {
            int64_t maxt = e->max_t;
            if (a->db->opts.out_of_order_window_ms <= 0 ||
                t_ms < maxt - a->db->opts.out_of_order_window_ms) {
                rc = TW_EOUTOFORDER;
            }
        }
        if (rc == 0 && res != TSDB_APPEND_IDENTICAL && t_ms > e->max_t) {
            e->max_t = t_ms;
            e->vbits = vbits;
        }
        if (rc != 0 || res == TSDB_APPEND_IDENTICAL) {
            tsdb_head_unpin(h, s);
        }
    }
    if (rc != 0) {
        /* The caller's labels, equal to the series': s is no longer pinned. */
        tsdb_head_count_reject(h, rc);
        return reject_msg(err, rc, labels, nlabels, t_ms);
    }
    if (res == TSDB_APPEND_IDENTICAL) {
        tsdb_head_count_identical(h);
        return 0;
    }
    tw_grow((void **)&a->p, &a->cap, a->n + 1, sizeof(*a->p));
    a->p[a->n++] = (pend_t){s, t_ms, vbits};
    return 0;
}

static void txn_free(tw_tsdb_appender_t *a)
{
    free(a->p);
    free(a->map);
    free(a);
}

void tw_tsdb_appender_rollback(tw_tsdb_appender_t *a)
{
    if (a == NULL) {
        return;
    }
    for (size_t i = 0; i < a->n; i++) {
        tsdb_head_unpin(a->db->head, a->p[i].s);
    }
    ADD(&a->db->rollbacks, 1);
    txn_free(a);
}

int tw_tsdb_appender_commit(tw_tsdb_appender_t *a, tw_error_t *err)
{
    tw_tsdb_t *db = a->db;
    tsdb_head_t *h = db->head;
    uint64_t seq = 0;
    int rc = 0;
    tsdb_samples2_enc_t enc = {0};
    tsdb_series_t **logged = NULL;
    size_t nlogged = 0, logged_cap = 0;

    pthread_mutex_lock(&db->commit_mu);
    tw_buf_reset(&db->series_rec);
    tw_buf_reset(&db->samples_rec);
    tw_buf_reset(&db->batch);
    size_t done = 0;
    for (; done < a->n; done++) {
        pend_t *p = &a->p[done];
        tsdb_append_res_t res;
        tsdb_head_lock(h, p->s);
        int arc = tsdb_head_append(h, p->s, p->t, p->vbits, &res);
        p->s->pending--;
        tsdb_head_unlock(h, p->s);
        if (arc != 0 || res == TSDB_APPEND_IDENTICAL) {
            continue; /* counted by tsdb_head_append */
        }
        if (!p->s->wal_logged) {
            if (tsdb_record_series_put(&db->series_rec, p->s->ref, p->s->labels, p->s->nlabels) !=
                0) {
                rc = tw_error_set(err, TW_ELIMIT,
                                  "tsdb: transaction too large for one WAL "
                                  "record (64 MiB)");
                break;
            }
            p->s->wal_logged = 1;
            tw_grow((void **)&logged, &logged_cap, nlogged + 1, sizeof(*logged));
            logged[nlogged++] = p->s;
        }
        if (tsdb_record_samples2_put(&db->samples_rec, &enc, p->s->ref, p->t, p->vbits) != 0) {
            rc = tw_error_set(err, TW_ELIMIT,
                              "tsdb: transaction too large for one WAL record "
                              "(64 MiB)");
            break;
        }
    }
    if (rc != 0) {
        /* Unpin what the loop did not reach (the sample at done was applied and unpinned). */
        for (size_t j = done + 1; j < a->n; j++) {
            tsdb_head_unpin(h, a->p[j].s);
        }
    }
    if (db->series_rec.len > 0) {
        tsdb_record_frame(&db->batch, TSDB_REC_SERIES, db->series_rec.data, db->series_rec.len);
    }
    if (db->samples_rec.len > 0) {
        /* Version 2 samples: type 2 on disk in a version 2 segment. */
        tsdb_record_frame(&db->batch, TSDB_REC_SAMPLES, db->samples_rec.data, db->samples_rec.len);
    }
    if (db->batch.len > 0) {
        int wrc = tsdb_wal_write(db->wal, db->batch.data, db->batch.len, &seq, err);
        if (wrc != 0) {
            for (size_t i = 0; i < nlogged; i++) {
                logged[i]->wal_logged = 0;
            }
            rc = rc != 0 ? rc : wrc;
            seq = 0;
        }
    }
    if (db->batch.cap > SCRATCH_KEEP_BYTES) {
        /* A huge transaction (a first scrape of many series, a replayed remote_write batch):
         * do not keep its scratch memory for the life of the process. */
        tw_buf_fini(&db->series_rec);
        tw_buf_fini(&db->samples_rec);
        tw_buf_fini(&db->batch);
    }
    pthread_mutex_unlock(&db->commit_mu);
    if (rc == 0 && seq > 0) {
        rc = tsdb_wal_sync(db->wal, seq, err);
    }
    ADD(&db->commits, 1);
    free(logged);
    txn_free(a);
    return rc;
}

/* ---- sink adapter ---- */

static int sink_begin(void *ctx, void **txn)
{
    tw_tsdb_appender_t *a = tw_tsdb_appender_begin(ctx);
    *txn = a;
    return a != NULL ? 0 : TW_ESTATE;
}

static int sink_append(void *txn, const tw_label_t *labels, size_t nlabels, int64_t t_ms, double v,
                       tw_error_t *err)
{
    return tw_tsdb_appender_append(txn, labels, nlabels, t_ms, v, err);
}

static int sink_commit(void *txn, tw_error_t *err)
{
    return tw_tsdb_appender_commit(txn, err);
}

static void sink_rollback(void *txn)
{
    tw_tsdb_appender_rollback(txn);
}

tw_sink_t tw_tsdb_sink(tw_tsdb_t *db)
{
    tw_sink_t s = {db, sink_begin, sink_append, sink_commit, sink_rollback};
    return s;
}

/* ---- readers, truncation ---- */

tsdb_head_t *tsdb_db_head(tw_tsdb_t *db)
{
    return db->head;
}

void tsdb_db_reader_enter(tw_tsdb_t *db)
{
    pthread_mutex_lock(&db->gc_mu);
    while (db->gc_active) {
        pthread_cond_wait(&db->gc_cond, &db->gc_mu);
    }
    db->readers++;
    pthread_mutex_unlock(&db->gc_mu);
}

void tsdb_db_reader_leave(tw_tsdb_t *db)
{
    pthread_mutex_lock(&db->gc_mu);
    db->readers--;
    pthread_cond_broadcast(&db->gc_cond);
    pthread_mutex_unlock(&db->gc_mu);
}

int tw_tsdb_head_truncate(tw_tsdb_t *db, int64_t mint, tw_error_t *err)
{
    (void)err;
    pthread_mutex_lock(&db->gc_mu);
    while (db->gc_active) {
        pthread_cond_wait(&db->gc_cond, &db->gc_mu);
    }
    db->gc_active = true;
    while (db->readers > 0) {
        pthread_cond_wait(&db->gc_cond, &db->gc_mu);
    }
    pthread_mutex_unlock(&db->gc_mu);
    tsdb_head_truncate(db->head, mint);
    pthread_mutex_lock(&db->gc_mu);
    db->gc_active = false;
    pthread_cond_broadcast(&db->gc_cond);
    pthread_mutex_unlock(&db->gc_mu);
    return 0;
}

/* ---- checkpoint ---- */

typedef struct ckpt {
    tw_tsdb_t *db;
    int64_t mint;
    int fd;
    tw_buf_t rec;   /* payload being rebuilt */
    tw_buf_t frame; /* framed output not yet written */
    tsdb_samples2_enc_t enc;
    int io_err;
    uint64_t bytes;
} ckpt_t;

static int ckpt_flush(ckpt_t *c, bool force)
{
    if (c->frame.len == 0 || (!force && c->frame.len < (1u << 20))) {
        return 0;
    }
    const char *p = c->frame.data;
    size_t n = c->frame.len;
    while (n > 0) {
        ssize_t k = write(c->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            c->io_err = -errno;
            return c->io_err;
        }
        p += k;
        n -= (size_t)k;
    }
    c->bytes += c->frame.len;
    tw_buf_reset(&c->frame);
    return 0;
}

static int ckpt_series(void *ctx, uint64_t ref, const tw_label_t *labels, size_t n)
{
    ckpt_t *c = ctx;
    if (tsdb_head_by_ref(c->db->head, ref) != NULL) {
        return tsdb_record_series_put(&c->rec, ref, labels, n);
    }
    return 0;
}

static int ckpt_sample(void *ctx, uint64_t ref, int64_t t, uint64_t vbits)
{
    ckpt_t *c = ctx;
    if (t >= c->mint && tsdb_head_by_ref(c->db->head, ref) != NULL) {
        return tsdb_record_samples2_put(&c->rec, &c->enc, ref, t, vbits);
    }
    return 0;
}

static int ckpt_record(void *ctx, int type, const uint8_t *payload, size_t len, size_t off)
{
    ckpt_t *c = ctx;
    (void)off;
    tw_buf_reset(&c->rec);
    memset(&c->enc, 0, sizeof(c->enc));
    int rc;
    if (type == TSDB_REC_SERIES) {
        rc = tsdb_record_series_decode(payload, len, ckpt_series, c, NULL);
    } else if (type == TSDB_REC_SAMPLES2) {
        rc = tsdb_record_samples2_decode(payload, len, ckpt_sample, c, NULL);
    } else {
        rc = tsdb_record_samples_decode(payload, len, ckpt_sample, c, NULL);
    }
    if (rc == TW_EPARSE) {
        ADD(&c->db->corruptions, 1);
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    if (c->rec.len > 0) {
        /* Samples are re-encoded as version 2, which is type 2 on disk in a version 2 file. */
        int disk_type = type == TSDB_REC_SERIES ? TSDB_REC_SERIES : TSDB_REC_SAMPLES;
        if (tsdb_record_frame(&c->frame, disk_type, c->rec.data, c->rec.len) != 0) {
            return TW_ELIMIT;
        }
    }
    return ckpt_flush(c, false);
}

static int ckpt_read(ckpt_t *c, const char *path, const char *name, tw_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return tw_error_set(err, -errno, "checkpoint: cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = tw_error_set(err, -errno, "checkpoint: cannot stat %s", path);
        close(fd);
        return rc;
    }
    size_t len = (size_t)st.st_size;
    if (len > 0) {
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = tw_error_set(err, -errno, "checkpoint: cannot map %s", path);
            close(fd);
            return rc;
        }
        tsdb_segment_result_t res;
        rc = tsdb_segment_parse(m, len, false, name, ckpt_record, c, &res, NULL);
        if (rc == TW_EPARSE) {
            rc = 0; /* not a segment: counted below, nothing to keep */
        }
        c->db->corruptions += res.corruptions;
        munmap(m, len);
        if (rc != 0) {
            rc = tw_error_set(err, rc, "checkpoint: rewriting %s failed: %s", path,
                              c->io_err != 0 ? strerror(-c->io_err) : tw_strerror(rc));
        }
    }
    close(fd);
    return rc;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            (void)unlink(p);
        }
        closedir(d);
    }
    (void)rmdir(dir);
}

static uint64_t file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int tw_tsdb_checkpoint(tw_tsdb_t *db, int64_t mint, tw_error_t *err)
{
    if (db->wal == NULL) {
        return tw_error_set(err, TW_ESTATE, "checkpoint: database opened read-only");
    }
    int rc, closed, prev = -1;
    int *segs = NULL, *csegs = NULL;
    size_t nsegs = 0, ncsegs = 0;
    char tmp[4096], final[4096], path[4200], name[64], pdir[4096];
    ckpt_t c = {.db = db, .mint = mint, .fd = -1};
    int64_t removed_bytes = 0;
    tw_buf_init(&c.rec, TSDB_WAL_MAX_RECORD);
    tw_buf_init(&c.frame, 2 * (size_t)TSDB_WAL_MAX_RECORD);
    pthread_mutex_lock(&db->ckpt_mu);
    pthread_mutex_lock(&db->commit_mu);
    rc = tsdb_wal_cut(db->wal, &closed, err);
    pthread_mutex_unlock(&db->commit_mu);
    if (rc != 0) {
        goto out;
    }
    if ((rc = tsdb_wal_list(db->wal_dir, &segs, &nsegs, &prev, err)) != 0) {
        goto out;
    }
    snprintf(tmp, sizeof(tmp), "%s/checkpoint.%08d.tmp", db->wal_dir, closed);
    snprintf(final, sizeof(final), "%s/checkpoint.%08d", db->wal_dir, closed);
    rm_dir(tmp);
    if (mkdir(tmp, 0755) != 0) {
        rc = tw_error_set(err, -errno, "checkpoint: cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/00000000", tmp);
    c.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c.fd < 0) {
        rc = tw_error_set(err, -errno, "checkpoint: cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    tw_buf_append(&c.frame, TSDB_WAL_MAGIC, TSDB_WAL_MAGIC_LEN);
    if (prev >= 0) {
        snprintf(pdir, sizeof(pdir), "%s/checkpoint.%08d", db->wal_dir, prev);
        if ((rc = list_dir_files(pdir, &csegs, &ncsegs, err)) != 0) {
            goto out;
        }
        for (size_t i = 0; i < ncsegs; i++) {
            snprintf(path, sizeof(path), "%s/%08d", pdir, csegs[i]);
            snprintf(name, sizeof(name), "checkpoint.%08d/%08d", prev, csegs[i]);
            if ((rc = ckpt_read(&c, path, name, err)) != 0) {
                goto out;
            }
        }
    }
    for (size_t i = 0; i < nsegs; i++) {
        if (segs[i] > closed || segs[i] <= prev) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%08d", db->wal_dir, segs[i]);
        snprintf(name, sizeof(name), "segment %08d", segs[i]);
        if ((rc = ckpt_read(&c, path, name, err)) != 0) {
            goto out;
        }
    }
    if ((rc = ckpt_flush(&c, true)) != 0 || fsync(c.fd) != 0) {
        rc = tw_error_set(err, rc != 0 ? rc : -errno, "checkpoint: cannot write %s", tmp);
        goto out;
    }
    close(c.fd);
    c.fd = -1;
    fsync_dir(tmp);
    if (rename(tmp, final) != 0) {
        rc = tw_error_set(err, -errno, "checkpoint: cannot rename %s: %s", tmp, strerror(errno));
        goto out;
    }
    fsync_dir(db->wal_dir);
    removed_bytes -= (int64_t)c.bytes;
    /* The new state is durable; now forget the old one. */
    for (size_t i = 0; i < nsegs; i++) {
        if (segs[i] <= closed) {
            snprintf(path, sizeof(path), "%s/%08d", db->wal_dir, segs[i]);
            removed_bytes += (int64_t)file_size(path);
            (void)unlink(path);
        }
    }
    if (prev >= 0) {
        for (size_t i = 0; i < ncsegs; i++) {
            snprintf(path, sizeof(path), "%s/%08d", pdir, csegs[i]);
            removed_bytes += (int64_t)file_size(path);
        }
        rm_dir(pdir);
    }
    fsync_dir(db->wal_dir);
out:
    if (c.fd >= 0) {
        close(c.fd);
        rm_dir(tmp);
    }
    tsdb_wal_note_truncation(db->wal, rc == 0, rc == 0 ? -removed_bytes : 0);
    pthread_mutex_unlock(&db->ckpt_mu);
    tw_buf_fini(&c.rec);
    tw_buf_fini(&c.frame);
    free(segs);
    free(csegs);
    return rc;
}

/* ---- stats and self-metrics ---- */

void tw_tsdb_stats_get(tw_tsdb_t *db, tw_tsdb_stats_t *st)
{
    tsdb_head_stats_t hs;
    tsdb_head_stats_get(db->head, &hs);
    memset(st, 0, sizeof(*st));
    st->head_series = hs.series;
    st->head_chunks = hs.chunks;
    st->head_series_created = hs.created;
    st->head_series_removed = hs.removed;
    st->samples_appended = hs.appended;
    st->ooo_samples_appended = hs.ooo_appended;
    st->duplicates_ignored = hs.identical;
    st->rejected_out_of_order = hs.rej_ooo;
    st->rejected_duplicate = hs.rej_dup;
    st->rejected_too_old = hs.rej_old;
    st->head_truncations = hs.truncations;
    st->head_min_time = hs.mint;
    st->head_max_time = hs.maxt;
    st->commits = LOAD(&db->commits);
    st->rollbacks = LOAD(&db->rollbacks);
    st->wal_corruptions = LOAD(&db->corruptions);
    if (db->wal != NULL) {
        tsdb_wal_stats_t ws;
        tsdb_wal_stats_get(db->wal, &ws);
        st->wal_bytes = ws.bytes;
        st->wal_fsyncs = ws.fsyncs;
        st->wal_fsync_seconds = ws.fsync_seconds;
        st->wal_truncations = ws.truncations;
        st->wal_truncation_failures = ws.truncation_failures;
    }
    tsdb_blockset_t *bs = &db->bs;
    st->lowest_timestamp = hs.mint;
    pthread_mutex_lock(&bs->mu);
    st->blocks_loaded = bs->n;
    for (size_t i = 0; i < bs->n; i++) {
        st->blocks_bytes += bs->blocks[i]->bytes;
        if (bs->blocks[i]->meta.mint < st->lowest_timestamp) {
            st->lowest_timestamp = bs->blocks[i]->meta.mint;
        }
    }
    st->blocks_skipped = bs->blocks_skipped;
    st->head_cuts = bs->head_cuts;
    st->compactions = bs->compactions;
    st->compactions_failed = bs->compactions_failed;
    st->compaction_runs = bs->compaction_count;
    st->compaction_seconds = bs->compaction_seconds;
    st->time_retentions = bs->time_retentions;
    st->size_retentions = bs->size_retentions;
    st->blocks_deleted = bs->blocks_deleted;
    pthread_mutex_unlock(&bs->mu);
}

static void one(tw_mset_t *out, const char *name, tw_metric_type_t type, const char *help, double v)
{
    tw_mfamily_t *f = tw_mset_family(out, name, type, help, NULL);
    tw_mset_add(out, f, NULL, NULL, 0, v, TW_NO_TIMESTAMP);
}

void tw_tsdb_collect_metrics(tw_tsdb_t *db, tw_mset_t *out)
{
    tw_tsdb_stats_t s;
    tw_tsdb_stats_get(db, &s);
    one(out, "tidewatch_tsdb_head_series", TW_MTYPE_GAUGE, "Total number of series in the head.",
        (double)s.head_series);
    one(out, "tidewatch_tsdb_head_chunks", TW_MTYPE_GAUGE, "Total number of chunks in the head.",
        (double)s.head_chunks);
    one(out, "tidewatch_tsdb_head_series_created_total", TW_MTYPE_COUNTER,
        "Total number of series created in the head.", (double)s.head_series_created);
    one(out, "tidewatch_tsdb_head_series_removed_total", TW_MTYPE_COUNTER,
        "Total number of series removed from the head.", (double)s.head_series_removed);
    one(out, "tidewatch_tsdb_head_samples_appended_total", TW_MTYPE_COUNTER,
        "Total number of appended samples.", (double)s.samples_appended);
    one(out, "tidewatch_tsdb_head_out_of_order_samples_appended_total", TW_MTYPE_COUNTER,
        "Total number of appended out-of-order samples (inside the window).",
        (double)s.ooo_samples_appended);
    one(out, "tidewatch_tsdb_duplicate_samples_ignored_total", TW_MTYPE_COUNTER,
        "Total number of identical resends (same timestamp and value) ignored.",
        (double)s.duplicates_ignored);
    tw_mfamily_t *f = tw_mset_family(out, "tidewatch_tsdb_samples_rejected_total", TW_MTYPE_COUNTER,
                                     "Total number of samples rejected, by reason.", NULL);
    static const char *reasons[] = {"out_of_order", "duplicate", "too_old"};
    double vals[] = {(double)s.rejected_out_of_order, (double)s.rejected_duplicate,
                     (double)s.rejected_too_old};
    for (int i = 0; i < 3; i++) {
        tw_label_t l = {"reason", reasons[i]};
        tw_mset_add(out, f, NULL, &l, 1, vals[i], TW_NO_TIMESTAMP);
    }
    one(out, "tidewatch_tsdb_wal_storage_size_bytes", TW_MTYPE_GAUGE,
        "Size of the write-ahead log directory (segments and checkpoint).", (double)s.wal_bytes);
    f = tw_mset_family(out, "tidewatch_tsdb_wal_fsync_duration_seconds", TW_MTYPE_SUMMARY,
                       "Duration of write-ahead log fsyncs.", "seconds");
    tw_mset_add(out, f, "_sum", NULL, 0, s.wal_fsync_seconds, TW_NO_TIMESTAMP);
    tw_mset_add(out, f, "_count", NULL, 0, (double)s.wal_fsyncs, TW_NO_TIMESTAMP);
    one(out, "tidewatch_tsdb_wal_truncations_total", TW_MTYPE_COUNTER,
        "Total number of write-ahead log truncations (checkpoints).", (double)s.wal_truncations);
    one(out, "tidewatch_tsdb_wal_truncations_failed_total", TW_MTYPE_COUNTER,
        "Total number of write-ahead log truncations that failed.",
        (double)s.wal_truncation_failures);
    one(out, "tidewatch_tsdb_wal_corruptions_total", TW_MTYPE_COUNTER,
        "Total number of damaged write-ahead log records found.", (double)s.wal_corruptions);
    one(out, "tidewatch_tsdb_head_truncations_total", TW_MTYPE_COUNTER,
        "Total number of head truncations.", (double)s.head_truncations);
    one(out, "tidewatch_tsdb_head_min_time", TW_MTYPE_GAUGE,
        "Minimum time bound of the head block (ms).",
        s.head_min_time == INT64_MAX ? 0 : (double)s.head_min_time);
    one(out, "tidewatch_tsdb_head_max_time", TW_MTYPE_GAUGE,
        "Maximum timestamp of the head block (ms).",
        s.head_max_time == INT64_MIN ? 0 : (double)s.head_max_time);
    one(out, "tidewatch_tsdb_blocks_loaded", TW_MTYPE_GAUGE,
        "Number of currently loaded data blocks.", (double)s.blocks_loaded);
    one(out, "tidewatch_tsdb_blocks_skipped_total", TW_MTYPE_COUNTER,
        "Number of damaged blocks skipped when loading.", (double)s.blocks_skipped);
    one(out, "tidewatch_tsdb_compactions_total", TW_MTYPE_COUNTER,
        "Total number of compactions that were executed for the partition.", (double)s.compactions);
    one(out, "tidewatch_tsdb_compactions_failed_total", TW_MTYPE_COUNTER,
        "Total number of compactions that failed for the partition.", (double)s.compactions_failed);
    f = tw_mset_family(out, "tidewatch_tsdb_compaction_duration_seconds", TW_MTYPE_SUMMARY,
                       "Duration of compaction runs (block writes, head cuts included).",
                       "seconds");
    tw_mset_add(out, f, "_sum", NULL, 0, s.compaction_seconds, TW_NO_TIMESTAMP);
    tw_mset_add(out, f, "_count", NULL, 0, (double)s.compaction_runs, TW_NO_TIMESTAMP);
    one(out, "tidewatch_tsdb_time_retentions_total", TW_MTYPE_COUNTER,
        "The number of times that blocks were deleted because the maximum time limit was "
        "exceeded.",
        (double)s.time_retentions);
    one(out, "tidewatch_tsdb_size_retentions_total", TW_MTYPE_COUNTER,
        "The number of times that blocks were deleted because the maximum number of bytes was "
        "exceeded.",
        (double)s.size_retentions);
    one(out, "tidewatch_tsdb_retention_deleted_blocks_total", TW_MTYPE_COUNTER,
        "Number of blocks deleted by retention (time or size).", (double)s.blocks_deleted);
    one(out, "tidewatch_tsdb_storage_blocks_bytes", TW_MTYPE_GAUGE,
        "The number of bytes that are currently used for local storage by all blocks.",
        (double)s.blocks_bytes);
    one(out, "tidewatch_tsdb_lowest_timestamp", TW_MTYPE_GAUGE,
        "Lowest timestamp value stored in the database (ms).",
        s.lowest_timestamp == INT64_MAX ? 0 : (double)s.lowest_timestamp);
}
