/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tmpl_parse.c - the template parser, a port of Go's text/template/parse/parse.go (Go 1.20):
 * a recursive-descent parser with Go's three-token look-ahead, its variable scoping, function
 * check ("function %q not defined") and messages ("template: <name>:<line>: unexpected ..."),
 * building the tree of rules_int.h in the template's arena. {{define}} and {{block}} add named
 * trees to the set, as Go's treeSet. Errors unwind with longjmp (rules_int.h explains why that
 * is safe). Pure: no I/O, no global state.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_int.h"

typedef struct parser {
    tw_tmpl_t *set;
    lexer_t lex;
    item_t token[3];
    int peek_count;
    const char **vars; /* variables in scope */
    size_t nvars;
    size_t capvars;
    int action_line;
    int range_depth;
    int nesting;
    int code;
    tw_error_t *err;
    jmp_buf jb;
} parser_t;

static _Noreturn void perrorf(parser_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static _Noreturn void perrorf(parser_t *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tw_error_set(p->err, p->code ? p->code : TW_EPARSE, "template: %s:%d: %s", p->set->name,
                 p->token[0].line, msg);
    if (p->err != NULL) {
        p->err->line = p->token[0].line;
    }
    if (p->code == 0) {
        p->code = TW_EPARSE;
    }
    longjmp(p->jb, 1);
}

/* ---- tokens ---- */

static item_t next(parser_t *p)
{
    if (p->peek_count > 0) {
        p->peek_count--;
    } else {
        p->token[0] = tmpl_lex_next(&p->lex);
    }
    return p->token[p->peek_count];
}

static void backup(parser_t *p)
{
    p->peek_count++;
}

static void backup2(parser_t *p, item_t t1)
{
    p->token[1] = t1;
    p->peek_count = 2;
}

static void backup3(parser_t *p, item_t t2, item_t t1)
{
    p->token[1] = t1;
    p->token[2] = t2;
    p->peek_count = 3;
}

static item_t peek(parser_t *p)
{
    if (p->peek_count > 0) {
        return p->token[p->peek_count - 1];
    }
    p->peek_count = 1;
    p->token[0] = tmpl_lex_next(&p->lex);
    return p->token[0];
}

static item_t next_non_space(parser_t *p)
{
    item_t t;
    do {
        t = next(p);
    } while (t.typ == IT_SPACE);
    return t;
}

static item_t peek_non_space(parser_t *p)
{
    item_t t = next_non_space(p);
    backup(p);
    return t;
}

static _Noreturn void unexpected(parser_t *p, const item_t *tok, const char *context)
{
    tw_buf_t b;
    tw_buf_init(&b, 300);
    tmpl_item_string(&b, tok);
    char s[320];
    snprintf(s, sizeof(s), "%s", b.data ? b.data : "");
    tw_buf_fini(&b);
    if (tok->typ == IT_ERROR) {
        char extra[300] = "";
        if (p->action_line != 0 && p->action_line != tok->line) {
            const char *lead = " in action";
            size_t n = strlen(tok->val);
            if (n >= 7 && strcmp(tok->val + n - 7, " action") == 0) {
                lead = "";
            }
            snprintf(extra, sizeof(extra), "%s started at %s:%d", lead, p->set->name,
                     p->action_line);
        }
        perrorf(p, "%s%s", s, extra);
    }
    perrorf(p, "unexpected %s in %s", s, context);
}

static item_t expect(parser_t *p, item_type_t t, const char *context)
{
    item_t tok = next_non_space(p);
    if (tok.typ != t) {
        unexpected(p, &tok, context);
    }
    return tok;
}

/* ---- nodes ---- */

static tnode_t *new_node(parser_t *p, node_type_t type, size_t pos)
{
    tnode_t *n = tw_arena_calloc(p->set->arena, sizeof(*n));
    n->type = type;
    n->pos = pos;
    n->line = tmpl_line_at(&p->lex, pos);
    return n;
}

static void grow_append(tw_arena_t *a, tnode_t ***arr, size_t *n, size_t *cap, tnode_t *x)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        tnode_t **na = tw_arena_alloc(a, nc * sizeof(*na));
        if (*n > 0) {
            memcpy(na, *arr, *n * sizeof(*na));
        }
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = x;
}

static void append_kid(parser_t *p, tnode_t *parent, tnode_t *kid)
{
    grow_append(p->set->arena, &parent->kids, &parent->nkids, &parent->capkids, kid);
}

static void push_var(parser_t *p, const char *name)
{
    if (p->nvars == p->capvars) {
        size_t nc = p->capvars ? p->capvars * 2 : 8;
        const char **nv = tw_arena_alloc(p->set->arena, nc * sizeof(*nv));
        if (p->nvars > 0) {
            memcpy(nv, p->vars, p->nvars * sizeof(*nv));
        }
        p->vars = nv;
        p->capvars = nc;
    }
    p->vars[p->nvars++] = name;
}

static char *dup_item(parser_t *p, const item_t *t)
{
    return tw_arena_strndup(p->set->arena, t->val, t->len);
}

