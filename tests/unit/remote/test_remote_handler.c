/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_remote_handler.c - POST /api/v1/write on the real HTTP server (127.0.0.1:0) with libcurl
 * as the client and real snappy bodies: 204 and the exact samples appended through a recording
 * sink; sink refusals mapped to 400/500 with the series named and the transaction rolled back;
 * 413 for large bodies; 400 for bodies that do not decode; 415 for foreign media types; the
 * self-metrics after all of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collector/remote/remote.h"
#include "common/http_server.h"
#include "rw_fake_sink.h"
#include "rw_test_util.h"

typedef struct fixture {
    tw_http_server_t *srv;
    tw_remote_write_handler_t *h;
    rw_fake_sink_t fake;
    tw_sink_t sink;
    char url[128];
} fixture_t;

static fixture_t *start(const tw_remote_write_options_t *o, size_t server_max_body)
{
    fixture_t *f = tw_xcalloc(1, sizeof(*f));
    tw_error_t err;
    tw_http_server_options_t so = {
        .listen_address = "127.0.0.1:0", .threads = 2, .max_body_bytes = server_max_body};
    rw_fake_init(&f->fake, &f->sink);
    f->srv = tw_http_server_new(&so, &err);
    assert_non_null(f->srv);
    assert_int_equal(tw_remote_write_handler_register(f->srv, o, &f->sink, &f->h), 0);
    if (tw_http_server_start(f->srv, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d%s", tw_http_server_port(f->srv),
             o != NULL && o->path != NULL ? o->path : "/api/v1/write");
    return f;
}

static void stop(fixture_t *f)
{
    tw_http_server_free(f->srv);
    tw_remote_write_handler_free(f->h);
    rw_fake_fini(&f->fake);
    free(f);
}

typedef struct reply {
    long status;
    char body[2048];
    size_t len;
    char written[32]; /* X-Prometheus-Remote-Write-Samples-Written, "" when absent */
} reply_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    reply_t *r = ud;
    size_t len = size * n;
    size_t room = sizeof(r->body) - 1 - r->len;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->len, p, take);
    r->len += take;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    reply_t *r = ud;
    size_t len = size * n;
    static const char key[] = "X-Prometheus-Remote-Write-Samples-Written: ";
    if (len > sizeof(key) - 1 && strncasecmp(p, key, sizeof(key) - 1) == 0) {
        size_t v = len - (sizeof(key) - 1);
        while (v > 0 &&
               (p[sizeof(key) - 1 + v - 1] == '\r' || p[sizeof(key) - 1 + v - 1] == '\n')) {
            v--;
        }
        if (v >= sizeof(r->written)) {
            v = sizeof(r->written) - 1;
        }
        memcpy(r->written, p + sizeof(key) - 1, v);
        r->written[v] = '\0';
    }
    return len;
}

/*
 * POSTs body with Prometheus' headers (ce/ct override Content-Encoding/Content-Type; "" removes
 * the header). method NULL is POST.
 */
