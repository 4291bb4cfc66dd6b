/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rule_test.c - promtool 2.42's rule unit tests (`test rules`): the test-file format, the
 * stepping through time, and the verdicts and failure report of cmd/promtool/unittest.go.
 *
 * How it works: a test file names rule files and test groups. For each test group the storage
 * is reset, the rule files are loaded again (a load error fails the group with the loader's
 * messages), and time steps from 0 (the Unix epoch) by evaluation_interval up to the largest
 * eval_time of the group. At each step the input samples up to that time are added first (the
 * lazy loader), then every rule group is evaluated in group_eval_order (groups not listed sort
 * as position 0; ties keep file order) - group intervals are ignored, as in promtool. A rule
 * evaluation error ends the group with "rule: NAME, time: T, err: ...". Alert tests whose
 * eval_time falls in [step, step + interval) compare the firing alerts of the rules with that
 * name after the step; PromQL tests run after the last step at their own eval_time. Values are
 * compared exactly (so NaN never matches), as reflect.DeepEqual does.
 *
 * The storage and the PromQL engine are injected (tw_rules_test_env_t); this file only reads
 * files. Single-threaded.
 */
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/timeutil.h"
#include "rule_decode_int.h"
#include "rules.h"
#include "rules_int.h"

/* ---- the test file ---- */

typedef struct in_series {
    const char *series;
    const char *values;
} in_series_t;

typedef struct exp_alert {
    tw_label_t *labels;
    size_t n_labels;
    tw_label_t *ann;
    size_t n_ann;
} exp_alert_t;

typedef struct alert_case {
    int64_t eval_ms;
    const char *alertname;
    exp_alert_t *exp;
    size_t n_exp;
} alert_case_t;

typedef struct exp_sample {
    const char *labels;
    double value;
} exp_sample_t;

typedef struct promql_case {
    const char *expr;
    int64_t eval_ms;
    exp_sample_t *exp;
    size_t n_exp;
} promql_case_t;

typedef struct test_group {
    int64_t interval_ms;
    in_series_t *in;
    size_t n_in;
    alert_case_t *alerts;
    size_t n_alerts;
    promql_case_t *exprs;
    size_t n_exprs;
    tw_label_t *ext;
    size_t n_ext;
    const char *ext_url;
    const char *name;
} test_group_t;

typedef struct test_file {
    const char **rule_files;
    size_t n_rule_files;
    int64_t eval_ms;
    const char **order;
    size_t n_order;
    test_group_t *tests;
    size_t n_tests;
} test_file_t;

/* yaml.v2's float64: ints and YAML 1.1 floats (.inf, .nan) from plain scalars only. */
static double get_float(rd_t *l, const tw_yaml_node_t *v)
{
    if (v == NULL || tw_yaml_is_null(v)) {
        return 0;
    }
    if (v->kind != TW_YAML_SCALAR) {
        rd_um_type(l, v, "float64");
        return 0;
    }
    const char *s = v->value;
    if (v->plain) {
        const char *p = s;
        bool neg = false;
        if (*p == '+' || *p == '-') {
            neg = *p == '-';
            p++;
        }
        if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0) {
            return neg ? -INFINITY : INFINITY;
        }
        if (p == s &&
            (strcmp(p, ".nan") == 0 || strcmp(p, ".NaN") == 0 || strcmp(p, ".NAN") == 0)) {
            return NAN;
        }
        /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? or an int (also 0x..) */
        bool ok = false;
        const char *q = p;
        if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X') && q[2] != '\0') {
            q += 2;
            while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
                   (*q >= 'A' && *q <= 'F') || *q == '_') {
                q++;
            }
            if (*q == '\0') {
                return (double)strtoll(s, NULL, 0);
            }
        } else {
            size_t digits = 0;
            while (*q >= '0' && *q <= '9') {
                q++;
                digits++;
            }
            if (*q == '.') {
                q++;
                while (*q >= '0' && *q <= '9') {
                    q++;
                    digits++;
                }
            }
            ok = digits > 0;
            if (ok && (*q == 'e' || *q == 'E')) {
                q++;
                if (*q == '+' || *q == '-') {
                    q++;
                }
                size_t ed = 0;
                while (*q >= '0' && *q <= '9') {
                    q++;
                    ed++;
                }
                ok = ed > 0;
            }
            if (ok && *q == '\0') {
                return strtod(s, NULL);
            }
        }
    }
    rd_um_type(l, v, "float64");
    return 0;
}

