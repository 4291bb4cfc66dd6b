/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arena.h - a bump allocator for memory that lives exactly as long as one collection, one
 * request or one evaluation.
 *
 * Allocations are 16-byte aligned, never freed one by one; tw_arena_reset() releases all of
 * them at once and keeps the first block for reuse. Out of memory aborts (the sizes that reach
 * an arena are already bounded by the input limits). Thread model: one owner at a time.
 */
#ifndef TW_COMMON_ARENA_H
#define TW_COMMON_ARENA_H

#include <stddef.h>

typedef struct tw_arena tw_arena_t;

/* Creates an arena whose blocks are at least block_bytes (0: 16 KiB). */
tw_arena_t *tw_arena_new(size_t block_bytes);
/* Frees the arena and everything allocated from it. NULL is a no-op. */
void tw_arena_free(tw_arena_t *a);
/* Releases every allocation; memory handed out before is invalid afterwards. */
void tw_arena_reset(tw_arena_t *a);
/* Returns n bytes (uninitialized), valid until reset/free. */
void *tw_arena_alloc(tw_arena_t *a, size_t n);
/* Returns n zeroed bytes. */
void *tw_arena_calloc(tw_arena_t *a, size_t n);
/* Copies s (or its first n bytes) into the arena, NUL-terminated. */
char *tw_arena_strdup(tw_arena_t *a, const char *s);
char *tw_arena_strndup(tw_arena_t *a, const char *s, size_t n);
/* printf into the arena. */
char *tw_arena_printf(tw_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes currently handed out plus block overhead (for self-metrics). */
size_t tw_arena_bytes(const tw_arena_t *a);

#endif
