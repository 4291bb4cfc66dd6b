/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_postings.c - sorted series-id lists and the set operations selectors need. Pure.
 *
 * How it works: a postings list is a strictly increasing array of series ids, one per label pair
 * (plus the list of all series). A selector is an AND of matchers; each matcher becomes the
 * union of the lists of the values it accepts (or, for matchers that accept the empty value, a
 * list to subtract). Intersection walks the shorter list and gallops (exponential then binary
 * search) through the longer one, so `{__name__="x", pod="y"}` costs O(small * log big) rather
 * than O(big). Union of k lists is a k-way merge through a small binary heap or, when the ids
 * are dense enough (the usual case: ids are handed out in order), a bitmap over the span of ids
 * that is set and then read out word by word; subtraction is a linear merge.
 */
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/mem.h"

void tsdb_postings_fini(tsdb_postings_t *p)
{
    free(p->ids);
    p->ids = NULL;
    p->n = 0;
    p->cap = 0;
}

void tsdb_postings_push(tsdb_postings_t *p, uint64_t id)
{
    tw_grow((void **)&p->ids, &p->cap, p->n + 1, sizeof(*p->ids));
    p->ids[p->n++] = id;
}

/* Index of the first element >= id in ids[lo..n). */
static size_t lower_bound(const uint64_t *ids, size_t lo, size_t n, uint64_t id)
{
    size_t hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void tsdb_postings_insert(tsdb_postings_t *p, uint64_t id)
{
    if (p->n == 0 || p->ids[p->n - 1] < id) {
        tsdb_postings_push(p, id);
        return;
    }
    size_t i = lower_bound(p->ids, 0, p->n, id);
    if (i < p->n && p->ids[i] == id) {
        return;
    }
    tw_grow((void **)&p->ids, &p->cap, p->n + 1, sizeof(*p->ids));
    memmove(p->ids + i + 1, p->ids + i, (p->n - i) * sizeof(*p->ids));
    p->ids[i] = id;
    p->n++;
}

void tsdb_postings_remove(tsdb_postings_t *p, uint64_t id)
{
    size_t i = lower_bound(p->ids, 0, p->n, id);
    if (i < p->n && p->ids[i] == id) {
        memmove(p->ids + i, p->ids + i + 1, (p->n - i - 1) * sizeof(*p->ids));
        p->n--;
    }
}

/* Reserves room for n ids in p. */
static void reserve(tsdb_postings_t *p, size_t n)
{
    if (n > p->cap) {
        tw_grow((void **)&p->ids, &p->cap, n, sizeof(*p->ids));
    }
}

/* First index >= id at or after lo, galloping from lo. */
static size_t gallop(const uint64_t *ids, size_t lo, size_t n, uint64_t id)
{
    size_t step = 1, hi = lo;
    while (hi < n && ids[hi] < id) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    return lower_bound(ids, lo, hi < n ? hi + 1 : n, id);
}

void tsdb_postings_intersect(const tsdb_postings_t *a, const tsdb_postings_t *b,
                             tsdb_postings_t *out)
{
    out->n = 0;
    if (a->n > b->n) {
        const tsdb_postings_t *t = a;
        a = b;
        b = t;
    }
    reserve(out, a->n);
    size_t j = 0, k = 0;
    for (size_t i = 0; i < a->n && j < b->n; i++) {
        j = gallop(b->ids, j, b->n, a->ids[i]);
        if (j < b->n && b->ids[j] == a->ids[i]) {
            out->ids[k++] = a->ids[i];
            j++;
        }
    }
    out->n = k;
}

void tsdb_postings_subtract(const tsdb_postings_t *a, const tsdb_postings_t *b,
                            tsdb_postings_t *out)
{
    out->n = 0;
    reserve(out, a->n);
    size_t j = 0, k = 0;
    for (size_t i = 0; i < a->n; i++) {
        while (j < b->n && b->ids[j] < a->ids[i]) {
            j++;
        }
        if (j < b->n && b->ids[j] == a->ids[i]) {
            continue;
        }
        out->ids[k++] = a->ids[i];
    }
    out->n = k;
}

typedef struct {
    uint64_t id;
    size_t list;
    size_t pos;
} heap_ent_t;

static void sift_down(heap_ent_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].id < h[m].id) {
            m = l;
        }
        if (r < n && h[r].id < h[m].id) {
            m = r;
        }
        if (m == i) {
            return;
        }
        heap_ent_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/*
 * The bitmap union when the span of ids [lo, hi] costs at most about as many words as there are
 * ids: every id sets a bit, the words are read out in order. Returns false when not worth it.
 */
