/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hpa.h - the Kubernetes HorizontalPodAutoscaler decision logic: the replica calculator, the
 * reconcile steps that combine metrics and normalize the proposal (legacy path and
 * autoscaling/v2 `behavior` path), and a runner for the conformance case file.
 *
 * Everything here is pure: no I/O, no clock, no logging. Time is a parameter (`now_ms`,
 * milliseconds since the Unix epoch) and every pod, sample and event carries its own
 * timestamps. Metric values and resource requests are int64 milli-units, like Kubernetes'
 * Quantity.MilliValue() (CPU in millicores, memory in milli-bytes), and the arithmetic copies
 * kube-controller-manager's (integer-truncated utilization, math.Ceil of float64 products) so
 * results are bit-exact with it. docs/autoscaling-hpa.md explains the algorithm.
 *
 * The only I/O in the module is tw_hpa_cases_run(), which reads a case file and writes one
 * line per case to a caller's FILE.
 *
 * Thread model: no shared state. A tw_hpa_state_t belongs to one HPA and one thread at a time;
 * everything else is borrowed for the duration of a call.
 */
#ifndef TW_AUTOSCALER_HPA_H
#define TW_AUTOSCALER_HPA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

/* kube-controller-manager defaults (pkg/controller/podautoscaler/config/v1alpha1). */
#define TW_HPA_DEFAULT_TOLERANCE 0.1
#define TW_HPA_DEFAULT_CPU_INITIALIZATION_PERIOD_MS 300000
#define TW_HPA_DEFAULT_INITIAL_READINESS_DELAY_MS 30000
#define TW_HPA_DEFAULT_DOWNSCALE_STABILIZATION_MS 300000

/* ------------------------------------------------------------------------------------------ */
/* Replica calculator inputs                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Usage-ratio tolerances. A ratio r is "within tolerance" iff 1-scale_down <= r <= 1+scale_up. */
typedef struct tw_hpa_tolerances {
    double scale_down; /* >= 0; 0.1 means 10 % */
    double scale_up;   /* >= 0 */
} tw_hpa_tolerances_t;

/* Calculator settings; tw_hpa_calc_config_init() fills the production defaults. */
typedef struct tw_hpa_calc_config {
    tw_hpa_tolerances_t tolerances;
    int64_t
        cpu_initialization_period_ms;   /* --horizontal-pod-autoscaler-cpu-initialization-period */
    int64_t initial_readiness_delay_ms; /* --horizontal-pod-autoscaler-initial-readiness-delay */
    bool pod_level_resources;           /* feature gate PodLevelResources */
} tw_hpa_calc_config_t;

/* Fills cfg with tolerance 0.1/0.1, 5 min CPU initialization, 30 s readiness delay, gate off. */
void tw_hpa_calc_config_init(tw_hpa_calc_config_t *cfg);

/* Pod phase (status.phase). */
typedef enum tw_hpa_pod_phase {
    TW_HPA_POD_RUNNING = 0,
    TW_HPA_POD_PENDING,
    TW_HPA_POD_SUCCEEDED,
    TW_HPA_POD_FAILED,
    TW_HPA_POD_UNKNOWN,
} tw_hpa_pod_phase_t;

/* A condition status; TW_HPA_STATUS_NONE means "the condition is absent". */
typedef enum tw_hpa_status {
    TW_HPA_STATUS_NONE = 0,
    TW_HPA_STATUS_TRUE,
    TW_HPA_STATUS_FALSE,
    TW_HPA_STATUS_UNKNOWN,
} tw_hpa_status_t;

/*
 * One container whose request counts: the pod's regular containers first, then its restartable
 * init containers (sidecars, restartPolicy Always), in spec order. Leave ordinary init
 * containers out.
 */
typedef struct tw_hpa_container {
    const char *name;      /* borrowed */
    bool has_request;      /* false: no request for the resource being computed */
    int64_t request_milli; /* requests[resource].MilliValue() */
} tw_hpa_container_t;

