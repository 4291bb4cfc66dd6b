/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify_config.c - the `alerting:` section of tidewatch.yml: Prometheus' `alertmanagers[]`
 * (static_configs, file_sd_configs, scheme, path_prefix, timeout, api_version, the HTTP client
 * settings) and our `webhooks[]` (Alertmanager's webhook receiver plus its route's grouping and
 * timing), checked with file:line:col errors. Also the deep copy the notifier keeps. Pure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alerting/notify/notify_int.h"
#include "common/mem.h"

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static int get_strv(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec, const char *key,
                    char ***out, size_t *nout)
{
    char d[64];
    if (tw_yaml_is_null(n)) {
        return 0;
    }
    if (n->kind != TW_YAML_SEQ) {
        return tw_yaml_error(w, n, "%s.%s: expected a list of strings, got %s", sec, key,
                             tw_yaml_describe(n, d, sizeof(d)));
    }
    for (size_t i = 0; i < n->n; i++) {
        const char *s = NULL;
        int rc = tw_yaml_get_scalar(w, n->items[i], sec, key, "a string", &s);
        if (rc != 0) {
            return rc;
        }
        *out = tw_xrealloc(*out, (*nout + 2) * sizeof(**out));
        (*out)[(*nout)++] = tw_xstrdup(s != NULL ? s : "");
        (*out)[*nout] = NULL;
    }
    return 0;
}

static int parse_tls(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec,
                     tw_notify_http_config_t *h)
{
    static const char *const keys[] = {
        "ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify", "min_version"};
    const tw_yaml_node_t *v[NKEYS(keys)];
    char s[128];
    tw_yaml_key_path(sec, "tls_config", s, sizeof(s));
    int rc = tw_yaml_fields(w, n, s, keys, NKEYS(keys), v);
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[0], s, "ca_file", &h->ca_file);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[1], s, "cert_file", &h->cert_file);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[2], s, "key_file", &h->key_file);
    }
    if (rc == 0 && !tw_yaml_is_null(v[3])) {
        rc = tw_yaml_error(w, v[3], "%s.server_name: not supported by this version", s);
    }
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, v[4], s, "insecure_skip_verify", &h->insecure_skip_verify);
    }
    if (rc == 0 && !tw_yaml_is_null(v[5])) {
        rc = tw_yaml_error(w, v[5], "%s.min_version: not supported by this version", s);
    }
    if (rc == 0 && (h->cert_file == NULL) != (h->key_file == NULL)) {
        rc = tw_yaml_error(w, n, "%s: cert_file and key_file must be given together", s);
    }
    return rc;
}

/*
 * The HTTP client keys (Prometheus' common config), looked up in vals by their names in keys:
 * basic_auth, authorization, bearer_token, bearer_token_file, tls_config, follow_redirects,
 * enable_http2, proxy_url, oauth2.
 */
