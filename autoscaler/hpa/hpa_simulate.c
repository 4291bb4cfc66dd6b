/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hpa_simulate.c - `tidewatch autoscaler simulate`: replays metric values over time through the
 * whole HPA controller (tw_hpa_reconcile: gates, calculator, stabilization, behavior policies,
 * conditions) against a dry-run target that applies every scale at once, and prints one line
 * per sync period.
 *
 * How it works: the metrics file is a CSV table (docs/autoscaling-hpa.md, "Simulate"), one row
 * per point in time, one column per spec.metrics entry and an optional `ready` column. Values
 * hold from their row until the next one. At every sync time the simulator builds what the
 * controller would have fetched: the target's pods (all Running; the first `ready` of them
 * Ready since long ago, the rest just started and not Ready) and per-pod samples for the ready
 * ones (a Utilization value is a percent of a 1-core request; other values are per-pod or
 * object/external values as written). It calls tw_hpa_reconcile(), applies the scale if one is
 * asked for and reports back with tw_hpa_rescale_done(), exactly as the live loop does.
 *
 * Pure: the clock is the table's time column (mapped onto a fixed epoch); the only I/O is
 * writing the timeline to the caller's FILE, and tw_hpa_simulate_main() reading its two files.
 * Thread model: no shared state.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/hpa/hpa.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/timeutil.h"

/* The fixed epoch the table's second 0 maps to (the conformance cases' "now"). */
#define SIM_EPOCH_MS INT64_C(1700000000000)
/* Most columns in a metrics table, and most pods the dry-run target will hold. */
#define SIM_MAX_COLS 64
#define SIM_MAX_PODS 100000
/* Most sync passes one run makes (a week at 15 s is 40320). */
#define SIM_MAX_STEPS 1000000
/* The request every simulated pod has for the resource of a Utilization metric: 1 core. */
#define SIM_REQUEST_MILLI 1000

void tw_hpa_simulate_options_init(tw_hpa_simulate_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->sync_period_ms = 15000;
    o->initial_replicas = -1;
    tw_hpa_controller_config_init(&o->controller);
}

/* One value cell. */
typedef struct cell {
    bool has; /* false: empty or "-": no value this time */
    int64_t milli;
} cell_t;

/* One row of the table. */
typedef struct row {
    int64_t t_ms;
    int line;
    bool has_ready;
    int32_t ready;
    cell_t *cells; /* one per spec metric */
} row_t;

typedef struct table {
    row_t *rows;
    size_t n, cap;
    size_t n_metrics;
} table_t;

static void table_fini(table_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->rows[i].cells);
    }
    free(t->rows);
    memset(t, 0, sizeof(*t));
}

/* Trims blanks around [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t' || **s == '\r')) {
        (*s)++;
    }
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r')) {
        (*e)--;
    }
}

/* Splits line [s, e) at commas into up to SIM_MAX_COLS trimmed fields. Returns the count or -1. */
static int split(const char *s, const char *e, const char **fs, const char **fe, int *fcol,
                 const char *line_start)
{
    int n = 0;
    for (;;) {
        const char *c = memchr(s, ',', (size_t)(e - s));
        const char *end = c != NULL ? c : e;
        if (n == SIM_MAX_COLS) {
            return -1;
        }
        fs[n] = s;
        fe[n] = end;
        trim(&fs[n], &fe[n]);
        fcol[n] = (int)(fs[n] - line_start) + 1;
        n++;
        if (c == NULL) {
            return n;
        }
        s = c + 1;
    }
}

static bool field_is(const char *s, const char *e, const char *word)
{
    return (size_t)(e - s) == strlen(word) && memcmp(s, word, (size_t)(e - s)) == 0;
}

/* Column roles: -1 time, -2 ready, >= 0 the metric index. */
enum { COL_TIME = -1, COL_READY = -2 };

