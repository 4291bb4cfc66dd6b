/* SPDX-License-Identifier: Apache-2.0 */
/*
 * matcher.c - label matchers with Prometheus' semantics on POSIX regexes (see matcher.h).
 *
 * How the RE2 -> POSIX translation works: one pass over the regex, copying what means the same
 * in both dialects and rewriting the rest. Perl classes become bracket expressions; escaped
 * punctuation stays escaped when it is an ERE metacharacter and becomes a plain byte otherwise
 * (POSIX leaves "\-" undefined); a bracket expression is parsed into a 128-bit set and written
 * back with POSIX' placement rules (']' first, '-' last, '^' not first), since POSIX brackets
 * have no escapes at all. Lazy quantifiers lose their '?': whether a fully anchored regex matches
 * does not depend on greediness. Pure code, no global state.
 */
#include "matcher.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "mem.h"

static const char ere_meta[] = ".[]()*+?{}|^$\\";

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

/* A set of ASCII bytes for bracket expressions. */
typedef struct {
    uint64_t bits[2];
} charset_t;

static void cs_add(charset_t *cs, unsigned c)
{
    cs->bits[c >> 6] |= (uint64_t)1 << (c & 63);
}

static int cs_has(const charset_t *cs, unsigned c)
{
    return (int)((cs->bits[c >> 6] >> (c & 63)) & 1);
}

static void cs_add_range(charset_t *cs, unsigned lo, unsigned hi)
{
    for (unsigned c = lo; c <= hi; c++) {
        cs_add(cs, c);
    }
}

static const char space_chars[] = "\t\n\f\r ";

static void cs_add_class(charset_t *cs, char cls)
{
    switch (cls) {
    case 'd':
        cs_add_range(cs, '0', '9');
        break;
    case 'w':
        cs_add_range(cs, '0', '9');
        cs_add_range(cs, 'A', 'Z');
        cs_add_range(cs, 'a', 'z');
        cs_add(cs, '_');
        break;
    case 's':
        for (const char *p = space_chars; *p != '\0'; p++) {
            cs_add(cs, (unsigned char)*p);
        }
        break;
    default:
        break;
    }
}

static int is_special_in_bracket(unsigned c)
{
    return c == ']' || c == '^' || c == '-' || c == '[';
}

/* Writes cs as a POSIX bracket expression. */
static int cs_emit(const charset_t *cs, int negate, tw_buf_t *out)
{
    int rc = tw_buf_putc(out, '[');
    if (negate) {
        rc |= tw_buf_putc(out, '^');
    }
    if (cs_has(cs, ']')) {
        rc |= tw_buf_putc(out, ']');
    }
    for (unsigned c = 1; c < 128; c++) {
        if (!cs_has(cs, c) || is_special_in_bracket(c)) {
            continue;
        }
        unsigned hi = c;
        while (hi + 1 < 128 && cs_has(cs, hi + 1) && !is_special_in_bracket(hi + 1)) {
            hi++;
        }
        rc |= tw_buf_putc(out, (char)c);
        if (hi >= c + 2) {
            rc |= tw_buf_putc(out, '-');
            rc |= tw_buf_putc(out, (char)hi);
        } else if (hi == c + 1) {
            rc |= tw_buf_putc(out, (char)hi);
        }
        c = hi;
    }
    if (cs_has(cs, '[')) {
        rc |= tw_buf_putc(out, '[');
    }
    if (cs_has(cs, '^')) {
        rc |= tw_buf_putc(out, '^');
    }
    if (cs_has(cs, '-')) {
        rc |= tw_buf_putc(out, '-');
    }
    rc |= tw_buf_putc(out, ']');
    return rc != 0 ? TW_ELIMIT : 0;
}

static int hexval(char c)
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

/*
 * Decodes a single-character escape at *pp (just after the backslash) into *c: control
 * escapes, \xHH, \x{H..} and escaped punctuation. Returns 0, or 1 when it is not one of those.
 */
