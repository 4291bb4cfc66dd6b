/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_openmetrics_conformance.c - runs every OpenMetrics parser conformance case in
 * ../shared/conformance/openmetrics/parsers/ (read at run time) through our parser: in strict
 * mode good cases must parse and bad ones must fail; in lenient (scrape) mode exactly the good
 * cases plus the documented list below must parse. A failure lists every mismatching case.
 * Also parses the Prometheus textparse/promtool inputs in the format each one is in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/expfmt/expfmt.h"
#include "common/buf.h"
#include "common/error.h"

#define CASES TW_SHARED "/conformance/openmetrics/parsers"
#define OMDIR TW_SHARED "/conformance/openmetrics"

/*
 * The bad cases the lenient mode accepts: what Prometheus 2.42's OpenMetrics scrape parser
 * accepts (measured: a real Prometheus 2.42 scraped each case as a target served with
 * Content-Type application/openmetrics-text; version=1.0.0, and these were the bad cases with
 * up == 1). docs/formats/exposition.md has the same list by category.
 */
static const struct {
    const char *name;
    const char *reason;
} lenient_accepts[] = {
    {"bad_clashing_names_0", "Prometheus 2.42 does not track names across families"},
    {"bad_clashing_names_1", "Prometheus 2.42 does not track names across families"},
    {"bad_clashing_names_2", "Prometheus 2.42 does not track names across families"},
    {"bad_counter_values_0", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                             "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_1", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                             "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_10", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                              "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_11", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                              "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_12", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                              "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_13", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                              "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_14", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                              "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_15", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                              "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_16", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                              "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_17", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                              "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_18", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                              "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_19", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                              "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_2", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                             "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_3", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                             "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_4", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                             "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_5", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                             "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_6", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                             "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_7", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                             "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_8", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                             "_total/_sum/_count/_bucket)"},
    {"bad_counter_values_9", "Prometheus 2.42 does not check counter-like values (NaN or negative "
                             "_total/_sum/_count/_bucket)"},
    {"bad_exemplar_complex_chars",
     "Prometheus 2.42 does not limit exemplar label length (128 code points)"},
    {"bad_exemplars_6", "Prometheus 2.42 does not limit exemplar label length (128 code points)"},
    {"bad_exemplars_on_unallowed_samples_2",
     "Prometheus 2.42 allows exemplars on any sample named *_bucket or *_total, whatever the type"},
    {"bad_grouping_or_ordering_0", "Prometheus 2.42 does not check grouping or timestamp order "
                                   "(storage rejects out-of-order samples later)"},
    {"bad_grouping_or_ordering_10", "Prometheus 2.42 does not check grouping or timestamp order "
                                    "(storage rejects out-of-order samples later)"},
    {"bad_grouping_or_ordering_2", "Prometheus 2.42 does not check grouping or timestamp order "
                                   "(storage rejects out-of-order samples later)"},
    {"bad_grouping_or_ordering_3", "Prometheus 2.42 does not check grouping or timestamp order "
                                   "(storage rejects out-of-order samples later)"},
    {"bad_grouping_or_ordering_4", "Prometheus 2.42 does not check grouping or timestamp order "
                                   "(storage rejects out-of-order samples later)"},
    {"bad_grouping_or_ordering_5", "Prometheus 2.42 does not check grouping or timestamp order "
                                   "(storage rejects out-of-order samples later)"},
    {"bad_grouping_or_ordering_6", "Prometheus 2.42 does not check grouping or timestamp order "
                                   "(storage rejects out-of-order samples later)"},
    {"bad_grouping_or_ordering_7", "Prometheus 2.42 does not check grouping or timestamp order "
                                   "(storage rejects out-of-order samples later)"},
    {"bad_grouping_or_ordering_8", "Prometheus 2.42 does not check grouping or timestamp order "
                                   "(storage rejects out-of-order samples later)"},
    {"bad_grouping_or_ordering_9", "Prometheus 2.42 does not check grouping or timestamp order "
                                   "(storage rejects out-of-order samples later)"},
    {"bad_histograms_0",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_1",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_10",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_11",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_12",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_13",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_14",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_2",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_3",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_6",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_7",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_8",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_histograms_9",
     "Prometheus 2.42 does not check histogram consistency (buckets, +Inf, _count, _sum)"},
    {"bad_info_and_stateset_values_0", "Prometheus 2.42 does not check info/stateset values"},
    {"bad_info_and_stateset_values_1", "Prometheus 2.42 does not check info/stateset values"},
    {"bad_metadata_in_wrong_place_0", "Prometheus 2.42 accepts metadata after samples"},
    {"bad_metadata_in_wrong_place_1", "Prometheus 2.42 accepts metadata after samples"},
    {"bad_metadata_in_wrong_place_2", "Prometheus 2.42 accepts metadata after samples"},
    {"bad_missing_or_invalid_labels_for_a_type_0",
     "Prometheus 2.42 does not check quantile/le/state labels"},
    {"bad_missing_or_invalid_labels_for_a_type_1",
     "Prometheus 2.42 does not check quantile/le/state labels"},
    {"bad_missing_or_invalid_labels_for_a_type_2",
     "Prometheus 2.42 does not check quantile/le/state labels"},
    {"bad_missing_or_invalid_labels_for_a_type_3",
     "Prometheus 2.42 does not check quantile/le/state labels"},
    {"bad_missing_or_invalid_labels_for_a_type_4",
     "Prometheus 2.42 does not check quantile/le/state labels"},
    {"bad_missing_or_invalid_labels_for_a_type_5",
     "Prometheus 2.42 does not check quantile/le/state labels"},
    {"bad_missing_or_invalid_labels_for_a_type_6",
     "Prometheus 2.42 does not check quantile/le/state labels"},
    {"bad_missing_or_invalid_labels_for_a_type_7",
     "Prometheus 2.42 does not check quantile/le/state labels"},
    {"bad_repeated_metadata_0", "Prometheus 2.42 accepts a repeated HELP or UNIT line"},
    {"bad_repeated_metadata_1", "Prometheus 2.42 accepts a repeated HELP or UNIT line"},
    {"bad_repeated_metadata_3", "Prometheus 2.42 accepts a repeated HELP or UNIT line"},
    {"bad_stateset_info_values_0", "Prometheus 2.42 does not check info/stateset values"},
    {"bad_stateset_info_values_1", "Prometheus 2.42 does not check info/stateset values"},
    {"bad_stateset_info_values_2", "Prometheus 2.42 does not check info/stateset values"},
    {"bad_stateset_info_values_3", "Prometheus 2.42 does not check info/stateset values"},
    {"bad_unit_6", "Prometheus 2.42 allows a UNIT on info and stateset families"},
    {"bad_unit_7", "Prometheus 2.42 allows a UNIT on info and stateset families"},
};

