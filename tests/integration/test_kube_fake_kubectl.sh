#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_kube_fake_kubectl.sh - fidelity of the fake Kubernetes API server (tests/fakes/kube_fake)
# checked with the real kubectl 1.32: the fake serves HTTPS with a CA made here by openssl and a
# bearer token, seeded with the founding document's e-commerce workloads; kubectl's get (table
# and JSON), scale, patch (merge, strategic, scale subresource), get --raw and replace --raw
# must succeed or fail exactly as against kube-apiserver (409 Conflict, 401, 403 texts), and
# the fake's fault injection (429 + Retry-After, 409) and request log are checked through it.
# Skips (77) when kubectl 1.32 is not installed.

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
tw_init

KUBECTL=/usr/lib/google-cloud-sdk/bin/kubectl.1.32
[ -x "$KUBECTL" ] || tw_skip "kubectl 1.32 not installed ($KUBECTL)"
tw_require_cmd openssl curl python3
FAKE=$(tw_require_tool kube_fake) || exit 1
SEED=$TW_SRC/../shared/conformance/fixtures/kubernetes/seed/ecommerce.yaml
[ -f "$SEED" ] || tw_skip "seed fixture missing: $SEED"

# --- TLS material and the fake ----------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=kube-fake -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$TW_TMP/key.pem" -out "$TW_TMP/cert.pem" 2>"$TW_TMP/openssl.log" ||
    tw_fail "openssl could not make a certificate: $(cat "$TW_TMP/openssl.log")"

TOKEN=tw-test-token
RO_TOKEN=tw-viewer-token
TW_LOG=$TW_TMP/kube_fake.log
"$FAKE" --port 0 --port-file "$TW_TMP/port" --tls-cert "$TW_TMP/cert.pem" \
    --tls-key "$TW_TMP/key.pem" --token "$TOKEN" --readonly-token "$RO_TOKEN" \
    --seed "$SEED" --seed "$TW_SRC/tests/fakes/seed/cluster.yaml" \
    --now 2026-01-02T00:00:00Z >"$TW_TMP/kube_fake.out" 2>"$TW_LOG" </dev/null &
FAKE_PID=$!
tw_track_pid "$FAKE_PID"
for ((i = 0; i < 100; i++)); do
    [ -s "$TW_TMP/port" ] && break
    kill -0 "$FAKE_PID" 2>/dev/null || tw_fail "kube_fake exited at start"
    sleep 0.1
done
PORT=$(cat "$TW_TMP/port" 2>/dev/null) || tw_fail "kube_fake wrote no port file"
[ "$(cat "$TW_TMP/kube_fake.out")" = "$PORT" ] || tw_fail "stdout does not give the port $PORT"
URL=https://127.0.0.1:$PORT
tw_log "kube_fake pid $FAKE_PID on $URL"

cat >"$TW_TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: $URL
    certificate-authority: $TW_TMP/cert.pem
users:
- name: tester
  user:
    token: $TOKEN
contexts:
- name: fake
  context: {cluster: fake, user: tester, namespace: ecommerce}
current-context: fake
EOF
export HOME=$TW_TMP KUBECONFIG=$TW_TMP/kubeconfig NO_PROXY=127.0.0.1

kc() {
    "$KUBECTL" --cache-dir "$TW_TMP/cache" --request-timeout 20s "$@"
}

# ctl METHOD PATH [BODY]: the fake's control API (prints the response body).
ctl() {
    curl -sS --max-time 10 --cacert "$TW_TMP/cert.pem" -X "$1" ${3:+-d "$3"} "$URL$2"
}

# expect NAME WANT_RC WANT_STDOUT WANT_STDERR CMD...: runs CMD and compares exactly.
FAILS=0
expect() {
    local name=$1 want_rc=$2 want_out=$3 want_err=$4 rc=0
    shift 4
    "$@" >"$TW_TMP/out" 2>"$TW_TMP/err" || rc=$?
    if [ "$rc" != "$want_rc" ] || [ "$(cat "$TW_TMP/out")" != "$want_out" ] ||
        [ "$(cat "$TW_TMP/err")" != "$want_err" ]; then
        tw_log "FAIL $name: rc=$rc (want $want_rc)"
        tw_log "stdout:"$'\n'"$(cat "$TW_TMP/out")"$'\n'"want:"$'\n'"$want_out"
        tw_log "stderr:"$'\n'"$(cat "$TW_TMP/err")"$'\n'"want:"$'\n'"$want_err"
        FAILS=$((FAILS + 1))
        return 0
    fi
    tw_log "ok $name"
}

# count METHOD PATH: how many such requests the fake answered since the last reset.
count() {
    ctl GET /_fake/requests | python3 -c 'import json, sys
print(json.load(sys.stdin)["counts"].get(sys.argv[1], 0))' "$1 $2"
}

