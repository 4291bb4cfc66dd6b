/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_pods.c - the Kubernetes pod table: parsed once from a PodList JSON document (kubelet
 * /pods or API server /api/v1/pods) with jansson, immutable afterwards, reference-counted so
 * the collector keeps an old table while the fetcher installs a new one.
 *
 * It answers two questions: which pod and container a cgroup belongs to (by pod UID and by
 * runtime container id from status.containerStatuses[].containerID, "containerd://<id>",
 * "cri-o://<id>", "docker://<id>"), and which kube-state-metrics pod series to write. Strings
 * live in the table's arena; lookups go through two small open-addressing hash indexes.
 * Pure (no I/O); refcounting is atomic, so tables may be shared between threads.
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup_int.h"
#include "common/arena.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/mem.h"

typedef struct cg_resource {
    const char *name; /* sanitized like KSM: "ephemeral_storage", "nvidia_com_gpu" */
    const char *unit; /* "core", "byte" or "integer" (static) */
    double value;
} cg_resource_t;

typedef struct cg_spec {
    const char *name;
    const char *image;
    cg_resource_t *req;
    size_t nreq;
    cg_resource_t *lim;
    size_t nlim;
} cg_spec_t;

typedef struct cg_status {
    const char *name;
    const char *image;
    const char *id; /* runtime id without its scheme; "" when not started */
    bool ready;
    double restarts;
} cg_status_t;

typedef struct cg_pod {
    const char *namespace_;
    const char *name;
    const char *uid;
    const char *node;  /* spec.nodeName, "" when unscheduled */
    const char *phase; /* status.phase, "" when absent */
    cg_spec_t *spec;
    size_t nspec;
    cg_status_t *status;
    size_t nstatus;
} cg_pod_t;

struct tw_cgroup_pods {
    atomic_int refs;
    tw_arena_t *arena;
    cg_pod_t *pods;
    size_t n;
    /* uid index: slot -> pod index + 1 (0 empty). id index: slot -> (pod, status) + 1. */
    uint32_t *uid_idx;
    size_t uid_cap;
    struct {
        uint32_t pod1;
        uint32_t st;
    } * id_idx;
    size_t id_cap;
};

static const char *jstr(tw_arena_t *a, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        return "";
    }
    return tw_arena_strndup(a, json_string_value(v), json_string_length(v));
}

/* KSM's sanitizeLabelName: anything outside [a-zA-Z0-9_] becomes '_'. */
static const char *sanitize(tw_arena_t *a, const char *s)
{
    char *o = tw_arena_strdup(a, s);
    for (char *p = o; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
            *p = '_';
        }
    }
    return o;
}

/*
 * The unit KSM gives resource name, or NULL when KSM skips it: cpu -> core; memory, storage,
 * ephemeral-storage, hugepages-*, attachable-volumes-* -> byte; extended resources (a domain
 * prefix outside kubernetes.io, like nvidia.com/gpu) -> integer.
 */
static const char *resource_unit(const char *name)
{
    if (strcmp(name, "cpu") == 0) {
        return "core";
    }
    if (strcmp(name, "memory") == 0 || strcmp(name, "storage") == 0 ||
        strcmp(name, "ephemeral-storage") == 0 || strncmp(name, "hugepages-", 10) == 0 ||
        strncmp(name, "attachable-volumes-", 19) == 0) {
        return "byte";
    }
    const char *slash = strchr(name, '/');
    if (slash != NULL && strstr(name, "kubernetes.io/") == NULL &&
        strncmp(name, "requests.", 9) != 0) {
        return "integer";
    }
    return NULL;
}

static void parse_resources(tw_arena_t *a, json_t *obj, cg_resource_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!json_is_object(obj) || json_object_size(obj) == 0) {
        return;
    }
    cg_resource_t *r = tw_arena_alloc(a, json_object_size(obj) * sizeof(*r));
    size_t n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        const char *unit = resource_unit(key);
        tw_cg_quantity_t q;
        if (unit == NULL || !json_is_string(val) ||
            tw_cg_quantity_parse(json_string_value(val), json_string_length(val), &q) != 0) {
            continue;
        }
        r[n].name = sanitize(a, key);
        r[n].unit = unit;
        r[n].value = strcmp(unit, "core") == 0 ? (double)tw_cg_quantity_milli(&q) / 1000.0
                                               : (double)tw_cg_quantity_value(&q);
        n++;
    }
    *out = r;
    *nout = n;
}

