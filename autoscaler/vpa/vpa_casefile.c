/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_casefile.c - loads the VPA conformance case file (../shared/conformance/vpa/cases.json,
 * schema in its README), runs each case through the histogram, model, estimator and capping
 * code of this module and prints the computed fields, optionally checking them against each
 * case's `expected` object. Cases of the updater (`updater_eligibility`) run through
 * vpa_updater.c.
 *
 * The loader is a parser of untrusted input: every value is type- and range-checked, every
 * error names the case id and the JSON path of the offending field, and per-case memory comes
 * from an arena reset between cases. Thread model: none; one call, one thread.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/mem.h"

/* Times beyond +-1e12 s (about 31700 years) are rejected, so milliseconds never overflow. */
#define MAX_ABS_SECONDS 1e12
/* Steps, events and containers per case. */
#define MAX_ITEMS 100000

typedef struct ctx {
    const char *file;  /* name for messages */
    const char *id;    /* current case id */
    tw_arena_t *arena; /* per-case allocations */
    tw_error_t *err;
} ctx_t;

static int bad(ctx_t *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(ctx_t *c, const char *path, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tw_error_set_at(c->err, TW_EINVAL, c->file, 0, 0, "case %s: %s: %s", c->id, path, msg);
}

static const char *sub(ctx_t *c, const char *path, const char *key)
{
    return tw_arena_printf(c->arena, "%s.%s", path, key);
}

static const char *idx(ctx_t *c, const char *path, size_t i)
{
    return tw_arena_printf(c->arena, "%s[%zu]", path, i);
}

/* ---- typed getters: absent and null count as "not set" ----------------------------------- */

static json_t *field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int get_double(ctx_t *c, json_t *obj, const char *key, const char *path, bool required,
                      double def, double lo, double hi, double *out)
{
    json_t *v = field(obj, key);
    if (v == NULL) {
        if (required) {
            return bad(c, sub(c, path, key), "missing (expected a number)");
        }
        *out = def;
        return 0;
    }
    if (!json_is_number(v)) {
        return bad(c, sub(c, path, key), "expected a number");
    }
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) {
        return bad(c, sub(c, path, key), "%g is out of range [%g, %g]", d, lo, hi);
    }
    *out = d;
    return 0;
}

static int get_int64(ctx_t *c, json_t *obj, const char *key, const char *path, bool required,
                     int64_t def, int64_t lo, int64_t hi, int64_t *out)
{
    json_t *v = field(obj, key);
    if (v == NULL) {
        if (required) {
            return bad(c, sub(c, path, key), "missing (expected an integer)");
        }
        *out = def;
        return 0;
    }
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < lo || x > hi) {
            return bad(c, sub(c, path, key), "%lld is out of range [%lld, %lld]", (long long)x,
                       (long long)lo, (long long)hi);
        }
        *out = x;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d == floor(d)) || d < (double)lo || d > (double)hi || fabs(d) > 9e15) {
            return bad(c, sub(c, path, key), "expected an integer in [%lld, %lld], got %g",
                       (long long)lo, (long long)hi, d);
        }
        *out = (int64_t)d;
        return 0;
    }
    return bad(c, sub(c, path, key), "expected an integer");
}

/* A time in (possibly fractional) Unix seconds, as ms; def_ms when absent or null. */
static int get_time(ctx_t *c, json_t *obj, const char *key, const char *path, bool required,
                    int64_t def_ms, int64_t *out_ms)
{
    json_t *v = field(obj, key);
    if (v == NULL && !required) {
        *out_ms = def_ms;
        return 0;
    }
    double s;
    int rc = get_double(c, obj, key, path, true, 0, -MAX_ABS_SECONDS, MAX_ABS_SECONDS, &s);
    if (rc == 0) {
        *out_ms = llround(s * 1000.0);
    }
    return rc;
}

static int get_bool(ctx_t *c, json_t *obj, const char *key, const char *path, bool def, bool *out)
{
    json_t *v = field(obj, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) {
        return bad(c, sub(c, path, key), "expected true or false");
    }
    *out = json_is_true(v);
    return 0;
}

static int get_string(ctx_t *c, json_t *obj, const char *key, const char *path, bool required,
                      const char **out)
{
    json_t *v = field(obj, key);
    *out = NULL;
    if (v == NULL) {
        return required ? bad(c, sub(c, path, key), "missing (expected a string)") : 0;
    }
    if (!json_is_string(v)) {
        return bad(c, sub(c, path, key), "expected a string");
    }
    *out = tw_arena_strndup(c->arena, json_string_value(v), json_string_length(v));
    return 0;
}

static int get_array(ctx_t *c, json_t *obj, const char *key, const char *path, bool required,
                     json_t **out)
{
    json_t *v = field(obj, key);
    *out = NULL;
    if (v == NULL) {
        return required ? bad(c, sub(c, path, key), "missing (expected an array)") : 0;
    }
    if (!json_is_array(v) || json_array_size(v) > MAX_ITEMS) {
        return bad(c, sub(c, path, key), "expected an array of at most %d items", MAX_ITEMS);
    }
    *out = v;
    return 0;
}

static int get_object(ctx_t *c, json_t *obj, const char *key, const char *path, bool required,
                      json_t **out)
{
    json_t *v = field(obj, key);
    *out = NULL;
    if (v == NULL) {
        return required ? bad(c, sub(c, path, key), "missing (expected an object)") : 0;
    }
    if (!json_is_object(v) || json_object_size(v) > MAX_ITEMS) {
        return bad(c, sub(c, path, key), "expected an object");
    }
    *out = v;
    return 0;
}

static double ms_to_s(int64_t ms)
{
    return (double)ms / 1000.0;
}

/* ---- histograms ---------------------------------------------------------------------------- */

static int parse_options(ctx_t *c, json_t *o, const char *path, tw_vpa_hist_options_t *opt)
{
    const char *type;
    int rc = get_string(c, o, "type", path, true, &type);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(type, "cpu") == 0) {
        tw_vpa_hist_options_cpu(opt);
        return 0;
    }
    if (strcmp(type, "memory") == 0) {
        tw_vpa_hist_options_memory(opt);
        return 0;
    }
    double max, size, ratio = 0, eps;
    bool lin = strcmp(type, "linear") == 0;
    if (!lin && strcmp(type, "exponential") != 0) {
        return bad(c, sub(c, path, "type"),
                   "unknown histogram type \"%s\" (expected linear, exponential, cpu, memory)",
                   type);
    }
    if ((rc = get_double(c, o, "max_value", path, true, 0, 0, 1e300, &max)) != 0 ||
        (rc = get_double(c, o, lin ? "bucket_size" : "first_bucket_size", path, true, 0, 0, 1e300,
                         &size)) != 0 ||
        (rc = get_double(c, o, "epsilon", path, true, 0, 0, 1e300, &eps)) != 0 ||
        (!lin && (rc = get_double(c, o, "ratio", path, true, 0, 0, 1e300, &ratio)) != 0)) {
        return rc;
    }
    tw_error_t e = {0};
    rc = lin ? tw_vpa_hist_options_linear(opt, max, size, eps, &e)
             : tw_vpa_hist_options_exponential(opt, max, size, ratio, eps, &e);
    if (rc != 0) {
        return bad(c, path, "%s", e.msg);
    }
    return 0;
}

static int new_hist(ctx_t *c, const tw_vpa_hist_options_t *opt, json_t *decaying, const char *path,
                    tw_vpa_hist_t **out)
{
    *out = NULL;
    if (decaying == NULL) {
        *out = tw_vpa_hist_new(opt);
        return 0;
    }
    if (!json_is_object(decaying)) {
        return bad(c, path, "expected an object or null");
    }
    double hl;
    int rc = get_double(c, decaying, "half_life_s", path, true, 0, 1e-3, 1e10, &hl);
    if (rc != 0) {
        return rc;
    }
    *out = tw_vpa_hist_new_decaying(opt, llround(hl * 1000.0));
    return 0;
}

static int apply_steps(ctx_t *c, tw_vpa_hist_t *h, json_t *steps, size_t upto, const char *path);

/* {"decaying", "steps"} with h's layout: a new histogram, all steps applied. */
static int build_other(ctx_t *c, const tw_vpa_hist_options_t *opt, json_t *o, const char *path,
                       tw_vpa_hist_t **out)
{
    json_t *steps;
    int rc;
    if (!json_is_object(o)) {
        return bad(c, path, "expected an object");
    }
    if ((rc = get_array(c, o, "steps", path, true, &steps)) != 0 ||
        (rc = new_hist(c, opt, field(o, "decaying"), sub(c, path, "decaying"), out)) != 0) {
        return rc;
    }
    rc = apply_steps(c, *out, steps, json_array_size(steps), sub(c, path, "steps"));
    if (rc != 0) {
        tw_vpa_hist_free(*out);
        *out = NULL;
    }
    return rc;
}

static int apply_steps(ctx_t *c, tw_vpa_hist_t *h, json_t *steps, size_t upto, const char *path)
{
    for (size_t i = 0; i < upto && i < json_array_size(steps); i++) {
        json_t *s = json_array_get(steps, i);
        const char *p = idx(c, path, i), *op;
        int rc;
        if (!json_is_object(s)) {
            return bad(c, p, "expected an object");
        }
        if ((rc = get_string(c, s, "op", p, true, &op)) != 0) {
            return rc;
        }
        if (strcmp(op, "merge") == 0) {
            json_t *other;
            tw_vpa_hist_t *o;
            if ((rc = get_object(c, s, "other", p, true, &other)) != 0 ||
                (rc = build_other(c, tw_vpa_hist_options(h), other, sub(c, p, "other"), &o)) != 0) {
                return rc;
            }
            tw_error_t e = {0};
            rc = tw_vpa_hist_merge(h, o, &e);
            tw_vpa_hist_free(o);
            if (rc != 0) {
                return bad(c, p, "%s", e.msg);
            }
            continue;
        }
        bool add = strcmp(op, "add") == 0;
        if (!add && strcmp(op, "subtract") != 0) {
            return bad(c, sub(c, p, "op"), "unknown op \"%s\" (expected add, subtract, merge)", op);
        }
        double value, weight;
        int64_t t;
        if ((rc = get_double(c, s, "value", p, true, 0, -1e300, 1e300, &value)) != 0 ||
            (rc = get_double(c, s, "weight", p, true, 0, 0, 1e300, &weight)) != 0 ||
            (rc = get_time(c, s, "t_s", p, false, TW_VPA_TIME_ZERO_MS, &t)) != 0) {
            return rc;
        }
        if (add) {
            tw_vpa_hist_add(h, value, weight, t);
        } else {
            tw_vpa_hist_subtract(h, value, weight, t);
        }
    }
    return 0;
}

/* A histogram from {"options"?, "decaying", "steps"}, first upto steps (SIZE_MAX: all). */
static int build_hist(ctx_t *c, json_t *in, const tw_vpa_hist_options_t *opt_or_null,
                      const char *path, size_t upto, tw_vpa_hist_t **out)
{
    tw_vpa_hist_options_t opt;
    json_t *o, *steps;
    int rc;
    *out = NULL;
    if (opt_or_null != NULL) {
        opt = *opt_or_null;
    } else if ((rc = get_object(c, in, "options", path, true, &o)) != 0 ||
               (rc = parse_options(c, o, sub(c, path, "options"), &opt)) != 0) {
        return rc;
    }
    if ((rc = get_array(c, in, "steps", path, false, &steps)) != 0 ||
        (rc = new_hist(c, &opt, field(in, "decaying"), sub(c, path, "decaying"), out)) != 0) {
        return rc;
    }
    if (steps != NULL) {
        rc = apply_steps(c, *out, steps, upto, sub(c, path, "steps"));
    }
    if (rc != 0) {
        tw_vpa_hist_free(*out);
        *out = NULL;
    }
    return rc;
}

