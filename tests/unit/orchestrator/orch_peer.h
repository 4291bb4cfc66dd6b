/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orch_peer.h - a tiny scripted HTTP server (libmicrohttpd on 127.0.0.1, a free port) for the
 * orchestrator driver tests: it answers requests with a queue of canned responses (status,
 * Retry-After, body; the last one repeats) and records each request (method, path, decoded query
 * arguments, a few headers, body) for the test to check. A real HTTP peer, so libcurl, the
 * headers and the bodies are exercised for real. Header-only test helper.
 */
#ifndef TW_TESTS_ORCH_PEER_H
#define TW_TESTS_ORCH_PEER_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PEER_MAX 32

typedef struct peer_resp {
    int status;
    const char *retry_after; /* NULL: none */
    const char *body;
} peer_resp_t;

typedef struct peer_req {
    char method[16];
    char path[256];
    char query[512]; /* "k=v&k=v", decoded values, in arrival order */
    char auth[256];  /* Authorization */
    char nomad_token[128];
    char content_type[128];
    char body[8192];
    long long t_ms; /* arrival, monotonic */
} peer_req_t;

typedef struct peer {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    peer_resp_t resps[PEER_MAX];
    size_t n_resps;
    peer_req_t reqs[PEER_MAX];
    size_t n_reqs;
} peer_t;

typedef struct peer_conn {
    char body[8192];
    size_t len;
} peer_conn_t;

static long long peer_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result peer_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    (void)kind;
    peer_req_t *r = cls;
    size_t n = strlen(r->query);
    snprintf(r->query + n, sizeof(r->query) - n, "%s%s=%s", n > 0 ? "&" : "", k,
             v != NULL ? v : "");
    return MHD_YES;
}

static void peer_copy_header(struct MHD_Connection *c, const char *name, char *dst, size_t n)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(dst, n, "%s", v != NULL ? v : "");
}

static enum MHD_Result peer_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    peer_t *p = cls;
    peer_conn_t *pc = *con_cls;
    if (pc == NULL) {
        pc = calloc(1, sizeof(*pc));
        *con_cls = pc;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t room = sizeof(pc->body) - 1 - pc->len;
        size_t n = *upload_size < room ? *upload_size : room;
        memcpy(pc->body + pc->len, upload_data, n);
        pc->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&p->mu);
    size_t i = p->n_reqs < PEER_MAX ? p->n_reqs++ : PEER_MAX - 1;
    peer_req_t *r = &p->reqs[i];
    memset(r, 0, sizeof(*r));
    snprintf(r->method, sizeof(r->method), "%s", method);
    snprintf(r->path, sizeof(r->path), "%s", url);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, peer_arg, r);
    peer_copy_header(c, "Authorization", r->auth, sizeof(r->auth));
    peer_copy_header(c, "X-Nomad-Token", r->nomad_token, sizeof(r->nomad_token));
    peer_copy_header(c, "Content-Type", r->content_type, sizeof(r->content_type));
    memcpy(r->body, pc->body, pc->len);
    r->t_ms = peer_now_ms();
    peer_resp_t pr = p->n_resps == 0 ? (peer_resp_t){404, NULL, "{}"}
                                     : p->resps[i < p->n_resps ? i : p->n_resps - 1];
    pthread_mutex_unlock(&p->mu);

    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(pr.body), (void *)pr.body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (pr.retry_after != NULL) {
        MHD_add_response_header(resp, "Retry-After", pr.retry_after);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)pr.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void peer_done(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* Starts the peer with the given responses (copied; bodies must be static). */
static peer_t *peer_start(const peer_resp_t *resps, size_t n)
{
    peer_t *p = calloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    memcpy(p->resps, resps, n * sizeof(*resps));
    p->n_resps = n;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            peer_handler, p, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
                            peer_done, p, MHD_OPTION_END);
    if (p->d == NULL) {
        free(p);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(p->d, MHD_DAEMON_INFO_BIND_PORT);
    p->port = info->port;
    return p;
}

/*
 * Writes dir/token ("token-one") and dir/kubeconfig, a kubeconfig whose only context points at
 * the peer with that token file, and puts the kubeconfig's path in kc. False on an I/O error.
 */
static inline bool peer_write_kubeconfig(const peer_t *p, const char *dir, char *kc, size_t kc_len)
{
    char tok[512], text[2048];
    snprintf(tok, sizeof(tok), "%s/token", dir);
    snprintf(kc, kc_len, "%s/kubeconfig", dir);
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster:\n"
             "    server: http://127.0.0.1:%d\nusers:\n- name: u\n  user:\n    tokenFile: %s\n"
             "contexts:\n- name: t\n  context:\n    cluster: c\n    user: u\n",
             p->port, tok);
    const char *paths[2] = {tok, kc}, *texts[2] = {"token-one\n", text};
    for (size_t i = 0; i < 2; i++) {
        FILE *fp = fopen(paths[i], "w");
        if (fp == NULL) {
            return false;
        }
        bool ok = fputs(texts[i], fp) >= 0;
        ok = fclose(fp) == 0 && ok;
        if (!ok) {
            return false;
        }
    }
    return true;
}

static void peer_stop(peer_t *p)
{
    if (p == NULL) {
        return;
    }
    MHD_stop_daemon(p->d);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

#endif
