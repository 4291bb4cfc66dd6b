/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules_int.h - declarations shared by the files of alerting/rules only (no other folder
 * includes this): the template lexer's items, the parse tree, the executor's state, the Go fmt
 * helpers and the function table.
 *
 * How errors travel: the template parser and executor are ports of Go's, which stop at the first
 * error with panic(). Here they stop with longjmp() to the setjmp() in tw_tmpl_parse() /
 * tw_tmpl_exec(). That is safe because everything either allocates lives in one arena (the
 * tree's, or the execution's) that the entry point frees, and the only other resources (compiled
 * regexes, query answers) are registered in the state before use and released at the exit.
 */
#ifndef TW_ALERTING_RULES_RULES_INT_H
#define TW_ALERTING_RULES_RULES_INT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/regex.h"
#include "rules.h"

/* Defaults of tw_tmpl_limits_t. */
#define TMPL_DEF_SOURCE_BYTES (1u << 20)
#define TMPL_DEF_OUTPUT_BYTES (1u << 20)
#define TMPL_DEF_STEPS 1000000u
#define TMPL_DEF_RANGE_ITERS 100000u
#define TMPL_DEF_DEPTH 100
#define TMPL_DEF_MEMORY (64u << 20)
/* Deepest nesting of actions and parentheses the parser accepts (C stack bound). */
#define TMPL_MAX_PARSE_NESTING 100
/* Deepest recursion of the executor (walks and pipelines, across template calls). */
#define TMPL_MAX_EXEC_NESTING 600

/* ---- lexer (tmpl_lex.c), Go's text/template/parse/lex.go ---- */

typedef enum {
    IT_ERROR = 0,
    IT_BOOL,
    IT_CHAR,
    IT_CHAR_CONSTANT,
    IT_COMPLEX,
    IT_ASSIGN,
    IT_DECLARE,
    IT_EOF,
    IT_FIELD,
    IT_IDENTIFIER,
    IT_LEFT_DELIM,
    IT_LEFT_PAREN,
    IT_NUMBER,
    IT_PIPE,
    IT_RAW_STRING,
    IT_RIGHT_DELIM,
    IT_RIGHT_PAREN,
    IT_SPACE,
    IT_STRING,
    IT_TEXT,
    IT_VARIABLE,
    IT_KEYWORD, /* keywords come after this one */
    IT_BLOCK,
    IT_BREAK,
    IT_CONTINUE,
    IT_DOT,
    IT_DEFINE,
    IT_ELSE,
    IT_END,
    IT_IF,
    IT_NIL,
    IT_RANGE,
    IT_TEMPLATE,
    IT_WITH,
} item_type_t;

typedef struct item {
    item_type_t typ;
    size_t pos;      /* byte offset in the input */
    const char *val; /* into the input, or the lexer's message for IT_ERROR */
    size_t len;
    int line; /* 1-based line of pos */
} item_t;

typedef struct lexer {
    const char *input;
    size_t len;
    size_t pos;
    size_t start;
    int state; /* LS_* in tmpl_lex.c */
    int paren_depth;
    size_t line_pos; /* line cache: line_no is the line of line_pos */
    int line_no;
    char msg[160]; /* the text of the last IT_ERROR */
} lexer_t;

void tmpl_lex_init(lexer_t *l, const char *input, size_t len);
/* The next item; after IT_EOF or IT_ERROR it keeps returning IT_EOF. */
item_t tmpl_lex_next(lexer_t *l);
/* Writes item i as Go's item.String() ("EOF", "<if>", "\"abc\"", "\"0123456789\"...") into b. */
void tmpl_item_string(tw_buf_t *b, const item_t *i);
/* Decodes the UTF-8 rune at p (n > 0 bytes); bad bytes are U+FFFD of width 1. Returns width. */
size_t tmpl_decode_rune(const unsigned char *p, size_t n, int32_t *r);
/* unicode.IsPrint, approximated outside ASCII (docs/alerting-templates.md). */
bool tmpl_rune_is_print(int32_t r);
/* strconv.ParseFloat(s, 64) syntax (decimal, hex with p exponent, '_'); false when invalid or
 * out of range. */
bool tmpl_parse_float(const char *s, size_t n, double *out);
/* Line (1-based) of byte offset pos of the input. */
int tmpl_line_at(lexer_t *l, size_t pos);

/* ---- parse tree (tmpl_parse.c), Go's text/template/parse ---- */

typedef enum {
    N_LIST = 1,
    N_TEXT,
    N_ACTION,
    N_PIPE,
    N_COMMAND,
    N_IDENT,
    N_VAR,
    N_DOT,
    N_NIL,
    N_FIELD,
    N_CHAIN,
    N_BOOL,
    N_NUMBER,
    N_STRING,
    N_END,
    N_ELSE,
    N_IF,
    N_RANGE,
    N_WITH,
    N_TEMPLATE,
    N_BREAK,
    N_CONTINUE,
} node_type_t;

typedef struct tnode tnode_t;

