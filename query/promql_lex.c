/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_lex.c - the PromQL lexer, and the Go-compatible quoting helpers the parser and the
 * printer share.
 *
 * A port of the state machine of Prometheus' promql/parser/lex.go (3.5) minus the series
 * description states used only by test scripts: statements, inside braces (where keywords are
 * identifiers and `=~`/`!~` are tokens), inside brackets (where `:` is a token), strings with Go
 * escapes, raw strings, numbers (decimal, hex, octal, exponents, Inf/NaN via keywords) and
 * durations. Error texts are lex.go's, so messages match Prometheus. Pure; no I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "query/query_int.h"

#define EOF_RUNE 0xFFFFFFFFu
#define RUNE_ERROR 0xFFFDu

/* Decodes one UTF-8 rune at s[0..n); *w gets its width (1 for invalid bytes). */
static uint32_t decode_rune(const unsigned char *s, size_t n, size_t *w)
{
    if (n == 0) {
        *w = 0;
        return EOF_RUNE;
    }
    unsigned c = s[0];
    if (c < 0x80) {
        *w = 1;
        return c;
    }
    size_t need;
    uint32_t r, min;
    if ((c & 0xE0) == 0xC0) {
        need = 2;
        r = c & 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        need = 3;
        r = c & 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        need = 4;
        r = c & 0x07;
        min = 0x10000;
    } else {
        *w = 1;
        return RUNE_ERROR;
    }
    if (n < need) {
        *w = 1;
        return RUNE_ERROR;
    }
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *w = 1;
            return RUNE_ERROR;
        }
        r = (r << 6) | (s[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) {
        *w = 1;
        return RUNE_ERROR;
    }
    *w = need;
    return r;
}

/* Appends r as UTF-8. */
static int put_rune(tw_buf_t *out, uint32_t r)
{
    char b[4];
    size_t n;
    if (r < 0x80) {
        b[0] = (char)r;
        n = 1;
    } else if (r < 0x800) {
        b[0] = (char)(0xC0 | (r >> 6));
        b[1] = (char)(0x80 | (r & 0x3F));
        n = 2;
    } else if (r < 0x10000) {
        b[0] = (char)(0xE0 | (r >> 12));
        b[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        b[2] = (char)(0x80 | (r & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (r >> 18));
        b[1] = (char)(0x80 | ((r >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((r >> 6) & 0x3F));
        b[3] = (char)(0x80 | (r & 0x3F));
        n = 4;
    }
    return tw_buf_append(out, b, n);
}

/* Approximates Go's unicode.IsPrint: controls and C1 controls are not printable. */
static bool rune_printable(uint32_t r)
{
    if (r < 0x20 || r == 0x7F) {
        return false;
    }
    if (r >= 0x80 && r < 0xA0) {
        return false;
    }
    if (r == 0xAD || r == 0x2028 || r == 0x2029 || r == 0xFEFF) {
        return false;
    }
    return r <= 0x10FFFF;
}

/* Appends the escape of r inside a Go quoted string or rune (quote is '"' or '\''). */
static int quote_one(uint32_t r, size_t width, const unsigned char *raw, char quote, tw_buf_t *out)
{
    if (r == RUNE_ERROR && width == 1) {
        return tw_buf_printf(out, "\\x%02x", raw[0]);
    }
    if (r == (uint32_t)quote || r == '\\') {
        int rc = tw_buf_putc(out, '\\');
        return rc | tw_buf_putc(out, (char)r);
    }
    if (rune_printable(r)) {
        return put_rune(out, r);
    }
    switch (r) {
    case '\a':
        return tw_buf_puts(out, "\\a");
    case '\b':
        return tw_buf_puts(out, "\\b");
    case '\f':
        return tw_buf_puts(out, "\\f");
    case '\n':
        return tw_buf_puts(out, "\\n");
    case '\r':
        return tw_buf_puts(out, "\\r");
    case '\t':
        return tw_buf_puts(out, "\\t");
    case '\v':
        return tw_buf_puts(out, "\\v");
    default:
        break;
    }
    if (r < ' ' || r == 0x7F) {
        return tw_buf_printf(out, "\\x%02x", (unsigned)r);
    }
    if (r < 0x10000) {
        return tw_buf_printf(out, "\\u%04x", (unsigned)r);
    }
    return tw_buf_printf(out, "\\U%08x", (unsigned)r);
}

int tw_promql_go_quote(const char *s, size_t n, tw_buf_t *out)
{
    int rc = tw_buf_putc(out, '"');
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n && rc == 0) {
        size_t w;
        uint32_t r = decode_rune(p + i, n - i, &w);
        rc = quote_one(r, w, p + i, '"', out);
        i += w;
    }
    return rc | tw_buf_putc(out, '"');
}

int tw_promql_go_quote_rune(uint32_t r, tw_buf_t *out)
{
    if (r == EOF_RUNE || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) {
        r = RUNE_ERROR;
    }
    int rc = tw_buf_putc(out, '\'');
    rc |= quote_one(r, 0, NULL, '\'', out);
    return rc | tw_buf_putc(out, '\'');
}

/* Go's %#U: "U+0078 'x'" for printable runes, "U+000A" otherwise. */
static void format_sharp_u(uint32_t r, tw_buf_t *out)
{
    if (r == EOF_RUNE) {
        tw_buf_puts(out, "U+FFFFFFFFFFFFFFFF");
        return;
    }
    tw_buf_printf(out, "U+%04X", (unsigned)r);
    if (rune_printable(r)) {
        tw_buf_puts(out, " '");
        put_rune(out, r);
        tw_buf_putc(out, '\'');
    }
}

bool tw_promql_is_legacy_label(const char *s)
{
    if (s == NULL || s[0] == '\0') {
        return false;
    }
    for (size_t i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '_' || isalpha(c) || (i > 0 && isdigit(c))) || c >= 0x80) {
            return false;
        }
    }
    return true;
}

bool tw_promql_is_legacy_metric(const char *s)
{
    if (s == NULL || s[0] == '\0') {
        return false;
    }
    for (size_t i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '_' || c == ':' || isalpha(c) || (i > 0 && isdigit(c))) || c >= 0x80) {
            return false;
        }
    }
    return true;
}

