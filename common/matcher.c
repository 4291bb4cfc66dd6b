/* SPDX-License-Identifier: Apache-2.0 */
/*
 * matcher.c - label matchers with Prometheus' semantics (see matcher.h), and the PromQL series
 * selector parser. Regexes are compiled by common/regex.c, which also holds their fast paths.
 * Pure code, no global state.
 */
#include "matcher.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "mem.h"
#include "regex.h"

const char *tw_match_type_str(tw_match_type_t t)
{
    switch (t) {
    case TW_MATCH_EQ:
        return "=";
    case TW_MATCH_NEQ:
        return "!=";
    case TW_MATCH_RE:
        return "=~";
    case TW_MATCH_NRE:
        return "!~";
    }
    return "?";
}

int tw_matcher_init(tw_matcher_t *m, tw_match_type_t type, const char *name, const char *value,
                    tw_error_t *err)
{
    return tw_matcher_init_flags(m, type, name, value, TW_REGEX_DOTALL, err);
}

int tw_matcher_init_flags(tw_matcher_t *m, tw_match_type_t type, const char *name,
                          const char *value, unsigned regex_flags, tw_error_t *err)
{
    memset(m, 0, sizeof(*m));
    if (type != TW_MATCH_EQ && type != TW_MATCH_NEQ && type != TW_MATCH_RE &&
        type != TW_MATCH_NRE) {
        return tw_error_set(err, TW_EINVAL, "matcher: unknown match type %d", (int)type);
    }
    m->type = type;
    if (type == TW_MATCH_RE || type == TW_MATCH_NRE) {
        int rc = tw_regex_compile(&m->re, value, regex_flags, err);
        if (rc != 0) {
            return rc;
        }
    }
    m->name = tw_xstrdup(name);
    m->value = tw_xstrdup(value);
    m->matches_empty = tw_matcher_matches(m, "");
    return 0;
}

void tw_matcher_fini(tw_matcher_t *m)
{
    if (m == NULL) {
        return;
    }
    tw_regex_free(m->re);
    m->re = NULL;
    free(m->name);
    free(m->value);
    m->name = NULL;
    m->value = NULL;
}

bool tw_matcher_matches(const tw_matcher_t *m, const char *value)
{
    switch (m->type) {
    case TW_MATCH_EQ:
        return strcmp(m->value, value) == 0;
    case TW_MATCH_NEQ:
        return strcmp(m->value, value) != 0;
    case TW_MATCH_RE:
        return tw_regex_matches(m->re, value, strlen(value));
    case TW_MATCH_NRE:
        return !tw_regex_matches(m->re, value, strlen(value));
    }
    return false;
}

bool tw_matcher_matches_empty(const tw_matcher_t *m)
{
    return m->matches_empty;
}

int tw_matcher_format(const tw_matcher_t *m, tw_buf_t *out)
{
    int rc = tw_buf_puts(out, m->name);
    rc |= tw_buf_puts(out, tw_match_type_str(m->type));
    rc |= tw_buf_putc(out, '"');
    for (const unsigned char *p = (const unsigned char *)m->value; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            rc |= tw_buf_puts(out, "\\\"");
            break;
        case '\\':
            rc |= tw_buf_puts(out, "\\\\");
            break;
        case '\n':
            rc |= tw_buf_puts(out, "\\n");
            break;
        case '\t':
            rc |= tw_buf_puts(out, "\\t");
            break;
        case '\r':
            rc |= tw_buf_puts(out, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                rc |= tw_buf_printf(out, "\\x%02x", *p);
            } else {
                rc |= tw_buf_putc(out, (char)*p);
            }
        }
    }
    rc |= tw_buf_putc(out, '"');
    return rc != 0 ? TW_ELIMIT : 0;
}

/* ---- selectors ------------------------------------------------------------------------------ */

static bool sel_name_start(char ch, bool metric)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
           (metric && ch == ':');
}

static bool sel_name_char(char ch, bool metric)
{
    return sel_name_start(ch, metric) || (ch >= '0' && ch <= '9');
}

static const char *sel_skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }
    return p;
}

static int sel_hex(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Appends the UTF-8 encoding of cp to out. */
static void sel_put_utf8(tw_buf_t *out, unsigned long cp)
{
    char b[4];
    if (cp < 0x80) {
        b[0] = (char)cp;
        tw_buf_append(out, b, 1);
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        tw_buf_append(out, b, 2);
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        tw_buf_append(out, b, 3);
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        tw_buf_append(out, b, 4);
    }
}

/* Reads a quoted string at *pp (Go's escapes in "" and '', none in ``) into out. */
static int sel_string(const char *s, const char **pp, tw_buf_t *out, tw_error_t *err)
{
    const char *p = *pp;
    char q = *p++;
    tw_buf_reset(out);
    while (*p != q) {
        if (*p == '\0' || (*p == '\n' && q != '`')) {
            return tw_error_set(err, TW_EPARSE, "column %d: unterminated string",
                                (int)(*pp - s) + 1);
        }
        if (*p != '\\' || q == '`') {
            tw_buf_putc(out, *p++);
            continue;
        }
        p++;
        int digits = 0;
        switch (*p) {
        case 'a':
            tw_buf_putc(out, '\a');
            break;
        case 'b':
            tw_buf_putc(out, '\b');
            break;
        case 'f':
            tw_buf_putc(out, '\f');
            break;
        case 'n':
            tw_buf_putc(out, '\n');
            break;
        case 'r':
            tw_buf_putc(out, '\r');
            break;
        case 't':
            tw_buf_putc(out, '\t');
            break;
        case 'v':
            tw_buf_putc(out, '\v');
            break;
        case '\\':
        case '"':
        case '\'':
            if (*p != '\\' && *p != q) {
                return tw_error_set(err, TW_EPARSE, "column %d: unknown escape \\%c", (int)(p - s),
                                    *p);
            }
            tw_buf_putc(out, *p);
            break;
        case 'x':
            digits = 2;
            break;
        case 'u':
            digits = 4;
            break;
        case 'U':
            digits = 8;
            break;
        default:
            if (*p >= '0' && *p <= '7' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' &&
                p[2] <= '7') {
                tw_buf_putc(out, (char)(((p[0] - '0') << 6) | ((p[1] - '0') << 3) | (p[2] - '0')));
                p += 2;
                break;
            }
            return tw_error_set(err, TW_EPARSE, "column %d: unknown escape \\%c", (int)(p - s),
                                *p != '\0' ? *p : ' ');
        }
        if (digits > 0) {
            unsigned long v = 0;
            for (int i = 1; i <= digits; i++) {
                int h = sel_hex(p[i]);
                if (h < 0) {
                    return tw_error_set(err, TW_EPARSE, "column %d: bad escape \\%c", (int)(p - s),
                                        *p);
                }
                v = v * 16 + (unsigned long)h;
            }
            if (digits == 2) {
                tw_buf_putc(out, (char)v);
            } else if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) {
                return tw_error_set(err, TW_EPARSE, "column %d: bad code point", (int)(p - s));
            } else {
                sel_put_utf8(out, v);
            }
            p += digits;
        }
        p++;
    }
    *pp = p + 1;
    return 0;
}

