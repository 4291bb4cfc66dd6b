/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_test_script.c - the parser of PromQL test scripts (promqltest `.test` files) and of
 * series descriptions, plus the float comparison the scripts assume.
 *
 * The language is described in ../shared/conformance/promql/FORMAT.md. In short: lines are
 * trimmed, `#` lines count as empty, a block is a run of non-empty lines, and the first word of
 * a block picks the command (`clear`, `load...`, `eval...`). Like upstream's parser, a command
 * consumes lines up to the end of its block, except that `expected_fail_message`, a scalar line
 * and `clear` end the command at once (a following line of the same block starts a new one).
 *
 * Series descriptions (`name{l="v"} 0+10x3 _ stale {{...}}x2`) are scanned by hand: the label
 * part with PromQL string literals (tw_promql_unquote), the values item by item; `{{...}}`
 * histograms are recognised and counted but not interpreted (the engine has no native
 * histograms; the runner skips what reads them). Pure: no I/O, no clock.
 */
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/mem.h"
#include "query/promql_test_int.h"
#include "query/query_int.h"

/* ---- floats ---- */

bool tw_promql_test_float_equal(double a, double b)
{
    bool sa = tw_promql_is_stale_nan(a), sb = tw_promql_is_stale_nan(b);
    if (sa || sb) {
        return sa && sb;
    }
    if (isnan(a) && isnan(b)) {
        return true;
    }
    if (a == b) {
        return true;
    }
    const double eps = 1e-6;
    double abs_sum = fabs(a) + fabs(b);
    double diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < DBL_MIN) {
        return diff < eps * DBL_MIN;
    }
    return diff / fmin(abs_sum, DBL_MAX) < eps;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool ci_prefix(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);
    if (len < n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (tolower((unsigned char)s[i]) != word[i]) {
            return false;
        }
    }
    return true;
}

/*
 * Scans a decimal float at s[0..len): [+-] (inf | nan | digits[.digits][e[+-]digits]) with at
 * least one digit. Returns the length scanned (0: none) and the value.
 */
static size_t scan_float(const char *s, size_t len, bool allow_sign, double *v)
{
    size_t i = 0;
    if (allow_sign && i < len && (s[i] == '+' || s[i] == '-')) {
        i++;
    }
    if (ci_prefix(s + i, len - i, "inf") || ci_prefix(s + i, len - i, "nan")) {
        bool nan = tolower((unsigned char)s[i]) == 'n';
        i += 3;
        *v = nan ? NAN : (s[0] == '-' ? -INFINITY : INFINITY);
        return i;
    }
    size_t digits = 0;
    while (i < len && is_digit(s[i])) {
        i++;
        digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && is_digit(s[i])) {
            i++;
            digits++;
        }
    }
    if (digits == 0) {
        return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < len && (s[j] == '+' || s[j] == '-')) {
            j++;
        }
        if (j < len && is_digit(s[j])) {
            while (j < len && is_digit(s[j])) {
                j++;
            }
            i = j;
        }
    }
    char buf[128];
    if (i >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, s, i);
    buf[i] = '\0';
    *v = strtod(buf, NULL);
    return i;
}

/* Parses an unsigned decimal count s[0..len) entirely. */
static bool parse_count(const char *s, size_t len, uint64_t *n)
{
    if (len == 0 || len > 18) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i])) {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *n = v;
    return true;
}

