/* SPDX-License-Identifier: Apache-2.0 */
/* yaml_tree.c - YAML node trees with positions and typed getters (see yaml_tree.h). */
#include "yaml_tree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "mem.h"
#include "timeutil.h"

/* ---- the node tree ---------------------------------------------------------------------- */

typedef struct anchor {
    char *name;
    tw_yaml_node_t *node;
} anchor_t;

struct tw_yaml_doc {
    tw_yaml_node_t **all; /* every node, for freeing */
    size_t nall, capall;
    anchor_t *anchors;
    size_t nanchors, capanchors;
    tw_yaml_node_t *root; /* NULL for an empty document */
};

static void yaml_doc_fini(tw_yaml_doc_t *d)
{
    for (size_t i = 0; i < d->nall; i++) {
        free(d->all[i]->value);
        free(d->all[i]->items);
        free(d->all[i]);
    }
    free(d->all);
    for (size_t i = 0; i < d->nanchors; i++) {
        free(d->anchors[i].name);
    }
    free(d->anchors);
    memset(d, 0, sizeof(*d));
}

static tw_yaml_node_t *yaml_node_new(tw_yaml_doc_t *d, tw_yaml_kind_t kind, const yaml_mark_t *mark)
{
    tw_yaml_node_t *n = tw_xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    tw_grow((void **)&d->all, &d->capall, d->nall + 1, sizeof(*d->all));
    d->all[d->nall++] = n;
    return n;
}

static void yaml_node_push(tw_yaml_node_t *parent, tw_yaml_node_t *child)
{
    tw_grow((void **)&parent->items, &parent->cap, parent->n + 1, sizeof(*parent->items));
    parent->items[parent->n++] = child;
}

static void yaml_anchor_add(tw_yaml_doc_t *d, const char *name, tw_yaml_node_t *n)
{
    if (name == NULL) {
        return;
    }
    tw_grow((void **)&d->anchors, &d->capanchors, d->nanchors + 1, sizeof(*d->anchors));
    d->anchors[d->nanchors].name = tw_xstrdup(name);
    d->anchors[d->nanchors].node = n;
    d->nanchors++;
}

static tw_yaml_node_t *yaml_anchor_find(const tw_yaml_doc_t *d, const char *name)
{
    /* The latest definition wins, as YAML says an anchor may be redefined. */
    for (size_t i = d->nanchors; i > 0; i--) {
        if (strcmp(d->anchors[i - 1].name, name) == 0) {
            return d->anchors[i - 1].node;
        }
    }
    return NULL;
}

