#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_api_byte_compat.sh - tidewatch's HTTP query API (query.compat: prometheus2) must answer
# like Prometheus 2.42: for every request below, the same HTTP status and the same JSON body after
# normalisation (keys sorted, whitespace dropped: python3 json.dumps(sort_keys=True); arrays keep
# their order, so series and label order count), errors included.
#
# Both servers get the same 30 minutes of demo-service data through remote_write
# (tests/tools/demo_gen, the input of test_promql_compliance.sh). The requests cover instant and
# range queries of every result type (vector, matrix, scalar, string), GET and POST forms, times
# as decimal seconds and RFC 3339, steps as seconds and durations, NaN and infinities, the series,
# labels and label-values endpoints with and without match[] and time bounds, and error answers:
# a parse error, a missing query, bad and zero and negative steps, too many points per series,
# end before start, a bad time, an execution error, a bad match[] and a bad label name.
#
# One normalisation more: Prometheus 2.42 returns histogram_quantile()'s series in Go map order
# (funcHistogramQuantile ranges over signatureToMetricWithBuckets), which changes from run to
# run, so for the requests in UNORDERED both result arrays are sorted by their labels first.
# Intentional differences: none. Requests whose answers Prometheus itself does not fix (stats
# with timings, anything without an explicit time, which would use "now") are not in the list.
# Run by hand with TW_API_ONLY=name,... to run a subset; each failing request prints both bodies.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd prometheus curl python3
gen=$(tw_require_tool demo_gen)

port=$(tw_free_port)
pport=$(tw_free_port_except "$port")
tw_write_config "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" - -
printf 'query:\n  compat: prometheus2\n' >>"$TW_TMP/tidewatch.yml"
extra=()
"$TW_BIN" run --help 2>&1 | grep -q -- '--query.compat' && extra+=(--query.compat=prometheus2)
tw_start_tidewatch_args "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" tidewatch \
    --web.enable-remote-write-receiver "${extra[@]}"
printf 'global:\n  scrape_interval: 5s\n' >"$TW_TMP/prometheus.yml"
tw_start_prometheus "$TW_TMP/prometheus.yml" "$pport" "$TW_TMP/prom" prometheus \
    --web.enable-remote-write-receiver

data_end=$(($(date +%s%3N) - 30000))
"$gen" --url "http://127.0.0.1:$pport/api/v1/write" --url "http://127.0.0.1:$port/api/v1/write" \
    --end-ms "$data_end" --duration-s 1800 --seed 7 >"$TW_TMP/gen.out" 2>&1 ||
    { cat "$TW_TMP/gen.out" >&2; tw_fail "demo_gen failed"; }
cat "$TW_TMP/gen.out" >&2

# Times inside the data: T is 5 min before the last sample, with milliseconds; TS is the same
# minute as whole seconds; T0 20 minutes earlier; TR/TR0 the same as RFC 3339.
sec() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
T=$(sec $((data_end - 300000 - 1234)))
TS=$(((data_end - 300000) / 1000))
T0=$(sec $((data_end - 1500000 - 1234)))
TR=$(date -u -d "@$TS" +%Y-%m-%dT%H:%M:%SZ)
TR0=$(date -u -d "@$((TS - 1200))" +%Y-%m-%dT%H:%M:%S.123Z)
# An odd UTC minute (demo_intermittent_metric absent, stale since its first scrape): 90 s after
# the start of the odd minute before T.
odd=$(((TS / 60 - (TS / 60 % 2 == 0 ? 1 : 2)) * 60 + 90))

