/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orch_kubernetes.c - the "kubernetes" orchestrator driver: the apps/v1 scale subresource of
 * Deployments and StatefulSets (GET, then PUT with the observed resourceVersion, as
 * `kubectl scale --current-replicas` does), the pods a Scale's status.selector matches, and
 * container resources patched into a pod template (strategic merge patch) or a Pod (the resize
 * subresource).
 *
 * How a call goes: a token from the QPS bucket (client-go's defaults, 5 qps, burst 10), the
 * bearer token re-read from its file once a minute (projected service-account tokens rotate;
 * also at once after a 401), then the request. 429 and 5xx answers and transport failures are
 * retried max_retries times, waiting Retry-After when the server sends one (a longer wait than
 * max_retry_wait_ms gives up at once with TW_ETRANSIENT) and an exponential backoff otherwise.
 * Any other non-2xx answer maps to a TW_E* code with the Status message. A 409 is returned to
 * the caller as TW_ECONFLICT: tw_orch_scale_update() re-reads and recomputes.
 *
 * The JSON pieces (Scale, Status, PodList, the patches) are pure functions over memory, tested
 * on their own. Thread model: one thread at a time per driver (the easy handle, the bucket and
 * the token cache are the driver's).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/mem.h"
#include "common/timeutil.h"

#define TOKEN_REREAD_MS 60000 /* client-go's cached token file source re-reads every minute */
#define TOKEN_MAX_BYTES 65536
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

static int code_for_status(long st)
{
    switch (st) {
    case 400:
    case 422:
        return TW_EINVAL;
    case 401:
    case 403:
        return TW_EFORBIDDEN;
    case 404:
        return TW_ENOTFOUND;
    case 409:
        return TW_ECONFLICT;
    case 410: /* Gone: an expired continue token; a fresh list works */
    case 429:
        return TW_ETRANSIENT;
    default:
        return st >= 500 ? TW_ETRANSIENT : TW_EIO;
    }
}

int tw_orch_kube_status_error(long http_status, const char *body, size_t len, const char *what,
                              tw_error_t *err)
{
    int code = code_for_status(http_status);
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *kind = json_str(root, "kind");
    const char *msg = json_str(root, "message");
    if (kind != NULL && strcmp(kind, "Status") == 0 && msg != NULL) {
        const char *reason = json_str(root, "reason");
        tw_error_set(err, code, "%s: Error from server (%s): %s", what,
                     reason != NULL && reason[0] != '\0' ? reason : "Unknown", msg);
    } else {
        /* Not a Status: show the start of the body, on one line. */
        char snip[160];
        size_t n = len < sizeof(snip) - 1 ? len : sizeof(snip) - 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)body[i];
            snip[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
        }
        snip[n] = '\0';
        tw_error_set(err, code, "%s: server answered HTTP %ld%s%s", what, http_status,
                     n > 0 ? ": " : "", snip);
    }
    json_decref(root);
    return code;
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
    return rc;
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
    rc = rc != 0 ? rc : tw_orch_path_escape(out, ns);
    rc = rc != 0 ? rc : tw_buf_printf(out, "/%s/", res);
    rc = rc != 0 ? rc : tw_orch_path_escape(out, name);
    rc = rc != 0 ? rc : tw_buf_puts(out, "/scale");
    return rc;
}

int tw_orch_kube_selector_query(tw_buf_t *out, const char *selector)
{
    if (selector == NULL || selector[0] == '\0') {
        return 0;
    }
    int rc = tw_buf_puts(out, "labelSelector=");
    return rc != 0 ? rc : tw_orch_query_escape(out, selector);
}

/* ------------------------------------------------------------------------------------------ */
/* The driver                                                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct kube {
    tw_orch_kubeconfig_t kc;
    char *default_ns;
    tw_orch_http_t *http;
    tw_orch_http_tls_t tls;
    tw_orch_ratelimit_t rl;
    int64_t timeout_ms;
    int max_retries;
    int64_t max_retry_wait_ms;
    size_t max_body;
    char *token;           /* the bearer token in use (from kc.token or the file) */
    int64_t token_read_ms; /* when the file was last read; 0: never */
} kube_t;

