/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules_cli.c - `check rules` and `test rules` (see rules_cli.h): argument parsing and the
 * engine-facing glue of the rule unit tests. The test runner (alerting/rules/rule_test.c) gets
 * an environment whose storage is the PromQL engine's in-memory store, reset for each test
 * group, queried with the settings promtool's test engine uses (lookback 5m, at most 10000
 * samples, timeout 100s, subquery step = evaluation_interval).
 *
 * Single-threaded.
 */
#include "rules_cli.h"

#include <string.h>
#include <sys/stat.h>

#include "alerting/rules/rules.h"
#include "common/arena.h"
#include "query/query.h"
#include "rules_loop.h"

static int parse_compat(const char *v, tw_promql_compat_t *out)
{
    if (strcmp(v, "prometheus2") == 0) {
        *out = TW_PROMQL_COMPAT_PROMETHEUS2;
    } else if (strcmp(v, "prometheus3") == 0) {
        *out = TW_PROMQL_COMPAT_PROMETHEUS3;
    } else {
        return -1;
    }
    return 0;
}

int tw_rules_check_main(int argc, char **argv, FILE *out, FILE *errout)
{
    tw_promql_compat_t compat = TW_PROMQL_COMPAT_PROMETHEUS3;
    tw_rules_check_options_t o = {
        .check_expr = tw_rules_check_expr, .check_ctx = &compat, .lint = 1};
    char **files = argv;
    size_t n = 0;
    bool only_files = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_files && strcmp(a, "--") == 0) {
            only_files = true;
        } else if (!only_files && strncmp(a, "--lint=", 7) == 0) {
            const char *v = a + 7;
            if (strcmp(v, "none") == 0) {
                o.lint = 0;
            } else if (strcmp(v, "duplicate-rules") == 0) {
                o.lint = 1;
            } else if (strcmp(v, "all") == 0) {
                o.lint = 2;
            } else {
                fprintf(errout,
                        "check rules: --lint must be none, duplicate-rules or all, got "
                        "%s\n",
                        v);
                return 2;
            }
        } else if (!only_files && strcmp(a, "--lint-fatal") == 0) {
            o.lint_fatal = true;
        } else if (!only_files && strncmp(a, "--query.compat=", 15) == 0) {
            if (parse_compat(a + 15, &compat) != 0) {
                fprintf(errout, "check rules: --query.compat must be prometheus2 or "
                                "prometheus3\n");
                return 2;
            }
        } else if (!only_files && a[0] == '-' && a[1] != '\0') {
            fprintf(errout, "check rules: unknown flag %s\n", a);
            return 2;
        } else {
            files[n++] = argv[i];
        }
    }
    /* promtool refuses a missing path before checking anything */
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(files[i], &st) != 0) {
            fprintf(errout, "tidewatch: error: path '%s' does not exist, try --help\n", files[i]);
            return 1;
        }
    }
    return tw_rules_check_files(&o, files, n, out, errout);
}

/* ---- the unit tests' storage ---- */

typedef struct test_store {
    tw_promql_compat_t compat;
    tw_promql_memstore_t *mem;
    tw_promql_qs_t qs;
    tw_query_source_t src;
} test_store_t;

static int ts_reset(void *ctx, int64_t eval_interval_ms, tw_error_t *err)
{
    (void)err;
    test_store_t *s = ctx;
    tw_promql_memstore_free(s->mem);
    s->mem = tw_promql_memstore_new();
    memset(&s->qs, 0, sizeof(s->qs));
    s->qs.opts.compat = s->compat;
    s->qs.opts.max_samples = 10000;
    s->qs.opts.timeout_ms = 100 * 1000;
    s->qs.opts.default_subquery_step_ms = eval_interval_ms;
    s->qs.opts.disable_experimental_functions = s->compat == TW_PROMQL_COMPAT_PROMETHEUS2;
    tw_promql_memstore_storage(s->mem, &s->qs.storage);
    tw_promql_query_source(&s->qs, &s->src);
    return 0;
}

static tw_label_t *copy_labels(tw_arena_t *a, const tw_label_t *src, size_t n)
{
    tw_label_t *l = tw_arena_calloc(a, (n + 1) * sizeof(*l));
    for (size_t i = 0; i < n; i++) {
        l[i].name = tw_arena_strdup(a, src[i].name);
        l[i].value = tw_arena_strdup(a, src[i].value);
    }
    return l;
}

