# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# autoscale_env.sh - a small "node" for the autoscaler's end-to-end test and latency benchmark
# (sourced after lib.sh and tw_init, never run): the fake Kubernetes API server (TLS, bearer
# token) holding namespace `shop` with Deployment `web` (app=web, one container `app` requesting
# 100m CPU), and pods that are real cgroups named like a kubelet's with the cgroupfs driver,
#   <v1 mount>/kubepods/burstable/pod<uid>/<64-hex container id>   (cpu, cpuacct, memory)
# whose Pod objects in the fake carry that uid and `containerd://<id>`, so tidewatch's cgroup
# collector labels the series with namespace/pod/container from the fake's pod list. A burner
# (`yes >/dev/null`, capped by cpu.cfs_quota_us at AS_BURN_MILLI millicores) makes a pod busy.
#
# Functions: as_require (skips with 77 unless root with writable v1 cpu, cpuacct and memory
# hierarchies), as_fake_start, as_kubeconfig FILE, as_pod_add NAME [START_RFC3339], as_pod_del
# NAME, as_burn_start NAME, as_burn_stop NAME, as_replicas, as_set_replicas N, as_pods (names).
# Every process is tracked by PID (lib.sh), every directory made is removed in the EXIT trap.

AS_NS=shop
AS_NODE=tw-e2e-node
AS_BURN_MILLI=${AS_BURN_MILLI:-150}
AS_HIER=()                 # v1 mount points of cpu, cpuacct, memory (deduplicated)
AS_CPU_MNT=""              # the one holding cpu (for the quota)
declare -A AS_UID AS_CID AS_BURNER AS_MAIN

as_require() {
    [ "$(id -u)" = 0 ] || tw_skip "needs root to create cgroups (running as uid $(id -u))"
    local -A mnt=()
    local _ m fstype opts c
    while read -r _ m fstype opts _; do
        [ "$fstype" = cgroup ] || continue
        IFS=, read -ra o <<<"$opts"
        for c in "${o[@]}"; do
            case "$c" in cpu | cpuacct | memory) mnt[$c]=$m ;; esac
        done
    done </proc/mounts
    for c in cpu cpuacct memory; do
        [ -n "${mnt[$c]:-}" ] || tw_skip "no cgroup v1 $c hierarchy mounted (cgroup v2 lacks cpu here)"
        [ -w "${mnt[$c]}" ] || tw_skip "cgroup v1 $c hierarchy ${mnt[$c]} is not writable"
    done
    AS_CPU_MNT=${mnt[cpu]}
    local -A seen=()
    for c in cpu cpuacct memory; do
        [ -n "${seen[${mnt[$c]}]:-}" ] && continue
        seen[${mnt[$c]}]=1
        AS_HIER+=("${mnt[$c]}")
    done
}

# as_mkdir DIR: mkdir (parents too), each directory made here is removed at exit.
as_mkdir() {
    local d=$1
    [ -d "$d" ] && return 0
    as_mkdir "$(dirname "$d")"
    mkdir "$d" || tw_fail "mkdir $d"
    tw_on_exit "[ ! -d '$d' ] || rmdir '$d' 2>/dev/null || { sleep 0.3; rmdir '$d' 2>/dev/null; } || true"
}

as_fake_start() {
    FAKE=$TW_BUILD/tests/kube_fake
    [ -x "$FAKE" ] || tw_skip "kube_fake is not built ($FAKE; cmake --build ... --target kube_fake)"
    tw_require_cmd openssl curl python3 od awk
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=kube-fake -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$TW_TMP/key.pem" -out "$TW_TMP/cert.pem" 2>/dev/null || tw_fail "openssl failed"
    printf 'rw-token\n' >"$TW_TMP/token"
    cat >"$TW_TMP/seed.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: $AS_NS}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $AS_NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: app
          image: busybox
          resources: {requests: {cpu: 100m, memory: 64Mi}}
EOF
    # The request log goes to stderr one line per answer; each line is stamped with the wall
    # time it was read (the benchmark and the e2e test measure against it).
    "$FAKE" --listen 127.0.0.1 --port 0 --port-file "$TW_TMP/fake.port" \
        --tls-cert "$TW_TMP/cert.pem" --tls-key "$TW_TMP/key.pem" --token rw-token \
        --seed "$TW_TMP/seed.yaml" >"$TW_TMP/fake.out" \
        2> >(while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done \
            >"$TW_TMP/fake.log") &
    tw_track_pid $!
    for _ in $(seq 1 50); do
        [ -s "$TW_TMP/fake.port" ] && break
        sleep 0.1
    done
    [ -s "$TW_TMP/fake.port" ] || tw_fail "kube_fake did not start"
    FAKE_URL=https://127.0.0.1:$(cat "$TW_TMP/fake.port")
}

as_kubeconfig() {
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster: {server: "$FAKE_URL", certificate-authority: $TW_TMP/cert.pem}
users:
- name: u
  user: {tokenFile: $TW_TMP/token}
contexts:
- name: fake
  context: {cluster: fake, user: u, namespace: $AS_NS}
EOF
}

# as_config_head KUBECONFIG [QPS]: the first sections of tidewatch.yml for this node: cgroups
# read every second with pod metadata from the fake, and the API through KUBECONFIG (with the
# client's QPS and burst at QPS when given). The caller appends its autoscaling: section.
as_config_head() {
    cat <<EOF
collector:
  interval: 1s
  procfs: {enabled: false}
  cgroup: {enabled: true, root: /sys/fs/cgroup}
  kubernetes:
    pods_url: "$FAKE_URL/api/v1/pods"
    node_name: $AS_NODE
    bearer_token_file: $TW_TMP/token
    ca_file: $TW_TMP/cert.pem
    refresh_interval: 1s
kubernetes:
  kubeconfig: $1
EOF
    if [ -n "${2:-}" ]; then
        printf '  qps: %s\n  burst: %s\n' "$2" "$2"
    fi
}

