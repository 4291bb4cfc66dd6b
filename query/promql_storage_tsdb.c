/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_storage_tsdb.c - the PromQL engine's storage contract (tw_promql_storage_t) on top of
 * the TSDB's querier: one TSDB querier per query, series decoded one at a time into scratch
 * arrays that live only for the callback.
 *
 * Thread model: a view belongs to one query; the TSDB allows concurrent queriers.
 */
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb.h"
#include "common/mem.h"
#include "query/query.h"

typedef struct view {
    tw_tsdb_querier_t *q;
    tw_tsdb_iter_t *it;
    int64_t *t;
    double *v;
    size_t cap;
} view_t;

static int tsdb_open(void *ctx, int64_t mint, int64_t maxt, void **out, tw_error_t *err)
{
    view_t *vw = tw_xcalloc(1, sizeof(*vw));
    vw->q = tw_tsdb_querier_new(ctx, mint, maxt);
    if (vw->q == NULL) {
        free(vw);
        return tw_error_set(err, TW_EIO, "cannot open a querier on the TSDB");
    }
    *out = vw;
    return 0;
}

static void tsdb_close(void *q)
{
    view_t *vw = q;
    if (vw == NULL) {
        return;
    }
    tw_tsdb_iter_free(vw->it);
    tw_tsdb_querier_free(vw->q);
    free(vw->t);
    free(vw->v);
    free(vw);
}

static int tsdb_select(void *q, const tw_matcher_t *ms, size_t n, int64_t mint, int64_t maxt,
                       tw_promql_series_fn fn, void *arg, tw_error_t *err)
{
    view_t *vw = q;
    tw_tsdb_series_set_t *set = tw_tsdb_select(vw->q, ms, n, err);
    if (set == NULL) {
        return err != NULL && err->code != 0 ? err->code : TW_EINVAL;
    }
    int rc = 0;
    while (rc == 0 && tw_tsdb_series_set_next(set)) {
        vw->it = tw_tsdb_series_set_iter(set, vw->it);
        size_t k = 0;
        bool ok = tw_tsdb_iter_seek(vw->it, mint);
        while (ok) {
            int64_t t;
            double v;
            tw_tsdb_iter_at(vw->it, &t, &v);
            if (t > maxt) {
                break;
            }
            if (k == vw->cap) {
                vw->cap = vw->cap == 0 ? 256 : vw->cap * 2;
                vw->t = tw_xrealloc(vw->t, vw->cap * sizeof(*vw->t));
                vw->v = tw_xrealloc(vw->v, vw->cap * sizeof(*vw->v));
            }
            vw->t[k] = t;
            vw->v[k] = v;
            k++;
            ok = tw_tsdb_iter_next(vw->it);
        }
        if (tw_tsdb_iter_err(vw->it) != 0) {
            rc = tw_error_set(err, TW_EIO, "a chunk of a series could not be decoded");
            break;
        }
        if (k == 0) {
            continue;
        }
        size_t nl;
        const tw_label_t *l = tw_tsdb_series_set_labels(set, &nl);
        rc = fn(arg, l, nl, vw->t, vw->v, k);
    }
    tw_tsdb_series_set_free(set);
    return rc;
}

void tw_promql_storage_tsdb(struct tw_tsdb *db, tw_promql_storage_t *s)
{
    memset(s, 0, sizeof(*s));
    s->ctx = db;
    s->open = tsdb_open;
    s->close = tsdb_close;
    s->select = tsdb_select;
}
