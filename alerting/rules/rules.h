/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules.h - the rules module: Prometheus rule files, recording and alerting rules, alert state,
 * and the templates of alert labels and annotations.
 *
 * Only the templates exist so far (the section below); the rule engine will add its own
 * sections. Thread model: see each section.
 */
#ifndef TW_ALERTING_RULES_RULES_H
#define TW_ALERTING_RULES_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/labels.h"
#include "common/query_source.h"

/* ---- templates ---- */
/*
 * Go's text/template as Prometheus 2.42 runs it (template/template.go): the same lexer, parser,
 * actions, builtins, function set, value printing and error messages, so that an annotation
 * expands here to the same bytes as in Prometheus, and a broken one fails with the same words
 * ("template: __alert_X:1:130: executing ..."). docs/alerting-templates.md lists what is
 * supported and the few differences.
 *
 * A parsed template (tw_tmpl_t) is immutable: any number of threads may execute it at once.
 * Execution reads no clock and does no I/O but through the injected query source; it is bounded
 * by tw_tmpl_limits_t (output size, steps, range iterations, template call depth, memory), and
 * hitting a bound is an error (TW_ELIMIT), never a crash or a hang.
 */

/* The kinds of template values (a small model of the Go values Prometheus hands templates). */
typedef enum {
    TW_TV_NIL = 0, /* Go's missing value: prints "<no value>" */
    TW_TV_BOOL,
    TW_TV_INT,     /* int, int64, ... (the Go type name in .type, default "int") */
    TW_TV_UINT,    /* uint, uint64, uint8 (default "uint") */
    TW_TV_FLOAT,   /* float64 */
    TW_TV_STRING,  /* string (or template.HTML from safeHtml) */
    TW_TV_MAP,     /* map[string]string, as label pairs sorted by name */
    TW_TV_DICT,    /* map[string]interface {}, keys sorted (what `args` returns) */
    TW_TV_LIST,    /* a slice ([]float64, []string, ...: .type names it, default []interface {}) */
    TW_TV_SAMPLE,  /* *template.sample: .Labels (map) and .Value (float64) */
    TW_TV_SAMPLES, /* template.queryResult: what `query` returns, items are TW_TV_SAMPLE */
    TW_TV_STRUCT,  /* a struct with named fields (the alert data); .type names it */
} tw_tmpl_kind_t;

typedef struct tw_tmpl_value tw_tmpl_value_t;

/*
 * One value. Callers may fill these in (static test data, the alert data) or use the
 * constructors below; every pointer is borrowed and must outlive the execution.
 */
struct tw_tmpl_value {
    tw_tmpl_kind_t kind;
    const char *type; /* Go type name for messages, or NULL for the kind's default */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
        struct {
            const char *p; /* need not be NUL-terminated */
            size_t len;
        } s;
        struct {
            const tw_label_t *labels; /* sorted by name, unique names */
            size_t n;
        } map;
        struct {
            const char *const *keys; /* sorted, unique (dicts) or field order (structs) */
            const tw_tmpl_value_t *vals;
            size_t n;
        } dict; /* TW_TV_DICT and TW_TV_STRUCT */
        struct {
            const tw_tmpl_value_t *items;
            size_t n;
        } list; /* TW_TV_LIST and TW_TV_SAMPLES */
        struct {
            const tw_label_t *labels; /* sorted by name */
            size_t n;
            double v;
        } sample;
    } u;
};

/* Limits on one parse or execution; a zero field takes the default in brackets. */
typedef struct tw_tmpl_limits {
    size_t max_source_bytes; /* template text [1 MiB] */
    size_t max_output_bytes; /* expanded text, and any one string value [1 MiB] */
    uint64_t max_steps;      /* nodes walked + commands evaluated + function calls [1000000] */
    uint64_t max_range_iterations; /* over the whole execution [100000] */
    int max_template_depth;        /* nested {{template}} calls [100] */
    size_t max_memory_bytes;       /* values built during one execution [64 MiB] */
} tw_tmpl_limits_t;

/* What an execution may reach outside its data. All fields optional. */
typedef struct tw_tmpl_env {
    const tw_query_source_t *query; /* for `query`; NULL: `query` fails */
    int64_t query_time_ms;          /* evaluation time handed to `query` */
    const char *external_url;       /* for `externalURL` and `pathPrefix`; NULL: "" */
    const tw_tmpl_limits_t *limits; /* NULL: defaults */
} tw_tmpl_env_t;

