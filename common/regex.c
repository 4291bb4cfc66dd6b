/* SPDX-License-Identifier: Apache-2.0 */
/*
 * regex.c - RE2-syntax regexes with Go's semantics on PCRE2 (see regex.h for why).
 *
 * How it works. tw_regex_compile() scans the pattern once, following Go's regexp/syntax parser
 * (Perl flags, as Prometheus compiles it) token by token, and writes a PCRE2 pattern that means
 * the same thing:
 *   - what Go refuses is refused with Go's message and the construct, and with the reason when it
 *     is a PCRE feature RE2 leaves out on purpose (backreferences, lookaround, atomic groups,
 *     possessive quantifiers, \C, recursion, callouts, conditionals, verbs);
 *   - literals are written as code points (\x{..}) or escaped punctuation, so that no PCRE2
 *     metacharacter, '-' or '[' inside a class, or POSIX collating element can change meaning;
 *   - the escapes that differ are rewritten: \v is U+000B (a class in PCRE2), \s is
 *     [\t\n\f\r ] (PCRE2 adds \v), octal \12 is a character (a backreference in PCRE2), \pN is
 *     \p{N}; \Q..\E is expanded to literals; named groups become plain groups whose names we keep
 *     (Go allows names PCRE2 refuses, and duplicates);
 *   - zero-width assertions are wrapped in (?:...) because Go lets `^*` repeat them;
 *   - repetition follows Go: no stacked operators (`a**`, `a++`), counts up to 1000, and the
 *     product of nested counts up to 1000 (Go's repeatIsValid), tracked as the largest product
 *     inside each open group.
 * The result is compiled as "(?:...)\z" with PCRE2_ANCHORED, PCRE2_UTF, PCRE2_DOLLAR_ENDONLY
 * (RE2's '$' is end of text), PCRE2_ALT_CIRCUMFLEX (Go's (?m)^ also matches after a final
 * newline), LF newlines, optional PCRE2_DOTALL, then JIT-compiled when PCRE2 can.
 *
 * Fast paths are found during the same scan: a pattern that is only literal characters is
 * compared bytewise; a literal prefix followed by exactly ".*" or ".+" needs no engine; any
 * other pattern without a top-level '|' rejects subjects lacking its literal prefix before
 * PCRE2 runs.
 *
 * Matching: each call builds its match data in a small arena on its own stack (a PCRE2 general
 * context with our allocator, falling back to malloc for what does not fit), so a shared
 * compiled regex is matched by many threads without locks. Subjects that are not valid UTF-8
 * are copied with each bad byte replaced by U+FFFD (what Go's decoder yields) and offsets are
 * mapped back. Limits on steps, depth, heap and JIT stack bound each match; hitting one is
 * counted and reported as TW_ELIMIT.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "regex.h"

#include <pcre2.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

typedef enum {
    KIND_PCRE = 0,    /* run the PCRE2 code (after the prefix check) */
    KIND_LITERAL,     /* subject == prefix */
    KIND_PREFIX_ANY,  /* prefix, then ".*" */
    KIND_PREFIX_SOME, /* prefix, then ".+" */
} kind_t;

struct tw_regex {
    char *pattern;             /* owned copy of the RE2 pattern */
    bool dotall;               /* TW_REGEX_DOTALL */
    kind_t kind;               /* fast path, see kind_t */
    char *prefix;              /* owned; literal prefix (the whole literal for KIND_LITERAL) */
    size_t prefix_len;         /* bytes in prefix; 0: no prefix check */
    int ngroups;               /* capturing groups, without group 0 */
    char **names;              /* owned; [ngroups + 1], NULL where a group has no name */
    pcre2_code *code;          /* NULL for the fast kinds */
    pcre2_match_context *mctx; /* limits; read-only while matching */
    bool jit;                  /* code has JIT code */
    _Atomic uint64_t limit_hits;
};

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

/*
 * Decodes one rune at s (n > 0 bytes available) the way Go's utf8.DecodeRune accepts it (no
 * overlongs, surrogates or values past U+10FFFF). Returns its length, or 0 when the byte at s
 * does not start a valid sequence.
 */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0Fu;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07u;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    v = (v << 6) | (s[1] & 0x3Fu);
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    *cp = v;
    return len;
}

static size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- the RE2 -> PCRE2 scan ------------------------------------------------------------------ */

enum { PREV_NONE = 0, PREV_ATOM, PREV_REPEAT };

/* One open group. */
typedef struct {
    bool icase;             /* (?i) state to restore at ')' */
    unsigned long cur_prod; /* the enclosing level's largest repeat product, restored at ')' */
} frame_t;

typedef struct {
    const char *pat; /* the whole pattern, for messages */
    const char *p;   /* cursor */
    const char *end;
    tw_buf_t *out;
    tw_error_t *err;
    frame_t *frames; /* [TW_REGEX_MAX_NESTING] */
    int depth;
    int ncap;
    char **names; /* [names_cap], index = group number */
    size_t names_cap;
    /* repetition */
    int prev;                /* PREV_* of the last token */
    const char *last_repeat; /* where the last repetition operator started */
    unsigned long atom_prod; /* nested-count product of the last atom */
    unsigned long cur_prod;  /* largest product so far in the current group */
    bool icase;              /* (?i) in force */
    /* literal prefix */
    bool in_prefix;          /* every token so far was a case-sensitive top-level literal */
    tw_buf_t prefix;         /* its bytes */
    size_t pending_len;      /* bytes of the last literal (a quantifier takes it back) */
    const char *pending_pos; /* where that literal started */
    const char *rest;        /* where the prefix ended */
    bool top_alt;            /* a '|' outside any group */
} tx_t;

/* Messages quote at most this many bytes of the pattern or a construct. */
#define QUOTE_MAX 128

