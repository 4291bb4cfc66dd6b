/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_tsdb_index.c - libFuzzer target for the block index reader (tsdb_index.c,
 * docs/formats/block.md). The first byte is a mode: bit 0 set means "repair the checksums of the
 * TOC, the symbol table and the postings offset table first", so mutations get past the CRCs and
 * reach the decoders behind them. The rest is the index file. Every label name, value, postings
 * list and series entry is then read; the reader must never read outside the buffer and must
 * hand out sorted labels.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Recomputes the CRC of the len-prefixed section at off, when it lies inside the buffer. */
static void fix_section(uint8_t *b, size_t len, uint64_t off)
{
    if (off > len || len - off < 8) {
        return;
    }
    uint32_t l = rd32(b + off);
    if ((uint64_t)l > len - off - 8) {
        return;
    }
    wr32(b + off + 4 + l, tsdb_crc32c(0, b + off + 4, l));
}

static void repair(uint8_t *b, size_t len)
{
    if (len < 57) {
        return;
    }
    uint8_t *t = b + len - 52;
    uint64_t toc[6];
    for (int i = 0; i < 6; i++) {
        toc[i] = (uint64_t)rd32(t + 8 * i) << 32 | rd32(t + 8 * i + 4);
    }
    fix_section(b, len - 52, toc[0]);
    fix_section(b, len - 52, toc[5]);
    wr32(t + 48, tsdb_crc32c(0, t, 48));
}

static void check_labels(const tsdb_iseries_t *s)
{
    for (size_t i = 1; i < s->nlabels; i++) {
        if (strcmp(s->labels[i - 1].name, s->labels[i].name) >= 0) {
            abort();
        }
    }
    for (size_t i = 1; i < s->nchunks; i++) {
        if (s->chunks[i].mint <= s->chunks[i - 1].maxt) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t len = size - 1;
    uint8_t *b = malloc(len + 1);
    memcpy(b, data + 1, len);
    if (data[0] & 1) {
        repair(b, len);
    }
    tsdb_index_t ix;
    if (tsdb_index_open(&ix, b, len, NULL) != 0) {
        free(b);
        return 0;
    }
    tsdb_postings_t p = {0};
    tsdb_iseries_t s = {0};
    const char **names;
    size_t nn;
    tsdb_index_label_names(&ix, &names, &nn);
    for (size_t i = 0; i < nn && i < 64; i++) {
        const char **vals;
        size_t nv;
        tsdb_index_label_values(&ix, names[i], &vals, &nv);
        for (size_t j = 0; j < nv && j < 64; j++) {
            (void)tsdb_index_postings(&ix, names[i], vals[j], &p, NULL);
        }
        free(vals);
    }
    free(names);
    if (tsdb_index_postings(&ix, "", "", &p, NULL) == 0) {
        for (size_t i = 0; i < p.n && i < 4096; i++) {
            if (tsdb_index_series(&ix, p.ids[i], &s, NULL) == 0) {
                check_labels(&s);
            }
        }
    }
    /* Any id, listed or not: the reader checks the range itself. */
    for (uint64_t id = 0; id < 64; id++) {
        if (tsdb_index_series(&ix, id, &s, NULL) == 0) {
            check_labels(&s);
        }
    }
    tw_matcher_t m[2];
    if (tw_matcher_init(&m[0], TW_MATCH_RE, "__name__", ".+", NULL) == 0) {
        if (tw_matcher_init(&m[1], TW_MATCH_NEQ, "job", "x", NULL) == 0) {
            (void)tsdb_index_postings_for_matchers(&ix, m, 2, &p, NULL);
            tw_matcher_fini(&m[1]);
        }
        tw_matcher_fini(&m[0]);
    }
    tsdb_iseries_fini(&s);
    tsdb_postings_fini(&p);
    tsdb_index_close(&ix);
    free(b);
    return 0;
}
