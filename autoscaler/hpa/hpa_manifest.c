/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hpa_manifest.c - Kubernetes autoscaling/v2 HorizontalPodAutoscaler manifests to the
 * controller's tw_hpa_spec_t: decoding (shape, integers, quantities), the API server's defaults
 * (pkg/apis/autoscaling/v2/defaults.go) and validation (pkg/apis/autoscaling/validation), with
 * Kubernetes' field paths and messages and the file:line:col of the offending node.
 *
 * How it works: one walk over the document, in the order the API server validates (metadata,
 * minReplicas, maxReplicas, scaleTargetRef, metrics[i], behavior). A decoding problem (unknown
 * key, a string where an integer belongs, a bad quantity) stops the walk at once, as it would
 * stop the API server's decoder before validation. A validation failure is only remembered (the
 * first one, with its node's position) and the walk goes on, so that a later decoding problem
 * still wins; at the end the remembered failure is reported. Kubernetes reports every
 * validation error; we report the first of them, which is the one its list starts with.
 *
 * Multi-document files are cut at `---` lines (a document marker at column 0 can never be
 * content in YAML) and each document is parsed on its own; positions are shifted back to the
 * file's lines. Documents of another kind (the Deployment the HPA scales, a Service) are
 * skipped, so an application's whole manifest bundle can be named.
 *
 * Pure (parses memory; tw_hpa_manifests_load() reads one file). Thread-safe.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/hpa/hpa.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/yaml_tree.h"

#define PATH_MAX_LEN 256

/* The state of one manifest walk. */
typedef struct mwalk {
    tw_yaml_walk_t w;
    const tw_hpa_manifest_options_t *opts;
    bool have_verr; /* a validation failure is remembered */
    int vline, vcol;
    char vmsg[sizeof(((tw_error_t *)0)->msg)];
} mwalk_t;

/* A decoding error: stops the walk. */
static int derr(mwalk_t *c, const tw_yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int derr(mwalk_t *c, const tw_yaml_node_t *n, const char *fmt, ...)
{
    char msg[sizeof(c->vmsg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tw_yaml_error(&c->w, n, "%s", msg);
}

/* A validation error "<path>: <body>": the first one is kept, at n's position. */
static void verr(mwalk_t *c, const tw_yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void verr(mwalk_t *c, const tw_yaml_node_t *n, const char *fmt, ...)
{
    if (c->have_verr) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->vmsg, sizeof(c->vmsg), fmt, ap);
    va_end(ap);
    c->have_verr = true;
    c->vline = n != NULL ? n->line : 0;
    c->vcol = n != NULL ? n->col : 0;
}

/* Go's %q for the "Invalid value" part of messages (ASCII escapes; other bytes as they are). */
static const char *goquote(const char *s, char *out, size_t outsz)
{
    size_t k = 0;
    if (outsz < 8) {
        return "\"\"";
    }
    out[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && k + 6 < outsz; p++) {
        unsigned char ch = *p;
        if (ch == '"' || ch == '\\') {
            out[k++] = '\\';
            out[k++] = (char)ch;
        } else if (ch == '\n') {
            out[k++] = '\\';
            out[k++] = 'n';
        } else if (ch == '\t') {
            out[k++] = '\\';
            out[k++] = 't';
        } else if (ch == '\r') {
            out[k++] = '\\';
            out[k++] = 'r';
        } else if (ch < 0x20 || ch == 0x7f) {
            k += (size_t)snprintf(out + k, outsz - k, "\\x%02x", ch);
        } else {
            out[k++] = (char)ch;
        }
    }
    out[k++] = '"';
    out[k] = '\0';
    return out;
}

/* Field paths are bounded: a longer one is cut, which only shortens a message. */
static const char *child(const char *parent, const char *name, char *out)
{
    if (snprintf(out, PATH_MAX_LEN, "%s.%s", parent, name) >= PATH_MAX_LEN) {
        out[PATH_MAX_LEN - 1] = '\0';
    }
    return out;
}

static const char *index_path(const char *parent, size_t i, char *out)
{
    if (snprintf(out, PATH_MAX_LEN, "%s[%zu]", parent, i) >= PATH_MAX_LEN) {
        out[PATH_MAX_LEN - 1] = '\0';
    }
    return out;
}

/* ---- typed getters ------------------------------------------------------------------------ */

/* A scalar's text into *out (owned; old value freed). Null leaves *out alone. */
static int get_string(mwalk_t *c, const tw_yaml_node_t *n, const char *path, char **out)
{
    const char *s = NULL;
    char desc[96];
    if (n == NULL || tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_SCALAR || strlen(n->value) != n->len) {
        return derr(c, n, "%s: expected a string, got %s", path,
                    tw_yaml_describe(n, desc, sizeof(desc)));
    }
    s = n->value;
    free(*out);
    *out = tw_xstrdup(s);
    return 0;
}

/* An int32 (plain scalar, optional sign). *has tells whether the key was set. */
static int get_int32(mwalk_t *c, const tw_yaml_node_t *n, const char *path, bool *has, int32_t *out)
{
    char desc[96];
    if (n == NULL || tw_yaml_is_null(n)) {
        return 0;
    }
    bool ok = n->kind == TW_YAML_SCALAR && n->plain && n->len > 0;
    const char *p = ok ? n->value : "";
    bool neg = false;
    if (ok && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    int64_t v = 0;
    ok = ok && *p != '\0';
    for (; ok && *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            ok = false;
            break;
        }
        v = v * 10 + (*p - '0');
        if (v > (int64_t)INT32_MAX + 1) {
            ok = false;
        }
    }
    if (ok) {
        v = neg ? -v : v;
        ok = v >= INT32_MIN && v <= INT32_MAX;
    }
    if (!ok) {
        return derr(c, n, "%s: expected a 32-bit integer, got %s", path,
                    tw_yaml_describe(n, desc, sizeof(desc)));
    }
    *has = true;
    *out = (int32_t)v;
    return 0;
}

/* A quantity; *text gets the scalar (borrowed from the node) for messages. */
static int get_quantity(mwalk_t *c, const tw_yaml_node_t *n, const char *path, bool *has,
                        tw_hpa_quantity_t *q, const char **text)
{
    char desc[96];
    if (n == NULL || tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_SCALAR || strlen(n->value) != n->len) {
        return derr(c, n, "%s: expected a quantity (e.g. 500m, 2, 1Gi), got %s", path,
                    tw_yaml_describe(n, desc, sizeof(desc)));
    }
    tw_error_t e;
    tw_error_clear(&e);
    if (tw_hpa_quantity_parse(n->value, n->len, q, &e) != 0) {
        return derr(c, n, "%s: invalid quantity %s: %s", path,
                    tw_yaml_describe(n, desc, sizeof(desc)), e.msg);
    }
    *has = true;
    *text = n->value;
    return 0;
}

static int fields(mwalk_t *c, const tw_yaml_node_t *n, const char *section, const char *const *keys,
                  size_t nkeys, const tw_yaml_node_t **vals)
{
    return tw_yaml_fields(&c->w, n, section, keys, nkeys, vals);
}

/* A sequence (null: empty). */
static int get_seq(mwalk_t *c, const tw_yaml_node_t *n, const char *path)
{
    char desc[96];
    if (!tw_yaml_is_null(n) && n->kind != TW_YAML_SEQ) {
        return derr(c, n, "%s: expected a list, got %s", path,
                    tw_yaml_describe(n, desc, sizeof(desc)));
    }
    return 0;
}

/* ---- name checks (k8s.io/apimachinery/pkg/util/validation) -------------------------------- */

static const char dns_label_msg[] =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
static const char dns_subdomain_msg[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

static bool is_alnum_lower(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n) */
static bool dns_label_ok(const char *s, size_t n)
{
    if (n == 0 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1])) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum_lower(s[i]) && s[i] != '-') {
            return false;
        }
    }
    return true;
}

