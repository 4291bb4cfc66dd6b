/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expfmt_parse.c - the pull parser for Prometheus text 0.0.4 and OpenMetrics 1.0.0 expositions.
 *
 * One call to tw_expfmt_parser_next() reads one line (blank lines in the text format are
 * skipped) and hands out an entry whose names are views into the input. Label values and HELP
 * text are views into the input too, unless they contain escapes: then they are unescaped into
 * a scratch buffer that is reserved once per line at the line's length (unescaping never grows
 * a string), so views into it never move while a line is parsed and a scrape costs no
 * allocation per sample once the buffers have grown to the longest line and the widest label
 * set. The grammar follows Prometheus' lexers (model/textparse/promlex.l, openmetricslex.l)
 * and the OpenMetrics 1.0 ABNF; OpenMetrics' rules across lines (families, grouping, histogram
 * consistency) live in expfmt_parse_om.c. docs/formats/exposition.md lists every rule. Pure: no
 * I/O, no clock, no logging; one parser is used by one thread.
 */
#include "collector/expfmt/expfmt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/expfmt/expfmt_int.h"
#include "common/mem.h"

struct tw_expfmt_parser {
    const char *buf; /* borrowed input */
    size_t len;
    size_t pos;    /* start of the next unread line */
    size_t lineno; /* number of lines consumed */
    tw_expfmt_parse_options_t opts;
    bool om;                   /* OpenMetrics */
    bool strict;               /* OpenMetrics strict mode */
    int state;                 /* 0: reading, 1: finished, TW_E*: failed (sticky) */
    tw_error_t fail;           /* the failure, replayed on later calls */
    tw_buf_t scratch;          /* unescaped strings of the current line */
    tw_expfmt_label_t *labels; /* series labels, then exemplar labels */
    size_t labels_cap;
    tw_expfmt_om_state_t om_state;
};

/* A cursor over one line (without its '\n'). */
typedef struct cursor {
    const char *line; /* first byte of the line */
    size_t n;         /* its length */
    size_t i;         /* read position */
    size_t lineno;
} cursor_t;

/* ---- small helpers ------------------------------------------------------------------------ */

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool is_lname_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_lname_char(char c)
{
    return is_lname_start(c) || (c >= '0' && c <= '9');
}

static bool view_eq(tw_strview_t v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && memcmp(v.p, s, n) == 0;
}

static int fail_at(tw_error_t *err, const cursor_t *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(tw_error_t *err, const cursor_t *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tw_error_set_at(err, TW_EPARSE, NULL, (int)c->lineno, (int)c->i + 1, "%s", msg);
}

/* A short, printable excerpt of the input for error messages. */
static const char *excerpt(char *out, size_t outsz, const char *p, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 5 < outsz; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            out[j++] = (char)ch;
        } else {
            j += (size_t)snprintf(out + j, outsz - j, "\\x%02x", ch);
        }
    }
    if (j >= outsz) {
        j = outsz - 1;
    }
    out[j] = '\0';
    return out;
}

static bool cur_eol(const cursor_t *c)
{
    return c->i >= c->n;
}

static char cur_peek(const cursor_t *c)
{
    return c->i < c->n ? c->line[c->i] : '\0';
}

static void skip_blank(cursor_t *c)
{
    while (c->i < c->n && (c->line[c->i] == ' ' || c->line[c->i] == '\t')) {
        c->i++;
    }
}

/* ---- numbers ------------------------------------------------------------------------------ */

static bool ieq_prefix(const char *s, size_t n, const char *word)
{
    size_t wn = strlen(word);
    if (n != wn) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char a = s[i];
        if (a >= 'A' && a <= 'Z') {
            a = (char)(a - 'A' + 'a');
        }
        if (a != word[i]) {
            return false;
        }
    }
    return true;
}

