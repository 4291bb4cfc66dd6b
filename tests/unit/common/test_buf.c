/* SPDX-License-Identifier: Apache-2.0 */
/* test_buf.c - bounded buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"

static void test_limit_leaves_buffer_unchanged(void **state)
{
    (void)state;
    tw_buf_t b;
    tw_buf_init(&b, 8);
    assert_int_equal(tw_buf_puts(&b, "12345"), 0);
    assert_int_equal(tw_buf_puts(&b, "6789"), TW_ELIMIT);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "12345");
    assert_int_equal(tw_buf_printf(&b, "%d", 123), 0);
    assert_string_equal(b.data, "12345123");
    assert_int_equal(tw_buf_putc(&b, 'x'), TW_ELIMIT);
    tw_buf_fini(&b);
}

static void test_printf_long(void **state)
{
    (void)state;
    tw_buf_t b;
    tw_buf_init(&b, 0);
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(tw_buf_printf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[1000], '>');
    size_t len = 0;
    char *p = tw_buf_steal(&b, &len);
    assert_int_equal(len, 1001);
    assert_null(b.data);
    free(p);
}

static void test_read_file_limit(void **state)
{
    (void)state;
    char path[] = "/tmp/tw_test_buf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char data[10000];
    memset(data, 'z', sizeof(data));
    assert_int_equal(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
    close(fd);

    tw_buf_t b;
    tw_error_t err;
    tw_buf_init(&b, 0);
    assert_int_equal(tw_buf_read_file(&b, path, &err), 0);
    assert_int_equal(b.len, sizeof(data));
    tw_buf_fini(&b);

    tw_buf_init(&b, 10000);
    assert_int_equal(tw_buf_read_file(&b, path, &err), 0);
    assert_int_equal(b.len, 10000);
    tw_buf_fini(&b);

    tw_buf_init(&b, 9999);
    assert_int_equal(tw_buf_read_file(&b, path, &err), TW_ELIMIT);
    assert_non_null(strstr(err.msg, "larger than 9999 bytes"));
    tw_buf_fini(&b);

    unlink(path);
    tw_buf_init(&b, 0);
    assert_int_equal(tw_buf_read_file(&b, path, &err), -2 /* -ENOENT */);
    assert_non_null(strstr(err.msg, path));
    tw_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_leaves_buffer_unchanged),
        cmocka_unit_test(test_printf_long),
        cmocka_unit_test(test_read_file_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
