/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tmpl_funcs.c - what templates can call and how values print: Go's fmt for our value kinds
 * (Print, Sprintf's verbs, flags, width and precision, the %!v(...) complaints, shortest float
 * formatting), strconv.Quote, text/template's builtins (and, or, not, len, index, slice, print,
 * printf, println, html, js, urlquery, eq, ne, lt, le, gt, ge, call) and Prometheus 2.42's
 * template functions (template/template.go: query, first, label, value, strvalue, args,
 * reReplaceAll, safeHtml, match, title, toUpper, toLower, graphLink, tableLink, sortByLabel,
 * stripPort, stripDomain, humanize, humanize1024, humanizeDuration, humanizePercentage,
 * humanizeTimestamp, pathPrefix, externalURL, parseDuration), each with Go's output and error
 * text. No clock: humanizeTimestamp formats the value it is given; `query` goes through the
 * environment's query source.
 */
#include <arpa/inet.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timeutil.h"
#include "rules_int.h"

/* ---- type names ---- */

const char *tval_type(const tval_t *v)
{
    switch (v->kind) {
    case TW_TV_NIL:
        return "<nil>";
    case TW_TV_BOOL:
        return "bool";
    case TW_TV_INT:
        return v->type ? v->type : "int";
    case TW_TV_UINT:
        return v->type ? v->type : "uint";
    case TW_TV_FLOAT:
        return "float64";
    case TW_TV_STRING:
        return v->type ? v->type : "string";
    case TW_TV_MAP:
        return "map[string]string";
    case TW_TV_DICT:
        return "map[string]interface {}";
    case TW_TV_LIST:
        return v->type ? v->type : "[]interface {}";
    case TW_TV_SAMPLE:
        return "*template.sample";
    case TW_TV_SAMPLES:
        return "template.queryResult";
    case TW_TV_STRUCT:
        return v->type ? v->type : "struct {}";
    }
    return "?";
}

const char *tmpl_param_type(param_t p)
{
    switch (p) {
    case P_ANY:
        return "interface {}";
    case P_VALUE:
        return "reflect.Value";
    case P_STRING:
        return "string";
    case P_FLOAT:
        return "float64";
    case P_INT:
        return "int";
    case P_SAMPLE:
        return "*template.sample";
    case P_SAMPLES:
        return "template.queryResult";
    }
    return "?";
}

static bool is_go_string(const tval_t *v)
{
    return v->kind == TW_TV_STRING && (v->type == NULL || strcmp(v->type, "string") == 0);
}

/* ---- strconv ---- */

static void quote_with(tw_buf_t *b, const char *s, size_t len, char q, bool ascii)
{
    static const char hex[] = "0123456789abcdef";
    tw_buf_putc(b, q);
    size_t i = 0;
    while (i < len) {
        int32_t r;
        size_t w = tmpl_decode_rune((const unsigned char *)s + i, len - i, &r);
        if (w == 1 && r == 0xFFFD) {
            unsigned char c = (unsigned char)s[i];
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            tw_buf_append(b, e, 4);
            i++;
            continue;
        }
        if (r == q || r == '\\') {
            tw_buf_putc(b, '\\');
            tw_buf_putc(b, (char)r);
        } else if (r < 0x80 ? tmpl_rune_is_print(r) : (!ascii && tmpl_rune_is_print(r))) {
            tw_buf_append(b, s + i, w);
        } else {
            switch (r) {
            case '\a':
                tw_buf_puts(b, "\\a");
                break;
            case '\b':
                tw_buf_puts(b, "\\b");
                break;
            case '\f':
                tw_buf_puts(b, "\\f");
                break;
            case '\n':
                tw_buf_puts(b, "\\n");
                break;
            case '\r':
                tw_buf_puts(b, "\\r");
                break;
            case '\t':
                tw_buf_puts(b, "\\t");
                break;
            case '\v':
                tw_buf_puts(b, "\\v");
                break;
            default:
                if (r < ' ' || r == 0x7F) {
                    tw_buf_printf(b, "\\x%02x", (unsigned)r);
                } else if (r < 0x10000) {
                    tw_buf_printf(b, "\\u%04x", (unsigned)r);
                } else {
                    tw_buf_printf(b, "\\U%08x", (unsigned)r);
                }
            }
        }
        i += w;
    }
    tw_buf_putc(b, q);
}

void go_quote(tw_buf_t *b, const char *s, size_t len)
{
    quote_with(b, s, len, '"', false);
}

/* strconv.CanBackquote */
static bool can_backquote(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        int32_t r;
        size_t w = tmpl_decode_rune((const unsigned char *)s + i, len - i, &r);
        if ((w == 1 && r == 0xFFFD) || r == '`' || r == 0xFEFF || (r < ' ' && r != '\t') ||
            r == 0x7F) {
            return false;
        }
        i += w;
    }
    return true;
}

