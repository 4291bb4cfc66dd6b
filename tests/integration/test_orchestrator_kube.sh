#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The kubernetes orchestrator driver against the fake API server (tests/fakes/kube_fake, seeded
# with the e-commerce example): through orch_tool.c (compiled here against the build's
# libtw_orchestrator.a, like burner.c) it
#   1. reads the api Deployment's scale (replicas, status.selector, resourceVersion);
#   2. writes it with the observed resourceVersion, then with a stale one (real 409 -> exit 2);
#   3. read-compute-write with an injected 409 on the next PUT: re-read, recompute, write again;
#   4. a GET answered 429 + Retry-After: 1 is retried after >= 1 s;
#   5. 503s beyond the retry budget are "transient"; a missing Deployment is "notfound"; the
#      read-only token gets "forbidden";
#   6. lists the pods by the scale's selector with their phase, readiness and CPU requests.
# Every request is checked in the fake's request log. Only 127.0.0.1 is used.
set -u
. "$(dirname "$0")/lib.sh"
tw_init

SHARED="$TW_SRC/../shared/conformance/fixtures/kubernetes/seed/ecommerce.yaml"
FAKE=$TW_BUILD/tests/kube_fake
[ -x "$FAKE" ] || tw_skip "kube_fake is not built ($FAKE; cmake --build ... --target kube_fake)"
[ -f "$SHARED" ] || tw_skip "$SHARED not found (shared/ is not beside the checkout)"
for lib in libtw_orchestrator.a libtw_common.a; do
    [ -f "$TW_BUILD/$lib" ] || tw_skip "$TW_BUILD/$lib is not built (--target tw_orchestrator)"
done
tw_require_cmd cc pkg-config curl python3

TOOL=$TW_TMP/orch_tool
# shellcheck disable=SC2046
cc -std=gnu11 -O1 -I"$TW_SRC" -o "$TOOL" "$TW_SRC/tests/integration/orch_tool.c" \
    "$TW_BUILD/libtw_orchestrator.a" "$TW_BUILD/libtw_common.a" \
    $(pkg-config --libs libcurl jansson yaml-0.1 libmicrohttpd libpcre2-8 zlib) -lpthread -lm ||
    tw_fail "cannot compile orch_tool.c"

"$FAKE" --listen 127.0.0.1 --port 0 --port-file "$TW_TMP/port" --token rw-token \
    --readonly-token ro-token --no-controller --quiet \
    --seed "$SHARED" --seed "$TW_SRC/tests/fakes/seed/cluster.yaml" \
    >"$TW_TMP/fake.out" 2>"$TW_TMP/fake.err" &
tw_track_pid $!
for _ in $(seq 1 50); do
    [ -s "$TW_TMP/port" ] && break
    sleep 0.1
done
[ -s "$TW_TMP/port" ] || { cat "$TW_TMP/fake.err" >&2; tw_fail "kube_fake did not start"; }
PORT=$(cat "$TW_TMP/port")
FAKE_URL=http://127.0.0.1:$PORT

kubeconfig() { # FILE TOKEN
    printf '%s\n' "$2" >"$TW_TMP/$1.token"
    cat >"$TW_TMP/$1" <<EOF
apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster:
    server: $FAKE_URL
users:
- name: u
  user:
    tokenFile: $1.token
contexts:
- name: fake
  context:
    cluster: fake
    user: u
    namespace: ecommerce
EOF
}
kubeconfig rw.yaml rw-token
kubeconfig ro.yaml ro-token

tool() { "$TOOL" --kubeconfig "$TW_TMP/rw.yaml" --qps 100 --burst 20 "$@"; }
fake_ctl() { # METHOD PATH [JSON]
    curl -sf -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$FAKE_URL$2"
}
# requests_count METHOD PATH: how many times the fake answered METHOD PATH since the last reset.
requests_count() {
    fake_ctl GET /_fake/requests | python3 -c 'import json,sys
d = json.load(sys.stdin)
print(d["counts"].get(sys.argv[1], 0))' "$1 $2"
}
SCALE=/apis/apps/v1/namespaces/ecommerce/deployments/api/scale

# 1. get
out=$(tool get Deployment ecommerce api) || tw_fail "get: $out"
tw_log "get: $out"
case $out in
spec=5\ status=[0-9]*\ selector=app=api\ version=*) ;;
*) tw_fail "get: unexpected '$out'" ;;
esac
rv=${out##*version=}

# 2. set with the observed resourceVersion, then the same (now stale) one again
out=$(tool set Deployment ecommerce api 6 "$rv") || tw_fail "set: $out"
[ "${out%% *}" = "spec=6" ] || tw_fail "set: unexpected '$out'"
out=$(tool set Deployment ecommerce api 8 "$rv")
rc=$?
[ $rc -eq 2 ] || tw_fail "stale set: exit $rc, want 2 (conflict): $out"
case $out in
*'Error from server (Conflict): Operation cannot be fulfilled on deployments.apps "api": the object has been modified'*) ;;
*) tw_fail "stale set: unexpected '$out'" ;;
esac
tw_log "stale resourceVersion: $out"

