/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tsdb_block.c - on-disk blocks: cutting from the head and reopening, queries merging head
 * and blocks (overlapping blocks included), leveled compaction, retention by time and size,
 * damaged blocks skipped with a report, leftovers of a crash removed, snapshots, the head
 * staying flat over many cuts, and promtool 2.42 reading our blocks (skipped without promtool).
 * Time is data time: tw_tsdb_compact() is called directly (no background thread).
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/mem.h"
#include "tsdb_test_util.h"

#define H ((int64_t)3600 * 1000)
#define NOW INT64_C(1698840000000) /* 2023-11-01T12:00:00Z */

static tw_tsdb_t *open_db(const char *dir, int64_t range, int64_t retention, uint64_t size)
{
    tw_tsdb_options_t o;
    tw_tsdb_options_default(&o);
    o.path = dir;
    o.fsync_policy = TW_TSDB_FSYNC_NEVER;
    o.block_range_ms = range;
    o.retention_time_ms = retention;
    o.retention_size_bytes = size;
    o.compact_interval_ms = 0;
    tw_tsdb_t *db = NULL;
    tw_error_t err;
    if (tw_tsdb_open(&o, &db, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
    }
    return db;
}

/* Appends series m{i="0".."nser-1"} every 15 s over [from, to) (one transaction per time). */
static void fill(tw_tsdb_t *db, int nser, int64_t from, int64_t to)
{
    char vals[16][16];
    for (int64_t t = from; t < to; t += 15000) {
        tw_tsdb_appender_t *a = tw_tsdb_appender_begin(db);
        for (int i = 0; i < nser; i++) {
            snprintf(vals[i], sizeof(vals[i]), "%d", i);
            tw_label_t l[2] = {{"__name__", "m"}, {"i", vals[i]}};
            assert_int_equal(
                tw_tsdb_appender_append(a, l, 2, t, (double)(t / 15000) * (i + 1) + 0.5, NULL), 0);
        }
        assert_int_equal(tw_tsdb_appender_commit(a, NULL), 0);
    }
}

/* The expected render of fill()'s data over [from, to). */
static void expect(tw_buf_t *b, int nser, int64_t from, int64_t to)
{
    tw_buf_reset(b);
    for (int i = 0; i < nser; i++) {
        tw_buf_printf(b, "{__name__=m,i=%d}", i);
        for (int64_t t = from; t < to; t += 15000) {
            tw_buf_printf(b, " %lld=%g", (long long)t, (double)(t / 15000) * (i + 1) + 0.5);
        }
        tw_buf_putc(b, '\n');
    }
}

/* Sorted block directory names under dir. */
static size_t list_blocks(const char *dir, char names[][32], size_t cap)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (tsdb_ulid_valid(e->d_name) && n < cap) {
            tw_strlcpy(names[n++], e->d_name, 32);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[32];
            memcpy(t, names[j], 32);
            memcpy(names[j], names[j - 1], 32);
            memcpy(names[j - 1], t, 32);
        }
    }
    return n;
}

static void read_meta(const char *dir, const char *ulid, tw_buf_t *out)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s/meta.json", dir, ulid);
    tw_buf_reset(out);
    assert_int_equal(tw_buf_read_file(out, p, NULL), 0);
}