DEP=/apis/apps/v1/namespaces/ecommerce/deployments/api
CONFLICT='Error from server (Conflict): Operation cannot be fulfilled on deployments.apps "api": the object has been modified; please apply your changes to the latest version and try again'

# --- get -------------------------------------------------------------------------------------
expect "get deployment (server-side table)" 0 \
    "NAME       READY   UP-TO-DATE   AVAILABLE   AGE
api        5/5     5            5           24h
frontend   3/3     3            3           24h" "" kc get deployment

kc get deployment api -o json >"$TW_TMP/api.json" 2>"$TW_TMP/err" || tw_fail "get -o json: $(cat "$TW_TMP/err")"
ctl GET /_fake/objects/deployments/ecommerce/api >"$TW_TMP/api.stored"
python3 - "$TW_TMP/api.json" "$TW_TMP/api.stored" <<'EOF' || FAILS=$((FAILS + 1))
import json, sys
got, want = (json.load(open(p)) for p in sys.argv[1:3])
assert got == want, "kubectl -o json differs from the stored object"
assert want["metadata"]["resourceVersion"] == "1005" and want["spec"]["replicas"] == 5, want
assert want["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
print("test_kube_fake_kubectl: ok get deployment api -o json", file=sys.stderr)
EOF

# --- scale, get --raw .../scale ----------------------------------------------------------------
ctl DELETE /_fake/requests >/dev/null
expect "scale deployment api --replicas=7" 0 "deployment.apps/api scaled" "" \
    kc scale deployment api --replicas=7
[ "$(count PATCH $DEP/scale)" = 1 ] || { tw_log "FAIL scale did not PATCH .../scale once"; FAILS=$((FAILS + 1)); }
UID_API=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["uid"])' "$TW_TMP/api.stored")
expect "get --raw .../scale" 0 \
    "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"api\",\"namespace\":\"ecommerce\",\"uid\":\"$UID_API\",\"resourceVersion\":\"1019\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},\"spec\":{\"replicas\":7},\"status\":{\"replicas\":7,\"selector\":\"app=api\"}}" \
    "" kc get --raw $DEP/scale
expect "scale --current-replicas precondition (PUT of the Scale)" 0 "deployment.apps/api scaled" "" \
    kc scale deployment api --replicas=6 --current-replicas=7

# --- patch -------------------------------------------------------------------------------------
expect "patch --type=merge" 0 "deployment.apps/api patched" "" \
    kc patch deployment api --type=merge \
    -p '{"spec":{"replicas":4},"metadata":{"annotations":{"autoscaler/last-scale":"2026-01-01T00:00:00Z"}}}'
expect "patch (strategic merge)" 0 "deployment.apps/api patched" "" \
    kc patch deployment api -p '{"spec":{"template":{"spec":{"containers":[{"name":"api","image":"ecommerce/api:v2.2.0"}]}}}}'
expect "patch result" 0 '4 ecommerce/api:v2.2.0 800m 5 {"autoscaler/last-scale":"2026-01-01T00:00:00Z"} 1022' "" \
    kc get deployment api -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].resources.limits.cpu} {.metadata.generation} {.metadata.annotations} {.metadata.resourceVersion}'
expect "patch --subresource=scale" 0 "scale.autoscaling/api patched" "" \
    kc patch deployment api --subresource=scale --type=merge -p '{"spec":{"replicas":3}}'
expect "patch --type=json" 0 "deployment.apps/api patched" "" \
    kc patch deployment api --type=json -p '[{"op":"replace","path":"/spec/replicas","value":2}]'

# --- conflicts and errors ----------------------------------------------------------------------
cat >"$TW_TMP/stale.json" <<'EOF'
{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"api","namespace":"ecommerce","resourceVersion":"1"},"spec":{"replicas":9}}
EOF
expect "replace --raw with a stale resourceVersion" 1 "" "$CONFLICT" \
    kc replace --raw $DEP/scale -f "$TW_TMP/stale.json"
expect "get deployment nope" 1 "" 'Error from server (NotFound): deployments.apps "nope" not found' \
    kc get deployment nope
expect "get in a missing namespace" 1 "" 'Error from server (NotFound): namespaces "nowhere" not found' \
    kc get deployment api -n nowhere
expect "wrong token" 1 "" "error: You must be logged in to the server (Unauthorized)" \
    kc --token wrong get deployment api
expect "read-only token writes" 1 "" \
    'Error from server (Forbidden): deployments.apps "api" is forbidden: User "readonly" cannot patch resource "deployments/scale" in API group "apps" in the namespace "ecommerce"' \
    kc --token "$RO_TOKEN" scale deployment api --replicas=9