/* "containerd://<id>" -> "<id>". */
static const char *strip_scheme(tw_arena_t *a, const char *s)
{
    const char *p = strstr(s, "://");
    return p != NULL ? tw_arena_strdup(a, p + 3) : s;
}

static void parse_pod(tw_arena_t *a, json_t *item, cg_pod_t *p)
{
    json_t *meta = json_object_get(item, "metadata");
    json_t *spec = json_object_get(item, "spec");
    json_t *status = json_object_get(item, "status");
    p->namespace_ = jstr(a, meta, "namespace");
    p->name = jstr(a, meta, "name");
    p->uid = jstr(a, meta, "uid");
    p->node = jstr(a, spec, "nodeName");
    p->phase = jstr(a, status, "phase");

    json_t *cs = json_object_get(spec, "containers");
    size_t ncs = json_is_array(cs) ? json_array_size(cs) : 0;
    p->spec = ncs > 0 ? tw_arena_calloc(a, ncs * sizeof(*p->spec)) : NULL;
    p->nspec = 0;
    for (size_t i = 0; i < ncs; i++) {
        json_t *c = json_array_get(cs, i);
        if (!json_is_object(c)) {
            continue;
        }
        cg_spec_t *s = &p->spec[p->nspec++];
        s->name = jstr(a, c, "name");
        s->image = jstr(a, c, "image");
        json_t *res = json_object_get(c, "resources");
        parse_resources(a, json_object_get(res, "requests"), &s->req, &s->nreq);
        parse_resources(a, json_object_get(res, "limits"), &s->lim, &s->nlim);
    }

    json_t *ss = json_object_get(status, "containerStatuses");
    size_t nss = json_is_array(ss) ? json_array_size(ss) : 0;
    p->status = nss > 0 ? tw_arena_calloc(a, nss * sizeof(*p->status)) : NULL;
    p->nstatus = 0;
    for (size_t i = 0; i < nss; i++) {
        json_t *c = json_array_get(ss, i);
        if (!json_is_object(c)) {
            continue;
        }
        cg_status_t *s = &p->status[p->nstatus++];
        s->name = jstr(a, c, "name");
        s->image = jstr(a, c, "image");
        s->id = strip_scheme(a, jstr(a, c, "containerID"));
        s->ready = json_is_true(json_object_get(c, "ready"));
        json_t *rc = json_object_get(c, "restartCount");
        s->restarts = json_is_number(rc) ? json_number_value(rc) : 0;
    }
}

static uint64_t hstr(const char *s)
{
    return tw_hash64(s, strlen(s), 0x7477636770ull);
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n) {
        c <<= 1;
    }
    return c;
}

static void build_indexes(tw_cgroup_pods_t *t)
{
    size_t nids = 0;
    for (size_t i = 0; i < t->n; i++) {
        nids += t->pods[i].nstatus;
    }
    t->uid_cap = pow2_at_least(t->n * 2 + 1);
    t->uid_idx = tw_xcalloc(t->uid_cap, sizeof(*t->uid_idx));
    t->id_cap = pow2_at_least(nids * 2 + 1);
    t->id_idx = tw_xcalloc(t->id_cap, sizeof(*t->id_idx));
    for (size_t i = 0; i < t->n; i++) {
        cg_pod_t *p = &t->pods[i];
        if (p->uid[0] != '\0') {
            size_t s = hstr(p->uid) & (t->uid_cap - 1);
            while (t->uid_idx[s] != 0) {
                s = (s + 1) & (t->uid_cap - 1);
            }
            t->uid_idx[s] = (uint32_t)(i + 1);
        }
        for (size_t k = 0; k < p->nstatus; k++) {
            if (p->status[k].id[0] == '\0') {
                continue;
            }
            size_t s = hstr(p->status[k].id) & (t->id_cap - 1);
            while (t->id_idx[s].pod1 != 0) {
                s = (s + 1) & (t->id_cap - 1);
            }
            t->id_idx[s].pod1 = (uint32_t)(i + 1);
            t->id_idx[s].st = (uint32_t)k;
        }
    }
}

