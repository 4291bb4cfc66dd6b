/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expfmt_negotiate.c - content negotiation for /metrics: the Accept and Accept-Encoding headers.
 *
 * Accept is read the way Prometheus' Go client reads it (prometheus/common expfmt
 * NegotiateIncludingOpenMetrics over the goautoneg parser), so a scraper gets from tidewatch the
 * format it would get from any Go exporter with OpenMetrics enabled:
 *
 *   - the header is split on ','; each media range is "type/subtype" followed by ';'-separated
 *     parameters; a range without '/' other than "*" is skipped; q defaults to 1 and a q that is
 *     not a number counts as 0 (Go's ParseFloat error leaves 0);
 *   - the ranges are ordered by q (highest first), then concrete types before "*" ones, keeping
 *     the header's order otherwise (goautoneg's insertion sort for short lists);
 *   - the first range that names a format we write wins: text/plain with version 0.0.4 or no
 *     version gives text 0.0.4; application/openmetrics-text with version 1.0.0, 0.0.1 or none
 *     gives OpenMetrics. Everything else (protobuf, "*" ranges, unknown versions) is passed over;
 *     when nothing matches, text 0.0.4.
 *
 * One deliberate difference: for "version=0.0.1" or no version client_golang answers with
 * the content type "application/openmetrics-text; version=0.0.1". We always write and label
 * OpenMetrics 1.0.0, which every OpenMetrics consumer (Prometheus included) reads.
 *
 * Pure, no allocation beyond a bounded stack array; thread-safe.
 */
#include "collector/expfmt/expfmt.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"

/* Media ranges looked at; later ones are ignored (real headers have a handful). */
#define MAX_RANGES 32

/* A piece of the header: [p, p + n). */
typedef struct span {
    const char *p;
    size_t n;
} span_t;

typedef struct media_range {
    span_t type;
    span_t subtype;
    span_t version; /* n == 0 when absent */
    double q;
} media_range_t;

const char *tw_expfmt_content_type(tw_expfmt_format_t fmt)
{
    if (fmt == TW_EXPFMT_OPENMETRICS_1_0_0) {
        return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    }
    return "text/plain; version=0.0.4; charset=utf-8";
}

/* Trims spaces (Go's strings.Trim(s, " ")): only ' ', not tabs. */
static span_t trim_spaces(span_t s)
{
    while (s.n > 0 && s.p[0] == ' ') {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && s.p[s.n - 1] == ' ') {
        s.n--;
    }
    return s;
}

