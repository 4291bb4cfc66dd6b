#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_promtool_check_metrics.sh - `promtool check metrics` (2.42) lints our /metrics text output.
#
# tidewatch runs once on the machine's /sys/fs/cgroup and /proc, and once per fixture tree under
# tests/fixtures/cgroup/ (v1, v2, k8s-*, ...) with the procfs fixture tree when there is one.
# Each /metrics answer (text 0.0.4) goes through promtool. A parse error always fails. A lint
# finding fails unless its metric and finding are in the allow-list of inherited naming exceptions (names
# users know from cAdvisor and node_exporter that break today's lint, e.g. a counter without
# _total): the section of docs/metrics/container.md and docs/metrics/node.md whose heading
# contains "Exceptions", a markdown table whose first column is the metric name in backticks and
# whose second column is the finding promtool prints (a row allows only that finding):
#
#   ## Exceptions to Prometheus naming lint
#   | metric | promtool says | why we keep it |
#   | --- | --- | --- |
#   | `container_tasks_state` | no help text | cAdvisor's name |
#   | `node_memory_*` | metric names should be written in 'snake_case' | /proc/meminfo's fields |
#
# A name may hold `*` (a shell glob), for families named after kernel fields.
# The list is read from the docs, so docs and test cannot drift. Each finding is printed with
# whether it was allowed; an allow-list entry that no run needed is reported (not failed).
# The OpenMetrics rendering of each run must pass `tidewatch check metrics --format openmetrics`
# (our strict parser), with cAdvisor's counter without _total typed unknown.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd promtool curl python3

fixtures=$TW_SRC/tests/fixtures

# The allow-list: metric names from the Exceptions tables of the metric docs.
allow=$TW_TMP/allow.txt
python3 - "$TW_SRC/docs/metrics/container.md" "$TW_SRC/docs/metrics/node.md" >"$allow" <<'EOF'
import re, sys
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        print("allow-list: cannot read %s: %s" % (path, e), file=sys.stderr)
        continue
    in_exc = False
    in_code = False
    level = 0
    n = 0
    for line in lines:
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        h = re.match(r"(#+)\s+(.*)", line)
        if h:
            if in_exc and len(h.group(1)) <= level:
                in_exc = False
            if "exception" in h.group(2).lower():
                in_exc, level = True, len(h.group(1))
            continue
        if in_exc and line.lstrip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            m = re.fullmatch(r"`([a-zA-Z_:*][a-zA-Z0-9_:*]*)`", cells[0]) if cells else None
            if m and len(cells) > 1 and cells[1]:
                # "<name or glob>\t<the finding promtool prints>"
                print("%s\t%s" % (m.group(1), cells[1]))
                n += 1
    print("allow-list: %d names from %s" % (n, path), file=sys.stderr)
EOF
tw_log "allow-list: $(cut -f1 "$allow" | sort -u | tr '\n' ' ')"

# allowed_by METRIC FINDING: prints the allow-list entry (name or glob) that covers METRIC with
# that FINDING, if any. An entry allows only the finding its table row names.
allowed_by() {
    local p f
    while IFS=$'\t' read -r p f; do
        # shellcheck disable=SC2053 # $p is a glob on purpose
        if [[ $1 == $p && $2 == *"$f"* ]]; then
            echo "$p"
            return
        fi
    done <"$allow"
}

# cgroup_root DIR: the cgroup mount root inside a fixture (DIR itself, or DIR/sys/fs/cgroup).
cgroup_root() {
    if [ -d "$1/sys/fs/cgroup" ]; then
        echo "$1/sys/fs/cgroup"
    else
        echo "$1"
    fi
}

runs=()         # "name|cgroup_root|proc_root|sys_root"
runs+=("host|/sys/fs/cgroup|/proc|/sys")
proc_fx=-
sys_fx=/sys
if [ -d "$fixtures/procfs/proc" ]; then
    proc_fx=$fixtures/procfs/proc
    [ -d "$fixtures/procfs/sys" ] && sys_fx=$fixtures/procfs/sys