static int parse_http(tw_yaml_walk_t *w, const char *sec, const char *const *keys,
                      const tw_yaml_node_t **vals, size_t nkeys, tw_notify_http_config_t *h)
{
    h->follow_redirects = true;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nkeys; i++) {
        const tw_yaml_node_t *n = vals[i];
        const char *k = keys[i];
        char s[128];
        tw_yaml_key_path(sec, k, s, sizeof(s));
        if (tw_yaml_is_null(n)) {
            continue;
        }
        if (strcmp(k, "basic_auth") == 0) {
            static const char *const bk[] = {"username", "password", "password_file"};
            const tw_yaml_node_t *bv[3];
            rc = tw_yaml_fields(w, n, s, bk, 3, bv);
            if (rc == 0) {
                rc = tw_yaml_get_string(w, bv[0], s, "username", &h->basic_username);
            }
            if (rc == 0) {
                rc = tw_yaml_get_string(w, bv[1], s, "password", &h->basic_password);
            }
            if (rc == 0) {
                rc = tw_yaml_get_string(w, bv[2], s, "password_file", &h->basic_password_file);
            }
            if (rc == 0 && h->basic_password != NULL && h->basic_password_file != NULL) {
                rc = tw_yaml_error(w, n,
                                   "%s: at most one of password & password_file must be "
                                   "configured",
                                   s);
            }
        } else if (strcmp(k, "authorization") == 0) {
            static const char *const ak[] = {"type", "credentials", "credentials_file"};
            const tw_yaml_node_t *av[3];
            rc = tw_yaml_fields(w, n, s, ak, 3, av);
            if (rc == 0) {
                rc = tw_yaml_get_string(w, av[0], s, "type", &h->auth_type);
            }
            if (rc == 0) {
                rc = tw_yaml_get_string(w, av[1], s, "credentials", &h->bearer_token);
            }
            if (rc == 0) {
                rc = tw_yaml_get_string(w, av[2], s, "credentials_file", &h->bearer_token_file);
            }
            if (rc == 0 && h->auth_type != NULL && strcasecmp(h->auth_type, "basic") == 0) {
                rc = tw_yaml_error(w, av[0],
                                   "%s.type: authorization type cannot be set to "
                                   "\"basic\", use \"basic_auth\" instead",
                                   s);
            }
        } else if (strcmp(k, "bearer_token") == 0) {
            rc = tw_yaml_get_string(w, n, sec, k, &h->bearer_token);
        } else if (strcmp(k, "bearer_token_file") == 0) {
            rc = tw_yaml_get_string(w, n, sec, k, &h->bearer_token_file);
        } else if (strcmp(k, "tls_config") == 0) {
            rc = parse_tls(w, n, sec, h);
        } else if (strcmp(k, "follow_redirects") == 0) {
            rc = tw_yaml_get_bool(w, n, sec, k, &h->follow_redirects);
        } else if (strcmp(k, "enable_http2") == 0) {
            bool ignored;
            rc = tw_yaml_get_bool(w, n, sec, k, &ignored);
        } else {
            rc = tw_yaml_error(w, n, "%s: not supported by this version", s);
        }
    }
    bool basic =
        h->basic_username != NULL || h->basic_password != NULL || h->basic_password_file != NULL;
    bool bearer = h->bearer_token != NULL || h->bearer_token_file != NULL;
    if (rc == 0 && basic && bearer) {
        rc = tw_yaml_error(w, NULL,
                           "%s: at most one of basic_auth, bearer_token & "
                           "bearer_token_file must be configured",
                           sec);
    }
    if (rc == 0 && h->bearer_token != NULL && h->bearer_token_file != NULL) {
        rc = tw_yaml_error(w, NULL,
                           "%s: at most one of bearer_token & bearer_token_file must "
                           "be configured",
                           sec);
    }
    return rc;
}

static int check_url(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec, const char *u)
{
    if (u == NULL || u[0] == '\0') {
        return tw_yaml_error(w, n, "%s.url: a webhook needs a url", sec);
    }
    const char *rest = NULL;
    if (strncmp(u, "http://", 7) == 0) {
        rest = u + 7;
    } else if (strncmp(u, "https://", 8) == 0) {
        rest = u + 8;
    }
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/') {
        return tw_yaml_error(w, n, "%s.url: \"%s\" is not an http:// or https:// URL with a host",
                             sec, u);
    }
    for (const char *p = u; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ') {
            return tw_yaml_error(w, n, "%s.url: \"%s\" contains whitespace or control characters",
                                 sec, u);
        }
    }
    return 0;
}

static const char *const http_keys[] = {"basic_auth",        "authorization", "bearer_token",
                                        "bearer_token_file", "tls_config",    "follow_redirects",
                                        "enable_http2",      "proxy_url",     "oauth2"};
#define N_HTTP NKEYS(http_keys)

