/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hpa_casefile.c - loads the HPA conformance case file (../shared/conformance/hpa/cases.json,
 * schema in its README), runs each case through hpa_calc.c / hpa_controller.c and prints the
 * computed fields, optionally checking them against each case's `expected` object.
 *
 * The loader is a parser of untrusted input: every value is type- and range-checked, every
 * error names the case id and the JSON path of the offending field, and all per-case memory
 * comes from one arena that is reset between cases. Times in the file are ages in seconds before
 * a fixed "now" (CASES_NOW_MS), so runs are deterministic. Thread model: none; one call, one
 * thread.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/hpa/hpa.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/mem.h"

/* The fixed "now" of every case: 2023-11-14T22:13:20Z. Ages of 1e9 s still fit comfortably. */
#define CASES_NOW_MS INT64_C(1700000000000)
/* Ages beyond this (about 317 years) are rejected, so timestamps never overflow. */
#define CASES_MAX_AGE_S 1e10
/* The default metrics-server window. */
#define CASES_DEFAULT_WINDOW_S 60

typedef struct ctx {
    const char *file;  /* name for messages */
    const char *id;    /* current case id ("#<index>" until the id is known) */
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

/* ---- typed getters: absent and null count as "not set" unless required ---------------------- */

static json_t *field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int as_int64(ctx_t *c, json_t *v, const char *path, int64_t lo, int64_t hi, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < lo || x > hi) {
            return bad(c, path, "%lld is out of range [%lld, %lld]", (long long)x, (long long)lo,
                       (long long)hi);
        }
        *out = x;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d == floor(d)) || d < (double)lo || d > (double)hi || fabs(d) > 9e15) {
            return bad(c, path, "expected an integer in [%lld, %lld], got %g", (long long)lo,
                       (long long)hi, d);
        }
        *out = (int64_t)d;
        return 0;
    }
    return bad(c, path, "expected an integer");
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
    return as_int64(c, v, sub(c, path, key), lo, hi, out);
}

