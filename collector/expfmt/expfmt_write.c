/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expfmt_write.c - renders metric sets as Prometheus text 0.0.4 or OpenMetrics 1.0.0.
 *
 * The output is what Prometheus' Go client library (prometheus/common expfmt, as used by
 * promhttp) writes for the same families, so that users who switch from an exporter to
 * tidewatch see the same bytes: families sorted by name, "# HELP" (only when there is help
 * text) then "# TYPE" (then "# UNIT" in OpenMetrics), one line per sample, floats printed like
 * Go's strconv.FormatFloat(v, 'g', -1, 64). Pure: no I/O, no clock; thread-safe on distinct
 * output buffers. See docs/formats/exposition.md for the rules in one place.
 *
 * How merging works: every family of every set goes into one array of references, sorted by
 * name with the set index and the family index as tie-breakers, so equal names end up next to
 * each other in set order. A run of equal names is one family in the output: its HELP and UNIT
 * come from the first set, its samples are the samples of each set in turn. A run whose members
 * disagree on the type is an error (client_golang's Gather refuses the same thing).
 */
#include "collector/expfmt/expfmt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/expfmt/expfmt_int.h"
#include "common/mem.h"

/* A family of one set, with where it came from (for a stable order). */
typedef struct famref {
    const tw_mfamily_t *f;
    size_t set_idx;
    size_t fam_idx;
} famref_t;

/* The output buffer with a sticky error: after the first failed append nothing is written. */
typedef struct writer {
    tw_buf_t *b;
    int rc;
} writer_t;

static void w_mem(writer_t *w, const char *p, size_t n)
{
    if (w->rc == 0 && n > 0) {
        w->rc = tw_buf_append(w->b, p, n);
    }
}

static void w_str(writer_t *w, const char *s)
{
    w_mem(w, s, strlen(s));
}

static void w_chr(writer_t *w, char c)
{
    if (w->rc == 0) {
        w->rc = tw_buf_putc(w->b, c);
    }
}

/*
 * Writes s with backslash and newline escaped, and the double quote too when quote is set
 * (label values in both formats, HELP text in OpenMetrics). Runs of plain bytes go out in one
 * append.
 */
static void w_escaped(writer_t *w, const char *s, int quote)
{
    const char *run = s;
    for (const char *p = s; *p != '\0'; p++) {
        const char *rep = NULL;
        if (*p == '\\') {
            rep = "\\\\";
        } else if (*p == '\n') {
            rep = "\\n";
        } else if (*p == '"' && quote) {
            rep = "\\\"";
        }
        if (rep != NULL) {
            w_mem(w, run, (size_t)(p - run));
            w_str(w, rep);
            run = p + 1;
        }
    }
    w_str(w, run);
}

/*
 * Go's strconv.FormatFloat(v, 'g', -1, 64): the shortest digit string that reads back as v,
 * then %e form when the decimal exponent is < -4 or >= 6 (Go uses 6 as the precision for
 * this decision when the precision is "shortest"), %f form otherwise.
 */
size_t tw_expfmt_format_float(char *out, double v)
{
    if (isnan(v)) {
        return tw_strlcpy(out, "NaN", TW_EXPFMT_FLOAT_MAX);
    }
    if (isinf(v)) {
        return tw_strlcpy(out, v > 0 ? "+Inf" : "-Inf", TW_EXPFMT_FLOAT_MAX);
    }
    if (v == 0) {
        return tw_strlcpy(out, "0", TW_EXPFMT_FLOAT_MAX);
    }
    char tmp[TW_EXPFMT_FLOAT_MAX];
    int prec = 0;
    for (; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
        if (strtod(tmp, NULL) == v) {
            break;
        }
    }
    /* tmp is "[-]d[.ddd]e[+-]XX" with prec + 1 significant digits. */
    const char *e = strchr(tmp, 'e');
    long exp10 = strtol(e + 1, NULL, 10);
    int n;
    if (exp10 < -4 || exp10 >= 6) {
        n = snprintf(out, TW_EXPFMT_FLOAT_MAX, "%s", tmp);
    } else {
        long frac = (long)prec - exp10;
        n = snprintf(out, TW_EXPFMT_FLOAT_MAX, "%.*f", (int)(frac > 0 ? frac : 0), v);
    }
    return (size_t)n;
}

size_t tw_expfmt_format_om_float(char *out, double v)
{
    size_t n = tw_expfmt_format_float(out, v);
    if (isfinite(v) && strpbrk(out, ".e") == NULL && n + 2 < TW_EXPFMT_FLOAT_MAX) {
        out[n++] = '.';
        out[n++] = '0';
        out[n] = '\0';
    }
    return n;
}

static void w_float(writer_t *w, double v, int om)
{
    char tmp[TW_EXPFMT_FLOAT_MAX];
    size_t n = om ? tw_expfmt_format_om_float(tmp, v) : tw_expfmt_format_float(tmp, v);
    w_mem(w, tmp, n);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

static int is_histogram(tw_metric_type_t t)
{
    return t == TW_MTYPE_HISTOGRAM || t == TW_MTYPE_GAUGE_HISTOGRAM;
}

/* Whether the type has "_created" samples in OpenMetrics (and none in text 0.0.4). */
static int has_created(tw_metric_type_t t)
{
    return t == TW_MTYPE_COUNTER || t == TW_MTYPE_SUMMARY || is_histogram(t);
}

/* The family as the OpenMetrics writer names and types it (see expfmt.h). */
typedef struct om_family {
    size_t name_len;     /* OpenMetrics family name: a prefix of the text name */
    const char *type;    /* OpenMetrics type word */
    size_t sample_strip; /* bytes of the text name to drop before a non-empty suffix */
} om_family_t;

static om_family_t om_family_of(const tw_mfamily_t *f)
{
    size_t len = strlen(f->name);
    om_family_t o = {len, "unknown", 0};
    switch (f->type) {
    case TW_MTYPE_COUNTER:
        if (ends_with(f->name, "_total")) {
            o.name_len = len - 6;
            o.type = "counter";
            /* "x_total" has "x_created", not "x_total_created". */
            o.sample_strip = 6;
        }
        break;
    case TW_MTYPE_GAUGE:
        o.type = "gauge";
        break;
    case TW_MTYPE_HISTOGRAM:
        o.type = "histogram";
        break;
    case TW_MTYPE_GAUGE_HISTOGRAM:
        o.type = "gaugehistogram";
        break;
    case TW_MTYPE_SUMMARY:
        o.type = "summary";
        break;
    case TW_MTYPE_INFO:
        /* An info family's samples must end in "_info"; one that does not stays a gauge, as
         * in the text format. */
        if (ends_with(f->name, "_info") && len > 5) {
            o.name_len = len - 5;
            o.type = "info";
        } else {
            o.type = "gauge";
        }
        break;
    case TW_MTYPE_STATESET:
        o.type = "stateset";
        break;
    case TW_MTYPE_UNTYPED:
    default:
        break;
    }
    return o;
}

static const char *text_type_of(tw_metric_type_t t)
{
    switch (t) {
    case TW_MTYPE_INFO:
    case TW_MTYPE_STATESET:
        return "gauge";
    case TW_MTYPE_GAUGE_HISTOGRAM:
        return "histogram";
    default:
        return tw_metric_type_name(t);
    }
}

/*
 * Whether a label value is a bound that OpenMetrics writers print as a float ("le" of a
 * bucket, "quantile" of a summary): client_golang keeps those as numbers and prints 1 as
 * "1.0", so a value that parses completely as a float is re-printed that way.
 */
static int om_numeric_label(const tw_mfamily_t *f, const tw_msample_t *s, const char *name)
{
    if (is_histogram(f->type)) {
        return strcmp(s->suffix, "_bucket") == 0 && strcmp(name, "le") == 0;
    }
    if (f->type == TW_MTYPE_SUMMARY) {
        return s->suffix[0] == '\0' && strcmp(name, "quantile") == 0;
    }
    return 0;
}

static void w_label_value(writer_t *w, const tw_mfamily_t *f, const tw_msample_t *s,
                          const tw_label_t *l, int om)
{
    if (om && om_numeric_label(f, s, l->name) && l->value[0] != '\0') {
        char *end = NULL;
        errno = 0;
        double v = strtod(l->value, &end);
        if (*end == '\0' && errno == 0) {
            w_float(w, v, 1);
            return;
        }
    }
    w_escaped(w, l->value, 1);
}

/*
 * Whether the sample's value is a count that client_golang's OpenMetrics writer prints as an
 * integer (bucket counts and _count of histograms and summaries, _gcount of gauge histograms).
 */
static int om_integer_sample(const tw_mfamily_t *f, const tw_msample_t *s)
{
    double v = s->value;
    if (!(v >= 0 && v < 9223372036854775808.0 && v == floor(v))) {
        return 0;
    }
    if (is_histogram(f->type)) {
        return strcmp(s->suffix, "_bucket") == 0 || strcmp(s->suffix, "_count") == 0 ||
               strcmp(s->suffix, "_gcount") == 0;
    }
    return f->type == TW_MTYPE_SUMMARY && strcmp(s->suffix, "_count") == 0;
}

/*
 * A gauge histogram's count and sum are "_gcount"/"_gsum" in OpenMetrics and "_count"/"_sum" in
 * text 0.0.4 (where it is written as a histogram): accept either spelling in a set.
 */
static const char *gauge_histogram_suffix(const tw_mfamily_t *f, const char *suffix, int om)
{
    if (f->type != TW_MTYPE_GAUGE_HISTOGRAM) {
        return suffix;
    }
    if (om) {
        if (strcmp(suffix, "_count") == 0) {
            return "_gcount";
        }
        if (strcmp(suffix, "_sum") == 0) {
            return "_gsum";
        }
    } else {
        if (strcmp(suffix, "_gcount") == 0) {
            return "_count";
        }
        if (strcmp(suffix, "_gsum") == 0) {
            return "_sum";
        }
    }
    return suffix;
}

static void w_sample(writer_t *w, const tw_mfamily_t *f, const om_family_t *omf,
                     const tw_msample_t *s, int om)
{
    const char *suffix = s->suffix != NULL ? s->suffix : "";
    if (suffix[0] != '\0' && omf->sample_strip > 0) {
        w_mem(w, f->name, strlen(f->name) - omf->sample_strip);
    } else {
        w_str(w, f->name);
    }
    w_str(w, gauge_histogram_suffix(f, suffix, om));
    for (size_t i = 0; i < s->nlabels; i++) {
        w_chr(w, i == 0 ? '{' : ',');
        w_str(w, s->labels[i].name);
        w_str(w, "=\"");
        w_label_value(w, f, s, &s->labels[i], om);
        w_chr(w, '"');
    }
    if (s->nlabels > 0) {
        w_chr(w, '}');
    }
    w_chr(w, ' ');
    if (om && om_integer_sample(f, s)) {
        char tmp[24];
        int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, (uint64_t)s->value);
        w_mem(w, tmp, (size_t)n);
    } else {
        w_float(w, s->value, om);
    }
    if (s->ts_ms != TW_NO_TIMESTAMP) {
        w_chr(w, ' ');
        if (om) {
            w_float(w, (double)s->ts_ms / 1000.0, 1);
        } else {
            char tmp[24];
            int n = snprintf(tmp, sizeof(tmp), "%" PRId64, s->ts_ms);
            w_mem(w, tmp, (size_t)n);
        }
    }
    w_chr(w, '\n');
}

/* Whether the sample is left out of this format. */
static int skip_sample(const tw_mfamily_t *f, const om_family_t *omf, const tw_msample_t *s, int om)
{
    if (s->suffix == NULL || strcmp(s->suffix, "_created") != 0 || !has_created(f->type)) {
        return 0;
    }
    /* Text 0.0.4 has no created timestamps (client_golang does not write them), and an
     * OpenMetrics "unknown" family (a counter without "_total") allows no other sample name. */
    return !om || strcmp(omf->type, "unknown") == 0;
}

/* Writes the descriptor lines of refs[0] and the samples of refs[0..n). */
static void w_family(writer_t *w, const famref_t *refs, size_t n, int om)
{
    const tw_mfamily_t *f = refs[0].f;
    om_family_t omf = om_family_of(f);
    size_t name_len = om ? omf.name_len : strlen(f->name);
    if (f->help != NULL && f->help[0] != '\0') {
        w_str(w, "# HELP ");
        w_mem(w, f->name, name_len);
        w_chr(w, ' ');
        w_escaped(w, f->help, om);
        w_chr(w, '\n');
    }
    w_str(w, "# TYPE ");
    w_mem(w, f->name, name_len);
    w_chr(w, ' ');
    w_str(w, om ? omf.type : text_type_of(f->type));
    w_chr(w, '\n');
    if (om && f->unit != NULL && f->unit[0] != '\0') {
        /* The spec: the family name MUST end with "_" + unit, else no UNIT line. */
        size_t ul = strlen(f->unit);
        if (name_len > ul + 1 && f->name[name_len - ul - 1] == '_' &&
            memcmp(f->name + name_len - ul, f->unit, ul) == 0) {
            w_str(w, "# UNIT ");
            w_mem(w, f->name, name_len);
            w_chr(w, ' ');
            w_str(w, f->unit);
            w_chr(w, '\n');
        }
    }
    for (size_t r = 0; r < n; r++) {
        const tw_mfamily_t *rf = refs[r].f;
        for (size_t i = 0; i < rf->nsamples; i++) {
            if (!skip_sample(f, &omf, &rf->samples[i], om)) {
                w_sample(w, f, &omf, &rf->samples[i], om);
            }
        }
    }
}

static int famref_cmp(const void *a, const void *b)
{
    const famref_t *x = a, *y = b;
    int c = strcmp(x->f->name, y->f->name);
    if (c != 0) {
        return c;
    }
    if (x->set_idx != y->set_idx) {
        return x->set_idx < y->set_idx ? -1 : 1;
    }
    return x->fam_idx < y->fam_idx ? -1 : (x->fam_idx > y->fam_idx ? 1 : 0);
}

int tw_expfmt_write(tw_buf_t *out, tw_expfmt_format_t fmt, const tw_mset_t *const *sets,
                    size_t nsets, tw_error_t *err)
{
    int om = fmt == TW_EXPFMT_OPENMETRICS_1_0_0;
    writer_t w = {out, 0};
    famref_t *refs = NULL;
    size_t nrefs = 0;
    int rc = 0;

    for (size_t s = 0; s < nsets; s++) {
        if (sets[s] != NULL) {
            nrefs += tw_mset_family_count(sets[s]);
        }
    }
    if (nrefs > 0) {
        refs = tw_xcalloc(nrefs, sizeof(*refs));
    }
    size_t k = 0;
    for (size_t s = 0; s < nsets; s++) {
        size_t nf = sets[s] != NULL ? tw_mset_family_count(sets[s]) : 0;
        for (size_t i = 0; i < nf && k < nrefs; i++) {
            refs[k].f = tw_mset_family_at(sets[s], i);
            refs[k].set_idx = s;
            refs[k].fam_idx = i;
            k++;
        }
    }
    if (nrefs > 1) {
        qsort(refs, nrefs, sizeof(*refs), famref_cmp);
    }

    /* Check every run for type conflicts before writing anything. */
    for (size_t i = 1; i < nrefs; i++) {
        const tw_mfamily_t *a = refs[i - 1].f, *b = refs[i].f;
        if (strcmp(a->name, b->name) == 0 && a->type != b->type) {
            rc = tw_error_set(err, TW_EINVAL,
                              "metric family %s has type %s in one metric set and %s in another",
                              a->name, tw_metric_type_name(a->type), tw_metric_type_name(b->type));
            goto out;
        }
    }
    for (size_t i = 0; i < nrefs && w.rc == 0;) {
        size_t j = i + 1;
        while (j < nrefs && strcmp(refs[j].f->name, refs[i].f->name) == 0) {
            j++;
        }
        w_family(&w, refs + i, j - i, om);
        i = j;
    }
    if (om) {
        w_str(&w, "# EOF\n");
    }
    if (w.rc != 0) {
        rc = tw_error_set(err, w.rc, "exposition larger than %zu bytes", out->max);
    }
out:
    free(refs);
    return rc;
}