static void test_cut_and_reopen(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_db(dir, 2 * H, 0, 0);
    fill(db, 3, 0, 3 * H + H / 2); /* spans 3.5 h > 1.5 x 2 h */
    tw_buf_t want, got, meta;
    tw_buf_init(&want, 0);
    tw_buf_init(&got, 0);
    tw_buf_init(&meta, 0);
    expect(&want, 3, 0, 3 * H + H / 2);
    tw_error_t err;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.blocks_loaded, 1);
    assert_int_equal(st.head_cuts, 1);
    /* the head forgot what the block holds: chunks ending before 2 h are gone */
    assert_int_equal(tsdb_head_min_valid(tsdb_db_head(db)), 2 * H);
    assert_int_equal(st.lowest_timestamp, 0);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &got);
    assert_string_equal(got.data, want.data);
    char names[8][32];
    assert_int_equal(list_blocks(dir, names, 8), 1);
    read_meta(dir, names[0], &meta);
    char wantmeta[1024];
    snprintf(wantmeta, sizeof(wantmeta),
             "{\n\t\"ulid\": \"%s\",\n\t\"minTime\": 0,\n\t\"maxTime\": 7200000,\n"
             "\t\"stats\": {\n\t\t\"numSamples\": 1440,\n\t\t\"numSeries\": 3,\n"
             "\t\t\"numChunks\": 6\n\t},\n\t\"compaction\": {\n\t\t\"level\": 1,\n"
             "\t\t\"sources\": [\n\t\t\t\"%s\"\n\t\t]\n\t},\n\t\"version\": 1\n}",
             names[0], names[0]);
    assert_string_equal(meta.data, wantmeta);
    /* the ULID carries now_ms */
    assert_memory_equal(names[0], "01HE5C2DG0", 10);
    tw_tsdb_close(db);
    db = open_db(dir, 2 * H, 0, 0);
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.blocks_loaded, 1);
    assert_string_equal(tw_tsdb_blocks_report(db), "");
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &got);
    assert_string_equal(got.data, want.data);
    /* a selector and a range entirely inside the block */
    tw_matcher_t m;
    assert_int_equal(tw_matcher_init(&m, TW_MATCH_EQ, "i", "1", NULL), 0);
    tt_render(db, &m, 1, 15000, 45000, &got);
    assert_string_equal(got.data, "{__name__=m,i=1} 15000=2.5 30000=4.5 45000=6.5\n");
    tw_matcher_fini(&m);
    /* label names and values come from the block too */
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, 0, 1000);
    const char **v;
    size_t nv;
    tw_tsdb_querier_label_values(q, "i", &v, &nv);
    assert_int_equal(nv, 3);
    assert_string_equal(v[2], "2");
    free(v);
    tw_tsdb_querier_free(q);
    tw_tsdb_close(db);
    tw_buf_fini(&want);
    tw_buf_fini(&got);
    tw_buf_fini(&meta);
    tt_rmrf(dir);
}

/* Writes a block straight from a list of samples of series m{i="0"} (for overlaps). */
typedef struct lsrc {
    const int64_t *t;
    const double *v;
    size_t n, i;
    bool done;
} lsrc_t;

static bool lsrc_next(void *ctx, const tw_label_t **l, size_t *n)
{
    static const tw_label_t lab[2] = {{"__name__", "m"}, {"i", "0"}};
    lsrc_t *s = ctx;
    if (s->done) {
        return false;
    }
    s->done = true;
    *l = lab;
    *n = 2;
    return true;
}

static bool lsrc_sample(void *ctx, int64_t *t, uint64_t *vb)
{
    lsrc_t *s = ctx;
    if (s->i >= s->n) {
        return false;
    }
    *t = s->t[s->i];
    memcpy(vb, &s->v[s->i], sizeof(*vb));
    s->i++;
    return true;
}

static void write_list_block(const char *dir, int64_t mint, int64_t maxt, const int64_t *t,
                             const double *v, size_t n, char *ulid_out)
{
    tsdb_block_meta_t meta = {0};
    char self[TSDB_ULID_LEN + 1];
    tsdb_ulid_new(meta.ulid, NOW);
    memcpy(self, meta.ulid, sizeof(self));
    meta.mint = mint;
    meta.maxt = maxt;
    meta.level = 1;
    meta.sources = &self;
    meta.nsources = 1;
    lsrc_t s = {t, v, n, 0, false};
    tsdb_wsource_t src = {&s, lsrc_next, lsrc_sample};
    bool empty;
    tw_error_t err;
    assert_int_equal(tsdb_block_write(dir, &meta, &src, 120, &empty, &err), 0);
    assert_false(empty);
    if (ulid_out != NULL) {
        memcpy(ulid_out, meta.ulid, TSDB_ULID_LEN + 1);
    }
}

