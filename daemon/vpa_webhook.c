/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_webhook.c - POST /mutate/pods, the vertical autoscaler's mutating admission webhook
 * (vpa_webhook.h). The review is pure (autoscaler/vpa/vpa_admission.c); here the VPA of a pod
 * is found from the VPA loop's published recommendations: the pod's controller owner names the
 * workload (a ReplicaSet "web-7d9f8b6c5" belongs to Deployment "web", like the VPA's
 * controller fetcher resolves it; StatefulSet, DaemonSet, Job and ReplicationController
 * owners are themselves the target), and a pod without an owner is tried as
 * "<deployment>-<hash>-<suffix>". The recommendation the loop publishes has the VPA's
 * resource policy applied already; the review adds the per-pod capping and proportional limits.
 *
 * Thread model: the handler runs on the HTTP threads; counters are atomics; the lookup copies
 * the loop's recommendation into a per-call block that release frees.
 */
#include "vpa_webhook.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"

#define COMPONENT "vpa-webhook"
/* Most containers the lookup copies from the loop. */
#define MAX_RECS 64

struct tw_vpa_webhook {
    tw_vpa_loop_t *loop; /* borrowed, may be NULL */
    tw_vpa_admission_lookup_fn lookup;
    tw_vpa_admission_release_fn release;
    void *ctx;
    tw_http_server_t *srv; /* own listener, or NULL */
    atomic_bool listening;
    atomic_ullong counts[3]; /* by tw_vpa_admission_outcome_t */
};

/* The per-call copy behind a match (recs first: release frees the block through it). */
typedef struct lookup_block {
    tw_vpa_container_rec_t recs[MAX_RECS];
    tw_vpa_loop_rec_t loop_recs[MAX_RECS];
} lookup_block_t;

/* Drops the last "-segment" of name into out; false when there is none. */
static bool strip_segment(const char *name, char *out, size_t outsz)
{
    const char *dash = strrchr(name, '-');
    if (dash == NULL || dash == name || dash[1] == '\0') {
        return false;
    }
    snprintf(out, outsz, "%.*s", (int)(dash - name), name);
    return true;
}

/* Asks the loop for kind/name; 1 with *m filled, 0 for no VPA. */
static int find_in_loop(tw_vpa_loop_t *loop, const char *ns, const char *kind, const char *name,
                        tw_vpa_admission_match_t *m)
{
    lookup_block_t *b = tw_xcalloc(1, sizeof(*b));
    tw_vpa_update_mode_t mode = TW_VPA_UPDATE_RECREATE;
    int n = tw_vpa_loop_find(loop, ns, kind, name, b->loop_recs, MAX_RECS, &mode);
    if (n < 0) {
        free(b);
        return 0;
    }
    if (n > MAX_RECS) {
        n = MAX_RECS;
    }
    for (int i = 0; i < n; i++) {
        b->recs[i].name = b->loop_recs[i].container;
        for (int k = 0; k < TW_VPA_NBOUNDS; k++) {
            b->recs[i].bound[k] = b->loop_recs[i].bound[k];
        }
        b->recs[i].uncapped = b->loop_recs[i].uncapped;
    }
    snprintf(m->vpa_name, sizeof(m->vpa_name), "%s/%s", kind, name);
    m->mode = mode;
    m->recs = b->recs;
    m->n_recs = (size_t)n;
    m->has_recs = n > 0;
    return 1;
}

static int loop_lookup(void *ctx, const tw_vpa_admission_pod_t *pod, tw_vpa_admission_match_t *out,
                       tw_error_t *err)
{
    (void)err;
    tw_vpa_loop_t *loop = ctx;
    char target[256];
    if (loop == NULL) {
        return 0;
    }
    if (pod->owner_kind != NULL && pod->owner_name != NULL) {
        if (strcmp(pod->owner_kind, "ReplicaSet") == 0) {
            /* A Deployment's ReplicaSet is "<deployment>-<pod-template-hash>". */
            if (strip_segment(pod->owner_name, target, sizeof(target)) &&
                find_in_loop(loop, pod->namespace, "Deployment", target, out) == 1) {
                return 1;
            }
            return find_in_loop(loop, pod->namespace, "ReplicaSet", pod->owner_name, out);
        }
        return find_in_loop(loop, pod->namespace, pod->owner_kind, pod->owner_name, out);
    }
    /* No owner: "<deployment>-<hash>-<suffix>" (or generateName "<deployment>-<hash>-%"). */
    char rs[256];
    if (strip_segment(pod->name, rs, sizeof(rs)) && strip_segment(rs, target, sizeof(target))) {
        return find_in_loop(loop, pod->namespace, "Deployment", target, out);
    }
    return 0;
}

static void loop_release(void *ctx, tw_vpa_admission_match_t *m)
{
    (void)ctx;
    free((void *)m->recs);
    m->recs = NULL;
}

tw_vpa_webhook_t *tw_vpa_webhook_new(tw_vpa_loop_t *loop)
{
    tw_vpa_webhook_t *w = tw_xcalloc(1, sizeof(*w));
    w->loop = loop;
    w->lookup = loop_lookup;
    w->release = loop_release;
    w->ctx = loop;
    return w;
}

void tw_vpa_webhook_set_lookup(tw_vpa_webhook_t *w, tw_vpa_admission_lookup_fn lookup,
                               tw_vpa_admission_release_fn release, void *ctx)
{
    w->lookup = lookup;
    w->release = release;
    w->ctx = ctx;
}

