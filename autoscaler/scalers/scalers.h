/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scalers.h - metric sources for the horizontal autoscaler: turn one spec.metrics[] entry of an
 * HPA into the inputs the replica calculator reads (autoscaler/hpa/hpa.h), by asking PromQL
 * questions of a query source (common/query_source.h).
 *
 * Resource and ContainerResource metrics come from the collector's cAdvisor-compatible container
 * series (docs/metrics/container.md): CPU as rate(container_cpu_usage_seconds_total[window]),
 * memory as container_memory_working_set_bytes, summed per namespace/pod/container and joined to
 * the caller's pod list by pod name, then reduced like the HPA's metrics client reduces a
 * metrics.k8s.io PodMetrics item (pod = sum of its containers; a container without usage makes
 * the pod "missing"). Pods, Object and External metrics are PromQL templates looked up by metric
 * name in the `autoscaling.metric_queries` table, expanded with the namespace, the pod names, the
 * described object and the metric's label selector, the way prometheus-adapter builds its
 * queries. A metric that is not there is missing, never zero; a failed query sets the metric's
 * fetch_error, which the calculator reports as FailedGet*Metric. docs/autoscaling-hpa.md,
 * "Metric sources", has the details.
 *
 * Everything here is pure except that tw_scalers_fetch() calls the query source: no clock (the
 * query time is a parameter), no logging. Thread model: a tw_scalers_config_t is immutable after
 * parsing and may be shared; a tw_scalers_fetch_t belongs to one caller.
 */
#ifndef TW_AUTOSCALER_SCALERS_H
#define TW_AUTOSCALER_SCALERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoscaler/hpa/hpa.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/query_source.h"
#include "common/yaml_tree.h"

/* Default rate window for the CPU query, and the window reported with resource samples. */
#define TW_SCALERS_DEFAULT_RESOURCE_WINDOW_MS 60000
/* Window reported with Pods samples: the HPA's default when windowSeconds is absent (1 min). */
#define TW_SCALERS_CUSTOM_WINDOW_MS 60000
/* Longest query text an expansion may produce (many pods make long pod regexes). */
#define TW_SCALERS_QUERY_MAX_BYTES ((size_t)1024 * 1024)

/* Which metric kind a metric_queries entry serves. */
typedef enum tw_scalers_kind {
    TW_SCALERS_KIND_ANY = 0, /* no `type:` given: any of the three */
    TW_SCALERS_KIND_PODS,
    TW_SCALERS_KIND_OBJECT,
    TW_SCALERS_KIND_EXTERNAL,
} tw_scalers_kind_t;

/* One metric_queries entry. Strings are owned by the config. */
typedef struct tw_scalers_query {
    char *name;             /* the metric name the HPA asks for */
    tw_scalers_kind_t kind; /* from `type:` */
    char *query;            /* the PromQL template (checked when parsed) */
    int line, col;          /* position of the entry, for messages */
} tw_scalers_query_t;

/*
 * Metric-source settings: the resource window and the metric_queries table. Fill with
 * tw_scalers_config_init(), then tw_scalers_queries_from_yaml(); read-only afterwards.
 */
typedef struct tw_scalers_config {
    int64_t resource_window_ms;  /* > 0; the CPU rate window and the samples' window */
    tw_scalers_query_t *queries; /* owned, n_queries entries, in document order */
    size_t n_queries;
} tw_scalers_config_t;

/* An empty table and the default resource window. */
void tw_scalers_config_init(tw_scalers_config_t *c);
/* Frees the table; c is empty (and re-initialized) afterwards. NULL is a no-op. */
void tw_scalers_config_fini(tw_scalers_config_t *c);

