/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules_loop.c - the rule-evaluation thread (see rules_loop.h).
 *
 * The groups of one configuration form a generation (gen_t): the groups sorted by file and
 * name (Prometheus' RuleGroups() order), the external labels and URL they borrow. configure()
 * builds a new generation completely, then swaps it in under both locks and frees the old one.
 *
 * Locks: `eval_mu` is held for a whole tick (every evaluation) and by configure() while it
 * swaps, so a generation is never freed under an evaluation; `mu` guards the generation
 * pointer, the counters and the thread's stop flag, and is what readers (API, /metrics) take.
 * Lock order: eval_mu, then mu. `notify_mu` guards only the notifier sink the proxy forwards to.
 */
#define _GNU_SOURCE
#include "rules_loop.h"

#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hash.h"
#include "common/labels.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "config_alerting.h"
#include "query/query.h"

#define DEFAULT_WAIT_MS 60000

typedef struct loop_group {
    tw_rule_group_t *g;
    char *key; /* "<file>;<name>", the rule_group label */
    int64_t interval_ms;
    bool should_restore;
    tw_rules_loop_group_stats_t st; /* under mu */
} loop_group_t;

typedef struct gen {
    loop_group_t *groups;
    size_t n;
    tw_label_t *ext; /* strings owned */
    size_t n_ext;
    char *ext_url;
} gen_t;

struct tw_rules_loop {
    tw_rules_loop_options_t o;
    tw_sink_t sink;
    bool has_sink;
    tw_query_source_t qs; /* the groups point here */
    tw_alert_sink_t proxy;

    pthread_mutex_t eval_mu;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    gen_t *gen;          /* under mu (written also under eval_mu) */
    bool started, stop, wake;
    bool configured_once;
    bool last_reload_ok;
    double rule_eval_seconds_sum; /* under mu */
    uint64_t rule_eval_count;
    pthread_t thread;

    pthread_mutex_t notify_mu;
    tw_alert_sink_t notify;
    bool has_notify;
};

/* ---- helpers ---- */

static int64_t loop_now(const tw_rules_loop_t *l)
{
    return l->o.now_ms != NULL ? l->o.now_ms() : tw_now_ms();
}

static int proxy_send(void *ctx, const tw_alert_t *alerts, size_t n, int64_t now_ms)
{
    tw_rules_loop_t *l = ctx;
    int rc = 0;
    pthread_mutex_lock(&l->notify_mu);
    if (l->has_notify) {
        rc = l->notify.send(l->notify.ctx, alerts, n, now_ms);
    }
    pthread_mutex_unlock(&l->notify_mu);
    return rc;
}

static void gen_free(gen_t *g)
{
    if (g == NULL) {
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        tw_rule_group_free(g->groups[i].g);
        free(g->groups[i].key);
    }
    free(g->groups);
    for (size_t i = 0; i < g->n_ext; i++) {
        free((char *)g->ext[i].name);
        free((char *)g->ext[i].value);
    }
    free(g->ext);
    free(g->ext_url);
    free(g);
}

/* Prometheus' Group.EvalTimestamp: the grid point at or before t, shifted by the group's
 * offset; the first evaluation is one interval later. */
static int64_t first_eval_ms(const loop_group_t *lg, int64_t now_ms)
{
    tw_label_t key[2] = {{.name = "file", .value = tw_rule_group_file(lg->g)},
                         {.name = "name", .value = tw_rule_group_name(lg->g)}};
    int64_t iv = lg->interval_ms;
    int64_t offset = (int64_t)(tw_labels_hash(key, 2) % (uint64_t)iv);
    int64_t adj = now_ms - offset;
    int64_t base = adj - (((adj % iv) + iv) % iv);
    return base + offset + iv;
}

static int group_cmp(const void *a, const void *b)
{
    const loop_group_t *x = a, *y = b;
    int c = strcmp(tw_rule_group_file(x->g), tw_rule_group_file(y->g));
    return c != 0 ? c : strcmp(tw_rule_group_name(x->g), tw_rule_group_name(y->g));
}

int tw_rules_check_expr(void *ctx, const char *expr, tw_error_t *err)
{
    const tw_promql_compat_t *compat = ctx;
    tw_promql_parse_options_t po = {.compat = *compat,
                                    .disable_experimental_functions =
                                        *compat == TW_PROMQL_COMPAT_PROMETHEUS2};
    tw_promql_ast_t *ast = NULL;
    tw_error_t e;
    tw_error_clear(&e);
    int rc = tw_promql_parse(expr, strlen(expr), &po, &ast, &e);
    if (rc != 0) {
        char m[sizeof(e.msg) + 32];
        e.file[0] = '\0';
        tw_error_format(&e, m, sizeof(m));
        tw_error_set(err, rc, "%s", m);
    }
    tw_promql_ast_free(ast);
    return rc;
}

typedef struct file_list {
    char **paths;
    size_t n;
} file_list_t;

static void file_list_add(file_list_t *fl, const char *p)
{
    for (size_t i = 0; i < fl->n; i++) {
        if (strcmp(fl->paths[i], p) == 0) {
            return; /* each file once */
        }
    }
    fl->paths = tw_xrealloc(fl->paths, (fl->n + 1) * sizeof(char *));
    fl->paths[fl->n++] = tw_xstrdup(p);
}

static void file_list_fini(file_list_t *fl)
{
    for (size_t i = 0; i < fl->n; i++) {
        free(fl->paths[i]);
    }
    free(fl->paths);
}

/* Expands the patterns like Prometheus' filepath.Glob: a pattern without a match is no file. */
static int expand_files(const tw_config_t *c, file_list_t *fl, tw_rule_errors_t *errs)
{
    size_t plen = strlen(TW_RULES_BUILTIN_PREFIX);
    for (size_t i = 0; i < c->n_rule_files; i++) {
        const char *pat = c->rule_files[i];
        if (strncmp(pat, TW_RULES_BUILTIN_PREFIX, plen) == 0) {
            file_list_add(fl, pat);
            continue;
        }
        glob_t g;
        memset(&g, 0, sizeof(g));
        int grc = glob(pat, 0, NULL, &g);
        if (grc != 0 && grc != GLOB_NOMATCH) {
            tw_rule_errors_add(errs, "%s: cannot expand the rule file pattern", pat);
        }
        for (size_t k = 0; grc == 0 && k < g.gl_pathc; k++) {
            file_list_add(fl, g.gl_pathv[k]);
        }
        globfree(&g);
    }
    return errs->n > 0 ? TW_EPARSE : 0;
}

static int load_files(const file_list_t *fl, const tw_rule_load_options_t *lo,
                      tw_rule_file_t ***files, tw_rule_errors_t *errs)
{
    size_t plen = strlen(TW_RULES_BUILTIN_PREFIX);
    *files = tw_xcalloc(fl->n + 1, sizeof(**files));
    int rc = 0;
    for (size_t i = 0; i < fl->n; i++) {
        const char *p = fl->paths[i];
        const char *text = NULL;
        int frc;
        if (strncmp(p, TW_RULES_BUILTIN_PREFIX, plen) == 0) {
            if (tw_rules_builtin_find(p + plen, &text) != 0) {
                tw_rule_errors_add(errs, "%s: no such built-in rule file", p);
                frc = TW_ENOTFOUND;
            } else {
                frc = tw_rule_file_parse(p, text, strlen(text), lo, &(*files)[i], errs);
            }
        } else {
            frc = tw_rule_file_load(p, lo, &(*files)[i], errs);
        }
        if (frc != 0) {
            rc = TW_EPARSE;
        }
    }
    return rc;
}

/* Builds a generation from the loaded files (group specs are copied by the groups). */
static gen_t *gen_build(tw_rules_loop_t *l, const tw_config_t *c, tw_rule_file_t **files,
                        size_t n_files)
{
    gen_t *g = tw_xcalloc(1, sizeof(*g));
    g->n_ext = c->global.n_external_labels;
    g->ext = tw_xcalloc(g->n_ext + 1, sizeof(*g->ext));
    for (size_t i = 0; i < g->n_ext; i++) {
        g->ext[i].name = tw_xstrdup(c->global.external_labels[i].name);
        g->ext[i].value = tw_xstrdup(c->global.external_labels[i].value);
    }
    g->ext_url = tw_xstrdup(c->global.external_url != NULL ? c->global.external_url : "");
    tw_rule_group_options_t go = {
        .query = &l->qs,
        .sink = l->has_sink ? &l->sink : NULL,
        .notify = &l->proxy,
        .external_labels = g->ext,
        .n_external_labels = g->n_ext,
        .external_url = g->ext_url,
        .default_interval_ms = c->global.evaluation_interval_ms,
        .resend_delay_ms = l->o.resend_delay_ms,
        .outage_tolerance_ms = l->o.outage_tolerance_ms,
        .for_grace_period_ms = l->o.for_grace_period_ms,
        .mono_ns = tw_mono_ns,
    };
    size_t total = 0;
    for (size_t i = 0; i < n_files; i++) {
        total += files[i]->n_groups;
    }
    g->groups = tw_xcalloc(total + 1, sizeof(*g->groups));
    for (size_t i = 0; i < n_files; i++) {
        for (size_t k = 0; k < files[i]->n_groups; k++) {
            loop_group_t *lg = &g->groups[g->n++];
            lg->g = tw_rule_group_new(&files[i]->groups[k], files[i]->name, &go);
            lg->interval_ms = tw_rule_group_interval_ms(lg->g);
            lg->st.limit = files[i]->groups[k].limit;
            size_t klen = strlen(files[i]->name) + strlen(files[i]->groups[k].name) + 2;
            lg->key = tw_xmalloc(klen);
            snprintf(lg->key, klen, "%s;%s", files[i]->name, files[i]->groups[k].name);
        }
    }
    qsort(g->groups, g->n, sizeof(*g->groups), group_cmp);
    return g;
}

/* ---- public ---- */

tw_rules_loop_t *tw_rules_loop_new(const tw_rules_loop_options_t *o)
{
    tw_rules_loop_t *l = tw_xcalloc(1, sizeof(*l));
    if (o != NULL) {
        l->o = *o;
        if (o->sink != NULL) {
            l->sink = *o->sink;
            l->has_sink = true;
        }
    }
    l->o.sink = NULL;
    l->proxy.ctx = l;
    l->proxy.send = proxy_send;
    l->last_reload_ok = true;
    pthread_mutex_init(&l->eval_mu, NULL);
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->notify_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &ca);
    pthread_condattr_destroy(&ca);
    l->gen = tw_xcalloc(1, sizeof(gen_t));
    return l;
}

