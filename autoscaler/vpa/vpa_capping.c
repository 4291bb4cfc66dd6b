/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_capping.c - what happens to a recommendation between the recommender and the pod
 * (pkg/utils/vpa/capping.go, limit_and_request_scaling.go):
 *
 *  - tw_vpa_policy_apply: the recommender side (ApplyVPAPolicy): minAllowed then maxAllowed,
 *    the global max filling resources missing from maxAllowed; no LimitRange here.
 *  - tw_vpa_cap_apply: the updater/admission side (cappingRecommendationProcessor.Apply): the Pod
 *    LimitRange for all containers together (upper bound, target, lower bound; CPU then memory),
 *    then per container the container LimitRange, minAllowed/maxAllowed, and with RequestsOnly a
 *    cut to the current limit. Annotations come from the target only.
 *  - tw_vpa_proportional_limit: limits keep their ratio to requests.
 *
 * Arithmetic: CPU in millicores, memory in whole bytes (Value()), products in 128 bits, results
 * floored (scaling up to a Pod LimitRange min rounds CPU up to a millicore), overflow saturating
 * at INT64_MAX.
 *
 * Pure: no I/O, no clock, no logging. Thread model: none needed; everything is borrowed.
 */
#include <string.h>

#include "autoscaler/vpa/vpa.h"

__extension__ typedef __int128 i128;

static const char *const ann_text[TW_VPA_NRES][5] = {
    {"cpu capped to fit Min in container LimitRange",
     "cpu capped to fit Max in container LimitRange", "cpu capped to minAllowed",
     "cpu capped to maxAllowed", "cpu capped to container limit"},
    {"memory capped to fit Min in container LimitRange",
     "memory capped to fit Max in container LimitRange", "memory capped to minAllowed",
     "memory capped to maxAllowed", "memory capped to container limit"},
};

enum { ANN_LR_MIN, ANN_LR_MAX, ANN_MIN_ALLOWED, ANN_MAX_ALLOWED, ANN_LIMIT };

static void annotate(tw_vpa_annotations_t *a, int r, int which)
{
    if (a != NULL && a->n < TW_VPA_MAX_ANNOTATIONS) {
        a->text[a->n++] = ann_text[r][which];
    }
}

const tw_vpa_container_policy_t *tw_vpa_policy_find(const tw_vpa_policy_t *p, const char *name)
{
    if (p == NULL) {
        return NULL;
    }
    const tw_vpa_container_policy_t *def = NULL;
    for (size_t i = 0; i < p->n; i++) {
        if (p->containers[i].name == NULL) {
            continue;
        }
        if (strcmp(p->containers[i].name, name) == 0) {
            return &p->containers[i];
        }
        if (strcmp(p->containers[i].name, "*") == 0) {
            def = &p->containers[i];
        }
    }
    return def;
}

/* ---- scaling helpers ----------------------------------------------------------------------- */

tw_vpa_scale_result_t tw_vpa_scale_cpu(int64_t q, int64_t base, int64_t result, bool round_up,
                                       int64_t *out)
{
    if (base == 0) {
        *out = q;
        return TW_VPA_SCALE_DIVISION_BY_ZERO;
    }
    i128 prod = (i128)q * result;
    i128 quot = prod / base, rem = prod % base;
    /* Go's big.Int DivMod is Euclidean: make the quotient the floor for a positive base. */
    if (rem != 0 && ((rem < 0) != (base < 0))) {
        quot -= 1;
    }
    if (quot > INT64_MAX || quot < INT64_MIN) {
        *out = INT64_MAX;
        return TW_VPA_SCALE_CAPPED;
    }
    if (rem != 0 && round_up) {
        quot += 1;
    }
    *out = (int64_t)quot;
    return TW_VPA_SCALE_OK;
}

/* scaleQuantityProportionallyMem: q * result / base in whole bytes, floored; base 0 gives 0. */
static bool scale_mem(int64_t q, int64_t base, int64_t result, int64_t *out)
{
    if (base == 0) {
        *out = 0; /* upstream divides by zero here; callers never pass 0 */
        return false;
    }
    i128 v = (i128)q * result / base;
    if (v > INT64_MAX || v < INT64_MIN) {
        *out = INT64_MAX;
        return true;
    }
    *out = (int64_t)v;
    return false;
}

