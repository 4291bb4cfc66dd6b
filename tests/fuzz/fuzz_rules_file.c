/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_rules_file.c - libFuzzer target for rule files (alerting/rules/rule_file.c).
 *
 * Each input is a rule file. Loading must return 0 with a file whose counts agree, or an error
 * with at least one non-empty message; never crash. A loaded file's groups are then evaluated
 * once against a fake query source answering one sample, to exercise the state machine and the
 * templates with whatever rules the input held.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/rules/rules.h"

static const tw_label_t lab[] = {{"__name__", "up"}, {"instance", "a:9100"}};
static const tw_qs_point_t pt[] = {{0, 1}};
static const tw_qs_series_t series[] = {{lab, 2, pt, 1}};

static int instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out, tw_error_t *err)
{
    (void)ctx;
    (void)t_ms;
    memset(out, 0, sizeof(*out));
    if (strchr(expr, '!') != NULL) {
        return tw_error_set(err, TW_EEXEC, "bang");
    }
    out->type = TW_QS_VECTOR;
    out->series = series;
    out->n_series = strlen(expr) % 2;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) {
        return 0;
    }
    tw_rule_errors_t errs = {0};
    tw_rule_file_t *f = NULL;
    int rc = tw_rule_file_parse("fuzz.yml", (const char *)data, size, NULL, &f, &errs);
    if (rc != 0) {
        if (errs.n == 0 || errs.msgs[0][0] == '\0' || f != NULL) {
            abort();
        }
    } else {
        if (f == NULL || errs.n != 0) {
            abort();
        }
        tw_query_source_t qs = {.instant = instant};
        tw_rule_group_options_t o = {.query = &qs};
        for (size_t i = 0; i < f->n_groups && i < 4; i++) {
            tw_rule_group_t *g = tw_rule_group_new(&f->groups[i], "fuzz.yml", &o);
            tw_rule_group_set_restored(g);
            tw_rule_group_eval(g, 0);
            tw_rule_group_eval(g, 60000);
            tw_rule_group_free(g);
        }
    }
    tw_rule_file_free(f);
    tw_rule_errors_fini(&errs);
    return 0;
}
