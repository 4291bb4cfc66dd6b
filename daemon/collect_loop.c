/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collect_loop.c - the collector loop thread (see collect_loop.h).
 *
 * Two locks: `mu` guards the small shared state (snapshot pointer, stats, flags, interval) and
 * is never held during I/O; `collect_mu` is held for a whole collection and guards the
 * collectors, so configure() can swap them between collections. Lock order: collect_mu, then
 * mu.
 */
#include "collect_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "selfmetrics.h"

struct tw_collect_snapshot {
    atomic_int refs;
    tw_mset_t *sets[2];
    int kinds[2]; /* COLL_* of each set */
    size_t nsets;
    int64_t t_ms;
};

const tw_mset_t *const *tw_collect_snapshot_sets(const tw_collect_snapshot_t *s, size_t *n)
{
    *n = s->nsets;
    return (const tw_mset_t *const *)s->sets;
}

int64_t tw_collect_snapshot_time_ms(const tw_collect_snapshot_t *s)
{
    return s->t_ms;
}

void tw_collect_snapshot_unref(tw_collect_snapshot_t *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1) {
        return;
    }
    for (size_t i = 0; i < s->nsets; i++) {
        tw_mset_free(s->sets[i]);
    }
    free(s);
}

/* Rate-limited complaints: a message is logged the first time it is seen and then at most
 * every COMPLAIN_INTERVAL_MS; a small table remembers the recent distinct messages. */
#define COMPLAIN_SLOTS 16
#define COMPLAIN_INTERVAL_MS (5 * 60 * 1000)

typedef struct complainer {
    struct {
        char msg[256];
        int64_t logged_ms;
    } seen[COMPLAIN_SLOTS];
    size_t next;  /* slot to overwrite next */
    bool failing; /* the last collection had errors (for the recovery message) */
} complainer_t;

enum { COLL_CGROUP = 0, COLL_PROCFS = 1, NCOLL = 2 };
static const char *const coll_names[NCOLL] = {"cgroup", "procfs"};

struct tw_collect_loop {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled on stop and wake */
    pthread_mutex_t collect_mu;
    /* guarded by collect_mu */
    tw_cgroup_collector_t *cg;
    tw_procfs_collector_t *pf;
    complainer_t complain[NCOLL];
    complainer_t complain_sink;
    const tw_sink_t *sink; /* borrowed; set before start */
    /* guarded by mu */
    int64_t interval_ms;
    tw_collect_snapshot_t *snap;
    tw_collector_stats_t stats[NCOLL];
    bool ready;
    bool stop;
    bool wake;
    bool running;
    pthread_t thr;
};

tw_collect_loop_t *tw_collect_loop_new(void)
{
    tw_collect_loop_t *l = tw_xcalloc(1, sizeof(*l));
    pthread_condattr_t ca;
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->collect_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &ca);
    pthread_condattr_destroy(&ca);
    l->interval_ms = 10000;
    return l;
}

int tw_collect_loop_configure(tw_collect_loop_t *l, const tw_collect_loop_options_t *o,
                              tw_error_t *err)
{
    tw_cgroup_collector_t *cg = NULL;
    tw_procfs_collector_t *pf = NULL;
    if (o->interval_ms <= 0) {
        return tw_error_set(err, TW_EINVAL, "collector interval must be greater than 0");
    }
    if (o->cgroup_enabled) {
        cg = tw_cgroup_collector_new(&o->cgroup, err);
        if (cg == NULL) {
            return err != NULL && err->code != 0 ? err->code : TW_EINVAL;
        }
    }
    if (o->procfs_enabled) {
        pf = tw_procfs_collector_new(&o->procfs, err);
        if (pf == NULL) {
            tw_cgroup_collector_free(cg);
            return err != NULL && err->code != 0 ? err->code : TW_EINVAL;
        }
    }
    pthread_mutex_lock(&l->collect_mu);
    tw_cgroup_collector_t *old_cg = l->cg;
    tw_procfs_collector_t *old_pf = l->pf;
    l->cg = cg;
    l->pf = pf;
    pthread_mutex_unlock(&l->collect_mu);

    pthread_mutex_lock(&l->mu);
    l->interval_ms = o->interval_ms;
    l->wake = true;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->mu);

    tw_cgroup_collector_free(old_cg);
    tw_procfs_collector_free(old_pf);
    return 0;
}

