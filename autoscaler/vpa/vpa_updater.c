/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_updater.c - the VPA updater's decisions (kubernetes/autoscaler vertical-pod-autoscaler
 * pkg/updater/priority and pkg/updater/restriction):
 *
 *  - tw_vpa_priority_get: how far a pod's requests are from the recommendation
 *    (priority_processor.go), and tw_vpa_priority_less / tw_vpa_update_sort: scale-ups first,
 *    then the larger relative difference (update_priority_calculator.go);
 *  - tw_vpa_update_check: whether a pod is worth updating at all (outside the range, quick
 *    OOM, or long-lived with enough difference), with the InPlace mode's infeasible cache;
 *  - tw_vpa_eviction_admit: the VPA's evictionRequirements
 *    (scaling_direction_pod_eviction_admission.go);
 *  - tw_vpa_restriction_*: replica groups, the eviction tolerance and minReplicas, and the
 *    in-place resize decision with its fallback to eviction (pods_restriction_factory.go,
 *    pods_eviction_restriction.go, pods_inplace_restriction.go).
 *
 * Pure: no I/O, no clock (now is a parameter), no logging; the caller logs the verdicts.
 * Thread model: a tw_vpa_restriction_t belongs to one updater loop iteration on one thread;
 * everything else is borrowed for the duration of a call.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"
#include "common/mem.h"

__extension__ typedef __int128 i128;

static const char *const mode_names[] = {
    [TW_VPA_UPDATE_RECREATE] = "Recreate",
    [TW_VPA_UPDATE_OFF] = "Off",
    [TW_VPA_UPDATE_INITIAL] = "Initial",
    [TW_VPA_UPDATE_AUTO] = "Auto",
    [TW_VPA_UPDATE_IN_PLACE_OR_RECREATE] = "InPlaceOrRecreate",
    [TW_VPA_UPDATE_IN_PLACE] = "InPlace",
};

#define N_MODES (sizeof(mode_names) / sizeof(mode_names[0]))

int tw_vpa_update_mode_parse(const char *text, tw_vpa_update_mode_t *out, tw_error_t *err)
{
    for (size_t i = 0; text != NULL && i < N_MODES; i++) {
        if (strcmp(text, mode_names[i]) == 0) {
            *out = (tw_vpa_update_mode_t)i;
            return 0;
        }
    }
    return tw_error_set(err, TW_EINVAL,
                        "unknown updateMode \"%s\" (expected Off, Initial, Recreate, Auto, "
                        "InPlaceOrRecreate or InPlace)",
                        text == NULL ? "" : text);
}

const char *tw_vpa_update_mode_name(tw_vpa_update_mode_t m)
{
    return (size_t)m < N_MODES ? mode_names[m] : "Recreate";
}

/* ---- pods and recommendations ------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool str_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* validation.IsDNS1123Label: 1-63 of [a-z0-9-], starting and ending alphanumeric. */
static bool dns1123_label(const char *s, size_t n)
{
    if (n == 0 || n > 63) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && (ch != '-' || i == 0 || i == n - 1)) {
            return false;
        }
    }
    return true;
}

/*
 * ParseVpaObservedContainersValue, then a lookup: returns 1 when name is listed, 0 when not,
 * -1 when the value does not parse (the caller treats that as "no annotation").
 */
static int observed_lookup(const char *value, const char *name)
{
    if (value[0] == '\0') {
        return 0;
    }
    int found = 0;
    const char *p = value;
    for (;;) {
        const char *sep = strstr(p, ", ");
        size_t n = sep == NULL ? strlen(p) : (size_t)(sep - p);
        if (!dns1123_label(p, n)) {
            return -1;
        }
        if (name != NULL && strlen(name) == n && memcmp(p, name, n) == 0) {
            found = 1;
        }
        if (sep == NULL) {
            return found;
        }
        p = sep + 2;
    }
}

bool tw_vpa_pod_observes(const tw_vpa_updater_pod_t *pod, const char *container)
{
    if (pod->observed_containers == NULL) {
        return true;
    }
    return observed_lookup(pod->observed_containers, container) != 0;
}

