/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rule_file.c - Prometheus rule files, read as strictly as Prometheus 2.42's rulefmt.Parse:
 * decoding (yaml.v3 with known fields only), then Validate (names, expr, recording-rule fields,
 * label and annotation names, templates).
 *
 * How it works: the file becomes a YAML tree (common/yaml_tree.h; only the first document
 * counts, as in Prometheus), then a walk decodes it the way Go's decoder would: an unknown or
 * repeated key, or a value of the wrong type, is an "unmarshal error" collected under
 * "yaml: unmarshal errors:" with its line, and the walk goes on; a bad duration stops decoding
 * at once with "not a valid duration string" (a custom unmarshaler's error in Go). Merge keys
 * (`<<: *anchor`) are honoured. If decoding succeeded, Validate runs and prefixes each message
 * with the rule's position the way rulefmt.Error does ("6:15: group \"g\", rule 1, \"x\": ...").
 * Every message gets "<file>: " in front, as promtool prints it.
 *
 * Pure: parses memory (tw_rule_file_load() reads the file first). Thread-safe on distinct
 * inputs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/timeutil.h"
#include "common/yaml_tree.h"
#include "rules.h"
#include "rules_int.h"
#include "rule_decode_int.h"

#define RULE_FILE_DEFAULT_MAX (64u << 20)

void tw_rule_errors_add(tw_rule_errors_t *e, const char *fmt, ...)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    va_list ap;
    va_start(ap, fmt);
    tw_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    tw_grow((void **)&e->msgs, &e->cap, e->n + 1, sizeof(*e->msgs));
    e->msgs[e->n++] = tw_buf_steal(&b, NULL);
}

void tw_rule_errors_fini(tw_rule_errors_t *e)
{
    if (e == NULL) {
        return;
    }
    for (size_t i = 0; i < e->n; i++) {
        free(e->msgs[i]);
    }
    free(e->msgs);
    memset(e, 0, sizeof(*e));
}

/* ---- the decoding walk ---- */

void rd_um_error(rd_t *l, int line, const char *fmt, ...)
{
    tw_buf_printf(&l->um, "\n  line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    tw_buf_vprintf(&l->um, fmt, ap);
    va_end(ap);
}

/* Go's name for a node's tag in "cannot unmarshal !!x" messages. */
static const char *node_tag(const tw_yaml_node_t *n)
{
    if (n->kind == TW_YAML_MAP) {
        return "!!map";
    }
    if (n->kind == TW_YAML_SEQ) {
        return "!!seq";
    }
    return "!!str";
}

void rd_um_type(rd_t *l, const tw_yaml_node_t *n, const char *into)
{
    if (n->kind == TW_YAML_SCALAR) {
        rd_um_error(l, n->line, "cannot unmarshal %s `%s` into %s", node_tag(n), n->value, into);
    } else {
        rd_um_error(l, n->line, "cannot unmarshal %s into %s", node_tag(n), into);
    }
}

static bool is_merge_key(const tw_yaml_node_t *k)
{
    return k->kind == TW_YAML_SCALAR && k->plain && strcmp(k->value, "<<") == 0;
}

/*
 * Stores the values of the known keys of mapping n in vals (NULL when absent), like yaml.v3
 * decoding into a struct with KnownFields: unknown and repeated keys are unmarshal errors
 * naming type. Keys of merged maps (`<<`) fill only what the mapping itself does not set.
 */
static void walk_fields(rd_t *l, const tw_yaml_node_t *n, const char *type, const char *const *keys,
                        size_t nk, const tw_yaml_node_t **vals, bool *explicit_set, bool merged,
                        int depth)
{
    if (n == NULL || n->kind != TW_YAML_MAP || depth > 8) {
        return;
    }
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const tw_yaml_node_t *k = n->items[i];
        const tw_yaml_node_t *v = n->items[i + 1];
        if (is_merge_key(k)) {
            if (v->kind == TW_YAML_MAP) {
                walk_fields(l, v, type, keys, nk, vals, explicit_set, true, depth + 1);
            } else if (v->kind == TW_YAML_SEQ) {
                for (size_t j = 0; j < v->n; j++) {
                    walk_fields(l, v->items[j], type, keys, nk, vals, explicit_set, true,
                                depth + 1);
                }
            } else {
                rd_um_error(l, v->line, "map merge requires map or sequence of maps as the value");
            }
            continue;
        }
        const char *kn = k->kind == TW_YAML_SCALAR ? k->value : "";
        size_t idx = nk;
        for (size_t j = 0; j < nk; j++) {
            if (strcmp(keys[j], kn) == 0) {
                idx = j;
                break;
            }
        }
        if (idx == nk) {
            rd_um_error(l, k->line, "field %s not found in type %s", kn, type);
            continue;
        }
        if (merged) {
            if (vals[idx] == NULL) {
                vals[idx] = v;
            }
            continue;
        }
        if (explicit_set[idx]) {
            rd_um_error(l, k->line, "mapping key \"%s\" already defined", kn);
            continue;
        }
        explicit_set[idx] = true;
        vals[idx] = v;
    }
}