static bool dns_subdomain_ok(const char *s)
{
    const char *start = s;
    for (;;) {
        const char *dot = strchr(start, '.');
        size_t n = dot != NULL ? (size_t)(dot - start) : strlen(start);
        if (!dns_label_ok(start, n)) {
            return false;
        }
        if (dot == NULL) {
            return true;
        }
        start = dot + 1;
    }
}

/* IsDNS1123Label / IsDNS1123Subdomain as Invalid errors on path. */
static void check_dns(mwalk_t *c, const tw_yaml_node_t *n, const char *path, const char *v,
                      bool subdomain)
{
    char q[PATH_MAX_LEN];
    size_t max = subdomain ? 253 : 63;
    if (strlen(v) > max) {
        verr(c, n, "%s: Invalid value: %s: must be no more than %zu characters", path,
             goquote(v, q, sizeof(q)), max);
    }
    if (subdomain ? !dns_subdomain_ok(v) : !dns_label_ok(v, strlen(v))) {
        verr(c, n, "%s: Invalid value: %s: %s", path, goquote(v, q, sizeof(q)),
             subdomain ? dns_subdomain_msg : dns_label_msg);
    }
}

/* IsValidPathSegmentName */
static void check_path_segment(mwalk_t *c, const tw_yaml_node_t *n, const char *path, const char *v)
{
    char q[PATH_MAX_LEN];
    if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
        verr(c, n, "%s: Invalid value: %s: may not be '%s'", path, goquote(v, q, sizeof(q)), v);
        return;
    }
    if (strchr(v, '/') != NULL) {
        verr(c, n, "%s: Invalid value: %s: may not contain '/'", path, goquote(v, q, sizeof(q)));
    }
    if (strchr(v, '%') != NULL) {
        verr(c, n, "%s: Invalid value: %s: may not contain '%%'", path, goquote(v, q, sizeof(q)));
    }
}

/* ---- object references -------------------------------------------------------------------- */

/* CrossVersionObjectReference: decode and ValidateCrossVersionObjectReference. */
static int walk_ref(mwalk_t *c, const tw_yaml_node_t *n, const tw_yaml_node_t *parent,
                    const char *path, tw_hpa_object_ref_t *ref)
{
    static const char *const keys[] = {"apiVersion", "kind", "name"};
    const tw_yaml_node_t *v[3];
    char p[PATH_MAX_LEN];
    int rc = fields(c, n, path, keys, 3, v);
    if (rc == 0) {
        rc = get_string(c, v[0], child(path, "apiVersion", p), &ref->api_version);
    }
    if (rc == 0) {
        rc = get_string(c, v[1], child(path, "kind", p), &ref->kind);
    }
    if (rc == 0) {
        rc = get_string(c, v[2], child(path, "name", p), &ref->name);
    }
    if (ref->api_version == NULL) {
        ref->api_version = tw_xstrdup("");
    }
    if (ref->kind == NULL) {
        ref->kind = tw_xstrdup("");
    }
    if (ref->name == NULL) {
        ref->name = tw_xstrdup("");
    }
    if (rc != 0) {
        return rc;
    }
    const tw_yaml_node_t *at = tw_yaml_is_null(n) ? parent : n;
    if (ref->kind[0] == '\0') {
        verr(c, v[1] != NULL ? v[1] : at, "%s: Required value", child(path, "kind", p));
    } else {
        check_path_segment(c, v[1], child(path, "kind", p), ref->kind);
    }
    if (ref->name[0] == '\0') {
        verr(c, v[2] != NULL ? v[2] : at, "%s: Required value", child(path, "name", p));
    } else {
        check_path_segment(c, v[2], child(path, "name", p), ref->name);
    }
    return 0;
}

/* ---- metrics ------------------------------------------------------------------------------ */

/* A MetricTarget as decoded. */
typedef struct target {
    const tw_yaml_node_t *node, *type_n, *value_n, *avg_n, *util_n;
    char *type;
    bool has_value, has_avg, has_util;
    tw_hpa_quantity_t value, avg;
    const char *value_text, *avg_text;
    int32_t util;
} target_t;

static int walk_target(mwalk_t *c, const tw_yaml_node_t *n, const char *path, target_t *t)
{
    static const char *const keys[] = {"type", "value", "averageValue", "averageUtilization"};
    const tw_yaml_node_t *v[4];
    char p[PATH_MAX_LEN];
    t->node = n;
    int rc = fields(c, n, path, keys, 4, v);
    if (rc != 0) {
        return rc;
    }
    t->type_n = v[0];
    t->value_n = v[1];
    t->avg_n = v[2];
    t->util_n = v[3];
    if ((rc = get_string(c, v[0], child(path, "type", p), &t->type)) != 0 ||
        (rc = get_quantity(c, v[1], child(path, "value", p), &t->has_value, &t->value,
                           &t->value_text)) != 0 ||
        (rc = get_quantity(c, v[2], child(path, "averageValue", p), &t->has_avg, &t->avg,
                           &t->avg_text)) != 0 ||
        (rc = get_int32(c, v[3], child(path, "averageUtilization", p), &t->has_util, &t->util)) !=
            0) {
        return rc;
    }
    return 0;
}

