/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - tidewatch's entry point: parses the command line, dispatches the subcommand and
 * turns results into exit codes (0 success, 1 failure, 2 bad usage). The only place that
 * exits.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "autoscaler/hpa/hpa.h"
#include "autoscaler/vpa/vpa.h"
#include "daemon/rules_cli.h"
#include "daemon/vpa_cli.h"
#include "build_info.h"
#include "collector/expfmt/expfmt.h"
#include "collector/tsdb/tsdb.h"
#include "common/matcher.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "daemon/cli.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/query_cli.h"
#include "query/query.h"

/* promtool's style: "SUCCESS: F is valid" or "FAILED: file:line:col: msg" per file. */
static int check_config(const tw_cli_t *cli)
{
    int status = TW_EXIT_OK;
    for (size_t i = 0; i < cli->nfiles; i++) {
        const char *file = cli->files[i];
        tw_config_t *c = NULL;
        tw_error_t err;
        char msg[sizeof(err.msg) + sizeof(err.file) + 32];
        printf("Checking %s\n", file);
        if (tw_config_load_file(file, &c, &err) != 0) {
            fprintf(stderr, "  FAILED: %s\n\n", tw_error_format(&err, msg, sizeof(msg)));
            status = TW_EXIT_FAILURE;
            continue;
        }
        printf("  SUCCESS: %s is valid\n\n", file);
        tw_config_free(c);
    }
    return status;
}

/* Reads an exposition from stdin (at most 256 MiB), prints lint findings; exit 1 when it does
 * not parse. Unlike promtool (exit 3), findings alone are not a failure. */
static int check_metrics(const tw_cli_t *cli)
{
    tw_buf_t in;
    tw_error_t err;
    char msg[sizeof(err.msg) + sizeof(err.file) + 32];
    int status = TW_EXIT_OK;

    tw_buf_init(&in, 256u * 1024 * 1024);
    tw_error_clear(&err);
    if (tw_buf_read_file(&in, "/dev/stdin", &err) != 0) {
        fprintf(stderr, "error reading stdin: %s\n", tw_error_format(&err, msg, sizeof(msg)));
        status = TW_EXIT_FAILURE;
        goto out;
    }
    tw_expfmt_format_t fmt =
        cli->metrics_openmetrics ? TW_EXPFMT_OPENMETRICS_1_0_0 : TW_EXPFMT_TEXT_0_0_4;
    int rc = tw_expfmt_check_metrics(in.data != NULL ? in.data : "", in.len, fmt, stdout, &err);
    if (rc < 0) {
        tw_strlcpy(err.file, "<stdin>", sizeof(err.file));
        fprintf(stderr, "error while linting: %s\n", tw_error_format(&err, msg, sizeof(msg)));
        status = TW_EXIT_FAILURE;
    }
out:
    tw_buf_fini(&in);
    return status;
}

/* tsdb dump|analyze on a data dir no daemon holds; a replay warning goes to stderr. */
static int tsdb_tool(const tw_cli_t *cli)
{
    tw_matcher_t ms[64];
    size_t n = 0;
    tw_error_t err;
    char msg[sizeof(err.msg) + sizeof(err.file) + 32];
    int rc;

    tw_error_clear(&err);
    if (cli->command == TW_CLI_TSDB_DUMP && cli->match != NULL &&
        tw_matchers_parse_selector(cli->match, ms, 64, &n, &err) != 0) {
        fprintf(stderr, "tidewatch: error: --match %s: %s\n", cli->match, err.msg);
        return TW_EXIT_USAGE;
    }
    if (cli->command == TW_CLI_TSDB_DUMP) {
        rc = tw_tsdb_dump(cli->db_path, ms, n, cli->min_time_ms, cli->max_time_ms, stdout, &err);
    } else {
        rc = tw_tsdb_analyze(cli->db_path, cli->limit, stdout, &err);
    }
    for (size_t i = 0; i < n; i++) {
        tw_matcher_fini(&ms[i]);
    }
    fflush(stdout);
    if (rc != 0) {
        fprintf(stderr, "tidewatch: error: %s\n", tw_error_format(&err, msg, sizeof(msg)));
        return TW_EXIT_FAILURE;
    }
    if (err.msg[0] != '\0') {
        fprintf(stderr, "warning: %s\n", err.msg);
    }
    return TW_EXIT_OK;
}

/* Runs the HPA calculator over a case file; with --check, exit 1 when a case fails. */
/* autoscaler calc (HPA) and vpa-calc (VPA): the case-file runners. */
static int autoscaler_calc(const tw_cli_t *cli)
{
    tw_error_t err;
    char msg[sizeof(err.msg) + sizeof(err.file) + 32];
    tw_error_clear(&err);
    bool vpa = cli->command == TW_CLI_AUTOSCALER_VPA_CALC;
    int rc = vpa ? tw_vpa_cases_run(cli->calc_file, cli->calc_check, stdout, &err)
                 : tw_hpa_cases_run(cli->calc_file, cli->calc_check, stdout, &err);
    if (rc == 0) {
        return TW_EXIT_OK;
    }
    if (err.msg[0] != '\0') {
        fflush(stdout);
        fprintf(stderr, "tidewatch: autoscaler %s: %s\n", vpa ? "vpa-calc" : "calc",
                tw_error_format(&err, msg, sizeof(msg)));
    }
    return TW_EXIT_FAILURE;
}

