/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_engine.c - the PromQL evaluator's driver: query setup, the recursive evaluation of the
 * AST over a step grid, selectors, subqueries, the per-step loop for functions, and the final
 * form of the result. Aggregations, binary operators and the functions themselves live in
 * promql_aggregate.c, promql_binop.c and promql_functions.c (contract: promql_eval_int.h).
 *
 * How it works. Like Prometheus' engine, every expression is evaluated for all steps of the
 * grid at once into a matrix of series with at most one point per step (an instant query is a
 * grid of one step). Selectors stream: the storage hands the engine one series at a time with
 * its samples, and the engine turns them straight into grid points (vector selectors) or into
 * per-step windows handed to a range function (rate(x[5m]) and friends), so raw samples are
 * never all held at once. `@` is evaluated directly: a selector or subquery with `@ T` uses the
 * reference time T - offset at every step instead of ts - offset, which yields what Prometheus'
 * step-invariant rewrite yields. A subquery evaluates its expression on an inner grid aligned to
 * its step and then behaves like a range selector over those points.
 *
 * Windows: Prometheus 3 selects (ref - range, ref] for range selectors and (ref - lookback, ref]
 * for instant selectors; Prometheus 2.42 includes the left end. The compat option picks which.
 *
 * Thread model: a query runs on the calling thread; nothing is shared between queries except the
 * storage, which must allow concurrent readers.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/timeutil.h"
#include "query/promql_eval_int.h"

/* The value of an expression over the grid. */
typedef struct val {
    tw_promql_type_t type;
    tw_ev_matrix_t m;
    const char *str;
    size_t str_len;
} val_t;

static int eval(tw_ev_t *ev, const tw_promql_expr_t *e, val_t *out);

static const tw_promql_expr_t *unwrap_parens(const tw_promql_expr_t *e)
{
    while (e != NULL && (e->kind == TW_PROMQL_PAREN || e->kind == TW_PROMQL_STEP_INVARIANT)) {
        e = e->kind == TW_PROMQL_PAREN ? e->u.paren.expr : e->u.step_invariant.expr;
    }
    return e;
}

static bool p2(const tw_ev_t *ev)
{
    return ev->opts->compat == TW_PROMQL_COMPAT_PROMETHEUS2;
}

static int64_t step_ts(const tw_ev_t *ev, size_t j)
{
    return ev->start + (int64_t)j * ev->interval;
}

/* The reference time of `@` for a step (resolving start()/end()); has_at false without `@`. */
static int64_t at_time(const tw_ev_t *ev, tw_promql_at_t at, int64_t at_ms, bool *has_at)
{
    *has_at = at != TW_PROMQL_AT_NONE;
    switch (at) {
    case TW_PROMQL_AT_TIMESTAMP:
        return at_ms;
    case TW_PROMQL_AT_START:
        return ev->query_start;
    case TW_PROMQL_AT_END:
        return ev->query_end;
    default:
        return 0;
    }
}

/* Whether sample time t lies in the window ending at ref of length range. */
static bool in_window(const tw_ev_t *ev, int64_t t, int64_t ref, int64_t range)
{
    if (t > ref) {
        return false;
    }
    return p2(ev) ? t >= ref - range : t > ref - range;
}

/* ---- a small label-set -> series index map (open addressing) ---- */

typedef struct smap {
    uint64_t *h;
    uint32_t *idx; /* series index + 1; 0 = empty */
    size_t cap;
    size_t n;
} smap_t;

static void smap_init(smap_t *m)
{
    memset(m, 0, sizeof(*m));
}

static void smap_fini(smap_t *m)
{
    free(m->h);
    free(m->idx);
}

/* Finds the series with labels l in mat, or adds it; *added tells which. */
static tw_ev_series_t *smap_get(tw_ev_t *ev, smap_t *m, tw_ev_matrix_t *mat, tw_ev_labels_t l,
                                bool drop_name, bool *added)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap == 0 ? 64 : m->cap * 2;
        uint64_t *nh = tw_xcalloc(ncap, sizeof(*nh));
        uint32_t *ni = tw_xcalloc(ncap, sizeof(*ni));
        for (size_t i = 0; i < m->cap; i++) {
            if (m->idx[i] != 0) {
                size_t k = m->h[i] & (ncap - 1);
                while (ni[k] != 0) {
                    k = (k + 1) & (ncap - 1);
                }
                nh[k] = m->h[i];
                ni[k] = m->idx[i];
            }
        }
        free(m->h);
        free(m->idx);
        m->h = nh;
        m->idx = ni;
        m->cap = ncap;
    }
    uint64_t h = tw_ev_labels_hash(l);
    size_t k = h & (m->cap - 1);
    while (m->idx[k] != 0) {
        tw_ev_series_t *s = &mat->s[m->idx[k] - 1];
        if (m->h[k] == h && tw_ev_labels_equal(s->m, l)) {
            *added = false;
            return s;
        }
        k = (k + 1) & (m->cap - 1);
    }
    tw_ev_matrix_add(ev, mat, l, drop_name);
    m->h[k] = h;
    m->idx[k] = (uint32_t)mat->n;
    m->n++;
    *added = true;
    return &mat->s[mat->n - 1];
}

/* Whether two series of mat have the same labels (Prometheus' Matrix.ContainsSameLabelset). */
static bool matrix_has_duplicates(tw_ev_matrix_t *mat)
{
    if (mat->n < 2) {
        return false;
    }
    if (mat->n == 2) {
        return tw_ev_labels_equal(mat->s[0].m, mat->s[1].m);
    }
    bool dup = false;
    size_t cap = 64;
    while (cap < mat->n * 2) {
        cap *= 2;
    }
    uint64_t *hs = tw_xcalloc(cap, sizeof(*hs));
    uint32_t *ix = tw_xcalloc(cap, sizeof(*ix));
    for (size_t i = 0; i < mat->n && !dup; i++) {
        uint64_t h = tw_ev_labels_hash(mat->s[i].m);
        size_t k = h & (cap - 1);
        while (ix[k] != 0) {
            if (hs[k] == h && tw_ev_labels_equal(mat->s[ix[k] - 1].m, mat->s[i].m)) {
                dup = true;
                break;
            }
            k = (k + 1) & (cap - 1);
        }
        hs[k] = h;
        ix[k] = (uint32_t)(i + 1);
    }
    free(hs);
    free(ix);
    return dup;
}

static int fail_same_labelset(tw_ev_t *ev)
{
    return tw_ev_fail(ev, TW_EEXEC, "vector cannot contain metrics with the same labelset");
}

/* Points held by a value (for the sample limit). */
static size_t matrix_points(const tw_ev_matrix_t *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++) {
        n += m->s[i].n;
    }
    return n;
}

