/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape.h - the scraper: Prometheus `scrape_configs`, relabeling, targets (static and file_sd),
 * and the scrape manager that pulls /metrics endpoints and appends what it reads into a sink.
 *
 * Configs are parsed from the daemon's YAML node tree (common/yaml_tree.h) with Prometheus'
 * names, defaults and validation, and are immutable, reference-counted snapshots afterwards. The
 * manager owns one thread that runs every scrape through one libcurl multi handle; apply() hands
 * it a new set of configs (a reload) and returns once the thread has synced its targets. Each
 * scrape is one sink transaction holding the target's samples, the synthetic series (up,
 * scrape_duration_seconds, ...) and the staleness markers of series that went away, exactly as
 * Prometheus 2.42 writes them (docs/scraping.md lists the rules and the few deviations).
 *
 * Thread model: configs are immutable and may be shared between threads; the manager's public
 * functions are thread-safe; the sink is called from the manager's thread only.
 */
#ifndef TW_COLLECTOR_SCRAPE_H
#define TW_COLLECTOR_SCRAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/labels.h"
#include "common/metric_set.h"
#include "common/sink.h"
#include "common/yaml_tree.h"

/* ---- configuration -------------------------------------------------------------------------- */

/* The `global` values a scrape config inherits. */
typedef struct tw_scrape_global {
    int64_t scrape_interval_ms; /* Prometheus' default: 60000 */
    int64_t scrape_timeout_ms;  /* Prometheus' default: 10000 */
} tw_scrape_global_t;

/* One parsed `scrape_configs` item. Immutable and reference-counted. */
typedef struct tw_scrape_config tw_scrape_config_t;

/*
 * Parses the `scrape_configs` sequence seq (a null or absent node is an empty list) the way
 * Prometheus' config.Load does: defaults from global (scrape_timeout defaults to the global
 * timeout, capped at the job's interval; a timeout above the interval is an error), unique
 * job names, relabel and metric_relabel rules validated as relabel.Config.Validate does, regexes
 * compiled, unknown keys refused. base_dir (may be NULL for the current directory) resolves
 * relative file_sd, password_file, credentials_file and tls paths. Errors go to w->err with the
 * file:line:col of the offending node. On success *out receives an array of *n configs (each with
 * one reference); release them with tw_scrape_configs_free().
 */
int tw_scrape_configs_parse(tw_yaml_walk_t *w, const tw_yaml_node_t *seq,
                            const tw_scrape_global_t *global, const char *base_dir,
                            tw_scrape_config_t ***out, size_t *n);

/* Drops one reference to each of cfgs[0..n) and frees the array. NULL is a no-op. */
void tw_scrape_configs_free(tw_scrape_config_t **cfgs, size_t n);

/* Takes one more reference (thread-safe); returns c. */
tw_scrape_config_t *tw_scrape_config_ref(tw_scrape_config_t *c);
/* Drops a reference, freeing the config with the last one. NULL is a no-op. Thread-safe. */
void tw_scrape_config_unref(tw_scrape_config_t *c);

/* The job name (valid while c is). */
const char *tw_scrape_config_job(const tw_scrape_config_t *c);
/* The effective interval and timeout in milliseconds. */
int64_t tw_scrape_config_interval_ms(const tw_scrape_config_t *c);
int64_t tw_scrape_config_timeout_ms(const tw_scrape_config_t *c);

/* ---- relabeling (public so that other modules, e.g. remote_write, can reuse it) ----------- */

/* A compiled list of relabel rules. Immutable after parsing. */
typedef struct tw_relabel_rules tw_relabel_rules_t;

/*
 * Parses a relabel_configs sequence (null: an empty list) with Prometheus' defaults (action
 * replace, separator ";", regex "(.*)" fully anchored, replacement "$1") and validation. section
 * names the list in errors ("scrape_configs[0].relabel_configs"). *out receives the rules (free
 * with tw_relabel_rules_free()).
 */
int tw_relabel_rules_parse(tw_yaml_walk_t *w, const tw_yaml_node_t *seq, const char *section,
                           tw_relabel_rules_t **out);
/* NULL is a no-op. */
void tw_relabel_rules_free(tw_relabel_rules_t *r);
/* Number of rules. */
size_t tw_relabel_rules_count(const tw_relabel_rules_t *r);

/*
 * Applies rules to in[0..nin) (any order; empty values mean "absent" and are dropped) like
 * Prometheus' relabel.Process. Returns 1 and the result in *out and *nout (sorted by name, the
 * array and its strings allocated in arena a) when the set is kept, 0 when a rule dropped it.
 */
int tw_relabel_process(const tw_relabel_rules_t *rules, const tw_label_t *in, size_t nin,
                       tw_arena_t *a, tw_label_t **out, size_t *nout);

