/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_manifest.c - autoscaling.k8s.io/v1 VerticalPodAutoscaler manifests to tw_vpa_manifest_t,
 * and the recommender's options (the upstream flags) to tw_vpa_options_t.
 *
 * How it works: one walk over the document in the order the VPA admission controller's
 * ValidateVPA checks it (updatePolicy, resourcePolicy.containerPolicies[i], targetRef,
 * recommenders), stopping at the first problem. Shape errors (unknown keys, a list where a
 * mapping belongs, a bad quantity) and validation errors alike name the field path and the
 * node's file:line:col; validation messages are upstream's words after the path ("max
 * resource for cpu is lower than min"). The CRD's enums (updateMode, mode, controlledValues,
 * changeRequirement) are checked here too, since the API server would refuse those before the
 * webhook sees them. Fields behind the VPA feature gates tidewatch does not offer
 * (PerVPAConfig's evictAfterOOMSeconds and oomBumpUp*, CPUStartupBoost) are refused with
 * upstream's message.
 *
 * Multi-document files are cut at `---` lines and each document parsed on its own, positions
 * shifted back to the file's lines; documents of other kinds are skipped.
 *
 * Pure (parses memory; tw_vpa_manifests_load() reads one file). Thread-safe.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "common/yaml_tree.h"

#define PATH_LEN 256

/* ---- small helpers ------------------------------------------------------------------------ */

static const char *child(const char *parent, const char *name, char *out)
{
    if (snprintf(out, PATH_LEN, "%s.%s", parent, name) >= PATH_LEN) {
        out[PATH_LEN - 1] = '\0';
    }
    return out;
}

static const char *index_path(const char *parent, size_t i, char *out)
{
    if (snprintf(out, PATH_LEN, "%s[%zu]", parent, i) >= PATH_LEN) {
        out[PATH_LEN - 1] = '\0';
    }
    return out;
}

/* The value node of key in mapping n, or NULL. */
static const tw_yaml_node_t *map_get(const tw_yaml_node_t *n, const char *key)
{
    if (n == NULL || n->kind != TW_YAML_MAP) {
        return NULL;
    }
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        if (n->items[i]->kind == TW_YAML_SCALAR && strcmp(n->items[i]->value, key) == 0) {
            return n->items[i + 1];
        }
    }
    return NULL;
}

/* A scalar string; null leaves *out NULL. The result is borrowed from the node. */
static int get_str(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *path, const char **out)
{
    char desc[96];
    *out = NULL;
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_SCALAR || strlen(n->value) != n->len) {
        return tw_yaml_error(w, n, "%s: expected a string, got %s", path,
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    *out = n->value;
    return 0;
}

/* A plain int32. */
static int get_int32(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *path, bool *has,
                     int32_t *out)
{
    char desc[96];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long v = n->kind == TW_YAML_SCALAR && n->plain ? strtoll(n->value, &end, 10) : 0;
    if (n->kind != TW_YAML_SCALAR || !n->plain || end == n->value || *end != '\0' || errno != 0 ||
        v < INT32_MIN || v > INT32_MAX) {
        return tw_yaml_error(w, n, "%s: expected a 32-bit integer, got %s", path,
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    *has = true;
    *out = (int32_t)v;
    return 0;
}

/* A sequence (null: empty). */
static int get_seq(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *path)
{
    char desc[96];
    if (!tw_yaml_is_null(n) && n->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, n, "%s: expected a list, got %s", path,
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    return 0;
}

/* "cpu" or "memory" to a resource; -1 otherwise. */
static int resource_of(const char *s)
{
    if (strcmp(s, "cpu") == 0) {
        return TW_VPA_CPU;
    }
    if (strcmp(s, "memory") == 0) {
        return TW_VPA_MEMORY;
    }
    return -1;
}

/* DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 bytes. */
static bool dns_label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && (ch != '-' || i == 0 || i + 1 == n)) {
            return false;
        }
    }
    return true;
}

static bool dns_subdomain_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253) {
        return false;
    }
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (!dns_label_ok(p, n)) {
            return false;
        }
        if (dot == NULL) {
            return true;
        }
        p = dot + 1;
    }
}

/* ---- resource lists ----------------------------------------------------------------------- */

