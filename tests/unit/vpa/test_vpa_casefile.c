/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_vpa_casefile.c - runs the upstream-transcribed conformance cases
 * (TW_SHARED/conformance/vpa/cases.json) through tw_vpa_cases_run() and checks the runner's
 * failure report and its errors on malformed case files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"

static int run_to_string(const char *data, char **text, tw_error_t *err)
{
    size_t sz = 0;
    FILE *f = open_memstream(text, &sz);
    assert_non_null(f);
    int rc = tw_vpa_cases_run_buf(data, strlen(data), "mem.json", 1, f, err);
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
    tw_error_t err = {0};
    int rc = tw_vpa_cases_run(TW_SHARED "/conformance/vpa/cases.json", 1, f, &err);
    fclose(f);
    if (rc != 0 || strstr(text, "FAIL ") != NULL) {
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
    /* 159 cases, recommender and updater, all pass */
    assert_non_null(strstr(text, "\n159 passed, 0 failed\n"));
    free(text);
}

static void test_failure_report(void **state)
{
    (void)state;
    const char *cases =
        "[{\"id\":\"m\",\"kind\":\"estimator\",\"input\":{\"aggregate\":{\"cpu_samples\":[]},"
        "\"cpu_chain\":[{\"const\":3140},{\"margin\":0.1}],\"memory_chain\":null},"
        "\"expected\":{\"cpu_milli\":3455}}]";
    char *text = NULL;
    tw_error_t err = {0};
    assert_int_equal(run_to_string(cases, &text, &err), TW_EINVAL);
    assert_non_null(strstr(text, "{\"id\":\"m\",\"cpu_milli\":3454,"));
    assert_non_null(strstr(text, "FAIL m: cpu_milli: expected 3455, got 3454\n"));
    assert_non_null(strstr(text, "0 passed, 1 failed\n"));
    free(text);
}

static void test_malformed_cases(void **state)
{
    (void)state;
    char *text = NULL;
    tw_error_t err = {0};
    assert_int_equal(run_to_string("{", &text, &err), TW_EPARSE);
    free(text);
    text = NULL;
    assert_int_equal(run_to_string("[{\"id\":\"x\",\"kind\":\"capping\",\"input\":{\"function\":"
                                   "\"Apply\",\"pod\":{\"containers\":[{\"name\":\"a\","
                                   "\"requests\":{\"cpu\":\"1Qi\"}}]}},\"expected\":{}}]",
                                   &text, &err),
                     TW_EINVAL);
    assert_non_null(strstr(err.msg, "case \"x\": input.pod.containers[0].requests.cpu"));
    free(text);
    text = NULL;
    assert_int_equal(run_to_string("[{\"id\":\"y\",\"kind\":\"nope\",\"input\":{}}]", &text, &err),
                     TW_EINVAL);
    assert_non_null(strstr(err.msg, "unknown kind \"nope\""));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upstream_cases_all_pass),
        cmocka_unit_test(test_failure_report),
        cmocka_unit_test(test_malformed_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
