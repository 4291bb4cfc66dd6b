/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rule_decode_int.h - the strict YAML decoding shared by rule files (rule_file.c) and unit-test
 * files (rule_test.c), inside alerting/rules only. It reproduces how Go's YAML decoders report
 * problems: unknown or repeated keys and values of the wrong type are collected as "unmarshal
 * errors" with their line (decoding goes on), while a bad duration stops decoding at once.
 */
#ifndef TW_ALERTING_RULES_RULE_DECODE_INT_H
#define TW_ALERTING_RULES_RULE_DECODE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/labels.h"
#include "common/yaml_tree.h"

/* One decoding walk. */
typedef struct rd {
    tw_arena_t *a;   /* decoded strings (borrowed) */
    tw_buf_t um;     /* collected unmarshal errors, each "\n  line N: ..." */
    char fatal[600]; /* the error that stopped decoding ("" when none) */
} rd_t;

/* A yaml.Node field: its scalar value ("" when absent or not a scalar) and position. */
typedef struct ynode {
    const char *value;
    int line;
    int col;
    bool present;
} ynode_t;

/* Adds "\n  line <line>: <fmt...>" to the unmarshal errors. */
void rd_um_error(rd_t *l, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Adds "cannot unmarshal !!tag `v` into <into>" for node n. */
void rd_um_type(rd_t *l, const tw_yaml_node_t *n, const char *into);
/* Stores the values of keys[0..nk) of mapping n in vals (NULL: absent); merge keys honoured;
 * unknown and repeated keys are unmarshal errors naming type (a Go type name). */
void rd_fields(rd_t *l, const tw_yaml_node_t *n, const char *type, const char *const *keys,
               size_t nk, const tw_yaml_node_t **vals);
/* A string ("" for null); collections are unmarshal errors. */
const char *rd_get_str(rd_t *l, const tw_yaml_node_t *v);
/* A model.Duration in ms (0 for null); a bad one sets l->fatal. */
int64_t rd_get_duration(rd_t *l, const tw_yaml_node_t *v);
/* A plain decimal int (0 for null). */
int64_t rd_get_int(rd_t *l, const tw_yaml_node_t *v);
/* A yaml.Node field. */
ynode_t rd_get_node(const tw_yaml_node_t *v);
/* A map[string]string as label pairs in document order, in l->a; *n_out pairs. */
tw_label_t *rd_get_map(rd_t *l, const tw_yaml_node_t *v, size_t *n_out);
/* The length of the first YAML document of data (Go's decoders read only the first). */
size_t rd_first_document_len(const char *data, size_t len);
/* Go yaml's wording of a syntax error from tw_yaml_doc_parse ("yaml: line N: ..."). */
void rd_yaml_syntax_message(const tw_error_t *e, char *out, size_t outsz);

#endif