static bool complain_should_log(complainer_t *c, const char *msg, int64_t now_ms)
{
    for (size_t i = 0; i < COMPLAIN_SLOTS; i++) {
        if (c->seen[i].msg[0] != '\0' && strcmp(c->seen[i].msg, msg) == 0) {
            if (now_ms - c->seen[i].logged_ms < COMPLAIN_INTERVAL_MS) {
                return false;
            }
            c->seen[i].logged_ms = now_ms;
            return true;
        }
    }
    tw_strlcpy(c->seen[c->next].msg, msg, sizeof(c->seen[c->next].msg));
    c->seen[c->next].logged_ms = now_ms;
    c->next = (c->next + 1) % COMPLAIN_SLOTS;
    return true;
}

/* Logs the outcome of one collection, rate-limited. rc/err: the call's result; nfiles, first:
 * the collector's file failures. */
static void complain(complainer_t *c, const char *name, int rc, const tw_error_t *err,
                     size_t nfiles, const char *first, int64_t now_ms)
{
    char msg[600];
    if (rc != 0) {
        tw_error_format(err, msg, sizeof(msg));
        if (msg[0] == '\0') {
            tw_strlcpy(msg, tw_strerror(rc), sizeof(msg));
        }
        c->failing = true;
        if (complain_should_log(c, msg, now_ms)) {
            tw_log(TW_LOG_ERROR, "collector", "Collection failed", "collector", name, "err", msg,
                   NULL);
        }
        return;
    }
    if (nfiles > 0) {
        char count[32];
        snprintf(count, sizeof(count), "%zu", nfiles);
        c->failing = true;
        if (complain_should_log(c, first != NULL ? first : "", now_ms)) {
            tw_log(TW_LOG_WARN, "collector", "Some files could not be read", "collector", name,
                   "failed_files", count, "first", first, NULL);
        }
        return;
    }
    if (c->failing) {
        c->failing = false;
        tw_log(TW_LOG_INFO, "collector", "Collection recovered", "collector", name, NULL);
    }
}

/* Appends a published collection to storage. Runs on the loop's thread only. */
static void store(tw_collect_loop_t *l, const tw_collect_snapshot_t *snap, int64_t now_ms)
{
    if (l->sink == NULL) {
        return;
    }
    for (size_t i = 0; i < snap->nsets; i++) {
        int k = snap->kinds[i];
        size_t rejected = 0;
        tw_error_t err;
        tw_error_clear(&err);
        int rc = tw_sink_append_mset(l->sink, snap->sets[i], snap->t_ms, &rejected, &err);
        pthread_mutex_lock(&l->mu);
        l->stats[k].rejected += rejected;
        l->stats[k].storage_failures += rc != 0 ? 1 : 0;
        pthread_mutex_unlock(&l->mu);
        if (rc != 0) {
            char msg[600];
            tw_error_format(&err, msg, sizeof(msg));
            l->complain_sink.failing = true;
            if (complain_should_log(&l->complain_sink, msg, now_ms)) {
                tw_log(TW_LOG_ERROR, "collector", "Storing the collection failed", "collector",
                       coll_names[k], "err", msg, NULL);
            }
        }
    }
}

void tw_collect_loop_set_sink(tw_collect_loop_t *l, const tw_sink_t *sink)
{
    l->sink = sink;
}

int tw_collect_loop_run_once(tw_collect_loop_t *l, int64_t now_ms)
{
    tw_collect_snapshot_t *snap = tw_xcalloc(1, sizeof(*snap));
    int result = 0;
    atomic_init(&snap->refs, 1);
    snap->t_ms = now_ms;

    pthread_mutex_lock(&l->collect_mu);
    for (int k = 0; k < NCOLL; k++) {
        if ((k == COLL_CGROUP && l->cg == NULL) || (k == COLL_PROCFS && l->pf == NULL)) {
            continue;
        }
        tw_mset_t *set = tw_mset_new();
        tw_error_t err;
        const char *first = NULL;
        size_t nfiles;
        int rc;
        tw_error_clear(&err);
        int64_t t0 = tw_mono_ns();
        if (k == COLL_CGROUP) {
            rc = tw_cgroup_collector_collect(l->cg, set, now_ms, &err);
            nfiles = tw_cgroup_collector_errors(l->cg, &first);
        } else {
            rc = tw_procfs_collector_collect(l->pf, set, now_ms, &err);
            nfiles = tw_procfs_collector_errors(l->pf, &first);
        }
        double dur_s = (double)(tw_mono_ns() - t0) / 1e9;
        complain(&l->complain[k], coll_names[k], rc, &err, nfiles, first, now_ms);
        if (rc != 0) {
            result = rc;
        }

        pthread_mutex_lock(&l->mu);
        tw_collector_stats_t *st = &l->stats[k];
        st->ran = true;
        st->collections++;
        st->errors += nfiles + (rc != 0 ? 1 : 0);
        st->last_duration_s = dur_s;
        if (rc == 0) {
            st->last_success_ms = now_ms + (int64_t)(dur_s * 1000);
        }
        pthread_mutex_unlock(&l->mu);
        snap->kinds[snap->nsets] = k;
        snap->sets[snap->nsets++] = set;
    }
    pthread_mutex_unlock(&l->collect_mu);

    pthread_mutex_lock(&l->mu);
    tw_collect_snapshot_t *old = l->snap;
    l->snap = snap;
    l->ready = true;
    pthread_mutex_unlock(&l->mu);
    tw_collect_snapshot_unref(old);
    store(l, snap, now_ms);
    return result;
}

