/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tsdb_wal.c - durability: replay after close, a torn tail, a damaged record in a middle
 * segment (reported with segment and offset, only that record lost), record coding, checkpoint
 * + truncation, and a crash test (a child commits batches and is SIGKILLed at a random moment;
 * every batch it reported committed must be back after reopening).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/tsdb/tsdb_int.h"
#include "tsdb_test_util.h"

static tw_tsdb_t *open_seg(const char *dir, size_t seg_bytes, tw_tsdb_fsync_policy_t pol)
{
    tw_tsdb_options_t o;
    tw_tsdb_options_default(&o);
    o.path = dir;
    o.wal_segment_bytes = seg_bytes;
    o.fsync_policy = pol;
    tw_tsdb_t *db = NULL;
    tw_error_t err;
    if (tw_tsdb_open(&o, &db, &err) != 0) {
        fail_msg("open: %s", err.msg);
    }
    return db;
}

/* Writes nbatches commits of 10 series x 1 sample each (t = batch * 1000). */
static void fill(tw_tsdb_t *db, int from, int to)
{
    char inst[16];
    for (int b = from; b < to; b++) {
        tw_tsdb_appender_t *a = tw_tsdb_appender_begin(db);
        for (int s = 0; s < 10; s++) {
            snprintf(inst, sizeof(inst), "i%02d", s);
            tw_label_t l[] = {{"__name__", "wal_test"}, {"instance", inst}};
            assert_int_equal(tw_tsdb_appender_append(a, l, 2, (int64_t)b * 1000, b + s, NULL), 0);
        }
        assert_int_equal(tw_tsdb_appender_commit(a, NULL), 0);
    }
}

/* Counts samples per batch present: returns number of (series, t) found. */
static size_t count_samples(tw_tsdb_t *db)
{
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, INT64_MIN, INT64_MAX);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, NULL, 0, NULL);
    tw_tsdb_iter_t *it = NULL;
    size_t n = 0;
    while (tw_tsdb_series_set_next(set)) {
        it = tw_tsdb_series_set_iter(set, it);
        while (tw_tsdb_iter_next(it)) {
            n++;
        }
    }
    tw_tsdb_iter_free(it);
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
    return n;
}

static void test_replay_after_close(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_seg(dir, 0, TW_TSDB_FSYNC_ALWAYS);
    fill(db, 0, 50);
    assert_int_equal(tt_add(db, "stale", NULL, NULL, 7, tw_tsdb_stale_nan()), 0);
    tw_buf_t before, after;
    tw_buf_init(&before, 0);
    tw_buf_init(&after, 0);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &before);
    tw_tsdb_close(db);
    db = open_seg(dir, 0, TW_TSDB_FSYNC_ALWAYS);
    const tw_tsdb_replay_report_t *r = tw_tsdb_replay_report(db);
    assert_int_equal(r->samples, 501);
    assert_int_equal(r->series, 11);
    assert_int_equal(r->corruptions, 0);
    assert_int_equal(r->torn_tails, 0);
    assert_string_equal(r->message, "");
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &after);
    assert_string_equal(before.data, after.data);
    /* stale NaN kept bit-exact through the WAL */
    tw_matcher_t m;
    tw_matcher_init(&m, TW_MATCH_EQ, "__name__", "stale", NULL);
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, INT64_MIN, INT64_MAX);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, &m, 1, NULL);
    assert_true(tw_tsdb_series_set_next(set));
    tw_tsdb_iter_t *it = tw_tsdb_series_set_iter(set, NULL);
    assert_true(tw_tsdb_iter_next(it));
    int64_t t;
    double v;
    tw_tsdb_iter_at(it, &t, &v);
    assert_true(tw_tsdb_is_stale_nan(v));
    tw_tsdb_iter_free(it);
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
    tw_matcher_fini(&m);
    /* new series after reopen continue with fresh ids; appending keeps working */
    fill(db, 50, 51);
    assert_int_equal(count_samples(db), 511);
    tw_tsdb_close(db);
    db = open_seg(dir, 0, TW_TSDB_FSYNC_ALWAYS);
    assert_int_equal(count_samples(db), 511);
    tw_tsdb_close(db);
    tw_buf_fini(&before);
    tw_buf_fini(&after);
    tt_rmrf(dir);
}