bool tw_pt_parse_number(const char *s, size_t len, double *v)
{
    if (len == 0) {
        return false;
    }
    /* Go's ParseInt(s, 0, 64): sign, then 0x / 0o / 0b / leading-0 octal / decimal. */
    size_t i = 0;
    bool neg = false;
    if (s[i] == '+' || s[i] == '-') {
        neg = s[i] == '-';
        i++;
    }
    unsigned base = 10;
    if (i + 1 < len && s[i] == '0') {
        char c = (char)tolower((unsigned char)s[i + 1]);
        if (c == 'x' || c == 'o' || c == 'b') {
            base = c == 'x' ? 16 : (c == 'o' ? 8 : 2);
            i += 2;
        } else {
            base = 8;
            i += 1;
        }
    }
    if (i < len) {
        uint64_t acc = 0;
        bool ok = true, overflow = false;
        for (size_t j = i; j < len && ok; j++) {
            int d;
            char c = (char)tolower((unsigned char)s[j]);
            if (c >= '0' && c <= '9') {
                d = c - '0';
            } else if (c >= 'a' && c <= 'f') {
                d = c - 'a' + 10;
            } else {
                ok = false;
                break;
            }
            if ((unsigned)d >= base) {
                ok = false;
                break;
            }
            if (acc > (UINT64_MAX - (uint64_t)d) / base) {
                overflow = true;
            }
            acc = acc * base + (uint64_t)d;
        }
        if (ok && !overflow && acc <= (uint64_t)INT64_MAX + (neg ? 1u : 0u)) {
            *v = neg ? -(double)acc : (double)acc;
            return true;
        }
    } else if (base == 8) {
        *v = 0; /* "0", "-0" */
        return true;
    }
    /* ParseFloat: decimal forms, inf, infinity, nan. */
    i = 0;
    if (s[0] == '+' || s[0] == '-') {
        i = 1;
    }
    if (len - i == 8 && ci_prefix(s + i, len - i, "infinity")) {
        *v = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    double f;
    size_t n = scan_float(s, len, true, &f);
    if (n != len) {
        return false;
    }
    *v = f;
    return true;
}

/* ---- series descriptions ---- */

/* Pushes cnt values of kind/v onto d, bounded by max. */
static int push_values(tw_promql_series_desc_t *d, size_t *cap, size_t max, uint64_t cnt,
                       tw_promql_seq_kind_t kind, double v, double step, tw_error_t *err)
{
    if (cnt > max || d->n_values + cnt > max) {
        return tw_error_set(err, TW_ELIMIT, "series description has more than %zu values", max);
    }
    tw_grow((void **)&d->values, cap, d->n_values + (size_t)cnt, sizeof(tw_promql_seq_value_t));
    for (uint64_t k = 0; k < cnt; k++) {
        d->values[d->n_values].kind = kind;
        d->values[d->n_values].v = v;
        d->n_values++;
        v += step;
    }
    return 0;
}

/* Finds the end of the string literal starting at s[p]; returns the index after it or 0. */
static size_t scan_string(const char *s, size_t len, size_t p)
{
    char q = s[p];
    size_t i = p + 1;
    while (i < len) {
        if (s[i] == q) {
            return i + 1;
        }
        if (q != '`' && s[i] == '\\') {
            i++;
        } else if (q != '`' && s[i] == '\n') {
            return 0;
        }
        i++;
    }
    return 0;
}

static bool is_name_start(char c, bool metric)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}

static bool is_name_char(char c, bool metric)
{
    return is_name_start(c, metric) || is_digit(c);
}

/* Adds label name=value (copies) to d; refuses a name given twice. */
static int add_label(tw_promql_series_desc_t *d, size_t *cap, const char *name, size_t nlen,
                     const char *value, size_t vlen, size_t col, tw_error_t *err)
{
    for (size_t i = 0; i < d->n_labels; i++) {
        if (strlen(d->labels[i].name) == nlen && memcmp(d->labels[i].name, name, nlen) == 0) {
            return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)col,
                                   "label name \"%.*s\" given twice", (int)nlen, name);
        }
    }
    if (memchr(value, '\0', vlen) != NULL || memchr(name, '\0', nlen) != NULL) {
        return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)col, "NUL byte in a label");
    }
    tw_grow((void **)&d->labels, cap, d->n_labels + 1, sizeof(tw_label_t));
    d->labels[d->n_labels].name = tw_xstrndup(name, nlen);
    d->labels[d->n_labels].value = tw_xstrndup(value, vlen);
    d->n_labels++;
    return 0;
}

/* Unquotes the literal s[a..b) into the arena. */
static int unquote(tw_arena_t *ar, const char *s, size_t a, size_t b, char **out, size_t *olen,
                   tw_error_t *err)
{
    if (tw_promql_unquote(ar, s + a, b - a, out, olen) != 0) {
        return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)a + 1, "invalid string literal %.*s",
                               (int)(b - a), s + a);
    }
    return 0;
}

/* Parses `{l="v", ...}` starting at s[*p] == '{'. */
static int parse_label_set(const char *s, size_t len, size_t *p, tw_arena_t *ar,
                           tw_promql_series_desc_t *d, size_t *cap, tw_error_t *err)
{
    size_t i = *p + 1;
    for (;;) {
        while (i < len && is_blank(s[i])) {
            i++;
        }
        if (i >= len) {
            return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1, "unclosed label set");
        }
        if (s[i] == '}') {
            i++;
            break;
        }
        const char *name;
        size_t nlen;
        char *uq = NULL;
        bool quoted_name = false;
        size_t start = i;
        if (s[i] == '"' || s[i] == '\'' || s[i] == '`') {
            size_t e = scan_string(s, len, i);
            if (e == 0) {
                return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1, "unterminated string");
            }
            int rc = unquote(ar, s, i, e, &uq, &nlen, err);
            if (rc != 0) {
                return rc;
            }
            name = uq;
            i = e;
            quoted_name = true;
        } else if (is_name_start(s[i], false)) {
            while (i < len && is_name_char(s[i], false)) {
                i++;
            }
            name = s + start;
            nlen = i - start;
        } else {
            return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1,
                                   "unexpected character '%c' in label set", s[i]);
        }
        while (i < len && is_blank(s[i])) {
            i++;
        }
        if (quoted_name && i < len && (s[i] == ',' || s[i] == '}')) {
            /* {"metric.name", ...}: a quoted metric name */
            int rc = add_label(d, cap, TW_METRIC_NAME_LABEL, strlen(TW_METRIC_NAME_LABEL), name,
                               nlen, start + 1, err);
            if (rc != 0) {
                return rc;
            }
        } else {
            if (i >= len || s[i] != '=' || (i + 1 < len && s[i + 1] == '~')) {
                return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1,
                                       "expected '=' after label name (only = is allowed)");
            }
            i++;
            while (i < len && is_blank(s[i])) {
                i++;
            }
            if (i >= len || (s[i] != '"' && s[i] != '\'' && s[i] != '`')) {
                return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1,
                                       "expected a string after '='");
            }
            size_t e = scan_string(s, len, i);
            if (e == 0) {
                return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1, "unterminated string");
            }
            char *val;
            size_t vlen;
            int rc = unquote(ar, s, i, e, &val, &vlen, err);
            if (rc == 0) {
                rc = add_label(d, cap, name, nlen, val, vlen, start + 1, err);
            }
            if (rc != 0) {
                return rc;
            }
            i = e;
        }
        while (i < len && is_blank(s[i])) {
            i++;
        }
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && s[i] == '}') {
            i++;
            break;
        }
        return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1,
                               "expected ',' or '}' in label set");
    }
    *p = i;
    return 0;
}

