/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tmpl_exec.c - the template executor, a port of Go's text/template/exec.go (Go 1.20) with
 * Prometheus' option missingkey=zero: walking the tree, pipelines, variables and their scopes,
 * field and map access, function calls with Go's argument checks, truth, range (slices, maps
 * in key order, break/continue), {{template}} calls, value printing, and Go's error texts
 * ("template: test:1:21: executing \"test\" at <first>: error calling first: ...").
 *
 * Unlike Go, every execution is bounded (tw_tmpl_limits_t): output bytes, steps, range
 * iterations, template call depth, recursion, memory. Values live in a per-execution arena.
 * Errors unwind with longjmp (see rules_int.h). Also here: the entry points that wrap
 * execution the way Prometheus' Expander and alerting rules do, and the value constructors.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_int.h"

const tval_t tmpl_nil_value = {.kind = TW_TV_NIL};
/* Go's missingVal: "no final argument" in a pipeline; never a real value. */
static const tval_t missing_value = {.kind = TW_TV_NIL, .type = "<missing>"};
#define MISSING (&missing_value)

enum { WALK_OK = 0, WALK_BREAK, WALK_CONTINUE };

/* ---- errors, limits, allocation ---- */

void tmpl_exec_fail(tstate_t *s, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->code = code;
    if (s->err != NULL) {
        if (s->node == NULL) {
            tw_error_set(s->err, code, "template: %s: %s", s->tmpl->name, msg);
        } else {
            const tnode_t *n = s->node;
            const char *text = s->set->text;
            size_t pos = n->pos <= s->set->text_len ? n->pos : s->set->text_len;
            int line = 1;
            size_t line_start = 0;
            for (size_t i = 0; i < pos; i++) {
                if (text[i] == '\n') {
                    line++;
                    line_start = i + 1;
                }
            }
            tw_buf_t ctx, q;
            tw_buf_init(&ctx, 4096);
            tw_buf_init(&q, 0);
            tmpl_node_string(&ctx, n);
            go_quote(&q, s->tmpl->name, strlen(s->tmpl->name));
            tw_error_set(s->err, code, "template: %s:%d:%zu: executing %s at <%s>: %s",
                         s->set->name, line, pos - line_start, q.data, ctx.data ? ctx.data : "",
                         msg);
            s->err->line = line;
            s->err->col = (int)(pos - line_start) + 1;
            tw_buf_fini(&ctx);
            tw_buf_fini(&q);
        }
    }
    longjmp(*s->jb, 1);
}

void *tmpl_alloc(tstate_t *s, size_t n)
{
    if (tw_arena_bytes(s->arena) + n > s->lim.max_memory_bytes) {
        tmpl_exec_fail(s, TW_ELIMIT, "memory limit of %zu bytes exceeded", s->lim.max_memory_bytes);
    }
    return tw_arena_alloc(s->arena, n);
}

tval_t *tv_new(tstate_t *s, tw_tmpl_kind_t kind)
{
    tval_t *v = tmpl_alloc(s, sizeof(*v));
    memset(v, 0, sizeof(*v));
    v->kind = kind;
    return v;
}

tval_t *tv_str(tstate_t *s, const char *p, size_t len)
{
    if (len > s->lim.max_output_bytes) {
        tmpl_exec_fail(s, TW_ELIMIT, "string of %zu bytes is longer than the limit of %zu", len,
                       s->lim.max_output_bytes);
    }
    tval_t *v = tv_new(s, TW_TV_STRING);
    char *c = tmpl_alloc(s, len + 1);
    if (len > 0) {
        memcpy(c, p, len);
    }
    c[len] = '\0';
    v->u.s.p = c;
    v->u.s.len = len;
    return v;
}

tval_t *tv_strbuf(tstate_t *s, tw_buf_t *b)
{
    return tv_str(s, b->data ? b->data : "", b->len);
}

tval_t *tv_float(tstate_t *s, double f)
{
    tval_t *v = tv_new(s, TW_TV_FLOAT);
    v->u.f = f;
    return v;
}

tval_t *tv_int(tstate_t *s, int64_t i)
{
    tval_t *v = tv_new(s, TW_TV_INT);
    v->u.i = i;
    return v;
}

tval_t *tv_bool(tstate_t *s, bool b)
{
    tval_t *v = tv_new(s, TW_TV_BOOL);
    v->u.b = b;
    return v;
}

static void step(tstate_t *s)
{
    if (++s->steps > s->lim.max_steps) {
        tmpl_exec_fail(s, TW_ELIMIT, "execution step limit of %llu exceeded",
                       (unsigned long long)s->lim.max_steps);
    }
}

static void enter(tstate_t *s)
{
    if (++s->nesting > TMPL_MAX_EXEC_NESTING) {
        tmpl_exec_fail(s, TW_ELIMIT, "execution nested deeper than %d", TMPL_MAX_EXEC_NESTING);
    }
}

static void leave(tstate_t *s)
{
    s->nesting--;
}

static void at(tstate_t *s, const tnode_t *n)
{
    s->node = n;
}