static void sleep_ns(int64_t ns)
{
    if (ns <= 0) {
        return;
    }
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Re-reads the token file when it is older than a minute (or force). A failed read keeps the
 * last good token, as client-go does. */
static void refresh_token(kube_t *k, bool force)
{
    if (k->kc.token_file == NULL) {
        return;
    }
    int64_t now = tw_now_ms();
    if (!force && k->token_read_ms != 0 && now - k->token_read_ms < TOKEN_REREAD_MS) {
        return;
    }
    tw_buf_t b;
    tw_buf_init(&b, TOKEN_MAX_BYTES);
    if (tw_buf_read_file(&b, k->kc.token_file, NULL) == 0) {
        size_t n = b.len;
        while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' || b.data[n - 1] == ' ')) {
            n--;
        }
        if (n > 0) {
            free(k->token);
            k->token = tw_xstrndup(b.data, n);
            k->token_read_ms = now;
        }
    }
    tw_buf_fini(&b);
}

/*
 * One API call with the QPS limit, token refresh and 429/5xx/transport retries. path_query is
 * everything after the server URL. Returns 0 for a 2xx answer (body in resp), or a TW_E* code.
 */
static int kube_call(kube_t *k, const char *method, const char *path_query, const char *body,
                     const char *content_type, const char *what, tw_orch_http_resp_t *resp,
                     tw_error_t *err)
{
    tw_buf_t url, auth, ctype;
    tw_buf_init(&url, 0);
    tw_buf_init(&auth, 0);
    tw_buf_init(&ctype, 0);
    tw_buf_printf(&url, "%s%s", k->kc.server, path_query);
    bool reauthed = false;
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        sleep_ns(tw_orch_ratelimit_reserve(&k->rl, tw_mono_ns()));
        refresh_token(k, false);
        const char *hdrs[4];
        size_t nh = 0;
        hdrs[nh++] = "Accept: application/json";
        if (content_type != NULL) {
            tw_buf_reset(&ctype);
            tw_buf_printf(&ctype, "Content-Type: %s", content_type);
            hdrs[nh++] = ctype.data;
        }
        if (k->token != NULL) {
            tw_buf_reset(&auth);
            tw_buf_printf(&auth, "Authorization: Bearer %s", k->token);
            hdrs[nh++] = auth.data;
        }
        hdrs[nh] = NULL;
        tw_orch_http_req_t req = {
            .method = method,
            .url = url.data,
            .headers = hdrs,
            .body = body,
            .body_len = body != NULL ? strlen(body) : 0,
            .tls = &k->tls,
            .timeout_ms = k->timeout_ms,
        };
        rc = tw_orch_http_do(k->http, &req, resp, err);
        if (rc == TW_ETRANSIENT) {
            if (attempt < k->max_retries) {
                sleep_ns(tw_orch_backoff_ms(attempt, k->max_retry_wait_ms) * 1000000);
                continue;
            }
            goto out;
        }
        if (rc != 0) {
            goto out;
        }
        long st = resp->status;
        if (st >= 200 && st < 300) {
            goto out;
        }
        if (st == 401 && !reauthed && k->kc.token_file != NULL) {
            /* The token may have rotated under us: read it again and retry once. */
            reauthed = true;
            refresh_token(k, true);
            attempt--;
            continue;
        }
        if ((st == 429 || st >= 500) && attempt < k->max_retries) {
            int64_t delay_ms;
            if (resp->retry_after[0] != '\0' &&
                tw_orch_retry_after_parse(resp->retry_after, tw_now_ms(), &delay_ms) == 0) {
                if (delay_ms > k->max_retry_wait_ms) {
                    rc = tw_error_set(err, TW_ETRANSIENT,
                                      "%s %s: HTTP %ld with Retry-After %s, longer than the "
                                      "%lld ms this call may wait",
                                      method, url.data, st, resp->retry_after,
                                      (long long)k->max_retry_wait_ms);
                    goto out;
                }
            } else {
                delay_ms = tw_orch_backoff_ms(attempt, k->max_retry_wait_ms);
            }
            sleep_ns(delay_ms * 1000000);
            continue;
        }
        char what2[512];
        snprintf(what2, sizeof(what2), "%s %s (%s)", method, url.data, what);
        rc = tw_orch_kube_status_error(st, resp->body.data != NULL ? resp->body.data : "",
                                       resp->body.len, what2, err);
        goto out;
    }
out:
    tw_buf_fini(&url);
    tw_buf_fini(&auth);
    tw_buf_fini(&ctype);
    return rc;
}

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
    tw_orch_http_resp_t resp = {0};
    char what[300];
    tw_buf_init(&path, 0);
    tw_buf_init(&resp.body, k->max_body);
    const char *ns = ns_of(k, ref);
    snprintf(what, sizeof(what), "scale of %s %s/%s",
             kind_resource(ref->kind) != NULL ? kind_resource(ref->kind) : "?", ns, ref->name);
    int rc = tw_orch_kube_scale_path(&path, ref->kind, ns, ref->name, err);
    if (rc == 0) {
        rc = kube_call(k, "GET", path.data, NULL, NULL, what, &resp, err);
    }
    if (rc == 0) {
        rc = tw_orch_kube_scale_parse(resp.body.data, resp.body.len, what, out, err);
    }
    tw_buf_fini(&path);
    tw_buf_fini(&resp.body);
    return rc;
}

