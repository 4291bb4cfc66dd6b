/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube.c - the Kubernetes API client: one libcurl easy handle per client (connections are kept
 * alive between calls), requests with the QPS limit, token re-reads and retries, and the
 * list + watch loop.
 *
 * How a call goes: a token from the QPS bucket (client-go's defaults, 5 qps, burst 10), the
 * bearer token re-read from its file once a minute (projected service-account tokens rotate; also
 * at once after a 401), then the request. 429 and 5xx answers and transport failures are retried
 * max_retries times, waiting Retry-After when the server sends one (a longer wait than
 * max_retry_wait_ms gives up at once with TW_ETRANSIENT) and an exponential backoff otherwise.
 * Any other non-2xx answer maps to a TW_E* code with the Status message.
 *
 * How a watch goes (client-go's reflector, without its cache): LIST the collection (following
 * `continue` pages), hand the items over as the new state, then GET ?watch=1&resourceVersion=<the
 * list's>&allowWatchBookmarks=true&timeoutSeconds=N and decode the chunked body line by line as it
 * arrives. When the server ends the watch (timeout, restart) it is reopened from the last
 * resourceVersion seen; an ERROR event with code 410 (or an HTTP 410) means that version is gone
 * from the server's window: LIST again. Failures wait with backoff (250 ms doubling, capped).
 *
 * Thread model: a client is used by one thread at a time; tw_kube_watch_run() blocks its thread.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/curl_easy.h"
#include "common/kube.h"
#include "common/mem.h"
#include "common/timeutil.h"

#define TOKEN_REREAD_MS 60000 /* client-go's cached token file source re-reads every minute */
#define TOKEN_MAX_BYTES 65536
#define HEADERS_MAX_BYTES 65536
#define LIST_PAGE_LIMIT 500

struct tw_kube_client {
    tw_kube_config_t kc; /* own copy */
    CURL *easy;
    tw_kube_ratelimit_t rl;
    int64_t timeout_ms;
    int max_retries;
    int64_t max_retry_wait_ms;
    size_t max_body;
    bool insecure;
    char *user_agent;
    char *token;           /* the bearer token in use (from kc.token or the file) */
    int64_t token_read_ms; /* when the file was last read; 0: never */
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? tw_xstrdup(s) : NULL;
}

static char *dup_mem(const char *s, size_t n)
{
    if (s == NULL) {
        return NULL;
    }
    char *p = tw_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void sleep_ns(int64_t ns)
{
    if (ns <= 0) {
        return;
    }
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Re-reads the token file when it is older than a minute (or force). A failed read keeps the
 * last good token, as client-go does. */
static void refresh_token(tw_kube_client_t *c, bool force)
{
    if (c->kc.token_file == NULL) {
        return;
    }
    int64_t now = tw_now_ms();
    if (!force && c->token_read_ms != 0 && now - c->token_read_ms < TOKEN_REREAD_MS) {
        return;
    }
    tw_buf_t b;
    tw_buf_init(&b, TOKEN_MAX_BYTES);
    if (tw_buf_read_file(&b, c->kc.token_file, NULL) == 0) {
        size_t n = b.len;
        while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' || b.data[n - 1] == ' ')) {
            n--;
        }
        if (n > 0) {
            free(c->token);
            c->token = tw_xstrndup(b.data, n);
            c->token_read_ms = now;
        }
    }
    tw_buf_fini(&b);
}

int tw_kube_client_new(const tw_kube_config_t *kc, const tw_kube_client_options_t *o,
                       tw_kube_client_t **out, tw_error_t *err)
{
    static const tw_kube_client_options_t defaults = {0};
    if (o == NULL) {
        o = &defaults;
    }
    *out = NULL;
    if (kc->server == NULL ||
        (strncmp(kc->server, "https://", 8) != 0 && strncmp(kc->server, "http://", 7) != 0)) {
        return tw_error_set(err, TW_EINVAL, "kubernetes: server %s is not an http(s) URL",
                            kc->server != NULL ? kc->server : "(none)");
    }
    tw_curl_global_init();
    tw_kube_client_t *c = tw_xcalloc(1, sizeof(*c));
    c->kc.server = tw_xstrdup(kc->server);
    size_t sl = strlen(c->kc.server);
    while (sl > 0 && c->kc.server[sl - 1] == '/') {
        c->kc.server[--sl] = '\0';
    }
    c->kc.namespace = dup_or_null(kc->namespace);
    c->kc.ca_file = dup_or_null(kc->ca_file);
    c->kc.ca_data = dup_mem(kc->ca_data, kc->ca_data_len);
    c->kc.ca_data_len = kc->ca_data_len;
    c->kc.cert_file = dup_or_null(kc->cert_file);
    c->kc.cert_data = dup_mem(kc->cert_data, kc->cert_data_len);
    c->kc.cert_data_len = kc->cert_data_len;
    c->kc.key_file = dup_or_null(kc->key_file);
    c->kc.key_data = dup_mem(kc->key_data, kc->key_data_len);
    c->kc.key_data_len = kc->key_data_len;
    c->kc.token = dup_or_null(kc->token);
    c->kc.token_file = dup_or_null(kc->token_file);
    c->kc.tls_server_name = dup_or_null(kc->tls_server_name);
    c->kc.insecure = kc->insecure;
    /* Verification stays on unless the config or the options turn it off explicitly. */
    c->insecure = kc->insecure || o->insecure_skip_tls_verify;
    tw_kube_ratelimit_init(&c->rl,
                           o->qps > 0   ? o->qps
                           : o->qps < 0 ? 0
                                        : 5.0,
                           o->burst > 0 ? o->burst : 10);
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    c->max_retries = o->max_retries == 0 ? 3 : o->max_retries < 0 ? 0 : o->max_retries;
    c->max_retry_wait_ms = o->max_retry_wait_ms > 0 ? o->max_retry_wait_ms : 30000;
    c->max_body = o->max_body_bytes > 0 ? o->max_body_bytes : (64u << 20);
    c->user_agent = tw_xstrdup(o->user_agent != NULL ? o->user_agent : "tidewatch");
    if (c->kc.token != NULL) {
        c->token = tw_xstrdup(c->kc.token);
    }
    refresh_token(c, true);
    c->easy = curl_easy_init();
    if (c->easy == NULL) {
        tw_kube_client_free(c);
        return tw_error_set(err, TW_EIO, "kubernetes: cannot create a libcurl handle");
    }
    *out = c;
    return 0;
}

void tw_kube_client_free(tw_kube_client_t *c)
{
    if (c == NULL) {
        return;
    }
    if (c->easy != NULL) {
        curl_easy_cleanup(c->easy);
    }
    tw_kube_config_fini(&c->kc);
    free(c->user_agent);
    free(c->token);
    free(c);
}

const tw_kube_config_t *tw_kube_client_config(const tw_kube_client_t *c)
{
    return &c->kc;
}

void tw_kube_resp_init(tw_kube_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    tw_buf_init(&r->body, 0);
    tw_buf_init(&r->headers, HEADERS_MAX_BYTES);
}

void tw_kube_resp_fini(tw_kube_resp_t *r)
{
    if (r == NULL) {
        return;
    }
    tw_buf_fini(&r->body);
    tw_buf_fini(&r->headers);
}

/* ---- one transfer ------------------------------------------------------------------------ */

/* Where a transfer's bytes go: a bounded body, or (watch) the decoder. */
typedef struct sink {
    tw_kube_resp_t *resp;
    bool overflow;
    /* streaming */
    tw_kube_watch_decoder_t *dec;
    int (*on_event)(void *ctx, tw_kube_event_t *ev);
    void *ctx;
    int stream_rc;
    tw_error_t *stream_err;
    const atomic_bool *stop;
} sink_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink_t *s = ud;
    size_t n = size * nmemb;
    if (s->dec != NULL && s->resp->status >= 200 && s->resp->status < 300) {
        int rc = tw_kube_watch_decoder_feed(s->dec, ptr, n, s->on_event, s->ctx, s->stream_err);
        if (rc != 0) {
            s->stream_rc = rc;
            return 0;
        }
        return n;
    }
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
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue or a redirect): forget earlier headers. */
        s->resp->retry_after[0] = '\0';
        tw_buf_reset(&s->resp->headers);
        long st = 0;
        const char *sp = memchr(ptr, ' ', n);
        if (sp != NULL) {
            st = strtol(sp + 1, NULL, 10);
        }
        s->resp->status = st;
        return n;
    }
    (void)tw_buf_append(&s->resp->headers, ptr, n); /* a header block over 64 KiB is cut */
    (void)tw_curl_header_value(ptr, n, "retry-after:", s->resp->retry_after,
                               sizeof(s->resp->retry_after));
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    sink_t *s = ud;
    return s->stop != NULL && atomic_load(s->stop) ? 1 : 0;
}

