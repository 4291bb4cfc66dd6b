/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orchestrator.c - the driver registry and dispatch, the read-compute-write loop with bounded
 * conflict retries, pod lists, and the small pure helpers the drivers share: Kubernetes
 * quantities and RFC 3339 times (Retry-After, backoff, the QPS token bucket and URL escaping are
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
 * How it works: a quantity is <sign><digits>[.<digits>][suffix], the suffix being a binary SI
 * one (Ki..Ei: powers of 1024), a decimal SI one (n u m "" k M G T P E: powers of 10), or an
 * exponent (e3, E-2). We keep the digits as an integer mantissa (at most 18 significant
 * digits; more is refused) with a power of ten, then compute mantissa * 10^(exp10+3) * 2^exp2,
 * rounding a remaining fraction up (away from zero), which is what MilliValue() returns.
 */
int tw_orch_quantity_milli(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    uint64_t mant = 0;
    int exp10 = 0, nsig = 0;
    bool any = false;
    for (; isdigit((unsigned char)*p); p++) {
        any = true;
        if (mant == 0 && *p == '0') {
            continue;
        }
        if (nsig >= 18) {
            return TW_ELIMIT;
        }
        mant = mant * 10 + (uint64_t)(*p - '0');
        nsig++;
    }
    if (*p == '.') {
        p++;
        for (; isdigit((unsigned char)*p); p++) {
            any = true;
            if (mant == 0 && *p == '0') {
                exp10--;
                continue;
            }
            if (nsig >= 18) {
                if (*p != '0') {
                    return TW_ELIMIT;
                }
                continue;
            }
            mant = mant * 10 + (uint64_t)(*p - '0');
            nsig++;
            exp10--;
        }
    }
    if (!any) {
        return TW_EPARSE;
    }
    int exp2 = 0;
    if (*p == '\0') {
        /* no suffix */
    } else if (p[1] == 'i' && p[2] == '\0') {
        static const char bin[] = "KMGTPE";
        const char *q = strchr(bin, p[0]);
        if (q == NULL || p[0] == '\0') {
            return TW_EPARSE;
        }
        exp2 = 10 * (int)(q - bin + 1);
    } else if ((p[0] == 'e' || p[0] == 'E') && p[1] != '\0') {
        char *end;
        errno = 0;
        long e = strtol(p + 1, &end, 10);
        if (*end != '\0' || errno != 0 || e > 100 || e < -100 ||
            !(isdigit((unsigned char)p[1]) || p[1] == '-' || p[1] == '+')) {
            return TW_EPARSE;
        }
        exp10 += (int)e;
    } else if (p[1] == '\0') {
        switch (p[0]) {
        case 'n':
            exp10 -= 9;
            break;
        case 'u':
            exp10 -= 6;
            break;
        case 'm':
            exp10 -= 3;
            break;
        case 'k':
            exp10 += 3;
            break;
        case 'M':
            exp10 += 6;
            break;
        case 'G':
            exp10 += 9;
            break;
        case 'T':
            exp10 += 12;
            break;
        case 'P':
            exp10 += 15;
            break;
        case 'E':
            exp10 += 18;
            break;
        default:
            return TW_EPARSE;
        }
    } else {
        return TW_EPARSE;
    }
    exp10 += 3; /* milli */
    if (mant == 0) {
        *out = 0;
        return 0;
    }
    /* mant * 10^exp10 * 2^exp2, rounded up, checking each step against INT64_MAX. */
    uint64_t v = mant;
    const uint64_t lim = (uint64_t)INT64_MAX;
    for (; exp10 > 0; exp10--) {
        if (v > lim / 10) {
            return TW_ELIMIT;
        }
        v *= 10;
    }
    for (; exp2 > 0; exp2--) {
        if (v > lim / 2) {
            return TW_ELIMIT;
        }
        v *= 2;
    }
    bool frac = false;
    for (; exp10 < 0; exp10++) {
        if (v % 10 != 0) {
            frac = true;
        }
        v /= 10;
    }
    if (frac) {
        v++;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Times                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int tw_orch_rfc3339_parse(const char *s, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec;
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec)) {
        return TW_EPARSE;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return TW_EPARSE;
    }
    const char *p = s + 19;
    int64_t ms = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        for (; isdigit((unsigned char)*p); p++, n++) {
            if (n < 3) {
                ms = ms * 10 + (*p - '0');
            }
        }
        if (n == 0) {
            return TW_EPARSE;
        }
        for (; n < 3; n++) {
            ms *= 10;
        }
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om)) {
            return TW_EPARSE;
        }
        off_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return TW_EPARSE;
    }
    if (*p != '\0') {
        return TW_EPARSE;
    }
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    *out_ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - off_s) * 1000 + ms;
    return 0;
}
