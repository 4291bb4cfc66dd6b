/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_promql_conformance.c - Prometheus' own PromQL test scripts run by our runner against our
 * engine: every ../shared/conformance/promql/v3.5 script in prometheus3 mode and every v2.42
 * script in prometheus2 mode (what `tidewatch test promql` does), printing per file
 * "N passed, N failed, N skipped" and the skip reasons.
 *
 * It fails when a script does not parse, when the counts do not add up to the file's evals,
 * when an eval that v3.5/EVALS.tsv flags as touching native histograms is not skipped (our skip
 * rules must find at least what the reference heuristic finds), or when an eval fails that is
 * not in known_failures below (a regression; remove entries as the engine gets them right).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "common/buf.h"
#include "query/query.h"

/*
 * Evals that fail today, as "<dir>/<file>:<line>" (the engine's open issues), NULL-terminated.
 * Add an entry only with the reason; remove it when the engine gets the eval right.
 */
static const char *const known_failures[] = {
    NULL,
};

static bool is_known_failure(const char *id)
{
    for (size_t i = 0; known_failures[i] != NULL; i++) {
        if (strcmp(known_failures[i], id) == 0) {
            return true;
        }
    }
    return false;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Number of eval commands in the script text (lines whose first word starts with "eval"). */
static size_t count_evals(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p != '\0';) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (strncmp(p, "eval", 4) == 0) {
            n++;
        }
        const char *nl = strchr(p, '\n');
        if (nl == NULL) {
            break;
        }
        p = nl + 1;
    }
    return n;
}

/* Whether out (the runner's verbose output) has a "<path>:<line>: SKIP" line. */
static bool skipped_line(const char *out, const char *path, const char *line)
{
    char key[600];
    snprintf(key, sizeof(key), "%s:%s: SKIP", path, line);
    return strstr(out, key) != NULL;
}

/* Checks every EVALS.tsv row flagged as touching native histograms for file base. */
static size_t check_nh_rows(const char *tsv, const char *base, const char *path, const char *out)
{
    size_t checked = 0;
    for (const char *p = tsv; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char row[4096];
        if (len < sizeof(row) && p[0] != '#') {
            memcpy(row, p, len);
            row[len] = '\0';
            char *cols[8] = {0};
            size_t nc = 0;
            for (char *c = row; nc < 8;) {
                cols[nc++] = c;
                char *tab = strchr(c, '\t');
                if (tab == NULL) {
                    break;
                }
                *tab = '\0';
                c = tab + 1;
            }
            if (nc >= 7 && strcmp(cols[0], base) == 0 && strcmp(cols[5], "yes") == 0) {
                if (!skipped_line(out, path, cols[1])) {
                    fail_msg("%s:%s touches native histograms (EVALS.tsv) but was not skipped: %s",
                             path, cols[1], nc > 7 ? cols[7] : "");
                }
                checked++;
            }
        }
        if (nl == NULL) {
            break;
        }
        p = nl + 1;
    }
    return checked;
}

/* Fails on FAIL lines of out that are not known failures; returns how many FAIL lines. */
static size_t check_failures(const char *out, const char *dir)
{
    size_t n = 0;
    for (const char *p = out; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        const char *f = strstr(p, ": FAIL ");
        if (f != NULL && f < p + len) {
            /* "<path>:<line>: FAIL": the id is "<dir>/<file>:<line>" */
            const char *slash = p;
            for (const char *q = p; q < f; q++) {
                if (*q == '/') {
                    slash = q + 1;
                }
            }
            char id[600];
            snprintf(id, sizeof(id), "%s/%.*s", dir, (int)(f - slash), slash);
            if (!is_known_failure(id)) {
                fail_msg("new failure: %.*s", (int)len, p);
            }
            n++;
        }
        if (nl == NULL) {
            break;
        }
        p = nl + 1;
    }
    return n;
}

static void run_dir(const char *dir, tw_promql_compat_t compat, size_t want_files,
                    size_t *total_evals)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/conformance/promql/%s", TW_SHARED, dir);
    DIR *d = opendir(path);
    if (d == NULL) {
        print_message("%s: not found\n", path);
        skip();
    }
    char *names[64];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 64) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".test") == 0) {
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_names);
    assert_int_equal(n, want_files);

    tw_buf_t tsv;
    tw_buf_init(&tsv, 0);
    snprintf(path, sizeof(path), "%s/conformance/promql/%s/EVALS.tsv", TW_SHARED, dir);
    bool have_tsv = tw_buf_read_file(&tsv, path, NULL) == 0;

    tw_promql_test_counts_t total = {0};
    size_t nh_checked = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/conformance/promql/%s/%s", TW_SHARED, dir, names[i]);
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        tw_promql_test_options_t o = {.compat = compat, .verbose = 1};
        tw_promql_test_counts_t c = {0};
        tw_error_t err;
        tw_error_clear(&err);
        int rc = tw_promql_test_run_file(path, &o, f, &c, &err);
        fclose(f);
        if (rc != 0) {
            char m[900];
            fail_msg("%s", tw_error_format(&err, m, sizeof(m)));
        }
        tw_buf_t text;
        tw_buf_init(&text, 0);
        assert_int_equal(tw_buf_read_file(&text, path, NULL), 0);
        size_t evals = count_evals(text.data);
        tw_buf_fini(&text);
        printf("%s/%s: %zu passed, %zu failed, %zu skipped\n", dir, names[i], c.passed, c.failed,
               c.skipped);
        for (int k = 0; k < TW_PROMQL_TEST_SKIP_N; k++) {
            if (c.skipped_by[k] > 0) {
                printf("    skipped (%s): %zu\n", tw_promql_test_skip_str(k), c.skipped_by[k]);
            }
        }
        assert_int_equal(c.passed + c.failed + c.skipped, evals);
        if (have_tsv) {
            nh_checked += check_nh_rows(tsv.data, names[i], path, out);
        }
        assert_int_equal(check_failures(out, dir), c.failed);
        total.passed += c.passed;
        total.failed += c.failed;
        total.skipped += c.skipped;
        *total_evals += evals;
        free(out);
        free(names[i]);
    }
    printf("%s total: %zu passed, %zu failed, %zu skipped (%zu EVALS.tsv native-histogram rows "
           "confirmed skipped)\n",
           dir, total.passed, total.failed, total.skipped, nh_checked);
    fflush(stdout);
    tw_buf_fini(&tsv);
}

static void test_v35(void **state)
{
    (void)state;
    size_t evals = 0;
    run_dir("v3.5", TW_PROMQL_COMPAT_PROMETHEUS3, 14, &evals);
    assert_int_equal(evals, 1355);
}

static void test_v242(void **state)
{
    (void)state;
    size_t evals = 0;
    run_dir("v2.42", TW_PROMQL_COMPAT_PROMETHEUS2, 11, &evals);
    assert_int_equal(evals, 566);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v35),
        cmocka_unit_test(test_v242),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