static void test_query_head_and_blocks(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_db(dir, 2 * H, 0, 0);
    fill(db, 2, 0, 5 * H + H / 2);
    tw_error_t err;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.blocks_loaded, 2); /* [0, 2h) and [2h, 4h); 4h..5.5h stays in the head */
    tw_buf_t want, got;
    tw_buf_init(&want, 0);
    tw_buf_init(&got, 0);
    expect(&want, 2, 0, 5 * H + H / 2);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &got);
    assert_string_equal(got.data, want.data);
    /* a range crossing both block boundaries */
    tt_render(db, NULL, 0, 2 * H - 15000, 4 * H + 15000, &got);
    expect(&want, 2, 2 * H - 15000, 4 * H + 30000);
    assert_string_equal(got.data, want.data);
    /* seek across sources */
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, INT64_MIN, INT64_MAX);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, NULL, 0, NULL);
    assert_true(tw_tsdb_series_set_next(set));
    tw_tsdb_iter_t *it = tw_tsdb_series_set_iter(set, NULL);
    int64_t t;
    double v;
    assert_true(tw_tsdb_iter_seek(it, 4 * H - 1));
    tw_tsdb_iter_at(it, &t, &v);
    assert_int_equal(t, 4 * H);
    assert_true(tw_tsdb_iter_next(it));
    tw_tsdb_iter_at(it, &t, &v);
    assert_int_equal(t, 4 * H + 15000);
    tw_tsdb_iter_free(it);
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
    tw_tsdb_close(db);
    /* An overlapping block (as another tool or a backfill would leave): same series, one
     * duplicate sample at 0 and new samples between the existing ones. */
    int64_t ts[] = {0, 7500, 22500, 7200000 + 7500};
    double vs[] = {0.5, 100, 200, 300};
    write_list_block(dir, 0, 7200000 + 15000, ts, vs, 4, NULL);
    db = open_db(dir, 2 * H, 0, 0);
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.blocks_loaded, 3);
    tt_render(db, NULL, 0, 0, 30000, &got);
    assert_string_equal(got.data, "{__name__=m,i=0} 0=0.5 7500=100 15000=1.5 22500=200 30000=2.5\n"
                                  "{__name__=m,i=1} 0=0.5 15000=2.5 30000=4.5\n");
    tt_render(db, NULL, 0, 2 * H - 15000, 2 * H + 15000, &got);
    assert_string_equal(got.data, "{__name__=m,i=0} 7185000=479.5 7200000=480.5 7207500=300 "
                                  "7215000=481.5\n"
                                  "{__name__=m,i=1} 7185000=958.5 7200000=960.5 7215000=962.5\n");
    /* vertical compaction merges the overlapping blocks into one, with the same answers */
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.blocks_loaded, 1);
    assert_int_equal(st.compactions, 1);
    tt_render(db, NULL, 0, 0, 30000, &got);
    assert_string_equal(got.data, "{__name__=m,i=0} 0=0.5 7500=100 15000=1.5 22500=200 30000=2.5\n"
                                  "{__name__=m,i=1} 0=0.5 15000=2.5 30000=4.5\n");
    tt_render(db, NULL, 0, 2 * H - 15000, 2 * H + 15000, &got);
    assert_string_equal(got.data, "{__name__=m,i=0} 7185000=479.5 7200000=480.5 7207500=300 "
                                  "7215000=481.5\n"
                                  "{__name__=m,i=1} 7185000=958.5 7200000=960.5 7215000=962.5\n");
    tw_tsdb_close(db);
    tw_buf_fini(&want);
    tw_buf_fini(&got);
    tt_rmrf(dir);
}

