#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_promql_compliance.sh - the PromQL compliance suite (prometheus/compliance, promql/: 539
# range queries, ../shared/conformance/promql-compliance/) against a real Prometheus 2.42 as the
# reference and tidewatch in prometheus2 compat mode as the system under test.
#
# Both get the same input through remote_write: tests/tools/demo_gen writes the series of three
# julius/prometheus-demo-service targets (instance demo.promlabs.com:10000..10002, job "demo",
# 5 s scrapes with explicit timestamps, stale markers, counter resets: see demo_gen.c) for the
# 90 minutes before "now - 30 s" to Prometheus (--web.enable-remote-write-receiver, a temp data
# dir, no scrape jobs) and to tidewatch (--web.enable-remote-write-receiver, no collectors,
# query.compat: prometheus2). Once both hold every sample (the instant query {job="demo"}[2h]
# at the last sample counts as many samples as demo_gen wrote, and both answers are the same byte
# for byte), tests/integration/promql_compare.py runs all queries as the tester does: range
# [end - 10m, end] with step 10 s, where end is ~10 min before the last sample and deliberately
# not aligned to the step or to the scrapes (see below), tolerance 1e-5 relative, and prints
# every differing case with both answers and a summary. Passes when nothing differs and
# Prometheus returned non-empty results for at least 85 % of the cases.
#
# Environment: TW_COMPLIANCE_SUITE (the query list's folder), TW_COMPLIANCE_ONLY=n,n,... (only
# those cases), TW_COMPLIANCE_PARALLEL (4), TW_COMPLIANCE_DATA_END_MS (the data's end instead of
# now - 30 s, to repeat a run: the log prints it), TW_COMPLIANCE_OUT (a copy of the report);
# with TW_KEEP_TMP_ON_FAIL=1 the raw answers of failing cases stay in $TW_TMP/failed/.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd prometheus curl python3
gen=$(tw_require_tool demo_gen)

SUITE=${TW_COMPLIANCE_SUITE:-$TW_SRC/../shared/conformance/promql-compliance}
[ -f "$SUITE/expanded-queries.tsv" ] || tw_skip "compliance query list not found ($SUITE)"

port=$(tw_free_port)
pport=$(tw_free_port_except "$port")

tw_write_config "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" - -
printf 'query:\n  compat: prometheus2\n' >>"$TW_TMP/tidewatch.yml"
extra=()
# The flag is the documented way; the config key does the same for builds without the flag.
"$TW_BIN" run --help 2>&1 | grep -q -- '--query.compat' && extra+=(--query.compat=prometheus2)
tw_start_tidewatch_args "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" tidewatch \
    --web.enable-remote-write-receiver "${extra[@]}"
twpid=$TW_PID

cat >"$TW_TMP/prometheus.yml" <<'YML'
global:
  scrape_interval: 5s
  evaluation_interval: 5s
YML
tw_start_prometheus "$TW_TMP/prometheus.yml" "$pport" "$TW_TMP/prom" prometheus \
    --web.enable-remote-write-receiver

data_end=${TW_COMPLIANCE_DATA_END_MS:-$(($(date +%s%3N) - 30000))}
tw_log "writing 90 min of demo data ending at $data_end to both"
"$gen" --url "http://127.0.0.1:$pport/api/v1/write" --url "http://127.0.0.1:$port/api/v1/write" \
    --end-ms "$data_end" --duration-s 5400 --seed 42 >"$TW_TMP/gen.out" 2>&1 ||
    { cat "$TW_TMP/gen.out" >&2; tw_fail "demo_gen failed"; }
cat "$TW_TMP/gen.out" >&2
samples=$(sed -n 's/^demo_gen: \([0-9]*\) samples (\([0-9]*\) stale.*/\1 \2/p' "$TW_TMP/gen.out")
read -r total stale <<<"$samples"
want=$((total - stale))

# Both receivers append before answering; still, wait (bounded) until both hold every sample,
# and check that their raw data (an instant query of {job="demo"}[2h] at the last sample) is the
# same answer byte for byte.
fmt() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
raw_q() {
    curl -s --max-time 30 "http://127.0.0.1:$1/api/v1/query" -o "$2" \
        --data-urlencode 'query={job="demo"}[2h]' --data-urlencode "time=$(fmt "$data_end")"
}
count_raw() {
    python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
ok = d.get("status") == "success"
print(sum(len(s["values"]) for s in d["data"]["result"]) if ok else "error")' "$1" 2>/dev/null
}
deadline=$((SECONDS + 60))
while :; do
    raw_q "$pport" "$TW_TMP/raw-prom.json"
    raw_q "$port" "$TW_TMP/raw-tw.json"
    pc=$(count_raw "$TW_TMP/raw-prom.json")
    tc=$(count_raw "$TW_TMP/raw-tw.json")
    [ "$pc" = "$want" ] && [ "$tc" = "$want" ] && break
    ((SECONDS < deadline)) ||
        tw_fail "ingestion: prometheus holds $pc samples, tidewatch $tc, want $want"
    sleep 1
done
cmp -s "$TW_TMP/raw-prom.json" "$TW_TMP/raw-tw.json" ||
    tw_fail "the raw data differs: $TW_TMP/raw-prom.json vs $TW_TMP/raw-tw.json"
tw_log "both hold $want samples (+$stale stale markers)"

# The tester's window: end about 10 min before the newest sample (so offset -10m still has data),
# range 10 min, step 10 s. end is aligned neither to the step nor to the scrapes: it lies ~0.5 s
# after the scrapes of :10000 (demo_gen scrapes target i at 1117*(i+1) ms past each 5 s mark, plus
# up to 6 ms), so the [1s] windows hold one sample of :10000 and none of the others.
base=$((data_end - 600000))
end_ms=$((base - ((base - 1617) % 5000)))
start_ms=$((end_ms - 600000))
tw_log "queries: start=$(fmt $start_ms) end=$(fmt $end_ms) step=10"
only=()
[ -n "${TW_COMPLIANCE_ONLY:-}" ] && only=(--only "$TW_COMPLIANCE_ONLY")
python3 "$TW_SRC/tests/integration/promql_compare.py" \
    --ref "http://127.0.0.1:$pport" --test "http://127.0.0.1:$port" \
    --queries "$SUITE/expanded-queries.tsv" --start "$(fmt $start_ms)" --end "$(fmt $end_ms)" \
    --step 10 --parallel "${TW_COMPLIANCE_PARALLEL:-4}" --dump "$TW_TMP/failed" "${only[@]}" \
    >"$TW_TMP/compare.out" 2>&1
rc=$?
cat "$TW_TMP/compare.out"
[ -n "${TW_COMPLIANCE_OUT:-}" ] && cp "$TW_TMP/compare.out" "$TW_COMPLIANCE_OUT"
# A crash (e.g. a sanitizer report) shows as failures of every later query: say so, with the log.
kill -0 "$twpid" 2>/dev/null || tw_fail "tidewatch (pid $twpid) died while answering the queries"
[ "$rc" = 0 ] || TW_LOG="" tw_fail "tidewatch's answers differ from Prometheus 2.42 (above)"
tw_log "PASS"