static const char **get_str_list(rd_t *l, const tw_yaml_node_t *v, size_t *n)
{
    *n = 0;
    if (v == NULL || tw_yaml_is_null(v)) {
        return NULL;
    }
    if (v->kind != TW_YAML_SEQ) {
        rd_um_type(l, v, "[]string");
        return NULL;
    }
    const char **out = tw_arena_calloc(l->a, (v->n + 1) * sizeof(*out));
    for (size_t i = 0; i < v->n; i++) {
        out[(*n)++] = rd_get_str(l, v->items[i]);
    }
    return out;
}

/* A sequence of mappings of Go type `type`: the items, or NULL (with an error when not a seq). */
static const tw_yaml_node_t *const *get_seq(rd_t *l, const tw_yaml_node_t *v, const char *type,
                                            size_t *n)
{
    *n = 0;
    if (v == NULL || tw_yaml_is_null(v)) {
        return NULL;
    }
    if (v->kind != TW_YAML_SEQ) {
        rd_um_type(l, v, type);
        return NULL;
    }
    *n = v->n;
    return (const tw_yaml_node_t *const *)v->items;
}

static bool want_map(rd_t *l, const tw_yaml_node_t *v, const char *type)
{
    if (tw_yaml_is_null(v)) {
        return false;
    }
    if (v->kind != TW_YAML_MAP) {
        rd_um_type(l, v, type);
        return false;
    }
    return true;
}

static void decode_group(rd_t *l, const tw_yaml_node_t *n, test_group_t *tg)
{
    static const char *const keys[] = {
        "interval",     "input_series", "alert_rule_test", "promql_expr_test", "external_labels",
        "external_url", "name"};
    const tw_yaml_node_t *v[7];
    tg->name = "";
    tg->ext_url = "";
    if (!want_map(l, n, "main.testGroup")) {
        return;
    }
    rd_fields(l, n, "main.testGroup", keys, 7, v);
    tg->interval_ms = rd_get_duration(l, v[0]);
    size_t k;
    const tw_yaml_node_t *const *items = get_seq(l, v[1], "[]main.series", &k);
    tg->in = tw_arena_calloc(l->a, (k + 1) * sizeof(*tg->in));
    for (size_t i = 0; i < k; i++) {
        static const char *const sk[] = {"series", "values"};
        const tw_yaml_node_t *sv[2] = {NULL, NULL};
        if (want_map(l, items[i], "main.series")) {
            rd_fields(l, items[i], "main.series", sk, 2, sv);
        }
        tg->in[tg->n_in].series = rd_get_str(l, sv[0]);
        tg->in[tg->n_in++].values = rd_get_str(l, sv[1]);
    }
    items = get_seq(l, v[2], "[]main.alertTestCase", &k);
    tg->alerts = tw_arena_calloc(l->a, (k + 1) * sizeof(*tg->alerts));
    for (size_t i = 0; i < k; i++) {
        static const char *const ak[] = {"eval_time", "alertname", "exp_alerts"};
        const tw_yaml_node_t *av[3] = {NULL, NULL, NULL};
        if (want_map(l, items[i], "main.alertTestCase")) {
            rd_fields(l, items[i], "main.alertTestCase", ak, 3, av);
        }
        alert_case_t *ac = &tg->alerts[tg->n_alerts++];
        ac->eval_ms = rd_get_duration(l, av[0]);
        ac->alertname = rd_get_str(l, av[1]);
        size_t ne;
        const tw_yaml_node_t *const *ei = get_seq(l, av[2], "[]main.alert", &ne);
        ac->exp = tw_arena_calloc(l->a, (ne + 1) * sizeof(*ac->exp));
        for (size_t j = 0; j < ne; j++) {
            static const char *const ek[] = {"exp_labels", "exp_annotations"};
            const tw_yaml_node_t *ev[2] = {NULL, NULL};
            if (want_map(l, ei[j], "main.alert")) {
                rd_fields(l, ei[j], "main.alert", ek, 2, ev);
            }
            exp_alert_t *ea = &ac->exp[ac->n_exp++];
            ea->labels = rd_get_map(l, ev[0], &ea->n_labels);
            ea->ann = rd_get_map(l, ev[1], &ea->n_ann);
        }
    }
    items = get_seq(l, v[3], "[]main.promqlTestCase", &k);
    tg->exprs = tw_arena_calloc(l->a, (k + 1) * sizeof(*tg->exprs));
    for (size_t i = 0; i < k; i++) {
        static const char *const pk[] = {"expr", "eval_time", "exp_samples"};
        const tw_yaml_node_t *pv[3] = {NULL, NULL, NULL};
        if (want_map(l, items[i], "main.promqlTestCase")) {
            rd_fields(l, items[i], "main.promqlTestCase", pk, 3, pv);
        }
        promql_case_t *pc = &tg->exprs[tg->n_exprs++];
        pc->expr = rd_get_str(l, pv[0]);
        pc->eval_ms = rd_get_duration(l, pv[1]);
        size_t ns;
        const tw_yaml_node_t *const *si = get_seq(l, pv[2], "[]main.sample", &ns);
        pc->exp = tw_arena_calloc(l->a, (ns + 1) * sizeof(*pc->exp));
        for (size_t j = 0; j < ns; j++) {
            static const char *const ssk[] = {"labels", "value"};
            const tw_yaml_node_t *ssv[2] = {NULL, NULL};
            if (want_map(l, si[j], "main.sample")) {
                rd_fields(l, si[j], "main.sample", ssk, 2, ssv);
            }
            pc->exp[pc->n_exp].labels = rd_get_str(l, ssv[0]);
            pc->exp[pc->n_exp++].value = get_float(l, ssv[1]);
        }
    }
    tg->ext = rd_get_map(l, v[4], &tg->n_ext);
    tw_labels_sort(tg->ext, tg->n_ext);
    tg->ext_url = rd_get_str(l, v[5]);
    tg->name = rd_get_str(l, v[6]);
}

