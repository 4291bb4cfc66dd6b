/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_functions.c - the functions of PromQL (Prometheus' promql/functions.go and the classic
 * histogram part of promql/quantile.go), one tw_ev_func_t each, called by the engine per step.
 *
 * Every function follows Prometheus 3.5 (and Prometheus 2.42 where opts->compat says so:
 * rate()'s extrapolation order, avg_over_time's mean, Kahan summation without the infinity
 * rule, the legacy label-name rules, no annotations at all since 2.42 had none). Range-vector
 * functions get one input series' window and append at most one sample whose labels the engine
 * replaces; instant-vector functions build their output labels themselves, dropping __name__
 * (or marking it with drop_name under delayed name removal) exactly where Prometheus does.
 *
 * What the engine must do around these functions (the parts of Prometheus' engine.go that are
 * not here):
 *   - range-vector functions: called only for a series whose window is not empty; the output is
 *     labelled with the series' labels without __name__, except for last_over_time, which keeps
 *     __name__ (Prometheus 3.5 and 2.42: `dropName := e.Func.Name != "last_over_time"`; the
 *     ts_of_* functions drop it).
 *   - absent_over_time: at each step where no input series has a sample in its window, the
 *     engine calls the function once with args[i].series NULL (or empty); the function then
 *     appends one sample, value 1, already labelled from the selector's equality matchers like
 *     Prometheus' createLabelsForAbsentFunction (drop_name false): the engine outputs it as it
 *     is. Called with a non-empty window it appends nothing.
 *   - absent: builds its own output the same way (the argument's matchers).
 *   - timestamp: when the argument is a vector selector, the engine hands the samples with t =
 *     the raw sample time; otherwise t is the step time.
 *   - sort, sort_desc, sort_by_label*: append the step's vector in the new order; the engine
 *     keeps that order for an instant query.
 *   - "vector cannot contain metrics with the same labelset": the engine checks every
 *     function's output; label_replace and label_join also check theirs here, since Prometheus
 *     does so in its own code path for them.
 *
 * Memory: outputs and cached label sets come from ev->arena; per-step scratch (sort buffers,
 * histogram buckets, compiled regexes) is malloc'd and freed before the function returns.
 * Thread model: one evaluation on one thread; no global mutable state.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/regex.h"
#include "common/timeutil.h"
#include "query/promql_eval_int.h"
#include "query/query_int.h"

/* ---- small helpers ---- */

static bool compat2(const tw_ev_call_t *c)
{
    return c->ev->opts->compat == TW_PROMQL_COMPAT_PROMETHEUS2;
}

/* Prometheus 2.42 had no annotations. */
static bool annotate(const tw_ev_call_t *c)
{
    return !compat2(c);
}

static tw_promql_pos_t arg_pos(const tw_ev_call_t *c, size_t i)
{
    if (c->node != NULL && i < c->node->u.call.n_args) {
        return c->node->u.call.args[i]->pos;
    }
    return (tw_promql_pos_t){0, 0};
}

/* The range-vector argument: its index (for tw_ev_call_range) and its window. */
static const tw_ev_series_t *range_arg(const tw_ev_arg_t *args, size_t n, size_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        if (args[i].type == TW_PROMQL_TYPE_MATRIX) {
            *idx = i;
            return args[i].series;
        }
    }
    *idx = 0;
    return NULL;
}

/* Appends the one result of a range-vector function (labels replaced by the engine). */
static void emit_range(tw_ev_call_t *c, const tw_ev_series_t *s, double v)
{
    tw_ev_labels_t m = s != NULL ? s->m : (tw_ev_labels_t){NULL, 0};
    tw_ev_vector_push(c->ev, c->out, m, c->ts, v, false);
}

/* Appends v for input sample in with __name__ dropped (or marked for delayed removal). */
static void emit_dropped(tw_ev_call_t *c, const tw_ev_sample_t *in, double v)
{
    if (c->ev->opts->delayed_name_removal) {
        tw_ev_vector_push(c->ev, c->out, in->m, c->ts, v, true);
    } else {
        tw_ev_vector_push(c->ev, c->out, tw_ev_labels_drop_name(c->ev, in->m), c->ts, v, false);
    }
}

static const char *metric_name(tw_ev_labels_t m)
{
    return tw_ev_labels_get(m, TW_METRIC_NAME_LABEL);
}

/* Appends Go's %q of s to b. */
static void quote(tw_buf_t *b, const char *s)
{
    (void)tw_promql_go_quote(s, strlen(s), b);
}

/* Go's math.Min / math.Max (NaN wins, signed zeros ordered), unlike C's fmin/fmax. */
static double go_min(double x, double y)
{
    if (isinf(x) && x < 0) {
        return x;
    }
    if (isinf(y) && y < 0) {
        return y;
    }
    if (isnan(x) || isnan(y)) {
        return NAN;
    }
    if (x == 0 && x == y) {
        return signbit(x) ? x : y;
    }
    return x < y ? x : y;
}

static double go_max(double x, double y)
{
    if (isinf(x) && x > 0) {
        return x;
    }
    if (isinf(y) && y > 0) {
        return y;
    }
    if (isnan(x) || isnan(y)) {
        return NAN;
    }
    if (x == 0 && x == y) {
        return signbit(x) ? y : x;
    }
    return x > y ? x : y;
}

/*
 * Kahan-Babuska-Neumaier summation step (Prometheus' kahanSumInc). Prometheus 3 resets the
 * compensation once the sum is infinite; 2.42 did not.
 */
static double kahan_inc(double inc, double sum, double *comp, bool v2)
{
    double t = sum + inc;
    if (!v2 && isinf(t)) {
        *comp = 0;
    } else if (fabs(sum) >= fabs(inc)) {
        *comp += (sum - t) + inc;
    } else {
        *comp += (inc - t) + sum;
    }
    return t;
}

/* Ascending with NaN first (Prometheus' vectorByValueHeap order, used by quantile()). */
static int cmp_nan_first(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    bool nx = isnan(x), ny = isnan(y);
    if (nx || ny) {
        return nx && ny ? 0 : (nx ? -1 : 1);
    }
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* Prometheus' quantile(): sorts v (n values) in place. */
static double quantile_of(double q, double *v, size_t n)
{
    if (n == 0 || isnan(q)) {
        return NAN;
    }
    if (q < 0) {
        return -INFINITY;
    }
    if (q > 1) {
        return INFINITY;
    }
    qsort(v, n, sizeof(*v), cmp_nan_first);
    double dn = (double)n;
    double rank = q * (dn - 1);
    double lower = go_max(0, floor(rank));
    double upper = go_min(dn - 1, lower + 1);
    double weight = rank - floor(rank);
    return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

/* Copies the window's values into a malloc'd array. */
static double *values_of(const tw_ev_series_t *s)
{
    double *v = tw_xmalloc((s->n > 0 ? s->n : 1) * sizeof(*v));
    for (size_t i = 0; i < s->n; i++) {
        v[i] = s->p[i].v;
    }
    return v;
}

/* ---- a hash map of label sets (caches and duplicate checks) ---- */

typedef struct lmap_ent {
    tw_ev_labels_t key;
    tw_ev_labels_t val;
    uint64_t h;
    bool used;
    bool flag; /* label_replace: the regex matched */
} lmap_ent_t;

/* Open addressing; entries from the arena (arena != NULL) or malloc (freed with lmap_fini). */
typedef struct lmap {
    lmap_ent_t *e;
    size_t cap;
    size_t n;
    tw_arena_t *arena;
} lmap_t;

static lmap_ent_t *lmap_alloc(lmap_t *m, size_t cap)
{
    if (m->arena != NULL) {
        return tw_arena_calloc(m->arena, cap * sizeof(lmap_ent_t));
    }
    return tw_xcalloc(cap, sizeof(lmap_ent_t));
}

static void lmap_fini(lmap_t *m)
{
    if (m->arena == NULL) {
        free(m->e);
    }
    m->e = NULL;
    m->cap = m->n = 0;
}

/* Finds key; when absent, inserts it (used, val unset) and sets *found false. */
static lmap_ent_t *lmap_get(lmap_t *m, tw_ev_labels_t key, bool *found)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap == 0 ? 16 : m->cap * 2;
        lmap_ent_t *ne = lmap_alloc(m, ncap);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].used) {
                continue;
            }
            size_t j = (size_t)m->e[i].h & (ncap - 1);
            while (ne[j].used) {
                j = (j + 1) & (ncap - 1);
            }
            ne[j] = m->e[i];
        }
        if (m->arena == NULL) {
            free(m->e);
        }
        m->e = ne;
        m->cap = ncap;
    }
    uint64_t h = tw_ev_labels_hash(key);
    size_t j = (size_t)h & (m->cap - 1);
    while (m->e[j].used) {
        if (m->e[j].h == h && tw_ev_labels_equal(m->e[j].key, key)) {
            *found = true;
            return &m->e[j];
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->e[j] = (lmap_ent_t){.key = key, .h = h, .used = true};
    m->n++;
    *found = false;
    return &m->e[j];
}

/* Fails like Prometheus when two samples of out[from..] share a label set. */
static int check_duplicates(tw_ev_call_t *c, size_t from)
{
    if (c->out->n - from < 2) {
        return 0;
    }
    lmap_t seen = {0};
    int rc = 0;
    for (size_t i = from; i < c->out->n; i++) {
        bool found;
        (void)lmap_get(&seen, c->out->s[i].m, &found);
        if (found) {
            rc =
                tw_ev_fail(c->ev, TW_EEXEC, "vector cannot contain metrics with the same labelset");
            break;
        }
    }
    lmap_fini(&seen);
    return rc;
}

/* ---- stable merge sort of samples ---- */

typedef int (*sample_cmp_fn)(const void *ctx, const tw_ev_sample_t *a, const tw_ev_sample_t *b);

static void merge_sort(tw_ev_sample_t *v, size_t n, sample_cmp_fn cmp, const void *ctx)
{
    if (n < 2) {
        return;
    }
    tw_ev_sample_t *tmp = tw_xmalloc(n * sizeof(*tmp));
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                tmp[k++] = cmp(ctx, &v[j], &v[i]) < 0 ? v[j++] : v[i++];
            }
            while (i < mid) {
                tmp[k++] = v[i++];
            }
            while (j < hi) {
                tmp[k++] = v[j++];
            }
        }
        memcpy(v, tmp, n * sizeof(*v));
    }
    free(tmp);
}

