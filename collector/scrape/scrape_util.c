/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape_util.c - small pieces the scraper shares: MD5 (RFC 1321, for the hashmod relabel
 * action, which Prometheus computes with crypto/md5), FNV-1a 64, the stale NaN, the mutable
 * label builder, the label-set encoding used as hash keys, a string-keyed open-addressing hash
 * table, and Go-style formatting of seconds.
 *
 * Pure; thread-safe on distinct objects.
 */
#include "scrape_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/mem.h"

/* ---- MD5 --------------------------------------------------------------------------------- */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const uint8_t md5_r[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                  5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_block(uint32_t h[4], const uint8_t *blk)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)blk[i * 4] | (uint32_t)blk[i * 4 + 1] << 8 |
               (uint32_t)blk[i * 4 + 2] << 16 | (uint32_t)blk[i * 4 + 3] << 24;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
        }
        uint32_t tmp = d;
        d = c;
        c = b;
        uint32_t x = a + f + md5_k[i] + w[g];
        b = b + ((x << md5_r[i]) | (x >> (32 - md5_r[i])));
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

void tw_scrape_md5(const void *data, size_t len, uint8_t out[16])
{
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    const uint8_t *p = data;
    size_t left = len;
    while (left >= 64) {
        md5_block(h, p);
        p += 64;
        left -= 64;
    }
    uint8_t tail[128];
    memset(tail, 0, sizeof(tail));
    if (left > 0) {
        memcpy(tail, p, left);
    }
    tail[left] = 0x80;
    size_t tl = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) {
        tail[tl - 8 + (size_t)i] = (uint8_t)(bits >> (8 * i));
    }
    md5_block(h, tail);
    if (tl == 128) {
        md5_block(h, tail + 64);
    }
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            out[i * 4 + j] = (uint8_t)(h[i] >> (8 * j));
        }
    }
}

uint64_t tw_scrape_fnv64a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

double tw_scrape_stale_nan(void)
{
    uint64_t bits = TW_SCRAPE_STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

bool tw_scrape_is_stale_nan(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits == TW_SCRAPE_STALE_NAN_BITS;
}

const char *tw_scrape_format_seconds(int64_t ms, char *out, size_t outsz)
{
    const char *sign = ms < 0 ? "-" : "";
    uint64_t a = ms < 0 ? (uint64_t)(-(ms + 1)) + 1 : (uint64_t)ms;
    unsigned frac = (unsigned)(a % 1000);
    if (frac == 0) {
        snprintf(out, outsz, "%s%llu", sign, (unsigned long long)(a / 1000));
        return out;
    }
    char f[4];
    snprintf(f, sizeof(f), "%03u", frac);
    for (int i = 2; i > 0 && f[i] == '0'; i--) {
        f[i] = '\0';
    }
    snprintf(out, outsz, "%s%llu.%s", sign, (unsigned long long)(a / 1000), f);
    return out;
}

/* ---- label builder ------------------------------------------------------------------------ */

void tw_scrape_lb_init(tw_scrape_lb_t *b, tw_arena_t *a)
{
    memset(b, 0, sizeof(*b));
    b->a = a;
}

void tw_scrape_lb_fini(tw_scrape_lb_t *b)
{
    free(b->v);
    memset(b, 0, sizeof(*b));
}

void tw_scrape_lb_reset(tw_scrape_lb_t *b)
{
    b->n = 0;
}

const char *tw_scrape_lb_get(const tw_scrape_lb_t *b, const char *name)
{
    const char *v = tw_labels_get(b->v, b->n, name);
    return v != NULL ? v : "";
}

void tw_scrape_lb_del(tw_scrape_lb_t *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->v[i].name, name) == 0) {
            memmove(&b->v[i], &b->v[i + 1], (b->n - i - 1) * sizeof(b->v[0]));
            b->n--;
            return;
        }
    }
}

void tw_scrape_lb_set(tw_scrape_lb_t *b, const char *name, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        tw_scrape_lb_del(b, name);
        return;
    }
    const char *v = tw_arena_strdup(b->a, value);
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->v[i].name, name) == 0) {
            b->v[i].value = v;
            return;
        }
    }
    tw_grow((void **)&b->v, &b->cap, b->n + 1, sizeof(b->v[0]));
    b->v[b->n].name = tw_arena_strdup(b->a, name);
    b->v[b->n].value = v;
    b->n++;
}

