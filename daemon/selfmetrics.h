/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selfmetrics.h - tidewatch's own metrics on /metrics: build info, config reload status,
 * collector statistics, process_* metrics, HTTP request counts and the pod fetcher's counters.
 *
 * The families are built per request into a fresh metric set by the /metrics handler, from the
 * sources below; nothing here keeps state. Thread-safe (each source is).
 */
#ifndef TW_DAEMON_SELFMETRICS_H
#define TW_DAEMON_SELFMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/cgroup/cgroup.h"
#include "common/http_server.h"
#include "common/metric_set.h"

struct tw_collect_loop;

/* One collector's statistics, kept by the collector loop. */
typedef struct tw_collector_stats {
    uint64_t collections;      /* collections run */
    uint64_t errors;           /* files that failed, plus collections that failed as a whole */
    double last_duration_s;    /* duration of the last collection */
    int64_t last_success_ms;   /* end of the last successful collection; 0: never */
    bool ran;                  /* at least one collection ran */
    uint64_t rejected;         /* samples storage refused (out of order, duplicate) */
    uint64_t storage_failures; /* collections storage failed to take */
} tw_collector_stats_t;

/* The things whose metrics a /metrics request adds. NULL pointers are skipped. */
typedef struct tw_selfmetrics_sources {
    struct tw_collect_loop *loop;
    tw_http_server_t *http;
    tw_cgroup_pods_fetcher_t *pods_fetcher;
    struct tw_tsdb *tsdb;
    struct tw_scrape_manager *scrape;
    struct tw_remote_write_handler *remote_write;
    const char *proc_root;     /* for process_*; NULL skips them */
    bool reload_ok;            /* the last reload (or the start) succeeded */
    int64_t reload_success_ms; /* time of the last successful load */
} tw_selfmetrics_sources_t;

/* Adds tidewatch_build_info{version,revision,build_type} 1 (gauge). */
void tw_selfmetrics_build_info(tw_mset_t *out);

/* Adds tidewatch_config_last_reload_successful and
 * tidewatch_config_last_reload_success_timestamp_seconds (gauges). */
void tw_selfmetrics_reload(tw_mset_t *out, bool ok, int64_t success_ms);

/* Adds the tidewatch_collector_* families for names[i] with stats[i], i < n. Collectors that
 * never ran get no samples. */
void tw_selfmetrics_collectors(tw_mset_t *out, const char *const *names,
                               const tw_collector_stats_t *stats, size_t n);

/* Adds everything the sources provide (build info and reload status always). */
void tw_selfmetrics_collect(const tw_selfmetrics_sources_t *src, tw_mset_t *out);

#endif
