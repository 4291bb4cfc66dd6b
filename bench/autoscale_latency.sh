#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/autoscale_latency.sh - how fast the horizontal autoscaler reacts: the time from a CPU load
# step in a pod's cgroup to the scale request (the PUT of the Deployment's scale) arriving at the
# API server, with 1 s collection and sync intervals.
#
# Usage: sudo bash bench/autoscale_latency.sh [BUILD_DIR]   (default build-release; must hold
#        tidewatch and tests/kube_fake)
# Env:   BENCH_RUNS (5), BENCH_WINDOW (3s: autoscaling.resource_window, the CPU rate window)
#
# Setup (tests/integration/autoscale_env.sh): the fake API server (TLS, bearer token) holds
# Deployment shop/web with one pod whose container is a real cgroup v1 (kubepods/burstable/
# pod<uid>/<id>) requesting 100m CPU; tidewatch collects every 1 s, syncs every 1 s and scales on
# cpu at 50 % utilization (min 1, max 3, no scale-down window). Each run: wait until tidewatch has
# brought the Deployment back to 1 replica and the pod is idle, start a burner capped at 150m in
# the cgroup (the load step, time t0), and read the time of the first successful PUT of the
# scale from the fake's request log (each line stamped when the fake wrote it). Prints every
# run and the median, in seconds. The HPA with metrics-server reacts in roughly 30 to 70 s
# (15 s sync, 60 s metrics-server resolution, 15 s kubelet scrape); the goal is under 3 s.
# Needs root and writable cgroup v1 cpu, cpuacct and memory hierarchies (exits 77 otherwise).
set -u

BUILD=${1:-build-release}
SRC=$(cd "$(dirname "$0")/.." && pwd)
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
export TW_SRC=$SRC TW_BUILD=$BUILD TW_BIN=$BUILD/tidewatch
RUNS=${BENCH_RUNS:-5}
WINDOW=${BENCH_WINDOW:-3s}

. "$SRC/tests/integration/lib.sh"
tw_init
tw_require_bin
. "$SRC/tests/integration/autoscale_env.sh"
as_require
as_fake_start
as_kubeconfig "$TW_TMP/kubeconfig"

PORT=$(tw_free_port)
{
    as_config_head "$TW_TMP/kubeconfig"
    cat <<EOF
autoscaling:
  sync_period: 1s
  resource_window: $WINDOW
  driver: {type: kubernetes}
  horizontal:
    - apiVersion: autoscaling/v2
      kind: HorizontalPodAutoscaler
      metadata: {name: web, namespace: $AS_NS}
      spec:
        scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
        minReplicas: 1
        maxReplicas: 3
        metrics:
          - type: Resource
            resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
        behavior:
          scaleDown: {stabilizationWindowSeconds: 0}
EOF
} >"$TW_TMP/tidewatch.yml"
as_pod_add web-1 "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)"
tw_start_tidewatch "$TW_TMP/tidewatch.yml" "$PORT" "$TW_TMP/data"

lat=()
for run in $(seq 1 "$RUNS"); do
    # Idle and back at one replica (the HPA scales down once the rate window has drained).
    deadline=$((SECONDS + 60))
    until [ "$(as_replicas)" = 1 ] && curl -s "http://127.0.0.1:$PORT/api/v1/autoscalers" |
        grep -q '"decisions":\[{"time":"[^"]*","outcome":"unchanged"'; do
        ((SECONDS < deadline)) || tw_fail "run $run: not back at 1 idle replica"
        sleep 0.5
    done
    sleep 2
    t0=$EPOCHREALTIME
    as_burn_start web-1
    deadline=$((SECONDS + 60))
    t=""
    while ((SECONDS < deadline)); do
        t=$(as_put_times "$t0" | awk '$2 == 200 { print $1; exit }')
        [ -n "$t" ] && break
        sleep 0.2
    done
    as_burn_stop web-1
    [ -n "$t" ] || tw_fail "run $run: no scale request within 60 s"
    l=$(awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.2f", b - a }')
    lat+=("$l")
    tw_log "run $run: load step -> scale request $l s"
done
med=$(printf '%s\n' "${lat[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "autoscale latency (load step -> scale request; collection 1s, sync 1s, rate window $WINDOW):"
echo "  runs: ${lat[*]} s"
echo "  median: $med s over $RUNS runs (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
