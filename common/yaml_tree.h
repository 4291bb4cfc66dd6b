/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yaml_tree.h - YAML documents as a small tree of nodes with positions, and the typed getters
 * every schema walk uses (tidewatch.yml, scrape configs, file_sd files, rule files, autoscaler
 * manifests), so each error a user can cause names file:line:column and what was expected.
 *
 * How it works: libyaml's event parser drives a builder that turns the document into scalar,
 * mapping and sequence nodes, each with the 1-based line and column where it starts. Anchors
 * are resolved by pointing an alias at the already-built node (no copies, so a "billion
 * laughs" document costs nothing; an alias to a node still being built is refused, so the tree
 * has no cycles). A schema walk then visits the keys it knows with tw_yaml_fields() (duplicate
 * and unknown keys are errors) and converts values with the tw_yaml_get_*() getters. Absent
 * keys and null values leave the caller's defaults alone.
 *
 * Pure (parses memory). Thread-safe on distinct documents.
 */
#ifndef TW_COMMON_YAML_TREE_H
#define TW_COMMON_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Nesting deeper than this is refused. */
#define TW_YAML_MAX_DEPTH 64
/* Most keys one tw_yaml_fields() call can know. */
#define TW_YAML_MAX_KEYS 64

typedef enum { TW_YAML_SCALAR, TW_YAML_MAP, TW_YAML_SEQ } tw_yaml_kind_t;

/* A node. Owned by its document; valid until tw_yaml_doc_free(). */
typedef struct tw_yaml_node {
    tw_yaml_kind_t kind;
    int line;    /* 1-based */
    int col;     /* 1-based */
    char *value; /* scalar text, NUL-terminated (may contain NULs before len) */
    size_t len;
    bool plain;                  /* a plain (unquoted) scalar: only these can be null, bool, int */
    struct tw_yaml_node **items; /* mapping: key, value, key, value...; sequence: the items */
    size_t n;
    size_t cap; /* private */
} tw_yaml_node_t;

typedef struct tw_yaml_doc tw_yaml_doc_t;

/*
 * Parses one YAML document from data[0..len). file names the input in errors. A second document
 * in the stream, bad syntax, an unknown alias or nesting deeper than TW_YAML_MAX_DEPTH is
 * TW_EPARSE with the position. *out receives the document (free with tw_yaml_doc_free()).
 */
int tw_yaml_doc_parse(const char *data, size_t len, const char *file, tw_yaml_doc_t **out,
                      tw_error_t *err);
/* The root node, or NULL for an empty document. */
const tw_yaml_node_t *tw_yaml_doc_root(const tw_yaml_doc_t *d);
/* NULL is a no-op. */
void tw_yaml_doc_free(tw_yaml_doc_t *d);

/* Called for each document of a multi-document file: root never NULL; first_line is what to
 * add to the document's line numbers to get the file's. An error's line, if any, is relative
 * to the document (tw_yaml_docs_each adds first_line). */
typedef int (*tw_yaml_doc_fn)(void *ctx, const tw_yaml_node_t *root, int first_line,
                              tw_error_t *err);

/*
 * Splits data (a file of YAML documents separated by `---` lines, like kubectl's) and calls fn
 * for each document that has content, in order, skipping documents whose top-level `kind` is
 * set and is not kind (a Deployment next to its autoscaler). Empty documents, comments and
 * directives are skipped. Stops at the first error (a YAML error or fn's), with the file's
 * line. Returns 0 or that error's code.
 */
int tw_yaml_docs_each(const char *data, size_t len, const char *file, const char *kind,
                      tw_yaml_doc_fn fn, void *ctx, tw_error_t *err);

/* The state of one schema walk: where errors go. */
typedef struct tw_yaml_walk {
    const char *file; /* input name for errors (borrowed) */
    tw_error_t *err;  /* must not be NULL */
    /* Top-level keys to refuse by name as "not supported by this version" (NULL-terminated;
     * may be NULL). */
    const char *const *unsupported;
} tw_yaml_walk_t;

/* Sets w->err to TW_EINVAL at n's position (n may be NULL) with a formatted message. */
int tw_yaml_error(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether n is absent or a YAML null (empty plain scalar, ~, null). */
bool tw_yaml_is_null(const tw_yaml_node_t *n);

/* Describes a node for "got ..." in messages: the quoted scalar (shortened) or its kind; "\"\"" for
 * a missing node (NULL). */
const char *tw_yaml_describe(const tw_yaml_node_t *n, char *out, size_t outsz);

/* "collector.cgroup" + "root" -> "collector.cgroup.root" (section NULL: the top level). */
const char *tw_yaml_key_path(const char *section, const char *key, char *out, size_t outsz);

/*
 * Checks mapping n (the value of section; NULL section is the top level) against
 * keys[0..nkeys) in document order, and stores each known key's value node in vals (NULL when
 * absent). A null or absent n is an empty mapping. Duplicate and unknown keys are errors that
 * list the expected keys.
 */
int tw_yaml_fields(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                   const char *const *keys, size_t nkeys, const tw_yaml_node_t **vals);

/* A scalar's text; refuses collections and embedded NULs. *out untouched for null. what says
 * what was expected ("a string"). */
int tw_yaml_get_scalar(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                       const char *key, const char *what, const char **out);
/* A string, copied into *out (the old value freed) unless null. */
int tw_yaml_get_string(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                       const char *key, char **out);
/* true/false (also True/TRUE/False/FALSE), plain scalars only. */
int tw_yaml_get_bool(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                     const char *key, bool *out);
/* A plain decimal integer in [min, max]. */
int tw_yaml_get_uint(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                     const char *key, uint64_t min, uint64_t max, uint64_t *out);
/* A Prometheus duration (common/timeutil.h); positive unless allow_zero. */
int tw_yaml_get_duration(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                         const char *key, bool allow_zero, int64_t *out);

#endif
