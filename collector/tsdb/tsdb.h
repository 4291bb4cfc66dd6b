/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb.h - tidewatch's embedded time-series database: the in-memory head of active series with
 * Gorilla-compressed chunks, the inverted index, the write-ahead log, the querier over the head,
 * and the dump/analyze tools. See docs/formats/chunks.md and docs/formats/wal.md.
 *
 * Writing: sources append through the sample-sink contract (tw_tsdb_sink(), common/sink.h) or the
 * same functions directly (tw_tsdb_appender_*). A transaction buffers its samples; commit applies
 * them to the head in WAL order, writes one record batch (series records for series not logged
 * yet, then one samples record) and returns once the fsync policy is met. Rejected samples are
 * never dropped silently: append returns TW_EOUTOFORDER / TW_EDUPLICATE / TW_ETOOOLD naming the
 * series, and every rejection is counted by reason (tidewatch_tsdb_samples_rejected_total).
 *
 * Sample rules (Prometheus'): t greater than the series' newest sample is appended; the same t
 * and the same value bits (an identical resend, stale markers included) is a no-op, counted as
 * tidewatch_tsdb_duplicate_samples_ignored_total; a different value at a stored timestamp is
 * TW_EDUPLICATE; an older sample is TW_EOUTOFORDER unless out_of_order_window_ms > 0 and
 * t >= head max time - window, then it is stored out of order and merged at query time; a sample
 * older than the head's truncation point is TW_ETOOOLD.
 *
 * Reading: a querier over [mint, maxt] (inclusive, milliseconds) selects series by matchers
 * (common/matcher.h) in label order; each series gives a sample iterator.
 *
 * How blocks plug in (for the next engineer): the head exposes two layers a block reader mirrors.
 * (1) The index: postings (sorted uint64 series ids per label pair, tsdb_postings_* in
 * tsdb_int.h: intersect/union/subtract on sorted arrays) and tsdb_head_postings_for_matchers(),
 * plus ref -> labels. A block's index section provides the same three things from its mmapped
 * file. (2) Chunks: the head hands out chunk snapshots (tsdb_chunk_ref_t: mint, maxt, bytes in
 * Prometheus' XOR layout) and the iterator decodes any list of non-overlapping chunks, so a block
 * only has to list its chunk bytes per series. The querier is then a merge of per-source series
 * sets by labels (the series-set code already sorts by tw_labels_compare), with samples merged by
 * timestamp. Compaction reads the head through the same querier; after a block is written, call
 * tw_tsdb_head_truncate(mint) and tw_tsdb_checkpoint(mint) so the WAL forgets what the block holds.
 *
 * Thread model: everything on a tw_tsdb_t is thread-safe. A transaction belongs to one thread at a
 * time; a querier, its series sets and iterators too (distinct queriers run in parallel with each
 * other and with appends). The head is sharded: series state is guarded by striped mutexes, the
 * index by a read-write lock, the WAL by one mutex (commits are short: apply + one write(2)).
 */
#ifndef TW_COLLECTOR_TSDB_TSDB_H
#define TW_COLLECTOR_TSDB_TSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/labels.h"
#include "common/matcher.h"
#include "common/metric_set.h"
#include "common/sink.h"

/* Prometheus' staleness marker: a NaN with this exact bit pattern (value.StaleNaN). */
#define TW_TSDB_STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

/* Returns the stale-marker double; bit-exact (store it, never compute with it). */
double tw_tsdb_stale_nan(void);
/* Whether v carries exactly the stale-marker bits. */
bool tw_tsdb_is_stale_nan(double v);

typedef enum {
    TW_TSDB_FSYNC_ALWAYS = 0, /* commit returns after fdatasync; concurrent commits share one */
    TW_TSDB_FSYNC_INTERVAL,   /* commit returns after write(2); a thread syncs every interval */
    TW_TSDB_FSYNC_NEVER,      /* the kernel decides; survives kill -9, not power loss */
} tw_tsdb_fsync_policy_t;

/* Options; start from tw_tsdb_options_default(), then set path. */
typedef struct tw_tsdb_options {
    const char *path;                    /* data dir (created); the WAL is <path>/wal. Borrowed
                                            for tw_tsdb_open() only. */
    size_t wal_segment_bytes;            /* segment size; default 128 MiB */
    tw_tsdb_fsync_policy_t fsync_policy; /* default TW_TSDB_FSYNC_ALWAYS */
    int64_t fsync_interval_ms;           /* for TW_TSDB_FSYNC_INTERVAL; default 1000 */
    int64_t out_of_order_window_ms;      /* 0 (default): older samples are rejected */
    unsigned chunk_target_samples;       /* samples per chunk before it is cut; default 120 */
    unsigned stripes;                    /* lock stripes, rounded up to a power of 2; 1024 */
    bool read_only; /* replay only: never writes, never truncates a torn tail; appends fail */
    int64_t block_range_ms;        /* head -> block range (Prometheus' min block duration);
                                      default 2 h. A block is cut when the head spans 1.5x. */
    int64_t retention_time_ms;     /* blocks older than the newest block's end minus this are
                                      deleted; default 15 d; 0: keep forever */
    uint64_t retention_size_bytes; /* blocks + WAL above this: oldest blocks deleted; 0: none */
    int64_t compact_interval_ms;   /* background cut/compaction/retention period; default
                                      60000; 0: no thread (call tw_tsdb_compact()) */
} tw_tsdb_options_t;

/* Fills o with the defaults (path NULL). */
void tw_tsdb_options_default(tw_tsdb_options_t *o);

/* What replaying the WAL found. Nothing is lost silently: every event is counted here. */
typedef struct tw_tsdb_replay_report {
    uint64_t segments;               /* segment files read (checkpoint included) */
    uint64_t records;                /* records decoded */
    uint64_t series;                 /* series records applied */
    uint64_t samples;                /* samples applied */
    uint64_t torn_tails;             /* 0 or 1: the last segment ended inside a record */
    uint64_t torn_bytes;             /* bytes of that incomplete record */
    uint64_t corruptions;            /* damaged records or headers in the WAL */
    uint64_t corrupt_bytes;          /* bytes skipped because of them */
    uint64_t unknown_series_samples; /* samples whose series record was lost */
    uint64_t rejected_samples;       /* samples the head refused (see the rejection counters) */
    char message[2048]; /* one line per event ("segment 00000002 offset 1234: ..."); "" if clean */
} tw_tsdb_replay_report_t;

typedef struct tw_tsdb tw_tsdb_t;

/*
 * Opens (creating when needed) the database at o->path, replays its WAL into the head and, unless
 * read_only, starts a new WAL segment. The caller is responsible for excluding other processes
 * (the daemon holds an exclusive flock on <path>/lock). Damaged WAL parts do not fail the open:
 * they are skipped and described by tw_tsdb_replay_report(). Returns 0 and *out, or TW_EINVAL
 * (bad options), -errno / TW_EIO (the message names the file).
 */
int tw_tsdb_open(const tw_tsdb_options_t *o, tw_tsdb_t **out, tw_error_t *err);

/* Syncs and closes the WAL and frees everything. Transactions and queriers must be finished.
 * NULL is a no-op. */
void tw_tsdb_close(tw_tsdb_t *db);

/* The report of the replay done by tw_tsdb_open(); valid while db is open. */
const tw_tsdb_replay_report_t *tw_tsdb_replay_report(const tw_tsdb_t *db);

/* ---- appending ---- */

typedef struct tw_tsdb_appender tw_tsdb_appender_t;

/* Starts a transaction. Never fails on a writable db; NULL on a read-only one. */
tw_tsdb_appender_t *tw_tsdb_appender_begin(tw_tsdb_t *db);

/*
 * Adds a sample to the transaction. labels are sorted by name, unique, include __name__, and are
 * borrowed for the call (copied when the series is new). Returns 0, TW_EINVAL (labels not sorted,
 * no __name__, empty), or a rejection (TW_EOUTOFORDER, TW_EDUPLICATE, TW_ETOOOLD) counted by
 * reason and described in err with the series; the transaction stays usable after a rejection.
 * An identical resend returns 0 and stores nothing.
 */
int tw_tsdb_appender_append(tw_tsdb_appender_t *a, const tw_label_t *labels, size_t nlabels,
                            int64_t t_ms, double v, tw_error_t *err);

/*
 * Applies the samples to the head, writes them to the WAL and waits for the fsync policy; frees a.
 * Samples that a concurrent commit made invalid since append are counted as rejected (they were
 * checked at append; this only happens when two transactions write the same series at once).
 * Returns 0, or TW_EIO / -errno when the WAL write or fsync failed (the samples may be visible
 * but are not durable).
 */
int tw_tsdb_appender_commit(tw_tsdb_appender_t *a, tw_error_t *err);

/* Discards the transaction and frees a. NULL is a no-op. */
void tw_tsdb_appender_rollback(tw_tsdb_appender_t *a);

/* The sample-sink contract (common/sink.h) on top of the appender; ctx is db. */
tw_sink_t tw_tsdb_sink(tw_tsdb_t *db);

/* ---- head maintenance ---- */

/*
 * Drops every chunk whose samples are all older than mint, removes series left without samples
 * (and not in an open transaction), and makes mint the oldest time the head accepts (older
 * samples get TW_ETOOOLD). Waits for running queriers to finish. Returns 0.
 */
int tw_tsdb_head_truncate(tw_tsdb_t *db, int64_t mint, tw_error_t *err);

/*
 * Starts a new WAL segment and folds every older segment (and the previous checkpoint) into a
 * checkpoint that keeps series still in the head and samples with t >= mint; then deletes them.
 * Returns 0 or TW_EIO / -errno (nothing deleted).
 */
int tw_tsdb_checkpoint(tw_tsdb_t *db, int64_t mint, tw_error_t *err);

/* ---- blocks (docs/formats/block.md) ---- */

/*
 * One maintenance pass, what the background thread runs every compact_interval_ms: cut blocks
 * from the head while it spans more than 1.5 x block_range_ms (then head truncation + WAL
 * checkpoint), merge blocks as Prometheus' leveled compactor plans, apply retention by time and
 * size. now_ms names the new blocks (ULID time); nothing else reads a clock, so tests drive it
 * with any data timestamps. Serialized with the thread. Returns 0, TW_ESTATE (read-only), or
 * the first failure (-errno / TW_EIO, the message names the block); a failed block write leaves
 * no directory behind and is counted in tidewatch_tsdb_compactions_failed_total.
 */
int tw_tsdb_compact(tw_tsdb_t *db, int64_t now_ms, tw_error_t *err);

/*
 * Prometheus' admin snapshot: writes <path>/snapshots/<name>/ with a hard link (or copy) of every
 * block and, unless skip_head, the head as one more block. name is "YYYYMMDDTHHMMSSZ-<16 hex>"
 * from now_ms (UTC), written into name_out (at least 40 bytes). Returns 0, TW_EINVAL,
 * -errno / TW_EIO.
 */
int tw_tsdb_snapshot(tw_tsdb_t *db, int64_t now_ms, bool skip_head, char *name_out, size_t name_sz,
                     tw_error_t *err);

/* What loading the blocks found: one line per damaged block skipped ("block <ulid>: <reason>")
 * or leftover removed; "" when clean. Valid while db is open. */
const char *tw_tsdb_blocks_report(tw_tsdb_t *db);

/* Counters and gauges; the same numbers tw_tsdb_collect_metrics() exports. */
typedef struct tw_tsdb_stats {
    uint64_t head_series;             /* gauge */
    uint64_t head_chunks;             /* gauge: closed + open chunks */
    uint64_t head_series_created;     /* counter */
    uint64_t head_series_removed;     /* counter */
    uint64_t samples_appended;        /* counter: samples stored (in order and out of order) */
    uint64_t ooo_samples_appended;    /* counter: of which out of order, inside the window */
    uint64_t duplicates_ignored;      /* counter: identical resends (no-ops) */
    uint64_t rejected_out_of_order;   /* counter: TW_EOUTOFORDER */
    uint64_t rejected_duplicate;      /* counter: TW_EDUPLICATE */
    uint64_t rejected_too_old;        /* counter: TW_ETOOOLD */
    uint64_t commits;                 /* counter */
    uint64_t rollbacks;               /* counter */
    uint64_t wal_bytes;               /* gauge: size of segments + checkpoint on disk */
    uint64_t wal_fsyncs;              /* counter */
    double wal_fsync_seconds;         /* counter: total time in fdatasync */
    uint64_t wal_truncations;         /* counter: checkpoints that deleted segments */
    uint64_t wal_truncation_failures; /* counter */
    uint64_t wal_corruptions;         /* counter: damaged WAL records found (replay, checkpoint) */
    uint64_t head_truncations;        /* counter */
    int64_t head_min_time;            /* ms; INT64_MAX when empty */
    int64_t head_max_time;            /* ms; INT64_MIN when empty */
    uint64_t blocks_loaded;           /* gauge: blocks open now */
    uint64_t blocks_bytes;            /* gauge: their size on disk */
    uint64_t blocks_skipped;          /* counter: damaged blocks skipped at open */
    uint64_t head_cuts;               /* counter: blocks written from the head */
    uint64_t compactions;             /* counter: blocks merged (compactions run) */
    uint64_t compactions_failed;      /* counter */
    uint64_t compaction_runs;         /* counter: cuts + compactions timed below */
    double compaction_seconds;        /* counter: total time writing blocks */
    uint64_t time_retentions;         /* counter: retention runs that deleted blocks by time */
    uint64_t size_retentions;         /* counter: same, by size */
    uint64_t blocks_deleted;          /* counter: blocks deleted by retention */
    int64_t lowest_timestamp;         /* ms: oldest sample in blocks or head; INT64_MAX if none */
} tw_tsdb_stats_t;

/* Fills st. Thread-safe; approximate while appends run. */
void tw_tsdb_stats_get(tw_tsdb_t *db, tw_tsdb_stats_t *st);

/*
 * Adds the tidewatch_tsdb_* families (Prometheus' prometheus_tsdb_* meanings) to out:
 * head_series, head_chunks, head_series_created_total, head_series_removed_total,
 * head_samples_appended_total, head_out_of_order_samples_appended_total,
 * duplicate_samples_ignored_total, samples_rejected_total{reason=out_of_order|duplicate|too_old},
 * wal_storage_size_bytes, wal_fsync_duration_seconds (summary _sum/_count),
 * wal_truncations_total, wal_truncations_failed_total, wal_corruptions_total,
 * head_truncations_total, head_min_time, head_max_time (ms, like Prometheus'), blocks_loaded,
 * blocks_skipped_total, compactions_total, compactions_failed_total,
 * compaction_duration_seconds (summary _sum/_count), time_retentions_total,
 * size_retentions_total, retention_deleted_blocks_total, storage_blocks_bytes,
 * lowest_timestamp (ms).
 */
void tw_tsdb_collect_metrics(tw_tsdb_t *db, tw_mset_t *out);

/* ---- querying ---- */

typedef struct tw_tsdb_querier tw_tsdb_querier_t;
typedef struct tw_tsdb_series_set tw_tsdb_series_set_t;
typedef struct tw_tsdb_iter tw_tsdb_iter_t;

/*
 * A read view over [mint, maxt] (inclusive, ms). While it lives, series it returns stay valid
 * (head truncation waits for it). Samples committed after a series' iterator was made are not
 * seen by that iterator. Free it with tw_tsdb_querier_free(), after its sets and iterators.
 */
tw_tsdb_querier_t *tw_tsdb_querier_new(tw_tsdb_t *db, int64_t mint, int64_t maxt);
/* NULL is a no-op. */
void tw_tsdb_querier_free(tw_tsdb_querier_t *q);

/*
 * Series matching all n matchers (AND; n == 0 selects every series), that have at least one
 * sample in [mint, maxt], sorted by labels (tw_labels_compare). ms is borrowed for the call.
 * Refusing selectors that match everything is the PromQL parser's job, not this one's. Returns
 * NULL only for a NULL q (TW_EINVAL). Free with tw_tsdb_series_set_free().
 */
tw_tsdb_series_set_t *tw_tsdb_select(tw_tsdb_querier_t *q, const tw_matcher_t *ms, size_t n,
                                     tw_error_t *err);
/* Moves to the next series; false at the end. Call it before the first series. */
bool tw_tsdb_series_set_next(tw_tsdb_series_set_t *set);
/* The current series' labels (sorted, interned): valid until the querier is freed. */
const tw_label_t *tw_tsdb_series_set_labels(const tw_tsdb_series_set_t *set, size_t *n);
/* The current series' id (stable while the series lives in the head). */
uint64_t tw_tsdb_series_set_ref(const tw_tsdb_series_set_t *set);
/* Number of series in the set. */
size_t tw_tsdb_series_set_count(const tw_tsdb_series_set_t *set);
/*
 * An iterator over the current series' samples in [mint, maxt], ascending by time. reuse (may be
 * NULL) is an iterator from the same querier to recycle. Owned by the caller: free with
 * tw_tsdb_iter_free(); valid until the querier is freed.
 */
tw_tsdb_iter_t *tw_tsdb_series_set_iter(tw_tsdb_series_set_t *set, tw_tsdb_iter_t *reuse);
/* NULL is a no-op. */
void tw_tsdb_series_set_free(tw_tsdb_series_set_t *set);

/* Advances to the next sample; false at the end (or on a decode error: see tw_tsdb_iter_err). */
bool tw_tsdb_iter_next(tw_tsdb_iter_t *it);
/*
 * Advances to the first sample with time >= t (never backwards: if the current sample is already
 * at or after t it stays). Returns false when there is none.
 */
bool tw_tsdb_iter_seek(tw_tsdb_iter_t *it, int64_t t);
/* The current sample. Only after next/seek returned true. */
void tw_tsdb_iter_at(const tw_tsdb_iter_t *it, int64_t *t, double *v);
/* 0, or TW_EIO when a chunk could not be decoded (memory corruption; never expected). */
int tw_tsdb_iter_err(const tw_tsdb_iter_t *it);
/* NULL is a no-op. */
void tw_tsdb_iter_free(tw_tsdb_iter_t *it);

/*
 * Sorted distinct label names (values: of name) of series in the head, as an array of borrowed
 * interned strings valid until the querier is freed; the array itself is the caller's (free()).
 * Label names with no series are not listed. Returns 0.
 */
int tw_tsdb_querier_label_names(tw_tsdb_querier_t *q, const char ***out, size_t *n);
int tw_tsdb_querier_label_values(tw_tsdb_querier_t *q, const char *name, const char ***out,
                                 size_t *n);

/* ---- tools: `tidewatch tsdb dump|analyze` ---- */

/*
 * Prints the samples (blocks and head) of series matching ms (n == 0: all series) in [mint, maxt]
 * in promtool tsdb dump's format: `{__name__="up", job="x"} 1 1700000000000` (labels as Go's
 * labels.String(), the value as Go's %g, the timestamp in ms), series sorted by labels. path is a
 * data dir that no daemon holds: when <path>/lock is locked, returns TW_ECONFLICT with a message
 * saying so. The WAL is replayed read-only (nothing is modified). If damaged blocks were skipped
 * or the replay skipped damaged data, the return is still 0 and err (when given) has code 0 and
 * the blocks report (tw_tsdb_blocks_report()), else the replay report, in msg: print it as a
 * warning. Errors: TW_ECONFLICT, TW_ENOTFOUND (no such directory), -errno.
 */
int tw_tsdb_dump(const char *path, const tw_matcher_t *ms, size_t n, int64_t mint, int64_t maxt,
                 FILE *out, tw_error_t *err);

/*
 * Prints promtool tsdb analyze's report for the newest block of the data dir at path (like
 * promtool), or for its head when it has no block (Block ID "head"):
 * series, label names, postings, churn, most common label pairs, label names by cumulative value
 * length, highest cardinality labels and metric names, limit lines per list (0: 20). Same lock
 * and warning rules as tw_tsdb_dump().
 */
int tw_tsdb_analyze(const char *path, size_t limit, FILE *out, tw_error_t *err);

#endif
