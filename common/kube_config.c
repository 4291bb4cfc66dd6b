/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_config.c - where a Kubernetes client finds its API server: a kubeconfig file (clusters,
 * users and contexts resolved through current-context, as client-go's clientcmd does for the
 * fields tidewatch supports) or the in-cluster configuration (the service account's token, CA and
 * namespace, and KUBERNETES_SERVICE_HOST/PORT passed in by the caller).
 *
 * tw_kube_config_parse() is pure; tw_kube_config_incluster() reads the namespace file and
 * tw_kube_config_load() reads the kubeconfig, the environment and the token. Unknown kubeconfig
 * keys (preferences, extensions, ...) are ignored as client-go ignores them; authentication we do
 * not implement (exec plugins, auth providers, basic auth) is refused by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/kube.h"
#include "common/buf.h"
#include "common/mem.h"
#include "common/yaml_tree.h"

#define TOKEN_MAX_BYTES 65536
#define KUBECONFIG_MAX_BYTES (16u << 20)

void tw_kube_config_fini(tw_kube_config_t *kc)
{
    if (kc == NULL) {
        return;
    }
    free(kc->server);
    free(kc->namespace);
    free(kc->ca_file);
    free(kc->ca_data);
    free(kc->cert_file);
    free(kc->cert_data);
    free(kc->key_file);
    free(kc->key_data);
    free(kc->token);
    free(kc->token_file);
    free(kc->tls_server_name);
    memset(kc, 0, sizeof(*kc));
}

/* ---- YAML lookups (lenient: unknown keys are fine in a kubeconfig) ---------------------- */

static const tw_yaml_node_t *map_get(const tw_yaml_node_t *m, const char *key)
{
    if (m == NULL || m->kind != TW_YAML_MAP) {
        return NULL;
    }
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const tw_yaml_node_t *k = m->items[i];
        if (k->kind == TW_YAML_SCALAR && strcmp(k->value, key) == 0) {
            return m->items[i + 1];
        }
    }
    return NULL;
}

/* The key node of key in m (for errors that point at the key), or NULL. */
static const tw_yaml_node_t *map_key(const tw_yaml_node_t *m, const char *key)
{
    for (size_t i = 0; m != NULL && m->kind == TW_YAML_MAP && i + 1 < m->n; i += 2) {
        if (m->items[i]->kind == TW_YAML_SCALAR && strcmp(m->items[i]->value, key) == 0) {
            return m->items[i];
        }
    }
    return NULL;
}

static int get_str(tw_yaml_walk_t *w, const tw_yaml_node_t *m, const char *section, const char *key,
                   const char **out)
{
    *out = NULL;
    const tw_yaml_node_t *v = map_get(m, key);
    if (v == NULL || tw_yaml_is_null(v)) {
        return 0;
    }
    return tw_yaml_get_scalar(w, v, section, key, "a string", out);
}

/* Finds the entry of list `list` (clusters, users, contexts) whose name is name; returns its
 * `field` mapping (cluster, user, context). */
static int find_named(tw_yaml_walk_t *w, const tw_yaml_node_t *root, const char *list,
                      const char *field, const char *name, const tw_yaml_node_t **out)
{
    *out = NULL;
    const tw_yaml_node_t *seq = map_get(root, list);
    if (seq != NULL && !tw_yaml_is_null(seq) && seq->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, seq, "%s: expected a list", list);
    }
    for (size_t i = 0; seq != NULL && i < seq->n; i++) {
        const tw_yaml_node_t *it = seq->items[i];
        const char *n = NULL;
        int rc = get_str(w, it, list, "name", &n);
        if (rc != 0) {
            return rc;
        }
        if (n != NULL && strcmp(n, name) == 0) {
            const tw_yaml_node_t *v = map_get(it, field);
            if (v != NULL && v->kind != TW_YAML_MAP) {
                return tw_yaml_error(w, v, "%s[%zu].%s: expected a mapping", list, i, field);
            }
            *out = v;
            return 0;
        }
    }
    return 0;
}

