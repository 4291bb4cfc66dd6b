/* SPDX-License-Identifier: Apache-2.0 */
/*
 * curl_easy.c - the shared libcurl easy-handle setup and header-line parsing (see
 * curl_easy.h). No state beyond curl_global_init's once flag. Thread-safe.
 */
#include "common/curl_easy.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void tw_curl_global_init(void)
{
    pthread_once(&curl_once, curl_init_once);
}

static void set_blob(CURL *e, CURLoption opt, const char *data, size_t len)
{
    struct curl_blob blob = {.data = (void *)data, .len = len, .flags = CURL_BLOB_COPY};
    curl_easy_setopt(e, opt, &blob);
}

static void set_tls(CURL *e, const tw_curl_tls_t *t)
{
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

struct curl_slist *tw_curl_easy_setup(CURL *e, const tw_curl_req_t *req, char *errbuf)
{
    struct curl_slist *hdrs = NULL;

    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    if (req->connect_timeout_ms > 0) {
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    }
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, req->user_agent);
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
        if (strcmp(req->method, "DELETE") != 0 || req->body != NULL) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(req->body != NULL ? req->body_len : 0));
        }
    }
    if (req->tls != NULL) {
        set_tls(e, req->tls);
    }
    return hdrs;
}

void tw_curl_easy_finish(CURL *e, struct curl_slist *hdrs)
{
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
}

bool tw_curl_header_value(const char *line, size_t n, const char *name, char *dst, size_t dstsz)
{
    size_t nl = strlen(name);
    if (dstsz == 0 || n <= nl || strncasecmp(line, name, nl) != 0) {
        return false;
    }
    size_t vlen = n - nl;
    const char *v = line + nl;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ')) {
        vlen--;
    }
    if (vlen >= dstsz) {
        vlen = dstsz - 1;
    }
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
    return true;
}
