/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_http_server.c - the HTTP server over real sockets (libcurl as the client): routing, HEAD,
 * 404/405/413/500, bodies, query and form arguments, headers, concurrency, request metrics,
 * listen addresses, start/stop; and the form and address parsers directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/http_server.h"
#include "common/http_server_int.h"
#include "common/metric_set.h"

/* ---- handlers ------------------------------------------------------------------------ */

static int h_hello(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    (void)ctx;
    const char *name = tw_http_request_arg(req, "name");
    tw_buf_printf(&resp->body, "hello %s via %s %s\n", name != NULL ? name : "nobody",
                  tw_http_request_method(req), tw_http_request_path(req));
    tw_http_response_header(resp, "X-Tidewatch", "yes");
    return 0;
}

static int h_echo(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    (void)ctx;
    size_t len = 0;
    const char *body = tw_http_request_body(req, &len);
    const char *ct = tw_http_request_header(req, "content-type");
    const char *q = tw_http_request_arg(req, "query");
    const char *t = tw_http_request_arg(req, "time");
    resp->status = 202;
    resp->content_type = "application/json";
    tw_buf_printf(&resp->body, "len=%zu ct=%s query=%s time=%s body=", len, ct != NULL ? ct : "-",
                  q != NULL ? q : "-", t != NULL ? t : "-");
    tw_buf_append(&resp->body, body, len);
    return 0;
}

static int h_fail(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    (void)ctx;
    (void)req;
    tw_buf_puts(&resp->body, "partial");
    tw_http_response_header(resp, "X-Lost", "1");
    return TW_EIO;
}

static int h_teapot(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    (void)ctx;
    (void)req;
    tw_http_response_text(resp, 418, "short and %s", "stout");
    return 0;
}

/* Holds every caller until `want` of them are inside at once: proves handlers overlap. */
typedef struct barrier_ctx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inside;
    int want;
    int max_inside;
} barrier_ctx_t;

static int h_barrier(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    barrier_ctx_t *b = ctx;
    (void)req;
    pthread_mutex_lock(&b->mu);
    b->inside++;
    if (b->inside > b->max_inside) {
        b->max_inside = b->inside;
    }
    pthread_cond_broadcast(&b->cv);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    while (b->max_inside < b->want) {
        if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&b->mu);
    tw_buf_puts(&resp->body, "together\n");
    return 0;
}

/* ---- client -------------------------------------------------------------------------- */

typedef struct reply {
    long status;
    tw_buf_t body;
    tw_buf_t headers;
} reply_t;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    tw_buf_append(ud, p, size * n);
    return size * n;
}

/*
 * Sends one request. method NULL means GET; body NULL means none; extra is one more request
 * header line or NULL. Returns the curl code.
 */