/* ---- the lexer ---- */

void tw_promql_lexer_init(tw_promql_lexer_t *l, const char *input, size_t len)
{
    memset(l, 0, sizeof(*l));
    l->input = input;
    l->len = len;
}

static uint32_t lx_next(tw_promql_lexer_t *l, size_t *w)
{
    uint32_t r = decode_rune((const unsigned char *)l->input + l->pos, l->len - l->pos, w);
    l->pos += *w;
    return r;
}

static uint32_t lx_peek(const tw_promql_lexer_t *l)
{
    size_t w;
    return decode_rune((const unsigned char *)l->input + l->pos, l->len - l->pos, &w);
}

static bool is_space(uint32_t r)
{
    return r == ' ' || r == '\t' || r == '\n' || r == '\r';
}

static bool is_alpha(uint32_t r)
{
    return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}

static bool is_digit(uint32_t r)
{
    return r >= '0' && r <= '9';
}

static bool is_alnum(uint32_t r)
{
    return is_alpha(r) || is_digit(r);
}

static bool lx_accept(tw_promql_lexer_t *l, const char *valid)
{
    if (l->pos < l->len && l->input[l->pos] != '\0' && strchr(valid, l->input[l->pos]) != NULL) {
        l->pos++;
        return true;
    }
    return false;
}

static void lx_accept_run(tw_promql_lexer_t *l, const char *valid)
{
    while (lx_accept(l, valid)) {
    }
}

static void emit(tw_promql_lexer_t *l, tw_promql_item_t *it, tw_promql_tok_t t)
{
    it->typ = t;
    it->pos = (uint32_t)l->start;
    it->val = l->input + l->start;
    it->len = l->pos - l->start;
    l->start = l->pos;
}

