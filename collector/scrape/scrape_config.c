/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_config.c - parsing `scrape_configs` from the YAML node tree with Prometheus' names,
 * defaults and validation (config/config.go ScrapeConfig.Validate, the HTTP client config of
 * prometheus/common, discovery/file SDConfig, targetgroup.Group), and the config's reference
 * counting.
 *
 * Pure (the YAML is already in memory); configs are immutable once returned, so the scrape
 * thread and the daemon may share them.
 */
#include "scrape_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/timeutil.h"

tw_scrape_config_t *tw_scrape_config_alloc(void)
{
    tw_scrape_config_t *c = tw_xcalloc(1, sizeof(*c));
    atomic_init(&c->refs, 1);
    c->job_name = tw_xstrdup("");
    c->metrics_path = tw_xstrdup("/metrics");
    c->scheme = tw_xstrdup("http");
    c->honor_timestamps = true;
    c->follow_redirects = true;
    return c;
}

tw_scrape_config_t *tw_scrape_config_ref(tw_scrape_config_t *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void tw_scrape_groups_free(tw_scrape_group_t *g, size_t n)
{
    if (g == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < g[i].ntargets; j++) {
            free((char *)g[i].targets[j].value);
        }
        free(g[i].targets);
        for (size_t j = 0; j < g[i].nlabels; j++) {
            free((char *)g[i].labels[j].name);
            free((char *)g[i].labels[j].value);
        }
        free(g[i].labels);
        for (size_t j = 0; g[i].tlabels != NULL && j < g[i].ntargets; j++) {
            for (size_t k = 0; k < g[i].ntlabels[j]; k++) {
                free((char *)g[i].tlabels[j][k].name);
                free((char *)g[i].tlabels[j][k].value);
            }
            free(g[i].tlabels[j]);
        }
        free(g[i].tlabels);
        free(g[i].ntlabels);
    }
    free(g);
}

static void kube_sd_fini(tw_scrape_kube_sd_t *k)
{
    free(k->api_server);
    free(k->kubeconfig_file);
    for (size_t i = 0; i < k->nnamespaces; i++) {
        free(k->namespaces[i]);
    }
    free(k->namespaces);
    for (int r = 0; r < TW_SCRAPE_KUBE_NROLES; r++) {
        free(k->selector_label[r]);
        free(k->selector_field[r]);
    }
    free(k->bearer_token);
    free(k->bearer_token_file);
    free(k->ca_file);
    free(k->cert_file);
    free(k->key_file);
    free(k->sa_dir);
}

void tw_scrape_config_unref(tw_scrape_config_t *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1) {
        return;
    }
    free(c->job_name);
    free(c->metrics_path);
    free(c->scheme);
    for (size_t i = 0; i < c->nparams; i++) {
        free((char *)c->params[i].name);
        for (size_t j = 0; j < c->nparam_values[i]; j++) {
            free(c->param_values[i][j]);
        }
        free(c->param_values[i]);
    }
    free(c->params);
    free(c->param_values);
    free(c->nparam_values);
    tw_scrape_groups_free(c->static_groups, c->nstatic);
    for (size_t i = 0; i < c->nfile_sd; i++) {
        for (size_t j = 0; j < c->file_sd[i].nfiles; j++) {
            free(c->file_sd[i].files[j]);
        }
        free(c->file_sd[i].files);
    }
    free(c->file_sd);
    for (size_t i = 0; i < c->nkube_sd; i++) {
        kube_sd_fini(&c->kube_sd[i]);
    }
    free(c->kube_sd);
    tw_relabel_rules_free(c->relabel);
    tw_relabel_rules_free(c->metric_relabel);
    char **strs[] = {&c->basic_user,      &c->basic_password,   &c->basic_password_file,
                     &c->auth_type,       &c->auth_credentials, &c->auth_credentials_file,
                     &c->tls_ca_file,     &c->tls_cert_file,    &c->tls_key_file,
                     &c->tls_server_name, &c->proxy_url};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
    }
    free(c);
}

void tw_scrape_configs_free(tw_scrape_config_t **cfgs, size_t n)
{
    if (cfgs == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        tw_scrape_config_unref(cfgs[i]);
    }
    free(cfgs);
}

const char *tw_scrape_config_job(const tw_scrape_config_t *c)
{
    return c->job_name;
}

int64_t tw_scrape_config_interval_ms(const tw_scrape_config_t *c)
{
    return c->interval_ms;
}

int64_t tw_scrape_config_timeout_ms(const tw_scrape_config_t *c)
{
    return c->timeout_ms;
}

/* ---- target groups ------------------------------------------------------------------------- */

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != 0) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0) {
            return false;
        }
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80) {
                return false;
            }
        }
    }
    return true;
}

