/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_remote_decode.c - the remote_write 1.0 decoder: every body Prometheus 2.42 sent in
 * shared/conformance/fixtures/remote-write/ decoded and compared, series by series and sample by
 * sample, with its .expected.json; hand-built bodies for the label rules (sorting, empty values,
 * duplicates, names, UTF-8), special values (NaN, the stale marker, infinities), unknown fields,
 * metadata, and every malformed or oversized input with its reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collector/remote/remote.h"
#include "rw_test_util.h"

/* ---- fixtures ------------------------------------------------------------------------- */

static double json_value(const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "StaleNaN") == 0) {
            return rw_from_bits(RW_STALE_NAN_BITS);
        }
        if (strcmp(s, "NaN") == 0) {
            return NAN;
        }
        if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) {
            return INFINITY;
        }
        if (strcmp(s, "-Inf") == 0) {
            return -INFINITY;
        }
        fail_msg("unexpected value string %s", s);
    }
    return json_number_value(v);
}

static tw_metric_type_t md_type_of(const char *s)
{
    static const struct {
        const char *name;
        tw_metric_type_t t;
    } map[] = {{"UNKNOWN", TW_MTYPE_UNTYPED}, {"COUNTER", TW_MTYPE_COUNTER},
               {"GAUGE", TW_MTYPE_GAUGE},     {"HISTOGRAM", TW_MTYPE_HISTOGRAM},
               {"SUMMARY", TW_MTYPE_SUMMARY}, {"GAUGEHISTOGRAM", TW_MTYPE_GAUGE_HISTOGRAM},
               {"INFO", TW_MTYPE_INFO},       {"STATESET", TW_MTYPE_STATESET}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].name, s) == 0) {
            return map[i].t;
        }
    }
    fail_msg("unexpected metadata type %s", s);
    return TW_MTYPE_UNTYPED;
}

/*
 * Decodes fixture <name>.bin and compares everything with <name>.expected.json. Returns the
 * request for further spot checks (caller frees).
 */
static tw_remote_write_request_t *check_fixture(const char *name, size_t want_series,
                                                size_t want_samples, size_t want_metadata)
{
    char path[512];
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/%s.bin", RW_FIXTURES, name);
    char *body = rw_read_file(path, &len);
    snprintf(path, sizeof(path), "%s/%s.expected.json", RW_FIXTURES, name);
    json_error_t jerr;
    json_t *exp = json_load_file(path, 0, &jerr);
    assert_non_null(exp);

    tw_remote_write_request_t *r = NULL;
    tw_remote_write_reject_t rej;
    tw_error_t err;
    int rc = tw_remote_write_decode(body, len, NULL, &r, &rej, &err);
    if (rc != 0) {
        fail_msg("%s: %s", name, err.msg);
    }
    assert_int_equal(rej.reason, TW_REMOTE_WRITE_OK);
    assert_int_equal(r->nseries, want_series);
    assert_int_equal(r->nsamples, want_samples);
    assert_int_equal(r->nmetadata, want_metadata);
    assert_int_equal(r->nexemplars, 0);
    assert_int_equal(r->nhistograms, 0);
    assert_int_equal(r->decoded_bytes,
                     (size_t)json_integer_value(json_object_get(exp, "uncompressed_bytes")));

    json_t *jts = json_object_get(exp, "timeseries");
    assert_int_equal(json_array_size(jts), r->nseries);
    for (size_t i = 0; i < r->nseries; i++) {
        const tw_remote_series_t *s = &r->series[i];
        json_t *jl = json_object_get(json_array_get(jts, i), "labels");
        json_t *js = json_object_get(json_array_get(jts, i), "samples");
        assert_int_equal(s->nlabels, json_array_size(jl));
        for (size_t k = 0; k < s->nlabels; k++) {
            json_t *pair = json_array_get(jl, k);
            assert_string_equal(s->labels[k].name, json_string_value(json_array_get(pair, 0)));
            assert_string_equal(s->labels[k].value, json_string_value(json_array_get(pair, 1)));
        }
        assert_int_equal(s->nsamples, json_array_size(js));
        for (size_t k = 0; k < s->nsamples; k++) {
            json_t *smp = json_array_get(js, k);
            double want = json_value(json_object_get(smp, "value"));
            int64_t t = json_integer_value(json_object_get(smp, "timestamp_ms"));
            assert_int_equal(s->samples[k].t_ms, t);
            if (isnan(want)) {
                assert_true(isnan(s->samples[k].v));
                /* Stale markers keep their exact bits; other NaNs must not be stale. */
                assert_int_equal(rw_bits(s->samples[k].v) == RW_STALE_NAN_BITS,
                                 rw_bits(want) == RW_STALE_NAN_BITS);
            } else {
                assert_true(rw_bits(s->samples[k].v) == rw_bits(want));
            }
        }
    }
    json_t *jmd = json_object_get(exp, "metadata");
    assert_int_equal(json_array_size(jmd), r->nmetadata);
    for (size_t i = 0; i < r->nmetadata; i++) {
        json_t *m = json_array_get(jmd, i);
        assert_int_equal(r->metadata[i].type,
                         md_type_of(json_string_value(json_object_get(m, "type"))));
        assert_string_equal(r->metadata[i].family,
                            json_string_value(json_object_get(m, "metric_family_name")));
        assert_string_equal(r->metadata[i].help, json_string_value(json_object_get(m, "help")));
        assert_string_equal(r->metadata[i].unit, json_string_value(json_object_get(m, "unit")));
    }
    json_decref(exp);
    free(body);
    return r;
}