/* Decodes the file like yaml.UnmarshalStrict into unitTestFile; on failure adds the message. */
static int decode_file(rd_t *l, const char *data, size_t len, const char *path, test_file_t *tf,
                       tw_rule_errors_t *errs)
{
    memset(tf, 0, sizeof(*tf));
    tw_yaml_doc_t *doc = NULL;
    tw_error_t e;
    tw_error_clear(&e);
    if (tw_yaml_doc_parse(data, rd_first_document_len(data, len), path, &doc, &e) != 0) {
        char m[700];
        rd_yaml_syntax_message(&e, m, sizeof(m));
        tw_rule_errors_add(errs, "%s", m);
        return TW_EPARSE;
    }
    const tw_yaml_node_t *root = tw_yaml_doc_root(doc);
    if (root != NULL && want_map(l, root, "main.unitTestFile")) {
        static const char *const keys[] = {"rule_files", "evaluation_interval", "group_eval_order",
                                           "tests"};
        const tw_yaml_node_t *v[4];
        rd_fields(l, root, "main.unitTestFile", keys, 4, v);
        tf->rule_files = get_str_list(l, v[0], &tf->n_rule_files);
        tf->eval_ms = rd_get_duration(l, v[1]);
        tf->order = get_str_list(l, v[2], &tf->n_order);
        size_t k;
        const tw_yaml_node_t *const *items = get_seq(l, v[3], "[]main.testGroup", &k);
        tf->tests = tw_arena_calloc(l->a, (k + 1) * sizeof(*tf->tests));
        for (size_t i = 0; i < k && l->fatal[0] == '\0'; i++) {
            decode_group(l, items[i], &tf->tests[tf->n_tests++]);
        }
    }
    tw_yaml_doc_free(doc);
    if (l->fatal[0] != '\0') {
        tw_rule_errors_add(errs, "%s", l->fatal);
        return TW_EPARSE;
    }
    if (l->um.len > 0) {
        tw_rule_errors_add(errs, "yaml: unmarshal errors:%s", l->um.data);
        return TW_EPARSE;
    }
    return 0;
}

/* ---- formatting like Go ---- */

/* time.Duration.String() of ms: "0s", "1.5s", "2m0s", "1h0m0s", "500ms". */
static void go_duration(tw_buf_t *b, int64_t ms)
{
    if (ms == 0) {
        tw_buf_puts(b, "0s");
        return;
    }
    if (ms < 0) {
        tw_buf_putc(b, '-');
        ms = -ms;
    }
    if (ms < 1000) {
        tw_buf_printf(b, "%lldms", (long long)ms);
        return;
    }
    int64_t h = ms / 3600000, m = (ms / 60000) % 60, s = (ms / 1000) % 60, frac = ms % 1000;
    if (h > 0) {
        tw_buf_printf(b, "%lldh", (long long)h);
    }
    if (h > 0 || m > 0) {
        tw_buf_printf(b, "%lldm", (long long)m);
    }
    tw_buf_printf(b, "%lld", (long long)s);
    if (frac != 0) {
        char f[8];
        snprintf(f, sizeof(f), "%03lld", (long long)frac);
        size_t fl = strlen(f);
        while (fl > 0 && f[fl - 1] == '0') {
            f[--fl] = '\0';
        }
        tw_buf_printf(b, ".%s", f);
    }
    tw_buf_putc(b, 's');
}