/*
 * Performs one request on the client's handle. Returns 0 when an HTTP answer came (any status),
 * TW_ETRANSIENT for transport failures, TW_ELIMIT for an oversized body, TW_ECANCELED when *stop
 * was set, or the decoder's error while streaming.
 */
static int transfer(tw_kube_client_t *c, const char *method, const char *url,
                    const char *const *headers, const char *body, int64_t timeout_ms, sink_t *s,
                    tw_error_t *err)
{
    CURL *e = c->easy;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    tw_kube_resp_t *resp = s->resp;
    int rc = 0;

    tw_buf_reset(&resp->body);
    tw_buf_reset(&resp->headers);
    resp->status = 0;
    resp->retry_after[0] = '\0';

    const tw_curl_tls_t tls = {
        .ca_file = c->kc.ca_file,
        .ca_data = c->kc.ca_data,
        .ca_data_len = c->kc.ca_data_len,
        .cert_file = c->kc.cert_file,
        .cert_data = c->kc.cert_data,
        .cert_data_len = c->kc.cert_data_len,
        .key_file = c->kc.key_file,
        .key_data = c->kc.key_data,
        .key_data_len = c->kc.key_data_len,
        .insecure = c->insecure,
    };
    const tw_curl_req_t req = {
        .method = method,
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = body != NULL ? strlen(body) : 0,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = 10000,
        .user_agent = c->user_agent,
        .tls = &tls,
    };
    hdrs = tw_curl_easy_setup(e, &req, errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    if (s->stop != NULL) {
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, s);
    }

    CURLcode cc = curl_easy_perform(e);
    if (s->stream_rc != 0) {
        rc = s->stream_rc;
        goto out;
    }
    if (s->overflow) {
        rc = tw_error_set(err, TW_ELIMIT, "%s %s: answer larger than %zu bytes", method, url,
                          resp->body.max);
        goto out;
    }
    if (cc == CURLE_ABORTED_BY_CALLBACK && s->stop != NULL && atomic_load(s->stop)) {
        rc = tw_error_set(err, TW_ECANCELED, "%s %s: stopped", method, url);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = tw_error_set(err, TW_ETRANSIENT, "%s %s: %s", method, url,
                          errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
out:
    /* The error buffer and the header list live on this stack frame only. */
    tw_curl_easy_finish(e, hdrs);
    return rc;
}

/* The fixed headers of a call: Accept, Content-Type, Authorization. */
typedef struct hdrset {
    tw_buf_t auth, ctype;
    const char *v[4];
} hdrset_t;

static void hdrs_build(tw_kube_client_t *c, hdrset_t *h, const char *content_type)
{
    size_t nh = 0;
    h->v[nh++] = "Accept: application/json";
    if (content_type != NULL) {
        tw_buf_reset(&h->ctype);
        tw_buf_printf(&h->ctype, "Content-Type: %s", content_type);
        h->v[nh++] = h->ctype.data;
    }
    if (c->token != NULL) {
        tw_buf_reset(&h->auth);
        tw_buf_printf(&h->auth, "Authorization: Bearer %s", c->token);
        h->v[nh++] = h->auth.data;
    }
    h->v[nh] = NULL;
}

int tw_kube_request(tw_kube_client_t *c, const char *method, const char *path_query,
                    const char *body, const char *content_type, const char *what,
                    tw_kube_resp_t *resp, tw_error_t *err)
{
    tw_buf_t url;
    hdrset_t h;
    tw_buf_init(&url, 0);
    tw_buf_init(&h.auth, 0);
    tw_buf_init(&h.ctype, 0);
    tw_buf_printf(&url, "%s%s", c->kc.server, path_query);
    resp->body.max = c->max_body;
    bool reauthed = false;
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        sleep_ns(tw_kube_ratelimit_reserve(&c->rl, tw_mono_ns()));
        refresh_token(c, false);
        hdrs_build(c, &h, content_type);
        sink_t s = {.resp = resp};
        rc = transfer(c, method, url.data, h.v, body, c->timeout_ms, &s, err);
        if (rc == TW_ETRANSIENT) {
            if (attempt < c->max_retries) {
                sleep_ns(tw_kube_backoff_ms(attempt, c->max_retry_wait_ms) * 1000000);
                continue;
            }
            goto out;
        }
        if (rc != 0) {
            goto out;
        }
        long st = resp->status;
        if (st >= 200 && st < 300) {
            goto out;
        }
        if (st == 401 && !reauthed && c->kc.token_file != NULL) {
            /* The token may have rotated under us: read it again and retry once. */
            reauthed = true;
            refresh_token(c, true);
            attempt--;
            continue;
        }
        if ((st == 429 || st >= 500) && attempt < c->max_retries) {
            int64_t delay_ms;
            if (resp->retry_after[0] != '\0' &&
                tw_kube_retry_after_parse(resp->retry_after, tw_now_ms(), &delay_ms) == 0) {
                if (delay_ms > c->max_retry_wait_ms) {
                    rc = tw_error_set(err, TW_ETRANSIENT,
                                      "%s %s: HTTP %ld with Retry-After %s, longer than the "
                                      "%lld ms this call may wait",
                                      method, url.data, st, resp->retry_after,
                                      (long long)c->max_retry_wait_ms);
                    goto out;
                }
            } else {
                delay_ms = tw_kube_backoff_ms(attempt, c->max_retry_wait_ms);
            }
            sleep_ns(delay_ms * 1000000);
            continue;
        }
        char what2[512];
        snprintf(what2, sizeof(what2), "%s %s (%s)", method, url.data, what);
        rc = tw_kube_status_error(st, resp->body.data != NULL ? resp->body.data : "",
                                  resp->body.len, what2, err);
        goto out;
    }
out:
    tw_buf_fini(&url);
    tw_buf_fini(&h.auth);
    tw_buf_fini(&h.ctype);
    return rc;
}

/* ---- list + watch ------------------------------------------------------------------------ */

typedef struct watch_state {
    const tw_kube_watch_ops_t *ops;
    void *ctx;
    char rv[128];  /* the last resourceVersion seen */
    bool gone;     /* a 410 ERROR event: re-list */
    long err_code; /* another ERROR event's code */
    char err_msg[256];
} watch_state_t;

static int on_watch_event(void *ud, tw_kube_event_t *ev)
{
    watch_state_t *w = ud;
    if (ev->type == TW_KUBE_EVENT_ERROR) {
        const char *msg = json_string_value(json_object_get(ev->object, "message"));
        if (ev->code == 410) {
            w->gone = true;
        } else {
            w->err_code = ev->code != 0 ? ev->code : 500;
        }
        snprintf(w->err_msg, sizeof(w->err_msg), "%s", msg != NULL ? msg : "watch ERROR event");
        tw_kube_event_fini(ev);
        return TW_ETRANSIENT; /* ends this connection */
    }
    if (ev->resource_version != NULL) {
        tw_strlcpy(w->rv, ev->resource_version, sizeof(w->rv));
    }
    if (ev->type != TW_KUBE_EVENT_BOOKMARK && w->ops->event != NULL) {
        w->ops->event(w->ctx, ev->type, ev->object);
    }
    tw_kube_event_fini(ev);
    return 0;
}

static void add_selectors(tw_buf_t *q, const tw_kube_watch_options_t *o)
{
    if (o->label_selector != NULL && o->label_selector[0] != '\0') {
        tw_buf_puts(q, "&labelSelector=");
        tw_kube_query_escape(q, o->label_selector);
    }
    if (o->field_selector != NULL && o->field_selector[0] != '\0') {
        tw_buf_puts(q, "&fieldSelector=");
        tw_kube_query_escape(q, o->field_selector);
    }
}

/* Lists every page; replaces the caller's state; sets w->rv. */
static int do_list(tw_kube_client_t *c, const tw_kube_watch_options_t *o, watch_state_t *w,
                   tw_error_t *err)
{
    tw_buf_t q;
    tw_kube_resp_t resp;
    char cont[4096] = "";
    json_t *all = json_array();
    int rc = 0;
    tw_buf_init(&q, 0);
    tw_kube_resp_init(&resp);
    do {
        tw_buf_reset(&q);
        tw_buf_printf(&q, "%s?limit=%d", o->path, LIST_PAGE_LIMIT);
        add_selectors(&q, o);
        if (cont[0] != '\0') {
            tw_buf_puts(&q, "&continue=");
            tw_kube_query_escape(&q, cont);
        }
        rc = tw_kube_request(c, "GET", q.data, NULL, NULL, o->path, &resp, err);
        if (rc != 0) {
            goto out;
        }
        json_error_t je;
        json_t *root =
            json_loadb(resp.body.data != NULL ? resp.body.data : "", resp.body.len, 0, &je);
        if (!json_is_object(root)) {
            json_decref(root);
            rc = tw_error_set(err, TW_EPARSE, "list %s: the answer is not a JSON object", o->path);
            goto out;
        }
        json_t *items = json_object_get(root, "items");
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            if (json_is_object(it)) {
                json_array_append(all, it);
            }
        }
        const json_t *meta = json_object_get(root, "metadata");
        const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
        const char *cn = json_string_value(json_object_get(meta, "continue"));
        tw_strlcpy(w->rv, rv != NULL ? rv : "", sizeof(w->rv));
        if (cn == NULL || tw_strlcpy(cont, cn, sizeof(cont)) >= sizeof(cont)) {
            cont[0] = '\0';
        }
        json_decref(root);
    } while (cont[0] != '\0');
    if (w->ops->replace != NULL) {
        w->ops->replace(w->ctx, all);
    }
out:
    json_decref(all);
    tw_buf_fini(&q);
    tw_kube_resp_fini(&resp);
    return rc;
}

