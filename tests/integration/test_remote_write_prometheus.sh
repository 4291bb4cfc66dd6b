#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_remote_write_prometheus.sh - a real Prometheus 2.42 remote-writes to tidewatch; both
# TSDBs must then hold exactly the same samples.
#
# tidewatch runs with --web.enable-remote-write-receiver (no collectors, so its TSDB only gets
# what arrives on /api/v1/write). Prometheus scrapes itself every 1 s (job "prometheus") for
# ~20 s with remote_write pointed at tidewatch, one shard (min_shards = max_shards = 1) so that it
# sends samples in the order of its WAL. Then Prometheus is stopped (SIGTERM, wait: it flushes
# what it can), then tidewatch (SIGTERM, must exit 0), and both TSDBs are dumped with
# `promtool tsdb dump` and `tidewatch tsdb dump` with the same --match='{job="prometheus"}' and
# the same --min-time/--max-time, and the sorted line sets must be EQUAL.
#
# Time range: [first timestamp tidewatch received, last timestamp it received - 1]. Samples
# Prometheus scraped but had not sent yet when it stopped are missing on our side by design,
# hence the upper bound. With one shard everything older than the last timestamp we received
# was sent before it; the scrape AT that last timestamp may have been cut across two requests
# (max_samples_per_send), so for it we only check that our lines are a subset of Prometheus'
# lines and say how many were missing.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd prometheus promtool curl python3

RUN_S=${TW_RW_RUN_S:-20}

port=$(tw_free_port)
pport=$(tw_free_port_except "$port")
tw_write_config "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" - -
tw_start_tidewatch_args "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" tidewatch \
    --web.enable-remote-write-receiver
twpid=$TW_PID

cat >"$TW_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$pport']
remote_write:
  - url: http://127.0.0.1:$port/api/v1/write
    remote_timeout: 5s
    queue_config:
      min_shards: 1
      max_shards: 1
      batch_send_deadline: 1s
      min_backoff: 50ms
      max_backoff: 1s
    metadata_config:
      send_interval: 5s
EOF
tw_start_prometheus "$TW_TMP/prometheus.yml" "$pport" "$TW_TMP/prom"
ppid=$TW_PROM_PID

tw_log "letting Prometheus scrape itself and remote-write to tidewatch for ${RUN_S}s"
sleep "$RUN_S"

# How many requests tidewatch answered, before stopping it (informational, and > 0 required).
curl -s --max-time 5 "http://127.0.0.1:$port/metrics" >"$TW_TMP/tw-metrics.txt"
ok_reqs=$(tw_metric_value "$TW_TMP/tw-metrics.txt" tidewatch_remote_write_requests_total code=204)
tw_log "tidewatch answered ${ok_reqs:-0} remote_write requests with 204"
grep '^tidewatch_remote_write_requests_total' "$TW_TMP/tw-metrics.txt" >&2
grep '^tidewatch_remote_write_requests_rejected_total' "$TW_TMP/tw-metrics.txt" >&2

tw_stop_wait "$ppid" 30
tw_log "prometheus stopped (exit $TW_STOP_RC)"
[ "$TW_STOP_RC" = 0 ] || tw_fail "Prometheus exited $TW_STOP_RC after SIGTERM"
if grep -E 'level=(error|warn)' "$TW_PROM_LOG" | grep -q remote; then
    grep -E 'level=(error|warn)' "$TW_PROM_LOG" | grep remote >&2
    tw_fail "Prometheus logged remote_write errors (above)"
fi
tw_stop_wait "$twpid" 10
[ "$TW_STOP_RC" = 0 ] || tw_fail "tidewatch exited $TW_STOP_RC after SIGTERM, want 0"
tw_log "tidewatch stopped (exit 0)"

MATCH='{job="prometheus"}'
"$TW_BIN" tsdb dump "$TW_TMP/data" --match="$MATCH" >"$TW_TMP/ours-all.txt" 2>"$TW_TMP/dump.err" ||
    tw_fail "tidewatch tsdb dump failed: $(cat "$TW_TMP/dump.err")"
