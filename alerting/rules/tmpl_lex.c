/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tmpl_lex.c - the template lexer, a port of Go's text/template/parse/lex.go (Go 1.20, the
 * release Prometheus 2.42 was built with): text, "{{" / "}}" with the "{{- " / " -}}" trim
 * markers, comments, and inside actions spaces (newlines included), ":=", "=", "|", quoted,
 * raw and character constants, variables, fields, numbers (sign, 0x/0o/0b, '_', '.', e/p
 * exponents, a trailing 'i'), identifiers and keywords. Go runs the lexer as a goroutine
 * feeding a channel; here tmpl_lex_next() runs the state machine until it has one item.
 * Error messages are Go's word for word. Pure; no allocation.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

enum { LS_TEXT = 0, LS_LEFT_DELIM, LS_INSIDE, LS_RIGHT_DELIM, LS_DONE };

#define LEFT_DELIM "{{"
#define RIGHT_DELIM "}}"
#define LEFT_COMMENT "/*"
#define RIGHT_COMMENT "*/"

void tmpl_lex_init(lexer_t *l, const char *input, size_t len)
{
    memset(l, 0, sizeof(*l));
    l->input = input;
    l->len = len;
    l->state = LS_TEXT;
    l->line_no = 1;
}

int tmpl_line_at(lexer_t *l, size_t pos)
{
    if (pos > l->len) {
        pos = l->len;
    }
    while (l->line_pos < pos) {
        if (l->input[l->line_pos++] == '\n') {
            l->line_no++;
        }
    }
    while (l->line_pos > pos) {
        if (l->input[--l->line_pos] == '\n') {
            l->line_no--;
        }
    }
    return l->line_no;
}

/* Decodes the UTF-8 rune at p (n bytes left) into *r; returns its width (bad bytes: 1, U+FFFD). */
size_t tmpl_decode_rune(const unsigned char *p, size_t n, int32_t *r)
{
    if (n == 0) {
        *r = -1;
        return 0;
    }
    unsigned c = p[0];
    if (c < 0x80) {
        *r = (int32_t)c;
        return 1;
    }
    size_t w = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (w == 0 || w > n || c > 0xF4) {
        *r = 0xFFFD;
        return 1;
    }
    int32_t v = (int32_t)(c & (0x7F >> w));
    for (size_t i = 1; i < w; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *r = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (p[i] & 0x3F);
    }
    static const int32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[w] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *r = 0xFFFD;
        return 1;
    }
    *r = v;
    return w;
}

/*
 * unicode.IsPrint for non-ASCII, approximated: controls, separators other than ' ', format
 * characters, surrogates and private use are not printable.
 */
bool tmpl_rune_is_print(int32_t r)
{
    if (r < 0x80) {
        return r >= 0x20 && r < 0x7F;
    }
    if (r < 0xA1 || r == 0xAD || r == 0x1680 || (r >= 0x2000 && r <= 0x200F) ||
        (r >= 0x2028 && r <= 0x202F) || (r >= 0x205F && r <= 0x206F) || r == 0x3000 ||
        r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB) || (r >= 0xD800 && r <= 0xF8FF) ||
        r >= 0xF0000 || r == 0xFFFD + 1 || r == 0xFFFE || r == 0xFFFF) {
        return false;
    }
    return true;
}

