/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_head.c - the head: active series with their chunks, sharded by striped locks, the
 * series-id table, and the inverted index (label pair -> sorted series ids).
 *
 * Layout and locks:
 * - stripes[hash & mask]: a mutex and a hash chain of the series whose label hash falls there.
 *   The mutex guards those series' mutable fields (chunks, appender state, ooo samples, pending).
 * - pages: series id -> series pointer, a two-level table (4096 ids a page) read lock-free with
 *   atomic loads; written under the owning stripe's lock.
 * - the index: names -> values -> postings, plus the list of all ids, under one rwlock (written
 *   only when a series is created or removed). Lock order: stripe, then index; the interner's
 *   mutex is innermost.
 * Counters are relaxed atomics.
 */
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/hash.h"
#include "common/mem.h"

#define PAGE_BITS 12
#define PAGE_SIZE (1u << PAGE_BITS)
#define NPAGES (1u << 20)

/* ---- a small chained hash map from strings to pointers ---- */

typedef struct smap_ent {
    struct smap_ent *next;
    uint64_t hash;
    const char *key; /* interned */
    void *val;
} smap_ent_t;

typedef struct smap {
    smap_ent_t **b;
    size_t nb; /* power of two, or 0 */
    size_t n;
} smap_t;

static uint64_t str_hash(const char *s)
{
    return tw_hash64(s, strlen(s), 0x5eed);
}

static void *smap_get(const smap_t *m, const char *key)
{
    if (m->nb == 0) {
        return NULL;
    }
    uint64_t h = str_hash(key);
    for (smap_ent_t *e = m->b[h & (m->nb - 1)]; e != NULL; e = e->next) {
        if (e->hash == h && strcmp(e->key, key) == 0) {
            return e->val;
        }
    }
    return NULL;
}

static void smap_put(smap_t *m, const char *key, void *val)
{
    if (m->n >= m->nb) {
        size_t nb = m->nb == 0 ? 8 : m->nb * 2;
        smap_ent_t **b = tw_xcalloc(nb, sizeof(*b));
        for (size_t i = 0; i < m->nb; i++) {
            smap_ent_t *e = m->b[i];
            while (e != NULL) {
                smap_ent_t *nx = e->next;
                e->next = b[e->hash & (nb - 1)];
                b[e->hash & (nb - 1)] = e;
                e = nx;
            }
        }
        free(m->b);
        m->b = b;
        m->nb = nb;
    }
    smap_ent_t *e = tw_xmalloc(sizeof(*e));
    e->hash = str_hash(key);
    e->key = key;
    e->val = val;
    e->next = m->b[e->hash & (m->nb - 1)];
    m->b[e->hash & (m->nb - 1)] = e;
    m->n++;
}

static void smap_del(smap_t *m, const char *key)
{
    if (m->nb == 0) {
        return;
    }
    uint64_t h = str_hash(key);
    smap_ent_t **pp = &m->b[h & (m->nb - 1)];
    while (*pp != NULL) {
        if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0) {
            smap_ent_t *e = *pp;
            *pp = e->next;
            free(e);
            m->n--;
            return;
        }
        pp = &(*pp)->next;
    }
}

/* Calls cb for every entry; cb must not modify the map. */
#define SMAP_FOREACH(m, i, e)                                                                      \
    for (size_t i = 0; i < (m)->nb; i++)                                                           \
        for (smap_ent_t *e = (m)->b[i]; e != NULL; e = e->next)