/* One node; which fields are used depends on type (a comment names them). */
struct tnode {
    node_type_t type;
    size_t pos; /* byte offset in the whole source */
    int line;
    /* N_LIST: children; N_PIPE: commands; N_COMMAND: arguments */
    tnode_t **kids;
    size_t nkids;
    size_t capkids;
    /* N_TEXT: text; N_STRING: unquoted text; N_NUMBER/N_STRING: original token in orig */
    const char *text;
    size_t text_len;
    const char *orig;
    size_t orig_len;
    /* N_PIPE: declared variables (N_VAR nodes) and whether they are assigned (=) */
    tnode_t **decl;
    size_t ndecl;
    bool is_assign;
    /* N_ACTION, N_IF, N_RANGE, N_WITH, N_TEMPLATE: pipe; N_IF/RANGE/WITH: list, else_list */
    tnode_t *pipe;
    tnode_t *list;
    tnode_t *else_list;
    /* N_IDENT: ident[0]; N_VAR: "$x" then fields; N_FIELD: field names; N_CHAIN: fields */
    const char **ident;
    size_t nident;
    tnode_t *node; /* N_CHAIN: the term the fields apply to */
    /* N_BOOL */
    bool b;
    /* N_NUMBER, like Go's NumberNode */
    bool is_int, is_uint, is_float;
    int64_t i64;
    uint64_t u64;
    double f64;
    /* N_TEMPLATE: template name (unquoted) */
    const char *name;
};

/* A named tree of the set. */
typedef struct ttree {
    const char *name;
    tnode_t *root;
} ttree_t;

struct tw_tmpl {
    tw_arena_t *arena; /* every node and string */
    char *name;        /* the name it was parsed as (ParseName); in arena */
    const char *text;  /* the source, copied; positions index it */
    size_t text_len;
    ttree_t *trees; /* [0..ntrees) */
    size_t ntrees;
    size_t captrees;
};

/* Appends node n's text form (Go's Node.String()) to b. */
void tmpl_node_string(tw_buf_t *b, const tnode_t *n);

/* ---- values and Go fmt (tmpl_funcs.c) ---- */

typedef tw_tmpl_value_t tval_t;

/* The Go type name of v ("float64", "map[string]string", "*template.sample", ...). */
const char *tval_type(const tval_t *v);

/* Go's strconv.Quote (ASCII-only off) of s into b. */
void go_quote(tw_buf_t *b, const char *s, size_t len);
/* Go's %v (shortest) and %<verb> with prec for a float64 ('e','E','f','F','g','G'). */
void go_format_float(tw_buf_t *b, double v, char verb, int prec);
/* fmt.Fprint(v) of one value, as printValue prints it (the caller handles NIL). */
void go_print_value(tw_buf_t *b, const tval_t *v);

/* ---- executor (tmpl_exec.c) ---- */

typedef struct tvar {
    const char *name;
    const tval_t *val;
} tvar_t;

#define TMPL_REGEX_CACHE 8

typedef struct tstate {
    const tw_tmpl_t *set;
    const ttree_t *tmpl; /* the template being executed (for "executing %q") */
    const tnode_t *node; /* the node being evaluated (for the error location) */
    tw_arena_t *arena;   /* values */
    tw_buf_t *out;
    const tw_tmpl_env_t *env;
    tw_tmpl_limits_t lim;
    tvar_t *vars;
    size_t nvars;
    size_t capvars;
    int depth;   /* template call depth */
    int nesting; /* C recursion of walk/pipeline */
    uint64_t steps;
    uint64_t range_iters;
    size_t out_start; /* out->len at the start */
    jmp_buf *jb;
    const tw_tmpl_value_t *root; /* the data `.` starts as (kept here: setjmp-safe) */
    int code;
    tw_error_t *err;
    /* compiled regexes of `match` and `reReplaceAll`, freed at the end */
    struct {
        char *pattern;
        tw_regex_t *re;
    } re_cache[TMPL_REGEX_CACHE];
    size_t re_next;
} tstate_t;

/* Stops execution with a Go-worded error at s->node (never returns). */
_Noreturn void tmpl_exec_fail(tstate_t *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Arena allocation with the memory limit checked. */
void *tmpl_alloc(tstate_t *s, size_t n);
/* New values in the execution arena. */
tval_t *tv_new(tstate_t *s, tw_tmpl_kind_t kind);
tval_t *tv_str(tstate_t *s, const char *p, size_t len);
tval_t *tv_strbuf(tstate_t *s, tw_buf_t *b); /* copies b's text; checks the string limit */
tval_t *tv_float(tstate_t *s, double f);
tval_t *tv_int(tstate_t *s, int64_t i);
tval_t *tv_bool(tstate_t *s, bool b);
extern const tval_t tmpl_nil_value;
/* Go's truth (isTrue): *ok false when v has no truth value. */
bool tmpl_truth(const tval_t *v, bool *ok);

/* ---- functions (tmpl_funcs.c) ---- */

/* Parameter kinds, as Go's reflect types of the function parameters. */
typedef enum {
    P_ANY = 1, /* interface{} */
    P_VALUE,   /* reflect.Value (builtins): anything, nil included */
    P_STRING,
    P_FLOAT,
    P_INT,
    P_SAMPLE,  /* *template.sample */
    P_SAMPLES, /* template.queryResult */
} param_t;

typedef struct tfunc {
    const char *name;
    param_t params[3]; /* fixed parameters */
    int nparams;
    param_t variadic; /* 0: not variadic; else the element kind of the ... parameter */
    bool builtin;
    /* Returns the value, or NULL with *errmsg set (the function's error; the executor adds
     * "error calling <name>: "). args are already converted to the parameter kinds. */
    const tval_t *(*fn)(tstate_t *s, const tval_t *const *args, size_t nargs, tw_buf_t *errmsg);
} tfunc_t;

/* The function named name (builtins and Prometheus' set), or NULL. */
const tfunc_t *tmpl_func_find(const char *name, size_t len);
/* Go's reflect type name of a parameter kind, for messages. */
const char *tmpl_param_type(param_t p);

#endif
