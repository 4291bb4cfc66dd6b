#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_cgroup_burn.sh - a real workload in a real cgroup, measured by tidewatch.
#
# Needs root (it creates cgroups). For cgroup v1 (every hierarchy among cpu, cpuacct, memory and
# pids that is mounted) and for cgroup v2 (only when the v2 root's cgroup.controllers lists cpu
# and memory; otherwise that part is skipped with the reason), it:
#   1. creates the cgroup /twtest-<pid>-<v1|v2>,
#   2. starts burner.c (compiled here with cc), moves it into the cgroup, then lets it go: it
#      burns 2 s of CPU, touches 64 MiB and keeps it, and reports its own getrusage user+sys,
#   3. with tidewatch collecting every 1 s, waits for a collection after the burn (two scrapes
#      1.2 s apart that agree), then asserts on /metrics:
#        container_cpu_usage_seconds_total{id="/<cg>",cpu="total"} within 10 % of the rusage
#          figure, and equal (0.1 %) to the kernel's own counter read at the same time;
#        container_memory_working_set_bytes{id="/<cg>"} >= 64 MiB, <= 64 MiB + 16 MiB, and equal
#          (1 %) to cAdvisor's formula over the kernel's files (usage - inactive_file).
# The burner is killed and the cgroups removed in the EXIT trap, also on failure.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd cc curl python3

[ "$(id -u)" = 0 ] || tw_skip "needs root to create cgroups (running as uid $(id -u))"

CG_ROOT=${TW_CGROUP_ROOT:-/sys/fs/cgroup}
MIB=64
BURN_MS=2000

cc -O1 -o "$TW_TMP/burner" "$TW_SRC/tests/integration/burner.c" || tw_fail "cannot compile burner.c"

# v1 hierarchies we use: the mount point of each wanted controller (cpu and cpuacct may share
# one mount, "cpu,cpuacct").
declare -A V1
while read -r _ mnt fstype opts _; do
    [ "$fstype" = cgroup ] || continue
    IFS=, read -ra o <<<"$opts"
    for c in "${o[@]}"; do
        case "$c" in
        cpu | cpuacct | memory | pids) V1[$c]=$mnt ;;
        esac
    done
done </proc/mounts

V2=""
if [ -f "$CG_ROOT/cgroup.controllers" ]; then
    V2=$CG_ROOT
elif [ -f "$CG_ROOT/unified/cgroup.controllers" ]; then
    V2=$CG_ROOT/unified
fi

ran=0
port=$(tw_free_port)
tw_write_config "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" "$CG_ROOT" - /sys / 1s
started=0

