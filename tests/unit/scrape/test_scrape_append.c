/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scrape_append.c - what one scrape appends, with Prometheus' scrape loop as the
 * expectation: samples with target labels, the five report series, staleness markers for
 * vanished series and failed scrapes, end-of-run staleness, honor_labels (exported_ prefix),
 * honor_timestamps, sample_limit and label limits failing the whole scrape, metric relabeling,
 * duplicate series, and out-of-order rejections that are counted but do not fail the scrape.
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
#include "scrape_test_util.h"

typedef struct fx {
    tw_scrape_config_t **cfgs;
    size_t ncfg;
    tw_scrape_state_t st;
    rec_sink_t rec;
    tw_sink_t sink;
    tw_label_t tl[2];
    tw_scrape_append_ctx_t ctx;
    tw_scrape_result_t res;
    char err[512];
} fx_t;

static fx_t *fx_new(const char *cfg_yaml)
{
    fx_t *f = calloc(1, sizeof(*f));
    tw_error_t err;
    tw_yaml_doc_t *doc = NULL;
    assert_int_equal(tw_yaml_doc_parse(cfg_yaml, strlen(cfg_yaml), "c.yml", &doc, &err), 0);
    tw_yaml_walk_t w = {"c.yml", &err, NULL};
    tw_scrape_global_t g = {60000, 10000};
    if (tw_scrape_configs_parse(&w, tw_yaml_doc_root(doc), &g, NULL, &f->cfgs, &f->ncfg) != 0) {
        fail_msg("%s", err.msg);
    }
    tw_yaml_doc_free(doc);
    tw_scrape_state_init(&f->st);
    rec_init(&f->rec, &f->sink);
    f->tl[0] = (tw_label_t){"instance", "h:1"};
    f->tl[1] = (tw_label_t){"job", "j"};
    f->ctx = (tw_scrape_append_ctx_t){f->cfgs[0], f->tl, 2};
    return f;
}

static void fx_free(fx_t *f)
{
    tw_scrape_state_fini(&f->st);
    rec_fini(&f->rec);
    tw_scrape_configs_free(f->cfgs, f->ncfg);
    free(f);
}

/* Runs one scrape and returns what it committed (the sink is cleared first). */
static char *scrape(fx_t *f, const char *body, const char *ctype, const char *serr, int64_t t)
{
    rec_clear(&f->rec);
    int rc = tw_scrape_append(&f->st, &f->ctx, &f->sink, body, body != NULL ? strlen(body) : 0,
                              ctype, serr, t, 0.5, &f->res, f->err, sizeof(f->err));
    assert_int_equal(rc, 0);
    return rec_dump(&f->rec);
}

#define L "instance=\"h:1\",job=\"j\""
#define REPORT(t, up, scraped, post, added)                                                        \
    "up{" L "} " #t " " #up "\n"                                                                   \
    "scrape_duration_seconds{" L "} " #t " 0.5\n"                                                  \
    "scrape_samples_scraped{" L "} " #t " " #scraped "\n"                                          \
    "scrape_samples_post_metric_relabeling{" L "} " #t " " #post "\n"                              \
    "scrape_series_added{" L "} " #t " " #added "\n"

#define EXPECT(got, want)                                                                          \
    do {                                                                                           \
        char *g_ = (got);                                                                          \
        assert_string_equal(g_, want);                                                             \
        free(g_);                                                                                  \
    } while (0)

static void test_staleness(void **state)
{
    (void)state;
    fx_t *f = fx_new("- job_name: j\n");
    EXPECT(scrape(f, "# TYPE a counter\na_total 1\nb{x=\"1\"} 2\n", "text/plain; version=0.0.4",
                  NULL, 1000),
           "a_total{" L "} 1000 1\n"
           "b{" L ",x=\"1\"} 1000 2\n" REPORT(1000, 1, 2, 2, 2));
    assert_string_equal(f->err, "");
    /* b vanished: a stale marker at this scrape's time */
    EXPECT(scrape(f, "a_total 2\n", "text/plain", NULL, 2000),
           "a_total{" L "} 2000 2\n"
           "b{" L ",x=\"1\"} 2000 stale\n" REPORT(2000, 1, 1, 1, 0));
    /* a failed scrape: everything goes stale, up=0 */
    EXPECT(scrape(f, NULL, NULL, "Get \"http://h:1/metrics\": connection refused", 3000),
           "a_total{" L "} 3000 stale\n" REPORT(3000, 0, 0, 0, 0));
    assert_string_equal(f->err, "Get \"http://h:1/metrics\": connection refused");
    /* a second failure has nothing left to mark */
    EXPECT(scrape(f, NULL, NULL, "again", 4000), REPORT(4000, 0, 0, 0, 0));
    /* back: the series is still in the cache, so not "added" again */
    EXPECT(scrape(f, "a_total 3\n", "text/plain", NULL, 5000),
           "a_total{" L "} 5000 3\n" REPORT(5000, 1, 1, 1, 0));
    /* the target goes away: end-of-run markers for its series and the report series */
    rec_clear(&f->rec);
    assert_int_equal(tw_scrape_append_end_of_run(&f->st, &f->ctx, &f->sink, 6000), 0);
    EXPECT(rec_dump(&f->rec), "a_total{" L "} 6000 stale\n"
                              "up{" L "} 6000 stale\n"
                              "scrape_duration_seconds{" L "} 6000 stale\n"
                              "scrape_samples_scraped{" L "} 6000 stale\n"
                              "scrape_samples_post_metric_relabeling{" L "} 6000 stale\n"
                              "scrape_series_added{" L "} 6000 stale\n");
    fx_free(f);
}

