/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.c - command-line parsing (see cli.h). Flags may come before or after the subcommand, as
 * `--name=value` or `--name value`; the first argument that is not a flag is the subcommand.
 * Pure; thread-safe.
 */
#include "cli.h"

#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: tidewatch [<command>] [<flags>]\n"
    "\n"
    "tidewatch: container and host metrics, storage and autoscaling in one daemon.\n"
    "\n"
    "Commands:\n"
    "  run                       run the daemon (the default)\n"
    "  check config FILE...      check that configuration files are valid\n"
    "  check metrics [--format text|openmetrics]\n"
    "                            parse an exposition from stdin and print promtool's lint\n"
    "                            findings (exit 0 when it parses, 1 when it does not)\n"
    "  config default            print the embedded default configuration\n"
    "  version                   show version information\n"
    "  tsdb dump [DB_PATH] [--match=SELECTOR] [--min-time=T] [--max-time=T]\n"
    "                            print the samples of a data dir no daemon holds, like\n"
    "                            promtool tsdb dump (DB_PATH default data/, times in ms)\n"
    "  tsdb analyze [DB_PATH] [--limit=N]\n"
    "                            series and label cardinality, like promtool tsdb analyze\n"
    "  autoscaler calc FILE [--check]\n"
    "                            run the HPA replica calculator and controller on a case file\n"
    "                            (one JSON line per case; --check compares with expected)\n"
    "  autoscaler vpa-calc FILE [--check]\n"
    "                            run the VPA recommender on a case file (like calc)\n"
    "  autoscaler recommend --storage.tsdb.path=DIR --selector=SELECTOR\n"
    "                            VPA recommendations from a data dir's history\n"
    "  autoscaler simulate --spec HPA.yaml --metrics FILE [--sync-period 15s]\n"
    "                            replay metric values through the HPA controller (dry run)\n"
    "  query EXPR [--time=T] [--start=T --end=T --step=D]\n"
    "        [--server=URL | --storage.tsdb.path=DIR]\n"
    "                            one PromQL query against a running server (default\n"
    "                            http://127.0.0.1:9475) or a data dir, printed like promtool\n"
    "                            query instant|range\n"
    "  test promql [--query.compat=C] [-v] FILE...\n"
    "                            run Prometheus' PromQL test scripts\n"
    "  check rules [--lint=none|duplicate-rules|all] [--lint-fatal] FILE...\n"
    "                            check Prometheus rule files like promtool check rules\n"
    "  test rules [--query.compat=C] FILE...\n"
    "                            run promtool's rule unit-test files\n"
    "\n"
    "Flags:\n"
    "  -h, --help                show this help\n"
    "      --version             show version information\n"
    "      --config.file=FILE    configuration file (default: the embedded default)\n"
    "      --web.listen-address=ADDR\n"
    "                            address to listen on for the web interface and /metrics\n"
    "                            (overrides web.listen_address; default 127.0.0.1:9475)\n"
    "      --storage.tsdb.path=DIR\n"
    "                            data directory (overrides storage.path; default ./data)\n"
    "      --storage.tsdb.retention.time=DURATION\n"
    "                            how long to keep samples (overrides storage.retention.time;\n"
    "                            default 15d)\n"
    "      --log.level=LEVEL     only log messages at this level or above: debug, info, warn,\n"
    "                            error (default info)\n"
    "      --log.format=FORMAT   log format: logfmt, json (default logfmt)\n"
    "      --web.enable-remote-write-receiver\n"
    "                            accept Prometheus remote_write on POST /api/v1/write\n"
    "      --web.enable-admin-api\n"
    "                            serve POST /api/v1/admin/tsdb/snapshot\n"
    "      --query.compat=MODE   prometheus3 or prometheus2 (overrides query.compat)\n"
    "      --query.lookback-delta=DURATION\n"
    "                            how far back a selector looks (overrides query.lookback_delta;\n"
    "                            default 5m)\n"
    "      --query.max-samples=N samples a query may hold in memory (overrides\n"
    "                            query.max_samples; default 50000000)\n"
    "      --query.timeout=DURATION\n"
    "                            longest a query may run (overrides query.timeout; default 2m)\n";

const char *tw_cli_usage(void)
{
    return usage;
}

/* Flags that take a value. */
typedef enum {
    FLAG_CONFIG_FILE,
    FLAG_LISTEN,
    FLAG_STORAGE_PATH,
    FLAG_RETENTION,
    FLAG_LOG_LEVEL,
    FLAG_LOG_FORMAT,
    FLAG_QUERY_COMPAT,
    FLAG_QUERY_LOOKBACK,
    FLAG_QUERY_MAX_SAMPLES,
    FLAG_QUERY_TIMEOUT,
} flag_id_t;

