/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_memstore.c - an in-memory tw_promql_storage_t for tests and the PromQL test-script
 * runner (query.h, "test scripts").
 *
 * The store is an array of series kept sorted by label set (tw_labels_compare), each with its
 * label strings copied and its samples in a growable array ascending by time. Adding a sample
 * finds the series by binary search and inserts the sample in time order (test scripts append
 * in order, so that is the end of the array). A storage view is just the store plus the view's
 * time range: select() walks the series in order, tests the matchers with tw_matcher_matches()
 * (a missing label is the empty value) and hands out the samples inside both the view and the
 * requested range, found by binary search. Staleness markers are ordinary values here.
 *
 * Thread model: one thread; no sample may be added while a view is open.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "query/query.h"

typedef struct ms_series {
    tw_label_t *labels; /* owned array and strings, sorted by name */
    size_t n_labels;
    int64_t *t; /* owned, ascending */
    double *v;  /* owned, parallel to t */
    size_t n;
    size_t cap;
} ms_series_t;

struct tw_promql_memstore {
    ms_series_t *series; /* sorted by labels */
    size_t n;
    size_t cap;
};

/* An open view: the store and the time range of open(). */
typedef struct ms_view {
    tw_promql_memstore_t *m;
    int64_t mint;
    int64_t maxt;
} ms_view_t;

tw_promql_memstore_t *tw_promql_memstore_new(void)
{
    return tw_xcalloc(1, sizeof(tw_promql_memstore_t));
}

void tw_promql_memstore_free(tw_promql_memstore_t *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        ms_series_t *s = &m->series[i];
        for (size_t j = 0; j < s->n_labels; j++) {
            free((char *)s->labels[j].name);
            free((char *)s->labels[j].value);
        }
        free(s->labels);
        free(s->t);
        free(s->v);
    }
    free(m->series);
    free(m);
}

size_t tw_promql_memstore_series_count(const tw_promql_memstore_t *m)
{
    return m->n;
}

bool tw_promql_is_stale_nan(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits == TW_PROMQL_STALE_NAN_BITS;
}

/* Index of the series with labels ls, or the index where it belongs (*found false). */
static size_t find_series(const tw_promql_memstore_t *m, const tw_label_t *ls, size_t n,
                          bool *found)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tw_labels_compare(m->series[mid].labels, m->series[mid].n_labels, ls, n);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

/* First index in s with t >= t0. */
static size_t lower_bound(const ms_series_t *s, int64_t t0)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->t[mid] < t0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static ms_series_t *insert_series(tw_promql_memstore_t *m, size_t at, const tw_label_t *sorted,
                                  size_t n)
{
    if (m->n == m->cap) {
        m->cap = m->cap == 0 ? 16 : m->cap * 2;
        m->series = tw_xrealloc(m->series, m->cap * sizeof(ms_series_t));
    }
    memmove(&m->series[at + 1], &m->series[at], (m->n - at) * sizeof(ms_series_t));
    m->n++;
    ms_series_t *s = &m->series[at];
    memset(s, 0, sizeof(*s));
    s->labels = tw_xcalloc(n == 0 ? 1 : n, sizeof(tw_label_t));
    for (size_t i = 0; i < n; i++) {
        s->labels[i].name = tw_xstrdup(sorted[i].name);
        s->labels[i].value = tw_xstrdup(sorted[i].value);
    }
    s->n_labels = n;
    return s;
}

int tw_promql_memstore_add(tw_promql_memstore_t *m, const tw_label_t *labels, size_t n,
                           int64_t t_ms, double v, tw_error_t *err)
{
    tw_label_t small[32];
    tw_label_t *ls = n <= 32 ? small : tw_xcalloc(n, sizeof(tw_label_t));
    int rc = 0;
    memcpy(ls, labels, n * sizeof(tw_label_t));
    tw_labels_sort(ls, n);
    for (size_t i = 0; i < n; i++) {
        if (ls[i].name == NULL || ls[i].value == NULL || ls[i].name[0] == '\0') {
            rc = tw_error_set(err, TW_EINVAL, "empty label name");
            goto out;
        }
        if (i > 0 && strcmp(ls[i - 1].name, ls[i].name) == 0) {
            rc = tw_error_set(err, TW_EINVAL, "label name \"%s\" given twice", ls[i].name);
            goto out;
        }
    }
    bool found;
    size_t at = find_series(m, ls, n, &found);
    ms_series_t *s = found ? &m->series[at] : insert_series(m, at, ls, n);
    size_t k = lower_bound(s, t_ms);
    if (k < s->n && s->t[k] == t_ms) {
        s->v[k] = v;
        goto out;
    }
    if (s->n == s->cap) {
        s->cap = s->cap == 0 ? 16 : s->cap * 2;
        s->t = tw_xrealloc(s->t, s->cap * sizeof(int64_t));
        s->v = tw_xrealloc(s->v, s->cap * sizeof(double));
    }
    memmove(&s->t[k + 1], &s->t[k], (s->n - k) * sizeof(int64_t));
    memmove(&s->v[k + 1], &s->v[k], (s->n - k) * sizeof(double));
    s->t[k] = t_ms;
    s->v[k] = v;
    s->n++;
out:
    if (ls != small) {
        free(ls);
    }
    return rc;
}

