/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rule_eval.c - rule groups at run time: recording rules, the alert state machine, the ALERTS
 * and ALERTS_FOR_STATE series, staleness markers, notifications and the restore of `for` state
 * after a restart, following Prometheus 2.42's rules/{manager,alerting,recording}.go.
 *
 * A group owns copies of its rules and every alert's labels; it queries through the injected
 * query source, writes through the injected sample sink and hands alerts to the injected alert
 * sink. It reads no clock: the caller passes the evaluation time (the daemon's rule loop, or
 * promtool's unit-test runner stepping through time). Thread model: one thread evaluates; the
 * accessors lock the group's mutex, which evaluation holds while it changes state (not while it
 * waits for a query).
 *
 * How it works (the alert state machine, AlertingRule.Eval):
 *
 *   Every evaluation at ts runs the rule's expression. Each result sample becomes a candidate
 *   alert: the sample's labels without __name__, then the rule's labels expanded as templates
 *   (a label expanding to "" is removed), then alertname = the rule name; the annotations are
 *   expanded too (a template error becomes "<error expanding template: ...>"). Two candidates
 *   with the same labels are an error for the whole evaluation (no state changes).
 *
 *   A candidate whose labels match a tracked alert that is not inactive only refreshes that
 *   alert's value and annotations; otherwise it starts tracking as PENDING with activeAt = ts.
 *   Then every tracked alert is visited:
 *     - not in this result: a FIRING alert with keep_firing_for > 0 notes keepFiringSince (the
 *       first time) and stays FIRING while ts - keepFiringSince < keep_firing_for. Otherwise a
 *       PENDING alert is dropped at once; a FIRING one becomes INACTIVE with resolvedAt = ts and
 *       is kept 15 minutes (resolvedRetention) so the resolution is sent, then dropped.
 *     - in this result: keepFiringSince is cleared; a PENDING alert with ts - activeAt >= for
 *       becomes FIRING with firedAt = ts (so `for: 0` fires on the first evaluation).
 *   Each alert still PENDING or FIRING (kept firing included) writes ALERTS{..., alertstate} = 1
 *   and ALERTS_FOR_STATE{...} = activeAt in seconds, once the rule is "restored". More such
 *   alerts than the group's limit is an error and forgets every alert of the rule.
 *   After a successful evaluation, alerts that need sending (firing ones not sent for
 *   resend_delay, resolutions not sent yet; never pending ones) go to the alert sink with
 *   startsAt = firedAt and endsAt = resolvedAt, or ts + 4 * max(resend_delay, interval).
 *
 *   Series a rule wrote in its previous successful evaluation and not in this one get a
 *   staleness marker at ts, so ALERTS and recorded series end at once instead of after the
 *   5-minute lookback.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/timeutil.h"
#include "rules.h"
#include "rules_int.h"

#define UNSET INT64_MIN
#define RESOLVED_RETENTION_MS (15 * 60 * 1000)
#define STALE_NAN_BITS 0x7ff0000000000002ull

const char *tw_alert_state_str(tw_alert_state_t s)
{
    switch (s) {
    case TW_ALERT_PENDING:
        return "pending";
    case TW_ALERT_FIRING:
        return "firing";
    default:
        return "inactive";
    }
}

/* ---- owned label sets ---- */

/* A label set in one allocation (array then strings). */
typedef struct lset {
    tw_label_t *l;
    size_t n;
    uint64_t hash;
} lset_t;

static lset_t lset_dup(const tw_label_t *src, size_t n)
{
    size_t bytes = (n + 1) * sizeof(tw_label_t);
    for (size_t i = 0; i < n; i++) {
        bytes += strlen(src[i].name) + strlen(src[i].value) + 2;
    }
    char *mem = tw_xmalloc(bytes);
    tw_label_t *l = (tw_label_t *)(void *)mem;
    char *p = mem + (n + 1) * sizeof(tw_label_t);
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(src[i].name) + 1, b = strlen(src[i].value) + 1;
        memcpy(p, src[i].name, a);
        l[i].name = p;
        p += a;
        memcpy(p, src[i].value, b);
        l[i].value = p;
        p += b;
    }
    return (lset_t){l, n, tw_labels_hash(l, n)};
}

static void lset_free(lset_t *s)
{
    free(s->l);
    s->l = NULL;
    s->n = 0;
}

static bool lset_eq(const lset_t *a, const tw_label_t *l, size_t n, uint64_t h)
{
    return a->hash == h && tw_labels_compare(a->l, a->n, l, n) == 0;
}

/* ---- the group ---- */

