/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa.h - the Kubernetes VerticalPodAutoscaler recommender's decision logic: decaying
 * exponential histograms, per-container aggregate state (CPU samples, per-interval memory
 * peaks, OOM bumps), the estimator chain (percentile, margin, confidence, minimums), capping by
 * policy and LimitRange, proportional limits, checkpoints, and a runner for the conformance
 * case file (../shared/conformance/vpa/cases.json).
 *
 * Everything here is pure: no clock (time is a parameter, `*_ms`, milliseconds since the Unix
 * epoch), no logging, no file I/O except tw_vpa_cases_run(). Arithmetic copies the upstream Go
 * code (kubernetes/autoscaler vertical-pod-autoscaler/pkg/recommender and pkg/utils/vpa) so
 * results are bit-exact with it; docs/autoscaling-vpa.md explains the algorithms.
 *
 * Units: CPU amounts are int64 millicores, memory amounts int64 bytes (upstream's
 * ResourceAmount, clamped to [0, 1e14] by every scaling); histogram values are cores and bytes
 * as doubles.
 *
 * Thread model: no shared state. A histogram, aggregate or container state belongs to one thread
 * at a time; everything passed by const pointer is borrowed for the duration of the call.
 */
#ifndef TW_AUTOSCALER_VPA_H
#define TW_AUTOSCALER_VPA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

/* Go's zero time.Time (0001-01-01T00:00:00Z) in Unix ms: upstream's "unset" time. */
#define TW_VPA_TIME_ZERO_MS INT64_C(-62135596800000)
/* model.MaxResourceAmount: every scaled amount is clamped to [0, 1e14]. */
#define TW_VPA_MAX_RESOURCE_AMOUNT INT64_C(100000000000000)
/* Largest bucket count a histogram accepts (the VPA's own layouts have 176). */
#define TW_VPA_HIST_MAX_BUCKETS 100000
/* The checkpoint scale: the heaviest bucket is stored as this integer. */
#define TW_VPA_CHECKPOINT_MAX_WEIGHT 10000u
/* SupportedCheckpointVersion. */
#define TW_VPA_CHECKPOINT_VERSION "v3"

/* Recommender defaults (recommender/config/config.go, model/aggregations_config.go). */
#define TW_VPA_DEFAULT_HALF_LIFE_MS INT64_C(86400000)
#define TW_VPA_DEFAULT_MEMORY_INTERVAL_MS INT64_C(86400000)
#define TW_VPA_DEFAULT_MEMORY_INTERVAL_COUNT 8
#define TW_VPA_DEFAULT_OOM_BUMP_UP_RATIO 1.2
#define TW_VPA_DEFAULT_OOM_MIN_BUMP_UP_BYTES INT64_C(104857600)
#define TW_VPA_DEFAULT_CONFIDENCE_INTERVAL_MS INT64_C(86400000)
#define TW_VPA_MIN_SAMPLE_WEIGHT 0.1

/* The two resources the recommender knows. */
typedef enum tw_vpa_resource {
    TW_VPA_CPU = 0,
    TW_VPA_MEMORY = 1,
    TW_VPA_NRES = 2,
} tw_vpa_resource_t;

/* "cpu" or "memory". */
const char *tw_vpa_resource_name(tw_vpa_resource_t r);

/* ResourceAmount(x) for a float: NaN and negatives give 0, more than 1e14 gives 1e14. */
int64_t tw_vpa_amount_from_float(double x);

/* ScaleResource: tw_vpa_amount_from_float((double)amount * factor). */
int64_t tw_vpa_amount_scale(int64_t amount, double factor);

/* ------------------------------------------------------------------------------------------ */
/* Histograms (vpa_histogram.c)                                                               */
/* ------------------------------------------------------------------------------------------ */

typedef enum tw_vpa_hist_kind {
    TW_VPA_HIST_LINEAR = 0,
    TW_VPA_HIST_EXPONENTIAL,
} tw_vpa_hist_kind_t;

/* Bucket layout (HistogramOptions). Fill with the tw_vpa_hist_options_* functions. */
typedef struct tw_vpa_hist_options {
    tw_vpa_hist_kind_t kind;
    double max_value;   /* values beyond the last bucket start go to the last bucket */
    double bucket_size; /* linear: every bucket's width; exponential: the first bucket's */
    double ratio;       /* exponential only: each bucket is ratio times wider than the last */
    double epsilon;     /* a bucket lighter than this is empty */
    int num_buckets;    /* computed */
} tw_vpa_hist_options_t;

/*
 * Linear layout: numBuckets = ceil(max/size)+1. Returns 0, or TW_EINVAL (err says why) for a
 * non-positive or non-finite size, max or epsilon, or more than TW_VPA_HIST_MAX_BUCKETS buckets.
 */
int tw_vpa_hist_options_linear(tw_vpa_hist_options_t *o, double max_value, double bucket_size,
                               double epsilon, tw_error_t *err);

/* Exponential layout: numBuckets = ceil(log_r(max(r-1)/first+1))+1; r must be > 1. */
int tw_vpa_hist_options_exponential(tw_vpa_hist_options_t *o, double max_value,
                                    double first_bucket_size, double ratio, double epsilon,
                                    tw_error_t *err);

/* The VPA's CPU layout: cores, first bucket 0.01, max 1000, ratio 1.05, epsilon 1e-4. */
void tw_vpa_hist_options_cpu(tw_vpa_hist_options_t *o);

/* The VPA's memory layout: bytes, first bucket 1e7, max 1e12, ratio 1.05, epsilon 1e-4. */
void tw_vpa_hist_options_memory(tw_vpa_hist_options_t *o);

/* FindBucket: the bucket holding value, clamped to [0, num_buckets-1]. */
int tw_vpa_hist_options_find_bucket(const tw_vpa_hist_options_t *o, double value);

/* GetBucketStart: the smallest value of bucket (0 for bucket 0). */
double tw_vpa_hist_options_bucket_start(const tw_vpa_hist_options_t *o, int bucket);

/* A histogram, plain or decaying (opaque). */
typedef struct tw_vpa_hist tw_vpa_hist_t;

/* A plain histogram with the layout *o (copied). Aborts on out-of-memory. */
tw_vpa_hist_t *tw_vpa_hist_new(const tw_vpa_hist_options_t *o);

/*
 * A decaying histogram: a sample at time t weighs w * 2^((t - ref)/half_life). ref starts at
 * Go's zero time and is moved (all weights rescaled) when a sample is more than 100 half-lives
 * past it. half_life_ms must be > 0.
 */
tw_vpa_hist_t *tw_vpa_hist_new_decaying(const tw_vpa_hist_options_t *o, int64_t half_life_ms);

/* A deep copy of h. */
tw_vpa_hist_t *tw_vpa_hist_clone(const tw_vpa_hist_t *h);

/* Frees h; NULL is a no-op. */
void tw_vpa_hist_free(tw_vpa_hist_t *h);

/* AddSample: weight must be >= 0 (a negative or NaN weight is ignored); t_ms matters only for
 * decaying histograms. */
void tw_vpa_hist_add(tw_vpa_hist_t *h, double value, double weight, int64_t t_ms);

/* SubtractSample: buckets and total falling below epsilon are clamped to 0. */
void tw_vpa_hist_subtract(tw_vpa_hist_t *h, double value, double weight, int64_t t_ms);

/*
 * Merge: adds other's weights to h. For decaying histograms the older reference is first moved
 * to the younger one, so other may be rescaled (hence not const). Returns TW_EINVAL when the
 * layouts, kinds or half-lives differ.
 */
int tw_vpa_hist_merge(tw_vpa_hist_t *h, tw_vpa_hist_t *other, tw_error_t *err);

/* Percentile: the end of the bucket where the running weight reaches p*total; 0 when empty. */
double tw_vpa_hist_percentile(const tw_vpa_hist_t *h, double p);