/* minAllowed / maxAllowed: {cpu: <quantity>, memory: <quantity>}. */
static int walk_rlist(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *path,
                      tw_vpa_rlist_t *out, const tw_yaml_node_t **pos)
{
    char desc[96], p[PATH_LEN];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_MAP) {
        return tw_yaml_error(w, n, "%s: expected a mapping of resource quantities, got %s", path,
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const tw_yaml_node_t *k = n->items[i], *v = n->items[i + 1];
        int r = k->kind == TW_YAML_SCALAR ? resource_of(k->value) : -1;
        if (r < 0) {
            return tw_yaml_error(w, k,
                                 "%s: Unsupported value: %s: supported values: \"cpu\", "
                                 "\"memory\"",
                                 path, tw_yaml_describe(k, desc, sizeof(desc)));
        }
        child(path, k->value, p);
        if (out->has[r]) {
            return tw_yaml_error(w, k, "%s: duplicate resource", p);
        }
        if (v->kind != TW_YAML_SCALAR || tw_yaml_is_null(v) || strlen(v->value) != v->len) {
            return tw_yaml_error(w, v, "%s: expected a quantity (e.g. 500m, 2, 1Gi), got %s", p,
                                 tw_yaml_describe(v, desc, sizeof(desc)));
        }
        tw_error_t e;
        tw_error_clear(&e);
        if (tw_vpa_quantity_parse(v->value, v->len, (tw_vpa_resource_t)r, &out->v[r], &e) != 0) {
            return tw_yaml_error(w, v, "%s: %s", p, e.msg);
        }
        if (out->v[r] < 0) {
            return tw_yaml_error(w, v,
                                 "%s: Invalid value: \"%s\": must be greater than or "
                                 "equal to 0",
                                 p, v->value);
        }
        out->has[r] = true;
        pos[r] = v;
    }
    return 0;
}

/* A list of resource names (controlledResources, evictionRequirements[].resources). */
static int walk_resources(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *path,
                          bool out[TW_VPA_NRES])
{
    char desc[96], p[PATH_LEN];
    int rc = get_seq(w, n, path);
    for (size_t i = 0; rc == 0 && !tw_yaml_is_null(n) && i < n->n; i++) {
        const char *s = NULL;
        rc = get_str(w, n->items[i], index_path(path, i, p), &s);
        if (rc != 0) {
            break;
        }
        int r = s != NULL ? resource_of(s) : -1;
        if (r < 0) {
            rc = tw_yaml_error(w, n->items[i],
                               "%s: Unsupported value: %s: supported values: \"cpu\", \"memory\"",
                               p, tw_yaml_describe(n->items[i], desc, sizeof(desc)));
            break;
        }
        out[r] = true;
    }
    return rc;
}

/* ---- spec parts --------------------------------------------------------------------------- */

static const char gate_per_vpa_msg[] = "is not supported when feature flag PerVPAConfig is "
                                       "disabled";

static int walk_update_policy(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_vpa_manifest_t *m)
{
    static const char *const keys[] = {"updateMode", "minReplicas", "evictionRequirements",
                                       "evictAfterOOMSeconds"};
    const char *sec = "spec.updatePolicy";
    const tw_yaml_node_t *v[4];
    char p[PATH_LEN], desc[96];
    const char *mode = NULL;
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    int rc = tw_yaml_fields(w, n, sec, keys, 4, v);
    if (rc == 0) {
        rc = get_str(w, v[0], child(sec, "updateMode", p), &mode);
    }
    if (rc != 0) {
        return rc;
    }
    m->has_update_policy = true;
    if (v[3] != NULL) {
        return tw_yaml_error(w, v[3], "%s: EvictAfterOOMSeconds %s", child(sec, keys[3], p),
                             gate_per_vpa_msg);
    }
    if (mode == NULL) {
        return tw_yaml_error(w, n, "%s: updateMode is required if UpdatePolicy is used", sec);
    }
    tw_error_t e;
    tw_error_clear(&e);
    if (strcmp(mode, "InPlace") == 0 || tw_vpa_update_mode_parse(mode, &m->mode, &e) != 0) {
        return tw_yaml_error(w, v[0],
                             "%s: unexpected UpdateMode value %s (supported: Off, Initial, "
                             "Recreate, Auto, InPlaceOrRecreate)",
                             child(sec, keys[0], p), mode);
    }
    if (m->mode == TW_VPA_UPDATE_AUTO) {
        m->mode_deprecated = true;
        snprintf(m->warning, sizeof(m->warning),
                 "updateMode \"Auto\" is deprecated and acts as \"Recreate\"; set "
                 "\"Recreate\" or \"InPlaceOrRecreate\" explicitly");
    }
    rc = get_int32(w, v[1], child(sec, keys[1], p), &m->has_min_replicas, &m->min_replicas);
    if (rc != 0) {
        return rc;
    }
    if (m->has_min_replicas && m->min_replicas <= 0) {
        return tw_yaml_error(w, v[1], "%s: minReplicas has to be positive, got %d", p,
                             (int)m->min_replicas);
    }
    if ((rc = get_seq(w, v[2], child(sec, keys[2], p))) != 0 || tw_yaml_is_null(v[2])) {
        return rc;
    }
    m->eviction_reqs = tw_xcalloc(v[2]->n > 0 ? v[2]->n : 1, sizeof(*m->eviction_reqs));
    for (size_t i = 0; i < v[2]->n; i++) {
        static const char *const ekeys[] = {"resources", "changeRequirement"};
        const tw_yaml_node_t *e2[2];
        char ep[PATH_LEN], q[PATH_LEN];
        const char *change = NULL;
        tw_vpa_eviction_requirement_t *er = &m->eviction_reqs[i];
        index_path(child(sec, keys[2], p), i, ep);
        rc = tw_yaml_fields(w, v[2]->items[i], ep, ekeys, 2, e2);
        if (rc == 0) {
            rc = walk_resources(w, e2[0], child(ep, ekeys[0], q), er->resources);
        }
        if (rc == 0) {
            rc = get_str(w, e2[1], child(ep, ekeys[1], q), &change);
        }
        if (rc != 0) {
            return rc;
        }
        if (change != NULL && strcmp(change, "TargetHigherThanRequests") == 0) {
            er->change = TW_VPA_TARGET_HIGHER_THAN_REQUESTS;
        } else if (change != NULL && strcmp(change, "TargetLowerThanRequests") == 0) {
            er->change = TW_VPA_TARGET_LOWER_THAN_REQUESTS;
        } else {
            return tw_yaml_error(w, e2[1] != NULL ? e2[1] : v[2]->items[i],
                                 "%s: Unsupported value: %s: supported values: "
                                 "\"TargetHigherThanRequests\", \"TargetLowerThanRequests\"",
                                 q, tw_yaml_describe(e2[1], desc, sizeof(desc)));
        }
        m->n_eviction_reqs = i + 1;
    }
    return 0;
}

