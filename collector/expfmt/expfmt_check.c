/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expfmt_check.c - `tidewatch check metrics`: parse an exposition and lint it like
 * `promtool check metrics` (Prometheus 2.42, client_golang's testutil/promlint).
 *
 * The exposition is parsed with our parser (OpenMetrics strictly); for the text format we add
 * the rules of prometheus/common's TextParser that promtool enforces and our scrape parser does
 * not (a second HELP or TYPE for a name, TYPE after samples, escapes other than \\, \" and \n).
 * Families are resolved as TextParser does (exact name, else the summary or histogram the
 * suffix belongs to, else a new untyped family); families without samples are not linted.
 * Findings are printed sorted by family then message, "NAME message" one a line, exactly as
 * promtool prints them. promlint's unit check walks a Go map in random order when a name holds
 * several unit words, so promtool's answer varies between runs there; we report the first
 * non-base unit word of the name. Pure but for writing to out; single-threaded.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/expfmt/expfmt_int.h"
#include "common/hash.h"
#include "common/mem.h"

typedef struct lint_family {
    char *name; /* family name as parsed (owned) */
    bool typed;
    tw_metric_type_t type;
    bool has_help;
    size_t nsamples;
    tw_expfmt_hset_t groups; /* histogram/summary: label groups already linted */
} lint_family_t;

typedef struct problem {
    size_t fam;
    char text[96];
} problem_t;

typedef struct checker {
    lint_family_t *fams;
    size_t nfams, cap;
    size_t last; /* index of the last family hit, a cheap cache */
    problem_t *probs;
    size_t nprobs, pcap;
    bool om;
} checker_t;

static const char *const unit_prefixes[] = {
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo",
    "kibi", "mega", "mibi",  "giga",  "gibi",  "tera", "tebi", "peta",  "pebi",
};

static const struct {
    const char *unit, *base;
} units[] = {
    {"amperes", "amperes"},    {"bytes", "bytes"},     {"celsius", "celsius"},
    {"grams", "grams"},        {"joules", "joules"},   {"kelvin", "kelvin"},
    {"meters", "meters"},      {"metres", "metres"},   {"seconds", "seconds"},
    {"volts", "volts"},        {"minutes", "seconds"}, {"hours", "seconds"},
    {"days", "seconds"},       {"weeks", "seconds"},   {"kelvins", "kelvin"},
    {"fahrenheit", "celsius"}, {"rankine", "celsius"}, {"inches", "meters"},
    {"yards", "meters"},       {"miles", "meters"},    {"bits", "bytes"},
    {"calories", "joules"},    {"pounds", "grams"},    {"ounces", "grams"},
};

static const char *const unit_abbreviations[] = {"s",  "ms", "us", "ns", "sec", "b", "kb",
                                                 "mb", "gb", "tb", "pb", "m",   "h", "d"};

static size_t family_find(checker_t *c, const char *name, size_t n)
{
    if (c->last < c->nfams && strlen(c->fams[c->last].name) == n &&
        memcmp(c->fams[c->last].name, name, n) == 0) {
        return c->last;
    }
    for (size_t i = 0; i < c->nfams; i++) {
        if (strlen(c->fams[i].name) == n && memcmp(c->fams[i].name, name, n) == 0) {
            c->last = i;
            return i;
        }
    }
    return SIZE_MAX;
}

static size_t family_add(checker_t *c, const char *name, size_t n)
{
    tw_grow((void **)&c->fams, &c->cap, c->nfams + 1, sizeof(*c->fams));
    lint_family_t *f = &c->fams[c->nfams];
    memset(f, 0, sizeof(*f));
    f->name = tw_xstrndup(name, n);
    f->type = TW_MTYPE_UNTYPED;
    c->last = c->nfams;
    return c->nfams++;
}

static bool type_allows(tw_metric_type_t t, const char *suffix)
{
    static const struct {
        tw_metric_type_t t;
        const char *s;
    } allowed[] = {
        {TW_MTYPE_SUMMARY, "_sum"},
        {TW_MTYPE_SUMMARY, "_count"},
        {TW_MTYPE_SUMMARY, "_created"},
        {TW_MTYPE_HISTOGRAM, "_sum"},
        {TW_MTYPE_HISTOGRAM, "_count"},
        {TW_MTYPE_HISTOGRAM, "_bucket"},
        {TW_MTYPE_HISTOGRAM, "_created"},
        {TW_MTYPE_GAUGE_HISTOGRAM, "_gsum"},
        {TW_MTYPE_GAUGE_HISTOGRAM, "_gcount"},
        {TW_MTYPE_GAUGE_HISTOGRAM, "_bucket"},
        {TW_MTYPE_COUNTER, "_total"},
        {TW_MTYPE_COUNTER, "_created"},
        {TW_MTYPE_INFO, "_info"},
    };
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (allowed[i].t == t && strcmp(allowed[i].s, suffix) == 0) {
            return true;
        }
    }
    return false;
}

/* The family a sample belongs to (TextParser's setOrCreateCurrentMF), creating it if needed. */
static size_t family_for_sample(checker_t *c, tw_strview_t name, const char **suffix_out)
{
    static const char *const suffixes[] = {"_sum",  "_count",  "_bucket", "_created",
                                           "_gsum", "_gcount", "_total",  "_info"};
    *suffix_out = "";
    size_t i = family_find(c, name.p, name.len);
    if (i != SIZE_MAX) {
        return i;
    }
    for (size_t k = 0; k < sizeof(suffixes) / sizeof(suffixes[0]); k++) {
        size_t sn = strlen(suffixes[k]);
        if (name.len <= sn || memcmp(name.p + name.len - sn, suffixes[k], sn) != 0) {
            continue;
        }
        i = family_find(c, name.p, name.len - sn);
        if (i != SIZE_MAX && c->fams[i].typed && type_allows(c->fams[i].type, suffixes[k])) {
            *suffix_out = suffixes[k];
            return i;
        }
    }
    return family_add(c, name.p, name.len);
}

static void problem_add(checker_t *c, size_t fam, const char *text)
{
    tw_grow((void **)&c->probs, &c->pcap, c->nprobs + 1, sizeof(*c->probs));
    c->probs[c->nprobs].fam = fam;
    tw_strlcpy(c->probs[c->nprobs].text, text, sizeof(c->probs[c->nprobs].text));
    c->nprobs++;
}

static bool has_camel(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] >= 'a' && s[i] <= 'z' && s[i + 1] >= 'A' && s[i + 1] <= 'Z') {
            return true;
        }
    }
    return false;
}