/*
 * After an operator consumed its operands: their points are no longer held, the result's are
 * (Prometheus: currentSamples = original + result.TotalSamples()).
 */
static int samples_swap(tw_ev_t *ev, size_t consumed, const tw_ev_matrix_t *result)
{
    tw_ev_samples_release(ev, consumed);
    return tw_ev_samples_add(ev, matrix_points(result));
}

/* ---- scalars ---- */

static void scalar_fill(tw_ev_t *ev, val_t *out, double v)
{
    out->type = TW_PROMQL_TYPE_SCALAR;
    tw_ev_series_t *s = tw_ev_matrix_add(ev, &out->m, (tw_ev_labels_t){0}, false);
    for (size_t j = 0; j < ev->n_steps; j++) {
        tw_ev_series_push(ev, s, step_ts(ev, j), v);
    }
}

/* The value of a scalar at step j (NaN when it has no point there). */
static double scalar_at(const tw_ev_t *ev, const val_t *v, size_t j)
{
    if (v->m.n == 0) {
        return NAN;
    }
    const tw_ev_series_t *s = &v->m.s[0];
    int64_t ts = step_ts(ev, j);
    if (j < s->n && s->p[j].t == ts) {
        return s->p[j].v;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->p[i].t == ts) {
            return s->p[i].v;
        }
    }
    return NAN;
}

/* ---- selectors ---- */

/* The window of samples a selector needs over the current grid: [mint, maxt]. */
static void selector_range(const tw_ev_t *ev, const tw_promql_expr_t *vs, int64_t range,
                           int64_t *mint, int64_t *maxt)
{
    bool has_at;
    int64_t at = at_time(ev, vs->u.vs.at, vs->u.vs.at_ms, &has_at);
    int64_t off = vs->u.vs.offset_ms;
    int64_t lo = (has_at ? at : ev->start) - off;
    int64_t hi = (has_at ? at : ev->end) - off;
    *mint = lo - range;
    *maxt = hi;
}

typedef struct vsel_ctx {
    tw_ev_t *ev;
    const tw_promql_expr_t *vs;
    tw_ev_matrix_t *out;
    bool has_at;
    int64_t at;
    int64_t off;
    bool ts_values; /* timestamp(): the value is the sample's time in seconds */
    size_t nseries;
    tw_promql_point_t *buf; /* malloc'd scratch: one series' grid points (n_steps) */
} vsel_ctx_t;

/*
 * Points of a series that is built in a scratch buffer and then moved into the arena in one
 * exactly sized piece (growing arena arrays point by point copies and wastes memory: the arena
 * cannot give back the smaller arrays).
 */
static void series_set_points(tw_ev_t *ev, tw_ev_series_t *s, const tw_promql_point_t *p, size_t n)
{
    s->p = tw_arena_alloc(ev->arena, n * sizeof(*s->p));
    memcpy(s->p, p, n * sizeof(*s->p));
    s->n = s->cap = n;
}

/* One series of an instant-vector selector: its value at every step (vectorSelectorSingle). */
static int vsel_series(void *arg, const tw_label_t *labels, size_t n_labels, const int64_t *t,
                       const double *v, size_t n)
{
    vsel_ctx_t *c = arg;
    tw_ev_t *ev = c->ev;
    if ((++c->nseries & 255) == 0 && tw_ev_check_deadline(ev) != 0) {
        return ev->err_code;
    }
    ev->total_samples += n;
    int64_t lookback = ev->opts->lookback_delta_ms;
    bool compat2 = p2(ev);
    size_t np = 0;
    size_t i = 0; /* first sample after ref */
    for (size_t j = 0; j < ev->n_steps; j++) {
        int64_t ts = step_ts(ev, j);
        int64_t ref = (c->has_at ? c->at : ts) - c->off;
        while (i < n && t[i] <= ref) {
            i++;
        }
        if (i == 0) {
            continue;
        }
        int64_t st = t[i - 1];
        if (st != ref && (compat2 ? st < ref - lookback : st <= ref - lookback)) {
            continue;
        }
        if (tw_ev_is_stale(v[i - 1])) {
            continue;
        }
        c->buf[np++] =
            (tw_promql_point_t){.t = ts, .v = c->ts_values ? (double)st / 1000.0 : v[i - 1]};
    }
    if (np == 0) {
        return 0;
    }
    int rc = tw_ev_samples_add(ev, np);
    if (rc != 0) {
        return rc;
    }
    tw_ev_labels_t l = {.l = labels, .n = (uint32_t)n_labels};
    bool drop = false;
    if (c->ts_values) {
        /* timestamp() drops the name like every function over an instant vector. */
        if (ev->opts->delayed_name_removal) {
            drop = true;
        } else {
            l = tw_ev_labels_drop_name(ev, l);
        }
    }
    series_set_points(ev, tw_ev_matrix_add(ev, c->out, l, drop), c->buf, np);
    return 0;
}

static int storage_select(tw_ev_t *ev, const tw_promql_expr_t *vs, int64_t mint, int64_t maxt,
                          tw_promql_series_fn fn, void *arg)
{
    tw_error_t err;
    tw_error_clear(&err);
    int rc = ev->storage->select(ev->view, vs->u.vs.matchers, vs->u.vs.n_matchers, mint, maxt, fn,
                                 arg, &err);
    if (rc != 0 && ev->err_code == 0) {
        tw_ev_fail(ev, rc, "%s", err.msg[0] != '\0' ? err.msg : tw_strerror(rc));
    }
    return ev->err_code != 0 ? ev->err_code : rc;
}

static int eval_vector_selector(tw_ev_t *ev, const tw_promql_expr_t *vs, bool ts_values, val_t *out)
{
    out->type = TW_PROMQL_TYPE_VECTOR;
    if (ev->n_steps == 0) {
        return 0;
    }
    int64_t mint, maxt;
    selector_range(ev, vs, ev->opts->lookback_delta_ms, &mint, &maxt);
    vsel_ctx_t c = {
        .ev = ev, .vs = vs, .out = &out->m, .off = vs->u.vs.offset_ms, .ts_values = ts_values};
    c.at = at_time(ev, vs->u.vs.at, vs->u.vs.at_ms, &c.has_at);
    c.buf = tw_xmalloc((ev->n_steps + 1) * sizeof(*c.buf));
    int rc = storage_select(ev, vs, mint, maxt, vsel_series, &c);
    free(c.buf);
    return rc;
}

/* ---- range windows: matrix selectors and subqueries ---- */

/*
 * A source of series for a range window: either a matrix selector (streamed from storage) or
 * the points of an evaluated subquery. The consumer gets each series with its points (stale
 * markers removed) and cuts windows from them.
 */
typedef int (*series_consumer_fn)(void *arg, tw_ev_labels_t labels, const tw_promql_point_t *p,
                                  size_t n);