static int parse_am(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec,
                    tw_notify_am_config_t *am)
{
    const char *keys[10 + N_HTTP] = {
        "scheme",          "path_prefix",           "timeout",
        "api_version",     "static_configs",        "file_sd_configs",
        "relabel_configs", "alert_relabel_configs", "kubernetes_sd_configs",
        "dns_sd_configs"};
    for (size_t i = 0; i < N_HTTP; i++) {
        keys[10 + i] = http_keys[i];
    }
    const tw_yaml_node_t *v[10 + N_HTTP];
    char d[64], s[160];
    am->timeout_ms = 10000;
    am->sd_refresh_ms = 5 * 60 * 1000;
    int rc = tw_yaml_fields(w, n, sec, keys, 10 + N_HTTP, v);
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[0], sec, "scheme", &am->scheme);
    }
    if (rc == 0 && am->scheme != NULL && strcmp(am->scheme, "http") != 0 &&
        strcmp(am->scheme, "https") != 0) {
        rc = tw_yaml_error(w, v[0], "%s.scheme: expected \"http\" or \"https\", got \"%s\"", sec,
                           am->scheme);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[1], sec, "path_prefix", &am->path_prefix);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[2], sec, "timeout", false, &am->timeout_ms);
    }
    if (rc == 0 && !tw_yaml_is_null(v[3])) {
        const char *ver = NULL;
        rc = tw_yaml_get_scalar(w, v[3], sec, "api_version", "\"v2\"", &ver);
        if (rc == 0 && ver != NULL && strcmp(ver, "v2") != 0) {
            rc = tw_yaml_error(w, v[3],
                               "%s.api_version: expected Alertmanager api version "
                               "\"v2\", got \"%s\" (v1 was removed in Alertmanager 0.27)",
                               sec, ver);
        }
    }
    if (rc == 0 && !tw_yaml_is_null(v[4])) {
        if (v[4]->kind != TW_YAML_SEQ) {
            rc = tw_yaml_error(w, v[4], "%s.static_configs: expected a list, got %s", sec,
                               tw_yaml_describe(v[4], d, sizeof(d)));
        }
        for (size_t i = 0; rc == 0 && i < v[4]->n; i++) {
            static const char *const sk[] = {"targets", "labels"};
            const tw_yaml_node_t *sv[2];
            snprintf(s, sizeof(s), "%s.static_configs[%zu]", sec, i);
            rc = tw_yaml_fields(w, v[4]->items[i], s, sk, 2, sv);
            if (rc == 0) {
                rc = get_strv(w, sv[0], s, "targets", &am->targets, &am->n_targets);
            }
        }
    }
    if (rc == 0 && !tw_yaml_is_null(v[5])) {
        if (v[5]->kind != TW_YAML_SEQ) {
            rc = tw_yaml_error(w, v[5], "%s.file_sd_configs: expected a list, got %s", sec,
                               tw_yaml_describe(v[5], d, sizeof(d)));
        }
        for (size_t i = 0; rc == 0 && i < v[5]->n; i++) {
            static const char *const fk[] = {"files", "refresh_interval"};
            const tw_yaml_node_t *fv[2];
            snprintf(s, sizeof(s), "%s.file_sd_configs[%zu]", sec, i);
            rc = tw_yaml_fields(w, v[5]->items[i], s, fk, 2, fv);
            if (rc == 0) {
                rc = get_strv(w, fv[0], s, "files", &am->sd_files, &am->n_sd_files);
            }
            if (rc == 0) {
                rc = tw_yaml_get_duration(w, fv[1], s, "refresh_interval", false,
                                          &am->sd_refresh_ms);
            }
        }
    }
    for (size_t i = 6; rc == 0 && i < 10; i++) {
        if (!tw_yaml_is_null(v[i])) {
            rc = tw_yaml_error(w, v[i], "%s.%s: not supported by this version", sec, keys[i]);
        }
    }
    if (rc == 0) {
        rc = parse_http(w, sec, http_keys, v + 10, N_HTTP, &am->http);
    }
    if (rc == 0 && am->n_targets == 0 && am->n_sd_files == 0) {
        rc = tw_yaml_error(w, n,
                           "%s: an Alertmanager entry needs static_configs or "
                           "file_sd_configs",
                           sec);
    }
    return rc;
}