static int yaml_error(const yaml_parser_t *p, const char *file, tw_error_t *err)
{
    const char *problem = p->problem != NULL ? p->problem : "cannot parse the document";
    int line = (int)p->problem_mark.line + 1;
    int col = (int)p->problem_mark.column + 1;
    if (p->context != NULL) {
        return tw_error_set_at(err, TW_EPARSE, file, line, col,
                               "invalid YAML: %s (%s at line %d, column %d)", problem, p->context,
                               (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    }
    return tw_error_set_at(err, TW_EPARSE, file, line, col, "invalid YAML: %s", problem);
}

/*
 * Builds d's tree from data. Open collections are kept on an explicit stack together with their
 * anchor names, which are registered only when the collection ends.
 */
static int yaml_doc_build(tw_yaml_doc_t *d, const char *data, size_t len, const char *file,
                          tw_error_t *err)
{
    yaml_parser_t p;
    yaml_event_t ev;
    tw_yaml_node_t *stack[TW_YAML_MAX_DEPTH];
    char *stack_anchor[TW_YAML_MAX_DEPTH];
    size_t depth = 0;
    int docs = 0;
    int rc = 0;
    bool done = false;

    if (!yaml_parser_initialize(&p)) {
        return tw_error_set(err, TW_EIO, "%s: cannot initialize the YAML parser", file);
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = yaml_error(&p, file, err);
            goto out;
        }
        tw_yaml_node_t *n = NULL;
        const yaml_mark_t *m = &ev.start_mark;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                rc = tw_error_set_at(err, TW_EPARSE, file, (int)m->line + 1, (int)m->column + 1,
                                     "a second YAML document in one file (expected one)");
            }
            break;
        case YAML_SCALAR_EVENT:
            n = yaml_node_new(d, TW_YAML_SCALAR, m);
            n->value = tw_xmalloc(ev.data.scalar.length + 1);
            memcpy(n->value, ev.data.scalar.value, ev.data.scalar.length);
            n->value[ev.data.scalar.length] = '\0';
            n->len = ev.data.scalar.length;
            n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            yaml_anchor_add(d, (const char *)ev.data.scalar.anchor, n);
            break;
        case YAML_ALIAS_EVENT:
            n = yaml_anchor_find(d, (const char *)ev.data.alias.anchor);
            if (n == NULL) {
                rc = tw_error_set_at(err, TW_EPARSE, file, (int)m->line + 1, (int)m->column + 1,
                                     "unknown anchor \"%s\" (an alias must follow a complete "
                                     "anchored node)",
                                     (const char *)ev.data.alias.anchor);
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            if (depth == TW_YAML_MAX_DEPTH) {
                rc = tw_error_set_at(err, TW_EPARSE, file, (int)m->line + 1, (int)m->column + 1,
                                     "nesting deeper than %d levels", TW_YAML_MAX_DEPTH);
                break;
            }
            bool is_map = ev.type == YAML_MAPPING_START_EVENT;
            tw_yaml_node_t *c = yaml_node_new(d, is_map ? TW_YAML_MAP : TW_YAML_SEQ, m);
            const yaml_char_t *anchor =
                is_map ? ev.data.mapping_start.anchor : ev.data.sequence_start.anchor;
            if (depth > 0) {
                yaml_node_push(stack[depth - 1], c);
            } else {
                d->root = c;
            }
            stack_anchor[depth] = anchor != NULL ? tw_xstrdup((const char *)anchor) : NULL;
            stack[depth++] = c;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            yaml_anchor_add(d, stack_anchor[depth], stack[depth]);
            free(stack_anchor[depth]);
            break;
        default:
            break;
        }
        if (rc == 0 && n != NULL) {
            if (depth > 0) {
                yaml_node_push(stack[depth - 1], n);
            } else {
                d->root = n;
            }
        }
        yaml_event_delete(&ev);
        if (rc != 0) {
            goto out;
        }
    }
out:
    while (depth > 0) {
        free(stack_anchor[--depth]);
    }
    yaml_parser_delete(&p);
    return rc;
}

/* ---- schema walk helpers ------------------------------------------------------------------ */