/* validateMetricTarget */
static void validate_target(mwalk_t *c, const target_t *t, const tw_yaml_node_t *at,
                            const char *path)
{
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    const tw_yaml_node_t *tn = t->node != NULL && !tw_yaml_is_null(t->node) ? t->node : at;
    const char *type = t->type != NULL ? t->type : "";
    if (type[0] == '\0') {
        verr(c, t->type_n != NULL ? t->type_n : tn,
             "%s: Required value: must specify a metric "
             "target type",
             child(path, "type", p));
    }
    if (strcmp(type, "Utilization") != 0 && strcmp(type, "Value") != 0 &&
        strcmp(type, "AverageValue") != 0) {
        verr(c, t->type_n != NULL ? t->type_n : tn,
             "%s: Invalid value: %s: must be either Utilization, Value, or AverageValue",
             child(path, "type", p), goquote(type, q, sizeof(q)));
    }
    if (t->has_value && t->value.sign != 1) {
        verr(c, t->value_n, "%s: Invalid value: %s: must be positive", child(path, "value", p),
             t->value_text);
    }
    if (t->has_avg && t->avg.sign != 1) {
        verr(c, t->avg_n, "%s: Invalid value: %s: must be positive", child(path, "averageValue", p),
             t->avg_text);
    }
    if (t->has_util && t->util < 1) {
        verr(c, t->util_n, "%s: Invalid value: %d: must be greater than 0",
             child(path, "averageUtilization", p), (int)t->util);
    }
}

/* Appends s to the selector string in b with a separating comma. */
static void sel_add(tw_buf_t *b, const char *s)
{
    if (b->len > 0) {
        (void)tw_buf_putc(b, ',');
    }
    (void)tw_buf_puts(b, s);
}

/* A LabelSelector to its string form. */
static int walk_selector(mwalk_t *c, const tw_yaml_node_t *n, const char *path, char **out)
{
    static const char *const keys[] = {"matchLabels", "matchExpressions"};
    const tw_yaml_node_t *v[2];
    char p[PATH_MAX_LEN], p2[PATH_MAX_LEN], p3[PATH_MAX_LEN], desc[96];
    tw_buf_t b;
    int rc = fields(c, n, path, keys, 2, v);
    if (rc != 0) {
        return rc;
    }
    tw_buf_init(&b, 0);
    if (!tw_yaml_is_null(v[0])) {
        if (v[0]->kind != TW_YAML_MAP) {
            rc = derr(c, v[0], "%s: expected a mapping, got %s", child(path, "matchLabels", p),
                      tw_yaml_describe(v[0], desc, sizeof(desc)));
            goto out;
        }
        for (size_t i = 0; i + 1 < v[0]->n; i += 2) {
            const tw_yaml_node_t *k = v[0]->items[i], *val = v[0]->items[i + 1];
            char *ks = NULL, *vs = NULL;
            child(path, "matchLabels", p);
            rc = get_string(c, k, p, &ks);
            if (rc == 0) {
                rc = get_string(c, val, child(p, k->kind == TW_YAML_SCALAR ? k->value : "?", p2),
                                &vs);
            }
            if (rc == 0) {
                sel_add(&b, ks != NULL ? ks : "");
                (void)tw_buf_printf(&b, "=%s", vs != NULL ? vs : "");
            }
            free(ks);
            free(vs);
            if (rc != 0) {
                goto out;
            }
        }
    }
    child(path, "matchExpressions", p);
    if ((rc = get_seq(c, v[1], p)) != 0) {
        goto out;
    }
    for (size_t i = 0; v[1] != NULL && v[1]->kind == TW_YAML_SEQ && i < v[1]->n; i++) {
        static const char *const ekeys[] = {"key", "operator", "values"};
        const tw_yaml_node_t *e[3];
        char *key = NULL, *op = NULL;
        index_path(p, i, p2);
        rc = fields(c, v[1]->items[i], p2, ekeys, 3, e);
        if (rc == 0) {
            rc = get_string(c, e[0], child(p2, "key", p3), &key);
        }
        if (rc == 0) {
            rc = get_string(c, e[1], child(p2, "operator", p3), &op);
        }
        if (rc == 0) {
            rc = get_seq(c, e[2], child(p2, "values", p3));
        }
        tw_buf_t vals;
        tw_buf_init(&vals, 0);
        for (size_t j = 0; rc == 0 && e[2] != NULL && e[2]->kind == TW_YAML_SEQ && j < e[2]->n;
             j++) {
            char *s = NULL;
            char p4[PATH_MAX_LEN];
            rc = get_string(c, e[2]->items[j], index_path(p3, j, p4), &s);
            if (rc == 0) {
                sel_add(&vals, s != NULL ? s : "");
            }
            free(s);
        }
        if (rc == 0) {
            const char *k = key != NULL ? key : "";
            const char *o = op != NULL ? op : "";
            const char *vl = vals.data != NULL ? vals.data : "";
            char term[PATH_MAX_LEN * 2];
            if (strcmp(o, "In") == 0) {
                snprintf(term, sizeof(term), "%s in (%s)", k, vl);
            } else if (strcmp(o, "NotIn") == 0) {
                snprintf(term, sizeof(term), "%s notin (%s)", k, vl);
            } else if (strcmp(o, "Exists") == 0) {
                snprintf(term, sizeof(term), "%s", k);
            } else if (strcmp(o, "DoesNotExist") == 0) {
                snprintf(term, sizeof(term), "!%s", k);
            } else {
                rc = derr(c, e[1] != NULL ? e[1] : v[1]->items[i],
                          "%s: Invalid value: %s: not a valid selector operator",
                          child(p2, "operator", p3), goquote(o, desc, sizeof(desc)));
            }
            if (rc == 0) {
                sel_add(&b, term);
            }
        }
        tw_buf_fini(&vals);
        free(key);
        free(op);
        if (rc != 0) {
            goto out;
        }
    }
out:
    if (rc == 0) {
        free(*out);
        *out = b.data != NULL ? tw_buf_steal(&b, NULL) : tw_xstrdup("");
    }
    tw_buf_fini(&b);
    return rc;
}