static reply_t post_ex(const char *url, const void *body, size_t len, const char *ce,
                       const char *ct, const char *method)
{
    reply_t r;
    char h1[128], h2[160];
    memset(&r, 0, sizeof(r));
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    snprintf(h1, sizeof(h1), "Content-Encoding:%s%s", ce[0] != '\0' ? " " : "", ce);
    snprintf(h2, sizeof(h2), "Content-Type:%s%s", ct[0] != '\0' ? " " : "", ct);
    hdrs = curl_slist_append(hdrs, h1);
    hdrs = curl_slist_append(hdrs, h2);
    hdrs = curl_slist_append(hdrs, "X-Prometheus-Remote-Write-Version: 0.1.0");
    hdrs = curl_slist_append(hdrs, "User-Agent: Prometheus/2.42.0");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (method != NULL) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fail_msg("curl %s: %s", url, curl_easy_strerror(cc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return r;
}

static reply_t post(const char *url, const void *body, size_t len)
{
    return post_ex(url, body, len, "snappy", "application/x-protobuf", NULL);
}

static char *fixture_body(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.bin", RW_FIXTURES, name);
    return rw_read_file(path, len);
}

/* The value of the sample of family name whose label (lname=lvalue) matches, or -1. */
static double metric(tw_remote_write_handler_t *h, const char *name, const char *lname,
                     const char *lvalue)
{
    tw_mset_t *set = tw_mset_new();
    double v = -1;
    tw_remote_write_handler_collect(h, set);
    const tw_mfamily_t *f = tw_mset_find(set, name);
    assert_non_null(f);
    for (size_t i = 0; f != NULL && i < f->nsamples; i++) {
        const tw_msample_t *s = &f->samples[i];
        if (lname == NULL || (s->nlabels == 1 && strcmp(s->labels[0].name, lname) == 0 &&
                              strcmp(s->labels[0].value, lvalue) == 0)) {
            v = s->value;
        }
    }
    tw_mset_free(set);
    return v;
}

static void test_fixture_bodies_stored(void **state)
{
    (void)state;
    fixture_t *f = start(NULL, 0);
    size_t len = 0;
    char *body = fixture_body("handmade-one-sample", &len);
    reply_t r = post(f->url, body, len);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    assert_string_equal(r.written, "1");
    assert_int_equal(f->fake.nrecs, 1);
    assert_string_equal(f->fake.recs[0].labels,
                        "{__name__=\"pipeline_handmade_metric\", job=\"fixture\"}");
    assert_int_equal(f->fake.recs[0].t_ms, 1795665280000LL);
    assert_true(f->fake.recs[0].v == 42.0);
    free(body);

    body = fixture_body("small-03-stale-markers", &len);
    r = post(f->url, body, len);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.written, "28");
    assert_int_equal(f->fake.nrecs, 29);
    assert_string_equal(
        f->fake.recs[1].labels,
        "{__name__=\"fixture_http_requests_total\", code=\"200\", fixture=\"run2\", "
        "instance=\"127.0.0.1:19105\", job=\"openmetrics\", method=\"GET\"}");
    assert_true(f->fake.recs[1].v == 42.0);
    assert_int_equal(f->fake.recs[1].t_ms, 1795665225073LL);
    size_t stale = 0;
    for (size_t i = 0; i < f->fake.nrecs; i++) {
        if (rw_bits(f->fake.recs[i].v) == RW_STALE_NAN_BITS) {
            stale++;
            assert_string_equal(f->fake.recs[i].labels,
                                "{__name__=\"capture_requests_total\", fixture=\"run2\", "
                                "instance=\"127.0.0.1:19102\", job=\"capture\"}");
        }
    }
    assert_int_equal(stale, 1);
    free(body);

    /* Metadata only: 204, nothing appended, no transaction opened. */
    body = fixture_body("full-02-metadata", &len);
    r = post(f->url, body, len);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.written, "0");
    free(body);

    /* Prometheus 2.42 accepts a body sent without Content-Encoding/Content-Type; so do we. */
    body = fixture_body("full-01-samples", &len);
    r = post_ex(f->url, body, len, "", "", NULL);
    assert_int_equal(r.status, 204);
    assert_int_equal(f->fake.nrecs, 29 + 409);
    free(body);

    assert_int_equal(f->fake.begins, 3);
    assert_int_equal(f->fake.commits, 3);
    assert_int_equal(f->fake.rollbacks, 0);
    assert_int_equal(f->fake.bad_labels, 0);
    assert_true(metric(f->h, "tidewatch_remote_write_requests_total", "code", "204") == 4);
    assert_true(metric(f->h, "tidewatch_remote_write_samples_received_total", NULL, NULL) ==
                1 + 28 + 409);
    assert_true(metric(f->h, "tidewatch_remote_write_metadata_received_total", NULL, NULL) == 214);
    assert_true(metric(f->h, "tidewatch_remote_write_request_body_bytes_total", NULL, NULL) ==
                77 + 1096 + 10022 + 9136);
    assert_true(metric(f->h, "tidewatch_remote_write_request_decoded_bytes_total", NULL, NULL) ==
                74 + 3927 + 23303 + 65012);
    stop(f);
}

/* Sorting happens on the way in: an unsorted series reaches the sink sorted. */
static void test_unsorted_labels_sorted(void **state)
{
    (void)state;
    fixture_t *f = start(NULL, 0);
    tw_buf_t raw;
    tw_buf_init(&raw, 0);
    const char *kv[] = {"b", "2", "a", "1", "__name__", "test"};
    pb_one_series(&raw, kv, 3, 1.0, 1700000000000LL);
    size_t clen = 0;
    char *c = rw_snappy(raw.data, raw.len, &clen);
    reply_t r = post(f->url, c, clen);
    assert_int_equal(r.status, 204);
    assert_int_equal(f->fake.nrecs, 1);
    assert_string_equal(f->fake.recs[0].labels, "{__name__=\"test\", a=\"1\", b=\"2\"}");
    assert_int_equal(f->fake.bad_labels, 0);
    free(c);
    tw_buf_fini(&raw);
    stop(f);
}

