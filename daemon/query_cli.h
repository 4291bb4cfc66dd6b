/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query_cli.h - `tidewatch query`: one PromQL query against a running tidewatch (or Prometheus)
 * over its HTTP API, or against a data directory no daemon holds, printed the way
 * `promtool query instant|range` prints.
 *
 *   tidewatch query EXPR [--time=T]                          an instant query
 *   tidewatch query EXPR --start=T --end=T [--step=D]        a range query
 *     --server=URL               ask the server at URL (default http://127.0.0.1:9475)
 *     --storage.tsdb.path=DIR    evaluate locally on the data dir DIR instead (read-only)
 *     --query.compat=prometheus3|prometheus2, --query.lookback-delta=D, --query.timeout=D,
 *     --query.max-samples=N      engine settings for --storage.tsdb.path
 *
 * Times are Unix seconds or RFC 3339, durations seconds or Prometheus durations (as the API
 * takes them). Like promtool, a range query without --start starts 5 minutes before --end, and
 * without --step uses (end - start) / 250 rounded down to whole seconds (at least 1 s).
 *
 * Thread model: one call at a time per process (libcurl's global init).
 */
#ifndef TW_DAEMON_QUERY_CLI_H
#define TW_DAEMON_QUERY_CLI_H

#include <stdio.h>

/*
 * Runs the subcommand: argv[0] is "query", the rest its arguments. Prints the result to out
 * and errors to errout ("query error: bad_data: ..." like promtool). Returns the exit code:
 * 0 success, 1 a query or I/O error, 2 a usage error.
 */
int tw_query_cli_main(int argc, char *const *argv, FILE *out, FILE *errout);

#endif
