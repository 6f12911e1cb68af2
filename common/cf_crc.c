/* cf_crc.c: CRC-64/NVME (Debian's ISA-L 2.30 lacks it; it arrived in ISA-L
 * 2.31) and CRC combination for reflected CRCs.
 *
 * CRC-64/NVME: width 64, reflected polynomial 0x9a6c9329ac4bc9b5 (normal
 * 0xad93d23594c93659), init and xorout all ones, refin = refout = true;
 * check value ("123456789") 0xae8b14860a799888. Two implementations, the
 * same values (tests/unit/test_crc.c checks both against a bitwise
 * reference): table-driven slicing-by-8 (eight 256-entry tables, built
 * once under pthread_once; 2.2 GB/s on one core here), and on x86-64 CPUs
 * with PCLMULQDQ, for inputs of 128 bytes or more, carry-less-multiply
 * folding (Intel's "Fast CRC computation for generic polynomials using
 * PCLMULQDQ"): four 16-byte lanes folded 512 bits at a time, then one
 * lane, and the last 16 bytes and the tail through the tables instead of a
 * Barrett reduction. Folding constants are computed at start-up from the
 * polynomial (crc64_xpow), not copied from tables.
 *
 * Combination (zlib's crc32_combine, generalised): for a reflected CRC whose
 * init equals its xorout, CRC(A||B) = CRC(A)·x^(8|B|) mod P  xor  CRC(B)
 * (the conditioning terms cancel). Multiplication mod P is done in the
 * reflected representation: bit (width-1) is x^0. */
#include "cf.h"

#include <pthread.h>
#include <string.h>

static uint64_t crc64_tab[8][256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

/* a·b mod P, both in the reflected representation of a width-bit CRC. */
static uint64_t mulmodp(uint64_t a, uint64_t b, uint64_t poly, unsigned width)
{
    uint64_t m = (uint64_t)1 << (width - 1), p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) break;
        }
        m >>= 1;
        b = (b & 1) ? (b >> 1) ^ poly : b >> 1;
    }
    return p;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define CF_CRC_PCLMUL 1
#include <immintrin.h>
/* Folding constants: a 128-bit block (lo = its first 8 bytes, the higher
 * powers) moved D bits further is lo·x^(D+64) + hi·x^D; a reflected
 * carry-less product carries an extra factor x, so the constants are
 * x^(D+63) and x^(D-1) mod P. [0]: D = 128, [1]: D = 512. */
static uint64_t crc64_fold[2][2];
static int crc64_have_pclmul;

/* x^n mod P for CRC-64/NVME, reflected representation. */
static uint64_t crc64_xpow(unsigned n)
{
    uint64_t p = (uint64_t)1 << 63, x = (uint64_t)1 << 62; /* x^0, x^1 */
    while (n) {
        if (n & 1) p = mulmodp(x, p, CF_CRC64NVME_POLY, 64);
        n >>= 1;
        if (n) x = mulmodp(x, x, CF_CRC64NVME_POLY, 64);
    }
    return p;
}
#endif

static void crc64_init_tables(void)
{
    unsigned i, k;
    for (i = 0; i < 256; i++) {
        uint64_t c = i;
        for (k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CF_CRC64NVME_POLY : c >> 1;
        crc64_tab[0][i] = c;
    }
    for (i = 0; i < 256; i++)
        for (k = 1; k < 8; k++)
            crc64_tab[k][i] = (crc64_tab[k - 1][i] >> 8) ^
                              crc64_tab[0][crc64_tab[k - 1][i] & 0xff];
#ifdef CF_CRC_PCLMUL
    crc64_fold[0][0] = crc64_xpow(128 + 63);
    crc64_fold[0][1] = crc64_xpow(128 - 1);
    crc64_fold[1][0] = crc64_xpow(512 + 63);
    crc64_fold[1][1] = crc64_xpow(512 - 1);
    __builtin_cpu_init();
    crc64_have_pclmul = __builtin_cpu_supports("pclmul") &&
                        __builtin_cpu_supports("sse2");
#endif
}

/* The raw register update (no conditioning), slicing-by-8. */
static uint64_t crc64_tab_update(uint64_t c, const unsigned char *p,
                                 size_t n)
{
    /* Byte steps until p is 8-aligned, then 8 bytes per step. */
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = crc64_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        c ^= w;
        c = crc64_tab[7][c & 0xff] ^ crc64_tab[6][(c >> 8) & 0xff] ^
            crc64_tab[5][(c >> 16) & 0xff] ^ crc64_tab[4][(c >> 24) & 0xff] ^
            crc64_tab[3][(c >> 32) & 0xff] ^ crc64_tab[2][(c >> 40) & 0xff] ^
            crc64_tab[1][(c >> 48) & 0xff] ^ crc64_tab[0][c >> 56];
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        c = crc64_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    return c;
}

#ifdef CF_CRC_PCLMUL
__attribute__((target("pclmul,sse2")))
static __m128i fold(__m128i x, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),
                         _mm_clmulepi64_si128(x, k, 0x11));
}