/* ---- rate, increase, delta, irate, idelta ---- */

/* The "metric might not be a counter" info (3.5 engine.go, once a rate/increase has output). */
static void possible_non_counter(tw_ev_call_t *c, const tw_ev_series_t *s, size_t idx)
{
    if (!annotate(c)) {
        return;
    }
    const char *name = metric_name(s->m);
    if (name == NULL || name[0] == '\0') {
        return;
    }
    static const char *const suffixes[] = {"_total", "_sum", "_count", "_bucket"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t sl = strlen(suffixes[i]);
        if (len >= sl && strcmp(name + len - sl, suffixes[i]) == 0) {
            return;
        }
    }
    tw_buf_t b;
    tw_buf_init(&b, 0);
    quote(&b, name);
    tw_ev_info(c->ev, arg_pos(c, idx),
               "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: %s",
               b.data != NULL ? b.data : "\"\"");
    tw_buf_fini(&b);
}

/*
 * How it works (Prometheus' extrapolatedRate): the change between the first and the last sample
 * of the window (plus, for counters, every value before a drop), scaled from the sampled
 * interval out towards the window's edges. An edge is extrapolated to fully when the gap to it is
 * below 1.1 times the average sample spacing, else by half a spacing; for counters the start is
 * never extrapolated past the point where the counter would have been zero. 2.42 applied the
 * zero-point limit before the threshold test, 3.x after it; both scale by one factor
 * (extrapolated interval / sampled interval, divided by the range for rate()).
 */
/*
 * extrapolatedRate over the window p[0..n) (n >= 2) ending at range_end, range_ms long.
 * may_reset false tells that no value of the window drops (the reset scan would add nothing).
 */
static double rate_window(const tw_promql_point_t *p, size_t n, int64_t range_start,
                          int64_t range_end, int64_t range_ms, bool v2, bool is_counter,
                          bool is_rate, bool may_reset)
{
    size_t last = n - 1;
    double result = p[last].v - p[0].v;
    if (is_counter && may_reset) {
        for (size_t i = 1; i < n; i++) {
            if (p[i].v < p[i - 1].v) {
                result += p[i - 1].v;
            }
        }
    }
    double to_start = (double)(p[0].t - range_start) / 1000;
    double to_end = (double)(range_end - p[last].t) / 1000;
    double sampled = (double)(p[last].t - p[0].t) / 1000;
    double avg = sampled / (double)last;
    double threshold = avg * 1.1;
    double factor;

    if (v2) {
        if (is_counter && result > 0 && p[0].v >= 0) {
            double to_zero = sampled * (p[0].v / result);
            if (to_zero < to_start) {
                to_start = to_zero;
            }
        }
        double interval = sampled;
        interval += to_start < threshold ? to_start : avg / 2;
        interval += to_end < threshold ? to_end : avg / 2;
        /* 2.40 introduced the factor (for histograms); 2.42 multiplies once, like 3.x. */
        factor = interval / sampled;
        if (is_rate) {
            factor /= (double)range_ms / 1000;
        }
        return result * factor;
    }
    if (to_start >= threshold) {
        to_start = avg / 2;
    }
    if (is_counter) {
        double to_zero = to_start;
        if (result > 0 && p[0].v >= 0) {
            to_zero = sampled * (p[0].v / result);
        }
        if (to_zero < to_start) {
            to_start = to_zero;
        }
    }
    if (to_end >= threshold) {
        to_end = avg / 2;
    }
    factor = (sampled + to_start + to_end) / sampled;
    if (is_rate) {
        factor /= (double)range_ms / 1000;
    }
    return result * factor;
}

static int extrapolated_rate(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n_args,
                             bool is_counter, bool is_rate)
{
    size_t idx;
    const tw_ev_series_t *s = range_arg(args, n_args, &idx);
    if (s == NULL || s->n < 2) {
        return 0;
    }
    int64_t range_ms = 0, off_ms = 0;
    tw_ev_call_range(c, idx, &range_ms, &off_ms);
    int64_t range_start = c->ts - (range_ms + off_ms);
    int64_t range_end = c->ts - off_ms;
    emit_range(c, s,
               rate_window(s->p, s->n, range_start, range_end, range_ms, compat2(c), is_counter,
                           is_rate, true));
    if (is_counter) {
        possible_non_counter(c, s, idx);
    }
    return 0;
}

/*
 * The whole-series form of rate/increase/delta: every window with the same arithmetic as
 * extrapolated_rate(), and the annotation once per series (annotations are deduplicated).
 */
static int series_extrapolated_rate(tw_ev_call_t *c, const tw_ev_series_t *s, int64_t range_ms,
                                    const tw_ev_window_t *w, size_t nw, double *out, bool *has,
                                    bool is_counter, bool is_rate)
{
    bool v2 = compat2(c), any = false;
    /* One scan of the series for drops spares every window its own when there is none. */
    bool may_reset = false;
    for (size_t i = 1; i < s->n && is_counter && !may_reset; i++) {
        may_reset = s->p[i].v < s->p[i - 1].v;
    }
    for (size_t j = 0; j < nw; j++) {
        size_t n = w[j].hi - w[j].lo;
        has[j] = n >= 2;
        if (n >= 2) {
            out[j] = rate_window(s->p + w[j].lo, n, w[j].end - range_ms, w[j].end, range_ms, v2,
                                 is_counter, is_rate, may_reset);
            any = true;
        }
    }
    if (any && is_counter) {
        c->ts = w[nw - 1].ts;
        possible_non_counter(c, s, 0);
    }
    return 0;
}

static int sfn_rate(tw_ev_call_t *c, const tw_ev_series_t *s, int64_t range_ms,
                    const tw_ev_window_t *w, size_t nw, double *out, bool *has)
{
    return series_extrapolated_rate(c, s, range_ms, w, nw, out, has, true, true);
}

static int sfn_increase(tw_ev_call_t *c, const tw_ev_series_t *s, int64_t range_ms,
                        const tw_ev_window_t *w, size_t nw, double *out, bool *has)
{
    return series_extrapolated_rate(c, s, range_ms, w, nw, out, has, true, false);
}

static int sfn_delta(tw_ev_call_t *c, const tw_ev_series_t *s, int64_t range_ms,
                     const tw_ev_window_t *w, size_t nw, double *out, bool *has)
{
    return series_extrapolated_rate(c, s, range_ms, w, nw, out, has, false, false);
}

static int fn_rate(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return extrapolated_rate(c, args, n, true, true);
}

static int fn_increase(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return extrapolated_rate(c, args, n, true, false);
}

static int fn_delta(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return extrapolated_rate(c, args, n, false, false);
}