void go_format_float(tw_buf_t *b, double v, char verb, int prec)
{
    if (isnan(v)) {
        tw_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        tw_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    bool upper = verb == 'E' || verb == 'G';
    char lv = (char)(verb | 0x20);
    if (lv == 'v') {
        lv = 'g';
    }
    char tmp[64];
    if (prec >= 0) {
        if (lv == 'g' && prec == 0) {
            prec = 1;
        }
        tw_buf_t t;
        tw_buf_init(&t, 0);
        switch (lv) {
        case 'e':
            tw_buf_printf(&t, upper ? "%.*E" : "%.*e", prec, v);
            break;
        case 'f':
            tw_buf_printf(&t, "%.*f", prec, v);
            break;
        default:
            tw_buf_printf(&t, upper ? "%.*G" : "%.*g", prec, v);
        }
        tw_buf_append(b, t.data, t.len);
        tw_buf_fini(&t);
        return;
    }
    /* Shortest: the fewest digits that read back as v, then Go's %e/%f choice. */
    int p;
    for (p = 0; p < 17; p++) {
        snprintf(tmp, sizeof(tmp), "%.*e", p, v);
        if (strtod(tmp, NULL) == v) {
            break;
        }
    }
    int nd = p + 1;
    const char *e = strchr(tmp, 'e');
    int exp = e != NULL ? (int)strtol(e + 1, NULL, 10) : 0;
    bool use_e;
    if (lv == 'e') {
        use_e = true;
    } else if (lv == 'f') {
        use_e = false;
    } else {
        use_e = exp < -4 || exp >= 6;
        if (v == 0) {
            use_e = false;
        }
    }
    if (use_e) {
        snprintf(tmp, sizeof(tmp), upper ? "%.*E" : "%.*e", nd - 1, v);
        tw_buf_puts(b, tmp);
    } else {
        int dec = nd - (exp + 1);
        if (dec < 0) {
            dec = 0;
        }
        tw_buf_t t;
        tw_buf_init(&t, 0);
        tw_buf_printf(&t, "%.*f", dec, v);
        tw_buf_append(b, t.data, t.len);
        tw_buf_fini(&t);
    }
}

/* ---- printing values (fmt's %v) ---- */

static void print_v(tw_buf_t *b, const tval_t *v, int depth)
{
    switch (v->kind) {
    case TW_TV_NIL:
        tw_buf_puts(b, "<nil>");
        break;
    case TW_TV_BOOL:
        tw_buf_puts(b, v->u.b ? "true" : "false");
        break;
    case TW_TV_INT:
        tw_buf_printf(b, "%lld", (long long)v->u.i);
        break;
    case TW_TV_UINT:
        tw_buf_printf(b, "%llu", (unsigned long long)v->u.u);
        break;
    case TW_TV_FLOAT:
        go_format_float(b, v->u.f, 'g', -1);
        break;
    case TW_TV_STRING:
        tw_buf_append(b, v->u.s.p, v->u.s.len);
        break;
    case TW_TV_MAP:
        tw_buf_puts(b, "map[");
        for (size_t i = 0; i < v->u.map.n; i++) {
            tw_buf_printf(b, "%s%s:%s", i ? " " : "", v->u.map.labels[i].name,
                          v->u.map.labels[i].value);
        }
        tw_buf_putc(b, ']');
        break;
    case TW_TV_DICT:
        tw_buf_puts(b, "map[");
        for (size_t i = 0; i < v->u.dict.n; i++) {
            tw_buf_printf(b, "%s%s:", i ? " " : "", v->u.dict.keys[i]);
            print_v(b, &v->u.dict.vals[i], depth + 1);
        }
        tw_buf_putc(b, ']');
        break;
    case TW_TV_LIST:
    case TW_TV_SAMPLES:
        tw_buf_putc(b, '[');
        for (size_t i = 0; i < v->u.list.n; i++) {
            if (i) {
                tw_buf_putc(b, ' ');
            }
            print_v(b, &v->u.list.items[i], depth + 1);
        }
        tw_buf_putc(b, ']');
        break;
    case TW_TV_SAMPLE:
        if (depth > 0) {
            tw_buf_putc(b, '&');
        }
        tw_buf_puts(b, "{map[");
        for (size_t i = 0; i < v->u.sample.n; i++) {
            tw_buf_printf(b, "%s%s:%s", i ? " " : "", v->u.sample.labels[i].name,
                          v->u.sample.labels[i].value);
        }
        tw_buf_puts(b, "] ");
        go_format_float(b, v->u.sample.v, 'g', -1);
        tw_buf_putc(b, '}');
        break;
    case TW_TV_STRUCT:
        tw_buf_putc(b, '{');
        for (size_t i = 0; i < v->u.dict.n; i++) {
            if (i) {
                tw_buf_putc(b, ' ');
            }
            print_v(b, &v->u.dict.vals[i], depth + 1);
        }
        tw_buf_putc(b, '}');
        break;
    }
}

void go_print_value(tw_buf_t *b, const tval_t *v)
{
    print_v(b, v, 0);
}

/* fmt.Sprint: spaces between operands when neither is a string. */
static void go_sprint(tw_buf_t *b, const tval_t *const *args, size_t n, bool ln, size_t cap)
{
    for (size_t i = 0; i < n && b->len <= cap; i++) {
        if (i > 0 && (ln || (!is_go_string(args[i - 1]) && args[i - 1]->kind != TW_TV_STRING &&
                             args[i]->kind != TW_TV_STRING))) {
            tw_buf_putc(b, ' ');
        }
        print_v(b, args[i], 0);
    }
    if (ln) {
        tw_buf_putc(b, '\n');
    }
}

/* ---- fmt.Sprintf ---- */

typedef struct fspec {
    bool minus, plus, sharp, zero, space;
    int width; /* -1: none */
    int prec;  /* -1: none */
    char verb;
} fspec_t;

static void pad(tw_buf_t *b, const fspec_t *f, const char *s, size_t n, bool numeric)
{
    size_t runes = 0;
    for (size_t i = 0; i < n; i++) {
        runes += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    size_t w = f->width > 0 ? (size_t)f->width : 0;
    if (runes >= w) {
        tw_buf_append(b, s, n);
        return;
    }
    size_t fill = w - runes;
    if (f->minus) {
        tw_buf_append(b, s, n);
        for (size_t i = 0; i < fill; i++) {
            tw_buf_putc(b, ' ');
        }
        return;
    }
    if (f->zero && numeric) {
        size_t lead = 0;
        if (n > 0 && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) {
            lead = 1;
        }
        tw_buf_append(b, s, lead);
        for (size_t i = 0; i < fill; i++) {
            tw_buf_putc(b, '0');
        }
        tw_buf_append(b, s + lead, n - lead);
        return;
    }
    for (size_t i = 0; i < fill; i++) {
        tw_buf_putc(b, f->zero && !numeric ? '0' : ' ');
    }
    tw_buf_append(b, s, n);
}

static void bad_verb(tw_buf_t *b, char verb, const tval_t *v)
{
    tw_buf_printf(b, "%%!%c(", verb);
    if (v->kind == TW_TV_NIL) {
        tw_buf_puts(b, "<nil>");
    } else {
        tw_buf_printf(b, "%s=", tval_type(v));
        print_v(b, v, 0);
    }
    tw_buf_putc(b, ')');
}

static void fmt_integer(tw_buf_t *b, const fspec_t *f, bool neg, uint64_t mag, const tval_t *v)
{
    char digits[80];
    size_t n = 0;
    unsigned base = 10;
    const char *set = "0123456789abcdefx";
    switch (f->verb) {
    case 'd':
    case 'v':
        break;
    case 'b':
        base = 2;
        break;
    case 'o':
    case 'O':
        base = 8;
        break;
    case 'x':
        base = 16;
        break;
    case 'X':
        base = 16;
        set = "0123456789ABCDEFX";
        break;
    case 'c': {
        tw_buf_t t;
        tw_buf_init(&t, 0);
        uint64_t r = neg ? 0xFFFD : mag;
        if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) {
            r = 0xFFFD;
        }
        char u[4];
        size_t w;
        if (r < 0x80) {
            u[0] = (char)r;
            w = 1;
        } else if (r < 0x800) {
            u[0] = (char)(0xC0 | (r >> 6));
            u[1] = (char)(0x80 | (r & 0x3F));
            w = 2;
        } else if (r < 0x10000) {
            u[0] = (char)(0xE0 | (r >> 12));
            u[1] = (char)(0x80 | ((r >> 6) & 0x3F));
            u[2] = (char)(0x80 | (r & 0x3F));
            w = 3;
        } else {
            u[0] = (char)(0xF0 | (r >> 18));
            u[1] = (char)(0x80 | ((r >> 12) & 0x3F));
            u[2] = (char)(0x80 | ((r >> 6) & 0x3F));
            u[3] = (char)(0x80 | (r & 0x3F));
            w = 4;
        }
        pad(b, f, u, w, false);
        tw_buf_fini(&t);
        return;
    }
    case 'q': {
        tw_buf_t t;
        tw_buf_init(&t, 0);
        char u[8];
        uint64_t r = neg || mag > 0x10FFFF ? 0xFFFD : mag;
        size_t w = 0;
        if (r < 0x80) {
            u[w++] = (char)r;
        } else if (r < 0x800) {
            u[w++] = (char)(0xC0 | (r >> 6));
            u[w++] = (char)(0x80 | (r & 0x3F));
        } else if (r < 0x10000) {
            u[w++] = (char)(0xE0 | (r >> 12));
            u[w++] = (char)(0x80 | ((r >> 6) & 0x3F));
            u[w++] = (char)(0x80 | (r & 0x3F));
        } else {
            u[w++] = (char)(0xF0 | (r >> 18));
            u[w++] = (char)(0x80 | ((r >> 12) & 0x3F));
            u[w++] = (char)(0x80 | ((r >> 6) & 0x3F));
            u[w++] = (char)(0x80 | (r & 0x3F));
        }
        quote_with(&t, u, w, '\'', f->plus);
        pad(b, f, t.data, t.len, false);
        tw_buf_fini(&t);
        return;
    }
    case 'U': {
        char u[40];
        int k = snprintf(u, sizeof(u), "U+%04llX", (unsigned long long)mag);
        pad(b, f, u, (size_t)k, false);
        return;
    }
    default:
        bad_verb(b, f->verb, v);
        return;
    }
    char rev[72];
    size_t r = 0;
    uint64_t m = mag;
    do {
        rev[r++] = set[m % base];
        m /= base;
    } while (m > 0);
    size_t mind = f->prec >= 0 ? (size_t)f->prec : 0;
    if (f->prec == 0 && mag == 0) {
        r = 0;
    }
    while (r < mind && r < sizeof(rev)) {
        rev[r++] = '0';
    }
    if (neg) {
        digits[n++] = '-';
    } else if (f->plus) {
        digits[n++] = '+';
    } else if (f->space) {
        digits[n++] = ' ';
    }
    if (f->sharp) {
        if (base == 16) {
            digits[n++] = '0';
            digits[n++] = set[16];
        } else if (base == 8 && (r == 0 || rev[r - 1] != '0')) {
            digits[n++] = '0';
        } else if (base == 2) {
            digits[n++] = '0';
            digits[n++] = 'b';
        }
    }
    if (f->verb == 'O') {
        digits[n++] = '0';
        digits[n++] = 'o';
    }
    while (r > 0) {
        digits[n++] = rev[--r];
    }
    fspec_t g = *f;
    if (f->prec >= 0) {
        g.zero = false;
    }
    pad(b, &g, digits, n, true);
}

static void fmt_float(tw_buf_t *b, const fspec_t *f, double x, const tval_t *v)
{
    char verb = f->verb;
    switch (verb) {
    case 'v':
    case 'g':
    case 'G':
    case 'e':
    case 'E':
    case 'f':
    case 'F':
        break;
    default:
        bad_verb(b, verb, v);
        return;
    }
    tw_buf_t t;
    tw_buf_init(&t, 0);
    int prec = f->prec;
    if (prec < 0 && (verb == 'e' || verb == 'E' || verb == 'f' || verb == 'F')) {
        prec = 6;
    }
    if (!isnan(x) && !isinf(x) && !signbit(x)) {
        if (f->plus) {
            tw_buf_putc(&t, '+');
        } else if (f->space) {
            tw_buf_putc(&t, ' ');
        }
    } else if (isnan(x) && (f->plus || f->space)) {
        tw_buf_putc(&t, f->plus ? '+' : ' ');
    }
    go_format_float(&t, x, verb == 'F' ? 'f' : verb, prec);
    fspec_t g = *f;
    if (isnan(x) || isinf(x)) {
        g.zero = false;
    }
    pad(b, &g, t.data ? t.data : "", t.len, true);
    tw_buf_fini(&t);
}

static void fmt_string(tw_buf_t *b, const fspec_t *f, const char *s, size_t n, const tval_t *v)
{
    switch (f->verb) {
    case 'v':
    case 's': {
        size_t len = n;
        if (f->prec >= 0) {
            size_t runes = 0, i = 0;
            while (i < n && runes < (size_t)f->prec) {
                int32_t r;
                i += tmpl_decode_rune((const unsigned char *)s + i, n - i, &r);
                runes++;
            }
            len = i;
        }
        pad(b, f, s, len, false);
        return;
    }
    case 'q': {
        tw_buf_t t;
        tw_buf_init(&t, 0);
        if (f->sharp && can_backquote(s, n)) {
            tw_buf_putc(&t, '`');
            tw_buf_append(&t, s, n);
            tw_buf_putc(&t, '`');
        } else {
            quote_with(&t, s, n, '"', f->plus);
        }
        pad(b, f, t.data, t.len, false);
        tw_buf_fini(&t);
        return;
    }
    case 'x':
    case 'X': {
        const char *hx = f->verb == 'x' ? "0123456789abcdef" : "0123456789ABCDEF";
        tw_buf_t t;
        tw_buf_init(&t, 0);
        size_t len = n;
        if (f->prec >= 0 && (size_t)f->prec < len) {
            len = (size_t)f->prec;
        }
        for (size_t i = 0; i < len; i++) {
            if (f->space && i > 0) {
                tw_buf_putc(&t, ' ');
            }
            if (f->sharp && (f->space || i == 0)) {
                tw_buf_putc(&t, '0');
                tw_buf_putc(&t, f->verb);
            }
            unsigned char c = (unsigned char)s[i];
            tw_buf_putc(&t, hx[c >> 4]);
            tw_buf_putc(&t, hx[c & 15]);
        }
        pad(b, f, t.data ? t.data : "", t.len, false);
        tw_buf_fini(&t);
        return;
    }
    default:
        bad_verb(b, f->verb, v);
    }
}

static void fmt_arg(tw_buf_t *b, const fspec_t *f, const tval_t *v)
{
    switch (v->kind) {
    case TW_TV_NIL:
        if (f->verb == 'v') {
            pad(b, f, "<nil>", 5, false);
        } else {
            bad_verb(b, f->verb, v);
        }
        return;
    case TW_TV_BOOL:
        if (f->verb == 'v' || f->verb == 't') {
            pad(b, f, v->u.b ? "true" : "false", v->u.b ? 4 : 5, false);
        } else {
            bad_verb(b, f->verb, v);
        }
        return;
    case TW_TV_INT: {
        bool neg = v->u.i < 0;
        uint64_t mag = neg ? (uint64_t)0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
        fmt_integer(b, f, neg, mag, v);
        return;
    }
    case TW_TV_UINT:
        fmt_integer(b, f, false, v->u.u, v);
        return;
    case TW_TV_FLOAT:
        fmt_float(b, f, v->u.f, v);
        return;
    case TW_TV_STRING:
        fmt_string(b, f, v->u.s.p, v->u.s.len, v);
        return;
    default:
        if (f->verb == 'v' || f->verb == 's') {
            tw_buf_t t;
            tw_buf_init(&t, 0);
            print_v(&t, v, 0);
            pad(b, f, t.data ? t.data : "", t.len, false);
            tw_buf_fini(&t);
        } else {
            bad_verb(b, f->verb, v);
        }
    }
}

static void go_sprintf(tw_buf_t *b, const char *fmt, size_t flen, const tval_t *const *args,
                       size_t nargs, size_t cap)
{
    size_t argi = 0;
    size_t i = 0;
    while (i < flen && b->len <= cap) {
        if (fmt[i] != '%') {
            size_t j = i;
            while (j < flen && fmt[j] != '%') {
                j++;
            }
            tw_buf_append(b, fmt + i, j - i);
            i = j;
            continue;
        }
        i++;
        fspec_t f = {.width = -1, .prec = -1};
        for (; i < flen; i++) {
            char c = fmt[i];
            if (c == '-') {
                f.minus = true;
                f.zero = false;
            } else if (c == '+') {
                f.plus = true;
            } else if (c == '#') {
                f.sharp = true;
            } else if (c == '0') {
                f.zero = !f.minus;
            } else if (c == ' ') {
                f.space = true;
            } else {
                break;
            }
        }
        if (i < flen && fmt[i] == '*') {
            i++;
            if (argi < nargs && args[argi]->kind == TW_TV_INT) {
                int64_t w = args[argi++]->u.i;
                if (w < 0) {
                    f.minus = true;
                    f.zero = false;
                    w = -w;
                }
                f.width = w > 1000000 ? 1000000 : (int)w;
            } else {
                argi++;
                tw_buf_puts(b, "%!(BADWIDTH)");
            }
        } else {
            while (i < flen && fmt[i] >= '0' && fmt[i] <= '9') {
                int d = fmt[i++] - '0';
                f.width = f.width < 0 ? d : (f.width > 100000 ? f.width : f.width * 10 + d);
            }
        }
        if (i < flen && fmt[i] == '.') {
            i++;
            if (i < flen && fmt[i] == '*') {
                i++;
                if (argi < nargs && args[argi]->kind == TW_TV_INT && args[argi]->u.i >= 0) {
                    int64_t p = args[argi++]->u.i;
                    f.prec = p > 1000000 ? 1000000 : (int)p;
                } else {
                    argi++;
                    tw_buf_puts(b, "%!(BADPREC)");
                }
            } else {
                f.prec = 0;
                while (i < flen && fmt[i] >= '0' && fmt[i] <= '9') {
                    int d = fmt[i++] - '0';
                    f.prec = f.prec > 100000 ? f.prec : f.prec * 10 + d;
                }
            }
        }
        if (i >= flen) {
            tw_buf_puts(b, "%!(NOVERB)");
            break;
        }
        int32_t r;
        size_t w = tmpl_decode_rune((const unsigned char *)fmt + i, flen - i, &r);
        i += w;
        if (r == '%') {
            tw_buf_putc(b, '%');
            continue;
        }
        if (r >= 0x80) {
            tw_buf_puts(b, "%!");
            tw_buf_append(b, fmt + i - w, w);
            if (argi < nargs) {
                const tval_t *v = args[argi++];
                tw_buf_printf(b, "(%s=", tval_type(v));
                print_v(b, v, 0);
                tw_buf_putc(b, ')');
            } else {
                tw_buf_puts(b, "(MISSING)");
            }
            continue;
        }
        f.verb = (char)r;
        if (argi >= nargs) {
            tw_buf_printf(b, "%%!%c(MISSING)", f.verb);
            continue;
        }
        fmt_arg(b, &f, args[argi++]);
    }
    if (argi < nargs) {
        tw_buf_puts(b, "%!(EXTRA ");
        for (size_t k = argi; k < nargs; k++) {
            if (k > argi) {
                tw_buf_puts(b, ", ");
            }
            if (args[k]->kind == TW_TV_NIL) {
                tw_buf_puts(b, "<nil>");
            } else {
                tw_buf_printf(b, "%s=", tval_type(args[k]));
                print_v(b, args[k], 0);
            }
        }
        tw_buf_putc(b, ')');
    }
}

/* ---- helpers for functions ---- */

#define FN(name)                                                                                   \
    static const tval_t *name(tstate_t *s, const tval_t *const *a, size_t n, tw_buf_t *errmsg)

static const tval_t *fail(tw_buf_t *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const tval_t *fail(tw_buf_t *errmsg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tw_buf_vprintf(errmsg, fmt, ap);
    va_end(ap);
    return NULL;
}

/* Builds a string value from a scratch buffer bounded like any string. */
static const tval_t *str_result(tstate_t *s, tw_buf_t *t)
{
    if (t->len > s->lim.max_output_bytes) {
        tw_buf_fini(t);
        tmpl_exec_fail(s, TW_ELIMIT, "string longer than the limit of %zu bytes",
                       s->lim.max_output_bytes);
    }
    const tval_t *v = tv_strbuf(s, t);
    tw_buf_fini(t);
    return v;
}

/* ---- builtins ---- */

FN(fn_not)
{
    (void)n;
    (void)errmsg;
    bool ok;
    return tv_bool(s, !tmpl_truth(a[0], &ok));
}

FN(fn_len)
{
    (void)n;
    const tval_t *v = a[0];
    switch (v->kind) {
    case TW_TV_NIL:
        return fail(errmsg, "reflect: call of reflect.Value.Type on zero Value");
    case TW_TV_STRING:
        return tv_int(s, (int64_t)v->u.s.len);
    case TW_TV_MAP:
        return tv_int(s, (int64_t)v->u.map.n);
    case TW_TV_DICT:
        return tv_int(s, (int64_t)v->u.dict.n);
    case TW_TV_LIST:
    case TW_TV_SAMPLES:
        return tv_int(s, (int64_t)v->u.list.n);
    case TW_TV_SAMPLE:
        return fail(errmsg, "len of type template.sample");
    default:
        return fail(errmsg, "len of type %s", tval_type(v));
    }
}

/* indexArg: an int index in [0, cap]. */
static bool index_arg(const tval_t *idx, size_t cap, int64_t *out, tw_buf_t *errmsg)
{
    int64_t x;
    if (idx->kind == TW_TV_INT) {
        x = idx->u.i;
    } else if (idx->kind == TW_TV_UINT) {
        x = (int64_t)idx->u.u;
    } else if (idx->kind == TW_TV_NIL) {
        fail(errmsg, "cannot index slice/array with nil");
        return false;
    } else {
        fail(errmsg, "cannot index slice/array with type %s", tval_type(idx));
        return false;
    }
    if (x < 0 || (uint64_t)x > cap) {
        fail(errmsg, "index out of range: %lld", (long long)x);
        return false;
    }
    *out = x;
    return true;
}

FN(fn_index)
{
    const tval_t *item = a[0];
    if (item->kind == TW_TV_NIL) {
        return fail(errmsg, "index of untyped nil");
    }
    for (size_t k = 1; k < n; k++) {
        const tval_t *idx = a[k];
        int64_t x;
        switch (item->kind) {
        case TW_TV_LIST:
        case TW_TV_SAMPLES:
            if (!index_arg(idx, item->u.list.n, &x, errmsg)) {
                return NULL;
            }
            if ((size_t)x == item->u.list.n) {
                return fail(errmsg, "reflect: slice index out of range");
            }
            item = &item->u.list.items[x];
            break;
        case TW_TV_STRING: {
            if (!index_arg(idx, item->u.s.len, &x, errmsg)) {
                return NULL;
            }
            if ((size_t)x == item->u.s.len) {
                return fail(errmsg, "reflect: string index out of range");
            }
            tval_t *u = tv_new(s, TW_TV_UINT);
            u->type = "uint8";
            u->u.u = (unsigned char)item->u.s.p[x];
            item = u;
            break;
        }
        case TW_TV_MAP:
        case TW_TV_DICT: {
            if (idx->kind == TW_TV_NIL) {
                return fail(errmsg, "value is nil; should be of type string");
            }
            if (!is_go_string(idx)) {
                return fail(errmsg, "value has type %s; should be string", tval_type(idx));
            }
            char *key = tmpl_alloc(s, idx->u.s.len + 1);
            memcpy(key, idx->u.s.p, idx->u.s.len);
            key[idx->u.s.len] = '\0';
            if (item->kind == TW_TV_MAP) {
                const char *v = NULL;
                if (strlen(key) == idx->u.s.len) {
                    v = tw_labels_get(item->u.map.labels, item->u.map.n, key);
                }
                item = tv_str(s, v ? v : "", v ? strlen(v) : 0);
            } else {
                const tval_t *found = &tmpl_nil_value;
                for (size_t i = 0; i < item->u.dict.n; i++) {
                    if (strcmp(item->u.dict.keys[i], key) == 0) {
                        found = &item->u.dict.vals[i];
                        break;
                    }
                }
                item = found;
            }
            break;
        }
        case TW_TV_NIL:
            return &tmpl_nil_value; /* a missing dict entry indexed further: Go panics too */
        case TW_TV_SAMPLE:
            return fail(errmsg, "can't index item of type template.sample");
        default:
            return fail(errmsg, "can't index item of type %s", tval_type(item));
        }
    }
    return item;
}

FN(fn_slice)
{
    const tval_t *item = a[0];
    if (item->kind == TW_TV_NIL) {
        return fail(errmsg, "slice of untyped nil");
    }
    if (n - 1 > 3) {
        return fail(errmsg, "too many slice indexes: %zu", n - 1);
    }
    size_t len;
    if (item->kind == TW_TV_STRING) {
        if (n - 1 == 3) {
            return fail(errmsg, "cannot 3-index slice a string");
        }
        len = item->u.s.len;
    } else if (item->kind == TW_TV_LIST || item->kind == TW_TV_SAMPLES) {
        len = item->u.list.n;
    } else {
        return fail(errmsg, "can't slice item of type %s", tval_type(item));
    }
    int64_t idx[3] = {0, (int64_t)len, (int64_t)len};
    for (size_t k = 1; k < n; k++) {
        if (!index_arg(a[k], len, &idx[k - 1], errmsg)) {
            return NULL;
        }
    }
    if (idx[0] > idx[1]) {
        return fail(errmsg, "invalid slice index: %lld > %lld", (long long)idx[0],
                    (long long)idx[1]);
    }
    if (n - 1 == 3 && idx[1] > idx[2]) {
        return fail(errmsg, "invalid slice index: %lld > %lld", (long long)idx[1],
                    (long long)idx[2]);
    }
    if (item->kind == TW_TV_STRING) {
        return tv_str(s, item->u.s.p + idx[0], (size_t)(idx[1] - idx[0]));
    }
    tval_t *r = tv_new(s, item->kind);
    r->type = item->type;
    r->u.list.items = item->u.list.items + idx[0];
    r->u.list.n = (size_t)(idx[1] - idx[0]);
    return r;
}

FN(fn_print)
{
    (void)errmsg;
    tw_buf_t t;
    tw_buf_init(&t, 0);
    go_sprint(&t, a, n, false, s->lim.max_output_bytes);
    return str_result(s, &t);
}

FN(fn_println)
{
    (void)errmsg;
    tw_buf_t t;
    tw_buf_init(&t, 0);
    go_sprint(&t, a, n, true, s->lim.max_output_bytes);
    return str_result(s, &t);
}

FN(fn_printf)
{
    (void)errmsg;
    tw_buf_t t;
    tw_buf_init(&t, 0);
    go_sprintf(&t, a[0]->u.s.p, a[0]->u.s.len, a + 1, n - 1, s->lim.max_output_bytes);
    return str_result(s, &t);
}

/* evalArgs of html/js/urlquery: one string as is, else fmt.Sprint. */
static void eval_args(tw_buf_t *t, const tval_t *const *a, size_t n, size_t cap)
{
    if (n == 1 && is_go_string(a[0])) {
        tw_buf_append(t, a[0]->u.s.p, a[0]->u.s.len);
        return;
    }
    go_sprint(t, a, n, false, cap);
}

FN(fn_html)
{
    (void)errmsg;
    tw_buf_t in, t;
    tw_buf_init(&in, 0);
    tw_buf_init(&t, 0);
    eval_args(&in, a, n, s->lim.max_output_bytes);
    for (size_t i = 0; i < in.len; i++) {
        switch (in.data[i]) {
        case '"':
            tw_buf_puts(&t, "&#34;");
            break;
        case '\'':
            tw_buf_puts(&t, "&#39;");
            break;
        case '&':
            tw_buf_puts(&t, "&amp;");
            break;
        case '<':
            tw_buf_puts(&t, "&lt;");
            break;
        case '>':
            tw_buf_puts(&t, "&gt;");
            break;
        case '\0':
            tw_buf_puts(&t, "\xef\xbf\xbd");
            break;
        default:
            tw_buf_putc(&t, in.data[i]);
        }
    }
    tw_buf_fini(&in);
    return str_result(s, &t);
}

FN(fn_js)
{
    (void)errmsg;
    static const char hex[] = "0123456789ABCDEF";
    tw_buf_t in, t;
    tw_buf_init(&in, 0);
    tw_buf_init(&t, 0);
    eval_args(&in, a, n, s->lim.max_output_bytes);
    for (size_t i = 0; i < in.len;) {
        unsigned char c = (unsigned char)in.data[i];
        if (c < 0x80) {
            switch (c) {
            case '\\':
                tw_buf_puts(&t, "\\\\");
                break;
            case '\'':
                tw_buf_puts(&t, "\\'");
                break;
            case '"':
                tw_buf_puts(&t, "\\\"");
                break;
            case '<':
                tw_buf_puts(&t, "\\u003C");
                break;
            case '>':
                tw_buf_puts(&t, "\\u003E");
                break;
            case '&':
                tw_buf_puts(&t, "\\u0026");
                break;
            case '=':
                tw_buf_puts(&t, "\\u003D");
                break;
            default:
                if (c < ' ') {
                    char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                    tw_buf_append(&t, u, 6);
                } else {
                    tw_buf_putc(&t, (char)c);
                }
            }
            i++;
            continue;
        }
        int32_t r;
        size_t w = tmpl_decode_rune((const unsigned char *)in.data + i, in.len - i, &r);
        if (tmpl_rune_is_print(r)) {
            tw_buf_append(&t, in.data + i, w);
        } else {
            tw_buf_printf(&t, "\\u%04X", (unsigned)r);
        }
        i += w;
    }
    tw_buf_fini(&in);
    return str_result(s, &t);
}

/* url.QueryEscape */
static void query_escape(tw_buf_t *t, const char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            tw_buf_putc(t, (char)c);
        } else if (c == ' ') {
            tw_buf_putc(t, '+');
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            tw_buf_append(t, e, 3);
        }
    }
}

