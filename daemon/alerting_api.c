/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alerting_api.c - GET /api/v1/rules and /api/v1/alerts (see alerting_api.h).
 *
 * The JSON is written by hand in the key order of Prometheus' structs (Go's encoding/json
 * keeps field order): a group {name, file, rules, interval, limit (3.5), evaluationTime,
 * lastEvaluation}; an alerting rule {state, name, query, duration, keepFiringFor, labels,
 * annotations, alerts, health, lastError (when set), evaluationTime, lastEvaluation, type}; a
 * recording rule {name, query, labels (when any), health, lastError, evaluationTime,
 * lastEvaluation, type}; an alert {labels, annotations, state, activeAt, keepFiringSince (3.5,
 * when set), value}. `query` is the expression printed back by the PromQL printer, as
 * Prometheus prints rule.Query().String(); a rule's state is the highest state of its alerts.
 */
#include "alerting_api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"
#include "query/query.h"

#define MAX_FILTER 64

struct tw_alerting_api {
    tw_rules_loop_t *loop;
    int compat; /* atomic */
};

typedef struct filt {
    bool alerts, records;
    const char *names[MAX_FILTER], *groups[MAX_FILTER], *files[MAX_FILTER];
    size_t n_names, n_groups, n_files;
    bool exclude_alerts;
} filt_t;

typedef struct walk {
    tw_alerting_api_t *api;
    tw_buf_t *out;
    const filt_t *f;
    bool p2;
    bool rules; /* /api/v1/rules, else /api/v1/alerts */
    size_t n_out;
} walk_t;

int tw_alerting_api_format_value(tw_buf_t *out, double v)
{
    if (isnan(v)) {
        return tw_buf_puts(out, "NaN");
    }
    if (isinf(v)) {
        return tw_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    }
    char s[64];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(s, sizeof(s), "%.*e", prec, v);
        if (strtod(s, NULL) == v) {
            break;
        }
    }
    return tw_buf_puts(out, s);
}

static void json_labels(tw_buf_t *out, const tw_label_t *l, size_t n)
{
    tw_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            tw_buf_putc(out, ',');
        }
        tw_query_api_json_string(out, l[i].name);
        tw_buf_putc(out, ':');
        tw_query_api_json_string(out, l[i].value);
    }
    tw_buf_putc(out, '}');
}

static void json_time(tw_buf_t *out, int64_t t_ms)
{
    if (t_ms == 0) {
        tw_buf_puts(out, "\"0001-01-01T00:00:00Z\""); /* Go's zero time.Time */
    } else {
        tw_query_api_json_time(out, t_ms);
    }
}