static int run(const tw_cli_t *cli)
{
    tw_daemon_options_t o = {
        .config_file = cli->config_file,
        .overrides = {.listen_address = cli->listen_address,
                      .storage_path = cli->storage_path,
                      .retention_time = cli->retention_time,
                      .query_compat = cli->query_compat,
                      .query_lookback_delta = cli->query_lookback_delta,
                      .query_max_samples = cli->query_max_samples,
                      .query_timeout = cli->query_timeout},
        .enable_remote_write = cli->enable_remote_write != 0,
        .enable_admin_api = cli->enable_admin_api != 0,
    };
    tw_error_t err;
    char msg[sizeof(err.msg) + sizeof(err.file) + 32];
    int status = TW_EXIT_OK;

    tw_error_clear(&err);
    tw_log_setup(cli->log_level, cli->log_format);
    tw_daemon_t *d = tw_daemon_new(&o, &err);
    if (d == NULL) {
        tw_log(TW_LOG_ERROR, "daemon", "Error loading config", "err",
               tw_error_format(&err, msg, sizeof(msg)), NULL);
        return TW_EXIT_FAILURE;
    }
    if (tw_daemon_start(d, &err) != 0 || tw_daemon_run(d, &err) != 0) {
        tw_log(TW_LOG_ERROR, "daemon", "Fatal error", "err",
               tw_error_format(&err, msg, sizeof(msg)), NULL);
        status = TW_EXIT_FAILURE;
    }
    tw_daemon_free(d);
    return status;
}

/*
 * glibc's allocator gives freed memory back to the kernel eagerly: blocks of 128 KiB and more are
 * mmap'ed and unmapped one by one, and a thread's heap is trimmed (madvise) as soon as 128 KiB at
 * its top are free. Every query, request and evaluation then touches fresh pages again, and a
 * page fault costs several microseconds in a VM: profiled, 40-70 % of a dashboard range query's
 * time (sum(rate(...[5m])) over 100k series: 50 ms CPU, 19 ms with memory kept). So memory up
 * to 32 MiB per allocation comes from the heaps and stays mapped, and a heap keeps up to 128 MiB
 * free at its top, the way a Go or JVM server keeps its heap; the daemon's main loop hands what
 * is free back to the kernel once a minute (malloc_trim), so a burst's peak does not stay
 * resident. GLIBC_TUNABLES, when set, wins.
 */
static void malloc_tune(void)
{
    if (getenv("GLIBC_TUNABLES") != NULL) {
        return;
    }
    (void)mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    (void)mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
}

int main(int argc, char **argv)
{
    tw_cli_t cli;
    tw_error_t err;
    int status;

    malloc_tune();

    if (tw_cli_parse(argc, argv, &cli, &err) != 0) {
        fprintf(stderr, "tidewatch: error: %s\n\n%s", err.msg, tw_cli_usage());
        exit(TW_EXIT_USAGE);
    }
    switch (cli.command) {
    case TW_CLI_HELP:
        fputs(tw_cli_usage(), stdout);
        status = TW_EXIT_OK;
        break;
    case TW_CLI_VERSION:
        printf("tidewatch, version %s (revision: %s)\n  build type: %s\n", TW_VERSION, TW_REVISION,
               TW_BUILD_TYPE);
        status = TW_EXIT_OK;
        break;
    case TW_CLI_CONFIG_DEFAULT:
        fputs(tw_config_default_yaml(), stdout);
        status = TW_EXIT_OK;
        break;
    case TW_CLI_CHECK_CONFIG:
        status = check_config(&cli);
        break;
    case TW_CLI_CHECK_METRICS:
        status = check_metrics(&cli);
        break;
    case TW_CLI_TSDB_DUMP:
    case TW_CLI_TSDB_ANALYZE:
        status = tsdb_tool(&cli);
        break;
    case TW_CLI_QUERY:
        status = tw_query_cli_main(cli.sub_argc, cli.sub_argv, stdout, stderr);
        break;
    case TW_CLI_TEST_PROMQL:
        status = tw_promql_test_main(cli.sub_argc, (char **)cli.sub_argv, stdout, stderr);
        break;
    case TW_CLI_CHECK_RULES:
        status = tw_rules_check_main(cli.sub_argc, (char **)cli.sub_argv, stdout, stderr);
        break;
    case TW_CLI_TEST_RULES:
        status = tw_rules_test_main(cli.sub_argc, (char **)cli.sub_argv, stdout, stderr);
        break;
    case TW_CLI_AUTOSCALER_RECOMMEND:
        status = tw_vpa_cli_main(cli.sub_argc, cli.sub_argv, stdout, stderr);
        break;
    case TW_CLI_AUTOSCALER_SIMULATE:
        status = tw_hpa_simulate_main(cli.sub_argc, (char **)cli.sub_argv, stdout, stderr);
        break;
    case TW_CLI_AUTOSCALER_CALC:
    case TW_CLI_AUTOSCALER_VPA_CALC:
        status = autoscaler_calc(&cli);
        break;
    case TW_CLI_RUN:
    default:
        status = run(&cli);
        break;
    }
    if (fflush(stdout) != 0 && status == TW_EXIT_OK) {
        status = TW_EXIT_FAILURE;
    }
    exit(status);
}
