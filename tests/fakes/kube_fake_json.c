/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_fake_json.c - the fake apiserver's pure JSON helpers (kube_fake.h): the three patch
 * flavours kubectl and client-go send, label/field selectors, the seed reader (libyaml events
 * to jansson values) and the apiserver's age formatting.
 *
 * Semantics follow kube-apiserver and k8s.io/apimachinery: RFC 7386 merge patch, RFC 6902 JSON
 * patch, strategic merge patch by merge key, selectors as labels.Parse and fields.ParseSelector.
 * Pure functions; thread-safe on distinct values.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/mem.h"
#include "tests/fakes/kube_fake.h"

/* ---------------------------------------------------------------------------------------- */
/* Merge patch (RFC 7386)                                                                    */

json_t *tw_kfake_patch_merge(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch)) {
        return json_deep_copy(patch);
    }
    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)patch, key, val)
    {
        if (json_is_null(val)) {
            json_object_del(out, key);
            continue;
        }
        json_object_set_new(out, key, tw_kfake_patch_merge(json_object_get(out, key), val));
    }
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* JSON patch (RFC 6902)                                                                     */

/* Decodes one reference token of a JSON pointer (~1 is '/', ~0 is '~') into out. */
static void pointer_token(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outsz; i++) {
        if (s[i] == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
            out[o++] = s[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}

/* Parses an array index token; "-" gives len (append position) when allow_end. */
static int array_index(const char *tok, size_t len, bool allow_end, size_t *out)
{
    if (strcmp(tok, "-") == 0) {
        if (!allow_end) {
            return -1;
        }
        *out = len;
        return 0;
    }
    if (!*tok || (tok[0] == '0' && tok[1]) || strspn(tok, "0123456789") != strlen(tok)) {
        return -1;
    }
    errno = 0;
    unsigned long long v = strtoull(tok, NULL, 10);
    if (errno || v > len || (!allow_end && v == len)) {
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/*
 * Resolves pointer ptr in doc to its parent container and last token. "" (the whole document)
 * gives *parent NULL. Returns 0, or -1 when an intermediate step is missing.
 */
static int pointer_parent(json_t *doc, const char *ptr, json_t **parent, char *last, size_t lastsz)
{
    *parent = NULL;
    if (!*ptr) {
        return 0;
    }
    if (ptr[0] != '/') {
        return -1;
    }
    json_t *cur = doc;
    const char *p = ptr + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        pointer_token(p, n, last, lastsz);
        if (!slash) {
            *parent = cur;
            return 0;
        }
        json_t *next = NULL;
        if (json_is_object(cur)) {
            next = json_object_get(cur, last);
        } else if (json_is_array(cur)) {
            size_t idx;
            if (array_index(last, json_array_size(cur), false, &idx) == 0) {
                next = json_array_get(cur, idx);
            }
        }
        if (!next) {
            return -1;
        }
        cur = next;
        p = slash + 1;
    }
}

static json_t *pointer_get(json_t *doc, const char *ptr)
{
    json_t *parent;
    char last[256];
    if (pointer_parent(doc, ptr, &parent, last, sizeof(last)) != 0) {
        return NULL;
    }
    if (!parent) {
        return doc;
    }
    if (json_is_object(parent)) {
        return json_object_get(parent, last);
    }
    size_t idx;
    if (json_is_array(parent) && array_index(last, json_array_size(parent), false, &idx) == 0) {
        return json_array_get(parent, idx);
    }
    return NULL;
}

/* Removes the value at ptr; returns it (a new reference) or NULL. */
static json_t *pointer_remove(json_t *doc, const char *ptr)
{
    json_t *parent;
    char last[256];
    if (pointer_parent(doc, ptr, &parent, last, sizeof(last)) != 0 || !parent) {
        return NULL;
    }
    json_t *v = NULL;
    if (json_is_object(parent)) {
        v = json_incref(json_object_get(parent, last));
        if (v) {
            json_object_del(parent, last);
        }
    } else if (json_is_array(parent)) {
        size_t idx;
        if (array_index(last, json_array_size(parent), false, &idx) == 0) {
            v = json_incref(json_array_get(parent, idx));
            json_array_remove(parent, idx);
        }
    }
    return v;
}

/* Adds val (reference stolen) at ptr. *doc changes when ptr is "". Returns 0 or -1. */
static int pointer_add(json_t **doc, const char *ptr, json_t *val, bool replace)
{
    json_t *parent;
    char last[256];
    if (pointer_parent(*doc, ptr, &parent, last, sizeof(last)) != 0) {
        json_decref(val);
        return -1;
    }
    if (!parent) {
        json_decref(*doc);
        *doc = val;
        return 0;
    }
    if (json_is_object(parent)) {
        if (replace && !json_object_get(parent, last)) {
            json_decref(val);
            return -1;
        }
        return json_object_set_new(parent, last, val) == 0 ? 0 : -1;
    }
    size_t idx;
    if (!json_is_array(parent) || array_index(last, json_array_size(parent), !replace, &idx) != 0) {
        json_decref(val);
        return -1;
    }
    if (replace) {
        return json_array_set_new(parent, idx, val) == 0 ? 0 : -1;
    }
    return json_array_insert_new(parent, idx, val) == 0 ? 0 : -1;
}

json_t *tw_kfake_patch_json(const json_t *target, const json_t *ops, char msg[TW_KFAKE_MSG])
{
    if (!json_is_array(ops)) {
        snprintf(msg, TW_KFAKE_MSG, "json patch must be an array of operations");
        return NULL;
    }
    json_t *doc = json_deep_copy(target);
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        const char *name = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        const char *from = json_string_value(json_object_get(op, "from"));
        json_t *value = json_object_get(op, "value");
        int rc = -1;
        if (!name || !path) {
            snprintf(msg, TW_KFAKE_MSG, "operation %zu: missing op or path", i);
            goto fail;
        }
        if (strcmp(name, "add") == 0 && value) {
            rc = pointer_add(&doc, path, json_deep_copy(value), false);
        } else if (strcmp(name, "replace") == 0 && value) {
            rc = pointer_add(&doc, path, json_deep_copy(value), true);
        } else if (strcmp(name, "remove") == 0) {
            json_t *old = pointer_remove(doc, path);
            rc = old ? 0 : -1;
            json_decref(old);
        } else if ((strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) && from) {
            json_t *v = strcmp(name, "move") == 0 ? pointer_remove(doc, from)
                                                  : json_deep_copy(pointer_get(doc, from));
            rc = v ? pointer_add(&doc, path, v, false) : -1;
        } else if (strcmp(name, "test") == 0 && value) {
            json_t *cur = pointer_get(doc, path);
            if (!cur || !json_equal(cur, value)) {
                snprintf(msg, TW_KFAKE_MSG, "testing value %s failed", path);
                goto fail;
            }
            rc = 0;
        } else {
            snprintf(msg, TW_KFAKE_MSG, "Unexpected kind: %s", name);
            goto fail;
        }
        if (rc != 0) {
            snprintf(msg, TW_KFAKE_MSG, "%s operation does not apply: doc is missing path: \"%s\"",
                     name, path);
            goto fail;
        }
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Strategic merge patch                                                                     */

/* Merge keys of the list fields of the core types, by field name (patchMergeKey tags). */
static const char *smp_merge_key(const char *field, const json_t *list_a, const json_t *list_b)
{
    static const char *const table[][2] = {
        {"containers", "name"},
        {"initContainers", "name"},
        {"ephemeralContainers", "name"},
        {"env", "name"},
        {"volumes", "name"},
        {"volumeMounts", "mountPath"},
        {"volumeDevices", "devicePath"},
        {"imagePullSecrets", "name"},
        {"conditions", "type"},
        {"ownerReferences", "uid"},
        {"hostAliases", "ip"},
        {"addresses", "type"},
        {"topologySpreadConstraints", "topologyKey"},
        {"resourceClaims", "name"},
        {"readinessGates", "conditionType"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(field, table[i][0]) == 0) {
            return table[i][1];
        }
    }
    if (strcmp(field, "ports") == 0) {
        /* Container ports merge on containerPort, service ports on port. */
        const json_t *lists[2] = {list_a, list_b};
        for (int l = 0; l < 2; l++) {
            size_t i;
            json_t *e;
            json_array_foreach((json_t *)lists[l], i, e)
            {
                if (json_object_get(e, "containerPort")) {
                    return "containerPort";
                }
                if (json_object_get(e, "port")) {
                    return "port";
                }
            }
        }
    }
    return NULL;
}

static json_t *smp_map(const json_t *target, const json_t *patch, char *msg);

/* Finds the element of list whose key equals want's key; returns its index or -1. */
static long smp_find(const json_t *list, const char *key, const json_t *want)
{
    const json_t *kv = json_object_get(want, key);
    if (!kv) {
        return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach((json_t *)list, i, e)
    {
        if (json_equal(json_object_get(e, key), (json_t *)kv)) {
            return (long)i;
        }
    }
    return -1;
}

static json_t *smp_list(const json_t *target, const json_t *patch, const char *key, char *msg)
{
    json_t *out = json_is_array(target) ? json_deep_copy(target) : json_array();
    size_t i;
    json_t *e;
    json_array_foreach((json_t *)patch, i, e)
    {
        const char *directive = json_string_value(json_object_get(e, "$patch"));
        if (directive && strcmp(directive, "replace") == 0) {
            /* The list is replaced by the other elements of the patch. */
            json_decref(out);
            out = json_array();
            size_t j;
            json_t *f;
            json_array_foreach((json_t *)patch, j, f)
            {
                if (!json_object_get(f, "$patch")) {
                    json_array_append(out, f);
                }
            }
            return out;
        }
        long at = smp_find(out, key, e);
        if (directive && strcmp(directive, "delete") == 0) {
            if (at >= 0) {
                json_array_remove(out, (size_t)at);
            }
            continue;
        }
        if (!json_object_get(e, key)) {
            snprintf(msg, TW_KFAKE_MSG,
                     "map: list element does not contain declared merge "
                     "key: %s",
                     key);
            json_decref(out);
            return NULL;
        }
        if (at >= 0) {
            json_t *merged = smp_map(json_array_get(out, (size_t)at), e, msg);
            if (!merged) {
                json_decref(out);
                return NULL;
            }
            json_array_set_new(out, (size_t)at, merged);
        } else {
            json_t *fresh = smp_map(NULL, e, msg);
            if (!fresh) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, fresh);
        }
    }
    return out;
}

static json_t *smp_map(const json_t *target, const json_t *patch, char *msg)
{
    const char *directive = json_string_value(json_object_get(patch, "$patch"));
    json_t *out;
    if (directive && strcmp(directive, "replace") == 0) {
        out = json_object();
    } else if (directive && strcmp(directive, "delete") == 0) {
        return json_object();
    } else if (directive && strcmp(directive, "merge") != 0) {
        snprintf(msg, TW_KFAKE_MSG, "Unknown patch type: %s", directive);
        return NULL;
    } else {
        out = json_is_object(target) ? json_deep_copy(target) : json_object();
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (strcmp(k, "$patch") == 0 || strcmp(k, "$retainKeys") == 0 ||
            strncmp(k, "$setElementOrder/", 17) == 0) {
            continue;
        }
        if (strncmp(k, "$deleteFromPrimitiveList/", 25) == 0) {
            json_t *list = json_object_get(out, k + 25);
            size_t i;
            json_t *e;
            for (i = json_array_size(list); i-- > 0;) {
                size_t j;
                json_array_foreach(v, j, e)
                {
                    if (json_equal(json_array_get(list, i), e)) {
                        json_array_remove(list, i);
                        break;
                    }
                }
            }
            continue;
        }
        if (json_is_null(v)) {
            json_object_del(out, k);
            continue;
        }
        json_t *cur = json_object_get(out, k);
        json_t *nv;
        if (json_is_object(v)) {
            const char *d = json_string_value(json_object_get(v, "$patch"));
            if (d && strcmp(d, "delete") == 0) {
                json_object_del(out, k);
                continue;
            }
            nv = smp_map(cur, v, msg);
        } else if (json_is_array(v)) {
            const char *key = smp_merge_key(k, cur, v);
            nv = key ? smp_list(cur, v, key, msg) : json_deep_copy(v);
        } else {
            nv = json_deep_copy(v);
        }
        if (!nv) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, k, nv);
    }
    json_t *retain = json_object_get(patch, "$retainKeys");
    if (json_is_array(retain)) {
        json_t *drop = json_array();
        const char *key;
        json_t *val;
        json_object_foreach(out, key, val)
        {
            bool keep = false;
            size_t i;
            json_t *e;
            json_array_foreach(retain, i, e)
            {
                keep = keep || (json_is_string(e) && strcmp(json_string_value(e), key) == 0);
            }
            if (!keep) {
                json_array_append_new(drop, json_string(key));
            }
        }
        size_t i;
        json_t *e;
        json_array_foreach(drop, i, e)
        {
            json_object_del(out, json_string_value(e));
        }
        json_decref(drop);
    }
    return out;
}

json_t *tw_kfake_patch_strategic(const json_t *target, const json_t *patch, char msg[TW_KFAKE_MSG])
{
    if (!json_is_object(patch)) {
        snprintf(msg, TW_KFAKE_MSG, "strategic merge patch must be a JSON object");
        return NULL;
    }
    return smp_map(target, patch, msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Selectors                                                                                 */

typedef enum { OP_EXISTS, OP_NOTEXISTS, OP_EQ, OP_NEQ, OP_IN, OP_NOTIN, OP_GT, OP_LT } sel_op_t;

typedef struct {
    char *key;
    sel_op_t op;
    char **values;
    size_t nvalues;
} sel_req_t;

struct tw_kfake_selector {
    bool field;
    sel_req_t *reqs;
    size_t n, cap;
};

void tw_kfake_selector_free(tw_kfake_selector_t *sel)
{
    if (!sel) {
        return;
    }
    for (size_t i = 0; i < sel->n; i++) {
        free(sel->reqs[i].key);
        for (size_t j = 0; j < sel->reqs[i].nvalues; j++) {
            free(sel->reqs[i].values[j]);
        }
        free(sel->reqs[i].values);
    }
    free(sel->reqs);
    free(sel);
}

static void skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t') {
        (*p)++;
    }
}

/* Reads a key or value token: stops at whitespace and the selector operators. */
static char *sel_token(const char **p)
{
    const char *s = *p;
    while (**p && !strchr(" \t,=!()<>", **p)) {
        (*p)++;
    }
    return tw_xstrndup(s, (size_t)(*p - s));
}

static void req_add_value(sel_req_t *r, char *v)
{
    r->values = tw_xrealloc(r->values, (r->nvalues + 1) * sizeof(*r->values));
    r->values[r->nvalues++] = v;
}

int tw_kfake_selector_parse(const char *s, bool field, tw_kfake_selector_t **out,
                            char msg[TW_KFAKE_MSG])
{
    tw_kfake_selector_t *sel = tw_xcalloc(1, sizeof(*sel));
    sel->field = field;
    const char *p = s ? s : "";
    skip_ws(&p);
    while (*p) {
        tw_grow((void **)&sel->reqs, &sel->cap, sel->n + 1, sizeof(*sel->reqs));
        sel_req_t *r = &sel->reqs[sel->n];
        memset(r, 0, sizeof(*r));
        sel->n++;
        bool neg = false;
        if (*p == '!' && !field) {
            neg = true;
            p++;
            skip_ws(&p);
        }
        r->key = sel_token(&p);
        if (!*r->key) {
            snprintf(msg, TW_KFAKE_MSG,
                     "unable to parse requirement: found '%c', expected: "
                     "identifier",
                     *p ? *p : ' ');
            goto fail;
        }
        skip_ws(&p);
        if (neg) {
            r->op = OP_NOTEXISTS;
        } else if (*p == '\0' || *p == ',') {
            r->op = OP_EXISTS;
            if (field) {
                snprintf(msg, TW_KFAKE_MSG, "invalid selector: '%s'; can't understand '%s'", s,
                         r->key);
                goto fail;
            }
        } else if (p[0] == '=' || p[0] == '!' || p[0] == '<' || p[0] == '>') {
            if (p[0] == '!' && p[1] == '=') {
                r->op = OP_NEQ;
                p += 2;
            } else if (p[0] == '=') {
                r->op = OP_EQ;
                p += p[1] == '=' ? 2 : 1;
            } else if (!field && (p[0] == '<' || p[0] == '>')) {
                r->op = p[0] == '<' ? OP_LT : OP_GT;
                p++;
            } else {
                snprintf(msg, TW_KFAKE_MSG,
                         "unable to parse requirement: found '%c', "
                         "expected: '=', '!=', '==', 'in', notin'",
                         *p);
                goto fail;
            }
            skip_ws(&p);
            char *v = sel_token(&p);
            if ((r->op == OP_LT || r->op == OP_GT) &&
                (!*v || strspn(v, "0123456789-") != strlen(v))) {
                snprintf(msg, TW_KFAKE_MSG,
                         "unable to parse requirement: for 'Gt', 'Lt' "
                         "operators, the value must be an integer");
                free(v);
                goto fail;
            }
            req_add_value(r, v);
        } else if (!field && (strncmp(p, "in", 2) == 0 || strncmp(p, "notin", 5) == 0)) {
            r->op = p[0] == 'i' ? OP_IN : OP_NOTIN;
            p += r->op == OP_IN ? 2 : 5;
            skip_ws(&p);
            if (*p != '(') {
                snprintf(msg, TW_KFAKE_MSG,
                         "unable to parse requirement: found '%c', "
                         "expected: '('",
                         *p ? *p : ' ');
                goto fail;
            }
            p++;
            for (;;) {
                skip_ws(&p);
                req_add_value(r, sel_token(&p));
                skip_ws(&p);
                if (*p == ',') {
                    p++;
                    continue;
                }
                if (*p == ')') {
                    p++;
                    break;
                }
                snprintf(msg, TW_KFAKE_MSG,
                         "unable to parse requirement: found '%c', "
                         "expected: ',' or ')'",
                         *p ? *p : ' ');
                goto fail;
            }
        } else {
            snprintf(msg, TW_KFAKE_MSG,
                     "unable to parse requirement: found '%c', expected: "
                     "'=', '!=', '==', 'in', notin'",
                     *p);
            goto fail;
        }
        skip_ws(&p);
        if (*p == ',') {
            p++;
            skip_ws(&p);
            if (!*p) {
                snprintf(msg, TW_KFAKE_MSG,
                         "unable to parse requirement: found '', expected: "
                         "identifier after ','");
                goto fail;
            }
        } else if (*p) {
            snprintf(msg, TW_KFAKE_MSG, "unable to parse requirement: found '%c', expected: ','",
                     *p);
            goto fail;
        }
    }
    *out = sel;
    return 0;
fail:
    tw_kfake_selector_free(sel);
    return -1;
}

/* The string form of the value at a dotted path of obj, for field selectors ("" if absent). */
static const char *field_value(const json_t *obj, const char *path, char *tmp, size_t tmpsz)
{
    const json_t *cur = obj;
    const char *p = path;
    char seg[128];
    while (*p && cur) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(seg, sizeof(seg), "%.*s", (int)n, p);
        cur = json_object_get(cur, seg);
        p = dot ? dot + 1 : p + n;
    }
    if (json_is_string(cur)) {
        return json_string_value(cur);
    }
    if (json_is_integer(cur)) {
        snprintf(tmp, tmpsz, "%lld", (long long)json_integer_value(cur));
        return tmp;
    }
    if (json_is_boolean(cur)) {
        return json_is_true(cur) ? "true" : "false";
    }
    return "";
}

bool tw_kfake_selector_match(const tw_kfake_selector_t *sel, const json_t *obj)
{
    if (!sel) {
        return true;
    }
    const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    for (size_t i = 0; i < sel->n; i++) {
        const sel_req_t *r = &sel->reqs[i];
        const char *have;
        char tmp[32];
        if (sel->field) {
            have = field_value(obj, r->key, tmp, sizeof(tmp));
        } else {
            have = json_string_value(json_object_get(labels, r->key));
        }
        bool ok;
        switch (r->op) {
        case OP_EXISTS:
            ok = have != NULL;
            break;
        case OP_NOTEXISTS:
            ok = have == NULL;
            break;
        case OP_EQ:
            ok = have && strcmp(have, r->values[0]) == 0;
            break;
        case OP_NEQ:
            ok = !have || strcmp(have, r->values[0]) != 0;
            break;
        case OP_IN:
        case OP_NOTIN: {
            bool found = false;
            for (size_t j = 0; have && j < r->nvalues; j++) {
                found = found || strcmp(have, r->values[j]) == 0;
            }
            ok = r->op == OP_IN ? found : !found;
            break;
        }
        case OP_GT:
        case OP_LT: {
            char *end = NULL;
            long long hv = have ? strtoll(have, &end, 10) : 0;
            long long want = strtoll(r->values[0], NULL, 10);
            ok = have && *have && end && !*end && (r->op == OP_GT ? hv > want : hv < want);
            break;
        }
        default:
            ok = false;
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A requirement string with its key, for sorting the formatted selector by key. */
typedef struct {
    const char *key;
    char *text;
} sel_part_t;

static int cmp_part(const void *a, const void *b)
{
    return strcmp(((const sel_part_t *)a)->key, ((const sel_part_t *)b)->key);
}

char *tw_kfake_selector_format(const json_t *ls)
{
    sel_part_t *parts = NULL;
    size_t n = 0, cap = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(ls, "matchLabels"), k, v)
    {
        tw_grow((void **)&parts, &cap, n + 1, sizeof(*parts));
        size_t sz = strlen(k) + strlen(json_string_value(v) ? json_string_value(v) : "") + 2;
        parts[n].key = k;
        parts[n].text = tw_xmalloc(sz);
        snprintf(parts[n].text, sz, "%s=%s", k, json_string_value(v) ? json_string_value(v) : "");
        n++;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(ls, "matchExpressions"), i, e)
    {
        const char *key = json_string_value(json_object_get(e, "key"));
        const char *op = json_string_value(json_object_get(e, "operator"));
        json_t *vals = json_object_get(e, "values");
        if (!key || !op) {
            continue;
        }
        size_t nv = json_array_size(vals);
        const char **sorted = tw_xcalloc(nv + 1, sizeof(*sorted));
        size_t total = strlen(key) + 16;
        for (size_t j = 0; j < nv; j++) {
            sorted[j] = json_string_value(json_array_get(vals, j));
            sorted[j] = sorted[j] ? sorted[j] : "";
            total += strlen(sorted[j]) + 1;
        }
        qsort(sorted, nv, sizeof(*sorted), cmp_str);
        char *text = tw_xmalloc(total);
        size_t off = 0;
        if (strcmp(op, "Exists") == 0) {
            off = (size_t)snprintf(text, total, "%s", key);
        } else if (strcmp(op, "DoesNotExist") == 0) {
            off = (size_t)snprintf(text, total, "!%s", key);
        } else {
            off = (size_t)snprintf(text, total, "%s %s (", key,
                                   strcmp(op, "NotIn") == 0 ? "notin" : "in");
            for (size_t j = 0; j < nv; j++) {
                off += (size_t)snprintf(text + off, total - off, "%s%s", j ? "," : "", sorted[j]);
            }
            snprintf(text + off, total - off, ")");
        }
        free(sorted);
        tw_grow((void **)&parts, &cap, n + 1, sizeof(*parts));
        parts[n].key = key;
        parts[n].text = text;
        n++;
    }
    if (n > 1) {
        qsort(parts, n, sizeof(*parts), cmp_part);
    }
    size_t total = 1;
    for (size_t j = 0; j < n; j++) {
        total += strlen(parts[j].text) + 1;
    }
    char *out = tw_xmalloc(total);
    size_t off = 0;
    out[0] = '\0';
    for (size_t j = 0; j < n; j++) {
        off += (size_t)snprintf(out + off, total - off, "%s%s", j ? "," : "", parts[j].text);
        free(parts[j].text);
    }
    free(parts);
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Seed reader                                                                               */

/* Converts a plain YAML scalar to its core-schema JSON value. */
static json_t *yaml_plain_scalar(const char *s, size_t len)
{
    if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0) {
        return json_null();
    }
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
        return json_true();
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
        return json_false();
    }
    char *end = NULL;
    errno = 0;
    long long iv = strtoll(s, &end, 10);
    if (end && !*end && !errno && isdigit((unsigned char)s[len - 1]) &&
        strspn(s, "+-0123456789") == len) {
        return json_integer(iv);
    }
    double dv = strtod(s, &end);
    if (end && !*end && strspn(s, "+-.0123456789eE") == len && strpbrk(s, "0123456789")) {
        return json_real(dv);
    }
    return json_stringn(s, len);
}

/* One open collection while building a document. */
typedef struct {
    json_t *node;
    char *key; /* mapping: the key waiting for its value (NULL: next scalar is a key) */
} ystack_t;

typedef struct {
    char *name;
    json_t *value;
} yanchor_t;

/* Puts v (reference stolen) into the open collection, or makes it the document root. */
static void yaml_attach(ystack_t *st, size_t depth, json_t **root, json_t *v)
{
    if (depth == 0) {
        json_decref(*root);
        *root = v;
        return;
    }
    ystack_t *top = &st[depth - 1];
    if (json_is_array(top->node)) {
        json_array_append_new(top->node, v);
    } else {
        json_object_set_new(top->node, top->key ? top->key : "", v);
        free(top->key);
        top->key = NULL;
    }
}

static void yaml_add_doc(json_t *docs, json_t *doc)
{
    if (!json_is_object(doc)) {
        return;
    }
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    json_t *items = json_object_get(doc, "items");
    if (kind && strcmp(kind, "List") == 0 && json_is_array(items)) {
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e)
        {
            json_array_append(docs, e);
        }
        return;
    }
    json_array_append(docs, doc);
}

int tw_kfake_yaml_load(const char *path, json_t *docs, char msg[TW_KFAKE_MSG])
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, TW_KFAKE_MSG, "%s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    ystack_t st[64];
    size_t depth = 0;
    yanchor_t *anchors = NULL;
    size_t nanchors = 0, capanchors = 0;
    json_t *root = NULL;
    int rc = -1;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            snprintf(msg, TW_KFAKE_MSG, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                     parser.problem_mark.column + 1, parser.problem ? parser.problem : "error");
            goto out;
        }
        yaml_event_type_t type = ev.type;
        json_t *v = NULL;
        const char *anchor = NULL;
        switch (type) {
        case YAML_SCALAR_EVENT: {
            const char *s = (const char *)ev.data.scalar.value;
            size_t len = ev.data.scalar.length;
            anchor = (const char *)ev.data.scalar.anchor;
            if (depth > 0 && json_is_object(st[depth - 1].node) && !st[depth - 1].key) {
                st[depth - 1].key = tw_xstrndup(s, len);
                break;
            }
            v = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? yaml_plain_scalar(s, len)
                                                                : json_stringn(s, len);
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == sizeof(st) / sizeof(st[0])) {
                snprintf(msg, TW_KFAKE_MSG, "%s:%zu: nesting too deep", path,
                         ev.start_mark.line + 1);
                yaml_event_delete(&ev);
                goto out;
            }
            if (depth > 0 && json_is_object(st[depth - 1].node) && !st[depth - 1].key) {
                snprintf(msg, TW_KFAKE_MSG, "%s:%zu: complex mapping keys are not supported", path,
                         ev.start_mark.line + 1);
                yaml_event_delete(&ev);
                goto out;
            }
            anchor = type == YAML_SEQUENCE_START_EVENT ? (const char *)ev.data.sequence_start.anchor
                                                       : (const char *)ev.data.mapping_start.anchor;
            st[depth].node = type == YAML_SEQUENCE_START_EVENT ? json_array() : json_object();
            st[depth].key = NULL;
            if (anchor) {
                tw_grow((void **)&anchors, &capanchors, nanchors + 1, sizeof(*anchors));
                anchors[nanchors].name = tw_xstrdup(anchor);
                anchors[nanchors].value = json_incref(st[depth].node);
                nanchors++;
                anchor = NULL;
            }
            depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            free(st[depth].key);
            v = st[depth].node;
            break;
        case YAML_ALIAS_EVENT:
            for (size_t i = 0; i < nanchors; i++) {
                if (strcmp(anchors[i].name, (const char *)ev.data.alias.anchor) == 0) {
                    v = json_deep_copy(anchors[i].value);
                }
            }
            if (!v) {
                snprintf(msg, TW_KFAKE_MSG, "%s:%zu: unknown alias", path, ev.start_mark.line + 1);
                yaml_event_delete(&ev);
                goto out;
            }
            if (depth > 0 && json_is_object(st[depth - 1].node) && !st[depth - 1].key) {
                st[depth - 1].key = tw_xstrdup(json_string_value(v) ? json_string_value(v) : "");
                json_decref(v);
                v = NULL;
            }
            break;
        case YAML_DOCUMENT_END_EVENT:
            yaml_add_doc(docs, root);
            json_decref(root);
            root = NULL;
            break;
        default:
            break;
        }
        if (v) {
            if (anchor) {
                tw_grow((void **)&anchors, &capanchors, nanchors + 1, sizeof(*anchors));
                anchors[nanchors].name = tw_xstrdup(anchor);
                anchors[nanchors].value = json_incref(v);
                nanchors++;
            }
            yaml_attach(st, depth, &root, v);
        }
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT) {
            break;
        }
    }
    rc = 0;