static int get_int32(ctx_t *c, json_t *obj, const char *key, const char *path, bool required,
                     int32_t def, int32_t lo, int32_t hi, int32_t *out)
{
    int64_t v;
    int rc = get_int64(c, obj, key, path, required, def, lo, hi, &v);
    if (rc == 0) {
        *out = (int32_t)v;
    }
    return rc;
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

/* A string (copied into the arena) or NULL when absent/null and not required. */
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

/* An array (possibly empty) or NULL when absent/null and not required. */
static int get_array(ctx_t *c, json_t *obj, const char *key, const char *path, bool required,
                     json_t **out)
{
    json_t *v = field(obj, key);
    *out = NULL;
    if (v == NULL) {
        return required ? bad(c, sub(c, path, key), "missing (expected an array)") : 0;
    }
    if (!json_is_array(v)) {
        return bad(c, sub(c, path, key), "expected an array");
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
    if (!json_is_object(v)) {
        return bad(c, sub(c, path, key), "expected an object");
    }
    *out = v;
    return 0;
}

/* An age in seconds converted to a timestamp before CASES_NOW_MS. */
static int get_age(ctx_t *c, json_t *obj, const char *key, const char *path, bool required,
                   double def_s, int64_t *ts_ms)
{
    double age;
    int rc =
        get_double(c, obj, key, path, required, def_s, -CASES_MAX_AGE_S, CASES_MAX_AGE_S, &age);
    if (rc == 0) {
        *ts_ms = CASES_NOW_MS - llround(age * 1000.0);
    }
    return rc;
}

/* ---- shared sub-objects ---------------------------------------------------------------------- */

static int parse_config(ctx_t *c, json_t *in, tw_hpa_calc_config_t *cfg)
{
    tw_hpa_calc_config_init(cfg);
    json_t *conf;
    int rc = get_object(c, in, "config", "input", false, &conf);
    if (rc != 0 || conf == NULL) {
        return rc;
    }
    json_t *tol;
    if ((rc = get_object(c, conf, "tolerance", "input.config", false, &tol)) != 0) {
        return rc;
    }
    if (tol != NULL) {
        const char *p = "input.config.tolerance";
        if ((rc = get_double(c, tol, "down", p, false, TW_HPA_DEFAULT_TOLERANCE, 0, 1e6,
                             &cfg->tolerances.scale_down)) != 0 ||
            (rc = get_double(c, tol, "up", p, false, TW_HPA_DEFAULT_TOLERANCE, 0, 1e6,
                             &cfg->tolerances.scale_up)) != 0) {
            return rc;
        }
    }
    int64_t s;
    if ((rc = get_int64(c, conf, "cpu_initialization_period_s", "input.config", false,
                        TW_HPA_DEFAULT_CPU_INITIALIZATION_PERIOD_MS / 1000, 0, INT32_MAX, &s)) !=
        0) {
        return rc;
    }
    cfg->cpu_initialization_period_ms = s * 1000;
    if ((rc = get_int64(c, conf, "initial_readiness_delay_s", "input.config", false,
                        TW_HPA_DEFAULT_INITIAL_READINESS_DELAY_MS / 1000, 0, INT32_MAX, &s)) != 0) {
        return rc;
    }
    cfg->initial_readiness_delay_ms = s * 1000;
    return get_bool(c, conf, "pod_level_resources", "input.config", false,
                    &cfg->pod_level_resources);
}

static int parse_phase(ctx_t *c, const char *s, const char *path, tw_hpa_pod_phase_t *out)
{
    static const struct {
        const char *name;
        tw_hpa_pod_phase_t phase;
    } phases[] = {{"Running", TW_HPA_POD_RUNNING},
                  {"Pending", TW_HPA_POD_PENDING},
                  {"Succeeded", TW_HPA_POD_SUCCEEDED},
                  {"Failed", TW_HPA_POD_FAILED},
                  {"Unknown", TW_HPA_POD_UNKNOWN}};
    for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
        if (strcmp(s, phases[i].name) == 0) {
            *out = phases[i].phase;
            return 0;
        }
    }
    return bad(c, path,
               "unknown phase \"%s\" (expected Running, Pending, Succeeded, Failed or "
               "Unknown)",
               s);
}

static int parse_pod(ctx_t *c, json_t *p, const char *path, tw_hpa_pod_t *pod)
{
    memset(pod, 0, sizeof(*pod));
    if (!json_is_object(p)) {
        return bad(c, path, "expected an object");
    }
    int rc;
    const char *phase;
    if ((rc = get_string(c, p, "name", path, true, &pod->name)) != 0 ||
        (rc = get_string(c, p, "phase", path, false, &phase)) != 0) {
        return rc;
    }
    if (phase != NULL && (rc = parse_phase(c, phase, sub(c, path, "phase"), &pod->phase)) != 0) {
        return rc;
    }
    json_t *ready = json_object_get(p, "ready");
    if (ready == NULL) {
        pod->ready = TW_HPA_STATUS_TRUE;
    } else if (json_is_null(ready)) {
        pod->ready = TW_HPA_STATUS_NONE; /* no Ready condition at all */
    } else if (json_is_boolean(ready)) {
        pod->ready = json_is_true(ready) ? TW_HPA_STATUS_TRUE : TW_HPA_STATUS_FALSE;
    } else {
        return bad(c, sub(c, path, "ready"), "expected true, false or null");
    }
    if ((rc = get_bool(c, p, "deleting", path, false, &pod->deleting)) != 0) {
        return rc;
    }
    json_t *start = json_object_get(p, "start_age_s");
    pod->has_start_time = !json_is_null(start);
    if ((rc = get_age(c, p, "start_age_s", path, false, 1e9, &pod->start_time_ms)) != 0 ||
        (rc = get_age(c, p, "ready_transition_age_s", path, false, 1e9,
                      &pod->ready_transition_ms)) != 0) {
        return rc;
    }
    json_t *cs;
    if ((rc = get_array(c, p, "containers", path, false, &cs)) != 0) {
        return rc;
    }
    size_t n = cs == NULL ? 0 : json_array_size(cs);
    tw_hpa_container_t *arr = tw_arena_calloc(c->arena, (n == 0 ? 1 : n) * sizeof(*arr));
    for (size_t i = 0; i < n; i++) {
        json_t *ci = json_array_get(cs, i);
        const char *cpath = idx(c, sub(c, path, "containers"), i);
        if (!json_is_object(ci)) {
            return bad(c, cpath, "expected an object");
        }
        if ((rc = get_string(c, ci, "name", cpath, true, &arr[i].name)) != 0) {
            return rc;
        }
        json_t *req = field(ci, "request_milli");
        arr[i].has_request = req != NULL;
        if (req != NULL && (rc = as_int64(c, req, sub(c, cpath, "request_milli"), 0, INT64_MAX / 4,
                                          &arr[i].request_milli)) != 0) {
            return rc;
        }
    }
    pod->containers = arr;
    pod->n_containers = n;
    json_t *preq = field(p, "pod_request_milli");
    pod->pod_level_requests_set = preq != NULL;
    pod->has_pod_request = preq != NULL;
    if (preq != NULL) {
        return as_int64(c, preq, sub(c, path, "pod_request_milli"), 0, INT64_MAX / 4,
                        &pod->pod_request_milli);
    }
    return 0;
}

static int parse_pods(ctx_t *c, json_t *in, bool required, tw_hpa_pod_t **pods, size_t *n)
{
    json_t *arr;
    int rc = get_array(c, in, "pods", "input", required, &arr);
    if (rc != 0) {
        return rc;
    }
    *n = arr == NULL ? 0 : json_array_size(arr);
    *pods = tw_arena_calloc(c->arena, (*n == 0 ? 1 : *n) * sizeof(**pods));
    for (size_t i = 0; i < *n; i++) {
        if ((rc = parse_pod(c, json_array_get(arr, i), idx(c, "input.pods", i), &(*pods)[i])) !=
            0) {
            return rc;
        }
    }
    return 0;
}

/* resource_metrics[] reduced to per-pod values for `container` (NULL: the whole pod). */
static int parse_resource_metrics(ctx_t *c, json_t *in, const char *container,
                                  tw_hpa_pod_metric_t **out, size_t *n_out)
{
    json_t *arr;
    int rc = get_array(c, in, "resource_metrics", "input", true, &arr);
    if (rc != 0) {
        return rc;
    }
    size_t n = json_array_size(arr);
    tw_hpa_pod_metric_t *m = tw_arena_calloc(c->arena, (n == 0 ? 1 : n) * sizeof(*m));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        const char *path = idx(c, "input.resource_metrics", i);
        if (!json_is_object(s)) {
            return bad(c, path, "expected an object");
        }
        int64_t window_s;
        json_t *cs;
        if ((rc = get_string(c, s, "pod", path, true, &m[k].pod)) != 0 ||
            (rc = get_age(c, s, "age_s", path, false, 0, &m[k].timestamp_ms)) != 0 ||
            (rc = get_int64(c, s, "window_s", path, false, CASES_DEFAULT_WINDOW_S, 0, INT32_MAX,
                            &window_s)) != 0 ||
            (rc = get_object(c, s, "containers", path, true, &cs)) != 0) {
            return rc;
        }
        m[k].window_ms = window_s * 1000;
        size_t nc = json_object_size(cs);
        tw_hpa_container_usage_t *u = tw_arena_calloc(c->arena, (nc == 0 ? 1 : nc) * sizeof(*u));
        size_t j = 0;
        const char *key;
        json_t *val;
        json_object_foreach(cs, key, val)
        {
            u[j].name = tw_arena_strdup(c->arena, key);
            u[j].has_usage = !json_is_null(val);
            if (u[j].has_usage &&
                (rc = as_int64(c, val, sub(c, sub(c, path, "containers"), key), -(INT64_MAX / 4),
                               INT64_MAX / 4, &u[j].usage_milli)) != 0) {
                return rc;
            }
            j++;
        }
        if (tw_hpa_container_usage_reduce(u, j, container, &m[k].value_milli) == 0) {
            k++; /* otherwise the pod has no usable sample: "missing" */
        }
    }
    *out = m;
    *n_out = k;
    return 0;
}

