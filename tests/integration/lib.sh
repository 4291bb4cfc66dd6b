# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# lib.sh - shared helpers for the integration tests in this folder (sourced, never run).
#
# The tests run the built `tidewatch` binary against real peers (Prometheus 2.42, promtool, the
# kernel's cgroupfs) on 127.0.0.1 only. ctest passes TW_BIN (the binary), TW_SRC (source root)
# and TW_BUILD (build dir); run by hand, TW_SRC defaults to this checkout and TW_BIN to
# $TW_BUILD/tidewatch. Exit codes: 0 pass, 77 skip (with the reason printed), anything else fail.
#
# Every process a test starts is recorded by PID with tw_track_pid and stopped by PID (TERM, then
# KILL after 5 s) in the EXIT trap, also on failure; tw_on_exit registers further cleanup
# commands (rmdir of cgroups, ...), run in reverse order. Every wait is bounded.

set -u

TW_SRC=${TW_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TW_BUILD=${TW_BUILD:-$TW_SRC/build}
TW_BIN=${TW_BIN:-$TW_BUILD/tidewatch}

TW_PIDS=()          # processes to stop at exit
TW_CLEANUPS=()      # shell commands to run at exit (after the processes are stopped)
TW_TMP=""           # per-test temp dir, removed at exit unless TW_KEEP_TMP=1
TW_PID=""           # the tidewatch started last by tw_start_tidewatch
TW_PORT=""          # its port (for tests that want it)
export TW_PORT
TW_LOG=""           # its log file (stderr + stdout)

tw_log() {
    printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2
}

# tw_fail MSG: prints MSG (and the tail of the daemon log, if any) and exits 1.
tw_fail() {
    tw_log "FAIL: $*"
    if [ -n "$TW_LOG" ] && [ -f "$TW_LOG" ]; then
        tw_log "last lines of $TW_LOG:"
        tail -n 30 "$TW_LOG" >&2
    fi
    exit 1
}

# tw_skip MSG: says why the test is skipped and exits 77.
tw_skip() {
    tw_log "SKIP: $*"
    exit 77
}

tw_track_pid() {
    TW_PIDS+=("$1")
}

tw_on_exit() {
    TW_CLEANUPS+=("$1")
}

# tw_stop_pid PID [TIMEOUT_S]: TERM, wait up to TIMEOUT_S (5) seconds, then KILL. Returns 0.
tw_stop_pid() {
    local pid=$1 timeout=${2:-5} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    tw_log "pid $pid did not stop within ${timeout}s of SIGTERM: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    return 0
}

tw_cleanup() {
    local rc=$? i pid
    trap - EXIT INT TERM
    for ((i = ${#TW_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${TW_PIDS[$i]}
        tw_stop_pid "$pid" 5
        wait "$pid" 2>/dev/null
    done
    for ((i = ${#TW_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${TW_CLEANUPS[$i]}" || tw_log "cleanup failed: ${TW_CLEANUPS[$i]}"
    done
    if [ -n "$TW_TMP" ] && [ -d "$TW_TMP" ]; then
        if [ "${TW_KEEP_TMP:-0}" = 1 ] || { [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ "${TW_KEEP_TMP_ON_FAIL:-0}" = 1 ]; }; then
            tw_log "kept $TW_TMP"
        else
            rm -rf "$TW_TMP"
        fi
    fi
    exit "$rc"
}

# tw_init: creates $TW_TMP and installs the cleanup trap. Call first in every test.
tw_init() {
    trap tw_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    TW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tw-itest.XXXXXX") || tw_fail "mktemp failed"
}

# tw_require_bin: the daemon binary must exist (a missing build is a failure, not a skip).
tw_require_bin() {
    [ -x "$TW_BIN" ] || tw_fail "tidewatch binary not found or not executable: TW_BIN=$TW_BIN"
}

# tw_require_cmd CMD...: skips when a peer tool is not installed.
tw_require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || tw_skip "$c is not installed (scripts/install-deps.sh)"
    done
}

# tw_free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
tw_free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# tw_http_code URL [CURL_ARGS...]: prints the HTTP status (000 when there is no answer).
tw_http_code() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" 2>/dev/null || true
}

# tw_wait_http URL CODE TIMEOUT_S [PID]: waits until URL answers CODE. Returns 1 on timeout or
# when PID (if given) died meanwhile.
tw_wait_http() {
    local url=$1 want=$2 timeout=$3 pid=${4:-} deadline code
    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            tw_log "process $pid exited while waiting for $url"
            return 1
        fi
        code=$(tw_http_code "$url")
        [ "$code" = "$want" ] && return 0
        sleep 0.2
    done
    tw_log "timeout after ${timeout}s waiting for $url to answer $want (last: $code)"
    return 1
}

# tw_write_config FILE PORT STORAGE [CGROUP_ROOT|-] [PROC_ROOT SYS_ROOT ROOTFS|-] [INTERVAL]
# Writes a tidewatch.yml. CGROUP_ROOT "-" disables the cgroup collector; PROC_ROOT "-" disables
# the procfs collector.
tw_write_config() {
    local file=$1 port=$2 storage=$3 cg=${4:-/sys/fs/cgroup} proc=${5:-/proc}
    local sys=${6:-/sys} rootfs=${7:-/} interval=${8:-1s}
    {
        echo "collector:"
        echo "  interval: $interval"
        echo "  cgroup:"
        if [ "$cg" = - ]; then
            echo "    enabled: false"
        else
            echo "    enabled: true"
            echo "    root: $cg"
        fi
        echo "  procfs:"
        if [ "$proc" = - ]; then
            echo "    enabled: false"
        else
            echo "    enabled: true"
            echo "    proc_root: $proc"
            echo "    sys_root: $sys"
            echo "    rootfs: $rootfs"
        fi
        echo "storage:"
        echo "  path: $storage"
        echo "web:"
        echo "  listen_address: 127.0.0.1:$port"
    } >"$file"
}

# tw_start_tidewatch CONFIG PORT STORAGE [LOGNAME]: starts the daemon in the background of the
# calling shell (so `wait $TW_PID` gives its exit code), records it, and waits (30 s) for
# /-/ready. Sets TW_PID, TW_PORT, TW_LOG. Fails the test when it does not become ready.
tw_start_tidewatch() {
    : >"$TW_TMP/${4:-tidewatch}.log"
    tw_start_tidewatch_args "$1" "$2" "$3" "${4:-tidewatch}"
}

# tw_start_tidewatch_args CONFIG PORT STORAGE LOGNAME [FLAG...]: tw_start_tidewatch with more
# daemon flags (e.g. --web.enable-remote-write-receiver). The log is appended to, so a restart
# with the same LOGNAME keeps the earlier runs' lines.
tw_start_tidewatch_args() {
    local config=$1 port=$2 storage=$3 name=$4
    shift 4
    TW_LOG=$TW_TMP/$name.log
    TW_PORT=$port
    "$TW_BIN" run --config.file "$config" --web.listen-address "127.0.0.1:$port" \
        --storage.tsdb.path "$storage" --log.level debug "$@" >>"$TW_LOG" 2>&1 </dev/null &
    TW_PID=$!
    tw_track_pid "$TW_PID"
    tw_wait_http "http://127.0.0.1:$port/-/ready" 200 30 "$TW_PID" ||
        tw_fail "tidewatch (pid $TW_PID, config $config) did not become ready"
    tw_log "tidewatch pid $TW_PID ready on 127.0.0.1:$port"
}

# tw_scrape PORT OUTFILE [ACCEPT]: GETs /metrics into OUTFILE; prints the Content-Type.
tw_scrape() {
    local port=$1 out=$2 accept=${3:-text/plain;version=0.0.4}
    curl -s --max-time 10 -H "Accept: $accept" -o "$out" -w '%{content_type}' \
        "http://127.0.0.1:$port/metrics" || tw_fail "GET /metrics on port $port failed"
}

# tw_metric_value FILE NAME [LABEL=VALUE...]: prints the value of the first sample of NAME in
# FILE (text format 0.0.4) whose labels include every LABEL=VALUE given (exact match), or
# nothing when there is none.
tw_metric_value() {
    python3 - "$@" <<'EOF'
import re, sys
path, name = sys.argv[1:3]
want = dict(a.split("=", 1) for a in sys.argv[3:])
label_re = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
def unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)
for line in open(path, encoding="utf-8", errors="replace"):
    if line.startswith("#"):
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
    if not m or m.group(1) != name:
        continue
    labels = {k: unescape(v) for k, v in label_re.findall(m.group(2) or "")}
    if all(labels.get(k) == v for k, v in want.items()):
        print(m.group(3))
        break
EOF
}

# tw_metric_count FILE NAME: prints how many samples of NAME FILE (text format) holds.
tw_metric_count() {
    awk -v n="$2" '$0 !~ /^#/ { s = $1; sub(/\{.*/, "", s); if (s == n) c++ } END { print c + 0 }' "$1"
}

# tw_free_port_except PORT...: a free port (as tw_free_port) that is none of the given ones.
tw_free_port_except() {
    local p i
    for ((i = 0; i < 20; i++)); do
        p=$(tw_free_port)
        case " $* " in
        *" $p "*) continue ;;
        esac
        echo "$p"
        return 0
    done
    tw_fail "no free port different from $*"
}

# tw_stop_wait PID [TIMEOUT_S]: stops PID (a child of this shell) as tw_stop_pid does and reaps
# it; sets TW_STOP_RC to its exit status (143 = killed by SIGTERM, 137 = SIGKILL).
TW_STOP_RC=""
tw_stop_wait() {
    local pid=$1 timeout=${2:-5}
    tw_stop_pid "$pid" "$timeout"
    TW_STOP_RC=0
    wait "$pid" 2>/dev/null || TW_STOP_RC=$?
}

# tw_require_tool NAME: prints the path of the helper program $TW_BUILD/tests/NAME (built from
# tests/tools/NAME.c); a missing one is a failure (the build is incomplete), not a skip.
tw_require_tool() {
    local p=$TW_BUILD/tests/$1
    [ -x "$p" ] || tw_fail "helper $1 not built: $p missing (cmake --build ... --target $1)"
    echo "$p"
}

# tw_start_prometheus CONFIG PORT DATA_DIR [LOGNAME] [FLAG...]: starts Prometheus 2.42 on
# 127.0.0.1:PORT with its TSDB in DATA_DIR, records it, and waits (60 s) for /-/ready. Sets
# TW_PROM_PID and TW_PROM_LOG. Fails the test (with the log) when it does not become ready.
TW_PROM_PID=""
TW_PROM_LOG=""
tw_start_prometheus() {
    local config=$1 port=$2 data=$3 name=${4:-prometheus}
    shift 3
    [ $# -gt 0 ] && shift
    TW_PROM_LOG=$TW_TMP/$name.log
    prometheus --config.file="$config" --storage.tsdb.path="$data" \
        --web.listen-address="127.0.0.1:$port" --log.level=info "$@" >>"$TW_PROM_LOG" 2>&1 \
        </dev/null &
    TW_PROM_PID=$!
    tw_track_pid "$TW_PROM_PID"
    tw_wait_http "http://127.0.0.1:$port/-/ready" 200 60 "$TW_PROM_PID" || {
        tail -n 30 "$TW_PROM_LOG" >&2
        tw_fail "Prometheus (pid $TW_PROM_PID, config $config) did not become ready"
    }
    tw_log "prometheus pid $TW_PROM_PID ready on 127.0.0.1:$port"
}

# tw_wait_exit PID TIMEOUT_S: waits (bounded) for PID, a child of this shell, to exit by itself
# and reaps it; sets TW_STOP_RC to its exit status. On timeout it is stopped (tw_stop_wait) and
# the function returns 1.
tw_wait_exit() {
    local pid=$1 timeout=$2 i
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        tw_log "pid $pid still running after ${timeout}s"
        tw_stop_wait "$pid" 5
        return 1
    fi
    TW_STOP_RC=0
    wait "$pid" 2>/dev/null || TW_STOP_RC=$?
    return 0
}

# tw_alertmanager_start BIN PORT WEBHOOK_URL: a real Alertmanager on 127.0.0.1:PORT (no
# cluster, data in $TW_TMP/am-data, log in $TW_TMP/am.log) that sends every alert, grouped by
# alertname with 1 s / 2 s timers and resolved notifications, to WEBHOOK_URL; returns once it is
# ready, fails the test if it does not get there within 30 s.
tw_alertmanager_start() {
    cat >"$TW_TMP/am.yml" <<YAML
route:
  receiver: capture
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: capture
    webhook_configs:
      - url: $3
        send_resolved: true
YAML
    "$1" --config.file="$TW_TMP/am.yml" --storage.path="$TW_TMP/am-data" \
        --web.listen-address=127.0.0.1:"$2" --cluster.listen-address= \
        --web.external-url=http://127.0.0.1:"$2" >"$TW_TMP/am.log" 2>&1 &
    tw_track_pid $!
    tw_wait_http "http://127.0.0.1:$2/-/ready" 200 30 ||
        tw_fail "Alertmanager did not start: $(tail -5 "$TW_TMP/am.log")"
}
