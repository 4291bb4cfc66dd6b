#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_wal_damage.sh - a damaged WAL: tidewatch starts, says exactly what it lost, and keeps the
# rest.
#
# Setup: three daemon runs on one data dir, each taking 40 remote_write batches from
# tests/tools/rw_crash_load and stopped with SIGTERM. The WAL segment size is not configurable
# (tw_tsdb_options_t.wal_segment_bytes exists, but neither tidewatch.yml nor a flag sets it; the
# daemon keeps the 128 MiB default), so the multi-segment WAL comes from the documented "every
# open of a writable DB starts a new segment": three runs give three segments with records.
# Then three copies of that directory are damaged (tests/integration/wal_tool.py, written from
# docs/formats/wal.md, also computes which samples the documented replay rules lose):
#   (a) torn tail: the last segment is cut in the middle of its last record's payload. Restart:
#       the log must name that segment, the record's offset and the torn byte count ("torn
#       tail"), and every earlier sample must be present in the dump;
#   (b) payload damage: one byte flipped in the payload of a samples record in the middle of the
#       first segment. Restart succeeds; the log names the segment, the offset, "checksum
#       mismatch", the record type and size; exactly that record's samples are gone;
#   (c) header damage: one byte flipped in the header of a record in the middle of the first
#       segment. Restart succeeds; the log names the segment, the offset and the bytes skipped
#       (the rest of the segment); samples of series whose series record was skipped are counted
#       ("N samples lost: their series records were in damaged WAL data") in the log; exactly the
#       samples the rules predict are gone. Twice: (c) a record in the middle of the segment
#       (batches of that run lost, no series record of a long-lived series), (d) the first record
#       (the series records of the long-lived series: their samples in the later, undamaged
#       segments are lost too, and the log must give their exact number).
# For each case `tidewatch tsdb dump` (after SIGTERM) is checked with rw_check.py: every
# acknowledged sample not predicted lost is there with its exact value, the predicted-lost ones
# are absent, nothing else is there; and the daemon's tidewatch_tsdb_wal_corruptions_total is
# 0 for (a), >= 1 for (b) and (c).
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd curl python3
LOAD=$(tw_require_tool rw_crash_load)
HERE=$(dirname "$0")
MATCH='{__name__=~"rw_crash_load_.+"}'
BASE_MS=$(($(date +%s) * 1000 - 3600000))

tw_write_config "$TW_TMP/tidewatch.yml" "$(tw_free_port)" "$TW_TMP/data" - -
for run in 1 2 3; do
    port=$(tw_free_port)
    tw_start_tidewatch_args "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" "setup-$run" \
        --web.enable-remote-write-receiver
    "$LOAD" --url "http://127.0.0.1:$port/api/v1/write" --log "$TW_TMP/load-$run.log" \
        --start-ms "$BASE_MS" --first-batch $((run * 1000)) --batches 40 --series 10 --samples 4 ||
        tw_fail "setup run $run: remote_write failed: $(grep ERR "$TW_TMP/load-$run.log")"
    tw_stop_wait "$TW_PID" 10
    [ "$TW_STOP_RC" = 0 ] || tw_fail "setup run $run: tidewatch exited $TW_STOP_RC after SIGTERM"
done
tw_log "setup: WAL $(cd "$TW_TMP/data/wal" && for f in *; do printf '%s(%s bytes) ' "$f" \
    "$(stat -c %s "$f")"; done)"
"$TW_BIN" tsdb dump "$TW_TMP/data" --match="$MATCH" >"$TW_TMP/clean.dump" 2>"$TW_TMP/clean.err" ||
    tw_fail "dump of the undamaged directory failed: $(cat "$TW_TMP/clean.err")"
python3 "$HERE/rw_check.py" "$TW_TMP/clean.dump" "$TW_TMP"/load-*.log ||
    tw_fail "the undamaged directory already misses samples"