/* Checks the decimal grammar [sign] (digits [. digits*] | . digits) [(e|E) [sign] digits]. */
static bool is_decimal(const char *s, size_t n, bool *integral)
{
    size_t i = 0;
    size_t mant = 0;
    *integral = true;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        i++;
    }
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
        mant++;
    }
    if (i < n && s[i] == '.') {
        *integral = false;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            mant++;
        }
    }
    if (mant == 0) {
        return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *integral = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        size_t exp = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            exp++;
        }
        if (exp == 0) {
            return false;
        }
    }
    return i == n;
}

bool tw_expfmt_parse_float(const char *s, size_t n, bool go_rules, double *out)
{
    if (n == 0) {
        return false;
    }
    bool integral;
    if (!is_decimal(s, n, &integral)) {
        const char *w = s;
        size_t wn = n;
        double sign = 1.0;
        bool has_sign = false;
        if (w[0] == '+' || w[0] == '-') {
            sign = w[0] == '-' ? -1.0 : 1.0;
            has_sign = true;
            w++;
            wn--;
        }
        if (ieq_prefix(w, wn, "inf") || ieq_prefix(w, wn, "infinity")) {
            *out = sign * INFINITY;
            return true;
        }
        if (ieq_prefix(w, wn, "nan") && (!has_sign || !go_rules)) {
            *out = NAN;
            return true;
        }
        return false;
    }
    /* Fast path: up to 15 digits are exact in a double. */
    if (integral) {
        size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
        if (n - i <= 15) {
            int64_t v = 0;
            for (size_t k = i; k < n; k++) {
                v = v * 10 + (s[k] - '0');
            }
            *out = s[0] == '-' ? -(double)v : (double)v;
            if (s[0] == '-' && v == 0) {
                *out = -0.0;
            }
            return true;
        }
    }
    char small[80];
    char *tmp = small;
    if (n >= sizeof(small)) {
        tmp = tw_xmalloc(n + 1); /* only for absurdly long numbers */
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    char *end = NULL;
    double v = strtod(tmp, &end);
    bool ok = end == tmp + n;
    if (ok && errno == ERANGE && isinf(v) && go_rules) {
        ok = false; /* Go's ParseFloat reports overflow as an error */
    }
    if (tmp != small) {
        free(tmp);
    }
    if (ok) {
        *out = v;
    }
    return ok;
}

/* Milliseconds from seconds, as Prometheus does it (int64(ts * 1000)), saturated. */
static int64_t seconds_to_ms(double ts)
{
    double ms = ts * 1000.0;
    if (ms >= 9223372036854775807.0) {
        return INT64_MAX;
    }
    if (ms <= -9223372036854775808.0) {
        return INT64_MIN;
    }
    return (int64_t)ms;
}

/* ---- labels ------------------------------------------------------------------------------- */

static tw_expfmt_label_t *label_slot(tw_expfmt_parser_t *p, size_t idx)
{
    if (idx >= p->labels_cap) {
        tw_grow((void **)&p->labels, &p->labels_cap, idx + 1, sizeof(*p->labels));
    }
    return &p->labels[idx];
}

/*
 * Reads a quoted label value at the cursor (which is on the opening quote). Escapes are
 * \\, \" and \n; any other escaped character is kept with its backslash, as Prometheus does.
 */
static int read_label_value(tw_expfmt_parser_t *p, cursor_t *c, tw_strview_t *out, tw_error_t *err)
{
    if (cur_peek(c) != '"') {
        return fail_at(err, c, "expected '\"' to start the label value");
    }
    c->i++;
    size_t start = c->i;
    bool escaped = false;
    while (c->i < c->n && c->line[c->i] != '"') {
        if (c->line[c->i] == '\\') {
            escaped = true;
            if (c->i + 1 >= c->n) {
                break;
            }
            c->i++;
        }
        c->i++;
    }
    if (c->i >= c->n) {
        return fail_at(err, c, "label value is missing its closing '\"'");
    }
    const char *src = c->line + start;
    size_t n = c->i - start;
    c->i++; /* the closing quote */
    if (!escaped) {
        out->p = src;
        out->len = n;
        return 0;
    }
    /* The scratch buffer was reserved for the whole line: this never reallocates. */
    char *dst = p->scratch.data + p->scratch.len;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\\' && i + 1 < n) {
            char e = src[i + 1];
            if (e == '\\' || e == '"') {
                dst[k++] = e;
                i++;
                continue;
            }
            if (e == 'n') {
                dst[k++] = '\n';
                i++;
                continue;
            }
        }
        dst[k++] = src[i];
    }
    p->scratch.len += k;
    out->p = dst;
    out->len = k;
    return 0;
}