typedef struct stream_ctx {
    tw_ev_t *ev;
    series_consumer_fn fn;
    void *arg;
    tw_promql_point_t *buf; /* malloc'd scratch for one series' points */
    size_t cap;
    size_t nseries;
} stream_ctx_t;

static int stream_series(void *arg, const tw_label_t *labels, size_t n_labels, const int64_t *t,
                         const double *v, size_t n)
{
    stream_ctx_t *c = arg;
    if ((++c->nseries & 255) == 0 && tw_ev_check_deadline(c->ev) != 0) {
        return c->ev->err_code;
    }
    c->ev->total_samples += n;
    if (n > c->cap) {
        c->cap = n;
        c->buf = tw_xrealloc(c->buf, n * sizeof(*c->buf));
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!tw_ev_is_stale(v[i])) {
            c->buf[k++] = (tw_promql_point_t){.t = t[i], .v = v[i]};
        }
    }
    return c->fn(c->arg, (tw_ev_labels_t){.l = labels, .n = (uint32_t)n_labels}, c->buf, k);
}

/* Range, offset and `@` of a range-vector expression (matrix selector or subquery). */
typedef struct range_spec {
    const tw_promql_expr_t *node; /* the matrix selector or subquery (parens removed) */
    int64_t range;
    int64_t off;
    bool has_at;
    int64_t at;
} range_spec_t;

static void range_spec_of(const tw_ev_t *ev, const tw_promql_expr_t *e, range_spec_t *rs)
{
    rs->node = e;
    if (e->kind == TW_PROMQL_MATRIX_SELECTOR) {
        const tw_promql_expr_t *vs = e->u.matrix.vs;
        rs->range = e->u.matrix.range_ms;
        rs->off = vs->u.vs.offset_ms;
        rs->at = at_time(ev, vs->u.vs.at, vs->u.vs.at_ms, &rs->has_at);
    } else {
        rs->range = e->u.subquery.range_ms;
        rs->off = e->u.subquery.offset_ms;
        rs->at = at_time(ev, e->u.subquery.at, e->u.subquery.at_ms, &rs->has_at);
    }
}

/* Evaluates a subquery's expression on its own grid; out gets the inner points (MATRIX). */
static int eval_subquery_points(tw_ev_t *ev, const range_spec_t *rs, val_t *out)
{
    const tw_promql_expr_t *e = rs->node;
    int64_t step =
        e->u.subquery.step_ms > 0 ? e->u.subquery.step_ms : ev->opts->default_subquery_step_ms;
    int64_t s_ref = (rs->has_at ? rs->at : ev->start) - rs->off;
    int64_t e_ref = (rs->has_at ? rs->at : ev->end) - rs->off;
    int64_t lo = s_ref - rs->range;
    int64_t ns = step * (lo / step);
    if (ns < lo) {
        ns += step;
    }
    int64_t save_start = ev->start, save_end = ev->end, save_interval = ev->interval;
    size_t save_steps = ev->n_steps;
    ev->start = ns;
    ev->end = e_ref;
    ev->interval = step;
    ev->n_steps = e_ref >= ns ? (size_t)((e_ref - ns) / step) + 1 : 0;
    val_t inner = {0};
    int rc = eval(ev, e->u.subquery.expr, &inner);
    ev->start = save_start;
    ev->end = save_end;
    ev->interval = save_interval;
    ev->n_steps = save_steps;
    if (rc != 0) {
        return rc;
    }
    out->type = TW_PROMQL_TYPE_MATRIX;
    out->m = inner.m;
    return 0;
}