/* Maps the header's columns to metrics. */
static int map_header(const tw_hpa_manifest_t *m, const char **fs, const char **fe, const int *fcol,
                      int nf, int *role, const char *name, int line, tw_error_t *err)
{
    bool covered[SIM_MAX_COLS] = {false};
    if (m->spec.n_metrics > SIM_MAX_COLS - 2) {
        return tw_error_set_at(err, TW_EINVAL, name, line, 1, "too many metrics in the spec");
    }
    if (nf < 1 || !field_is(fs[0], fe[0], "t")) {
        return tw_error_set_at(err, TW_EINVAL, name, line, fcol[0],
                               "the header's first column must be \"t\" (the time)");
    }
    role[0] = COL_TIME;
    for (int i = 1; i < nf; i++) {
        int r = -3;
        char buf[32];
        if (field_is(fs[i], fe[i], "ready")) {
            r = COL_READY;
        }
        for (size_t k = 0; r == -3 && k < m->spec.n_metrics; k++) {
            snprintf(buf, sizeof(buf), "metrics[%zu]", k);
            if (field_is(fs[i], fe[i], buf)) {
                r = (int)k;
            }
        }
        size_t matches = 0;
        for (size_t k = 0; r == -3 && k < m->spec.n_metrics; k++) {
            if (field_is(fs[i], fe[i], m->spec.metrics[k].name)) {
                matches++;
            }
        }
        for (size_t k = 0; r == -3 && matches == 1 && k < m->spec.n_metrics; k++) {
            if (field_is(fs[i], fe[i], m->spec.metrics[k].name)) {
                r = (int)k;
            }
        }
        if (r == -3) {
            return tw_error_set_at(err, TW_EINVAL, name, line, fcol[i],
                                   "column \"%.*s\" %s (columns: t, ready, a metric's name or "
                                   "metrics[i])",
                                   (int)(fe[i] - fs[i]), fs[i],
                                   matches > 1 ? "names several metrics: use metrics[i]"
                                               : "names no metric of the spec");
        }
        for (int j = 1; j < i; j++) {
            if (role[j] == r) {
                return tw_error_set_at(err, TW_EINVAL, name, line, fcol[i],
                                       "column \"%.*s\" repeats column %d", (int)(fe[i] - fs[i]),
                                       fs[i], j + 1);
            }
        }
        role[i] = r;
        if (r >= 0) {
            covered[r] = true;
        }
    }
    for (size_t k = 0; k < m->spec.n_metrics; k++) {
        if (!covered[k]) {
            return tw_error_set_at(err, TW_EINVAL, name, line, 1,
                                   "no column for spec.metrics[%zu] (%s); name a column after "
                                   "the metric or \"metrics[%zu]\"",
                                   k, m->spec.metrics[k].name, k);
        }
    }
    return 0;
}

