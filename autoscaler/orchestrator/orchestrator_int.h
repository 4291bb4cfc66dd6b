/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orchestrator_int.h - what the orchestrator module's files share: the driver vtable, the small
 * libcurl wrapper the Nomad driver uses, and the pure pieces (Scale and pod list JSON,
 * label-selector queries, exec templates, Nomad bodies) that the unit tests call directly. The
 * Kubernetes client itself (kubeconfig, requests, retries, the QPS bucket, URL escaping, Status
 * errors) lives in common/kube.h. No other folder includes this header.
 *
 * The pure functions do no I/O (except where a doc comment says it reads a file), read no clock
 * (time is a parameter) and never log.
 */
#ifndef TW_AUTOSCALER_ORCHESTRATOR_INT_H
#define TW_AUTOSCALER_ORCHESTRATOR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoscaler/orchestrator/orchestrator.h"
#include "common/buf.h"
#include "common/curl_easy.h"
#include "common/error.h"
#include "common/kube.h"
#include "common/timeutil.h"

/* ---- Drivers ---------------------------------------------------------------------------- */

/* A driver's operations; any may be NULL ("not supported by this driver", TW_EINVAL). */
typedef struct tw_orch_ops {
    const char *name;
    int (*get_scale)(void *impl, const tw_orch_ref_t *ref, tw_orch_scale_t *out, tw_error_t *err);
    int (*set_scale)(void *impl, const tw_orch_ref_t *ref, const tw_orch_scale_t *observed,
                     int32_t replicas, tw_orch_scale_t *out, tw_error_t *err);
    int (*list_pods)(void *impl, const tw_orch_ref_t *ref, const char *selector,
                     tw_orch_pod_list_t *out, tw_error_t *err);
    int (*patch_resources)(void *impl, const tw_orch_ref_t *ref, const tw_orch_resources_t *res,
                           size_t n_res, tw_error_t *err);
    size_t (*records)(const void *impl, const tw_orch_record_t **out);
    int (*evict_pod)(void *impl, const tw_orch_ref_t *ref, tw_error_t *err);
    void (*free)(void *impl);
} tw_orch_ops_t;

/* Constructors, one per driver file; *impl_out is passed back to the ops. */
int tw_orch_kube_new(const tw_orch_kube_options_t *o, void **impl_out, tw_error_t *err);
int tw_orch_nomad_new(const tw_orch_nomad_options_t *o, void **impl_out, tw_error_t *err);
int tw_orch_exec_new(const tw_orch_exec_options_t *o, void **impl_out, tw_error_t *err);
int tw_orch_dryrun_new(const tw_orch_dryrun_options_t *o, void **impl_out, tw_error_t *err);
extern const tw_orch_ops_t tw_orch_kube_ops;
extern const tw_orch_ops_t tw_orch_nomad_ops;
extern const tw_orch_ops_t tw_orch_exec_ops;
extern const tw_orch_ops_t tw_orch_dryrun_ops;

/* Appends a zeroed pod to l and returns it. */
tw_orch_pod_t *tw_orch_pod_list_add(tw_orch_pod_list_t *l);

/* ---- Pure helpers shared by the drivers ------------------------------------------------- */

/*
 * Kubernetes resource.Quantity ("250m", "1.5", "128Mi", "1G", "1e3") to MilliValue(), rounded up
 * away from zero like apimachinery. Returns 0, TW_EPARSE, or TW_ELIMIT when it does not fit.
 */
int tw_orch_quantity_milli(const char *s, int64_t *out);

/*
 * RFC 3339 time ("2026-01-01T00:00:00Z", fractions and offsets) to ms since epoch, as Kubernetes'
 * metav1.Time reads it (Go's time.Parse): tw_time_rfc3339_parse(). Returns 0 or TW_EPARSE.
 */
static inline int tw_orch_rfc3339_parse(const char *s, int64_t *out_ms)
{
    return tw_time_rfc3339_parse(s, out_ms);
}

/* ---- Kubernetes ------------------------------------------------------------------------- */

/* "/apis/apps/v1/namespaces/<ns>/<deployments|statefulsets>/<name>/scale". TW_EINVAL for
 * another kind. */
int tw_orch_kube_scale_path(tw_buf_t *out, const char *kind, const char *ns, const char *name,
                            tw_error_t *err);

/* "labelSelector=<escaped>" (nothing for an empty selector), for GET .../pods?<query>. */
int tw_orch_kube_selector_query(tw_buf_t *out, const char *selector);

/* Parses an autoscaling/v1 Scale. what names the object in errors. */
int tw_orch_kube_scale_parse(const char *body, size_t len, const char *what, tw_orch_scale_t *out,
                             tw_error_t *err);