static int run_percentile(ctx_t *c, json_t *in, json_t *exp, json_t *o)
{
    json_t *checks, *oc = json_array();
    int rc = 0;
    json_object_set_new(o, "checks", oc);
    if (exp == NULL || (checks = json_object_get(exp, "checks")) == NULL ||
        !json_is_array(checks)) {
        return 0; /* nothing asks for a value */
    }
    size_t i;
    json_t *ck;
    json_array_foreach(checks, i, ck)
    {
        const char *p = idx(c, "expected.checks", i);
        int64_t after;
        if (!json_is_object(ck)) {
            return bad(c, p, "expected an object");
        }
        if ((rc = get_int64(c, ck, "after_step", p, true, 0, 0, MAX_ITEMS, &after)) != 0) {
            return rc;
        }
        tw_vpa_hist_t *h;
        if ((rc = build_hist(c, in, NULL, "input", (size_t)after, &h)) != 0) {
            return rc;
        }
        json_t *g = json_object();
        json_array_append_new(oc, g);
        json_object_set_new(g, "after_step", json_integer(after));
        if (json_object_get(ck, "is_empty") != NULL) {
            json_object_set_new(g, "is_empty", json_boolean(tw_vpa_hist_is_empty(h)));
        }
        json_t *ps = json_object_get(ck, "percentiles");
        if (json_is_array(ps)) {
            json_t *gp = json_array();
            json_object_set_new(g, "percentiles", gp);
            size_t k;
            json_t *pe;
            json_array_foreach(ps, k, pe)
            {
                double pv;
                if ((rc = get_double(c, pe, "p", idx(c, sub(c, p, "percentiles"), k), true, 0, -1e9,
                                     1e9, &pv)) != 0) {
                    break;
                }
                json_array_append_new(
                    gp, json_pack("{s:f,s:f}", "p", pv, "value", tw_vpa_hist_percentile(h, pv)));
            }
        }
        json_t *eq = json_object_get(ck, "equals_steps");
        if (rc == 0 && json_is_array(eq)) {
            json_t *spec =
                json_pack("{s:O,s:O?}", "steps", eq, "decaying", json_object_get(in, "decaying"));
            tw_vpa_hist_t *want = NULL;
            rc = build_hist(c, spec, tw_vpa_hist_options(h), sub(c, p, "equals_steps"), SIZE_MAX,
                            &want);
            json_decref(spec);
            if (rc == 0) {
                json_object_set_new(g, "equals_steps", json_boolean(tw_vpa_hist_equals(h, want)));
            }
            tw_vpa_hist_free(want);
        }
        tw_vpa_hist_free(h);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int run_options(ctx_t *c, json_t *in, json_t *exp, json_t *o)
{
    json_t *jo;
    tw_vpa_hist_options_t opt;
    int rc;
    if ((rc = get_object(c, in, "options", "input", true, &jo)) != 0 ||
        (rc = parse_options(c, jo, "input.options", &opt)) != 0) {
        return rc;
    }
    json_object_set_new(o, "num_buckets", json_integer(opt.num_buckets));
    json_object_set_new(o, "epsilon", json_real(opt.epsilon));
    json_t *bs = exp != NULL ? json_object_get(exp, "bucket_start") : NULL;
    json_t *fb = exp != NULL ? json_object_get(exp, "find_bucket") : NULL;
    json_t *obs = json_array(), *ofb = json_array();
    json_object_set_new(o, "bucket_start", obs);
    json_object_set_new(o, "find_bucket", ofb);
    size_t i;
    json_t *e;
    json_array_foreach(bs, i, e)
    {
        json_t *b = json_array_get(e, 0);
        if (!json_is_integer(b) || json_integer_value(b) < 0 ||
            json_integer_value(b) >= opt.num_buckets) {
            return bad(c, idx(c, "expected.bucket_start", i), "expected [index, start]");
        }
        int bi = (int)json_integer_value(b);
        json_array_append_new(obs,
                              json_pack("[i,f]", bi, tw_vpa_hist_options_bucket_start(&opt, bi)));
    }
    json_array_foreach(fb, i, e)
    {
        json_t *v = json_array_get(e, 0);
        if (!json_is_number(v)) {
            return bad(c, idx(c, "expected.find_bucket", i), "expected [value, index]");
        }
        double d = json_number_value(v);
        json_array_append_new(ofb, json_pack("[f,i]", d, tw_vpa_hist_options_find_bucket(&opt, d)));
    }
    return 0;
}

/* {"total_weight", "bucket_weights": {"<index>": int}, "reference_timestamp_s"?} */
static int parse_hist_checkpoint(ctx_t *c, json_t *j, const char *path,
                                 tw_vpa_hist_checkpoint_t *cp)
{
    json_t *bw;
    int rc;
    memset(cp, 0, sizeof(*cp));
    if (!json_is_object(j)) {
        return bad(c, path, "expected an object");
    }
    if ((rc = get_double(c, j, "total_weight", path, true, 0, -1e300, 1e300, &cp->total_weight)) !=
            0 ||
        (rc = get_time(c, j, "reference_timestamp_s", path, false, TW_VPA_TIME_ZERO_MS,
                       &cp->reference_ms)) != 0 ||
        (rc = get_object(c, j, "bucket_weights", path, false, &bw)) != 0) {
        return rc;
    }
    size_t n = bw == NULL ? 0 : json_object_size(bw);
    cp->buckets = tw_arena_calloc(c->arena, (n == 0 ? 1 : n) * sizeof(*cp->buckets));
    const char *k;
    json_t *v;
    json_object_foreach(bw, k, v)
    {
        char *end;
        long long b = strtoll(k, &end, 10);
        if (*k == '\0' || *end != '\0' || !json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > UINT32_MAX) {
            return bad(c, sub(c, sub(c, path, "bucket_weights"), k),
                       "expected an integer index and a uint32 weight");
        }
        cp->buckets[cp->n_buckets++] =
            (tw_vpa_hist_bucket_t){.index = b, .weight = (uint32_t)json_integer_value(v)};
    }
    return 0;
}

static json_t *hist_checkpoint_json(const tw_vpa_hist_checkpoint_t *cp)
{
    json_t *bw = json_object();
    for (size_t i = 0; i < cp->n_buckets; i++) {
        char k[32];
        snprintf(k, sizeof(k), "%lld", (long long)cp->buckets[i].index);
        json_object_set_new(bw, k, json_integer(cp->buckets[i].weight));
    }
    return bw;
}

static void put_error(json_t *o, const tw_error_t *e)
{
    json_object_set_new(o, "error", json_true());
    json_object_set_new(o, "error_message", json_string(e->msg));
}

static int run_aggregate_checkpoint(ctx_t *c, json_t *in, json_t *o)
{
    const char *action;
    int rc = get_string(c, in, "action", "input", true, &action);
    if (rc != 0) {
        return rc;
    }
    tw_vpa_hist_options_t cpu_opt, mem_opt;
    tw_vpa_hist_options_cpu(&cpu_opt);
    tw_vpa_hist_options_memory(&mem_opt);
    if (strcmp(action, "save") == 0) {
        json_t *a;
        tw_vpa_aggregate_checkpoint_t cp = {0};
        tw_vpa_hist_t *cpu = NULL, *mem = NULL;
        if ((rc = get_object(c, in, "aggregate", "input", true, &a)) != 0 ||
            (rc = get_time(c, a, "first_sample_start_s", "input.aggregate", false,
                           TW_VPA_TIME_ZERO_MS, &cp.first_sample_ms)) != 0 ||
            (rc = get_time(c, a, "last_sample_start_s", "input.aggregate", false,
                           TW_VPA_TIME_ZERO_MS, &cp.last_sample_ms)) != 0 ||
            (rc = get_int64(c, a, "total_samples_count", "input.aggregate", false, 0, 0,
                            INT64_MAX / 2, &cp.total_samples)) != 0) {
            return rc;
        }
        json_t *spec = json_pack("{s:O?,s:{s:f}}", "steps", json_object_get(a, "cpu_steps"),
                                 "decaying", "half_life_s", 86400.0);
        rc = build_hist(c, spec, &cpu_opt, "input.aggregate.cpu_steps", SIZE_MAX, &cpu);
        json_decref(spec);
        if (rc == 0) {
            spec = json_pack("{s:O?,s:{s:f}}", "steps", json_object_get(a, "memory_steps"),
                             "decaying", "half_life_s", 86400.0);
            rc = build_hist(c, spec, &mem_opt, "input.aggregate.memory_steps", SIZE_MAX, &mem);
            json_decref(spec);
        }
        if (rc == 0) {
            tw_strlcpy(cp.version, TW_VPA_CHECKPOINT_VERSION, sizeof(cp.version));
            tw_vpa_hist_save(cpu, &cp.cpu);
            tw_vpa_hist_save(mem, &cp.memory);
            json_object_set_new(o, "error", json_false());
            json_object_set_new(o, "first_sample_start_s", json_real(ms_to_s(cp.first_sample_ms)));
            json_object_set_new(o, "last_sample_start_s", json_real(ms_to_s(cp.last_sample_ms)));
            json_object_set_new(o, "total_samples_count", json_integer(cp.total_samples));
            json_object_set_new(o, "version", json_string(cp.version));
            json_object_set_new(o, "cpu_bucket_count", json_integer((json_int_t)cp.cpu.n_buckets));
            json_object_set_new(o, "memory_bucket_count",
                                json_integer((json_int_t)cp.memory.n_buckets));
        }
        tw_vpa_aggregate_checkpoint_fini(&cp);
        tw_vpa_hist_free(cpu);
        tw_vpa_hist_free(mem);
        return rc;
    }
    if (strcmp(action, "load") != 0) {
        return bad(c, "input.action", "unknown aggregate action \"%s\" (expected save, load)",
                   action);
    }
    json_t *j, *jh;
    const char *version;
    tw_vpa_aggregate_checkpoint_t cp = {0};
    if ((rc = get_object(c, in, "checkpoint", "input", true, &j)) != 0 ||
        (rc = get_string(c, j, "version", "input.checkpoint", true, &version)) != 0 ||
        (rc = get_time(c, j, "first_sample_start_s", "input.checkpoint", false, TW_VPA_TIME_ZERO_MS,
                       &cp.first_sample_ms)) != 0 ||
        (rc = get_time(c, j, "last_sample_start_s", "input.checkpoint", false, TW_VPA_TIME_ZERO_MS,
                       &cp.last_sample_ms)) != 0 ||
        (rc = get_int64(c, j, "total_samples_count", "input.checkpoint", false, 0, 0, INT64_MAX / 2,
                        &cp.total_samples)) != 0) {
        return rc;
    }
    tw_strlcpy(cp.version, version, sizeof(cp.version));
    if (strlen(version) >= sizeof(cp.version)) {
        cp.version[0] = '?'; /* never equal to "v3" */
    }
    if ((rc = get_object(c, j, "cpu_histogram", "input.checkpoint", true, &jh)) != 0 ||
        (rc = parse_hist_checkpoint(c, jh, "input.checkpoint.cpu_histogram", &cp.cpu)) != 0 ||
        (rc = get_object(c, j, "memory_histogram", "input.checkpoint", true, &jh)) != 0 ||
        (rc = parse_hist_checkpoint(c, jh, "input.checkpoint.memory_histogram", &cp.memory)) != 0) {
        return rc;
    }
    tw_vpa_aggregate_t *agg = tw_vpa_aggregate_new(NULL, TW_VPA_TIME_ZERO_MS);
    tw_error_t e = {0};
    if (tw_vpa_aggregate_load(agg, &cp, &e) != 0) {
        put_error(o, &e);
    } else {
        json_object_set_new(o, "error", json_false());
        json_object_set_new(o, "first_sample_start_s",
                            json_real(ms_to_s(tw_vpa_aggregate_first_sample_ms(agg))));
        json_object_set_new(o, "last_sample_start_s",
                            json_real(ms_to_s(tw_vpa_aggregate_last_sample_ms(agg))));
        json_object_set_new(o, "total_samples_count", json_integer(tw_vpa_aggregate_samples(agg)));
        json_object_set_new(o, "cpu_is_empty",
                            json_boolean(tw_vpa_hist_is_empty(tw_vpa_aggregate_cpu(agg))));
        json_object_set_new(o, "memory_is_empty",
                            json_boolean(tw_vpa_hist_is_empty(tw_vpa_aggregate_memory(agg))));
    }
    tw_vpa_aggregate_free(agg);
    return 0;
}

static int run_checkpoint(ctx_t *c, json_t *in, json_t *o)
{
    const char *level = NULL, *action;
    int rc;
    if ((rc = get_string(c, in, "level", "input", false, &level)) != 0) {
        return rc;
    }
    if (level != NULL && strcmp(level, "aggregate") == 0) {
        return run_aggregate_checkpoint(c, in, o);
    }
    if ((rc = get_string(c, in, "action", "input", true, &action)) != 0) {
        return rc;
    }
    tw_vpa_hist_t *h;
    if ((rc = build_hist(c, in, NULL, "input", SIZE_MAX, &h)) != 0) {
        return rc;
    }
    tw_vpa_hist_checkpoint_t cp = {0};
    if (strcmp(action, "save") == 0) {
        tw_vpa_hist_save(h, &cp);
        json_object_set_new(o, "error", json_false());
        json_object_set_new(o, "total_weight", json_real(cp.total_weight));
        json_object_set_new(o, "bucket_weights", hist_checkpoint_json(&cp));
        json_object_set_new(o, "reference_timestamp_s", json_real(ms_to_s(cp.reference_ms)));
        json_object_set_new(o, "reference_timestamp_not_zero",
                            json_boolean(cp.reference_ms != TW_VPA_TIME_ZERO_MS));
        json_object_set_new(o, "bucket_weights_nonempty", json_boolean(cp.n_buckets > 0));
        json_object_set_new(o, "total_weight_nonzero", json_boolean(cp.total_weight != 0));
        tw_vpa_hist_checkpoint_fini(&cp);
    } else if (strcmp(action, "save_then_load") == 0) {
        tw_vpa_hist_save(h, &cp);
        tw_vpa_hist_t *fresh = tw_vpa_hist_clone(h);
        tw_vpa_hist_free(fresh);
        /* Load into a new histogram with the same layout and kind. */
        tw_vpa_hist_t *loaded = NULL;
        json_t *spec = json_pack("{s:O?}", "decaying", json_object_get(in, "decaying"));
        rc = build_hist(c, spec, tw_vpa_hist_options(h), "input", 0, &loaded);
        json_decref(spec);
        if (rc == 0) {
            tw_error_t e = {0};
            json_object_set_new(o, "is_empty_before", json_boolean(tw_vpa_hist_is_empty(h)));
            if (tw_vpa_hist_load(loaded, &cp, &e) != 0) {
                put_error(o, &e);
            } else {
                json_object_set_new(o, "error", json_false());
                json_object_set_new(o, "is_empty_after_load",
                                    json_boolean(tw_vpa_hist_is_empty(loaded)));
            }
        }
        tw_vpa_hist_free(loaded);
        tw_vpa_hist_checkpoint_fini(&cp);
    } else if (strcmp(action, "load") == 0) {
        json_t *j = field(in, "checkpoint");
        tw_vpa_hist_checkpoint_t lcp = {0};
        tw_error_t e = {0};
        int lrc = 0;
        if (j != NULL) {
            rc = parse_hist_checkpoint(c, j, "input.checkpoint", &lcp);
        }
        if (rc == 0) {
            lrc = tw_vpa_hist_load(h, j == NULL ? NULL : &lcp, &e);
            if (lrc != 0) {
                put_error(o, &e);
            } else {
                json_t *bw = json_object();
                int nb = tw_vpa_hist_options(h)->num_buckets;
                for (int b = 0; b < nb; b++) {
                    double w = tw_vpa_hist_bucket_weight(h, b);
                    if (w != 0) {
                        char k[16];
                        snprintf(k, sizeof(k), "%d", b);
                        json_object_set_new(bw, k, json_real(w));
                    }
                }
                json_object_set_new(o, "error", json_false());
                json_object_set_new(o, "total_weight", json_real(tw_vpa_hist_total_weight(h)));
                json_object_set_new(o, "bucket_weight", bw);
                json_object_set_new(o, "is_empty", json_boolean(tw_vpa_hist_is_empty(h)));
                json_object_set_new(o, "reference_timestamp_s",
                                    json_real(ms_to_s(tw_vpa_hist_reference_ms(h))));
            }
        }
    } else {
        rc = bad(c, "input.action", "unknown action \"%s\" (expected save, load, save_then_load)",
                 action);
    }
    tw_vpa_hist_free(h);
    return rc;
}

/* ---- estimator ----------------------------------------------------------------------------- */

static int parse_chain(ctx_t *c, json_t *arr, const char *path, tw_vpa_resource_t r,
                       tw_vpa_chain_t *ch)
{
    memset(ch, 0, sizeof(*ch));
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > TW_VPA_CHAIN_MAX) {
        return bad(c, path, "expected an array of 1 to %d stages", TW_VPA_CHAIN_MAX);
    }
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        const char *p = idx(c, path, i);
        tw_vpa_stage_t st = {0};
        int rc = 0;
        json_t *cf;
        if (!json_is_object(s) || json_object_size(s) != 1) {
            return bad(c, p, "expected an object with one stage key");
        }
        if (json_object_get(s, "percentile") != NULL) {
            st.kind = TW_VPA_STAGE_PERCENTILE;
            rc = get_double(c, s, "percentile", p, true, 0, -1e9, 1e9, &st.value);
        } else if (json_object_get(s, "const") != NULL) {
            st.kind = TW_VPA_STAGE_CONST;
            rc = get_int64(c, s, "const", p, true, 0, 0, TW_VPA_MAX_RESOURCE_AMOUNT, &st.amount);
        } else if (json_object_get(s, "margin") != NULL) {
            st.kind = TW_VPA_STAGE_MARGIN;
            rc = get_double(c, s, "margin", p, true, 0, -1e9, 1e9, &st.value);
        } else if (json_object_get(s, "min") != NULL) {
            st.kind = TW_VPA_STAGE_MIN;
            rc = get_int64(c, s, "min", p, true, 0, 0, TW_VPA_MAX_RESOURCE_AMOUNT, &st.amount);
        } else if ((cf = json_object_get(s, "confidence")) != NULL) {
            const char *cp = sub(c, p, "confidence");
            double iv;
            st.kind = TW_VPA_STAGE_CONFIDENCE;
            if (!json_is_object(cf)) {
                return bad(c, cp, "expected an object");
            }
            if ((rc = get_double(c, cf, "multiplier", cp, true, 0, -1e9, 1e9, &st.value)) != 0 ||
                (rc = get_double(c, cf, "exponent", cp, true, 0, -1e3, 1e3, &st.exponent)) != 0 ||
                (rc = get_double(c, cf, "interval_s", cp, true, 0, 1e-3, 1e10, &iv)) != 0) {
                return rc;
            }
            st.interval_ms = llround(iv * 1000.0);
        } else {
            return bad(c, p, "unknown stage (expected percentile, const, margin, confidence, min)");
        }
        if (rc != 0) {
            return rc;
        }
        if ((st.kind == TW_VPA_STAGE_PERCENTILE || st.kind == TW_VPA_STAGE_CONST) != (i == 0)) {
            return bad(c, p, "percentile and const must be (only) the innermost stage");
        }
        ch->stages[ch->n++] = st;
    }
    (void)r;
    return 0;
}