/* Length to quote of s (n bytes): at most QUOTE_MAX, not cutting a UTF-8 sequence. */
static int quote_len(const char *s, size_t n)
{
    if (n <= QUOTE_MAX) {
        return (int)n;
    }
    n = QUOTE_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;
    }
    return (int)n;
}

/* Go's message shape: "<what>: `<construct>`", plus why when RE2 leaves it out on purpose. */
static int tx_fail(tx_t *t, const char *what, const char *from, const char *to, const char *why)
{
    size_t plen = (size_t)(t->end - t->pat);
    int pq = quote_len(t->pat, plen);
    const char *pdots = (size_t)pq < plen ? "..." : "";
    const char *sep = why != NULL ? " " : "";
    if (why == NULL) {
        why = "";
    }
    if (from == NULL) {
        return tw_error_set(t->err, TW_EPARSE, "regex \"%.*s%s\": %s%s%s", pq, t->pat, pdots, what,
                            sep, why);
    }
    int cq = quote_len(from, (size_t)(to - from));
    const char *cdots = cq < to - from ? "..." : "";
    return tw_error_set(t->err, TW_EPARSE, "regex \"%.*s%s\": %s: `%.*s%s`%s%s", pq, t->pat, pdots,
                        what, cq, from, cdots, sep, why);
}

static int tx_puts(tx_t *t, const char *s)
{
    return tw_buf_puts(t->out, s) != 0 ? TW_ELIMIT : 0;
}

/* Writes code point cp as a literal, outside or inside a class (same spelling works in both). */
static int tx_put_cp(tx_t *t, uint32_t cp)
{
    int rc;
    if ((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z')) {
        rc = tw_buf_putc(t->out, (char)cp);
    } else if (cp > 0x20 && cp < 0x7F) {
        /* In PCRE2 a backslash before ASCII punctuation is always that character. */
        rc = tw_buf_putc(t->out, '\\');
        rc |= tw_buf_putc(t->out, (char)cp);
    } else {
        rc = tw_buf_printf(t->out, "\\x{%x}", (unsigned)cp);
    }
    return rc != 0 ? TW_ELIMIT : 0;
}

static void prefix_end(tx_t *t, const char *tok)
{
    if (t->in_prefix) {
        t->in_prefix = false;
        t->rest = tok;
    }
}

/* Bookkeeping for a finished atom (anything a quantifier may follow). */
static void tx_atom(tx_t *t, unsigned long prod)
{
    t->prev = PREV_ATOM;
    t->atom_prod = prod;
    if (prod > t->cur_prod) {
        t->cur_prod = prod;
    }
}

/* A literal character token that started at tok. */
static int tx_literal(tx_t *t, const char *tok, uint32_t cp)
{
    /* A surrogate (from \x{D800}) matches no decoded rune in Go, but its bytes would match. */
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (t->in_prefix && !t->icase && !surrogate) {
        char b[4];
        size_t n = utf8_encode(cp, b);
        tw_buf_append(&t->prefix, b, n);
        t->pending_len = n;
        t->pending_pos = tok;
    } else {
        prefix_end(t, tok);
    }
    tx_atom(t, 1);
    return tx_put_cp(t, cp);
}

static int unhex(uint32_t c)
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
    return -1;
}

static bool is_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Reads the rune at t->p into *cp and advances; Go's "invalid UTF-8" otherwise. */
static int tx_next_rune(tx_t *t, uint32_t *cp)
{
    size_t n = utf8_decode((const unsigned char *)t->p, (size_t)(t->end - t->p), cp);
    if (n == 0) {
        return tx_fail(t, "invalid UTF-8", t->p, t->end, NULL);
    }
    t->p += n;
    return 0;
}

/*
 * Go's parseEscape: a single-character escape at t->p (the backslash) into *cp: octal, \x,
 * \a \f \n \r \t \v, or escaped ASCII punctuation.
 */
static int tx_escape(tx_t *t, uint32_t *cp)
{
    const char *s = t->p;
    t->p++;
    if (t->p >= t->end) {
        return tx_fail(t, "trailing backslash at end of expression", NULL, NULL, NULL);
    }
    uint32_t c = 0;
    int rc = tx_next_rune(t, &c);
    if (rc != 0) {
        return rc;
    }
    switch (c) {
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
        if (t->p >= t->end || *t->p < '0' || *t->p > '7') {
            return tx_fail(t, "invalid escape sequence", s, t->p, "(RE2 has no backreferences)");
        }
        __attribute__((fallthrough));
    case '0': {
        uint32_t r = c - '0';
        for (int i = 1; i < 3 && t->p < t->end && *t->p >= '0' && *t->p <= '7'; i++) {
            r = r * 8 + (uint32_t)(*t->p - '0');
            t->p++;
        }
        *cp = r;
        return 0;
    }
    case 'x': {
        if (t->p >= t->end) {
            break;
        }
        if ((rc = tx_next_rune(t, &c)) != 0) {
            return rc;
        }
        if (c == '{') {
            uint32_t r = 0;
            int nhex = 0;
            for (;;) {
                if (t->p >= t->end) {
                    goto bad;
                }
                if ((rc = tx_next_rune(t, &c)) != 0) {
                    return rc;
                }
                if (c == '}') {
                    break;
                }
                int v = unhex(c);
                if (v < 0) {
                    goto bad;
                }
                r = r * 16 + (uint32_t)v;
                if (r > 0x10FFFF) {
                    goto bad;
                }
                nhex++;
            }
            if (nhex == 0) {
                goto bad;
            }
            *cp = r;
            return 0;
        }
        int x = unhex(c);
        if (t->p >= t->end) {
            goto bad;
        }
        if ((rc = tx_next_rune(t, &c)) != 0) {
            return rc;
        }
        int y = unhex(c);
        if (x < 0 || y < 0) {
            goto bad;
        }
        *cp = (uint32_t)(x * 16 + y);
        return 0;
    }
    case 'a':
        *cp = '\a';
        return 0;
    case 'f':
        *cp = '\f';
        return 0;
    case 'n':
        *cp = '\n';
        return 0;
    case 'r':
        *cp = '\r';
        return 0;
    case 't':
        *cp = '\t';
        return 0;
    case 'v':
        *cp = '\v';
        return 0;
    case '8':
    case '9':
    case 'k':
    case 'g':
        return tx_fail(t, "invalid escape sequence", s, t->p, "(RE2 has no backreferences)");
    default:
        if (c < 0x80 && !is_alnum(c)) {
            *cp = c;
            return 0;
        }
        break;
    }
bad:
    return tx_fail(t, "invalid escape sequence", s, t->p, NULL);
}