/* Index just after the `}}` closing the histogram that starts at s[p] ("{{"), or 0. */
static size_t scan_histogram(const char *s, size_t len, size_t p)
{
    for (size_t i = p + 2; i + 1 < len; i++) {
        if (s[i] == '}' && s[i + 1] == '}') {
            return i + 2;
        }
    }
    return 0;
}

/* Parses `xN` at s[*p] (when present) into *n; *p moves past it. */
static int parse_times(const char *s, size_t len, size_t *p, uint64_t *n, bool required,
                       tw_error_t *err)
{
    size_t i = *p;
    if (i >= len || s[i] != 'x') {
        if (required) {
            return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1, "expected 'x<count>'");
        }
        return 1; /* absent */
    }
    size_t a = ++i;
    while (i < len && is_digit(s[i])) {
        i++;
    }
    if (!parse_count(s + a, i - a, n)) {
        return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)a + 1, "invalid repetition count");
    }
    *p = i;
    return 0;
}

/* Parses one value item at s[*p]. */
static int parse_item(const char *s, size_t len, size_t *p, size_t max, tw_promql_series_desc_t *d,
                      size_t *cap, tw_error_t *err)
{
    size_t i = *p;
    int rc;
    uint64_t n = 0;
    if (len - i >= 2 && s[i] == '{' && s[i + 1] == '{') {
        size_t e = scan_histogram(s, len, i);
        if (e == 0) {
            return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1, "unclosed histogram");
        }
        i = e;
        uint64_t cnt = 1;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            if (len - i < 3 || s[i + 1] != '{' || s[i + 2] != '{' ||
                (e = scan_histogram(s, len, i + 1)) == 0) {
                return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1,
                                       "expected a histogram increment");
            }
            i = e;
            rc = parse_times(s, len, &i, &n, true, err);
            if (rc != 0) {
                return rc;
            }
            cnt = n + 1;
        } else if ((rc = parse_times(s, len, &i, &n, false, err)) <= 0) {
            if (rc < 0) {
                return rc;
            }
            cnt = n + 1;
        }
        if (i < len && !is_blank(s[i])) {
            return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1,
                                   "unexpected character '%c' after histogram", s[i]);
        }
        d->has_histograms = true;
        *p = i;
        return push_values(d, cap, max, cnt, TW_PROMQL_SEQ_HISTOGRAM, 0, 0, err);
    }
    size_t e = i;
    while (e < len && !is_blank(s[e])) {
        e++;
    }
    const char *t = s + i;
    size_t tl = e - i;
    *p = e;
    if (tl == 1 && t[0] == '_') {
        return push_values(d, cap, max, 1, TW_PROMQL_SEQ_OMITTED, 0, 0, err);
    }
    if (tl >= 2 && t[0] == '_' && t[1] == 'x') {
        if (!parse_count(t + 2, tl - 2, &n)) {
            return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 3, "invalid repetition count");
        }
        return push_values(d, cap, max, n, TW_PROMQL_SEQ_OMITTED, 0, 0, err);
    }
    if (tl == 5 && memcmp(t, "stale", 5) == 0) {
        double st;
        uint64_t bits = TW_PROMQL_STALE_NAN_BITS;
        memcpy(&st, &bits, sizeof(st));
        return push_values(d, cap, max, 1, TW_PROMQL_SEQ_FLOAT, st, 0, err);
    }
    double a;
    size_t k = scan_float(t, tl, true, &a);
    if (k == 0) {
        return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1, "invalid value \"%.*s\"",
                               (int)tl, t);
    }
    if (k == tl) {
        return push_values(d, cap, max, 1, TW_PROMQL_SEQ_FLOAT, a, 0, err);
    }
    double step = 0;
    if (t[k] == '+' || t[k] == '-') {
        bool neg = t[k] == '-';
        size_t k2 = scan_float(t + k + 1, tl - k - 1, false, &step);
        if (k2 == 0) {
            return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)(i + k) + 2,
                                   "invalid increment in \"%.*s\"", (int)tl, t);
        }
        if (neg) {
            step = -step;
        }
        k += 1 + k2;
        if (k >= tl || t[k] != 'x') {
            return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)(i + k) + 1,
                                   "expected 'x<count>' in \"%.*s\"", (int)tl, t);
        }
    }
    if (t[k] != 'x' || !parse_count(t + k + 1, tl - k - 1, &n)) {
        return tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)(i + k) + 1, "invalid value \"%.*s\"",
                               (int)tl, t);
    }
    if (n >= max) {
        return tw_error_set(err, TW_ELIMIT, "series description has more than %zu values", max);
    }
    return push_values(d, cap, max, n + 1, TW_PROMQL_SEQ_FLOAT, a, step, err);
}

