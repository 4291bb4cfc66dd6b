/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_intern.c - the head's string interner: every label name and value is stored once, with a
 * reference count (one per series label that uses it), so 10 000 series with job="node" hold one
 * "node". Thread-safe with one mutex: only series creation and removal come here, never the
 * per-sample path.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/hash.h"
#include "common/mem.h"

typedef struct istr {
    struct istr *next;
    uint64_t hash;
    uint32_t refs;
    char s[];
} istr_t;

struct tsdb_interner {
    pthread_mutex_t mu;
    istr_t **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
};

tsdb_interner_t *tsdb_interner_new(void)
{
    tsdb_interner_t *in = tw_xcalloc(1, sizeof(*in));
    pthread_mutex_init(&in->mu, NULL);
    in->nbuckets = 1024;
    in->buckets = tw_xcalloc(in->nbuckets, sizeof(*in->buckets));
    return in;
}

void tsdb_interner_free(tsdb_interner_t *in)
{
    if (in == NULL) {
        return;
    }
    for (size_t i = 0; i < in->nbuckets; i++) {
        istr_t *e = in->buckets[i];
        while (e != NULL) {
            istr_t *n = e->next;
            free(e);
            e = n;
        }
    }
    free(in->buckets);
    pthread_mutex_destroy(&in->mu);
    free(in);
}

static void grow(tsdb_interner_t *in)
{
    size_t nb = in->nbuckets * 2;
    istr_t **b = tw_xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < in->nbuckets; i++) {
        istr_t *e = in->buckets[i];
        while (e != NULL) {
            istr_t *n = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = n;
        }
    }
    free(in->buckets);
    in->buckets = b;
    in->nbuckets = nb;
}

const char *tsdb_intern(tsdb_interner_t *in, const char *s)
{
    size_t len = strlen(s);
    uint64_t h = tw_hash64(s, len, 0x7477);
    pthread_mutex_lock(&in->mu);
    for (istr_t *e = in->buckets[h & (in->nbuckets - 1)]; e != NULL; e = e->next) {
        if (e->hash == h && strcmp(e->s, s) == 0) {
            e->refs++;
            pthread_mutex_unlock(&in->mu);
            return e->s;
        }
    }
    istr_t *e = tw_xmalloc(sizeof(*e) + len + 1);
    memcpy(e->s, s, len + 1);
    e->hash = h;
    e->refs = 1;
    if (in->count >= in->nbuckets) {
        grow(in);
    }
    e->next = in->buckets[h & (in->nbuckets - 1)];
    in->buckets[h & (in->nbuckets - 1)] = e;
    in->count++;
    pthread_mutex_unlock(&in->mu);
    return e->s;
}

void tsdb_unintern(tsdb_interner_t *in, const char *s)
{
    istr_t *e = (istr_t *)(void *)(s - offsetof(istr_t, s));
    pthread_mutex_lock(&in->mu);
    if (--e->refs == 0) {
        istr_t **pp = &in->buckets[e->hash & (in->nbuckets - 1)];
        while (*pp != e) {
            pp = &(*pp)->next;
        }
        *pp = e->next;
        in->count--;
        free(e);
    }
    pthread_mutex_unlock(&in->mu);
}

size_t tsdb_interner_count(tsdb_interner_t *in)
{
    pthread_mutex_lock(&in->mu);
    size_t n = in->count;
    pthread_mutex_unlock(&in->mu);
    return n;
}