static void seg_path(char *out, size_t n, const char *dir, int seg)
{
    snprintf(out, n, "%s/wal/%08d", dir, seg);
}

static off_t fsize(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? st.st_size : -1;
}

static void test_torn_tail(void **state)
{
    (void)state;
    char dir[64], p[256];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_seg(dir, 0, TW_TSDB_FSYNC_NEVER);
    fill(db, 0, 20);
    tw_tsdb_close(db);
    seg_path(p, sizeof(p), dir, 0);
    off_t full = fsize(p);
    /* each batch after the first: one samples record of 16 + payload bytes; cut mid-record */
    assert_int_equal(truncate(p, full - 7), 0);
    db = open_seg(dir, 0, TW_TSDB_FSYNC_NEVER);
    const tw_tsdb_replay_report_t *r = tw_tsdb_replay_report(db);
    assert_int_equal(r->torn_tails, 1);
    assert_int_equal(r->corruptions, 0);
    assert_int_equal(r->samples, 190); /* the last batch was never acknowledged */
    assert_non_null(strstr(r->message, "segment 00000000 offset "));
    assert_non_null(strstr(r->message, "torn tail"));
    assert_int_equal(count_samples(db), 190);
    fill(db, 19, 25);
    tw_tsdb_close(db);
    /* the tail was cut off, so the old segment is clean now and everything is back */
    db = open_seg(dir, 0, TW_TSDB_FSYNC_NEVER);
    r = tw_tsdb_replay_report(db);
    assert_int_equal(r->torn_tails, 0);
    assert_int_equal(r->corruptions, 0);
    assert_int_equal(count_samples(db), 250);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

static void test_corrupt_middle_segment(void **state)
{
    (void)state;
    char dir[64], p[256];
    tt_tmpdir(dir, sizeof(dir));
    /* 800 batches for 4 segments or more: a batch of 10 samples takes ~60 bytes in the version 2
     * encoding (~140 in version 1). */
    tw_tsdb_t *db = open_seg(dir, 4096, TW_TSDB_FSYNC_NEVER);
    fill(db, 0, 800);
    tw_tsdb_close(db);
    int *segs;
    size_t nsegs;
    int ck;
    char wal[128];
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    assert_int_equal(tsdb_wal_list(wal, &segs, &nsegs, &ck, NULL), 0);
    assert_true(nsegs >= 4);
    int mid = segs[nsegs / 2];
    free(segs);
    seg_path(p, sizeof(p), dir, mid);
    /* flip a byte in the payload of the first record of that segment */
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t hdr[16], byte;
    assert_int_equal(pread(fd, hdr, 16, 8), 16);
    uint32_t plen = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8;
    assert_int_equal(hdr[4], TSDB_REC_SAMPLES);
    assert_int_equal(pread(fd, &byte, 1, 8 + 16 + 5), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, 8 + 16 + 5), 1);
    close(fd);
    db = open_seg(dir, 4096, TW_TSDB_FSYNC_NEVER);
    const tw_tsdb_replay_report_t *r = tw_tsdb_replay_report(db);
    char want[160];
    snprintf(want, sizeof(want),
             "segment %08d offset 8: checksum mismatch in a samples record of %u bytes; that "
             "record is skipped\n",
             mid, plen);
    assert_string_equal(r->message, want);
    assert_int_equal(r->corruptions, 1);
    assert_int_equal(r->corrupt_bytes, 16 + plen);
    assert_int_equal(r->samples, 7990); /* exactly one batch of 10 lost */
    assert_int_equal(count_samples(db), 7990);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.wal_corruptions, 1);
    tw_tsdb_close(db);

    /* a damaged header loses the rest of that segment, and says how much */
    fd = open(p, O_RDWR);
    byte = 0xee;
    assert_int_equal(pwrite(fd, &byte, 1, 8 + 2), 1);
    close(fd);
    off_t sz = fsize(p);
    db = open_seg(dir, 4096, TW_TSDB_FSYNC_NEVER);
    r = tw_tsdb_replay_report(db);
    snprintf(want, sizeof(want),
             "segment %08d offset 8: damaged record header; the rest of the segment (%lld bytes) "
             "is skipped\n",
             mid, (long long)(sz - 8));
    assert_string_equal(r->message, want);
    assert_true(r->samples < 7990);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

