/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orch_nomad.c - the "nomad" orchestrator driver: a job's task group count read with
 * GET /v1/job/:job_id and written with POST /v1/job/:job_id/scale (what `nomad job scale` does),
 * the group's allocations as pods (GET /v1/job/:job_id/allocations), with the ACL token in
 * X-Nomad-Token and the namespace and region as query parameters.
 *
 * The job's JobModifyIndex plays the part of a resourceVersion: when the caller passes the
 * version it read, the scale request carries it with EnforceIndex (as `-check-index` does) and
 * a mismatch is TW_ECONFLICT. No retries here: Nomad has no Retry-After, the autoscaler's next
 * pass is the retry. Resources cannot be patched through the scale API (TW_EINVAL).
 *
 * Thread model: one thread at a time per driver.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/mem.h"

/* ---- JSON (pure) ------------------------------------------------------------------------ */

int tw_orch_nomad_job_parse(const char *body, size_t len, const char *job, const char *group,
                            tw_orch_scale_t *out, tw_error_t *err)
{
    json_error_t je;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(body, len, 0, &je);
    if (!json_is_object(root)) {
        rc = tw_error_set(err, TW_EINVAL, "nomad job %s: the answer is not a JSON object (%s)", job,
                          je.text);
        goto out;
    }
    const json_t *groups = json_object_get(root, "TaskGroups");
    const json_t *tg = NULL;
    size_t i, n = json_array_size(groups);
    if (group == NULL || group[0] == '\0') {
        if (n != 1) {
            rc = tw_error_set(err, TW_EINVAL,
                              "nomad job %s has %zu task groups: name the one to scale", job, n);
            goto out;
        }
        tg = json_array_get(groups, 0);
    } else {
        const json_t *g;
        json_array_foreach(groups, i, g)
        {
            const json_t *name = json_object_get(g, "Name");
            if (json_is_string(name) && strcmp(json_string_value(name), group) == 0) {
                tg = g;
                break;
            }
        }
        if (tg == NULL) {
            rc = tw_error_set(err, TW_ENOTFOUND, "nomad job %s has no task group %s", job, group);
            goto out;
        }
    }
    const json_t *count = json_object_get(tg, "Count");
    if (!json_is_integer(count) || json_integer_value(count) < 0 ||
        json_integer_value(count) > INT32_MAX) {
        rc = tw_error_set(err, TW_EINVAL, "nomad job %s: task group Count is not a count", job);
        goto out;
    }
    out->spec_replicas = (int32_t)json_integer_value(count);
    out->status_replicas = out->spec_replicas;
    const json_t *idx = json_object_get(root, "JobModifyIndex");
    if (json_is_integer(idx)) {
        snprintf(out->version, sizeof(out->version), "%lld", (long long)json_integer_value(idx));
    }
out:
    json_decref(root);
    return rc;
}

int tw_orch_nomad_scale_body(tw_buf_t *out, const char *job, const char *group, const char *ns,
                             int32_t replicas, const char *version, const char *message)
{
    json_t *target = json_pack("{s:s}", "Job", job);
    if (group != NULL && group[0] != '\0') {
        json_object_set_new(target, "Group", json_string(group));
    }
    if (ns != NULL && ns[0] != '\0') {
        json_object_set_new(target, "Namespace", json_string(ns));
    }
    json_t *v = json_pack("{s:i, s:o, s:s, s:b}", "Count", (int)replicas, "Target", target,
                          "Message", message != NULL ? message : "", "PolicyOverride", 0);
    if (v == NULL) {
        return TW_EINVAL;
    }
    if (version != NULL && version[0] != '\0') {
        char *end;
        unsigned long long idx = strtoull(version, &end, 10);
        if (*end == '\0') {
            json_object_set_new(v, "JobModifyIndex", json_integer((json_int_t)idx));
            json_object_set_new(v, "EnforceIndex", json_true());
        }
    }
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    int rc = s == NULL ? TW_EINVAL : tw_buf_puts(out, s);
    free(s);
    return rc;
}