/* A time cell: seconds ("90") or a duration ("1m30s"). */
static int parse_time(const char *s, const char *e, int64_t *ms)
{
    char buf[64];
    size_t n = (size_t)(e - s);
    if (n == 0 || n >= sizeof(buf)) {
        return TW_EINVAL;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    bool digits = true;
    for (size_t i = 0; i < n; i++) {
        digits = digits && buf[i] >= '0' && buf[i] <= '9';
    }
    if (digits) {
        if (n > 12) {
            return TW_EINVAL;
        }
        *ms = strtoll(buf, NULL, 10) * 1000;
        return 0;
    }
    return tw_duration_parse(buf, ms);
}

/* A value cell for metric mi. */
static int parse_value(const tw_hpa_metric_input_t *mi, const char *s, const char *e, cell_t *c,
                       tw_error_t *err)
{
    if (s == e || field_is(s, e, "-")) {
        c->has = false;
        return 0;
    }
    bool util =
        (mi->type == TW_HPA_METRIC_RESOURCE || mi->type == TW_HPA_METRIC_CONTAINER_RESOURCE) &&
        mi->target_type == TW_HPA_TARGET_UTILIZATION;
    if (util && e[-1] == '%') {
        e--;
    }
    tw_hpa_quantity_t q;
    int rc = tw_hpa_quantity_parse(s, (size_t)(e - s), &q, err);
    if (rc != 0) {
        return rc;
    }
    if (q.sign < 0) {
        return tw_error_set(err, TW_EINVAL, "must not be negative");
    }
    c->has = true;
    /* percent of a 1000m request: usage milli = percent * 10 = quantity milli / 100 */
    c->milli = util ? q.milli / 100 : q.milli;
    return 0;
}

static int parse_table(const tw_hpa_manifest_t *m, const char *data, size_t len, const char *name,
                       table_t *t, tw_error_t *err)
{
    const char *fs[SIM_MAX_COLS], *fe[SIM_MAX_COLS];
    int fcol[SIM_MAX_COLS], role[SIM_MAX_COLS];
    bool have_header = false;
    int nh = 0, line = 0;
    int rc = 0;
    size_t off = 0;
    memset(t, 0, sizeof(*t));
    t->n_metrics = m->spec.n_metrics;
    while (off < len && rc == 0) {
        const char *ls = data + off;
        const char *nl = memchr(ls, '\n', len - off);
        const char *le = nl != NULL ? nl : data + len;
        off = nl != NULL ? (size_t)(nl - data) + 1 : len;
        line++;
        const char *ts = ls, *te = le;
        trim(&ts, &te);
        if (ts == te || *ts == '#') {
            continue;
        }
        int nf = split(ls, le, fs, fe, fcol, ls);
        if (nf < 0) {
            return tw_error_set_at(err, TW_EINVAL, name, line, 1, "more than %d columns",
                                   SIM_MAX_COLS);
        }
        if (!have_header) {
            rc = map_header(m, fs, fe, fcol, nf, role, name, line, err);
            have_header = true;
            nh = nf;
            continue;
        }
        if (nf > nh) {
            return tw_error_set_at(err, TW_EINVAL, name, line, fcol[nh],
                                   "%d fields, the header has %d", nf, nh);
        }
        tw_grow((void **)&t->rows, &t->cap, t->n + 1, sizeof(*t->rows));
        row_t *r = &t->rows[t->n++];
        memset(r, 0, sizeof(*r));
        r->line = line;
        r->cells = tw_xcalloc(t->n_metrics + 1, sizeof(*r->cells));
        for (int i = 0; i < nf && rc == 0; i++) {
            if (role[i] == COL_TIME) {
                if (parse_time(fs[i], fe[i], &r->t_ms) != 0) {
                    rc = tw_error_set_at(err, TW_EINVAL, name, line, fcol[i],
                                         "invalid time \"%.*s\" (seconds, or a duration like "
                                         "1m30s)",
                                         (int)(fe[i] - fs[i]), fs[i]);
                } else if (t->n > 1 && r->t_ms <= t->rows[t->n - 2].t_ms) {
                    rc = tw_error_set_at(err, TW_EINVAL, name, line, fcol[i],
                                         "times must increase from row to row");
                }
            } else if (role[i] == COL_READY) {
                if (fs[i] == fe[i] || field_is(fs[i], fe[i], "-")) {
                    continue;
                }
                int64_t ms = 0;
                bool ok = fe[i] - fs[i] < 10;
                for (const char *p = fs[i]; ok && p < fe[i]; p++) {
                    ok = *p >= '0' && *p <= '9';
                }
                if (ok) {
                    ms = strtoll(fs[i], NULL, 10);
                }
                if (!ok || ms > INT32_MAX) {
                    rc = tw_error_set_at(err, TW_EINVAL, name, line, fcol[i],
                                         "ready: expected a pod count, got \"%.*s\"",
                                         (int)(fe[i] - fs[i]), fs[i]);
                } else {
                    r->has_ready = true;
                    r->ready = (int32_t)ms;
                }
            } else {
                tw_error_t e;
                tw_error_clear(&e);
                if (parse_value(&m->spec.metrics[role[i]], fs[i], fe[i], &r->cells[role[i]], &e) !=
                    0) {
                    rc = tw_error_set_at(
                        err, TW_EINVAL, name, line, fcol[i], "%s: invalid value \"%.*s\": %s",
                        m->spec.metrics[role[i]].name, (int)(fe[i] - fs[i]), fs[i], e.msg);
                }
            }
        }
        if (rc == 0 && fe[0] == fs[0]) {
            rc = tw_error_set_at(err, TW_EINVAL, name, line, 1, "a row needs a time");
        }
    }
    if (rc == 0 && t->n == 0) {
        rc = tw_error_set_at(err, TW_EINVAL, name, line, 0,
                             have_header ? "no rows after the header" : "no header line");
    }
    return rc;
}

/* The reason the line reports, from the decision and the conditions after the pass. */
static const char *line_reason(const tw_hpa_manifest_t *m, const tw_hpa_state_t *st,
                               const tw_hpa_decision_t *d)
{
    const tw_hpa_condition_t *active =
        tw_hpa_conditions_get(&st->conditions, TW_HPA_COND_SCALING_ACTIVE);
    const tw_hpa_condition_t *limited =
        tw_hpa_conditions_get(&st->conditions, TW_HPA_COND_SCALING_LIMITED);
    const tw_hpa_condition_t *able =
        tw_hpa_conditions_get(&st->conditions, TW_HPA_COND_ABLE_TO_SCALE);
    if (!d->metrics_computed) {
        if (d->current_replicas > m->spec.max_replicas) {
            return "TooManyReplicas";
        }
        if (d->current_replicas < m->spec.min_replicas && d->current_replicas > 0) {
            return "TooFewReplicas";
        }
        return active != NULL ? active->reason : "ScalingDisabled";
    }
    if (active != NULL && active->status == TW_HPA_STATUS_FALSE) {
        return active->reason;
    }
    if (limited != NULL && limited->status == TW_HPA_STATUS_TRUE) {
        return limited->reason;
    }
    if (able != NULL && (strcmp(able->reason, "ScaleUpStabilized") == 0 ||
                         strcmp(able->reason, "ScaleDownStabilized") == 0)) {
        return able->reason;
    }
    return "DesiredWithinRange";
}

/* Prints s as a logfmt value in double quotes. */
static void print_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', out);
        }
        fputc(*s == '\n' ? ' ' : *s, out);
    }
    fputc('"', out);
}