static int instant_value(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n_args, bool is_rate)
{
    size_t idx;
    const tw_ev_series_t *s = range_arg(args, n_args, &idx);
    if (s == NULL || s->n < 2) {
        return 0;
    }
    tw_promql_point_t prev = s->p[s->n - 2], last = s->p[s->n - 1];
    int64_t interval = last.t - prev.t;
    if (interval == 0) {
        return 0;
    }
    double v = last.v;
    if (!is_rate || !(last.v < prev.v)) {
        v = last.v - prev.v;
    }
    if (is_rate) {
        v /= (double)interval / 1000;
    }
    emit_range(c, s, v);
    return 0;
}

static int fn_irate(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return instant_value(c, args, n, true);
}

static int fn_idelta(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return instant_value(c, args, n, false);
}

/* ---- deriv, predict_linear ---- */

/* Least-squares fit (Prometheus' linearRegression) with x in seconds relative to t0. */
static void linear_regression(const tw_ev_series_t *s, int64_t t0, bool v2, double *slope,
                              double *intercept)
{
    double n = 0, sum_x = 0, c_x = 0, sum_y = 0, c_y = 0, sum_xy = 0, c_xy = 0, sum_x2 = 0,
           c_x2 = 0;
    double init_y = s->p[0].v;
    bool const_y = true;
    for (size_t i = 0; i < s->n; i++) {
        double y = s->p[i].v;
        if (const_y && i > 0 && y != init_y) {
            const_y = false;
        }
        n += 1.0;
        double x = (double)(s->p[i].t - t0) / 1e3;
        sum_x = kahan_inc(x, sum_x, &c_x, v2);
        sum_y = kahan_inc(y, sum_y, &c_y, v2);
        sum_xy = kahan_inc(x * y, sum_xy, &c_xy, v2);
        sum_x2 = kahan_inc(x * x, sum_x2, &c_x2, v2);
    }
    if (const_y) {
        if (isinf(init_y)) {
            *slope = *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init_y;
        }
        return;
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    double cov_xy = sum_xy - sum_x * sum_y / n;
    double var_x = sum_x2 - sum_x * sum_x / n;
    *slope = cov_xy / var_x;
    *intercept = sum_y / n - *slope * sum_x / n;
}

static int fn_deriv(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    size_t idx;
    const tw_ev_series_t *s = range_arg(args, n, &idx);
    if (s == NULL || s->n < 2) {
        return 0;
    }
    double slope, intercept;
    /* Relative to the first sample's time, for precision (prometheus#2674). */
    linear_regression(s, s->p[0].t, compat2(c), &slope, &intercept);
    emit_range(c, s, slope);
    return 0;
}

static int fn_predict_linear(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    size_t idx;
    const tw_ev_series_t *s = range_arg(args, n, &idx);
    if (s == NULL || s->n < 2 || n < 2) {
        return 0;
    }
    double slope, intercept;
    linear_regression(s, c->ts, compat2(c), &slope, &intercept);
    emit_range(c, s, slope * args[1].scalar + intercept);
    return 0;
}

/* ---- double_exponential_smoothing / holt_winters ---- */

/* Go's %f for the factor messages ("NaN", "+Inf" where C would print "nan", "inf"). */
static const char *go_f(double v, char *buf, size_t n)
{
    if (isnan(v)) {
        return "NaN";
    }
    if (isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    snprintf(buf, n, "%f", v);
    return buf;
}

static int fn_double_exponential_smoothing(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    size_t idx;
    const tw_ev_series_t *s = range_arg(args, n, &idx);
    if (s == NULL || n < 3) {
        return 0;
    }
    double sf = args[1].scalar, tf = args[2].scalar;
    char buf[64];
    if (!(sf > 0 && sf < 1)) {
        return tw_ev_fail(c->ev, TW_EEXEC,
                          "invalid smoothing factor. Expected: 0 < sf < 1, got: %s",
                          go_f(sf, buf, sizeof(buf)));
    }
    if (!(tf > 0 && tf < 1)) {
        return tw_ev_fail(c->ev, TW_EEXEC, "invalid trend factor. Expected: 0 < tf < 1, got: %s",
                          go_f(tf, buf, sizeof(buf)));
    }
    if (s->n < 2) {
        return 0;
    }
    double s0 = 0, s1 = s->p[0].v, b = s->p[1].v - s->p[0].v;
    for (size_t i = 1; i < s->n; i++) {
        double x = sf * s->p[i].v;
        if (i > 1) {
            /* The trend at i-1 (calcTrendValue; at index 0 it is the initial b). */
            b = tf * (s1 - s0) + (1 - tf) * b;
        }
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    emit_range(c, s, s1);
    return 0;
}

/* ---- resets, changes ---- */

static int fn_resets(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    size_t idx;
    const tw_ev_series_t *s = range_arg(args, n, &idx);
    if (s == NULL || s->n == 0) {
        return 0;
    }
    size_t resets = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (s->p[i].v < s->p[i - 1].v) {
            resets++;
        }
    }
    emit_range(c, s, (double)resets);
    return 0;
}

static int fn_changes(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    size_t idx;
    const tw_ev_series_t *s = range_arg(args, n, &idx);
    if (s == NULL || s->n == 0) {
        return 0;
    }
    size_t changes = 0;
    for (size_t i = 1; i < s->n; i++) {
        double cur = s->p[i].v, prev = s->p[i - 1].v;
        if (cur != prev && !(isnan(cur) && isnan(prev))) {
            changes++;
        }
    }
    emit_range(c, s, (double)changes);
    return 0;
}

/* ---- *_over_time ---- */

#define WINDOW_OR_RETURN(c, args, n, s)                                                            \
    size_t idx_;                                                                                   \
    const tw_ev_series_t *s = range_arg(args, n, &idx_);                                           \
    (void)idx_;                                                                                    \
    if (s == NULL || s->n == 0) {                                                                  \
        return 0;                                                                                  \
    }

/* 2.42's avg_over_time: an incremental mean throughout. */
static double avg2_window(const tw_promql_point_t *p, size_t n)
{
    double mean = 0, count = 0, comp = 0;
    for (size_t i = 0; i < n; i++) {
        double v = p[i].v;
        count++;
        if (isinf(mean)) {
            if (isinf(v) && (mean > 0) == (v > 0)) {
                continue;
            }
            if (!isinf(v) && !isnan(v)) {
                continue;
            }
        }
        mean = kahan_inc(v / count - mean / count, mean, &comp, true);
    }
    return isinf(mean) ? mean : mean + comp;
}

/*
 * avg2_window() of four windows at once: the same operations in the same order for each (so the
 * same bits), interleaved so that the four dependency chains of divisions overlap. A window
 * whose mean is not finite at the end may have taken the infinity branches: it is recomputed
 * alone.
 */
static void avg2_window_x4(const tw_promql_point_t *const p[4], const size_t n[4], double out[4])
{
    double mean[4] = {0, 0, 0, 0}, comp[4] = {0, 0, 0, 0}, count = 0;
    size_t common = n[0];
    for (int k = 1; k < 4; k++) {
        common = n[k] < common ? n[k] : common;
    }
    for (size_t i = 0; i < common; i++) {
        count++;
        for (int k = 0; k < 4; k++) {
            mean[k] = kahan_inc(p[k][i].v / count - mean[k] / count, mean[k], &comp[k], true);
        }
    }
    for (int k = 0; k < 4; k++) {
        double cnt = count;
        for (size_t i = common; i < n[k]; i++) {
            cnt++;
            mean[k] = kahan_inc(p[k][i].v / cnt - mean[k] / cnt, mean[k], &comp[k], true);
        }
        out[k] = mean[k] + comp[k];
        if (!isfinite(mean[k]) || !isfinite(out[k])) {
            out[k] = avg2_window(p[k], n[k]);
        }
    }
}

/* 3.x's avg_over_time: a plain Kahan sum divided at the end, switching to an incremental mean
 * only once the sum would overflow. */
static double avg3_window(const tw_promql_point_t *p, size_t n)
{
    double sum = p[0].v, count = 1, mean = 0, comp = 0;
    bool incremental = false;
    for (size_t i = 1; i < n; i++) {
        double v = p[i].v;
        count = (double)(i + 1);
        if (!incremental) {
            double nc = comp;
            double ns = kahan_inc(v, sum, &nc, false);
            if (!isinf(ns)) {
                sum = ns;
                comp = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1);
            comp /= count - 1;
        }
        double q = (count - 1) / count;
        double qc = q * comp;
        mean = kahan_inc(v / count, q * mean, &qc, false);
        comp = qc;
    }
    return incremental ? mean + comp : sum / count + comp / count;
}

static int fn_avg_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    WINDOW_OR_RETURN(c, args, n, s);
    emit_range(c, s, compat2(c) ? avg2_window(s->p, s->n) : avg3_window(s->p, s->n));
    return 0;
}

static int sfn_avg_over_time(tw_ev_call_t *c, const tw_ev_series_t *s, int64_t range_ms,
                             const tw_ev_window_t *w, size_t nw, double *out, bool *has)
{
    (void)range_ms;
    size_t j = 0;
    if (compat2(c)) {
        for (; j + 4 <= nw; j += 4) {
            const tw_promql_point_t *p[4];
            size_t n[4];
            for (int k = 0; k < 4; k++) {
                p[k] = s->p + w[j + k].lo;
                n[k] = w[j + k].hi - w[j + k].lo;
                has[j + k] = true;
            }
            avg2_window_x4(p, n, out + j);
        }
    }
    for (; j < nw; j++) {
        const tw_promql_point_t *p = s->p + w[j].lo;
        size_t n = w[j].hi - w[j].lo;
        out[j] = compat2(c) ? avg2_window(p, n) : avg3_window(p, n);
        has[j] = true;
    }
    return 0;
}

static int fn_sum_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    WINDOW_OR_RETURN(c, args, n, s);
    double sum = 0, comp = 0;
    for (size_t i = 0; i < s->n; i++) {
        sum = kahan_inc(s->p[i].v, sum, &comp, compat2(c));
    }
    emit_range(c, s, isinf(sum) ? sum : sum + comp);
    return 0;
}

