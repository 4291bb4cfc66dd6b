/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_aggregate.c - PromQL's aggregation operators (sum, avg, count, min, max, group, stddev,
 * stdvar, quantile, topk, bottomk, limitk, limit_ratio, count_values) over a whole step grid,
 * like Prometheus' rangeEvalAgg() with aggregation(), aggregationK() and
 * aggregationCountValues() (3.5), or the per-step aggregation() of 2.42 in compat mode.
 *
 * How it works: every input series is assigned to its group once (the hash of its `by` labels,
 * or of all but the `without` labels and __name__), groups numbered in order of first
 * appearance, which is the output order of an instant query. Then, step by step, each series
 * contributes the point it has at that step (a cursor per series walks its points) to its
 * group's state; at the end of the step every group that saw a point emits one value. sum and
 * avg use Kahan-Neumaier summation (avg switches to an incremental mean when the running sum
 * would overflow), stddev/stdvar Welford's method. topk/bottomk keep a heap per group with Go's
 * container/heap moves and sort it like Go's sort.Sort, so ties and NaNs come out in the same
 * order as in Prometheus; their output series are the selected input series, merged across
 * steps by label set. count_values regroups per step by the value formatted into a label.
 *
 * Memory comes from ev->arena; nothing is freed here. Thread model: one tw_ev_t, one thread.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "query/promql_eval_int.h"
#include "query/query_int.h"

/* The float64 bounds Prometheus checks k against (engine.go maxInt64 / minInt64). */
#define MAX_INT64_F 9223372036854774784.0
#define MIN_INT64_F -9223372036854775808.0

/* ---- small maps: uint64 key -> index ---- */

typedef struct idxmap {
    uint64_t *keys;
    uint32_t *vals; /* index + 1; 0 = empty slot */
    size_t cap;     /* power of two */
    size_t n;
} idxmap_t;

static void idxmap_init(tw_ev_t *ev, idxmap_t *m, size_t expect)
{
    size_t cap = 16;
    while (cap < expect * 2) {
        cap *= 2;
    }
    m->keys = tw_arena_alloc(ev->arena, cap * sizeof(*m->keys));
    m->vals = tw_arena_calloc(ev->arena, cap * sizeof(*m->vals));
    m->cap = cap;
    m->n = 0;
}

static size_t idxmap_slot(const idxmap_t *m, uint64_t key)
{
    size_t i = (size_t)(key ^ (key >> 29)) & (m->cap - 1);
    while (m->vals[i] != 0 && m->keys[i] != key) {
        i = (i + 1) & (m->cap - 1);
    }
    return i;
}

/* The index stored for key, or -1. */
static long idxmap_get(const idxmap_t *m, uint64_t key)
{
    size_t i = idxmap_slot(m, key);
    return m->vals[i] == 0 ? -1 : (long)m->vals[i] - 1;
}

static void idxmap_put(tw_ev_t *ev, idxmap_t *m, uint64_t key, uint32_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        idxmap_t big;
        idxmap_init(ev, &big, m->cap);
        for (size_t i = 0; i < m->cap; i++) {
            if (m->vals[i] != 0) {
                size_t j = idxmap_slot(&big, m->keys[i]);
                big.keys[j] = m->keys[i];
                big.vals[j] = m->vals[i];
                big.n++;
            }
        }
        *m = big;
    }
    size_t i = idxmap_slot(m, key);
    if (m->vals[i] == 0) {
        m->n++;
    }
    m->keys[i] = key;
    m->vals[i] = val + 1;
}

/* ---- numerics as Prometheus does them ---- */

/* Kahan-Neumaier increment (Prometheus 3.x kahanSumInc): returns the new sum, updates *c. */
static double kahan_inc(double inc, double sum, double *c)
{
    double t = sum + inc;
    if (isinf(t)) {
        *c = 0;
    } else if (fabs(sum) >= fabs(inc)) {
        *c += (sum - t) + inc;
    } else {
        *c += (inc - t) + sum;
    }
    return t;
}

/* Go's math.Max / math.Min (an infinity wins over NaN, NaN over everything else). */
static double go_max(double x, double y)
{
    if ((isinf(x) && x > 0) || (isinf(y) && y > 0)) {
        return INFINITY;
    }
    if (isnan(x) || isnan(y)) {
        return NAN;
    }
    if (x == 0 && y == 0) {
        return signbit(x) ? y : x;
    }
    return x > y ? x : y;
}

static double go_min(double x, double y)
{
    if ((isinf(x) && x < 0) || (isinf(y) && y < 0)) {
        return -INFINITY;
    }
    if (isnan(x) || isnan(y)) {
        return NAN;
    }
    if (x == 0 && y == 0) {
        return signbit(x) ? x : y;
    }
    return x < y ? x : y;
}