tw_cgroup_pods_t *tw_cgroup_pods_parse(const char *json, size_t len, tw_error_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        tw_error_set_at(err, TW_EPARSE, "<podlist>", jerr.line, jerr.column,
                        "invalid JSON at byte %d: %s", jerr.position, jerr.text);
        return NULL;
    }
    json_t *items = json_object_get(root, "items");
    if (!json_is_object(root) || (items != NULL && !json_is_array(items) && !json_is_null(items))) {
        tw_error_set_at(err, TW_EPARSE, "<podlist>", 1, 1,
                        "expected a PodList object with an \"items\" array");
        json_decref(root);
        return NULL;
    }
    tw_cgroup_pods_t *t = tw_xcalloc(1, sizeof(*t));
    atomic_init(&t->refs, 1);
    t->arena = tw_arena_new(0);
    size_t n = json_is_array(items) ? json_array_size(items) : 0;
    if (n > UINT32_MAX / 2) {
        n = UINT32_MAX / 2;
    }
    t->pods = n > 0 ? tw_arena_calloc(t->arena, n * sizeof(*t->pods)) : NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(items, i);
        if (!json_is_object(item)) {
            continue;
        }
        parse_pod(t->arena, item, &t->pods[t->n++]);
    }
    json_decref(root);
    build_indexes(t);
    return t;
}

void tw_cgroup_pods_ref(tw_cgroup_pods_t *p)
{
    if (p != NULL) {
        atomic_fetch_add(&p->refs, 1);
    }
}

void tw_cgroup_pods_unref(tw_cgroup_pods_t *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1) {
        return;
    }
    free(p->uid_idx);
    free(p->id_idx);
    tw_arena_free(p->arena);
    free(p);
}

size_t tw_cgroup_pods_count(const tw_cgroup_pods_t *p)
{
    return p != NULL ? p->n : 0;
}

static const cg_pod_t *find_uid(const tw_cgroup_pods_t *t, const char *uid)
{
    size_t s = hstr(uid) & (t->uid_cap - 1);
    while (t->uid_idx[s] != 0) {
        const cg_pod_t *p = &t->pods[t->uid_idx[s] - 1];
        if (strcmp(p->uid, uid) == 0) {
            return p;
        }
        s = (s + 1) & (t->uid_cap - 1);
    }
    return NULL;
}

bool tw_cg_pods_lookup(const tw_cgroup_pods_t *t, const char *pod_uid, const char *container_id,
                       tw_cg_pod_ref_t *out)
{
    memset(out, 0, sizeof(*out));
    if (t == NULL || pod_uid == NULL || pod_uid[0] == '\0') {
        return false;
    }
    const cg_pod_t *p = find_uid(t, pod_uid);
    if (p == NULL) {
        return false;
    }
    out->namespace_ = p->namespace_;
    out->name = p->name;
    out->uid = p->uid;
    if (container_id == NULL || container_id[0] == '\0') {
        return true;
    }
    size_t s = hstr(container_id) & (t->id_cap - 1);
    while (t->id_idx[s].pod1 != 0) {
        const cg_pod_t *q = &t->pods[t->id_idx[s].pod1 - 1];
        const cg_status_t *st = &q->status[t->id_idx[s].st];
        if (q == p && strcmp(st->id, container_id) == 0) {
            out->container = st->name;
            out->image = st->image;
            if (out->image[0] == '\0') {
                for (size_t k = 0; k < p->nspec; k++) {
                    if (strcmp(p->spec[k].name, st->name) == 0) {
                        out->image = p->spec[k].image;
                    }
                }
            }
            break;
        }
        s = (s + 1) & (t->id_cap - 1);
    }
    return true;
}

/* ---- kube-state-metrics series ---- */

static tw_label_t *labels_new(tw_arena_t *a, size_t n)
{
    return tw_arena_alloc(a, n * sizeof(tw_label_t));
}