static bool union_bitmap(const tsdb_postings_t *const *lists, size_t k, tsdb_postings_t *out)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    size_t total = 0;
    for (size_t i = 0; i < k; i++) {
        const tsdb_postings_t *l = lists[i];
        if (l->n == 0) {
            continue;
        }
        lo = l->ids[0] < lo ? l->ids[0] : lo;
        hi = l->ids[l->n - 1] > hi ? l->ids[l->n - 1] : hi;
        total += l->n;
    }
    if (total == 0) {
        return true;
    }
    uint64_t words = ((hi - lo) >> 6) + 1;
    if (words > (uint64_t)total * 2 + 64) {
        return false;
    }
    uint64_t *bits = tw_xcalloc((size_t)words, sizeof(*bits));
    for (size_t i = 0; i < k; i++) {
        const tsdb_postings_t *l = lists[i];
        for (size_t j = 0; j < l->n; j++) {
            uint64_t d = l->ids[j] - lo;
            bits[d >> 6] |= UINT64_C(1) << (d & 63);
        }
    }
    reserve(out, total);
    size_t n = 0;
    for (uint64_t w = 0; w < words; w++) {
        uint64_t b = bits[w];
        while (b != 0) {
            out->ids[n++] = lo + (w << 6) + (uint64_t)__builtin_ctzll(b);
            b &= b - 1;
        }
    }
    out->n = n;
    free(bits);
    return true;
}

void tsdb_postings_union(const tsdb_postings_t *const *lists, size_t k, tsdb_postings_t *out)
{
    out->n = 0;
    if (k == 1) {
        reserve(out, lists[0]->n);
        if (lists[0]->n > 0) {
            memcpy(out->ids, lists[0]->ids, lists[0]->n * sizeof(*out->ids));
        }
        out->n = lists[0]->n;
        return;
    }
    if (k > 2 && union_bitmap(lists, k, out)) {
        return;
    }
    heap_ent_t *h = tw_xmalloc((k == 0 ? 1 : k) * sizeof(*h));
    size_t n = 0;
    for (size_t i = 0; i < k; i++) {
        if (lists[i]->n > 0) {
            h[n++] = (heap_ent_t){lists[i]->ids[0], i, 0};
        }
    }
    for (size_t i = n; i-- > 0;) {
        sift_down(h, n, i);
    }
    while (n > 0) {
        uint64_t id = h[0].id;
        if (out->n == 0 || out->ids[out->n - 1] != id) {
            tsdb_postings_push(out, id);
        }
        const tsdb_postings_t *l = lists[h[0].list];
        if (++h[0].pos < l->n) {
            h[0].id = l->ids[h[0].pos];
        } else {
            h[0] = h[--n];
        }
        sift_down(h, n, 0);
    }
    free(h);
}

int tsdb_postings_for_matchers(const tsdb_postings_source_t *src, const tw_matcher_t *ms, size_t n,
                               tsdb_postings_t *out, tw_error_t *err)
{
    tsdb_postings_t acc = {0}, tmp = {0}, u = {0};
    bool have = false;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (tw_matcher_matches_empty(&ms[i])) {
            continue;
        }
        if ((rc = src->union_fn(src->ctx, &ms[i], true, &u, err)) != 0) {
            goto done;
        }
        if (!have) {
            tsdb_postings_t t = acc;
            acc = u;
            u = t;
            have = true;
        } else {
            tsdb_postings_intersect(&acc, &u, &tmp);
            tsdb_postings_t t = acc;
            acc = tmp;
            tmp = t;
        }
        if (acc.n == 0) {
            goto done;
        }
    }
    if (!have && (rc = src->all_fn(src->ctx, &acc, err)) != 0) {
        goto done;
    }
    for (size_t i = 0; i < n && acc.n > 0; i++) {
        if (!tw_matcher_matches_empty(&ms[i])) {
            continue;
        }
        if ((rc = src->union_fn(src->ctx, &ms[i], false, &u, err)) != 0) {
            goto done;
        }
        if (u.n == 0) {
            continue;
        }
        tsdb_postings_subtract(&acc, &u, &tmp);
        tsdb_postings_t t = acc;
        acc = tmp;
        tmp = t;
    }
done:
    tsdb_postings_fini(&tmp);
    tsdb_postings_fini(&u);
    tsdb_postings_fini(out);
    *out = acc;
    if (rc != 0) {
        out->n = 0;
    }
    return rc;
}
