/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buf.h - a growable byte buffer with a hard maximum size.
 *
 * Every buffer fed by the network or a file has a limit; appending past it fails with
 * TW_ELIMIT and leaves the buffer as it was, so a caller can report "body larger than N bytes"
 * instead of growing without bound. The data is always NUL-terminated (the terminator is not
 * counted in len) so text parsers can use it directly. Thread model: one owner at a time.
 */
#ifndef TW_COMMON_BUF_H
#define TW_COMMON_BUF_H

#include <stddef.h>
#include <stdarg.h>

typedef struct tw_buf {
    char *data; /* owned; NULL until the first append; NUL-terminated when not NULL */
    size_t len; /* bytes used, without the terminator */
    size_t cap; /* bytes allocated */
    size_t max; /* maximum len; 0 means SIZE_MAX */
} tw_buf_t;

/* Initializes an empty buffer that may hold at most max_bytes (0: no limit). */
void tw_buf_init(tw_buf_t *b, size_t max_bytes);
/* Frees the memory; the buffer is empty and reusable afterwards. NULL is a no-op. */
void tw_buf_fini(tw_buf_t *b);
/* Sets len to 0 and keeps the memory. */
void tw_buf_reset(tw_buf_t *b);

/* Appends n bytes. Returns 0, or TW_ELIMIT (buffer unchanged) when max would be exceeded. */
int tw_buf_append(tw_buf_t *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
int tw_buf_puts(tw_buf_t *b, const char *s);
/* Appends one byte. */
int tw_buf_putc(tw_buf_t *b, char c);
/* Appends printf-style formatted text. TW_ELIMIT leaves the buffer unchanged. */
int tw_buf_printf(tw_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tw_buf_vprintf(tw_buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/*
 * Hands the memory to the caller (who frees it with free()) and resets the buffer. *len_out
 * (may be NULL) receives the length. Returns an empty allocated string for an empty buffer.
 */
char *tw_buf_steal(tw_buf_t *b, size_t *len_out);

/*
 * Reads a whole file into b (replacing its contents). Stops with TW_ELIMIT when the file is
 * larger than b's max. Returns 0 or -errno (the path is in err's message).
 */
struct tw_error;
int tw_buf_read_file(tw_buf_t *b, const char *path, struct tw_error *err);

#endif
