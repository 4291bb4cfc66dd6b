/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arena.c - bump allocator (see arena.h).
 *
 * Blocks form a singly linked list, newest first. An allocation larger than a quarter block
 * gets a block of its own so big strings do not waste the tail of the current block. Reset
 * frees all blocks but one standard-size block, which is reused. One owner at a time.
 */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

#define ARENA_ALIGN 16

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes in data */
    size_t used;
    _Alignas(16) unsigned char data[];
} block_t;

struct tw_arena {
    block_t *head;
    size_t block_bytes;
    size_t total; /* bytes of all blocks */
};

static block_t *block_new(size_t size)
{
    block_t *b = tw_xmalloc(sizeof(block_t) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

tw_arena_t *tw_arena_new(size_t block_bytes)
{
    tw_arena_t *a = tw_xcalloc(1, sizeof(*a));
    a->block_bytes = block_bytes == 0 ? 16384 : block_bytes;
    return a;
}

void tw_arena_reset(tw_arena_t *a)
{
    block_t *keep = NULL;
    block_t *b = a->head;
    while (b != NULL) {
        block_t *next = b->next;
        if (keep == NULL && b->size == a->block_bytes) {
            keep = b;
        } else {
            free(b);
        }
        b = next;
    }
    a->head = keep;
    a->total = 0;
    if (keep != NULL) {
        keep->used = 0;
        keep->next = NULL;
        a->total = sizeof(block_t) + keep->size;
    }
}

void tw_arena_free(tw_arena_t *a)
{
    if (a == NULL) {
        return;
    }
    block_t *b = a->head;
    while (b != NULL) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *tw_arena_alloc(tw_arena_t *a, size_t n)
{
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0) {
        need = ARENA_ALIGN;
    }
    block_t *h = a->head;
    if (h != NULL && h->size - h->used >= need) {
        void *p = h->data + h->used;
        h->used += need;
        return p;
    }
    if (need > a->block_bytes / 4) {
        /* Own block, linked behind the head so the head keeps its free tail. */
        block_t *big = block_new(need);
        big->used = need;
        a->total += sizeof(block_t) + need;
        if (h != NULL) {
            big->next = h->next;
            h->next = big;
        } else {
            a->head = big;
        }
        return big->data;
    }
    block_t *nb = block_new(a->block_bytes);
    nb->next = h;
    a->head = nb;
    a->total += sizeof(block_t) + nb->size;
    nb->used = need;
    return nb->data;
}

void *tw_arena_calloc(tw_arena_t *a, size_t n)
{
    void *p = tw_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *tw_arena_strndup(tw_arena_t *a, const char *s, size_t n)
{
    char *p = tw_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *tw_arena_strdup(tw_arena_t *a, const char *s)
{
    return tw_arena_strndup(a, s, strlen(s));
}

char *tw_arena_printf(tw_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    }
    char *p = tw_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t tw_arena_bytes(const tw_arena_t *a)
{
    return a->total;
}
