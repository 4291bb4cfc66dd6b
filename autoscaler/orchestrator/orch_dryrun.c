/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orch_dryrun.c - the "dryrun" orchestrator driver, the default: every write (set_scale,
 * patch_resources) is recorded with what it would have done and nothing changes. Reads go to a
 * real driver when the caller gives one, so a dry run against a live cluster shows real
 * decisions; without one, get_scale answers the replicas last "written" for that workload and
 * list_pods an empty list. The caller logs the records (drivers do not log).
 *
 * Thread model: one thread at a time per driver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/buf.h"
#include "common/mem.h"

typedef struct known {
    char *target;
    tw_orch_scale_t scale;
} known_t;

typedef struct dryrun {
    tw_orch_driver_t *reads; /* borrowed */
    size_t max_records;
    tw_orch_record_t *recs;
    size_t n_recs, cap_recs;
    known_t *known;
    size_t n_known, cap_known;
} dryrun_t;

static char *target_of(const tw_orch_ref_t *ref)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_buf_printf(&b, "%s/%s", ref->namespace != NULL ? ref->namespace : "", ref->name);
    if (ref->group != NULL && ref->group[0] != '\0') {
        tw_buf_printf(&b, "/%s", ref->group);
    }
    return tw_buf_steal(&b, NULL);
}

static void record_free(tw_orch_record_t *r)
{
    free(r->op);
    free(r->target);
    free(r->detail);
}

static void add_record(dryrun_t *d, const char *op, char *target, char *detail, int32_t from,
                       int32_t to)
{
    if (d->n_recs == d->max_records) {
        record_free(&d->recs[0]);
        memmove(d->recs, d->recs + 1, (d->n_recs - 1) * sizeof(*d->recs));
        d->n_recs--;
    }
    tw_grow((void **)&d->recs, &d->cap_recs, d->n_recs + 1, sizeof(*d->recs));
    d->recs[d->n_recs++] = (tw_orch_record_t){
        .op = tw_xstrdup(op), .target = target, .detail = detail, .from = from, .to = to};
}

static known_t *find_known(dryrun_t *d, const char *target)
{
    for (size_t i = 0; i < d->n_known; i++) {
        if (strcmp(d->known[i].target, target) == 0) {
            return &d->known[i];
        }
    }
    return NULL;
}

static int dry_get_scale(void *impl, const tw_orch_ref_t *ref, tw_orch_scale_t *out,
                         tw_error_t *err)
{
    dryrun_t *d = impl;
    char *t = target_of(ref);
    known_t *k = find_known(d, t);
    int rc = 0;
    if (k != NULL) {
        /* What we pretended to write wins over the real state, so a dry-run loop converges. */
        *out = k->scale;
    } else if (d->reads != NULL) {
        rc = tw_orch_get_scale(d->reads, ref, out, err);
    } else {
        rc = tw_error_set(err, TW_ENOTFOUND, "dry run: no scale known for %s yet", t);
    }
    free(t);
    return rc;
}

static int dry_set_scale(void *impl, const tw_orch_ref_t *ref, const tw_orch_scale_t *observed,
                         int32_t replicas, tw_orch_scale_t *out, tw_error_t *err)
{
    dryrun_t *d = impl;
    (void)err;
    char *t = target_of(ref);
    tw_buf_t b;
    tw_buf_init(&b, 0);
    int32_t from = observed != NULL ? observed->spec_replicas : -1;
    if (observed != NULL) {
        tw_buf_printf(&b, "would scale %s %s from %d to %d replicas",
                      ref->kind != NULL ? ref->kind : "workload", t, (int)from, (int)replicas);
        if (observed->version[0] != '\0') {
            tw_buf_printf(&b, " (version %s)", observed->version);
        }
    } else {
        tw_buf_printf(&b, "would scale %s %s to %d replicas",
                      ref->kind != NULL ? ref->kind : "workload", t, (int)replicas);
    }
    if (observed != NULL) {
        *out = *observed;
    }
    out->spec_replicas = replicas;
    known_t *k = find_known(d, t);
    if (k == NULL) {
        tw_grow((void **)&d->known, &d->cap_known, d->n_known + 1, sizeof(*d->known));
        k = &d->known[d->n_known++];
        k->target = tw_xstrdup(t);
    }
    k->scale = *out;
    add_record(d, "set_scale", t, tw_buf_steal(&b, NULL), from, replicas);
    return 0;
}

static int dry_list_pods(void *impl, const tw_orch_ref_t *ref, const char *selector,
                         tw_orch_pod_list_t *out, tw_error_t *err)
{
    dryrun_t *d = impl;
    if (d->reads != NULL) {
        return tw_orch_list_pods(d->reads, ref, selector, out, err);
    }
    return 0;
}

static int dry_patch_resources(void *impl, const tw_orch_ref_t *ref, const tw_orch_resources_t *res,
                               size_t n_res, tw_error_t *err)
{
    dryrun_t *d = impl;
    (void)err;
    char *t = target_of(ref);
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_buf_printf(&b, "would set resources of %s %s:", ref->kind != NULL ? ref->kind : "workload",
                  t);
    for (size_t i = 0; i < n_res; i++) {
        const tw_orch_resources_t *r = &res[i];
        tw_buf_printf(&b, "%s %s", i > 0 ? ";" : "", r->container);
        if (r->cpu_request_milli >= 0) {
            tw_buf_printf(&b, " requests.cpu=%lldm", (long long)r->cpu_request_milli);
        }
        if (r->memory_request_bytes >= 0) {
            tw_buf_printf(&b, " requests.memory=%lld", (long long)r->memory_request_bytes);
        }
        if (r->cpu_limit_milli >= 0) {
            tw_buf_printf(&b, " limits.cpu=%lldm", (long long)r->cpu_limit_milli);
        }
        if (r->memory_limit_bytes >= 0) {
            tw_buf_printf(&b, " limits.memory=%lld", (long long)r->memory_limit_bytes);
        }
    }
    add_record(d, "patch_resources", t, tw_buf_steal(&b, NULL), -1, -1);
    return 0;
}

static int dry_evict_pod(void *impl, const tw_orch_ref_t *ref, tw_error_t *err)
{
    dryrun_t *d = impl;
    (void)err;
    char *t = target_of(ref);
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_buf_printf(&b, "would evict pod %s", t);
    add_record(d, "evict_pod", t, tw_buf_steal(&b, NULL), -1, -1);
    return 0;
}

static size_t dry_records(const void *impl, const tw_orch_record_t **out)
{
    const dryrun_t *d = impl;
    *out = d->recs;
    return d->n_recs;
}

static void dry_free(void *impl)
{
    dryrun_t *d = impl;
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->n_recs; i++) {
        record_free(&d->recs[i]);
    }
    for (size_t i = 0; i < d->n_known; i++) {
        free(d->known[i].target);
    }
    free(d->recs);
    free(d->known);
    free(d);
}

int tw_orch_dryrun_new(const tw_orch_dryrun_options_t *o, void **impl_out, tw_error_t *err)
{
    (void)err;
    dryrun_t *d = tw_xcalloc(1, sizeof(*d));
    d->reads = o->reads;
    d->max_records = o->max_records > 0 ? o->max_records : 1000;
    *impl_out = d;
    return 0;
}

const tw_orch_ops_t tw_orch_dryrun_ops = {
    .name = "dryrun",
    .get_scale = dry_get_scale,
    .set_scale = dry_set_scale,
    .list_pods = dry_list_pods,
    .patch_resources = dry_patch_resources,
    .records = dry_records,
    .evict_pod = dry_evict_pod,
    .free = dry_free,
};