static int ms_open(void *ctx, int64_t mint, int64_t maxt, void **q, tw_error_t *err)
{
    (void)err;
    ms_view_t *v = tw_xcalloc(1, sizeof(*v));
    v->m = ctx;
    v->mint = mint;
    v->maxt = maxt;
    *q = v;
    return 0;
}

static void ms_close(void *q)
{
    free(q);
}

static bool series_matches(const ms_series_t *s, const tw_matcher_t *ms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *val = tw_labels_get(s->labels, s->n_labels, ms[i].name);
        if (!tw_matcher_matches(&ms[i], val == NULL ? "" : val)) {
            return false;
        }
    }
    return true;
}

/* The samples of s in [mint, maxt]: *first and the count. */
static size_t samples_in(const ms_series_t *s, int64_t mint, int64_t maxt, size_t *first)
{
    if (mint > maxt) {
        *first = 0;
        return 0;
    }
    size_t a = lower_bound(s, mint);
    size_t b = maxt == INT64_MAX ? s->n : lower_bound(s, maxt + 1);
    *first = a;
    return b > a ? b - a : 0;
}

static int ms_select(void *q, const tw_matcher_t *ms, size_t n, int64_t mint, int64_t maxt,
                     tw_promql_series_fn fn, void *arg, tw_error_t *err)
{
    (void)err;
    ms_view_t *v = q;
    int64_t lo = mint > v->mint ? mint : v->mint;
    int64_t hi = maxt < v->maxt ? maxt : v->maxt;
    for (size_t i = 0; i < v->m->n; i++) {
        const ms_series_t *s = &v->m->series[i];
        size_t first;
        size_t cnt = samples_in(s, lo, hi, &first);
        if (cnt == 0 || !series_matches(s, ms, n)) {
            continue;
        }
        int rc = fn(arg, s->labels, s->n_labels, s->t + first, s->v + first, cnt);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts and deduplicates arr[0..*n). */
static void sort_unique(const char **arr, size_t *n)
{
    if (*n == 0) {
        return;
    }
    qsort(arr, *n, sizeof(*arr), cmp_str);
    size_t w = 1;
    for (size_t i = 1; i < *n; i++) {
        if (strcmp(arr[i], arr[w - 1]) != 0) {
            arr[w++] = arr[i];
        }
    }
    *n = w;
}

/* Collects label names (name == NULL) or the values of name of the matching series. */
static int ms_collect(ms_view_t *v, const char *name, const tw_matcher_t *ms, size_t n,
                      const char ***out, size_t *n_out)
{
    size_t cap = 16, cnt = 0;
    const char **arr = tw_xcalloc(cap, sizeof(*arr));
    for (size_t i = 0; i < v->m->n; i++) {
        const ms_series_t *s = &v->m->series[i];
        size_t first;
        if (samples_in(s, v->mint, v->maxt, &first) == 0 || !series_matches(s, ms, n)) {
            continue;
        }
        for (size_t j = 0; j < s->n_labels; j++) {
            if (name != NULL && strcmp(s->labels[j].name, name) != 0) {
                continue;
            }
            if (cnt == cap) {
                cap *= 2;
                arr = tw_xrealloc(arr, cap * sizeof(*arr));
            }
            arr[cnt++] = name == NULL ? s->labels[j].name : s->labels[j].value;
        }
    }
    sort_unique(arr, &cnt);
    *out = arr;
    *n_out = cnt;
    return 0;
}

static int ms_label_names(void *q, const tw_matcher_t *ms, size_t n, const char ***out,
                          size_t *n_out, tw_error_t *err)
{
    (void)err;
    return ms_collect(q, NULL, ms, n, out, n_out);
}

static int ms_label_values(void *q, const char *name, const tw_matcher_t *ms, size_t n,
                           const char ***out, size_t *n_out, tw_error_t *err)
{
    (void)err;
    return ms_collect(q, name, ms, n, out, n_out);
}

void tw_promql_memstore_storage(tw_promql_memstore_t *m, tw_promql_storage_t *s)
{
    memset(s, 0, sizeof(*s));
    s->ctx = m;
    s->open = ms_open;
    s->close = ms_close;
    s->select = ms_select;
    s->label_names = ms_label_names;
    s->label_values = ms_label_values;
}
