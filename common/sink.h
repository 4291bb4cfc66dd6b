/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sink.h - the sample-sink contract: how sources (collectors, scrapes, remote_write) hand
 * samples to storage without knowing what storage is.
 *
 * A sink is a table of functions plus a context. Appends are transactions: begin, any number of
 * appends, then commit (the durability point: once it returns 0 the samples survive a crash)
 * or rollback. Only daemon/ knows which implementation sits behind a sink.
 */
#ifndef TW_COMMON_SINK_H
#define TW_COMMON_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "labels.h"
#include "metric_set.h"

typedef struct tw_sink {
    void *ctx;
    /* Starts a transaction; *txn receives its handle. */
    int (*begin)(void *ctx, void **txn);
    /* Appends one sample. labels are sorted, include __name__, and are borrowed for the call. */
    int (*append)(void *txn, const tw_label_t *labels, size_t nlabels, int64_t t_ms, double v,
                  tw_error_t *err);
    /* Makes the transaction's samples durable and visible, then ends it. */
    int (*commit)(void *txn, tw_error_t *err);
    /* Discards the transaction's samples and ends it. */
    void (*rollback)(void *txn);
} tw_sink_t;

/*
 * Appends every sample of set through sink in one transaction, adding __name__ (family name +
 * suffix), dropping labels whose value is empty (as Prometheus does) and sorting labels; samples
 * without a timestamp get default_ts_ms. A sample the sink refuses as out of order, duplicate or
 * too old (TW_EOUTOFORDER, TW_EDUPLICATE, TW_ETOOOLD) is skipped and counted in *rejected (may be
 * NULL), as a scrape skips it, so one bad sample does not lose the collection; any other error
 * rolls back and is returned. The set is only read.
 */
int tw_sink_append_mset(const tw_sink_t *sink, const tw_mset_t *set, int64_t default_ts_ms,
                        size_t *rejected, tw_error_t *err);

#endif
