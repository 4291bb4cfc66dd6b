#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_autoscaler_faults.sh - the autoscaler loop in the daemon against the fake Kubernetes API
# server (TLS, bearer token) with injected faults. tidewatch scales the e-commerce `api`
# Deployment on an External metric (`sum(test_load)`, scraped every second from a file served
# on 127.0.0.1, target averageValue 100: desired = ceil(load / 100)), with a 1 s sync period.
# For each fault it checks that tidewatch neither crashes nor decides on stale data:
#   1. conflict: the next PUT of the scale answers the real 409; tidewatch reads the scale
#      again, decides again and writes again (two GETs and two PUTs of the scale), and counts
#      scale_operations_total{result="conflict"};
#   2. throttle: a GET of the scale answers 429 with Retry-After: 1; the scale still happens;
#   3. error: GETs of the scale answer 500 beyond the retry budget: no PUT while they fail,
#      refusals_total{reason="FailedGetScale"}, then the scale happens once they stop;
#   4. drop: the pod list connection is closed without an answer: no PUT, FailedListPods;
#   5. slow: a GET of the scale takes 2.5 s (> the 1 s request timeout): no PUT meanwhile;
#   6. metric source down: the scraped server stops, the series go stale, the metric is
#      missing: the replicas are held (no PUT), logged ("Holding the current replicas") and
#      counted (refusals_total{reason="FailedGetExternalMetric"}), ScalingActive=False.
# Finally tidewatch still answers and exits cleanly on SIGTERM. Only 127.0.0.1 is used.
set -u
. "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd curl python3 openssl

SHARED="$TW_SRC/../shared/conformance/fixtures/kubernetes/seed/ecommerce.yaml"
FAKE=$TW_BUILD/tests/kube_fake
[ -x "$FAKE" ] || tw_skip "kube_fake is not built ($FAKE; cmake --build ... --target kube_fake)"
[ -f "$SHARED" ] || tw_skip "$SHARED not found (shared/ is not beside the checkout)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=kube-fake -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$TW_TMP/key.pem" -out "$TW_TMP/cert.pem" 2>/dev/null || tw_fail "openssl failed"

"$FAKE" --listen 127.0.0.1 --port 0 --port-file "$TW_TMP/fake.port" --tls-cert "$TW_TMP/cert.pem" \
    --tls-key "$TW_TMP/key.pem" --token rw-token --quiet \
    --seed "$SHARED" --seed "$TW_SRC/tests/fakes/seed/cluster.yaml" \
    >"$TW_TMP/fake.out" 2>"$TW_TMP/fake.err" &
tw_track_pid $!
for _ in $(seq 1 50); do
    [ -s "$TW_TMP/fake.port" ] && break
    sleep 0.1
done
[ -s "$TW_TMP/fake.port" ] || { cat "$TW_TMP/fake.err" >&2; tw_fail "kube_fake did not start"; }
FAKE_URL=https://127.0.0.1:$(cat "$TW_TMP/fake.port")

# The metric feed: a file served by python's http.server, scraped every second.
mkdir -p "$TW_TMP/www"
set_load() { printf '# TYPE test_load gauge\ntest_load %s\n' "$1" >"$TW_TMP/www/m.txt.new" &&
    mv "$TW_TMP/www/m.txt.new" "$TW_TMP/www/m.txt"; }
set_load 600
MPORT=$(tw_free_port)
python3 -m http.server "$MPORT" --bind 127.0.0.1 --directory "$TW_TMP/www" \
    >"$TW_TMP/www.log" 2>&1 &
WWW_PID=$!
tw_track_pid "$WWW_PID"

cat >"$TW_TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster: {server: "$FAKE_URL", certificate-authority: $TW_TMP/cert.pem}
users:
- name: u
  user: {token: rw-token}
contexts:
- name: fake
  context: {cluster: fake, user: u, namespace: ecommerce}
EOF

PORT=$(tw_free_port_except "$MPORT")
cat >"$TW_TMP/tidewatch.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s}
collector:
  interval: 1s
  cgroup: {enabled: false}
scrape_configs:
  - job_name: load
    metrics_path: /m.txt
    static_configs: [{targets: ["127.0.0.1:$MPORT"]}]
query: {lookback_delta: 3s}
kubernetes:
  kubeconfig: $TW_TMP/kubeconfig
  qps: 100
  burst: 100
  timeout: 1s