typedef struct ralert {
    lset_t labels;
    lset_t ann;
    tw_alert_state_t state;
    int64_t active_at, fired_at, resolved_at, last_sent_at, valid_until, keep_firing_since;
    double value;
    bool drop; /* scratch: removed at the end of the visit */
} ralert_t;

typedef struct rrule {
    const tw_rule_spec_t *spec; /* in the group's arena */
    tw_rule_health_t health;
    char last_error[512];
    int64_t last_eval_ms;
    int64_t eval_ns;
    bool restored;
    ralert_t *alerts;
    size_t n_alerts, cap_alerts;
    lset_t *prev; /* series written by the last successful evaluation */
    size_t n_prev, cap_prev;
} rrule_t;

struct tw_rule_group {
    tw_arena_t *arena; /* the copied spec and names */
    tw_rule_group_spec_t spec;
    const char *file;
    tw_rule_group_options_t o;
    int64_t interval_ms;
    rrule_t *rules;
    pthread_mutex_t mu;
};

static tw_label_t *copy_labels(tw_arena_t *a, const tw_label_t *src, size_t n)
{
    tw_label_t *l = tw_arena_calloc(a, (n + 1) * sizeof(*l));
    for (size_t i = 0; i < n; i++) {
        l[i].name = tw_arena_strdup(a, src[i].name);
        l[i].value = tw_arena_strdup(a, src[i].value);
    }
    return l;
}

tw_rule_group_t *tw_rule_group_new(const tw_rule_group_spec_t *spec, const char *file,
                                   const tw_rule_group_options_t *o)
{
    tw_rule_group_t *g = tw_xcalloc(1, sizeof(*g));
    g->arena = tw_arena_new(0);
    g->o = *o;
    g->o.external_url = tw_arena_strdup(g->arena, o->external_url != NULL ? o->external_url : "");
    g->o.external_labels = copy_labels(g->arena, o->external_labels, o->n_external_labels);
    if (g->o.resend_delay_ms <= 0) {
        g->o.resend_delay_ms = 60 * 1000;
    }
    if (g->o.outage_tolerance_ms <= 0) {
        g->o.outage_tolerance_ms = 3600 * 1000;
    }
    if (g->o.for_grace_period_ms <= 0) {
        g->o.for_grace_period_ms = 600 * 1000;
    }
    g->file = tw_arena_strdup(g->arena, file != NULL ? file : "");
    g->spec = *spec;
    g->spec.name = tw_arena_strdup(g->arena, spec->name);
    g->spec.rules = tw_arena_calloc(g->arena, (spec->n_rules + 1) * sizeof(*g->spec.rules));
    for (size_t i = 0; i < spec->n_rules; i++) {
        const tw_rule_spec_t *s = &spec->rules[i];
        tw_rule_spec_t *d = &g->spec.rules[i];
        *d = *s;
        d->name = tw_arena_strdup(g->arena, s->name);
        d->expr = tw_arena_strdup(g->arena, s->expr);
        d->labels = copy_labels(g->arena, s->labels, s->n_labels);
        d->annotations = copy_labels(g->arena, s->annotations, s->n_annotations);
    }
    int64_t def = o->default_interval_ms > 0 ? o->default_interval_ms : 60 * 1000;
    g->interval_ms = spec->interval_ms > 0 ? spec->interval_ms : def;
    g->rules = tw_xcalloc(spec->n_rules + 1, sizeof(*g->rules));
    for (size_t i = 0; i < spec->n_rules; i++) {
        g->rules[i].spec = &g->spec.rules[i];
    }
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

static void rule_clear_alerts(rrule_t *r)
{
    for (size_t i = 0; i < r->n_alerts; i++) {
        lset_free(&r->alerts[i].labels);
        lset_free(&r->alerts[i].ann);
    }
    r->n_alerts = 0;
}

static void rule_clear_prev(rrule_t *r)
{
    for (size_t i = 0; i < r->n_prev; i++) {
        lset_free(&r->prev[i]);
    }
    r->n_prev = 0;
}

void tw_rule_group_free(tw_rule_group_t *g)
{
    if (g == NULL) {
        return;
    }
    for (size_t i = 0; i < g->spec.n_rules; i++) {
        rule_clear_alerts(&g->rules[i]);
        rule_clear_prev(&g->rules[i]);
        free(g->rules[i].alerts);
        free(g->rules[i].prev);
    }
    free(g->rules);
    pthread_mutex_destroy(&g->mu);
    tw_arena_free(g->arena);
    free(g);
}

const char *tw_rule_group_name(const tw_rule_group_t *g)
{
    return g->spec.name;
}

const char *tw_rule_group_file(const tw_rule_group_t *g)
{
    return g->file;
}

int64_t tw_rule_group_interval_ms(const tw_rule_group_t *g)
{
    return g->interval_ms;
}

size_t tw_rule_group_rule_count(const tw_rule_group_t *g)
{
    return g->spec.n_rules;
}

void tw_rule_group_set_restored(tw_rule_group_t *g)
{
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->spec.n_rules; i++) {
        g->rules[i].restored = true;
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- one evaluation ---- */

/* A sample a rule produced: labels (sorted) and value, in the evaluation arena. */
typedef struct osample {
    tw_label_t *l;
    size_t n;
    uint64_t hash;
    double v;
} osample_t;

typedef struct evalctx {
    tw_rule_group_t *g;
    int64_t ts;
    tw_arena_t *a; /* per rule */
    osample_t *out;
    size_t n_out, cap_out;
} evalctx_t;

static void out_add(evalctx_t *c, tw_label_t *l, size_t n, double v)
{
    tw_labels_sort(l, n);
    tw_grow((void **)&c->out, &c->cap_out, c->n_out + 1, sizeof(*c->out));
    c->out[c->n_out++] = (osample_t){l, n, tw_labels_hash(l, n), v};
}

/* A label builder over an arena array with room for extra entries. */
typedef struct lbuild {
    tw_label_t *l;
    size_t n;
} lbuild_t;

static void lb_set(lbuild_t *b, const char *name, const char *value)
{
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->l[i].name, name) == 0) {
            if (value[0] == '\0') {
                b->l[i] = b->l[--b->n];
            } else {
                b->l[i].value = value;
            }
            return;
        }
    }
    if (value[0] != '\0') {
        b->l[b->n++] = (tw_label_t){name, value};
    }
}