static int rec_series(void *ctx, uint64_t ref, const tw_label_t *l, size_t n)
{
    tw_buf_t *b = ctx;
    tw_buf_printf(b, "S%llu", (unsigned long long)ref);
    for (size_t i = 0; i < n; i++) {
        tw_buf_printf(b, " %s=%s", l[i].name, l[i].value);
    }
    tw_buf_putc(b, ';');
    return 0;
}

static int rec_sample(void *ctx, uint64_t ref, int64_t t, uint64_t vbits)
{
    tw_buf_printf(ctx, "s%llu@%lld=%016llx;", (unsigned long long)ref, (long long)t,
                  (unsigned long long)vbits);
    return 0;
}

static void test_record_coding(void **state)
{
    (void)state;
    tw_buf_t b, out;
    tw_buf_init(&b, 0);
    tw_buf_init(&out, 0);
    tw_label_t l[] = {{"__name__", "x"}, {"a", ""}};
    assert_int_equal(tsdb_record_series_put(&b, 7, l, 2), 0);
    assert_int_equal(tsdb_record_series_put(&b, 300, l, 1), 0);
    static const uint8_t want[] = {7,   2,   8,   '_', '_', 'n', 'a',  'm',  'e', '_',
                                   '_', 1,   'x', 1,   'a', 0,   0xac, 0x02, 1,   8,
                                   '_', '_', 'n', 'a', 'm', 'e', '_',  '_',  1,   'x'};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    assert_int_equal(tsdb_record_series_decode((uint8_t *)b.data, b.len, rec_series, &out, NULL),
                     0);
    assert_string_equal(out.data, "S7 __name__=x a=;S300 __name__=x;");
    tw_buf_reset(&b);
    tw_buf_reset(&out);
    tsdb_samples_enc_t e = {0};
    tsdb_record_samples_put(&b, &e, 5, 1000, 0x3ff0000000000000ull);
    tsdb_record_samples_put(&b, &e, 3, 999, TW_TSDB_STALE_NAN_BITS);
    assert_int_equal(tsdb_record_samples_decode((uint8_t *)b.data, b.len, rec_sample, &out, NULL),
                     0);
    assert_string_equal(out.data, "s5@1000=3ff0000000000000;s3@999=7ff0000000000002;");
    /* truncations are errors, never reads past the end */
    for (size_t cut = 1; cut < b.len; cut++) {
        tw_buf_reset(&out);
        int rc = tsdb_record_samples_decode((uint8_t *)b.data, cut, rec_sample, &out, NULL);
        /* 3 = the base alone, 13 = base + one sample: shorter but valid records */
        assert_true(rc == TW_EPARSE || cut == 3 || cut == 13);
    }
    /* CRC32C check value */
    assert_int_equal(tsdb_crc32c(0, "123456789", 9), 0xe3069283u);
    tw_buf_fini(&b);
    tw_buf_fini(&out);
}

