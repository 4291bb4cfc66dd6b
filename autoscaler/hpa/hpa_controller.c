/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hpa_controller.c - one HPA reconcile pass as a pure function: gate checks, one proposal per
 * metric (hpa_calc.c), the max over metrics with the partial-failure rules, then normalization
 * (legacy: 5 min down-scale stabilization + max(2x, 4) cap; behavior: stabilization windows +
 * Pods/Percent rate policies over the recorded scale events) and the status conditions. This is
 * kube-controller-manager's horizontal.go minus the API calls: the caller reads the scale and the
 * metrics, calls tw_hpa_reconcile(), writes the scale, then reports with tw_hpa_rescale_done().
 *
 * Pure: time is the now_ms parameter, no I/O, no logging. The per-HPA history and conditions are
 * a tw_hpa_state_t the caller owns. Thread model: one state per thread at a time.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/hpa/hpa.h"
#include "autoscaler/hpa/hpa_int.h"
#include "common/mem.h"

/* ------------------------------------------------------------------------------------------ */
/* Behavior defaults (pkg/apis/autoscaling/v2/defaults.go)                                    */
/* ------------------------------------------------------------------------------------------ */

static const tw_hpa_policy_t default_up_policies[] = {
    {TW_HPA_POLICY_PODS, 4, 15},
    {TW_HPA_POLICY_PERCENT, 100, 15},
};
static const tw_hpa_policy_t default_down_policies[] = {
    {TW_HPA_POLICY_PERCENT, 100, 15},
};

void tw_hpa_scaling_rules_resolve(const tw_hpa_scaling_rules_t *rules, bool scale_up,
                                  int32_t downscale_window_s, tw_hpa_scaling_rules_t *out)
{
    memset(out, 0, sizeof(*out));
    out->has_stabilization_window = true;
    out->stabilization_window_s = scale_up ? 0 : downscale_window_s;
    out->select_policy = TW_HPA_SELECT_MAX;
    if (scale_up) {
        out->policies = default_up_policies;
        out->n_policies = sizeof(default_up_policies) / sizeof(default_up_policies[0]);
    } else {
        out->policies = default_down_policies;
        out->n_policies = sizeof(default_down_policies) / sizeof(default_down_policies[0]);
    }
    if (rules == NULL) {
        return;
    }
    if (rules->has_stabilization_window) {
        out->stabilization_window_s = rules->stabilization_window_s;
    }
    if (rules->select_policy != TW_HPA_SELECT_DEFAULT) {
        out->select_policy = rules->select_policy;
    }
    if (rules->policies != NULL) {
        out->policies = rules->policies;
        out->n_policies = rules->n_policies;
    }
    out->has_tolerance = rules->has_tolerance;
    out->tolerance = rules->tolerance;
}

/* ------------------------------------------------------------------------------------------ */
/* History                                                                                    */
/* ------------------------------------------------------------------------------------------ */

void tw_hpa_history_init(tw_hpa_history_t *h)
{
    memset(h, 0, sizeof(*h));
}

void tw_hpa_history_fini(tw_hpa_history_t *h)
{
    if (h == NULL) {
        return;
    }
    free(h->recs);
    free(h->up);
    free(h->down);
    memset(h, 0, sizeof(*h));
}

void tw_hpa_history_add_recommendation(tw_hpa_history_t *h, int32_t replicas, int64_t ts_ms)
{
    tw_grow((void **)&h->recs, &h->cap_recs, h->n_recs + 1, sizeof(*h->recs));
    h->recs[h->n_recs].replicas = replicas;
    h->recs[h->n_recs].timestamp_ms = ts_ms;
    h->n_recs++;
    h->seeded = true;
}

void tw_hpa_history_add_event(tw_hpa_history_t *h, bool scale_up, int32_t change, int64_t ts_ms)
{
    tw_hpa_scale_event_t **arr = scale_up ? &h->up : &h->down;
    size_t *n = scale_up ? &h->n_up : &h->n_down;
    size_t *cap = scale_up ? &h->cap_up : &h->cap_down;
    tw_grow((void **)arr, cap, *n + 1, sizeof(**arr));
    (*arr)[*n].change = change;
    (*arr)[*n].timestamp_ms = ts_ms;
    (*arr)[*n].outdated = false;
    (*n)++;
}

/* Overwrites the recommendation at idx (found) or appends. */
static void store_recommendation(tw_hpa_history_t *h, bool found, size_t idx, int32_t replicas,
                                 int64_t now_ms)
{
    if (found) {
        h->recs[idx].replicas = replicas;
        h->recs[idx].timestamp_ms = now_ms;
        return;
    }
    tw_hpa_history_add_recommendation(h, replicas, now_ms);
}

