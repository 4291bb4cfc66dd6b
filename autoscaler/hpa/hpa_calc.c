/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hpa_calc.c - the HPA replica calculator: from pods, per-pod samples or object/external values
 * to a proposed replica count for one metric (kube-controller-manager's replica_calculator.go
 * and metrics/utilization.go, rewritten in C).
 *
 * Pure: no I/O, no clock (the pod set carries now_ms), no logging, no global state. Integer
 * sums are exact (128-bit) like upstream's big.Int fallbacks; ratios are float64 and replica
 * counts are ceil() of float64 products, as upstream, so proposals are bit-exact. Thread-safe.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/hpa/hpa.h"
#include "autoscaler/hpa/hpa_int.h"
#include "common/mem.h"

void tw_hpa_calc_config_init(tw_hpa_calc_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->tolerances.scale_down = TW_HPA_DEFAULT_TOLERANCE;
    cfg->tolerances.scale_up = TW_HPA_DEFAULT_TOLERANCE;
    cfg->cpu_initialization_period_ms = TW_HPA_DEFAULT_CPU_INITIALIZATION_PERIOD_MS;
    cfg->initial_readiness_delay_ms = TW_HPA_DEFAULT_INITIAL_READINESS_DELAY_MS;
}

bool tw_hpa_within_tolerance(const tw_hpa_tolerances_t *t, double ratio)
{
    return (1.0 - t->scale_down) <= ratio && ratio <= (1.0 + t->scale_up);
}

int32_t tw_hpa_ceil_to_int32(double x)
{
    double c = ceil(x);
    if (isnan(c)) {
        return 0;
    }
    if (c >= (double)INT32_MAX) {
        return INT32_MAX;
    }
    if (c <= (double)INT32_MIN) {
        return INT32_MIN;
    }
    return (int32_t)c;
}

/* int64(x) for a float64 x, saturating instead of the undefined out-of-range conversion. */
static int64_t trunc_to_int64(double x)
{
    if (isnan(x)) {
        return 0;
    }
    if (x >= 9223372036854775807.0) {
        return INT64_MAX;
    }
    if (x <= -9223372036854775808.0) {
        return INT64_MIN;
    }
    return (int64_t)x;
}

static int64_t clamp_i128_to_i64(tw_i128_t v)
{
    if (v > (tw_i128_t)INT64_MAX) {
        return INT64_MAX;
    }
    if (v < (tw_i128_t)INT64_MIN) {
        return INT64_MIN;
    }
    return (int64_t)v;
}

/* Division that yields IEEE results (Inf/NaN) for a zero divisor without dividing by zero. */
static double safe_div(double num, double den)
{
    if (den == 0.0) {
        if (num == 0.0 || isnan(num)) {
            return NAN;
        }
        return (num > 0) == !signbit(den) ? INFINITY : -INFINITY;
    }
    return num / den;
}

int tw_hpa_container_usage_reduce(const tw_hpa_container_usage_t *usage, size_t n,
                                  const char *container, int64_t *value_milli)
{
    if (container != NULL) {
        for (size_t i = 0; i < n; i++) {
            if (usage[i].name != NULL && strcmp(usage[i].name, container) == 0) {
                if (!usage[i].has_usage) {
                    return TW_ENOTFOUND;
                }
                *value_milli = usage[i].usage_milli;
                return 0;
            }
        }
        return TW_ENOTFOUND;
    }
    if (n == 0) {
        return TW_ENOTFOUND;
    }
    tw_i128_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!usage[i].has_usage) {
            return TW_ENOTFOUND;
        }
        sum += usage[i].usage_milli;
    }
    *value_milli = clamp_i128_to_i64(sum);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The working set: upstream's PodMetricsInfo map, request map and pod-name sets in one table */
/* ------------------------------------------------------------------------------------------ */

typedef struct entry {
    const char *name;
    bool in_metrics; /* currently a key of the metrics map */
    int64_t value;
    int64_t ts_ms;
    int64_t window_ms;
    bool has_request;
    int64_t request;
    bool missing, unready, ignored; /* membership of upstream's name sets */
} entry_t;

typedef struct table {
    entry_t *e;
    size_t n;
} table_t;

