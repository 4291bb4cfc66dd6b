/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_loop.h - the vertical autoscaler's thread: every recommender interval (1 min), for each
 * VerticalPodAutoscaler of autoscaling.vertical[], feed the container series of its target's
 * pods into the VPA recommender model (autoscaler/vpa), compute the recommendations, write the
 * checkpoints, and run the updater step through the orchestrator driver.
 *
 * One pass per VPA:
 *   1. pods: with a driver that can list pods (kubernetes, or dryrun reading through
 *      kubernetes:) the target's scale gives the selector and list_pods the pods; without one
 *      (the dryrun driver alone) the series are matched by namespace and a pod-name pattern of
 *      the target (Deployment "<name>-<hash>-<suffix>", StatefulSet "<name>-<ordinal>", ...);
 *   2. first pass only: the checkpoints under <storage.tsdb.path>/vpa/ are read (a corrupt one
 *      is logged and ignored), then the TSDB's history (recommender.history_length, 8 d, at
 *      history_resolution, 1 h: subqueries through the query source) is fed for the time after
 *      each checkpoint's last sample, so nothing is counted twice;
 *   3. live samples through the query source: the CPU usage rate and the memory working-set
 *      peak since the last pass per (pod, container), and OOM kills from
 *      container_oom_events_total;
 *   4. the recommendation (target, lowerBound, upperBound, uncappedTarget per container),
 *      published for /api/v1/recommendations and /metrics; the checkpoints are rewritten;
 *   5. the updater (updateMode Recreate, Auto, InPlaceOrRecreate; Off and Initial only
 *      record): the pure updater logic picks pods and the driver resizes them in place
 *      (pods/resize) or evicts them (the Eviction API); Recreate evicts only while the admission
 *      webhook answers (tw_vpa_loop_set_webhook), otherwise it patches the workload's pod
 *      template once. Every update and every refusal is logged with its reason. Only the
 *      leader updates (tw_vpa_loop_set_leader: the autoscaling Lease of the HPA loop): a
 *      replica that is not the leader does steps 1-4 (so its model is warm and its admission
 *      webhook answers with current recommendations when it takes over) but resizes, evicts
 *      and patches nothing, as upstream's vpa-updater does nothing without its Lease.
 *
 * Thread model: new/configure/start/stop/free from the controlling thread; passes on the
 * loop's thread; collect_metrics, recommendations_json, find and run_once from any thread.
 */
#ifndef TW_DAEMON_VPA_LOOP_H
#define TW_DAEMON_VPA_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoscaler/vpa/vpa.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/metric_set.h"
#include "common/query_source.h"
#include "config.h"

typedef struct tw_vpa_loop tw_vpa_loop_t;

/* Creates a stopped loop with no VPAs. */
tw_vpa_loop_t *tw_vpa_loop_new(void);

/*
 * Installs c's autoscaling.vertical[] (borrowed: c must stay alive until the next configure or
 * free), autoscaling.recommender, the driver settings (a driver of the loop's own is created:
 * drivers are single-threaded), storage.tsdb.path (checkpoints go to <path>/vpa/) and the query
 * source qs (copied; its ctx must outlive the loop or the next configure). The model state of a
 * VPA whose namespace/name stays is kept. On error (a driver that cannot be created) the loop
 * keeps its previous settings.
 */
int tw_vpa_loop_configure(tw_vpa_loop_t *l, const tw_config_t *c, const tw_query_source_t *qs,
                          tw_error_t *err);

/* Whether the admission webhook is configured and answering (eviction needs it). */
typedef bool (*tw_vpa_webhook_ready_fn)(void *ctx);

/* Installs the webhook check (fn NULL: none, so Recreate patches the pod template). ctx is
 * borrowed. Call before start. */
void tw_vpa_loop_set_webhook(tw_vpa_loop_t *l, tw_vpa_webhook_ready_fn fn, void *ctx);

/* Whether this replica is the leader and its updater may act (called from the loop's thread). */
typedef bool (*tw_vpa_leader_fn)(void *ctx);

