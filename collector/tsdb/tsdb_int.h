/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_int.h - declarations shared inside collector/tsdb only: chunk coding, postings, the string
 * interner, WAL records and segments, the head. No other folder includes this (tests and fuzz
 * targets of this module do).
 */
#ifndef TW_COLLECTOR_TSDB_TSDB_INT_H
#define TW_COLLECTOR_TSDB_TSDB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/tsdb/tsdb.h"
#include "common/buf.h"
#include "common/matcher.h"

/* ---- chunk_xor.c: Prometheus' XOR chunk (docs/formats/chunks.md). Pure. ---- */

/*
 * A chunk's bytes. Invariant: data[0..1] is the big-endian sample count; nbits counts the bits
 * used after the 2-byte header (so the byte length is 2 + (nbits + 7) / 8). cap is the allocated
 * size (data is owned by whoever holds the chunk).
 */
typedef struct tsdb_chunk {
    uint8_t *data;
    uint32_t nbits;
    uint32_t cap;
    int64_t mint; /* first sample's time, ms */
    int64_t maxt; /* last sample's time, ms */
} tsdb_chunk_t;

/* The state needed to append to a chunk (what a reader reconstructs while decoding). */
typedef struct tsdb_xor_state {
    int64_t t;
    int64_t tdelta;
    uint64_t vbits;
    uint8_t leading; /* 0xff: no window yet */
    uint8_t trailing;
    uint16_t n;
} tsdb_xor_state_t;

/* Allocates an empty chunk (header only) and resets st. */
void tsdb_chunk_init(tsdb_chunk_t *c, tsdb_xor_state_t *st);
/* Appends a sample (t must be > the previous t for in-order data; not checked). */
void tsdb_chunk_append(tsdb_chunk_t *c, tsdb_xor_state_t *st, int64_t t, double v);
/* Shrinks the allocation to the exact byte length (for closed chunks). */
void tsdb_chunk_trim(tsdb_chunk_t *c);
/* Byte length of a chunk. */
size_t tsdb_chunk_bytes(const tsdb_chunk_t *c);
/* Frees the data. */
void tsdb_chunk_fini(tsdb_chunk_t *c);
/* Sample count stored in the header of bytes (len >= 2), else 0. */
unsigned tsdb_chunk_count(const uint8_t *bytes, size_t len);

/* A decoder over len bytes of chunk data (borrowed). */
typedef struct tsdb_xor_iter {
    const uint8_t *data;
    size_t len_bits; /* bits available after the header */
    size_t pos;      /* next bit to read */
    uint16_t n;      /* samples in the chunk */
    uint16_t i;      /* samples decoded so far */
    tsdb_xor_state_t st;
    int err; /* TW_EIO once the stream is found malformed */
} tsdb_xor_iter_t;

void tsdb_xor_iter_init(tsdb_xor_iter_t *it, const uint8_t *data, size_t len);
/* Decodes the next sample into it->st.t / it->st.vbits. false at the end or on error. */
bool tsdb_xor_iter_next(tsdb_xor_iter_t *it);
/*
 * Decodes up to max further samples into t[] / vbits[] (the same samples tsdb_xor_iter_next()
 * would give, in a tight loop) and returns how many. Fewer than max means the chunk ended or
 * was found malformed (it->err).
 */
size_t tsdb_xor_iter_decode(tsdb_xor_iter_t *it, int64_t *t, uint64_t *vbits, size_t max);

/* ---- tsdb_postings.c: sorted uint64 id lists. Pure. ---- */

typedef struct tsdb_postings {
    uint64_t *ids; /* owned, strictly increasing */
    size_t n;
    size_t cap;
} tsdb_postings_t;

void tsdb_postings_fini(tsdb_postings_t *p);
/* Appends id, which must be greater than the last one. */
void tsdb_postings_push(tsdb_postings_t *p, uint64_t id);
/* Inserts id keeping order (no-op if present). */
void tsdb_postings_insert(tsdb_postings_t *p, uint64_t id);
/* Removes id if present. */
void tsdb_postings_remove(tsdb_postings_t *p, uint64_t id);
/* out = a ∩ b (out is reset first; may not alias a or b). */
void tsdb_postings_intersect(const tsdb_postings_t *a, const tsdb_postings_t *b,
                             tsdb_postings_t *out);