static const char *nz(const char *s)
{
    return s == NULL ? "" : s;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

static entry_t *table_find(const table_t *t, const char *name)
{
    entry_t key = {.name = nz(name)};
    return bsearch(&key, t->e, t->n, sizeof(entry_t), entry_cmp);
}

/* One entry per distinct pod or sample name; samples fill the metric (a later sample wins). */
static void table_build(table_t *t, const tw_hpa_pod_set_t *set)
{
    size_t cap = set->n_pods + set->n_metrics;
    t->e = tw_xcalloc(cap == 0 ? 1 : cap, sizeof(entry_t));
    t->n = 0;
    for (size_t i = 0; i < set->n_pods; i++) {
        t->e[t->n++].name = nz(set->pods[i].name);
    }
    for (size_t i = 0; i < set->n_metrics; i++) {
        t->e[t->n++].name = nz(set->metrics[i].pod);
    }
    qsort(t->e, t->n, sizeof(entry_t), entry_cmp);
    size_t w = 0;
    for (size_t r = 0; r < t->n; r++) {
        if (w == 0 || strcmp(t->e[w - 1].name, t->e[r].name) != 0) {
            t->e[w++] = t->e[r];
        }
    }
    t->n = w;
    for (size_t i = 0; i < set->n_metrics; i++) {
        entry_t *e = table_find(t, set->metrics[i].pod);
        e->in_metrics = true;
        e->value = set->metrics[i].value_milli;
        e->ts_ms = set->metrics[i].timestamp_ms;
        e->window_ms = set->metrics[i].window_ms;
    }
}

static size_t table_count_metrics(const table_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        n += t->e[i].in_metrics;
    }
    return n;
}

/*
 * groupPods: ignored (deleting, Failed, Succeeded), unready (Pending; for cpu also the
 * readiness/initialization rules), missing (no sample), else ready. Returns the ready count and
 * fills the distinct sizes of the unready and missing sets.
 */
static size_t group_pods(table_t *t, const tw_hpa_pod_set_t *set, const char *resource,
                         const tw_hpa_calc_config_t *cfg, size_t *n_unready, size_t *n_missing)
{
    bool cpu = resource != NULL && strcmp(resource, "cpu") == 0;
    size_t ready = 0;
    for (size_t i = 0; i < set->n_pods; i++) {
        const tw_hpa_pod_t *p = &set->pods[i];
        entry_t *e = table_find(t, p->name);
        if (p->deleting || p->phase == TW_HPA_POD_FAILED || p->phase == TW_HPA_POD_SUCCEEDED) {
            e->ignored = true;
            continue;
        }
        if (p->phase == TW_HPA_POD_PENDING) {
            e->unready = true;
            continue;
        }
        if (!e->in_metrics) {
            e->missing = true;
            continue;
        }
        if (cpu) {
            bool unready;
            if (p->ready == TW_HPA_STATUS_NONE || !p->has_start_time) {
                unready = true;
            } else if (p->start_time_ms + cfg->cpu_initialization_period_ms > set->now_ms) {
                /* still initializing: unready, or no full window since the last transition */
                unready = p->ready == TW_HPA_STATUS_FALSE ||
                          e->ts_ms < p->ready_transition_ms + e->window_ms;
            } else {
                /* unready and never ready since it started */
                unready =
                    p->ready == TW_HPA_STATUS_FALSE &&
                    p->start_time_ms + cfg->initial_readiness_delay_ms > p->ready_transition_ms;
            }
            if (unready) {
                e->unready = true;
                continue;
            }
        }
        ready++;
    }
    *n_unready = 0;
    *n_missing = 0;
    for (size_t i = 0; i < t->n; i++) {
        *n_unready += t->e[i].unready;
        *n_missing += t->e[i].missing;
        if (t->e[i].ignored || t->e[i].unready) {
            t->e[i].in_metrics = false;
        }
    }
    return ready;
}