static void write_out(tstate_t *s, const char *p, size_t n)
{
    if (s->out->len - s->out_start + n > s->lim.max_output_bytes ||
        tw_buf_append(s->out, p, n) != 0) {
        tmpl_exec_fail(s, TW_ELIMIT, "output larger than %zu bytes", s->lim.max_output_bytes);
    }
}

/* A node's text for messages, in the arena (bounded). */
static const char *node_str(tstate_t *s, const tnode_t *n)
{
    tw_buf_t b;
    tw_buf_init(&b, 300);
    tmpl_node_string(&b, n);
    char *r = tw_arena_strndup(s->arena, b.data ? b.data : "", b.len);
    tw_buf_fini(&b);
    return r;
}

/* %v of a value, for messages. */
static const char *value_str(tstate_t *s, const tval_t *v)
{
    tw_buf_t b;
    tw_buf_init(&b, 300);
    if (v->kind == TW_TV_NIL) {
        tw_buf_puts(&b, "<nil>");
    } else {
        go_print_value(&b, v);
    }
    char *r = tw_arena_strndup(s->arena, b.data ? b.data : "", b.len);
    tw_buf_fini(&b);
    return r;
}

/* ---- variables ---- */

static void push_var(tstate_t *s, const char *name, const tval_t *v)
{
    if (s->nvars == s->capvars) {
        size_t nc = s->capvars ? s->capvars * 2 : 16;
        tvar_t *nv = realloc(s->vars, nc * sizeof(*nv));
        if (nv == NULL) {
            abort();
        }
        s->vars = nv;
        s->capvars = nc;
    }
    s->vars[s->nvars].name = name;
    s->vars[s->nvars].val = v;
    s->nvars++;
}

/* Variables visible in the current template are vars[base..nvars). */
static void set_var(tstate_t *s, size_t base, const char *name, const tval_t *v)
{
    for (size_t i = s->nvars; i-- > base;) {
        if (strcmp(s->vars[i].name, name) == 0) {
            s->vars[i].val = v;
            return;
        }
    }
    tmpl_exec_fail(s, TW_EEXEC, "undefined variable: %s", name);
}

static const tval_t *var_value(tstate_t *s, size_t base, const char *name)
{
    for (size_t i = s->nvars; i-- > base;) {
        if (strcmp(s->vars[i].name, name) == 0) {
            return s->vars[i].val;
        }
    }
    tmpl_exec_fail(s, TW_EEXEC, "undefined variable: %s", name);
}

/* ---- truth ---- */

bool tmpl_truth(const tval_t *v, bool *ok)
{
    *ok = true;
    switch (v->kind) {
    case TW_TV_NIL:
        return false;
    case TW_TV_BOOL:
        return v->u.b;
    case TW_TV_INT:
        return v->u.i != 0;
    case TW_TV_UINT:
        return v->u.u != 0;
    case TW_TV_FLOAT:
        return v->u.f != 0;
    case TW_TV_STRING:
        return v->u.s.len > 0;
    case TW_TV_MAP:
        return v->u.map.n > 0;
    case TW_TV_DICT:
        return v->u.dict.n > 0;
    case TW_TV_LIST:
    case TW_TV_SAMPLES:
        return v->u.list.n > 0;
    case TW_TV_SAMPLE:
    case TW_TV_STRUCT:
        return true;
    }
    return false;
}

/* ---- evaluation ---- */

typedef struct ectx {
    tstate_t *s;
    size_t base; /* first variable of the current template */
} ectx_t;

static const tval_t *eval_pipeline(ectx_t *e, const tval_t *dot, const tnode_t *pipe);
static const tval_t *eval_arg(ectx_t *e, const tval_t *dot, param_t typ, const tnode_t *n);
static int walk(ectx_t *e, const tval_t *dot, const tnode_t *node);

static void not_a_function(ectx_t *e, const tnode_t *const *args, size_t nargs, const tval_t *final)
{
    if (nargs > 1 || final != MISSING) {
        tmpl_exec_fail(e->s, TW_EEXEC, "can't give argument to non-function %s",
                       node_str(e->s, args[0]));
    }
}

static const tval_t *ideal_constant(ectx_t *e, const tnode_t *n)
{
    const char *t = n->orig;
    bool is_hex_int =
        n->orig_len > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') && strpbrk(t, "pP") == NULL;
    bool is_rune = t[0] == '\'';
    if (n->is_float && !is_hex_int && !is_rune && strpbrk(t, ".eEpP") != NULL) {
        return tv_float(e->s, n->f64);
    }
    if (n->is_int) {
        return tv_int(e->s, n->i64);
    }
    if (n->is_uint) {
        tmpl_exec_fail(e->s, TW_EEXEC, "%s overflows int", t);
    }
    return &tmpl_nil_value;
}