/* Unicode general categories Go knows (unicode.Categories), plus Any. */
static const char *const unicode_categories[] = {
    "Any", "C",  "Cc", "Cf", "Co", "Cs", "L",  "Ll", "Lm", "Lo", "Lt", "Lu", "M",
    "Mc",  "Me", "Mn", "N",  "Nd", "Nl", "No", "P",  "Pc", "Pd", "Pe", "Pf", "Pi",
    "Po",  "Ps", "S",  "Sc", "Sk", "Sm", "So", "Z",  "Zl", "Zp", "Zs",
};

/* Whether name (n bytes) is a category, or spelled like a script (Greek, Old_Italic). */
static bool unicode_name_ok(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(unicode_categories) / sizeof(unicode_categories[0]); i++) {
        if (strlen(unicode_categories[i]) == n && memcmp(unicode_categories[i], name, n) == 0) {
            return true;
        }
    }
    /* PCRE2's own Xan, Xps, Xsp, Xwd, Xuc are not RE2's. */
    if (n == 3 && name[0] == 'X') {
        return false;
    }
    bool word_start = true;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (word_start) {
            if (c < 'A' || c > 'Z') {
                return false;
            }
            word_start = false;
        } else if (c == '_') {
            word_start = true;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            return false;
        }
    }
    return n > 1 && !word_start;
}

/* Go's parseUnicodeClass at t->p ("\p" or "\P"): writes \p{Name} or \P{Name}. */
static int tx_unicode_class(tx_t *t)
{
    const char *s = t->p;
    bool neg = s[1] == 'P';
    t->p += 2;
    const char *name, *name_end;
    if (t->p < t->end && *t->p == '{') {
        const char *close = memchr(t->p, '}', (size_t)(t->end - t->p));
        if (close == NULL) {
            return tx_fail(t, "invalid character class range", s, t->end, NULL);
        }
        name = t->p + 1;
        name_end = close;
        t->p = close + 1;
    } else {
        uint32_t c;
        if (t->p >= t->end) {
            return tx_fail(t, "invalid character class range", s, t->p, NULL);
        }
        int rc = tx_next_rune(t, &c);
        if (rc != 0) {
            return rc;
        }
        name = s + 2;
        name_end = t->p;
    }
    if (name < name_end && *name == '^') {
        neg = !neg;
        name++;
    }
    if (!unicode_name_ok(name, (size_t)(name_end - name))) {
        return tx_fail(t, "invalid character class range", s, t->p, NULL);
    }
    return tw_buf_printf(t->out, "\\%c{%.*s}", neg ? 'P' : 'p', (int)(name_end - name), name) != 0
               ? TW_ELIMIT
               : 0;
}

/* Go's \s is [\t\n\f\r ] (PCRE2's also has \v); bodies for use inside a class. */
#define SPACE_BODY "\\t\\n\\f\\r\\x{20}"
#define NOT_SPACE_BODY "\\x{0}-\\x{8}\\x{b}\\x{e}-\\x{1f}\\x{21}-\\x{10ffff}"

/* A Perl class escape (\d \D \s \S \w \W) at t->p, inside a class or not. */
static int tx_perl_class(tx_t *t, bool in_class)
{
    char c = t->p[1];
    t->p += 2;
    switch (c) {
    case 's':
        return tx_puts(t, in_class ? SPACE_BODY : "[" SPACE_BODY "]");
    case 'S':
        return tx_puts(t, in_class ? NOT_SPACE_BODY : "[^" SPACE_BODY "]");
    default: {
        char b[3] = {'\\', c, '\0'};
        return tx_puts(t, b);
    }
    }
}

static bool is_perl_class(char c)
{
    return c == 'd' || c == 'D' || c == 's' || c == 'S' || c == 'w' || c == 'W';
}

static const char *const posix_classes[] = {
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph",
    "lower", "print", "punct", "space", "upper", "word",  "xdigit",
};

/* Go's parseClassChar: a character inside a class at t->p. */
static int tx_class_char(tx_t *t, const char *whole, uint32_t *cp)
{
    if (t->p >= t->end) {
        return tx_fail(t, "missing closing ]", whole, t->end, NULL);
    }
    if (*t->p == '\\') {
        return tx_escape(t, cp);
    }
    return tx_next_rune(t, cp);
}

/* A POSIX class [:name:] or [:^name:] at t->p ending at q (the ':' of ":]"); copied as is. */
static int tx_posix_class(tx_t *t, const char *q)
{
    const char *name = t->p + 2;
    if (name < q && *name == '^') {
        name++;
    }
    bool ok = false;
    for (size_t i = 0; i < sizeof(posix_classes) / sizeof(posix_classes[0]); i++) {
        if (strlen(posix_classes[i]) == (size_t)(q - name) &&
            memcmp(posix_classes[i], name, (size_t)(q - name)) == 0) {
            ok = true;
        }
    }
    if (!ok) {
        return tx_fail(t, "invalid character class range", t->p, q + 2, NULL);
    }
    if (tw_buf_append(t->out, t->p, (size_t)(q + 2 - t->p)) != 0) {
        return TW_ELIMIT;
    }
    t->p = q + 2;
    return 0;
}