int tw_rules_loop_configure(tw_rules_loop_t *l, const tw_config_t *c, const tw_query_source_t *qs,
                            tw_error_t *err)
{
    tw_promql_compat_t compat = c->query.compat;
    tw_rule_load_options_t lo = {.check_expr = tw_rules_check_expr, .check_ctx = &compat};
    tw_rule_errors_t errs = {0};
    file_list_t fl = {0};
    tw_rule_file_t **files = NULL;
    size_t rules = 0;
    int rc = expand_files(c, &fl, &errs);
    if (rc == 0) {
        rc = load_files(&fl, &lo, &files, &errs);
    }
    if (rc != 0) {
        for (size_t i = 0; i < errs.n; i++) {
            tw_log(TW_LOG_ERROR, "rules", "Failed to load rule file", "err", errs.msgs[i], NULL);
        }
        if (errs.n > 1) {
            tw_error_set(err, TW_EPARSE, "error loading rules: %s (and %zu more, see the log)",
                         errs.msgs[0], errs.n - 1);
        } else {
            tw_error_set(err, TW_EPARSE, "error loading rules: %s",
                         errs.n > 0 ? errs.msgs[0] : "unknown error");
        }
        pthread_mutex_lock(&l->mu);
        l->last_reload_ok = false;
        pthread_mutex_unlock(&l->mu);
        rc = TW_EPARSE;
        goto out;
    }

    pthread_mutex_lock(&l->eval_mu);
    l->qs = *qs;
    gen_t *ng = gen_build(l, c, files, fl.n);
    gen_t *og = l->gen;
    int64_t now = loop_now(l);
    for (size_t i = 0; i < ng->n; i++) {
        loop_group_t *lg = &ng->groups[i];
        loop_group_t *old = NULL;
        for (size_t k = 0; k < og->n && old == NULL; k++) {
            if (strcmp(og->groups[k].key, lg->key) == 0) {
                old = &og->groups[k];
            }
        }
        rules += tw_rule_group_rule_count(lg->g);
        if (old != NULL) {
            tw_rule_group_copy_state(lg->g, old->g);
            lg->should_restore = old->should_restore;
            if (!old->should_restore) {
                tw_rule_group_set_restored(lg->g);
            }
            int64_t limit = lg->st.limit;
            lg->st = old->st; /* under eval_mu: the thread does not write it now */
            lg->st.limit = limit;
            if (old->interval_ms != lg->interval_ms) {
                lg->st.next_eval_ms = first_eval_ms(lg, now);
            }
        } else {
            /* Only the groups of the first configuration restore their `for` state. */
            lg->should_restore = !l->configured_once;
            if (!lg->should_restore) {
                tw_rule_group_set_restored(lg->g);
            }
            lg->st.next_eval_ms = first_eval_ms(lg, now);
        }
    }
    pthread_mutex_lock(&l->mu);
    l->gen = ng;
    l->configured_once = true;
    l->last_reload_ok = true;
    l->wake = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_unlock(&l->eval_mu);
    gen_free(og);

    char ng_s[32], nr_s[32], nf_s[32];
    snprintf(nf_s, sizeof(nf_s), "%zu", fl.n);
    snprintf(ng_s, sizeof(ng_s), "%zu", ng->n);
    snprintf(nr_s, sizeof(nr_s), "%zu", rules);
    tw_log(TW_LOG_INFO, "rules", "Rules loaded", "files", nf_s, "groups", ng_s, "rules", nr_s,
           NULL);
out:
    for (size_t i = 0; files != NULL && i < fl.n; i++) {
        tw_rule_file_free(files[i]);
    }
    free(files);
    file_list_fini(&fl);
    tw_rule_errors_fini(&errs);
    return rc;
}