/* Version 2 samples: exact bytes for each value kind, round trip, truncations refused. */
static void test_record_coding_v2(void **state)
{
    (void)state;
    tw_buf_t b, out;
    tw_buf_init(&b, 0);
    tw_buf_init(&out, 0);
    tsdb_samples2_enc_t e = {0};
    /* ref 5, t 1000, 1.0: an integer. */
    assert_int_equal(tsdb_record_samples2_put(&b, &e, 5, 1000, 0x3ff0000000000000ull), 0);
    /* ref 3, t 999, 1.0 again: the same bits, no value bytes. */
    assert_int_equal(tsdb_record_samples2_put(&b, &e, 3, 999, 0x3ff0000000000000ull), 0);
    /* ref 4, t 999, 0.5: raw. */
    assert_int_equal(tsdb_record_samples2_put(&b, &e, 4, 999, 0x3fe0000000000000ull), 0);
    /* -0 is not the integer 0; the stale marker and -3 as well. */
    assert_int_equal(tsdb_record_samples2_put(&b, &e, 4, 1001, 0x8000000000000000ull), 0);
    assert_int_equal(tsdb_record_samples2_put(&b, &e, 4, 1002, TW_TSDB_STALE_NAN_BITS), 0);
    assert_int_equal(tsdb_record_samples2_put(&b, &e, 4, 1003, 0xc008000000000000ull), 0);
    /* 2^52: a large integer still takes the raw form (a varint would not be shorter). */
    assert_int_equal(tsdb_record_samples2_put(&b, &e, 4, 1004, 0x4330000000000000ull), 0);
    static const uint8_t want[] = {
        0x29, 0xd0, 0x0f, 0x02,                         /* zz(5)<<2|int, zz(1000), zz(1) */
        0x0c, 0x01,                                     /* zz(-2)<<2|same, zz(-1) */
        0x0a, 0x00, 0,    0,    0, 0, 0, 0, 0xe0, 0x3f, /* zz(1)<<2|raw, 0, 0.5 */
        0x02, 0x04, 0,    0,    0, 0, 0, 0, 0,    0x80, /* raw -0 */
        0x02, 0x02, 2,    0,    0, 0, 0, 0, 0xf0, 0x7f, /* raw stale NaN */
        0x01, 0x02, 0x05,                               /* int -3 */
        0x02, 0x02, 0,    0,    0, 0, 0, 0, 0x30, 0x43, /* raw 2^52 */
    };
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    assert_int_equal(tsdb_record_samples2_decode((uint8_t *)b.data, b.len, rec_sample, &out, NULL),
                     0);
    assert_string_equal(out.data, "s5@1000=3ff0000000000000;s3@999=3ff0000000000000;"
                                  "s4@999=3fe0000000000000;s4@1001=8000000000000000;"
                                  "s4@1002=7ff0000000000002;s4@1003=c008000000000000;"
                                  "s4@1004=4330000000000000;");
    static const size_t ends[] = {4, 6, 16, 26, 36, 39};
    for (size_t cut = 1; cut < b.len; cut++) {
        tw_buf_reset(&out);
        int rc = tsdb_record_samples2_decode((uint8_t *)b.data, cut, rec_sample, &out, NULL);
        bool at_end = false;
        for (size_t k = 0; k < sizeof(ends) / sizeof(ends[0]); k++) {
            at_end = at_end || cut == ends[k];
        }
        assert_int_equal(rc, at_end ? 0 : TW_EPARSE);
    }
    /* Kind 3 is not defined. */
    assert_int_equal(
        tsdb_record_samples2_decode((const uint8_t *)"\x03\x00", 2, rec_sample, &out, NULL),
        TW_EPARSE);
    tw_buf_fini(&b);
    tw_buf_fini(&out);
}

/* A data dir written by the version 1 format (segment magic ...\1, samples with base + 8 value
 * bytes) still replays, and new writes go to a version 2 segment next to it. */