static int escape_char(const char **pp, unsigned *c)
{
    const char *p = *pp;
    switch (*p) {
    case 'n':
        *c = '\n';
        break;
    case 't':
        *c = '\t';
        break;
    case 'r':
        *c = '\r';
        break;
    case 'f':
        *c = '\f';
        break;
    case 'v':
        *c = '\v';
        break;
    case 'a':
        *c = '\a';
        break;
    case 'x': {
        unsigned v = 0;
        if (p[1] == '{') {
            const char *q = p + 2;
            int nd = 0;
            while (hexval(*q) >= 0 && nd < 8) {
                v = v * 16 + (unsigned)hexval(*q);
                q++;
                nd++;
            }
            if (*q != '}' || nd == 0) {
                return 1;
            }
            p = q;
        } else {
            if (hexval(p[1]) < 0 || hexval(p[2]) < 0) {
                return 1;
            }
            v = (unsigned)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        }
        if (v == 0 || v >= 0x80) {
            return 1;
        }
        *c = v;
        break;
    }
    default:
        if (*p == '\0' || (unsigned char)*p >= 0x80 || (*p >= '0' && *p <= '9') ||
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            return 1;
        }
        *c = (unsigned char)*p;
        break;
    }
    *pp = p + 1;
    return 0;
}

static int fail(tw_error_t *err, const char *re, const char *what)
{
    return tw_error_set(err, TW_EPARSE,
                        "regex \"%s\": %s (tidewatch runs regexes as POSIX extended regexes and "
                        "translates only the common RE2 constructs)",
                        re, what);
}

/* Parses a bracket expression starting after '['; *pp ends after the closing ']'. */
static int translate_bracket(const char *re, const char **pp, tw_buf_t *out, tw_error_t *err)
{
    const char *p = *pp;
    int negate = 0;
    charset_t cs = {{0, 0}};
    if (*p == '^') {
        negate = 1;
        p++;
    }
    int first = 1;
    while (*p != ']' || first) {
        unsigned lo;
        if (*p == '\0') {
            return fail(err, re, "missing closing ]");
        }
        if (*p == '[' && p[1] == ':') {
            /* A POSIX class such as [:alpha:]: RE2 accepts the same classes. */
            const char *end = strstr(p + 2, ":]");
            if (end == NULL) {
                return fail(err, re, "unterminated [: class");
            }
            static const struct {
                const char *name;
                const char *chars;
            } classes[] = {
                {"alnum", "0-9A-Za-z"},  {"alpha", "A-Za-z"},    {"digit", "0-9"},
                {"lower", "a-z"},        {"upper", "A-Z"},       {"space", "\t\n\v\f\r "},
                {"xdigit", "0-9A-Fa-f"}, {"word", "0-9A-Za-z_"},
            };
            size_t nlen = (size_t)(end - (p + 2));
            const char *chars = NULL;
            for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
                if (strlen(classes[i].name) == nlen && strncmp(classes[i].name, p + 2, nlen) == 0) {
                    chars = classes[i].chars;
                }
            }
            if (chars == NULL) {
                return fail(err, re, "unsupported [: class");
            }
            for (const char *q = chars; *q != '\0'; q++) {
                if (q[1] == '-' && q[2] != '\0') {
                    cs_add_range(&cs, (unsigned char)q[0], (unsigned char)q[2]);
                    q += 2;
                } else {
                    cs_add(&cs, (unsigned char)*q);
                }
            }
            p = end + 2;
            first = 0;
            continue;
        }
        if (*p == '\\') {
            p++;
            if (*p == 'd' || *p == 'w' || *p == 's') {
                cs_add_class(&cs, *p);
                p++;
                first = 0;
                continue;
            }
            if (*p == 'D' || *p == 'W' || *p == 'S') {
                return fail(err, re, "negated Perl class inside [...] cannot be translated");
            }
            if (escape_char(&p, &lo) != 0) {
                return fail(err, re, "unsupported escape inside [...]");
            }
        } else {
            if ((unsigned char)*p >= 0x80) {
                return fail(err, re, "non-ASCII character inside [...]");
            }
            lo = (unsigned char)*p++;
        }
        first = 0;
        if (*p == '-' && p[1] != ']' && p[1] != '\0') {
            unsigned hi;
            p++;
            if (*p == '\\') {
                p++;
                if (escape_char(&p, &hi) != 0) {
                    return fail(err, re, "unsupported escape in a range inside [...]");
                }
            } else {
                if ((unsigned char)*p >= 0x80) {
                    return fail(err, re, "non-ASCII character inside [...]");
                }
                hi = (unsigned char)*p++;
            }
            if (hi < lo) {
                return fail(err, re, "invalid range inside [...]");
            }
            cs_add_range(&cs, lo, hi);
        } else {
            cs_add(&cs, lo);
        }
    }
    p++; /* ']' */
    *pp = p;
    if (!negate && cs.bits[0] == 0 && cs.bits[1] == 0) {
        return fail(err, re, "empty character class");
    }
    if (!negate && cs.bits[1] == ((uint64_t)1 << ('^' - 64)) && cs.bits[0] == 0) {
        return tw_buf_puts(out, "\\^") != 0 ? TW_ELIMIT : 0;
    }
    return cs_emit(&cs, negate, out);
}

