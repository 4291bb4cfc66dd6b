/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expfmt.h - exposition formats: the Prometheus text format 0.0.4 and OpenMetrics 1.0.0.
 *
 * This part writes; the parser comes with the scraper. Writers render metric sets (see
 * common/metric_set.h) into a bounded buffer. Pure: no I/O, no clock. Thread-safe on distinct
 * buffers.
 *
 * OpenMetrics naming: a counter family named "x_total" is written as family "x" with samples
 * "x_total"; a counter whose name does not end in "_total" (cAdvisor's container_memory_failcnt)
 * keeps its name and is typed "unknown", since OpenMetrics requires the suffix and renaming
 * would break users' queries. UNIT is written only when the OpenMetrics family name ends with
 * "_<unit>", as the spec requires.
 */
#ifndef TW_COLLECTOR_EXPFMT_H
#define TW_COLLECTOR_EXPFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/metric_set.h"

typedef enum {
    TW_EXPFMT_TEXT_0_0_4 = 0, /* text/plain; version=0.0.4; charset=utf-8 */
    TW_EXPFMT_OPENMETRICS_1_0_0 = 1,
} tw_expfmt_format_t;

/* The Content-Type header value for a format. Static string. */
const char *tw_expfmt_content_type(tw_expfmt_format_t fmt);

/*
 * Chooses the format for an Accept header the way Prometheus' client library negotiates:
 * OpenMetrics 1.0.0 (or 0.0.1) when application/openmetrics-text is acceptable with a q value at
 * least as high as text/plain's, otherwise text 0.0.4. NULL or empty Accept gives text 0.0.4.
 */
tw_expfmt_format_t tw_expfmt_negotiate(const char *accept);

/*
 * Renders sets[0..nsets) into out in fmt. Families from all sets are written sorted by name;
 * within a family, samples keep their order. Label values and HELP text are escaped as each
 * format requires; OpenMetrics output ends with "# EOF". Returns 0, or TW_ELIMIT when out's
 * limit is reached (out then holds a partial document that must not be sent), or TW_EINVAL
 * when two sets define the same family name with different types.
 */
int tw_expfmt_write(tw_buf_t *out, tw_expfmt_format_t fmt, const tw_mset_t *const *sets,
                    size_t nsets, tw_error_t *err);

/* Whether an Accept-Encoding header value accepts gzip (q > 0). */
bool tw_expfmt_accepts_gzip(const char *accept_encoding);

/* Gzips in[0..len) into out (replacing its contents). Returns 0, TW_ELIMIT or TW_EIO. */
int tw_expfmt_gzip(tw_buf_t *out, const char *in, size_t len, tw_error_t *err);

/* ---- parsing -------------------------------------------------------------------------------
 *
 * A pull parser over one exposition held in memory (a scrape body, stdin). It moves only on
 * success; names and unescaped values are handed out as views that stay valid until the next
 * call to tw_expfmt_parser_next() (or until the parser is freed, for views into the input).
 */

typedef enum {
    TW_EXPFMT_ENTRY_SERIES = 1, /* a sample line */
    TW_EXPFMT_ENTRY_HELP,
    TW_EXPFMT_ENTRY_TYPE,
    TW_EXPFMT_ENTRY_UNIT,
    TW_EXPFMT_ENTRY_COMMENT,
} tw_expfmt_entry_kind_t;

/* A string view; not NUL-terminated unless said otherwise. */
typedef struct tw_strview {
    const char *p;
    size_t len;
} tw_strview_t;

typedef struct tw_expfmt_label {
    tw_strview_t name;
    tw_strview_t value; /* unescaped */
} tw_expfmt_label_t;

typedef struct tw_expfmt_entry {
    tw_expfmt_entry_kind_t kind;
    tw_strview_t name;     /* SERIES: the sample's metric name; HELP/TYPE/UNIT: the family */
    tw_strview_t text;     /* HELP: unescaped text; UNIT: the unit; COMMENT: the text */
    tw_metric_type_t type; /* TYPE */
    const tw_expfmt_label_t *labels; /* SERIES: in the order written */
    size_t nlabels;
    double value;
    bool has_timestamp;
    int64_t timestamp_ms; /* OpenMetrics seconds are converted to ms */
    bool has_exemplar;
    const tw_expfmt_label_t *exemplar_labels;
    size_t exemplar_nlabels;
    double exemplar_value;
    bool exemplar_has_timestamp;
    int64_t exemplar_timestamp_ms;
    size_t line; /* 1-based line of the entry */
} tw_expfmt_entry_t;

typedef struct tw_expfmt_parse_options {
    tw_expfmt_format_t format;
    /* OpenMetrics only: false = strict (every rule of the spec, for `check metrics` and the
     * conformance cases), true = the scrape path's lenient mode (see docs/formats/exposition.md
     * for what it accepts, and why). */
    bool lenient;
    size_t max_labels; /* 0: no limit */
} tw_expfmt_parse_options_t;

typedef struct tw_expfmt_parser tw_expfmt_parser_t;

/* Creates a parser over buf[0..len) (borrowed: must outlive the parser). */
tw_expfmt_parser_t *tw_expfmt_parser_new(const char *buf, size_t len,
                                         const tw_expfmt_parse_options_t *opts);
/* NULL is a no-op. */
void tw_expfmt_parser_free(tw_expfmt_parser_t *p);
/*
 * Reads the next entry. Returns 1 with *out filled, 0 at the end of input (for OpenMetrics:
 * after "# EOF", which must be there), or TW_EPARSE with err naming line, column and the reason
 * ("expected '=' after label name", "counter sample name must end with _total" ...).
 */
int tw_expfmt_parser_next(tw_expfmt_parser_t *p, tw_expfmt_entry_t *out, tw_error_t *err);

/*
 * `tidewatch check metrics`: parses buf[0..len) in fmt (OpenMetrics strictly) and prints the
 * lint findings of promtool's `check metrics` to out, one a line, as promtool prints them
 * ("NAME message"). Returns the number of findings (0: clean), or TW_EPARSE (or TW_ELIMIT) with
 * err naming line, column and the reason when the input does not parse.
 */
int tw_expfmt_check_metrics(const char *buf, size_t len, tw_expfmt_format_t fmt, FILE *out,
                            tw_error_t *err);

#endif
