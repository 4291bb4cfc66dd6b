/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_notify_outbox.c - the durable outbox: order, acks and compaction, replay after a
 * restart, a torn tail, corruption in the middle, a lost acked file, a crash between
 * truncation and the acked file, the record limit, exclusive locking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alerting/notify/notify_int.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/tw-notify-outbox-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static void rm_file(const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    unlink(p);
}

static int teardown(void **state)
{
    (void)state;
    rm_file("outbox.log");
    rm_file("outbox.acked");
    rm_file("outbox.acked.tmp");
    rmdir(dir);
    return 0;
}

static notify_outbox_t *open_ok(size_t max, notify_outbox_replay_t *rp)
{
    notify_outbox_t *o = NULL;
    tw_error_t err;
    int rc = notify_outbox_open(dir, max, &o, rp, &err);
    if (rc != 0) {
        fail_msg("open: %s", err.msg);
    }
    return o;
}

static uint64_t append(notify_outbox_t *o, const char *key, const char *body)
{
    uint64_t seq = 0;
    size_t dropped = 9;
    assert_int_equal(notify_outbox_append(o, 42, key, body, strlen(body), &seq, &dropped, NULL), 0);
    assert_int_equal(dropped, 0);
    return seq;
}

static void expect_head(notify_outbox_t *o, uint64_t seq, const char *key, const char *body)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    notify_outbox_rec_t r;
    assert_int_equal(notify_outbox_peek(o, &b, &r, NULL), 0);
    assert_int_equal(r.seq, seq);
    assert_int_equal(r.created_ms, 42);
    assert_int_equal(r.key_len, strlen(key));
    assert_memory_equal(r.key, key, r.key_len);
    assert_int_equal(r.payload_len, strlen(body));
    assert_memory_equal(r.payload, body, r.payload_len);
    tw_buf_fini(&b);
}

static off_t log_size(void)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/outbox.log", dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

static void test_order_ack_compact(void **state)
{
    (void)state;
    notify_outbox_replay_t rp;
    notify_outbox_t *o = open_ok(0, &rp);
    assert_int_equal(rp.pending, 0);
    assert_int_equal(append(o, "g1", "one"), 1);
    assert_int_equal(append(o, "g2", "two"), 2);
    assert_int_equal(append(o, "g1", "three"), 3);
    assert_int_equal(notify_outbox_pending(o), 3);
    expect_head(o, 1, "g1", "one");
    expect_head(o, 1, "g1", "one"); /* peek does not consume */
    assert_int_equal(notify_outbox_ack(o, NULL), 0);
    expect_head(o, 2, "g2", "two");
    assert_int_equal(notify_outbox_ack(o, NULL), 0);
    assert_int_equal(notify_outbox_ack(o, NULL), 0);
    assert_int_equal(notify_outbox_pending(o), 0);
    /* Fully acked: the log is compacted to nothing, sequence numbers go on. */
    assert_int_equal(notify_outbox_log_bytes(o), 0);
    assert_int_equal(log_size(), 0);
    tw_buf_t b;
    tw_buf_init(&b, 0);
    notify_outbox_rec_t r;
    assert_int_equal(notify_outbox_peek(o, &b, &r, NULL), TW_ENOTFOUND);
    assert_int_equal(notify_outbox_ack(o, NULL), TW_ENOTFOUND);
    tw_buf_fini(&b);
    notify_outbox_close(o);
    o = open_ok(0, &rp);
    assert_int_equal(rp.pending, 0);
    assert_int_equal(append(o, "g", "four"), 4);
    notify_outbox_close(o);
}

static void test_replay_after_restart(void **state)
{
    (void)state;
    notify_outbox_replay_t rp;
    notify_outbox_t *o = open_ok(0, &rp);
    append(o, "a", "1");
    append(o, "b", "2");
    append(o, "c", "3");
    notify_outbox_ack(o, NULL);
    notify_outbox_close(o); /* as a crash: nothing else written */
    o = open_ok(0, &rp);
    assert_int_equal(rp.pending, 2);
    assert_int_equal(rp.skipped_bytes, 0);
    expect_head(o, 2, "b", "2");
    assert_int_equal(append(o, "d", "4"), 4);
    notify_outbox_ack(o, NULL);
    notify_outbox_ack(o, NULL);
    expect_head(o, 4, "d", "4");
    notify_outbox_close(o);
}