/* A parsed template set: the named template and every {{define}} in it (opaque). */
typedef struct tw_tmpl tw_tmpl_t;

/*
 * Parses text (len bytes) as template name, with Prometheus' function set, like
 * text/template's New(name).Funcs(...).Option("missingkey=zero").Parse(text). On success *out
 * owns the result (tw_tmpl_free). On failure returns TW_EPARSE (or TW_ELIMIT for text longer
 * than limits->max_source_bytes, or nesting deeper than 100) with err->msg worded as Go words it,
 * "template: <name>:<line>: <what>", and err->line set; *out is NULL. limits may be NULL.
 */
int tw_tmpl_parse(tw_tmpl_t **out, const char *name, const char *text, size_t len,
                  const tw_tmpl_limits_t *limits, tw_error_t *err);

/* Frees t. NULL is a no-op. */
void tw_tmpl_free(tw_tmpl_t *t);

/*
 * Executes the template named as parsed with dot = data (NULL: nil), appending the output to
 * out (whose own max also applies). Returns 0; or TW_EEXEC with err->msg as Go words it
 * ("template: <name>:<line>:<col>: executing \"<name>\" at <<node>>: <what>"), TW_ELIMIT when a
 * limit was hit (same form), or TW_ELIMIT from out. On error, out may hold partial output (Go
 * also leaves it written); callers that want all or nothing use a scratch buffer. Thread-safe on
 * a shared t.
 */
int tw_tmpl_exec(const tw_tmpl_t *t, const tw_tmpl_value_t *data, const tw_tmpl_env_t *env,
                 tw_buf_t *out, tw_error_t *err);

/*
 * Prometheus' Expander.Expand(): parses and executes text as template name, replacing out's
 * contents with the result. Errors are worded as Prometheus wraps them: "error parsing template
 * <name>: template: ..." (TW_EPARSE) and "error executing template <name>: template: ..."
 * (TW_EEXEC, TW_ELIMIT); out is then empty.
 */
int tw_tmpl_expand(const char *name, const char *text, size_t len, const tw_tmpl_value_t *data,
                   const tw_tmpl_env_t *env, tw_buf_t *out, tw_error_t *err);

/*
 * The data of an alert template (Prometheus' AlertTemplateData): a struct with .Labels,
 * .ExternalLabels (sorted label arrays, borrowed), .ExternalURL and .Value, built in arena a.
 * external_url may be NULL ("").
 */
tw_tmpl_value_t *tw_tmpl_alert_data(tw_arena_t *a, const tw_label_t *labels, size_t n_labels,
                                    const tw_label_t *external_labels, size_t n_external,
                                    const char *external_url, double value);

/*
 * Expands one alert label or annotation value as Prometheus' rules/alerting.go does: the text
 * gets "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL :=
 * .ExternalURL}}{{$value := .Value}}" prepended, the template is named "__alert_<rule>", and data
 * is tw_tmpl_alert_data(). Result and errors as tw_tmpl_expand(); Prometheus then uses
 * "<error expanding template: <err->msg>>" as the value, which is the caller's choice.
 */
int tw_tmpl_expand_alert(const char *rule, const char *text, const tw_tmpl_value_t *data,
                         const tw_tmpl_env_t *env, tw_buf_t *out, tw_error_t *err);

/*
 * The load-time check of rulefmt: parses text as tw_tmpl_expand_alert() would (the same
 * prefix and name) without executing it. Returns 0 or TW_EPARSE/TW_ELIMIT with Go's message
 * ("template: __alert_<rule>:1: function \"x\" not defined"); the caller adds the file, the rule
 * and `label "k": ` or `annotation "k": ` as Prometheus does.
 */
int tw_tmpl_check_alert(const char *rule, const char *text, tw_error_t *err);

/* Value constructors: the value lives in arena a (strings are copied, arrays borrowed). */
tw_tmpl_value_t *tw_tmpl_value_string(tw_arena_t *a, const char *s);
tw_tmpl_value_t *tw_tmpl_value_float(tw_arena_t *a, double v);
tw_tmpl_value_t *tw_tmpl_value_int(tw_arena_t *a, int64_t v, const char *go_type);
tw_tmpl_value_t *tw_tmpl_value_uint(tw_arena_t *a, uint64_t v, const char *go_type);
tw_tmpl_value_t *tw_tmpl_value_list(tw_arena_t *a, const tw_tmpl_value_t *items, size_t n,
                                    const char *go_type);

