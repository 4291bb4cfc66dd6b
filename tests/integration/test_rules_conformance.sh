#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_rules_conformance.sh - `tidewatch test rules` and `tidewatch check rules` against the
# verdicts of promtool 2.42 recorded in ../shared/conformance/rules/ (manifest.json for
# `test rules`, check-manifest.json for `check rules`).
#
# Every recorded run is repeated from that directory with the same arguments, with
# `--query.compat=prometheus2` added, and its exit status must equal promtool's (0 or not; for
# `check rules` the exact code, since --lint-fatal exits 3). Runs recorded as not deterministic
# whose variants disagree on the verdict are skipped and counted. Prints one line per differing
# run (with our output) and the counts; passes when nothing differs.
#
# Environment: TW_RULES_CONFORMANCE (the directory; default $TW_SRC/../shared/conformance/rules),
# TW_RULES_CLI (a command to run instead of "$TW_BIN": it gets the same arguments).
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_cmd python3

DIR=${TW_RULES_CONFORMANCE:-$TW_SRC/../shared/conformance/rules}
[ -f "$DIR/manifest.json" ] || tw_skip "no conformance set at $DIR"
CLI=${TW_RULES_CLI:-}
if [ -z "$CLI" ]; then
    tw_require_bin
    CLI=$TW_BIN
    # until daemon/cli.c routes `test rules` and `check rules` to daemon/rules_cli.c
    if "$CLI" test rules "$DIR/manifest.json" 2>&1 | grep -q 'expected "test promql"'; then
        tw_skip "this tidewatch has no \`test rules\` command yet"
    fi
fi

python3 - "$DIR" "$CLI" <<'PY' || tw_fail "verdicts differ from promtool 2.42 (see above)"
import json, os, subprocess, sys

d, cli = sys.argv[1], sys.argv[2]
counts = {"same": 0, "differ": 0, "skipped": 0}
for manifest in ("manifest.json", "check-manifest.json"):
    for e in json.load(open(os.path.join(d, manifest))):
        argv = e["argv"][1:]
        codes = {e["promtool_exit"]}
        for v in e.get("observed_variants") or []:
            if isinstance(v, dict) and "promtool_exit" in v:
                codes.add(v["promtool_exit"])
        if len({c != 0 for c in codes}) > 1:
            counts["skipped"] += 1
            continue
        cmd = [cli, argv[0], argv[1], "--query.compat=prometheus2"] + argv[2:]
        p = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=300)
        want = e["promtool_exit"]
        same = (p.returncode == want) if argv[0] == "check" else ((p.returncode == 0) == (want == 0))
        if same:
            counts["same"] += 1
        else:
            counts["differ"] += 1
            print("DIFFER: %s: promtool exit %d, ours %d" % (" ".join(argv), want, p.returncode))
            print("  ours:  " + (p.stdout + p.stderr).replace("\n", "\n         ")[:3000])
            print("  promtool: " + e["promtool_output"].replace("\n", "\n         ")[:3000])
print("rules conformance (promtool 2.42): %d same verdict, %d differ, %d skipped (random verdict)"
      % (counts["same"], counts["differ"], counts["skipped"]))
sys.exit(1 if counts["differ"] else 0)
PY