/* A variable or field chain "$x.a.b" / ".a.b" split at the dots (the leading '.' dropped). */
static void split_ident(parser_t *p, tnode_t *n, const char *s, size_t len, bool field)
{
    size_t count = 1;
    for (size_t i = 1; i < len; i++) {
        count += s[i] == '.';
    }
    n->ident = tw_arena_alloc(p->set->arena, count * sizeof(char *));
    n->nident = 0;
    size_t i = field ? 1 : 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != '.') {
            j++;
        }
        n->ident[n->nident++] = tw_arena_strndup(p->set->arena, s + i, j - i);
        i = j + 1;
    }
}

static tnode_t *new_variable(parser_t *p, const item_t *t)
{
    tnode_t *n = new_node(p, N_VAR, t->pos);
    split_ident(p, n, t->val, t->len, false);
    return n;
}

/* ---- literals: Go's strconv rules ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static void put_rune(tw_buf_t *b, uint32_t r)
{
    char u[4];
    if (r < 0x80) {
        tw_buf_putc(b, (char)r);
        return;
    }
    if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) {
        r = 0xFFFD;
    }
    if (r < 0x800) {
        u[0] = (char)(0xC0 | (r >> 6));
        u[1] = (char)(0x80 | (r & 0x3F));
        tw_buf_append(b, u, 2);
    } else if (r < 0x10000) {
        u[0] = (char)(0xE0 | (r >> 12));
        u[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        u[2] = (char)(0x80 | (r & 0x3F));
        tw_buf_append(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (r >> 18));
        u[1] = (char)(0x80 | ((r >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((r >> 6) & 0x3F));
        u[3] = (char)(0x80 | (r & 0x3F));
        tw_buf_append(b, u, 4);
    }
}

/*
 * strconv.UnquoteChar: decodes one character or escape at s[*i] for a literal quoted with
 * quote. Returns false on a syntax error. *r is the rune, *is_byte tells \x / octal bytes.
 */
static bool unquote_char(const char *s, size_t n, size_t *i, int quote, uint32_t *r, bool *is_byte)
{
    *is_byte = false;
    unsigned char c = (unsigned char)s[*i];
    if (c == quote && (quote == '\'' || quote == '"')) {
        return false;
    }
    if (c >= 0x80) {
        /* a UTF-8 sequence: copied as is by the caller */
        *r = c;
        *is_byte = true;
        (*i)++;
        return true;
    }
    if (c != '\\') {
        *r = c;
        (*i)++;
        return true;
    }
    if (*i + 1 >= n) {
        return false;
    }
    c = (unsigned char)s[*i + 1];
    *i += 2;
    switch (c) {
    case 'a':
        *r = 7;
        return true;
    case 'b':
        *r = 8;
        return true;
    case 'f':
        *r = 12;
        return true;
    case 'n':
        *r = 10;
        return true;
    case 'r':
        *r = 13;
        return true;
    case 't':
        *r = 9;
        return true;
    case 'v':
        *r = 11;
        return true;
    case '\\':
        *r = '\\';
        return true;
    case '\'':
    case '"':
        if (c != quote) {
            return false;
        }
        *r = c;
        return true;
    case 'x':
    case 'u':
    case 'U': {
        size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        if (*i + digits > n) {
            return false;
        }
        uint32_t v = 0;
        for (size_t k = 0; k < digits; k++) {
            int h = hexval((unsigned char)s[*i + k]);
            if (h < 0) {
                return false;
            }
            v = v * 16 + (uint32_t)h;
        }
        *i += digits;
        if (c == 'x') {
            *r = v;
            *is_byte = true;
            return true;
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
            return false;
        }
        *r = v;
        return true;
    }
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7': {
        if (*i + 2 > n) {
            return false;
        }
        uint32_t v = (uint32_t)(c - '0');
        for (size_t k = 0; k < 2; k++) {
            int d = s[*i + k];
            if (d < '0' || d > '7') {
                return false;
            }
            v = v * 8 + (uint32_t)(d - '0');
        }
        *i += 2;
        if (v > 255) {
            return false;
        }
        *r = v;
        *is_byte = true;
        return true;
    }
    default:
        return false;
    }
}

/* strconv.Unquote of a "..." or `...` token into the arena; false: invalid syntax. */
static bool unquote(parser_t *p, const item_t *t, const char **out, size_t *out_len)
{
    const char *s = t->val;
    size_t n = t->len;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    bool ok = true;
    if (n < 2 || s[0] != s[n - 1]) {
        ok = false;
    } else if (s[0] == '`') {
        for (size_t i = 1; i + 1 < n; i++) {
            if (s[i] != '\r') {
                tw_buf_putc(&b, s[i]);
            }
        }
    } else {
        size_t i = 1;
        while (ok && i < n - 1) {
            uint32_t r;
            bool is_byte;
            if (!unquote_char(s, n - 1, &i, '"', &r, &is_byte)) {
                ok = false;
                break;
            }
            if (is_byte) {
                tw_buf_putc(&b, (char)r);
            } else {
                put_rune(&b, r);
            }
        }
    }
    if (ok) {
        *out = tw_arena_strndup(p->set->arena, b.data ? b.data : "", b.len);
        *out_len = b.len;
    }
    tw_buf_fini(&b);
    return ok;
}

