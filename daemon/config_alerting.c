/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_alerting.c - `rule_files`, `alerting:` and `global.external_url` of tidewatch.yml (see
 * config_alerting.h). Rule files are not read here: like Prometheus, the config keeps the
 * patterns and the rules loop expands and loads them, so a reload re-globs.
 */
#include "config_alerting.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/notify/notify.h"
#include "common/mem.h"
#include "rules_loop.h"

/* Prometheus' patRulePath, ^[^*]*(\*[^/]*)?$: at most one '*', and no '/' after it. */
static bool rule_path_ok(const char *p)
{
    const char *star = strchr(p, '*');
    return star == NULL || (strchr(star + 1, '*') == NULL && strchr(star + 1, '/') == NULL);
}

int tw_config_walk_rule_files(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    char desc[96];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, n, "rule_files: expected a list of file names or globs, got %s",
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    /* The folder of the config file ("." for a bare name, "/" for a file at the root). */
    const char *slash = strrchr(c->source, '/');
    size_t dlen = slash == NULL ? 1 : (slash == c->source ? 1 : (size_t)(slash - c->source));
    const char *dir = slash == NULL ? "." : c->source;
    for (size_t i = 0; i < n->n; i++) {
        const char *p = NULL;
        int rc = tw_yaml_get_scalar(w, n->items[i], NULL, "rule_files[]", "a file name", &p);
        if (rc != 0) {
            return rc;
        }
        if (p == NULL || p[0] == '\0') {
            return tw_yaml_error(w, n->items[i], "rule_files: empty file name");
        }
        if (!rule_path_ok(p)) {
            return tw_yaml_error(w, n->items[i], "invalid rule file path \"%s\"", p);
        }
        char *full;
        if (strncmp(p, TW_RULES_BUILTIN_PREFIX, strlen(TW_RULES_BUILTIN_PREFIX)) == 0) {
            if (tw_rules_builtin_find(p + strlen(TW_RULES_BUILTIN_PREFIX), NULL) != 0) {
                return tw_yaml_error(w, n->items[i],
                                     "rule_files: %s: no such built-in rule file (built in: %s)", p,
                                     tw_rules_builtin_names());
            }
            full = tw_xstrdup(p);
        } else if (p[0] == '/') {
            full = tw_xstrdup(p);
        } else {
            size_t len = dlen + 1 + strlen(p) + 1;
            full = tw_xmalloc(len);
            snprintf(full, len, "%.*s/%s", (int)dlen, dir, p);
        }
        c->rule_files = tw_xrealloc(c->rule_files, (c->n_rule_files + 1) * sizeof(char *));
        c->rule_files[c->n_rule_files++] = full;
    }
    return 0;
}

int tw_config_walk_alerting(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    c->alerting = tw_xcalloc(1, sizeof(*c->alerting));
    return tw_notify_config_parse(n, w->file, c->alerting, w->err);
}

int tw_config_walk_external_url(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    int rc = tw_yaml_get_string(w, n, "global", "external_url", &c->global.external_url);
    if (rc != 0) {
        return rc;
    }
    char *u = c->global.external_url;
    if (u[0] == '\0') {
        return 0;
    }
    const char *rest = strncmp(u, "http://", 7) == 0    ? u + 7
                       : strncmp(u, "https://", 8) == 0 ? u + 8
                                                        : NULL;
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/' || strpbrk(u, " \t\r\n") != NULL) {
        return tw_yaml_error(w, n,
                             "global.external_url: \"%s\" is not an absolute http(s) URL (expected "
                             "e.g. https://tidewatch.example.com/prefix)",
                             u);
    }
    size_t len = strlen(u);
    while (len > 0 && u[len - 1] == '/') {
        u[--len] = '\0'; /* Prometheus strips the trailing slash */
    }
    return 0;
}

void tw_config_alerting_free(tw_config_t *c)
{
    for (size_t i = 0; i < c->n_rule_files; i++) {
        free(c->rule_files[i]);
    }
    free(c->rule_files);
    c->rule_files = NULL;
    c->n_rule_files = 0;
    if (c->alerting != NULL) {
        tw_notify_config_fini(c->alerting);
        free(c->alerting);
        c->alerting = NULL;
    }
    free(c->global.external_url);
    c->global.external_url = NULL;
}