/* GetRecommendationForContainer: the first entry named name. */
static const tw_vpa_container_rec_t *rec_find(const tw_vpa_container_rec_t *recs, size_t n,
                                              const char *name)
{
    for (size_t i = 0; recs != NULL && i < n; i++) {
        if (str_eq(recs[i].name, name)) {
            return &recs[i];
        }
    }
    return NULL;
}

/* MilliValue() of an amount: millicores as they are, bytes times 1000. */
static i128 milli(tw_vpa_resource_t r, int64_t v)
{
    return r == TW_VPA_CPU ? (i128)v : (i128)v * 1000;
}

/* ---- priority ----------------------------------------------------------------------------- */

void tw_vpa_priority_get(const tw_vpa_updater_pod_t *pod, const tw_vpa_container_rec_t *recs,
                         size_t n_recs, tw_vpa_pod_priority_t *out)
{
    i128 total_req[TW_VPA_NRES] = {0}, total_rec[TW_VPA_NRES] = {0};
    bool counted[TW_VPA_NRES] = {false, false};
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < pod->n_containers; i++) {
        const tw_vpa_pod_spec_container_t *c = &pod->containers[i];
        if (!tw_vpa_pod_observes(pod, c->name)) {
            continue;
        }
        const tw_vpa_container_rec_t *cr = rec_find(recs, n_recs, c->name);
        if (cr == NULL) {
            continue;
        }
        const tw_vpa_rlist_t *target = &cr->bound[TW_VPA_TARGET];
        const tw_vpa_rlist_t *lower = &cr->bound[TW_VPA_LOWER];
        const tw_vpa_rlist_t *upper = &cr->bound[TW_VPA_UPPER];
        for (int r = 0; r < TW_VPA_NRES; r++) {
            if (!target->has[r]) {
                continue;
            }
            counted[r] = true;
            total_rec[r] += milli((tw_vpa_resource_t)r, target->v[r]);
            if (!c->requests.has[r]) {
                out->scale_up = true;
                out->outside_range = true;
                continue;
            }
            int64_t req = c->requests.v[r];
            total_req[r] += milli((tw_vpa_resource_t)r, req);
            if (target->v[r] > req) {
                out->scale_up = true;
            }
            if ((lower->has[r] && req < lower->v[r]) || (upper->has[r] && req > upper->v[r])) {
                out->outside_range = true;
            }
        }
    }
    for (int r = 0; r < TW_VPA_NRES; r++) {
        if (counted[r]) {
            double req = fmax((double)total_req[r], 1.0);
            out->resource_diff += fabs(req - (double)total_rec[r]) / req;
        }
    }
}

bool tw_vpa_priority_less(const tw_vpa_pod_priority_t *p, const tw_vpa_pod_priority_t *other)
{
    if (p->scale_up != other->scale_up) {
        return other->scale_up;
    }
    return p->resource_diff < other->resource_diff;
}

bool tw_vpa_recommendation_has_lower(const tw_vpa_container_rec_t *last, size_t n_last,
                                     const tw_vpa_container_rec_t *rec, size_t n_rec)
{
    if (last == NULL || rec == NULL) {
        return false;
    }
    for (size_t i = 0; i < n_rec; i++) {
        const tw_vpa_container_rec_t *old = rec_find(last, n_last, rec[i].name);
        if (old == NULL) {
            continue;
        }
        for (int r = 0; r < TW_VPA_NRES; r++) {
            const tw_vpa_rlist_t *a = &rec[i].bound[TW_VPA_TARGET];
            const tw_vpa_rlist_t *b = &old->bound[TW_VPA_TARGET];
            if (a->has[r] && b->has[r] && a->v[r] < b->v[r]) {
                return true;
            }
        }
    }
    return false;
}

/* ---- eviction admission ------------------------------------------------------------------- */

static bool requirement_holds(const tw_vpa_eviction_requirement_t *req,
                              const tw_vpa_rlist_t *requests, const tw_vpa_rlist_t *target)
{
    for (int r = 0; r < TW_VPA_NRES; r++) {
        if (!req->resources[r]) {
            continue;
        }
        /* A resource missing from either side reads as 0, like an empty Quantity. */
        i128 have = milli((tw_vpa_resource_t)r, requests->has[r] ? requests->v[r] : 0);
        i128 want = milli((tw_vpa_resource_t)r, target->has[r] ? target->v[r] : 0);
        if (req->change == TW_VPA_TARGET_HIGHER_THAN_REQUESTS ? want > have : want < have) {
            return true;
        }
    }
    return false;
}

