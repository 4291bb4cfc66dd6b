/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_test_int.h - the parsed form of a PromQL test script (promqltest `.test` file), shared
 * by the script parser (promql_test_script.c) and the runner (promql_test.c) inside query/ only
 * (and by their unit test and fuzz target).
 *
 * tw_pt_script_parse() reads the whole file first, like upstream, so a malformed script runs
 * nothing. The commands keep the script's order; every string and array is owned by the script
 * (tw_pt_script_free). Thread model: a parsed script is immutable.
 */
#ifndef TW_QUERY_PROMQL_TEST_INT_H
#define TW_QUERY_PROMQL_TEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query/query.h"

typedef enum {
    TW_PT_CLEAR = 1,
    TW_PT_LOAD,
    TW_PT_EVAL,
} tw_pt_cmd_kind_t;

/* The kinds of `expect` lines (and of the legacy eval_X suffixes they replace). */
typedef enum {
    TW_PT_EXPECT_FAIL = 0,
    TW_PT_EXPECT_WARN,
    TW_PT_EXPECT_NO_WARN,
    TW_PT_EXPECT_INFO,
    TW_PT_EXPECT_NO_INFO,
    TW_PT_EXPECT_ORDERED,
} tw_pt_expect_kind_t;

/* One `expect <kind> [msg|regex: text]` line. */
typedef struct tw_pt_expect {
    tw_pt_expect_kind_t kind;
    char *text; /* owned; NULL: any message */
    bool regex; /* text is a regex (unanchored search) rather than the exact message */
} tw_pt_expect_t;

/* `load <interval>` / `load_with_nhcb <interval>` with its series lines. */
typedef struct tw_pt_load {
    int64_t interval_ms;
    bool nhcb;             /* load_with_nhcb: classic histograms also become native ones */
    bool start_timestamps; /* some `@st` line was given (ignored, but evals are skipped) */
    tw_promql_series_desc_t *series; /* owned; one per distinct label set (a later line wins) */
    size_t n_series;
} tw_pt_load_t;

/* One expected series of an eval. */
typedef struct tw_pt_expected {
    tw_promql_series_desc_t d;
    int pos;  /* 1-based position among the expected series (for `ordered`) */
    int line; /* 1-based script line */
} tw_pt_expected_t;

/* `eval[_fail|_warn|_info|_ordered] instant at T EXPR` or `eval range from .. to .. step ..`. */
typedef struct tw_pt_eval {
    char *expr; /* owned, NUL-terminated */
    size_t expr_len;
    bool range;
    int64_t start_ms; /* instant: the evaluation time (the `to` of `expect range vector`) */
    int64_t end_ms;   /* instant: start_ms */
    int64_t step_ms;  /* instant: 0 */
    /* legacy suffixes */
    bool fail, warn, info, ordered;
    char *fail_message;      /* owned or NULL: expected_fail_message */
    char *fail_regexp;       /* owned or NULL: expected_fail_regexp */
    tw_pt_expect_t *expects; /* owned */
    size_t n_expects;
    /* `expect range vector from A to B step S`: an instant query returning a matrix */
    bool range_vector;
    int64_t rv_start_ms, rv_end_ms, rv_step_ms;
    /* `expect string "..."` */
    bool has_string;
    char *string; /* owned */
    size_t string_len;
    /* a scalar line */
    bool expect_scalar;
    double scalar;
    tw_pt_expected_t *series; /* owned; distinct label sets (a later line wins) */
    size_t n_series;
    bool expects_histograms; /* some expected value is a `{{...}}` histogram */
} tw_pt_eval_t;

typedef struct tw_pt_cmd {
    tw_pt_cmd_kind_t kind;
    int line; /* 1-based line of the command's first line */
    tw_pt_load_t load;
    tw_pt_eval_t eval;
} tw_pt_cmd_t;

typedef struct tw_pt_script {
    tw_pt_cmd_t *cmds; /* owned */
    size_t n_cmds;
    size_t cap_cmds;
} tw_pt_script_t;

/* Most bytes of a script the runner reads. */
#define TW_PT_MAX_SCRIPT_BYTES (64u * 1024u * 1024u)

/*
 * Parses a whole script (len bytes of text; name for messages, may be NULL). Returns 0 with *out
 * (free with tw_pt_script_free), or TW_EPARSE / TW_ELIMIT with err naming name:line and what was
 * wrong; *out is NULL then.
 */
int tw_pt_script_parse(const char *name, const char *text, size_t len, tw_pt_script_t **out,
                       tw_error_t *err);

/* Frees a parsed script. NULL is a no-op. */
void tw_pt_script_free(tw_pt_script_t *s);

/*
 * Parses a scalar expectation line like Go's strconv.ParseInt(s, 0, 64), falling back to
 * ParseFloat (NaN, Inf, exponents). Returns true with *v when the whole of s[0..len) is a number.
 */
bool tw_pt_parse_number(const char *s, size_t len, double *v);

/* Whether the eval expects failure (eval_fail or `expect fail`). */
bool tw_pt_eval_expects_fail(const tw_pt_eval_t *ev);

/* Whether the eval expects the listed order (eval_ordered or `expect ordered`). */
bool tw_pt_eval_is_ordered(const tw_pt_eval_t *ev);

#endif
