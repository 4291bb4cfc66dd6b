/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scrape_manager.c - the scrape manager against a real local HTTP server (common/
 * http_server.h on 127.0.0.1:0): the request headers Prometheus sends, basic auth, gzip,
 * appended samples and report series, staleness when a series disappears and end-of-run
 * staleness when apply() removes a target, file_sd reload on file change, targets() and the
 * self-metrics. Intervals are 200 ms so the test stays short.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/expfmt/expfmt.h"
#include "collector/scrape/scrape_int.h"
#include "common/http_server.h"
#include "common/timeutil.h"
#include "scrape_test_util.h"

typedef struct srv_ctx {
    pthread_mutex_t mu;
    char body[4096];
    bool gzip;
    char accept[512];
    char timeout_hdr[64];
    char auth[128];
    char accept_encoding[64];
    int requests;
} srv_ctx_t;

static int handler(void *ctx, const tw_http_request_t *req, tw_http_response_t *resp)
{
    srv_ctx_t *c = ctx;
    pthread_mutex_lock(&c->mu);
    const char *h;
    snprintf(c->accept, sizeof(c->accept), "%s",
             (h = tw_http_request_header(req, "Accept")) != NULL ? h : "");
    snprintf(c->timeout_hdr, sizeof(c->timeout_hdr), "%s",
             (h = tw_http_request_header(req, "X-Prometheus-Scrape-Timeout-Seconds")) != NULL ? h
                                                                                              : "");
    snprintf(c->auth, sizeof(c->auth), "%s",
             (h = tw_http_request_header(req, "Authorization")) != NULL ? h : "");
    snprintf(c->accept_encoding, sizeof(c->accept_encoding), "%s",
             (h = tw_http_request_header(req, "Accept-Encoding")) != NULL ? h : "");
    c->requests++;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (c->gzip) {
        tw_buf_t z;
        tw_buf_init(&z, 0);
        tw_expfmt_gzip(&z, c->body, strlen(c->body), NULL);
        tw_buf_append(&resp->body, z.data, z.len);
        tw_buf_fini(&z);
        tw_http_response_header(resp, "Content-Encoding", "gzip");
    } else {
        tw_buf_puts(&resp->body, c->body);
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void set_body(srv_ctx_t *c, const char *body)
{
    pthread_mutex_lock(&c->mu);
    snprintf(c->body, sizeof(c->body), "%s", body);
    pthread_mutex_unlock(&c->mu);
}

static bool wait_for(rec_sink_t *r, const char *substr, size_t count, int timeout_ms)
{
    int64_t end = tw_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (tw_mono_ns() < end) {
        if (rec_count(r, substr) >= count) {
            return true;
        }
        usleep(10000);
    }
    return false;
}

static tw_scrape_config_t **configs(const char *yaml, size_t *n)
{
    tw_error_t err;
    tw_yaml_doc_t *doc = NULL;
    assert_int_equal(tw_yaml_doc_parse(yaml, strlen(yaml), "c.yml", &doc, &err), 0);
    tw_yaml_walk_t w = {"c.yml", &err, NULL};
    tw_scrape_global_t g = {60000, 10000};
    tw_scrape_config_t **c = NULL;
    if (tw_scrape_configs_parse(&w, tw_yaml_doc_root(doc), &g, NULL, &c, n) != 0) {
        fail_msg("%s", err.msg);
    }
    tw_yaml_doc_free(doc);
    return c;
}

typedef struct env {
    srv_ctx_t sc;
    tw_http_server_t *srv;
    int port;
    rec_sink_t rec;
    tw_sink_t sink;
    tw_scrape_manager_t *m;
} env_t;

static env_t *env_new(void)
{
    env_t *e = calloc(1, sizeof(*e));
    pthread_mutex_init(&e->sc.mu, NULL);
    tw_http_server_options_t so = {.listen_address = "127.0.0.1:0", .threads = 2};
    tw_error_t err;
    e->srv = tw_http_server_new(&so, &err);
    assert_non_null(e->srv);
    assert_int_equal(tw_http_server_route(e->srv, "GET", "/metrics", handler, &e->sc), 0);
    assert_int_equal(tw_http_server_start(e->srv, &err), 0);
    e->port = tw_http_server_port(e->srv);
    rec_init(&e->rec, &e->sink);
    tw_scrape_manager_options_t mo = {.jitter_seed = "test", .file_sd_poll_ms = 50};
    e->m = tw_scrape_manager_new(&e->sink, &mo, &err);
    assert_non_null(e->m);
    return e;
}

static void env_free(env_t *e)
{
    tw_scrape_manager_free(e->m);
    tw_http_server_free(e->srv);
    rec_fini(&e->rec);
    free(e);
}

static void test_scrape_and_staleness(void **state)
{
    (void)state;
    env_t *e = env_new();
    set_body(&e->sc, "# TYPE m gauge\nm 1\ngone 7\n");
    e->sc.gzip = true;
    char yaml[512], lbl[128], line[256];
    snprintf(yaml, sizeof(yaml),
             "- job_name: t\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"
             "  basic_auth: {username: user, password: pass}\n"
             "  static_configs:\n  - targets: ['127.0.0.1:%d']\n    labels: {env: test}\n",
             e->port);
    snprintf(lbl, sizeof(lbl), "env=\"test\",instance=\"127.0.0.1:%d\",job=\"t\"", e->port);
    size_t n;
    tw_scrape_config_t **c = configs(yaml, &n);
    assert_int_equal(tw_scrape_manager_apply(e->m, c, n, NULL), 0);
    tw_scrape_configs_free(c, n);
    snprintf(line, sizeof(line), "up{%s}", lbl);
    assert_true(wait_for(&e->rec, line, 1, 3000));
    snprintf(line, sizeof(line), "m{%s} ", lbl);
    assert_true(wait_for(&e->rec, line, 1, 1000));
    {
        char *d0 = rec_dump(&e->rec);
        char *q = strstr(d0, line);
        assert_non_null(q);
        assert_memory_equal(q + strlen(line) + 13, " 1\n", 3); /* ms timestamp, value 1 */
        free(d0);
    }
    pthread_mutex_lock(&e->sc.mu);
    assert_string_equal(e->sc.accept, TW_SCRAPE_ACCEPT_HEADER);
    assert_string_equal(e->sc.timeout_hdr, "0.15");
    assert_string_equal(e->sc.auth, "Basic dXNlcjpwYXNz");
    assert_non_null(strstr(e->sc.accept_encoding, "gzip"));
    pthread_mutex_unlock(&e->sc.mu);
    char *dump = rec_dump(&e->rec);
    snprintf(line, sizeof(line), "gone{%s} ", lbl);
    assert_non_null(strstr(dump, line));
    snprintf(line, sizeof(line), "scrape_samples_scraped{%s} ", lbl);
    char *p = strstr(dump, line);
    assert_non_null(p);
    assert_non_null(strstr(p, " 2\n"));
    snprintf(line, sizeof(line), "up{%s} ", lbl);
    p = strstr(dump, line);
    assert_int_equal(p[strlen(line) + 13 + 1], '1'); /* 13-digit ms timestamp, space, value */
    free(dump);

    /* targets() */
    tw_scrape_target_info_t *ti = NULL;
    size_t nt = 0;
    assert_int_equal(tw_scrape_manager_targets(e->m, &ti, &nt), 0);
    assert_int_equal(nt, 1);
    assert_string_equal(ti[0].scrape_pool, "t");
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", e->port);
    assert_string_equal(ti[0].scrape_url, url);
    assert_int_equal(ti[0].health, TW_SCRAPE_HEALTH_UP);
    assert_string_equal(ti[0].last_error, "");
    assert_int_equal(ti[0].nlabels, 3);
    assert_string_equal(ti[0].labels[0].name, "env");
    assert_int_equal(ti[0].scrape_interval_ms, 200);
    assert_true(ti[0].ndiscovered_labels >= 7);
    tw_scrape_target_infos_free(ti, nt);

    /* a series disappears: a stale marker */
    set_body(&e->sc, "m 2\n");
    snprintf(line, sizeof(line), "gone{%s} ", lbl);
    char stale_line[256];
    snprintf(stale_line, sizeof(stale_line), "gone{%s}", lbl);
    assert_true(wait_for(&e->rec, "stale", 1, 2000));
    dump = rec_dump(&e->rec);
    p = strstr(dump, "stale");
    while (p > dump && p[-1] != '\n') {
        p--;
    }
    assert_memory_equal(p, stale_line, strlen(stale_line));
    free(dump);

    /* the target goes away with apply(): end-of-run stale markers ~2.1 intervals later */
    rec_clear(&e->rec);
    int64_t t0 = tw_mono_ns();
    assert_int_equal(tw_scrape_manager_apply(e->m, NULL, 0, NULL), 0);
    snprintf(line, sizeof(line), "up{%s}", lbl);
    assert_true(wait_for(&e->rec, "stale", 6, 3000));
    int64_t waited_ms = (tw_mono_ns() - t0) / 1000000;
    assert_true(waited_ms >= 220);
    dump = rec_dump(&e->rec);
    snprintf(line, sizeof(line), "m{%s} ", lbl);
    assert_non_null(strstr(dump, line));
    snprintf(line, sizeof(line), "up{%s} ", lbl);
    p = strstr(dump, line);
    assert_non_null(p);
    assert_non_null(strstr(p, "stale\n"));
    free(dump);

    tw_mset_t *ms = tw_mset_new();
    tw_scrape_manager_collect(e->m, ms);
    const tw_mfamily_t *f = tw_mset_find(ms, "tidewatch_scrapes_total");
    assert_non_null(f);
    assert_true(f->samples[0].value >= 2);
    assert_non_null(tw_mset_find(ms, "tidewatch_scrape_target_interval_length_seconds"));
    tw_mset_free(ms);
    env_free(e);
}

static void test_failures(void **state)
{
    (void)state;
    env_t *e = env_new();
    set_body(&e->sc, "a 1\nb 2\nc 3\n");
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "- job_name: lim\n  scrape_interval: 200ms\n  sample_limit: 2\n"
             "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
             "- job_name: body\n  scrape_interval: 200ms\n  body_size_limit: 4B\n"
             "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
             "- job_name: down\n  scrape_interval: 200ms\n  metrics_path: /nothing\n"
             "  static_configs:\n  - targets: ['127.0.0.1:%d']\n",
             e->port, e->port, e->port);
    size_t n;
    tw_scrape_config_t **c = configs(yaml, &n);
    assert_int_equal(tw_scrape_manager_apply(e->m, c, n, NULL), 0);
    tw_scrape_configs_free(c, n);
    assert_true(wait_for(&e->rec, "up{", 3, 3000));
    assert_int_equal(rec_count(&e->rec, "a{"), 0);
    tw_scrape_target_info_t *ti = NULL;
    size_t nt = 0;
    assert_int_equal(tw_scrape_manager_targets(e->m, &ti, &nt), 0);
    assert_int_equal(nt, 3);
    assert_string_equal(ti[0].scrape_pool, "body");
    assert_string_equal(ti[0].last_error, "body size limit exceeded");
    assert_string_equal(ti[1].scrape_pool, "down");
    assert_string_equal(ti[1].last_error, "server returned HTTP status 404 Not Found");
    assert_string_equal(ti[2].scrape_pool, "lim");
    assert_string_equal(ti[2].last_error, "sample limit exceeded");
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ti[i].health, TW_SCRAPE_HEALTH_DOWN);
    }
    tw_scrape_target_infos_free(ti, nt);
    env_free(e);
}

