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

#endif