static int walk_container_policy(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *path,
                                 tw_vpa_manifest_t *m, size_t idx)
{
    static const char *const keys[] = {"containerName",
                                       "mode",
                                       "minAllowed",
                                       "maxAllowed",
                                       "controlledResources",
                                       "controlledValues",
                                       "oomBumpUpRatio",
                                       "oomMinBumpUp",
                                       "memoryAggregationInterval",
                                       "memoryAggregationIntervalCount",
                                       "startupBoost"};
    const tw_yaml_node_t *v[11], *minpos[TW_VPA_NRES] = {NULL}, *maxpos[TW_VPA_NRES] = {NULL};
    char p[PATH_LEN], desc[96];
    const char *name = NULL, *mode = NULL, *values = NULL;
    tw_vpa_container_policy_t *cp = &m->policies_[idx];
    tw_vpa_manifest_container_t *mc = &m->containers[idx];
    int rc = tw_yaml_fields(w, n, path, keys, 11, v);
    if (rc == 0) {
        rc = get_str(w, v[0], child(path, keys[0], p), &name);
    }
    if (rc != 0) {
        return rc;
    }
    mc->line = n != NULL ? n->line : 0;
    mc->col = n != NULL ? n->col : 0;
    mc->controls[TW_VPA_CPU] = mc->controls[TW_VPA_MEMORY] = true;
    if (name == NULL || name[0] == '\0') {
        return tw_yaml_error(w, v[0] != NULL ? v[0] : n,
                             "%s: containerPolicies.ContainerName is required", p);
    }
    if (strcmp(name, "*") != 0 && !dns_label_ok(name, strlen(name))) {
        return tw_yaml_error(w, v[0],
                             "%s: Invalid value: \"%s\": a container name must be a lowercase "
                             "RFC 1123 label (or \"*\" for every other container)",
                             p, name);
    }
    for (size_t i = 0; i < idx; i++) {
        if (strcmp(m->containers[i].name, name) == 0) {
            return tw_yaml_error(w, v[0], "%s: Duplicate value: \"%s\" (also in entry %zu)", p,
                                 name, i);
        }
    }
    mc->name = tw_xstrdup(name);
    cp->name = mc->name;
    for (size_t k = 6; k <= 9; k++) {
        if (v[k] != NULL) {
            return tw_yaml_error(w, v[k], "%s: %s %s", child(path, keys[k], p), keys[k],
                                 gate_per_vpa_msg);
        }
    }
    if (v[10] != NULL) {
        return tw_yaml_error(w, v[10],
                             "%s: in order to use startupBoost, you must enable feature gate "
                             "CPUStartupBoost in the admission-controller args (not offered by "
                             "tidewatch)",
                             child(path, keys[10], p));
    }
    if ((rc = get_str(w, v[1], child(path, keys[1], p), &mode)) != 0) {
        return rc;
    }
    if (mode != NULL && strcmp(mode, "Off") == 0) {
        cp->mode_off = true;
    } else if (mode != NULL && strcmp(mode, "Auto") != 0) {
        return tw_yaml_error(w, v[1], "%s: unexpected Mode value %s (supported: Auto, Off)", p,
                             mode);
    }
    if ((rc = walk_rlist(w, v[2], child(path, keys[2], p), &cp->min_allowed, minpos)) != 0 ||
        (rc = walk_rlist(w, v[3], child(path, keys[3], p), &cp->max_allowed, maxpos)) != 0) {
        return rc;
    }
    for (int r = 0; r < TW_VPA_NRES; r++) {
        if (cp->min_allowed.has[r] && cp->max_allowed.has[r] &&
            cp->max_allowed.v[r] < cp->min_allowed.v[r]) {
            char q[PATH_LEN];
            child(child(path, keys[3], q), tw_vpa_resource_name((tw_vpa_resource_t)r), p);
            return tw_yaml_error(w, maxpos[r], "%s: max resource for %s is lower than min", p,
                                 tw_vpa_resource_name((tw_vpa_resource_t)r));
        }
    }
    if (v[4] != NULL && !tw_yaml_is_null(v[4])) {
        mc->controls[TW_VPA_CPU] = mc->controls[TW_VPA_MEMORY] = false;
        if ((rc = walk_resources(w, v[4], child(path, keys[4], p), mc->controls)) != 0) {
            return rc;
        }
    }
    if ((rc = get_str(w, v[5], child(path, keys[5], p), &values)) != 0) {
        return rc;
    }
    if (values != NULL && strcmp(values, "RequestsOnly") == 0) {
        cp->requests_only = true;
    } else if (values != NULL && strcmp(values, "RequestsAndLimits") != 0) {
        return tw_yaml_error(w, v[5],
                             "%s: Unsupported value: %s: supported values: \"RequestsAndLimits\", "
                             "\"RequestsOnly\"",
                             p, tw_yaml_describe(v[5], desc, sizeof(desc)));
    }
    if (cp->mode_off && values != NULL && !cp->requests_only) {
        return tw_yaml_error(w, v[5],
                             "%s: controlledValues shouldn't be specified if container scaling "
                             "mode is off",
                             p);
    }
    return 0;
}