/*
 * How it works: the stabilization window.
 *
 * Every pass records its raw (pre-normalization) proposal with a timestamp. On the legacy path
 * the result is the maximum of the proposal and every recommendation of the last 5 minutes, so a
 * scale-down happens only after the load has stayed low for a whole window, while a scale-up is
 * immediate. The behavior path keeps one list for both directions: a scale-up goes no higher
 * than the lowest proposal of the up window, a scale-down no lower than the highest proposal of
 * the down window, starting from the current count. The list never grows without bound: the
 * new proposal overwrites the last entry that has fallen out of every window, and is appended
 * only when none has. Cutoffs are strict, as upstream's time.Before/After: an entry exactly one
 * window old is still "recent" on the legacy path and already "old" on the behavior path.
 */
int32_t tw_hpa_stabilize_legacy(tw_hpa_history_t *h, int32_t proposal, int64_t window_ms,
                                int64_t now_ms)
{
    int32_t max = proposal;
    bool found = false;
    size_t idx = 0;
    int64_t cutoff = now_ms - window_ms;
    for (size_t i = 0; i < h->n_recs; i++) {
        if (h->recs[i].timestamp_ms < cutoff) {
            found = true;
            idx = i;
        } else if (h->recs[i].replicas > max) {
            max = h->recs[i].replicas;
        }
    }
    store_recommendation(h, found, idx, proposal, now_ms);
    return max;
}

int32_t tw_hpa_stabilize_behavior(tw_hpa_history_t *h, int32_t current, int32_t proposal,
                                  int32_t up_window_s, int32_t down_window_s, int64_t now_ms,
                                  const char **reason)
{
    int32_t up = proposal, down = proposal;
    int64_t up_cut = now_ms - (int64_t)up_window_s * 1000;
    int64_t down_cut = now_ms - (int64_t)down_window_s * 1000;
    bool found = false;
    size_t idx = 0;
    for (size_t i = 0; i < h->n_recs; i++) {
        const tw_hpa_recommendation_t *r = &h->recs[i];
        if (r->timestamp_ms > up_cut && r->replicas < up) {
            up = r->replicas;
        }
        if (r->timestamp_ms > down_cut && r->replicas > down) {
            down = r->replicas;
        }
        if (r->timestamp_ms < up_cut && r->timestamp_ms < down_cut) {
            found = true;
            idx = i;
        }
    }
    int32_t rec = current;
    if (rec < up) {
        rec = up;
    }
    if (rec > down) {
        rec = down;
    }
    store_recommendation(h, found, idx, proposal, now_ms);
    if (reason != NULL) {
        *reason = proposal >= current ? "ScaleUpStabilized" : "ScaleDownStabilized";
    }
    return rec;
}

static int32_t clamp_to_int32(int64_t v)
{
    if (v > INT32_MAX) {
        return INT32_MAX;
    }
    if (v < INT32_MIN) {
        return INT32_MIN;
    }
    return (int32_t)v;
}

/* int32(x) (truncation toward zero), saturating. */
static int32_t trunc_to_int32(double x)
{
    if (isnan(x)) {
        return 0;
    }
    if (x >= (double)INT32_MAX) {
        return INT32_MAX;
    }
    if (x <= (double)INT32_MIN) {
        return INT32_MIN;
    }
    return (int32_t)x;
}

/* getReplicasChangePerPeriod: the sum of changes strictly younger than period_s. */
static int64_t change_in_period(const tw_hpa_scale_event_t *ev, size_t n, int32_t period_s,
                                int64_t now_ms)
{
    int64_t cutoff = now_ms - (int64_t)period_s * 1000;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].timestamp_ms > cutoff) {
            sum += ev[i].change;
        }
    }
    return sum;
}

/*
 * How it works: rate policies. Each policy looks back over its own period: the replica count
 * at the period's start is the current count minus what was added plus what was removed by the
 * scale events younger than the period. From there a Pods policy allows +/- value, a Percent
 * policy allows *(1 +/- value/100), rounded up when growing and truncated when shrinking. The
 * select policy picks the most permissive (Max), the least permissive (Min) or none (Disabled).
 */
static int32_t policy_limit(const tw_hpa_history_t *h, int32_t current,
                            const tw_hpa_scaling_rules_t *rules, bool scale_up, int64_t now_ms)
{
    if (rules->select_policy == TW_HPA_SELECT_DISABLED) {
        return current;
    }
    /* For scale-up Min picks the smallest limit; for scale-down it picks the largest. */
    bool pick_min = (rules->select_policy == TW_HPA_SELECT_MIN) == scale_up;
    int32_t result = pick_min ? INT32_MAX : INT32_MIN;
    for (size_t i = 0; i < rules->n_policies; i++) {
        const tw_hpa_policy_t *p = &rules->policies[i];
        int64_t added = change_in_period(h->up, h->n_up, p->period_s, now_ms);
        int64_t removed = change_in_period(h->down, h->n_down, p->period_s, now_ms);
        int32_t start = clamp_to_int32((int64_t)current - added + removed);
        int32_t proposed;
        if (p->type == TW_HPA_POLICY_PODS) {
            proposed =
                clamp_to_int32(scale_up ? (int64_t)start + p->value : (int64_t)start - p->value);
        } else if (scale_up) {
            proposed = tw_hpa_ceil_to_int32((double)start * (1 + (double)p->value / 100));
        } else {
            proposed = trunc_to_int32((double)start * (1 - (double)p->value / 100));
        }
        if (pick_min ? proposed < result : proposed > result) {
            result = proposed;
        }
    }
    return result;
}