static void test_replay_v1_segment(void **state)
{
    (void)state;
    char dir[64], p[256];
    tt_tmpdir(dir, sizeof(dir));
    snprintf(p, sizeof(p), "%s/wal", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    tw_buf_t seg, rec;
    tw_buf_init(&seg, 0);
    tw_buf_init(&rec, 0);
    tw_buf_append(&seg, TSDB_WAL_MAGIC_V1, TSDB_WAL_MAGIC_LEN);
    tw_label_t l[] = {{"__name__", "old_format"}, {"job", "j"}};
    assert_int_equal(tsdb_record_series_put(&rec, 1, l, 2), 0);
    assert_int_equal(tsdb_record_frame(&seg, TSDB_REC_SERIES, rec.data, rec.len), 0);
    tw_buf_reset(&rec);
    tsdb_samples_enc_t e = {0};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tsdb_record_samples_put(&rec, &e, 1, 1000 * i, 0x4000000000000000ull), 0);
    }
    assert_int_equal(tsdb_record_frame(&seg, TSDB_REC_SAMPLES, rec.data, rec.len), 0);
    seg_path(p, sizeof(p), dir, 0);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, seg.data, seg.len), (ssize_t)seg.len);
    close(fd);
    tw_tsdb_t *db = open_seg(dir, 0, TW_TSDB_FSYNC_NEVER);
    const tw_tsdb_replay_report_t *r = tw_tsdb_replay_report(db);
    assert_int_equal(r->corruptions, 0);
    assert_int_equal(count_samples(db), 5);
    fill(db, 10, 12);
    tw_tsdb_close(db);
    db = open_seg(dir, 0, TW_TSDB_FSYNC_NEVER);
    assert_int_equal(tw_tsdb_replay_report(db)->corruptions, 0);
    assert_int_equal(count_samples(db), 5 + 20);
    tw_tsdb_close(db);
    uint8_t magic[TSDB_WAL_MAGIC_LEN];
    seg_path(p, sizeof(p), dir, 1);
    fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, magic, sizeof(magic)), (ssize_t)sizeof(magic));
    close(fd);
    assert_memory_equal(magic, TSDB_WAL_MAGIC, TSDB_WAL_MAGIC_LEN);
    tw_buf_fini(&seg);
    tw_buf_fini(&rec);
    tt_rmrf(dir);
}

static void test_checkpoint(void **state)
{
    (void)state;
    char dir[64], p[256];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = open_seg(dir, 4096, TW_TSDB_FSYNC_ALWAYS);
    fill(db, 0, 100); /* t = 0 .. 99000 */
    assert_int_equal(tt_add(db, "gone", NULL, NULL, 1000, 1), 0);
    /* the head drops data before 50000 and the series "gone" entirely */
    assert_int_equal(tw_tsdb_head_truncate(db, 50000, NULL), 0);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.head_series, 10);
    assert_int_equal(st.head_series_removed, 1);
    uint64_t before = st.wal_bytes;
    tw_error_t err;
    assert_int_equal(tw_tsdb_checkpoint(db, 50000, &err), 0);
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.wal_truncations, 1);
    assert_true(st.wal_bytes < before);
    fill(db, 100, 110);
    /* truncation is per chunk: the open chunks still hold t < 50000 in memory */
    assert_int_equal(count_samples(db), 1100);
    tw_tsdb_close(db);
    /* old segments are gone, the checkpoint is there */
    int *segs;
    size_t nsegs;
    int ck;
    char wal[128];
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    assert_int_equal(tsdb_wal_list(wal, &segs, &nsegs, &ck, NULL), 0);
    assert_true(ck >= 0);
    for (size_t i = 0; i < nsegs; i++) {
        assert_true(segs[i] > ck);
    }
    free(segs);
    snprintf(p, sizeof(p), "%s/wal/checkpoint.%08d/00000000", dir, ck);
    assert_true(fsize(p) > 8);
    db = open_seg(dir, 4096, TW_TSDB_FSYNC_ALWAYS);
    const tw_tsdb_replay_report_t *r = tw_tsdb_replay_report(db);
    assert_string_equal(r->message, "");
    assert_int_equal(r->series, 10);
    /* samples >= 50000 from the checkpoint, plus the 10 batches after it */
    assert_int_equal(count_samples(db), 600);
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.head_min_time, 50000);
    /* a second checkpoint folds the first one in */
    assert_int_equal(tw_tsdb_checkpoint(db, 0, &err), 0);
    tw_tsdb_close(db);
    db = open_seg(dir, 4096, TW_TSDB_FSYNC_ALWAYS);
    assert_int_equal(count_samples(db), 600);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

