/* SPDX-License-Identifier: Apache-2.0 */
/* test_cli.c - command-line parsing: subcommands, both flag spellings, and usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/error.h"
#include "daemon/cli.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void test_defaults(void **state)
{
    (void)state;
    char *argv[] = {"tidewatch"};
    tw_cli_t c;
    tw_error_t err;
    assert_int_equal(tw_cli_parse(ARGC(argv), argv, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_RUN);
    assert_null(c.config_file);
    assert_null(c.listen_address);
    assert_null(c.storage_path);
    assert_null(c.retention_time);
    assert_int_equal(c.log_level, TW_LOG_INFO);
    assert_int_equal(c.log_format, TW_LOG_FMT_LOGFMT);
}

static void test_run_flags_both_spellings(void **state)
{
    (void)state;
    char *argv[] = {"tidewatch",
                    "--config.file=/etc/tw.yml",
                    "run",
                    "--web.listen-address",
                    ":9000",
                    "--storage.tsdb.path=/data",
                    "--storage.tsdb.retention.time",
                    "30d",
                    "--log.level=debug",
                    "--log.format",
                    "json"};
    tw_cli_t c;
    tw_error_t err;
    assert_int_equal(tw_cli_parse(ARGC(argv), argv, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_RUN);
    assert_string_equal(c.config_file, "/etc/tw.yml");
    assert_string_equal(c.listen_address, ":9000");
    assert_string_equal(c.storage_path, "/data");
    assert_string_equal(c.retention_time, "30d");
    assert_int_equal(c.log_level, TW_LOG_DEBUG);
    assert_int_equal(c.log_format, TW_LOG_FMT_JSON);
}

static void test_subcommands(void **state)
{
    (void)state;
    tw_cli_t c;
    tw_error_t err;
    char *v[] = {"tidewatch", "version"};
    assert_int_equal(tw_cli_parse(ARGC(v), v, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_VERSION);
    char *v2[] = {"tidewatch", "--version"};
    assert_int_equal(tw_cli_parse(ARGC(v2), v2, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_VERSION);
    char *h[] = {"tidewatch", "run", "-h"};
    assert_int_equal(tw_cli_parse(ARGC(h), h, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_HELP);
    char *d[] = {"tidewatch", "config", "default"};
    assert_int_equal(tw_cli_parse(ARGC(d), d, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_CONFIG_DEFAULT);
    char *chk[] = {"tidewatch", "check", "config", "a.yml", "b.yml"};
    assert_int_equal(tw_cli_parse(ARGC(chk), chk, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_CHECK_CONFIG);
    assert_int_equal(c.nfiles, 2);
    assert_string_equal(c.files[0], "a.yml");
    assert_string_equal(c.files[1], "b.yml");
    char *cm[] = {"tidewatch", "check", "metrics", "--format", "openmetrics"};
    assert_int_equal(tw_cli_parse(ARGC(cm), cm, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_CHECK_METRICS);
    assert_int_equal(c.metrics_openmetrics, 1);
    char *cm2[] = {"tidewatch", "check", "metrics"};
    assert_int_equal(tw_cli_parse(ARGC(cm2), cm2, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_CHECK_METRICS);
    assert_int_equal(c.metrics_openmetrics, 0);
    char *ac[] = {"tidewatch", "autoscaler", "calc", "cases.json", "--check"};
    assert_int_equal(tw_cli_parse(ARGC(ac), ac, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_AUTOSCALER_CALC);
    assert_string_equal(c.calc_file, "cases.json");
    assert_int_equal(c.calc_check, 1);
    char *av[] = {"tidewatch", "autoscaler", "vpa-calc", "--check", "vpa.json"};
    assert_int_equal(tw_cli_parse(ARGC(av), av, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_AUTOSCALER_VPA_CALC);
    assert_string_equal(c.calc_file, "vpa.json");
    assert_int_equal(c.calc_check, 1);
    char *cr[] = {"tidewatch", "check", "rules", "--lint=all", "a.yml"};
    assert_int_equal(tw_cli_parse(ARGC(cr), cr, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_CHECK_RULES);
    assert_int_equal(c.sub_argc, 2);
    assert_string_equal(c.sub_argv[1], "a.yml");
    char *tr[] = {"tidewatch", "test", "rules", "t.yml"};
    assert_int_equal(tw_cli_parse(ARGC(tr), tr, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_TEST_RULES);
    assert_int_equal(c.sub_argc, 1);
    char *as[] = {"tidewatch", "autoscaler", "simulate", "--spec", "h.yaml"};
    assert_int_equal(tw_cli_parse(ARGC(as), as, &c, &err), 0);
    assert_int_equal(c.command, TW_CLI_AUTOSCALER_SIMULATE);
    assert_int_equal(c.sub_argc, 2);
    assert_string_equal(c.sub_argv[0], "--spec");
    assert_non_null(strstr(tw_cli_usage(), "--storage.tsdb.retention.time"));
    assert_non_null(strstr(tw_cli_usage(), "check config FILE..."));
}

static void expect_error(int argc, char **argv, const char *msg)
{
    tw_cli_t c;
    tw_error_t err;
    assert_int_equal(tw_cli_parse(argc, argv, &c, &err), TW_EINVAL);
    assert_string_equal(err.msg, msg);
}

static void test_errors(void **state)
{
    (void)state;
    char *a[] = {"tidewatch", "--web.listen-adress=:1"};
    expect_error(ARGC(a), a, "unknown flag --web.listen-adress");
    char *b[] = {"tidewatch", "--config.file"};
    expect_error(ARGC(b), b, "flag --config.file needs a value");
    char *c[] = {"tidewatch", "--log.level=verbose"};
    expect_error(ARGC(c), c,
                 "flag --log.level: invalid value \"verbose\" (expected debug, info, warn or "
                 "error)");
    char *d[] = {"tidewatch", "--log.format=text"};
    expect_error(ARGC(d), d, "flag --log.format: invalid value \"text\" (expected logfmt or json)");
    char *e[] = {"tidewatch", "serve"};
    expect_error(ARGC(e), e, "unknown command \"serve\"");
    char *f[] = {"tidewatch", "check", "rulez", "x"};
    expect_error(ARGC(f), f, "check: expected \"check config\", got \"rulez\"");
    char *f2[] = {"tidewatch", "test", "alerts"};
    expect_error(ARGC(f2), f2, "test: expected \"test promql\" or \"test rules\"");
    char *g[] = {"tidewatch", "check", "config"};
    expect_error(ARGC(g), g, "check config: needs at least one file");
    char *h[] = {"tidewatch", "run", "extra"};
    expect_error(ARGC(h), h, "unexpected argument \"extra\"");
    char *i[] = {"tidewatch", "check", "config", "--strict", "a.yml"};
    expect_error(ARGC(i), i, "unknown flag --strict for check config");
    char *j[] = {"tidewatch", "-x"};
    expect_error(ARGC(j), j, "unknown flag -x");
    char *k[] = {"tidewatch", "check", "metrics", "--format=json"};
    expect_error(ARGC(k), k, "check metrics: --format must be text or openmetrics, got json");
    char *l[] = {"tidewatch", "autoscaler", "calc"};
    expect_error(ARGC(l), l, "autoscaler calc: needs a case file");
    char *m[] = {"tidewatch", "autoscaler", "resize"};
    expect_error(ARGC(m), m,
                 "autoscaler: expected \"autoscaler calc\", \"autoscaler vpa-calc\", "
                 "\"autoscaler simulate\" or \"autoscaler recommend\"");
    char *m2[] = {"tidewatch", "autoscaler", "vpa-calc", "a.json", "b.json"};
    expect_error(ARGC(m2), m2, "autoscaler vpa-calc: takes one file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_run_flags_both_spellings),
        cmocka_unit_test(test_subcommands),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
