/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h - tidewatch's command line: subcommands and flags, named like Prometheus' where they
 * overlap.
 *
 *   tidewatch [run] [flags]          run the daemon
 *   tidewatch check config FILE...   validate configuration files (promtool's output style)
 *   tidewatch check metrics [--format text|openmetrics]
 *                                    parse and lint an exposition read from stdin
 *   tidewatch config default         print the embedded default configuration
 *   tidewatch version                print version information
 *   tidewatch tsdb dump [DB_PATH] [--match=SELECTOR] [--min-time=T] [--max-time=T]
 *   tidewatch tsdb analyze [DB_PATH] [--limit=N]
 *   tidewatch autoscaler calc FILE [--check]
 *   tidewatch autoscaler vpa-calc FILE [--check]
 *   tidewatch autoscaler simulate --spec HPA.yaml --metrics FILE [--sync-period D]
 *                                    run the HPA calculator on a case file
 *   tidewatch query EXPR [...]       one PromQL query (daemon/query_cli.h)
 *   tidewatch test promql FILE...    run Prometheus PromQL test scripts (query/query.h)
 *
 * Flags take `--flag=value` or `--flag value`. Parsing is pure (no I/O, no exit): main.c decides
 * what to print and which exit code to use. Thread-safe.
 */
#ifndef TW_DAEMON_CLI_H
#define TW_DAEMON_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/log.h"

/* Exit codes main() uses. */
enum {
    TW_EXIT_OK = 0,
    TW_EXIT_FAILURE = 1, /* runtime failure, or `check config` found an invalid file */
    TW_EXIT_USAGE = 2,   /* bad command line */
};

typedef enum {
    TW_CLI_RUN = 0,
    TW_CLI_CHECK_CONFIG,
    TW_CLI_CONFIG_DEFAULT,
    TW_CLI_VERSION,
    TW_CLI_HELP,
    TW_CLI_AUTOSCALER_CALC,
    TW_CLI_CHECK_METRICS,
    TW_CLI_TSDB_DUMP,
    TW_CLI_TSDB_ANALYZE,
    TW_CLI_QUERY,       /* the rest of the arguments go to tw_query_cli_main() */
    TW_CLI_TEST_PROMQL, /* the rest of the arguments go to tw_promql_test_main() */
    TW_CLI_AUTOSCALER_VPA_CALC,
    TW_CLI_CHECK_RULES,          /* the rest of the arguments go to tw_rules_check_main() */
    TW_CLI_TEST_RULES,           /* the rest of the arguments go to tw_rules_test_main() */
    TW_CLI_AUTOSCALER_RECOMMEND, /* the rest of the arguments go to tw_vpa_cli_main() */
    TW_CLI_AUTOSCALER_SIMULATE,  /* the rest of the arguments go to tw_hpa_simulate_main() */
} tw_cli_command_t;

/* A parsed command line. Strings point into argv (borrowed: valid as long as argv). */
typedef struct tw_cli {
    tw_cli_command_t command;
    const char *config_file;    /* --config.file; NULL: the embedded default */
    const char *listen_address; /* --web.listen-address; NULL: the config's */
    const char *storage_path;   /* --storage.tsdb.path; NULL: the config's */
    const char *retention_time; /* --storage.tsdb.retention.time; NULL: the config's */
    tw_log_level_t log_level;   /* --log.level; default info */
    tw_log_format_t log_format; /* --log.format; default logfmt */
    char *const *files;         /* check config: the files (points into argv) */
    size_t nfiles;
    const char *calc_file;    /* autoscaler calc|vpa-calc: the case file */
    int calc_check;           /* autoscaler calc|vpa-calc --check */
    int enable_remote_write;  /* --web.enable-remote-write-receiver */
    int enable_admin_api;     /* --web.enable-admin-api */
    const char *db_path;      /* tsdb dump|analyze: the data dir; default "data/" like promtool */
    const char *match;        /* tsdb dump --match; NULL: every series */
    int64_t min_time_ms;      /* tsdb dump --min-time; default INT64_MIN */
    int64_t max_time_ms;      /* tsdb dump --max-time; default INT64_MAX */
    size_t limit;             /* tsdb analyze --limit; default 20 */
    int metrics_openmetrics;  /* check metrics --format openmetrics (default text) */
    const char *query_compat; /* --query.compat; NULL: the config's */
    const char *query_lookback_delta; /* --query.lookback-delta; NULL: the config's */
    const char *query_max_samples;    /* --query.max-samples; NULL: the config's */
    const char *query_timeout;        /* --query.timeout; NULL: the config's */
    /* query: argv from "query" on; test promql: the arguments after "promql". */
    int sub_argc;
    char *const *sub_argv;
} tw_cli_t;

/*
 * Parses argv[1..argc) into out. Returns 0, or TW_EINVAL with a one-line message in err
 * ("unknown flag --x", "flag --log.level: ...") after which main prints the usage and exits 2.
 */
int tw_cli_parse(int argc, char *const *argv, tw_cli_t *out, tw_error_t *err);

/* The usage text listing subcommands and flags (static string). */
const char *tw_cli_usage(void);

#endif