/* Go's parseClass at t->p ('['). */
static int tx_class(tx_t *t)
{
    const char *whole = t->p;
    int rc;
    t->p++;
    if ((rc = tx_puts(t, "[")) != 0) {
        return rc;
    }
    if (t->p < t->end && *t->p == '^') {
        t->p++;
        if ((rc = tx_puts(t, "^")) != 0) {
            return rc;
        }
    }
    bool first = true;
    while (t->p >= t->end || *t->p != ']' || first) {
        first = false;
        if (t->p >= t->end) {
            return tx_fail(t, "missing closing ]", whole, t->end, NULL);
        }
        size_t left = (size_t)(t->end - t->p);
        if (left > 2 && t->p[0] == '[' && t->p[1] == ':') {
            const char *q = NULL;
            for (const char *r = t->p + 2; r + 1 < t->end; r++) {
                if (r[0] == ':' && r[1] == ']') {
                    q = r;
                    break;
                }
            }
            if (q != NULL) {
                if ((rc = tx_posix_class(t, q)) != 0) {
                    return rc;
                }
                continue;
            }
        }
        if (left >= 2 && t->p[0] == '\\' && (t->p[1] == 'p' || t->p[1] == 'P')) {
            if ((rc = tx_unicode_class(t)) != 0) {
                return rc;
            }
            continue;
        }
        if (left >= 2 && t->p[0] == '\\' && is_perl_class(t->p[1])) {
            if ((rc = tx_perl_class(t, true)) != 0) {
                return rc;
            }
            continue;
        }
        const char *rng = t->p;
        uint32_t lo, hi;
        if ((rc = tx_class_char(t, whole, &lo)) != 0) {
            return rc;
        }
        hi = lo;
        if (t->end - t->p >= 2 && t->p[0] == '-' && t->p[1] != ']') {
            t->p++;
            if ((rc = tx_class_char(t, whole, &hi)) != 0) {
                return rc;
            }
            if (hi < lo) {
                return tx_fail(t, "invalid character class range", rng, t->p, NULL);
            }
        }
        if ((rc = tx_put_cp(t, lo)) != 0) {
            return rc;
        }
        if (hi != lo) {
            if (tw_buf_putc(t->out, '-') != 0 || tx_put_cp(t, hi) != 0) {
                return TW_ELIMIT;
            }
        }
    }
    t->p++; /* ']' */
    return tx_puts(t, "]");
}

/* Go's parseInt: decimal digits, no leading zero; *v = -1 when the number is too big. */
static bool parse_int(const char **pp, const char *end, long *v)
{
    const char *p = *pp;
    if (p >= end || *p < '0' || *p > '9') {
        return false;
    }
    if (end - p >= 2 && p[0] == '0' && p[1] >= '0' && p[1] <= '9') {
        return false;
    }
    long n = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (n >= 100000000L) {
            n = -1;
        } else if (n >= 0) {
            n = n * 10 + (*p - '0');
        }
    }
    *v = n;
    *pp = p;
    return true;
}

/*
 * Go's parseRepeat: {n}, {n,} or {n,m} at p. Returns true with *min, *max (-1: no maximum) and
 * *after when it is one (numbers too big give *min = -1); false when '{' is a literal.
 */
static bool parse_repeat(const char *p, const char *end, long *min, long *max, const char **after)
{
    long mn, mx;
    p++; /* '{' */
    if (!parse_int(&p, end, &mn) || p >= end) {
        return false;
    }
    if (*p != ',') {
        mx = mn;
    } else {
        p++;
        if (p >= end) {
            return false;
        }
        if (*p == '}') {
            mx = -1;
        } else {
            if (!parse_int(&p, end, &mx)) {
                return false;
            }
            if (mx < 0) {
                mn = -1;
            }
        }
    }
    if (p >= end || *p != '}') {
        return false;
    }
    *min = mn;
    *max = mx;
    *after = p + 1;
    return true;
}

/* A repetition operator at t->p: *, +, ?, or a counted one (is_count, bounds min..max). */
static int tx_repeat(tx_t *t, bool is_count, long min, long max, const char *after)
{
    const char *before = t->p;
    bool lazy = false;
    if (after < t->end && *after == '?') {
        after++;
        lazy = true;
    }
    if (t->prev == PREV_REPEAT) {
        const char *why = NULL;
        if (!lazy && *before == '+') {
            why = "(RE2 has no possessive quantifiers)";
        }
        return tx_fail(t, "invalid nested repetition operator", t->last_repeat, after, why);
    }
    if (t->prev == PREV_NONE) {
        return tx_fail(t, "missing argument to repetition operator", before, after, NULL);
    }
    unsigned long prod = t->atom_prod;
    if (is_count) {
        long m = max < 0 ? min : max;
        if ((min >= 2 || max >= 2) && max != 0 && (unsigned long)m * prod > 1000) {
            return tx_fail(t, "invalid repeat count", before, after, NULL);
        }
        if (max == 0) {
            prod = 1;
        } else if (m > 0) {
            prod *= (unsigned long)m;
        }
    }
    /* A quantified literal is not part of the prefix. */
    if (t->in_prefix) {
        t->prefix.len -= t->pending_len;
        if (t->prefix.data != NULL) {
            t->prefix.data[t->prefix.len] = '\0';
        }
        prefix_end(t, t->pending_len > 0 ? t->pending_pos : before);
    }
    int rc;
    if (is_count) {
        if (max < 0) {
            rc = tw_buf_printf(t->out, "{%ld,}", min);
        } else if (max == min) {
            rc = tw_buf_printf(t->out, "{%ld}", min);
        } else {
            rc = tw_buf_printf(t->out, "{%ld,%ld}", min, max);
        }
    } else {
        rc = tw_buf_putc(t->out, *before);
    }
    if (lazy) {
        rc |= tw_buf_putc(t->out, '?');
    }
    t->p = after;
    t->prev = PREV_REPEAT;
    t->last_repeat = before;
    t->atom_prod = prod;
    if (prod > t->cur_prod) {
        t->cur_prod = prod;
    }
    return rc != 0 ? TW_ELIMIT : 0;
}