void rd_fields(rd_t *l, const tw_yaml_node_t *n, const char *type, const char *const *keys,
               size_t nk, const tw_yaml_node_t **vals)
{
    bool explicit_set[TW_YAML_MAX_KEYS] = {false};
    for (size_t i = 0; i < nk; i++) {
        vals[i] = NULL;
    }
    walk_fields(l, n, type, keys, nk, vals, explicit_set, false, 0);
}

/* A string field: a scalar's text ("" for null); collections are unmarshal errors. */
const char *rd_get_str(rd_t *l, const tw_yaml_node_t *v)
{
    if (v == NULL || tw_yaml_is_null(v)) {
        return "";
    }
    if (v->kind != TW_YAML_SCALAR) {
        rd_um_type(l, v, "string");
        return "";
    }
    return tw_arena_strndup(l->a, v->value, v->len);
}

/* A model.Duration field; a bad one stops decoding like Go's custom unmarshaler. */
int64_t rd_get_duration(rd_t *l, const tw_yaml_node_t *v)
{
    if (v == NULL || tw_yaml_is_null(v)) {
        return 0;
    }
    if (v->kind != TW_YAML_SCALAR) {
        rd_um_type(l, v, "string");
        return 0;
    }
    int64_t ms = 0;
    if (tw_duration_parse(v->value, &ms) != 0 && l->fatal[0] == '\0') {
        tw_buf_t q;
        tw_buf_init(&q, 0);
        go_quote(&q, v->value, v->len);
        snprintf(l->fatal, sizeof(l->fatal), "not a valid duration string: %s",
                 q.data != NULL ? q.data : "\"\"");
        tw_buf_fini(&q);
    }
    return ms;
}

int64_t rd_get_int(rd_t *l, const tw_yaml_node_t *v)
{
    if (v == NULL || tw_yaml_is_null(v)) {
        return 0;
    }
    if (v->kind != TW_YAML_SCALAR || !v->plain) {
        rd_um_type(l, v, "int");
        return 0;
    }
    char *end = NULL;
    long long x = strtoll(v->value, &end, 10);
    if (end == v->value || *end != '\0') {
        rd_um_type(l, v, "int");
        return 0;
    }
    return (int64_t)x;
}

/* A yaml.Node field (record, alert, expr). */
ynode_t rd_get_node(const tw_yaml_node_t *v)
{
    ynode_t r = {"", 0, 0, false};
    if (v == NULL) {
        return r;
    }
    r.present = true;
    r.line = v->line;
    r.col = v->col;
    if (v->kind == TW_YAML_SCALAR && !tw_yaml_is_null(v)) {
        r.value = v->value;
    }
    return r;
}

