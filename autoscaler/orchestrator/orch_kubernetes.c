/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orch_kubernetes.c - the "kubernetes" orchestrator driver: the apps/v1 scale subresource of
 * Deployments and StatefulSets (GET, then PUT with the observed resourceVersion, as
 * `kubectl scale --current-replicas` does), the pods a Scale's status.selector matches, and
 * container resources patched into a pod template (strategic merge patch) or a Pod (the resize
 * subresource).
 *
 * Every call goes through common/kube.h's client (kubeconfig or in-cluster config, the QPS
 * bucket with client-go's defaults of 5 qps and burst 10, the token re-read, 429/5xx/transport
 * retries with Retry-After, Status errors). A 409 is returned to the caller as TW_ECONFLICT:
 * tw_orch_scale_update() re-reads and recomputes.
 *
 * The JSON pieces (Scale, PodList, the patches) are pure functions over memory, tested on their
 * own. Thread model: one thread at a time per driver (the client is the driver's).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/kube.h"
#include "common/mem.h"

#define POD_PAGE_LIMIT 500

/* ------------------------------------------------------------------------------------------ */
/* JSON (pure)                                                                                */
/* ------------------------------------------------------------------------------------------ */

static const char *json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const json_t *json_path(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);
    return b == NULL ? v : json_object_get(v, b);
}

static int load_json(const char *body, size_t len, const char *what, json_t **out, tw_error_t *err)
{
    json_error_t je;
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (*out == NULL || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return tw_error_set(err, TW_EINVAL, "%s: the answer is not a JSON object (%s)", what,
                            je.text[0] != '\0' ? je.text : "not an object");
    }
    return 0;
}

static int get_int32(const json_t *v, const char *what, const char *field, int32_t *out,
                     tw_error_t *err)
{
    if (v == NULL || json_is_null(v)) {
        *out = 0; /* omitempty on the server side */
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
        return tw_error_set(err, TW_EINVAL, "%s: %s is not a replica count", what, field);
    }
    *out = (int32_t)json_integer_value(v);
    return 0;
}

int tw_orch_kube_scale_parse(const char *body, size_t len, const char *what, tw_orch_scale_t *out,
                             tw_error_t *err)
{
    json_t *root = NULL;
    memset(out, 0, sizeof(*out));
    int rc = load_json(body, len, what, &root, err);
    if (rc != 0) {
        return rc;
    }
    const char *kind = json_str(root, "kind");
    if (kind != NULL && strcmp(kind, "Scale") != 0) {
        rc = tw_error_set(err, TW_EINVAL, "%s: expected kind Scale, got %s", what, kind);
        goto out;
    }
    rc = get_int32(json_path(root, "spec", "replicas"), what, "spec.replicas", &out->spec_replicas,
                   err);
    if (rc == 0) {
        rc = get_int32(json_path(root, "status", "replicas"), what, "status.replicas",
                       &out->status_replicas, err);
    }
    if (rc != 0) {
        goto out;
    }
    const json_t *sel = json_path(root, "status", "selector");
    if (sel != NULL && !json_is_null(sel)) {
        if (!json_is_string(sel)) {
            rc = tw_error_set(err, TW_EINVAL, "%s: status.selector is not a string", what);
            goto out;
        }
        if (tw_strlcpy(out->selector, json_string_value(sel), sizeof(out->selector)) >=
            sizeof(out->selector)) {
            rc = tw_error_set(err, TW_ELIMIT, "%s: status.selector longer than %d bytes", what,
                              TW_ORCH_SELECTOR_MAX - 1);
            goto out;
        }
    }
    const char *rv = json_str(json_object_get(root, "metadata"), "resourceVersion");
    if (rv != NULL && tw_strlcpy(out->version, rv, sizeof(out->version)) >= sizeof(out->version)) {
        rc = tw_error_set(err, TW_ELIMIT, "%s: metadata.resourceVersion too long", what);
        goto out;
    }
out:
    json_decref(root);
    return rc;
}

static int dump_to(tw_buf_t *out, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (s == NULL) {
        return TW_EINVAL;
    }
    int rc = tw_buf_puts(out, s);
    free(s);
    return rc;
}

