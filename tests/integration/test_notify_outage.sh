#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_notify_outage.sh - webhook notifications survive a receiver outage and a notifier crash.
#
# notify_driver.c (compiled here against the build's libtw_notify.a) plays alerts through the
# alert sink into a webhook (group_by [alertname], group_wait 1s, group_interval 2s) whose
# receiver (notify_receiver.py) is stopped for ~22 s while alerts fire and resolve; the driver is
# killed with SIGKILL during the outage and restarted on the same outbox directory. After the
# receiver returns, every notification the driver journaled as queued must arrive exactly once,
# oldest first per group, with a valid HMAC signature, and the per-group sequence must be what
# Alertmanager would have sent.
. "$(dirname "$0")/lib.sh"
tw_init

for lib in libtw_notify.a libtw_common.a; do
    [ -f "$TW_BUILD/$lib" ] || tw_skip "$TW_BUILD/$lib is not built (--target tw_notify)"
done
tw_require_cmd cc pkg-config python3

TOOL=$TW_TMP/notify_driver
SAN=""
grep -q '^TW_SANITIZE:BOOL=ON' "$TW_BUILD/CMakeCache.txt" 2>/dev/null && SAN="-fsanitize=address,undefined"
# shellcheck disable=SC2046,SC2086
cc -std=gnu11 -O1 $SAN -I"$TW_SRC" -o "$TOOL" "$TW_SRC/tests/integration/notify_driver.c" \
    "$TW_BUILD/libtw_notify.a" "$TW_BUILD/libtw_common.a" \
    $(pkg-config --libs libcurl jansson yaml-0.1 libmicrohttpd libpcre2-8 zlib) -lpthread -lm ||
    tw_fail "cannot compile notify_driver.c"

RPORT=$(tw_free_port)
RECV=$TW_TMP/received
mkdir -p "$RECV"
cat >"$TW_TMP/tw.yml" <<YAML
alerting:
  webhooks:
    - name: outage
      url: http://127.0.0.1:$RPORT/hook
      group_by: [alertname]
      group_wait: 1s
      group_interval: 2s
      repeat_interval: 1h
      hmac_secret: itest-secret
      timeout: 2s
YAML

start_receiver() {
    python3 "$TW_SRC/tests/integration/notify_receiver.py" "$RPORT" "$RECV" \
        2>>"$TW_TMP/receiver.err" &
    RECV_PID=$!
    tw_track_pid "$RECV_PID"
    for _ in $(seq 1 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $RPORT), 1)" \
            2>/dev/null && return 0
        sleep 0.1
    done
    tw_fail "receiver did not start on port $RPORT"
}

count() { find "$RECV" -name '*.json' | wc -l; }

start_receiver
T0=$SECONDS
"$TOOL" "$TW_TMP/tw.yml" "$TW_TMP/outbox" "$TW_TMP/journal" 60 \
    0:fire:G1:a 0:fire:G2:x 6:fire:G1:b 9:resolve:G2:x 2>"$TW_TMP/driver1.err" &
D1=$!
tw_track_pid "$D1"

deadline=$((SECONDS + 15))
while [ "$(count)" -lt 2 ] && ((SECONDS < deadline)); do sleep 0.2; done
[ "$(count)" -ge 2 ] || tw_fail "the first two notifications did not arrive: $(count)"

tw_log "receiver down (t=$((SECONDS - T0))s)"
tw_stop_pid "$RECV_PID"
wait "$RECV_PID" 2>/dev/null
OUTAGE_START=$SECONDS

while ((SECONDS - T0 < 13)); do sleep 0.2; done
tw_log "killing the notifier (t=$((SECONDS - T0))s)"
kill -KILL "$D1"
wait "$D1" 2>/dev/null

"$TOOL" "$TW_TMP/tw.yml" "$TW_TMP/outbox" "$TW_TMP/journal" 60 \
    0:fire:G1:a 0:fire:G1:b 3:resolve:G1:a 6:resolve:G1:b 2>"$TW_TMP/driver2.err" &
D2=$!
tw_track_pid "$D2"
sleep 1
grep -q 'replayed pending=[1-9]' "$TW_TMP/driver2.err" ||
    tw_fail "the restarted notifier replayed nothing: $(cat "$TW_TMP/driver2.err")"

while ((SECONDS - OUTAGE_START < 22)); do sleep 0.2; done
[ "$(count)" -eq 2 ] || tw_fail "notifications arrived during the outage"
tw_log "receiver back (t=$((SECONDS - T0))s), $(wc -l <"$TW_TMP/journal") notifications journaled"
start_receiver

deadline=$((SECONDS + 20))
while [ "$(count)" -lt 6 ] && ((SECONDS < deadline)); do sleep 0.2; done
sleep 3 # anything extra (a duplicate) would arrive now

python3 - "$RECV" "$TW_TMP/journal" <<'PY' || tw_fail "delivery check failed (kept in $TW_TMP)"
import hashlib, hmac, json, os, sys
recv, journal = sys.argv[1], sys.argv[2]
got = []
for f in sorted(x for x in os.listdir(recv) if x.endswith(".json")):
    body = open(os.path.join(recv, f), "rb").read()
    meta = json.load(open(os.path.join(recv, f[:-5] + ".meta")))
    h = {k.lower(): v for k, v in meta["headers"].items()}
    want = "sha256=" + hmac.new(b"itest-secret", body, hashlib.sha256).hexdigest()
    assert h.get("x-tidewatch-signature") == want, (f, "bad signature")
    msg = json.loads(body)
    got.append((int(h["x-tidewatch-notification-id"]), msg))
ids = [i for i, _ in got]
assert len(ids) == len(set(ids)), ("duplicate deliveries", ids)
queued = [int(l.split()[1]) for l in open(journal)]
missing = sorted(set(queued) - set(ids))
assert not missing, ("queued but never delivered", missing, ids)
per = {}
for i, m in got:
    alerts = sorted((a["labels"]["instance"], a["status"]) for a in m["alerts"])
    per.setdefault(m["groupKey"], []).append((i, m["status"], alerts))
for k, seq in per.items():
    nums = [i for i, _, _ in seq]
    assert nums == sorted(nums), ("not oldest first", k, nums)
want = {
    '{}:{alertname="G1"}': [
        ("firing", [("a", "firing")]),
        ("firing", [("a", "firing"), ("b", "firing")]),
        ("firing", [("a", "resolved"), ("b", "firing")]),
        # Prometheus keeps re-sending a resolved alert (15 min), so Alertmanager, and we, list
        # "a" again among the resolved ones.
        ("resolved", [("a", "resolved"), ("b", "resolved")]),
    ],
    '{}:{alertname="G2"}': [
        ("firing", [("x", "firing")]),
        ("resolved", [("x", "resolved")]),
    ],
}
for k, exp in want.items():
    seen = [(s, a) for _, s, a in per.get(k, [])]
    assert seen == exp, ("group", k, "got", seen, "want", exp)
assert set(per) == set(want), ("unexpected groups", list(per))
print("delivered %d notifications, %d queued during the outage, in order" % (len(ids), len(ids) - 2))
PY
tw_log "PASS"