void tw_promql_series_desc_fini(tw_promql_series_desc_t *d)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->n_labels; i++) {
        free((char *)d->labels[i].name);
        free((char *)d->labels[i].value);
    }
    free(d->labels);
    free(d->values);
    memset(d, 0, sizeof(*d));
}

int tw_promql_series_desc_parse(const char *s, size_t len, bool values_required, size_t max_values,
                                tw_promql_series_desc_t *d, tw_error_t *err)
{
    memset(d, 0, sizeof(*d));
    size_t max = max_values == 0 ? TW_PROMQL_SERIES_DESC_MAX_VALUES : max_values;
    size_t lcap = 0, vcap = 0, i = 0;
    int rc = 0;
    tw_arena_t *ar = tw_arena_new(0);
    while (i < len && is_blank(s[i])) {
        i++;
    }
    bool have_name = false;
    if (i < len && is_name_start(s[i], true)) {
        size_t a = i;
        while (i < len && is_name_char(s[i], true)) {
            i++;
        }
        rc = add_label(d, &lcap, TW_METRIC_NAME_LABEL, strlen(TW_METRIC_NAME_LABEL), s + a, i - a,
                       a + 1, err);
        if (rc != 0) {
            goto out;
        }
        have_name = true;
    }
    if (i < len && s[i] == '{' && !(i + 1 < len && s[i + 1] == '{')) {
        rc = parse_label_set(s, len, &i, ar, d, &lcap, err);
        if (rc != 0) {
            goto out;
        }
    } else if (!have_name) {
        rc = tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1,
                             "expected a metric name or a label set");
        goto out;
    }
    if (i < len && !is_blank(s[i])) {
        rc = tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)i + 1,
                             "unexpected character '%c' after the series", s[i]);
        goto out;
    }
    for (;;) {
        while (i < len && is_blank(s[i])) {
            i++;
        }
        if (i >= len) {
            break;
        }
        rc = parse_item(s, len, &i, max, d, &vcap, err);
        if (rc != 0) {
            goto out;
        }
    }
    if (values_required && d->n_values == 0) {
        rc = tw_error_set_at(err, TW_EPARSE, NULL, 0, (int)len + 1, "expected values");
        goto out;
    }
    tw_labels_sort(d->labels, d->n_labels);
out:
    tw_arena_free(ar);
    if (rc != 0) {
        tw_promql_series_desc_fini(d);
    }
    return rc;
}

/* ---- scripts ---- */

typedef struct pt_line {
    const char *s; /* trimmed; NULL or len 0: empty (or a comment) */
    size_t len;
} pt_line_t;

typedef struct pt_parser {
    const char *name;
    pt_line_t *lines;
    size_t n_lines;
    tw_error_t *err;
} pt_parser_t;

static int perr(pt_parser_t *ps, size_t li, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reports an error at 0-based line li. */
static int perr(pt_parser_t *ps, size_t li, int code, const char *fmt, ...)
{
    if (ps->err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        char msg[sizeof(ps->err->msg)];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        tw_error_set_at(ps->err, code, ps->name, (int)li + 1, 0, "%s", msg);
    }
    return code;
}

/* Splits a line into its next whitespace-separated word: *w / *wl; returns the rest's start. */
static size_t next_word(const char *s, size_t len, size_t p, const char **w, size_t *wl)
{
    while (p < len && is_blank(s[p])) {
        p++;
    }
    size_t a = p;
    while (p < len && !is_blank(s[p])) {
        p++;
    }
    *w = s + a;
    *wl = p - a;
    return p;
}

static bool word_is(const char *w, size_t wl, const char *lit)
{
    return strlen(lit) == wl && memcmp(w, lit, wl) == 0;
}

static bool has_prefix(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len >= n && memcmp(s, lit, n) == 0;
}

static char *dup_trimmed(const char *s, size_t len, size_t *olen)
{
    while (len > 0 && is_space(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1])) {
        len--;
    }
    if (olen != NULL) {
        *olen = len;
    }
    return tw_xstrndup(s, len);
}

