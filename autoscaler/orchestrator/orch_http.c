/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orch_http.c - the one libcurl call the HTTP drivers (kubernetes, nomad) make: a request with
 * optional body, extra headers, TLS settings (CA file or in-memory PEM, client certificate and
 * key, verification on unless `insecure`), a timeout, and a bounded answer with its status and
 * Retry-After header. The easy handle is kept between calls so connections are reused.
 *
 * Thread model: a handle is used by one thread at a time (its driver's).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/mem.h"

struct tw_orch_http {
    CURL *easy;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

tw_orch_http_t *tw_orch_http_new(void)
{
    pthread_once(&curl_once, curl_init_once);
    tw_orch_http_t *h = tw_xcalloc(1, sizeof(*h));
    h->easy = curl_easy_init();
    if (h->easy == NULL) {
        free(h);
        return NULL;
    }
    return h;
}

void tw_orch_http_free(tw_orch_http_t *h)
{
    if (h == NULL) {
        return;
    }
    curl_easy_cleanup(h->easy);
    free(h);
}

typedef struct sink {
    tw_orch_http_resp_t *resp;
    bool overflow;
} sink_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink_t *s = ud;
    size_t n = size * nmemb;
    if (tw_buf_append(&s->resp->body, ptr, n) != 0) {
        s->overflow = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink_t *s = ud;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) - 1 && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
        size_t vlen = n - (sizeof(name) - 1);
        const char *v = ptr + sizeof(name) - 1;
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ')) {
            vlen--;
        }
        if (vlen >= sizeof(s->resp->retry_after)) {
            vlen = sizeof(s->resp->retry_after) - 1;
        }
        memcpy(s->resp->retry_after, v, vlen);
        s->resp->retry_after[vlen] = '\0';
    } else if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue or a redirect): forget earlier headers. */
        s->resp->retry_after[0] = '\0';
    }
    return n;
}

static void set_blob(CURL *e, CURLoption opt, const char *data, size_t len)
{
    struct curl_blob blob = {.data = (void *)data, .len = len, .flags = CURL_BLOB_COPY};
    curl_easy_setopt(e, opt, &blob);
}

int tw_orch_http_do(tw_orch_http_t *h, const tw_orch_http_req_t *req, tw_orch_http_resp_t *resp,
                    tw_error_t *err)
{
    CURL *e = h->easy;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    sink_t s = {.resp = resp};
    int rc = 0;

    curl_easy_reset(e);
    tw_buf_reset(&resp->body);
    resp->status = 0;
    resp->retry_after[0] = '\0';

    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0 ? req->timeout_ms : 10000));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "tidewatch-autoscaler");
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    for (const char *const *p = req->headers; p != NULL && *p != NULL; p++) {
        hdrs = curl_slist_append(hdrs, *p);
    }
    /* libcurl would add "Expect: 100-continue" to larger bodies; API servers do not need it. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);

    if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body != NULL ? req->body_len : 0));
    }

    const tw_orch_http_tls_t *t = req->tls;
    if (t != NULL) {
        if (t->ca_data != NULL) {
            set_blob(e, CURLOPT_CAINFO_BLOB, t->ca_data, t->ca_data_len);
        } else if (t->ca_file != NULL) {
            curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
        }
        if (t->cert_data != NULL) {
            set_blob(e, CURLOPT_SSLCERT_BLOB, t->cert_data, t->cert_data_len);
            curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        } else if (t->cert_file != NULL) {
            curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert_file);
        }
        if (t->key_data != NULL) {
            set_blob(e, CURLOPT_SSLKEY_BLOB, t->key_data, t->key_data_len);
            curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
        } else if (t->key_file != NULL) {
            curl_easy_setopt(e, CURLOPT_SSLKEY, t->key_file);
        }
        if (t->insecure) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }

    CURLcode cc = curl_easy_perform(e);
    if (s.overflow) {
        rc = tw_error_set(err, TW_ELIMIT, "%s %s: answer larger than %zu bytes", req->method,
                          req->url, resp->body.max);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = tw_error_set(err, TW_ETRANSIENT, "%s %s: %s", req->method, req->url,
                          errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
out:
    /* The error buffer and the header list live on this stack frame only. */
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    return rc;
}