void tw_rules_loop_set_notify(tw_rules_loop_t *l, const tw_alert_sink_t *notify)
{
    pthread_mutex_lock(&l->notify_mu);
    l->has_notify = notify != NULL;
    if (notify != NULL) {
        l->notify = *notify;
    }
    pthread_mutex_unlock(&l->notify_mu);
}

/* Evaluates one due group at its grid point (eval_mu held). */
static void eval_group(tw_rules_loop_t *l, loop_group_t *lg, int64_t now_ms)
{
    int64_t iv = lg->interval_ms;
    int64_t ts = lg->st.next_eval_ms;
    uint64_t missed = 0;
    if (now_ms - ts >= iv) {
        missed = (uint64_t)((now_ms - ts) / iv);
        ts += (int64_t)missed * iv;
    }
    int64_t t0 = tw_mono_ns();
    int rc = tw_rule_group_eval(lg->g, ts);
    if (rc != 0) {
        tw_log(TW_LOG_WARN, "rules", "Rule sample appending failed", "group", lg->key, "err",
               tw_strerror(rc), NULL);
    }
    if (lg->should_restore) {
        tw_rule_group_restore_for_state(lg->g, loop_now(l));
        lg->should_restore = false;
    }
    int64_t dur = tw_mono_ns() - t0;
    uint64_t failures = 0;
    double rule_sum = 0;
    size_t n = tw_rule_group_rule_count(lg->g);
    for (size_t i = 0; i < n; i++) {
        tw_rule_info_t ri;
        if (tw_rule_group_rule_info(lg->g, i, &ri) == 0) {
            rule_sum += (double)ri.eval_duration_ns / 1e9;
            if (ri.health == TW_RULE_HEALTH_ERR && ri.last_eval_ms == ts) {
                failures++;
            }
        }
    }
    pthread_mutex_lock(&l->mu);
    lg->st.last_eval_ms = ts;
    lg->st.last_duration_ns = dur;
    lg->st.next_eval_ms = ts + iv;
    lg->st.evaluations++;
    lg->st.rule_failures += failures;
    lg->st.iterations_missed += missed;
    l->rule_eval_seconds_sum += rule_sum;
    l->rule_eval_count += n;
    pthread_mutex_unlock(&l->mu);
}