bool tw_vpa_eviction_admit(const tw_vpa_updater_pod_t *pod,
                           const tw_vpa_eviction_requirement_t *reqs, size_t n_reqs, bool has_reqs,
                           const tw_vpa_container_rec_t *recs, size_t n_recs)
{
    if (!has_reqs) {
        return true;
    }
    for (size_t i = 0; i < pod->n_containers; i++) {
        const tw_vpa_pod_spec_container_t *c = &pod->containers[i];
        const tw_vpa_container_rec_t *cr = rec_find(recs, n_recs, c->name);
        if (cr == NULL) {
            continue; /* mode Off for this container: no say in the matter */
        }
        if (!c->requests.has[TW_VPA_CPU] || !c->requests.has[TW_VPA_MEMORY]) {
            return true;
        }
        bool all = true;
        for (size_t k = 0; k < n_reqs && all; k++) {
            all = requirement_holds(&reqs[k], &c->requests, &cr->bound[TW_VPA_TARGET]);
        }
        if (all) {
            return true;
        }
    }
    return false;
}

/* ---- the priority calculator -------------------------------------------------------------- */

void tw_vpa_update_config_init(tw_vpa_update_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->min_change_priority = TW_VPA_DEFAULT_POD_UPDATE_THRESHOLD;
    cfg->pod_lifetime_update_threshold_ms = TW_VPA_DEFAULT_POD_LIFETIME_MS;
    cfg->evict_after_oom_threshold_ms = TW_VPA_DEFAULT_EVICT_AFTER_OOM_MS;
}

const char *tw_vpa_update_verdict_text(tw_vpa_update_verdict_t v)
{
    switch (v) {
    case TW_VPA_UPDATE_ACCEPTED:
        return "pod accepted for update";
    case TW_VPA_UPDATE_INFEASIBLE_CACHED:
        return "recommendation not lower than last infeasible attempt";
    case TW_VPA_UPDATE_NO_START_TIME:
        return "missing field pod.Status.StartTime";
    case TW_VPA_UPDATE_SHORT_LIVED:
        return "short-lived pod, request within recommended range";
    case TW_VPA_UPDATE_DIFF_TOO_LOW:
        return "resource diff too low";
    case TW_VPA_UPDATE_QUICK_OOM_NO_CHANGE:
        return "quick OOM, but resources would not change";
    }
    return "unknown";
}

static bool quick_oom_seen(const tw_vpa_update_config_t *cfg, const tw_vpa_update_vpa_t *vpa,
                           const tw_vpa_updater_pod_t *pod)
{
    int64_t threshold = cfg->evict_after_oom_threshold_ms;
    if (vpa->has_evict_after_oom && cfg->per_vpa_config) {
        threshold = vpa->evict_after_oom_ms;
    }
    for (size_t i = 0; i < pod->n_statuses; i++) {
        const tw_vpa_container_status_t *s = &pod->statuses[i];
        if (!tw_vpa_pod_observes(pod, s->name)) {
            continue; /* not set up by the admission controller: not ours to judge */
        }
        const tw_vpa_container_policy_t *cp = tw_vpa_policy_find(vpa->policy, s->name);
        if (cp != NULL && cp->mode_off) {
            continue;
        }
        if (str_eq(s->last_termination, "OOMKilled") &&
            s->last_finished_ms - s->last_started_ms < threshold) {
            return true;
        }
    }
    return false;
}

