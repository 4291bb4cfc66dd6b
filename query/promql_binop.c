/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_binop.c - PromQL's binary operators over a whole step grid: scalar op scalar,
 * vector op scalar (Prometheus' VectorscalarBinop), vector op vector with on/ignoring and
 * group_left/group_right (VectorBinop, resultMetric) and the set operators and/or/unless
 * (VectorAnd, VectorOr, VectorUnless), with Prometheus' errors word for word.
 *
 * How it works. Prometheus evaluates a binary node step by step (rangeEval): at each step it
 * gathers the samples each operand has there, matches them by their join signature (the
 * series' labels restricted by on(...), or without ignoring(...) and __name__) and appends the
 * step's output vector to the output series with the same labels. We do the same, but compute
 * what does not depend on the step once per input series or per matched pair:
 *   - every input series gets a signature ordinal: its projected label set, interned in a hash
 *     table with exact comparison (Prometheus compares the signatures' bytes, so hash collisions
 *     must not match);
 *   - per step, each side's present samples are found with one cursor per series, and per-
 *     ordinal "stamps" (the step number + 1) stand for Prometheus' per-step maps, so nothing is
 *     cleared between steps;
 *   - the result labels of a matched (lhs, rhs) pair and the output series they go to are
 *     cached by pair; a vector op scalar result and a set operator's result go to an output
 *     series cached per input series.
 * Output series appear in the order of their first sample, so a one-step grid keeps
 * Prometheus' output order. Two outputs with the same labels at one step fail like rangeEval
 * ("vector cannot contain metrics with the same labelset"), after the step's own matching
 * errors, as in Prometheus.
 *
 * Thread model: one evaluation per tw_ev_t, on one thread; everything comes from ev->arena.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "query/promql_eval_int.h"
#include "query/query_int.h"

/* Upper bound of a label set printed into an error message (the message is cut at 512). */
#define MSG_LABELS_MAX 4096

/* ---- float arithmetic ---- */

/* Go's isOddInt (math/pow.go). */
static bool go_is_odd_int(double x)
{
    if (fabs(x) >= 9007199254740992.0) { /* 1 << 53 */
        return false;
    }
    double xi;
    double xf = modf(x, &xi);
    return xf == 0 && ((int64_t)xi & 1) == 1;
}

/*
 * Go's math.Pow, so that integer powers come out bit for bit like Prometheus' (Go multiplies
 * the mantissa by repeated squaring; a libm pow may round the last bit differently).
 */
static double go_pow(double x, double y)
{
    if (y == 0 || x == 1) {
        return 1;
    }
    if (y == 1) {
        return x;
    }
    if (isnan(x) || isnan(y)) {
        return NAN;
    }
    if (x == 0) {
        if (y < 0) {
            return signbit(x) && go_is_odd_int(y) ? -INFINITY : INFINITY;
        }
        return signbit(x) && go_is_odd_int(y) ? x : 0;
    }
    if (isinf(y)) {
        if (x == -1) {
            return 1;
        }
        return (fabs(x) < 1) == (y > 0) ? 0 : INFINITY;
    }
    if (isinf(x)) {
        if (x < 0) {
            return go_pow(1 / x, -y); /* pow(-0, -y) */
        }
        return y < 0 ? 0 : INFINITY;
    }
    if (y == 0.5) {
        return sqrt(x);
    }
    if (y == -0.5) {
        return 1 / sqrt(x);
    }

    double yi;
    double yf = modf(fabs(y), &yi);
    if (yf != 0 && x < 0) {
        return NAN;
    }
    if (yi >= 9223372036854775808.0) { /* 1 << 63 */
        if (x == -1) {
            return 1;
        }
        return (fabs(x) < 1) == (y > 0) ? 0 : INFINITY;
    }

    /* ans = a1 * 2^ae */
    double a1 = 1.0;
    int64_t ae = 0;
    if (yf != 0) {
        if (yf > 0.5) {
            yf--;
            yi++;
        }
        a1 = exp(yf * log(x));
    }
    int xe_int;
    double x1 = frexp(x, &xe_int);
    int64_t xe = xe_int;
    for (int64_t i = (int64_t)yi; i != 0; i >>= 1) {
        if (xe < -(1 << 12) || (1 << 12) < xe) {
            ae += xe; /* catastrophic overflow: ldexp saturates */
            break;
        }
        if ((i & 1) == 1) {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe *= 2; /* xe may be negative: no left shift */
        if (x1 < .5) {
            x1 += x1;
            xe--;
        }
    }
    if (y < 0) {
        a1 = 1 / a1;
        ae = -ae;
    }
    /* Past +-100000 every finite a1 has long overflowed or underflowed: clamp for ldexp's int. */
    if (ae > 100000) {
        ae = 100000;
    } else if (ae < -100000) {
        ae = -100000;
    }
    return ldexp(a1, (int)ae);
}

double tw_ev_binop_float(tw_promql_op_t op, double lhs, double rhs, bool *keep)
{
    *keep = true;
    switch (op) {
    case TW_PROMQL_OP_ADD:
        return lhs + rhs;
    case TW_PROMQL_OP_SUB:
        return lhs - rhs;
    case TW_PROMQL_OP_MUL:
        return lhs * rhs;
    case TW_PROMQL_OP_DIV:
        return lhs / rhs;
    case TW_PROMQL_OP_POW:
        return go_pow(lhs, rhs);
    case TW_PROMQL_OP_MOD:
        return fmod(lhs, rhs); /* exact, with Go's math.Mod special cases */
    case TW_PROMQL_OP_ATAN2:
        return atan2(lhs, rhs);
    case TW_PROMQL_OP_EQLC:
        *keep = lhs == rhs;
        return lhs;
    case TW_PROMQL_OP_NEQ:
        *keep = lhs != rhs;
        return lhs;
    case TW_PROMQL_OP_GTR:
        *keep = lhs > rhs;
        return lhs;
    case TW_PROMQL_OP_LSS:
        *keep = lhs < rhs;
        return lhs;
    case TW_PROMQL_OP_GTE:
        *keep = lhs >= rhs;
        return lhs;
    case TW_PROMQL_OP_LTE:
        *keep = lhs <= rhs;
        return lhs;
    default:
        /* The set operators have no float form. */
        *keep = false;
        return NAN;
    }
}

/* Prometheus' shouldDropMetricName: the arithmetic operators (atan2 only since 3.0). */
static bool op_drops_name(const tw_ev_t *ev, tw_promql_op_t op)
{
    switch (op) {
    case TW_PROMQL_OP_ADD:
    case TW_PROMQL_OP_SUB:
    case TW_PROMQL_OP_MUL:
    case TW_PROMQL_OP_DIV:
    case TW_PROMQL_OP_MOD:
    case TW_PROMQL_OP_POW:
        return true;
    case TW_PROMQL_OP_ATAN2:
        return ev->opts->compat != TW_PROMQL_COMPAT_PROMETHEUS2;
    default:
        return false;
    }
}

/* ---- small hashing helpers ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n) {
        c <<= 1;
    }
    return c;
}

/* ---- the evaluation state of one binary node ---- */

/* One side's samples at the current step: series indexes and values, in series order. */
typedef struct side_step {
    uint32_t *idx;
    double *v;
    size_t n;
} side_step_t;

/* A series cursor per input series of one side. */
typedef struct side {
    const tw_ev_matrix_t *m;
    size_t *cur;
    uint32_t *sig;  /* signature ordinal per series (vector-vector only) */
    uint32_t *slot; /* output series per input series, UINT32_MAX until the first sample */
    side_step_t at;
} side_t;

/* Output series by labels. */
typedef struct out_index {
    uint64_t *hash; /* per slot of the table */
    uint32_t *slot; /* output series index + 1; 0 = empty */
    size_t cap;
    size_t n;
} out_index_t;

/* A pending output of the current step (appended after the step's matching is done). */
typedef struct emit {
    uint32_t slot;
    double v;
} emit_t;

typedef struct binop {
    tw_ev_t *ev;
    const tw_promql_expr_t *node;
    tw_promql_op_t op;
    bool ret_bool;
    bool delayed; /* delayed __name__ removal */
    tw_ev_matrix_t *out;
    uint32_t *out_last; /* per output series: last step (+1) with a point */
    size_t out_last_cap;
    out_index_t index;
    emit_t *emits; /* the step's outputs */
    size_t n_emits;
    size_t cap_emits;
    side_t l;
    side_t r;
} binop_t;

static void *arena_array(tw_ev_t *ev, size_t n, size_t size)
{
    return tw_arena_calloc(ev->arena, (n == 0 ? 1 : n) * size);
}

static void side_init(binop_t *b, side_t *s, const tw_ev_matrix_t *m)
{
    s->m = m;
    s->cur = arena_array(b->ev, m->n, sizeof(*s->cur));
    s->slot = arena_array(b->ev, m->n, sizeof(*s->slot));
    for (size_t i = 0; i < m->n; i++) {
        s->slot[i] = UINT32_MAX;
    }
    s->at.idx = arena_array(b->ev, m->n, sizeof(*s->at.idx));
    s->at.v = arena_array(b->ev, m->n, sizeof(*s->at.v));
    s->at.n = 0;
    s->sig = NULL;
}

/* Collects the side's samples at time t (each series has at most one point per step). */
static void side_gather(side_t *s, int64_t t)
{
    s->at.n = 0;
    for (size_t i = 0; i < s->m->n; i++) {
        const tw_ev_series_t *se = &s->m->s[i];
        size_t c = s->cur[i];
        while (c < se->n && se->p[c].t < t) {
            c++;
        }
        if (c < se->n && se->p[c].t == t) {
            s->at.idx[s->at.n] = (uint32_t)i;
            s->at.v[s->at.n] = se->p[c].v;
            s->at.n++;
            c++;
        }
        s->cur[i] = c;
    }
}

/* The value of a scalar operand at time t (its one series has a point at every step). */
static bool scalar_at(side_t *s, int64_t t, double *v)
{
    if (s->m->n == 0) {
        return false;
    }
    const tw_ev_series_t *se = &s->m->s[0];
    size_t c = s->cur[0];
    while (c < se->n && se->p[c].t < t) {
        c++;
    }
    s->cur[0] = c;
    if (c < se->n && se->p[c].t == t) {
        *v = se->p[c].v;
        return true;
    }
    return false;
}

/* The output series with labels m, created (without points) when new. */
static uint32_t out_slot(binop_t *b, tw_ev_labels_t m, bool drop_name)
{
    out_index_t *ix = &b->index;
    if ((ix->n + 1) * 2 > ix->cap) {
        size_t cap = pow2_at_least((ix->n + 1) * 4);
        uint64_t *hash = arena_array(b->ev, cap, sizeof(*hash));
        uint32_t *slot = arena_array(b->ev, cap, sizeof(*slot));
        for (size_t i = 0; i < ix->cap; i++) {
            if (ix->slot[i] == 0) {
                continue;
            }
            size_t j = ix->hash[i] & (cap - 1);
            while (slot[j] != 0) {
                j = (j + 1) & (cap - 1);
            }
            hash[j] = ix->hash[i];
            slot[j] = ix->slot[i];
        }
        ix->hash = hash;
        ix->slot = slot;
        ix->cap = cap;
    }
    uint64_t h = tw_ev_labels_hash(m);
    size_t j = h & (ix->cap - 1);
    while (ix->slot[j] != 0) {
        uint32_t s = ix->slot[j] - 1;
        if (ix->hash[j] == h && tw_ev_labels_equal(b->out->s[s].m, m)) {
            return s;
        }
        j = (j + 1) & (ix->cap - 1);
    }
    uint32_t s = (uint32_t)b->out->n;
    tw_ev_matrix_add(b->ev, b->out, m, drop_name);
    ix->hash[j] = h;
    ix->slot[j] = s + 1;
    ix->n++;
    if (b->out->n > b->out_last_cap) {
        size_t cap = pow2_at_least(b->out->n * 2);
        uint32_t *last = arena_array(b->ev, cap, sizeof(*last));
        if (b->out_last_cap > 0) {
            memcpy(last, b->out_last, b->out_last_cap * sizeof(*last));
        }
        b->out_last = last;
        b->out_last_cap = cap;
    }
    return s;
}

static void emit(binop_t *b, uint32_t slot, double v)
{
    if (b->n_emits == b->cap_emits) {
        size_t cap = b->cap_emits == 0 ? 64 : b->cap_emits * 2;
        emit_t *e = arena_array(b->ev, cap, sizeof(*e));
        if (b->n_emits > 0) {
            memcpy(e, b->emits, b->n_emits * sizeof(*e));
        }
        b->emits = e;
        b->cap_emits = cap;
    }
    b->emits[b->n_emits].slot = slot;
    b->emits[b->n_emits].v = v;
    b->n_emits++;
}

/* Appends the step's outputs to their series, like rangeEval does after each call. */
static int flush_step(binop_t *b, size_t step, int64_t t)
{
    size_t n = b->n_emits;
    b->n_emits = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t s = b->emits[i].slot;
        if (b->out_last[s] == step + 1) {
            return tw_ev_fail(b->ev, TW_EEXEC,
                              "vector cannot contain metrics with the same labelset");
        }
        b->out_last[s] = (uint32_t)(step + 1);
        tw_ev_series_push(b->ev, &b->out->s[s], t, b->emits[i].v);
    }
    return n > 0 ? tw_ev_samples_add(b->ev, n) : 0;
}

/* The output series of input series i of side s, passed through unchanged (set operators). */
static uint32_t side_slot(binop_t *b, side_t *s, uint32_t i)
{
    if (s->slot[i] == UINT32_MAX) {
        const tw_ev_series_t *se = &s->m->s[i];
        s->slot[i] = out_slot(b, se->m, se->drop_name);
    }
    return s->slot[i];
}

/* ---- label sets in messages ---- */

/* Appends m like Go's labels.Labels.String(): {a="b", c="d"}. */
static void format_labels(const binop_t *b, tw_ev_labels_t m, tw_buf_t *out)
{
    bool quote_names = b->ev->opts->compat != TW_PROMQL_COMPAT_PROMETHEUS2;
    tw_buf_putc(out, '{');
    for (uint32_t i = 0; i < m.n; i++) {
        if (i > 0) {
            tw_buf_puts(out, ", ");
        }
        const char *name = m.l[i].name;
        if (quote_names && !tw_promql_is_legacy_label(name)) {
            tw_promql_go_quote(name, strlen(name), out);
        } else {
            tw_buf_puts(out, name);
        }
        tw_buf_putc(out, '=');
        tw_promql_go_quote(m.l[i].value, strlen(m.l[i].value), out);
    }
    tw_buf_putc(out, '}');
}

/* ---- signatures ---- */

static bool name_listed(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * The labels m is matched on (Prometheus' MatchLabels and signatureFunc): on(...) keeps the
 * listed names, ignoring(...) drops them and __name__. Shares m when nothing is dropped.
 */
static tw_ev_labels_t match_labels(binop_t *b, tw_ev_labels_t m)
{
    const tw_promql_expr_t *n = b->node;
    const char *const *names = (const char *const *)n->u.binary.labels;
    size_t n_names = n->u.binary.n_labels;
    bool on = n->u.binary.on;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < m.n; i++) {
        bool listed = name_listed(m.l[i].name, names, n_names);
        if (on == listed && (on || strcmp(m.l[i].name, TW_METRIC_NAME_LABEL) != 0)) {
            kept++;
        }
    }
    if (kept == m.n) {
        return m;
    }
    tw_ev_labels_t r = {NULL, 0};
    if (kept == 0) {
        return r;
    }
    tw_label_t *l = tw_arena_alloc(b->ev->arena, kept * sizeof(*l));
    for (uint32_t i = 0; i < m.n; i++) {
        bool listed = name_listed(m.l[i].name, names, n_names);
        if (on == listed && (on || strcmp(m.l[i].name, TW_METRIC_NAME_LABEL) != 0)) {
            l[r.n++] = m.l[i];
        }
    }
    r.l = l;
    return r;
}

/* Interned signatures: an ordinal per distinct match-label set. */
typedef struct sig_table {
    tw_ev_labels_t *keys;
    uint64_t *key_hash;
    size_t n;
    uint32_t *slot; /* ordinal + 1; 0 = empty */
    size_t cap;
} sig_table_t;

static uint32_t sig_intern(sig_table_t *t, tw_ev_labels_t key)
{
    uint64_t h = tw_ev_labels_hash(key);
    size_t j = mix64(h) & (t->cap - 1);
    while (t->slot[j] != 0) {
        uint32_t o = t->slot[j] - 1;
        if (t->key_hash[o] == h && tw_ev_labels_equal(t->keys[o], key)) {
            return o;
        }
        j = (j + 1) & (t->cap - 1);
    }
    uint32_t o = (uint32_t)t->n++;
    t->keys[o] = key;
    t->key_hash[o] = h;
    t->slot[j] = o + 1;
    return o;
}

/* Computes every input series' signature ordinal once; returns the number of signatures. */
static size_t compute_sigs(binop_t *b)
{
    size_t total = b->l.m->n + b->r.m->n;
    sig_table_t t;
    t.keys = arena_array(b->ev, total, sizeof(*t.keys));
    t.key_hash = arena_array(b->ev, total, sizeof(*t.key_hash));
    t.n = 0;
    t.cap = pow2_at_least(total * 2);
    t.slot = arena_array(b->ev, t.cap, sizeof(*t.slot));
    side_t *sides[2] = {&b->l, &b->r};
    for (int k = 0; k < 2; k++) {
        side_t *s = sides[k];
        s->sig = arena_array(b->ev, s->m->n, sizeof(*s->sig));
        for (size_t i = 0; i < s->m->n; i++) {
            s->sig[i] = sig_intern(&t, match_labels(b, s->m->s[i].m));
        }
    }
    return t.n;
}

/* ---- scalar op scalar, vector op scalar ---- */

static int eval_scalar_scalar(binop_t *b)
{
    tw_ev_t *ev = b->ev;
    tw_ev_labels_t none = {NULL, 0};
    tw_ev_series_t *se = tw_ev_matrix_add(ev, b->out, none, false);
    size_t n = 0;
    for (size_t step = 0; step < ev->n_steps; step++) {
        int64_t t = ev->start + (int64_t)step * ev->interval;
        double lv;
        double rv;
        if (!scalar_at(&b->l, t, &lv) || !scalar_at(&b->r, t, &rv)) {
            continue;
        }
        bool keep;
        double v = tw_ev_binop_float(b->op, lv, rv, &keep);
        if (tw_promql_op_is_comparison(b->op)) {
            v = keep ? 1 : 0; /* scalarBinop's btos */
        }
        tw_ev_series_push(ev, se, t, v);
        n++;
    }
    return n > 0 ? tw_ev_samples_add(ev, n) : 0;
}

/* vec is the vector side, sc the scalar side; swap: the scalar is the left operand. */
static int eval_vector_scalar(binop_t *b, side_t *vec, side_t *sc, bool swap)
{
    tw_ev_t *ev = b->ev;
    bool cmp = tw_promql_op_is_comparison(b->op);
    bool rename = op_drops_name(ev, b->op) || b->ret_bool;
    for (size_t step = 0; step < ev->n_steps; step++) {
        int rc = tw_ev_check_deadline(ev);
        if (rc < 0) {
            return rc;
        }
        int64_t t = ev->start + (int64_t)step * ev->interval;
        double sv;
        bool have_scalar = scalar_at(sc, t, &sv);
        side_gather(vec, t);
        if (!have_scalar) {
            continue;
        }
        for (size_t k = 0; k < vec->at.n; k++) {
            double lf = vec->at.v[k];
            double rf = sv;
            if (swap) {
                lf = sv;
                rf = vec->at.v[k];
            }
            bool keep;
            double v = tw_ev_binop_float(b->op, lf, rf, &keep);
            if (cmp && swap) {
                v = rf; /* a comparison keeps the vector's value */
            }
            if (b->ret_bool) {
                v = keep ? 1 : 0;
                keep = true;
            }
            if (!keep) {
                continue;
            }
            uint32_t i = vec->at.idx[k];
            if (vec->slot[i] == UINT32_MAX) {
                const tw_ev_series_t *se = &vec->m->s[i];
                tw_ev_labels_t m = se->m;
                bool drop = se->drop_name;
                if (rename) {
                    if (b->delayed) {
                        drop = true;
                    } else {
                        m = tw_ev_labels_drop_name(ev, m);
                    }
                }
                vec->slot[i] = out_slot(b, m, drop);
            }
            emit(b, vec->slot[i], v);
        }
        rc = flush_step(b, step, t);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- set operators ---- */

static int eval_set(binop_t *b)
{
    tw_ev_t *ev = b->ev;
    size_t n_sigs = compute_sigs(b);
    uint32_t *mark = arena_array(ev, n_sigs, sizeof(*mark)); /* step + 1 when present */
    side_t *l = &b->l;
    side_t *r = &b->r;
    for (size_t step = 0; step < ev->n_steps; step++) {
        int rc = tw_ev_check_deadline(ev);
        if (rc < 0) {
            return rc;
        }
        int64_t t = ev->start + (int64_t)step * ev->interval;
        uint32_t stamp = (uint32_t)(step + 1);
        side_gather(l, t);
        side_gather(r, t);
        switch (b->op) {
        case TW_PROMQL_OP_AND:
            if (l->at.n == 0 || r->at.n == 0) {
                break;
            }
            for (size_t k = 0; k < r->at.n; k++) {
                mark[r->sig[r->at.idx[k]]] = stamp;
            }
            for (size_t k = 0; k < l->at.n; k++) {
                uint32_t i = l->at.idx[k];
                if (mark[l->sig[i]] == stamp) {
                    emit(b, side_slot(b, l, i), l->at.v[k]);
                }
            }
            break;
        case TW_PROMQL_OP_OR:
            for (size_t k = 0; k < l->at.n; k++) {
                uint32_t i = l->at.idx[k];
                mark[l->sig[i]] = stamp;
                emit(b, side_slot(b, l, i), l->at.v[k]);
            }
            for (size_t k = 0; k < r->at.n; k++) {
                uint32_t i = r->at.idx[k];
                if (mark[r->sig[i]] != stamp) {
                    emit(b, side_slot(b, r, i), r->at.v[k]);
                }
            }
            break;
        default: /* UNLESS */
            if (r->at.n > 0) {
                for (size_t k = 0; k < r->at.n; k++) {
                    mark[r->sig[r->at.idx[k]]] = stamp;
                }
            }
            for (size_t k = 0; k < l->at.n; k++) {
                uint32_t i = l->at.idx[k];
                if (mark[l->sig[i]] != stamp) {
                    emit(b, side_slot(b, l, i), l->at.v[k]);
                }
            }
            break;
        }
        rc = flush_step(b, step, t);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- vector op vector ---- */

/* Matched pairs (many-side series, one-side series) → output series. */
typedef struct pair_cache {
    uint64_t *key; /* (many << 32 | one) + 1; 0 = empty */
    uint32_t *slot;
    size_t cap;
    size_t n;
} pair_cache_t;

static uint32_t *pair_find(binop_t *b, pair_cache_t *pc, uint32_t many, uint32_t one)
{
    if ((pc->n + 1) * 2 > pc->cap) {
        size_t cap = pow2_at_least((pc->n + 1) * 4);
        uint64_t *key = arena_array(b->ev, cap, sizeof(*key));
        uint32_t *slot = arena_array(b->ev, cap, sizeof(*slot));
        for (size_t i = 0; i < pc->cap; i++) {
            if (pc->key[i] == 0) {
                continue;
            }
            size_t j = mix64(pc->key[i]) & (cap - 1);
            while (key[j] != 0) {
                j = (j + 1) & (cap - 1);
            }
            key[j] = pc->key[i];
            slot[j] = pc->slot[i];
        }
        pc->key = key;
        pc->slot = slot;
        pc->cap = cap;
    }
    uint64_t k = (((uint64_t)many << 32) | one) + 1;
    size_t j = mix64(k) & (pc->cap - 1);
    while (pc->key[j] != 0) {
        if (pc->key[j] == k) {
            return &pc->slot[j];
        }
        j = (j + 1) & (pc->cap - 1);
    }
    pc->key[j] = k;
    pc->slot[j] = UINT32_MAX;
    pc->n++;
    return &pc->slot[j];
}

/* Prometheus' resultMetric (plus the name drop of `bool` without delayed name removal). */
static tw_ev_labels_t result_labels(binop_t *b, tw_ev_labels_t ls, tw_ev_labels_t rs)
{
    const tw_promql_expr_t *n = b->node;
    tw_ev_lb_t lb;
    tw_ev_lb_init(&lb, b->ev, ls);
    if (op_drops_name(b->ev, b->op)) {
        tw_ev_lb_del(&lb, TW_METRIC_NAME_LABEL);
    }
    if (n->u.binary.card == TW_PROMQL_CARD_ONE_TO_ONE) {
        if (n->u.binary.on) {
            tw_ev_lb_keep(&lb, (const char *const *)n->u.binary.labels, n->u.binary.n_labels);
        } else {
            for (size_t i = 0; i < n->u.binary.n_labels; i++) {
                tw_ev_lb_del(&lb, n->u.binary.labels[i]);
            }
        }
    }
    for (size_t i = 0; i < n->u.binary.n_include; i++) {
        /* Included labels come from the "one" side. */
        const char *name = n->u.binary.include[i];
        const char *v = tw_ev_labels_get(rs, name);
        if (v != NULL && v[0] != '\0') {
            tw_ev_lb_set(&lb, name, v);
        } else {
            tw_ev_lb_del(&lb, name);
        }
    }
    if (b->ret_bool && !b->delayed) {
        tw_ev_lb_del(&lb, TW_METRIC_NAME_LABEL);
    }
    return tw_ev_lb_finish(&lb);
}

/* The many-to-one duplicate check: (output series, signature) pairs seen at this step. */
typedef struct seen_set {
    uint64_t *key;
    uint32_t *stamp;
    size_t cap;
} seen_set_t;

/* Marks (slot, sig) at stamp; returns whether it was marked already. */
static bool seen_mark(seen_set_t *s, uint32_t slot, uint32_t sig, uint32_t stamp)
{
    uint64_t k = ((uint64_t)slot << 32) | sig;
    size_t j = mix64(k) & (s->cap - 1);
    while (s->stamp[j] == stamp) {
        if (s->key[j] == k) {
            return true;
        }
        j = (j + 1) & (s->cap - 1);
    }
    s->key[j] = k;
    s->stamp[j] = stamp;
    return false;
}

static int fail_duplicate(binop_t *b, tw_ev_labels_t cur, tw_ev_labels_t prev, bool one_to_many)
{
    tw_buf_t ml;
    tw_buf_t a;
    tw_buf_t c;
    tw_buf_init(&ml, MSG_LABELS_MAX);
    tw_buf_init(&a, MSG_LABELS_MAX);
    tw_buf_init(&c, MSG_LABELS_MAX);
    format_labels(b, match_labels(b, cur), &ml);
    format_labels(b, cur, &a);
    format_labels(b, prev, &c);
    int rc = tw_ev_fail(b->ev, TW_EEXEC,
                        "found duplicate series for the match group %s on the %s hand-side of "
                        "the operation: [%s, %s];many-to-many matching not allowed: matching "
                        "labels must be unique on one side",
                        ml.data, one_to_many ? "left" : "right", a.data, c.data);
    tw_buf_fini(&ml);
    tw_buf_fini(&a);
    tw_buf_fini(&c);
    return rc;
}

static int eval_vector_vector(binop_t *b)
{
    tw_ev_t *ev = b->ev;
    tw_promql_card_t card = b->node->u.binary.card;
    bool one_to_many = card == TW_PROMQL_CARD_ONE_TO_MANY;
    size_t n_sigs = compute_sigs(b);
    /* For one-to-many, the right side is the "many" side: swap, and swap back the values. */
    side_t *many = one_to_many ? &b->r : &b->l;
    side_t *one = one_to_many ? &b->l : &b->r;
    uint32_t *right_stamp = arena_array(ev, n_sigs, sizeof(*right_stamp));
    uint32_t *right_idx = arena_array(ev, n_sigs, sizeof(*right_idx));
    double *right_v = arena_array(ev, n_sigs, sizeof(*right_v));
    uint32_t *matched = arena_array(ev, n_sigs, sizeof(*matched));
    seen_set_t seen = {NULL, NULL, 0};
    if (card != TW_PROMQL_CARD_ONE_TO_ONE) {
        seen.cap = pow2_at_least(many->m->n * 2);
        seen.key = arena_array(ev, seen.cap, sizeof(*seen.key));
        seen.stamp = arena_array(ev, seen.cap, sizeof(*seen.stamp));
    }
    pair_cache_t pairs = {NULL, NULL, 0, 0};

    for (size_t step = 0; step < ev->n_steps; step++) {
        int rc = tw_ev_check_deadline(ev);
        if (rc < 0) {
            return rc;
        }
        int64_t t = ev->start + (int64_t)step * ev->interval;
        uint32_t stamp = (uint32_t)(step + 1);
        side_gather(many, t);
        side_gather(one, t);
        if (many->at.n == 0 || one->at.n == 0) {
            continue;
        }
        for (size_t k = 0; k < one->at.n; k++) {
            uint32_t i = one->at.idx[k];
            uint32_t sig = one->sig[i];
            if (right_stamp[sig] == stamp) {
                return fail_duplicate(b, one->m->s[i].m, one->m->s[right_idx[sig]].m, one_to_many);
            }
            right_stamp[sig] = stamp;
            right_idx[sig] = i;
            right_v[sig] = one->at.v[k];
        }
        for (size_t k = 0; k < many->at.n; k++) {
            uint32_t i = many->at.idx[k];
            uint32_t sig = many->sig[i];
            if (right_stamp[sig] != stamp) {
                continue;
            }
            double fl = many->at.v[k];
            double fr = right_v[sig];
            if (one_to_many) {
                fl = right_v[sig];
                fr = many->at.v[k];
            }
            bool keep;
            double v = tw_ev_binop_float(b->op, fl, fr, &keep);
            if (b->ret_bool) {
                v = keep ? 1 : 0;
            } else if (!keep) {
                continue;
            }
            uint32_t j = right_idx[sig];
            uint32_t *slot = pair_find(b, &pairs, i, j);
            if (*slot == UINT32_MAX) {
                tw_ev_labels_t m = result_labels(b, many->m->s[i].m, one->m->s[j].m);
                *slot = out_slot(b, m, b->ret_bool && b->delayed);
            }
            if (card == TW_PROMQL_CARD_ONE_TO_ONE) {
                if (matched[sig] == stamp) {
                    return tw_ev_fail(ev, TW_EEXEC,
                                      "multiple matches for labels: many-to-one matching must "
                                      "be explicit (group_left/group_right)");
                }
                matched[sig] = stamp;
            } else if (seen_mark(&seen, *slot, sig, stamp)) {
                return tw_ev_fail(ev, TW_EEXEC,
                                  "multiple matches for labels: grouping labels must ensure "
                                  "unique matches");
            }
            emit(b, *slot, v);
        }
        rc = flush_step(b, step, t);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

int tw_ev_binop(tw_ev_t *ev, const tw_promql_expr_t *node, const tw_ev_matrix_t *lhs,
                const tw_ev_matrix_t *rhs, tw_ev_matrix_t *out)
{
    binop_t b;
    memset(&b, 0, sizeof(b));
    b.ev = ev;
    b.node = node;
    b.op = node->u.binary.op;
    b.ret_bool = node->u.binary.return_bool;
    b.delayed = ev->opts->delayed_name_removal;
    b.out = out;
    side_init(&b, &b.l, lhs);
    side_init(&b, &b.r, rhs);

    bool ls = tw_promql_expr_type(node->u.binary.lhs) == TW_PROMQL_TYPE_SCALAR;
    bool rs = tw_promql_expr_type(node->u.binary.rhs) == TW_PROMQL_TYPE_SCALAR;
    if (ls && rs) {
        return eval_scalar_scalar(&b);
    }
    if (rs) {
        return eval_vector_scalar(&b, &b.l, &b.r, false);
    }
    if (ls) {
        return eval_vector_scalar(&b, &b.r, &b.l, true);
    }
    if (tw_promql_op_is_set(b.op)) {
        return eval_set(&b);
    }
    return eval_vector_vector(&b);
}