/* Lints the labels of one metric (a sample line, or a histogram/summary group). */
static void lint_labels(checker_t *c, size_t fam, const tw_expfmt_entry_t *e, const char *skip)
{
    tw_metric_type_t t = c->fams[fam].type;
    for (size_t i = 0; i < e->nlabels; i++) {
        tw_strview_t ln = e->labels[i].name;
        if (skip != NULL && ln.len == strlen(skip) && memcmp(ln.p, skip, ln.len) == 0) {
            continue;
        }
        if (has_camel(ln.p, ln.len)) {
            problem_add(c, fam, "label names should be written in 'snake_case' not 'camelCase'");
        }
        if (t == TW_MTYPE_UNTYPED) {
            continue;
        }
        if (t != TW_MTYPE_HISTOGRAM && ln.len == 2 && memcmp(ln.p, "le", 2) == 0) {
            problem_add(c, fam, "non-histogram metrics should not have \"le\" label");
        }
        if (t != TW_MTYPE_SUMMARY && ln.len == 8 && memcmp(ln.p, "quantile", 8) == 0) {
            problem_add(c, fam, "non-summary metrics should not have \"quantile\" label");
        }
    }
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), sn = strlen(suffix);
    return n >= sn && memcmp(s + n - sn, suffix, sn) == 0;
}

/* Whether lower-cased name contains "_w_" or ends with "_w". */
static bool has_word(const char *lower, const char *w)
{
    char pat[40];
    snprintf(pat, sizeof(pat), "_%s_", w);
    if (strstr(lower, pat) != NULL) {
        return true;
    }
    pat[strlen(pat) - 1] = '\0';
    return has_suffix(lower, pat);
}