static lbuild_t lb_from(tw_arena_t *a, const tw_label_t *src, size_t n, size_t extra)
{
    lbuild_t b = {tw_arena_calloc(a, (n + extra + 1) * sizeof(tw_label_t)), 0};
    for (size_t i = 0; i < n; i++) {
        if (strcmp(src[i].name, TW_METRIC_NAME_LABEL) != 0) {
            b.l[b.n++] = src[i];
        }
    }
    return b;
}

/* Runs the rule's query; the result is a vector (a scalar becomes one sample without labels). */
static int run_query(evalctx_t *c, const char *expr, tw_qs_result_t *res, tw_error_t *err)
{
    const tw_query_source_t *q = c->g->o.query;
    memset(res, 0, sizeof(*res));
    int rc = q->instant(q->ctx, expr, c->ts, res, err);
    if (rc != 0) {
        return rc;
    }
    if (res->type != TW_QS_VECTOR && res->type != TW_QS_SCALAR) {
        tw_qs_result_free(res);
        return tw_error_set(err, TW_EEXEC, "rule result is not a vector or scalar");
    }
    return 0;
}

static double point_value(const tw_qs_series_t *s)
{
    return s->n_points > 0 ? s->points[s->n_points - 1].v : NAN;
}

static bool has_same_labelset(const osample_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (s[i].hash == s[j].hash && tw_labels_compare(s[i].l, s[i].n, s[j].l, s[j].n) == 0) {
                return true;
            }
        }
    }
    return false;
}

static int eval_recording(evalctx_t *c, rrule_t *r, tw_error_t *err)
{
    const tw_rule_spec_t *s = r->spec;
    tw_qs_result_t res;
    int rc = run_query(c, s->expr, &res, err);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < res.n_series; i++) {
        const tw_qs_series_t *se = &res.series[i];
        lbuild_t b = lb_from(c->a, se->labels, se->n_labels, s->n_labels + 1);
        for (size_t k = 0; k < b.n; k++) {
            b.l[k].name = tw_arena_strdup(c->a, b.l[k].name);
            b.l[k].value = tw_arena_strdup(c->a, b.l[k].value);
        }
        lb_set(&b, TW_METRIC_NAME_LABEL, s->name);
        for (size_t k = 0; k < s->n_labels; k++) {
            lb_set(&b, s->labels[k].name, s->labels[k].value);
        }
        out_add(c, b.l, b.n, point_value(se));
    }
    tw_qs_result_free(&res);
    if (has_same_labelset(c->out, c->n_out)) {
        c->n_out = 0;
        return tw_error_set(err, TW_EEXEC,
                            "vector contains metrics with the same labelset after applying rule "
                            "labels");
    }
    if (c->g->spec.limit > 0 && (int64_t)c->n_out > c->g->spec.limit) {
        size_t n = c->n_out;
        c->n_out = 0;
        return tw_error_set(err, TW_EEXEC, "exceeded limit of %lld with %zu series",
                            (long long)c->g->spec.limit, n);
    }
    return 0;
}

