/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_orch_exec.c - the exec driver: argv template expansion (placeholders inside words,
 * escaped braces, bad templates), running without a shell (a value with shell syntax reaches
 * the command as one literal argument), the timeout killing the whole process group
 * (TW_ETRANSIENT), exit statuses and the get command's output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autoscaler/orchestrator/orchestrator.h"
#include "autoscaler/orchestrator/orchestrator_int.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_expand(void **state)
{
    (void)state;
    const char *const tmpl[] = {"docker",  "compose",           "-p",          "{namespace}", "up",
                                "--scale", "{name}={replicas}", "{{literal}}", "g:{group}",   NULL};
    tw_orch_exec_vars_t v = {.namespace = "shop", .name = "web", .replicas = 12};
    char **argv;
    tw_error_t err;
    assert_int_equal(tw_orch_exec_expand(tmpl, &v, &argv, &err), 0);
    assert_string_equal(argv[0], "docker");
    assert_string_equal(argv[3], "shop");
    assert_string_equal(argv[6], "web=12");
    assert_string_equal(argv[7], "{literal}");
    assert_string_equal(argv[8], "g:");
    assert_null(argv[9]);
    tw_orch_exec_argv_free(argv);

    const char *const unknown[] = {"x", "{replica}", NULL};
    assert_int_equal(tw_orch_exec_expand(unknown, &v, &argv, &err), TW_EINVAL);
    assert_null(argv);
    assert_string_equal(err.msg, "exec template \"{replica}\": unknown placeholder {replica} "
                                 "(expected {namespace}, {name}, {group} or {replicas})");
    const char *const open_[] = {"x", "{name", NULL};
    assert_int_equal(tw_orch_exec_template_check(open_, &err), TW_EINVAL);
    assert_string_equal(err.msg, "exec template \"{name\": unterminated '{'");
    const char *const close_[] = {"x}", NULL};
    assert_int_equal(tw_orch_exec_template_check(close_, &err), TW_EINVAL);
    const char *const empty[] = {NULL};
    assert_int_equal(tw_orch_exec_template_check(empty, &err), TW_EINVAL);
}

static void test_run_no_shell(void **state)
{
    (void)state;
    /* The value carries shell syntax; without a shell printf sees it verbatim. */
    const char *const tmpl[] = {"printf", "[%s]", "{name}", NULL};
    tw_orch_exec_vars_t v = {.name = "web; echo pwned $(id) `x`"};
    char **argv;
    tw_error_t err;
    assert_int_equal(tw_orch_exec_expand(tmpl, &v, &argv, &err), 0);
    tw_buf_t out, errout;
    tw_buf_init(&out, 1024);
    tw_buf_init(&errout, 1024);
    int code;
    assert_int_equal(tw_orch_exec_run(argv, 5000, &out, &errout, &code, &err), 0);
    assert_int_equal(code, 0);
    assert_string_equal(out.data, "[web; echo pwned $(id) `x`]");
    tw_orch_exec_argv_free(argv);

    /* the output limit is kept, the rest dropped, and the child still finishes */
    tw_buf_fini(&out);
    tw_buf_init(&out, 10);
    char *const big[] = {"head", "-c", "100000", "/dev/zero", NULL};
    assert_int_equal(tw_orch_exec_run(big, 5000, &out, NULL, &code, &err), 0);
    assert_int_equal(code, 0);
    assert_int_equal(out.len, 10);

    char *const missing[] = {"tw-no-such-command-xyz", NULL};
    assert_int_equal(tw_orch_exec_run(missing, 1000, &out, NULL, &code, &err), -ENOENT);
    assert_string_equal(err.msg, "exec tw-no-such-command-xyz: command not found in PATH");
    tw_buf_fini(&out);
    tw_buf_fini(&errout);
}