/*
 * Installs the leader check, asked before each VPA's updater step (fn NULL: always the leader,
 * as without leader election). While it answers false, recommendations are still computed,
 * published and checkpointed, but no pod is resized or evicted and no template patched; each
 * change of the answer is logged once ("Not the leader: the VPA updater waits", "Became
 * leader: the VPA updater acts from this replica"). ctx is borrowed and must outlive the loop's
 * thread (stop the loop first). Call before start.
 */
void tw_vpa_loop_set_leader(tw_vpa_loop_t *l, tw_vpa_leader_fn fn, void *ctx);

/* Starts the thread (first pass at once). Returns 0 or -errno. */
int tw_vpa_loop_start(tw_vpa_loop_t *l, tw_error_t *err);

/* One pass over every VPA on the caller's thread at now_ms (tests). Returns the number of VPAs
 * whose pass failed (a query or driver error). */
int tw_vpa_loop_run_once(tw_vpa_loop_t *l, int64_t now_ms);

/* Stops the thread (waiting for a pass in progress). Idempotent. */
void tw_vpa_loop_stop(tw_vpa_loop_t *l);

/* Stops and frees. NULL is a no-op. */
void tw_vpa_loop_free(tw_vpa_loop_t *l);

/*
 * Adds tidewatch_vpa_recommendation{namespace,vpa,container,resource,bound} (cores, bytes;
 * bound: target, lowerBound, upperBound, uncappedTarget), tidewatch_vpa_updater_actions_total{
 * namespace,vpa,action} (action: evict, resize, template_patch, refused, failed),
 * tidewatch_vpa_checkpoint_errors_total{op}, tidewatch_vpa_query_errors_total,
 * tidewatch_vpa_updater_leader (1 when the last updater step found this replica the leader),
 * tidewatch_vpa_passes_total and tidewatch_vpa_last_pass_timestamp_seconds. Thread-safe.
 */
void tw_vpa_loop_collect_metrics(tw_vpa_loop_t *l, tw_mset_t *out);

/*
 * Appends the data of GET /api/v1/recommendations as JSON to out: {"recommenderIntervalSeconds",
 * "historyLengthSeconds", "verticalPodAutoscalers": [{"namespace", "name", "targetRef",
 * "updateMode", "lastUpdate", "containerRecommendations": [{"containerName", "target",
 * "lowerBound", "upperBound", "uncappedTarget", "historyLengthSeconds", "confidence",
 * "totalSamples"}]}]} with quantities as Kubernetes writes them ("250m", "262144000").
 * Returns 0 or TW_ELIMIT. Thread-safe.
 */
int tw_vpa_loop_recommendations_json(tw_vpa_loop_t *l, tw_buf_t *out);

/* One container's published recommendation. */
typedef struct tw_vpa_loop_rec {
    char container[64];
    tw_vpa_rlist_t bound[TW_VPA_NBOUNDS];
    tw_vpa_rlist_t uncapped;
    double confidence;  /* tw_vpa_aggregate_confidence over the CPU confidence interval */
    int64_t history_ms; /* last sample - first sample */
    int64_t samples;
} tw_vpa_loop_rec_t;

/*
 * The recommendation of the VPA whose targetRef is kind/name in namespace (for the admission
 * webhook): copies up to max entries to out and returns the number of containers, 0 when the
 * VPA has none yet, or -1 when no VPA targets that workload. *mode (may be NULL) receives its
 * updateMode. Thread-safe.
 */
int tw_vpa_loop_find(tw_vpa_loop_t *l, const char *namespace, const char *kind, const char *name,
                     tw_vpa_loop_rec_t *out, size_t max, tw_vpa_update_mode_t *mode);

/*
 * One-shot recommender over a query source, for `tidewatch autoscaler recommend`: rebuilds the
 * model from the history of the container series that matchers (PromQL label matchers without
 * braces, e.g. `namespace="shop",pod=~"api-.*"`) select, as of now_ms, with the options o
 * (NULL: defaults), grouping by namespace and container, and appends one JSON object per line
 * to out: {"namespace", "container", "target", "lowerBound", "upperBound", "uncappedTarget",
 * "historyLengthSeconds", "confidence", "totalSamples"}. Returns 0 or a query error.
 */
int tw_vpa_recommend_history(const tw_query_source_t *qs, const char *matchers,
                             const tw_vpa_options_t *o, int64_t now_ms, tw_buf_t *out,
                             tw_error_t *err);

#endif
