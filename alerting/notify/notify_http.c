/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify_http.c - the libcurl transport of the notifier: one POST with the notifier's headers
 * (content type, user agent, authorization, signature), TLS settings from http_config, a
 * timeout, the answer body discarded (up to a bound). A fresh easy handle per request: the
 * notifier sends a few requests a minute, and a fresh handle never carries a half-broken
 * connection to a receiver that just came back.
 *
 * Thread model: any thread; no shared state but libcurl's global init (once).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

#include "alerting/notify/notify_int.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    size_t *seen = ud;
    (void)ptr;
    *seen += size * nmemb;
    return *seen > (1u << 20) ? 0 : size * nmemb; /* answers are tiny; refuse floods */
}

static int curl_post(void *ctx, const tw_notify_request_t *req, int *status, tw_error_t *err)
{
    (void)ctx;
    pthread_once(&curl_once, curl_init_once);
    CURL *e = curl_easy_init();
    if (e == NULL) {
        return tw_error_set(err, TW_EIO, "POST %s: cannot create a libcurl handle", req->url);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    size_t seen = 0;
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        hdrs = curl_slist_append(hdrs, req->headers[i]);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0 ? req->timeout_ms : 10000));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &seen);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    const tw_notify_http_config_t *h = req->http;
    if (h != NULL) {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, h->follow_redirects ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
        if (h->ca_file != NULL && h->ca_file[0] != '\0') {
            curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
        }
        if (h->cert_file != NULL && h->cert_file[0] != '\0') {
            curl_easy_setopt(e, CURLOPT_SSLCERT, h->cert_file);
        }
        if (h->key_file != NULL && h->key_file[0] != '\0') {
            curl_easy_setopt(e, CURLOPT_SSLKEY, h->key_file);
        }
        if (h->insecure_skip_verify) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    int rc = 0;
    CURLcode cc = curl_easy_perform(e);
    if (cc != CURLE_OK) {
        rc = tw_error_set(err, cc == CURLE_OPERATION_TIMEDOUT ? TW_ETIMEOUT : TW_ETRANSIENT,
                          "POST %s: %s", req->url,
                          errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
    } else {
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        *status = (int)code;
    }
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
    return rc;
}

static const tw_notify_transport_t curl_transport = {NULL, curl_post};

const tw_notify_transport_t *notify_curl_transport(void)
{
    return &curl_transport;
}
