/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orchestrator.c - the driver registry and dispatch, the read-compute-write loop with bounded
 * conflict retries, pod lists, and the Kubernetes quantity reading the drivers share (RFC 3339
 * times are common/timeutil.h's; Retry-After, backoff, the QPS token bucket and URL escaping are
 * common/kube.h's).
 *
 * Pure apart from the dispatch (whatever the driver does). Thread model: see orchestrator.h.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "autoscaler/orchestrator/orchestrator.h"
#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/mem.h"
#include "common/quantity.h"

struct tw_orch_driver {
    const tw_orch_ops_t *ops;
    void *impl;
};

/* ------------------------------------------------------------------------------------------ */
/* Registry and dispatch                                                                      */
/* ------------------------------------------------------------------------------------------ */

static const tw_orch_ops_t *const registry[] = {
    &tw_orch_kube_ops,
    &tw_orch_nomad_ops,
    &tw_orch_exec_ops,
    &tw_orch_dryrun_ops,
};
#define N_REGISTRY (sizeof(registry) / sizeof(registry[0]))

static const tw_orch_ops_t *lookup(const char *name)
{
    for (size_t i = 0; i < N_REGISTRY; i++) {
        if (strcmp(registry[i]->name, name) == 0) {
            return registry[i];
        }
    }
    return NULL;
}

bool tw_orch_driver_known(const char *name)
{
    return name != NULL && lookup(name) != NULL;
}

int tw_orch_driver_new(const char *name, const tw_orch_config_t *cfg, tw_orch_driver_t **out,
                       tw_error_t *err)
{
    static const tw_orch_config_t defaults;
    *out = NULL;
    if (name == NULL || *name == '\0') {
        name = TW_ORCH_DEFAULT_DRIVER;
    }
    if (cfg == NULL) {
        cfg = &defaults;
    }
    const tw_orch_ops_t *ops = lookup(name);
    if (ops == NULL) {
        return tw_error_set(err, TW_EINVAL,
                            "unknown orchestrator driver \"%s\" (expected kubernetes, nomad, "
                            "exec or dryrun)",
                            name);
    }
    void *impl = NULL;
    int rc;
    if (ops == &tw_orch_kube_ops) {
        rc = tw_orch_kube_new(&cfg->kubernetes, &impl, err);
    } else if (ops == &tw_orch_nomad_ops) {
        rc = tw_orch_nomad_new(&cfg->nomad, &impl, err);
    } else if (ops == &tw_orch_exec_ops) {
        rc = tw_orch_exec_new(&cfg->exec, &impl, err);
    } else {
        rc = tw_orch_dryrun_new(&cfg->dryrun, &impl, err);
    }
    if (rc != 0) {
        return rc;
    }
    tw_orch_driver_t *d = tw_xcalloc(1, sizeof(*d));
    d->ops = ops;
    d->impl = impl;
    *out = d;
    return 0;
}

void tw_orch_driver_free(tw_orch_driver_t *d)
{
    if (d == NULL) {
        return;
    }
    d->ops->free(d->impl);
    free(d);
}

const char *tw_orch_driver_name(const tw_orch_driver_t *d)
{
    return d->ops->name;
}

static int unsupported(const tw_orch_driver_t *d, const char *op, tw_error_t *err)
{
    return tw_error_set(err, TW_EINVAL, "the %s orchestrator driver does not support %s",
                        d->ops->name, op);
}

static int check_ref(const tw_orch_ref_t *ref, tw_error_t *err)
{
    if (ref == NULL || ref->name == NULL || ref->name[0] == '\0') {
        return tw_error_set(err, TW_EINVAL, "orchestrator: the workload has no name");
    }
    return 0;
}

int tw_orch_get_scale(tw_orch_driver_t *d, const tw_orch_ref_t *ref, tw_orch_scale_t *out,
                      tw_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (d->ops->get_scale == NULL) {
        return unsupported(d, "get_scale", err);
    }
    int rc = check_ref(ref, err);
    return rc != 0 ? rc : d->ops->get_scale(d->impl, ref, out, err);
}

int tw_orch_set_scale(tw_orch_driver_t *d, const tw_orch_ref_t *ref,
                      const tw_orch_scale_t *observed, int32_t replicas, tw_orch_scale_t *out,
                      tw_error_t *err)
{
    tw_orch_scale_t tmp;
    if (out == NULL) {
        out = &tmp;
    }
    memset(out, 0, sizeof(*out));
    if (d->ops->set_scale == NULL) {
        return unsupported(d, "set_scale", err);
    }
    int rc = check_ref(ref, err);
    if (rc != 0) {
        return rc;
    }
    if (replicas < 0) {
        return tw_error_set(err, TW_EINVAL, "orchestrator: replicas must be >= 0, got %d",
                            (int)replicas);
    }
    return d->ops->set_scale(d->impl, ref, observed, replicas, out, err);
}

int tw_orch_list_pods(tw_orch_driver_t *d, const tw_orch_ref_t *ref, const char *selector,
                      tw_orch_pod_list_t *out, tw_error_t *err)
{
    if (d->ops->list_pods == NULL) {
        return unsupported(d, "list_pods", err);
    }
    return d->ops->list_pods(d->impl, ref, selector == NULL ? "" : selector, out, err);
}

int tw_orch_patch_resources(tw_orch_driver_t *d, const tw_orch_ref_t *ref,
                            const tw_orch_resources_t *res, size_t n_res, tw_error_t *err)
{
    if (d->ops->patch_resources == NULL) {
        return unsupported(d, "patch_resources", err);
    }
    int rc = check_ref(ref, err);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < n_res; i++) {
        if (res[i].container == NULL || res[i].container[0] == '\0') {
            return tw_error_set(err, TW_EINVAL,
                                "orchestrator: resources entry %zu names no "
                                "container",
                                i);
        }
    }
    return d->ops->patch_resources(d->impl, ref, res, n_res, err);
}