/* IsEmpty: the lightest tracked bucket is below epsilon. */
bool tw_vpa_hist_is_empty(const tw_vpa_hist_t *h);

/* Equals: same layout, kind (and half-life, reference), min/max bucket, weights within 1e-15. */
bool tw_vpa_hist_equals(const tw_vpa_hist_t *a, const tw_vpa_hist_t *b);

/* Total weight (still counting weight that decayed below epsilon). */
double tw_vpa_hist_total_weight(const tw_vpa_hist_t *h);

/* The weight of one bucket (0 outside the range). */
double tw_vpa_hist_bucket_weight(const tw_vpa_hist_t *h, int bucket);

/* The reference time of a decaying histogram (TW_VPA_TIME_ZERO_MS for a plain one). */
int64_t tw_vpa_hist_reference_ms(const tw_vpa_hist_t *h);

/* The layout; valid as long as h. */
const tw_vpa_hist_options_t *tw_vpa_hist_options(const tw_vpa_hist_t *h);

/* One stored bucket of a histogram checkpoint. */
typedef struct tw_vpa_hist_bucket {
    int64_t index;   /* may be out of range in a loaded checkpoint: load checks it */
    uint32_t weight; /* scaled so the heaviest bucket is TW_VPA_CHECKPOINT_MAX_WEIGHT */
} tw_vpa_hist_bucket_t;

/* HistogramCheckpoint. buckets is owned (tw_vpa_hist_checkpoint_fini frees it). */
typedef struct tw_vpa_hist_checkpoint {
    int64_t reference_ms; /* decaying histograms' reference time */
    double total_weight;  /* unscaled */
    tw_vpa_hist_bucket_t *buckets;
    size_t n_buckets;
} tw_vpa_hist_checkpoint_t;

/* Frees cp->buckets and zeroes *cp. */
void tw_vpa_hist_checkpoint_fini(tw_vpa_hist_checkpoint_t *cp);

/* SaveToCheckpoint: weights scaled to max 10000, rounded half up, zeros dropped. *cp is
 * overwritten (call _fini on it afterwards). */
void tw_vpa_hist_save(const tw_vpa_hist_t *h, tw_vpa_hist_checkpoint_t *cp);

/*
 * LoadFromCheckpoint: each weight becomes int * total/sum(ints) and is ADDED to h; the
 * reference time of a decaying histogram is taken verbatim. A checkpoint whose ints sum to 0
 * changes nothing. Returns TW_EINVAL for cp == NULL, a negative total, or a bucket index outside
 * [0, num_buckets); h is unchanged then.
 */