/* What the calculator needs to know about one pod matched by the target's selector. */
typedef struct tw_hpa_pod {
    const char *name; /* borrowed; pods and samples are joined by name */
    tw_hpa_pod_phase_t phase;
    bool deleting;                        /* metadata.deletionTimestamp is set */
    tw_hpa_status_t ready;                /* the Ready condition's status, NONE when absent */
    int64_t ready_transition_ms;          /* Ready.lastTransitionTime */
    bool has_start_time;                  /* status.startTime is set */
    int64_t start_time_ms;                /* status.startTime */
    const tw_hpa_container_t *containers; /* borrowed, n_containers entries */
    size_t n_containers;
    bool pod_level_requests_set; /* spec.resources.requests sets cpu or memory */
    bool has_pod_request;        /* spec.resources.requests has the computed resource */
    int64_t pod_request_milli;
} tw_hpa_pod_t;

/* One per-pod metric sample (metrics.k8s.io PodMetrics, or custom.metrics.k8s.io for Pods). */
typedef struct tw_hpa_pod_metric {
    const char *pod;      /* borrowed */
    int64_t value_milli;  /* for resources: the pod total, or the one container's value */
    int64_t timestamp_ms; /* sample timestamp */
    int64_t window_ms;    /* sample window (metrics-server: 60 s by default) */
} tw_hpa_pod_metric_t;

/* The pods matched by the selector and the per-pod samples that came back for them. */
typedef struct tw_hpa_pod_set {
    const tw_hpa_pod_t *pods; /* borrowed */
    size_t n_pods;
    const tw_hpa_pod_metric_t *metrics; /* borrowed; a sample for an unknown pod is ignored */
    size_t n_metrics;
    int64_t now_ms; /* "now" for the CPU readiness rules */
} tw_hpa_pod_set_t;

/* One container's usage inside a per-pod resource sample. */
typedef struct tw_hpa_container_usage {
    const char *name; /* borrowed */
    bool has_usage;   /* false: the sample lacks the resource for this container */
    int64_t usage_milli;
} tw_hpa_container_usage_t;

/*
 * Reduces one PodMetrics item the way the HPA's metrics client does: container == NULL sums all
 * containers (a sample with no containers, or one container lacking the resource, is missing);
 * otherwise takes the named container. Returns 0 with *value_milli set, or TW_ENOTFOUND when
 * the pod must count as having no sample.
 */
int tw_hpa_container_usage_reduce(const tw_hpa_container_usage_t *usage, size_t n,
                                  const char *container, int64_t *value_milli);

/* What a calculator call proposes. Fields that the metric kind does not produce are 0. */
typedef struct tw_hpa_calc_result {
    int32_t replicas;            /* the proposal */
    int32_t utilization_percent; /* Utilization targets: integer percent of request */
    /*
     * Utilization and AverageValue on pods: the average per-pod value (raw for utilization);
     * Object/External Value: the value (sum over series for External);
     * Object/External AverageValue: ceil(value / status replicas), 0 for 0 replicas.
     */
    int64_t usage_milli;
} tw_hpa_calc_result_t;

/*
 * GetResourceReplicas: Resource or ContainerResource metric with a Utilization target.
 * resource is the resource name ("cpu" turns on the CPU readiness rules); container NULL means
 * the whole pod. target_percent must be > 0. Returns 0 with *out filled, or a negative code
 * with a message naming the pod/container (upstream's texts, e.g. "missing request for cpu in
 * container c of Pod p", "no metrics returned matched known pods").
 */
int tw_hpa_calc_resource_utilization(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                                     int32_t target_percent, const char *resource,
                                     const char *container, const tw_hpa_pod_set_t *set,
                                     tw_hpa_calc_result_t *out, tw_error_t *err);

/*
 * GetRawResourceReplicas: Resource/ContainerResource with an AverageValue target (milli per
 * pod, > 0). The samples must already be reduced to the container when one is named.
 */
int tw_hpa_calc_resource_average(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                                 int64_t target_milli, const char *resource,
                                 const tw_hpa_pod_set_t *set, tw_hpa_calc_result_t *out,
                                 tw_error_t *err);

/* GetMetricReplicas: a Pods metric with an AverageValue target. Readiness is not considered. */
int tw_hpa_calc_pods_average(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                             int64_t target_milli, const tw_hpa_pod_set_t *set,
                             tw_hpa_calc_result_t *out, tw_error_t *err);