static void test_empty_body_is_up_and_stales(void **state)
{
    (void)state;
    fx_t *f = fx_new("- job_name: j\n");
    free(scrape(f, "a 1\n", "text/plain", NULL, 1000));
    EXPECT(scrape(f, "", "text/plain", NULL, 2000),
           "a{" L "} 2000 stale\n" REPORT(2000, 1, 0, 0, 0));
    fx_free(f);
}

static void test_honor_labels(void **state)
{
    (void)state;
    fx_t *f = fx_new("- job_name: j\n");
    EXPECT(scrape(f, "m{job=\"exp\",instance=\"other\",exported_job=\"x\"} 1\n", "text/plain", NULL,
                  1000),
           "m{exported_exported_job=\"exp\",exported_instance=\"other\",exported_job=\"x\","
           "instance=\"h:1\",job=\"j\"} 1000 1\n" REPORT(1000, 1, 1, 1, 1));
    fx_free(f);
    f = fx_new("- job_name: j\n  honor_labels: true\n");
    EXPECT(scrape(f, "m{job=\"exp\"} 1\n", "text/plain", NULL, 1000),
           "m{instance=\"h:1\",job=\"exp\"} 1000 1\n" REPORT(1000, 1, 1, 1, 1));
    fx_free(f);
}

static void test_honor_timestamps(void **state)
{
    (void)state;
    fx_t *f = fx_new("- job_name: j\n");
    EXPECT(scrape(f, "a 1 500\nb 2\n", "text/plain", NULL, 1000),
           "a{" L "} 500 1\nb{" L "} 1000 2\n" REPORT(1000, 1, 2, 2, 2));
    /* series with explicit timestamps are not tracked for staleness */
    EXPECT(scrape(f, "c 3\n", "text/plain", NULL, 2000),
           "c{" L "} 2000 3\nb{" L "} 2000 stale\n" REPORT(2000, 1, 1, 1, 1));
    fx_free(f);
    f = fx_new("- job_name: j\n  honor_timestamps: false\n");
    EXPECT(scrape(f, "a 1 500\n", "text/plain", NULL, 1000),
           "a{" L "} 1000 1\n" REPORT(1000, 1, 1, 1, 1));
    fx_free(f);
}

static void test_sample_limit(void **state)
{
    (void)state;
    fx_t *f = fx_new("- job_name: j\n  sample_limit: 2\n");
    EXPECT(scrape(f, "a 1\nb 2\n", "text/plain", NULL, 1000),
           "a{" L "} 1000 1\nb{" L "} 1000 2\n" REPORT(1000, 1, 2, 2, 2));
    /* over the limit: nothing from the body, previous series stale, up=0 */
    EXPECT(scrape(f, "a 1\nb 2\nc 3\n", "text/plain", NULL, 2000),
           "a{" L "} 2000 stale\nb{" L "} 2000 stale\n" REPORT(2000, 0, 3, 3, 0));
    assert_string_equal(f->err, "sample limit exceeded");
    assert_true(f->res.sample_limit_exceeded);
    fx_free(f);
    /* the limit counts samples after metric relabeling */
    f = fx_new("- job_name: j\n  sample_limit: 1\n  metric_relabel_configs:\n"
               "  - source_labels: [__name__]\n    regex: b\n    action: drop\n");
    EXPECT(scrape(f, "a 1\nb 2\n", "text/plain", NULL, 1000),
           "a{" L "} 1000 1\n" REPORT(1000, 1, 2, 1, 1));
    fx_free(f);
}

