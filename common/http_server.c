/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_server.c - the HTTP server (libmicrohttpd with its own thread pool) and an exact-path
 * router, with request counting for /metrics.
 *
 * We bind the listening socket ourselves (getaddrinfo, so "localhost:9475" and "[::1]:0" work,
 * and so a failed bind says "listen ADDR: Address already in use") and hand it to
 * libmicrohttpd, which then owns it. Every request walks through on_request() several times:
 *
 *   1. headers received: the route is looked up; an unknown path is answered 404, a method no
 *      route takes 405 with Allow, a Content-Length above the limit 413. Answering here means
 *      the body is never read (libmicrohttpd closes the connection after the answer).
 *   2. body chunks (only when the request has a body): appended to a tw_buf_t with the
 *      limit. A chunked body that outgrows it is read on and dropped, up to the limit once more,
 *      so the client still gets its 413; a client that keeps sending beyond that is cut off.
 *   3. body complete: the form body is decoded when it is one, the handler runs, its response
 *      is queued, and the request is counted.
 *
 * Thread model: libmicrohttpd runs opts.threads worker threads; on_request runs on them
 * concurrently, so handlers must be thread-safe. The router (routes and the per-handler stats
 * table) is fixed once the server starts; counters change under one mutex. Requests to paths
 * no route has are counted as handler "other".
 */
#include "http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_server_int.h"
#include "mem.h"

#define DEFAULT_THREADS 4
#define DEFAULT_MAX_BODY_BYTES ((size_t)10 * 1024 * 1024)
#define DEFAULT_TIMEOUT_S 30
/* Per-connection memory for the request line and headers (long GET queries live there). */
#define CONN_MEMORY_BYTES ((size_t)256 * 1024)
#define TEXT_PLAIN "text/plain; charset=utf-8"
#define OTHER_HANDLER "other"

/* Prometheus' default histogram buckets (prometheus.DefBuckets), in seconds. */
static const double duration_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const char *const duration_les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                           "0.5",   "1",    "2.5",   "5",    "10"};
#define NBUCKETS (sizeof(duration_bounds) / sizeof(duration_bounds[0]))

typedef struct code_count {
    int code;
    uint64_t n;
} code_count_t;

/* Counters of one handler label (a route path, or OTHER_HANDLER). Guarded by srv->mu. */
typedef struct handler_stats {
    char *handler;
    code_count_t *codes; /* sorted by code */
    size_t ncodes;
    size_t codes_cap;
    uint64_t buckets[NBUCKETS]; /* observations per bucket, not cumulative */
    uint64_t count;
    double sum_s;
} handler_stats_t;

typedef struct route {
    char *method;
    char *path;
    tw_http_handler_fn fn;
    void *ctx;
    size_t stats_idx;
} route_t;

struct tw_http_server {
    char *listen_address;
    char host[256];
    char port_str[8];
    unsigned threads;
    _Atomic size_t max_body_bytes; /* changed live by tw_http_server_set_max_body_bytes() */
    unsigned timeout_s;
    unsigned max_connections; /* 0: libmicrohttpd's own limit */

    route_t *routes;
    size_t nroutes;
    size_t routes_cap;

    pthread_mutex_t mu;     /* guards stats[*] counters */
    handler_stats_t *stats; /* [0] is OTHER_HANDLER; the table itself is fixed after start */
    size_t nstats;
    size_t stats_cap;

    char *tls_cert_pem; /* NULL: plain HTTP */
    char *tls_key_pem;

    struct MHD_Daemon *daemon;
    int port;
};

struct tw_http_request {
    tw_http_server_t *srv;
    struct MHD_Connection *conn;
    const char *method; /* libmicrohttpd's, valid for the whole request */
    const char *path;
    const route_t *route; /* NULL until matched */
    size_t stats_idx;
    struct timespec start;
    tw_buf_t body;
    bool overflow;    /* the body outgrew max_body_bytes */
    size_t discarded; /* bytes dropped after the overflow */
    tw_http_form_t form;
};

/* ---- form bodies --------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes s[0..n) in place (Go's QueryUnescape). Returns the new length, or -1 on a bad
 * escape. */
