/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tsdb_head.c - the head through the public API: commit/rollback visibility, the sample
 * rules (out of order, duplicate, identical resend, too old) with their counters, the
 * out-of-order window, chunk cutting, stale markers, selection by matchers, postings set
 * operations, iterator seek, truncation.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "collector/tsdb/tsdb_int.h"
#include "tsdb_test_util.h"

static void test_commit_rollback(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = tt_open(dir, 0);
    tw_buf_t out;
    tw_buf_init(&out, 0);
    tw_label_t l[] = {{"__name__", "up"}, {"job", "a"}};
    tw_tsdb_appender_t *a = tw_tsdb_appender_begin(db);
    assert_int_equal(tw_tsdb_appender_append(a, l, 2, 1000, 1, NULL), 0);
    assert_int_equal(tw_tsdb_appender_append(a, l, 2, 2000, 0, NULL), 0);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &out);
    assert_string_equal(out.data, ""); /* not visible before commit */
    tw_tsdb_appender_rollback(a);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &out);
    assert_string_equal(out.data, "");
    a = tw_tsdb_appender_begin(db);
    assert_int_equal(tw_tsdb_appender_append(a, l, 2, 1000, 1, NULL), 0);
    assert_int_equal(tw_tsdb_appender_append(a, l, 2, 2000, 0, NULL), 0);
    assert_int_equal(tw_tsdb_appender_commit(a, NULL), 0);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &out);
    assert_string_equal(out.data, "{__name__=up,job=a} 1000=1 2000=0\n");
    tt_render(db, NULL, 0, 1500, 2500, &out);
    assert_string_equal(out.data, "{__name__=up,job=a} 2000=0\n");
    tt_render(db, NULL, 0, 3000, 4000, &out);
    assert_string_equal(out.data, "");
    /* bad label sets */
    tw_error_t err;
    a = tw_tsdb_appender_begin(db);
    tw_label_t unsorted[] = {{"job", "a"}, {"__name__", "up"}};
    assert_int_equal(tw_tsdb_appender_append(a, unsorted, 2, 1, 1, &err), TW_EINVAL);
    tw_label_t noname[] = {{"job", "a"}};
    assert_int_equal(tw_tsdb_appender_append(a, noname, 1, 1, 1, &err), TW_EINVAL);
    tw_tsdb_appender_rollback(a);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.head_series, 1);
    assert_int_equal(st.samples_appended, 2);
    assert_int_equal(st.rollbacks, 2);
    tw_buf_fini(&out);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

static void test_sample_rules(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = tt_open(dir, 0);
    tw_buf_t out;
    tw_buf_init(&out, 0);
    assert_int_equal(tt_add(db, "m", NULL, NULL, 1000, 1), 0);
    assert_int_equal(tt_add(db, "m", NULL, NULL, 2000, 2), 0);
    assert_int_equal(tt_add(db, "m", NULL, NULL, 2000, 2), 0);              /* identical */
    assert_int_equal(tt_add(db, "m", NULL, NULL, 2000, 3), TW_EDUPLICATE);  /* new value */
    assert_int_equal(tt_add(db, "m", NULL, NULL, 1500, 9), TW_EOUTOFORDER); /* older */
    assert_int_equal(tt_add(db, "m", NULL, NULL, 1000, 1), 0);              /* old identical */
    assert_int_equal(tt_add(db, "m", NULL, NULL, 1000, 5), TW_EDUPLICATE);
    /* stale markers are stored bit-exactly and an identical stale resend is a no-op */
    assert_int_equal(tt_add(db, "m", NULL, NULL, 3000, tw_tsdb_stale_nan()), 0);
    assert_int_equal(tt_add(db, "m", NULL, NULL, 3000, tw_tsdb_stale_nan()), 0);
    assert_int_equal(tt_add(db, "m", NULL, NULL, 3000, NAN), TW_EDUPLICATE);
    /* within one transaction */
    tw_label_t l[] = {{"__name__", "m"}};
    tw_error_t err;
    tw_tsdb_appender_t *a = tw_tsdb_appender_begin(db);
    assert_int_equal(tw_tsdb_appender_append(a, l, 1, 5000, 5, NULL), 0);
    assert_int_equal(tw_tsdb_appender_append(a, l, 1, 4000, 4, &err), TW_EOUTOFORDER);
    assert_string_equal(err.msg, "out of order sample: series {__name__=\"m\"}, timestamp 4000");
    assert_int_equal(tw_tsdb_appender_append(a, l, 1, 5000, 6, &err), TW_EDUPLICATE);
    assert_int_equal(tw_tsdb_appender_append(a, l, 1, 5000, 5, NULL), 0);
    assert_int_equal(tw_tsdb_appender_commit(a, NULL), 0);

    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &out);
    assert_string_equal(out.data, "{__name__=m} 1000=1 2000=2 3000=nan 5000=5\n");
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, 3000, 3000);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, NULL, 0, NULL);
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

    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.samples_appended, 4);
    assert_int_equal(st.duplicates_ignored, 4);
    assert_int_equal(st.rejected_duplicate, 4);
    assert_int_equal(st.rejected_out_of_order, 2);
    assert_int_equal(st.rejected_too_old, 0);
    tw_mset_t *ms = tw_mset_new();
    tw_tsdb_collect_metrics(db, ms);
    const tw_mfamily_t *f = tw_mset_find(ms, "tidewatch_tsdb_samples_rejected_total");
    assert_non_null(f);
    assert_int_equal(f->nsamples, 3);
    assert_string_equal(f->samples[1].labels[0].value, "duplicate");
    assert_true(f->samples[1].value == 4);
    tw_mset_free(ms);
    /* too old after truncation */
    assert_int_equal(tw_tsdb_head_truncate(db, 2500, NULL), 0);
    assert_int_equal(tt_add(db, "m", NULL, NULL, 2400, 1), TW_ETOOOLD);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &out);
    /* 1000 and 2000 sit in the open chunk with 3000 and 5000, so nothing was dropped */
    assert_string_equal(out.data, "{__name__=m} 1000=1 2000=2 3000=nan 5000=5\n");
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.rejected_too_old, 1);
    tw_buf_fini(&out);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