/* out = a \ b. */
void tsdb_postings_subtract(const tsdb_postings_t *a, const tsdb_postings_t *b,
                            tsdb_postings_t *out);
/* out = union of k lists (borrowed pointers). */
void tsdb_postings_union(const tsdb_postings_t *const *lists, size_t k, tsdb_postings_t *out);

/*
 * Where tsdb_postings_for_matchers() gets its lists: the head's in-memory index or a block's
 * index. union_fn sets *out to the union of the postings of m's label values for which
 * tw_matcher_matches() == want; all_fn sets *out to every series. Both return 0 or an error.
 */
typedef struct tsdb_postings_source {
    void *ctx;
    int (*union_fn)(void *ctx, const tw_matcher_t *m, bool want, tsdb_postings_t *out,
                    tw_error_t *err);
    int (*all_fn)(void *ctx, tsdb_postings_t *out, tw_error_t *err);
} tsdb_postings_source_t;

/*
 * Prometheus' PostingsForMatchers over src: a matcher that rejects "" must find its label among
 * the accepted values (intersect with their union); a matcher that accepts "" also selects
 * series without the label, so it can only exclude (subtract the union of the values it
 * rejects). With no intersecting matcher, start from all series. *out is replaced; on error it
 * is empty.
 */
int tsdb_postings_for_matchers(const tsdb_postings_source_t *src, const tw_matcher_t *ms, size_t n,
                               tsdb_postings_t *out, tw_error_t *err);

/* ---- tsdb_intern.c: refcounted string interner (thread-safe). ---- */

typedef struct tsdb_interner tsdb_interner_t;
tsdb_interner_t *tsdb_interner_new(void);
void tsdb_interner_free(tsdb_interner_t *in);
/* Returns the interned copy of s with one more reference. */
const char *tsdb_intern(tsdb_interner_t *in, const char *s);
/* Drops one reference to an interned string. */
void tsdb_unintern(tsdb_interner_t *in, const char *s);
/* Distinct strings and their bytes (self-metrics). */
size_t tsdb_interner_count(tsdb_interner_t *in);

/* ---- tsdb_record.c: WAL record payloads (docs/formats/wal.md). Pure. ---- */

/*
 * Record types as the segment parser hands them to its callback. On disk a samples record is
 * type 2 in both segment versions; its encoding depends on the segment's magic: version 1
 * segments hold TSDB_REC_SAMPLES (base + deltas + 8 value bytes), version 2 segments (the only
 * ones written now) TSDB_REC_SAMPLES2 (docs/formats/wal.md). TSDB_REC_SAMPLES2 is never
 * written to disk as a type byte.
 */
enum { TSDB_REC_SERIES = 1, TSDB_REC_SAMPLES = 2, TSDB_REC_SAMPLES2 = 3 };

#define TSDB_WAL_MAX_RECORD (64u << 20)

/* Appends one series entry to a series-record payload. */
int tsdb_record_series_put(tw_buf_t *b, uint64_t ref, const tw_label_t *labels, size_t n);
/* Samples record encoder: call begin once, then put for each sample. */
typedef struct tsdb_samples_enc {
    uint64_t base_ref;
    int64_t base_t;
    bool started;
} tsdb_samples_enc_t;
int tsdb_record_samples_put(tw_buf_t *b, tsdb_samples_enc_t *e, uint64_t ref, int64_t t,
                            uint64_t vbits);

/* Samples record encoder, version 2 (what commits and checkpoints write): zero it, then put
 * each sample. */
typedef struct tsdb_samples2_enc {
    uint64_t prev_ref;
    int64_t prev_t;
    uint64_t prev_vbits;
} tsdb_samples2_enc_t;
int tsdb_record_samples2_put(tw_buf_t *b, tsdb_samples2_enc_t *e, uint64_t ref, int64_t t,
                             uint64_t vbits);

typedef int (*tsdb_series_cb)(void *ctx, uint64_t ref, const tw_label_t *labels, size_t n);
typedef int (*tsdb_sample_cb)(void *ctx, uint64_t ref, int64_t t, uint64_t vbits);
/*
 * Decodes a series payload, calling cb per entry (labels valid for the call). Returns 0,
 * TW_EPARSE (message says where), or cb's non-zero return. Entries are validated: labels
 * sorted, unique, non-empty names, at most 1024 labels.
 */