/* Emits an error item at l->start with a formatted message; the lexer stops afterwards. */
__attribute__((format(printf, 3, 4))) static void
lx_errorf(tw_promql_lexer_t *l, tw_promql_item_t *it, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->errbuf, sizeof(l->errbuf), fmt, ap);
    va_end(ap);
    it->typ = TOK_ERROR;
    it->pos = (uint32_t)l->start;
    it->val = l->errbuf;
    it->len = strlen(l->errbuf);
    l->done = true;
}

/* Error with a Go %q rune in it: prefix + 'r' + suffix. */
static void lx_error_rune(tw_promql_lexer_t *l, tw_promql_item_t *it, const char *prefix,
                          uint32_t r, const char *suffix)
{
    tw_buf_t b;
    tw_buf_init(&b, sizeof(l->errbuf) - 1);
    tw_buf_puts(&b, prefix);
    tw_promql_go_quote_rune(r, &b);
    tw_buf_puts(&b, suffix);
    lx_errorf(l, it, "%s", b.data != NULL ? b.data : prefix);
    tw_buf_fini(&b);
}

/* scanNumber of Prometheus 3.5: digits, optional fraction, optional exponent, no trailing
 * alphanumeric. */
static bool scan_number(tw_promql_lexer_t *l)
{
    const char *digits = "0123456789";
    if (lx_accept(l, "0") && lx_accept(l, "xX")) {
        digits = "0123456789abcdefABCDEF";
    }
    lx_accept_run(l, digits);
    if (lx_accept(l, ".")) {
        lx_accept_run(l, digits);
    }
    if (lx_accept(l, "eE")) {
        lx_accept(l, "+-");
        lx_accept_run(l, "0123456789");
    }
    return !is_alnum(lx_peek(l));
}

/* acceptRemainingDuration: a unit, then more <digits><unit> groups, not followed by alnum. */
static bool accept_remaining_duration(tw_promql_lexer_t *l)
{
    if (!lx_accept(l, "smhdwy")) {
        return false;
    }
    lx_accept(l, "s");
    while (lx_accept(l, "0123456789")) {
        lx_accept_run(l, "0123456789");
        if (!lx_accept(l, "smhdw")) {
            return false;
        }
        lx_accept(l, "s");
    }
    size_t w;
    uint32_t r = lx_next(l, &w);
    if (is_alnum(r)) {
        return false;
    }
    l->pos -= w; /* backup */
    return true;
}

static void lex_number_or_duration(tw_promql_lexer_t *l, tw_promql_item_t *it)
{
    if (scan_number(l)) {
        emit(l, it, TOK_NUMBER);
        return;
    }
    if (accept_remaining_duration(l)) {
        emit(l, it, TOK_DURATION);
        return;
    }
    tw_buf_t b;
    tw_buf_init(&b, 200);
    tw_promql_go_quote(l->input + l->start, l->pos - l->start, &b);
    lx_errorf(l, it, "bad number or duration syntax: %s", b.data != NULL ? b.data : "\"\"");
    tw_buf_fini(&b);
}

static int digit_val(uint32_t c)
{
    if (c >= '0' && c <= '9') {
        return (int)(c - '0');
    }
    if (c >= 'a' && c <= 'f') {
        return (int)(c - 'a' + 10);
    }
    if (c >= 'A' && c <= 'F') {
        return (int)(c - 'A' + 10);
    }
    return 16;
}

