/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_tsdb_chunk.c - libFuzzer target for the XOR chunk decoder: decode arbitrary bytes (it
 * must stop with an error, never read past the end), then re-encode what was decoded and check
 * the round trip is bit-exact.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size == 0 ? 1 : size);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    tsdb_xor_iter_t it;
    tsdb_xor_iter_init(&it, copy, size);
    int64_t ts[1024];
    uint64_t vs[1024];
    size_t n = 0;
    while (n < 1024 && tsdb_xor_iter_next(&it)) {
        ts[n] = it.st.t;
        vs[n] = it.st.vbits;
        n++;
    }
    if (n > 0) {
        tsdb_chunk_t c;
        tsdb_xor_state_t st;
        tsdb_chunk_init(&c, &st);
        for (size_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, &vs[i], sizeof(v));
            tsdb_chunk_append(&c, &st, ts[i], v);
        }
        tsdb_xor_iter_t it2;
        tsdb_xor_iter_init(&it2, c.data, tsdb_chunk_bytes(&c));
        for (size_t i = 0; i < n; i++) {
            if (!tsdb_xor_iter_next(&it2) || it2.st.t != ts[i] || it2.st.vbits != vs[i]) {
                abort();
            }
        }
        tsdb_chunk_fini(&c);
    }
    free(copy);
    return 0;
}
