#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_alerting_e2e.sh - alerting through the running daemon, end to end.
#
# tidewatch (no collectors, --web.enable-remote-write-receiver) evaluates a rule file every 1 s
# over gauges that rw_push.py sends by remote_write, and notifies a real Alertmanager 0.25 and
# two webhooks of its own (notify_receiver.py records what arrives).
#   1. QueueTooLong fires: Alertmanager delivers its webhook with our labels (the external label
#      included) and annotations; our direct webhook arrives too; /api/v1/alerts and
#      /api/v1/rules show the alert and the rule as Prometheus does.
#   2. Reload: a rule file with a syntax error on SIGHUP is refused with file:line, the old rules
#      keep running (evaluations go on, the alert keeps its activeAt); a good file with one more
#      rule is then taken, and the alert still keeps its state.
#   3. Outage: the `outage` webhook's receiver is down for ~22 s while OutageTest alerts fire and
#      resolve, and tidewatch is killed (SIGKILL) and restarted once in the middle; after the
#      receiver returns, every notification arrives once, oldest first per group, with the
#      sequence Alertmanager would send.
. "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin

AM=${TW_ALERTMANAGER:-/usr/bin/prometheus-alertmanager}
[ -x "$AM" ] || tw_skip "Alertmanager is not installed ($AM; apt-get install prometheus-alertmanager)"
tw_require_cmd python3 curl

PORT=$(tw_free_port)
APORT=$(tw_free_port_except "$PORT")
RPORT=$(tw_free_port_except "$PORT" "$APORT")
OPORT=$(tw_free_port_except "$PORT" "$APORT" "$RPORT")
RECV=$TW_TMP/received
ORECV=$TW_TMP/outage-received
mkdir -p "$RECV" "$ORECV" "$TW_TMP/rules"

python3 "$TW_SRC/tests/integration/notify_receiver.py" "$RPORT" "$RECV" 2>"$TW_TMP/recv.err" &
tw_track_pid $!

tw_alertmanager_start "$AM" "$APORT" "http://127.0.0.1:$RPORT/am"

RULES=$TW_TMP/rules/e2e.yml
cat >"$RULES" <<'YAML'
groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: QueueTooLong
        expr: itest_queue_length > 10
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "Queue {{ $labels.queue }} is {{ $value }} long"
      - alert: OutageTest
        expr: itest_outage > 10
        labels:
          severity: info
        annotations:
          summary: "outage test {{ $labels.inst }}"
YAML

cat >"$TW_TMP/tidewatch.yml" <<YAML
global:
  evaluation_interval: 1s
  external_labels:
    cluster: itest
  external_url: http://tidewatch.test:9475
collector:
  cgroup:
    enabled: false
  procfs:
    enabled: false
rule_files:
  - rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$APORT']
      timeout: 5s
  webhooks:
    - name: direct
      url: http://127.0.0.1:$RPORT/hook
      group_by: [alertname]
      group_wait: 1s
      group_interval: 2s
    - name: outage
      url: http://127.0.0.1:$OPORT/hook
      group_by: [inst]
      group_wait: 1s
      group_interval: 2s
      repeat_interval: 1h
      timeout: 2s
YAML

DATA=$TW_TMP/data
start_tw() {
    tw_start_tidewatch_args "$TW_TMP/tidewatch.yml" "$PORT" "$DATA" tidewatch \
        --web.enable-remote-write-receiver
}
start_tw
STATE=$TW_TMP/push.state
echo "itest_queue_length queue=q1 50" >"$STATE"
python3 "$TW_SRC/tests/integration/rw_push.py" "http://127.0.0.1:$PORT/api/v1/write" "$STATE" \
    2>"$TW_TMP/push.err" &
tw_track_pid $!

api() { curl -s --max-time 5 "http://127.0.0.1:$PORT$1"; }

# ---- 1. Alertmanager and the direct webhook -------------------------------------------------
paths() {
    python3 - "$RECV" <<'PY'
import json, os, sys
d = sys.argv[1]
print(" ".join(sorted({json.load(open(os.path.join(d, f)))["path"]
                       for f in os.listdir(d) if f.endswith(".meta")})))
PY
}
deadline=$((SECONDS + 40))
while [ "$(paths)" != "/am /hook" ] && ((SECONDS < deadline)); do sleep 0.5; done
[ "$(paths)" = "/am /hook" ] || tw_fail "expected webhooks from Alertmanager and from us, got: $(paths)"