static int parse_values(ctx_t *c, json_t *obj, const char *key, const char *path, int64_t **vals,
                        size_t *n)
{
    json_t *arr;
    int rc = get_array(c, obj, key, path, true, &arr);
    if (rc != 0) {
        return rc;
    }
    *n = json_array_size(arr);
    *vals = tw_arena_calloc(c->arena, (*n == 0 ? 1 : *n) * sizeof(**vals));
    for (size_t i = 0; i < *n; i++) {
        if ((rc = as_int64(c, json_array_get(arr, i), idx(c, sub(c, path, key), i), INT64_MIN,
                           INT64_MAX, &(*vals)[i])) != 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_rules(ctx_t *c, json_t *r, const char *path, tw_hpa_scaling_rules_t **out)
{
    *out = NULL;
    if (r == NULL || json_is_null(r)) {
        return 0;
    }
    if (!json_is_object(r)) {
        return bad(c, path, "expected an object or null");
    }
    tw_hpa_scaling_rules_t *rules = tw_arena_calloc(c->arena, sizeof(*rules));
    int rc;
    if (field(r, "stabilizationWindowSeconds") != NULL) {
        rules->has_stabilization_window = true;
        if ((rc = get_int32(c, r, "stabilizationWindowSeconds", path, true, 0, 0, 3600,
                            &rules->stabilization_window_s)) != 0) {
            return rc;
        }
    }
    const char *sel;
    if ((rc = get_string(c, r, "selectPolicy", path, false, &sel)) != 0) {
        return rc;
    }
    if (sel != NULL) {
        if (strcmp(sel, "Max") == 0) {
            rules->select_policy = TW_HPA_SELECT_MAX;
        } else if (strcmp(sel, "Min") == 0) {
            rules->select_policy = TW_HPA_SELECT_MIN;
        } else if (strcmp(sel, "Disabled") == 0) {
            rules->select_policy = TW_HPA_SELECT_DISABLED;
        } else {
            return bad(c, sub(c, path, "selectPolicy"),
                       "unknown select policy \"%s\" (expected Max, Min or Disabled)", sel);
        }
    }
    if (field(r, "tolerance") != NULL) {
        rules->has_tolerance = true;
        if ((rc = get_double(c, r, "tolerance", path, true, 0, 0, 1e6, &rules->tolerance)) != 0) {
            return rc;
        }
    }
    json_t *pols;
    if ((rc = get_array(c, r, "policies", path, false, &pols)) != 0) {
        return rc;
    }
    if (pols != NULL) {
        size_t n = json_array_size(pols);
        tw_hpa_policy_t *p = tw_arena_calloc(c->arena, (n == 0 ? 1 : n) * sizeof(*p));
        for (size_t i = 0; i < n; i++) {
            json_t *pi = json_array_get(pols, i);
            const char *pp = idx(c, sub(c, path, "policies"), i);
            const char *type;
            if (!json_is_object(pi)) {
                return bad(c, pp, "expected an object");
            }
            if ((rc = get_string(c, pi, "type", pp, true, &type)) != 0 ||
                (rc = get_int32(c, pi, "value", pp, true, 0, 1, INT32_MAX, &p[i].value)) != 0 ||
                (rc = get_int32(c, pi, "periodSeconds", pp, true, 0, 1, 1800, &p[i].period_s)) !=
                    0) {
                return rc;
            }
            if (strcmp(type, "Pods") == 0) {
                p[i].type = TW_HPA_POLICY_PODS;
            } else if (strcmp(type, "Percent") == 0) {
                p[i].type = TW_HPA_POLICY_PERCENT;
            } else {
                return bad(c, sub(c, pp, "type"),
                           "unknown policy type \"%s\" (expected Pods or "
                           "Percent)",
                           type);
            }
        }
        rules->policies = p;
        rules->n_policies = n;
    }
    *out = rules;
    return 0;
}

static int parse_events(ctx_t *c, json_t *in, const char *key, bool up, tw_hpa_history_t *h)
{
    json_t *arr;
    int rc = get_array(c, in, key, "input", false, &arr);
    if (rc != 0 || arr == NULL) {
        return rc;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        const char *path = idx(c, sub(c, "input", key), i);
        int32_t change;
        int64_t ts;
        if (!json_is_object(e)) {
            return bad(c, path, "expected an object");
        }
        if ((rc = get_int32(c, e, "change", path, true, 0, 0, INT32_MAX, &change)) != 0 ||
            (rc = get_age(c, e, "age_s", path, true, 0, &ts)) != 0) {
            return rc;
        }
        tw_hpa_history_add_event(h, up, change, ts);
    }
    return 0;
}

/* recommendations[]: null leaves the history unseeded ("never reconciled"). */
static int parse_recommendations(ctx_t *c, json_t *in, tw_hpa_history_t *h)
{
    json_t *arr;
    int rc = get_array(c, in, "recommendations", "input", false, &arr);
    if (rc != 0 || arr == NULL) {
        return rc;
    }
    h->seeded = true;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *r = json_array_get(arr, i);
        const char *path = idx(c, "input.recommendations", i);
        int32_t replicas;
        int64_t ts;
        if (!json_is_object(r)) {
            return bad(c, path, "expected an object");
        }
        if ((rc = get_int32(c, r, "replicas", path, true, 0, 0, INT32_MAX, &replicas)) != 0 ||
            (rc = get_age(c, r, "age_s", path, true, 0, &ts)) != 0) {
            return rc;
        }
        tw_hpa_history_add_recommendation(h, replicas, ts);
    }
    return 0;
}

/* ---- kinds ------------------------------------------------------------------------------------
 */

static void put_int(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, json_integer(v));
}

static void put_error(json_t *o, const tw_error_t *e)
{
    json_object_set_new(o, "error", json_string(e->msg));
}

static int run_resource_utilization(ctx_t *c, json_t *in, json_t *o)
{
    tw_hpa_calc_config_t cfg;
    int32_t current, target;
    const char *resource, *container;
    tw_hpa_pod_set_t set = {.now_ms = CASES_NOW_MS};
    tw_hpa_pod_t *pods = NULL;
    tw_hpa_pod_metric_t *metrics = NULL;
    int rc;
    if ((rc = parse_config(c, in, &cfg)) != 0 ||
        (rc = get_int32(c, in, "current_replicas", "input", true, 0, 0, INT32_MAX, &current)) !=
            0 ||
        (rc = get_string(c, in, "resource", "input", true, &resource)) != 0 ||
        (rc = get_string(c, in, "container", "input", false, &container)) != 0 ||
        (rc = get_int32(c, in, "target_utilization_percent", "input", true, 0, 1, INT32_MAX,
                        &target)) != 0 ||
        (rc = parse_pods(c, in, true, &pods, &set.n_pods)) != 0 ||
        (rc = parse_resource_metrics(c, in, container, &metrics, &set.n_metrics)) != 0) {
        return rc;
    }
    set.pods = pods;
    set.metrics = metrics;
    tw_hpa_calc_result_t r;
    tw_error_t e;
    tw_error_clear(&e);
    if (tw_hpa_calc_resource_utilization(&cfg, current, target, resource, container, &set, &r,
                                         &e) != 0) {
        put_error(o, &e);
        return 0;
    }
    put_int(o, "replicas", r.replicas);
    put_int(o, "utilization_percent", r.utilization_percent);
    put_int(o, "raw_average_milli", r.usage_milli);
    return 0;
}

static int run_pods_average(ctx_t *c, json_t *in, json_t *o)
{
    tw_hpa_calc_config_t cfg;
    int32_t current;
    int64_t target;
    tw_hpa_pod_set_t set = {.now_ms = CASES_NOW_MS};
    tw_hpa_pod_t *pods = NULL;
    json_t *vals;
    int rc;
    if ((rc = parse_config(c, in, &cfg)) != 0 ||
        (rc = get_int32(c, in, "current_replicas", "input", true, 0, 0, INT32_MAX, &current)) !=
            0 ||
        (rc = get_int64(c, in, "target_average_milli", "input", true, 0, 1, INT64_MAX, &target)) !=
            0 ||
        (rc = parse_pods(c, in, true, &pods, &set.n_pods)) != 0 ||
        (rc = get_object(c, in, "pod_metric_milli", "input", true, &vals)) != 0) {
        return rc;
    }
    size_t n = json_object_size(vals);
    tw_hpa_pod_metric_t *m = tw_arena_calloc(c->arena, (n == 0 ? 1 : n) * sizeof(*m));
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vals, key, val)
    {
        m[k].pod = tw_arena_strdup(c->arena, key);
        m[k].timestamp_ms = CASES_NOW_MS;
        m[k].window_ms = CASES_DEFAULT_WINDOW_S * 1000;
        if ((rc = as_int64(c, val, sub(c, "input.pod_metric_milli", key), -(INT64_MAX / 4),
                           INT64_MAX / 4, &m[k].value_milli)) != 0) {
            return rc;
        }
        k++;
    }
    set.pods = pods;
    set.metrics = m;
    set.n_metrics = k;
    tw_hpa_calc_result_t r;
    tw_error_t e;
    tw_error_clear(&e);
    if (tw_hpa_calc_pods_average(&cfg, current, target, &set, &r, &e) != 0) {
        put_error(o, &e);
        return 0;
    }
    put_int(o, "replicas", r.replicas);
    put_int(o, "usage_average_milli", r.usage_milli);
    return 0;
}