static int utf8_count(const char *s, size_t n)
{
    int runes = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            runes++;
        }
    }
    return runes;
}

/*
 * Reads "{...}" at the cursor into p->labels[first...]; *count receives the number read.
 * OpenMetrics: no blanks, no trailing comma. Text: blanks around tokens, a trailing comma.
 */
static int read_labels(tw_expfmt_parser_t *p, cursor_t *c, size_t first, size_t *count,
                       bool exemplar, tw_error_t *err)
{
    bool text = !p->om;
    size_t nl = 0;
    c->i++; /* '{' */
    for (;;) {
        if (text) {
            skip_blank(c);
        }
        if (cur_peek(c) == '}' && (nl == 0 || text)) {
            c->i++;
            break;
        }
        if (!is_lname_start(cur_peek(c))) {
            if (cur_eol(c)) {
                return fail_at(err, c, "unexpected end of line in label set");
            }
            return fail_at(err, c, "expected a label name or '}' but found '%c'", cur_peek(c));
        }
        size_t ns = c->i;
        while (c->i < c->n && is_lname_char(c->line[c->i])) {
            c->i++;
        }
        tw_strview_t name = {c->line + ns, c->i - ns};
        if (text) {
            skip_blank(c);
        }
        if (cur_peek(c) != '=') {
            return fail_at(err, c, "expected '=' after label name \"%.*s\"", (int)name.len, name.p);
        }
        c->i++;
        if (text) {
            skip_blank(c);
        }
        tw_strview_t value;
        int rc = read_label_value(p, c, &value, err);
        if (rc < 0) {
            return rc;
        }
        for (size_t k = 0; k < nl; k++) {
            const tw_strview_t *o = &p->labels[first + k].name;
            if (o->len == name.len && memcmp(o->p, name.p, name.len) == 0) {
                c->i = ns;
                return fail_at(err, c, "duplicate label name \"%.*s\"", (int)name.len, name.p);
            }
        }
        if (!exemplar && p->opts.max_labels > 0 && nl >= p->opts.max_labels) {
            c->i = ns;
            tw_error_set_at(err, TW_ELIMIT, NULL, (int)c->lineno, (int)c->i + 1,
                            "more than %zu labels", p->opts.max_labels);
            return TW_ELIMIT;
        }
        tw_expfmt_label_t *slot = label_slot(p, first + nl);
        slot->name = name;
        slot->value = value;
        nl++;
        if (text) {
            skip_blank(c);
        }
        if (cur_peek(c) == ',') {
            c->i++;
            if (!text && cur_peek(c) == '}') {
                return fail_at(err, c, "expected a label name after ','");
            }
            continue;
        }
        if (cur_peek(c) == '}') {
            c->i++;
            break;
        }
        if (cur_eol(c)) {
            return fail_at(err, c, "unexpected end of line in label set");
        }
        return fail_at(err, c, "expected ',' or '}' after label value but found '%c'", cur_peek(c));
    }
    *count = nl;
    return 0;
}

/* ---- OpenMetrics lines -------------------------------------------------------------------- */

