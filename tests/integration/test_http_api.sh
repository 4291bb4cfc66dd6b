#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_http_api.sh - the Prometheus HTTP API of tidewatch against a real Prometheus 2.42.
#
# The same remote_write load (tests/tools/rw_crash_load: 4 series "rw_crash_load_series" and one
# "rw_crash_load_fresh" per batch, 3 batches of 10 samples 1 ms apart, starting a minute ago)
# goes to tidewatch (--web.enable-remote-write-receiver, no collectors, `query.compat:
# prometheus2`) and to Prometheus 2.42 (--web.enable-remote-write-receiver, no scrape jobs), so
# both TSDBs hold exactly the same samples. Then:
#   1. the same requests (instant and range queries, GET and form POST, series, labels, label
#      values, federation, and bad requests of every kind) go to both; the bodies, normalised
#      with `jq -S`, and the status codes must be identical (federation: the raw text);
#   2. tidewatch's own endpoints (status/*, targets, metadata) are checked for shape and values;
#   3. `tidewatch query` against tidewatch must print byte for byte what `promtool query
#      instant|range` prints against Prometheus, and `tidewatch query --storage.tsdb.path` on the
#      stopped daemon's data dir the same again.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd prometheus promtool curl jq python3
load=$(tw_require_tool rw_crash_load)

port=$(tw_free_port)
pport=$(tw_free_port_except "$port")
tw_write_config "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" - -
printf 'query:\n  compat: prometheus2\n' >>"$TW_TMP/tidewatch.yml"
tw_start_tidewatch_args "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" tidewatch \
    --web.enable-remote-write-receiver
printf 'global:\n  scrape_interval: 1h\n' >"$TW_TMP/prometheus.yml"
tw_start_prometheus "$TW_TMP/prometheus.yml" "$pport" "$TW_TMP/prom" prometheus \
    --web.enable-remote-write-receiver

T0=$(( ($(date +%s) - 60) * 1000 ))
for target in "$port" "$pport"; do
    "$load" --url "http://127.0.0.1:$target/api/v1/write" --log "$TW_TMP/load-$target.log" \
        --start-ms "$T0" --series 4 --samples 10 --batches 3 >/dev/null 2>&1 ||
        tw_fail "rw_crash_load to port $target failed (log: $(tail -n 2 "$TW_TMP/load-$target.log"))"
done
TW=http://127.0.0.1:$port
PR=http://127.0.0.1:$pport

# Times in seconds as the API takes them: the last sample is at T0 + 29 ms.
t0=$(printf '%d.%03d' $((T0 / 1000)) $((T0 % 1000)))
tl=$(printf '%d.%03d' $(((T0 + 29) / 1000)) $(((T0 + 29) % 1000)))
tmid=$(printf '%d.%03d' $(((T0 + 15) / 1000)) $(((T0 + 15) % 1000)))

fails=0
compared=0
# compare NAME CURL_ARGS...: the same request to both; status and jq -S bodies must match.
compare() {
    local name=$1 a b ca cb
    shift
    ca=$(curl -s --max-time 20 -o "$TW_TMP/tw.body" -w '%{http_code}' "$@" --url-query "" \
        -H 'X-Peer: tidewatch' "$TW${REQ_PATH}" 2>/dev/null || echo 000)
    cb=$(curl -s --max-time 20 -o "$TW_TMP/pr.body" -w '%{http_code}' "$@" --url-query "" \
        "$PR${REQ_PATH}" 2>/dev/null || echo 000)
    if [ "${RAW:-0}" = 1 ]; then
        a=$(cat "$TW_TMP/tw.body")
        b=$(cat "$TW_TMP/pr.body")
    else
        a=$(jq -S . "$TW_TMP/tw.body" 2>&1)
        b=$(jq -S . "$TW_TMP/pr.body" 2>&1)
    fi
    compared=$((compared + 1))
    if [ "$ca" != "$cb" ] || [ "$a" != "$b" ]; then
        fails=$((fails + 1))
        tw_log "DIFFERENT: $name ($REQ_PATH $*)"
        tw_log "  tidewatch  $ca: $(head -c 600 "$TW_TMP/tw.body")"
        tw_log "  prometheus $cb: $(head -c 600 "$TW_TMP/pr.body")"
    else
        tw_log "same: $name ($ca)"
    fi
}
# get NAME PATH [name=value...]: compare with GET and the parameters url-encoded.
get() {
    local name=$1 args=() kv
    REQ_PATH=$2
    shift 2
    for kv in "$@"; do args+=(--data-urlencode "$kv"); done
    compare "$name" -G "${args[@]}"
}
# post NAME PATH [name=value...]: compare with a form POST.
post() {
    local name=$1 args=() kv
    REQ_PATH=$2
    shift 2
    for kv in "$@"; do args+=(--data-urlencode "$kv"); done
    compare "$name" "${args[@]}"
}