/* Prometheus' vectorByValueHeap order: NaN sorts before everything. */
static int cmp_nan_first(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    if (isnan(x)) {
        return isnan(y) ? 0 : -1;
    }
    if (isnan(y)) {
        return 1;
    }
    return (x > y) - (x < y);
}

/* Prometheus' quantile(): the φ-quantile of v (sorted in place), interpolating linearly. */
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
    double nn = (double)n;
    double rank = q * (nn - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin(nn - 1, lower + 1);
    double weight = rank - floor(rank);
    return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

/* ---- heaps of (value, input series) with Go's container/heap moves ---- */

typedef struct kitem {
    double f;
    uint32_t si; /* input series index */
} kitem_t;

/* vectorByValueHeap.Less (rev = false) or vectorByReverseValueHeap.Less (rev = true). */
static bool k_less(const kitem_t *a, const kitem_t *b, bool rev)
{
    if (isnan(a->f)) {
        return true;
    }
    return rev ? a->f > b->f : a->f < b->f;
}

static void k_swap(kitem_t *h, long i, long j)
{
    kitem_t t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static void heap_up(kitem_t *h, long j, bool rev)
{
    for (;;) {
        long i = (j - 1) / 2; /* Go's integer division: 0 for j == 0 */
        if (i == j || !k_less(&h[j], &h[i], rev)) {
            break;
        }
        k_swap(h, i, j);
        j = i;
    }
}

static bool heap_down(kitem_t *h, long i0, long n, bool rev)
{
    long i = i0;
    for (;;) {
        long j1 = 2 * i + 1;
        if (j1 >= n || j1 < 0) {
            break;
        }
        long j = j1;
        long j2 = j1 + 1;
        if (j2 < n && k_less(&h[j2], &h[j1], rev)) {
            j = j2;
        }
        if (!k_less(&h[j], &h[i], rev)) {
            break;
        }
        k_swap(h, i, j);
        i = j;
    }
    return i > i0;
}

static void heap_push(kitem_t *h, size_t *n, kitem_t x, bool rev)
{
    h[*n] = x;
    (*n)++;
    heap_up(h, (long)*n - 1, rev);
}

static void heap_pop(kitem_t *h, size_t *n, bool rev)
{
    long last = (long)*n - 1;
    k_swap(h, 0, last);
    heap_down(h, 0, last, rev);
    (*n)--;
}

static void heap_fix(kitem_t *h, size_t n, long i, bool rev)
{
    if (!heap_down(h, i, (long)n, rev)) {
        heap_up(h, i, rev);
    }
}

/*
 * sort.Sort(sort.Reverse(heap)): Go sorts up to 12 elements by insertion sort, which we copy
 * exactly (it decides the order of ties and NaNs); longer heaps get a stable merge sort with
 * the same comparison.
 */
static bool rev_before(const kitem_t *a, const kitem_t *b, bool rev)
{
    return k_less(b, a, rev);
}

static void merge_sort(kitem_t *h, kitem_t *tmp, size_t n, bool rev)
{
    if (n < 2) {
        return;
    }
    size_t mid = n / 2;
    merge_sort(h, tmp, mid, rev);
    merge_sort(h + mid, tmp, n - mid, rev);
    size_t i = 0, j = mid, w = 0;
    while (i < mid && j < n) {
        if (rev_before(&h[j], &h[i], rev)) {
            tmp[w++] = h[j++];
        } else {
            tmp[w++] = h[i++];
        }
    }
    while (i < mid) {
        tmp[w++] = h[i++];
    }
    while (j < n) {
        tmp[w++] = h[j++];
    }
    memcpy(h, tmp, n * sizeof(*h));
}

static void sort_reverse(tw_ev_t *ev, kitem_t *h, size_t n, bool rev)
{
    if (n <= 12) {
        for (size_t i = 1; i < n; i++) {
            for (size_t j = i; j > 0 && rev_before(&h[j], &h[j - 1], rev); j--) {
                k_swap(h, (long)j, (long)j - 1);
            }
        }
        return;
    }
    kitem_t *tmp = tw_arena_alloc(ev->arena, n * sizeof(*tmp));
    merge_sort(h, tmp, n, rev);
}

/* ---- limit_ratio's sampling offset: xxHash64 of the label set, like labels.Hash() ---- */

#define XXP1 0x9E3779B185EBCA87ULL
#define XXP2 0xC2B2AE3D27D4EB4FULL
#define XXP3 0x165667B19E3779F9ULL
#define XXP4 0x85EBCA77C2B2AE63ULL
#define XXP5 0x27D4EB2F165667C5ULL

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t rd32(const unsigned char *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) | ((uint64_t)p[3] << 24);
}

static uint64_t xx_round(uint64_t acc, uint64_t in)
{
    acc += in * XXP2;
    acc = rotl64(acc, 31);
    return acc * XXP1;
}

static uint64_t xx_merge(uint64_t acc, uint64_t v)
{
    acc ^= xx_round(0, v);
    return acc * XXP1 + XXP4;
}

/* XXH64 with seed 0 (what Prometheus' labels.Hash uses through cespare/xxhash). */
static uint64_t xxh64(const unsigned char *p, size_t len)
{
    const unsigned char *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = XXP1 + XXP2, v2 = XXP2, v3 = 0, v4 = (uint64_t)0 - XXP1;
        while ((size_t)(end - p) >= 32) {
            v1 = xx_round(v1, rd64(p));
            v2 = xx_round(v2, rd64(p + 8));
            v3 = xx_round(v3, rd64(p + 16));
            v4 = xx_round(v4, rd64(p + 24));
            p += 32;
        }
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xx_merge(h, v1);
        h = xx_merge(h, v2);
        h = xx_merge(h, v3);
        h = xx_merge(h, v4);
    } else {
        h = XXP5;
    }
    h += (uint64_t)len;
    while ((size_t)(end - p) >= 8) {
        h ^= xx_round(0, rd64(p));
        h = rotl64(h, 27) * XXP1 + XXP4;
        p += 8;
    }
    if ((size_t)(end - p) >= 4) {
        h ^= rd32(p) * XXP1;
        h = rotl64(h, 23) * XXP2 + XXP3;
        p += 4;
    }
    while (p < end) {
        h ^= (uint64_t)(*p) * XXP5;
        h = rotl64(h, 11) * XXP1;
        p++;
    }
    h ^= h >> 33;
    h *= XXP2;
    h ^= h >> 29;
    h *= XXP3;
    h ^= h >> 32;
    return h;
}