/* A map[string]string field, as label pairs in document order. */
tw_label_t *rd_get_map(rd_t *l, const tw_yaml_node_t *v, size_t *n_out)
{
    *n_out = 0;
    if (v == NULL || tw_yaml_is_null(v)) {
        return NULL;
    }
    if (v->kind != TW_YAML_MAP) {
        rd_um_type(l, v, "map[string]string");
        return NULL;
    }
    tw_label_t *out = tw_arena_calloc(l->a, (v->n / 2 + 1) * sizeof(*out));
    size_t n = 0;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const tw_yaml_node_t *k = v->items[i];
        const tw_yaml_node_t *val = v->items[i + 1];
        if (k->kind != TW_YAML_SCALAR) {
            rd_um_type(l, k, "string");
            continue;
        }
        const char *value = rd_get_str(l, val);
        size_t j = 0;
        while (j < n && strcmp(out[j].name, k->value) != 0) {
            j++;
        }
        if (j < n) {
            rd_um_error(l, k->line, "mapping key \"%s\" already defined", k->value);
            continue;
        }
        out[n].name = tw_arena_strndup(l->a, k->value, k->len);
        out[n].value = value;
        n++;
    }
    *n_out = n;
    return out;
}

/* ---- validation ---- */

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t w;
        uint32_t min;
        if (*p < 0x80) {
            p++;
            continue;
        } else if ((*p & 0xE0) == 0xC0) {
            w = 2;
            min = 0x80;
        } else if ((*p & 0xF0) == 0xE0) {
            w = 3;
            min = 0x800;
        } else if ((*p & 0xF8) == 0xF0) {
            w = 4;
            min = 0x10000;
        } else {
            return false;
        }
        uint32_t cp = *p & (0x7F >> w);
        for (size_t i = 1; i < w; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        p += w;
    }
    return true;
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const tw_label_t *)a)->name, ((const tw_label_t *)b)->name);
}

/* One decoded rule before validation. */
typedef struct raw_rule {
    ynode_t record, alert, expr;
    int64_t for_ms, keep_ms;
    tw_label_t *labels;
    size_t n_labels;
    tw_label_t *ann;
    size_t n_ann;
} raw_rule_t;

typedef struct raw_group {
    const char *name;
    int64_t interval_ms;
    int64_t limit;
    raw_rule_t *rules;
    size_t n_rules;
    int line, col;
} raw_group_t;

/* Adds one rulefmt.Error: "<file>: [pos: [alt: ]]group %q, rule %d, %q: <msg>". */
static void rule_error(tw_rule_errors_t *errs, const char *file, const char *group, size_t idx,
                       const char *rule, const ynode_t *node, const ynode_t *alt, const char *msg)
{
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_buf_printf(&b, "%s: ", file);
    if (node != NULL) {
        tw_buf_printf(&b, "%d:%d: ", node->line, node->col);
        if (alt != NULL) {
            tw_buf_printf(&b, "%d:%d: ", alt->line, alt->col);
        }
    }
    tw_buf_puts(&b, "group ");
    go_quote(&b, group, strlen(group));
    tw_buf_printf(&b, ", rule %zu, ", idx);
    go_quote(&b, rule, strlen(rule));
    tw_buf_printf(&b, ": %s", msg);
    tw_rule_errors_add(errs, "%s", b.data);
    tw_buf_fini(&b);
}