static const tval_t *eval_field(ectx_t *e, const char *field, const tnode_t *node,
                                const tnode_t *const *args, size_t nargs, const tval_t *final,
                                const tval_t *recv)
{
    tstate_t *s = e->s;
    (void)node;
    (void)args;
    if (recv->kind == TW_TV_NIL) {
        return &tmpl_nil_value;
    }
    bool has_args = nargs > 1 || final != MISSING;
    switch (recv->kind) {
    case TW_TV_STRUCT:
        for (size_t i = 0; i < recv->u.dict.n; i++) {
            if (strcmp(recv->u.dict.keys[i], field) == 0) {
                if (has_args) {
                    tmpl_exec_fail(s, TW_EEXEC,
                                   "%s has arguments but cannot be invoked as function", field);
                }
                return &recv->u.dict.vals[i];
            }
        }
        break;
    case TW_TV_SAMPLE:
        if (strcmp(field, "Labels") == 0 || strcmp(field, "Value") == 0) {
            if (has_args) {
                tmpl_exec_fail(s, TW_EEXEC, "%s has arguments but cannot be invoked as function",
                               field);
            }
            if (field[0] == 'V') {
                return tv_float(s, recv->u.sample.v);
            }
            tval_t *m = tv_new(s, TW_TV_MAP);
            m->u.map.labels = recv->u.sample.labels;
            m->u.map.n = recv->u.sample.n;
            return m;
        }
        break;
    case TW_TV_MAP: {
        if (has_args) {
            tmpl_exec_fail(s, TW_EEXEC, "%s is not a method but has arguments", field);
        }
        const char *v = tw_labels_get(recv->u.map.labels, recv->u.map.n, field);
        return v != NULL ? tv_str(s, v, strlen(v)) : tv_str(s, "", 0);
    }
    case TW_TV_DICT:
        if (has_args) {
            tmpl_exec_fail(s, TW_EEXEC, "%s is not a method but has arguments", field);
        }
        for (size_t i = 0; i < recv->u.dict.n; i++) {
            if (strcmp(recv->u.dict.keys[i], field) == 0) {
                return &recv->u.dict.vals[i];
            }
        }
        return &tmpl_nil_value;
    default:
        break;
    }
    tmpl_exec_fail(s, TW_EEXEC, "can't evaluate field %s in type %s", field, tval_type(recv));
}

static const tval_t *eval_field_chain(ectx_t *e, const tval_t *recv, const tnode_t *node,
                                      const char *const *ident, size_t n,
                                      const tnode_t *const *args, size_t nargs, const tval_t *final)
{
    for (size_t i = 0; i + 1 < n; i++) {
        recv = eval_field(e, ident[i], node, NULL, 0, MISSING, recv);
    }
    return eval_field(e, ident[n - 1], node, args, nargs, final, recv);
}

static const tval_t *eval_field_node(ectx_t *e, const tval_t *dot, const tnode_t *field,
                                     const tnode_t *const *args, size_t nargs, const tval_t *final)
{
    at(e->s, field);
    return eval_field_chain(e, dot, field, field->ident, field->nident, args, nargs, final);
}

static const tval_t *eval_chain_node(ectx_t *e, const tval_t *dot, const tnode_t *chain,
                                     const tnode_t *const *args, size_t nargs, const tval_t *final)
{
    at(e->s, chain);
    if (chain->node->type == N_NIL) {
        tmpl_exec_fail(e->s, TW_EEXEC, "indirection through explicit nil in %s",
                       node_str(e->s, chain));
    }
    const tval_t *pipe = eval_arg(e, dot, 0, chain->node);
    return eval_field_chain(e, pipe, chain, chain->ident, chain->nident, args, nargs, final);
}

static const tval_t *eval_variable_node(ectx_t *e, const tval_t *dot, const tnode_t *var,
                                        const tnode_t *const *args, size_t nargs,
                                        const tval_t *final)
{
    (void)dot;
    at(e->s, var);
    const tval_t *v = var_value(e->s, e->base, var->ident[0]);
    if (var->nident == 1) {
        not_a_function(e, args, nargs, final);
        return v;
    }
    return eval_field_chain(e, v, var, var->ident + 1, var->nident - 1, args, nargs, final);
}

static bool can_be_nil(param_t p)
{
    return p == P_ANY || p == P_VALUE || p == P_SAMPLE || p == P_SAMPLES;
}

/* Go's validateType for our parameter kinds (0: no type, anything goes). */
static const tval_t *validate_type(ectx_t *e, const tval_t *v, param_t typ)
{
    if (typ == 0) {
        return v;
    }
    if (v->kind == TW_TV_NIL) {
        if (can_be_nil(typ)) {
            return &tmpl_nil_value;
        }
        tmpl_exec_fail(e->s, TW_EEXEC, "invalid value; expected %s", tmpl_param_type(typ));
    }
    bool ok;
    switch (typ) {
    case P_ANY:
    case P_VALUE:
        return v;
    case P_STRING:
        ok = v->kind == TW_TV_STRING && (v->type == NULL || strcmp(v->type, "string") == 0);
        break;
    case P_FLOAT:
        ok = v->kind == TW_TV_FLOAT;
        break;
    case P_INT:
        ok = v->kind == TW_TV_INT && (v->type == NULL || strcmp(v->type, "int") == 0);
        break;
    case P_SAMPLE:
        ok = v->kind == TW_TV_SAMPLE;
        break;
    case P_SAMPLES:
        ok = v->kind == TW_TV_SAMPLES;
        break;
    default:
        ok = false;
    }
    if (!ok) {
        tmpl_exec_fail(e->s, TW_EEXEC, "wrong type for value; expected %s; got %s",
                       tmpl_param_type(typ), tval_type(v));
    }
    return v;
}

