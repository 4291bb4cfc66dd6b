/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_cli.h - `tidewatch autoscaler recommend`: the vertical autoscaler's recommendations from
 * a data directory no daemon holds, computed from its history like the recommender's start-up
 * rebuild (docs/autoscaling-vpa.md, "Running it").
 *
 *   tidewatch autoscaler recommend --storage.tsdb.path=DIR [--selector=MATCHERS] [--time=T]
 *       [--history-length=8d] [--history-resolution=1h]
 *
 * MATCHERS are PromQL label matchers for the container series (`namespace="shop",pod=~"api-.*"`,
 * braces optional). One JSON object per line, per namespace and container, sorted as the
 * series come: {"namespace", "containerName", "target", "lowerBound", "upperBound",
 * "uncappedTarget", "historyLengthSeconds", "confidence", "totalSamples"}.
 */
#ifndef TW_DAEMON_VPA_CLI_H
#define TW_DAEMON_VPA_CLI_H

#include <stdio.h>

/*
 * Runs the subcommand: argv[0] is "recommend", the rest its flags. Returns the exit code: 0
 * success, 1 a storage or query error, 2 a usage error (messages on errout).
 */
int tw_vpa_cli_main(int argc, char *const *argv, FILE *out, FILE *errout);

#endif
