/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orchestrator.h - the one interface through which the autoscalers read and change workloads:
 * read a workload's scale, write it back with the observed version (optimistic concurrency),
 * list the pods behind it, and patch container resources. Four drivers implement it, chosen by
 * name: "kubernetes" (the apps/v1 scale subresource over the API server), "nomad" (a job's task
 * group count), "exec" (an argv template run without a shell, for orchestrators with a CLI) and
 * "dryrun" (the default: records what it would do and changes nothing).
 *
 * Every call returns 0 or a negative code that tells the caller what to do next:
 *   TW_ECONFLICT   the observed version is stale: read again, recompute, write again
 *                  (tw_orch_scale_update() does exactly that, a bounded number of times);
 *   TW_ENOTFOUND   the workload (or job, or task group) does not exist;
 *   TW_EFORBIDDEN  the credentials are refused (401 or 403);
 *   TW_ETRANSIENT  worth retrying on the next pass (timeouts, 429 and 5xx after the driver's own
 *                  bounded retries, connection failures, a command killed by its timeout);
 *   TW_EINVAL      the request or the answer is malformed, or the driver cannot do this;
 *   TW_EIO         anything else (a command exited non-zero, ...).
 * The tw_error_t message says what happened, naming the workload and the URL or command. Drivers
 * never log and never print secrets: logging is the caller's job.
 *
 * Thread model: a driver is used by one thread at a time (the autoscaler thread); distinct
 * drivers are independent. Results are owned by the caller.
 */
#ifndef TW_AUTOSCALER_ORCHESTRATOR_H
#define TW_AUTOSCALER_ORCHESTRATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* ------------------------------------------------------------------------------------------ */
/* What the drivers exchange                                                                  */
/* ------------------------------------------------------------------------------------------ */

/*
 * The workload a call is about. All strings are borrowed for the call.
 *   kubernetes: kind "Deployment" or "StatefulSet" (also "deployments"/"statefulsets"; NULL
 *               means Deployment), namespace (NULL: the config's default), name;
 *               for tw_orch_patch_resources() also kind "Pod" (in-place resize).
 *   nomad:      name is the job ID, group the task group (NULL: the job's only group),
 *               namespace the Nomad namespace (NULL: the driver's).
 *   exec:       namespace and name fill {namespace} and {name}.
 */
typedef struct tw_orch_ref {
    const char *kind;
    const char *namespace;
    const char *name;
    const char *group;
} tw_orch_ref_t;

/* Bytes of tw_orch_scale_t.selector, NUL included. A longer selector is TW_ELIMIT. */
#define TW_ORCH_SELECTOR_MAX 2048
/* Bytes of tw_orch_scale_t.version, NUL included. */
#define TW_ORCH_VERSION_MAX 64

/* A workload's scale: the autoscaling/v1 Scale object or its equivalent. */
typedef struct tw_orch_scale {
    int32_t spec_replicas;   /* desired (spec.replicas, the Nomad group count) */
    int32_t status_replicas; /* observed (status.replicas); = spec where unknown */
    /* status.selector, a label selector string ("app=web,tier in (a,b)"); "" when unknown */
    char selector[TW_ORCH_SELECTOR_MAX];
    /* metadata.resourceVersion (kubernetes) or JobModifyIndex (nomad); "" = unconditional */
    char version[TW_ORCH_VERSION_MAX];
} tw_orch_scale_t;

/* Pod phase (status.phase); the same order as tw_hpa_pod_phase_t. */
typedef enum tw_orch_pod_phase {
    TW_ORCH_POD_RUNNING = 0,
    TW_ORCH_POD_PENDING,
    TW_ORCH_POD_SUCCEEDED,
    TW_ORCH_POD_FAILED,
    TW_ORCH_POD_UNKNOWN,
} tw_orch_pod_phase_t;

/* A condition status; the same order as tw_hpa_status_t (NONE: the condition is absent). */
typedef enum tw_orch_cond {
    TW_ORCH_COND_NONE = 0,
    TW_ORCH_COND_TRUE,
    TW_ORCH_COND_FALSE,
    TW_ORCH_COND_UNKNOWN,
} tw_orch_cond_t;

