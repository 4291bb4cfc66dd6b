/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_relabel.c - relabel_configs and metric_relabel_configs: parsing with Prometheus'
 * defaults and validation (model/relabel's Config.Validate), and applying the rules to a label
 * set (relabel.Process). Used for targets before scraping and for samples after parsing.
 *
 * Semantics, rule by rule (val = the source labels' values joined by separator; "absent" and
 * "empty" are the same thing):
 *   replace     if regex matches val: target = expand(target_label), must be a valid label name;
 *               value = expand(replacement); an empty value deletes target
 *   keep/drop   drop the set when regex does not match / matches val
 *   keepequal   drop the set when the value of target_label differs from val
 *   dropequal   drop the set when the value of target_label equals val
 *   hashmod     target = (last 8 bytes of md5(val), big-endian) % modulus
 *   labelmap    for each label whose name matches, copy its value to expand(replacement)
 *   labeldrop   delete labels whose name matches; labelkeep: delete those that do not
 *   lowercase   target = lower(val); uppercase: target = upper(val) (ASCII letters)
 * Regexes are fully anchored. Pure; rules are immutable after parsing and thread-safe to share.
 */
#include "scrape_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static const char *const action_names[] = {
    "replace",  "keep",      "drop",      "keepequal", "dropequal", "hashmod",
    "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase",
};

/* Prometheus' relabelTarget: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ */
static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool relabel_target_valid(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    while (*s != '\0') {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_') {
            s++;
        } else if (*s == '$') {
            s++;
            if (*s == '{') {
                s++;
                if (!is_word(*s)) {
                    return false;
                }
                while (is_word(*s)) {
                    s++;
                }
                if (*s != '}') {
                    return false;
                }
                s++;
            } else if (is_word(*s)) {
                while (is_word(*s)) {
                    s++;
                }
            } else {
                return false;
            }
        } else {
            return false;
        }
        while (is_word(*s)) {
            s++;
        }
    }
    return true;
}

static void rule_fini(tw_relabel_rule_t *r)
{
    for (size_t i = 0; i < r->nsource; i++) {
        free(r->source_labels[i]);
    }
    free(r->source_labels);
    free(r->separator);
    tw_scrape_re_fini(&r->regex);
    free(r->target_label);
    free(r->replacement);
}

void tw_relabel_rules_free(tw_relabel_rules_t *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        rule_fini(&r->v[i]);
    }
    free(r->v);
    free(r);
}

size_t tw_relabel_rules_count(const tw_relabel_rules_t *r)
{
    return r != NULL ? r->n : 0;
}