static void validate_rule(const raw_rule_t *r, const char *file, const char *group, size_t idx,
                          const tw_rule_load_options_t *o, tw_rule_errors_t *errs)
{
    const char *rname = r->alert.value[0] != '\0' ? r->alert.value : r->record.value;
    char msg[1200];
    ynode_t zero = {"", 0, 0, false};
    if (r->record.value[0] != '\0' && r->alert.value[0] != '\0') {
        rule_error(errs, file, group, idx, rname, &r->record, &r->alert,
                   "only one of 'record' and 'alert' must be set");
    }
    if (r->record.value[0] == '\0' && r->alert.value[0] == '\0') {
        rule_error(errs, file, group, idx, rname, &r->record, NULL,
                   "one of 'record' or 'alert' must be set");
    }
    if (r->expr.value[0] == '\0') {
        rule_error(errs, file, group, idx, rname, r->expr.present ? &r->expr : &zero, NULL,
                   "field 'expr' must be set in rule");
    } else if (o->check_expr != NULL) {
        tw_error_t e;
        tw_error_clear(&e);
        if (o->check_expr(o->check_ctx, r->expr.value, &e) != 0) {
            snprintf(msg, sizeof(msg), "could not parse expression: %s", e.msg);
            rule_error(errs, file, group, idx, rname, &r->expr, NULL, msg);
        }
    }
    if (r->record.value[0] != '\0') {
        if (r->n_ann > 0) {
            rule_error(errs, file, group, idx, rname, &r->record, NULL,
                       "invalid field 'annotations' in recording rule");
        }
        if (r->for_ms != 0) {
            rule_error(errs, file, group, idx, rname, &r->record, NULL,
                       "invalid field 'for' in recording rule");
        }
        if (r->keep_ms != 0) {
            rule_error(errs, file, group, idx, rname, &r->record, NULL,
                       "invalid field 'keep_firing_for' in recording rule");
        }
        if (!tw_metric_name_valid(r->record.value)) {
            snprintf(msg, sizeof(msg), "invalid recording rule name: %s", r->record.value);
            rule_error(errs, file, group, idx, rname, &r->record, NULL, msg);
        }
    }
    for (size_t i = 0; i < r->n_labels; i++) {
        const tw_label_t *lb = &r->labels[i];
        if (!tw_label_name_valid(lb->name) || strcmp(lb->name, TW_METRIC_NAME_LABEL) == 0) {
            snprintf(msg, sizeof(msg), "invalid label name: %s", lb->name);
            rule_error(errs, file, group, idx, rname, NULL, NULL, msg);
        }
        if (!utf8_valid(lb->value)) {
            snprintf(msg, sizeof(msg), "invalid label value: %s", lb->value);
            rule_error(errs, file, group, idx, rname, NULL, NULL, msg);
        }
    }
    for (size_t i = 0; i < r->n_ann; i++) {
        if (!tw_label_name_valid(r->ann[i].name)) {
            snprintf(msg, sizeof(msg), "invalid annotation name: %s", r->ann[i].name);
            rule_error(errs, file, group, idx, rname, NULL, NULL, msg);
        }
    }
    if (r->alert.value[0] == '\0' || o->skip_templates) {
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        const tw_label_t *set = pass == 0 ? r->labels : r->ann;
        size_t n = pass == 0 ? r->n_labels : r->n_ann;
        for (size_t i = 0; i < n; i++) {
            tw_error_t e;
            tw_error_clear(&e);
            if (tw_tmpl_check_alert(r->alert.value, set[i].value, &e) == 0) {
                continue;
            }
            tw_buf_t b;
            tw_buf_init(&b, 0);
            tw_buf_puts(&b, pass == 0 ? "label " : "annotation ");
            go_quote(&b, set[i].name, strlen(set[i].name));
            tw_buf_printf(&b, ": %s", e.msg);
            rule_error(errs, file, group, idx, rname, NULL, NULL, b.data);
            tw_buf_fini(&b);
        }
    }
}

/* ---- the file ---- */

/*
 * The length of the first YAML document of data: up to a later document marker ("---" or "..."
 * at the start of a line) once the first document has content. Prometheus reads only the first.
 */