/* ---- the manager ------------------------------------------------------------------------- */

typedef struct tw_scrape_manager tw_scrape_manager_t;

typedef struct tw_scrape_manager_options {
    /* Text hashed into the jitter seed (Prometheus: hostname + external labels), so that two
     * replicas spread the same targets differently. NULL: "". */
    const char *jitter_seed;
    /* User-Agent header; NULL: "tidewatch". */
    const char *user_agent;
    /* How often file_sd files are checked for changes (mtime, size, inode); a changed file is
     * re-read at once, every file at least every refresh_interval. 0: 5000 ms. */
    int64_t file_sd_poll_ms;
} tw_scrape_manager_options_t;

/*
 * Creates a manager that appends into sink (borrowed: must outlive the manager; called from the
 * manager's thread only) and starts its thread, which scrapes nothing until the first apply().
 */
tw_scrape_manager_t *tw_scrape_manager_new(const tw_sink_t *sink,
                                           const tw_scrape_manager_options_t *opts,
                                           tw_error_t *err);

/*
 * Replaces the configuration with cfgs[0..n) (the manager takes its own references). Scrape
 * pools are matched by job name; targets of a kept pool whose labels and URL are unchanged keep
 * their loop (their series, staleness state and schedule) and pick up the new settings; removed
 * targets and pools stop and get end-of-run stale markers just over two intervals later, as in
 * Prometheus; new targets start at their jittered offset. Returns once the scrape thread has
 * synced every pool (file_sd files are read at this point). Thread-safe.
 */
int tw_scrape_manager_apply(tw_scrape_manager_t *m, tw_scrape_config_t *const *cfgs, size_t n,
                            tw_error_t *err);

/*
 * Stops the thread: in-flight scrapes are abandoned, nothing more is appended, and no end-of-run
 * stale markers are written (like Prometheus on shutdown: a restarted process carries on).
 * Idempotent.
 */
void tw_scrape_manager_stop(tw_scrape_manager_t *m);

/* Stops if needed and frees. NULL is a no-op. */
void tw_scrape_manager_free(tw_scrape_manager_t *m);

/*
 * Adds the manager's self-metrics to out (thread-safe): tidewatch_scrape_target_interval_length_
 * seconds{interval} (summary: _sum and _count), tidewatch_scrape_pool_targets{scrape_job},
 * tidewatch_scrape_pool_sync_length_seconds{scrape_job} (summary), tidewatch_scrape_exceeded_
 * sample_limit_total, tidewatch_scrape_exceeded_label_limits_total, tidewatch_scrape_exceeded_
 * body_size_limit_total, tidewatch_scrape_sample_out_of_order_total, tidewatch_scrape_sample_
 * duplicate_timestamp_total, tidewatch_scrape_sample_out_of_bounds_total,
 * tidewatch_scrape_file_sd_read_errors_total, tidewatch_scrapes_total{result}.
 */
void tw_scrape_manager_collect(tw_scrape_manager_t *m, tw_mset_t *out);

/* Health of a target, as /api/v1/targets spells it. */
typedef enum {
    TW_SCRAPE_HEALTH_UNKNOWN = 0, /* "unknown": not scraped yet */
    TW_SCRAPE_HEALTH_UP,          /* "up" */
    TW_SCRAPE_HEALTH_DOWN,        /* "down" */
} tw_scrape_health_t;

/* The spelling of h ("up", "down", "unknown"). */
const char *tw_scrape_health_name(tw_scrape_health_t h);

/* One active target, as /api/v1/targets shows it. Every string is owned by the list. */
typedef struct tw_scrape_target_info {
    char *scrape_pool; /* the job name */
    char *scrape_url;
    char *global_url;   /* same as scrape_url (no external URL rewriting) */
    tw_label_t *labels; /* the target labels (no "__" names), sorted */
    size_t nlabels;
    tw_label_t *discovered_labels; /* before relabeling, sorted */
    size_t ndiscovered_labels;
    tw_scrape_health_t health;
    char *last_error;              /* "" when the last scrape succeeded */
    int64_t last_scrape_ms;        /* 0 when never scraped */
    double last_scrape_duration_s; /* of the last scrape */
    int64_t scrape_interval_ms;
    int64_t scrape_timeout_ms;
} tw_scrape_target_info_t;

/*
 * A snapshot of the active targets, sorted by pool then scrape URL. *out receives an array of
 * *n entries (free with tw_scrape_target_infos_free()). Thread-safe.
 */
int tw_scrape_manager_targets(tw_scrape_manager_t *m, tw_scrape_target_info_t **out, size_t *n);
/* Frees a snapshot. NULL is a no-op. */
void tw_scrape_target_infos_free(tw_scrape_target_info_t *infos, size_t n);

#endif