static int ts_parse_series(void *ctx, const char *line, tw_arena_t *a, tw_label_t **labels,
                           size_t *n_labels, double **values, bool **present, size_t *n_values,
                           tw_error_t *err)
{
    (void)ctx;
    tw_promql_series_desc_t d;
    tw_error_t e;
    tw_error_clear(&e);
    int rc = tw_promql_series_desc_parse(line, strlen(line), false, 0, &d, &e);
    if (rc != 0) {
        return tw_error_set(err, rc, "1:%d: %s", e.col, e.msg);
    }
    *labels = copy_labels(a, d.labels, d.n_labels);
    *n_labels = d.n_labels;
    *values = tw_arena_calloc(a, (d.n_values + 1) * sizeof(**values));
    *present = tw_arena_calloc(a, (d.n_values + 1) * sizeof(**present));
    for (size_t i = 0; i < d.n_values; i++) {
        (*values)[i] = d.values[i].v;
        (*present)[i] = d.values[i].kind == TW_PROMQL_SEQ_FLOAT;
    }
    *n_values = d.n_values;
    tw_promql_series_desc_fini(&d);
    return 0;
}

static int ts_parse_metric(void *ctx, const char *text, tw_arena_t *a, tw_label_t **labels,
                           size_t *n_labels, tw_error_t *err)
{
    (void)ctx;
    *labels = NULL;
    *n_labels = 0;
    if (text[strspn(text, " \t\r\n")] == '\0') {
        *labels = tw_arena_calloc(a, sizeof(**labels));
        return 0;
    }
    /* ParseMetric allows blanks between the name and the braces: `name { }` */
    const char *brace = strchr(text, '{');
    char *norm = tw_arena_strdup(a, text);
    if (brace != NULL) {
        size_t b = (size_t)(brace - text), k = b;
        while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t')) {
            k--;
        }
        if (k < b && k > 0 && text[strspn(text, " \t")] != '{') {
            memmove(norm + k, norm + b, strlen(norm + b) + 1);
        }
    }
    tw_promql_series_desc_t d;
    tw_error_t e;
    tw_error_clear(&e);
    int rc = tw_promql_series_desc_parse(norm, strlen(norm), false, 0, &d, &e);
    if (rc != 0) {
        return tw_error_set(err, rc, "1:%d: %s", e.col, e.msg);
    }
    if (d.n_values > 0) {
        tw_promql_series_desc_fini(&d);
        return tw_error_set(err, TW_EPARSE, "parse error: unexpected values after the metric");
    }
    *labels = copy_labels(a, d.labels, d.n_labels);
    *n_labels = d.n_labels;
    tw_promql_series_desc_fini(&d);
    return 0;
}

static int ts_append(void *ctx, const tw_label_t *labels, size_t n, int64_t t_ms, double v,
                     tw_error_t *err)
{
    test_store_t *s = ctx;
    return tw_promql_memstore_add(s->mem, labels, n, t_ms, v, err);
}

static int ts_instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out,
                      tw_error_t *err)
{
    test_store_t *s = ctx;
    return s->src.instant(s->src.ctx, expr, t_ms, out, err);
}

static int ts_check_expr(void *ctx, const char *expr, tw_error_t *err)
{
    test_store_t *s = ctx;
    return tw_rules_check_expr(&s->compat, expr, err);
}

int tw_rules_test_main(int argc, char **argv, FILE *out, FILE *errout)
{
    test_store_t store = {.compat = TW_PROMQL_COMPAT_PROMETHEUS3};
    char **files = argv;
    size_t n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strncmp(a, "--query.compat=", 15) == 0) {
            v = a + 15;
        } else if (strcmp(a, "--query.compat") == 0 && i + 1 < argc) {
            v = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(errout, "test rules: unknown flag %s\n", a);
            return 2;
        } else {
            files[n++] = argv[i];
            continue;
        }
        if (parse_compat(v, &store.compat) != 0) {
            fprintf(errout,
                    "test rules: --query.compat must be prometheus2 or prometheus3, "
                    "got %s\n",
                    v);
            return 2;
        }
    }
    if (n == 0) {
        fprintf(errout, "test rules: needs at least one file\n");
        return 2;
    }
    tw_rules_test_env_t env = {.ctx = &store,
                               .reset = ts_reset,
                               .parse_series = ts_parse_series,
                               .parse_metric = ts_parse_metric,
                               .append = ts_append,
                               .instant = ts_instant,
                               .check_expr = ts_check_expr};
    int rc = tw_rules_test_files(&env, files, n, out, errout);
    tw_promql_memstore_free(store.mem);
    return rc;
}