expect "read-only token reads" 0 "2" "" \
    kc --token "$RO_TOKEN" get deployment api -o jsonpath='{.spec.replicas}'

# --- injected faults, seen through kubectl --------------------------------------------------------
# kubectl scale retries a PATCH that got 409 (client-go's RetryOnConflict): one fault, two PATCHes.
ctl DELETE /_fake/requests >/dev/null
ctl POST /_fake/faults '{"action":"conflict","method":"PATCH","path":"'$DEP/scale'"}' >/dev/null
expect "scale retried after an injected 409" 0 "deployment.apps/api scaled" "" \
    kc scale deployment api --replicas=5
[ "$(count PATCH $DEP/scale)" = 2 ] || { tw_log "FAIL 409 was not followed by one retry"; FAILS=$((FAILS + 1)); }
# A PUT from replace --raw is not retried: the injected 409 shows as kubectl prints it.
ctl POST /_fake/faults '{"action":"conflict","method":"PUT","path":"'$DEP/scale'"}' >/dev/null
echo '{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"api","namespace":"ecommerce"},"spec":{"replicas":2}}' >"$TW_TMP/scale.json"
expect "replace --raw against an injected 409" 1 "" "$CONFLICT" \
    kc replace --raw $DEP/scale -f "$TW_TMP/scale.json"
ctl DELETE /_fake/requests >/dev/null
ctl POST /_fake/faults '{"action":"throttle","method":"GET","path":"'$DEP'","retryAfterSeconds":1}' >/dev/null
expect "get retried after 429 + Retry-After" 0 "5" "" \
    kc get deployment api -o jsonpath='{.spec.replicas}'
[ "$(count GET $DEP)" = 2 ] || { tw_log "FAIL 429 was not followed by one retry"; FAILS=$((FAILS + 1)); }

# --- selectors, watch, leases --------------------------------------------------------------------
expect "pods by label and field selector" 0 \
    "pod/api-7f9c8b6d5c-c3n8r
pod/api-7f9c8b6d5c-f5w2z
pod/api-7f9c8b6d5c-x2k4p" "" \
    kc get pods -l 'app in (api),pod-template-hash' --field-selector spec.nodeName=node-a -o name
RV=$(ctl GET /_fake/config | python3 -c 'import json,sys; print(json.load(sys.stdin)["resourceVersion"])')
curl -sS --max-time 10 --cacert "$TW_TMP/cert.pem" -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/namespaces/ecommerce/pods?watch=1&labelSelector=app%3Dapi&resourceVersion=$RV&timeoutSeconds=2" \
    >"$TW_TMP/watch" &
WATCH_PID=$!
sleep 0.5
ctl POST /_fake/podstatus/ecommerce/api-7f9c8b6d5c-x2k4p '{"ready":false}' >/dev/null
ctl DELETE /_fake/objects/pods/ecommerce/api-7f9c8b6d5c-b7m9q >/dev/null
wait "$WATCH_PID"
GOT=$(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    print(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"])' "$TW_TMP/watch")
WANT="MODIFIED api-7f9c8b6d5c-x2k4p $((RV + 1))
DELETED api-7f9c8b6d5c-b7m9q $((RV + 2))"
[ "$GOT" = "$WANT" ] || { tw_log "FAIL watch: got:"$'\n'"$GOT"$'\n'"want:"$'\n'"$WANT"; FAILS=$((FAILS + 1)); }
expect "get pod after readiness change" 0 "NAME                   READY   STATUS    RESTARTS   AGE
api-7f9c8b6d5c-x2k4p   0/1     Running   0          24h" "" kc get pod api-7f9c8b6d5c-x2k4p

expect "lease get" 0 "node-a 15" "" \
    kc get lease -n kube-system tidewatch-autoscaler -o jsonpath='{.spec.holderIdentity} {.spec.leaseDurationSeconds}'
LEASE=$(kc get lease -n kube-system tidewatch-autoscaler -o json)
echo "$LEASE" | python3 -c 'import json,sys; o=json.load(sys.stdin); o["spec"]["holderIdentity"]="node-b"; print(json.dumps(o))' >"$TW_TMP/lease.json"
expect "lease update with the current resourceVersion" 0 "lease.coordination.k8s.io/tidewatch-autoscaler replaced" "" \
    kc replace --validate=false -f "$TW_TMP/lease.json"
expect "lease update with the old resourceVersion" 1 "" \
    'Error from server (Conflict): error when replacing "'"$TW_TMP/lease.json"'": Operation cannot be fulfilled on leases.coordination.k8s.io "tidewatch-autoscaler": the object has been modified; please apply your changes to the latest version and try again' \
    kc replace --validate=false -f "$TW_TMP/lease.json"

[ "$FAILS" = 0 ] || tw_fail "$FAILS check(s) failed"
tw_log "PASS"