tw_vpa_update_verdict_t tw_vpa_update_check(const tw_vpa_update_config_t *cfg,
                                            const tw_vpa_update_vpa_t *vpa,
                                            const tw_vpa_updater_pod_t *pod,
                                            const tw_vpa_pod_priority_t *prio,
                                            const tw_vpa_container_rec_t *rec, size_t n_rec,
                                            const tw_vpa_container_rec_t *infeasible, size_t n_inf,
                                            bool has_inf, int64_t now_ms, bool *quick_oom)
{
    bool oom = false;
    tw_vpa_update_verdict_t v = TW_VPA_UPDATE_ACCEPTED;
    if (vpa->mode == TW_VPA_UPDATE_IN_PLACE && has_inf &&
        !tw_vpa_recommendation_has_lower(infeasible, n_inf, rec, n_rec)) {
        v = TW_VPA_UPDATE_INFEASIBLE_CACHED;
        goto out;
    }
    oom = quick_oom_seen(cfg, vpa, pod);
    if (!prio->outside_range && !oom) {
        if (!pod->has_start_time) {
            v = TW_VPA_UPDATE_NO_START_TIME;
        } else if (now_ms < pod->start_ms + cfg->pod_lifetime_update_threshold_ms) {
            v = TW_VPA_UPDATE_SHORT_LIVED;
        } else if (prio->resource_diff < cfg->min_change_priority) {
            v = TW_VPA_UPDATE_DIFF_TOO_LOW;
        }
        if (v != TW_VPA_UPDATE_ACCEPTED) {
            goto out;
        }
    }
    if (oom && prio->resource_diff == 0) {
        v = TW_VPA_UPDATE_QUICK_OOM_NO_CHANGE;
    }
out:
    if (quick_oom != NULL) {
        *quick_oom = oom;
    }
    return v;
}

static int candidate_cmp(const void *pa, const void *pb)
{
    const tw_vpa_update_candidate_t *a = pa, *b = pb;
    if (tw_vpa_priority_less(&b->priority, &a->priority)) {
        return -1;
    }
    if (tw_vpa_priority_less(&a->priority, &b->priority)) {
        return 1;
    }
    return a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
}

void tw_vpa_update_sort(tw_vpa_update_candidate_t *c, size_t n)
{
    if (n > 1) {
        qsort(c, n, sizeof(*c), candidate_cmp);
    }
}

/* ---- replica groups ----------------------------------------------------------------------- */

/*
 * How it works. GetCreatorMaps groups one VPA's pods by their controller and keeps, per
 * group, the configured replica count, how many pods run and how many are Pending, and
 * the tolerance int(configured * fraction). During one updater loop every eviction and every
 * in-place resize started is counted against its group; a pod may be disrupted while
 *
 *     running - (evicted + resizes started) > configured - tolerance
 *
 * or, so that small groups are not stuck, when every configured replica runs, the tolerance
 * truncated to 0 and nothing was disrupted yet (one pod per loop). A resize already under way
 * (a PodResizePending or PodResizeInProgress condition that is True) is left alone unless it
 * failed: Infeasible, Deferred for more than 5 min, in progress for more than 1 h, or an error
 * or unknown reason - then InPlaceOrRecreate falls back to eviction, budget permitting. The
 * clock for those timeouts starts at the updater's own record of its last resize request (or
 * the first time it sees the resize).
 */

typedef struct group {
    const char *kind, *name;
    int64_t configured;
    int64_t pending, running;
    int64_t tolerance;
    int64_t evicted;
    int64_t in_place_started;
    bool below_min; /* kept for in-place only */
} group_t;

struct tw_vpa_restriction {
    tw_vpa_restriction_config_t cfg;
    const tw_vpa_updater_pod_t *pods;
    size_t n_pods;
    long *group_of; /* per pod: index in groups, or -1 */
    group_t *groups;
    size_t n_groups;
    bool *has_attempt; /* per pod: the last in-place attempt time */
    int64_t *attempt_ms;
};

void tw_vpa_restriction_config_init(tw_vpa_restriction_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->min_replicas = TW_VPA_DEFAULT_MIN_REPLICAS;
    cfg->eviction_tolerance = TW_VPA_DEFAULT_EVICTION_TOLERANCE;
}

const char *tw_vpa_in_place_decision_name(tw_vpa_in_place_decision_t d)
{
    switch (d) {
    case TW_VPA_IN_PLACE_APPROVED:
        return "InPlaceApproved";
    case TW_VPA_IN_PLACE_DEFERRED:
        return "InPlaceDeferred";
    case TW_VPA_IN_PLACE_EVICT:
        return "InPlaceEvict";
    case TW_VPA_IN_PLACE_INFEASIBLE:
        return "InPlaceInfeasible";
    case TW_VPA_IN_PLACE_INFEASIBLE_CACHED:
        return "InPlaceInfeasibleCached";
    }
    return "InPlaceDeferred";
}