/* calculateRequests for one pod. */
static int pod_request(const tw_hpa_calc_config_t *cfg, const tw_hpa_pod_t *p, const char *resource,
                       const char *container, int64_t *out, tw_error_t *err)
{
    if (cfg->pod_level_resources && p->pod_level_requests_set && container == NULL) {
        if (!p->has_pod_request) {
            return tw_error_set(err, TW_EINVAL, "missing pod-level request for %s in Pod %s",
                                resource, nz(p->name));
        }
        *out = p->pod_request_milli;
        return 0;
    }
    tw_i128_t sum = 0;
    for (size_t i = 0; i < p->n_containers; i++) {
        const tw_hpa_container_t *c = &p->containers[i];
        bool match = container != NULL && strcmp(container, nz(c->name)) == 0;
        if (container == NULL || match) {
            if (!c->has_request) {
                return tw_error_set(err, TW_EINVAL,
                                    "missing request for %s in container %s of Pod %s", resource,
                                    nz(c->name), nz(p->name));
            }
            sum += c->request_milli;
        }
        if (match) {
            *out = clamp_i128_to_i64(sum);
            return 0;
        }
    }
    if (container != NULL) {
        return tw_error_set(err, TW_EINVAL, "container %s not found in Pod %s", container,
                            nz(p->name));
    }
    *out = clamp_i128_to_i64(sum);
    return 0;
}

/* GetResourceUtilizationRatio over the entries currently in the metrics map. */
static int utilization_ratio(const table_t *t, int32_t target, double *ratio, int32_t *util,
                             int64_t *raw_avg, tw_error_t *err)
{
    tw_i128_t metrics = 0, requests = 0;
    int64_t entries = 0;
    for (size_t i = 0; i < t->n; i++) {
        const entry_t *e = &t->e[i];
        if (!e->in_metrics || !e->has_request) {
            continue; /* samples of unknown pods are extraneous */
        }
        metrics += e->value;
        requests += e->request;
        entries++;
    }
    if (requests == 0) {
        return tw_error_set(err, TW_ENOTFOUND, "no metrics returned matched known pods");
    }
    tw_i128_t pct = metrics * 100 / requests;
    int32_t u;
    if (pct > INT32_MAX) {
        u = INT32_MAX;
    } else if (pct < INT32_MIN) {
        u = INT32_MIN;
    } else {
        u = (int32_t)pct;
    }
    *util = u;
    *ratio = (double)u / (double)target;
    *raw_avg = clamp_i128_to_i64(metrics / entries);
    return 0;
}

/* GetMetricUsageRatio: plain average over every entry of the metrics map. */
static void usage_ratio(const table_t *t, int64_t target, double *ratio, int64_t *usage)
{
    tw_i128_t total = 0;
    int64_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->e[i].in_metrics) {
            total += t->e[i].value;
            n++;
        }
    }
    int64_t u = n == 0 ? 0 : clamp_i128_to_i64(total / n);
    *usage = u;
    *ratio = (double)u / (double)target;
}

typedef enum fill_kind {
    FILL_UTILIZATION, /* missing pods on scale-down use request * max(100, target) / 100 */
    FILL_PLAIN,       /* missing pods on scale-down use the target value */
} fill_kind_t;

/*
 * How it works (shared by GetResourceReplicas and calcPlainMetricReplicas).
 *
 * The ratio is first computed over the ready pods only. When no pod is missing a sample and no
 * unready pod could matter (unready pods only matter when the ratio says "scale up"), the answer
 * is ceil(ratio * ready) or, within tolerance, the current count. Otherwise the estimate is made
 * conservative: pods without a sample are assumed to sit at 100 % of their request (or at the
 * target) when the first ratio says "scale down", and at 0 when it says "scale up"; unready pods
 * count as 0 on a scale-up. The ratio is recomputed over this enlarged set; if it is now within
 * tolerance or points the other way, nothing happens. Finally ceil(newRatio * |set|) is vetoed
 * when it moves against the ratio's direction, which happens during a rolling update with
 * maxSurge, when more pods exist than spec.replicas.
 */
