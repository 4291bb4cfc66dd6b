/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_rules_loop.c - the rule-evaluation loop without the engine: a fake query source, a fake
 * sample sink and a fake alert sink, time as a parameter (tw_rules_loop_tick). Checks the
 * evaluation grid (first evaluation one interval after the grid point before the start, missed
 * grid points skipped and counted), recorded series and ALERTS through the sink (ALERTS only
 * after the for-state restore), alerts to the alert sink, a bad rule file on reload (refused,
 * old groups kept), a good reload (alert state kept), built-in files, the self-metrics and the
 * /api/v1 JSON (Go's 'e' value format).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerting/notify/notify.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/metric_set.h"
#include "daemon/alerting_api.h"
#include "daemon/config.h"
#include "daemon/rules_loop.h"
#include "query/query.h"

#define NOW INT64_C(1700000000000)
#define IV INT64_C(10000)

/* ---- fakes ---- */

typedef struct fakes {
    /* query source: `itest` has one series {inst="a"} with value, when present */
    bool present;
    double value;
    int queries;
    tw_label_t lbl[1];
    tw_qs_point_t point;
    tw_qs_series_t series;
    /* sink */
    int commits;
    int samples;
    int alerts_series; /* ALERTS samples */
    int recorded;      /* itest:sum samples */
    /* alert sink */
    int sends;
    int alerts_sent;
    char last_alertname[64];
    char last_severity[64];
} fakes_t;

static int fake_instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out,
                        tw_error_t *err)
{
    fakes_t *f = ctx;
    (void)err;
    f->queries++;
    memset(out, 0, sizeof(*out));
    out->type = TW_QS_VECTOR;
    if (f->present && strstr(expr, "itest") != NULL &&
        (strstr(expr, "> 10") == NULL || f->value > 10)) {
        f->lbl[0] = (tw_label_t){.name = "inst", .value = "a"};
        f->point = (tw_qs_point_t){t_ms, f->value};
        f->series = (tw_qs_series_t){f->lbl, 1, &f->point, 1};
        out->series = &f->series;
        out->n_series = 1;
    }
    return 0;
}

static int sink_begin(void *ctx, void **txn)
{
    *txn = ctx;
    return 0;
}

static int sink_append(void *txn, const tw_label_t *l, size_t n, int64_t t, double v,
                       tw_error_t *err)
{
    fakes_t *f = txn;
    (void)t;
    (void)v;
    (void)err;
    f->samples++;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].name, "__name__") == 0) {
            f->alerts_series += strcmp(l[i].value, "ALERTS") == 0;
            f->recorded += strcmp(l[i].value, "itest:sum") == 0;
        }
    }
    return 0;
}

static int sink_commit(void *txn, tw_error_t *err)
{
    fakes_t *f = txn;
    (void)err;
    f->commits++;
    return 0;
}

static void sink_rollback(void *txn)
{
    (void)txn;
}

static int alert_send(void *ctx, const tw_alert_t *alerts, size_t n, int64_t now_ms)
{
    fakes_t *f = ctx;
    (void)now_ms;
    f->sends++;
    f->alerts_sent += (int)n;
    for (size_t i = 0; n > 0 && i < alerts[0].n_labels; i++) {
        if (strcmp(alerts[0].labels[i].name, "alertname") == 0) {
            snprintf(f->last_alertname, sizeof(f->last_alertname), "%s", alerts[0].labels[i].value);
        }
        if (strcmp(alerts[0].labels[i].name, "severity") == 0) {
            snprintf(f->last_severity, sizeof(f->last_severity), "%s", alerts[0].labels[i].value);
        }
    }
    return 0;
}

static int64_t fake_now_ms;
static int64_t fake_now(void)
{
    return fake_now_ms;
}

/* ---- fixture ---- */

typedef struct fixture {
    char dir[64];
    char rules[96];
    char cfgname[96];
    fakes_t f;
    tw_sink_t sink;
    tw_alert_sink_t as;
    tw_query_source_t qs;
    tw_rules_loop_t *loop;
} fixture_t;

static const char good_rules[] = "groups:\n"
                                 "  - name: g\n"
                                 "    rules:\n"
                                 "      - alert: High\n"
                                 "        expr: itest > 10\n"
                                 "        labels: {severity: page}\n"
                                 "      - record: itest:sum\n"
                                 "        expr: sum(itest)\n";

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Loads a config naming rules.yml (relative to the fixture's folder) and configures. */
static int configure(fixture_t *x, const char *extra_yaml, tw_error_t *err)
{
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "global:\n  evaluation_interval: 10s\n  external_labels: {cluster: c1}\n"
             "rule_files: [rules.yml%s]\n",
             extra_yaml);
    tw_config_t *c = NULL;
    assert_int_equal(tw_config_load_mem(yaml, strlen(yaml), x->cfgname, &c, err), 0);
    assert_true(c->n_rule_files >= 1);
    assert_string_equal(c->rule_files[0], x->rules);
    int rc = tw_rules_loop_configure(x->loop, c, &x->qs, err);
    tw_config_free(c);
    return rc;
}