static long unescape(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            s[o++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= n) {
                return -1;
            }
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            s[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    return (long)o;
}

void tw_http_form_parse(tw_http_form_t *f, const char *data, size_t len)
{
    tw_http_form_fini(f);
    f->store = tw_xmalloc(len + 1);
    if (len > 0) {
        memcpy(f->store, data, len);
    }
    f->store[len] = '\0';
    size_t pos = 0;
    while (pos < len) {
        char *pair = f->store + pos;
        char *amp = memchr(pair, '&', len - pos);
        size_t plen = amp != NULL ? (size_t)(amp - pair) : len - pos;
        pos += plen + 1;
        if (plen == 0) {
            continue;
        }
        char *eq = memchr(pair, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - pair) : plen;
        char *val = eq != NULL ? eq + 1 : pair + plen;
        size_t vlen = eq != NULL ? plen - klen - 1 : 0;
        if (memchr(pair, ';', plen) != NULL) {
            continue; /* Go refuses the whole pair ("invalid semicolon separator") */
        }
        long kn = unescape(pair, klen);
        long vn = unescape(val, vlen);
        if (kn < 0 || vn < 0) {
            continue;
        }
        /* Terminators land on the '=' / '&' positions or earlier: regions never overlap. */
        pair[kn] = '\0';
        val[vn] = '\0';
        tw_grow((void **)&f->args, &f->cap, f->n + 1, sizeof(*f->args));
        f->args[f->n].name = pair;
        f->args[f->n].value = val;
        f->n++;
    }
}

const char *tw_http_form_get(const tw_http_form_t *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->args[i].name, name) == 0) {
            return f->args[i].value;
        }
    }
    return NULL;
}

void tw_http_form_fini(tw_http_form_t *f)
{
    if (f == NULL) {
        return;
    }
    free(f->store);
    free(f->args);
    memset(f, 0, sizeof(*f));
}

/* ---- listen addresses ---------------------------------------------------------------- */

int tw_http_listen_split(const char *addr, char *host, size_t hostsz, char *port, size_t portsz,
                         tw_error_t *err)
{
    const char *hp, *pp;
    size_t hn;
    if (addr == NULL || addr[0] == '\0') {
        return tw_error_set(err, TW_EINVAL, "listen address is empty");
    }
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL) {
            return tw_error_set(err, TW_EINVAL, "listen address %s: missing ']'", addr);
        }
        if (close[1] != ':') {
            return tw_error_set(err, TW_EINVAL, "listen address %s: missing port", addr);
        }
        hp = addr + 1;
        hn = (size_t)(close - hp);
        pp = close + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (colon == NULL) {
            return tw_error_set(err, TW_EINVAL, "listen address %s: missing port", addr);
        }
        if (memchr(addr, ':', (size_t)(colon - addr)) != NULL) {
            return tw_error_set(err, TW_EINVAL,
                                "listen address %s: too many colons (write IPv6 as [addr]:port)",
                                addr);
        }
        hp = addr;
        hn = (size_t)(colon - addr);
        pp = colon + 1;
    }
    if (memchr(hp, '[', hn) != NULL || memchr(hp, ']', hn) != NULL) {
        return tw_error_set(err, TW_EINVAL, "listen address %s: unexpected bracket", addr);
    }
    size_t pn = strlen(pp);
    unsigned long pv = 0;
    if (pn == 0 || pn > 5) {
        return tw_error_set(err, TW_EINVAL, "listen address %s: port must be 0-65535", addr);
    }
    for (size_t i = 0; i < pn; i++) {
        if (pp[i] < '0' || pp[i] > '9') {
            return tw_error_set(err, TW_EINVAL, "listen address %s: port must be 0-65535", addr);
        }
        pv = pv * 10 + (unsigned long)(pp[i] - '0');
    }
    if (pv > 65535) {
        return tw_error_set(err, TW_EINVAL, "listen address %s: port must be 0-65535", addr);
    }
    if (hn >= hostsz || pn >= portsz) {
        return tw_error_set(err, TW_EINVAL, "listen address %s: too long", addr);
    }
    memcpy(host, hp, hn);
    host[hn] = '\0';
    memcpy(port, pp, pn);
    port[pn] = '\0';
    return 0;
}