int tw_vpa_hist_load(tw_vpa_hist_t *h, const tw_vpa_hist_checkpoint_t *cp, tw_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Aggregate container state and samples (vpa_model.c)                                       */
/* ------------------------------------------------------------------------------------------ */

/* Recommender model settings; tw_vpa_model_config_init() fills the VPA's defaults. */
typedef struct tw_vpa_model_config {
    int64_t cpu_half_life_ms;      /* --cpu-histogram-decay-half-life, 24 h */
    int64_t memory_half_life_ms;   /* --memory-histogram-decay-half-life, 24 h */
    int64_t memory_interval_ms;    /* --memory-aggregation-interval, 24 h */
    int memory_interval_count;     /* --memory-aggregation-interval-count, 8 */
    double oom_bump_up_ratio;      /* --oom-bump-up-ratio, 1.2 */
    int64_t oom_min_bump_up_bytes; /* --oom-min-bump-up-bytes, 100 MiB */
} tw_vpa_model_config_t;

/* Fills the defaults above. */
void tw_vpa_model_config_init(tw_vpa_model_config_t *cfg);

/* Observer of the histogram calls an aggregate makes (tests and the case runner). */
typedef void (*tw_vpa_trace_fn)(void *ctx, tw_vpa_resource_t r, bool subtract, double value,
                                double weight, int64_t t_ms);

/*
 * AggregateContainerState: the decaying CPU-usage and memory-peaks histograms of every
 * container with one name in one VPA, plus the sample bookkeeping that feeds confidence.
 */
typedef struct tw_vpa_aggregate tw_vpa_aggregate_t;

/* A new, empty aggregate created at creation_ms. cfg is copied; invalid values (non-positive
 * half-life or interval) are replaced by the defaults. Aborts on out-of-memory. */
tw_vpa_aggregate_t *tw_vpa_aggregate_new(const tw_vpa_model_config_t *cfg, int64_t creation_ms);

/* Frees a; NULL is a no-op. */
void tw_vpa_aggregate_free(tw_vpa_aggregate_t *a);

/* Installs (or with fn == NULL removes) a histogram-call observer. */
void tw_vpa_aggregate_set_trace(tw_vpa_aggregate_t *a, tw_vpa_trace_fn fn, void *ctx);

/* The settings a was created with. */
const tw_vpa_model_config_t *tw_vpa_aggregate_config(const tw_vpa_aggregate_t *a);

/* AddSample for CPU: usage in millicores at weight 0.1; updates first/last sample start and
 * the sample count. Negative usage is ignored. */
void tw_vpa_aggregate_add_cpu(tw_vpa_aggregate_t *a, int64_t usage_milli, int64_t t_ms);

/* AddSample / SubtractSample for a memory peak (bytes, weight 1.0). */
void tw_vpa_aggregate_add_memory_peak(tw_vpa_aggregate_t *a, int64_t bytes, int64_t t_ms);
void tw_vpa_aggregate_subtract_memory_peak(tw_vpa_aggregate_t *a, int64_t bytes, int64_t t_ms);

/* MergeContainerState: adds other's histograms and sample bookkeeping to a (other may be
 * rescaled, see tw_vpa_hist_merge). */
int tw_vpa_aggregate_merge(tw_vpa_aggregate_t *a, tw_vpa_aggregate_t *other, tw_error_t *err);

/* The histograms; valid as long as a. */
const tw_vpa_hist_t *tw_vpa_aggregate_cpu(const tw_vpa_aggregate_t *a);
const tw_vpa_hist_t *tw_vpa_aggregate_memory(const tw_vpa_aggregate_t *a);

/* FirstSampleStart, LastSampleStart (TW_VPA_TIME_ZERO_MS when unset), TotalSamplesCount. */
int64_t tw_vpa_aggregate_first_sample_ms(const tw_vpa_aggregate_t *a);
int64_t tw_vpa_aggregate_last_sample_ms(const tw_vpa_aggregate_t *a);
int64_t tw_vpa_aggregate_samples(const tw_vpa_aggregate_t *a);

/*
 * isExpired: an aggregate with samples expires when now - LastSampleStart >= interval*count,
 * one without samples when now - creation >= interval*count.
 */
bool tw_vpa_aggregate_is_expired(const tw_vpa_aggregate_t *a, int64_t now_ms);

/*
 * Confidence: min((last - first)/interval, samples/minutes(interval)), 0 with no history.
 * interval_ms must be > 0.
 */
double tw_vpa_aggregate_confidence(const tw_vpa_aggregate_t *a, int64_t interval_ms);

/* VerticalPodAutoscalerCheckpointStatus. Histograms' buckets are owned. */
typedef struct tw_vpa_aggregate_checkpoint {
    char version[8]; /* "v3" */
    int64_t first_sample_ms;
    int64_t last_sample_ms;
    int64_t total_samples;
    tw_vpa_hist_checkpoint_t cpu;
    tw_vpa_hist_checkpoint_t memory;
} tw_vpa_aggregate_checkpoint_t;

/* Frees the histograms' buckets and zeroes *cp. */
void tw_vpa_aggregate_checkpoint_fini(tw_vpa_aggregate_checkpoint_t *cp);

/* SaveToCheckpoint (version "v3"). *cp is overwritten; call _fini afterwards. */
void tw_vpa_aggregate_save(const tw_vpa_aggregate_t *a, tw_vpa_aggregate_checkpoint_t *cp);

/*
 * LoadFromCheckpoint: rejects a version other than "v3" (TW_EINVAL, "unsupported checkpoint
 * version X"), then sets the sample bookkeeping and loads both histograms (added to theirs).
 */
int tw_vpa_aggregate_load(tw_vpa_aggregate_t *a, const tw_vpa_aggregate_checkpoint_t *cp,
                          tw_error_t *err);

/*
 * ContainerState: one running container's view, feeding its aggregate. Fill with
 * tw_vpa_container_init(); the fields are read-only for callers.
 */
typedef struct tw_vpa_container {
    tw_vpa_aggregate_t *agg;       /* borrowed; outlives the container state */
    int64_t last_cpu_sample_ms;    /* LastCPUSampleStart */
    int64_t last_memory_sample_ms; /* lastMemorySampleStart */
    int64_t window_end_ms;         /* end of the current memory aggregation interval */
    int64_t memory_peak;           /* this interval's usage peak, bytes */
    int64_t oom_peak;              /* this interval's OOM-derived peak, bytes */
} tw_vpa_container_t;

/* Starts a container state that feeds agg (borrowed). */
void tw_vpa_container_init(tw_vpa_container_t *c, tw_vpa_aggregate_t *agg);

/* A CPU usage sample (millicores) measured from t_ms. Returns false when it was discarded:
 * negative, or not after the last CPU sample. */
bool tw_vpa_container_add_cpu(tw_vpa_container_t *c, int64_t usage_milli, int64_t t_ms);

/* A memory usage sample (bytes): updates this interval's peak or opens a new interval. Returns
 * false when discarded: negative, or before the last memory sample. */
bool tw_vpa_container_add_memory(tw_vpa_container_t *c, int64_t usage_bytes, int64_t t_ms);

/*
 * RecordOOM: bumps memory to max(used + min bump, used * ratio) with used = max(request, this
 * interval's usage peak), recorded as a peak. Returns 0, or TW_EINVAL ("OOM event will be
 * discarded - it is too old") for an OOM more than one interval before the last memory sample.
 */
int tw_vpa_container_record_oom(tw_vpa_container_t *c, int64_t t_ms, int64_t requested_bytes,
                                tw_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Estimators (vpa_estimator.c)                                                               */
/* ------------------------------------------------------------------------------------------ */

typedef enum tw_vpa_stage_kind {
    TW_VPA_STAGE_PERCENTILE = 0, /* the histogram's percentile p (innermost only) */
    TW_VPA_STAGE_CONST,          /* a constant amount (innermost only) */
    TW_VPA_STAGE_MARGIN,         /* x + trunc(x * fraction) */
    TW_VPA_STAGE_CONFIDENCE,     /* x * (1 + multiplier/confidence)^exponent */
    TW_VPA_STAGE_MIN,            /* max(x, amount) */
} tw_vpa_stage_kind_t;

/* One estimator of the chain. */
typedef struct tw_vpa_stage {
    tw_vpa_stage_kind_t kind;
    double value;        /* percentile p, margin fraction, or confidence multiplier */
    double exponent;     /* confidence */
    int64_t interval_ms; /* confidence interval, > 0 */
    int64_t amount;      /* const and min: millicores or bytes */
} tw_vpa_stage_t;

#define TW_VPA_CHAIN_MAX 8

/* A chain, innermost stage first. */
typedef struct tw_vpa_chain {
    tw_vpa_stage_t stages[TW_VPA_CHAIN_MAX];
    size_t n;
} tw_vpa_chain_t;

/*
 * Runs chain for resource r over agg (agg may be NULL when the chain has no percentile stage:
 * confidence is then 0). Returns the amount (millicores or bytes), or -1 for an empty or
 * malformed chain.
 */
int64_t tw_vpa_chain_estimate(const tw_vpa_chain_t *chain, tw_vpa_resource_t r,
                              const tw_vpa_aggregate_t *agg);

/* Same over an explicit histogram for resource r (cores or bytes; NULL reads as empty), with
 * confidence taken from conf (may be NULL: confidence 0). */
int64_t tw_vpa_chain_estimate_hist(const tw_vpa_chain_t *chain, tw_vpa_resource_t r,
                                   const tw_vpa_hist_t *hist, const tw_vpa_aggregate_t *conf);

typedef enum tw_vpa_bound {
    TW_VPA_TARGET = 0,
    TW_VPA_LOWER = 1,
    TW_VPA_UPPER = 2,
    TW_VPA_NBOUNDS = 3,
} tw_vpa_bound_t;

/* The chains per bound and resource, plus the pod minimums. */
typedef struct tw_vpa_estimators {
    tw_vpa_chain_t chain[TW_VPA_NBOUNDS][TW_VPA_NRES];
    double pod_min_cpu_millicores; /* --pod-recommendation-min-cpu-millicores, 25 */
    double pod_min_memory_mb;      /* --pod-recommendation-min-memory-mb, 250 (MiB) */
} tw_vpa_estimators_t;

/* Recommender flags that shape the default chains. */
typedef struct tw_vpa_recommender_config {
    double target_cpu_percentile, lower_cpu_percentile, upper_cpu_percentile; /* .9 .5 .95 */
    double target_memory_percentile, lower_memory_percentile, upper_memory_percentile;
    double margin_fraction;             /* --recommendation-margin-fraction, 0.15 */
    int64_t confidence_interval_cpu_ms; /* 24 h */
    int64_t confidence_interval_memory_ms;
    double pod_min_cpu_millicores;
    double pod_min_memory_mb;
} tw_vpa_recommender_config_t;

/* Fills the VPA's defaults. */
void tw_vpa_recommender_config_init(tw_vpa_recommender_config_t *cfg);

/* Builds the VPA's chains: target = margin(percentile); lower = confidence(0.001, -2) of
 * margin(percentile); upper = confidence(1, 1) of margin(percentile). */
void tw_vpa_estimators_init(tw_vpa_estimators_t *est, const tw_vpa_recommender_config_t *cfg);

/* A resource list: has[r] says whether the resource is present. */
typedef struct tw_vpa_rlist {
    bool has[TW_VPA_NRES];
    int64_t v[TW_VPA_NRES]; /* millicores, bytes */
} tw_vpa_rlist_t;

/* One container of the VPA's pods, as the recommender sees it. */
typedef struct tw_vpa_pod_container {
    const char *name;              /* borrowed */
    const tw_vpa_aggregate_t *agg; /* borrowed; NULL means "no history" */
    bool mode_off;                 /* policy mode Off: no recommendation, not counted */
    bool controls[TW_VPA_NRES];    /* controlledResources (both true by default) */
} tw_vpa_pod_container_t;

/* One container's estimate. */
typedef struct tw_vpa_estimate {
    bool present; /* false for mode Off */
    tw_vpa_rlist_t bound[TW_VPA_NBOUNDS];
} tw_vpa_estimate_t;

/*
 * GetRecommendedPodResources: for each non-Off container, every bound's chain followed by
 * max(x, podMin / n) where n counts the non-Off containers, filtered to controlledResources.
 * out has n entries, in the order of containers.
 */
void tw_vpa_recommend_pod(const tw_vpa_estimators_t *est, const tw_vpa_pod_container_t *containers,
                          size_t n, tw_vpa_estimate_t *out);

/* ------------------------------------------------------------------------------------------ */
/* Quantities, policies, capping and limits (vpa_quantity.c, vpa_capping.c)                   */
/* ------------------------------------------------------------------------------------------ */

/*
 * Parses a Kubernetes quantity ("500m", "1Gi", "1.5", "2e3") into the amount the VPA compares:
 * MilliValue() for CPU, Value() for memory (both rounded up, like resource.Quantity). Returns
 * 0, TW_EPARSE for bad syntax, or TW_ELIMIT when the amount does not fit in an int64.
 */
int tw_vpa_quantity_parse(const char *text, size_t len, tw_vpa_resource_t r, int64_t *out,
                          tw_error_t *err);

/* Formats an amount as a quantity: "<n>m" for CPU, "<n>" for memory. */
void tw_vpa_quantity_format(tw_vpa_resource_t r, int64_t amount, char *buf, size_t bufsz);

/* One container's requests and limits (status resources already folded in by the caller). */
typedef struct tw_vpa_pod_spec_container {
    const char *name; /* borrowed */
    tw_vpa_rlist_t requests;
    tw_vpa_rlist_t limits;
} tw_vpa_pod_spec_container_t;

/* containerPolicies[] entry. */
typedef struct tw_vpa_container_policy {
    const char *name;           /* borrowed; "*" is the default for every other container */
    bool mode_off;              /* mode: Off */
    bool requests_only;         /* controlledValues: RequestsOnly */
    tw_vpa_rlist_t min_allowed; /* a 0 or absent amount is no bound */
    tw_vpa_rlist_t max_allowed;
} tw_vpa_container_policy_t;

/* PodResourcePolicy. */
typedef struct tw_vpa_policy {
    const tw_vpa_container_policy_t *containers; /* borrowed */
    size_t n;
} tw_vpa_policy_t;

/* GetContainerResourcePolicy: the entry named name, else the "*" entry, else NULL. */
const tw_vpa_container_policy_t *tw_vpa_policy_find(const tw_vpa_policy_t *p, const char *name);

/* A LimitRangeItem (one type: Container or Pod). */
typedef struct tw_vpa_limit_range {
    tw_vpa_rlist_t min, max, def; /* def: "default" (the default limit) */
} tw_vpa_limit_range_t;

/* One container's recommendation (RecommendedContainerResources). */
typedef struct tw_vpa_container_rec {
    const char *name; /* borrowed */
    tw_vpa_rlist_t bound[TW_VPA_NBOUNDS];
    tw_vpa_rlist_t uncapped;
} tw_vpa_container_rec_t;

/* The most annotations capping writes for one container. */
#define TW_VPA_MAX_ANNOTATIONS 12

/* Capping annotations of one container (static strings). */
typedef struct tw_vpa_annotations {
    const char *text[TW_VPA_MAX_ANNOTATIONS];
    size_t n;
} tw_vpa_annotations_t;

/* What tw_vpa_proportional_limit decided. */
typedef struct tw_vpa_limit_result {
    bool has_limit;  /* false: leave the limit unset */
    int64_t limit;   /* millicores or bytes */
    bool saturated;  /* the result overflowed int64 and was capped at INT64_MAX */
    bool annotation; /* upstream adds an annotation (no limit, zero recommendation, overflow) */
} tw_vpa_limit_result_t;

/*
 * getProportionalResourceLimit: newLimit = origLimit * rec / origRequest (floor), with the
 * LimitRange default when the container has no limit, limit = rec when there is no request or
 * request == limit. NULL pointers mean "absent".
 */
void tw_vpa_proportional_limit(tw_vpa_resource_t r, const int64_t *orig_limit,
                               const int64_t *orig_request, const int64_t *rec,
                               const int64_t *default_limit, tw_vpa_limit_result_t *out);

/* How tw_vpa_scale_cpu ended. */
typedef enum tw_vpa_scale_result {
    TW_VPA_SCALE_OK = 0,
    TW_VPA_SCALE_CAPPED,
    TW_VPA_SCALE_DIVISION_BY_ZERO,
} tw_vpa_scale_result_t;

/* scaleQuantityProportionallyCPU: q * result / base in millicores, floor (or ceil with
 * round_up); base 0 returns q unchanged. */
tw_vpa_scale_result_t tw_vpa_scale_cpu(int64_t q, int64_t base, int64_t result, bool round_up,
                                       int64_t *out);

/*
 * ApplyVPAPolicy (recommender side): per container, minAllowed then maxAllowed on target, lower
 * and upper bound; global_max (may be NULL) fills resources missing from the container's
 * maxAllowed. uncappedTarget is untouched. recs is changed in place.
 */
void tw_vpa_policy_apply(tw_vpa_container_rec_t *recs, size_t n, const tw_vpa_policy_t *policy,
                         const tw_vpa_rlist_t *global_max);

/*
 * applyPodLimitRange for one resource and one bound: scales the recommendations of the pod's
 * containers so their sum (and the sum of their proportional limits) fits the Pod LimitRange.
 * recs is changed in place; recommendations for containers not in the pod are left alone.
 */
void tw_vpa_pod_limit_range_apply(tw_vpa_container_rec_t *recs, size_t n,
                                  const tw_vpa_pod_spec_container_t *pod, size_t n_pod,
                                  const tw_vpa_limit_range_t *lr, tw_vpa_resource_t r,
                                  tw_vpa_bound_t b);

/*
 * cappingRecommendationProcessor.Apply (updater and admission side). recs (n, may be NULL with
 * has_recs false for a nil recommendation) is the VPA's recommendation; policy may be NULL.
 * pod_lr / container_lr NULL mean "no LimitRange". Writes up to n + n_pod entries to out and
 * ann (same index), sets *n_out, and returns 1 for a result, 0 for a nil result (no
 * recommendation and no policy).
 */
int tw_vpa_cap_apply(const tw_vpa_container_rec_t *recs, size_t n, bool has_recs,
                     const tw_vpa_policy_t *policy, const tw_vpa_pod_spec_container_t *pod,
                     size_t n_pod, const tw_vpa_limit_range_t *container_lr,
                     const tw_vpa_limit_range_t *pod_lr, tw_vpa_container_rec_t *out,
                     tw_vpa_annotations_t *ann, size_t *n_out);

/* ------------------------------------------------------------------------------------------ */
/* Checkpoint bytes (vpa_checkpoint.c)                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Largest encoded checkpoint tw_vpa_checkpoint_decode accepts. */
#define TW_VPA_CHECKPOINT_MAX_BYTES (1u << 20)

/*
 * Encodes a checkpoint (docs/autoscaling-vpa.md, "Checkpoint format"): magic, version, sample
 * bookkeeping, both histograms, CRC-32C. Returns a malloc'd buffer (*len bytes) the caller
 * frees, or NULL with TW_ELIMIT in err when it would exceed TW_VPA_CHECKPOINT_MAX_BYTES.
 */
uint8_t *tw_vpa_checkpoint_encode(const tw_vpa_aggregate_checkpoint_t *cp, size_t *len,
                                  tw_error_t *err);

/*
 * Decodes bytes written by tw_vpa_checkpoint_encode into *cp (call _fini afterwards, also on
 * error). Returns 0, or TW_EPARSE naming the offset and what was expected: bad magic,
 * truncation, trailing bytes, a CRC mismatch ("checkpoint is corrupt: CRC ..."), or counts that
 * do not fit.
 */
int tw_vpa_checkpoint_decode(const uint8_t *data, size_t len, tw_vpa_aggregate_checkpoint_t *cp,
                             tw_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Conformance case file (vpa_casefile.c)                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Largest case file tw_vpa_cases_run() accepts. */
#define TW_VPA_CASES_MAX_BYTES (64u * 1024u * 1024u)

/*
 * Loads a cases.json-format file (schema in ../shared/conformance/vpa/README.md), runs every
 * case and prints one JSON object per line to out: the case id and the computed fields under
 * the names the case's `expected` uses (recommender and updater kinds). A kind this module does
 * not run prints {"id", "skipped": reason} (none today). With check != 0 it compares against
 * `expected`, prints "FAIL <id>: <field>: expected <json>, got <json>" per failing field and
 * last "N passed, N failed", with ", N skipped" appended when some case was skipped. Returns 0 when
 * nothing failed (or check == 0), TW_EINVAL when some case failed, or another negative code (err
 * names the case id and the JSON path) when the file cannot be read or a case is malformed.
 */
int tw_vpa_cases_run(const char *path, int check, FILE *out, tw_error_t *err);

/* Same, from memory; name is used in messages (may be NULL). */
int tw_vpa_cases_run_buf(const char *data, size_t len, const char *name, int check, FILE *out,
                         tw_error_t *err);

/* ---- updater ---------------------------------------------------------------------------- */
/*
 * The VPA updater's decisions (vpa_updater.c; upstream pkg/updater/priority and
 * pkg/updater/restriction): which pods need new resources and in what order, whether the
 * VPA's evictionRequirements admit them, and whether a pod may be evicted or resized in place
 * without taking its replica group below the eviction tolerance. Pure like the rest: the
 * caller fetches pods, owners and recommendations, passes the time, and performs the Eviction
 * API call or the pods/resize patch itself. Quantities are this module's amounts (millicores,
 * bytes); docs/autoscaling-vpa.md ("Updater") explains the rules.
 */

/*
 * Updater flag defaults (updater/config/config.go, restriction/pods_inplace_restriction.go):
 * --min-replicas, --eviction-tolerance, --pod-update-threshold, the in-bounds eviction lifetime
 * (12 h), --evict-after-oom-threshold (10 min), DeferredResizeUpdateTimeout (5 min) and
 * InProgressResizeUpdateTimeout (1 h).
 */
#define TW_VPA_DEFAULT_MIN_REPLICAS 2
#define TW_VPA_DEFAULT_EVICTION_TOLERANCE 0.5
#define TW_VPA_DEFAULT_POD_UPDATE_THRESHOLD 0.1
#define TW_VPA_DEFAULT_POD_LIFETIME_MS INT64_C(43200000)
#define TW_VPA_DEFAULT_EVICT_AFTER_OOM_MS INT64_C(600000)
#define TW_VPA_DEFERRED_RESIZE_TIMEOUT_MS INT64_C(300000)
#define TW_VPA_IN_PROGRESS_RESIZE_TIMEOUT_MS INT64_C(3600000)

/* updatePolicy.updateMode. */
typedef enum tw_vpa_update_mode {
    TW_VPA_UPDATE_RECREATE = 0, /* the default when unset */
    TW_VPA_UPDATE_OFF,
    TW_VPA_UPDATE_INITIAL,
    TW_VPA_UPDATE_AUTO, /* deprecated; acts as Recreate */
    TW_VPA_UPDATE_IN_PLACE_OR_RECREATE,
    TW_VPA_UPDATE_IN_PLACE, /* needs the VPA feature gate InPlace */
} tw_vpa_update_mode_t;

/* Parses "Off", "Initial", "Recreate", "Auto", "InPlaceOrRecreate" or "InPlace" (exact case).
 * Returns 0, or TW_EINVAL naming the accepted values. */
int tw_vpa_update_mode_parse(const char *text, tw_vpa_update_mode_t *out, tw_error_t *err);

/* The manifest spelling of m ("Recreate", ...). */
const char *tw_vpa_update_mode_name(tw_vpa_update_mode_t m);

/* One entry of status.containerStatuses[], as far as the updater reads it. */
typedef struct tw_vpa_container_status {
    const char *name;             /* borrowed */
    const char *last_termination; /* lastTerminationState.terminated.reason; NULL: none */
    int64_t last_started_ms;      /* that termination's startedAt */
    int64_t last_finished_ms;     /* that termination's finishedAt */
} tw_vpa_container_status_t;

/* One entry of status.conditions[]. */
typedef struct tw_vpa_pod_condition {
    const char *type;    /* borrowed, e.g. "PodResizePending", "PodResizeInProgress" */
    bool status_true;    /* status == "True" */
    const char *reason;  /* NULL or "" when unset */
    const char *message; /* NULL or "" when unset */
} tw_vpa_pod_condition_t;

/*
 * A running pod as the updater sees it. All pointers are borrowed and must outlive every call
 * (and every tw_vpa_restriction_t) they are passed to.
 */
typedef struct tw_vpa_updater_pod {
    const char *name;
    const tw_vpa_pod_spec_container_t *containers; /* requests from status resources when set */
    size_t n_containers;
    const tw_vpa_container_status_t *statuses;
    size_t n_statuses;
    const char *observed_containers; /* the vpaObservedContainers annotation; NULL: absent */
    bool cpu_boost;                  /* has an annotation with prefix "vpaCpuStartupBoost/" */
    bool pending;                    /* status.phase == Pending */
    bool has_start_time;             /* status.startTime is set */
    int64_t start_ms;                /* status.startTime */
    const char *owner_kind;          /* the controller ownerReference; NULL: none */
    const char *owner_name;
    const tw_vpa_pod_condition_t *conditions;
    size_t n_conditions;
    bool restart_on_resize;         /* some container's resizePolicy says RestartContainer */
    bool has_last_in_place_attempt; /* the updater's record of its last resize of this pod */
    int64_t last_in_place_attempt_ms;
} tw_vpa_updater_pod_t;

/*
 * Whether the pod's vpaObservedContainers annotation covers container: true when the
 * annotation is absent or unparsable (a name that is not a DNS-1123 label, separator ", "),
 * false when it is empty or does not list container.
 */
bool tw_vpa_pod_observes(const tw_vpa_updater_pod_t *pod, const char *container);

/* PodPriority. */
typedef struct tw_vpa_pod_priority {
    bool outside_range;   /* some request is below lowerBound, above upperBound, or missing */
    bool scale_up;        /* some target is above its request (or the request is missing) */
    double resource_diff; /* sum over resources of |sum(requests) - sum(targets)| / sum(requests) */
} tw_vpa_pod_priority_t;

/*
 * GetUpdatePriority of pod against the (processed) recommendation recs (n_recs entries; NULL
 * with 0 for none). Only resources present in a container's target count; containers the
 * pod's vpaObservedContainers annotation leaves out are ignored. Sums are in milli-units with
 * the request clamped to >= 1.
 */
void tw_vpa_priority_get(const tw_vpa_updater_pod_t *pod, const tw_vpa_container_rec_t *recs,
                         size_t n_recs, tw_vpa_pod_priority_t *out);

/* PodPriority.Less: p is updated after other (scale-up first, then the larger diff). */
bool tw_vpa_priority_less(const tw_vpa_pod_priority_t *p, const tw_vpa_pod_priority_t *other);

/* RecommendationHasLowerResource: some target resource of a container in rec is strictly
 * lower than the same container's and resource's target in last. */
bool tw_vpa_recommendation_has_lower(const tw_vpa_container_rec_t *last, size_t n_last,
                                     const tw_vpa_container_rec_t *rec, size_t n_rec);

/* evictionRequirements[].changeRequirement. */
typedef enum tw_vpa_change_requirement {
    TW_VPA_TARGET_HIGHER_THAN_REQUESTS = 0,
    TW_VPA_TARGET_LOWER_THAN_REQUESTS,
} tw_vpa_change_requirement_t;

/* One evictionRequirements[] entry: holds when any listed resource changes that way. */
typedef struct tw_vpa_eviction_requirement {
    bool resources[TW_VPA_NRES];
    tw_vpa_change_requirement_t change;
} tw_vpa_eviction_requirement_t;

/*
 * The scaling-direction PodEvictionAdmission. has_reqs false (the VPA has no updatePolicy)
 * or no requirements admit the pod; otherwise it is admitted when some container with a
 * recommendation lacks a CPU or memory request, or satisfies every requirement (strict
 * comparison of target and request).
 */
bool tw_vpa_eviction_admit(const tw_vpa_updater_pod_t *pod,
                           const tw_vpa_eviction_requirement_t *reqs, size_t n_reqs, bool has_reqs,
                           const tw_vpa_container_rec_t *recs, size_t n_recs);

/* UpdateConfig; tw_vpa_update_config_init() fills the defaults. */
typedef struct tw_vpa_update_config {
    double min_change_priority;               /* --pod-update-threshold, 0.1 */
    int64_t pod_lifetime_update_threshold_ms; /* 12 h */
    int64_t evict_after_oom_threshold_ms;     /* 10 min */
    bool per_vpa_config; /* VPA feature gate PerVPAConfig (off): honour evictAfterOOMSeconds */
} tw_vpa_update_config_t;

/* Fills the defaults above. */
void tw_vpa_update_config_init(tw_vpa_update_config_t *cfg);

/* What the calculator needs of the VPA. */
typedef struct tw_vpa_update_vpa {
    tw_vpa_update_mode_t mode;
    const tw_vpa_policy_t *policy; /* borrowed; NULL: no resourcePolicy */
    bool has_evict_after_oom;      /* updatePolicy.evictAfterOOMSeconds is set */
    int64_t evict_after_oom_ms;
} tw_vpa_update_vpa_t;

/* The calculator's verdict on one pod. */
typedef enum tw_vpa_update_verdict {
    TW_VPA_UPDATE_ACCEPTED = 0,
    TW_VPA_UPDATE_INFEASIBLE_CACHED,   /* InPlace: nothing lower than the last infeasible try */
    TW_VPA_UPDATE_NO_START_TIME,       /* in range, no quick OOM, no status.startTime */
    TW_VPA_UPDATE_SHORT_LIVED,         /* in range, no quick OOM, younger than the threshold */
    TW_VPA_UPDATE_DIFF_TOO_LOW,        /* in range, no quick OOM, diff below the threshold */
    TW_VPA_UPDATE_QUICK_OOM_NO_CHANGE, /* quick OOM but the resources would not change */
} tw_vpa_update_verdict_t;

/* A short reason for logs ("pod accepted for update", "resource diff too low", ...). */
const char *tw_vpa_update_verdict_text(tw_vpa_update_verdict_t v);

/*
 * UpdatePriorityCalculator.AddPod for one pod: accepted when the pod is outside the
 * recommended range, had a quick OOM (a container the VPA controls was OOMKilled after running
 * less than the threshold) with a non-zero diff, or has lived past the lifetime threshold with
 * a diff >= min_change_priority. prio is the pod's priority (tw_vpa_priority_get on rec);
 * rec/n_rec the processed recommendation; infeasible/n_inf (has_inf) the last infeasible
 * in-place attempt, consulted only in InPlace mode. *quick_oom (may be NULL) tells whether a
 * quick OOM was seen.
 */
tw_vpa_update_verdict_t tw_vpa_update_check(const tw_vpa_update_config_t *cfg,
                                            const tw_vpa_update_vpa_t *vpa,
                                            const tw_vpa_updater_pod_t *pod,
                                            const tw_vpa_pod_priority_t *prio,
                                            const tw_vpa_container_rec_t *rec, size_t n_rec,
                                            const tw_vpa_container_rec_t *infeasible, size_t n_inf,
                                            bool has_inf, int64_t now_ms, bool *quick_oom);

/* One accepted pod, for sorting. */
typedef struct tw_vpa_update_candidate {
    size_t index; /* the caller's: which pod */
    tw_vpa_pod_priority_t priority;
} tw_vpa_update_candidate_t;

/* GetSortedPods' order: highest priority first; equal priorities keep ascending index. */
void tw_vpa_update_sort(tw_vpa_update_candidate_t *c, size_t n);

/* A pod owner: the controller a replica group is counted against. */
typedef struct tw_vpa_replica_owner {
    const char *kind; /* ReplicationController, ReplicaSet, StatefulSet, DaemonSet or Job */
    const char *name;
    int64_t replicas; /* spec.replicas, or status.numberReady for a DaemonSet; <= 0: unknown */
} tw_vpa_replica_owner_t;

/* Eviction and in-place restriction settings; tw_vpa_restriction_config_init() fills the
 * defaults. */
typedef struct tw_vpa_restriction_config {
    int min_replicas;                     /* --min-replicas, 2 */
    double eviction_tolerance;            /* --eviction-tolerance, 0.5 */
    bool in_place_skip_disruption_budget; /* --in-place-skip-disruption-budget, off */
    bool gate_in_place;                   /* VPA feature gate InPlace, off */
} tw_vpa_restriction_config_t;

/* Fills the defaults above. */
void tw_vpa_restriction_config_init(tw_vpa_restriction_config_t *cfg);

/* CanInPlaceUpdate's answer. */
typedef enum tw_vpa_in_place_decision {
    TW_VPA_IN_PLACE_APPROVED = 0,
    TW_VPA_IN_PLACE_DEFERRED,
    TW_VPA_IN_PLACE_EVICT,
    TW_VPA_IN_PLACE_INFEASIBLE,
    TW_VPA_IN_PLACE_INFEASIBLE_CACHED,
} tw_vpa_in_place_decision_t;

/* Upstream's name of d: "InPlaceApproved", "InPlaceDeferred", ... */
const char *tw_vpa_in_place_decision_name(tw_vpa_in_place_decision_t d);

/* One updater loop's replica-group bookkeeping for one VPA's pods (opaque). */
typedef struct tw_vpa_restriction tw_vpa_restriction_t;

/*
 * GetCreatorMaps: groups pods (n_pods, borrowed until _free) by their controller owner and
 * counts configured, running and pending replicas. A group is left out (its pods can be
 * neither evicted nor resized) when it has fewer live pods than the minimum - vpa_min_replicas
 * (updatePolicy.minReplicas; NULL: unset) replaces cfg->min_replicas - unless a pod of it has
 * a CPU startup boost, or mode is InPlace/InPlaceOrRecreate with the skip-disruption-budget
 * flag (then it is kept for in-place only). Groups whose owner is missing from owners, has no
 * replica count, or is of another kind are left out too. Pods without an owner are in no group.
 * Aborts on out-of-memory.
 */
tw_vpa_restriction_t *tw_vpa_restriction_new(const tw_vpa_restriction_config_t *cfg,
                                             const tw_vpa_updater_pod_t *pods, size_t n_pods,
                                             const tw_vpa_replica_owner_t *owners, size_t n_owners,
                                             tw_vpa_update_mode_t mode,
                                             const int *vpa_min_replicas);

/* Frees r; NULL is a no-op. */
void tw_vpa_restriction_free(tw_vpa_restriction_t *r);

/*
 * CanEvict for pods[pod]: false outside a group or in a group kept for in-place only; true
 * for a Pending pod; for a pod with a resize in progress, the in-place fallback rules; else
 * whether the group can lose one more pod. May record now_ms as the pod's last in-place attempt
 * when a resize is under way and none is recorded.
 */
bool tw_vpa_restriction_can_evict(tw_vpa_restriction_t *r, size_t pod, int64_t now_ms);

/*
 * Evict's checks, to run right before the Eviction API call: 0, TW_ENOTFOUND ("pod not suitable
 * for eviction NAME: not in replicated pods map") or TW_ESTATE ("cannot evict pod NAME:
 * eviction budget exceeded"). After the API call succeeded, call tw_vpa_restriction_evicted.
 */
int tw_vpa_restriction_evict_check(tw_vpa_restriction_t *r, size_t pod, int64_t now_ms,
                                   tw_error_t *err);

/* Counts a successful eviction against the pod's group (Pending pods do not count). */
void tw_vpa_restriction_evicted(tw_vpa_restriction_t *r, size_t pod);

/*
 * CanInPlaceUpdate for pods[pod] under mode (the VPA's own). rec/n_rec/has_rec is the VPA's raw
 * status.recommendation (has_rec false: nil); infeasible/n_inf/has_inf the pod's last
 * infeasible attempt (InPlace mode only). Falls back to eviction in modes other than InPlace
 * when a pending resize is Infeasible, Deferred for more than 5 min, in progress for more than
 * 1 h, or reports an error, and the group can lose a pod.
 */
tw_vpa_in_place_decision_t
tw_vpa_restriction_can_in_place(tw_vpa_restriction_t *r, size_t pod, tw_vpa_update_mode_t mode,
                                const tw_vpa_container_rec_t *rec, size_t n_rec, bool has_rec,
                                const tw_vpa_container_rec_t *infeasible, size_t n_inf,
                                bool has_inf, int64_t now_ms);

/* InPlaceUpdate's check (no budget check, like upstream): 0, or TW_ENOTFOUND ("pod not
 * suitable for in-place update NAME: not in replicated pods map"). */
int tw_vpa_restriction_in_place_check(tw_vpa_restriction_t *r, size_t pod, tw_error_t *err);

/* Counts a resize request the API accepted and records now_ms as the pod's last attempt. */
void tw_vpa_restriction_in_place_done(tw_vpa_restriction_t *r, size_t pod, int64_t now_ms);

/* The pod's last in-place attempt as the restriction knows it (false: none). */
bool tw_vpa_restriction_last_attempt(const tw_vpa_restriction_t *r, size_t pod, int64_t *out_ms);

/* ---- manifests ---------------------------------------------------------------------------- */
/*
 * autoscaling.k8s.io/v1 VerticalPodAutoscaler manifests (vpa_manifest.c) and the recommender's
 * and updater's options with the VPA's defaults; docs/autoscaling-vpa.md, "Running it".
 * Validation follows the VPA admission controller's ValidateVPA (admission-controller/resource/
 * vpa/handler.go) and the CRD's enums, with upstream's messages prefixed by the field path and
 * the file:line:col of the offending node. Pure (tw_vpa_manifests_load reads one file).
 */

struct tw_yaml_node;

/* Largest manifest file tw_vpa_manifests_load() reads. */
#define TW_VPA_MANIFEST_MAX_BYTES (4u * 1024u * 1024u)

/* spec.targetRef (CrossVersionObjectReference). Strings owned; "" when absent. */
typedef struct tw_vpa_target_ref {
    char *api_version;
    char *kind; /* required */
    char *name; /* required */
} tw_vpa_target_ref_t;

/* What a containerPolicies[] entry says beyond tw_vpa_container_policy_t. */
typedef struct tw_vpa_manifest_container {
    char *name;                 /* containerName (owned), or "*" */
    bool controls[TW_VPA_NRES]; /* controlledResources; both true when absent */
    int line, col;              /* the entry's position, for messages */
} tw_vpa_manifest_container_t;

/*
 * One parsed and validated VerticalPodAutoscaler. Read-only for callers; free with
 * tw_vpa_manifest_free(). policy points into the manifest itself (never copy it by value).
 */
typedef struct tw_vpa_manifest {
    char *name;                 /* metadata.name */
    char *namespace;            /* metadata.namespace; "default" when absent */
    tw_vpa_target_ref_t target; /* spec.targetRef */
    bool has_update_policy;     /* spec.updatePolicy was given */
    tw_vpa_update_mode_t mode;  /* updatePolicy.updateMode; Recreate when unset */
    bool mode_deprecated;       /* updateMode Auto: acts as Recreate, warning in `warning` */
    bool has_min_replicas;      /* updatePolicy.minReplicas */
    int32_t min_replicas;       /* > 0 */
    tw_vpa_eviction_requirement_t *eviction_reqs; /* updatePolicy.evictionRequirements */
    size_t n_eviction_reqs;
    bool has_resource_policy;                /* spec.resourcePolicy was given */
    tw_vpa_policy_t policy;                  /* containerPolicies (n == 0 when none) */
    tw_vpa_manifest_container_t *containers; /* policy.n entries, same order */
    char *recommender;                       /* spec.recommenders[0].name; "" when absent */
    char warning[200];                       /* "" or a deprecation notice to log once */
    char file[256];                          /* where the manifest came from */
    int line, col;                           /* position of the manifest's root mapping */
    tw_vpa_container_policy_t *policies_;    /* private storage behind policy */
} tw_vpa_manifest_t;

/*
 * Parses one manifest from a YAML node (an entry of autoscaling.vertical[]). file names the
 * input in errors (may be NULL); the node is only read during the call. The first problem
 * found is reported: shape (unknown keys, wrong types, bad quantities) or validation, e.g.
 * "spec.resourcePolicy.containerPolicies[0].maxAllowed.cpu: max resource for cpu is lower than
 * min" at that node's line and column. Returns 0 with *out set (free with tw_vpa_manifest_free)
 * or TW_EINVAL with err filled.
 */
int tw_vpa_manifest_from_node(const struct tw_yaml_node *root, const char *file,
                              tw_vpa_manifest_t **out, tw_error_t *err);

/* Frees a manifest. NULL is a no-op. */
void tw_vpa_manifest_free(tw_vpa_manifest_t *m);

/* The containerPolicies[] entry for container name (exact name, else "*"), or NULL; *index
 * (may be NULL) gets its index in m->containers. */
const tw_vpa_container_policy_t *tw_vpa_manifest_policy(const tw_vpa_manifest_t *m,
                                                        const char *name, size_t *index);

/* Whether container name gets a recommendation for resource r: its policy (if any) is not
 * mode Off and lists r in controlledResources. */
bool tw_vpa_manifest_controls(const tw_vpa_manifest_t *m, const char *name, tw_vpa_resource_t r);

/* The manifests of one file, in document order. */
typedef struct tw_vpa_manifest_list {
    tw_vpa_manifest_t **items; /* owned */
    size_t n;
} tw_vpa_manifest_list_t;

/*
 * Parses a YAML stream of one or more `---`-separated documents into list (zeroed or fini'd;
 * filled only on success). Empty documents and other kinds (the Deployment next to its VPA)
 * are skipped; a file without a VerticalPodAutoscaler, or two with the same namespace/name, is
 * an error. Positions are the file's lines.
 */
int tw_vpa_manifests_parse(const char *data, size_t len, const char *file,
                           tw_vpa_manifest_list_t *list, tw_error_t *err);

/* Reads path (at most TW_VPA_MANIFEST_MAX_BYTES) and parses it like tw_vpa_manifests_parse. */
int tw_vpa_manifests_load(const char *path, tw_vpa_manifest_list_t *list, tw_error_t *err);

/* Frees the manifests; list is empty afterwards. NULL is a no-op. */
void tw_vpa_manifest_list_fini(tw_vpa_manifest_list_t *list);

/* Recommender and updater settings (the upstream flags; tw_vpa_options_init: their defaults). */
typedef struct tw_vpa_options {
    int64_t interval_ms;           /* --recommender-interval (and the updater's), 1 min */
    int64_t history_length_ms;     /* --history-length, 8 d */
    int64_t history_resolution_ms; /* --history-resolution, 1 h */
    tw_vpa_recommender_config_t rec;
    tw_vpa_model_config_t model;
    tw_vpa_rlist_t global_max; /* --container-recommendation-max-allowed-{cpu,memory}; unset */
    tw_vpa_update_config_t update;
    tw_vpa_restriction_config_t restriction;
} tw_vpa_options_t;

/* Fills the defaults above (and those of the embedded configs). */
void tw_vpa_options_init(tw_vpa_options_t *o);

/*
 * Reads the options mapping n (null or absent: defaults kept) in the snake_case spelling of the
 * upstream flags (recommender_interval, history_length, history_resolution,
 * target_cpu_percentile, recommendation_lower_bound_cpu_percentile, ...; the list is in
 * docs/autoscaling-vpa.md). section names it in errors ("autoscaling.recommender"). Unknown
 * keys, percentiles outside (0, 1], non-positive durations and the like are TW_EINVAL at the
 * node's position.
 */
int tw_vpa_options_from_node(const struct tw_yaml_node *n, const char *file, const char *section,
                             tw_vpa_options_t *o, tw_error_t *err);

/* ---- admission ---------------------------------------------------------------------------- */
/*
 * The VPA admission controller's pod mutation (vpa_admission.c; upstream
 * pkg/admission-controller: logic/server.go, resource/pod/handler.go, resource/pod/patch/ and
 * resource/pod/recommendation/): an AdmissionReview v1 request for a Pod in, an AdmissionReview
 * v1 response out, whose JSONPatch sets each container's requests to the capped target of the
 * matching VPA's recommendation and scales its limits in proportion (controlledValues
 * RequestsAndLimits), and adds the vpaUpdates and vpaObservedContainers annotations. Like
 * upstream the webhook never blocks a pod: every failure (unparsable review, a resource that is
 * not pods/v1, a bad quantity, a failed lookup) is answered allowed without a patch and
 * reported in the result for the caller's log. Pure: the caller finds the VPA through a lookup
 * callback and does the HTTP.
 */

/* Largest AdmissionReview body tw_vpa_admission_review() reads. */
#define TW_VPA_ADMISSION_MAX_BYTES (3u * 1024u * 1024u)
/* Most containers (and most labels) a reviewed pod may have. */
#define TW_VPA_ADMISSION_MAX_CONTAINERS 256
#define TW_VPA_ADMISSION_MAX_LABELS 256

/* One metadata.labels entry. */
typedef struct tw_vpa_admission_label {
    const char *name;
    const char *value;
} tw_vpa_admission_label_t;

/*
 * The pod under review, as the lookup sees it. Every pointer is borrowed from the parsed
 * review and valid for the lookup call only.
 */
typedef struct tw_vpa_admission_pod {
    const char *uid;        /* request.uid */
    const char *operation;  /* request.operation ("CREATE"); "" when absent */
    const char *namespace;  /* request.namespace, else metadata.namespace; "" when neither */
    const char *name;       /* metadata.name, or generateName + "%" like upstream */
    const char *owner_kind; /* the controller ownerReference's kind; NULL: none */
    const char *owner_name;
    const tw_vpa_admission_label_t *labels;
    size_t n_labels;
    const tw_vpa_pod_spec_container_t *containers; /* spec.containers, in order */
    size_t n_containers;
} tw_vpa_admission_pod_t;

/*
 * What the lookup found: the VPA that controls the pod. Filled by the lookup; the pointers are
 * the lookup's and must stay valid until the release callback (if any) is called.
 */
typedef struct tw_vpa_admission_match {
    char vpa_name[254];                       /* metadata.name of the VPA */
    tw_vpa_update_mode_t mode;                /* Off is treated as "no VPA" */
    const tw_vpa_policy_t *policy;            /* resourcePolicy; NULL: none */
    const tw_vpa_container_rec_t *recs;       /* status.recommendation.containerRecommendations */
    size_t n_recs;                            /* entries in recs */
    bool has_recs;                            /* false: status.recommendation is nil */
    const tw_vpa_limit_range_t *container_lr; /* the namespace's Container LimitRange or NULL */
    const tw_vpa_limit_range_t *pod_lr;       /* the namespace's Pod LimitRange or NULL */
} tw_vpa_admission_match_t;

/*
 * Finds the VPA controlling pod. Returns 1 with *out filled, 0 when no VPA matches, or a
 * negative TW_E* code (err says why; the review is then answered allowed without a patch).
 */
typedef int (*tw_vpa_admission_lookup_fn)(void *ctx, const tw_vpa_admission_pod_t *pod,
                                          tw_vpa_admission_match_t *out, tw_error_t *err);

/* Called once after a lookup that returned 1, when the result no longer needs *m. */
typedef void (*tw_vpa_admission_release_fn)(void *ctx, tw_vpa_admission_match_t *m);

/* How a review ended (the VPA admission controller's admission status). */
typedef enum tw_vpa_admission_outcome {
    TW_VPA_ADMISSION_APPLIED = 0, /* a patch was returned */
    TW_VPA_ADMISSION_SKIPPED,     /* no VPA, mode Off, or nothing to change */
    TW_VPA_ADMISSION_ERROR,       /* allowed without a patch; message says why */
} tw_vpa_admission_outcome_t;

/* "applied", "skipped" or "error" (label values for metrics). */
const char *tw_vpa_admission_outcome_name(tw_vpa_admission_outcome_t o);

/* The answer to one review. Free the strings with tw_vpa_admission_result_fini(). */
typedef struct tw_vpa_admission_result {
    tw_vpa_admission_outcome_t outcome;
    char *response;      /* the AdmissionReview v1 JSON to send (malloc'd, NUL-terminated) */
    size_t response_len; /* bytes in response, without the NUL */
    char *patch;         /* the JSON patch before base64 (malloc'd), or NULL when none */
    char pod[320];       /* "namespace/name" of the reviewed pod ("" when unparsable) */
    char vpa_name[254];  /* the matching VPA, or "" */
    char message[512];   /* outcome ERROR: what went wrong; otherwise "" */
} tw_vpa_admission_result_t;

/*
 * Reviews the AdmissionReview v1 JSON body[0..len): parses request.uid, request.resource
 * (must be group "" resource "pods" version "v1") and request.object (a Pod: name or
 * generateName, namespace, labels, annotations, the controller ownerReference, and each
 * container's resources.requests/limits cpu and memory), asks lookup for the VPA, applies
 * tw_vpa_cap_apply() to its recommendation, and builds the response
 * {"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid","allowed":
 * true[,"patch":base64,"patchType":"JSONPatch"]}}. The patch, in upstream's order: an empty
 * /metadata/annotations when the pod has none; per container with a recommendation (and per
 * container without any resources) the `add` ops of resources, requests, limits (cpu before
 * memory); /metadata/annotations/vpaUpdates ("Pod resources updated by NAME: container 0: cpu
 * request, memory request, cpu limit"); /metadata/annotations/vpaObservedContainers (the
 * container names joined by ", "). Quantities are written in canonical decimal form ("250m",
 * "1", "262144k").
 *
 * lookup is required; release may be NULL. Returns 0 with *out filled (also for outcome
 * ERROR: the response is still the one to send), or TW_EINVAL when len exceeds
 * TW_VPA_ADMISSION_MAX_BYTES (the caller answers 413). *out is overwritten; call _fini.
 */
int tw_vpa_admission_review(const char *body, size_t len, tw_vpa_admission_lookup_fn lookup,
                            tw_vpa_admission_release_fn release, void *ctx,
                            tw_vpa_admission_result_t *out, tw_error_t *err);

/* Frees the strings of r and zeroes it. NULL is a no-op. */
void tw_vpa_admission_result_fini(tw_vpa_admission_result_t *r);

/*
 * Formats amount (millicores for CPU, bytes for memory) the way resource.Quantity.String()
 * writes a DecimalSI quantity: the largest suffix among m, "", k, M, G, T, P, E that keeps
 * the number whole ("1500m", "2", "262144k", "0").
 */
void tw_vpa_admission_quantity(tw_vpa_resource_t r, int64_t amount, char *buf, size_t bufsz);

/* Standard base64 (RFC 4648, padded) of data[0..len) as a malloc'd NUL-terminated string. */
char *tw_vpa_admission_base64(const void *data, size_t len);

#endif
