/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_admission.c - the VPA admission controller's pod mutation: an AdmissionReview v1 request
 * in, an AdmissionReview v1 response with a JSONPatch out (vpa.h, "admission").
 *
 * How it works, following upstream's admission-controller:
 *  1. logic/server.go admit(): the review is decoded; whatever goes wrong after that, the answer
 *     is `allowed: true` (the webhook never blocks a pod) with request.uid echoed, and no patch.
 *  2. resource/pod/handler.go GetPatches(): only group "" resource "pods" is handled, only
 *     version v1; a pod without a name is named generateName + "%"; the VPA is looked up (the
 *     caller's callback; mode Off counts as no VPA, like the 1.x matcher); "add
 *     /metadata/annotations {}" first when the pod has no annotations.
 *  3. resource/pod/recommendation GetContainersResourcesForPod(): the VPA's recommendation goes
 *     through the capping processor (tw_vpa_cap_apply: LimitRanges, minAllowed/maxAllowed,
 *     RequestsOnly); each pod container with a recommendation gets requests = target and, with
 *     controlledValues RequestsAndLimits, limits scaled in proportion
 *     (tw_vpa_proportional_limit, the LimitRange default standing in for a missing limit).
 *  4. patch/resource_updates.go: per container, "add .../resources {}" when it has neither
 *     requests nor limits, "add .../requests {}" / ".../limits {}" when missing and about to be
 *     filled, one "add" per resource (cpu before memory: upstream iterates a Go map), and the
 *     vpaUpdates annotation listing what changed; patch/observed_containers.go adds
 *     vpaObservedContainers.
 *
 * Pure: no I/O, no clock, no logging. Thread model: none needed; the lookup callback decides
 * its own locking (the match stays borrowed until release).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "autoscaler/vpa/vpa.h"
#include "common/buf.h"
#include "common/mem.h"

/* Everything parsed out of one review; strings borrowed from root. */
typedef struct review {
    json_t *root;
    const char *uid;
    tw_vpa_admission_pod_t pod;
    char name_buf[320]; /* generateName + "%" */
    tw_vpa_admission_label_t *labels;
    tw_vpa_pod_spec_container_t *containers;
    bool *has_requests; /* resources.requests is a non-null object */
    bool *has_limits;
    bool has_annotations;
} review_t;

const char *tw_vpa_admission_outcome_name(tw_vpa_admission_outcome_t o)
{
    switch (o) {
    case TW_VPA_ADMISSION_APPLIED:
        return "applied";
    case TW_VPA_ADMISSION_SKIPPED:
        return "skipped";
    case TW_VPA_ADMISSION_ERROR:
        break;
    }
    return "error";
}

void tw_vpa_admission_quantity(tw_vpa_resource_t r, int64_t amount, char *buf, size_t bufsz)
{
    static const char *const suffix[] = {"m", "", "k", "M", "G", "T", "P", "E"};
    int e = r == TW_VPA_CPU ? 0 : 1; /* index into suffix: 10^(3(e-1)) */
    int64_t v = amount < 0 ? 0 : amount;
    while (v != 0 && v % 1000 == 0 && e < 7) {
        v /= 1000;
        e++;
    }
    snprintf(buf, bufsz, "%" PRId64 "%s", v, v == 0 ? "" : suffix[e]);
}

char *tw_vpa_admission_base64(const void *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = tw_xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = abc[w >> 18 & 63];
        out[o++] = abc[w >> 12 & 63];
        out[o++] = abc[w >> 6 & 63];
        out[o++] = abc[w & 63];
    }
    if (i < len) {
        uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = abc[w >> 18 & 63];
        out[o++] = abc[w >> 12 & 63];
        out[o++] = i + 1 < len ? abc[w >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static const char *str_or(const json_t *v, const char *def)
{
    const char *s = json_string_value(v);
    return s != NULL ? s : def;
}

/* Reads the cpu and memory entries of a ResourceList object (other resources are ignored). */
static int parse_rlist(const json_t *obj, tw_vpa_rlist_t *out, const char *where, tw_error_t *err)
{
    *out = (tw_vpa_rlist_t){0};
    for (int r = 0; r < TW_VPA_NRES; r++) {
        const json_t *q = json_object_get(obj, tw_vpa_resource_name((tw_vpa_resource_t)r));
        if (q == NULL || json_is_null(q)) {
            continue;
        }
        char num[64];
        const char *text = json_string_value(q);
        if (json_is_integer(q)) {
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(q));
            text = num;
        }
        if (text == NULL) {
            return tw_error_set(err, TW_EPARSE, "%s.%s: want a quantity string", where,
                                tw_vpa_resource_name((tw_vpa_resource_t)r));
        }
        tw_error_t qerr;
        tw_error_clear(&qerr);
        if (tw_vpa_quantity_parse(text, strlen(text), (tw_vpa_resource_t)r, &out->v[r], &qerr) !=
            0) {
            return tw_error_set(err, TW_EPARSE, "%s.%s: %s", where,
                                tw_vpa_resource_name((tw_vpa_resource_t)r), qerr.msg);
        }
        out->has[r] = true;
    }
    return 0;
}

/* Parses the review into rv (rv->root owns the JSON). Returns 0 or TW_EPARSE/TW_EINVAL/TW_ELIMIT.
 */
static int parse_review(const char *body, size_t len, review_t *rv, tw_error_t *err)
{
    json_error_t jerr;
    rv->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (rv->root == NULL) {
        return tw_error_set(err, TW_EPARSE, "AdmissionReview: %s at line %d column %d", jerr.text,
                            jerr.line, jerr.column);
    }
    const json_t *req = json_object_get(rv->root, "request");
    if (!json_is_object(req)) {
        return tw_error_set(err, TW_EPARSE, "AdmissionReview: no request object");
    }
    rv->uid = str_or(json_object_get(req, "uid"), "");
    rv->pod.uid = rv->uid;
    rv->pod.operation = str_or(json_object_get(req, "operation"), "");
    const json_t *res = json_object_get(req, "resource");
    const char *group = str_or(json_object_get(res, "group"), "");
    const char *resource = str_or(json_object_get(res, "resource"), "");
    const char *version = str_or(json_object_get(res, "version"), "");
    if (strcmp(group, "") != 0 || strcmp(resource, "pods") != 0) {
        /* metav1.GroupResource.String(): "resource.group" or "resource" */
        return tw_error_set(err, TW_EINVAL, "not supported resource type: %s%s%s", resource,
                            group[0] ? "." : "", group);
    }
    if (strcmp(version, "v1") != 0) {
        return tw_error_set(err, TW_EINVAL, "only v1 Pods are supported");
    }
    const json_t *obj = json_object_get(req, "object");
    if (!json_is_object(obj)) {
        return tw_error_set(err, TW_EPARSE, "request.object: want a Pod object");
    }
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = str_or(json_object_get(meta, "name"), "");
    const char *ns = str_or(json_object_get(req, "namespace"), "");
    if (ns[0] == '\0') {
        ns = str_or(json_object_get(meta, "namespace"), "");
    }
    if (name[0] == '\0') {
        snprintf(rv->name_buf, sizeof(rv->name_buf), "%s%%",
                 str_or(json_object_get(meta, "generateName"), ""));
        name = rv->name_buf;
    }
    rv->pod.name = name;
    rv->pod.namespace = ns;
    const json_t *ann = json_object_get(meta, "annotations");
    rv->has_annotations = ann != NULL && !json_is_null(ann);
    if (rv->has_annotations && !json_is_object(ann)) {
        return tw_error_set(err, TW_EPARSE, "metadata.annotations: want an object");
    }
    const json_t *labels = json_object_get(meta, "labels");
    if (json_object_size(labels) > TW_VPA_ADMISSION_MAX_LABELS) {
        return tw_error_set(err, TW_ELIMIT, "metadata.labels: more than %d labels",
                            TW_VPA_ADMISSION_MAX_LABELS);
    }
    rv->labels = tw_xcalloc(json_object_size(labels) + 1, sizeof(*rv->labels));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)labels, key, val)
    {
        if (!json_is_string(val)) {
            return tw_error_set(err, TW_EPARSE, "metadata.labels.%s: want a string", key);
        }
        rv->labels[rv->pod.n_labels].name = key;
        rv->labels[rv->pod.n_labels].value = json_string_value(val);
        rv->pod.n_labels++;
    }
    rv->pod.labels = rv->labels;
    size_t i;
    json_array_foreach(json_object_get(meta, "ownerReferences"), i, val)
    {
        if (json_is_true(json_object_get(val, "controller"))) {
            rv->pod.owner_kind = str_or(json_object_get(val, "kind"), "");
            rv->pod.owner_name = str_or(json_object_get(val, "name"), "");
            break;
        }
    }
    const json_t *cs = json_object_get(json_object_get(obj, "spec"), "containers");
    if (!json_is_array(cs)) {
        return tw_error_set(err, TW_EPARSE, "spec.containers: want an array");
    }
    size_t n = json_array_size(cs);
    if (n > TW_VPA_ADMISSION_MAX_CONTAINERS) {
        return tw_error_set(err, TW_ELIMIT, "spec.containers: more than %d containers",
                            TW_VPA_ADMISSION_MAX_CONTAINERS);
    }
    rv->containers = tw_xcalloc(n + 1, sizeof(*rv->containers));
    rv->has_requests = tw_xcalloc(n + 1, sizeof(bool));
    rv->has_limits = tw_xcalloc(n + 1, sizeof(bool));
    json_array_foreach(cs, i, val)
    {
        char where[64];
        const char *cname = json_string_value(json_object_get(val, "name"));
        if (cname == NULL) {
            return tw_error_set(err, TW_EPARSE, "spec.containers[%zu].name: want a string", i);
        }
        rv->containers[i].name = cname;
        const json_t *rs = json_object_get(val, "resources");
        const json_t *rq = json_object_get(rs, "requests");
        const json_t *lm = json_object_get(rs, "limits");
        rv->has_requests[i] = json_is_object(rq);
        rv->has_limits[i] = json_is_object(lm);
        snprintf(where, sizeof(where), "spec.containers[%zu].resources.requests", i);
        int rc = parse_rlist(rq, &rv->containers[i].requests, where, err);
        if (rc == 0) {
            snprintf(where, sizeof(where), "spec.containers[%zu].resources.limits", i);
            rc = parse_rlist(lm, &rv->containers[i].limits, where, err);
        }
        if (rc != 0) {
            return rc;
        }
    }
    rv->pod.containers = rv->containers;
    rv->pod.n_containers = n;
    return 0;
}