static int parse_rule(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec,
                      tw_relabel_rule_t *r)
{
    static const char *const keys[] = {"source_labels", "separator",   "regex", "modulus",
                                       "target_label",  "replacement", "action"};
    const tw_yaml_node_t *v[7];
    char *regex_src = NULL;
    char *action = NULL;
    char errbuf[256];
    int rc;
    r->separator = tw_xstrdup(";");
    r->target_label = tw_xstrdup("");
    r->replacement = tw_xstrdup("$1");
    if (n == NULL || n->kind != TW_YAML_MAP) {
        char d[64];
        return tw_yaml_error(w, n, "%s: expected a mapping, got %s", sec,
                             tw_yaml_describe(n, d, sizeof(d)));
    }
    rc = tw_yaml_fields(w, n, sec, keys, 7, v);
    if (rc != 0) {
        return rc;
    }
    if (!tw_yaml_is_null(v[0])) {
        if (v[0]->kind != TW_YAML_SEQ) {
            return tw_yaml_error(w, v[0], "%s.source_labels: expected a list of label names", sec);
        }
        r->source_set = true;
        r->source_labels = tw_xcalloc(v[0]->n + 1, sizeof(char *));
        for (size_t i = 0; i < v[0]->n; i++) {
            const char *s = NULL;
            rc = tw_yaml_get_scalar(w, v[0]->items[i], sec, "source_labels", "a label name", &s);
            if (rc != 0) {
                return rc;
            }
            if (s == NULL || !tw_label_name_valid(s)) {
                return tw_yaml_error(w, v[0]->items[i],
                                     "%s.source_labels: \"%s\" is not a valid "
                                     "label name",
                                     sec, s != NULL ? s : "");
            }
            r->source_labels[r->nsource++] = tw_xstrdup(s);
        }
    }
    if ((rc = tw_yaml_get_string(w, v[1], sec, keys[1], &r->separator)) != 0 ||
        (rc = tw_yaml_get_string(w, v[2], sec, keys[2], &regex_src)) != 0 ||
        (rc = tw_yaml_get_uint(w, v[3], sec, keys[3], 0, UINT64_MAX, &r->modulus)) != 0 ||
        (rc = tw_yaml_get_string(w, v[4], sec, keys[4], &r->target_label)) != 0 ||
        (rc = tw_yaml_get_string(w, v[5], sec, keys[5], &r->replacement)) != 0 ||
        (rc = tw_yaml_get_string(w, v[6], sec, keys[6], &action)) != 0) {
        goto out;
    }
    r->action = TW_RELABEL_REPLACE;
    if (action != NULL) {
        bool found = false;
        for (size_t i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++) {
            if (strcasecmp(action, action_names[i]) == 0) {
                r->action = (tw_relabel_action_t)i;
                found = true;
            }
        }
        if (!found) {
            rc = tw_yaml_error(w, v[6], "%s.action: unknown relabel action \"%s\"", sec, action);
            goto out;
        }
    }
    /* A key given as null ("regex:") means the empty regex, as in Prometheus. */
    r->regex_default = v[2] == NULL;
    const char *src = v[2] == NULL ? "(.*)" : (regex_src != NULL ? regex_src : "");
    if (tw_scrape_re_compile(&r->regex, src, errbuf, sizeof(errbuf)) != 0) {
        rc = tw_yaml_error(w, v[2], "%s.regex: %s", sec, errbuf);
        goto out;
    }
    /* Config.Validate, in its order. */
    tw_relabel_action_t a = r->action;
    const char *an = action_names[a];
    const tw_yaml_node_t *at = v[6] != NULL ? v[6] : n;
    bool needs_target = a == TW_RELABEL_REPLACE || a == TW_RELABEL_HASHMOD ||
                        a == TW_RELABEL_LOWERCASE || a == TW_RELABEL_UPPERCASE ||
                        a == TW_RELABEL_KEEPEQUAL || a == TW_RELABEL_DROPEQUAL;
    bool repl_default = strcmp(r->replacement, "$1") == 0;
    bool sep_default = strcmp(r->separator, ";") == 0;
    if (r->modulus == 0 && a == TW_RELABEL_HASHMOD) {
        rc = tw_yaml_error(w, at, "%s: relabel configuration for hashmod requires non-zero modulus",
                           sec);
    } else if (needs_target && r->target_label[0] == '\0') {
        rc = tw_yaml_error(w, at,
                           "%s: relabel configuration for %s action requires 'target_label' "
                           "value",
                           sec, an);
    } else if (a == TW_RELABEL_REPLACE && strchr(r->target_label, '$') == NULL &&
               !tw_label_name_valid(r->target_label)) {
        rc = tw_yaml_error(w, v[4], "%s: \"%s\" is invalid 'target_label' for %s action", sec,
                           r->target_label, an);
    } else if (a == TW_RELABEL_REPLACE && strchr(r->target_label, '$') != NULL &&
               !relabel_target_valid(r->target_label)) {
        rc = tw_yaml_error(w, v[4], "%s: \"%s\" is invalid 'target_label' for %s action", sec,
                           r->target_label, an);
    } else if ((a == TW_RELABEL_LOWERCASE || a == TW_RELABEL_UPPERCASE ||
                a == TW_RELABEL_KEEPEQUAL || a == TW_RELABEL_DROPEQUAL) &&
               !tw_label_name_valid(r->target_label)) {
        rc = tw_yaml_error(w, v[4], "%s: \"%s\" is invalid 'target_label' for %s action", sec,
                           r->target_label, an);
    } else if ((a == TW_RELABEL_LOWERCASE || a == TW_RELABEL_UPPERCASE ||
                a == TW_RELABEL_KEEPEQUAL || a == TW_RELABEL_DROPEQUAL) &&
               !repl_default) {
        rc = tw_yaml_error(w, v[5], "%s: 'replacement' can not be set for %s action", sec, an);
    } else if (a == TW_RELABEL_LABELMAP && !relabel_target_valid(r->replacement)) {
        rc = tw_yaml_error(w, v[5] != NULL ? v[5] : at,
                           "%s: \"%s\" is invalid 'replacement' for %s action", sec, r->replacement,
                           an);
    } else if (a == TW_RELABEL_HASHMOD && !tw_label_name_valid(r->target_label)) {
        rc = tw_yaml_error(w, v[4], "%s: \"%s\" is invalid 'target_label' for %s action", sec,
                           r->target_label, an);
    } else if ((a == TW_RELABEL_KEEPEQUAL || a == TW_RELABEL_DROPEQUAL) &&
               (!r->regex_default || r->modulus != 0 || !sep_default || !repl_default)) {
        rc = tw_yaml_error(w, at,
                           "%s: %s action requires only 'source_labels' and `target_label`, "
                           "and no other fields",
                           sec, an);
    } else if ((a == TW_RELABEL_LABELDROP || a == TW_RELABEL_LABELKEEP) &&
               (r->source_set || r->target_label[0] != '\0' || r->modulus != 0 || !sep_default ||
                !repl_default)) {
        rc = tw_yaml_error(w, at, "%s: %s action requires only 'regex', and no other fields", sec,
                           an);
    }
out:
    free(regex_src);
    free(action);
    return rc;
}