static void test_timeout_kills(void **state)
{
    (void)state;
    char *const argv[] = {"/bin/sh", "-c", "sleep 5", NULL};
    tw_buf_t out;
    tw_buf_init(&out, 1024);
    tw_error_t err;
    int code;
    int64_t t0 = mono_ms();
    assert_int_equal(tw_orch_exec_run(argv, 200, &out, NULL, &code, &err), TW_ETRANSIENT);
    int64_t took = mono_ms() - t0;
    if (took < 190 || took > 2000) {
        fail_msg("timeout 200 ms took %lld ms", (long long)took);
    }
    assert_int_equal(code, 128 + SIGKILL);
    assert_string_equal(err.msg, "exec /bin/sh: killed after the 200 ms timeout");

    /* The grandchild (sleep, forked by sh with `; true` so sh cannot exec it) holds the pipe; it
     * dies with the group, so the call still returns at the deadline. */
    char *const nested[] = {"/bin/sh", "-c", "sleep 5; true", NULL};
    t0 = mono_ms();
    assert_int_equal(tw_orch_exec_run(nested, 200, &out, NULL, &code, &err), TW_ETRANSIENT);
    took = mono_ms() - t0;
    if (took > 2000) {
        fail_msg("nested timeout took %lld ms", (long long)took);
    }
    tw_buf_fini(&out);
}

static void test_driver(void **state)
{
    (void)state;
    const char *const scale[] = {"/bin/sh", "-c",         "echo \"$0 $1\" >&2; exit $2",
                                 "{name}",  "{replicas}", "{namespace}",
                                 NULL};
    const char *const get[] = {"echo", " 4", NULL};
    tw_orch_config_t cfg = {0};
    cfg.exec.scale_argv = scale;
    cfg.exec.get_argv = get;
    cfg.exec.timeout_ms = 5000;
    tw_orch_driver_t *d;
    tw_error_t err;
    assert_int_equal(tw_orch_driver_new("exec", &cfg, &d, &err), 0);
    tw_orch_scale_t sc, out;
    /* namespace doubles as the exit status the script returns */
    tw_orch_ref_t ok = {.namespace = "0", .name = "web"};
    assert_int_equal(tw_orch_get_scale(d, &ok, &sc, &err), 0);
    assert_int_equal(sc.spec_replicas, 4);
    assert_int_equal(tw_orch_set_scale(d, &ok, &sc, 6, &out, &err), 0);
    assert_int_equal(out.spec_replicas, 6);
    tw_orch_ref_t temp = {.namespace = "75", .name = "web"};
    assert_int_equal(tw_orch_set_scale(d, &temp, &sc, 6, &out, &err), TW_ETRANSIENT);
    assert_string_equal(err.msg, "exec /bin/sh for 75/web: exit status 75: web 6");
    tw_orch_ref_t bad = {.namespace = "3", .name = "api"};
    assert_int_equal(tw_orch_set_scale(d, &bad, &sc, 2, &out, &err), TW_EIO);
    assert_string_equal(err.msg, "exec /bin/sh for 3/api: exit status 3: api 2");
    tw_orch_pod_list_t l;
    tw_orch_pod_list_init(&l);
    assert_int_equal(tw_orch_list_pods(d, &ok, "", &l, &err), TW_EINVAL);
    tw_orch_driver_free(d);

    const char *const notnum[] = {"echo", "four", NULL};
    cfg.exec.get_argv = notnum;
    assert_int_equal(tw_orch_driver_new("exec", &cfg, &d, &err), 0);
    assert_int_equal(tw_orch_get_scale(d, &ok, &sc, &err), TW_EINVAL);
    assert_string_equal(err.msg, "exec echo for web: expected a replica count on stdout, got "
                                 "\"four\"");
    tw_orch_driver_free(d);

    cfg.exec.get_argv = NULL;
    assert_int_equal(tw_orch_driver_new("exec", &cfg, &d, &err), 0);
    assert_int_equal(tw_orch_get_scale(d, &ok, &sc, &err), TW_EINVAL);
    assert_string_equal(err.msg, "the exec orchestrator driver has no get command configured");
    tw_orch_driver_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_run_no_shell),
        cmocka_unit_test(test_timeout_kills),
        cmocka_unit_test(test_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