int32_t tw_hpa_rate_limit_behavior(const tw_hpa_history_t *h, int32_t current, int32_t desired,
                                   int32_t min_replicas, int32_t max_replicas,
                                   const tw_hpa_scaling_rules_t *up,
                                   const tw_hpa_scaling_rules_t *down, int64_t now_ms,
                                   const char **reason)
{
    const char *why = "DesiredWithinRange";
    int32_t result = desired;
    if (desired > current) {
        int32_t limit = policy_limit(h, current, up, true, now_ms);
        if (limit < current) {
            limit = current; /* wait until old scale-up events leave the period */
        }
        int32_t max_allowed = max_replicas;
        const char *lim_reason = "TooManyReplicas";
        if (max_allowed > limit) {
            max_allowed = limit;
            lim_reason = "ScaleUpLimit";
        }
        if (desired > max_allowed) {
            result = max_allowed;
            why = lim_reason;
        }
    } else if (desired < current) {
        int32_t limit = policy_limit(h, current, down, false, now_ms);
        if (limit > current) {
            limit = current;
        }
        int32_t min_allowed = min_replicas;
        const char *lim_reason = "TooFewReplicas";
        if (min_allowed < limit) {
            min_allowed = limit;
            lim_reason = "ScaleDownLimit";
        }
        if (desired < min_allowed) {
            result = min_allowed;
            why = lim_reason;
        }
    }
    if (reason != NULL) {
        *reason = why;
    }
    return result;
}

int32_t tw_hpa_rate_limit_legacy(int32_t current, int32_t desired, int32_t min_replicas,
                                 int32_t max_replicas, const char **reason)
{
    /* int32(math.Max(2*current, 4)) */
    int32_t up_limit = trunc_to_int32(fmax(2.0 * (double)current, 4.0));
    int32_t max_allowed;
    const char *lim_reason;
    if (max_replicas > up_limit) {
        max_allowed = up_limit;
        lim_reason = "ScaleUpLimit";
    } else {
        max_allowed = max_replicas;
        lim_reason = "TooManyReplicas";
    }
    const char *why = "DesiredWithinRange";
    int32_t result = desired;
    if (desired < min_replicas) {
        result = min_replicas;
        why = "TooFewReplicas";
    } else if (desired > max_allowed) {
        result = max_allowed;
        why = lim_reason;
    }
    if (reason != NULL) {
        *reason = why;
    }
    return result;
}

void tw_hpa_history_store_event(tw_hpa_history_t *h, const tw_hpa_scaling_rules_t *rules,
                                int32_t prev_replicas, int32_t new_replicas, int64_t now_ms)
{
    bool up = new_replicas > prev_replicas;
    int32_t longest = 0;
    for (size_t i = 0; i < rules->n_policies; i++) {
        if (rules->policies[i].period_s > longest) {
            longest = rules->policies[i].period_s;
        }
    }
    tw_hpa_scale_event_t *ev = up ? h->up : h->down;
    size_t n = up ? h->n_up : h->n_down;
    int64_t cutoff = now_ms - (int64_t)longest * 1000;
    bool found = false;
    size_t idx = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].timestamp_ms < cutoff) {
            ev[i].outdated = true;
        }
        if (ev[i].outdated) {
            found = true;
            idx = i;
        }
    }
    int64_t change =
        up ? (int64_t)new_replicas - prev_replicas : (int64_t)prev_replicas - new_replicas;
    if (found) {
        ev[idx].change = clamp_to_int32(change);
        ev[idx].timestamp_ms = now_ms;
        ev[idx].outdated = false;
        return;
    }
    tw_hpa_history_add_event(h, up, clamp_to_int32(change), now_ms);
}

/* ------------------------------------------------------------------------------------------ */
/* Conditions                                                                                 */
/* ------------------------------------------------------------------------------------------ */

