/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scalers_promql.c - Pods, Object and External metrics from the `metric_queries` table: the
 * entry for the metric's name is expanded (scalers_template.c) and run as one instant query,
 * and the answer is shaped like the custom.metrics.k8s.io / external.metrics.k8s.io answers
 * the HPA's metrics client reads (pkg/controller/podautoscaler/metrics/client.go), with the
 * values converted as prometheus-adapter converts them (int64(v * 1000)).
 *
 * Pods: each series is matched to a pod by its `pod` label; series without one, for another
 * pod, or with a NaN/infinite value are left out, so those pods are missing; two series for one
 * pod are an error (the query lacks a `by (pod)`). Object: exactly one series (or a scalar).
 * External: every series (or a scalar) is one value. No value at all is an error worded like
 * the HPA's client, never a zero.
 *
 * Pure apart from the query source. No shared state.
 */
#include "scalers_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/labels.h"
#include "common/mem.h"

#define CUSTOM_API "custom metrics API"
#define EXTERNAL_API "external metrics API"

static const char *type_word(tw_qs_type_t t)
{
    switch (t) {
    case TW_QS_SCALAR:
        return "scalar";
    case TW_QS_VECTOR:
        return "instant vector";
    case TW_QS_MATRIX:
        return "range vector";
    case TW_QS_STRING:
        return "string";
    }
    return "value of unknown type";
}

static int shape_pods(const char *metric, const tw_scalers_target_t *t, const tw_qs_result_t *res,
                      int64_t now_ms, tw_hpa_metric_input_t *in, tw_scalers_fetch_t *f)
{
    tw_scalers_pod_index_t ix;
    int rc = 0;
    tw_scalers_pod_index_init(&ix, t->pods, t->n_pods);
    /* per pod: the series index that gave its value, or SIZE_MAX */
    size_t *from = tw_xcalloc(t->n_pods + 1, sizeof(*from));
    int64_t *vals = tw_xcalloc(t->n_pods + 1, sizeof(*vals));
    int64_t *ts = tw_xcalloc(t->n_pods + 1, sizeof(*ts));
    for (size_t i = 0; i < t->n_pods; i++) {
        from[i] = SIZE_MAX;
    }
    size_t found = 0;
    for (size_t i = 0; i < res->n_series; i++) {
        const tw_qs_series_t *s = &res->series[i];
        const char *pod = tw_labels_get(s->labels, s->n_labels, "pod");
        if (pod == NULL || s->n_points == 0) {
            continue;
        }
        ptrdiff_t p = tw_scalers_pod_index_find(&ix, pod);
        if (p < 0) {
            continue;
        }
        if (from[p] != SIZE_MAX) {
            rc = tw_scalers_fail(f, in, TW_EINVAL,
                                 "unable to fetch metrics from " CUSTOM_API
                                 ": the query for metric %s returned more than one series for "
                                 "pod %s/%s",
                                 metric, t->namespace != NULL ? t->namespace : "", pod);
            goto out;
        }
        const tw_qs_point_t *pt = &s->points[s->n_points - 1];
        int64_t v;
        if (!tw_scalers_value_milli(pt->v, &v)) {
            continue;
        }
        from[p] = i;
        vals[p] = v;
        ts[p] = pt->t_ms;
        found++;
    }
    if (found == 0) {
        rc = tw_scalers_fail(f, in, TW_ENOTFOUND, "no metrics returned from " CUSTOM_API);
        goto out;
    }
    f->metrics = tw_xcalloc(found, sizeof(*f->metrics));
    for (size_t p = 0; p < t->n_pods; p++) {
        if (from[p] != SIZE_MAX) {
            f->metrics[f->n_metrics++] = (tw_hpa_pod_metric_t){
                .pod = t->pods[p].name,
                .value_milli = vals[p],
                .timestamp_ms = ts[p] != 0 ? ts[p] : now_ms,
                .window_ms = TW_SCALERS_CUSTOM_WINDOW_MS,
            };
        }
    }
    in->pods.metrics = f->metrics;
    in->pods.n_metrics = f->n_metrics;
out:
    free(ts);
    free(vals);
    free(from);
    tw_scalers_pod_index_fini(&ix);
    return rc;
}

static int shape_object(const char *metric, const tw_scalers_target_t *t, const tw_qs_result_t *res,
                        tw_hpa_metric_input_t *in, tw_scalers_fetch_t *f)
{
    const char *kind = t->object_kind != NULL ? t->object_kind : "";
    const char *name = t->object_name != NULL ? t->object_name : "";
    if (res->n_series > 1) {
        return tw_scalers_fail(f, in, TW_EINVAL,
                               "unable to fetch metrics from " CUSTOM_API
                               ": the query for metric %s returned %zu series for %s %s, "
                               "expected one",
                               metric, res->n_series, kind, name);
    }
    int64_t v;
    if (res->n_series == 0 || res->series[0].n_points == 0 ||
        !tw_scalers_value_milli(res->series[0].points[res->series[0].n_points - 1].v, &v)) {
        return tw_scalers_fail(f, in, TW_ENOTFOUND,
                               "unable to fetch metrics from " CUSTOM_API
                               ": the server could not find the metric %s for %s %s",
                               metric, kind, name);
    }
    in->object_value_milli = v;
    return 0;
}