api /api/v1/alerts >"$TW_TMP/alerts.json"
api /api/v1/rules >"$TW_TMP/rules.json"
python3 - "$RECV" "$TW_TMP/alerts.json" "$TW_TMP/rules.json" <<'PY' || tw_fail "phase 1 checks failed"
import json, os, sys
recv, alerts_f, rules_f = sys.argv[1:4]
def first(path):
    for f in sorted(os.listdir(recv)):
        if f.endswith(".meta") and json.load(open(os.path.join(recv, f)))["path"] == path:
            return json.load(open(os.path.join(recv, f[:-5] + ".json")))
for path in ("/am", "/hook"):
    m = first(path)
    a = m["alerts"][0]
    assert a["status"] == "firing", (path, a)
    assert a["labels"] == {"alertname": "QueueTooLong", "cluster": "itest", "queue": "q1",
                           "severity": "page"}, (path, a["labels"])
    assert a["annotations"] == {"summary": "Queue q1 is 50 long"}, (path, a["annotations"])
    assert a["generatorURL"] == \
        "http://tidewatch.test:9475/graph?g0.expr=itest_queue_length+%3E+10&g0.tab=1", a
alerts = json.load(open(alerts_f))
assert alerts["status"] == "success", alerts
q = [a for a in alerts["data"]["alerts"] if a["labels"]["alertname"] == "QueueTooLong"]
assert len(q) == 1 and q[0]["state"] == "firing" and q[0]["value"] == "5e+01", q
assert list(q[0]) == ["labels", "annotations", "state", "activeAt", "value"], list(q[0])
rules = json.load(open(rules_f))["data"]["groups"]
assert [g["name"] for g in rules] == ["e2e"] and rules[0]["interval"] == 1, rules
r = rules[0]["rules"][0]
assert list(r) == ["state", "name", "query", "duration", "keepFiringFor", "labels",
                   "annotations", "alerts", "health", "evaluationTime", "lastEvaluation",
                   "type"], list(r)
assert (r["name"], r["state"], r["health"], r["type"], r["duration"]) == \
    ("QueueTooLong", "firing", "ok", "alerting", 2), r
print("Alertmanager and our webhook delivered QueueTooLong; the API shows it")
PY
tw_log "phase 1 passed"

# ---- 2. reload: a bad rule file keeps the old rules ----------------------------------------
active_at() {
    api /api/v1/alerts | python3 -c 'import json,sys
a=[x for x in json.load(sys.stdin)["data"]["alerts"] if x["labels"]["alertname"]=="QueueTooLong"]
print(a[0]["activeAt"] if a else "")'
}
last_eval() {
    api /api/v1/rules | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["groups"][0]["lastEvaluation"])'
}
AT0=$(active_at)
[ -n "$AT0" ] || tw_fail "QueueTooLong is not active"
cp "$RULES" "$TW_TMP/good.yml"
sed -i 's/expr: itest_queue_length > 10/expr: itest_queue_length >/' "$RULES"
kill -HUP "$TW_PID"
deadline=$((SECONDS + 10))
until grep -q 'Error reloading config' "$TW_LOG" || ((SECONDS >= deadline)); do sleep 0.2; done
grep -q "Failed to load rule file.*e2e.yml: 6:15: group \\\\\"e2e\\\\\", rule 1, \\\\\"QueueTooLong\\\\\": could not parse expression" "$TW_LOG" ||
    tw_fail "the bad rule file was not reported with its position: $(grep -i rule "$TW_LOG" | tail -3)"
E1=$(last_eval)
sleep 2.5
E2=$(last_eval)
[ "$E1" != "$E2" ] || tw_fail "the old rules stopped after a bad reload ($E1)"
[ "$(active_at)" = "$AT0" ] || tw_fail "the alert lost its state on a bad reload"
tw_scrape "$PORT" "$TW_TMP/m1.txt" >/dev/null
[ "$(tw_metric_value "$TW_TMP/m1.txt" tidewatch_rule_config_last_reload_successful)" = 0 ] ||
    tw_fail "tidewatch_rule_config_last_reload_successful is not 0 after a bad reload"

cp "$TW_TMP/good.yml" "$RULES"
cat >>"$RULES" <<'YAML'
      - record: itest:queue_length:max
        expr: max(itest_queue_length)