/* The first resize condition of the pod (PodResizePending or PodResizeInProgress), or NULL. */
static const tw_vpa_pod_condition_t *resize_condition(const tw_vpa_updater_pod_t *pod)
{
    for (size_t i = 0; i < pod->n_conditions; i++) {
        const tw_vpa_pod_condition_t *c = &pod->conditions[i];
        if (str_eq(c->type, "PodResizePending") || str_eq(c->type, "PodResizeInProgress")) {
            return c;
        }
    }
    return NULL;
}

/* The first condition of the given type, whatever its status. */
static const tw_vpa_pod_condition_t *condition(const tw_vpa_updater_pod_t *pod, const char *type)
{
    for (size_t i = 0; i < pod->n_conditions; i++) {
        if (str_eq(pod->conditions[i].type, type)) {
            return &pod->conditions[i];
        }
    }
    return NULL;
}

static bool in_place_updating(const tw_vpa_updater_pod_t *pod)
{
    const tw_vpa_pod_condition_t *c = resize_condition(pod);
    return c != NULL && c->status_true;
}

static bool owner_kind_counted(const char *kind)
{
    return str_eq(kind, "ReplicationController") || str_eq(kind, "ReplicaSet") ||
           str_eq(kind, "StatefulSet") || str_eq(kind, "DaemonSet");
}

/* The configured replica count of a group, or -1 when it cannot be known. */
static int64_t configured_replicas(const char *kind, const char *name, int64_t live,
                                   const tw_vpa_replica_owner_t *owners, size_t n_owners)
{
    if (str_eq(kind, "Job")) {
        return live; /* a Job has no replica count: its live pods are all of it */
    }
    if (!owner_kind_counted(kind)) {
        return -1;
    }
    for (size_t i = 0; i < n_owners; i++) {
        if (str_eq(owners[i].kind, kind) && str_eq(owners[i].name, name)) {
            return owners[i].replicas > 0 ? owners[i].replicas : -1;
        }
    }
    return -1;
}

tw_vpa_restriction_t *tw_vpa_restriction_new(const tw_vpa_restriction_config_t *cfg,
                                             const tw_vpa_updater_pod_t *pods, size_t n_pods,
                                             const tw_vpa_replica_owner_t *owners, size_t n_owners,
                                             tw_vpa_update_mode_t mode, const int *vpa_min_replicas)
{
    tw_vpa_restriction_t *r = tw_xcalloc(1, sizeof(*r));
    r->cfg = *cfg;
    r->pods = pods;
    r->n_pods = n_pods;
    r->group_of = tw_xcalloc(n_pods + 1, sizeof(*r->group_of));
    r->groups = tw_xcalloc(n_pods + 1, sizeof(*r->groups));
    r->has_attempt = tw_xcalloc(n_pods + 1, sizeof(*r->has_attempt));
    r->attempt_ms = tw_xcalloc(n_pods + 1, sizeof(*r->attempt_ms));

    /* Candidate groups in order of first appearance; live[g] counts their pods. */
    group_t *cand = tw_xcalloc(n_pods + 1, sizeof(*cand));
    long *cand_of = tw_xcalloc(n_pods + 1, sizeof(*cand_of));
    size_t n_cand = 0;
    for (size_t i = 0; i < n_pods; i++) {
        const tw_vpa_updater_pod_t *p = &pods[i];
        r->has_attempt[i] = p->has_last_in_place_attempt;
        r->attempt_ms[i] = p->last_in_place_attempt_ms;
        cand_of[i] = -1;
        if (p->owner_kind == NULL || p->owner_name == NULL) {
            continue; /* not managed by a controller: never disrupted */
        }
        size_t g = 0;
        while (g < n_cand &&
               !(str_eq(cand[g].kind, p->owner_kind) && str_eq(cand[g].name, p->owner_name))) {
            g++;
        }
        if (g == n_cand) {
            cand[n_cand].kind = p->owner_kind;
            cand[n_cand].name = p->owner_name;
            n_cand++;
        }
        cand_of[i] = (long)g;
        if (p->pending) {
            cand[g].pending++;
        } else {
            cand[g].running++;
        }
    }

    int64_t required = vpa_min_replicas != NULL ? *vpa_min_replicas : cfg->min_replicas;
    bool skip_check =
        cfg->in_place_skip_disruption_budget &&
        (mode == TW_VPA_UPDATE_IN_PLACE_OR_RECREATE || mode == TW_VPA_UPDATE_IN_PLACE);
    long *map = tw_xcalloc(n_cand + 1, sizeof(*map));
    for (size_t g = 0; g < n_cand; g++) {
        group_t *c = &cand[g];
        int64_t live = c->pending + c->running;
        map[g] = -1;
        if (live < required) {
            bool boosted = false;
            for (size_t i = 0; i < n_pods && !boosted; i++) {
                boosted = cand_of[i] == (long)g && pods[i].cpu_boost;
            }
            if (!boosted && !skip_check) {
                continue; /* too few replicas */
            }
            c->below_min = skip_check;
        }
        c->configured = configured_replicas(c->kind, c->name, live, owners, n_owners);
        if (c->configured < 0) {
            continue;
        }
        c->tolerance = (int64_t)((double)c->configured * cfg->eviction_tolerance);
        map[g] = (long)r->n_groups;
        r->groups[r->n_groups++] = *c;
    }
    for (size_t i = 0; i < n_pods; i++) {
        r->group_of[i] = cand_of[i] < 0 ? -1 : map[cand_of[i]];
    }
    free(map);
    free(cand_of);
    free(cand);
    return r;
}

