#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_scrape_parity.sh - tidewatch's scraper and a real Prometheus 2.42 scrape the same captured
# payloads side by side; their TSDBs must hold the same series with the same values.
#
# Every captured exposition in shared/conformance/fixtures/exposition/*.txt is served FROZEN by a
# small python3 http.server on 127.0.0.1 (path /<fixture>, the body byte for byte, the
# Content-Type of its *.resp-headers capture: text/plain 0.0.4 for the Prometheus, Alertmanager
# and python-client text captures, application/openmetrics-text 0.0.1 for the python client's
# OpenMetrics capture). One scrape job per fixture (job="fx_<fixture>"), the same scrape_configs
# in tidewatch.yml and prometheus.yml, interval 1 s, until Prometheus has scraped each target
# 4 times (it applies targets on a 5 s tick, so ~10 s); then both are stopped and dumped
# (promtool tsdb dump / tidewatch tsdb dump, --match='{job=~"fx_.+"}').
#
# Compared, per job:
#   - the set of series label sets: equal;
#   - scraped series: the set of distinct values each side stored (the payload never changes,
#     so that is one value per series; compared as the dump prints it, Go's %g);
#   - up: label sets, and every value is 1 on both sides;
#   - scrape_samples_scraped, scrape_samples_post_metric_relabeling: label sets and value sets;
#   - scrape_series_added: label sets, and the value of the first scrape (the number of series the
#     target brought) is the same; later scrapes add 0 on both sides;
#   - scrape_duration_seconds: label sets only (durations differ);
#   - each side scraped every target at least 3 times.
# Timestamps are not compared: the two scrapers scrape at different phases.
# Known, justified differences: none so far. If one is ever needed, add it to KNOWN below with
# its reason; the script prints every difference it tolerates.
source "$(dirname "$0")/lib.sh"
tw_init
tw_require_bin
tw_require_cmd prometheus promtool curl python3

FIXDIR=${TW_SHARED:-$TW_SRC/../shared}/conformance/fixtures/exposition
[ -d "$FIXDIR" ] || tw_skip "no captured fixtures at $FIXDIR"
MIN_SCRAPES=4

fport=$(tw_free_port)
port=$(tw_free_port_except "$fport")
pport=$(tw_free_port_except "$fport" "$port")

# The frozen server: GET /<name> answers FIXDIR/<name>.txt with the Content-Type of
# FIXDIR/<name>.resp-headers; anything else is 404.
cat >"$TW_TMP/serve.py" <<'EOF'
import http.server, os, sys
port, fixdir = int(sys.argv[1]), sys.argv[2]
routes = {}
for f in sorted(os.listdir(fixdir)):
    if not f.endswith(".txt"):
        continue
    stem = f[:-4]
    ctype = None
    with open(os.path.join(fixdir, stem + ".resp-headers"), encoding="latin-1") as h:
        for line in h:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-type":
                ctype = v.strip()
    if ctype is None:
        sys.exit(f"{stem}.resp-headers has no Content-Type")
    with open(os.path.join(fixdir, f), "rb") as b:
        routes["/" + stem] = (b.read(), ctype)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        r = routes.get(self.path.split("?")[0])
        if r is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", r[1])
        self.send_header("Content-Length", str(len(r[0])))
        self.end_headers()
        self.wfile.write(r[0])
    def log_message(self, *a):
        pass
