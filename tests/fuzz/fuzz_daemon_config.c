/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_daemon_config.c - feeds bytes to the tidewatch.yml loader (from memory): the libyaml
 * event parser, the node tree with anchors and aliases, and the schema walk. Any input must give
 * a config or an error with a position, never a crash or a leak; a loaded config must pass the
 * checks the loader promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tw_config_t *c = NULL;
    tw_error_t err;
    int rc = tw_config_load_mem((const char *)data, size, "fuzz.yml", &c, &err);
    if (rc == 0) {
        /* What the loader guarantees about an accepted config. */
        if (c->collector.interval_ms <= 0 || c->web.max_connections == 0 ||
            tw_config_listen_address_check(c->web.listen_address) != 0 ||
            c->global.scrape_timeout_ms > c->global.scrape_interval_ms ||
            c->storage.path[0] == '\0') {
            abort();
        }
        tw_config_free(c);
    } else if (c != NULL || err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
