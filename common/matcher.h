/* SPDX-License-Identifier: Apache-2.0 */
/*
 * matcher.h - label matchers (=, !=, =~, !~) with Prometheus' semantics, shared by the TSDB's
 * select and the PromQL engine.
 *
 * A regex matcher is fully anchored, as in Prometheus (`foo=~"a.*"` does not match "ba"), and a
 * missing label behaves as the empty value (`foo=""` matches series without foo). Regexes are
 * RE2 syntax (what PromQL users write), run by common/regex.h (PCRE2 with RE2's rules: UTF-8
 * runes, '$' at the end only, no backreferences or lookaround), with '.' matching a newline as in
 * Prometheus 3's "^(?s:...)$". Literal, ".*", ".+" and literal-prefix regexes are decided without
 * running the engine. A match that hits the engine's step bound counts as no match (and is
 * counted on the regex, see tw_regex_limit_hits).
 *
 * Thread model: an initialized matcher is immutable; any number of threads may match with it.
 */
#ifndef TW_COMMON_MATCHER_H
#define TW_COMMON_MATCHER_H

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

/*
 * One matcher. Fill it with tw_matcher_init(); read type, name and value freely; the rest is
 * private. name and value are owned copies.
 */
typedef struct tw_matcher {
    tw_match_type_t type;
    char *name;  /* owned; the label name ("" allowed: no series has it) */
    char *value; /* owned; the literal or the regex as the user wrote it */
    /* private */
    struct tw_regex *re; /* owned; the compiled regex for =~ and !~, NULL otherwise */
    bool matches_empty;  /* cached tw_matcher_matches(m, "") */
} tw_matcher_t;

/*
 * Initializes m. For =~ and !~ the regex is compiled (tw_regex_compile with TW_REGEX_DOTALL); a
 * regex RE2 refuses returns TW_EPARSE with a message naming it and the construct. On error m
 * needs no fini.
 */
int tw_matcher_init(tw_matcher_t *m, tw_match_type_t type, const char *name, const char *value,
                    tw_error_t *err);

/*
 * Like tw_matcher_init() with the regex flags chosen by the caller: TW_REGEX_DOTALL is
 * Prometheus 3's "^(?s:...)$"; 0 is Prometheus 2's "^(?:...)$" where '.' does not match '\n'.
 */
int tw_matcher_init_flags(tw_matcher_t *m, tw_match_type_t type, const char *name,
                          const char *value, unsigned regex_flags, tw_error_t *err);

/* Frees what init allocated. NULL is a no-op; calling it twice is a no-op. */
void tw_matcher_fini(tw_matcher_t *m);

/* Whether value (NUL-terminated; "" stands for a missing label) satisfies m. */
bool tw_matcher_matches(const tw_matcher_t *m, const char *value);

/* Whether m accepts the empty value, i.e. also selects series that lack the label. */
bool tw_matcher_matches_empty(const tw_matcher_t *m);

/* "=", "!=", "=~" or "!~". */
const char *tw_match_type_str(tw_match_type_t t);

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