for path, (body, ctype) in sorted(routes.items()):
    print(f"serving {path}: {len(body)} bytes, Content-Type: {ctype}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
python3 -u "$TW_TMP/serve.py" "$fport" "$FIXDIR" >"$TW_TMP/serve.log" 2>&1 </dev/null &
spid=$!
tw_track_pid "$spid"

stems=()
for f in "$FIXDIR"/*.txt; do
    s=$(basename "$f" .txt)
    [ -f "$FIXDIR/$s.resp-headers" ] || tw_fail "$f has no $s.resp-headers capture"
    stems+=("$s")
done
[ ${#stems[@]} -gt 0 ] || tw_skip "no *.txt fixtures in $FIXDIR"
tw_wait_http "http://127.0.0.1:$fport/${stems[0]}" 200 10 "$spid" ||
    tw_fail "fixture server did not start: $(cat "$TW_TMP/serve.log")"
cat "$TW_TMP/serve.log" >&2

# The same scrape_configs for both.
{
    echo "scrape_configs:"
    for s in "${stems[@]}"; do
        echo "  - job_name: fx_${s//[.-]/_}"
        echo "    scrape_interval: 1s"
        echo "    scrape_timeout: 1s"
        echo "    metrics_path: /$s"
        echo "    static_configs:"
        echo "      - targets: ['127.0.0.1:$fport']"
    done
} >"$TW_TMP/scrape_configs.yml"

tw_write_config "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data" - -
{
    echo "global:"
    echo "  scrape_interval: 1s"
    echo "  scrape_timeout: 1s"
    cat "$TW_TMP/scrape_configs.yml"
} >>"$TW_TMP/tidewatch.yml"
"$TW_BIN" check config "$TW_TMP/tidewatch.yml" >&2 || tw_fail "tidewatch refuses the config"
{
    echo "global:"
    echo "  scrape_interval: 1s"
    echo "  scrape_timeout: 1s"
    cat "$TW_TMP/scrape_configs.yml"
} >"$TW_TMP/prometheus.yml"

tw_start_tidewatch "$TW_TMP/tidewatch.yml" "$port" "$TW_TMP/data"
twpid=$TW_PID
tw_start_prometheus "$TW_TMP/prometheus.yml" "$pport" "$TW_TMP/prom"
ppid=$TW_PROM_PID
# Prometheus applies new targets on a 5 s tick, so wait (bounded) until it has scraped every
# target at least MIN_SCRAPES times, through its own query API.
tw_log "both scrape ${#stems[@]} frozen targets every 1s; waiting for $MIN_SCRAPES scrapes of each"
deadline=$((SECONDS + 40))
got=none
while ((SECONDS < deadline)); do
    got=$(curl -s --max-time 5 -G "http://127.0.0.1:$pport/api/v1/query" \
        --data-urlencode 'query=count(count_over_time(up{job=~"fx_.+"}[5m]) >= '"$MIN_SCRAPES"')' |
        python3 -c 'import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else 0)
except Exception:
    print("none")')
    [ "$got" = "${#stems[@]}" ] && break
    sleep 1
done
[ "$got" = "${#stems[@]}" ] ||
    tw_fail "Prometheus scraped only $got of ${#stems[@]} targets $MIN_SCRAPES times in 40 s"
tw_stop_wait "$ppid" 30
[ "$TW_STOP_RC" = 0 ] || tw_fail "Prometheus exited $TW_STOP_RC after SIGTERM"
tw_stop_wait "$twpid" 10
[ "$TW_STOP_RC" = 0 ] || tw_fail "tidewatch exited $TW_STOP_RC after SIGTERM, want 0"
if grep -Ei 'level=(error|warn)' "$TW_PROM_LOG" | grep -vq 'Received SIGTERM'; then
    grep -Ei 'level=(error|warn)' "$TW_PROM_LOG" | grep -v 'Received SIGTERM' >&2
    tw_log "(Prometheus logged the warnings above)"
fi

MATCH='{job=~"fx_.+"}'
promtool tsdb dump "$TW_TMP/prom" --match="$MATCH" >"$TW_TMP/prom.txt" 2>"$TW_TMP/promtool.err" ||
    tw_fail "promtool tsdb dump failed: $(cat "$TW_TMP/promtool.err")"
"$TW_BIN" tsdb dump "$TW_TMP/data" --match="$MATCH" >"$TW_TMP/ours.txt" 2>"$TW_TMP/dump.err" ||
    tw_fail "tidewatch tsdb dump failed: $(cat "$TW_TMP/dump.err")"
tw_log "dumped: promtool $(wc -l <"$TW_TMP/prom.txt") samples, tidewatch $(wc -l <"$TW_TMP/ours.txt")"

python3 - "$TW_TMP/prom.txt" "$TW_TMP/ours.txt" "${stems[@]}" <<'EOF'
import collections, re, sys
prom_path, ours_path, stems = sys.argv[1], sys.argv[2], sys.argv[3:]
jobs = ["fx_" + re.sub(r"[.-]", "_", s) for s in stems]

# KNOWN: (job, series-regex) -> reason. A difference on a series matching an entry is printed
# as tolerated instead of failing. Empty: tidewatch matched Prometheus 2.42 on every payload.
KNOWN = {}

line_re = re.compile(r'^(\{.*\}) (\S+) (-?\d+)$')
def load(path):
    d = collections.defaultdict(list)  # series -> [(t, value string)]
    for l in open(path):
        m = line_re.match(l.rstrip("\n"))
        if not m:
            sys.exit(f"{path}: cannot parse dump line {l!r}")
        d[m.group(1)].append((int(m.group(3)), m.group(2)))
    for v in d.values():
        v.sort()
    return d
P, O = load(prom_path), load(ours_path)
def job(s):
    m = re.search(r'(?:^\{|, )job="([^"]*)"', s)
    return m.group(1) if m else "?"
def mname(s):
    m = re.search(r'__name__="([^"]*)"', s)
    return m.group(1) if m else "?"
def known(s):
    for (j, rx), why in KNOWN.items():
        if j in (job(s), "*") and re.search(rx, s):
            return why
    return None

problems, tolerated = [], []
def differ(s, msg):
    why = known(s)
    (tolerated if why else problems).append(f"{job(s)}: {msg}" + (f"  [known: {why}]" if why else ""))

SYNTH = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
         "scrape_samples_post_metric_relabeling", "scrape_series_added"}
for j in jobs:
    ps = {s for s in P if job(s) == j}
    os_ = {s for s in O if job(s) == j}
    up_p = [s for s in ps if mname(s) == "up"]
    up_o = [s for s in os_ if mname(s) == "up"]
    np_ = len(P[up_p[0]]) if up_p else 0
    no = len(O[up_o[0]]) if up_o else 0
    scraped = [s for s in ps if mname(s) not in SYNTH]
    print(f"{j}: promtool {len(ps)} series ({np_} scrapes), tidewatch {len(os_)} series "
          f"({no} scrapes)", file=sys.stderr)
    if np_ < 3 or no < 3:
        problems.append(f"{j}: too few scrapes to compare (promtool {np_}, tidewatch {no})")
    if len(scraped) == 0:
        problems.append(f"{j}: Prometheus stored no scraped series")
    for s in sorted(ps - os_):
        differ(s, f"series only in Prometheus: {s} values {sorted({v for _, v in P[s]})}")
    for s in sorted(os_ - ps):
        differ(s, f"series only in tidewatch: {s} values {sorted({v for _, v in O[s]})}")
    for s in sorted(ps & os_):
        n = mname(s)
        pv, ov = [v for _, v in P[s]], [v for _, v in O[s]]
        if n == "scrape_duration_seconds":
            continue
        if n == "up":
            if set(pv) != {"1"} or set(ov) != {"1"}:
                differ(s, f"up: Prometheus {sorted(set(pv))}, tidewatch {sorted(set(ov))}, want 1")
            continue
        if n == "scrape_series_added":
            if pv[0] != ov[0] or set(pv[1:]) - {"0"} or set(ov[1:]) - {"0"}:
                differ(s, f"scrape_series_added: Prometheus {pv}, tidewatch {ov}")
            continue
        if set(pv) != set(ov):
            differ(s, f"values differ: {s}: Prometheus {sorted(set(pv))}, "
                      f"tidewatch {sorted(set(ov))}")
for t in tolerated:
    print("TOLERATED " + t, file=sys.stderr)
for p in problems[:200]:
    print("DIFF " + p, file=sys.stderr)
if len(problems) > 200:
    print(f"... and {len(problems) - 200} more differences", file=sys.stderr)
print(f"{len(problems)} differences, {len(tolerated)} tolerated", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
[ $? = 0 ] || tw_fail "tidewatch's scrapes differ from Prometheus 2.42's (DIFF lines above)"
tw_log "PASS: same series and values as Prometheus 2.42 for ${#stems[@]} captured payloads"
