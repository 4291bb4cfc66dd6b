/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hpa_simulate.c - `autoscaler simulate` (hpa_simulate.c): exact replica timelines through
 * the whole controller (a behavior scale-up limited by the 4-pods/100 % policy, then a
 * scale-down held by the 300 s stabilization window; the legacy path with a partial metric
 * failure and unready pods), the metrics table's errors with their positions, and the
 * command's exit codes.
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

#define SPEC_WEB TW_FIXTURES "/hpa/web-behavior.yaml"
#define STEP_WEB TW_FIXTURES "/hpa/web-step.csv"
#define SPEC_API TW_SHARED "/conformance/fixtures/kubernetes/seed/api-hpa.yaml"

/* Runs tw_hpa_simulate_main on argv; returns the exit code, *out and *errs (caller frees). */
static int run_main(int argc, char **argv, char **out, char **errs)
{
    size_t n1 = 0, n2 = 0;
    FILE *fo = open_memstream(out, &n1);
    FILE *fe = open_memstream(errs, &n2);
    assert_non_null(fo);
    assert_non_null(fe);
    int code = tw_hpa_simulate_main(argc, argv, fo, fe);
    fclose(fo);
    fclose(fe);
    return code;
}

static void test_scale_up_then_held_scale_down(void **state)
{
    (void)state;
    char *argv[] = {"--spec", SPEC_WEB, "--metrics", STEP_WEB, "--sync-period=1m"};
    char *out = NULL, *errs = NULL;
    int code = run_main(5, argv, &out, &errs);
    if (code != 0) {
        print_message("%s", errs);
    }
    assert_int_equal(code, 0);
    assert_string_equal(errs, "");
    /* 200 % of a 50 % target on 2 pods asks for 8: the scale-up policies allow max(2+4, 2*2).
     * At 120 s the load drops (proposal 3) but the proposal 8 of 60 s stays in the 300 s
     * window until 360 s; the window excludes an entry exactly 300 s old. */
    assert_string_equal(
        out, "# hpa shop/web target Deployment/web min=2 max=10 sync=1m start=2\n"
             "t=0s replicas=2->2 proposal=2 reason=DesiredWithinRange\n"
             "t=60s replicas=2->6 proposal=8 reason=ScaleUpLimit message=\"cpu resource "
             "utilization (percentage of request) above target\"\n"
             "t=120s replicas=6->6 proposal=3 reason=ScaleDownStabilized\n"
             "t=180s replicas=6->6 proposal=3 reason=ScaleDownStabilized\n"
             "t=240s replicas=6->6 proposal=3 reason=ScaleDownStabilized\n"
             "t=300s replicas=6->6 proposal=3 reason=ScaleDownStabilized\n"
             "t=360s replicas=6->3 proposal=3 reason=DesiredWithinRange message=\"All metrics "
             "below target\"\n"
             "t=420s replicas=3->3 proposal=2 reason=ScaleDownStabilized\n"
             "t=480s replicas=3->3 proposal=2 reason=ScaleDownStabilized\n"
             "t=540s replicas=3->3 proposal=2 reason=ScaleDownStabilized\n");
    free(out);
    free(errs);
}