/* The inputs of one pass, rebuilt each sync. */
typedef struct pass {
    tw_hpa_pod_t *pods;
    tw_hpa_container_t *containers; /* one per pod and metric */
    char (*names)[32];
    tw_hpa_pod_metric_t *samples; /* per metric: n pods */
    tw_hpa_metric_input_t *metrics;
    tw_hpa_metric_result_t *results;
    int64_t *ext_values;
} pass_t;

static void pass_fini(pass_t *p)
{
    free(p->pods);
    free(p->containers);
    free(p->names);
    free(p->samples);
    free(p->metrics);
    free(p->results);
    free(p->ext_values);
    memset(p, 0, sizeof(*p));
}

/*
 * Builds the metric inputs for `replicas` pods of which `ready` are Ready, from row r. The pods
 * are shared by all metrics except for the container list, which differs per metric.
 */
static void pass_build(const tw_hpa_manifest_t *m, const row_t *r, int32_t replicas, int32_t ready,
                       int64_t now_ms, pass_t *p)
{
    size_t nm = m->spec.n_metrics;
    size_t np = (size_t)replicas;
    pass_fini(p);
    p->names = tw_xcalloc(np + 1, sizeof(*p->names));
    p->pods = tw_xcalloc((np + 1) * nm, sizeof(*p->pods));
    p->containers = tw_xcalloc((np + 1) * nm, sizeof(*p->containers));
    p->samples = tw_xcalloc((np + 1) * nm, sizeof(*p->samples));
    p->metrics = tw_xcalloc(nm, sizeof(*p->metrics));
    p->results = tw_xcalloc(nm, sizeof(*p->results));
    p->ext_values = tw_xcalloc(nm, sizeof(*p->ext_values));
    for (size_t i = 0; i < np; i++) {
        snprintf(p->names[i], sizeof(p->names[i]), "pod-%zu", i);
    }
    for (size_t k = 0; k < nm; k++) {
        const tw_hpa_metric_input_t *spec = &m->spec.metrics[k];
        tw_hpa_metric_input_t *mi = &p->metrics[k];
        tw_hpa_pod_t *pods = p->pods + k * (np + 1);
        tw_hpa_container_t *cont = p->containers + k * (np + 1);
        tw_hpa_pod_metric_t *smp = p->samples + k * (np + 1);
        const cell_t *c = &r->cells[k];
        *mi = *spec;
        size_t ns = 0;
        for (size_t i = 0; i < np; i++) {
            bool is_ready = (int32_t)i < ready;
            cont[i].name = spec->container != NULL ? spec->container : "app";
            cont[i].has_request = true;
            cont[i].request_milli = SIM_REQUEST_MILLI;
            pods[i].name = p->names[i];
            pods[i].phase = TW_HPA_POD_RUNNING;
            pods[i].ready = is_ready ? TW_HPA_STATUS_TRUE : TW_HPA_STATUS_FALSE;
            pods[i].has_start_time = true;
            pods[i].start_time_ms = is_ready ? SIM_EPOCH_MS - 3600000 : now_ms;
            pods[i].ready_transition_ms = is_ready ? SIM_EPOCH_MS - 3590000 : now_ms;
            pods[i].containers = &cont[i];
            pods[i].n_containers = 1;
            if (is_ready && c->has) {
                smp[ns].pod = p->names[i];
                smp[ns].value_milli = c->milli;
                smp[ns].timestamp_ms = now_ms;
                smp[ns].window_ms = 60000;
                ns++;
            }
        }
        mi->pods.pods = pods;
        mi->pods.n_pods = np;
        mi->pods.metrics = smp;
        mi->pods.n_metrics = ns;
        mi->pods.now_ms = now_ms;
        mi->fetch_error = c->has ? NULL : "no value in the replay table";
        mi->object_value_milli = c->milli;
        p->ext_values[k] = c->milli;
        mi->external_values_milli = &p->ext_values[k];
        mi->n_external_values = 1;
    }
}

