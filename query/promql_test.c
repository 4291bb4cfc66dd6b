/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_test.c - the runner of Prometheus' PromQL test scripts (`tidewatch test promql`).
 *
 * A script is parsed whole (promql_test_script.c), then run command by command against one
 * tw_promql_memstore_t: `load` adds samples at k * interval, `clear` starts a new store, and
 * every `eval` is evaluated with tw_promql_exec_instant()/tw_promql_exec_range() using the
 * settings of upstream's test engine (FORMAT.md section 9) and compared like upstream's
 * promqltest (section 7): vectors as sets keyed by label set (or in order with `ordered`),
 * matrices point by point at start + k * step, scalars and strings by value, floats with
 * relative tolerance 1e-6, failures and annotations against eval_X / expect lines.
 * Instant evals are also run as a range query T-1m..T+1m step 1m and the point at T compared
 * again (section 8's range-mode check), and, unless an @-unsafe function is called, the
 * expression with `@ T` added to its selectors is run at -10T, 0, T/5, T and 10T and compared
 * the same way (the @-rewrite check).
 *
 * How evals are skipped: tidewatch has no native histograms and not every experimental feature
 * of the language. An eval is skipped (and counted by reason) when
 *   - a load of the current storage had `@st` start-timestamp lines;
 *   - an expected value is a `{{...}}` histogram;
 *   - the expression parses and calls info(), or histogram_count/sum/avg/fraction/stddev/
 *     stdvar (native histograms only), or has a selector whose matchers match a series that
 *     holds native histograms (loaded with `{{...}}` values, or the `X` series that
 *     load_with_nhcb builds from X_bucket/X_count/X_sum);
 *   - the expression does not parse and its text shows a feature we lack: a duration
 *     expression in brackets or after `offset`, `anchored`/`smoothed`, fill modifiers, info(),
 *     or the name of a native-histogram series or function.
 * Any other parse or execution error is "the query failed".
 *
 * Thread model: one run per call; no shared state.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/regex.h"
#include "query/promql_test_int.h"
#include "query/query.h"
#include "query/query_int.h"

static const char *const skip_names[TW_PROMQL_TEST_SKIP_N] = {
    [TW_PROMQL_TEST_SKIP_NATIVE_HISTOGRAMS] = "native histograms",
    [TW_PROMQL_TEST_SKIP_DURATION_EXPRESSIONS] = "duration expressions",
    [TW_PROMQL_TEST_SKIP_INFO_FUNCTION] = "info() function",
    [TW_PROMQL_TEST_SKIP_EXTENDED_RANGE_SELECTORS] = "anchored/smoothed range selectors",
    [TW_PROMQL_TEST_SKIP_FILL_MODIFIERS] = "fill() binary-operator modifiers",
    [TW_PROMQL_TEST_SKIP_START_TIMESTAMPS] = "start timestamps (@st)",
};

const char *tw_promql_test_skip_str(tw_promql_test_skip_t r)
{
    return (unsigned)r < TW_PROMQL_TEST_SKIP_N ? skip_names[r] : "unknown";
}

/* A label set of a series that holds native histograms. */
typedef struct hist_series {
    tw_label_t *labels; /* owned, strings too */
    size_t n;
} hist_series_t;

typedef struct runner {
    const char *name;
    const tw_promql_test_options_t *o;
    FILE *out;
    tw_promql_test_counts_t *counts;
    tw_promql_memstore_t *store;
    hist_series_t *hist;
    size_t n_hist;
    size_t cap_hist;
    bool start_timestamps;
} runner_t;

/* Outcome of one eval. */
enum { EV_PASS = 0, EV_FAIL, EV_SKIP };

static void hist_clear(runner_t *r)
{
    for (size_t i = 0; i < r->n_hist; i++) {
        for (size_t j = 0; j < r->hist[i].n; j++) {
            free((char *)r->hist[i].labels[j].name);
            free((char *)r->hist[i].labels[j].value);
        }
        free(r->hist[i].labels);
    }
    free(r->hist);
    r->hist = NULL;
    r->n_hist = 0;
    r->cap_hist = 0;
}

/* Remembers a histogram series: labels ls (sorted or not) with __name__ replaced by name. */
static void hist_add(runner_t *r, const tw_label_t *ls, size_t n, const char *name,
                     const char *drop)
{
    tw_grow((void **)&r->hist, &r->cap_hist, r->n_hist + 1, sizeof(hist_series_t));
    hist_series_t *h = &r->hist[r->n_hist++];
    h->labels = tw_xcalloc(n + 1, sizeof(tw_label_t));
    h->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ls[i].name, TW_METRIC_NAME_LABEL) == 0 ||
            (drop != NULL && strcmp(ls[i].name, drop) == 0)) {
            continue;
        }
        h->labels[h->n].name = tw_xstrdup(ls[i].name);
        h->labels[h->n].value = tw_xstrdup(ls[i].value);
        h->n++;
    }
    if (name != NULL) {
        h->labels[h->n].name = tw_xstrdup(TW_METRIC_NAME_LABEL);
        h->labels[h->n].value = tw_xstrdup(name);
        h->n++;
    }
    tw_labels_sort(h->labels, h->n);
}

static bool ends_with(const char *s, const char *suffix, size_t *stem)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (n <= k || strcmp(s + n - k, suffix) != 0) {
        return false;
    }
    *stem = n - k;
    return true;
}

