/* SPDX-License-Identifier: Apache-2.0 */
/* test_expfmt_gzip.c - gzip of an exposition: a real gzip stream (inflated back), limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "collector/expfmt/expfmt.h"
#include "common/buf.h"
#include "common/error.h"

/* Inflates a gzip stream (gzip framing only) into a new buffer. */
static void gunzip(const tw_buf_t *in, tw_buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    zs.next_in = (Bytef *)in->data;
    zs.avail_in = (uInt)in->len;
    unsigned char chunk[4096];
    int rc;
    do {
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        rc = inflate(&zs, Z_NO_FLUSH);
        assert_true(rc == Z_OK || rc == Z_STREAM_END);
        assert_int_equal(tw_buf_append(out, chunk, sizeof(chunk) - zs.avail_out), 0);
    } while (rc != Z_STREAM_END);
    assert_int_equal(zs.avail_in, 0);
    inflateEnd(&zs);
}

static void test_round_trip(void **state)
{
    (void)state;
    tw_buf_t text, gz, back;
    tw_buf_init(&text, 0);
    tw_buf_init(&gz, 0);
    tw_buf_init(&back, 0);
    /* Larger than one deflate output chunk, and not trivially compressible. */
    for (int i = 0; i < 20000; i++) {
        tw_buf_printf(&text, "container_cpu_usage_seconds_total{id=\"/pod%d\",cpu=\"cpu%d\"} %d\n",
                      i * 7919 % 10007, i % 64, i * 31337);
    }
    assert_int_equal(tw_expfmt_gzip(&gz, text.data, text.len, NULL), 0);
    assert_true(gz.len > 18);
    assert_true(gz.len < text.len / 3);
    assert_int_equal((unsigned char)gz.data[0], 0x1f);
    assert_int_equal((unsigned char)gz.data[1], 0x8b);
    gunzip(&gz, &back);
    assert_int_equal(back.len, text.len);
    assert_memory_equal(back.data, text.data, text.len);

    /* The output buffer is replaced, not appended to. */
    assert_int_equal(tw_expfmt_gzip(&gz, "abc", 3, NULL), 0);
    tw_buf_reset(&back);
    gunzip(&gz, &back);
    assert_int_equal(back.len, 3);
    assert_memory_equal(back.data, "abc", 3);

    /* Empty input is still a valid (empty) gzip stream. */
    assert_int_equal(tw_expfmt_gzip(&gz, "", 0, NULL), 0);
    assert_int_equal((unsigned char)gz.data[0], 0x1f);
    tw_buf_reset(&back);
    gunzip(&gz, &back);
    assert_int_equal(back.len, 0);

    tw_buf_fini(&text);
    tw_buf_fini(&gz);
    tw_buf_fini(&back);
}

static void test_limit(void **state)
{
    (void)state;
    tw_buf_t gz;
    tw_error_t err;
    tw_buf_init(&gz, 10);
    assert_int_equal(tw_expfmt_gzip(&gz, "hello, hello, hello", 19, &err), TW_ELIMIT);
    assert_int_equal(err.code, TW_ELIMIT);
    assert_string_equal(err.msg, "gzip: compressed output larger than 10 bytes");
    tw_buf_fini(&gz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
