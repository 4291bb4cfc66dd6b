#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_tsdb_snapshot.sh - Prometheus' admin snapshot API: POST /api/v1/admin/tsdb/snapshot is
# refused without --web.enable-admin-api, and with it writes block directories (chunks/, index,
# meta.json with numSamples/numSeries/numChunks) that the real promtool 2.42 dumps exactly as
# `tidewatch tsdb dump` does. skip_head=true with no blocks yet gives an empty snapshot; a bad
# skip_head is 400 bad_data, as in Prometheus.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_cmd promtool curl python3

port=$(tw_free_port)
data=$TW_TMP/data
tw_write_config "$TW_TMP/tw.yml" "$port" "$data" /sys/fs/cgroup /proc /sys / 1s

# Without the flag, the route does not exist.
tw_start_tidewatch "$TW_TMP/tw.yml" "$port" "$data" plain
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/api/v1/admin/tsdb/snapshot")
[ "$code" = 404 ] || tw_fail "snapshot without --web.enable-admin-api answered $code, want 404"
tw_stop_wait "$TW_PID" 5

tw_start_tidewatch_args "$TW_TMP/tw.yml" "$port" "$data" admin --web.enable-admin-api
sleep 3 # a few collections in the head
body=$(curl -s -XPOST "http://127.0.0.1:$port/api/v1/admin/tsdb/snapshot?skip_head=maybe")
[ "$body" = '{"status":"error","errorType":"bad_data","error":"unable to parse boolean '"'"'skip_head'"'"' argument"}' ] ||
    tw_fail "bad skip_head answered: $body"
body=$(curl -s -XPOST "http://127.0.0.1:$port/api/v1/admin/tsdb/snapshot")
name=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["status"]=="success"; print(d["data"]["name"])' "$body") ||
    tw_fail "snapshot answered: $body"
tw_log "snapshot $name"
tw_stop_wait "$TW_PID" 5

snap=$data/snapshots/$name
blocks=$(find "$snap" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$blocks" -ge 1 ] || tw_fail "snapshot $snap holds no block"
for b in "$snap"/*/; do
    [ -d "$b/chunks" ] && [ -f "$b/index" ] && [ -f "$b/meta.json" ] || tw_fail "incomplete block $b"
    python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
s = m["stats"]
assert s["numSamples"] > 0 and s["numSeries"] > 0 and s["numChunks"] > 0, s
print("block %s: %d samples, %d series, %d chunks" % (m["ulid"], s["numSamples"], s["numSeries"], s["numChunks"]))' "$b/meta.json" ||
        tw_fail "bad meta.json in $b"
done

# promtool opens a TSDB directory only with a wal/ beside the blocks.
mkdir -p "$snap/wal"
promtool tsdb dump "$snap" 2>/dev/null | sort >"$TW_TMP/promtool.txt"
"$TW_BIN" tsdb dump "$snap" 2>/dev/null | sort >"$TW_TMP/tidewatch.txt"
n=$(wc -l <"$TW_TMP/promtool.txt")
[ "$n" -gt 0 ] || tw_fail "promtool dumped nothing from $snap"
if ! cmp -s "$TW_TMP/promtool.txt" "$TW_TMP/tidewatch.txt"; then
    diff "$TW_TMP/promtool.txt" "$TW_TMP/tidewatch.txt" | head -20
    tw_fail "promtool and tidewatch dump the snapshot differently"
fi
tw_log "PASS: promtool 2.42 and tidewatch dump the same $n samples from the snapshot"
