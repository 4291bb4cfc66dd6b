/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scalers_resource.c - Resource and ContainerResource metrics from the collector's container
 * series, shaped like the metrics.k8s.io answers the HPA's metrics client reduces
 * (pkg/controller/podautoscaler/metrics/client.go, GetResourceMetric).
 *
 * How it works: one instant query per fetch sums the container series per
 * namespace/pod/container (CPU: rate over the configured window; memory: the working set), with
 * the pod names as a regex and the pause/pod-level cgroups (container "" or "POD") left out.
 * Each result series is joined to the caller's pod list by its `pod` label. A pod with at least
 * one series plays the part of a PodMetrics item: its containers are the series' containers plus
 * every container of its spec that has no series, which counts as "no usage" so the pod is
 * missing rather than undercounted (a container that has just started has no rate yet). The
 * item is then reduced with tw_hpa_container_usage_reduce(): the pod total, or the one
 * container for ContainerResource. As upstream, no item at all is an error ("no metrics
 * returned from resource metrics API"), and a ContainerResource container that a pod with
 * metrics neither runs nor declares is an error, while a container without a sample makes only
 * that pod missing. Each sample carries the query time and the configured window.
 *
 * Pure apart from the query source. No shared state.
 */
#include "scalers_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/labels.h"
#include "common/mem.h"
#include "common/timeutil.h"

#define RESOURCE_API "resource metrics API"

int tw_scalers_resource_query(const char *resource, const char *namespace, const tw_hpa_pod_t *pods,
                              size_t n_pods, int64_t window_ms, tw_buf_t *out, tw_error_t *err)
{
    bool cpu;
    if (resource != NULL && strcmp(resource, "cpu") == 0) {
        cpu = true;
    } else if (resource != NULL && strcmp(resource, "memory") == 0) {
        cpu = false;
    } else {
        return tw_error_set(err, TW_EINVAL,
                            "resource %s is not collected (only cpu and memory are)",
                            resource != NULL ? resource : "\"\"");
    }
    if (cpu && window_ms <= 0) {
        return tw_error_set(err, TW_EINVAL, "the CPU rate window must be positive");
    }
    int rc = tw_buf_puts(out, "sum by (namespace, pod, container) (");
    if (rc == 0) {
        rc = tw_buf_puts(out, cpu ? "rate(container_cpu_usage_seconds_total{namespace=\""
                                  : "container_memory_working_set_bytes{namespace=\"");
    }
    if (rc == 0) {
        rc = tw_scalers_put_escaped(out, namespace != NULL ? namespace : "",
                                    namespace != NULL ? strlen(namespace) : 0);
    }
    if (rc == 0) {
        rc = tw_buf_puts(out, "\",pod=~\"");
    }
    for (size_t i = 0; i < n_pods && rc == 0; i++) {
        if (i > 0) {
            rc = tw_buf_putc(out, '|');
        }
        if (rc == 0) {
            rc = tw_scalers_put_regex_escaped(out, pods[i].name != NULL ? pods[i].name : "");
        }
    }
    if (rc == 0) {
        rc = tw_buf_puts(out, "\",container!=\"\",container!=\"POD\"}");
    }
    if (rc == 0 && cpu) {
        char win[32];
        rc = tw_buf_printf(out, "[%s])", tw_duration_format(window_ms, win, sizeof(win)));
    }
    if (rc == 0) {
        rc = tw_buf_putc(out, ')');
    }
    if (rc != 0) {
        return tw_error_set(err, rc, "query longer than %zu bytes", out->max);
    }
    return 0;
}

/* One result series joined to a pod. */
typedef struct usage_row {
    size_t pod; /* position in the target's pods */
    size_t order;
    tw_hpa_container_usage_t u;
    int64_t t_ms;
} usage_row_t;

static int row_cmp(const void *a, const void *b)
{
    const usage_row_t *x = a, *y = b;
    if (x->pod != y->pod) {
        return x->pod < y->pod ? -1 : 1;
    }
    return x->order < y->order ? -1 : (x->order > y->order ? 1 : 0);
}

static bool has_container(const tw_hpa_container_usage_t *u, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(u[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

int tw_scalers_fetch_resource(const tw_scalers_config_t *cfg, const tw_query_source_t *qs,
                              const tw_scalers_target_t *t, int64_t now_ms,
                              tw_hpa_metric_input_t *in, tw_scalers_fetch_t *f)
{
    bool cr = in->type == TW_HPA_METRIC_CONTAINER_RESOURCE;
    const char *container = cr ? (in->container != NULL ? in->container : "") : NULL;
    bool cpu = in->name != NULL && strcmp(in->name, "cpu") == 0;
    tw_buf_t q;
    tw_qs_result_t res;
    tw_error_t err;
    tw_scalers_pod_index_t ix;
    usage_row_t *rows = NULL;
    tw_hpa_container_usage_t *usage = NULL;
    int rc;

    tw_buf_init(&q, TW_SCALERS_QUERY_MAX_BYTES);
    memset(&res, 0, sizeof(res));
    tw_scalers_pod_index_init(&ix, t->pods, t->n_pods);
    tw_error_clear(&err);

    if (t->n_pods == 0) {
        /* metrics-server answers an empty list for a selector without pods */
        rc = tw_scalers_fail(f, in, TW_ENOTFOUND, "no metrics returned from " RESOURCE_API);
        goto out;
    }
    rc = tw_scalers_resource_query(in->name, t->namespace, t->pods, t->n_pods,
                                   cfg->resource_window_ms, &q, &err);
    if (rc != 0) {
        rc = tw_scalers_fail(f, in, rc, "unable to fetch metrics from " RESOURCE_API ": %s",
                             err.msg);
        goto out;
    }
    rc = tw_scalers_run(f, qs, q.data, now_ms, &res, &err);
    if (rc != 0) {
        rc = tw_scalers_fail(f, in, rc, "unable to fetch metrics from " RESOURCE_API ": %s",
                             err.msg);
        goto out;
    }
    if (res.type != TW_QS_VECTOR) {
        rc = tw_scalers_fail(f, in, TW_EINVAL,
                             "unable to fetch metrics from " RESOURCE_API
                             ": the query did not return an instant vector");
        goto out;
    }

    /* join the series to the pods */
    rows = tw_xcalloc(res.n_series + 1, sizeof(*rows));
    size_t n_rows = 0;
    for (size_t i = 0; i < res.n_series; i++) {
        const tw_qs_series_t *s = &res.series[i];
        const char *pod = tw_labels_get(s->labels, s->n_labels, "pod");
        const char *cname = tw_labels_get(s->labels, s->n_labels, "container");
        if (pod == NULL || cname == NULL || cname[0] == '\0' || s->n_points == 0) {
            continue;
        }
        ptrdiff_t p = tw_scalers_pod_index_find(&ix, pod);
        if (p < 0) {
            continue;
        }
        usage_row_t *r = &rows[n_rows++];
        r->pod = (size_t)p;
        r->order = i;
        r->u.name = cname;
        const tw_qs_point_t *pt = &s->points[s->n_points - 1];
        r->u.has_usage = cpu ? tw_scalers_cpu_milli(pt->v, &r->u.usage_milli)
                             : tw_scalers_bytes_milli(pt->v, &r->u.usage_milli);
        r->t_ms = pt->t_ms;
    }
    if (n_rows == 0) {
        rc = tw_scalers_fail(f, in, TW_ENOTFOUND, "no metrics returned from " RESOURCE_API);
        goto out;
    }
    qsort(rows, n_rows, sizeof(*rows), row_cmp);

    /* reduce each pod's item */
    f->metrics = tw_xcalloc(t->n_pods + 1, sizeof(*f->metrics));
    size_t cap = 0;
    for (size_t a = 0; a < n_rows;) {
        size_t b = a;
        while (b < n_rows && rows[b].pod == rows[a].pod) {
            b++;
        }
        const tw_hpa_pod_t *pod = &t->pods[rows[a].pod];
        size_t n = 0;
        tw_grow((void **)&usage, &cap, (b - a) + pod->n_containers + 1, sizeof(*usage));
        for (size_t k = a; k < b; k++) {
            usage[n++] = rows[k].u;
        }
        for (size_t k = 0; k < pod->n_containers; k++) {
            const char *sname = pod->containers[k].name;
            if (sname != NULL && !has_container(usage, n, sname)) {
                usage[n++] = (tw_hpa_container_usage_t){.name = sname, .has_usage = false};
            }
        }
        if (cr && !has_container(usage, n, container)) {
            rc = tw_scalers_fail(f, in, TW_ENOTFOUND,
                                 "failed to get container metrics: container %s not present in "
                                 "metrics for pod %s/%s",
                                 container, t->namespace != NULL ? t->namespace : "", pod->name);
            free(f->metrics);
            f->metrics = NULL;
            f->n_metrics = 0;
            goto out;
        }
        int64_t v;
        if (tw_hpa_container_usage_reduce(usage, n, container, &v) == 0) {
            f->metrics[f->n_metrics++] = (tw_hpa_pod_metric_t){
                .pod = pod->name,
                .value_milli = v,
                .timestamp_ms = rows[a].t_ms,
                .window_ms = cfg->resource_window_ms,
            };
        }
        a = b;
    }
    in->pods.metrics = f->metrics;
    in->pods.n_metrics = f->n_metrics;
    rc = 0;
out:
    free(usage);
    free(rows);
    tw_qs_result_free(&res);
    tw_scalers_pod_index_fini(&ix);
    tw_buf_fini(&q);
    return rc;
}