/* HashRatioSampler.SampleOffset: the label set's hash as a fraction of 2^64. */
static double ratio_offset(tw_ev_t *ev, tw_ev_labels_t m)
{
    size_t len = 0;
    for (uint32_t i = 0; i < m.n; i++) {
        len += strlen(m.l[i].name) + strlen(m.l[i].value) + 2;
    }
    unsigned char *b = tw_arena_alloc(ev->arena, len + 1);
    size_t w = 0;
    for (uint32_t i = 0; i < m.n; i++) {
        size_t nl = strlen(m.l[i].name);
        size_t vl = strlen(m.l[i].value);
        memcpy(b + w, m.l[i].name, nl);
        w += nl;
        b[w++] = 0xff;
        memcpy(b + w, m.l[i].value, vl);
        w += vl;
        b[w++] = 0xff;
    }
    return (double)xxh64(b, w) / 18446744073709551616.0;
}

static bool ratio_keep(double r, double offset)
{
    return (r >= 0 && offset < r) || (r < 0 && offset >= 1.0 + r);
}

/* ---- helpers ---- */

/* Go's utf8.ValidString. */
static bool utf8_valid(const unsigned char *s)
{
    while (*s != 0) {
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t n;
        uint32_t r;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            r = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            r = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            r = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80) {
                return false;
            }
            r = (r << 6) | (s[i] & 0x3f);
        }
        if ((n == 2 && r < 0x800) || (n == 3 && (r < 0x10000 || r > 0x10ffff)) ||
            (r >= 0xd800 && r <= 0xdfff)) {
            return false;
        }
        s += n + 1;
    }
    return true;
}

/* The value of the series at ts (its cursor *cur moves past it), or false. */
static bool next_value(const tw_ev_series_t *s, size_t *cur, int64_t ts, double *f)
{
    while (*cur < s->n && s->p[*cur].t < ts) {
        (*cur)++;
    }
    if (*cur < s->n && s->p[*cur].t == ts) {
        *f = s->p[*cur].v;
        (*cur)++;
        return true;
    }
    return false;
}

/* The parameter's expression without parentheses (its position is the annotations'). */
static const tw_promql_expr_t *unwrap(const tw_promql_expr_t *e)
{
    while (e != NULL && (e->kind == TW_PROMQL_PAREN || e->kind == TW_PROMQL_STEP_INVARIANT)) {
        e = e->kind == TW_PROMQL_PAREN ? e->u.paren.expr : e->u.step_invariant.expr;
    }
    return e;
}

/* Prometheus' fParams: the parameter per step, consumed in order, and its extremes. */
typedef struct fparams {
    const tw_ev_series_t *s;
    size_t next;
    double min, max;
    bool any_nan;
} fparams_t;