static void test_compaction(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_db(dir, 2 * H, 0, 0);
    fill(db, 3, 0, 9 * H + H / 2);
    tw_error_t err;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    /* cuts [0,2h) [2h,4h) [4h,6h) [6h,8h); the three first are one 6 h range */
    assert_int_equal(st.head_cuts, 4);
    assert_int_equal(st.compactions, 1);
    assert_int_equal(st.blocks_loaded, 2);
    char names[8][32];
    assert_int_equal(list_blocks(dir, names, 8), 2);
    tw_buf_t meta, want, got;
    tw_buf_init(&meta, 0);
    tw_buf_init(&want, 0);
    tw_buf_init(&got, 0);
    tsdb_block_t **bl;
    size_t n = tsdb_db_blocks_acquire(db, &bl);
    assert_int_equal(n, 2);
    assert_int_equal(bl[0]->meta.mint, 0);
    assert_int_equal(bl[0]->meta.maxt, 6 * H);
    assert_int_equal(bl[0]->meta.level, 2);
    assert_int_equal(bl[0]->meta.nsources, 3);
    assert_int_equal(bl[0]->meta.nsamples, 3 * 3 * 480); /* the sum of the three blocks */
    assert_int_equal(bl[0]->meta.nseries, 3);
    assert_int_equal(bl[0]->meta.nchunks, 18); /* 1440 samples a series, 240 a chunk */
    assert_int_equal(bl[1]->meta.mint, 6 * H);
    assert_int_equal(bl[1]->meta.level, 1);
    read_meta(dir, bl[0]->meta.ulid, &meta);
    assert_non_null(strstr(meta.data, "\"numSamples\": 4320,\n\t\t\"numSeries\": 3,\n"
                                      "\t\t\"numChunks\": 18\n"));
    assert_non_null(strstr(meta.data, "\"level\": 2,"));
    for (size_t i = 0; i < n; i++) {
        tsdb_block_unref(bl[i]);
    }
    free(bl);
    expect(&want, 3, 0, 9 * H + H / 2);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &got);
    assert_string_equal(got.data, want.data);
    tw_tsdb_close(db);
    db = open_db(dir, 2 * H, 0, 0);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &got);
    assert_string_equal(got.data, want.data);
    tw_tsdb_close(db);
    tw_buf_fini(&meta);
    tw_buf_fini(&want);
    tw_buf_fini(&got);
    tt_rmrf(dir);
}

static void test_compaction_plan(void **state)
{
    (void)state;
    int64_t r[10];
    /* 15 d retention: 10 % is 36 h, so 2 h, 6 h, 18 h */
    assert_int_equal(tsdb_compact_ranges(2 * H, 36 * H, r, 10), 3);
    assert_int_equal(r[2], 18 * H);
    tsdb_block_meta_t m[5] = {0};
    const tsdb_block_meta_t *p[5];
    int64_t spans[5][2] = {{0, 2 * H}, {2 * H, 4 * H}, {4 * H, 6 * H}, {6 * H, 8 * H}, {0, 0}};
    for (int i = 0; i < 5; i++) {
        m[i].mint = spans[i][0];
        m[i].maxt = spans[i][1];
        p[i] = &m[i];
    }
    size_t out[5];
    /* three blocks: the newest stays out, and two do not fill 6 h nor end before the newest */
    assert_int_equal(tsdb_compact_plan(p, 3, r, 3, out), 0);
    assert_int_equal(tsdb_compact_plan(p, 4, r, 3, out), 3);
    assert_int_equal(out[2], 2);
    /* a gap: [0,2h) [4h,6h) then a newer block: before the newest, so merged */
    const tsdb_block_meta_t *g[3] = {&m[0], &m[2], &m[3]};
    assert_int_equal(tsdb_compact_plan(g, 3, r, 3, out), 2);
    /* overlapping blocks are merged first, whatever their age */
    m[4].mint = H;
    m[4].maxt = 3 * H;
    const tsdb_block_meta_t *o[3] = {&m[0], &m[4], &m[1]};
    assert_int_equal(tsdb_compact_plan(o, 3, r, 3, out), 3);
}

static void test_retention_time(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    /* 5 h retention: blocks stay at 2 h (10 % of it is below 6 h), nothing is compacted */
    tw_tsdb_t *db = open_db(dir, 2 * H, 5 * H, 0);
    fill(db, 2, 0, 9 * H + H / 2);
    tw_error_t err;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.head_cuts, 4);
    assert_int_equal(st.compactions, 0);
    /* newest block ends at 8 h: [0,2h) ends 6 h before (> 5 h), [2h,4h) 4 h before (kept) */
    assert_int_equal(st.blocks_loaded, 3);
    assert_int_equal(st.blocks_deleted, 1);
    assert_int_equal(st.time_retentions, 1);
    assert_int_equal(st.size_retentions, 0);
    assert_int_equal(st.lowest_timestamp, 2 * H);
    tsdb_block_t **bl;
    size_t n = tsdb_db_blocks_acquire(db, &bl);
    assert_int_equal(n, 3);
    assert_int_equal(bl[0]->meta.mint, 2 * H);
    for (size_t i = 0; i < n; i++) {
        tsdb_block_unref(bl[i]);
    }
    free(bl);
    char names[8][32];
    assert_int_equal(list_blocks(dir, names, 8), 3);
    tw_buf_t got, want;
    tw_buf_init(&got, 0);
    tw_buf_init(&want, 0);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &got);
    expect(&want, 2, 2 * H, 9 * H + H / 2);
    assert_string_equal(got.data, want.data);
    tw_tsdb_close(db);
    tw_buf_fini(&got);
    tw_buf_fini(&want);
    tt_rmrf(dir);
}