/* The name-only rules of promlint, in the family's text-format spelling. */
static void lint_name(checker_t *c, size_t fam, const char *name)
{
    const lint_family_t *f = &c->fams[fam];
    tw_metric_type_t t = f->typed ? f->type : TW_MTYPE_UNTYPED;
    char msg[96];
    if (!f->has_help) {
        problem_add(c, fam, "no help text");
    }
    /* Units: the first word that is a known unit, possibly prefixed, and not a base unit. */
    for (const char *w = name; *w != '\0';) {
        size_t wn = strcspn(w, "_");
        const char *base = NULL;
        for (size_t u = 0; u < sizeof(units) / sizeof(units[0]) && base == NULL; u++) {
            size_t un = strlen(units[u].unit);
            if (wn == un && memcmp(w, units[u].unit, un) == 0) {
                base = units[u].base;
            }
            for (size_t p = 0; p < sizeof(unit_prefixes) / sizeof(unit_prefixes[0]); p++) {
                size_t pn = strlen(unit_prefixes[p]);
                if (wn == pn + un && memcmp(w, unit_prefixes[p], pn) == 0 &&
                    memcmp(w + pn, units[u].unit, un) == 0) {
                    base = units[u].base;
                }
            }
        }
        if (base != NULL) {
            if (wn != strlen(base) || memcmp(w, base, wn) != 0) {
                snprintf(msg, sizeof(msg), "use base unit \"%s\" instead of \"%.*s\"", base,
                         (int)wn, w);
                problem_add(c, fam, msg);
            }
            break;
        }
        w += wn;
        if (*w == '_') {
            w++;
        }
    }
    bool counter = t == TW_MTYPE_COUNTER;
    bool total = has_suffix(name, "_total");
    if (counter && !total) {
        problem_add(c, fam, "counter metrics should have \"_total\" suffix");
    } else if (t != TW_MTYPE_UNTYPED && !counter && total) {
        problem_add(c, fam, "non-counter metrics should not have \"_total\" suffix");
    }
    if (t != TW_MTYPE_UNTYPED) {
        bool hist = t == TW_MTYPE_HISTOGRAM, sum = t == TW_MTYPE_SUMMARY;
        if (!hist && has_suffix(name, "_bucket")) {
            problem_add(c, fam, "non-histogram metrics should not have \"_bucket\" suffix");
        }
        if (!hist && !sum && has_suffix(name, "_count")) {
            problem_add(c, fam,
                        "non-histogram and non-summary metrics should not have \"_count\" suffix");
        }
        if (!hist && !sum && has_suffix(name, "_sum")) {
            problem_add(c, fam,
                        "non-histogram and non-summary metrics should not have \"_sum\" suffix");
        }
    }
    char *lower = tw_xstrdup(name);
    for (char *q = lower; *q != '\0'; q++) {
        if (*q >= 'A' && *q <= 'Z') {
            *q = (char)(*q - 'A' + 'a');
        }
    }
    static const char *const types[] = {"counter", "gauge", "summary", "histogram",
                                        "gauge_histogram"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (has_word(lower, types[i])) {
            snprintf(msg, sizeof(msg), "metric name should not include type '%s'", types[i]);
            problem_add(c, fam, msg);
        }
    }
    if (strchr(name, ':') != NULL) {
        problem_add(c, fam, "metric names should not contain ':'");
    }
    if (has_camel(name, strlen(name))) {
        problem_add(c, fam, "metric names should be written in 'snake_case' not 'camelCase'");
    }
    for (size_t i = 0; i < sizeof(unit_abbreviations) / sizeof(unit_abbreviations[0]); i++) {
        if (has_word(lower, unit_abbreviations[i])) {
            problem_add(c, fam, "metric names should not contain abbreviated units");
        }
    }
    free(lower);
}