/* Go's underscoreOK: '_' only between digits or after a base prefix. */
static bool underscore_ok(const char *s, size_t n)
{
    char saw = '^';
    size_t i = 0;
    if (n >= 1 && (s[0] == '-' || s[0] == '+')) {
        s++;
        n--;
    }
    bool hex = false;
    if (n >= 2 && s[0] == '0') {
        char c = (char)(s[1] | 0x20);
        if (c == 'x' || c == 'o' || c == 'b') {
            i = 2;
            saw = '0';
            hex = c == 'x';
        }
    }
    for (; i < n; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (hex && hexval((unsigned char)c) >= 0)) {
            saw = '0';
            continue;
        }
        if (c == '_') {
            if (saw != '0') {
                return false;
            }
            saw = '_';
            continue;
        }
        if (saw == '_') {
            return false;
        }
        saw = '!';
    }
    return saw != '_';
}

/* strconv.ParseUint/ParseInt(text, 0, 64). */
static bool parse_uint(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || s[0] == '+' || s[0] == '-') {
        return false;
    }
    unsigned base = 10;
    size_t i = 0;
    bool need_digit = false;
    if (s[0] == '0' && n > 1) {
        char c = (char)(s[1] | 0x20);
        if (c == 'x' || c == 'o' || c == 'b') {
            base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
            i = 2;
            need_digit = true;
        } else {
            base = 8;
            i = 1;
        }
    }
    bool underscores = false;
    uint64_t v = 0;
    size_t ndig = 0;
    for (; i < n; i++) {
        if (s[i] == '_') {
            underscores = true;
            continue;
        }
        int d = hexval((unsigned char)s[i]);
        if (d < 0 || (unsigned)d >= base) {
            return false;
        }
        if (v > (UINT64_MAX - (uint64_t)d) / base) {
            return false;
        }
        v = v * base + (uint64_t)d;
        ndig++;
    }
    if (need_digit && ndig == 0) {
        return false;
    }
    if (underscores && !underscore_ok(s, n)) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_int(const char *s, size_t n, int64_t *out)
{
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++;
        n--;
    }
    uint64_t u;
    if (!parse_uint(s, n, &u)) {
        return false;
    }
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX) {
            return false;
        }
        *out = (int64_t)u;
    }
    return true;
}

/* strconv.ParseFloat(text, 64): decimal or hex (with a p exponent), '_' per Go. */
bool tmpl_parse_float(const char *s, size_t n, double *out)
{
    char tmp[128];
    size_t k = 0;
    if (n == 0 || n >= sizeof(tmp)) {
        return false;
    }
    bool underscores = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            underscores = true;
            continue;
        }
        tmp[k++] = s[i];
    }
    tmp[k] = '\0';
    if (underscores && !underscore_ok(s, n)) {
        return false;
    }
    const char *t = tmp;
    if (*t == '+' || *t == '-') {
        t++;
    }
    bool hex = t[0] == '0' && (t[1] | 0x20) == 'x';
    bool digit = false;
    for (const char *q = hex ? t + 2 : t; *q; q++) {
        if ((*q >= '0' && *q <= '9') || (hex && hexval((unsigned char)*q) >= 0)) {
            digit = true;
        } else if (*q == '.' || (!hex && (*q == 'e' || *q == 'E')) ||
                   (hex && (*q == 'p' || *q == 'P'))) {
            if (*q != '.') {
                break;
            }
        } else {
            return false;
        }
    }
    if (!digit) {
        return false;
    }
    if (hex && strpbrk(t, "pP") == NULL) {
        return false;
    }
    errno = 0;
    char *end;
    double v = strtod(tmp, &end);
    if (*end != '\0') {
        return false;
    }
    if (errno == ERANGE && isinf(v)) {
        return false; /* Go: "value out of range" */
    }
    *out = v;
    return true;
}

static tnode_t *new_number(parser_t *p, const item_t *t)
{
    tnode_t *n = new_node(p, N_NUMBER, t->pos);
    n->orig = dup_item(p, t);
    n->orig_len = t->len;
    const char *s = t->val;
    size_t len = t->len;
    if (t->typ == IT_CHAR_CONSTANT) {
        size_t i = 1;
        uint32_t r;
        bool is_byte;
        if (len < 3 || !unquote_char(s, len, &i, '\'', &r, &is_byte)) {
            perrorf(p, "invalid syntax");
        }
        if (is_byte && (unsigned char)s[1] >= 0x80) {
            /* a UTF-8 encoded rune */
            size_t w = 1;
            unsigned c = (unsigned char)s[1];
            size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            r = c & (0x7F >> want);
            for (w = 1; w < want && 1 + w < len; w++) {
                r = (r << 6) | ((unsigned char)s[1 + w] & 0x3F);
            }
            if (want == 1) {
                r = 0xFFFD;
            }
            i = 1 + w;
        }
        if (i != len - 1 || s[len - 1] != '\'') {
            perrorf(p, "malformed character constant: %.*s", (int)len, s);
        }
        n->is_int = n->is_uint = n->is_float = true;
        n->i64 = r;
        n->u64 = r;
        n->f64 = r;
        return n;
    }
    if (t->typ == IT_COMPLEX || (len > 0 && s[len - 1] == 'i')) {
        perrorf(p, "complex number %.*s not supported", (int)len, s);
    }
    uint64_t u;
    int64_t i;
    if (parse_uint(s, len, &u)) {
        n->is_uint = true;
        n->u64 = u;
    }
    if (parse_int(s, len, &i)) {
        n->is_int = true;
        n->i64 = i;
        if (i == 0) {
            n->is_uint = true;
            n->u64 = 0;
        }
    }
    if (n->is_int) {
        n->is_float = true;
        n->f64 = (double)n->i64;
    } else if (n->is_uint) {
        n->is_float = true;
        n->f64 = (double)n->u64;
    } else {
        double f;
        if (tmpl_parse_float(s, len, &f)) {
            if (strpbrk(n->orig, ".eEpP") == NULL) {
                tw_buf_t q;
                tw_buf_init(&q, 0);
                go_quote(&q, s, len);
                char m[200];
                snprintf(m, sizeof(m), "%s", q.data);
                tw_buf_fini(&q);
                perrorf(p, "integer overflow: %s", m);
            }
            n->is_float = true;
            n->f64 = f;
            if (f >= -9223372036854775808.0 && f < 9223372036854775808.0 &&
                (double)(int64_t)f == f) {
                n->is_int = true;
                n->i64 = (int64_t)f;
            }
            if (f >= 0 && f < 18446744073709551616.0 && (double)(uint64_t)f == f) {
                n->is_uint = true;
                n->u64 = (uint64_t)f;
            }
        }
    }
    if (!n->is_int && !n->is_uint && !n->is_float) {
        tw_buf_t q;
        tw_buf_init(&q, 0);
        go_quote(&q, s, len);
        char m[200];
        snprintf(m, sizeof(m), "%s", q.data);
        tw_buf_fini(&q);
        perrorf(p, "illegal number syntax: %s", m);
    }
    return n;
}