static CURLcode http(int port, const char *method, const char *path_query, const char *body,
                     long body_len, const char *extra, reply_t *r)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path_query);
    tw_buf_init(&r->body, 0);
    tw_buf_init(&r->headers, 0);
    r->status = 0;
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (method != NULL && strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (method != NULL) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body_len);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (extra != NULL) {
        hdrs = curl_slist_append(hdrs, extra);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

static void reply_fini(reply_t *r)
{
    tw_buf_fini(&r->body);
    tw_buf_fini(&r->headers);
}

static const char *body_of(const reply_t *r)
{
    return r->body.data != NULL ? r->body.data : "";
}

static void assert_header(const reply_t *r, const char *line)
{
    if (r->headers.data == NULL || strstr(r->headers.data, line) == NULL) {
        fail_msg("header \"%s\" missing in:\n%s", line,
                 r->headers.data != NULL ? r->headers.data : "");
    }
}

/* ---- fixture: one server for the request tests -------------------------------------- */

typedef struct fixture {
    tw_http_server_t *srv;
    barrier_ctx_t barrier;
    int port;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    tw_error_t err;
    tw_http_server_options_t opts = {
        .listen_address = "127.0.0.1:0", .threads = 4, .max_body_bytes = 1000};
    pthread_mutex_init(&fx->barrier.mu, NULL);
    pthread_cond_init(&fx->barrier.cv, NULL);
    fx->barrier.want = 4;
    fx->srv = tw_http_server_new(&opts, &err);
    assert_non_null(fx->srv);
    assert_int_equal(tw_http_server_port(fx->srv), 0);
    assert_int_equal(tw_http_server_route(fx->srv, "GET", "/hello", h_hello, NULL), 0);
    assert_int_equal(tw_http_server_route(fx->srv, "POST", "/echo", h_echo, NULL), 0);
    assert_int_equal(tw_http_server_route(fx->srv, "PUT", "/echo", h_echo, NULL), 0);
    assert_int_equal(tw_http_server_route(fx->srv, "GET", "/fail", h_fail, NULL), 0);
    assert_int_equal(tw_http_server_route(fx->srv, "GET", "/teapot", h_teapot, NULL), 0);
    assert_int_equal(tw_http_server_route(fx->srv, "GET", "/barrier", h_barrier, &fx->barrier), 0);
    assert_int_equal(tw_http_server_route(fx->srv, "GET", "/hello", h_hello, NULL), TW_EINVAL);
    assert_int_equal(tw_http_server_route(fx->srv, "GET", "relative", h_hello, NULL), TW_EINVAL);
    assert_int_equal(tw_http_server_start(fx->srv, &err), 0);
    fx->port = tw_http_server_port(fx->srv);
    assert_true(fx->port > 0);
    assert_int_equal(tw_http_server_route(fx->srv, "GET", "/late", h_hello, NULL), TW_ESTATE);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    tw_http_server_free(fx->srv);
    pthread_mutex_destroy(&fx->barrier.mu);
    pthread_cond_destroy(&fx->barrier.cv);
    free(fx);
    return 0;
}

/* ---- request tests ------------------------------------------------------------------- */

static void test_get_and_query_args(void **state)
{
    fixture_t *fx = *state;
    reply_t r;
    assert_int_equal(http(fx->port, NULL, "/hello?name=tide%20watch&x=1", NULL, 0, NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(body_of(&r), "hello tide watch via GET /hello\n");
    assert_header(&r, "Content-Type: text/plain; charset=utf-8\r\n");
    assert_header(&r, "X-Tidewatch: yes\r\n");
    assert_header(&r, "Content-Length: 32\r\n");
    reply_fini(&r);
}

static void test_head(void **state)
{
    fixture_t *fx = *state;
    reply_t r;
    assert_int_equal(http(fx->port, "HEAD", "/hello?name=x", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    assert_header(&r, "X-Tidewatch: yes\r\n");
    reply_fini(&r);

    /* On the wire: headers (with the GET body's length) and nothing after them. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char rq[] = "HEAD /hello HTTP/1.0\r\n\r\n";
    assert_int_equal(write(fd, rq, sizeof(rq) - 1), (ssize_t)sizeof(rq) - 1);
    char buf[2048];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    assert_true(strncmp(buf, "HTTP/1.0 200 OK\r\n", 17) == 0 ||
                strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(buf, "Content-Length: 29\r\n"));
    const char *end = strstr(buf, "\r\n\r\n");
    assert_non_null(end);
    assert_int_equal(end + 4 - buf, (long)len);
}

static void test_not_found(void **state)
{
    fixture_t *fx = *state;
    reply_t r;
    assert_int_equal(http(fx->port, NULL, "/nope", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 404);
    assert_string_equal(body_of(&r), "404 page not found\n");
    assert_header(&r, "Content-Type: text/plain; charset=utf-8\r\n");
    assert_header(&r, "X-Content-Type-Options: nosniff\r\n");
    reply_fini(&r);
    /* Exact paths only: no prefix or trailing-slash matching. */
    assert_int_equal(http(fx->port, NULL, "/hello/", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 404);
    reply_fini(&r);
}

static void test_method_not_allowed(void **state)
{
    fixture_t *fx = *state;
    reply_t r;
    assert_int_equal(http(fx->port, "DELETE", "/echo", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 405);
    assert_string_equal(body_of(&r), "Method Not Allowed\n");
    assert_header(&r, "Allow: POST, PUT\r\n");
    reply_fini(&r);
    assert_int_equal(http(fx->port, "POST", "/hello", "a", 1, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 405);
    assert_header(&r, "Allow: GET, HEAD\r\n");
    reply_fini(&r);
}

static void test_post_body(void **state)
{
    fixture_t *fx = *state;
    reply_t r;
    const char body[] = "{\"a\":1}\n\0binary";
    assert_int_equal(http(fx->port, "POST", "/echo?query=fromurl", body, (long)sizeof(body) - 1,
                          "Content-Type: application/json", &r),
                     CURLE_OK);
    assert_int_equal(r.status, 202);
    assert_header(&r, "Content-Type: application/json\r\n");
    const char want[] = "len=15 ct=application/json query=fromurl time=- body={\"a\":1}\n\0binary";
    assert_int_equal(r.body.len, sizeof(want) - 1);
    assert_memory_equal(r.body.data, want, sizeof(want) - 1);
    reply_fini(&r);
}

static void test_form_args(void **state)
{
    fixture_t *fx = *state;
    reply_t r;
    const char *form = "query=rate(x%5B5m%5D)+%2B+1&time=17.5&query=second";
    /* The body wins over the query string, as with Go's FormValue. */
    assert_int_equal(http(fx->port, "POST", "/echo?query=url&time=1", form, (long)strlen(form),
                          "Content-Type: application/x-www-form-urlencoded; charset=utf-8", &r),
                     CURLE_OK);
    assert_int_equal(r.status, 202);
    char want[256];
    snprintf(want, sizeof(want),
             "len=%zu ct=application/x-www-form-urlencoded; charset=utf-8 query=rate(x[5m]) + 1 "
             "time=17.5 body=%s",
             strlen(form), form);
    assert_string_equal(body_of(&r), want);
    reply_fini(&r);
    /* Not a form: the body is not decoded and the query string answers. */
    assert_int_equal(http(fx->port, "PUT", "/echo?query=url", form, (long)strlen(form),
                          "Content-Type: text/plain", &r),
                     CURLE_OK);
    snprintf(want, sizeof(want), "len=%zu ct=text/plain query=url time=- body=%s", strlen(form),
             form);
    assert_string_equal(body_of(&r), want);
    reply_fini(&r);
}

static void test_body_too_large(void **state)
{
    fixture_t *fx = *state;
    reply_t r;
    char big[1001];
    memset(big, 'b', sizeof(big));
    /* Exactly the limit is fine. */
    assert_int_equal(http(fx->port, "POST", "/echo", big, 1000, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 202);
    reply_fini(&r);
    /* One more byte, announced by Content-Length: refused before the body is read. */
    assert_int_equal(http(fx->port, "POST", "/echo", big, 1001, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_string_equal(body_of(&r), "request body larger than 1000 bytes\n");
    reply_fini(&r);
}

/* A chunked body has no Content-Length: the limit is found while reading. */
typedef struct upload {
    size_t left;
} upload_t;

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    upload_t *u = ud;
    size_t k = size * n < u->left ? size * n : u->left;
    if (k > 100) {
        k = 100;
    }
    memset(p, 'c', k);
    u->left -= k;
    return k;
}

static long chunked_post(int port, size_t len, tw_buf_t *body)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", port);
    upload_t u = {len};
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &u);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return status;
}

static void test_chunked_body(void **state)
{
    fixture_t *fx = *state;
    tw_buf_t body;
    tw_buf_init(&body, 0);
    assert_int_equal(chunked_post(fx->port, 950, &body), 202);
    assert_non_null(strstr(body.data, "len=950 "));
    tw_buf_reset(&body);
    assert_int_equal(chunked_post(fx->port, 1500, &body), 413);
    assert_string_equal(body.data, "request body larger than 1000 bytes\n");
    tw_buf_reset(&body);
    /* Far beyond the limit the server stops reading and drops the connection. */
    assert_int_equal(chunked_post(fx->port, 100000, &body), 0);
    tw_buf_fini(&body);
}

static void test_handler_error(void **state)
{
    fixture_t *fx = *state;
    reply_t r;
    assert_int_equal(http(fx->port, NULL, "/fail", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 500);
    char want[128];
    snprintf(want, sizeof(want), "%s\n", tw_strerror(TW_EIO));
    assert_string_equal(body_of(&r), want);
    assert_null(strstr(r.headers.data, "X-Lost"));
    reply_fini(&r);
    assert_int_equal(http(fx->port, NULL, "/teapot", NULL, 0, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 418);
    assert_string_equal(body_of(&r), "short and stout\n");
    reply_fini(&r);
}

typedef struct worker {
    int port;
    long status;
    char body[64];
} worker_t;

static void *concurrent_get(void *arg)
{
    worker_t *w = arg;
    reply_t r;
    if (http(w->port, NULL, "/barrier", NULL, 0, NULL, &r) == CURLE_OK) {
        w->status = r.status;
        snprintf(w->body, sizeof(w->body), "%s", body_of(&r));
    }
    reply_fini(&r);
    return NULL;
}

/*
 * Four requests are inside the handler at the same time (the pool has four threads). Each
 * client starts once the previous one is inside: a worker busy in a handler does not accept,
 * so each new connection lands on a free worker (libmicrohttpd pins a connection to the worker
 * that accepted it).
 */
static void test_concurrent_handlers(void **state)
{
    fixture_t *fx = *state;
    barrier_ctx_t *b = &fx->barrier;
    pthread_t th[4];
    worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){.port = fx->port};
        assert_int_equal(pthread_create(&th[i], NULL, concurrent_get, &w[i]), 0);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 5;
        pthread_mutex_lock(&b->mu);
        while (b->inside < i + 1) {
            if (pthread_cond_timedwait(&b->cv, &b->mu, &deadline) != 0) {
                break;
            }
        }
        pthread_mutex_unlock(&b->mu);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].status, 200);
        assert_string_equal(w[i].body, "together\n");
    }
    assert_int_equal(b->max_inside, 4);
}

/* Finds a sample's value by its suffix and rendered labels ("code=200,handler=/x"). */
static double sample_value(const tw_mset_t *s, const char *family, const char *suffix,
                           const char *labels)
{
    const tw_mfamily_t *f = tw_mset_find(s, family);
    assert_non_null(f);
    for (size_t i = 0; i < f->nsamples; i++) {
        const tw_msample_t *m = &f->samples[i];
        char got[256] = "";
        size_t off = 0;
        for (size_t j = 0; j < m->nlabels; j++) {
            off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s=%s", j ? "," : "",
                                    m->labels[j].name, m->labels[j].value);
        }
        if (strcmp(m->suffix, suffix) == 0 && strcmp(got, labels) == 0) {
            return m->value;
        }
    }
    fail_msg("no sample %s%s{%s}", family, suffix, labels);
    return -1;
}

static void test_metrics(void **state)
{
    (void)state;
    tw_error_t err;
    tw_http_server_options_t opts = {.listen_address = "127.0.0.1:0"};
    tw_http_server_t *srv = tw_http_server_new(&opts, &err);
    assert_non_null(srv);
    assert_int_equal(tw_http_server_route(srv, "GET", "/hello", h_hello, NULL), 0);
    assert_int_equal(tw_http_server_route(srv, "GET", "/fail", h_fail, NULL), 0);
    assert_int_equal(tw_http_server_route(srv, "POST", "/echo", h_echo, NULL), 0);
    assert_int_equal(tw_http_server_start(srv, &err), 0);
    int port = tw_http_server_port(srv);
    reply_t r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(http(port, NULL, "/hello", NULL, 0, NULL, &r), CURLE_OK);
        reply_fini(&r);
    }
    assert_int_equal(http(port, "HEAD", "/hello", NULL, 0, NULL, &r), CURLE_OK);
    reply_fini(&r);
    assert_int_equal(http(port, "PUT", "/hello", NULL, 0, NULL, &r), CURLE_OK);
    reply_fini(&r);
    assert_int_equal(http(port, NULL, "/fail", NULL, 0, NULL, &r), CURLE_OK);
    reply_fini(&r);
    assert_int_equal(http(port, NULL, "/missing", NULL, 0, NULL, &r), CURLE_OK);
    reply_fini(&r);
    assert_int_equal(http(port, NULL, "/missing2", NULL, 0, NULL, &r), CURLE_OK);
    reply_fini(&r);

    tw_mset_t *s = tw_mset_new();
    tw_http_server_collect(srv, s);
    const char *req = "tidewatch_http_requests_total";
    const char *dur = "tidewatch_http_request_duration_seconds";
    const tw_mfamily_t *rf = tw_mset_find(s, req);
    assert_non_null(rf);
    assert_int_equal(rf->type, TW_MTYPE_COUNTER);
    assert_int_equal(rf->nsamples, 4);
    assert_true(sample_value(s, req, "", "code=200,handler=/hello") == 4);
    assert_true(sample_value(s, req, "", "code=405,handler=/hello") == 1);
    assert_true(sample_value(s, req, "", "code=500,handler=/fail") == 1);
    assert_true(sample_value(s, req, "", "code=404,handler=other") == 2);
    const tw_mfamily_t *df = tw_mset_find(s, dur);
    assert_non_null(df);
    assert_int_equal(df->type, TW_MTYPE_HISTOGRAM);
    assert_string_equal(df->unit, "seconds");
    /* other, /hello, /fail observed; /echo not: 3 x (12 buckets + sum + count). */
    assert_int_equal(df->nsamples, 3 * 14);
    assert_true(sample_value(s, dur, "_count", "handler=/hello") == 5);
    assert_true(sample_value(s, dur, "_bucket", "handler=/hello,le=+Inf") == 5);
    assert_true(sample_value(s, dur, "_bucket", "handler=/hello,le=10") == 5);
    assert_true(sample_value(s, dur, "_count", "handler=/fail") == 1);
    assert_true(sample_value(s, dur, "_count", "handler=other") == 2);
    double sum = sample_value(s, dur, "_sum", "handler=/hello");
    assert_true(sum >= 0 && sum < 5);
    /* The buckets are cumulative and in Prometheus' default order. */
    static const char *les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
    double prev = 0;
    for (size_t i = 0; i < 12; i++) {
        char l[64];
        snprintf(l, sizeof(l), "handler=/hello,le=%s", les[i]);
        double v = sample_value(s, dur, "_bucket", l);
        assert_true(v >= prev);
        prev = v;
    }
    tw_mset_free(s);
    tw_http_server_free(srv);
}

/* ---- lifecycle and addresses --------------------------------------------------------- */

static void test_listen_addresses(void **state)
{
    (void)state;
    static const char *ok[] = {"127.0.0.1:0", "localhost:0", "[::1]:0", ":0"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        tw_error_t err;
        tw_http_server_options_t opts = {.listen_address = ok[i], .threads = 1};
        tw_http_server_t *srv = tw_http_server_new(&opts, &err);
        assert_non_null(srv);
        assert_int_equal(tw_http_server_route(srv, "GET", "/hello", h_hello, NULL), 0);
        int rc = tw_http_server_start(srv, &err);
        if (rc != 0 && strchr(ok[i], ']') != NULL) {
            tw_http_server_free(srv); /* no IPv6 on this machine */
            continue;
        }
        assert_int_equal(rc, 0);
        int port = tw_http_server_port(srv);
        assert_true(port > 0);
        if (strcmp(ok[i], "[::1]:0") != 0) {
            reply_t r;
            assert_int_equal(http(port, NULL, "/hello?name=a", NULL, 0, NULL, &r), CURLE_OK);
            assert_int_equal(r.status, 200);
            reply_fini(&r);
        }
        tw_http_server_stop(srv);
        tw_http_server_stop(srv); /* idempotent */
        assert_int_equal(tw_http_server_port(srv), 0);
        tw_http_server_free(srv);
    }
}

static void test_bad_addresses(void **state)
{
    (void)state;
    static const char *bad[] = {"",     "9475",       "127.0.0.1", "::1:9475",  "[::1]9475",
                                "[::1", "host:65536", "host:-1",   "host:http", "host:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tw_error_t err;
        tw_http_server_options_t opts = {.listen_address = bad[i]};
        tw_http_server_t *srv = tw_http_server_new(&opts, &err);
        if (srv != NULL) {
            fail_msg("address \"%s\" accepted", bad[i]);
        }
        assert_int_equal(err.code, TW_EINVAL);
        if (bad[i][0] != '\0') {
            assert_non_null(strstr(err.msg, bad[i]));
        }
    }
    tw_error_t err;
    tw_http_server_options_t opts = {.listen_address = "no-such-host.invalid:0"};
    tw_http_server_t *srv = tw_http_server_new(&opts, &err);
    assert_non_null(srv);
    assert_true(tw_http_server_start(srv, &err) < 0);
    assert_non_null(strstr(err.msg, "listen no-such-host.invalid:0: "));
    tw_http_server_free(srv);
}

static void test_address_in_use(void **state)
{
    (void)state;
    tw_error_t err;
    tw_http_server_options_t opts = {.listen_address = "127.0.0.1:0"};
    tw_http_server_t *a = tw_http_server_new(&opts, &err);
    assert_int_equal(tw_http_server_start(a, &err), 0);
    assert_int_equal(tw_http_server_start(a, &err), TW_ESTATE);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", tw_http_server_port(a));
    opts.listen_address = addr;
    tw_http_server_t *b = tw_http_server_new(&opts, &err);
    assert_non_null(b);
    assert_int_equal(tw_http_server_start(b, &err), -98 /* -EADDRINUSE */);
    char want[128];
    snprintf(want, sizeof(want), "listen %s: Address already in use", addr);
    assert_string_equal(err.msg, want);
    tw_http_server_free(b);
    /* After a stop the port is free again. */
    tw_http_server_stop(a);
    b = tw_http_server_new(&opts, &err);
    assert_int_equal(tw_http_server_start(b, &err), 0);
    tw_http_server_free(b);
    tw_http_server_free(a);
    tw_http_server_free(NULL);
}

/* ---- parsers ------------------------------------------------------------------------- */

static void test_form_parser(void **state)
{
    (void)state;
    tw_http_form_t f;
    memset(&f, 0, sizeof(f));
    const char in[] = "a=1&b=x+y%2Fz&&empty=&novalue&a=2&%zz=bad&c=%4&d;e=semi&f=g;h&=anon&"
                      "%41%42=%43%00x";
    tw_http_form_parse(&f, in, sizeof(in) - 1);
    assert_int_equal(f.n, 7);
    static const char *const want[7][2] = {{"a", "1"},      {"b", "x y/z"}, {"empty", ""},
                                           {"novalue", ""}, {"a", "2"},     {"", "anon"},
                                           {"AB", "C"}};
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(f.args[i].name, want[i][0]);
        assert_string_equal(f.args[i].value, want[i][1]);
    }
    /* Lookups give the first value, like Go's FormValue. */
    assert_string_equal(tw_http_form_get(&f, "a"), "1");
    assert_string_equal(tw_http_form_get(&f, "AB"), "C");
    assert_null(tw_http_form_get(&f, "c"));
    assert_null(tw_http_form_get(&f, "zz"));
    /* Parsing again replaces the previous contents. */
    tw_http_form_parse(&f, "only=one", 8);
    assert_int_equal(f.n, 1);
    assert_null(tw_http_form_get(&f, "a"));
    assert_string_equal(tw_http_form_get(&f, "only"), "one");
    tw_http_form_parse(&f, "", 0);
    assert_int_equal(f.n, 0);
    tw_http_form_fini(&f);
    tw_http_form_fini(&f);
    tw_http_form_fini(NULL);
}

static void test_listen_split(void **state)
{
    (void)state;
    char host[64], port[8];
    assert_int_equal(tw_http_listen_split("127.0.0.1:9475", host, 64, port, 8, NULL), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_string_equal(port, "9475");
    assert_int_equal(tw_http_listen_split("[::1]:0", host, 64, port, 8, NULL), 0);
    assert_string_equal(host, "::1");
    assert_string_equal(port, "0");
    assert_int_equal(tw_http_listen_split(":65535", host, 64, port, 8, NULL), 0);
    assert_string_equal(host, "");
    assert_string_equal(port, "65535");
    assert_int_equal(tw_http_listen_split("[]:1", host, 64, port, 8, NULL), 0);
    assert_string_equal(host, "");
    assert_int_equal(tw_http_listen_split("localhost:80", host, 4, port, 8, NULL), TW_EINVAL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_and_query_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_method_not_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handler_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_handlers, setup, teardown),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_listen_addresses),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_address_in_use),
        cmocka_unit_test(test_form_parser),
        cmocka_unit_test(test_listen_split),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