static int setup(void **state)
{
    fixture_t *x = calloc(1, sizeof(*x));
    snprintf(x->dir, sizeof(x->dir), "/tmp/tw-rules-loop.XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->rules, sizeof(x->rules), "%s/rules.yml", x->dir);
    snprintf(x->cfgname, sizeof(x->cfgname), "%s/tw.yml", x->dir);
    write_file(x->rules, good_rules);
    x->sink = (tw_sink_t){&x->f, sink_begin, sink_append, sink_commit, sink_rollback};
    x->as = (tw_alert_sink_t){&x->f, alert_send};
    x->qs = (tw_query_source_t){&x->f, fake_instant};
    fake_now_ms = NOW;
    tw_rules_loop_options_t o = {.sink = &x->sink, .now_ms = fake_now};
    x->loop = tw_rules_loop_new(&o);
    tw_rules_loop_set_notify(x->loop, &x->as);
    tw_log_setup((tw_log_level_t)(TW_LOG_ERROR + 1), TW_LOG_FMT_LOGFMT);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *x = *state;
    tw_rules_loop_free(x->loop);
    unlink(x->rules);
    rmdir(x->dir);
    free(x);
    return 0;
}

typedef struct stats_out {
    size_t groups;
    size_t rules;
    tw_rules_loop_group_stats_t st;
    char name[64];
    char file[128];
} stats_out_t;

static int grab_stats(void *arg, tw_rule_group_t *g, const tw_rules_loop_group_stats_t *st)
{
    stats_out_t *o = arg;
    o->groups++;
    o->rules += tw_rule_group_rule_count(g);
    o->st = *st;
    snprintf(o->name, sizeof(o->name), "%s", tw_rule_group_name(g));
    snprintf(o->file, sizeof(o->file), "%s", tw_rule_group_file(g));
    return 0;
}

static stats_out_t stats(fixture_t *x)
{
    stats_out_t o = {0};
    assert_int_equal(tw_rules_loop_foreach_group(x->loop, grab_stats, &o), 0);
    return o;
}

static int grab_active_at(void *arg, tw_rule_group_t *g, const tw_rules_loop_group_stats_t *st);

typedef struct at_out {
    int64_t active_at;
    int n;
} at_out_t;

static int alert_at(void *arg, const tw_rule_alert_view_t *a)
{
    at_out_t *o = arg;
    o->active_at = a->active_at_ms;
    o->n++;
    return 0;
}

static int grab_active_at(void *arg, tw_rule_group_t *g, const tw_rules_loop_group_stats_t *st)
{
    (void)st;
    return tw_rule_group_foreach_alert(g, 0, alert_at, arg);
}

/* ---- tests ---- */

static void test_grid_eval_and_alerts(void **state)
{
    fixture_t *x = *state;
    tw_error_t err;
    x->f.present = true;
    x->f.value = 50;
    assert_int_equal(configure(x, "", &err), 0);
    stats_out_t s = stats(x);
    assert_int_equal(s.groups, 1);
    assert_int_equal(s.rules, 2);
    assert_string_equal(s.name, "g");
    assert_string_equal(s.file, x->rules);
    /* The first evaluation is on the group's grid, within one interval after the start. */
    int64_t first = s.st.next_eval_ms;
    assert_true(first > NOW && first <= NOW + IV);
    assert_int_equal(tw_rules_loop_tick(x->loop, NOW), first);
    assert_int_equal(x->f.queries, 0);

    fake_now_ms = first;
    assert_int_equal(tw_rules_loop_tick(x->loop, first), first + IV);
    s = stats(x);
    assert_int_equal(s.st.evaluations, 1);
    assert_int_equal(s.st.last_eval_ms, first);
    assert_int_equal(x->f.recorded, 1);
    assert_int_equal(x->f.alerts_series, 0); /* not restored yet at the first evaluation */
    assert_int_equal(x->f.sends, 1);         /* for: 0 fires at once and is sent */
    assert_string_equal(x->f.last_alertname, "High");
    assert_string_equal(x->f.last_severity, "page");

    fake_now_ms = first + IV;
    tw_rules_loop_tick(x->loop, first + IV);
    assert_int_equal(x->f.alerts_series, 1); /* restored after the first evaluation */
    assert_int_equal(x->f.recorded, 2);
    assert_int_equal(x->f.sends, 1); /* not re-sent before resend_delay (1m) */

    /* 35 s late: three grid points skipped, the latest one evaluated. */
    fake_now_ms = first + 2 * IV + 35000;
    assert_int_equal(tw_rules_loop_tick(x->loop, fake_now_ms), first + 6 * IV);
    s = stats(x);
    assert_int_equal(s.st.iterations_missed, 3);
    assert_int_equal(s.st.last_eval_ms, first + 5 * IV);
    assert_int_equal(s.st.evaluations, 3);

    tw_mset_t *m = tw_mset_new();
    tw_rules_loop_collect_metrics(x->loop, m);
    const tw_mfamily_t *fam = tw_mset_find(m, "tidewatch_rule_group_iterations_missed_total");
    assert_non_null(fam);
    assert_int_equal(fam->nsamples, 1);
    assert_true(fam->samples[0].value == 3.0);
    fam = tw_mset_find(m, "tidewatch_rule_evaluations_total");
    assert_true(fam->samples[0].value == 6.0); /* 3 group evaluations x 2 rules */
    assert_string_equal(fam->samples[0].labels[0].name, "rule_group");
    char key[160];
    snprintf(key, sizeof(key), "%s;g", x->rules);
    assert_string_equal(fam->samples[0].labels[0].value, key);
    fam = tw_mset_find(m, "tidewatch_rule_group_last_evaluation_timestamp_seconds");
    assert_true(fam->samples[0].value == (double)(first + 5 * IV) / 1000.0);
    tw_mset_free(m);
}

static void test_reload_bad_file_keeps_rules(void **state)
{
    fixture_t *x = *state;
    tw_error_t err;
    x->f.present = true;
    x->f.value = 50;
    assert_int_equal(configure(x, "", &err), 0);
    int64_t first = stats(x).st.next_eval_ms;
    fake_now_ms = first;
    tw_rules_loop_tick(x->loop, first);
    at_out_t at = {0};
    tw_rules_loop_foreach_group(x->loop, grab_active_at, &at);
    assert_int_equal(at.n, 1);
    assert_int_equal(at.active_at, first);

    write_file(x->rules, "groups:\n  - name: g\n    rules:\n      - alert: High\n"
                         "        expr: itest >\n");
    tw_error_clear(&err);
    assert_int_equal(configure(x, "", &err), TW_EPARSE);
    assert_int_equal(strncmp(err.msg, "error loading rules: ", 21), 0);
    assert_non_null(strstr(err.msg, "rules.yml: 5:15: group \"g\", rule 1, \"High\": could not "
                                    "parse expression"));
    stats_out_t s = stats(x);
    assert_int_equal(s.groups, 1);
    assert_int_equal(s.rules, 2); /* the old rules run on */
    fake_now_ms = first + IV;
    tw_rules_loop_tick(x->loop, first + IV);
    assert_int_equal(stats(x).st.evaluations, 2);
    tw_mset_t *m = tw_mset_new();
    tw_rules_loop_collect_metrics(x->loop, m);
    const tw_mfamily_t *fam = tw_mset_find(m, "tidewatch_rule_config_last_reload_successful");
    assert_true(fam->samples[0].value == 0.0);
    tw_mset_free(m);

    /* A good file with one more rule: taken, and the alert keeps its activeAt. */
    write_file(x->rules, "groups:\n  - name: g\n    rules:\n      - alert: High\n"
                         "        expr: itest > 10\n        labels: {severity: page}\n"
                         "      - record: itest:sum\n        expr: sum(itest)\n"
                         "      - record: itest:max\n        expr: max(itest)\n");
    assert_int_equal(configure(x, "", &err), 0);
    s = stats(x);
    assert_int_equal(s.rules, 3);
    assert_int_equal(s.st.evaluations, 2); /* counters carried over */
    assert_int_equal(s.st.next_eval_ms, first + 2 * IV);
    at = (at_out_t){0};
    tw_rules_loop_foreach_group(x->loop, grab_active_at, &at);
    assert_int_equal(at.n, 1);
    assert_int_equal(at.active_at, first);
}

static void test_builtin_and_missing(void **state)
{
    fixture_t *x = *state;
    tw_error_t err;
    const char *text = NULL;
    assert_int_equal(tw_rules_builtin_find("node.yml", &text), 0);
    assert_non_null(strstr(text, "NodeFilesystemAlmostFull"));
    assert_int_equal(tw_rules_builtin_find("nope.yml", NULL), -1);
    /* A glob without a match is no file (Prometheus); a builtin name is loaded from memory. */
    assert_int_equal(configure(x, ", nothing-*.yml, builtin:node.yml", &err), 0);
    assert_int_equal(stats(x).groups, 2);

    tw_config_t *c = NULL;
    const char *bad = "rule_files: [builtin:nope.yml]\n";
    assert_int_equal(tw_config_load_mem(bad, strlen(bad), "t.yml", &c, &err), TW_EINVAL);
    assert_non_null(strstr(err.msg, "builtin:nope.yml: no such built-in rule file"));
    bad = "rule_files: ['a/*/b.yml']\n";
    assert_int_equal(tw_config_load_mem(bad, strlen(bad), "t.yml", &c, &err), TW_EINVAL);
    assert_string_equal(err.msg, "invalid rule file path \"a/*/b.yml\"");
    bad = "global: {external_url: 'ftp://x'}\n";
    assert_int_equal(tw_config_load_mem(bad, strlen(bad), "t.yml", &c, &err), TW_EINVAL);
    const char *good = "global: {external_url: 'https://tw.example.com/p/'}\n"
                       "alerting: {webhooks: [{url: 'http://127.0.0.1:1/x'}]}\n";
    assert_int_equal(tw_config_load_mem(good, strlen(good), "t.yml", &c, &err), 0);
    assert_string_equal(c->global.external_url, "https://tw.example.com/p");
    assert_non_null(c->alerting);
    assert_int_equal(c->alerting->n_webhooks, 1);
    tw_config_free(c);
    /* The embedded default loads the built-in files. */
    assert_int_equal(tw_config_load_default(&c, &err), 0);
    assert_int_equal(c->n_rule_files, 2);
    assert_string_equal(c->rule_files[0], "builtin:node.yml");
    tw_config_free(c);
}

static void test_api_json(void **state)
{
    fixture_t *x = *state;
    tw_error_t err;
    x->f.present = true;
    x->f.value = 50;
    assert_int_equal(configure(x, "", &err), 0);
    int64_t first = stats(x).st.next_eval_ms;
    fake_now_ms = first;
    tw_rules_loop_tick(x->loop, first);
    tw_alerting_api_t *api = tw_alerting_api_new(x->loop);
    tw_buf_t b;
    tw_buf_init(&b, 1 << 20);
    assert_int_equal(tw_alerting_api_json(api, false, NULL, &b), 0);
    assert_non_null(strstr(b.data, "{\"alerts\":[{\"labels\":{\"alertname\":\"High\",\"inst\":"
                                   "\"a\",\"severity\":\"page\"},\"annotations\":{},"
                                   "\"state\":\"firing\",\"activeAt\":"));
    assert_non_null(strstr(b.data, "\"value\":\"5e+01\"}]}"));
    tw_buf_reset(&b);
    assert_int_equal(tw_alerting_api_json(api, true, "record", &b), 0);
    assert_non_null(strstr(b.data, "\"rules\":[{\"name\":\"itest:sum\",\"query\":\"sum(itest)\","
                                   "\"health\":\"ok\",\"evaluationTime\":"));
    assert_null(strstr(b.data, "High"));
    assert_non_null(strstr(b.data, "\"interval\":10,\"limit\":0,\"evaluationTime\":"));
    tw_alerting_api_set_compat(api, TW_PROMQL_COMPAT_PROMETHEUS2);
    tw_buf_reset(&b);
    assert_int_equal(tw_alerting_api_json(api, true, NULL, &b), 0);
    assert_null(strstr(b.data, "\"limit\""));
    assert_non_null(strstr(b.data,
                           "{\"state\":\"firing\",\"name\":\"High\",\"query\":\"itest \\u003e "
                           "10\",\"duration\":0,\"keepFiringFor\":0,\"labels\":"
                           "{\"severity\":\"page\"},\"annotations\":{},\"alerts\":["));

    const struct {
        double v;
        const char *want;
    } cases[] = {{1, "1e+00"},        {0.25, "2.5e-01"},  {123456789, "1.23456789e+08"},
                 {-2, "-2e+00"},      {0, "0e+00"},       {NAN, "NaN"},
                 {-INFINITY, "-Inf"}, {INFINITY, "+Inf"}, {0.1, "1e-01"},
                 {1e300, "1e+300"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tw_buf_reset(&b);
        tw_alerting_api_format_value(&b, cases[i].v);
        assert_string_equal(b.data, cases[i].want);
    }
    tw_buf_fini(&b);
    tw_alerting_api_free(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grid_eval_and_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_bad_file_keeps_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builtin_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_json, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
