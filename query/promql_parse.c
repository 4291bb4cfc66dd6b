/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_parse.c - the PromQL parser and type checker.
 *
 * How it works: Prometheus generates an LALR parser from generated_parser.y; we parse the same
 * language by recursive descent with precedence climbing, which is easier to bound and gives
 * the same trees:
 *   - binary operators climb by yacc's levels (or < and/unless < comparisons < + - < * / %
 *     atan2 < ^), all left-associative except ^;
 *   - a unary +/- takes an operand of ^ level (yacc's `%prec MUL`), so -2^2 is -(2^2) and -a*b
 *     is (-a)*b; a unary minus on a number literal folds into the literal;
 *   - `[range]`, `[range:step]`, `offset` and `@` are postfix on the primary expression they
 *     follow (they bind tighter than every operator, as OFFSET and LEFT_BRACKET do in yacc);
 *   - an aggregator keyword is an aggregation only when `(`, `by` or `without` follows, and
 *     otherwise a metric name, like the keywords yacc accepts as metric_identifier.
 * Syntax errors stop at the first problem with yacc's message for that spot ("unexpected X in
 * <context>, expected Y"); semantic errors raised while parsing (unknown function, matcher,
 * offset and @ placement) come at the same points as in parse.go; the type check (checkAST)
 * runs only on a syntactically valid tree, in the same order, and reports its first error.
 * Recursion depth and tree height are bounded by the options, so `((((...` fails cleanly.
 *
 * Pure; one parse per call; no shared state.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/labels.h"
#include "common/regex.h"
#include "query/query_int.h"

typedef struct parser {
    tw_promql_lexer_t lex;
    tw_promql_item_t tok; /* lookahead */
    bool have_tok;
    tw_promql_ast_t *ast;
    tw_arena_t *arena;
    bool p3; /* Prometheus 3 grammar */
    bool experimental;
    uint32_t last_closing;
    int depth;
    int max_depth;
    bool failed;
    int code;
    uint32_t err_pos;
    bool err_nopos; /* "unknown position": the empty query */
    char msg[480];
} parser_t;

/* ---- errors ---- */

__attribute__((format(printf, 3, 4))) static void *fail(parser_t *p, uint32_t pos, const char *fmt,
                                                        ...)
{
    if (p->failed) {
        return NULL;
    }
    p->failed = true;
    p->code = TW_EPARSE;
    p->err_pos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
    va_end(ap);
    return NULL;
}

static void *fail_limit(parser_t *p, uint32_t pos)
{
    if (!p->failed) {
        fail(p, pos, "expression nests too deeply (more than %d levels)", p->max_depth);
        p->code = TW_ELIMIT;
    }
    return NULL;
}

static tw_promql_item_t *peek(parser_t *p)
{
    if (!p->have_tok) {
        do {
            tw_promql_lexer_next(&p->lex, &p->tok);
        } while (p->tok.typ == TOK_COMMENT);
        p->have_tok = true;
        switch (p->tok.typ) {
        case TOK_ERROR:
            fail(p, p->tok.pos, "%.*s", (int)p->tok.len, p->tok.val);
            break;
        case TOK_RIGHT_BRACE:
        case TOK_RIGHT_PAREN:
        case TOK_RIGHT_BRACKET:
        case TOK_DURATION:
        case TOK_NUMBER:
            p->last_closing = p->tok.pos + (uint32_t)p->tok.len;
            break;
        default:
            break;
        }
    }
    return &p->tok;
}

static void advance(parser_t *p)
{
    peek(p);
    p->have_tok = false;
}

/* yacc's unexpected(): complains about the lookahead token. */
static void *unexpected(parser_t *p, const char *context, const char *expected)
{
    tw_promql_item_t *t = peek(p);
    if (p->failed) {
        return NULL; /* lexer errors are reported once */
    }
    tw_buf_t b;
    tw_buf_init(&b, sizeof(p->msg) - 1);
    tw_buf_puts(&b, "unexpected ");
    tw_promql_item_desc(t, &b);
    if (context != NULL && context[0] != '\0') {
        tw_buf_printf(&b, " in %s", context);
    }
    if (expected != NULL && expected[0] != '\0') {
        tw_buf_printf(&b, ", expected %s", expected);
    }
    fail(p, t->pos, "%s", b.data != NULL ? b.data : "unexpected input");
    tw_buf_fini(&b);
    return NULL;
}

/* ---- nodes ---- */

static tw_promql_expr_t *node_new(parser_t *p, tw_promql_kind_t kind, uint32_t start, uint32_t end)
{
    tw_promql_expr_t *e = tw_arena_calloc(p->arena, sizeof(*e));
    e->kind = kind;
    e->pos.start = start;
    e->pos.end = end;
    e->height = 1;
    return e;
}

static void set_height(tw_promql_expr_t *e, const tw_promql_expr_t *child)
{
    if (child != NULL && child->height + 1 > e->height) {
        e->height = child->height + 1;
    }
}

static bool height_ok(parser_t *p, tw_promql_expr_t *e)
{
    if (e->height > (uint32_t)p->max_depth) {
        fail_limit(p, e->pos.start);
        return false;
    }
    return true;
}

static char *arena_strndup(parser_t *p, const char *s, size_t n)
{
    return tw_arena_strndup(p->arena, s, n);
}

/* A growable array of pointers, copied into the arena when complete. */
typedef struct ptrvec {
    void **v;
    size_t n;
    size_t cap;
} ptrvec_t;

static void ptrvec_push(ptrvec_t *pv, void *x)
{
    tw_grow((void **)&pv->v, &pv->cap, pv->n + 1, sizeof(void *));
    pv->v[pv->n++] = x;
}

static void **ptrvec_to_arena(parser_t *p, ptrvec_t *pv)
{
    void **out = NULL;
    if (pv->n > 0) {
        out = tw_arena_alloc(p->arena, pv->n * sizeof(void *));
        memcpy(out, pv->v, pv->n * sizeof(void *));
    }
    free(pv->v);
    pv->v = NULL;
    return out;
}

/* ---- literals ---- */