void tw_vpa_restriction_free(tw_vpa_restriction_t *r)
{
    if (r == NULL) {
        return;
    }
    free(r->group_of);
    free(r->groups);
    free(r->has_attempt);
    free(r->attempt_ms);
    free(r);
}

static group_t *group_of(tw_vpa_restriction_t *r, size_t pod)
{
    if (pod >= r->n_pods || r->group_of[pod] < 0) {
        return NULL;
    }
    return &r->groups[r->group_of[pod]];
}

/* isPodDisruptable. */
static bool disruptable(const group_t *g)
{
    int64_t should_be_alive = g->configured - g->tolerance;
    int64_t alive = g->running - (g->evicted + g->in_place_started);
    return alive > should_be_alive || (g->configured == g->running && g->tolerance == 0 &&
                                       g->evicted == 0 && g->in_place_started == 0);
}

/* CanEvictInPlacingPod: may a pod with a resize under way be evicted instead? */
static bool can_evict_resizing(tw_vpa_restriction_t *r, size_t pod, const group_t *g,
                               int64_t now_ms)
{
    const tw_vpa_updater_pod_t *p = &r->pods[pod];
    if (!in_place_updating(p)) {
        return false;
    }
    if (!r->has_attempt[pod]) {
        r->has_attempt[pod] = true;
        r->attempt_ms[pod] = now_ms;
    }
    if (!disruptable(g)) {
        return false;
    }
    int64_t elapsed = now_ms - r->attempt_ms[pod];
    const tw_vpa_pod_condition_t *c = condition(p, "PodResizePending");
    if (c != NULL) {
        if (str_eq(c->reason, "Deferred")) {
            return elapsed > TW_VPA_DEFERRED_RESIZE_TIMEOUT_MS;
        }
        return true; /* Infeasible, or a reason we do not know: recreate */
    }
    c = condition(p, "PodResizeInProgress");
    if (c != NULL) {
        if (str_empty(c->reason) && str_empty(c->message)) {
            return elapsed > TW_VPA_IN_PROGRESS_RESIZE_TIMEOUT_MS;
        }
        return true; /* Error, or a reason we do not know */
    }
    return false;
}

bool tw_vpa_restriction_can_evict(tw_vpa_restriction_t *r, size_t pod, int64_t now_ms)
{
    group_t *g = group_of(r, pod);
    if (g == NULL || g->below_min) {
        return false;
    }
    if (r->pods[pod].pending) {
        return true;
    }
    if (in_place_updating(&r->pods[pod])) {
        return can_evict_resizing(r, pod, g, now_ms);
    }
    return disruptable(g);
}