static void review_fini(review_t *rv)
{
    json_decref(rv->root);
    free(rv->labels);
    free(rv->containers);
    free(rv->has_requests);
    free(rv->has_limits);
}

static void add_op(json_t *ops, const char *path, json_t *value)
{
    json_array_append_new(ops,
                          json_pack("{s:s,s:s,s:o}", "op", "add", "path", path, "value", value));
}

static const tw_vpa_container_rec_t *find_rec(const tw_vpa_container_rec_t *recs, size_t n,
                                              const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (recs[i].name != NULL && strcmp(recs[i].name, name) == 0) {
            return &recs[i];
        }
    }
    return NULL;
}

/*
 * appendPatchesAndAnnotations for one field ("requests" or "limits") of container i: set holds
 * the new values. Appends to ops and to the container's annotation list text.
 */
static void field_patch(json_t *ops, size_t i, const char *field, const char *word, bool present,
                        const tw_vpa_rlist_t *set, tw_buf_t *text, size_t *n_text)
{
    char path[96];
    if (!present && (set->has[TW_VPA_CPU] || set->has[TW_VPA_MEMORY])) {
        snprintf(path, sizeof(path), "/spec/containers/%zu/resources/%s", i, field);
        add_op(ops, path, json_object());
    }
    for (int r = 0; r < TW_VPA_NRES; r++) {
        if (!set->has[r]) {
            continue;
        }
        char q[32];
        const char *rname = tw_vpa_resource_name((tw_vpa_resource_t)r);
        tw_vpa_admission_quantity((tw_vpa_resource_t)r, set->v[r], q, sizeof(q));
        snprintf(path, sizeof(path), "/spec/containers/%zu/resources/%s/%s", i, field, rname);
        add_op(ops, path, json_string(q));
        tw_buf_printf(text, "%s%s %s", *n_text ? ", " : "", rname, word);
        (*n_text)++;
    }
}

