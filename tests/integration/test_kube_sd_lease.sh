#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kubernetes_sd_configs and Lease leader election against the fake API server (tests/fakes,
# HTTPS with a CA made here, a bearer token):
#   1. a tiny exporter (python3, 127.0.0.1) stands in for a node daemon; a Pod in the fake has
#      podIP 127.0.0.1 and the exporter's port as its container port (label app=exporter), and a
#      second Pod without that label is filtered out by the selector;
#   2. tidewatch runs a role: pod job (api_server + tls_config.ca_file + bearer_token_file,
#      namespaces.names, selectors) with relabel rules over __meta_kubernetes_* labels: the target
#      shows up in /api/v1/targets with the right discovered and final labels and is scraped (up
#      is 1 and the exporter's series carry the relabeled pod label in /api/v1/query);
#   3. the Pod is deleted in the fake: the target disappears (watch DELETED);
#   4. two lease_tool candidates (tests/integration/lease_tool.c, compiled here against
#      libtw_common.a): only one leads; after the leader is SIGKILLed (stops renewing) the other
#      takes over, not before the lease expired, and the Lease object shows the new holder and
#      leaseTransitions 1.
# Only 127.0.0.1 is used; every process is stopped by PID.
set -u
. "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin

FAKE=$TW_BUILD/tests/kube_fake
[ -x "$FAKE" ] || tw_skip "kube_fake is not built ($FAKE; cmake --build ... --target kube_fake)"
[ -f "$TW_BUILD/libtw_common.a" ] || tw_skip "$TW_BUILD/libtw_common.a is not built"
tw_require_cmd openssl curl python3 cc pkg-config

# --- the fake API server over TLS ------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=kube-fake -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$TW_TMP/key.pem" -out "$TW_TMP/cert.pem" 2>"$TW_TMP/openssl.log" ||
    tw_fail "openssl could not make a certificate: $(cat "$TW_TMP/openssl.log")"
TOKEN=tw-sd-token
printf '%s\n' "$TOKEN" >"$TW_TMP/token"
"$FAKE" --listen 127.0.0.1 --port 0 --port-file "$TW_TMP/port" --tls-cert "$TW_TMP/cert.pem" \
    --tls-key "$TW_TMP/key.pem" --token "$TOKEN" --quiet \
    >"$TW_TMP/fake.out" 2>"$TW_TMP/fake.err" </dev/null &
FAKE_PID=$!
tw_track_pid "$FAKE_PID"
for _ in $(seq 1 100); do
    [ -s "$TW_TMP/port" ] && break
    kill -0 "$FAKE_PID" 2>/dev/null || tw_fail "kube_fake exited at start: $(cat "$TW_TMP/fake.err")"
    sleep 0.1
done
[ -s "$TW_TMP/port" ] || tw_fail "kube_fake wrote no port file"
API=https://127.0.0.1:$(cat "$TW_TMP/port")
tw_log "kube_fake pid $FAKE_PID on $API"
fake() { # METHOD PATH [JSON]
    curl -sf --cacert "$TW_TMP/cert.pem" -X "$1" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$API$2"
}

# --- the exporter --------------------------------------------------------------------------------
cat >"$TW_TMP/exporter.py" <<'EOF'
import http.server, sys
body = b"# TYPE node_daemon_containers gauge\nnode_daemon_containers{container=\"web\"} 3\n"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
EOF
python3 "$TW_TMP/exporter.py" "$TW_TMP/exporter.port" &
tw_track_pid $!
for _ in $(seq 1 50); do
    [ -s "$TW_TMP/exporter.port" ] && break
    sleep 0.1
done
EXPORTER_PORT=$(cat "$TW_TMP/exporter.port") || tw_fail "the exporter did not start"

pod_json() { # NAME APP PORT
    cat <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1","namespace":"default",
 "labels":{"app":"$2","app.kubernetes.io/part-of":"tidewatch"},
 "annotations":{"prometheus.io/scrape":"true"},
 "ownerReferences":[{"apiVersion":"apps/v1","kind":"DaemonSet","name":"node-daemon","uid":"u1","controller":true}]},
 "spec":{"nodeName":"node-a","containers":[{"name":"daemon","image":"tidewatch:test",
  "ports":[{"name":"metrics","containerPort":$3,"protocol":"TCP"}]}]}}
EOF
}
fake PUT /_fake/objects/pods/default/exporter-1 "$(pod_json exporter-1 exporter "$EXPORTER_PORT")" \
    >/dev/null || tw_fail "cannot create pod exporter-1"
fake PUT /_fake/objects/pods/default/other-1 "$(pod_json other-1 other "$EXPORTER_PORT")" \
    >/dev/null || tw_fail "cannot create pod other-1"