/* ---- grammar ---- */

static tnode_t *pipeline(parser_t *p, const char *context, item_type_t end);
static tnode_t *item_list(parser_t *p, tnode_t **next_out);
static tnode_t *if_control(parser_t *p);

static void enter(parser_t *p)
{
    if (++p->nesting > TMPL_MAX_PARSE_NESTING) {
        p->code = TW_ELIMIT;
        perrorf(p, "nesting deeper than %d", TMPL_MAX_PARSE_NESTING);
    }
}

static bool has_function(const item_t *t)
{
    return tmpl_func_find(t->val, t->len) != NULL;
}

static tnode_t *use_var(parser_t *p, const item_t *t)
{
    tnode_t *v = new_variable(p, t);
    for (size_t i = p->nvars; i-- > 0;) {
        if (strcmp(p->vars[i], v->ident[0]) == 0) {
            return v;
        }
    }
    tw_buf_t q;
    tw_buf_init(&q, 0);
    go_quote(&q, v->ident[0], strlen(v->ident[0]));
    char m[200];
    snprintf(m, sizeof(m), "%s", q.data);
    tw_buf_fini(&q);
    perrorf(p, "undefined variable %s", m);
}

static tnode_t *term(parser_t *p)
{
    item_t t = next_non_space(p);
    switch (t.typ) {
    case IT_IDENTIFIER: {
        if (!has_function(&t)) {
            tw_buf_t q;
            tw_buf_init(&q, 0);
            go_quote(&q, t.val, t.len);
            char m[200];
            snprintf(m, sizeof(m), "%s", q.data);
            tw_buf_fini(&q);
            perrorf(p, "function %s not defined", m);
        }
        tnode_t *n = new_node(p, N_IDENT, t.pos);
        n->ident = tw_arena_alloc(p->set->arena, sizeof(char *));
        n->ident[0] = dup_item(p, &t);
        n->nident = 1;
        return n;
    }
    case IT_DOT:
        return new_node(p, N_DOT, t.pos);
    case IT_NIL:
        return new_node(p, N_NIL, t.pos);
    case IT_VARIABLE:
        return use_var(p, &t);
    case IT_FIELD: {
        tnode_t *n = new_node(p, N_FIELD, t.pos);
        split_ident(p, n, t.val, t.len, true);
        return n;
    }
    case IT_BOOL: {
        tnode_t *n = new_node(p, N_BOOL, t.pos);
        n->b = t.len == 4;
        return n;
    }
    case IT_CHAR_CONSTANT:
    case IT_COMPLEX:
    case IT_NUMBER:
        return new_number(p, &t);
    case IT_LEFT_PAREN: {
        enter(p);
        tnode_t *n = pipeline(p, "parenthesized pipeline", IT_RIGHT_PAREN);
        p->nesting--;
        return n;
    }
    case IT_STRING:
    case IT_RAW_STRING: {
        tnode_t *n = new_node(p, N_STRING, t.pos);
        if (!unquote(p, &t, &n->text, &n->text_len)) {
            perrorf(p, "invalid syntax");
        }
        n->orig = dup_item(p, &t);
        n->orig_len = t.len;
        return n;
    }
    default:
        backup(p);
        return NULL;
    }
}