/* MetricIdentifier: decode + validateMetricIdentifier. */
static int walk_identifier(mwalk_t *c, const tw_yaml_node_t *n, const tw_yaml_node_t *at,
                           const char *path, char **name, char **selector)
{
    static const char *const keys[] = {"name", "selector"};
    const tw_yaml_node_t *v[2];
    char p[PATH_MAX_LEN];
    int rc = fields(c, n, path, keys, 2, v);
    if (rc == 0) {
        rc = get_string(c, v[0], child(path, "name", p), name);
    }
    if (rc == 0 && !tw_yaml_is_null(v[1])) {
        rc = walk_selector(c, v[1], child(path, "selector", p), selector);
    }
    if (rc != 0) {
        return rc;
    }
    if (*name == NULL || (*name)[0] == '\0') {
        verr(c, v[0] != NULL ? v[0] : (tw_yaml_is_null(n) ? at : n),
             "%s: Required value: must specify a metric name", child(path, "name", p));
    } else {
        check_path_segment(c, v[0], child(path, "name", p), *name);
    }
    return 0;
}

/* The decoded sources of one metrics[] entry. */
typedef enum { SRC_OBJECT = 0, SRC_EXTERNAL, SRC_PODS, SRC_RESOURCE, SRC_CONTAINER, SRC_N } src_t;

static const char *const src_field[SRC_N] = {"object", "external", "pods", "resource",
                                             "containerResource"};
static const char *const src_type[SRC_N] = {"Object", "External", "Pods", "Resource",
                                            "ContainerResource"};

typedef struct msrc {
    const tw_yaml_node_t *node;
    char *name;      /* resource name or metric name */
    char *container; /* containerResource */
    char *selector;
    tw_hpa_object_ref_t described;
    target_t target;
} msrc_t;

static void msrc_fini(msrc_t *s)
{
    free(s->name);
    free(s->container);
    free(s->selector);
    free(s->described.api_version);
    free(s->described.kind);
    free(s->described.name);
    free(s->target.type);
}

/* A standard container resource (IsStandardContainerResourceName). */
static bool standard_container_resource(const char *name)
{
    return strcmp(name, "cpu") == 0 || strcmp(name, "memory") == 0 ||
           strcmp(name, "ephemeral-storage") == 0 || strncmp(name, "hugepages-", 10) == 0;
}

/* Decodes the source of kind k at node n (not null) and validates it like upstream. */
static int walk_source(mwalk_t *c, src_t k, const tw_yaml_node_t *n, const char *path, msrc_t *s,
                       bool validate)
{
    static const char *const res_keys[] = {"name", "target"};
    static const char *const cres_keys[] = {"name", "container", "target"};
    static const char *const pods_keys[] = {"metric", "target"};
    static const char *const obj_keys[] = {"describedObject", "metric", "target"};
    const tw_yaml_node_t *v[3] = {NULL, NULL, NULL};
    char p[PATH_MAX_LEN], p2[PATH_MAX_LEN], q[PATH_MAX_LEN];
    int rc = 0;
    s->node = n;
    const tw_yaml_node_t *target_n = NULL;
    switch (k) {
    case SRC_RESOURCE:
        rc = fields(c, n, path, res_keys, 2, v);
        if (rc == 0) {
            rc = get_string(c, v[0], child(path, "name", p), &s->name);
        }
        target_n = v[1];
        break;
    case SRC_CONTAINER:
        rc = fields(c, n, path, cres_keys, 3, v);
        if (rc == 0) {
            rc = get_string(c, v[0], child(path, "name", p), &s->name);
        }
        if (rc == 0) {
            rc = get_string(c, v[1], child(path, "container", p), &s->container);
        }
        target_n = v[2];
        break;
    case SRC_PODS:
    case SRC_EXTERNAL:
        rc = fields(c, n, path, pods_keys, 2, v);
        if (rc == 0) {
            rc = walk_identifier(c, v[0], n, child(path, "metric", p), &s->name, &s->selector);
        }
        target_n = v[1];
        break;
    case SRC_OBJECT:
        rc = fields(c, n, path, obj_keys, 3, v);
        if (rc == 0) {
            rc = walk_ref(c, v[0], n, child(path, "describedObject", p), &s->described);
        }
        if (rc == 0) {
            rc = walk_identifier(c, v[1], n, child(path, "metric", p), &s->name, &s->selector);
        }
        target_n = v[2];
        break;
    default:
        break;
    }
    if (rc == 0) {
        rc = walk_target(c, target_n, child(path, "target", p), &s->target);
    }
    if (rc != 0 || !validate) {
        return rc;
    }
    /* Identifier and describedObject errors were recorded during the walk, in upstream order
     * (describedObject, metric, target). */
    const target_t *t = &s->target;
    const tw_yaml_node_t *tat = tw_yaml_is_null(target_n) ? n : target_n;
    child(path, "target", p);
    switch (k) {
    case SRC_RESOURCE:
    case SRC_CONTAINER:
        if (s->name == NULL || s->name[0] == '\0') {
            verr(c, v[0] != NULL ? v[0] : n, "%s: Required value: must specify a resource name",
                 child(path, "name", p2));
        } else if (k == SRC_CONTAINER && strchr(s->name, '/') == NULL &&
                   !standard_container_resource(s->name)) {
            verr(c, v[0], "%s: Invalid value: %s: must be a standard resource for containers",
                 child(path, "name", p2), goquote(s->name, q, sizeof(q)));
        }
        if (k == SRC_CONTAINER) {
            if (s->container == NULL || s->container[0] == '\0') {
                verr(c, v[1] != NULL ? v[1] : n, "%s: Required value: must specify a container",
                     child(path, "container", p2));
            } else {
                check_dns(c, v[1], child(path, "container", p2), s->container, false);
            }
        }
        validate_target(c, t, tat, p);
        if (!t->has_util && !t->has_avg) {
            verr(c, tat,
                 "%s: Required value: must set either a target raw value or a target "
                 "utilization",
                 child(p, "averageUtilization", p2));
        }
        if (t->has_util && t->has_avg) {
            verr(c, t->avg_n,
                 "%s: Forbidden: may not set both a target raw value and a target utilization",
                 child(p, "averageValue", p2));
        }
        break;
    case SRC_PODS:
        validate_target(c, t, tat, p);
        if (!t->has_avg) {
            verr(c, tat, "%s: Required value: must specify a positive target averageValue",
                 child(p, "averageValue", p2));
        }
        break;
    case SRC_OBJECT:
        validate_target(c, t, tat, p);
        if (!t->has_value && !t->has_avg) {
            verr(c, tat, "%s: Required value: must set either a target value or averageValue",
                 child(p, "averageValue", p2));
        }
        break;
    case SRC_EXTERNAL:
        validate_target(c, t, tat, p);
        if (!t->has_value && !t->has_avg) {
            verr(c, tat,
                 "%s: Required value: must set either a target value for metric or a per-pod "
                 "target",
                 child(p, "averageValue", p2));
        }
        if (t->has_value && t->has_avg) {
            verr(c, t->value_n,
                 "%s: Forbidden: may not set both a target value for metric and a per-pod "
                 "target",
                 child(p, "value", p2));
        }
        break;
    default:
        break;
    }
    return 0;
}

