/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_scrape_config.c - libFuzzer target for the scrape_configs parser (relabel rules, regex
 * compilation, static and file_sd configs, HTTP client settings) and, for parsed configs, the
 * target builder on each static target.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "collector/scrape/scrape_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_error_t err;
    tw_yaml_doc_t *doc = NULL;
    if (tw_yaml_doc_parse((const char *)data, size, "fuzz.yml", &doc, &err) != 0) {
        return 0;
    }
    tw_yaml_walk_t w = {"fuzz.yml", &err, NULL};
    tw_scrape_global_t g = {60000, 10000};
    tw_scrape_config_t **cfgs = NULL;
    size_t n = 0;
    if (tw_scrape_configs_parse(&w, tw_yaml_doc_root(doc), &g, "/nonexistent", &cfgs, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < cfgs[i]->nstatic; j++) {
                const tw_scrape_group_t *grp = &cfgs[i]->static_groups[j];
                for (size_t k = 0; k < grp->ntargets && grp->nlabels < 60; k++) {
                    tw_label_t disc[64];
                    size_t nd = 0;
                    for (size_t l = 0; l < grp->nlabels; l++) {
                        disc[nd++] = grp->labels[l];
                    }
                    disc[nd++] = grp->targets[k];
                    tw_scrape_target_t t;
                    if (tw_scrape_target_build(cfgs[i], disc, nd, &t, &err) == 1) {
                        tw_scrape_target_fini(&t);
                    }
                }
            }
        }
        tw_scrape_configs_free(cfgs, n);
    }
    tw_yaml_doc_free(doc);
    return 0;
}