static int fn_count_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    WINDOW_OR_RETURN(c, args, n, s);
    emit_range(c, s, (double)s->n);
    return 0;
}

static int fn_present_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    WINDOW_OR_RETURN(c, args, n, s);
    emit_range(c, s, 1);
    return 0;
}

static int fn_last_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    WINDOW_OR_RETURN(c, args, n, s);
    emit_range(c, s, s->p[s->n - 1].v);
    return 0;
}

static int fn_ts_of_last_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    WINDOW_OR_RETURN(c, args, n, s);
    emit_range(c, s, (double)s->p[s->n - 1].t / 1000);
    return 0;
}

/* max/min_over_time and their ts_of_ variants (Prometheus' compareOverTime). */
static int compare_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n, bool is_max,
                             bool or_equal, bool want_ts)
{
    WINDOW_OR_RETURN(c, args, n, s);
    double best = s->p[0].v;
    int64_t best_t = s->p[0].t;
    for (size_t i = 0; i < s->n; i++) {
        double v = s->p[i].v;
        bool better =
            is_max ? (or_equal ? v >= best : v > best) : (or_equal ? v <= best : v < best);
        if (better || isnan(best)) {
            best = v;
            best_t = s->p[i].t;
        }
    }
    emit_range(c, s, want_ts ? (double)best_t / 1000 : best);
    return 0;
}

static int fn_max_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return compare_over_time(c, args, n, true, false, false);
}

static int fn_min_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return compare_over_time(c, args, n, false, false, false);
}

static int fn_ts_of_max_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return compare_over_time(c, args, n, true, true, true);
}

static int fn_ts_of_min_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return compare_over_time(c, args, n, false, true, true);
}

static int fn_quantile_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    WINDOW_OR_RETURN(c, args, n, s);
    double q = args[0].scalar;
    if (annotate(c) && (isnan(q) || q < 0 || q > 1)) {
        tw_buf_t b;
        tw_buf_init(&b, 0);
        (void)tw_ev_format_g(q, &b);
        tw_ev_warn(c->ev, arg_pos(c, 0), "quantile value should be between 0 and 1, got %s",
                   b.data != NULL ? b.data : "");
        tw_buf_fini(&b);
    }
    double *v = values_of(s);
    double r = quantile_of(q, v, s->n);
    free(v);
    emit_range(c, s, r);
    return 0;
}

static int fn_mad_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    WINDOW_OR_RETURN(c, args, n, s);
    double *v = values_of(s);
    double median = quantile_of(0.5, v, s->n);
    for (size_t i = 0; i < s->n; i++) {
        v[i] = fabs(s->p[i].v - median);
    }
    double r = quantile_of(0.5, v, s->n);
    free(v);
    emit_range(c, s, r);
    return 0;
}

/* Welford's variance with Kahan-compensated mean and sum of squares (varianceOverTime). */
static double variance_over_time(const tw_ev_series_t *s, bool v2)
{
    double count = 0, mean = 0, c_mean = 0, aux = 0, c_aux = 0;
    for (size_t i = 0; i < s->n; i++) {
        double v = s->p[i].v;
        count++;
        double delta = v - (mean + c_mean);
        mean = kahan_inc(delta / count, mean, &c_mean, v2);
        aux = kahan_inc(delta * (v - (mean + c_mean)), aux, &c_aux, v2);
    }
    return (aux + c_aux) / count;
}

static int fn_stddev_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    WINDOW_OR_RETURN(c, args, n, s);
    emit_range(c, s, sqrt(variance_over_time(s, compat2(c))));
    return 0;
}

static int fn_stdvar_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    WINDOW_OR_RETURN(c, args, n, s);
    emit_range(c, s, variance_over_time(s, compat2(c)));
    return 0;
}

/* ---- absent, absent_over_time ---- */

static const tw_promql_expr_t *unwrap(const tw_promql_expr_t *e)
{
    while (e != NULL) {
        if (e->kind == TW_PROMQL_PAREN) {
            e = e->u.paren.expr;
        } else if (e->kind == TW_PROMQL_STEP_INVARIANT) {
            e = e->u.step_invariant.expr;
        } else {
            break;
        }
    }
    return e;
}

/*
 * Prometheus' createLabelsForAbsentFunction: the labels a selector argument pins with `=`
 * (__name__ left out); a label named by more than one matcher, or by a non-`=` matcher first,
 * is dropped. Any other argument gives no labels.
 */
static tw_ev_labels_t absent_labels(tw_ev_call_t *c)
{
    tw_ev_labels_t none = {NULL, 0};
    if (c->node == NULL || c->node->u.call.n_args == 0) {
        return none;
    }
    const tw_promql_expr_t *e = unwrap(c->node->u.call.args[0]);
    if (e != NULL && e->kind == TW_PROMQL_MATRIX_SELECTOR) {
        e = e->u.matrix.vs;
    }
    if (e == NULL || e->kind != TW_PROMQL_VECTOR_SELECTOR) {
        return none;
    }
    size_t n = e->u.vs.n_matchers;
    const char **has = tw_xcalloc(n > 0 ? n : 1, sizeof(*has));
    size_t n_has = 0;
    tw_ev_lb_t b;
    tw_ev_lb_init(&b, c->ev, none);
    for (size_t i = 0; i < n; i++) {
        const tw_matcher_t *m = &e->u.vs.matchers[i];
        if (strcmp(m->name, TW_METRIC_NAME_LABEL) == 0) {
            continue;
        }
        bool seen = false;
        for (size_t k = 0; k < n_has && !seen; k++) {
            seen = strcmp(has[k], m->name) == 0;
        }
        if (m->type == TW_MATCH_EQ && !seen) {
            tw_ev_lb_set(&b, tw_arena_strdup(c->ev->arena, m->name),
                         tw_arena_strdup(c->ev->arena, m->value));
            has[n_has++] = m->name;
        } else {
            tw_ev_lb_del(&b, m->name);
        }
    }
    free(has);
    return tw_ev_lb_finish(&b);
}

static int fn_absent(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    if (n > 0 && args[0].vec != NULL && args[0].vec->n > 0) {
        return 0;
    }
    tw_ev_vector_push(c->ev, c->out, absent_labels(c), c->ts, 1, false);
    return 0;
}

static int fn_absent_over_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    size_t idx;
    const tw_ev_series_t *s = range_arg(args, n, &idx);
    if (s != NULL && s->n > 0) {
        return 0;
    }
    tw_ev_vector_push(c->ev, c->out, absent_labels(c), c->ts, 1, false);
    return 0;
}

/* ---- element-wise math ---- */

typedef double (*unary_fn)(double);

static int simple_float(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n, unary_fn f)
{
    if (n == 0 || args[0].vec == NULL) {
        return 0;
    }
    const tw_ev_vector_t *v = args[0].vec;
    for (size_t i = 0; i < v->n; i++) {
        emit_dropped(c, &v->s[i], f(v->s[i].f));
    }
    return 0;
}

static double f_sgn(double v)
{
    return v < 0 ? -1 : (v > 0 ? 1 : v);
}