static const tval_t *eval_function(ectx_t *e, const tval_t *dot, const tnode_t *ident,
                                   const tnode_t *cmd, const tnode_t *const *args, size_t nargs,
                                   const tval_t *final);

static const tval_t *eval_empty_interface(ectx_t *e, const tval_t *dot, const tnode_t *n)
{
    at(e->s, n);
    switch (n->type) {
    case N_BOOL:
        return tv_bool(e->s, n->b);
    case N_DOT:
        return dot;
    case N_FIELD:
        return eval_field_node(e, dot, n, NULL, 0, MISSING);
    case N_IDENT:
        return eval_function(e, dot, n, n, NULL, 0, MISSING);
    case N_NIL:
        tmpl_exec_fail(e->s, TW_EEXEC, "evalEmptyInterface: nil (can't happen)");
    case N_NUMBER:
        return ideal_constant(e, n);
    case N_STRING:
        return tv_str(e->s, n->text, n->text_len);
    case N_VAR:
        return eval_variable_node(e, dot, n, NULL, 0, MISSING);
    case N_PIPE:
        return eval_pipeline(e, dot, n);
    default:
        break;
    }
    tmpl_exec_fail(e->s, TW_EEXEC, "can't handle assignment of %s to empty interface argument",
                   node_str(e->s, n));
}

static const tval_t *eval_arg(ectx_t *e, const tval_t *dot, param_t typ, const tnode_t *n)
{
    tstate_t *s = e->s;
    at(s, n);
    switch (n->type) {
    case N_DOT:
        return validate_type(e, dot, typ);
    case N_NIL:
        if (can_be_nil(typ) || typ == 0) {
            return &tmpl_nil_value;
        }
        tmpl_exec_fail(s, TW_EEXEC, "cannot assign nil to %s", tmpl_param_type(typ));
    case N_FIELD: {
        const tnode_t *self = n;
        return validate_type(e, eval_field_node(e, dot, n, &self, 1, MISSING), typ);
    }
    case N_VAR:
        return validate_type(e, eval_variable_node(e, dot, n, NULL, 0, MISSING), typ);
    case N_PIPE:
        return validate_type(e, eval_pipeline(e, dot, n), typ);
    case N_IDENT:
        return validate_type(e, eval_function(e, dot, n, n, NULL, 0, MISSING), typ);
    case N_CHAIN:
        return validate_type(e, eval_chain_node(e, dot, n, NULL, 0, MISSING), typ);
    default:
        break;
    }
    switch (typ) {
    case P_STRING:
        if (n->type == N_STRING) {
            return tv_str(s, n->text, n->text_len);
        }
        tmpl_exec_fail(s, TW_EEXEC, "expected string; found %s", node_str(s, n));
    case P_FLOAT:
        if (n->type == N_NUMBER && n->is_float) {
            return tv_float(s, n->f64);
        }
        tmpl_exec_fail(s, TW_EEXEC, "expected float; found %s", node_str(s, n));
    case P_INT:
        if (n->type == N_NUMBER && n->is_int) {
            return tv_int(s, n->i64);
        }
        tmpl_exec_fail(s, TW_EEXEC, "expected integer; found %s", node_str(s, n));
    case P_ANY:
    case P_VALUE:
        return eval_empty_interface(e, dot, n);
    default:
        break;
    }
    tmpl_exec_fail(s, TW_EEXEC, "can't handle %s for arg of type %s", node_str(s, n),
                   tmpl_param_type(typ));
}