# 3. an injected conflict: re-read and write again
fake_ctl DELETE /_fake/requests >/dev/null
fake_ctl POST /_fake/faults "{\"action\":\"conflict\",\"method\":\"PUT\",\"path\":\"$SCALE\",\"count\":1}" \
    >/dev/null || tw_fail "cannot inject the conflict"
out=$(tool update Deployment ecommerce api 7) || tw_fail "update: $out"
tw_log "update after a 409: $out"
[ "${out%% *}" = "spec=7" ] || tw_fail "update: unexpected '$out'"
case $out in *writes=2) ;; *) tw_fail "update: expected 2 writes: '$out'" ;; esac
[ "$(requests_count GET "$SCALE")" = 2 ] || tw_fail "update: expected 2 GETs of the scale"
[ "$(requests_count PUT "$SCALE")" = 2 ] || tw_fail "update: expected 2 PUTs of the scale"
out=$(tool get Deployment ecommerce api)
case $out in spec=7\ *) ;; *) tw_fail "after update: '$out'" ;; esac

# 4. 429 with Retry-After: 1 is waited out
fake_ctl DELETE /_fake/requests >/dev/null
fake_ctl POST /_fake/faults "{\"action\":\"throttle\",\"method\":\"GET\",\"path\":\"$SCALE\",\"count\":1,\"retryAfterSeconds\":1}" \
    >/dev/null || tw_fail "cannot inject the throttle"
t0=$(date +%s%N)
out=$(tool get Deployment ecommerce api) || tw_fail "get after 429: $out"
ms=$((($(date +%s%N) - t0) / 1000000))
tw_log "get after a 429 with Retry-After 1: $out (${ms} ms)"
[ "$ms" -ge 950 ] || tw_fail "Retry-After not honored: the retry came after ${ms} ms"
[ "$(requests_count GET "$SCALE")" = 2 ] || tw_fail "429: expected 2 GETs"

# 5. transient, notfound, forbidden
fake_ctl POST /_fake/faults "{\"action\":\"error\",\"status\":503,\"path\":\"$SCALE\",\"count\":5}" >/dev/null
out=$(tool --retries 1 --max-retry-wait-ms 300 get Deployment ecommerce api)
rc=$?
[ $rc -eq 5 ] || tw_fail "503: exit $rc, want 5 (transient): $out"
fake_ctl DELETE /_fake/faults >/dev/null
out=$(tool get Deployment ecommerce nope)
rc=$?
[ $rc -eq 3 ] || tw_fail "missing deployment: exit $rc, want 3: $out"
case $out in *'deployments.apps "nope" not found'*) ;; *) tw_fail "notfound: '$out'" ;; esac
out=$("$TOOL" --kubeconfig "$TW_TMP/ro.yaml" set Deployment ecommerce api 2)
rc=$?
[ $rc -eq 4 ] || tw_fail "read-only token: exit $rc, want 4 (forbidden): $out"
tw_log "read-only token: $out"

# 6. pods by the scale's selector
out=$(tool pods ecommerce app=api) || tw_fail "pods: $out"
printf '%s\n' "$out" >&2
want=$(python3 - "$SHARED" "$TW_SRC/tests/fakes/seed/cluster.yaml" <<'EOF'
import sys, re
n = 0
for f in sys.argv[1:]:
    for doc in open(f).read().split("\n---"):
        if re.search(r"^kind: Pod$", doc, re.M) and re.search(r"app: api\b", doc) and "namespace: ecommerce" in doc:
            n += 1
print(n)
EOF
)
got=$(printf '%s\n' "$out" | grep -c '^api-')
if [ "$got" -ne "$want" ] || [ "$got" -eq 0 ]; then
    tw_fail "pods: $got api pods listed, seed has $want"
fi
bad=$(printf '%s\n' "$out" | grep -v 'phase=Running ready=True deleting=0' || true)
[ -z "$bad" ] || tw_fail "pods: unexpected state: $bad"
printf '%s\n' "$out" | grep -q ':cpu=[0-9][0-9]*m' || tw_fail "pods: no CPU requests parsed"
q=$(fake_ctl GET /_fake/requests | python3 -c 'import json,sys
for r in json.load(sys.stdin)["requests"]:
    if r["path"] == "/api/v1/namespaces/ecommerce/pods":
        print(r["query"])')
tw_log "pod list query: $q"
# (the fake logs the query decoded; the escaping itself is checked in test_orch_kubernetes.c)
case $q in *labelSelector=app%3Dapi* | *labelSelector=app=api*) ;; *) tw_fail "pods: query '$q' lacks the selector" ;; esac

tw_log "PASS"
