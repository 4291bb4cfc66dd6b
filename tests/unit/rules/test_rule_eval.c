/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_rule_eval.c - rule groups at run time (alerting/rules/rule_eval.c) with a fake query
 * source, sample sink and alert sink: the alert state machine step by step (pending, firing,
 * resolved, keep_firing_for), ALERTS/ALERTS_FOR_STATE and staleness markers, notifications,
 * recording rules and their errors, limits, and the restore of `for` state after a restart.
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

#include "alerting/rules/rules.h"

#define MIN 60000

/* ---- fakes ---- */

/* The answer of the fake source: up to 4 series of one label pair each (plus __name__). */
typedef struct fake {
    size_t n;
    const char *inst[4]; /* instance label values */
    double v[4];
    const char *name; /* __name__ of every series */
    int fail;         /* answer with an execution error */
    /* for the restore: the ALERTS_FOR_STATE range answer */
    int64_t fs_t;
    double fs_v;
    bool fs_present;
    bool fs_stale_after; /* the probe after the last sample finds nothing */
    char last_query[256];
    /* what the sink got: "labels t v" lines */
    char appended[64][160];
    size_t n_appended;
    /* what the alert sink got */
    char sent[16][200];
    size_t n_sent;
} fake_t;

static tw_label_t g_labels[4][2];
static tw_qs_series_t g_series[4];
static tw_qs_point_t g_points[4];
static tw_label_t g_fs_labels[1] = {{"__name__", "ALERTS_FOR_STATE"}};

static int fake_instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out,
                        tw_error_t *err)
{
    fake_t *f = ctx;
    memset(out, 0, sizeof(*out));
    snprintf(f->last_query, sizeof(f->last_query), "%s", expr);
    if (strncmp(expr, "ALERTS_FOR_STATE{", 17) == 0) {
        bool range = expr[strlen(expr) - 1] == ']';
        out->type = range ? TW_QS_MATRIX : TW_QS_VECTOR;
        if (!f->fs_present || (!range && f->fs_stale_after)) {
            return 0;
        }
        g_points[0] = (tw_qs_point_t){f->fs_t, f->fs_v};
        g_series[0] = (tw_qs_series_t){g_fs_labels, 1, g_points, 1};
        out->series = g_series;
        out->n_series = 1;
        return 0;
    }
    if (f->fail) {
        return tw_error_set(err, TW_EEXEC, "boom");
    }
    out->type = TW_QS_VECTOR;
    for (size_t i = 0; i < f->n; i++) {
        g_labels[i][0] = (tw_label_t){"__name__", f->name};
        g_labels[i][1] = (tw_label_t){"instance", f->inst[i]};
        g_points[i] = (tw_qs_point_t){t_ms, f->v[i]};
        g_series[i] = (tw_qs_series_t){g_labels[i], 2, &g_points[i], 1};
    }
    out->series = g_series;
    out->n_series = f->n;
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
    (void)err;
    fake_t *f = txn;
    char *o = f->appended[f->n_appended++];
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        off += (size_t)snprintf(o + off, 160 - off, "%s%s=%s", i > 0 ? "," : "", l[i].name,
                                l[i].value);
    }
    if (isnan(v)) {
        snprintf(o + off, 160 - off, " %lld stale", (long long)t);
    } else {
        snprintf(o + off, 160 - off, " %lld %g", (long long)t, v);
    }
    return 0;
}

static int sink_commit(void *txn, tw_error_t *err)
{
    (void)txn;
    (void)err;
    return 0;
}

static void sink_rollback(void *txn)
{
    (void)txn;
}

static int notify_send(void *ctx, const tw_alert_t *a, size_t n, int64_t now)
{
    fake_t *f = ctx;
    for (size_t i = 0; i < n; i++) {
        snprintf(f->sent[f->n_sent++], 200, "%s@%lld starts=%lld ends=%lld url=%s",
                 tw_labels_get(a[i].labels, a[i].n_labels, "instance"), (long long)now,
                 (long long)a[i].starts_at_ms, (long long)a[i].ends_at_ms, a[i].generator_url);
    }
    return 0;
}