int tw_orch_kube_scale_emit(tw_buf_t *out, const char *ns, const char *name,
                            const tw_orch_scale_t *observed, int32_t replicas)
{
    json_t *meta = json_pack("{s:s, s:s}", "name", name, "namespace", ns);
    if (observed != NULL && observed->version[0] != '\0') {
        json_object_set_new(meta, "resourceVersion", json_string(observed->version));
    }
    json_t *v = json_pack("{s:s, s:s, s:o, s:{s:i}}", "kind", "Scale", "apiVersion",
                          "autoscaling/v1", "metadata", meta, "spec", "replicas", (int)replicas);
    return v == NULL ? TW_EINVAL : dump_to(out, v);
}

static int quantity_field(const json_t *requests, const char *res, bool *has, int64_t *milli,
                          const char *pod, tw_error_t *err)
{
    const json_t *q = json_object_get(requests, res);
    *has = false;
    *milli = 0;
    if (q == NULL || json_is_null(q)) {
        return 0;
    }
    int rc = TW_EPARSE;
    if (json_is_string(q)) {
        rc = tw_orch_quantity_milli(json_string_value(q), milli);
    } else if (json_is_integer(q)) {
        char tmp[32];
        snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(q));
        rc = tw_orch_quantity_milli(tmp, milli);
    }
    if (rc != 0) {
        return tw_error_set(err, TW_EINVAL, "pod %s: requests.%s is not a quantity", pod, res);
    }
    *has = true;
    return 0;
}

static int add_container(tw_orch_pod_t *p, size_t *cap, const json_t *c, tw_error_t *err)
{
    tw_grow((void **)&p->containers, cap, p->n_containers + 1, sizeof(*p->containers));
    tw_orch_container_t *ct = &p->containers[p->n_containers++];
    memset(ct, 0, sizeof(*ct));
    const char *name = json_str(c, "name");
    ct->name = tw_xstrdup(name != NULL ? name : "");
    const json_t *req = json_path(c, "resources", "requests");
    int rc = quantity_field(req, "cpu", &ct->has_cpu_request, &ct->cpu_request_milli, p->name, err);
    if (rc == 0) {
        rc = quantity_field(req, "memory", &ct->has_memory_request, &ct->memory_request_milli,
                            p->name, err);
    }
    const json_t *lim = json_path(c, "resources", "limits");
    if (rc == 0) {
        rc = quantity_field(lim, "cpu", &ct->has_cpu_limit, &ct->cpu_limit_milli, p->name, err);
    }
    if (rc == 0) {
        rc = quantity_field(lim, "memory", &ct->has_memory_limit, &ct->memory_limit_milli, p->name,
                            err);
    }
    return rc;
}

/* A condition's status word. */
static tw_orch_cond_t cond_of(const char *s)
{
    return s == NULL                 ? TW_ORCH_COND_UNKNOWN
           : strcmp(s, "True") == 0  ? TW_ORCH_COND_TRUE
           : strcmp(s, "False") == 0 ? TW_ORCH_COND_FALSE
                                     : TW_ORCH_COND_UNKNOWN;
}

/*
 * What the vertical autoscaler reads beyond the HPA's needs: the controller owner, the resize
 * conditions, and per container its last termination and the requests the kubelet actually
 * applied (status.containerStatuses[].resources, which win over the spec during a resize).
 */
