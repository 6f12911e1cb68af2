/* test_sse.c: the cryptography of server-side encryption
 * (gateway/gw_sse_crypto.c) and the stored-size rule (meta_data_size):
 * blocks round-trip; a flipped byte, a block moved to another index or
 * another data object, another salt or key all fail the tag; the nonce
 * changes with the index (no keystream reuse inside an object); data keys
 * wrap and unwrap, and refuse another master key, label or a damaged
 * blob; the SSE-C key check value. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gw_sse.h"
#include "meta.h"

#define BS 4096 /* a small "stripe" */
#define PB (BS - GW_SSE_TAG)

static const unsigned char salt[GW_SSE_SALT] = { 1, 2, 3, 4 };
static const char *id = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

static void fill(unsigned char *b, size_t n, uint32_t seed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
}

static void keys(unsigned char dek[GW_SSE_KEY], unsigned char bk[GW_SSE_KEY])
{
    fill(dek, GW_SSE_KEY, 42);
    assert_int_equal(gw_sse_block_key(dek, id, bk), 0);
}

static void test_roundtrip(void **state)
{
    unsigned char dek[GW_SSE_KEY], bk[GW_SSE_KEY], plain[BS], buf[BS];
    size_t lens[] = { 1, 15, 16, 17, 1000, PB };
    size_t i;

    keys(dek, bk);
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i];
        fill(plain, n, (uint32_t)n);
        memcpy(buf, plain, n);
        assert_int_equal(gw_sse_seal(bk, salt, id, 7, buf, n), 0);
        assert_memory_not_equal(buf, plain, n); /* really encrypted */
        assert_int_equal(gw_sse_open(bk, salt, id, 7, buf, n + GW_SSE_TAG),
                         0);
        assert_memory_equal(buf, plain, n);
    }
    /* a block too short to hold a tag never opens */
    assert_int_not_equal(gw_sse_open(bk, salt, id, 0, buf, GW_SSE_TAG), 0);
}

static void test_tamper_and_binding(void **state)
{
    unsigned char dek[GW_SSE_KEY], bk[GW_SSE_KEY], bk2[GW_SSE_KEY];
    unsigned char plain[PB], sealed[BS], buf[BS];
    const unsigned char salt2[GW_SSE_SALT] = { 1, 2, 3, 5 };
    const char *id2 = "0a1b2c3d4e5f60718293a4b5c6d7e8fa";
    size_t i;

    keys(dek, bk);
    fill(plain, PB, 9);
    memcpy(sealed, plain, PB);
    assert_int_equal(gw_sse_seal(bk, salt, id, 3, sealed, PB), 0);
    /* any flipped byte: ciphertext or tag */
    for (i = 0; i < BS; i += 511) {
        memcpy(buf, sealed, BS);
        buf[i] ^= 0x01;
        assert_int_not_equal(gw_sse_open(bk, salt, id, 3, buf, BS), 0);
    }
    memcpy(buf, sealed, BS);
    buf[BS - 1] ^= 0x80;
    assert_int_not_equal(gw_sse_open(bk, salt, id, 3, buf, BS), 0);
    /* moved to another index (swapped / reordered blocks) */
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk, salt, id, 4, buf, BS), 0);
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk, salt, id, 2, buf, BS), 0);
    /* replayed into another data object: its AAD and its block key
     * differ; even with the right block key the AAD fails */
    assert_int_equal(gw_sse_block_key(dek, id2, bk2), 0);
    assert_memory_not_equal(bk, bk2, GW_SSE_KEY);
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk2, salt, id2, 3, buf, BS), 0);
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk, salt, id2, 3, buf, BS), 0);
    /* another version's salt */
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk, salt2, id, 3, buf, BS), 0);
    /* truncated */
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk, salt, id, 3, buf, BS - 1), 0);
    /* and the genuine block still opens */
    memcpy(buf, sealed, BS);
    assert_int_equal(gw_sse_open(bk, salt, id, 3, buf, BS), 0);
    assert_memory_equal(buf, plain, PB);
}