static tnode_t *operand(parser_t *p)
{
    tnode_t *node = term(p);
    if (node == NULL) {
        return NULL;
    }
    if (peek(p).typ == IT_FIELD) {
        tnode_t *chain = new_node(p, N_CHAIN, peek(p).pos);
        chain->node = node;
        size_t cap = 0;
        const char **fields = NULL;
        while (peek(p).typ == IT_FIELD) {
            item_t f = next(p);
            /* a field token may itself be ".a.b"? No: the lexer splits at dots. */
            if (chain->nident == cap) {
                size_t nc = cap ? cap * 2 : 4;
                const char **nf = tw_arena_alloc(p->set->arena, nc * sizeof(*nf));
                if (chain->nident > 0) {
                    memcpy(nf, fields, chain->nident * sizeof(*nf));
                }
                fields = nf;
                cap = nc;
            }
            fields[chain->nident++] = tw_arena_strndup(p->set->arena, f.val + 1, f.len - 1);
        }
        chain->ident = fields;
        switch (node->type) {
        case N_FIELD:
        case N_VAR: {
            /* Go rebuilds a Field/Variable node from the chain's text at the chain's pos. */
            tnode_t *n = new_node(p, node->type, chain->pos);
            n->nident = node->nident + chain->nident;
            n->ident = tw_arena_alloc(p->set->arena, n->nident * sizeof(char *));
            memcpy(n->ident, node->ident, node->nident * sizeof(char *));
            memcpy(n->ident + node->nident, chain->ident, chain->nident * sizeof(char *));
            return n;
        }
        case N_BOOL:
        case N_STRING:
        case N_NUMBER:
        case N_NIL:
        case N_DOT: {
            tw_buf_t b, q;
            tw_buf_init(&b, 1000);
            tw_buf_init(&q, 0);
            tmpl_node_string(&b, node);
            go_quote(&q, b.data ? b.data : "", b.len);
            char m[300];
            snprintf(m, sizeof(m), "%s", q.data);
            tw_buf_fini(&b);
            tw_buf_fini(&q);
            perrorf(p, "unexpected . after term %s", m);
        }
        default:
            return chain;
        }
    }
    return node;
}

static tnode_t *command(parser_t *p)
{
    tnode_t *cmd = new_node(p, N_COMMAND, peek_non_space(p).pos);
    for (;;) {
        peek_non_space(p);
        tnode_t *op = operand(p);
        if (op != NULL) {
            append_kid(p, cmd, op);
        }
        item_t t = next(p);
        if (t.typ == IT_SPACE) {
            continue;
        }
        if (t.typ == IT_RIGHT_DELIM || t.typ == IT_RIGHT_PAREN) {
            backup(p);
        } else if (t.typ != IT_PIPE) {
            unexpected(p, &t, "operand");
        }
        break;
    }
    if (cmd->nkids == 0) {
        perrorf(p, "empty command");
    }
    return cmd;
}

static void check_pipeline(parser_t *p, tnode_t *pipe, const char *context)
{
    if (pipe->nkids == 0) {
        perrorf(p, "missing value for %s", context);
    }
    for (size_t i = 1; i < pipe->nkids; i++) {
        switch (pipe->kids[i]->kids[0]->type) {
        case N_BOOL:
        case N_DOT:
        case N_NIL:
        case N_NUMBER:
        case N_STRING:
            perrorf(p, "non executable command in pipeline stage %zu", i + 1);
        default:
            break;
        }
    }
}

static tnode_t *pipeline(parser_t *p, const char *context, item_type_t end)
{
    item_t tok = peek_non_space(p);
    tnode_t *pipe = new_node(p, N_PIPE, tok.pos);
    size_t capdecl = 0;
decls:;
    item_t v = peek_non_space(p);
    if (v.typ == IT_VARIABLE) {
        next(p);
        item_t after = peek(p);
        item_t nx = peek_non_space(p);
        if (nx.typ == IT_ASSIGN || nx.typ == IT_DECLARE) {
            pipe->is_assign = nx.typ == IT_ASSIGN;
            next_non_space(p);
            grow_append(p->set->arena, &pipe->decl, &pipe->ndecl, &capdecl, new_variable(p, &v));
            push_var(p, dup_item(p, &v));
        } else if (nx.typ == IT_CHAR && nx.len == 1 && nx.val[0] == ',') {
            next_non_space(p);
            grow_append(p->set->arena, &pipe->decl, &pipe->ndecl, &capdecl, new_variable(p, &v));
            push_var(p, dup_item(p, &v));
            if (strcmp(context, "range") == 0 && pipe->ndecl < 2) {
                item_type_t t = peek_non_space(p).typ;
                if (t == IT_VARIABLE || t == IT_RIGHT_DELIM || t == IT_RIGHT_PAREN) {
                    goto decls;
                }
                perrorf(p, "range can only initialize variables");
            }
            perrorf(p, "too many declarations in %s", context);
        } else if (after.typ == IT_SPACE) {
            backup3(p, v, after);
        } else {
            backup2(p, v);
        }
    }
    for (;;) {
        item_t t = next_non_space(p);
        if (t.typ == end) {
            check_pipeline(p, pipe, context);
            return pipe;
        }
        switch (t.typ) {
        case IT_BOOL:
        case IT_CHAR_CONSTANT:
        case IT_COMPLEX:
        case IT_DOT:
        case IT_FIELD:
        case IT_IDENTIFIER:
        case IT_NUMBER:
        case IT_NIL:
        case IT_RAW_STRING:
        case IT_STRING:
        case IT_VARIABLE:
        case IT_LEFT_PAREN:
            backup(p);
            append_kid(p, pipe, command(p));
            break;
        default:
            unexpected(p, &t, context);
        }
    }
}