/* ---- server -------------------------------------------------------------------------- */

static size_t stats_add(tw_http_server_t *srv, const char *handler)
{
    for (size_t i = 0; i < srv->nstats; i++) {
        if (strcmp(srv->stats[i].handler, handler) == 0) {
            return i;
        }
    }
    tw_grow((void **)&srv->stats, &srv->stats_cap, srv->nstats + 1, sizeof(*srv->stats));
    handler_stats_t *h = &srv->stats[srv->nstats];
    memset(h, 0, sizeof(*h));
    h->handler = tw_xstrdup(handler);
    return srv->nstats++;
}

tw_http_server_t *tw_http_server_new(const tw_http_server_options_t *opts, tw_error_t *err)
{
    tw_http_server_t *srv = tw_xcalloc(1, sizeof(*srv));
    const char *addr = opts->listen_address != NULL ? opts->listen_address : "";
    if (tw_http_listen_split(addr, srv->host, sizeof(srv->host), srv->port_str,
                             sizeof(srv->port_str), err) != 0) {
        free(srv);
        return NULL;
    }
    srv->listen_address = tw_xstrdup(addr);
    srv->threads = opts->threads != 0 ? opts->threads : DEFAULT_THREADS;
    srv->max_body_bytes = opts->max_body_bytes != 0 ? opts->max_body_bytes : DEFAULT_MAX_BODY_BYTES;
    srv->timeout_s = opts->timeout_s != 0 ? opts->timeout_s : DEFAULT_TIMEOUT_S;
    srv->max_connections = opts->max_connections;
    bool has_cert = opts->tls_cert_file != NULL && opts->tls_cert_file[0] != '\0';
    bool has_key = opts->tls_key_file != NULL && opts->tls_key_file[0] != '\0';
    if (has_cert || has_key) {
        if (!has_cert || !has_key) {
            tw_error_set(err, TW_EINVAL, "listen %s: TLS needs both cert_file and key_file", addr);
            goto fail;
        }
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            tw_error_set(err, TW_EINVAL, "listen %s: this libmicrohttpd has no TLS support", addr);
            goto fail;
        }
        const char *files[2] = {opts->tls_cert_file, opts->tls_key_file};
        char **pems[2] = {&srv->tls_cert_pem, &srv->tls_key_pem};
        for (int i = 0; i < 2; i++) {
            tw_buf_t b;
            tw_buf_init(&b, (size_t)1 << 20);
            if (tw_buf_read_file(&b, files[i], err) != 0) {
                tw_buf_fini(&b);
                goto fail;
            }
            *pems[i] = tw_buf_steal(&b, NULL);
        }
    }
    pthread_mutex_init(&srv->mu, NULL);
    stats_add(srv, OTHER_HANDLER);
    return srv;
fail:
    free(srv->tls_cert_pem);
    free(srv->tls_key_pem);
    free(srv->listen_address);
    free(srv);
    return NULL;
}

int tw_http_server_route(tw_http_server_t *srv, const char *method, const char *path,
                         tw_http_handler_fn handler, void *ctx)
{
    if (srv->daemon != NULL) {
        return TW_ESTATE;
    }
    if (method == NULL || method[0] == '\0' || path == NULL || path[0] != '/' || handler == NULL) {
        return TW_EINVAL;
    }
    for (size_t i = 0; i < srv->nroutes; i++) {
        if (strcmp(srv->routes[i].method, method) == 0 && strcmp(srv->routes[i].path, path) == 0) {
            return TW_EINVAL;
        }
    }
    tw_grow((void **)&srv->routes, &srv->routes_cap, srv->nroutes + 1, sizeof(*srv->routes));
    route_t *r = &srv->routes[srv->nroutes++];
    r->method = tw_xstrdup(method);
    r->path = tw_xstrdup(path);
    r->fn = handler;
    r->ctx = ctx;
    r->stats_idx = stats_add(srv, path);
    return 0;
}