static void check_sink_error(int rc, long want_status, const char *want_body, const char *reason)
{
    fixture_t *f = start(NULL, 0);
    f->fake.fail_rc = rc;
    f->fake.fail_at = 2; /* the third sample of the request */
    size_t len = 0;
    char *body = fixture_body("small-01-samples", &len);
    reply_t r = post(f->url, body, len);
    assert_int_equal(r.status, want_status);
    assert_string_equal(r.body, want_body);
    assert_string_equal(r.written, "");
    /* Prometheus 2.42: the first error rolls the whole request back. */
    assert_int_equal(f->fake.begins, 1);
    assert_int_equal(f->fake.rollbacks, 1);
    assert_int_equal(f->fake.commits, 0);
    assert_int_equal(f->fake.nrecs, 0);
    char code[8];
    snprintf(code, sizeof(code), "%ld", want_status);
    assert_true(metric(f->h, "tidewatch_remote_write_requests_total", "code", code) == 1);
    assert_true(metric(f->h, "tidewatch_remote_write_requests_total", "code", "204") == 0);
    assert_true(metric(f->h, "tidewatch_remote_write_requests_rejected_total", "reason", reason) ==
                1);
    assert_true(metric(f->h, "tidewatch_remote_write_samples_rejected_total", "reason", reason) ==
                26);
    assert_true(metric(f->h, "tidewatch_remote_write_samples_received_total", NULL, NULL) == 26);

    /* The sender's resend after the sink recovers is accepted in full. */
    f->fake.fail_rc = 0;
    r = post(f->url, body, len);
    assert_int_equal(r.status, 204);
    assert_int_equal(f->fake.nrecs, 26);
    free(body);
    stop(f);
}

#define SERIES3                                                                                    \
    "{__name__=\"fixture_http_requests_total\", code=\"500\", fixture=\"run2\", "                  \
    "instance=\"127.0.0.1:19105\", job=\"openmetrics\", method=\"POST\"}"

static void test_sink_out_of_order(void **state)
{
    (void)state;
    check_sink_error(TW_EOUTOFORDER, 400,
                     "out of order sample for series " SERIES3 " at timestamp 1795665145073\n",
                     "out_of_order");
}

static void test_sink_duplicate(void **state)
{
    (void)state;
    check_sink_error(TW_EDUPLICATE, 400,
                     "duplicate sample for timestamp for series " SERIES3
                     " at timestamp 1795665145073\n",
                     "duplicate_sample");
}

static void test_sink_too_old(void **state)
{
    (void)state;
    check_sink_error(TW_ETOOOLD, 400,
                     "out of bounds for series " SERIES3 " at timestamp 1795665145073\n",
                     "too_old");
}

static void test_sink_other_error(void **state)
{
    (void)state;
    check_sink_error(TW_EIO, 500,
                     "storage error for series " SERIES3
                     " at timestamp 1795665145073: fake sink refuses sample 2\n",
                     "storage");
}

static void test_commit_error(void **state)
{
    (void)state;
    fixture_t *f = start(NULL, 0);
    f->fake.commit_rc = TW_EIO;
    size_t len = 0;
    char *body = fixture_body("handmade-one-sample", &len);
    reply_t r = post(f->url, body, len);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body, "storage error: commit failed: fake sink cannot commit\n");
    assert_int_equal(f->fake.nrecs, 0);
    free(body);
    stop(f);
}

static void test_too_large(void **state)
{
    (void)state;
    /* The handler's own limit, below the server's: 413, counted here. */
    tw_remote_write_options_t o = {.limits = {.max_body_bytes = 512}};
    fixture_t *f = start(&o, 0);
    size_t len = 0;
    char *body = fixture_body("small-01-samples", &len); /* 939 bytes */
    reply_t r = post(f->url, body, len);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body, "request body of 939 bytes exceeds the limit of 512 bytes\n");
    assert_int_equal(f->fake.begins, 0);
    assert_true(metric(f->h, "tidewatch_remote_write_requests_total", "code", "413") == 1);
    assert_true(
        metric(f->h, "tidewatch_remote_write_requests_rejected_total", "reason", "too_large") == 1);
    stop(f);

    /* The decoded size limit: 400 (the body itself was small). */
    o = (tw_remote_write_options_t){.limits = {.max_decoded_bytes = 1000}};
    f = start(&o, 0);
    r = post(f->url, body, len);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "decoded body of 3656 bytes exceeds the limit of 1000 bytes\n");
    stop(f);

    /* The server's limit below ours: the server answers 413 before the handler runs. */
    f = start(NULL, 600);
    r = post(f->url, body, len);
    assert_int_equal(r.status, 413);
    assert_int_equal(f->fake.begins, 0);
    stop(f);
    free(body);
}