static int parse_group(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec,
                       tw_scrape_group_t *g)
{
    static const char *const keys[] = {"targets", "labels"};
    const tw_yaml_node_t *v[2];
    char d[64];
    int rc = tw_yaml_fields(w, n, sec, keys, 2, v);
    if (rc != 0) {
        return rc;
    }
    if (!tw_yaml_is_null(v[0])) {
        if (v[0]->kind != TW_YAML_SEQ) {
            return tw_yaml_error(w, v[0],
                                 "%s.targets: expected a list of \"host:port\" strings, "
                                 "got %s",
                                 sec, tw_yaml_describe(v[0], d, sizeof(d)));
        }
        g->targets = tw_xcalloc(v[0]->n + 1, sizeof(tw_label_t));
        for (size_t i = 0; i < v[0]->n; i++) {
            const char *s = NULL;
            rc =
                tw_yaml_get_scalar(w, v[0]->items[i], sec, "targets", "a \"host:port\" string", &s);
            if (rc != 0) {
                return rc;
            }
            if (s == NULL) {
                s = "";
            }
            if (strchr(s, '/') != NULL) {
                return tw_yaml_error(w, v[0]->items[i],
                                     "%s.targets: \"%s\" is not a valid "
                                     "hostname",
                                     sec, s);
            }
            g->targets[g->ntargets].name = "__address__";
            g->targets[g->ntargets].value = tw_xstrdup(s);
            g->ntargets++;
        }
    }
    if (!tw_yaml_is_null(v[1])) {
        if (v[1]->kind != TW_YAML_MAP) {
            return tw_yaml_error(w, v[1],
                                 "%s.labels: expected a mapping of label names to "
                                 "values, got %s",
                                 sec, tw_yaml_describe(v[1], d, sizeof(d)));
        }
        g->labels = tw_xcalloc(v[1]->n / 2 + 1, sizeof(tw_label_t));
        for (size_t i = 0; i + 1 < v[1]->n; i += 2) {
            const tw_yaml_node_t *k = v[1]->items[i];
            const char *val = "";
            if (k->kind != TW_YAML_SCALAR || !tw_label_name_valid(k->value)) {
                return tw_yaml_error(w, k, "%s.labels: \"%s\" is not a valid label name", sec,
                                     k->kind == TW_YAML_SCALAR ? k->value : "");
            }
            for (size_t j = 0; j < g->nlabels; j++) {
                if (strcmp(g->labels[j].name, k->value) == 0) {
                    return tw_yaml_error(w, k, "%s.labels: duplicate label \"%s\"", sec, k->value);
                }
            }
            rc = tw_yaml_get_scalar(w, v[1]->items[i + 1], sec, "labels", "a label value", &val);
            if (rc != 0) {
                return rc;
            }
            if (val == NULL) {
                val = "";
            }
            if (!utf8_valid(val)) {
                return tw_yaml_error(w, v[1]->items[i + 1], "%s.labels.%s: invalid UTF-8", sec,
                                     k->value);
            }
            g->labels[g->nlabels].name = tw_xstrdup(k->value);
            g->labels[g->nlabels].value = tw_xstrdup(val);
            g->nlabels++;
        }
    }
    return 0;
}

int tw_scrape_groups_from_yaml(tw_yaml_walk_t *w, const tw_yaml_node_t *seq, const char *section,
                               tw_scrape_group_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (tw_yaml_is_null(seq)) {
        return 0;
    }
    if (seq->kind != TW_YAML_SEQ) {
        char d[64];
        return tw_yaml_error(w, seq, "%s: expected a list of target groups, got %s", section,
                             tw_yaml_describe(seq, d, sizeof(d)));
    }
    tw_scrape_group_t *g = tw_xcalloc(seq->n + 1, sizeof(*g));
    size_t count = 0;
    int rc = 0;
    for (size_t i = 0; i < seq->n; i++) {
        char sec[256];
        snprintf(sec, sizeof(sec), "%.200s[%zu]", section, i);
        count++;
        if (seq->items[i]->kind != TW_YAML_MAP && !tw_yaml_is_null(seq->items[i])) {
            char d[64];
            rc = tw_yaml_error(w, seq->items[i],
                               "%s: expected a mapping with targets and labels, "
                               "got %s",
                               sec, tw_yaml_describe(seq->items[i], d, sizeof(d)));
            break;
        }
        rc = parse_group(w, seq->items[i], sec, &g[i]);
        if (rc != 0) {
            break;
        }
    }
    if (rc != 0) {
        tw_scrape_groups_free(g, count);
        return rc;
    }
    *out = g;
    *n = count;
    return 0;
}

/* ---- the scrape config ------------------------------------------------------------------- */

static char *resolve_path(const char *base_dir, const char *p)
{
    if (p[0] == '/' || base_dir == NULL || base_dir[0] == '\0') {
        return tw_xstrdup(p);
    }
    size_t n = strlen(base_dir) + strlen(p) + 2;
    char *s = tw_xmalloc(n);
    snprintf(s, n, "%s/%s", base_dir, p);
    return s;
}