/* Go's strconv.ParseInt(s, 0, 64): returns false when s is not such an integer or overflows. */
static bool parse_go_int(const char *s, size_t n, int64_t *out)
{
    int base = 10;
    size_t i = 0;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    } else if (n >= 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8;
        i = 2;
    } else if (n >= 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        i = 2;
    } else if (n >= 2 && s[0] == '0') {
        base = 8;
        i = 1;
    }
    if (i >= n) {
        return false;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        int d;
        char c = s[i];
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            return false;
        }
        if (d >= base) {
            return false;
        }
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) {
            return false;
        }
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (v > (uint64_t)INT64_MAX) {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

/* parser.number(): ParseInt base 0, else ParseFloat, with Go's error text. */
static bool parse_number(parser_t *p, const tw_promql_item_t *t, double *out)
{
    int64_t iv;
    if (parse_go_int(t->val, t->len, &iv)) {
        *out = (double)iv;
        return true;
    }
    char *buf = tw_xstrndup(t->val, t->len);
    bool valid = t->len > 0;
    if (valid) {
        /* Go accepts only decimal floats here (hex floats need a p exponent). */
        const char *s = buf;
        size_t mant = 0;
        bool is_special = strcasecmp(s, "inf") == 0 || strcasecmp(s, "nan") == 0;
        if (!is_special) {
            if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                valid = false;
            }
            size_t i = 0;
            while (s[i] >= '0' && s[i] <= '9') {
                i++;
                mant++;
            }
            if (s[i] == '.') {
                i++;
                while (s[i] >= '0' && s[i] <= '9') {
                    i++;
                    mant++;
                }
            }
            if (s[i] == 'e' || s[i] == 'E') {
                i++;
                if (s[i] == '+' || s[i] == '-') {
                    i++;
                }
                size_t ed = 0;
                while (s[i] >= '0' && s[i] <= '9') {
                    i++;
                    ed++;
                }
                if (ed == 0) {
                    valid = false;
                }
            }
            if (mant == 0 || s[i] != '\0') {
                valid = false;
            }
        }
    }
    if (valid) {
        errno = 0;
        double v = strtod(buf, NULL);
        free(buf);
        if (errno == ERANGE && isinf(v)) {
            tw_buf_t b;
            tw_buf_init(&b, 0);
            tw_promql_go_quote(t->val, t->len, &b);
            fail(p, t->pos,
                 "error parsing number: strconv.ParseFloat: parsing %s: value out of range",
                 b.data != NULL ? b.data : "");
            tw_buf_fini(&b);
            return false;
        }
        *out = v;
        return true;
    }
    free(buf);
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_promql_go_quote(t->val, t->len, &b);
    fail(p, t->pos, "error parsing number: strconv.ParseFloat: parsing %s: invalid syntax",
         b.data != NULL ? b.data : "");
    tw_buf_fini(&b);
    return false;
}

/* A duration position: DURATION, or (Prometheus 3) NUMBER seconds. Consumes it. */
static bool parse_duration_tok(parser_t *p, int64_t *ms)
{
    tw_promql_item_t t = *peek(p);
    if (t.typ == TOK_DURATION) {
        tw_error_t e;
        tw_error_clear(&e);
        if (tw_promql_duration_parse(t.val, t.len, ms, &e) != 0) {
            fail(p, t.pos, "%s", e.msg);
            return false;
        }
        advance(p);
        return true;
    }
    /* t.typ == TOK_NUMBER with p->p3, checked by the callers */
    double v;
    if (!parse_number(p, &t, &v)) {
        return false;
    }
    double m = trunc(v * 1000.0);
    if (!isfinite(m) || fabs(m) > 9223372036854.0) { /* must fit int64 nanoseconds */
        fail(p, t.pos, "duration out of range");
        return false;
    }
    *ms = (int64_t)m;
    advance(p);
    return true;
}

static bool is_duration_tok(const parser_t *p, tw_promql_tok_t t)
{
    return t == TOK_DURATION || (p->p3 && t == TOK_NUMBER);
}

/* ---- grouping labels ---- */

static bool is_maybe_label(tw_promql_tok_t t)
{
    if (t == TOK_IDENTIFIER || t == TOK_METRIC_IDENTIFIER || t == TOK_START || t == TOK_END ||
        t == TOK_ATAN2 || t == TOK_LAND || t == TOK_LOR || t == TOK_LUNLESS) {
        return true;
    }
    if (t > TOK_AGGREGATORS_START && t < TOK_AGGREGATORS_END) {
        return true;
    }
    return t > TOK_KEYWORDS_START && t < TOK_KEYWORDS_END;
}

static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t need = c < 0x80             ? 0
                      : (c & 0xE0) == 0xC0 ? 1
                      : (c & 0xF0) == 0xE0 ? 2
                      : (c & 0xF8) == 0xF0 ? 3
                                           : 4;
        if (need == 4 || i + need >= n + (need == 0)) {
            return false;
        }
        uint32_t r = need == 0 ? c : c & (0x3Fu >> need);
        for (size_t k = 1; k <= need; k++) {
            if ((u[i + k] & 0xC0) != 0x80) {
                return false;
            }
            r = (r << 6) | (u[i + k] & 0x3F);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (r < min[need] || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) {
            return false;
        }
        i += need + 1;
    }
    return true;
}

/* grouping_labels: "(" [label {"," label} [","]] ")". */
static bool parse_grouping(parser_t *p, const char ***labels, size_t *n)
{
    ptrvec_t pv = {0};
    if (peek(p)->typ != TOK_LEFT_PAREN) {
        unexpected(p, "grouping opts", "\"(\"");
        return false;
    }
    advance(p);
    if (peek(p)->typ == TOK_RIGHT_PAREN) {
        advance(p);
        goto done;
    }
    for (;;) {
        tw_promql_item_t t = *peek(p);
        if (p->failed) {
            goto err;
        }
        char *name;
        if (is_maybe_label(t.typ)) {
            name = arena_strndup(p, t.val, t.len);
            advance(p);
            if (!p->p3 && !tw_promql_is_legacy_label(name)) {
                unexpected(p, "grouping opts", "label");
                goto err;
            }
        } else if (p->p3 && t.typ == TOK_STRING) {
            size_t len;
            if (tw_promql_unquote(p->arena, t.val, t.len, &name, &len) != 0) {
                fail(p, t.pos, "error unquoting string");
                goto err;
            }
            advance(p);
            if (len == 0 || strlen(name) != len || !valid_utf8(name, len)) {
                tw_buf_t b;
                tw_buf_init(&b, 300);
                tw_promql_go_quote(name, len, &b);
                fail(p, t.pos + 1, "invalid label name for grouping: %s",
                     b.data != NULL ? b.data : "\"\"");
                tw_buf_fini(&b);
                goto err;
            }
        } else {
            unexpected(p, "grouping opts", "label");
            goto err;
        }
        ptrvec_push(&pv, name);
        tw_promql_tok_t nt = peek(p)->typ;
        if (nt == TOK_COMMA) {
            advance(p);
            if (peek(p)->typ == TOK_RIGHT_PAREN) {
                advance(p);
                break;
            }
            continue;
        }
        if (nt == TOK_RIGHT_PAREN) {
            advance(p);
            break;
        }
        unexpected(p, "grouping opts", "\",\" or \")\"");
        goto err;
    }
done:
    *n = pv.n;
    *labels = (const char **)ptrvec_to_arena(p, &pv);
    if (*labels == NULL) {
        *labels = tw_arena_alloc(p->arena, sizeof(char *)); /* non-NULL: "by ()" was written */
    }
    return true;
err:
    free(pv.v);
    return false;
}

/* ---- selectors ---- */

static void register_matchers(parser_t *p, tw_matcher_t *arr, size_t n)
{
    tw_promql_ast_t *a = p->ast;
    if (a->n_arrays == a->cap_arrays) {
        size_t cap = a->cap_arrays;
        tw_grow((void **)&a->matcher_arrays, &cap, a->n_arrays + 1, sizeof(tw_matcher_t *));
        size_t cap2 = a->cap_arrays;
        tw_grow((void **)&a->matcher_counts, &cap2, a->n_arrays + 1, sizeof(size_t));
        a->cap_arrays = cap < cap2 ? cap : cap2;
    }
    a->matcher_arrays[a->n_arrays] = arr;
    a->matcher_counts[a->n_arrays] = n;
    a->n_arrays++;
}