static int span_eq(span_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Finds c in s; returns the index or s.n. */
static size_t span_find(span_t s, char c)
{
    const char *hit = memchr(s.p, c, s.n);
    return hit != NULL ? (size_t)(hit - s.p) : s.n;
}

/*
 * Go's strconv.ParseFloat(s, 32) as goautoneg uses it: the whole (untrimmed) string must be a
 * number, else the result is 0.
 */
static double parse_q(span_t s)
{
    char tmp[32];
    if (s.n == 0 || s.n >= sizeof(tmp)) {
        return 0;
    }
    memcpy(tmp, s.p, s.n);
    tmp[s.n] = '\0';
    /* strtod accepts leading whitespace and hex floats; Go's ParseFloat does not take the
     * former, and nobody sends the latter. */
    if (isspace((unsigned char)tmp[0])) {
        return 0;
    }
    char *end = NULL;
    double q = strtod(tmp, &end);
    if (*end != '\0') {
        return 0;
    }
    /* Out of range: Go returns +-Inf (or 0) with an error that goautoneg ignores; strtod's
     * HUGE_VAL and the float conversion give the same. */
    return (double)(float)q;
}

/* Parses one comma-separated part into r. Returns 0 when the part is skipped. */
static int parse_range(span_t part, media_range_t *r)
{
    part = trim_spaces(part);
    size_t semi = span_find(part, ';');
    span_t media = {part.p, semi};
    size_t slash = span_find(media, '/');
    memset(r, 0, sizeof(*r));
    r->q = 1.0;
    r->type = trim_spaces((span_t){media.p, slash});
    if (slash == media.n) {
        if (!span_eq(r->type, "*")) {
            return 0;
        }
        r->subtype = (span_t){"*", 1};
    } else {
        span_t rest = {media.p + slash + 1, media.n - slash - 1};
        if (span_find(rest, '/') != rest.n) {
            return 0; /* "a/b/c": Go's Split gives three parts and skips it */
        }
        r->subtype = trim_spaces(rest);
    }
    span_t params = {part.p + semi, part.n - semi};
    while (params.n > 0) {
        /* params starts at a ';' */
        params.p++;
        params.n--;
        size_t next = span_find(params, ';');
        span_t param = {params.p, next};
        params.p += next;
        params.n -= next;
        size_t eq = span_find(param, '=');
        if (eq == param.n) {
            continue;
        }
        span_t key = trim_spaces((span_t){param.p, eq});
        span_t val = {param.p + eq + 1, param.n - eq - 1};
        if (span_eq(key, "q")) {
            r->q = parse_q(val);
        } else if (span_eq(key, "version")) {
            r->version = trim_spaces(val);
        }
    }
    return 1;
}

/* goautoneg's ordering: is a before b? */
static int range_less(const media_range_t *a, const media_range_t *b)
{
    if (a->q > b->q) {
        return 1;
    }
    if (!span_eq(a->type, "*") && span_eq(b->type, "*")) {
        return 1;
    }
    if (!span_eq(a->subtype, "*") && span_eq(b->subtype, "*")) {
        return 1;
    }
    return 0;
}

tw_expfmt_format_t tw_expfmt_negotiate(const char *accept)
{
    media_range_t ranges[MAX_RANGES];
    size_t n = 0;
    if (accept == NULL) {
        return TW_EXPFMT_TEXT_0_0_4;
    }
    span_t rest = {accept, strlen(accept)};
    for (;;) {
        size_t comma = span_find(rest, ',');
        if (n < MAX_RANGES && parse_range((span_t){rest.p, comma}, &ranges[n])) {
            n++;
        }
        if (comma == rest.n) {
            break;
        }
        rest.p += comma + 1;
        rest.n -= comma + 1;
    }
    /* Insertion sort with goautoneg's Less, exactly as Go's sort.Sort runs it on short
     * slices (the comparison is not a strict order, so the algorithm matters). */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && range_less(&ranges[j], &ranges[j - 1]); j--) {
            media_range_t tmp = ranges[j];
            ranges[j] = ranges[j - 1];
            ranges[j - 1] = tmp;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const media_range_t *r = &ranges[i];
        if (span_eq(r->type, "text") && span_eq(r->subtype, "plain") &&
            (r->version.n == 0 || span_eq(r->version, "0.0.4"))) {
            return TW_EXPFMT_TEXT_0_0_4;
        }
        if (span_eq(r->type, "application") && span_eq(r->subtype, "openmetrics-text") &&
            (r->version.n == 0 || span_eq(r->version, "1.0.0") || span_eq(r->version, "0.0.1"))) {
            return TW_EXPFMT_OPENMETRICS_1_0_0;
        }
    }
    return TW_EXPFMT_TEXT_0_0_4;
}

/*
 * Accept-Encoding (RFC 9110 section 12.5.3): a comma-separated list of codings with an optional
 * q. gzip is accepted when "gzip" (or its alias "x-gzip") is listed with q > 0, or when it is not
 * listed and "*" is, with q > 0. Coding names are case-insensitive.
 */
bool tw_expfmt_accepts_gzip(const char *accept_encoding)
{
    int gzip_q = -1; /* -1: not listed; else 0 or 1 (q > 0) */
    int star_q = -1;
    if (accept_encoding == NULL) {
        return false;
    }
    span_t rest = {accept_encoding, strlen(accept_encoding)};
    for (;;) {
        size_t comma = span_find(rest, ',');
        span_t part = {rest.p, comma};
        size_t semi = span_find(part, ';');
        span_t coding = {part.p, semi};
        while (coding.n > 0 && (coding.p[0] == ' ' || coding.p[0] == '\t')) {
            coding.p++;
            coding.n--;
        }
        while (coding.n > 0 && (coding.p[coding.n - 1] == ' ' || coding.p[coding.n - 1] == '\t')) {
            coding.n--;
        }
        double q = 1.0;
        span_t params = {part.p + semi, part.n - semi};
        while (params.n > 0) {
            params.p++;
            params.n--;
            size_t next = span_find(params, ';');
            span_t param = {params.p, next};
            params.p += next;
            params.n -= next;
            param = trim_spaces(param);
            if (param.n >= 2 && (param.p[0] == 'q' || param.p[0] == 'Q') && param.p[1] == '=') {
                q = parse_q(trim_spaces((span_t){param.p + 2, param.n - 2}));
            }
        }
        int ok = q > 0;
        if ((coding.n == 4 && strncasecmp(coding.p, "gzip", 4) == 0) ||
            (coding.n == 6 && strncasecmp(coding.p, "x-gzip", 6) == 0)) {
            /* A repeated entry: the most favourable one counts. */
            gzip_q = gzip_q == 1 ? 1 : ok;
        } else if (coding.n == 1 && coding.p[0] == '*') {
            star_q = star_q == 1 ? 1 : ok;
        }
        if (comma == rest.n) {
            break;
        }
        rest.p += comma + 1;
        rest.n -= comma + 1;
    }
    if (gzip_q >= 0) {
        return gzip_q == 1;
    }
    return star_q == 1;
}