static void test_ooo_window(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = tt_open(dir, 10000);
    tw_buf_t out;
    tw_buf_init(&out, 0);
    assert_int_equal(tt_add(db, "m", NULL, NULL, 20000, 20), 0);
    assert_int_equal(tt_add(db, "m", NULL, NULL, 30000, 30), 0);
    assert_int_equal(tt_add(db, "m", NULL, NULL, 25000, 25), 0); /* in the window */
    assert_int_equal(tt_add(db, "m", NULL, NULL, 21000, 21), 0);
    assert_int_equal(tt_add(db, "m", NULL, NULL, 25000, 25), 0);             /* identical */
    assert_int_equal(tt_add(db, "m", NULL, NULL, 25000, 26), TW_EDUPLICATE); /* ooo dup */
    assert_int_equal(tt_add(db, "m", NULL, NULL, 19999, 1), TW_EOUTOFORDER); /* too far */
    assert_int_equal(tt_add(db, "m", NULL, NULL, 35000, 35), 0);
    tt_render(db, NULL, 0, INT64_MIN, INT64_MAX, &out);
    assert_string_equal(out.data, "{__name__=m} 20000=20 21000=21 25000=25 30000=30 35000=35\n");
    tt_render(db, NULL, 0, 21000, 30000, &out);
    assert_string_equal(out.data, "{__name__=m} 21000=21 25000=25 30000=30\n");
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.ooo_samples_appended, 2);
    assert_int_equal(st.samples_appended, 5);
    assert_int_equal(st.rejected_out_of_order, 1);
    assert_int_equal(st.rejected_duplicate, 1);
    /* seek merges too */
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, INT64_MIN, INT64_MAX);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, NULL, 0, NULL);
    assert_true(tw_tsdb_series_set_next(set));
    tw_tsdb_iter_t *it = tw_tsdb_series_set_iter(set, NULL);
    int64_t t;
    double v;
    assert_true(tw_tsdb_iter_seek(it, 22000));
    tw_tsdb_iter_at(it, &t, &v);
    assert_int_equal(t, 25000);
    assert_true(tw_tsdb_iter_seek(it, 1)); /* never backwards */
    tw_tsdb_iter_at(it, &t, &v);
    assert_int_equal(t, 25000);
    assert_true(tw_tsdb_iter_next(it));
    tw_tsdb_iter_at(it, &t, &v);
    assert_int_equal(t, 30000);
    assert_false(tw_tsdb_iter_seek(it, 40000));
    tw_tsdb_iter_free(it);
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
    tw_buf_fini(&out);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