static int run_load(runner_t *r, const tw_pt_load_t *ld, tw_error_t *err)
{
    if (ld->start_timestamps) {
        r->start_timestamps = true;
    }
    for (size_t i = 0; i < ld->n_series; i++) {
        const tw_promql_series_desc_t *d = &ld->series[i];
        const char *name = tw_labels_get(d->labels, d->n_labels, TW_METRIC_NAME_LABEL);
        if (d->has_histograms) {
            hist_add(r, d->labels, d->n_labels, name, NULL);
        }
        size_t stem;
        if (ld->nhcb && name != NULL &&
            ((ends_with(name, "_bucket", &stem) &&
              tw_labels_get(d->labels, d->n_labels, "le") != NULL) ||
             ends_with(name, "_count", &stem) || ends_with(name, "_sum", &stem))) {
            char *base = tw_xstrndup(name, stem);
            hist_add(r, d->labels, d->n_labels, base, "le");
            free(base);
        }
        for (size_t k = 0; k < d->n_values; k++) {
            if (d->values[k].kind != TW_PROMQL_SEQ_FLOAT) {
                continue;
            }
            int64_t t = (int64_t)k * ld->interval_ms;
            int rc =
                tw_promql_memstore_add(r->store, d->labels, d->n_labels, t, d->values[k].v, err);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* ---- skip detection ---- */

static const char *const nh_functions[] = {
    "histogram_avg",    "histogram_count",  "histogram_fraction",
    "histogram_stddev", "histogram_stdvar", "histogram_sum",
};

static bool selector_reads_hist(const runner_t *r, const tw_promql_expr_t *vs)
{
    for (size_t i = 0; i < r->n_hist; i++) {
        bool all = true;
        for (size_t m = 0; m < vs->u.vs.n_matchers && all; m++) {
            const tw_matcher_t *mt = &vs->u.vs.matchers[m];
            const char *v = tw_labels_get(r->hist[i].labels, r->hist[i].n, mt->name);
            all = tw_matcher_matches(mt, v == NULL ? "" : v);
        }
        if (all) {
            return true;
        }
    }
    return false;
}

/* Walks e; returns the first skip reason found, or -1. */
static int ast_skip(const runner_t *r, const tw_promql_expr_t *e)
{
    if (e == NULL) {
        return -1;
    }
    int k = -1;
    switch (e->kind) {
    case TW_PROMQL_VECTOR_SELECTOR:
        return selector_reads_hist(r, e) ? TW_PROMQL_TEST_SKIP_NATIVE_HISTOGRAMS : -1;
    case TW_PROMQL_MATRIX_SELECTOR:
        return ast_skip(r, e->u.matrix.vs);
    case TW_PROMQL_SUBQUERY:
        return ast_skip(r, e->u.subquery.expr);
    case TW_PROMQL_UNARY:
        return ast_skip(r, e->u.unary.expr);
    case TW_PROMQL_PAREN:
        return ast_skip(r, e->u.paren.expr);
    case TW_PROMQL_STEP_INVARIANT:
        return ast_skip(r, e->u.step_invariant.expr);
    case TW_PROMQL_BINARY:
        k = ast_skip(r, e->u.binary.lhs);
        return k >= 0 ? k : ast_skip(r, e->u.binary.rhs);
    case TW_PROMQL_AGGREGATE:
        k = ast_skip(r, e->u.aggregate.param);
        return k >= 0 ? k : ast_skip(r, e->u.aggregate.expr);
    case TW_PROMQL_CALL: {
        const char *fn = e->u.call.func->name;
        if (strcmp(fn, "info") == 0) {
            return TW_PROMQL_TEST_SKIP_INFO_FUNCTION;
        }
        for (size_t i = 0; i < sizeof(nh_functions) / sizeof(nh_functions[0]); i++) {
            if (strcmp(fn, nh_functions[i]) == 0) {
                return TW_PROMQL_TEST_SKIP_NATIVE_HISTOGRAMS;
            }
        }
        for (size_t i = 0; i < e->u.call.n_args && k < 0; i++) {
            k = ast_skip(r, e->u.call.args[i]);
        }
        return k;
    }
    default:
        return -1;
    }
}

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':';
}

/* Whether word occurs in s as a whole word (optionally followed directly by '('). */
static bool has_word(const char *s, const char *word, bool call)
{
    size_t n = strlen(word);
    for (const char *p = strstr(s, word); p != NULL; p = strstr(p + 1, word)) {
        if ((p == s || !is_word_char(p[-1])) && !is_word_char(p[n]) && (!call || p[n] == '(')) {
            return true;
        }
    }
    return false;
}

static bool is_plain_duration(const char *s, size_t len)
{
    while (len > 0 && (s[0] == ' ' || s[0] == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    int64_t ms;
    return len == 0 || tw_promql_duration_parse(s, len, &ms, NULL) == 0;
}

/* Text heuristics for duration expressions: `[a+b]`, `[60*30]`, `[1800]`, `offset (..)`. */
static bool has_duration_expr(const char *s)
{
    char q = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (q != 0) {
            if (*p == '\\' && q != '`' && p[1] != '\0') {
                p++;
            } else if (*p == q) {
                q = 0;
            }
            continue;
        }
        if (*p == '"' || *p == '\'' || *p == '`') {
            q = *p;
        } else if (*p == '[') {
            const char *e = strchr(p, ']');
            if (e == NULL) {
                return false;
            }
            const char *c = memchr(p + 1, ':', (size_t)(e - p - 1));
            if (c == NULL) {
                c = e;
            }
            if (!is_plain_duration(p + 1, (size_t)(c - p - 1)) ||
                (c < e && !is_plain_duration(c + 1, (size_t)(e - c - 1)))) {
                return true;
            }
            p = e;
        } else if ((p == s || !is_word_char(p[-1])) && strncmp(p, "offset", 6) == 0 &&
                   !is_word_char(p[6])) {
            const char *a = p + 6;
            while (*a == ' ' || *a == '\t') {
                a++;
            }
            if (*a == '-') {
                a++;
            }
            const char *b = a;
            while (is_word_char(*b)) {
                b++;
            }
            if (*a == '(' || !is_plain_duration(a, (size_t)(b - a)) || b == a) {
                return true;
            }
        }
    }
    return false;
}

/* The skip reason of an expression that does not parse, or -1. */
static int text_skip(const runner_t *r, const char *expr)
{
    if (has_word(expr, "anchored", false) || has_word(expr, "smoothed", false)) {
        return TW_PROMQL_TEST_SKIP_EXTENDED_RANGE_SELECTORS;
    }
    if (has_word(expr, "fill", true) || has_word(expr, "fill_left", true) ||
        has_word(expr, "fill_right", true)) {
        return TW_PROMQL_TEST_SKIP_FILL_MODIFIERS;
    }
    if (has_word(expr, "info", true)) {
        return TW_PROMQL_TEST_SKIP_INFO_FUNCTION;
    }
    if (has_duration_expr(expr)) {
        return TW_PROMQL_TEST_SKIP_DURATION_EXPRESSIONS;
    }
    for (size_t i = 0; i < sizeof(nh_functions) / sizeof(nh_functions[0]); i++) {
        if (has_word(expr, nh_functions[i], true)) {
            return TW_PROMQL_TEST_SKIP_NATIVE_HISTOGRAMS;
        }
    }
    for (size_t i = 0; i < r->n_hist; i++) {
        const char *n = tw_labels_get(r->hist[i].labels, r->hist[i].n, TW_METRIC_NAME_LABEL);
        if (n != NULL && has_word(expr, n, false)) {
            return TW_PROMQL_TEST_SKIP_NATIVE_HISTOGRAMS;
        }
    }
    return -1;
}

static int eval_skip(const runner_t *r, const tw_pt_eval_t *ev)
{
    if (r->start_timestamps) {
        return TW_PROMQL_TEST_SKIP_START_TIMESTAMPS;
    }
    if (ev->expects_histograms) {
        return TW_PROMQL_TEST_SKIP_NATIVE_HISTOGRAMS;
    }
    tw_promql_parse_options_t po = {.compat = r->o->compat};
    tw_promql_ast_t *ast = NULL;
    if (tw_promql_parse(ev->expr, ev->expr_len, &po, &ast, NULL) != 0) {
        return text_skip(r, ev->expr);
    }
    int k = ast_skip(r, tw_promql_ast_root(ast));
    tw_promql_ast_free(ast);
    return k;
}

/* ---- comparison ---- */

static void put_labels(tw_buf_t *b, const tw_label_t *ls, size_t n)
{
    tw_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        tw_buf_printf(b, "%s%s=", i > 0 ? ", " : "", ls[i].name);
        tw_promql_go_quote(ls[i].value, strlen(ls[i].value), b);
    }
    tw_buf_putc(b, '}');
}

static void put_float(tw_buf_t *b, double v)
{
    if (tw_promql_is_stale_nan(v)) {
        tw_buf_puts(b, "stale");
        return;
    }
    tw_promql_format_value(v, b);
}

/* Prints the result compactly (at most 20 series, 20 points each). */
static void put_result(tw_buf_t *b, const tw_promql_result_t *res)
{
    switch (res->type) {
    case TW_PROMQL_TYPE_SCALAR:
        tw_buf_puts(b, "scalar ");
        put_float(b, res->scalar);
        return;
    case TW_PROMQL_TYPE_STRING:
        tw_buf_puts(b, "string ");
        tw_promql_go_quote(res->str, res->str_len, b);
        return;
    default:
        break;
    }
    tw_buf_printf(b, "%s with %zu series", res->type == TW_PROMQL_TYPE_MATRIX ? "matrix" : "vector",
                  res->n_series);
    for (size_t i = 0; i < res->n_series && i < 20; i++) {
        const tw_promql_series_t *s = &res->series[i];
        tw_buf_puts(b, "\n        ");
        put_labels(b, s->labels, s->n_labels);
        for (size_t k = 0; k < s->n_points && k < 20; k++) {
            tw_buf_putc(b, ' ');
            put_float(b, s->points[k].v);
            if (res->type == TW_PROMQL_TYPE_MATRIX) {
                tw_buf_printf(b, "@%lld", (long long)s->points[k].t);
            }
        }
        if (s->n_points > 20) {
            tw_buf_puts(b, " ...");
        }
    }
    if (res->n_series > 20) {
        tw_buf_puts(b, "\n        ...");
    }
}

static void put_expected(tw_buf_t *b, const tw_pt_eval_t *ev)
{
    if (ev->expect_scalar) {
        tw_buf_puts(b, "scalar ");
        put_float(b, ev->scalar);
        return;
    }
    if (ev->has_string) {
        tw_buf_puts(b, "string ");
        tw_promql_go_quote(ev->string, ev->string_len, b);
        return;
    }
    tw_buf_printf(b, "%zu series", ev->n_series);
    for (size_t i = 0; i < ev->n_series && i < 20; i++) {
        const tw_promql_series_desc_t *d = &ev->series[i].d;
        tw_buf_puts(b, "\n        ");
        put_labels(b, d->labels, d->n_labels);
        for (size_t k = 0; k < d->n_values && k < 20; k++) {
            tw_buf_putc(b, ' ');
            if (d->values[k].kind == TW_PROMQL_SEQ_OMITTED) {
                tw_buf_putc(b, '_');
            } else {
                put_float(b, d->values[k].v);
            }
        }
        if (d->n_values > 20) {
            tw_buf_puts(b, " ...");
        }
    }
}

static const tw_pt_expected_t *find_expected(const tw_pt_eval_t *ev, const tw_label_t *ls, size_t n)
{
    for (size_t i = 0; i < ev->n_series; i++) {
        const tw_promql_series_desc_t *d = &ev->series[i].d;
        if (tw_labels_compare(d->labels, d->n_labels, ls, n) == 0) {
            return &ev->series[i];
        }
    }
    return NULL;
}

/* Compares a vector (n series of one point each) with ev's expectation. */
static bool compare_vector(const tw_pt_eval_t *ev, const tw_promql_series_t *ss, size_t n,
                           bool ordered, tw_buf_t *why)
{
    if (ev->expect_scalar) {
        tw_buf_puts(why, "expected scalar result, but got a vector");
        return false;
    }
    bool *seen = tw_xcalloc(ev->n_series + 1, sizeof(bool));
    bool ok = false;
    for (size_t i = 0; i < n; i++) {
        const tw_promql_series_t *s = &ss[i];
        double v = s->n_points > 0 ? s->points[0].v : 0;
        const tw_pt_expected_t *x = find_expected(ev, s->labels, s->n_labels);
        if (x == NULL) {
            tw_buf_puts(why, "unexpected metric ");
            put_labels(why, s->labels, s->n_labels);
            tw_buf_puts(why, " in result, has value ");
            put_float(why, v);
            goto out;
        }
        if (ordered && x->pos != (int)i + 1) {
            tw_buf_puts(why, "expected metric ");
            put_labels(why, s->labels, s->n_labels);
            tw_buf_printf(why, " at position %d but was at %zu", x->pos, i + 1);
            goto out;
        }
        if (s->n_points != 1) {
            tw_buf_puts(why, "vector element ");
            put_labels(why, s->labels, s->n_labels);
            tw_buf_printf(why, " has %zu points", s->n_points);
            goto out;
        }
        if (!tw_promql_test_float_equal(x->d.values[0].v, v)) {
            tw_buf_puts(why, "expected ");
            put_float(why, x->d.values[0].v);
            tw_buf_puts(why, " for ");
            put_labels(why, s->labels, s->n_labels);
            tw_buf_puts(why, " but got ");
            put_float(why, v);
            goto out;
        }
        size_t idx = (size_t)(x - ev->series);
        if (seen[idx]) {
            tw_buf_puts(why, "metric ");
            put_labels(why, s->labels, s->n_labels);
            tw_buf_puts(why, " appears twice in the result");
            goto out;
        }
        seen[idx] = true;
    }
    for (size_t i = 0; i < ev->n_series; i++) {
        if (!seen[i]) {
            tw_buf_puts(why, "expected metric ");
            put_labels(why, ev->series[i].d.labels, ev->series[i].d.n_labels);
            tw_buf_puts(why, " with ");
            put_float(why, ev->series[i].d.values[0].v);
            tw_buf_puts(why, " not found");
            goto out;
        }
    }
    ok = true;
out:
    free(seen);
    return ok;
}

/* Compares a matrix result with ev's expectation on the grid start + k * step (<= end). */
static bool compare_matrix(const tw_pt_eval_t *ev, const tw_promql_result_t *res, int64_t start,
                           int64_t end, int64_t step, tw_buf_t *why)
{
    if (tw_pt_eval_is_ordered(ev)) {
        tw_buf_puts(why, "expected ordered result, but query returned a matrix");
        return false;
    }
    if (ev->expect_scalar) {
        tw_buf_puts(why, "expected scalar result, but got a matrix");
        return false;
    }
    for (size_t i = 0; i + 1 < res->n_series; i++) {
        const tw_promql_series_t *a = &res->series[i], *b = &res->series[i + 1];
        if (tw_labels_compare(a->labels, a->n_labels, b->labels, b->n_labels) > 0) {
            tw_buf_printf(why, "matrix results should always be sorted by labels, but series %zu ",
                          i + 1);
            put_labels(why, b->labels, b->n_labels);
            tw_buf_printf(why, " sorts before series %zu ", i);
            put_labels(why, a->labels, a->n_labels);
            return false;
        }
    }
    bool *seen = tw_xcalloc(ev->n_series + 1, sizeof(bool));
    bool ok = false;
    for (size_t i = 0; i < res->n_series; i++) {
        const tw_promql_series_t *s = &res->series[i];
        const tw_pt_expected_t *x = find_expected(ev, s->labels, s->n_labels);
        if (x == NULL) {
            tw_buf_puts(why, "unexpected metric ");
            put_labels(why, s->labels, s->n_labels);
            tw_buf_printf(why, " in result, has %zu points", s->n_points);
            goto out;
        }
        seen[x - ev->series] = true;
        size_t want = 0;
        for (size_t k = 0; k < x->d.n_values; k++) {
            int64_t t = start + (int64_t)k * step;
            if (t > end) {
                tw_buf_printf(why, "expected %zu points for ", x->d.n_values);
                put_labels(why, s->labels, s->n_labels);
                tw_buf_puts(why, ", but query time range cannot return this many points");
                goto out;
            }
            want += x->d.values[k].kind == TW_PROMQL_SEQ_FLOAT;
        }
        if (want != s->n_points) {
            tw_buf_printf(why, "expected %zu float points for ", want);
            put_labels(why, s->labels, s->n_labels);
            tw_buf_printf(why, " but got %zu", s->n_points);
            goto out;
        }
        size_t j = 0;
        for (size_t k = 0; k < x->d.n_values; k++) {
            if (x->d.values[k].kind != TW_PROMQL_SEQ_FLOAT) {
                continue;
            }
            int64_t t = start + (int64_t)k * step;
            const tw_promql_point_t *pt = &s->points[j++];
            if (pt->t != t) {
                tw_buf_printf(why, "expected float value at index %zu for ", j - 1);
                put_labels(why, s->labels, s->n_labels);
                tw_buf_printf(why, " to have timestamp %lld, but it had timestamp %lld",
                              (long long)t, (long long)pt->t);
                goto out;
            }
            if (!tw_promql_test_float_equal(x->d.values[k].v, pt->v)) {
                tw_buf_printf(why, "expected float value at index %zu (t=%lld) for ", j - 1,
                              (long long)t);
                put_labels(why, s->labels, s->n_labels);
                tw_buf_puts(why, " to be ");
                put_float(why, x->d.values[k].v);
                tw_buf_puts(why, ", but got ");
                put_float(why, pt->v);
                goto out;
            }
        }
    }
    for (size_t i = 0; i < ev->n_series; i++) {
        if (!seen[i]) {
            tw_buf_puts(why, "expected metric ");
            put_labels(why, ev->series[i].d.labels, ev->series[i].d.n_labels);
            tw_buf_puts(why, " not found");
            goto out;
        }
    }
    ok = true;
out:
    free(seen);
    return ok;
}

static bool compare_scalar(const tw_pt_eval_t *ev, double v, tw_buf_t *why)
{
    if (!ev->expect_scalar) {
        tw_buf_puts(why, "expected vector or matrix result, but got scalar ");
        put_float(why, v);
        return false;
    }
    if (!tw_promql_test_float_equal(ev->scalar, v)) {
        tw_buf_puts(why, "expected scalar ");
        put_float(why, ev->scalar);
        tw_buf_puts(why, " but got ");
        put_float(why, v);
        return false;
    }
    return true;
}

static bool compare_result(const tw_pt_eval_t *ev, const tw_promql_result_t *res, tw_buf_t *why)
{
    switch (res->type) {
    case TW_PROMQL_TYPE_MATRIX:
        if (ev->range) {
            return compare_matrix(ev, res, ev->start_ms, ev->end_ms, ev->step_ms, why);
        }
        if (ev->range_vector) {
            return compare_matrix(ev, res, ev->rv_start_ms, ev->rv_end_ms, ev->rv_step_ms, why);
        }
        return compare_matrix(ev, res, ev->start_ms, ev->start_ms, 0, why);
    case TW_PROMQL_TYPE_VECTOR:
        return compare_vector(ev, res->series, res->n_series, tw_pt_eval_is_ordered(ev), why);
    case TW_PROMQL_TYPE_SCALAR:
        return compare_scalar(ev, res->scalar, why);
    case TW_PROMQL_TYPE_STRING: {
        const char *want = ev->has_string ? ev->string : "";
        size_t wl = ev->has_string ? ev->string_len : 0;
        if (wl != res->str_len || memcmp(want, res->str, wl) != 0) {
            tw_buf_puts(why, "expected string ");
            tw_promql_go_quote(want, wl, why);
            tw_buf_puts(why, " but got ");
            tw_promql_go_quote(res->str, res->str_len, why);
            return false;
        }
        return true;
    }
    default:
        tw_buf_printf(why, "unexpected result type %d", (int)res->type);
        return false;
    }
}

/* ---- messages and annotations ---- */

/* Unanchored regex search of re in s; *bad set when re does not compile. */
static bool regex_search(const char *re, const char *s, bool *bad)
{
    tw_buf_t p;
    tw_buf_init(&p, 0);
    tw_buf_printf(&p, ".*(?:%s).*", re);
    tw_regex_t *rx = NULL;
    bool m = false;
    if (tw_regex_compile(&rx, p.data, TW_REGEX_DOTALL, NULL) != 0) {
        *bad = true;
    } else {
        m = tw_regex_matches(rx, s, strlen(s));
    }
    tw_regex_free(rx);
    tw_buf_fini(&p);
    return m;
}

/* Length of s without a trailing " (line:col)" position. */
static size_t strip_position(const char *s)
{
    size_t n = strlen(s);
    if (n < 6 || s[n - 1] != ')') {
        return n;
    }
    size_t i = n - 1;
    bool colon = false, digits = false;
    while (i > 0) {
        char c = s[--i];
        if (c >= '0' && c <= '9') {
            digits = true;
        } else if (c == ':' && !colon && digits) {
            colon = true;
            digits = false;
        } else {
            break;
        }
    }
    if (s[i] == '(' && colon && digits && i > 0 && s[i - 1] == ' ') {
        return i - 1;
    }
    return n;
}

/* Whether expectation x (a message or a regex) matches actual (with or without position). */
static bool expect_matches(const tw_pt_expect_t *x, const char *actual, bool *bad)
{
    if (x->text == NULL) {
        return true;
    }
    size_t n = strip_position(actual);
    char *stripped = tw_xstrndup(actual, n);
    bool m;
    if (x->regex) {
        m = regex_search(x->text, actual, bad) || regex_search(x->text, stripped, bad);
    } else {
        m = strcmp(x->text, actual) == 0 || strcmp(x->text, stripped) == 0;
    }
    free(stripped);
    return m;
}

static bool check_annotations_of(const tw_pt_eval_t *ev, tw_pt_expect_kind_t kind, const char *what,
                                 const char *const *actual, size_t n, tw_buf_t *why)
{
    bool any = false, bad = false;
    for (size_t i = 0; i < ev->n_expects; i++) {
        const tw_pt_expect_t *x = &ev->expects[i];
        if (x->kind != kind) {
            continue;
        }
        any = true;
        bool found = false;
        for (size_t k = 0; k < n && !found; k++) {
            found = expect_matches(x, actual[k], &bad);
        }
        if (bad) {
            tw_buf_printf(why, "invalid regex %s in expect %s", x->text, what);
            return false;
        }
        if (!found) {
            if (n == 0) {
                tw_buf_printf(why, "expected %s annotations but none were found", what);
            } else {
                tw_buf_printf(why, "expected %s annotation matching %s \"%s\" but found:", what,
                              x->regex ? "pattern" : "message", x->text ? x->text : ".*");
                for (size_t k = 0; k < n; k++) {
                    tw_buf_printf(why, "\n        %s", actual[k]);
                }
            }
            return false;
        }
    }
    if (!any) {
        return true;
    }
    for (size_t k = 0; k < n; k++) {
        bool found = false;
        for (size_t i = 0; i < ev->n_expects && !found; i++) {
            found = ev->expects[i].kind == kind && expect_matches(&ev->expects[i], actual[k], &bad);
        }
        if (!found) {
            tw_buf_printf(why, "unexpected %s annotation \"%s\"", what, actual[k]);
            return false;
        }
    }
    return true;
}

static bool check_annotations(const tw_pt_eval_t *ev, const tw_promql_result_t *res, tw_buf_t *why)
{
    if (ev->warn && res->n_warnings == 0) {
        tw_buf_puts(why, "expected warnings but got none");
        return false;
    }
    if (ev->info && res->n_infos == 0) {
        tw_buf_puts(why, "expected info annotations but got none");
        return false;
    }
    if (!check_annotations_of(ev, TW_PT_EXPECT_WARN, "warn", res->warnings, res->n_warnings, why) ||
        !check_annotations_of(ev, TW_PT_EXPECT_INFO, "info", res->infos, res->n_infos, why)) {
        return false;
    }
    for (size_t i = 0; i < ev->n_expects; i++) {
        const tw_pt_expect_t *x = &ev->expects[i];
        const char *const *a = x->kind == TW_PT_EXPECT_NO_WARN ? res->warnings : res->infos;
        size_t n = x->kind == TW_PT_EXPECT_NO_WARN ? res->n_warnings : res->n_infos;
        if ((x->kind == TW_PT_EXPECT_NO_WARN || x->kind == TW_PT_EXPECT_NO_INFO) && n > 0) {
            tw_buf_printf(why, "unexpected %s annotations:",
                          x->kind == TW_PT_EXPECT_NO_WARN ? "warning" : "info");
            for (size_t k = 0; k < n; k++) {
                tw_buf_printf(why, "\n        %s", a[k]);
            }
            return false;
        }
    }
    return true;
}

/* Checks an error against eval_fail / expect fail expectations. */
static bool check_failure(const tw_pt_eval_t *ev, const char *msg, tw_buf_t *why)
{
    bool bad = false;
    if (ev->fail_message != NULL && strcmp(ev->fail_message, msg) != 0) {
        tw_buf_printf(why, "expected error \"%s\", but got: %s", ev->fail_message, msg);
        return false;
    }
    if (ev->fail_regexp != NULL && !regex_search(ev->fail_regexp, msg, &bad)) {
        tw_buf_printf(why, "expected error matching pattern \"%s\", but got: %s", ev->fail_regexp,
                      msg);
        return false;
    }
    for (size_t i = 0; i < ev->n_expects; i++) {
        const tw_pt_expect_t *x = &ev->expects[i];
        if (x->kind != TW_PT_EXPECT_FAIL || x->text == NULL) {
            continue;
        }
        bool m = x->regex ? regex_search(x->text, msg, &bad) : strcmp(x->text, msg) == 0;
        if (!m) {
            tw_buf_printf(why, "expected error matching \"%s\", but got: %s", x->text, msg);
            return false;
        }
    }
    if (bad) {
        tw_buf_puts(why, "invalid regex in the failure expectation");
        return false;
    }
    return true;
}

/* ---- running ---- */

static void engine_options(const runner_t *r, tw_promql_engine_options_t *eo)
{
    memset(eo, 0, sizeof(*eo));
    eo->compat = r->o->compat;
    eo->lookback_delta_ms = 5 * 60 * 1000;
    eo->max_samples = 10000;
    eo->timeout_ms = 100 * 1000;
    eo->default_subquery_step_ms = 60 * 1000;
    eo->delayed_name_removal = r->o->compat == TW_PROMQL_COMPAT_PROMETHEUS3;
}

/* Whether the expression calls start(), end(), range() or step() (no range-mode check then). */
static bool uses_query_context(const char *expr)
{
    return has_word(expr, "start", true) || has_word(expr, "end", true) ||
           has_word(expr, "range", true) || has_word(expr, "step", true);
}

/* The section 8 range-mode check of an instant eval whose instant result was res. */
static bool range_mode_check(const runner_t *r, const tw_pt_eval_t *ev,
                             const tw_promql_storage_t *st, const char *expr, size_t len, int64_t t,
                             const tw_promql_result_t *res, tw_buf_t *why)
{
    if (r->o->no_range_check || ev->range_vector || ev->has_string || uses_query_context(expr)) {
        return true;
    }
    tw_promql_engine_options_t eo;
    engine_options(r, &eo);
    tw_promql_result_t *rr = NULL;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_promql_exec_range(&eo, st, expr, len, t - 60000, t + 60000, 60000, &rr, &err);
    if (rc != 0) {
        char msg[600];
        tw_buf_printf(why, "error evaluating query in range mode: %s",
                      tw_error_format(&err, msg, sizeof(msg)));
        return false;
    }
    bool ok = true;
    if (tw_pt_eval_is_ordered(ev)) {
        goto out;
    }
    if (rr->type != TW_PROMQL_TYPE_MATRIX) {
        tw_buf_printf(why, "range mode: range query returned type %d", (int)rr->type);
        ok = false;
        goto out;
    }
    for (size_t i = 0; i + 1 < rr->n_series; i++) {
        const tw_promql_series_t *a = &rr->series[i], *b = &rr->series[i + 1];
        if (tw_labels_compare(a->labels, a->n_labels, b->labels, b->n_labels) > 0) {
            tw_buf_puts(why, "range mode: matrix results should always be sorted by labels");
            ok = false;
            goto out;
        }
    }
    /* The points at exactly t, as a vector (series of one point each). */
    tw_promql_series_t *vec = tw_xcalloc(rr->n_series + 1, sizeof(*vec));
    size_t nv = 0;
    for (size_t i = 0; i < rr->n_series; i++) {
        const tw_promql_series_t *s = &rr->series[i];
        for (size_t k = 0; k < s->n_points; k++) {
            if (s->points[k].t == t) {
                vec[nv] = *s;
                vec[nv].points = &s->points[k];
                vec[nv].n_points = 1;
                nv++;
                break;
            }
        }
    }
    size_t before = why->len;
    if (res->type == TW_PROMQL_TYPE_SCALAR) {
        if (nv == 0) {
            tw_buf_puts(why, "no point at the evaluation time");
            ok = false;
        } else {
            ok = compare_scalar(ev, vec[0].points[0].v, why);
        }
    } else {
        ok = compare_vector(ev, vec, nv, false, why);
    }
    if (!ok) {
        tw_buf_t tmp;
        tw_buf_init(&tmp, 0);
        tw_buf_puts(&tmp, "range mode: ");
        tw_buf_append(&tmp, why->data + before, why->len - before);
        why->len = before;
        why->data[before] = '\0';
        tw_buf_append(why, tmp.data, tmp.len);
        tw_buf_fini(&tmp);
    }
    free(vec);
out:
    tw_promql_result_free(rr);
    return ok;
}

static void report(const runner_t *r, const tw_pt_cmd_t *c, const char *verdict, const char *detail)
{
    if (r->out == NULL) {
        return;
    }
    const tw_pt_eval_t *ev = &c->eval;
    fprintf(r->out, "%s:%d: %s ", r->name, c->line, verdict);
    if (ev->range) {
        fprintf(r->out, "eval range from %lldms to %lldms step %lldms ", (long long)ev->start_ms,
                (long long)ev->end_ms, (long long)ev->step_ms);
    } else {
        fprintf(r->out, "eval instant at %lldms ", (long long)ev->start_ms);
    }
    fprintf(r->out, "%s\n", ev->expr);
    if (detail != NULL && detail[0] != '\0') {
        fprintf(r->out, "    %s\n", detail);
    }
}

/*
 * Runs expr (ev's expression or its @-rewrite) once: as ev's range query, or as an instant query
 * at t followed by the range-mode check. Returns EV_PASS or EV_FAIL (why says what differed).
 */
static int run_query(const runner_t *r, const tw_pt_eval_t *ev, const tw_promql_storage_t *st,
                     const char *expr, size_t len, int64_t t, tw_buf_t *why)
{
    tw_promql_engine_options_t eo;
    engine_options(r, &eo);
    tw_promql_result_t *res = NULL;
    tw_error_t err;
    tw_error_clear(&err);
    int rc;
    if (ev->range) {
        rc = tw_promql_exec_range(&eo, st, expr, len, ev->start_ms, ev->end_ms, ev->step_ms, &res,
                                  &err);
    } else {
        rc = tw_promql_exec_instant(&eo, st, expr, len, t, &res, &err);
    }
    int verdict = EV_FAIL;
    if (rc != 0) {
        char msg[600];
        tw_error_format(&err, msg, sizeof(msg));
        if (!tw_pt_eval_expects_fail(ev)) {
            tw_buf_printf(why, "error evaluating query: %s", msg);
        } else if (check_failure(ev, msg, why)) {
            verdict = EV_PASS;
        }
        goto out;
    }
    if (tw_pt_eval_expects_fail(ev)) {
        tw_buf_puts(why, "expected error evaluating query but got none; got ");
        put_result(why, res);
        goto out;
    }
    if (!check_annotations(ev, res, why)) {
        goto out;
    }
    if (!compare_result(ev, res, why)) {
        tw_buf_puts(why, "\n    expected ");
        put_expected(why, ev);
        tw_buf_puts(why, "\n    got ");
        put_result(why, res);
        goto out;
    }
    if (!ev->range && !range_mode_check(r, ev, st, expr, len, t, res, why)) {
        goto out;
    }
    verdict = EV_PASS;
out:
    tw_promql_result_free(res);
    return verdict;
}

/* Functions whose result depends on the evaluation time even with `@` (no @-rewrite then). */
static const char *const at_unsafe_functions[] = {
    "days_in_month", "day_of_month", "day_of_week", "day_of_year", "end",
    "hour",          "minute",       "month",       "year",        "predict_linear",
    "range",         "start",        "step",        "time",        "timestamp",
};

/*
 * Gives every selector and subquery without `@` an `@ t` on the caller's own AST, without
 * descending into subqueries (like upstream's atModifierTestCases). Returns false when e calls
 * an @-unsafe function.
 */
static bool add_at(tw_promql_expr_t *e, int64_t t)
{
    if (e == NULL) {
        return true;
    }
    switch (e->kind) {
    case TW_PROMQL_VECTOR_SELECTOR:
        if (e->u.vs.at == TW_PROMQL_AT_NONE) {
            e->u.vs.at = TW_PROMQL_AT_TIMESTAMP;
            e->u.vs.at_ms = t;
        }
        return true;
    case TW_PROMQL_MATRIX_SELECTOR:
        return add_at(e->u.matrix.vs, t);
    case TW_PROMQL_SUBQUERY:
        if (e->u.subquery.at == TW_PROMQL_AT_NONE) {
            e->u.subquery.at = TW_PROMQL_AT_TIMESTAMP;
            e->u.subquery.at_ms = t;
        }
        return true;
    case TW_PROMQL_UNARY:
        return add_at(e->u.unary.expr, t);
    case TW_PROMQL_PAREN:
        return add_at(e->u.paren.expr, t);
    case TW_PROMQL_BINARY:
        return add_at(e->u.binary.lhs, t) && add_at(e->u.binary.rhs, t);
    case TW_PROMQL_AGGREGATE:
        return add_at(e->u.aggregate.param, t) && add_at(e->u.aggregate.expr, t);
    case TW_PROMQL_CALL:
        for (size_t i = 0; i < sizeof(at_unsafe_functions) / sizeof(at_unsafe_functions[0]); i++) {
            if (strcmp(e->u.call.func->name, at_unsafe_functions[i]) == 0) {
                return false;
            }
        }
        for (size_t i = 0; i < e->u.call.n_args; i++) {
            if (!add_at(e->u.call.args[i], t)) {
                return false;
            }
        }
        return true;
    default:
        return true;
    }
}

/*
 * The @-rewrite check (section 8): the expression with `@ T` on its selectors, evaluated at
 * -10T, 0, T/5, T and 10T (T = 0: -1s, 0, 1s), must give the same expected result.
 */
static int at_rewrite_check(const runner_t *r, const tw_pt_eval_t *ev,
                            const tw_promql_storage_t *st, tw_buf_t *why)
{
    if (r->o->no_at_rewrite || ev->range) {
        return EV_PASS;
    }
    tw_promql_parse_options_t po = {.compat = r->o->compat};
    tw_promql_ast_t *ast = NULL;
    if (tw_promql_parse(ev->expr, ev->expr_len, &po, &ast, NULL) != 0) {
        return EV_PASS; /* the plain run already dealt with it */
    }
    int64_t t = ev->start_ms;
    int verdict = EV_PASS;
    tw_buf_t text;
    tw_buf_init(&text, 0);
    if (!add_at(tw_promql_ast_root(ast), t) ||
        tw_promql_print(tw_promql_ast_root(ast), 0, &text) != 0) {
        goto out;
    }
    int64_t times[5] = {-10 * t, 0, t / 5, t, 10 * t};
    size_t nt = 5;
    if (t == 0) {
        times[0] = -1000;
        times[1] = 0;
        times[2] = 1000;
        nt = 3;
    }
    for (size_t i = 0; i < nt && verdict == EV_PASS; i++) {
        size_t before = why->len;
        verdict = run_query(r, ev, st, text.data, text.len, times[i], why);
        if (verdict != EV_PASS) {
            tw_buf_t tmp;
            tw_buf_init(&tmp, 0);
            tw_buf_printf(&tmp, "@-rewrite %s evaluated at %lldms: ", text.data,
                          (long long)times[i]);
            tw_buf_append(&tmp, why->data + before, why->len - before);
            why->len = before;
            why->data[before] = '\0';
            tw_buf_append(why, tmp.data, tmp.len);
            tw_buf_fini(&tmp);
        }
    }
out:
    tw_buf_fini(&text);
    tw_promql_ast_free(ast);
    return verdict;
}

/* Runs one eval; returns EV_PASS/EV_FAIL/EV_SKIP and fills why for a failure. */
static int run_eval_inner(runner_t *r, const tw_pt_eval_t *ev, tw_buf_t *why, int *skip)
{
    int k = eval_skip(r, ev);
    if (k >= 0) {
        *skip = k;
        return EV_SKIP;
    }
    tw_promql_storage_t st;
    tw_promql_memstore_storage(r->store, &st);
    int v = run_query(r, ev, &st, ev->expr, ev->expr_len, ev->start_ms, why);
    if (v == EV_PASS) {
        v = at_rewrite_check(r, ev, &st, why);
    }
    return v;
}

static void run_eval(runner_t *r, const tw_pt_cmd_t *c)
{
    tw_buf_t why;
    tw_buf_init(&why, 1u << 20);
    int skip = -1;
    int v = run_eval_inner(r, &c->eval, &why, &skip);
    switch (v) {
    case EV_PASS:
        r->counts->passed++;
        if (r->o->verbose >= 2) {
            report(r, c, "PASS", NULL);
        }
        break;
    case EV_SKIP:
        r->counts->skipped++;
        r->counts->skipped_by[skip]++;
        if (r->o->verbose >= 1) {
            char reason[96];
            snprintf(reason, sizeof(reason), "SKIP (%s)", tw_promql_test_skip_str(skip));
            report(r, c, reason, NULL);
        }
        break;
    default:
        r->counts->failed++;
        report(r, c, "FAIL", why.data);
        break;
    }
    tw_buf_fini(&why);
}

int tw_promql_test_run_script(const char *name, const char *text, size_t len,
                              const tw_promql_test_options_t *o, FILE *out,
                              tw_promql_test_counts_t *counts, tw_error_t *err)
{
    tw_promql_test_options_t defaults = {0};
    tw_promql_test_counts_t scratch = {0};
    tw_pt_script_t *sc = NULL;
    runner_t r = {
        .name = name != NULL ? name : "<script>",
        .o = o != NULL ? o : &defaults,
        .out = out,
        .counts = counts != NULL ? counts : &scratch,
    };
    int rc = tw_pt_script_parse(r.name, text, len, &sc, err);
    if (rc != 0) {
        return rc;
    }
    r.store = tw_promql_memstore_new();
    for (size_t i = 0; i < sc->n_cmds && rc == 0; i++) {
        const tw_pt_cmd_t *c = &sc->cmds[i];
        switch (c->kind) {
        case TW_PT_CLEAR:
            tw_promql_memstore_free(r.store);
            r.store = tw_promql_memstore_new();
            hist_clear(&r);
            r.start_timestamps = false;
            break;
        case TW_PT_LOAD:
            rc = run_load(&r, &c->load, err);
            if (rc != 0 && err != NULL) {
                char msg[sizeof(err->msg)];
                tw_strlcpy(msg, err->msg, sizeof(msg));
                tw_error_set_at(err, rc, r.name, c->line, 0, "load: %s", msg);
            }
            break;
        case TW_PT_EVAL:
            run_eval(&r, c);
            break;
        }
    }
    hist_clear(&r);
    tw_promql_memstore_free(r.store);
    tw_pt_script_free(sc);
    return rc;
}

int tw_promql_test_run_file(const char *path, const tw_promql_test_options_t *o, FILE *out,
                            tw_promql_test_counts_t *counts, tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, TW_PT_MAX_SCRIPT_BYTES);
    int rc = tw_buf_read_file(&b, path, err);
    if (rc == 0) {
        rc = tw_promql_test_run_script(path, b.data != NULL ? b.data : "", b.len, o, out, counts,
                                       err);
    }
    tw_buf_fini(&b);
    return rc;
}

static void print_counts(FILE *out, const char *label, const tw_promql_test_counts_t *c)
{
    fprintf(out, "%s: %zu passed, %zu failed, %zu skipped\n", label, c->passed, c->failed,
            c->skipped);
    for (int k = 0; k < TW_PROMQL_TEST_SKIP_N; k++) {
        if (c->skipped_by[k] > 0) {
            fprintf(out, "    skipped (%s): %zu\n", tw_promql_test_skip_str(k), c->skipped_by[k]);
        }
    }
}

int tw_promql_test_main(int argc, char **argv, FILE *out, FILE *errout)
{
    tw_promql_test_options_t o = {0};
    int first = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *mode = NULL;
        if (strcmp(a, "--") == 0) {
            first = i + 1;
            break;
        }
        if (strncmp(a, "--query.compat=", 15) == 0) {
            mode = a + 15;
        } else if (strcmp(a, "--query.compat") == 0 && i + 1 < argc) {
            mode = argv[++i];
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o.verbose++;
            continue;
        } else if (strcmp(a, "--no-range-check") == 0) {
            o.no_range_check = true;
            continue;
        } else if (strcmp(a, "--no-at-rewrite") == 0) {
            o.no_at_rewrite = true;
            continue;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(errout, "test promql: unknown flag %s\n", a);
            goto usage;
        } else {
            first = i;
            break;
        }
        if (strcmp(mode, "prometheus2") == 0) {
            o.compat = TW_PROMQL_COMPAT_PROMETHEUS2;
        } else if (strcmp(mode, "prometheus3") == 0) {
            o.compat = TW_PROMQL_COMPAT_PROMETHEUS3;
        } else {
            fprintf(errout,
                    "test promql: --query.compat must be prometheus2 or prometheus3, "
                    "not \"%s\"\n",
                    mode);
            return 2;
        }
    }
    if (first < 0 || first >= argc) {
        goto usage;
    }
    tw_promql_test_counts_t total = {0};
    int exit_code = 0;
    size_t files = 0;
    for (int i = first; i < argc; i++) {
        tw_promql_test_counts_t c = {0};
        tw_error_t err;
        tw_error_clear(&err);
        int rc = tw_promql_test_run_file(argv[i], &o, out, &c, &err);
        if (rc != 0) {
            char msg[900];
            fprintf(errout, "%s\n", tw_error_format(&err, msg, sizeof(msg)));
            exit_code = 1;
        }
        print_counts(out, argv[i], &c);
        if (c.failed > 0) {
            exit_code = 1;
        }
        total.passed += c.passed;
        total.failed += c.failed;
        total.skipped += c.skipped;
        for (int k = 0; k < TW_PROMQL_TEST_SKIP_N; k++) {
            total.skipped_by[k] += c.skipped_by[k];
        }
        files++;
    }
    if (files > 1) {
        print_counts(out, "total", &total);
    }
    fflush(out);
    return exit_code;
usage:
    fprintf(errout, "usage: tidewatch test promql [--query.compat=prometheus2|prometheus3] "
                    "[-v|--verbose] [--no-range-check] [--no-at-rewrite] FILE...\n");
    return 2;
}