static void test_fixture_handmade(void **state)
{
    (void)state;
    tw_remote_write_request_t *r = check_fixture("handmade-one-sample", 1, 1, 0);
    assert_int_equal(r->series[0].nlabels, 2);
    assert_string_equal(r->series[0].labels[0].name, "__name__");
    assert_string_equal(r->series[0].labels[0].value, "pipeline_handmade_metric");
    assert_string_equal(r->series[0].labels[1].name, "job");
    assert_string_equal(r->series[0].labels[1].value, "fixture");
    assert_int_equal(r->series[0].samples[0].t_ms, 1795665280000LL);
    assert_true(r->series[0].samples[0].v == 42.0);
    assert_int_equal(r->decoded_bytes, 74);
    tw_remote_write_request_free(r);
}

static void test_fixture_full_samples(void **state)
{
    (void)state;
    tw_remote_write_request_t *r = check_fixture("full-01-samples", 409, 409, 0);
    assert_string_equal(r->series[0].labels[0].value, "capture_requests_total");
    assert_string_equal(r->series[0].labels[2].value, "127.0.0.1:19102");
    assert_int_equal(r->series[0].samples[0].t_ms, 1795664985597LL);
    assert_true(r->series[0].samples[0].v == 1.0);
    assert_string_equal(r->series[408].labels[0].value, "scrape_series_added");
    assert_true(r->series[408].samples[0].v == 398.0);
    size_t nan = 0;
    for (size_t i = 0; i < r->nseries; i++) {
        nan += isnan(r->series[i].samples[0].v) ? 1 : 0;
    }
    assert_int_equal(nan, 9);
    tw_remote_write_request_free(r);

    r = check_fixture("full-03-samples", 491, 491, 0);
    assert_string_equal(r->series[0].labels[0].value, "ALERTS");
    assert_string_equal(r->series[0].labels[1].name, "alertname");
    assert_string_equal(r->series[0].labels[1].value, "AlwaysFiring");
    assert_int_equal(r->series[0].samples[0].t_ms, 1795665004293LL);
    assert_true(r->series[490].samples[0].v == 48.0);
    tw_remote_write_request_free(r);

    r = check_fixture("small-01-samples", 26, 26, 0);
    assert_string_equal(r->series[0].labels[0].value, "fixture_http_requests_total");
    assert_string_equal(r->series[0].labels[5].name, "method");
    assert_string_equal(r->series[0].labels[5].value, "GET");
    assert_true(r->series[0].samples[0].v == 42.0);
    assert_string_equal(r->series[25].labels[0].value, "up");
    assert_int_equal(r->series[25].samples[0].t_ms, 1795665146698LL);
    tw_remote_write_request_free(r);
}