static void put_rlist_amounts(json_t *o, const tw_vpa_rlist_t *rl)
{
    if (rl->has[TW_VPA_CPU]) {
        json_object_set_new(o, "cpu_milli", json_integer(rl->v[TW_VPA_CPU]));
    }
    if (rl->has[TW_VPA_MEMORY]) {
        json_object_set_new(o, "memory_bytes", json_integer(rl->v[TW_VPA_MEMORY]));
    }
}

static int run_estimator_pod(ctx_t *c, json_t *in, json_t *o)
{
    tw_vpa_estimators_t est = {0};
    json_t *base, *cs;
    int rc;
    if ((rc = get_double(c, in, "pod_min_cpu_millicores", "input", true, 0, 0, 1e12,
                         &est.pod_min_cpu_millicores)) != 0 ||
        (rc = get_double(c, in, "pod_min_memory_mb", "input", true, 0, 0, 1e12,
                         &est.pod_min_memory_mb)) != 0 ||
        (rc = get_object(c, in, "base_estimates", "input", true, &base)) != 0 ||
        (rc = get_object(c, in, "containers", "input", true, &cs)) != 0) {
        return rc;
    }
    static const char *const bname[TW_VPA_NBOUNDS] = {"target", "lower_bound", "upper_bound"};
    for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
        json_t *be;
        const char *p = sub(c, "input.base_estimates", bname[b]);
        int64_t v[TW_VPA_NRES];
        if ((rc = get_object(c, base, bname[b], "input.base_estimates", true, &be)) != 0 ||
            (rc = get_int64(c, be, "cpu_milli", p, true, 0, 0, TW_VPA_MAX_RESOURCE_AMOUNT,
                            &v[0])) != 0 ||
            (rc = get_int64(c, be, "memory_bytes", p, true, 0, 0, TW_VPA_MAX_RESOURCE_AMOUNT,
                            &v[1])) != 0) {
            return rc;
        }
        for (int r = 0; r < TW_VPA_NRES; r++) {
            est.chain[b][r].n = 1;
            est.chain[b][r].stages[0] =
                (tw_vpa_stage_t){.kind = TW_VPA_STAGE_CONST, .amount = v[r]};
        }
    }
    size_t n = json_object_size(cs), i = 0;
    tw_vpa_pod_container_t *pc = tw_arena_calloc(c->arena, (n + 1) * sizeof(*pc));
    tw_vpa_estimate_t *res = tw_arena_calloc(c->arena, (n + 1) * sizeof(*res));
    const char *name;
    json_t *cv;
    json_object_foreach(cs, name, cv)
    {
        const char *p = sub(c, "input.containers", name);
        json_t *ctl;
        pc[i].name = tw_arena_strdup(c->arena, name);
        if (!json_is_object(cv)) {
            return bad(c, p, "expected an object");
        }
        if ((rc = get_array(c, cv, "controlled_resources", p, false, &ctl)) != 0) {
            return rc;
        }
        const char *mode = NULL;
        if ((rc = get_string(c, cv, "mode", p, false, &mode)) != 0) {
            return rc;
        }
        pc[i].mode_off = mode != NULL && strcmp(mode, "Off") == 0;
        pc[i].controls[0] = pc[i].controls[1] = ctl == NULL;
        size_t k;
        json_t *rv;
        json_array_foreach(ctl, k, rv)
        {
            const char *s = json_string_value(rv);
            if (s != NULL && strcmp(s, "cpu") == 0) {
                pc[i].controls[TW_VPA_CPU] = true;
            } else if (s != NULL && strcmp(s, "memory") == 0) {
                pc[i].controls[TW_VPA_MEMORY] = true;
            } else {
                return bad(c, idx(c, sub(c, p, "controlled_resources"), k),
                           "expected \"cpu\" or \"memory\"");
            }
        }
        i++;
    }
    tw_vpa_recommend_pod(&est, pc, n, res);
    json_t *oc = json_object();
    json_object_set_new(o, "containers", oc);
    for (i = 0; i < n; i++) {
        if (!res[i].present) {
            continue;
        }
        json_t *cj = json_object();
        for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
            json_t *bj = json_object();
            put_rlist_amounts(bj, &res[i].bound[b]);
            json_object_set_new(cj, bname[b], bj);
        }
        json_object_set_new(oc, pc[i].name, cj);
    }
    return 0;
}

static double chain_confidence(const tw_vpa_chain_t *ch, const tw_vpa_aggregate_t *agg, bool *has)
{
    for (size_t i = 0; i < ch->n; i++) {
        if (ch->stages[i].kind == TW_VPA_STAGE_CONFIDENCE) {
            *has = true;
            return tw_vpa_aggregate_confidence(agg, ch->stages[i].interval_ms);
        }
    }
    return 0;
}

static int run_estimator(ctx_t *c, json_t *in, json_t *o)
{
    const char *level = NULL;
    int rc = get_string(c, in, "level", "input", false, &level);
    if (rc != 0) {
        return rc;
    }
    if (level != NULL && strcmp(level, "pod") == 0) {
        return run_estimator_pod(c, in, o);
    }
    json_t *a, *samples;
    if ((rc = get_object(c, in, "aggregate", "input", true, &a)) != 0 ||
        (rc = get_array(c, a, "cpu_samples", "input.aggregate", false, &samples)) != 0) {
        return rc;
    }
    tw_vpa_aggregate_t *agg = NULL;
    tw_vpa_hist_t *hist[TW_VPA_NRES] = {NULL, NULL};
    if (samples != NULL) {
        agg = tw_vpa_aggregate_new(NULL, TW_VPA_TIME_ZERO_MS);
        size_t i;
        json_t *s;
        json_array_foreach(samples, i, s)
        {
            const char *p = idx(c, "input.aggregate.cpu_samples", i);
            int64_t t, u;
            if ((rc = get_time(c, s, "t_s", p, true, 0, &t)) != 0 ||
                (rc = get_int64(c, s, "usage_milli", p, true, 0, 0, TW_VPA_MAX_RESOURCE_AMOUNT,
                                &u)) != 0) {
                goto out;
            }
            tw_vpa_aggregate_add_cpu(agg, u, t);
        }
    } else {
        static const char *const hk[TW_VPA_NRES] = {"cpu_histogram", "memory_histogram"};
        for (int r = 0; r < TW_VPA_NRES; r++) {
            json_t *hj;
            if ((rc = get_object(c, a, hk[r], "input.aggregate", false, &hj)) != 0) {
                goto out;
            }
            if (hj != NULL && (rc = build_hist(c, hj, NULL, sub(c, "input.aggregate", hk[r]),
                                               SIZE_MAX, &hist[r])) != 0) {
                goto out;
            }
        }
    }
    static const char *const ck[TW_VPA_NRES] = {"cpu_chain", "memory_chain"};
    bool conf_done = false;
    for (int r = 0; r < TW_VPA_NRES; r++) {
        json_t *cj = field(in, ck[r]);
        tw_vpa_chain_t ch;
        if (cj == NULL) {
            continue;
        }
        if ((rc = parse_chain(c, cj, sub(c, "input", ck[r]), (tw_vpa_resource_t)r, &ch)) != 0) {
            goto out;
        }
        const tw_vpa_hist_t *h = hist[r];
        if (agg != NULL) {
            h = r == TW_VPA_CPU ? tw_vpa_aggregate_cpu(agg) : tw_vpa_aggregate_memory(agg);
        }
        int64_t v = tw_vpa_chain_estimate_hist(&ch, (tw_vpa_resource_t)r, h, agg);
        if (r == TW_VPA_CPU) {
            json_object_set_new(o, "cpu_milli", json_integer(v));
            json_object_set_new(o, "cpu_cores_approx", json_real((double)v / 1000.0));
        } else {
            json_object_set_new(o, "memory_bytes", json_integer(v));
            json_object_set_new(o, "memory_bytes_approx", json_real((double)v));
        }
        bool has = false;
        double conf = chain_confidence(&ch, agg, &has);
        if (has && !conf_done) {
            json_object_set_new(o, "confidence", json_real(conf));
            conf_done = true;
        }
    }
out:
    tw_vpa_aggregate_free(agg);
    tw_vpa_hist_free(hist[0]);
    tw_vpa_hist_free(hist[1]);
    return rc;
}

