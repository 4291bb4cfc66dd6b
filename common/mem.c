/* SPDX-License-Identifier: Apache-2.0 */
/* mem.c - aborting allocation helpers (see mem.h). Thread-safe. */
#include "mem.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "level=error component=mem msg=\"out of memory\" bytes=%zu\n", n);
    abort();
}

void *tw_xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL) {
        oom(n);
    }
    return p;
}

void *tw_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size);
    if (p == NULL) {
        oom(nmemb * size);
    }
    return p;
}

void *tw_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL) {
        oom(n);
    }
    return q;
}

char *tw_xstrdup(const char *s)
{
    return tw_xstrndup(s, strlen(s));
}

char *tw_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = tw_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void tw_grow(void **arr, size_t *cap, size_t need, size_t elem_size)
{
    if (need <= *cap) {
        return;
    }
    size_t ncap = *cap == 0 ? 8 : *cap;
    while (ncap < need) {
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem_size) {
        oom(SIZE_MAX);
    }
    *arr = tw_xrealloc(*arr, ncap * elem_size);
    *cap = ncap;
}

size_t tw_strlcpy(char *dst, const char *src, size_t dstsz)
{
    size_t len = strlen(src);
    if (dstsz > 0) {
        size_t n = len < dstsz - 1 ? len : dstsz - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}