[ -s "$TW_TMP/ours-all.txt" ] || tw_fail "tidewatch received no sample of job=\"prometheus\""
read -r tmin tmax < <(awk '{ t = $NF; if (min == "" || t < min) min = t; if (t > max) max = t }
    END { print min, max }' "$TW_TMP/ours-all.txt")
tw_log "tidewatch holds $(wc -l <"$TW_TMP/ours-all.txt") samples of $MATCH, timestamps $tmin..$tmax"
[ $((tmax - tmin)) -ge $(((RUN_S - 8) * 1000)) ] ||
    tw_fail "only $((tmax - tmin)) ms of data arrived in ${RUN_S}s of remote_write"

# The main comparison: [tmin, tmax - 1] through both tools' own time filters.
lo=$tmin
hi=$((tmax - 1))
tw_log "comparing promtool tsdb dump and tidewatch tsdb dump, --match='$MATCH'" \
    "--min-time=$lo --max-time=$hi"
promtool tsdb dump "$TW_TMP/prom" --match="$MATCH" --min-time="$lo" --max-time="$hi" \
    2>"$TW_TMP/promtool.err" | sort >"$TW_TMP/prom.txt"
[ "${PIPESTATUS[0]}" = 0 ] || tw_fail "promtool tsdb dump failed: $(cat "$TW_TMP/promtool.err")"
"$TW_BIN" tsdb dump "$TW_TMP/data" --match="$MATCH" --min-time="$lo" --max-time="$hi" \
    2>"$TW_TMP/dump.err" | sort >"$TW_TMP/ours.txt"
[ "${PIPESTATUS[0]}" = 0 ] || tw_fail "tidewatch tsdb dump failed: $(cat "$TW_TMP/dump.err")"
[ -s "$TW_TMP/dump.err" ] && tw_fail "tidewatch tsdb dump warned: $(cat "$TW_TMP/dump.err")"

# The last scrape we got (t = tmax): ours must be a subset of Prometheus'.
promtool tsdb dump "$TW_TMP/prom" --match="$MATCH" --min-time="$tmax" --max-time="$tmax" \
    2>/dev/null | sort >"$TW_TMP/prom-last.txt"
"$TW_BIN" tsdb dump "$TW_TMP/data" --match="$MATCH" --min-time="$tmax" --max-time="$tmax" \
    2>/dev/null | sort >"$TW_TMP/ours-last.txt"

# What Prometheus has before our first timestamp (informational: remote_write starts at its WAL
# tail, so normally nothing).
promtool tsdb dump "$TW_TMP/prom" --match="$MATCH" --max-time="$((tmin - 1))" 2>/dev/null |
    wc -l >"$TW_TMP/prom-before.txt"

python3 - "$TW_TMP" <<'EOF'
import collections, re, sys
d = sys.argv[1]
def lines(name):
    return [l.rstrip("\n") for l in open(f"{d}/{name}") if l.strip()]
prom, ours = lines("prom.txt"), lines("ours.txt")
pl, ol = lines("prom-last.txt"), lines("ours-last.txt")
before = int(open(f"{d}/prom-before.txt").read().strip() or 0)
def series(l):
    return l.rsplit(" ", 2)[0]
def name(l):
    m = re.search(r'__name__="([^"]*)"', l)
    return m.group(1) if m else "?"
print(f"range [min,max-1]: promtool {len(prom)} lines / {len(set(map(series, prom)))} series, "
      f"tidewatch {len(ours)} lines / {len(set(map(series, ours)))} series", file=sys.stderr)
print(f"last timestamp: promtool {len(pl)} lines, tidewatch {len(ol)} "
      f"(not yet sent when Prometheus stopped: {len(set(pl) - set(ol))})", file=sys.stderr)
print(f"Prometheus samples before our first timestamp (never sent, informational): {before}",
      file=sys.stderr)
fail = False
if len(prom) != len(set(prom)) or len(ours) != len(set(ours)):
    print("duplicate lines in a dump", file=sys.stderr)
    fail = True
only_p, only_o = sorted(set(prom) - set(ours)), sorted(set(ours) - set(prom))
if only_p or only_o:
    fail = True
    print(f"DIFF: {len(only_p)} lines only in promtool's dump, {len(only_o)} only in ours",
          file=sys.stderr)
    for tag, diff in (("promtool only", only_p), ("tidewatch only", only_o)):
        by = collections.Counter(name(l) for l in diff)
        print(f"  {tag}, by metric: {dict(by.most_common(10))}", file=sys.stderr)
        for l in diff[:15]:
            print(f"  {tag}: {l}", file=sys.stderr)
extra_last = sorted(set(ol) - set(pl))
if extra_last:
    fail = True
    print(f"DIFF at the last timestamp: {len(extra_last)} of our lines are not in Prometheus':",
          file=sys.stderr)
    for l in extra_last[:15]:
        print(f"  tidewatch only: {l}", file=sys.stderr)
if not prom:
    fail = True
    print("promtool's dump of the range is empty", file=sys.stderr)
sys.exit(1 if fail else 0)
EOF
[ $? = 0 ] || tw_fail "the two TSDBs differ (see above; kept with TW_KEEP_TMP_ON_FAIL=1)"
tw_log "PASS: promtool tsdb dump == tidewatch tsdb dump for $MATCH over [$lo, $hi]" \
    "($(wc -l <"$TW_TMP/ours.txt") samples), last scrape a subset"
