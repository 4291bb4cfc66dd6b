/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_querier.c - reading the head and the blocks: queriers, series sets sorted by labels, and
 * sample iterators that merge a series' chunks from every source with its out-of-order samples.
 *
 * How the merge works: a querier takes a reference on each block overlapping its range (so
 * compaction and retention can drop a block while it is read: the mapping lives until the last
 * reference goes). select asks each source (the head, then every block) for its matching series,
 * sorts all of them by labels and groups equal label sets into one series. The head is read only
 * from the end of the newest block on (older head samples were written to that block). An
 * iterator collects the chunk views of all sources; when they do not overlap (the normal case)
 * it decodes them one after the other, else (overlapping blocks before their vertical
 * compaction) it decodes everything into one sorted array; equal timestamps are returned once.
 * A chunk is decoded whole, in one tight loop, into the iterator's sample arrays; next() and
 * seek() then walk those arrays, and seek() skips chunks that end before its time undecoded.
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
    bool use_head;
    int64_t head_mint;     /* max(mint, newest block's maxTime) */
    tsdb_block_t **blocks; /* one reference each, sorted by minTime */
    size_t nblocks;
    tw_label_t **lstore; /* label arrays of block series handed out (pointers into blocks) */
    size_t nlstore, lstore_cap;
    tsdb_iseries_t scratch;
};

typedef struct msrc {
    uint32_t blk; /* index in q->blocks */
    uint64_t id;  /* series id in that block's index */
} msrc_t;

typedef struct mser {
    const tw_label_t *l;
    size_t nl;
    tsdb_series_t *hs; /* the head's series or NULL */
    size_t s0, ns;     /* its block entries in set->src */
} mser_t;

struct tw_tsdb_series_set {
    tw_tsdb_querier_t *q;
    mser_t *s;
    size_t n;
    size_t next; /* index of the next series; current is next - 1 */
    msrc_t *src;
    size_t nsrc;
};

typedef struct chunk_view {
    const uint8_t *data;
    size_t len;
    int64_t mint, maxt;
    int64_t lo; /* samples before lo are skipped (the head below the newest block) */
} chunk_view_t;

struct tw_tsdb_iter {
    tw_tsdb_querier_t *q;
    int64_t mint, maxt;
    chunk_view_t *chunks;
    size_t nchunks, chunks_cap, ci;
    uint8_t *head_copy;
    size_t head_cap;
    int64_t *dt; /* the decoded samples of the current chunk view: dt[di..dn) are left */
    uint64_t *dv;
    size_t dn, di, dcap;
    int derr;         /* the decode error to report once dt[] is used up (0: none) */
    int64_t lo;       /* of the view being decoded */
    int64_t cur_maxt; /* of the view being decoded */
    tsdb_sample_t *ooo;
    size_t nooo, ooo_cap, oi;
    bool has_c; /* lookahead from the chunks */
    int64_t ct;
    uint64_t cv;
    bool any_c; /* last_ct is valid */
    int64_t last_ct;
    bool started;
    int64_t t;
    uint64_t vbits;
    int err;
};

tw_tsdb_querier_t *tsdb_querier_new_src(tw_tsdb_t *db, int64_t mint, int64_t maxt, bool use_head,
                                        tsdb_block_t *const *blocks, size_t nblocks)
{
    tw_tsdb_querier_t *q = tw_xcalloc(1, sizeof(*q));
    q->db = db;
    q->head = tsdb_db_head(db);
    q->mint = mint;
    q->maxt = maxt;
    q->use_head = use_head;
    q->head_mint = mint;
    q->blocks = tw_xmalloc((nblocks + 1) * sizeof(*q->blocks));
    for (size_t i = 0; i < nblocks; i++) {
        tsdb_block_ref(blocks[i]);
        q->blocks[q->nblocks++] = blocks[i];
    }
    tsdb_db_reader_enter(db);
    return q;
}

