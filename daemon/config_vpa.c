/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_vpa.c - autoscaling.vertical[] and autoscaling.recommender (see config_vpa.h).
 *
 * The HPA/VPA rule: an HPA that scales on a Resource or ContainerResource metric of cpu or
 * memory with a Utilization target divides usage by the pods' requests. A VPA on the same
 * workload that changes those requests moves the HPA's input with every update: raise the
 * requests and utilization drops, so the HPA removes replicas, usage per pod rises, the VPA
 * raises the requests again (the feedback loop the VPA documentation warns about). The
 * combination is refused unless the HPA uses AverageValue (absolute usage per pod, which no
 * request change moves), the VPA leaves that resource alone (controlledResources, mode Off), or
 * the VPA only records (updateMode Off).
 */
#include "config_vpa.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/hpa/hpa.h"
#include "autoscaler/vpa/vpa.h"
#include "common/mem.h"

/* Takes m into the config's list unless another VPA has its namespace/name. */
static int vertical_add(tw_yaml_walk_t *w, const tw_yaml_node_t *at, tw_config_t *c,
                        tw_vpa_manifest_t *m)
{
    for (size_t i = 0; i < c->autoscaling.n_vertical; i++) {
        const tw_vpa_manifest_t *o = c->autoscaling.vertical[i];
        if (strcmp(o->namespace, m->namespace) == 0 && strcmp(o->name, m->name) == 0) {
            int rc = tw_yaml_error(w, at,
                                   "autoscaling.vertical: duplicate VerticalPodAutoscaler %s/%s "
                                   "(first in %s:%d:%d)",
                                   m->namespace, m->name, o->file, o->line, o->col);
            tw_vpa_manifest_free(m);
            return rc;
        }
    }
    size_t k = c->autoscaling.n_vertical;
    c->autoscaling.vertical =
        tw_xrealloc(c->autoscaling.vertical, (k + 1) * sizeof(*c->autoscaling.vertical));
    c->autoscaling.vertical[k] = m;
    c->autoscaling.n_vertical = k + 1;
    return 0;
}

/* The folder of the config file, for relative paths. */
static void source_dir(const tw_config_t *c, char *dir, size_t dirsz)
{
    const char *slash = strrchr(c->source, '/');
    if (slash == NULL) {
        tw_strlcpy(dir, ".", dirsz);
        return;
    }
    size_t len = slash == c->source ? 1 : (size_t)(slash - c->source);
    if (len >= dirsz) {
        len = dirsz - 1;
    }
    memcpy(dir, c->source, len);
    dir[len] = '\0';
}

/* `- files: [glob, ...]`: every VPA of every matching file. */
static int vertical_files(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"files"};
    const tw_yaml_node_t *v[1];
    char desc[96], dir[4096];
    int rc = tw_yaml_fields(w, n, "autoscaling.vertical[]", keys, 1, v);
    if (rc != 0) {
        return rc;
    }
    if (v[0] == NULL || v[0]->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, v[0] != NULL ? v[0] : n,
                             "autoscaling.vertical[].files: expected a list of file names or "
                             "globs, got %s",
                             tw_yaml_describe(v[0], desc, sizeof(desc)));
    }
    source_dir(c, dir, sizeof(dir));
    for (size_t i = 0; rc == 0 && i < v[0]->n; i++) {
        const tw_yaml_node_t *fn = v[0]->items[i];
        const char *pat = NULL;
        char full[8192];
        rc = tw_yaml_get_scalar(w, fn, "autoscaling.vertical[]", "files[]", "a file name", &pat);
        if (rc != 0) {
            break;
        }
        if (pat == NULL || pat[0] == '\0') {
            rc = tw_yaml_error(w, fn, "autoscaling.vertical[].files: empty file name");
            break;
        }
        snprintf(full, sizeof(full), "%s%s%s", pat[0] == '/' ? "" : dir, pat[0] == '/' ? "" : "/",
                 pat);
        glob_t g;
        memset(&g, 0, sizeof(g));
        int grc = glob(full, 0, NULL, &g);
        if (grc == GLOB_NOMATCH && strpbrk(pat, "*?[") == NULL) {
            rc = tw_yaml_error(w, fn, "autoscaling.vertical[].files: %s: no such file", full);
        } else if (grc != 0 && grc != GLOB_NOMATCH) {
            rc = tw_yaml_error(w, fn, "autoscaling.vertical[].files: cannot expand %s", full);
        }
        for (size_t k = 0; rc == 0 && grc == 0 && k < g.gl_pathc; k++) {
            tw_vpa_manifest_list_t list = {0};
            tw_error_t ferr;
            tw_error_clear(&ferr);
            if (tw_vpa_manifests_load(g.gl_pathv[k], &list, &ferr) != 0) {
                *w->err = ferr; /* the manifest's own file:line:col is the useful one */
                rc = ferr.code != 0 ? ferr.code : TW_EINVAL;
                break;
            }
            for (size_t j = 0; j < list.n; j++) {
                tw_vpa_manifest_t *m = list.items[j];
                list.items[j] = NULL;
                if (rc == 0) {
                    rc = vertical_add(w, fn, c, m);
                } else {
                    tw_vpa_manifest_free(m);
                }
            }
            tw_vpa_manifest_list_fini(&list);
        }
        globfree(&g);
    }
    return rc;
}