/* Feeds every series of a range-vector expression to fn over the current grid. */
static int range_source(tw_ev_t *ev, const range_spec_t *rs, series_consumer_fn fn, void *arg)
{
    if (rs->node->kind == TW_PROMQL_SUBQUERY) {
        val_t pts = {0};
        int rc = eval_subquery_points(ev, rs, &pts);
        if (rc != 0) {
            return rc;
        }
        for (size_t i = 0; i < pts.m.n; i++) {
            tw_ev_labels_t l = pts.m.s[i].m;
            if (pts.m.s[i].drop_name) {
                l = tw_ev_labels_drop_name(ev, l);
            }
            rc = fn(arg, l, pts.m.s[i].p, pts.m.s[i].n);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    }
    if (ev->n_steps == 0) {
        return 0;
    }
    const tw_promql_expr_t *vs = rs->node->u.matrix.vs;
    int64_t mint, maxt;
    selector_range(ev, vs, rs->range, &mint, &maxt);
    stream_ctx_t c = {.ev = ev, .fn = fn, .arg = arg};
    int rc = storage_select(ev, vs, mint, maxt, stream_series, &c);
    free(c.buf);
    return rc;
}

/* The window [lo, hi) of points for the step at ts. */
static void window_at(const tw_ev_t *ev, const range_spec_t *rs, const tw_promql_point_t *p,
                      size_t n, int64_t ts, size_t *lo, size_t *hi)
{
    int64_t ref = (rs->has_at ? rs->at : ts) - rs->off;
    size_t a = *lo, b = *hi;
    /* Windows only move forward as ts grows (or stay put with `@`). */
    while (b < n && p[b].t <= ref) {
        b++;
    }
    while (a < b && !in_window(ev, p[a].t, ref, rs->range)) {
        a++;
    }
    *lo = a;
    *hi = b;
}

/* Top-level range vector of an instant query: the points of each series in the window. */
typedef struct rawmat_ctx {
    tw_ev_t *ev;
    const range_spec_t *rs;
    tw_ev_matrix_t *out;
} rawmat_ctx_t;

static int rawmat_series(void *arg, tw_ev_labels_t labels, const tw_promql_point_t *p, size_t n)
{
    rawmat_ctx_t *c = arg;
    size_t lo = 0, hi = 0;
    window_at(c->ev, c->rs, p, n, c->ev->start, &lo, &hi);
    if (hi == lo) {
        return 0;
    }
    int rc = tw_ev_samples_add(c->ev, hi - lo);
    if (rc != 0) {
        return rc;
    }
    tw_ev_series_t *s = tw_ev_matrix_add(c->ev, c->out, labels, false);
    s->p = tw_arena_alloc(c->ev->arena, (hi - lo) * sizeof(*s->p));
    memcpy(s->p, p + lo, (hi - lo) * sizeof(*s->p));
    s->n = s->cap = hi - lo;
    return 0;
}

static int eval_range_vector(tw_ev_t *ev, const tw_promql_expr_t *e, val_t *out)
{
    out->type = TW_PROMQL_TYPE_MATRIX;
    range_spec_t rs;
    range_spec_of(ev, e, &rs);
    rawmat_ctx_t c = {.ev = ev, .rs = &rs, .out = &out->m};
    return range_source(ev, &rs, rawmat_series, &c);
}

/* ---- function calls ---- */

typedef struct call_state {
    tw_ev_t *ev;
    const tw_promql_expr_t *node;
    tw_ev_func_t fn;
    const char *name;
    size_t n_args;
    size_t matrix_arg;
    val_t *vals; /* evaluated non-matrix arguments */
    tw_ev_arg_t *args;
    range_spec_t rs;
    tw_ev_call_t call;
    tw_ev_vector_t outvec;
    tw_ev_matrix_t *out;
    bool drop_name;    /* range functions other than last_over_time drop the name */
    bool present_only; /* absent_over_time: record presence only */
    int64_t cur_ts;
    tw_promql_point_t *buf;  /* malloc'd scratch: one output series' points (n_steps) */
    tw_ev_series_func_t sfn; /* the function's whole-series form, when it can be used */
    tw_ev_window_t *wins;    /* malloc'd scratch for sfn (n_steps each) */
    double *wout;
    bool *whas;
    const char *first_name; /* __name__ of the first input series ("" without one) */
    bool mixed_names;       /* whether input series had different __name__ values */
} call_state_t;

void tw_ev_call_range(const tw_ev_call_t *c, size_t i, int64_t *range_ms, int64_t *offset_ms)
{
    const tw_promql_expr_t *a = unwrap_parens(c->node->u.call.args[i]);
    range_spec_t rs = {0};
    if (a->kind == TW_PROMQL_MATRIX_SELECTOR || a->kind == TW_PROMQL_SUBQUERY) {
        range_spec_of(c->ev, a, &rs);
    }
    *range_ms = rs.range;
    /* The offset relative to the step time: ts - offset is the window's end. */
    *offset_ms = rs.has_at ? c->ts - (rs.at - rs.off) : rs.off;
}

static int call_matrix_series(void *arg, tw_ev_labels_t labels, const tw_promql_point_t *p,
                              size_t n)
{
    call_state_t *cs = arg;
    tw_ev_t *ev = cs->ev;
    if (!cs->mixed_names) {
        const char *name = tw_ev_labels_get(labels, TW_METRIC_NAME_LABEL);
        name = name != NULL ? name : "";
        if (cs->first_name == NULL) {
            cs->first_name = name;
        } else if (name != cs->first_name && strcmp(name, cs->first_name) != 0) {
            cs->mixed_names = true;
        }
    }
    tw_ev_labels_t outl = labels;
    if (cs->drop_name && !ev->opts->delayed_name_removal) {
        outl = tw_ev_labels_drop_name(ev, labels);
    }
    size_t np = 0;
    tw_ev_series_t view = {.m = labels};
    size_t lo = 0, hi = 0;
    if (cs->sfn != NULL) {
        /* All windows at once; the sample limit sees the largest window, as it would per step. */
        size_t nw = 0, widest = 0;
        for (size_t j = 0; j < ev->n_steps; j++) {
            int64_t ts = step_ts(ev, j);
            window_at(ev, &cs->rs, p, n, ts, &lo, &hi);
            if (hi > lo) {
                int64_t end = (cs->rs.has_at ? cs->rs.at : ts) - cs->rs.off;
                cs->wins[nw++] = (tw_ev_window_t){.ts = ts, .end = end, .lo = lo, .hi = hi};
                widest = hi - lo > widest ? hi - lo : widest;
            }
        }
        if (nw == 0) {
            return 0;
        }
        int rc = tw_ev_samples_add(ev, widest);
        if (rc != 0) {
            return rc;
        }
        tw_ev_samples_release(ev, widest);
        view.p = (tw_promql_point_t *)p;
        view.n = n;
        rc = cs->sfn(&cs->call, &view, cs->rs.range, cs->wins, nw, cs->wout, cs->whas);
        if (rc != 0) {
            return ev->err_code != 0 ? ev->err_code : rc;
        }
        for (size_t j = 0; j < nw; j++) {
            if (cs->whas[j]) {
                cs->buf[np++] = (tw_promql_point_t){.t = cs->wins[j].ts, .v = cs->wout[j]};
            }
        }
    }
    for (size_t j = 0; j < ev->n_steps && cs->sfn == NULL; j++) {
        int64_t ts = step_ts(ev, j);
        window_at(ev, &cs->rs, p, n, ts, &lo, &hi);
        if (hi == lo) {
            continue;
        }
        double value = 1;
        if (!cs->present_only) {
            for (size_t k = 0; k < cs->n_args; k++) {
                if (k != cs->matrix_arg && cs->args[k].type == TW_PROMQL_TYPE_SCALAR) {
                    cs->args[k].scalar = scalar_at(ev, &cs->vals[k], j);
                }
            }
            view.p = (tw_promql_point_t *)(p + lo);
            view.n = hi - lo;
            cs->args[cs->matrix_arg].series = &view;
            cs->call.ts = ts;
            cs->outvec.n = 0;
            int rc = tw_ev_samples_add(ev, hi - lo);
            if (rc != 0) {
                return rc;
            }
            rc = cs->fn(&cs->call, cs->args, cs->n_args);
            tw_ev_samples_release(ev, hi - lo);
            if (rc != 0) {
                return ev->err_code != 0 ? ev->err_code : rc;
            }
            if (cs->outvec.n == 0) {
                continue;
            }
            value = cs->outvec.s[0].f;
        }
        cs->buf[np++] = (tw_promql_point_t){.t = ts, .v = value};
    }
    if (np == 0) {
        return 0;
    }
    int rc = tw_ev_samples_add(ev, np);
    if (rc != 0) {
        return rc;
    }
    series_set_points(ev, tw_ev_matrix_add(ev, cs->out, outl, cs->drop_name), cs->buf, np);
    return 0;
}

/* Labels absent() and absent_over_time() give their output: createLabelsForAbsentFunction. */
static tw_ev_labels_t absent_labels(tw_ev_t *ev, const tw_promql_expr_t *arg)
{
    const tw_promql_expr_t *a = unwrap_parens(arg);
    const tw_promql_expr_t *vs = NULL;
    if (a->kind == TW_PROMQL_VECTOR_SELECTOR) {
        vs = a;
    } else if (a->kind == TW_PROMQL_MATRIX_SELECTOR) {
        vs = a->u.matrix.vs;
    }
    if (vs == NULL) {
        return (tw_ev_labels_t){0};
    }
    tw_ev_lb_t b;
    tw_ev_lb_init(&b, ev, (tw_ev_labels_t){0});
    size_t n = vs->u.vs.n_matchers;
    const char **seen = tw_arena_calloc(ev->arena, (n + 1) * sizeof(*seen));
    size_t n_seen = 0;
    for (size_t i = 0; i < n; i++) {
        const tw_matcher_t *m = &vs->u.vs.matchers[i];
        if (strcmp(m->name, TW_METRIC_NAME_LABEL) == 0) {
            continue;
        }
        bool has = false;
        for (size_t k = 0; k < n_seen && !has; k++) {
            has = strcmp(seen[k], m->name) == 0;
        }
        if (m->type == TW_MATCH_EQ && !has) {
            tw_ev_lb_set(&b, m->name, m->value);
            seen[n_seen++] = m->name;
        } else {
            tw_ev_lb_del(&b, m->name);
        }
    }
    return tw_ev_lb_finish(&b);
}

/* absent_over_time: one series with 1 at every step where no input series had a window. */
static int finish_absent_over_time(tw_ev_t *ev, const tw_promql_expr_t *node,
                                   const tw_ev_matrix_t *present, val_t *out)
{
    bool *found = tw_arena_calloc(ev->arena, ev->n_steps + 1);
    for (size_t i = 0; i < present->n; i++) {
        for (size_t k = 0; k < present->s[i].n; k++) {
            found[(present->s[i].p[k].t - ev->start) / ev->interval] = true;
        }
    }
    out->type = TW_PROMQL_TYPE_VECTOR;
    out->m = (tw_ev_matrix_t){0};
    tw_ev_series_t *s = NULL;
    for (size_t j = 0; j < ev->n_steps; j++) {
        if (found[j]) {
            continue;
        }
        if (s == NULL) {
            s = tw_ev_matrix_add(ev, &out->m, absent_labels(ev, node->u.call.args[0]), false);
        }
        tw_ev_series_push(ev, s, step_ts(ev, j), 1);
    }
    return 0;
}

/* The step's instant vector of a grid matrix; cursors keep per-series positions. */
static void gather(tw_ev_t *ev, const tw_ev_matrix_t *m, size_t *cur, int64_t ts,
                   tw_ev_vector_t *vec)
{
    vec->n = 0;
    for (size_t i = 0; i < m->n; i++) {
        const tw_ev_series_t *s = &m->s[i];
        while (cur[i] < s->n && s->p[cur[i]].t < ts) {
            cur[i]++;
        }
        if (cur[i] < s->n && s->p[cur[i]].t == ts) {
            tw_ev_vector_push(ev, vec, s->m, ts, s->p[cur[i]].v, s->drop_name);
        }
    }
}

/* Functions over instant vectors and scalars: Prometheus' rangeEval around a FunctionCall. */
static int call_per_step(call_state_t *cs, val_t *out)
{
    tw_ev_t *ev = cs->ev;
    bool absent = strcmp(cs->name, "absent") == 0;
    tw_ev_labels_t absent_l = {0};
    if (absent) {
        absent_l = absent_labels(ev, cs->node->u.call.args[0]);
    }
    size_t **cursors = tw_arena_calloc(ev->arena, (cs->n_args + 1) * sizeof(*cursors));
    tw_ev_vector_t *vecs = tw_arena_calloc(ev->arena, (cs->n_args + 1) * sizeof(*vecs));
    for (size_t k = 0; k < cs->n_args; k++) {
        if (cs->vals[k].type == TW_PROMQL_TYPE_VECTOR) {
            cursors[k] = tw_arena_calloc(ev->arena, (cs->vals[k].m.n + 1) * sizeof(size_t));
        }
    }
    smap_t map;
    smap_init(&map);
    int rc = 0;
    for (size_t j = 0; j < ev->n_steps && rc == 0; j++) {
        int64_t ts = step_ts(ev, j);
        if ((j & 63) == 63 && (rc = tw_ev_check_deadline(ev)) != 0) {
            break;
        }
        for (size_t k = 0; k < cs->n_args; k++) {
            switch (cs->vals[k].type) {
            case TW_PROMQL_TYPE_SCALAR:
                cs->args[k].scalar = scalar_at(ev, &cs->vals[k], j);
                break;
            case TW_PROMQL_TYPE_VECTOR:
                gather(ev, &cs->vals[k].m, cursors[k], ts, &vecs[k]);
                cs->args[k].vec = &vecs[k];
                break;
            default:
                break;
            }
        }
        cs->outvec.n = 0;
        cs->call.ts = ts;
        if (absent) {
            if (vecs[0].n == 0) {
                tw_ev_vector_push(ev, &cs->outvec, absent_l, ts, 1, false);
            }
        } else {
            rc = cs->fn(&cs->call, cs->args, cs->n_args);
            if (rc != 0) {
                rc = ev->err_code != 0 ? ev->err_code : rc;
                break;
            }
        }
        if ((rc = tw_ev_samples_add(ev, cs->outvec.n)) != 0) {
            break;
        }
        bool instant = ev->n_steps == 1;
        for (size_t i = 0; i < cs->outvec.n; i++) {
            const tw_ev_sample_t *smp = &cs->outvec.s[i];
            bool added;
            tw_ev_series_t *s = smap_get(ev, &map, &out->m, smp->m, smp->drop_name, &added);
            if (!added && s->n > 0 && s->p[s->n - 1].t == ts &&
                !(instant && ev->opts->delayed_name_removal)) {
                rc = fail_same_labelset(ev);
                break;
            }
            if (!added && s->n > 0 && s->p[s->n - 1].t == ts) {
                /* Delayed name removal on one step: keep both; cleanup decides later. */
                s = tw_ev_matrix_add(ev, &out->m, smp->m, smp->drop_name);
            }
            tw_ev_series_push(ev, s, ts, smp->f);
        }
    }
    smap_fini(&map);
    return rc;
}

static int eval_call(tw_ev_t *ev, const tw_promql_expr_t *e, val_t *out)
{
    const char *name = e->u.call.func->name;
    size_t n_args = e->u.call.n_args;
    out->type = tw_promql_expr_type(e);

    /* timestamp(selector) reads the samples' own times. */
    if (strcmp(name, "timestamp") == 0 && n_args == 1) {
        const tw_promql_expr_t *a = unwrap_parens(e->u.call.args[0]);
        if (a->kind == TW_PROMQL_VECTOR_SELECTOR) {
            return eval_vector_selector(ev, a, true, out);
        }
    }

    call_state_t cs = {.ev = ev, .node = e, .name = name, .n_args = n_args, .out = &out->m};
    cs.fn = tw_ev_func_lookup(name);
    bool engine_only = strcmp(name, "absent") == 0 || strcmp(name, "absent_over_time") == 0;
    if (cs.fn == NULL && !engine_only) {
        return tw_ev_fail(ev, TW_EEXEC, "function %s is not implemented", name);
    }
    cs.vals = tw_arena_calloc(ev->arena, (n_args + 1) * sizeof(*cs.vals));
    cs.args = tw_arena_calloc(ev->arena, (n_args + 1) * sizeof(*cs.args));
    cs.call = (tw_ev_call_t){.ev = ev, .node = e, .out = &cs.outvec};
    bool has_matrix = false;
    for (size_t k = 0; k < n_args; k++) {
        const tw_promql_expr_t *a = unwrap_parens(e->u.call.args[k]);
        if (!has_matrix &&
            (a->kind == TW_PROMQL_MATRIX_SELECTOR || a->kind == TW_PROMQL_SUBQUERY)) {
            has_matrix = true;
            cs.matrix_arg = k;
            cs.args[k].type = TW_PROMQL_TYPE_MATRIX;
            range_spec_of(ev, a, &cs.rs);
            continue;
        }
        int rc = eval(ev, e->u.call.args[k], &cs.vals[k]);
        if (rc != 0) {
            return rc;
        }
        cs.args[k].type = cs.vals[k].type;
        cs.args[k].str = cs.vals[k].str;
        cs.args[k].str_len = cs.vals[k].str_len;
    }
    if (!has_matrix) {
        int rc = call_per_step(&cs, out);
        if (rc == 0) {
            size_t consumed = 0;
            for (size_t k = 0; k < n_args; k++) {
                consumed += matrix_points(&cs.vals[k].m);
            }
            tw_ev_samples_release(ev, consumed);
        }
        return rc;
    }

    bool keep_name = strcmp(name, "last_over_time") == 0 || strcmp(name, "first_over_time") == 0;
    cs.drop_name = !keep_name;
    cs.buf = tw_xmalloc((ev->n_steps + 1) * sizeof(*cs.buf));
    if (strcmp(name, "absent_over_time") == 0) {
        cs.present_only = true;
        tw_ev_matrix_t present = {0};
        cs.out = &present;
        int rc = range_source(ev, &cs.rs, call_matrix_series, &cs);
        free(cs.buf);
        if (rc != 0) {
            return rc;
        }
        return finish_absent_over_time(ev, e, &present, out);
    }
    cs.sfn = n_args == 1 ? tw_ev_series_func_lookup(name) : NULL;
    if (cs.sfn != NULL) {
        cs.wins = tw_xmalloc((ev->n_steps + 1) * sizeof(*cs.wins));
        cs.wout = tw_xmalloc((ev->n_steps + 1) * sizeof(*cs.wout));
        cs.whas = tw_xmalloc((ev->n_steps + 1) * sizeof(*cs.whas));
    }
    int rc = range_source(ev, &cs.rs, call_matrix_series, &cs);
    free(cs.buf);
    free(cs.wins);
    free(cs.wout);
    free(cs.whas);
    if (rc != 0) {
        return rc;
    }
    out->type = TW_PROMQL_TYPE_VECTOR;
    /* Series from storage have distinct label sets, and still do after dropping one __name__
     * shared by all: only a subquery or several metric names can collide. */
    bool unique = cs.rs.node->kind == TW_PROMQL_MATRIX_SELECTOR && !cs.mixed_names;
    if (!ev->opts->delayed_name_removal && !unique && matrix_has_duplicates(&out->m)) {
        return fail_same_labelset(ev);
    }
    return 0;
}

/* ---- aggregations, operators ---- */

static int eval_aggregate(tw_ev_t *ev, const tw_promql_expr_t *e, val_t *out)
{
    val_t param = {0}, in = {0};
    const char *label = NULL;
    int rc;
    if (e->u.aggregate.param != NULL) {
        if ((rc = eval(ev, e->u.aggregate.param, &param)) != 0) {
            return rc;
        }
        if (param.type == TW_PROMQL_TYPE_STRING) {
            label = param.str;
        }
    }
    if ((rc = eval(ev, e->u.aggregate.expr, &in)) != 0) {
        return rc;
    }
    out->type = TW_PROMQL_TYPE_VECTOR;
    rc = tw_ev_aggregate(ev, e, &in.m, param.type == TW_PROMQL_TYPE_SCALAR ? &param.m : NULL, label,
                         &out->m);
    if (rc != 0) {
        return ev->err_code != 0 ? ev->err_code : rc;
    }
    return samples_swap(ev, matrix_points(&in.m), &out->m);
}

static int eval_binary(tw_ev_t *ev, const tw_promql_expr_t *e, val_t *out)
{
    val_t lhs = {0}, rhs = {0};
    int rc = eval(ev, e->u.binary.lhs, &lhs);
    if (rc == 0) {
        rc = eval(ev, e->u.binary.rhs, &rhs);
    }
    if (rc != 0) {
        return rc;
    }
    out->type = tw_promql_expr_type(e);
    rc = tw_ev_binop(ev, e, &lhs.m, &rhs.m, &out->m);
    if (rc != 0) {
        return ev->err_code != 0 ? ev->err_code : rc;
    }
    /* tw_ev_binop() counted its output step by step; the operands are no longer held. */
    tw_ev_samples_release(ev, matrix_points(&lhs.m) + matrix_points(&rhs.m));
    return 0;
}

static int eval_unary(tw_ev_t *ev, const tw_promql_expr_t *e, val_t *out)
{
    int rc = eval(ev, e->u.unary.expr, out);
    if (rc != 0 || e->u.unary.op != TW_PROMQL_OP_SUB) {
        return rc;
    }
    bool vector = out->type == TW_PROMQL_TYPE_VECTOR;
    for (size_t i = 0; i < out->m.n; i++) {
        tw_ev_series_t *s = &out->m.s[i];
        /* The series may share points with its operand's storage copy: write new ones. */
        tw_promql_point_t *np = tw_arena_alloc(ev->arena, (s->n + 1) * sizeof(*np));
        for (size_t k = 0; k < s->n; k++) {
            np[k] = (tw_promql_point_t){.t = s->p[k].t, .v = -s->p[k].v};
        }
        s->p = np;
        s->cap = s->n;
        if (vector) {
            if (ev->opts->delayed_name_removal) {
                s->drop_name = true;
            } else {
                s->m = tw_ev_labels_drop_name(ev, s->m);
            }
        }
    }
    if (vector && !ev->opts->delayed_name_removal && matrix_has_duplicates(&out->m)) {
        return fail_same_labelset(ev);
    }
    return 0;
}

static int eval(tw_ev_t *ev, const tw_promql_expr_t *e, val_t *out)
{
    int rc = tw_ev_check_deadline(ev);
    if (rc != 0) {
        return rc;
    }
    *out = (val_t){0};
    switch (e->kind) {
    case TW_PROMQL_NUMBER:
        scalar_fill(ev, out, e->u.number.val);
        return 0;
    case TW_PROMQL_STRING:
        out->type = TW_PROMQL_TYPE_STRING;
        out->str = e->u.string.val;
        out->str_len = e->u.string.len;
        return 0;
    case TW_PROMQL_PAREN:
        return eval(ev, e->u.paren.expr, out);
    case TW_PROMQL_STEP_INVARIANT:
        return eval(ev, e->u.step_invariant.expr, out);
    case TW_PROMQL_VECTOR_SELECTOR:
        return eval_vector_selector(ev, e, false, out);
    case TW_PROMQL_MATRIX_SELECTOR:
    case TW_PROMQL_SUBQUERY:
        if (ev->n_steps > 1) {
            return tw_ev_fail(ev, TW_EEXEC, "cannot do range evaluation of matrix selector");
        }
        return eval_range_vector(ev, e, out);
    case TW_PROMQL_UNARY:
        return eval_unary(ev, e, out);
    case TW_PROMQL_BINARY:
        return eval_binary(ev, e, out);
    case TW_PROMQL_AGGREGATE:
        return eval_aggregate(ev, e, out);
    case TW_PROMQL_CALL:
        return eval_call(ev, e, out);
    }
    return tw_ev_fail(ev, TW_EEXEC, "unhandled expression of kind %d", (int)e->kind);
}

/* ---- the storage range a query needs (Prometheus' FindMinMaxTime) ---- */

typedef struct span {
    int64_t start; /* evaluation window of the current nesting level */
    int64_t end;
    int64_t mint;
    int64_t maxt;
    bool any;
} span_t;

static void span_add(span_t *sp, int64_t lo, int64_t hi)
{
    if (!sp->any || lo < sp->mint) {
        sp->mint = lo;
    }
    if (!sp->any || hi > sp->maxt) {
        sp->maxt = hi;
    }
    sp->any = true;
}

static int64_t at_of(const tw_ev_t *ev, tw_promql_at_t at, int64_t at_ms, int64_t dflt)
{
    bool has;
    int64_t t = at_time(ev, at, at_ms, &has);
    return has ? t : dflt;
}

static void find_span(const tw_ev_t *ev, const tw_promql_expr_t *e, int64_t start, int64_t end,
                      span_t *sp)
{
    if (e == NULL) {
        return;
    }
    switch (e->kind) {
    case TW_PROMQL_VECTOR_SELECTOR: {
        int64_t s = at_of(ev, e->u.vs.at, e->u.vs.at_ms, start) - e->u.vs.offset_ms;
        int64_t en = at_of(ev, e->u.vs.at, e->u.vs.at_ms, end) - e->u.vs.offset_ms;
        span_add(sp, s - ev->opts->lookback_delta_ms, en);
        return;
    }
    case TW_PROMQL_MATRIX_SELECTOR: {
        const tw_promql_expr_t *vs = e->u.matrix.vs;
        int64_t s = at_of(ev, vs->u.vs.at, vs->u.vs.at_ms, start) - vs->u.vs.offset_ms;
        int64_t en = at_of(ev, vs->u.vs.at, vs->u.vs.at_ms, end) - vs->u.vs.offset_ms;
        span_add(sp, s - e->u.matrix.range_ms, en);
        return;
    }
    case TW_PROMQL_SUBQUERY: {
        int64_t s =
            at_of(ev, e->u.subquery.at, e->u.subquery.at_ms, start) - e->u.subquery.offset_ms;
        int64_t en =
            at_of(ev, e->u.subquery.at, e->u.subquery.at_ms, end) - e->u.subquery.offset_ms;
        find_span(ev, e->u.subquery.expr, s - e->u.subquery.range_ms, en, sp);
        return;
    }
    case TW_PROMQL_PAREN:
        find_span(ev, e->u.paren.expr, start, end, sp);
        return;
    case TW_PROMQL_STEP_INVARIANT:
        find_span(ev, e->u.step_invariant.expr, start, end, sp);
        return;
    case TW_PROMQL_UNARY:
        find_span(ev, e->u.unary.expr, start, end, sp);
        return;
    case TW_PROMQL_BINARY:
        find_span(ev, e->u.binary.lhs, start, end, sp);
        find_span(ev, e->u.binary.rhs, start, end, sp);
        return;
    case TW_PROMQL_AGGREGATE:
        find_span(ev, e->u.aggregate.param, start, end, sp);
        find_span(ev, e->u.aggregate.expr, start, end, sp);
        return;
    case TW_PROMQL_CALL:
        for (size_t i = 0; i < e->u.call.n_args; i++) {
            find_span(ev, e->u.call.args[i], start, end, sp);
        }
        return;
    default:
        return;
    }
}

/* ---- the query ---- */

static void apply_defaults(const tw_promql_engine_options_t *in, tw_promql_engine_options_t *o)
{
    if (in != NULL) {
        *o = *in;
    } else {
        memset(o, 0, sizeof(*o));
    }
    if (o->lookback_delta_ms <= 0) {
        o->lookback_delta_ms = TW_PROMQL_DEFAULT_LOOKBACK_MS;
    }
    if (o->max_samples == 0) {
        o->max_samples = TW_PROMQL_DEFAULT_MAX_SAMPLES;
    }
    if (o->timeout_ms == 0) {
        o->timeout_ms = TW_PROMQL_DEFAULT_TIMEOUT_MS;
    }
    if (o->default_subquery_step_ms <= 0) {
        o->default_subquery_step_ms = TW_PROMQL_DEFAULT_SUBQUERY_STEP_MS;
    }
}

/* Whether the root decides the order of an instant vector (sort*, topk, bottomk). */
static bool root_ordered(const tw_promql_expr_t *e)
{
    e = unwrap_parens(e);
    if (e->kind == TW_PROMQL_CALL) {
        return strncmp(e->u.call.func->name, "sort", 4) == 0;
    }
    if (e->kind == TW_PROMQL_AGGREGATE) {
        return e->u.aggregate.op == TW_PROMQL_AGG_TOPK ||
               e->u.aggregate.op == TW_PROMQL_AGG_BOTTOMK;
    }
    return false;
}

static int cmp_series(const void *a, const void *b)
{
    const tw_promql_series_t *x = a, *y = b;
    return tw_labels_compare(x->labels, x->n_labels, y->labels, y->n_labels);
}

/* Drops names marked for removal (delayed name removal) and checks for collisions. */
static int cleanup_names(tw_ev_t *ev, tw_ev_matrix_t *m)
{
    bool any = false;
    for (size_t i = 0; i < m->n; i++) {
        if (m->s[i].drop_name) {
            m->s[i].m = tw_ev_labels_drop_name(ev, m->s[i].m);
            m->s[i].drop_name = false;
            any = true;
        }
    }
    if (any && matrix_has_duplicates(m)) {
        return fail_same_labelset(ev);
    }
    return 0;
}

static int build_result(tw_ev_t *ev, const tw_promql_expr_t *root, val_t *v, bool range,
                        tw_promql_result_t *r)
{
    int rc;
    r->t = ev->start;
    switch (v->type) {
    case TW_PROMQL_TYPE_STRING:
        r->type = TW_PROMQL_TYPE_STRING;
        r->str = v->str;
        r->str_len = v->str_len;
        return 0;
    case TW_PROMQL_TYPE_SCALAR:
        if (!range) {
            r->type = TW_PROMQL_TYPE_SCALAR;
            r->scalar = v->m.n > 0 && v->m.s[0].n > 0 ? v->m.s[0].p[0].v : NAN;
            return 0;
        }
        break;
    default:
        break;
    }
    if ((rc = cleanup_names(ev, &v->m)) != 0) {
        return rc;
    }
    tw_promql_series_t *out = tw_arena_calloc(ev->arena, (v->m.n + 1) * sizeof(*out));
    size_t n = 0;
    for (size_t i = 0; i < v->m.n; i++) {
        const tw_ev_series_t *s = &v->m.s[i];
        if (s->n == 0) {
            continue;
        }
        out[n++] = (tw_promql_series_t){
            .labels = s->m.l, .n_labels = s->m.n, .points = s->p, .n_points = s->n};
    }
    r->series = out;
    r->n_series = n;
    if (range || v->type == TW_PROMQL_TYPE_MATRIX) {
        r->type = TW_PROMQL_TYPE_MATRIX;
        qsort(out, n, sizeof(*out), cmp_series);
    } else {
        r->type = TW_PROMQL_TYPE_VECTOR;
        r->ordered = root_ordered(root);
    }
    return 0;
}

static int exec(const tw_promql_engine_options_t *opts_in, const tw_promql_storage_t *storage,
                const char *query, size_t len, int64_t start, int64_t end, int64_t step, bool range,
                tw_promql_result_t **out, tw_error_t *err)
{
    *out = NULL;
    tw_promql_engine_options_t opts;
    apply_defaults(opts_in, &opts);
    tw_promql_parse_options_t po = {.compat = opts.compat,
                                    .disable_experimental_functions =
                                        opts.disable_experimental_functions};
    tw_promql_ast_t *ast = NULL;
    int rc = tw_promql_parse(query, len, &po, &ast, err);
    if (rc != 0) {
        return rc;
    }
    const tw_promql_expr_t *root = tw_promql_ast_root(ast);
    tw_promql_type_t type = tw_promql_expr_type(root);
    if (range && type != TW_PROMQL_TYPE_SCALAR && type != TW_PROMQL_TYPE_VECTOR) {
        tw_promql_ast_free(ast);
        return tw_error_set(err, TW_EPARSE,
                            "invalid expression type \"%s\" for range query, must be Scalar or "
                            "instant Vector",
                            tw_promql_type_str(type));
    }
    if (range && (step <= 0 || end < start)) {
        tw_promql_ast_free(ast);
        return tw_error_set(err, TW_EPARSE,
                            step <= 0 ? "zero or negative query resolution step "
                                        "widths are not accepted"
                                      : "end timestamp must not be before start "
                                        "time");
    }
    tw_arena_t *arena = tw_arena_new(64 * 1024);
    tw_ev_t ev = {.arena = arena,
                  .opts = &opts,
                  .query = tw_promql_ast_input(ast),
                  .start = start,
                  .end = end,
                  .interval = range ? step : 1,
                  .query_start = start,
                  .query_end = end,
                  .storage = storage};
    ev.n_steps = (size_t)((end - start) / ev.interval) + 1;
    if (opts.timeout_ms > 0) {
        ev.deadline_ns = tw_mono_ns() + opts.timeout_ms * 1000000LL;
    }
    span_t sp = {0};
    find_span(&ev, root, start, end, &sp);
    val_t v = {0};
    if (sp.any) {
        tw_error_t serr;
        tw_error_clear(&serr);
        rc = storage->open(storage->ctx, sp.mint, sp.maxt, &ev.view, &serr);
        if (rc != 0) {
            tw_error_set(err, rc, "%s", serr.msg[0] != '\0' ? serr.msg : tw_strerror(rc));
            goto out;
        }
    }
    rc = eval(&ev, root, &v);
    if (rc == 0) {
        rc = ev.err_code;
    }
    tw_promql_result_t *r = NULL;
    if (rc == 0) {
        r = tw_xcalloc(1, sizeof(*r));
        rc = build_result(&ev, root, &v, range, r);
    }
    if (rc != 0) {
        free(r);
        tw_error_set(err, rc, "%s", ev.err_code != 0 ? ev.err_msg : tw_strerror(rc));
        goto out;
    }
    /* Strings of the result that came from the query text must outlive the AST. */
    if (r->type == TW_PROMQL_TYPE_STRING) {
        char *s = tw_arena_alloc(arena, r->str_len + 1);
        memcpy(s, r->str, r->str_len);
        s[r->str_len] = '\0';
        r->str = s;
    }
    /* Labels from storage die with the view: copy what the result keeps into the arena. */
    for (size_t i = 0; i < r->n_series; i++) {
        tw_promql_series_t *s = (tw_promql_series_t *)&r->series[i];
        tw_label_t *l = tw_arena_alloc(arena, (s->n_labels + 1) * sizeof(*l));
        for (size_t k = 0; k < s->n_labels; k++) {
            l[k].name = tw_arena_strdup(arena, s->labels[k].name);
            l[k].value = tw_arena_strdup(arena, s->labels[k].value);
        }
        s->labels = l;
    }
    r->warnings = (const char *const *)ev.warnings;
    r->n_warnings = ev.n_warnings;
    r->infos = (const char *const *)ev.infos;
    r->n_infos = ev.n_infos;
    r->samples_total = ev.total_samples;
    r->peak_samples = ev.peak_samples;
    r->priv_ = arena;
    arena = NULL;
    *out = r;
out:
    if (ev.view != NULL) {
        storage->close(ev.view);
    }
    tw_arena_free(arena);
    tw_promql_ast_free(ast);
    return rc;
}

int tw_promql_exec_instant(const tw_promql_engine_options_t *opts,
                           const tw_promql_storage_t *storage, const char *query, size_t len,
                           int64_t t_ms, tw_promql_result_t **out, tw_error_t *err)
{
    return exec(opts, storage, query, len, t_ms, t_ms, 0, false, out, err);
}

int tw_promql_exec_range(const tw_promql_engine_options_t *opts, const tw_promql_storage_t *storage,
                         const char *query, size_t len, int64_t start_ms, int64_t end_ms,
                         int64_t step_ms, tw_promql_result_t **out, tw_error_t *err)
{
    return exec(opts, storage, query, len, start_ms, end_ms, step_ms, true, out, err);
}

void tw_promql_result_free(tw_promql_result_t *r)
{
    if (r == NULL) {
        return;
    }
    tw_arena_free(r->priv_);
    free(r);
}