static double elapsed_s(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void stats_record(tw_http_server_t *srv, size_t idx, int code, double dur_s)
{
    pthread_mutex_lock(&srv->mu);
    handler_stats_t *h = &srv->stats[idx];
    size_t i = 0;
    while (i < h->ncodes && h->codes[i].code < code) {
        i++;
    }
    if (i == h->ncodes || h->codes[i].code != code) {
        tw_grow((void **)&h->codes, &h->codes_cap, h->ncodes + 1, sizeof(*h->codes));
        memmove(&h->codes[i + 1], &h->codes[i], (h->ncodes - i) * sizeof(*h->codes));
        h->codes[i].code = code;
        h->codes[i].n = 0;
        h->ncodes++;
    }
    h->codes[i].n++;
    size_t b = 0;
    while (b < NBUCKETS && dur_s > duration_bounds[b]) {
        b++;
    }
    if (b < NBUCKETS) {
        h->buckets[b]++;
    }
    h->count++;
    h->sum_s += dur_s;
    pthread_mutex_unlock(&srv->mu);
}

static void response_free_headers(tw_http_response_t *resp)
{
    for (size_t i = 0; i < resp->nheaders; i++) {
        free(resp->headers[i][0]);
        free(resp->headers[i][1]);
    }
    resp->nheaders = 0;
}

void tw_http_response_header(tw_http_response_t *resp, const char *name, const char *value)
{
    if (resp->nheaders >= sizeof(resp->headers) / sizeof(resp->headers[0])) {
        return;
    }
    resp->headers[resp->nheaders][0] = tw_xstrdup(name);
    resp->headers[resp->nheaders][1] = tw_xstrdup(value);
    resp->nheaders++;
}

void tw_http_response_text(tw_http_response_t *resp, int status, const char *fmt, ...)
{
    va_list ap;
    resp->status = status;
    resp->content_type = TEXT_PLAIN;
    tw_buf_reset(&resp->body);
    va_start(ap, fmt);
    tw_buf_vprintf(&resp->body, fmt, ap);
    va_end(ap);
    tw_buf_putc(&resp->body, '\n');
}

static void response_init(tw_http_response_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = 200;
    resp->content_type = TEXT_PLAIN;
    tw_buf_init(&resp->body, 0);
}

/* Queues resp (consuming its body and headers) and counts the request. */
static enum MHD_Result respond(tw_http_request_t *req, tw_http_response_t *resp)
{
    size_t len = 0;
    char *data = tw_buf_steal(&resp->body, &len);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ok = MHD_NO;
    int status = resp->status >= 100 && resp->status <= 599 ? resp->status : 500;
    if (r == NULL) {
        free(data);
        goto out;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type != NULL ? resp->content_type : TEXT_PLAIN);
    for (size_t i = 0; i < resp->nheaders; i++) {
        MHD_add_response_header(r, resp->headers[i][0], resp->headers[i][1]);
    }
    ok = MHD_queue_response(req->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    stats_record(req->srv, req->stats_idx, status, elapsed_s(&req->start));
out:
    response_free_headers(resp);
    tw_buf_fini(&resp->body);
    return ok;
}

/* Answers with a Go-style one-line error (http.Error: text/plain and nosniff). */
static enum MHD_Result respond_error(tw_http_request_t *req, int status, const char *allow,
                                     const char *msg)
{
    tw_http_response_t resp;
    response_init(&resp);
    tw_http_response_text(&resp, status, "%s", msg);
    tw_http_response_header(&resp, "X-Content-Type-Options", "nosniff");
    if (allow != NULL) {
        tw_http_response_header(&resp, "Allow", allow);
    }
    return respond(req, &resp);
}

/* Whether route path rp serves path: equal, or rp ends in '*' and path starts with the rest. */
static bool path_matches(const char *rp, const char *path)
{
    size_t n = strlen(rp);
    if (n > 0 && rp[n - 1] == '*') {
        return strncmp(rp, path, n - 1) == 0;
    }
    return strcmp(rp, path) == 0;
}

static int method_matches(const route_t *r, const char *method)
{
    return strcmp(r->method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The Allow header for path: its routes' methods (GET implies HEAD), sorted. */
static void allow_header(const tw_http_server_t *srv, const char *path, tw_buf_t *out)
{
    const char **methods = tw_xcalloc(srv->nroutes * 2 + 1, sizeof(*methods));
    size_t n = 0;
    for (size_t i = 0; i < srv->nroutes; i++) {
        if (!path_matches(srv->routes[i].path, path)) {
            continue;
        }
        methods[n++] = srv->routes[i].method;
        if (strcmp(srv->routes[i].method, "GET") == 0) {
            methods[n++] = "HEAD";
        }
    }
    qsort(methods, n, sizeof(*methods), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(methods[i], methods[i - 1]) == 0) {
            continue;
        }
        if (out->len > 0) {
            tw_buf_puts(out, ", ");
        }
        tw_buf_puts(out, methods[i]);
    }
    free(methods);
}

/* Step 1: route lookup and early refusals. */
static enum MHD_Result on_headers(tw_http_request_t *req)
{
    tw_http_server_t *srv = req->srv;
    bool path_known = false;
    /* Exact routes first, then prefix routes (a path ending in '*'). */
    for (size_t i = 0; i < srv->nroutes && !path_known; i++) {
        path_known = strcmp(srv->routes[i].path, req->path) == 0;
    }
    for (size_t i = 0; i < srv->nroutes; i++) {
        if (path_known ? strcmp(srv->routes[i].path, req->path) != 0
                       : !path_matches(srv->routes[i].path, req->path)) {
            continue;
        }
        path_known = true;
        req->stats_idx = srv->routes[i].stats_idx;
        if (strcmp(srv->routes[i].method, req->method) == 0) {
            req->route = &srv->routes[i];
            break;
        }
        if (req->route == NULL && method_matches(&srv->routes[i], req->method)) {
            req->route = &srv->routes[i]; /* HEAD on a GET route, unless HEAD has its own */
        }
    }
    if (!path_known) {
        return respond_error(req, 404, NULL, "404 page not found");
    }
    if (req->route == NULL) {
        tw_buf_t allow;
        tw_buf_init(&allow, 0);
        allow_header(srv, req->path, &allow);
        enum MHD_Result ok =
            respond_error(req, 405, allow.data != NULL ? allow.data : "", "Method Not Allowed");
        tw_buf_fini(&allow);
        return ok;
    }
    const char *cl =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end != cl && (errno == ERANGE || n > srv->max_body_bytes)) {
            char msg[96];
            snprintf(msg, sizeof(msg), "request body larger than %zu bytes", srv->max_body_bytes);
            return respond_error(req, 413, NULL, msg);
        }
    }
    return MHD_YES;
}

static int is_form_post(const tw_http_request_t *req)
{
    if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0 &&
        strcmp(req->method, "PATCH") != 0) {
        return 0;
    }
    const char *ct =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct == NULL) {
        return 0;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    static const char form[] = "application/x-www-form-urlencoded";
    size_t n = sizeof(form) - 1;
    return strncasecmp(ct, form, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

/* Step 3: the handler. */
static enum MHD_Result run_handler(tw_http_request_t *req)
{
    tw_http_response_t resp;
    if (is_form_post(req)) {
        tw_http_form_parse(&req->form, req->body.data != NULL ? req->body.data : "", req->body.len);
    }
    response_init(&resp);
    int rc = req->route->fn(req->route->ctx, req, &resp);
    if (rc < 0) {
        response_free_headers(&resp);
        tw_http_response_text(&resp, 500, "%s", tw_strerror(rc));
        tw_http_response_header(&resp, "X-Content-Type-Options", "nosniff");
    }
    return respond(req, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    tw_http_server_t *srv = cls;
    tw_http_request_t *req = *con_cls;
    (void)version;
    if (req == NULL) {
        req = tw_xcalloc(1, sizeof(*req));
        req->srv = srv;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->stats_idx = 0;
        clock_gettime(CLOCK_MONOTONIC, &req->start);
        tw_buf_init(&req->body, srv->max_body_bytes);
        *con_cls = req;
        return on_headers(req);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!req->overflow && tw_buf_append(&req->body, upload_data, n) == 0) {
            return MHD_YES;
        }
        /* A response cannot be queued while the body streams in: drop the rest, within
         * reason, and answer 413 at its end. */
        req->overflow = true;
        req->discarded += n;
        return req->discarded <= srv->max_body_bytes ? MHD_YES : MHD_NO;
    }
    if (req->overflow) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes", srv->max_body_bytes);
        return respond_error(req, 413, NULL, msg);
    }
    return run_handler(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    tw_http_request_t *req = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (req == NULL) {
        return;
    }
    tw_buf_fini(&req->body);
    tw_http_form_fini(&req->form);
    free(req);
    *con_cls = NULL;
}

/* Binds and listens on the server's address. Returns the socket or a negative code. */
static int listen_socket(tw_http_server_t *srv, tw_error_t *err)
{
    struct addrinfo hints, *res = NULL;
    int fd = -1, rc = 0, saved = 0;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    bool any = srv->host[0] == '\0';
    int gai = getaddrinfo(any ? NULL : srv->host, srv->port_str, &hints, &res);
    if (gai != 0) {
        return tw_error_set(err, TW_EINVAL, "listen %s: %s", srv->listen_address,
                            gai_strerror(gai));
    }
    /* For ":port" try the IPv6 wildcard first, dual-stack, as Go does; then the rest. */
    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
            if (any && ((pass == 0) != (ai->ai_family == AF_INET6))) {
                continue;
            }
            if (!any && pass == 1) {
                break;
            }
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
            if (fd < 0) {
                saved = errno;
                continue;
            }
            int one = 1, zero = 0;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (any && ai->ai_family == AF_INET6) {
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
            }
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
                break;
            }
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        rc = tw_error_set(err, saved != 0 ? -saved : TW_EIO, "listen %s: %s", srv->listen_address,
                          strerror(saved != 0 ? saved : EIO));
        return rc;
    }
    /* The pool's threads all poll this socket: accept must not block the losers. */
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            srv->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    return fd;
}