/* ---- rules ---- */
/*
 * Prometheus rule files (rule_file.c), their evaluation with the alert state machine
 * (rule_eval.c), `check rules` (rule_check.c) and promtool's rule unit tests (rule_test.c).
 * docs/alerting-rules.md describes the behaviour and the few differences from Prometheus.
 *
 * The module links only tw_common: what needs the PromQL engine is injected. A loader gets a
 * function that checks one expression (the daemon passes the PromQL parser); a group evaluates
 * through a query source (common/query_source.h), writes through a sample sink
 * (common/sink.h) and hands alerts to an alert sink (common/alert_sink.h); the unit-test runner
 * gets a storage it can reset and fill (tw_rules_test_env_t). Only daemon/ wires the real ones.
 *
 * Thread model: a parsed file is immutable. A group (tw_rule_group_t) is evaluated by one
 * thread at a time; its read accessors (rules, alerts) may run on other threads at once (the
 * group has a mutex). Nothing here reads a clock: times are parameters (ms since the epoch).
 */
#include <stdio.h> /* FILE, for the CLI entry points */

#include "common/alert_sink.h"
#include "common/sink.h"

/* A list of messages, each what promtool prints on one line ("file: 6:15: group ..."). */
typedef struct tw_rule_errors {
    char **msgs; /* owned */
    size_t n;
    size_t cap;
} tw_rule_errors_t;