/* The extent of a token ending at ' ' or the end of the line. */
static tw_strview_t om_token(cursor_t *c)
{
    size_t s = c->i;
    while (c->i < c->n && c->line[c->i] != ' ') {
        c->i++;
    }
    tw_strview_t t = {c->line + s, c->i - s};
    return t;
}

static int om_number(tw_expfmt_parser_t *p, cursor_t *c, const char *what, double *out,
                     tw_error_t *err)
{
    size_t s = c->i;
    tw_strview_t t = om_token(c);
    if (t.len == 0) {
        c->i = s;
        return fail_at(err, c, "expected %s", what);
    }
    if (!tw_expfmt_parse_float(t.p, t.len, !p->strict, out)) {
        char ex[64];
        c->i = s;
        return fail_at(err, c, "invalid %s \"%s\"", what, excerpt(ex, sizeof(ex), t.p, t.len));
    }
    return 0;
}

/* A timestamp (seconds): a real number, not NaN or infinite. */
static int om_timestamp(tw_expfmt_parser_t *p, cursor_t *c, const char *what, double *out,
                        tw_error_t *err)
{
    size_t s = c->i;
    tw_strview_t t = om_token(c);
    bool integral;
    char ex[64];
    if (t.len == 0) {
        c->i = s;
        return fail_at(err, c, "expected %s", what);
    }
    if (!is_decimal(t.p, t.len, &integral) || !tw_expfmt_parse_float(t.p, t.len, !p->strict, out) ||
        !isfinite(*out)) {
        c->i = s;
        return fail_at(err, c, "invalid %s \"%s\"", what, excerpt(ex, sizeof(ex), t.p, t.len));
    }
    return 0;
}

static int om_exemplar(tw_expfmt_parser_t *p, cursor_t *c, tw_expfmt_entry_t *e, tw_error_t *err)
{
    /* The cursor is on '#' after a space. */
    if (c->i + 2 >= c->n || c->line[c->i + 1] != ' ' || c->line[c->i + 2] != '{') {
        return fail_at(err, c, "expected \"# {\" to start an exemplar");
    }
    c->i += 2;
    size_t nl = 0;
    int rc = read_labels(p, c, e->nlabels, &nl, true, err);
    if (rc < 0) {
        return rc;
    }
    if (p->strict) {
        int runes = 0;
        for (size_t k = 0; k < nl; k++) {
            const tw_expfmt_label_t *l = &p->labels[e->nlabels + k];
            runes += utf8_count(l->name.p, l->name.len) + utf8_count(l->value.p, l->value.len);
        }
        if (runes > 128) {
            return fail_at(err, c, "exemplar labels have %d characters, more than 128", runes);
        }
    }
    if (cur_peek(c) != ' ') {
        return fail_at(err, c, "expected ' ' after the exemplar's labels");
    }
    c->i++;
    rc = om_number(p, c, "exemplar value", &e->exemplar_value, err);
    if (rc < 0) {
        return rc;
    }
    if (!cur_eol(c)) {
        c->i++; /* ' ' */
        double ts;
        rc = om_timestamp(p, c, "exemplar timestamp", &ts, err);
        if (rc < 0) {
            return rc;
        }
        e->exemplar_has_timestamp = true;
        e->exemplar_timestamp_ms = seconds_to_ms(ts);
        if (!cur_eol(c)) {
            return fail_at(err, c, "expected end of line after the exemplar timestamp");
        }
    }
    e->has_exemplar = true;
    e->exemplar_nlabels = nl;
    return 0;
}

