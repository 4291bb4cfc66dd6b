/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scalers_config.c - the `autoscaling.metric_queries` table: parsing it from the YAML node tree
 * (every error at the node's file:line:col) and looking an entry up by metric name and kind.
 *
 * A table is immutable once parsed, so the autoscaler thread and a config reload may share it.
 */
#include "scalers_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static const char *kind_name(tw_scalers_kind_t k)
{
    switch (k) {
    case TW_SCALERS_KIND_PODS:
        return "Pods";
    case TW_SCALERS_KIND_OBJECT:
        return "Object";
    case TW_SCALERS_KIND_EXTERNAL:
        return "External";
    default:
        return "any type";
    }
}

void tw_scalers_config_init(tw_scalers_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->resource_window_ms = TW_SCALERS_DEFAULT_RESOURCE_WINDOW_MS;
}

static void free_queries(tw_scalers_query_t *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(q[i].name);
        free(q[i].query);
    }
    free(q);
}

void tw_scalers_config_fini(tw_scalers_config_t *c)
{
    if (c == NULL) {
        return;
    }
    free_queries(c->queries, c->n_queries);
    tw_scalers_config_init(c);
}

/* Parses one entry (a mapping) into q. */
static int parse_entry(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec,
                       tw_scalers_query_t *q)
{
    static const char *const keys[] = {"name", "type", "query"};
    const tw_yaml_node_t *v[3];
    char path[300];
    int rc = tw_yaml_fields(w, n, sec, keys, 3, v);
    if (rc != 0) {
        return rc;
    }
    q->line = n->line;
    q->col = n->col;
    rc = tw_yaml_get_string(w, v[0], sec, "name", &q->name);
    if (rc != 0) {
        return rc;
    }
    if (q->name == NULL || q->name[0] == '\0') {
        return tw_yaml_error(w, v[0] != NULL ? v[0] : n, "%s: name is required",
                             tw_yaml_key_path(sec, "name", path, sizeof(path)));
    }
    const char *type = NULL;
    rc = tw_yaml_get_scalar(w, v[1], sec, "type", "a string", &type);
    if (rc != 0) {
        return rc;
    }
    q->kind = TW_SCALERS_KIND_ANY;
    if (type != NULL) {
        if (strcmp(type, "Pods") == 0) {
            q->kind = TW_SCALERS_KIND_PODS;
        } else if (strcmp(type, "Object") == 0) {
            q->kind = TW_SCALERS_KIND_OBJECT;
        } else if (strcmp(type, "External") == 0) {
            q->kind = TW_SCALERS_KIND_EXTERNAL;
        } else {
            char d[96];
            return tw_yaml_error(w, v[1], "%s: expected one of Pods, Object, External, got %s",
                                 tw_yaml_key_path(sec, "type", path, sizeof(path)),
                                 tw_yaml_describe(v[1], d, sizeof(d)));
        }
    }
    rc = tw_yaml_get_string(w, v[2], sec, "query", &q->query);
    if (rc != 0) {
        return rc;
    }
    if (q->query == NULL) {
        return tw_yaml_error(w, n, "%s: query is required",
                             tw_yaml_key_path(sec, "query", path, sizeof(path)));
    }
    tw_error_t te;
    tw_error_clear(&te);
    if (tw_scalers_template_check(q->query, strlen(q->query), &te) != 0) {
        return tw_yaml_error(w, v[2], "%s: %s", tw_yaml_key_path(sec, "query", path, sizeof(path)),
                             te.msg);
    }
    return 0;
}

int tw_scalers_queries_from_yaml(tw_yaml_walk_t *w, const tw_yaml_node_t *seq, const char *section,
                                 tw_scalers_config_t *c)
{
    tw_scalers_query_t *q = NULL;
    size_t n = 0;
    int rc = 0;
    const char *secname = section != NULL ? section : "metric_queries";

    if (!tw_yaml_is_null(seq)) {
        if (seq->kind != TW_YAML_SEQ) {
            char d[96];
            return tw_yaml_error(w, seq, "%s: expected a list of {name, query} entries, got %s",
                                 secname, tw_yaml_describe(seq, d, sizeof(d)));
        }
        q = tw_xcalloc(seq->n + 1, sizeof(*q));
        for (size_t i = 0; i < seq->n; i++) {
            char sec[256];
            snprintf(sec, sizeof(sec), "%.200s[%zu]", secname, i);
            const tw_yaml_node_t *item = seq->items[i];
            n++;
            if (item->kind != TW_YAML_MAP) {
                char d[96];
                rc = tw_yaml_error(w, item, "%s: expected a mapping with name and query, got %s",
                                   sec, tw_yaml_describe(item, d, sizeof(d)));
                goto out;
            }
            rc = parse_entry(w, item, sec, &q[i]);
            if (rc != 0) {
                goto out;
            }
            for (size_t j = 0; j < i; j++) {
                if (q[j].kind == q[i].kind && strcmp(q[j].name, q[i].name) == 0) {
                    rc = tw_yaml_error(w, item,
                                       "%s: duplicate entry for metric \"%s\" (%s); the first is "
                                       "at line %d, column %d",
                                       sec, q[i].name, kind_name(q[i].kind), q[j].line, q[j].col);
                    goto out;
                }
            }
        }
    }
    free_queries(c->queries, c->n_queries);
    c->queries = q;
    c->n_queries = n;
    q = NULL;
    n = 0;
out:
    free_queries(q, n);
    return rc;
}

const tw_scalers_query_t *tw_scalers_query_find(const tw_scalers_config_t *c, const char *name,
                                                tw_scalers_kind_t kind)
{
    const tw_scalers_query_t *any = NULL;
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < c->n_queries; i++) {
        const tw_scalers_query_t *q = &c->queries[i];
        if (strcmp(q->name, name) != 0) {
            continue;
        }
        if (q->kind == kind) {
            return q;
        }
        if (q->kind == TW_SCALERS_KIND_ANY && any == NULL) {
            any = q;
        }
    }
    return any;
}
