/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query_int.h - declarations shared inside query/ only: the PromQL lexer's tokens and state,
 * the AST container, and the helpers the parser, checker and printer share.
 *
 * The lexer is a port of the state machine in Prometheus' promql/parser/lex.go (3.5): the same
 * token kinds, the same context rules (keywords are plain identifiers inside braces, `:` is a
 * token only inside brackets) and the same error texts, so the parser can produce Prometheus'
 * messages. Thread model: one lexer per parse.
 */
#ifndef TW_QUERY_QUERY_INT_H
#define TW_QUERY_QUERY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "query/query.h"

/* Token kinds; the groups mirror lex.go's ranges (operators, aggregators, keywords). */
typedef enum {
    TOK_ERROR = 0,
    TOK_EOF,
    TOK_COMMENT,
    TOK_IDENTIFIER,
    TOK_METRIC_IDENTIFIER,
    TOK_NUMBER,
    TOK_STRING,
    TOK_DURATION,
    TOK_LEFT_PAREN,
    TOK_RIGHT_PAREN,
    TOK_LEFT_BRACE,
    TOK_RIGHT_BRACE,
    TOK_LEFT_BRACKET,
    TOK_RIGHT_BRACKET,
    TOK_COMMA,
    TOK_EQL, /* = */
    TOK_COLON,
    TOK_OPERATORS_START,
    TOK_ADD,
    TOK_SUB,
    TOK_MUL,
    TOK_DIV,
    TOK_MOD,
    TOK_POW,
    TOK_EQLC,
    TOK_NEQ,
    TOK_LTE,
    TOK_LSS,
    TOK_GTE,
    TOK_GTR,
    TOK_EQL_REGEX,
    TOK_NEQ_REGEX,
    TOK_LAND,
    TOK_LOR,
    TOK_LUNLESS,
    TOK_ATAN2,
    TOK_AT,
    TOK_OPERATORS_END,
    TOK_AGGREGATORS_START,
    TOK_SUM,
    TOK_AVG,
    TOK_COUNT,
    TOK_MIN,
    TOK_MAX,
    TOK_GROUP,
    TOK_STDDEV,
    TOK_STDVAR,
    TOK_TOPK,
    TOK_BOTTOMK,
    TOK_COUNT_VALUES,
    TOK_QUANTILE,
    TOK_LIMITK,
    TOK_LIMIT_RATIO,
    TOK_AGGREGATORS_END,
    TOK_KEYWORDS_START,
    TOK_OFFSET,
    TOK_BY,
    TOK_WITHOUT,
    TOK_ON,
    TOK_IGNORING,
    TOK_GROUP_LEFT,
    TOK_GROUP_RIGHT,
    TOK_BOOL,
    TOK_KEYWORDS_END,
    TOK_START, /* preprocessors: not keywords for messages */
    TOK_END,
} tw_promql_tok_t;

/* One token: kind, byte position and the text it covers (or the error message). */
typedef struct tw_promql_item {
    tw_promql_tok_t typ;
    uint32_t pos;
    const char *val; /* into the input, or into the lexer's message buffer for TOK_ERROR */
    size_t len;
} tw_promql_item_t;

/* The lexer (lex.go's Lexer without the series-description states). */
typedef struct tw_promql_lexer {
    const char *input; /* NUL-terminated copy */
    size_t len;
    size_t pos;
    size_t start;
    int paren_depth;
    bool brace_open;
    bool bracket_open;
    bool got_colon;
    bool done; /* an error or EOF was emitted */
    char errbuf[256];
} tw_promql_lexer_t;

/* Prepares l to scan input[0..len) (input must stay valid and NUL-terminated at len). */
void tw_promql_lexer_init(tw_promql_lexer_t *l, const char *input, size_t len);

/* Scans the next token into *it (comments included). After an error or EOF, returns EOF. */
void tw_promql_lexer_next(tw_promql_lexer_t *l, tw_promql_item_t *it);

/*
 * Appends Prometheus' Item.desc() of it to out ("end of input", "<op:*>", "identifier
 * \"foo\"", "number \"1\"", "\"(\"", "<by>", "<aggr:sum>").
 */
void tw_promql_item_desc(const tw_promql_item_t *it, tw_buf_t *out);

/* Appends s (n bytes) quoted like Go's strconv.Quote. */
int tw_promql_go_quote(const char *s, size_t n, tw_buf_t *out);

/* Appends rune quoting like Go's %q of a rune ('x', '\n', '\u00a0'). */
int tw_promql_go_quote_rune(uint32_t r, tw_buf_t *out);

/*
 * Unquotes a PromQL string literal (with its quotes: "..", '..' or `..`) into a new arena
 * string; *out_len gets the length. Returns 0 or TW_EPARSE.
 */
int tw_promql_unquote(tw_arena_t *a, const char *s, size_t n, char **out, size_t *out_len);

/* Whether s is a valid legacy label name ([a-zA-Z_][a-zA-Z0-9_]*). */
bool tw_promql_is_legacy_label(const char *s);
/* Whether s is a valid legacy metric name ([a-zA-Z_:][a-zA-Z0-9_:]*). */
bool tw_promql_is_legacy_metric(const char *s);

/*
 * The shortest decimal digits that read back as v (finite, non-zero), as Go's strconv finds
 * them: digits[0..*nd) (room for 32, no trailing zeros) and the decimal exponent of the first
 * digit. Returns whether v is negative. (promql_ftoa.c)
 */
bool tw_promql_shortest_digits(double v, char *digits, size_t *nd, int *exp10);
/* The same digits by the slow reference method ("%.*e" + strtod()), for tests. */
bool tw_promql_shortest_digits_ref(double v, char *digits, size_t *nd, int *exp10);

/* Room tw_promql_format_float_chars() needs. */
#define TW_PROMQL_FLOAT_CHARS_MAX 48

/*
 * Writes v like tw_promql_format_float() into out (not terminated), for v == 0 or
 * 1e-6 <= |v| < 1e21 only (the range where that is at most TW_PROMQL_FLOAT_CHARS_MAX bytes);
 * returns the length. (promql_ftoa.c)
 */
size_t tw_promql_format_float_chars(double v, char *out);

/* Appends the shortest round-trip decimal of v like Go's FormatFloat(v, 'f', -1, 64). */
int tw_promql_format_float(double v, tw_buf_t *out);

/* The AST container. */
struct tw_promql_ast {
    tw_arena_t *arena;
    tw_promql_expr_t *root;
    char *input;
    size_t input_len;
    /* Every matcher array handed out, so free() can fini them. */
    tw_matcher_t **matcher_arrays;
    size_t *matcher_counts;
    size_t n_arrays;
    size_t cap_arrays;
};

#endif