int tw_matchers_parse_selector(const char *s, tw_matcher_t *out, size_t max, size_t *n,
                               tw_error_t *err)
{
    const char *p = sel_skip_ws(s);
    size_t k = 0;
    int rc = 0;
    tw_buf_t name, value;
    tw_buf_init(&name, 4096);
    tw_buf_init(&value, 64 * 1024);
    *n = 0;
    if (sel_name_start(*p, true)) {
        const char *b = p;
        while (sel_name_char(*p, true)) {
            p++;
        }
        tw_buf_append(&value, b, (size_t)(p - b));
        if (max == 0) {
            rc = tw_error_set(err, TW_ELIMIT, "more than %zu matchers", max);
            goto out;
        }
        rc = tw_matcher_init(&out[k], TW_MATCH_EQ, TW_METRIC_NAME_LABEL, value.data, err);
        if (rc != 0) {
            goto out;
        }
        k++;
        p = sel_skip_ws(p);
    }
    if (*p == '{') {
        p = sel_skip_ws(p + 1);
        while (*p != '}') {
            if (!sel_name_start(*p, false)) {
                rc = tw_error_set(err, TW_EPARSE, "column %d: expected a label name",
                                  (int)(p - s) + 1);
                goto out;
            }
            const char *b = p;
            while (sel_name_char(*p, false)) {
                p++;
            }
            tw_buf_reset(&name);
            tw_buf_append(&name, b, (size_t)(p - b));
            p = sel_skip_ws(p);
            tw_match_type_t t;
            if (p[0] == '=' && p[1] == '~') {
                t = TW_MATCH_RE;
                p += 2;
            } else if (p[0] == '!' && p[1] == '~') {
                t = TW_MATCH_NRE;
                p += 2;
            } else if (p[0] == '!' && p[1] == '=') {
                t = TW_MATCH_NEQ;
                p += 2;
            } else if (p[0] == '=') {
                t = TW_MATCH_EQ;
                p++;
            } else {
                rc = tw_error_set(err, TW_EPARSE,
                                  "column %d: expected one of =, !=, =~, !~ after label %s",
                                  (int)(p - s) + 1, name.data);
                goto out;
            }
            p = sel_skip_ws(p);
            if (*p != '"' && *p != '\'' && *p != '`') {
                rc = tw_error_set(err, TW_EPARSE, "column %d: expected a quoted label value",
                                  (int)(p - s) + 1);
                goto out;
            }
            rc = sel_string(s, &p, &value, err);
            if (rc != 0) {
                goto out;
            }
            if (k == max) {
                rc = tw_error_set(err, TW_ELIMIT, "more than %zu matchers", max);
                goto out;
            }
            rc = tw_matcher_init(&out[k], t, name.data, value.data != NULL ? value.data : "", err);
            if (rc != 0) {
                goto out;
            }
            k++;
            p = sel_skip_ws(p);
            if (*p == ',') {
                p = sel_skip_ws(p + 1);
            } else if (*p != '}') {
                rc = tw_error_set(err, TW_EPARSE, "column %d: expected ',' or '}'",
                                  (int)(p - s) + 1);
                goto out;
            }
        }
        p = sel_skip_ws(p + 1);
    }
    if (*p != '\0') {
        rc = tw_error_set(err, TW_EPARSE, "column %d: unexpected %c after the selector",
                          (int)(p - s) + 1, *p);
        goto out;
    }
    if (k == 0) {
        rc = tw_error_set(err, TW_EPARSE, "a selector needs a metric name or a matcher");
        goto out;
    }
    bool nonempty = false;
    for (size_t i = 0; i < k; i++) {
        nonempty = nonempty || !tw_matcher_matches_empty(&out[i]);
    }
    if (!nonempty) {
        rc = tw_error_set(err, TW_EPARSE,
                          "vector selector must contain at least one non-empty matcher");
        goto out;
    }
out:
    if (rc != 0) {
        for (size_t i = 0; i < k; i++) {
            tw_matcher_fini(&out[i]);
        }
        k = 0;
    }
    *n = k;
    tw_buf_fini(&name);
    tw_buf_fini(&value);
    return rc;
}