const char *tw_hpa_condition_type_name(tw_hpa_condition_type_t t)
{
    switch (t) {
    case TW_HPA_COND_ABLE_TO_SCALE:
        return "AbleToScale";
    case TW_HPA_COND_SCALING_ACTIVE:
        return "ScalingActive";
    case TW_HPA_COND_SCALING_LIMITED:
        return "ScalingLimited";
    case TW_HPA_COND_SCALED_TO_ZERO:
        return "ScaledToZero";
    default:
        return "";
    }
}

const char *tw_hpa_status_name(tw_hpa_status_t s)
{
    switch (s) {
    case TW_HPA_STATUS_TRUE:
        return "True";
    case TW_HPA_STATUS_FALSE:
        return "False";
    case TW_HPA_STATUS_UNKNOWN:
        return "Unknown";
    default:
        return "";
    }
}

static void conditions_vset(tw_hpa_conditions_t *c, tw_hpa_condition_type_t type,
                            tw_hpa_status_t status, const char *reason, int64_t now_ms,
                            const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static void conditions_vset(tw_hpa_conditions_t *c, tw_hpa_condition_type_t type,
                            tw_hpa_status_t status, const char *reason, int64_t now_ms,
                            const char *fmt, va_list ap)
{
    tw_hpa_condition_t *cond = NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (c->items[i].type == type) {
            cond = &c->items[i];
            break;
        }
    }
    if (cond == NULL) {
        if (c->n >= TW_HPA_COND_COUNT_) {
            return; /* cannot happen: one slot per type */
        }
        cond = &c->items[c->n++];
        memset(cond, 0, sizeof(*cond));
        cond->type = type;
    }
    if (cond->status != status) {
        cond->last_transition_ms = now_ms;
    }
    cond->status = status;
    tw_strlcpy(cond->reason, reason, sizeof(cond->reason));
    vsnprintf(cond->message, sizeof(cond->message), fmt, ap);
}

void tw_hpa_conditions_set(tw_hpa_conditions_t *c, tw_hpa_condition_type_t type,
                           tw_hpa_status_t status, const char *reason, int64_t now_ms,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conditions_vset(c, type, status, reason, now_ms, fmt, ap);
    va_end(ap);
}

void tw_hpa_conditions_remove(tw_hpa_conditions_t *c, tw_hpa_condition_type_t type)
{
    size_t w = 0;
    for (size_t r = 0; r < c->n; r++) {
        if (c->items[r].type != type) {
            c->items[w++] = c->items[r];
        }
    }
    c->n = w;
}