static void test_nonce_per_block(void **state)
{
    unsigned char dek[GW_SSE_KEY], bk[GW_SSE_KEY], a[BS], b[BS];
    keys(dek, bk);
    /* the same plaintext at two indexes: different ciphertexts, so the
     * keystream is never reused */
    memset(a, 0, PB);
    memset(b, 0, PB);
    assert_int_equal(gw_sse_seal(bk, salt, id, 0, a, PB), 0);
    assert_int_equal(gw_sse_seal(bk, salt, id, 1, b, PB), 0);
    assert_memory_not_equal(a, b, 64);
}

static void test_wrap_unwrap(void **state)
{
    unsigned char kek[GW_SSE_KEY], kek2[GW_SSE_KEY], dek[GW_SSE_KEY];
    unsigned char w[GW_SSE_WRAPPED], w2[GW_SSE_WRAPPED], back[GW_SSE_KEY];
    size_t i;

    fill(kek, sizeof(kek), 1);
    fill(kek2, sizeof(kek2), 2);
    fill(dek, sizeof(dek), 3);
    assert_int_equal(gw_sse_wrap(kek, dek, "label", w), 0);
    assert_null(memmem(w, sizeof(w), dek, 8)); /* not in the clear */
    assert_int_equal(gw_sse_unwrap(kek, w, sizeof(w), "label", back), 0);
    assert_memory_equal(back, dek, GW_SSE_KEY);
    /* a fresh IV each time */
    assert_int_equal(gw_sse_wrap(kek, dek, "label", w2), 0);
    assert_memory_not_equal(w, w2, GW_SSE_WRAPPED);
    /* another master key, another label, a damaged blob, a bad length */
    assert_int_not_equal(gw_sse_unwrap(kek2, w, sizeof(w), "label", back), 0);
    assert_int_not_equal(gw_sse_unwrap(kek, w, sizeof(w), "other", back), 0);
    for (i = 0; i < GW_SSE_WRAPPED; i += 7) {
        memcpy(w2, w, sizeof(w));
        w2[i] ^= 0x10;
        assert_int_not_equal(gw_sse_unwrap(kek, w2, sizeof(w2), "label",
                                           back), 0);
    }
    assert_int_not_equal(gw_sse_unwrap(kek, w, sizeof(w) - 1, "label", back),
                         0);
}

/* SSE-C: the stored check value recognises the key, differs for another
 * key or salt, and does not contain the key. */
static void test_key_check(void **state)
{
    unsigned char k1[GW_SSE_KEY], k2[GW_SSE_KEY], salt1[GW_SSE_KID_SALT],
        salt2[GW_SSE_KID_SALT], a[32], b[32];
    fill(k1, sizeof(k1), 11);
    fill(k2, sizeof(k2), 12);
    fill(salt1, sizeof(salt1), 13);
    fill(salt2, sizeof(salt2), 14);
    assert_int_equal(gw_sse_key_check(k1, salt1, a), 0);
    assert_int_equal(gw_sse_key_check(k1, salt1, b), 0);
    assert_memory_equal(a, b, 32);
    assert_int_equal(gw_sse_key_check(k2, salt1, b), 0);
    assert_memory_not_equal(a, b, 32);
    assert_int_equal(gw_sse_key_check(k1, salt2, b), 0);
    assert_memory_not_equal(a, b, 32);
    assert_null(memmem(a, 32, k1, 8));
}

static void test_stored_size(void **state)
{
    /* blocks of BS - 16 plaintext bytes, each + 16 */
    assert_int_equal(meta_data_size(0, BS, 1), 0);
    assert_int_equal(meta_data_size(1, BS, 1), 17);
    assert_int_equal(meta_data_size(PB, BS, 1), BS);
    assert_int_equal(meta_data_size(PB + 1, BS, 1), BS + 17);
    assert_int_equal(meta_data_size(3 * PB, BS, 1), 3 * BS);
    assert_int_equal(meta_data_size(12345, BS, 0), 12345);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tamper_and_binding),
        cmocka_unit_test(test_nonce_per_block),
        cmocka_unit_test(test_wrap_unwrap),
        cmocka_unit_test(test_key_check),
        cmocka_unit_test(test_stored_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
