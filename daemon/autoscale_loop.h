/* SPDX-License-Identifier: Apache-2.0 */
/*
 * autoscale_loop.h - the autoscaler thread: every sync period, for each HorizontalPodAutoscaler
 * of autoscaling.horizontal[], read the workload's scale through the orchestrator driver, list
 * its pods by the scale's selector, fetch every metric through the query source, run the HPA
 * controller (autoscaler/hpa) and write the new replica count back with the observed version.
 *
 * One pass per HPA (the order of horizontal.go's reconcileAutoscaler):
 *   1. leader check (a coordination.k8s.io/v1 Lease when autoscaling.leader_election is on;
 *      otherwise this replica always acts);
 *   2. tw_orch_scale_update(): get_scale, then in its compute step list_pods(selector),
 *      tw_scalers_fetch() for each metric and tw_hpa_reconcile(); a changed count is written
 *      with the resourceVersion just read; a 409 reads, lists, fetches and decides again (at
 *      most autoscaling.driver.max_conflicts times), so no decision is made on a stale scale;
 *   3. tw_hpa_rescale_done() with the outcome of the write.
 * A failed read (scale, pods) skips the pass: nothing is decided. A metric that cannot be
 * fetched is "missing" and the controller holds the replicas (ScalingActive=False). Every
 * action and every refusal is logged in logfmt with its reason (a refusal that repeats with the
 * same reason is logged again only once a minute), counted on /metrics, and kept in a ring of
 * the last autoscaling.max_decisions decisions per HPA with their inputs (pods, metric values,
 * queries), which GET /api/v1/autoscalers shows.
 *
 * The Lease is renewed on its own retry period, between passes and whether or not any HPA is
 * configured, so the vertical autoscaler (which has no Lease of its own) can follow it through
 * tw_autoscale_loop_is_leader().
 *
 * Thread model: new/configure/start/stop/free from the controlling (main) thread; the loop
 * runs its passes on its own thread; collect_metrics, status_json and run_once from any thread
 * (they take the status lock only briefly; run_once waits for a pass in progress);
 * is_leader from any thread, without a lock.
 */
#ifndef TW_DAEMON_AUTOSCALE_LOOP_H
#define TW_DAEMON_AUTOSCALE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/metric_set.h"
#include "common/query_source.h"
#include "config.h"

struct tw_orch_driver;

typedef struct tw_autoscale_loop tw_autoscale_loop_t;

/* Creates a stopped loop with no autoscalers. */
tw_autoscale_loop_t *tw_autoscale_loop_new(void);

/*
 * Installs the autoscaling settings of c (its horizontal[] manifests, metric_queries, driver,
 * controller and leader election settings, and the kubernetes: section) and the query source
 * qs (copied; its ctx must outlive the loop or the next configure). c is borrowed: it must stay
 * alive until the next configure or free, because the loop reads the manifests in place. Waits
 * for a pass in progress. Creates the driver (and the Lease client) first: on error (a bad
 * kubeconfig, an unusable driver option; err names it) the loop keeps its previous settings.
 * The state of an autoscaler (recommendation history, conditions, decisions, counters) is kept
 * across configures when its namespace/name stays.
 */
int tw_autoscale_loop_configure(tw_autoscale_loop_t *l, const tw_config_t *c,
                                const tw_query_source_t *qs, tw_error_t *err);

/* Starts the thread (first pass at once). Returns 0 or -errno. */
int tw_autoscale_loop_start(tw_autoscale_loop_t *l, tw_error_t *err);

/* Runs one pass over every autoscaler on the caller's thread at now_ms (tests; a loop that is
 * not started). Returns the number of autoscalers whose pass ended in an error. */
int tw_autoscale_loop_run_once(tw_autoscale_loop_t *l, int64_t now_ms);

/* Stops the thread (waiting for a pass in progress) and gives up the Lease. Idempotent. */
void tw_autoscale_loop_stop(tw_autoscale_loop_t *l);

/* Stops and frees. NULL is a no-op. */
void tw_autoscale_loop_free(tw_autoscale_loop_t *l);

/*
 * Whether this replica may act on workloads now: true when leader election is off; with it,
 * true while the Lease this loop runs is held, i.e. until the renew deadline after the last
 * successful renewal (client-go's notion), so a loop thread that stalls stops counting as leader
 * on time. The one Lease of the process: the VPA loop asks here (tw_vpa_loop_set_leader) rather
 * than running its own election. Lock-free (an atomic), callable from any thread; reads the
 * clock.
 */
bool tw_autoscale_loop_is_leader(tw_autoscale_loop_t *l);

/*
 * Adds the autoscaler families to out: tidewatch_autoscaler_desired_replicas,
 * _current_replicas, _metric_value{namespace,name,metric}, _scale_operations_total{namespace,
 * name,result} (result: success, dryrun, conflict, error), _limited_total{namespace,name,
 * direction,reason}, _refusals_total{namespace,name,reason}, _passes_total,
 * _leader and _last_pass_timestamp_seconds. Thread-safe.
 */
void tw_autoscale_loop_collect_metrics(tw_autoscale_loop_t *l, tw_mset_t *out);

/*
 * Appends the data of GET /api/v1/autoscalers as JSON to out: {"driver", "leader",
 * "syncPeriodSeconds", "autoscalers": [{"namespace", "name", "spec", "status", "conditions",
 * "decisions"}]} (docs/autoscaling-hpa.md, "Running it"). Returns 0 or TW_ELIMIT from out.
 * Thread-safe.
 */
int tw_autoscale_loop_status_json(tw_autoscale_loop_t *l, tw_buf_t *out);

/*
 * Creates the driver of c's autoscaling.driver section as type (NULL: the configured type);
 * *reads gets the kubernetes driver a dryrun reads through when `kubernetes:` is configured
 * (NULL otherwise), to be freed after *out. The one place the config becomes a driver: the
 * vertical loop asks for its own with the type it supports.
 */
int tw_autoscale_driver_new(const tw_config_t *c, const char *type, struct tw_orch_driver **out,
                            struct tw_orch_driver **reads, tw_error_t *err);

#endif