/*
 * GetObjectMetricReplicas: Object metric with a Value target. pods is the selector's pod list;
 * only Running pods with Ready=True count. With current_replicas == 0 the proposal is
 * ceil(value/target) (scale from zero, no tolerance).
 */
int tw_hpa_calc_object_value(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                             int64_t target_milli, int64_t value_milli, const tw_hpa_pod_t *pods,
                             size_t n_pods, tw_hpa_calc_result_t *out, tw_error_t *err);

/* GetExternalMetricReplicas: like the Object variant with value = sum of values (saturating). */
int tw_hpa_calc_external_value(const tw_hpa_calc_config_t *cfg, int32_t current_replicas,
                               int64_t target_milli, const int64_t *values_milli, size_t n_values,
                               const tw_hpa_pod_t *pods, size_t n_pods, tw_hpa_calc_result_t *out,
                               tw_error_t *err);

/* GetObjectPerPodMetricReplicas: Object metric with an AverageValue target (status replicas). */
int tw_hpa_calc_object_average(const tw_hpa_calc_config_t *cfg, int32_t status_replicas,
                               int64_t target_milli, int64_t value_milli, tw_hpa_calc_result_t *out,
                               tw_error_t *err);

/* GetExternalPerPodMetricReplicas: External metric with an AverageValue target. */
int tw_hpa_calc_external_average(const tw_hpa_calc_config_t *cfg, int32_t status_replicas,
                                 int64_t target_milli, const int64_t *values_milli, size_t n_values,
                                 tw_hpa_calc_result_t *out, tw_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Behavior (autoscaling/v2 spec.behavior)                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef enum tw_hpa_policy_type {
    TW_HPA_POLICY_PODS = 0,
    TW_HPA_POLICY_PERCENT,
} tw_hpa_policy_type_t;

typedef struct tw_hpa_policy {
    tw_hpa_policy_type_t type;
    int32_t value;    /* pods, or percent */
    int32_t period_s; /* periodSeconds, > 0 */
} tw_hpa_policy_t;

typedef enum tw_hpa_select_policy {
    TW_HPA_SELECT_DEFAULT = 0, /* unset: Max */
    TW_HPA_SELECT_MAX,
    TW_HPA_SELECT_MIN,
    TW_HPA_SELECT_DISABLED,
} tw_hpa_select_policy_t;

/*
 * HPAScalingRules. A zeroed struct means "all defaults" (the API server's defaulting, §1.6.1 of
 * the conformance README): scale-up 0 s window, Max of {4 pods, 100 %} per 15 s; scale-down the
 * controller's downscale window, 100 % per 15 s. policies == NULL means "use the default
 * policies"; a non-NULL pointer with n_policies == 0 is an explicitly empty list.
 */
typedef struct tw_hpa_scaling_rules {
    bool has_stabilization_window;
    int32_t stabilization_window_s;
    tw_hpa_select_policy_t select_policy;
    const tw_hpa_policy_t *policies; /* borrowed */
    size_t n_policies;
    bool has_tolerance; /* used only with the HPAConfigurableTolerance gate */
    double tolerance;
} tw_hpa_scaling_rules_t;

/* spec.behavior. NULL members mean "unset" and get the defaults. */
typedef struct tw_hpa_behavior {
    const tw_hpa_scaling_rules_t *scale_up;
    const tw_hpa_scaling_rules_t *scale_down;
} tw_hpa_behavior_t;

/*
 * Applies the API defaults to rules (may be NULL) for one direction. out's policies point either
 * into rules or at static storage, so out lives as long as rules does. downscale_window_s is the
 * controller flag used when scale-down leaves the window unset.
 */
void tw_hpa_scaling_rules_resolve(const tw_hpa_scaling_rules_t *rules, bool scale_up,
                                  int32_t downscale_window_s, tw_hpa_scaling_rules_t *out);

/* ------------------------------------------------------------------------------------------ */
/* History (what the controller keeps per HPA between passes)                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct tw_hpa_recommendation {
    int32_t replicas;
    int64_t timestamp_ms;
} tw_hpa_recommendation_t;

typedef struct tw_hpa_scale_event {
    int32_t change; /* absolute replica change, >= 0 */
    int64_t timestamp_ms;
    bool outdated; /* marked for reuse by the next store */
} tw_hpa_scale_event_t;