static int parse_pod_vpa(const json_t *meta, const json_t *status, tw_orch_pod_t *p,
                         tw_error_t *err)
{
    size_t i;
    const json_t *o, *c;
    json_array_foreach(json_object_get(meta, "ownerReferences"), i, o)
    {
        if (json_is_true(json_object_get(o, "controller"))) {
            const char *k = json_str(o, "kind"), *n = json_str(o, "name");
            tw_strlcpy(p->owner_kind, k != NULL ? k : "", sizeof(p->owner_kind));
            tw_strlcpy(p->owner_name, n != NULL ? n : "", sizeof(p->owner_name));
            break;
        }
    }
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *type = json_str(c, "type");
        bool pending = type != NULL && strcmp(type, "PodResizePending") == 0;
        bool progress = type != NULL && strcmp(type, "PodResizeInProgress") == 0;
        if (!pending && !progress) {
            continue;
        }
        const char *reason = json_str(c, "reason"), *msg = json_str(c, "message");
        tw_orch_cond_t st = cond_of(json_str(c, "status"));
        if (pending) {
            p->resize_pending = st;
            tw_strlcpy(p->resize_pending_reason, reason != NULL ? reason : "",
                       sizeof(p->resize_pending_reason));
            tw_strlcpy(p->resize_pending_message, msg != NULL ? msg : "",
                       sizeof(p->resize_pending_message));
        } else {
            p->resize_in_progress = st;
            tw_strlcpy(p->resize_in_progress_reason, reason != NULL ? reason : "",
                       sizeof(p->resize_in_progress_reason));
            tw_strlcpy(p->resize_in_progress_message, msg != NULL ? msg : "",
                       sizeof(p->resize_in_progress_message));
        }
    }
    json_array_foreach(json_object_get(status, "containerStatuses"), i, c)
    {
        const char *name = json_str(c, "name");
        tw_orch_container_t *ct = NULL;
        for (size_t k = 0; name != NULL && k < p->n_containers; k++) {
            if (strcmp(p->containers[k].name, name) == 0) {
                ct = &p->containers[k];
            }
        }
        if (ct == NULL) {
            continue;
        }
        const json_t *term = json_path(c, "lastState", "terminated");
        const char *reason = json_str(term, "reason");
        if (reason != NULL) {
            tw_strlcpy(ct->last_termination, reason, sizeof(ct->last_termination));
            const char *t = json_str(term, "startedAt");
            if (t != NULL) {
                (void)tw_orch_rfc3339_parse(t, &ct->last_started_ms);
            }
            t = json_str(term, "finishedAt");
            if (t != NULL) {
                (void)tw_orch_rfc3339_parse(t, &ct->last_finished_ms);
            }
        }
        const json_t *req = json_path(c, "resources", "requests");
        if (req != NULL) {
            int rc = quantity_field(req, "cpu", &ct->has_cpu_request, &ct->cpu_request_milli,
                                    p->name, err);
            if (rc == 0) {
                rc = quantity_field(req, "memory", &ct->has_memory_request,
                                    &ct->memory_request_milli, p->name, err);
            }
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static tw_orch_pod_phase_t parse_phase(const char *s)
{
    if (s == NULL) {
        return TW_ORCH_POD_UNKNOWN;
    }
    if (strcmp(s, "Running") == 0) {
        return TW_ORCH_POD_RUNNING;
    }
    if (strcmp(s, "Pending") == 0) {
        return TW_ORCH_POD_PENDING;
    }
    if (strcmp(s, "Succeeded") == 0) {
        return TW_ORCH_POD_SUCCEEDED;
    }
    if (strcmp(s, "Failed") == 0) {
        return TW_ORCH_POD_FAILED;
    }
    return TW_ORCH_POD_UNKNOWN;
}

static int parse_pod(const json_t *item, tw_orch_pod_list_t *out, tw_error_t *err)
{
    const json_t *meta = json_object_get(item, "metadata");
    const json_t *spec = json_object_get(item, "spec");
    const json_t *status = json_object_get(item, "status");
    const char *name = json_str(meta, "name");
    if (name == NULL) {
        return tw_error_set(err, TW_EINVAL, "pod list: an item has no metadata.name");
    }
    tw_orch_pod_t *p = tw_orch_pod_list_add(out);
    p->name = tw_xstrdup(name);
    const json_t *del = json_object_get(meta, "deletionTimestamp");
    p->deleting = del != NULL && !json_is_null(del);
    p->phase = parse_phase(json_str(status, "phase"));
    const char *st = json_str(status, "startTime");
    if (st != NULL && tw_orch_rfc3339_parse(st, &p->start_time_ms) == 0) {
        p->has_start_time = true;
    }
    const json_t *conds = json_object_get(status, "conditions");
    size_t i;
    const json_t *c;
    json_array_foreach(conds, i, c)
    {
        const char *type = json_str(c, "type");
        if (type == NULL || strcmp(type, "Ready") != 0) {
            continue;
        }
        const char *s = json_str(c, "status");
        p->ready = s == NULL                 ? TW_ORCH_COND_UNKNOWN
                   : strcmp(s, "True") == 0  ? TW_ORCH_COND_TRUE
                   : strcmp(s, "False") == 0 ? TW_ORCH_COND_FALSE
                                             : TW_ORCH_COND_UNKNOWN;
        const char *lt = json_str(c, "lastTransitionTime");
        if (lt != NULL) {
            (void)tw_orch_rfc3339_parse(lt, &p->ready_transition_ms);
        }
        break;
    }
    size_t cap = 0;
    int rc = 0;
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        if ((rc = add_container(p, &cap, c, err)) != 0) {
            return rc;
        }
    }
    /* Restartable init containers (sidecars) count; ordinary init containers do not. */
    json_array_foreach(json_object_get(spec, "initContainers"), i, c)
    {
        const char *policy = json_str(c, "restartPolicy");
        if (policy != NULL && strcmp(policy, "Always") == 0 &&
            (rc = add_container(p, &cap, c, err)) != 0) {
            return rc;
        }
    }
    const json_t *preq = json_path(spec, "resources", "requests");
    rc = quantity_field(preq, "cpu", &p->has_pod_cpu_request, &p->pod_cpu_request_milli, p->name,
                        err);
    if (rc == 0) {
        rc = quantity_field(preq, "memory", &p->has_pod_memory_request,
                            &p->pod_memory_request_milli, p->name, err);
    }
    if (rc == 0) {
        rc = parse_pod_vpa(meta, status, p, err);
    }
    return rc;
}

int tw_orch_kube_pods_parse(const char *body, size_t len, tw_orch_pod_list_t *out, char *cont,
                            size_t contsz, tw_error_t *err)
{
    json_t *root = NULL;
    if (contsz > 0) {
        cont[0] = '\0';
    }
    int rc = load_json(body, len, "pod list", &root, err);
    if (rc != 0) {
        return rc;
    }
    const json_t *items = json_object_get(root, "items");
    if (items != NULL && !json_is_null(items) && !json_is_array(items)) {
        rc = tw_error_set(err, TW_EINVAL, "pod list: items is not a list");
        goto out;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        if ((rc = parse_pod(item, out, err)) != 0) {
            goto out;
        }
    }
    const char *c = json_str(json_object_get(root, "metadata"), "continue");
    if (c != NULL && contsz > 0 && tw_strlcpy(cont, c, contsz) >= contsz) {
        rc = tw_error_set(err, TW_ELIMIT, "pod list: continue token too long");
    }
out:
    json_decref(root);
    return rc;
}

int tw_orch_kube_resources_patch(tw_buf_t *out, bool pod_template, const tw_orch_resources_t *res,
                                 size_t n_res)
{
    json_t *containers = json_array();
    for (size_t i = 0; i < n_res; i++) {
        const tw_orch_resources_t *r = &res[i];
        json_t *requests = json_object(), *limits = json_object();
        char q[32];
        if (r->cpu_request_milli >= 0) {
            snprintf(q, sizeof(q), "%lldm", (long long)r->cpu_request_milli);
            json_object_set_new(requests, "cpu", json_string(q));
        }
        if (r->memory_request_bytes >= 0) {
            snprintf(q, sizeof(q), "%lld", (long long)r->memory_request_bytes);
            json_object_set_new(requests, "memory", json_string(q));
        }
        if (r->cpu_limit_milli >= 0) {
            snprintf(q, sizeof(q), "%lldm", (long long)r->cpu_limit_milli);
            json_object_set_new(limits, "cpu", json_string(q));
        }
        if (r->memory_limit_bytes >= 0) {
            snprintf(q, sizeof(q), "%lld", (long long)r->memory_limit_bytes);
            json_object_set_new(limits, "memory", json_string(q));
        }
        json_t *resources = json_object();
        if (json_object_size(requests) > 0) {
            json_object_set(resources, "requests", requests);
        }
        if (json_object_size(limits) > 0) {
            json_object_set(resources, "limits", limits);
        }
        json_decref(requests);
        json_decref(limits);
        json_array_append_new(
            containers, json_pack("{s:s, s:o}", "name", r->container, "resources", resources));
    }
    json_t *podspec = json_pack("{s:o}", "containers", containers);
    json_t *v = pod_template ? json_pack("{s:{s:{s:o}}}", "spec", "template", "spec", podspec)
                             : json_pack("{s:o}", "spec", podspec);
    return v == NULL ? TW_EINVAL : dump_to(out, v);
}

int tw_orch_kube_eviction_body(tw_buf_t *out, const char *ns, const char *name)
{
    json_t *v = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "policy/v1", "kind", "Eviction",
                          "metadata", "name", name, "namespace", ns);
    return v == NULL ? TW_EINVAL : dump_to(out, v);
}