static double f_deg(double v)
{
    return v * 180 / M_PI;
}

static double f_rad(double v)
{
    return v * M_PI / 180;
}

#define SIMPLE(name, expr_fn)                                                                      \
    static int fn_##name(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)                       \
    {                                                                                              \
        return simple_float(c, args, n, expr_fn);                                                  \
    }

SIMPLE(abs, fabs)
SIMPLE(ceil, ceil)
SIMPLE(floor, floor)
SIMPLE(exp, exp)
SIMPLE(sqrt, sqrt)
SIMPLE(ln, log)
SIMPLE(log2, log2)
SIMPLE(log10, log10)
SIMPLE(sin, sin)
SIMPLE(cos, cos)
SIMPLE(tan, tan)
SIMPLE(asin, asin)
SIMPLE(acos, acos)
SIMPLE(atan, atan)
SIMPLE(sinh, sinh)
SIMPLE(cosh, cosh)
SIMPLE(tanh, tanh)
SIMPLE(asinh, asinh)
SIMPLE(acosh, acosh)
SIMPLE(atanh, atanh)
SIMPLE(sgn, f_sgn)
SIMPLE(deg, f_deg)
SIMPLE(rad, f_rad)

static int fn_round(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    if (n == 0 || args[0].vec == NULL) {
        return 0;
    }
    double to_nearest = n >= 2 ? args[1].scalar : 1;
    /* Prometheus multiplies by the inverse: fewer rounding surprises. Ties round up. */
    double inv = 1.0 / to_nearest;
    const tw_ev_vector_t *v = args[0].vec;
    for (size_t i = 0; i < v->n; i++) {
        emit_dropped(c, &v->s[i], floor(v->s[i].f * inv + 0.5) / inv);
    }
    return 0;
}

static int clamp(tw_ev_call_t *c, const tw_ev_vector_t *v, double lo, double hi)
{
    if (v == NULL || hi < lo) {
        return 0;
    }
    for (size_t i = 0; i < v->n; i++) {
        emit_dropped(c, &v->s[i], go_max(lo, go_min(hi, v->s[i].f)));
    }
    return 0;
}

static int fn_clamp(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return n < 3 ? 0 : clamp(c, args[0].vec, args[1].scalar, args[2].scalar);
}

static int fn_clamp_max(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return n < 2 ? 0 : clamp(c, args[0].vec, -INFINITY, args[1].scalar);
}

static int fn_clamp_min(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return n < 2 ? 0 : clamp(c, args[0].vec, args[1].scalar, INFINITY);
}

/* ---- scalars and conversions ---- */

static void emit_scalar(tw_ev_call_t *c, double v)
{
    tw_ev_vector_push(c->ev, c->out, (tw_ev_labels_t){NULL, 0}, c->ts, v, false);
}

static int fn_pi(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    (void)args;
    (void)n;
    emit_scalar(c, M_PI);
    return 0;
}

static int fn_time(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    (void)args;
    (void)n;
    emit_scalar(c, (double)c->ts / 1000);
    return 0;
}

static int fn_vector(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    emit_scalar(c, n > 0 ? args[0].scalar : NAN);
    return 0;
}

static int fn_scalar(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    const tw_ev_vector_t *v = n > 0 ? args[0].vec : NULL;
    emit_scalar(c, v != NULL && v->n == 1 ? v->s[0].f : NAN);
    return 0;
}

static int fn_timestamp(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    if (n == 0 || args[0].vec == NULL) {
        return 0;
    }
    const tw_ev_vector_t *v = args[0].vec;
    for (size_t i = 0; i < v->n; i++) {
        emit_dropped(c, &v->s[i], (double)v->s[i].t / 1000);
    }
    return 0;
}

/* ---- date functions ---- */

typedef struct civil {
    int64_t year;
    int month;   /* 1..12 */
    int day;     /* 1..31 */
    int weekday; /* 0 = Sunday */
    int yday;    /* 1..366 */
    int hour;
    int minute;
} civil_t;

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    return q;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The UTC calendar fields of Unix time sec (like Go's time.Unix(sec, 0).UTC()). */
static civil_t civil_from_unix(int64_t sec)
{
    civil_t cv;
    int64_t days = floor_div(sec, 86400);
    int64_t rem = sec - days * 86400;
    cv.hour = (int)(rem / 3600);
    cv.minute = (int)(rem % 3600 / 60);
    int64_t wd = (days + 4) % 7;
    cv.weekday = (int)(wd < 0 ? wd + 7 : wd);
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    cv.day = (int)(doy - (153 * mp + 2) / 5 + 1);
    cv.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    cv.year = yoe + era * 400 + (cv.month <= 2);
    cv.yday = (int)(days - tw_days_from_civil(cv.year, 1, 1) + 1);
    return cv;
}

typedef double (*date_fn)(const civil_t *cv);

static double d_day_of_month(const civil_t *cv)
{
    return cv->day;
}

static double d_day_of_week(const civil_t *cv)
{
    return cv->weekday;
}

static double d_day_of_year(const civil_t *cv)
{
    return cv->yday;
}

static double d_days_in_month(const civil_t *cv)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return cv->month == 2 && is_leap(cv->year) ? 29 : dim[cv->month - 1];
}

static double d_hour(const civil_t *cv)
{
    return cv->hour;
}

static double d_minute(const civil_t *cv)
{
    return cv->minute;
}

static double d_month(const civil_t *cv)
{
    return cv->month;
}

static double d_year(const civil_t *cv)
{
    return (double)cv->year;
}

/* Go's int64(f): truncation; NaN and out-of-range give math.MinInt64 (amd64). */
static int64_t go_int64(double f)
{
    if (isnan(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0) {
        return INT64_MIN;
    }
    return (int64_t)f;
}

static int date_wrapper(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n, date_fn f)
{
    if (n == 0) {
        /* No argument: the step time, truncated to seconds like time.Unix(ts/1000, 0). */
        civil_t cv = civil_from_unix(c->ts / 1000);
        emit_scalar(c, f(&cv));
        return 0;
    }
    const tw_ev_vector_t *v = args[0].vec;
    for (size_t i = 0; v != NULL && i < v->n; i++) {
        civil_t cv = civil_from_unix(go_int64(v->s[i].f));
        emit_dropped(c, &v->s[i], f(&cv));
    }
    return 0;
}

#define DATE(name)                                                                                 \
    static int fn_##name(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)                       \
    {                                                                                              \
        return date_wrapper(c, args, n, d_##name);                                                 \
    }

DATE(day_of_month)
DATE(day_of_week)
DATE(day_of_year)
DATE(days_in_month)
DATE(hour)
DATE(minute)
DATE(month)
DATE(year)

/* ---- sort, sort_desc, sort_by_label, sort_by_label_desc ---- */

static int cmp_value_asc(const void *ctx, const tw_ev_sample_t *a, const tw_ev_sample_t *b)
{
    (void)ctx;
    /* NaN last, like Prometheus' reversed vectorByReverseValueHeap. */
    bool na = isnan(a->f), nb = isnan(b->f);
    if (na || nb) {
        return na == nb ? 0 : (na ? 1 : -1);
    }
    return a->f < b->f ? -1 : (a->f > b->f ? 1 : 0);
}

static int cmp_value_desc(const void *ctx, const tw_ev_sample_t *a, const tw_ev_sample_t *b)
{
    (void)ctx;
    bool na = isnan(a->f), nb = isnan(b->f);
    if (na || nb) {
        return na == nb ? 0 : (na ? 1 : -1);
    }
    return a->f > b->f ? -1 : (a->f < b->f ? 1 : 0);
}

/* Appends a copy of the step's vector to out sorted by cmp; returns the first index. */
static size_t copy_input(tw_ev_call_t *c, const tw_ev_vector_t *v)
{
    size_t from = c->out->n;
    for (size_t i = 0; v != NULL && i < v->n; i++) {
        tw_ev_vector_push(c->ev, c->out, v->s[i].m, c->ts, v->s[i].f, v->s[i].drop_name);
    }
    return from;
}

static int fn_sort(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    size_t from = copy_input(c, n > 0 ? args[0].vec : NULL);
    merge_sort(c->out->s + from, c->out->n - from, cmp_value_asc, NULL);
    return 0;
}

static int fn_sort_desc(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    size_t from = copy_input(c, n > 0 ? args[0].vec : NULL);
    merge_sort(c->out->s + from, c->out->n - from, cmp_value_desc, NULL);
    return 0;
}

/* One chunk of a string: a maximal run of ASCII digits or of other bytes. */
static size_t chunk_len(const char *s)
{
    bool digit = s[0] >= '0' && s[0] <= '9';
    size_t i = 0;
    while (s[i] != '\0' && ((s[i] >= '0' && s[i] <= '9') == digit)) {
        i++;
    }
    return i;
}

/* Go's strconv.Atoi on a run of digits: false on overflow. */
static bool chunk_int(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || s[0] < '0' || s[0] > '9') {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > (uint64_t)INT64_MAX / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > (uint64_t)INT64_MAX) {
            return false;
        }
    }
    *out = (int64_t)v;
    return true;
}