/* Fills the controller's view of one metric from its (validated) source. */
static void metric_fill(src_t k, msrc_t *s, tw_hpa_metric_input_t *mi,
                        tw_hpa_manifest_metric_t *info)
{
    const target_t *t = &s->target;
    static const tw_hpa_metric_type_t types[SRC_N] = {TW_HPA_METRIC_OBJECT, TW_HPA_METRIC_EXTERNAL,
                                                      TW_HPA_METRIC_PODS, TW_HPA_METRIC_RESOURCE,
                                                      TW_HPA_METRIC_CONTAINER_RESOURCE};
    mi->type = types[k];
    mi->name = s->name != NULL ? s->name : tw_xstrdup("");
    s->name = NULL;
    mi->container = s->container;
    s->container = NULL;
    info->selector = s->selector != NULL ? s->selector : tw_xstrdup("");
    s->selector = NULL;
    info->described_object = s->described;
    memset(&s->described, 0, sizeof(s->described));
    const char *type = t->type != NULL ? t->type : "";
    switch (k) {
    case SRC_RESOURCE:
    case SRC_CONTAINER:
        /* the controller looks at averageValue first */
        if (t->has_avg) {
            mi->target_type = TW_HPA_TARGET_AVERAGE_VALUE;
            mi->target_milli = t->avg.milli;
        } else {
            mi->target_type = TW_HPA_TARGET_UTILIZATION;
            mi->target_utilization = t->util;
        }
        break;
    case SRC_PODS:
        mi->target_type = TW_HPA_TARGET_AVERAGE_VALUE;
        mi->target_milli = t->avg.milli;
        break;
    case SRC_OBJECT:
        /* by target.type; a type without its field fails at run time, as upstream */
        if (strcmp(type, "Value") == 0 && t->has_value) {
            mi->target_type = TW_HPA_TARGET_VALUE;
            mi->target_milli = t->value.milli;
        } else if (strcmp(type, "AverageValue") == 0 && t->has_avg) {
            mi->target_type = TW_HPA_TARGET_AVERAGE_VALUE;
            mi->target_milli = t->avg.milli;
        } else {
            mi->target_type = TW_HPA_TARGET_UTILIZATION;
        }
        break;
    case SRC_EXTERNAL:
        if (t->has_avg) {
            mi->target_type = TW_HPA_TARGET_AVERAGE_VALUE;
            mi->target_milli = t->avg.milli;
        } else {
            mi->target_type = TW_HPA_TARGET_VALUE;
            mi->target_milli = t->value.milli;
        }
        break;
    default:
        break;
    }
}

/* One metrics[i]: decode all sources, validateMetricSpec, fill mi. */
static int walk_metric(mwalk_t *c, const tw_yaml_node_t *n, const char *path,
                       tw_hpa_metric_input_t *mi, tw_hpa_manifest_metric_t *info)
{
    static const char *const keys[] = {"type", "object",   "external",
                                       "pods", "resource", "containerResource"};
    const tw_yaml_node_t *v[6];
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    char *type = NULL;
    msrc_t src[SRC_N];
    memset(src, 0, sizeof(src));
    int rc = fields(c, n, path, keys, 6, v);
    if (rc == 0) {
        rc = get_string(c, v[0], child(path, "type", p), &type);
    }
    if (rc != 0) {
        goto out;
    }
    const char *t = type != NULL ? type : "";
    const tw_yaml_node_t *at = n;
    const tw_yaml_node_t *type_at = v[0] != NULL ? v[0] : at;
    if (t[0] == '\0') {
        verr(c, type_at, "%s: Required value: must specify a metric source type",
             child(path, "type", p));
    }
    int expected = -1;
    for (int k = 0; k < SRC_N; k++) {
        if (strcmp(t, src_type[k]) == 0) {
            expected = k;
        }
    }
    if (expected < 0) {
        verr(c, type_at,
             "%s: Unsupported value: %s: supported values: \"ContainerResource\", "
             "\"External\", \"Object\", \"Pods\", \"Resource\"",
             child(path, "type", p), goquote(t, q, sizeof(q)));
    }
    int present = 0;
    for (int k = 0; k < SRC_N; k++) {
        if (tw_yaml_is_null(v[k + 1])) {
            continue;
        }
        present++;
        /* upstream validates only the first source present; we still decode them all */
        rc =
            walk_source(c, (src_t)k, v[k + 1], child(path, src_field[k], p), &src[k], present == 1);
        if (rc != 0) {
            goto out;
        }
    }
    if (expected >= 0 && tw_yaml_is_null(v[expected + 1])) {
        verr(c, at, "%s: Required value: must populate information for the given metric source",
             child(path, src_field[expected], p));
    }
    if (present > 1) {
        for (int k = 0; k < SRC_N; k++) {
            if (k != expected && !tw_yaml_is_null(v[k + 1])) {
                verr(c, v[k + 1], "%s: Forbidden: must populate the given metric source only",
                     child(path, src_field[k], p));
            }
        }
    }
    if (expected >= 0 && !tw_yaml_is_null(v[expected + 1])) {
        metric_fill((src_t)expected, &src[expected], mi, info);
    } else {
        mi->type = TW_HPA_METRIC_INVALID;
        mi->name = tw_xstrdup(t);
        info->selector = tw_xstrdup("");
    }
out:
    for (int k = 0; k < SRC_N; k++) {
        msrc_fini(&src[k]);
    }
    free(type);
    return rc;
}

/* ---- behavior ----------------------------------------------------------------------------- */