/* strconv.FormatFloat(v, 'E', -1, 64): "9E+00", "1.5E-07", "NaN", "+Inf". */
static void go_float_e(tw_buf_t *b, double v)
{
    if (isnan(v)) {
        tw_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        tw_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char s[64];
    for (int p = 0; p <= 17; p++) {
        snprintf(s, sizeof(s), "%.*E", p, v);
        if (strtod(s, NULL) == v) {
            break;
        }
    }
    tw_buf_puts(b, s);
}

/* labels.Labels.String(): {a="b", c="d"} */
static void labels_string(tw_buf_t *b, const tw_label_t *l, size_t n)
{
    tw_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            tw_buf_puts(b, ", ");
        }
        tw_buf_printf(b, "%s=", l[i].name);
        go_quote(b, l[i].value, strlen(l[i].value));
    }
    tw_buf_putc(b, '}');
}

/* ---- comparing alerts and samples ---- */

typedef struct la {
    tw_label_t *l;
    size_t n;
    tw_label_t *ann;
    size_t n_ann;
} la_t;

static int la_cmp(const void *pa, const void *pb)
{
    const la_t *a = pa, *b = pb;
    int c = tw_labels_compare(a->l, a->n, b->l, b->n);
    return c != 0 ? c : tw_labels_compare(a->ann, a->n_ann, b->ann, b->n_ann);
}

/* labelsAndAnnotations.String() indented like promtool's report. */
static void la_list_string(tw_buf_t *b, const la_t *v, size_t n)
{
    if (n == 0) {
        tw_buf_puts(b, "[]");
        return;
    }
    const char *ind = "            ";
    tw_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        tw_buf_printf(b, "%s\n%s%zu:\n%s  Labels:", i > 0 ? "," : "", ind, i, ind);
        labels_string(b, v[i].l, v[i].n);
        tw_buf_printf(b, "\n%s  Annotations:", ind);
        labels_string(b, v[i].ann, v[i].n_ann);
    }
    tw_buf_printf(b, "\n%s]", ind);
}

static bool la_equal(const la_t *a, size_t na, const la_t *b, size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (la_cmp(&a[i], &b[i]) != 0) {
            return false;
        }
    }
    return true;
}

typedef struct psample {
    tw_label_t *l;
    size_t n;
    double v;
} psample_t;

static int ps_cmp(const void *pa, const void *pb)
{
    const psample_t *a = pa, *b = pb;
    return tw_labels_compare(a->l, a->n, b->l, b->n);
}

static void ps_list_string(tw_buf_t *b, const psample_t *s, size_t n)
{
    if (n == 0) {
        tw_buf_puts(b, "nil");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            tw_buf_puts(b, ", ");
        }
        labels_string(b, s[i].l, s[i].n);
        tw_buf_putc(b, ' ');
        go_float_e(b, s[i].v);
    }
}

/* ---- the injected storage as a query source and a sample sink ---- */

static int qs_instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out,
                      tw_error_t *err)
{
    const tw_rules_test_env_t *env = ctx;
    return env->instant(env->ctx, expr, t_ms, out, err);
}

static int sink_begin(void *ctx, void **txn)
{
    *txn = ctx;
    return 0;
}