for p in exporter-1 other-1; do
    fake POST "/_fake/podstatus/default/$p" '{"phase":"Running","ready":true,"podIP":"127.0.0.1"}' \
        >/dev/null || tw_fail "cannot set the status of $p"
done

# --- tidewatch with a role: pod job ------------------------------------------------------------
WEB_PORT=$(tw_free_port)
CONFIG=$TW_TMP/tidewatch.yml
tw_write_config "$CONFIG" "$WEB_PORT" "$TW_TMP/data" - -
cat >>"$CONFIG" <<EOF
scrape_configs:
  - job_name: node-daemons
    scrape_interval: 1s
    scrape_timeout: 1s
    kubernetes_sd_configs:
      - role: pod
        api_server: $API
        bearer_token_file: $TW_TMP/token
        tls_config:
          ca_file: $TW_TMP/cert.pem
        namespaces:
          names: [default]
        selectors:
          - role: pod
            label: app=exporter
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        regex: "true"
        action: keep
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_node_name]
        target_label: node
EOF
tw_start_tidewatch "$CONFIG" "$WEB_PORT" "$TW_TMP/data"
WEB=http://127.0.0.1:$WEB_PORT

# targets_check: prints "ok" when the active targets are exactly the exporter-1 pod, healthy,
# with the expected labels; otherwise what differs.
targets_check() {
    curl -s "$WEB/api/v1/targets" | python3 -c '
import json, sys
port = sys.argv[1]
d = json.load(sys.stdin)["data"]["activeTargets"]
d = [t for t in d if t["scrapePool"] == "node-daemons"]
if len(d) != 1:
    print("targets: %d" % len(d)); sys.exit()
t = d[0]
want = {"instance": "127.0.0.1:" + port, "job": "node-daemons", "namespace": "default",
        "node": "node-a", "pod": "exporter-1"}
if t["labels"] != want:
    print("labels %s" % t["labels"]); sys.exit()
disc = t["discoveredLabels"]
want_disc = {
    "__address__": "127.0.0.1:" + port,
    "__meta_kubernetes_namespace": "default",
    "__meta_kubernetes_pod_name": "exporter-1",
    "__meta_kubernetes_pod_ip": "127.0.0.1",
    "__meta_kubernetes_pod_ready": "true",
    "__meta_kubernetes_pod_phase": "Running",
    "__meta_kubernetes_pod_node_name": "node-a",
    "__meta_kubernetes_pod_label_app": "exporter",
    "__meta_kubernetes_pod_labelpresent_app": "true",
    "__meta_kubernetes_pod_label_app_kubernetes_io_part_of": "tidewatch",
    "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
    "__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape": "true",
    "__meta_kubernetes_pod_controller_kind": "DaemonSet",
    "__meta_kubernetes_pod_controller_name": "node-daemon",
    "__meta_kubernetes_pod_container_name": "daemon",
    "__meta_kubernetes_pod_container_image": "tidewatch:test",
    "__meta_kubernetes_pod_container_init": "false",
    "__meta_kubernetes_pod_container_port_name": "metrics",
    "__meta_kubernetes_pod_container_port_number": port,
    "__meta_kubernetes_pod_container_port_protocol": "TCP",
}
bad = {k: (disc.get(k), v) for k, v in want_disc.items() if disc.get(k) != v}
if bad:
    print("discovered %s" % bad); sys.exit()
if t["health"] != "up":
    print("health %s (%s)" % (t["health"], t["lastError"])); sys.exit()
print("ok")' "$EXPORTER_PORT"
}
last=""
for _ in $(seq 1 100); do
    last=$(targets_check 2>&1)
    [ "$last" = ok ] && break
    sleep 0.2
done
[ "$last" = ok ] || tw_fail "the pod target was not discovered and scraped: $last"
tw_log "exporter-1 discovered with its __meta_kubernetes_* labels and scraped"

query() { # EXPR: prints "labels=value" lines
    curl -s --get --data-urlencode "query=$1" "$WEB/api/v1/query" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    m = r["metric"]
    print(",".join("%s=%s" % kv for kv in sorted(m.items())) + " " + r["value"][1])'
}
out=""
for _ in $(seq 1 50); do
    out=$(query 'node_daemon_containers{job="node-daemons"}')
    [ -n "$out" ] && break
    sleep 0.2
done
want="__name__=node_daemon_containers,container=web,instance=127.0.0.1:$EXPORTER_PORT,job=node-daemons,namespace=default,node=node-a,pod=exporter-1 3"
[ "$out" = "$want" ] || tw_fail "query: got '$out', want '$want'"
out=$(query 'up{job="node-daemons"}')
case $out in *pod=exporter-1\ 1) ;; *) tw_fail "up: '$out'" ;; esac
tw_log "scraped series: $want"