static int shape_external(const tw_qs_result_t *res, tw_hpa_metric_input_t *in,
                          tw_scalers_fetch_t *f)
{
    f->values = tw_xcalloc(res->n_series + 1, sizeof(*f->values));
    for (size_t i = 0; i < res->n_series; i++) {
        const tw_qs_series_t *s = &res->series[i];
        int64_t v;
        if (s->n_points > 0 && tw_scalers_value_milli(s->points[s->n_points - 1].v, &v)) {
            f->values[f->n_values++] = v;
        }
    }
    if (f->n_values == 0) {
        return tw_scalers_fail(f, in, TW_ENOTFOUND, "no metrics returned from " EXTERNAL_API);
    }
    in->external_values_milli = f->values;
    in->n_external_values = f->n_values;
    return 0;
}

int tw_scalers_fetch_promql(const tw_scalers_config_t *cfg, const tw_query_source_t *qs,
                            const tw_scalers_target_t *t, int64_t now_ms, tw_hpa_metric_input_t *in,
                            tw_scalers_fetch_t *f)
{
    tw_scalers_kind_t kind;
    const char *api;
    switch (in->type) {
    case TW_HPA_METRIC_PODS:
        kind = TW_SCALERS_KIND_PODS;
        api = CUSTOM_API;
        break;
    case TW_HPA_METRIC_OBJECT:
        kind = TW_SCALERS_KIND_OBJECT;
        api = CUSTOM_API;
        break;
    default:
        kind = TW_SCALERS_KIND_EXTERNAL;
        api = EXTERNAL_API;
        break;
    }
    const char *metric = in->name != NULL ? in->name : "";
    const tw_scalers_query_t *entry = tw_scalers_query_find(cfg, metric, kind);
    if (entry == NULL) {
        return tw_scalers_fail(f, in, TW_ENOTFOUND,
                               "unable to fetch metrics from %s: no autoscaling.metric_queries "
                               "entry for metric %s",
                               api, metric);
    }
    if (kind == TW_SCALERS_KIND_PODS && t->n_pods == 0) {
        return tw_scalers_fail(f, in, TW_ENOTFOUND, "no metrics returned from " CUSTOM_API);
    }

    tw_buf_t q;
    tw_qs_result_t res;
    tw_error_t err;
    const char **names = tw_xcalloc(t->n_pods + 1, sizeof(*names));
    int rc;
    tw_buf_init(&q, TW_SCALERS_QUERY_MAX_BYTES);
    memset(&res, 0, sizeof(res));
    tw_error_clear(&err);
    for (size_t i = 0; i < t->n_pods; i++) {
        names[i] = t->pods[i].name;
    }
    tw_scalers_vars_t vars = {
        .namespace = t->namespace,
        .pod_names = names,
        .n_pods = t->n_pods,
        .object_kind = t->object_kind,
        .object_name = t->object_name,
        .label_selector = t->selector,
    };
    rc = tw_scalers_template_expand(entry->query, strlen(entry->query), &vars, &q, &err);
    if (rc != 0) {
        rc = tw_scalers_fail(f, in, rc, "unable to fetch metrics from %s: metric %s: %s", api,
                             metric, err.msg);
        goto out;
    }
    rc = tw_scalers_run(f, qs, q.data != NULL ? q.data : "", now_ms, &res, &err);
    if (rc != 0) {
        rc = tw_scalers_fail(f, in, rc, "unable to fetch metrics from %s: %s", api, err.msg);
        goto out;
    }
    bool scalar_ok = kind != TW_SCALERS_KIND_PODS && res.type == TW_QS_SCALAR;
    if (res.type != TW_QS_VECTOR && !scalar_ok) {
        rc = tw_scalers_fail(f, in, TW_EINVAL,
                             "unable to fetch metrics from %s: the query for metric %s returned "
                             "a %s, expected an instant vector",
                             api, metric, type_word(res.type));
        goto out;
    }
    switch (kind) {
    case TW_SCALERS_KIND_PODS:
        rc = shape_pods(metric, t, &res, now_ms, in, f);
        break;
    case TW_SCALERS_KIND_OBJECT:
        rc = shape_object(metric, t, &res, in, f);
        break;
    default:
        rc = shape_external(&res, in, f);
        break;
    }
out:
    tw_qs_result_free(&res);
    tw_buf_fini(&q);
    free(names);
    return rc;
}