int tw_hpa_simulate_run(const tw_hpa_manifest_t *m, const char *metrics, size_t len,
                        const char *name, const tw_hpa_simulate_options_t *opts, FILE *out,
                        tw_error_t *err)
{
    table_t t;
    pass_t p;
    tw_hpa_state_t st;
    char dur[32];
    memset(&p, 0, sizeof(p));
    tw_hpa_state_init(&st);
    name = name != NULL ? name : "";
    if (opts->sync_period_ms <= 0) {
        return tw_error_set(err, TW_EINVAL, "the sync period must be positive");
    }
    int rc = parse_table(m, metrics, len, name, &t, err);
    if (rc != 0 || t.n == 0) {
        goto out; /* parse_table() refuses a table without rows */
    }
    int32_t replicas = opts->initial_replicas;
    if (replicas < 0) {
        replicas = m->spec.min_replicas > 0 ? m->spec.min_replicas : 1;
    }
    fprintf(out, "# hpa %s/%s target %s/%s min=%d max=%d sync=%s start=%d\n", m->namespace, m->name,
            m->target.kind, m->target.name, (int)m->spec.min_replicas, (int)m->spec.max_replicas,
            tw_duration_format(opts->sync_period_ms, dur, sizeof(dur)), (int)replicas);
    if ((t.rows[t.n - 1].t_ms - t.rows[0].t_ms) / opts->sync_period_ms >= SIM_MAX_STEPS) {
        rc = tw_error_set_at(err, TW_EINVAL, name, t.rows[t.n - 1].line, 1,
                             "the table spans more than %d sync periods", SIM_MAX_STEPS);
        goto out;
    }
    size_t ri = 0;
    const int64_t last = t.rows[t.n - 1].t_ms;
    for (int64_t ts = t.rows[0].t_ms;; ts += opts->sync_period_ms) {
        while (ri + 1 < t.n && t.rows[ri + 1].t_ms <= ts) {
            ri++;
        }
        const row_t *r = &t.rows[ri];
        if (replicas > SIM_MAX_PODS) {
            rc = tw_error_set_at(err, TW_EINVAL, name, r->line, 0,
                                 "the dry-run target holds at most %d pods, the HPA asks for %d",
                                 SIM_MAX_PODS, (int)replicas);
            goto out;
        }
        int32_t ready = r->has_ready && r->ready < replicas ? r->ready : replicas;
        int64_t now = SIM_EPOCH_MS + ts;
        pass_build(m, r, replicas, ready, now, &p);
        tw_hpa_spec_t spec = m->spec;
        spec.metrics = p.metrics;
        tw_hpa_decision_t d;
        tw_error_t e;
        tw_error_clear(&e);
        (void)tw_hpa_reconcile(&opts->controller, &spec, replicas, replicas, now, &st, p.results,
                               &d, &e);
        int32_t proposal = -1;
        for (size_t k = 0; d.metrics_computed && k < spec.n_metrics; k++) {
            if (p.results[k].rc == 0 && p.results[k].calc.replicas > proposal) {
                proposal = p.results[k].calc.replicas;
            }
        }
        const char *why = line_reason(m, &st, &d);
        int32_t before = replicas;
        if (d.rescale) {
            replicas = d.desired_replicas; /* the dry-run target scales at once */
            tw_hpa_rescale_done(&opts->controller, &spec, &d, true, NULL, now, &st);
        }
        fprintf(out, "t=%llds replicas=%d->%d", (long long)(ts / 1000), (int)before, (int)replicas);
        if (proposal >= 0) {
            fprintf(out, " proposal=%d", (int)proposal);
        } else {
            fputs(" proposal=-", out);
        }
        fprintf(out, " reason=%s", why);
        if (d.reason[0] != '\0' && d.rescale) {
            fputs(" message=", out);
            print_quoted(out, d.reason);
        }
        if (d.error[0] != '\0') {
            fputs(" error=", out);
            print_quoted(out, d.error);
        }
        fputc('\n', out);
        if (ts > last - opts->sync_period_ms) {
            break; /* the next sync would be past the table (checked without overflow) */
        }
    }
out:
    pass_fini(&p);
    tw_hpa_state_fini(&st);
    table_fini(&t);
    return rc;
}

