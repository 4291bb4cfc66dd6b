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

#endif
