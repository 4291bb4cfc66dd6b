/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scalers_template.c - the metric_queries template expander and the Kubernetes label selector
 * to PromQL matcher conversion (what prometheus-adapter's metricsQuery.Build does with its
 * `<<.LabelMatchers>>`), plus the escaping both need.
 *
 * How it works: a template is literal text with `{{.Name}}` placeholders (blanks allowed inside
 * the braces). The expander copies the text up to each `{{`, looks the placeholder up and
 * appends its value escaped for the place it goes: inside a PromQL double-quoted string, and for
 * {{.PodSelector}} inside a regex in such a string. So a pod or namespace name cannot end the
 * string and inject PromQL. A selector is lexed like labels.Parse (identifiers are runs of bytes
 * that are neither blanks nor one of `!=,()<>`), its requirements sorted by key and each set's
 * values sorted, then printed as matchers.
 *
 * Pure; no shared state.
 */
#include "scalers_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/labels.h"
#include "common/mem.h"

int tw_scalers_put_escaped(tw_buf_t *out, const char *s, size_t len)
{
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\\':
            rc = tw_buf_puts(out, "\\\\");
            break;
        case '"':
            rc = tw_buf_puts(out, "\\\"");
            break;
        case '\n':
            rc = tw_buf_puts(out, "\\n");
            break;
        case '\r':
            rc = tw_buf_puts(out, "\\r");
            break;
        case '\t':
            rc = tw_buf_puts(out, "\\t");
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                rc = tw_buf_printf(out, "\\x%02x", c);
            } else {
                rc = tw_buf_putc(out, (char)c);
            }
            break;
        }
    }
    return rc;
}

int tw_scalers_put_regex_escaped(tw_buf_t *out, const char *s)
{
    int rc = 0;
    for (const char *p = s; *p != '\0' && rc == 0; p++) {
        if (strchr("\\.+*?()|[]{}^$", *p) != NULL) {
            /* the regex's backslash, itself escaped for the string literal */
            rc = tw_buf_puts(out, "\\\\");
        }
        if (rc == 0) {
            rc = tw_scalers_put_escaped(out, p, 1);
        }
    }
    return rc;
}

int tw_scalers_put_pod_regex(tw_buf_t *out, const char *const *names, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0) {
            rc = tw_buf_putc(out, '|');
        }
        if (rc == 0) {
            rc = tw_scalers_put_regex_escaped(out, names[i] != NULL ? names[i] : "");
        }
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Label selectors                                                                            */
/* ------------------------------------------------------------------------------------------ */

typedef enum { OP_EQ, OP_NEQ, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOT_EXISTS } sel_op_t;

/* A view into the selector text. */
typedef struct span {
    const char *p;
    size_t len;
} span_t;

typedef struct requirement {
    span_t key;
    sel_op_t op;
    span_t *values; /* owned */
    size_t n_values;
    size_t order; /* position in the text: keeps the sort stable */
} requirement_t;

typedef struct lexer {
    const char *s;
    size_t len;
    size_t pos;
} lexer_t;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_special(char c)
{
    return c == '!' || c == '=' || c == ',' || c == '(' || c == ')' || c == '<' || c == '>';
}

static void skip_blanks(lexer_t *lx)
{
    while (lx->pos < lx->len && is_blank(lx->s[lx->pos])) {
        lx->pos++;
    }
}

/* The next identifier (possibly empty when a special byte or the end follows). */
static span_t lex_ident(lexer_t *lx)
{
    skip_blanks(lx);
    span_t sp = {lx->s + lx->pos, 0};
    while (lx->pos < lx->len && !is_blank(lx->s[lx->pos]) && !is_special(lx->s[lx->pos])) {
        lx->pos++;
        sp.len++;
    }
    return sp;
}

/* Whether the next non-blank byte is c (consumed when it is). */
static bool lex_accept(lexer_t *lx, char c)
{
    skip_blanks(lx);
    if (lx->pos < lx->len && lx->s[lx->pos] == c) {
        lx->pos++;
        return true;
    }
    return false;
}

static bool span_is(span_t sp, const char *word)
{
    return sp.len == strlen(word) && memcmp(sp.p, word, sp.len) == 0;
}

static int span_cmp(const span_t *a, const span_t *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->p, b->p, n);
    if (c != 0) {
        return c;
    }
    return a->len < b->len ? -1 : (a->len > b->len ? 1 : 0);
}