typedef struct fixture {
    fake_t f;
    tw_query_source_t qs;
    tw_sink_t sink;
    tw_alert_sink_t notify;
    tw_rule_group_options_t o;
} fixture_t;

static void fixture_init(fixture_t *x)
{
    memset(x, 0, sizeof(*x));
    x->f.name = "up";
    x->qs = (tw_query_source_t){.ctx = &x->f, .instant = fake_instant};
    x->sink = (tw_sink_t){&x->f, sink_begin, sink_append, sink_commit, sink_rollback};
    x->notify = (tw_alert_sink_t){.ctx = &x->f, .send = notify_send};
    x->o = (tw_rule_group_options_t){.query = &x->qs,
                                     .sink = &x->sink,
                                     .notify = &x->notify,
                                     .external_url = "http://tw",
                                     .default_interval_ms = MIN};
}

static void reset_out(fixture_t *x)
{
    x->f.n_appended = 0;
    x->f.n_sent = 0;
}

static void assert_appended(fixture_t *x, const char *const *want, size_t n)
{
    if (x->f.n_appended != n) {
        for (size_t i = 0; i < x->f.n_appended; i++) {
            print_message("appended: %s\n", x->f.appended[i]);
        }
    }
    assert_int_equal(x->f.n_appended, n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++) {
            found = strcmp(x->f.appended[k], want[i]) == 0;
        }
        if (!found) {
            print_message("missing: %s\n", want[i]);
        }
        assert_true(found);
    }
}

typedef struct alerts_seen {
    size_t n;
    tw_alert_state_t state[4];
    int64_t active_at[4];
    char summary[4][64];
} alerts_seen_t;

static int see_alert(void *arg, const tw_rule_alert_view_t *a)
{
    alerts_seen_t *s = arg;
    s->state[s->n] = a->state;
    s->active_at[s->n] = a->active_at_ms;
    const char *sum = tw_labels_get(a->annotations, a->n_annotations, "summary");
    snprintf(s->summary[s->n], 64, "%s", sum != NULL ? sum : "");
    s->n++;
    return 0;
}

static alerts_seen_t alerts_of(tw_rule_group_t *g, size_t rule)
{
    alerts_seen_t s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(tw_rule_group_foreach_alert(g, rule, see_alert, &s), 0);
    return s;
}

/* ---- tests ---- */

static tw_label_t sev_page[] = {{"severity", "page"}};
static tw_label_t summary_ann[] = {{"summary", "{{ $labels.instance }} is {{ $value }}"}};