static int emit_literal(unsigned c, tw_buf_t *out)
{
    if (c != 0 && strchr(ere_meta, (int)c) != NULL) {
        if (tw_buf_putc(out, '\\') != 0) {
            return TW_ELIMIT;
        }
    }
    return tw_buf_putc(out, (char)c) != 0 ? TW_ELIMIT : 0;
}

/* A valid RE2 repetition {n}, {n,} or {n,m} at p? Returns its length or 0. */
static size_t repetition_len(const char *p)
{
    const char *q = p + 1;
    if (*q < '0' || *q > '9') {
        return 0;
    }
    while (*q >= '0' && *q <= '9') {
        q++;
    }
    if (*q == ',') {
        q++;
        while (*q >= '0' && *q <= '9') {
            q++;
        }
    }
    return *q == '}' ? (size_t)(q - p + 1) : 0;
}

int tw_matcher_regex_translate(const char *re, tw_buf_t *out, bool *icase, tw_error_t *err)
{
    const char *p = re;
    int rc;
    if (icase != NULL) {
        *icase = false;
    }
    if (tw_buf_puts(out, "^(") != 0) {
        return TW_ELIMIT;
    }
    while (*p != '\0') {
        char c = *p;
        if (c == '\\') {
            p++;
            const char *cls = NULL;
            switch (*p) {
            case 'd':
                cls = "[0-9]";
                break;
            case 'D':
                cls = "[^0-9]";
                break;
            case 'w':
                cls = "[0-9A-Za-z_]";
                break;
            case 'W':
                cls = "[^0-9A-Za-z_]";
                break;
            case 's':
                cls = "[\t\n\f\r ]";
                break;
            case 'S':
                cls = "[^\t\n\f\r ]";
                break;
            default:
                break;
            }
            if (cls != NULL) {
                p++;
                if (tw_buf_puts(out, cls) != 0) {
                    return TW_ELIMIT;
                }
                continue;
            }
            unsigned lit;
            if (*p == '\0') {
                return fail(err, re, "trailing backslash");
            }
            if (escape_char(&p, &lit) != 0) {
                return fail(err, re, "unsupported escape sequence");
            }
            if ((rc = emit_literal(lit, out)) != 0) {
                return rc;
            }
            continue;
        }
        if (c == '[') {
            p++;
            if ((rc = translate_bracket(re, &p, out, err)) != 0) {
                return rc;
            }
            continue;
        }
        if (c == '(' && p[1] == '?') {
            const char *q = p + 2;
            if (*q == ':') {
                p = q + 1;
                if (tw_buf_putc(out, '(') != 0) {
                    return TW_ELIMIT;
                }
                continue;
            }
            if (*q == 'P' || *q == '<') {
                /* Named group: the name does not matter for a yes/no match. */
                const char *end = strchr(q, '>');
                if (end == NULL) {
                    return fail(err, re, "unterminated group name");
                }
                p = end + 1;
                if (tw_buf_putc(out, '(') != 0) {
                    return TW_ELIMIT;
                }
                continue;
            }
            int want_i = 0, bad = 0;
            while (*q != '\0' && *q != ')' && *q != ':') {
                if (*q == 'i') {
                    want_i = 1;
                } else if (*q != 's') {
                    bad = 1;
                }
                q++;
            }
            if (*q == '\0' || bad) {
                return fail(err, re, "unsupported (?flags) group");
            }
            if (want_i && !(*q == ')' && p == re)) {
                return fail(err, re, "(?i) is only supported at the start of the regex");
            }
            if (want_i && icase != NULL) {
                *icase = true;
            }
            if (*q == ':') {
                if (tw_buf_putc(out, '(') != 0) {
                    return TW_ELIMIT;
                }
            }
            p = q + 1;
            continue;
        }
        if (c == '{') {
            size_t n = repetition_len(p);
            if (n == 0) {
                if (tw_buf_puts(out, "\\{") != 0) {
                    return TW_ELIMIT;
                }
                p++;
                continue;
            }
            if (tw_buf_append(out, p, n) != 0) {
                return TW_ELIMIT;
            }
            p += n;
            if (*p == '?') {
                p++;
            }
            continue;
        }
        if (c == '}') {
            if (tw_buf_puts(out, "\\}") != 0) {
                return TW_ELIMIT;
            }
            p++;
            continue;
        }
        if (tw_buf_putc(out, c) != 0) {
            return TW_ELIMIT;
        }
        p++;
        if ((c == '*' || c == '+' || c == '?') && *p == '?') {
            p++; /* lazy quantifier */
        }
    }
    if (tw_buf_puts(out, ")$") != 0) {
        return TW_ELIMIT;
    }
    return 0;
}

