/* SPDX-License-Identifier: Apache-2.0 */
/*
 * chunk_xor.c - Gorilla chunks: delta-of-delta timestamps and XOR'ed float bits, byte-compatible
 * with Prometheus' chunkenc.XORChunk (docs/formats/chunks.md). Pure: no I/O, no clock, no locks
 * (the head guards a chunk with its series' stripe lock).
 *
 * How it works: timestamps of a regular scrape differ by the same interval, so the difference of
 * consecutive deltas is 0 and costs one bit; jitter costs 16-24 bits. Values of a slowly changing
 * gauge or counter share sign, exponent and high mantissa bits with the previous value, so their
 * XOR has long runs of leading and trailing zeros: only the "meaningful" middle bits are written,
 * and when they fit the previous window even the window's position is skipped. A typical series
 * costs ~1.3 bytes per sample.
 */
#include <stdlib.h>
#include <string.h>

#include "collector/tsdb/tsdb_int.h"
#include "common/mem.h"

static void ensure(tsdb_chunk_t *c, size_t extra_bits)
{
    size_t need = 2 + (c->nbits + extra_bits + 7) / 8;
    if (need <= c->cap) {
        return;
    }
    size_t ncap = c->cap < 32 ? 32 : c->cap;
    while (ncap < need) {
        ncap += 32;
    }
    c->data = tw_xrealloc(c->data, ncap);
    memset(c->data + c->cap, 0, ncap - c->cap);
    c->cap = (uint32_t)ncap;
}

/* Writes the low nbits of v, most significant first. */
static void put_bits(tsdb_chunk_t *c, uint64_t v, unsigned nbits)
{
    ensure(c, nbits);
    while (nbits > 0) {
        size_t byte = 2 + c->nbits / 8;
        unsigned free_bits = 8 - (c->nbits % 8);
        unsigned take = nbits < free_bits ? nbits : free_bits;
        uint8_t part = (uint8_t)((v >> (nbits - take)) & ((1u << take) - 1));
        c->data[byte] |= (uint8_t)(part << (free_bits - take));
        c->nbits += take;
        nbits -= take;
    }
}

static void put_uvarint(tsdb_chunk_t *c, uint64_t v)
{
    while (v >= 0x80) {
        put_bits(c, (v & 0x7f) | 0x80, 8);
        v >>= 7;
    }
    put_bits(c, v, 8);
}