static size_t count_chunks(const char *s)
{
    size_t n = 0;
    while (*s != '\0') {
        s += chunk_len(s);
        n++;
    }
    return n;
}

/* facette/natsort's Compare(a, b): whether a sorts before b. */
static bool natsort_less(const char *a, const char *b)
{
    size_t na = count_chunks(a), nb = count_chunks(b);
    for (size_t i = 0; i < na; i++) {
        if (i >= nb) {
            return false;
        }
        size_t la = chunk_len(a), lb = chunk_len(b);
        int64_t ia, ib;
        if (chunk_int(a, la, &ia) && chunk_int(b, lb, &ib)) {
            if (ia != ib) {
                return ia < ib;
            }
        } else {
            bool equal = la == lb && memcmp(a, b, la) == 0;
            if (!equal) {
                size_t m = la < lb ? la : lb;
                int r = memcmp(a, b, m);
                return r != 0 ? r < 0 : la < lb;
            }
        }
        if (i == na - 1) {
            return true;
        }
        if (i == nb - 1) {
            return false;
        }
        a += la;
        b += lb;
    }
    return false;
}

typedef struct sort_label_ctx {
    const char **names;
    size_t n;
    bool desc;
} sort_label_ctx_t;

static int cmp_by_label(const void *vctx, const tw_ev_sample_t *a, const tw_ev_sample_t *b)
{
    const sort_label_ctx_t *ctx = vctx;
    for (size_t i = 0; i < ctx->n; i++) {
        const char *va = tw_ev_labels_get(a->m, ctx->names[i]);
        const char *vb = tw_ev_labels_get(b->m, ctx->names[i]);
        va = va != NULL ? va : "";
        vb = vb != NULL ? vb : "";
        if (strcmp(va, vb) == 0) {
            continue;
        }
        bool less = natsort_less(va, vb);
        return ctx->desc ? (less ? 1 : -1) : (less ? -1 : 1);
    }
    int r = tw_labels_compare(a->m.l, a->m.n, b->m.l, b->m.n);
    return ctx->desc ? -r : r;
}

static int sort_by_label(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n, bool desc)
{
    sort_label_ctx_t ctx = {.n = n > 0 ? n - 1 : 0, .desc = desc};
    ctx.names = tw_xcalloc(ctx.n > 0 ? ctx.n : 1, sizeof(*ctx.names));
    for (size_t i = 0; i < ctx.n; i++) {
        ctx.names[i] = args[i + 1].str != NULL ? args[i + 1].str : "";
    }
    size_t from = copy_input(c, n > 0 ? args[0].vec : NULL);
    merge_sort(c->out->s + from, c->out->n - from, cmp_by_label, &ctx);
    free(ctx.names);
    return 0;
}

static int fn_sort_by_label(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return sort_by_label(c, args, n, false);
}

static int fn_sort_by_label_desc(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    return sort_by_label(c, args, n, true);
}

/* ---- label_replace, label_join ---- */

/* Go's utf8.ValidString. */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        unsigned char b = *p;
        uint32_t cp;
        size_t len;
        if (b < 0x80) {
            p++;
            continue;
        } else if ((b & 0xe0) == 0xc0) {
            cp = b & 0x1f;
            len = 2;
        } else if ((b & 0xf0) == 0xe0) {
            cp = b & 0x0f;
            len = 3;
        } else if ((b & 0xf8) == 0xf0) {
            cp = b & 0x07;
            len = 4;
        } else {
            return false;
        }
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        p += len;
    }
    return true;
}

/* model.LabelName.IsValid: legacy [a-zA-Z_][a-zA-Z0-9_]* in 2.42, any non-empty UTF-8 in 3.x. */
static bool label_name_valid(const tw_ev_call_t *c, const char *s, size_t len)
{
    if (strlen(s) != len) {
        return false; /* an embedded NUL byte */
    }
    if (compat2(c)) {
        return tw_label_name_valid(s);
    }
    return len > 0 && utf8_valid(s);
}

/* The per-call state of label_replace/label_join: validation done, output sets by input set. */
typedef struct relabel_cache {
    lmap_t map; /* key: input labels; val: output labels */
} relabel_cache_t;

static relabel_cache_t *relabel_cache(tw_ev_call_t *c)
{
    if (c->cache == NULL) {
        relabel_cache_t *rc = tw_arena_calloc(c->ev->arena, sizeof(*rc));
        rc->map.arena = c->ev->arena;
        c->cache = rc;
    }
    return c->cache;
}

static bool expand_name_char(unsigned char ch)
{
    /* Letters, digits and '_' (non-ASCII bytes are taken as letters, as most are). */
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch >= 0x80;
}

/*
 * Go's Regexp.ExpandString: $1, ${1}, $name, ${name} (name as long as possible), $$ for '$';
 * unmatched or unknown groups expand to nothing, a malformed reference stays literal.
 */
