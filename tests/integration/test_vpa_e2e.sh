#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_vpa_e2e.sh - the vertical autoscaler end to end on this machine (issue 7's acceptance).
#
# The fake API server (TLS, bearer token; autoscale_env.sh) holds Deployment shop/web (one
# container `app` requesting 100m CPU, 64Mi) with a PodDisruptionBudget (minAvailable 1), and a
# MutatingWebhookConfiguration pointing at tidewatch's admission webhook (POST /mutate/pods on
# its own TLS listener, the fake's certificate as CA bundle), so every pod the fake creates goes
# through an AdmissionReview to tidewatch. Pods web-1 and web-2 are real cgroups (kubelet
# layout) owned by ReplicaSet web-5d8f7c6b4; each runs a burner capped at 150m (cfs quota) and a
# process holding 300 MiB (filled before tidewatch starts): a steady CPU and memory profile.
# tidewatch collects them every second and runs the VPA `web` (InPlaceOrRecreate, minReplicas 1)
# with a short recommender interval.
#   1. the recommendation appears in /api/v1/recommendations; its CPU and memory targets are
#      within 10% of the VPA formula (decaying histograms: the 90th percentile's bucket end plus
#      the 15% margin, at least the 250 MiB pod minimum) computed here on the same samples, read
#      back from tidewatch's query API;
#   2. InPlaceOrRecreate issues a resize (PATCH pods/web-1/resize) which the fake's kubelet
#      completes;
#   3. web-2's resize is answered Infeasible (injected): tidewatch falls back to the Eviction API
#      (POST pods/web-2/eviction, 201 under the PDB), and the replacement pod the test creates
#      through the API (as the ReplicaSet controller would) is admitted with the recommendation
#      by the webhook;
#   4. a restart of tidewatch (same data dir) publishes the same recommendation at once;
#   5. with tidewatch stopped, `tidewatch autoscaler recommend` on its data dir prints a
#      recommendation for shop/app within 10% of the daemon's.
# Skips (77) without root or cgroup v1 cpu/cpuacct/memory, and while the daemon does not accept
# autoscaling.admission_webhook or does not serve /api/v1/recommendations (404): the VPA wiring
# is not in this build.
set -u
. "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd curl python3 openssl base64
. "$(dirname "$0")/autoscale_env.sh"
as_require
as_fake_start
as_kubeconfig "$TW_TMP/kubeconfig"

RS=web-5d8f7c6b4
INTERVAL_S=5
PORT=$(tw_free_port)
WH_PORT=$(tw_free_port_except "$PORT")
MEM_MIB=300

{
    as_config_head "$TW_TMP/kubeconfig" 50
    cat <<EOF
autoscaling:
  driver: {type: kubernetes}
  admission_webhook:
    listen_address: 127.0.0.1:$WH_PORT
    tls_config: {cert_file: $TW_TMP/cert.pem, key_file: $TW_TMP/key.pem}
  recommender:
    recommender_interval: ${INTERVAL_S}s
  vertical:
    - apiVersion: autoscaling.k8s.io/v1
      kind: VerticalPodAutoscaler
      metadata: {name: web, namespace: $AS_NS}
      spec:
        targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
        updatePolicy: {updateMode: InPlaceOrRecreate, minReplicas: 1}
EOF
} >"$TW_TMP/tidewatch.yml"

# kube_api METHOD PATH [JSON]: the API proper (bearer token), unlike as_fake's control calls.
kube_api() {
    curl -sf --cacert "$TW_TMP/cert.pem" -X "$1" -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $(cat "$TW_TMP/token")" ${3:+--data "$3"} "$FAKE_URL$2"
}
# The PDB and the webhook registration, as kubectl apply would create them.
kube_api POST "/apis/policy/v1/namespaces/$AS_NS/poddisruptionbudgets" \
    '{"metadata":{"name":"web"},"spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}}}' \
    >/dev/null || tw_fail "cannot create the PodDisruptionBudget"