/* ---- memory peaks, OOM, expiry ------------------------------------------------------------- */

typedef struct trace {
    json_t *calls[TW_VPA_NRES];
} trace_t;

static void on_call(void *ctx, tw_vpa_resource_t r, bool subtract, double value, double weight,
                    int64_t t_ms)
{
    trace_t *t = ctx;
    json_array_append_new(t->calls[r],
                          json_pack("{s:s,s:f,s:f,s:f}", "op", subtract ? "subtract" : "add",
                                    "value", value, "weight", weight, "t_s", ms_to_s(t_ms)));
}

static int parse_model_config(ctx_t *c, json_t *in, tw_vpa_model_config_t *cfg)
{
    double iv;
    int64_t count;
    int rc;
    tw_vpa_model_config_init(cfg);
    if ((rc = get_double(c, in, "interval_s", "input", true, 0, 1e-3, 1e10, &iv)) != 0 ||
        (rc = get_int64(c, in, "interval_count", "input", false,
                        TW_VPA_DEFAULT_MEMORY_INTERVAL_COUNT, 1, 1000000, &count)) != 0 ||
        (rc = get_double(c, in, "oom_bump_up_ratio", "input", false,
                         TW_VPA_DEFAULT_OOM_BUMP_UP_RATIO, 0, 1e6, &cfg->oom_bump_up_ratio)) != 0 ||
        (rc = get_int64(c, in, "oom_min_bump_up_bytes", "input", false,
                        TW_VPA_DEFAULT_OOM_MIN_BUMP_UP_BYTES, 0, TW_VPA_MAX_RESOURCE_AMOUNT,
                        &cfg->oom_min_bump_up_bytes)) != 0) {
        return rc;
    }
    cfg->memory_interval_ms = llround(iv * 1000.0);
    cfg->memory_interval_count = (int)count;
    return 0;
}

static int run_peaks(ctx_t *c, json_t *in, json_t *o)
{
    tw_vpa_model_config_t cfg;
    json_t *events;
    int rc;
    if ((rc = parse_model_config(c, in, &cfg)) != 0 ||
        (rc = get_array(c, in, "events", "input", true, &events)) != 0) {
        return rc;
    }
    trace_t tr = {{json_array(), json_array()}};
    json_t *results = json_array();
    json_object_set_new(o, "results", results);
    json_object_set_new(o, "cpu_histogram_calls", tr.calls[TW_VPA_CPU]);
    json_object_set_new(o, "memory_histogram_calls", tr.calls[TW_VPA_MEMORY]);
    tw_vpa_aggregate_t *agg = tw_vpa_aggregate_new(&cfg, TW_VPA_TIME_ZERO_MS);
    tw_vpa_aggregate_set_trace(agg, on_call, &tr);
    tw_vpa_container_t ct;
    tw_vpa_container_init(&ct, agg);
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *p = idx(c, "input.events", i), *type;
        int64_t t, v;
        bool ok = false;
        if ((rc = get_string(c, ev, "type", p, true, &type)) != 0 ||
            (rc = get_time(c, ev, "t_s", p, true, 0, &t)) != 0) {
            break;
        }
        const char *vk = strcmp(type, "cpu") == 0      ? "usage_milli"
                         : strcmp(type, "memory") == 0 ? "usage_bytes"
                         : strcmp(type, "oom") == 0    ? "requested_memory_bytes"
                                                       : NULL;
        if (vk == NULL) {
            rc =
                bad(c, sub(c, p, "type"), "unknown event \"%s\" (expected cpu, memory, oom)", type);
            break;
        }
        if ((rc = get_int64(c, ev, vk, p, true, 0, -TW_VPA_MAX_RESOURCE_AMOUNT,
                            TW_VPA_MAX_RESOURCE_AMOUNT, &v)) != 0) {
            break;
        }
        if (vk[0] == 'u' && vk[6] == 'm') {
            ok = tw_vpa_container_add_cpu(&ct, v, t);
        } else if (vk[0] == 'u') {
            ok = tw_vpa_container_add_memory(&ct, v, t);
        } else {
            ok = tw_vpa_container_record_oom(&ct, t, v, NULL) == 0;
        }
        json_array_append_new(results, json_boolean(ok));
    }
    tw_vpa_aggregate_free(agg);
    return rc;
}

static int run_expiry(ctx_t *c, json_t *in, json_t *o)
{
    tw_vpa_model_config_t cfg;
    json_t *checks;
    int64_t count, created;
    tw_vpa_aggregate_checkpoint_t cp = {0};
    int rc;
    tw_vpa_model_config_init(&cfg);
    double iv;
    if ((rc = get_double(c, in, "interval_s", "input", true, 0, 1e-3, 1e10, &iv)) != 0 ||
        (rc = get_int64(c, in, "interval_count", "input", false,
                        TW_VPA_DEFAULT_MEMORY_INTERVAL_COUNT, 1, 1000000, &count)) != 0 ||
        (rc = get_int64(c, in, "total_samples_count", "input", false, 0, 0, INT64_MAX / 2,
                        &cp.total_samples)) != 0 ||
        (rc = get_time(c, in, "last_sample_start_s", "input", false, TW_VPA_TIME_ZERO_MS,
                       &cp.last_sample_ms)) != 0 ||
        (rc = get_time(c, in, "creation_time_s", "input", false, TW_VPA_TIME_ZERO_MS, &created)) !=
            0 ||
        (rc = get_array(c, in, "checks", "input", true, &checks)) != 0) {
        return rc;
    }
    cfg.memory_interval_ms = llround(iv * 1000.0);
    cfg.memory_interval_count = (int)count;
    tw_strlcpy(cp.version, TW_VPA_CHECKPOINT_VERSION, sizeof(cp.version));
    cp.first_sample_ms = cp.last_sample_ms;
    tw_vpa_aggregate_t *agg = tw_vpa_aggregate_new(&cfg, created);
    (void)tw_vpa_aggregate_load(agg, &cp, NULL);
    json_t *out = json_array();
    json_object_set_new(o, "expired", out);
    size_t i;
    json_t *ck;
    json_array_foreach(checks, i, ck)
    {
        int64_t now;
        if ((rc = get_time(c, ck, "now_s", idx(c, "input.checks", i), true, 0, &now)) != 0) {
            break;
        }
        json_array_append_new(out, json_boolean(tw_vpa_aggregate_is_expired(agg, now)));
    }
    tw_vpa_aggregate_free(agg);
    return rc;
}

/* ---- quantities, resource lists, recommendations ------------------------------------------ */

static int parse_quantity(ctx_t *c, json_t *v, const char *path, tw_vpa_resource_t r, int64_t *out)
{
    if (!json_is_string(v)) {
        return bad(c, path, "expected a quantity string");
    }
    tw_error_t e = {0};
    if (tw_vpa_quantity_parse(json_string_value(v), json_string_length(v), r, out, &e) != 0) {
        return bad(c, path, "%s", e.msg);
    }
    return 0;
}

static int parse_rlist(ctx_t *c, json_t *obj, const char *key, const char *path, tw_vpa_rlist_t *rl)
{
    json_t *j;
    int rc = get_object(c, obj, key, path, false, &j);
    memset(rl, 0, sizeof(*rl));
    if (rc != 0 || j == NULL) {
        return rc;
    }
    const char *p = sub(c, path, key), *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        int r = strcmp(k, "cpu") == 0 ? TW_VPA_CPU : strcmp(k, "memory") == 0 ? TW_VPA_MEMORY : -1;
        if (r < 0) {
            return bad(c, sub(c, p, k), "unknown resource (expected cpu or memory)");
        }
        if ((rc = parse_quantity(c, v, sub(c, p, k), (tw_vpa_resource_t)r, &rl->v[r])) != 0) {
            return rc;
        }
        rl->has[r] = true;
    }
    return 0;
}

static json_t *rlist_json(const tw_vpa_rlist_t *rl)
{
    json_t *o = json_object();
    for (int r = 0; r < TW_VPA_NRES; r++) {
        if (rl->has[r]) {
            char q[40];
            tw_vpa_quantity_format((tw_vpa_resource_t)r, rl->v[r], q, sizeof(q));
            json_object_set_new(o, tw_vpa_resource_name((tw_vpa_resource_t)r), json_string(q));
        }
    }
    return o;
}

static const char *const rec_keys[TW_VPA_NBOUNDS] = {"target", "lowerBound", "upperBound"};

/* {"containerRecommendations": [...]} into an arena array. */
static int parse_recommendation(ctx_t *c, json_t *j, const char *path, tw_vpa_container_rec_t **out,
                                size_t *n)
{
    json_t *arr;
    int rc;
    *out = NULL;
    *n = 0;
    if (!json_is_object(j)) {
        return bad(c, path, "expected an object or null");
    }
    if ((rc = get_array(c, j, "containerRecommendations", path, false, &arr)) != 0) {
        return rc;
    }
    size_t m = arr == NULL ? 0 : json_array_size(arr);
    *out = tw_arena_calloc(c->arena, (m + 1) * sizeof(**out));
    for (size_t i = 0; i < m; i++) {
        json_t *e = json_array_get(arr, i);
        const char *p = idx(c, sub(c, path, "containerRecommendations"), i);
        tw_vpa_container_rec_t *cr = &(*out)[i];
        if (!json_is_object(e)) {
            return bad(c, p, "expected an object");
        }
        if ((rc = get_string(c, e, "containerName", p, true, &cr->name)) != 0) {
            return rc;
        }
        for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
            if ((rc = parse_rlist(c, e, rec_keys[b], p, &cr->bound[b])) != 0) {
                return rc;
            }
        }
        if ((rc = parse_rlist(c, e, "uncappedTarget", p, &cr->uncapped)) != 0) {
            return rc;
        }
    }
    *n = m;
    return 0;
}

static json_t *recommendation_json(const tw_vpa_container_rec_t *recs, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:s}", "containerName", recs[i].name);
        for (int b = 0; b < TW_VPA_NBOUNDS; b++) {
            const tw_vpa_rlist_t *rl = &recs[i].bound[b];
            if (rl->has[0] || rl->has[1]) {
                json_object_set_new(e, rec_keys[b], rlist_json(rl));
            }
        }
        if (recs[i].uncapped.has[0] || recs[i].uncapped.has[1]) {
            json_object_set_new(e, "uncappedTarget", rlist_json(&recs[i].uncapped));
        }
        json_array_append_new(arr, e);
    }
    return json_pack("{s:o}", "containerRecommendations", arr);
}

static int parse_policy(ctx_t *c, json_t *j, const char *path, tw_vpa_policy_t *pol)
{
    json_t *arr;
    int rc;
    memset(pol, 0, sizeof(*pol));
    if (!json_is_object(j)) {
        return bad(c, path, "expected an object or null");
    }
    if ((rc = get_array(c, j, "containerPolicies", path, false, &arr)) != 0) {
        return rc;
    }
    size_t m = arr == NULL ? 0 : json_array_size(arr);
    tw_vpa_container_policy_t *cps = tw_arena_calloc(c->arena, (m + 1) * sizeof(*cps));
    for (size_t i = 0; i < m; i++) {
        json_t *e = json_array_get(arr, i);
        const char *p = idx(c, sub(c, path, "containerPolicies"), i), *mode, *cv;
        if (!json_is_object(e)) {
            return bad(c, p, "expected an object");
        }
        if ((rc = get_string(c, e, "containerName", p, true, &cps[i].name)) != 0 ||
            (rc = get_string(c, e, "mode", p, false, &mode)) != 0 ||
            (rc = get_string(c, e, "controlledValues", p, false, &cv)) != 0 ||
            (rc = parse_rlist(c, e, "minAllowed", p, &cps[i].min_allowed)) != 0 ||
            (rc = parse_rlist(c, e, "maxAllowed", p, &cps[i].max_allowed)) != 0) {
            return rc;
        }
        if (mode != NULL && strcmp(mode, "Off") != 0 && strcmp(mode, "Auto") != 0) {
            return bad(c, sub(c, p, "mode"), "expected Auto or Off, got \"%s\"", mode);
        }
        if (cv != NULL && strcmp(cv, "RequestsOnly") != 0 && strcmp(cv, "RequestsAndLimits") != 0) {
            return bad(c, sub(c, p, "controlledValues"),
                       "expected RequestsAndLimits or RequestsOnly, got \"%s\"", cv);
        }
        cps[i].mode_off = mode != NULL && strcmp(mode, "Off") == 0;
        cps[i].requests_only = cv != NULL && strcmp(cv, "RequestsOnly") == 0;
    }
    pol->containers = cps;
    pol->n = m;
    return 0;
}