int tsdb_record_series_decode(const uint8_t *p, size_t n, tsdb_series_cb cb, void *ctx,
                              tw_error_t *err);
int tsdb_record_samples_decode(const uint8_t *p, size_t n, tsdb_sample_cb cb, void *ctx,
                               tw_error_t *err);
/* Decodes a version 2 samples payload (TSDB_REC_SAMPLES2); same contract. */
int tsdb_record_samples2_decode(const uint8_t *p, size_t n, tsdb_sample_cb cb, void *ctx,
                                tw_error_t *err);

/* Appends a framed record (16-byte header + payload) to b. */
int tsdb_record_frame(tw_buf_t *b, int type, const void *payload, size_t len);

/* CRC32C (Castagnoli). */
uint32_t tsdb_crc32c(uint32_t crc, const void *p, size_t n);

/* ---- tsdb_wal.c: segments ---- */

/* The magic of the segments written now (format version 2) and of version 1 segments, which
 * are still read. */
#define TSDB_WAL_MAGIC "TWWAL\0\0\2"
#define TSDB_WAL_MAGIC_V1 "TWWAL\0\0\1"
#define TSDB_WAL_MAGIC_LEN 8
#define TSDB_WAL_HDR 16

/* What a segment parse found; accumulated into the replay report. */
typedef struct tsdb_segment_result {
    size_t valid_end; /* offset after the last intact record (truncation point) */
    bool torn;        /* ended inside a record (only meaningful for the last segment) */
    uint64_t torn_bytes;
    uint64_t corruptions;
    uint64_t corrupt_bytes;
    uint64_t records;
} tsdb_segment_result_t;

typedef int (*tsdb_record_cb)(void *ctx, int type, const uint8_t *payload, size_t len,
                              size_t offset);
/*
 * Parses a segment image (data, len): magic (version 1 or 2), then records; calls cb for each
 * intact record, with TSDB_REC_SAMPLES2 for the samples records of a version 2 segment.
 * Damage is handled per docs/formats/wal.md and described by appending lines "<name> offset N:
 * ..." to msg (may be NULL). last says whether this is the last segment (a short record there
 * is a torn tail, elsewhere it is damage). Returns 0, TW_EPARSE (no magic), or cb's return.
 */
int tsdb_segment_parse(const uint8_t *data, size_t len, bool last, const char *name,
                       tsdb_record_cb cb, void *ctx, tsdb_segment_result_t *res, tw_buf_t *msg);

typedef struct tsdb_wal tsdb_wal_t;

typedef struct tsdb_wal_stats {
    uint64_t fsyncs;
    double fsync_seconds;
    uint64_t bytes; /* on disk */
    uint64_t truncations;
    uint64_t truncation_failures;
} tsdb_wal_stats_t;

/* Opens dir for writing: a new segment numbered first_seg. */
int tsdb_wal_open(const char *dir, int first_seg, size_t seg_bytes, tw_tsdb_fsync_policy_t pol,
                  int64_t interval_ms, uint64_t existing_bytes, tsdb_wal_t **out, tw_error_t *err);
void tsdb_wal_close(tsdb_wal_t *w);
/* Writes one batch (whole, in one segment) and returns its end position in *seq. Callers
 * serialize writes (the commit mutex). */
int tsdb_wal_write(tsdb_wal_t *w, const void *p, size_t n, uint64_t *seq, tw_error_t *err);
/* Waits until seq is durable per the policy (group commit for ALWAYS). */
int tsdb_wal_sync(tsdb_wal_t *w, uint64_t seq, tw_error_t *err);
/* Closes the current segment (synced) and opens the next; returns the closed segment's number. */
int tsdb_wal_cut(tsdb_wal_t *w, int *closed, tw_error_t *err);
void tsdb_wal_stats_get(tsdb_wal_t *w, tsdb_wal_stats_t *st);
void tsdb_wal_note_truncation(tsdb_wal_t *w, bool ok, int64_t bytes_delta);