/* lexEscape: the backslash was consumed. Returns false after emitting an error. */
static bool lex_escape(tw_promql_lexer_t *l, tw_promql_item_t *it, uint32_t quote)
{
    size_t w;
    uint32_t ch = lx_next(l, &w);
    int n;
    uint32_t base, max;
    switch (ch) {
    case 'a':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
    case '\\':
        return true;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
        n = 3;
        base = 8;
        max = 255;
        break;
    case 'x':
        ch = lx_next(l, &w);
        n = 2;
        base = 16;
        max = 255;
        break;
    case 'u':
        ch = lx_next(l, &w);
        n = 4;
        base = 16;
        max = 0x10FFFF;
        break;
    case 'U':
        ch = lx_next(l, &w);
        n = 8;
        base = 16;
        max = 0x10FFFF;
        break;
    case EOF_RUNE:
        lx_errorf(l, it, "escape sequence not terminated");
        return false;
    default:
        if (ch == quote) {
            return true;
        }
        {
            tw_buf_t b;
            tw_buf_init(&b, 100);
            format_sharp_u(ch, &b);
            lx_errorf(l, it, "unknown escape sequence %s", b.data != NULL ? b.data : "");
            tw_buf_fini(&b);
        }
        return false;
    }
    uint32_t x = 0;
    while (n > 0) {
        uint32_t d = (uint32_t)digit_val(ch == EOF_RUNE ? 0x110000 : ch);
        if (d >= base) {
            if (ch == EOF_RUNE) {
                lx_errorf(l, it, "escape sequence not terminated");
                return false;
            }
            tw_buf_t b;
            tw_buf_init(&b, 100);
            format_sharp_u(ch, &b);
            lx_errorf(l, it, "illegal character %s in escape sequence",
                      b.data != NULL ? b.data : "");
            tw_buf_fini(&b);
            return false;
        }
        x = x * base + d;
        n--;
        if (n > 0) {
            ch = lx_next(l, &w);
        }
    }
    if (x > max || (x >= 0xD800 && x < 0xE000)) {
        lx_errorf(l, it, "escape sequence is an invalid Unicode code point");
        return false;
    }
    return true;
}

static void lex_string(tw_promql_lexer_t *l, tw_promql_item_t *it, uint32_t quote)
{
    for (;;) {
        size_t w;
        uint32_t r = lx_next(l, &w);
        if (r == '\\') {
            if (!lex_escape(l, it, quote)) {
                return;
            }
            continue;
        }
        if (r == RUNE_ERROR && w == 1) {
            lx_errorf(l, it, "invalid UTF-8 rune");
            return;
        }
        if (r == EOF_RUNE || r == '\n') {
            lx_errorf(l, it, "unterminated quoted string");
            return;
        }
        if (r == quote) {
            break;
        }
    }
    emit(l, it, TOK_STRING);
}

static void lex_raw_string(tw_promql_lexer_t *l, tw_promql_item_t *it)
{
    for (;;) {
        size_t w;
        uint32_t r = lx_next(l, &w);
        if (r == RUNE_ERROR && w == 1) {
            lx_errorf(l, it, "invalid UTF-8 rune");
            return;
        }
        if (r == EOF_RUNE) {
            lx_errorf(l, it, "unterminated raw string");
            return;
        }
        if (r == '`') {
            break;
        }
    }
    emit(l, it, TOK_STRING);
}

static const struct {
    const char *word;
    tw_promql_tok_t tok;
} keywords[] = {
    {"and", TOK_LAND},
    {"or", TOK_LOR},
    {"unless", TOK_LUNLESS},
    {"atan2", TOK_ATAN2},
    {"sum", TOK_SUM},
    {"avg", TOK_AVG},
    {"count", TOK_COUNT},
    {"min", TOK_MIN},
    {"max", TOK_MAX},
    {"group", TOK_GROUP},
    {"stddev", TOK_STDDEV},
    {"stdvar", TOK_STDVAR},
    {"topk", TOK_TOPK},
    {"bottomk", TOK_BOTTOMK},
    {"count_values", TOK_COUNT_VALUES},
    {"quantile", TOK_QUANTILE},
    {"limitk", TOK_LIMITK},
    {"limit_ratio", TOK_LIMIT_RATIO},
    {"offset", TOK_OFFSET},
    {"by", TOK_BY},
    {"without", TOK_WITHOUT},
    {"on", TOK_ON},
    {"ignoring", TOK_IGNORING},
    {"group_left", TOK_GROUP_LEFT},
    {"group_right", TOK_GROUP_RIGHT},
    {"bool", TOK_BOOL},
    {"start", TOK_START},
    {"end", TOK_END},
    {"inf", TOK_NUMBER},
    {"nan", TOK_NUMBER},
};