/* unicode.IsLetter || unicode.IsDigit || '_', approximated for non-ASCII (see the docs). */
static bool rune_is_alnum(int32_t r)
{
    if (r < 0x80) {
        return r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') ||
               (r >= 'A' && r <= 'Z');
    }
    if (!tmpl_rune_is_print(r)) {
        return false;
    }
    if (r <= 0xBF) {
        return r == 0xAA || r == 0xB5 || r == 0xBA;
    }
    if (r == 0xD7 || r == 0xF7) {
        return false;
    }
    /* General punctuation, symbols, arrows, math, box drawing, CJK punctuation, emoji. */
    if ((r >= 0x2010 && r <= 0x2BFF) || (r >= 0x3001 && r <= 0x303F) ||
        (r >= 0xFE30 && r <= 0xFE4F) || (r >= 0xFF01 && r <= 0xFF0F) ||
        (r >= 0x1F000 && r <= 0x1FAFF)) {
        return false;
    }
    return true;
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int peek_byte(const lexer_t *l, size_t at)
{
    return at < l->len ? (unsigned char)l->input[at] : -1;
}

static int32_t peek_rune(const lexer_t *l, size_t *w)
{
    int32_t r;
    *w = tmpl_decode_rune((const unsigned char *)l->input + l->pos, l->len - l->pos, &r);
    return r;
}

static bool has_prefix(const lexer_t *l, size_t at, const char *p)
{
    size_t n = strlen(p);
    return at <= l->len && l->len - at >= n && memcmp(l->input + at, p, n) == 0;
}

static item_t make_item(lexer_t *l, item_type_t t, size_t from, size_t to)
{
    item_t i = {.typ = t, .pos = from, .val = l->input + from, .len = to - from};
    i.line = tmpl_line_at(l, from);
    return i;
}

static item_t emit(lexer_t *l, item_type_t t)
{
    item_t i = make_item(l, t, l->start, l->pos);
    l->start = l->pos;
    return i;
}

static item_t errorf(lexer_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static item_t errorf(lexer_t *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
    va_end(ap);
    item_t i = {.typ = IT_ERROR, .pos = l->start, .val = l->msg, .len = strlen(l->msg)};
    i.line = tmpl_line_at(l, l->start);
    l->state = LS_DONE;
    return i;
}

/* Go's %#U: "U+00A0", or "U+00E9 'é'" when printable. */
static void fmt_U(char *out, size_t n, int32_t r, const char *src, size_t w)
{
    if (tmpl_rune_is_print(r) && r != 0xFFFD) {
        snprintf(out, n, "U+%04X '%.*s'", (unsigned)r, (int)w, src);
    } else if (r == 0xFFFD && w == 1) {
        snprintf(out, n, "U+FFFD '\xef\xbf\xbd'");
    } else {
        snprintf(out, n, "U+%04X", (unsigned)r);
    }
}

/* At " -}}" (trim) or "}}"? */
static bool at_right_delim(const lexer_t *l, bool *trim)
{
    if (has_prefix(l, l->pos, " -" RIGHT_DELIM) || has_prefix(l, l->pos, "\t-" RIGHT_DELIM) ||
        has_prefix(l, l->pos, "\r-" RIGHT_DELIM) || has_prefix(l, l->pos, "\n-" RIGHT_DELIM)) {
        *trim = true;
        return true;
    }
    *trim = false;
    return has_prefix(l, l->pos, RIGHT_DELIM);
}

static bool has_left_trim(const lexer_t *l, size_t at)
{
    return peek_byte(l, at) == '-' && is_space(peek_byte(l, at + 1));
}

static size_t left_trim_length(const lexer_t *l, size_t at)
{
    size_t n = 0;
    while (at + n < l->len && is_space((unsigned char)l->input[at + n])) {
        n++;
    }
    return n;
}

static bool at_terminator(const lexer_t *l)
{
    int c = peek_byte(l, l->pos);
    if (c == -1 || is_space(c)) {
        return true;
    }
    switch (c) {
    case '.':
    case ',':
    case '|':
    case ':':
    case ')':
    case '(':
        return true;
    default:
        return has_prefix(l, l->pos, RIGHT_DELIM);
    }
}

static bool accept(lexer_t *l, const char *valid)
{
    int c = peek_byte(l, l->pos);
    if (c > 0 && strchr(valid, c) != NULL) {
        l->pos++;
        return true;
    }
    return false;
}

static void accept_run(lexer_t *l, const char *valid)
{
    while (accept(l, valid)) {
    }
}

static bool alnum_at(const lexer_t *l)
{
    size_t w;
    int32_t r = peek_rune(l, &w);
    return r >= 0 && rune_is_alnum(r);
}

static bool scan_number(lexer_t *l)
{
    accept(l, "+-");
    const char *digits = "0123456789_";
    if (accept(l, "0")) {
        if (accept(l, "xX")) {
            digits = "0123456789abcdefABCDEF_";
        } else if (accept(l, "oO")) {
            digits = "01234567_";
        } else if (accept(l, "bB")) {
            digits = "01_";
        }
    }
    accept_run(l, digits);
    if (accept(l, ".")) {
        accept_run(l, digits);
    }
    if (strlen(digits) == 11 && accept(l, "eE")) {
        accept(l, "+-");
        accept_run(l, "0123456789_");
    }
    if (strlen(digits) == 23 && accept(l, "pP")) {
        accept(l, "+-");
        accept_run(l, "0123456789_");
    }
    accept(l, "i");
    if (alnum_at(l)) {
        size_t w;
        peek_rune(l, &w);
        l->pos += w;
        return false;
    }
    return true;
}

static item_t lex_number(lexer_t *l)
{
    if (!scan_number(l)) {
        tw_buf_t q;
        tw_buf_init(&q, 0);
        go_quote(&q, l->input + l->start, l->pos - l->start);
        item_t i = errorf(l, "bad number syntax: %s", q.data ? q.data : "\"\"");
        tw_buf_fini(&q);
        return i;
    }
    int c = peek_byte(l, l->pos);
    if (c == '+' || c == '-') {
        if (!scan_number(l) || l->input[l->pos - 1] != 'i') {
            tw_buf_t q;
            tw_buf_init(&q, 0);
            go_quote(&q, l->input + l->start, l->pos - l->start);
            item_t i = errorf(l, "bad number syntax: %s", q.data ? q.data : "\"\"");
            tw_buf_fini(&q);
            return i;
        }
        return emit(l, IT_COMPLEX);
    }
    return emit(l, IT_NUMBER);
}

static const struct {
    const char *word;
    item_type_t typ;
} keywords[] = {
    {".", IT_DOT},
    {"block", IT_BLOCK},
    {"break", IT_BREAK},
    {"continue", IT_CONTINUE},
    {"define", IT_DEFINE},
    {"else", IT_ELSE},
    {"end", IT_END},
    {"if", IT_IF},
    {"range", IT_RANGE},
    {"nil", IT_NIL},
    {"template", IT_TEMPLATE},
    {"with", IT_WITH},
};

static item_t lex_identifier(lexer_t *l)
{
    for (;;) {
        size_t w;
        int32_t r = peek_rune(l, &w);
        if (r >= 0 && rune_is_alnum(r)) {
            l->pos += w;
            continue;
        }
        if (!at_terminator(l)) {
            char u[32];
            fmt_U(u, sizeof(u), r, l->input + l->pos, w);
            return errorf(l, "bad character %s", u);
        }
        const char *word = l->input + l->start;
        size_t n = l->pos - l->start;
        for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++) {
            if (strlen(keywords[k].word) == n && memcmp(keywords[k].word, word, n) == 0) {
                return emit(l, keywords[k].typ);
            }
        }
        if (word[0] == '.') {
            return emit(l, IT_FIELD);
        }
        if ((n == 4 && memcmp(word, "true", 4) == 0) || (n == 5 && memcmp(word, "false", 5) == 0)) {
            return emit(l, IT_BOOL);
        }
        return emit(l, IT_IDENTIFIER);
    }
}

/* After '.' or '$': a field or variable name, or "." / "$" alone. */
static item_t lex_field_or_variable(lexer_t *l, item_type_t typ)
{
    if (at_terminator(l)) {
        return emit(l, typ == IT_VARIABLE ? IT_VARIABLE : IT_DOT);
    }
    size_t w = 0;
    int32_t r;
    for (;;) {
        r = peek_rune(l, &w);
        if (r < 0 || !rune_is_alnum(r)) {
            break;
        }
        l->pos += w;
    }
    if (!at_terminator(l)) {
        char u[32];
        fmt_U(u, sizeof(u), r, l->input + l->pos, w);
        return errorf(l, "bad character %s", u);
    }
    return emit(l, typ);
}

static item_t lex_quote(lexer_t *l, int quote, item_type_t typ, const char *what)
{
    for (;;) {
        int c = peek_byte(l, l->pos);
        if (c == -1 || c == '\n') {
            return errorf(l, "unterminated %s", what);
        }
        l->pos++;
        if (c == '\\') {
            int d = peek_byte(l, l->pos);
            if (d == -1 || d == '\n') {
                return errorf(l, "unterminated %s", what);
            }
            l->pos++;
        } else if (c == quote) {
            return emit(l, typ);
        }
    }
}

static item_t lex_inside(lexer_t *l)
{
    bool trim;
    if (at_right_delim(l, &trim)) {
        if (l->paren_depth == 0) {
            l->state = LS_RIGHT_DELIM;
            return tmpl_lex_next(l);
        }
        return errorf(l, "unclosed left paren");
    }
    size_t w;
    int32_t r = peek_rune(l, &w);
    if (r < 0) {
        return errorf(l, "unclosed action");
    }
    if (is_space(r)) {
        size_t nspaces = 0;
        while (is_space(peek_byte(l, l->pos))) {
            l->pos++;
            nspaces++;
        }
        /* A trim-marked closing delimiter has a minus after a space. */
        if (peek_byte(l, l->pos) == '-' && has_prefix(l, l->pos + 1, RIGHT_DELIM)) {
            l->pos--; /* before the last space */
            if (nspaces == 1) {
                l->state = LS_RIGHT_DELIM;
                return tmpl_lex_next(l);
            }
        }
        return emit(l, IT_SPACE);
    }
    l->pos += w;
    switch (r) {
    case '=':
        return emit(l, IT_ASSIGN);
    case ':':
        if (peek_byte(l, l->pos) != '=') {
            if (l->pos < l->len) {
                size_t w2;
                peek_rune(l, &w2);
                l->pos += w2;
            }
            return errorf(l, "expected :=");
        }
        l->pos++;
        return emit(l, IT_DECLARE);
    case '|':
        return emit(l, IT_PIPE);
    case '"':
        return lex_quote(l, '"', IT_STRING, "quoted string");
    case '`':
        for (;;) {
            int c = peek_byte(l, l->pos);
            if (c == -1) {
                return errorf(l, "unterminated raw quoted string");
            }
            l->pos++;
            if (c == '`') {
                return emit(l, IT_RAW_STRING);
            }
        }
    case '$':
        return lex_field_or_variable(l, IT_VARIABLE);
    case '\'':
        return lex_quote(l, '\'', IT_CHAR_CONSTANT, "character constant");
    case '(':
        l->paren_depth++;
        return emit(l, IT_LEFT_PAREN);
    case ')':
        l->paren_depth--;
        if (l->paren_depth < 0) {
            return errorf(l, "unexpected right paren");
        }
        return emit(l, IT_RIGHT_PAREN);
    default:
        break;
    }
    if (r == '.') {
        int c = peek_byte(l, l->pos);
        if (c != -1 && (c < '0' || c > '9')) {
            return lex_field_or_variable(l, IT_FIELD);
        }
    }
    if (r == '.' || r == '+' || r == '-' || (r >= '0' && r <= '9')) {
        l->pos -= w;
        return lex_number(l);
    }
    if (rune_is_alnum(r)) {
        l->pos -= w;
        return lex_identifier(l);
    }
    if (r < 0x80 && tmpl_rune_is_print(r)) {
        return emit(l, IT_CHAR);
    }
    char u[32];
    fmt_U(u, sizeof(u), r, l->input + l->pos - w, w);
    return errorf(l, "unrecognized character in action: %s", u);
}

item_t tmpl_lex_next(lexer_t *l)
{
    for (;;) {
        switch (l->state) {
        case LS_TEXT: {
            const char *p = NULL;
            if (l->pos < l->len) {
                p = memmem(l->input + l->pos, l->len - l->pos, LEFT_DELIM, 2);
            }
            if (p != NULL) {
                size_t x = (size_t)(p - l->input);
                l->state = LS_LEFT_DELIM;
                if (x > l->pos) {
                    size_t end = x;
                    if (has_left_trim(l, x + 2)) {
                        while (end > l->start && is_space((unsigned char)l->input[end - 1])) {
                            end--;
                        }
                    }
                    l->pos = x;
                    item_t i = make_item(l, IT_TEXT, l->start, end);
                    l->start = l->pos;
                    if (i.len > 0) {
                        return i;
                    }
                }
                continue;
            }
            l->pos = l->len;
            if (l->pos > l->start) {
                return emit(l, IT_TEXT);
            }
            l->state = LS_DONE;
            return emit(l, IT_EOF);
        }
        case LS_LEFT_DELIM: {
            l->pos += 2;
            bool trim = has_left_trim(l, l->pos);
            size_t after = trim ? 2 : 0;
            if (has_prefix(l, l->pos + after, LEFT_COMMENT)) {
                l->pos += after;
                l->start = l->pos;
                l->pos += 2;
                const char *e = NULL;
                if (l->pos < l->len) {
                    e = memmem(l->input + l->pos, l->len - l->pos, RIGHT_COMMENT, 2);
                }
                if (e == NULL) {
                    return errorf(l, "unclosed comment");
                }
                l->pos = (size_t)(e - l->input) + 2;
                bool rtrim;
                if (!at_right_delim(l, &rtrim)) {
                    return errorf(l, "comment ends before closing delimiter");
                }
                if (rtrim) {
                    l->pos += 2;
                }
                l->pos += 2;
                if (rtrim) {
                    l->pos += left_trim_length(l, l->pos);
                }
                l->start = l->pos;
                l->state = LS_TEXT;
                continue;
            }
            item_t i = make_item(l, IT_LEFT_DELIM, l->pos - 2, l->pos);
            l->pos += after;
            l->start = l->pos;
            l->paren_depth = 0;
            l->state = LS_INSIDE;
            return i;
        }
        case LS_INSIDE:
            return lex_inside(l);
        case LS_RIGHT_DELIM: {
            bool trim;
            at_right_delim(l, &trim);
            if (trim) {
                l->pos += 2;
                l->start = l->pos;
            }
            l->pos += 2;
            item_t i = make_item(l, IT_RIGHT_DELIM, l->start, l->pos);
            if (trim) {
                l->pos += left_trim_length(l, l->pos);
            }
            l->start = l->pos;
            l->state = LS_TEXT;
            return i;
        }
        default: {
            item_t i = {.typ = IT_EOF, .pos = l->len, .val = l->input + l->len, .len = 0};
            i.line = tmpl_line_at(l, l->len);
            return i;
        }
        }
    }
}

void tmpl_item_string(tw_buf_t *b, const item_t *i)
{
    if (i->typ == IT_EOF) {
        tw_buf_puts(b, "EOF");
    } else if (i->typ == IT_ERROR) {
        tw_buf_append(b, i->val, i->len);
    } else if (i->typ > IT_KEYWORD) {
        tw_buf_putc(b, '<');
        tw_buf_append(b, i->val, i->len);
        tw_buf_putc(b, '>');
    } else {
        /* Go: "%.10q..." for values longer than 10 bytes (precision counts runes). */
        size_t n = i->len;
        bool cut = false;
        if (i->len > 10) {
            size_t runes = 0, k = 0;
            while (k < i->len && runes < 10) {
                int32_t r;
                k += tmpl_decode_rune((const unsigned char *)i->val + k, i->len - k, &r);
                runes++;
            }
            n = k;
            cut = true;
        }
        go_quote(b, i->val, n);
        if (cut) {
            tw_buf_puts(b, "...");
        }
    }
}
