/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metric_set.h - a set of metric families with their samples, as one collection produced them.
 *
 * Collectors (cgroup, procfs, self-metrics) fill a set; the exposition writer renders one or
 * more sets on /metrics, and a sink adapter appends a set into storage. All strings and label
 * arrays live in the set's arena and stay valid until tw_mset_reset() or tw_mset_free().
 *
 * Naming: a family's name is the name users know from the text format, so a counter family is
 * called "container_cpu_usage_seconds_total" and its samples have suffix "". Histogram and
 * summary samples carry "_bucket", "_sum", "_count" (and "_created") suffixes. The OpenMetrics
 * writer derives OpenMetrics family names from these (see collector/expfmt/expfmt.h).
 *
 * Thread model: one writer while filling; after that any number of readers may share a set that
 * no one modifies (the daemon publishes finished sets read-only).
 */
#ifndef TW_COMMON_METRIC_SET_H
#define TW_COMMON_METRIC_SET_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "error.h"
#include "labels.h"

/* Sample without an explicit timestamp: the scraper's time applies. */
#define TW_NO_TIMESTAMP INT64_MIN

typedef enum {
    TW_MTYPE_UNTYPED = 0, /* "untyped" in text 0.0.4, "unknown" in OpenMetrics */
    TW_MTYPE_COUNTER,
    TW_MTYPE_GAUGE,
    TW_MTYPE_HISTOGRAM,
    TW_MTYPE_SUMMARY,
    TW_MTYPE_INFO,     /* OpenMetrics only; written as gauge in text 0.0.4 */
    TW_MTYPE_STATESET, /* OpenMetrics only; written as gauge in text 0.0.4 */
    TW_MTYPE_GAUGE_HISTOGRAM,
} tw_metric_type_t;

/* Returns the text 0.0.4 spelling of t ("counter", "untyped", ...). */
const char *tw_metric_type_name(tw_metric_type_t t);

typedef struct tw_msample {
    const char *suffix;       /* appended to the family name: "", "_bucket", "_sum", ... */
    const tw_label_t *labels; /* without __name__, in the order given */
    size_t nlabels;
    double value;
    int64_t ts_ms; /* TW_NO_TIMESTAMP when absent */
} tw_msample_t;

typedef struct tw_mfamily {
    const char *name; /* text-format family name */
    const char *help; /* may be "" */
    const char *unit; /* "" when none; e.g. "seconds", "bytes" */
    tw_metric_type_t type;
    tw_msample_t *samples; /* owned by the set */
    size_t nsamples;
    size_t cap; /* private */
} tw_mfamily_t;

typedef struct tw_mset tw_mset_t;

/* Creates an empty set. */
tw_mset_t *tw_mset_new(void);
/* Frees the set and everything in it. NULL is a no-op. */
void tw_mset_free(tw_mset_t *s);
/* Empties the set, keeping memory for the next collection. */
void tw_mset_reset(tw_mset_t *s);

/* The arena whose lifetime the set's contents share: allocate label strings here and pass
 * them to tw_mset_add_borrowed() to avoid copies. */
tw_arena_t *tw_mset_arena(tw_mset_t *s);

/*
 * Returns the family called name, creating it with type, help and unit (NULL for none) when
 * it does not exist yet. The strings are copied. Cost is O(number of families): look a family
 * up once per collection and keep the pointer, which stays valid until reset/free.
 */
tw_mfamily_t *tw_mset_family(tw_mset_t *s, const char *name, tw_metric_type_t type,
                             const char *help, const char *unit);

/* Appends a sample to f, copying the suffix (NULL for ""), the label array and its strings. */
void tw_mset_add(tw_mset_t *s, tw_mfamily_t *f, const char *suffix, const tw_label_t *labels,
                 size_t nlabels, double value, int64_t ts_ms);

/*
 * Appends a sample without copying: suffix, labels and the label strings must live at least as
 * long as the set's contents (in its arena, or static).
 */
void tw_mset_add_borrowed(tw_mset_t *s, tw_mfamily_t *f, const char *suffix,
                          const tw_label_t *labels, size_t nlabels, double value, int64_t ts_ms);

/* Number of families, and the family at index i (in creation order). */
size_t tw_mset_family_count(const tw_mset_t *s);
const tw_mfamily_t *tw_mset_family_at(const tw_mset_t *s, size_t i);
/* Total number of samples over all families. */
size_t tw_mset_sample_count(const tw_mset_t *s);
/* Looks a family up by name; NULL when absent. */
const tw_mfamily_t *tw_mset_find(const tw_mset_t *s, const char *name);

#endif
