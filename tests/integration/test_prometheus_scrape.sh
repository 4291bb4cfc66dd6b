#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_prometheus_scrape.sh - a real Prometheus 2.42 scrapes tidewatch's /metrics.
#
# Starts tidewatch on the machine's /sys/fs/cgroup and /proc, then Prometheus 2.42 on another
# free loopback port with a 1 s scrape of tidewatch. Prometheus 2.42 negotiates OpenMetrics
# (its Accept header prefers application/openmetrics-text), so this exercises our OpenMetrics
# writer against Prometheus' own parser. Asserts, through Prometheus' HTTP API:
#   - up{job="tidewatch"} == 1 and /api/v1/targets shows health "up" with no lastError;
#   - count(container_cpu_usage_seconds_total) > 0 and equals the number of such samples in
#     our own text output (so nothing was dropped or renamed in the OpenMetrics path);
#   - count(node_cpu_seconds_total) == CPUs in /proc/stat x 8 modes (node_exporter's modes),
#     and equals our text output's count.
# And, directly: a request with Prometheus 2.42's Accept header gets an OpenMetrics answer.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd prometheus curl python3

PROM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

port=$(tw_free_port)
tw_write_config "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data"
tw_start_tidewatch "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data"

# Our OpenMetrics answer to exactly what Prometheus sends.
ctype=$(tw_scrape "$port" "$TW_TMP/om.txt" "$PROM_ACCEPT")
case "$ctype" in
application/openmetrics-text*) ;;
*) tw_fail "Accept of Prometheus 2.42 answered with Content-Type '$ctype', want application/openmetrics-text" ;;
esac
[ "$(tail -n 1 "$TW_TMP/om.txt")" = "# EOF" ] || tw_fail "OpenMetrics answer does not end with '# EOF'"

pport=$(tw_free_port)
while [ "$pport" = "$port" ]; do pport=$(tw_free_port); done
cat >"$TW_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tidewatch
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
prometheus --config.file="$TW_TMP/prometheus.yml" --storage.tsdb.path="$TW_TMP/prom" \
    --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$TW_TMP/prometheus.log" 2>&1 \
    </dev/null &
ppid=$!
tw_track_pid "$ppid"
tw_wait_http "http://127.0.0.1:$pport/-/ready" 200 60 "$ppid" || {
    cat "$TW_TMP/prometheus.log" >&2
    tw_fail "Prometheus did not become ready"
}
tw_log "prometheus pid $ppid ready on 127.0.0.1:$pport"

# prom_query EXPR: prints the value of the single-element vector EXPR evaluates to, or "none".
prom_query() {
    curl -s --max-time 5 -G "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    print("none"); sys.exit(0)
r = d.get("data", {}).get("result", []) if d.get("status") == "success" else []
print(r[0]["value"][1] if len(r) == 1 else "none")'
}

deadline=$((SECONDS + 30))
up=none
while ((SECONDS < deadline)); do
    up=$(prom_query 'up{job="tidewatch"}')
    [ "$up" = 1 ] && break
    sleep 0.5
done
[ "$up" = 1 ] || {
    curl -s "http://127.0.0.1:$pport/api/v1/targets" >&2
    tw_fail "up{job=\"tidewatch\"} is '$up' after 30 s, want 1"
}
tw_log "up{job=\"tidewatch\"} = 1"
# Two more scrapes, so the counts below come from a steady state.
sleep 2.5

curl -s --max-time 5 "http://127.0.0.1:$pport/api/v1/targets" >"$TW_TMP/targets.json"
python3 - "$TW_TMP/targets.json" <<'EOF' || tw_fail "/api/v1/targets is not healthy (see above)"
import json, sys
d = json.load(open(sys.argv[1]))
ts = [t for t in d["data"]["activeTargets"] if t["labels"].get("job") == "tidewatch"]
if len(ts) != 1:
    sys.exit("want 1 tidewatch target, got %d: %s" % (len(ts), ts))
t = ts[0]
print("target health=%s lastError=%r lastScrapeDuration=%s" % (t["health"], t["lastError"],
      t.get("lastScrapeDuration")), file=sys.stderr)
if t["health"] != "up" or t["lastError"] != "":
    sys.exit("target not healthy: %s" % t)
EOF

# Samples Prometheus took from the last scrape must be at least what we serve for the two
# families below; compare family counts exactly against our own text output.
deadline=$((SECONDS + 20))
ok=0
while ((SECONDS < deadline)); do
    tw_scrape "$port" "$TW_TMP/text.txt" >/dev/null
    want_ctr=$(tw_metric_count "$TW_TMP/text.txt" container_cpu_usage_seconds_total)
    want_node=$(tw_metric_count "$TW_TMP/text.txt" node_cpu_seconds_total)
    got_ctr=$(prom_query 'count(container_cpu_usage_seconds_total{job="tidewatch"})')
    got_node=$(prom_query 'count(node_cpu_seconds_total{job="tidewatch"})')
    tw_log "container_cpu_usage_seconds_total: prometheus $got_ctr, ours $want_ctr;" \
        "node_cpu_seconds_total: prometheus $got_node, ours $want_node"
    # Containers can come and go between our scrape and Prometheus'; retry until they agree.
    if [ "$got_ctr" = "$want_ctr" ] && [ "$got_node" = "$want_node" ]; then
        ok=1
        break
    fi
    sleep 1
done
[ "$ok" = 1 ] || tw_fail "Prometheus' counts differ from our /metrics output"
[ "$want_ctr" -gt 0 ] || tw_fail "no container_cpu_usage_seconds_total series"

ncpu=$(grep -c '^cpu[0-9]' /proc/stat)
[ "$want_node" -eq $((ncpu * 8)) ] ||
    tw_fail "node_cpu_seconds_total has $want_node series, want $ncpu CPUs x 8 modes = $((ncpu * 8))"

# The root cgroup's CPU counter is in Prometheus with cAdvisor's labels.
v=$(prom_query 'container_cpu_usage_seconds_total{job="tidewatch",id="/",cpu="total"}')
[ "$v" != none ] || tw_fail "container_cpu_usage_seconds_total{id=\"/\",cpu=\"total\"} missing in Prometheus"
tw_log "container_cpu_usage_seconds_total{id=\"/\",cpu=\"total\"} = $v"

scraped=$(prom_query 'scrape_samples_scraped{job="tidewatch"}')
ours=$(grep -vc '^#' "$TW_TMP/text.txt")
tw_log "scrape_samples_scraped = $scraped (our text output has $ours sample lines)"
[ "$scraped" != none ] && [ "${scraped%.*}" -gt 0 ] || tw_fail "scrape_samples_scraped is '$scraped'"

if grep -Eiq 'level=(error|warn)' "$TW_TMP/prometheus.log"; then
    grep -Ei 'level=(error|warn)' "$TW_TMP/prometheus.log" >&2
    tw_fail "Prometheus logged warnings or errors"
fi
tw_log "PASS"
