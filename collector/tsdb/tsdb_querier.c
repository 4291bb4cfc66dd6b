/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_querier.c - reading the head: queriers, series sets sorted by labels, and sample
 * iterators that merge a series' in-order chunks with its out-of-order samples.
 *
 * A querier registers as a reader so head truncation cannot free series under it. An iterator is
 * a snapshot taken under the series' stripe lock: pointers to the closed (immutable) chunks that
 * overlap [mint, maxt], a private copy of the open chunk's bytes (appends keep writing to it) and
 * a copy of the out-of-order samples in range; decoding then runs without any lock.
 * Thread model: one querier (and its sets and iterators) per thread at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/mem.h"

struct tw_tsdb_querier {
    tw_tsdb_t *db;
    tsdb_head_t *head;
    int64_t mint, maxt;
};

struct tw_tsdb_series_set {
    tw_tsdb_querier_t *q;
    tsdb_series_t **s;
    size_t n;
    size_t next; /* index of the next series; current is next - 1 */
};

typedef struct chunk_view {
    const uint8_t *data;
    size_t len;
    int64_t mint, maxt;
} chunk_view_t;

struct tw_tsdb_iter {
    tw_tsdb_querier_t *q;
    int64_t mint, maxt;
    chunk_view_t *chunks;
    size_t nchunks, chunks_cap, ci;
    uint8_t *head_copy;
    size_t head_cap;
    tsdb_xor_iter_t xi;
    bool xi_valid;
    tsdb_sample_t *ooo;
    size_t nooo, ooo_cap, oi;
    bool has_c; /* lookahead from the chunks */
    int64_t ct;
    uint64_t cv;
    bool started;
    int64_t t;
    uint64_t vbits;
    int err;
};

tw_tsdb_querier_t *tw_tsdb_querier_new(tw_tsdb_t *db, int64_t mint, int64_t maxt)
{
    tw_tsdb_querier_t *q = tw_xcalloc(1, sizeof(*q));
    q->db = db;
    q->head = tsdb_db_head(db);
    q->mint = mint;
    q->maxt = maxt;
    tsdb_db_reader_enter(db);
    return q;
}

void tw_tsdb_querier_free(tw_tsdb_querier_t *q)
{
    if (q == NULL) {
        return;
    }
    tsdb_db_reader_leave(q->db);
    free(q);
}

/* With s locked: does it have a sample in [mint, maxt]? */
static bool overlaps(const tsdb_series_t *s, int64_t mint, int64_t maxt)
{
    for (uint32_t i = 0; i <= s->nchunks; i++) {
        const tsdb_chunk_t *c = i < s->nchunks ? &s->chunks[i] : &s->head;
        if (c->data != NULL && c->maxt >= mint && c->mint <= maxt) {
            return true;
        }
    }
    for (uint32_t i = 0; i < s->nooo; i++) {
        if (s->ooo[i].t >= mint && s->ooo[i].t <= maxt) {
            return true;
        }
    }
    return false;
}

static int cmp_series(const void *a, const void *b)
{
    const tsdb_series_t *x = *(tsdb_series_t *const *)a, *y = *(tsdb_series_t *const *)b;
    return tw_labels_compare(x->labels, x->nlabels, y->labels, y->nlabels);
}

tw_tsdb_series_set_t *tw_tsdb_select(tw_tsdb_querier_t *q, const tw_matcher_t *ms, size_t n,
                                     tw_error_t *err)
{
    if (q == NULL) {
        tw_error_set(err, TW_EINVAL, "tsdb: select without a querier");
        return NULL;
    }
    tsdb_postings_t p = {0};
    tsdb_head_postings_for_matchers(q->head, ms, n, &p);
    tw_tsdb_series_set_t *set = tw_xcalloc(1, sizeof(*set));
    set->q = q;
    set->s = tw_xmalloc((p.n + 1) * sizeof(*set->s));
    for (size_t i = 0; i < p.n; i++) {
        tsdb_series_t *s = tsdb_head_by_ref(q->head, p.ids[i]);
        if (s == NULL) {
            continue;
        }
        tsdb_head_lock(q->head, s);
        bool ok = overlaps(s, q->mint, q->maxt);
        tsdb_head_unlock(q->head, s);
        if (ok) {
            set->s[set->n++] = s;
        }
    }
    tsdb_postings_fini(&p);
    qsort(set->s, set->n, sizeof(*set->s), cmp_series);
    return set;
}

bool tw_tsdb_series_set_next(tw_tsdb_series_set_t *set)
{
    if (set->next >= set->n) {
        set->next = set->n + 1;
        return false;
    }
    set->next++;
    return true;
}

static const tsdb_series_t *current(const tw_tsdb_series_set_t *set)
{
    if (set->next == 0 || set->next > set->n) {
        return NULL;
    }
    return set->s[set->next - 1];
}

const tw_label_t *tw_tsdb_series_set_labels(const tw_tsdb_series_set_t *set, size_t *n)
{
    const tsdb_series_t *s = current(set);
    *n = s != NULL ? s->nlabels : 0;
    return s != NULL ? s->labels : NULL;
}

uint64_t tw_tsdb_series_set_ref(const tw_tsdb_series_set_t *set)
{
    const tsdb_series_t *s = current(set);
    return s != NULL ? s->ref : 0;
}

size_t tw_tsdb_series_set_count(const tw_tsdb_series_set_t *set)
{
    return set->n;
}

void tw_tsdb_series_set_free(tw_tsdb_series_set_t *set)
{
    if (set == NULL) {
        return;
    }
    free(set->s);
    free(set);
}