# The data must be there before anything is compared.
n=$(curl -s "$TW/api/v1/query" --data-urlencode 'query=count(rw_crash_load_series)' \
    --data-urlencode "time=$tl" | jq -r '.data.result[0].value[1]')
[ "$n" = 4 ] || tw_fail "tidewatch holds $n rw_crash_load_series series, want 4"

# ---- 1. the same answers as Prometheus 2.42 ----------------------------------------------
get "instant vector" /api/v1/query query=rw_crash_load_series time="$tl"
get "instant at mid" /api/v1/query query='rw_crash_load_series{series="2"}' time="$tmid"
post "instant POST" /api/v1/query query='sum by (series) (rw_crash_load_series)' time="$tl"
get "aggregation" /api/v1/query query='avg(rw_crash_load_series) * 1000000' time="$tl"
get "rate" /api/v1/query query='rate(rw_crash_load_series[1m])' time="$tl"
get "scalar small" /api/v1/query query='1e-7' time="$t0"
get "scalar big" /api/v1/query query='1e22' time="$t0"
get "scalar inf" /api/v1/query query='-Inf' time="$t0"
get "string" /api/v1/query query='"a<b&c"' time="$t0"
get "empty vector" /api/v1/query query='nothing_here' time="$tl"
get "rfc3339 time" /api/v1/query query='count(rw_crash_load_fresh)' \
    time="$(date -u -d "@$((T0 / 1000 + 1))" +%Y-%m-%dT%H:%M:%SZ)"
get "range" /api/v1/query_range query='rw_crash_load_series{series="1"}' start="$t0" \
    end="$tl" step=0.005
post "range POST" /api/v1/query_range query='sum(rw_crash_load_series)' start="$t0" \
    end="$tl" step=0.01
get "range scalar" /api/v1/query_range query='time()' start="$t0" end="$tl" step=0.01
get "parse error" /api/v1/query query='rw_crash_load_series{' time="$tl"
get "bad time" /api/v1/query query=up time=yesterday
get "bad timeout" /api/v1/query query=up timeout=soon
get "exec error" /api/v1/query query='{__name__=~"rw_crash_load_.*"} * 0' time="$tl"
get "range end before start" /api/v1/query_range query=up start=10 end=5 step=1
get "range zero step" /api/v1/query_range query=up start=1 end=5 step=0
get "range bad step" /api/v1/query_range query=up start=1 end=5 step=often
get "range too many points" /api/v1/query_range query=up start=0 end=11001 step=1
get "range no start" /api/v1/query_range query=up
get "range vector in range query" /api/v1/query_range query='up[5m]' start=1 end=5 step=1
get "series" /api/v1/series 'match[]=rw_crash_load_series'
get "series time range" /api/v1/series 'match[]=rw_crash_load_series' start=0 end=1
get "series without match[]" /api/v1/series
get "series bad match[]" /api/v1/series 'match[]=rw_crash_load_series{'
get "labels" /api/v1/labels
post "labels POST match[]" /api/v1/labels 'match[]=rw_crash_load_fresh'
get "labels bad start" /api/v1/labels start=x
if grep -q TW_HTTP_SERVER_HAVE_ARGS "$TW_SRC/common/http_server.h"; then
    get "label values" /api/v1/label/series/values
    get "label values match[]" /api/v1/label/batch/values 'match[]=rw_crash_load_fresh'
    get "label values bad name" /api/v1/label/a.b/values
    get "series GET two match[]" /api/v1/series 'match[]={series="1"}' 'match[]={series="3"}'
    post "series two match[] POST" /api/v1/series 'match[]={series="1"}' \
        'match[]=rw_crash_load_fresh{batch="2"}'
    RAW=1 get "federate two match[]" /federate 'match[]=rw_crash_load_series' \
        'match[]={batch="1"}'
else
    tw_log "NOTE: common/http_server.h has no tw_http_request_args() and prefix routes yet:" \
        "label values and repeated match[] not compared"
fi
RAW=1 get "federate" /federate 'match[]=rw_crash_load_series'
RAW=1 get "federate nothing" /federate
get "unknown path" /api/v1/nope 2>/dev/null || true

tw_log "$compared requests compared, $fails different"
[ "$fails" = 0 ] || tw_fail "$fails answers differ from Prometheus 2.42"