/* parseControl: pipe, list and else list of if/range/with; the node gets them. */
static tnode_t *parse_control(parser_t *p, node_type_t type, bool allow_else_if,
                              const char *context)
{
    size_t mark = p->nvars;
    enter(p);
    tnode_t *pipe = pipeline(p, context, IT_RIGHT_DELIM);
    if (type == N_RANGE) {
        p->range_depth++;
    }
    tnode_t *nx = NULL;
    tnode_t *list = item_list(p, &nx);
    if (type == N_RANGE) {
        p->range_depth--;
    }
    tnode_t *else_list = NULL;
    if (nx->type == N_ELSE) {
        if (allow_else_if && peek(p).typ == IT_IF) {
            next(p);
            else_list = new_node(p, N_LIST, nx->pos);
            append_kid(p, else_list, if_control(p));
        } else {
            else_list = item_list(p, &nx);
            if (nx->type != N_END) {
                tw_buf_t b;
                tw_buf_init(&b, 200);
                tmpl_node_string(&b, nx);
                char m[220];
                snprintf(m, sizeof(m), "%s", b.data);
                tw_buf_fini(&b);
                perrorf(p, "expected end; found %s", m);
            }
        }
    }
    p->nesting--;
    p->nvars = mark;
    tnode_t *n = new_node(p, type, pipe->pos);
    n->pipe = pipe;
    n->list = list;
    n->else_list = else_list;
    return n;
}

static tnode_t *if_control(parser_t *p)
{
    return parse_control(p, N_IF, true, "if");
}

static tnode_t *parse_template_name(parser_t *p, const item_t *t, const char *context)
{
    if (t->typ != IT_STRING && t->typ != IT_RAW_STRING) {
        unexpected(p, t, context);
    }
    tnode_t *tmp = new_node(p, N_STRING, t->pos);
    if (!unquote(p, t, &tmp->text, &tmp->text_len)) {
        perrorf(p, "invalid syntax");
    }
    return tmp;
}

static tnode_t *template_control(parser_t *p)
{
    const char *context = "template clause";
    item_t t = next_non_space(p);
    tnode_t *name = parse_template_name(p, &t, context);
    tnode_t *pipe = NULL;
    if (next_non_space(p).typ != IT_RIGHT_DELIM) {
        backup(p);
        pipe = pipeline(p, context, IT_RIGHT_DELIM);
    }
    tnode_t *n = new_node(p, N_TEMPLATE, t.pos);
    n->name = name->text;
    n->pipe = pipe;
    return n;
}

static bool is_empty_tree(const tnode_t *n)
{
    if (n == NULL) {
        return true;
    }
    switch (n->type) {
    case N_LIST:
        for (size_t i = 0; i < n->nkids; i++) {
            if (!is_empty_tree(n->kids[i])) {
                return false;
            }
        }
        return true;
    case N_TEXT:
        for (size_t i = 0; i < n->text_len; i++) {
            if (strchr(" \t\r\n\v\f", n->text[i]) == NULL || n->text[i] == '\0') {
                return false;
            }
        }
        return true;
    default:
        return false;
    }
}

/* Go's Tree.add: a named tree joins the set unless a non-empty one of that name exists. */
static void add_tree(parser_t *p, const char *name, tnode_t *root)
{
    tw_tmpl_t *set = p->set;
    for (size_t i = 0; i < set->ntrees; i++) {
        if (strcmp(set->trees[i].name, name) == 0) {
            if (is_empty_tree(set->trees[i].root)) {
                set->trees[i].root = root;
                return;
            }
            if (!is_empty_tree(root)) {
                tw_buf_t q;
                tw_buf_init(&q, 0);
                go_quote(&q, name, strlen(name));
                char m[300];
                snprintf(m, sizeof(m), "%s", q.data);
                tw_buf_fini(&q);
                perrorf(p, "template: multiple definition of template %s", m);
            }
            return;
        }
    }
    if (set->ntrees == set->captrees) {
        size_t nc = set->captrees ? set->captrees * 2 : 4;
        ttree_t *nt = tw_arena_alloc(set->arena, nc * sizeof(*nt));
        if (set->ntrees > 0) {
            memcpy(nt, set->trees, set->ntrees * sizeof(*nt));
        }
        set->trees = nt;
        set->captrees = nc;
    }
    set->trees[set->ntrees].name = name;
    set->trees[set->ntrees].root = root;
    set->ntrees++;
}

static tnode_t *block_control(parser_t *p)
{
    const char *context = "block clause";
    item_t t = next_non_space(p);
    tnode_t *name = parse_template_name(p, &t, context);
    tnode_t *pipe = pipeline(p, context, IT_RIGHT_DELIM);
    /* The block body is a new tree with its own variables. */
    const char **saved_vars = p->vars;
    size_t saved_n = p->nvars, saved_cap = p->capvars;
    int saved_range = p->range_depth;
    p->vars = NULL;
    p->nvars = p->capvars = 0;
    p->range_depth = 0;
    push_var(p, "$");
    enter(p);
    tnode_t *nx = NULL;
    tnode_t *root = item_list(p, &nx);
    p->nesting--;
    if (nx->type != N_END) {
        tw_buf_t b;
        tw_buf_init(&b, 200);
        tmpl_node_string(&b, nx);
        char m[220];
        snprintf(m, sizeof(m), "%s", b.data);
        tw_buf_fini(&b);
        perrorf(p, "unexpected %s in %s", m, context);
    }
    add_tree(p, name->text, root);
    p->vars = saved_vars;
    p->nvars = saved_n;
    p->capvars = saved_cap;
    p->range_depth = saved_range;
    tnode_t *n = new_node(p, N_TEMPLATE, t.pos);
    n->name = name->text;
    n->pipe = pipe;
    return n;
}