static void test_fixture_stale_markers(void **state)
{
    (void)state;
    tw_remote_write_request_t *r = check_fixture("small-03-stale-markers", 28, 28, 0);
    size_t stale = 0;
    for (size_t i = 0; i < r->nseries; i++) {
        if (rw_bits(r->series[i].samples[0].v) == RW_STALE_NAN_BITS) {
            stale++;
            assert_string_equal(r->series[i].labels[0].value, "capture_requests_total");
            assert_int_equal(r->series[i].samples[0].t_ms, 1795665226698LL);
        }
    }
    assert_int_equal(stale, 1);
    assert_string_equal(r->series[27].labels[0].value, "ALERTS_FOR_STATE");
    assert_true(r->series[27].samples[0].v == 1795665141.0);
    tw_remote_write_request_free(r);
}

static void test_fixture_metadata(void **state)
{
    (void)state;
    tw_remote_write_request_t *r = check_fixture("full-02-metadata", 0, 0, 214);
    assert_int_equal(r->metadata[0].type, TW_MTYPE_GAUGE);
    assert_string_equal(r->metadata[0].family, "prometheus_tsdb_blocks_loaded");
    assert_string_equal(r->metadata[0].help, "Number of currently loaded data blocks");
    assert_string_equal(r->metadata[0].unit, "");
    assert_int_equal(r->metadata[213].type, TW_MTYPE_COUNTER);
    assert_string_equal(r->metadata[213].family, "capture_requests_total");
    tw_remote_write_request_free(r);

    r = check_fixture("small-02-metadata", 0, 0, 221);
    assert_string_equal(r->metadata[0].family, "go_goroutines");
    assert_string_equal(r->metadata[220].family, "fixture_desired_replicas");
    assert_string_equal(r->metadata[220].help, "Desired replicas per deployment.");
    tw_remote_write_request_free(r);
}

/* ---- hand-built bodies ------------------------------------------------------------------ */

typedef struct result {
    int rc;
    tw_remote_write_reject_t rej;
    tw_error_t err;
    tw_remote_write_request_t *r;
} result_t;

static result_t decode_raw(const tw_buf_t *raw, const tw_remote_write_limits_t *lim)
{
    result_t res;
    size_t clen = 0;
    char *c = rw_snappy(raw->data != NULL ? raw->data : "", raw->len, &clen);
    memset(&res, 0, sizeof(res));
    res.rc = tw_remote_write_decode(c, clen, lim, &res.r, &res.rej, &res.err);
    free(c);
    if (res.rc != 0) {
        assert_null(res.r);
    }
    return res;
}

static void expect_reject(const tw_buf_t *raw, const tw_remote_write_limits_t *lim, int code,
                          tw_remote_write_reason_t reason, const char *msg)
{
    result_t res = decode_raw(raw, lim);
    assert_int_equal(res.rc, code);
    assert_int_equal(res.rej.reason, reason);
    assert_string_equal(res.err.msg, msg);
}