/* Loads the one manifest of path. */
static tw_hpa_manifest_list_t load(const char *path)
{
    tw_hpa_manifest_list_t l = {NULL, 0};
    tw_error_t err;
    tw_error_clear(&err);
    int rc = tw_hpa_manifests_load(path, NULL, &l, &err);
    if (rc != 0) {
        print_message("%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
    }
    assert_int_equal(rc, 0);
    return l;
}

static int simulate(const tw_hpa_manifest_t *m, const char *table,
                    const tw_hpa_simulate_options_t *o, char **out, tw_error_t *err)
{
    size_t n = 0;
    FILE *f = open_memstream(out, &n);
    assert_non_null(f);
    tw_error_clear(err);
    int rc = tw_hpa_simulate_run(m, table, strlen(table), "m.csv", o, f, err);
    fclose(f);
    return rc;
}

static void test_legacy_partial_failure_and_unready_pods(void **state)
{
    (void)state;
    tw_hpa_manifest_list_t l = load(SPEC_API);
    tw_hpa_simulate_options_t o;
    tw_hpa_simulate_options_init(&o);
    o.initial_replicas = 4;
    char *out = NULL;
    tw_error_t err;
    /* 15 s: memory has no value, cpu alone may still scale up (and the pass reports the error).
     * 30 s: only 4 of the 8 pods are ready: the 4 starting ones count as 0 % cpu (ratio back to
     * 1.0) and as 100 % memory (7 pods): no change. 45 s: the 5 min legacy window holds 8. */
    int rc = simulate(l.items[0],
                      "# t, cpu %, memory %, ready pods\n"
                      "t, cpu, memory, ready\n"
                      "0, 70, 80\n"
                      "15, 140, -\n"
                      "30, 140, 40, 4\n"
                      "45, 20%, 20\n",
                      &o, &out, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(
        out, "# hpa ecommerce/api-hpa target Deployment/api min=3 max=20 sync=15s start=4\n"
             "t=0s replicas=4->4 proposal=4 reason=DesiredWithinRange\n"
             "t=15s replicas=4->8 proposal=8 reason=DesiredWithinRange message=\"cpu resource "
             "utilization (percentage of request) above target\" error=\"invalid metrics (1 "
             "invalid out of 2), first error is: unable to get metrics for resource memory: no "
             "value in the replay table\"\n"
             "t=30s replicas=8->8 proposal=8 reason=DesiredWithinRange\n"
             "t=45s replicas=8->8 proposal=3 reason=ScaleDownStabilized\n");
    free(out);

    /* every metric missing: ScalingActive=False, nothing moves */
    rc = simulate(l.items[0], "t,metrics[0],metrics[1]\n0,-,-\n", &o, &out, &err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "t=0s replicas=4->4 proposal=- reason=FailedGetResourceMetric "
                                "error=\"invalid metrics (2 invalid out of 2), first error is: "
                                "unable to get metrics for resource cpu: no value in the replay "
                                "table\"\n"));
    free(out);

    /* above maxReplicas: brought into range without metrics */
    o.initial_replicas = 25;
    rc = simulate(l.items[0], "t,cpu,memory\n0,70,80\n", &o, &out, &err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "t=0s replicas=25->20 proposal=- reason=TooManyReplicas "
                                "message=\"Current number of replicas above "
                                "Spec.MaxReplicas\"\n"));
    free(out);
    tw_hpa_manifest_list_fini(&l);
}

static void expect_table_error(const tw_hpa_manifest_t *m, const char *table, int line, int col,
                               const char *msg)
{
    tw_hpa_simulate_options_t o;
    tw_hpa_simulate_options_init(&o);
    char *out = NULL;
    tw_error_t err;
    int rc = simulate(m, table, &o, &out, &err);
    if (rc == 0 || err.line != line || err.col != col || strcmp(err.msg, msg) != 0) {
        print_message("got rc=%d %d:%d: %s\n", rc, err.line, err.col, err.msg);
    }
    assert_int_equal(rc, TW_EINVAL);
    assert_string_equal(err.file, "m.csv");
    assert_int_equal(err.line, line);
    assert_int_equal(err.col, col);
    assert_string_equal(err.msg, msg);
    free(out);
}