/* The family's name as promlint would see it in the text format. */
static void lint_display_name(const checker_t *c, const lint_family_t *f, char *out, size_t n)
{
    const char *suffix = "";
    if (c->om && f->type == TW_MTYPE_COUNTER && !has_suffix(f->name, "_total")) {
        suffix = "_total";
    } else if (c->om && f->type == TW_MTYPE_INFO && !has_suffix(f->name, "_info")) {
        suffix = "_info";
    }
    snprintf(out, n, "%s%s", f->name, suffix);
}

typedef struct sorted_problem {
    const char *name;
    const char *text;
    size_t seq;
} sorted_problem_t;

static int cmp_problem(const void *a, const void *b)
{
    const sorted_problem_t *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    if (r == 0) {
        r = strcmp(x->text, y->text);
    }
    if (r == 0) {
        r = x->seq < y->seq ? -1 : x->seq > y->seq;
    }
    return r;
}

/*
 * TextParser refuses escapes other than \\, \" and \n in label values and \\, \n in HELP;
 * our parser keeps them, as Prometheus' scraper does. Returns the column of a bad escape, 0.
 */
static size_t bad_escape_col(const char *line, size_t n, bool help)
{
    if (help) {
        for (size_t i = 0; i < n; i++) {
            if (line[i] == '\\') {
                if (i + 1 < n && (line[i + 1] == '\\' || line[i + 1] == 'n')) {
                    i++;
                    continue;
                }
                return i + 1;
            }
        }
        return 0;
    }
    bool quoted = false;
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '"') {
            quoted = !quoted;
        } else if (quoted && line[i] == '\\') {
            if (i + 1 < n && (line[i + 1] == '\\' || line[i + 1] == 'n' || line[i + 1] == '"')) {
                i++;
                continue;
            }
            return i + 1;
        }
    }
    return 0;
}