# as_owner NAME: the pod is ReplicaSet $RS's (the webhook resolves it to Deployment web).
as_owner() {
    as_fake PATCH "/_fake/objects/pods/$AS_NS/$1" \
        "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"$RS\",\"uid\":\"00000000-0000-4000-8000-000000000001\",\"controller\":true}]}}" \
        >/dev/null || tw_fail "cannot set the owner of $1"
}
# hold_memory NAME: a process in the pod's cgroups holding MEM_MIB MiB, touched page by page. It
# joins every hierarchy but the cpu one (unless memory shares it): faulting 300 MiB in under the
# pod's 150m quota, next to the burner, takes tens of seconds here, and the profile must be steady
# before tidewatch starts. Its pages are charged to the memory cgroup, its CPU time to cpuacct.
declare -A HOLDER
MEM_MNT=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
hold_memory() {
    local name=$1 uid=${AS_UID[$1]} cid=${AS_CID[$1]} h procs=()
    for h in "${AS_HIER[@]}"; do
        [ "$h" != "$AS_CPU_MNT" ] || [ "$h" = "$MEM_MNT" ] || continue
        procs+=("$h/kubepods/burstable/pod$uid/$cid/cgroup.procs")
    done
    bash -c 'ready=$1 mib=$2
        shift 2
        for f in "$@"; do echo $$ >"$f" || exit 1; done
        exec python3 -c "import sys, time
b = bytearray($mib << 20)
b[::4096] = b\"\\1\" * len(range(0, len(b), 4096))
open(sys.argv[1], \"w\").close()
time.sleep(10**6)" "$ready"' _ "$TW_TMP/held.$name" "$MEM_MIB" "${procs[@]}" &
    HOLDER[$name]=$!
    tw_track_pid "${HOLDER[$name]}"
}
# wait_held NAME...: until each holder has touched all its pages (bounded).
wait_held() {
    local name deadline=$((SECONDS + 60))
    for name in "$@"; do
        until [ -e "$TW_TMP/held.$name" ]; do
            ((SECONDS < deadline)) || tw_fail "the memory holder of $name did not fill $MEM_MIB MiB within 60 s"
            kill -0 "${HOLDER[$name]}" 2>/dev/null || tw_fail "the memory holder of $name died"
            sleep 0.2
        done
    done
}
start_pod() {
    as_pod_add "$1" "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)"
    as_owner "$1"
    as_burn_start "$1"
    hold_memory "$1"
}
start_pod web-1
start_pod web-2
wait_held web-1 web-2
# The kubelet answers web-2's resizes Infeasible; web-1's complete.
as_fake POST "/_fake/resize/$AS_NS/web-2" '{"outcome":"Infeasible"}' >/dev/null ||
    tw_fail "cannot arm the Infeasible resize"

# The daemon wiring (autoscaling.admission_webhook, the VPA loop) may not be in this build yet.
check=$("$TW_BIN" check config "$TW_TMP/tidewatch.yml" 2>&1)
case "$check" in
*'unknown key "admission_webhook"'* | *'unknown key "vertical"'* | *'unknown key "recommender"'*)
    tw_skip "this tidewatch does not accept the VPA configuration yet: $check" ;;
esac
tw_start_tidewatch "$TW_TMP/tidewatch.yml" "$PORT" "$TW_TMP/data"
code=$(tw_http_code "http://127.0.0.1:$PORT/api/v1/recommendations")
[ "$code" != 404 ] || tw_skip "GET /api/v1/recommendations answers 404: the VPA loop is not wired into the daemon yet (daemon/vpa_loop.c, autoscaling.vertical[])"
# The webhook answers over TLS (a GET is 405: only POST is routed).
deadline=$((SECONDS + 20))
until [ "$(tw_http_code "https://127.0.0.1:$WH_PORT/mutate/pods" --cacert "$TW_TMP/cert.pem")" = 405 ]; do
    ((SECONDS < deadline)) ||
        tw_fail "the admission webhook does not answer on https://127.0.0.1:$WH_PORT (autoscaling.admission_webhook)"
    sleep 0.2
done
cat >"$TW_TMP/mwc.json" <<EOF
{"apiVersion":"admissionregistration.k8s.io/v1","kind":"MutatingWebhookConfiguration",
 "metadata":{"name":"tidewatch-vpa"},
 "webhooks":[{"name":"vpa.tidewatch.io","admissionReviewVersions":["v1"],"sideEffects":"None",
   "failurePolicy":"Ignore","timeoutSeconds":5,
   "clientConfig":{"url":"https://127.0.0.1:$WH_PORT/mutate/pods","caBundle":"$(base64 -w0 "$TW_TMP/cert.pem")"},
   "rules":[{"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"]}]}]}