size_t rd_first_document_len(const char *data, size_t len)
{
    bool content = false;
    size_t i = 0;
    while (i < len) {
        size_t eol = i;
        while (eol < len && data[eol] != '\n') {
            eol++;
        }
        const char *s = data + i;
        size_t n = eol - i;
        bool marker = n >= 3 && (memcmp(s, "---", 3) == 0 || memcmp(s, "...", 3) == 0) &&
                      (n == 3 || s[3] == ' ' || s[3] == '\t' || s[3] == '\r');
        if (marker && content) {
            return i;
        }
        if (marker) {
            /* "--- {a: b}": content on the marker line itself */
            for (size_t k = 3; k < n; k++) {
                if (s[k] == '#') {
                    break;
                }
                if (s[k] != ' ' && s[k] != '\t' && s[k] != '\r') {
                    content = true;
                    break;
                }
            }
        } else if (n > 0 && s[0] != '%') {
            for (size_t k = 0; k < n; k++) {
                if (s[k] == '#') {
                    break;
                }
                if (s[k] != ' ' && s[k] != '\t' && s[k] != '\r') {
                    content = true;
                    break;
                }
            }
        }
        i = eol + 1;
    }
    return len;
}

/* Go yaml's wording of a syntax error: "yaml: line N: <problem>". */
void rd_yaml_syntax_message(const tw_error_t *e, char *out, size_t outsz)
{
    const char *m = e->msg;
    const char *pre = "invalid YAML: ";
    if (strncmp(m, pre, strlen(pre)) == 0) {
        m += strlen(pre);
    }
    size_t plen = strlen(m);
    const char *paren = strstr(m, " (");
    int line = e->line;
    if (paren != NULL) {
        plen = (size_t)(paren - m);
        const char *at = strstr(paren, " at line ");
        int cl = 0;
        if (at != NULL && sscanf(at, " at line %d", &cl) == 1) {
            /* Go prints the context mark's 0-based line for parser errors, 1-based for the
             * scanner's. */
            line = strncmp(paren + 2, "while parsing", 13) == 0 ? cl - 1 : cl;
        }
    }
    if (line > 0) {
        snprintf(out, outsz, "yaml: line %d: %.*s", line, (int)plen, m);
    } else {
        snprintf(out, outsz, "yaml: %.*s", (int)plen, m);
    }
}

static const char *const group_keys[] = {"name", "interval", "limit", "rules"};
static const char *const rule_keys[] = {"record",          "alert",  "expr",       "for",
                                        "keep_firing_for", "labels", "annotations"};

