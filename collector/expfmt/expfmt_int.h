/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expfmt_int.h - declarations shared inside collector/expfmt only (writer, negotiation, gzip)
 * and by its unit tests and fuzz targets. No other module includes this file.
 *
 * The float formatters here reproduce what Prometheus' Go libraries print, byte for byte:
 * strconv.FormatFloat(v, 'g', -1, 64) for the text format (client_golang's writeFloat) and the
 * same with ".0" appended to integral values for OpenMetrics (writeOpenMetricsFloat). Pure and
 * thread-safe.
 */
#ifndef TW_COLLECTOR_EXPFMT_INT_H
#define TW_COLLECTOR_EXPFMT_INT_H

#include <stddef.h>

/* Large enough for any output of the formatters below, terminator included. */
#define TW_EXPFMT_FLOAT_MAX 32

/*
 * Writes v into out (TW_EXPFMT_FLOAT_MAX bytes) the way client_golang's text writer does:
 * the shortest digits that read back as v, in exponent form when the decimal exponent is below
 * -4 or at least 6 (Go's 'g' with precision -1: 110826, 1.2185632e+07, 0.0001, 1e-05), and
 * "NaN", "+Inf", "-Inf"; zero (either sign) is "0". Returns the length written.
 */
size_t tw_expfmt_format_float(char *out, double v);

/*
 * Like tw_expfmt_format_float, but appends ".0" when the result has neither '.' nor 'e' (and is
 * finite), as OpenMetrics writers do: 1 -> "1.0", 1e+06 stays "1e+06".
 */
size_t tw_expfmt_format_om_float(char *out, double v);

/* ---- parser internals (expfmt_parse.c, expfmt_parse_om.c, expfmt_check.c) ----------------- */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "collector/expfmt/expfmt.h"

/* An open-addressing set of 64-bit hashes (0 is stored as 1). Memory from tw_grow. */
typedef struct tw_expfmt_hset {
    uint64_t *slots;
    size_t cap; /* a power of two, or 0 */
    size_t count;
} tw_expfmt_hset_t;

/*
 * The strict OpenMetrics checker's state: the family being read and what the spec's
 * cross-line rules need to remember (the reference parser's, prometheus/client_python
 * openmetrics/parser.py). Label sets are remembered as order-independent 64-bit hashes, never
 * copied, so memory is one hash per distinct label group of the current family plus one per
 * family name of the document.
 */
typedef struct tw_expfmt_om_state {
    bool active;         /* a family is open */
    tw_strview_t name;   /* its name: a view into the input */
    bool typed;          /* TYPE seen, or the family was opened by a sample ("unknown") */
    bool type_from_line; /* TYPE came from a TYPE line */
    tw_metric_type_t type;
    bool has_help, has_unit;
    tw_strview_t unit;
    size_t nsamples;
    /* grouping: the current group and the groups seen in this family */
    bool has_group;
    uint64_t group;
    bool group_has_ts;
    double group_ts;
    tw_expfmt_hset_t seen_groups;
    tw_expfmt_hset_t group_series; /* series of the current group (duplicate detection) */
    /* histogram / gaugehistogram consistency over one (group, timestamp) run */
    bool hc_active;
    uint64_t hc_group;
    bool hc_has_ts;
    double hc_ts;
    bool hc_has_bucket;
    double hc_bucket, hc_value;
    bool hc_has_count;
    double hc_count;
    bool hc_neg_buckets, hc_has_sum, hc_has_gsum, hc_neg_gsum;
    /* every family name (with its type's suffixes) of the document */
    tw_expfmt_hset_t seen_names;
} tw_expfmt_om_state_t;

/* Frees the state's memory (the struct itself belongs to the caller). */
void tw_expfmt_om_state_fini(tw_expfmt_om_state_t *s);

/*
 * Feeds a HELP, TYPE or UNIT entry to the checker (strict: every spec rule; lenient: what
 * Prometheus 2.42 checks). Returns 0 or TW_EPARSE (err at e->line, column 1).
 */
int tw_expfmt_om_check_meta(tw_expfmt_om_state_t *s, const tw_expfmt_entry_t *e, bool strict,
                            tw_error_t *err);

/*
 * Feeds a sample. ts_sec is the timestamp as written (seconds), valid when e->has_timestamp.
 * Returns 0 or TW_EPARSE.
 */
int tw_expfmt_om_check_sample(tw_expfmt_om_state_t *s, const tw_expfmt_entry_t *e, double ts_sec,
                              bool strict, tw_error_t *err);

/* Closes the last family at "# EOF" (line is the EOF line). Returns 0 or TW_EPARSE. */
int tw_expfmt_om_check_eof(tw_expfmt_om_state_t *s, size_t line, bool strict, tw_error_t *err);

/*
 * Parses a float the way the given parser does: go_rules = Go's strconv.ParseFloat behind
 * Prometheus' parseFloat (no hex, no '_', overflow is an error), otherwise Python's float() as
 * the OpenMetrics reference parser uses it (overflow gives +-Inf, "+nan" is accepted). Both
 * accept decimal numbers with optional sign, fraction and exponent, and Inf/Infinity/NaN in any
 * case. s[0..n) need not be NUL-terminated. Returns true and *out on success.
 */
bool tw_expfmt_parse_float(const char *s, size_t n, bool go_rules, double *out);

#endif