static void put_varint(tsdb_chunk_t *c, int64_t v)
{
    put_uvarint(c, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void tsdb_chunk_init(tsdb_chunk_t *c, tsdb_xor_state_t *st)
{
    memset(c, 0, sizeof(*c));
    ensure(c, 0);
    memset(st, 0, sizeof(*st));
    st->leading = 0xff;
}

static int bit_range(int64_t x, unsigned n)
{
    return -((INT64_C(1) << (n - 1)) - 1) <= x && x <= (INT64_C(1) << (n - 1));
}

static void write_value(tsdb_chunk_t *c, tsdb_xor_state_t *st, uint64_t vbits)
{
    uint64_t x = vbits ^ st->vbits;
    if (x == 0) {
        put_bits(c, 0, 1);
        return;
    }
    put_bits(c, 1, 1);
    unsigned lz = (unsigned)__builtin_clzll(x);
    unsigned tz = (unsigned)__builtin_ctzll(x);
    if (lz >= 32) {
        lz = 31;
    }
    if (st->leading != 0xff && lz >= st->leading && tz >= st->trailing) {
        put_bits(c, 0, 1);
        put_bits(c, x >> st->trailing, 64u - st->leading - st->trailing);
        return;
    }
    st->leading = (uint8_t)lz;
    st->trailing = (uint8_t)tz;
    put_bits(c, 1, 1);
    put_bits(c, lz, 5);
    unsigned sig = 64 - lz - tz;
    put_bits(c, sig & 63, 6); /* 64 is written as 0 */
    put_bits(c, x >> tz, sig);
}

void tsdb_chunk_append(tsdb_chunk_t *c, tsdb_xor_state_t *st, int64_t t, double v)
{
    uint64_t vbits;
    memcpy(&vbits, &v, sizeof(vbits));
    if (st->n == 0) {
        put_varint(c, t);
        put_bits(c, vbits, 64);
        c->mint = t;
    } else if (st->n == 1) {
        int64_t d = (int64_t)((uint64_t)t - (uint64_t)st->t);
        put_uvarint(c, (uint64_t)d);
        write_value(c, st, vbits);
        st->tdelta = d;
    } else {
        int64_t d = (int64_t)((uint64_t)t - (uint64_t)st->t);
        int64_t dod = (int64_t)((uint64_t)d - (uint64_t)st->tdelta);
        if (dod == 0) {
            put_bits(c, 0, 1);
        } else if (bit_range(dod, 14)) {
            put_bits(c, 2, 2);
            put_bits(c, (uint64_t)dod, 14);
        } else if (bit_range(dod, 17)) {
            put_bits(c, 6, 3);
            put_bits(c, (uint64_t)dod, 17);
        } else if (bit_range(dod, 20)) {
            put_bits(c, 14, 4);
            put_bits(c, (uint64_t)dod, 20);
        } else {
            put_bits(c, 15, 4);
            put_bits(c, (uint64_t)dod, 64);
        }
        write_value(c, st, vbits);
        st->tdelta = d;
    }
    st->t = t;
    st->vbits = vbits;
    st->n++;
    c->maxt = t;
    c->data[0] = (uint8_t)(st->n >> 8);
    c->data[1] = (uint8_t)(st->n & 0xff);
}

size_t tsdb_chunk_bytes(const tsdb_chunk_t *c)
{
    return 2 + (c->nbits + 7) / 8;
}

void tsdb_chunk_trim(tsdb_chunk_t *c)
{
    size_t n = tsdb_chunk_bytes(c);
    if (c->data != NULL && n < c->cap) {
        c->data = tw_xrealloc(c->data, n);
        c->cap = (uint32_t)n;
    }
}

void tsdb_chunk_fini(tsdb_chunk_t *c)
{
    free(c->data);
    c->data = NULL;
    c->cap = 0;
    c->nbits = 0;
}

unsigned tsdb_chunk_count(const uint8_t *bytes, size_t len)
{
    if (len < 2) {
        return 0;
    }
    return ((unsigned)bytes[0] << 8) | bytes[1];
}

/* ---- decoding ----
 *
 * The reader never walks bit by bit: it loads the 8 bytes that hold the next bit (big-endian,
 * zero-padded past the end of the data) and shifts the bit to the top of a word, which leaves at
 * least 57 readable bits. A sample's fields are cut out of that word, the bits they used are
 * counted, and the count is checked against what is left of the data before anything is
 * committed: a field that would run past the end is an error (TW_EIO), never a read past it.
 */

void tsdb_xor_iter_init(tsdb_xor_iter_t *it, const uint8_t *data, size_t len)
{
    memset(it, 0, sizeof(*it));
    it->st.leading = 0xff;
    if (len < 2) {
        it->err = TW_EIO;
        return;
    }
    it->data = data;
    it->n = (uint16_t)tsdb_chunk_count(data, len);
    it->len_bits = (len - 2) * 8;
}

/* At least 57 bits from it->pos at the top of the word (bits past the data read as 0). The
 * caller keeps it->pos <= it->len_bits. */
static inline uint64_t peek_word(const tsdb_xor_iter_t *it)
{
    size_t byte = it->pos >> 3;
    size_t nbytes = it->len_bits >> 3;
    const uint8_t *p = it->data + 2 + byte;
    uint64_t w;
    if (byte + 8 <= nbytes) {
        memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        w = __builtin_bswap64(w);
#endif
    } else {
        w = 0;
        for (size_t i = 0; byte + i < nbytes; i++) {
            w |= (uint64_t)p[i] << (56 - 8 * i);
        }
    }
    return w << (it->pos & 7);
}

/* Reads nbits (1..64), most significant first. */
static int get_bits(tsdb_xor_iter_t *it, unsigned nbits, uint64_t *out)
{
    if (it->pos > it->len_bits || nbits > it->len_bits - it->pos) {
        it->err = TW_EIO;
        return -1;
    }
    if (nbits <= 56) {
        *out = peek_word(it) >> (64 - nbits);
        it->pos += nbits;
        return 0;
    }
    uint64_t hi = peek_word(it) >> (64 - (nbits - 32));
    it->pos += nbits - 32;
    uint64_t lo = peek_word(it) >> 32;
    it->pos += 32;
    *out = (hi << 32) | lo;
    return 0;
}

static int get_uvarint(tsdb_xor_iter_t *it, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint64_t b;
        if (get_bits(it, 8, &b) != 0) {
            return -1;
        }
        if (shift == 63 && b > 1) {
            it->err = TW_EIO;
            return -1;
        }
        v |= (b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    it->err = TW_EIO;
    return -1;
}

/* Fails the iterator (the stream ends before a field that needs `need` bits). */
static inline int short_read(tsdb_xor_iter_t *it, size_t need)
{
    if (need > it->len_bits - it->pos) {
        it->err = TW_EIO;
        return -1;
    }
    return 0;
}

/* The XOR'ed value: '0' (same value), '10' + bits in the previous window, or '11' + 5 bits of
 * leading zeros + 6 bits of length (0 means 64) + the bits. */
static inline int read_value(tsdb_xor_iter_t *it)
{
    if (short_read(it, 1) != 0) {
        return -1;
    }
    uint64_t w = peek_word(it);
    if ((w >> 63) == 0) {
        it->pos += 1;
        return 0;
    }
    unsigned head, sig;
    if (((w >> 62) & 1) == 0) {
        if (it->st.leading == 0xff) {
            it->err = TW_EIO; /* reuse of a window that does not exist */
            return -1;
        }
        head = 2;
        sig = 64u - it->st.leading - it->st.trailing;
    } else {
        unsigned lz = (unsigned)(w >> 57) & 31;
        sig = (unsigned)(w >> 51) & 63;
        if (short_read(it, 13) != 0) {
            return -1;
        }
        if (sig == 0) {
            sig = 64;
        }
        if (lz + sig > 64) {
            it->err = TW_EIO;
            return -1;
        }
        it->st.leading = (uint8_t)lz;
        it->st.trailing = (uint8_t)(64 - lz - sig);
        head = 13;
    }
    if (short_read(it, (size_t)head + sig) != 0) {
        return -1;
    }
    uint64_t bits;
    if (head + sig <= 57) {
        bits = (w << head) >> (64 - sig);
        it->pos += head + sig;
    } else {
        it->pos += head;
        (void)get_bits(it, sig, &bits); /* cannot fail: checked above */
    }
    it->st.vbits ^= bits << it->st.trailing;
    return 0;
}

/* Prometheus' reading of an n-bit dod: values above 1<<(n-1) are negative (see bit_range). */
static inline int64_t sign_extend(uint64_t v, unsigned n)
{
    if (n < 64 && v > ((uint64_t)1 << (n - 1))) {
        v -= (uint64_t)1 << n;
    }
    return (int64_t)v;
}

/* The delta of delta of a sample after the second: '0', '10' + 14 bits, '110' + 17, '1110' +
 * 20 or '1111' + 64. */
static inline int read_dod(tsdb_xor_iter_t *it, int64_t *dod)
{
    if (short_read(it, 1) != 0) {
        return -1;
    }
    uint64_t w = peek_word(it);
    if ((w >> 63) == 0) {
        it->pos += 1;
        *dod = 0;
        return 0;
    }
    unsigned prefix, width;
    if (((w >> 62) & 1) == 0) {
        prefix = 2;
        width = 14;
    } else if (((w >> 61) & 1) == 0) {
        prefix = 3;
        width = 17;
    } else if (((w >> 60) & 1) == 0) {
        prefix = 4;
        width = 20;
    } else {
        if (short_read(it, 4) != 0) {
            return -1;
        }
        it->pos += 4;
        uint64_t raw;
        if (get_bits(it, 64, &raw) != 0) {
            return -1;
        }
        *dod = (int64_t)raw;
        return 0;
    }
    if (short_read(it, (size_t)prefix + width) != 0) {
        return -1;
    }
    *dod = sign_extend((w << prefix) >> (64 - width), width);
    it->pos += prefix + width;
    return 0;
}

static inline bool iter_next(tsdb_xor_iter_t *it)
{
    if (it->err != 0 || it->i >= it->n) {
        return false;
    }
    if (it->i >= 2) {
        int64_t dod;
        if (read_dod(it, &dod) != 0) {
            return false;
        }
        it->st.tdelta = (int64_t)((uint64_t)it->st.tdelta + (uint64_t)dod);
        it->st.t = (int64_t)((uint64_t)it->st.t + (uint64_t)it->st.tdelta);
        if (read_value(it) != 0) {
            return false;
        }
    } else if (it->i == 0) {
        uint64_t u, vb;
        if (get_uvarint(it, &u) != 0 || get_bits(it, 64, &vb) != 0) {
            return false;
        }
        it->st.t = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
        it->st.vbits = vb;
    } else {
        uint64_t d;
        if (get_uvarint(it, &d) != 0) {
            return false;
        }
        it->st.tdelta = (int64_t)d;
        it->st.t = (int64_t)((uint64_t)it->st.t + d);
        if (read_value(it) != 0) {
            return false;
        }
    }
    it->i++;
    return true;
}

bool tsdb_xor_iter_next(tsdb_xor_iter_t *it)
{
    return iter_next(it);
}

size_t tsdb_xor_iter_decode(tsdb_xor_iter_t *it, int64_t *t, uint64_t *vbits, size_t max)
{
    size_t k = 0;
    while (k < max && iter_next(it)) {
        t[k] = it->st.t;
        vbits[k] = it->st.vbits;
        k++;
    }
    return k;
}
