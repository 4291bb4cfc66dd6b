#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/run.sh - tidewatch's benchmarks (run by `make bench` as `bash bench/run.sh build-release`).
#
# Usage: bash bench/run.sh [BUILD_DIR]   (default build-release; must hold tidewatch and
#        bench/bench_cgroup_collect, built with -DCMAKE_BUILD_TYPE=Release)
# Env:   BENCH_CONTAINERS (1000), BENCH_RUNS (50), BENCH_RSS_STARTS (3), BENCH_RSS_WAIT_S (15),
#        BENCH_OUT (BUILD_DIR/bench-results.md), BENCH_TREE_DIR (/dev/shm: where generated trees
#        go), BENCH_REAL_CGROUPS (1: as root, also time the real cgroupfs with extra empty groups)
#
# Prints markdown (and writes it to BENCH_OUT): the machine, then
#   1. cgroup collection cost (bench_cgroup_collect) on generated v2 and v1 trees of
#      BENCH_CONTAINERS containers: median CPU ms per collection and per 100 containers, and
#      CPU-seconds per million values, against collectd 5.12's 17.7 (shared/bench/BASELINE.md);
#   2. daemon VmRSS 15 s after /-/ready on the embedded defaults (median of 3 fresh starts),
#      against Prometheus 2.42's 44.3 MiB idle;
#   3. daemon VmRSS and CPU while collecting the generated v2 tree every 1 s.
# Everything runs on 127.0.0.1 with free ports; every process started here is stopped by PID.
set -u

BUILD=${1:-build-release}
SRC=$(cd "$(dirname "$0")/.." && pwd)
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
BIN=$BUILD/tidewatch
cd "$SRC" || exit 1
BENCH=$BUILD/bench/bench_cgroup_collect
CONTAINERS=${BENCH_CONTAINERS:-1000}
RUNS=${BENCH_RUNS:-50}
STARTS=${BENCH_RSS_STARTS:-3}
WAIT_S=${BENCH_RSS_WAIT_S:-15}
OUT=${BENCH_OUT:-$BUILD/bench-results.md}

for f in "$BIN" "$BENCH"; do
    [ -x "$f" ] || {
        echo "bench/run.sh: $f not built (make bench builds $BUILD)" >&2
        exit 1
    }
done

TMP=$(mktemp -d /tmp/tw-bench.XXXXXX)
# The generated trees go to tmpfs when there is one: in memory like cgroupfs, and quick to delete.
TREES=$(mktemp -d "${BENCH_TREE_DIR:-/dev/shm}/tw-bench.XXXXXX" 2>/dev/null) || TREES=$TMP
PIDS=()
real_dirs=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null
            for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$p" 2>/dev/null
        fi
        wait "$p" 2>/dev/null
    done
    for d in "${real_dirs[@]}"; do
        [ -d "$d" ] || continue
        find "$d" -mindepth 1 -maxdepth 1 -type d -exec rmdir {} + 2>/dev/null
        rmdir "$d" 2>/dev/null
    done
    rm -rf "$TMP" "$TREES"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ready PORT PID TIMEOUT_S
wait_ready() {
    local deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        kill -0 "$2" 2>/dev/null || return 1
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/-/ready")" = 200 ] &&
            return 0
        sleep 0.2
    done
    return 1
}

rss_kib() {
    awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
}

# cpu_ticks PID: utime + stime in clock ticks.
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# start_daemon LOG ARGS...: starts tidewatch; sets DPID.
start_daemon() {
    local log=$1
    shift
    "$BIN" run "$@" >"$log" 2>&1 </dev/null &
    DPID=$!
    PIDS+=("$DPID")
}

stop_daemon() {
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

{
    echo "# tidewatch benchmark run"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
        "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
    echo "- revision: $(git -C "$SRC" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
        "$(git -C "$SRC" diff --quiet 2>/dev/null || echo '(with uncommitted changes)')"
    echo "- build: $BUILD ($(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$BUILD/CMakeCache.txt" 2>/dev/null))"
    echo "- command: bash bench/run.sh ${1:-build-release} (BENCH_CONTAINERS=$CONTAINERS" \
        "BENCH_RUNS=$RUNS BENCH_RSS_STARTS=$STARTS BENCH_RSS_WAIT_S=$WAIT_S)"
    echo
    echo "## 1. cgroup collection cost ($CONTAINERS containers, $RUNS collections after 3 warm-up)"
    echo
    "$BENCH" --header
    for layout in v2 v1; do
        "$BENCH" --layout "$layout" --containers "$CONTAINERS" --runs "$RUNS" --dir "$TREES" \
            --label "generated cgroup $layout" 2>"$TMP/bench-$layout.err" || {
            cat "$TMP/bench-$layout.err" >&2
            echo "| generated cgroup $layout | failed: $(tail -n 1 "$TMP/bench-$layout.err") |"
        }
        sed 's/^/    /' "$TMP/bench-$layout.err" >&2
    done
    # The same on the kernel's cgroupfs, where memory.stat and friends are computed on read: the
    # machine's own cgroups plus CONTAINERS empty groups made here (as root, on v1 hierarchies,
    # like the collectd baseline's 5000 empty cpuacct groups).
    real_dirs=()
    if [ "$(id -u)" = 0 ] && [ -d /sys/fs/cgroup/cpuacct ] && [ -d /sys/fs/cgroup/memory ] &&
        [ "${BENCH_REAL_CGROUPS:-1}" = 1 ]; then
        for h in cpu cpuacct memory pids blkio; do
            d=/sys/fs/cgroup/$h/twbench-$$
            [ -d "/sys/fs/cgroup/$h" ] && mkdir "$d" 2>/dev/null && real_dirs+=("$d")
        done
        for d in "${real_dirs[@]}"; do
            for i in $(seq "$CONTAINERS"); do mkdir "$d/c$i" || break; done
        done
    fi
    "$BENCH" --root /sys/fs/cgroup --runs "$RUNS" \
        --label "this machine's /sys/fs/cgroup$([ "${#real_dirs[@]}" -gt 0 ] && echo " + $CONTAINERS empty v1 groups")" \
        2>"$TMP/bench-real.err" || echo "| this machine's /sys/fs/cgroup | failed: $(tail -n 1 "$TMP/bench-real.err") |"
    sed 's/^/    /' "$TMP/bench-real.err" >&2
    for d in "${real_dirs[@]}"; do
        for i in $(seq "$CONTAINERS"); do rmdir "$d/c$i" 2>/dev/null; done
        rmdir "$d" 2>/dev/null || echo "bench/run.sh: could not remove $d" >&2
    done
    echo
    echo "Target: at most 4.4 CPU-s per 1e6 values (a quarter of collectd 5.12's cgroups plugin,"
    echo "17.7 CPU-s per 1e6 values: shared/bench/BASELINE.md)."
    echo
} >"$OUT"
cat "$OUT"