YAML
kill -HUP "$TW_PID"
deadline=$((SECONDS + 10))
until [ "$(api /api/v1/rules | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["groups"][0]["rules"]))')" = 3 ] ||
    ((SECONDS >= deadline)); do sleep 0.2; done
[ "$(active_at)" = "$AT0" ] || tw_fail "the alert lost its state on a good reload"
sleep 2
api '/api/v1/query?query=itest:queue_length:max' | grep -q '"50"' ||
    tw_fail "the recording rule's series is not in the TSDB: $(api '/api/v1/query?query=itest:queue_length:max')"
tw_log "phase 2 passed"

# ---- 3. receiver outage and a daemon restart -----------------------------------------------
set_state() { printf '%s\n' "itest_queue_length queue=q1 50" "$@" >"$STATE"; }
T0=$SECONDS
tw_log "outage receiver down (it never ran), alerts a and x fire"
set_state "itest_outage inst=a 50" "itest_outage inst=x 50"
while ((SECONDS - T0 < 5)); do sleep 0.2; done
set_state "itest_outage inst=a 50" "itest_outage inst=x 0"
while ((SECONDS - T0 < 9)); do sleep 0.2; done
tw_log "killing tidewatch (SIGKILL) and restarting it"
kill -KILL "$TW_PID"
wait "$TW_PID" 2>/dev/null
start_tw
grep -q 'component=notifier msg="Notifier configured".*replayed_pending=[1-9]' "$TW_LOG" ||
    tw_fail "the restarted daemon replayed no pending notification"
while ((SECONDS - T0 < 13)); do sleep 0.2; done
set_state "itest_outage inst=a 0" "itest_outage inst=x 0" "itest_outage inst=b 50"
while ((SECONDS - T0 < 22)); do sleep 0.2; done
[ -z "$(ls "$ORECV")" ] || tw_fail "something arrived during the outage"
tw_log "outage receiver back"
python3 "$TW_SRC/tests/integration/notify_receiver.py" "$OPORT" "$ORECV" 2>"$TW_TMP/orecv.err" &
tw_track_pid $!

ocount() {
    python3 - "$ORECV" <<'PY'
import json, os, sys
d = sys.argv[1]
n = 0
for f in os.listdir(d):
    if f.endswith(".json") and json.load(open(os.path.join(d, f))).get("commonLabels", {}).get("alertname") == "OutageTest":
        n += 1
print(n)
PY
}
# The retry backoff grew during the outage (at most 60 s between attempts).
deadline=$((SECONDS + 75))
while [ "$(ocount)" -lt 5 ] && ((SECONDS < deadline)); do sleep 0.3; done
sleep 3 # a duplicate would arrive now

python3 - "$ORECV" <<'PY' || tw_fail "outage delivery check failed (TW_KEEP_TMP=1 keeps $TW_TMP)"
import json, os, sys
d = sys.argv[1]
got = []
for f in sorted(x for x in os.listdir(d) if x.endswith(".json")):
    body = json.load(open(os.path.join(d, f)))
    meta = json.load(open(os.path.join(d, f[:-5] + ".meta")))
    h = {k.lower(): v for k, v in meta["headers"].items()}
    got.append((int(h["x-tidewatch-notification-id"]), body))
ids = [i for i, _ in got]
assert len(ids) == len(set(ids)), ("duplicate deliveries", ids)
per = {}
for i, m in got:
    if m["commonLabels"].get("alertname") != "OutageTest":
        continue
    alerts = sorted((a["labels"]["inst"], a["status"]) for a in m["alerts"])
    per.setdefault(m["groupKey"], []).append((i, m["status"], alerts))
for k, seq in per.items():
    nums = [i for i, _, _ in seq]
    assert nums == sorted(nums), ("not oldest first", k, nums)
want = {
    '{}:{inst="a"}': [("firing", [("a", "firing")]), ("resolved", [("a", "resolved")])],
    '{}:{inst="x"}': [("firing", [("x", "firing")]), ("resolved", [("x", "resolved")])],
    '{}:{inst="b"}': [("firing", [("b", "firing")])],
}
for k, exp in want.items():
    seen = [(s, a) for _, s, a in per.get(k, [])]
    assert seen == exp, ("group", k, "got", seen, "want", exp)
assert set(per) == set(want), ("unexpected groups", list(per))
print("after the outage and a restart, %d notifications arrived once, oldest first per group"
      % sum(len(v) for v in per.values()))
PY
tw_log "PASS"