fi
if [ -d "$fixtures/cgroup" ]; then
    for d in "$fixtures"/cgroup/*/; do
        d=${d%/}
        [ -d "$d" ] || continue
        runs+=("cgroup/$(basename "$d")|$(cgroup_root "$d")|$proc_fx|$sys_fx")
    done
fi
if [ "$proc_fx" != - ]; then
    runs+=("procfs|-|$proc_fx|$sys_fx")
fi
tw_log "${#runs[@]} runs: $(printf '%s ' "${runs[@]%%|*}")"

failures=0
used=$TW_TMP/used.txt
: >"$used"
for run in "${runs[@]}"; do
    IFS='|' read -r name cg proc sys <<<"$run"
    port=$(tw_free_port)
    safe=${name//\//_}
    data=$TW_TMP/data-$safe
    rootfs=/
    [ "$proc" = - ] || [ "$proc" = /proc ] || rootfs=$(dirname "$proc")
    tw_write_config "$TW_TMP/$safe.yml" "$port" "$data" "$cg" "$proc" "$sys" "$rootfs" 1s
    tw_start_tidewatch "$TW_TMP/$safe.yml" "$port" "$data" "tidewatch-$safe"
    out=$TW_TMP/metrics-$safe.txt
    ctype=$(tw_scrape "$port" "$out" 'text/plain;version=0.0.4')
    case "$ctype" in
    text/plain*version=0.0.4*) ;;
    *) tw_fail "[$name] text Accept answered with Content-Type '$ctype'" ;;
    esac
    nsamples=$(grep -vc '^#' "$out")
    [ "$nsamples" -gt 0 ] || tw_fail "[$name] /metrics has no samples"
    if [ "$cg" != - ]; then
        n=$(tw_metric_count "$out" container_cpu_usage_seconds_total)
        [ "$n" -gt 0 ] || tw_fail "[$name] no container_cpu_usage_seconds_total on cgroup root $cg"
    fi
    if [ "$proc" != - ]; then
        n=$(tw_metric_count "$out" node_cpu_seconds_total)
        [ "$n" -gt 0 ] || tw_fail "[$name] no node_cpu_seconds_total on proc root $proc"
    fi

    # The OpenMetrics rendering of the same collection must pass our strict OpenMetrics parser,
    # and a cAdvisor counter without _total keeps its name, typed unknown.
    om=$TW_TMP/metrics-$safe.om.txt
    ctype=$(tw_scrape "$port" "$om" 'application/openmetrics-text;version=1.0.0')
    case "$ctype" in
    application/openmetrics-text*version=1.0.0*) ;;
    *) tw_fail "[$name] OpenMetrics Accept answered with Content-Type '$ctype'" ;;
    esac
    if ! "$TW_BIN" check metrics --format openmetrics <"$om" >/dev/null 2>"$TW_TMP/om-$safe.err"; then
        cat "$TW_TMP/om-$safe.err" >&2
        tw_log "[$name] our strict OpenMetrics parser rejects our OpenMetrics output"
        failures=$((failures + 1))
    fi
    if grep -q '^container_memory_failcnt{' "$om" &&
        ! grep -qx '# TYPE container_memory_failcnt unknown' "$om"; then
        tw_log "[$name] container_memory_failcnt is not typed unknown in OpenMetrics"
        failures=$((failures + 1))
    fi

    promtool check metrics <"$out" >"$TW_TMP/lint-$safe.txt" 2>&1
    rc=$?
    tw_log "[$name] $nsamples samples; promtool exit $rc"
    if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
        cat "$TW_TMP/lint-$safe.txt" >&2
        tw_log "[$name] promtool could not parse our output (exit $rc)"
        failures=$((failures + 1))
    elif grep -q 'error while linting' "$TW_TMP/lint-$safe.txt"; then
        cat "$TW_TMP/lint-$safe.txt" >&2
        failures=$((failures + 1))
    else
        while IFS= read -r finding; do
            [ -n "$finding" ] || continue
            metric=${finding%% *}
            pattern=$(allowed_by "$metric" "${finding#* }")
            if [ -n "$pattern" ]; then
                echo "$pattern" >>"$used"
                tw_log "[$name] allowed:     $finding"
            else
                tw_log "[$name] NOT ALLOWED: $finding"
                failures=$((failures + 1))
            fi
        done <"$TW_TMP/lint-$safe.txt"
    fi
    tw_stop_pid "$TW_PID" 5
    wait "$TW_PID" 2>/dev/null
    # shellcheck disable=SC2034 # read by tw_fail in lib.sh
    TW_LOG=""
done

cut -f1 "$allow" | sort -u | while IFS= read -r m; do
    grep -qxF "$m" "$used" || tw_log "note: allow-list entry $m was not needed by any run"
done
[ "$failures" = 0 ] || tw_fail "$failures promtool findings not in the docs' Exceptions tables"
tw_log "PASS"
