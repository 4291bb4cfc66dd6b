/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_query_testscript.c - libFuzzer target for the PromQL test-script parser
 * (tw_pt_script_parse) and the series-description parser it uses.
 *
 * The whole input is parsed as a script; every line of it is also parsed as a series
 * description and as a scalar line. Whatever parses is checked for the invariants the runner
 * relies on (sorted, unique label names; values within the limit; a range eval's end not before
 * its start), so the fuzzer finds wrong parses, not only crashes. Nothing is evaluated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/promql_test_int.h"
#include "query/query.h"

static void check_desc(const tw_promql_series_desc_t *d, size_t max)
{
    if (d->n_values > max) {
        abort();
    }
    for (size_t i = 1; i < d->n_labels; i++) {
        if (strcmp(d->labels[i - 1].name, d->labels[i].name) >= 0) {
            abort(); /* sorted and unique */
        }
    }
}

static void check_script(const tw_pt_script_t *sc)
{
    for (size_t i = 0; i < sc->n_cmds; i++) {
        const tw_pt_cmd_t *c = &sc->cmds[i];
        if (c->kind == TW_PT_LOAD) {
            for (size_t k = 0; k < c->load.n_series; k++) {
                check_desc(&c->load.series[k], TW_PROMQL_SERIES_DESC_MAX_VALUES);
            }
        } else if (c->kind == TW_PT_EVAL) {
            const tw_pt_eval_t *ev = &c->eval;
            if (ev->expr == NULL || ev->expr[ev->expr_len] != '\0' || ev->expr_len == 0 ||
                ev->end_ms < ev->start_ms ||
                (ev->range_vector && ev->rv_end_ms < ev->rv_start_ms)) {
                abort();
            }
            for (size_t k = 0; k < ev->n_series; k++) {
                check_desc(&ev->series[k].d, TW_PROMQL_SERIES_DESC_MAX_VALUES);
                if (ev->series[k].d.n_values == 0 ||
                    (!ev->range && !ev->range_vector && ev->series[k].d.n_values != 1)) {
                    abort();
                }
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384) {
        return 0;
    }
    const char *s = (const char *)data;
    tw_pt_script_t *sc = NULL;
    tw_error_t err;
    if (tw_pt_script_parse("fuzz", s, size, &sc, &err) == 0) {
        check_script(sc);
        tw_pt_script_free(sc);
    } else if (sc != NULL) {
        abort();
    }
    for (size_t a = 0; a < size;) {
        const char *nl = memchr(s + a, '\n', size - a);
        size_t e = nl != NULL ? (size_t)(nl - s) : size;
        tw_promql_series_desc_t d;
        if (tw_promql_series_desc_parse(s + a, e - a, false, 4096, &d, &err) == 0) {
            check_desc(&d, 4096);
            tw_promql_series_desc_fini(&d);
        } else if (d.labels != NULL || d.values != NULL) {
            abort();
        }
        double v;
        (void)tw_pt_parse_number(s + a, e - a, &v);
        a = e + 1;
    }
    return 0;
}