static const tval_t *eval_call(ectx_t *e, const tval_t *dot, const tfunc_t *f, const tnode_t *node,
                               const char *name, const tnode_t *const *args, size_t nargs,
                               const tval_t *final)
{
    tstate_t *s = e->s;
    step(s);
    if (args != NULL) {
        args++; /* the zeroth is the function's own node */
        nargs--;
    } else {
        nargs = 0;
    }
    size_t num_in = nargs + (final != MISSING ? 1 : 0);
    size_t num_fixed = nargs;
    if (f->variadic) {
        num_fixed = (size_t)f->nparams;
        if (num_in < num_fixed) {
            tmpl_exec_fail(s, TW_EEXEC, "wrong number of args for %s: want at least %d got %zu",
                           name, f->nparams, nargs);
        }
    } else if (num_in != (size_t)f->nparams) {
        tmpl_exec_fail(s, TW_EEXEC, "wrong number of args for %s: want %d got %zu", name,
                       f->nparams, num_in);
    }
    if (f->builtin && (strcmp(name, "and") == 0 || strcmp(name, "or") == 0)) {
        bool want = name[0] == 'o';
        const tval_t *v = &tmpl_nil_value;
        for (size_t i = 0; i < nargs; i++) {
            v = eval_arg(e, dot, P_VALUE, args[i]);
            bool ok;
            if (tmpl_truth(v, &ok) == want) {
                return v;
            }
        }
        if (final != MISSING) {
            v = final;
        }
        return v;
    }
    const tval_t **argv = tmpl_alloc(s, (num_in + 1) * sizeof(*argv));
    size_t i = 0;
    for (; i < num_fixed && i < nargs; i++) {
        argv[i] = eval_arg(e, dot, f->params[i], args[i]);
    }
    if (f->variadic) {
        for (; i < nargs; i++) {
            argv[i] = eval_arg(e, dot, f->variadic, args[i]);
        }
    }
    if (final != MISSING) {
        param_t t;
        if (f->variadic) {
            t = num_in - 1 < num_fixed ? f->params[num_in - 1] : f->variadic;
        } else {
            t = f->params[f->nparams - 1];
        }
        argv[i] = validate_type(e, final, t);
    }
    tw_buf_t msg;
    tw_buf_init(&msg, 400);
    const tval_t *r = f->fn(s, argv, num_in, &msg);
    if (r == NULL) {
        at(s, node);
        char m[420];
        snprintf(m, sizeof(m), "%s", msg.data ? msg.data : "");
        tw_buf_fini(&msg);
        tmpl_exec_fail(s, s->code == TW_ELIMIT ? TW_ELIMIT : TW_EEXEC, "error calling %s: %s", name,
                       m);
    }
    tw_buf_fini(&msg);
    return r;
}

static const tval_t *eval_function(ectx_t *e, const tval_t *dot, const tnode_t *ident,
                                   const tnode_t *cmd, const tnode_t *const *args, size_t nargs,
                                   const tval_t *final)
{
    at(e->s, ident);
    const char *name = ident->ident[0];
    const tfunc_t *f = tmpl_func_find(name, strlen(name));
    if (f == NULL) {
        tmpl_exec_fail(e->s, TW_EEXEC, "\"%s\" is not a defined function", name);
    }
    return eval_call(e, dot, f, cmd, name, args, nargs, final);
}

static const tval_t *eval_command(ectx_t *e, const tval_t *dot, const tnode_t *cmd,
                                  const tval_t *final)
{
    tstate_t *s = e->s;
    step(s);
    const tnode_t *first = cmd->kids[0];
    const tnode_t *const *args = (const tnode_t *const *)cmd->kids;
    size_t nargs = cmd->nkids;
    switch (first->type) {
    case N_FIELD:
        return eval_field_node(e, dot, first, args, nargs, final);
    case N_CHAIN:
        return eval_chain_node(e, dot, first, args, nargs, final);
    case N_IDENT:
        return eval_function(e, dot, first, cmd, args, nargs, final);
    case N_PIPE:
        not_a_function(e, args, nargs, final);
        return eval_pipeline(e, dot, first);
    case N_VAR:
        return eval_variable_node(e, dot, first, args, nargs, final);
    default:
        break;
    }
    at(s, first);
    not_a_function(e, args, nargs, final);
    switch (first->type) {
    case N_BOOL:
        return tv_bool(s, first->b);
    case N_DOT:
        return dot;
    case N_NIL:
        tmpl_exec_fail(s, TW_EEXEC, "nil is not a command");
    case N_NUMBER:
        return ideal_constant(e, first);
    case N_STRING:
        return tv_str(s, first->text, first->text_len);
    default:
        break;
    }
    tmpl_exec_fail(s, TW_EEXEC, "can't evaluate command %s", node_str(s, first));
}

static const tval_t *eval_pipeline(ectx_t *e, const tval_t *dot, const tnode_t *pipe)
{
    if (pipe == NULL) {
        return &tmpl_nil_value;
    }
    tstate_t *s = e->s;
    enter(s);
    at(s, pipe);
    const tval_t *v = MISSING;
    for (size_t i = 0; i < pipe->nkids; i++) {
        v = eval_command(e, dot, pipe->kids[i], v);
    }
    for (size_t i = 0; i < pipe->ndecl; i++) {
        if (pipe->is_assign) {
            set_var(s, e->base, pipe->decl[i]->ident[0], v);
        } else {
            push_var(s, pipe->decl[i]->ident[0], v);
        }
    }
    leave(s);
    return v;
}

static void print_value(ectx_t *e, const tnode_t *n, const tval_t *v)
{
    tstate_t *s = e->s;
    at(s, n);
    if (v->kind == TW_TV_NIL) {
        write_out(s, "<no value>", 10);
        return;
    }
    if (v->kind == TW_TV_STRING) {
        write_out(s, v->u.s.p, v->u.s.len);
        return;
    }
    tw_buf_t b;
    tw_buf_init(&b, 0);
    go_print_value(&b, v);
    if (b.len > s->lim.max_output_bytes) {
        tw_buf_fini(&b);
        tmpl_exec_fail(s, TW_ELIMIT, "output larger than %zu bytes", s->lim.max_output_bytes);
    }
    size_t len = b.len;
    char *copy = tmpl_alloc(s, len + 1);
    memcpy(copy, b.data ? b.data : "", len);
    tw_buf_fini(&b);
    write_out(s, copy, len);
}