static void smap_fini(smap_t *m)
{
    for (size_t i = 0; i < m->nb; i++) {
        smap_ent_t *e = m->b[i];
        while (e != NULL) {
            smap_ent_t *nx = e->next;
            free(e);
            e = nx;
        }
    }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

/* ---- the head ---- */

typedef struct lvalue {
    const char *value; /* interned */
    tsdb_postings_t p;
} lvalue_t;

typedef struct lname {
    const char *name; /* interned */
    smap_t values;    /* value -> lvalue_t */
} lname_t;

typedef struct stripe {
    pthread_mutex_t mu;
    tsdb_series_t **b;
    size_t nb;
    size_t n;
} stripe_t;

struct tsdb_head {
    stripe_t *stripes;
    size_t nstripes; /* power of two */
    unsigned chunk_target;
    int64_t ooo_window;
    tsdb_interner_t *in;
    tsdb_series_t **pages[NPAGES];
    pthread_mutex_t pages_mu;
    uint64_t next_ref; /* atomic */
    pthread_rwlock_t idx_mu;
    smap_t names; /* name -> lname_t */
    tsdb_postings_t all;
    int64_t min_valid; /* atomic */
    int64_t mint;      /* atomic: oldest sample time (approximate after truncation) */
    int64_t maxt;      /* atomic */
    uint64_t nseries, nchunks, created, removed, appended, ooo_appended, identical;
    uint64_t rej_ooo, rej_dup, rej_old, truncations;
};

#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

tsdb_head_t *tsdb_head_new(unsigned stripes, unsigned chunk_target, int64_t ooo_window_ms)
{
    tsdb_head_t *h = tw_xcalloc(1, sizeof(*h));
    size_t ns = 1;
    while (ns < stripes) {
        ns *= 2;
    }
    h->nstripes = ns;
    h->stripes = tw_xcalloc(ns, sizeof(*h->stripes));
    for (size_t i = 0; i < ns; i++) {
        pthread_mutex_init(&h->stripes[i].mu, NULL);
    }
    h->chunk_target = chunk_target > 0 ? chunk_target : 120;
    if (h->chunk_target > 65535) {
        h->chunk_target = 65535;
    }
    h->ooo_window = ooo_window_ms;
    h->in = tsdb_interner_new();
    pthread_mutex_init(&h->pages_mu, NULL);
    pthread_rwlock_init(&h->idx_mu, NULL);
    h->next_ref = 1;
    h->min_valid = INT64_MIN;
    h->mint = INT64_MAX;
    h->maxt = INT64_MIN;
    return h;
}

static void series_free_data(tsdb_series_t *s)
{
    for (uint32_t i = 0; i < s->nchunks; i++) {
        tsdb_chunk_fini(&s->chunks[i]);
    }
    free(s->chunks);
    tsdb_chunk_fini(&s->head);
    free(s->ooo);
}

void tsdb_head_free(tsdb_head_t *h)
{
    if (h == NULL) {
        return;
    }
    for (size_t i = 0; i < h->nstripes; i++) {
        stripe_t *st = &h->stripes[i];
        for (size_t j = 0; j < st->nb; j++) {
            tsdb_series_t *s = st->b[j];
            while (s != NULL) {
                tsdb_series_t *nx = s->next;
                series_free_data(s);
                free(s);
                s = nx;
            }
        }
        free(st->b);
        pthread_mutex_destroy(&st->mu);
    }
    free(h->stripes);
    SMAP_FOREACH(&h->names, ni, e)
    {
        lname_t *ln = e->val;
        SMAP_FOREACH(&ln->values, vi, ve)
        {
            lvalue_t *lv = ve->val;
            tsdb_postings_fini(&lv->p);
            free(lv);
        }
        smap_fini(&ln->values);
        free(ln);
    }
    smap_fini(&h->names);
    tsdb_postings_fini(&h->all);
    for (size_t i = 0; i < NPAGES; i++) {
        free(h->pages[i]);
    }
    tsdb_interner_free(h->in);
    pthread_mutex_destroy(&h->pages_mu);
    pthread_rwlock_destroy(&h->idx_mu);
    free(h);
}

static stripe_t *stripe_of(tsdb_head_t *h, uint64_t hash)
{
    return &h->stripes[hash & (h->nstripes - 1)];
}

void tsdb_head_lock(tsdb_head_t *h, const tsdb_series_t *s)
{
    pthread_mutex_lock(&stripe_of(h, s->hash)->mu);
}

void tsdb_head_unlock(tsdb_head_t *h, const tsdb_series_t *s)
{
    pthread_mutex_unlock(&stripe_of(h, s->hash)->mu);
}

tsdb_series_t *tsdb_head_by_ref(tsdb_head_t *h, uint64_t ref)
{
    if (ref == 0 || (ref >> PAGE_BITS) >= NPAGES) {
        return NULL;
    }
    tsdb_series_t **page = __atomic_load_n(&h->pages[ref >> PAGE_BITS], __ATOMIC_ACQUIRE);
    if (page == NULL) {
        return NULL;
    }
    return __atomic_load_n(&page[ref & (PAGE_SIZE - 1)], __ATOMIC_ACQUIRE);
}

static void pages_set(tsdb_head_t *h, uint64_t ref, tsdb_series_t *s)
{
    tsdb_series_t **page = __atomic_load_n(&h->pages[ref >> PAGE_BITS], __ATOMIC_ACQUIRE);
    if (page == NULL) {
        pthread_mutex_lock(&h->pages_mu);
        page = h->pages[ref >> PAGE_BITS];
        if (page == NULL) {
            page = tw_xcalloc(PAGE_SIZE, sizeof(*page));
            __atomic_store_n(&h->pages[ref >> PAGE_BITS], page, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&h->pages_mu);
    }
    __atomic_store_n(&page[ref & (PAGE_SIZE - 1)], s, __ATOMIC_RELEASE);
}

static bool labels_equal(const tsdb_series_t *s, const tw_label_t *l, size_t n)
{
    if (s->nlabels != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s->labels[i].name, l[i].name) != 0 ||
            strcmp(s->labels[i].value, l[i].value) != 0) {
            return false;
        }
    }
    return true;
}