static void test_valid_label_rules(void **state)
{
    (void)state;
    tw_buf_t raw;
    tw_buf_init(&raw, 0);
    /* Unsorted labels are sorted; an empty value is dropped (as Prometheus' head does). */
    const char *kv[] = {"zone", "b",        "job",        "api",      "empty",
                        "",     "__name__", "http_total", "instance", "h:1"};
    pb_one_series(&raw, kv, 5, 7.5, 1700000000123LL);
    result_t res = decode_raw(&raw, NULL);
    assert_int_equal(res.rc, 0);
    const tw_remote_series_t *s = &res.r->series[0];
    assert_int_equal(s->nlabels, 4);
    assert_string_equal(s->labels[0].name, "__name__");
    assert_string_equal(s->labels[1].name, "instance");
    assert_string_equal(s->labels[2].name, "job");
    assert_string_equal(s->labels[3].name, "zone");
    assert_string_equal(s->labels[3].value, "b");
    assert_true(s->samples[0].v == 7.5);
    assert_int_equal(s->samples[0].t_ms, 1700000000123LL);
    char set[256];
    assert_string_equal(tw_remote_labels_format(s->labels, s->nlabels, set, sizeof(set)),
                        "{__name__=\"http_total\", instance=\"h:1\", job=\"api\", zone=\"b\"}");
    tw_remote_write_request_free(res.r);

    /* UTF-8 values, colons in metric names, escaped output. */
    tw_buf_reset(&raw);
    const char *kv2[] = {"__name__", "ns:rule:rate5m", "path", "/caf\xc3\xa9 \"q\"\n"};
    pb_one_series(&raw, kv2, 2, 1, 2);
    res = decode_raw(&raw, NULL);
    assert_int_equal(res.rc, 0);
    assert_string_equal(res.r->series[0].labels[1].value, "/caf\xc3\xa9 \"q\"\n");
    assert_string_equal(tw_remote_labels_format(res.r->series[0].labels, 2, set, sizeof(set)),
                        "{__name__=\"ns:rule:rate5m\", path=\"/caf\xc3\xa9 \\\"q\\\"\\n\"}");
    tw_remote_write_request_free(res.r);

    /* A short buffer cuts the set visibly. */
    const tw_label_t many[] = {{"__name__", "a_very_long_metric_name"}, {"job", "jjjjjjjjjjjj"}};
    assert_string_equal(tw_remote_labels_format(many, 2, set, 24), "{__name__=\"a_very_l...}");
    tw_buf_fini(&raw);
}

static void test_special_values_and_fields(void **state)
{
    (void)state;
    tw_buf_t raw, ts, sub;
    tw_buf_init(&raw, 0);
    tw_buf_init(&ts, 0);
    tw_buf_init(&sub, 0);
    pb_label(&ts, "__name__", "m");
    pb_sample(&ts, rw_from_bits(RW_STALE_NAN_BITS), 10);
    pb_sample(&ts, NAN, 20);
    pb_sample(&ts, INFINITY, 30);
    pb_sample(&ts, -INFINITY, -40); /* negative timestamps take 10 varint bytes */
    /* A sample with both fields at their default: nothing on the wire but the empty message. */
    pb_msg(&ts, 2, &sub);
    /* A sample with an unknown field 7 (varint) that must be skipped. */
    pb_double(&sub, 1, 3.25);
    pb_key(&sub, 7, 0);
    pb_varint(&sub, 99);
    pb_key(&sub, 2, 0);
    pb_varint(&sub, 50);
    pb_msg(&ts, 2, &sub);
    /* Two exemplars and a native histogram: counted, not kept. */
    pb_label(&sub, "trace_id", "abc");
    tw_buf_t ex;
    tw_buf_init(&ex, 0);
    pb_msg(&ex, 1, &sub);
    pb_double(&ex, 2, 1.5);
    pb_msg(&ts, 3, &ex);
    pb_double(&ex, 2, 2.5);
    pb_msg(&ts, 3, &ex);
    pb_key(&sub, 1, 0); /* count_int */
    pb_varint(&sub, 3);
    pb_key(&sub, 4, 0); /* schema, sint32 */
    pb_varint(&sub, 6);
    pb_key(&sub, 15, 0);
    pb_varint(&sub, 60);
    pb_msg(&ts, 4, &sub);
    pb_msg(&raw, 1, &ts);
    /* Unknown top-level field 2 (Cortex's source, reserved) is skipped. */
    pb_key(&raw, 2, 0);
    pb_varint(&raw, 1);
    /* Metadata: a counter with help and unit, and an unknown enum value. */
    pb_key(&sub, 1, 0);
    pb_varint(&sub, 1);
    pb_str(&sub, 2, "http_requests_total");
    pb_str(&sub, 4, "Requests.");
    pb_str(&sub, 5, "requests");
    pb_msg(&raw, 3, &sub);
    pb_key(&sub, 1, 0);
    pb_varint(&sub, 99);
    pb_str(&sub, 2, "odd");
    pb_msg(&raw, 3, &sub);

    result_t res = decode_raw(&raw, NULL);
    if (res.rc != 0) {
        fail_msg("%s", res.err.msg);
    }
    const tw_remote_write_request_t *r = res.r;
    assert_int_equal(r->nseries, 1);
    assert_int_equal(r->nsamples, 6);
    assert_int_equal(r->nexemplars, 2);
    assert_int_equal(r->nhistograms, 1);
    const tw_remote_series_t *s = &r->series[0];
    assert_true(rw_bits(s->samples[0].v) == RW_STALE_NAN_BITS);
    assert_true(isnan(s->samples[1].v) && rw_bits(s->samples[1].v) != RW_STALE_NAN_BITS);
    assert_true(isinf(s->samples[2].v) && s->samples[2].v > 0);
    assert_true(isinf(s->samples[3].v) && s->samples[3].v < 0);
    assert_int_equal(s->samples[3].t_ms, -40);
    assert_true(s->samples[4].v == 0.0);
    assert_int_equal(s->samples[4].t_ms, 0);
    assert_true(s->samples[5].v == 3.25);
    assert_int_equal(s->samples[5].t_ms, 50);
    assert_int_equal(r->nmetadata, 2);
    assert_int_equal(r->metadata[0].type, TW_MTYPE_COUNTER);
    assert_string_equal(r->metadata[0].family, "http_requests_total");
    assert_string_equal(r->metadata[0].help, "Requests.");
    assert_string_equal(r->metadata[0].unit, "requests");
    assert_int_equal(r->metadata[1].type, TW_MTYPE_UNTYPED);
    assert_string_equal(r->metadata[1].help, "");
    tw_remote_write_request_free(res.r);
    tw_buf_fini(&raw);
    tw_buf_fini(&ts);
    tw_buf_fini(&sub);
    tw_buf_fini(&ex);
}