static int walk_if_or_with(ectx_t *e, node_type_t type, const tval_t *dot, const tnode_t *node)
{
    tstate_t *s = e->s;
    size_t mark = s->nvars;
    const tval_t *v = eval_pipeline(e, dot, node->pipe);
    bool ok;
    bool truth = tmpl_truth(v, &ok);
    int rc = WALK_OK;
    if (truth) {
        rc = walk(e, type == N_WITH ? v : dot, node->list);
    } else if (node->else_list != NULL) {
        rc = walk(e, dot, node->else_list);
    }
    s->nvars = mark;
    return rc;
}

static int range_one(ectx_t *e, const tnode_t *r, const tval_t *index, const tval_t *elem,
                     size_t mark)
{
    tstate_t *s = e->s;
    if (++s->range_iters > s->lim.max_range_iterations) {
        tmpl_exec_fail(s, TW_ELIMIT, "range iteration limit of %llu exceeded",
                       (unsigned long long)s->lim.max_range_iterations);
    }
    const tnode_t *pipe = r->pipe;
    if (pipe->ndecl > 0) {
        if (pipe->is_assign) {
            set_var(s, e->base, pipe->decl[0]->ident[0], pipe->ndecl > 1 ? index : elem);
        } else {
            s->vars[s->nvars - 1].val = elem;
        }
    }
    if (pipe->ndecl > 1) {
        if (pipe->is_assign) {
            set_var(s, e->base, pipe->decl[1]->ident[0], elem);
        } else {
            s->vars[s->nvars - 2].val = index;
        }
    }
    int rc = walk(e, elem, r->list);
    s->nvars = mark;
    return rc;
}

static void walk_range(ectx_t *e, const tval_t *dot, const tnode_t *r)
{
    tstate_t *s = e->s;
    at(s, r);
    size_t outer_mark = s->nvars;
    const tval_t *v = eval_pipeline(e, dot, r->pipe);
    size_t mark = s->nvars;
    bool iterated = false;
    switch (v->kind) {
    case TW_TV_LIST:
    case TW_TV_SAMPLES:
        for (size_t i = 0; i < v->u.list.n; i++) {
            iterated = true;
            tval_t *idx = tv_int(s, (int64_t)i);
            if (range_one(e, r, idx, &v->u.list.items[i], mark) == WALK_BREAK) {
                break;
            }
        }
        break;
    case TW_TV_MAP:
        for (size_t i = 0; i < v->u.map.n; i++) {
            iterated = true;
            const tw_label_t *l = &v->u.map.labels[i];
            tval_t *k = tv_str(s, l->name, strlen(l->name));
            tval_t *val = tv_str(s, l->value, strlen(l->value));
            if (range_one(e, r, k, val, mark) == WALK_BREAK) {
                break;
            }
        }
        break;
    case TW_TV_DICT:
        for (size_t i = 0; i < v->u.dict.n; i++) {
            iterated = true;
            tval_t *k = tv_str(s, v->u.dict.keys[i], strlen(v->u.dict.keys[i]));
            if (range_one(e, r, k, &v->u.dict.vals[i], mark) == WALK_BREAK) {
                break;
            }
        }
        break;
    case TW_TV_NIL:
        break;
    default:
        tmpl_exec_fail(s, TW_EEXEC, "range can't iterate over %s", value_str(s, v));
    }
    if (!iterated && r->else_list != NULL) {
        walk(e, dot, r->else_list);
    }
    s->nvars = outer_mark;
}

static const ttree_t *lookup(const tw_tmpl_t *set, const char *name)
{
    for (size_t i = 0; i < set->ntrees; i++) {
        if (strcmp(set->trees[i].name, name) == 0) {
            return &set->trees[i];
        }
    }
    return NULL;
}

static void walk_template(ectx_t *e, const tval_t *dot, const tnode_t *t)
{
    tstate_t *s = e->s;
    at(s, t);
    const ttree_t *tmpl = lookup(s->set, t->name);
    if (tmpl == NULL) {
        tw_buf_t q;
        tw_buf_init(&q, 0);
        go_quote(&q, t->name, strlen(t->name));
        char m[300];
        snprintf(m, sizeof(m), "%s", q.data);
        tw_buf_fini(&q);
        tmpl_exec_fail(s, TW_EEXEC, "template %s not defined", m);
    }
    if (s->depth >= s->lim.max_template_depth) {
        tmpl_exec_fail(s, TW_ELIMIT, "exceeded maximum template depth (%d)",
                       s->lim.max_template_depth);
    }
    dot = eval_pipeline(e, dot, t->pipe);
    size_t mark = s->nvars;
    const ttree_t *saved = s->tmpl;
    s->depth++;
    s->tmpl = tmpl;
    ectx_t inner = {.s = s, .base = s->nvars};
    push_var(s, "$", dot);
    walk(&inner, dot, tmpl->root);
    s->tmpl = saved;
    s->depth--;
    s->nvars = mark;
}