static bool scale(tw_vpa_resource_t r, int64_t q, int64_t base, int64_t result, bool round_up,
                  int64_t *out)
{
    if (r == TW_VPA_CPU) {
        return tw_vpa_scale_cpu(q, base, result, round_up, out) == TW_VPA_SCALE_CAPPED;
    }
    return scale_mem(q, base, result, out);
}

void tw_vpa_proportional_limit(tw_vpa_resource_t r, const int64_t *orig_limit,
                               const int64_t *orig_request, const int64_t *rec,
                               const int64_t *default_limit, tw_vpa_limit_result_t *out)
{
    *out = (tw_vpa_limit_result_t){0};
    const int64_t *limit = orig_limit;
    if (limit == NULL || *limit == 0) {
        limit = default_limit;
    }
    if (limit == NULL || *limit == 0) {
        out->annotation = true; /* "limit not set" */
        return;
    }
    if (rec == NULL || *rec == 0) {
        out->annotation = true; /* "limit NOT set since recommendedRequest is nil or 0" */
        return;
    }
    out->has_limit = true;
    if (orig_request == NULL || *orig_request == 0 || *orig_request == *limit) {
        out->limit = *rec;
        return;
    }
    if (scale(r, *limit, *orig_request, *rec, false, &out->limit)) {
        out->saturated = true;
        out->annotation = true; /* "failed to keep limit to request ratio; capping limit" */
    }
}

/* ---- recommender side ---------------------------------------------------------------------- */

static void cap_min(tw_vpa_rlist_t *rl, int r, const tw_vpa_rlist_t *min, bool *capped)
{
    *capped = false;
    if (rl->has[r] && min != NULL && min->has[r] && min->v[r] != 0 && rl->v[r] < min->v[r]) {
        rl->v[r] = min->v[r];
        *capped = true;
    }
}

static void cap_max(tw_vpa_rlist_t *rl, int r, const tw_vpa_rlist_t *max, bool *capped)
{
    *capped = false;
    if (rl->has[r] && max != NULL && max->has[r] && max->v[r] != 0 && rl->v[r] > max->v[r]) {
        rl->v[r] = max->v[r];
        *capped = true;
    }
}

void tw_vpa_policy_apply(tw_vpa_container_rec_t *recs, size_t n, const tw_vpa_policy_t *policy,
                         const tw_vpa_rlist_t *global_max)
{
    for (size_t i = 0; i < n; i++) {
        const tw_vpa_container_policy_t *cp = tw_vpa_policy_find(policy, recs[i].name);
        tw_vpa_rlist_t max = {0};
        const tw_vpa_rlist_t *min = cp != NULL ? &cp->min_allowed : NULL;
        for (int r = 0; r < TW_VPA_NRES; r++) {
            if (cp != NULL && cp->max_allowed.has[r]) {
                max.has[r] = true;
                max.v[r] = cp->max_allowed.v[r];
            } else if (global_max != NULL && global_max->has[r]) {
                max.has[r] = true;
                max.v[r] = global_max->v[r];
            }
        }
        for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
            for (int r = 0; r < TW_VPA_NRES; r++) {
                bool capped;
                cap_min(&recs[i].bound[b], r, min, &capped);
                cap_max(&recs[i].bound[b], r, &max, &capped);
            }
        }
    }
}

/* ---- Pod LimitRange ------------------------------------------------------------------------ */

static tw_vpa_container_rec_t *find_rec(tw_vpa_container_rec_t *recs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (recs[i].name != NULL && strcmp(recs[i].name, name) == 0) {
            return &recs[i];
        }
    }
    return NULL;
}

static const int64_t *opt(const tw_vpa_rlist_t *rl, int r)
{
    return rl->has[r] ? &rl->v[r] : NULL;
}