static bool in_set(const char *const *set, size_t n, const char *s)
{
    if (n == 0) {
        return true;
    }
    for (size_t i = 0; i < n && i < MAX_FILTER; i++) {
        if (strcmp(set[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* Appends the expression as Prometheus prints it (the text itself when it does not parse). */
static void json_query(tw_buf_t *out, const char *expr, bool p2)
{
    tw_promql_parse_options_t po = {.compat = p2 ? TW_PROMQL_COMPAT_PROMETHEUS2
                                                 : TW_PROMQL_COMPAT_PROMETHEUS3};
    tw_promql_ast_t *ast = NULL;
    tw_buf_t s;
    tw_buf_init(&s, 1 << 20);
    if (tw_promql_parse(expr, strlen(expr), &po, &ast, NULL) == 0 &&
        tw_promql_print(tw_promql_ast_root(ast), 0, &s) == 0 && s.data != NULL) {
        tw_query_api_json_string(out, s.data);
    } else {
        tw_query_api_json_string(out, expr);
    }
    tw_promql_ast_free(ast);
    tw_buf_fini(&s);
}

/* ---- alerts ---- */

typedef struct alert_walk {
    walk_t *w;
    size_t n;
    tw_alert_state_t max;
} alert_walk_t;

static int alert_state_max(void *arg, const tw_rule_alert_view_t *a)
{
    alert_walk_t *aw = arg;
    if (a->state > aw->max) {
        aw->max = a->state;
    }
    return 0;
}

static int alert_json(void *arg, const tw_rule_alert_view_t *a)
{
    alert_walk_t *aw = arg;
    tw_buf_t *out = aw->w->out;
    if (aw->n++ > 0) {
        tw_buf_putc(out, ',');
    }
    tw_buf_puts(out, "{\"labels\":");
    json_labels(out, a->labels, a->n_labels);
    tw_buf_puts(out, ",\"annotations\":");
    json_labels(out, a->annotations, a->n_annotations);
    tw_buf_puts(out, ",\"state\":");
    tw_query_api_json_string(out, tw_alert_state_str(a->state));
    tw_buf_puts(out, ",\"activeAt\":");
    json_time(out, a->active_at_ms);
    if (!aw->w->p2 && a->keep_firing_since_ms != 0) {
        tw_buf_puts(out, ",\"keepFiringSince\":");
        json_time(out, a->keep_firing_since_ms);
    }
    tw_buf_puts(out, ",\"value\":\"");
    tw_alerting_api_format_value(out, a->value);
    tw_buf_puts(out, "\"}");
    return 0;
}

/* ---- rules ---- */

static void rule_json(walk_t *w, tw_rule_group_t *g, size_t i, const tw_rule_info_t *ri,
                      size_t *n_rules)
{
    tw_buf_t *out = w->out;
    const tw_rule_spec_t *sp = ri->spec;
    if (*n_rules > 0) {
        tw_buf_putc(out, ',');
    }
    (*n_rules)++;
    const char *health = ri->health == TW_RULE_HEALTH_OK    ? "ok"
                         : ri->health == TW_RULE_HEALTH_ERR ? "err"
                                                            : "unknown";
    if (sp->kind == TW_RULE_ALERTING) {
        alert_walk_t aw = {.w = w};
        (void)tw_rule_group_foreach_alert(g, i, alert_state_max, &aw);
        tw_buf_puts(out, "{\"state\":");
        tw_query_api_json_string(out, tw_alert_state_str(aw.max));
        tw_buf_puts(out, ",\"name\":");
        tw_query_api_json_string(out, sp->name);
        tw_buf_puts(out, ",\"query\":");
        json_query(out, sp->expr, w->p2);
        tw_buf_puts(out, ",\"duration\":");
        tw_query_api_json_float(out, (double)sp->for_ms / 1000.0);
        tw_buf_puts(out, ",\"keepFiringFor\":");
        tw_query_api_json_float(out, (double)sp->keep_firing_for_ms / 1000.0);
        tw_buf_puts(out, ",\"labels\":");
        json_labels(out, sp->labels, sp->n_labels);
        tw_buf_puts(out, ",\"annotations\":");
        json_labels(out, sp->annotations, sp->n_annotations);
        tw_buf_puts(out, ",\"alerts\":[");
        if (!w->f->exclude_alerts) {
            aw.n = 0;
            (void)tw_rule_group_foreach_alert(g, i, alert_json, &aw);
        }
        tw_buf_puts(out, "]");
    } else {
        tw_buf_puts(out, "{\"name\":");
        tw_query_api_json_string(out, sp->name);
        tw_buf_puts(out, ",\"query\":");
        json_query(out, sp->expr, w->p2);
        if (sp->n_labels > 0) {
            tw_buf_puts(out, ",\"labels\":");
            json_labels(out, sp->labels, sp->n_labels);
        }
    }
    tw_buf_puts(out, ",\"health\":");
    tw_query_api_json_string(out, health);
    if (ri->last_error[0] != '\0') {
        tw_buf_puts(out, ",\"lastError\":");
        tw_query_api_json_string(out, ri->last_error);
    }
    tw_buf_puts(out, ",\"evaluationTime\":");
    tw_query_api_json_float(out, (double)ri->eval_duration_ns / 1e9);
    tw_buf_puts(out, ",\"lastEvaluation\":");
    json_time(out, ri->last_eval_ms);
    tw_buf_puts(out, sp->kind == TW_RULE_ALERTING ? ",\"type\":\"alerting\"}"
                                                  : ",\"type\":\"recording\"}");
}

static bool rule_selected(const walk_t *w, const tw_rule_spec_t *sp)
{
    if (sp->kind == TW_RULE_ALERTING ? !w->f->alerts : !w->f->records) {
        return false;
    }
    return in_set(w->f->names, w->f->n_names, sp->name);
}

static int group_json(void *arg, tw_rule_group_t *g, const tw_rules_loop_group_stats_t *st)
{
    walk_t *w = arg;
    tw_buf_t *out = w->out;
    size_t n = tw_rule_group_rule_count(g);
    if (!w->rules) {
        for (size_t i = 0; i < n; i++) {
            tw_rule_info_t ri;
            if (tw_rule_group_rule_info(g, i, &ri) != 0 || ri.spec->kind != TW_RULE_ALERTING) {
                continue;
            }
            alert_walk_t aw = {.w = w, .n = w->n_out};
            (void)tw_rule_group_foreach_alert(g, i, alert_json, &aw);
            w->n_out = aw.n;
        }
        return 0;
    }
    if (!in_set(w->f->groups, w->f->n_groups, tw_rule_group_name(g)) ||
        !in_set(w->f->files, w->f->n_files, tw_rule_group_file(g))) {
        return 0;
    }
    /* 3.5 leaves out the groups a filter emptied. */
    bool filtered = !w->f->alerts || !w->f->records || w->f->n_names > 0;
    size_t selected = 0;
    for (size_t i = 0; i < n; i++) {
        tw_rule_info_t ri;
        if (tw_rule_group_rule_info(g, i, &ri) == 0 && rule_selected(w, ri.spec)) {
            selected++;
        }
    }
    if (!w->p2 && filtered && selected == 0) {
        return 0;
    }
    if (w->n_out++ > 0) {
        tw_buf_putc(out, ',');
    }
    tw_buf_puts(out, "{\"name\":");
    tw_query_api_json_string(out, tw_rule_group_name(g));
    tw_buf_puts(out, ",\"file\":");
    tw_query_api_json_string(out, tw_rule_group_file(g));
    tw_buf_puts(out, ",\"rules\":[");
    size_t n_rules = 0;
    for (size_t i = 0; i < n; i++) {
        tw_rule_info_t ri;
        if (tw_rule_group_rule_info(g, i, &ri) == 0 && rule_selected(w, ri.spec)) {
            rule_json(w, g, i, &ri, &n_rules);
        }
    }
    tw_buf_puts(out, "],\"interval\":");
    tw_query_api_json_float(out, (double)tw_rule_group_interval_ms(g) / 1000.0);
    if (!w->p2) {
        tw_buf_printf(out, ",\"limit\":%lld", (long long)st->limit);
    }
    tw_buf_puts(out, ",\"evaluationTime\":");
    tw_query_api_json_float(out, (double)st->last_duration_ns / 1e9);
    tw_buf_puts(out, ",\"lastEvaluation\":");
    json_time(out, st->last_eval_ms);
    tw_buf_putc(out, '}');
    return 0;
}

static int write_data(tw_alerting_api_t *a, bool rules, const filt_t *f, tw_buf_t *out)
{
    walk_t w = {.api = a,
                .out = out,
                .f = f,
                .p2 = __atomic_load_n(&a->compat, __ATOMIC_RELAXED) == TW_PROMQL_COMPAT_PROMETHEUS2,
                .rules = rules};
    tw_buf_puts(out, rules ? "{\"groups\":[" : "{\"alerts\":[");
    (void)tw_rules_loop_foreach_group(a->loop, group_json, &w);
    return tw_buf_puts(out, "]}");
}

/* ---- handlers ---- */

static void bad_param(tw_http_response_t *resp, const char *param, const char *msg,
                      const char *value, const char *tail)
{
    char m[512];
    snprintf(m, sizeof(m), "invalid parameter \"%s\": %s \"%s\"%s", param, msg, value, tail);
    resp->status = 400;
    resp->content_type = "application/json";
    tw_buf_reset(&resp->body);
    tw_buf_puts(&resp->body, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":");
    tw_query_api_json_string(&resp->body, m);
    tw_buf_putc(&resp->body, '}');
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static int respond(tw_alerting_api_t *a, bool rules, const filt_t *f, tw_http_response_t *resp)
{
    resp->status = 200;
    resp->content_type = "application/json";
    tw_buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
    write_data(a, rules, f, &resp->body);
    if (tw_buf_putc(&resp->body, '}') != 0) {
        tw_buf_reset(&resp->body);
        resp->status = 500;
        tw_buf_puts(&resp->body, "{\"status\":\"error\",\"errorType\":\"internal\",\"error\":"
                                 "\"the response is too large\"}");
    }
    return 0;
}

static int handle_rules(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    tw_alerting_api_t *a = ctx;
    filt_t f = {.alerts = true, .records = true};
    const char *typ = tw_http_request_arg(req, "type");
    char lower[32] = "";
    if (typ != NULL) {
        tw_strlcpy(lower, typ, sizeof(lower));
        for (char *p = lower; *p != '\0'; p++) {
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        }
        if (strlen(typ) >= sizeof(lower) ||
            (lower[0] != '\0' && strcmp(lower, "alert") != 0 && strcmp(lower, "record") != 0)) {
            bad_param(resp, "type", "not supported value", typ, "");
            return 0;
        }
        f.alerts = lower[0] == '\0' || strcmp(lower, "alert") == 0;
        f.records = lower[0] == '\0' || strcmp(lower, "record") == 0;
    }
    if (__atomic_load_n(&a->compat, __ATOMIC_RELAXED) != TW_PROMQL_COMPAT_PROMETHEUS2) {
        f.n_names = tw_http_request_args(req, "rule_name[]", f.names, MAX_FILTER);
        f.n_groups = tw_http_request_args(req, "rule_group[]", f.groups, MAX_FILTER);
        f.n_files = tw_http_request_args(req, "file[]", f.files, MAX_FILTER);
        const char *ex = tw_http_request_arg(req, "exclude_alerts");
        if (ex != NULL && ex[0] != '\0' && !parse_bool(ex, &f.exclude_alerts)) {
            bad_param(resp, "exclude_alerts", "strconv.ParseBool: parsing", ex, ": invalid syntax");
            return 0;
        }
    }
    return respond(a, true, &f, resp);
}

static int handle_alerts(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    (void)req;
    filt_t f = {.alerts = true, .records = true};
    return respond(ctx, false, &f, resp);
}

/* ---- public ---- */

tw_alerting_api_t *tw_alerting_api_new(tw_rules_loop_t *l)
{
    tw_alerting_api_t *a = tw_xcalloc(1, sizeof(*a));
    a->loop = l;
    a->compat = TW_PROMQL_COMPAT_PROMETHEUS3;
    return a;
}

void tw_alerting_api_set_compat(tw_alerting_api_t *a, int compat)
{
    __atomic_store_n(&a->compat, compat, __ATOMIC_RELAXED);
}

int tw_alerting_api_register(tw_http_server_t *srv, tw_alerting_api_t *a)
{
    int rc = tw_http_server_route(srv, "GET", "/api/v1/rules", handle_rules, a);
    if (rc == 0) {
        rc = tw_http_server_route(srv, "GET", "/api/v1/alerts", handle_alerts, a);
    }
    return rc;
}

int tw_alerting_api_json(tw_alerting_api_t *a, bool rules, const char *type, tw_buf_t *out)
{
    filt_t f = {.alerts = type == NULL || type[0] == '\0' || strcmp(type, "alert") == 0,
                .records = type == NULL || type[0] == '\0' || strcmp(type, "record") == 0};
    return write_data(a, rules, &f, out);
}

void tw_alerting_api_free(tw_alerting_api_t *a)
{
    free(a);
}