static int sink_append(void *txn, const tw_label_t *labels, size_t n, int64_t t_ms, double v,
                       tw_error_t *err)
{
    const tw_rules_test_env_t *env = txn;
    return env->append(env->ctx, labels, n, t_ms, v, err);
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

/* ---- one test group ---- */

typedef struct loaded {
    tw_label_t *l;
    size_t n;
    double *v;
    bool *present;
    size_t nv;
    size_t next;  /* index of the next value to load */
    bool dropped; /* replaced by a later definition of the same series */
} loaded_t;

typedef struct ordered_group {
    tw_rule_group_t *g;
    size_t pos; /* position in group_eval_order (0 when absent) */
    size_t seq; /* load order */
} ordered_group_t;

static int og_cmp(const void *pa, const void *pb)
{
    const ordered_group_t *a = pa, *b = pb;
    if (a->pos != b->pos) {
        return a->pos < b->pos ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Adds the input samples up to ts (all of them with ts < 0). */
static void load_until(const tw_rules_test_env_t *env, loaded_t *in, size_t n, int64_t interval,
                       int64_t ts)
{
    for (size_t i = 0; i < n; i++) {
        loaded_t *s = &in[i];
        if (s->dropped) {
            continue;
        }
        while (s->next < s->nv) {
            int64_t t = (int64_t)s->next * interval;
            if (ts >= 0 && t > ts) {
                break;
            }
            /* With interval 0 every sample is at t=0 and the first one stays. */
            bool first = true;
            for (size_t k = 0; interval == 0 && k < s->next; k++) {
                first = first && !s->present[k];
            }
            if (s->present[s->next] && first) {
                env->append(env->ctx, s->l, s->n, t, s->v[s->next], NULL);
            }
            s->next++;
        }
    }
}

typedef struct got_ctx {
    la_t *v;
    size_t n, cap;
    tw_arena_t *a;
} got_ctx_t;

static int collect_firing(void *arg, const tw_rule_alert_view_t *a)
{
    got_ctx_t *g = arg;
    if (a->state != TW_ALERT_FIRING) {
        return 0;
    }
    tw_grow((void **)&g->v, &g->cap, g->n + 1, sizeof(*g->v));
    la_t *o = &g->v[g->n++];
    o->l = tw_arena_calloc(g->a, (a->n_labels + 1) * sizeof(tw_label_t));
    o->ann = tw_arena_calloc(g->a, (a->n_annotations + 1) * sizeof(tw_label_t));
    for (size_t i = 0; i < a->n_labels; i++) {
        o->l[i].name = tw_arena_strdup(g->a, a->labels[i].name);
        o->l[i].value = tw_arena_strdup(g->a, a->labels[i].value);
    }
    for (size_t i = 0; i < a->n_annotations; i++) {
        o->ann[i].name = tw_arena_strdup(g->a, a->annotations[i].name);
        o->ann[i].value = tw_arena_strdup(g->a, a->annotations[i].value);
    }
    o->n = a->n_labels;
    o->n_ann = a->n_annotations;
    return 0;
}

static int int64_t_cmp_fn(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void check_alerts_at(const test_group_t *tg, int64_t t, ordered_group_t *groups, size_t ng,
                            tw_arena_t *a, tw_rule_errors_t *errs)
{
    for (size_t ci = 0; ci < tg->n_alerts; ci++) {
        const alert_case_t *ac = &tg->alerts[ci];
        if (ac->eval_ms != t) {
            continue;
        }
        got_ctx_t got = {.a = a};
        for (size_t gi = 0; gi < ng; gi++) {
            size_t nr = tw_rule_group_rule_count(groups[gi].g);
            for (size_t ri = 0; ri < nr; ri++) {
                tw_rule_info_t info;
                tw_rule_group_rule_info(groups[gi].g, ri, &info);
                if (info.spec->kind == TW_RULE_ALERTING &&
                    strcmp(info.spec->name, ac->alertname) == 0) {
                    tw_rule_group_foreach_alert(groups[gi].g, ri, collect_firing, &got);
                }
            }
        }
        la_t *exp = tw_arena_calloc(a, (ac->n_exp + 1) * sizeof(*exp));
        for (size_t k = 0; k < ac->n_exp; k++) {
            const exp_alert_t *ea = &ac->exp[k];
            tw_label_t *l = tw_arena_calloc(a, (ea->n_labels + 2) * sizeof(*l));
            size_t n = 0;
            for (size_t j = 0; j < ea->n_labels; j++) {
                if (strcmp(ea->labels[j].name, "alertname") != 0) {
                    l[n++] = ea->labels[j];
                }
            }
            l[n++] = (tw_label_t){"alertname", ac->alertname};
            tw_labels_sort(l, n);
            tw_label_t *an = tw_arena_calloc(a, (ea->n_ann + 1) * sizeof(*an));
            if (ea->n_ann > 0) {
                memcpy(an, ea->ann, ea->n_ann * sizeof(*an));
            }
            tw_labels_sort(an, ea->n_ann);
            exp[k] = (la_t){l, n, an, ea->n_ann};
        }
        if (ac->n_exp > 1) {
            qsort(exp, ac->n_exp, sizeof(*exp), la_cmp);
        }
        if (got.n > 1) {
            qsort(got.v, got.n, sizeof(*got.v), la_cmp);
        }
        if (!la_equal(exp, ac->n_exp, got.v, got.n)) {
            tw_buf_t b;
            tw_buf_init(&b, 0);
            char d[64];
            if (tg->name[0] != '\0') {
                tw_buf_printf(&b, "    name: %s,\n", tg->name);
            }
            tw_buf_printf(&b, "    alertname: %s, time: %s, \n        exp:", ac->alertname,
                          tw_duration_format(ac->eval_ms, d, sizeof(d)));
            la_list_string(&b, exp, ac->n_exp);
            tw_buf_puts(&b, ", \n        got:");
            la_list_string(&b, got.v, got.n);
            tw_rule_errors_add(errs, "%s", b.data);
            tw_buf_fini(&b);
        }
        free(got.v);
    }
}

static void check_exprs(const tw_rules_test_env_t *env, const test_group_t *tg, tw_arena_t *a,
                        tw_rule_errors_t *errs)
{
    for (size_t ci = 0; ci < tg->n_exprs; ci++) {
        const promql_case_t *pc = &tg->exprs[ci];
        tw_buf_t head;
        tw_buf_init(&head, 0);
        char d[64];
        tw_buf_puts(&head, "    expr: ");
        go_quote(&head, pc->expr, strlen(pc->expr));
        tw_buf_printf(&head, ", time: %s", tw_duration_format(pc->eval_ms, d, sizeof(d)));
        tw_qs_result_t res;
        memset(&res, 0, sizeof(res));
        tw_error_t e;
        tw_error_clear(&e);
        int rc = env->instant(env->ctx, pc->expr, pc->eval_ms, &res, &e);
        if (rc == 0 && res.type != TW_QS_VECTOR && res.type != TW_QS_SCALAR) {
            tw_qs_result_free(&res);
            rc = tw_error_set(&e, TW_EEXEC, "rule result is not a vector or scalar");
        }
        if (rc != 0) {
            char m[sizeof(e.msg) + 64];
            e.file[0] = '\0';
            tw_rule_errors_add(errs, "%s, err: %s", head.data, tw_error_format(&e, m, sizeof(m)));
            tw_buf_fini(&head);
            continue;
        }
        psample_t *got = tw_arena_calloc(a, (res.n_series + 1) * sizeof(*got));
        for (size_t i = 0; i < res.n_series; i++) {
            const tw_qs_series_t *s = &res.series[i];
            got[i].n = s->n_labels;
            got[i].l = tw_arena_calloc(a, (s->n_labels + 1) * sizeof(tw_label_t));
            for (size_t k = 0; k < s->n_labels; k++) {
                got[i].l[k].name = tw_arena_strdup(a, s->labels[k].name);
                got[i].l[k].value = tw_arena_strdup(a, s->labels[k].value);
            }
            got[i].v = s->n_points > 0 ? s->points[s->n_points - 1].v : NAN;
        }
        size_t ngot = res.n_series;
        tw_qs_result_free(&res);
        psample_t *exp = tw_arena_calloc(a, (pc->n_exp + 1) * sizeof(*exp));
        bool bad = false;
        for (size_t i = 0; i < pc->n_exp && !bad; i++) {
            tw_error_clear(&e);
            if (env->parse_metric(env->ctx, pc->exp[i].labels, a, &exp[i].l, &exp[i].n, &e) != 0) {
                tw_buf_t q;
                tw_buf_init(&q, 0);
                go_quote(&q, pc->exp[i].labels, strlen(pc->exp[i].labels));
                tw_rule_errors_add(errs, "%s, err: labels %s: %s", head.data, q.data, e.msg);
                tw_buf_fini(&q);
                bad = true;
            }
            exp[i].v = pc->exp[i].value;
        }
        if (!bad) {
            if (pc->n_exp > 1) {
                qsort(exp, pc->n_exp, sizeof(*exp), ps_cmp);
            }
            if (ngot > 1) {
                qsort(got, ngot, sizeof(*got), ps_cmp);
            }
            bool eq = ngot == pc->n_exp;
            for (size_t i = 0; eq && i < ngot; i++) {
                eq = ps_cmp(&exp[i], &got[i]) == 0 && exp[i].v == got[i].v;
            }
            if (!eq) {
                tw_buf_t b;
                tw_buf_init(&b, 0);
                tw_buf_printf(&b, "%s,\n        exp: ", head.data);
                ps_list_string(&b, exp, pc->n_exp);
                tw_buf_puts(&b, "\n        got: ");
                ps_list_string(&b, got, ngot);
                tw_rule_errors_add(errs, "%s", b.data);
                tw_buf_fini(&b);
            }
        }
        tw_buf_fini(&head);
    }
}

static void run_group(const tw_rules_test_env_t *env, const test_file_t *tf, int64_t eval_ms,
                      const char *const *rule_files, size_t n_rule_files, const test_group_t *tg,
                      tw_rule_errors_t *errs)
{
    tw_arena_t *a = tw_arena_new(0);
    loaded_t *in = tw_arena_calloc(a, (tg->n_in + 1) * sizeof(*in));
    tw_rule_file_t **files = tw_xcalloc(n_rule_files + 1, sizeof(*files));
    ordered_group_t *groups = NULL;
    size_t ng = 0, capg = 0;
    int64_t *times = NULL;
    tw_error_t e;
    tw_error_clear(&e);
    if (env->reset(env->ctx, eval_ms, &e) != 0) {
        tw_rule_errors_add(errs, "%s", e.msg);
        goto out;
    }
    for (size_t i = 0; i < tg->n_in; i++) {
        char *line = tw_arena_printf(a, "  %s %s", tg->in[i].series, tg->in[i].values);
        tw_error_clear(&e);
        loaded_t *s = &in[i];
        if (env->parse_series(env->ctx, line, a, &s->l, &s->n, &s->v, &s->present, &s->nv, &e) !=
            0) {
            tw_rule_errors_add(errs, "%s", e.msg);
            goto out;
        }
        for (size_t k = 0; k < i; k++) {
            if (!in[k].dropped && tw_labels_compare(in[k].l, in[k].n, s->l, s->n) == 0) {
                in[k].dropped = true;
            }
        }
    }
    /* the rule files, loaded for each test group as promtool does */
    tw_rule_load_options_t lo = {.check_expr = env->check_expr, .check_ctx = env->ctx};
    for (size_t i = 0; i < n_rule_files; i++) {
        if (tw_rule_file_load(rule_files[i], &lo, &files[i], errs) != 0) {
            goto out;
        }
    }
    tw_query_source_t qs = {.ctx = (void *)env, .instant = qs_instant};
    tw_sink_t sink = {.ctx = (void *)env,
                      .begin = sink_begin,
                      .append = sink_append,
                      .commit = sink_commit,
                      .rollback = sink_rollback};
    tw_rule_group_options_t go = {.query = &qs,
                                  .sink = &sink,
                                  .external_labels = tg->ext,
                                  .n_external_labels = tg->n_ext,
                                  .external_url = tg->ext_url,
                                  .default_interval_ms = tg->interval_ms};
    for (size_t i = 0; i < n_rule_files; i++) {
        for (size_t k = 0; k < files[i]->n_groups; k++) {
            const tw_rule_group_spec_t *gs = &files[i]->groups[k];
            tw_grow((void **)&groups, &capg, ng + 1, sizeof(*groups));
            ordered_group_t *og = &groups[ng];
            og->g = tw_rule_group_new(gs, rule_files[i], &go);
            tw_rule_group_set_restored(og->g);
            og->seq = ng;
            og->pos = 0;
            for (size_t j = 0; j < tf->n_order; j++) {
                if (strcmp(tf->order[j], gs->name) == 0) {
                    og->pos = j;
                }
            }
            ng++;
        }
    }
    if (ng > 1) {
        qsort(groups, ng, sizeof(*groups), og_cmp);
    }
    int64_t maxt = 0;
    for (size_t i = 0; i < tg->n_alerts; i++) {
        if (tg->alerts[i].alertname[0] == '\0') {
            char d[64];
            tw_rule_errors_add(errs,
                               "an item under alert_rule_test misses required attribute "
                               "alertname at eval_time %s%s%s%s",
                               tw_duration_format(tg->alerts[i].eval_ms, d, sizeof(d)),
                               tg->name[0] != '\0' ? " (in TestGroup " : "", tg->name,
                               tg->name[0] != '\0' ? ")" : "");
            goto out;
        }
        maxt = tg->alerts[i].eval_ms > maxt ? tg->alerts[i].eval_ms : maxt;
    }
    for (size_t i = 0; i < tg->n_exprs; i++) {
        maxt = tg->exprs[i].eval_ms > maxt ? tg->exprs[i].eval_ms : maxt;
    }
    /* the distinct alert eval times, ascending */
    times = tw_xcalloc(tg->n_alerts + 1, sizeof(*times));
    size_t nt = 0;
    for (size_t i = 0; i < tg->n_alerts; i++) {
        times[nt++] = tg->alerts[i].eval_ms;
    }
    if (nt > 1) {
        qsort(times, nt, sizeof(*times), int64_t_cmp_fn);
    }
    size_t w = 0;
    for (size_t i = 0; i < nt; i++) {
        if (w == 0 || times[w - 1] != times[i]) {
            times[w++] = times[i];
        }
    }
    nt = w;
    size_t curr = 0;
    for (int64_t ts = 0; ts <= maxt; ts += eval_ms) {
        load_until(env, in, tg->n_in, tg->interval_ms, ts);
        size_t before = errs->n;
        for (size_t gi = 0; gi < ng; gi++) {
            tw_rule_group_eval(groups[gi].g, ts);
            size_t nr = tw_rule_group_rule_count(groups[gi].g);
            for (size_t ri = 0; ri < nr; ri++) {
                tw_rule_info_t info;
                tw_rule_group_rule_info(groups[gi].g, ri, &info);
                if (info.health == TW_RULE_HEALTH_ERR) {
                    tw_buf_t b;
                    tw_buf_init(&b, 0);
                    go_duration(&b, ts);
                    tw_rule_errors_add(errs, "    rule: %s, time: %s, err: %s", info.spec->name,
                                       b.data, info.last_error);
                    tw_buf_fini(&b);
                }
            }
        }
        if (errs->n > before) {
            goto out;
        }
        while (curr < nt && ts <= times[curr] && times[curr] < ts + eval_ms) {
            check_alerts_at(tg, times[curr], groups, ng, a, errs);
            curr++;
        }
    }
    check_exprs(env, tg, a, errs);
out:
    for (size_t i = 0; i < ng; i++) {
        tw_rule_group_free(groups[i].g);
    }
    free(groups);
    free(times);
    for (size_t i = 0; i < n_rule_files; i++) {
        tw_rule_file_free(files[i]);
    }
    free(files);
    tw_arena_free(a);
}

/* filepath.Join(dir, name) for a relative name, cleaned of "./" the way Go cleans it. */
static char *join_path(tw_arena_t *a, const char *dir, const char *name)
{
    while (strncmp(name, "./", 2) == 0) {
        name += 2;
    }
    if (name[0] == '/' || strcmp(dir, ".") == 0 || dir[0] == '\0') {
        return tw_arena_strdup(a, name);
    }
    return tw_arena_printf(a, "%s/%s", dir, name);
}

static void run_file(const tw_rules_test_env_t *env, const char *path, FILE *errout,
                     tw_rule_errors_t *errs)
{
    rd_t l = {.a = tw_arena_new(0)};
    tw_buf_init(&l.um, 1u << 20);
    tw_buf_t data;
    tw_buf_init(&data, 64u << 20);
    tw_error_t e;
    tw_error_clear(&e);
    test_file_t tf;
    const char **files = NULL;
    size_t nfiles = 0, capf = 0;
    if (tw_buf_read_file(&data, path, &e) != 0) {
        tw_rule_errors_add(errs, "open %s", e.msg);
        goto out;
    }
    if (decode_file(&l, data.data != NULL ? data.data : "", data.len, path, &tf, errs) != 0) {
        goto out;
    }
    /* rule_files are relative to the test file, then globbed */
    const char *slash = strrchr(path, '/');
    char *dir = slash == NULL ? tw_arena_strdup(l.a, ".")
                              : tw_arena_strndup(l.a, path, (size_t)(slash - path));
    if (slash == path) {
        dir = tw_arena_strdup(l.a, "/");
    }
    for (size_t i = 0; i < tf.n_rule_files; i++) {
        const char *rf = tf.rule_files[i];
        if (rf[0] != '\0' && rf[0] != '/') {
            rf = join_path(l.a, dir, rf);
        }
        glob_t gl;
        memset(&gl, 0, sizeof(gl));
        if (glob(rf, 0, NULL, &gl) != 0 || gl.gl_pathc == 0) {
            fprintf(errout, "  WARNING: no file match pattern %s\n", rf);
        } else {
            for (size_t k = 0; k < gl.gl_pathc; k++) {
                tw_grow((void **)&files, &capf, nfiles + 1, sizeof(*files));
                files[nfiles++] = tw_arena_strdup(l.a, gl.gl_pathv[k]);
            }
        }
        globfree(&gl);
    }
    int64_t eval_ms = tf.eval_ms == 0 ? 60 * 1000 : tf.eval_ms;
    for (size_t i = 0; i < tf.n_order; i++) {
        for (size_t k = 0; k < i; k++) {
            if (strcmp(tf.order[k], tf.order[i]) == 0) {
                tw_rule_errors_add(errs, "group name repeated in evaluation order: %s",
                                   tf.order[i]);
                goto out;
            }
        }
    }
    for (size_t i = 0; i < tf.n_tests; i++) {
        run_group(env, &tf, eval_ms, files, nfiles, &tf.tests[i], errs);
    }
out:
    free(files);
    tw_buf_fini(&data);
    tw_buf_fini(&l.um);
    tw_arena_free(l.a);
}

int tw_rules_test_files(const tw_rules_test_env_t *env, char **files, size_t n, FILE *out,
                        FILE *errout)
{
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "Unit Testing:  %s\n", files[i]);
        fflush(out);
        tw_rule_errors_t errs = {0};
        run_file(env, files[i], errout, &errs);
        if (errs.n > 0) {
            fprintf(errout, "  FAILED:\n");
            fflush(errout);
            for (size_t k = 0; k < errs.n; k++) {
                fprintf(errout, "%s\n", errs.msgs[k]);
                fflush(errout);
                fprintf(out, "\n");
                fflush(out);
            }
            failed = true;
        } else {
            fprintf(out, "  SUCCESS\n");
        }
        fprintf(out, "\n");
        fflush(out);
        tw_rule_errors_fini(&errs);
    }
    return failed ? 1 : 0;
}
