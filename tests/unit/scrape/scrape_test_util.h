/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_test_util.h - a recording sample sink for the scraper's tests: committed samples are
 * kept as lines "name{a=\"b\",...} <t> <v>" (v "stale" for the stale NaN), in append order, and
 * a test can make the sink reject samples whose line contains a given text with a given code.
 * Thread-safe (the scrape manager appends from its own thread).
 */
#ifndef TW_TEST_SCRAPE_UTIL_H
#define TW_TEST_SCRAPE_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/sink.h"

typedef struct rec_sink {
    pthread_mutex_t mu;
    char **lines; /* committed */
    size_t n, cap;
    size_t commits, rollbacks;
    const char *reject_substr; /* reject appends whose line contains this */
    int reject_code;
} rec_sink_t;

typedef struct rec_txn {
    rec_sink_t *s;
    char **lines;
    size_t n, cap;
} rec_txn_t;

static int rec_begin(void *ctx, void **txn)
{
    rec_txn_t *t = tw_xcalloc(1, sizeof(*t));
    t->s = ctx;
    *txn = t;
    return 0;
}

static void rec_format(const tw_label_t *l, size_t n, int64_t t, double v, tw_buf_t *b)
{
    const char *name = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].name, "__name__") == 0) {
            name = l[i].value;
        }
    }
    tw_buf_puts(b, name);
    tw_buf_putc(b, '{');
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].name, "__name__") == 0) {
            continue;
        }
        tw_buf_printf(b, "%s%s=\"%s\"", first ? "" : ",", l[i].name, l[i].value);
        first = 0;
    }
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    if (bits == 0x7ff0000000000002ULL) {
        tw_buf_printf(b, "} %lld stale", (long long)t);
    } else {
        tw_buf_printf(b, "} %lld %.17g", (long long)t, v);
    }
}

static int rec_append(void *txn, const tw_label_t *labels, size_t nlabels, int64_t t_ms, double v,
                      tw_error_t *err)
{
    rec_txn_t *t = txn;
    for (size_t i = 1; i < nlabels; i++) {
        if (strcmp(labels[i - 1].name, labels[i].name) >= 0) {
            return tw_error_set(err, TW_EINVAL, "labels not sorted");
        }
    }
    tw_buf_t b;
    tw_buf_init(&b, 0);
    rec_format(labels, nlabels, t_ms, v, &b);
    pthread_mutex_lock(&t->s->mu);
    const char *rs = t->s->reject_substr;
    int code = t->s->reject_code;
    pthread_mutex_unlock(&t->s->mu);
    if (rs != NULL && strstr(b.data, rs) != NULL) {
        tw_buf_fini(&b);
        return tw_error_set(err, code, "rejected by the test sink");
    }
    tw_grow((void **)&t->lines, &t->cap, t->n + 1, sizeof(char *));
    t->lines[t->n++] = tw_buf_steal(&b, NULL);
    return 0;
}

static int rec_commit(void *txn, tw_error_t *err)
{
    (void)err;
    rec_txn_t *t = txn;
    pthread_mutex_lock(&t->s->mu);
    for (size_t i = 0; i < t->n; i++) {
        tw_grow((void **)&t->s->lines, &t->s->cap, t->s->n + 1, sizeof(char *));
        t->s->lines[t->s->n++] = t->lines[i];
    }
    t->s->commits++;
    pthread_mutex_unlock(&t->s->mu);
    free(t->lines);
    free(t);
    return 0;
}

static void rec_rollback(void *txn)
{
    rec_txn_t *t = txn;
    pthread_mutex_lock(&t->s->mu);
    t->s->rollbacks++;
    pthread_mutex_unlock(&t->s->mu);
    for (size_t i = 0; i < t->n; i++) {
        free(t->lines[i]);
    }
    free(t->lines);
    free(t);
}

static inline void rec_init(rec_sink_t *s, tw_sink_t *sink)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    sink->ctx = s;
    sink->begin = rec_begin;
    sink->append = rec_append;
    sink->commit = rec_commit;
    sink->rollback = rec_rollback;
}

static inline void rec_clear(rec_sink_t *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        free(s->lines[i]);
    }
    s->n = 0;
    pthread_mutex_unlock(&s->mu);
}

static inline void rec_fini(rec_sink_t *s)
{
    rec_clear(s);
    free(s->lines);
    pthread_mutex_destroy(&s->mu);
}

/* Joins all committed lines with '\n' (caller frees). */
static inline char *rec_dump(rec_sink_t *s)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_buf_puts(&b, "");
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        tw_buf_puts(&b, s->lines[i]);
        tw_buf_putc(&b, '\n');
    }
    pthread_mutex_unlock(&s->mu);
    return tw_buf_steal(&b, NULL);
}

/* Number of committed lines containing substr. */
static inline size_t rec_count(rec_sink_t *s, const char *substr)
{
    size_t c = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        if (strstr(s->lines[i], substr) != NULL) {
            c++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return c;
}

#endif