/* Prometheus' file_sd pattern check: ^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$ */
static bool file_sd_name_valid(const char *s)
{
    const char *star = strchr(s, '*');
    if (star != NULL && (strchr(star + 1, '*') != NULL || strchr(star + 1, '/') != NULL)) {
        return false;
    }
    const char *dot = strrchr(s, '.');
    if (dot == NULL || (star != NULL && dot < star)) {
        return false;
    }
    static const char *const exts[] = {".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(dot, exts[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int parse_file_sd(tw_yaml_walk_t *w, const tw_yaml_node_t *seq, const char *section,
                         const char *base_dir, tw_scrape_config_t *c)
{
    if (tw_yaml_is_null(seq)) {
        return 0;
    }
    if (seq->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, seq, "%s: expected a list", section);
    }
    c->file_sd = tw_xcalloc(seq->n + 1, sizeof(c->file_sd[0]));
    for (size_t i = 0; i < seq->n; i++) {
        static const char *const keys[] = {"files", "refresh_interval"};
        const tw_yaml_node_t *v[2];
        char sec[320];
        snprintf(sec, sizeof(sec), "%.200s[%zu]", section, i);
        tw_scrape_file_sd_t *f = &c->file_sd[c->nfile_sd++];
        f->refresh_interval_ms = 5 * 60 * 1000;
        int rc = tw_yaml_fields(w, seq->items[i], sec, keys, 2, v);
        if (rc == 0) {
            rc = tw_yaml_get_duration(w, v[1], sec, keys[1], false, &f->refresh_interval_ms);
        }
        if (rc != 0) {
            return rc;
        }
        if (tw_yaml_is_null(v[0]) || v[0]->kind != TW_YAML_SEQ || v[0]->n == 0) {
            return tw_yaml_error(w, v[0] != NULL ? v[0] : seq->items[i],
                                 "%s: file service discovery config must contain at least one "
                                 "path name",
                                 sec);
        }
        f->files = tw_xcalloc(v[0]->n + 1, sizeof(char *));
        for (size_t j = 0; j < v[0]->n; j++) {
            const char *s = NULL;
            rc = tw_yaml_get_scalar(w, v[0]->items[j], sec, "files", "a path", &s);
            if (rc != 0) {
                return rc;
            }
            if (s == NULL || !file_sd_name_valid(s)) {
                return tw_yaml_error(w, v[0]->items[j],
                                     "%s.files: path name \"%s\" is not valid "
                                     "for file discovery (expected *.json, *.yml or *.yaml, with "
                                     "at most one * in the last path element)",
                                     sec, s != NULL ? s : "");
            }
            f->files[f->nfiles++] = resolve_path(base_dir, s);
        }
    }
    return 0;
}

static int parse_params(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec,
                        tw_scrape_config_t *c)
{
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_MAP) {
        return tw_yaml_error(w, n, "%s.params: expected a mapping of names to lists of values",
                             sec);
    }
    size_t cap = n->n / 2 + 1;
    c->params = tw_xcalloc(cap, sizeof(tw_label_t));
    c->param_values = tw_xcalloc(cap, sizeof(char **));
    c->nparam_values = tw_xcalloc(cap, sizeof(size_t));
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const tw_yaml_node_t *k = n->items[i], *v = n->items[i + 1];
        if (k->kind != TW_YAML_SCALAR) {
            return tw_yaml_error(w, k, "%s.params: expected a parameter name", sec);
        }
        if (!tw_yaml_is_null(v) && v->kind != TW_YAML_SEQ) {
            return tw_yaml_error(w, v, "%s.params.%s: expected a list of strings", sec, k->value);
        }
        size_t idx = c->nparams++;
        c->params[idx].name = tw_xstrdup(k->value);
        c->params[idx].value = "";
        size_t nv = tw_yaml_is_null(v) ? 0 : v->n;
        c->param_values[idx] = tw_xcalloc(nv + 1, sizeof(char *));
        for (size_t j = 0; j < nv; j++) {
            const char *s = NULL;
            int rc = tw_yaml_get_scalar(w, v->items[j], sec, "params", "a string", &s);
            if (rc != 0) {
                return rc;
            }
            c->param_values[idx][c->nparam_values[idx]++] = tw_xstrdup(s != NULL ? s : "");
        }
        if (c->nparam_values[idx] > 0) {
            c->params[idx].value = c->param_values[idx][0];
        }
    }
    return 0;
}

/* units.Base2Bytes as Prometheus parses body_size_limit: "0", or an integer with B, KB, KiB,
 * MB, MiB, GB, GiB, TB, TiB, PB, PiB, EB, EiB (all powers of 1024). */
static int parse_bytes(const char *s, uint64_t *out)
{
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') {
        return TW_EINVAL;
    }
    while (*p >= '0' && *p <= '9') {
        if (v > UINT64_MAX / 10 - 9) {
            return TW_EINVAL;
        }
        v = v * 10 + (uint64_t)(*p++ - '0');
    }
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
    for (int i = 0; i < 7; i++) {
        char iec[4] = {0};
        if (i > 0) {
            snprintf(iec, sizeof(iec), "%ciB", units[i][0]);
        }
        if (strcmp(p, units[i]) == 0 || (i > 0 && strcmp(p, iec) == 0)) {
            for (int k = 0; k < i; k++) {
                if (v > UINT64_MAX / 1024) {
                    return TW_EINVAL;
                }
                v *= 1024;
            }
            *out = v;
            return 0;
        }
    }
    return TW_EINVAL;
}