/* Whether the VPA changes requests of resource r for some container the HPA metric covers
 * (container NULL: any container of the pod). */
static bool vpa_changes(const tw_vpa_manifest_t *m, const char *container, tw_vpa_resource_t r)
{
    if (m->mode == TW_VPA_UPDATE_OFF) {
        return false;
    }
    if (container != NULL) {
        return tw_vpa_manifest_controls(m, container, r);
    }
    /* A container no policy names gets the "*" policy (or none): does it control r? */
    if (tw_vpa_manifest_controls(m, "\x01", r)) {
        return true;
    }
    for (size_t i = 0; i < m->policy.n; i++) {
        if (!m->policies_[i].mode_off && m->containers[i].controls[r]) {
            return true;
        }
    }
    return false;
}

/* The HPA/VPA feedback-loop rule for one VPA against every HPA. */
static int check_conflicts(tw_yaml_walk_t *w, const tw_config_t *c, const tw_vpa_manifest_t *m)
{
    for (size_t i = 0; i < c->autoscaling.n_horizontal; i++) {
        const tw_hpa_manifest_t *h = c->autoscaling.horizontal[i];
        if (strcmp(h->namespace, m->namespace) != 0 ||
            strcmp(h->target.kind, m->target.kind) != 0 ||
            strcmp(h->target.name, m->target.name) != 0) {
            continue;
        }
        for (size_t k = 0; k < h->spec.n_metrics; k++) {
            const tw_hpa_metric_input_t *mi = &h->spec.metrics[k];
            bool res =
                mi->type == TW_HPA_METRIC_RESOURCE || mi->type == TW_HPA_METRIC_CONTAINER_RESOURCE;
            if (!res || mi->target_type != TW_HPA_TARGET_UTILIZATION || mi->name == NULL) {
                continue;
            }
            int r = strcmp(mi->name, "cpu") == 0      ? TW_VPA_CPU
                    : strcmp(mi->name, "memory") == 0 ? TW_VPA_MEMORY
                                                      : -1;
            const char *ctr = mi->type == TW_HPA_METRIC_CONTAINER_RESOURCE ? mi->container : NULL;
            if (r < 0 || !vpa_changes(m, ctr, (tw_vpa_resource_t)r)) {
                continue;
            }
            return tw_error_set_at(
                w->err, TW_EINVAL, m->file, m->line, m->col,
                "autoscaling.vertical: VerticalPodAutoscaler %s/%s and HorizontalPodAutoscaler "
                "%s/%s (%s:%d:%d) both act on %s of %s %s: the HPA scales on %s utilization, a "
                "percentage of the requests this VPA changes, so every update of one moves the "
                "other's input (the HPA/VPA feedback loop). Give the HPA an AverageValue target, "
                "leave %s out of the VPA's controlledResources%s%s, or set the VPA's updateMode "
                "to Off",
                m->namespace, m->name, h->namespace, h->name, h->file, h->line, h->col, mi->name,
                m->target.kind, m->target.name, mi->name, mi->name,
                ctr != NULL ? " for container " : "", ctr != NULL ? ctr : "");
        }
    }
    return 0;
}