int tw_vpa_webhook_handle(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    tw_vpa_webhook_t *w = ctx;
    const char *ct = tw_http_request_header(req, "Content-Type");
    /* Upstream compares the whole header with application/json; allow parameters. */
    if (ct == NULL || strncmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';')) {
        tw_log(TW_LOG_WARN, COMPONENT, "AdmissionReview refused", "contentType", ct ? ct : "",
               "err", "expect application/json", NULL);
        atomic_fetch_add(&w->counts[TW_VPA_ADMISSION_ERROR], 1);
        tw_http_response_text(resp, 400, "contentType=%s, expect application/json", ct ? ct : "");
        return 0;
    }
    size_t len = 0;
    const char *body = tw_http_request_body(req, &len);
    tw_vpa_admission_result_t res;
    tw_error_t err;
    tw_error_clear(&err);
    if (tw_vpa_admission_review(body, len, w->lookup, w->release, w->ctx, &res, &err) != 0) {
        atomic_fetch_add(&w->counts[TW_VPA_ADMISSION_ERROR], 1);
        tw_http_response_text(resp, 413, "%s", err.msg);
        return 0;
    }
    atomic_fetch_add(&w->counts[res.outcome], 1);
    switch (res.outcome) {
    case TW_VPA_ADMISSION_APPLIED:
        tw_log(TW_LOG_INFO, COMPONENT, "Admitted pod with the VPA's recommendation", "pod", res.pod,
               "vpa", res.vpa_name, "patch", res.patch, NULL);
        break;
    case TW_VPA_ADMISSION_SKIPPED:
        if (tw_log_enabled(TW_LOG_DEBUG)) {
            tw_log(TW_LOG_DEBUG, COMPONENT, "Admitted pod unchanged", "pod", res.pod, "vpa",
                   res.vpa_name[0] ? res.vpa_name : "none", NULL);
        }
        break;
    case TW_VPA_ADMISSION_ERROR:
        tw_log(TW_LOG_WARN, COMPONENT, "Admitted pod unchanged after an error", "pod", res.pod,
               "err", res.message, NULL);
        break;
    }
    resp->status = 200;
    resp->content_type = "application/json";
    int rc = tw_buf_append(&resp->body, res.response, res.response_len);
    tw_vpa_admission_result_fini(&res);
    return rc;
}

int tw_vpa_webhook_register(tw_http_server_t *srv, tw_vpa_webhook_t *w)
{
    return tw_http_server_route(srv, "POST", TW_VPA_WEBHOOK_PATH, tw_vpa_webhook_handle, w);
}

int tw_vpa_webhook_listen(tw_vpa_webhook_t *w, const char *listen_address, const char *cert_file,
                          const char *key_file, tw_error_t *err)
{
    if (w->srv != NULL) {
        return tw_error_set(err, TW_ESTATE, "vpa webhook: already listening");
    }
    if (cert_file == NULL || cert_file[0] == '\0' || key_file == NULL || key_file[0] == '\0') {
        return tw_error_set(err, TW_EINVAL,
                            "vpa webhook: listen %s: the API server calls webhooks over TLS "
                            "only: cert_file and key_file are required",
                            listen_address ? listen_address : "");
    }
    tw_http_server_options_t o = {
        .listen_address = listen_address,
        .threads = 2,
        .max_body_bytes = TW_VPA_ADMISSION_MAX_BYTES,
        .timeout_s = 30,
        .tls_cert_file = cert_file,
        .tls_key_file = key_file,
    };
    tw_http_server_t *srv = tw_http_server_new(&o, err);
    if (srv == NULL) {
        return err != NULL && err->code != 0 ? err->code : TW_EINVAL;
    }
    int rc = tw_vpa_webhook_register(srv, w);
    if (rc == 0) {
        rc = tw_http_server_start(srv, err);
    }
    if (rc != 0) {
        tw_http_server_free(srv);
        return rc;
    }
    w->srv = srv;
    atomic_store(&w->listening, true);
    char port[16];
    snprintf(port, sizeof(port), "%d", tw_http_server_port(srv));
    tw_log(TW_LOG_INFO, COMPONENT, "Admission webhook listening", "address", listen_address, "port",
           port, "path", TW_VPA_WEBHOOK_PATH, NULL);
    return 0;
}

int tw_vpa_webhook_port(const tw_vpa_webhook_t *w)
{
    return w->srv != NULL ? tw_http_server_port(w->srv) : 0;
}

bool tw_vpa_webhook_ready(void *ctx)
{
    tw_vpa_webhook_t *w = ctx;
    return w != NULL && atomic_load(&w->listening);
}

void tw_vpa_webhook_collect(tw_vpa_webhook_t *w, tw_mset_t *out)
{
    tw_mfamily_t *f =
        tw_mset_family(out, "tidewatch_vpa_admission_requests_total", TW_MTYPE_COUNTER,
                       "AdmissionReview requests answered by the VPA admission webhook, by "
                       "outcome.",
                       NULL);
    static const tw_vpa_admission_outcome_t order[] = {
        TW_VPA_ADMISSION_APPLIED, TW_VPA_ADMISSION_SKIPPED, TW_VPA_ADMISSION_ERROR};
    for (size_t i = 0; i < 3; i++) {
        tw_label_t l = {"outcome", tw_vpa_admission_outcome_name(order[i])};
        tw_mset_add(out, f, NULL, &l, 1, (double)atomic_load(&w->counts[order[i]]),
                    TW_NO_TIMESTAMP);
    }
}

void tw_vpa_webhook_stop(tw_vpa_webhook_t *w)
{
    if (w == NULL || w->srv == NULL) {
        return;
    }
    atomic_store(&w->listening, false);
    tw_http_server_free(w->srv);
    w->srv = NULL;
}

void tw_vpa_webhook_free(tw_vpa_webhook_t *w)
{
    if (w == NULL) {
        return;
    }
    tw_vpa_webhook_stop(w);
    free(w);
}