/* The four Object/External kinds. */
static int run_value(ctx_t *c, json_t *in, json_t *o, bool external, bool average)
{
    tw_hpa_calc_config_t cfg;
    int32_t replicas;
    int64_t target, value = 0;
    int64_t *vals = NULL;
    size_t n_vals = 0;
    tw_hpa_pod_t *pods = NULL;
    size_t n_pods = 0;
    int rc;
    if ((rc = parse_config(c, in, &cfg)) != 0 ||
        (rc = get_int32(c, in, average ? "status_replicas" : "current_replicas", "input", true, 0,
                        0, INT32_MAX, &replicas)) != 0 ||
        (rc = get_int64(c, in, average ? "target_average_milli" : "target_value_milli", "input",
                        true, 0, 1, INT64_MAX, &target)) != 0) {
        return rc;
    }
    if (external) {
        rc = parse_values(c, in, "external_values_milli", "input", &vals, &n_vals);
    } else {
        rc = get_int64(c, in, "object_value_milli", "input", true, 0, INT64_MIN, INT64_MAX, &value);
    }
    if (rc != 0 || (!average && (rc = parse_pods(c, in, false, &pods, &n_pods)) != 0)) {
        return rc;
    }
    tw_hpa_calc_result_t r;
    tw_error_t e;
    tw_error_clear(&e);
    if (external && average) {
        rc = tw_hpa_calc_external_average(&cfg, replicas, target, vals, n_vals, &r, &e);
    } else if (external) {
        rc = tw_hpa_calc_external_value(&cfg, replicas, target, vals, n_vals, pods, n_pods, &r, &e);
    } else if (average) {
        rc = tw_hpa_calc_object_average(&cfg, replicas, target, value, &r, &e);
    } else {
        rc = tw_hpa_calc_object_value(&cfg, replicas, target, value, pods, n_pods, &r, &e);
    }
    if (rc != 0) {
        put_error(o, &e);
        return 0;
    }
    put_int(o, "replicas", r.replicas);
    put_int(o, average ? "usage_average_milli" : "usage_milli", r.usage_milli);
    return 0;
}

static int run_rate_limit(ctx_t *c, json_t *in, json_t *o)
{
    int32_t current, desired, min, max;
    tw_hpa_scaling_rules_t *up_in, *down_in;
    int rc;
    if ((rc = get_int32(c, in, "current_replicas", "input", true, 0, 0, INT32_MAX, &current)) !=
            0 ||
        (rc = get_int32(c, in, "desired_replicas", "input", true, 0, 0, INT32_MAX, &desired)) !=
            0 ||
        (rc = get_int32(c, in, "min_replicas", "input", false, 1, 0, INT32_MAX, &min)) != 0 ||
        (rc = get_int32(c, in, "max_replicas", "input", true, 0, 0, INT32_MAX, &max)) != 0 ||
        (rc = parse_rules(c, json_object_get(in, "scale_up_rules"), "input.scale_up_rules",
                          &up_in)) != 0 ||
        (rc = parse_rules(c, json_object_get(in, "scale_down_rules"), "input.scale_down_rules",
                          &down_in)) != 0) {
        return rc;
    }
    tw_hpa_history_t h;
    tw_hpa_history_init(&h);
    if ((rc = parse_events(c, in, "scale_up_events", true, &h)) == 0 &&
        (rc = parse_events(c, in, "scale_down_events", false, &h)) == 0) {
        tw_hpa_scaling_rules_t up, down;
        int32_t win = TW_HPA_DEFAULT_DOWNSCALE_STABILIZATION_MS / 1000;
        tw_hpa_scaling_rules_resolve(up_in, true, win, &up);
        tw_hpa_scaling_rules_resolve(down_in, false, win, &down);
        const char *reason;
        int32_t r = tw_hpa_rate_limit_behavior(&h, current, desired, min, max, &up, &down,
                                               CASES_NOW_MS, &reason);
        put_int(o, "replicas", r);
        json_object_set_new(o, "scaling_limited_reason", json_string(reason));
    }
    tw_hpa_history_fini(&h);
    return rc;
}

