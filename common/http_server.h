/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_server.h - the HTTP server (libmicrohttpd, thread pool) and its small router.
 *
 * Routes match the exact path, or, for a route path whose last character is '*', every path
 * that starts with what comes before the '*' (the route "/api/v1/label/" + '*' serves
 * "/api/v1/label/job/values"); an exact route wins over such a prefix route.
 * A request to a known path with a method no route accepts gets 405 with an Allow header; an
 * unknown path gets 404; both with a one-line text/plain body. Request bodies are read into a
 * bounded buffer (opts.max_body_bytes) before the handler runs; a larger body is refused with
 * 413 and the handler is not called. Handlers run on the server's pool threads, concurrently:
 * they must be thread-safe. The server counts requests by handler (route path) and status code
 * and exports them with tw_http_server_collect().
 */
#ifndef TW_COMMON_HTTP_SERVER_H
#define TW_COMMON_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "metric_set.h"

typedef struct tw_http_server tw_http_server_t;
typedef struct tw_http_request tw_http_request_t;

typedef struct tw_http_server_options {
    const char *listen_address; /* "host:port", "[v6]:port" or ":port" (all interfaces) */
    unsigned threads;           /* pool size; 0: 4 */
    size_t max_body_bytes;      /* 0: 10 MiB */
    unsigned timeout_s;         /* idle connection timeout; 0: 30 s */
    unsigned max_connections;   /* concurrent connections; more are refused; 0: no limit */
    /*
     * TLS (like Prometheus' web config tls_server_config): with both set the server speaks
     * HTTPS only, with the PEM certificate chain and private key read from these files at
     * tw_http_server_new(); NULL or "": plain HTTP.
     */
    const char *tls_cert_file;
    const char *tls_key_file;
} tw_http_server_options_t;

/* The response a handler fills in. body starts empty with the server's limit removed. */
typedef struct tw_http_response {
    int status; /* default 200 */
    const char
        *content_type; /* static or owned by the handler ctx; default "text/plain; charset=utf-8" */
    tw_buf_t body;
    /* Extra headers, "Name: value" pairs added with tw_http_response_header(). */
    char *headers[16][2];
    size_t nheaders;
} tw_http_response_t;

/*
 * A handler. Returns 0 when resp is filled in; a negative code makes the server answer 500 with
 * the code's message (handlers should prefer to set a precise status themselves).
 */
typedef int (*tw_http_handler_fn)(void *ctx, const tw_http_request_t *req,
                                  tw_http_response_t *resp);

/* Creates a server (not yet listening). Copies what it needs from opts. Returns NULL with err
 * set for a bad address, or TLS files that cannot be read (or only one of the two given), or
 * TLS asked of a libmicrohttpd built without it. */
tw_http_server_t *tw_http_server_new(const tw_http_server_options_t *opts, tw_error_t *err);

/*
 * Registers handler for method ("GET", "POST", ...) on the exact path. A GET route answers HEAD
 * too. ctx is borrowed and must outlive the server. Routes are registered before start.
 */
int tw_http_server_route(tw_http_server_t *srv, const char *method, const char *path,
                         tw_http_handler_fn handler, void *ctx);

/* Binds and starts serving. Errors name the address (e.g. "listen 127.0.0.1:9475: Address
 * already in use"). */
int tw_http_server_start(tw_http_server_t *srv, tw_error_t *err);

/* Changes the request body limit for requests that start from now on. Thread-safe. */
void tw_http_server_set_max_body_bytes(tw_http_server_t *srv, size_t max_body_bytes);

/* The port actually bound (useful with port 0). 0 before start. */
int tw_http_server_port(const tw_http_server_t *srv);

/* Stops accepting, waits for running handlers, closes the socket. Idempotent. */
void tw_http_server_stop(tw_http_server_t *srv);

/* Stops if needed and frees. NULL is a no-op. */
void tw_http_server_free(tw_http_server_t *srv);

/*
 * Adds tidewatch_http_requests_total{handler,code} (counter) and
 * tidewatch_http_request_duration_seconds{handler} (histogram) to out. Thread-safe.
 */
void tw_http_server_collect(tw_http_server_t *srv, tw_mset_t *out);

/* Request accessors; all returned pointers stay valid for the handler call only. */
const char *tw_http_request_method(const tw_http_request_t *req);
const char *tw_http_request_path(const tw_http_request_t *req);
/* Header value (case-insensitive name) or NULL. */
const char *tw_http_request_header(const tw_http_request_t *req, const char *name);
/* Query-string (or, for form posts, body) argument, or NULL. */
const char *tw_http_request_arg(const tw_http_request_t *req, const char *name);
/*
 * Every value of a repeated argument (`match[]=a&match[]=b`), like Go's Request.Form[name]: the
 * form body's values first, then the query string's, in order. Fills out[0..max) and returns the
 * total count (which may exceed max). The strings stay valid for the handler call only.
 */
size_t tw_http_request_args(const tw_http_request_t *req, const char *name, const char **out,
                            size_t max);
/* Defined when tw_http_request_args() and prefix routes exist. */
#define TW_HTTP_SERVER_HAVE_ARGS 1

/* Request body (may be empty, never NULL) and its length. */
const char *tw_http_request_body(const tw_http_request_t *req, size_t *len);

/* Adds a response header; name and value are copied. At most 16. */
void tw_http_response_header(tw_http_response_t *resp, const char *name, const char *value);
/* Sets status and a one-line text/plain body (a newline is added). */
void tw_http_response_text(tw_http_response_t *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