FN(fn_urlquery)
{
    (void)errmsg;
    tw_buf_t in, t;
    tw_buf_init(&in, 0);
    tw_buf_init(&t, 0);
    eval_args(&in, a, n, s->lim.max_output_bytes);
    query_escape(&t, in.data ? in.data : "", in.len);
    tw_buf_fini(&in);
    return str_result(s, &t);
}

FN(fn_call)
{
    (void)s;
    (void)n;
    if (a[0]->kind == TW_TV_NIL) {
        return fail(errmsg, "call of nil");
    }
    return fail(errmsg, "non-function of type %s", tval_type(a[0]));
}

enum { K_INVALID = 0, K_BOOL, K_INT, K_UINT, K_FLOAT, K_STRING };

static int basic_kind(const tval_t *v)
{
    switch (v->kind) {
    case TW_TV_BOOL:
        return K_BOOL;
    case TW_TV_INT:
        return K_INT;
    case TW_TV_UINT:
        return K_UINT;
    case TW_TV_FLOAT:
        return K_FLOAT;
    case TW_TV_STRING:
        return K_STRING;
    default:
        return K_INVALID;
    }
}

static int str_cmp(const tval_t *x, const tval_t *y)
{
    size_t m = x->u.s.len < y->u.s.len ? x->u.s.len : y->u.s.len;
    int c = memcmp(x->u.s.p, y->u.s.p, m);
    if (c != 0) {
        return c;
    }
    return x->u.s.len < y->u.s.len ? -1 : x->u.s.len > y->u.s.len;
}

