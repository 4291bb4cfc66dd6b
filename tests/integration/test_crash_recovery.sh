#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_crash_recovery.sh - kill -9 tidewatch under remote_write load; every acknowledged sample
# must survive, with its exact value.
#
# Three rounds on the same data directory (so later rounds also replay the earlier rounds' WAL
# segments). In each round:
#   1. tidewatch starts with --web.enable-remote-write-receiver (no collectors);
#   2. tests/tools/rw_crash_load sends batch after batch of fresh samples (20 long-lived series +
#      one new series per batch, 5 samples each, increasing timestamps) and logs every sample it
#      sends and every batch that got a 2xx ("ACK");
#   3. after a random 1-4 s tidewatch gets SIGKILL (the load tool then fails its request and
#      exits);
#   4. `tidewatch tsdb dump` of the crashed directory (read-only replay): every acknowledged
#      sample of every round so far is there with its exact value, nothing was invented, and the
#      batch in flight at the kill is there entirely or not at all (how many unacknowledged
#      batches made it is informational);
#   5. tidewatch restarts on the directory (writable replay: truncates a torn tail), the load
#      tool resends from the first unacknowledged batch for 20 batches (an identical resend of a
#      batch that was stored is a 204, not an error) and must get 2xx for all; SIGTERM (exit 0);
#      the dump is checked again, now including the resent batches.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd curl python3
LOAD=$(tw_require_tool rw_crash_load)
CHECK=$(dirname "$0")/rw_check.py
DATA=$TW_TMP/data
MATCH='{__name__=~"rw_crash_load_.+"}'
# Timestamps an hour in the past: far from a block cut (head span 3 h) and from "too old".
BASE_MS=$(($(date +%s) * 1000 - 3600000))

# check_dump NAME: dumps DATA into $TW_TMP/NAME.dump and runs rw_check.py on every log so far.
check_dump() {
    local name=$1
    "$TW_BIN" tsdb dump "$DATA" --match="$MATCH" >"$TW_TMP/$name.dump" 2>"$TW_TMP/$name.err" ||
        tw_fail "tidewatch tsdb dump failed: $(cat "$TW_TMP/$name.err")"
    if [ -s "$TW_TMP/$name.err" ]; then
        tw_log "tsdb dump reported (expected after a crash only for a torn tail):"
        cat "$TW_TMP/$name.err" >&2
        grep -qi 'corrupt\|damaged' "$TW_TMP/$name.err" &&
            tw_fail "tsdb dump found WAL corruption after a plain kill -9 (see above)"
    fi
    python3 "$CHECK" "$TW_TMP/$name.dump" "$TW_TMP"/load-*.log ||
        tw_fail "$name: acknowledged samples lost or altered (see above)"
}

cfgport=$(tw_free_port)
tw_write_config "$TW_TMP/tidewatch.yml" "$cfgport" "$DATA" - -
for round in 1 2 3; do
    port=$(tw_free_port)
    tw_start_tidewatch_args "$TW_TMP/tidewatch.yml" "$port" "$DATA" "tidewatch-$round" \
        --web.enable-remote-write-receiver
    first=$((round * 100000))
    "$LOAD" --url "http://127.0.0.1:$port/api/v1/write" --log "$TW_TMP/load-$round.log" \
        --start-ms "$BASE_MS" --first-batch "$first" --series 20 --samples 5 \
        2>"$TW_TMP/load-$round.err" &
    lpid=$!
    tw_track_pid "$lpid"
    delay_ms=$((1000 + RANDOM % 3001))
    sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
    kill -0 "$lpid" 2>/dev/null ||
        tw_fail "round $round: load stopped before the kill: $(cat "$TW_TMP/load-$round.err")"
    kill -KILL "$TW_PID"
    wait "$TW_PID" 2>/dev/null
    rc=$?
    [ "$rc" = 137 ] || tw_fail "round $round: tidewatch exited $rc before the SIGKILL"
    # The load tool fails its next request (connection refused/reset) and exits 3; bounded.
    tw_wait_exit "$lpid" 15 || tw_fail "round $round: load tool did not exit after the kill"
    [ "$TW_STOP_RC" = 3 ] || tw_fail "round $round: load tool exited $TW_STOP_RC, want 3"
    acks=$(grep -c '^ACK' "$TW_TMP/load-$round.log")
    last=$(awk '$1 == "ACK" { b = $2 } END { print b }' "$TW_TMP/load-$round.log")
    [ "$acks" -gt 0 ] || tw_fail "round $round: no batch acknowledged before the kill"
    tw_log "round $round: SIGKILL after ${delay_ms} ms; $acks batches acknowledged" \
        "(last $last); $(grep '^ERR' "$TW_TMP/load-$round.log")"

    check_dump "crash-$round"
    tw_log "round $round: crashed directory OK"

    port=$(tw_free_port)
    tw_start_tidewatch_args "$TW_TMP/tidewatch.yml" "$port" "$DATA" "tidewatch-$round-restart" \
        --web.enable-remote-write-receiver
    grep 'TSDB started' "$TW_LOG" >&2
    grep 'WAL replay' "$TW_LOG" >&2
    "$LOAD" --url "http://127.0.0.1:$port/api/v1/write" --log "$TW_TMP/load-$round-resend.log" \
        --start-ms "$BASE_MS" --first-batch "$((last + 1))" --batches 20 --series 20 --samples 5 ||
        tw_fail "round $round: resending from batch $((last + 1)) after the restart failed:" \
            "$(grep '^ERR' "$TW_TMP/load-$round-resend.log")"
    tw_stop_wait "$TW_PID" 10
    [ "$TW_STOP_RC" = 0 ] || tw_fail "round $round: tidewatch exited $TW_STOP_RC after SIGTERM"
    check_dump "restart-$round"
    tw_log "round $round: after restart + resend OK"
done
tw_log "WAL segments: $(ls "$DATA/wal" | tr '\n' ' ')"
tw_log "PASS: 3 kill -9 rounds, every acknowledged sample present with its exact value"