static const char *kind_resource(const char *kind)
{
    if (kind == NULL || strcasecmp(kind, "Deployment") == 0 ||
        strcasecmp(kind, "deployments") == 0) {
        return "deployments";
    }
    if (strcasecmp(kind, "StatefulSet") == 0 || strcasecmp(kind, "statefulsets") == 0) {
        return "statefulsets";
    }
    return NULL;
}

int tw_orch_kube_scale_path(tw_buf_t *out, const char *kind, const char *ns, const char *name,
                            tw_error_t *err)
{
    const char *res = kind_resource(kind);
    if (res == NULL) {
        return tw_error_set(err, TW_EINVAL,
                            "kubernetes: cannot scale kind %s (expected Deployment or "
                            "StatefulSet)",
                            kind);
    }
    int rc = tw_buf_puts(out, "/apis/apps/v1/namespaces/");
    rc = rc != 0 ? rc : tw_kube_path_escape(out, ns);
    rc = rc != 0 ? rc : tw_buf_printf(out, "/%s/", res);
    rc = rc != 0 ? rc : tw_kube_path_escape(out, name);
    rc = rc != 0 ? rc : tw_buf_puts(out, "/scale");
    return rc;
}

int tw_orch_kube_selector_query(tw_buf_t *out, const char *selector)
{
    if (selector == NULL || selector[0] == '\0') {
        return 0;
    }
    int rc = tw_buf_puts(out, "labelSelector=");
    return rc != 0 ? rc : tw_kube_query_escape(out, selector);
}

