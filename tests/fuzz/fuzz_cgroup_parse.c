/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_cgroup_parse.c - libFuzzer target for the cgroup file parsers, the Kubernetes quantity
 * parser and container identity. The first byte picks the parser (modulo 10), the rest is the
 * file content: 0 keyed (cpu.stat, memory.stat), 1 single number, 2 signed number, 3 cpu.max,
 * 4 PSI, 5 blkio, 6 io.stat, 7 cgroup.controllers, 8 quantity, 9 identity of a path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/cgroup/cgroup_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    unsigned which = data[0] % 10;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    switch (which) {
    case 0: {
        static const char *const keys[] = {"usage_usec",    "user_usec",   "system_usec",
                                           "nr_periods",    "total_cache", "total_rss",
                                           "inactive_file", "oom_kill"};
        uint64_t v[8];
        uint32_t f;
        (void)tw_cg_parse_keyed(buf, len, keys, 8, v, &f);
        break;
    }
    case 1: {
        uint64_t v;
        (void)tw_cg_parse_u64(buf, len, true, &v);
        break;
    }
    case 2: {
        int64_t v;
        (void)tw_cg_parse_i64(buf, len, &v);
        break;
    }
    case 3: {
        uint64_t q, p;
        (void)tw_cg_parse_cpu_max(buf, len, &q, &p);
        break;
    }
    case 4: {
        tw_cg_psi_t p;
        (void)tw_cg_parse_psi(buf, len, &p);
        break;
    }
    case 5: {
        tw_cg_io_t io;
        if (tw_cg_parse_blkio(buf, len, &io) == 0 && io.n > TW_CG_MAX_DEVICES) {
            abort();
        }
        break;
    }
    case 6: {
        tw_cg_io_t io;
        if (tw_cg_parse_io_stat(buf, len, &io) == 0 && io.n > TW_CG_MAX_DEVICES) {
            abort();
        }
        break;
    }
    case 7:
        (void)tw_cg_parse_controllers(buf, len);
        break;
    case 8: {
        tw_cg_quantity_t q;
        if (tw_cg_quantity_parse(buf, len, &q) == 0) {
            (void)tw_cg_quantity_value(&q);
            (void)tw_cg_quantity_milli(&q);
        }
        break;
    }
    default: {
        /* Paths are NUL-terminated strings: copy into an exact-size buffer. */
        char *p = malloc(len + 1);
        if (p == NULL) {
            return 0;
        }
        memcpy(p, buf, len);
        p[len] = '\0';
        tw_cg_identity_t id;
        tw_cg_identity_parse(p, &id);
        if (strlen(id.container_id) > TW_CG_ID_MAX || strlen(id.pod_uid) > TW_CG_UID_MAX) {
            abort();
        }
        free(p);
        break;
    }
    }
    return 0;
}