/* One watch connection from w->rv. Returns 0 when the server ended it normally. */
static int do_watch(tw_kube_client_t *c, const tw_kube_watch_options_t *o, watch_state_t *w,
                    const atomic_bool *stop, tw_error_t *err)
{
    tw_buf_t url;
    hdrset_t h;
    tw_kube_resp_t resp;
    tw_kube_watch_decoder_t dec;
    int timeout_s = o->timeout_s > 0 ? o->timeout_s : 300;
    tw_buf_init(&url, 0);
    tw_buf_init(&h.auth, 0);
    tw_buf_init(&h.ctype, 0);
    tw_kube_resp_init(&resp);
    resp.body.max = 1u << 20; /* an error answer */
    tw_kube_watch_decoder_init(&dec, c->max_body);
    tw_buf_printf(&url, "%s%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d", c->kc.server,
                  o->path, timeout_s);
    if (w->rv[0] != '\0') {
        tw_buf_puts(&url, "&resourceVersion=");
        tw_kube_query_escape(&url, w->rv);
    }
    add_selectors(&url, o);
    sleep_ns(tw_kube_ratelimit_reserve(&c->rl, tw_mono_ns()));
    refresh_token(c, false);
    hdrs_build(c, &h, NULL);
    sink_t s = {.resp = &resp,
                .dec = &dec,
                .on_event = on_watch_event,
                .ctx = w,
                .stream_err = err,
                .stop = stop};
    int rc = transfer(c, "GET", url.data, h.v, NULL, ((int64_t)timeout_s + 30) * 1000, &s, err);
    if (rc == TW_ETRANSIENT && (w->gone || w->err_code != 0)) {
        rc = tw_error_set(err, w->gone ? TW_ETRANSIENT : TW_EIO, "watch %s: %s", o->path,
                          w->err_msg);
    } else if (rc == 0 && (resp.status < 200 || resp.status >= 300)) {
        if (resp.status == 410) {
            w->gone = true;
        }
        if (resp.status == 401 && c->kc.token_file != NULL) {
            refresh_token(c, true);
        }
        char what[300];
        snprintf(what, sizeof(what), "watch %s", o->path);
        rc = tw_kube_status_error(resp.status, resp.body.data != NULL ? resp.body.data : "",
                                  resp.body.len, what, err);
    }
    tw_kube_watch_decoder_fini(&dec);
    tw_kube_resp_fini(&resp);
    tw_buf_fini(&url);
    tw_buf_fini(&h.auth);
    tw_buf_fini(&h.ctype);
    return rc;
}