/*
 * The body of the scale PUT: the Scale with metadata name, namespace and (when observed has one)
 * resourceVersion, and spec.replicas.
 */
int tw_orch_kube_scale_emit(tw_buf_t *out, const char *ns, const char *name,
                            const tw_orch_scale_t *observed, int32_t replicas);

/*
 * Parses a v1 PodList, appending its pods to out. *cont (size contsz) receives
 * metadata.continue ("" at the end).
 */
int tw_orch_kube_pods_parse(const char *body, size_t len, tw_orch_pod_list_t *out, char *cont,
                            size_t contsz, tw_error_t *err);

/*
 * The strategic-merge patch that sets container resources in a pod template (pod_template
 * true: {"spec":{"template":{"spec":{"containers":[...]}}}}) or a Pod ({"spec":{"containers":
 * [...]}}).
 */
int tw_orch_kube_resources_patch(tw_buf_t *out, bool pod_template, const tw_orch_resources_t *res,
                                 size_t n_res);

/* The body of POST .../pods/<name>/eviction: a policy/v1 Eviction naming the pod. */
int tw_orch_kube_eviction_body(tw_buf_t *out, const char *ns, const char *name);

/* ---- Nomad ------------------------------------------------------------------------------ */

/*
 * Reads a job (GET /v1/job/:id): the count of task group group (NULL: the only group) into
 * out->spec_replicas/status_replicas, JobModifyIndex into out->version and the selector "" .
 */
int tw_orch_nomad_job_parse(const char *body, size_t len, const char *job, const char *group,
                            tw_orch_scale_t *out, tw_error_t *err);

/* The body of POST /v1/job/:id/scale. version "" or NULL: no JobModifyIndex check. */
int tw_orch_nomad_scale_body(tw_buf_t *out, const char *job, const char *group, const char *ns,
                             int32_t replicas, const char *version, const char *message);

/* ---- exec ------------------------------------------------------------------------------- */

/* Values for the template placeholders; NULL members expand to "". */
typedef struct tw_orch_exec_vars {
    const char *namespace;
    const char *name;
    const char *group;
    int64_t replicas;
} tw_orch_exec_vars_t;

/* Checks a template: non-empty, known placeholders, balanced braces. */
int tw_orch_exec_template_check(const char *const *tmpl, tw_error_t *err);

/*
 * Expands tmpl into a newly allocated NULL-terminated argv (free with tw_orch_exec_argv_free).
 */
int tw_orch_exec_expand(const char *const *tmpl, const tw_orch_exec_vars_t *vars, char ***argv_out,
                        tw_error_t *err);
void tw_orch_exec_argv_free(char **argv);

/*
 * Runs argv (no shell; argv[0] searched in PATH when it has no '/') in its own process group
 * with stdin from /dev/null, collecting stdout into out and stderr into errout (both bounded by
 * their limits, excess dropped). After timeout_ms the group gets SIGKILL. *exit_code is the exit
 * status, or 128+signal. Returns 0 when the command ran to an exit (any status), TW_ETRANSIENT
 * when killed by the timeout, or -errno when it could not be started.
 */
int tw_orch_exec_run(char *const *argv, int64_t timeout_ms, tw_buf_t *out, tw_buf_t *errout,
                     int *exit_code, tw_error_t *err);

/* ---- HTTP for the Nomad driver (orch_http.c, libcurl) --------------------------------------- */

/* TLS settings of one peer (common/curl_easy.h). Strings borrowed. */
typedef tw_curl_tls_t tw_orch_http_tls_t;

typedef struct tw_orch_http_req {
    const char *method; /* "GET", "PUT", "POST", "PATCH" */
    const char *url;
    const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
    const char *body;           /* may be NULL */
    size_t body_len;
    const tw_orch_http_tls_t *tls; /* may be NULL */
    int64_t timeout_ms;
} tw_orch_http_req_t;

typedef struct tw_orch_http_resp {
    long status;           /* 0 when no answer came */
    tw_buf_t body;         /* bounded */
    char retry_after[128]; /* the Retry-After header, "" when absent */
} tw_orch_http_resp_t;

/* An easy handle the driver reuses (connections are kept alive between calls). */
typedef struct tw_orch_http tw_orch_http_t;
tw_orch_http_t *tw_orch_http_new(void);
void tw_orch_http_free(tw_orch_http_t *h);

/*
 * Performs req. resp->body must be initialized (its limit bounds the answer). Returns 0 when an
 * HTTP answer came (any status), TW_ETRANSIENT for transport failures (connect, timeout, TLS
 * handshake; the message names the URL and libcurl's reason), TW_ELIMIT for an oversized body.
 */
int tw_orch_http_do(tw_orch_http_t *h, const tw_orch_http_req_t *req, tw_orch_http_resp_t *resp,
                    tw_error_t *err);

#endif