/*
 * Recommendations and scale events of one HPA. Arrays are owned (tw_xmalloc'd) and grow only
 * until old entries start being reused, so their size is bounded by the sync rate times the
 * longest window. seeded == false means "never reconciled": the first pass seeds the history
 * with {current replicas, now} (a nil slice upstream, as opposed to an empty one).
 */
typedef struct tw_hpa_history {
    bool seeded;
    tw_hpa_recommendation_t *recs;
    size_t n_recs, cap_recs;
    tw_hpa_scale_event_t *up;
    size_t n_up, cap_up;
    tw_hpa_scale_event_t *down;
    size_t n_down, cap_down;
} tw_hpa_history_t;

/* Empty, unseeded history. */
void tw_hpa_history_init(tw_hpa_history_t *h);
/* Frees the arrays; h is empty and unseeded afterwards. NULL is a no-op. */
void tw_hpa_history_fini(tw_hpa_history_t *h);
/* Appends a recommendation (marks the history seeded). */
void tw_hpa_history_add_recommendation(tw_hpa_history_t *h, int32_t replicas, int64_t ts_ms);
/* Appends a scale event to the up (scale_up true) or down list. */
void tw_hpa_history_add_event(tw_hpa_history_t *h, bool scale_up, int32_t change, int64_t ts_ms);

/*
 * stabilizeRecommendation (legacy path): returns the max of proposal and every recommendation
 * not older than window_ms, and records the proposal (overwriting the last old entry, else
 * appending).
 */
int32_t tw_hpa_stabilize_legacy(tw_hpa_history_t *h, int32_t proposal, int64_t window_ms,
                                int64_t now_ms);

/*
 * stabilizeRecommendationWithBehaviors: clamps current between min(recent within the up window)
 * and max(recent within the down window), proposal included, and records the proposal. *reason
 * (may be NULL) gets "ScaleUpStabilized"/"ScaleDownStabilized" for when the result differs from
 * the proposal.
 */
int32_t tw_hpa_stabilize_behavior(tw_hpa_history_t *h, int32_t current, int32_t proposal,
                                  int32_t up_window_s, int32_t down_window_s, int64_t now_ms,
                                  const char **reason);

/*
 * convertDesiredReplicasWithBehaviorRate: applies the Pods/Percent policies over the scale
 * events, then min/max, in the direction of the change. up and down must be resolved rules.
 * *reason gets "ScaleUpLimit", "TooManyReplicas", "ScaleDownLimit", "TooFewReplicas" or
 * "DesiredWithinRange" (static strings).
 */
int32_t tw_hpa_rate_limit_behavior(const tw_hpa_history_t *h, int32_t current, int32_t desired,
                                   int32_t min_replicas, int32_t max_replicas,
                                   const tw_hpa_scaling_rules_t *up,
                                   const tw_hpa_scaling_rules_t *down, int64_t now_ms,
                                   const char **reason);

/*
 * convertDesiredReplicasWithRules (legacy path): max(2*current, 4) scale-up cap, then min/max.
 * *reason as above.
 */
int32_t tw_hpa_rate_limit_legacy(int32_t current, int32_t desired, int32_t min_replicas,
                                 int32_t max_replicas, const char **reason);

/*
 * storeScaleEvent: after a successful rescale on the behavior path, records |new-old| in the up
 * or down list, reusing the last entry older than the direction's longest policy period.
 * rules is the resolved rules of that direction.
 */
void tw_hpa_history_store_event(tw_hpa_history_t *h, const tw_hpa_scaling_rules_t *rules,
                                int32_t prev_replicas, int32_t new_replicas, int64_t now_ms);

/* ------------------------------------------------------------------------------------------ */
/* Controller (one reconcile pass, still pure)                                                */
/* ------------------------------------------------------------------------------------------ */