static int walk_rules(mwalk_t *c, const tw_yaml_node_t *n, const char *path,
                      tw_hpa_scaling_rules_t *r, tw_hpa_policy_t **policies)
{
    static const char *const keys[] = {"stabilizationWindowSeconds", "selectPolicy", "policies",
                                       "tolerance"};
    const tw_yaml_node_t *v[4];
    char p[PATH_MAX_LEN], p2[PATH_MAX_LEN], p3[PATH_MAX_LEN], q[PATH_MAX_LEN];
    char *select = NULL;
    bool has_tol = false;
    tw_hpa_quantity_t tol;
    const char *tol_text = NULL;
    memset(&tol, 0, sizeof(tol));
    int rc = fields(c, n, path, keys, 4, v);
    if (rc == 0) {
        rc = get_int32(c, v[0], child(path, "stabilizationWindowSeconds", p),
                       &r->has_stabilization_window, &r->stabilization_window_s);
    }
    if (rc == 0) {
        rc = get_string(c, v[1], child(path, "selectPolicy", p), &select);
    }
    if (rc == 0) {
        rc = get_seq(c, v[2], child(path, "policies", p));
    }
    if (rc == 0) {
        rc = get_quantity(c, v[3], child(path, "tolerance", p), &has_tol, &tol, &tol_text);
    }
    if (rc != 0) {
        goto out;
    }
    /* policies: null or absent -> the defaults (NULL); [] -> explicitly empty */
    const tw_yaml_node_t *pl = v[2];
    size_t np = !tw_yaml_is_null(pl) ? pl->n : 0;
    typedef struct {
        char *type;
        bool has_value, has_period;
        int32_t value, period;
    } raw_policy_t;
    raw_policy_t *raw = tw_xcalloc(np + 1, sizeof(*raw));
    child(path, "policies", p);
    for (size_t i = 0; i < np && rc == 0; i++) {
        static const char *const pkeys[] = {"type", "value", "periodSeconds"};
        const tw_yaml_node_t *pv[3];
        index_path(p, i, p2);
        rc = fields(c, pl->items[i], p2, pkeys, 3, pv);
        if (rc == 0) {
            rc = get_string(c, pv[0], child(p2, "type", p3), &raw[i].type);
        }
        if (rc == 0) {
            rc = get_int32(c, pv[1], child(p2, "value", p3), &raw[i].has_value, &raw[i].value);
        }
        if (rc == 0) {
            rc = get_int32(c, pv[2], child(p2, "periodSeconds", p3), &raw[i].has_period,
                           &raw[i].period);
        }
    }
    if (rc == 0) {
        /* validateScalingRules, after defaulting */
        if (r->has_stabilization_window && r->stabilization_window_s < 0) {
            verr(c, v[0], "%s: Invalid value: %d: must be greater than or equal to zero",
                 child(path, "stabilizationWindowSeconds", p2), (int)r->stabilization_window_s);
        }
        if (r->has_stabilization_window && r->stabilization_window_s > 3600) {
            verr(c, v[0], "%s: Invalid value: %d: must be less than or equal to 3600",
                 child(path, "stabilizationWindowSeconds", p2), (int)r->stabilization_window_s);
        }
        if (select != NULL) {
            if (strcmp(select, "Max") == 0) {
                r->select_policy = TW_HPA_SELECT_MAX;
            } else if (strcmp(select, "Min") == 0) {
                r->select_policy = TW_HPA_SELECT_MIN;
            } else if (strcmp(select, "Disabled") == 0) {
                r->select_policy = TW_HPA_SELECT_DISABLED;
            } else {
                verr(c, v[1],
                     "%s: Unsupported value: %s: supported values: \"Disabled\", \"Max\", "
                     "\"Min\"",
                     child(path, "selectPolicy", p2), goquote(select, q, sizeof(q)));
            }
        }
        if (!tw_yaml_is_null(pl) && np == 0) {
            verr(c, pl, "%s: Required value: must specify at least one Policy", p);
        }
        tw_hpa_policy_t *out = tw_xcalloc(np + 1, sizeof(*out));
        for (size_t i = 0; i < np; i++) {
            const tw_yaml_node_t *pn = pl->items[i];
            const char *type = raw[i].type != NULL ? raw[i].type : "";
            index_path(p, i, p2);
            if (strcmp(type, "Pods") == 0) {
                out[i].type = TW_HPA_POLICY_PODS;
            } else if (strcmp(type, "Percent") == 0) {
                out[i].type = TW_HPA_POLICY_PERCENT;
            } else {
                verr(c, pn, "%s: Unsupported value: %s: supported values: \"Percent\", \"Pods\"",
                     child(p2, "type", p3), goquote(type, q, sizeof(q)));
            }
            out[i].value = raw[i].value;
            out[i].period_s = raw[i].period;
            if (raw[i].value <= 0) {
                verr(c, pn, "%s: Invalid value: %d: must be greater than zero",
                     child(p2, "value", p3), (int)raw[i].value);
            }
            if (raw[i].period <= 0) {
                verr(c, pn, "%s: Invalid value: %d: must be greater than zero",
                     child(p2, "periodSeconds", p3), (int)raw[i].period);
            }
            if (raw[i].period > 1800) {
                verr(c, pn, "%s: Invalid value: %d: must be less than or equal to 1800",
                     child(p2, "periodSeconds", p3), (int)raw[i].period);
            }
        }
        if (has_tol && tol.sign < 0) {
            verr(c, v[3], "%s: Invalid value: %s: must be greater than or equal to zero",
                 child(path, "tolerance", p2), tol_text);
        }
        if (!tw_yaml_is_null(pl)) {
            *policies = out;
            r->policies = out;
            r->n_policies = np;
        } else {
            free(out);
        }
        r->has_tolerance = has_tol;
        r->tolerance = tol.approx;
    }
    for (size_t i = 0; i < np; i++) {
        free(raw[i].type);
    }
    free(raw);
out:
    free(select);
    return rc;
}

/* ---- the manifest ------------------------------------------------------------------------- */

void tw_hpa_manifest_free(tw_hpa_manifest_t *m)
{
    if (m == NULL) {
        return;
    }
    free(m->name);
    free(m->namespace);
    free(m->target.api_version);
    free(m->target.kind);
    free(m->target.name);
    for (size_t i = 0; i < m->spec.n_metrics; i++) {
        free((char *)m->metrics_[i].name);
        free((char *)m->metrics_[i].container);
        free(m->metric_info[i].selector);
        free(m->metric_info[i].described_object.api_version);
        free(m->metric_info[i].described_object.kind);
        free(m->metric_info[i].described_object.name);
    }
    free(m->metrics_);
    free(m->metric_info);
    free(m->policies_[0]);
    free(m->policies_[1]);
    free(m);
}