static void put_stored(json_t *o, const tw_hpa_history_t *h)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < h->n_recs; i++) {
        json_array_append_new(arr, json_integer(h->recs[i].replicas));
    }
    json_object_set_new(o, "stored_recommendations", arr);
}

static int run_stabilize(ctx_t *c, json_t *in, json_t *o, bool legacy)
{
    int32_t desired, current = 0, up_s = 0, down_s;
    int rc;
    tw_hpa_history_t h;
    tw_hpa_history_init(&h);
    if ((rc = get_int32(c, in, "desired_replicas", "input", true, 0, 0, INT32_MAX, &desired)) !=
            0 ||
        (rc = parse_recommendations(c, in, &h)) != 0) {
        goto out;
    }
    if (legacy) {
        if ((rc = get_int32(c, in, "downscale_stabilization_s", "input", false,
                            TW_HPA_DEFAULT_DOWNSCALE_STABILIZATION_MS / 1000, 0, 86400 * 365,
                            &down_s)) != 0) {
            goto out;
        }
        int32_t r = tw_hpa_stabilize_legacy(&h, desired, (int64_t)down_s * 1000, CASES_NOW_MS);
        put_int(o, "replicas", r);
        put_int(o, "stored_count", (int64_t)h.n_recs);
        put_stored(o, &h);
        goto out;
    }
    if ((rc = get_int32(c, in, "current_replicas", "input", true, 0, 0, INT32_MAX, &current)) !=
            0 ||
        (rc = get_int32(c, in, "scale_up_stabilization_s", "input", false, 0, 0, 86400 * 365,
                        &up_s)) != 0 ||
        (rc = get_int32(c, in, "scale_down_stabilization_s", "input", false,
                        TW_HPA_DEFAULT_DOWNSCALE_STABILIZATION_MS / 1000, 0, 86400 * 365,
                        &down_s)) != 0) {
        goto out;
    }
    const char *reason;
    int32_t r =
        tw_hpa_stabilize_behavior(&h, current, desired, up_s, down_s, CASES_NOW_MS, &reason);
    put_int(o, "replicas", r);
    put_stored(o, &h);
    put_int(o, "stored_count", (int64_t)h.n_recs);
out:
    tw_hpa_history_fini(&h);
    return rc;
}

/* ---- controller_reconcile ------------------------------------------------------------------- */

static tw_hpa_pod_t *make_ready_pods(ctx_t *c, size_t n, const int64_t *requests,
                                     const char *container)
{
    tw_hpa_pod_t *pods = tw_arena_calloc(c->arena, (n == 0 ? 1 : n) * sizeof(*pods));
    for (size_t i = 0; i < n; i++) {
        pods[i].name = tw_arena_printf(c->arena, "test-pod-%zu", i);
        pods[i].phase = TW_HPA_POD_RUNNING;
        pods[i].ready = TW_HPA_STATUS_TRUE;
        pods[i].has_start_time = true;
        pods[i].start_time_ms = CASES_NOW_MS - INT64_C(1000000000000);
        pods[i].ready_transition_ms = pods[i].start_time_ms;
        if (requests != NULL) {
            tw_hpa_container_t *ct = tw_arena_calloc(c->arena, sizeof(*ct));
            ct->name = container;
            ct->has_request = true;
            ct->request_milli = requests[i];
            pods[i].containers = ct;
            pods[i].n_containers = 1;
        }
    }
    return pods;
}

static tw_hpa_pod_metric_t *make_samples(ctx_t *c, const tw_hpa_pod_t *pods, const int64_t *vals,
                                         size_t n)
{
    tw_hpa_pod_metric_t *m = tw_arena_calloc(c->arena, (n == 0 ? 1 : n) * sizeof(*m));
    for (size_t i = 0; i < n; i++) {
        m[i].pod = pods[i].name;
        m[i].value_milli = vals[i];
        m[i].timestamp_ms = CASES_NOW_MS;
        m[i].window_ms = CASES_DEFAULT_WINDOW_S * 1000;
    }
    return m;
}

static int parse_target(ctx_t *c, json_t *src, const char *path, tw_hpa_metric_input_t *m)
{
    json_t *t;
    const char *type;
    int rc;
    if ((rc = get_object(c, src, "target", path, true, &t)) != 0) {
        return rc;
    }
    const char *tp = sub(c, path, "target");
    if ((rc = get_string(c, t, "type", tp, true, &type)) != 0) {
        return rc;
    }
    if (strcmp(type, "Utilization") == 0) {
        m->target_type = TW_HPA_TARGET_UTILIZATION;
        return get_int32(c, t, "averageUtilization", tp, true, 0, 1, INT32_MAX,
                         &m->target_utilization);
    }
    if (strcmp(type, "AverageValue") == 0) {
        m->target_type = TW_HPA_TARGET_AVERAGE_VALUE;
        return get_int64(c, t, "averageValue_milli", tp, true, 0, 1, INT64_MAX, &m->target_milli);
    }
    if (strcmp(type, "Value") == 0) {
        m->target_type = TW_HPA_TARGET_VALUE;
        return get_int64(c, t, "value_milli", tp, true, 0, 1, INT64_MAX, &m->target_milli);
    }
    return bad(c, sub(c, tp, "type"),
               "unknown target type \"%s\" (expected Utilization, AverageValue or Value)", type);
}

