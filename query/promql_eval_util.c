/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_eval_util.c - the small helpers every part of the PromQL evaluator uses: errors and
 * annotations, the sample limit and the deadline, growable vectors and series in the query's
 * arena, a label-set builder, label hashing, and Go-style %g formatting for messages.
 *
 * Thread model: everything works on one tw_ev_t, owned by one thread.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/timeutil.h"
#include "query/promql_eval_int.h"

int tw_ev_fail(tw_ev_t *ev, int code, const char *fmt, ...)
{
    if (ev->err_code == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ev->err_msg, sizeof(ev->err_msg), fmt, ap);
        va_end(ap);
        ev->err_code = code;
    }
    return ev->err_code;
}

/* "line:col" of byte offset pos in the query, like Prometheus' PositionRange.StartPosInput. */
static void pos_format(const char *query, uint32_t pos, char *out, size_t outsz)
{
    size_t len = query != NULL ? strlen(query) : 0;
    if (pos > len) {
        snprintf(out, outsz, "invalid position");
        return;
    }
    int line = 1;
    uint32_t line_start = 0;
    for (uint32_t i = 0; i < pos; i++) {
        if (query[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    snprintf(out, outsz, "%d:%u", line, pos - line_start + 1);
}

static void annotate(tw_ev_t *ev, bool warning, tw_promql_pos_t pos, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    char where[48];
    pos_format(ev->query, pos.start, where, sizeof(where));
    char *s =
        tw_arena_printf(ev->arena, "PromQL %s: %s (%s)", warning ? "warning" : "info", msg, where);
    char ***list = warning ? &ev->warnings : &ev->infos;
    size_t *n = warning ? &ev->n_warnings : &ev->n_infos;
    size_t *cap = warning ? &ev->cap_warnings : &ev->cap_infos;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*list)[i], s) == 0) {
            return;
        }
    }
    if (*n == *cap) {
        size_t ncap = *cap == 0 ? 8 : *cap * 2;
        char **nl = tw_arena_alloc(ev->arena, ncap * sizeof(*nl));
        if (*n > 0) {
            memcpy(nl, *list, *n * sizeof(*nl));
        }
        *list = nl;
        *cap = ncap;
    }
    (*list)[(*n)++] = s;
}

void tw_ev_warn(tw_ev_t *ev, tw_promql_pos_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    annotate(ev, true, pos, fmt, ap);
    va_end(ap);
}

void tw_ev_info(tw_ev_t *ev, tw_promql_pos_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    annotate(ev, false, pos, fmt, ap);
    va_end(ap);
}

int tw_ev_samples_add(tw_ev_t *ev, size_t n)
{
    ev->cur_samples += n;
    if (ev->cur_samples > ev->peak_samples) {
        ev->peak_samples = ev->cur_samples;
    }
    if (ev->cur_samples > ev->opts->max_samples) {
        return tw_ev_fail(ev, TW_EEXEC,
                          "query processing would load too many samples into memory in query "
                          "execution");
    }
    return 0;
}

void tw_ev_samples_release(tw_ev_t *ev, size_t n)
{
    ev->cur_samples = n > ev->cur_samples ? 0 : ev->cur_samples - n;
}

int tw_ev_check_deadline(tw_ev_t *ev)
{
    if (ev->err_code != 0) {
        return ev->err_code;
    }
    if (ev->deadline_ns != 0 && tw_mono_ns() > ev->deadline_ns) {
        return tw_ev_fail(ev, TW_ETIMEOUT, "query timed out in query execution");
    }
    return 0;
}

/* Grows an arena array of elem-size items to at least need items; returns the new pointer. */
static void *grow(tw_ev_t *ev, void *p, size_t n, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return p;
    }
    size_t ncap = *cap == 0 ? 4 : *cap * 2;
    while (ncap < need) {
        ncap *= 2;
    }
    void *np = tw_arena_alloc(ev->arena, ncap * elem);
    if (n > 0) {
        memcpy(np, p, n * elem);
    }
    *cap = ncap;
    return np;
}

void tw_ev_vector_push(tw_ev_t *ev, tw_ev_vector_t *v, tw_ev_labels_t m, int64_t t, double f,
                       bool drop_name)
{
    v->s = grow(ev, v->s, v->n, &v->cap, v->n + 1, sizeof(*v->s));
    v->s[v->n++] = (tw_ev_sample_t){.m = m, .t = t, .f = f, .drop_name = drop_name};
}

void tw_ev_series_push(tw_ev_t *ev, tw_ev_series_t *s, int64_t t, double f)
{
    s->p = grow(ev, s->p, s->n, &s->cap, s->n + 1, sizeof(*s->p));
    s->p[s->n++] = (tw_promql_point_t){.t = t, .v = f};
}

tw_ev_series_t *tw_ev_matrix_add(tw_ev_t *ev, tw_ev_matrix_t *m, tw_ev_labels_t labels,
                                 bool drop_name)
{
    m->s = grow(ev, m->s, m->n, &m->cap, m->n + 1, sizeof(*m->s));
    tw_ev_series_t *s = &m->s[m->n++];
    *s = (tw_ev_series_t){.m = labels, .drop_name = drop_name};
    return s;
}

void tw_ev_lb_init(tw_ev_lb_t *b, tw_ev_t *ev, tw_ev_labels_t base)
{
    b->ev = ev;
    b->n = base.n;
    b->cap = base.n + 4;
    b->l = tw_arena_alloc(ev->arena, b->cap * sizeof(*b->l));
    if (base.n > 0) {
        memcpy(b->l, base.l, base.n * sizeof(*b->l));
    }
}