/* One container's requests. Quantities are Quantity.MilliValue() (rounded up). */
typedef struct tw_orch_container {
    char *name; /* owned by the pod list */
    bool has_cpu_request;
    int64_t cpu_request_milli; /* millicores */
    bool has_memory_request;
    int64_t memory_request_milli; /* milli-bytes */
    /* spec.resources.limits, same units (the vertical autoscaler's proportional limits) */
    bool has_cpu_limit;
    int64_t cpu_limit_milli;
    bool has_memory_limit;
    int64_t memory_limit_milli;
    /* status.containerStatuses[].lastState.terminated (the updater's quick-OOM rule) */
    char last_termination[32]; /* reason ("OOMKilled", ...), "" when none */
    int64_t last_started_ms;   /* its startedAt, ms since epoch (0 when absent) */
    int64_t last_finished_ms;  /* its finishedAt */
} tw_orch_container_t;

/*
 * What the HPA calculator needs about one pod (see tw_hpa_pod_t). containers holds the regular
 * containers in spec order, then the restartable init containers (restartPolicy Always); plain
 * init containers are left out, as the HPA leaves them out.
 */
typedef struct tw_orch_pod {
    char *name; /* owned by the pod list */
    tw_orch_pod_phase_t phase;
    bool deleting;               /* metadata.deletionTimestamp is set */
    tw_orch_cond_t ready;        /* the Ready condition */
    int64_t ready_transition_ms; /* Ready.lastTransitionTime, ms since epoch (0 when absent) */
    bool has_start_time;
    int64_t start_time_ms; /* status.startTime */
    tw_orch_container_t *containers;
    size_t n_containers;
    /* spec.resources.requests (pod-level resources) */
    bool has_pod_cpu_request;
    int64_t pod_cpu_request_milli;
    bool has_pod_memory_request;
    int64_t pod_memory_request_milli;
    /* The controller ownerReference (metadata.ownerReferences[controller=true]); "" when none. */
    char owner_kind[32];
    char owner_name[256];
    /*
     * In-place resize state (Kubernetes 1.33+): the PodResizePending condition (reason
     * "Infeasible" or "Deferred") and PodResizeInProgress (reason "Error" on failure), with
     * their reasons and messages ("" when unset).
     */
    tw_orch_cond_t resize_pending;
    char resize_pending_reason[32];
    char resize_pending_message[256];
    tw_orch_cond_t resize_in_progress;
    char resize_in_progress_reason[32];
    char resize_in_progress_message[256];
} tw_orch_pod_t;

/* The pods behind a workload. */
typedef struct tw_orch_pod_list {
    tw_orch_pod_t *pods; /* owned */
    size_t n;
    size_t cap; /* private */
} tw_orch_pod_list_t;

/* Empty list. */
void tw_orch_pod_list_init(tw_orch_pod_list_t *l);
/* Frees every pod; the list is empty afterwards. NULL is a no-op. */
void tw_orch_pod_list_fini(tw_orch_pod_list_t *l);

/*
 * New container requests for tw_orch_patch_resources(): for each container by name, the
 * requests (and limits) to set. A negative value leaves that field alone.
 */
typedef struct tw_orch_resources {
    const char *container; /* borrowed */
    int64_t cpu_request_milli;
    int64_t memory_request_bytes;
    int64_t cpu_limit_milli;
    int64_t memory_limit_bytes;
} tw_orch_resources_t;

/* ------------------------------------------------------------------------------------------ */
/* Driver configuration                                                                       */
/* ------------------------------------------------------------------------------------------ */

/*
 * kubernetes. With kubeconfig set, that file is read (its current context, or `context`);
 * otherwise the in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT and the service
 * account's token, ca.crt and namespace under service_account_dir.
 */
