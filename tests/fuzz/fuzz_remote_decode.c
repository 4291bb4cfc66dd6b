/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_remote_decode.c - libFuzzer target for the remote_write 1.0 decoder
 * (tw_remote_write_decode): snappy block format, protobuf WriteRequest, label validation.
 *
 * The input is used twice: as a compressed body (what arrives on the wire), and, compressed with
 * snappy first, as the protobuf itself, so the fuzzer reaches the protobuf and validation code
 * without having to learn snappy. Small limits make the limit paths reachable. Every accepted
 * request is walked completely so ASan sees any bad pointer the decoder hands out.
 *
 * Differential: the input, taken as a decoded protobuf, is also parsed by the hand-written wire
 * parser (tw_remote_write_parse) and by protobuf-c's generated unpacker (tw_remote_pbc_summarize);
 * both must accept the same inputs and read the same labels, samples and metadata.
 */
#include <snappy-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/remote/remote.h"
#include "collector/remote/remote_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink_bytes;

static void walk(const tw_remote_write_request_t *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nseries; i++) {
        const tw_remote_series_t *s = &r->series[i];
        for (size_t k = 0; k < s->nlabels; k++) {
            n += strlen(s->labels[k].name) + strlen(s->labels[k].value);
            if (k > 0 && strcmp(s->labels[k - 1].name, s->labels[k].name) >= 0) {
                abort(); /* the decoder promises sorted, unique names */
            }
        }
        for (size_t k = 0; k < s->nsamples; k++) {
            n += (size_t)s->samples[k].t_ms & 1;
        }
        char buf[128];
        tw_remote_labels_format(s->labels, s->nlabels, buf, sizeof(buf));
        n += strlen(buf);
    }
    for (size_t i = 0; i < r->nmetadata; i++) {
        n += strlen(r->metadata[i].family) + strlen(r->metadata[i].help) +
             strlen(r->metadata[i].unit) + (size_t)r->metadata[i].type;
    }
    sink_bytes += n;
}

static void decode(const void *body, size_t len)
{
    tw_remote_write_limits_t lim = {.max_decoded_bytes = 1u << 20,
                                    .max_decode_memory_bytes = 4u << 20,
                                    .max_labels_per_series = 32};
    tw_remote_write_request_t *r = NULL;
    tw_remote_write_reject_t rej;
    tw_error_t err;
    if (tw_remote_write_decode(body, len, &lim, &r, &rej, &err) == 0) {
        walk(r);
        tw_remote_write_request_free(r);
    } else if (r != NULL || err.msg[0] == '\0' || rej.reason == TW_REMOTE_WRITE_OK) {
        abort();
    }
}

static void differential(const uint8_t *data, size_t size)
{
    tw_remote_wire_summary_t want, got;
    uint8_t *raw = malloc(size + 1);
    if (raw == NULL) {
        return;
    }
    memcpy(raw, data, size);
    int ref = tw_remote_pbc_summarize(raw, size, &want);
    tw_remote_write_request_t *r = tw_remote_write_request_new();
    int rc = tw_remote_write_parse(raw, size, SIZE_MAX, r);
    if ((rc == 0) != (ref == 0)) {
        abort(); /* one accepts what the other refuses */
    }
    if (rc == 0) {
        tw_remote_write_parse_summarize(r, &got);
        if (memcmp(&want, &got, sizeof(want)) != 0) {
            abort(); /* same bytes, different contents */
        }
    }
    tw_remote_write_request_free(r);
    free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    differential(data, size);
    decode(data, size);
    size_t clen = snappy_max_compressed_length(size);
    char *c = malloc(clen != 0 ? clen : 1);
    if (c != NULL && snappy_compress((const char *)data, size, c, &clen) == SNAPPY_OK) {
        decode(c, clen);
    }
    free(c);
    return 0;
}