void tw_ev_lb_del(tw_ev_lb_t *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->l[i].name, name) == 0) {
            memmove(&b->l[i], &b->l[i + 1], (b->n - i - 1) * sizeof(*b->l));
            b->n--;
            return;
        }
    }
}

void tw_ev_lb_set(tw_ev_lb_t *b, const char *name, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        tw_ev_lb_del(b, name);
        return;
    }
    /* Keep the array sorted: find the slot. */
    size_t i = 0;
    while (i < b->n) {
        int c = strcmp(b->l[i].name, name);
        if (c == 0) {
            b->l[i].value = value;
            return;
        }
        if (c > 0) {
            break;
        }
        i++;
    }
    b->l = grow(b->ev, b->l, b->n, &b->cap, b->n + 1, sizeof(*b->l));
    memmove(&b->l[i + 1], &b->l[i], (b->n - i) * sizeof(*b->l));
    b->l[i] = (tw_label_t){.name = name, .value = value};
    b->n++;
}

void tw_ev_lb_keep(tw_ev_lb_t *b, const char *const *names, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < b->n; i++) {
        bool keep = false;
        for (size_t j = 0; j < n && !keep; j++) {
            keep = strcmp(b->l[i].name, names[j]) == 0;
        }
        if (keep) {
            b->l[w++] = b->l[i];
        }
    }
    b->n = w;
}

tw_ev_labels_t tw_ev_lb_finish(tw_ev_lb_t *b)
{
    /* The builder's array is already sorted and in the arena: hand it over. */
    tw_ev_labels_t out = {.l = b->l, .n = (uint32_t)b->n};
    b->l = NULL;
    b->n = 0;
    b->cap = 0;
    return out;
}

tw_ev_labels_t tw_ev_labels_drop_name(tw_ev_t *ev, tw_ev_labels_t m)
{
    for (uint32_t i = 0; i < m.n; i++) {
        if (strcmp(m.l[i].name, TW_METRIC_NAME_LABEL) == 0) {
            tw_label_t *l = NULL;
            if (m.n > 1) {
                l = tw_arena_alloc(ev->arena, (m.n - 1) * sizeof(*l));
                memcpy(l, m.l, i * sizeof(*l));
                memcpy(l + i, m.l + i + 1, (m.n - i - 1) * sizeof(*l));
            }
            return (tw_ev_labels_t){.l = l, .n = m.n - 1};
        }
    }
    return m;
}

const char *tw_ev_labels_get(tw_ev_labels_t m, const char *name)
{
    for (uint32_t i = 0; i < m.n; i++) {
        if (strcmp(m.l[i].name, name) == 0) {
            return m.l[i].value;
        }
    }
    return NULL;
}

uint64_t tw_ev_labels_hash(tw_ev_labels_t m)
{
    return tw_labels_hash(m.l, m.n);
}

bool tw_ev_labels_equal(tw_ev_labels_t a, tw_ev_labels_t b)
{
    if (a.n != b.n) {
        return false;
    }
    if (a.l == b.l) {
        return true;
    }
    for (uint32_t i = 0; i < a.n; i++) {
        if ((a.l[i].name != b.l[i].name && strcmp(a.l[i].name, b.l[i].name) != 0) ||
            (a.l[i].value != b.l[i].value && strcmp(a.l[i].value, b.l[i].value) != 0)) {
            return false;
        }
    }
    return true;
}

uint64_t tw_ev_labels_hash_for(tw_ev_labels_t m, const char *const *names, size_t n, bool include)
{
    uint64_t h = 0x7461646577617463ULL;
    for (uint32_t i = 0; i < m.n; i++) {
        bool listed = false;
        for (size_t j = 0; j < n && !listed; j++) {
            listed = strcmp(m.l[i].name, names[j]) == 0;
        }
        bool use = include ? listed : (!listed && strcmp(m.l[i].name, TW_METRIC_NAME_LABEL) != 0);
        if (!use) {
            continue;
        }
        h = tw_hash_combine(h, tw_hash64(m.l[i].name, strlen(m.l[i].name), 1));
        h = tw_hash_combine(h, tw_hash64(m.l[i].value, strlen(m.l[i].value), 2));
    }
    return h;
}

bool tw_ev_is_stale(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits == TW_EV_STALE_NAN_BITS;
}

/*
 * Go's fmt %g for a float64: the shortest digits that read back exactly, in %e form when the
 * decimal exponent is < -4 or >= 6 (strconv's 'g' with precision -1 decides with precision 6),
 * with an exponent of at least two digits ("1e+06", "1.5e-05").
 */
int tw_ev_format_g(double v, tw_buf_t *out)
{
    if (isnan(v)) {
        return tw_buf_puts(out, "NaN");
    }
    if (isinf(v)) {
        return tw_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    }
    if (v == 0) {
        return tw_buf_puts(out, signbit(v) ? "-0" : "0");
    }
    char e[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, v);
        if (strtod(e, NULL) == v) {
            break;
        }
    }
    char *ep = strchr(e, 'e');
    if (ep == NULL) {
        return tw_buf_puts(out, e);
    }
    long exp = strtol(ep + 1, NULL, 10);
    if (exp < -4 || exp >= 6) {
        /* C prints at least two exponent digits like Go: keep the form. */
        return tw_buf_puts(out, e);
    }
    /* Fixed notation with just the significant digits. */
    int sig = 0;
    for (const char *p = e; p < ep; p++) {
        if (*p >= '0' && *p <= '9') {
            sig++;
        }
    }
    int decimals = sig - 1 - (int)exp;
    if (decimals < 0) {
        decimals = 0;
    }
    return tw_buf_printf(out, "%.*f", decimals, v);
}