tw_tsdb_querier_t *tw_tsdb_querier_new(tw_tsdb_t *db, int64_t mint, int64_t maxt)
{
    tsdb_block_t **bl = NULL;
    size_t nb = tsdb_db_blocks_acquire(db, &bl);
    int64_t newest = INT64_MIN;
    size_t k = 0;
    for (size_t i = 0; i < nb; i++) {
        if (bl[i]->meta.maxt > newest) {
            newest = bl[i]->meta.maxt;
        }
        if (bl[i]->meta.mint <= maxt && bl[i]->meta.maxt > mint) {
            bl[k++] = bl[i];
        } else {
            tsdb_block_unref(bl[i]);
        }
    }
    tw_tsdb_querier_t *q = tsdb_querier_new_src(db, mint, maxt, true, bl, k);
    for (size_t i = 0; i < k; i++) {
        tsdb_block_unref(bl[i]);
    }
    free(bl);
    if (newest > q->head_mint) {
        q->head_mint = newest;
    }
    return q;
}

void tw_tsdb_querier_free(tw_tsdb_querier_t *q)
{
    if (q == NULL) {
        return;
    }
    tsdb_db_reader_leave(q->db);
    for (size_t i = 0; i < q->nblocks; i++) {
        tsdb_block_unref(q->blocks[i]);
    }
    for (size_t i = 0; i < q->nlstore; i++) {
        free(q->lstore[i]);
    }
    free(q->lstore);
    free(q->blocks);
    tsdb_iseries_fini(&q->scratch);
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

typedef struct cand {
    const tw_label_t *l;
    size_t nl;
    tsdb_series_t *hs;
    uint32_t blk; /* UINT32_MAX for the head */
    uint64_t id;
} cand_t;

/*
 * tw_labels_compare() with a shortcut for the head's interned strings: equal pointers are equal
 * strings, so most names and many values compare without strcmp.
 */
static int labels_cmp(const tw_label_t *a, size_t na, const tw_label_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        if (a[i].name != b[i].name) {
            int c = strcmp(a[i].name, b[i].name);
            if (c != 0) {
                return c;
            }
        }
        if (a[i].value != b[i].value) {
            int c = strcmp(a[i].value, b[i].value);
            if (c != 0) {
                return c;
            }
        }
    }
    return na < nb ? -1 : (na > nb ? 1 : 0);
}

static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    int c = labels_cmp(x->l, x->nl, y->l, y->nl);
    if (c != 0) {
        return c;
    }
    return x->blk < y->blk ? -1 : (x->blk > y->blk);
}