void tw_http_server_set_max_body_bytes(tw_http_server_t *srv, size_t max_body_bytes)
{
    srv->max_body_bytes = max_body_bytes != 0 ? max_body_bytes : DEFAULT_MAX_BODY_BYTES;
}

int tw_http_server_start(tw_http_server_t *srv, tw_error_t *err)
{
    if (srv->daemon != NULL) {
        return tw_error_set(err, TW_ESTATE, "listen %s: already started", srv->listen_address);
    }
    int fd = listen_socket(srv, err);
    if (fd < 0) {
        return fd;
    }
    /* MHD_OPTION_CONNECTION_LIMIT 0 would refuse everything: leave it out for "no limit". */
    struct MHD_OptionItem extra[4];
    size_t ne = 0;
    if (srv->max_connections != 0) {
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                              (intptr_t)srv->max_connections, NULL};
    }
    if (srv->tls_cert_pem != NULL) {
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert_pem};
        extra[ne++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key_pem};
    }
    extra[ne] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | (srv->tls_cert_pem != NULL ? MHD_USE_TLS : 0);
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, srv->threads, MHD_OPTION_CONNECTION_TIMEOUT, srv->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY_BYTES, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        close(fd);
        srv->port = 0;
        return tw_error_set(err, TW_EIO, "listen %s: cannot start the HTTP server",
                            srv->listen_address);
    }
    return 0;
}

