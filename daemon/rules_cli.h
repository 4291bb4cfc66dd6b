/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules_cli.h - `tidewatch check rules` and `tidewatch test rules`: promtool 2.42's (and 3.5's,
 * in the default mode) commands over Prometheus rule files and rule unit-test files. The rule
 * logic is alerting/rules; this file gives it the PromQL parser, the engine and its in-memory
 * storage.
 *
 *   tidewatch check rules [--lint=none|duplicate-rules|all] [--lint-fatal] FILE...
 *   tidewatch test rules [--query.compat=prometheus3|prometheus2] FILE...
 *
 * Thread model: one call at a time per process.
 */
#ifndef TW_DAEMON_RULES_CLI_H
#define TW_DAEMON_RULES_CLI_H

#include <stdio.h>

/*
 * `check rules`: argv[0] is the first argument after "rules". Output and exit codes as
 * promtool's: 0 fine (lint findings included), 1 errors or a missing file, 3 lint findings with
 * --lint-fatal, 2 a usage error.
 */
int tw_rules_check_main(int argc, char **argv, FILE *out, FILE *errout);

/*
 * `test rules`: argv[0] is the first argument after "rules". Returns 0 when every test passed,
 * 1 otherwise, 2 for a usage error.
 */
int tw_rules_test_main(int argc, char **argv, FILE *out, FILE *errout);

#endif