int tw_expfmt_check_metrics(const char *buf, size_t len, tw_expfmt_format_t fmt, FILE *out,
                            tw_error_t *err)
{
    checker_t c;
    memset(&c, 0, sizeof(c));
    c.om = fmt == TW_EXPFMT_OPENMETRICS_1_0_0;
    tw_expfmt_parse_options_t opts = {fmt, false, 0};
    tw_expfmt_parser_t *p = tw_expfmt_parser_new(buf, len, &opts);
    tw_expfmt_entry_t e;
    sorted_problem_t *sorted = NULL;
    char(*names)[256] = NULL;
    size_t line_no = 1, line_off = 0; /* the raw line under the parser's last entry */
    int rc;
    while ((rc = tw_expfmt_parser_next(p, &e, err)) == 1) {
        while (line_no < e.line) {
            const char *nl = memchr(buf + line_off, '\n', len - line_off);
            line_off = nl != NULL ? (size_t)(nl - buf) + 1 : len;
            line_no++;
        }
        const char *raw = buf + line_off;
        const char *nl = memchr(raw, '\n', len - line_off);
        size_t raw_n = nl != NULL ? (size_t)(nl - raw) : len - line_off;
        if (e.kind == TW_EXPFMT_ENTRY_COMMENT) {
            continue;
        }
        if (!c.om && (e.kind == TW_EXPFMT_ENTRY_SERIES || e.kind == TW_EXPFMT_ENTRY_HELP)) {
            bool help = e.kind == TW_EXPFMT_ENTRY_HELP;
            size_t from = help ? (size_t)(e.name.p + e.name.len - raw) : 0;
            size_t col = bad_escape_col(raw + from, raw_n - from, help);
            if (col > 0) {
                rc = tw_error_set_at(err, TW_EPARSE, NULL, (int)e.line, (int)(from + col),
                                     "invalid escape sequence");
                goto out;
            }
        }
        if (e.kind == TW_EXPFMT_ENTRY_SERIES) {
            const char *suffix;
            size_t fi = family_for_sample(&c, e.name, &suffix);
            lint_family_t *f = &c.fams[fi];
            f->typed = true; /* a sample fixes the type: untyped unless TYPE came first */
            f->nsamples++;
            bool hist = f->type == TW_MTYPE_HISTOGRAM || f->type == TW_MTYPE_GAUGE_HISTOGRAM;
            if (hist || f->type == TW_MTYPE_SUMMARY) {
                const char *skip = NULL;
                if (hist && strcmp(suffix, "_bucket") == 0) {
                    skip = "le";
                } else if (f->type == TW_MTYPE_SUMMARY && suffix[0] == '\0') {
                    skip = "quantile";
                }
                uint64_t g = 0;
                for (size_t i = 0; i < e.nlabels; i++) {
                    tw_strview_t ln = e.labels[i].name;
                    if (skip != NULL && ln.len == strlen(skip) && memcmp(ln.p, skip, ln.len) == 0) {
                        continue;
                    }
                    g += tw_hash_combine(tw_hash64(ln.p, ln.len, 1),
                                         tw_hash64(e.labels[i].value.p, e.labels[i].value.len, 2));
                }
                g = g == 0 ? 1 : g;
                size_t before = f->groups.count;
                /* hset_add is private to the parser; a tiny linear set is enough here. */
                bool seen = false;
                for (size_t k = 0; k < f->groups.count; k++) {
                    if (f->groups.slots[k] == g) {
                        seen = true;
                        break;
                    }
                }
                if (!seen) {
                    tw_grow((void **)&f->groups.slots, &f->groups.cap, before + 1,
                            sizeof(uint64_t));
                    f->groups.slots[f->groups.count++] = g;
                    lint_labels(&c, fi, &e, skip);
                }
            } else {
                lint_labels(&c, fi, &e, NULL);
            }
            continue;
        }
        size_t fi = family_find(&c, e.name.p, e.name.len);
        if (fi == SIZE_MAX) {
            fi = family_add(&c, e.name.p, e.name.len);
        }
        lint_family_t *f = &c.fams[fi];
        if (c.om) {
            /* The strict parser already refused repeated or misplaced metadata. */
            if (e.kind == TW_EXPFMT_ENTRY_TYPE) {
                f->typed = true;
                f->type = e.type;
            } else if (e.kind == TW_EXPFMT_ENTRY_HELP) {
                f->has_help = true;
            }
            continue;
        }
        if (e.kind == TW_EXPFMT_ENTRY_HELP) {
            if (f->has_help) {
                rc = tw_error_set_at(err, TW_EPARSE, NULL, (int)e.line, 1,
                                     "second HELP line for metric name \"%s\"", f->name);
                goto out;
            }
            f->has_help = true;
        } else if (e.kind == TW_EXPFMT_ENTRY_TYPE) {
            if (f->typed) {
                rc = tw_error_set_at(err, TW_EPARSE, NULL, (int)e.line, 1,
                                     "second TYPE line for metric name \"%s\", or TYPE reported "
                                     "after samples",
                                     f->name);
                goto out;
            }
            f->typed = true;
            f->type = e.type;
        }
    }
    if (rc < 0) {
        goto out;
    }
    /* Families without samples are dropped before linting, as TextParser does. */
    names = tw_xcalloc(c.nfams + 1, sizeof(*names));
    for (size_t i = 0; i < c.nfams; i++) {
        lint_display_name(&c, &c.fams[i], names[i], sizeof(names[i]));
        if (c.fams[i].nsamples > 0) {
            lint_name(&c, i, names[i]);
        }
    }
    size_t nreport = 0;
    sorted = tw_xcalloc(c.nprobs + 1, sizeof(*sorted));
    for (size_t i = 0; i < c.nprobs; i++) {
        if (c.fams[c.probs[i].fam].nsamples == 0) {
            continue;
        }
        sorted[nreport].name = names[c.probs[i].fam];
        sorted[nreport].text = c.probs[i].text;
        sorted[nreport].seq = i;
        nreport++;
    }
    qsort(sorted, nreport, sizeof(*sorted), cmp_problem);
    for (size_t i = 0; out != NULL && i < nreport; i++) {
        fprintf(out, "%s %s\n", sorted[i].name, sorted[i].text);
    }
    rc = (int)nreport;
out:
    for (size_t i = 0; i < c.nfams; i++) {
        free(c.fams[i].name);
        free(c.fams[i].groups.slots);
    }
    free(c.fams);
    free(c.probs);
    free(sorted);
    free(names);
    tw_expfmt_parser_free(p);
    return rc;
}