/* ---- the command -------------------------------------------------------------------------- */

static const char sim_usage[] =
    "usage: tidewatch autoscaler simulate --spec HPA.yaml --metrics FILE [--sync-period 15s]\n"
    "                                     [--initial-replicas N] [--hpa NAME] [--scale-to-zero]\n"
    "\n"
    "Replays the metric values of FILE (CSV: t,<metric>...,[ready]) through the HPA controller\n"
    "for the HorizontalPodAutoscaler in HPA.yaml against a dry-run target, and prints one line\n"
    "per sync period: time, replicas before->after, the largest metric proposal, the reason.\n";

typedef struct sim_args {
    const char *spec, *metrics, *hpa;
    tw_hpa_simulate_options_t o;
    bool help;
} sim_args_t;

static int parse_args(int argc, char **argv, sim_args_t *a, tw_error_t *err)
{
    tw_hpa_simulate_options_init(&a->o);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            a->help = true;
            continue;
        }
        if (strcmp(arg, "--scale-to-zero") == 0) {
            a->o.controller.gate_scale_to_zero = true;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t nl = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        static const char *const names[] = {"--spec", "--metrics", "--sync-period",
                                            "--initial-replicas", "--hpa"};
        int which = -1;
        for (int k = 0; k < 5; k++) {
            if (strlen(names[k]) == nl && strncmp(arg, names[k], nl) == 0) {
                which = k;
            }
        }
        if (which < 0) {
            return tw_error_set(err, TW_EINVAL, "unknown argument %s", arg);
        }
        const char *v = eq != NULL ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (v == NULL || v[0] == '\0') {
            return tw_error_set(err, TW_EINVAL, "flag %s needs a value", names[which]);
        }
        switch (which) {
        case 0:
            a->spec = v;
            break;
        case 1:
            a->metrics = v;
            break;
        case 2:
            if (tw_duration_parse(v, &a->o.sync_period_ms) != 0 || a->o.sync_period_ms <= 0) {
                return tw_error_set(err, TW_EINVAL,
                                    "flag --sync-period: invalid duration \"%s\" (e.g. 15s)", v);
            }
            break;
        case 3: {
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (*end != '\0' || n < 0 || n > SIM_MAX_PODS) {
                return tw_error_set(err, TW_EINVAL,
                                    "flag --initial-replicas: expected 0..%d, got \"%s\"",
                                    SIM_MAX_PODS, v);
            }
            a->o.initial_replicas = (int32_t)n;
            break;
        }
        default:
            a->hpa = v;
            break;
        }
    }
    if (!a->help && (a->spec == NULL || a->metrics == NULL)) {
        return tw_error_set(err, TW_EINVAL, "needs --spec and --metrics");
    }
    return 0;
}