/*
 * Expands one label or annotation template of the rule for a sample (the single place the
 * template engine is called). A failure becomes Prometheus' "<error expanding template: ...>".
 */
static const char *expand_template(evalctx_t *c, const tw_rule_spec_t *s, const char *text,
                                   const tw_tmpl_value_t *data)
{
    if (strstr(text, "{{") == NULL) {
        return text;
    }
    tw_tmpl_env_t env = {
        .query = c->g->o.query, .query_time_ms = c->ts, .external_url = c->g->o.external_url};
    tw_buf_t out;
    tw_buf_init(&out, 0);
    tw_error_t e;
    tw_error_clear(&e);
    const char *v;
    if (tw_tmpl_expand_alert(s->name, text, data, &env, &out, &e) != 0) {
        v = tw_arena_printf(c->a, "<error expanding template: %s>", e.msg);
    } else {
        v = tw_arena_strndup(c->a, out.data != NULL ? out.data : "", out.len);
    }
    tw_buf_fini(&out);
    return v;
}

/* A candidate alert of this evaluation. */
typedef struct cand {
    tw_label_t *l;
    size_t n;
    uint64_t hash;
    tw_label_t *ann;
    size_t n_ann;
    double v;
    bool matched;
} cand_t;

static ralert_t *find_alert(rrule_t *r, const tw_label_t *l, size_t n, uint64_t h)
{
    for (size_t i = 0; i < r->n_alerts; i++) {
        if (lset_eq(&r->alerts[i].labels, l, n, h)) {
            return &r->alerts[i];
        }
    }
    return NULL;
}

static void alert_sample(evalctx_t *c, const ralert_t *a, const char *name, const char *state,
                         double v)
{
    tw_label_t *l = tw_arena_calloc(c->a, (a->labels.n + 3) * sizeof(*l));
    if (a->labels.n > 0) {
        memcpy(l, a->labels.l, a->labels.n * sizeof(*l));
    }
    size_t n = a->labels.n;
    l[n++] = (tw_label_t){TW_METRIC_NAME_LABEL, name};
    if (state != NULL) {
        l[n++] = (tw_label_t){"alertstate", state};
    }
    out_add(c, l, n, v);
}