/* Segment numbers found in dir (sorted), and the newest complete checkpoint (-1 if none). */
int tsdb_wal_list(const char *dir, int **segs, size_t *nsegs, int *checkpoint, tw_error_t *err);

/* ---- the head (tsdb_head.c) ---- */

typedef struct tsdb_sample {
    int64_t t;
    uint64_t vbits;
} tsdb_sample_t;

/*
 * One series. Invariants: labels (interned, sorted) and ref/hash never change after creation;
 * every other field is guarded by the stripe lock of hash. chunks[] are closed (immutable bytes,
 * trimmed) and in time order, followed by head (data == NULL when no open chunk); all in-order
 * samples are > every earlier one. ooo[] holds out-of-order samples sorted by t, disjoint from
 * the chunks' timestamps.
 */
typedef struct tsdb_series {
    uint64_t ref;
    uint64_t hash;
    struct tsdb_series *next; /* stripe hash chain */
    tsdb_chunk_t *chunks;
    tsdb_chunk_t head;
    tsdb_xor_state_t app;
    int64_t last_t; /* newest in-order sample, valid when has_samples */
    uint64_t last_vbits;
    tsdb_sample_t *ooo;
    uint32_t nchunks;
    uint32_t chunks_cap;
    uint32_t nooo;
    uint32_t ooo_cap;
    uint32_t pending; /* open transactions holding this series */
    uint16_t nlabels;
    uint8_t has_samples;
    uint8_t wal_logged; /* its series record is in the WAL (guarded by the commit mutex) */
    tw_label_t labels[];
} tsdb_series_t;

typedef struct tsdb_head tsdb_head_t;

/* Why a sample was or was not stored. */
typedef enum {
    TSDB_APPEND_OK = 0,
    TSDB_APPEND_OOO,       /* stored out of order */
    TSDB_APPEND_IDENTICAL, /* identical resend: nothing stored */
} tsdb_append_res_t;

tsdb_head_t *tsdb_head_new(unsigned stripes, unsigned chunk_target, int64_t ooo_window_ms);
void tsdb_head_free(tsdb_head_t *h);
/*
 * Finds or creates the series with these labels (sorted). ref 0 allocates a new id; a non-zero
 * ref (replay) is used as the id when the series is new. *created tells which. When pin is set,
 * pending is incremented under the same lock. Returns NULL when ref is beyond the id space.
 */
tsdb_series_t *tsdb_head_get_or_create(tsdb_head_t *h, const tw_label_t *labels, size_t n,
                                       uint64_t ref, bool pin, bool *created);
/*
 * Like tsdb_head_get_or_create() with a new id and no pin, but returns with the series' stripe
 * locked (as tsdb_head_lock()), so a caller can check and pin it without locking twice.
 * Returns NULL (nothing locked) when the id space is exhausted.
 */
tsdb_series_t *tsdb_head_get_or_create_locked(tsdb_head_t *h, const tw_label_t *labels, size_t n,
                                              bool *created);
/* The series with id ref, or NULL. */
tsdb_series_t *tsdb_head_by_ref(tsdb_head_t *h, uint64_t ref);
void tsdb_head_lock(tsdb_head_t *h, const tsdb_series_t *s);
void tsdb_head_unlock(tsdb_head_t *h, const tsdb_series_t *s);
/*
 * With the series locked: checks whether (t, vbits) could be appended. Returns 0 with *res,
 * or TW_EOUTOFORDER / TW_EDUPLICATE / TW_ETOOOLD.
 */
int tsdb_head_check(tsdb_head_t *h, const tsdb_series_t *s, int64_t t, uint64_t vbits,
                    tsdb_append_res_t *res);
/* With the series locked: checks and stores. Counts the outcome. Same returns as check. */
int tsdb_head_append(tsdb_head_t *h, tsdb_series_t *s, int64_t t, uint64_t vbits,
                     tsdb_append_res_t *res);
/* Counts a rejection code (append-time rejections). */
void tsdb_head_count_reject(tsdb_head_t *h, int code);
/* Counts an identical resend found at append time. */
void tsdb_head_count_identical(tsdb_head_t *h);
/* Unpins a series (lock taken inside). */
void tsdb_head_unpin(tsdb_head_t *h, tsdb_series_t *s);