static void stripe_insert(stripe_t *st, tsdb_series_t *s)
{
    if (st->n >= st->nb) {
        size_t nb = st->nb == 0 ? 4 : st->nb * 2;
        tsdb_series_t **b = tw_xcalloc(nb, sizeof(*b));
        for (size_t i = 0; i < st->nb; i++) {
            tsdb_series_t *e = st->b[i];
            while (e != NULL) {
                tsdb_series_t *nx = e->next;
                /* The stripe index used the low bits; use the high ones inside the stripe. */
                size_t k = (size_t)(e->hash >> 32) & (nb - 1);
                e->next = b[k];
                b[k] = e;
                e = nx;
            }
        }
        free(st->b);
        st->b = b;
        st->nb = nb;
    }
    size_t k = (size_t)(s->hash >> 32) & (st->nb - 1);
    s->next = st->b[k];
    st->b[k] = s;
    st->n++;
}

static void index_add(tsdb_head_t *h, tsdb_series_t *s)
{
    pthread_rwlock_wrlock(&h->idx_mu);
    for (size_t i = 0; i < s->nlabels; i++) {
        lname_t *ln = smap_get(&h->names, s->labels[i].name);
        if (ln == NULL) {
            ln = tw_xcalloc(1, sizeof(*ln));
            ln->name = s->labels[i].name;
            smap_put(&h->names, ln->name, ln);
        }
        lvalue_t *lv = smap_get(&ln->values, s->labels[i].value);
        if (lv == NULL) {
            lv = tw_xcalloc(1, sizeof(*lv));
            lv->value = s->labels[i].value;
            smap_put(&ln->values, lv->value, lv);
        }
        tsdb_postings_insert(&lv->p, s->ref);
    }
    tsdb_postings_insert(&h->all, s->ref);
    pthread_rwlock_unlock(&h->idx_mu);
}

static void index_del(tsdb_head_t *h, tsdb_series_t *s)
{
    pthread_rwlock_wrlock(&h->idx_mu);
    for (size_t i = 0; i < s->nlabels; i++) {
        lname_t *ln = smap_get(&h->names, s->labels[i].name);
        if (ln == NULL) {
            continue;
        }
        lvalue_t *lv = smap_get(&ln->values, s->labels[i].value);
        if (lv == NULL) {
            continue;
        }
        tsdb_postings_remove(&lv->p, s->ref);
        if (lv->p.n == 0) {
            smap_del(&ln->values, lv->value);
            tsdb_postings_fini(&lv->p);
            free(lv);
        }
        if (ln->values.n == 0) {
            smap_del(&h->names, ln->name);
            smap_fini(&ln->values);
            free(ln);
        }
    }
    tsdb_postings_remove(&h->all, s->ref);
    pthread_rwlock_unlock(&h->idx_mu);
}

/* Folds one string into a label-set hash: 8 bytes per multiply, then the tail with its length
 * (so that ("a", "bc") and ("ab", "c") differ). */