static void test_label_limits(void **state)
{
    (void)state;
    fx_t *f = fx_new("- job_name: j\n  label_limit: 3\n");
    EXPECT(scrape(f, "m{a=\"1\"} 1\n", "text/plain", NULL, 1000), REPORT(1000, 0, 1, 0, 0));
    assert_string_equal(f->err, "label_limit exceeded (metric: m, number of labels: 4, limit: 3)");
    assert_true(f->res.label_limits_exceeded);
    EXPECT(scrape(f, "m 1\n", "text/plain", NULL, 2000),
           "m{" L "} 2000 1\n" REPORT(2000, 1, 1, 1, 1));
    fx_free(f);
    f = fx_new("- job_name: j\n  label_name_length_limit: 8\n  label_value_length_limit: 3\n");
    EXPECT(scrape(f, "m{verylongname=\"1\"} 1\n", "text/plain", NULL, 1000),
           REPORT(1000, 0, 1, 0, 0));
    assert_string_equal(f->err, "label_name_length_limit exceeded (metric: m, label name: "
                                "verylongname, length: 12, limit: 8)");
    /* value length counts UTF-8 characters: "héé" is 3 */
    EXPECT(scrape(f, "m{a=\"h\xc3\xa9\xc3\xa9\"} 1\n", "text/plain", NULL, 2000),
           "m{a=\"h\xc3\xa9\xc3\xa9\"," L "} 2000 1\n" REPORT(2000, 1, 1, 1, 1));
    EXPECT(scrape(f, "m{a=\"abcd\"} 1\n", "text/plain", NULL, 3000),
           "m{a=\"h\xc3\xa9\xc3\xa9\"," L "} 3000 stale\n" REPORT(3000, 0, 1, 0, 0));
    assert_string_equal(f->err, "label_value_length_limit exceeded (metric: m, label name: a, "
                                "value: \"abcd\", length: 4, limit: 3)");
    fx_free(f);
}

static void test_out_of_order_and_duplicates(void **state)
{
    (void)state;
    fx_t *f = fx_new("- job_name: j\n");
    f->rec.reject_substr = "b{";
    f->rec.reject_code = TW_EOUTOFORDER;
    EXPECT(scrape(f, "a 1\nb 2\n", "text/plain", NULL, 1000),
           "a{" L "} 1000 1\n" REPORT(1000, 1, 2, 2, 1));
    assert_int_equal(f->res.out_of_order, 1);
    assert_string_equal(f->err, "");
    /* another storage error fails the scrape */
    f->rec.reject_code = TW_EIO;
    EXPECT(scrape(f, "a 1\nb 2\n", "text/plain", NULL, 2000),
           "a{" L "} 2000 stale\n" REPORT(2000, 0, 2, 1, 0));
    assert_string_equal(f->err, "rejected by the test sink");
    f->rec.reject_substr = NULL;
    /* the same series twice in one scrape: the second is a duplicate, still counted in added */
    EXPECT(scrape(f, "a 1\na 2\n", "text/plain", NULL, 3000),
           "a{" L "} 3000 1\n" REPORT(3000, 1, 2, 2, 0));
    assert_int_equal(f->res.duplicates, 1);
    fx_free(f);
}

static void test_metric_relabel_and_parse_error(void **state)
{
    (void)state;
    fx_t *f = fx_new("- job_name: j\n  metric_relabel_configs:\n"
                     "  - source_labels: [__name__]\n    regex: go_.*\n    action: drop\n"
                     "  - regex: instance\n    action: labeldrop\n");
    EXPECT(scrape(f, "go_gc 1\nhttp_requests_total{code=\"200\"} 5\n", "text/plain", NULL, 1000),
           "http_requests_total{code=\"200\",job=\"j\"} 1000 5\n" REPORT(1000, 1, 2, 1, 1));
    EXPECT(scrape(f, "http_requests_total{code=\"200\" 5\n", "text/plain", NULL, 2000),
           "http_requests_total{code=\"200\",job=\"j\"} 2000 stale\n" REPORT(2000, 0, 0, 0, 0));
    assert_non_null(strstr(f->err, "1:"));
    fx_free(f);
}

static void test_openmetrics(void **state)
{
    (void)state;
    fx_t *f = fx_new("- job_name: j\n");
    EXPECT(scrape(f, "# TYPE c counter\nc_total 3 1.5\n# EOF\n",
                  "application/openmetrics-text; version=1.0.0; charset=utf-8", NULL, 2000),
           "c_total{" L "} 1500 3\n" REPORT(2000, 1, 1, 1, 1));
    /* OpenMetrics without # EOF is a parse error */
    EXPECT(scrape(f, "c_total 4\n", "application/openmetrics-text; version=1.0.0", NULL, 3000),
           REPORT(3000, 0, 1, 1, 0));
    assert_string_not_equal(f->err, "");
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_staleness),
        cmocka_unit_test(test_empty_body_is_up_and_stales),
        cmocka_unit_test(test_honor_labels),
        cmocka_unit_test(test_honor_timestamps),
        cmocka_unit_test(test_sample_limit),
        cmocka_unit_test(test_label_limits),
        cmocka_unit_test(test_out_of_order_and_duplicates),
        cmocka_unit_test(test_metric_relabel_and_parse_error),
        cmocka_unit_test(test_openmetrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