typedef struct tw_orch_kube_options {
    const char *kubeconfig;          /* path, or NULL for in-cluster */
    const char *context;             /* NULL: current-context */
    const char *service_account_dir; /* NULL: /var/run/secrets/kubernetes.io/serviceaccount */
    const char *server;              /* overrides the server URL (tests, proxies); NULL: none */
    const char *default_namespace;   /* NULL: the context's, else the SA's, else "default" */
    bool insecure_skip_tls_verify;   /* only when set explicitly; verification is on otherwise */
    double qps;                      /* requests per second; 0: 5 (client-go's default) */
    int burst;                       /* 0: 10 */
    int64_t timeout_ms;              /* per request; 0: 10 s */
    int max_retries;                 /* 429/5xx/transport retries per call; 0: 3, <0: none */
    int64_t max_retry_wait_ms;       /* longest Retry-After honored; 0: 30 s */
    size_t max_body_bytes;           /* largest answer; 0: 64 MiB */
} tw_orch_kube_options_t;

/* nomad. */
typedef struct tw_orch_nomad_options {
    const char *address;    /* "http://127.0.0.1:4646" when NULL */
    const char *token;      /* X-Nomad-Token; NULL: token_file, else none */
    const char *token_file; /* re-read before each request */
    const char *namespace;  /* NULL: the server's default */
    const char *region;     /* NULL: the agent's */
    const char *ca_file;
    const char *client_cert_file;
    const char *client_key_file;
    bool insecure_skip_tls_verify;
    int64_t timeout_ms;    /* 0: 10 s */
    size_t max_body_bytes; /* 0: 64 MiB */
} tw_orch_nomad_options_t;

/*
 * exec. Each argv is a NULL-terminated array of templates; {namespace}, {name}, {group} and
 * {replicas} are replaced inside any word ({{ and }} are literal braces). argv[0] is a path or
 * a name looked up in PATH. Nothing goes through a shell.
 *   scale_argv: runs for set_scale (required);
 *   get_argv:   runs for get_scale and prints the current replica count on stdout (optional;
 *               without it get_scale answers TW_EINVAL).
 * Exit 0 is success; exit 75 (EX_TEMPFAIL) is TW_ETRANSIENT; other exits are TW_EIO with the
 * end of stderr in the message; a command still running at the timeout is killed (its whole
 * process group) and the call is TW_ETRANSIENT.
 */
typedef struct tw_orch_exec_options {
    const char *const *scale_argv;
    const char *const *get_argv;
    int64_t timeout_ms; /* 0: 30 s */
} tw_orch_exec_options_t;

/*
 * dryrun. Writes are recorded, never performed. Reads go to `reads` when set (a driver the
 * caller owns and keeps alive), else get_scale answers the last recorded replicas (TW_ENOTFOUND
 * before any) and list_pods an empty list.
 */
typedef struct tw_orch_driver tw_orch_driver_t;
typedef struct tw_orch_dryrun_options {
    tw_orch_driver_t *reads; /* borrowed; may be NULL */
    size_t max_records;      /* oldest records are dropped beyond this; 0: 1000 */
} tw_orch_dryrun_options_t;

/* Options of every driver; only the chosen driver's part is read. */
typedef struct tw_orch_config {
    tw_orch_kube_options_t kubernetes;
    tw_orch_nomad_options_t nomad;
    tw_orch_exec_options_t exec;
    tw_orch_dryrun_options_t dryrun;
} tw_orch_config_t;

/* ------------------------------------------------------------------------------------------ */
/* Drivers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* The driver used when the configuration names none. */
#define TW_ORCH_DEFAULT_DRIVER "dryrun"

/*
 * Creates the driver called name ("kubernetes", "nomad", "exec", "dryrun"; NULL means
 * TW_ORCH_DEFAULT_DRIVER). cfg may be NULL (all defaults). Strings in cfg are copied; the
 * dry-run's `reads` driver is borrowed. Reads configuration files (kubeconfig, service account)
 * now, so errors name them. Returns 0 with *out set, TW_EINVAL for an unknown name or a bad
 * option, or the error of reading the configuration.
 */
int tw_orch_driver_new(const char *name, const tw_orch_config_t *cfg, tw_orch_driver_t **out,
                       tw_error_t *err);
