#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_default_rules.sh - the default rules of deploy/rules/ (node and containers, built into
# the binary) pass their promtool-format unit tests with BOTH `tidewatch test rules` (in both
# query.compat modes) and the real `promtool test rules` (2.42), and `check rules` accepts them
# in both; the daemon with no config file loads them as builtin:*.yml, and what it serves on
# /api/v1/rules is the same rules as the files.
. "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd promtool python3 curl

DIR=$TW_SRC/deploy/rules
TESTS=$(ls "$DIR"/*.test.yml)
RULEFILES=$(ls "$DIR"/*.yml | grep -v '\.test\.yml$')
[ -n "$TESTS" ] || tw_fail "no unit tests in $DIR"
for r in $RULEFILES; do
    [ -f "${r%.yml}.test.yml" ] || tw_fail "$r has no unit test ${r%.yml}.test.yml"
done

cd "$DIR" || tw_fail "cd $DIR"
# shellcheck disable=SC2086
promtool test rules $TESTS >"$TW_TMP/promtool.out" 2>&1 ||
    tw_fail "promtool test rules failed: $(cat "$TW_TMP/promtool.out")"
for compat in prometheus3 prometheus2; do
    # shellcheck disable=SC2086
    "$TW_BIN" test rules --query.compat=$compat $TESTS >"$TW_TMP/tw-$compat.out" 2>&1 ||
        tw_fail "tidewatch test rules ($compat) failed: $(cat "$TW_TMP/tw-$compat.out")"
done
# shellcheck disable=SC2086
promtool check rules $RULEFILES >"$TW_TMP/pcheck.out" 2>&1 ||
    tw_fail "promtool check rules failed: $(cat "$TW_TMP/pcheck.out")"
# shellcheck disable=SC2086
"$TW_BIN" check rules --lint=all --lint-fatal $RULEFILES >"$TW_TMP/tcheck.out" 2>&1 ||
    tw_fail "tidewatch check rules failed: $(cat "$TW_TMP/tcheck.out")"
diff "$TW_TMP/pcheck.out" "$TW_TMP/tcheck.out" >/dev/null ||
    tw_fail "check rules output differs: $(diff "$TW_TMP/pcheck.out" "$TW_TMP/tcheck.out")"
cd "$TW_TMP" || tw_fail "cd $TW_TMP"

# The embedded default config loads the same rules, built in.
PORT=$(tw_free_port)
TW_LOG=$TW_TMP/tidewatch.log
"$TW_BIN" run --web.listen-address "127.0.0.1:$PORT" --storage.tsdb.path "$TW_TMP/data" \
    >"$TW_LOG" 2>&1 </dev/null &
TW_PID=$!
tw_track_pid "$TW_PID"
tw_wait_http "http://127.0.0.1:$PORT/-/ready" 200 30 "$TW_PID" ||
    tw_fail "tidewatch with the embedded default config did not become ready"
curl -s "http://127.0.0.1:$PORT/api/v1/rules" >"$TW_TMP/rules.json"
python3 - "$TW_TMP/rules.json" $RULEFILES <<'PY' || tw_fail "/api/v1/rules does not match deploy/rules"
import json, os, re, sys
groups = json.load(open(sys.argv[1]))["data"]["groups"]
served = {(g["file"], g["name"]): [r["name"] for r in g["rules"]] for g in groups}
want = {}
for path in sys.argv[2:]:
    group = None
    for line in open(path):
        m = re.match(r"^  - name: (\S+)", line)
        if m:
            group = m.group(1)
        m = re.match(r"^      - (?:alert|record): (\S+)", line)
        if m:
            want.setdefault(("builtin:" + os.path.basename(path), group), []).append(m.group(1))
assert served == want, (served, want)
for g in groups:
    for r in g["rules"]:
        assert r["health"] in ("ok", "unknown"), r
print("the default config serves %d built-in groups, %d rules"
      % (len(groups), sum(len(v) for v in served.values())))
PY
tw_log "PASS"