/* ---- The driver ------------------------------------------------------------------------- */

typedef struct nomad {
    char *address;
    char *token;
    char *token_file;
    char *ns;
    char *region;
    char *ca_file, *cert_file, *key_file;
    tw_orch_http_tls_t tls;
    tw_orch_http_t *http;
    int64_t timeout_ms;
    size_t max_body;
} nomad_t;

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? tw_xstrdup(s) : NULL;
}

static int nomad_status(long st, const tw_buf_t *body, const char *what, tw_error_t *err)
{
    int code;
    const char *b = body->data != NULL ? body->data : "";
    if (st == 403 || st == 401) {
        code = TW_EFORBIDDEN;
    } else if (st == 404) {
        code = TW_ENOTFOUND;
    } else if (strstr(b, "modify index") != NULL) {
        code = TW_ECONFLICT;
    } else if (st == 400) {
        code = TW_EINVAL;
    } else if (st == 429 || st >= 500) {
        code = TW_ETRANSIENT;
    } else {
        code = TW_EIO;
    }
    size_t n = body->len < 200 ? body->len : 200;
    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r')) {
        n--;
    }
    return tw_error_set(err, code, "%s: HTTP %ld: %.*s", what, st, (int)n, b);
}

static int nomad_call(nomad_t *m, const char *ns, const char *method, const char *path,
                      const char *body, const char *what, tw_orch_http_resp_t *resp,
                      tw_error_t *err)
{
    tw_buf_t url, tok;
    tw_buf_init(&url, 0);
    tw_buf_init(&tok, 64 * 1024);
    char sep = strchr(path, '?') != NULL ? '&' : '?';
    tw_buf_printf(&url, "%s%s", m->address, path);
    if (ns != NULL && ns[0] != '\0') {
        tw_buf_printf(&url, "%cnamespace=", sep);
        tw_kube_query_escape(&url, ns);
        sep = '&';
    }
    if (m->region != NULL) {
        tw_buf_printf(&url, "%cregion=", sep);
        tw_kube_query_escape(&url, m->region);
    }
    const char *token = m->token;
    if (token == NULL && m->token_file != NULL &&
        tw_buf_read_file(&tok, m->token_file, NULL) == 0) {
        while (tok.len > 0 && (tok.data[tok.len - 1] == '\n' || tok.data[tok.len - 1] == ' ')) {
            tok.data[--tok.len] = '\0';
        }
        token = tok.data;
    }
    tw_buf_t hdr;
    tw_buf_init(&hdr, 0);
    const char *hdrs[3] = {"Content-Type: application/json", NULL, NULL};
    if (token != NULL && token[0] != '\0') {
        tw_buf_printf(&hdr, "X-Nomad-Token: %s", token);
        hdrs[1] = hdr.data;
    }
    tw_orch_http_req_t req = {
        .method = method,
        .url = url.data,
        .headers = hdrs,
        .body = body,
        .body_len = body != NULL ? strlen(body) : 0,
        .tls = &m->tls,
        .timeout_ms = m->timeout_ms,
    };
    int rc = tw_orch_http_do(m->http, &req, resp, err);
    if (rc == 0 && (resp->status < 200 || resp->status >= 300)) {
        char w[512];
        snprintf(w, sizeof(w), "%s %s (%s)", method, url.data, what);
        rc = nomad_status(resp->status, &resp->body, w, err);
    }
    tw_buf_fini(&url);
    tw_buf_fini(&tok);
    tw_buf_fini(&hdr);
    return rc;
}

static const char *ns_of(const nomad_t *m, const tw_orch_ref_t *ref)
{
    return ref->namespace != NULL && ref->namespace[0] != '\0' ? ref->namespace : m->ns;
}

static void job_path(tw_buf_t *b, const char *job, const char *suffix)
{
    tw_buf_puts(b, "/v1/job/");
    tw_kube_path_escape(b, job);
    tw_buf_puts(b, suffix);
}