static int walk(ectx_t *e, const tval_t *dot, const tnode_t *node)
{
    tstate_t *s = e->s;
    if (node == NULL) {
        return WALK_OK;
    }
    step(s);
    enter(s);
    at(s, node);
    int rc = WALK_OK;
    switch (node->type) {
    case N_ACTION: {
        const tval_t *v = eval_pipeline(e, dot, node->pipe);
        if (node->pipe->ndecl == 0) {
            print_value(e, node, v);
        }
        break;
    }
    case N_BREAK:
        rc = WALK_BREAK;
        break;
    case N_CONTINUE:
        rc = WALK_CONTINUE;
        break;
    case N_IF:
    case N_WITH:
        rc = walk_if_or_with(e, node->type, dot, node);
        break;
    case N_LIST:
        for (size_t i = 0; i < node->nkids && rc == WALK_OK; i++) {
            rc = walk(e, dot, node->kids[i]);
        }
        break;
    case N_RANGE:
        walk_range(e, dot, node);
        break;
    case N_TEMPLATE:
        walk_template(e, dot, node);
        break;
    case N_TEXT:
        write_out(s, node->text, node->text_len);
        break;
    default:
        tmpl_exec_fail(s, TW_EEXEC, "unknown node: %s", node_str(s, node));
    }
    leave(s);
    return rc;
}

/* ---- entry points ---- */

static void fill_limits(tw_tmpl_limits_t *l, const tw_tmpl_limits_t *in)
{
    memset(l, 0, sizeof(*l));
    if (in != NULL) {
        *l = *in;
    }
    if (l->max_source_bytes == 0) {
        l->max_source_bytes = TMPL_DEF_SOURCE_BYTES;
    }
    if (l->max_output_bytes == 0) {
        l->max_output_bytes = TMPL_DEF_OUTPUT_BYTES;
    }
    if (l->max_steps == 0) {
        l->max_steps = TMPL_DEF_STEPS;
    }
    if (l->max_range_iterations == 0) {
        l->max_range_iterations = TMPL_DEF_RANGE_ITERS;
    }
    if (l->max_template_depth == 0) {
        l->max_template_depth = TMPL_DEF_DEPTH;
    }
    if (l->max_memory_bytes == 0) {
        l->max_memory_bytes = TMPL_DEF_MEMORY;
    }
}

int tw_tmpl_exec(const tw_tmpl_t *t, const tw_tmpl_value_t *data, const tw_tmpl_env_t *env,
                 tw_buf_t *out, tw_error_t *err)
{
    static const tw_tmpl_env_t no_env;
    tstate_t *s = calloc(1, sizeof(*s));
    jmp_buf *jb = malloc(sizeof(*jb));
    if (s == NULL || jb == NULL) {
        abort();
    }
    s->set = t;
    s->env = env != NULL ? env : &no_env;
    fill_limits(&s->lim, s->env->limits);
    s->arena = tw_arena_new(0);
    s->out = out;
    s->out_start = out->len;
    s->err = err;
    s->jb = jb;
    s->tmpl = lookup(t, t->name);
    s->root = data != NULL ? data : &tmpl_nil_value;
    int rc = 0;
    if (setjmp(*jb) == 0) {
        if (s->tmpl == NULL) {
            static const ttree_t empty = {.name = ""};
            s->tmpl = &empty;
            tw_buf_t q;
            tw_buf_init(&q, 0);
            go_quote(&q, t->name, strlen(t->name));
            char m[300];
            snprintf(m, sizeof(m), "%s", q.data);
            tw_buf_fini(&q);
            tmpl_exec_fail(s, TW_EEXEC, "%s is an incomplete or empty template", m);
        }
        ectx_t e = {.s = s, .base = 0};
        push_var(s, "$", s->root);
        walk(&e, s->root, s->tmpl->root);
    } else {
        rc = s->code != 0 ? s->code : TW_EEXEC;
    }
    for (size_t i = 0; i < TMPL_REGEX_CACHE; i++) {
        tw_regex_free(s->re_cache[i].re);
        free(s->re_cache[i].pattern);
    }
    free(s->vars);
    tw_arena_free(s->arena);
    free(jb);
    free(s);
    return rc;
}

/* Prefixes err->msg with "<what> <name>: " as Prometheus' errors.Wrapf does. */
static int wrap(tw_error_t *err, int rc, const char *what, const char *name)
{
    if (err != NULL) {
        char m[sizeof(err->msg)];
        snprintf(m, sizeof(m), "%s", err->msg);
        int line = err->line, col = err->col;
        tw_error_set(err, rc, "%s %s: %s", what, name, m);
        err->line = line;
        err->col = col;
    }
    return rc;
}

int tw_tmpl_expand(const char *name, const char *text, size_t len, const tw_tmpl_value_t *data,
                   const tw_tmpl_env_t *env, tw_buf_t *out, tw_error_t *err)
{
    tw_buf_reset(out);
    tw_tmpl_t *t = NULL;
    int rc = tw_tmpl_parse(&t, name, text, len, env ? env->limits : NULL, err);
    if (rc != 0) {
        return wrap(err, rc, "error parsing template", name);
    }
    rc = tw_tmpl_exec(t, data, env, out, err);
    tw_tmpl_free(t);
    if (rc != 0) {
        tw_buf_reset(out);
        return wrap(err, rc, "error executing template", name);
    }
    return 0;
}