static void test_pending_firing_resolved(void **state)
{
    (void)state;
    fixture_t x;
    fixture_init(&x);
    tw_rule_spec_t rule = {.kind = TW_RULE_ALERTING,
                           .name = "Down",
                           .expr = "up == 0",
                           .for_ms = 2 * MIN,
                           .labels = sev_page,
                           .n_labels = 1,
                           .annotations = summary_ann,
                           .n_annotations = 1};
    tw_rule_group_spec_t gs = {.name = "g", .rules = &rule, .n_rules = 1};
    tw_rule_group_t *g = tw_rule_group_new(&gs, "f.yml", &x.o);
    tw_rule_group_set_restored(g);
    x.f.n = 1;
    x.f.inst[0] = "a";
    x.f.v[0] = 0;

    assert_int_equal(tw_rule_group_eval(g, 0), 0);
    const char *at0[] = {
        "__name__=ALERTS,alertname=Down,alertstate=pending,instance=a,severity=page 0 1",
        "__name__=ALERTS_FOR_STATE,alertname=Down,instance=a,severity=page 0 0"};
    assert_appended(&x, at0, 2);
    assert_int_equal(x.f.n_sent, 0); /* pending alerts are never sent */
    alerts_seen_t s = alerts_of(g, 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.state[0], TW_ALERT_PENDING);
    assert_string_equal(s.summary[0], "a is 0");

    reset_out(&x);
    x.f.v[0] = 0; /* one minute: still pending (1m < 2m) */
    tw_rule_group_eval(g, MIN);
    assert_int_equal(alerts_of(g, 0).state[0], TW_ALERT_PENDING);

    reset_out(&x);
    tw_rule_group_eval(g, 2 * MIN); /* 2m >= for: firing */
    const char *at2[] = {
        "__name__=ALERTS,alertname=Down,alertstate=firing,instance=a,severity=page 120000 1",
        "__name__=ALERTS_FOR_STATE,alertname=Down,instance=a,severity=page 120000 0",
        /* the pending series ends with a staleness marker */
        "__name__=ALERTS,alertname=Down,alertstate=pending,instance=a,severity=page 120000 "
        "stale"};
    assert_appended(&x, at2, 3);
    assert_int_equal(alerts_of(g, 0).state[0], TW_ALERT_FIRING);
    assert_int_equal(x.f.n_sent, 1);
    /* endsAt = ts + 4 * max(resend 1m, interval 1m) */
    assert_string_equal(x.f.sent[0], "a@120000 starts=120000 ends=360000 "
                                     "url=http://tw/graph?g0.expr=up+%3D%3D+0&g0.tab=1");

    reset_out(&x);
    tw_rule_group_eval(g, 3 * MIN); /* not resent within resend_delay */
    assert_int_equal(x.f.n_sent, 0);
    reset_out(&x);
    tw_rule_group_eval(g, 4 * MIN + 1); /* resent after it */
    assert_int_equal(x.f.n_sent, 1);

    reset_out(&x);
    x.f.n = 0; /* the condition ends: resolved */
    tw_rule_group_eval(g, 5 * MIN);
    const char *at5[] = {
        "__name__=ALERTS,alertname=Down,alertstate=firing,instance=a,severity=page 300000 stale",
        "__name__=ALERTS_FOR_STATE,alertname=Down,instance=a,severity=page 300000 stale"};
    assert_appended(&x, at5, 2);
    assert_int_equal(alerts_of(g, 0).n, 0); /* resolved alerts are not active */
    assert_int_equal(x.f.n_sent, 1);
    assert_string_equal(x.f.sent[0], "a@300000 starts=120000 ends=300000 "
                                     "url=http://tw/graph?g0.expr=up+%3D%3D+0&g0.tab=1");

    /* back again: pending from scratch, the full `for` again */
    reset_out(&x);
    x.f.n = 1;
    tw_rule_group_eval(g, 6 * MIN);
    s = alerts_of(g, 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.state[0], TW_ALERT_PENDING);
    assert_int_equal(s.active_at[0], 6 * MIN);
    tw_rule_group_free(g);
}

static void test_keep_firing_for(void **state)
{
    (void)state;
    fixture_t x;
    fixture_init(&x);
    tw_rule_spec_t rule = {
        .kind = TW_RULE_ALERTING, .name = "K", .expr = "up == 0", .keep_firing_for_ms = 3 * MIN};
    tw_rule_group_spec_t gs = {.name = "g", .rules = &rule, .n_rules = 1};
    tw_rule_group_t *g = tw_rule_group_new(&gs, "f.yml", &x.o);
    tw_rule_group_set_restored(g);
    x.f.n = 1;
    x.f.inst[0] = "a";
    tw_rule_group_eval(g, 0); /* for: 0 fires at once */
    assert_int_equal(alerts_of(g, 0).state[0], TW_ALERT_FIRING);
    x.f.n = 0;
    tw_rule_group_eval(g, 1 * MIN); /* kept firing since 1m */
    tw_rule_group_eval(g, 3 * MIN); /* 2m < 3m: still firing */
    assert_int_equal(alerts_of(g, 0).n, 1);
    assert_int_equal(alerts_of(g, 0).state[0], TW_ALERT_FIRING);
    tw_rule_group_eval(g, 4 * MIN); /* 3m: resolved */
    assert_int_equal(alerts_of(g, 0).n, 0);
    tw_rule_group_free(g);
}

