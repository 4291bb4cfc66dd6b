/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_common_httpform.c - libFuzzer target for the HTTP server's input parsers: the
 * application/x-www-form-urlencoded body decoder (whole input) and the listen-address splitter
 * (first line). Checks that every decoded name and value lies inside the form's own storage
 * and that lookups find the first occurrence.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_server_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_http_form_t form;
    memset(&form, 0, sizeof(form));
    tw_http_form_parse(&form, (const char *)data, size);
    for (size_t i = 0; i < form.n; i++) {
        const char *n = form.args[i].name, *v = form.args[i].value;
        if (n < form.store || n > form.store + size || v < form.store || v > form.store + size) {
            abort();
        }
        if (strlen(n) > size || strlen(v) > size) {
            abort();
        }
        const char *first = tw_http_form_get(&form, n);
        if (first == NULL) {
            abort();
        }
    }
    tw_http_form_fini(&form);

    char line[512];
    size_t len = 0;
    while (len < size && len < sizeof(line) - 1 && data[len] != '\n') {
        line[len] = (char)data[len];
        len++;
    }
    line[len] = '\0';
    char host[64], port[8];
    if (tw_http_listen_split(line, host, sizeof(host), port, sizeof(port), NULL) == 0) {
        if (strlen(port) == 0 || strtol(port, NULL, 10) > 65535) {
            abort();
        }
    }
    return 0;
}