static const char alert_defs[] = "{{$labels := .Labels}}"
                                 "{{$externalLabels := .ExternalLabels}}"
                                 "{{$externalURL := .ExternalURL}}"
                                 "{{$value := .Value}}";

static char *alert_text(const char *text, size_t *len)
{
    size_t n = strlen(text);
    size_t d = sizeof(alert_defs) - 1;
    char *s = malloc(d + n + 1);
    if (s == NULL) {
        abort();
    }
    memcpy(s, alert_defs, d);
    memcpy(s + d, text, n + 1);
    *len = d + n;
    return s;
}

int tw_tmpl_expand_alert(const char *rule, const char *text, const tw_tmpl_value_t *data,
                         const tw_tmpl_env_t *env, tw_buf_t *out, tw_error_t *err)
{
    size_t len;
    char *full = alert_text(text, &len);
    size_t nlen = strlen(rule) + 9;
    char *name = malloc(nlen);
    if (name == NULL) {
        abort();
    }
    snprintf(name, nlen, "__alert_%s", rule);
    int rc = tw_tmpl_expand(name, full, len, data, env, out, err);
    free(name);
    free(full);
    return rc;
}

int tw_tmpl_check_alert(const char *rule, const char *text, tw_error_t *err)
{
    size_t len;
    char *full = alert_text(text, &len);
    size_t nlen = strlen(rule) + 9;
    char *name = malloc(nlen);
    if (name == NULL) {
        abort();
    }
    snprintf(name, nlen, "__alert_%s", rule);
    tw_tmpl_t *t = NULL;
    int rc = tw_tmpl_parse(&t, name, full, len, NULL, err);
    tw_tmpl_free(t);
    free(name);
    free(full);
    return rc;
}

/* ---- value constructors ---- */

tw_tmpl_value_t *tw_tmpl_alert_data(tw_arena_t *a, const tw_label_t *labels, size_t n_labels,
                                    const tw_label_t *external_labels, size_t n_external,
                                    const char *external_url, double value)
{
    static const char *const keys[] = {"Labels", "ExternalLabels", "ExternalURL", "Value"};
    tw_tmpl_value_t *vals = tw_arena_calloc(a, 4 * sizeof(*vals));
    vals[0].kind = TW_TV_MAP;
    vals[0].u.map.labels = labels;
    vals[0].u.map.n = n_labels;
    vals[1].kind = TW_TV_MAP;
    vals[1].u.map.labels = external_labels;
    vals[1].u.map.n = n_external;
    vals[2].kind = TW_TV_STRING;
    vals[2].u.s.p = tw_arena_strdup(a, external_url ? external_url : "");
    vals[2].u.s.len = strlen(vals[2].u.s.p);
    vals[3].kind = TW_TV_FLOAT;
    vals[3].u.f = value;
    tw_tmpl_value_t *v = tw_arena_calloc(a, sizeof(*v));
    v->kind = TW_TV_STRUCT;
    v->type = "struct { Labels map[string]string; ExternalLabels map[string]string; "
              "ExternalURL string; Value float64 }";
    v->u.dict.keys = keys;
    v->u.dict.vals = vals;
    v->u.dict.n = 4;
    return v;
}

tw_tmpl_value_t *tw_tmpl_value_string(tw_arena_t *a, const char *s)
{
    tw_tmpl_value_t *v = tw_arena_calloc(a, sizeof(*v));
    v->kind = TW_TV_STRING;
    v->u.s.p = tw_arena_strdup(a, s);
    v->u.s.len = strlen(s);
    return v;
}

tw_tmpl_value_t *tw_tmpl_value_float(tw_arena_t *a, double f)
{
    tw_tmpl_value_t *v = tw_arena_calloc(a, sizeof(*v));
    v->kind = TW_TV_FLOAT;
    v->u.f = f;
    return v;
}

tw_tmpl_value_t *tw_tmpl_value_int(tw_arena_t *a, int64_t i, const char *go_type)
{
    tw_tmpl_value_t *v = tw_arena_calloc(a, sizeof(*v));
    v->kind = TW_TV_INT;
    v->type = go_type;
    v->u.i = i;
    return v;
}

tw_tmpl_value_t *tw_tmpl_value_uint(tw_arena_t *a, uint64_t u, const char *go_type)
{
    tw_tmpl_value_t *v = tw_arena_calloc(a, sizeof(*v));
    v->kind = TW_TV_UINT;
    v->type = go_type;
    v->u.u = u;
    return v;
}

tw_tmpl_value_t *tw_tmpl_value_list(tw_arena_t *a, const tw_tmpl_value_t *items, size_t n,
                                    const char *go_type)
{
    tw_tmpl_value_t *v = tw_arena_calloc(a, sizeof(*v));
    v->kind = TW_TV_LIST;
    v->type = go_type;
    v->u.list.items = items;
    v->u.list.n = n;
    return v;
}