static tnode_t *action(parser_t *p)
{
    item_t t = next_non_space(p);
    switch (t.typ) {
    case IT_BLOCK:
        return block_control(p);
    case IT_BREAK:
    case IT_CONTINUE: {
        bool brk = t.typ == IT_BREAK;
        item_t t2 = next_non_space(p);
        if (t2.typ != IT_RIGHT_DELIM) {
            unexpected(p, &t2, brk ? "{{break}}" : "{{continue}}");
        }
        if (p->range_depth == 0) {
            perrorf(p, "%s outside {{range}}", brk ? "{{break}}" : "{{continue}}");
        }
        return new_node(p, brk ? N_BREAK : N_CONTINUE, t.pos);
    }
    case IT_ELSE: {
        item_t pk = peek_non_space(p);
        if (pk.typ == IT_IF) {
            return new_node(p, N_ELSE, pk.pos);
        }
        item_t e = expect(p, IT_RIGHT_DELIM, "else");
        return new_node(p, N_ELSE, e.pos);
    }
    case IT_END: {
        item_t e = expect(p, IT_RIGHT_DELIM, "end");
        return new_node(p, N_END, e.pos);
    }
    case IT_IF:
        return if_control(p);
    case IT_RANGE:
        return parse_control(p, N_RANGE, false, "range");
    case IT_TEMPLATE:
        return template_control(p);
    case IT_WITH:
        return parse_control(p, N_WITH, false, "with");
    default:
        break;
    }
    backup(p);
    item_t pk = peek(p);
    tnode_t *n = new_node(p, N_ACTION, pk.pos);
    n->pipe = pipeline(p, "command", IT_RIGHT_DELIM);
    return n;
}

static tnode_t *text_or_action(parser_t *p)
{
    item_t t = next_non_space(p);
    switch (t.typ) {
    case IT_TEXT: {
        tnode_t *n = new_node(p, N_TEXT, t.pos);
        n->text = t.val;
        n->text_len = t.len;
        return n;
    }
    case IT_LEFT_DELIM: {
        p->action_line = t.line;
        tnode_t *n = action(p);
        p->action_line = 0;
        return n;
    }
    default:
        unexpected(p, &t, "input");
    }
}

static tnode_t *item_list(parser_t *p, tnode_t **next_out)
{
    tnode_t *list = new_node(p, N_LIST, peek_non_space(p).pos);
    while (peek_non_space(p).typ != IT_EOF) {
        tnode_t *n = text_or_action(p);
        if (n->type == N_END || n->type == N_ELSE) {
            *next_out = n;
            return list;
        }
        append_kid(p, list, n);
    }
    perrorf(p, "unexpected EOF");
}

static void parse_definition(parser_t *p)
{
    const char *context = "define clause";
    item_t t = next_non_space(p);
    if (t.typ != IT_STRING && t.typ != IT_RAW_STRING) {
        unexpected(p, &t, context);
    }
    tnode_t *name = new_node(p, N_STRING, t.pos);
    if (!unquote(p, &t, &name->text, &name->text_len)) {
        perrorf(p, "invalid syntax");
    }
    expect(p, IT_RIGHT_DELIM, context);
    const char **saved_vars = p->vars;
    size_t saved_n = p->nvars, saved_cap = p->capvars;
    p->vars = NULL;
    p->nvars = p->capvars = 0;
    push_var(p, "$");
    tnode_t *nx = NULL;
    tnode_t *root = item_list(p, &nx);
    if (nx->type != N_END) {
        tw_buf_t b;
        tw_buf_init(&b, 200);
        tmpl_node_string(&b, nx);
        char m[220];
        snprintf(m, sizeof(m), "%s", b.data);
        tw_buf_fini(&b);
        perrorf(p, "unexpected %s in %s", m, context);
    }
    add_tree(p, name->text, root);
    p->vars = saved_vars;
    p->nvars = saved_n;
    p->capvars = saved_cap;
}

static void parse_top(parser_t *p)
{
    tnode_t *root = new_node(p, N_LIST, peek(p).pos);
    while (peek(p).typ != IT_EOF) {
        if (peek(p).typ == IT_LEFT_DELIM) {
            item_t delim = next(p);
            if (next_non_space(p).typ == IT_DEFINE) {
                parse_definition(p);
                continue;
            }
            backup2(p, delim);
        }
        tnode_t *n = text_or_action(p);
        if (n->type == N_END || n->type == N_ELSE) {
            tw_buf_t b;
            tw_buf_init(&b, 200);
            tmpl_node_string(&b, n);
            char m[220];
            snprintf(m, sizeof(m), "%s", b.data);
            tw_buf_fini(&b);
            perrorf(p, "unexpected %s", m);
        }
        append_kid(p, root, n);
    }
    add_tree(p, p->set->name, root);
}