autoscaling:
  sync_period: 1s
  driver:
    type: kubernetes
    max_conflicts: 3
    kubernetes: {max_retries: 1, max_retry_wait: 2s}
  metric_queries:
    - {name: load, type: External, query: 'sum(test_load)'}
  horizontal:
    - apiVersion: autoscaling/v2
      kind: HorizontalPodAutoscaler
      metadata: {name: api-load, namespace: ecommerce}
      spec:
        scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
        minReplicas: 2
        maxReplicas: 9
        metrics:
          - type: External
            external:
              metric: {name: load}
              target: {type: AverageValue, averageValue: "100"}
        behavior:
          scaleDown: {stabilizationWindowSeconds: 0}
EOF
tw_start_tidewatch "$TW_TMP/tidewatch.yml" "$PORT" "$TW_TMP/data"

SCALE=/apis/apps/v1/namespaces/ecommerce/deployments/api/scale
PODS=/api/v1/namespaces/ecommerce/pods
fake() { # METHOD PATH [JSON]
    curl -sfk -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$FAKE_URL$2"
}
replicas() {
    fake GET "/_fake/objects/deployments/ecommerce/api" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["replicas"])'
}
# wait_replicas N TIMEOUT_S: until the Deployment has N replicas.
wait_replicas() {
    local want=$1 deadline=$((SECONDS + $2)) got
    while ((SECONDS < deadline)); do
        got=$(replicas)
        [ "$got" = "$want" ] && return 0
        kill -0 "$TW_PID" 2>/dev/null || tw_fail "tidewatch died"
        sleep 0.2
    done
    tw_fail "replicas: want $want, have $got after $2 s"
}
# requests_since: the fake's request log as "METHOD PATH STATUS" lines.
requests() {
    fake GET /_fake/requests | python3 -c 'import json,sys
for r in json.load(sys.stdin)["requests"]:
    print(r["method"], r["path"], r["status"])'
}
metric() { # NAME LABEL=VALUE...
    tw_scrape "$PORT" "$TW_TMP/m.txt" >/dev/null
    local v
    v=$(tw_metric_value "$TW_TMP/m.txt" "$@")
    echo "${v:-0}"
}
api_check() { # PYTHON-EXPR over d (the data of /api/v1/autoscalers)
    curl -s "http://127.0.0.1:$PORT/api/v1/autoscalers" | python3 -c "import json,sys
d = json.load(sys.stdin)['data']
h = d['autoscalers'][0]
sys.exit(0 if ($1) else 1)"
}

# 0. the load is fed: 600 -> 6 replicas (from the seed's 5)
wait_replicas 6 20
tw_log "baseline: 600 -> 6 replicas"

# 1. conflict on the next PUT: re-read, recompute, write again
fake DELETE /_fake/requests >/dev/null
fake POST /_fake/faults "{\"action\":\"conflict\",\"method\":\"PUT\",\"path\":\"$SCALE\",\"count\":1}" >/dev/null ||
    tw_fail "cannot arm the conflict"
set_load 700
wait_replicas 7 15
log=$(requests)
puts=$(grep -c "^PUT $SCALE " <<<"$log")
p409=$(grep -c "^PUT $SCALE 409" <<<"$log")
[ "$p409" = 1 ] && [ "$puts" -ge 2 ] || tw_fail "conflict: want one 409 PUT then a PUT, got: $log"
# the 409 is followed by a GET of the scale before the next PUT
LOG=$log python3 - "$SCALE" <<'EOF' || tw_fail "conflict: no re-read between the 409 and the next PUT: $log"
import os, sys
scale = sys.argv[1]
lines = [l.split() for l in os.environ["LOG"].splitlines()]
i = next(k for k, l in enumerate(lines) if l[0] == "PUT" and l[1] == scale and l[2] == "409")
rest = lines[i + 1:]
j = next(k for k, l in enumerate(rest) if l[0] == "PUT" and l[1] == scale)
assert any(l[0] == "GET" and l[1] == scale for l in rest[:j])
EOF
c=$(metric tidewatch_autoscaler_scale_operations_total result=conflict)
[ "$c" = 1 ] || tw_fail "conflict: scale_operations_total{result=conflict} = $c, want 1"
tw_log "409: re-read and rewritten, counted ($c)"

# 2. 429 with Retry-After on the scale GET
fake POST /_fake/faults "{\"action\":\"throttle\",\"method\":\"GET\",\"path\":\"$SCALE\",\"count\":1,\"retryAfterSeconds\":1}" >/dev/null
set_load 800
wait_replicas 8 15
tw_log "429 + Retry-After: waited, then scaled to 8"

