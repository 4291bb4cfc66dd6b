#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The HPA replica calculator and controller steps against every case transcribed from the
# upstream kube-controller-manager tests: `tidewatch autoscaler calc --check` must pass them all.
set -euo pipefail
cases="$TW_SRC/../shared/conformance/hpa/cases.json"
if [ ! -f "$cases" ]; then
  echo "SKIP: $cases not found (shared/ is not beside the checkout)"
  exit 77
fi
out=$("$TW_BIN" autoscaler calc "$cases" --check)
echo "$out" | tail -n 3
total=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$cases")
last=$(echo "$out" | tail -n 1)
if [ "$last" != "$total passed, 0 failed" ]; then
  echo "FAIL: expected \"$total passed, 0 failed\", got \"$last\""
  exit 1
fi
# Without --check it prints one JSON object per case.
lines=$("$TW_BIN" autoscaler calc "$cases" | grep -c '^{"id":')
[ "$lines" -eq "$total" ] || { echo "FAIL: $lines JSON lines for $total cases"; exit 1; }
echo "PASS: $total cases"