static int om_sample(tw_expfmt_parser_t *p, cursor_t *c, tw_expfmt_entry_t *e, tw_error_t *err)
{
    if (!is_name_start(cur_peek(c))) {
        return fail_at(err, c, "expected a metric name");
    }
    while (c->i < c->n && is_name_char(c->line[c->i])) {
        c->i++;
    }
    e->kind = TW_EXPFMT_ENTRY_SERIES;
    e->name.p = c->line;
    e->name.len = c->i;
    if (cur_peek(c) == '{') {
        int rc = read_labels(p, c, 0, &e->nlabels, false, err);
        if (rc < 0) {
            return rc;
        }
    }
    if (cur_peek(c) != ' ') {
        if (cur_eol(c)) {
            return fail_at(err, c, "expected ' ' and a value after the metric name");
        }
        return fail_at(err, c, "unexpected character '%c' after the metric name", cur_peek(c));
    }
    c->i++;
    int rc = om_number(p, c, "value", &e->value, err);
    if (rc < 0) {
        return rc;
    }
    double ts = 0;
    if (!cur_eol(c)) {
        c->i++; /* ' ' */
        if (cur_peek(c) != '#') {
            rc = om_timestamp(p, c, "timestamp", &ts, err);
            if (rc < 0) {
                return rc;
            }
            e->has_timestamp = true;
            e->timestamp_ms = seconds_to_ms(ts);
            if (!cur_eol(c)) {
                c->i++;
                if (cur_peek(c) != '#') {
                    return fail_at(err, c, "expected \"# {\" or end of line after timestamp");
                }
            }
        }
        if (!cur_eol(c)) {
            rc = om_exemplar(p, c, e, err);
            if (rc < 0) {
                return rc;
            }
        }
    }
    e->labels = p->labels;
    if (e->has_exemplar) {
        e->exemplar_labels = p->labels + e->nlabels;
    }
    return tw_expfmt_om_check_sample(&p->om_state, e, ts, p->strict, err);
}

static int parse_om_type(tw_strview_t t, tw_metric_type_t *out)
{
    static const struct {
        const char *s;
        tw_metric_type_t t;
    } types[] = {
        {"counter", TW_MTYPE_COUNTER},     {"gauge", TW_MTYPE_GAUGE},
        {"histogram", TW_MTYPE_HISTOGRAM}, {"gaugehistogram", TW_MTYPE_GAUGE_HISTOGRAM},
        {"summary", TW_MTYPE_SUMMARY},     {"info", TW_MTYPE_INFO},
        {"stateset", TW_MTYPE_STATESET},   {"unknown", TW_MTYPE_UNTYPED},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (view_eq(t, types[i].s)) {
            *out = types[i].t;
            return 0;
        }
    }
    return -1;
}

/* Unescapes HELP text (\\ and \n; OpenMetrics also \") into the scratch buffer when needed. */
static tw_strview_t unescape_help(tw_expfmt_parser_t *p, const char *src, size_t n, bool quote)
{
    tw_strview_t out = {src, n};
    if (memchr(src, '\\', n) == NULL) {
        return out;
    }
    char *dst = p->scratch.data + p->scratch.len;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\\' && i + 1 < n) {
            char e = src[i + 1];
            if (e == '\\' || (quote && e == '"')) {
                dst[k++] = e;
                i++;
                continue;
            }
            if (e == 'n') {
                dst[k++] = '\n';
                i++;
                continue;
            }
        }
        dst[k++] = src[i];
    }
    p->scratch.len += k;
    out.p = dst;
    out.len = k;
    return out;
}