/* Appends a formatted message. */
void tw_rule_errors_add(tw_rule_errors_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Frees every message and empties e. NULL is a no-op. */
void tw_rule_errors_fini(tw_rule_errors_t *e);

typedef enum {
    TW_RULE_RECORDING = 1,
    TW_RULE_ALERTING,
} tw_rule_kind_t;

/* One rule as written in the file. Strings live in the file's arena. */
typedef struct tw_rule_spec {
    tw_rule_kind_t kind;
    const char *name; /* `record` or `alert` */
    const char *expr;
    int64_t for_ms;
    int64_t keep_firing_for_ms;
    tw_label_t *labels; /* sorted by name, unique; values are templates for alerting rules */
    size_t n_labels;
    tw_label_t *annotations; /* sorted by name */
    size_t n_annotations;
    int line; /* position of the record/alert value (1-based; 0 when absent) */
    int col;
    int expr_line;
    int expr_col;
} tw_rule_spec_t;

/* One group as written in the file. */
typedef struct tw_rule_group_spec {
    const char *name;
    int64_t interval_ms; /* 0: the global evaluation interval */
    int64_t limit;       /* 0: no limit */
    tw_rule_spec_t *rules;
    size_t n_rules;
    int line;
    int col;
} tw_rule_group_spec_t;

/* A loaded rule file. Immutable; free with tw_rule_file_free(). */
typedef struct tw_rule_file {
    const char *name; /* the name used in messages (the path as given) */
    tw_rule_group_spec_t *groups;
    size_t n_groups;
    tw_arena_t *arena; /* every string and array above */
} tw_rule_file_t;

/*
 * Checks one PromQL expression; returns 0, or non-zero with err->msg worded like Prometheus'
 * parser including the position ("1:7: parse error: unexpected end of input").
 */
typedef int (*tw_rule_expr_check_fn)(void *ctx, const char *expr, tw_error_t *err);

/* How to load. Zero-initialized: expressions not checked, templates checked. */
typedef struct tw_rule_load_options {
    tw_rule_expr_check_fn check_expr; /* NULL: expressions are not parsed */
    void *check_ctx;
    bool skip_templates;   /* do not parse label/annotation templates */
    size_t max_file_bytes; /* 0: 64 MiB */
} tw_rule_load_options_t;

/*
 * Parses a rule file (data[0..len), name for messages) strictly like Prometheus 2.42's
 * rulefmt.Parse + Validate: unknown fields, bad durations, duplicate group names, invalid names,
 * missing expr, bad PromQL (through o->check_expr), bad templates. Every problem becomes one
 * message in errs, worded as promtool prints it, prefixed with "<name>: ". Only the first YAML
 * document is read (a second one is ignored, as Prometheus does). Returns 0 with *out set, or
 * TW_EPARSE with *out NULL and at least one message. o may be NULL.
 */
int tw_rule_file_parse(const char *name, const char *data, size_t len,
                       const tw_rule_load_options_t *o, tw_rule_file_t **out,
                       tw_rule_errors_t *errs);

/* Reads path and parses it as tw_rule_file_parse(); an I/O error is one message. */
int tw_rule_file_load(const char *path, const tw_rule_load_options_t *o, tw_rule_file_t **out,
                      tw_rule_errors_t *errs);

/* Frees f. NULL is a no-op. */
void tw_rule_file_free(tw_rule_file_t *f);

/* The number of rules in every group of f. */
size_t tw_rule_file_count_rules(const tw_rule_file_t *f);

/* ---- rules: evaluation ---- */

/* An alert's state, as Prometheus' AlertState. */
typedef enum {
    TW_ALERT_INACTIVE = 0,
    TW_ALERT_PENDING,
    TW_ALERT_FIRING,
} tw_alert_state_t;

/* "inactive", "pending", "firing". */
const char *tw_alert_state_str(tw_alert_state_t s);

/* Rule health, as Prometheus reports it on /api/v1/rules. */
typedef enum {
    TW_RULE_HEALTH_UNKNOWN = 0,
    TW_RULE_HEALTH_OK,  /* "ok" */
    TW_RULE_HEALTH_ERR, /* "err" */
} tw_rule_health_t;

/* Everything a group needs from outside. Pointers are borrowed and must outlive the group. */
typedef struct tw_rule_group_options {
    const tw_query_source_t *query;    /* required */
    const tw_sink_t *sink;             /* recorded series, ALERTS, ALERTS_FOR_STATE; NULL: none */
    const tw_alert_sink_t *notify;     /* NULL: alerts are not sent */
    const tw_label_t *external_labels; /* for templates ($externalLabels); sorted */
    size_t n_external_labels;
    const char *external_url;    /* for templates and generator URLs; NULL: "" */
    int64_t default_interval_ms; /* when the group has none; 0: 1m */
    int64_t resend_delay_ms;     /* 0: 1m (--rules.alert.resend-delay) */
    int64_t outage_tolerance_ms; /* 0: 1h (--rules.alert.for-outage-tolerance) */
    int64_t for_grace_period_ms; /* 0: 10m (--rules.alert.for-grace-period) */
    /* Monotonic clock for the per-rule evaluation time (tw_mono_ns); NULL: not measured. */
    int64_t (*mono_ns)(void);
} tw_rule_group_options_t;

/* A group with its evaluation state (opaque). */
typedef struct tw_rule_group tw_rule_group_t;

/*
 * Creates a group from spec (copied; file names it, like Prometheus' group key). Alerting rules
 * start "not restored": they write no ALERTS series until tw_rule_group_restore_for_state() or
 * tw_rule_group_set_restored() (Prometheus' behaviour after a start). Never NULL.
 */
tw_rule_group_t *tw_rule_group_new(const tw_rule_group_spec_t *spec, const char *file,
                                   const tw_rule_group_options_t *o);

/* Frees g. NULL is a no-op. */
void tw_rule_group_free(tw_rule_group_t *g);

/* The group's name, file and evaluation interval (ms). */
const char *tw_rule_group_name(const tw_rule_group_t *g);
const char *tw_rule_group_file(const tw_rule_group_t *g);
int64_t tw_rule_group_interval_ms(const tw_rule_group_t *g);

/*
 * Evaluates every rule in order at ts_ms, like Prometheus' Group.Eval: queries through the
 * source, appends recorded samples, ALERTS and ALERTS_FOR_STATE (and staleness markers for the
 * series a rule no longer returns) through the sink in one transaction, advances the alert state
 * machine and sends the alerts that need sending. A failing rule is recorded in its health and
 * last error and does not stop the others. Returns 0, or the sink's commit error.
 */
int tw_rule_group_eval(tw_rule_group_t *g, int64_t ts_ms);

/* Marks every alerting rule restored (promtool does this before its first evaluation). */
void tw_rule_group_set_restored(tw_rule_group_t *g);

/*
 * Prometheus' RestoreForState at now_ms, run once after the first evaluation after a start:
 * for each active alert of a rule whose `for` is at least the grace period, reads its last
 * ALERTS_FOR_STATE sample within the outage tolerance through the query source and moves its
 * activeAt so the time already spent pending counts. Then marks the rules restored.
 */
void tw_rule_group_restore_for_state(tw_rule_group_t *g, int64_t now_ms);

/*
 * Takes over the alert state, the series written last time (for staleness markers), health and
 * last error of the rules of old with the same kind, name and labels, like Prometheus'
 * Group.CopyState on reload. old is only read; the caller frees it afterwards.
 */
void tw_rule_group_copy_state(tw_rule_group_t *g, const tw_rule_group_t *old);

/* Number of rules. */
size_t tw_rule_group_rule_count(const tw_rule_group_t *g);

/* A rule's facts for /api/v1/rules, copied out under the group's mutex. */
typedef struct tw_rule_info {
    const tw_rule_spec_t *spec; /* valid while the group lives */
    tw_rule_health_t health;
    char last_error[512]; /* "" when none */
    int64_t last_eval_ms; /* 0: never */
    int64_t eval_duration_ns;
} tw_rule_info_t;

/* Fills *out for rule i (< tw_rule_group_rule_count()). Returns 0 or TW_EINVAL. */
int tw_rule_group_rule_info(tw_rule_group_t *g, size_t i, tw_rule_info_t *out);

/* One alert as /api/v1/alerts and the unit tests see it; pointers valid during the callback. */
typedef struct tw_rule_alert_view {
    const tw_label_t *labels; /* sorted, alertname included */
    size_t n_labels;
    const tw_label_t *annotations; /* sorted */
    size_t n_annotations;
    tw_alert_state_t state;
    int64_t active_at_ms;
    int64_t fired_at_ms;    /* 0: never */
    int64_t resolved_at_ms; /* 0: not resolved */
    int64_t keep_firing_since_ms;
    double value;
} tw_rule_alert_view_t;

/*
 * Calls fn for each alert of rule i that is not resolved (Prometheus' ActiveAlerts), under the
 * group's mutex (fn must not call back into g). fn returns 0 to go on. Returns fn's non-zero
 * value, 0, or TW_EINVAL.
 */
int tw_rule_group_foreach_alert(tw_rule_group_t *g, size_t i,
                                int (*fn)(void *arg, const tw_rule_alert_view_t *a), void *arg);

/* ---- rules: the CLI (check rules, test rules) ---- */

/* What `check rules` needs from outside (daemon/rules_cli.c passes the PromQL parser). */
typedef struct tw_rules_check_options {
    tw_rule_expr_check_fn check_expr;
    void *check_ctx;
    int lint;        /* 0: none, 1: duplicate-rules (default), 2: all */
    bool lint_fatal; /* exit 3 when linting finds something */
} tw_rules_check_options_t;

/*
 * promtool 2.42's `check rules` over files[0..n): prints "Checking F", then "  SUCCESS: N rules
 * found" to out or "  FAILED:" and the messages to errout, and a blank line. Returns the exit
 * code: 1 when a file has errors, 3 when only lint findings and lint_fatal, else 0.
 */
int tw_rules_check_files(const tw_rules_check_options_t *o, char **files, size_t n, FILE *out,
                         FILE *errout);

/*
 * The storage a unit test runs against (daemon/rules_cli.c implements it with the PromQL
 * engine's in-memory store). All callbacks get ctx.
 */
typedef struct tw_rules_test_env {
    void *ctx;
    /* Starts an empty storage for one test group; eval_interval_ms is the default subquery step. */
    int (*reset)(void *ctx, int64_t eval_interval_ms, tw_error_t *err);
    /*
     * Parses "<series> <values>" (promtool's input_series joined by a space) into labels (sorted,
     * __name__ included) and values (present[i] false for `_`), allocated in a. Errors are worded
     * as Prometheus' load command words them ("1:48: parse error: ...").
     */
    int (*parse_series)(void *ctx, const char *line, tw_arena_t *a, tw_label_t **labels,
                        size_t *n_labels, double **values, bool **present, size_t *n_values,
                        tw_error_t *err);
    /* Parses a metric `name{l="v"}` (may be blank: no labels) into sorted labels in a. */
    int (*parse_metric)(void *ctx, const char *text, tw_arena_t *a, tw_label_t **labels,
                        size_t *n_labels, tw_error_t *err);
    /* Adds one sample (labels sorted); a sample at an existing time replaces it. */
    int (*append)(void *ctx, const tw_label_t *labels, size_t n, int64_t t_ms, double v,
                  tw_error_t *err);
    /* Evaluates an instant query, like a query source. */
    int (*instant)(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out, tw_error_t *err);
    /* Checks an expression when rule files are loaded. */
    tw_rule_expr_check_fn check_expr;
} tw_rules_test_env_t;

/*
 * promtool 2.42's `test rules` over files[0..n): "Unit Testing:  F", then "  SUCCESS" or
 * "  FAILED:" with each failure (to errout) followed by a blank line (to out). Returns the exit
 * code, 0 or 1.
 */
int tw_rules_test_files(const tw_rules_test_env_t *env, char **files, size_t n, FILE *out,
                        FILE *errout);

#endif