int tw_relabel_rules_parse(tw_yaml_walk_t *w, const tw_yaml_node_t *seq, const char *section,
                           tw_relabel_rules_t **out)
{
    tw_relabel_rules_t *r = tw_xcalloc(1, sizeof(*r));
    int rc = 0;
    if (!tw_yaml_is_null(seq)) {
        if (seq->kind != TW_YAML_SEQ) {
            char d[64];
            rc = tw_yaml_error(w, seq, "%s: expected a list of relabel rules, got %s", section,
                               tw_yaml_describe(seq, d, sizeof(d)));
            goto out;
        }
        r->v = tw_xcalloc(seq->n + 1, sizeof(r->v[0]));
        for (size_t i = 0; i < seq->n; i++) {
            char sec[256];
            snprintf(sec, sizeof(sec), "%.200s[%zu]", section, i);
            r->n++;
            rc = parse_rule(w, seq->items[i], sec, &r->v[i]);
            if (rc != 0) {
                goto out;
            }
        }
    }
out:
    if (rc != 0) {
        tw_relabel_rules_free(r);
        r = NULL;
    }
    *out = r;
    return rc;
}

/* ---- applying ------------------------------------------------------------------------------ */

/* Snapshot of the builder's names (rules iterate over it while the builder changes). */
static const char **names_snapshot(const tw_scrape_lb_t *b, const char **small, size_t nsmall,
                                   size_t *n)
{
    const char **names = b->n <= nsmall ? small : tw_xmalloc(b->n * sizeof(char *));
    for (size_t i = 0; i < b->n; i++) {
        names[i] = b->v[i].name;
    }
    *n = b->n;
    return names;
}

