/* test_crc.c: CRC-64/NVME against published check values (the CRC
 * catalogue's check value, the NVMe NVM Command Set specification's 4 KiB
 * test cases, the AWS SDKs' aws-c-checksums vectors) and against a bitwise
 * reference; CRC combination for CRC-32, CRC-32C and CRC-64/NVME against
 * the CRC of the concatenation at many split points. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <cmocka.h>
#include <isa-l.h>

#include "cf.h"

/* Bitwise reference for any reflected CRC with init = xorout = all ones. */
static uint64_t ref_crc(uint64_t poly, unsigned width, const void *buf,
                        size_t n)
{
    const unsigned char *p = buf;
    uint64_t mask = width == 64 ? ~0ULL : ((1ULL << width) - 1);
    uint64_t c = mask;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    }
    return c ^ mask;
}

static void fill(unsigned char *b, size_t n, uint32_t seed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
}

static void test_crc64_check_values(void **state)
{
    static unsigned char buf[4096];
    static const unsigned char ff32[32] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    unsigned char z32[32] = { 0 };
    char b64[16];
    unsigned char be[8];
    uint64_t c;
    size_t i;

    /* the CRC catalogue's check value */
    assert_true(cf_crc64nvme(0, "123456789", 9) == 0xae8b14860a799888ULL);
    assert_true(cf_crc64nvme(0, "", 0) == 0);
    /* NVM Command Set Specification 1.0, 64b CRC test cases (4 KiB) */
    memset(buf, 0, sizeof(buf));
    assert_true(cf_crc64nvme(0, buf, sizeof(buf)) == 0x6482d367eb22b64eULL);
    memset(buf, 0xff, sizeof(buf));
    assert_true(cf_crc64nvme(0, buf, sizeof(buf)) == 0xc0ddba7302eca3acULL);
    for (i = 0; i < sizeof(buf); i++) buf[i] = (unsigned char)i;
    assert_true(cf_crc64nvme(0, buf, sizeof(buf)) == 0x3e729f5f6750449cULL);
    for (i = 0; i < sizeof(buf); i++) buf[i] = (unsigned char)(0xff - i);
    assert_true(cf_crc64nvme(0, buf, sizeof(buf)) == 0x9a2df64b8e9e517eULL);
    /* aws-c-checksums (the AWS SDKs' CRC library): 32 zero bytes */
    assert_true(cf_crc64nvme(0, z32, 32) == 0xcf3473434d4ecf3bULL);
    assert_true(cf_crc64nvme(0, ff32, 32) == ref_crc(CF_CRC64NVME_POLY, 64,
                                                     ff32, 32));
    /* S3 sends it as base64 of the big-endian value: "Hello, World!\n"
     * is SoXXbx67KpE= (the example of robertgrimm/crc64nvme's README, a
     * third-party tool; AWS's own published vectors are the
     * aws-c-checksums ones above). */
    c = cf_crc64nvme(0, "Hello, World!\n", 14);
    for (i = 0; i < 8; i++) be[i] = (unsigned char)(c >> (56 - 8 * i));
    cf_base64_encode(be, 8, b64);
    assert_string_equal(b64, "SoXXbx67KpE=");
}

static void test_crc64_matches_reference(void **state)
{
    unsigned char *b = malloc(3000);
    size_t n, off;
    assert_non_null(b);
    fill(b, 3000, 7);
    /* every length 0..300 at every alignment 0..8, then a long one */
    for (off = 0; off < 9; off++)
        for (n = 0; n <= 300; n++)
            assert_true(cf_crc64nvme(0, b + off, n) ==
                        ref_crc(CF_CRC64NVME_POLY, 64, b + off, n));
    assert_true(cf_crc64nvme(0, b, 3000) ==
                ref_crc(CF_CRC64NVME_POLY, 64, b, 3000));
    free(b);
}

/* Lengths from 128 bytes up take the PCLMUL folding path on x86-64 CPUs
 * that have it: every length 100..1100 (both sides of 128, every
 * 64-byte-loop and 16-byte-loop exit, every tail) at 16 alignments, and a
 * buffer of 1 MiB + 13, against the bitwise reference. */
static void test_crc64_long_paths(void **state)
{
    size_t big = (1u << 20) + 13, n, off;
    unsigned char *b = malloc(big + 16);
    assert_non_null(b);
    fill(b, big + 16, 5);
    for (off = 0; off < 16; off++)
        for (n = 100; n <= 1100; n++)
            assert_true(cf_crc64nvme(0, b + off, n) ==
                        ref_crc(CF_CRC64NVME_POLY, 64, b + off, n));
    assert_true(cf_crc64nvme(0, b + 3, big) ==
                ref_crc(CF_CRC64NVME_POLY, 64, b + 3, big));
    /* pieces of uneven sizes, some above and some below 128 bytes */
    {
        static const size_t piece[] = { 127, 128, 129, 1, 64, 4096, 200, 15 };
        uint64_t c = 0;
        size_t i, o = 0;
        for (i = 0; o < big; i = (i + 1) % 8) {
            size_t k = big - o < piece[i] ? big - o : piece[i];
            c = cf_crc64nvme(c, b + o, k);
            o += k;
            if (o > 40000) { /* then the rest in one call */
                c = cf_crc64nvme(c, b + o, big - o);
                o = big;
            }
        }
        assert_true(c == cf_crc64nvme(0, b, big));
    }
    free(b);
}

