/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_pods_fetcher.c - the pod-list fetcher: one thread that GETs the kubelet's /pods (or the
 * API server's pod list for this node) every interval with libcurl's easy interface, parses the
 * answer into a pod table and installs it in the collector. A failed fetch or parse keeps the
 * previous table; the collector never waits for the fetcher.
 *
 * The bearer token file is re-read before every request (projected service-account tokens
 * rotate), its content is never logged or exported. The body is capped at max_body_bytes. Stop
 * wakes the thread and aborts a transfer in flight through libcurl's progress callback, so it
 * returns within the transfer timeout.
 *
 * Thread model: start/stop from the owner thread; collect from any thread (counters under the
 * fetcher's mutex).
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cgroup_int.h"
#include "common/timeutil.h"
#include "common/buf.h"
#include "common/mem.h"

struct tw_cgroup_pods_fetcher {
    char *url;
    char *token_file;
    char *ca_file;
    int insecure;
    int64_t interval_ms;
    int64_t timeout_ms;
    size_t max_body;
    tw_cgroup_collector_t *collector;

    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stop;

    /* Counters, under mu. */
    double ok_total;
    double err_total;
    double last_success_s;
    double pods;
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? tw_xstrdup(s) : NULL;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    tw_buf_t *b = ud;
    size_t len = size * n;
    return tw_buf_append(b, p, len) == 0 ? len : 0; /* 0 aborts: body over the limit */
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    tw_cgroup_pods_fetcher_t *f = ud;
    return atomic_load(&f->stop) ? 1 : 0;
}

/* Builds "Authorization: Bearer <token>" from the token file; NULL when unreadable. */
static char *auth_header(const char *file)
{
    tw_buf_t tok;
    tw_buf_init(&tok, 64 * 1024);
    char *h = NULL;
    if (tw_buf_read_file(&tok, file, NULL) == 0) {
        size_t n = tok.len;
        while (n > 0 && (tok.data[n - 1] == '\n' || tok.data[n - 1] == '\r' ||
                         tok.data[n - 1] == ' ' || tok.data[n - 1] == '\t')) {
            n--;
        }
        tw_buf_t hdr;
        tw_buf_init(&hdr, 0);
        if (tw_buf_printf(&hdr, "Authorization: Bearer %.*s", (int)n, tok.data) == 0) {
            h = tw_buf_steal(&hdr, NULL);
        }
        tw_buf_fini(&hdr);
    }
    tw_buf_fini(&tok);
    return h;
}

/* One GET + parse + install. Returns true on success. */
static bool fetch_once(tw_cgroup_pods_fetcher_t *f)
{
    CURL *h = curl_easy_init();
    if (h == NULL) {
        return false;
    }
    tw_buf_t body;
    tw_buf_init(&body, f->max_body);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    char *auth = NULL;
    bool ok = false;
    if (f->token_file != NULL) {
        auth = auth_header(f->token_file);
        if (auth == NULL) {
            goto out; /* no token, no request: the answer would be 401 anyway */
        }
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, f->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,file");
#endif
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)f->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)f->timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, f);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    if (f->ca_file != NULL) {
        curl_easy_setopt(h, CURLOPT_CAINFO, f->ca_file);
    }
    if (f->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (curl_easy_perform(h) != CURLE_OK) {
        goto out;
    }
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 && !(code == 0 && strncmp(f->url, "file:", 5) == 0)) {
        goto out;
    }
    tw_cgroup_pods_t *pods =
        tw_cgroup_pods_parse(body.data != NULL ? body.data : "", body.len, NULL);
    if (pods == NULL) {
        goto out;
    }
    tw_cgroup_collector_set_pods(f->collector, pods);
    pthread_mutex_lock(&f->mu);
    f->pods = (double)tw_cgroup_pods_count(pods);
    pthread_mutex_unlock(&f->mu);
    tw_cgroup_pods_unref(pods);
    ok = true;
out:
    curl_slist_free_all(hdrs);
    if (auth != NULL) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    tw_buf_fini(&body);
    curl_easy_cleanup(h);
    return ok;
}

