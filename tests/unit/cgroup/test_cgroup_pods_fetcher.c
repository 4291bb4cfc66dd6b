/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cgroup_pods_fetcher.c - the pod-list fetcher thread: a file:// URL installs the table in
 * the collector, failures count and keep the old table, a loopback HTTP server sees the bearer
 * token re-read from its file, and stop returns promptly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cg_test_util.h"
#include "collector/cgroup/cgroup.h"
#include "common/buf.h"

#define FIX TW_FIXTURES "/cgroup"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double fetch_count(tw_cgroup_pods_fetcher_t *f, const char *result)
{
    tw_mset_t *s = tw_mset_new();
    tw_cgroup_pods_fetcher_collect(f, s);
    const tw_msample_t *m =
        cg_find(s, "tidewatch_pods_fetch_total", "result", result, (char *)NULL);
    double v = m != NULL ? m->value : -1;
    tw_mset_free(s);
    return v;
}

static double known(tw_cgroup_pods_fetcher_t *f)
{
    tw_mset_t *s = tw_mset_new();
    tw_cgroup_pods_fetcher_collect(f, s);
    const tw_mfamily_t *fam = tw_mset_find(s, "tidewatch_pods_known");
    double v = fam->samples[0].value;
    tw_mset_free(s);
    return v;
}

/* Waits up to 10 s for cond(f) to hold. */
static bool wait_for(tw_cgroup_pods_fetcher_t *f, const char *result, double at_least)
{
    double until = now_s() + 10;
    while (now_s() < until) {
        if (fetch_count(f, result) >= at_least) {
            return true;
        }
        usleep(10000);
    }
    return false;
}

static size_t phase_series(tw_cgroup_collector_t *c)
{
    tw_mset_t *s = tw_mset_new();
    assert_int_equal(tw_cgroup_collector_collect(c, s, 0, NULL), 0);
    const tw_mfamily_t *f = tw_mset_find(s, "kube_pod_status_phase");
    size_t n = f != NULL ? f->nsamples : 0;
    tw_mset_free(s);
    return n;
}

static void test_file_url(void **state)
{
    (void)state;
    tw_cgroup_options_t o = {.root = FIX "/v2"};
    tw_cgroup_collector_t *c = tw_cgroup_collector_new(&o, NULL);
    assert_non_null(c);
    assert_int_equal(phase_series(c), 0);
    tw_cgroup_pods_fetcher_options_t fo = {.url = "file://" FIX "/podlist.json", .interval_ms = 50};
    tw_error_t err;
    tw_cgroup_pods_fetcher_t *f = tw_cgroup_pods_fetcher_start(&fo, c, &err);
    assert_non_null(f);
    assert_true(wait_for(f, "success", 2));
    assert_true(fetch_count(f, "error") == 0);
    assert_true(known(f) == 3);
    assert_int_equal(phase_series(c), 15); /* no node filter: all three pods */
    double t0 = now_s();
    tw_cgroup_pods_fetcher_stop(f);
    assert_true(now_s() - t0 < 2.0);
    tw_cgroup_collector_free(c);
}

static void test_failures_keep_table(void **state)
{
    (void)state;
    tw_cgroup_options_t o = {.root = FIX "/v2", .node_name = "node-a"};
    tw_cgroup_collector_t *c = tw_cgroup_collector_new(&o, NULL);
    tw_buf_t b;
    tw_buf_init(&b, 1 << 20);
    assert_int_equal(tw_buf_read_file(&b, FIX "/podlist.json", NULL), 0);
    tw_cgroup_pods_t *p = tw_cgroup_pods_parse(b.data, b.len, NULL);
    tw_buf_fini(&b);
    tw_cgroup_collector_set_pods(c, p);
    tw_cgroup_pods_unref(p);
    assert_int_equal(phase_series(c), 10);

    /* A missing file, then a file that is not a pod list: errors, the old table stays. */
    tw_cgroup_pods_fetcher_options_t fo = {.url = "file:///nonexistent/pods.json",
                                           .interval_ms = 20};
    tw_cgroup_pods_fetcher_t *f = tw_cgroup_pods_fetcher_start(&fo, c, NULL);
    assert_true(wait_for(f, "error", 2));
    tw_cgroup_pods_fetcher_stop(f);
    fo.url = "file://" FIX "/v2/cpu.stat";
    f = tw_cgroup_pods_fetcher_start(&fo, c, NULL);
    assert_true(wait_for(f, "error", 1));
    assert_true(fetch_count(f, "success") == 0);
    tw_cgroup_pods_fetcher_stop(f);
    /* Over the body limit. */
    fo.url = "file://" FIX "/podlist.json";
    fo.max_body_bytes = 100;
    f = tw_cgroup_pods_fetcher_start(&fo, c, NULL);
    assert_true(wait_for(f, "error", 1));
    assert_true(fetch_count(f, "success") == 0);
    tw_cgroup_pods_fetcher_stop(f);
    assert_int_equal(phase_series(c), 10);

    /* Bad options. */
    tw_error_t err;
    fo.url = "ftp://example.invalid/pods";
    assert_null(tw_cgroup_pods_fetcher_start(&fo, c, &err));
    assert_int_equal(err.code, TW_EINVAL);
    assert_null(tw_cgroup_pods_fetcher_start(NULL, c, &err));
    tw_cgroup_pods_fetcher_stop(NULL);

    /* Clearing the table. */
    tw_cgroup_collector_set_pods(c, NULL);
    assert_int_equal(phase_series(c), 0);
    tw_cgroup_collector_free(c);
}