static int eval_alerting(evalctx_t *c, rrule_t *r, tw_error_t *err)
{
    const tw_rule_spec_t *s = r->spec;
    tw_rule_group_t *g = c->g;
    int64_t ts = c->ts;
    tw_qs_result_t res;
    int rc = run_query(c, s->expr, &res, err);
    if (rc != 0) {
        return rc;
    }
    cand_t *cands = tw_arena_calloc(c->a, (res.n_series + 1) * sizeof(*cands));
    size_t nc = 0;
    for (size_t i = 0; i < res.n_series; i++) {
        const tw_qs_series_t *se = &res.series[i];
        double v = point_value(se);
        /* the template data keeps __name__, as Prometheus' map of the sample's labels does */
        tw_label_t *tl = copy_labels(c->a, se->labels, se->n_labels);
        tw_labels_sort(tl, se->n_labels);
        tw_tmpl_value_t *data = tw_tmpl_alert_data(c->a, tl, se->n_labels, g->o.external_labels,
                                                   g->o.n_external_labels, g->o.external_url, v);
        lbuild_t b = lb_from(c->a, tl, se->n_labels, s->n_labels + 1);
        for (size_t k = 0; k < s->n_labels; k++) {
            lb_set(&b, s->labels[k].name, expand_template(c, s, s->labels[k].value, data));
        }
        lb_set(&b, "alertname", s->name);
        tw_labels_sort(b.l, b.n);
        cand_t *cd = &cands[nc++];
        cd->l = b.l;
        cd->n = b.n;
        cd->hash = tw_labels_hash(b.l, b.n);
        cd->v = v;
        cd->ann = tw_arena_calloc(c->a, (s->n_annotations + 1) * sizeof(*cd->ann));
        for (size_t k = 0; k < s->n_annotations; k++) {
            cd->ann[k].name = s->annotations[k].name;
            cd->ann[k].value = expand_template(c, s, s->annotations[k].value, data);
        }
        cd->n_ann = s->n_annotations;
        for (size_t k = 0; k + 1 < nc; k++) {
            if (cands[k].hash == cd->hash &&
                tw_labels_compare(cands[k].l, cands[k].n, cd->l, cd->n) == 0) {
                tw_qs_result_free(&res);
                return tw_error_set(err, TW_EEXEC,
                                    "vector contains metrics with the same labelset after "
                                    "applying alert labels");
            }
        }
    }
    tw_qs_result_free(&res);

    pthread_mutex_lock(&g->mu);
    /* New candidates start pending; known ones only refresh value and annotations. */
    for (size_t i = 0; i < nc; i++) {
        cand_t *cd = &cands[i];
        ralert_t *a = find_alert(r, cd->l, cd->n, cd->hash);
        if (a != NULL && a->state != TW_ALERT_INACTIVE) {
            a->value = cd->v;
            lset_free(&a->ann);
            a->ann = lset_dup(cd->ann, cd->n_ann);
            continue;
        }
        if (a == NULL) {
            tw_grow((void **)&r->alerts, &r->cap_alerts, r->n_alerts + 1, sizeof(*r->alerts));
            a = &r->alerts[r->n_alerts++];
        } else {
            lset_free(&a->labels);
            lset_free(&a->ann);
        }
        memset(a, 0, sizeof(*a));
        a->labels = lset_dup(cd->l, cd->n);
        a->ann = lset_dup(cd->ann, cd->n_ann);
        a->state = TW_ALERT_PENDING;
        a->active_at = ts;
        a->fired_at = a->resolved_at = a->last_sent_at = a->valid_until = UNSET;
        a->keep_firing_since = UNSET;
        a->value = cd->v;
    }
    size_t active_pending = 0;
    for (size_t i = 0; i < r->n_alerts; i++) {
        ralert_t *a = &r->alerts[i];
        a->drop = false;
        bool in_result = false;
        for (size_t k = 0; k < nc && !in_result; k++) {
            in_result = lset_eq(&a->labels, cands[k].l, cands[k].n, cands[k].hash);
        }
        if (!in_result) {
            bool keep = false;
            if (a->state == TW_ALERT_FIRING && s->keep_firing_for_ms > 0) {
                if (a->keep_firing_since == UNSET) {
                    a->keep_firing_since = ts;
                }
                keep = ts - a->keep_firing_since < s->keep_firing_for_ms;
            }
            if (a->state == TW_ALERT_PENDING ||
                (a->resolved_at != UNSET && ts - a->resolved_at > RESOLVED_RETENTION_MS)) {
                a->drop = true;
            }
            if (a->state != TW_ALERT_INACTIVE && !keep) {
                a->state = TW_ALERT_INACTIVE;
                a->resolved_at = ts;
            }
            if (!keep) {
                continue;
            }
        } else {
            a->keep_firing_since = UNSET;
        }
        active_pending++;
        if (a->state == TW_ALERT_PENDING && ts - a->active_at >= s->for_ms) {
            a->state = TW_ALERT_FIRING;
            a->fired_at = ts;
        }
        if (r->restored) {
            alert_sample(c, a, "ALERTS", tw_alert_state_str(a->state), 1);
            alert_sample(c, a, "ALERTS_FOR_STATE", NULL, (double)(a->active_at / 1000));
        }
    }
    /* The dropped ones leave only now, so a resolved-and-dropped alert still wrote nothing. */
    size_t w = 0;
    for (size_t i = 0; i < r->n_alerts; i++) {
        if (r->alerts[i].drop) {
            lset_free(&r->alerts[i].labels);
            lset_free(&r->alerts[i].ann);
        } else {
            r->alerts[w++] = r->alerts[i];
        }
    }
    r->n_alerts = w;
    if (g->spec.limit > 0 && (int64_t)active_pending > g->spec.limit) {
        rule_clear_alerts(r);
        pthread_mutex_unlock(&g->mu);
        c->n_out = 0;
        return tw_error_set(err, TW_EEXEC, "exceeded limit of %lld with %zu alerts",
                            (long long)g->spec.limit, active_pending);
    }
    pthread_mutex_unlock(&g->mu);
    return 0;
}