static void test_retention_size(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_db(dir, 2 * H, 100 * H, 0);
    fill(db, 2, 0, 9 * H + H / 2);
    tw_error_t err;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    tsdb_block_t **bl;
    size_t n = tsdb_db_blocks_acquire(db, &bl);
    /* 100 h retention: ranges 2 h, 6 h: [0,6h) merged, [6h,8h) alone */
    assert_int_equal(n, 2);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    /* room for the WAL and the newest block plus half of the older one: the older goes */
    uint64_t limit = st.wal_bytes + bl[1]->bytes + bl[0]->bytes / 2;
    char keep[TSDB_ULID_LEN + 1];
    memcpy(keep, bl[1]->meta.ulid, sizeof(keep));
    for (size_t i = 0; i < n; i++) {
        tsdb_block_unref(bl[i]);
    }
    free(bl);
    ((tw_tsdb_options_t *)tsdb_db_options(db))->retention_size_bytes = limit;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.blocks_loaded, 1);
    assert_int_equal(st.size_retentions, 1);
    assert_int_equal(st.time_retentions, 0);
    assert_int_equal(st.blocks_deleted, 1);
    char names[8][32];
    assert_int_equal(list_blocks(dir, names, 8), 1);
    assert_string_equal(names[0], keep);
    /* exactly at the limit: nothing more goes */
    ((tw_tsdb_options_t *)tsdb_db_options(db))->retention_size_bytes =
        st.wal_bytes + st.blocks_bytes;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.blocks_loaded, 1);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static void test_corrupt_blocks(void **state)
{
    (void)state;
    char dir[64], p[512];
    tt_tmpdir(dir, sizeof(dir));
    /* 5 h retention: 2 h blocks only (see test_retention_time) */
    tw_tsdb_t *db = open_db(dir, 2 * H, 5 * H, 0);
    fill(db, 2, 0, 9 * H + H / 2);
    tw_error_t err;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    tw_tsdb_close(db);
    char names[8][32];
    assert_int_equal(list_blocks(dir, names, 8), 3); /* [0,2h) went by retention */
    /* block 0: a flipped byte in the index's symbol table */
    snprintf(p, sizeof(p), "%s/%s/index", dir, names[0]);
    flip_byte(p, 16);
    /* block 1: its chunk file cut in half */
    snprintf(p, sizeof(p), "%s/%s/chunks/000001", dir, names[1]);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size / 2), 0);
    /* block 2 stays good; a fourth directory has a broken meta.json */
    char bad[64];
    snprintf(bad, sizeof(bad), "01HE526S00AAAAAAAAAAAAAAAA");
    snprintf(p, sizeof(p), "%s/%s", dir, bad);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/%s/meta.json", dir, bad);
    FILE *f = fopen(p, "w");
    fputs("{\"ulid\": ", f);
    fclose(f);
    db = open_db(dir, 2 * H, 5 * H, 0);
    assert_non_null(db);
    tw_tsdb_stats_t s;
    tw_tsdb_stats_get(db, &s);
    assert_int_equal(s.blocks_loaded, 1);
    assert_int_equal(s.blocks_skipped, 3);
    const char *r = tw_tsdb_blocks_report(db);
    char want[512];
    snprintf(want, sizeof(want),
             "block %s: index: symbol table at offset 5: checksum mismatch (skipped)", names[0]);
    assert_non_null(strstr(r, want));
    snprintf(want, sizeof(want), "block %s: chunk reference", names[1]);
    assert_non_null(strstr(r, want));
    assert_non_null(strstr(r, "lies outside the chunk files (truncated chunks/000001?)"));
    snprintf(want, sizeof(want), "block %s: meta.json:", bad);
    assert_non_null(strstr(r, want));
    tw_tsdb_close(db);
    /* dump reads what is readable and does not crash either */
    FILE *out = tmpfile();
    assert_int_equal(tw_tsdb_dump(dir, NULL, 0, INT64_MIN, INT64_MAX, out, &err), 0);
    assert_int_equal(err.code, 0);
    snprintf(want, sizeof(want), "blocks of %s: block ", dir);
    assert_memory_equal(err.msg, want, strlen(want));
    snprintf(want, sizeof(want), "block %s: index: symbol table", names[0]);
    assert_non_null(strstr(err.msg, want));
    /* the good block [6h, 8h) and the head: 2 series every 15 s from 6 h to 9.5 h */
    rewind(out);
    int c, lines = 0;
    while ((c = fgetc(out)) != EOF) {
        lines += c == '\n';
    }
    assert_int_equal(lines, 2 * 840);
    fclose(out);
    tt_rmrf(dir);
}