static int walk_resource_policy(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_vpa_manifest_t *m)
{
    static const char *const keys[] = {"containerPolicies"};
    const char *sec = "spec.resourcePolicy";
    const tw_yaml_node_t *v[1];
    char p[PATH_LEN], ip[PATH_LEN];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    m->has_resource_policy = true;
    int rc = tw_yaml_fields(w, n, sec, keys, 1, v);
    if (rc == 0) {
        rc = get_seq(w, v[0], child(sec, keys[0], p));
    }
    if (rc != 0 || tw_yaml_is_null(v[0])) {
        return rc;
    }
    size_t k = v[0]->n;
    m->policies_ = tw_xcalloc(k > 0 ? k : 1, sizeof(*m->policies_));
    m->containers = tw_xcalloc(k > 0 ? k : 1, sizeof(*m->containers));
    m->policy.containers = m->policies_;
    for (size_t i = 0; i < k; i++) {
        m->policy.n = i + 1; /* so that free() sees what was filled */
        rc = walk_container_policy(w, v[0]->items[i], index_path(p, i, ip), m, i);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int walk_target_ref(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const tw_yaml_node_t *spec,
                           tw_vpa_manifest_t *m)
{
    static const char *const keys[] = {"apiVersion", "kind", "name"};
    const char *sec = "spec.targetRef";
    const tw_yaml_node_t *v[3];
    const char *s[3] = {NULL, NULL, NULL};
    char p[PATH_LEN];
    if (tw_yaml_is_null(n)) {
        return tw_yaml_error(w, spec,
                             "spec.targetRef: targetRef is required. If you're using v1beta1 "
                             "version of the API, please migrate to v1");
    }
    int rc = tw_yaml_fields(w, n, sec, keys, 3, v);
    for (int i = 0; rc == 0 && i < 3; i++) {
        rc = get_str(w, v[i], child(sec, keys[i], p), &s[i]);
    }
    if (rc != 0) {
        return rc;
    }
    m->target.api_version = tw_xstrdup(s[0] != NULL ? s[0] : "");
    m->target.kind = tw_xstrdup(s[1] != NULL ? s[1] : "");
    m->target.name = tw_xstrdup(s[2] != NULL ? s[2] : "");
    for (int i = 1; i < 3; i++) {
        const char *val = i == 1 ? m->target.kind : m->target.name;
        if (val[0] == '\0') {
            return tw_yaml_error(w, v[i] != NULL ? v[i] : n, "%s: Required value",
                                 child(sec, keys[i], p));
        }
        if (strchr(val, '/') != NULL || strchr(val, '%') != NULL || strcmp(val, ".") == 0 ||
            strcmp(val, "..") == 0) {
            return tw_yaml_error(w, v[i],
                                 "%s: Invalid value: \"%s\": may not be '.', '..' or "
                                 "contain '/' or '%%'",
                                 child(sec, keys[i], p), val);
        }
    }
    return 0;
}

static int walk_recommenders(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_vpa_manifest_t *m)
{
    static const char *const keys[] = {"name"};
    const tw_yaml_node_t *v[1];
    char p[PATH_LEN], q[PATH_LEN];
    const char *name = NULL;
    int rc = get_seq(w, n, "spec.recommenders");
    if (rc != 0 || tw_yaml_is_null(n) || n->n == 0) {
        m->recommender = tw_xstrdup("");
        return rc;
    }
    if (n->n > 1) {
        m->recommender = tw_xstrdup("");
        return tw_yaml_error(w, n->items[1],
                             "spec.recommenders: the current version of VPA object shouldn't "
                             "specify more than one recommenders");
    }
    index_path("spec.recommenders", 0, p);
    rc = tw_yaml_fields(w, n->items[0], p, keys, 1, v);
    if (rc == 0) {
        rc = get_str(w, v[0], child(p, "name", q), &name);
    }
    m->recommender = tw_xstrdup(name != NULL ? name : "");
    return rc;
}

static int walk_metadata(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const tw_yaml_node_t *root,
                         tw_vpa_manifest_t *m)
{
    char desc[96];
    const char *name = NULL, *ns = NULL;
    if (!tw_yaml_is_null(n) && n->kind != TW_YAML_MAP) {
        return tw_yaml_error(w, n, "metadata: expected a mapping, got %s",
                             tw_yaml_describe(n, desc, sizeof(desc)));
    }
    /* labels, annotations and the server-set fields are allowed and ignored */
    const tw_yaml_node_t *name_n = map_get(n, "name"), *ns_n = map_get(n, "namespace");
    int rc = get_str(w, name_n, "metadata.name", &name);
    if (rc == 0) {
        rc = get_str(w, ns_n, "metadata.namespace", &ns);
    }
    m->name = tw_xstrdup(name != NULL ? name : "");
    m->namespace = tw_xstrdup(ns != NULL && ns[0] != '\0' ? ns : "default");
    if (rc != 0) {
        return rc;
    }
    if (m->name[0] == '\0') {
        return tw_yaml_error(w, name_n != NULL ? name_n : (n != NULL ? n : root),
                             "metadata.name: Required value: name or generateName is required");
    }
    if (!dns_subdomain_ok(m->name)) {
        return tw_yaml_error(w, name_n,
                             "metadata.name: Invalid value: \"%s\": a lowercase RFC 1123 "
                             "subdomain must consist of lower case alphanumeric characters, '-' "
                             "or '.', and must start and end with an alphanumeric character",
                             m->name);
    }
    if (!dns_label_ok(m->namespace, strlen(m->namespace))) {
        return tw_yaml_error(w, ns_n,
                             "metadata.namespace: Invalid value: \"%s\": a lowercase RFC 1123 "
                             "label must consist of lower case alphanumeric characters or '-', "
                             "and must start and end with an alphanumeric character",
                             m->namespace);
    }
    return 0;
}

static int walk_manifest(tw_yaml_walk_t *w, const tw_yaml_node_t *root, tw_vpa_manifest_t *m)
{
    static const char *const top_keys[] = {"apiVersion", "kind", "metadata", "spec", "status"};
    static const char *const spec_keys[] = {"targetRef", "updatePolicy", "resourcePolicy",
                                            "recommenders", "startupBoost"};
    const tw_yaml_node_t *v[5], *s[5];
    char desc[96];
    const char *api = NULL, *kind = NULL;
    int rc;
    if (root == NULL) {
        return tw_error_set_at(w->err, TW_EINVAL, w->file, 0, 0,
                               "expected a VerticalPodAutoscaler manifest, got an empty "
                               "document");
    }
    if (root->kind != TW_YAML_MAP) {
        return tw_yaml_error(w, root,
                             "expected a VerticalPodAutoscaler manifest (a mapping), got %s",
                             tw_yaml_describe(root, desc, sizeof(desc)));
    }
    m->line = root->line;
    m->col = root->col;
    if ((rc = tw_yaml_fields(w, root, NULL, top_keys, 5, v)) != 0 ||
        (rc = get_str(w, v[0], "apiVersion", &api)) != 0 ||
        (rc = get_str(w, v[1], "kind", &kind)) != 0) {
        return rc;
    }
    if (api == NULL || strcmp(api, "autoscaling.k8s.io/v1") != 0) {
        return tw_yaml_error(w, v[0] != NULL ? v[0] : root,
                             "apiVersion: expected \"autoscaling.k8s.io/v1\", got %s",
                             api != NULL ? tw_yaml_describe(v[0], desc, sizeof(desc)) : "nothing");
    }
    if (kind == NULL || strcmp(kind, "VerticalPodAutoscaler") != 0) {
        return tw_yaml_error(w, v[1] != NULL ? v[1] : root,
                             "kind: expected \"VerticalPodAutoscaler\", got %s",
                             kind != NULL ? tw_yaml_describe(v[1], desc, sizeof(desc)) : "nothing");
    }
    if ((rc = walk_metadata(w, v[2], root, m)) != 0) {
        return rc;
    }
    if (tw_yaml_is_null(v[3])) {
        return tw_yaml_error(w, root, "spec: required (a VerticalPodAutoscaler needs a spec)");
    }
    if ((rc = tw_yaml_fields(w, v[3], "spec", spec_keys, 5, s)) != 0) {
        return rc;
    }
    if (s[4] != NULL) {
        return tw_yaml_error(w, s[4],
                             "spec.startupBoost: in order to use startupBoost, you must enable "
                             "feature gate CPUStartupBoost in the admission-controller args (not "
                             "offered by tidewatch)");
    }
    if ((rc = walk_update_policy(w, s[1], m)) != 0 ||
        (rc = walk_resource_policy(w, s[2], m)) != 0 ||
        (rc = walk_target_ref(w, s[0], v[3], m)) != 0) {
        return rc;
    }
    return walk_recommenders(w, s[3], m);
}

/* ---- public: one manifest ----------------------------------------------------------------- */

void tw_vpa_manifest_free(tw_vpa_manifest_t *m)
{
    if (m == NULL) {
        return;
    }
    free(m->name);
    free(m->namespace);
    free(m->target.api_version);
    free(m->target.kind);
    free(m->target.name);
    free(m->eviction_reqs);
    for (size_t i = 0; m->containers != NULL && i < m->policy.n; i++) {
        free(m->containers[i].name);
    }
    free(m->containers);
    free(m->policies_);
    free(m->recommender);
    free(m);
}

int tw_vpa_manifest_from_node(const struct tw_yaml_node *root, const char *file,
                              tw_vpa_manifest_t **out, tw_error_t *err)
{
    tw_error_t local;
    tw_error_clear(&local);
    tw_yaml_walk_t w = {.file = file != NULL ? file : "", .err = err != NULL ? err : &local};
    *out = NULL;
    tw_vpa_manifest_t *m = tw_xcalloc(1, sizeof(*m));
    tw_strlcpy(m->file, w.file, sizeof(m->file));
    m->mode = TW_VPA_UPDATE_RECREATE;
    int rc = walk_manifest(&w, root, m);
    if (rc != 0) {
        tw_vpa_manifest_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

const tw_vpa_container_policy_t *tw_vpa_manifest_policy(const tw_vpa_manifest_t *m,
                                                        const char *name, size_t *index)
{
    const tw_vpa_container_policy_t *p = tw_vpa_policy_find(&m->policy, name);
    if (p != NULL && index != NULL) {
        *index = (size_t)(p - m->policies_);
    }
    return p;
}

bool tw_vpa_manifest_controls(const tw_vpa_manifest_t *m, const char *name, tw_vpa_resource_t r)
{
    size_t i = 0;
    const tw_vpa_container_policy_t *p = tw_vpa_manifest_policy(m, name, &i);
    if (p == NULL) {
        return true;
    }
    return !p->mode_off && m->containers[i].controls[r];
}

/* ---- public: files ------------------------------------------------------------------------ */

void tw_vpa_manifest_list_fini(tw_vpa_manifest_list_t *list)
{
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        tw_vpa_manifest_free(list->items[i]);
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

/* One document of a manifest file (tw_yaml_docs_each's callback). */
typedef struct vpa_docs {
    const char *file;
    tw_vpa_manifest_list_t list;
} vpa_docs_t;

static int vpa_doc(void *ctx, const tw_yaml_node_t *root, int first_line, tw_error_t *err)
{
    vpa_docs_t *d = ctx;
    tw_vpa_manifest_t *m = NULL;
    int rc = tw_vpa_manifest_from_node(root, d->file, &m, err);
    if (rc != 0 || m == NULL) {
        return rc;
    }
    for (size_t i = 0; i < d->list.n; i++) {
        const tw_vpa_manifest_t *o = d->list.items[i];
        if (strcmp(o->name, m->name) == 0 && strcmp(o->namespace, m->namespace) == 0) {
            rc = tw_error_set_at(err, TW_EINVAL, d->file, m->line, m->col,
                                 "duplicate VerticalPodAutoscaler %s/%s (first at line %d)",
                                 m->namespace, m->name, o->line);
            tw_vpa_manifest_free(m);
            return rc;
        }
    }
    m->line += first_line;
    d->list.items = tw_xrealloc(d->list.items, (d->list.n + 1) * sizeof(*d->list.items));
    d->list.items[d->list.n++] = m;
    return 0;
}

int tw_vpa_manifests_parse(const char *data, size_t len, const char *file,
                           tw_vpa_manifest_list_t *list, tw_error_t *err)
{
    vpa_docs_t d = {file != NULL ? file : "", {NULL, 0}};
    int rc = tw_yaml_docs_each(data, len, d.file, "VerticalPodAutoscaler", vpa_doc, &d, err);
    if (rc == 0 && d.list.n == 0) {
        rc = tw_error_set_at(err, TW_EINVAL, d.file, 0, 0,
                             "no VerticalPodAutoscaler manifest in the file");
    }
    if (rc != 0) {
        tw_vpa_manifest_list_fini(&d.list);
        return rc;
    }
    *list = d.list;
    return 0;
}

int tw_vpa_manifests_load(const char *path, tw_vpa_manifest_list_t *list, tw_error_t *err)
{
    tw_buf_t b;
    tw_buf_init(&b, TW_VPA_MANIFEST_MAX_BYTES);
    int rc = tw_buf_read_file(&b, path, err);
    if (rc == 0) {
        rc = tw_vpa_manifests_parse(b.data != NULL ? b.data : "", b.len, path, list, err);
    }
    tw_buf_fini(&b);
    return rc;
}

/* ---- options ------------------------------------------------------------------------------ */

void tw_vpa_options_init(tw_vpa_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->interval_ms = 60000;
    o->history_length_ms = INT64_C(8) * 86400000;
    o->history_resolution_ms = 3600000;
    tw_vpa_recommender_config_init(&o->rec);
    tw_vpa_model_config_init(&o->model);
    tw_vpa_update_config_init(&o->update);
    tw_vpa_restriction_config_init(&o->restriction);
}

/* A number in [lo, hi] (lo_open: lo excluded). */
static int get_num(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *path, double lo,
                   bool lo_open, double hi, double *out)
{
    char desc[96];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    double v = n->kind == TW_YAML_SCALAR && n->plain ? strtod(n->value, &end) : NAN;
    if (end == NULL || end == n->value || *end != '\0' || errno != 0 || !isfinite(v) ||
        (lo_open ? !(v > lo) : !(v >= lo)) || v > hi) {
        return tw_yaml_error(w, n, "%s: expected a number %s %g and <= %g, got %s", path,
                             lo_open ? ">" : ">=", lo, hi, tw_yaml_describe(n, desc, sizeof(desc)));
    }
    *out = v;
    return 0;
}

/* A quantity for resource r (the global maxima, oom_min_bump_up_bytes). */
static int get_amount(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *path,
                      tw_vpa_resource_t r, bool *has, int64_t *out)
{
    char desc[96];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    tw_error_t e;
    tw_error_clear(&e);
    if (n->kind != TW_YAML_SCALAR || strlen(n->value) != n->len ||
        tw_vpa_quantity_parse(n->value, n->len, r, out, &e) != 0 || *out < 0) {
        return tw_yaml_error(w, n, "%s: expected a non-negative quantity, got %s%s%s", path,
                             tw_yaml_describe(n, desc, sizeof(desc)), e.msg[0] ? ": " : "", e.msg);
    }
    if (has != NULL) {
        *has = true;
    }
    return 0;
}

enum {
    K_INTERVAL,
    K_HIST_LEN,
    K_HIST_RES,
    K_T_CPU,
    K_L_CPU,
    K_U_CPU,
    K_T_MEM,
    K_L_MEM,
    K_U_MEM,
    K_MARGIN,
    K_CPU_HL,
    K_MEM_HL,
    K_MEM_INT,
    K_MEM_CNT,
    K_OOM_RATIO,
    K_OOM_MIN,
    K_CONF_CPU,
    K_CONF_MEM,
    K_POD_MIN_CPU,
    K_POD_MIN_MEM,
    K_MAX_CPU,
    K_MAX_MEM,
    K_MIN_REPLICAS,
    K_EVICT_TOL,
    K_UPD_THRESH,
    K_OOM_EVICT,
    K_SKIP_PDB,
    K_N_
};

int tw_vpa_options_from_node(const struct tw_yaml_node *n, const char *file, const char *section,
                             tw_vpa_options_t *o, tw_error_t *err)
{
    static const char *const keys[K_N_] = {
        "recommender_interval",
        "history_length",
        "history_resolution",
        "target_cpu_percentile",
        "recommendation_lower_bound_cpu_percentile",
        "recommendation_upper_bound_cpu_percentile",
        "target_memory_percentile",
        "recommendation_lower_bound_memory_percentile",
        "recommendation_upper_bound_memory_percentile",
        "recommendation_margin_fraction",
        "cpu_histogram_decay_half_life",
        "memory_histogram_decay_half_life",
        "memory_aggregation_interval",
        "memory_aggregation_interval_count",
        "oom_bump_up_ratio",
        "oom_min_bump_up_bytes",
        "confidence_interval_cpu",
        "confidence_interval_memory",
        "pod_recommendation_min_cpu_millicores",
        "pod_recommendation_min_memory_mb",
        "container_recommendation_max_allowed_cpu",
        "container_recommendation_max_allowed_memory",
        "min_replicas",
        "eviction_tolerance",
        "pod_update_threshold",
        "evict_after_oom_threshold",
        "in_place_skip_disruption_budget",
    };
    const tw_yaml_node_t *v[K_N_];
    char p[PATH_LEN];
    tw_error_t local;
    tw_error_clear(&local);
    tw_yaml_walk_t w = {.file = file != NULL ? file : "", .err = err != NULL ? err : &local};
    const char *sec = section != NULL ? section : "recommender";
    int rc = tw_yaml_fields(&w, n, sec, keys, K_N_, v);
    int64_t *durs[] = {&o->interval_ms,
                       &o->history_length_ms,
                       &o->history_resolution_ms,
                       NULL,
                       NULL,
                       NULL,
                       NULL,
                       NULL,
                       NULL,
                       NULL,
                       &o->model.cpu_half_life_ms,
                       &o->model.memory_half_life_ms,
                       &o->model.memory_interval_ms};
    for (int k = K_INTERVAL; rc == 0 && k <= K_MEM_INT; k++) {
        if (durs[k] != NULL) {
            rc = tw_yaml_get_duration(&w, v[k], sec, keys[k], false, durs[k]);
        }
    }
    double *pcts[] = {&o->rec.target_cpu_percentile,   &o->rec.lower_cpu_percentile,
                      &o->rec.upper_cpu_percentile,    &o->rec.target_memory_percentile,
                      &o->rec.lower_memory_percentile, &o->rec.upper_memory_percentile};
    for (int k = K_T_CPU; rc == 0 && k <= K_U_MEM; k++) {
        rc = get_num(&w, v[k], tw_yaml_key_path(sec, keys[k], p, sizeof(p)), 0, true, 1,
                     pcts[k - K_T_CPU]);
    }
    if (rc == 0) {
        rc = get_num(&w, v[K_MARGIN], tw_yaml_key_path(sec, keys[K_MARGIN], p, sizeof(p)), 0, false,
                     100, &o->rec.margin_fraction);
    }
    if (rc == 0) {
        uint64_t cnt = (uint64_t)o->model.memory_interval_count;
        rc = tw_yaml_get_uint(&w, v[K_MEM_CNT], sec, keys[K_MEM_CNT], 1, 10000, &cnt);
        o->model.memory_interval_count = (int)cnt;
    }
    if (rc == 0) {
        rc = get_num(&w, v[K_OOM_RATIO], tw_yaml_key_path(sec, keys[K_OOM_RATIO], p, sizeof(p)), 1,
                     false, 1000, &o->model.oom_bump_up_ratio);
    }
    if (rc == 0) {
        rc = get_amount(&w, v[K_OOM_MIN], tw_yaml_key_path(sec, keys[K_OOM_MIN], p, sizeof(p)),
                        TW_VPA_MEMORY, NULL, &o->model.oom_min_bump_up_bytes);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(&w, v[K_CONF_CPU], sec, keys[K_CONF_CPU], false,
                                  &o->rec.confidence_interval_cpu_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(&w, v[K_CONF_MEM], sec, keys[K_CONF_MEM], false,
                                  &o->rec.confidence_interval_memory_ms);
    }
    if (rc == 0) {
        rc = get_num(&w, v[K_POD_MIN_CPU], tw_yaml_key_path(sec, keys[K_POD_MIN_CPU], p, sizeof(p)),
                     0, false, 1e9, &o->rec.pod_min_cpu_millicores);
    }
    if (rc == 0) {
        rc = get_num(&w, v[K_POD_MIN_MEM], tw_yaml_key_path(sec, keys[K_POD_MIN_MEM], p, sizeof(p)),
                     0, false, 1e9, &o->rec.pod_min_memory_mb);
    }
    for (int r = 0; rc == 0 && r < TW_VPA_NRES; r++) {
        int k = r == TW_VPA_CPU ? K_MAX_CPU : K_MAX_MEM;
        rc = get_amount(&w, v[k], tw_yaml_key_path(sec, keys[k], p, sizeof(p)),
                        (tw_vpa_resource_t)r, &o->global_max.has[r], &o->global_max.v[r]);
    }
    if (rc == 0) {
        uint64_t mr = (uint64_t)o->restriction.min_replicas;
        rc = tw_yaml_get_uint(&w, v[K_MIN_REPLICAS], sec, keys[K_MIN_REPLICAS], 1, 1000000, &mr);
        o->restriction.min_replicas = (int)mr;
    }
    if (rc == 0) {
        rc = get_num(&w, v[K_EVICT_TOL], tw_yaml_key_path(sec, keys[K_EVICT_TOL], p, sizeof(p)), 0,
                     false, 1, &o->restriction.eviction_tolerance);
    }
    if (rc == 0) {
        rc = get_num(&w, v[K_UPD_THRESH], tw_yaml_key_path(sec, keys[K_UPD_THRESH], p, sizeof(p)),
                     0, false, 1e6, &o->update.min_change_priority);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(&w, v[K_OOM_EVICT], sec, keys[K_OOM_EVICT], true,
                                  &o->update.evict_after_oom_threshold_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_bool(&w, v[K_SKIP_PDB], sec, keys[K_SKIP_PDB],
                              &o->restriction.in_place_skip_disruption_budget);
    }
    if (rc == 0 && o->history_resolution_ms > o->history_length_ms) {
        rc = tw_yaml_error(&w, v[K_HIST_RES] != NULL ? v[K_HIST_RES] : n,
                           "%s: history_resolution must not exceed history_length",
                           tw_yaml_key_path(sec, keys[K_HIST_RES], p, sizeof(p)));
    }
    return rc;
}
