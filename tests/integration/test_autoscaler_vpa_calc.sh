#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The VPA module (recommender histograms, model, estimators and capping; the updater's
# priority, eligibility, eviction admission and eviction / in-place restrictions) against every
# case transcribed from the upstream vertical-pod-autoscaler tests:
# `tidewatch autoscaler vpa-calc --check` must pass them all, none skipped.
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
read -r total updater < <(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(len(c), sum(1 for x in c if x["kind"] == "updater_eligibility"))' "$cases")
last=$(echo "$out" | tail -n 1)
want="$total passed, 0 failed"
if [ "$last" != "$want" ]; then
  echo "FAIL: expected \"$want\", got \"$last\""
  exit 1
fi
# Without --check it prints one JSON object per case, none of them skipped.
lines=$("$TW_BIN" autoscaler vpa-calc "$cases" | grep -c '^{"id":')
[ "$lines" -eq "$total" ] || { echo "FAIL: $lines JSON lines for $total cases"; exit 1; }
if "$TW_BIN" autoscaler vpa-calc "$cases" | grep -q '"skipped"'; then
  echo "FAIL: some case was skipped"
  exit 1
fi
# A mis-stated expectation in an updater case is reported as a failure, not skipped.
bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
python3 -c '
import json, sys
c = [x for x in json.load(open(sys.argv[1])) if x["id"] == "disrupt-half-of-4"]
c[0]["expected"]["results"][-2] = True
json.dump(c, open(sys.argv[2], "w"))' "$cases" "$bad"
if out=$("$TW_BIN" autoscaler vpa-calc "$bad" --check); then
  echo "FAIL: a wrong expectation passed"
  exit 1
fi
echo "$out" | grep -q '^FAIL disrupt-half-of-4: results: ' || { echo "FAIL: no FAIL line: $out"; exit 1; }
[ "$(echo "$out" | tail -n 1)" = "0 passed, 1 failed" ] || { echo "FAIL: summary: $out"; exit 1; }
echo "PASS: $total cases ($updater of the updater)"
