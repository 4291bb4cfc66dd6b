#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""promql_compare.py - runs the PromQL compliance queries against a reference Prometheus and
tidewatch and compares the answers the way prometheus/compliance's promql-compliance-tester does
(see tests/../shared/conformance/promql-compliance/README.md, "How a comparison runs").

Python 3 standard library only. Every query of the TSV (columns n, should_fail, skip_comparison,
query) is sent to both servers as a range query: POST <base>/api/v1/query_range with a form body
(query, start, end, step as decimal seconds), GET with the same parameters if the server answers
405 or 501. Outcomes, per case:
  reference fails unexpectedly, or succeeds on a should_fail case -> REFBROKEN (the setup is wrong)
  both fail on a should_fail case                                -> expected failure (pass)
  tidewatch fails when Prometheus succeeds                        -> UNEXPECTED FAILURE
  tidewatch succeeds on a should_fail case                        -> UNEXPECTED SUCCESS
  skip_comparison                                                 -> pass when both succeed
  otherwise the matrices are compared: same series (label sets), same number of points, the same
  millisecond timestamps, values equal within |a-b| <= max(fraction*min(|a|,|b|), margin)
  (defaults 1e-5 and 0); NaN equals NaN, an infinity only the same infinity. The tester sorts the
  target's series; here tidewatch's series must also come in Prometheus' order (both sort by
  label set), reported as ORDER (a difference unless --ignore-order).
Prints one block per failing case (the query, what differs, both answers in short form), then a
summary line:
  SUMMARY total=539 equal=E differ=D expected_failures=F ref_broken=R prom_nonempty=P (x.y%)