static int parse_dur(pt_parser_t *ps, size_t li, const char *w, size_t wl, const char *what,
                     int64_t *ms)
{
    tw_error_t e;
    if (tw_promql_duration_parse(w, wl, ms, &e) != 0) {
        return perr(ps, li, TW_EPARSE, "invalid %s \"%.*s\": %s", what, (int)wl, w, e.msg);
    }
    return 0;
}

static void eval_fini(tw_pt_eval_t *ev)
{
    free(ev->expr);
    free(ev->fail_message);
    free(ev->fail_regexp);
    for (size_t i = 0; i < ev->n_expects; i++) {
        free(ev->expects[i].text);
    }
    free(ev->expects);
    free(ev->string);
    for (size_t i = 0; i < ev->n_series; i++) {
        tw_promql_series_desc_fini(&ev->series[i].d);
    }
    free(ev->series);
}

static void load_fini(tw_pt_load_t *l)
{
    for (size_t i = 0; i < l->n_series; i++) {
        tw_promql_series_desc_fini(&l->series[i]);
    }
    free(l->series);
}

void tw_pt_script_free(tw_pt_script_t *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n_cmds; i++) {
        load_fini(&s->cmds[i].load);
        eval_fini(&s->cmds[i].eval);
    }
    free(s->cmds);
    free(s);
}

static bool same_labels(const tw_promql_series_desc_t *a, const tw_promql_series_desc_t *b)
{
    return tw_labels_compare(a->labels, a->n_labels, b->labels, b->n_labels) == 0;
}

/* Parses a load block starting at line *li; *li ends on the last line consumed. */
static int parse_load(pt_parser_t *ps, size_t *li, tw_pt_load_t *ld)
{
    const pt_line_t *l = &ps->lines[*li];
    const char *w;
    size_t wl;
    size_t p = next_word(l->s, l->len, 0, &w, &wl);
    if (word_is(w, wl, "load_with_nhcb")) {
        ld->nhcb = true;
    } else if (!word_is(w, wl, "load")) {
        return perr(ps, *li, TW_EPARSE, "invalid load command. (load[_with_nhcb] <step:duration>)");
    }
    const char *d;
    size_t dl;
    size_t q = next_word(l->s, l->len, p, &d, &dl);
    const char *extra;
    size_t el;
    next_word(l->s, l->len, q, &extra, &el);
    if (dl == 0 || el != 0) {
        return perr(ps, *li, TW_EPARSE, "invalid load command. (load[_with_nhcb] <step:duration>)");
    }
    int rc = parse_dur(ps, *li, d, dl, "step definition", &ld->interval_ms);
    if (rc != 0) {
        return rc;
    }
    size_t cap = 0;
    while (*li + 1 < ps->n_lines && ps->lines[*li + 1].len > 0) {
        (*li)++;
        l = &ps->lines[*li];
        size_t sp = 0;
        while (sp < l->len && !is_blank(l->s[sp])) {
            sp++;
        }
        if (sp >= 3 && memcmp(l->s + sp - 3, "@st", 3) == 0) {
            ld->start_timestamps = true; /* start timestamps: not modelled */
            continue;
        }
        tw_promql_series_desc_t sd;
        tw_error_t e;
        rc = tw_promql_series_desc_parse(l->s, l->len, false, 0, &sd, &e);
        if (rc != 0) {
            return perr(ps, *li, rc, "%d: %s", e.col, e.msg);
        }
        size_t k = 0;
        while (k < ld->n_series && !same_labels(&ld->series[k], &sd)) {
            k++;
        }
        if (k < ld->n_series) {
            tw_promql_series_desc_fini(&ld->series[k]);
        } else {
            tw_grow((void **)&ld->series, &cap, ld->n_series + 1, sizeof(*ld->series));
            ld->n_series++;
        }
        ld->series[k] = sd;
    }
    return 0;
}

static const char *const expect_kind_names[] = {
    [TW_PT_EXPECT_FAIL] = "fail",       [TW_PT_EXPECT_WARN] = "warn",
    [TW_PT_EXPECT_NO_WARN] = "no_warn", [TW_PT_EXPECT_INFO] = "info",
    [TW_PT_EXPECT_NO_INFO] = "no_info", [TW_PT_EXPECT_ORDERED] = "ordered",
};

static size_t count_expects(const tw_pt_eval_t *ev, tw_pt_expect_kind_t k)
{
    size_t n = 0;
    for (size_t i = 0; i < ev->n_expects; i++) {
        n += ev->expects[i].kind == k;
    }
    return n;
}