/* Matching series ids (sorted) for the AND of the matchers. Takes the index read lock. */
void tsdb_head_postings_for_matchers(tsdb_head_t *h, const tw_matcher_t *ms, size_t n,
                                     tsdb_postings_t *out);
/* Label names / values with series, sorted (strings interned, valid while the series live). */
void tsdb_head_label_names(tsdb_head_t *h, const char ***out, size_t *n);
void tsdb_head_label_values(tsdb_head_t *h, const char *name, const char ***out, size_t *n);
/* Number of series with label pair name=value (analyze). */
size_t tsdb_head_postings_len(tsdb_head_t *h, const char *name, const char *value);

/* Head truncation (callers exclude queriers). */
void tsdb_head_truncate(tsdb_head_t *h, int64_t mint);

/* Visits every live series (no lock held while cb runs; call from a quiescent context). */
void tsdb_head_foreach(tsdb_head_t *h, void (*cb)(void *ctx, tsdb_series_t *s), void *ctx);

typedef struct tsdb_head_stats {
    uint64_t series, chunks, created, removed, appended, ooo_appended, identical;
    uint64_t rej_ooo, rej_dup, rej_old, truncations;
    int64_t mint, maxt;
} tsdb_head_stats_t;
void tsdb_head_stats_get(tsdb_head_t *h, tsdb_head_stats_t *st);
int64_t tsdb_head_min_valid(tsdb_head_t *h);

/* ---- tsdb_index.c: block index files, Prometheus format v2 (docs/formats/block.md) ---- */

/* A buffered file writer that tracks its offset; the first error sticks in err. */
typedef struct tsdb_fw {
    int fd; /* borrowed */
    tw_buf_t buf;
    uint64_t off; /* bytes written so far (buffered included) */
    int err;      /* 0 or -errno / TW_ELIMIT */
} tsdb_fw_t;

void tsdb_fw_init(tsdb_fw_t *w, int fd);
int tsdb_fw_write(tsdb_fw_t *w, const void *p, size_t n);
/* Writes zero bytes up to a multiple of align (<= 16). */
int tsdb_fw_pad(tsdb_fw_t *w, unsigned align);
int tsdb_fw_flush(tsdb_fw_t *w);
void tsdb_fw_fini(tsdb_fw_t *w);

/* A chunk of a block series: first and last sample times (inclusive) and its file reference
 * (file index << 32 | offset). */
typedef struct tsdb_chunk_meta {
    int64_t mint, maxt;
    uint64_t ref;
} tsdb_chunk_meta_t;

/* A series handed to the index writer (all borrowed). */
typedef struct tsdb_iw_series {
    const tw_label_t *labels;
    size_t nlabels;
    const tsdb_chunk_meta_t *chunks;
    size_t nchunks;
} tsdb_iw_series_t;

/* Writes (and fsyncs) an index file at path for n series sorted by labels. Returns 0, -errno
 * or TW_ELIMIT, with the path in err. */
int tsdb_index_write(const char *path, const tsdb_iw_series_t *series, size_t n, tw_error_t *err);

/* A postings offset table entry; name/value point into the symbol copies ("" is static). */
typedef struct tsdb_pot {
    const char *name, *value;
    uint64_t off;
} tsdb_pot_t;

/* An opened index: b is borrowed (the mapping), the rest owned. Immutable once open. */
typedef struct tsdb_index {
    const uint8_t *b;
    size_t len;
    uint64_t toc[6];
    uint64_t series_end;
    char *symstr;      /* NUL-terminated copies of the symbols */
    const char **syms; /* nsyms pointers into symstr, sorted */
    uint32_t nsyms;
    tsdb_pot_t *pot;
    size_t npot;
} tsdb_index_t;

/* A decoded series entry; labels point into the index's symbols; arrays reused across calls. */
typedef struct tsdb_iseries {
    tw_label_t *labels;
    size_t nlabels, labels_cap;
    tsdb_chunk_meta_t *chunks;
    size_t nchunks, chunks_cap;
} tsdb_iseries_t;

/* Parses the index in b[0..len) (validates TOC, symbols, postings offset table). Pure. Returns
 * 0 or TW_EPARSE with the reason in err. */