static void test_empty_request(void **state)
{
    (void)state;
    tw_buf_t raw;
    tw_buf_init(&raw, 0);
    result_t res = decode_raw(&raw, NULL); /* snappy of 0 bytes: "\0" */
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.r->nseries, 0);
    assert_int_equal(res.r->nmetadata, 0);
    assert_int_equal(res.r->decoded_bytes, 0);
    tw_remote_write_request_free(res.r);
    tw_buf_fini(&raw);
}

static void test_label_rejections(void **state)
{
    (void)state;
    tw_buf_t raw;
    tw_buf_init(&raw, 0);

    const char *noname[] = {"job", "x", "instance", "i"};
    pb_one_series(&raw, noname, 2, 1, 1);
    expect_reject(&raw, NULL, TW_EINVAL, TW_REMOTE_WRITE_MISSING_NAME,
                  "series {instance=\"i\", job=\"x\"} has no __name__ label");
    tw_buf_reset(&raw);

    /* __name__ with an empty value is the same as no __name__. */
    const char *emptyname[] = {"__name__", "", "job", "x"};
    pb_one_series(&raw, emptyname, 2, 1, 1);
    expect_reject(&raw, NULL, TW_EINVAL, TW_REMOTE_WRITE_MISSING_NAME,
                  "series {job=\"x\"} has no __name__ label");
    tw_buf_reset(&raw);

    const char *dup[] = {"__name__", "up", "a", "1", "a", "2"};
    pb_one_series(&raw, dup, 3, 1, 1);
    expect_reject(&raw, NULL, TW_EINVAL, TW_REMOTE_WRITE_DUPLICATE_LABEL,
                  "duplicate label name \"a\" in series {__name__=\"up\", a=\"1\", a=\"2\"}");
    tw_buf_reset(&raw);

    const char *badname[] = {"__name__", "up", "a-b", "1"};
    pb_one_series(&raw, badname, 2, 1, 1);
    expect_reject(&raw, NULL, TW_EINVAL, TW_REMOTE_WRITE_INVALID_LABEL_NAME,
                  "invalid label name \"a-b\" in series 0: expected [a-zA-Z_][a-zA-Z0-9_]*");
    tw_buf_reset(&raw);

    const char *digit[] = {"__name__", "up", "1a", "1"};
    pb_one_series(&raw, digit, 2, 1, 1);
    expect_reject(&raw, NULL, TW_EINVAL, TW_REMOTE_WRITE_INVALID_LABEL_NAME,
                  "invalid label name \"1a\" in series 0: expected [a-zA-Z_][a-zA-Z0-9_]*");
    tw_buf_reset(&raw);

    const char *emptyl[] = {"__name__", "up", "", "v"};
    pb_one_series(&raw, emptyl, 2, 1, 1);
    expect_reject(&raw, NULL, TW_EINVAL, TW_REMOTE_WRITE_INVALID_LABEL_NAME,
                  "invalid label name \"\" in series 0: expected [a-zA-Z_][a-zA-Z0-9_]*");
    tw_buf_reset(&raw);

    const char *metric[] = {"__name__", "1up"};
    pb_one_series(&raw, metric, 1, 1, 1);
    expect_reject(&raw, NULL, TW_EINVAL, TW_REMOTE_WRITE_INVALID_NAME,
                  "invalid metric name \"1up\" in series {__name__=\"1up\"}: expected "
                  "[a-zA-Z_:][a-zA-Z0-9_:]*");
    tw_buf_reset(&raw);

    const char *utf8[] = {"__name__", "up", "v", "\xc3\x28"};
    pb_one_series(&raw, utf8, 2, 1, 1);
    expect_reject(&raw, NULL, TW_EINVAL, TW_REMOTE_WRITE_INVALID_LABEL_VALUE,
                  "invalid value for label \"v\" in series 0: not UTF-8 or contains a NUL byte");
    tw_buf_reset(&raw);

    /* A NUL inside a value: a `string` decoder would silently cut it to "a". */
    tw_buf_t ts, l;
    tw_buf_init(&ts, 0);
    tw_buf_init(&l, 0);
    pb_label(&ts, "__name__", "up");
    pb_str(&l, 1, "v");
    pb_bytes(&l, 2, "a\0b", 3);
    pb_msg(&ts, 1, &l);
    pb_sample(&ts, 1, 1);
    pb_msg(&raw, 1, &ts);
    expect_reject(&raw, NULL, TW_EINVAL, TW_REMOTE_WRITE_INVALID_LABEL_VALUE,
                  "invalid value for label \"v\" in series 0: not UTF-8 or contains a NUL byte");
    tw_buf_reset(&raw);

    /* A NUL in a label name. */
    pb_label(&ts, "__name__", "up");
    pb_bytes(&l, 1, "a\0", 2);
    pb_str(&l, 2, "x");
    pb_msg(&ts, 1, &l);
    pb_msg(&raw, 1, &ts);
    expect_reject(&raw, NULL, TW_EINVAL, TW_REMOTE_WRITE_INVALID_LABEL_NAME,
                  "invalid label name \"a\\x00\" in series 0: expected [a-zA-Z_][a-zA-Z0-9_]*");
    tw_buf_reset(&raw);

    /* No labels at all; the second series is the bad one. */
    const char *ok[] = {"__name__", "up"};
    pb_one_series(&raw, ok, 1, 1, 1);
    pb_sample(&ts, 1, 1);
    pb_msg(&raw, 1, &ts);
    result_t res = decode_raw(&raw, NULL);
    assert_int_equal(res.rc, TW_EINVAL);
    assert_int_equal(res.rej.reason, TW_REMOTE_WRITE_NO_LABELS);
    assert_int_equal(res.rej.nsamples, 2);
    assert_string_equal(res.err.msg, "series 1 has no labels");
    tw_buf_reset(&raw);

    /* Too many labels for the configured limit. */
    const char *three[] = {"__name__", "up", "a", "1", "b", "2"};
    pb_one_series(&raw, three, 3, 1, 1);
    tw_remote_write_limits_t lim = {.max_labels_per_series = 2};
    expect_reject(&raw, &lim, TW_ELIMIT, TW_REMOTE_WRITE_TOO_LARGE,
                  "series 0 has 3 labels, more than the limit of 2");
    lim.max_labels_per_series = 3;
    res = decode_raw(&raw, &lim);
    assert_int_equal(res.rc, 0);
    tw_remote_write_request_free(res.r);

    tw_buf_fini(&raw);
    tw_buf_fini(&ts);
    tw_buf_fini(&l);
}