static void test_torn_tail_is_cut(void **state)
{
    (void)state;
    notify_outbox_replay_t rp;
    notify_outbox_t *o = open_ok(0, &rp);
    append(o, "a", "first");
    append(o, "b", "second");
    notify_outbox_close(o);
    off_t full = log_size();
    char p[512];
    snprintf(p, sizeof(p), "%s/outbox.log", dir);
    assert_int_equal(truncate(p, full - 3), 0); /* the second append was cut by a crash */
    o = open_ok(0, &rp);
    assert_int_equal(rp.pending, 1);
    size_t rec2 = NOTIFY_OUTBOX_HDR + 24 + 1 + 6;
    assert_int_equal(rp.skipped_bytes, rec2 - 3);
    assert_int_equal(log_size(), full - (off_t)rec2);
    expect_head(o, 1, "a", "first");
    /* The next record follows good data and gets the next number after the last valid one. */
    assert_int_equal(append(o, "c", "third"), 2);
    notify_outbox_close(o);
    o = open_ok(0, &rp);
    assert_int_equal(rp.pending, 2);
    assert_int_equal(rp.skipped_bytes, 0);
    notify_outbox_close(o);
}

static void test_corruption_in_the_middle(void **state)
{
    (void)state;
    notify_outbox_replay_t rp;
    notify_outbox_t *o = open_ok(0, &rp);
    append(o, "a", "1111");
    append(o, "b", "2222");
    append(o, "c", "3333");
    notify_outbox_close(o);
    char p[512];
    snprintf(p, sizeof(p), "%s/outbox.log", dir);
    int fd = open(p, O_RDWR);
    size_t rec = NOTIFY_OUTBOX_HDR + 24 + 1 + 4;
    assert_int_equal(pwrite(fd, "X", 1, (off_t)(rec + rec - 2)), 1); /* payload of record 2 */
    close(fd);
    o = open_ok(0, &rp);
    assert_int_equal(rp.pending, 2);
    assert_int_equal(rp.skipped_bytes, rec);
    expect_head(o, 1, "a", "1111");
    notify_outbox_ack(o, NULL);
    expect_head(o, 3, "c", "3333");
    notify_outbox_close(o);
}

static void test_lost_acked_file_and_crash_in_compaction(void **state)
{
    (void)state;
    notify_outbox_replay_t rp;
    notify_outbox_t *o = open_ok(0, &rp);
    append(o, "a", "1");
    append(o, "b", "2");
    notify_outbox_ack(o, NULL);
    notify_outbox_close(o);
    /* Damaged acked file: replay from the start (repeats, never loses). */
    char p[512];
    snprintf(p, sizeof(p), "%s/outbox.acked", dir);
    int fd = open(p, O_RDWR);
    assert_int_equal(pwrite(fd, "\xff", 1, 5), 1);
    close(fd);
    o = open_ok(0, &rp);
    assert_int_equal(rp.pending, 2);
    expect_head(o, 1, "a", "1");
    notify_outbox_ack(o, NULL);
    notify_outbox_close(o);
    /* Crash after truncating the log but before rewriting the acked file: the acked offset
     * points past the end; nothing is pending and numbering continues. */
    snprintf(p, sizeof(p), "%s/outbox.log", dir);
    assert_int_equal(truncate(p, 0), 0);
    o = open_ok(0, &rp);
    assert_int_equal(rp.pending, 0);
    assert_int_equal(append(o, "c", "3"), 2);
    notify_outbox_close(o);
}

static void test_limit_drops_oldest(void **state)
{
    (void)state;
    notify_outbox_replay_t rp;
    notify_outbox_t *o = open_ok(2, &rp);
    append(o, "a", "1");
    append(o, "b", "2");
    uint64_t seq;
    size_t dropped = 0;
    assert_int_equal(notify_outbox_append(o, 42, "c", "3", 1, &seq, &dropped, NULL), 0);
    assert_int_equal(dropped, 1);
    assert_int_equal(notify_outbox_pending(o), 2);
    expect_head(o, 2, "b", "2");
    notify_outbox_close(o);
    o = open_ok(2, &rp);
    assert_int_equal(rp.pending, 2);
    expect_head(o, 2, "b", "2");
    notify_outbox_close(o);
}

static void test_exclusive(void **state)
{
    (void)state;
    notify_outbox_t *o = open_ok(0, NULL);
    notify_outbox_t *o2 = NULL;
    tw_error_t err;
    assert_int_equal(notify_outbox_open(dir, 0, &o2, NULL, &err), TW_ESTATE);
    assert_null(o2);
    assert_non_null(strstr(err.msg, "in use"));
    notify_outbox_close(o);
}

static void test_decode_rejects_garbage(void **state)
{
    (void)state;
    notify_outbox_rec_t r;
    uint8_t junk[64] = {0x54, 0x57, 0x4f, 0x42, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(notify_outbox_decode(junk, sizeof(junk), &r), 0);
    assert_int_equal(notify_outbox_decode(junk, 3, &r), 0);
    size_t bad = 0, end = 7;
    notify_outbox_scan(junk, sizeof(junk), NULL, NULL, &bad, &end);
    assert_int_equal(bad, sizeof(junk));
    assert_int_equal(end, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_ack_compact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_in_the_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_acked_file_and_crash_in_compaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limit_drops_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive, setup, teardown),
        cmocka_unit_test(test_decode_rejects_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