static void *run(void *arg)
{
    tw_cgroup_pods_fetcher_t *f = arg;
    while (!atomic_load(&f->stop)) {
        bool ok = fetch_once(f);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        pthread_mutex_lock(&f->mu);
        if (ok) {
            f->ok_total++;
            f->last_success_s = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
        } else {
            f->err_total++;
        }
        struct timespec until = tw_mono_timespec(tw_mono_ns() + (int64_t)f->interval_ms * 1000000);
        while (!atomic_load(&f->stop)) {
            if (pthread_cond_timedwait(&f->cv, &f->mu, &until) == ETIMEDOUT) {
                break;
            }
        }
        pthread_mutex_unlock(&f->mu);
    }
    return NULL;
}

static void fetcher_free(tw_cgroup_pods_fetcher_t *f)
{
    free(f->url);
    free(f->token_file);
    free(f->ca_file);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

tw_cgroup_pods_fetcher_t *tw_cgroup_pods_fetcher_start(const tw_cgroup_pods_fetcher_options_t *o,
                                                       tw_cgroup_collector_t *c, tw_error_t *err)
{
    if (o == NULL || o->url == NULL || c == NULL) {
        tw_error_set(err, TW_EINVAL, "pods fetcher: url and collector are required");
        return NULL;
    }
    if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0 &&
        strncmp(o->url, "file://", 7) != 0) {
        tw_error_set(err, TW_EINVAL, "pods fetcher: %s: expected an http, https or file URL",
                     o->url);
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tw_error_set(err, TW_EIO, "pods fetcher: libcurl initialization failed");
        return NULL;
    }
    tw_cgroup_pods_fetcher_t *f = tw_xcalloc(1, sizeof(*f));
    f->url = tw_xstrdup(o->url);
    f->token_file = dup_or_null(o->bearer_token_file);
    f->ca_file = dup_or_null(o->ca_file);
    f->insecure = o->insecure_skip_verify;
    f->interval_ms = o->interval_ms > 0 ? o->interval_ms : 30000;
    f->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    f->max_body = o->max_body_bytes > 0 ? o->max_body_bytes : 64u << 20;
    f->collector = c;
    atomic_init(&f->stop, false);
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&f->thread, NULL, run, f);
    if (rc != 0) {
        tw_error_set(err, -rc, "pods fetcher: cannot start thread");
        fetcher_free(f);
        curl_global_cleanup();
        return NULL;
    }
    f->started = true;
    return f;
}

void tw_cgroup_pods_fetcher_stop(tw_cgroup_pods_fetcher_t *f)
{
    if (f == NULL) {
        return;
    }
    pthread_mutex_lock(&f->mu);
    atomic_store(&f->stop, true);
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (f->started) {
        pthread_join(f->thread, NULL);
    }
    fetcher_free(f);
    curl_global_cleanup();
}

void tw_cgroup_pods_fetcher_collect(tw_cgroup_pods_fetcher_t *f, tw_mset_t *out)
{
    pthread_mutex_lock(&f->mu);
    double ok = f->ok_total, bad = f->err_total, last = f->last_success_s, pods = f->pods;
    pthread_mutex_unlock(&f->mu);
    tw_mfamily_t *total =
        tw_mset_family(out, "tidewatch_pods_fetch_total", TW_MTYPE_COUNTER,
                       "Pod list fetches from the kubelet or API server, by result.", NULL);
    static const tw_label_t l_ok[] = {{"result", "success"}};
    static const tw_label_t l_bad[] = {{"result", "error"}};
    tw_mset_add_borrowed(out, total, NULL, l_ok, 1, ok, TW_NO_TIMESTAMP);
    tw_mset_add_borrowed(out, total, NULL, l_bad, 1, bad, TW_NO_TIMESTAMP);
    tw_mfamily_t *ts = tw_mset_family(
        out, "tidewatch_pods_fetch_last_success_timestamp_seconds", TW_MTYPE_GAUGE,
        "Unix time of the last successful pod list fetch, 0 before the first.", "seconds");
    tw_mset_add_borrowed(out, ts, NULL, NULL, 0, last, TW_NO_TIMESTAMP);
    tw_mfamily_t *known = tw_mset_family(out, "tidewatch_pods_known", TW_MTYPE_GAUGE,
                                         "Pods in the last pod list installed.", NULL);
    tw_mset_add_borrowed(out, known, NULL, NULL, 0, pods, TW_NO_TIMESTAMP);
}