/*
 * Builds the JSON patch for rv against match m (already known not to be mode Off). Returns the
 * ops array (possibly empty).
 */
static json_t *build_patch(const review_t *rv, const tw_vpa_admission_match_t *m)
{
    json_t *ops = json_array();
    size_t n = rv->pod.n_containers;
    tw_vpa_container_rec_t *capped = tw_xcalloc(m->n_recs + n + 1, sizeof(*capped));
    tw_vpa_annotations_t *ann = tw_xcalloc(m->n_recs + n + 1, sizeof(*ann));
    size_t n_capped = 0;
    bool has = tw_vpa_cap_apply(m->recs, m->n_recs, m->has_recs, m->policy, rv->containers, n,
                                m->container_lr, m->pod_lr, capped, ann, &n_capped) == 1;
    if (!has) {
        n_capped = 0;
    }
    if (!rv->has_annotations) {
        json_array_append_new(ops, json_pack("{s:s,s:s,s:{}}", "op", "add", "path",
                                             "/metadata/annotations", "value"));
    }
    tw_buf_t updates;
    tw_buf_init(&updates, 0);
    size_t n_updates = 0;
    for (size_t i = 0; i < n; i++) {
        const tw_vpa_pod_spec_container_t *c = &rv->containers[i];
        const tw_vpa_container_rec_t *rec = find_rec(capped, n_capped, c->name);
        tw_vpa_rlist_t req = {0}, lim = {0};
        tw_buf_t text;
        tw_buf_init(&text, 0);
        size_t n_text = 0;
        if (rec != NULL) {
            size_t k = (size_t)(rec - capped);
            for (size_t a = 0; a < ann[k].n; a++) {
                tw_buf_printf(&text, "%s%s", n_text ? ", " : "", ann[k].text[a]);
                n_text++;
            }
            req = rec->bound[TW_VPA_TARGET];
            const tw_vpa_container_policy_t *cp = tw_vpa_policy_find(m->policy, c->name);
            if (cp == NULL || !cp->requests_only) {
                for (int r = 0; r < TW_VPA_NRES; r++) {
                    const int64_t *ol = c->limits.has[r] ? &c->limits.v[r] : NULL;
                    const int64_t *orq = c->requests.has[r] ? &c->requests.v[r] : NULL;
                    const int64_t *nr = req.has[r] ? &req.v[r] : NULL;
                    const int64_t *dl = m->container_lr != NULL && m->container_lr->def.has[r]
                                            ? &m->container_lr->def.v[r]
                                            : NULL;
                    tw_vpa_limit_result_t lr;
                    tw_vpa_proportional_limit((tw_vpa_resource_t)r, ol, orq, nr, dl, &lr);
                    if (lr.has_limit) {
                        lim.has[r] = true;
                        lim.v[r] = lr.limit;
                    }
                    if (lr.saturated) {
                        tw_buf_printf(&text,
                                      "%s%s: failed to keep limit to request ratio; capping "
                                      "limit to int64",
                                      n_text ? ", " : "",
                                      tw_vpa_resource_name((tw_vpa_resource_t)r));
                        n_text++;
                    }
                }
            }
        }
        size_t before = json_array_size(ops);
        if (!rv->has_requests[i] && !rv->has_limits[i]) {
            char path[64];
            snprintf(path, sizeof(path), "/spec/containers/%zu/resources", i);
            add_op(ops, path, json_object());
        }
        field_patch(ops, i, "requests", "request", rv->has_requests[i], &req, &text, &n_text);
        field_patch(ops, i, "limits", "limit", rv->has_limits[i], &lim, &text, &n_text);
        if (json_array_size(ops) > before) {
            tw_buf_printf(&updates, "%scontainer %zu: %s", n_updates ? "; " : "", i,
                          text.data ? text.data : "");
            n_updates++;
        }
        tw_buf_fini(&text);
    }
    if (n_updates > 0) {
        char *v = NULL;
        size_t vlen =
            (size_t)snprintf(NULL, 0, "Pod resources updated by %s: %s", m->vpa_name, updates.data);
        v = tw_xmalloc(vlen + 1);
        snprintf(v, vlen + 1, "Pod resources updated by %s: %s", m->vpa_name, updates.data);
        add_op(ops, "/metadata/annotations/vpaUpdates", json_string(v));
        free(v);
    }
    tw_buf_fini(&updates);
    /* vpaObservedContainers: every container's name, ", "-separated. */
    tw_buf_t names;
    tw_buf_init(&names, 0);
    tw_buf_puts(&names, "");
    for (size_t i = 0; i < n; i++) {
        tw_buf_printf(&names, "%s%s", i ? ", " : "", rv->containers[i].name);
    }
    add_op(ops, "/metadata/annotations/vpaObservedContainers", json_string(names.data));
    tw_buf_fini(&names);
    free(capped);
    free(ann);
    return ops;
}