static void write_resources(tw_mset_t *out, tw_mfamily_t *f, const tw_label_t *base,
                            const char *container, const char *node, const cg_resource_t *r,
                            size_t nr)
{
    tw_arena_t *a = tw_mset_arena(out);
    for (size_t i = 0; i < nr; i++) {
        tw_label_t *l = labels_new(a, 7);
        memcpy(l, base, 3 * sizeof(*l));
        l[3] = (tw_label_t){"container", container};
        l[4] = (tw_label_t){"node", node};
        l[5] = (tw_label_t){"resource", tw_arena_strdup(a, r[i].name)};
        l[6] = (tw_label_t){"unit", r[i].unit};
        tw_mset_add_borrowed(out, f, NULL, l, 7, r[i].value, TW_NO_TIMESTAMP);
    }
}

void tw_cg_pods_write_ksm(const tw_cgroup_pods_t *t, const char *node_name, tw_mset_t *out)
{
    if (t == NULL) {
        return;
    }
    tw_arena_t *a = tw_mset_arena(out);
    tw_mfamily_t *f_restarts =
        tw_mset_family(out, "kube_pod_container_status_restarts_total", TW_MTYPE_COUNTER,
                       "The number of container restarts per container.", NULL);
    tw_mfamily_t *f_ready =
        tw_mset_family(out, "kube_pod_container_status_ready", TW_MTYPE_GAUGE,
                       "Describes whether the containers readiness check succeeded.", NULL);
    tw_mfamily_t *f_req =
        tw_mset_family(out, "kube_pod_container_resource_requests", TW_MTYPE_GAUGE,
                       "The number of requested request resource by a container.", NULL);
    tw_mfamily_t *f_lim =
        tw_mset_family(out, "kube_pod_container_resource_limits", TW_MTYPE_GAUGE,
                       "The number of requested limit resource by a container.", NULL);
    tw_mfamily_t *f_phase = tw_mset_family(out, "kube_pod_status_phase", TW_MTYPE_GAUGE,
                                           "The pods current phase.", NULL);
    static const char *const phases[] = {"Pending", "Succeeded", "Failed", "Unknown", "Running"};

    for (size_t i = 0; i < t->n; i++) {
        const cg_pod_t *p = &t->pods[i];
        if (node_name != NULL && strcmp(p->node, node_name) != 0) {
            continue;
        }
        tw_label_t *base = labels_new(a, 3);
        base[0] = (tw_label_t){"namespace", tw_arena_strdup(a, p->namespace_)};
        base[1] = (tw_label_t){"pod", tw_arena_strdup(a, p->name)};
        base[2] = (tw_label_t){"uid", tw_arena_strdup(a, p->uid)};
        const char *node = tw_arena_strdup(a, p->node);

        for (size_t k = 0; k < p->nstatus; k++) {
            const cg_status_t *s = &p->status[k];
            tw_label_t *l = labels_new(a, 4);
            memcpy(l, base, 3 * sizeof(*l));
            l[3] = (tw_label_t){"container", tw_arena_strdup(a, s->name)};
            tw_mset_add_borrowed(out, f_restarts, NULL, l, 4, s->restarts, TW_NO_TIMESTAMP);
            tw_mset_add_borrowed(out, f_ready, NULL, l, 4, s->ready ? 1 : 0, TW_NO_TIMESTAMP);
        }
        for (size_t k = 0; k < p->nspec; k++) {
            const cg_spec_t *s = &p->spec[k];
            const char *cname = tw_arena_strdup(a, s->name);
            write_resources(out, f_req, base, cname, node, s->req, s->nreq);
            write_resources(out, f_lim, base, cname, node, s->lim, s->nlim);
        }
        if (p->phase[0] != '\0') {
            for (size_t k = 0; k < sizeof(phases) / sizeof(phases[0]); k++) {
                tw_label_t *l = labels_new(a, 4);
                memcpy(l, base, 3 * sizeof(*l));
                l[3] = (tw_label_t){"phase", phases[k]};
                tw_mset_add_borrowed(out, f_phase, NULL, l, 4,
                                     strcmp(p->phase, phases[k]) == 0 ? 1 : 0, TW_NO_TIMESTAMP);
            }
        }
    }
}