typedef enum tw_hpa_condition_type {
    TW_HPA_COND_ABLE_TO_SCALE = 0,
    TW_HPA_COND_SCALING_ACTIVE,
    TW_HPA_COND_SCALING_LIMITED,
    TW_HPA_COND_SCALED_TO_ZERO,
    TW_HPA_COND_COUNT_,
} tw_hpa_condition_type_t;

/* Kubernetes' name of a condition type ("AbleToScale", ...); "" for an invalid value. */
const char *tw_hpa_condition_type_name(tw_hpa_condition_type_t t);
/* "True", "False", "Unknown" ("" for NONE). */
const char *tw_hpa_status_name(tw_hpa_status_t s);

typedef struct tw_hpa_condition {
    tw_hpa_condition_type_t type;
    tw_hpa_status_t status;
    char reason[48];
    char message[256];
    int64_t last_transition_ms; /* changes only when status flips */
} tw_hpa_condition_t;

/* status.conditions, in insertion order (each type at most once). */
typedef struct tw_hpa_conditions {
    tw_hpa_condition_t items[TW_HPA_COND_COUNT_];
    size_t n;
} tw_hpa_conditions_t;

/* Sets (adds or updates) one condition; message is printf-style. */
void tw_hpa_conditions_set(tw_hpa_conditions_t *c, tw_hpa_condition_type_t type,
                           tw_hpa_status_t status, const char *reason, int64_t now_ms,
                           const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Removes a condition type (no-op when absent). */
void tw_hpa_conditions_remove(tw_hpa_conditions_t *c, tw_hpa_condition_type_t type);
/* The condition of that type, or NULL. */
const tw_hpa_condition_t *tw_hpa_conditions_get(const tw_hpa_conditions_t *c,
                                                tw_hpa_condition_type_t type);

/* Per-HPA state the caller keeps between passes and drops when the HPA is deleted. */
typedef struct tw_hpa_state {
    tw_hpa_history_t history;
    tw_hpa_conditions_t conditions;
} tw_hpa_state_t;

/* Empty state (unseeded history, no conditions). */
void tw_hpa_state_init(tw_hpa_state_t *s);
/* Frees the history. NULL is a no-op. */
void tw_hpa_state_fini(tw_hpa_state_t *s);

typedef enum tw_hpa_metric_type {
    TW_HPA_METRIC_RESOURCE = 0,
    TW_HPA_METRIC_CONTAINER_RESOURCE,
    TW_HPA_METRIC_PODS,
    TW_HPA_METRIC_OBJECT,
    TW_HPA_METRIC_EXTERNAL,
    TW_HPA_METRIC_INVALID, /* an unknown metrics[].type: fails with InvalidMetricSourceType */
} tw_hpa_metric_type_t;

typedef enum tw_hpa_target_type {
    TW_HPA_TARGET_UTILIZATION = 0,
    TW_HPA_TARGET_AVERAGE_VALUE,
    TW_HPA_TARGET_VALUE,
} tw_hpa_target_type_t;

/*
 * One entry of spec.metrics together with what the caller fetched for it. Exactly the inputs
 * of the metric's kind are read: pods+samples for Resource/ContainerResource/Pods, value for
 * Object, values for External; pods for Object/External Value targets (ready count).
 */
typedef struct tw_hpa_metric_input {
    tw_hpa_metric_type_t type;
    const char *name;      /* resource name, or the metric name; borrowed */
    const char *container; /* ContainerResource only */
    tw_hpa_target_type_t target_type;
    int32_t target_utilization; /* averageUtilization (percent) */
    int64_t target_milli;       /* value or averageValue, milli */
    const char *fetch_error;    /* non-NULL: fetching the metric failed with this message */
    tw_hpa_pod_set_t pods;      /* pods + per-pod samples (now_ms is overwritten) */
    int64_t object_value_milli;
    const int64_t *external_values_milli; /* borrowed */
    size_t n_external_values;
} tw_hpa_metric_input_t;

/* The HPA spec, as far as the decision needs it. */
typedef struct tw_hpa_spec {
    bool has_min_replicas; /* false: minReplicas defaults to 1 */
    int32_t min_replicas;
    int32_t max_replicas;
    const tw_hpa_behavior_t *behavior;    /* NULL: legacy normalization */
    const tw_hpa_metric_input_t *metrics; /* borrowed */
    size_t n_metrics;
} tw_hpa_spec_t;

/* Controller settings (kube-controller-manager flags and feature gates). */
typedef struct tw_hpa_controller_config {
    tw_hpa_calc_config_t calc;          /* cluster tolerance, CPU rules */
    int64_t downscale_stabilization_ms; /* 5 min */
    bool gate_scale_to_zero;            /* HPAScaleToZero */
    bool gate_configurable_tolerance;   /* HPAConfigurableTolerance */
} tw_hpa_controller_config_t;

/* Production defaults; both gates off. */
void tw_hpa_controller_config_init(tw_hpa_controller_config_t *cfg);

/* What one metric produced (the status.currentMetrics entry). */
typedef struct tw_hpa_metric_result {
    int rc;                    /* 0, or the error code of this metric */
    tw_hpa_calc_result_t calc; /* valid when rc == 0 */
} tw_hpa_metric_result_t;

/* The outcome of tw_hpa_reconcile(). */
typedef struct tw_hpa_decision {
    int32_t current_replicas; /* scale.spec.replicas */
    int32_t desired_replicas; /* == current when !rescale */
    bool rescale;             /* the caller should PUT the scale, then call tw_hpa_rescale_done */
    bool metrics_computed;    /* false when a gate check decided without metrics */
    char reason[160];         /* rescale reason ("cpu resource ... above target", ...) */
    char error[512];          /* the reconcile error message, "" when none */
} tw_hpa_decision_t;

/*
 * One reconcile pass (horizontal.go reconcileAutoscaler from the point where the scale was read).
 * spec_replicas/status_replicas come from the /scale subresource. Updates state (history,
 * conditions) and fills out; results (n_metrics entries, may be NULL) gets each metric's status.
 * Returns 0, or a negative code when the pass reports an error (out->error has the text). Even
 * with an error out->rescale may be true: a partial metric failure can still scale up.
 */
int tw_hpa_reconcile(const tw_hpa_controller_config_t *cfg, const tw_hpa_spec_t *spec,
                     int32_t spec_replicas, int32_t status_replicas, int64_t now_ms,
                     tw_hpa_state_t *state, tw_hpa_metric_result_t *results, tw_hpa_decision_t *out,
                     tw_error_t *err);

/*
 * Records the outcome of the scale write that a decision asked for: on success the AbleToScale
 * condition becomes SucceededRescale, the scale event is stored (behavior path) and ScaledToZero
 * is set or removed; on failure (ok false, error_msg may be NULL) AbleToScale becomes
 * FailedUpdateScale.
 */
void tw_hpa_rescale_done(const tw_hpa_controller_config_t *cfg, const tw_hpa_spec_t *spec,
                         const tw_hpa_decision_t *decision, bool ok, const char *error_msg,
                         int64_t now_ms, tw_hpa_state_t *state);

/* ------------------------------------------------------------------------------------------ */
/* Conformance case file                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Largest case file tw_hpa_cases_run() accepts. */
#define TW_HPA_CASES_MAX_BYTES (64u * 1024u * 1024u)

/*
 * Loads a cases.json-format file (the schema in conformance/hpa/README.md), runs every case and
 * prints one JSON object per line to out: the case id and the computed fields under the names
 * the case's `expected` uses. With check != 0 it compares against `expected` and prints, per
 * failing case, "FAIL <id>: <field>: expected <json>, got <json>", and last a line
 * "N passed, N failed". Returns 0 when every case passed (or check == 0), TW_EINVAL when some
 * failed, or another negative code (err names the case id and the JSON field path) when the file
 * cannot be read or a case is malformed.
 */
int tw_hpa_cases_run(const char *path, int check, FILE *out, tw_error_t *err);

/* Same, from memory; name is used in messages (may be NULL). */
int tw_hpa_cases_run_buf(const char *data, size_t len, const char *name, int check, FILE *out,
                         tw_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* ---- manifests ----                                                                        */
/* autoscaling/v2 HorizontalPodAutoscaler manifests (hpa_manifest.c, hpa_quantity.c) and the  */
/* replay simulator (hpa_simulate.c); docs/autoscaling-hpa.md, "Specs" and "Simulate".        */
/* ------------------------------------------------------------------------------------------ */

struct tw_yaml_node;

/* Largest manifest file tw_hpa_manifests_load() reads. */
#define TW_HPA_MANIFEST_MAX_BYTES (4u * 1024u * 1024u)

/*
 * A Kubernetes resource.Quantity ("500m", "1Gi", "1.5", "2e3"), reduced to what the HPA uses.
 * milli is Quantity.MilliValue(): the exact value times 1000, rounded away from zero.
 */
typedef struct tw_hpa_quantity {
    int sign;      /* -1, 0 or 1: Quantity.Sign() */
    int64_t milli; /* MilliValue() */
    double approx; /* AsApproximateFloat64() */
} tw_hpa_quantity_t;

/*
 * Parses text[0..len) (surrounding ASCII blanks ignored) with resource.ParseQuantity's grammar:
 * an optional sign, digits with an optional fraction, and a suffix: binary (Ki Mi Gi Ti Pi Ei),
 * decimal (n u m k M G T P E) or an exponent (e3, E-2). Pure. Returns 0; TW_EPARSE with
 * upstream's message ("quantities must match the regular expression '...'", "unable to parse
 * quantity's suffix"); or TW_ELIMIT when the milli-value does not fit in an int64 (upstream
 * wraps silently) or a binary-suffixed number has more than 18 significant digits.
 */
int tw_hpa_quantity_parse(const char *text, size_t len, tw_hpa_quantity_t *out, tw_error_t *err);

/* A CrossVersionObjectReference (scaleTargetRef, describedObject). Strings are owned. */
typedef struct tw_hpa_object_ref {
    char *api_version; /* "" when absent */
    char *kind;
    char *name;
} tw_hpa_object_ref_t;

/* What a manifest says about one metric beyond tw_hpa_metric_input_t. Strings are owned. */
typedef struct tw_hpa_manifest_metric {
    /*
     * metric.selector as a Kubernetes label-selector string ("app=web,tier in (a,b),!debug"),
     * matchLabels first, then matchExpressions, in document order; "" when absent.
     */
    char *selector;
    tw_hpa_object_ref_t described_object; /* Object metrics only; empty strings otherwise */
} tw_hpa_manifest_metric_t;

/*
 * One parsed, defaulted and validated HorizontalPodAutoscaler. Read-only for callers; free with
 * tw_hpa_manifest_free(). spec points into the manifest itself (metrics, behavior), so a
 * manifest is never copied by value; spec.metrics[i] carries the targets only (no pods or
 * values: the caller fills a copy of each entry per pass).
 */
typedef struct tw_hpa_manifest {
    char *name;                 /* metadata.name */
    char *namespace;            /* metadata.namespace; "default" when absent */
    tw_hpa_object_ref_t target; /* spec.scaleTargetRef; kind is Deployment or StatefulSet */
    tw_hpa_spec_t spec;         /* min (defaulted to 1), max, metrics, behavior */
    tw_hpa_manifest_metric_t *metric_info; /* spec.n_metrics entries */
    bool has_behavior;                     /* spec.behavior was given (spec.behavior != NULL) */
    char file[256];                        /* where the manifest came from, for messages */
    int line, col;                         /* position of the manifest's root mapping */
    /* private storage behind spec */
    tw_hpa_metric_input_t *metrics_;
    tw_hpa_behavior_t behavior_;
    tw_hpa_scaling_rules_t rules_[2]; /* scaleUp, scaleDown */
    tw_hpa_policy_t *policies_[2];
} tw_hpa_manifest_t;

/* Parsing options. A zeroed struct is the API server's defaults (gates off). */
typedef struct tw_hpa_manifest_options {
    bool gate_scale_to_zero; /* HPAScaleToZero: minReplicas 0 allowed with Object/External */
} tw_hpa_manifest_options_t;

/*
 * Parses one manifest from a YAML node (e.g. one entry of autoscaling.horizontal[] in
 * tidewatch.yml). file names the input in errors (may be NULL); opts may be NULL. The node is
 * only read during the call. Checks, in this order: the YAML shape (unknown keys, wrong types,
 * integers, quantities: like the API server's decoding, the first problem found), then the API
 * server's defaults and validation (pkg/apis/autoscaling/validation), reporting the first
 * failure as Kubernetes words it, "spec.maxReplicas: Invalid value: 1: must be greater than or
 * equal to `minReplicas`", at the offending node's line and column. Returns 0 with *out set
 * (free with tw_hpa_manifest_free), TW_EINVAL with err filled.
 */
int tw_hpa_manifest_from_node(const struct tw_yaml_node *root, const char *file,
                              const tw_hpa_manifest_options_t *opts, tw_hpa_manifest_t **out,
                              tw_error_t *err);

/* Frees a manifest. NULL is a no-op. */
void tw_hpa_manifest_free(tw_hpa_manifest_t *m);

/* The manifests of one file, in document order. */
typedef struct tw_hpa_manifest_list {
    tw_hpa_manifest_t **items; /* owned */
    size_t n;
} tw_hpa_manifest_list_t;

/*
 * Parses a YAML stream of one or more documents separated by `---` lines into list (which must
 * be zeroed or fini'd; it is filled only on success). Empty documents and documents whose kind
 * is not HorizontalPodAutoscaler (a bundle's Deployments, Services) are skipped; a file with no
 * HPA at all, or two with the same namespace/name, is an error.
 * Errors carry file:line:col of the whole stream. Pure.
 */
int tw_hpa_manifests_parse(const char *data, size_t len, const char *file,
                           const tw_hpa_manifest_options_t *opts, tw_hpa_manifest_list_t *list,
                           tw_error_t *err);

/* Reads path (at most TW_HPA_MANIFEST_MAX_BYTES) and parses it like tw_hpa_manifests_parse. */
int tw_hpa_manifests_load(const char *path, const tw_hpa_manifest_options_t *opts,
                          tw_hpa_manifest_list_t *list, tw_error_t *err);

/* Frees the manifests; list is empty afterwards. NULL is a no-op. */
void tw_hpa_manifest_list_fini(tw_hpa_manifest_list_t *list);

/* Largest metrics file the simulator reads. */
#define TW_HPA_SIMULATE_MAX_BYTES (16u * 1024u * 1024u)

/* Simulation settings; tw_hpa_simulate_options_init() fills the defaults. */
typedef struct tw_hpa_simulate_options {
    int64_t sync_period_ms;                /* --sync-period, default 15 s */
    int32_t initial_replicas;              /* -1: start at the spec's minReplicas (at least 1) */
    tw_hpa_controller_config_t controller; /* defaults + gates */
} tw_hpa_simulate_options_t;

/* 15 s sync, start at minReplicas, controller defaults. */
void tw_hpa_simulate_options_init(tw_hpa_simulate_options_t *o);

/*
 * Replays the metrics file text (format in docs/autoscaling-hpa.md, "Simulate") through the
 * full controller for manifest m: one tw_hpa_reconcile() per sync period from the first row's
 * time to the last row's, a dry-run target that applies every scale at once, and one line per
 * sync on out ("t=60s replicas=3->6 proposal=8 reason=ScaleUpLimit message=\"...\""). name
 * names the metrics input in errors. Pure apart from writing to out. Returns 0, or TW_EINVAL
 * with err at the metrics file's line and column.
 */
int tw_hpa_simulate_run(const tw_hpa_manifest_t *m, const char *metrics, size_t len,
                        const char *name, const tw_hpa_simulate_options_t *opts, FILE *out,
                        tw_error_t *err);

/*
 * `tidewatch autoscaler simulate` without the subcommand words: argv holds the flags
 * (--spec FILE --metrics FILE [--sync-period 15s] [--initial-replicas N] [--hpa NAME]
 * [--scale-to-zero]; argv[0] is the first flag, argc may be 0). Prints the timeline on out and
 * problems on errout. Returns the process exit code: 0 done, 1 an input file is invalid,
 * 2 bad command line.
 */
int tw_hpa_simulate_main(int argc, char **argv, FILE *out, FILE *errout);

#endif