/* ---- a one-shot loopback HTTP server ---- */

typedef struct server {
    int lfd;
    int port;
    char request[8192];
    int status;
} server_t;

static void *serve(void *arg)
{
    server_t *sv = arg;
    int fd = accept(sv->lfd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    size_t n = 0;
    while (n < sizeof(sv->request) - 1) {
        ssize_t r = read(fd, sv->request + n, sizeof(sv->request) - 1 - n);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
        sv->request[n] = '\0';
        if (strstr(sv->request, "\r\n\r\n") != NULL) {
            break;
        }
    }
    tw_buf_t body;
    tw_buf_init(&body, 1 << 20);
    tw_buf_read_file(&body, FIX "/podlist.json", NULL);
    char head[256];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      sv->status, body.len);
    ssize_t w1 = write(fd, head, (size_t)hn);
    ssize_t w2 = write(fd, body.data, body.len);
    (void)w1;
    (void)w2;
    tw_buf_fini(&body);
    close(fd);
    return NULL;
}

static void server_start(server_t *sv, pthread_t *th)
{
    sv->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(sv->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(sv->lfd, 4), 0);
    socklen_t al = sizeof(a);
    getsockname(sv->lfd, (struct sockaddr *)&a, &al);
    sv->port = ntohs(a.sin_port);
    pthread_create(th, NULL, serve, sv);
}

static void test_http_bearer(void **state)
{
    (void)state;
    char tok[] = "/tmp/tw-cg-token-XXXXXX";
    int tfd = mkstemp(tok);
    assert_true(tfd >= 0);
    assert_int_equal(write(tfd, "s3cret-token\n", 13), 13);
    close(tfd);

    tw_cgroup_options_t o = {.root = FIX "/v2"};
    tw_cgroup_collector_t *c = tw_cgroup_collector_new(&o, NULL);
    server_t sv = {.status = 200};
    pthread_t th;
    server_start(&sv, &th);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/pods", sv.port);
    tw_cgroup_pods_fetcher_options_t fo = {
        .url = url, .bearer_token_file = tok, .interval_ms = 60000, .timeout_ms = 5000};
    tw_cgroup_pods_fetcher_t *f = tw_cgroup_pods_fetcher_start(&fo, c, NULL);
    assert_true(wait_for(f, "success", 1));
    pthread_join(th, NULL);
    assert_non_null(strstr(sv.request, "GET /pods HTTP/1.1\r\n"));
    assert_non_null(strstr(sv.request, "\r\nAuthorization: Bearer s3cret-token\r\n"));
    assert_non_null(strstr(sv.request, "\r\nAccept: application/json\r\n"));
    assert_int_equal(phase_series(c), 15);
    /* The next fetch is a minute away: stop must not wait for it. */
    double t0 = now_s();
    tw_cgroup_pods_fetcher_stop(f);
    assert_true(now_s() - t0 < 2.0);
    close(sv.lfd);

    /* A 401 is a failure. */
    server_t sv2 = {.status = 401};
    server_start(&sv2, &th);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/pods", sv2.port);
    tw_cgroup_collector_set_pods(c, NULL);
    f = tw_cgroup_pods_fetcher_start(&fo, c, NULL);
    assert_true(wait_for(f, "error", 1));
    pthread_join(th, NULL);
    tw_cgroup_pods_fetcher_stop(f);
    close(sv2.lfd);
    assert_int_equal(phase_series(c), 0);
    tw_cgroup_collector_free(c);
    unlink(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_url),
        cmocka_unit_test(test_failures_keep_table),
        cmocka_unit_test(test_http_bearer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