/* ------------------------------------------------------------------------------------------ */
/* The driver                                                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct kube {
    tw_kube_client_t *client;
    char *default_ns;
} kube_t;

static const char *ns_of(const kube_t *k, const tw_orch_ref_t *ref)
{
    return ref != NULL && ref->namespace != NULL && ref->namespace[0] != '\0' ? ref->namespace
                                                                              : k->default_ns;
}

static int kube_get_scale(void *impl, const tw_orch_ref_t *ref, tw_orch_scale_t *out,
                          tw_error_t *err)
{
    kube_t *k = impl;
    tw_buf_t path;
    tw_kube_resp_t resp;
    char what[300];
    tw_buf_init(&path, 0);
    tw_kube_resp_init(&resp);
    const char *ns = ns_of(k, ref);
    snprintf(what, sizeof(what), "scale of %s %s/%s",
             kind_resource(ref->kind) != NULL ? kind_resource(ref->kind) : "?", ns, ref->name);
    int rc = tw_orch_kube_scale_path(&path, ref->kind, ns, ref->name, err);
    if (rc == 0) {
        rc = tw_kube_request(k->client, "GET", path.data, NULL, NULL, what, &resp, err);
    }
    if (rc == 0) {
        rc = tw_orch_kube_scale_parse(resp.body.data, resp.body.len, what, out, err);
    }
    tw_buf_fini(&path);
    tw_kube_resp_fini(&resp);
    return rc;
}

static int kube_set_scale(void *impl, const tw_orch_ref_t *ref, const tw_orch_scale_t *observed,
                          int32_t replicas, tw_orch_scale_t *out, tw_error_t *err)
{
    kube_t *k = impl;
    tw_buf_t path, body;
    tw_kube_resp_t resp;
    char what[300];
    tw_buf_init(&path, 0);
    tw_buf_init(&body, 0);
    tw_kube_resp_init(&resp);
    const char *ns = ns_of(k, ref);
    snprintf(what, sizeof(what), "scale of %s/%s to %d", ns, ref->name, (int)replicas);
    int rc = tw_orch_kube_scale_path(&path, ref->kind, ns, ref->name, err);
    if (rc == 0) {
        rc = tw_orch_kube_scale_emit(&body, ns, ref->name, observed, replicas);
    }
    if (rc == 0) {
        rc = tw_kube_request(k->client, "PUT", path.data, body.data, "application/json", what,
                             &resp, err);
    }
    if (rc == 0) {
        rc = tw_orch_kube_scale_parse(resp.body.data, resp.body.len, what, out, err);
    }
    tw_buf_fini(&path);
    tw_buf_fini(&body);
    tw_kube_resp_fini(&resp);
    return rc;
}

static int kube_list_pods(void *impl, const tw_orch_ref_t *ref, const char *selector,
                          tw_orch_pod_list_t *out, tw_error_t *err)
{
    kube_t *k = impl;
    tw_buf_t path;
    tw_kube_resp_t resp;
    char cont[4096] = "";
    char what[300];
    const char *ns = ns_of(k, ref);
    int rc = 0;
    tw_buf_init(&path, 0);
    tw_kube_resp_init(&resp);
    snprintf(what, sizeof(what), "pods in %s matching \"%s\"", ns, selector);
    do {
        tw_buf_reset(&path);
        tw_buf_puts(&path, "/api/v1/namespaces/");
        tw_kube_path_escape(&path, ns);
        tw_buf_printf(&path, "/pods?limit=%d", POD_PAGE_LIMIT);
        if (selector[0] != '\0') {
            tw_buf_putc(&path, '&');
            tw_orch_kube_selector_query(&path, selector);
        }
        if (cont[0] != '\0') {
            tw_buf_puts(&path, "&continue=");
            tw_kube_query_escape(&path, cont);
        }
        rc = tw_kube_request(k->client, "GET", path.data, NULL, NULL, what, &resp, err);
        if (rc == 0) {
            rc = tw_orch_kube_pods_parse(resp.body.data, resp.body.len, out, cont, sizeof(cont),
                                         err);
        }
    } while (rc == 0 && cont[0] != '\0');
    tw_buf_fini(&path);
    tw_kube_resp_fini(&resp);
    return rc;
}

/* A quantity as the patches write it: millicores for cpu, bytes for memory. */
static json_t *quantity_json(bool cpu, int64_t v)
{
    char q[32];
    snprintf(q, sizeof(q), cpu ? "%lldm" : "%lld", (long long)v);
    return json_string(q);
}

