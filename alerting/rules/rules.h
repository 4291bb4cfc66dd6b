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

#endif