static void fparams_init(fparams_t *fp, const tw_ev_matrix_t *param)
{
    *fp = (fparams_t){0};
    if (param == NULL || param->n == 0) {
        return;
    }
    fp->s = &param->s[0];
    fp->min = DBL_MAX;
    fp->max = -DBL_MAX;
    for (size_t i = 0; i < fp->s->n; i++) {
        double v = fp->s->p[i].v;
        fp->max = go_max(fp->max, v);
        fp->min = go_min(fp->min, v);
        if (isnan(v)) {
            fp->any_nan = true;
        }
    }
}

static double fparams_next(fparams_t *fp)
{
    if (fp->s != NULL && fp->next < fp->s->n) {
        return fp->s->p[fp->next++].v;
    }
    return 0;
}

/* "%g" of v into an arena string (Go's %g / %v of a float64). */
static const char *fmt_g(tw_ev_t *ev, double v)
{
    tw_buf_t b;
    tw_buf_init(&b, 64);
    tw_ev_format_g(v, &b);
    char *s = tw_arena_strdup(ev->arena, b.data != NULL ? b.data : "");
    tw_buf_fini(&b);
    return s;
}

/* The grouping key of m (Prometheus' generateGroupingKey). */
static uint64_t group_key(tw_ev_labels_t m, const char *const *grouping, size_t n, bool without)
{
    if (!without && n == 0) {
        return 0;
    }
    return tw_ev_labels_hash_for(m, grouping, n, !without);
}

/* The output labels of m's group (Prometheus' generateGroupingLabels). */
static tw_ev_labels_t group_labels(tw_ev_t *ev, tw_ev_labels_t m, const char *const *grouping,
                                   size_t n, bool without)
{
    if (!without && n == 0) {
        return (tw_ev_labels_t){NULL, 0};
    }
    tw_ev_lb_t b;
    tw_ev_lb_init(&b, ev, m);
    if (without) {
        for (size_t i = 0; i < n; i++) {
            tw_ev_lb_del(&b, grouping[i]);
        }
        tw_ev_lb_del(&b, TW_METRIC_NAME_LABEL);
    } else {
        tw_ev_lb_keep(&b, grouping, n);
    }
    return tw_ev_lb_finish(&b);
}

/* Adds the point (ts, f) to the output series with labels m (merged by label set). */
static void out_add(tw_ev_t *ev, tw_ev_matrix_t *out, idxmap_t *map, uint64_t key, tw_ev_labels_t m,
                    bool drop_name, int64_t ts, double f)
{
    long i = idxmap_get(map, key);
    if (i < 0) {
        i = (long)out->n;
        tw_ev_matrix_add(ev, out, m, drop_name);
        idxmap_put(ev, map, key, (uint32_t)i);
    }
    tw_ev_series_push(ev, &out->s[i], ts, f);
}

/* ---- sum, avg, count, min, max, group, stddev, stdvar, quantile ---- */

typedef struct agroup {
    tw_ev_labels_t m;
    tw_ev_series_t out;
    double value, mean, kahan, count;
    double *vals; /* quantile: this step's values */
    size_t n_vals;
    size_t size; /* member series */
    bool seen, incremental, drop_name;
} agroup_t;

