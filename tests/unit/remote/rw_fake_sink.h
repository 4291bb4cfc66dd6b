/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rw_fake_sink.h - a recording sample sink for the remote_write handler tests: it keeps every
 * committed sample (labels rendered as text, timestamp, value bits), counts transactions, checks
 * that labels arrive sorted and with __name__, and can be told to fail the Nth append or the
 * commit with a chosen code. Thread-safe (the HTTP server calls it from its pool threads).
 * Header-only; test code only.
 */
#ifndef TW_TESTS_RW_FAKE_SINK_H
#define TW_TESTS_RW_FAKE_SINK_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/remote/remote.h"
#include "common/mem.h"
#include "common/sink.h"

typedef struct rw_rec {
    char labels[512]; /* tw_remote_labels_format() of the labels */
    int64_t t_ms;
    double v;
} rw_rec_t;

typedef struct rw_fake_sink {
    pthread_mutex_t mu;
    rw_rec_t *recs; /* committed samples, in commit order */
    size_t nrecs, cap;
    int begins, commits, rollbacks;
    int bad_labels; /* appends whose labels were unsorted, duplicated or without __name__ */
    int fail_rc;    /* when not 0: returned by the append number fail_at of a transaction */
    size_t fail_at;
    int commit_rc; /* when not 0: returned by commit */
} rw_fake_sink_t;

typedef struct rw_fake_txn {
    rw_fake_sink_t *s;
    rw_rec_t *pending;
    size_t n, cap;
} rw_fake_txn_t;

static inline int rw_fake_begin(void *ctx, void **txn)
{
    rw_fake_sink_t *s = ctx;
    rw_fake_txn_t *t = tw_xcalloc(1, sizeof(*t));
    t->s = s;
    pthread_mutex_lock(&s->mu);
    s->begins++;
    pthread_mutex_unlock(&s->mu);
    *txn = t;
    return 0;
}

static inline int rw_fake_append(void *txn, const tw_label_t *labels, size_t nlabels, int64_t t_ms,
                                 double v, tw_error_t *err)
{
    rw_fake_txn_t *t = txn;
    rw_fake_sink_t *s = t->s;
    int bad = tw_labels_get(labels, nlabels, "__name__") == NULL;
    for (size_t i = 1; i < nlabels; i++) {
        bad |= strcmp(labels[i - 1].name, labels[i].name) >= 0;
    }
    if (bad) {
        pthread_mutex_lock(&s->mu);
        s->bad_labels++;
        pthread_mutex_unlock(&s->mu);
    }
    if (s->fail_rc != 0 && t->n == s->fail_at) {
        return tw_error_set(err, s->fail_rc, "fake sink refuses sample %zu", t->n);
    }
    tw_grow((void **)&t->pending, &t->cap, t->n + 1, sizeof(rw_rec_t));
    rw_rec_t *r = &t->pending[t->n++];
    tw_remote_labels_format(labels, nlabels, r->labels, sizeof(r->labels));
    r->t_ms = t_ms;
    r->v = v;
    return 0;
}

static inline int rw_fake_commit(void *txn, tw_error_t *err)
{
    rw_fake_txn_t *t = txn;
    rw_fake_sink_t *s = t->s;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (s->commit_rc != 0) {
        rc = tw_error_set(err, s->commit_rc, "fake sink cannot commit");
        s->rollbacks++;
    } else {
        tw_grow((void **)&s->recs, &s->cap, s->nrecs + t->n, sizeof(rw_rec_t));
        if (t->n > 0) {
            memcpy(&s->recs[s->nrecs], t->pending, t->n * sizeof(rw_rec_t));
        }
        s->nrecs += t->n;
        s->commits++;
    }
    pthread_mutex_unlock(&s->mu);
    free(t->pending);
    free(t);
    return rc;
}

static inline void rw_fake_rollback(void *txn)
{
    rw_fake_txn_t *t = txn;
    pthread_mutex_lock(&t->s->mu);
    t->s->rollbacks++;
    pthread_mutex_unlock(&t->s->mu);
    free(t->pending);
    free(t);
}

static inline void rw_fake_init(rw_fake_sink_t *s, tw_sink_t *sink)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    sink->ctx = s;
    sink->begin = rw_fake_begin;
    sink->append = rw_fake_append;
    sink->commit = rw_fake_commit;
    sink->rollback = rw_fake_rollback;
}

static inline void rw_fake_fini(rw_fake_sink_t *s)
{
    free(s->recs);
    pthread_mutex_destroy(&s->mu);
}

/* Number of committed samples whose label text contains needle. Thread-safe. */
static inline size_t rw_fake_count(rw_fake_sink_t *s, const char *needle)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nrecs; i++) {
        n += strstr(s->recs[i].labels, needle) != NULL;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

#endif