/* eq for one pair: 1 equal, 0 not, -1 error (errmsg set). */
static int eq_pair(const tval_t *x, const tval_t *y, tw_buf_t *errmsg)
{
    int k1 = basic_kind(x), k2 = basic_kind(y);
    if (k1 != k2) {
        if (k1 == K_INT && k2 == K_UINT) {
            return x->u.i >= 0 && (uint64_t)x->u.i == y->u.u;
        }
        if (k1 == K_UINT && k2 == K_INT) {
            return y->u.i >= 0 && x->u.u == (uint64_t)y->u.i;
        }
        if (x->kind != TW_TV_NIL && y->kind != TW_TV_NIL) {
            fail(errmsg, "incompatible types for comparison");
            return -1;
        }
        return 0;
    }
    switch (k1) {
    case K_BOOL:
        return x->u.b == y->u.b;
    case K_INT:
        return x->u.i == y->u.i;
    case K_UINT:
        return x->u.u == y->u.u;
    case K_FLOAT:
        return x->u.f == y->u.f;
    case K_STRING:
        return str_cmp(x, y) == 0;
    default:
        break;
    }
    if (x->kind == TW_TV_NIL || y->kind == TW_TV_NIL) {
        return x->kind == y->kind;
    }
    if (x->kind != y->kind || strcmp(tval_type(x), tval_type(y)) != 0) {
        tw_buf_t t;
        tw_buf_init(&t, 2000);
        tw_buf_puts(&t, "non-comparable types ");
        print_v(&t, x, 0);
        tw_buf_printf(&t, ": %s, %s: ", tval_type(x), tval_type(y));
        print_v(&t, y, 0);
        fail(errmsg, "%s", t.data);
        tw_buf_fini(&t);
        return -1;
    }
    if (x->kind == TW_TV_SAMPLE) {
        return x == y;
    }
    tw_buf_t t;
    tw_buf_init(&t, 2000);
    tw_buf_puts(&t, "non-comparable type ");
    print_v(&t, y, 0);
    tw_buf_printf(&t, ": %s", tval_type(y));
    fail(errmsg, "%s", t.data);
    tw_buf_fini(&t);
    return -1;
}

