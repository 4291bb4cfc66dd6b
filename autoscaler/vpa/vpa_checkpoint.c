/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpa_checkpoint.c - a container aggregate's checkpoint (VerticalPodAutoscalerCheckpointStatus,
 * version "v3") as bytes, so the daemon can keep recommendations across restarts. The layout is
 * in docs/autoscaling-vpa.md ("Checkpoint format"): little-endian fields, both histograms as
 * (index, scaled weight) pairs, and a CRC-32C (Castagnoli) over everything before it.
 *
 * The decoder is a parser of untrusted bytes: it checks the CRC before reading any field, bounds
 * every count, and says where and what was wrong. Writing and reading files is the caller's job.
 *
 * Pure: no I/O, no clock, no logging. Thread-safe (no state).
 */
#include <stdlib.h>
#include <string.h>

#include "autoscaler/vpa/vpa.h"
#include "common/mem.h"

static const uint8_t magic[4] = {'T', 'W', 'V', 'C'};
#define FORMAT_VERSION 1
/* magic, format, version length, first/last/count, two empty histograms, CRC */
#define MIN_LEN (4 + 1 + 1 + 24 + 2 * 20 + 4)

/* CRC-32C, bitwise: checkpoints are small and written once a minute at most. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static size_t hist_size(const tw_vpa_hist_checkpoint_t *h)
{
    return 20 + 8 * h->n_buckets;
}

static uint8_t *put_hist(uint8_t *p, const tw_vpa_hist_checkpoint_t *h)
{
    uint64_t bits;
    memcpy(&bits, &h->total_weight, sizeof(bits));
    put_u64(p, (uint64_t)h->reference_ms);
    put_u64(p + 8, bits);
    put_u32(p + 16, (uint32_t)h->n_buckets);
    p += 20;
    for (size_t i = 0; i < h->n_buckets; i++) {
        put_u32(p, (uint32_t)h->buckets[i].index);
        put_u32(p + 4, h->buckets[i].weight);
        p += 8;
    }
    return p;
}

uint8_t *tw_vpa_checkpoint_encode(const tw_vpa_aggregate_checkpoint_t *cp, size_t *len,
                                  tw_error_t *err)
{
    size_t vlen = strnlen(cp->version, sizeof(cp->version));
    if (cp->cpu.n_buckets > TW_VPA_HIST_MAX_BUCKETS ||
        cp->memory.n_buckets > TW_VPA_HIST_MAX_BUCKETS) {
        tw_error_set(err, TW_ELIMIT, "checkpoint: more than %d buckets in a histogram",
                     TW_VPA_HIST_MAX_BUCKETS);
        return NULL;
    }
    for (int h = 0; h < 2; h++) {
        const tw_vpa_hist_checkpoint_t *hc = h == 0 ? &cp->cpu : &cp->memory;
        for (size_t i = 0; i < hc->n_buckets; i++) {
            if (hc->buckets[i].index < 0 || hc->buckets[i].index >= TW_VPA_HIST_MAX_BUCKETS) {
                tw_error_set(err, TW_EINVAL, "checkpoint: bucket index %lld out of range",
                             (long long)hc->buckets[i].index);
                return NULL;
            }
        }
    }
    size_t n = 4 + 1 + 1 + vlen + 24 + hist_size(&cp->cpu) + hist_size(&cp->memory) + 4;
    if (n > TW_VPA_CHECKPOINT_MAX_BYTES) {
        tw_error_set(err, TW_ELIMIT, "checkpoint: %zu bytes exceed the limit %u", n,
                     TW_VPA_CHECKPOINT_MAX_BYTES);
        return NULL;
    }
    uint8_t *buf = tw_xmalloc(n), *p = buf;
    memcpy(p, magic, 4);
    p[4] = FORMAT_VERSION;
    p[5] = (uint8_t)vlen;
    memcpy(p + 6, cp->version, vlen);
    p += 6 + vlen;
    put_u64(p, (uint64_t)cp->first_sample_ms);
    put_u64(p + 8, (uint64_t)cp->last_sample_ms);
    put_u64(p + 16, (uint64_t)cp->total_samples);
    p += 24;
    p = put_hist(p, &cp->cpu);
    p = put_hist(p, &cp->memory);
    put_u32(p, crc32c(buf, n - 4));
    *len = n;
    return buf;
}

static int corrupt(tw_error_t *err, size_t off, const char *what)
{
    return tw_error_set(err, TW_EPARSE, "checkpoint is corrupt at byte %zu: %s", off, what);
}

static int get_hist(const uint8_t *data, size_t *off, size_t end, tw_vpa_hist_checkpoint_t *h,
                    tw_error_t *err)
{
    if (end - *off < 20) {
        return corrupt(err, *off, "truncated histogram header (expected 20 bytes)");
    }
    const uint8_t *p = data + *off;
    uint64_t bits = get_u64(p + 8);
    h->reference_ms = (int64_t)get_u64(p);
    memcpy(&h->total_weight, &bits, sizeof(bits));
    uint32_t n = get_u32(p + 16);
    *off += 20;
    if (n > TW_VPA_HIST_MAX_BUCKETS) {
        return corrupt(err, *off - 4, "bucket count exceeds the histogram limit");
    }
    if ((end - *off) / 8 < n) {
        return corrupt(err, *off, "truncated bucket list");
    }
    h->buckets = n == 0 ? NULL : tw_xcalloc(n, sizeof(*h->buckets));
    for (uint32_t i = 0; i < n; i++) {
        h->buckets[i].index = get_u32(data + *off);
        h->buckets[i].weight = get_u32(data + *off + 4);
        *off += 8;
    }
    h->n_buckets = n;
    return 0;
}

int tw_vpa_checkpoint_decode(const uint8_t *data, size_t len, tw_vpa_aggregate_checkpoint_t *cp,
                             tw_error_t *err)
{
    memset(cp, 0, sizeof(*cp));
    if (len > TW_VPA_CHECKPOINT_MAX_BYTES) {
        return tw_error_set(err, TW_ELIMIT, "checkpoint: %zu bytes exceed the limit %u", len,
                            TW_VPA_CHECKPOINT_MAX_BYTES);
    }
    if (len < MIN_LEN) {
        return corrupt(err, len, "truncated (shorter than the smallest checkpoint)");
    }
    if (memcmp(data, magic, 4) != 0) {
        return corrupt(err, 0, "bad magic (expected \"TWVC\")");
    }
    uint32_t want = get_u32(data + len - 4), got = crc32c(data, len - 4);
    if (want != got) {
        return tw_error_set(err, TW_EPARSE,
                            "checkpoint is corrupt: CRC-32C is 0x%08x, the trailer says 0x%08x",
                            got, want);
    }
    if (data[4] != FORMAT_VERSION) {
        return corrupt(err, 4, "unknown format version (expected 1)");
    }
    size_t vlen = data[5], end = len - 4, off = 6;
    if (vlen >= sizeof(cp->version) || end - off < vlen + 24) {
        return corrupt(err, 5, "version string too long or truncated header");
    }
    memcpy(cp->version, data + off, vlen);
    cp->version[vlen] = '\0';
    off += vlen;
    cp->first_sample_ms = (int64_t)get_u64(data + off);
    cp->last_sample_ms = (int64_t)get_u64(data + off + 8);
    cp->total_samples = (int64_t)get_u64(data + off + 16);
    off += 24;
    int rc = get_hist(data, &off, end, &cp->cpu, err);
    if (rc == 0) {
        rc = get_hist(data, &off, end, &cp->memory, err);
    }
    if (rc == 0 && off != end) {
        rc = corrupt(err, off, "trailing bytes before the CRC");
    }
    return rc;
}
