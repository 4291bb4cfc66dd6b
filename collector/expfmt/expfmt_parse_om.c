/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expfmt_parse_om.c - OpenMetrics 1.0 rules that span lines: metric families, grouping of
 * samples, histogram consistency, allowed values per type, exemplar placement.
 *
 * expfmt_parse.c checks each line's grammar and feeds the entries here. In strict mode (`check
 * metrics`, the conformance suite) we apply what the OpenMetrics reference parser does
 * (prometheus/client_python openmetrics/parser.py, which the conformance cases were written
 * against); in lenient mode (the scrape path) only what Prometheus 2.42's OpenMetrics parser
 * enforces: the UNIT suffix and exemplars only on `_total` and `_bucket` samples.
 *
 * How it works: a family opens on a metadata line with a new name, or on a sample whose name is
 * not one the open family allows (the family name plus its type's suffixes); it closes when the
 * next one opens or at "# EOF", which is when name clashes, units and the histogram rules of its
 * last run are checked (so those errors are reported on the line that closed the family).
 * Samples are grouped by their label set without `le` (buckets), `quantile` (summary quantiles)
 * or the state label (statesets); a group must not reappear once another group has started, and
 * within a group timestamps must all be present or all absent and must not go backwards. Label
 * sets are compared by an order-independent 64-bit hash (sum of per-label hashes, with label
 * names unique), so nothing is copied; a false match needs a 64-bit collision. Pure, no I/O.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/expfmt/expfmt_int.h"
#include "common/hash.h"
#include "common/mem.h"

/* ---- hash set ----------------------------------------------------------------------------- */

static void hset_clear(tw_expfmt_hset_t *h)
{
    if (h->count == 0) {
        return;
    }
    if (h->cap > 1024 && h->count < h->cap / 16) {
        /* Don't keep clearing a big table for small families after a big one. */
        free(h->slots);
        h->slots = NULL;
        h->cap = 0;
    } else {
        memset(h->slots, 0, h->cap * sizeof(*h->slots));
    }
    h->count = 0;
}

static void hset_fini(tw_expfmt_hset_t *h)
{
    free(h->slots);
    memset(h, 0, sizeof(*h));
}

static bool hset_has(const tw_expfmt_hset_t *h, uint64_t v)
{
    if (h->cap == 0) {
        return false;
    }
    v = v == 0 ? 1 : v;
    for (size_t i = (size_t)v & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
        if (h->slots[i] == 0) {
            return false;
        }
        if (h->slots[i] == v) {
            return true;
        }
    }
}

static void hset_add(tw_expfmt_hset_t *h, uint64_t v);

static void hset_grow(tw_expfmt_hset_t *h)
{
    tw_expfmt_hset_t old = *h;
    h->cap = old.cap == 0 ? 16 : old.cap * 2;
    h->slots = tw_xcalloc(h->cap, sizeof(*h->slots));
    h->count = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i] != 0) {
            hset_add(h, old.slots[i]);
        }
    }
    free(old.slots);
}

static void hset_add(tw_expfmt_hset_t *h, uint64_t v)
{
    if ((h->count + 1) * 2 > h->cap) {
        hset_grow(h);
    }
    v = v == 0 ? 1 : v;
    for (size_t i = (size_t)v & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
        if (h->slots[i] == v) {
            return;
        }
        if (h->slots[i] == 0) {
            h->slots[i] = v;
            h->count++;
            return;
        }
    }
}

/* ---- helpers ------------------------------------------------------------------------------ */

static bool sv_eq(tw_strview_t a, tw_strview_t b)
{
    return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

static bool sv_eq_str(tw_strview_t a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && memcmp(a.p, s, n) == 0;
}

static bool sv_has_suffix(tw_strview_t a, const char *s)
{
    size_t n = strlen(s);
    return a.len >= n && memcmp(a.p + a.len - n, s, n) == 0;
}

static const tw_expfmt_label_t *find_label(const tw_expfmt_entry_t *e, tw_strview_t name)
{
    for (size_t i = 0; i < e->nlabels; i++) {
        if (sv_eq(e->labels[i].name, name)) {
            return &e->labels[i];
        }
    }
    return NULL;
}

static const tw_expfmt_label_t *find_label_str(const tw_expfmt_entry_t *e, const char *name)
{
    tw_strview_t v = {name, strlen(name)};
    return find_label(e, v);
}

static uint64_t label_hash(const tw_expfmt_label_t *l)
{
    return tw_hash_combine(tw_hash64(l->name.p, l->name.len, 0x6c61626c),
                           tw_hash64(l->value.p, l->value.len, 0x76616c75));
}

/* The hash of e's labels without the one called skip (skip.p NULL: none skipped). */
static uint64_t labels_hash(const tw_expfmt_entry_t *e, tw_strview_t skip)
{
    uint64_t h = 0;
    for (size_t i = 0; i < e->nlabels; i++) {
        if (skip.p != NULL && sv_eq(e->labels[i].name, skip)) {
            continue;
        }
        h += label_hash(&e->labels[i]);
    }
    return h;
}

static uint64_t name_hash(tw_strview_t name, const char *suffix)
{
    char small[256];
    size_t sn = strlen(suffix);
    char *tmp = name.len + sn <= sizeof(small) ? small : tw_xmalloc(name.len + sn);
    memcpy(tmp, name.p, name.len);
    memcpy(tmp + name.len, suffix, sn);
    uint64_t h = tw_hash64(tmp, name.len + sn, 0x6e616d65);
    if (tmp != small) {
        free(tmp);
    }
    return h;
}

static int om_fail(tw_error_t *err, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int om_fail(tw_error_t *err, size_t line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tw_error_set_at(err, TW_EPARSE, NULL, (int)line, 1, "%s", msg);
}

/* The sample-name suffixes a type allows after the family name, "" included where allowed. */
static const char *const *type_suffixes(tw_metric_type_t t)
{
    static const char *const counter[] = {"_total", "_created", NULL};
    static const char *const summary[] = {"", "_count", "_sum", "_created", NULL};
    static const char *const histogram[] = {"_count", "_sum", "_bucket", "_created", NULL};
    static const char *const gaugehistogram[] = {"_gcount", "_gsum", "_bucket", NULL};
    static const char *const info[] = {"_info", NULL};
    static const char *const plain[] = {"", NULL};
    switch (t) {
    case TW_MTYPE_COUNTER:
        return counter;
    case TW_MTYPE_SUMMARY:
        return summary;
    case TW_MTYPE_HISTOGRAM:
        return histogram;
    case TW_MTYPE_GAUGE_HISTOGRAM:
        return gaugehistogram;
    case TW_MTYPE_INFO:
        return info;
    default:
        return plain;
    }
}

static bool is_histogram(tw_metric_type_t t)
{
    return t == TW_MTYPE_HISTOGRAM || t == TW_MTYPE_GAUGE_HISTOGRAM;
}

static const char *type_word(tw_metric_type_t t)
{
    switch (t) {
    case TW_MTYPE_COUNTER:
        return "counter";
    case TW_MTYPE_GAUGE:
        return "gauge";
    case TW_MTYPE_HISTOGRAM:
        return "histogram";
    case TW_MTYPE_GAUGE_HISTOGRAM:
        return "gaugehistogram";
    case TW_MTYPE_SUMMARY:
        return "summary";
    case TW_MTYPE_INFO:
        return "info";
    case TW_MTYPE_STATESET:
        return "stateset";
    default:
        return "unknown";
    }
}

/* ---- histogram runs ----------------------------------------------------------------------- */

static int hc_check(const tw_expfmt_om_state_t *s, size_t line, tw_error_t *err)
{
    int n = (int)s->name.len;
    const char *nm = s->name.p;
    if (!s->hc_has_bucket || !(isinf(s->hc_bucket) && s->hc_bucket > 0)) {
        return om_fail(err, line, "histogram %.*s: +Inf bucket missing", n, nm);
    }
    if (s->hc_has_count && s->hc_value != s->hc_count) {
        return om_fail(err, line, "histogram %.*s: count does not match the +Inf bucket", n, nm);
    }
    if (s->hc_has_sum && !s->hc_has_count) {
        return om_fail(err, line, "histogram %.*s: _count must be present if _sum is", n, nm);
    }
    if (s->hc_has_gsum && !s->hc_has_count) {
        return om_fail(err, line, "histogram %.*s: _gcount must be present if _gsum is", n, nm);
    }
    if (!(s->hc_has_sum || s->hc_has_gsum) && s->hc_has_count) {
        return om_fail(err, line, "histogram %.*s: _sum/_gsum must be present if _count is", n, nm);
    }
    if (s->hc_neg_buckets && s->hc_has_sum) {
        return om_fail(err, line, "histogram %.*s: no _sum allowed with negative buckets", n, nm);
    }
    if (!s->hc_neg_buckets && s->hc_neg_gsum) {
        return om_fail(err, line, "histogram %.*s: negative _gsum without negative buckets", n, nm);
    }
    return 0;
}

static int hc_feed(tw_expfmt_om_state_t *s, const tw_expfmt_entry_t *e, tw_strview_t suffix,
                   uint64_t g, double ts, tw_error_t *err)
{
    bool same = s->hc_active && s->hc_group == g && s->hc_has_ts == e->has_timestamp &&
                (!e->has_timestamp || s->hc_ts == ts);
    if (!same) {
        if (s->hc_active) {
            int rc = hc_check(s, e->line, err);
            if (rc < 0) {
                return rc;
            }
        }
        s->hc_has_bucket = false;
        s->hc_bucket = 0;
        s->hc_value = 0;
        s->hc_has_count = false;
        s->hc_count = 0;
        s->hc_neg_buckets = s->hc_has_sum = s->hc_has_gsum = s->hc_neg_gsum = false;
    }
    s->hc_active = true;
    s->hc_group = g;
    s->hc_has_ts = e->has_timestamp;
    s->hc_ts = ts;
    int n = (int)s->name.len;
    if (sv_eq_str(suffix, "_bucket")) {
        const tw_expfmt_label_t *le = find_label_str(e, "le");
        double b = 0;
        if (le == NULL || !tw_expfmt_parse_float(le->value.p, le->value.len, false, &b)) {
            return om_fail(err, e->line, "histogram %.*s: invalid le", n, s->name.p);
        }
        if (b < 0) {
            s->hc_neg_buckets = true;
        }
        if (s->hc_has_bucket && b <= s->hc_bucket) {
            return om_fail(err, e->line, "histogram %.*s: buckets out of order", n, s->name.p);
        }
        if (e->value < s->hc_value) {
            return om_fail(err, e->line, "histogram %.*s: bucket values decrease", n, s->name.p);
        }
        s->hc_has_bucket = true;
        s->hc_bucket = b;
        s->hc_value = e->value;
    } else if (sv_eq_str(suffix, "_count") || sv_eq_str(suffix, "_gcount")) {
        s->hc_has_count = true;
        s->hc_count = e->value;
    } else if (sv_eq_str(suffix, "_sum")) {
        s->hc_has_sum = true;
    } else if (sv_eq_str(suffix, "_gsum")) {
        s->hc_has_gsum = true;
        if (e->value < 0) {
            s->hc_neg_gsum = true;
        }
    }
    return 0;
}

/* ---- families ----------------------------------------------------------------------------- */

static int family_close(tw_expfmt_om_state_t *s, size_t line, tw_error_t *err)
{
    if (!s->active) {
        return 0;
    }
    s->active = false;
    int n = (int)s->name.len;
    tw_metric_type_t t = s->typed ? s->type : TW_MTYPE_UNTYPED;
    const char *const *sfx = type_suffixes(t);
    bool empty_listed = false;
    for (size_t i = 0; sfx[i] != NULL; i++) {
        empty_listed = empty_listed || sfx[i][0] == '\0';
    }
    /* The family's own name is taken too, whether or not its type uses it for samples. */
    for (size_t i = 0; i == 0 || sfx[i - 1] != NULL; i++) {
        const char *suffix = sfx[i];
        if (suffix == NULL) {
            if (empty_listed) {
                break;
            }
            suffix = "";
        }
        uint64_t h = name_hash(s->name, suffix);
        if (hset_has(&s->seen_names, h)) {
            return om_fail(err, line, "clashing name: %.*s%s is used by two metric families", n,
                           s->name.p, suffix);
        }
        hset_add(&s->seen_names, h);
    }
    if (s->has_unit && s->unit.len > 0 && (t == TW_MTYPE_INFO || t == TW_MTYPE_STATESET)) {
        return om_fail(err, line, "%.*s: %s metrics cannot have a unit", n, s->name.p,
                       type_word(t));
    }
    if (is_histogram(t) && s->hc_active) {
        int rc = hc_check(s, line, err);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static void family_open(tw_expfmt_om_state_t *s, tw_strview_t name)
{
    s->active = true;
    s->name = name;
    s->typed = false;
    s->type_from_line = false;
    s->type = TW_MTYPE_UNTYPED;
    s->has_help = s->has_unit = false;
    s->unit.p = NULL;
    s->unit.len = 0;
    s->nsamples = 0;
    s->has_group = false;
    s->hc_active = false;
    hset_clear(&s->seen_groups);
    hset_clear(&s->group_series);
}

void tw_expfmt_om_state_fini(tw_expfmt_om_state_t *s)
{
    hset_fini(&s->seen_groups);
    hset_fini(&s->group_series);
    hset_fini(&s->seen_names);
}

int tw_expfmt_om_check_meta(tw_expfmt_om_state_t *s, const tw_expfmt_entry_t *e, bool strict,
                            tw_error_t *err)
{
    int n = (int)e->name.len;
    if (e->kind == TW_EXPFMT_ENTRY_UNIT && e->text.len > 0) {
        /* Prometheus checks this on the spot too: the family name ends in "_<unit>". */
        tw_strview_t nm = e->name;
        if (nm.len < e->text.len + 1 ||
            memcmp(nm.p + nm.len - e->text.len, e->text.p, e->text.len) != 0 ||
            nm.p[nm.len - e->text.len - 1] != '_') {
            return om_fail(err, e->line, "unit \"%.*s\" is not a suffix of metric %.*s",
                           (int)e->text.len, e->text.p, n, e->name.p);
        }
    }
    if (!strict) {
        return 0;
    }
    if (s->active && sv_eq(s->name, e->name)) {
        if (s->nsamples > 0) {
            return om_fail(err, e->line, "metadata for %.*s after its samples", n, e->name.p);
        }
    } else {
        int rc = family_close(s, e->line, err);
        if (rc < 0) {
            return rc;
        }
        family_open(s, e->name);
    }
    switch (e->kind) {
    case TW_EXPFMT_ENTRY_HELP:
        if (s->has_help) {
            return om_fail(err, e->line, "second HELP line for %.*s", n, e->name.p);
        }
        s->has_help = true;
        break;
    case TW_EXPFMT_ENTRY_TYPE:
        if (s->typed) {
            return om_fail(err, e->line, "second TYPE line for %.*s", n, e->name.p);
        }
        s->typed = true;
        s->type_from_line = true;
        s->type = e->type;
        break;
    case TW_EXPFMT_ENTRY_UNIT:
        if (s->has_unit) {
            return om_fail(err, e->line, "second UNIT line for %.*s", n, e->name.p);
        }
        s->has_unit = true;
        s->unit = e->text;
        break;
    default:
        break;
    }
    return 0;
}

static bool name_allowed(const tw_expfmt_om_state_t *s, tw_strview_t name)
{
    if (!s->active) {
        return false;
    }
    if (!s->typed) {
        return sv_eq(name, s->name);
    }
    if (name.len < s->name.len || memcmp(name.p, s->name.p, s->name.len) != 0) {
        return false;
    }
    tw_strview_t rest = {name.p + s->name.len, name.len - s->name.len};
    const char *const *sfx = type_suffixes(s->type);
    for (size_t i = 0; sfx[i] != NULL; i++) {
        if (sv_eq_str(rest, sfx[i])) {
            return true;
        }
    }
    return false;
}

static bool is_integral(double v)
{
    return isfinite(v) && floor(v) == v;
}

int tw_expfmt_om_check_sample(tw_expfmt_om_state_t *s, const tw_expfmt_entry_t *e, double ts_sec,
                              bool strict, tw_error_t *err)
{
    if (!strict) {
        if (e->has_exemplar && !sv_has_suffix(e->name, "_total") &&
            !sv_has_suffix(e->name, "_bucket")) {
            return om_fail(err, e->line, "metric name %.*s does not support exemplars",
                           (int)e->name.len, e->name.p);
        }
        return 0;
    }
    int rc;
    if (!name_allowed(s, e->name)) {
        rc = family_close(s, e->line, err);
        if (rc < 0) {
            return rc;
        }
        family_open(s, e->name);
        s->typed = true;
        s->type = TW_MTYPE_UNTYPED;
    }
    s->nsamples++;
    tw_metric_type_t t = s->typed ? s->type : TW_MTYPE_UNTYPED;
    tw_strview_t suffix = {e->name.p + s->name.len, e->name.len - s->name.len};
    int fn = (int)s->name.len;
    const char *fp = s->name.p;
    size_t line = e->line;
    static const tw_strview_t none = {NULL, 0};

    if (t == TW_MTYPE_STATESET && find_label(e, s->name) == NULL) {
        return om_fail(err, line, "stateset %.*s: sample without the %.*s label", fn, fp, fn, fp);
    }
    bool bucket = sv_eq_str(suffix, "_bucket");
    if (bucket) {
        const tw_expfmt_label_t *le = find_label_str(e, "le");
        double b;
        if (le == NULL || sv_eq_str(le->value, "NaN") ||
            !tw_expfmt_parse_float(le->value.p, le->value.len, false, &b) || isnan(b) ||
            (isinf(b) && !sv_eq_str(le->value, "+Inf") && !sv_eq_str(le->value, "-Inf"))) {
            return om_fail(err, line, "%.*s: bucket without a valid le label", fn, fp);
        }
        if (!is_integral(e->value)) {
            return om_fail(err, line, "%.*s: bucket value must be an integer", fn, fp);
        }
    }
    if ((sv_eq_str(suffix, "_count") || sv_eq_str(suffix, "_gcount")) && !is_integral(e->value)) {
        return om_fail(err, line, "%.*s: count value must be an integer", fn, fp);
    }
    if (t == TW_MTYPE_SUMMARY && suffix.len == 0) {
        const tw_expfmt_label_t *q = find_label_str(e, "quantile");
        double qv;
        if (q == NULL || !tw_expfmt_parse_float(q->value.p, q->value.len, false, &qv) ||
            !(qv >= 0 && qv <= 1)) {
            return om_fail(err, line, "summary %.*s: quantile label missing or not in [0, 1]", fn,
                           fp);
        }
    }

    /* Grouping. */
    tw_strview_t skip = none;
    uint64_t g;
    if (t == TW_MTYPE_INFO) {
        g = 0;
    } else {
        if (t == TW_MTYPE_SUMMARY && suffix.len == 0) {
            skip.p = "quantile";
            skip.len = 8;
        } else if (t == TW_MTYPE_STATESET) {
            skip = s->name;
        } else if (is_histogram(t) && bucket) {
            skip.p = "le";
            skip.len = 2;
        }
        g = labels_hash(e, skip);
    }
    if (s->has_group && g != s->group && hset_has(&s->seen_groups, g)) {
        return om_fail(err, line, "%.*s: samples of one label set must be written together", fn,
                       fp);
    }
    bool same_ts = false;
    if (s->has_group && g == s->group) {
        if (e->has_timestamp != s->group_has_ts) {
            return om_fail(err, line, "%.*s: mix of samples with and without timestamps", fn, fp);
        }
        if (s->group_has_ts && s->group_ts > ts_sec && t != TW_MTYPE_INFO) {
            return om_fail(err, line, "%.*s: timestamps went backwards", fn, fp);
        }
    } else {
        hset_clear(&s->group_series);
    }
    if (s->has_group) {
        same_ts =
            e->has_timestamp == s->group_has_ts && (!e->has_timestamp || ts_sec == s->group_ts);
    }
    uint64_t sid =
        tw_hash_combine(tw_hash64(e->name.p, e->name.len, 0x73657269), labels_hash(e, none));
    /* The reference parser drops a repeat of a series at the same timestamp. */
    bool duplicate = same_ts && hset_has(&s->group_series, sid);
    hset_add(&s->group_series, sid);
    s->has_group = true;
    s->group = g;
    s->group_has_ts = e->has_timestamp;
    s->group_ts = ts_sec;
    hset_add(&s->seen_groups, g);

    if (is_histogram(t) && !duplicate) {
        rc = hc_feed(s, e, suffix, g, ts_sec, err);
        if (rc < 0) {
            return rc;
        }
    }

    /* Values. */
    double v = e->value;
    if (t == TW_MTYPE_STATESET && v != 0 && v != 1) {
        return om_fail(err, line, "stateset %.*s: values must be 0 or 1", fn, fp);
    }
    if (t == TW_MTYPE_INFO && v != 1) {
        return om_fail(err, line, "info %.*s: value must be 1", fn, fp);
    }
    if (t == TW_MTYPE_SUMMARY && suffix.len == 0 && v < 0) {
        return om_fail(err, line, "summary %.*s: quantile values cannot be negative", fn, fp);
    }
    static const char *const counterish[] = {"_total",  "_sum",    "_count",
                                             "_bucket", "_gcount", "_gsum"};
    for (size_t i = 0; i < 6; i++) {
        if (!sv_eq_str(suffix, counterish[i])) {
            continue;
        }
        if (isnan(v)) {
            return om_fail(err, line, "%.*s%s: counter-like samples cannot be NaN", fn, fp,
                           counterish[i]);
        }
        if (i < 5 && v < 0) {
            return om_fail(err, line, "%.*s%s: counter-like samples cannot be negative", fn, fp,
                           counterish[i]);
        }
    }
    if (e->has_exemplar && !((is_histogram(t) && sv_has_suffix(e->name, "_bucket")) ||
                             (t == TW_MTYPE_COUNTER && sv_has_suffix(e->name, "_total")))) {
        return om_fail(err, line,
                       "%.*s: only histogram buckets and counter totals can have exemplars",
                       (int)e->name.len, e->name.p);
    }
    return 0;
}

int tw_expfmt_om_check_eof(tw_expfmt_om_state_t *s, size_t line, bool strict, tw_error_t *err)
{
    if (!strict) {
        return 0;
    }
    return family_close(s, line, err);
}