static int parse_limit_range(ctx_t *c, json_t *j, const char *path, tw_vpa_limit_range_t *lr)
{
    int rc;
    memset(lr, 0, sizeof(*lr));
    if (!json_is_object(j)) {
        return bad(c, path, "expected an object or null");
    }
    if ((rc = parse_rlist(c, j, "min", path, &lr->min)) != 0 ||
        (rc = parse_rlist(c, j, "max", path, &lr->max)) != 0 ||
        (rc = parse_rlist(c, j, "default", path, &lr->def)) != 0) {
        return rc;
    }
    return 0;
}

/* pod.containers[] with status resources folded in (they replace requests AND limits). */
static int parse_pod(ctx_t *c, json_t *pod, const char *path, tw_vpa_pod_spec_container_t **out,
                     size_t *n)
{
    json_t *cs, *st;
    int rc;
    if (!json_is_object(pod)) {
        return bad(c, path, "expected an object");
    }
    if ((rc = get_array(c, pod, "containers", path, true, &cs)) != 0 ||
        (rc = get_array(c, pod, "containerStatuses", path, false, &st)) != 0) {
        return rc;
    }
    size_t m = json_array_size(cs);
    tw_vpa_pod_spec_container_t *pc = tw_arena_calloc(c->arena, (m + 1) * sizeof(*pc));
    for (size_t i = 0; i < m; i++) {
        json_t *e = json_array_get(cs, i);
        const char *p = idx(c, sub(c, path, "containers"), i);
        if (!json_is_object(e)) {
            return bad(c, p, "expected an object");
        }
        if ((rc = get_string(c, e, "name", p, true, &pc[i].name)) != 0 ||
            (rc = parse_rlist(c, e, "requests", p, &pc[i].requests)) != 0 ||
            (rc = parse_rlist(c, e, "limits", p, &pc[i].limits)) != 0) {
            return rc;
        }
    }
    for (size_t k = 0; st != NULL && k < json_array_size(st); k++) {
        json_t *e = json_array_get(st, k), *res;
        const char *p = idx(c, sub(c, path, "containerStatuses"), k), *name;
        if (!json_is_object(e)) {
            return bad(c, p, "expected an object");
        }
        if ((rc = get_string(c, e, "name", p, true, &name)) != 0 ||
            (rc = get_object(c, e, "resources", p, false, &res)) != 0) {
            return rc;
        }
        for (size_t i = 0; res != NULL && i < m; i++) {
            if (strcmp(pc[i].name, name) == 0) {
                const char *rp = sub(c, p, "resources");
                if ((rc = parse_rlist(c, res, "requests", rp, &pc[i].requests)) != 0 ||
                    (rc = parse_rlist(c, res, "limits", rp, &pc[i].limits)) != 0) {
                    return rc;
                }
            }
        }
    }
    *out = pc;
    *n = m;
    return 0;
}

static int run_capping(ctx_t *c, json_t *in, json_t *o)
{
    const char *fn;
    int rc = get_string(c, in, "function", "input", true, &fn);
    if (rc != 0) {
        return rc;
    }
    tw_vpa_container_rec_t *recs = NULL;
    size_t n = 0;
    json_t *jr = field(in, "recommendation"), *jp = field(in, "policy");
    tw_vpa_policy_t pol;
    if ((jr != NULL &&
         (rc = parse_recommendation(c, jr, "input.recommendation", &recs, &n)) != 0) ||
        (jp != NULL && (rc = parse_policy(c, jp, "input.policy", &pol)) != 0)) {
        return rc;
    }
    if (strcmp(fn, "ApplyVPAPolicy") == 0) {
        tw_vpa_rlist_t gmax;
        if ((rc = parse_rlist(c, in, "global_max_allowed", "input", &gmax)) != 0) {
            return rc;
        }
        json_object_set_new(o, "error", json_false());
        if (jr == NULL) {
            json_object_set_new(o, "recommendation", json_null());
            return 0;
        }
        tw_vpa_policy_apply(recs, n, jp != NULL ? &pol : NULL,
                            field(in, "global_max_allowed") != NULL ? &gmax : NULL);
        json_object_set_new(o, "recommendation", recommendation_json(recs, n));
        return 0;
    }
    tw_vpa_pod_spec_container_t *pod = NULL;
    size_t n_pod = 0;
    json_t *jpod = field(in, "pod"), *jlr;
    tw_vpa_limit_range_t plr, clr;
    if (jpod != NULL && (rc = parse_pod(c, jpod, "input.pod", &pod, &n_pod)) != 0) {
        return rc;
    }
    if ((jlr = field(in, "pod_limit_range")) != NULL &&
        (rc = parse_limit_range(c, jlr, "input.pod_limit_range", &plr)) != 0) {
        return rc;
    }
    if (strcmp(fn, "applyPodLimitRange") == 0) {
        const char *res, *fld;
        if ((rc = get_string(c, in, "resource", "input", true, &res)) != 0 ||
            (rc = get_string(c, in, "field", "input", true, &fld)) != 0) {
            return rc;
        }
        int r = strcmp(res, "cpu") == 0      ? TW_VPA_CPU
                : strcmp(res, "memory") == 0 ? TW_VPA_MEMORY
                                             : -1;
        int b = strcmp(fld, "target") == 0       ? TW_VPA_TARGET
                : strcmp(fld, "lowerBound") == 0 ? TW_VPA_LOWER
                : strcmp(fld, "upperBound") == 0 ? TW_VPA_UPPER
                                                 : -1;
        if (r < 0 || b < 0 || jpod == NULL || jlr == NULL || jr == NULL) {
            return bad(c, "input",
                       "applyPodLimitRange needs resource cpu|memory, field "
                       "target|lowerBound|upperBound, a pod, a pod_limit_range and "
                       "a recommendation");
        }
        tw_vpa_pod_limit_range_apply(recs, n, pod, n_pod, &plr, (tw_vpa_resource_t)r,
                                     (tw_vpa_bound_t)b);
        json_object_set_new(o, "recommendation", recommendation_json(recs, n));
        return 0;
    }
    if (strcmp(fn, "Apply") != 0) {
        return bad(c, "input.function",
                   "unknown function \"%s\" (expected Apply, ApplyVPAPolicy, "
                   "applyPodLimitRange)",
                   fn);
    }
    bool vpa_nil = false;
    json_t *jclr = field(in, "container_limit_range");
    if ((rc = get_bool(c, in, "vpa_is_nil", "input", false, &vpa_nil)) != 0 ||
        (jclr != NULL &&
         (rc = parse_limit_range(c, jclr, "input.container_limit_range", &clr)) != 0)) {
        return rc;
    }
    if (vpa_nil || jpod == NULL) {
        json_object_set_new(o, "error", json_true());
        json_object_set_new(
            o, "error_message",
            json_string(vpa_nil ? "cannot process nil vpa" : "cannot process nil pod"));
        return 0;
    }
    tw_vpa_container_rec_t *out = tw_arena_calloc(c->arena, (n + n_pod + 1) * sizeof(*out));
    tw_vpa_annotations_t *ann = tw_arena_calloc(c->arena, (n + n_pod + 1) * sizeof(*ann));
    size_t n_out = 0;
    int got =
        tw_vpa_cap_apply(recs, n, jr != NULL, jp != NULL ? &pol : NULL, pod, n_pod,
                         jclr != NULL ? &clr : NULL, jlr != NULL ? &plr : NULL, out, ann, &n_out);
    json_object_set_new(o, "error", json_false());
    json_object_set_new(o, "recommendation", got ? recommendation_json(out, n_out) : json_null());
    json_t *aj = json_object();
    for (size_t i = 0; i < n_out; i++) {
        if (ann[i].n == 0) {
            continue;
        }
        json_t *l = json_array();
        for (size_t k = 0; k < ann[i].n; k++) {
            json_array_append_new(l, json_string(ann[i].text[k]));
        }
        json_object_set_new(aj, out[i].name, l);
    }
    json_object_set_new(o, "annotations", aj);
    return 0;
}

static int opt_quantity(ctx_t *c, json_t *in, const char *key, tw_vpa_resource_t r, int64_t *v,
                        const int64_t **p)
{
    json_t *j = field(in, key);
    *p = NULL;
    if (j == NULL) {
        return 0;
    }
    int rc = parse_quantity(c, j, sub(c, "input", key), r, v);
    if (rc == 0) {
        *p = v;
    }
    return rc;
}

static int run_proportional(ctx_t *c, json_t *in, json_t *o)
{
    const char *fn = NULL, *res = NULL;
    int rc = get_string(c, in, "function", "input", false, &fn);
    if (rc != 0) {
        return rc;
    }
    char q[40];
    if (fn != NULL && strcmp(fn, "scaleQuantityProportionallyCPU") == 0) {
        int64_t v[3];
        const int64_t *p[3];
        const char *rounding = NULL;
        if ((rc = opt_quantity(c, in, "scaled_quantity", TW_VPA_CPU, &v[0], &p[0])) != 0 ||
            (rc = opt_quantity(c, in, "scale_base", TW_VPA_CPU, &v[1], &p[1])) != 0 ||
            (rc = opt_quantity(c, in, "scale_result", TW_VPA_CPU, &v[2], &p[2])) != 0 ||
            (rc = get_string(c, in, "rounding", "input", false, &rounding)) != 0) {
            return rc;
        }
        if (p[0] == NULL || p[1] == NULL || p[2] == NULL) {
            return bad(c, "input", "scaled_quantity, scale_base and scale_result are required");
        }
        int64_t out;
        tw_vpa_scale_result_t sr = tw_vpa_scale_cpu(
            v[0], v[1], v[2], rounding != NULL && strcmp(rounding, "up") == 0, &out);
        tw_vpa_quantity_format(TW_VPA_CPU, out, q, sizeof(q));
        json_object_set_new(o, "result", json_string(q));
        json_object_set_new(o, "result_type",
                            json_string(sr == TW_VPA_SCALE_OK       ? "success"
                                        : sr == TW_VPA_SCALE_CAPPED ? "capped"
                                                                    : "divisionByZero"));
        return 0;
    }
    if ((rc = get_string(c, in, "resource", "input", true, &res)) != 0) {
        return rc;
    }
    int r = strcmp(res, "cpu") == 0 ? TW_VPA_CPU : strcmp(res, "memory") == 0 ? TW_VPA_MEMORY : -1;
    if (r < 0) {
        return bad(c, "input.resource", "expected cpu or memory");
    }
    int64_t v[4];
    const int64_t *p[4];
    static const char *const keys[4] = {"original_limit", "original_request", "recommended_request",
                                        "default_limit"};
    for (int k = 0; k < 4; k++) {
        if ((rc = opt_quantity(c, in, keys[k], (tw_vpa_resource_t)r, &v[k], &p[k])) != 0) {
            return rc;
        }
    }
    tw_vpa_limit_result_t lr;
    tw_vpa_proportional_limit((tw_vpa_resource_t)r, p[0], p[1], p[2], p[3], &lr);
    if (lr.has_limit && !lr.saturated) {
        tw_vpa_quantity_format((tw_vpa_resource_t)r, lr.limit, q, sizeof(q));
        json_object_set_new(o, "limit", json_string(q));
    } else {
        json_object_set_new(o, "limit", json_null());
    }
    json_object_set_new(o, "saturated", json_boolean(lr.saturated));
    json_object_set_new(o, "annotation", json_boolean(lr.annotation));
    return 0;
}

/* ---- updater_eligibility ------------------------------------------------------------------- */

/* A recommendation that may be null: *has says which. */
static int parse_rec_opt(ctx_t *c, json_t *obj, const char *key, const char *path,
                         tw_vpa_container_rec_t **recs, size_t *n, bool *has)
{
    json_t *j = field(obj, key);
    *recs = NULL;
    *n = 0;
    *has = j != NULL;
    return j == NULL ? 0 : parse_recommendation(c, j, sub(c, path, key), recs, n);
}