# ---- 2. tidewatch's own endpoints ------------------------------------------------------------
check_jq() { # check_jq PATH JQ_EXPR: the expression must be true on the answer.
    local body
    body=$(curl -s --max-time 10 "$TW$1")
    echo "$body" | jq -e "$2" >/dev/null || tw_fail "$1: '$2' is not true for: ${body:0:400}"
    tw_log "ok: $1 $2"
}
check_jq /api/v1/status/buildinfo '.status == "success" and (.data.version | length > 0) and (.data | keys == ["branch","buildDate","buildUser","goVersion","revision","version"])'
check_jq /api/v1/status/config '.data.yaml | contains("compat: prometheus2")'
check_jq /api/v1/status/flags '.data["query.compat"] == "prometheus2" and .data["web.enable-remote-write-receiver"] == "true"'
check_jq /api/v1/status/runtimeinfo '.data.reloadConfigSuccess == true and .data.storageRetention == "15d" and (.data.startTime | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))'
check_jq /api/v1/status/tsdb '.data.headStats.numSeries == 7 and .data.seriesCountByMetricName == [{"name":"rw_crash_load_series","value":4},{"name":"rw_crash_load_fresh","value":3}] and .data.labelValueCountByLabelName[0] == {"name":"series","value":4}'
check_jq /api/v1/targets '.data == {"activeTargets":[],"droppedTargets":[]}'
check_jq /api/v1/metadata '.status == "success" and .data == {}'
code=$(tw_http_code "$TW/api/v1/targets" -X POST)
[ "$code" = 405 ] || tw_fail "POST /api/v1/targets answered $code, want 405"

# ---- 3. `tidewatch query` prints what promtool prints ----------------------------------------
if grep -q TW_CLI_QUERY "$TW_SRC/daemon/cli.h"; then
    cli_compare() { # cli_compare NAME PROMTOOL_ARGS -- TIDEWATCH_ARGS
        local name=$1 pargs=() targs=()
        shift
        while [ "$1" != -- ]; do pargs+=("$1"); shift; done
        shift
        targs=("$@")
        promtool query "${pargs[@]}" >"$TW_TMP/pt.out" 2>"$TW_TMP/pt.err"
        local prc=$?
        "$TW_BIN" query "${targs[@]}" >"$TW_TMP/tq.out" 2>"$TW_TMP/tq.err"
        local trc=$?
        if [ "$prc" != "$trc" ] || ! cmp -s "$TW_TMP/pt.out" "$TW_TMP/tq.out" ||
            ! cmp -s "$TW_TMP/pt.err" "$TW_TMP/tq.err"; then
            tw_log "promtool ($prc): $(cat "$TW_TMP/pt.out" "$TW_TMP/pt.err" | head -c 600)"
            tw_log "tidewatch ($trc): $(cat "$TW_TMP/tq.out" "$TW_TMP/tq.err" | head -c 600)"
            tw_fail "tidewatch query differs from promtool query: $name"
        fi
        tw_log "same CLI output: $name"
    }
    cli_compare "instant" instant "$PR" rw_crash_load_series --time="$tl" -- \
        rw_crash_load_series --time="$tl" --server="$TW"
    cli_compare "instant scalar" instant "$PR" '1e22' --time="$tl" -- \
        '1e22' --time="$tl" --server="$TW"
    cli_compare "range" range "$PR" 'rw_crash_load_series{series="0"}' --start="$t0" \
        --end="$tl" --step=10ms -- 'rw_crash_load_series{series="0"}' --start="$t0" \
        --end="$tl" --step=10ms --server="$TW"
    cli_compare "parse error" instant "$PR" 'sum(' --time="$tl" -- 'sum(' --time="$tl" \
        --server="$TW"

    # The same on the data dir once the daemon is gone.
    "$TW_BIN" query rw_crash_load_series --time="$tl" --server="$TW" >"$TW_TMP/live.out" ||
        tw_fail "tidewatch query --server failed"
    "$TW_BIN" query rw_crash_load_series --time="$tl" --storage.tsdb.path="$TW_TMP/data" \
        >/dev/null 2>"$TW_TMP/locked.err" && tw_fail "query on a locked data dir succeeded"
    grep -q "locked by a running tidewatch" "$TW_TMP/locked.err" ||
        tw_fail "locked data dir: unexpected message $(cat "$TW_TMP/locked.err")"
    tw_stop_wait "$TW_PID" 10
    [ "$TW_STOP_RC" = 0 ] || tw_fail "tidewatch exited $TW_STOP_RC on SIGTERM"
    "$TW_BIN" query rw_crash_load_series --time="$tl" --storage.tsdb.path="$TW_TMP/data" \
        --query.compat=prometheus2 >"$TW_TMP/local.out" 2>"$TW_TMP/local.err" ||
        tw_fail "tidewatch query --storage.tsdb.path failed: $(cat "$TW_TMP/local.err")"
    cmp -s "$TW_TMP/live.out" "$TW_TMP/local.out" ||
        tw_fail "data-dir answer differs: $(diff "$TW_TMP/live.out" "$TW_TMP/local.out")"
    tw_log "same CLI output from the data dir"
else
    tw_log "NOTE: daemon/cli.h has no TW_CLI_QUERY yet: \`tidewatch query\` not compared"
fi
tw_log "PASS"
