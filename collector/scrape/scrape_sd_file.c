/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_sd_file.c - parsing file_sd files (discovery/file in Prometheus): a JSON or YAML list
 * of target groups,
 *
 *   [ { "targets": ["host:9100", ...], "labels": { "env": "prod" } }, ... ]
 *
 * each group getting __meta_filepath = the file's path. Targets must be strings without "/",
 * label names must be valid and values UTF-8, as targetgroup.Group's unmarshalers require.
 *
 * Pure: the caller reads the file (through a bounded buffer) and passes its bytes.
 */
#include "scrape_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static bool utf8_good(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != 0) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0) {
            return false;
        }
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80) {
                return false;
            }
        }
    }
    return true;
}

static void add_filepath(tw_scrape_group_t *g, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++) {
        tw_label_t *l = tw_xrealloc(g[i].labels, (g[i].nlabels + 1) * sizeof(tw_label_t));
        g[i].labels = l;
        l[g[i].nlabels].name = tw_xstrdup("__meta_filepath");
        l[g[i].nlabels].value = tw_xstrdup(path);
        g[i].nlabels++;
    }
}

static int parse_json(const char *data, size_t len, const char *path, tw_scrape_group_t **out,
                      size_t *n, tw_error_t *err)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    tw_scrape_group_t *g = NULL;
    size_t count = 0;
    int rc = 0;
    if (root == NULL) {
        return tw_error_set_at(err, TW_EPARSE, path, je.line, je.column, "%s", je.text);
    }
    if (!json_is_array(root)) {
        rc = tw_error_set_at(err, TW_EPARSE, path, 0, 0, "expected a JSON array of target groups");
        goto out;
    }
    g = tw_xcalloc(json_array_size(root) + 1, sizeof(*g));
    for (size_t i = 0; i < json_array_size(root); i++) {
        json_t *grp = json_array_get(root, i);
        tw_scrape_group_t *tg = &g[count++];
        if (!json_is_object(grp)) {
            rc = tw_error_set_at(err, TW_EPARSE, path, 0, 0,
                                 "target group %zu: expected an object (nil target group item "
                                 "found)",
                                 i);
            goto out;
        }
        const char *key;
        json_t *val;
        json_object_foreach(grp, key, val)
        {
            if (strcmp(key, "targets") != 0 && strcmp(key, "labels") != 0) {
                rc = tw_error_set_at(err, TW_EPARSE, path, 0, 0,
                                     "target group %zu: unknown field \"%s\" (expected targets, "
                                     "labels)",
                                     i, key);
                goto out;
            }
        }
        json_t *targets = json_object_get(grp, "targets");
        if (targets != NULL && !json_is_null(targets)) {
            if (!json_is_array(targets)) {
                rc = tw_error_set_at(err, TW_EPARSE, path, 0, 0,
                                     "target group %zu: targets must be an array of strings", i);
                goto out;
            }
            tg->targets = tw_xcalloc(json_array_size(targets) + 1, sizeof(tw_label_t));
            for (size_t j = 0; j < json_array_size(targets); j++) {
                json_t *t = json_array_get(targets, j);
                if (!json_is_string(t)) {
                    rc = tw_error_set_at(err, TW_EPARSE, path, 0, 0,
                                         "target group %zu: targets must be strings", i);
                    goto out;
                }
                const char *s = json_string_value(t);
                if (strlen(s) != json_string_length(t) || strchr(s, '/') != NULL) {
                    rc = tw_error_set_at(err, TW_EPARSE, path, 0, 0,
                                         "target group %zu: \"%s\" is not a valid hostname", i, s);
                    goto out;
                }
                tg->targets[tg->ntargets].name = "__address__";
                tg->targets[tg->ntargets].value = tw_xstrdup(s);
                tg->ntargets++;
            }
        }
        json_t *labels = json_object_get(grp, "labels");
        if (labels != NULL && !json_is_null(labels)) {
            if (!json_is_object(labels)) {
                rc = tw_error_set_at(err, TW_EPARSE, path, 0, 0,
                                     "target group %zu: labels must be an object", i);
                goto out;
            }
            tg->labels = tw_xcalloc(json_object_size(labels) + 1, sizeof(tw_label_t));
            json_object_foreach(labels, key, val)
            {
                if (!tw_label_name_valid(key)) {
                    rc = tw_error_set_at(err, TW_EPARSE, path, 0, 0,
                                         "target group %zu: \"%s\" is not a valid label name", i,
                                         key);
                    goto out;
                }
                if (!json_is_string(val) ||
                    strlen(json_string_value(val)) != json_string_length(val)) {
                    rc = tw_error_set_at(err, TW_EPARSE, path, 0, 0,
                                         "target group %zu: label \"%s\" must be a string", i, key);
                    goto out;
                }
                tg->labels[tg->nlabels].name = tw_xstrdup(key);
                tg->labels[tg->nlabels].value = tw_xstrdup(json_string_value(val));
                tg->nlabels++;
            }
        }
    }
out:
    json_decref(root);
    if (rc != 0) {
        tw_scrape_groups_free(g, count);
        return rc;
    }
    *out = g;
    *n = count;
    return 0;
}

int tw_scrape_file_sd_parse(const char *data, size_t len, bool json, const char *path,
                            tw_scrape_group_t **out, size_t *n, tw_error_t *err)
{
    int rc;
    *out = NULL;
    *n = 0;
    if (json) {
        rc = parse_json(data, len, path, out, n, err);
    } else {
        tw_yaml_doc_t *doc = NULL;
        rc = tw_yaml_doc_parse(data, len, path, &doc, err);
        if (rc == 0) {
            tw_error_t tmp;
            tw_yaml_walk_t w = {path, err != NULL ? err : &tmp, NULL};
            rc = tw_scrape_groups_from_yaml(&w, tw_yaml_doc_root(doc), "file_sd", out, n);
        }
        tw_yaml_doc_free(doc);
    }
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < *n; i++) {
        for (size_t j = 0; j < (*out)[i].nlabels; j++) {
            if (!utf8_good((*out)[i].labels[j].value)) {
                tw_scrape_groups_free(*out, *n);
                *out = NULL;
                *n = 0;
                return tw_error_set_at(err, TW_EPARSE, path, 0, 0,
                                       "target group %zu: invalid UTF-8 in a label value", i);
            }
        }
    }
    add_filepath(*out, *n, path);
    return 0;
}
