/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_query_source.c - the PromQL engine behind the query-source contract
 * (common/query_source.h): instant queries whose answers are copied into one allocation the
 * caller frees with tw_qs_result_free().
 *
 * Thread model: no state of its own; as thread-safe as the storage.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/query_source.h"
#include "query/query.h"

typedef struct answer {
    tw_promql_result_t *r;
    tw_qs_series_t *series;
    tw_qs_point_t *points;
    tw_qs_point_t scalar;
} answer_t;

static void answer_release(void *priv)
{
    answer_t *a = priv;
    if (a == NULL) {
        return;
    }
    tw_promql_result_free(a->r);
    free(a->series);
    free(a->points);
    free(a);
}

static int qs_instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out,
                      tw_error_t *err)
{
    tw_promql_qs_t *q = ctx;
    memset(out, 0, sizeof(*out));
    tw_promql_result_t *r = NULL;
    int rc = tw_promql_exec_instant(&q->opts, &q->storage, expr, strlen(expr), t_ms, &r, err);
    if (rc != 0) {
        return rc;
    }
    answer_t *a = tw_xcalloc(1, sizeof(*a));
    a->r = r;
    out->priv = a;
    out->release = answer_release;
    out->warnings = r->warnings;
    out->n_warnings = r->n_warnings;
    switch (r->type) {
    case TW_PROMQL_TYPE_STRING:
        out->type = TW_QS_STRING;
        out->str = r->str;
        return 0;
    case TW_PROMQL_TYPE_SCALAR:
        out->type = TW_QS_SCALAR;
        a->series = tw_xcalloc(1, sizeof(*a->series));
        a->scalar = (tw_qs_point_t){.t_ms = r->t, .v = r->scalar};
        a->series[0].points = &a->scalar;
        a->series[0].n_points = 1;
        out->series = a->series;
        out->n_series = 1;
        return 0;
    default:
        break;
    }
    out->type = r->type == TW_PROMQL_TYPE_MATRIX ? TW_QS_MATRIX : TW_QS_VECTOR;
    size_t np = 0;
    for (size_t i = 0; i < r->n_series; i++) {
        np += r->series[i].n_points;
    }
    a->series = tw_xcalloc(r->n_series + 1, sizeof(*a->series));
    a->points = tw_xcalloc(np + 1, sizeof(*a->points));
    size_t k = 0;
    for (size_t i = 0; i < r->n_series; i++) {
        const tw_promql_series_t *s = &r->series[i];
        a->series[i] = (tw_qs_series_t){.labels = s->labels,
                                        .n_labels = s->n_labels,
                                        .points = &a->points[k],
                                        .n_points = s->n_points};
        for (size_t j = 0; j < s->n_points; j++) {
            a->points[k++] = (tw_qs_point_t){.t_ms = s->points[j].t, .v = s->points[j].v};
        }
    }
    out->series = a->series;
    out->n_series = r->n_series;
    return 0;
}

void tw_promql_query_source(tw_promql_qs_t *ctx, struct tw_query_source *out)
{
    memset(out, 0, sizeof(*out));
    out->ctx = ctx;
    out->instant = qs_instant;
}
