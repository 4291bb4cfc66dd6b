/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules_loop.h - the rule-evaluation thread: the groups of every file of `rule_files`, each
 * evaluated at its interval (default global.evaluation_interval), rules in order, at the
 * timestamps Prometheus' rules manager uses; recorded series, ALERTS and ALERTS_FOR_STATE go
 * to the TSDB through the sample sink, alerts to the notifier through the alert sink.
 *
 * How it works:
 *   - Schedule: a group's evaluation times are spaced by its interval and shifted by an offset
 *     derived from a hash of its file and name (Prometheus' Group.EvalTimestamp), so groups with
 *     the same interval do not all run at the same instant and a restarted daemon keeps the same
 *     grid. The first evaluation is at the first grid point after the start; when the thread
 *     falls behind, the missed grid points are skipped (counted in ..._iterations_missed_total)
 *     and the next one is evaluated, as Prometheus does.
 *   - Restore: after the first evaluation following the start, each group restores the `for`
 *     state of its pending and firing alerts from ALERTS_FOR_STATE (tw_rule_group_restore_for_
 *     state(): outage tolerance 1h, grace period 10m, Prometheus' defaults); groups created by a
 *     later reload are marked restored at once (Prometheus: m.restored).
 *   - Reload (tw_rules_loop_configure()): every file is expanded and parsed first; any error
 *     keeps the running groups untouched and returns it (the daemon logs it). Otherwise a new
 *     group with the same file and name as a running one takes over its state
 *     (tw_rule_group_copy_state()) and its place on the grid; groups that disappeared stop.
 *
 * One thread evaluates every group (the DESIGN's "one rule-evaluation thread"); the HTTP
 * threads read rules, alerts and metrics at any time under the loop's lock.
 *
 * Thread model: new/configure/start/stop/free on the controlling (main) thread; tick on the
 * loop's thread or, in tests, on the caller's when not started; set_notify, foreach_group,
 * collect_metrics from any thread.
 */
#ifndef TW_DAEMON_RULES_LOOP_H
#define TW_DAEMON_RULES_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerting/rules/rules.h"
#include "common/alert_sink.h"
#include "common/error.h"
#include "common/metric_set.h"
#include "common/query_source.h"
#include "common/sink.h"
#include "config.h"

typedef struct tw_rules_loop tw_rules_loop_t;

/* What the loop evaluates against. Copied by tw_rules_loop_new(); ctx pointers borrowed. */
typedef struct tw_rules_loop_options {
    const tw_sink_t *sink;       /* recorded series, ALERTS, ALERTS_FOR_STATE; NULL: none */
    int64_t resend_delay_ms;     /* 0: 1m */
    int64_t outage_tolerance_ms; /* 0: 1h */
    int64_t for_grace_period_ms; /* 0: 10m */
    int64_t (*now_ms)(void);     /* wall clock; NULL: tw_now_ms (tests pass a fake) */
} tw_rules_loop_options_t;

/* Creates a stopped loop without groups. o may be NULL. */
tw_rules_loop_t *tw_rules_loop_new(const tw_rules_loop_options_t *o);

/*
 * Loads c's rule_files (globs expanded, "builtin:" names looked up, each file once) with
 * expressions checked by the PromQL parser in c->query.compat, and replaces the groups as
 * described above. qs (copied; its ctx must outlive the loop or the next configure) is what
 * the groups query; c's evaluation_interval, external_labels and external_url are copied.
 * Waits for an evaluation in progress. On error (TW_EPARSE: err->msg is "error loading rules:
 * " and the first message, every message is logged) nothing changes.
 */
int tw_rules_loop_configure(tw_rules_loop_t *l, const tw_config_t *c, const tw_query_source_t *qs,
                            tw_error_t *err);

/* The alert sink alerts go to (copied; NULL: none, alerts stay visible on the API only). */
void tw_rules_loop_set_notify(tw_rules_loop_t *l, const tw_alert_sink_t *notify);

/* Starts the thread. Returns 0 or -errno. */
int tw_rules_loop_start(tw_rules_loop_t *l, tw_error_t *err);

/*
 * Evaluates every group due at now_ms (ms since the epoch) on the caller's thread and returns
 * when the next one is due (now_ms + 60 s when there are no groups). For tests and the thread.
 */
int64_t tw_rules_loop_tick(tw_rules_loop_t *l, int64_t now_ms);

/* Stops and joins the thread (waits for an evaluation in progress). Idempotent. */
void tw_rules_loop_stop(tw_rules_loop_t *l);

/* Stops and frees. NULL is a no-op. */
void tw_rules_loop_free(tw_rules_loop_t *l);

/* A group's schedule and counters, as the API and /metrics show them. */
typedef struct tw_rules_loop_group_stats {
    int64_t last_eval_ms;       /* 0: never */
    int64_t last_duration_ns;   /* of the whole group evaluation */
    int64_t next_eval_ms;       /* the next grid point */
    uint64_t evaluations;       /* group evaluations */
    uint64_t rule_failures;     /* rule evaluations that ended in an error */
    uint64_t iterations_missed; /* grid points skipped */
    int64_t limit;              /* the group's `limit` (0: none) */
} tw_rules_loop_group_stats_t;

/*
 * Calls fn for every group in file order, under the loop's lock (fn may use the read
 * accessors of rules.h on g, must not call back into l). fn returns 0 to go on. Returns fn's
 * non-zero value or 0.
 */
int tw_rules_loop_foreach_group(tw_rules_loop_t *l,
                                int (*fn)(void *arg, tw_rule_group_t *g,
                                          const tw_rules_loop_group_stats_t *st),
                                void *arg);

/*
 * Adds the rule families to out, labelled rule_group="<file>;<group>" as Prometheus does:
 * tidewatch_rule_evaluation_duration_seconds (summary of rule evaluations: _sum, _count),
 * tidewatch_rule_evaluations_total, tidewatch_rule_evaluation_failures_total,
 * tidewatch_rule_group_last_evaluation_timestamp_seconds, _last_duration_seconds,
 * _interval_seconds, _rules, _iterations_total, _iterations_missed_total, and
 * tidewatch_rule_config_last_reload_successful. Thread-safe.
 */
void tw_rules_loop_collect_metrics(tw_rules_loop_t *l, tw_mset_t *out);

/* ---- built-in rule files (generated from deploy/rules/ at build time) ---- */

/*
 * Looks up the built-in rule file name ("node.yml"); *text (may be NULL) receives its text.
 * Returns 0 or -1 when there is none.
 */
int tw_rules_builtin_find(const char *name, const char **text);

/* The built-in file names, comma-separated (for messages). */
const char *tw_rules_builtin_names(void);

/*
 * The rule files' expression check: parses expr with the PromQL parser of the compat mode ctx
 * points at (a tw_promql_compat_t; 2.42 mode also refuses experimental functions), and on
 * error sets err to the parser's "line:col: message". For tw_rule_load_options_t.check_expr,
 * the daemon's rules and the `check rules` / `test rules` commands alike.
 */
int tw_rules_check_expr(void *ctx, const char *expr, tw_error_t *err);

#endif
