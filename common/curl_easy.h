/* SPDX-License-Identifier: Apache-2.0 */
/*
 * curl_easy.h - the libcurl easy-handle setup every request/answer client in tidewatch shares
 * (the Kubernetes client in kube.c, the orchestrator's Nomad driver): one place that sets the
 * URL and protocols, timeouts, user agent, no proxy and no redirects, the header list, method
 * and body, and the TLS files or in-memory PEM; and the parsing of one answer header line. The
 * body and header callbacks stay with the caller, which knows where the bytes go.
 *
 * Thread model: a handle is used by one thread at a time; the functions keep no state
 * (tw_curl_global_init() runs curl_global_init once per process).
 */
#ifndef TW_COMMON_CURL_EASY_H
#define TW_COMMON_CURL_EASY_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TLS settings of one peer. Strings borrowed; PEM in memory (*_data) wins over a file. */
typedef struct tw_curl_tls {
    const char *ca_file;
    const char *ca_data; /* PEM in memory */
    size_t ca_data_len;
    const char *cert_file;
    const char *cert_data;
    size_t cert_data_len;
    const char *key_file;
    const char *key_data;
    size_t key_data_len;
    bool insecure; /* skip peer and host name verification */
} tw_curl_tls_t;

/* One request. Everything borrowed for the duration of the transfer. */
typedef struct tw_curl_req {
    const char *method;         /* "GET", "PUT", "POST", "PATCH", "DELETE" */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
    const char *body;           /* may be NULL: no body ("" for methods other than DELETE) */
    size_t body_len;
    int64_t timeout_ms;         /* whole transfer; > 0 */
    int64_t connect_timeout_ms; /* 0: libcurl's default */
    const char *user_agent;
    const tw_curl_tls_t *tls; /* may be NULL: libcurl's defaults, verification on */
} tw_curl_req_t;

/* curl_global_init(CURL_GLOBAL_DEFAULT), once per process. Thread-safe. */
void tw_curl_global_init(void);

/*
 * Resets e and sets req on it: URL, protocols http and https only, CURLOPT_NOSIGNAL, errbuf
 * (CURL_ERROR_SIZE bytes, the caller's) as the error buffer, the timeouts, any Accept-Encoding,
 * the user agent, no proxy, no redirects, req->headers plus "Expect:" (API servers do not need
 * 100-continue), the method and body (a body for every method but GET, and for DELETE only when
 * req->body is set), and req->tls. The caller then sets its write and header callbacks and
 * performs. Returns the header list, which tw_curl_easy_finish() frees.
 */
struct curl_slist *tw_curl_easy_setup(CURL *e, const tw_curl_req_t *req, char *errbuf);

/* Detaches the per-call error buffer and header list from e (they live on the caller's
 * stack) and frees hdrs. Call after every tw_curl_easy_setup(), whatever the outcome. */
void tw_curl_easy_finish(CURL *e, struct curl_slist *hdrs);

/*
 * If the header line line[0..n) (as libcurl hands it over, CRLF included) is the header name
 * (given lower-case with its colon, e.g. "retry-after:"; matched without regard to case),
 * copies its value without surrounding blanks and line end into dst (NUL-terminated, cut to
 * dstsz - 1 bytes) and returns true; otherwise leaves dst alone and returns false.
 */
bool tw_curl_header_value(const char *line, size_t n, const char *name, char *dst, size_t dstsz);

#endif
