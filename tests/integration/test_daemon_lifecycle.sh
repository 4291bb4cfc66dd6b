#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_daemon_lifecycle.sh - signals: a bad SIGHUP reload keeps serving; SIGTERM exits cleanly.
#
# Starts tidewatch on a valid config, replaces the file with one that has an unknown key on a
# known line and column, sends SIGHUP, and asserts that the daemon keeps answering /-/healthy,
# /-/ready and /metrics and logs the error as "<config path>:<line>:<col>" (DESIGN.md: unknown
# keys are an error with line and column; a bad reload keeps the old config and says why). Then
# SIGTERM must end the process with exit status 0 within 5 s.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd curl python3

port=$(tw_free_port)
cfg=$TW_TMP/tidewatch.yml
tw_write_config "$cfg" "$port" "$TW_TMP/data"
tw_start_tidewatch "$cfg" "$port" "$TW_TMP/data"
base=http://127.0.0.1:$port

tw_scrape "$port" "$TW_TMP/before.txt" >/dev/null
[ "$(grep -vc '^#' "$TW_TMP/before.txt")" -gt 0 ] || tw_fail "/metrics empty before the reload"

# The broken config: line 3, column 3 holds the unknown key "intervall".
cat >"$cfg" <<EOF
collector:
  interval: 1s
  intervall: 5s
storage:
  path: $TW_TMP/data
web:
  listen_address: 127.0.0.1:$port
EOF
kill -HUP "$TW_PID" || tw_fail "cannot send SIGHUP to $TW_PID"

# The error must appear in the log within 5 s, naming file:line:col.
deadline=$((SECONDS + 5))
pat="$cfg:3:3"
until grep -qF "$pat" "$TW_LOG"; do
    ((SECONDS < deadline)) || tw_fail "no log line naming $pat within 5 s of SIGHUP"
    kill -0 "$TW_PID" 2>/dev/null || tw_fail "tidewatch died on a bad reload"
    sleep 0.2
done
tw_log "logged: $(grep -F "$pat" "$TW_LOG" | head -n 1)"
grep -F "$pat" "$TW_LOG" | grep -q 'intervall' || tw_fail "the reload error does not name the key 'intervall'"

for path in /-/healthy /-/ready; do
    code=$(tw_http_code "$base$path")
    [ "$code" = 200 ] || tw_fail "$path answered $code after a bad reload, want 200"
done
# Still collecting with the old config (interval 1 s): a fresh scrape has samples.
sleep 1.5
tw_scrape "$port" "$TW_TMP/after.txt" >/dev/null
[ "$(grep -vc '^#' "$TW_TMP/after.txt")" -gt 0 ] || tw_fail "/metrics empty after the bad reload"

# SIGTERM: exit status 0 within 5 s.
kill -TERM "$TW_PID"
t0=$SECONDS
for ((i = 0; i < 50; i++)); do
    kill -0 "$TW_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$TW_PID" 2>/dev/null && tw_fail "still running 5 s after SIGTERM"
wait "$TW_PID"
rc=$?
[ "$rc" = 0 ] || tw_fail "exit status $rc after SIGTERM, want 0"
tw_log "SIGTERM: exited 0 after $((SECONDS - t0)) s"
code=$(tw_http_code "$base/-/healthy")
[ "$code" = 000 ] || tw_fail "port $port still answers ($code) after exit"
tw_log "PASS"
