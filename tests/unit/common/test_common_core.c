/* SPDX-License-Identifier: Apache-2.0 */
/* test_common_core.c - errors, arena, durations, labels, hashing, metric sets and the sink
 * adapter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/labels.h"
#include "common/log.h"
#include "common/metric_set.h"
#include "common/sink.h"
#include "common/timeutil.h"

static void test_error_format(void **state)
{
    (void)state;
    tw_error_t err;
    char out[600];
    assert_int_equal(tw_error_set_at(&err, TW_EPARSE, "a.yml", 3, 7, "bad %s", "thing"), TW_EPARSE);
    assert_string_equal(tw_error_format(&err, out, sizeof(out)), "a.yml:3:7: bad thing");
    tw_error_set(&err, -ENOENT, "x");
    assert_string_equal(tw_error_format(&err, out, sizeof(out)), "x");
    assert_string_equal(tw_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(tw_strerror(TW_ELIMIT), "limit exceeded");
    assert_int_equal(tw_error_set(NULL, TW_EINVAL, "ignored"), TW_EINVAL);
}

static void test_arena(void **state)
{
    (void)state;
    tw_arena_t *a = tw_arena_new(256);
    char *s = tw_arena_strdup(a, "hello");
    assert_string_equal(s, "hello");
    assert_int_equal((uintptr_t)s % 16, 0);
    char *big = tw_arena_alloc(a, 10000); /* own block */
    memset(big, 1, 10000);
    char *p = tw_arena_printf(a, "%d-%s", 42, "x");
    assert_string_equal(p, "42-x");
    for (int i = 0; i < 1000; i++) {
        char *q = tw_arena_calloc(a, 24);
        assert_int_equal(q[23], 0);
    }
    assert_true(tw_arena_bytes(a) > 10000);
    tw_arena_reset(a);
    assert_true(tw_arena_bytes(a) <= 256 + 64);
    assert_string_equal(tw_arena_strndup(a, "abcdef", 3), "abc");
    tw_arena_free(a);
    tw_arena_free(NULL);
}