static void test_chunk_cut(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = tt_open(dir, 0);
    tw_label_t l[] = {{"__name__", "c"}};
    tw_tsdb_appender_t *a = tw_tsdb_appender_begin(db);
    for (int i = 0; i < 250; i++) {
        assert_int_equal(tw_tsdb_appender_append(a, l, 1, i * 15000, i, NULL), 0);
    }
    assert_int_equal(tw_tsdb_appender_commit(a, NULL), 0);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.head_chunks, 3); /* 120 + 120 + 10 */
    assert_int_equal(st.head_min_time, 0);
    assert_int_equal(st.head_max_time, 249 * 15000);
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, 100 * 15000, 200 * 15000);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, NULL, 0, NULL);
    assert_true(tw_tsdb_series_set_next(set));
    tw_tsdb_iter_t *it = tw_tsdb_series_set_iter(set, NULL);
    int n = 0;
    int64_t t;
    double v;
    while (tw_tsdb_iter_next(it)) {
        tw_tsdb_iter_at(it, &t, &v);
        assert_int_equal(t, (100 + n) * 15000);
        assert_true(v == 100 + n);
        n++;
    }
    assert_int_equal(n, 101);
    assert_true(tw_tsdb_iter_seek(it, 0) == false); /* exhausted stays exhausted */
    tw_tsdb_iter_free(it);
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
    /* truncation drops the first closed chunk only */
    assert_int_equal(tw_tsdb_head_truncate(db, 120 * 15000, NULL), 0);
    tw_tsdb_stats_get(db, &st);
    assert_int_equal(st.head_chunks, 2);
    assert_int_equal(st.head_min_time, 120 * 15000);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

static void add_series(tw_tsdb_t *db, const char *name, const char *job, const char *inst)
{
    tw_label_t l[3];
    size_t n = 0;
    l[n++] = (tw_label_t){"__name__", name};
    if (inst != NULL) {
        l[n++] = (tw_label_t){"instance", inst};
    }
    if (job != NULL) {
        l[n++] = (tw_label_t){"job", job};
    }
    tw_tsdb_appender_t *a = tw_tsdb_appender_begin(db);
    assert_int_equal(tw_tsdb_appender_append(a, l, n, 1000, 1, NULL), 0);
    assert_int_equal(tw_tsdb_appender_commit(a, NULL), 0);
}

static const char *sel(tw_tsdb_t *db, tw_buf_t *out, int n, ...)
{
    tw_matcher_t ms[4];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *name = va_arg(ap, const char *);
        int type = va_arg(ap, int);
        const char *value = va_arg(ap, const char *);
        assert_int_equal(tw_matcher_init(&ms[i], (tw_match_type_t)type, name, value, NULL), 0);
    }
    va_end(ap);
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, INT64_MIN, INT64_MAX);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, ms, (size_t)n, NULL);
    tw_buf_reset(out);
    tw_buf_puts(out, "");
    while (tw_tsdb_series_set_next(set)) {
        size_t nl;
        const tw_label_t *l = tw_tsdb_series_set_labels(set, &nl);
        tw_buf_putc(out, '[');
        for (size_t i = 0; i < nl; i++) {
            if (strcmp(l[i].name, "__name__") != 0) {
                tw_buf_printf(out, "%s=%s;", l[i].name, l[i].value);
            } else {
                tw_buf_printf(out, "%s;", l[i].value);
            }
        }
        tw_buf_putc(out, ']');
    }
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
    for (int i = 0; i < n; i++) {
        tw_matcher_fini(&ms[i]);
    }
    return out->data;
}