static int parse_http(tw_yaml_walk_t *w, const tw_yaml_node_t *const *v, const char *sec,
                      const char *base_dir, tw_scrape_config_t *c)
{
    /* v: basic_auth, authorization, tls_config, bearer_token, bearer_token_file, proxy_url,
     * follow_redirects, enable_http2 */
    char sub[300];
    int rc = 0;
    char *tmp = NULL;
    if (!tw_yaml_is_null(v[0])) {
        static const char *const keys[] = {"username", "password", "password_file"};
        const tw_yaml_node_t *b[3];
        snprintf(sub, sizeof(sub), "%s.basic_auth", sec);
        if ((rc = tw_yaml_fields(w, v[0], sub, keys, 3, b)) != 0 ||
            (rc = tw_yaml_get_string(w, b[0], sub, keys[0], &c->basic_user)) != 0 ||
            (rc = tw_yaml_get_string(w, b[1], sub, keys[1], &c->basic_password)) != 0 ||
            (rc = tw_yaml_get_string(w, b[2], sub, keys[2], &tmp)) != 0) {
            goto out;
        }
        if (c->basic_user == NULL) {
            c->basic_user = tw_xstrdup("");
        }
        if (tmp != NULL) {
            c->basic_password_file = resolve_path(base_dir, tmp);
        }
        if (c->basic_password != NULL && c->basic_password[0] != '\0' &&
            c->basic_password_file != NULL) {
            rc = tw_yaml_error(w, v[0],
                               "%s: at most one of basic_auth password & password_file "
                               "must be configured",
                               sec);
            goto out;
        }
    }
    free(tmp);
    tmp = NULL;
    int auths = (v[0] != NULL && !tw_yaml_is_null(v[0])) + !tw_yaml_is_null(v[1]) +
                (!tw_yaml_is_null(v[3]) || !tw_yaml_is_null(v[4]));
    if (auths > 1) {
        rc = tw_yaml_error(w, v[1] != NULL ? v[1] : v[3],
                           "%s: at most one of basic_auth, "
                           "authorization, bearer_token & bearer_token_file must be configured",
                           sec);
        goto out;
    }
    if (!tw_yaml_is_null(v[3]) && !tw_yaml_is_null(v[4])) {
        rc = tw_yaml_error(w, v[4],
                           "%s: at most one of bearer_token & bearer_token_file must be "
                           "configured",
                           sec);
        goto out;
    }
    if (!tw_yaml_is_null(v[1])) {
        static const char *const keys[] = {"type", "credentials", "credentials_file"};
        const tw_yaml_node_t *b[3];
        snprintf(sub, sizeof(sub), "%s.authorization", sec);
        if ((rc = tw_yaml_fields(w, v[1], sub, keys, 3, b)) != 0 ||
            (rc = tw_yaml_get_string(w, b[0], sub, keys[0], &c->auth_type)) != 0 ||
            (rc = tw_yaml_get_string(w, b[1], sub, keys[1], &c->auth_credentials)) != 0 ||
            (rc = tw_yaml_get_string(w, b[2], sub, keys[2], &tmp)) != 0) {
            goto out;
        }
        if (tmp != NULL) {
            c->auth_credentials_file = resolve_path(base_dir, tmp);
        }
        if (c->auth_type == NULL || c->auth_type[0] == '\0') {
            free(c->auth_type);
            c->auth_type = tw_xstrdup("Bearer");
        }
        if (strcasecmp(c->auth_type, "basic") == 0) {
            rc = tw_yaml_error(w, b[0],
                               "%s: authorization type cannot be set to \"basic\", use "
                               "\"basic_auth\" instead",
                               sub);
            goto out;
        }
        if (c->auth_credentials != NULL && c->auth_credentials_file != NULL) {
            rc = tw_yaml_error(w, v[1],
                               "%s: at most one of authorization credentials & "
                               "credentials_file must be configured",
                               sub);
            goto out;
        }
    }
    free(tmp);
    tmp = NULL;
    if ((rc = tw_yaml_get_string(w, v[3], sec, "bearer_token", &c->auth_credentials)) != 0 ||
        (rc = tw_yaml_get_string(w, v[4], sec, "bearer_token_file", &tmp)) != 0) {
        goto out;
    }
    if (tmp != NULL) {
        c->auth_credentials_file = resolve_path(base_dir, tmp);
    }
    if ((!tw_yaml_is_null(v[3]) || !tw_yaml_is_null(v[4])) && c->auth_type == NULL) {
        c->auth_type = tw_xstrdup("Bearer");
    }
    free(tmp);
    tmp = NULL;
    if (!tw_yaml_is_null(v[2])) {
        static const char *const keys[] = {
            "ca_file",    "cert_file", "key_file", "server_name", "insecure_skip_verify",
            "min_version"};
        const tw_yaml_node_t *b[6];
        char *ca = NULL, *cert = NULL, *key = NULL, *minv = NULL;
        snprintf(sub, sizeof(sub), "%s.tls_config", sec);
        if ((rc = tw_yaml_fields(w, v[2], sub, keys, 6, b)) == 0 &&
            (rc = tw_yaml_get_string(w, b[0], sub, keys[0], &ca)) == 0 &&
            (rc = tw_yaml_get_string(w, b[1], sub, keys[1], &cert)) == 0 &&
            (rc = tw_yaml_get_string(w, b[2], sub, keys[2], &key)) == 0 &&
            (rc = tw_yaml_get_string(w, b[3], sub, keys[3], &c->tls_server_name)) == 0 &&
            (rc = tw_yaml_get_bool(w, b[4], sub, keys[4], &c->tls_insecure_skip_verify)) == 0) {
            rc = tw_yaml_get_string(w, b[5], sub, keys[5], &minv);
        }
        c->tls_ca_file = ca != NULL ? resolve_path(base_dir, ca) : NULL;
        c->tls_cert_file = cert != NULL ? resolve_path(base_dir, cert) : NULL;
        c->tls_key_file = key != NULL ? resolve_path(base_dir, key) : NULL;
        if (rc == 0 && (c->tls_cert_file == NULL) != (c->tls_key_file == NULL)) {
            rc = tw_yaml_error(w, v[2],
                               "%s: exactly one of cert_file and key_file is set; both "
                               "or neither are required",
                               sub);
        }
        if (rc == 0 && minv != NULL && strcmp(minv, "TLS10") != 0 && strcmp(minv, "TLS11") != 0 &&
            strcmp(minv, "TLS12") != 0 && strcmp(minv, "TLS13") != 0) {
            rc = tw_yaml_error(w, b[5],
                               "%s.min_version: unknown TLS version \"%s\" (expected "
                               "TLS10, TLS11, TLS12 or TLS13)",
                               sub, minv);
        }
        free(ca);
        free(cert);
        free(key);
        free(minv);
        if (rc != 0) {
            goto out;
        }
    }
    bool http2 = true;
    if ((rc = tw_yaml_get_string(w, v[5], sec, "proxy_url", &c->proxy_url)) != 0 ||
        (rc = tw_yaml_get_bool(w, v[6], sec, "follow_redirects", &c->follow_redirects)) != 0 ||
        (rc = tw_yaml_get_bool(w, v[7], sec, "enable_http2", &http2)) != 0) {
        goto out;
    }
out:
    free(tmp);
    return rc;
}

