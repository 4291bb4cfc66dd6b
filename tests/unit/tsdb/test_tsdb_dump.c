/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tsdb_dump.c - `tsdb dump` and `tsdb analyze` output, byte for byte. The expected text was
 * produced by promtool 2.42 (`promtool tsdb dump` / `analyze`) on a block holding the same
 * samples; analyze's lists are compared with ties ordered by key (Go's sort leaves them
 * unspecified). Also: refusing a locked directory, a selector, a time range, and the warning
 * for a damaged WAL.
 */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmocka.h>

#include "tsdb_test_util.h"

static const char want_dump[] =
    "{__name__=\"foo\", a=\"é\"} 0.0001 1700000000000\n"
    "{__name__=\"foo\", a=\"é\"} 1e-05 1700000001000\n"
    "{__name__=\"foo\", a=\"é\"} -0 1700000002000\n"
    "{__name__=\"foo\", a=\"é\"} +Inf 1700000003000\n"
    "{__name__=\"foo\", a=\"é\"} -Inf 1700000004000\n"
    "{__name__=\"foo\", a=\"é\"} NaN 1700000005000\n"
    "{__name__=\"foo\", a=\"é\"} 1.5e+300 1700000006000\n"
    "{__name__=\"foo\", a=\"é\"} 100000 1700000007000\n"
    "{__name__=\"foo\", a=\"é\"} 123456.7 1700000008000\n"
    "{__name__=\"up\", instance=\"a:1\", job=\"x\"} 1 1700000000000\n"
    "{__name__=\"up\", instance=\"a:1\", job=\"x\"} 0 1700000015000\n"
    "{__name__=\"up\", instance=\"b\\\"q\\\\z\\nw\", job=\"x\"} 1e+06 1700000000000\n"
    "{__name__=\"up\", instance=\"b\\\"q\\\\z\\nw\", job=\"x\"} 1.23456789e+08 1700000015500\n";

static const char want_analyze[] = "Block ID: head\n"
                                   "Duration: 15.501s\n"
                                   "Series: 3\n"
                                   "Label names: 4\n"
                                   "Postings (unique label pairs): 6\n"
                                   "Postings entries (total label pairs): 8\n"
                                   "\n"
                                   "Label pairs most involved in churning:\n"
                                   "0 __name__=foo\n"
                                   "0 __name__=up\n"
                                   "0 a=é\n"
                                   "0 instance=a:1\n"
                                   "0 instance=b\"q\\z\nw\n"
                                   "0 job=x\n"
                                   "\n"
                                   "Label names most involved in churning:\n"
                                   "0 __name__\n"
                                   "0 a\n"
                                   "0 instance\n"
                                   "0 job\n"
                                   "\n"
                                   "Most common label pairs:\n"
                                   "2 __name__=up\n"
                                   "2 job=x\n"
                                   "1 __name__=foo\n"
                                   "1 a=é\n"
                                   "1 instance=a:1\n"
                                   "1 instance=b\"q\\z\nw\n"
                                   "\n"
                                   "Label names with highest cumulative label value length:\n"
                                   "10 instance\n"
                                   "5 __name__\n"
                                   "2 a\n"
                                   "1 job\n"
                                   "\n"
                                   "Highest cardinality labels:\n"
                                   "2 __name__\n"
                                   "2 instance\n"
                                   "1 a\n"
                                   "1 job\n"
                                   "\n"
                                   "Highest cardinality metric names:\n"
                                   "2 up\n"
                                   "1 foo\n";

static void add(tw_tsdb_appender_t *a, const char *name, const char *k1, const char *v1,
                const char *k2, const char *v2, int64_t t, double v)
{
    tw_label_t l[3];
    size_t n = 0;
    l[n++] = (tw_label_t){"__name__", name};
    l[n++] = (tw_label_t){k1, v1};
    if (k2 != NULL) {
        l[n++] = (tw_label_t){k2, v2};
    }
    assert_int_equal(tw_tsdb_appender_append(a, l, n, t, v, NULL), 0);
}

static void make_db(const char *dir)
{
    tw_tsdb_t *db = tt_open(dir, 0);
    tw_tsdb_appender_t *a = tw_tsdb_appender_begin(db);
    const int64_t T = INT64_C(1700000000000);
    add(a, "up", "instance", "a:1", "job", "x", T, 1);
    add(a, "up", "instance", "a:1", "job", "x", T + 15000, 0);
    add(a, "up", "instance", "b\"q\\z\nw", "job", "x", T, 1000000);
    add(a, "up", "instance", "b\"q\\z\nw", "job", "x", T + 15500, 123456789);
    double vals[] = {0.0001, 0.00001, -0.0, INFINITY, -INFINITY, NAN, 1.5e300, 100000, 123456.7};
    for (int i = 0; i < 9; i++) {
        add(a, "foo", "a", "é", NULL, NULL, T + i * 1000, vals[i]);
    }
    assert_int_equal(tw_tsdb_appender_commit(a, NULL), 0);
    tw_tsdb_close(db);
}