static int nomad_get_scale(void *impl, const tw_orch_ref_t *ref, tw_orch_scale_t *out,
                           tw_error_t *err)
{
    nomad_t *m = impl;
    tw_buf_t path;
    tw_orch_http_resp_t resp = {0};
    tw_buf_init(&path, 0);
    tw_buf_init(&resp.body, m->max_body);
    job_path(&path, ref->name, "");
    int rc = nomad_call(m, ns_of(m, ref), "GET", path.data, NULL, "read job", &resp, err);
    if (rc == 0) {
        rc =
            tw_orch_nomad_job_parse(resp.body.data, resp.body.len, ref->name, ref->group, out, err);
    }
    tw_buf_fini(&path);
    tw_buf_fini(&resp.body);
    return rc;
}

static int nomad_set_scale(void *impl, const tw_orch_ref_t *ref, const tw_orch_scale_t *observed,
                           int32_t replicas, tw_orch_scale_t *out, tw_error_t *err)
{
    nomad_t *m = impl;
    tw_buf_t path, body;
    tw_orch_http_resp_t resp = {0};
    char msg[128];
    tw_buf_init(&path, 0);
    tw_buf_init(&body, 0);
    tw_buf_init(&resp.body, m->max_body);
    job_path(&path, ref->name, "/scale");
    snprintf(msg, sizeof(msg), "tidewatch: scaled from %d to %d",
             observed != NULL ? (int)observed->spec_replicas : -1, (int)replicas);
    const char *ns = ns_of(m, ref);
    int rc = tw_orch_nomad_scale_body(&body, ref->name, ref->group, ns, replicas,
                                      observed != NULL ? observed->version : NULL, msg);
    if (rc == 0) {
        rc = nomad_call(m, ns, "POST", path.data, body.data, "scale job", &resp, err);
    }
    if (rc == 0) {
        if (observed != NULL) {
            *out = *observed;
        }
        out->spec_replicas = replicas;
        /* The answer carries the new JobModifyIndex. */
        json_t *root = json_loadb(resp.body.data, resp.body.len, 0, NULL);
        const json_t *idx = json_object_get(root, "JobModifyIndex");
        if (json_is_integer(idx)) {
            snprintf(out->version, sizeof(out->version), "%lld",
                     (long long)json_integer_value(idx));
        }
        json_decref(root);
    }
    tw_buf_fini(&path);
    tw_buf_fini(&body);
    tw_buf_fini(&resp.body);
    return rc;
}

