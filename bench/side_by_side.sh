#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/side_by_side.sh - tidewatch against Prometheus 2.42 with the shared harness, in one run
# on this machine (run by `make bench` after bench/run.sh; the figures of issues 3 and 4).
#
# Usage: bash bench/side_by_side.sh [BUILD_DIR]   (default build-release, a Release build)
# Env:   SHARED (../shared: where bench/ of the shared harness is), BENCH_PHASES (a,b,c,d),
#        BENCH_REPS (2), BENCH_QUIET_MAX_S (120), BENCH_PROMETHEUS (1; 0 skips this script)
#
# The harness (shared/bench/run-prometheus-baseline.sh) is copied to a temporary folder, its
# load tools are built there, and it runs A = /usr/bin/prometheus and B = tidewatch back to back
# in every repetition with BASELINE run R5's parameters (T0=1795663515000, 10k and 100k series,
# SNAPSHOT=prometheus for both, which is tidewatch's /api/v1/admin/tsdb/snapshot too):
#   a  remote_write ingestion: samples/s and CPU-s per 1e6 samples     (issue 3)
#   b  peak and steady RSS per active series                             (issue 3)
#   c  bytes per sample in the snapshot's block, and in the WAL          (issue 3)
#   d  the 10 dashboard queries: latency and answer checksums            (issue 4)
# tidewatch runs with its collectors off (only remote_write data, like Prometheus here) and
# --query.compat=prometheus2 (the data sit on the query grid, where 2 and 3 differ; ingestion
# does not depend on it). Prints the driver's B/A ratio table and whether the answers agreed;
# the whole summary stays in the printed results folder. Ports are free loopback ports.
set -u

BUILD=${1:-build-release}
SRC=$(cd "$(dirname "$0")/.." && pwd)
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
SHARED=${SHARED:-$SRC/../shared}
HARNESS=$SHARED/bench

if [ "${BENCH_PROMETHEUS:-1}" = 0 ]; then
    echo "side_by_side.sh: BENCH_PROMETHEUS=0, skipped"
    exit 0
fi
for need in "$BUILD/tidewatch" /usr/bin/prometheus "$HARNESS/run-prometheus-baseline.sh"; do
    if [ ! -e "$need" ]; then
        echo "side_by_side.sh: $need not found, skipped (make bench builds tidewatch;" \
            "install-deps.sh installs prometheus; the harness is in ../shared/bench)" >&2
        exit 0
    fi
done
command -v node >/dev/null || {
    echo "side_by_side.sh: node not found (the harness' query-bench.js needs it), skipped" >&2
    exit 0
}

WORK=$(mktemp -d /tmp/tw-side-by-side.XXXXXX)
cp -r "$HARNESS"/. "$WORK"/
rm -rf "$WORK/results" "$WORK/bin" "$WORK/build"
make -s -C "$WORK" >"$WORK/make.log" 2>&1 || {
    echo "side_by_side.sh: building the harness' load tools failed:" >&2
    tail -20 "$WORK/make.log" >&2
    exit 1
}
# A copy, so that a rebuild during the run does not change what is measured.
cp "$BUILD/tidewatch" "$WORK/tidewatch"
cat >"$WORK/tw-start.sh" <<EOF
#!/bin/sh
# tw-start.sh PORT DATA CONFIG: the driver's config plus collectors off; exec keeps the PID.
cp "\$3" "\$2.yml"
printf 'collector:\n  cgroup: {enabled: false}\n  procfs: {enabled: false}\n' >>"\$2.yml"
exec "$WORK/tidewatch" run --config.file="\$2.yml" --web.listen-address=127.0.0.1:"\$1" \\
  --storage.tsdb.path="\$2" --web.enable-remote-write-receiver --web.enable-admin-api \\
  --log.level=warn --query.compat=prometheus2
EOF
chmod +x "$WORK/tw-start.sh"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
gen_port=$(free_port)
while [ "$gen_port" = "$port" ]; do gen_port=$(free_port); done

echo "== tidewatch vs Prometheus 2.42, side by side ($("$WORK/tidewatch" version | head -1))"
echo "   harness copy: $WORK; phases ${BENCH_PHASES:-a,b,c,d}, ${BENCH_REPS:-2} repetitions"
(cd "$WORK" && PORT=$port GEN_PORT=$gen_port B_NAME=tidewatch \
    B_TARGET_CMD="$WORK/tw-start.sh {PORT} {DATA} {CONFIG}" B_RW_PATH=/api/v1/write \
    B_READY_PATH=/-/ready B_SNAPSHOT=prometheus T0=1795663515000 \
    PHASES=${BENCH_PHASES:-a,b,c,d} REPS=${BENCH_REPS:-2} QUIET_MAX_S=${BENCH_QUIET_MAX_S:-120} \
    ./run-prometheus-baseline.sh >"$WORK/driver.log" 2>&1)
rc=$?
summary=$(ls -d "$WORK"/results/*/summary.md 2>/dev/null | tail -1)
if [ "$rc" != 0 ] || [ -z "$summary" ]; then
    echo "side_by_side.sh: the harness failed (exit $rc); its log:" >&2
    tail -30 "$WORK/driver.log" >&2
    exit 1
fi
# The ratio table and the checksum verdict; the rest is in the summary.
sed -n '/^## ratios/,/^## commands/p' "$summary" | sed '$d'
echo "summary: $summary"
