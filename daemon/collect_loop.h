/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collect_loop.h - the collector loop: one thread that reads cgroups and /proc every interval
 * and publishes the result as an immutable, reference-counted snapshot for /metrics.
 *
 * Ticks are aligned to multiples of the interval on the wall clock (a 10 s interval collects at
 * :00, :10, ...), and the first collection runs as soon as the loop starts. Each collection
 * fills fresh metric sets; the finished snapshot is swapped in under a mutex, so readers never
 * see a half-filled set and never wait for a collection. Collector failures are logged
 * rate-limited (collectd's c_complain: once per distinct message, then at most every 5 minutes;
 * a recovery is logged once) and counted in the tidewatch_collector_* self-metrics.
 *
 * Thread model: configure/start/stop/free from one controlling thread; snapshot, ready and
 * collect_metrics from any thread.
 */
#ifndef TW_DAEMON_COLLECT_LOOP_H
#define TW_DAEMON_COLLECT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/cgroup/cgroup.h"
#include "collector/procfs/procfs.h"
#include "common/error.h"
#include "common/metric_set.h"
#include "common/sink.h"

/* What to collect. Strings are copied by the collectors. */
typedef struct tw_collect_loop_options {
    int64_t interval_ms; /* > 0 */
    bool cgroup_enabled;
    tw_cgroup_options_t cgroup;
    bool procfs_enabled;
    tw_procfs_options_t procfs;
} tw_collect_loop_options_t;

/* A published collection: the metric sets of one tick (cgroup first, then procfs; a disabled
 * collector has no set). Immutable; shared by reference. */
typedef struct tw_collect_snapshot tw_collect_snapshot_t;

/* The sets of a snapshot (valid while the caller holds its reference). */
const tw_mset_t *const *tw_collect_snapshot_sets(const tw_collect_snapshot_t *s, size_t *n);
/* Collection time (ms since the epoch). */
int64_t tw_collect_snapshot_time_ms(const tw_collect_snapshot_t *s);
/* Drops a reference; the last one frees. NULL is a no-op. */
void tw_collect_snapshot_unref(tw_collect_snapshot_t *s);

typedef struct tw_collect_loop tw_collect_loop_t;

/* Creates an unconfigured, stopped loop. */
tw_collect_loop_t *tw_collect_loop_new(void);

/*
 * Creates the collectors o asks for and installs them (waiting for a collection in progress to
 * end), then wakes the loop so the next collection runs at once. On error (a collector cannot
 * be created; the message names the root) the loop keeps its previous collectors and interval.
 * The cgroup collector previously returned by tw_collect_loop_cgroup() is freed: stop whatever
 * borrows it (the pod fetcher) first.
 */
int tw_collect_loop_configure(tw_collect_loop_t *l, const tw_collect_loop_options_t *o,
                              tw_error_t *err);

/*
 * Every collection is also appended through sink (borrowed; NULL: none) with the collection
 * time as timestamp, after its snapshot is published. Samples the sink refuses as out of order
 * or duplicate are skipped and counted; a failed commit is logged rate-limited and counted in
 * tidewatch_collector_storage_failures_total. Call before start.
 */
void tw_collect_loop_set_sink(tw_collect_loop_t *l, const tw_sink_t *sink);

/* Starts the thread. Returns 0 or -errno. */
int tw_collect_loop_start(tw_collect_loop_t *l, tw_error_t *err);

/* Runs one collection on the caller's thread at now_ms (for tests and for a loop that is not
 * started). Returns 0 when every enabled collector ran. */
int tw_collect_loop_run_once(tw_collect_loop_t *l, int64_t now_ms);

/* Stops the thread, waiting for a collection in progress. Idempotent. */
void tw_collect_loop_stop(tw_collect_loop_t *l);

/* Stops and frees. NULL is a no-op. */
void tw_collect_loop_free(tw_collect_loop_t *l);

/* The latest snapshot with a new reference (caller unrefs), or NULL before the first
 * collection. Thread-safe. */
tw_collect_snapshot_t *tw_collect_loop_snapshot(tw_collect_loop_t *l);

/* Whether a collection has finished since the loop was created. Thread-safe. */
bool tw_collect_loop_ready(tw_collect_loop_t *l);

/* The current cgroup collector (borrowed, NULL when disabled); valid until the next
 * tw_collect_loop_configure() or free. */
tw_cgroup_collector_t *tw_collect_loop_cgroup(tw_collect_loop_t *l);

/*
 * Adds tidewatch_collector_duration_seconds, _collections_total, _errors_total,
 * _last_success_timestamp_seconds, _samples_rejected_total and _storage_failures_total, labelled
 * {collector="cgroup"|"procfs"}, to out. Counters survive reconfiguration. Thread-safe.
 */
void tw_collect_loop_collect_metrics(tw_collect_loop_t *l, tw_mset_t *out);

#endif