static int om_meta(tw_expfmt_parser_t *p, cursor_t *c, tw_expfmt_entry_t *e, tw_error_t *err)
{
    /* "# " already matched. */
    static const struct {
        const char *kw;
        tw_expfmt_entry_kind_t kind;
    } kws[] = {
        {"HELP ", TW_EXPFMT_ENTRY_HELP},
        {"TYPE ", TW_EXPFMT_ENTRY_TYPE},
        {"UNIT ", TW_EXPFMT_ENTRY_UNIT},
    };
    size_t k;
    for (k = 0; k < 3; k++) {
        if (c->n - c->i >= 5 && memcmp(c->line + c->i, kws[k].kw, 5) == 0) {
            break;
        }
    }
    if (k == 3) {
        return fail_at(err, c, "expected HELP, TYPE, UNIT or EOF after \"# \"");
    }
    c->i += 5;
    e->kind = kws[k].kind;
    if (!is_name_start(cur_peek(c))) {
        return fail_at(err, c, "expected a metric name");
    }
    size_t ns = c->i;
    while (c->i < c->n && is_name_char(c->line[c->i])) {
        c->i++;
    }
    e->name.p = c->line + ns;
    e->name.len = c->i - ns;
    if (cur_peek(c) != ' ') {
        return fail_at(err, c, "expected ' ' after the metric name");
    }
    c->i++;
    const char *rest = c->line + c->i;
    size_t rn = c->n - c->i;
    switch (e->kind) {
    case TW_EXPFMT_ENTRY_HELP:
        e->text = unescape_help(p, rest, rn, true);
        break;
    case TW_EXPFMT_ENTRY_TYPE: {
        tw_strview_t t = {rest, rn};
        char ex[64];
        if (parse_om_type(t, &e->type) < 0) {
            return fail_at(err, c, "invalid metric type \"%s\"", excerpt(ex, sizeof(ex), rest, rn));
        }
        break;
    }
    default:
        e->text.p = rest;
        e->text.len = rn;
        break;
    }
    c->i = c->n;
    return tw_expfmt_om_check_meta(&p->om_state, e, p->strict, err);
}

/* ---- text 0.0.4 lines --------------------------------------------------------------------- */

static int parse_text_type(tw_strview_t t, tw_metric_type_t *out)
{
    static const struct {
        const char *s;
        tw_metric_type_t t;
    } types[] = {
        {"counter", TW_MTYPE_COUNTER},     {"gauge", TW_MTYPE_GAUGE},
        {"histogram", TW_MTYPE_HISTOGRAM}, {"summary", TW_MTYPE_SUMMARY},
        {"untyped", TW_MTYPE_UNTYPED},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (view_eq(t, types[i].s)) {
            *out = types[i].t;
            return 0;
        }
    }
    return -1;
}

static int text_comment(tw_expfmt_parser_t *p, cursor_t *c, tw_expfmt_entry_t *e, tw_error_t *err)
{
    c->i++; /* '#' */
    size_t after_hash = c->i;
    skip_blank(c);
    bool blank = c->i > after_hash;
    bool help = blank && c->n - c->i > 4 && memcmp(c->line + c->i, "HELP", 4) == 0 &&
                (c->line[c->i + 4] == ' ' || c->line[c->i + 4] == '\t');
    bool type = blank && c->n - c->i > 4 && memcmp(c->line + c->i, "TYPE", 4) == 0 &&
                (c->line[c->i + 4] == ' ' || c->line[c->i + 4] == '\t');
    if (!help && !type) {
        e->kind = TW_EXPFMT_ENTRY_COMMENT;
        e->text.p = c->line + c->i;
        e->text.len = c->n - c->i;
        c->i = c->n;
        return 0;
    }
    c->i += 4;
    skip_blank(c);
    if (!is_name_start(cur_peek(c))) {
        return fail_at(err, c, "expected a metric name after %s", help ? "HELP" : "TYPE");
    }
    size_t ns = c->i;
    while (c->i < c->n && is_name_char(c->line[c->i])) {
        c->i++;
    }
    e->name.p = c->line + ns;
    e->name.len = c->i - ns;
    if (!cur_eol(c) && cur_peek(c) != ' ' && cur_peek(c) != '\t') {
        return fail_at(err, c, "expected a blank after the metric name");
    }
    skip_blank(c);
    const char *rest = c->line + c->i;
    size_t rn = c->n - c->i;
    if (help) {
        e->kind = TW_EXPFMT_ENTRY_HELP;
        e->text = unescape_help(p, rest, rn, false);
    } else {
        while (rn > 0 && (rest[rn - 1] == ' ' || rest[rn - 1] == '\t')) {
            rn--;
        }
        tw_strview_t t = {rest, rn};
        char ex[64];
        e->kind = TW_EXPFMT_ENTRY_TYPE;
        if (parse_text_type(t, &e->type) < 0) {
            return fail_at(err, c, "invalid metric type \"%s\"", excerpt(ex, sizeof(ex), rest, rn));
        }
    }
    c->i = c->n;
    return 0;
}

