/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tsdb_compact.c - blocks under concurrency: two appending threads (in lockstep so neither
 * falls behind the head's truncation point), a querying thread checking order and values, a
 * thread running maintenance passes (head cuts, compactions) back to back, and the background
 * thread on a 5 ms period, all at once. Afterwards every committed sample is there exactly once,
 * also after a reopen. Meant for the ASan/UBSan and TSan builds.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "collector/tsdb/tsdb_int.h"
#include "tsdb_test_util.h"

#define WRITERS 2
#define SERIES 20
#define STEPS 2000
#define STEP_MS 500
#define RANGE_MS 60000

static tw_tsdb_t *g_db;
static int g_stop;
static pthread_barrier_t g_bar;

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    char inst[SERIES][16], wr[8];
    snprintf(wr, sizeof(wr), "w%d", w);
    for (int s = 0; s < SERIES; s++) {
        snprintf(inst[s], sizeof(inst[s]), "i%02d", s);
    }
    for (int b = 0; b < STEPS; b++) {
        if (b % 20 == 0) {
            pthread_barrier_wait(&g_bar);
        }
        tw_tsdb_appender_t *a = tw_tsdb_appender_begin(g_db);
        for (int s = 0; s < SERIES; s++) {
            tw_label_t l[] = {{"__name__", "conc"}, {"instance", inst[s]}, {"writer", wr}};
            tw_error_t err;
            if (tw_tsdb_appender_append(a, l, 3, (int64_t)b * STEP_MS, b, &err) != 0) {
                fprintf(stderr, "append: %s\n", err.msg);
                abort();
            }
        }
        if (tw_tsdb_appender_commit(a, NULL) != 0) {
            abort();
        }
    }
    return NULL;
}

/* Checks every series: strictly increasing times, value = time / STEP_MS. Returns samples. */
static uint64_t check_all(tw_tsdb_t *db, size_t *nseries)
{
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, INT64_MIN, INT64_MAX);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, NULL, 0, NULL);
    tw_tsdb_iter_t *it = NULL;
    uint64_t total = 0;
    *nseries = tw_tsdb_series_set_count(set);
    while (tw_tsdb_series_set_next(set)) {
        it = tw_tsdb_series_set_iter(set, it);
        int64_t prev = -1, t;
        double v;
        while (tw_tsdb_iter_next(it)) {
            tw_tsdb_iter_at(it, &t, &v);
            if (t <= prev || v != (double)(t / STEP_MS)) {
                abort();
            }
            prev = t;
            total++;
        }
        if (tw_tsdb_iter_err(it) != 0) {
            abort();
        }
    }
    tw_tsdb_iter_free(it);
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
    return total;
}

static void *reader(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        size_t n;
        (void)check_all(g_db, &n);
    }
    return NULL;
}

static void *compactor(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        tw_error_t err;
        if (tw_tsdb_compact(g_db, INT64_C(1698840000000), &err) != 0) {
            fprintf(stderr, "compact: %s\n", err.msg);
            abort();
        }
    }
    return NULL;
}

static tw_tsdb_t *open_db(const char *dir, int64_t interval)
{
    tw_tsdb_options_t o;
    tw_tsdb_options_default(&o);
    o.path = dir;
    o.fsync_policy = TW_TSDB_FSYNC_NEVER;
    o.block_range_ms = RANGE_MS;
    o.retention_time_ms = 0;
    o.compact_interval_ms = interval;
    tw_tsdb_t *db = NULL;
    assert_int_equal(tw_tsdb_open(&o, &db, NULL), 0);
    return db;
}

static void test_append_query_compact(void **state)
{
    (void)state;
    char dir[64];
    tt_tmpdir(dir, sizeof(dir));
    g_db = open_db(dir, 5);
    g_stop = 0;
    pthread_barrier_init(&g_bar, NULL, WRITERS);
    pthread_t w[WRITERS], r, c;
    for (int i = 0; i < WRITERS; i++) {
        pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
    }
    pthread_create(&r, NULL, reader, NULL);
    pthread_create(&c, NULL, compactor, NULL);
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(w[i], NULL);
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    pthread_join(r, NULL);
    pthread_join(c, NULL);
    pthread_barrier_destroy(&g_bar);
    tw_error_t err;
    assert_int_equal(tw_tsdb_compact(g_db, INT64_C(1698840000000), &err), 0);
    tw_tsdb_stats_t st;
    tw_tsdb_stats_get(g_db, &st);
    /* 1000 s of data, 60 s blocks: the head keeps at most 90 s, the rest went to blocks */
    assert_true(st.head_cuts >= 14);
    assert_true(st.compactions >= 1);
    assert_int_equal(st.compactions_failed, 0);
    assert_int_equal(st.rejected_too_old, 0);
    size_t n;
    assert_int_equal(check_all(g_db, &n), (uint64_t)WRITERS * SERIES * STEPS);
    assert_int_equal(n, WRITERS * SERIES);
    tw_tsdb_close(g_db);
    g_db = open_db(dir, 0);
    assert_int_equal(check_all(g_db, &n), (uint64_t)WRITERS * SERIES * STEPS);
    assert_int_equal(n, WRITERS * SERIES);
    tw_tsdb_close(g_db);
    tt_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_query_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