static char *run_dump(const char *dir, const tw_matcher_t *ms, size_t n, int64_t mint, int64_t maxt,
                      int *rc, tw_error_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *rc = tw_tsdb_dump(dir, ms, n, mint, maxt, f, err);
    fclose(f);
    return buf;
}

static void test_dump_exact(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    make_db(dir);
    int rc;
    tw_error_t err;
    char *out = run_dump(dir, NULL, 0, INT64_MIN, INT64_MAX, &rc, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(err.msg, "");
    assert_string_equal(out, want_dump);
    free(out);
    /* --match='up{instance="a:1"}' */
    tw_matcher_t ms[2];
    tw_matcher_init(&ms[0], TW_MATCH_EQ, "__name__", "up", NULL);
    tw_matcher_init(&ms[1], TW_MATCH_EQ, "instance", "a:1", NULL);
    out = run_dump(dir, ms, 2, INT64_MIN, INT64_MAX, &rc, &err);
    assert_string_equal(out, "{__name__=\"up\", instance=\"a:1\", job=\"x\"} 1 1700000000000\n"
                             "{__name__=\"up\", instance=\"a:1\", job=\"x\"} 0 1700000015000\n");
    free(out);
    /* --min-time / --max-time are inclusive */
    out = run_dump(dir, ms, 2, INT64_C(1700000015000), INT64_C(1700000015000), &rc, &err);
    assert_string_equal(out, "{__name__=\"up\", instance=\"a:1\", job=\"x\"} 0 1700000015000\n");
    free(out);
    tw_matcher_fini(&ms[0]);
    tw_matcher_fini(&ms[1]);
    tt_rmrf(dir);
}

static void test_analyze_exact(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    make_db(dir);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tw_error_t err;
    assert_int_equal(tw_tsdb_analyze(dir, 0, f, &err), 0);
    fclose(f);
    assert_string_equal(buf, want_analyze);
    free(buf);
    tt_rmrf(dir);
}

static void test_locked_and_warnings(void **state)
{
    (void)state;
    char dir[64], lp[128];
    tt_tmpdir(dir, sizeof(dir));
    make_db(dir);
    snprintf(lp, sizeof(lp), "%s/lock", dir);
    int fd = open(lp, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    int rc;
    tw_error_t err;
    char *out = run_dump(dir, NULL, 0, INT64_MIN, INT64_MAX, &rc, &err);
    assert_int_equal(rc, TW_ECONFLICT);
    assert_string_equal(out, "");
    assert_non_null(strstr(err.msg, "is in use"));
    assert_non_null(strstr(err.msg, lp));
    free(out);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(tw_tsdb_analyze(dir, 0, f, &err), TW_ECONFLICT);
    fclose(f);
    free(buf);
    flock(fd, LOCK_UN);
    close(fd);
    /* an unlocked lock file is fine */
    out = run_dump(dir, NULL, 0, INT64_MIN, INT64_MAX, &rc, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want_dump);
    free(out);
    /* a torn tail: still dumps what is complete, and says so in err (code 0) */
    char seg[128];
    snprintf(seg, sizeof(seg), "%s/wal/00000000", dir);
    fd = open(seg, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "\x20\x00\x00", 3), 3);
    close(fd);
    out = run_dump(dir, NULL, 0, INT64_MIN, INT64_MAX, &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(err.code, 0);
    assert_non_null(strstr(err.msg, "torn tail, 3 bytes"));
    assert_non_null(strstr(err.msg, "ignored"));
    assert_string_equal(out, want_dump);
    free(out);
    /* read-only: the torn bytes are still there */
    out = run_dump(dir, NULL, 0, INT64_MIN, INT64_MAX, &rc, &err);
    assert_non_null(strstr(err.msg, "torn tail, 3 bytes"));
    free(out);
    /* a missing directory */
    out = run_dump("/nonexistent/tw", NULL, 0, INT64_MIN, INT64_MAX, &rc, &err);
    assert_int_equal(rc, TW_ENOTFOUND);
    free(out);
    tt_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_exact),
        cmocka_unit_test(test_analyze_exact),
        cmocka_unit_test(test_locked_and_warnings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