static int parse_webhook(tw_yaml_walk_t *w, const tw_yaml_node_t *n, const char *sec, size_t idx,
                         tw_notify_webhook_config_t *wh)
{
    const char *keys[12 + 1] = {"name",           "url",
                                "group_by",       "group_wait",
                                "group_interval", "repeat_interval",
                                "send_resolved",  "max_alerts",
                                "hmac_secret",    "hmac_secret_file",
                                "timeout",        "http_config"};
    const tw_yaml_node_t *v[12];
    wh->group_wait_ms = 30 * 1000;
    wh->group_interval_ms = 5 * 60 * 1000;
    wh->repeat_interval_ms = 4 * 3600 * 1000;
    wh->send_resolved = true;
    wh->timeout_ms = 10000;
    wh->http.follow_redirects = true;
    int rc = tw_yaml_fields(w, n, sec, keys, 12, v);
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[0], sec, "name", &wh->name);
    }
    if (rc == 0 && wh->name == NULL) {
        char def[32];
        snprintf(def, sizeof(def), "webhook-%zu", idx);
        wh->name = tw_xstrdup(def);
    }
    if (rc == 0 && (wh->name[0] == '\0' || strchr(wh->name, '/') != NULL ||
                    strcmp(wh->name, ".") == 0 || strcmp(wh->name, "..") == 0)) {
        rc = tw_yaml_error(w, v[0],
                           "%s.name: \"%s\" is not a valid receiver name (it names a "
                           "directory of the outbox)",
                           sec, wh->name);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[1], sec, "url", &wh->url);
    }
    if (rc == 0) {
        rc = check_url(w, v[1] != NULL ? v[1] : n, sec, wh->url);
    }
    if (rc == 0) {
        rc = get_strv(w, v[2], sec, "group_by", &wh->group_by, &wh->n_group_by);
    }
    for (size_t i = 0; rc == 0 && i < wh->n_group_by; i++) {
        if (strcmp(wh->group_by[i], "...") == 0) {
            if (wh->n_group_by != 1) {
                rc = tw_yaml_error(w, v[2],
                                   "%s.group_by: cannot have wildcard group_by (`...`) "
                                   "and other labels at the same time",
                                   sec);
            }
            wh->group_by_all = true;
        } else if (!tw_label_name_valid(wh->group_by[i])) {
            rc = tw_yaml_error(w, v[2]->items[i], "%s.group_by: invalid label name \"%s\"", sec,
                               wh->group_by[i]);
        }
        for (size_t j = 0; rc == 0 && j < i; j++) {
            if (strcmp(wh->group_by[i], wh->group_by[j]) == 0) {
                rc = tw_yaml_error(w, v[2]->items[i], "%s.group_by: duplicated label \"%s\"", sec,
                                   wh->group_by[i]);
            }
        }
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[3], sec, "group_wait", true, &wh->group_wait_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[4], sec, "group_interval", false, &wh->group_interval_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[5], sec, "repeat_interval", false, &wh->repeat_interval_ms);
    }
    if (rc == 0) {
        rc = tw_yaml_get_bool(w, v[6], sec, "send_resolved", &wh->send_resolved);
    }
    if (rc == 0) {
        rc = tw_yaml_get_uint(w, v[7], sec, "max_alerts", 0, UINT32_MAX, &wh->max_alerts);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[8], sec, "hmac_secret", &wh->hmac_secret);
    }
    if (rc == 0) {
        rc = tw_yaml_get_string(w, v[9], sec, "hmac_secret_file", &wh->hmac_secret_file);
    }
    if (rc == 0 && wh->hmac_secret != NULL && wh->hmac_secret_file != NULL) {
        rc = tw_yaml_error(w, v[9],
                           "%s: at most one of hmac_secret & hmac_secret_file must be "
                           "configured",
                           sec);
    }
    if (rc == 0) {
        rc = tw_yaml_get_duration(w, v[10], sec, "timeout", false, &wh->timeout_ms);
    }
    if (rc == 0 && !tw_yaml_is_null(v[11])) {
        char s[160];
        tw_yaml_key_path(sec, "http_config", s, sizeof(s));
        const tw_yaml_node_t *hv[N_HTTP];
        rc = tw_yaml_fields(w, v[11], s, http_keys, N_HTTP, hv);
        if (rc == 0) {
            rc = parse_http(w, s, http_keys, hv, N_HTTP, &wh->http);
        }
    }
    return rc;
}