/*
 * Parses the value of `autoscaling.metric_queries` (seq; null or absent is an empty table):
 * a list of mappings with `name` (required, non-empty), `query` (required, a template: see
 * tw_scalers_template_expand) and optional `type` (Pods, Object or External). section names the
 * node in messages ("autoscaling.metric_queries"). Errors are TW_EINVAL at the offending node's
 * line and column through w: unknown keys, a missing name or query, an unknown type, a bad
 * template ("unknown placeholder ..."), two entries for the same name and type. On success the
 * entries replace c's table; on error c is unchanged.
 */
int tw_scalers_queries_from_yaml(tw_yaml_walk_t *w, const tw_yaml_node_t *seq, const char *section,
                                 tw_scalers_config_t *c);

/*
 * The entry for metric name used as kind: an entry with that exact `type:` wins over one without
 * a type. Returns NULL when there is none. The pointer lives as long as c.
 */
const tw_scalers_query_t *tw_scalers_query_find(const tw_scalers_config_t *c, const char *name,
                                                tw_scalers_kind_t kind);

/* ------------------------------------------------------------------------------------------ */
/* Templates                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/*
 * The values a template's placeholders expand to. Every pointer is borrowed; NULL means "".
 *   {{.Namespace}}     namespace, escaped for a PromQL double-quoted string
 *   {{.PodSelector}}   the pod names as a regex alternation ("web-1|web-2"), each name
 *                      regex-escaped and then string-escaped; "" for no pods
 *   {{.ObjectName}}    object_name, string-escaped
 *   {{.ObjectKind}}    object_kind, string-escaped
 *   {{.LabelSelector}} label_selector (Kubernetes selector syntax) as comma-separated PromQL
 *                      label matchers without braces; "" for an empty selector
 */
typedef struct tw_scalers_vars {
    const char *namespace;
    const char *const *pod_names; /* n_pods entries */
    size_t n_pods;
    const char *object_kind;
    const char *object_name;
    const char *label_selector;
} tw_scalers_vars_t;

/*
 * Checks template tmpl[0..len) without expanding it: every `{{` must open a known placeholder
 * (spaces inside the braces are allowed: `{{ .Namespace }}`) closed by `}}`, and the template must
 * not be blank. Returns 0 or TW_EINVAL with a message naming the byte offset
 * ("unknown placeholder \"{{.Foo}}\" at offset 12").
 */
int tw_scalers_template_check(const char *tmpl, size_t len, tw_error_t *err);

/*
 * Appends the expansion of tmpl[0..len) with vars to out (whose max bounds the result). Returns
 * 0; TW_EINVAL for a template error (as tw_scalers_template_check) or a label selector that
 * cannot be expressed (as tw_scalers_selector_to_matchers); TW_ELIMIT when out's limit is hit.
 * out may hold a partial expansion after an error.
 */
int tw_scalers_template_expand(const char *tmpl, size_t len, const tw_scalers_vars_t *vars,
                               tw_buf_t *out, tw_error_t *err);

/*
 * Converts a Kubernetes label selector string (labels.Parse syntax: `a=b`, `a==b`, `a!=b`,
 * `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, comma-separated) into PromQL label matchers appended
 * to out, the way prometheus-adapter does: requirements sorted by key, values sorted; `=`/`==`
 * become `a="b"`, `!=` `a!="b"`, `in` `a=~"x|y"`, `notin` `a!~"x|y"`, exists `a!=""`, does-not-
 * exist `a=""`, joined by commas. Values are string-escaped but not regex-escaped (as upstream).
 * Returns 0, TW_EINVAL for bad syntax, a key that is not a Prometheus label name, an empty value
 * list, or `>`/`<` ("operator not supported by query builder"), TW_ELIMIT from out.
 */