static void test_durations(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(tw_duration_parse("10s", &ms), 0);
    assert_int_equal(ms, 10000);
    assert_int_equal(tw_duration_parse("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(tw_duration_parse("15d", &ms), 0);
    assert_int_equal(ms, 15LL * 86400000);
    assert_int_equal(tw_duration_parse("1m500ms", &ms), 0);
    assert_int_equal(ms, 60500);
    assert_int_equal(tw_duration_parse("2w1y", &ms), TW_EINVAL); /* wrong order */
    assert_int_equal(tw_duration_parse("1s1s", &ms), TW_EINVAL);
    assert_int_equal(tw_duration_parse("10", &ms), TW_EINVAL);
    assert_int_equal(tw_duration_parse("", &ms), TW_EINVAL);
    assert_int_equal(tw_duration_parse("-1s", &ms), TW_EINVAL);
    assert_int_equal(tw_duration_parse("1.5s", &ms), TW_EINVAL);
    assert_int_equal(tw_duration_parse("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(tw_duration_parse("99999999999999999999y", &ms), TW_EINVAL);
    char out[64];
    assert_string_equal(tw_duration_format(5400000, out, sizeof(out)), "1h30m");
    assert_string_equal(tw_duration_format(0, out, sizeof(out)), "0s");
    assert_string_equal(tw_duration_format(86400000 + 1, out, sizeof(out)), "1d1ms");
    assert_string_equal(tw_time_format_rfc3339(1795663515123, out, sizeof(out)),
                        "2026-11-26T03:25:15.123Z");
}

static void test_labels(void **state)
{
    (void)state;
    tw_label_t a[] = {{"job", "x"}, {"__name__", "up"}, {"instance", "h:1"}};
    tw_labels_sort(a, 3);
    assert_string_equal(a[0].name, "__name__");
    assert_string_equal(a[1].name, "instance");
    assert_string_equal(a[2].name, "job");
    tw_label_t b[] = {{"__name__", "up"}, {"instance", "h:1"}, {"job", "x"}};
    assert_int_equal(tw_labels_compare(a, 3, b, 3), 0);
    assert_true(tw_labels_hash(a, 3) == tw_labels_hash(b, 3));
    tw_label_t c[] = {{"__name__", "up"}, {"instance", "h:"}, {"job", "1x"}};
    assert_true(tw_labels_hash(a, 3) != tw_labels_hash(c, 3));
    assert_true(tw_labels_compare(a, 3, b, 2) > 0);
    assert_string_equal(tw_labels_get(a, 3, "job"), "x");
    assert_null(tw_labels_get(a, 3, "nope"));
    assert_true(tw_metric_name_valid("a:b_c1"));
    assert_false(tw_metric_name_valid("1a"));
    assert_false(tw_metric_name_valid("a-b"));
    assert_true(tw_label_name_valid("_x1"));
    assert_false(tw_label_name_valid("a:b"));
    assert_false(tw_label_name_valid(""));
    /* Same bytes hash the same; one flipped bit changes the hash. */
    assert_true(tw_hash64("abcdefghij", 10, 0) == tw_hash64("abcdefghij", 10, 0));
    assert_true(tw_hash64("abcdefghij", 10, 0) != tw_hash64("abcdefghik", 10, 0));
    assert_true(tw_hash64("abcdefghij", 10, 0) != tw_hash64("abcdefghij", 10, 1));
}

static void test_metric_set(void **state)
{
    (void)state;
    tw_mset_t *s = tw_mset_new();
    tw_mfamily_t *f = tw_mset_family(s, "x_total", TW_MTYPE_COUNTER, "An x.", NULL);
    assert_ptr_equal(tw_mset_family(s, "x_total", TW_MTYPE_COUNTER, "ignored", NULL), f);
    char name[8] = "a", value[8] = "1";
    tw_label_t l[] = {{name, value}};
    tw_mset_add(s, f, NULL, l, 1, 5, TW_NO_TIMESTAMP);
    name[0] = 'z'; /* copied, so the set does not change */
    value[0] = '9';
    tw_mfamily_t *h = tw_mset_family(s, "lat_seconds", TW_MTYPE_HISTOGRAM, "", "seconds");
    tw_mset_add(s, h, "_count", NULL, 0, 3, 1000);
    assert_int_equal(tw_mset_family_count(s), 2);
    assert_int_equal(tw_mset_sample_count(s), 2);
    const tw_mfamily_t *g = tw_mset_find(s, "x_total");
    assert_non_null(g);
    assert_string_equal(g->help, "An x.");
    assert_string_equal(g->unit, "");
    assert_string_equal(g->samples[0].labels[0].name, "a");
    assert_string_equal(g->samples[0].labels[0].value, "1");
    assert_string_equal(g->samples[0].suffix, "");
    assert_string_equal(tw_mset_family_at(s, 1)->samples[0].suffix, "_count");
    assert_string_equal(tw_metric_type_name(TW_MTYPE_UNTYPED), "untyped");
    tw_mset_reset(s);
    assert_int_equal(tw_mset_family_count(s), 0);
    assert_int_equal(tw_mset_sample_count(s), 0);
    assert_null(tw_mset_find(s, "x_total"));
    tw_mset_free(s);
}

/* A sink that records what it gets, and fails on request. */
typedef struct rec {
    char lines[8][256];
    int n;
    int committed;
    int rolled_back;
    int fail_at;
    int fail_code;
    int calls;
} rec_t;

static int rec_begin(void *ctx, void **txn)
{
    *txn = ctx;
    return 0;
}

static int rec_append(void *txn, const tw_label_t *labels, size_t n, int64_t t, double v,
                      tw_error_t *err)
{
    rec_t *r = txn;
    if (r->calls++ == r->fail_at) {
        return tw_error_set(err, r->fail_code, r->fail_code == TW_ELIMIT ? "full" : "too old");
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        off += (size_t)snprintf(r->lines[r->n] + off, sizeof(r->lines[0]) - off, "%s=%s,",
                                labels[i].name, labels[i].value);
    }
    snprintf(r->lines[r->n] + off, sizeof(r->lines[0]) - off, " %lld %g", (long long)t, v);
    r->n++;
    return 0;
}

static int rec_commit(void *txn, tw_error_t *err)
{
    (void)err;
    ((rec_t *)txn)->committed++;
    return 0;
}

static void rec_rollback(void *txn)
{
    ((rec_t *)txn)->rolled_back++;
}

static void test_sink_adapter(void **state)
{
    (void)state;
    tw_mset_t *s = tw_mset_new();
    tw_mfamily_t *f = tw_mset_family(s, "req_total", TW_MTYPE_COUNTER, "", NULL);
    tw_label_t l[] = {{"zone", "b"}, {"pod", ""}, {"code", "200"}};
    tw_mset_add(s, f, NULL, l, 3, 7, TW_NO_TIMESTAMP);
    tw_mfamily_t *h = tw_mset_family(s, "d", TW_MTYPE_SUMMARY, "", NULL);
    tw_mset_add(s, h, "_sum", NULL, 0, 1.5, 42);
    rec_t r = {.fail_at = -1, .fail_code = 0};
    tw_sink_t sink = {&r, rec_begin, rec_append, rec_commit, rec_rollback};
    size_t rejected = 99;
    assert_int_equal(tw_sink_append_mset(&sink, s, 1000, &rejected, NULL), 0);
    assert_int_equal(rejected, 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.lines[0], "__name__=req_total,code=200,zone=b, 1000 7");
    assert_string_equal(r.lines[1], "__name__=d_sum, 42 1.5");
    assert_int_equal(r.committed, 1);
    assert_int_equal(r.rolled_back, 0);

    rec_t r2 = {.fail_at = 1, .fail_code = TW_ELIMIT};
    sink.ctx = &r2;
    tw_error_t err;
    assert_int_equal(tw_sink_append_mset(&sink, s, 1000, NULL, &err), TW_ELIMIT);
    assert_string_equal(err.msg, "full");
    assert_int_equal(r2.committed, 0);
    assert_int_equal(r2.rolled_back, 1);

    /* An out-of-order sample is skipped and counted; the rest is committed. */
    rec_t r3 = {.fail_at = 0, .fail_code = TW_EOUTOFORDER};
    sink.ctx = &r3;
    assert_int_equal(tw_sink_append_mset(&sink, s, 1000, &rejected, &err), 0);
    assert_int_equal(rejected, 1);
    assert_int_equal(r3.n, 1);
    assert_string_equal(r3.lines[0], "__name__=d_sum, 42 1.5");
    assert_int_equal(r3.committed, 1);
    assert_int_equal(r3.rolled_back, 0);
    tw_mset_free(s);
}

static void test_log_lines(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    tw_log_set_fd(fds[1]);
    tw_log_setup(TW_LOG_INFO, TW_LOG_FMT_LOGFMT);
    tw_log(TW_LOG_DEBUG, "t", "hidden", NULL);
    tw_log(TW_LOG_WARN, "cgroup", "read failed", "path", "/a b", "n", "3", "q", "x\"y\n", NULL);
    tw_log_setup(TW_LOG_INFO, TW_LOG_FMT_JSON);
    tw_log(TW_LOG_ERROR, "d", "m", "k", "v", NULL);
    tw_log_set_fd(2);
    tw_log_setup(TW_LOG_INFO, TW_LOG_FMT_LOGFMT);
    close(fds[1]);
    char buf[1024] = {0};
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    *nl = '\0';
    /* ts=... level=warn component=cgroup msg="read failed" path="/a b" n=3 q="x\"y\n" */
    assert_true(strncmp(buf, "ts=", 3) == 0);
    assert_non_null(strstr(buf, " level=warn component=cgroup msg=\"read failed\" path=\"/a b\" "
                                "n=3 q=\"x\\\"y\\n\""));
    assert_non_null(strstr(nl + 1, "\"level\":\"error\",\"component\":\"d\",\"msg\":\"m\","
                                   "\"k\":\"v\"}\n"));
    tw_log_level_t lvl;
    assert_int_equal(tw_log_level_parse("warn", &lvl), 0);
    assert_int_equal(lvl, TW_LOG_WARN);
    assert_int_equal(tw_log_level_parse("loud", &lvl), TW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_format), cmocka_unit_test(test_arena),
        cmocka_unit_test(test_durations),    cmocka_unit_test(test_labels),
        cmocka_unit_test(test_metric_set),   cmocka_unit_test(test_sink_adapter),
        cmocka_unit_test(test_log_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