out:
    while (depth > 0) {
        depth--;
        free(st[depth].key);
        json_decref(st[depth].node);
    }
    for (size_t i = 0; i < nanchors; i++) {
        free(anchors[i].name);
        json_decref(anchors[i].value);
    }
    free(anchors);
    json_decref(root);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */

void tw_kfake_human_duration(long long seconds, char *out, size_t outsz)
{
    if (seconds < -1) {
        snprintf(out, outsz, "<invalid>");
        return;
    }
    if (seconds < 0) {
        seconds = 0;
    }
    long long minutes = seconds / 60, hours = seconds / 3600, days = hours / 24;
    if (seconds < 120) {
        snprintf(out, outsz, "%llds", seconds);
    } else if (minutes < 10) {
        if (seconds % 60) {
            snprintf(out, outsz, "%lldm%llds", minutes, seconds % 60);
        } else {
            snprintf(out, outsz, "%lldm", minutes);
        }
    } else if (minutes < 180) {
        snprintf(out, outsz, "%lldm", minutes);
    } else if (hours < 8) {
        if (minutes % 60) {
            snprintf(out, outsz, "%lldh%lldm", hours, minutes % 60);
        } else {
            snprintf(out, outsz, "%lldh", hours);
        }
    } else if (hours < 48) {
        snprintf(out, outsz, "%lldh", hours);
    } else if (hours < 24 * 8) {
        if (hours % 24) {
            snprintf(out, outsz, "%lldd%lldh", days, hours % 24);
        } else {
            snprintf(out, outsz, "%lldd", days);
        }
    } else if (hours < 24 * 365 * 2) {
        snprintf(out, outsz, "%lldd", days);
    } else if (hours < 24 * 365 * 8) {
        if (days % 365) {
            snprintf(out, outsz, "%lldy%lldd", days / 365, days % 365);
        } else {
            snprintf(out, outsz, "%lldy", days / 365);
        }
    } else {
        snprintf(out, outsz, "%lldy", days / 365);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* base64                                                                                    */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

unsigned char *tw_kfake_base64_decode(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    if (n % 4 != 0) {
        return NULL;
    }
    unsigned char *out = tw_xmalloc(n / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad > 0 || (v[k] = b64_value((unsigned char)s[i + k])) < 0) {
                free(out);
                return NULL;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (unsigned char)(w >> 16);
        if (pad < 2) {
            out[o++] = (unsigned char)(w >> 8);
        }
        if (pad < 1) {
            out[o++] = (unsigned char)w;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}