int tw_notify_config_parse(const tw_yaml_node_t *node, const char *file, tw_notify_config_t *cfg,
                           tw_error_t *err)
{
    tw_error_t local;
    tw_yaml_walk_t w = {.file = file, .err = err != NULL ? err : &local};
    static const char *const keys[] = {"alertmanagers", "alert_relabel_configs", "webhooks"};
    const tw_yaml_node_t *v[3];
    char d[64], sec[96];
    int rc = tw_yaml_fields(&w, node, "alerting", keys, 3, v);
    if (rc == 0 && !tw_yaml_is_null(v[1])) {
        rc = tw_yaml_error(&w, v[1],
                           "alerting.alert_relabel_configs: not supported by this "
                           "version");
    }
    for (size_t k = 0; rc == 0 && k < 3; k += 2) {
        if (tw_yaml_is_null(v[k])) {
            continue;
        }
        if (v[k]->kind != TW_YAML_SEQ) {
            rc = tw_yaml_error(&w, v[k], "alerting.%s: expected a list, got %s", keys[k],
                               tw_yaml_describe(v[k], d, sizeof(d)));
            break;
        }
        for (size_t i = 0; rc == 0 && i < v[k]->n; i++) {
            snprintf(sec, sizeof(sec), "alerting.%s[%zu]", keys[k], i);
            if (k == 0) {
                cfg->alertmanagers = tw_xrealloc(
                    cfg->alertmanagers, (cfg->n_alertmanagers + 1) * sizeof(*cfg->alertmanagers));
                tw_notify_am_config_t *am = &cfg->alertmanagers[cfg->n_alertmanagers++];
                memset(am, 0, sizeof(*am));
                rc = parse_am(&w, v[k]->items[i], sec, am);
            } else {
                cfg->webhooks =
                    tw_xrealloc(cfg->webhooks, (cfg->n_webhooks + 1) * sizeof(*cfg->webhooks));
                tw_notify_webhook_config_t *wh = &cfg->webhooks[cfg->n_webhooks++];
                memset(wh, 0, sizeof(*wh));
                rc = parse_webhook(&w, v[k]->items[i], sec, i, wh);
                for (size_t j = 0; rc == 0 && j + 1 < cfg->n_webhooks; j++) {
                    if (strcmp(cfg->webhooks[j].name, wh->name) == 0) {
                        rc = tw_yaml_error(&w, v[k]->items[i],
                                           "%s.name: duplicate webhook name "
                                           "\"%s\"",
                                           sec, wh->name);
                    }
                }
            }
        }
    }
    return rc;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static void http_fini(tw_notify_http_config_t *h)
{
    free(h->basic_username);
    free(h->basic_password);
    free(h->basic_password_file);
    free(h->bearer_token);
    free(h->bearer_token_file);
    free(h->auth_type);
    free(h->ca_file);
    free(h->cert_file);
    free(h->key_file);
    free(h->server_name);
    memset(h, 0, sizeof(*h));
}

void tw_notify_config_fini(tw_notify_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->n_alertmanagers; i++) {
        tw_notify_am_config_t *a = &cfg->alertmanagers[i];
        free(a->scheme);
        free(a->path_prefix);
        strv_free(a->targets, a->n_targets);
        strv_free(a->sd_files, a->n_sd_files);
        http_fini(&a->http);
    }
    for (size_t i = 0; i < cfg->n_webhooks; i++) {
        tw_notify_webhook_config_t *wh = &cfg->webhooks[i];
        free(wh->name);
        free(wh->url);
        strv_free(wh->group_by, wh->n_group_by);
        free(wh->hmac_secret);
        free(wh->hmac_secret_file);
        http_fini(&wh->http);
    }
    free(cfg->alertmanagers);
    free(cfg->webhooks);
    memset(cfg, 0, sizeof(*cfg));
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? tw_xstrdup(s) : NULL;
}

static char **strv_dup(char *const *v, size_t n)
{
    char **out = tw_xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        out[i] = tw_xstrdup(v[i]);
    }
    return out;
}

static void http_copy(tw_notify_http_config_t *d, const tw_notify_http_config_t *s)
{
    *d = *s;
    d->basic_username = dup_or_null(s->basic_username);
    d->basic_password = dup_or_null(s->basic_password);
    d->basic_password_file = dup_or_null(s->basic_password_file);
    d->bearer_token = dup_or_null(s->bearer_token);
    d->bearer_token_file = dup_or_null(s->bearer_token_file);
    d->auth_type = dup_or_null(s->auth_type);
    d->ca_file = dup_or_null(s->ca_file);
    d->cert_file = dup_or_null(s->cert_file);
    d->key_file = dup_or_null(s->key_file);
    d->server_name = dup_or_null(s->server_name);
}

void notify_config_copy(tw_notify_config_t *dst, const tw_notify_config_t *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->alertmanagers = tw_xcalloc(src->n_alertmanagers + 1, sizeof(*dst->alertmanagers));
    dst->n_alertmanagers = src->n_alertmanagers;
    for (size_t i = 0; i < src->n_alertmanagers; i++) {
        const tw_notify_am_config_t *s = &src->alertmanagers[i];
        tw_notify_am_config_t *d = &dst->alertmanagers[i];
        *d = *s;
        d->scheme = dup_or_null(s->scheme);
        d->path_prefix = dup_or_null(s->path_prefix);
        d->targets = strv_dup(s->targets, s->n_targets);
        d->sd_files = strv_dup(s->sd_files, s->n_sd_files);
        http_copy(&d->http, &s->http);
    }
    dst->webhooks = tw_xcalloc(src->n_webhooks + 1, sizeof(*dst->webhooks));
    dst->n_webhooks = src->n_webhooks;
    for (size_t i = 0; i < src->n_webhooks; i++) {
        const tw_notify_webhook_config_t *s = &src->webhooks[i];
        tw_notify_webhook_config_t *d = &dst->webhooks[i];
        *d = *s;
        d->name = dup_or_null(s->name);
        d->url = dup_or_null(s->url);
        d->group_by = strv_dup(s->group_by, s->n_group_by);
        d->hmac_secret = dup_or_null(s->hmac_secret);
        d->hmac_secret_file = dup_or_null(s->hmac_secret_file);
        http_copy(&d->http, &s->http);
    }
}