/* AlertingRule.sendAlerts: the alerts that need sending now, to the alert sink. */
static void send_alerts(evalctx_t *c, rrule_t *r)
{
    tw_rule_group_t *g = c->g;
    if (g->o.notify == NULL) {
        return;
    }
    tw_alert_t *batch = tw_arena_calloc(c->a, (r->n_alerts + 1) * sizeof(*batch));
    size_t n = 0;
    tw_buf_t url;
    tw_buf_init(&url, 0);
    tw_alert_generator_url(&url, g->o.external_url, r->spec->expr);
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < r->n_alerts; i++) {
        ralert_t *a = &r->alerts[i];
        int64_t last = a->last_sent_at == UNSET ? INT64_MIN / 2 : a->last_sent_at;
        int64_t resolved = a->resolved_at == UNSET ? INT64_MIN / 2 : a->resolved_at;
        if (!tw_alert_needs_sending(a->state == TW_ALERT_PENDING, last, resolved, c->ts,
                                    g->o.resend_delay_ms)) {
            continue;
        }
        a->last_sent_at = c->ts;
        a->valid_until = tw_alert_valid_until_ms(c->ts, g->o.resend_delay_ms, g->interval_ms);
        tw_alert_t *o = &batch[n++];
        lset_t l = lset_dup(a->labels.l, a->labels.n);
        lset_t an = lset_dup(a->ann.l, a->ann.n);
        /* copies in the arena so the mutex need not be held while the sink runs */
        o->labels = copy_labels(c->a, l.l, l.n);
        o->n_labels = l.n;
        o->annotations = copy_labels(c->a, an.l, an.n);
        o->n_annotations = an.n;
        lset_free(&l);
        lset_free(&an);
        o->starts_at_ms = a->fired_at == UNSET ? 0 : a->fired_at;
        o->ends_at_ms = a->resolved_at != UNSET ? a->resolved_at : a->valid_until;
        o->generator_url = tw_arena_strdup(c->a, url.data != NULL ? url.data : "");
    }
    pthread_mutex_unlock(&g->mu);
    tw_buf_fini(&url);
    if (n > 0) {
        g->o.notify->send(g->o.notify->ctx, batch, n, c->ts);
    }
}

static void sink_append(const tw_sink_t *sink, void *txn, const tw_label_t *l, size_t n, int64_t t,
                        double v)
{
    if (sink == NULL || txn == NULL) {
        return;
    }
    /* Out-of-order and duplicate samples are discarded, as Prometheus logs and drops them. */
    (void)sink->append(txn, l, n, t, v, NULL);
}

int tw_rule_group_eval(tw_rule_group_t *g, int64_t ts_ms)
{
    const tw_sink_t *sink = g->o.sink;
    void *txn = NULL;
    if (sink != NULL && sink->begin(sink->ctx, &txn) != 0) {
        txn = NULL;
    }
    evalctx_t c = {.g = g, .ts = ts_ms, .a = tw_arena_new(0)};
    double stale;
    uint64_t bits = STALE_NAN_BITS;
    memcpy(&stale, &bits, sizeof(stale));
    for (size_t i = 0; i < g->spec.n_rules; i++) {
        rrule_t *r = &g->rules[i];
        tw_arena_reset(c.a);
        c.n_out = 0;
        tw_error_t e;
        tw_error_clear(&e);
        int64_t t0 = g->o.mono_ns != NULL ? g->o.mono_ns() : 0;
        int rc = r->spec->kind == TW_RULE_ALERTING ? eval_alerting(&c, r, &e)
                                                   : eval_recording(&c, r, &e);
        int64_t t1 = g->o.mono_ns != NULL ? g->o.mono_ns() : 0;
        pthread_mutex_lock(&g->mu);
        r->last_eval_ms = ts_ms;
        r->eval_ns = t1 - t0;
        if (rc != 0) {
            r->health = TW_RULE_HEALTH_ERR;
            snprintf(r->last_error, sizeof(r->last_error), "%s",
                     e.msg[0] != '\0' ? e.msg : tw_strerror(rc));
            pthread_mutex_unlock(&g->mu);
            continue;
        }
        r->health = TW_RULE_HEALTH_OK;
        r->last_error[0] = '\0';
        pthread_mutex_unlock(&g->mu);
        if (r->spec->kind == TW_RULE_ALERTING) {
            send_alerts(&c, r);
        }
        for (size_t k = 0; k < c.n_out; k++) {
            sink_append(sink, txn, c.out[k].l, c.out[k].n, ts_ms, c.out[k].v);
        }
        /* Staleness markers for what the previous evaluation wrote and this one did not. */
        for (size_t p = 0; p < r->n_prev; p++) {
            bool still = false;
            for (size_t k = 0; k < c.n_out && !still; k++) {
                still = lset_eq(&r->prev[p], c.out[k].l, c.out[k].n, c.out[k].hash);
            }
            if (!still) {
                sink_append(sink, txn, r->prev[p].l, r->prev[p].n, ts_ms, stale);
            }
        }
        rule_clear_prev(r);
        tw_grow((void **)&r->prev, &r->cap_prev, c.n_out + 1, sizeof(*r->prev));
        for (size_t k = 0; k < c.n_out; k++) {
            r->prev[r->n_prev++] = lset_dup(c.out[k].l, c.out[k].n);
        }
    }
    free(c.out);
    tw_arena_free(c.a);
    int rc = 0;
    if (txn != NULL) {
        rc = sink->commit(txn, NULL);
    }
    return rc;
}