static void lex_keyword_or_identifier(tw_promql_lexer_t *l, tw_promql_item_t *it)
{
    bool colon = false;
    for (;;) {
        uint32_t r = lx_peek(l);
        if (is_alnum(r) || r == ':') {
            colon |= r == ':';
            l->pos++;
            continue;
        }
        break;
    }
    size_t n = l->pos - l->start;
    char lower[16];
    if (n < sizeof(lower)) {
        for (size_t i = 0; i < n; i++) {
            lower[i] = (char)tolower((unsigned char)l->input[l->start + i]);
        }
        lower[n] = '\0';
        for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
            if (strcmp(keywords[i].word, lower) == 0) {
                emit(l, it, keywords[i].tok);
                return;
            }
        }
    }
    emit(l, it, colon ? TOK_METRIC_IDENTIFIER : TOK_IDENTIFIER);
}

static void lex_comment(tw_promql_lexer_t *l, tw_promql_item_t *it)
{
    l->pos++;
    while (l->pos < l->len && l->input[l->pos] != '\n' && l->input[l->pos] != '\r') {
        l->pos++;
    }
    emit(l, it, TOK_COMMENT);
}

static void lex_inside_braces(tw_promql_lexer_t *l, tw_promql_item_t *it)
{
    for (;;) {
        if (l->pos < l->len && l->input[l->pos] == '#') {
            lex_comment(l, it);
            return;
        }
        size_t w;
        uint32_t r = lx_next(l, &w);
        if (r == EOF_RUNE) {
            lx_errorf(l, it, "unexpected end of input inside braces");
            return;
        }
        if (is_space(r)) {
            while (is_space(lx_peek(l))) {
                l->pos++;
            }
            l->start = l->pos;
            continue;
        }
        if (is_alpha(r)) {
            while (is_alnum(lx_peek(l))) {
                l->pos++;
            }
            emit(l, it, TOK_IDENTIFIER);
            return;
        }
        switch (r) {
        case ',':
            emit(l, it, TOK_COMMA);
            return;
        case '"':
        case '\'':
            lex_string(l, it, r);
            return;
        case '`':
            lex_raw_string(l, it);
            return;
        case '=':
            if (lx_peek(l) == '~') {
                l->pos++;
                emit(l, it, TOK_EQL_REGEX);
            } else {
                emit(l, it, TOK_EQL);
            }
            return;
        case '!': {
            uint32_t nr = lx_next(l, &w);
            if (nr == '~') {
                emit(l, it, TOK_NEQ_REGEX);
            } else if (nr == '=') {
                emit(l, it, TOK_NEQ);
            } else {
                lx_error_rune(l, it, "unexpected character after '!' inside braces: ", nr, "");
            }
            return;
        }
        case '{':
            lx_error_rune(l, it, "unexpected left brace ", r, "");
            return;
        case '}':
            emit(l, it, TOK_RIGHT_BRACE);
            l->brace_open = false;
            return;
        default:
            lx_error_rune(l, it, "unexpected character inside braces: ", r, "");
            return;
        }
    }
}