static void add_view(tw_tsdb_iter_t *it, const uint8_t *data, size_t len, int64_t mint,
                     int64_t maxt)
{
    tw_grow((void **)&it->chunks, &it->chunks_cap, it->nchunks + 1, sizeof(*it->chunks));
    it->chunks[it->nchunks++] = (chunk_view_t){data, len, mint, maxt};
}

tw_tsdb_iter_t *tw_tsdb_series_set_iter(tw_tsdb_series_set_t *set, tw_tsdb_iter_t *reuse)
{
    tw_tsdb_iter_t *it = reuse;
    if (it == NULL) {
        it = tw_xcalloc(1, sizeof(*it));
    }
    tw_tsdb_querier_t *q = set->q;
    it->q = q;
    it->mint = q->mint;
    it->maxt = q->maxt;
    it->nchunks = it->ci = it->nooo = it->oi = 0;
    it->xi_valid = it->has_c = it->started = false;
    it->err = 0;
    tsdb_series_t *s = (tsdb_series_t *)current(set);
    if (s == NULL) {
        return it;
    }
    tsdb_head_lock(q->head, s);
    for (uint32_t i = 0; i < s->nchunks; i++) {
        const tsdb_chunk_t *c = &s->chunks[i];
        if (c->maxt >= it->mint && c->mint <= it->maxt) {
            add_view(it, c->data, tsdb_chunk_bytes(c), c->mint, c->maxt);
        }
    }
    if (s->head.data != NULL && s->head.maxt >= it->mint && s->head.mint <= it->maxt) {
        size_t len = tsdb_chunk_bytes(&s->head);
        if (len > it->head_cap) {
            it->head_copy = tw_xrealloc(it->head_copy, len);
            it->head_cap = len;
        }
        memcpy(it->head_copy, s->head.data, len);
        add_view(it, it->head_copy, len, s->head.mint, s->head.maxt);
    }
    for (uint32_t i = 0; i < s->nooo; i++) {
        if (s->ooo[i].t >= it->mint && s->ooo[i].t <= it->maxt) {
            tw_grow((void **)&it->ooo, &it->ooo_cap, it->nooo + 1, sizeof(*it->ooo));
            it->ooo[it->nooo++] = s->ooo[i];
        }
    }
    tsdb_head_unlock(q->head, s);
    return it;
}

/* Fills the chunk lookahead with the next in-range sample. */
static bool chunk_fill(tw_tsdb_iter_t *it)
{
    while (!it->has_c) {
        if (!it->xi_valid) {
            if (it->ci >= it->nchunks) {
                return false;
            }
            const chunk_view_t *v = &it->chunks[it->ci++];
            tsdb_xor_iter_init(&it->xi, v->data, v->len);
            it->xi_valid = true;
        }
        if (!tsdb_xor_iter_next(&it->xi)) {
            if (it->xi.err != 0) {
                it->err = TW_EIO;
                it->ci = it->nchunks;
            }
            it->xi_valid = false;
            continue;
        }
        int64_t t = it->xi.st.t;
        if (t < it->mint) {
            continue;
        }
        if (t > it->maxt) {
            it->xi_valid = false;
            it->ci = it->nchunks;
            return false;
        }
        it->has_c = true;
        it->ct = t;
        it->cv = it->xi.st.vbits;
    }
    return true;
}

bool tw_tsdb_iter_next(tw_tsdb_iter_t *it)
{
    if (it->err != 0) {
        return false;
    }
    chunk_fill(it);
    bool has_o = it->oi < it->nooo;
    if (!it->has_c && !has_o) {
        it->started = true;
        it->t = INT64_MAX;
        return false;
    }
    if (it->has_c && (!has_o || it->ct <= it->ooo[it->oi].t)) {
        it->t = it->ct;
        it->vbits = it->cv;
        it->has_c = false;
        if (has_o && it->ooo[it->oi].t == it->ct) {
            it->oi++;
        }
    } else {
        it->t = it->ooo[it->oi].t;
        it->vbits = it->ooo[it->oi].vbits;
        it->oi++;
    }
    it->started = true;
    return true;
}

bool tw_tsdb_iter_seek(tw_tsdb_iter_t *it, int64_t t)
{
    if (it->started && it->t != INT64_MAX && it->t >= t) {
        return true;
    }
    if (it->started && it->t == INT64_MAX) {
        return false;
    }
    /* Skip whole chunks that end before t. */
    if (!it->has_c) {
        if (it->xi_valid && it->ci > 0 && it->chunks[it->ci - 1].maxt < t) {
            it->xi_valid = false;
        }
        if (!it->xi_valid) {
            while (it->ci < it->nchunks && it->chunks[it->ci].maxt < t) {
                it->ci++;
            }
        }
    }
    while (it->oi < it->nooo && it->ooo[it->oi].t < t) {
        it->oi++;
    }
    while (tw_tsdb_iter_next(it)) {
        if (it->t >= t) {
            return true;
        }
    }
    return false;
}

void tw_tsdb_iter_at(const tw_tsdb_iter_t *it, int64_t *t, double *v)
{
    *t = it->t;
    memcpy(v, &it->vbits, sizeof(*v));
}

int tw_tsdb_iter_err(const tw_tsdb_iter_t *it)
{
    return it->err;
}

void tw_tsdb_iter_free(tw_tsdb_iter_t *it)
{
    if (it == NULL) {
        return;
    }
    free(it->chunks);
    free(it->head_copy);
    free(it->ooo);
    free(it);
}

int tw_tsdb_querier_label_names(tw_tsdb_querier_t *q, const char ***out, size_t *n)
{
    tsdb_head_label_names(q->head, out, n);
    return 0;
}

int tw_tsdb_querier_label_values(tw_tsdb_querier_t *q, const char *name, const char ***out,
                                 size_t *n)
{
    tsdb_head_label_values(q->head, name, out, n);
    return 0;
}