void tw_scrape_lb_sort(tw_scrape_lb_t *b)
{
    tw_labels_sort(b->v, b->n);
}

tw_label_t *tw_scrape_labels_dup(const tw_label_t *l, size_t n)
{
    size_t bytes = (n + 1) * sizeof(tw_label_t);
    for (size_t i = 0; i < n; i++) {
        bytes += strlen(l[i].name) + strlen(l[i].value) + 2;
    }
    tw_label_t *out = tw_xmalloc(bytes);
    char *s = (char *)(out + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(l[i].name) + 1, v = strlen(l[i].value) + 1;
        memcpy(s, l[i].name, a);
        out[i].name = s;
        s += a;
        memcpy(s, l[i].value, v);
        out[i].value = s;
        s += v;
    }
    tw_labels_sort(out, n);
    return out;
}

/* ---- label set encoding ------------------------------------------------------------------ */

void tw_scrape_lset_encode(const tw_label_t *l, size_t n, tw_buf_t *b)
{
    for (size_t i = 0; i < n; i++) {
        tw_buf_append(b, l[i].name, strlen(l[i].name) + 1);
        tw_buf_append(b, l[i].value, strlen(l[i].value) + 1);
    }
}

size_t tw_scrape_lset_decode(const char *key, size_t klen, tw_label_t *out, size_t cap)
{
    size_t n = 0;
    size_t off = 0;
    while (off < klen && n < cap) {
        out[n].name = key + off;
        off += strlen(key + off) + 1;
        if (off >= klen) {
            break;
        }
        out[n].value = key + off;
        off += strlen(key + off) + 1;
        n++;
    }
    return n;
}

/* ---- hash table ------------------------------------------------------------------------- */

void tw_scrape_ht_init(tw_scrape_ht_t *h)
{
    memset(h, 0, sizeof(*h));
}

void tw_scrape_ht_fini(tw_scrape_ht_t *h, void (*free_val)(void *))
{
    for (size_t i = 0; i < h->cap; i++) {
        if (h->slots[i].key != NULL) {
            free(h->slots[i].key);
            if (free_val != NULL) {
                free_val(h->slots[i].val);
            }
        }
    }
    free(h->slots);
    memset(h, 0, sizeof(*h));
}

static tw_scrape_ht_entry_t *ht_find(const tw_scrape_ht_t *h, const char *key, size_t klen,
                                     uint64_t hash)
{
    size_t mask = h->cap - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        tw_scrape_ht_entry_t *e = &h->slots[i];
        if (e->key == NULL) {
            return e;
        }
        if (e->hash == hash && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            return e;
        }
    }
}

tw_scrape_ht_entry_t *tw_scrape_ht_get(const tw_scrape_ht_t *h, const char *key, size_t klen)
{
    if (h->n == 0) {
        return NULL;
    }
    tw_scrape_ht_entry_t *e = ht_find(h, key, klen, tw_hash64(key, klen, 0));
    return e->key != NULL ? e : NULL;
}

tw_scrape_ht_entry_t *tw_scrape_ht_put(tw_scrape_ht_t *h, const char *key, size_t klen,
                                       bool *created)
{
    if ((h->n + 1) * 4 > h->cap * 3) {
        size_t ncap = h->cap == 0 ? 16 : h->cap * 2;
        tw_scrape_ht_t nh = {tw_xcalloc(ncap, sizeof(tw_scrape_ht_entry_t)), ncap, h->n};
        for (size_t i = 0; i < h->cap; i++) {
            if (h->slots[i].key != NULL) {
                *ht_find(&nh, h->slots[i].key, h->slots[i].klen, h->slots[i].hash) = h->slots[i];
            }
        }
        free(h->slots);
        *h = nh;
    }
    uint64_t hash = tw_hash64(key, klen, 0);
    tw_scrape_ht_entry_t *e = ht_find(h, key, klen, hash);
    *created = e->key == NULL;
    if (*created) {
        e->key = tw_xmalloc(klen + 1);
        memcpy(e->key, key, klen);
        e->key[klen] = '\0';
        e->klen = klen;
        e->hash = hash;
        e->val = NULL;
        h->n++;
    }
    return e;
}