/* `expect <kind>[ msg|regex: text]`. */
static int parse_expect(pt_parser_t *ps, size_t li, tw_pt_eval_t *ev, size_t *cap)
{
    const pt_line_t *l = &ps->lines[li];
    const char *w;
    size_t wl;
    size_t p = next_word(l->s, l->len, 0, &w, &wl); /* "expect" */
    p = next_word(l->s, l->len, p, &w, &wl);
    int kind = -1;
    for (size_t k = 0; k < sizeof(expect_kind_names) / sizeof(expect_kind_names[0]); k++) {
        if (word_is(w, wl, expect_kind_names[k])) {
            kind = (int)k;
        }
    }
    const char *bad = "invalid expect statement, must match `expect <type> <match_type>: <string>` "
                      "format";
    if (kind < 0) {
        return perr(ps, li, TW_EPARSE, "%s", bad);
    }
    tw_pt_expect_t x = {.kind = (tw_pt_expect_kind_t)kind};
    if (p < l->len) {
        size_t q = p;
        while (q < l->len && is_blank(l->s[q])) {
            q++;
        }
        const char *r = l->s + q;
        size_t rl = l->len - q;
        size_t skip;
        if (has_prefix(r, rl, "msg:")) {
            skip = 4;
        } else if (has_prefix(r, rl, "regex:")) {
            skip = 6;
            x.regex = true;
        } else {
            return perr(ps, li, TW_EPARSE, "%s", bad);
        }
        if (rl == skip) {
            return perr(ps, li, TW_EPARSE, "%s", bad);
        }
        x.text = dup_trimmed(r + skip, rl - skip, NULL);
    }
    tw_grow((void **)&ev->expects, cap, ev->n_expects + 1, sizeof(*ev->expects));
    ev->expects[ev->n_expects++] = x;
    if (count_expects(ev, TW_PT_EXPECT_INFO) > 0 && count_expects(ev, TW_PT_EXPECT_NO_INFO) > 0) {
        return perr(ps, li, TW_EPARSE,
                    "invalid expect lines, info and no_info cannot be used together");
    }
    if (count_expects(ev, TW_PT_EXPECT_WARN) > 0 && count_expects(ev, TW_PT_EXPECT_NO_WARN) > 0) {
        return perr(ps, li, TW_EPARSE,
                    "invalid expect lines, warn and no_warn cannot be used together");
    }
    if (count_expects(ev, TW_PT_EXPECT_FAIL) > 1) {
        return perr(ps, li, TW_EPARSE,
                    "invalid expect lines, multiple expect fail lines are not allowed");
    }
    return 0;
}

/* `expect range vector from A to B step S`. */
static int parse_expect_range(pt_parser_t *ps, size_t li, tw_pt_eval_t *ev)
{
    const pt_line_t *l = &ps->lines[li];
    const char *w[8];
    size_t wl[8];
    size_t p = 0;
    for (int k = 0; k < 8; k++) {
        p = next_word(l->s, l->len, p, &w[k], &wl[k]);
    }
    if (!word_is(w[3], wl[3], "from") || !word_is(w[5], wl[5], "to") ||
        !word_is(w[7], wl[7], "step") || wl[4] == 0 || wl[6] == 0) {
        return perr(ps, li, TW_EPARSE, "invalid range vector definition \"%.*s\"", (int)l->len,
                    l->s);
    }
    const char *sw;
    size_t swl;
    size_t q = next_word(l->s, l->len, p, &sw, &swl);
    const char *extra;
    size_t el;
    next_word(l->s, l->len, q, &extra, &el);
    if (swl == 0 || el != 0) {
        return perr(ps, li, TW_EPARSE, "invalid range vector definition \"%.*s\"", (int)l->len,
                    l->s);
    }
    int rc = parse_dur(ps, li, w[4], wl[4], "start timestamp definition", &ev->rv_start_ms);
    if (rc == 0) {
        rc = parse_dur(ps, li, w[6], wl[6], "end timestamp definition", &ev->rv_end_ms);
    }
    if (rc == 0) {
        rc = parse_dur(ps, li, sw, swl, "step definition", &ev->rv_step_ms);
    }
    if (rc != 0) {
        return rc;
    }
    if (ev->rv_end_ms < ev->rv_start_ms) {
        return perr(ps, li, TW_EPARSE,
                    "invalid test definition, end timestamp (%.*s) is before start timestamp "
                    "(%.*s)",
                    (int)wl[6], w[6], (int)wl[4], w[4]);
    }
    ev->range_vector = true;
    ev->start_ms = ev->rv_end_ms;
    ev->end_ms = ev->rv_end_ms;
    return 0;
}