FN(fn_eq)
{
    if (n < 2) {
        return fail(errmsg, "missing argument for comparison");
    }
    for (size_t i = 1; i < n; i++) {
        int r = eq_pair(a[0], a[i], errmsg);
        if (r < 0) {
            return NULL;
        }
        if (r) {
            return tv_bool(s, true);
        }
    }
    return tv_bool(s, false);
}

FN(fn_ne)
{
    (void)n;
    int r = eq_pair(a[0], a[1], errmsg);
    return r < 0 ? NULL : tv_bool(s, !r);
}

/* lt: 1, 0, or -1 on error. */
static int lt_pair(const tval_t *x, const tval_t *y, tw_buf_t *errmsg)
{
    int k1 = basic_kind(x), k2 = basic_kind(y);
    if (k1 == K_INVALID || k2 == K_INVALID) {
        fail(errmsg, "invalid type for comparison");
        return -1;
    }
    if (k1 != k2) {
        if (k1 == K_INT && k2 == K_UINT) {
            return x->u.i < 0 || (uint64_t)x->u.i < y->u.u;
        }
        if (k1 == K_UINT && k2 == K_INT) {
            return y->u.i >= 0 && x->u.u < (uint64_t)y->u.i;
        }
        fail(errmsg, "incompatible types for comparison");
        return -1;
    }
    switch (k1) {
    case K_BOOL:
        fail(errmsg, "invalid type for comparison");
        return -1;
    case K_FLOAT:
        return x->u.f < y->u.f;
    case K_INT:
        return x->u.i < y->u.i;
    case K_UINT:
        return x->u.u < y->u.u;
    default:
        return str_cmp(x, y) < 0;
    }
}

FN(fn_lt)
{
    (void)n;
    int r = lt_pair(a[0], a[1], errmsg);
    return r < 0 ? NULL : tv_bool(s, r);
}

static int le_pair(const tval_t *x, const tval_t *y, tw_buf_t *errmsg)
{
    int r = lt_pair(x, y, errmsg);
    if (r != 0) {
        return r;
    }
    return eq_pair(x, y, errmsg);
}

FN(fn_le)
{
    (void)n;
    int r = le_pair(a[0], a[1], errmsg);
    return r < 0 ? NULL : tv_bool(s, r);
}

FN(fn_gt)
{
    (void)n;
    int r = le_pair(a[0], a[1], errmsg);
    return r < 0 ? NULL : tv_bool(s, !r);
}

FN(fn_ge)
{
    (void)n;
    int r = lt_pair(a[0], a[1], errmsg);
    return r < 0 ? NULL : tv_bool(s, !r);
}

/* ---- Prometheus' functions ---- */

static int cmp_label(const void *x, const void *y)
{
    const tw_label_t *a = x, *b = y;
    return strcmp(a->name, b->name);
}

FN(fn_query)
{
    (void)n;
    const tw_query_source_t *qs = s->env->query;
    if (qs == NULL || qs->instant == NULL) {
        return fail(errmsg, "no query source");
    }
    char *expr = tmpl_alloc(s, a[0]->u.s.len + 1);
    memcpy(expr, a[0]->u.s.p, a[0]->u.s.len);
    expr[a[0]->u.s.len] = '\0';
    tw_qs_result_t res;
    memset(&res, 0, sizeof(res));
    tw_error_t qerr;
    memset(&qerr, 0, sizeof(qerr));
    int rc = qs->instant(qs->ctx, expr, s->env->query_time_ms, &res, &qerr);
    if (rc != 0) {
        tw_qs_result_free(&res);
        return fail(errmsg, "%s", qerr.msg[0] ? qerr.msg : tw_strerror(rc));
    }
    if (res.type != TW_QS_VECTOR && res.type != TW_QS_SCALAR) {
        tw_qs_result_free(&res);
        return fail(errmsg, "rule result is not a vector or scalar");
    }
    size_t count = res.n_series;
    size_t need = count * (sizeof(tval_t) + 64);
    if (tw_arena_bytes(s->arena) + need > s->lim.max_memory_bytes) {
        tw_qs_result_free(&res);
        tmpl_exec_fail(s, TW_ELIMIT, "memory limit of %zu bytes exceeded", s->lim.max_memory_bytes);
    }
    tval_t *items = tw_arena_calloc(s->arena, (count ? count : 1) * sizeof(*items));
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        const tw_qs_series_t *se = &res.series[i];
        if (se->n_points == 0) {
            continue;
        }
        tw_label_t *ls = tw_arena_alloc(s->arena, (se->n_labels ? se->n_labels : 1) * sizeof(*ls));
        for (size_t j = 0; j < se->n_labels; j++) {
            ls[j].name = tw_arena_strdup(s->arena, se->labels[j].name);
            ls[j].value = tw_arena_strdup(s->arena, se->labels[j].value);
        }
        qsort(ls, se->n_labels, sizeof(*ls), cmp_label);
        items[k].kind = TW_TV_SAMPLE;
        items[k].u.sample.labels = ls;
        items[k].u.sample.n = se->n_labels;
        items[k].u.sample.v = se->points[se->n_points - 1].v;
        k++;
    }
    tw_qs_result_free(&res);
    if (tw_arena_bytes(s->arena) > s->lim.max_memory_bytes) {
        tmpl_exec_fail(s, TW_ELIMIT, "memory limit of %zu bytes exceeded", s->lim.max_memory_bytes);
    }
    tval_t *r = tv_new(s, TW_TV_SAMPLES);
    r->u.list.items = items;
    r->u.list.n = k;
    return r;
}

FN(fn_first)
{
    (void)s;
    (void)n;
    if (a[0]->kind == TW_TV_SAMPLES && a[0]->u.list.n > 0) {
        return &a[0]->u.list.items[0];
    }
    return fail(errmsg, "first() called on vector with no elements");
}

static const tval_t *sample_label(tstate_t *s, const tval_t *smp, const char *name, size_t len,
                                  tw_buf_t *errmsg)
{
    if (smp->kind == TW_TV_NIL) {
        return fail(errmsg, "runtime error: invalid memory address or nil pointer dereference");
    }
    for (size_t i = 0; i < smp->u.sample.n; i++) {
        const char *ln = smp->u.sample.labels[i].name;
        if (strlen(ln) == len && memcmp(ln, name, len) == 0) {
            const char *v = smp->u.sample.labels[i].value;
            return tv_str(s, v, strlen(v));
        }
    }
    return tv_str(s, "", 0);
}

FN(fn_label)
{
    (void)n;
    return sample_label(s, a[1], a[0]->u.s.p, a[0]->u.s.len, errmsg);
}

FN(fn_value)
{
    (void)n;
    if (a[0]->kind == TW_TV_NIL) {
        return fail(errmsg, "runtime error: invalid memory address or nil pointer dereference");
    }
    return tv_float(s, a[0]->u.sample.v);
}

FN(fn_strvalue)
{
    (void)n;
    return sample_label(s, a[0], "__value__", 9, errmsg);
}

typedef struct kv {
    const char *key;
    const tval_t *val;
} kv_t;

static int cmp_kv(const void *x, const void *y)
{
    return strcmp(((const kv_t *)x)->key, ((const kv_t *)y)->key);
}