static int parse_metric(ctx_t *c, json_t *js, const char *path, int32_t spec_replicas,
                        tw_hpa_metric_input_t *m)
{
    memset(m, 0, sizeof(*m));
    if (!json_is_object(js)) {
        return bad(c, path, "expected an object");
    }
    const char *type;
    int rc;
    if ((rc = get_string(c, js, "type", path, true, &type)) != 0) {
        return rc;
    }
    static const struct {
        const char *type;
        const char *member;
        tw_hpa_metric_type_t t;
    } kinds[] = {{"Resource", "resource", TW_HPA_METRIC_RESOURCE},
                 {"ContainerResource", "containerResource", TW_HPA_METRIC_CONTAINER_RESOURCE},
                 {"Pods", "pods", TW_HPA_METRIC_PODS},
                 {"Object", "object", TW_HPA_METRIC_OBJECT},
                 {"External", "external", TW_HPA_METRIC_EXTERNAL}};
    const char *member = NULL;
    m->type = TW_HPA_METRIC_INVALID;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(type, kinds[i].type) == 0) {
            m->type = kinds[i].t;
            member = kinds[i].member;
        }
    }
    if (m->type == TW_HPA_METRIC_INVALID) {
        m->name = type;
        return 0; /* the controller reports InvalidMetricSourceType */
    }
    json_t *src;
    const char *sp = sub(c, path, member);
    if ((rc = get_object(c, js, member, path, true, &src)) != 0 ||
        (rc = parse_target(c, src, sp, m)) != 0) {
        return rc;
    }
    if (m->type == TW_HPA_METRIC_RESOURCE || m->type == TW_HPA_METRIC_CONTAINER_RESOURCE) {
        if ((rc = get_string(c, src, "name", sp, true, &m->name)) != 0) {
            return rc;
        }
        if (m->type == TW_HPA_METRIC_CONTAINER_RESOURCE &&
            (rc = get_string(c, src, "container", sp, true, &m->container)) != 0) {
            return rc;
        }
    } else {
        json_t *metric;
        if ((rc = get_object(c, src, "metric", sp, true, &metric)) != 0 ||
            (rc = get_string(c, metric, "name", sub(c, sp, "metric"), true, &m->name)) != 0) {
            return rc;
        }
    }
    json_t *data = json_object_get(js, "data");
    const char *dp = sub(c, path, "data");
    if (json_is_string(data)) {
        m->fetch_error = tw_arena_strdup(c->arena, json_string_value(data));
        return 0;
    }
    if (!json_is_object(data)) {
        return bad(c, dp, "expected an object or an error string");
    }
    int64_t *vals, *reqs;
    size_t n, nr;
    switch (m->type) {
    case TW_HPA_METRIC_RESOURCE:
    case TW_HPA_METRIC_CONTAINER_RESOURCE: {
        if ((rc = parse_values(c, data, "pod_cpu_usage_milli", dp, &vals, &n)) != 0 ||
            (rc = parse_values(c, data, "pod_cpu_request_milli", dp, &reqs, &nr)) != 0) {
            return rc;
        }
        if (nr != n) {
            return bad(c, sub(c, dp, "pod_cpu_request_milli"),
                       "has %zu entries, pod_cpu_usage_milli has %zu", nr, n);
        }
        const char *cname = m->container != NULL ? m->container : "container";
        tw_hpa_pod_t *pods = make_ready_pods(c, n, reqs, cname);
        m->pods.pods = pods;
        m->pods.n_pods = n;
        m->pods.metrics = make_samples(c, pods, vals, n);
        m->pods.n_metrics = n;
        return 0;
    }
    case TW_HPA_METRIC_PODS: {
        if ((rc = parse_values(c, data, "pod_values_milli", dp, &vals, &n)) != 0) {
            return rc;
        }
        tw_hpa_pod_t *pods = make_ready_pods(c, n, NULL, NULL);
        m->pods.pods = pods;
        m->pods.n_pods = n;
        m->pods.metrics = make_samples(c, pods, vals, n);
        m->pods.n_metrics = n;
        return 0;
    }
    case TW_HPA_METRIC_OBJECT:
    case TW_HPA_METRIC_EXTERNAL: {
        int64_t ready;
        if (m->type == TW_HPA_METRIC_OBJECT) {
            rc = get_int64(c, data, "object_value_milli", dp, true, 0, INT64_MIN, INT64_MAX,
                           &m->object_value_milli);
        } else {
            rc = parse_values(c, data, "external_values_milli", dp, &vals, &n);
            m->external_values_milli = vals;
            m->n_external_values = n;
        }
        if (rc != 0 || (rc = get_int64(c, data, "ready_pods", dp, false, spec_replicas, 0, 100000,
                                       &ready)) != 0) {
            return rc;
        }
        m->pods.pods = make_ready_pods(c, (size_t)ready, NULL, NULL);
        m->pods.n_pods = (size_t)ready;
        return 0;
    }
    default:
        return 0;
    }
}

static int parse_condition_type(const char *s, tw_hpa_condition_type_t *t)
{
    for (int i = 0; i < TW_HPA_COND_COUNT_; i++) {
        if (strcmp(s, tw_hpa_condition_type_name((tw_hpa_condition_type_t)i)) == 0) {
            *t = (tw_hpa_condition_type_t)i;
            return 0;
        }
    }
    return -1;
}