/* Parses the eval header at line li into ev. */
static int parse_eval_header(pt_parser_t *ps, size_t li, tw_pt_eval_t *ev)
{
    const pt_line_t *l = &ps->lines[li];
    const char *w;
    size_t wl;
    size_t p = next_word(l->s, l->len, 0, &w, &wl);
    const char *mod = w + 4;
    size_t ml = wl - 4;
    if (ml == 0) {
        /* plain eval */
    } else if (word_is(mod, ml, "_fail")) {
        ev->fail = true;
    } else if (word_is(mod, ml, "_warn")) {
        ev->warn = true;
    } else if (word_is(mod, ml, "_info")) {
        ev->info = true;
    } else if (word_is(mod, ml, "_ordered")) {
        ev->ordered = true;
    } else {
        goto invalid;
    }
    const char *k;
    size_t kl;
    p = next_word(l->s, l->len, p, &k, &kl);
    int rc;
    if (word_is(k, kl, "instant")) {
        const char *at, *t;
        size_t atl, tl;
        p = next_word(l->s, l->len, p, &at, &atl);
        p = next_word(l->s, l->len, p, &t, &tl);
        if (!word_is(at, atl, "at") || tl == 0) {
            goto invalid;
        }
        rc = parse_dur(ps, li, t, tl, "timestamp definition", &ev->start_ms);
        if (rc != 0) {
            return rc;
        }
        ev->end_ms = ev->start_ms;
    } else if (word_is(k, kl, "range") && !ev->ordered) {
        const char *w4[6];
        size_t wl4[6];
        for (int j = 0; j < 6; j++) {
            p = next_word(l->s, l->len, p, &w4[j], &wl4[j]);
        }
        if (!word_is(w4[0], wl4[0], "from") || !word_is(w4[2], wl4[2], "to") ||
            !word_is(w4[4], wl4[4], "step") || wl4[1] == 0 || wl4[3] == 0 || wl4[5] == 0) {
            goto invalid;
        }
        rc = parse_dur(ps, li, w4[1], wl4[1], "start timestamp definition", &ev->start_ms);
        if (rc == 0) {
            rc = parse_dur(ps, li, w4[3], wl4[3], "end timestamp definition", &ev->end_ms);
        }
        if (rc == 0) {
            rc = parse_dur(ps, li, w4[5], wl4[5], "step definition", &ev->step_ms);
        }
        if (rc != 0) {
            return rc;
        }
        if (ev->end_ms < ev->start_ms) {
            return perr(ps, li, TW_EPARSE,
                        "invalid test definition, end timestamp (%.*s) is before start timestamp "
                        "(%.*s)",
                        (int)wl4[3], w4[3], (int)wl4[1], w4[1]);
        }
        ev->range = true;
    } else {
        goto invalid;
    }
    while (p < l->len && is_blank(l->s[p])) {
        p++;
    }
    if (p >= l->len) {
        goto invalid;
    }
    /* copied byte for byte (a NUL inside is the PromQL parser's to refuse) */
    ev->expr_len = l->len - p;
    ev->expr = tw_xmalloc(ev->expr_len + 1);
    memcpy(ev->expr, l->s + p, ev->expr_len);
    ev->expr[ev->expr_len] = '\0';
    return 0;
invalid:
    return perr(ps, li, TW_EPARSE,
                "invalid evaluation command. Must be either 'eval[_fail|_warn|_info|_ordered] "
                "instant [at <offset:duration>] <query>' or 'eval[_fail|_warn|_info] range from "
                "<from> to <to> step <step> <query>'");
}