const tw_hpa_condition_t *tw_hpa_conditions_get(const tw_hpa_conditions_t *c,
                                                tw_hpa_condition_type_t type)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->items[i].type == type) {
            return &c->items[i];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Reconcile                                                                                  */
/* ------------------------------------------------------------------------------------------ */

void tw_hpa_state_init(tw_hpa_state_t *s)
{
    memset(s, 0, sizeof(*s));
    tw_hpa_history_init(&s->history);
}

void tw_hpa_state_fini(tw_hpa_state_t *s)
{
    if (s == NULL) {
        return;
    }
    tw_hpa_history_fini(&s->history);
    s->conditions.n = 0;
}

void tw_hpa_controller_config_init(tw_hpa_controller_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    tw_hpa_calc_config_init(&cfg->calc);
    cfg->downscale_stabilization_ms = TW_HPA_DEFAULT_DOWNSCALE_STABILIZATION_MS;
}

static bool has_object_or_external(const tw_hpa_spec_t *spec)
{
    for (size_t i = 0; i < spec->n_metrics; i++) {
        if (spec->metrics[i].type == TW_HPA_METRIC_OBJECT ||
            spec->metrics[i].type == TW_HPA_METRIC_EXTERNAL) {
            return true;
        }
    }
    return false;
}

static int32_t min_replicas_of(const tw_hpa_spec_t *spec)
{
    return spec->has_min_replicas ? spec->min_replicas : 1;
}

static int32_t downscale_window_s(const tw_hpa_controller_config_t *cfg)
{
    return (int32_t)(cfg->downscale_stabilization_ms / 1000);
}

/* tolerancesForHpa */
static tw_hpa_calc_config_t calc_config_for(const tw_hpa_controller_config_t *cfg,
                                            const tw_hpa_spec_t *spec)
{
    tw_hpa_calc_config_t c = cfg->calc;
    if (spec->behavior == NULL || !cfg->gate_configurable_tolerance) {
        return c;
    }
    const tw_hpa_scaling_rules_t *down = spec->behavior->scale_down;
    const tw_hpa_scaling_rules_t *up = spec->behavior->scale_up;
    if (down != NULL && down->has_tolerance) {
        c.tolerances.scale_down = down->tolerance;
    }
    if (up != NULL && up->has_tolerance) {
        c.tolerances.scale_up = up->tolerance;
    }
    return c;
}

typedef struct metric_outcome {
    int rc;
    int32_t replicas;
    char name[128];     /* metric description for messages */
    const char *reason; /* failure reason (condition) */
    char error[384];
} metric_outcome_t;

static int fail(metric_outcome_t *o, const char *reason, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(metric_outcome_t *o, const char *reason, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof(o->error), fmt, ap);
    va_end(ap);
    o->reason = reason;
    o->rc = code;
    return code;
}

static void compute_metric(const tw_hpa_calc_config_t *cc, const tw_hpa_metric_input_t *m,
                           int32_t spec_replicas, int32_t status_replicas, int64_t now_ms,
                           tw_hpa_calc_result_t *res, metric_outcome_t *o)
{
    tw_error_t e;
    tw_error_clear(&e);
    memset(o, 0, sizeof(*o));
    memset(res, 0, sizeof(*res));
    tw_hpa_pod_set_t set = m->pods;
    set.now_ms = now_ms;
    const char *name = m->name == NULL ? "" : m->name;
    int rc;
    switch (m->type) {
    case TW_HPA_METRIC_RESOURCE:
    case TW_HPA_METRIC_CONTAINER_RESOURCE: {
        bool cr = m->type == TW_HPA_METRIC_CONTAINER_RESOURCE;
        const char *reason = cr ? "FailedGetContainerResourceMetric" : "FailedGetResourceMetric";
        const char *container = cr ? (m->container == NULL ? "" : m->container) : NULL;
        if (m->fetch_error != NULL) {
            fail(o, reason, TW_ETRANSIENT, "unable to get metrics for resource %s: %s", name,
                 m->fetch_error);
            return;
        }
        if (m->target_type == TW_HPA_TARGET_AVERAGE_VALUE) {
            rc = tw_hpa_calc_resource_average(cc, spec_replicas, m->target_milli, name, &set, res,
                                              &e);
            snprintf(o->name, sizeof(o->name), "%s resource", name);
        } else if (m->target_type == TW_HPA_TARGET_UTILIZATION) {
            rc = tw_hpa_calc_resource_utilization(cc, spec_replicas, m->target_utilization, name,
                                                  container, &set, res, &e);
            snprintf(o->name, sizeof(o->name), "%s %sresource utilization (percentage of request)",
                     name, cr ? "container " : "");
        } else {
            fail(o, reason, TW_EINVAL,
                 "invalid resource metric source: neither an average utilization target nor an "
                 "average value (usage) target was set");
            return;
        }
        if (rc != 0) {
            fail(o, reason, rc, "failed to get %s %s: %s", name,
                 m->target_type == TW_HPA_TARGET_UTILIZATION ? "utilization" : "usage", e.msg);
            return;
        }
        break;
    }
    case TW_HPA_METRIC_PODS:
        if (m->fetch_error != NULL) {
            fail(o, "FailedGetPodsMetric", TW_ETRANSIENT, "unable to get metric %s: %s", name,
                 m->fetch_error);
            return;
        }
        if (m->target_type != TW_HPA_TARGET_AVERAGE_VALUE) {
            fail(o, "FailedGetPodsMetric", TW_EINVAL,
                 "invalid pods metric source: only an average value target is supported");
            return;
        }
        rc = tw_hpa_calc_pods_average(cc, spec_replicas, m->target_milli, &set, res, &e);
        if (rc != 0) {
            fail(o, "FailedGetPodsMetric", rc, "failed to get pods metric value: %s", e.msg);
            return;
        }
        snprintf(o->name, sizeof(o->name), "pods metric %s", name);
        break;
    case TW_HPA_METRIC_OBJECT:
        if (m->fetch_error != NULL) {
            fail(o, "FailedGetObjectMetric", TW_ETRANSIENT, "unable to get metric %s: %s", name,
                 m->fetch_error);
            return;
        }
        if (m->target_type == TW_HPA_TARGET_VALUE) {
            rc = tw_hpa_calc_object_value(cc, spec_replicas, m->target_milli, m->object_value_milli,
                                          set.pods, set.n_pods, res, &e);
        } else if (m->target_type == TW_HPA_TARGET_AVERAGE_VALUE) {
            rc = tw_hpa_calc_object_average(cc, status_replicas, m->target_milli,
                                            m->object_value_milli, res, &e);
        } else {
            fail(o, "FailedGetObjectMetric", TW_EINVAL,
                 "invalid object metric source: neither a value target nor an average value "
                 "target was set");
            return;
        }
        if (rc != 0) {
            fail(o, "FailedGetObjectMetric", rc, "failed to get object metric value: %s", e.msg);
            return;
        }
        snprintf(o->name, sizeof(o->name), "object metric %s", name);
        break;
    case TW_HPA_METRIC_EXTERNAL:
        if (m->fetch_error != NULL) {
            fail(o, "FailedGetExternalMetric", TW_ETRANSIENT,
                 "unable to get external metric %s: %s", name, m->fetch_error);
            return;
        }
        if (m->target_type == TW_HPA_TARGET_AVERAGE_VALUE) {
            rc = tw_hpa_calc_external_average(cc, status_replicas, m->target_milli,
                                              m->external_values_milli, m->n_external_values, res,
                                              &e);
        } else if (m->target_type == TW_HPA_TARGET_VALUE) {
            rc = tw_hpa_calc_external_value(cc, spec_replicas, m->target_milli,
                                            m->external_values_milli, m->n_external_values,
                                            set.pods, set.n_pods, res, &e);
        } else {
            fail(o, "FailedGetExternalMetric", TW_EINVAL,
                 "invalid external metric source: neither a value target nor an average value "
                 "target was set");
            return;
        }
        if (rc != 0) {
            fail(o, "FailedGetExternalMetric", rc, "failed to get %s external metric: %s", name,
                 e.msg);
            return;
        }
        snprintf(o->name, sizeof(o->name), "external metric %s", name);
        break;
    default:
        fail(o, "InvalidMetricSourceType", TW_EINVAL, "unknown metric source type \"%s\"", name);
        return;
    }
    o->replicas = res->replicas;
}

/* The ScalingLimited message upstream writes for each reason. */
static const char *limit_message(const char *reason)
{
    if (strcmp(reason, "ScaleUpLimit") == 0) {
        return "the desired replica count is increasing faster than the maximum scale rate";
    }
    if (strcmp(reason, "TooManyReplicas") == 0) {
        return "the desired replica count is more than the maximum replica count";
    }
    if (strcmp(reason, "TooFewReplicas") == 0) {
        return "the desired replica count is less than the minimum replica count";
    }
    if (strcmp(reason, "ScaleDownLimit") == 0) {
        return "the desired replica count is decreasing faster than the maximum scale rate";
    }
    return "the desired count is within the acceptable range";
}

/* normalizeDesiredReplicas (legacy path) */
static int32_t normalize_legacy(const tw_hpa_controller_config_t *cfg, const tw_hpa_spec_t *spec,
                                tw_hpa_state_t *st, int32_t current, int32_t proposal,
                                int32_t min_replicas, int64_t now_ms)
{
    int32_t stabilized =
        tw_hpa_stabilize_legacy(&st->history, proposal, cfg->downscale_stabilization_ms, now_ms);
    if (stabilized != proposal) {
        tw_hpa_conditions_set(&st->conditions, TW_HPA_COND_ABLE_TO_SCALE, TW_HPA_STATUS_TRUE,
                              "ScaleDownStabilized", now_ms, "%s",
                              "recent recommendations were higher than current one, applying the "
                              "highest recent recommendation");
    } else {
        tw_hpa_conditions_set(&st->conditions, TW_HPA_COND_ABLE_TO_SCALE, TW_HPA_STATUS_TRUE,
                              "ReadyForNewScale", now_ms, "recommended size matches current size");
    }
    const char *reason;
    int32_t desired =
        tw_hpa_rate_limit_legacy(current, stabilized, min_replicas, spec->max_replicas, &reason);
    tw_hpa_conditions_set(&st->conditions, TW_HPA_COND_SCALING_LIMITED,
                          desired == stabilized ? TW_HPA_STATUS_FALSE : TW_HPA_STATUS_TRUE, reason,
                          now_ms, "%s", limit_message(reason));
    return desired;
}

/* normalizeDesiredReplicasWithBehaviors */
static int32_t normalize_behavior(const tw_hpa_controller_config_t *cfg, const tw_hpa_spec_t *spec,
                                  tw_hpa_state_t *st, int32_t current, int32_t proposal,
                                  int32_t min_replicas, int64_t now_ms)
{
    tw_hpa_scaling_rules_t up, down;
    tw_hpa_scaling_rules_resolve(spec->behavior->scale_up, true, downscale_window_s(cfg), &up);
    tw_hpa_scaling_rules_resolve(spec->behavior->scale_down, false, downscale_window_s(cfg), &down);
    const char *reason;
    int32_t stabilized =
        tw_hpa_stabilize_behavior(&st->history, current, proposal, up.stabilization_window_s,
                                  down.stabilization_window_s, now_ms, &reason);
    if (stabilized != proposal) {
        tw_hpa_conditions_set(
            &st->conditions, TW_HPA_COND_ABLE_TO_SCALE, TW_HPA_STATUS_TRUE, reason, now_ms, "%s",
            proposal >= current ? "recent recommendations were lower than current one, "
                                  "applying the lowest recent recommendation"
                                : "recent recommendations were higher than current one, "
                                  "applying the highest recent recommendation");
    } else {
        tw_hpa_conditions_set(&st->conditions, TW_HPA_COND_ABLE_TO_SCALE, TW_HPA_STATUS_TRUE,
                              "ReadyForNewScale", now_ms, "recommended size matches current size");
    }
    int32_t desired = tw_hpa_rate_limit_behavior(&st->history, current, stabilized, min_replicas,
                                                 spec->max_replicas, &up, &down, now_ms, &reason);
    tw_hpa_conditions_set(&st->conditions, TW_HPA_COND_SCALING_LIMITED,
                          desired == stabilized ? TW_HPA_STATUS_FALSE : TW_HPA_STATUS_TRUE, reason,
                          now_ms, "%s", limit_message(reason));
    return desired;
}

/*
 * How it works: one pass.
 *
 * 1. Gates. A target scaled to 0 by hand disables the HPA (unless the HPA itself scaled it to 0
 *    with the HPAScaleToZero gate and can read an Object/External metric); a count outside
 *    [min, max] is brought back into range without reading metrics.
 * 2. One proposal per metric; the HPA proposal is the largest valid one. When every metric fails,
 *    or some fail and the valid ones would scale down, nothing changes: scaling down on partial
 *    data could remove capacity that the failing metric would have kept.
 * 3. Normalization: stabilization over the recommendation history, then the rate limits and the
 *    min/max bounds (legacy or behavior path).
 */
int tw_hpa_reconcile(const tw_hpa_controller_config_t *cfg, const tw_hpa_spec_t *spec,
                     int32_t spec_replicas, int32_t status_replicas, int64_t now_ms,
                     tw_hpa_state_t *state, tw_hpa_metric_result_t *results, tw_hpa_decision_t *out,
                     tw_error_t *err)
{
    if (cfg == NULL || spec == NULL || state == NULL || out == NULL) {
        return tw_error_set(err, TW_EINVAL, "hpa reconcile: NULL argument");
    }
    memset(out, 0, sizeof(*out));
    tw_hpa_conditions_t *conds = &state->conditions;
    int32_t current = spec_replicas;
    out->current_replicas = current;
    tw_hpa_conditions_set(conds, TW_HPA_COND_ABLE_TO_SCALE, TW_HPA_STATUS_TRUE, "SucceededGetScale",
                          now_ms, "the HPA controller was able to get the target's current scale");
    if (!state->history.seeded) {
        tw_hpa_history_add_recommendation(&state->history, current, now_ms);
    }
    int32_t min_replicas = min_replicas_of(spec);
    bool gate0 = cfg->gate_scale_to_zero;
    bool has_obj_ext = has_object_or_external(spec);
    const tw_hpa_condition_t *stz = tw_hpa_conditions_get(conds, TW_HPA_COND_SCALED_TO_ZERO);
    bool scaled_to_zero = gate0 && stz != NULL && stz->status == TW_HPA_STATUS_TRUE;
    bool can_scale_from_zero = scaled_to_zero && has_obj_ext;

    int32_t desired = 0;
    bool needs_metrics = true;
    bool rescale = true;
    if (current == 0) {
        if (!((min_replicas != 0 && scaled_to_zero) || can_scale_from_zero)) {
            needs_metrics = false;
            rescale = false;
            tw_hpa_conditions_set(conds, TW_HPA_COND_SCALING_ACTIVE, TW_HPA_STATUS_FALSE,
                                  "ScalingDisabled", now_ms,
                                  "scaling is disabled since the replica count of the target is "
                                  "zero");
            if (!gate0) {
                tw_hpa_conditions_remove(conds, TW_HPA_COND_SCALED_TO_ZERO);
            }
        }
    } else if (current > spec->max_replicas) {
        tw_strlcpy(out->reason, "Current number of replicas above Spec.MaxReplicas",
                   sizeof(out->reason));
        desired = spec->max_replicas;
        needs_metrics = false;
    } else if (current < min_replicas) {
        tw_strlcpy(out->reason, "Current number of replicas below Spec.MinReplicas",
                   sizeof(out->reason));
        desired = min_replicas;
        needs_metrics = false;
    }

    int ret = 0;
    if (needs_metrics) {
        out->metrics_computed = true;
        tw_hpa_calc_config_t cc = calc_config_for(cfg, spec);
        int32_t best = 0;
        char best_name[128] = "";
        size_t invalid = 0;
        metric_outcome_t first_bad;
        memset(&first_bad, 0, sizeof(first_bad));
        for (size_t i = 0; i < spec->n_metrics; i++) {
            metric_outcome_t o;
            tw_hpa_calc_result_t res;
            compute_metric(&cc, &spec->metrics[i], spec_replicas, status_replicas, now_ms, &res,
                           &o);
            if (results != NULL) {
                results[i].rc = o.rc;
                results[i].calc = res;
            }
            if (o.rc != 0) {
                if (invalid == 0) {
                    first_bad = o;
                }
                invalid++;
                continue;
            }
            if (best == 0 || o.replicas > best) {
                best = o.replicas;
                tw_strlcpy(best_name, o.name, sizeof(best_name));
            }
        }
        if (spec->n_metrics == 0) {
            snprintf(out->error, sizeof(out->error), "the HPA has no metrics");
            return tw_error_set(err, TW_EINVAL, "%s", out->error);
        }
        if (invalid > 0) {
            snprintf(out->error, sizeof(out->error),
                     "invalid metrics (%zu invalid out of %zu), first error is: %s", invalid,
                     spec->n_metrics, first_bad.error);
        }
        if (invalid >= spec->n_metrics || (invalid > 0 && best < spec_replicas)) {
            tw_hpa_conditions_set(
                conds, TW_HPA_COND_SCALING_ACTIVE, TW_HPA_STATUS_FALSE, first_bad.reason, now_ms,
                "the HPA was unable to compute the replica count: %s", first_bad.error);
            out->desired_replicas = current;
            out->rescale = false;
            return tw_error_set(err, first_bad.rc,
                                "failed to compute desired number of replicas based on listed "
                                "metrics: %s",
                                out->error);
        }
        tw_hpa_conditions_set(
            conds, TW_HPA_COND_SCALING_ACTIVE, TW_HPA_STATUS_TRUE, "ValidMetricFound", now_ms,
            "the HPA was able to successfully calculate a replica count from %s", best_name);
        if (invalid > 0) {
            ret = tw_error_set(err, first_bad.rc, "%s", out->error);
        }
        const char *rescale_metric = "";
        if (best > desired) {
            desired = best;
            rescale_metric = best_name;
        }
        if (desired > current) {
            snprintf(out->reason, sizeof(out->reason), "%s above target", rescale_metric);
        }
        if (desired < current) {
            tw_strlcpy(out->reason, "All metrics below target", sizeof(out->reason));
        }
        if (spec->behavior == NULL) {
            desired = normalize_legacy(cfg, spec, state, current, desired, min_replicas, now_ms);
        } else {
            desired = normalize_behavior(cfg, spec, state, current, desired, min_replicas, now_ms);
        }
        if (current == 0 && min_replicas != 0 && scaled_to_zero && desired < min_replicas) {
            desired = min_replicas;
            if (out->reason[0] == '\0') {
                tw_strlcpy(out->reason, "Current number of replicas below Spec.MinReplicas",
                           sizeof(out->reason));
            }
        }
        rescale = desired != current;
    }
    out->rescale = rescale;
    out->desired_replicas = rescale ? desired : current;
    return ret;
}

void tw_hpa_rescale_done(const tw_hpa_controller_config_t *cfg, const tw_hpa_spec_t *spec,
                         const tw_hpa_decision_t *decision, bool ok, const char *error_msg,
                         int64_t now_ms, tw_hpa_state_t *state)
{
    tw_hpa_conditions_t *conds = &state->conditions;
    if (!ok) {
        tw_hpa_conditions_set(conds, TW_HPA_COND_ABLE_TO_SCALE, TW_HPA_STATUS_FALSE,
                              "FailedUpdateScale", now_ms,
                              "the HPA controller was unable to update the target scale: %s",
                              error_msg == NULL ? "unknown error" : error_msg);
        return;
    }
    int32_t cur = decision->current_replicas, des = decision->desired_replicas;
    tw_hpa_conditions_set(conds, TW_HPA_COND_ABLE_TO_SCALE, TW_HPA_STATUS_TRUE, "SucceededRescale",
                          now_ms, "the HPA controller was able to update the target scale to %d",
                          (int)des);
    if (spec->behavior != NULL) {
        tw_hpa_scaling_rules_t rules;
        bool up = des > cur;
        tw_hpa_scaling_rules_resolve(up ? spec->behavior->scale_up : spec->behavior->scale_down, up,
                                     downscale_window_s(cfg), &rules);
        tw_hpa_history_store_event(&state->history, &rules, cur, des, now_ms);
    }
    if (cfg->gate_scale_to_zero) {
        if (cur > 0 && des == 0 && min_replicas_of(spec) == 0 && has_object_or_external(spec)) {
            tw_hpa_conditions_set(conds, TW_HPA_COND_SCALED_TO_ZERO, TW_HPA_STATUS_TRUE,
                                  "ScaledToZero", now_ms,
                                  "the HPA controller scaled the workload to zero");
        } else {
            tw_hpa_conditions_set(conds, TW_HPA_COND_SCALED_TO_ZERO, TW_HPA_STATUS_FALSE,
                                  "NotScaledToZero", now_ms,
                                  "the HPA controller did not scale the workload to zero");
        }
    } else {
        tw_hpa_conditions_remove(conds, TW_HPA_COND_SCALED_TO_ZERO);
    }
}