static int kube_set_scale(void *impl, const tw_orch_ref_t *ref, const tw_orch_scale_t *observed,
                          int32_t replicas, tw_orch_scale_t *out, tw_error_t *err)
{
    kube_t *k = impl;
    tw_buf_t path, body;
    tw_orch_http_resp_t resp = {0};
    char what[300];
    tw_buf_init(&path, 0);
    tw_buf_init(&body, 0);
    tw_buf_init(&resp.body, k->max_body);
    const char *ns = ns_of(k, ref);
    snprintf(what, sizeof(what), "scale of %s/%s to %d", ns, ref->name, (int)replicas);
    int rc = tw_orch_kube_scale_path(&path, ref->kind, ns, ref->name, err);
    if (rc == 0) {
        rc = tw_orch_kube_scale_emit(&body, ns, ref->name, observed, replicas);
    }
    if (rc == 0) {
        rc = kube_call(k, "PUT", path.data, body.data, "application/json", what, &resp, err);
    }
    if (rc == 0) {
        rc = tw_orch_kube_scale_parse(resp.body.data, resp.body.len, what, out, err);
    }
    tw_buf_fini(&path);
    tw_buf_fini(&body);
    tw_buf_fini(&resp.body);
    return rc;
}

static int kube_list_pods(void *impl, const tw_orch_ref_t *ref, const char *selector,
                          tw_orch_pod_list_t *out, tw_error_t *err)
{
    kube_t *k = impl;
    tw_buf_t path;
    tw_orch_http_resp_t resp = {0};
    char cont[4096] = "";
    char what[300];
    const char *ns = ns_of(k, ref);
    int rc = 0;
    tw_buf_init(&path, 0);
    tw_buf_init(&resp.body, k->max_body);
    snprintf(what, sizeof(what), "pods in %s matching \"%s\"", ns, selector);
    do {
        tw_buf_reset(&path);
        tw_buf_puts(&path, "/api/v1/namespaces/");
        tw_orch_path_escape(&path, ns);
        tw_buf_printf(&path, "/pods?limit=%d", POD_PAGE_LIMIT);
        if (selector[0] != '\0') {
            tw_buf_putc(&path, '&');
            tw_orch_kube_selector_query(&path, selector);
        }
        if (cont[0] != '\0') {
            tw_buf_puts(&path, "&continue=");
            tw_orch_query_escape(&path, cont);
        }
        rc = kube_call(k, "GET", path.data, NULL, NULL, what, &resp, err);
        if (rc == 0) {
            rc = tw_orch_kube_pods_parse(resp.body.data, resp.body.len, out, cont, sizeof(cont),
                                         err);
        }
    } while (rc == 0 && cont[0] != '\0');
    tw_buf_fini(&path);
    tw_buf_fini(&resp.body);
    return rc;
}

static int kube_patch_resources(void *impl, const tw_orch_ref_t *ref,
                                const tw_orch_resources_t *res, size_t n_res, tw_error_t *err)
{
    kube_t *k = impl;
    tw_buf_t path, body;
    tw_orch_http_resp_t resp = {0};
    char what[300];
    const char *ns = ns_of(k, ref);
    bool pod = ref->kind != NULL && strcasecmp(ref->kind, "Pod") == 0;
    int rc = 0;
    tw_buf_init(&path, 0);
    tw_buf_init(&body, 0);
    tw_buf_init(&resp.body, k->max_body);
    snprintf(what, sizeof(what), "resources of %s %s/%s", pod ? "pod" : "workload", ns, ref->name);
    if (pod) {
        tw_buf_puts(&path, "/api/v1/namespaces/");
        tw_orch_path_escape(&path, ns);
        tw_buf_puts(&path, "/pods/");
        tw_orch_path_escape(&path, ref->name);
        tw_buf_puts(&path, "/resize");
    } else {
        const char *r = kind_resource(ref->kind);
        if (r == NULL) {
            rc = tw_error_set(err, TW_EINVAL, "kubernetes: cannot patch kind %s", ref->kind);
            goto out;
        }
        tw_buf_puts(&path, "/apis/apps/v1/namespaces/");
        tw_orch_path_escape(&path, ns);
        tw_buf_printf(&path, "/%s/", r);
        tw_orch_path_escape(&path, ref->name);
    }
    tw_buf_puts(&path, "?fieldManager=tidewatch");
    rc = tw_orch_kube_resources_patch(&body, !pod, res, n_res);
    if (rc == 0) {
        rc = kube_call(k, "PATCH", path.data, body.data, "application/strategic-merge-patch+json",
                       what, &resp, err);
    }
out:
    tw_buf_fini(&path);
    tw_buf_fini(&body);
    tw_buf_fini(&resp.body);
    return rc;
}