int tsdb_index_open(tsdb_index_t *ix, const uint8_t *b, size_t len, tw_error_t *err);
void tsdb_index_close(tsdb_index_t *ix);
/* The postings list of name=value (empty when absent); ("", "") is every series. */
int tsdb_index_postings(const tsdb_index_t *ix, const char *name, const char *value,
                        tsdb_postings_t *out, tw_error_t *err);
/* Series ids matching all matchers (Prometheus' PostingsForMatchers). */
int tsdb_index_postings_for_matchers(const tsdb_index_t *ix, const tw_matcher_t *ms, size_t n,
                                     tsdb_postings_t *out, tw_error_t *err);
/* Decodes series id (checksum verified). */
int tsdb_index_series(const tsdb_index_t *ix, uint64_t id, tsdb_iseries_t *s, tw_error_t *err);
void tsdb_iseries_fini(tsdb_iseries_t *s);
/* Sorted label names / values of name (arrays owned by the caller, strings by the index). */
void tsdb_index_label_names(const tsdb_index_t *ix, const char ***out, size_t *n);
void tsdb_index_label_values(const tsdb_index_t *ix, const char *name, const char ***out,
                             size_t *n);

/* ---- tsdb_block.c: block directories ---- */

#define TSDB_ULID_LEN 26

typedef struct tsdb_block_meta {
    char ulid[TSDB_ULID_LEN + 1];
    int64_t mint, maxt; /* [mint, maxt) */
    uint64_t nsamples, nseries, nchunks;
    int level;
    char (*sources)[TSDB_ULID_LEN + 1]; /* owned */
    size_t nsources;
} tsdb_block_meta_t;

/* An opened block: immutable, shared by refcount (the db's list holds one, each querier one). */
typedef struct tsdb_block {
    tsdb_block_meta_t meta;
    char *dir; /* owned: full path */
    tsdb_index_t ix;
    uint8_t *index_map;
    size_t index_len;
    uint8_t **files; /* chunk segment mappings */
    size_t *file_lens;
    size_t nfiles;
    uint64_t bytes; /* on disk: index + chunks + meta.json */
    unsigned refs;  /* atomic */
} tsdb_block_t;

/* Makes a ULID from t_ms and 10 random bytes (read from /dev/urandom by the caller). */
void tsdb_ulid_make(char out[TSDB_ULID_LEN + 1], int64_t t_ms, const uint8_t rnd[10]);
/* A fresh ULID for now_ms (randomness from /dev/urandom, falling back to a counter). */
void tsdb_ulid_new(char out[TSDB_ULID_LEN + 1], int64_t now_ms);
bool tsdb_ulid_valid(const char *s);

/* Opens the block directory dir (meta.json, index, chunks/), checking every series entry and
 * chunk reference. Returns 0 and *out (one reference), or TW_EPARSE / -errno naming the file. */
int tsdb_block_open(const char *dir, tsdb_block_t **out, tw_error_t *err);
void tsdb_block_ref(tsdb_block_t *b);
/* Drops a reference; the last one unmaps and frees. NULL is a no-op. */
void tsdb_block_unref(tsdb_block_t *b);
/* The chunk bytes of ref (checksum verified), or TW_EIO. */
int tsdb_block_chunk(const tsdb_block_t *b, uint64_t ref, const uint8_t **data, size_t *len);
void tsdb_block_meta_fini(tsdb_block_meta_t *m);
/* Writes meta.json for m into dir (fsynced). */
int tsdb_block_meta_write(const char *dir, const tsdb_block_meta_t *m, tw_error_t *err);

/* A sorted series source for the block writer: next() gives each series' labels (sorted by
 * labels across calls) and its samples in time order through sample(). */
typedef struct tsdb_wsource {
    void *ctx;
    bool (*next)(void *ctx, const tw_label_t **labels, size_t *n);
    bool (*sample)(void *ctx, int64_t *t, uint64_t *vbits);
} tsdb_wsource_t;

/*
 * Writes the samples of src within [meta->mint, meta->maxt) as a block under parent: into
 * <parent>/<ulid>.tmp-for-creation, then renamed to <parent>/<ulid> (meta->ulid must be set).
 * Fills meta->nsamples/nseries/nchunks. When the source has no sample, nothing is written and
 * *empty is set. A series' samples are spread evenly over ceil(n / (2 x chunk_target)) chunks.
 * Returns 0 or -errno / TW_EIO.
 */