/* Appends {"op":"add","path":path,"value":value} (value stolen) to ops. */
static void add_op(json_t *ops, const char *path, json_t *value)
{
    json_array_append_new(ops,
                          json_pack("{s:s, s:s, s:o}", "op", "add", "path", path, "value", value));
}

/*
 * The JSON patch (RFC 6902) of a pod's resize subresource, as the VPA updater computes it
 * (updater/inplace/resource_updates.go): per container of res, by its index in the pod's
 * spec.containers, an `add` of an empty resources object when the container has neither
 * requests nor limits, an `add` of an empty requests/limits object when that one is missing,
 * then an `add` of /spec/containers/<i>/resources/<requests|limits>/<cpu|memory> per value.
 * A container the pod does not run is an error.
 */
static int resize_patch(tw_buf_t *out, const json_t *pod, const char *what,
                        const tw_orch_resources_t *res, size_t n_res, tw_error_t *err)
{
    const json_t *containers = json_path(pod, "spec", "containers");
    json_t *ops = json_array();
    int rc = 0;
    for (size_t r = 0; r < n_res && rc == 0; r++) {
        const tw_orch_resources_t *want = &res[r];
        size_t i;
        const json_t *c, *found = NULL;
        json_array_foreach(containers, i, c)
        {
            const char *name = json_str(c, "name");
            if (name != NULL && strcmp(name, want->container) == 0) {
                found = c;
                break;
            }
        }
        if (found == NULL) {
            rc = tw_error_set(err, TW_EINVAL, "%s: the pod has no container \"%s\"", what,
                              want->container);
            break;
        }
        const int64_t vals[2][2] = {{want->cpu_request_milli, want->memory_request_bytes},
                                    {want->cpu_limit_milli, want->memory_limit_bytes}};
        static const char *const kinds[2] = {"requests", "limits"};
        static const char *const names[2] = {"cpu", "memory"};
        const json_t *have[2] = {json_path(found, "resources", "requests"),
                                 json_path(found, "resources", "limits")};
        char path[128];
        if (have[0] == NULL && have[1] == NULL) {
            snprintf(path, sizeof(path), "/spec/containers/%zu/resources", i);
            add_op(ops, path, json_object());
        }
        for (int k = 0; k < 2; k++) {
            if (have[k] == NULL && (vals[k][0] >= 0 || vals[k][1] >= 0)) {
                snprintf(path, sizeof(path), "/spec/containers/%zu/resources/%s", i, kinds[k]);
                add_op(ops, path, json_object());
            }
            for (int q = 0; q < 2; q++) {
                if (vals[k][q] >= 0) {
                    snprintf(path, sizeof(path), "/spec/containers/%zu/resources/%s/%s", i,
                             kinds[k], names[q]);
                    add_op(ops, path, quantity_json(q == 0, vals[k][q]));
                }
            }
        }
    }
    if (rc == 0) {
        rc = dump_to(out, ops);
    } else {
        json_decref(ops);
    }
    return rc;
}

