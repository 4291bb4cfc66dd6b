/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tsdb_concurrency.c - several appending threads (overlapping series, group-committed
 * fsync) and a querying thread at once; afterwards every committed sample is there, in order,
 * and a replay finds the same. Meant for the ASan/UBSan and TSan builds.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tsdb_test_util.h"

#define WRITERS 4
#define BATCHES 150
#define SERIES 40

static tw_tsdb_t *g_db;
static int g_stop;

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    char inst[16], wr[8];
    snprintf(wr, sizeof(wr), "w%d", w);
    for (int b = 0; b < BATCHES; b++) {
        tw_tsdb_appender_t *a = tw_tsdb_appender_begin(g_db);
        for (int s = 0; s < SERIES; s++) {
            snprintf(inst, sizeof(inst), "i%02d", s);
            tw_label_t l[] = {{"__name__", "conc"}, {"instance", inst}, {"writer", wr}};
            if (tw_tsdb_appender_append(a, l, 3, (int64_t)b * 1000, b, NULL) != 0) {
                abort();
            }
            /* a series shared by all writers: same t and value from everyone is a no-op */
            tw_label_t sh[] = {{"__name__", "shared"}, {"instance", inst}};
            (void)tw_tsdb_appender_append(a, sh, 2, (int64_t)b * 1000, b, NULL);
        }
        if (tw_tsdb_appender_commit(a, NULL) != 0) {
            abort();
        }
    }
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    tw_matcher_t m;
    tw_matcher_init(&m, TW_MATCH_RE, "writer", "w[0-9]", NULL);
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        tw_tsdb_querier_t *q = tw_tsdb_querier_new(g_db, INT64_MIN, INT64_MAX);
        tw_tsdb_series_set_t *set = tw_tsdb_select(q, &m, 1, NULL);
        tw_tsdb_iter_t *it = NULL;
        while (tw_tsdb_series_set_next(set)) {
            it = tw_tsdb_series_set_iter(set, it);
            int64_t prev = -1, t;
            double v;
            while (tw_tsdb_iter_next(it)) {
                tw_tsdb_iter_at(it, &t, &v);
                if (t <= prev || v != (double)(t / 1000)) {
                    abort();
                }
                prev = t;
            }
        }
        tw_tsdb_iter_free(it);
        tw_tsdb_series_set_free(set);
        tw_tsdb_querier_free(q);
        tw_tsdb_stats_t st;
        tw_tsdb_stats_get(g_db, &st);
    }
    tw_matcher_fini(&m);
    return NULL;
}

static size_t count(tw_tsdb_t *db)
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

static void test_concurrent(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    tw_tsdb_options_t o;
    tw_tsdb_options_default(&o);
    o.path = dir;
    o.stripes = 8;
    o.wal_segment_bytes = 256 * 1024;
    assert_int_equal(tw_tsdb_open(&o, &g_db, NULL), 0);
    pthread_t w[WRITERS], r;
    g_stop = 0;
    pthread_create(&r, NULL, reader, NULL);
    for (int i = 0; i < WRITERS; i++) {
        pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(w[i], NULL);
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    pthread_join(r, NULL);
    size_t want = (size_t)WRITERS * BATCHES * SERIES + (size_t)BATCHES * SERIES;
    assert_int_equal(count(g_db), want);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(g_db, &st);
    assert_int_equal(st.head_series, WRITERS * SERIES + SERIES);
    assert_int_equal(st.rejected_duplicate + st.rejected_out_of_order, 0);
    assert_true(st.wal_fsyncs > 0);
    tw_tsdb_close(g_db);
    assert_int_equal(tw_tsdb_open(&o, &g_db, NULL), 0);
    assert_int_equal(count(g_db), want);
    tw_tsdb_close(g_db);
    tt_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