typedef struct matchvec {
    tw_matcher_t *v;
    size_t n;
    size_t cap;
} matchvec_t;

static void matchvec_free(matchvec_t *mv)
{
    for (size_t i = 0; i < mv->n; i++) {
        tw_matcher_fini(&mv->v[i]);
    }
    free(mv->v);
    mv->v = NULL;
    mv->n = 0;
}

static bool add_matcher(parser_t *p, matchvec_t *mv, tw_match_type_t type, const char *name,
                        const char *value, uint32_t pos)
{
    tw_grow((void **)&mv->v, &mv->cap, mv->n + 1, sizeof(tw_matcher_t));
    tw_error_t e;
    tw_error_clear(&e);
    /* Prometheus 3 anchors matchers as "^(?s:...)$" ('.' matches '\n'); 2.42 as "^(?:...)$". */
    unsigned flags = p->p3 ? TW_REGEX_DOTALL : 0;
    if (tw_matcher_init_flags(&mv->v[mv->n], type, name, value, flags, &e) != 0) {
        fail(p, pos, "%s", e.msg);
        return false;
    }
    mv->n++;
    return true;
}

static bool match_op(tw_promql_tok_t t, tw_match_type_t *mt)
{
    switch (t) {
    case TOK_EQL:
        *mt = TW_MATCH_EQ;
        return true;
    case TOK_NEQ:
        *mt = TW_MATCH_NEQ;
        return true;
    case TOK_EQL_REGEX:
        *mt = TW_MATCH_RE;
        return true;
    case TOK_NEQ_REGEX:
        *mt = TW_MATCH_NRE;
        return true;
    default:
        return false;
    }
}

/* label_matchers: "{" [matcher {"," matcher} [","]] "}"; the lookahead is "{". */
static bool parse_label_matchers(parser_t *p, matchvec_t *mv, uint32_t *end)
{
    advance(p);
    if (peek(p)->typ == TOK_RIGHT_BRACE) {
        *end = p->tok.pos + 1;
        advance(p);
        return true;
    }
    for (;;) {
        tw_promql_item_t name = *peek(p);
        if (p->failed) {
            return false;
        }
        char *lname;
        size_t llen;
        if (name.typ == TOK_IDENTIFIER) {
            lname = arena_strndup(p, name.val, name.len);
        } else if (p->p3 && name.typ == TOK_STRING) {
            if (tw_promql_unquote(p->arena, name.val, name.len, &lname, &llen) != 0) {
                fail(p, name.pos, "error unquoting string");
                return false;
            }
        } else {
            unexpected(p, "label matching", "identifier or \"}\"");
            return false;
        }
        advance(p);
        tw_match_type_t mt;
        if (match_op(peek(p)->typ, &mt)) {
            advance(p);
            tw_promql_item_t val = *peek(p);
            if (val.typ != TOK_STRING) {
                unexpected(p, "label matching", "string");
                return false;
            }
            char *v;
            size_t vlen;
            if (tw_promql_unquote(p->arena, val.val, val.len, &v, &vlen) != 0) {
                fail(p, val.pos, "error unquoting string");
                return false;
            }
            advance(p);
            if (!add_matcher(p, mv, mt, lname, v, name.pos)) {
                return false;
            }
        } else if (name.typ == TOK_STRING) {
            /* {"metric.name"}: a bare quoted name selects the metric */
            if (!add_matcher(p, mv, TW_MATCH_EQ, TW_METRIC_NAME_LABEL, lname, name.pos)) {
                return false;
            }
        } else {
            unexpected(p, "label matching", "label matching operator");
            return false;
        }
        tw_promql_tok_t nt = peek(p)->typ;
        if (nt == TOK_COMMA) {
            advance(p);
            if (peek(p)->typ == TOK_RIGHT_BRACE) {
                *end = p->tok.pos + 1;
                advance(p);
                return true;
            }
            continue;
        }
        if (nt == TOK_RIGHT_BRACE) {
            *end = p->tok.pos + 1;
            advance(p);
            return true;
        }
        unexpected(p, "label matching", "\",\" or \"}\"");
        return false;
    }
}

/* vector_selector; name (may be NULL) was consumed already, the lookahead may be "{". */
static tw_promql_expr_t *parse_vector_selector(parser_t *p, const tw_promql_item_t *name)
{
    matchvec_t mv = {0};
    uint32_t start = name != NULL ? name->pos : peek(p)->pos;
    uint32_t end = name != NULL ? name->pos + (uint32_t)name->len : start;
    if (peek(p)->typ == TOK_LEFT_BRACE) {
        if (!parse_label_matchers(p, &mv, &end)) {
            matchvec_free(&mv);
            return NULL;
        }
    }
    tw_promql_expr_t *e = node_new(p, TW_PROMQL_VECTOR_SELECTOR, start, end);
    if (name != NULL) {
        e->u.vs.name = arena_strndup(p, name->val, name->len);
        if (!add_matcher(p, &mv, TW_MATCH_EQ, TW_METRIC_NAME_LABEL, e->u.vs.name, name->pos)) {
            matchvec_free(&mv);
            return NULL;
        }
    }
    if (mv.n > 0) {
        register_matchers(p, mv.v, mv.n);
    } else {
        free(mv.v);
        mv.v = NULL;
    }
    e->u.vs.matchers = mv.v;
    e->u.vs.n_matchers = mv.n;
    return e;
}

/* ---- expressions ---- */

static tw_promql_expr_t *parse_expr(parser_t *p, int min_prec);

static bool enter(parser_t *p)
{
    if (++p->depth > p->max_depth) {
        fail_limit(p, peek(p)->pos);
        return false;
    }
    return true;
}

/* function_call_body: "(" [expr {"," expr}] ")"; the lookahead is "(". */
static bool parse_call_body(parser_t *p, tw_promql_expr_t ***args, size_t *n)
{
    ptrvec_t pv = {0};
    advance(p);
    if (peek(p)->typ == TOK_RIGHT_PAREN) {
        advance(p);
        goto done;
    }
    for (;;) {
        tw_promql_expr_t *a = parse_expr(p, 1);
        if (a == NULL) {
            goto err;
        }
        ptrvec_push(&pv, a);
        tw_promql_item_t t = *peek(p);
        if (t.typ == TOK_COMMA) {
            advance(p);
            if (peek(p)->typ == TOK_RIGHT_PAREN) {
                fail(p, t.pos, "trailing commas not allowed in function call args");
                goto err;
            }
            continue;
        }
        if (t.typ == TOK_RIGHT_PAREN) {
            advance(p);
            break;
        }
        unexpected(p, NULL, NULL);
        goto err;
    }
done:
    *n = pv.n;
    *args = (tw_promql_expr_t **)ptrvec_to_arena(p, &pv);
    return true;
err:
    free(pv.v);
    return false;
}