/* The path of pod ns/name, plus suffix ("" or "/resize"). */
static void pod_path(tw_buf_t *path, const char *ns, const char *name, const char *suffix)
{
    tw_buf_puts(path, "/api/v1/namespaces/");
    tw_kube_path_escape(path, ns);
    tw_buf_puts(path, "/pods/");
    tw_kube_path_escape(path, name);
    tw_buf_puts(path, suffix);
}

/*
 * A pod: a JSON patch of its resize subresource (the container indexes come from a GET of the
 * pod just before); a workload: a strategic merge patch of its pod template.
 */
static int kube_patch_resources(void *impl, const tw_orch_ref_t *ref,
                                const tw_orch_resources_t *res, size_t n_res, tw_error_t *err)
{
    kube_t *k = impl;
    tw_buf_t path, body;
    tw_kube_resp_t resp;
    char what[300];
    const char *ns = ns_of(k, ref);
    bool pod = ref->kind != NULL && strcasecmp(ref->kind, "Pod") == 0;
    json_t *cur = NULL;
    int rc = 0;
    tw_buf_init(&path, 0);
    tw_buf_init(&body, 0);
    tw_kube_resp_init(&resp);
    snprintf(what, sizeof(what), "resources of %s %s/%s", pod ? "pod" : "workload", ns, ref->name);
    if (pod) {
        pod_path(&path, ns, ref->name, "");
        rc = tw_kube_request(k->client, "GET", path.data, NULL, NULL, what, &resp, err);
        if (rc == 0) {
            rc = load_json(resp.body.data, resp.body.len, what, &cur, err);
        }
        if (rc == 0) {
            rc = resize_patch(&body, cur, what, res, n_res, err);
        }
        if (rc != 0) {
            goto out;
        }
        tw_buf_reset(&path);
        pod_path(&path, ns, ref->name, "/resize");
    } else {
        const char *r = kind_resource(ref->kind);
        if (r == NULL) {
            rc = tw_error_set(err, TW_EINVAL, "kubernetes: cannot patch kind %s", ref->kind);
            goto out;
        }
        tw_buf_puts(&path, "/apis/apps/v1/namespaces/");
        tw_kube_path_escape(&path, ns);
        tw_buf_printf(&path, "/%s/", r);
        tw_kube_path_escape(&path, ref->name);
        rc = tw_orch_kube_resources_patch(&body, true, res, n_res);
        if (rc != 0) {
            goto out;
        }
    }
    tw_buf_puts(&path, "?fieldManager=tidewatch");
    tw_kube_resp_fini(&resp);
    tw_kube_resp_init(&resp);
    rc = tw_kube_request(k->client, "PATCH", path.data, body.data,
                         pod ? "application/json-patch+json"
                             : "application/strategic-merge-patch+json",
                         what, &resp, err);
out:
    json_decref(cur);
    tw_buf_fini(&path);
    tw_buf_fini(&body);
    tw_kube_resp_fini(&resp);
    return rc;
}