/* Picks the manifest named by --hpa (NAME or NAMESPACE/NAME), or the only one. */
static const tw_hpa_manifest_t *pick(const tw_hpa_manifest_list_t *l, const char *hpa,
                                     tw_error_t *err)
{
    if (hpa == NULL) {
        if (l->n == 1) {
            return l->items[0];
        }
        tw_error_set(err, TW_EINVAL,
                     "the spec file holds %zu HorizontalPodAutoscalers: choose one "
                     "with --hpa NAME",
                     l->n);
        return NULL;
    }
    for (size_t i = 0; i < l->n; i++) {
        const tw_hpa_manifest_t *m = l->items[i];
        char full[512];
        snprintf(full, sizeof(full), "%s/%s", m->namespace, m->name);
        if (strcmp(hpa, m->name) == 0 || strcmp(hpa, full) == 0) {
            return m;
        }
    }
    tw_error_set(err, TW_EINVAL, "no HorizontalPodAutoscaler named %s in the spec file", hpa);
    return NULL;
}

int tw_hpa_simulate_main(int argc, char **argv, FILE *out, FILE *errout)
{
    sim_args_t a;
    tw_error_t err;
    char msg[sizeof(err.msg) + sizeof(err.file) + 32];
    tw_hpa_manifest_list_t list = {NULL, 0};
    tw_buf_t b;
    int status = 0;
    memset(&a, 0, sizeof(a));
    tw_error_clear(&err);
    tw_buf_init(&b, TW_HPA_SIMULATE_MAX_BYTES);
    if (parse_args(argc, argv, &a, &err) != 0) {
        fprintf(errout, "tidewatch: autoscaler simulate: %s\n\n%s", err.msg, sim_usage);
        status = 2;
        goto out;
    }
    if (a.help) {
        fputs(sim_usage, out);
        goto out;
    }
    tw_hpa_manifest_options_t mo = {.gate_scale_to_zero = a.o.controller.gate_scale_to_zero};
    const tw_hpa_manifest_t *m = NULL;
    if (tw_hpa_manifests_load(a.spec, &mo, &list, &err) != 0 ||
        (m = pick(&list, a.hpa, &err)) == NULL || tw_buf_read_file(&b, a.metrics, &err) != 0 ||
        tw_hpa_simulate_run(m, b.data != NULL ? b.data : "", b.len, a.metrics, &a.o, out, &err) !=
            0) {
        fflush(out);
        fprintf(errout, "tidewatch: autoscaler simulate: %s\n",
                tw_error_format(&err, msg, sizeof(msg)));
        status = 1;
    }
out:
    tw_buf_fini(&b);
    tw_hpa_manifest_list_fini(&list);
    return status;
}