static int walk_metadata(mwalk_t *c, const tw_yaml_node_t *n, const tw_yaml_node_t *root,
                         tw_hpa_manifest_t *m)
{
    char desc[96];
    const tw_yaml_node_t *name_n = NULL, *ns_n = NULL;
    if (!tw_yaml_is_null(n)) {
        if (n->kind != TW_YAML_MAP) {
            return derr(c, n, "metadata: expected a mapping, got %s",
                        tw_yaml_describe(n, desc, sizeof(desc)));
        }
        /* labels, annotations and the server-set fields are allowed and ignored */
        for (size_t i = 0; i + 1 < n->n; i += 2) {
            const tw_yaml_node_t *k = n->items[i];
            if (k->kind != TW_YAML_SCALAR) {
                continue;
            }
            if (strcmp(k->value, "name") == 0) {
                name_n = n->items[i + 1];
            } else if (strcmp(k->value, "namespace") == 0) {
                ns_n = n->items[i + 1];
            }
        }
    }
    int rc = get_string(c, name_n, "metadata.name", &m->name);
    if (rc == 0) {
        rc = get_string(c, ns_n, "metadata.namespace", &m->namespace);
    }
    if (rc != 0) {
        return rc;
    }
    if (m->name == NULL) {
        m->name = tw_xstrdup("");
    }
    if (m->namespace == NULL || m->namespace[0] == '\0') {
        free(m->namespace);
        m->namespace = tw_xstrdup("default");
    }
    const tw_yaml_node_t *at = tw_yaml_is_null(n) ? root : n;
    if (m->name[0] == '\0') {
        verr(c, name_n != NULL ? name_n : at,
             "metadata.name: Required value: name or generateName is required");
    } else {
        check_dns(c, name_n, "metadata.name", m->name, true);
    }
    check_dns(c, ns_n, "metadata.namespace", m->namespace, false);
    return 0;
}

/* Walks one manifest; *out is set even on error (the caller frees). */
static int walk_manifest(mwalk_t *c, const tw_yaml_node_t *root, tw_hpa_manifest_t *m)
{
    static const char *const top_keys[] = {"apiVersion", "kind", "metadata", "spec", "status"};
    static const char *const spec_keys[] = {"scaleTargetRef", "minReplicas", "maxReplicas",
                                            "metrics", "behavior"};
    const tw_yaml_node_t *v[5], *s[5];
    char desc[96], p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    char *api = NULL, *kind = NULL;
    int rc;

    if (root == NULL || root->kind != TW_YAML_MAP) {
        if (root == NULL) {
            return tw_error_set_at(c->w.err, TW_EINVAL, c->w.file, 0, 0,
                                   "expected a HorizontalPodAutoscaler manifest, got an empty "
                                   "document");
        }
        return derr(c, root, "expected a HorizontalPodAutoscaler manifest (a mapping), got %s",
                    tw_yaml_describe(root, desc, sizeof(desc)));
    }
    m->line = root->line;
    m->col = root->col;
    if ((rc = fields(c, root, NULL, top_keys, 5, v)) != 0) {
        return rc;
    }
    if ((rc = get_string(c, v[0], "apiVersion", &api)) != 0 ||
        (rc = get_string(c, v[1], "kind", &kind)) != 0) {
        goto out;
    }
    if (api == NULL || strcmp(api, "autoscaling/v2") != 0) {
        rc = derr(c, v[0] != NULL ? v[0] : root, "apiVersion: expected \"autoscaling/v2\", got %s",
                  api != NULL ? goquote(api, q, sizeof(q)) : "nothing");
        goto out;
    }
    if (kind == NULL || strcmp(kind, "HorizontalPodAutoscaler") != 0) {
        rc = derr(c, v[1] != NULL ? v[1] : root,
                  "kind: expected \"HorizontalPodAutoscaler\", got %s",
                  kind != NULL ? goquote(kind, q, sizeof(q)) : "nothing");
        goto out;
    }
    if ((rc = walk_metadata(c, v[2], root, m)) != 0) {
        goto out;
    }
    if (tw_yaml_is_null(v[3])) {
        rc = derr(c, root, "spec: required (a HorizontalPodAutoscaler needs a spec)");
        goto out;
    }
    const tw_yaml_node_t *spec = v[3];
    if ((rc = fields(c, spec, "spec", spec_keys, 5, s)) != 0) {
        goto out;
    }
    bool has_max = false;
    if ((rc = get_int32(c, s[1], "spec.minReplicas", &m->spec.has_min_replicas,
                        &m->spec.min_replicas)) != 0 ||
        (rc = get_int32(c, s[2], "spec.maxReplicas", &has_max, &m->spec.max_replicas)) != 0) {
        goto out;
    }
    /* defaults.go: minReplicas 1 */
    if (!m->spec.has_min_replicas) {
        m->spec.has_min_replicas = true;
        m->spec.min_replicas = 1;
    }
    int32_t lower = c->opts->gate_scale_to_zero ? 0 : 1;
    if (m->spec.min_replicas < lower) {
        verr(c, s[1], "spec.minReplicas: Invalid value: %d: must be greater than or equal to %d",
             (int)m->spec.min_replicas, (int)lower);
    }
    const tw_yaml_node_t *max_at = s[2] != NULL ? s[2] : spec;
    if (m->spec.max_replicas < 1) {
        verr(c, max_at, "spec.maxReplicas: Invalid value: %d: must be greater than 0",
             (int)m->spec.max_replicas);
    }
    if (m->spec.max_replicas < m->spec.min_replicas) {
        verr(c, max_at,
             "spec.maxReplicas: Invalid value: %d: must be greater than or equal to "
             "`minReplicas`",
             (int)m->spec.max_replicas);
    }
    if ((rc = walk_ref(c, s[0], spec, "spec.scaleTargetRef", &m->target)) != 0) {
        goto out;
    }
    if (m->target.kind[0] != '\0' && strcmp(m->target.kind, "Deployment") != 0 &&
        strcmp(m->target.kind, "StatefulSet") != 0) {
        const tw_yaml_node_t *kn = NULL;
        if (!tw_yaml_is_null(s[0])) {
            for (size_t i = 0; i + 1 < s[0]->n; i += 2) {
                if (strcmp(s[0]->items[i]->value, "kind") == 0) {
                    kn = s[0]->items[i + 1];
                }
            }
        }
        verr(c, kn,
             "spec.scaleTargetRef.kind: Unsupported value: %s: supported values: "
             "\"Deployment\", \"StatefulSet\"",
             goquote(m->target.kind, q, sizeof(q)));
    }
    /* metrics; defaults.go: none -> cpu at 80 % utilization */
    if ((rc = get_seq(c, s[3], "spec.metrics")) != 0) {
        goto out;
    }
    size_t nm = !tw_yaml_is_null(s[3]) ? s[3]->n : 0;
    m->metrics_ = tw_xcalloc(nm > 0 ? nm : 1, sizeof(*m->metrics_));
    m->metric_info = tw_xcalloc(nm > 0 ? nm : 1, sizeof(*m->metric_info));
    bool has_obj_ext = false;
    for (size_t i = 0; i < nm; i++) {
        m->spec.n_metrics = i + 1; /* so that free() sees what was filled */
        rc = walk_metric(c, s[3]->items[i], index_path("spec.metrics", i, p), &m->metrics_[i],
                         &m->metric_info[i]);
        if (rc != 0) {
            goto out;
        }
        if (m->metrics_[i].type == TW_HPA_METRIC_OBJECT ||
            m->metrics_[i].type == TW_HPA_METRIC_EXTERNAL) {
            has_obj_ext = true;
        }
    }
    if (nm == 0) {
        m->spec.n_metrics = 1;
        m->metrics_[0].type = TW_HPA_METRIC_RESOURCE;
        m->metrics_[0].name = tw_xstrdup("cpu");
        m->metrics_[0].target_type = TW_HPA_TARGET_UTILIZATION;
        m->metrics_[0].target_utilization = 80;
        m->metric_info[0].selector = tw_xstrdup("");
    }
    m->spec.metrics = m->metrics_;
    if (m->spec.min_replicas == 0 && !has_obj_ext) {
        verr(c, s[3] != NULL ? s[3] : spec,
             "spec.metrics: Forbidden: must specify at least one Object or External metric to "
             "support scaling to zero replicas");
    }
    /* behavior */
    if (!tw_yaml_is_null(s[4])) {
        static const char *const bkeys[] = {"scaleUp", "scaleDown"};
        const tw_yaml_node_t *b[2];
        if ((rc = fields(c, s[4], "spec.behavior", bkeys, 2, b)) != 0) {
            goto out;
        }
        for (int d = 0; d < 2; d++) {
            rc = walk_rules(c, b[d], d == 0 ? "spec.behavior.scaleUp" : "spec.behavior.scaleDown",
                            &m->rules_[d], &m->policies_[d]);
            if (rc != 0) {
                goto out;
            }
        }
        m->behavior_.scale_up = &m->rules_[0];
        m->behavior_.scale_down = &m->rules_[1];
        m->spec.behavior = &m->behavior_;
        m->has_behavior = true;
    }
out:
    free(api);
    free(kind);
    return rc;
}