# run_case NAME DIR...: DIR are the cgroup directories (one per hierarchy) to create; the first
# one's files are the kernel's reference figures (read by kernel_cpu / kernel_ws below).
run_case() {
    local name=$1 version=$2
    shift 2
    local dirs=("$@") d
    local cg=/twtest-$$-$version

    for d in "${dirs[@]}"; do
        mkdir "$d" || tw_fail "[$name] mkdir $d"
        tw_on_exit "rmdir '$d' 2>/dev/null || { sleep 0.5; rmdir '$d'; }"
    done

    if [ "$started" = 0 ]; then
        tw_start_tidewatch "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data"
        started=1
    fi

    local fifo=$TW_TMP/go-$version out=$TW_TMP/rusage-$version
    mkfifo "$fifo"
    "$TW_TMP/burner" "$BURN_MS" "$MIB" "$out" <"$fifo" &
    local bpid=$!
    tw_track_pid "$bpid"
    exec 3>"$fifo"
    for d in "${dirs[@]}"; do
        echo "$bpid" >"$d/cgroup.procs" || tw_fail "[$name] cannot move $bpid into $d"
    done
    echo go >&3
    exec 3>&-

    local deadline=$((SECONDS + 40))
    while [ ! -s "$out" ] && ((SECONDS < deadline)); do
        kill -0 "$bpid" 2>/dev/null || tw_fail "[$name] burner exited early"
        sleep 0.2
    done
    [ -s "$out" ] || tw_fail "[$name] burner did not report within 40 s"
    local rusage
    rusage=$(cat "$out")
    tw_log "[$name] burner pid $bpid in $cg: getrusage user+sys = $rusage s"

    # Two collections after the burn; then two scrapes 1.2 s apart that agree.
    sleep 2.5
    local m1=$TW_TMP/m1-$version.txt m2=$TW_TMP/m2-$version.txt c1 c2 w1 w2 kcpu kws ok=0
    deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        tw_scrape "$port" "$m1" >/dev/null
        sleep 1.2
        kcpu=$(kernel_cpu "$version" "${dirs[@]}")
        kws=$(kernel_ws "$version" "${dirs[@]}")
        tw_scrape "$port" "$m2" >/dev/null
        c1=$(tw_metric_value "$m1" container_cpu_usage_seconds_total id="$cg" cpu=total)
        c2=$(tw_metric_value "$m2" container_cpu_usage_seconds_total id="$cg" cpu=total)
        w1=$(tw_metric_value "$m1" container_memory_working_set_bytes id="$cg")
        w2=$(tw_metric_value "$m2" container_memory_working_set_bytes id="$cg")
        tw_log "[$name] cpu $c1 -> $c2 (kernel $kcpu); working set $w1 -> $w2 (kernel $kws)"
        if [ -n "$c2" ] && [ "$c1" = "$c2" ] && [ -n "$w2" ]; then
            ok=1
            break
        fi
    done
    [ "$ok" = 1 ] || {
        grep -F "id=\"$cg\"" "$m2" | head -n 20 >&2
        tw_fail "[$name] no steady container_cpu_usage_seconds_total{id=\"$cg\",cpu=\"total\"}" \
            "and container_memory_working_set_bytes{id=\"$cg\"} on /metrics"
    }

    python3 - "$name" "$c2" "$rusage" "$kcpu" "$w2" "$kws" "$MIB" <<'EOF' || tw_fail "[$name] wrong figures"
import sys
name, cpu, rus, kcpu, ws, kws, mib = sys.argv[1:8]
cpu, rus, kcpu, ws, kws, mib = float(cpu), float(rus), float(kcpu), float(ws), float(kws), int(mib)
bad = []
if abs(cpu - rus) > 0.10 * rus:
    bad.append("cpu %.6f s vs getrusage %.6f s: off by %.1f%% (> 10%%)" % (cpu, rus, 100 * abs(cpu - rus) / rus))
if abs(cpu - kcpu) > 0.001 * kcpu:
    bad.append("cpu %.9f s vs the kernel's %.9f s (> 0.1%%)" % (cpu, kcpu))
lo, hi = mib << 20, (mib + 16) << 20
if not lo <= ws <= hi:
    bad.append("working set %d B not in [%d, %d]" % (ws, lo, hi))
if abs(ws - kws) > 0.01 * kws:
    bad.append("working set %d B vs kernel usage-inactive_file %d B (> 1%%)" % (ws, kws))
for b in bad:
    print("[%s] FAIL: %s" % (name, b), file=sys.stderr)
if not bad:
    print("[%s] ok: cpu %.4f s (rusage %.4f s, %+.2f%%), working set %.1f MiB"
          % (name, cpu, rus, 100 * (cpu - rus) / rus, ws / 1048576), file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
    tw_stop_pid "$bpid" 5
    wait "$bpid" 2>/dev/null
    ran=$((ran + 1))
}

# kernel_cpu VERSION DIR...: the cgroup's CPU seconds as the kernel counts them.
kernel_cpu() {
    local version=$1 d
    shift
    if [ "$version" = v2 ]; then
        awk '$1 == "usage_usec" { printf "%.6f\n", $2 / 1e6 }' "$1/cpu.stat"
        return
    fi
    for d in "$@"; do
        if [ -f "$d/cpuacct.usage" ]; then
            awk '{ printf "%.9f\n", $1 / 1e9 }' "$d/cpuacct.usage"
            return
        fi
    done
}

# kernel_ws VERSION DIR...: cAdvisor's working set: usage minus inactive file pages.
kernel_ws() {
    local version=$1 d
    shift
    if [ "$version" = v2 ]; then
        local cur inact
        cur=$(cat "$1/memory.current")
        inact=$(awk '$1 == "inactive_file" { print $2 }' "$1/memory.stat")
        echo $((cur > inact ? cur - inact : 0))
        return
    fi
    for d in "$@"; do
        if [ -f "$d/memory.usage_in_bytes" ]; then
            local use inact
            use=$(cat "$d/memory.usage_in_bytes")
            inact=$(awk '$1 == "total_inactive_file" { print $2 }' "$d/memory.stat")
            echo $((use > inact ? use - inact : 0))
            return
        fi
    done
}

# cgroup v1
if [ -n "${V1[cpuacct]:-}" ] && [ -n "${V1[memory]:-}" ]; then
    declare -A seen
    v1dirs=()
    for c in cpuacct cpu memory pids; do
        mnt=${V1[$c]:-}
        [ -n "$mnt" ] || continue
        [ -n "${seen[$mnt]:-}" ] && continue
        seen[$mnt]=1
        v1dirs+=("$mnt/twtest-$$-v1")
    done
    tw_log "cgroup v1: hierarchies ${v1dirs[*]%/*}"
    run_case "cgroup v1" v1 "${v1dirs[@]}"
else
    tw_log "cgroup v1 part skipped: no cpuacct and memory v1 hierarchies mounted"
fi

# cgroup v2
if [ -z "$V2" ]; then
    tw_log "cgroup v2 part skipped: no cgroup2 mount at $CG_ROOT or $CG_ROOT/unified"
elif ! grep -qw cpu "$V2/cgroup.controllers" || ! grep -qw memory "$V2/cgroup.controllers"; then
    tw_log "cgroup v2 part skipped: $V2/cgroup.controllers lists '$(cat "$V2/cgroup.controllers")'," \
        "not cpu and memory (the controllers are bound to v1 hierarchies)"
elif [ "$V2" != "$CG_ROOT" ]; then
    tw_log "cgroup v2 part skipped: hybrid layout ($V2); the collector reads v1 there"
else
    # Children of the root only get the controllers the root delegates.
    if ! grep -qw cpu "$V2/cgroup.subtree_control" || ! grep -qw memory "$V2/cgroup.subtree_control"; then
        echo "+cpu +memory" >"$V2/cgroup.subtree_control" ||
            tw_fail "cannot enable cpu and memory in $V2/cgroup.subtree_control"
    fi
    run_case "cgroup v2" v2 "$V2/twtest-$$-v2"
fi

[ "$ran" -gt 0 ] || tw_skip "neither a cgroup v1 (cpuacct+memory) nor a usable cgroup v2 hierarchy"
tw_log "PASS ($ran cases)"