int tw_tmpl_parse(tw_tmpl_t **out, const char *name, const char *text, size_t len,
                  const tw_tmpl_limits_t *limits, tw_error_t *err)
{
    *out = NULL;
    size_t max =
        limits && limits->max_source_bytes ? limits->max_source_bytes : TMPL_DEF_SOURCE_BYTES;
    if (len > max) {
        return tw_error_set(err, TW_ELIMIT, "template: %s: text of %zu bytes is longer than %zu",
                            name, len, max);
    }
    tw_tmpl_t *set = calloc(1, sizeof(*set));
    if (set == NULL) {
        abort();
    }
    set->arena = tw_arena_new(0);
    set->name = tw_arena_strdup(set->arena, name);
    char *copy = tw_arena_alloc(set->arena, len + 1);
    if (len > 0) {
        memcpy(copy, text, len);
    }
    copy[len] = '\0';
    set->text = copy;
    set->text_len = len;

    parser_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        abort();
    }
    p->set = set;
    p->err = err;
    tmpl_lex_init(&p->lex, copy, len);
    push_var(p, "$");
    int rc = 0;
    if (setjmp(p->jb) == 0) {
        parse_top(p);
    } else {
        rc = p->code;
    }
    free(p);
    if (rc != 0) {
        tw_tmpl_free(set);
        return rc;
    }
    *out = set;
    return 0;
}

void tw_tmpl_free(tw_tmpl_t *t)
{
    if (t == NULL) {
        return;
    }
    tw_arena_free(t->arena);
    free(t);
}

/* ---- Node.String() ---- */

static void list_string(tw_buf_t *b, const tnode_t *n)
{
    if (n == NULL) {
        return;
    }
    for (size_t i = 0; i < n->nkids; i++) {
        tmpl_node_string(b, n->kids[i]);
    }
}

static void control_string(tw_buf_t *b, const char *name, const tnode_t *n)
{
    tw_buf_printf(b, "{{%s ", name);
    tmpl_node_string(b, n->pipe);
    tw_buf_puts(b, "}}");
    list_string(b, n->list);
    if (n->else_list != NULL) {
        tw_buf_puts(b, "{{else}}");
        list_string(b, n->else_list);
    }
    tw_buf_puts(b, "{{end}}");
}

void tmpl_node_string(tw_buf_t *b, const tnode_t *n)
{
    if (n == NULL) {
        return;
    }
    switch (n->type) {
    case N_LIST:
        list_string(b, n);
        break;
    case N_TEXT:
        tw_buf_append(b, n->text, n->text_len);
        break;
    case N_ACTION:
        tw_buf_puts(b, "{{");
        tmpl_node_string(b, n->pipe);
        tw_buf_puts(b, "}}");
        break;
    case N_PIPE:
        for (size_t i = 0; i < n->ndecl; i++) {
            if (i > 0) {
                tw_buf_puts(b, ", ");
            }
            tmpl_node_string(b, n->decl[i]);
        }
        if (n->ndecl > 0) {
            tw_buf_puts(b, n->is_assign ? " = " : " := ");
        }
        for (size_t i = 0; i < n->nkids; i++) {
            if (i > 0) {
                tw_buf_puts(b, " | ");
            }
            tmpl_node_string(b, n->kids[i]);
        }
        break;
    case N_COMMAND:
        for (size_t i = 0; i < n->nkids; i++) {
            if (i > 0) {
                tw_buf_putc(b, ' ');
            }
            if (n->kids[i]->type == N_PIPE) {
                tw_buf_putc(b, '(');
                tmpl_node_string(b, n->kids[i]);
                tw_buf_putc(b, ')');
            } else {
                tmpl_node_string(b, n->kids[i]);
            }
        }
        break;
    case N_IDENT:
        tw_buf_puts(b, n->ident[0]);
        break;
    case N_VAR:
        for (size_t i = 0; i < n->nident; i++) {
            if (i > 0) {
                tw_buf_putc(b, '.');
            }
            tw_buf_puts(b, n->ident[i]);
        }
        break;
    case N_FIELD:
        for (size_t i = 0; i < n->nident; i++) {
            tw_buf_putc(b, '.');
            tw_buf_puts(b, n->ident[i]);
        }
        break;
    case N_CHAIN:
        if (n->node->type == N_PIPE) {
            tw_buf_putc(b, '(');
            tmpl_node_string(b, n->node);
            tw_buf_putc(b, ')');
        } else {
            tmpl_node_string(b, n->node);
        }
        for (size_t i = 0; i < n->nident; i++) {
            tw_buf_putc(b, '.');
            tw_buf_puts(b, n->ident[i]);
        }
        break;
    case N_DOT:
        tw_buf_putc(b, '.');
        break;
    case N_NIL:
        tw_buf_puts(b, "nil");
        break;
    case N_BOOL:
        tw_buf_puts(b, n->b ? "true" : "false");
        break;
    case N_NUMBER:
    case N_STRING:
        tw_buf_append(b, n->orig, n->orig_len);
        break;
    case N_END:
        tw_buf_puts(b, "{{end}}");
        break;
    case N_ELSE:
        tw_buf_puts(b, "{{else}}");
        break;
    case N_IF:
        control_string(b, "if", n);
        break;
    case N_RANGE:
        control_string(b, "range", n);
        break;
    case N_WITH:
        control_string(b, "with", n);
        break;
    case N_TEMPLATE:
        tw_buf_puts(b, "{{template ");
        go_quote(b, n->name, strlen(n->name));
        if (n->pipe != NULL) {
            tw_buf_putc(b, ' ');
            tmpl_node_string(b, n->pipe);
        }
        tw_buf_puts(b, "}}");
        break;
    case N_BREAK:
        tw_buf_puts(b, "{{break}}");
        break;
    case N_CONTINUE:
        tw_buf_puts(b, "{{continue}}");
        break;
    }
}