static int32_t rebalance(table_t *t, const tw_hpa_calc_config_t *cfg, fill_kind_t kind,
                         int32_t current, double ratio, size_t ready, size_t n_unready,
                         size_t n_missing, int32_t target_pct, int64_t target_milli, int *rc,
                         tw_error_t *err)
{
    *rc = 0;
    bool scale_up_with_unready = n_unready > 0 && ratio > 1.0;
    if (!scale_up_with_unready && n_missing == 0) {
        if (tw_hpa_within_tolerance(&cfg->tolerances, ratio)) {
            return current;
        }
        return tw_hpa_ceil_to_int32(ratio * (double)ready);
    }
    if (n_missing > 0 && (ratio < 1.0 || ratio > 1.0)) {
        int64_t fallback = target_pct > 100 ? target_pct : 100;
        for (size_t i = 0; i < t->n; i++) {
            entry_t *e = &t->e[i];
            if (!e->missing) {
                continue;
            }
            e->in_metrics = true;
            if (ratio > 1.0) {
                e->value = 0; /* scale-up: assume the pod uses nothing */
            } else if (kind == FILL_PLAIN) {
                e->value = target_milli;
            } else {
                e->value = clamp_i128_to_i64((tw_i128_t)e->request * fallback / 100);
            }
        }
    }
    if (scale_up_with_unready) {
        for (size_t i = 0; i < t->n; i++) {
            if (t->e[i].unready) {
                t->e[i].in_metrics = true;
                t->e[i].value = 0;
            }
        }
    }
    double new_ratio;
    if (kind == FILL_UTILIZATION) {
        int32_t util_unused;
        int64_t raw_unused;
        *rc = utilization_ratio(t, target_pct, &new_ratio, &util_unused, &raw_unused, err);
        if (*rc != 0) {
            return 0;
        }
    } else {
        int64_t usage_unused;
        usage_ratio(t, target_milli, &new_ratio, &usage_unused);
    }
    if (tw_hpa_within_tolerance(&cfg->tolerances, new_ratio) || (ratio < 1.0 && new_ratio > 1.0) ||
        (ratio > 1.0 && new_ratio < 1.0)) {
        return current;
    }
    int32_t n = tw_hpa_ceil_to_int32(new_ratio * (double)table_count_metrics(t));
    if ((new_ratio < 1.0 && n > current) || (new_ratio > 1.0 && n < current)) {
        return current;
    }
    return n;
}

static int check_common(const tw_hpa_calc_config_t *cfg, tw_hpa_calc_result_t *out, tw_error_t *err)
{
    if (cfg == NULL || out == NULL) {
        return tw_error_set(err, TW_EINVAL, "hpa calc: NULL argument");
    }
    memset(out, 0, sizeof(*out));
    return 0;
}

int tw_hpa_calc_resource_utilization(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                                     int32_t target_percent, const char *resource,
                                     const char *container, const tw_hpa_pod_set_t *set,
                                     tw_hpa_calc_result_t *out, tw_error_t *err)
{
    int rc = check_common(cfg, out, err);
    if (rc != 0) {
        return rc;
    }
    if (set == NULL || resource == NULL) {
        return tw_error_set(err, TW_EINVAL, "hpa calc: NULL argument");
    }
    if (target_percent <= 0) {
        return tw_error_set(err, TW_EINVAL, "target utilization must be positive, got %d",
                            (int)target_percent);
    }
    if (set->n_pods == 0) {
        return tw_error_set(err, TW_ENOTFOUND,
                            "no pods returned by selector while calculating replica count");
    }
    table_t t;
    table_build(&t, set);
    size_t n_unready, n_missing;
    size_t ready = group_pods(&t, set, resource, cfg, &n_unready, &n_missing);
    if (table_count_metrics(&t) == 0) {
        rc = tw_error_set(err, TW_ENOTFOUND,
                          "did not receive metrics for targeted pods (pods might be unready)");
        goto out;
    }
    for (size_t i = 0; i < set->n_pods; i++) {
        int64_t req = 0;
        rc = pod_request(cfg, &set->pods[i], resource, container, &req, err);
        if (rc != 0) {
            goto out;
        }
        entry_t *e = table_find(&t, set->pods[i].name);
        e->has_request = true;
        e->request = req;
    }
    double ratio;
    rc = utilization_ratio(&t, target_percent, &ratio, &out->utilization_percent, &out->usage_milli,
                           err);
    if (rc != 0) {
        goto out;
    }
    out->replicas = rebalance(&t, cfg, FILL_UTILIZATION, current_replicas, ratio, ready, n_unready,
                              n_missing, target_percent, 0, &rc, err);
out:
    free(t.e);
    return rc;
}