static int aggregate_plain(tw_ev_t *ev, const tw_promql_expr_t *node, const tw_ev_matrix_t *in,
                           const tw_ev_matrix_t *param, const uint32_t *grp, agroup_t *groups,
                           size_t n_groups, tw_ev_matrix_t *out)
{
    tw_promql_agg_t op = node->u.aggregate.op;
    bool compat2 = ev->opts->compat == TW_PROMQL_COMPAT_PROMETHEUS2;
    fparams_t fp;
    fparams_init(&fp, param);
    if (op == TW_PROMQL_AGG_QUANTILE && !compat2) {
        tw_promql_pos_t pos = unwrap(node->u.aggregate.param)->pos;
        if (fp.any_nan) {
            tw_ev_warn(ev, pos, "quantile value should be between 0 and 1, got %s", "NaN");
        }
        if (fp.max > 1) {
            tw_ev_warn(ev, pos, "quantile value should be between 0 and 1, got %s",
                       fmt_g(ev, fp.max));
        }
        if (fp.min < 0) {
            tw_ev_warn(ev, pos, "quantile value should be between 0 and 1, got %s",
                       fmt_g(ev, fp.min));
        }
    }
    if (op == TW_PROMQL_AGG_QUANTILE) {
        for (size_t g = 0; g < n_groups; g++) {
            groups[g].vals = tw_arena_alloc(ev->arena, groups[g].size * sizeof(double));
        }
    }
    size_t *cur = tw_arena_calloc(ev->arena, (in->n + 1) * sizeof(*cur));

    for (size_t k = 0; k < ev->n_steps; k++) {
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        double q = fparams_next(&fp);
        int rc = tw_ev_check_deadline(ev);
        if (rc != 0) {
            return rc;
        }
        for (size_t g = 0; g < n_groups; g++) {
            groups[g].seen = false;
        }
        for (size_t si = 0; si < in->n; si++) {
            double f;
            if (!next_value(&in->s[si], &cur[si], ts, &f)) {
                continue;
            }
            agroup_t *gr = &groups[grp[si]];
            if (!gr->seen) {
                gr->seen = true;
                gr->value = f;
                gr->mean = f;
                gr->kahan = 0;
                gr->count = 1;
                gr->incremental = false;
                gr->drop_name = in->s[si].drop_name;
                gr->n_vals = 0;
                switch (op) {
                case TW_PROMQL_AGG_STDDEV:
                case TW_PROMQL_AGG_STDVAR:
                    gr->value = (!compat2 && (isnan(f) || isinf(f))) ? NAN : 0;
                    break;
                case TW_PROMQL_AGG_QUANTILE:
                    gr->vals[gr->n_vals++] = f;
                    break;
                case TW_PROMQL_AGG_GROUP:
                    gr->value = 1;
                    break;
                default:
                    break;
                }
                continue;
            }
            if (in->s[si].drop_name) {
                gr->drop_name = true;
            }
            switch (op) {
            case TW_PROMQL_AGG_SUM:
                if (compat2) {
                    gr->value += f;
                } else {
                    gr->value = kahan_inc(f, gr->value, &gr->kahan);
                }
                break;
            case TW_PROMQL_AGG_AVG:
                gr->count++;
                if (compat2) {
                    /* 2.42: incremental mean, keeping an infinite mean when it stays right. */
                    if (isinf(gr->mean)) {
                        if (isinf(f) && (gr->mean > 0) == (f > 0)) {
                            break;
                        }
                        if (!isinf(f) && !isnan(f)) {
                            break;
                        }
                    }
                    gr->mean += f / gr->count - gr->mean / gr->count;
                    break;
                }
                /* 3.5: the direct mean (a Kahan sum) until the sum would overflow, then the
                 * incremental mean, also compensated. */
                if (!gr->incremental) {
                    double c = gr->kahan;
                    double v = kahan_inc(f, gr->value, &c);
                    if (!isinf(v)) {
                        gr->value = v;
                        gr->kahan = c;
                        break;
                    }
                    gr->incremental = true;
                    gr->mean = gr->value / (gr->count - 1);
                    gr->kahan /= gr->count - 1;
                }
                {
                    double r = (gr->count - 1) / gr->count;
                    double c = r * gr->kahan;
                    gr->mean = kahan_inc(f / gr->count, r * gr->mean, &c);
                    gr->kahan = c;
                }
                break;
            case TW_PROMQL_AGG_GROUP:
                break;
            case TW_PROMQL_AGG_MAX:
                if (gr->value < f || isnan(gr->value)) {
                    gr->value = f;
                }
                break;
            case TW_PROMQL_AGG_MIN:
                if (gr->value > f || isnan(gr->value)) {
                    gr->value = f;
                }
                break;
            case TW_PROMQL_AGG_COUNT:
                gr->count++;
                break;
            case TW_PROMQL_AGG_STDDEV:
            case TW_PROMQL_AGG_STDVAR: {
                gr->count++;
                double delta = f - gr->mean;
                gr->mean += delta / gr->count;
                gr->value += delta * (f - gr->mean);
                break;
            }
            case TW_PROMQL_AGG_QUANTILE:
                gr->vals[gr->n_vals++] = f;
                break;
            default:
                return tw_ev_fail(ev, TW_EEXEC, "expected aggregation operator but got %s",
                                  tw_promql_agg_str(op));
            }
        }
        for (size_t g = 0; g < n_groups; g++) {
            agroup_t *gr = &groups[g];
            if (!gr->seen) {
                continue;
            }
            double v = gr->value;
            switch (op) {
            case TW_PROMQL_AGG_AVG:
                if (compat2) {
                    v = gr->mean;
                } else if (gr->incremental) {
                    v = gr->mean + gr->kahan;
                } else {
                    v = gr->value / gr->count + gr->kahan / gr->count;
                }
                break;
            case TW_PROMQL_AGG_COUNT:
                v = gr->count;
                break;
            case TW_PROMQL_AGG_STDVAR:
                v = gr->value / gr->count;
                break;
            case TW_PROMQL_AGG_STDDEV:
                v = sqrt(gr->value / gr->count);
                break;
            case TW_PROMQL_AGG_QUANTILE:
                v = quantile_of(q, gr->vals, gr->n_vals);
                break;
            case TW_PROMQL_AGG_SUM:
                if (!compat2) {
                    v = gr->value + gr->kahan;
                }
                break;
            default:
                break;
            }
            tw_ev_series_push(ev, &gr->out, ts, v);
            gr->out.drop_name = gr->drop_name;
        }
    }
    for (size_t g = 0; g < n_groups; g++) {
        if (groups[g].out.n == 0) {
            continue;
        }
        tw_ev_series_t *s = tw_ev_matrix_add(ev, out, groups[g].m, groups[g].out.drop_name);
        s->p = groups[g].out.p;
        s->n = groups[g].out.n;
        s->cap = groups[g].out.cap;
    }
    return 0;
}