static int parse_statuses(ctx_t *c, json_t *pod, const char *path, tw_vpa_updater_pod_t *p)
{
    json_t *st;
    int rc = get_array(c, pod, "containerStatuses", path, false, &st);
    if (rc != 0 || st == NULL) {
        return rc;
    }
    size_t m = json_array_size(st);
    tw_vpa_container_status_t *s = tw_arena_calloc(c->arena, (m + 1) * sizeof(*s));
    for (size_t k = 0; k < m; k++) {
        json_t *e = json_array_get(st, k), *lt;
        const char *sp = idx(c, sub(c, path, "containerStatuses"), k);
        if (!json_is_object(e)) {
            return bad(c, sp, "expected an object");
        }
        if ((rc = get_string(c, e, "name", sp, true, &s[k].name)) != 0 ||
            (rc = get_object(c, e, "lastTerminationState", sp, false, &lt)) != 0) {
            return rc;
        }
        if (lt != NULL) {
            const char *lp = sub(c, sp, "lastTerminationState");
            if ((rc = get_string(c, lt, "reason", lp, false, &s[k].last_termination)) != 0 ||
                (rc = get_time(c, lt, "started_at_s", lp, true, 0, &s[k].last_started_ms)) != 0 ||
                (rc = get_time(c, lt, "finished_at_s", lp, true, 0, &s[k].last_finished_ms)) != 0) {
                return rc;
            }
            if (s[k].last_termination == NULL) {
                s[k].last_termination = ""; /* terminated, reason unknown */
            }
        }
    }
    p->statuses = s;
    p->n_statuses = m;
    return 0;
}

static int parse_conditions(ctx_t *c, json_t *pod, const char *path, tw_vpa_updater_pod_t *p)
{
    json_t *arr;
    int rc = get_array(c, pod, "conditions", path, false, &arr);
    if (rc != 0 || arr == NULL) {
        return rc;
    }
    size_t m = json_array_size(arr);
    tw_vpa_pod_condition_t *cs = tw_arena_calloc(c->arena, (m + 1) * sizeof(*cs));
    for (size_t k = 0; k < m; k++) {
        json_t *e = json_array_get(arr, k);
        const char *cp = idx(c, sub(c, path, "conditions"), k), *status;
        if (!json_is_object(e)) {
            return bad(c, cp, "expected an object");
        }
        if ((rc = get_string(c, e, "type", cp, true, &cs[k].type)) != 0 ||
            (rc = get_string(c, e, "status", cp, true, &status)) != 0 ||
            (rc = get_string(c, e, "reason", cp, false, &cs[k].reason)) != 0 ||
            (rc = get_string(c, e, "message", cp, false, &cs[k].message)) != 0) {
            return rc;
        }
        cs[k].status_true = strcmp(status, "True") == 0;
    }
    p->conditions = cs;
    p->n_conditions = m;
    return 0;
}

