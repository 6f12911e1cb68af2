/* test_csum.c: the gateway's S3 checksums (gateway/gw_csum.c): names,
 * running values against one-shot ones, base64 decoding limits, and the
 * multipart object checksum — COMPOSITE against the hash of the raw part
 * checksums computed here, FULL_OBJECT against the CRC of the whole
 * object. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "gw_int.h"

static void fill(unsigned char *b, size_t n, uint32_t seed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
}

static void value(enum gw_csum_algo a, const void *p, size_t n,
                  char out[GW_CSUM_B64_MAX])
{
    struct gw_csum c;
    assert_int_equal(gw_csum_init(&c, a), 0);
    gw_csum_update(&c, p, n);
    gw_csum_final(&c, out);
    gw_csum_cleanup(&c);
}

static void test_names_and_known_values(void **state)
{
    char v[GW_CSUM_B64_MAX];
    assert_int_equal(gw_csum_lookup("crc64nvme", 9), GW_CSUM_CRC64NVME);
    assert_int_equal(gw_csum_lookup("X-Amz-Checksum-SHA256", 21),
                     GW_CSUM_SHA256);
    assert_int_equal(gw_csum_lookup("MD5", 3), GW_CSUM_NONE);
    assert_string_equal(gw_csum_xml(GW_CSUM_CRC32C), "ChecksumCRC32C");
    assert_int_equal(gw_csum_raw_len(GW_CSUM_CRC64NVME), 8);
    /* "123456789": the catalogue check values, base64 of big-endian */
    value(GW_CSUM_CRC32, "123456789", 9, v);
    assert_string_equal(v, "y/Q5Jg==");  /* cbf43926 */
    value(GW_CSUM_CRC32C, "123456789", 9, v);
    assert_string_equal(v, "4waSgw==");  /* e3069283 */
    value(GW_CSUM_CRC64NVME, "123456789", 9, v);
    assert_string_equal(v, "rosUhgp5mIg="); /* ae8b14860a799888 */
    value(GW_CSUM_CRC64NVME, "Hello, World!\n", 14, v);
    assert_string_equal(v, "SoXXbx67KpE=");
    value(GW_CSUM_SHA1, "", 0, v);
    assert_string_equal(v, "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
}

static void test_incremental(void **state)
{
    unsigned char b[5000];
    char one[GW_CSUM_B64_MAX], inc[GW_CSUM_B64_MAX];
    int a;
    size_t i;
    fill(b, sizeof(b), 1);
    for (a = GW_CSUM_CRC32; a <= GW_CSUM_CRC64NVME; a++) {
        struct gw_csum c;
        value((enum gw_csum_algo)a, b, sizeof(b), one);
        assert_int_equal(gw_csum_init(&c, (enum gw_csum_algo)a), 0);
        for (i = 0; i < sizeof(b); i += 7)
            gw_csum_update(&c, b + i, sizeof(b) - i < 7 ? sizeof(b) - i : 7);
        gw_csum_final(&c, inc);
        gw_csum_cleanup(&c);
        assert_string_equal(one, inc);
    }
}

static void test_decode(void **state)
{
    unsigned char raw[64];
    assert_int_equal(gw_csum_decode(GW_CSUM_CRC32, "y/Q5Jg==", 8, raw), 0);
    assert_int_equal(raw[0], 0xcb);
    /* wrong length for the algorithm, garbage, empty */
    assert_int_equal(gw_csum_decode(GW_CSUM_CRC64NVME, "y/Q5Jg==", 8, raw),
                     -1);
    assert_int_equal(gw_csum_decode(GW_CSUM_CRC32, "y/Q5J!==", 8, raw), -1);
    assert_int_equal(gw_csum_decode(GW_CSUM_CRC32, "", 0, raw), -1);
    assert_int_equal(gw_csum_decode(GW_CSUM_NONE, "y/Q5Jg==", 8, raw), -1);
}

/* Parts of sizes[] cut from one buffer: FULL_OBJECT must equal the CRC of
 * the whole, COMPOSITE the hash of the raw part values plus "-N". */
static void check_multipart(enum gw_csum_algo a, int full)
{
    static const size_t sizes[] = { 1, 4096, 777, 65536, 3, 10000 };
    enum { NP = sizeof(sizes) / sizeof(sizes[0]) };
    unsigned char *b = malloc(100000), raw[64], cat[NP * 64];
    char vals[NP][GW_CSUM_B64_MAX], out[GW_CSUM_B64_MAX + 8];
    char want[GW_CSUM_B64_MAX + 8], whole[GW_CSUM_B64_MAX];
    const char *ptrs[NP];
    uint64_t szs[NP];
    size_t i, off = 0, rl = gw_csum_raw_len(a), n = 0;

    assert_non_null(b);
    fill(b, 100000, 9);
    for (i = 0; i < NP; i++) {
        value(a, b + off, sizes[i], vals[i]);
        ptrs[i] = vals[i];
        szs[i] = sizes[i];
        assert_int_equal(gw_csum_decode(a, vals[i], strlen(vals[i]), raw), 0);
        memcpy(cat + n, raw, rl);
        n += rl;
        off += sizes[i];
    }
    assert_int_equal(gw_csum_multipart(a, full, ptrs, szs, NP, out), 0);
    if (full) {
        value(a, b, off, whole);
        assert_string_equal(out, whole);
    } else {
        value(a, cat, n, whole);
        snprintf(want, sizeof(want), "%s-%d", whole, (int)NP);
        assert_string_equal(out, want);
    }
    /* one part: FULL_OBJECT is that part's value */
    assert_int_equal(gw_csum_multipart(a, full, ptrs, szs, 1, out), 0);
    if (full) assert_string_equal(out, vals[0]);
    free(b);
}

static void test_multipart(void **state)
{
    char out[GW_CSUM_B64_MAX + 8];
    const char *bad[1] = { "not base64" };
    uint64_t sz[1] = { 1 };
    check_multipart(GW_CSUM_CRC32, 1);
    check_multipart(GW_CSUM_CRC32C, 1);
    check_multipart(GW_CSUM_CRC64NVME, 1);
    check_multipart(GW_CSUM_CRC32, 0);
    check_multipart(GW_CSUM_CRC32C, 0);
    check_multipart(GW_CSUM_SHA1, 0);
    check_multipart(GW_CSUM_SHA256, 0);
    /* combinations AWS does not allow, and bad part values */
    assert_int_equal(gw_csum_multipart(GW_CSUM_SHA256, 1, bad, sz, 1, out),
                     -1);
    assert_int_equal(gw_csum_multipart(GW_CSUM_CRC64NVME, 0, bad, sz, 1, out),
                     -1);
    assert_int_equal(gw_csum_multipart(GW_CSUM_CRC32, 0, bad, sz, 1, out),
                     -1);
    assert_int_equal(gw_csum_multipart(GW_CSUM_CRC32, 1, bad, sz, 0, out),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_known_values),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_multipart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