static bool relabel_one(const tw_relabel_rule_t *r, tw_scrape_lb_t *b, tw_buf_t *val, tw_buf_t *tmp)
{
    int so[TW_SCRAPE_RE_MAX_GROUPS + 1], eo[TW_SCRAPE_RE_MAX_GROUPS + 1];
    tw_buf_reset(val);
    tw_buf_puts(val, "");
    for (size_t i = 0; i < r->nsource; i++) {
        if (i > 0) {
            tw_buf_puts(val, r->separator);
        }
        tw_buf_puts(val, tw_scrape_lb_get(b, r->source_labels[i]));
    }
    const char *s = val->data;
    switch (r->action) {
    case TW_RELABEL_DROP:
        return !tw_scrape_re_match(&r->regex, s, NULL, NULL);
    case TW_RELABEL_KEEP:
        return tw_scrape_re_match(&r->regex, s, NULL, NULL);
    case TW_RELABEL_DROPEQUAL:
        return strcmp(tw_scrape_lb_get(b, r->target_label), s) != 0;
    case TW_RELABEL_KEEPEQUAL:
        return strcmp(tw_scrape_lb_get(b, r->target_label), s) == 0;
    case TW_RELABEL_REPLACE: {
        if (s[0] == '\0' && r->regex_default && strchr(r->target_label, '$') == NULL &&
            strchr(r->replacement, '$') == NULL) {
            tw_scrape_lb_set(b, r->target_label, r->replacement);
            break;
        }
        if (!tw_scrape_re_match(&r->regex, s, so, eo)) {
            break;
        }
        tw_buf_reset(tmp);
        tw_buf_puts(tmp, "");
        tw_scrape_re_expand(&r->regex, r->target_label, s, so, eo, tmp);
        if (!tw_label_name_valid(tmp->data)) {
            break;
        }
        char *target = tw_arena_strdup(b->a, tmp->data);
        tw_buf_reset(tmp);
        tw_buf_puts(tmp, "");
        tw_scrape_re_expand(&r->regex, r->replacement, s, so, eo, tmp);
        tw_scrape_lb_set(b, target, tmp->data);
        break;
    }
    case TW_RELABEL_LOWERCASE:
    case TW_RELABEL_UPPERCASE: {
        char *c = tw_arena_strdup(b->a, s);
        for (char *p = c; *p != '\0'; p++) {
            if (r->action == TW_RELABEL_LOWERCASE && *p >= 'A' && *p <= 'Z') {
                *p = (char)(*p - 'A' + 'a');
            } else if (r->action == TW_RELABEL_UPPERCASE && *p >= 'a' && *p <= 'z') {
                *p = (char)(*p - 'a' + 'A');
            }
        }
        tw_scrape_lb_set(b, r->target_label, c);
        break;
    }
    case TW_RELABEL_HASHMOD: {
        uint8_t d[16];
        tw_scrape_md5(s, strlen(s), d);
        uint64_t h = 0;
        for (int i = 8; i < 16; i++) {
            h = h << 8 | d[i];
        }
        char num[24];
        snprintf(num, sizeof(num), "%llu", (unsigned long long)(h % r->modulus));
        tw_scrape_lb_set(b, r->target_label, num);
        break;
    }
    case TW_RELABEL_LABELMAP:
    case TW_RELABEL_LABELDROP:
    case TW_RELABEL_LABELKEEP: {
        const char *small[32];
        size_t n;
        const char **names = names_snapshot(b, small, 32, &n);
        /* Values too: labelmap copies the value the label had before this rule ran. */
        const char **vals = tw_arena_alloc(b->a, (n + 1) * sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            vals[i] = b->v[i].value;
        }
        for (size_t i = 0; i < n; i++) {
            bool m = tw_scrape_re_match(&r->regex, names[i], so, eo);
            if (r->action == TW_RELABEL_LABELMAP && m) {
                tw_buf_reset(tmp);
                tw_buf_puts(tmp, "");
                tw_scrape_re_expand(&r->regex, r->replacement, names[i], so, eo, tmp);
                tw_scrape_lb_set(b, tmp->data, vals[i]);
            } else if ((r->action == TW_RELABEL_LABELDROP && m) ||
                       (r->action == TW_RELABEL_LABELKEEP && !m)) {
                tw_scrape_lb_del(b, names[i]);
            }
        }
        if (names != small) {
            free(names);
        }
        break;
    }
    }
    return true;
}

bool tw_scrape_lb_relabel(tw_scrape_lb_t *b, const tw_relabel_rules_t *rules)
{
    if (rules == NULL || rules->n == 0) {
        return true;
    }
    tw_buf_t val, tmp;
    tw_buf_init(&val, 0);
    tw_buf_init(&tmp, 0);
    bool keep = true;
    for (size_t i = 0; i < rules->n && keep; i++) {
        keep = relabel_one(&rules->v[i], b, &val, &tmp);
    }
    tw_buf_fini(&val);
    tw_buf_fini(&tmp);
    return keep;
}

int tw_relabel_process(const tw_relabel_rules_t *rules, const tw_label_t *in, size_t nin,
                       tw_arena_t *a, tw_label_t **out, size_t *nout)
{
    tw_scrape_lb_t b;
    tw_scrape_lb_init(&b, a);
    for (size_t i = 0; i < nin; i++) {
        tw_scrape_lb_set(&b, in[i].name, in[i].value);
    }
    bool keep = tw_scrape_lb_relabel(&b, rules);
    if (keep) {
        tw_scrape_lb_sort(&b);
        tw_label_t *res = tw_arena_alloc(a, (b.n + 1) * sizeof(tw_label_t));
        if (b.n > 0) {
            memcpy(res, b.v, b.n * sizeof(tw_label_t));
        }
        *out = res;
        *nout = b.n;
    }
    tw_scrape_lb_fini(&b);
    return keep ? 1 : 0;
}