/* The updater's pod object (README §1.10). */
static int parse_updater_pod(ctx_t *c, json_t *pod, const char *path, tw_vpa_updater_pod_t *p)
{
    json_t *ann, *owner;
    const char *phase;
    int rc;
    memset(p, 0, sizeof(*p));
    if (!json_is_object(pod)) {
        return bad(c, path, "expected an object");
    }
    if ((rc = get_string(c, pod, "name", path, true, &p->name)) != 0 ||
        (rc = get_string(c, pod, "phase", path, false, &phase)) != 0 ||
        (rc = get_object(c, pod, "annotations", path, false, &ann)) != 0 ||
        (rc = get_object(c, pod, "owner", path, false, &owner)) != 0 ||
        (rc = parse_statuses(c, pod, path, p)) != 0 ||
        (rc = parse_conditions(c, pod, path, p)) != 0) {
        return rc;
    }
    if (field(pod, "containers") != NULL) {
        tw_vpa_pod_spec_container_t *pc;
        if ((rc = parse_pod(c, pod, path, &pc, &p->n_containers)) != 0) {
            return rc;
        }
        p->containers = pc;
    }
    p->pending = phase != NULL && strcmp(phase, "Pending") == 0;
    p->has_start_time = field(pod, "start_time_s") != NULL;
    if ((rc = get_time(c, pod, "start_time_s", path, false, 0, &p->start_ms)) != 0) {
        return rc;
    }
    const char *k;
    json_t *v;
    json_object_foreach(ann, k, v)
    {
        const char *ap = sub(c, sub(c, path, "annotations"), k);
        if (!json_is_string(v)) {
            return bad(c, ap, "expected a string");
        }
        if (strcmp(k, "vpaObservedContainers") == 0) {
            p->observed_containers =
                tw_arena_strndup(c->arena, json_string_value(v), json_string_length(v));
        } else if (strncmp(k, "vpaCpuStartupBoost/", 19) == 0) {
            p->cpu_boost = true;
        }
    }
    if (owner != NULL) {
        const char *op = sub(c, path, "owner");
        if ((rc = get_string(c, owner, "kind", op, true, &p->owner_kind)) != 0 ||
            (rc = get_string(c, owner, "name", op, true, &p->owner_name)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_mode(ctx_t *c, json_t *vpa, const char *path, tw_vpa_update_mode_t *mode)
{
    const char *s;
    int rc = get_string(c, vpa, "update_mode", path, false, &s);
    *mode = TW_VPA_UPDATE_RECREATE;
    if (rc != 0 || s == NULL) {
        return rc;
    }
    tw_error_t e = {0};
    if (tw_vpa_update_mode_parse(s, mode, &e) != 0) {
        return bad(c, sub(c, path, "update_mode"), "%s", e.msg);
    }
    return 0;
}

static int parse_priority(ctx_t *c, json_t *obj, const char *key, tw_vpa_pod_priority_t *pr)
{
    json_t *j;
    const char *p = sub(c, "input", key);
    int rc = get_object(c, obj, key, "input", true, &j);
    if (rc != 0 ||
        (rc = get_bool(c, j, "outside_recommended_range", p, false, &pr->outside_range)) != 0 ||
        (rc = get_bool(c, j, "scale_up", p, false, &pr->scale_up)) != 0) {
        return rc;
    }
    return get_double(c, j, "resource_diff", p, true, 0, 0, 1e300, &pr->resource_diff);
}

static json_t *priority_json(const tw_vpa_pod_priority_t *pr)
{
    return json_pack("{s:b,s:b,s:f}", "outside_recommended_range", pr->outside_range, "scale_up",
                     pr->scale_up, "resource_diff", pr->resource_diff);
}

static int parse_pods(ctx_t *c, json_t *in, tw_vpa_updater_pod_t **pods, size_t *n)
{
    json_t *arr;
    int rc = get_array(c, in, "pods", "input", true, &arr);
    if (rc != 0) {
        return rc;
    }
    *n = json_array_size(arr);
    *pods = tw_arena_calloc(c->arena, (*n + 1) * sizeof(**pods));
    for (size_t i = 0; i < *n; i++) {
        if ((rc = parse_updater_pod(c, json_array_get(arr, i), idx(c, "input.pods", i),
                                    &(*pods)[i])) != 0) {
            return rc;
        }
    }
    return 0;
}

static int run_eviction_admission(ctx_t *c, json_t *in, json_t *o)
{
    tw_vpa_updater_pod_t pod;
    tw_vpa_container_rec_t *recs;
    size_t n_recs;
    bool has_rec;
    json_t *jp, *arr;
    int rc;
    if ((rc = get_object(c, in, "pod", "input", true, &jp)) != 0 ||
        (rc = parse_updater_pod(c, jp, "input.pod", &pod)) != 0 ||
        (rc = parse_rec_opt(c, in, "recommendation", "input", &recs, &n_recs, &has_rec)) != 0 ||
        (rc = get_array(c, in, "eviction_requirements", "input", false, &arr)) != 0) {
        return rc;
    }
    size_t m = arr == NULL ? 0 : json_array_size(arr);
    tw_vpa_eviction_requirement_t *reqs = tw_arena_calloc(c->arena, (m + 1) * sizeof(*reqs));
    for (size_t i = 0; i < m; i++) {
        json_t *e = json_array_get(arr, i), *res;
        const char *p = idx(c, "input.eviction_requirements", i), *ch;
        if (!json_is_object(e)) {
            return bad(c, p, "expected an object");
        }
        if ((rc = get_array(c, e, "resources", p, true, &res)) != 0 ||
            (rc = get_string(c, e, "changeRequirement", p, true, &ch)) != 0) {
            return rc;
        }
        if (strcmp(ch, "TargetHigherThanRequests") == 0) {
            reqs[i].change = TW_VPA_TARGET_HIGHER_THAN_REQUESTS;
        } else if (strcmp(ch, "TargetLowerThanRequests") == 0) {
            reqs[i].change = TW_VPA_TARGET_LOWER_THAN_REQUESTS;
        } else {
            return bad(c, sub(c, p, "changeRequirement"),
                       "expected TargetHigherThanRequests or TargetLowerThanRequests");
        }
        size_t k;
        json_t *rn;
        json_array_foreach(res, k, rn)
        {
            const char *s = json_string_value(rn);
            if (s != NULL && strcmp(s, "cpu") == 0) {
                reqs[i].resources[TW_VPA_CPU] = true;
            } else if (s != NULL && strcmp(s, "memory") == 0) {
                reqs[i].resources[TW_VPA_MEMORY] = true;
            } else {
                return bad(c, idx(c, sub(c, p, "resources"), k), "expected cpu or memory");
            }
        }
    }
    bool admit = tw_vpa_eviction_admit(&pod, reqs, m, arr != NULL, has_rec ? recs : NULL, n_recs);
    json_object_set_new(o, "admit", json_boolean(admit));
    return 0;
}

static int parse_gates(ctx_t *c, json_t *in, bool *in_place, bool *per_vpa)
{
    json_t *g;
    int rc = get_object(c, in, "feature_gates", "input", false, &g);
    if (rc != 0 || (rc = get_bool(c, g, "InPlace", "input.feature_gates", false, in_place)) != 0) {
        return rc;
    }
    return get_bool(c, g, "PerVPAConfig", "input.feature_gates", false, per_vpa);
}

static int run_calculator(ctx_t *c, json_t *in, json_t *o)
{
    json_t *jc, *jv, *fake, *inf, *adm;
    tw_vpa_update_config_t cfg;
    tw_vpa_update_vpa_t vpa = {0};
    tw_vpa_policy_t pol;
    tw_vpa_container_rec_t *vrec = NULL, *prec = NULL;
    size_t n_vrec = 0, n_prec = 0;
    bool has_vrec = false, has_prec = false, gate_in_place;
    tw_vpa_updater_pod_t *pods;
    size_t n_pods;
    int64_t now, lifetime_ms, oom_ms;
    double lifetime_s, oom_s;
    int rc;
    tw_vpa_update_config_init(&cfg);
    if ((rc = get_object(c, in, "config", "input", true, &jc)) != 0 ||
        (rc = get_double(c, jc, "min_change_priority", "input.config", true, 0, 0, 1e300,
                         &cfg.min_change_priority)) != 0 ||
        (rc = get_double(c, jc, "pod_lifetime_update_threshold_s", "input.config", true, 0, 0,
                         MAX_ABS_SECONDS, &lifetime_s)) != 0 ||
        (rc = get_double(c, jc, "evict_after_oom_threshold_s", "input.config", true, 0, 0,
                         MAX_ABS_SECONDS, &oom_s)) != 0 ||
        (rc = get_object(c, in, "vpa", "input", false, &jv)) != 0 ||
        (rc = parse_pods(c, in, &pods, &n_pods)) != 0 ||
        (rc = get_object(c, in, "fake_priorities", "input", false, &fake)) != 0 ||
        (rc = get_object(c, in, "infeasible_attempts", "input", false, &inf)) != 0 ||
        (rc = get_time(c, in, "now_s", "input", true, 0, &now)) != 0 ||
        (rc = parse_gates(c, in, &gate_in_place, &cfg.per_vpa_config)) != 0) {
        return rc;
    }
    lifetime_ms = llround(lifetime_s * 1000.0);
    oom_ms = llround(oom_s * 1000.0);
    cfg.pod_lifetime_update_threshold_ms = lifetime_ms;
    cfg.evict_after_oom_threshold_ms = oom_ms;
    if (jv != NULL) {
        json_t *jp = field(jv, "resource_policy");
        if ((rc = parse_mode(c, jv, "input.vpa", &vpa.mode)) != 0 ||
            (rc = parse_rec_opt(c, jv, "recommendation", "input.vpa", &vrec, &n_vrec, &has_vrec)) !=
                0 ||
            (jp != NULL && (rc = parse_policy(c, jp, "input.vpa.resource_policy", &pol)) != 0)) {
            return rc;
        }
        vpa.policy = jp != NULL ? &pol : NULL;
        double s;
        vpa.has_evict_after_oom = field(jv, "evict_after_oom_seconds") != NULL;
        if ((rc = get_double(c, jv, "evict_after_oom_seconds", "input.vpa", false, 0, 0,
                             MAX_ABS_SECONDS, &s)) != 0) {
            return rc;
        }
        vpa.evict_after_oom_ms = llround(s * 1000.0);
    } else if (n_pods > 0) {
        return bad(c, "input.vpa", "null with pods to add");
    }
    if ((rc = parse_rec_opt(c, in, "processed_recommendation", "input", &prec, &n_prec,
                            &has_prec)) != 0) {
        return rc;
    }
    if (!has_prec) {
        prec = vrec;
        n_prec = n_vrec;
        has_prec = has_vrec;
    }
    const char *only = NULL;
    adm = field(in, "admission");
    if (adm != NULL && json_is_object(adm)) {
        if ((rc = get_string(c, adm, "only_pod", "input.admission", true, &only)) != 0) {
            return rc;
        }
    } else if (!(json_is_string(adm) && strcmp(json_string_value(adm), "all") == 0)) {
        return bad(c, "input.admission", "expected \"all\" or {\"only_pod\": name}");
    }

    tw_vpa_update_candidate_t *cand = tw_arena_calloc(c->arena, (n_pods + 1) * sizeof(*cand));
    size_t n_cand = 0;
    for (size_t i = 0; i < n_pods; i++) {
        const tw_vpa_updater_pod_t *p = &pods[i];
        tw_vpa_pod_priority_t prio;
        tw_vpa_container_rec_t *irec = NULL;
        size_t n_irec = 0;
        bool has_irec = false;
        if (field(fake, p->name) != NULL) {
            if ((rc = parse_priority(c, fake, p->name, &prio)) != 0) {
                return rc;
            }
        } else {
            tw_vpa_priority_get(p, has_prec ? prec : NULL, n_prec, &prio);
        }
        if (inf != NULL && (rc = parse_rec_opt(c, inf, p->name, "input.infeasible_attempts", &irec,
                                               &n_irec, &has_irec)) != 0) {
            return rc;
        }
        if (tw_vpa_update_check(&cfg, &vpa, p, &prio, has_prec ? prec : NULL, n_prec, irec, n_irec,
                                has_irec, now, NULL) == TW_VPA_UPDATE_ACCEPTED) {
            cand[n_cand].index = i;
            cand[n_cand].priority = prio;
            n_cand++;
        }
    }
    tw_vpa_update_sort(cand, n_cand);
    json_t *names = json_array();
    for (size_t k = 0; k < n_cand; k++) {
        const char *name = pods[cand[k].index].name;
        if (only == NULL || strcmp(only, name) == 0) {
            json_array_append_new(names, json_string(name));
        }
    }
    json_object_set_new(o, "pods", names);
    return 0;
}

static int run_restriction(ctx_t *c, json_t *in, json_t *o)
{
    json_t *jc, *jv, *jcm, *ctl, *last, *acts;
    tw_vpa_restriction_config_t cfg;
    tw_vpa_update_mode_t mode, cm_mode;
    tw_vpa_container_rec_t *rec;
    size_t n_rec, n_pods;
    bool has_rec, per_vpa;
    tw_vpa_updater_pod_t *pods;
    int64_t now, min_rep = 0, cm_min_rep = 0, mr;
    int rc;
    tw_vpa_restriction_config_init(&cfg);
    if ((rc = get_object(c, in, "config", "input", true, &jc)) != 0 ||
        (rc = get_int64(c, jc, "min_replicas", "input.config", true, 0, 0, INT32_MAX, &mr)) != 0 ||
        (rc = get_double(c, jc, "eviction_tolerance", "input.config", true, 0, 0, 1e6,
                         &cfg.eviction_tolerance)) != 0 ||
        (rc = get_bool(c, jc, "in_place_skip_disruption_budget", "input.config", false,
                       &cfg.in_place_skip_disruption_budget)) != 0 ||
        (rc = get_object(c, in, "vpa", "input", true, &jv)) != 0 ||
        (rc = parse_mode(c, jv, "input.vpa", &mode)) != 0 ||
        (rc = get_int64(c, jv, "min_replicas", "input.vpa", false, 0, 0, INT32_MAX, &min_rep)) !=
            0 ||
        (rc = parse_rec_opt(c, jv, "recommendation", "input.vpa", &rec, &n_rec, &has_rec)) != 0 ||
        (rc = get_object(c, jv, "vpa_for_creator_maps", "input.vpa", false, &jcm)) != 0 ||
        (rc = get_array(c, in, "controllers", "input", true, &ctl)) != 0 ||
        (rc = parse_pods(c, in, &pods, &n_pods)) != 0 ||
        (rc = get_time(c, in, "clock_s", "input", true, 0, &now)) != 0 ||
        (rc = get_object(c, in, "last_in_place_attempt_s", "input", false, &last)) != 0 ||
        (rc = get_array(c, in, "actions", "input", true, &acts)) != 0 ||
        (rc = parse_gates(c, in, &cfg.gate_in_place, &per_vpa)) != 0) {
        return rc;
    }
    cfg.min_replicas = (int)mr;
    bool has_min = field(jv, "min_replicas") != NULL, cm_has_min = has_min;
    cm_mode = mode;
    cm_min_rep = min_rep;
    if (jcm != NULL) {
        const char *p = "input.vpa.vpa_for_creator_maps";
        if ((rc = parse_mode(c, jcm, p, &cm_mode)) != 0 ||
            (rc = get_int64(c, jcm, "min_replicas", p, false, 0, 0, INT32_MAX, &cm_min_rep)) != 0) {
            return rc;
        }
        cm_has_min = field(jcm, "min_replicas") != NULL;
    }
    size_t n_own = json_array_size(ctl);
    tw_vpa_replica_owner_t *own = tw_arena_calloc(c->arena, (n_own + 1) * sizeof(*own));
    for (size_t i = 0; i < n_own; i++) {
        json_t *e = json_array_get(ctl, i);
        const char *p = idx(c, "input.controllers", i);
        if (!json_is_object(e)) {
            return bad(c, p, "expected an object");
        }
        const char *count_key = field(e, "number_ready") != NULL ? "number_ready" : "replicas";
        if ((rc = get_string(c, e, "kind", p, true, &own[i].kind)) != 0 ||
            (rc = get_string(c, e, "name", p, true, &own[i].name)) != 0 ||
            (rc = get_int64(c, e, count_key, p, false, 0, 0, INT32_MAX, &own[i].replicas)) != 0) {
            return rc;
        }
    }
    for (size_t i = 0; i < n_pods; i++) {
        if (field(last, pods[i].name) != NULL) {
            pods[i].has_last_in_place_attempt = true;
            if ((rc = get_time(c, last, pods[i].name, "input.last_in_place_attempt_s", true, 0,
                               &pods[i].last_in_place_attempt_ms)) != 0) {
                return rc;
            }
        }
    }
    int cm_min = (int)cm_min_rep;
    tw_vpa_restriction_t *r = tw_vpa_restriction_new(&cfg, pods, n_pods, own, n_own, cm_mode,
                                                     cm_has_min ? &cm_min : NULL);
    json_t *results = json_array();
    for (size_t k = 0; k < json_array_size(acts) && rc == 0; k++) {
        json_t *a = json_array_get(acts, k);
        const char *p = idx(c, "input.actions", k), *op, *name;
        size_t i = 0;
        if (!json_is_object(a)) {
            rc = bad(c, p, "expected an object");
            break;
        }
        if ((rc = get_string(c, a, "op", p, true, &op)) != 0 ||
            (rc = get_string(c, a, "pod", p, true, &name)) != 0) {
            break;
        }
        while (i < n_pods && strcmp(pods[i].name, name) != 0) {
            i++;
        }
        if (i == n_pods) {
            rc = bad(c, sub(c, p, "pod"), "no pod named \"%s\"", name);
            break;
        }
        if (strcmp(op, "can_evict") == 0) {
            json_array_append_new(results, json_boolean(tw_vpa_restriction_can_evict(r, i, now)));
        } else if (strcmp(op, "evict") == 0) {
            bool ok = tw_vpa_restriction_evict_check(r, i, now, NULL) == 0;
            if (ok) {
                tw_vpa_restriction_evicted(r, i);
            }
            json_array_append_new(results, json_boolean(ok));
        } else if (strcmp(op, "can_in_place_update") == 0) {
            tw_vpa_container_rec_t *irec;
            size_t n_irec;
            bool has_irec;
            if ((rc = parse_rec_opt(c, a, "infeasible_attempt", p, &irec, &n_irec, &has_irec)) !=
                0) {
                break;
            }
            tw_vpa_in_place_decision_t d = tw_vpa_restriction_can_in_place(
                r, i, mode, has_rec ? rec : NULL, n_rec, has_rec, irec, n_irec, has_irec, now);
            json_array_append_new(results, json_string(tw_vpa_in_place_decision_name(d)));
        } else if (strcmp(op, "in_place_update") == 0) {
            bool ok = tw_vpa_restriction_in_place_check(r, i, NULL) == 0;
            if (ok) {
                tw_vpa_restriction_in_place_done(r, i, now);
            }
            json_array_append_new(results, json_boolean(ok));
        } else {
            rc = bad(c, sub(c, p, "op"),
                     "expected can_evict, evict, can_in_place_update or in_place_update");
        }
    }
    tw_vpa_restriction_free(r);
    if (rc != 0) {
        json_decref(results);
        return rc;
    }
    json_object_set_new(o, "results", results);
    return 0;
}

static int run_updater(ctx_t *c, json_t *in, json_t *o)
{
    const char *fn;
    int rc = get_string(c, in, "function", "input", true, &fn);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(fn, "priority") == 0) {
        json_t *jp;
        tw_vpa_updater_pod_t pod;
        tw_vpa_container_rec_t *recs;
        size_t n;
        bool has;
        tw_vpa_pod_priority_t pr;
        if ((rc = get_object(c, in, "pod", "input", true, &jp)) != 0 ||
            (rc = parse_updater_pod(c, jp, "input.pod", &pod)) != 0 ||
            (rc = parse_rec_opt(c, in, "recommendation", "input", &recs, &n, &has)) != 0) {
            return rc;
        }
        tw_vpa_priority_get(&pod, has ? recs : NULL, n, &pr);
        json_t *pj = priority_json(&pr);
        json_object_update(o, pj);
        json_decref(pj);
        return 0;
    }
    if (strcmp(fn, "priority_less") == 0) {
        tw_vpa_pod_priority_t a, b;
        if ((rc = parse_priority(c, in, "prio", &a)) != 0 ||
            (rc = parse_priority(c, in, "other", &b)) != 0) {
            return rc;
        }
        json_object_set_new(o, "prio_less_other", json_boolean(tw_vpa_priority_less(&a, &b)));
        json_object_set_new(o, "other_less_prio", json_boolean(tw_vpa_priority_less(&b, &a)));
        return 0;
    }
    if (strcmp(fn, "eviction_admission") == 0) {
        return run_eviction_admission(c, in, o);
    }
    if (strcmp(fn, "calculator") == 0) {
        return run_calculator(c, in, o);
    }
    if (strcmp(fn, "restriction") == 0) {
        return run_restriction(c, in, o);
    }
    return bad(c, "input.function",
               "unknown function \"%s\" (expected priority, priority_less, eviction_admission, "
               "calculator or restriction)",
               fn);
}

/* ---- checking ------------------------------------------------------------------------------ */

static bool numbers_equal(json_t *a, json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        return json_integer_value(a) == json_integer_value(b);
    }
    double x = json_number_value(a), y = json_number_value(b);
    return x == y || fabs(x - y) <= 1e-9 * fmax(fabs(x), fabs(y));
}

/* Generic equality: numbers by value, objects by exact key set, arrays element-wise where a
 * null expected element is "not asserted". */
static bool match(json_t *want, json_t *got)
{
    if (got == NULL) {
        return false;
    }
    if (json_is_number(want)) {
        return json_is_number(got) && numbers_equal(want, got);
    }
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(want) != json_array_size(got)) {
            return false;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            json_t *w = json_array_get(want, i);
            if (!json_is_null(w) && !match(w, json_array_get(got, i))) {
                return false;
            }
        }
        return true;
    }
    if (json_is_object(want)) {
        if (!json_is_object(got) || json_object_size(want) != json_object_size(got)) {
            return false;
        }
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            if (!match(v, json_object_get(got, k))) {
                return false;
            }
        }
        return true;
    }
    return json_equal(want, got) != 0;
}

static bool rel_close(double want, double got, double eps)
{
    if (eps == 0) {
        return want == got;
    }
    if (want == 0) {
        return got == 0;
    }
    return fabs(got - want) / fabs(want) <= eps;
}

/* A resource list given as quantity strings; missing means absent. */
static bool rlist_from_json(json_t *j, tw_vpa_rlist_t *rl)
{
    memset(rl, 0, sizeof(*rl));
    if (j == NULL || json_is_null(j)) {
        return true;
    }
    if (!json_is_object(j)) {
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        int r = strcmp(k, "cpu") == 0 ? TW_VPA_CPU : strcmp(k, "memory") == 0 ? TW_VPA_MEMORY : -1;
        if (r < 0 || !json_is_string(v) ||
            tw_vpa_quantity_parse(json_string_value(v), json_string_length(v), (tw_vpa_resource_t)r,
                                  &rl->v[r], NULL) != 0) {
            return false;
        }
        rl->has[r] = true;
    }
    return true;
}

