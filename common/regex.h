/* SPDX-License-Identifier: Apache-2.0 */
/*
 * regex.h - the one regex engine of tidewatch: RE2 syntax (what Prometheus users write in label
 * matchers, PromQL and relabel rules) with Go's regexp semantics, run by PCRE2.
 *
 * Why PCRE2: it accepts nearly all of RE2's syntax (lazy quantifiers, \b, \pL, named groups,
 * flags anywhere), matches UTF-8 by code point, and its backtracking picks captures
 * leftmost-first like RE2 (POSIX <regex.h> is leftmost-longest, which changes relabel results).
 * What PCRE2 accepts beyond RE2 (backreferences, lookaround, atomic groups, possessive
 * quantifiers, \C, recursion, callouts, verbs, counts above 1000) is refused here, as Prometheus
 * refuses it. A pattern is scanned once with Go's parser rules and rewritten where the dialects
 * read the same text differently (\v, \s, octal escapes, '-' and '[' in classes, ...), then
 * compiled fully anchored like Prometheus' "^(?:pattern)$", with PCRE2_UTF and
 * PCRE2_DOLLAR_ENDONLY so that '$' is RE2's end of text.
 *
 * The one semantic difference that stays: RE2 runs in linear time, PCRE2 backtracks. Every
 * match is bounded (TW_REGEX_MATCH_LIMIT steps, TW_REGEX_DEPTH_LIMIT backtracking depth,
 * TW_REGEX_HEAP_LIMIT_KIB of memory, the JIT stack); a match that hits a bound returns TW_ELIMIT
 * (tw_regex_matches() says "no match") and is counted on the regex (tw_regex_limit_hits()), so
 * a pathological pattern cannot hang a scrape or a query. docs/scraping.md lists the other,
 * smaller differences.
 *
 * Thread model: a compiled regex is immutable (but for its atomic limit-hit counter); any number
 * of threads may match with it at once. Each match builds its match data on the caller's stack,
 * so matching takes no lock and, with JIT, does no heap allocation.
 */
#ifndef TW_COMMON_REGEX_H
#define TW_COMMON_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Compile flags. */
#define TW_REGEX_DOTALL 0x1u /* '.' matches '\n' too, as Prometheus 3's "^(?s:...)$" */

/* Bounds on one match (see the file comment). */
#define TW_REGEX_MATCH_LIMIT 1000000u
#define TW_REGEX_DEPTH_LIMIT 100000u
#define TW_REGEX_HEAP_LIMIT_KIB 16384u
/* Most nested groups a pattern may have (Go's parser allows a parse tree 1000 deep). */
#define TW_REGEX_MAX_NESTING 1000
/* Longest pattern accepted, in bytes. */
#define TW_REGEX_MAX_PATTERN_BYTES (1u << 20)

/* A compiled, fully anchored regex (opaque). */
typedef struct tw_regex tw_regex_t;

/* Byte offsets of a group in the subject; both -1 when the group took no part in the match. */
typedef struct tw_regex_span {
    ptrdiff_t start;
    ptrdiff_t end;
} tw_regex_span_t;

/*
 * Compiles pattern (NUL-terminated, RE2 syntax, must be valid UTF-8) fully anchored. flags is 0
 * or TW_REGEX_DOTALL. On success *out owns the regex (tw_regex_free it). Errors: TW_EPARSE with
 * the message `regex "<pattern>": <what>: `<construct>`` in Go's words, plus the reason for
 * what RE2 leaves out on purpose (backreferences, lookaround, ...); TW_ELIMIT when the pattern
 * is longer than TW_REGEX_MAX_PATTERN_BYTES. *out is NULL on error. pattern is copied.
 */
int tw_regex_compile(tw_regex_t **out, const char *pattern, unsigned flags, tw_error_t *err);

/* Frees re. NULL is a no-op. No match may be running on it. */
void tw_regex_free(tw_regex_t *re);

/* The pattern as given to tw_regex_compile (owned by re, valid until tw_regex_free). */
const char *tw_regex_pattern(const tw_regex_t *re);

/* Number of capturing groups, not counting group 0 (the whole match). */
int tw_regex_ngroups(const tw_regex_t *re);

/*
 * The number of the first group named name (len bytes, not NUL-terminated), as Go's
 * Regexp.Expand looks names up; -1 when no group has that name.
 */
int tw_regex_group_index(const tw_regex_t *re, const char *name, size_t len);

/* The name of group i (1..ngroups), or NULL when it has none or i is out of range. */
const char *tw_regex_group_name(const tw_regex_t *re, int i);

/*
 * Matches subject (len bytes; need not be NUL-terminated; invalid UTF-8 is matched as Go does,
 * each bad byte being one U+FFFD) against the whole anchored regex. When spans is not NULL,
 * spans[0..nspans-1] get group 0 (the whole match), then groups 1.. in RE2 numbering; entries
 * past the regex's groups, and all of them on no match, are set to -1.
 * Returns 1 (match), 0 (no match) or TW_ELIMIT (a match bound was hit or PCRE2 failed: treat as
 * no match; counted in tw_regex_limit_hits). Thread-safe.
 */
int tw_regex_exec(const tw_regex_t *re, const char *subject, size_t len, tw_regex_span_t *spans,
                  size_t nspans);

/* Whether subject (len bytes) matches; a hit bound counts as no match. Thread-safe. */
bool tw_regex_matches(const tw_regex_t *re, const char *subject, size_t len);

/* How many matches on re hit a bound since it was compiled (for an *_errors_total metric). */
uint64_t tw_regex_limit_hits(const tw_regex_t *re);

/*
 * Whether matching re runs PCRE2 JIT code (false when PCRE2 has no JIT here, JIT compilation
 * failed, or re needs no PCRE2 code at all because a fast path decides it).
 */
bool tw_regex_uses_jit(const tw_regex_t *re);

/*
 * How re is matched, for tests and debugging: "literal" (byte equality), "prefix.*" and
 * "prefix.+" (a literal prefix, possibly empty, then any rest), or "pcre2" (PCRE2 code, after
 * a literal-prefix check when the regex has one). Static string.
 */
const char *tw_regex_strategy(const tw_regex_t *re);

#endif