Exit status: 0 when nothing differs, nothing is broken and the Prometheus non-empty share is at
least --min-nonempty (percent), else 1. --dump DIR writes both raw answers of every failing case.
"""

import argparse
import concurrent.futures
import json
import math
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


def fetch(base, params, timeout):
    """Returns (http_status, parsed_json_or_None, raw_text)."""
    body = urllib.parse.urlencode(params).encode()
    url = base + "/api/v1/query_range"
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    for attempt in range(2):
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read().decode("utf-8", "replace")
        except Exception as e:  # transport errors: a failure with the text
            return 0, None, "transport error: %s" % e
        if status in (405, 501) and attempt == 0:
            req = urllib.request.Request(url + "?" + urllib.parse.urlencode(params))
            continue
        break
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    return status, doc, raw


def succeeded(status, doc):
    return (
        200 <= status < 300
        and isinstance(doc, dict)
        and doc.get("status") == "success"
        and isinstance(doc.get("data"), dict)
    )


def labels_key(metric):
    return tuple(sorted(metric.items()))


def fmt_labels(metric):
    name = metric.get("__name__", "")
    rest = ",".join('%s="%s"' % (k, v) for k, v in sorted(metric.items()) if k != "__name__")
    return "%s{%s}" % (name, rest)


def parse_value(s):
    return float(s)  # accepts "NaN", "+Inf", "-Inf"


def values_equal(a, b, fraction, margin):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(fraction * min(abs(a), abs(b)), margin)


def series_points(s):
    pts = []
    for ts, v in s.get("values") or []:
        pts.append((int(round(float(ts) * 1000)), parse_value(v), v))
    return pts


def short_matrix(doc, limit=2):
    """A compact text of a result: series count, and the first series with a few points."""
    if doc is None:
        return "(no JSON)"
    if doc.get("status") != "success":
        return "error %s: %s" % (doc.get("errorType"), doc.get("error"))
    data = doc["data"]
    res = data.get("result")
    if data.get("resultType") != "matrix":
        return "resultType=%s %s" % (data.get("resultType"), json.dumps(res)[:200])
    if not res:
        return "empty matrix"
    parts = []
    for s in res[:limit]:
        pts = s.get("values") or []
        pv = " ".join("%s@%s" % (v, ts) for ts, v in pts[:3])
        parts.append("%s [%d pts: %s%s]" % (fmt_labels(s.get("metric", {})), len(pts), pv,
                                             " ..." if len(pts) > 3 else ""))
    more = " (+%d more series)" % (len(res) - limit) if len(res) > limit else ""
    return "%d series: %s%s" % (len(res), "; ".join(parts), more)


def compare(ref, got, fraction, margin, ignore_order):
    """Returns (verdict, reason): verdict 'equal', 'order' or 'differ'."""
    rd, gd = ref["data"], got["data"]
    if gd.get("resultType") != rd.get("resultType"):
        return "differ", "resultType %s, want %s" % (gd.get("resultType"), rd.get("resultType"))
    rres, gres = rd.get("result") or [], gd.get("result") or []
    if len(rres) != len(gres):
        rk = {labels_key(s["metric"]) for s in rres}
        gk = {labels_key(s["metric"]) for s in gres}
        extra = [fmt_labels(dict(k)) for k in sorted(gk - rk)][:3]
        missing = [fmt_labels(dict(k)) for k in sorted(rk - gk)][:3]
        return "differ", "%d series, want %d (missing %s, extra %s)" % (
            len(gres), len(rres), missing, extra)
    gmap = {}
    for s in gres:
        k = labels_key(s["metric"])
        if k in gmap:
            return "differ", "duplicate series %s" % fmt_labels(s["metric"])
        gmap[k] = s
    for s in rres:
        k = labels_key(s["metric"])
        g = gmap.get(k)
        if g is None:
            return "differ", "missing series %s" % fmt_labels(s["metric"])
        rp, gp = series_points(s), series_points(g)
        if len(rp) != len(gp):
            rts = [p[0] for p in rp]
            gts = [p[0] for p in gp]
            only_r = sorted(set(rts) - set(gts))[:3]
            only_g = sorted(set(gts) - set(rts))[:3]
            return "differ", "%s: %d points, want %d (missing t=%s, extra t=%s)" % (
                fmt_labels(s["metric"]), len(gp), len(rp), only_r, only_g)
        for (rt, rv, rtext), (gt, gv, gtext) in zip(rp, gp):
            if rt != gt:
                return "differ", "%s: point at t=%d, want t=%d" % (fmt_labels(s["metric"]), gt, rt)
            if not values_equal(rv, gv, fraction, margin):
                return "differ", "%s @%d: value %s, want %s" % (
                    fmt_labels(s["metric"]), rt, gtext, rtext)
    if not ignore_order:
        rorder = [labels_key(s["metric"]) for s in rres]
        gorder = [labels_key(s["metric"]) for s in gres]
        if rorder != gorder:
            for i, (a, b) in enumerate(zip(rorder, gorder)):
                if a != b:
                    return "order", "series order differs at #%d: %s, want %s" % (
                        i, fmt_labels(dict(b)), fmt_labels(dict(a)))
    return "equal", ""


def load_cases(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            n, sf, sc, q = line.rstrip("\n").split("\t", 3)
            cases.append((int(n), sf == "true", sc == "true", q))
    return cases


def run_case(args, case):
    n, should_fail, skip_cmp, q = case
    params = {"query": q, "start": args.start, "end": args.end, "step": args.step}
    rs, rdoc, rraw = fetch(args.ref, params, args.timeout)
    gs, gdoc, graw = fetch(args.test, params, args.timeout)
    rok, gok = succeeded(rs, rdoc), succeeded(gs, gdoc)
    nonempty = rok and bool(rdoc["data"].get("result"))
    if should_fail:
        if rok:
            verdict, why = "refbroken", "reference succeeded on a should_fail case"
        elif gok:
            verdict, why = "differ", "UNEXPECTED SUCCESS (should fail)"
        else:
            verdict, why = "expected_failure", ""
    elif not rok:
        verdict, why = "refbroken", "reference failed: HTTP %d %s" % (rs, rraw[:300])
    elif not gok:
        verdict = "differ"
        why = "UNEXPECTED FAILURE: HTTP %d %s" % (gs, graw[:300])
        if "501" in graw or gs == 501:
            why += " (unsupported)"
    elif skip_cmp:
        verdict, why = "equal", ""
    else:
        verdict, why = compare(rdoc, gdoc, args.fraction, args.margin, args.ignore_order)
        if verdict == "order" and args.ignore_order:
            verdict = "equal"
    return {
        "n": n, "query": q, "verdict": verdict, "why": why, "nonempty": nonempty,
        "ref": (rs, rdoc, rraw), "got": (gs, gdoc, graw),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", required=True, help="reference base URL (Prometheus)")
    ap.add_argument("--test", required=True, help="tested base URL (tidewatch)")
    ap.add_argument("--queries", required=True, help="expanded-queries.tsv")
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--step", default="10")
    ap.add_argument("--fraction", type=float, default=1e-5)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--min-nonempty", type=float, default=85.0)
    ap.add_argument("--ignore-order", action="store_true")
    ap.add_argument("--only", help="comma-separated case numbers to run")
    ap.add_argument("--dump", help="directory for the raw answers of failing cases")
    ap.add_argument("--list-empty", action="store_true",
                    help="also list the cases where Prometheus answered an empty matrix")
    args = ap.parse_args()

    cases = load_cases(args.queries)
    if args.only:
        want = {int(x) for x in args.only.split(",")}
        cases = [c for c in cases if c[0] in want]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.parallel) as ex:
        results = list(ex.map(lambda c: run_case(args, c), cases))

    counts = {"equal": 0, "differ": 0, "order": 0, "expected_failure": 0, "refbroken": 0}
    nonempty = 0
    for r in results:
        counts[r["verdict"]] += 1
        nonempty += 1 if r["nonempty"] else 0
        if r["verdict"] in ("equal", "expected_failure"):
            continue
        print("%s #%d: %s" % (r["verdict"].upper(), r["n"], r["query"]))
        print("    why:  %s" % r["why"])
        print("    prom: %s" % short_matrix(r["ref"][1]))
        print("    tw:   %s" % short_matrix(r["got"][1]))
        if args.dump:
            os.makedirs(args.dump, exist_ok=True)
            for side, (_, _, raw) in (("prom", r["ref"]), ("tw", r["got"])):
                with open(os.path.join(args.dump, "%03d.%s.json" % (r["n"], side)), "w") as f:
                    f.write(raw)
    if args.list_empty:
        for r in results:
            if not r["nonempty"]:
                print("EMPTY #%d: %s" % (r["n"], r["query"]))
    total = len(results)
    pct = 100.0 * nonempty / total if total else 0.0
    print("SUMMARY total=%d equal=%d differ=%d order_only=%d expected_failures=%d ref_broken=%d "
          "prom_nonempty=%d (%.1f%%)" % (total, counts["equal"], counts["differ"], counts["order"],
                                         counts["expected_failure"], counts["refbroken"],
                                         nonempty, pct))
    ok = counts["differ"] == 0 and counts["order"] == 0 and counts["refbroken"] == 0
    if pct < args.min_nonempty:
        print("FAIL: Prometheus answered non-empty for only %.1f%% (< %.1f%%)"
              % (pct, args.min_nonempty))
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