static tw_promql_agg_t agg_of(tw_promql_tok_t t)
{
    switch (t) {
    case TOK_SUM:
        return TW_PROMQL_AGG_SUM;
    case TOK_AVG:
        return TW_PROMQL_AGG_AVG;
    case TOK_COUNT:
        return TW_PROMQL_AGG_COUNT;
    case TOK_MIN:
        return TW_PROMQL_AGG_MIN;
    case TOK_MAX:
        return TW_PROMQL_AGG_MAX;
    case TOK_GROUP:
        return TW_PROMQL_AGG_GROUP;
    case TOK_STDDEV:
        return TW_PROMQL_AGG_STDDEV;
    case TOK_STDVAR:
        return TW_PROMQL_AGG_STDVAR;
    case TOK_TOPK:
        return TW_PROMQL_AGG_TOPK;
    case TOK_BOTTOMK:
        return TW_PROMQL_AGG_BOTTOMK;
    case TOK_COUNT_VALUES:
        return TW_PROMQL_AGG_COUNT_VALUES;
    case TOK_QUANTILE:
        return TW_PROMQL_AGG_QUANTILE;
    case TOK_LIMITK:
        return TW_PROMQL_AGG_LIMITK;
    case TOK_LIMIT_RATIO:
        return TW_PROMQL_AGG_LIMIT_RATIO;
    default:
        return 0;
    }
}

static bool agg_has_param(tw_promql_agg_t op)
{
    return op == TW_PROMQL_AGG_TOPK || op == TW_PROMQL_AGG_BOTTOMK ||
           op == TW_PROMQL_AGG_COUNT_VALUES || op == TW_PROMQL_AGG_QUANTILE ||
           op == TW_PROMQL_AGG_LIMITK || op == TW_PROMQL_AGG_LIMIT_RATIO;
}

/* aggregate_expr; the operator was consumed, the lookahead is "(", by or without. */
static tw_promql_expr_t *parse_aggregate(parser_t *p, const tw_promql_item_t *op)
{
    tw_promql_expr_t *e = node_new(p, TW_PROMQL_AGGREGATE, op->pos, op->pos);
    e->u.aggregate.op = agg_of(op->typ);
    tw_promql_expr_t **args = NULL;
    size_t nargs = 0;
    bool have_mod = false;
    tw_promql_tok_t t = peek(p)->typ;
    if (t == TOK_BY || t == TOK_WITHOUT) {
        e->u.aggregate.without = t == TOK_WITHOUT;
        advance(p);
        if (!parse_grouping(p, &e->u.aggregate.grouping, &e->u.aggregate.n_grouping)) {
            return NULL;
        }
        have_mod = true;
        if (peek(p)->typ != TOK_LEFT_PAREN) {
            return unexpected(p, "aggregation", NULL);
        }
    }
    if (!parse_call_body(p, &args, &nargs)) {
        return NULL;
    }
    t = peek(p)->typ;
    if (!have_mod && (t == TOK_BY || t == TOK_WITHOUT)) {
        e->u.aggregate.without = t == TOK_WITHOUT;
        advance(p);
        if (!parse_grouping(p, &e->u.aggregate.grouping, &e->u.aggregate.n_grouping)) {
            return NULL;
        }
    }
    e->pos.end = p->last_closing;
    if (nargs == 0) {
        return fail(p, e->pos.start, "no arguments for aggregate expression provided");
    }
    size_t desired = 1;
    if (agg_has_param(e->u.aggregate.op)) {
        if (!p->experimental && (e->u.aggregate.op == TW_PROMQL_AGG_LIMITK ||
                                 e->u.aggregate.op == TW_PROMQL_AGG_LIMIT_RATIO)) {
            return fail(p, e->pos.start,
                        "%s() is experimental and must be enabled with "
                        "--enable-feature=promql-experimental-functions",
                        tw_promql_agg_str(e->u.aggregate.op));
        }
        desired = 2;
        e->u.aggregate.param = args[0];
        set_height(e, args[0]);
    }
    if (nargs != desired) {
        return fail(p, e->pos.start,
                    "wrong number of arguments for aggregate expression provided, expected %zu, "
                    "got %zu",
                    desired, nargs);
    }
    e->u.aggregate.expr = args[desired - 1];
    set_height(e, e->u.aggregate.expr);
    return e;
}

static tw_promql_expr_t *parse_call(parser_t *p, const tw_promql_item_t *name)
{
    tw_promql_expr_t *e = node_new(p, TW_PROMQL_CALL, name->pos, name->pos);
    if (!parse_call_body(p, &e->u.call.args, &e->u.call.n_args)) {
        return NULL;
    }
    char fname[64];
    const tw_promql_function_t *f = NULL;
    if (name->len < sizeof(fname)) {
        memcpy(fname, name->val, name->len);
        fname[name->len] = '\0';
        f = tw_promql_function_lookup(fname);
    }
    if (f == NULL) {
        tw_buf_t b;
        tw_buf_init(&b, 300);
        tw_promql_go_quote(name->val, name->len, &b);
        fail(p, name->pos, "unknown function with name %s", b.data != NULL ? b.data : "");
        tw_buf_fini(&b);
        return NULL;
    }
    if (f->experimental && !p->experimental) {
        return fail(p, name->pos, "function \"%s\" is not enabled", f->name);
    }
    e->u.call.func = f;
    e->pos.end = p->last_closing;
    for (size_t i = 0; i < e->u.call.n_args; i++) {
        set_height(e, e->u.call.args[i]);
    }
    return e;
}

/* The vector selector an offset/@ applies to, its end position and the subquery if any. */
static bool modifier_target(parser_t *p, tw_promql_expr_t *e, const char *what,
                            tw_promql_expr_t **vs, tw_promql_expr_t **sq)
{
    *vs = NULL;
    *sq = NULL;
    switch (e->kind) {
    case TW_PROMQL_VECTOR_SELECTOR:
        *vs = e;
        return true;
    case TW_PROMQL_MATRIX_SELECTOR:
        *vs = e->u.matrix.vs;
        return true;
    case TW_PROMQL_SUBQUERY:
        *sq = e;
        return true;
    default:
        fail(p, e->pos.start,
             "%s modifier must be preceded by an instant vector selector or range vector "
             "selector or a subquery",
             what);
        return false;
    }
}

static bool parse_offset(parser_t *p, tw_promql_expr_t *e)
{
    advance(p); /* offset */
    bool neg = false;
    if (peek(p)->typ == TOK_SUB) {
        neg = true;
        advance(p);
    }
    if (!is_duration_tok(p, peek(p)->typ)) {
        unexpected(p, "offset", p->p3 ? "number or duration" : "duration");
        return false;
    }
    int64_t ms;
    if (!parse_duration_tok(p, &ms)) {
        return false;
    }
    if (neg) {
        ms = -ms;
    }
    tw_promql_expr_t *vs, *sq;
    if (!modifier_target(p, e, "offset", &vs, &sq)) {
        return false;
    }
    int64_t *slot = vs != NULL ? &vs->u.vs.offset_ms : &sq->u.subquery.offset_ms;
    if (*slot != 0) {
        fail(p, e->pos.start, "offset may not be set multiple times");
        return false;
    }
    *slot = ms;
    e->pos.end = p->last_closing;
    return true;
}