#define NLENIENT (sizeof(lenient_accepts) / sizeof(lenient_accepts[0]))

static bool in_lenient_list(const char *name)
{
    for (size_t i = 0; i < NLENIENT; i++) {
        if (strcmp(lenient_accepts[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* Parses the whole document; returns 0 when it parses, else the error code. */
static int parse_all(const char *buf, size_t len, tw_expfmt_format_t fmt, bool lenient,
                     size_t *nentries, tw_error_t *err)
{
    tw_expfmt_parse_options_t o = {fmt, lenient, 0};
    tw_expfmt_parser_t *p = tw_expfmt_parser_new(buf, len, &o);
    tw_expfmt_entry_t e;
    int rc;
    size_t n = 0;
    while ((rc = tw_expfmt_parser_next(p, &e, err)) == 1) {
        n++;
    }
    tw_expfmt_parser_free(p);
    if (nentries != NULL) {
        *nentries = n;
    }
    return rc;
}

static bool should_parse(const char *json)
{
    const char *k = strstr(json, "\"shouldParse\"");
    assert_non_null(k);
    k = strchr(k, ':');
    assert_non_null(k);
    k++;
    while (*k == ' ') {
        k++;
    }
    if (strncmp(k, "true", 4) == 0) {
        return true;
    }
    assert_true(strncmp(k, "false", 5) == 0);
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void run_cases(bool lenient)
{
    DIR *d = opendir(CASES);
    assert_non_null(d);
    char *names[400];
    size_t nnames = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.' && nnames < 400) {
            names[nnames++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, nnames, sizeof(names[0]), cmp_str);
    size_t ncases = 0, nbad = 0, ngood = 0, nlisted_seen = 0;
    char report[16384] = "";
    size_t rlen = 0;
    for (size_t i = 0; i < nnames; i++) {
        char path[1024];
        tw_buf_t json, metrics;
        tw_buf_init(&json, 1 << 16);
        tw_buf_init(&metrics, 1 << 20);
        snprintf(path, sizeof(path), "%s/%s/test.json", CASES, names[i]);
        if (tw_buf_read_file(&json, path, NULL) < 0) {
            tw_buf_fini(&json);
            tw_buf_fini(&metrics);
            free(names[i]);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s/metrics", CASES, names[i]);
        assert_int_equal(tw_buf_read_file(&metrics, path, NULL), 0);
        ncases++;
        bool good = should_parse(json.data);
        good ? ngood++ : nbad++;
        /* Upstream naming: bad_* cases are exactly the ones that must fail. */
        assert_int_equal(good, strncmp(names[i], "bad_", 4) != 0);
        bool listed = in_lenient_list(names[i]);
        nlisted_seen += listed;
        bool expect = lenient ? (good || listed) : good;
        tw_error_t err;
        memset(&err, 0, sizeof(err));
        int rc = parse_all(metrics.data != NULL ? metrics.data : "", metrics.len,
                           TW_EXPFMT_OPENMETRICS_1_0_0, lenient, NULL, &err);
        if ((rc == 0) != expect) {
            char m[600];
            int w = snprintf(report + rlen, sizeof(report) - rlen, "  %s: expected %s, got %s\n",
                             names[i], expect ? "accept" : "reject",
                             rc == 0 ? "accept" : tw_error_format(&err, m, sizeof(m)));
            if (w > 0 && (size_t)w < sizeof(report) - rlen) {
                rlen += (size_t)w;
            }
        }
        if (rc != 0) {
            /* A rejection is a parse error with a position, never another failure. */
            assert_int_equal(rc, TW_EPARSE);
            assert_true(err.line >= 1);
            assert_true(err.col >= 1);
        }
        tw_buf_fini(&json);
        tw_buf_fini(&metrics);
        free(names[i]);
    }
    if (rlen > 0) {
        fail_msg("%s mode mismatches:\n%s", lenient ? "lenient" : "strict", report);
    }
    assert_int_equal(ncases, 211);
    assert_int_equal(ngood, 44);
    assert_int_equal(nbad, 167);
    /* Every listed case exists (a typo would silently shrink the list). */
    assert_int_equal(nlisted_seen, NLENIENT);
}

static void test_strict_all_cases(void **state)
{
    (void)state;
    run_cases(false);
}

static void test_lenient_exactly_listed(void **state)
{
    (void)state;
    assert_int_equal(NLENIENT, 71);
    run_cases(true);
}

static void read_or_fail(tw_buf_t *b, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", OMDIR, rel);
    tw_buf_init(b, 1 << 24);
    assert_int_equal(tw_buf_read_file(b, path, NULL), 0);
}

static void test_prometheus_text_inputs(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        size_t entries;
    } files[] = {
        {"prometheus-textparse/alltypes.237mfs.prom.txt", 0},
        {"prometheus-textparse/alltypes.237mfs.nometa.prom.txt", 0},
        {"prometheus-promtool/metrics-test.prom", 0},
    };
    size_t samples_meta = 0, samples_nometa = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        tw_buf_t b;
        read_or_fail(&b, files[i].file);
        tw_expfmt_parse_options_t o = {TW_EXPFMT_TEXT_0_0_4, false, 0};
        tw_expfmt_parser_t *p = tw_expfmt_parser_new(b.data, b.len, &o);
        tw_expfmt_entry_t e;
        tw_error_t err;
        int rc;
        size_t series = 0, help = 0, type = 0;
        while ((rc = tw_expfmt_parser_next(p, &e, &err)) == 1) {
            series += e.kind == TW_EXPFMT_ENTRY_SERIES;
            help += e.kind == TW_EXPFMT_ENTRY_HELP;
            type += e.kind == TW_EXPFMT_ENTRY_TYPE;
        }
        assert_int_equal(rc, 0);
        if (i == 0) {
            samples_meta = series;
            assert_int_equal(help, 237);
            assert_int_equal(type, 237);
        } else if (i == 1) {
            samples_nometa = series;
            assert_int_equal(help + type, 0);
        } else {
            assert_true(series > 0);
        }
        tw_expfmt_parser_free(p);
        tw_buf_fini(&b);
    }
    /* Same samples with and without metadata. */
    assert_int_equal(samples_meta, samples_nometa);
    assert_true(samples_meta > 1000);
}

static void test_prometheus_om_inputs(void **state)
{
    (void)state;
    static const char *const both[] = {
        "prometheus-textparse/1histogram.om.txt",
        "prometheus-promtool/dump-openmetrics-test.prom",
        "prometheus-promtool/dump-openmetrics-roundtrip-test.prom",
    };
    for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
        tw_buf_t b;
        read_or_fail(&b, both[i]);
        assert_int_equal(parse_all(b.data, b.len, TW_EXPFMT_OPENMETRICS_1_0_0, false, NULL, NULL),
                         0);
        assert_int_equal(parse_all(b.data, b.len, TW_EXPFMT_OPENMETRICS_1_0_0, true, NULL, NULL),
                         0);
        tw_buf_fini(&b);
    }
    /* A histogram with negative buckets and a negative _sum: the spec forbids a _sum there
     * (strict rejects), Prometheus takes it (lenient accepts). */
    tw_buf_t b;
    tw_error_t err;
    read_or_fail(&b, "prometheus-textparse/alltypes.5mfs.om.txt");
    assert_int_equal(parse_all(b.data, b.len, TW_EXPFMT_OPENMETRICS_1_0_0, false, NULL, &err),
                     TW_EPARSE);
    assert_int_equal(err.line, 33);
    assert_non_null(strstr(err.msg, "rpc_durations_histogram_seconds_sum"));
    size_t n = 0;
    assert_int_equal(parse_all(b.data, b.len, TW_EXPFMT_OPENMETRICS_1_0_0, true, &n, NULL), 0);
    assert_true(n > 20);
    tw_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict_all_cases),
        cmocka_unit_test(test_lenient_exactly_listed),
        cmocka_unit_test(test_prometheus_text_inputs),
        cmocka_unit_test(test_prometheus_om_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