static void expect_body_reject(const void *body, size_t len, const tw_remote_write_limits_t *lim,
                               int code, tw_remote_write_reason_t reason, const char *msg)
{
    tw_remote_write_request_t *r = (void *)1;
    tw_remote_write_reject_t rej;
    tw_error_t err;
    assert_int_equal(tw_remote_write_decode(body, len, lim, &r, &rej, &err), code);
    assert_null(r);
    assert_int_equal(rej.reason, reason);
    assert_string_equal(err.msg, msg);
    assert_int_equal(rej.nsamples, 0);
    /* NULL reject and err are allowed. */
    assert_int_equal(tw_remote_write_decode(body, len, lim, &r, NULL, NULL), code);
}

static void test_malformed_bodies(void **state)
{
    (void)state;
    expect_body_reject("", 0, NULL, TW_EPARSE, TW_REMOTE_WRITE_EMPTY_BODY,
                       "empty body: expected a snappy-compressed WriteRequest");
    /* An unterminated length varint. */
    expect_body_reject("\xff\xff\xff\xff\xff\xff", 6, NULL, TW_EPARSE, TW_REMOTE_WRITE_SNAPPY,
                       "snappy: corrupt input: no valid block-format length header");

    /* The raw (uncompressed) protobuf of the handmade fixture, as a sender that forgot snappy
     * would send it: Prometheus answers "snappy: corrupt input". */
    char path[512];
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/handmade-one-sample.bin", RW_FIXTURES);
    char *body = rw_read_file(path, &len);
    size_t rawlen = 0;
    assert_int_equal(snappy_uncompressed_length(body, len, &rawlen), SNAPPY_OK);
    char *raw = tw_xmalloc(rawlen);
    assert_int_equal(snappy_uncompress(body, len, raw, &rawlen), SNAPPY_OK);
    expect_body_reject(raw, rawlen, NULL, TW_EPARSE, TW_REMOTE_WRITE_SNAPPY,
                       "snappy: corrupt input");

    /* The compressed body cut short. */
    expect_body_reject(body, len - 10, NULL, TW_EPARSE, TW_REMOTE_WRITE_SNAPPY,
                       "snappy: corrupt input");

    /* A truncated protobuf, correctly compressed. */
    size_t clen = 0;
    char *c = rw_snappy(raw, rawlen - 5, &clen);
    expect_body_reject(c, clen, NULL, TW_EPARSE, TW_REMOTE_WRITE_PROTOBUF,
                       "protobuf: cannot parse WriteRequest (69 bytes): truncated or malformed "
                       "message, or a field with the wrong wire type");
    free(c);

    /* Wrong wire type: timeseries (field 1) as a varint. */
    c = rw_snappy("\x08\x01", 2, &clen);
    expect_body_reject(c, clen, NULL, TW_EPARSE, TW_REMOTE_WRITE_PROTOBUF,
                       "protobuf: cannot parse WriteRequest (2 bytes): truncated or malformed "
                       "message, or a field with the wrong wire type");
    free(c);
    /* Wrong wire type inside a Sample: value (field 1) as a varint. */
    c = rw_snappy("\x0a\x04\x12\x02\x08\x01", 6, &clen);
    expect_body_reject(c, clen, NULL, TW_EPARSE, TW_REMOTE_WRITE_PROTOBUF,
                       "protobuf: cannot parse WriteRequest (6 bytes): truncated or malformed "
                       "message, or a field with the wrong wire type");
    free(c);

    /* Oversized decoded length: the header claims 1 GiB; refused before any allocation. */
    expect_body_reject("\x80\x80\x80\x80\x04\x00\x41", 7, NULL, TW_ELIMIT,
                       TW_REMOTE_WRITE_TOO_LARGE,
                       "decoded body of 1073741824 bytes exceeds the limit of 67108864 bytes");
    tw_remote_write_limits_t lim = {.max_decoded_bytes = 60};
    expect_body_reject(body, len, &lim, TW_ELIMIT, TW_REMOTE_WRITE_TOO_LARGE,
                       "decoded body of 74 bytes exceeds the limit of 60 bytes");
    lim = (tw_remote_write_limits_t){.max_body_bytes = 50};
    expect_body_reject(body, len, &lim, TW_ELIMIT, TW_REMOTE_WRITE_TOO_LARGE,
                       "request body of 77 bytes exceeds the limit of 50 bytes");
    free(raw);
    free(body);
}