static int manifest_from_node(const tw_yaml_node_t *root, const char *file,
                              const tw_hpa_manifest_options_t *opts, tw_hpa_manifest_t **out,
                              tw_error_t *err)
{
    static const tw_hpa_manifest_options_t defaults;
    tw_error_t local;
    tw_error_clear(&local);
    mwalk_t c;
    memset(&c, 0, sizeof(c));
    c.w.file = file != NULL ? file : "";
    c.w.err = err != NULL ? err : &local;
    c.opts = opts != NULL ? opts : &defaults;
    *out = NULL;
    tw_hpa_manifest_t *m = tw_xcalloc(1, sizeof(*m));
    tw_strlcpy(m->file, c.w.file, sizeof(m->file));
    int rc = walk_manifest(&c, root, m);
    if (rc == 0 && c.have_verr) {
        rc = tw_error_set_at(c.w.err, TW_EINVAL, c.w.file, c.vline, c.vcol, "%s", c.vmsg);
    }
    if (rc != 0) {
        tw_hpa_manifest_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int tw_hpa_manifest_from_node(const struct tw_yaml_node *root, const char *file,
                              const tw_hpa_manifest_options_t *opts, tw_hpa_manifest_t **out,
                              tw_error_t *err)
{
    return manifest_from_node(root, file, opts, out, err);
}

/* ---- files -------------------------------------------------------------------------------- */

void tw_hpa_manifest_list_fini(tw_hpa_manifest_list_t *list)
{
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        tw_hpa_manifest_free(list->items[i]);
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

/* One document of a manifest file (tw_yaml_docs_each's callback). */
typedef struct hpa_docs {
    const char *file;
    const tw_hpa_manifest_options_t *opts;
    tw_hpa_manifest_list_t list;
} hpa_docs_t;

static int hpa_doc(void *ctx, const tw_yaml_node_t *root, int first_line, tw_error_t *err)
{
    hpa_docs_t *d = ctx;
    tw_hpa_manifest_t *m = NULL;
    int rc = manifest_from_node(root, d->file, d->opts, &m, err);
    if (rc != 0 || m == NULL) {
        return rc;
    }
    for (size_t i = 0; i < d->list.n; i++) {
        const tw_hpa_manifest_t *o = d->list.items[i];
        if (strcmp(o->name, m->name) == 0 && strcmp(o->namespace, m->namespace) == 0) {
            rc = tw_error_set_at(err, TW_EINVAL, d->file, m->line, m->col,
                                 "duplicate HorizontalPodAutoscaler %s/%s (first at line %d)",
                                 m->namespace, m->name, o->line);
            tw_hpa_manifest_free(m);
            return rc;
        }
    }
    m->line += first_line;
    d->list.items = tw_xrealloc(d->list.items, (d->list.n + 1) * sizeof(*d->list.items));
    d->list.items[d->list.n++] = m;
    return 0;
}

int tw_hpa_manifests_parse(const char *data, size_t len, const char *file,
                           const tw_hpa_manifest_options_t *opts, tw_hpa_manifest_list_t *list,
                           tw_error_t *err)
{
    hpa_docs_t d = {file != NULL ? file : "", opts, {NULL, 0}};
    int rc = tw_yaml_docs_each(data, len, d.file, "HorizontalPodAutoscaler", hpa_doc, &d, err);
    if (rc == 0 && d.list.n == 0) {
        rc = tw_error_set_at(err, TW_EINVAL, d.file, 0, 0,
                             "no HorizontalPodAutoscaler manifest in the file");
    }
    if (rc != 0) {
        tw_hpa_manifest_list_fini(&d.list);
        return rc;
    }
    *list = d.list;
    return 0;
}

int tw_hpa_manifests_load(const char *path, const tw_hpa_manifest_options_t *opts,
                          tw_hpa_manifest_list_t *list, tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, TW_HPA_MANIFEST_MAX_BYTES);
    int rc = tw_buf_read_file(&b, path, err);
    if (rc == 0) {
        rc = tw_hpa_manifests_parse(b.data != NULL ? b.data : "", b.len, path, opts, list, err);
    }
    tw_buf_fini(&b);
    return rc;
}