static void format_go_f(double ts, char *buf, size_t n)
{
    if (isnan(ts)) {
        snprintf(buf, n, "NaN");
    } else if (isinf(ts)) {
        snprintf(buf, n, "%s", ts > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, n, "%f", ts);
    }
}

static bool parse_at(parser_t *p, tw_promql_expr_t *e)
{
    advance(p); /* @ */
    tw_promql_item_t t = *peek(p);
    tw_promql_at_t kind = TW_PROMQL_AT_TIMESTAMP;
    double ts = 0;
    if (t.typ == TOK_START || t.typ == TOK_END) {
        advance(p);
        if (peek(p)->typ != TOK_LEFT_PAREN) {
            unexpected(p, "@", "timestamp");
            return false;
        }
        advance(p);
        if (peek(p)->typ != TOK_RIGHT_PAREN) {
            unexpected(p, "@", "timestamp");
            return false;
        }
        advance(p);
        kind = t.typ == TOK_START ? TW_PROMQL_AT_START : TW_PROMQL_AT_END;
    } else {
        bool neg = false, sign = false;
        if (t.typ == TOK_ADD || t.typ == TOK_SUB) {
            neg = t.typ == TOK_SUB;
            sign = true;
            advance(p);
            t = *peek(p);
        }
        if (t.typ == TOK_NUMBER) {
            if (!parse_number(p, &t, &ts)) {
                return false;
            }
            advance(p);
        } else if (t.typ == TOK_DURATION && p->p3) {
            int64_t ms;
            if (!parse_duration_tok(p, &ms)) {
                return false;
            }
            ts = (double)ms / 1000.0;
        } else {
            (void)sign;
            unexpected(p, "@", "timestamp");
            return false;
        }
        if (neg) {
            ts = -ts;
        }
        if (isinf(ts) || isnan(ts) || ts >= 9223372036854775807.0 || ts <= -9223372036854775808.0 ||
            fabs(ts * 1000.0) >= 9.2e18) {
            char buf[64];
            format_go_f(ts, buf, sizeof(buf));
            fail(p, e->pos.start, "timestamp out of bounds for @ modifier: %s", buf);
            return false;
        }
    }
    tw_promql_expr_t *vs, *sq;
    if (!modifier_target(p, e, "@", &vs, &sq)) {
        return false;
    }
    tw_promql_at_t *slot = vs != NULL ? &vs->u.vs.at : &sq->u.subquery.at;
    int64_t *ms = vs != NULL ? &vs->u.vs.at_ms : &sq->u.subquery.at_ms;
    if (*slot != TW_PROMQL_AT_NONE) {
        fail(p, e->pos.start, "@ <timestamp> may not be set multiple times");
        return false;
    }
    *slot = kind;
    if (kind == TW_PROMQL_AT_TIMESTAMP) {
        *ms = (int64_t)llround(ts * 1000.0);
    }
    e->pos.end = p->last_closing;
    return true;
}

/* "[" range "]" or "[" range ":" [step] "]" after e; the lookahead is "[". */
static tw_promql_expr_t *parse_brackets(parser_t *p, tw_promql_expr_t *e)
{
    uint32_t lbracket = peek(p)->pos;
    advance(p);
    const char *dur = p->p3 ? "number or duration" : "duration";
    if (!is_duration_tok(p, peek(p)->typ)) {
        return unexpected(p, "subquery selector", dur);
    }
    int64_t range;
    if (!parse_duration_tok(p, &range)) {
        return NULL;
    }
    tw_promql_tok_t t = peek(p)->typ;
    if (t == TOK_RIGHT_BRACKET) {
        advance(p);
        const char *msg = NULL;
        if (e->kind != TW_PROMQL_VECTOR_SELECTOR) {
            msg = "ranges only allowed for vector selectors";
        } else if (e->u.vs.offset_ms != 0) {
            msg = "no offset modifiers allowed before range";
        } else if (e->u.vs.at == TW_PROMQL_AT_TIMESTAMP) {
            msg = "no @ modifiers allowed before range";
        }
        if (msg != NULL) {
            return fail(p, lbracket, "%s", msg);
        }
        tw_promql_expr_t *m = node_new(p, TW_PROMQL_MATRIX_SELECTOR, e->pos.start, p->last_closing);
        m->u.matrix.vs = e;
        m->u.matrix.range_ms = range;
        set_height(m, e);
        return m;
    }
    if (t != TOK_COLON) {
        return unexpected(p, "subquery or range", "\":\" or \"]\"");
    }
    advance(p);
    int64_t step = 0;
    uint32_t end;
    if (peek(p)->typ == TOK_RIGHT_BRACKET) {
        end = p->tok.pos + 1;
        advance(p);
    } else if (is_duration_tok(p, peek(p)->typ)) {
        if (!parse_duration_tok(p, &step)) {
            return NULL;
        }
        if (peek(p)->typ != TOK_RIGHT_BRACKET) {
            return unexpected(p, "subquery selector", "\"]\"");
        }
        end = p->tok.pos + 1;
        advance(p);
    } else {
        return unexpected(p, "subquery selector",
                          p->p3 ? "number or duration or \"]\"" : "duration or \"]\"");
    }
    tw_promql_expr_t *s = node_new(p, TW_PROMQL_SUBQUERY, e->pos.start, end);
    s->u.subquery.expr = e;
    s->u.subquery.range_ms = range;
    s->u.subquery.step_ms = step;
    set_height(s, e);
    return height_ok(p, s) ? s : NULL;
}

static bool is_metric_identifier(tw_promql_tok_t t)
{
    switch (t) {
    case TOK_IDENTIFIER:
    case TOK_METRIC_IDENTIFIER:
    case TOK_BY:
    case TOK_WITHOUT:
    case TOK_LAND:
    case TOK_LOR:
    case TOK_LUNLESS:
    case TOK_OFFSET:
    case TOK_START:
    case TOK_END:
        return true;
    default:
        return t > TOK_AGGREGATORS_START && t < TOK_AGGREGATORS_END;
    }
}