EOF
kube_api POST /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations \
    "$(cat "$TW_TMP/mwc.json")" >/dev/null || tw_fail "cannot register the webhook with the fake"

recs() { curl -s --max-time 5 "http://127.0.0.1:$PORT/api/v1/recommendations"; }
# target RES: the app container's target as a number (millicores for cpu, bytes for memory).
target() {
    recs | python3 -c 'import json,sys
res = sys.argv[1]
def q(s):
    s = str(s)
    mult = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    for suf in sorted(mult, key=len, reverse=True):
        if s.endswith(suf):
            return float(s[:-len(suf)]) * mult[suf]
    return float(s)
try:
    d = json.load(sys.stdin)["data"]
    for v in d["verticalPodAutoscalers"]:
        for c in v.get("containerRecommendations") or []:
            if c["containerName"] == "app" and res in c.get("target", {}):
                x = q(c["target"][res])
                print(round(x * 1000) if res == "cpu" else round(x))
                sys.exit(0)
except Exception:
    pass' "$1"
}
fake_count() { # KEY: how many requests "METHOD PATH" the fake answered
    as_fake GET /_fake/requests | python3 -c 'import json,sys
print(json.load(sys.stdin)["counts"].get(sys.argv[1], 0))' "$1"
}

# 1. the recommendation, against the VPA formula on the same samples
deadline=$((SECONDS + 120))
until [ -n "$(target cpu)" ] && [ -n "$(target memory)" ]; do
    ((SECONDS < deadline)) || tw_fail "no recommendation for web/app within 120 s: $(recs)"
    kill -0 "$TW_PID" 2>/dev/null || tw_fail "tidewatch died"
    sleep 1
done
sleep $((2 * INTERVAL_S)) # a few passes of samples
cpu=$(target cpu)
mem=$(target memory)
now=$(date +%s)
expected=$(curl -s --get --data-urlencode 'query=rate(container_cpu_usage_seconds_total{namespace="shop",container="app"}[5s])' \
    --data-urlencode "start=$((now - 120))" --data-urlencode "end=$now" --data-urlencode step=1 \
    "http://127.0.0.1:$PORT/api/v1/query_range" >"$TW_TMP/cpu.json"
curl -s --get --data-urlencode 'query=container_memory_working_set_bytes{namespace="shop",container="app"}' \
    --data-urlencode "start=$((now - 120))" --data-urlencode "end=$now" --data-urlencode step=1 \
    "http://127.0.0.1:$PORT/api/v1/query_range" >"$TW_TMP/mem.json"
python3 - "$TW_TMP/cpu.json" "$TW_TMP/mem.json" <<'EOF'
import json, math, sys
def bucket_end(v, first, ratio=1.05):
    # the VPA's exponential layout: bucket k starts at first*(ratio^k-1)/(ratio-1); a
    # percentile of samples all in one bucket is that bucket's end
    k = 0 if v < first else int(math.floor(math.log(v * (ratio - 1) / first + 1) / math.log(ratio)))
    return first * (ratio ** (k + 1) - 1) / (ratio - 1)
def p90(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(math.ceil(0.9 * len(values))) - 1)]
cpu = [float(v) for r in json.load(open(sys.argv[1]))["data"]["result"] for _, v in r["values"]]
mem = [float(v) for r in json.load(open(sys.argv[2]))["data"]["result"] for _, v in r["values"]]
assert cpu and mem, "no samples in tidewatch"
c = bucket_end(p90(cpu), 0.01) * 1000          # millicores
c = max(c + math.trunc(c * 0.15), 25)          # margin, pod minimum (one container)
m = bucket_end(p90(mem), 1e7)
m = max(m + math.trunc(m * 0.15), 250 * 1024 * 1024)
print(int(c), int(m))
EOF
)
read -r exp_cpu exp_mem <<<"$expected"
[ -n "${exp_mem:-}" ] || tw_fail "cannot compute the VPA formula from tidewatch's samples"
tw_log "recommendation cpu=${cpu}m memory=$mem; VPA formula on the same samples: cpu=${exp_cpu}m memory=$exp_mem"
awk -v a="$cpu" -v b="$exp_cpu" -v c="$mem" -v d="$exp_mem" \
    'BEGIN { exit !((a - b) <= 0.1 * b && (b - a) <= 0.1 * b && (c - d) <= 0.1 * d && (d - c) <= 0.1 * d) }' ||
    tw_fail "recommendation cpu=${cpu}m memory=$mem is not within 10% of cpu=${exp_cpu}m memory=$exp_mem"