/* Parses an eval block starting at line *li; *li ends on the last line consumed. */
static int parse_eval(pt_parser_t *ps, size_t *li, tw_pt_eval_t *ev)
{
    int rc = parse_eval_header(ps, *li, ev);
    if (rc != 0) {
        return rc;
    }
    size_t xcap = 0, scap = 0;
    int pos = 0;
    while (*li + 1 < ps->n_lines && ps->lines[*li + 1].len > 0) {
        (*li)++;
        const pt_line_t *l = &ps->lines[*li];
        if (ev->fail && has_prefix(l->s, l->len, "expected_fail_message")) {
            size_t n = strlen("expected_fail_message");
            ev->fail_message = dup_trimmed(l->s + n, l->len - n, NULL);
            break;
        }
        if (ev->fail && has_prefix(l->s, l->len, "expected_fail_regexp")) {
            size_t n = strlen("expected_fail_regexp");
            ev->fail_regexp = dup_trimmed(l->s + n, l->len - n, NULL);
            break;
        }
        if (has_prefix(l->s, l->len, "expect range vector")) {
            rc = parse_expect_range(ps, *li, ev);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (has_prefix(l->s, l->len, "expect string")) {
            size_t n = strlen("expect string ");
            if (l->len <= n || l->s[n - 1] != ' ') {
                return perr(ps, *li, TW_EPARSE,
                            "expected string literal not valid - a quoted string literal is "
                            "required");
            }
            tw_arena_t *ar = tw_arena_new(0);
            char *str;
            size_t sl;
            rc = tw_promql_unquote(ar, l->s + n, l->len - n, &str, &sl);
            if (rc == 0) {
                free(ev->string);
                ev->string = tw_xmalloc(sl + 1);
                memcpy(ev->string, str, sl);
                ev->string[sl] = '\0';
                ev->string_len = sl;
                ev->has_string = true;
            }
            tw_arena_free(ar);
            if (rc != 0) {
                return perr(ps, *li, TW_EPARSE,
                            "expected string literal not valid - check that the string is "
                            "correctly quoted");
            }
            continue;
        }
        const char *w;
        size_t wl = 0;
        while (wl < l->len && l->s[wl] != ' ') {
            wl++;
        }
        w = l->s;
        if (word_is(w, wl, "expect")) {
            rc = parse_expect(ps, *li, ev, &xcap);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        double v;
        if (tw_pt_parse_number(l->s, l->len, &v)) {
            ev->expect_scalar = true;
            ev->scalar = v;
            break;
        }
        tw_pt_expected_t ex = {.line = (int)*li + 1};
        tw_error_t e;
        rc = tw_promql_series_desc_parse(l->s, l->len, true, 0, &ex.d, &e);
        if (rc != 0) {
            return perr(ps, *li, rc, "%d: %s", e.col, e.msg);
        }
        if (ex.d.n_values > 1 && !ev->range && !ev->range_vector) {
            tw_promql_series_desc_fini(&ex.d);
            return perr(ps, *li, TW_EPARSE,
                        "error in eval %s (line %zu): expecting multiple values in instant "
                        "evaluation not allowed. consider using 'expect range vector' directive "
                        "to enable a range vector result for an instant query",
                        ev->expr, *li + 1);
        }
        if (ex.d.has_histograms) {
            ev->expects_histograms = true;
        }
        ev->expect_scalar = false;
        ex.pos = ++pos;
        size_t k = 0;
        while (k < ev->n_series && !same_labels(&ev->series[k].d, &ex.d)) {
            k++;
        }
        if (k < ev->n_series) {
            tw_promql_series_desc_fini(&ev->series[k].d);
        } else {
            tw_grow((void **)&ev->series, &scap, ev->n_series + 1, sizeof(*ev->series));
            ev->n_series++;
        }
        ev->series[k] = ex;
    }
    return 0;
}

bool tw_pt_eval_expects_fail(const tw_pt_eval_t *ev)
{
    return ev->fail || count_expects(ev, TW_PT_EXPECT_FAIL) > 0;
}

bool tw_pt_eval_is_ordered(const tw_pt_eval_t *ev)
{
    return ev->ordered || count_expects(ev, TW_PT_EXPECT_ORDERED) > 0;
}

int tw_pt_script_parse(const char *name, const char *text, size_t len, tw_pt_script_t **out,
                       tw_error_t *err)
{
    *out = NULL;
    pt_parser_t ps = {.name = name, .err = err};
    tw_pt_script_t *sc = tw_xcalloc(1, sizeof(*sc));
    int rc = 0;
    if (len > TW_PT_MAX_SCRIPT_BYTES) {
        rc = tw_error_set(err, TW_ELIMIT, "%s: script larger than %u bytes",
                          name != NULL ? name : "script", TW_PT_MAX_SCRIPT_BYTES);
        goto out;
    }
    size_t cap = 0;
    for (size_t a = 0; a <= len;) {
        const char *nl = a < len ? memchr(text + a, '\n', len - a) : NULL;
        size_t e = nl != NULL ? (size_t)(nl - text) : len;
        const char *s = text + a;
        size_t l = e - a;
        while (l > 0 && is_space(*s)) {
            s++;
            l--;
        }
        while (l > 0 && is_space(s[l - 1])) {
            l--;
        }
        if (l > 0 && s[0] == '#') {
            l = 0;
        }
        tw_grow((void **)&ps.lines, &cap, ps.n_lines + 1, sizeof(pt_line_t));
        ps.lines[ps.n_lines].s = s;
        ps.lines[ps.n_lines].len = l;
        ps.n_lines++;
        if (nl == NULL) {
            break;
        }
        a = e + 1;
    }
    for (size_t i = 0; i < ps.n_lines; i++) {
        const pt_line_t *l = &ps.lines[i];
        if (l->len == 0) {
            continue;
        }
        const char *w;
        size_t wl;
        next_word(l->s, l->len, 0, &w, &wl);
        tw_grow((void **)&sc->cmds, &sc->cap_cmds, sc->n_cmds + 1, sizeof(tw_pt_cmd_t));
        tw_pt_cmd_t *c = &sc->cmds[sc->n_cmds++];
        memset(c, 0, sizeof(*c));
        c->line = (int)i + 1;
        if (wl == 5 && ci_prefix(w, wl, "clear")) {
            c->kind = TW_PT_CLEAR;
        } else if (ci_prefix(w, wl, "load")) {
            c->kind = TW_PT_LOAD;
            rc = parse_load(&ps, &i, &c->load);
        } else if (ci_prefix(w, wl, "eval")) {
            c->kind = TW_PT_EVAL;
            rc = parse_eval(&ps, &i, &c->eval);
        } else {
            rc = perr(&ps, i, TW_EPARSE, "invalid command \"%.*s\"", (int)l->len, l->s);
        }
        if (rc != 0) {
            goto out;
        }
    }
out:
    free(ps.lines);
    if (rc != 0) {
        tw_pt_script_free(sc);
        return rc;
    }
    *out = sc;
    return 0;
}