int tw_config_walk_vertical(tw_yaml_walk_t *w, const tw_yaml_node_t *n_vertical,
                            const tw_yaml_node_t *n_options, tw_config_t *c)
{
    char desc[96];
    int rc = 0;
    if (!tw_yaml_is_null(n_options)) {
        c->autoscaling.recommender = tw_xcalloc(1, sizeof(*c->autoscaling.recommender));
        tw_vpa_options_init(c->autoscaling.recommender);
        rc = tw_vpa_options_from_node(n_options, w->file, "autoscaling.recommender",
                                      c->autoscaling.recommender, w->err);
        if (rc != 0) {
            return rc;
        }
    }
    if (tw_yaml_is_null(n_vertical)) {
        return 0;
    }
    if (n_vertical->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, n_vertical,
                             "autoscaling.vertical: expected a list of VerticalPodAutoscaler "
                             "manifests or {files: [...]} entries, got %s",
                             tw_yaml_describe(n_vertical, desc, sizeof(desc)));
    }
    for (size_t i = 0; rc == 0 && i < n_vertical->n; i++) {
        const tw_yaml_node_t *it = n_vertical->items[i];
        if (it->kind == TW_YAML_MAP && it->n == 2 && strcmp(it->items[0]->value, "files") == 0) {
            rc = vertical_files(w, it, c);
            continue;
        }
        tw_vpa_manifest_t *m = NULL;
        rc = tw_vpa_manifest_from_node(it, w->file, &m, w->err);
        if (rc == 0) {
            rc = vertical_add(w, it, c, m);
        }
    }
    for (size_t i = 0; rc == 0 && i < c->autoscaling.n_vertical; i++) {
        rc = check_conflicts(w, c, c->autoscaling.vertical[i]);
    }
    return rc;
}

/* Replaces a relative *path by the config folder's path to it. */
static void resolve_path(const tw_config_t *c, char **path)
{
    char dir[4096], full[8192];
    if ((*path)[0] == '\0' || (*path)[0] == '/') {
        return;
    }
    source_dir(c, dir, sizeof(dir));
    snprintf(full, sizeof(full), "%s/%s", dir, *path);
    free(*path);
    *path = tw_xstrdup(full);
}

int tw_config_walk_admission_webhook(tw_yaml_walk_t *w, const tw_yaml_node_t *n, tw_config_t *c)
{
    static const char *const keys[] = {"listen_address", "tls_config"};
    static const char *const tkeys[] = {"cert_file", "key_file"};
    const char *sec = "autoscaling.admission_webhook";
    const char *tsec = "autoscaling.admission_webhook.tls_config";
    __typeof__(c->autoscaling.admission_webhook) *wh = &c->autoscaling.admission_webhook;
    const tw_yaml_node_t *v[2], *tv[2];
    int rc = tw_yaml_fields(w, n, sec, keys, 2, v);
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[0], sec, keys[0], &wh->listen_address);
    }
    if (rc == 0) {
        rc = tw_yaml_fields(w, v[1], tsec, tkeys, 2, tv);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, tv[0], tsec, tkeys[0], &wh->cert_file);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, tv[1], tsec, tkeys[1], &wh->key_file);
    }
    if (rc != 0 || tw_yaml_is_null(n)) {
        return rc;
    }
    if (wh->listen_address[0] == '\0') {
        return tw_yaml_error(w, v[0] != NULL ? v[0] : n,
                             "%s.listen_address: required (host:port of the webhook's HTTPS "
                             "listener)",
                             sec);
    }
    if (wh->cert_file[0] == '\0' || wh->key_file[0] == '\0') {
        return tw_yaml_error(w, v[1] != NULL ? v[1] : n,
                             "%s.tls_config: cert_file and key_file are required: the API server "
                             "calls admission webhooks over HTTPS only",
                             sec);
    }
    resolve_path(c, &wh->cert_file);
    resolve_path(c, &wh->key_file);
    return 0;
}

void tw_config_vertical_free(tw_config_t *c)
{
    free(c->autoscaling.admission_webhook.listen_address);
    free(c->autoscaling.admission_webhook.cert_file);
    free(c->autoscaling.admission_webhook.key_file);
    c->autoscaling.admission_webhook.listen_address = NULL;
    c->autoscaling.admission_webhook.cert_file = NULL;
    c->autoscaling.admission_webhook.key_file = NULL;
    for (size_t i = 0; i < c->autoscaling.n_vertical; i++) {
        tw_vpa_manifest_free(c->autoscaling.vertical[i]);
    }
    free(c->autoscaling.vertical);
    c->autoscaling.vertical = NULL;
    c->autoscaling.n_vertical = 0;
    free(c->autoscaling.recommender);
    c->autoscaling.recommender = NULL;
}