# 2. InPlaceOrRecreate resizes web-1 in place
deadline=$((SECONDS + 60))
until [ "$(fake_count "PATCH /api/v1/namespaces/$AS_NS/pods/web-1/resize")" -ge 1 ]; do
    ((SECONDS < deadline)) || tw_fail "no resize of web-1 within 60 s: $(grep -i vpa "$TW_LOG" | tail -5)"
    sleep 1
done
kube_api GET "/api/v1/namespaces/$AS_NS/pods/web-1" | python3 -c 'import json,sys
p = json.load(sys.stdin)
r = p["spec"]["containers"][0]["resources"]["requests"]
s = p["status"]["containerStatuses"][0].get("resources", {}).get("requests")
assert r["cpu"] != "100m", r
assert s == r, (s, r)
print("web-1 resized in place to", r, file=sys.stderr)' || tw_fail "web-1's resize did not take effect"

# 3. web-2's resize is Infeasible: eviction, then the webhook admits the replacement
deadline=$((SECONDS + 90))
until [ "$(fake_count "POST /api/v1/namespaces/$AS_NS/pods/web-2/eviction")" -ge 1 ]; do
    ((SECONDS < deadline)) || tw_fail "no eviction of web-2 within 90 s of its Infeasible resize: $(grep -i vpa "$TW_LOG" | tail -5)"
    sleep 1
done
[ "$(fake_count "PATCH /api/v1/namespaces/$AS_NS/pods/web-2/resize")" -ge 1 ] ||
    tw_fail "web-2 was evicted without a resize attempt first"
as_fake GET /_fake/requests | grep -q '"path":"/api/v1/namespaces/shop/pods/web-2/eviction","query":"[^"]*","status":201' ||
    tw_fail "the eviction of web-2 was not accepted (201)"
tw_log "web-2: resize Infeasible, evicted"
kill -KILL "${HOLDER[web-2]}" 2>/dev/null
wait "${HOLDER[web-2]}" 2>/dev/null
as_pod_del web-2
# The ReplicaSet controller's replacement, through the API and thus the webhook.
created=$(kube_api POST "/api/v1/namespaces/$AS_NS/pods" \
    "{\"metadata\":{\"generateName\":\"$RS-\",\"labels\":{\"app\":\"web\"},\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"$RS\",\"uid\":\"00000000-0000-4000-8000-000000000001\",\"controller\":true}]},\"spec\":{\"nodeName\":\"$AS_NODE\",\"containers\":[{\"name\":\"app\",\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}]}}")