static const struct {
    const char *name;
    flag_id_t id;
} value_flags[] = {
    {"--config.file", FLAG_CONFIG_FILE},
    {"--web.listen-address", FLAG_LISTEN},
    {"--storage.tsdb.path", FLAG_STORAGE_PATH},
    {"--storage.tsdb.retention.time", FLAG_RETENTION},
    {"--log.level", FLAG_LOG_LEVEL},
    {"--log.format", FLAG_LOG_FORMAT},
    {"--query.compat", FLAG_QUERY_COMPAT},
    {"--query.lookback-delta", FLAG_QUERY_LOOKBACK},
    {"--query.max-samples", FLAG_QUERY_MAX_SAMPLES},
    {"--query.timeout", FLAG_QUERY_TIMEOUT},
};

static int set_flag(tw_cli_t *out, flag_id_t id, const char *name, const char *value,
                    tw_error_t *err)
{
    switch (id) {
    case FLAG_CONFIG_FILE:
        if (value[0] == '\0') {
            return tw_error_set(err, TW_EINVAL, "flag %s: needs a file name", name);
        }
        out->config_file = value;
        break;
    case FLAG_LISTEN:
        out->listen_address = value;
        break;
    case FLAG_STORAGE_PATH:
        out->storage_path = value;
        break;
    case FLAG_RETENTION:
        out->retention_time = value;
        break;
    case FLAG_LOG_LEVEL:
        if (tw_log_level_parse(value, &out->log_level) != 0) {
            return tw_error_set(err, TW_EINVAL,
                                "flag %s: invalid value \"%s\" (expected debug, info, warn or "
                                "error)",
                                name, value);
        }
        break;
    case FLAG_QUERY_COMPAT:
        /* Checked with the config (tw_config_apply_overrides), like the other overrides. */
        out->query_compat = value;
        break;
    case FLAG_QUERY_LOOKBACK:
        out->query_lookback_delta = value;
        break;
    case FLAG_QUERY_MAX_SAMPLES:
        out->query_max_samples = value;
        break;
    case FLAG_QUERY_TIMEOUT:
        out->query_timeout = value;
        break;
    case FLAG_LOG_FORMAT:
        if (tw_log_format_parse(value, &out->log_format) != 0) {
            return tw_error_set(err, TW_EINVAL,
                                "flag %s: invalid value \"%s\" (expected logfmt or json)", name,
                                value);
        }
        break;
    }
    return 0;
}

/* Handles the flag at argv[*i]; may consume argv[*i + 1] as its value. */
static int parse_flag(int argc, char *const *argv, int *i, tw_cli_t *out, bool *help, bool *version,
                      tw_error_t *err)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        *help = true;
        return 0;
    }
    if (strcmp(arg, "--version") == 0) {
        *version = true;
        return 0;
    }
    if (strcmp(arg, "--web.enable-remote-write-receiver") == 0) {
        out->enable_remote_write = 1;
        return 0;
    }
    if (strcmp(arg, "--web.enable-admin-api") == 0) {
        out->enable_admin_api = 1;
        return 0;
    }
    const char *eq = strchr(arg, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    for (size_t f = 0; f < sizeof(value_flags) / sizeof(value_flags[0]); f++) {
        const char *name = value_flags[f].name;
        if (strlen(name) != name_len || strncmp(arg, name, name_len) != 0) {
            continue;
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (*i + 1 < argc) {
            value = argv[++*i];
        } else {
            return tw_error_set(err, TW_EINVAL, "flag %s needs a value", name);
        }
        return set_flag(out, value_flags[f].id, name, value, err);
    }
    return tw_error_set(err, TW_EINVAL, "unknown flag %.*s", (int)name_len, arg);
}

/* A decimal int64 (promtool's --min-time/--max-time are milliseconds). */
static int parse_int64(const char *flag, const char *v, int64_t *out, tw_error_t *err)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || errno != 0) {
        return tw_error_set(err, TW_EINVAL,
                            "flag %s: expected milliseconds since the epoch, got %s", flag, v);
    }
    *out = (int64_t)x;
    return 0;
}

