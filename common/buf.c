/* SPDX-License-Identifier: Apache-2.0 */
/* buf.c - bounded growable buffers (see buf.h). One owner at a time. */
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "mem.h"

void tw_buf_init(tw_buf_t *b, size_t max_bytes)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max_bytes == 0 ? SIZE_MAX - 1 : max_bytes;
}

void tw_buf_fini(tw_buf_t *b)
{
    if (b == NULL) {
        return;
    }
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void tw_buf_reset(tw_buf_t *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

/* Ensures room for n more bytes plus the terminator. */
static int buf_reserve(tw_buf_t *b, size_t n)
{
    if (n > b->max - b->len) {
        return TW_ELIMIT;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t ncap = b->cap < 64 ? 64 : b->cap;
    while (ncap < need) {
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    }
    if (ncap > b->max + 1) {
        ncap = b->max + 1 < need ? need : b->max + 1;
    }
    b->data = tw_xrealloc(b->data, ncap);
    b->cap = ncap;
    return 0;
}

int tw_buf_append(tw_buf_t *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc != 0) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tw_buf_puts(tw_buf_t *b, const char *s)
{
    return tw_buf_append(b, s, strlen(s));
}

int tw_buf_putc(tw_buf_t *b, char c)
{
    return tw_buf_append(b, &c, 1);
}

int tw_buf_vprintf(tw_buf_t *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return TW_EINVAL;
    }
    if ((size_t)n < sizeof(small)) {
        return tw_buf_append(b, small, (size_t)n);
    }
    int rc = buf_reserve(b, (size_t)n);
    if (rc != 0) {
        return rc;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int tw_buf_printf(tw_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tw_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *tw_buf_steal(tw_buf_t *b, size_t *len_out)
{
    char *p = b->data;
    if (len_out != NULL) {
        *len_out = b->len;
    }
    if (p == NULL) {
        p = tw_xstrdup("");
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

int tw_buf_read_file(tw_buf_t *b, const char *path, tw_error_t *err)
{
    tw_buf_reset(b);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return tw_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    int rc = 0;
    for (;;) {
        if (buf_reserve(b, 4096) != 0) {
            /* Fill exactly to the limit and see whether more follows. */
            char probe;
            size_t room = b->max - b->len;
            if (room > 0) {
                rc = buf_reserve(b, room);
                if (rc != 0) {
                    break;
                }
                ssize_t n = read(fd, b->data + b->len, room);
                if (n > 0) {
                    b->len += (size_t)n;
                    b->data[b->len] = '\0';
                    continue;
                }
            }
            ssize_t n = read(fd, &probe, 1);
            if (n > 0) {
                rc = tw_error_set(err, TW_ELIMIT, "%s: larger than %zu bytes", path, b->max);
            }
            break;
        }
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int e = errno;
            rc = tw_error_set(err, -e, "%s: %s", path, strerror(e));
            break;
        }
        if (n == 0) {
            break;
        }
        b->len += (size_t)n;
        b->data[b->len] = '\0';
    }
    close(fd);
    return rc;
}
