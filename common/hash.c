/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hash.c - 64-bit hashing (see hash.h).
 *
 * How it works: the input is consumed 8 bytes at a time; each word is mixed into the state with
 * a multiply-xorshift step (the "moremur"/splitmix finalizer constants), and the tail bytes are
 * packed into one last word together with the length. The finalizer spreads every input bit
 * over the whole output. Good enough distribution for hash tables and label-set identity
 * (collisions are resolved by comparing labels), and fast: one multiply per 8 bytes.
 */
#include "hash.h"

#include <string.h>

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 27;
    x *= 0x3C79AC492BA7B653ULL;
    x ^= x >> 33;
    x *= 0x1C69B3F74AC4AE35ULL;
    x ^= x >> 27;
    return x;
}

uint64_t tw_hash64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ (0x9E3779B97F4A7C15ULL * (n + 1));
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ mix(w)) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, s, n);
    h = (h ^ mix(tail ^ ((uint64_t)n << 56))) * 0x9E3779B97F4A7C15ULL;
    return mix(h);
}

uint64_t tw_hash_combine(uint64_t h, uint64_t v)
{
    return mix(h ^ (v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2)));
}