static void test_leftovers_cleaned(void **state)
{
    (void)state;
    char dir[64], p[512];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_db(dir, 2 * H, 0, 0);
    fill(db, 1, 0, 3 * H + H / 2);
    tw_error_t err;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    tw_tsdb_close(db);
    /* a crash during a block write and one during a deletion */
    snprintf(p, sizeof(p), "%s/01HE526S00BBBBBBBBBBBBBBBB.tmp-for-creation", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/01HE526S00BBBBBBBBBBBBBBBB.tmp-for-creation/index", dir);
    FILE *f = fopen(p, "w");
    fputs("half an index", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/01HE526S00CCCCCCCCCCCCCCCC.tmp-for-deletion", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    db = open_db(dir, 2 * H, 0, 0);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.blocks_loaded, 1);
    assert_int_equal(st.blocks_skipped, 0);
    snprintf(p, sizeof(p), "%s/01HE526S00BBBBBBBBBBBBBBBB.tmp-for-creation", dir);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof(p), "%s/01HE526S00CCCCCCCCCCCCCCCC.tmp-for-deletion", dir);
    assert_int_equal(access(p, F_OK), -1);
    assert_non_null(strstr(tw_tsdb_blocks_report(db),
                           "01HE526S00BBBBBBBBBBBBBBBB.tmp-for-creation: leftover of an "
                           "interrupted block write or deletion removed\n"));
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

static void test_snapshot(void **state)
{
    (void)state;
    char dir[64], p[512];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_db(dir, 2 * H, 0, 0);
    fill(db, 2, 0, 3 * H + H / 2);
    tw_error_t err;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    char name[64];
    assert_int_equal(tw_tsdb_snapshot(db, NOW, false, name, sizeof(name), &err), 0);
    assert_int_equal(strlen(name), 16 + 1 + 16);
    assert_memory_equal(name, "20231101T120000Z-", 17);
    assert_int_equal(strspn(name + 17, "0123456789abcdef"), 16);
    snprintf(p, sizeof(p), "%s/snapshots/%s", dir, name);
    char names[8][32];
    assert_int_equal(list_blocks(p, names, 8), 2); /* the block and the head */
    /* the snapshot is a loadable data directory with the same data */
    tw_buf_t want, got;
    tw_buf_init(&want, 0);
    tw_buf_init(&got, 0);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &want);
    tw_tsdb_options_t o;
    tw_tsdb_options_default(&o);
    o.path = p;
    o.read_only = true;
    tw_tsdb_t *snap;
    assert_int_equal(tw_tsdb_open(&o, &snap, &err), 0);
    tt_render(snap, NULL, 0, INT64_MIN, INT64_MAX, &got);
    assert_string_equal(got.data, want.data);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(snap, &st);
    assert_int_equal(st.blocks_loaded, 2);
    tw_tsdb_close(snap);
    /* skip_head: only the blocks */
    assert_int_equal(tw_tsdb_snapshot(db, NOW + 1000, true, name, sizeof(name), &err), 0);
    assert_memory_equal(name, "20231101T120001Z-", 17);
    snprintf(p, sizeof(p), "%s/snapshots/%s", dir, name);
    assert_int_equal(list_blocks(p, names, 8), 1);
    tw_tsdb_close(db);
    tw_buf_fini(&want);
    tw_buf_fini(&got);
    tt_rmrf(dir);
}

static void test_head_stays_flat(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_db(dir, H, 0, 0);
    tw_error_t err;
    tw_tsdb_stats_t st;
    uint64_t max_chunks = 0;
    /* 10 series over 40 h, maintenance after every hour of data */
    for (int64_t h = 0; h < 40; h++) {
        fill(db, 10, h * H, (h + 1) * H);
        assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
        tw_tsdb_stats_get(db, &st);
        assert_int_equal(st.head_series, 10);
        if (h >= 2) {
            max_chunks = st.head_chunks > max_chunks ? st.head_chunks : max_chunks;
        }
    }
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.head_cuts, 39);
    /* at most 2 h of data in the head: 4 chunks of 30 min, one straddling the cut, per series */
    assert_true(max_chunks <= 10 * 5);
    assert_true(st.blocks_loaded <= 8);
    assert_true(st.wal_bytes < 1000000);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

static int run(const char *cmd, tw_buf_t *out)
{
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    char buf[4096];
    size_t k;
    tw_buf_reset(out);
    while ((k = fread(buf, 1, sizeof(buf), p)) > 0) {
        tw_buf_append(out, buf, k);
    }
    tw_buf_putc(out, '\0');
    out->len--;
    return pclose(p);
}

static void test_promtool_reads_our_blocks(void **state)
{
    (void)state;
    if (access("/usr/bin/promtool", X_OK) != 0) {
        print_message("promtool not installed: skipping the compatibility check\n");
        skip();
    }
    char dir[64], p[512], cmd[1024];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_db(dir, 2 * H, 0, 0);
    fill(db, 3, 0, 3 * H + H / 2);
    tt_add(db, "up", "instance", "b\"q\\z", 5000, 1e6);
    tt_add(db, "up", "instance", "a:1", 5000, tw_tsdb_stale_nan());
    tw_error_t err;
    assert_int_equal(tw_tsdb_compact(db, NOW, &err), 0);
    char name[64];
    assert_int_equal(tw_tsdb_snapshot(db, NOW, false, name, sizeof(name), &err), 0);
    tw_tsdb_close(db);
    snprintf(p, sizeof(p), "%s/snapshots/%s", dir, name);
    /* promtool wants a WAL directory: an empty one is an empty Prometheus WAL */
    snprintf(cmd, sizeof(cmd), "%s/wal", p);
    assert_int_equal(mkdir(cmd, 0755), 0);
    tw_buf_t theirs, ours;
    tw_buf_init(&theirs, 0);
    tw_buf_init(&ours, 0);
    snprintf(cmd, sizeof(cmd), "promtool tsdb dump '%s' 2>&1", p);
    assert_int_equal(run(cmd, &theirs), 0);
    FILE *f = open_memstream(&ours.data, &ours.len);
    assert_int_equal(tw_tsdb_dump(p, NULL, 0, INT64_MIN, INT64_MAX, f, &err), 0);
    fclose(f);
    /* 3 series x 840 samples + 2 */
    assert_non_null(strstr(theirs.data, "{__name__=\"up\", instance=\"a:1\"} NaN 5000\n"));
    assert_int_equal(ours.len, theirs.len);
    assert_string_equal(ours.data, theirs.data);
    free(ours.data);
    ours.data = NULL;
    /* analyze: the newest block, same header (the lists order ties differently) */
    snprintf(cmd, sizeof(cmd), "promtool tsdb analyze '%s' 2>&1", p);
    assert_int_equal(run(cmd, &theirs), 0);
    f = open_memstream(&ours.data, &ours.len);
    assert_int_equal(tw_tsdb_analyze(p, 0, f, &err), 0);
    fclose(f);
    char *cut = strstr(theirs.data, "\n\n");
    assert_non_null(cut);
    size_t hl = (size_t)(cut - theirs.data) + 2;
    assert_true(ours.len > hl);
    assert_memory_equal(ours.data, theirs.data, hl);
    assert_non_null(strstr(theirs.data, "Series: 3\n"));
    free(ours.data);
    tw_buf_fini(&theirs);
    tt_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_and_reopen),
        cmocka_unit_test(test_query_head_and_blocks),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_compaction_plan),
        cmocka_unit_test(test_retention_time),
        cmocka_unit_test(test_retention_size),
        cmocka_unit_test(test_corrupt_blocks),
        cmocka_unit_test(test_leftovers_cleaned),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_head_stays_flat),
        cmocka_unit_test(test_promtool_reads_our_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