# run_case NAME ACTION: copies the data dir, damages it, restarts tidewatch on it, checks the
# log (the caller's LOG_RE, an extended regex with SEG/OFF/BYTES filled in) and the dump.
run_case() {
    local name=$1 action=$2 dir=$TW_TMP/$1 seg off bytes unknown port corr
    cp -a "$TW_TMP/data" "$dir"
    read -r seg off bytes unknown < <(python3 "$HERE/wal_tool.py" "$dir/wal" "$action" "$TW_TMP/$name.missing")
    [ -n "$unknown" ] || tw_fail "$name: wal_tool.py failed"
    tw_log "$name: $action in segment $seg at offset $off ($bytes bytes);" \
        "$(wc -l <"$TW_TMP/$name.missing") samples must be lost ($unknown of them because their" \
        "series record is)"
    port=$(tw_free_port)
    tw_start_tidewatch_args "$TW_TMP/tidewatch.yml" "$port" "$dir" "$name" \
        --web.enable-remote-write-receiver
    curl -s --max-time 5 "http://127.0.0.1:$port/metrics" >"$TW_TMP/$name.metrics"
    corr=$(tw_metric_value "$TW_TMP/$name.metrics" tidewatch_tsdb_wal_corruptions_total)
    tw_stop_wait "$TW_PID" 10
    [ "$TW_STOP_RC" = 0 ] || tw_fail "$name: tidewatch exited $TW_STOP_RC after SIGTERM"
    tw_log "$name: what tidewatch logged about the WAL:"
    grep -E 'WAL|TSDB started' "$TW_LOG" >&2
    local want=${LOG_RE//SEG/$seg}
    want=${want//OFF/$off}
    want=${want//BYTES/$bytes}
    grep -Eq "$want" "$TW_LOG" || tw_fail "$name: no log line matching /$want/"
    if [ "$unknown" -gt 0 ]; then
        want="$unknown samples lost: their series records were in damaged WAL data"
        grep -q "$want" "$TW_LOG" || tw_fail "$name: the log does not say '$want'"
    elif grep -q 'their series records were in damaged' "$TW_LOG"; then
        tw_fail "$name: the log reports lost series records, but none were damaged"
    fi
    tw_log "$name: tidewatch_tsdb_wal_corruptions_total = ${corr:-absent}"
    case "$action" in
    truncate-tail) [ "$corr" = 0 ] || tw_fail "$name: a torn tail counted as corruption ($corr)" ;;
    *) [ -n "$corr" ] && [ "${corr%.*}" -ge 1 ] || tw_fail "$name: corruption not counted ($corr)" ;;
    esac
    "$TW_BIN" tsdb dump "$dir" --match="$MATCH" >"$TW_TMP/$name.dump" 2>"$TW_TMP/$name.err" ||
        tw_fail "$name: tsdb dump failed: $(cat "$TW_TMP/$name.err")"
    [ -s "$TW_TMP/$name.err" ] && tw_log "$name: tsdb dump warned: $(cat "$TW_TMP/$name.err")"
    python3 "$HERE/rw_check.py" "$TW_TMP/$name.dump" "$TW_TMP"/load-*.log \
        --expect-missing "$TW_TMP/$name.missing" ||
        tw_fail "$name: the dump is not the undamaged data minus exactly the lost record(s)"
    [ -s "$TW_TMP/$name.missing" ] || tw_fail "$name: the damage destroyed no sample?"
    tw_log "$name: OK"
}

LOG_RE='SEG offset OFF: torn tail, BYTES bytes' run_case a-torn-tail truncate-tail
LOG_RE='WAL replay skipped damaged data.*SEG offset OFF: checksum mismatch in a samples record of BYTES bytes' \
    run_case b-payload flip-payload
HDR_RE='WAL replay skipped damaged data.*SEG offset OFF: damaged record header; the rest of the segment \(BYTES bytes\) is skipped'
LOG_RE=$HDR_RE run_case c-header flip-header
LOG_RE=$HDR_RE run_case d-header-first flip-header-first
tw_log "PASS: torn tail, damaged payload and damaged header reported and the rest kept"