static int value_cmp(const void *a, const void *b)
{
    return span_cmp(a, b);
}

static int req_cmp(const void *a, const void *b)
{
    const requirement_t *x = a, *y = b;
    int c = span_cmp(&x->key, &y->key);
    if (c != 0) {
        return c;
    }
    return x->order < y->order ? -1 : (x->order > y->order ? 1 : 0);
}

static int check_key(span_t key, size_t at, tw_error_t *err)
{
    char name[128];
    if (key.len == 0) {
        return tw_error_set(err, TW_EINVAL, "label selector: expected a label key at offset %zu",
                            at);
    }
    if (key.len >= sizeof(name)) {
        return tw_error_set(err, TW_EINVAL,
                            "label selector: key at offset %zu is longer than %zu bytes", at,
                            sizeof(name) - 1);
    }
    memcpy(name, key.p, key.len);
    name[key.len] = '\0';
    if (!tw_label_name_valid(name)) {
        return tw_error_set(err, TW_EINVAL,
                            "label selector: key \"%s\" is not a valid Prometheus label name",
                            name);
    }
    return 0;
}

/* Parses "(v1, v2, ...)" after in/notin into r's values. */
static int parse_set(lexer_t *lx, requirement_t *r, tw_error_t *err)
{
    if (!lex_accept(lx, '(')) {
        return tw_error_set(err, TW_EINVAL, "label selector: expected '(' at offset %zu", lx->pos);
    }
    size_t cap = 0;
    skip_blanks(lx);
    if (lex_accept(lx, ')')) {
        return tw_error_set(err, TW_EINVAL,
                            "label selector: for 'in', 'notin' operators, values set can't be "
                            "empty");
    }
    for (;;) {
        span_t v = lex_ident(lx);
        tw_grow((void **)&r->values, &cap, r->n_values + 1, sizeof(*r->values));
        r->values[r->n_values++] = v;
        if (lex_accept(lx, ',')) {
            continue;
        }
        if (lex_accept(lx, ')')) {
            break;
        }
        return tw_error_set(err, TW_EINVAL, "label selector: expected ',' or ')' at offset %zu",
                            lx->pos);
    }
    qsort(r->values, r->n_values, sizeof(*r->values), value_cmp);
    size_t k = 0; /* a set: drop repeated values */
    for (size_t i = 0; i < r->n_values; i++) {
        if (k == 0 || span_cmp(&r->values[k - 1], &r->values[i]) != 0) {
            r->values[k++] = r->values[i];
        }
    }
    r->n_values = k;
    return 0;
}

/* Parses one requirement at the lexer's position. */
static int parse_requirement(lexer_t *lx, requirement_t *r, tw_error_t *err)
{
    skip_blanks(lx);
    size_t at = lx->pos;
    if (lex_accept(lx, '!')) {
        r->key = lex_ident(lx);
        r->op = OP_NOT_EXISTS;
        return check_key(r->key, at, err);
    }
    r->key = lex_ident(lx);
    int rc = check_key(r->key, at, err);
    if (rc != 0) {
        return rc;
    }
    skip_blanks(lx);
    if (lx->pos >= lx->len || lx->s[lx->pos] == ',') {
        r->op = OP_EXISTS;
        return 0;
    }
    char c = lx->s[lx->pos];
    if (c == '<' || c == '>') {
        return tw_error_set(err, TW_EINVAL,
                            "label selector: operator not supported by query "
                            "builder at offset %zu",
                            lx->pos);
    }
    if (c == '=' || c == '!') {
        lx->pos++;
        if (c == '!' && !lex_accept(lx, '=')) {
            return tw_error_set(err, TW_EINVAL, "label selector: expected '=' at offset %zu",
                                lx->pos);
        }
        if (c == '=') {
            (void)lex_accept(lx, '='); /* "==" is "=" */
        }
        r->op = c == '=' ? OP_EQ : OP_NEQ;
        r->values = tw_xcalloc(1, sizeof(*r->values));
        r->values[0] = lex_ident(lx);
        r->n_values = 1;
        return 0;
    }
    span_t word = lex_ident(lx);
    if (span_is(word, "in") || span_is(word, "notin")) {
        r->op = span_is(word, "in") ? OP_IN : OP_NOTIN;
        return parse_set(lx, r, err);
    }
    return tw_error_set(err, TW_EINVAL,
                        "label selector: expected one of '=', '==', '!=', 'in', 'notin' at "
                        "offset %zu",
                        lx->pos - word.len);
}

