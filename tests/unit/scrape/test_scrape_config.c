/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scrape_config.c - scrape_configs parsing (defaults, errors with file:line:col), target
 * label building as Prometheus' PopulateLabels, URLs, file_sd parsing and the jitter offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/scrape/scrape_int.h"

static int parse(const char *yaml, tw_scrape_config_t ***out, size_t *n, tw_error_t *err)
{
    tw_yaml_doc_t *doc = NULL;
    int rc = tw_yaml_doc_parse(yaml, strlen(yaml), "tw.yml", &doc, err);
    if (rc != 0) {
        return rc;
    }
    tw_yaml_walk_t w = {"tw.yml", err, NULL};
    tw_scrape_global_t g = {60000, 10000};
    rc = tw_scrape_configs_parse(&w, tw_yaml_doc_root(doc), &g, "/etc/tw", out, n);
    tw_yaml_doc_free(doc);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    tw_scrape_config_t **c = NULL;
    size_t n = 0;
    tw_error_t err;
    const char *y = "- job_name: a\n"
                    "- job_name: b\n  scrape_interval: 5s\n"
                    "- job_name: c\n  scrape_interval: 30s\n  scrape_timeout: 20s\n"
                    "  metrics_path: /m\n  scheme: https\n  honor_labels: true\n"
                    "  honor_timestamps: false\n  body_size_limit: 10MB\n  sample_limit: 5\n"
                    "  file_sd_configs:\n  - files: [sd/*.json]\n";
    assert_int_equal(parse(y, &c, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(tw_scrape_config_job(c[0]), "a");
    assert_int_equal(c[0]->interval_ms, 60000);
    assert_int_equal(c[0]->timeout_ms, 10000);
    assert_string_equal(c[0]->metrics_path, "/metrics");
    assert_string_equal(c[0]->scheme, "http");
    assert_true(c[0]->honor_timestamps);
    assert_false(c[0]->honor_labels);
    /* the global timeout is capped at the job's interval */
    assert_int_equal(c[1]->interval_ms, 5000);
    assert_int_equal(c[1]->timeout_ms, 5000);
    assert_int_equal(c[2]->timeout_ms, 20000);
    assert_string_equal(c[2]->scheme, "https");
    assert_false(c[2]->honor_timestamps);
    assert_int_equal(c[2]->body_size_limit, 10 * 1024 * 1024);
    assert_int_equal(c[2]->sample_limit, 5);
    assert_string_equal(c[2]->file_sd[0].files[0], "/etc/tw/sd/*.json");
    assert_int_equal(c[2]->file_sd[0].refresh_interval_ms, 300000);
    tw_scrape_configs_free(c, n);
}

static void expect_error(const char *yaml, int line, int col, const char *part)
{
    tw_scrape_config_t **c = NULL;
    size_t n = 0;
    tw_error_t err;
    memset(&err, 0, sizeof(err));
    assert_int_not_equal(parse(yaml, &c, &n, &err), 0);
    if (strstr(err.msg, part) == NULL) {
        fail_msg("\"%s\" lacks \"%s\"", err.msg, part);
    }
    assert_int_equal(err.line, line);
    assert_int_equal(err.col, col);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("- job_name: a\n  scrape_interval: 5s\n  scrape_timeout: 10s\n", 3, 19,
                 "scrape timeout greater than scrape interval for scrape config with job name "
                 "\"a\"");
    expect_error("- job_name: a\n- job_name: a\n", 2, 3,
                 "found multiple scrape configs with job name \"a\"");
    expect_error("- scrape_interval: 5s\n", 1, 3, "job_name is empty");
    expect_error("- job_name: a\n  scheme: ftp\n", 2, 11, "unknown scheme \"ftp\"");
    expect_error("- job_name: a\n  static_configs:\n  - targets: ['a/b:80']\n", 3, 15,
                 "\"a/b:80\" is not a valid hostname");
    expect_error("- job_name: a\n  file_sd_configs:\n  - files: [x.txt]\n", 3, 13,
                 "path name \"x.txt\" is not valid for file discovery");
    expect_error("- job_name: a\n  body_size_limit: 10 apples\n", 2, 20, "invalid size");
    expect_error("- job_name: a\n  scrape_intervall: 5s\n", 2, 3, "unknown key");
    expect_error("- job_name: a\n  basic_auth: {username: u}\n  authorization: {credentials: x}\n",
                 3, 18, "at most one of basic_auth, authorization");
    expect_error("- job_name: a\n  metric_relabel_configs:\n  - action: hashmod\n"
                 "    target_label: x\n",
                 3, 13,
                 "scrape_configs[0].metric_relabel_configs[0]: relabel configuration for "
                 "hashmod requires non-zero modulus");
}

static char *target_str(const char *yaml, const char *addr, int *rc_out, char *url, size_t usz)
{
    tw_scrape_config_t **c = NULL;
    size_t n = 0;
    tw_error_t err;
    assert_int_equal(parse(yaml, &c, &n, &err), 0);
    tw_label_t disc[4];
    size_t nd = 0;
    for (size_t i = 0; i < c[0]->static_groups[0].nlabels; i++) {
        disc[nd++] = c[0]->static_groups[0].labels[i];
    }
    disc[nd].name = "__address__";
    disc[nd].value = addr;
    nd++;
    tw_scrape_target_t t;
    int rc = tw_scrape_target_build(c[0], disc, nd, &t, &err);
    *rc_out = rc;
    char *s = NULL;
    if (rc == 1) {
        tw_buf_t b;
        tw_buf_init(&b, 0);
        for (size_t i = 0; i < t.nlabels; i++) {
            tw_buf_printf(&b, "%s%s=%s", i > 0 ? "," : "", t.labels[i].name, t.labels[i].value);
        }
        s = tw_buf_steal(&b, NULL);
        snprintf(url, usz, "%s", t.url);
        tw_scrape_target_fini(&t);
    } else if (rc < 0) {
        s = strdup(err.msg);
    }
    tw_scrape_configs_free(c, n);
    return s;
}

static void test_targets(void **state)
{
    (void)state;
    int rc;
    char url[256];
    char *s = target_str("- job_name: node\n  scrape_interval: 15s\n  static_configs:\n"
                         "  - targets: []\n    labels: {env: prod, __meta_x: y}\n",
                         "host1", &rc, url, sizeof(url));
    assert_int_equal(rc, 1);
    assert_string_equal(s, "__address__=host1:80,__metrics_path__=/metrics,__scheme__=http,"
                           "__scrape_interval__=15s,__scrape_timeout__=10s,env=prod,"
                           "instance=host1:80,job=node");
    assert_string_equal(url, "http://host1:80/metrics");
    free(s);
    /* params become __param_*, relabeling may override them; https default port */
    s = target_str("- job_name: probe\n  scheme: https\n  metrics_path: /probe\n"
                   "  params: {module: [http_2xx], a: [x y, z]}\n"
                   "  relabel_configs:\n  - source_labels: [__address__]\n"
                   "    target_label: __param_target\n  - target_label: instance\n"
                   "    replacement: fixed\n  static_configs:\n  - targets: []\n",
                   "example.com", &rc, url, sizeof(url));
    assert_int_equal(rc, 1);
    assert_string_equal(s, "__address__=example.com:443,__metrics_path__=/probe,"
                           "__param_a=x y,__param_module=http_2xx,__param_target=example.com,"
                           "__scheme__=https,__scrape_interval__=1m,__scrape_timeout__=10s,"
                           "instance=fixed,job=probe");
    assert_string_equal(url, "https://example.com:443/probe?a=x+y&a=z&module=http_2xx&"
                             "target=example.com");
    free(s);
    /* dropped by relabeling */
    s = target_str("- job_name: d\n  relabel_configs:\n  - source_labels: [__address__]\n"
                   "    regex: skip.*\n    action: drop\n  static_configs:\n  - targets: []\n",
                   "skipme:1", &rc, url, sizeof(url));
    assert_int_equal(rc, 0);
    assert_null(s);
    /* per-target interval from __scrape_interval__, and its check against the timeout */
    s = target_str("- job_name: d\n  relabel_configs:\n  - target_label: __scrape_interval__\n"
                   "    replacement: 5s\n  static_configs:\n  - targets: []\n",
                   "h:1", &rc, url, sizeof(url));
    assert_int_equal(rc, TW_EINVAL);
    assert_string_equal(s, "scrape timeout cannot be greater than scrape interval (\"10s\" > "
                           "\"5s\")");
    free(s);
    s = target_str("- job_name: d\n  relabel_configs:\n  - target_label: __address__\n"
                   "    replacement: ''\n  - source_labels: [zz]\n    target_label: __address__\n"
                   "  static_configs:\n  - targets: []\n",
                   "h:1", &rc, url, sizeof(url));
    assert_int_equal(rc, TW_EINVAL);
    assert_string_equal(s, "no address");
    free(s);
    /* IPv6 with brackets gets a port; a bad address is refused */
    s = target_str("- job_name: d\n  static_configs:\n  - targets: []\n", "[::1]", &rc, url,
                   sizeof(url));
    assert_int_equal(rc, 1);
    assert_string_equal(url, "http://[::1]:80/metrics");
    free(s);
}

static void test_offset(void **state)
{
    (void)state;
    /* Target.offset: base = interval - now%interval, plus (hash^seed)%interval, wrapped */
    assert_int_equal(tw_scrape_target_offset_ms(7, 0, 1000, 10250), 750 + 7);
    assert_int_equal(tw_scrape_target_offset_ms(900, 0, 1000, 10250), 650);
    assert_int_equal(tw_scrape_target_offset_ms(5, 5, 1000, 10000), 1000);
    /* the phase is stable: the first scrape always lands at the same point of the interval */
    for (int64_t now = 1000000; now < 1003000; now += 137) {
        int64_t off = tw_scrape_target_offset_ms(0xdeadbeefULL, 42, 500, now);
        assert_true(off > 0 && off <= 500);
        assert_int_equal((now + off) % 500, (int64_t)((0xdeadbeefULL ^ 42) % 500));
    }
    /* FNV-1a 64 test vectors (Go's hash/fnv) */
    assert_true(tw_scrape_jitter_seed("") == 0xcbf29ce484222325ULL);
    assert_true(tw_scrape_jitter_seed("a") == 0xaf63dc4c8601ec8cULL);
    assert_true(tw_scrape_jitter_seed("foobar") == 0x85944171f73967e8ULL);
}

static void test_file_sd_parse(void **state)
{
    (void)state;
    tw_scrape_group_t *g = NULL;
    size_t n = 0;
    tw_error_t err;
    const char *js = "[{\"targets\": [\"a:1\", \"b:2\"], \"labels\": {\"env\": \"x\"}},"
                     " {\"targets\": [\"c:3\"]}]";
    assert_int_equal(tw_scrape_file_sd_parse(js, strlen(js), true, "/sd/t.json", &g, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].ntargets, 2);
    assert_string_equal(g[0].targets[1].value, "b:2");
    assert_int_equal(g[0].nlabels, 2);
    assert_string_equal(g[0].labels[0].name, "env");
    assert_string_equal(g[0].labels[1].name, "__meta_filepath");
    assert_string_equal(g[0].labels[1].value, "/sd/t.json");
    assert_int_equal(g[1].nlabels, 1);
    tw_scrape_groups_free(g, n);
    const char *ys = "- targets: ['d:4']\n  labels:\n    team: db\n";
    assert_int_equal(tw_scrape_file_sd_parse(ys, strlen(ys), false, "t.yml", &g, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(g[0].targets[0].value, "d:4");
    tw_scrape_groups_free(g, n);
    const char *bad = "- targets: ['d:4']\n  labels:\n    1team: db\n";
    assert_int_equal(tw_scrape_file_sd_parse(bad, strlen(bad), false, "t.yml", &g, &n, &err),
                     TW_EINVAL);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 5);
    const char *badj = "[{\"targets\": [1]}]";
    assert_int_equal(tw_scrape_file_sd_parse(badj, strlen(badj), true, "t.json", &g, &n, &err),
                     TW_EPARSE);
    assert_string_equal(err.msg, "target group 0: targets must be strings");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_targets),       cmocka_unit_test(test_offset),
        cmocka_unit_test(test_file_sd_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