static tw_promql_expr_t *parse_primary(parser_t *p)
{
    tw_promql_item_t t = *peek(p);
    if (p->failed) {
        return NULL;
    }
    switch (t.typ) {
    case TOK_NUMBER: {
        tw_promql_expr_t *e = node_new(p, TW_PROMQL_NUMBER, t.pos, t.pos + (uint32_t)t.len);
        if (!parse_number(p, &t, &e->u.number.val)) {
            return NULL;
        }
        advance(p);
        return e;
    }
    case TOK_DURATION: {
        if (!p->p3) {
            return unexpected(p, NULL, NULL);
        }
        tw_promql_expr_t *e = node_new(p, TW_PROMQL_NUMBER, t.pos, t.pos + (uint32_t)t.len);
        int64_t ms;
        if (!parse_duration_tok(p, &ms)) {
            return NULL;
        }
        e->u.number.val = (double)ms / 1000.0;
        return e;
    }
    case TOK_STRING: {
        tw_promql_expr_t *e = node_new(p, TW_PROMQL_STRING, t.pos, t.pos + (uint32_t)t.len);
        char *s;
        if (tw_promql_unquote(p->arena, t.val, t.len, &s, &e->u.string.len) != 0) {
            return fail(p, t.pos, "error unquoting string");
        }
        e->u.string.val = s;
        advance(p);
        return e;
    }
    case TOK_LEFT_PAREN: {
        advance(p);
        tw_promql_expr_t *inner = parse_expr(p, 1);
        if (inner == NULL) {
            return NULL;
        }
        if (peek(p)->typ != TOK_RIGHT_PAREN) {
            return unexpected(p, NULL, NULL);
        }
        tw_promql_expr_t *e = node_new(p, TW_PROMQL_PAREN, t.pos, p->tok.pos + 1);
        advance(p);
        e->u.paren.expr = inner;
        set_height(e, inner);
        return e;
    }
    case TOK_LEFT_BRACE:
        return parse_vector_selector(p, NULL);
    default:
        break;
    }
    if (!is_metric_identifier(t.typ)) {
        return unexpected(p, NULL, NULL);
    }
    advance(p);
    tw_promql_tok_t next = peek(p)->typ;
    if (p->failed) {
        return NULL;
    }
    if (t.typ > TOK_AGGREGATORS_START && t.typ < TOK_AGGREGATORS_END &&
        (next == TOK_LEFT_PAREN || next == TOK_BY || next == TOK_WITHOUT)) {
        return parse_aggregate(p, &t);
    }
    if (t.typ == TOK_IDENTIFIER && next == TOK_LEFT_PAREN) {
        return parse_call(p, &t);
    }
    return parse_vector_selector(p, &t);
}

static tw_promql_expr_t *parse_postfix(parser_t *p)
{
    tw_promql_expr_t *e = parse_primary(p);
    while (e != NULL) {
        switch (peek(p)->typ) {
        case TOK_LEFT_BRACKET:
            e = parse_brackets(p, e);
            break;
        case TOK_OFFSET:
            if (!parse_offset(p, e)) {
                return NULL;
            }
            break;
        case TOK_AT:
            if (!parse_at(p, e)) {
                return NULL;
            }
            break;
        default:
            return p->failed ? NULL : e;
        }
    }
    return NULL;
}

#define PREC_POW 6

static tw_promql_expr_t *parse_unary(parser_t *p)
{
    tw_promql_item_t t = *peek(p);
    if (t.typ != TOK_ADD && t.typ != TOK_SUB) {
        return parse_postfix(p);
    }
    advance(p);
    if (!enter(p)) {
        return NULL;
    }
    tw_promql_expr_t *operand = parse_expr(p, PREC_POW);
    p->depth--;
    if (operand == NULL) {
        return NULL;
    }
    if (operand->kind == TW_PROMQL_NUMBER) {
        if (t.typ == TOK_SUB) {
            operand->u.number.val = -operand->u.number.val;
        }
        operand->pos.start = t.pos;
        return operand;
    }
    tw_promql_expr_t *e = node_new(p, TW_PROMQL_UNARY, t.pos, operand->pos.end);
    e->u.unary.op = t.typ == TOK_SUB ? TW_PROMQL_OP_SUB : TW_PROMQL_OP_ADD;
    e->u.unary.expr = operand;
    set_height(e, operand);
    return height_ok(p, e) ? e : NULL;
}

static int binop_prec(tw_promql_tok_t t, tw_promql_op_t *op)
{
    switch (t) {
    case TOK_LOR:
        *op = TW_PROMQL_OP_OR;
        return 1;
    case TOK_LAND:
        *op = TW_PROMQL_OP_AND;
        return 2;
    case TOK_LUNLESS:
        *op = TW_PROMQL_OP_UNLESS;
        return 2;
    case TOK_EQLC:
        *op = TW_PROMQL_OP_EQLC;
        return 3;
    case TOK_NEQ:
        *op = TW_PROMQL_OP_NEQ;
        return 3;
    case TOK_GTR:
        *op = TW_PROMQL_OP_GTR;
        return 3;
    case TOK_LSS:
        *op = TW_PROMQL_OP_LSS;
        return 3;
    case TOK_GTE:
        *op = TW_PROMQL_OP_GTE;
        return 3;
    case TOK_LTE:
        *op = TW_PROMQL_OP_LTE;
        return 3;
    case TOK_ADD:
        *op = TW_PROMQL_OP_ADD;
        return 4;
    case TOK_SUB:
        *op = TW_PROMQL_OP_SUB;
        return 4;
    case TOK_MUL:
        *op = TW_PROMQL_OP_MUL;
        return 5;
    case TOK_DIV:
        *op = TW_PROMQL_OP_DIV;
        return 5;
    case TOK_MOD:
        *op = TW_PROMQL_OP_MOD;
        return 5;
    case TOK_ATAN2:
        *op = TW_PROMQL_OP_ATAN2;
        return 5;
    case TOK_POW:
        *op = TW_PROMQL_OP_POW;
        return PREC_POW;
    default:
        return 0;
    }
}

/* bin_modifier: [bool] [(on|ignoring) labels [(group_left|group_right) [labels]]]. */
static bool parse_bin_modifier(parser_t *p, tw_promql_expr_t *e)
{
    e->u.binary.has_matching = true;
    e->u.binary.card = TW_PROMQL_CARD_ONE_TO_ONE;
    if (peek(p)->typ == TOK_BOOL) {
        e->u.binary.return_bool = true;
        advance(p);
    }
    tw_promql_tok_t t = peek(p)->typ;
    if (t != TOK_ON && t != TOK_IGNORING) {
        return !p->failed;
    }
    e->u.binary.on = t == TOK_ON;
    advance(p);
    if (!parse_grouping(p, &e->u.binary.labels, &e->u.binary.n_labels)) {
        return false;
    }
    t = peek(p)->typ;
    if (t != TOK_GROUP_LEFT && t != TOK_GROUP_RIGHT) {
        return !p->failed;
    }
    e->u.binary.card =
        t == TOK_GROUP_LEFT ? TW_PROMQL_CARD_MANY_TO_ONE : TW_PROMQL_CARD_ONE_TO_MANY;
    advance(p);
    if (peek(p)->typ == TOK_LEFT_PAREN) {
        return parse_grouping(p, &e->u.binary.include, &e->u.binary.n_include);
    }
    return !p->failed;
}

static tw_promql_expr_t *parse_expr(parser_t *p, int min_prec)
{
    if (!enter(p)) {
        return NULL;
    }
    tw_promql_expr_t *lhs = parse_unary(p);
    while (lhs != NULL) {
        tw_promql_op_t op;
        int prec = binop_prec(peek(p)->typ, &op);
        if (p->failed) {
            lhs = NULL;
            break;
        }
        if (prec == 0 || prec < min_prec) {
            break;
        }
        advance(p);
        tw_promql_expr_t *e = node_new(p, TW_PROMQL_BINARY, lhs->pos.start, lhs->pos.end);
        e->u.binary.op = op;
        if (!parse_bin_modifier(p, e)) {
            lhs = NULL;
            break;
        }
        tw_promql_expr_t *rhs = parse_expr(p, prec == PREC_POW ? prec : prec + 1);
        if (rhs == NULL) {
            lhs = NULL;
            break;
        }
        e->u.binary.lhs = lhs;
        e->u.binary.rhs = rhs;
        e->pos.end = rhs->pos.end;
        set_height(e, lhs);
        set_height(e, rhs);
        if (!height_ok(p, e)) {
            lhs = NULL;
            break;
        }
        lhs = e;
    }
    p->depth--;
    return lhs;
}

