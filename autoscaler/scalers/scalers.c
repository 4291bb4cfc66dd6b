/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scalers.c - the entry point of the metric sources (tw_scalers_fetch dispatches by metric
 * type), the fetch result's lifetime, the unit conversions to Kubernetes milli-values and the
 * pod-name index shared by the resource and PromQL fetchers.
 *
 * Pure apart from calling the caller's query source. No shared state.
 */
#include "scalers_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* 2^63 as a double: the first value past INT64_MAX. */
#define TWO_POW_63 9223372036854775808.0

void tw_scalers_fetch_init(tw_scalers_fetch_t *f)
{
    memset(f, 0, sizeof(*f));
}

void tw_scalers_fetch_fini(tw_scalers_fetch_t *f)
{
    if (f == NULL) {
        return;
    }
    free(f->metrics);
    free(f->values);
    free(f->query);
    memset(f, 0, sizeof(*f));
}

int tw_scalers_fail(tw_scalers_fetch_t *f, tw_hpa_metric_input_t *in, int code, const char *fmt,
                    ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->error, sizeof(f->error), fmt, ap);
    va_end(ap);
    in->fetch_error = f->error;
    return code;
}

int tw_scalers_run(tw_scalers_fetch_t *f, const tw_query_source_t *qs, const char *query,
                   int64_t now_ms, tw_qs_result_t *res, tw_error_t *err)
{
    memset(res, 0, sizeof(*res));
    free(f->query);
    f->query = tw_xstrdup(query);
    tw_error_clear(err);
    int rc = qs->instant(qs->ctx, query, now_ms, res, err);
    if (rc != 0 && err->msg[0] == '\0') {
        tw_error_set(err, rc, "%s", tw_strerror(rc));
    }
    return rc;
}

/* ---- conversions ---- */

bool tw_scalers_cpu_milli(double cores, int64_t *milli)
{
    if (!isfinite(cores) || cores < 0) {
        return false;
    }
    double nano = floor(cores * 1e9); /* metrics-server keeps whole nanocores */
    if (nano >= TWO_POW_63) {
        *milli = INT64_MAX;
        return true;
    }
    int64_t n = (int64_t)nano;
    *milli = n / 1000000 + (n % 1000000 != 0 ? 1 : 0); /* MilliValue() rounds up */
    return true;
}

bool tw_scalers_bytes_milli(double bytes, int64_t *milli)
{
    if (!isfinite(bytes) || bytes < 0) {
        return false;
    }
    double b = floor(bytes);
    if (b >= TWO_POW_63 / 1000.0) {
        *milli = INT64_MAX;
        return true;
    }
    *milli = (int64_t)b * 1000;
    return true;
}

bool tw_scalers_value_milli(double v, int64_t *milli)
{
    if (!isfinite(v)) {
        return false;
    }
    double m = trunc(v * 1000.0);
    if (m >= TWO_POW_63) {
        *milli = INT64_MAX;
    } else if (m < -TWO_POW_63) {
        *milli = INT64_MIN;
    } else {
        *milli = (int64_t)m;
    }
    return true;
}

/* ---- pod index ---- */

typedef struct keyed {
    const char *name;
    size_t pos;
} keyed_t;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0) {
        return c;
    }
    return x->pos < y->pos ? -1 : (x->pos > y->pos ? 1 : 0);
}

void tw_scalers_pod_index_init(tw_scalers_pod_index_t *ix, const tw_hpa_pod_t *pods, size_t n)
{
    keyed_t *k = tw_xcalloc(n + 1, sizeof(*k));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (pods[i].name != NULL) {
            k[m++] = (keyed_t){pods[i].name, i};
        }
    }
    qsort(k, m, sizeof(*k), keyed_cmp);
    ix->pods = pods;
    ix->idx = tw_xcalloc(m + 1, sizeof(*ix->idx));
    ix->n = m;
    for (size_t i = 0; i < m; i++) {
        ix->idx[i] = k[i].pos;
    }
    free(k);
}

void tw_scalers_pod_index_fini(tw_scalers_pod_index_t *ix)
{
    free(ix->idx);
    memset(ix, 0, sizeof(*ix));
}

ptrdiff_t tw_scalers_pod_index_find(const tw_scalers_pod_index_t *ix, const char *name)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->pods[ix->idx[mid]].name, name);
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid; /* equal names: keep going left to the first one */
        }
    }
    if (lo < ix->n && strcmp(ix->pods[ix->idx[lo]].name, name) == 0) {
        return (ptrdiff_t)ix->idx[lo];
    }
    return -1;
}

/* ---- dispatch ---- */

int tw_scalers_fetch(const tw_scalers_config_t *cfg, const tw_query_source_t *qs,
                     const tw_scalers_target_t *target, int64_t now_ms, tw_hpa_metric_input_t *in,
                     tw_scalers_fetch_t *f)
{
    tw_scalers_fetch_fini(f);
    in->fetch_error = NULL;
    in->pods.pods = target->pods;
    in->pods.n_pods = target->n_pods;
    in->pods.metrics = NULL;
    in->pods.n_metrics = 0;
    in->pods.now_ms = now_ms;
    in->object_value_milli = 0;
    in->external_values_milli = NULL;
    in->n_external_values = 0;
    switch (in->type) {
    case TW_HPA_METRIC_RESOURCE:
    case TW_HPA_METRIC_CONTAINER_RESOURCE:
        return tw_scalers_fetch_resource(cfg, qs, target, now_ms, in, f);
    case TW_HPA_METRIC_PODS:
    case TW_HPA_METRIC_OBJECT:
    case TW_HPA_METRIC_EXTERNAL:
        return tw_scalers_fetch_promql(cfg, qs, target, now_ms, in, f);
    default:
        /* the calculator reports InvalidMetricSourceType itself */
        return 0;
    }
}