int tw_orch_evict_pod(tw_orch_driver_t *d, const tw_orch_ref_t *ref, tw_error_t *err)
{
    if (d->ops->evict_pod == NULL) {
        return unsupported(d, "evict_pod", err);
    }
    if (ref == NULL || ref->name == NULL || ref->name[0] == '\0') {
        return tw_error_set(err, TW_EINVAL, "orchestrator: evict_pod needs a pod name");
    }
    if (ref->kind != NULL && strcasecmp(ref->kind, "Pod") != 0) {
        return tw_error_set(err, TW_EINVAL, "orchestrator: cannot evict kind %s (only Pod)",
                            ref->kind);
    }
    return d->ops->evict_pod(d->impl, ref, err);
}

size_t tw_orch_dryrun_records(const tw_orch_driver_t *d, const tw_orch_record_t **out)
{
    *out = NULL;
    if (d == NULL || d->ops->records == NULL) {
        return 0;
    }
    return d->ops->records(d->impl, out);
}

int tw_orch_scale_update(tw_orch_driver_t *d, const tw_orch_ref_t *ref, tw_orch_compute_fn compute,
                         void *ctx, int max_conflicts, tw_orch_scale_t *out, int *attempts,
                         tw_error_t *err)
{
    tw_orch_scale_t cur, tmp;
    int rc = 0;
    if (max_conflicts <= 0) {
        max_conflicts = 3;
    }
    if (out == NULL) {
        out = &tmp;
    }
    if (attempts != NULL) {
        *attempts = 0;
    }
    /* One write plus one per conflict: kube-controller-manager gives up on the first conflict
     * and waits for the next sync; we re-read at once, a bounded number of times. */
    for (int i = 0; i <= max_conflicts; i++) {
        rc = tw_orch_get_scale(d, ref, &cur, err);
        if (rc != 0) {
            return rc;
        }
        *out = cur;
        int want = compute(ctx, &cur);
        if (want < 0) {
            return want;
        }
        if (want == cur.spec_replicas) {
            return 0;
        }
        if (attempts != NULL) {
            (*attempts)++;
        }
        rc = tw_orch_set_scale(d, ref, &cur, (int32_t)want, out, err);
        if (rc != TW_ECONFLICT) {
            return rc;
        }
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Pod lists                                                                                  */
/* ------------------------------------------------------------------------------------------ */

void tw_orch_pod_list_init(tw_orch_pod_list_t *l)
{
    memset(l, 0, sizeof(*l));
}

void tw_orch_pod_list_fini(tw_orch_pod_list_t *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        tw_orch_pod_t *p = &l->pods[i];
        for (size_t j = 0; j < p->n_containers; j++) {
            free(p->containers[j].name);
        }
        free(p->containers);
        free(p->name);
    }
    free(l->pods);
    memset(l, 0, sizeof(*l));
}

tw_orch_pod_t *tw_orch_pod_list_add(tw_orch_pod_list_t *l)
{
    tw_grow((void **)&l->pods, &l->cap, l->n + 1, sizeof(*l->pods));
    tw_orch_pod_t *p = &l->pods[l->n++];
    memset(p, 0, sizeof(*p));
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Quantities                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/*
 * The common scanner and exact conversion (common/quantity.h) with this driver's limits: a digit
 * is required, at most 18 significant digits, and an exponent of at most 100 in size.
 */
int tw_orch_quantity_milli(const char *s, int64_t *out)
{
    tw_quantity_t q;
    int rc = tw_quantity_parse(s, strlen(s), &q);
    if (tw_quantity_sig_digits(&q) > 18) {
        return TW_ELIMIT;
    }
    if (rc != 0 || !q.has_digits || (q.exp_written && (q.exp > 100 || q.exp < -100))) {
        return TW_EPARSE;
    }
    return tw_quantity_round_up(&q, 3, out);
}
