/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tsdb_record.c - WAL record payloads, record framing and the segment parser
 * (docs/formats/wal.md). Pure: works on byte buffers, so the fuzz target drives exactly what
 * replay runs. No I/O, no locks.
 *
 * How segment parsing works: after the 8-byte magic, each record starts with a 16-byte header
 * whose last 4 bytes are a CRC32C of the first 12. A header that verifies gives a trustworthy
 * length, so a bad payload CRC costs only that record. A header that does not verify (or a
 * length beyond the segment) leaves nothing to resynchronize on: in the last segment, if that
 * happens because the bytes ran out or are all zero, it is the torn tail of an unacknowledged
 * write; otherwise it is damage and the rest of the segment is reported lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/mem.h"

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        }
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
        }
    }
}

uint32_t tsdb_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *b = p;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                             (uint32_t)b[3] << 24);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][b[4]] ^
              crc_table[2][b[5]] ^ crc_table[1][b[6]] ^ crc_table[0][b[7]];
        b += 8;
        n -= 8;
    }
    while (n-- > 0) {
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *b++) & 0xff];
    }
    return ~crc;
}

/* ---- varints ---- */

static int put_uvarint(tw_buf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return tw_buf_append(b, tmp, n);
}

static int put_varint(tw_buf_t *b, int64_t v)
{
    return put_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

typedef struct {
    const uint8_t *p;
    size_t n;
    size_t off;
} cursor_t;

static int get_uvarint(cursor_t *c, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (c->off >= c->n) {
            return -1;
        }
        uint8_t byte = c->p[c->off++];
        if (shift == 63 && byte > 1) {
            return -1;
        }
        v |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int get_varint(cursor_t *c, int64_t *out)
{
    uint64_t u;
    if (get_uvarint(c, &u) != 0) {
        return -1;
    }
    *out = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
    return 0;
}

/* ---- series records ---- */

int tsdb_record_series_put(tw_buf_t *b, uint64_t ref, const tw_label_t *labels, size_t n)
{
    int rc = put_uvarint(b, ref);
    rc |= put_uvarint(b, n);
    for (size_t i = 0; i < n; i++) {
        size_t ln = strlen(labels[i].name), lv = strlen(labels[i].value);
        rc |= put_uvarint(b, ln);
        rc |= tw_buf_append(b, labels[i].name, ln);
        rc |= put_uvarint(b, lv);
        rc |= tw_buf_append(b, labels[i].value, lv);
    }
    return rc != 0 ? TW_ELIMIT : 0;
}

#define MAX_LABELS 1024

int tsdb_record_series_decode(const uint8_t *p, size_t n, tsdb_series_cb cb, void *ctx,
                              tw_error_t *err)
{
    cursor_t c = {p, n, 0};
    tw_label_t *lbl = NULL;
    char *strs = NULL; /* all strings of one entry, NUL-separated */
    size_t strs_cap = 0;
    int rc = 0;
    while (c.off < c.n) {
        size_t start = c.off;
        uint64_t ref, nl;
        if (get_uvarint(&c, &ref) != 0 || get_uvarint(&c, &nl) != 0) {
            rc = tw_error_set(err, TW_EPARSE, "series record: bad varint at byte %zu", start);
            goto out;
        }
        if (nl == 0 || nl > MAX_LABELS) {
            rc = tw_error_set(err, TW_EPARSE, "series record: %llu labels at byte %zu",
                              (unsigned long long)nl, start);
            goto out;
        }
        /* Two passes: measure, then copy, so label pointers stay valid. */
        size_t need = 0, save = c.off;
        for (uint64_t i = 0; i < 2 * nl; i++) {
            uint64_t len;
            if (get_uvarint(&c, &len) != 0 || len > c.n - c.off) {
                rc = tw_error_set(err, TW_EPARSE, "series record: truncated label at byte %zu",
                                  c.off);
                goto out;
            }
            c.off += (size_t)len;
            need += (size_t)len + 1;
        }
        c.off = save;
        free(lbl);
        lbl = tw_xmalloc((size_t)nl * sizeof(*lbl));
        if (need > strs_cap) {
            free(strs);
            strs = tw_xmalloc(need);
            strs_cap = need;
        }
        size_t w = 0;
        for (uint64_t i = 0; i < 2 * nl; i++) {
            uint64_t len;
            (void)get_uvarint(&c, &len);
            if (memchr(c.p + c.off, '\0', (size_t)len) != NULL) {
                rc = tw_error_set(err, TW_EPARSE, "series record: NUL byte in a label at byte %zu",
                                  c.off);
                goto out;
            }
            memcpy(strs + w, c.p + c.off, (size_t)len);
            strs[w + len] = '\0';
            if (i % 2 == 0) {
                lbl[i / 2].name = strs + w;
            } else {
                lbl[i / 2].value = strs + w;
            }
            w += (size_t)len + 1;
            c.off += (size_t)len;
        }
        for (uint64_t i = 0; i < nl; i++) {
            if (lbl[i].name[0] == '\0' || (i > 0 && strcmp(lbl[i - 1].name, lbl[i].name) >= 0)) {
                rc = tw_error_set(err, TW_EPARSE,
                                  "series record: labels not sorted or empty at byte %zu", start);
                goto out;
            }
        }
        if (ref == 0) {
            rc = tw_error_set(err, TW_EPARSE, "series record: series id 0 at byte %zu", start);
            goto out;
        }
        rc = cb(ctx, ref, lbl, (size_t)nl);
        if (rc != 0) {
            goto out;
        }
    }
out:
    free(lbl);
    free(strs);
    return rc;
}

/* ---- samples records ---- */

int tsdb_record_samples_put(tw_buf_t *b, tsdb_samples_enc_t *e, uint64_t ref, int64_t t,
                            uint64_t vbits)
{
    int rc = 0;
    if (!e->started) {
        e->started = true;
        e->base_ref = ref;
        e->base_t = t;
        rc |= put_uvarint(b, ref);
        rc |= put_varint(b, t);
    }
    rc |= put_varint(b, (int64_t)(ref - e->base_ref));
    rc |= put_varint(b, (int64_t)((uint64_t)t - (uint64_t)e->base_t));
    uint8_t vb[8];
    for (int i = 0; i < 8; i++) {
        vb[i] = (uint8_t)(vbits >> (8 * i));
    }
    rc |= tw_buf_append(b, vb, 8);
    return rc != 0 ? TW_ELIMIT : 0;
}

int tsdb_record_samples_decode(const uint8_t *p, size_t n, tsdb_sample_cb cb, void *ctx,
                               tw_error_t *err)
{
    cursor_t c = {p, n, 0};
    uint64_t base_ref;
    int64_t base_t;
    if (n == 0) {
        return 0;
    }
    if (get_uvarint(&c, &base_ref) != 0 || get_varint(&c, &base_t) != 0) {
        return tw_error_set(err, TW_EPARSE, "samples record: bad header");
    }
    while (c.off < c.n) {
        size_t start = c.off;
        int64_t dref, dt;
        if (get_varint(&c, &dref) != 0 || get_varint(&c, &dt) != 0 || c.n - c.off < 8) {
            return tw_error_set(err, TW_EPARSE, "samples record: truncated sample at byte %zu",
                                start);
        }
        uint64_t vbits = 0;
        for (int i = 0; i < 8; i++) {
            vbits |= (uint64_t)c.p[c.off + (size_t)i] << (8 * i);
        }
        c.off += 8;
        int rc =
            cb(ctx, base_ref + (uint64_t)dref, (int64_t)((uint64_t)base_t + (uint64_t)dt), vbits);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- samples records, version 2 ---- */

/* Value kinds of a version 2 sample (the low 2 bits of its first uvarint). */
enum { VK_SAME = 0, VK_INT = 1, VK_RAW = 2 };

/* Integers whose zig-zag form fits 49 bits (7 varint bytes) are worth a varint. */
#define VK_INT_MAX (INT64_C(1) << 48)

int tsdb_record_samples2_put(tw_buf_t *b, tsdb_samples2_enc_t *e, uint64_t ref, int64_t t,
                             uint64_t vbits)
{
    int64_t dref = (int64_t)(ref - e->prev_ref);
    uint64_t zref = ((uint64_t)dref << 1) ^ (uint64_t)(dref >> 63);
    if (zref >= (UINT64_C(1) << 62)) {
        return TW_ELIMIT; /* ids are far below 2^61 */
    }
    unsigned kind = VK_RAW;
    int64_t iv = 0;
    double v;
    memcpy(&v, &vbits, sizeof(v));
    if (vbits == e->prev_vbits) {
        kind = VK_SAME;
    } else if (v > (double)-VK_INT_MAX && v < (double)VK_INT_MAX) {
        /* In range, so the cast is defined; the round trip must give the same bits (this
         * excludes fractions and -0). NaN fails the range test. */
        iv = (int64_t)v;
        double back = (double)iv;
        uint64_t bb;
        memcpy(&bb, &back, sizeof(bb));
        if (bb == vbits) {
            kind = VK_INT;
        }
    }
    int rc = put_uvarint(b, zref << 2 | kind);
    rc |= put_varint(b, (int64_t)((uint64_t)t - (uint64_t)e->prev_t));
    if (kind == VK_INT) {
        rc |= put_varint(b, iv);
    } else if (kind == VK_RAW) {
        uint8_t vb[8];
        for (int i = 0; i < 8; i++) {
            vb[i] = (uint8_t)(vbits >> (8 * i));
        }
        rc |= tw_buf_append(b, vb, 8);
    }
    e->prev_ref = ref;
    e->prev_t = t;
    e->prev_vbits = vbits;
    return rc != 0 ? TW_ELIMIT : 0;
}

int tsdb_record_samples2_decode(const uint8_t *p, size_t n, tsdb_sample_cb cb, void *ctx,
                                tw_error_t *err)
{
    cursor_t c = {p, n, 0};
    uint64_t ref = 0, vbits = 0;
    int64_t t = 0;
    while (c.off < c.n) {
        size_t start = c.off;
        uint64_t head;
        int64_t dt;
        if (get_uvarint(&c, &head) != 0 || get_varint(&c, &dt) != 0) {
            return tw_error_set(err, TW_EPARSE, "samples record: truncated sample at byte %zu",
                                start);
        }
        unsigned kind = (unsigned)(head & 3);
        uint64_t zref = head >> 2;
        ref += (uint64_t)(int64_t)((zref >> 1) ^ (~(zref & 1) + 1));
        t = (int64_t)((uint64_t)t + (uint64_t)dt);
        if (kind == VK_INT) {
            int64_t iv;
            if (get_varint(&c, &iv) != 0) {
                return tw_error_set(err, TW_EPARSE, "samples record: truncated sample at byte %zu",
                                    start);
            }
            double v = (double)iv;
            memcpy(&vbits, &v, sizeof(vbits));
        } else if (kind == VK_RAW) {
            if (c.n - c.off < 8) {
                return tw_error_set(err, TW_EPARSE, "samples record: truncated sample at byte %zu",
                                    start);
            }
            vbits = 0;
            for (int i = 0; i < 8; i++) {
                vbits |= (uint64_t)c.p[c.off + (size_t)i] << (8 * i);
            }
            c.off += 8;
        } else if (kind != VK_SAME) {
            return tw_error_set(err, TW_EPARSE, "samples record: bad value kind at byte %zu",
                                start);
        }
        int rc = cb(ctx, ref, t, vbits);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- framing ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int tsdb_record_frame(tw_buf_t *b, int type, const void *payload, size_t len)
{
    if (len > TSDB_WAL_MAX_RECORD) {
        return TW_ELIMIT;
    }
    uint8_t h[TSDB_WAL_HDR] = {0};
    put_le32(h, (uint32_t)len);
    h[4] = (uint8_t)type;
    put_le32(h + 8, tsdb_crc32c(0, payload, len));
    put_le32(h + 12, tsdb_crc32c(0, h, 12));
    if (tw_buf_append(b, h, sizeof(h)) != 0 || tw_buf_append(b, payload, len) != 0) {
        return TW_ELIMIT;
    }
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

int tsdb_segment_parse(const uint8_t *data, size_t len, bool last, const char *name,
                       tsdb_record_cb cb, void *ctx, tsdb_segment_result_t *res, tw_buf_t *msg)
{
    memset(res, 0, sizeof(*res));
    if (len < TSDB_WAL_MAGIC_LEN) {
        if (last && (len == 0 || all_zero(data, len) || memcmp(data, TSDB_WAL_MAGIC, len) == 0 ||
                     memcmp(data, TSDB_WAL_MAGIC_V1, len) == 0)) {
            /* A segment created just before a crash. */
            res->torn = len > 0;
            res->torn_bytes = len;
            return 0;
        }
        if (msg != NULL) {
            tw_buf_printf(msg, "%s: %zu bytes, too short for a WAL segment\n", name, len);
        }
        res->corruptions = 1;
        res->corrupt_bytes = len;
        return TW_EPARSE;
    }
    bool v1 = memcmp(data, TSDB_WAL_MAGIC_V1, TSDB_WAL_MAGIC_LEN) == 0;
    if (!v1 && memcmp(data, TSDB_WAL_MAGIC, TSDB_WAL_MAGIC_LEN) != 0) {
        if (msg != NULL) {
            tw_buf_printf(msg, "%s: not a tidewatch WAL segment (bad magic; a Prometheus WAL?)\n",
                          name);
        }
        res->corruptions = 1;
        res->corrupt_bytes = len;
        return TW_EPARSE;
    }
    size_t off = TSDB_WAL_MAGIC_LEN;
    res->valid_end = off;
    while (off < len) {
        size_t rest = len - off;
        const uint8_t *h = data + off;
        bool hdr_ok = rest >= TSDB_WAL_HDR && get_le32(h + 12) == tsdb_crc32c(0, h, 12) &&
                      (h[4] == TSDB_REC_SERIES || h[4] == TSDB_REC_SAMPLES) && h[5] == 0 &&
                      h[6] == 0 && h[7] == 0 && get_le32(h) <= TSDB_WAL_MAX_RECORD;
        uint32_t plen = hdr_ok ? get_le32(h) : 0;
        if (!hdr_ok || plen > rest - TSDB_WAL_HDR) {
            if (last && (rest < TSDB_WAL_HDR || hdr_ok || all_zero(h, rest))) {
                /* Ran out of bytes inside a record, or zero fill: a torn tail. */
                res->torn = true;
                res->torn_bytes = rest;
                return 0;
            }
            res->corruptions++;
            res->corrupt_bytes += rest;
            if (msg != NULL) {
                tw_buf_printf(msg,
                              "%s offset %zu: %s; the rest of the segment (%zu bytes) is "
                              "skipped\n",
                              name, off,
                              hdr_ok ? "record longer than the segment" : "damaged record header",
                              rest);
            }
            return 0;
        }
        const uint8_t *payload = h + TSDB_WAL_HDR;
        if (get_le32(h + 8) != tsdb_crc32c(0, payload, plen)) {
            res->corruptions++;
            res->corrupt_bytes += TSDB_WAL_HDR + plen;
            if (msg != NULL) {
                tw_buf_printf(msg,
                              "%s offset %zu: checksum mismatch in a %s record of %u bytes; "
                              "that record is skipped\n",
                              name, off, h[4] == TSDB_REC_SERIES ? "series" : "samples", plen);
            }
        } else {
            res->records++;
            int type = h[4] == TSDB_REC_SAMPLES && !v1 ? TSDB_REC_SAMPLES2 : h[4];
            int rc = cb(ctx, type, payload, plen, off);
            if (rc != 0) {
                return rc;
            }
        }
        off += TSDB_WAL_HDR + plen;
        res->valid_end = off;
    }
    return 0;
}
