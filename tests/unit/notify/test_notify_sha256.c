/* SPDX-License-Identifier: Apache-2.0 */
/* test_notify_sha256.c - SHA-256 (FIPS 180-4 examples) and HMAC-SHA256 (RFC 4231 vectors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "alerting/notify/notify_int.h"

static void hex_of_sha(const void *p, size_t n, char *out)
{
    uint8_t d[NOTIFY_SHA256_LEN];
    notify_sha256(p, n, d);
    notify_hex(d, sizeof(d), out);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    char h[65];
    hex_of_sha("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of_sha("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of_sha(m, strlen(m), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* One million 'a' (crosses many blocks; padding at 56 mod 64). */
    static char mil[1000000];
    memset(mil, 'a', sizeof(mil));
    hex_of_sha(mil, sizeof(mil), h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* 55, 56 and 64 bytes: the padding boundaries. */
    char a64[64];
    memset(a64, 'a', sizeof(a64));
    hex_of_sha(a64, 55, h);
    assert_string_equal(h, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    hex_of_sha(a64, 56, h);
    assert_string_equal(h, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    hex_of_sha(a64, 64, h);
    assert_string_equal(h, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

static void hmac_hex(const void *k, size_t kl, const void *m, size_t ml, char *out)
{
    uint8_t d[NOTIFY_SHA256_LEN];
    notify_hmac_sha256(k, kl, m, ml, d);
    notify_hex(d, sizeof(d), out);
}

static void test_hmac_rfc4231(void **state)
{
    (void)state;
    char h[65];
    uint8_t k1[20];
    memset(k1, 0x0b, sizeof(k1));
    hmac_hex(k1, sizeof(k1), "Hi There", 8, h);
    assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    hmac_hex("Jefe", 4, "what do ya want for nothing?", 28, h);
    assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    uint8_t k3[20], d3[50];
    memset(k3, 0xaa, sizeof(k3));
    memset(d3, 0xdd, sizeof(d3));
    hmac_hex(k3, sizeof(k3), d3, sizeof(d3), h);
    assert_string_equal(h, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");

    uint8_t k4[25], d4[50];
    for (int i = 0; i < 25; i++) {
        k4[i] = (uint8_t)(i + 1);
    }
    memset(d4, 0xcd, sizeof(d4));
    hmac_hex(k4, sizeof(k4), d4, sizeof(d4), h);
    assert_string_equal(h, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");

    /* Test case 5: output truncated to 128 bits. */
    uint8_t k5[20];
    memset(k5, 0x0c, sizeof(k5));
    hmac_hex(k5, sizeof(k5), "Test With Truncation", 20, h);
    assert_memory_equal(h, "a3b6167473100ee06e0c796c2955552b", 32);

    /* Test cases 6 and 7: a 131-byte key, hashed first. */
    uint8_t k6[131];
    memset(k6, 0xaa, sizeof(k6));
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    hmac_hex(k6, sizeof(k6), m6, strlen(m6), h);
    assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    const char *m7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the HMAC "
                     "algorithm.";
    hmac_hex(k6, sizeof(k6), m7, strlen(m7), h);
    assert_string_equal(h, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_hmac_rfc4231),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