/* Builds the response JSON; patch (may be NULL) is the plain JSON patch text. */
static void respond(tw_vpa_admission_result_t *out, const char *uid, const char *patch)
{
    json_t *resp = json_pack("{s:s,s:b}", "uid", uid, "allowed", 1);
    if (patch != NULL) {
        char *b64 = tw_vpa_admission_base64(patch, strlen(patch));
        json_object_set_new(resp, "patch", json_string(b64));
        json_object_set_new(resp, "patchType", json_string("JSONPatch"));
        free(b64);
    }
    json_t *ar = json_pack("{s:s,s:s,s:o}", "kind", "AdmissionReview", "apiVersion",
                           "admission.k8s.io/v1", "response", resp);
    out->response = json_dumps(ar, JSON_COMPACT);
    out->response_len = strlen(out->response);
    json_decref(ar);
}

int tw_vpa_admission_review(const char *body, size_t len, tw_vpa_admission_lookup_fn lookup,
                            tw_vpa_admission_release_fn release, void *ctx,
                            tw_vpa_admission_result_t *out, tw_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (len > TW_VPA_ADMISSION_MAX_BYTES) {
        return tw_error_set(err, TW_EINVAL, "AdmissionReview of %zu bytes exceeds the limit of %u",
                            len, TW_VPA_ADMISSION_MAX_BYTES);
    }
    review_t rv;
    memset(&rv, 0, sizeof(rv));
    tw_error_t perr;
    tw_error_clear(&perr);
    out->outcome = TW_VPA_ADMISSION_SKIPPED;
    char *patch = NULL;
    int rc = parse_review(body != NULL ? body : "", len, &rv, &perr);
    if (rv.pod.name != NULL) {
        snprintf(out->pod, sizeof(out->pod), "%s/%s", rv.pod.namespace, rv.pod.name);
    }
    if (rc != 0) {
        out->outcome = TW_VPA_ADMISSION_ERROR;
        snprintf(out->message, sizeof(out->message), "%s", perr.msg);
        goto out;
    }
    tw_vpa_admission_match_t m;
    memset(&m, 0, sizeof(m));
    rc = lookup(ctx, &rv.pod, &m, &perr);
    if (rc < 0) {
        out->outcome = TW_VPA_ADMISSION_ERROR;
        snprintf(out->message, sizeof(out->message), "%s",
                 perr.msg[0] ? perr.msg : tw_strerror(rc));
        goto out;
    }
    if (rc == 1) {
        m.vpa_name[sizeof(m.vpa_name) - 1] = '\0';
        snprintf(out->vpa_name, sizeof(out->vpa_name), "%s", m.vpa_name);
        if (m.mode != TW_VPA_UPDATE_OFF) {
            json_t *ops = build_patch(&rv, &m);
            if (json_array_size(ops) > 0) {
                patch = json_dumps(ops, JSON_COMPACT);
                out->outcome = TW_VPA_ADMISSION_APPLIED;
            }
            json_decref(ops);
        }
        if (release != NULL) {
            release(ctx, &m);
        }
    }
out:
    respond(out, rv.uid != NULL ? rv.uid : "", patch);
    out->patch = patch;
    review_fini(&rv);
    return 0;
}

void tw_vpa_admission_result_fini(tw_vpa_admission_result_t *r)
{
    if (r == NULL) {
        return;
    }
    free(r->response);
    free(r->patch);
    memset(r, 0, sizeof(*r));
}