static int text_sample(tw_expfmt_parser_t *p, cursor_t *c, tw_expfmt_entry_t *e, tw_error_t *err)
{
    if (!is_name_start(cur_peek(c))) {
        return fail_at(err, c, "expected a metric name but found '%c'", cur_peek(c));
    }
    size_t ns = c->i;
    while (c->i < c->n && is_name_char(c->line[c->i])) {
        c->i++;
    }
    e->kind = TW_EXPFMT_ENTRY_SERIES;
    e->name.p = c->line + ns;
    e->name.len = c->i - ns;
    skip_blank(c);
    if (cur_peek(c) == '{') {
        int rc = read_labels(p, c, 0, &e->nlabels, false, err);
        if (rc < 0) {
            return rc;
        }
        skip_blank(c);
    }
    size_t vs = c->i;
    while (c->i < c->n && c->line[c->i] != ' ' && c->line[c->i] != '\t' && c->line[c->i] != '{') {
        c->i++;
    }
    if (c->i == vs) {
        return fail_at(err, c, "expected a value after the metric name and labels");
    }
    /* Prometheus' parseFloat refuses p, P and _ so hexadecimal floats never parse. */
    if (!tw_expfmt_parse_float(c->line + vs, c->i - vs, true, &e->value)) {
        char ex[64];
        size_t vn = c->i - vs;
        c->i = vs;
        return fail_at(err, c, "invalid value \"%s\"", excerpt(ex, sizeof(ex), c->line + vs, vn));
    }
    skip_blank(c);
    if (!cur_eol(c)) {
        size_t ts = c->i;
        int64_t v = 0;
        bool neg = false;
        if (cur_peek(c) == '-') {
            neg = true;
            c->i++;
        }
        size_t ds = c->i;
        while (c->i < c->n && c->line[c->i] >= '0' && c->line[c->i] <= '9') {
            int d = c->line[c->i] - '0';
            if (v > (INT64_MAX - d) / 10) {
                c->i = ts;
                return fail_at(err, c, "timestamp out of range");
            }
            v = v * 10 + d;
            c->i++;
        }
        if (c->i == ds || (!cur_eol(c) && cur_peek(c) != ' ' && cur_peek(c) != '\t')) {
            c->i = ts;
            return fail_at(err, c, "invalid timestamp: expected integer milliseconds");
        }
        e->has_timestamp = true;
        e->timestamp_ms = neg ? -v : v;
        skip_blank(c);
        if (!cur_eol(c)) {
            return fail_at(err, c, "unexpected text after the timestamp");
        }
    }
    e->labels = p->labels;
    return 0;
}

/* ---- API ---------------------------------------------------------------------------------- */

tw_expfmt_parser_t *tw_expfmt_parser_new(const char *buf, size_t len,
                                         const tw_expfmt_parse_options_t *opts)
{
    tw_expfmt_parser_t *p = tw_xcalloc(1, sizeof(*p));
    p->buf = buf;
    p->len = len;
    if (opts != NULL) {
        p->opts = *opts;
    }
    p->om = p->opts.format == TW_EXPFMT_OPENMETRICS_1_0_0;
    p->strict = p->om && !p->opts.lenient;
    /* Unescaped text is never longer than the input it came from. */
    tw_buf_init(&p->scratch, len + 1);
    return p;
}

void tw_expfmt_parser_free(tw_expfmt_parser_t *p)
{
    if (p == NULL) {
        return;
    }
    tw_buf_fini(&p->scratch);
    free(p->labels);
    tw_expfmt_om_state_fini(&p->om_state);
    free(p);
}