int64_t tw_rules_loop_tick(tw_rules_loop_t *l, int64_t now_ms)
{
    pthread_mutex_lock(&l->eval_mu);
    gen_t *g = l->gen; /* stable while eval_mu is held */
    int64_t next = now_ms + DEFAULT_WAIT_MS;
    for (size_t i = 0; i < g->n; i++) {
        loop_group_t *lg = &g->groups[i];
        if (lg->st.next_eval_ms <= now_ms) {
            eval_group(l, lg, now_ms);
        }
        if (lg->st.next_eval_ms < next) {
            next = lg->st.next_eval_ms;
        }
    }
    pthread_mutex_unlock(&l->eval_mu);
    return next;
}

static void *loop_main(void *arg)
{
    tw_rules_loop_t *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        bool stop = l->stop;
        l->wake = false;
        pthread_mutex_unlock(&l->mu);
        if (stop) {
            break;
        }
        int64_t next = tw_rules_loop_tick(l, loop_now(l));
        pthread_mutex_lock(&l->mu);
        while (!l->stop && !l->wake) {
            int64_t wait_ms = next - loop_now(l);
            if (wait_ms <= 0) {
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = (int64_t)ts.tv_nsec + (wait_ms % 1000) * 1000000;
            ts.tv_sec += (time_t)(wait_ms / 1000 + ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&l->cond, &l->mu, &ts);
        }
        pthread_mutex_unlock(&l->mu);
    }
    return NULL;
}

