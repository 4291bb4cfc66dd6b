/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_scrape_filesd.c - libFuzzer target for file_sd files: the first byte picks JSON or YAML,
 * the rest is the file.
 */
#include <stddef.h>
#include <stdint.h>

#include "collector/scrape/scrape_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    tw_error_t err;
    tw_scrape_group_t *g = NULL;
    size_t n = 0;
    bool json = (data[0] & 1) != 0;
    if (tw_scrape_file_sd_parse((const char *)data + 1, size - 1, json, json ? "f.json" : "f.yml",
                                &g, &n, &err) == 0) {
        tw_scrape_groups_free(g, n);
    }
    return 0;
}