static int kube_evict_pod(void *impl, const tw_orch_ref_t *ref, tw_error_t *err)
{
    kube_t *k = impl;
    tw_buf_t path, body;
    tw_kube_resp_t resp;
    char what[300];
    const char *ns = ns_of(k, ref);
    tw_buf_init(&path, 0);
    tw_buf_init(&body, 0);
    tw_kube_resp_init(&resp);
    snprintf(what, sizeof(what), "eviction of pod %s/%s", ns, ref->name);
    tw_buf_puts(&path, "/api/v1/namespaces/");
    tw_kube_path_escape(&path, ns);
    tw_buf_puts(&path, "/pods/");
    tw_kube_path_escape(&path, ref->name);
    tw_buf_puts(&path, "/eviction");
    /* A 429 here is a PodDisruptionBudget refusal: tw_kube_request reports it as
     * TW_ETRANSIENT (after its bounded retries), which is what the updater wants. */
    int rc = tw_orch_kube_eviction_body(&body, ns, ref->name);
    if (rc == 0) {
        rc = tw_kube_request(k->client, "POST", path.data, body.data, "application/json", what,
                             &resp, err);
    }
    tw_buf_fini(&path);
    tw_buf_fini(&body);
    tw_kube_resp_fini(&resp);
    return rc;
}

static void kube_free(void *impl)
{
    kube_t *k = impl;
    if (k == NULL) {
        return;
    }
    tw_kube_client_free(k->client);
    free(k->default_ns);
    free(k);
}

int tw_orch_kube_new(const tw_orch_kube_options_t *o, void **impl_out, tw_error_t *err)
{
    kube_t *k = tw_xcalloc(1, sizeof(*k));
    tw_kube_config_t kc;
    int rc =
        tw_kube_config_load(o->kubeconfig, o->context, o->service_account_dir, o->server, &kc, err);
    if (rc != 0) {
        goto fail;
    }
    k->default_ns = tw_xstrdup(o->default_namespace != NULL && o->default_namespace[0] != '\0'
                                   ? o->default_namespace
                               : kc.namespace != NULL ? kc.namespace
                                                      : "default");
    tw_kube_client_options_t co = {
        .qps = o->qps > 0 ? o->qps : 0, /* 0: client-go's 5 qps */
        .burst = o->burst,
        .timeout_ms = o->timeout_ms,
        .max_retries = o->max_retries,
        .max_retry_wait_ms = o->max_retry_wait_ms,
        .max_body_bytes = o->max_body_bytes,
        .insecure_skip_tls_verify = o->insecure_skip_tls_verify,
        .user_agent = "tidewatch-autoscaler",
    };
    rc = tw_kube_client_new(&kc, &co, &k->client, err);
    tw_kube_config_fini(&kc);
    if (rc != 0) {
        goto fail;
    }
    *impl_out = k;
    return 0;
fail:
    kube_free(k);
    return rc;
}

const tw_orch_ops_t tw_orch_kube_ops = {
    .name = "kubernetes",
    .get_scale = kube_get_scale,
    .set_scale = kube_set_scale,
    .list_pods = kube_list_pods,
    .patch_resources = kube_patch_resources,
    .records = NULL,
    .evict_pod = kube_evict_pod,
    .free = kube_free,
};