/* ---- restore after a restart ---- */

/* Appends `ALERTS_FOR_STATE{l="v",...}` for the alert's labels to b. */
static void for_state_selector(tw_buf_t *b, const lset_t *l)
{
    tw_buf_puts(b, "ALERTS_FOR_STATE{");
    for (size_t i = 0; i < l->n; i++) {
        tw_buf_printf(b, "%s%s=", i > 0 ? "," : "", l->l[i].name);
        go_quote(b, l->l[i].value, strlen(l->l[i].value));
    }
    tw_buf_putc(b, '}');
}

/*
 * The last ALERTS_FOR_STATE sample of alert a within [now - tolerance, now]: *t_ms and *v.
 * Returns false when there is none, or when it was followed by a staleness marker (the alert
 * had ended). A range query cannot show staleness markers, so the second query asks for the
 * series one group interval after its last sample: the next evaluation either wrote a marker
 * there (nothing comes back) or did not run (the daemon was down; the sample comes back).
 */
static bool last_for_state(tw_rule_group_t *g, const lset_t *l, int64_t now, int64_t *t_ms,
                           double *v)
{
    const tw_query_source_t *q = g->o.query;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    char dur[64];
    for_state_selector(&b, l);
    tw_buf_printf(&b, "[%s]", tw_duration_format(g->o.outage_tolerance_ms, dur, sizeof(dur)));
    tw_qs_result_t res;
    memset(&res, 0, sizeof(res));
    bool found = false;
    if (q->instant(q->ctx, b.data, now, &res, NULL) == 0 && res.type == TW_QS_MATRIX) {
        for (size_t i = 0; i < res.n_series; i++) {
            const tw_qs_series_t *s = &res.series[i];
            if (s->n_points > 0 && (!found || s->points[s->n_points - 1].t_ms > *t_ms)) {
                *t_ms = s->points[s->n_points - 1].t_ms;
                *v = s->points[s->n_points - 1].v;
                found = true;
            }
        }
    }
    tw_qs_result_free(&res);
    if (found) {
        int64_t probe = *t_ms + g->interval_ms;
        if (probe < now) {
            tw_buf_reset(&b);
            for_state_selector(&b, l);
            memset(&res, 0, sizeof(res));
            if (q->instant(q->ctx, b.data, probe, &res, NULL) == 0 && res.type == TW_QS_VECTOR &&
                res.n_series == 0) {
                found = false;
            }
            tw_qs_result_free(&res);
        }
    }
    tw_buf_fini(&b);
    return found;
}

void tw_rule_group_restore_for_state(tw_rule_group_t *g, int64_t now_ms)
{
    for (size_t i = 0; i < g->spec.n_rules; i++) {
        rrule_t *r = &g->rules[i];
        if (r->spec->kind != TW_RULE_ALERTING) {
            continue;
        }
        int64_t hold = r->spec->for_ms;
        if (hold < g->o.for_grace_period_ms) {
            /* it would wait hold + grace otherwise; let it wait just hold */
            pthread_mutex_lock(&g->mu);
            r->restored = true;
            pthread_mutex_unlock(&g->mu);
            continue;
        }
        /* Copy the labels out so the queries run without the mutex. */
        pthread_mutex_lock(&g->mu);
        size_t n = r->n_alerts;
        lset_t *ls = tw_xcalloc(n + 1, sizeof(*ls));
        for (size_t k = 0; k < n; k++) {
            ls[k] = lset_dup(r->alerts[k].labels.l, r->alerts[k].labels.n);
        }
        pthread_mutex_unlock(&g->mu);
        for (size_t k = 0; k < n; k++) {
            int64_t t = 0;
            double v = 0;
            if (!last_for_state(g, &ls[k], now_ms, &t, &v)) {
                continue;
            }
            int64_t down_at = (t / 1000) * 1000;
            int64_t active_at = (int64_t)v * 1000;
            int64_t remaining = hold - (down_at - active_at);
            if (remaining <= 0) {
                continue; /* it was firing: the next evaluation makes it fire again */
            }
            if (remaining < g->o.for_grace_period_ms) {
                active_at = now_ms + g->o.for_grace_period_ms - hold;
            } else {
                active_at += now_ms - down_at;
            }
            pthread_mutex_lock(&g->mu);
            ralert_t *a = find_alert(r, ls[k].l, ls[k].n, ls[k].hash);
            if (a != NULL) {
                a->active_at = active_at;
            }
            pthread_mutex_unlock(&g->mu);
        }
        for (size_t k = 0; k < n; k++) {
            lset_free(&ls[k]);
        }
        free(ls);
        pthread_mutex_lock(&g->mu);
        r->restored = true;
        pthread_mutex_unlock(&g->mu);
    }
}

