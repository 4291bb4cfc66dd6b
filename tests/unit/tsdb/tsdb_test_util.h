/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_test_util.h - helpers for the TSDB unit tests: temporary data directories, appending
 * one sample in its own transaction, and collecting a selector's samples as text.
 */
#ifndef TW_TESTS_TSDB_TEST_UTIL_H
#define TW_TESTS_TSDB_TEST_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb.h"
#include "common/buf.h"

/* Creates a fresh directory under /tmp and returns it (static storage per call site). */
static inline char *tt_tmpdir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/tw_tsdb_test_XXXXXX");
    return mkdtemp(buf);
}

static inline void tt_rmrf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", dir);
    }
}

static inline tw_tsdb_t *tt_open(const char *dir, int64_t ooo_window)
{
    tw_tsdb_options_t o;
    tw_tsdb_options_default(&o);
    o.path = dir;
    o.out_of_order_window_ms = ooo_window;
    o.fsync_policy = TW_TSDB_FSYNC_NEVER;
    tw_tsdb_t *db = NULL;
    tw_error_t err;
    if (tw_tsdb_open(&o, &db, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return NULL;
    }
    return db;
}

/* Appends name{k=v} (k may be NULL) at t in its own transaction; returns append's code. */
static inline int tt_add(tw_tsdb_t *db, const char *name, const char *k, const char *v, int64_t t,
                         double val)
{
    tw_label_t l[2];
    size_t n = 0;
    l[n++] = (tw_label_t){"__name__", name};
    if (k != NULL) {
        l[n++] = (tw_label_t){k, v};
    }
    tw_tsdb_appender_t *a = tw_tsdb_appender_begin(db);
    int rc = tw_tsdb_appender_append(a, l, n, t, val, NULL);
    int crc = tw_tsdb_appender_commit(a, NULL);
    return rc != 0 ? rc : crc;
}

/* Renders every series matching ms in [mint, maxt] as "labels t=v,t=v\n" lines into out. */
static inline void tt_render(tw_tsdb_t *db, const tw_matcher_t *ms, size_t n, int64_t mint,
                             int64_t maxt, tw_buf_t *out)
{
    tw_tsdb_querier_t *q = tw_tsdb_querier_new(db, mint, maxt);
    tw_tsdb_series_set_t *set = tw_tsdb_select(q, ms, n, NULL);
    tw_tsdb_iter_t *it = NULL;
    tw_buf_reset(out);
    while (tw_tsdb_series_set_next(set)) {
        size_t nl;
        const tw_label_t *l = tw_tsdb_series_set_labels(set, &nl);
        tw_buf_putc(out, '{');
        for (size_t i = 0; i < nl; i++) {
            tw_buf_printf(out, "%s%s=%s", i > 0 ? "," : "", l[i].name, l[i].value);
        }
        tw_buf_putc(out, '}');
        it = tw_tsdb_series_set_iter(set, it);
        int64_t t;
        double v;
        while (tw_tsdb_iter_next(it)) {
            tw_tsdb_iter_at(it, &t, &v);
            tw_buf_printf(out, " %lld=%g", (long long)t, v);
        }
        tw_buf_putc(out, '\n');
    }
    if (out->data == NULL) {
        tw_buf_puts(out, "");
    }
    tw_tsdb_iter_free(it);
    tw_tsdb_series_set_free(set);
    tw_tsdb_querier_free(q);
}

#endif