static int tx_open(tx_t *t, const char *open, bool capture, const char *name, size_t nlen)
{
    if (t->depth >= TW_REGEX_MAX_NESTING) {
        return tx_fail(t, "expression nests too deeply", NULL, NULL, NULL);
    }
    t->frames[t->depth].icase = t->icase;
    t->frames[t->depth].cur_prod = t->cur_prod;
    t->depth++;
    t->cur_prod = 1;
    t->prev = PREV_NONE;
    if (capture) {
        t->ncap++;
        tw_grow((void **)&t->names, &t->names_cap, (size_t)t->ncap + 1, sizeof(char *));
        t->names[t->ncap] = name != NULL ? tw_xstrndup(name, nlen) : NULL;
    }
    return tx_puts(t, open);
}

static bool starts(const tx_t *t, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(t->end - t->p) >= n && memcmp(t->p, lit, n) == 0;
}

/* PCRE constructs after "(?" that RE2 does not have, with the reason. */
static const struct {
    const char *lead;
    const char *what;
    const char *why;
} refused_groups[] = {
    {"(?<=", "lookbehind is not supported", "(RE2 has no lookaround)"},
    {"(?<!", "lookbehind is not supported", "(RE2 has no lookaround)"},
    {"(?=", "lookahead is not supported", "(RE2 has no lookaround)"},
    {"(?!", "lookahead is not supported", "(RE2 has no lookaround)"},
    {"(?>", "atomic groups are not supported", "(RE2 has no atomic groups)"},
    {"(?P=", "backreferences are not supported", "(RE2 has no backreferences)"},
    {"(?P>", "recursion is not supported", "(RE2 has no recursion)"},
    {"(?R", "recursion is not supported", "(RE2 has no recursion)"},
    {"(?&", "recursion is not supported", "(RE2 has no recursion)"},
    {"(?+", "recursion is not supported", "(RE2 has no recursion)"},
    {"(?C", "callouts are not supported", "(RE2 has no callouts)"},
    {"(?(", "conditional groups are not supported", "(RE2 has no conditionals)"},
    {"(?|", "branch reset groups are not supported", NULL},
    {"(?#", "comments are not supported", NULL},
};

/* Go's parsePerlFlags at t->p ("(?"): named groups, non-capturing groups, flags. */
static int tx_perl_group(tx_t *t)
{
    const char *s = t->p;
    for (size_t i = 0; i < sizeof(refused_groups) / sizeof(refused_groups[0]); i++) {
        if (starts(t, refused_groups[i].lead)) {
            return tx_fail(t, refused_groups[i].what, s, s + strlen(refused_groups[i].lead),
                           refused_groups[i].why);
        }
    }
    if ((t->end - s >= 3 && s[2] >= '0' && s[2] <= '9') ||
        (t->end - s >= 4 && s[2] == '-' && s[3] >= '0' && s[3] <= '9')) {
        return tx_fail(t, "recursion is not supported", s, s + (s[2] == '-' ? 4 : 3),
                       "(RE2 has no recursion)");
    }
    bool with_p = t->end - s > 4 && s[2] == 'P' && s[3] == '<';
    bool with_name = t->end - s > 3 && s[2] == '<';
    if (with_p || with_name) {
        const char *name = s + (with_p ? 4 : 3);
        const char *gt = memchr(s, '>', (size_t)(t->end - s));
        if (gt == NULL) {
            return tx_fail(t, "invalid named capture", s, t->end, NULL);
        }
        bool ok = gt > name;
        for (const char *q = name; q < gt; q++) {
            if (!is_alnum((unsigned char)*q) && *q != '_') {
                ok = false;
            }
        }
        if (!ok) {
            return tx_fail(t, "invalid named capture", s, gt + 1, NULL);
        }
        t->p = gt + 1;
        prefix_end(t, s);
        return tx_open(t, "(", true, name, (size_t)(gt - name));
    }
    /* Flags: (?flags) or (?flags:re), flags from imsU with at most one '-'. */
    char on[8], off[8];
    size_t non = 0, noff = 0;
    bool neg = false, saw = false;
    bool icase = t->icase;
    t->p += 2;
    while (t->p < t->end) {
        uint32_t c;
        int rc = tx_next_rune(t, &c);
        if (rc != 0) {
            return rc;
        }
        if (c == 'i' || c == 'm' || c == 's' || c == 'U') {
            if (c == 'i') {
                icase = !neg;
            }
            char *set = neg ? off : on;
            size_t *n = neg ? &noff : &non;
            if (memchr(set, (int)c, *n) == NULL) {
                set[(*n)++] = (char)c;
            }
            saw = true;
            continue;
        }
        if (c == '-' && !neg) {
            neg = true;
            saw = false;
            continue;
        }
        if ((c == ':' || c == ')') && !(neg && !saw)) {
            char spec[24];
            size_t k = 0;
            spec[k++] = '(';
            spec[k++] = '?';
            memcpy(spec + k, on, non);
            k += non;
            if (noff > 0) {
                spec[k++] = '-';
                memcpy(spec + k, off, noff);
                k += noff;
            }
            spec[k++] = (char)c;
            spec[k] = '\0';
            prefix_end(t, s);
            if (c == ':') {
                rc = tx_open(t, spec, false, NULL, 0);
                t->icase = icase;
                return rc;
            }
            /* Flags for the rest of the current group; there is nothing to repeat after them. */
            t->icase = icase;
            t->prev = PREV_NONE;
            return (non + noff) > 0 ? tx_puts(t, spec) : 0;
        }
        break;
    }
    const char *why = NULL;
    if (s + 2 < t->end && s[2] == '\'') {
        why = "(name a group with (?P<name>re) or (?<name>re))";
    }
    return tx_fail(t, "invalid or unsupported Perl syntax", s, t->p, why);
}