static uint64_t hash_fold(uint64_t h, const char *str)
{
    const unsigned char *p = (const unsigned char *)str;
    size_t n = strlen(str);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h = (h << 31) | (h >> 33);
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w ^ ((uint64_t)(n + 1) << 56)) * 0xC2B2AE3D27D4EB4FULL;
    return h ^ (h >> 29);
}

/*
 * The head's hash of a label set. Only ever used in memory (stripe and bucket choice, never
 * stored), so it is free to be cheaper than tw_labels_hash(): one pass over the strings and
 * one finalizer, instead of a finalizer per string.
 */
static uint64_t head_labels_hash(const tw_label_t *labels, size_t n)
{
    uint64_t h = 0x7461646577617463ULL ^ (uint64_t)n;
    for (size_t i = 0; i < n; i++) {
        h = hash_fold(h, labels[i].name);
        h = hash_fold(h, labels[i].value);
    }
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 33);
}

/* get_or_create; when locked, returns with the series' stripe lock held (not when NULL). */
static tsdb_series_t *get_or_create(tsdb_head_t *h, const tw_label_t *labels, size_t n,
                                    uint64_t ref, bool pin, bool locked, bool *created)
{
    uint64_t hash = head_labels_hash(labels, n);
    stripe_t *st = stripe_of(h, hash);
    *created = false;
    pthread_mutex_lock(&st->mu);
    if (st->nb > 0) {
        for (tsdb_series_t *s = st->b[(size_t)(hash >> 32) & (st->nb - 1)]; s != NULL;
             s = s->next) {
            if (s->hash == hash && labels_equal(s, labels, n)) {
                if (pin) {
                    s->pending++;
                }
                if (!locked) {
                    pthread_mutex_unlock(&st->mu);
                }
                return s;
            }
        }
    }
    if (ref == 0) {
        ref = __atomic_fetch_add(&h->next_ref, 1, __ATOMIC_RELAXED);
    } else {
        uint64_t cur = LOAD(&h->next_ref);
        while (cur <= ref && !__atomic_compare_exchange_n(&h->next_ref, &cur, ref + 1, false,
                                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        }
    }
    if ((ref >> PAGE_BITS) >= NPAGES || tsdb_head_by_ref(h, ref) != NULL) {
        pthread_mutex_unlock(&st->mu);
        return NULL;
    }
    tsdb_series_t *s = tw_xcalloc(1, sizeof(*s) + n * sizeof(tw_label_t));
    s->ref = ref;
    s->hash = hash;
    s->nlabels = (uint16_t)n;
    for (size_t i = 0; i < n; i++) {
        s->labels[i].name = tsdb_intern(h->in, labels[i].name);
        s->labels[i].value = tsdb_intern(h->in, labels[i].value);
    }
    if (pin) {
        s->pending = 1;
    }
    stripe_insert(st, s);
    pages_set(h, ref, s);
    index_add(h, s);
    if (!locked) {
        pthread_mutex_unlock(&st->mu);
    }
    ADD(&h->nseries, 1);
    ADD(&h->created, 1);
    *created = true;
    return s;
}

tsdb_series_t *tsdb_head_get_or_create(tsdb_head_t *h, const tw_label_t *labels, size_t n,
                                       uint64_t ref, bool pin, bool *created)
{
    return get_or_create(h, labels, n, ref, pin, false, created);
}

tsdb_series_t *tsdb_head_get_or_create_locked(tsdb_head_t *h, const tw_label_t *labels, size_t n,
                                              bool *created)
{
    return get_or_create(h, labels, n, 0, false, true, created);
}

void tsdb_head_unpin(tsdb_head_t *h, tsdb_series_t *s)
{
    tsdb_head_lock(h, s);
    s->pending--;
    tsdb_head_unlock(h, s);
}

/* Finds a stored sample at t (chunks or ooo). Returns true with *vbits. Series locked. */
static bool find_sample(const tsdb_series_t *s, int64_t t, uint64_t *vbits)
{
    size_t lo = 0, hi = s->nooo;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->ooo[mid].t < t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < s->nooo && s->ooo[lo].t == t) {
        *vbits = s->ooo[lo].vbits;
        return true;
    }
    for (uint32_t i = 0; i <= s->nchunks; i++) {
        const tsdb_chunk_t *c = i < s->nchunks ? &s->chunks[i] : &s->head;
        if (c->data == NULL || t < c->mint || t > c->maxt) {
            continue;
        }
        tsdb_xor_iter_t it;
        tsdb_xor_iter_init(&it, c->data, tsdb_chunk_bytes(c));
        while (tsdb_xor_iter_next(&it)) {
            if (it.st.t == t) {
                *vbits = it.st.vbits;
                return true;
            }
            if (it.st.t > t) {
                break;
            }
        }
    }
    return false;
}