int tw_rules_loop_start(tw_rules_loop_t *l, tw_error_t *err)
{
    if (l->started) {
        return 0;
    }
    l->stop = false;
    int rc = pthread_create(&l->thread, NULL, loop_main, l);
    if (rc != 0) {
        return tw_error_set(err, -rc, "cannot start the rule-evaluation thread: %s", strerror(rc));
    }
    pthread_setname_np(l->thread, "tw-rules");
    l->started = true;
    return 0;
}

void tw_rules_loop_stop(tw_rules_loop_t *l)
{
    if (l == NULL || !l->started) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    l->started = false;
}

void tw_rules_loop_free(tw_rules_loop_t *l)
{
    if (l == NULL) {
        return;
    }
    tw_rules_loop_stop(l);
    gen_free(l->gen);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->notify_mu);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->eval_mu);
    free(l);
}

int tw_rules_loop_foreach_group(tw_rules_loop_t *l,
                                int (*fn)(void *arg, tw_rule_group_t *g,
                                          const tw_rules_loop_group_stats_t *st),
                                void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; rc == 0 && i < l->gen->n; i++) {
        rc = fn(arg, l->gen->groups[i].g, &l->gen->groups[i].st);
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void tw_rules_loop_collect_metrics(tw_rules_loop_t *l, tw_mset_t *out)
{
    if (l == NULL) {
        return;
    }
    tw_mfamily_t *dur = tw_mset_family(out, "tidewatch_rule_evaluation_duration_seconds",
                                       TW_MTYPE_SUMMARY, "The duration of rule evaluations.", NULL);
    tw_mfamily_t *evals = tw_mset_family(out, "tidewatch_rule_evaluations_total", TW_MTYPE_COUNTER,
                                         "The total number of rule evaluations.", NULL);
    tw_mfamily_t *fails =
        tw_mset_family(out, "tidewatch_rule_evaluation_failures_total", TW_MTYPE_COUNTER,
                       "The total number of rule evaluation failures.", NULL);
    tw_mfamily_t *last = tw_mset_family(
        out, "tidewatch_rule_group_last_evaluation_timestamp_seconds", TW_MTYPE_GAUGE,
        "The timestamp of the last rule group evaluation in seconds.", NULL);
    tw_mfamily_t *lastdur =
        tw_mset_family(out, "tidewatch_rule_group_last_duration_seconds", TW_MTYPE_GAUGE,
                       "The duration of the last rule group evaluation.", NULL);
    tw_mfamily_t *ivf = tw_mset_family(out, "tidewatch_rule_group_interval_seconds", TW_MTYPE_GAUGE,
                                       "The interval of a rule group.", NULL);
    tw_mfamily_t *rulesf = tw_mset_family(out, "tidewatch_rule_group_rules", TW_MTYPE_GAUGE,
                                          "The number of rules.", NULL);
    tw_mfamily_t *iters =
        tw_mset_family(out, "tidewatch_rule_group_iterations_total", TW_MTYPE_COUNTER,
                       "The total number of scheduled rule group evaluations, "
                       "whether executed or missed.",
                       NULL);
    tw_mfamily_t *missed = tw_mset_family(
        out, "tidewatch_rule_group_iterations_missed_total", TW_MTYPE_COUNTER,
        "The total number of rule group evaluations missed due to slow rule group evaluation.",
        NULL);
    tw_mfamily_t *reload =
        tw_mset_family(out, "tidewatch_rule_config_last_reload_successful", TW_MTYPE_GAUGE,
                       "Whether the last rule files reload attempt was "
                       "successful.",
                       NULL);
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->gen->n; i++) {
        const loop_group_t *lg = &l->gen->groups[i];
        tw_label_t lb[1] = {{.name = "rule_group", .value = lg->key}};
        size_t nr = tw_rule_group_rule_count(lg->g);
        tw_mset_add(out, evals, NULL, lb, 1, (double)(lg->st.evaluations * nr), TW_NO_TIMESTAMP);
        tw_mset_add(out, fails, NULL, lb, 1, (double)lg->st.rule_failures, TW_NO_TIMESTAMP);
        tw_mset_add(out, last, NULL, lb, 1,
                    lg->st.last_eval_ms == 0 ? 0.0 : (double)lg->st.last_eval_ms / 1000.0,
                    TW_NO_TIMESTAMP);
        tw_mset_add(out, lastdur, NULL, lb, 1, (double)lg->st.last_duration_ns / 1e9,
                    TW_NO_TIMESTAMP);
        tw_mset_add(out, ivf, NULL, lb, 1, (double)lg->interval_ms / 1000.0, TW_NO_TIMESTAMP);
        tw_mset_add(out, rulesf, NULL, lb, 1, (double)nr, TW_NO_TIMESTAMP);
        tw_mset_add(out, iters, NULL, lb, 1,
                    (double)(lg->st.evaluations + lg->st.iterations_missed), TW_NO_TIMESTAMP);
        tw_mset_add(out, missed, NULL, lb, 1, (double)lg->st.iterations_missed, TW_NO_TIMESTAMP);
    }
    tw_mset_add(out, dur, "_sum", NULL, 0, l->rule_eval_seconds_sum, TW_NO_TIMESTAMP);
    tw_mset_add(out, dur, "_count", NULL, 0, (double)l->rule_eval_count, TW_NO_TIMESTAMP);
    tw_mset_add(out, reload, NULL, NULL, 0, l->last_reload_ok ? 1.0 : 0.0, TW_NO_TIMESTAMP);
    pthread_mutex_unlock(&l->mu);
}