static bool recommendation_match(json_t *want, json_t *got)
{
    if (json_is_null(want) || json_is_null(got)) {
        return json_is_null(want) && json_is_null(got);
    }
    json_t *wa = json_object_get(want, "containerRecommendations");
    json_t *ga = json_object_get(got, "containerRecommendations");
    if (json_array_size(wa) != json_array_size(ga)) {
        return false;
    }
    static const char *const keys[] = {"target", "lowerBound", "upperBound", "uncappedTarget"};
    for (size_t i = 0; i < json_array_size(wa); i++) {
        json_t *w = json_array_get(wa, i), *g = json_array_get(ga, i);
        if (!json_equal(json_object_get(w, "containerName"), json_object_get(g, "containerName"))) {
            return false;
        }
        for (size_t k = 0; k < 4; k++) {
            tw_vpa_rlist_t a, b;
            if (!rlist_from_json(json_object_get(w, keys[k]), &a) ||
                !rlist_from_json(json_object_get(g, keys[k]), &b)) {
                return false;
            }
            for (int r = 0; r < TW_VPA_NRES; r++) {
                if (a.has[r] != b.has[r] || (a.has[r] && a.v[r] != b.v[r])) {
                    return false;
                }
            }
        }
    }
    return true;
}

static bool string_in(json_t *arr, json_t *s)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (json_equal(e, s)) {
            return true;
        }
    }
    return false;
}

static bool annotations_match(const char *key, json_t *want, json_t *got)
{
    if (got == NULL) {
        got = json_object(); /* a nil map */
    } else {
        json_incref(got);
    }
    bool ok = true;
    const char *k;
    json_t *v;
    if (strcmp(key, "annotations_absent_for") == 0) {
        size_t i;
        json_array_foreach(want, i, v)
        {
            json_t *g = json_is_string(v) ? json_object_get(got, json_string_value(v)) : NULL;
            ok = ok && json_array_size(g) == 0;
        }
    } else {
        bool exact = strcmp(key, "annotations") == 0;
        json_object_foreach(want, k, v)
        {
            json_t *g = json_object_get(got, k);
            size_t i;
            json_t *s;
            json_array_foreach(v, i, s)
            {
                ok = ok && g != NULL && string_in(g, s);
            }
            if (exact) {
                ok = ok && json_array_size(g) == json_array_size(v);
            }
        }
        if (exact) {
            json_object_foreach(got, k, v)
            {
                ok = ok && json_object_get(want, k) != NULL;
            }
        }
    }
    json_decref(got);
    return ok;
}

static bool checks_match(json_t *want, json_t *got)
{
    if (!json_is_array(want) || !json_is_array(got) ||
        json_array_size(want) != json_array_size(got)) {
        return false;
    }
    for (size_t i = 0; i < json_array_size(want); i++) {
        json_t *w = json_array_get(want, i), *g = json_array_get(got, i);
        const char *k;
        json_t *v;
        json_object_foreach(w, k, v)
        {
            json_t *gv = json_object_get(g, k);
            if (strcmp(k, "equals_steps") == 0) {
                if (!json_is_true(gv)) {
                    return false;
                }
            } else if (strcmp(k, "percentiles") == 0) {
                if (json_array_size(v) != json_array_size(gv)) {
                    return false;
                }
                for (size_t j = 0; j < json_array_size(v); j++) {
                    json_t *wp = json_array_get(v, j), *gp = json_array_get(gv, j);
                    if (!rel_close(json_number_value(json_object_get(wp, "value")),
                                   json_number_value(json_object_get(gp, "value")),
                                   json_number_value(json_object_get(wp, "rel_eps")))) {
                        return false;
                    }
                }
            } else if (!match(v, gv)) {
                return false;
            }
        }
    }
    return true;
}

static bool containers_match(json_t *want, json_t *got)
{
    const char *name;
    json_t *wc;
    if (!json_is_object(got)) {
        return false;
    }
    json_object_foreach(want, name, wc)
    {
        json_t *gc = json_object_get(got, name);
        if (gc == NULL) {
            return false;
        }
        static const char *const fields[] = {"target", "lower_bound", "upper_bound"};
        for (size_t f = 0; f < 3; f++) {
            json_t *w = json_object_get(wc, fields[f]);
            if (w != NULL && !match(w, json_object_get(gc, fields[f]))) {
                return false;
            }
        }
        for (int pass = 0; pass < 2; pass++) {
            json_t *pa = json_object_get(wc, pass == 0 ? "present" : "absent");
            const char *fk;
            json_t *list;
            json_object_foreach(pa, fk, list)
            {
                json_t *gf = json_object_get(gc, fk);
                size_t i;
                json_t *rn;
                json_array_foreach(list, i, rn)
                {
                    const char *s = json_string_value(rn);
                    const char *ak = s == NULL                  ? ""
                                     : strcmp(s, "cpu") == 0    ? "cpu_milli"
                                     : strcmp(s, "memory") == 0 ? "memory_bytes"
                                                                : "";
                    bool has = json_object_get(gf, ak) != NULL;
                    if (has != (pass == 0)) {
                        return false;
                    }
                }
            }
        }
    }
    return true;
}

static bool field_matches(const char *key, json_t *want, json_t *o, json_t *in, json_t *expected)
{
    json_t *got = json_object_get(o, key);
    if (strcmp(key, "resource_diff_abs_eps") == 0) {
        return true; /* the tolerance of resource_diff, applied there */
    }
    json_t *abs_eps = json_object_get(expected, "resource_diff_abs_eps");
    if (strcmp(key, "resource_diff") == 0 && json_is_number(abs_eps)) {
        return json_is_number(want) && json_is_number(got) &&
               fabs(json_number_value(got) - json_number_value(want)) <= json_number_value(abs_eps);
    }
    if (strcmp(key, "derived_not_asserted") == 0) {
        return true; /* the case file's own reading, not an upstream assertion */
    }
    if (strncmp(key, "annotations", 11) == 0) {
        return annotations_match(key, want, json_object_get(o, "annotations"));
    }
    if (strcmp(key, "recommendation") == 0) {
        return got != NULL && recommendation_match(want, got);
    }
    if (strcmp(key, "checks") == 0) {
        return checks_match(want, got);
    }
    if (strcmp(key, "containers") == 0) {
        return containers_match(want, got);
    }
    if (strcmp(key, "bucket_weight") == 0) {
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            json_t *g = json_object_get(got, k);
            double gv = g == NULL ? 0.0 : json_number_value(g);
            if (!rel_close(json_number_value(v), gv, 1e-9)) {
                return false;
            }
        }
        return true;
    }
    if ((strcmp(key, "limit") == 0 || strcmp(key, "result") == 0) && json_is_string(want)) {
        const char *res = json_string_value(json_object_get(in, "resource"));
        tw_vpa_resource_t r =
            res != NULL && strcmp(res, "memory") == 0 ? TW_VPA_MEMORY : TW_VPA_CPU;
        int64_t a, b;
        return json_is_string(got) &&
               tw_vpa_quantity_parse(json_string_value(want), json_string_length(want), r, &a,
                                     NULL) == 0 &&
               tw_vpa_quantity_parse(json_string_value(got), json_string_length(got), r, &b,
                                     NULL) == 0 &&
               a == b;
    }
    if (json_is_object(want) && json_object_get(want, "rel_eps") != NULL) {
        return json_is_number(got) &&
               rel_close(json_number_value(json_object_get(want, "value")), json_number_value(got),
                         json_number_value(json_object_get(want, "rel_eps")));
    }
    return match(want, got);
}

static void print_json(FILE *out, json_t *v)
{
    char *s =
        v == NULL ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    fputs(s == NULL ? "<missing>" : s, out);
    free(s);
}

/* Prints the FAIL lines of one case; returns true when it passed. */
static bool check_case(FILE *out, const char *id, json_t *expected, json_t *got, json_t *in)
{
    bool ok = true;
    const char *key;
    json_t *want;
    json_object_foreach(expected, key, want)
    {
        if (field_matches(key, want, got, in, expected)) {
            continue;
        }
        ok = false;
        fprintf(out, "FAIL %s: %s: expected ", id, key);
        print_json(out, want);
        fputs(", got ", out);
        json_t *g =
            json_object_get(got, strncmp(key, "annotations", 11) == 0 ? "annotations" : key);
        print_json(out, g != NULL ? g : json_object_get(got, "error_message"));
        fputc('\n', out);
    }
    return ok;
}

/* ---- driver -------------------------------------------------------------------------------- */

/* Returns 0 and sets *skipped for kinds this module does not run. */
static int run_case(ctx_t *c, json_t *cs, size_t i, json_t *o, bool *skipped)
{
    char fallback[32];
    snprintf(fallback, sizeof(fallback), "#%zu", i);
    c->id = fallback;
    const char *path = idx(c, "", i);
    *skipped = false;
    if (!json_is_object(cs)) {
        return bad(c, path, "expected an object");
    }
    const char *id, *kind;
    json_t *in, *exp = field(cs, "expected");
    int rc;
    if ((rc = get_string(c, cs, "id", path, true, &id)) != 0) {
        return rc;
    }
    c->id = tw_arena_printf(c->arena, "\"%s\"", id);
    if ((rc = get_string(c, cs, "kind", path, true, &kind)) != 0 ||
        (rc = get_object(c, cs, "input", path, true, &in)) != 0) {
        return rc;
    }
    json_object_set_new(o, "id", json_string(id));
    if (strcmp(kind, "histogram_percentile") == 0) {
        return run_percentile(c, in, exp, o);
    }
    if (strcmp(kind, "histogram_options") == 0) {
        return run_options(c, in, exp, o);
    }
    if (strcmp(kind, "histogram_checkpoint") == 0) {
        return run_checkpoint(c, in, o);
    }
    if (strcmp(kind, "estimator") == 0) {
        return run_estimator(c, in, o);
    }
    if (strcmp(kind, "memory_peaks_oom") == 0) {
        return run_peaks(c, in, o);
    }
    if (strcmp(kind, "aggregate_expiry") == 0) {
        return run_expiry(c, in, o);
    }
    if (strcmp(kind, "capping") == 0) {
        return run_capping(c, in, o);
    }
    if (strcmp(kind, "proportional_limits") == 0) {
        return run_proportional(c, in, o);
    }
    if (strcmp(kind, "updater_eligibility") == 0) {
        return run_updater(c, in, o);
    }
    return bad(c, sub(c, path, "kind"), "unknown kind \"%s\"", kind);
}

int tw_vpa_cases_run_buf(const char *data, size_t len, const char *name, int check, FILE *out,
                         tw_error_t *err)
{
    const char *file = name == NULL ? "<cases>" : name;
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return tw_error_set_at(err, TW_EPARSE, file, jerr.line, jerr.column, "%s", jerr.text);
    }
    if (!json_is_array(root)) {
        json_decref(root);
        return tw_error_set_at(err, TW_EPARSE, file, 0, 0,
                               "expected a JSON array of cases at the top level");
    }
    ctx_t c = {.file = file, .id = "", .arena = tw_arena_new(0), .err = err};
    size_t passed = 0, failed = 0, skipped = 0;
    int rc = 0;
    for (size_t i = 0; i < json_array_size(root); i++) {
        tw_arena_reset(c.arena);
        json_t *cs = json_array_get(root, i);
        json_t *o = json_object();
        bool skip;
        rc = run_case(&c, cs, i, o, &skip);
        if (rc != 0) {
            json_decref(o);
            break;
        }
        print_json(out, o);
        fputc('\n', out);
        if (skip) {
            skipped++;
        } else if (check) {
            json_t *expected = json_object_get(cs, "expected");
            const char *id = json_string_value(json_object_get(cs, "id"));
            if (!json_is_object(expected)) {
                rc = bad(&c, idx(&c, "", i), "expected: missing (expected an object)");
                json_decref(o);
                break;
            }
            if (check_case(out, id, expected, o, json_object_get(cs, "input"))) {
                passed++;
            } else {
                failed++;
            }
        }
        json_decref(o);
    }
    tw_arena_free(c.arena);
    json_decref(root);
    if (rc != 0) {
        return rc;
    }
    if (check) {
        if (skipped > 0) {
            fprintf(out, "%zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
        } else {
            fprintf(out, "%zu passed, %zu failed\n", passed, failed);
        }
        if (failed > 0) {
            return tw_error_set(err, TW_EINVAL, "%s: %zu of %zu cases failed", file, failed,
                                passed + failed);
        }
    }
    return 0;
}

int tw_vpa_cases_run(const char *path, int check, FILE *out, tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, TW_VPA_CASES_MAX_BYTES);
    int rc = tw_buf_read_file(&b, path, err);
    if (rc == 0) {
        rc = tw_vpa_cases_run_buf(b.data == NULL ? "" : b.data, b.len, path, check, out, err);
    }
    tw_buf_fini(&b);
    return rc;
}