{
    echo "## 2. daemon RSS, embedded defaults, ${WAIT_S} s after /-/ready ($STARTS fresh starts)"
    echo
    rss=()
    for i in $(seq "$STARTS"); do
        port=$(free_port)
        start_daemon "$TMP/idle-$i.log" --web.listen-address "127.0.0.1:$port" \
            --storage.tsdb.path "$TMP/idle-data-$i"
        if ! wait_ready "$port" "$DPID" 60; then
            echo "- start $i: not ready within 60 s (log: $(tail -n 3 "$TMP/idle-$i.log" | tr '\n' ' '))"
            stop_daemon "$DPID"
            continue
        fi
        sleep "$WAIT_S"
        r=$(rss_kib "$DPID")
        rss+=("$r")
        echo "- start $i: VmRSS $r KiB"
        stop_daemon "$DPID"
    done
    if [ "${#rss[@]}" -gt 0 ]; then
        m=$(printf '%s\n' "${rss[@]}" | median)
        echo
        echo "Median idle VmRSS: **$m KiB = $(awk -v k="$m" 'BEGIN { printf "%.1f", k / 1024 }') MiB**;" \
            "target < 10 MiB; Prometheus 2.42 idles at 44.3 MiB (ratio $(awk -v k="$m" 'BEGIN { printf "%.2f", k / 45324 }'))."
    fi
    echo

    echo "## 3. daemon collecting the generated v2 tree ($CONTAINERS containers) every 1 s"
    echo
    tree=$("$BENCH" --layout v2 --containers "$CONTAINERS" --dir "$TREES" --generate-only 2>/dev/null)
    rss=()
    for i in $(seq "$STARTS"); do
        port=$(free_port)
        cat >"$TMP/busy.yml" <<EOF
collector:
  interval: 1s
  cgroup:
    enabled: true
    root: $tree
  procfs:
    enabled: true
    proc_root: /proc
    sys_root: /sys
    rootfs: /
storage:
  path: $TMP/busy-data-$i
web:
  listen_address: 127.0.0.1:$port
EOF
        start_daemon "$TMP/busy-$i.log" --config.file "$TMP/busy.yml" \
            --web.listen-address "127.0.0.1:$port" --storage.tsdb.path "$TMP/busy-data-$i"
        if ! wait_ready "$port" "$DPID" 60; then
            echo "- start $i: not ready within 60 s (log: $(tail -n 3 "$TMP/busy-$i.log" | tr '\n' ' '))"
            stop_daemon "$DPID"
            continue
        fi
        sleep "$WAIT_S"
        t0=$(cpu_ticks "$DPID")
        s0=$(date +%s.%N)
        sleep 20
        t1=$(cpu_ticks "$DPID")
        s1=$(date +%s.%N)
        r=$(rss_kib "$DPID")
        values=$(curl -s --max-time 10 "http://127.0.0.1:$port/metrics" | grep -vc '^#')
        rss+=("$r")
        awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$(getconf CLK_TCK)" \
            -v r="$r" -v n="$values" -v i="$i" 'BEGIN {
                cpu = (t1 - t0) / hz; wall = s1 - s0
                printf "- start %d: VmRSS %d KiB; CPU %.2f s over %.1f s = %.3f cores;", i, r, cpu, wall, cpu / wall
                printf " /metrics has %d samples, so %.2f CPU-s per 1e6 values collected\n", n, cpu / (n * wall) * 1e6
            }'
        stop_daemon "$DPID"
    done
    if [ "${#rss[@]}" -gt 0 ]; then
        m=$(printf '%s\n' "${rss[@]}" | median)
        echo
        echo "Median VmRSS while collecting: **$m KiB = $(awk -v k="$m" 'BEGIN { printf "%.1f", k / 1024 }') MiB**."
    fi
    echo "(CPU per value here is the whole daemon: collection, storage appends, self-metrics; the"
    echo "sample count is one /metrics answer, i.e. the values of one collection.)"
} > >(tee -a "$OUT")
wait $! 2>/dev/null
sleep 0.2
echo
echo "bench/run.sh: results in $OUT" >&2