# name <TAB> method <TAB> path <TAB> param... (each param as name=value, sent url-encoded)
cat >"$TW_TMP/requests.tsv" <<TSV
inst_vector	GET	/api/v1/query	query=demo_num_cpus	time=$T
inst_vector_post	POST	/api/v1/query	query=demo_memory_usage_bytes{type="free"}	time=$T
inst_rate	GET	/api/v1/query	query=sum by(instance, mode) (rate(demo_cpu_usage_seconds_total[5m]))	time=$T
inst_matrix	GET	/api/v1/query	query=demo_disk_usage_bytes{instance="demo.promlabs.com:10001"}[1m]	time=$T
inst_scalar	GET	/api/v1/query	query=1.5 * 2	time=$T
inst_string	GET	/api/v1/query	query="hello"	time=$T
inst_time_rfc3339	GET	/api/v1/query	query=time()	time=$TR
inst_specials	GET	/api/v1/query	query=demo_num_cpus * -Inf or vector(NaN) or label_replace(vector(+Inf), "x", "y", "", "")	time=$T
inst_histogram	GET	/api/v1/query	query=histogram_quantile(0.9, sum by(le, path) (rate(demo_api_request_duration_seconds_bucket[5m])))	time=$T
inst_empty_stale	GET	/api/v1/query	query=demo_intermittent_metric	time=$odd
inst_topk	GET	/api/v1/query	query=topk(2, demo_memory_usage_bytes)	time=$T
inst_offset	GET	/api/v1/query	query=demo_batch_last_success_timestamp_seconds offset 5m	time=$T
range_basic	GET	/api/v1/query_range	query=rate(demo_cpu_usage_seconds_total{mode="idle"}[1m])	start=$T0	end=$T	step=60
range_post_duration	POST	/api/v1/query_range	query=avg by(instance) (demo_memory_usage_bytes)	start=$T0	end=$T	step=2m
range_rfc3339	GET	/api/v1/query_range	query=demo_intermittent_metric	start=$TR0	end=$TR	step=30s
range_scalar	GET	/api/v1/query_range	query=time() - 1	start=$T0	end=$T	step=300
range_empty	GET	/api/v1/query_range	query=nonexistent_metric_name	start=$T0	end=$T	step=60
err_parse	GET	/api/v1/query	query=sum(demo_num_cpus	time=$T
err_parse_range	GET	/api/v1/query_range	query=rate(demo_cpu_usage_seconds_total)	start=$T0	end=$T	step=60
err_no_query	GET	/api/v1/query	time=$T
err_bad_time	GET	/api/v1/query	query=demo_num_cpus	time=yesterday
err_step_zero	GET	/api/v1/query_range	query=demo_num_cpus	start=$T0	end=$T	step=0
err_step_negative	GET	/api/v1/query_range	query=demo_num_cpus	start=$T0	end=$T	step=-10
err_step_bad	GET	/api/v1/query_range	query=demo_num_cpus	start=$T0	end=$T	step=ten
err_too_many_points	GET	/api/v1/query_range	query=demo_num_cpus	start=0	end=$T	step=1
err_end_before_start	GET	/api/v1/query_range	query=demo_num_cpus	start=$T	end=$T0	step=60
err_bad_start	GET	/api/v1/query_range	query=demo_num_cpus	start=soon	end=$T	step=60
err_exec_duplicate	GET	/api/v1/query	query=count_over_time({job="demo"}[1m])	time=$T
err_bad_regex	GET	/api/v1/query	query=label_replace(demo_num_cpus, "job", "x", "instance", "(.*")	time=$T
series_one	GET	/api/v1/series	match[]=demo_num_cpus	start=$T0	end=$T
series_two	POST	/api/v1/series	match[]=demo_memory_usage_bytes{type=~"f.*"}	match[]=demo_disk_total_bytes	start=$T0	end=$T
series_no_match	GET	/api/v1/series	start=$T0	end=$T
series_bad_match	GET	/api/v1/series	match[]=demo_num_cpus{	start=$T0	end=$T
labels_all	GET	/api/v1/labels	start=$T0	end=$T
labels_match	GET	/api/v1/labels	match[]=demo_api_request_duration_seconds_count	start=$T0	end=$T
values_instance	GET	/api/v1/label/instance/values	start=$T0	end=$T
values_name	GET	/api/v1/label/__name__/values	start=$T0	end=$T
values_le_match	GET	/api/v1/label/le/values	match[]=demo_api_request_duration_seconds_bucket{path="/api/foo"}	start=$T0	end=$T
values_none	GET	/api/v1/label/nonexistent/values	start=$T0	end=$T
values_bad_name	GET	/api/v1/label/0bad/values	start=$T0	end=$T
TSV

# request PORT OUT method path params...: writes the body to OUT and the HTTP status to OUT.code.
request() {
    local p=$1 out=$2 method=$3 path=$4 args=() kv
    shift 4
    for kv in "$@"; do
        args+=(--data-urlencode "$kv")
    done
    [ "$method" = GET ] && args=(-G "${args[@]}")
    curl -s --max-time 30 -o "$out" -w '%{http_code}' "${args[@]}" "http://127.0.0.1:$p$path" \
        >"$out.code"
}

: >"$TW_TMP/names"
while IFS=$'\t' read -r -a f; do
    name=${f[0]}
    if [ -n "${TW_API_ONLY:-}" ] && [[ ",$TW_API_ONLY," != *",$name,"* ]]; then
        continue
    fi
    printf '%s\t%s\n' "$name" "${f[*]:1}" >>"$TW_TMP/names"
    request "$pport" "$TW_TMP/$name.prom" "${f[@]:1}"
    request "$port" "$TW_TMP/$name.tw" "${f[@]:1}"
done <"$TW_TMP/requests.tsv"

# Normalise and compare every pair (one python3 run: HTTP status plus the body with sorted keys).
python3 - "$TW_TMP" >"$TW_TMP/verdicts" <<'PY'
import json, sys
d = sys.argv[1]
UNORDERED = {"inst_histogram"}  # Prometheus' own order is random (see the header)
def norm(side, name):
    code = open("%s/%s.%s.code" % (d, name, side)).read().strip()
    raw = open("%s/%s.%s" % (d, name, side), encoding="utf-8", errors="replace").read()
    try:
        doc = json.loads(raw)
        data = doc.get("data") if isinstance(doc, dict) else None
        res = data.get("result") if isinstance(data, dict) else None
        if name in UNORDERED and isinstance(res, list):
            res.sort(key=lambda r: json.dumps(r.get("metric"), sort_keys=True))
        body = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    except ValueError:
        body = "NOT JSON: " + raw[:500]
    return "HTTP %s %s" % (code, body)
n = bad = 0
for line in open(d + "/names"):
    name, req = line.rstrip("\n").split("\t", 1)
    n += 1
    p, t = norm("prom", name), norm("tw", name)
    if p == t:
        print("ok    %-22s %s" % (name, p[:100]))
    else:
        bad += 1
        print("DIFF  %-22s %s" % (name, req))
        print("      prometheus: %s" % p[:600])
        print("      tidewatch:  %s" % t[:600])
print("COUNT %d %d" % (n, bad))
PY
grep -v '^COUNT' "$TW_TMP/verdicts"
read -r _ n bad < <(grep '^COUNT' "$TW_TMP/verdicts")
tw_log "$((n - bad)) of $n requests answered the same"
[ "${n:-0}" -gt 0 ] || tw_fail "no request ran"
[ "$bad" = 0 ] || TW_LOG="" tw_fail "$bad of $n API answers differ from Prometheus 2.42 (above)"
tw_log "PASS"
