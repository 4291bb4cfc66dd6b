/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_query_parse.c - libFuzzer target for the PromQL parser and printer.
 *
 * Each input is parsed in both compat modes. Whatever parses must print, and the canonical text
 * must parse again to the same tree (compared fully parenthesized) (the printer's round-trip
 * property), so the fuzzer also finds printer/parser disagreements, not only crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

static void check_mode(const char *s, size_t n, tw_promql_compat_t compat)
{
    tw_promql_parse_options_t o = {.compat = compat};
    tw_promql_ast_t *ast = NULL;
    tw_error_t err;
    if (tw_promql_parse(s, n, &o, &ast, &err) != 0) {
        return;
    }
    tw_buf_t text, a, b;
    tw_buf_init(&text, 0);
    tw_buf_init(&a, 0);
    tw_buf_init(&b, 0);
    if (tw_promql_print(tw_promql_ast_root(ast), 0, &text) != 0 ||
        tw_promql_print(tw_promql_ast_root(ast), TW_PROMQL_PRINT_PARENS, &a) != 0) {
        abort();
    }
    tw_promql_ast_free(ast);
    tw_promql_parse_options_t o2 = {.compat = compat, .max_input_bytes = 1 << 24};
    if (tw_promql_parse(text.data, text.len, &o2, &ast, &err) != 0) {
        abort(); /* the canonical text must parse */
    }
    if (tw_promql_print(tw_promql_ast_root(ast), TW_PROMQL_PRINT_PARENS, &b) != 0 ||
        a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
        abort(); /* to the same tree */
    }
    tw_promql_ast_free(ast);
    tw_buf_fini(&text);
    tw_buf_fini(&a);
    tw_buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) {
        return 0;
    }
    check_mode((const char *)data, size, TW_PROMQL_COMPAT_PROMETHEUS3);
    check_mode((const char *)data, size, TW_PROMQL_COMPAT_PROMETHEUS2);
    return 0;
}