static void test_bad_bodies(void **state)
{
    (void)state;
    fixture_t *f = start(NULL, 0);
    reply_t r = post(f->url, "", 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "empty body: expected a snappy-compressed WriteRequest\n");

    r = post(f->url, "this is not snappy at all", 25);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "snappy: corrupt input\n");

    tw_buf_t raw;
    tw_buf_init(&raw, 0);
    const char *kv[] = {"job", "x"};
    pb_one_series(&raw, kv, 1, 1, 1);
    pb_one_series(&raw, kv, 1, 2, 2);
    size_t clen = 0;
    char *c = rw_snappy(raw.data, raw.len, &clen);
    r = post(f->url, c, clen);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "series {job=\"x\"} has no __name__ label\n");
    assert_int_equal(f->fake.begins, 0);
    assert_true(metric(f->h, "tidewatch_remote_write_requests_total", "code", "400") == 3);
    assert_true(
        metric(f->h, "tidewatch_remote_write_requests_rejected_total", "reason", "snappy") == 1);
    assert_true(metric(f->h, "tidewatch_remote_write_requests_rejected_total", "reason",
                       "empty_body") == 1);
    assert_true(metric(f->h, "tidewatch_remote_write_samples_rejected_total", "reason",
                       "missing_name") == 2);
    free(c);
    tw_buf_fini(&raw);

    /* GET: the router's 405 with Allow. */
    r = post_ex(f->url, NULL, 0, "", "", "GET");
    assert_int_equal(r.status, 405);
    stop(f);
}

static void test_media_types(void **state)
{
    (void)state;
    fixture_t *f = start(NULL, 0);
    size_t len = 0;
    char *body = fixture_body("handmade-one-sample", &len);
    reply_t r = post_ex(f->url, body, len, "gzip", "application/x-protobuf", NULL);
    assert_int_equal(r.status, 415);
    assert_string_equal(r.body, "unsupported Content-Encoding \"gzip\": expected snappy\n");
    r = post_ex(f->url, body, len, "snappy", "application/json", NULL);
    assert_int_equal(r.status, 415);
    assert_string_equal(r.body, "unsupported Content-Type \"application/json\": expected "
                                "application/x-protobuf\n");
    r = post_ex(f->url, body, len, "snappy",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request", NULL);
    assert_int_equal(r.status, 415);
    assert_string_equal(r.body,
                        "unsupported remote write message \"io.prometheus.write.v2.Request\": "
                        "this receiver speaks remote_write 1.0 (prometheus.WriteRequest)\n");
    assert_int_equal(f->fake.begins, 0);
    r = post_ex(f->url, body, len, "Snappy",
                "application/x-protobuf; proto=prometheus.WriteRequest", NULL);
    assert_int_equal(r.status, 204);
    assert_int_equal(f->fake.nrecs, 1);
    assert_true(metric(f->h, "tidewatch_remote_write_requests_total", "code", "415") == 3);
    assert_true(metric(f->h, "tidewatch_remote_write_requests_rejected_total", "reason",
                       "unsupported_media_type") == 3);
    free(body);
    stop(f);
}

static void test_register_args(void **state)
{
    (void)state;
    tw_error_t err;
    tw_http_server_options_t so = {.listen_address = "127.0.0.1:0"};
    tw_http_server_t *srv = tw_http_server_new(&so, &err);
    tw_remote_write_handler_t *h = (void *)1;
    tw_sink_t empty = {0};
    assert_int_equal(tw_remote_write_handler_register(srv, NULL, &empty, &h), TW_EINVAL);
    assert_null(h);
    assert_int_equal(tw_remote_write_handler_register(NULL, NULL, &empty, &h), TW_EINVAL);
    tw_remote_write_handler_free(NULL);
    tw_http_server_free(srv);

    /* A custom path. */
    tw_remote_write_options_t o = {.path = "/receive"};
    fixture_t *f = start(&o, 0);
    size_t len = 0;
    char *body = fixture_body("handmade-one-sample", &len);
    reply_t r = post(f->url, body, len);
    assert_int_equal(r.status, 204);
    assert_int_equal(f->fake.nrecs, 1);
    free(body);
    stop(f);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_bodies_stored),
        cmocka_unit_test(test_unsorted_labels_sorted),
        cmocka_unit_test(test_sink_out_of_order),
        cmocka_unit_test(test_sink_duplicate),
        cmocka_unit_test(test_sink_too_old),
        cmocka_unit_test(test_sink_other_error),
        cmocka_unit_test(test_commit_error),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_media_types),
        cmocka_unit_test(test_register_args),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
