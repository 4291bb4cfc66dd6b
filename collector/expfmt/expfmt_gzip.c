/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expfmt_gzip.c - gzip compression of a rendered exposition (zlib, gzip framing).
 *
 * /metrics answers are compressed when the scraper sends "Accept-Encoding: gzip", as promhttp
 * does. The output goes through a bounded tw_buf_t in fixed-size steps, so a limit on the
 * compressed size is enforced without sizing anything by the input. Pure; thread-safe on
 * distinct buffers.
 */
#include "collector/expfmt/expfmt.h"

#include <limits.h>
#include <stdint.h>
#include <zlib.h>

/* Compressed bytes produced per deflate() call. */
#define GZIP_CHUNK 16384

int tw_expfmt_gzip(tw_buf_t *out, const char *in, size_t len, tw_error_t *err)
{
    z_stream zs = {0};
    unsigned char chunk[GZIP_CHUNK];
    int rc = 0;

    tw_buf_reset(out);
    /* 16 + MAX_WBITS: gzip header and trailer instead of a zlib one. */
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return tw_error_set(err, TW_EIO, "gzip: deflateInit2 failed");
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    size_t left = len;
    int zrc = Z_OK;
    do {
        /* avail_in is 32 bits: feed very large inputs in pieces. */
        if (zs.avail_in == 0 && left > 0) {
            uInt step = left > UINT_MAX ? UINT_MAX : (uInt)left;
            zs.avail_in = step;
            left -= step;
        }
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        zrc = deflate(&zs, left == 0 ? Z_FINISH : Z_NO_FLUSH);
        if (zrc == Z_STREAM_ERROR) {
            rc = tw_error_set(err, TW_EIO, "gzip: deflate failed");
            goto out;
        }
        size_t produced = sizeof(chunk) - zs.avail_out;
        if (produced > 0 && tw_buf_append(out, chunk, produced) != 0) {
            rc = tw_error_set(err, TW_ELIMIT, "gzip: compressed output larger than %zu bytes",
                              out->max);
            goto out;
        }
    } while (zrc != Z_STREAM_END);
out:
    deflateEnd(&zs);
    return rc;
}