static void expand_template(tw_buf_t *out, const tw_regex_t *re, const char *tmpl, const char *src,
                            const tw_regex_span_t *spans, size_t nspans)
{
    const char *t = tmpl;
    while (*t != '\0') {
        const char *dollar = strchr(t, '$');
        if (dollar == NULL) {
            break;
        }
        (void)tw_buf_append(out, t, (size_t)(dollar - t));
        t = dollar + 1;
        if (*t == '$') {
            (void)tw_buf_putc(out, '$');
            t++;
            continue;
        }
        bool brace = *t == '{';
        const char *name = brace ? t + 1 : t;
        size_t len = 0;
        while (expand_name_char((unsigned char)name[len])) {
            len++;
        }
        if (len == 0 || (brace && name[len] != '}')) {
            (void)tw_buf_putc(out, '$');
            continue;
        }
        t = name + len + (brace ? 1 : 0);
        long num = 0;
        for (size_t i = 0; i < len; i++) {
            if (name[i] < '0' || name[i] > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (name[i] - '0');
        }
        if (name[0] == '0' && len > 1) {
            num = -1;
        }
        if (num < 0) {
            num = tw_regex_group_index(re, name, len);
        }
        if (num >= 0 && (size_t)num < nspans && spans[num].start >= 0) {
            (void)tw_buf_append(out, src + spans[num].start,
                                (size_t)(spans[num].end - spans[num].start));
        }
    }
    (void)tw_buf_puts(out, t);
}

static int fn_label_replace(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    if (n < 5) {
        return 0;
    }
    tw_ev_t *ev = c->ev;
    const char *dst = args[1].str, *repl = args[2].str, *src = args[3].str;
    const char *pattern = args[4].str;
    bool first = c->cache == NULL;
    relabel_cache_t *cache = relabel_cache(c);
    tw_regex_t *re = NULL;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    int rc = 0;

    if (first) {
        tw_error_t err = {0};
        if (strlen(pattern) != args[4].str_len ||
            tw_regex_compile(&re, pattern, compat2(c) ? 0 : TW_REGEX_DOTALL, &err) != 0) {
            rc = tw_ev_fail(ev, TW_EEXEC, "invalid regular expression in label_replace(): %s",
                            pattern);
            goto out;
        }
        if (!label_name_valid(c, dst, args[1].str_len)) {
            rc = tw_ev_fail(ev, TW_EEXEC, "invalid destination label name in label_replace(): %s",
                            dst);
            goto out;
        }
    }
    const tw_ev_vector_t *v = args[0].vec;
    size_t from = c->out->n;
    int ngroups = 0;
    tw_regex_span_t *spans = NULL;
    for (size_t i = 0; v != NULL && i < v->n; i++) {
        const tw_ev_sample_t *in = &v->s[i];
        bool found;
        lmap_ent_t *e = lmap_get(&cache->map, in->m, &found);
        if (!found) {
            if (re == NULL) {
                tw_error_t err = {0};
                if (tw_regex_compile(&re, pattern, compat2(c) ? 0 : TW_REGEX_DOTALL, &err) != 0) {
                    rc = tw_ev_fail(ev, TW_EEXEC,
                                    "invalid regular expression in label_replace(): %s", pattern);
                    goto out_spans;
                }
            }
            if (spans == NULL) {
                ngroups = tw_regex_ngroups(re);
                spans = tw_xcalloc((size_t)ngroups + 1, sizeof(*spans));
            }
            const char *sv = tw_ev_labels_get(in->m, src);
            sv = sv != NULL ? sv : "";
            e->val = in->m;
            if (tw_regex_exec(re, sv, strlen(sv), spans, (size_t)ngroups + 1) == 1) {
                tw_buf_reset(&b);
                expand_template(&b, re, repl, sv, spans, (size_t)ngroups + 1);
                tw_ev_lb_t lb;
                tw_ev_lb_init(&lb, ev, in->m);
                tw_ev_lb_set(&lb, tw_arena_strdup(ev->arena, dst),
                             tw_arena_strndup(ev->arena, b.data != NULL ? b.data : "", b.len));
                e->val = tw_ev_lb_finish(&lb);
                e->flag = true;
            }
        }
        bool drop = in->drop_name;
        if (e->flag && strcmp(dst, TW_METRIC_NAME_LABEL) == 0) {
            drop = false;
        }
        tw_ev_vector_push(ev, c->out, e->val, c->ts, in->f, drop);
    }
    rc = check_duplicates(c, from);
out_spans:
    free(spans);
out:
    tw_regex_free(re);
    tw_buf_fini(&b);
    return rc;
}

static int fn_label_join(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    if (n < 3) {
        return 0;
    }
    tw_ev_t *ev = c->ev;
    const char *dst = args[1].str, *sep = args[2].str;
    bool first = c->cache == NULL;
    relabel_cache_t *cache = relabel_cache(c);
    if (first) {
        for (size_t i = 3; i < n; i++) {
            if (!label_name_valid(c, args[i].str, args[i].str_len)) {
                return tw_ev_fail(ev, TW_EEXEC, "invalid source label name in label_join(): %s",
                                  args[i].str);
            }
        }
        if (!label_name_valid(c, dst, args[1].str_len)) {
            return tw_ev_fail(ev, TW_EEXEC, "invalid destination label name in label_join(): %s",
                              dst);
        }
    }
    tw_buf_t b;
    tw_buf_init(&b, 0);
    const tw_ev_vector_t *v = args[0].vec;
    size_t from = c->out->n;
    for (size_t i = 0; v != NULL && i < v->n; i++) {
        const tw_ev_sample_t *in = &v->s[i];
        bool found;
        lmap_ent_t *e = lmap_get(&cache->map, in->m, &found);
        if (!found) {
            tw_buf_reset(&b);
            for (size_t k = 3; k < n; k++) {
                if (k > 3) {
                    (void)tw_buf_append(&b, sep, args[2].str_len);
                }
                const char *sv = tw_ev_labels_get(in->m, args[k].str);
                (void)tw_buf_puts(&b, sv != NULL ? sv : "");
            }
            tw_ev_lb_t lb;
            tw_ev_lb_init(&lb, ev, in->m);
            tw_ev_lb_set(&lb, tw_arena_strdup(ev->arena, dst),
                         tw_arena_strndup(ev->arena, b.data != NULL ? b.data : "", b.len));
            e->val = tw_ev_lb_finish(&lb);
        }
        bool drop = strcmp(dst, TW_METRIC_NAME_LABEL) == 0 ? false : in->drop_name;
        tw_ev_vector_push(ev, c->out, e->val, c->ts, in->f, drop);
    }
    tw_buf_fini(&b);
    return check_duplicates(c, from);
}

/* ---- histogram_quantile (classic buckets) ---- */

typedef struct bucket {
    double upper;
    double count;
} bucket_t;

typedef struct hgroup {
    const tw_ev_sample_t *first; /* a sample of the group (its labels minus le) */
    uint64_t h;
    bucket_t *b;
    size_t n;
    size_t cap;
} hgroup_t;

/* Go's strconv.ParseFloat(s, 64) succeeds (syntax and no overflow). */
static bool go_parse_float(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-') {
        p++;
    }
    if (strcasecmp(p, "inf") == 0 || strcasecmp(p, "infinity") == 0) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (strcasecmp(s, "nan") == 0) {
        *out = NAN;
        return true;
    }
    bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
    bool has_p = false, has_digit = false;
    for (const char *q = p; *q != '\0'; q++) {
        char ch = *q;
        if ((ch >= '0' && ch <= '9') ||
            (hex && ((ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))) {
            has_digit = true;
            continue;
        }
        if (ch == 'p' || ch == 'P') {
            has_p = true;
            continue;
        }
        if (ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-' || ch == 'x' ||
            ch == 'X') {
            continue;
        }
        return false; /* spaces, underscores, "nan(...)", ... */
    }
    if (!has_digit || (hex && !has_p)) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || (errno == ERANGE && isinf(v))) {
        return false;
    }
    *out = v;
    return true;
}

static bool is_le(const tw_label_t *l)
{
    return strcmp(l->name, "le") == 0;
}

/* Hash and equality of label sets ignoring `le` (the bucket's histogram; __name__ counts). */
static uint64_t hash_without_le(tw_ev_labels_t m)
{
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < m.n; i++) {
        if (is_le(&m.l[i])) {
            continue;
        }
        for (const char *p = m.l[i].name; *p != '\0'; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        }
        h = (h ^ 0xff) * 1099511628211ULL;
        for (const char *p = m.l[i].value; *p != '\0'; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        }
        h = (h ^ 0xfe) * 1099511628211ULL;
    }
    return h;
}

static bool equal_without_le(tw_ev_labels_t a, tw_ev_labels_t b)
{
    uint32_t i = 0, j = 0;
    for (;;) {
        while (i < a.n && is_le(&a.l[i])) {
            i++;
        }
        while (j < b.n && is_le(&b.l[j])) {
            j++;
        }
        if (i == a.n || j == b.n) {
            return i == a.n && j == b.n;
        }
        if (strcmp(a.l[i].name, b.l[j].name) != 0 || strcmp(a.l[i].value, b.l[j].value) != 0) {
            return false;
        }
        i++;
        j++;
    }
}

static int cmp_bucket(const void *a, const void *b)
{
    double x = ((const bucket_t *)a)->upper, y = ((const bucket_t *)b)->upper;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* almost.Equal(a, b, epsilon) of Prometheus' util/almost. */
static bool almost_equal(double a, double b, double eps)
{
    const double min_normal = 2.2250738585072014e-308;
    if ((isnan(a) && isnan(b)) || a == b) {
        return true;
    }
    double abs_sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal) {
        return diff < eps * min_normal;
    }
    return diff / (abs_sum < 1.7976931348623157e308 ? abs_sum : 1.7976931348623157e308) < eps;
}

/*
 * How it works (Prometheus' BucketQuantile): sort the buckets by upper bound, merge equal
 * bounds, make the cumulative counts monotonic (3.x also silently evens out differences below
 * 1e-12 relative and reports real decreases as "forced"), then find the bucket holding rank
 * q * total and interpolate linearly inside it. The +Inf bucket must exist; the lowest bucket
 * starts at 0 unless its bound is <= 0; a rank in the +Inf bucket gives the highest finite
 * bound.
 */
static double bucket_quantile(double q, bucket_t *b, size_t n, bool v2, bool *forced)
{
    *forced = false;
    if (isnan(q)) {
        return NAN;
    }
    if (q < 0) {
        return -INFINITY;
    }
    if (q > 1) {
        return INFINITY;
    }
    qsort(b, n, sizeof(*b), cmp_bucket);
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0)) {
        return NAN;
    }
    size_t w = 0;
    for (size_t i = 1; i < n; i++) {
        if (b[i].upper == b[w].upper) {
            b[w].count += b[i].count;
        } else {
            b[++w] = b[i];
        }
    }
    n = w + 1;
    if (v2) {
        double max = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            if (b[i].count > max) {
                max = b[i].count;
            } else if (b[i].count < max) {
                b[i].count = max;
            }
        }
    } else {
        double prev = b[0].count;
        for (size_t i = 1; i < n; i++) {
            double cur = b[i].count;
            if (cur == prev) {
                continue;
            }
            if (almost_equal(prev, cur, 1e-12)) {
                b[i].count = prev;
                continue;
            }
            if (cur < prev) {
                b[i].count = prev;
                *forced = true;
                continue;
            }
            prev = cur;
        }
    }
    if (n < 2) {
        return NAN;
    }
    double observations = b[n - 1].count;
    if (observations == 0) {
        return NAN;
    }
    double rank = q * observations;
    /* sort.Search over the first n-1 buckets: the first with count >= rank. */
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid].count >= rank) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    size_t k = lo;
    if (k == n - 1) {
        return b[n - 2].upper;
    }
    if (k == 0 && b[0].upper <= 0) {
        return b[0].upper;
    }
    double start = 0, end = b[k].upper, count = b[k].count;
    if (k > 0) {
        start = b[k - 1].upper;
        count -= b[k - 1].count;
        rank -= b[k - 1].count;
    }
    return start + (end - start) * (rank / count);
}