as_fake() { # METHOD PATH [JSON]
    curl -sf --cacert "$TW_TMP/cert.pem" -X "$1" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$FAKE_URL$2"
}

# as_replicas: the Deployment's spec.replicas (curl and sed only: this runs in polling loops on
# a loaded machine, where starting python takes seconds).
as_replicas() {
    as_fake GET "/_fake/objects/deployments/$AS_NS/web" |
        sed -n 's/.*"spec":{[^}]*"replicas":\([0-9]*\).*/\1/p' | head -n 1
}

# as_put_times [AFTER]: "TIME STATUS" of every PUT of the web scale the fake answered (after
# the epoch time AFTER, default 0).
as_put_times() {
    awk -v after="${1:-0}" '/method=PUT path=\/apis\/apps\/v1\/namespaces\/shop\/deployments\/web\/scale / && $1 > after {
        st = $0; sub(/.*status=/, "", st); print $1, st }' "$TW_TMP/fake.log"
}

as_set_replicas() {
    as_fake PATCH "/_fake/objects/deployments/$AS_NS/web" "{\"spec\":{\"replicas\":$1}}" >/dev/null
}

as_pods() {
    printf '%s\n' "${!AS_UID[@]}" | sort
}

# as_pod_add NAME [START]: the cgroups, then the Running+Ready Pod object (started START, default
# now, Ready since then).
as_pod_add() {
    local name=$1 start=${2:-$(date -u +%Y-%m-%dT%H:%M:%SZ)} h uid cid
    uid=$(cat /proc/sys/kernel/random/uuid)
    cid=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    AS_UID[$name]=$uid
    AS_CID[$name]=$cid
    for h in "${AS_HIER[@]}"; do
        as_mkdir "$h/kubepods/burstable/pod$uid/$cid"
    done
    local q=$AS_CPU_MNT/kubepods/burstable/pod$uid/$cid
    echo 100000 >"$q/cpu.cfs_period_us" && echo $((AS_BURN_MILLI * 100)) >"$q/cpu.cfs_quota_us" ||
        tw_fail "cannot set the CPU quota of $q"
    # The container's idle main process: it joins the cgroups itself, then execs, so the cgroup
    # has used some CPU (the collector, like cAdvisor, writes no usage series for 0 ns).
    local procs=()
    for h in "${AS_HIER[@]}"; do procs+=("$h/kubepods/burstable/pod$uid/$cid/cgroup.procs"); done
    bash -c 'for f in "$@"; do echo $$ >"$f" || exit 1; done; exec sleep 100000' _ "${procs[@]}" &
    AS_MAIN[$name]=$!
    tw_track_pid "${AS_MAIN[$name]}"
    local cond="" t
    for t in Initialized Ready ContainersReady PodScheduled; do
        cond+="${cond:+,}{\"type\":\"$t\",\"status\":\"True\",\"lastProbeTime\":null,\"lastTransitionTime\":\"$start\"}"
    done
    cat >"$TW_TMP/pod.json" <<EOF
{"apiVersion":"v1","kind":"Pod",
 "metadata":{"name":"$name","namespace":"$AS_NS","uid":"$uid","labels":{"app":"web"}},
 "spec":{"nodeName":"$AS_NODE","containers":[{"name":"app","image":"busybox",
   "resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]},
 "status":{"phase":"Running","startTime":"$start","conditions":[$cond],
   "containerStatuses":[{"name":"app","ready":true,"started":true,"restartCount":0,
     "image":"busybox","containerID":"containerd://$cid"}]}}
EOF
    as_fake PUT "/_fake/objects/pods/$AS_NS/$name" "$(cat "$TW_TMP/pod.json")" >/dev/null ||
        tw_fail "cannot create pod $name in the fake"
}

as_pod_del() {
    local name=$1 uid=${AS_UID[$1]} cid=${AS_CID[$1]} h
    as_burn_stop "$name"
    kill -KILL "${AS_MAIN[$name]}" 2>/dev/null
    wait "${AS_MAIN[$name]}" 2>/dev/null
    unset "AS_MAIN[$name]"
    as_fake DELETE "/_fake/objects/pods/$AS_NS/$name" >/dev/null
    for h in "${AS_HIER[@]}"; do
        rmdir "$h/kubepods/burstable/pod$uid/$cid" "$h/kubepods/burstable/pod$uid" 2>/dev/null
    done
    unset "AS_UID[$name]" "AS_CID[$name]"
}

as_burn_start() {
    local name=$1 uid=${AS_UID[$1]} cid=${AS_CID[$1]} h pid
    [ -n "${AS_BURNER[$name]:-}" ] && return 0
    yes >/dev/null &
    pid=$!
    tw_track_pid "$pid"
    for h in "${AS_HIER[@]}"; do
        echo "$pid" >"$h/kubepods/burstable/pod$uid/$cid/cgroup.procs" ||
            tw_fail "cannot move burner $pid into pod $name's cgroup"
    done
    AS_BURNER[$name]=$pid
}

as_burn_stop() {
    local pid=${AS_BURNER[$1]:-}
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "AS_BURNER[$1]"
}