int tsdb_head_check(tsdb_head_t *h, const tsdb_series_t *s, int64_t t, uint64_t vbits,
                    tsdb_append_res_t *res)
{
    if (t < LOAD(&h->min_valid)) {
        return TW_ETOOOLD;
    }
    if (!s->has_samples || t > s->last_t) {
        *res = TSDB_APPEND_OK;
        return 0;
    }
    uint64_t have;
    if (t == s->last_t || find_sample(s, t, &have)) {
        if (t == s->last_t) {
            have = s->last_vbits;
        }
        if (have == vbits) {
            *res = TSDB_APPEND_IDENTICAL;
            return 0;
        }
        return TW_EDUPLICATE;
    }
    int64_t maxt = LOAD(&h->maxt);
    if (h->ooo_window > 0 && t >= maxt - h->ooo_window) {
        *res = TSDB_APPEND_OOO;
        return 0;
    }
    return TW_EOUTOFORDER;
}

void tsdb_head_count_reject(tsdb_head_t *h, int code)
{
    switch (code) {
    case TW_EOUTOFORDER:
        ADD(&h->rej_ooo, 1);
        break;
    case TW_EDUPLICATE:
        ADD(&h->rej_dup, 1);
        break;
    case TW_ETOOOLD:
        ADD(&h->rej_old, 1);
        break;
    default:
        break;
    }
}

void tsdb_head_count_identical(tsdb_head_t *h)
{
    ADD(&h->identical, 1);
}

static void update_bounds(tsdb_head_t *h, int64_t t)
{
    int64_t cur = LOAD(&h->maxt);
    while (t > cur && !__atomic_compare_exchange_n(&h->maxt, &cur, t, false, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED)) {
    }
    cur = LOAD(&h->mint);
    while (t < cur && !__atomic_compare_exchange_n(&h->mint, &cur, t, false, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED)) {
    }
}

int tsdb_head_append(tsdb_head_t *h, tsdb_series_t *s, int64_t t, uint64_t vbits,
                     tsdb_append_res_t *res)
{
    int rc = tsdb_head_check(h, s, t, vbits, res);
    if (rc != 0) {
        tsdb_head_count_reject(h, rc);
        return rc;
    }
    double v;
    memcpy(&v, &vbits, sizeof(v));
    switch (*res) {
    case TSDB_APPEND_IDENTICAL:
        ADD(&h->identical, 1);
        return 0;
    case TSDB_APPEND_OK:
        if (s->head.data == NULL) {
            tsdb_chunk_init(&s->head, &s->app);
            ADD(&h->nchunks, 1);
        }
        tsdb_chunk_append(&s->head, &s->app, t, v);
        s->last_t = t;
        s->last_vbits = vbits;
        s->has_samples = 1;
        if (s->app.n >= h->chunk_target) {
            /* Cut: the chunk becomes immutable; the next sample opens a new one. */
            tsdb_chunk_trim(&s->head);
            if (s->nchunks == s->chunks_cap) {
                s->chunks_cap = s->chunks_cap == 0 ? 2 : s->chunks_cap * 2;
                s->chunks = tw_xrealloc(s->chunks, s->chunks_cap * sizeof(*s->chunks));
            }
            s->chunks[s->nchunks++] = s->head;
            memset(&s->head, 0, sizeof(s->head));
        }
        break;
    case TSDB_APPEND_OOO: {
        size_t lo = 0, hi = s->nooo;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (s->ooo[mid].t < t) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (s->nooo == s->ooo_cap) {
            s->ooo_cap = s->ooo_cap == 0 ? 4 : s->ooo_cap * 2;
            s->ooo = tw_xrealloc(s->ooo, s->ooo_cap * sizeof(*s->ooo));
        }
        memmove(s->ooo + lo + 1, s->ooo + lo, (s->nooo - lo) * sizeof(*s->ooo));
        s->ooo[lo].t = t;
        s->ooo[lo].vbits = vbits;
        s->nooo++;
        ADD(&h->ooo_appended, 1);
        break;
    }
    }
    ADD(&h->appended, 1);
    update_bounds(h, t);
    return 0;
}