static int parse_initial_conditions(ctx_t *c, json_t *in, tw_hpa_conditions_t *conds)
{
    json_t *arr;
    int rc = get_array(c, in, "initial_conditions", "input", false, &arr);
    if (rc != 0 || arr == NULL) {
        return rc;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *ci = json_array_get(arr, i);
        const char *path = idx(c, "input.initial_conditions", i);
        const char *type, *status, *reason, *message;
        if (!json_is_object(ci)) {
            return bad(c, path, "expected an object");
        }
        if ((rc = get_string(c, ci, "type", path, true, &type)) != 0 ||
            (rc = get_string(c, ci, "status", path, true, &status)) != 0 ||
            (rc = get_string(c, ci, "reason", path, false, &reason)) != 0 ||
            (rc = get_string(c, ci, "message", path, false, &message)) != 0) {
            return rc;
        }
        tw_hpa_condition_type_t t;
        if (parse_condition_type(type, &t) != 0) {
            return bad(c, sub(c, path, "type"), "unknown condition type \"%s\"", type);
        }
        tw_hpa_status_t s;
        if (strcmp(status, "True") == 0) {
            s = TW_HPA_STATUS_TRUE;
        } else if (strcmp(status, "False") == 0) {
            s = TW_HPA_STATUS_FALSE;
        } else if (strcmp(status, "Unknown") == 0) {
            s = TW_HPA_STATUS_UNKNOWN;
        } else {
            return bad(c, sub(c, path, "status"), "expected True, False or Unknown");
        }
        tw_hpa_conditions_set(conds, t, s, reason == NULL ? "" : reason, 0, "%s",
                              message == NULL ? "" : message);
    }
    return 0;
}

static int run_reconcile(ctx_t *c, json_t *in, json_t *o)
{
    tw_hpa_controller_config_t cfg;
    tw_hpa_controller_config_init(&cfg);
    tw_hpa_spec_t spec;
    memset(&spec, 0, sizeof(spec));
    int32_t spec_replicas, status_replicas, down_s;
    json_t *gates, *beh, *metrics;
    tw_hpa_behavior_t behavior = {NULL, NULL};
    tw_hpa_scaling_rules_t *up = NULL, *down = NULL;
    tw_hpa_state_t st;
    tw_hpa_state_init(&st);
    int rc;
    spec.has_min_replicas = field(in, "min_replicas") != NULL;
    if ((rc = parse_config(c, in, &cfg.calc)) != 0 ||
        (rc = get_int32(c, in, "min_replicas", "input", false, 1, 0, INT32_MAX,
                        &spec.min_replicas)) != 0 ||
        (rc = get_int32(c, in, "max_replicas", "input", true, 0, 0, INT32_MAX,
                        &spec.max_replicas)) != 0 ||
        (rc = get_int32(c, in, "spec_replicas", "input", true, 0, 0, INT32_MAX, &spec_replicas)) !=
            0 ||
        (rc = get_int32(c, in, "status_replicas", "input", false, spec_replicas, 0, INT32_MAX,
                        &status_replicas)) != 0 ||
        (rc = get_int32(c, in, "downscale_stabilization_s", "input", false,
                        TW_HPA_DEFAULT_DOWNSCALE_STABILIZATION_MS / 1000, 0, 86400 * 365,
                        &down_s)) != 0 ||
        (rc = get_object(c, in, "feature_gates", "input", false, &gates)) != 0 ||
        (rc = get_object(c, in, "behavior", "input", false, &beh)) != 0 ||
        (rc = get_array(c, in, "metrics", "input", true, &metrics)) != 0) {
        goto out;
    }
    cfg.downscale_stabilization_ms = (int64_t)down_s * 1000;
    if (gates != NULL &&
        ((rc = get_bool(c, gates, "HPAScaleToZero", "input.feature_gates", false,
                        &cfg.gate_scale_to_zero)) != 0 ||
         (rc = get_bool(c, gates, "HPAConfigurableTolerance", "input.feature_gates", false,
                        &cfg.gate_configurable_tolerance)) != 0 ||
         (rc = get_bool(c, gates, "PodLevelResources", "input.feature_gates", false,
                        &cfg.calc.pod_level_resources)) != 0)) {
        goto out;
    }
    if (beh != NULL) {
        if ((rc = parse_rules(c, json_object_get(beh, "scaleUp"), "input.behavior.scaleUp", &up)) !=
                0 ||
            (rc = parse_rules(c, json_object_get(beh, "scaleDown"), "input.behavior.scaleDown",
                              &down)) != 0) {
            goto out;
        }
        behavior.scale_up = up;
        behavior.scale_down = down;
        spec.behavior = &behavior;
    }
    size_t n = json_array_size(metrics);
    tw_hpa_metric_input_t *mi = tw_arena_calloc(c->arena, (n == 0 ? 1 : n) * sizeof(*mi));
    for (size_t i = 0; i < n; i++) {
        if ((rc = parse_metric(c, json_array_get(metrics, i), idx(c, "input.metrics", i),
                               spec_replicas, &mi[i])) != 0) {
            goto out;
        }
    }
    spec.metrics = mi;
    spec.n_metrics = n;
    if ((rc = parse_recommendations(c, in, &st.history)) != 0 ||
        (rc = parse_events(c, in, "scale_up_events", true, &st.history)) != 0 ||
        (rc = parse_events(c, in, "scale_down_events", false, &st.history)) != 0 ||
        (rc = parse_initial_conditions(c, in, &st.conditions)) != 0) {
        goto out;
    }
    tw_hpa_decision_t d;
    tw_error_t e;
    tw_error_clear(&e);
    int rrc = tw_hpa_reconcile(&cfg, &spec, spec_replicas, status_replicas, CASES_NOW_MS, &st, NULL,
                               &d, &e);
    if (d.rescale) {
        tw_hpa_rescale_done(&cfg, &spec, &d, true, NULL, CASES_NOW_MS, &st);
    }
    put_int(o, "desired_replicas", d.desired_replicas);
    json_object_set_new(o, "scaled", json_boolean(d.rescale));
    json_object_set_new(o, "reconcile_error", json_boolean(rrc != 0));
    if (rrc != 0) {
        json_object_set_new(o, "error", json_string(e.msg));
    }
    json_t *conds = json_array();
    for (size_t i = 0; i < st.conditions.n; i++) {
        const tw_hpa_condition_t *ci = &st.conditions.items[i];
        json_array_append_new(
            conds, json_pack("{s:s, s:s, s:s}", "type", tw_hpa_condition_type_name(ci->type),
                             "status", tw_hpa_status_name(ci->status), "reason", ci->reason));
    }
    json_object_set_new(o, "conditions", conds);
    const tw_hpa_condition_t *ats =
        tw_hpa_conditions_get(&st.conditions, TW_HPA_COND_ABLE_TO_SCALE);
    json_object_set_new(o, "able_to_scale_reason",
                        ats == NULL ? json_null() : json_string(ats->reason));
out:
    tw_hpa_state_fini(&st);
    return rc;
}

