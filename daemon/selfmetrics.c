/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selfmetrics.c - tidewatch's own metrics (see selfmetrics.h). Stateless: everything is read
 * from the sources on each /metrics request. Thread-safe.
 */
#include "selfmetrics.h"

#include "build_info.h"
#include "collect_loop.h"
#include "collector/procfs/procfs.h"
#include "collector/remote/remote.h"
#include "collector/scrape/scrape.h"
#include "collector/tsdb/tsdb.h"

void tw_selfmetrics_build_info(tw_mset_t *out)
{
    static const tw_label_t labels[] = {
        {"build_type", TW_BUILD_TYPE},
        {"revision", TW_REVISION},
        {"version", TW_VERSION},
    };
    tw_mfamily_t *f =
        tw_mset_family(out, "tidewatch_build_info", TW_MTYPE_GAUGE,
                       "A metric with a constant '1' value labeled by version, revision and "
                       "build type from which tidewatch was built.",
                       NULL);
    tw_mset_add_borrowed(out, f, "", labels, 3, 1, TW_NO_TIMESTAMP);
}

void tw_selfmetrics_reload(tw_mset_t *out, bool ok, int64_t success_ms)
{
    tw_mfamily_t *f =
        tw_mset_family(out, "tidewatch_config_last_reload_successful", TW_MTYPE_GAUGE,
                       "Whether the last configuration reload attempt was successful.", NULL);
    tw_mset_add_borrowed(out, f, "", NULL, 0, ok ? 1 : 0, TW_NO_TIMESTAMP);
    f = tw_mset_family(out, "tidewatch_config_last_reload_success_timestamp_seconds",
                       TW_MTYPE_GAUGE, "Timestamp of the last successful configuration reload.",
                       "seconds");
    tw_mset_add_borrowed(out, f, "", NULL, 0, (double)success_ms / 1000.0, TW_NO_TIMESTAMP);
}

void tw_selfmetrics_collectors(tw_mset_t *out, const char *const *names,
                               const tw_collector_stats_t *stats, size_t n)
{
    tw_mfamily_t *dur = tw_mset_family(out, "tidewatch_collector_duration_seconds", TW_MTYPE_GAUGE,
                                       "Duration of the collector's last collection.", "seconds");
    tw_mfamily_t *runs = tw_mset_family(out, "tidewatch_collector_collections_total",
                                        TW_MTYPE_COUNTER, "Collections the collector ran.", NULL);
    tw_mfamily_t *errs =
        tw_mset_family(out, "tidewatch_collector_errors_total", TW_MTYPE_COUNTER,
                       "Files the collector could not read or parse, plus collections that "
                       "failed as a whole.",
                       NULL);
    tw_mfamily_t *last =
        tw_mset_family(out, "tidewatch_collector_last_success_timestamp_seconds", TW_MTYPE_GAUGE,
                       "Time the collector's last successful collection ended.", "seconds");
    tw_mfamily_t *rej =
        tw_mset_family(out, "tidewatch_collector_samples_rejected_total", TW_MTYPE_COUNTER,
                       "Collected samples storage refused as out of order or duplicate.", NULL);
    tw_mfamily_t *sfail =
        tw_mset_family(out, "tidewatch_collector_storage_failures_total", TW_MTYPE_COUNTER,
                       "Collections that could not be written to storage.", NULL);
    for (size_t i = 0; i < n; i++) {
        if (!stats[i].ran) {
            continue;
        }
        tw_label_t l = {"collector", names[i]};
        tw_mset_add(out, dur, "", &l, 1, stats[i].last_duration_s, TW_NO_TIMESTAMP);
        tw_mset_add(out, runs, "", &l, 1, (double)stats[i].collections, TW_NO_TIMESTAMP);
        tw_mset_add(out, errs, "", &l, 1, (double)stats[i].errors, TW_NO_TIMESTAMP);
        tw_mset_add(out, last, "", &l, 1, (double)stats[i].last_success_ms / 1000.0,
                    TW_NO_TIMESTAMP);
        tw_mset_add(out, rej, "", &l, 1, (double)stats[i].rejected, TW_NO_TIMESTAMP);
        tw_mset_add(out, sfail, "", &l, 1, (double)stats[i].storage_failures, TW_NO_TIMESTAMP);
    }
}

void tw_selfmetrics_collect(const tw_selfmetrics_sources_t *src, tw_mset_t *out)
{
    tw_selfmetrics_build_info(out);
    tw_selfmetrics_reload(out, src->reload_ok, src->reload_success_ms);
    if (src->loop != NULL) {
        tw_collect_loop_collect_metrics(src->loop, out);
    }
    if (src->proc_root != NULL) {
        /* A failure leaves the process_* families out; there is nobody to tell but the
         * scraper, which sees them missing. */
        (void)tw_procfs_process_collect(src->proc_root, 0, out, NULL);
    }
    if (src->http != NULL) {
        tw_http_server_collect(src->http, out);
    }
    if (src->pods_fetcher != NULL) {
        tw_cgroup_pods_fetcher_collect(src->pods_fetcher, out);
    }
    if (src->tsdb != NULL) {
        tw_tsdb_collect_metrics(src->tsdb, out);
    }
    if (src->scrape != NULL) {
        tw_scrape_manager_collect(src->scrape, out);
    }
    if (src->remote_write != NULL) {
        tw_remote_write_handler_collect(src->remote_write, out);
    }
}