/* ---- topk, bottomk, limitk, limit_ratio ---- */

typedef struct kgroup {
    kitem_t *heap; /* room for every member series */
    size_t n;
    bool seen;
} kgroup_t;

/* Checks the parameter once for the whole grid (Prometheus 3.5); *skip: nothing to select. */
static int k_param_check(tw_ev_t *ev, const tw_promql_expr_t *node, const fparams_t *fp, bool *skip)
{
    tw_promql_agg_t op = node->u.aggregate.op;
    *skip = false;
    if (op == TW_PROMQL_AGG_LIMIT_RATIO) {
        if (fp->max == 0 && fp->min == 0) {
            *skip = true;
            return 0;
        }
        if (fp->any_nan) {
            return tw_ev_fail(ev, TW_EEXEC, "Ratio value is NaN");
        }
        tw_promql_pos_t pos = unwrap(node->u.aggregate.param)->pos;
        if (fp->max > 1.0) {
            tw_ev_warn(ev, pos, "ratio value should be between -1 and 1, got %s, capping to %s",
                       fmt_g(ev, fp->max), fmt_g(ev, 1.0));
        }
        if (fp->min < -1.0) {
            tw_ev_warn(ev, pos, "ratio value should be between -1 and 1, got %s, capping to %s",
                       fmt_g(ev, fp->min), fmt_g(ev, -1.0));
        }
        return 0;
    }
    if (fp->max < 1) {
        *skip = true;
        return 0;
    }
    if (fp->any_nan) {
        return tw_ev_fail(ev, TW_EEXEC, "Parameter value is NaN");
    }
    if (fp->min <= MIN_INT64_F) {
        return tw_ev_fail(ev, TW_EEXEC, "Scalar value %s underflows int64", fmt_g(ev, fp->min));
    }
    if (fp->max >= MAX_INT64_F) {
        return tw_ev_fail(ev, TW_EEXEC, "Scalar value %s overflows int64", fmt_g(ev, fp->max));
    }
    return 0;
}

