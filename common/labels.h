/* SPDX-License-Identifier: Apache-2.0 */
/*
 * labels.h - label pairs and label sets.
 *
 * A label set is an array of (name, value) pairs sorted by name, with unique names, and a
 * 64-bit hash computed once. `__name__` is a label like any other. The strings are borrowed:
 * whoever builds a set decides where they live (an arena for a collection, the interner of the
 * TSDB later). Pure functions, thread-safe on distinct sets.
 */
#ifndef TW_COMMON_LABELS_H
#define TW_COMMON_LABELS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define TW_METRIC_NAME_LABEL "__name__"

typedef struct tw_label {
    const char *name;  /* borrowed */
    const char *value; /* borrowed */
} tw_label_t;

/* Sorts labels by name in place (stable). */
void tw_labels_sort(tw_label_t *labels, size_t n);
/* Hash of a sorted label array (names and values, with separators). */
uint64_t tw_labels_hash(const tw_label_t *labels, size_t n);
/* Compares two sorted label arrays like Prometheus' labels.Compare. */
int tw_labels_compare(const tw_label_t *a, size_t na, const tw_label_t *b, size_t nb);
/* Returns the value of name, or NULL. Works on unsorted arrays. */
const char *tw_labels_get(const tw_label_t *labels, size_t n, const char *name);

/* Whether s is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*). */
bool tw_metric_name_valid(const char *s);
/* Whether s is a valid label name ([a-zA-Z_][a-zA-Z0-9_]*). */
bool tw_label_name_valid(const char *s);

#endif