void tw_promql_lexer_next(tw_promql_lexer_t *l, tw_promql_item_t *it)
{
    if (l->done) {
        it->typ = TOK_EOF;
        it->pos = (uint32_t)l->len;
        it->val = l->input + l->len;
        it->len = 0;
        return;
    }
    if (l->brace_open) {
        lex_inside_braces(l, it);
        return;
    }
    for (;;) {
        if (l->pos < l->len && l->input[l->pos] == '#') {
            lex_comment(l, it);
            return;
        }
        size_t w;
        uint32_t r = lx_next(l, &w);
        if (r == EOF_RUNE) {
            if (l->paren_depth != 0) {
                lx_errorf(l, it, "unclosed left parenthesis");
            } else if (l->bracket_open) {
                lx_errorf(l, it, "unclosed left bracket");
            } else {
                emit(l, it, TOK_EOF);
                l->done = true;
            }
            return;
        }
        if (is_space(r)) {
            while (is_space(lx_peek(l))) {
                l->pos++;
            }
            l->start = l->pos;
            continue;
        }
        if (is_digit(r) || (r == '.' && is_digit(lx_peek(l)))) {
            l->pos -= w;
            lex_number_or_duration(l, it);
            return;
        }
        if (is_alpha(r) || r == ':') {
            if (!l->bracket_open) {
                l->pos -= w;
                lex_keyword_or_identifier(l, it);
                return;
            }
            if (r == ':') {
                if (l->got_colon) {
                    lx_error_rune(l, it, "unexpected colon ", r, "");
                    return;
                }
                emit(l, it, TOK_COLON);
                l->got_colon = true;
                return;
            }
            lx_error_rune(l, it, "unexpected character: ", r, ", expected ':'");
            return;
        }
        switch (r) {
        case ',':
            emit(l, it, TOK_COMMA);
            return;
        case '*':
            emit(l, it, TOK_MUL);
            return;
        case '/':
            emit(l, it, TOK_DIV);
            return;
        case '%':
            emit(l, it, TOK_MOD);
            return;
        case '+':
            emit(l, it, TOK_ADD);
            return;
        case '-':
            emit(l, it, TOK_SUB);
            return;
        case '^':
            emit(l, it, TOK_POW);
            return;
        case '=': {
            uint32_t t = lx_peek(l);
            if (t == '=') {
                l->pos++;
                emit(l, it, TOK_EQLC);
            } else if (t == '~') {
                lx_error_rune(l, it, "unexpected character after '=': ", t, "");
            } else {
                emit(l, it, TOK_EQL);
            }
            return;
        }
        case '!': {
            uint32_t t = lx_next(l, &w);
            if (t != '=') {
                lx_error_rune(l, it, "unexpected character after '!': ", t, "");
                return;
            }
            emit(l, it, TOK_NEQ);
            return;
        }
        case '<':
            if (lx_peek(l) == '=') {
                l->pos++;
                emit(l, it, TOK_LTE);
            } else {
                emit(l, it, TOK_LSS);
            }
            return;
        case '>':
            if (lx_peek(l) == '=') {
                l->pos++;
                emit(l, it, TOK_GTE);
            } else {
                emit(l, it, TOK_GTR);
            }
            return;
        case '"':
        case '\'':
            lex_string(l, it, r);
            return;
        case '`':
            lex_raw_string(l, it);
            return;
        case '(':
            emit(l, it, TOK_LEFT_PAREN);
            l->paren_depth++;
            return;
        case ')':
            emit(l, it, TOK_RIGHT_PAREN);
            l->paren_depth--;
            if (l->paren_depth < 0) {
                lx_error_rune(l, it, "unexpected right parenthesis ", r, "");
            }
            return;
        case '{':
            emit(l, it, TOK_LEFT_BRACE);
            l->brace_open = true;
            return;
        case '[':
            if (l->bracket_open) {
                lx_error_rune(l, it, "unexpected left bracket ", r, "");
                return;
            }
            l->got_colon = false;
            emit(l, it, TOK_LEFT_BRACKET);
            l->bracket_open = true;
            return;
        case ']':
            if (!l->bracket_open) {
                lx_error_rune(l, it, "unexpected right bracket ", r, "");
                return;
            }
            emit(l, it, TOK_RIGHT_BRACKET);
            l->bracket_open = false;
            return;
        case '@':
            emit(l, it, TOK_AT);
            return;
        default:
            lx_error_rune(l, it, "unexpected character: ", r, "");
            return;
        }
    }
}

/* Item.String() of lex.go. */
static void item_string(const tw_promql_item_t *it, tw_buf_t *out)
{
    if (it->typ == TOK_EOF) {
        tw_buf_puts(out, "EOF");
    } else if (it->typ == TOK_ERROR) {
        tw_buf_append(out, it->val, it->len);
    } else if (it->typ == TOK_IDENTIFIER || it->typ == TOK_METRIC_IDENTIFIER) {
        tw_promql_go_quote(it->val, it->len, out);
    } else if (it->typ > TOK_KEYWORDS_START && it->typ < TOK_KEYWORDS_END) {
        tw_buf_printf(out, "<%.*s>", (int)it->len, it->val);
    } else if (it->typ > TOK_OPERATORS_START && it->typ < TOK_OPERATORS_END) {
        tw_buf_printf(out, "<op:%.*s>", (int)it->len, it->val);
    } else if (it->typ > TOK_AGGREGATORS_START && it->typ < TOK_AGGREGATORS_END) {
        tw_buf_printf(out, "<aggr:%.*s>", (int)it->len, it->val);
    } else {
        /* %.10q: at most 10 runes, then "..." */
        size_t n = 0, runes = 0;
        while (n < it->len && runes < 10) {
            size_t w;
            decode_rune((const unsigned char *)it->val + n, it->len - n, &w);
            n += w;
            runes++;
        }
        tw_promql_go_quote(it->val, n, out);
        if (n < it->len) {
            tw_buf_puts(out, "...");
        }
    }
}