/* ---- kubernetes_sd_configs ------------------------------------------------------------------ */

static const char *const kube_roles[] = {"node", "pod", "endpoints", "service"};

static int kube_role_parse(const char *s)
{
    for (int i = 0; i < TW_SCRAPE_KUBE_NROLES; i++) {
        if (strcmp(s, kube_roles[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static bool kube_role_known(const char *s)
{
    return kube_role_parse(s) >= 0 || strcmp(s, "endpointslice") == 0 || strcmp(s, "ingress") == 0;
}

static int parse_kube_selectors(tw_yaml_walk_t *w, const tw_yaml_node_t *seq, const char *sec,
                                tw_scrape_kube_sd_t *k)
{
    /* SDConfig.UnmarshalYAML's allowedSelectors, for the roles tidewatch implements. */
    static const char *const allowed[] = {"node", "pod", "pod, service, endpoints"};
    if (tw_yaml_is_null(seq)) {
        return 0;
    }
    if (seq->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, seq, "%s.selectors: expected a list", sec);
    }
    bool seen[TW_SCRAPE_KUBE_NROLES] = {false};
    for (size_t i = 0; i < seq->n; i++) {
        static const char *const keys[] = {"role", "label", "field"};
        const tw_yaml_node_t *v[3];
        char sub[360];
        char *role = NULL, *label = NULL, *field = NULL;
        snprintf(sub, sizeof(sub), "%.300s.selectors[%zu]", sec, i);
        int rc = tw_yaml_fields(w, seq->items[i], sub, keys, 3, v);
        if (rc == 0 && (rc = tw_yaml_get_string(w, v[0], sub, "role", &role)) == 0 &&
            (rc = tw_yaml_get_string(w, v[1], sub, "label", &label)) == 0) {
            rc = tw_yaml_get_string(w, v[2], sub, "field", &field);
        }
        int r = role != NULL ? kube_role_parse(role) : -1;
        if (rc == 0 && (role == NULL || !kube_role_known(role))) {
            rc = tw_yaml_error(w, v[0] != NULL ? v[0] : seq->items[i],
                               "%s: unknown Kubernetes SD role \"%s\"", sub,
                               role != NULL ? role : "");
        }
        if (rc == 0 && r >= 0 && seen[r]) {
            rc = tw_yaml_error(w, v[0], "%s: duplicated selector role: %s", sub, role);
        }
        bool ok =
            r == k->role || (k->role == TW_SCRAPE_KUBE_ROLE_ENDPOINTS &&
                             (r == TW_SCRAPE_KUBE_ROLE_POD || r == TW_SCRAPE_KUBE_ROLE_SERVICE));
        if (rc == 0 && !ok) {
            rc = tw_yaml_error(w, v[0], "%s: %s role supports only %s selectors", sub,
                               kube_roles[k->role], allowed[k->role]);
        }
        if (rc == 0) {
            seen[r] = true;
            k->selector_label[r] = label;
            k->selector_field[r] = field;
            label = field = NULL;
        }
        free(role);
        free(label);
        free(field);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_kube_sd_one(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec,
                             const char *base_dir, tw_scrape_kube_sd_t *k)
{
    static const char *const keys[] = {
        "api_server",        "role",       "kubeconfig_file",  "namespaces",   "selectors",
        "attach_metadata",   "basic_auth", "authorization",    "tls_config",   "bearer_token",
        "bearer_token_file", "proxy_url",  "follow_redirects", "enable_http2",
    };
    enum { NK = sizeof(keys) / sizeof(keys[0]) };
    const tw_yaml_node_t *v[NK];
    char *role = NULL, *kubeconfig = NULL;
    tw_scrape_config_t *http = NULL;
    int rc = tw_yaml_fields(w, n, sec, keys, NK, v);
    if (rc == 0 && (rc = tw_yaml_get_string(w, v[0], sec, "api_server", &k->api_server)) == 0 &&
        (rc = tw_yaml_get_string(w, v[1], sec, "role", &role)) == 0) {
        rc = tw_yaml_get_string(w, v[2], sec, "kubeconfig_file", &kubeconfig);
    }
    if (rc != 0) {
        goto out;
    }
    if (role == NULL || role[0] == '\0') {
        rc = tw_yaml_error(w, v[1] != NULL ? v[1] : n,
                           "%s: role missing (one of: pod, service, endpoints, endpointslice, "
                           "node, ingress)",
                           sec);
        goto out;
    }
    if (!kube_role_known(role)) {
        rc = tw_yaml_error(w, v[1], "%s: unknown Kubernetes SD role \"%s\"", sec, role);
        goto out;
    }
    k->role = kube_role_parse(role);
    if (k->role < 0 || k->role == TW_SCRAPE_KUBE_ROLE_SERVICE) {
        rc = tw_yaml_error(w, v[1],
                           "%s: role \"%s\" is not supported by tidewatch (supported: node, pod, "
                           "endpoints)",
                           sec, role);
        goto out;
    }
    if (kubeconfig != NULL && kubeconfig[0] != '\0') {
        k->kubeconfig_file = resolve_path(base_dir, kubeconfig);
    }
    if (k->api_server != NULL && k->api_server[0] == '\0') {
        free(k->api_server);
        k->api_server = NULL;
    }
    if (k->api_server != NULL && strncmp(k->api_server, "http://", 7) != 0 &&
        strncmp(k->api_server, "https://", 8) != 0) {
        rc = tw_yaml_error(w, v[0], "%s.api_server: \"%s\" is not an http(s) URL", sec,
                           k->api_server);
        goto out;
    }
    bool custom_http = false;
    for (int i = 6; i < NK; i++) {
        custom_http |= !tw_yaml_is_null(v[i]);
    }
    if (k->api_server != NULL && k->kubeconfig_file != NULL) {
        rc = tw_yaml_error(w, v[2],
                           "%s: cannot use 'kubeconfig_file' and 'api_server' "
                           "simultaneously",
                           sec);
        goto out;
    }
    if (k->kubeconfig_file != NULL && custom_http) {
        rc = tw_yaml_error(w, n,
                           "%s: cannot use a custom HTTP client configuration together with "
                           "'kubeconfig_file'",
                           sec);
        goto out;
    }
    if (k->api_server == NULL && k->kubeconfig_file == NULL && custom_http) {
        rc = tw_yaml_error(w, n,
                           "%s: to use custom HTTP client configuration please provide the "
                           "'api_server' URL explicitly",
                           sec);
        goto out;
    }
    if (!tw_yaml_is_null(v[6]) || !tw_yaml_is_null(v[11])) {
        rc = tw_yaml_error(w, !tw_yaml_is_null(v[6]) ? v[6] : v[11],
                           "%s: %s is not supported for kubernetes_sd_configs (use a bearer "
                           "token, authorization or a client certificate)",
                           sec, !tw_yaml_is_null(v[6]) ? "basic_auth" : "proxy_url");
        goto out;
    }
    /* The HTTP client settings, validated exactly as a scrape config's. */
    http = tw_scrape_config_alloc();
    if ((rc = parse_http(w, v + 6, sec, base_dir, http)) != 0) {
        goto out;
    }
    if (http->auth_type != NULL && strcmp(http->auth_type, "Bearer") != 0) {
        rc = tw_yaml_error(w, v[7],
                           "%s.authorization: type \"%s\" is not supported for "
                           "kubernetes_sd_configs (only Bearer)",
                           sec, http->auth_type);
        goto out;
    }
    k->bearer_token = http->auth_credentials;
    k->bearer_token_file = http->auth_credentials_file;
    k->ca_file = http->tls_ca_file;
    k->cert_file = http->tls_cert_file;
    k->key_file = http->tls_key_file;
    k->insecure_skip_verify = http->tls_insecure_skip_verify;
    http->auth_credentials = http->auth_credentials_file = NULL;
    http->tls_ca_file = http->tls_cert_file = http->tls_key_file = NULL;

    if (!tw_yaml_is_null(v[3])) {
        static const char *const nkeys[] = {"names", "own_namespace"};
        const tw_yaml_node_t *nv[2];
        char sub[360];
        snprintf(sub, sizeof(sub), "%.300s.namespaces", sec);
        if ((rc = tw_yaml_fields(w, v[3], sub, nkeys, 2, nv)) != 0 ||
            (rc = tw_yaml_get_bool(w, nv[1], sub, "own_namespace", &k->own_namespace)) != 0) {
            goto out;
        }
        if (!tw_yaml_is_null(nv[0])) {
            if (nv[0]->kind != TW_YAML_SEQ) {
                rc = tw_yaml_error(w, nv[0], "%s.names: expected a list of namespaces", sub);
                goto out;
            }
            k->namespaces = tw_xcalloc(nv[0]->n + 1, sizeof(char *));
            for (size_t i = 0; i < nv[0]->n; i++) {
                const char *ns = NULL;
                if ((rc = tw_yaml_get_scalar(w, nv[0]->items[i], sub, "names", "a namespace",
                                             &ns)) != 0) {
                    goto out;
                }
                k->namespaces[k->nnamespaces++] = tw_xstrdup(ns != NULL ? ns : "");
            }
        }
    }
    if ((rc = parse_kube_selectors(w, v[4], sec, k)) != 0) {
        goto out;
    }
    if (!tw_yaml_is_null(v[5])) {
        static const char *const akeys[] = {"node"};
        const tw_yaml_node_t *av[1];
        bool node = false;
        char sub[360];
        snprintf(sub, sizeof(sub), "%.300s.attach_metadata", sec);
        if ((rc = tw_yaml_fields(w, v[5], sub, akeys, 1, av)) != 0 ||
            (rc = tw_yaml_get_bool(w, av[0], sub, "node", &node)) != 0) {
            goto out;
        }
        if (node) {
            rc = tw_yaml_error(w, av[0],
                               "%s.node: attaching node metadata is not supported by "
                               "tidewatch yet",
                               sub);
            goto out;
        }
    }
out:
    tw_scrape_config_unref(http);
    free(role);
    free(kubeconfig);
    return rc;
}

static int parse_kube_sd(tw_yaml_walk_t *w, const tw_yaml_node_t *seq, const char *section,
                         const char *base_dir, tw_scrape_config_t *c)
{
    if (tw_yaml_is_null(seq)) {
        return 0;
    }
    if (seq->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, seq, "%s: expected a list", section);
    }
    c->kube_sd = tw_xcalloc(seq->n + 1, sizeof(c->kube_sd[0]));
    for (size_t i = 0; i < seq->n; i++) {
        char sec[320];
        snprintf(sec, sizeof(sec), "%.200s[%zu]", section, i);
        tw_scrape_kube_sd_t *k = &c->kube_sd[c->nkube_sd++];
        int rc = parse_kube_sd_one(w, seq->items[i], sec, base_dir, k);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_one(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec,
                     const tw_scrape_global_t *g, const char *base_dir, tw_scrape_config_t *c)
{
    static const char *const keys[] = {
        "job_name",
        "honor_labels",
        "honor_timestamps",
        "params",
        "scrape_interval",
        "scrape_timeout",
        "metrics_path",
        "scheme",
        "body_size_limit",
        "sample_limit",
        "label_limit",
        "label_name_length_limit",
        "label_value_length_limit",
        "relabel_configs",
        "metric_relabel_configs",
        "static_configs",
        "file_sd_configs",
        "basic_auth",
        "authorization",
        "tls_config",
        "bearer_token",
        "bearer_token_file",
        "proxy_url",
        "follow_redirects",
        "enable_http2",
        "kubernetes_sd_configs",
    };
    enum { NKEYS = sizeof(keys) / sizeof(keys[0]) };
    const tw_yaml_node_t *v[NKEYS];
    char sub[300];
    char *body_limit = NULL;
    int rc;
    if (n == NULL || n->kind != TW_YAML_MAP) {
        char d[64];
        return tw_yaml_error(w, n, "%s: expected a mapping, got %s", sec,
                             tw_yaml_describe(n, d, sizeof(d)));
    }
    if ((rc = tw_yaml_fields(w, n, sec, keys, NKEYS, v)) != 0 ||
        (rc = tw_yaml_get_string(w, v[0], sec, keys[0], &c->job_name)) != 0 ||
        (rc = tw_yaml_get_bool(w, v[1], sec, keys[1], &c->honor_labels)) != 0 ||
        (rc = tw_yaml_get_bool(w, v[2], sec, keys[2], &c->honor_timestamps)) != 0 ||
        (rc = parse_params(w, v[3], sec, c)) != 0 ||
        (rc = tw_yaml_get_duration(w, v[4], sec, keys[4], true, &c->interval_ms)) != 0 ||
        (rc = tw_yaml_get_duration(w, v[5], sec, keys[5], true, &c->timeout_ms)) != 0 ||
        (rc = tw_yaml_get_string(w, v[6], sec, keys[6], &c->metrics_path)) != 0 ||
        (rc = tw_yaml_get_string(w, v[7], sec, keys[7], &c->scheme)) != 0 ||
        (rc = tw_yaml_get_string(w, v[8], sec, keys[8], &body_limit)) != 0 ||
        (rc = tw_yaml_get_uint(w, v[9], sec, keys[9], 0, UINT32_MAX, &c->sample_limit)) != 0 ||
        (rc = tw_yaml_get_uint(w, v[10], sec, keys[10], 0, UINT32_MAX, &c->label_limit)) != 0 ||
        (rc = tw_yaml_get_uint(w, v[11], sec, keys[11], 0, UINT32_MAX,
                               &c->label_name_length_limit)) != 0 ||
        (rc = tw_yaml_get_uint(w, v[12], sec, keys[12], 0, UINT32_MAX,
                               &c->label_value_length_limit)) != 0) {
        goto out;
    }
    if (c->job_name[0] == '\0') {
        rc = tw_yaml_error(w, v[0] != NULL ? v[0] : n, "%s: job_name is empty", sec);
        goto out;
    }
    if (strcmp(c->scheme, "http") != 0 && strcmp(c->scheme, "https") != 0) {
        rc = tw_yaml_error(w, v[7], "%s.scheme: unknown scheme \"%s\" (expected http or https)",
                           sec, c->scheme);
        goto out;
    }
    if (c->metrics_path[0] != '/') {
        rc = tw_yaml_error(w, v[6], "%s.metrics_path: \"%s\" must start with /", sec,
                           c->metrics_path);
        goto out;
    }
    if (body_limit != NULL && parse_bytes(body_limit, &c->body_size_limit) != 0) {
        rc = tw_yaml_error(w, v[8],
                           "%s.body_size_limit: invalid size \"%s\" (expected 0 or an "
                           "integer with a unit: B, KB, MB, GB, e.g. 10MB)",
                           sec, body_limit);
        goto out;
    }
    snprintf(sub, sizeof(sub), "%s.relabel_configs", sec);
    if ((rc = tw_relabel_rules_parse(w, v[13], sub, &c->relabel)) != 0) {
        goto out;
    }
    snprintf(sub, sizeof(sub), "%s.metric_relabel_configs", sec);
    if ((rc = tw_relabel_rules_parse(w, v[14], sub, &c->metric_relabel)) != 0) {
        goto out;
    }
    snprintf(sub, sizeof(sub), "%s.static_configs", sec);
    if ((rc = tw_scrape_groups_from_yaml(w, v[15], sub, &c->static_groups, &c->nstatic)) != 0) {
        goto out;
    }
    snprintf(sub, sizeof(sub), "%s.file_sd_configs", sec);
    if ((rc = parse_file_sd(w, v[16], sub, base_dir, c)) != 0) {
        goto out;
    }
    if ((rc = parse_http(w, v + 17, sec, base_dir, c)) != 0) {
        goto out;
    }
    snprintf(sub, sizeof(sub), "%s.kubernetes_sd_configs", sec);
    if ((rc = parse_kube_sd(w, v[25], sub, base_dir, c)) != 0) {
        goto out;
    }
    /* ScrapeConfig.Validate's interval and timeout rules. */
    if (c->interval_ms == 0) {
        c->interval_ms = g->scrape_interval_ms;
    }
    if (c->timeout_ms > c->interval_ms) {
        rc = tw_yaml_error(w, v[5] != NULL ? v[5] : n,
                           "%s: scrape timeout greater than scrape "
                           "interval for scrape config with job name \"%s\"",
                           sec, c->job_name);
        goto out;
    }
    if (c->timeout_ms == 0) {
        c->timeout_ms =
            g->scrape_timeout_ms > c->interval_ms ? c->interval_ms : g->scrape_timeout_ms;
    }
out:
    free(body_limit);
    return rc;
}

int tw_scrape_configs_parse(tw_yaml_walk_t *w, const tw_yaml_node_t *seq,
                            const tw_scrape_global_t *global, const char *base_dir,
                            tw_scrape_config_t ***out, size_t *n)
{
    tw_scrape_global_t g = {60000, 10000};
    if (global != NULL) {
        g = *global;
    }
    *out = NULL;
    *n = 0;
    if (tw_yaml_is_null(seq)) {
        *out = tw_xcalloc(1, sizeof(tw_scrape_config_t *));
        return 0;
    }
    if (seq->kind != TW_YAML_SEQ) {
        char d[64];
        return tw_yaml_error(w, seq, "scrape_configs: expected a list, got %s",
                             tw_yaml_describe(seq, d, sizeof(d)));
    }
    tw_scrape_config_t **cfgs = tw_xcalloc(seq->n + 1, sizeof(*cfgs));
    size_t count = 0;
    int rc = 0;
    for (size_t i = 0; i < seq->n; i++) {
        char sec[64];
        snprintf(sec, sizeof(sec), "scrape_configs[%zu]", i);
        cfgs[count] = tw_scrape_config_alloc();
        count++;
        rc = parse_one(w, seq->items[i], sec, &g, base_dir, cfgs[i]);
        if (rc != 0) {
            break;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfgs[j]->job_name, cfgs[i]->job_name) == 0) {
                const tw_yaml_node_t *at = seq->items[i];
                rc = tw_yaml_error(w, at, "%s: found multiple scrape configs with job name \"%s\"",
                                   sec, cfgs[i]->job_name);
                break;
            }
        }
        if (rc != 0) {
            break;
        }
    }
    if (rc != 0) {
        tw_scrape_configs_free(cfgs, count);
        return rc;
    }
    *out = cfgs;
    *n = count;
    return 0;
}