static int aggregate_k(tw_ev_t *ev, const tw_promql_expr_t *node, const tw_ev_matrix_t *in,
                       const tw_ev_matrix_t *param, const uint32_t *grp, const size_t *sizes,
                       size_t n_groups, tw_ev_matrix_t *out)
{
    tw_promql_agg_t op = node->u.aggregate.op;
    bool compat2 = ev->opts->compat == TW_PROMQL_COMPAT_PROMETHEUS2 &&
                   (op == TW_PROMQL_AGG_TOPK || op == TW_PROMQL_AGG_BOTTOMK);
    bool rev = op == TW_PROMQL_AGG_BOTTOMK;
    fparams_t fp;
    fparams_init(&fp, param);
    if (!compat2) {
        bool skip;
        int rc = k_param_check(ev, node, &fp, &skip);
        if (rc != 0 || skip) {
            return rc;
        }
    }
    kgroup_t *groups = tw_arena_calloc(ev->arena, (n_groups + 1) * sizeof(*groups));
    for (size_t g = 0; g < n_groups; g++) {
        groups[g].heap = tw_arena_alloc(ev->arena, sizes[g] * sizeof(kitem_t));
    }
    size_t *cur = tw_arena_calloc(ev->arena, (in->n + 1) * sizeof(*cur));
    double *offsets = NULL;
    if (op == TW_PROMQL_AGG_LIMIT_RATIO) {
        offsets = tw_arena_alloc(ev->arena, (in->n + 1) * sizeof(*offsets));
        for (size_t si = 0; si < in->n; si++) {
            offsets[si] = NAN;
        }
    }
    idxmap_t map;
    idxmap_init(ev, &map, in->n);

    for (size_t k_step = 0; k_step < ev->n_steps; k_step++) {
        int64_t ts = ev->start + (int64_t)k_step * ev->interval;
        double fparam = fparams_next(&fp);
        int rc = tw_ev_check_deadline(ev);
        if (rc != 0) {
            return rc;
        }
        int64_t k = 0;
        double r = 0;
        bool step_empty = false;
        if (compat2) {
            /* 2.42 checks k at every step, NaN included. */
            if (!(fparam <= MAX_INT64_F && fparam >= MIN_INT64_F)) {
                return tw_ev_fail(ev, TW_EEXEC, "Scalar value %s overflows int64",
                                  fmt_g(ev, fparam));
            }
            k = (int64_t)fparam;
            step_empty = k < 1;
        } else if (op == TW_PROMQL_AGG_LIMIT_RATIO) {
            step_empty = fparam == 0;
            r = fparam < -1.0 ? -1.0 : (fparam > 1.0 ? 1.0 : fparam);
        } else {
            k = (int64_t)fparam;
            if (k > (int64_t)in->n) {
                k = (int64_t)in->n;
            }
            step_empty = k < 1;
        }
        if (step_empty) {
            continue;
        }
        for (size_t g = 0; g < n_groups; g++) {
            groups[g].seen = false;
        }
        for (size_t si = 0; si < in->n; si++) {
            double f;
            if (!next_value(&in->s[si], &cur[si], ts, &f)) {
                continue;
            }
            kitem_t it = {.f = f, .si = (uint32_t)si};
            kgroup_t *gr = &groups[grp[si]];
            bool keep_ratio = false;
            if (op == TW_PROMQL_AGG_LIMIT_RATIO) {
                if (isnan(offsets[si])) {
                    offsets[si] = ratio_offset(ev, in->s[si].m);
                }
                keep_ratio = ratio_keep(r, offsets[si]);
            }
            if (!gr->seen) {
                gr->seen = true;
                gr->n = 0;
                if (op == TW_PROMQL_AGG_LIMIT_RATIO) {
                    if (keep_ratio) {
                        heap_push(gr->heap, &gr->n, it, false);
                    }
                } else {
                    gr->heap[0] = it;
                    gr->n = 1;
                }
                continue;
            }
            switch (op) {
            case TW_PROMQL_AGG_TOPK:
            case TW_PROMQL_AGG_BOTTOMK: {
                double top = gr->heap[0].f;
                bool better = rev ? top > f : top < f;
                if (compat2) {
                    if ((int64_t)gr->n < k || better || isnan(top)) {
                        if ((int64_t)gr->n == k) {
                            if (k == 1) {
                                gr->heap[0] = it;
                                break;
                            }
                            heap_pop(gr->heap, &gr->n, rev);
                        }
                        heap_push(gr->heap, &gr->n, it, rev);
                    }
                } else if ((int64_t)gr->n < k) {
                    heap_push(gr->heap, &gr->n, it, rev);
                } else if (better || (isnan(top) && !isnan(f))) {
                    gr->heap[0] = it;
                    if (k > 1) {
                        heap_fix(gr->heap, gr->n, 0, rev);
                    }
                }
                break;
            }
            case TW_PROMQL_AGG_LIMITK:
                if ((int64_t)gr->n < k) {
                    heap_push(gr->heap, &gr->n, it, false);
                }
                break;
            case TW_PROMQL_AGG_LIMIT_RATIO:
                if (keep_ratio) {
                    heap_push(gr->heap, &gr->n, it, false);
                }
                break;
            default:
                break;
            }
        }
        for (size_t g = 0; g < n_groups; g++) {
            kgroup_t *gr = &groups[g];
            if (!gr->seen) {
                continue;
            }
            if ((op == TW_PROMQL_AGG_TOPK || op == TW_PROMQL_AGG_BOTTOMK) && gr->n > 1) {
                sort_reverse(ev, gr->heap, gr->n, rev);
            }
            for (size_t i = 0; i < gr->n; i++) {
                const tw_ev_series_t *s = &in->s[gr->heap[i].si];
                out_add(ev, out, &map, tw_ev_labels_hash(s->m), s->m, s->drop_name, ts,
                        gr->heap[i].f);
            }
        }
    }
    return 0;
}

/* ---- count_values ---- */