/* ---- type checking (parse.go checkAST) ---- */

static const char *value_type_str(tw_promql_type_t t)
{
    switch (t) {
    case TW_PROMQL_TYPE_SCALAR:
        return "scalar";
    case TW_PROMQL_TYPE_VECTOR:
        return "vector";
    case TW_PROMQL_TYPE_MATRIX:
        return "matrix";
    case TW_PROMQL_TYPE_STRING:
        return "string";
    default:
        return "none";
    }
}

static tw_promql_type_t check(parser_t *p, tw_promql_expr_t *e);
static void check_vs(parser_t *p, tw_promql_expr_t *e, bool bypass_empty);

static void expect_type(parser_t *p, tw_promql_expr_t *e, tw_promql_type_t want,
                        const char *context)
{
    tw_promql_type_t t = check(p, e);
    if (!p->failed && t != want) {
        fail(p, e->pos.start, "expected type %s in %s, got %s", tw_promql_type_str(want), context,
             tw_promql_type_str(t));
    }
}

static bool is_space_byte(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static uint32_t op_pos(parser_t *p, const tw_promql_expr_t *e)
{
    uint32_t s = e->u.binary.lhs->pos.end;
    while (s < p->lex.len && is_space_byte(p->lex.input[s])) {
        s++;
    }
    return s;
}

static void check_binary(parser_t *p, tw_promql_expr_t *e)
{
    tw_promql_type_t lt = check(p, e->u.binary.lhs);
    if (p->failed) {
        return;
    }
    tw_promql_type_t rt = check(p, e->u.binary.rhs);
    if (p->failed) {
        return;
    }
    tw_promql_op_t op = e->u.binary.op;
    if (e->u.binary.return_bool && !tw_promql_op_is_comparison(op)) {
        fail(p, op_pos(p, e), "bool modifier can only be used on comparison operators");
        return;
    }
    if (tw_promql_op_is_comparison(op) && !e->u.binary.return_bool && lt == TW_PROMQL_TYPE_SCALAR &&
        rt == TW_PROMQL_TYPE_SCALAR) {
        fail(p, op_pos(p, e), "comparisons between scalars must use BOOL modifier");
        return;
    }
    if (tw_promql_op_is_set(op) && e->u.binary.card == TW_PROMQL_CARD_ONE_TO_ONE) {
        e->u.binary.card = TW_PROMQL_CARD_MANY_TO_MANY;
    }
    if (e->u.binary.on) {
        for (size_t i = 0; i < e->u.binary.n_labels; i++) {
            for (size_t k = 0; k < e->u.binary.n_include; k++) {
                if (strcmp(e->u.binary.labels[i], e->u.binary.include[k]) == 0) {
                    tw_buf_t b;
                    tw_buf_init(&b, 300);
                    tw_promql_go_quote(e->u.binary.labels[i], strlen(e->u.binary.labels[i]), &b);
                    fail(p, op_pos(p, e), "label %s must not occur in ON and GROUP clause at once",
                         b.data != NULL ? b.data : "");
                    tw_buf_fini(&b);
                    return;
                }
            }
        }
    }
    if (lt != TW_PROMQL_TYPE_SCALAR && lt != TW_PROMQL_TYPE_VECTOR) {
        fail(p, e->u.binary.lhs->pos.start,
             "binary expression must contain only scalar and instant vector types");
        return;
    }
    if (rt != TW_PROMQL_TYPE_SCALAR && rt != TW_PROMQL_TYPE_VECTOR) {
        fail(p, e->u.binary.rhs->pos.start,
             "binary expression must contain only scalar and instant vector types");
        return;
    }
    if ((lt != TW_PROMQL_TYPE_VECTOR || rt != TW_PROMQL_TYPE_VECTOR) && e->u.binary.has_matching) {
        if (e->u.binary.n_labels > 0) {
            fail(p, e->pos.start, "vector matching only allowed between instant vectors");
            return;
        }
        e->u.binary.has_matching = false;
    } else if (tw_promql_op_is_set(op)) {
        if (e->u.binary.card == TW_PROMQL_CARD_ONE_TO_MANY ||
            e->u.binary.card == TW_PROMQL_CARD_MANY_TO_ONE) {
            fail(p, e->pos.start, "no grouping allowed for \"%s\" operation", tw_promql_op_str(op));
            return;
        }
        if (e->u.binary.card != TW_PROMQL_CARD_MANY_TO_MANY) {
            fail(p, e->pos.start, "set operations must always be many-to-many");
            return;
        }
    }
    if ((lt == TW_PROMQL_TYPE_SCALAR || rt == TW_PROMQL_TYPE_SCALAR) && tw_promql_op_is_set(op)) {
        fail(p, e->pos.start, "set operator \"%s\" not allowed in binary scalar expression",
             tw_promql_op_str(op));
    }
}

static void check_call(parser_t *p, tw_promql_expr_t *e)
{
    const tw_promql_function_t *f = e->u.call.func;
    int nargs = f->n_args;
    int have = (int)e->u.call.n_args;
    if (f->variadic == 0) {
        if (nargs != have) {
            fail(p, e->pos.start, "expected %d argument(s) in call to \"%s\", got %d", nargs,
                 f->name, have);
            return;
        }
    } else {
        int na = nargs - 1;
        if (na > have) {
            fail(p, e->pos.start, "expected at least %d argument(s) in call to \"%s\", got %d", na,
                 f->name, have);
            return;
        }
        if (f->variadic > 0 && na + f->variadic < have) {
            fail(p, e->pos.start, "expected at most %d argument(s) in call to \"%s\", got %d",
                 na + f->variadic, f->name, have);
            return;
        }
    }
    if (strcmp(f->name, "info") == 0 && have > 1) {
        tw_promql_expr_t *a1 = e->u.call.args[1];
        tw_promql_type_t t1 = tw_promql_expr_type(a1);
        if (t1 != TW_PROMQL_TYPE_VECTOR) {
            fail(p, e->pos.start,
                 "expected type instant vector in call to function \"info\", got %s",
                 tw_promql_type_str(t1));
            return;
        }
        if (a1->kind == TW_PROMQL_VECTOR_SELECTOR && a1->u.vs.name != NULL) {
            fail(p, a1->pos.start, "expected label selectors only, got vector selector instead");
            return;
        }
        if (a1->kind != TW_PROMQL_VECTOR_SELECTOR) {
            fail(p, a1->pos.start, "expected label selectors only");
            return;
        }
    }
    for (int i = 0; i < have; i++) {
        int ti = i;
        if (i >= nargs) {
            if (f->variadic == 0) {
                break;
            }
            ti = nargs - 1;
        }
        tw_promql_expr_t *a = e->u.call.args[i];
        tw_promql_type_t t;
        if (i == 1 && strcmp(f->name, "info") == 0 && a->kind == TW_PROMQL_VECTOR_SELECTOR) {
            /* info()'s label selector may match everything (BypassEmptyMatcherCheck) */
            check_vs(p, a, true);
            t = TW_PROMQL_TYPE_VECTOR;
        } else {
            t = check(p, a);
        }
        if (p->failed) {
            return;
        }
        if (t != f->arg_types[ti]) {
            fail(p, a->pos.start, "expected type %s in call to function \"%s\", got %s",
                 tw_promql_type_str(f->arg_types[ti]), f->name, tw_promql_type_str(t));
            return;
        }
    }
}

static void check_vs(parser_t *p, tw_promql_expr_t *e, bool bypass_empty)
{
    if (e->u.vs.name != NULL) {
        for (size_t i = 0; i + 1 < e->u.vs.n_matchers; i++) {
            const tw_matcher_t *m = &e->u.vs.matchers[i];
            if (strcmp(m->name, TW_METRIC_NAME_LABEL) == 0) {
                fail(p, e->pos.start, "metric name must not be set twice: \"%s\" or \"%s\"",
                     e->u.vs.name, m->value);
                return;
            }
        }
        return;
    }
    if (bypass_empty) {
        return;
    }
    for (size_t i = 0; i < e->u.vs.n_matchers; i++) {
        if (!tw_matcher_matches_empty(&e->u.vs.matchers[i])) {
            return;
        }
    }
    fail(p, e->pos.start, "vector selector must contain at least one non-empty matcher");
}

static tw_promql_type_t check(parser_t *p, tw_promql_expr_t *e)
{
    tw_promql_type_t typ = tw_promql_expr_type(e);
    switch (e->kind) {
    case TW_PROMQL_AGGREGATE: {
        expect_type(p, e->u.aggregate.expr, TW_PROMQL_TYPE_VECTOR, "aggregation expression");
        if (p->failed) {
            break;
        }
        tw_promql_agg_t op = e->u.aggregate.op;
        if (op == TW_PROMQL_AGG_TOPK || op == TW_PROMQL_AGG_BOTTOMK ||
            op == TW_PROMQL_AGG_QUANTILE || op == TW_PROMQL_AGG_LIMITK ||
            op == TW_PROMQL_AGG_LIMIT_RATIO) {
            expect_type(p, e->u.aggregate.param, TW_PROMQL_TYPE_SCALAR, "aggregation parameter");
        }
        if (op == TW_PROMQL_AGG_COUNT_VALUES) {
            expect_type(p, e->u.aggregate.param, TW_PROMQL_TYPE_STRING, "aggregation parameter");
        }
        break;
    }
    case TW_PROMQL_BINARY:
        check_binary(p, e);
        break;
    case TW_PROMQL_CALL:
        check_call(p, e);
        break;
    case TW_PROMQL_PAREN:
        check(p, e->u.paren.expr);
        break;
    case TW_PROMQL_STEP_INVARIANT:
        check(p, e->u.step_invariant.expr);
        break;
    case TW_PROMQL_UNARY: {
        tw_promql_type_t t = check(p, e->u.unary.expr);
        if (!p->failed && t != TW_PROMQL_TYPE_SCALAR && t != TW_PROMQL_TYPE_VECTOR) {
            fail(p, e->pos.start,
                 "unary expression only allowed on expressions of type scalar or instant vector, "
                 "got \"%s\"",
                 tw_promql_type_str(t));
        }
        break;
    }
    case TW_PROMQL_SUBQUERY: {
        tw_promql_type_t t = check(p, e->u.subquery.expr);
        if (!p->failed && t != TW_PROMQL_TYPE_VECTOR) {
            fail(p, e->pos.start, "subquery is only allowed on instant vector, got %s instead",
                 value_type_str(t));
        }
        break;
    }
    case TW_PROMQL_MATRIX_SELECTOR:
        check(p, e->u.matrix.vs);
        break;
    case TW_PROMQL_VECTOR_SELECTOR:
        check_vs(p, e, false);
        break;
    case TW_PROMQL_NUMBER:
    case TW_PROMQL_STRING:
        break;
    }
    return typ;
}

/* ---- entry point ---- */

int tw_promql_parse(const char *input, size_t len, const tw_promql_parse_options_t *opts,
                    tw_promql_ast_t **out, tw_error_t *err)
{
    tw_promql_parse_options_t defaults = {0};
    if (opts == NULL) {
        opts = &defaults;
    }
    *out = NULL;
    size_t max_input =
        opts->max_input_bytes != 0 ? opts->max_input_bytes : TW_PROMQL_DEFAULT_MAX_INPUT;
    if (len > max_input) {
        return tw_error_set(err, TW_ELIMIT, "query is %zu bytes long, more than the limit of %zu",
                            len, max_input);
    }
    parser_t *p = tw_xcalloc(1, sizeof(*p));
    tw_promql_ast_t *ast = tw_xcalloc(1, sizeof(*ast));
    ast->arena = tw_arena_new(0);
    ast->input = tw_xmalloc(len + 1);
    memcpy(ast->input, input, len);
    ast->input[len] = '\0';
    ast->input_len = len;
    p->ast = ast;
    p->arena = ast->arena;
    p->p3 = opts->compat != TW_PROMQL_COMPAT_PROMETHEUS2;
    p->experimental = !opts->disable_experimental_functions;
    p->max_depth = opts->max_depth > 0 ? opts->max_depth : TW_PROMQL_DEFAULT_MAX_DEPTH;
    tw_promql_lexer_init(&p->lex, ast->input, len);

    int rc = 0;
    if (peek(p)->typ == TOK_EOF) {
        fail(p, 0, "no expression found in input");
        /* Prometheus 3 reports the empty query without a position; 2.42 says "1:1:". */
        p->err_nopos = len == 0 && p->p3;
    } else {
        tw_promql_expr_t *root = parse_expr(p, 1);
        if (root != NULL && peek(p)->typ != TOK_EOF) {
            unexpected(p, NULL, NULL);
        }
        if (!p->failed) {
            check(p, root);
        }
        ast->root = root;
    }
    if (p->failed) {
        rc = p->code;
        if (err != NULL) {
            if (p->err_nopos) {
                tw_error_set(err, rc, "parse error: %s", p->msg);
            } else {
                int line = 1, col;
                size_t last_nl = (size_t)-1;
                for (size_t i = 0; i < p->err_pos && i < len; i++) {
                    if (ast->input[i] == '\n') {
                        last_nl = i;
                        line++;
                    }
                }
                col = (int)(p->err_pos - (last_nl + 1)) + 1;
                tw_error_set_at(err, rc, NULL, line, col, "parse error: %s", p->msg);
            }
        }
        tw_promql_ast_free(ast);
    } else {
        *out = ast;
    }
    free(p);
    return rc;
}