# 3. 500s on the scale GET beyond the retry budget: nothing decided while they last
fake DELETE /_fake/requests >/dev/null
fake POST /_fake/faults "{\"action\":\"error\",\"status\":500,\"method\":\"GET\",\"path\":\"$SCALE\",\"count\":6}" >/dev/null
set_load 300
sleep 2
r=$(replicas)
[ "$r" = 8 ] || tw_fail "500s: the replicas moved to $r while the scale could not be read"
wait_replicas 3 15
log=$(requests)
LOG=$log python3 - "$SCALE" <<'EOF' || tw_fail "500s: a PUT happened before the scale was read again: $log"
import os, sys
scale = sys.argv[1]
lines = [l.split() for l in os.environ["LOG"].splitlines()]
last500 = max(k for k, l in enumerate(lines) if l[1] == scale and l[2] == "500")
first_put = min(k for k, l in enumerate(lines) if l[0] == "PUT" and l[1] == scale)
assert first_put > last500
ok_get = [k for k, l in enumerate(lines) if l[0] == "GET" and l[1] == scale and l[2] == "200"]
assert any(last500 < k < first_put for k in ok_get)
EOF
f=$(metric tidewatch_autoscaler_refusals_total reason=FailedGetScale)
[ "$f" -ge 1 ] 2>/dev/null || tw_fail "500s: refusals_total{reason=FailedGetScale} = $f"
tw_log "500s: held while unreadable ($f refusals), then scaled to 3"

# 4. dropped connection on the pod list
fake DELETE /_fake/requests >/dev/null
fake POST /_fake/faults "{\"action\":\"drop\",\"method\":\"GET\",\"path\":\"$PODS\",\"count\":4}" >/dev/null
set_load 500
sleep 2
wait_replicas 5 15
log=$(requests)
LOG=$log python3 - "$SCALE" "$PODS" <<'EOF' || tw_fail "drop: a PUT happened on a pass whose pod list failed: $log"
import os, sys
scale, pods = sys.argv[1:3]
lines = [l.split() for l in os.environ["LOG"].splitlines()]
lastdrop = max(k for k, l in enumerate(lines) if l[1] == pods and l[2] == "0")
first_put = min(k for k, l in enumerate(lines) if l[0] == "PUT" and l[1] == scale)
assert first_put > lastdrop
assert any(lastdrop < k < first_put and l[1] == pods and l[2] == "200" for k, l in enumerate(lines))
EOF
f=$(metric tidewatch_autoscaler_refusals_total reason=FailedListPods)
[ "$f" -ge 1 ] 2>/dev/null || tw_fail "drop: refusals_total{reason=FailedListPods} = $f"
tw_log "dropped connections: held ($f refusals), then scaled to 5"

# 5. a slow answer (longer than the 1 s request timeout)
fake DELETE /_fake/requests >/dev/null
fake POST /_fake/faults "{\"action\":\"delay\",\"delayMs\":2500,\"method\":\"GET\",\"path\":\"$SCALE\",\"count\":2}" >/dev/null
set_load 400
wait_replicas 4 20
tw_log "slow answers: timed out, retried, scaled to 4"

# 6. the metric source goes down: hold
kill -TERM "$WWW_PID"
wait "$WWW_PID" 2>/dev/null
set_load 900 # not served any more
deadline=$((SECONDS + 20))
until api_check "any(c['type'] == 'ScalingActive' and c['status'] == 'False' and c['reason'] == 'FailedGetExternalMetric' for c in h['status']['conditions'])"; do
    ((SECONDS < deadline)) || tw_fail "metric down: ScalingActive never became False/FailedGetExternalMetric"
    sleep 0.5
done
fake DELETE /_fake/requests >/dev/null
h1=$(metric tidewatch_autoscaler_refusals_total reason=FailedGetExternalMetric)
sleep 4
h2=$(metric tidewatch_autoscaler_refusals_total reason=FailedGetExternalMetric)
r=$(replicas)
[ "$r" = 4 ] || tw_fail "metric down: replicas moved to $r"
requests | grep -q "^PUT $SCALE" && tw_fail "metric down: a scale was written: $(requests)"
[ "${h2%.*}" -gt "${h1%.*}" ] || tw_fail "metric down: refusals not counted ($h1 -> $h2)"
grep -q 'msg="Holding the current replicas".*reason=FailedGetExternalMetric' "$TW_LOG" ||
    tw_fail "metric down: no log line for the hold"
api_check "h['decisions'][0]['outcome'] == 'held' and 'no metrics returned from external metrics API' in h['decisions'][0]['message']" ||
    tw_fail "metric down: the last decision is not a hold with the reason"
tw_log "metric source down: held at 4 ($h1 -> $h2 refusals), logged"

kill -0 "$TW_PID" 2>/dev/null || tw_fail "tidewatch died"
tw_stop_wait "$TW_PID" 10
[ "$TW_STOP_RC" = 0 ] || tw_fail "tidewatch exit status $TW_STOP_RC after SIGTERM"
tw_log "PASS"
