/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mem.h - allocation helpers for fixed-size allocations.
 *
 * STYLE.md: fixed-size allocations abort on out-of-memory (there is nothing sensible to do), so
 * callers need no NULL checks. Anything sized by input goes through tw_buf_t with a limit
 * instead. Thread-safe.
 */
#ifndef TW_COMMON_MEM_H
#define TW_COMMON_MEM_H

#include <stddef.h>

/* malloc/calloc/realloc/strdup that abort with a message on out-of-memory. */
void *tw_xmalloc(size_t n);
void *tw_xcalloc(size_t nmemb, size_t size);
void *tw_xrealloc(void *p, size_t n);
char *tw_xstrdup(const char *s);
char *tw_xstrndup(const char *s, size_t n);

/* Grows *arr (of *cap elements of elem_size bytes) so it holds at least need elements. */
void tw_grow(void **arr, size_t *cap, size_t need, size_t elem_size);

/*
 * Copies src into dst (size dstsz), always NUL-terminating when dstsz > 0. Returns the length
 * of src, so truncation is `ret >= dstsz`.
 */
size_t tw_strlcpy(char *dst, const char *src, size_t dstsz);

#endif
