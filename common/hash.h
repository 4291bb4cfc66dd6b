/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hash.h - a fast 64-bit non-cryptographic hash for label sets and hash tables.
 *
 * Stable across runs and platforms of the same endianness (it may end up in files), seeded by
 * the caller where a table wants its own seed. Pure, thread-safe.
 */
#ifndef TW_COMMON_HASH_H
#define TW_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hashes n bytes at p with seed. */
uint64_t tw_hash64(const void *p, size_t n, uint64_t seed);
/* Mixes two hashes into one (order matters). */
uint64_t tw_hash_combine(uint64_t h, uint64_t v);

#endif