/* \Q...\E at t->p: everything up to \E (or the end) is literal. */
static int tx_quoted(tx_t *t)
{
    const char *stop = t->end;
    for (const char *r = t->p + 2; r + 1 < t->end; r++) {
        if (r[0] == '\\' && r[1] == 'E') {
            stop = r;
            break;
        }
    }
    t->p += 2;
    while (t->p < stop) {
        const char *tok = t->p;
        uint32_t c;
        size_t n = utf8_decode((const unsigned char *)t->p, (size_t)(stop - t->p), &c);
        if (n == 0) {
            return tx_fail(t, "invalid UTF-8", t->p, t->end, NULL);
        }
        t->p += n;
        int rc = tx_literal(t, tok, c);
        if (rc != 0) {
            return rc;
        }
    }
    t->p = stop < t->end ? stop + 2 : stop;
    return 0;
}

/* A backslash token outside a class (Go's order: assertions, \C, \Q, \p, Perl classes). */
static int tx_escape_token(tx_t *t)
{
    const char *s = t->p;
    int rc;
    if (t->end - s >= 2) {
        const char *assert = NULL;
        switch (s[1]) {
        case 'A':
            assert = "(?:\\A)";
            break;
        case 'z':
            assert = "(?:\\z)";
            break;
        case 'b':
            assert = "(?:\\b)";
            break;
        case 'B':
            assert = "(?:\\B)";
            break;
        case 'C':
            return tx_fail(t, "invalid escape sequence", s, s + 2,
                           "(RE2 has no \\C: it matches runes, not bytes)");
        case 'Q':
            return tx_quoted(t);
        case 'p':
        case 'P':
            prefix_end(t, s);
            if ((rc = tx_unicode_class(t)) != 0) {
                return rc;
            }
            tx_atom(t, 1);
            return 0;
        default:
            if (is_perl_class(s[1])) {
                prefix_end(t, s);
                tx_atom(t, 1);
                return tx_perl_class(t, false);
            }
            break;
        }
        if (assert != NULL) {
            prefix_end(t, s);
            t->p += 2;
            tx_atom(t, 1);
            return tx_puts(t, assert);
        }
    }
    uint32_t cp;
    if ((rc = tx_escape(t, &cp)) != 0) {
        return rc;
    }
    return tx_literal(t, s, cp);
}

static int tx_close(tx_t *t)
{
    if (t->depth == 0) {
        return tx_fail(t, "unexpected )", t->pat, t->end, NULL);
    }
    t->depth--;
    unsigned long inner = t->cur_prod;
    t->icase = t->frames[t->depth].icase;
    t->cur_prod = t->frames[t->depth].cur_prod;
    t->p++;
    tx_atom(t, inner);
    return tx_puts(t, ")");
}