/* Milliseconds from now_ms to the next multiple of interval_ms. */
static int64_t aligned_delay_ms(int64_t now_ms, int64_t interval_ms)
{
    int64_t rem = now_ms % interval_ms;
    return interval_ms - (rem < 0 ? rem + interval_ms : rem);
}

static void *loop_main(void *arg)
{
    tw_collect_loop_t *l = arg;
    pthread_mutex_lock(&l->mu);
    bool due = true; /* the first collection runs at once */
    while (!l->stop) {
        if (due || l->wake) {
            l->wake = false;
            pthread_mutex_unlock(&l->mu);
            tw_collect_loop_run_once(l, tw_now_ms());
            pthread_mutex_lock(&l->mu);
            due = false;
            continue;
        }
        int64_t delay = aligned_delay_ms(tw_now_ms(), l->interval_ms);
        int64_t deadline_ns = tw_mono_ns() + delay * 1000000;
        struct timespec ts = {.tv_sec = deadline_ns / 1000000000,
                              .tv_nsec = deadline_ns % 1000000000};
        while (!l->stop && !l->wake) {
            if (pthread_cond_timedwait(&l->cond, &l->mu, &ts) == ETIMEDOUT) {
                due = true;
                break;
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int tw_collect_loop_start(tw_collect_loop_t *l, tw_error_t *err)
{
    pthread_mutex_lock(&l->mu);
    if (l->running) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    l->stop = false;
    int rc = pthread_create(&l->thr, NULL, loop_main, l);
    if (rc == 0) {
        l->running = true;
    }
    pthread_mutex_unlock(&l->mu);
    if (rc != 0) {
        return tw_error_set(err, -rc, "cannot start the collector thread: %s", strerror(rc));
    }
    return 0;
}

void tw_collect_loop_stop(tw_collect_loop_t *l)
{
    pthread_mutex_lock(&l->mu);
    if (!l->running) {
        pthread_mutex_unlock(&l->mu);
        return;
    }
    l->stop = true;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thr, NULL);
    pthread_mutex_lock(&l->mu);
    l->running = false;
    pthread_mutex_unlock(&l->mu);
}

void tw_collect_loop_free(tw_collect_loop_t *l)
{
    if (l == NULL) {
        return;
    }
    tw_collect_loop_stop(l);
    tw_cgroup_collector_free(l->cg);
    tw_procfs_collector_free(l->pf);
    tw_collect_snapshot_unref(l->snap);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->collect_mu);
    free(l);
}

tw_collect_snapshot_t *tw_collect_loop_snapshot(tw_collect_loop_t *l)
{
    pthread_mutex_lock(&l->mu);
    tw_collect_snapshot_t *s = l->snap;
    if (s != NULL) {
        atomic_fetch_add(&s->refs, 1);
    }
    pthread_mutex_unlock(&l->mu);
    return s;
}

bool tw_collect_loop_ready(tw_collect_loop_t *l)
{
    pthread_mutex_lock(&l->mu);
    bool r = l->ready;
    pthread_mutex_unlock(&l->mu);
    return r;
}

tw_cgroup_collector_t *tw_collect_loop_cgroup(tw_collect_loop_t *l)
{
    /* Only the controlling thread writes cg (in configure), and only it calls this: no lock,
     * so the caller never waits for a collection in progress. */
    return l->cg;
}

void tw_collect_loop_collect_metrics(tw_collect_loop_t *l, tw_mset_t *out)
{
    tw_collector_stats_t stats[NCOLL];
    pthread_mutex_lock(&l->mu);
    memcpy(stats, l->stats, sizeof(stats));
    pthread_mutex_unlock(&l->mu);
    tw_selfmetrics_collectors(out, coll_names, stats, NCOLL);
}