/* ---- index queries ---- */

/* Union of the postings of name's values that m accepts (want = true) or rejects. */
static void matcher_union(tsdb_head_t *h, const tw_matcher_t *m, bool want, tsdb_postings_t *out)
{
    out->n = 0;
    lname_t *ln = smap_get(&h->names, m->name);
    if (ln == NULL) {
        return;
    }
    if (m->type == TW_MATCH_EQ && want) {
        lvalue_t *lv = smap_get(&ln->values, m->value);
        if (lv != NULL) {
            const tsdb_postings_t *one = &lv->p;
            tsdb_postings_union(&one, 1, out);
        }
        return;
    }
    const tsdb_postings_t **lists = NULL;
    size_t n = 0, cap = 0;
    SMAP_FOREACH(&ln->values, vi, e)
    {
        lvalue_t *lv = e->val;
        if (tw_matcher_matches(m, lv->value) == want) {
            tw_grow((void **)&lists, &cap, n + 1, sizeof(*lists));
            lists[n++] = &lv->p;
        }
    }
    if (n > 0) {
        tsdb_postings_union(lists, n, out);
    }
    free(lists);
}

static int head_union(void *ctx, const tw_matcher_t *m, bool want, tsdb_postings_t *out,
                      tw_error_t *err)
{
    (void)err;
    matcher_union(ctx, m, want, out);
    return 0;
}

static int head_all(void *ctx, tsdb_postings_t *out, tw_error_t *err)
{
    (void)err;
    const tsdb_postings_t *all = &((tsdb_head_t *)ctx)->all;
    tsdb_postings_union(&all, 1, out);
    return 0;
}

void tsdb_head_postings_for_matchers(tsdb_head_t *h, const tw_matcher_t *ms, size_t n,
                                     tsdb_postings_t *out)
{
    const tsdb_postings_source_t src = {h, head_union, head_all};
    pthread_rwlock_rdlock(&h->idx_mu);
    (void)tsdb_postings_for_matchers(&src, ms, n, out, NULL); /* the head's lookups cannot fail */
    pthread_rwlock_unlock(&h->idx_mu);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void tsdb_head_label_names(tsdb_head_t *h, const char ***out, size_t *n)
{
    pthread_rwlock_rdlock(&h->idx_mu);
    const char **arr = tw_xmalloc((h->names.n + 1) * sizeof(*arr));
    size_t k = 0;
    SMAP_FOREACH(&h->names, ni, e)
    {
        arr[k++] = e->key;
    }
    pthread_rwlock_unlock(&h->idx_mu);
    qsort(arr, k, sizeof(*arr), cmp_str);
    *out = arr;
    *n = k;
}

void tsdb_head_label_values(tsdb_head_t *h, const char *name, const char ***out, size_t *n)
{
    pthread_rwlock_rdlock(&h->idx_mu);
    lname_t *ln = smap_get(&h->names, name);
    size_t cnt = ln != NULL ? ln->values.n : 0;
    const char **arr = tw_xmalloc((cnt + 1) * sizeof(*arr));
    size_t k = 0;
    if (ln != NULL) {
        SMAP_FOREACH(&ln->values, vi, e)
        {
            arr[k++] = e->key;
        }
    }
    pthread_rwlock_unlock(&h->idx_mu);
    qsort(arr, k, sizeof(*arr), cmp_str);
    *out = arr;
    *n = k;
}

size_t tsdb_head_postings_len(tsdb_head_t *h, const char *name, const char *value)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&h->idx_mu);
    lname_t *ln = smap_get(&h->names, name);
    lvalue_t *lv = ln != NULL ? smap_get(&ln->values, value) : NULL;
    if (lv != NULL) {
        n = lv->p.n;
    }
    pthread_rwlock_unlock(&h->idx_mu);
    return n;
}

/* ---- truncation ---- */