void tw_vpa_pod_limit_range_apply(tw_vpa_container_rec_t *recs, size_t n,
                                  const tw_vpa_pod_spec_container_t *pod, size_t n_pod,
                                  const tw_vpa_limit_range_t *lr, tw_vpa_resource_t r,
                                  tw_vpa_bound_t b)
{
    int64_t min = lr->min.has[r] ? lr->min.v[r] : 0;
    int64_t max = lr->max.has[r] ? lr->max.v[r] : 0;
    i128 sum_limit = 0, sum_rec = 0;
    for (size_t i = 0; i < n_pod; i++) {
        tw_vpa_container_rec_t *rec = find_rec(recs, n, pod[i].name);
        int64_t request = pod[i].requests.has[r] ? pod[i].requests.v[r] : 0;
        int64_t value = rec == NULL ? request : rec->bound[b].has[r] ? rec->bound[b].v[r] : 0;
        tw_vpa_limit_result_t lim;
        tw_vpa_proportional_limit(r, opt(&pod[i].limits, r), opt(&pod[i].requests, r), &value,
                                  opt(&lr->def, r), &lim);
        if (lim.has_limit) {
            sum_limit += lim.limit;
        }
        sum_rec += value;
    }
    if (sum_rec == 0) {
        return;
    }
    if (min <= sum_limit && min <= sum_rec && (max == 0 || max >= sum_limit)) {
        return;
    }
    if (sum_limit == 0 || sum_limit > INT64_MAX || sum_rec > INT64_MAX) {
        return;
    }
    if (min > sum_rec) {
        for (size_t i = 0; i < n_pod; i++) {
            tw_vpa_container_rec_t *rec = find_rec(recs, n, pod[i].name);
            if (rec == NULL || !rec->bound[b].has[r]) {
                continue;
            }
            /* CPU rounds up to a millicore here; memory floors (the asserted results). */
            scale(r, rec->bound[b].v[r], (int64_t)sum_rec, min, true, &rec->bound[b].v[r]);
        }
        return;
    }
    int64_t target = 0;
    if (min > sum_limit) {
        target = min;
    }
    if (max != 0 && max < sum_limit) {
        target = max;
    }
    for (size_t i = 0; i < n_pod; i++) {
        tw_vpa_container_rec_t *rec = find_rec(recs, n, pod[i].name);
        if (rec == NULL || !rec->bound[b].has[r]) {
            continue;
        }
        scale(r, rec->bound[b].v[r], (int64_t)sum_limit, target, false, &rec->bound[b].v[r]);
    }
}

/* ---- container LimitRange and Apply -------------------------------------------------------- */

/* GetBoundaryRequest: the request bound keeping the request:limit ratio; has=false: none. */
static bool boundary_request(int r, const tw_vpa_pod_spec_container_t *c,
                             const tw_vpa_rlist_t *bound, const tw_vpa_rlist_t *def, int64_t *out)
{
    const int64_t *limit = opt(&c->limits, r);
    if (limit == NULL || *limit == 0) {
        limit = opt(def, r);
    }
    if (limit == NULL || *limit == 0) {
        return false;
    }
    int64_t b = bound->has[r] ? bound->v[r] : 0;
    const int64_t *req = opt(&c->requests, r);
    if (req == NULL || *req == 0) {
        *out = b;
        return true;
    }
    scale((tw_vpa_resource_t)r, *req, *limit, b, false, out);
    return true;
}

static void apply_container_lr(tw_vpa_rlist_t *rl, const tw_vpa_pod_spec_container_t *c,
                               const tw_vpa_limit_range_t *lr, tw_vpa_annotations_t *ann)
{
    if (lr == NULL) {
        return;
    }
    bool has_max_list = false, has_min_list = false;
    for (int r = 0; r < TW_VPA_NRES; r++) {
        has_max_list |= lr->max.has[r];
        has_min_list |= lr->min.has[r];
    }
    tw_vpa_rlist_t maxr = {0}, minr = {0};
    for (int r = 0; r < TW_VPA_NRES; r++) {
        if (has_max_list) {
            maxr.has[r] = boundary_request(r, c, &lr->max, &lr->def, &maxr.v[r]);
        }
        if (has_min_list) {
            minr.has[r] = boundary_request(r, c, &lr->min, &lr->def, &minr.v[r]);
            /* The request itself must also be >= min. */
            if (lr->min.has[r] && (!minr.has[r] || lr->min.v[r] > minr.v[r])) {
                minr.has[r] = true;
                minr.v[r] = lr->min.v[r];
            }
        }
    }
    for (int r = 0; r < TW_VPA_NRES; r++) {
        bool capped;
        cap_min(rl, r, &minr, &capped);
        if (capped) {
            annotate(ann, r, ANN_LR_MIN);
        }
        cap_max(rl, r, &maxr, &capped);
        if (capped) {
            annotate(ann, r, ANN_LR_MAX);
        }
    }
}