static int tx_run(tx_t *t)
{
    int rc = 0;
    while (t->p < t->end && rc == 0) {
        const char *tok = t->p;
        long min, max;
        const char *after;
        switch (*t->p) {
        case '(':
            if (t->end - t->p >= 2 && t->p[1] == '?') {
                rc = tx_perl_group(t);
            } else {
                prefix_end(t, tok);
                t->p++;
                rc = tx_open(t, "(", true, NULL, 0);
            }
            break;
        case ')':
            rc = tx_close(t);
            break;
        case '|':
            if (t->depth == 0) {
                t->top_alt = true;
            }
            prefix_end(t, tok);
            t->prev = PREV_NONE;
            t->p++;
            rc = tx_puts(t, "|");
            break;
        case '^':
        case '$':
        case '.':
            prefix_end(t, tok);
            t->p++;
            tx_atom(t, 1);
            rc = tx_puts(t, *tok == '^' ? "(?:^)" : *tok == '$' ? "(?:$)" : ".");
            break;
        case '[':
            prefix_end(t, tok);
            rc = tx_class(t);
            tx_atom(t, 1);
            break;
        case '*':
        case '+':
        case '?':
            rc = tx_repeat(t, false, 0, 0, t->p + 1);
            break;
        case '{':
            if (!parse_repeat(t->p, t->end, &min, &max, &after)) {
                t->p++;
                rc = tx_literal(t, tok, '{');
                break;
            }
            if (min < 0 || min > 1000 || max > 1000 || (max >= 0 && min > max)) {
                return tx_fail(t, "invalid repeat count", tok, after, NULL);
            }
            rc = tx_repeat(t, true, min, max, after);
            break;
        case '\\':
            rc = tx_escape_token(t);
            break;
        default: {
            uint32_t cp;
            if ((rc = tx_next_rune(t, &cp)) != 0) {
                return rc;
            }
            rc = tx_literal(t, tok, cp);
            break;
        }
        }
        if (rc == TW_ELIMIT) {
            return tx_fail(t, "expression too large", NULL, NULL, NULL);
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (t->depth > 0) {
        return tx_fail(t, "missing closing )", t->pat, t->end, NULL);
    }
    return 0;
}

/* ---- compile -------------------------------------------------------------------------------- */

static void names_free(char **names, int n)
{
    if (names == NULL) {
        return;
    }
    for (int i = 0; i <= n; i++) {
        free(names[i]);
    }
    free(names);
}

void tw_regex_free(tw_regex_t *re)
{
    if (re == NULL) {
        return;
    }
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    names_free(re->names, re->ngroups);
    free(re->prefix);
    free(re->pattern);
    free(re);
}

static bool has_replacement_char(const char *s, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++) {
        if ((unsigned char)s[i] == 0xEF && (unsigned char)s[i + 1] == 0xBF &&
            (unsigned char)s[i + 2] == 0xBD) {
            return true;
        }
    }
    return false;
}

/* Picks the fast path from what the scan saw. */
static void choose_kind(tw_regex_t *re, const tx_t *t)
{
    /* A literal U+FFFD would also match invalid bytes, which Go decodes to it. */
    if (t->top_alt || has_replacement_char(t->prefix.data, t->prefix.len)) {
        return;
    }
    re->prefix_len = t->prefix.len;
    re->prefix = tw_xmalloc(t->prefix.len + 1);
    if (t->prefix.len > 0) {
        memcpy(re->prefix, t->prefix.data, t->prefix.len);
    }
    re->prefix[t->prefix.len] = '\0';
    if (t->in_prefix) {
        re->kind = KIND_LITERAL;
    } else if (strcmp(t->rest, ".*") == 0) {
        re->kind = KIND_PREFIX_ANY;
    } else if (strcmp(t->rest, ".+") == 0) {
        re->kind = KIND_PREFIX_SOME;
    }
}

/* Compiles the translated pattern pc (len bytes) into re. */
static int compile_pcre2(tw_regex_t *re, const char *pc, size_t len, tw_error_t *err)
{
    int rc = 0;
    pcre2_compile_context *cctx = pcre2_compile_context_create(NULL);
    if (cctx == NULL) {
        return tw_error_set(err, TW_ELIMIT, "regex \"%s\": out of memory", re->pattern);
    }
    pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
    pcre2_set_parens_nest_limit(cctx, TW_REGEX_MAX_NESTING + 8);
    uint32_t opts = PCRE2_UTF | PCRE2_ANCHORED | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_CIRCUMFLEX |
                    PCRE2_NEVER_BACKSLASH_C | PCRE2_NEVER_UCP;
    if (re->dotall) {
        opts |= PCRE2_DOTALL;
    }
    int ecode;
    PCRE2_SIZE eoff;
    re->code = pcre2_compile((PCRE2_SPTR)pc, len, opts, &ecode, &eoff, cctx);
    if (re->code == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ecode, msg, sizeof(msg));
        rc = tw_error_set(err, TW_EPARSE, "regex \"%s\": %s", re->pattern, (const char *)msg);
        goto out;
    }
    /* No JIT (not built in, no executable memory) is fine: the interpreter is used. */
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    re->mctx = pcre2_match_context_create(NULL);
    if (re->mctx == NULL) {
        rc = tw_error_set(err, TW_ELIMIT, "regex \"%s\": out of memory", re->pattern);
        goto out;
    }
    pcre2_set_match_limit(re->mctx, TW_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(re->mctx, TW_REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(re->mctx, TW_REGEX_HEAP_LIMIT_KIB);
out:
    pcre2_compile_context_free(cctx);
    return rc;
}

int tw_regex_compile(tw_regex_t **out, const char *pattern, unsigned flags, tw_error_t *err)
{
    *out = NULL;
    size_t plen = strlen(pattern);
    if (plen > TW_REGEX_MAX_PATTERN_BYTES) {
        return tw_error_set(err, TW_ELIMIT, "regex of %zu bytes: longer than %u bytes", plen,
                            TW_REGEX_MAX_PATTERN_BYTES);
    }
    tw_buf_t pc;
    tw_buf_init(&pc, 16 * plen + 64);
    tx_t t;
    memset(&t, 0, sizeof(t));
    t.pat = pattern;
    t.p = pattern;
    t.end = pattern + plen;
    t.out = &pc;
    t.err = err;
    t.frames = tw_xcalloc(TW_REGEX_MAX_NESTING, sizeof(frame_t));
    t.cur_prod = 1;
    t.atom_prod = 1;
    t.in_prefix = true;
    tw_buf_init(&t.prefix, 0);
    tw_grow((void **)&t.names, &t.names_cap, 1, sizeof(char *));
    t.names[0] = NULL;
    tw_regex_t *re = tw_xcalloc(1, sizeof(*re));
    re->pattern = tw_xstrdup(pattern);
    re->dotall = (flags & TW_REGEX_DOTALL) != 0;

    int rc = tx_puts(&t, "(?:");
    if (rc == 0) {
        rc = tx_run(&t);
    }
    if (rc == 0 && tx_puts(&t, ")\\z") != 0) {
        rc = tx_fail(&t, "expression too large", NULL, NULL, NULL);
    }
    if (rc != 0) {
        goto out;
    }
    re->ngroups = t.ncap;
    re->names = t.names;
    t.names = NULL;
    choose_kind(re, &t);
    if (re->kind == KIND_PCRE) {
        rc = compile_pcre2(re, pc.data, pc.len, err);
    }
out:
    names_free(t.names, t.ncap);
    free(t.frames);
    tw_buf_fini(&t.prefix);
    tw_buf_fini(&pc);
    if (rc != 0) {
        tw_regex_free(re);
        return rc;
    }
    *out = re;
    return 0;
}

/* ---- accessors ------------------------------------------------------------------------------ */

const char *tw_regex_pattern(const tw_regex_t *re)
{
    return re->pattern;
}

int tw_regex_ngroups(const tw_regex_t *re)
{
    return re->ngroups;
}

int tw_regex_group_index(const tw_regex_t *re, const char *name, size_t len)
{
    for (int i = 1; i <= re->ngroups; i++) {
        const char *n = re->names[i];
        if (n != NULL && strlen(n) == len && memcmp(n, name, len) == 0) {
            return i;
        }
    }
    return -1;
}

const char *tw_regex_group_name(const tw_regex_t *re, int i)
{
    if (i < 1 || i > re->ngroups) {
        return NULL;
    }
    return re->names[i];
}

uint64_t tw_regex_limit_hits(const tw_regex_t *re)
{
    return atomic_load_explicit(&re->limit_hits, memory_order_relaxed);
}

bool tw_regex_uses_jit(const tw_regex_t *re)
{
    return re->jit;
}

const char *tw_regex_strategy(const tw_regex_t *re)
{
    switch (re->kind) {
    case KIND_LITERAL:
        return "literal";
    case KIND_PREFIX_ANY:
        return "prefix.*";
    case KIND_PREFIX_SOME:
        return "prefix.+";
    case KIND_PCRE:
        break;
    }
    return "pcre2";
}

/* ---- matching ------------------------------------------------------------------------------- */

/* A bump allocator over a caller's stack buffer, for one match's PCRE2 memory. */
typedef struct {
    unsigned char *base;
    size_t size;
    size_t used;
} md_arena_t;

static void *md_malloc(PCRE2_SIZE n, void *data)
{
    md_arena_t *a = data;
    size_t need = (n + 15) & ~(size_t)15;
    if (need >= n && a->size - a->used >= need) {
        void *p = a->base + a->used;
        a->used += need;
        return p;
    }
    return malloc(n);
}

static void md_free(void *p, void *data)
{
    md_arena_t *a = data;
    uintptr_t u = (uintptr_t)p, b = (uintptr_t)a->base;
    if (p == NULL || (u >= b && u < b + a->size)) {
        return;
    }
    free(p);
}

/* Whether s (n bytes) is valid UTF-8 by Go's rules. */
static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t w = utf8_decode(u + i, n - i, &cp);
        if (w == 0) {
            return false;
        }
        i += w;
    }
    return true;
}