static void test_crc64_incremental(void **state)
{
    unsigned char b[1031];
    uint64_t whole, c = 0;
    size_t i, step;
    fill(b, sizeof(b), 11);
    whole = cf_crc64nvme(0, b, sizeof(b));
    for (i = 0; i < sizeof(b); i++) c = cf_crc64nvme(c, b + i, 1);
    assert_true(c == whole);
    for (step = 2; step < 40; step += 3) {
        c = 0;
        for (i = 0; i < sizeof(b); i += step)
            c = cf_crc64nvme(c, b + i,
                             sizeof(b) - i < step ? sizeof(b) - i : step);
        assert_true(c == whole);
    }
}

/* The gateway's CRC-32 (ISA-L crc32_gzip_refl) and CRC-32C (crc32_iscsi,
 * raw register) conventions, as in gateway/gw_csum.c. */
static uint64_t isal_crc32(const void *p, size_t n)
{
    return crc32_gzip_refl(0, (const unsigned char *)p, n);
}

static uint64_t isal_crc32c(const void *p, size_t n)
{
    return crc32_iscsi((unsigned char *)p, (int)n, 0xffffffffu) ^
           0xffffffffu;
}

static void check_combine(uint64_t poly, unsigned width,
                          uint64_t (*crc)(const void *, size_t))
{
    enum { N = 2500 };
    unsigned char *b = malloc(N);
    size_t split, n;
    assert_non_null(b);
    fill(b, N, 3);
    for (n = 0; n <= N; n += n < 70 ? 1 : 397) {
        uint64_t whole = crc(b, n);
        for (split = 0; split <= n; split += split < 20 ? 1 : 13) {
            uint64_t a = crc(b, split), c = crc(b + split, n - split);
            assert_true(cf_crc_combine(poly, width, a, c, n - split) ==
                        whole);
        }
    }
    /* three pieces, as parts of a multipart upload */
    {
        uint64_t a = crc(b, 1000), m = crc(b + 1000, 1000),
                 z = crc(b + 2000, 500);
        uint64_t am = cf_crc_combine(poly, width, a, m, 1000);
        assert_true(cf_crc_combine(poly, width, am, z, 500) == crc(b, N));
    }
    free(b);
}

static uint64_t c64(const void *p, size_t n) { return cf_crc64nvme(0, p, n); }
static uint64_t r32(const void *p, size_t n)
{
    return ref_crc(CF_CRC32_POLY, 32, p, n);
}
static uint64_t r32c(const void *p, size_t n)
{
    return ref_crc(CF_CRC32C_POLY, 32, p, n);
}

static void test_combine_crc32(void **state)
{
    assert_true(isal_crc32("123456789", 9) == 0xcbf43926u);
    assert_true(r32("123456789", 9) == 0xcbf43926u);
    check_combine(CF_CRC32_POLY, 32, isal_crc32);
    check_combine(CF_CRC32_POLY, 32, r32);
}

static void test_combine_crc32c(void **state)
{
    assert_true(isal_crc32c("123456789", 9) == 0xe3069283u);
    assert_true(r32c("123456789", 9) == 0xe3069283u);
    check_combine(CF_CRC32C_POLY, 32, isal_crc32c);
}

static void test_combine_crc64nvme(void **state)
{
    check_combine(CF_CRC64NVME_POLY, 64, c64);
    /* longer B: 1 MiB of zeros, built by combining doubled halves */
    {
        static unsigned char z[1 << 16];
        uint64_t cz, a, len = sizeof(z);
        uint64_t direct, x = cf_crc64nvme(0, "abc", 3);
        int i;
        memset(z, 0, sizeof(z));
        cz = cf_crc64nvme(0, z, sizeof(z));
        for (i = 0; i < 4; i++) { /* 64 KiB → 1 MiB of zeros */
            cz = cf_crc_combine(CF_CRC64NVME_POLY, 64, cz, cz, len);
            len *= 2;
        }
        direct = 0;
        for (i = 0; i < 16; i++) direct = cf_crc64nvme(direct, z, sizeof(z));
        assert_true(cz == direct);
        a = cf_crc_combine(CF_CRC64NVME_POLY, 64, x, cz, len);
        direct = x;
        for (i = 0; i < 16; i++) direct = cf_crc64nvme(direct, z, sizeof(z));
        assert_true(a == direct);
    }
    /* bad widths are refused */
    assert_true(cf_crc_combine(CF_CRC64NVME_POLY, 65, 1, 2, 3) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc64_check_values),
        cmocka_unit_test(test_crc64_matches_reference),
        cmocka_unit_test(test_crc64_incremental),
        cmocka_unit_test(test_crc64_long_paths),
        cmocka_unit_test(test_combine_crc32),
        cmocka_unit_test(test_combine_crc32c),
        cmocka_unit_test(test_combine_crc64nvme),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
