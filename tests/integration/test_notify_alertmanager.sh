#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_notify_alertmanager.sh - a real Alertmanager 0.25 receives our alerts (POST
# /api/v2/alerts) and delivers its own webhook with our labels and annotations; our direct
# webhook body has the same keys and types as Alertmanager's, both the captured fixture and
# the one this run received.
#
# notify_driver.c (compiled here against libtw_notify.a) plays one firing alert through the
# alert sink into both an Alertmanager (static_configs) and a direct webhook; notify_receiver.py
# records what arrives.
. "$(dirname "$0")/lib.sh"
tw_init

AM=${TW_ALERTMANAGER:-/usr/bin/prometheus-alertmanager}
[ -x "$AM" ] || tw_skip "Alertmanager is not installed ($AM; apt-get install prometheus-alertmanager)"
for lib in libtw_notify.a libtw_common.a; do
    [ -f "$TW_BUILD/$lib" ] || tw_skip "$TW_BUILD/$lib is not built (--target tw_notify)"
done
FIXTURE="$TW_SRC/../shared/conformance/fixtures/alerting/am-webhook-01-firing.json"
[ -f "$FIXTURE" ] || tw_skip "$FIXTURE not found (shared/ is not beside the checkout)"
tw_require_cmd cc pkg-config python3 curl

TOOL=$TW_TMP/notify_driver
SAN=""
grep -q '^TW_SANITIZE:BOOL=ON' "$TW_BUILD/CMakeCache.txt" 2>/dev/null && SAN="-fsanitize=address,undefined"
# shellcheck disable=SC2046,SC2086
cc -std=gnu11 -O1 $SAN -I"$TW_SRC" -o "$TOOL" "$TW_SRC/tests/integration/notify_driver.c" \
    "$TW_BUILD/libtw_notify.a" "$TW_BUILD/libtw_common.a" \
    $(pkg-config --libs libcurl jansson yaml-0.1 libmicrohttpd libpcre2-8 zlib) -lpthread -lm ||
    tw_fail "cannot compile notify_driver.c"

RPORT=$(tw_free_port)
APORT=$(tw_free_port_except "$RPORT")
RECV=$TW_TMP/received
python3 "$TW_SRC/tests/integration/notify_receiver.py" "$RPORT" "$RECV" 2>"$TW_TMP/recv.err" &
tw_track_pid $!

tw_alertmanager_start "$AM" "$APORT" "http://127.0.0.1:$RPORT/am"

cat >"$TW_TMP/tw.yml" <<YAML
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$APORT']
      timeout: 5s
  webhooks:
    - name: capture
      url: http://127.0.0.1:$RPORT/hook
      group_by: [alertname]
      group_wait: 1s
      group_interval: 2s
YAML
"$TOOL" "$TW_TMP/tw.yml" "$TW_TMP/outbox" "$TW_TMP/journal" 12 0:fire:DiskFull:node-1 \
    0:fire:DiskFull:node-2 2>"$TW_TMP/driver.err" &
tw_track_pid $!

found() {
    python3 - "$RECV" <<'PY'
import json, os, sys
d = sys.argv[1]
paths = set()
for f in os.listdir(d) if os.path.isdir(d) else []:
    if f.endswith(".meta"):
        paths.add(json.load(open(os.path.join(d, f)))["path"])
print(" ".join(sorted(paths)))
PY
}
deadline=$((SECONDS + 30))
while [ "$(found)" != "/am /hook" ] && ((SECONDS < deadline)); do sleep 0.5; done
[ "$(found)" = "/am /hook" ] || tw_fail "expected webhooks from Alertmanager and from us, got: $(found)"

curl -s "http://127.0.0.1:$APORT/api/v2/alerts" >"$TW_TMP/am-alerts.json"

python3 - "$RECV" "$FIXTURE" "$TW_TMP/am-alerts.json" <<'PY' || tw_fail "payload check failed"
import json, os, sys
recv, fixture, am_alerts = sys.argv[1:4]

def first(path):
    for f in sorted(os.listdir(recv)):
        if f.endswith(".meta") and json.load(open(os.path.join(recv, f)))["path"] == path:
            return json.load(open(os.path.join(recv, f[:-5] + ".json")))
    raise SystemExit("nothing on " + path)

def shape(v):
    """Keys and JSON types, recursively; lists by their first element."""
    if isinstance(v, dict):
        if all(isinstance(x, str) for x in v.values()):
            return "map<string,string>"
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return type(v).__name__

am, ours, fix = first("/am"), first("/hook"), json.load(open(fixture))
# Alertmanager delivered our alerts with our labels and annotations.
got = sorted(a["labels"]["instance"] for a in am["alerts"])
assert got == ["node-1", "node-2"], got
for a in am["alerts"]:
    assert a["labels"]["alertname"] == "DiskFull" and a["labels"]["severity"] == "warning", a
    assert a["labels"]["cluster"] == "itest", a  # external label
    assert a["annotations"]["summary"] == "DiskFull on " + a["labels"]["instance"], a
    assert a["annotations"]["description"] == "driven by notify_driver", a
    assert a["generatorURL"].startswith("http://tidewatch.test:9475/graph?g0.expr=up+%3D%3D+0"), a
# Our direct webhook: same keys and types as Alertmanager's (captured and live).
for ref, name in ((fix, "fixture"), (am, "live Alertmanager")):
    assert list(ours.keys()) == list(ref.keys()), (name, list(ours), list(ref))
    assert shape(ours) == shape(ref), (name, shape(ours), shape(ref))
    assert list(ours["alerts"][0].keys()) == list(ref["alerts"][0].keys()), name
# And the same content as the live one, but for receiver-specific fields.
for k in ("status", "groupLabels", "commonLabels", "commonAnnotations", "groupKey", "version"):
    assert ours[k] == am[k], (k, ours[k], am[k])
fa = {a["fingerprint"]: a for a in am["alerts"]}
for a in ours["alerts"]:
    b = fa[a["fingerprint"]]  # same fingerprints as Alertmanager computes
    assert (a["labels"], a["annotations"], a["startsAt"], a["status"]) == \
        (b["labels"], b["annotations"], b["startsAt"], b["status"]), (a, b)
alerts = json.load(open(am_alerts))
assert len(alerts) == 2 and all(a["status"]["state"] == "active" for a in alerts), alerts
print("Alertmanager received and delivered our alerts; payload shapes match")
PY
tw_log "PASS"