static void test_file_sd_reload(void **state)
{
    (void)state;
    env_t *e = env_new();
    set_body(&e->sc, "x 1\n");
    char dir[] = "/tmp/tw-sd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], yaml[512], tmp[160];
    snprintf(path, sizeof(path), "%s/targets.json", dir);
    snprintf(tmp, sizeof(tmp), "%s/.tmp.json.new", dir);
    FILE *fp = fopen(path, "w");
    fprintf(fp, "[{\"targets\": [\"127.0.0.1:%d\"], \"labels\": {\"team\": \"a\"}}]", e->port);
    fclose(fp);
    snprintf(yaml, sizeof(yaml),
             "- job_name: sd\n  scrape_interval: 200ms\n"
             "  file_sd_configs:\n  - files: ['%s/*.json']\n    refresh_interval: 1m\n",
             dir);
    size_t n;
    tw_scrape_config_t **c = configs(yaml, &n);
    assert_int_equal(tw_scrape_manager_apply(e->m, c, n, NULL), 0);
    tw_scrape_configs_free(c, n);
    assert_true(wait_for(&e->rec, "x{instance=", 1, 3000));
    assert_true(wait_for(&e->rec, "team=\"a\"", 1, 100));
    /* rewrite the file: the target's labels change, the old target ends */
    fp = fopen(tmp, "w");
    fprintf(fp, "[{\"targets\": [\"127.0.0.1:%d\"], \"labels\": {\"team\": \"b\"}}]", e->port);
    fclose(fp);
    assert_int_equal(rename(tmp, path), 0);
    assert_true(wait_for(&e->rec, "team=\"b\"", 1, 3000));
    tw_scrape_target_info_t *ti = NULL;
    size_t nt = 0;
    assert_int_equal(tw_scrape_manager_targets(e->m, &ti, &nt), 0);
    assert_int_equal(nt, 1);
    assert_string_equal(tw_labels_get(ti[0].labels, ti[0].nlabels, "team"), "b");
    assert_string_equal(
        tw_labels_get(ti[0].discovered_labels, ti[0].ndiscovered_labels, "__meta_filepath"), path);
    tw_scrape_target_infos_free(ti, nt);
    unlink(path);
    rmdir(dir);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrape_and_staleness),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_file_sd_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