static void test_alert_errors_and_limit(void **state)
{
    (void)state;
    fixture_t x;
    fixture_init(&x);
    tw_label_t inst_all[] = {{"instance", "all"}};
    tw_rule_spec_t rule = {
        .kind = TW_RULE_ALERTING, .name = "C", .expr = "up", .labels = inst_all, .n_labels = 1};
    tw_rule_group_spec_t gs = {.name = "g", .rules = &rule, .n_rules = 1};
    tw_rule_group_t *g = tw_rule_group_new(&gs, "f.yml", &x.o);
    tw_rule_group_set_restored(g);
    x.f.n = 2;
    x.f.inst[0] = "a";
    x.f.inst[1] = "b";
    tw_rule_group_eval(g, 0);
    tw_rule_info_t info;
    assert_int_equal(tw_rule_group_rule_info(g, 0, &info), 0);
    assert_int_equal(info.health, TW_RULE_HEALTH_ERR);
    assert_string_equal(info.last_error,
                        "vector contains metrics with the same labelset after applying alert "
                        "labels");
    assert_int_equal(x.f.n_appended, 0);
    tw_rule_group_free(g);

    rule.n_labels = 0;
    gs.limit = 1;
    g = tw_rule_group_new(&gs, "f.yml", &x.o);
    tw_rule_group_eval(g, 0);
    tw_rule_group_rule_info(g, 0, &info);
    assert_string_equal(info.last_error, "exceeded limit of 1 with 2 alerts");
    assert_int_equal(alerts_of(g, 0).n, 0);
    x.f.fail = 1;
    tw_rule_group_eval(g, MIN);
    tw_rule_group_rule_info(g, 0, &info);
    assert_string_equal(info.last_error, "boom");
    tw_rule_group_free(g);
}

static void test_recording(void **state)
{
    (void)state;
    fixture_t x;
    fixture_init(&x);
    tw_label_t labels[] = {{"env", "prod"}, {"instance", ""}};
    tw_rule_spec_t rule = {
        .kind = TW_RULE_RECORDING, .name = "job:up", .expr = "up", .labels = labels};
    rule.n_labels = 1;
    tw_rule_group_spec_t gs = {.name = "g", .rules = &rule, .n_rules = 1};
    tw_rule_group_t *g = tw_rule_group_new(&gs, "f.yml", &x.o);
    x.f.n = 2;
    x.f.inst[0] = "a";
    x.f.inst[1] = "b";
    x.f.v[0] = 1;
    x.f.v[1] = 2;
    tw_rule_group_eval(g, 0);
    const char *want[] = {"__name__=job:up,env=prod,instance=a 0 1",
                          "__name__=job:up,env=prod,instance=b 0 2"};
    assert_appended(&x, want, 2);
    reset_out(&x);
    x.f.n = 1;
    tw_rule_group_eval(g, MIN);
    const char *want2[] = {"__name__=job:up,env=prod,instance=a 60000 1",
                           "__name__=job:up,env=prod,instance=b 60000 stale"};
    assert_appended(&x, want2, 2);
    tw_rule_group_free(g);

    /* a label set to "" removes it: both series collapse */
    reset_out(&x);
    rule.n_labels = 2;
    g = tw_rule_group_new(&gs, "f.yml", &x.o);
    x.f.n = 2;
    tw_rule_group_eval(g, 0);
    tw_rule_info_t info;
    tw_rule_group_rule_info(g, 0, &info);
    assert_string_equal(info.last_error,
                        "vector contains metrics with the same labelset after applying rule "
                        "labels");
    assert_int_equal(x.f.n_appended, 0);
    tw_rule_group_free(g);
}