int tw_rule_file_parse(const char *name, const char *data, size_t len,
                       const tw_rule_load_options_t *o, tw_rule_file_t **out,
                       tw_rule_errors_t *errs)
{
    static const tw_rule_load_options_t defaults = {0};
    if (o == NULL) {
        o = &defaults;
    }
    *out = NULL;
    size_t errs_before = errs->n;
    tw_yaml_doc_t *doc = NULL;
    tw_error_t e;
    tw_error_clear(&e);
    rd_t l = {0};
    l.a = tw_arena_new(0);
    tw_buf_init(&l.um, 1u << 20);
    raw_group_t *groups = NULL;
    size_t n_groups = 0;
    int rc = 0;

    size_t dlen = rd_first_document_len(data, len);
    if (tw_yaml_doc_parse(data, dlen, name, &doc, &e) != 0) {
        char m[700];
        rd_yaml_syntax_message(&e, m, sizeof(m));
        /* rulefmt.Parse decodes twice (strict, then into nodes): both fail alike. */
        tw_rule_errors_add(errs, "%s: %s", name, m);
        tw_rule_errors_add(errs, "%s: %s", name, m);
        rc = TW_EPARSE;
        goto out;
    }
    const tw_yaml_node_t *root = tw_yaml_doc_root(doc);
    const tw_yaml_node_t *gseq = NULL;
    if (root != NULL && !tw_yaml_is_null(root)) {
        if (root->kind != TW_YAML_MAP) {
            rd_um_type(&l, root, "rulefmt.RuleGroups");
        } else {
            static const char *const top_keys[] = {"groups"};
            rd_fields(&l, root, "rulefmt.RuleGroups", top_keys, 1, &gseq);
        }
    }
    if (gseq != NULL && !tw_yaml_is_null(gseq) && gseq->kind != TW_YAML_SEQ) {
        rd_um_type(&l, gseq, "[]rulefmt.RuleGroup");
        gseq = NULL;
    }
    if (gseq != NULL && gseq->kind == TW_YAML_SEQ) {
        groups = tw_arena_calloc(l.a, (gseq->n + 1) * sizeof(*groups));
        for (size_t gi = 0; gi < gseq->n && l.fatal[0] == '\0'; gi++) {
            const tw_yaml_node_t *gn = gseq->items[gi];
            raw_group_t *g = &groups[n_groups++];
            g->name = "";
            g->line = gn->line;
            g->col = gn->col;
            if (tw_yaml_is_null(gn)) {
                continue;
            }
            if (gn->kind != TW_YAML_MAP) {
                rd_um_type(&l, gn, "rulefmt.RuleGroup");
                continue;
            }
            const tw_yaml_node_t *gv[4];
            rd_fields(&l, gn, "rulefmt.RuleGroup", group_keys, 4, gv);
            g->name = rd_get_str(&l, gv[0]);
            g->interval_ms = rd_get_duration(&l, gv[1]);
            g->limit = rd_get_int(&l, gv[2]);
            const tw_yaml_node_t *rs = gv[3];
            if (rs == NULL || tw_yaml_is_null(rs)) {
                continue;
            }
            if (rs->kind != TW_YAML_SEQ) {
                rd_um_type(&l, rs, "[]rulefmt.RuleNode");
                continue;
            }
            g->rules = tw_arena_calloc(l.a, (rs->n + 1) * sizeof(*g->rules));
            for (size_t ri = 0; ri < rs->n && l.fatal[0] == '\0'; ri++) {
                const tw_yaml_node_t *rn = rs->items[ri];
                raw_rule_t *r = &g->rules[g->n_rules++];
                r->record = r->alert = r->expr = rd_get_node(NULL);
                if (tw_yaml_is_null(rn)) {
                    continue;
                }
                if (rn->kind != TW_YAML_MAP) {
                    rd_um_type(&l, rn, "rulefmt.RuleNode");
                    continue;
                }
                const tw_yaml_node_t *rv[7];
                rd_fields(&l, rn, "rulefmt.RuleNode", rule_keys, 7, rv);
                r->record = rd_get_node(rv[0]);
                r->alert = rd_get_node(rv[1]);
                r->expr = rd_get_node(rv[2]);
                r->for_ms = rd_get_duration(&l, rv[3]);
                r->keep_ms = rd_get_duration(&l, rv[4]);
                r->labels = rd_get_map(&l, rv[5], &r->n_labels);
                r->ann = rd_get_map(&l, rv[6], &r->n_ann);
            }
        }
    }
    if (l.fatal[0] != '\0') {
        tw_rule_errors_add(errs, "%s: %s", name, l.fatal);
        rc = TW_EPARSE;
        goto out;
    }
    if (l.um.len > 0) {
        tw_rule_errors_add(errs, "%s: yaml: unmarshal errors:%s", name, l.um.data);
        rc = TW_EPARSE;
        goto out;
    }

    /* Validate: group names, then each rule. */
    for (size_t gi = 0; gi < n_groups; gi++) {
        raw_group_t *g = &groups[gi];
        if (g->name[0] == '\0') {
            tw_rule_errors_add(errs, "%s: %d:%d: Groupname must not be empty", name, g->line,
                               g->col);
        }
        for (size_t k = 0; k < gi; k++) {
            if (strcmp(groups[k].name, g->name) == 0) {
                tw_rule_errors_add(errs,
                                   "%s: %d:%d: groupname: \"%s\" is repeated in the same file",
                                   name, g->line, g->col, g->name);
                break;
            }
        }
        for (size_t ri = 0; ri < g->n_rules; ri++) {
            raw_rule_t *r = &g->rules[ri];
            if (r->n_labels > 1) {
                qsort(r->labels, r->n_labels, sizeof(*r->labels), label_cmp);
            }
            if (r->n_ann > 1) {
                qsort(r->ann, r->n_ann, sizeof(*r->ann), label_cmp);
            }
            validate_rule(r, name, g->name, ri + 1, o, errs);
        }
    }
    if (errs->n > errs_before) {
        rc = TW_EPARSE;
        goto out;
    }

    tw_rule_file_t *f = tw_xcalloc(1, sizeof(*f));
    f->arena = l.a;
    l.a = NULL;
    f->name = tw_arena_strdup(f->arena, name);
    f->n_groups = n_groups;
    f->groups = tw_arena_calloc(f->arena, (n_groups + 1) * sizeof(*f->groups));
    for (size_t gi = 0; gi < n_groups; gi++) {
        const raw_group_t *rg = &groups[gi];
        tw_rule_group_spec_t *g = &f->groups[gi];
        g->name = rg->name;
        g->interval_ms = rg->interval_ms;
        g->limit = rg->limit;
        g->line = rg->line;
        g->col = rg->col;
        g->n_rules = rg->n_rules;
        g->rules = tw_arena_calloc(f->arena, (rg->n_rules + 1) * sizeof(*g->rules));
        for (size_t ri = 0; ri < rg->n_rules; ri++) {
            const raw_rule_t *r = &rg->rules[ri];
            tw_rule_spec_t *s = &g->rules[ri];
            bool alerting = r->alert.value[0] != '\0';
            const ynode_t *nn = alerting ? &r->alert : &r->record;
            s->kind = alerting ? TW_RULE_ALERTING : TW_RULE_RECORDING;
            s->name = tw_arena_strdup(f->arena, nn->value);
            s->line = nn->line;
            s->col = nn->col;
            s->expr = tw_arena_strdup(f->arena, r->expr.value);
            s->expr_line = r->expr.line;
            s->expr_col = r->expr.col;
            s->for_ms = r->for_ms;
            s->keep_firing_for_ms = r->keep_ms;
            s->labels = r->labels;
            s->n_labels = r->n_labels;
            s->annotations = r->ann;
            s->n_annotations = r->n_ann;
        }
    }
    *out = f;
out:
    tw_buf_fini(&l.um);
    tw_arena_free(l.a);
    tw_yaml_doc_free(doc);
    return rc;
}