/* Decodes standard base64 (whitespace ignored). Returns a malloc'd buffer, or NULL when bad. */
static char *b64_decode(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    char *out = tw_xmalloc(n / 4 * 3 + 4);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '+') {
            v = 62;
        } else if (c == '/') {
            v = 63;
        } else if (c == '=') {
            pad++;
            continue;
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            continue;
        } else {
            free(out);
            return NULL;
        }
        if (pad > 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (pad > 2 || bits >= 6) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static char *resolve_path(const char *dir, const char *p)
{
    if (p[0] == '/' || dir == NULL || dir[0] == '\0') {
        return tw_xstrdup(p);
    }
    tw_buf_t b;
    tw_buf_init(&b, 0);
    tw_buf_printf(&b, "%s/%s", dir, p);
    return tw_buf_steal(&b, NULL);
}

/* Reads key (a path) and key-data (base64) from m into *file / *data. */
static int get_file_or_data(tw_yaml_walk_t *w, const tw_yaml_node_t *m, const char *section,
                            const char *key, const char *dir, char **file, char **data,
                            size_t *data_len)
{
    char dkey[64];
    const char *f = NULL, *d = NULL;
    snprintf(dkey, sizeof(dkey), "%s-data", key);
    int rc = get_str(w, m, section, key, &f);
    if (rc == 0) {
        rc = get_str(w, m, section, dkey, &d);
    }
    if (rc != 0) {
        return rc;
    }
    if (d != NULL && d[0] != '\0') {
        /* client-go: the data takes precedence over the file. */
        *data = b64_decode(d, data_len);
        if (*data == NULL) {
            return tw_yaml_error(w, map_get(m, dkey), "%s.%s: not valid base64", section, dkey);
        }
    } else if (f != NULL && f[0] != '\0') {
        *file = resolve_path(dir, f);
    }
    return 0;
}

int tw_kube_config_parse(const char *data, size_t len, const char *file, const char *dir,
                         const char *context, tw_kube_config_t *out, tw_error_t *err)
{
    tw_yaml_doc_t *doc = NULL;
    tw_error_t local;
    tw_yaml_walk_t w = {.file = file, .err = err != NULL ? err : &local};
    int rc;
    memset(out, 0, sizeof(*out));

    rc = tw_yaml_doc_parse(data, len, file, &doc, err);
    if (rc != 0) {
        goto out;
    }
    const tw_yaml_node_t *root = tw_yaml_doc_root(doc);
    if (root == NULL || root->kind != TW_YAML_MAP) {
        rc = tw_yaml_error(&w, root, "a kubeconfig must be a mapping");
        goto out;
    }
    const char *ctx_name = context;
    if (ctx_name == NULL || ctx_name[0] == '\0') {
        rc = get_str(&w, root, NULL, "current-context", &ctx_name);
        if (rc != 0) {
            goto out;
        }
        if (ctx_name == NULL || ctx_name[0] == '\0') {
            rc = tw_yaml_error(&w, root, "current-context is not set");
            goto out;
        }
    }
    const tw_yaml_node_t *ctx, *cluster, *user;
    rc = find_named(&w, root, "contexts", "context", ctx_name, &ctx);
    if (rc != 0) {
        goto out;
    }
    if (ctx == NULL) {
        rc = tw_yaml_error(&w, map_get(root, "contexts"),
                           "context was not found for specified "
                           "context: %s",
                           ctx_name);
        goto out;
    }
    const char *cluster_name = NULL, *user_name = NULL, *ns = NULL;
    if ((rc = get_str(&w, ctx, "context", "cluster", &cluster_name)) != 0 ||
        (rc = get_str(&w, ctx, "context", "user", &user_name)) != 0 ||
        (rc = get_str(&w, ctx, "context", "namespace", &ns)) != 0) {
        goto out;
    }
    if (cluster_name == NULL) {
        rc = tw_yaml_error(&w, ctx, "context %s names no cluster", ctx_name);
        goto out;
    }
    rc = find_named(&w, root, "clusters", "cluster", cluster_name, &cluster);
    if (rc != 0) {
        goto out;
    }
    if (cluster == NULL) {
        rc = tw_yaml_error(&w, ctx, "cluster %s (of context %s) was not found", cluster_name,
                           ctx_name);
        goto out;
    }
    const char *server = NULL, *sni = NULL;
    if ((rc = get_str(&w, cluster, "cluster", "server", &server)) != 0 ||
        (rc = get_str(&w, cluster, "cluster", "tls-server-name", &sni)) != 0) {
        goto out;
    }
    if (server == NULL || server[0] == '\0') {
        rc = tw_yaml_error(&w, cluster, "cluster %s has no server defined", cluster_name);
        goto out;
    }
    out->server = tw_xstrdup(server);
    if (sni != NULL && sni[0] != '\0') {
        out->tls_server_name = tw_xstrdup(sni);
    }
    const tw_yaml_node_t *ins = map_get(cluster, "insecure-skip-tls-verify");
    if (ins != NULL && !tw_yaml_is_null(ins)) {
        rc = tw_yaml_get_bool(&w, ins, "cluster", "insecure-skip-tls-verify", &out->insecure);
        if (rc != 0) {
            goto out;
        }
    }
    rc = get_file_or_data(&w, cluster, "cluster", "certificate-authority", dir, &out->ca_file,
                          &out->ca_data, &out->ca_data_len);
    if (rc != 0) {
        goto out;
    }
    if (ns != NULL && ns[0] != '\0') {
        out->namespace = tw_xstrdup(ns);
    }

    user = NULL;
    if (user_name != NULL && user_name[0] != '\0') {
        rc = find_named(&w, root, "users", "user", user_name, &user);
        if (rc != 0) {
            goto out;
        }
        if (user == NULL) {
            rc = tw_yaml_error(&w, ctx, "user %s (of context %s) was not found", user_name,
                               ctx_name);
            goto out;
        }
    }
    if (user != NULL) {
        static const char *const refused[] = {"exec", "auth-provider", "username", "password"};
        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
            const tw_yaml_node_t *v = map_get(user, refused[i]);
            if (v != NULL && !tw_yaml_is_null(v)) {
                rc = tw_yaml_error(&w, map_key(user, refused[i]),
                                   "user %s: %s authentication is not supported (use a token, "
                                   "tokenFile or a client certificate)",
                                   user_name, refused[i]);
                goto out;
            }
        }
        const char *token = NULL, *token_file = NULL;
        if ((rc = get_str(&w, user, "user", "token", &token)) != 0 ||
            (rc = get_str(&w, user, "user", "tokenFile", &token_file)) != 0) {
            goto out;
        }
        if (token != NULL && token[0] != '\0') {
            out->token = tw_xstrdup(token);
        }
        if (token_file != NULL && token_file[0] != '\0') {
            out->token_file = resolve_path(dir, token_file);
        }
        rc = get_file_or_data(&w, user, "user", "client-certificate", dir, &out->cert_file,
                              &out->cert_data, &out->cert_data_len);
        if (rc == 0) {
            rc = get_file_or_data(&w, user, "user", "client-key", dir, &out->key_file,
                                  &out->key_data, &out->key_data_len);
        }
        if (rc != 0) {
            goto out;
        }
        bool has_cert = out->cert_file != NULL || out->cert_data != NULL;
        bool has_key = out->key_file != NULL || out->key_data != NULL;
        if (has_cert != has_key) {
            rc = tw_yaml_error(&w, user, "user %s: client-certificate and client-key go together",
                               user_name);
            goto out;
        }
    }
out:
    tw_yaml_doc_free(doc);
    if (rc != 0) {
        tw_kube_config_fini(out);
    }
    return rc;
}