/* NULL is a no-op. */
void tw_orch_driver_free(tw_orch_driver_t *d);
/* The driver's name ("kubernetes", ...), static. */
const char *tw_orch_driver_name(const tw_orch_driver_t *d);
/* Whether name is a known driver. */
bool tw_orch_driver_known(const char *name);

/* Reads the workload's scale into *out. */
int tw_orch_get_scale(tw_orch_driver_t *d, const tw_orch_ref_t *ref, tw_orch_scale_t *out,
                      tw_error_t *err);

/*
 * Writes replicas, conditioned on observed->version (kubernetes: PUT of the Scale with that
 * resourceVersion; nomad: JobModifyIndex). observed may be NULL for an unconditional write.
 * *out (may be NULL) receives the scale as written. A stale version is TW_ECONFLICT.
 */
int tw_orch_set_scale(tw_orch_driver_t *d, const tw_orch_ref_t *ref,
                      const tw_orch_scale_t *observed, int32_t replicas, tw_orch_scale_t *out,
                      tw_error_t *err);

/*
 * Lists the pods that selector (a label selector string, normally tw_orch_scale_t.selector)
 * matches in ref's namespace (ref->name is not used by kubernetes; nomad lists the job's
 * allocations of ref->group). out must be initialized; pods are appended.
 */
int tw_orch_list_pods(tw_orch_driver_t *d, const tw_orch_ref_t *ref, const char *selector,
                      tw_orch_pod_list_t *out, tw_error_t *err);

/* Sets container requests/limits in the workload's pod template (or a Pod's, in place). */
int tw_orch_patch_resources(tw_orch_driver_t *d, const tw_orch_ref_t *ref,
                            const tw_orch_resources_t *res, size_t n_res, tw_error_t *err);

/*
 * Evicts a pod through the Eviction API (kubernetes: POST .../pods/<name>/eviction with a
 * policy/v1 Eviction body, so PodDisruptionBudgets apply). ref->kind is "Pod" (or NULL),
 * ref->namespace and ref->name name the pod. A refusal by a disruption budget (HTTP 429) is
 * TW_ETRANSIENT with the API server's message; a pod already gone is TW_ENOTFOUND. The dry-run
 * driver records "evict_pod"; drivers without pods (nomad, exec) answer TW_EINVAL.
 */
int tw_orch_evict_pod(tw_orch_driver_t *d, const tw_orch_ref_t *ref, tw_error_t *err);

/*
 * Computes the replicas to write from the scale just read: returns >= 0, or a negative code to
 * stop (returned by tw_orch_scale_update() as is).
 */
typedef int (*tw_orch_compute_fn)(void *ctx, const tw_orch_scale_t *current);

/*
 * Read-compute-write with optimistic concurrency: get_scale, compute, and when the result
 * differs from spec_replicas set_scale with the version just read; on TW_ECONFLICT read and
 * compute again, at most max_conflicts times (<= 0: 3). *out (may be NULL) gets the final scale;
 * *attempts (may be NULL) the number of writes tried. After the last conflict returns
 * TW_ECONFLICT.
 */
int tw_orch_scale_update(tw_orch_driver_t *d, const tw_orch_ref_t *ref, tw_orch_compute_fn compute,
                         void *ctx, int max_conflicts, tw_orch_scale_t *out, int *attempts,
                         tw_error_t *err);

/* One recorded dry-run action. */
typedef struct tw_orch_record {
    char *op;     /* "set_scale", "patch_resources" or "evict_pod"; owned by the driver */
    char *target; /* "namespace/name" (plus "/group" when set) */
    char *detail; /* "replicas 3 -> 5 (resourceVersion 1003)", the resources, ... */
    int32_t from; /* set_scale: the observed spec replicas (-1 when unknown) */
    int32_t to;   /* set_scale: the new replicas */
} tw_orch_record_t;

/*
 * The dry-run driver's records, oldest first (*out valid until the next call on d). Returns the
 * count; 0 for other drivers.
 */
size_t tw_orch_dryrun_records(const tw_orch_driver_t *d, const tw_orch_record_t **out);

#endif