static int has_meta(const char *s)
{
    for (; *s != '\0'; s++) {
        if (strchr(ere_meta, *s) != NULL) {
            return 1;
        }
    }
    return 0;
}

int tw_matcher_init(tw_matcher_t *m, tw_match_type_t type, const char *name, const char *value,
                    tw_error_t *err)
{
    memset(m, 0, sizeof(*m));
    if (type != TW_MATCH_EQ && type != TW_MATCH_NEQ && type != TW_MATCH_RE &&
        type != TW_MATCH_NRE) {
        return tw_error_set(err, TW_EINVAL, "matcher: unknown match type %d", (int)type);
    }
    m->type = type;
    if (type == TW_MATCH_RE || type == TW_MATCH_NRE) {
        if (strcmp(value, ".*") == 0) {
            m->re_kind = TW_MATCHER_RE_ANY;
        } else if (strcmp(value, ".+") == 0) {
            m->re_kind = TW_MATCHER_RE_NONEMPTY;
        } else if (!has_meta(value)) {
            m->re_kind = TW_MATCHER_RE_LITERAL;
        } else {
            tw_buf_t pat;
            bool icase = false;
            tw_buf_init(&pat, 1 << 20);
            int rc = tw_matcher_regex_translate(value, &pat, &icase, err);
            if (rc != 0) {
                tw_buf_fini(&pat);
                return rc;
            }
            int flags = REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0);
            int rrc = regcomp(&m->re, pat.data, flags);
            if (rrc != 0) {
                char msg[128];
                regerror(rrc, &m->re, msg, sizeof(msg));
                tw_buf_fini(&pat);
                return tw_error_set(err, TW_EPARSE, "regex \"%s\": %s", value, msg);
            }
            tw_buf_fini(&pat);
            m->has_re = true;
            m->re_kind = TW_MATCHER_RE_POSIX;
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
    if (m->has_re) {
        regfree(&m->re);
        m->has_re = false;
    }
    free(m->name);
    free(m->value);
    m->name = NULL;
    m->value = NULL;
}

static bool re_matches(const tw_matcher_t *m, const char *v)
{
    switch (m->re_kind) {
    case TW_MATCHER_RE_ANY:
        return true;
    case TW_MATCHER_RE_NONEMPTY:
        return v[0] != '\0';
    case TW_MATCHER_RE_LITERAL:
        return strcmp(m->value, v) == 0;
    case TW_MATCHER_RE_POSIX:
        return regexec(&m->re, v, 0, NULL, 0) == 0;
    }
    return false;
}

bool tw_matcher_matches(const tw_matcher_t *m, const char *value)
{
    switch (m->type) {
    case TW_MATCH_EQ:
        return strcmp(m->value, value) == 0;
    case TW_MATCH_NEQ:
        return strcmp(m->value, value) != 0;
    case TW_MATCH_RE:
        return re_matches(m, value);
    case TW_MATCH_NRE:
        return !re_matches(m, value);
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