/* tsdb dump|analyze: argv[i] is the subcommand. */
static int parse_tsdb(int argc, char *const *argv, int i, tw_cli_t *out, bool *help,
                      tw_error_t *err)
{
    if (i >= argc || (strcmp(argv[i], "dump") != 0 && strcmp(argv[i], "analyze") != 0)) {
        return tw_error_set(err, TW_EINVAL, "tsdb: expected \"tsdb dump\" or \"tsdb analyze\"");
    }
    bool dump = strcmp(argv[i], "dump") == 0;
    out->command = dump ? TW_CLI_TSDB_DUMP : TW_CLI_TSDB_ANALYZE;
    for (int k = i + 1; k < argc; k++) {
        const char *a = argv[k];
        const char *eq = strchr(a, '=');
        size_t nl = eq != NULL ? (size_t)(eq - a) : strlen(a);
        const char *v = eq != NULL ? eq + 1 : (k + 1 < argc ? argv[k + 1] : NULL);
        bool consumed_next = eq == NULL;
        int rc = 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            *help = true;
            continue;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (out->db_path != NULL) {
                return tw_error_set(err, TW_EINVAL, "tsdb: unexpected argument %s", a);
            }
            out->db_path = a;
            continue;
        }
        bool known = true;
        if (v == NULL) {
            known = false;
        } else if (dump && nl == 7 && strncmp(a, "--match", nl) == 0) {
            out->match = v;
        } else if (dump && nl == 10 && strncmp(a, "--min-time", nl) == 0) {
            rc = parse_int64("--min-time", v, &out->min_time_ms, err);
        } else if (dump && nl == 10 && strncmp(a, "--max-time", nl) == 0) {
            rc = parse_int64("--max-time", v, &out->max_time_ms, err);
        } else if (!dump && nl == 7 && strncmp(a, "--limit", nl) == 0) {
            int64_t lim = 0;
            rc = parse_int64("--limit", v, &lim, err);
            if (rc == 0 && lim <= 0) {
                rc = tw_error_set(err, TW_EINVAL, "flag --limit: must be positive");
            }
            out->limit = (size_t)lim;
        } else {
            known = false;
        }
        if (!known) {
            return tw_error_set(err, TW_EINVAL, "unknown flag %.*s for tsdb %s", (int)nl, a,
                                dump ? "dump" : "analyze");
        }
        if (rc != 0) {
            return rc;
        }
        if (consumed_next) {
            k++;
        }
    }
    if (out->db_path == NULL) {
        out->db_path = "data/";
    }
    return 0;
}