int tsdb_block_write(const char *parent, tsdb_block_meta_t *meta, tsdb_wsource_t *src,
                     unsigned chunk_target, bool *empty, tw_error_t *err);
/* Removes a block directory safely: rename to <dir>.tmp-for-deletion, then delete. */
int tsdb_block_dir_delete(const char *dir);
/* Removes a directory tree (best effort). */
void tsdb_rm_rf(const char *path);
void tsdb_fsync_dir(const char *dir);

/* ---- tsdb_compact.c: the db's blocks, head cuts, compaction, retention, snapshots ---- */

/* The block state of a db (embedded in tw_tsdb_t). Invariant: blocks sorted by (minTime, ulid),
 * each holding one reference; mu guards blocks/n/cap and the counters below it. */
typedef struct tsdb_blockset {
    pthread_mutex_t mu;
    tsdb_block_t **blocks;
    size_t n, cap;
    pthread_mutex_t compact_mu; /* one cut/compaction/retention/snapshot at a time */
    pthread_t thread;
    bool thread_started;
    bool stop; /* guarded by tmu */
    pthread_mutex_t tmu;
    pthread_cond_t tcond;
    uint64_t compactions, compactions_failed, compaction_count, head_cuts;
    double compaction_seconds;
    uint64_t time_retentions, size_retentions, blocks_deleted;
    uint64_t blocks_skipped; /* corrupt blocks skipped when loading */
    char report[2048];       /* one line per skipped or cleaned-up directory */
} tsdb_blockset_t;

tsdb_blockset_t *tsdb_db_blockset(tw_tsdb_t *db);
const tw_tsdb_options_t *tsdb_db_options(tw_tsdb_t *db);
void tsdb_blockset_init(tsdb_blockset_t *bs);
/* Stops the thread, drops every block. */
void tsdb_blockset_fini(tsdb_blockset_t *bs);
/* Opens the blocks under the data dir; rw removes leftovers (.tmp-for-creation/deletion and
 * blocks already compacted into another). Damaged blocks are skipped and reported. Returns 0. */
int tsdb_blocks_load(tw_tsdb_t *db, bool rw);
/* Starts the background compaction thread (every opts.compact_interval_ms). */
void tsdb_compactor_start(tw_tsdb_t *db);

/*
 * Compaction planning (pure), Prometheus' LeveledCompactor.Plan: metas sorted by minTime; ranges
 * ascending (ranges[0] is the head's block range). Writes the indexes of the blocks to merge
 * into out (room for n) and returns how many (0: nothing to do).
 */
size_t tsdb_compact_plan(const tsdb_block_meta_t *const *metas, size_t n, const int64_t *ranges,
                         size_t nranges, size_t *out);
/* Prometheus' ranges: base * 3^i, at most 10 entries, none above max_ms (the first is kept). */
size_t tsdb_compact_ranges(int64_t base, int64_t max_ms, int64_t *out, size_t cap);

/* ---- tsdb_db.c internals the querier needs ---- */

tsdb_head_t *tsdb_db_head(tw_tsdb_t *db);
/* References to the loaded blocks, sorted by minTime (array is the caller's to free(); unref each
 * block). Returns the count. */
size_t tsdb_db_blocks_acquire(tw_tsdb_t *db, tsdb_block_t ***out);
/* A querier over chosen sources: the head (use_head) and/or the given blocks (a reference is
 * taken on each). The head is not clamped to the blocks' end. */
tw_tsdb_querier_t *tsdb_querier_new_src(tw_tsdb_t *db, int64_t mint, int64_t maxt, bool use_head,
                                        tsdb_block_t *const *blocks, size_t nblocks);
/* A querier starts/ends: head truncation waits while any is active. */
void tsdb_db_reader_enter(tw_tsdb_t *db);
void tsdb_db_reader_leave(tw_tsdb_t *db);

/* Formats labels as Go's labels.String() into b. */
int tsdb_labels_format(tw_buf_t *b, const tw_label_t *l, size_t n);

#endif