void tw_rule_group_copy_state(tw_rule_group_t *g, const tw_rule_group_t *old)
{
    bool *used = tw_xcalloc(old->spec.n_rules + 1, sizeof(*used));
    tw_rule_group_t *o = (tw_rule_group_t *)old; /* for its mutex only */
    pthread_mutex_lock(&o->mu);
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->spec.n_rules; i++) {
        rrule_t *r = &g->rules[i];
        for (size_t j = 0; j < old->spec.n_rules; j++) {
            const rrule_t *q = &old->rules[j];
            if (used[j] || q->spec->kind != r->spec->kind ||
                strcmp(q->spec->name, r->spec->name) != 0 ||
                tw_labels_compare(q->spec->labels, q->spec->n_labels, r->spec->labels,
                                  r->spec->n_labels) != 0) {
                continue;
            }
            used[j] = true;
            r->health = q->health;
            memcpy(r->last_error, q->last_error, sizeof(r->last_error));
            r->last_eval_ms = q->last_eval_ms;
            r->eval_ns = q->eval_ns;
            r->restored = q->restored;
            rule_clear_prev(r);
            tw_grow((void **)&r->prev, &r->cap_prev, q->n_prev + 1, sizeof(*r->prev));
            for (size_t k = 0; k < q->n_prev; k++) {
                r->prev[r->n_prev++] = lset_dup(q->prev[k].l, q->prev[k].n);
            }
            rule_clear_alerts(r);
            tw_grow((void **)&r->alerts, &r->cap_alerts, q->n_alerts + 1, sizeof(*r->alerts));
            for (size_t k = 0; k < q->n_alerts; k++) {
                ralert_t *a = &r->alerts[r->n_alerts++];
                *a = q->alerts[k];
                a->labels = lset_dup(q->alerts[k].labels.l, q->alerts[k].labels.n);
                a->ann = lset_dup(q->alerts[k].ann.l, q->alerts[k].ann.n);
            }
            break;
        }
    }
    pthread_mutex_unlock(&g->mu);
    pthread_mutex_unlock(&o->mu);
    free(used);
}

/* ---- accessors ---- */

int tw_rule_group_rule_info(tw_rule_group_t *g, size_t i, tw_rule_info_t *out)
{
    if (i >= g->spec.n_rules) {
        return TW_EINVAL;
    }
    pthread_mutex_lock(&g->mu);
    const rrule_t *r = &g->rules[i];
    out->spec = r->spec;
    out->health = r->health;
    memcpy(out->last_error, r->last_error, sizeof(out->last_error));
    out->last_eval_ms = r->last_eval_ms;
    out->eval_duration_ns = r->eval_ns;
    pthread_mutex_unlock(&g->mu);
    return 0;
}

int tw_rule_group_foreach_alert(tw_rule_group_t *g, size_t i,
                                int (*fn)(void *arg, const tw_rule_alert_view_t *a), void *arg)
{
    if (i >= g->spec.n_rules) {
        return TW_EINVAL;
    }
    int rc = 0;
    pthread_mutex_lock(&g->mu);
    const rrule_t *r = &g->rules[i];
    for (size_t k = 0; k < r->n_alerts && rc == 0; k++) {
        const ralert_t *a = &r->alerts[k];
        if (a->resolved_at != UNSET) {
            continue;
        }
        tw_rule_alert_view_t v = {
            .labels = a->labels.l,
            .n_labels = a->labels.n,
            .annotations = a->ann.l,
            .n_annotations = a->ann.n,
            .state = a->state,
            .active_at_ms = a->active_at,
            .fired_at_ms = a->fired_at == UNSET ? 0 : a->fired_at,
            .resolved_at_ms = 0,
            .keep_firing_since_ms = a->keep_firing_since == UNSET ? 0 : a->keep_firing_since,
            .value = a->value,
        };
        rc = fn(arg, &v);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}
