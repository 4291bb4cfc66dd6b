/* SPDX-License-Identifier: Apache-2.0 */
/*
 * matcher.h - label matchers (=, !=, =~, !~) with Prometheus' semantics, shared by the TSDB's
 * select and the PromQL engine.
 *
 * A regex matcher is fully anchored, as in Prometheus (`foo=~"a.*"` does not match "ba"), and a
 * missing label behaves as the empty value (`foo=""` matches series without foo). Regexes are
 * written in RE2 syntax (what PromQL users write); tidewatch runs them with POSIX <regex.h>
 * (REG_EXTENDED), so tw_matcher_init() translates the RE2 pieces people use in selectors:
 * \d \w \s \D \W \S (also inside brackets, the positive ones), escaped punctuation, \n \t \r \f \v,
 * \xHH, (?:...), a leading (?i) or (?s), lazy quantifiers (a full-match has the same answer as the
 * greedy form). Anything else RE2-only (\b, \pL, \Q..\E, named groups, flags in the middle)
 * is refused with TW_EPARSE and a message naming the regex. Matching is bytewise (`.` is one
 * byte), unlike RE2's UTF-8 runes; `.` matches a newline, as in Prometheus 3.
 *
 * Thread model: an initialized matcher is immutable; any number of threads may match with it.
 */
#ifndef TW_COMMON_MATCHER_H
#define TW_COMMON_MATCHER_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

typedef enum {
    TW_MATCH_EQ = 0, /* = */
    TW_MATCH_NEQ,    /* != */
    TW_MATCH_RE,     /* =~ */
    TW_MATCH_NRE,    /* !~ */
} tw_match_type_t;

/* How a regex matcher decides, fastest first (private to matcher.c, visible for size only). */
typedef enum {
    TW_MATCHER_RE_POSIX = 0, /* run the compiled regex */
    TW_MATCHER_RE_ANY,       /* ".*": everything */
    TW_MATCHER_RE_NONEMPTY,  /* ".+": anything but "" */
    TW_MATCHER_RE_LITERAL,   /* no metacharacter: string equality with value */
} tw_matcher_re_kind_t;

/*
 * One matcher. Fill it with tw_matcher_init(); read type, name and value freely; the rest is
 * private. name and value are owned copies.
 */
typedef struct tw_matcher {
    tw_match_type_t type;
    char *name;  /* owned; the label name ("" allowed: no series has it) */
    char *value; /* owned; the literal or the regex as the user wrote it */
    /* private */
    tw_matcher_re_kind_t re_kind;
    bool has_re;        /* re is compiled and must be regfree'd */
    bool matches_empty; /* cached tw_matcher_matches(m, "") */
    regex_t re;
} tw_matcher_t;

/*
 * Initializes m. For =~ and !~ the regex is translated and compiled; an invalid or
 * untranslatable regex returns TW_EPARSE with a message naming it. On error m needs no fini.
 */
int tw_matcher_init(tw_matcher_t *m, tw_match_type_t type, const char *name, const char *value,
                    tw_error_t *err);

/* Frees what init allocated. NULL is a no-op; calling it twice is a no-op. */
void tw_matcher_fini(tw_matcher_t *m);

/* Whether value (NUL-terminated; "" stands for a missing label) satisfies m. */
bool tw_matcher_matches(const tw_matcher_t *m, const char *value);

/* Whether m accepts the empty value, i.e. also selects series that lack the label. */
bool tw_matcher_matches_empty(const tw_matcher_t *m);

/* "=", "!=", "=~" or "!~". */
const char *tw_match_type_str(tw_match_type_t t);

/*
 * Translates an RE2 regex to a fully anchored POSIX extended regex ("^(...)$") appended to out.
 * *icase (may be NULL) is set when the regex starts with (?i). Returns 0, TW_EPARSE (message
 * names the regex and the construct) or TW_ELIMIT from out. Pure; exposed for tests.
 */
int tw_matcher_regex_translate(const char *re2, tw_buf_t *out, bool *icase, tw_error_t *err);

/*
 * Writes m as PromQL does (`name="value"`, value quoted with Go's escapes) to out. Returns 0 or
 * TW_ELIMIT.
 */
int tw_matcher_format(const tw_matcher_t *m, tw_buf_t *out);

/*
 * Parses a PromQL series selector (`up`, `up{job="x"}`, `{__name__=~"a.+", env!="dev",}`) into
 * matchers: a leading metric name becomes __name__="name". Strings take double or single quotes
 * with Go's escapes, or backquotes raw. At most max matchers; an empty `{}` with no name is an
 * error, as in PromQL. Errors (TW_EPARSE) name the column. On success *n matchers in out[] are
 * initialized (tw_matcher_fini each); on error none are.
 */
int tw_matchers_parse_selector(const char *s, tw_matcher_t *out, size_t max, size_t *n,
                               tw_error_t *err);

#endif