static int plain_replicas(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                          int64_t target_milli, const char *resource, const tw_hpa_pod_set_t *set,
                          tw_hpa_calc_result_t *out, tw_error_t *err)
{
    int rc = check_common(cfg, out, err);
    if (rc != 0) {
        return rc;
    }
    if (set == NULL) {
        return tw_error_set(err, TW_EINVAL, "hpa calc: NULL argument");
    }
    if (target_milli <= 0) {
        return tw_error_set(err, TW_EINVAL, "target average value must be positive, got %lldm",
                            (long long)target_milli);
    }
    if (set->n_pods == 0) {
        return tw_error_set(err, TW_ENOTFOUND,
                            "no pods returned by selector while calculating replica count");
    }
    table_t t;
    table_build(&t, set);
    size_t n_unready, n_missing;
    size_t ready = group_pods(&t, set, resource, cfg, &n_unready, &n_missing);
    if (table_count_metrics(&t) == 0) {
        rc = tw_error_set(err, TW_ENOTFOUND,
                          "did not receive metrics for targeted pods (pods might be unready)");
        goto out;
    }
    double ratio;
    usage_ratio(&t, target_milli, &ratio, &out->usage_milli);
    out->replicas = rebalance(&t, cfg, FILL_PLAIN, current_replicas, ratio, ready, n_unready,
                              n_missing, 0, target_milli, &rc, err);
out:
    free(t.e);
    return rc;
}

int tw_hpa_calc_resource_average(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                                 int64_t target_milli, const char *resource,
                                 const tw_hpa_pod_set_t *set, tw_hpa_calc_result_t *out,
                                 tw_error_t *err)
{
    if (resource == NULL) {
        return tw_error_set(err, TW_EINVAL, "hpa calc: NULL resource");
    }
    return plain_replicas(cfg, current_replicas, target_milli, resource, set, out, err);
}

int tw_hpa_calc_pods_average(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                             int64_t target_milli, const tw_hpa_pod_set_t *set,
                             tw_hpa_calc_result_t *out, tw_error_t *err)
{
    return plain_replicas(cfg, current_replicas, target_milli, NULL, set, out, err);
}

/* getUsageRatioReplicaCount */
static int usage_ratio_replicas(const tw_hpa_calc_config_t *cfg, int32_t current, double ratio,
                                const tw_hpa_pod_t *pods, size_t n_pods, int32_t *replicas,
                                tw_error_t *err)
{
    if (current == 0) {
        *replicas = tw_hpa_ceil_to_int32(ratio); /* scale from zero: no tolerance, no pods */
        return 0;
    }
    if (tw_hpa_within_tolerance(&cfg->tolerances, ratio)) {
        *replicas = current;
        return 0;
    }
    if (n_pods == 0) {
        return tw_error_set(err, TW_ENOTFOUND,
                            "unable to calculate ready pods: no pods returned by selector while "
                            "calculating replica count");
    }
    int64_t ready = 0;
    for (size_t i = 0; i < n_pods; i++) {
        ready += pods[i].phase == TW_HPA_POD_RUNNING && pods[i].ready == TW_HPA_STATUS_TRUE;
    }
    double f = ratio * (double)ready;
    *replicas = f > (double)INT32_MAX ? INT32_MAX : tw_hpa_ceil_to_int32(f);
    return 0;
}

int tw_hpa_calc_object_value(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                             int64_t target_milli, int64_t value_milli, const tw_hpa_pod_t *pods,
                             size_t n_pods, tw_hpa_calc_result_t *out, tw_error_t *err)
{
    int rc = check_common(cfg, out, err);
    if (rc != 0) {
        return rc;
    }
    if (target_milli <= 0) {
        return tw_error_set(err, TW_EINVAL, "target value must be positive, got %lldm",
                            (long long)target_milli);
    }
    out->usage_milli = value_milli;
    double ratio = (double)value_milli / (double)target_milli;
    return usage_ratio_replicas(cfg, current_replicas, ratio, pods, n_pods, &out->replicas, err);
}