tw_tsdb_series_set_t *tw_tsdb_select(tw_tsdb_querier_t *q, const tw_matcher_t *ms, size_t n,
                                     tw_error_t *err)
{
    if (q == NULL) {
        tw_error_set(err, TW_EINVAL, "tsdb: select without a querier");
        return NULL;
    }
    tsdb_postings_t p = {0};
    cand_t *c = NULL;
    size_t nc = 0, cc = 0;
    if (q->use_head && q->head_mint <= q->maxt) {
        tsdb_head_postings_for_matchers(q->head, ms, n, &p);
        c = tw_xmalloc((p.n + 1) * sizeof(*c));
        cc = p.n + 1;
        for (size_t i = 0; i < p.n; i++) {
            tsdb_series_t *s = tsdb_head_by_ref(q->head, p.ids[i]);
            if (s == NULL) {
                continue;
            }
            tsdb_head_lock(q->head, s);
            bool ok = overlaps(s, q->head_mint, q->maxt);
            tsdb_head_unlock(q->head, s);
            if (ok) {
                c[nc++] = (cand_t){s->labels, s->nlabels, s, UINT32_MAX, 0};
            }
        }
    }
    for (size_t b = 0; b < q->nblocks; b++) {
        const tsdb_index_t *ix = &q->blocks[b]->ix;
        tw_error_t e;
        if (tsdb_index_postings_for_matchers(ix, ms, n, &p, &e) != 0) {
            tw_error_set(err, TW_EIO, "block %s: %s", q->blocks[b]->meta.ulid, e.msg);
            continue;
        }
        for (size_t i = 0; i < p.n; i++) {
            if (tsdb_index_series(ix, p.ids[i], &q->scratch, &e) != 0) {
                tw_error_set(err, TW_EIO, "block %s: %s", q->blocks[b]->meta.ulid, e.msg);
                continue;
            }
            bool ok = false;
            for (size_t k = 0; k < q->scratch.nchunks && !ok; k++) {
                ok = q->scratch.chunks[k].maxt >= q->mint && q->scratch.chunks[k].mint <= q->maxt;
            }
            if (!ok) {
                continue;
            }
            size_t nl = q->scratch.nlabels;
            tw_label_t *l = tw_xmalloc((nl + 1) * sizeof(*l));
            memcpy(l, q->scratch.labels, nl * sizeof(*l));
            tw_grow((void **)&q->lstore, &q->lstore_cap, q->nlstore + 1, sizeof(*q->lstore));
            q->lstore[q->nlstore++] = l;
            tw_grow((void **)&c, &cc, nc + 1, sizeof(*c));
            c[nc++] = (cand_t){l, nl, NULL, (uint32_t)b, p.ids[i]};
        }
    }
    tsdb_postings_fini(&p);
    /* The head's postings are in id order, which often is label order already. */
    bool sorted = true;
    for (size_t i = 1; i < nc && sorted; i++) {
        sorted = cmp_cand(&c[i - 1], &c[i]) <= 0;
    }
    if (!sorted) {
        qsort(c, nc, sizeof(*c), cmp_cand);
    }
    tw_tsdb_series_set_t *set = tw_xcalloc(1, sizeof(*set));
    set->q = q;
    set->s = tw_xmalloc((nc + 1) * sizeof(*set->s));
    set->src = tw_xmalloc((nc + 1) * sizeof(*set->src));
    for (size_t i = 0; i < nc; i++) {
        mser_t *m = set->n > 0 ? &set->s[set->n - 1] : NULL;
        if (m == NULL || labels_cmp(m->l, m->nl, c[i].l, c[i].nl) != 0) {
            m = &set->s[set->n++];
            *m = (mser_t){c[i].l, c[i].nl, NULL, set->nsrc, 0};
        }
        if (c[i].blk == UINT32_MAX) {
            m->hs = c[i].hs;
            m->l = c[i].l; /* prefer the head's labels (stable refs) */
        } else {
            set->src[set->nsrc++] = (msrc_t){c[i].blk, c[i].id};
            m->ns++;
        }
    }
    free(c);
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

static const mser_t *current(const tw_tsdb_series_set_t *set)
{
    if (set->next == 0 || set->next > set->n) {
        return NULL;
    }
    return &set->s[set->next - 1];
}

const tw_label_t *tw_tsdb_series_set_labels(const tw_tsdb_series_set_t *set, size_t *n)
{
    const mser_t *s = current(set);
    *n = s != NULL ? s->nl : 0;
    return s != NULL ? s->l : NULL;
}

uint64_t tw_tsdb_series_set_ref(const tw_tsdb_series_set_t *set)
{
    const mser_t *s = current(set);
    if (s == NULL) {
        return 0;
    }
    return s->hs != NULL ? s->hs->ref : tw_labels_hash(s->l, s->nl) | (UINT64_C(1) << 63);
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
    free(set->src);
    free(set);
}

static void add_view(tw_tsdb_iter_t *it, const uint8_t *data, size_t len, int64_t mint,
                     int64_t maxt, int64_t lo)
{
    tw_grow((void **)&it->chunks, &it->chunks_cap, it->nchunks + 1, sizeof(*it->chunks));
    it->chunks[it->nchunks++] = (chunk_view_t){data, len, mint, maxt, lo};
}

static int cmp_view(const void *a, const void *b)
{
    const chunk_view_t *x = a, *y = b;
    return x->mint < y->mint ? -1 : (x->mint > y->mint);
}

static int cmp_sample(const void *a, const void *b)
{
    const tsdb_sample_t *x = a, *y = b;
    return x->t < y->t ? -1 : (x->t > y->t);
}

/* Overlapping chunks: decode them all into the sample array, sorted, one sample per time. */
static void flatten(tw_tsdb_iter_t *it)
{
    for (size_t i = 0; i < it->nchunks; i++) {
        const chunk_view_t *v = &it->chunks[i];
        tsdb_xor_iter_t xi;
        tsdb_xor_iter_init(&xi, v->data, v->len);
        while (tsdb_xor_iter_next(&xi)) {
            if (xi.st.t < it->mint || xi.st.t < v->lo || xi.st.t > it->maxt) {
                continue;
            }
            tw_grow((void **)&it->ooo, &it->ooo_cap, it->nooo + 1, sizeof(*it->ooo));
            it->ooo[it->nooo++] = (tsdb_sample_t){xi.st.t, xi.st.vbits};
        }
        if (xi.err != 0) {
            it->err = TW_EIO;
        }
    }
    it->nchunks = 0;
    if (it->nooo > 1) {
        qsort(it->ooo, it->nooo, sizeof(*it->ooo), cmp_sample);
    }
    size_t k = 0;
    for (size_t i = 0; i < it->nooo; i++) {
        if (k == 0 || it->ooo[k - 1].t != it->ooo[i].t) {
            it->ooo[k++] = it->ooo[i];
        }
    }
    it->nooo = k;
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
    it->dn = it->di = 0;
    it->derr = 0;
    it->has_c = it->started = it->any_c = false;
    it->err = 0;
    const mser_t *m = current(set);
    if (m == NULL) {
        return it;
    }
    for (size_t i = 0; i < m->ns; i++) {
        const msrc_t *src = &set->src[m->s0 + i];
        const tsdb_block_t *b = q->blocks[src->blk];
        if (tsdb_index_series(&b->ix, src->id, &q->scratch, NULL) != 0) {
            it->err = TW_EIO;
            continue;
        }
        for (size_t k = 0; k < q->scratch.nchunks; k++) {
            const tsdb_chunk_meta_t *c = &q->scratch.chunks[k];
            const uint8_t *data;
            size_t len;
            if (c->maxt < it->mint || c->mint > it->maxt) {
                continue;
            }
            if (tsdb_block_chunk(b, c->ref, &data, &len) != 0) {
                it->err = TW_EIO;
                continue;
            }
            add_view(it, data, len, c->mint, c->maxt, INT64_MIN);
        }
    }
    tsdb_series_t *s = m->hs;
    if (s != NULL) {
        int64_t lo = q->head_mint;
        tsdb_head_lock(q->head, s);
        for (uint32_t i = 0; i < s->nchunks; i++) {
            const tsdb_chunk_t *c = &s->chunks[i];
            if (c->maxt >= lo && c->mint <= it->maxt) {
                add_view(it, c->data, tsdb_chunk_bytes(c), c->mint, c->maxt, lo);
            }
        }
        if (s->head.data != NULL && s->head.maxt >= lo && s->head.mint <= it->maxt) {
            size_t len = tsdb_chunk_bytes(&s->head);
            if (len > it->head_cap) {
                it->head_copy = tw_xrealloc(it->head_copy, len);
                it->head_cap = len;
            }
            memcpy(it->head_copy, s->head.data, len);
            add_view(it, it->head_copy, len, s->head.mint, s->head.maxt, lo);
        }
        for (uint32_t i = 0; i < s->nooo; i++) {
            if (s->ooo[i].t >= it->mint && s->ooo[i].t >= lo && s->ooo[i].t <= it->maxt) {
                tw_grow((void **)&it->ooo, &it->ooo_cap, it->nooo + 1, sizeof(*it->ooo));
                it->ooo[it->nooo++] = s->ooo[i];
            }
        }
        tsdb_head_unlock(q->head, s);
    }
    if (m->ns > 0) {
        /* Several sources: order the views; overlapping ones are merged sample by sample. */
        if (it->nchunks > 1) {
            qsort(it->chunks, it->nchunks, sizeof(*it->chunks), cmp_view);
        }
        for (size_t i = 1; i < it->nchunks; i++) {
            int64_t lo_i =
                it->chunks[i].lo > it->chunks[i].mint ? it->chunks[i].lo : it->chunks[i].mint;
            if (lo_i <= it->chunks[i - 1].maxt) {
                flatten(it);
                break;
            }
        }
    }
    return it;
}

/* Decodes the next chunk view whole into dt[] / dv[]. */
static void decode_view(tw_tsdb_iter_t *it)
{
    const chunk_view_t *v = &it->chunks[it->ci++];
    tsdb_xor_iter_t xi;
    tsdb_xor_iter_init(&xi, v->data, v->len);
    if (xi.n > it->dcap) {
        it->dcap = xi.n;
        it->dt = tw_xrealloc(it->dt, it->dcap * sizeof(*it->dt));
        it->dv = tw_xrealloc(it->dv, it->dcap * sizeof(*it->dv));
    }
    it->dn = tsdb_xor_iter_decode(&xi, it->dt, it->dv, xi.n);
    it->di = 0;
    it->lo = v->lo;
    it->cur_maxt = v->maxt;
    if (xi.err != 0) {
        it->derr = TW_EIO; /* the samples before the damage are still returned */
    }
}

/* Fills the chunk lookahead with the next in-range sample. */
static bool chunk_fill(tw_tsdb_iter_t *it)
{
    while (!it->has_c) {
        if (it->di >= it->dn) {
            if (it->derr != 0) {
                it->err = it->derr;
                it->ci = it->nchunks;
                it->derr = 0;
            }
            if (it->ci >= it->nchunks) {
                return false;
            }
            decode_view(it);
            continue;
        }
        int64_t t = it->dt[it->di];
        uint64_t vb = it->dv[it->di++];
        if (t < it->mint || t < it->lo || (it->any_c && t <= it->last_ct)) {
            continue;
        }
        if (t > it->maxt) {
            it->di = it->dn = 0;
            it->derr = 0;
            it->ci = it->nchunks;
            return false;
        }
        it->has_c = true;
        it->any_c = true;
        it->last_ct = t;
        it->ct = t;
        it->cv = vb;
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
    /* Skip whole chunks that end before t (the decoded one included, even when all its good
     * samples were handed out: its error, if any, is about samples that are not wanted). */
    if (!it->has_c) {
        if (it->ci > 0 && it->cur_maxt < t) {
            it->di = it->dn;
            it->derr = 0;
        }
        if (it->di >= it->dn && it->derr == 0) {
            while (it->ci < it->nchunks && it->chunks[it->ci].maxt < t) {
                it->ci++;
            }
        }
        while (it->di < it->dn && it->dt[it->di] < t) {
            it->di++;
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
    free(it->dt);
    free(it->dv);
    free(it->head_copy);
    free(it->ooo);
    free(it);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the k strings of add to *out (n, cap), then sorts and removes duplicates. */
static void merge_strings(const char ***out, size_t *n, const char **add, size_t k)
{
    if (k == 0) {
        free(add);
        return;
    }
    const char **arr = tw_xrealloc((void *)*out, (*n + k + 1) * sizeof(*arr));
    memcpy(arr + *n, add, k * sizeof(*add));
    free(add);
    size_t total = *n + k, u = 0;
    qsort(arr, total, sizeof(*arr), cmp_strp);
    for (size_t i = 0; i < total; i++) {
        if (u == 0 || strcmp(arr[u - 1], arr[i]) != 0) {
            arr[u++] = arr[i];
        }
    }
    *out = arr;
    *n = u;
}

int tw_tsdb_querier_label_names(tw_tsdb_querier_t *q, const char ***out, size_t *n)
{
    if (q->use_head) {
        tsdb_head_label_names(q->head, out, n);
    } else {
        *out = tw_xmalloc(sizeof(**out));
        *n = 0;
    }
    for (size_t i = 0; i < q->nblocks; i++) {
        const char **add;
        size_t k;
        tsdb_index_label_names(&q->blocks[i]->ix, &add, &k);
        merge_strings(out, n, add, k);
    }
    return 0;
}

int tw_tsdb_querier_label_values(tw_tsdb_querier_t *q, const char *name, const char ***out,
                                 size_t *n)
{
    if (q->use_head) {
        tsdb_head_label_values(q->head, name, out, n);
    } else {
        *out = tw_xmalloc(sizeof(**out));
        *n = 0;
    }
    for (size_t i = 0; i < q->nblocks; i++) {
        const char **add;
        size_t k;
        tsdb_index_label_values(&q->blocks[i]->ix, name, &add, &k);
        merge_strings(out, n, add, k);
    }
    return 0;
}