static int put_values(tw_buf_t *out, const requirement_t *r)
{
    int rc = tw_buf_putc(out, '"');
    for (size_t i = 0; i < r->n_values && rc == 0; i++) {
        if (i > 0) {
            rc = tw_buf_putc(out, '|');
        }
        if (rc == 0) {
            rc = tw_scalers_put_escaped(out, r->values[i].p, r->values[i].len);
        }
    }
    return rc != 0 ? rc : tw_buf_putc(out, '"');
}

int tw_scalers_selector_to_matchers(const char *selector, size_t len, tw_buf_t *out,
                                    tw_error_t *err)
{
    lexer_t lx = {selector != NULL ? selector : "", selector != NULL ? len : 0, 0};
    requirement_t *reqs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    skip_blanks(&lx);
    while (lx.pos < lx.len) {
        tw_grow((void **)&reqs, &cap, n + 1, sizeof(*reqs));
        memset(&reqs[n], 0, sizeof(reqs[n]));
        reqs[n].order = n;
        n++;
        rc = parse_requirement(&lx, &reqs[n - 1], err);
        if (rc != 0) {
            goto out;
        }
        skip_blanks(&lx);
        if (lx.pos >= lx.len) {
            break;
        }
        if (!lex_accept(&lx, ',')) {
            rc = tw_error_set(err, TW_EINVAL, "label selector: expected ',' at offset %zu", lx.pos);
            goto out;
        }
        skip_blanks(&lx);
        if (lx.pos >= lx.len) {
            rc = tw_error_set(err, TW_EINVAL,
                              "label selector: expected a requirement after ',' at offset %zu",
                              lx.pos);
            goto out;
        }
    }
    if (n > 1) {
        qsort(reqs, n, sizeof(*reqs), req_cmp);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const requirement_t *r = &reqs[i];
        if (i > 0) {
            rc = tw_buf_putc(out, ',');
        }
        if (rc == 0) {
            rc = tw_buf_append(out, r->key.p, r->key.len);
        }
        if (rc != 0) {
            break;
        }
        switch (r->op) {
        case OP_EQ:
            rc = tw_buf_putc(out, '=');
            break;
        case OP_NEQ:
            rc = tw_buf_puts(out, "!=");
            break;
        case OP_IN:
            rc = tw_buf_puts(out, "=~");
            break;
        case OP_NOTIN:
            rc = tw_buf_puts(out, "!~");
            break;
        case OP_EXISTS:
            rc = tw_buf_puts(out, "!=\"\"");
            continue;
        case OP_NOT_EXISTS:
            rc = tw_buf_puts(out, "=\"\"");
            continue;
        }
        if (rc == 0) {
            rc = put_values(out, r);
        }
    }
    if (rc == TW_ELIMIT) {
        tw_error_set(err, rc, "label selector: expansion longer than %zu bytes", out->max);
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(reqs[i].values);
    }
    free(reqs);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Templates                                                                                  */
/* ------------------------------------------------------------------------------------------ */

typedef enum {
    PH_NAMESPACE = 0,
    PH_POD_SELECTOR,
    PH_OBJECT_NAME,
    PH_OBJECT_KIND,
    PH_LABEL_SELECTOR,
    PH_COUNT_,
} placeholder_t;

static const char *const ph_names[PH_COUNT_] = {".Namespace", ".PodSelector", ".ObjectName",
                                                ".ObjectKind", ".LabelSelector"};

/*
 * Reads the placeholder whose `{{` is at tmpl[at]. Returns 0 with *ph and *end (the offset after
 * `}}`) set, or TW_EINVAL.
 */
static int read_placeholder(const char *tmpl, size_t len, size_t at, placeholder_t *ph, size_t *end,
                            tw_error_t *err)
{
    size_t close = SIZE_MAX;
    for (size_t i = at + 2; i + 1 < len; i++) {
        if (tmpl[i] == '}' && tmpl[i + 1] == '}') {
            close = i;
            break;
        }
    }
    if (close == SIZE_MAX) {
        return tw_error_set(err, TW_EINVAL, "unclosed placeholder at offset %zu: missing \"}}\"",
                            at);
    }
    size_t b = at + 2, e = close;
    while (b < e && (tmpl[b] == ' ' || tmpl[b] == '\t')) {
        b++;
    }
    while (e > b && (tmpl[e - 1] == ' ' || tmpl[e - 1] == '\t')) {
        e--;
    }
    for (int k = 0; k < PH_COUNT_; k++) {
        if (e - b == strlen(ph_names[k]) && memcmp(tmpl + b, ph_names[k], e - b) == 0) {
            *ph = (placeholder_t)k;
            *end = close + 2;
            return 0;
        }
    }
    int shown = (int)(close + 2 - at > 64 ? 64 : close + 2 - at);
    return tw_error_set(err, TW_EINVAL,
                        "unknown placeholder \"%.*s\" at offset %zu; expected one of "
                        "{{.Namespace}}, {{.PodSelector}}, {{.ObjectName}}, {{.ObjectKind}}, "
                        "{{.LabelSelector}}",
                        shown, tmpl + at, at);
}

/* Walks the template; with out == NULL it only checks. */
static int walk(const char *tmpl, size_t len, const tw_scalers_vars_t *v, tw_buf_t *out,
                tw_error_t *err)
{
    bool blank = true;
    size_t i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        if (i + 1 < len && tmpl[i] == '{' && tmpl[i + 1] == '{') {
            placeholder_t ph = PH_NAMESPACE;
            size_t end = len;
            rc = read_placeholder(tmpl, len, i, &ph, &end, err);
            if (rc != 0) {
                return rc;
            }
            blank = false;
            i = end;
            if (out == NULL) {
                continue;
            }
            const char *s = NULL;
            switch (ph) {
            case PH_NAMESPACE:
                s = v->namespace;
                break;
            case PH_OBJECT_NAME:
                s = v->object_name;
                break;
            case PH_OBJECT_KIND:
                s = v->object_kind;
                break;
            case PH_POD_SELECTOR:
                rc = tw_scalers_put_pod_regex(out, v->pod_names, v->n_pods);
                continue;
            case PH_LABEL_SELECTOR:
                if (v->label_selector != NULL) {
                    rc = tw_scalers_selector_to_matchers(v->label_selector,
                                                         strlen(v->label_selector), out, err);
                    if (rc != 0 && rc != TW_ELIMIT) {
                        return rc;
                    }
                }
                continue;
            case PH_COUNT_:
                break;
            }
            if (s != NULL) {
                rc = tw_scalers_put_escaped(out, s, strlen(s));
            }
            continue;
        }
        size_t j = i;
        while (j < len && !(j + 1 < len && tmpl[j] == '{' && tmpl[j + 1] == '{')) {
            if (!is_blank(tmpl[j])) {
                blank = false;
            }
            j++;
        }
        if (out != NULL) {
            rc = tw_buf_append(out, tmpl + i, j - i);
        }
        i = j;
    }
    if (rc == TW_ELIMIT) {
        return tw_error_set(err, rc, "query longer than %zu bytes after expansion", out->max);
    }
    if (rc == 0 && blank) {
        return tw_error_set(err, TW_EINVAL, "empty query template");
    }
    return rc;
}

int tw_scalers_template_check(const char *tmpl, size_t len, tw_error_t *err)
{
    if (tmpl == NULL) {
        return tw_error_set(err, TW_EINVAL, "empty query template");
    }
    /* the expansion becomes a C string: an embedded NUL would cut the query short */
    if (memchr(tmpl, '\0', len) != NULL) {
        return tw_error_set(err, TW_EINVAL, "query template contains a NUL byte");
    }
    return walk(tmpl, len, NULL, NULL, err);
}

int tw_scalers_template_expand(const char *tmpl, size_t len, const tw_scalers_vars_t *vars,
                               tw_buf_t *out, tw_error_t *err)
{
    static const tw_scalers_vars_t none;
    if (tmpl == NULL) {
        return tw_error_set(err, TW_EINVAL, "empty query template");
    }
    if (memchr(tmpl, '\0', len) != NULL) {
        return tw_error_set(err, TW_EINVAL, "query template contains a NUL byte");
    }
    return walk(tmpl, len, vars != NULL ? vars : &none, out, err);
}
