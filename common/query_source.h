/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query_source.h - the query-source contract: how rules, autoscalers and exports ask for PromQL
 * answers without knowing the engine.
 *
 * A source is a table of functions plus a context; the PromQL engine implements it
 * (tw_promql_query_source() in query/query.h) and only daemon/ wires it to its consumers, so
 * every consumer can be tested with a fake source. Answers are owned by the caller and freed with
 * tw_qs_result_free().
 *
 * Thread model: a source may be called from several threads at once if its implementation says
 * so (the engine's does); a result belongs to the thread that got it.
 */
#ifndef TW_COMMON_QUERY_SOURCE_H
#define TW_COMMON_QUERY_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "labels.h"

/* The kind of an answer. */
typedef enum {
    TW_QS_SCALAR = 1, /* one series without labels, one point */
    TW_QS_VECTOR,     /* each series one point, at the query time */
    TW_QS_MATRIX,     /* each series its points, ascending */
    TW_QS_STRING,
} tw_qs_type_t;

typedef struct tw_qs_point {
    int64_t t_ms;
    double v;
} tw_qs_point_t;

typedef struct tw_qs_series {
    const tw_label_t *labels; /* sorted */
    size_t n_labels;
    const tw_qs_point_t *points;
    size_t n_points;
} tw_qs_series_t;

/* An answer; every pointer in it stays valid until tw_qs_result_free(). */
typedef struct tw_qs_result {
    tw_qs_type_t type;
    const tw_qs_series_t *series;
    size_t n_series;
    const char *str; /* TW_QS_STRING */
    const char *const *warnings;
    size_t n_warnings;
    void *priv;                  /* the implementation's: passed to release */
    void (*release)(void *priv); /* frees everything the answer points to */
} tw_qs_result_t;

typedef struct tw_query_source {
    void *ctx;
    /*
     * Evaluates expr (NUL-terminated PromQL) at t_ms into *out. Returns 0, or a negative TW_E*
     * code with err filled as the engine words it (TW_EPARSE for a bad query, TW_EEXEC,
     * TW_ETIMEOUT); *out is then empty.
     */
    int (*instant)(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out, tw_error_t *err);
} tw_query_source_t;

/* Frees what r points to and zeroes it. Safe on a zeroed or already freed result. */
void tw_qs_result_free(tw_qs_result_t *r);

#endif
