/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_rules_template.c - libFuzzer target for alert templates (alerting/rules/tmpl_*.c).
 *
 * Each input is a template, expanded as an alert annotation with a fixed data set (labels,
 * external labels, value) and a fake query source answering two samples, under small limits.
 * Whatever the input, expansion must return (0 or an error with a message), never crash, and
 * the output must respect the output limit. The load-time check must agree with the parse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/rules/rules.h"

static const tw_label_t q_a[] = {{"__name__", "up"}, {"instance", "a:9100"}};
static const tw_label_t q_b[] = {{"__name__", "up"}, {"instance", "b.example.com:9100"}};
static const tw_qs_point_t p1[] = {{0, 1}};
static const tw_qs_point_t p0[] = {{0, 0.25}};
static const tw_qs_series_t series[] = {{q_b, 2, p0, 1}, {q_a, 2, p1, 1}};

static int instant(void *ctx, const char *expr, int64_t t_ms, tw_qs_result_t *out, tw_error_t *err)
{
    (void)ctx;
    (void)t_ms;
    memset(out, 0, sizeof(*out));
    if (strchr(expr, '!') != NULL) {
        return tw_error_set(err, TW_EPARSE, "1:1: parse error: bang");
    }
    out->type = TW_QS_VECTOR;
    out->series = series;
    out->n_series = strlen(expr) % 3 == 0 ? 0 : 2;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) {
        return 0;
    }
    char *text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    tw_arena_t *a = tw_arena_new(0);
    static const tw_label_t labels[] = {
        {"__name__", "up"}, {"instance", "node1:9100"}, {"job", "node"}};
    static const tw_label_t ext[] = {{"cluster", "prod"}};
    tw_tmpl_value_t *d = tw_tmpl_alert_data(a, labels, 3, ext, 1, "http://prom:9090/p", 0.5);
    tw_tmpl_limits_t lim = {.max_output_bytes = 4096,
                            .max_steps = 20000,
                            .max_range_iterations = 1000,
                            .max_template_depth = 20,
                            .max_memory_bytes = 8u << 20};
    tw_query_source_t qs = {.instant = instant};
    tw_tmpl_env_t env = {.query = &qs, .external_url = "http://prom:9090/p", .limits = &lim};
    tw_buf_t out;
    tw_buf_init(&out, 0);
    tw_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = tw_tmpl_expand_alert("Fuzz", text, d, &env, &out, &err);
    if (rc != 0 && err.msg[0] == '\0') {
        abort(); /* every error says what went wrong */
    }
    if (rc == 0 && out.len > lim.max_output_bytes) {
        abort();
    }
    /* Plain expansion with the whole text as the template and nil data. */
    tw_buf_reset(&out);
    (void)tw_tmpl_expand("t", text, size, NULL, &env, &out, &err);
    int crc = tw_tmpl_check_alert("Fuzz", text, &err);
    if ((rc == TW_EEXEC && crc != 0) || (rc == TW_EPARSE && crc == 0)) {
        abort(); /* the load-time check and the expansion disagree on parsing */
    }
    tw_buf_fini(&out);
    tw_arena_free(a);
    free(text);
    return 0;
}