static void cap_container(tw_vpa_container_rec_t *rec, const tw_vpa_pod_spec_container_t *c,
                          const tw_vpa_policy_t *policy, const tw_vpa_limit_range_t *lr,
                          tw_vpa_annotations_t *ann)
{
    const tw_vpa_container_policy_t *cp = tw_vpa_policy_find(policy, c->name);
    static const tw_vpa_bound_t order[] = {TW_VPA_TARGET, TW_VPA_LOWER, TW_VPA_UPPER};
    for (size_t k = 0; k < 3; k++) {
        tw_vpa_rlist_t *rl = &rec->bound[order[k]];
        tw_vpa_annotations_t *a = order[k] == TW_VPA_TARGET ? ann : NULL;
        apply_container_lr(rl, c, lr, a);
        if (cp != NULL) {
            for (int r = 0; r < TW_VPA_NRES; r++) {
                bool capped;
                cap_min(rl, r, &cp->min_allowed, &capped);
                if (capped) {
                    annotate(a, r, ANN_MIN_ALLOWED);
                }
                cap_max(rl, r, &cp->max_allowed, &capped);
                if (capped) {
                    annotate(a, r, ANN_MAX_ALLOWED);
                }
            }
        }
        if (cp != NULL && cp->requests_only) {
            for (int r = 0; r < TW_VPA_NRES; r++) {
                if (c->limits.has[r] && rl->has[r] && rl->v[r] > c->limits.v[r]) {
                    rl->v[r] = c->limits.v[r];
                    annotate(a, r, ANN_LIMIT);
                }
            }
        }
    }
}

int tw_vpa_cap_apply(const tw_vpa_container_rec_t *recs, size_t n, bool has_recs,
                     const tw_vpa_policy_t *policy, const tw_vpa_pod_spec_container_t *pod,
                     size_t n_pod, const tw_vpa_limit_range_t *container_lr,
                     const tw_vpa_limit_range_t *pod_lr, tw_vpa_container_rec_t *out,
                     tw_vpa_annotations_t *ann, size_t *n_out)
{
    *n_out = 0;
    if (!has_recs && policy == NULL) {
        return 0;
    }
    /* Work on a copy: the input recommendation stays untouched. */
    size_t m = 0;
    for (size_t i = 0; has_recs && i < n; i++) {
        out[m++] = recs[i];
    }
    if (pod_lr != NULL) {
        /* insertRequestsForMissingRecommendations */
        for (size_t i = 0; i < n_pod; i++) {
            bool any = pod[i].requests.has[0] || pod[i].requests.has[1];
            if (!any || find_rec(out, m, pod[i].name) != NULL) {
                continue;
            }
            out[m] = (tw_vpa_container_rec_t){.name = pod[i].name};
            out[m].bound[TW_VPA_TARGET] = pod[i].requests;
            m++;
        }
        static const tw_vpa_bound_t order[] = {TW_VPA_UPPER, TW_VPA_TARGET, TW_VPA_LOWER};
        for (size_t k = 0; k < 3; k++) {
            tw_vpa_pod_limit_range_apply(out, m, pod, n_pod, pod_lr, TW_VPA_CPU, order[k]);
            tw_vpa_pod_limit_range_apply(out, m, pod, n_pod, pod_lr, TW_VPA_MEMORY, order[k]);
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < m; i++) {
        const tw_vpa_pod_spec_container_t *c = NULL;
        for (size_t j = 0; j < n_pod; j++) {
            if (out[i].name != NULL && strcmp(pod[j].name, out[i].name) == 0) {
                c = &pod[j];
                break;
            }
        }
        if (c == NULL) {
            continue; /* no such container in the pod: dropped */
        }
        out[kept] = out[i];
        ann[kept] = (tw_vpa_annotations_t){0};
        cap_container(&out[kept], c, policy, container_lr, &ann[kept]);
        kept++;
    }
    *n_out = kept;
    return 1;
}