void tw_promql_item_desc(const tw_promql_item_t *it, tw_buf_t *out)
{
    switch (it->typ) {
    case TOK_EOF:
        tw_buf_puts(out, "end of input");
        return;
    case TOK_ERROR:
        tw_buf_puts(out, "error ");
        break;
    case TOK_COMMENT:
        tw_buf_puts(out, "comment ");
        break;
    case TOK_IDENTIFIER:
        tw_buf_puts(out, "identifier ");
        break;
    case TOK_METRIC_IDENTIFIER:
        tw_buf_puts(out, "metric identifier ");
        break;
    case TOK_STRING:
        tw_buf_puts(out, "string ");
        break;
    case TOK_NUMBER:
        tw_buf_puts(out, "number ");
        break;
    case TOK_DURATION:
        tw_buf_puts(out, "duration ");
        break;
    default:
        break; /* tokens with a fixed spelling print as Item.String() */
    }
    item_string(it, out);
}

int tw_promql_unquote(tw_arena_t *a, const char *s, size_t n, char **out, size_t *out_len)
{
    if (n < 2 || s[0] != s[n - 1] || (s[0] != '"' && s[0] != '\'' && s[0] != '`')) {
        return TW_EPARSE;
    }
    char quote = s[0];
    char *dst = tw_arena_alloc(a, n); /* unquoted is never longer than quoted */
    size_t o = 0;
    const char *p = s + 1, *end = s + n - 1;
    if (quote == '`') {
        memcpy(dst, p, (size_t)(end - p));
        o = (size_t)(end - p);
        goto done;
    }
    while (p < end) {
        if (*p != '\\') {
            dst[o++] = *p++;
            continue;
        }
        p++;
        if (p >= end) {
            return TW_EPARSE;
        }
        char c = *p++;
        uint32_t v = 0;
        int digits = 0, base = 16;
        bool rune = false;
        switch (c) {
        case 'a':
            dst[o++] = '\a';
            continue;
        case 'b':
            dst[o++] = '\b';
            continue;
        case 'f':
            dst[o++] = '\f';
            continue;
        case 'n':
            dst[o++] = '\n';
            continue;
        case 'r':
            dst[o++] = '\r';
            continue;
        case 't':
            dst[o++] = '\t';
            continue;
        case 'v':
            dst[o++] = '\v';
            continue;
        case '\\':
        case '\'':
        case '"':
            dst[o++] = c;
            continue;
        case 'x':
            digits = 2;
            break;
        case 'u':
            digits = 4;
            rune = true;
            break;
        case 'U':
            digits = 8;
            rune = true;
            break;
        default:
            if (c >= '0' && c <= '7') {
                digits = 2;
                base = 8;
                v = (uint32_t)(c - '0');
                break;
            }
            return TW_EPARSE;
        }
        for (int i = 0; i < digits; i++) {
            if (p >= end || digit_val((unsigned char)*p) >= base) {
                return TW_EPARSE;
            }
            v = v * (uint32_t)base + (uint32_t)digit_val((unsigned char)*p);
            p++;
        }
        if (!rune) {
            if (v > 255) {
                return TW_EPARSE;
            }
            dst[o++] = (char)v;
            continue;
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) {
            return TW_EPARSE;
        }
        tw_buf_t b;
        tw_buf_init(&b, 8);
        put_rune(&b, v);
        memcpy(dst + o, b.data, b.len); /* a \u escape is >= 6 bytes: room enough */
        o += b.len;
        tw_buf_fini(&b);
    }
done:
    dst[o] = '\0';
    *out = dst;
    *out_len = o;
    return 0;
}