static int aggregate_count_values(tw_ev_t *ev, const tw_promql_expr_t *node,
                                  const tw_ev_matrix_t *in, const char *label, tw_ev_matrix_t *out)
{
    bool compat2 = ev->opts->compat == TW_PROMQL_COMPAT_PROMETHEUS2;
    bool valid =
        label != NULL && label[0] != '\0' &&
        (compat2 ? tw_promql_is_legacy_label(label) : utf8_valid((const unsigned char *)label));
    if (!valid) {
        tw_buf_t q;
        tw_buf_init(&q, 4096);
        tw_promql_go_quote(label != NULL ? label : "", label != NULL ? strlen(label) : 0, &q);
        int rc = tw_ev_fail(ev, TW_EEXEC, "invalid label name %s", q.data != NULL ? q.data : "");
        tw_buf_fini(&q);
        return rc;
    }
    bool without = node->u.aggregate.without;
    size_t n_grouping = node->u.aggregate.n_grouping;
    const char **grouping = tw_arena_alloc(ev->arena, (n_grouping + 1) * sizeof(*grouping));
    bool listed = false;
    for (size_t i = 0; i < n_grouping; i++) {
        grouping[i] = node->u.aggregate.grouping[i];
        listed = listed || strcmp(grouping[i], label) == 0;
    }
    if (!without && !listed) {
        grouping[n_grouping++] = label;
    }

    size_t *cur = tw_arena_calloc(ev->arena, (in->n + 1) * sizeof(*cur));
    idxmap_t map;
    idxmap_init(ev, &map, in->n);
    /* Per step: the count of each output series touched, in order of first touch. */
    size_t cap = in->n + 1;
    double *counts = tw_arena_calloc(ev->arena, cap * sizeof(*counts));
    uint32_t *touched = tw_arena_alloc(ev->arena, (in->n + 1) * sizeof(*touched));
    tw_buf_t vb;
    tw_buf_init(&vb, 64);
    int rc = 0;

    for (size_t k = 0; k < ev->n_steps; k++) {
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        rc = tw_ev_check_deadline(ev);
        if (rc != 0) {
            goto out;
        }
        size_t n_touched = 0;
        for (size_t si = 0; si < in->n; si++) {
            double f;
            if (!next_value(&in->s[si], &cur[si], ts, &f)) {
                continue;
            }
            tw_buf_reset(&vb);
            tw_promql_format_float(f, &vb);
            char *value = tw_arena_strdup(ev->arena, vb.data != NULL ? vb.data : "");
            tw_ev_lb_t b;
            tw_ev_lb_init(&b, ev, in->s[si].m);
            tw_ev_lb_set(&b, label, value);
            tw_ev_labels_t metric = tw_ev_lb_finish(&b);
            uint64_t key = group_key(metric, grouping, n_grouping, without);
            long oi = idxmap_get(&map, key);
            if (oi < 0) {
                oi = (long)out->n;
                tw_ev_matrix_add(ev, out, group_labels(ev, metric, grouping, n_grouping, without),
                                 false);
                idxmap_put(ev, &map, key, (uint32_t)oi);
                if (out->n > cap) {
                    double *nc = tw_arena_calloc(ev->arena, cap * 2 * sizeof(*nc));
                    memcpy(nc, counts, cap * sizeof(*nc));
                    counts = nc;
                    cap *= 2;
                }
            }
            if (counts[oi] == 0) {
                touched[n_touched++] = (uint32_t)oi;
            }
            counts[oi]++;
        }
        for (size_t i = 0; i < n_touched; i++) {
            tw_ev_series_push(ev, &out->s[touched[i]], ts, counts[touched[i]]);
            counts[touched[i]] = 0;
        }
    }
out:
    tw_buf_fini(&vb);
    return rc;
}

/* ---- the entry point ---- */

int tw_ev_aggregate(tw_ev_t *ev, const tw_promql_expr_t *node, const tw_ev_matrix_t *in,
                    const tw_ev_matrix_t *param, const char *label, tw_ev_matrix_t *out)
{
    tw_promql_agg_t op = node->u.aggregate.op;
    *out = (tw_ev_matrix_t){0};
    if (op == TW_PROMQL_AGG_COUNT_VALUES) {
        return aggregate_count_values(ev, node, in, label, out);
    }
    bool without = node->u.aggregate.without;
    const char *const *grouping = node->u.aggregate.grouping;
    size_t n_grouping = node->u.aggregate.n_grouping;
    bool k_op = op == TW_PROMQL_AGG_TOPK || op == TW_PROMQL_AGG_BOTTOMK ||
                op == TW_PROMQL_AGG_LIMITK || op == TW_PROMQL_AGG_LIMIT_RATIO;

    /* Each input series' group, groups numbered in order of first appearance. */
    uint32_t *grp = tw_arena_alloc(ev->arena, (in->n + 1) * sizeof(*grp));
    agroup_t *groups = tw_arena_calloc(ev->arena, (in->n + 1) * sizeof(*groups));
    size_t n_groups = 0;
    idxmap_t map;
    idxmap_init(ev, &map, in->n);
    for (size_t si = 0; si < in->n; si++) {
        uint64_t key = group_key(in->s[si].m, grouping, n_grouping, without);
        long g = idxmap_get(&map, key);
        if (g < 0) {
            g = (long)n_groups++;
            idxmap_put(ev, &map, key, (uint32_t)g);
            if (!k_op) {
                groups[g].m = group_labels(ev, in->s[si].m, grouping, n_grouping, without);
            }
        }
        grp[si] = (uint32_t)g;
        groups[g].size++;
    }
    if (k_op) {
        size_t *sizes = tw_arena_alloc(ev->arena, (n_groups + 1) * sizeof(*sizes));
        for (size_t g = 0; g < n_groups; g++) {
            sizes[g] = groups[g].size;
        }
        return aggregate_k(ev, node, in, param, grp, sizes, n_groups, out);
    }
    return aggregate_plain(ev, node, in, param, grp, groups, n_groups, out);
}