int tw_http_server_port(const tw_http_server_t *srv)
{
    return srv->daemon != NULL ? srv->port : 0;
}

void tw_http_server_stop(tw_http_server_t *srv)
{
    if (srv == NULL || srv->daemon == NULL) {
        return;
    }
    /* Joins the pool threads (running handlers finish) and closes the listening socket. */
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
}

void tw_http_server_free(tw_http_server_t *srv)
{
    if (srv == NULL) {
        return;
    }
    tw_http_server_stop(srv);
    for (size_t i = 0; i < srv->nroutes; i++) {
        free(srv->routes[i].method);
        free(srv->routes[i].path);
    }
    free(srv->routes);
    free(srv->tls_cert_pem);
    free(srv->tls_key_pem);
    for (size_t i = 0; i < srv->nstats; i++) {
        free(srv->stats[i].handler);
        free(srv->stats[i].codes);
    }
    free(srv->stats);
    pthread_mutex_destroy(&srv->mu);
    free(srv->listen_address);
    free(srv);
}

void tw_http_server_collect(tw_http_server_t *srv, tw_mset_t *out)
{
    tw_mfamily_t *req_f =
        tw_mset_family(out, "tidewatch_http_requests_total", TW_MTYPE_COUNTER,
                       "Requests answered by the HTTP server, by handler and status code.", NULL);
    tw_mfamily_t *dur_f = tw_mset_family(
        out, "tidewatch_http_request_duration_seconds", TW_MTYPE_HISTOGRAM,
        "Time from a request's headers to its queued response, by handler.", "seconds");
    pthread_mutex_lock(&srv->mu);
    for (size_t i = 0; i < srv->nstats; i++) {
        const handler_stats_t *h = &srv->stats[i];
        for (size_t c = 0; c < h->ncodes; c++) {
            char code[16];
            snprintf(code, sizeof(code), "%d", h->codes[c].code);
            tw_label_t l[2] = {{"code", code}, {"handler", h->handler}};
            tw_mset_add(out, req_f, NULL, l, 2, (double)h->codes[c].n, TW_NO_TIMESTAMP);
        }
    }
    for (size_t i = 0; i < srv->nstats; i++) {
        const handler_stats_t *h = &srv->stats[i];
        if (h->count == 0) {
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += h->buckets[b];
            tw_label_t l[2] = {{"handler", h->handler}, {"le", duration_les[b]}};
            tw_mset_add(out, dur_f, "_bucket", l, 2, (double)cum, TW_NO_TIMESTAMP);
        }
        tw_label_t inf[2] = {{"handler", h->handler}, {"le", "+Inf"}};
        tw_mset_add(out, dur_f, "_bucket", inf, 2, (double)h->count, TW_NO_TIMESTAMP);
        tw_label_t hl[1] = {{"handler", h->handler}};
        tw_mset_add(out, dur_f, "_sum", hl, 1, h->sum_s, TW_NO_TIMESTAMP);
        tw_mset_add(out, dur_f, "_count", hl, 1, (double)h->count, TW_NO_TIMESTAMP);
    }
    pthread_mutex_unlock(&srv->mu);
}

