/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_tsdb_wal.c - libFuzzer target for the WAL reader: the input is a segment image (magic,
 * framed records) parsed as replay does, as the last and as a middle segment; every intact
 * record is decoded with the series/samples decoders. Inputs without the magic are also fed to
 * both payload decoders directly, so the corpus need not carry valid CRCs to reach them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_series(void *ctx, uint64_t ref, const tw_label_t *l, size_t n)
{
    (void)ctx;
    if (ref == 0 || n == 0) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (l[i].name[0] == '\0' || (i > 0 && strcmp(l[i - 1].name, l[i].name) >= 0)) {
            abort(); /* the decoder promises sorted, unique, non-empty names */
        }
        (void)strlen(l[i].value);
    }
    return 0;
}

static int on_sample(void *ctx, uint64_t ref, int64_t t, uint64_t v)
{
    (void)ctx;
    (void)ref;
    (void)t;
    (void)v;
    return 0;
}

static int on_record(void *ctx, int type, const uint8_t *p, size_t len, size_t off)
{
    (void)ctx;
    (void)off;
    if (type == TSDB_REC_SERIES) {
        tsdb_record_series_decode(p, len, on_series, NULL, NULL);
    } else if (type == TSDB_REC_SAMPLES) {
        tsdb_record_samples_decode(p, len, on_sample, NULL, NULL);
    } else if (type == TSDB_REC_SAMPLES2) {
        tsdb_record_samples2_decode(p, len, on_sample, NULL, NULL);
    } else {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size == 0 ? 1 : size);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    tsdb_segment_result_t res;
    tw_buf_t msg;
    tw_buf_init(&msg, 1 << 16);
    for (int last = 0; last < 2; last++) {
        tsdb_segment_parse(copy, size, last != 0, "fuzz", on_record, NULL, &res, &msg);
        if (res.valid_end > size) {
            abort();
        }
        tw_buf_reset(&msg);
    }
    if (size < TSDB_WAL_MAGIC_LEN || (memcmp(copy, TSDB_WAL_MAGIC, TSDB_WAL_MAGIC_LEN) != 0 &&
                                      memcmp(copy, TSDB_WAL_MAGIC_V1, TSDB_WAL_MAGIC_LEN) != 0)) {
        tsdb_record_series_decode(copy, size, on_series, NULL, NULL);
        tsdb_record_samples_decode(copy, size, on_sample, NULL, NULL);
        tsdb_record_samples2_decode(copy, size, on_sample, NULL, NULL);
    }
    tw_buf_fini(&msg);
    free(copy);
    return 0;
}