FN(fn_args)
{
    (void)errmsg;
    kv_t *kv = tmpl_alloc(s, (n ? n : 1) * sizeof(*kv));
    for (size_t i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof(k), "arg%zu", i);
        kv[i].key = tw_arena_strdup(s->arena, k);
        kv[i].val = a[i];
    }
    qsort(kv, n, sizeof(*kv), cmp_kv);
    const char **keys = tmpl_alloc(s, (n ? n : 1) * sizeof(*keys));
    tval_t *vals = tmpl_alloc(s, (n ? n : 1) * sizeof(*vals));
    for (size_t i = 0; i < n; i++) {
        keys[i] = kv[i].key;
        vals[i] = *kv[i].val;
    }
    tval_t *d = tv_new(s, TW_TV_DICT);
    d->u.dict.keys = keys;
    d->u.dict.vals = vals;
    d->u.dict.n = n;
    return d;
}

/*
 * A compiled search regex for Go's unanchored matching: "(?s:.*?)(<pattern>)(?s:.*)" (group 1
 * is the match, the user's groups follow). The pattern alone is compiled first, so that a bad
 * pattern fails with its own message. NULL with errmsg on error (Go's regexp wording).
 */
static tw_regex_t *search_regex(tstate_t *s, const char *pat, size_t len, tw_buf_t *errmsg)
{
    for (size_t i = 0; i < TMPL_REGEX_CACHE; i++) {
        if (s->re_cache[i].pattern != NULL && strlen(s->re_cache[i].pattern) == len &&
            memcmp(s->re_cache[i].pattern, pat, len) == 0) {
            return s->re_cache[i].re;
        }
    }
    char *p = strndup(pat, len);
    if (p == NULL) {
        abort();
    }
    tw_error_t e;
    tw_regex_t *alone = NULL;
    int rc = tw_regex_compile(&alone, p, 0, &e);
    tw_regex_free(alone);
    if (rc != 0) {
        const char *m = e.msg;
        const char *cut = strstr(m, "\": ");
        if (strncmp(m, "regex \"", 7) == 0 && cut != NULL) {
            m = cut + 3;
        }
        fail(errmsg, "error parsing regexp: %s", m);
        free(p);
        return NULL;
    }
    tw_buf_t w;
    tw_buf_init(&w, 0);
    tw_buf_puts(&w, "(?s:.*?)(");
    tw_buf_append(&w, pat, len);
    tw_buf_puts(&w, ")(?s:.*)");
    tw_regex_t *re = NULL;
    rc = tw_regex_compile(&re, w.data, 0, &e);
    tw_buf_fini(&w);
    if (rc != 0) {
        fail(errmsg, "error parsing regexp: %s", e.msg);
        free(p);
        return NULL;
    }
    size_t slot = s->re_next++ % TMPL_REGEX_CACHE;
    tw_regex_free(s->re_cache[slot].re);
    free(s->re_cache[slot].pattern);
    s->re_cache[slot].pattern = p;
    s->re_cache[slot].re = re;
    return re;
}

FN(fn_match)
{
    (void)n;
    tw_regex_t *re = search_regex(s, a[0]->u.s.p, a[0]->u.s.len, errmsg);
    if (re == NULL) {
        return NULL;
    }
    return tv_bool(s, tw_regex_exec(re, a[1]->u.s.p, a[1]->u.s.len, NULL, 0) == 1);
}