int tw_yaml_error(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *fmt, ...)
{
    char msg[sizeof(w->err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tw_error_set_at(w->err, TW_EINVAL, w->file, n != NULL ? n->line : 0,
                           n != NULL ? n->col : 0, "%s", msg);
}

bool tw_yaml_is_null(const tw_yaml_node_t *n)
{
    if (n == NULL) {
        return true;
    }
    if (n->kind != TW_YAML_SCALAR || !n->plain) {
        return false;
    }
    return n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
           strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

/* Describes a node for "got ..." in messages: the quoted scalar (shortened) or its kind. */
const char *tw_yaml_describe(const tw_yaml_node_t *n, char *out, size_t outsz)
{
    if (n == NULL) {
        /* A missing key: Kubernetes prints the empty value as "". */
        snprintf(out, outsz, "\"\"");
    } else if (n->kind == TW_YAML_MAP) {
        snprintf(out, outsz, "a mapping");
    } else if (n->kind == TW_YAML_SEQ) {
        snprintf(out, outsz, "a sequence");
    } else {
        char shown[68];
        size_t k = 0;
        for (size_t i = 0; i < n->len && k < 64; i++) {
            unsigned char ch = (unsigned char)n->value[i];
            shown[k++] = (ch < 0x20 || ch == 0x7f || ch == '"') ? '?' : (char)ch;
        }
        if (n->len > 64) {
            shown[k++] = '.';
            shown[k++] = '.';
            shown[k++] = '.';
        }
        shown[k] = '\0';
        snprintf(out, outsz, "\"%s\"", shown);
    }
    return out;
}

/* "collector.cgroup" + "root" -> "collector.cgroup.root" (section NULL: the top level). */
const char *tw_yaml_key_path(const char *section, const char *key, char *out, size_t outsz)
{
    if (section == NULL) {
        snprintf(out, outsz, "%s", key);
    } else {
        snprintf(out, outsz, "%s.%s", section, key);
    }
    return out;
}

/*
 * Checks mapping n (the value of section; NULL section is the top level) against keys[0..nkeys)
 * in document order, and stores each known key's value node in vals (NULL when absent). A null
 * or absent n is an empty mapping.
 */
int tw_yaml_fields(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                   const char *const *keys, size_t nkeys, const tw_yaml_node_t **vals)
{
    const tw_yaml_node_t *key_nodes[TW_YAML_MAX_KEYS] = {0};
    char desc[96];

    if (nkeys > TW_YAML_MAX_KEYS) {
        return tw_yaml_error(w, n, "internal error: more than %d keys in %s", TW_YAML_MAX_KEYS,
                             section != NULL ? section : "the top level");
    }
    for (size_t i = 0; i < nkeys; i++) {
        vals[i] = NULL;
    }
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_MAP) {
        return tw_yaml_error(w, n, "%s: expected a mapping, got %s",
                             section != NULL ? section : "configuration",
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const tw_yaml_node_t *k = n->items[i];
        if (k->kind != TW_YAML_SCALAR) {
            return tw_yaml_error(w, k, "expected a key name in %s, got %s",
                                 section != NULL ? section : "the top level",
                                 tw_yaml_describe(k, desc, sizeof(desc)));
        }
        size_t j;
        for (j = 0; j < nkeys; j++) {
            if (strcmp(k->value, keys[j]) == 0) {
                break;
            }
        }
        if (j < nkeys) {
            if (key_nodes[j] != NULL) {
                return tw_yaml_error(w, k,
                                     "duplicate key \"%s\" in %s (first at line %d, column %d)",
                                     keys[j], section != NULL ? section : "the top level",
                                     key_nodes[j]->line, key_nodes[j]->col);
            }
            key_nodes[j] = k;
            vals[j] = n->items[i + 1];
            continue;
        }
        if (section == NULL && w->unsupported != NULL) {
            for (size_t u = 0; w->unsupported[u] != NULL; u++) {
                if (strcmp(k->value, w->unsupported[u]) == 0) {
                    return tw_yaml_error(w, k, "%s: not supported by this version of tidewatch",
                                         w->unsupported[u]);
                }
            }
        }
        char expected[512];
        size_t off = 0;
        expected[0] = '\0';
        for (size_t e = 0; e < nkeys && off < sizeof(expected); e++) {
            int wr = snprintf(expected + off, sizeof(expected) - off, "%s%s", e > 0 ? ", " : "",
                              keys[e]);
            off += wr > 0 ? (size_t)wr : 0;
        }
        return tw_yaml_error(w, k, "unknown key %s %s%s (expected one of %s)",
                             tw_yaml_describe(k, desc, sizeof(desc)),
                             section != NULL ? "in " : "at ",
                             section != NULL ? section : "the top level", expected);
    }
    return 0;
}

/* A scalar's text; refuses collections and embedded NULs. *out untouched for null. */
int tw_yaml_get_scalar(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                       const char *key, const char *what, const char **out)
{
    char path[128], desc[96];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_SCALAR) {
        return tw_yaml_error(w, n, "%s: expected %s, got %s",
                             tw_yaml_key_path(section, key, path, sizeof(path)), what,
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    if (strlen(n->value) != n->len) {
        return tw_yaml_error(w, n, "%s: expected %s, got a string with a NUL byte",
                             tw_yaml_key_path(section, key, path, sizeof(path)), what);
    }
    *out = n->value;
    return 0;
}

int tw_yaml_get_string(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                       const char *key, char **out)
{
    const char *s = NULL;
    int rc = tw_yaml_get_scalar(w, n, section, key, "a string", &s);
    if (rc == 0 && s != NULL) {
        free(*out);
        *out = tw_xstrdup(s);
    }
    return rc;
}

int tw_yaml_get_bool(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                     const char *key, bool *out)
{
    const char *s = NULL;
    char path[128], desc[96];
    int rc = tw_yaml_get_scalar(w, n, section, key, "a boolean (true or false)", &s);
    if (rc != 0 || s == NULL) {
        return rc;
    }
    if (n->plain && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)) {
        *out = true;
        return 0;
    }
    if (n->plain &&
        (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)) {
        *out = false;
        return 0;
    }
    return tw_yaml_error(w, n, "%s: expected a boolean (true or false), got %s",
                         tw_yaml_key_path(section, key, path, sizeof(path)),
                         tw_yaml_describe(n, desc, sizeof(desc)));
}

/* A plain decimal integer in [min, max]. */
int tw_yaml_get_uint(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                     const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *s = NULL;
    char path[128], desc[96];
    int rc = tw_yaml_get_scalar(w, n, section, key, "an integer", &s);
    if (rc != 0 || s == NULL) {
        return rc;
    }
    uint64_t v = 0;
    bool ok = n->plain && *s != '\0';
    for (const char *p = s; ok && *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) {
            ok = false;
            break;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (!ok) {
        return tw_yaml_error(w, n, "%s: expected a non-negative integer, got %s",
                             tw_yaml_key_path(section, key, path, sizeof(path)),
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    if (v < min || v > max) {
        return tw_yaml_error(w, n, "%s: must be between %llu and %llu, got %llu",
                             tw_yaml_key_path(section, key, path, sizeof(path)),
                             (unsigned long long)min, (unsigned long long)max,
                             (unsigned long long)v);
    }
    *out = v;
    return 0;
}

/* A Prometheus duration; positive unless allow_zero. */
int tw_yaml_get_duration(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *section,
                         const char *key, bool allow_zero, int64_t *out)
{
    const char *s = NULL;
    char path[128], desc[96];
    int rc = tw_yaml_get_scalar(w, n, section, key, "a duration like 10s or 1m30s", &s);
    if (rc != 0 || s == NULL) {
        return rc;
    }
    int64_t v = 0;
    if (tw_duration_parse(s, &v) != 0) {
        return tw_yaml_error(w, n,
                             "%s: invalid duration %s (expected a number and a unit: ms, s, m, h, "
                             "d, w, y, e.g. 10s or 1m30s)",
                             tw_yaml_key_path(section, key, path, sizeof(path)),
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    if (v == 0 && !allow_zero) {
        return tw_yaml_error(w, n, "%s: must be greater than 0s",
                             tw_yaml_key_path(section, key, path, sizeof(path)));
    }
    *out = v;
    return 0;
}

int tw_yaml_doc_parse(const char *data, size_t len, const char *file, tw_yaml_doc_t **out,
                      tw_error_t *err)
{
    tw_yaml_doc_t *d = tw_xcalloc(1, sizeof(*d));
    int rc = yaml_doc_build(d, data, len, file != NULL ? file : "", err);
    if (rc != 0) {
        tw_yaml_doc_free(d);
        *out = NULL;
        return rc;
    }
    *out = d;
    return 0;
}

const tw_yaml_node_t *tw_yaml_doc_root(const tw_yaml_doc_t *d)
{
    return d != NULL ? d->root : NULL;
}

void tw_yaml_doc_free(tw_yaml_doc_t *d)
{
    if (d == NULL) {
        return;
    }
    yaml_doc_fini(d);
    free(d);
}

/* ---- multi-document files ----------------------------------------------------------------- */

/* Whether data[0..len) holds a `---` document marker line starting at off. */
static bool is_doc_marker(const char *data, size_t len, size_t off)
{
    if (len - off < 3 || memcmp(data + off, "---", 3) != 0) {
        return false;
    }
    return len - off == 3 || data[off + 3] == ' ' || data[off + 3] == '\t' ||
           data[off + 3] == '\n' || data[off + 3] == '\r';
}

/* Whether the line at off has YAML content (not blank, a comment or a directive). */
static bool line_has_content(const char *data, size_t len, size_t off)
{
    while (off < len && (data[off] == ' ' || data[off] == '\t' || data[off] == '\r')) {
        off++;
    }
    return off < len && data[off] != '\n' && data[off] != '#' && data[off] != '%';
}

/* Whether the `---` line at off carries content after the marker ("--- {a: 1}"). */
static bool marker_has_content(const char *data, size_t len, size_t off)
{
    size_t k = off + 3;
    while (k < len && (data[k] == ' ' || data[k] == '\t')) {
        k++;
    }
    return k < len && data[k] != '\n' && data[k] != '\r' && data[k] != '#';
}

/* Whether a document is some other object than kind. */
static bool other_kind(const tw_yaml_node_t *root, const char *kind)
{
    for (size_t i = 0; kind != NULL && root->kind == TW_YAML_MAP && i + 1 < root->n; i += 2) {
        const tw_yaml_node_t *k = root->items[i], *v = root->items[i + 1];
        if (k->kind == TW_YAML_SCALAR && strcmp(k->value, "kind") == 0 &&
            v->kind == TW_YAML_SCALAR && v->len > 0 && strcmp(v->value, kind) != 0) {
            return true;
        }
    }
    return false;
}

/* Parses data[start..end), whose first line is the file's line first_line + 1, and hands it
 * to fn. */
static int doc_chunk(const char *data, size_t start, size_t end, int first_line, const char *file,
                     const char *kind, tw_yaml_doc_fn fn, void *ctx, tw_error_t *err)
{
    tw_yaml_doc_t *doc = NULL;
    int rc = tw_yaml_doc_parse(data + start, end - start, file, &doc, err);
    const tw_yaml_node_t *root = rc == 0 ? tw_yaml_doc_root(doc) : NULL;
    if (root != NULL && !other_kind(root, kind)) {
        rc = fn(ctx, root, first_line, err);
    }
    if (rc != 0 && err != NULL && err->line > 0) {
        err->line += first_line;
    }
    tw_yaml_doc_free(doc);
    return rc;
}

int tw_yaml_docs_each(const char *data, size_t len, const char *file, const char *kind,
                      tw_yaml_doc_fn fn, void *ctx, tw_error_t *err)
{
    size_t start = 0, off = 0;
    int start_line = 0, line = 0, rc = 0;
    bool content = false;    /* the current chunk has content: a marker ends it */
    bool has_marker = false; /* the current chunk has its `---` already */
    while (off < len && rc == 0) {
        bool marker = is_doc_marker(data, len, off);
        if (marker) {
            if (content) {
                rc = doc_chunk(data, start, off, start_line, file, kind, fn, ctx, err);
                start = off;
                start_line = line;
                content = false;
            } else if (has_marker) {
                start = off; /* an empty document ("---" after "---") is dropped */
                start_line = line;
            }
            has_marker = true;
        }
        if (marker ? marker_has_content(data, len, off) : line_has_content(data, len, off)) {
            content = true;
        }
        const char *nl = memchr(data + off, '\n', len - off);
        off = nl != NULL ? (size_t)(nl - data) + 1 : len;
        line++;
    }
    if (rc == 0 && content) {
        rc = doc_chunk(data, start, len, start_line, file, kind, fn, ctx, err);
    }
    return rc;
}
