/* SPDX-License-Identifier: Apache-2.0 */
/*
 * orch_http.c - the one libcurl call the HTTP drivers (kubernetes, nomad) make: a request with
 * optional body, extra headers, TLS settings (CA file or in-memory PEM, client certificate and
 * key, verification on unless `insecure`), a timeout, and a bounded answer with its status and
 * Retry-After header. The easy handle is kept between calls so connections are reused; its
 * options are set by common/curl_easy.h, shared with the Kubernetes client.
 *
 * Thread model: a handle is used by one thread at a time (its driver's).
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/orchestrator/orchestrator_int.h"
#include "common/curl_easy.h"
#include "common/mem.h"

struct tw_orch_http {
    CURL *easy;
};

tw_orch_http_t *tw_orch_http_new(void)
{
    tw_curl_global_init();
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
    if (tw_curl_header_value(ptr, n, "retry-after:", s->resp->retry_after,
                             sizeof(s->resp->retry_after))) {
        return n;
    }
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue or a redirect): forget earlier headers. */
        s->resp->retry_after[0] = '\0';
    }
    return n;
}

int tw_orch_http_do(tw_orch_http_t *h, const tw_orch_http_req_t *req, tw_orch_http_resp_t *resp,
                    tw_error_t *err)
{
    CURL *e = h->easy;
    char errbuf[CURL_ERROR_SIZE] = "";
    sink_t s = {.resp = resp};
    int rc = 0;

    tw_buf_reset(&resp->body);
    resp->status = 0;
    resp->retry_after[0] = '\0';
    const tw_curl_req_t creq = {
        .method = req->method,
        .url = req->url,
        .headers = req->headers,
        .body = req->body,
        .body_len = req->body_len,
        .timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 10000,
        .user_agent = "tidewatch-autoscaler",
        .tls = req->tls,
    };
    struct curl_slist *hdrs = tw_curl_easy_setup(e, &creq, errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &s);

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
    tw_curl_easy_finish(e, hdrs);
    return rc;
}