int tw_kube_config_incluster(const char *sa_dir, const char *host, const char *port,
                             tw_kube_config_t *out, tw_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0') {
        return tw_error_set(err, TW_ENOTFOUND,
                            "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST "
                            "and KUBERNETES_SERVICE_PORT must be defined");
    }
    if (sa_dir == NULL) {
        sa_dir = TW_KUBE_SA_DIR;
    }
    tw_buf_t b;
    tw_buf_init(&b, 0);
    bool v6 = strchr(host, ':') != NULL;
    tw_buf_printf(&b, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
    out->server = tw_buf_steal(&b, NULL);
    tw_buf_printf(&b, "%s/token", sa_dir);
    out->token_file = tw_buf_steal(&b, NULL);
    tw_buf_printf(&b, "%s/ca.crt", sa_dir);
    out->ca_file = tw_buf_steal(&b, NULL);

    tw_buf_t ns;
    tw_buf_init(&ns, 4096);
    tw_buf_printf(&b, "%s/namespace", sa_dir);
    if (tw_buf_read_file(&ns, b.data, NULL) == 0) {
        size_t n = ns.len;
        while (n > 0 && (ns.data[n - 1] == '\n' || ns.data[n - 1] == ' ')) {
            n--;
        }
        if (n > 0) {
            out->namespace = tw_xstrndup(ns.data, n);
        }
    }
    tw_buf_fini(&ns);
    tw_buf_fini(&b);
    return 0;
}

static char *dirname_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return NULL;
    }
    return tw_xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
}

int tw_kube_config_load(const char *kubeconfig, const char *context, const char *sa_dir,
                        const char *server, tw_kube_config_t *out, tw_error_t *err)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (kubeconfig != NULL && kubeconfig[0] != '\0') {
        tw_buf_t b;
        tw_buf_init(&b, KUBECONFIG_MAX_BYTES);
        rc = tw_buf_read_file(&b, kubeconfig, err);
        if (rc == 0) {
            char *dir = dirname_of(kubeconfig);
            rc = tw_kube_config_parse(b.data != NULL ? b.data : "", b.len, kubeconfig, dir, context,
                                      out, err);
            free(dir);
        }
        tw_buf_fini(&b);
    } else {
        rc = tw_kube_config_incluster(sa_dir, getenv("KUBERNETES_SERVICE_HOST"),
                                      getenv("KUBERNETES_SERVICE_PORT"), out, err);
        if (rc == 0) {
            /* client-go refuses to start without a readable token in-cluster. */
            tw_buf_t b;
            tw_buf_init(&b, TOKEN_MAX_BYTES);
            rc = tw_buf_read_file(&b, out->token_file, err);
            tw_buf_fini(&b);
        }
    }
    if (rc != 0) {
        goto out;
    }
    if (server != NULL && server[0] != '\0') {
        free(out->server);
        out->server = tw_xstrdup(server);
    }
    size_t sl = strlen(out->server);
    while (sl > 0 && out->server[sl - 1] == '/') {
        out->server[--sl] = '\0';
    }
    if (strncmp(out->server, "https://", 8) != 0 && strncmp(out->server, "http://", 7) != 0) {
        rc = tw_error_set(err, TW_EINVAL, "kubernetes: server %s is not an http(s) URL",
                          out->server);
    }
out:
    if (rc != 0) {
        tw_kube_config_fini(out);
    }
    return rc;
}