/* Folds n >= 64 bytes four 16-byte lanes at a time, then one lane, and
 * hands the last 16-byte remainder (whose value as a message is that of
 * everything folded) and the tail to the table code. */
__attribute__((target("pclmul,sse2")))
static uint64_t crc64_pclmul_update(uint64_t c, const unsigned char *p,
                                    size_t n)
{
    const __m128i k128 = _mm_set_epi64x((long long)crc64_fold[0][1],
                                        (long long)crc64_fold[0][0]);
    const __m128i k512 = _mm_set_epi64x((long long)crc64_fold[1][1],
                                        (long long)crc64_fold[1][0]);
    __m128i x0, x1, x2, x3;
    unsigned char rest[16];

    x0 = _mm_loadu_si128((const __m128i *)p);
    x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_set_epi64x(0, (long long)c));
    p += 64;
    n -= 64;
    while (n >= 64) {
        x0 = _mm_xor_si128(fold(x0, k512),
                           _mm_loadu_si128((const __m128i *)p));
        x1 = _mm_xor_si128(fold(x1, k512),
                           _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = _mm_xor_si128(fold(x2, k512),
                           _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = _mm_xor_si128(fold(x3, k512),
                           _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        n -= 64;
    }
    x1 = _mm_xor_si128(fold(x0, k128), x1);
    x2 = _mm_xor_si128(fold(x1, k128), x2);
    x3 = _mm_xor_si128(fold(x2, k128), x3);
    while (n >= 16) {
        x3 = _mm_xor_si128(fold(x3, k128),
                           _mm_loadu_si128((const __m128i *)p));
        p += 16;
        n -= 16;
    }
    _mm_storeu_si128((__m128i *)rest, x3);
    c = crc64_tab_update(0, rest, 16);
    return crc64_tab_update(c, p, n);
}
#endif

uint64_t cf_crc64nvme(uint64_t crc, const void *buf, size_t n)
{
    const unsigned char *p = buf;

    pthread_once(&crc64_once, crc64_init_tables);
#ifdef CF_CRC_PCLMUL
    if (crc64_have_pclmul && n >= 128)
        return ~crc64_pclmul_update(~crc, p, n);
#endif
    return ~crc64_tab_update(~crc, p, n);
}

uint64_t cf_crc_combine(uint64_t poly, unsigned width, uint64_t crc_a,
                        uint64_t crc_b, uint64_t len_b)
{
    uint64_t xp, p;

    if (width < 9 || width > 64) return 0;
    if (len_b == 0) return crc_a ^ crc_b; /* CRC("") == 0 */
    /* p = x^(8·len_b) mod P by square-and-multiply over len_b's bits;
     * xp runs through x^(8·2^k). */
    p = (uint64_t)1 << (width - 1);          /* x^0 */
    xp = (uint64_t)1 << (width - 9);         /* x^8 */
    while (len_b) {
        if (len_b & 1) p = mulmodp(xp, p, poly, width);
        len_b >>= 1;
        if (len_b) xp = mulmodp(xp, xp, poly, width);
    }
    return mulmodp(p, crc_a, poly, width) ^ crc_b;
}