static void test_not_restored_writes_no_alerts_series(void **state)
{
    (void)state;
    fixture_t x;
    fixture_init(&x);
    tw_rule_spec_t rule = {.kind = TW_RULE_ALERTING, .name = "R", .expr = "up", .for_ms = 0};
    tw_rule_group_spec_t gs = {.name = "g", .rules = &rule, .n_rules = 1};
    tw_rule_group_t *g = tw_rule_group_new(&gs, "f.yml", &x.o);
    x.f.n = 1;
    x.f.inst[0] = "a";
    tw_rule_group_eval(g, 0);
    assert_int_equal(x.f.n_appended, 0);
    tw_rule_group_free(g);
}

static void test_restore_for_state(void **state)
{
    (void)state;
    fixture_t x;
    fixture_init(&x);
    tw_rule_spec_t rule = {.kind = TW_RULE_ALERTING, .name = "R", .expr = "up", .for_ms = 60 * MIN};
    tw_rule_group_spec_t gs = {.name = "g", .rules = &rule, .n_rules = 1};
    int64_t now = 1000 * MIN;
    /* pending since now-30m, down 5m ago: 30m remaining > 10m grace: moved by the downtime */
    tw_rule_group_t *g = tw_rule_group_new(&gs, "f.yml", &x.o);
    x.f.n = 1;
    x.f.inst[0] = "a";
    tw_rule_group_eval(g, now);
    x.f.fs_present = true;
    x.f.fs_t = now - 5 * MIN;
    x.f.fs_v = (double)((now - 30 * MIN) / 1000);
    tw_rule_group_restore_for_state(g, now);
    assert_string_equal(x.f.last_query, "ALERTS_FOR_STATE{alertname=\"R\",instance=\"a\"}");
    assert_int_equal(alerts_of(g, 0).active_at[0], now - 30 * MIN + 5 * MIN);
    tw_rule_group_free(g);

    /* 55m spent of 60m: fires one grace period after now */
    g = tw_rule_group_new(&gs, "f.yml", &x.o);
    tw_rule_group_eval(g, now);
    x.f.fs_v = (double)((now - 60 * MIN) / 1000);
    tw_rule_group_restore_for_state(g, now);
    assert_int_equal(alerts_of(g, 0).active_at[0], now + 10 * MIN - 60 * MIN);
    tw_rule_group_free(g);

    /* the old series ended with a staleness marker: nothing restored */
    g = tw_rule_group_new(&gs, "f.yml", &x.o);
    tw_rule_group_eval(g, now);
    x.f.fs_stale_after = true;
    tw_rule_group_restore_for_state(g, now);
    assert_int_equal(alerts_of(g, 0).active_at[0], now);
    /* restored now: ALERTS written from the next evaluation */
    reset_out(&x);
    tw_rule_group_eval(g, now + MIN);
    assert_int_equal(x.f.n_appended, 2);
    tw_rule_group_free(g);
}

static void test_copy_state(void **state)
{
    (void)state;
    fixture_t x;
    fixture_init(&x);
    tw_rule_spec_t rule = {.kind = TW_RULE_ALERTING, .name = "R", .expr = "up", .for_ms = 5 * MIN};
    tw_rule_group_spec_t gs = {.name = "g", .rules = &rule, .n_rules = 1};
    tw_rule_group_t *old = tw_rule_group_new(&gs, "f.yml", &x.o);
    x.f.n = 1;
    x.f.inst[0] = "a";
    tw_rule_group_eval(old, 0);
    tw_rule_group_t *g = tw_rule_group_new(&gs, "f.yml", &x.o);
    tw_rule_group_copy_state(g, old);
    tw_rule_group_free(old);
    tw_rule_group_eval(g, 5 * MIN);
    assert_int_equal(alerts_of(g, 0).state[0], TW_ALERT_FIRING);
    tw_rule_group_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_firing_resolved),
        cmocka_unit_test(test_keep_firing_for),
        cmocka_unit_test(test_alert_errors_and_limit),
        cmocka_unit_test(test_recording),
        cmocka_unit_test(test_not_restored_writes_no_alerts_series),
        cmocka_unit_test(test_restore_for_state),
        cmocka_unit_test(test_copy_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
