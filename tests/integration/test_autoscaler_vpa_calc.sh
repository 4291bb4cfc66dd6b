#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The VPA recommender's histograms, model, estimators and capping against every case
# transcribed from the upstream vertical-pod-autoscaler tests:
# `tidewatch autoscaler vpa-calc --check` must pass them all. Cases of the updater
# (updater_eligibility) are reported as skipped until the updater exists; none may fail.
set -euo pipefail
cases="$TW_SRC/../shared/conformance/vpa/cases.json"
if [ ! -f "$cases" ]; then
  echo "SKIP: $cases not found (shared/ is not beside the checkout)"
  exit 77
fi
if ! "$TW_BIN" autoscaler vpa-calc --help >/dev/null 2>&1 &&
   ! "$TW_BIN" autoscaler vpa-calc "$cases" >/dev/null 2>&1; then
  echo "SKIP: this tidewatch has no 'autoscaler vpa-calc' subcommand yet"
  exit 77
fi
out=$("$TW_BIN" autoscaler vpa-calc "$cases" --check)
echo "$out" | grep '^FAIL ' || true
echo "$out" | tail -n 1
read -r total kinds_skipped < <(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(len(c), sum(1 for x in c if x["kind"] == "updater_eligibility"))' "$cases")
last=$(echo "$out" | tail -n 1)
want="$((total - kinds_skipped)) passed, 0 failed, $kinds_skipped skipped"
if [ "$last" != "$want" ]; then
  echo "FAIL: expected \"$want\", got \"$last\""
  exit 1
fi
# Without --check it prints one JSON object per case.
lines=$("$TW_BIN" autoscaler vpa-calc "$cases" | grep -c '^{"id":')
[ "$lines" -eq "$total" ] || { echo "FAIL: $lines JSON lines for $total cases"; exit 1; }
echo "PASS: $((total - kinds_skipped)) cases, $kinds_skipped updater cases skipped"