int tw_vpa_restriction_evict_check(tw_vpa_restriction_t *r, size_t pod, int64_t now_ms,
                                   tw_error_t *err)
{
    const char *name = pod < r->n_pods && r->pods[pod].name != NULL ? r->pods[pod].name : "";
    if (group_of(r, pod) == NULL) {
        return tw_error_set(err, TW_ENOTFOUND,
                            "pod not suitable for eviction %s: not in replicated pods map", name);
    }
    if (!tw_vpa_restriction_can_evict(r, pod, now_ms)) {
        return tw_error_set(err, TW_ESTATE, "cannot evict pod %s: eviction budget exceeded", name);
    }
    return 0;
}

void tw_vpa_restriction_evicted(tw_vpa_restriction_t *r, size_t pod)
{
    group_t *g = group_of(r, pod);
    if (g != NULL && !r->pods[pod].pending) {
        g->evicted++;
    }
}

tw_vpa_in_place_decision_t
tw_vpa_restriction_can_in_place(tw_vpa_restriction_t *r, size_t pod, tw_vpa_update_mode_t mode,
                                const tw_vpa_container_rec_t *rec, size_t n_rec, bool has_rec,
                                const tw_vpa_container_rec_t *infeasible, size_t n_inf,
                                bool has_inf, int64_t now_ms)
{
    bool in_place_only = mode == TW_VPA_UPDATE_IN_PLACE;
    if (in_place_only && !r->cfg.gate_in_place) {
        return TW_VPA_IN_PLACE_DEFERRED;
    }
    group_t *g = group_of(r, pod);
    if (g == NULL || r->pods[pod].pending || !has_rec) {
        return TW_VPA_IN_PLACE_DEFERRED;
    }
    const tw_vpa_updater_pod_t *p = &r->pods[pod];
    if (in_place_only && has_inf &&
        !tw_vpa_recommendation_has_lower(infeasible, n_inf, rec, n_rec)) {
        return TW_VPA_IN_PLACE_INFEASIBLE_CACHED;
    }
    const tw_vpa_pod_condition_t *c = resize_condition(p);
    if (c != NULL && c->status_true) {
        if (in_place_only) {
            /* Never evicts: an infeasible or failed resize waits for a new recommendation,
             * anything else for the kubelet. */
            bool pending = str_eq(c->type, "PodResizePending");
            if ((pending && str_eq(c->reason, "Infeasible")) ||
                (!pending && str_eq(c->reason, "Error"))) {
                return TW_VPA_IN_PLACE_INFEASIBLE;
            }
            return TW_VPA_IN_PLACE_DEFERRED;
        }
        return can_evict_resizing(r, pod, g, now_ms) ? TW_VPA_IN_PLACE_EVICT
                                                     : TW_VPA_IN_PLACE_DEFERRED;
    }
    if (r->cfg.in_place_skip_disruption_budget && !p->restart_on_resize) {
        return TW_VPA_IN_PLACE_APPROVED;
    }
    return disruptable(g) ? TW_VPA_IN_PLACE_APPROVED : TW_VPA_IN_PLACE_DEFERRED;
}

int tw_vpa_restriction_in_place_check(tw_vpa_restriction_t *r, size_t pod, tw_error_t *err)
{
    if (group_of(r, pod) == NULL) {
        const char *name = pod < r->n_pods && r->pods[pod].name != NULL ? r->pods[pod].name : "";
        return tw_error_set(err, TW_ENOTFOUND,
                            "pod not suitable for in-place update %s: not in replicated pods map",
                            name);
    }
    return 0;
}

void tw_vpa_restriction_in_place_done(tw_vpa_restriction_t *r, size_t pod, int64_t now_ms)
{
    group_t *g = group_of(r, pod);
    if (g == NULL) {
        return;
    }
    g->in_place_started++;
    r->has_attempt[pod] = true;
    r->attempt_ms[pod] = now_ms;
}

bool tw_vpa_restriction_last_attempt(const tw_vpa_restriction_t *r, size_t pod, int64_t *out_ms)
{
    if (pod >= r->n_pods || !r->has_attempt[pod]) {
        return false;
    }
    *out_ms = r->attempt_ms[pod];
    return true;
}