static void test_table_errors(void **state)
{
    (void)state;
    tw_hpa_manifest_list_t l = load(SPEC_API);
    const tw_hpa_manifest_t *m = l.items[0];
    expect_table_error(m, "t,cpu\n0,50\n", 1, 1,
                       "no column for spec.metrics[1] (memory); name a column after the metric "
                       "or \"metrics[1]\"");
    expect_table_error(m, "time,cpu,memory\n", 1, 1,
                       "the header's first column must be \"t\" (the time)");
    expect_table_error(m, "t,cpu,disk\n", 1, 7,
                       "column \"disk\" names no metric of the spec (columns: t, ready, a "
                       "metric's name or metrics[i])");
    expect_table_error(m, "t,cpu,metrics[0],memory\n", 1, 7,
                       "column \"metrics[0]\" repeats "
                       "column 2");
    expect_table_error(m, "\n# c\nt,cpu,memory\n0,50,50\n0,60,60\n", 5, 1,
                       "times must increase from row to row");
    expect_table_error(m, "t,cpu,memory\n0,50,x5\n", 2, 6,
                       "memory: invalid value \"x5\": quantities must match the regular "
                       "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
    expect_table_error(m, "t,cpu,memory\n1h2,50,50\n", 2, 1,
                       "invalid time \"1h2\" (seconds, or a duration like 1m30s)");
    expect_table_error(m, "t,cpu,memory,ready\n0,50,50,many\n", 2, 9,
                       "ready: expected a pod count, got \"many\"");
    expect_table_error(m, "t,cpu,memory\n0,50,50,1\n", 2, 9, "4 fields, the header has 3");
    expect_table_error(m, "t,cpu,memory\n", 1, 0, "no rows after the header");
    tw_hpa_manifest_list_fini(&l);
}

static void test_command_line(void **state)
{
    (void)state;
    char *out = NULL, *errs = NULL;
    char *a1[] = {"--spec", SPEC_WEB};
    assert_int_equal(run_main(2, a1, &out, &errs), 2);
    assert_non_null(strstr(errs, "tidewatch: autoscaler simulate: needs --spec and --metrics\n"));
    assert_non_null(strstr(errs, "usage: tidewatch autoscaler simulate"));
    free(out);
    free(errs);

    char *a2[] = {"--spec", SPEC_WEB, "--metrics", STEP_WEB, "--sync-period", "fast"};
    assert_int_equal(run_main(6, a2, &out, &errs), 2);
    assert_non_null(strstr(errs, "flag --sync-period: invalid duration \"fast\" (e.g. 15s)"));
    free(out);
    free(errs);

    char *a3[] = {"--spec", SPEC_WEB, "--metrics", STEP_WEB, "--hpa", "shop/api"};
    assert_int_equal(run_main(6, a3, &out, &errs), 1);
    assert_string_equal(errs, "tidewatch: autoscaler simulate: no HorizontalPodAutoscaler named "
                              "shop/api in the spec file\n");
    free(out);
    free(errs);

    char *a4[] = {"--spec", STEP_WEB, "--metrics", STEP_WEB};
    assert_int_equal(run_main(4, a4, &out, &errs), 1);
    assert_non_null(strstr(errs, "web-step.csv:"));
    free(out);
    free(errs);

    char *a5[] = {"--help"};
    assert_int_equal(run_main(1, a5, &out, &errs), 0);
    assert_non_null(strstr(out, "usage: tidewatch autoscaler simulate --spec HPA.yaml"));
    free(out);
    free(errs);

    char *a6[] = {"--spec",        SPEC_WEB,   "--metrics",          STEP_WEB,
                  "--hpa",         "shop/web", "--initial-replicas", "10",
                  "--sync-period", "5m"};
    assert_int_equal(run_main(10, a6, &out, &errs), 0);
    assert_string_equal(out, "# hpa shop/web target Deployment/web min=2 max=10 sync=5m start=10\n"
                             "t=0s replicas=10->10 proposal=10 reason=DesiredWithinRange\n"
                             "t=300s replicas=10->5 proposal=5 reason=DesiredWithinRange "
                             "message=\"All metrics below target\"\n");
    free(out);
    free(errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_up_then_held_scale_down),
        cmocka_unit_test(test_legacy_partial_failure_and_unready_pods),
        cmocka_unit_test(test_table_errors),
        cmocka_unit_test(test_command_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
