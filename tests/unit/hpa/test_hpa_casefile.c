/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hpa_casefile.c - runs the upstream-transcribed conformance cases
 * (TW_SHARED/conformance/hpa/cases.json) through tw_hpa_cases_run() and checks the loader's
 * error reporting on malformed case files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/hpa/hpa.h"

/* Runs the file with check=1 into a memory stream; returns the rc and the output (caller frees). */
static int run_to_string(const char *data, size_t len, char **text, tw_error_t *err)
{
    size_t sz = 0;
    FILE *f = open_memstream(text, &sz);
    assert_non_null(f);
    int rc = tw_hpa_cases_run_buf(data, len, "mem.json", 1, f, err);
    fclose(f);
    return rc;
}

static void test_upstream_cases_all_pass(void **state)
{
    (void)state;
    char *text = NULL;
    size_t sz = 0;
    FILE *f = open_memstream(&text, &sz);
    assert_non_null(f);
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_hpa_cases_run(TW_SHARED "/conformance/hpa/cases.json", 1, f, &err);
    fclose(f);
    if (rc != 0 || strstr(text, "FAIL ") != NULL) {
        /* show the failing cases */
        for (const char *line = text; line != NULL && *line != '\0';) {
            const char *nl = strchr(line, '\n');
            int len = nl != NULL ? (int)(nl - line) : (int)strlen(line);
            if (strncmp(line, "FAIL ", 5) == 0) {
                print_message("%.*s\n", len, line);
            }
            line = nl != NULL ? nl + 1 : NULL;
        }
        print_message("rc=%d err=%s\n", rc, err.msg);
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "\n80 passed, 0 failed\n"));
    free(text);
}

static void test_output_lines_and_failure_report(void **state)
{
    (void)state;
    const char *doc =
        "[{\"id\":\"a\",\"kind\":\"legacy_stabilize\",\"input\":{\"downscale_stabilization_s\":300,"
        "\"desired_replicas\":3,\"recommendations\":[{\"replicas\":4,\"age_s\":120}]},"
        "\"expected\":{\"replicas\":4,\"stored_count\":2}},"
        "{\"id\":\"b\",\"kind\":\"legacy_stabilize\",\"input\":{\"desired_replicas\":3,"
        "\"recommendations\":[]},\"expected\":{\"replicas\":7}}]";
    char *text = NULL;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = run_to_string(doc, strlen(doc), &text, &err);
    assert_int_equal(rc, TW_EINVAL);
    assert_non_null(strstr(text, "{\"id\":\"a\",\"replicas\":4,\"stored_count\":2,"));
    assert_non_null(strstr(text, "FAIL b: replicas: expected 7, got 3\n"));
    assert_non_null(strstr(text, "\n1 passed, 1 failed\n"));
    free(text);
}

static void test_malformed_case_names_id_and_path(void **state)
{
    (void)state;
    const char *doc = "[{\"id\":\"bad-pod\",\"kind\":\"replicas_pods_average_value\",\"input\":{"
                      "\"current_replicas\":1,\"target_average_milli\":10,\"pods\":[{\"name\":"
                      "\"p\"},{\"name\":\"q\",\"phase\":\"Sleeping\"}],\"pod_metric_milli\":{}},"
                      "\"expected\":{}}]";
    char *text = NULL;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = run_to_string(doc, strlen(doc), &text, &err);
    assert_int_equal(rc, TW_EINVAL);
    assert_string_equal(err.file, "mem.json");
    assert_non_null(strstr(err.msg, "case \"bad-pod\": input.pods[1].phase: unknown phase"));
    free(text);
}

static void test_syntax_error_has_position(void **state)
{
    (void)state;
    const char *doc = "[\n {\"id\": 1,,}]";
    char *text = NULL;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = run_to_string(doc, strlen(doc), &text, &err);
    assert_int_equal(rc, TW_EPARSE);
    assert_int_equal(err.line, 2);
    free(text);
}

static void test_missing_file(void **state)
{
    (void)state;
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_hpa_cases_run("/nonexistent/cases.json", 1, stdout, &err);
    assert_true(rc < 0);
    assert_non_null(strstr(err.msg, "/nonexistent/cases.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upstream_cases_all_pass),
        cmocka_unit_test(test_output_lines_and_failure_report),
        cmocka_unit_test(test_malformed_case_names_id_and_path),
        cmocka_unit_test(test_syntax_error_has_position),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