/* ---- request accessors --------------------------------------------------------------- */

const char *tw_http_request_method(const tw_http_request_t *req)
{
    return req->method;
}

const char *tw_http_request_path(const tw_http_request_t *req)
{
    return req->path;
}

const char *tw_http_request_header(const tw_http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *tw_http_request_arg(const tw_http_request_t *req, const char *name)
{
    /* Like Go's Request.FormValue: body parameters take precedence over the query string. */
    const char *v = tw_http_form_get(&req->form, name);
    if (v != NULL) {
        return v;
    }
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct args_iter {
    const char *name;
    const char **out;
    size_t max;
    size_t n;
} args_iter_t;

static enum MHD_Result args_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    args_iter_t *it = cls;
    (void)kind;
    if (key != NULL && strcmp(key, it->name) == 0) {
        if (it->n < it->max) {
            it->out[it->n] = value != NULL ? value : "";
        }
        it->n++;
    }
    return MHD_YES;
}

size_t tw_http_request_args(const tw_http_request_t *req, const char *name, const char **out,
                            size_t max)
{
    args_iter_t it = {.name = name, .out = out, .max = max, .n = 0};
    for (size_t i = 0; i < req->form.n; i++) {
        if (strcmp(req->form.args[i].name, name) == 0) {
            if (it.n < max) {
                out[it.n] = req->form.args[i].value;
            }
            it.n++;
        }
    }
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, args_collect, &it);
    return it.n;
}

const char *tw_http_request_body(const tw_http_request_t *req, size_t *len)
{
    if (len != NULL) {
        *len = req->body.len;
    }
    return req->body.data != NULL ? req->body.data : "";
}
