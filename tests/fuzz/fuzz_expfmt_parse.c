/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_expfmt_parse.c - libFuzzer target for the exposition parser. The first byte selects
 * the mode (0: text 0.0.4, 1: OpenMetrics strict, 2: OpenMetrics lenient, modulo 3; bit 2 sets
 * a label limit of 4), the rest is the document. Every entry's views must lie in the input or
 * be readable, the parser must terminate, and an error must carry a position. The strict
 * result must imply the lenient one (lenient accepts a superset), and `check metrics` runs on
 * the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/expfmt/expfmt.h"
#include "collector/expfmt/expfmt_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned char sink;

static void touch(tw_strview_t v)
{
    for (size_t i = 0; i < v.len; i++) {
        sink ^= (unsigned char)v.p[i];
    }
}

static int run(const char *doc, size_t len, tw_expfmt_format_t fmt, bool lenient, size_t maxl)
{
    tw_expfmt_parse_options_t o = {fmt, lenient, maxl};
    tw_expfmt_parser_t *p = tw_expfmt_parser_new(doc, len, &o);
    tw_expfmt_entry_t e;
    tw_error_t err;
    int rc;
    size_t last_line = 0;
    while ((rc = tw_expfmt_parser_next(p, &e, &err)) == 1) {
        if (e.line <= last_line) {
            abort(); /* one entry a line, lines only move forward */
        }
        last_line = e.line;
        touch(e.name);
        touch(e.text);
        for (size_t i = 0; i < e.nlabels; i++) {
            touch(e.labels[i].name);
            touch(e.labels[i].value);
        }
        for (size_t i = 0; e.has_exemplar && i < e.exemplar_nlabels; i++) {
            touch(e.exemplar_labels[i].name);
            touch(e.exemplar_labels[i].value);
        }
        if (maxl > 0 && e.nlabels > maxl) {
            abort();
        }
    }
    if (rc < 0 && (err.line < 1 || err.col < 1 || err.msg[0] == '\0')) {
        abort();
    }
    if (rc < 0 && tw_expfmt_parser_next(p, &e, NULL) != rc) {
        abort(); /* errors are sticky */
    }
    tw_expfmt_parser_free(p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    unsigned mode = data[0] % 3;
    size_t maxl = (data[0] & 4) ? 4 : 0;
    const char *doc = (const char *)data + 1;
    size_t len = size - 1;
    if (mode == 0) {
        run(doc, len, TW_EXPFMT_TEXT_0_0_4, false, maxl);
        tw_error_t err;
        (void)tw_expfmt_check_metrics(doc, len, TW_EXPFMT_TEXT_0_0_4, NULL, &err);
        return 0;
    }
    int strict = run(doc, len, TW_EXPFMT_OPENMETRICS_1_0_0, false, maxl);
    int lenient = run(doc, len, TW_EXPFMT_OPENMETRICS_1_0_0, true, maxl);
    if (strict == 0 && lenient != 0) {
        abort();
    }
    if (mode == 1) {
        tw_error_t err;
        (void)tw_expfmt_check_metrics(doc, len, TW_EXPFMT_OPENMETRICS_1_0_0, NULL, &err);
    }
    return 0;
}