int tw_scalers_selector_to_matchers(const char *selector, size_t len, tw_buf_t *out,
                                    tw_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Resource queries                                                                           */
/* ------------------------------------------------------------------------------------------ */

/*
 * Appends the PromQL for resource ("cpu" or "memory") of the given pods in namespace to out:
 *   sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{namespace="ns",
 *     pod=~"p1|p2",container!="",container!="POD"}[1m]))
 * and the same without rate() over container_memory_working_set_bytes for memory. window_ms is
 * the rate window. Returns 0, TW_EINVAL for another resource, TW_ELIMIT from out.
 */
int tw_scalers_resource_query(const char *resource, const char *namespace, const tw_hpa_pod_t *pods,
                              size_t n_pods, int64_t window_ms, tw_buf_t *out, tw_error_t *err);

/*
 * Cores (a rate of CPU seconds) to Quantity.MilliValue() as metrics-server reports it: whole
 * nanocores (truncated), rounded up to millicores. Bytes to milli-bytes (bytes x 1000). Both
 * saturate at INT64_MAX. Return false for NaN, infinities and negative values (no sample).
 */
bool tw_scalers_cpu_milli(double cores, int64_t *milli);
bool tw_scalers_bytes_milli(double bytes, int64_t *milli);

/*
 * A custom metric value to milli-units as prometheus-adapter does (int64(v * 1000), truncated
 * toward zero), saturating at the int64 range. Returns false for NaN and infinities.
 */
bool tw_scalers_value_milli(double v, int64_t *milli);

/* ------------------------------------------------------------------------------------------ */
/* Fetching                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* What the metric is about. Everything is borrowed for the duration of the call. */
typedef struct tw_scalers_target {
    const char *namespace;    /* the HPA's namespace */
    const tw_hpa_pod_t *pods; /* the pods matched by the scale target's selector */
    size_t n_pods;            /* (from the orchestrator driver's list_pods) */
    const char *selector;     /* the metric's `selector` in Kubernetes syntax; NULL or "" none */
    const char *object_kind;  /* Object: describedObject.kind */
    const char *object_name;  /* Object: describedObject.name */
} tw_scalers_target_t;

/*
 * The storage behind what tw_scalers_fetch() put into a tw_hpa_metric_input_t. Zero it (or
 * tw_scalers_fetch_init) before the first use; it may be reused for another fetch.
 */
typedef struct tw_scalers_fetch {
    tw_hpa_pod_metric_t *metrics; /* owned; pod names point into the target's pods */
    size_t n_metrics;
    int64_t *values; /* owned: External values */
    size_t n_values;
    char *query;     /* owned: the last query sent, for logs ("" when none was sent) */
    char error[512]; /* the fetch error text, "" when none */
} tw_scalers_fetch_t;

/* Zeroes f. */
void tw_scalers_fetch_init(tw_scalers_fetch_t *f);
/* Frees what f owns and zeroes it. NULL is a no-op. */
void tw_scalers_fetch_fini(tw_scalers_fetch_t *f);

/*
 * Fetches the metric described by in (its type, name and, for ContainerResource, container,
 * as the manifest sets them) for target at time now_ms through qs, and fills in's inputs:
 * pods.pods/n_pods (target's pods), pods.metrics/n_metrics (Resource, ContainerResource, Pods),
 * object_value_milli (Object), external_values_milli/n_external_values (External). On failure
 * in->fetch_error points at f->error, worded like the HPA's metrics client ("unable to fetch
 * metrics from resource metrics API: ...", "no metrics returned from custom metrics API", ...),
 * and the value fields are left empty. Previous contents of f are freed first; in's pointers stay
 * valid until f is reused or finalized. Returns 0, or the negative code that fetch_error
 * explains (the query source's code; TW_ENOTFOUND for no data or no metric_queries entry;
 * TW_EINVAL for a bad template expansion or result type; TW_ELIMIT for a query too long).
 * Either way in is ready for tw_hpa_reconcile().
 */
int tw_scalers_fetch(const tw_scalers_config_t *cfg, const tw_query_source_t *qs,
                     const tw_scalers_target_t *target, int64_t now_ms, tw_hpa_metric_input_t *in,
                     tw_scalers_fetch_t *f);

#endif
