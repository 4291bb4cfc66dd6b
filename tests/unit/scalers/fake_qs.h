/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_qs.h - a table-driven query source for the scalers tests: each row gives the exact query
 * text it answers (NULL: any) and the answer (an error code and message, or a result type and
 * series built from static arrays). It records the last query and time, counts calls, and
 * counts released answers so a test can check that every answer was freed.
 */
#ifndef TW_TESTS_SCALERS_FAKE_QS_H
#define TW_TESTS_SCALERS_FAKE_QS_H

#include <stdio.h>
#include <string.h>

#include "common/query_source.h"

typedef struct fake_row {
    const char *query; /* exact text; NULL matches any query */
    int rc;            /* != 0: fail with this code and errmsg */
    const char *errmsg;
    tw_qs_type_t type;
    const tw_qs_series_t *series;
    size_t n_series;
} fake_row_t;

typedef struct fake_qs {
    const fake_row_t *rows;
    size_t n_rows;
    int calls;
    int released;
    char last[8192];
    int64_t last_t_ms;
} fake_qs_t;

static void fake_release(void *priv)
{
    ((fake_qs_t *)priv)->released++;
}

static int fake_instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out,
                        tw_error_t *err)
{
    fake_qs_t *f = ctx;
    memset(out, 0, sizeof(*out));
    f->calls++;
    f->last_t_ms = t_ms;
    snprintf(f->last, sizeof(f->last), "%s", expr);
    for (size_t i = 0; i < f->n_rows; i++) {
        const fake_row_t *r = &f->rows[i];
        if (r->query != NULL && strcmp(r->query, expr) != 0) {
            continue;
        }
        if (r->rc != 0) {
            return tw_error_set(err, r->rc, "%s", r->errmsg);
        }
        out->type = r->type;
        out->series = r->series;
        out->n_series = r->n_series;
        out->priv = f;
        out->release = fake_release;
        return 0;
    }
    return tw_error_set(err, TW_EEXEC, "fake: no answer for %s", expr);
}

static tw_query_source_t fake_source(fake_qs_t *f)
{
    tw_query_source_t qs = {f, fake_instant};
    return qs;
}

#endif