# --- a deleted pod disappears ------------------------------------------------------------------
fake DELETE /_fake/objects/pods/default/exporter-1 >/dev/null || tw_fail "cannot delete the pod"
for _ in $(seq 1 50); do
    last=$(targets_check 2>&1)
    [ "$last" = "targets: 0" ] && break
    sleep 0.2
done
[ "$last" = "targets: 0" ] || tw_fail "the deleted pod's target is still there: $last"
tw_log "exporter-1 deleted: its target is gone"
tw_stop_pid "$TW_PID" 10
wait "$TW_PID"
rc=$?
[ "$rc" = 0 ] || tw_fail "tidewatch exited with $rc after SIGTERM"
grep -q 'Sanitizer' "$TW_LOG" && tw_fail "sanitizer report in $TW_LOG"

# --- leader election ------------------------------------------------------------------------------
TOOL=$TW_TMP/lease_tool
build_tool() { # [EXTRA_CFLAGS...]: a sanitizer build's library needs the same flags
    # shellcheck disable=SC2046
    cc -std=gnu11 -O1 "$@" -I"$TW_SRC" -o "$TOOL" "$TW_SRC/tests/integration/lease_tool.c" \
        "$TW_BUILD/libtw_common.a" \
        $(pkg-config --libs libcurl jansson yaml-0.1 libmicrohttpd libpcre2-8 zlib) -lpthread -lm
}
build_tool 2>"$TW_TMP/cc.log" || build_tool -fsanitize=address,undefined 2>>"$TW_TMP/cc.log" ||
    tw_fail "cannot compile lease_tool.c: $(tail -n 5 "$TW_TMP/cc.log")"
candidate() { # IDENTITY
    "$TOOL" --server "$API" --token-file "$TW_TMP/token" --ca-file "$TW_TMP/cert.pem" \
        --namespace default --name tidewatch-controllers --identity "$1" \
        --duration-ms 3000 --renew-ms 2000 --retry-ms 500 >"$TW_TMP/lease-$1.out" \
        2>"$TW_TMP/lease-$1.err" &
}
lease_state() { # IDENTITY: the last state it printed
    tail -n 1 "$TW_TMP/lease-$1.out" 2>/dev/null | cut -d' ' -f2
}
candidate a
A_PID=$!
tw_track_pid "$A_PID"
for _ in $(seq 1 50); do
    [ "$(lease_state a)" = leader ] && break
    sleep 0.1
done
[ "$(lease_state a)" = leader ] || tw_fail "candidate a did not become leader: $(cat "$TW_TMP/lease-a.err")"
candidate b
B_PID=$!
tw_track_pid "$B_PID"
sleep 4 # longer than the lease duration: a keeps renewing, b must wait
[ "$(lease_state a)" = leader ] || tw_fail "a lost the lease while renewing"
[ "$(lease_state b)" = follower ] || tw_fail "b is '$(lease_state b)' while a holds the lease"
[ "$(grep -c leader "$TW_TMP/lease-b.out")" = 0 ] || tw_fail "b was leader while a held the lease"
tw_log "a leads, b follows"

KILLED_MS=$(date +%s%3N)
{ kill -KILL "$A_PID" && wait "$A_PID"; } 2>/dev/null
for _ in $(seq 1 100); do
    [ "$(lease_state b)" = leader ] && break
    sleep 0.1
done
[ "$(lease_state b)" = leader ] || tw_fail "b did not take over: $(tail -n 3 "$TW_TMP/lease-b.err")"
B_MS=$(grep leader "$TW_TMP/lease-b.out" | head -n 1 | cut -d' ' -f1)
# a renewed at most 500 ms before the kill; b sees the lease expire 3 s after it last changed.
waited=$((B_MS - KILLED_MS))
[ "$waited" -ge 2400 ] || tw_fail "b took over $waited ms after a stopped: before the lease expired"
[ "$waited" -le 6000 ] || tw_fail "b took over only $waited ms after a stopped"
lease=$(fake GET /_fake/objects/leases/default/tidewatch-controllers) ||
    tw_fail "cannot read the Lease"
echo "$lease" | python3 -c '
import json, re, sys
s = json.load(sys.stdin)["spec"]
assert s["holderIdentity"] == "b", s
assert s["leaseTransitions"] == 1, s
assert s["leaseDurationSeconds"] == 3, s
micro = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
assert re.match(micro, s["renewTime"]) and re.match(micro, s["acquireTime"]), s' ||
    tw_fail "unexpected Lease: $lease"
tw_log "b took over ${waited} ms after a stopped renewing; Lease: holder b, 1 transition"
exit 0