/* ---- checking ---------------------------------------------------------------------------------
 */

/* Scalar/array/object equality; numbers compare by value (1e-9 relative for non-integers). */
static bool values_equal(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b)) {
            return json_integer_value(a) == json_integer_value(b);
        }
        double x = json_number_value(a), y = json_number_value(b);
        return fabs(x - y) <= 1e-9 * fmax(1.0, fmax(fabs(x), fabs(y)));
    }
    return json_equal(a, b) != 0;
}

/* Every key of want equals the same key of got. */
static bool subset_equal(json_t *want, json_t *got)
{
    if (!json_is_object(want) || !json_is_object(got)) {
        return values_equal(want, got);
    }
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
    {
        json_t *g = json_object_get(got, k);
        if (g == NULL || !values_equal(v, g)) {
            return false;
        }
    }
    return true;
}

static bool field_matches(const char *key, json_t *want, json_t *out)
{
    if (strcmp(key, "error_contains") == 0) {
        json_t *got = json_object_get(out, "error");
        return json_is_string(want) && json_is_string(got) &&
               strstr(json_string_value(got), json_string_value(want)) != NULL;
    }
    if (strcmp(key, "added_condition") == 0) {
        json_t *conds = json_object_get(out, "conditions");
        size_t i;
        json_t *ci;
        json_array_foreach(conds, i, ci)
        {
            if (subset_equal(want, ci)) {
                return true;
            }
        }
        return false;
    }
    json_t *got = json_object_get(out, key);
    if (got == NULL) {
        return false;
    }
    if (strcmp(key, "conditions") == 0) {
        if (!json_is_array(want) || !json_is_array(got) ||
            json_array_size(want) != json_array_size(got)) {
            return false;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            if (!subset_equal(json_array_get(want, i), json_array_get(got, i))) {
                return false;
            }
        }
        return true;
    }
    return values_equal(want, got);
}

static void print_json(FILE *out, json_t *v)
{
    char *s =
        v == NULL ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    fputs(s == NULL ? "<missing>" : s, out);
    free(s);
}

/* Prints the FAIL lines of one case; returns true when it passed. */
static bool check_case(FILE *out, const char *id, json_t *expected, json_t *got)
{
    bool ok = true;
    const char *key;
    json_t *want;
    json_object_foreach(expected, key, want)
    {
        if (field_matches(key, want, got)) {
            continue;
        }
        ok = false;
        fprintf(out, "FAIL %s: %s: expected ", id, key);
        print_json(out, want);
        fputs(", got ", out);
        if (strcmp(key, "error_contains") == 0) {
            print_json(out, json_object_get(got, "error"));
        } else if (strcmp(key, "added_condition") == 0) {
            print_json(out, json_object_get(got, "conditions"));
        } else {
            json_t *g = json_object_get(got, key);
            print_json(out, g != NULL ? g : json_object_get(got, "error"));
        }
        fputc('\n', out);
    }
    return ok;
}

/* ---- driver -----------------------------------------------------------------------------------
 */

static int run_case(ctx_t *c, json_t *cs, size_t i, json_t *o)
{
    char fallback[32];
    snprintf(fallback, sizeof(fallback), "#%zu", i);
    c->id = fallback;
    const char *path = idx(c, "", i);
    if (!json_is_object(cs)) {
        return bad(c, path, "expected an object");
    }
    const char *id, *kind;
    json_t *in;
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
    if (strcmp(kind, "replicas_resource_utilization") == 0) {
        return run_resource_utilization(c, in, o);
    }
    if (strcmp(kind, "replicas_pods_average_value") == 0) {
        return run_pods_average(c, in, o);
    }
    if (strcmp(kind, "replicas_object_value") == 0) {
        return run_value(c, in, o, false, false);
    }
    if (strcmp(kind, "replicas_external_value") == 0) {
        return run_value(c, in, o, true, false);
    }
    if (strcmp(kind, "replicas_object_average_value") == 0) {
        return run_value(c, in, o, false, true);
    }
    if (strcmp(kind, "replicas_external_average_value") == 0) {
        return run_value(c, in, o, true, true);
    }
    if (strcmp(kind, "behavior_rate_limit") == 0) {
        return run_rate_limit(c, in, o);
    }
    if (strcmp(kind, "behavior_stabilize") == 0) {
        return run_stabilize(c, in, o, false);
    }
    if (strcmp(kind, "legacy_stabilize") == 0) {
        return run_stabilize(c, in, o, true);
    }
    if (strcmp(kind, "controller_reconcile") == 0) {
        return run_reconcile(c, in, o);
    }
    return bad(c, sub(c, path, "kind"), "unknown kind \"%s\"", kind);
}

int tw_hpa_cases_run_buf(const char *data, size_t len, const char *name, int check, FILE *out,
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
    size_t passed = 0, failed = 0;
    int rc = 0;
    for (size_t i = 0; i < json_array_size(root); i++) {
        tw_arena_reset(c.arena);
        json_t *cs = json_array_get(root, i);
        json_t *o = json_object();
        rc = run_case(&c, cs, i, o);
        if (rc != 0) {
            json_decref(o);
            break;
        }
        print_json(out, o);
        fputc('\n', out);
        if (check) {
            json_t *expected = json_object_get(cs, "expected");
            const char *id = json_string_value(json_object_get(cs, "id"));
            if (!json_is_object(expected)) {
                rc = bad(&c, idx(&c, "", i), "expected: missing (expected an object)");
                json_decref(o);
                break;
            }
            if (check_case(out, id, expected, o)) {
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
        fprintf(out, "%zu passed, %zu failed\n", passed, failed);
        if (failed > 0) {
            return tw_error_set(err, TW_EINVAL, "%s: %zu of %zu cases failed", file, failed,
                                passed + failed);
        }
    }
    return 0;
}

int tw_hpa_cases_run(const char *path, int check, FILE *out, tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, TW_HPA_CASES_MAX_BYTES);
    int rc = tw_buf_read_file(&b, path, err);
    if (rc == 0) {
        rc = tw_hpa_cases_run_buf(b.data == NULL ? "" : b.data, b.len, path, check, out, err);
    }
    tw_buf_fini(&b);
    return rc;
}