static int fail_sticky(tw_expfmt_parser_t *p, int rc, tw_error_t *err)
{
    if (err != NULL) {
        p->fail = *err;
    } else {
        tw_error_set(&p->fail, rc, "parse error");
    }
    p->fail.code = rc;
    p->state = rc;
    return rc;
}

/* Makes room in the scratch buffer for everything unescaped out of an n-byte line. */
static void scratch_reserve(tw_expfmt_parser_t *p, size_t n)
{
    tw_buf_reset(&p->scratch);
    if (p->scratch.cap < n + 1) {
        /* Bounded by the input's length, which is the buffer's limit. */
        size_t want = n + 1;
        p->scratch.data = tw_xrealloc(p->scratch.data, want);
        p->scratch.cap = want;
        p->scratch.data[0] = '\0';
    }
}

int tw_expfmt_parser_next(tw_expfmt_parser_t *p, tw_expfmt_entry_t *out, tw_error_t *err)
{
    tw_error_t local;
    tw_error_t *e_out = err != NULL ? err : &local;
    if (p->state == 1) {
        return 0;
    }
    if (p->state < 0) {
        if (err != NULL) {
            *err = p->fail;
        }
        return p->state;
    }
    for (;;) {
        if (p->pos >= p->len) {
            if (p->om) {
                tw_error_set_at(e_out, TW_EPARSE, NULL, (int)p->lineno + 1, 1,
                                "data does not end with # EOF");
                return fail_sticky(p, TW_EPARSE, e_out);
            }
            p->state = 1;
            return 0;
        }
        const char *line = p->buf + p->pos;
        size_t avail = p->len - p->pos;
        const char *nl = memchr(line, '\n', avail);
        size_t n = nl != NULL ? (size_t)(nl - line) : avail;
        cursor_t c = {line, n, 0, p->lineno + 1};
        memset(out, 0, sizeof(*out));
        out->line = c.lineno;
        scratch_reserve(p, n);
        int rc;
        if (p->om) {
            if (n == 0) {
                rc = fail_at(e_out, &c, "blank lines are not allowed in OpenMetrics");
                return fail_sticky(p, rc, e_out);
            }
            if (n == 5 && memcmp(line, "# EOF", 5) == 0) {
                size_t end = p->pos + n + (nl != NULL ? 1 : 0);
                if (end < p->len) {
                    cursor_t after = {line, n, n, c.lineno + 1};
                    after.i = 0;
                    rc = fail_at(e_out, &after, "unexpected text after # EOF");
                    return fail_sticky(p, rc, e_out);
                }
                rc = tw_expfmt_om_check_eof(&p->om_state, c.lineno, p->strict, e_out);
                if (rc < 0) {
                    return fail_sticky(p, rc, e_out);
                }
                p->pos = end;
                p->lineno++;
                p->state = 1;
                return 0;
            }
            if (line[0] == '#') {
                if (n < 2 || line[1] != ' ') {
                    c.i = 1;
                    rc = fail_at(e_out, &c, "expected ' ' after '#'");
                } else {
                    c.i = 2;
                    rc = om_meta(p, &c, out, e_out);
                }
            } else {
                rc = om_sample(p, &c, out, e_out);
            }
        } else {
            skip_blank(&c);
            if (cur_eol(&c)) {
                p->pos += n + (nl != NULL ? 1 : 0);
                p->lineno++;
                continue;
            }
            if (cur_peek(&c) == '#') {
                rc = text_comment(p, &c, out, e_out);
            } else {
                rc = text_sample(p, &c, out, e_out);
            }
        }
        if (rc < 0) {
            return fail_sticky(p, rc, e_out);
        }
        p->pos += n + (nl != NULL ? 1 : 0);
        p->lineno++;
        return 1;
    }
}