int tw_hpa_calc_external_value(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                               int64_t target_milli, const int64_t *values_milli, size_t n_values,
                               const tw_hpa_pod_t *pods, size_t n_pods, tw_hpa_calc_result_t *out,
                               tw_error_t *err)
{
    int rc = check_common(cfg, out, err);
    if (rc != 0) {
        return rc;
    }
    if (target_milli <= 0) {
        return tw_error_set(err, TW_EINVAL, "target value must be positive, got %lldm",
                            (long long)target_milli);
    }
    if (n_values == 0) {
        return tw_error_set(err, TW_ENOTFOUND, "no metrics returned from external metrics API");
    }
    int64_t usage = 0;
    for (size_t i = 0; i < n_values; i++) {
        int64_t v = values_milli[i];
        if (v > 0 && usage > INT64_MAX - v) {
            usage = INT64_MAX; /* saturate on positive overflow */
            break;
        }
        if (v < 0 && usage < INT64_MIN - v) {
            usage = INT64_MIN;
            break;
        }
        usage += v;
    }
    out->usage_milli = usage;
    double ratio = (double)usage / (double)target_milli;
    return usage_ratio_replicas(cfg, current_replicas, ratio, pods, n_pods, &out->replicas, err);
}

/* getPerPodUsage */
static int64_t per_pod_usage(int64_t usage, int32_t status_replicas)
{
    if ((double)usage >= 9223372036854775807.0) {
        return INT64_MAX;
    }
    if (status_replicas == 0) {
        return 0;
    }
    return trunc_to_int64(ceil((double)usage / (double)status_replicas));
}

static int32_t per_pod_replicas(const tw_hpa_calc_config_t *cfg, int32_t status_replicas,
                                int64_t target_milli, int64_t usage)
{
    double ratio = safe_div((double)usage, (double)target_milli * (double)status_replicas);
    if (tw_hpa_within_tolerance(&cfg->tolerances, ratio)) {
        return status_replicas;
    }
    double f = ceil((double)usage / (double)target_milli);
    return f > (double)INT32_MAX ? INT32_MAX : tw_hpa_ceil_to_int32(f);
}

int tw_hpa_calc_object_average(const tw_hpa_calc_config_t *cfg, int32_t status_replicas,
                               int64_t target_milli, int64_t value_milli, tw_hpa_calc_result_t *out,
                               tw_error_t *err)
{
    int rc = check_common(cfg, out, err);
    if (rc != 0) {
        return rc;
    }
    if (target_milli <= 0) {
        return tw_error_set(err, TW_EINVAL, "target average value must be positive, got %lldm",
                            (long long)target_milli);
    }
    out->replicas = per_pod_replicas(cfg, status_replicas, target_milli, value_milli);
    out->usage_milli = per_pod_usage(value_milli, status_replicas);
    return 0;
}

int tw_hpa_calc_external_average(const tw_hpa_calc_config_t *cfg, int32_t status_replicas,
                                 int64_t target_milli, const int64_t *values_milli, size_t n_values,
                                 tw_hpa_calc_result_t *out, tw_error_t *err)
{
    int rc = check_common(cfg, out, err);
    if (rc != 0) {
        return rc;
    }
    if (target_milli <= 0) {
        return tw_error_set(err, TW_EINVAL, "target average value must be positive, got %lldm",
                            (long long)target_milli);
    }
    if (n_values == 0) {
        return tw_error_set(err, TW_ENOTFOUND, "no metrics returned from external metrics API");
    }
    /* upstream adds and treats a negative running sum as an overflow to MaxInt64 */
    int64_t usage = 0;
    for (size_t i = 0; i < n_values; i++) {
        tw_i128_t s = (tw_i128_t)usage + values_milli[i];
        if (s > (tw_i128_t)INT64_MAX || s < 0) {
            usage = INT64_MAX;
            break;
        }
        usage = (int64_t)s;
    }
    out->replicas = per_pod_replicas(cfg, status_replicas, target_milli, usage);
    out->usage_milli = per_pod_usage(usage, status_replicas);
    return 0;
}
