/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promql_test_run.c - runs PromQL test scripts like `tidewatch test promql`, for the conformance
 * integration test and for use before the subcommand is wired into the CLI.
 *
 * Usage: promql_test_run [--query.compat=prometheus2] [-v] [--no-range-check] FILE...
 * Exit code: 0 when no eval failed, 1 when one did or a script was malformed, 2 on usage errors.
 */
#include <stdio.h>

#include "query/query.h"

int main(int argc, char **argv)
{
    return tw_promql_test_main(argc - 1, argv + 1, stdout, stderr);
}