/* Sleeps ms in slices, returning early when *stop is set. */
static void wait_or_stop(int64_t ms, const atomic_bool *stop)
{
    int64_t end = tw_mono_ns() + ms * 1000000;
    while (!atomic_load(stop)) {
        int64_t left = end - tw_mono_ns();
        if (left <= 0) {
            return;
        }
        sleep_ns(left < 200000000 ? left : 200000000);
    }
}

int tw_kube_watch_run(tw_kube_client_t *c, const tw_kube_watch_options_t *o,
                      const tw_kube_watch_ops_t *ops, void *ctx, const atomic_bool *stop)
{
    watch_state_t w = {.ops = ops, .ctx = ctx};
    int64_t cap = o->max_backoff_ms > 0 ? o->max_backoff_ms : 30000;
    int failures = 0;
    bool need_list = true;
    while (!atomic_load(stop)) {
        tw_error_t err;
        tw_error_clear(&err);
        int rc;
        if (need_list) {
            rc = do_list(c, o, &w, &err);
            if (rc == 0) {
                need_list = false;
            }
        } else {
            w.gone = false;
            w.err_code = 0;
            int64_t t0 = tw_mono_ns();
            rc = do_watch(c, o, &w, stop, &err);
            if (w.gone) {
                need_list = true;
            }
            if (rc == 0 ||
                (rc == TW_ETRANSIENT && tw_mono_ns() - t0 > 10 * 1000000000LL && !w.gone)) {
                /* The server closed a watch that ran a while: reopen it at once. */
                failures = 0;
                if (rc == 0) {
                    continue;
                }
            }
            if (w.gone && rc != TW_ECANCELED) {
                /* Expired: list again now, as the reflector does. */
                if (ops->error != NULL) {
                    ops->error(ctx, rc, err.msg);
                }
                continue;
            }
        }
        if (rc == 0) {
            failures = 0;
            continue;
        }
        if (rc == TW_ECANCELED || atomic_load(stop)) {
            break;
        }
        if (ops->error != NULL) {
            ops->error(ctx, rc, err.msg);
        }
        if (rc == TW_EPARSE || rc == TW_ELIMIT) {
            need_list = true; /* our state may have missed events: start over */
        }
        wait_or_stop(tw_kube_backoff_ms(failures, cap), stop);
        if (failures < 30) {
            failures++;
        }
    }
    return 0;
}