int tw_cli_parse(int argc, char *const *argv, tw_cli_t *out, tw_error_t *err)
{
    bool help = false, version = false, have_command = false;
    memset(out, 0, sizeof(*out));
    out->command = TW_CLI_RUN;
    out->log_level = TW_LOG_INFO;
    out->log_format = TW_LOG_FMT_LOGFMT;
    out->min_time_ms = INT64_MIN;
    out->max_time_ms = INT64_MAX;
    out->limit = 20;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-' && arg[1] != '\0') {
            int rc = parse_flag(argc, argv, &i, out, &help, &version, err);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (have_command) {
            return tw_error_set(err, TW_EINVAL, "unexpected argument \"%s\"", arg);
        }
        have_command = true;
        if (strcmp(arg, "run") == 0) {
            out->command = TW_CLI_RUN;
        } else if (strcmp(arg, "version") == 0) {
            out->command = TW_CLI_VERSION;
        } else if (strcmp(arg, "check") == 0 && i + 1 < argc &&
                   strcmp(argv[i + 1], "metrics") == 0) {
            out->command = TW_CLI_CHECK_METRICS;
            for (int k = i + 2; k < argc; k++) {
                const char *fmt = NULL;
                if (strncmp(argv[k], "--format=", 9) == 0) {
                    fmt = argv[k] + 9;
                } else if (strcmp(argv[k], "--format") == 0 && k + 1 < argc) {
                    fmt = argv[++k];
                } else if (strcmp(argv[k], "-h") == 0 || strcmp(argv[k], "--help") == 0) {
                    help = true;
                    continue;
                } else {
                    return tw_error_set(err, TW_EINVAL, "check metrics: unexpected argument %s",
                                        argv[k]);
                }
                if (strcmp(fmt, "text") == 0) {
                    out->metrics_openmetrics = 0;
                } else if (strcmp(fmt, "openmetrics") == 0) {
                    out->metrics_openmetrics = 1;
                } else {
                    return tw_error_set(err, TW_EINVAL,
                                        "check metrics: --format must be text or openmetrics, "
                                        "got %s",
                                        fmt);
                }
            }
            break;
        } else if (strcmp(arg, "check") == 0 && i + 1 < argc && strcmp(argv[i + 1], "rules") == 0) {
            /* promtool's flags and files: the rules CLI parses them. */
            out->command = TW_CLI_CHECK_RULES;
            out->sub_argv = &argv[i + 2];
            out->sub_argc = argc - i - 2;
            break;
        } else if (strcmp(arg, "check") == 0 || strcmp(arg, "config") == 0) {
            bool check =
                arg[0] == 'c' && arg[1] == 'h'; /* check config; check rules/metrics above */
            const char *want = check ? "config" : "default";
            if (i + 1 >= argc || strcmp(argv[i + 1], want) != 0) {
                return tw_error_set(err, TW_EINVAL, "%s: expected \"%s %s\"%s%s%s", arg, arg, want,
                                    i + 1 < argc ? ", got \"" : "", i + 1 < argc ? argv[i + 1] : "",
                                    i + 1 < argc ? "\"" : "");
            }
            i++;
            if (!check) {
                out->command = TW_CLI_CONFIG_DEFAULT;
                continue;
            }
            /* Every remaining argument is a file, except help. */
            out->command = TW_CLI_CHECK_CONFIG;
            out->files = &argv[i + 1];
            out->nfiles = (size_t)(argc - i - 1);
            for (int k = i + 1; k < argc; k++) {
                if (strcmp(argv[k], "-h") == 0 || strcmp(argv[k], "--help") == 0) {
                    help = true;
                } else if (argv[k][0] == '-' && argv[k][1] != '\0') {
                    return tw_error_set(err, TW_EINVAL, "unknown flag %s for check config",
                                        argv[k]);
                }
            }
            if (!help && out->nfiles == 0) {
                return tw_error_set(err, TW_EINVAL, "check config: needs at least one file");
            }
            break;
        } else if (strcmp(arg, "query") == 0) {
            /* Everything after is the query's (its flags differ from the daemon's). */
            out->command = TW_CLI_QUERY;
            out->sub_argv = &argv[i];
            out->sub_argc = argc - i;
            break;
        } else if (strcmp(arg, "test") == 0) {
            bool rules = i + 1 < argc && strcmp(argv[i + 1], "rules") == 0;
            if (i + 1 >= argc || (!rules && strcmp(argv[i + 1], "promql") != 0)) {
                return tw_error_set(err, TW_EINVAL,
                                    "test: expected \"test promql\" or \"test rules\"");
            }
            out->command = rules ? TW_CLI_TEST_RULES : TW_CLI_TEST_PROMQL;
            out->sub_argv = &argv[i + 2];
            out->sub_argc = argc - i - 2;
            break;
        } else if (strcmp(arg, "tsdb") == 0) {
            int rc = parse_tsdb(argc, argv, i + 1, out, &help, err);
            if (rc != 0) {
                return rc;
            }
            break;
        } else if (strcmp(arg, "autoscaler") == 0) {
            if (i + 1 < argc && strcmp(argv[i + 1], "recommend") == 0) {
                /* The VPA recommender over a data dir parses its own flags. */
                out->command = TW_CLI_AUTOSCALER_RECOMMEND;
                out->sub_argv = &argv[i + 1];
                out->sub_argc = argc - i - 1;
                break;
            }
            if (i + 1 < argc && strcmp(argv[i + 1], "simulate") == 0) {
                /* The simulator parses its own flags. */
                out->command = TW_CLI_AUTOSCALER_SIMULATE;
                out->sub_argv = &argv[i + 2];
                out->sub_argc = argc - i - 2;
                break;
            }
            bool vpa = i + 1 < argc && strcmp(argv[i + 1], "vpa-calc") == 0;
            if (i + 1 >= argc || (!vpa && strcmp(argv[i + 1], "calc") != 0)) {
                return tw_error_set(err, TW_EINVAL,
                                    "autoscaler: expected \"autoscaler calc\", \"autoscaler "
                                    "vpa-calc\", \"autoscaler simulate\" or \"autoscaler "
                                    "recommend\"");
            }
            const char *sub = vpa ? "vpa-calc" : "calc";
            out->command = vpa ? TW_CLI_AUTOSCALER_VPA_CALC : TW_CLI_AUTOSCALER_CALC;
            for (int k = i + 2; k < argc; k++) {
                if (strcmp(argv[k], "--check") == 0) {
                    out->calc_check = 1;
                } else if (strcmp(argv[k], "-h") == 0 || strcmp(argv[k], "--help") == 0) {
                    help = true;
                } else if (argv[k][0] == '-' && argv[k][1] != '\0') {
                    return tw_error_set(err, TW_EINVAL, "unknown flag %s for autoscaler %s",
                                        argv[k], sub);
                } else if (out->calc_file != NULL) {
                    return tw_error_set(err, TW_EINVAL, "autoscaler %s: takes one file", sub);
                } else {
                    out->calc_file = argv[k];
                }
            }
            if (!help && out->calc_file == NULL) {
                return tw_error_set(err, TW_EINVAL, "autoscaler %s: needs a case file", sub);
            }
            break;
        } else {
            return tw_error_set(err, TW_EINVAL, "unknown command \"%s\"", arg);
        }
    }
    if (help) {
        out->command = TW_CLI_HELP;
    } else if (version) {
        out->command = TW_CLI_VERSION;
    }
    return 0;
}