static void kube_free(void *impl)
{
    kube_t *k = impl;
    if (k == NULL) {
        return;
    }
    tw_orch_kubeconfig_fini(&k->kc);
    tw_orch_http_free(k->http);
    free(k->default_ns);
    free(k->token);
    free(k);
}

static char *dirname_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return NULL;
    }
    return tw_xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
}

int tw_orch_kube_new(const tw_orch_kube_options_t *o, void **impl_out, tw_error_t *err)
{
    kube_t *k = tw_xcalloc(1, sizeof(*k));
    int rc;
    if (o->kubeconfig != NULL && o->kubeconfig[0] != '\0') {
        tw_buf_t b;
        tw_buf_init(&b, 16u << 20);
        rc = tw_buf_read_file(&b, o->kubeconfig, err);
        if (rc == 0) {
            char *dir = dirname_of(o->kubeconfig);
            rc = tw_orch_kubeconfig_parse(b.data, b.len, o->kubeconfig, dir, o->context, &k->kc,
                                          err);
            free(dir);
        }
        tw_buf_fini(&b);
    } else {
        rc = tw_orch_kube_incluster(o->service_account_dir, getenv("KUBERNETES_SERVICE_HOST"),
                                    getenv("KUBERNETES_SERVICE_PORT"), &k->kc, err);
        if (rc == 0) {
            /* client-go refuses to start without a readable token in-cluster. */
            tw_buf_t b;
            tw_buf_init(&b, TOKEN_MAX_BYTES);
            rc = tw_buf_read_file(&b, k->kc.token_file, err);
            tw_buf_fini(&b);
        }
    }
    if (rc != 0) {
        goto fail;
    }
    if (o->server != NULL && o->server[0] != '\0') {
        free(k->kc.server);
        k->kc.server = tw_xstrdup(o->server);
    }
    size_t sl = strlen(k->kc.server);
    while (sl > 0 && k->kc.server[sl - 1] == '/') {
        k->kc.server[--sl] = '\0';
    }
    if (strncmp(k->kc.server, "https://", 8) != 0 && strncmp(k->kc.server, "http://", 7) != 0) {
        rc = tw_error_set(err, TW_EINVAL, "kubernetes: server %s is not an http(s) URL",
                          k->kc.server);
        goto fail;
    }
    k->default_ns = tw_xstrdup(o->default_namespace != NULL && o->default_namespace[0] != '\0'
                                   ? o->default_namespace
                               : k->kc.namespace != NULL ? k->kc.namespace
                                                         : "default");
    if (k->kc.token != NULL) {
        k->token = tw_xstrdup(k->kc.token);
    }
    refresh_token(k, true);
    k->tls = (tw_orch_http_tls_t){
        .ca_file = k->kc.ca_file,
        .ca_data = k->kc.ca_data,
        .ca_data_len = k->kc.ca_data_len,
        .cert_file = k->kc.cert_file,
        .cert_data = k->kc.cert_data,
        .cert_data_len = k->kc.cert_data_len,
        .key_file = k->kc.key_file,
        .key_data = k->kc.key_data,
        .key_data_len = k->kc.key_data_len,
        /* Verification stays on unless the kubeconfig or the options turn it off explicitly. */
        .insecure = k->kc.insecure || o->insecure_skip_tls_verify,
    };
    tw_orch_ratelimit_init(&k->rl, o->qps > 0 ? o->qps : 5.0, o->burst > 0 ? o->burst : 10);
    k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    k->max_retries = o->max_retries == 0 ? 3 : o->max_retries < 0 ? 0 : o->max_retries;
    k->max_retry_wait_ms = o->max_retry_wait_ms > 0 ? o->max_retry_wait_ms : 30000;
    k->max_body = o->max_body_bytes > 0 ? o->max_body_bytes : (64u << 20);
    k->http = tw_orch_http_new();
    if (k->http == NULL) {
        rc = tw_error_set(err, TW_EIO, "kubernetes: cannot create a libcurl handle");
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
    .free = kube_free,
};