int tw_rule_file_load(const char *path, const tw_rule_load_options_t *o, tw_rule_file_t **out,
                      tw_rule_errors_t *errs)
{
    *out = NULL;
    tw_buf_t b;
    size_t max = o != NULL && o->max_file_bytes != 0 ? o->max_file_bytes : RULE_FILE_DEFAULT_MAX;
    tw_buf_init(&b, max);
    tw_error_t e;
    tw_error_clear(&e);
    int rc = tw_buf_read_file(&b, path, &e);
    if (rc == TW_ELIMIT) {
        tw_rule_errors_add(errs, "%s: file larger than %zu bytes", path, max);
    } else if (rc != 0) {
        /* Go's os.ReadFile wording */
        tw_rule_errors_add(errs, "open %s: %s", path, tw_strerror(rc));
    } else {
        rc = tw_rule_file_parse(path, b.data != NULL ? b.data : "", b.len, o, out, errs);
    }
    tw_buf_fini(&b);
    return rc;
}

void tw_rule_file_free(tw_rule_file_t *f)
{
    if (f == NULL) {
        return;
    }
    tw_arena_free(f->arena);
    free(f);
}

size_t tw_rule_file_count_rules(const tw_rule_file_t *f)
{
    size_t n = 0;
    for (size_t i = 0; f != NULL && i < f->n_groups; i++) {
        n += f->groups[i].n_rules;
    }
    return n;
}