static void series_truncate(tsdb_head_t *h, tsdb_series_t *s, int64_t mint)
{
    uint32_t keep = 0;
    for (uint32_t i = 0; i < s->nchunks; i++) {
        if (s->chunks[i].maxt < mint) {
            tsdb_chunk_fini(&s->chunks[i]);
            ADD(&h->nchunks, (uint64_t)-1);
        } else {
            s->chunks[keep++] = s->chunks[i];
        }
    }
    s->nchunks = keep;
    if (s->head.data != NULL && s->head.maxt < mint) {
        tsdb_chunk_fini(&s->head);
        memset(&s->app, 0, sizeof(s->app));
        ADD(&h->nchunks, (uint64_t)-1);
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->nooo; i++) {
        if (s->ooo[i].t >= mint) {
            s->ooo[k++] = s->ooo[i];
        }
    }
    s->nooo = k;
}

void tsdb_head_truncate(tsdb_head_t *h, int64_t mint)
{
    int64_t cur = LOAD(&h->min_valid);
    if (mint > cur) {
        __atomic_store_n(&h->min_valid, mint, __ATOMIC_RELAXED);
    }
    int64_t newmin = INT64_MAX;
    for (size_t i = 0; i < h->nstripes; i++) {
        stripe_t *st = &h->stripes[i];
        pthread_mutex_lock(&st->mu);
        for (size_t j = 0; j < st->nb; j++) {
            tsdb_series_t **pp = &st->b[j];
            while (*pp != NULL) {
                tsdb_series_t *s = *pp;
                series_truncate(h, s, mint);
                bool empty = s->nchunks == 0 && s->head.data == NULL && s->nooo == 0;
                if (!empty) {
                    int64_t m = s->nchunks > 0 ? s->chunks[0].mint
                                               : (s->head.data != NULL ? s->head.mint : INT64_MAX);
                    if (s->nooo > 0 && s->ooo[0].t < m) {
                        m = s->ooo[0].t;
                    }
                    if (m < newmin) {
                        newmin = m;
                    }
                }
                if (!empty || s->pending > 0) {
                    pp = &s->next;
                    continue;
                }
                *pp = s->next;
                st->n--;
                pages_set(h, s->ref, NULL);
                index_del(h, s);
                for (size_t l = 0; l < s->nlabels; l++) {
                    tsdb_unintern(h->in, s->labels[l].name);
                    tsdb_unintern(h->in, s->labels[l].value);
                }
                series_free_data(s);
                free(s);
                ADD(&h->nseries, (uint64_t)-1);
                ADD(&h->removed, 1);
            }
        }
        pthread_mutex_unlock(&st->mu);
    }
    __atomic_store_n(&h->mint, newmin, __ATOMIC_RELAXED);
    if (newmin == INT64_MAX) {
        /* Keep maxt: it anchors the out-of-order window and min_valid keeps the rest. */
    }
    ADD(&h->truncations, 1);
}

void tsdb_head_foreach(tsdb_head_t *h, void (*cb)(void *ctx, tsdb_series_t *s), void *ctx)
{
    for (size_t i = 0; i < h->nstripes; i++) {
        stripe_t *st = &h->stripes[i];
        for (size_t j = 0; j < st->nb; j++) {
            for (tsdb_series_t *s = st->b[j]; s != NULL; s = s->next) {
                cb(ctx, s);
            }
        }
    }
}

void tsdb_head_stats_get(tsdb_head_t *h, tsdb_head_stats_t *st)
{
    st->series = LOAD(&h->nseries);
    st->chunks = LOAD(&h->nchunks);
    st->created = LOAD(&h->created);
    st->removed = LOAD(&h->removed);
    st->appended = LOAD(&h->appended);
    st->ooo_appended = LOAD(&h->ooo_appended);
    st->identical = LOAD(&h->identical);
    st->rej_ooo = LOAD(&h->rej_ooo);
    st->rej_dup = LOAD(&h->rej_dup);
    st->rej_old = LOAD(&h->rej_old);
    st->truncations = LOAD(&h->truncations);
    st->mint = LOAD(&h->mint);
    st->maxt = LOAD(&h->maxt);
}

int64_t tsdb_head_min_valid(tsdb_head_t *h)
{
    return LOAD(&h->min_valid);
}