static int fn_histogram_quantile(tw_ev_call_t *c, const tw_ev_arg_t *args, size_t n)
{
    if (n < 2) {
        return 0;
    }
    tw_ev_t *ev = c->ev;
    double q = args[0].scalar;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    if (annotate(c) && (isnan(q) || q < 0 || q > 1)) {
        (void)tw_ev_format_g(q, &b);
        tw_ev_warn(ev, arg_pos(c, 0), "quantile value should be between 0 and 1, got %s",
                   b.data != NULL ? b.data : "");
    }
    const tw_ev_vector_t *v = args[1].vec;
    size_t nv = v != NULL ? v->n : 0;
    /* Groups in an open-addressing table sized for the worst case (every sample its own). */
    size_t cap = 16;
    while (cap < nv * 2) {
        cap *= 2;
    }
    hgroup_t *groups = tw_xcalloc(cap, sizeof(*groups));
    size_t *order = tw_xcalloc(nv > 0 ? nv : 1, sizeof(*order));
    size_t n_groups = 0;
    for (size_t i = 0; i < nv; i++) {
        const tw_ev_sample_t *s = &v->s[i];
        const char *le = tw_ev_labels_get(s->m, "le");
        double upper;
        if (!go_parse_float(le != NULL ? le : "", &upper)) {
            if (annotate(c)) {
                const char *name = metric_name(s->m);
                tw_buf_reset(&b);
                (void)tw_buf_puts(&b,
                                  "bucket label \"le\" is missing or has a malformed value of ");
                quote(&b, le != NULL ? le : "");
                if (name != NULL && name[0] != '\0') {
                    (void)tw_buf_puts(&b, " for metric name ");
                    quote(&b, name);
                }
                tw_ev_warn(ev, arg_pos(c, 1), "%s", b.data);
            }
            continue;
        }
        uint64_t h = hash_without_le(s->m);
        size_t j = (size_t)h & (cap - 1);
        while (groups[j].first != NULL &&
               !(groups[j].h == h && equal_without_le(groups[j].first->m, s->m))) {
            j = (j + 1) & (cap - 1);
        }
        hgroup_t *g = &groups[j];
        if (g->first == NULL) {
            g->first = s;
            g->h = h;
            order[n_groups++] = j;
        }
        tw_grow((void **)&g->b, &g->cap, g->n + 1, sizeof(*g->b));
        g->b[g->n++] = (bucket_t){upper, s->f};
    }
    for (size_t k = 0; k < n_groups; k++) {
        hgroup_t *g = &groups[order[k]];
        bool forced;
        double r = bucket_quantile(q, g->b, g->n, compat2(c), &forced);
        tw_ev_lb_t lb;
        tw_ev_lb_init(&lb, ev, g->first->m);
        tw_ev_lb_del(&lb, "le");
        tw_ev_labels_t m = tw_ev_lb_finish(&lb);
        if (forced && annotate(c)) {
            /* Prometheus names the metric only when it still has it (delayed removal). */
            const char *name = ev->opts->delayed_name_removal ? metric_name(m) : NULL;
            tw_buf_reset(&b);
            (void)tw_buf_puts(&b, "input to histogram_quantile needed to be fixed for "
                                  "monotonicity (see https://prometheus.io/docs/prometheus/"
                                  "latest/querying/functions/#histogram_quantile)");
            if (name != NULL && name[0] != '\0') {
                (void)tw_buf_puts(&b, " for metric name ");
                quote(&b, name);
            }
            tw_ev_info(ev, arg_pos(c, 1), "%s", b.data);
        }
        if (ev->opts->delayed_name_removal) {
            tw_ev_vector_push(ev, c->out, m, c->ts, r, true);
        } else {
            tw_ev_vector_push(ev, c->out, tw_ev_labels_drop_name(ev, m), c->ts, r, false);
        }
    }
    for (size_t k = 0; k < n_groups; k++) {
        free(groups[order[k]].b);
    }
    free(groups);
    free(order);
    tw_buf_fini(&b);
    return 0;
}

/* ---- the table ---- */

static const struct {
    const char *name;
    tw_ev_func_t fn;
} funcs[] = {
    /* Sorted by name (bisected). */
    {"abs", fn_abs},
    {"absent", fn_absent},
    {"absent_over_time", fn_absent_over_time},
    {"acos", fn_acos},
    {"acosh", fn_acosh},
    {"asin", fn_asin},
    {"asinh", fn_asinh},
    {"atan", fn_atan},
    {"atanh", fn_atanh},
    {"avg_over_time", fn_avg_over_time},
    {"ceil", fn_ceil},
    {"changes", fn_changes},
    {"clamp", fn_clamp},
    {"clamp_max", fn_clamp_max},
    {"clamp_min", fn_clamp_min},
    {"cos", fn_cos},
    {"cosh", fn_cosh},
    {"count_over_time", fn_count_over_time},
    {"day_of_month", fn_day_of_month},
    {"day_of_week", fn_day_of_week},
    {"day_of_year", fn_day_of_year},
    {"days_in_month", fn_days_in_month},
    {"deg", fn_deg},
    {"delta", fn_delta},
    {"deriv", fn_deriv},
    {"double_exponential_smoothing", fn_double_exponential_smoothing},
    {"exp", fn_exp},
    {"floor", fn_floor},
    {"histogram_quantile", fn_histogram_quantile},
    {"holt_winters", fn_double_exponential_smoothing},
    {"hour", fn_hour},
    {"idelta", fn_idelta},
    {"increase", fn_increase},
    {"irate", fn_irate},
    {"label_join", fn_label_join},
    {"label_replace", fn_label_replace},
    {"last_over_time", fn_last_over_time},
    {"ln", fn_ln},
    {"log10", fn_log10},
    {"log2", fn_log2},
    {"mad_over_time", fn_mad_over_time},
    {"max_over_time", fn_max_over_time},
    {"min_over_time", fn_min_over_time},
    {"minute", fn_minute},
    {"month", fn_month},
    {"pi", fn_pi},
    {"predict_linear", fn_predict_linear},
    {"present_over_time", fn_present_over_time},
    {"quantile_over_time", fn_quantile_over_time},
    {"rad", fn_rad},
    {"rate", fn_rate},
    {"resets", fn_resets},
    {"round", fn_round},
    {"scalar", fn_scalar},
    {"sgn", fn_sgn},
    {"sin", fn_sin},
    {"sinh", fn_sinh},
    {"sort", fn_sort},
    {"sort_by_label", fn_sort_by_label},
    {"sort_by_label_desc", fn_sort_by_label_desc},
    {"sort_desc", fn_sort_desc},
    {"sqrt", fn_sqrt},
    {"stddev_over_time", fn_stddev_over_time},
    {"stdvar_over_time", fn_stdvar_over_time},
    {"sum_over_time", fn_sum_over_time},
    {"tan", fn_tan},
    {"tanh", fn_tanh},
    {"time", fn_time},
    {"timestamp", fn_timestamp},
    {"ts_of_last_over_time", fn_ts_of_last_over_time},
    {"ts_of_max_over_time", fn_ts_of_max_over_time},
    {"ts_of_min_over_time", fn_ts_of_min_over_time},
    {"vector", fn_vector},
    {"year", fn_year},
};

static const struct {
    const char *name;
    tw_ev_series_func_t fn;
} series_funcs[] = {
    /* Sorted by name. */
    {"avg_over_time", sfn_avg_over_time},
    {"delta", sfn_delta},
    {"increase", sfn_increase},
    {"rate", sfn_rate},
};

tw_ev_series_func_t tw_ev_series_func_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(series_funcs) / sizeof(series_funcs[0]); i++) {
        if (strcmp(name, series_funcs[i].name) == 0) {
            return series_funcs[i].fn;
        }
    }
    return NULL;
}

tw_ev_func_t tw_ev_func_lookup(const char *name)
{
    size_t lo = 0, hi = sizeof(funcs) / sizeof(funcs[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(name, funcs[mid].name);
        if (r == 0) {
            return funcs[mid].fn;
        }
        if (r < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}