/* Many empty samples: 2 wire bytes each, but ~48 bytes of protobuf-c structs. */
static void test_decode_memory_limit(void **state)
{
    (void)state;
    tw_buf_t raw, ts;
    tw_buf_init(&raw, 0);
    tw_buf_init(&ts, 0);
    pb_label(&ts, "__name__", "m");
    for (int i = 0; i < 5000; i++) {
        tw_buf_append(&ts, "\x12\x00", 2);
    }
    pb_msg(&raw, 1, &ts);
    tw_remote_write_limits_t lim = {.max_decode_memory_bytes = 64 * 1024};
    expect_reject(&raw, &lim, TW_ELIMIT, TW_REMOTE_WRITE_TOO_LARGE,
                  "request too large: decoding it needs more than 65536 bytes of memory");
    lim.max_decode_memory_bytes = 0; /* default: 8 x decoded size is plenty */
    result_t res = decode_raw(&raw, &lim);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.r->nsamples, 5000);
    tw_remote_write_request_free(res.r);

    /* 1,000 empty metadata entries: each costs its record and three name/help/unit spans
     * (80 bytes), more than 64 KiB in all, though the records alone (32 bytes) would fit. */
    tw_buf_reset(&raw);
    for (int i = 0; i < 1000; i++) {
        tw_buf_append(&raw, "\x1a\x00", 2);
    }
    lim.max_decode_memory_bytes = 64 * 1024;
    expect_reject(&raw, &lim, TW_ELIMIT, TW_REMOTE_WRITE_TOO_LARGE,
                  "request too large: decoding it needs more than 65536 bytes of memory");
    lim.max_decode_memory_bytes = 0;
    res = decode_raw(&raw, &lim);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.r->nmetadata, 1000);
    tw_remote_write_request_free(res.r);
    tw_buf_fini(&raw);
    tw_buf_fini(&ts);
}

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(tw_remote_write_reason_name(TW_REMOTE_WRITE_OK), "ok");
    assert_string_equal(tw_remote_write_reason_name(TW_REMOTE_WRITE_OUT_OF_ORDER), "out_of_order");
    assert_string_equal(tw_remote_write_reason_name(TW_REMOTE_WRITE_INVALID_NAME),
                        "invalid_metric_name");
    assert_string_equal(tw_remote_write_reason_name(TW_REMOTE_WRITE_REASON_COUNT), "unknown");
    for (int r = 0; r < TW_REMOTE_WRITE_REASON_COUNT; r++) {
        assert_non_null(tw_remote_write_reason_name((tw_remote_write_reason_t)r));
    }
    tw_remote_write_request_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_handmade),
        cmocka_unit_test(test_fixture_full_samples),
        cmocka_unit_test(test_fixture_stale_markers),
        cmocka_unit_test(test_fixture_metadata),
        cmocka_unit_test(test_valid_label_rules),
        cmocka_unit_test(test_special_values_and_fields),
        cmocka_unit_test(test_empty_request),
        cmocka_unit_test(test_label_rejections),
        cmocka_unit_test(test_malformed_bodies),
        cmocka_unit_test(test_decode_memory_limit),
        cmocka_unit_test(test_reason_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