static void test_select_matchers(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_t *db = tt_open(dir, 0);
    tw_buf_t o;
    tw_buf_init(&o, 0);
    add_series(db, "up", "node", "a:1");
    add_series(db, "up", "node", "b:1");
    add_series(db, "up", "api", "a:1");
    add_series(db, "up", NULL, "c:1");
    add_series(db, "down", "node", NULL);
    assert_string_equal(sel(db, &o, 1, "__name__", TW_MATCH_EQ, "up"),
                        "[up;instance=a:1;job=api;][up;instance=a:1;job=node;]"
                        "[up;instance=b:1;job=node;][up;instance=c:1;]");
    assert_string_equal(sel(db, &o, 2, "__name__", TW_MATCH_EQ, "up", "job", TW_MATCH_EQ, ""),
                        "[up;instance=c:1;]");
    assert_string_equal(sel(db, &o, 2, "__name__", TW_MATCH_EQ, "up", "job", TW_MATCH_NEQ, ""),
                        "[up;instance=a:1;job=api;][up;instance=a:1;job=node;]"
                        "[up;instance=b:1;job=node;]");
    assert_string_equal(sel(db, &o, 1, "job", TW_MATCH_NEQ, "node"),
                        "[up;instance=a:1;job=api;][up;instance=c:1;]");
    assert_string_equal(
        sel(db, &o, 2, "job", TW_MATCH_RE, "no.*", "instance", TW_MATCH_NRE, "a:.*"),
        "[down;job=node;][up;instance=b:1;job=node;]");
    assert_string_equal(sel(db, &o, 1, "instance", TW_MATCH_RE, ".*"),
                        "[down;job=node;][up;instance=a:1;job=api;][up;instance=a:1;job=node;]"
                        "[up;instance=b:1;job=node;][up;instance=c:1;]");
    assert_string_equal(sel(db, &o, 1, "instance", TW_MATCH_RE, ".+"),
                        "[up;instance=a:1;job=api;][up;instance=a:1;job=node;]"
                        "[up;instance=b:1;job=node;][up;instance=c:1;]");
    assert_string_equal(sel(db, &o, 1, "instance", TW_MATCH_NRE, "[ab]:\\d"),
                        "[down;job=node;][up;instance=c:1;]");
    assert_string_equal(sel(db, &o, 1, "nolabel", TW_MATCH_EQ, "x"), "");
    assert_string_equal(sel(db, &o, 2, "job", TW_MATCH_EQ, "api", "job", TW_MATCH_EQ, "node"), "");
    /* label names/values */
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, INT64_MIN, INT64_MAX);
    const char **vals;
    size_t nv;
    tw_tsdb_querier_label_values(q, "job", &vals, &nv);
    assert_int_equal(nv, 2);
    assert_string_equal(vals[0], "api");
    assert_string_equal(vals[1], "node");
    free(vals);
    tw_tsdb_querier_label_names(q, &vals, &nv);
    assert_int_equal(nv, 3);
    assert_string_equal(vals[0], "__name__");
    assert_string_equal(vals[2], "job");
    free(vals);
    tw_tsdb_querier_free(q);
    tw_buf_fini(&o);
    tw_tsdb_close(db);
    tt_rmrf(dir);
}

static void plist(tsdb_postings_t *p, const uint64_t *ids, size_t n)
{
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < n; i++) {
        tsdb_postings_push(p, ids[i]);
    }
}

static void test_postings_ops(void **state)
{
    (void)state;
    static const uint64_t a[] = {1, 3, 5, 7, 9, 100, 1000, 5000};
    static const uint64_t b[] = {2, 3, 4, 9, 1000, 6000};
    static const uint64_t c[] = {3, 8};
    tsdb_postings_t pa, pb, pc, out = {0};
    plist(&pa, a, 8);
    plist(&pb, b, 6);
    plist(&pc, c, 2);
    tsdb_postings_intersect(&pa, &pb, &out);
    static const uint64_t i_ab[] = {3, 9, 1000};
    assert_int_equal(out.n, 3);
    assert_memory_equal(out.ids, i_ab, sizeof(i_ab));
    tsdb_postings_subtract(&pa, &pb, &out);
    static const uint64_t s_ab[] = {1, 5, 7, 100, 5000};
    assert_int_equal(out.n, 5);
    assert_memory_equal(out.ids, s_ab, sizeof(s_ab));
    const tsdb_postings_t *lists[] = {&pa, &pb, &pc};
    tsdb_postings_union(lists, 3, &out);
    static const uint64_t u[] = {1, 2, 3, 4, 5, 7, 8, 9, 100, 1000, 5000, 6000};
    assert_int_equal(out.n, 12);
    assert_memory_equal(out.ids, u, sizeof(u));
    tsdb_postings_insert(&pc, 5);
    tsdb_postings_insert(&pc, 5);
    tsdb_postings_remove(&pc, 3);
    static const uint64_t c2[] = {5, 8};
    assert_int_equal(pc.n, 2);
    assert_memory_equal(pc.ids, c2, sizeof(c2));
    /* galloping over a long list */
    tsdb_postings_t big = {0}, small = {0};
    for (uint64_t i = 0; i < 100000; i++) {
        tsdb_postings_push(&big, i * 2);
    }
    tsdb_postings_push(&small, 7);
    tsdb_postings_push(&small, 50000);
    tsdb_postings_push(&small, 199998);
    tsdb_postings_intersect(&small, &big, &out);
    assert_int_equal(out.n, 2);
    assert_int_equal(out.ids[0], 50000);
    assert_int_equal(out.ids[1], 199998);
    tsdb_postings_fini(&big);
    tsdb_postings_fini(&small);
    tsdb_postings_fini(&pa);
    tsdb_postings_fini(&pb);
    tsdb_postings_fini(&pc);
    tsdb_postings_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_rollback), cmocka_unit_test(test_sample_rules),
        cmocka_unit_test(test_ooo_window),      cmocka_unit_test(test_chunk_cut),
        cmocka_unit_test(test_select_matchers), cmocka_unit_test(test_postings_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