/* Go's Regexp.Expand of template tpl for a match (spans in the search regex's numbering). */
static void expand(tw_buf_t *t, const tw_regex_t *re, const char *tpl, size_t tlen, const char *src,
                   const tw_regex_span_t *sp, size_t nsp)
{
    size_t i = 0;
    while (i < tlen) {
        const char *d = memchr(tpl + i, '$', tlen - i);
        if (d == NULL) {
            break;
        }
        tw_buf_append(t, tpl + i, (size_t)(d - tpl) - i);
        i = (size_t)(d - tpl) + 1;
        if (i < tlen && tpl[i] == '$') {
            tw_buf_putc(t, '$');
            i++;
            continue;
        }
        bool brace = i < tlen && tpl[i] == '{';
        size_t j = brace ? i + 1 : i;
        size_t k = j;
        while (k < tlen) {
            int32_t r;
            size_t w = tmpl_decode_rune((const unsigned char *)tpl + k, tlen - k, &r);
            bool ok = r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') ||
                      (r >= 'A' && r <= 'Z') || (r >= 0x80 && r != 0xFFFD);
            if (!ok) {
                break;
            }
            k += w;
        }
        if (k == j || (brace && (k >= tlen || tpl[k] != '}'))) {
            tw_buf_putc(t, '$');
            continue;
        }
        const char *name = tpl + j;
        size_t nlen = k - j;
        i = brace ? k + 1 : k;
        long num = 0;
        for (size_t q = 0; q < nlen; q++) {
            if (name[q] < '0' || name[q] > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (name[q] - '0');
        }
        if (name[0] == '0' && nlen > 1) {
            num = -1;
        }
        long g = num >= 0 ? num + 1 : tw_regex_group_index(re, name, nlen);
        if (g >= 1 && (size_t)g < nsp && sp[g].start >= 0) {
            tw_buf_append(t, src + sp[g].start, (size_t)(sp[g].end - sp[g].start));
        }
    }
    if (i < tlen) {
        tw_buf_append(t, tpl + i, tlen - i);
    }
}

FN(fn_reReplaceAll)
{
    (void)n;
    tw_regex_t *re = search_regex(s, a[0]->u.s.p, a[0]->u.s.len, errmsg);
    if (re == NULL) {
        /* regexp.MustCompile panics: "regexp: Compile(`x`): error parsing regexp: ..." */
        tw_buf_t q, m;
        tw_buf_init(&q, 0);
        tw_buf_init(&m, 0);
        if (can_backquote(a[0]->u.s.p, a[0]->u.s.len)) {
            tw_buf_putc(&q, '`');
            tw_buf_append(&q, a[0]->u.s.p, a[0]->u.s.len);
            tw_buf_putc(&q, '`');
        } else {
            go_quote(&q, a[0]->u.s.p, a[0]->u.s.len);
        }
        tw_buf_printf(&m, "regexp: Compile(%s): %s", q.data, errmsg->data);
        tw_buf_reset(errmsg);
        tw_buf_append(errmsg, m.data, m.len);
        tw_buf_fini(&q);
        tw_buf_fini(&m);
        return NULL;
    }
    const char *repl = a[1]->u.s.p;
    size_t rlen = a[1]->u.s.len;
    const char *src = a[2]->u.s.p;
    size_t end = a[2]->u.s.len;
    int ng = tw_regex_ngroups(re) + 1;
    if (ng > 64) {
        ng = 64;
    }
    tw_regex_span_t sp[64];
    tw_buf_t t;
    tw_buf_init(&t, 0);
    size_t search = 0, last_end = 0;
    while (search <= end) {
        if (tw_regex_exec(re, src + search, end - search, sp, (size_t)ng) != 1 || sp[1].start < 0) {
            break;
        }
        for (int g = 0; g < ng; g++) {
            if (sp[g].start >= 0) {
                sp[g].start += (ptrdiff_t)search;
                sp[g].end += (ptrdiff_t)search;
            }
        }
        size_t m0 = (size_t)sp[1].start, m1 = (size_t)sp[1].end;
        tw_buf_append(&t, src + last_end, m0 > last_end ? m0 - last_end : 0);
        if (m1 > last_end || m0 == 0) {
            expand(&t, re, repl, rlen, src, sp, (size_t)ng);
        }
        last_end = m1;
        size_t width = 0;
        if (search < end) {
            int32_t r;
            width = tmpl_decode_rune((const unsigned char *)src + search, end - search, &r);
        }
        if (search + width > m1) {
            search += width;
        } else if (search + 1 > m1) {
            search++;
        } else {
            search = m1;
        }
        if (t.len > s->lim.max_output_bytes) {
            break;
        }
    }
    if (last_end < end) {
        tw_buf_append(&t, src + last_end, end - last_end);
    }
    return str_result(s, &t);
}

FN(fn_safeHtml)
{
    (void)n;
    (void)errmsg;
    tval_t *v = tv_str(s, a[0]->u.s.p, a[0]->u.s.len);
    v->type = "template.HTML";
    return v;
}

/* strings.Title's separator rule (ASCII exact; other runes count as letters). */
static bool title_sep(int32_t r)
{
    if (r <= 0x7F) {
        return !((r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') ||
                 r == '_');
    }
    return !tmpl_rune_is_print(r) || r == 0x85;
}

FN(fn_title)
{
    (void)n;
    (void)errmsg;
    tw_buf_t t;
    tw_buf_init(&t, 0);
    int32_t prev = ' ';
    const char *p = a[0]->u.s.p;
    size_t len = a[0]->u.s.len;
    for (size_t i = 0; i < len;) {
        int32_t r;
        size_t w = tmpl_decode_rune((const unsigned char *)p + i, len - i, &r);
        if (title_sep(prev) && r >= 'a' && r <= 'z') {
            tw_buf_putc(&t, (char)(r - 32));
        } else {
            tw_buf_append(&t, p + i, w);
        }
        prev = r;
        i += w;
    }
    return str_result(s, &t);
}

static const tval_t *map_case(tstate_t *s, const tval_t *v, bool upper)
{
    tval_t *r = tv_str(s, v->u.s.p, v->u.s.len);
    char *c = (char *)r->u.s.p;
    for (size_t i = 0; i < r->u.s.len; i++) {
        if (upper && c[i] >= 'a' && c[i] <= 'z') {
            c[i] = (char)(c[i] - 32);
        } else if (!upper && c[i] >= 'A' && c[i] <= 'Z') {
            c[i] = (char)(c[i] + 32);
        }
    }
    return r;
}

FN(fn_toUpper)
{
    (void)n;
    (void)errmsg;
    return map_case(s, a[0], true);
}

FN(fn_toLower)
{
    (void)n;
    (void)errmsg;
    return map_case(s, a[0], false);
}

static const tval_t *link(tstate_t *s, const tval_t *expr, int tab)
{
    tw_buf_t t;
    tw_buf_init(&t, 0);
    tw_buf_puts(&t, "/graph?g0.expr=");
    query_escape(&t, expr->u.s.p, expr->u.s.len);
    tw_buf_printf(&t, "&g0.tab=%d", tab);
    return str_result(s, &t);
}

FN(fn_graphLink)
{
    (void)n;
    (void)errmsg;
    return link(s, a[0], 0);
}

FN(fn_tableLink)
{
    (void)n;
    (void)errmsg;
    return link(s, a[0], 1);
}

typedef struct sortent {
    const tval_t *v;
    const char *key;
    size_t idx;
} sortent_t;

static int cmp_sortent(const void *x, const void *y)
{
    const sortent_t *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    if (c != 0) {
        return c;
    }
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

FN(fn_sortByLabel)
{
    (void)n;
    const tval_t *v = a[1];
    if (v->kind == TW_TV_NIL) {
        return fail(errmsg, "runtime error: slice bounds out of range");
    }
    char *label = tmpl_alloc(s, a[0]->u.s.len + 1);
    memcpy(label, a[0]->u.s.p, a[0]->u.s.len);
    label[a[0]->u.s.len] = '\0';
    size_t cnt = v->u.list.n;
    sortent_t *e = tmpl_alloc(s, (cnt ? cnt : 1) * sizeof(*e));
    for (size_t i = 0; i < cnt; i++) {
        const tval_t *it = &v->u.list.items[i];
        const char *k = tw_labels_get(it->u.sample.labels, it->u.sample.n, label);
        e[i].v = it;
        e[i].key = k ? k : "";
        e[i].idx = i;
    }
    qsort(e, cnt, sizeof(*e), cmp_sortent);
    tval_t *items = tmpl_alloc(s, (cnt ? cnt : 1) * sizeof(*items));
    for (size_t i = 0; i < cnt; i++) {
        items[i] = *e[i].v;
    }
    tval_t *r = tv_new(s, TW_TV_SAMPLES);
    r->u.list.items = items;
    r->u.list.n = cnt;
    return r;
}

/* net.SplitHostPort: false when Go returns an error. */
static bool split_host_port(const char *hp, size_t n, size_t *h0, size_t *h1, size_t *p0)
{
    const char *lastc = NULL;
    for (size_t i = n; i-- > 0;) {
        if (hp[i] == ':') {
            lastc = hp + i;
            break;
        }
    }
    if (lastc == NULL) {
        return false;
    }
    size_t i = (size_t)(lastc - hp);
    size_t j = 0, k = 0;
    if (n > 0 && hp[0] == '[') {
        const char *e = memchr(hp, ']', n);
        if (e == NULL) {
            return false;
        }
        size_t end = (size_t)(e - hp);
        if (end + 1 == n || end + 1 != i) {
            return false;
        }
        *h0 = 1;
        *h1 = end;
        j = 1;
        k = end + 1;
    } else {
        if (memchr(hp, ':', i) != NULL) {
            return false;
        }
        *h0 = 0;
        *h1 = i;
    }
    if (memchr(hp + j, '[', n - j) != NULL || memchr(hp + k, ']', n - k) != NULL) {
        return false;
    }
    *p0 = i + 1;
    return true;
}

FN(fn_stripPort)
{
    (void)n;
    (void)errmsg;
    size_t h0, h1, p0;
    if (!split_host_port(a[0]->u.s.p, a[0]->u.s.len, &h0, &h1, &p0)) {
        return a[0];
    }
    return tv_str(s, a[0]->u.s.p + h0, h1 - h0);
}

/* net.ParseIP */
static bool is_ip(const char *p, size_t n)
{
    char buf[64];
    unsigned char out[16];
    if (n == 0 || n >= sizeof(buf) || memchr(p, '%', n) != NULL) {
        return false;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, out) == 1 || inet_pton(AF_INET6, buf, out) == 1;
}

FN(fn_stripDomain)
{
    (void)n;
    (void)errmsg;
    const char *hp = a[0]->u.s.p;
    size_t len = a[0]->u.s.len;
    size_t h0 = 0, h1 = len, p0 = len;
    bool has_port = split_host_port(hp, len, &h0, &h1, &p0);
    if (!has_port) {
        h0 = 0;
        h1 = len;
    }
    if (is_ip(hp + h0, h1 - h0)) {
        return a[0];
    }
    const char *dot = memchr(hp + h0, '.', h1 - h0);
    size_t hend = dot ? (size_t)(dot - hp) : h1;
    tw_buf_t t;
    tw_buf_init(&t, 0);
    bool bracket = memchr(hp + h0, ':', hend - h0) != NULL;
    if (has_port && p0 < len + 1 && len - p0 > 0) {
        if (bracket) {
            tw_buf_putc(&t, '[');
        }
        tw_buf_append(&t, hp + h0, hend - h0);
        if (bracket) {
            tw_buf_putc(&t, ']');
        }
        tw_buf_putc(&t, ':');
        tw_buf_append(&t, hp + p0, len - p0);
    } else {
        tw_buf_append(&t, hp + h0, hend - h0);
    }
    return str_result(s, &t);
}

/* Prometheus' convertToFloat. */
static bool to_float(const tval_t *v, double *out, tw_buf_t *errmsg)
{
    switch (v->kind) {
    case TW_TV_FLOAT:
        *out = v->u.f;
        return true;
    case TW_TV_INT:
        if (v->type == NULL || strcmp(v->type, "int") == 0 || strcmp(v->type, "int64") == 0) {
            *out = (double)v->u.i;
            return true;
        }
        break;
    case TW_TV_UINT:
        if (v->type == NULL || strcmp(v->type, "uint") == 0 || strcmp(v->type, "uint64") == 0) {
            *out = (double)v->u.u;
            return true;
        }
        break;
    case TW_TV_STRING:
        if (is_go_string(v)) {
            const char *p = v->u.s.p;
            size_t n = v->u.s.len;
            const char *q = p;
            size_t m = n;
            int sign = 1;
            if (m > 0 && (q[0] == '+' || q[0] == '-')) {
                sign = q[0] == '-' ? -1 : 1;
                q++;
                m--;
            }
            if ((m == 3 && strncasecmp(q, "inf", 3) == 0) ||
                (m == 8 && strncasecmp(q, "infinity", 8) == 0)) {
                *out = sign * INFINITY;
                return true;
            }
            if (m == 3 && strncasecmp(q, "nan", 3) == 0) {
                *out = NAN;
                return true;
            }
            if (tmpl_parse_float(p, n, out)) {
                return true;
            }
            tw_buf_t qq;
            tw_buf_init(&qq, 0);
            go_quote(&qq, p, n);
            /* out of range when the syntax is fine but the value is not */
            char tmp[130];
            bool range = false;
            if (n < sizeof(tmp)) {
                memcpy(tmp, p, n);
                tmp[n] = '\0';
                char *end;
                double d = strtod(tmp, &end);
                range = *end == '\0' && isinf(d) && strpbrk(tmp, "nNiI") == NULL;
            }
            fail(errmsg, "strconv.ParseFloat: parsing %s: %s", qq.data,
                 range ? "value out of range" : "invalid syntax");
            tw_buf_fini(&qq);
            return false;
        }
        break;
    default:
        break;
    }
    fail(errmsg, "can't convert %s to float", tval_type(v));
    return false;
}

static const tval_t *fmt4g(tstate_t *s, double v, const char *suffix)
{
    tw_buf_t t;
    tw_buf_init(&t, 0);
    go_format_float(&t, v, 'g', 4);
    tw_buf_puts(&t, suffix);
    return str_result(s, &t);
}

FN(fn_humanize)
{
    (void)n;
    double v;
    if (!to_float(a[0], &v, errmsg)) {
        return NULL;
    }
    if (v == 0 || isnan(v) || isinf(v)) {
        return fmt4g(s, v, "");
    }
    static const char *big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
    static const char *small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    if (fabs(v) >= 1) {
        for (size_t i = 0; i < 8; i++) {
            if (fabs(v) < 1000) {
                break;
            }
            prefix = big[i];
            v /= 1000;
        }
        return fmt4g(s, v, prefix);
    }
    for (size_t i = 0; i < 8; i++) {
        if (fabs(v) >= 1) {
            break;
        }
        prefix = small[i];
        v *= 1000;
    }
    return fmt4g(s, v, prefix);
}

FN(fn_humanize1024)
{
    (void)n;
    double v;
    if (!to_float(a[0], &v, errmsg)) {
        return NULL;
    }
    if (fabs(v) <= 1 || isnan(v) || isinf(v)) {
        return fmt4g(s, v, "");
    }
    static const char *big[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
    const char *prefix = "";
    for (size_t i = 0; i < 8; i++) {
        if (fabs(v) < 1024) {
            break;
        }
        prefix = big[i];
        v /= 1024;
    }
    return fmt4g(s, v, prefix);
}

FN(fn_humanizeDuration)
{
    (void)n;
    double v;
    if (!to_float(a[0], &v, errmsg)) {
        return NULL;
    }
    if (isnan(v) || isinf(v)) {
        return fmt4g(s, v, "");
    }
    if (v == 0) {
        return fmt4g(s, v, "s");
    }
    if (fabs(v) >= 1) {
        const char *sign = "";
        if (v < 0) {
            sign = "-";
            v = -v;
        }
        /* Go's int64(v) saturates differently on overflow; clamp like amd64 does. */
        int64_t d = v >= 9223372036854775808.0 ? INT64_MIN : (int64_t)v;
        int64_t sec = d % 60, min = (d / 60) % 60, hours = (d / 60 / 60) % 24,
                days = d / 60 / 60 / 24;
        tw_buf_t t;
        tw_buf_init(&t, 0);
        if (days != 0) {
            tw_buf_printf(&t, "%s%lldd %lldh %lldm %llds", sign, (long long)days, (long long)hours,
                          (long long)min, (long long)sec);
        } else if (hours != 0) {
            tw_buf_printf(&t, "%s%lldh %lldm %llds", sign, (long long)hours, (long long)min,
                          (long long)sec);
        } else if (min != 0) {
            tw_buf_printf(&t, "%s%lldm %llds", sign, (long long)min, (long long)sec);
        } else {
            tw_buf_puts(&t, sign);
            go_format_float(&t, v, 'g', 4);
            tw_buf_putc(&t, 's');
        }
        return str_result(s, &t);
    }
    static const char *small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    for (size_t i = 0; i < 8; i++) {
        if (fabs(v) >= 1) {
            break;
        }
        prefix = small[i];
        v *= 1000;
    }
    char suf[8];
    snprintf(suf, sizeof(suf), "%ss", prefix);
    return fmt4g(s, v, suf);
}

FN(fn_humanizePercentage)
{
    (void)n;
    double v;
    if (!to_float(a[0], &v, errmsg)) {
        return NULL;
    }
    return fmt4g(s, v * 100, "%");
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void civil(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

FN(fn_humanizeTimestamp)
{
    (void)n;
    double v;
    if (!to_float(a[0], &v, errmsg)) {
        return NULL;
    }
    if (isnan(v) || isinf(v)) {
        return fmt4g(s, v, "");
    }
    double ts = v * 1e9;
    if (ts > 9223372036854775807.0 || ts < -9223372036854775808.0 || ts >= 9223372036854775808.0) {
        tw_buf_t t;
        tw_buf_init(&t, 0);
        go_format_float(&t, v, 'g', -1);
        fail(errmsg, "%s cannot be represented as a nanoseconds timestamp since it overflows int64",
             t.data);
        tw_buf_fini(&t);
        return NULL;
    }
    int64_t ms = (int64_t)ts / 1000000; /* model.TimeFromUnixNano truncates to ms */
    int64_t sec = ms / 1000, msec = ms % 1000;
    if (msec < 0) {
        msec += 1000;
        sec--;
    }
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    int mo, d;
    civil(days, &y, &mo, &d);
    tw_buf_t t;
    tw_buf_init(&t, 0);
    tw_buf_printf(&t, "%04lld-%02d-%02d %02d:%02d:%02d", (long long)y, mo, d, (int)(rem / 3600),
                  (int)(rem / 60 % 60), (int)(rem % 60));
    if (msec != 0) {
        char f[8];
        snprintf(f, sizeof(f), "%03d", (int)msec);
        size_t k = 3;
        while (k > 0 && f[k - 1] == '0') {
            k--;
        }
        f[k] = '\0';
        tw_buf_printf(&t, ".%s", f);
    }
    tw_buf_puts(&t, " +0000 UTC");
    return str_result(s, &t);
}

FN(fn_pathPrefix)
{
    (void)a;
    (void)n;
    (void)errmsg;
    const char *u = s->env->external_url ? s->env->external_url : "";
    const char *p = strstr(u, "://");
    p = p ? strchr(p + 3, '/') : (u[0] == '/' ? u : NULL);
    if (p == NULL) {
        return tv_str(s, "", 0);
    }
    size_t len = strcspn(p, "?#");
    return tv_str(s, p, len);
}

FN(fn_externalURL)
{
    (void)a;
    (void)n;
    (void)errmsg;
    const char *u = s->env->external_url ? s->env->external_url : "";
    return tv_str(s, u, strlen(u));
}

FN(fn_parseDuration)
{
    (void)n;
    const tval_t *v = a[0];
    if (v->u.s.len == 0) {
        return fail(errmsg, "empty duration string");
    }
    char *str = tmpl_alloc(s, v->u.s.len + 1);
    memcpy(str, v->u.s.p, v->u.s.len);
    str[v->u.s.len] = '\0';
    int64_t ms;
    if (strlen(str) != v->u.s.len || tw_duration_parse(str, &ms) != 0) {
        tw_buf_t q;
        tw_buf_init(&q, 0);
        go_quote(&q, v->u.s.p, v->u.s.len);
        fail(errmsg, "not a valid duration string: %s", q.data);
        tw_buf_fini(&q);
        return NULL;
    }
    return tv_float(s, (double)ms / 1000.0);
}

/* ---- the table ---- */

static const tfunc_t funcs[] = {
    /* text/template builtins */
    {"and", {P_VALUE}, 1, P_VALUE, true, NULL},
    {"call", {P_VALUE}, 1, P_VALUE, true, fn_call},
    {"eq", {P_VALUE}, 1, P_VALUE, true, fn_eq},
    {"ge", {P_VALUE, P_VALUE}, 2, 0, true, fn_ge},
    {"gt", {P_VALUE, P_VALUE}, 2, 0, true, fn_gt},
    {"html", {0}, 0, P_ANY, true, fn_html},
    {"index", {P_VALUE}, 1, P_VALUE, true, fn_index},
    {"js", {0}, 0, P_ANY, true, fn_js},
    {"le", {P_VALUE, P_VALUE}, 2, 0, true, fn_le},
    {"len", {P_VALUE}, 1, 0, true, fn_len},
    {"lt", {P_VALUE, P_VALUE}, 2, 0, true, fn_lt},
    {"ne", {P_VALUE, P_VALUE}, 2, 0, true, fn_ne},
    {"not", {P_VALUE}, 1, 0, true, fn_not},
    {"or", {P_VALUE}, 1, P_VALUE, true, NULL},
    {"print", {0}, 0, P_ANY, true, fn_print},
    {"printf", {P_STRING}, 1, P_ANY, true, fn_printf},
    {"println", {0}, 0, P_ANY, true, fn_println},
    {"slice", {P_VALUE}, 1, P_VALUE, true, fn_slice},
    {"urlquery", {0}, 0, P_ANY, true, fn_urlquery},
    /* Prometheus 2.42 template/template.go */
    {"args", {0}, 0, P_ANY, false, fn_args},
    {"externalURL", {0}, 0, 0, false, fn_externalURL},
    {"first", {P_SAMPLES}, 1, 0, false, fn_first},
    {"graphLink", {P_STRING}, 1, 0, false, fn_graphLink},
    {"humanize", {P_ANY}, 1, 0, false, fn_humanize},
    {"humanize1024", {P_ANY}, 1, 0, false, fn_humanize1024},
    {"humanizeDuration", {P_ANY}, 1, 0, false, fn_humanizeDuration},
    {"humanizePercentage", {P_ANY}, 1, 0, false, fn_humanizePercentage},
    {"humanizeTimestamp", {P_ANY}, 1, 0, false, fn_humanizeTimestamp},
    {"label", {P_STRING, P_SAMPLE}, 2, 0, false, fn_label},
    {"match", {P_STRING, P_STRING}, 2, 0, false, fn_match},
    {"parseDuration", {P_STRING}, 1, 0, false, fn_parseDuration},
    {"pathPrefix", {0}, 0, 0, false, fn_pathPrefix},
    {"query", {P_STRING}, 1, 0, false, fn_query},
    {"reReplaceAll", {P_STRING, P_STRING, P_STRING}, 3, 0, false, fn_reReplaceAll},
    {"safeHtml", {P_STRING}, 1, 0, false, fn_safeHtml},
    {"sortByLabel", {P_STRING, P_SAMPLES}, 2, 0, false, fn_sortByLabel},
    {"stripDomain", {P_STRING}, 1, 0, false, fn_stripDomain},
    {"stripPort", {P_STRING}, 1, 0, false, fn_stripPort},
    {"strvalue", {P_SAMPLE}, 1, 0, false, fn_strvalue},
    {"tableLink", {P_STRING}, 1, 0, false, fn_tableLink},
    {"title", {P_STRING}, 1, 0, false, fn_title},
    {"toLower", {P_STRING}, 1, 0, false, fn_toLower},
    {"toUpper", {P_STRING}, 1, 0, false, fn_toUpper},
    {"value", {P_SAMPLE}, 1, 0, false, fn_value},
};

const tfunc_t *tmpl_func_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++) {
        if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, name, len) == 0) {
            return &funcs[i];
        }
    }
    return NULL;
}