echo "$created" | python3 -c 'import json,sys
p = json.load(sys.stdin)
a = p["metadata"].get("annotations", {})
r = p["spec"]["containers"][0]["resources"]["requests"]
cpu, mem = int(sys.argv[1]), int(sys.argv[2])
want_cpu = "%dm" % cpu if cpu % 1000 else str(cpu // 1000)
assert r["cpu"] == want_cpu, (r, want_cpu)
assert a.get("vpaObservedContainers") == "app", a
assert a.get("vpaUpdates", "").startswith("Pod resources updated by"), a
print("replacement", p["metadata"]["name"], "admitted with", r, file=sys.stderr)' "$(target cpu)" "$(target memory)" ||
    tw_fail "the replacement pod was not admitted with the recommendation: $created"
[ "$(fake_count "ADMIT https://127.0.0.1:$WH_PORT/mutate/pods")" -ge 1 ] ||
    tw_fail "the fake never called the webhook"

# 4. a restart keeps the recommendation
before_cpu=$(target cpu)
before_mem=$(target memory)
tw_stop_wait "$TW_PID" 10
tw_start_tidewatch_args "$TW_TMP/tidewatch.yml" "$PORT" "$TW_TMP/data" tidewatch
deadline=$((SECONDS + 30))
until [ -n "$(target cpu)" ]; do
    ((SECONDS < deadline)) || tw_fail "no recommendation within 30 s of the restart: $(recs)"
    sleep 0.5
done
after_cpu=$(target cpu)
after_mem=$(target memory)
tw_log "before the restart cpu=${before_cpu}m memory=$before_mem, after cpu=${after_cpu}m memory=$after_mem"
awk -v a="$before_cpu" -v b="$after_cpu" -v c="$before_mem" -v d="$after_mem" \
    'BEGIN { exit !((a - b) <= 0.1 * a && (b - a) <= 0.1 * a && (c - d) <= 0.1 * c && (d - c) <= 0.1 * c) }' ||
    tw_fail "the restart lost the recommendation"

# 5. `tidewatch autoscaler recommend` on the data dir (the daemon stopped: it holds the lock)
# rebuilds the model from the TSDB's history alone, at a resolution this short run has samples
# for, and recommends for shop/app what the daemon published.
tw_stop_wait "$TW_PID" 10
"$TW_BIN" autoscaler recommend --storage.tsdb.path="$TW_TMP/data" \
    --selector="namespace=\"$AS_NS\",pod=~\"web-.*\"" --history-length=10m \
    --history-resolution=5s >"$TW_TMP/recommend.out" 2>"$TW_TMP/recommend.err" ||
    tw_fail "autoscaler recommend failed: $(cat "$TW_TMP/recommend.err")"
cli=$(python3 - "$TW_TMP/recommend.out" <<'EOF2'
import json, sys
def q(s):
    mult = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    for suf in sorted(mult, key=len, reverse=True):
        if s.endswith(suf):
            return float(s[:-len(suf)]) * mult[suf]
    return float(s)
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("namespace") == "shop" and r.get("containerName") == "app":
        t = r["target"]
        print(round(q(t["cpu"]) * 1000), round(q(t["memory"])))
        break
EOF2
)
read -r cli_cpu cli_mem <<<"$cli"
[ -n "${cli_mem:-}" ] || tw_fail "autoscaler recommend printed no recommendation for shop/app: $(cat "$TW_TMP/recommend.out")"
tw_log "autoscaler recommend: cpu=${cli_cpu}m memory=$cli_mem (the daemon: cpu=${after_cpu}m memory=$after_mem)"
awk -v a="$cli_cpu" -v b="$after_cpu" -v c="$cli_mem" -v d="$after_mem" \
    'BEGIN { exit !((a - b) <= 0.1 * b && (b - a) <= 0.1 * b && (c - d) <= 0.1 * d && (d - c) <= 0.1 * d) }' ||
    tw_fail "autoscaler recommend says cpu=${cli_cpu}m memory=$cli_mem, not within 10% of the daemon's cpu=${after_cpu}m memory=$after_mem"
tw_log "PASS"