/* ---- crash safety ---- */

static void child_loop(const char *dir, int wfd)
{
    tw_tsdb_options_t o;
    tw_tsdb_options_default(&o);
    o.path = dir;
    o.wal_segment_bytes = 64 * 1024;
    tw_tsdb_t *db = NULL;
    if (tw_tsdb_open(&o, &db, NULL) != 0) {
        _exit(3);
    }
    char inst[16];
    for (int b = 0;; b++) {
        tw_tsdb_appender_t *a = tw_tsdb_appender_begin(db);
        for (int s = 0; s < 5; s++) {
            snprintf(inst, sizeof(inst), "i%d", (b + s) % 50);
            tw_label_t l[] = {{"__name__", "crash"}, {"instance", inst}};
            tw_tsdb_appender_append(a, l, 2, (int64_t)b * 10 + s, b, NULL);
        }
        if (tw_tsdb_appender_commit(a, NULL) != 0) {
            _exit(4);
        }
        uint32_t id = (uint32_t)b;
        if (write(wfd, &id, sizeof(id)) != sizeof(id)) {
            _exit(5);
        }
    }
}

static void test_crash_safety(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_loop(dir, fds[1]);
    }
    close(fds[1]);
    /* The kill lands at a random moment after the first commit: on a busy machine opening the
     * database alone can take longer than the random delay. */
    uint32_t id, last = 0;
    int got = 0;
    if (read(fds[0], &id, sizeof(id)) == sizeof(id)) {
        last = id;
        got++;
    }
    struct timespec ts = {0, (long)(100 + rand() % 400) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    while (read(fds[0], &id, sizeof(id)) == sizeof(id)) {
        last = id;
        got++;
    }
    close(fds[0]);
    assert_true(got > 0);
    tw_tsdb_t *db = open_seg(dir, 64 * 1024, TW_TSDB_FSYNC_ALWAYS);
    const tw_tsdb_replay_report_t *r = tw_tsdb_replay_report(db);
    assert_int_equal(r->corruptions, 0);
    /* every reported batch b has its 5 samples at t = b*10 + s with value b */
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, INT64_MIN, INT64_MAX);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, NULL, 0, NULL);
    uint8_t *seen = calloc((size_t)(last + 2) * 10, 1);
    tw_tsdb_iter_t *it = NULL;
    while (tw_tsdb_series_set_next(set)) {
        it = tw_tsdb_series_set_iter(set, it);
        while (tw_tsdb_iter_next(it)) {
            int64_t t;
            double v;
            tw_tsdb_iter_at(it, &t, &v);
            if (t / 10 <= (int64_t)last) {
                assert_true(v == (double)(t / 10));
                seen[t] = 1;
            }
        }
    }
    for (uint32_t b = 0; b <= last; b++) {
        for (int s = 0; s < 5; s++) {
            if (!seen[b * 10 + (uint32_t)s]) {
                fail_msg("batch %u sample %d lost (last committed %u)", b, s, last);
            }
        }
    }
    free(seen);
    tw_tsdb_iter_free(it);
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_after_close),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_corrupt_middle_segment),
        cmocka_unit_test(test_record_coding),
        cmocka_unit_test(test_record_coding_v2),
        cmocka_unit_test(test_replay_v1_segment),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_crash_safety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