/* Copies s with every byte that starts no valid sequence replaced by U+FFFD. */
static void utf8_sanitize(const char *s, size_t n, tw_buf_t *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t w = utf8_decode(u + i, n - i, &cp);
        if (w == 0) {
            tw_buf_append(out, "\xEF\xBF\xBD", 3);
            i++;
        } else {
            tw_buf_append(out, s + i, w);
            i += w;
        }
    }
}

/* Maps an offset in the sanitized copy of s back to an offset in s. */
static ptrdiff_t unsanitize_offset(const char *s, size_t n, size_t off)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, j = 0;
    while (i < n && j < off) {
        uint32_t cp;
        size_t w = utf8_decode(u + i, n - i, &cp);
        if (w == 0) {
            j += 3;
            i++;
        } else {
            j += w;
            i += w;
        }
    }
    return (ptrdiff_t)i;
}

static int count_limit(const tw_regex_t *re)
{
    /* The counter is the one mutable field; every tw_regex_t is allocated non-const. */
    atomic_fetch_add_explicit(&((tw_regex_t *)re)->limit_hits, 1, memory_order_relaxed);
    return TW_ELIMIT;
}

static int pcre_exec(const tw_regex_t *re, const char *s, size_t len, tw_regex_span_t *spans,
                     size_t nspans)
{
    tw_buf_t clean;
    tw_buf_init(&clean, 3 * len + 1);
    const char *subj = s;
    size_t slen = len;
    bool sanitized = false;
    if (!utf8_valid(s, len)) {
        utf8_sanitize(s, len, &clean);
        subj = clean.data;
        slen = clean.len;
        sanitized = true;
    }
    _Alignas(16) unsigned char mem[4096];
    md_arena_t arena = {mem, sizeof(mem), 0};
    int ret;
    pcre2_general_context *gc = pcre2_general_context_create(md_malloc, md_free, &arena);
    pcre2_match_data *md = NULL;
    if (gc != NULL) {
        size_t want = nspans < (size_t)re->ngroups + 1 ? nspans : (size_t)re->ngroups + 1;
        md = pcre2_match_data_create(want > 0 ? (uint32_t)want : 1, gc);
    }
    if (md == NULL) {
        ret = count_limit(re);
        goto out;
    }
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(subj != NULL ? subj : ""), slen, 0,
                         PCRE2_NO_UTF_CHECK, md, re->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) {
        ret = 0;
        goto out;
    }
    if (rc < 0) {
        ret = count_limit(re);
        goto out;
    }
    ret = 1;
    if (spans != NULL) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        uint32_t nov = pcre2_get_ovector_count(md);
        for (size_t i = 0; i < nspans && i < nov && i <= (size_t)re->ngroups; i++) {
            if (ov[2 * i] == PCRE2_UNSET) {
                continue;
            }
            if (sanitized) {
                spans[i].start = unsanitize_offset(s, len, ov[2 * i]);
                spans[i].end = unsanitize_offset(s, len, ov[2 * i + 1]);
            } else {
                spans[i].start = (ptrdiff_t)ov[2 * i];
                spans[i].end = (ptrdiff_t)ov[2 * i + 1];
            }
        }
    }
out:
    pcre2_match_data_free(md);
    pcre2_general_context_free(gc);
    tw_buf_fini(&clean);
    return ret;
}

int tw_regex_exec(const tw_regex_t *re, const char *subject, size_t len, tw_regex_span_t *spans,
                  size_t nspans)
{
    for (size_t i = 0; spans != NULL && i < nspans; i++) {
        spans[i].start = -1;
        spans[i].end = -1;
    }
    size_t pl = re->prefix_len;
    if (pl > 0 && (len < pl || memcmp(subject, re->prefix, pl) != 0)) {
        return 0;
    }
    bool m;
    switch (re->kind) {
    case KIND_LITERAL:
        m = len == pl;
        break;
    case KIND_PREFIX_ANY:
        m = re->dotall || memchr(subject + pl, '\n', len - pl) == NULL;
        break;
    case KIND_PREFIX_SOME:
        m = len > pl && (re->dotall || memchr(subject + pl, '\n', len - pl) == NULL);
        break;
    case KIND_PCRE:
    default:
        return pcre_exec(re, subject, len, spans, nspans);
    }
    if (m && spans != NULL && nspans > 0) {
        spans[0].start = 0;
        spans[0].end = (ptrdiff_t)len;
    }
    return m ? 1 : 0;
}

bool tw_regex_matches(const tw_regex_t *re, const char *subject, size_t len)
{
    return tw_regex_exec(re, subject, len, NULL, 0) == 1;
}
