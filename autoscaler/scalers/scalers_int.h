/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scalers_int.h - helpers shared by the files of autoscaler/scalers only (never included from
 * another module): PromQL string and regex escaping, the pod-name index used to join query
 * results to pods, and the per-kind fetchers behind tw_scalers_fetch().
 */
#ifndef TW_AUTOSCALER_SCALERS_INT_H
#define TW_AUTOSCALER_SCALERS_INT_H

#include <stddef.h>

#include "autoscaler/scalers/scalers.h"

/* Appends s[0..len) escaped for the inside of a PromQL double-quoted string. */
int tw_scalers_put_escaped(tw_buf_t *out, const char *s, size_t len);

/* Appends s regex-escaped (RE2 QuoteMeta), then escaped for a PromQL double-quoted string. */
int tw_scalers_put_regex_escaped(tw_buf_t *out, const char *s);

/* Appends the pod names as an escaped regex alternation ("a|b"); "" for none. */
int tw_scalers_put_pod_regex(tw_buf_t *out, const char *const *names, size_t n);

/* Pod names sorted for lookups: idx[k] is a position in the caller's pod array. */
typedef struct tw_scalers_pod_index {
    const tw_hpa_pod_t *pods; /* borrowed */
    size_t *idx;              /* owned, n entries */
    size_t n;
} tw_scalers_pod_index_t;

/* Builds the index (pods with a NULL name are left out). */
void tw_scalers_pod_index_init(tw_scalers_pod_index_t *ix, const tw_hpa_pod_t *pods, size_t n);
/* Frees the index. */
void tw_scalers_pod_index_fini(tw_scalers_pod_index_t *ix);
/* The position of the pod named name in the caller's array, or -1. */
ptrdiff_t tw_scalers_pod_index_find(const tw_scalers_pod_index_t *ix, const char *name);

/* Sets f->error from fmt, points in->fetch_error at it and returns code. */
int tw_scalers_fail(tw_scalers_fetch_t *f, tw_hpa_metric_input_t *in, int code, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

/* Runs query (NUL-terminated) at now_ms; keeps a copy of the text in f->query. */
int tw_scalers_run(tw_scalers_fetch_t *f, const tw_query_source_t *qs, const char *query,
                   int64_t now_ms, tw_qs_result_t *res, tw_error_t *err);

/* Resource and ContainerResource (scalers_resource.c). */
int tw_scalers_fetch_resource(const tw_scalers_config_t *cfg, const tw_query_source_t *qs,
                              const tw_scalers_target_t *t, int64_t now_ms,
                              tw_hpa_metric_input_t *in, tw_scalers_fetch_t *f);

/* Pods, Object and External (scalers_promql.c). */
int tw_scalers_fetch_promql(const tw_scalers_config_t *cfg, const tw_query_source_t *qs,
                            const tw_scalers_target_t *t, int64_t now_ms, tw_hpa_metric_input_t *in,
                            tw_scalers_fetch_t *f);

#endif