static int nomad_list_pods(void *impl, const tw_orch_ref_t *ref, const char *selector,
                           tw_orch_pod_list_t *out, tw_error_t *err)
{
    nomad_t *m = impl;
    tw_buf_t path;
    tw_orch_http_resp_t resp = {0};
    (void)selector;
    tw_buf_init(&path, 0);
    tw_buf_init(&resp.body, m->max_body);
    job_path(&path, ref->name, "/allocations");
    int rc = nomad_call(m, ns_of(m, ref), "GET", path.data, NULL, "list allocations", &resp, err);
    json_t *root = NULL;
    if (rc == 0) {
        root = json_loadb(resp.body.data, resp.body.len, 0, NULL);
        if (!json_is_array(root)) {
            rc = tw_error_set(err, TW_EINVAL, "nomad job %s: allocations are not a JSON list",
                              ref->name);
        }
    }
    size_t i;
    const json_t *a;
    json_array_foreach(rc == 0 ? root : NULL, i, a)
    {
        const json_t *tg = json_object_get(a, "TaskGroup");
        if (ref->group != NULL &&
            (!json_is_string(tg) || strcmp(json_string_value(tg), ref->group) != 0)) {
            continue;
        }
        const json_t *id = json_object_get(a, "ID");
        if (!json_is_string(id)) {
            continue;
        }
        tw_orch_pod_t *p = tw_orch_pod_list_add(out);
        p->name = tw_xstrdup(json_string_value(id));
        const json_t *cs = json_object_get(a, "ClientStatus");
        const char *s = json_is_string(cs) ? json_string_value(cs) : "";
        p->phase = strcmp(s, "running") == 0                            ? TW_ORCH_POD_RUNNING
                   : strcmp(s, "pending") == 0                          ? TW_ORCH_POD_PENDING
                   : strcmp(s, "complete") == 0                         ? TW_ORCH_POD_SUCCEEDED
                   : strcmp(s, "failed") == 0 || strcmp(s, "lost") == 0 ? TW_ORCH_POD_FAILED
                                                                        : TW_ORCH_POD_UNKNOWN;
        const json_t *ds = json_object_get(a, "DesiredStatus");
        p->deleting = json_is_string(ds) && strcmp(json_string_value(ds), "run") != 0;
        const json_t *h = json_object_get(json_object_get(a, "DeploymentStatus"), "Healthy");
        p->ready = json_is_true(h)    ? TW_ORCH_COND_TRUE
                   : json_is_false(h) ? TW_ORCH_COND_FALSE
                                      : TW_ORCH_COND_NONE;
        const json_t *ct = json_object_get(a, "CreateTime"); /* ns since epoch */
        if (json_is_integer(ct)) {
            p->has_start_time = true;
            p->start_time_ms = json_integer_value(ct) / 1000000;
        }
    }
    json_decref(root);
    tw_buf_fini(&path);
    tw_buf_fini(&resp.body);
    return rc;
}

static void nomad_free(void *impl)
{
    nomad_t *m = impl;
    if (m == NULL) {
        return;
    }
    tw_orch_http_free(m->http);
    free(m->address);
    free(m->token);
    free(m->token_file);
    free(m->ns);
    free(m->region);
    free(m->ca_file);
    free(m->cert_file);
    free(m->key_file);
    free(m);
}

int tw_orch_nomad_new(const tw_orch_nomad_options_t *o, void **impl_out, tw_error_t *err)
{
    nomad_t *m = tw_xcalloc(1, sizeof(*m));
    m->address = tw_xstrdup(o->address != NULL && o->address[0] != '\0' ? o->address
                                                                        : "http://127.0.0.1:4646");
    size_t n = strlen(m->address);
    while (n > 0 && m->address[n - 1] == '/') {
        m->address[--n] = '\0';
    }
    if (strncmp(m->address, "http://", 7) != 0 && strncmp(m->address, "https://", 8) != 0) {
        int rc =
            tw_error_set(err, TW_EINVAL, "nomad: address %s is not an http(s) URL", m->address);
        nomad_free(m);
        return rc;
    }
    m->token = dup_or_null(o->token);
    m->token_file = dup_or_null(o->token_file);
    m->ns = dup_or_null(o->namespace);
    m->region = dup_or_null(o->region);
    m->ca_file = dup_or_null(o->ca_file);
    m->cert_file = dup_or_null(o->client_cert_file);
    m->key_file = dup_or_null(o->client_key_file);
    m->tls = (tw_orch_http_tls_t){.ca_file = m->ca_file,
                                  .cert_file = m->cert_file,
                                  .key_file = m->key_file,
                                  .insecure = o->insecure_skip_tls_verify};
    m->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    m->max_body = o->max_body_bytes > 0 ? o->max_body_bytes : (64u << 20);
    m->http = tw_orch_http_new();
    if (m->http == NULL) {
        nomad_free(m);
        return tw_error_set(err, TW_EIO, "nomad: cannot create a libcurl handle");
    }
    *impl_out = m;
    return 0;
}

const tw_orch_ops_t tw_orch_nomad_ops = {
    .name = "nomad",
    .get_scale = nomad_get_scale,
    .set_scale = nomad_set_scale,
    .list_pods = nomad_list_pods,
    .patch_resources = NULL,
    .records = NULL,
    .free = nomad_free,
};
