/* cf_crc.c: CRC-64/NVME (Debian's ISA-L 2.30 lacks it; it arrived in ISA-L
 * 2.31) and CRC combination for reflected CRCs.
 *
 * CRC-64/NVME: width 64, reflected polynomial 0x9a6c9329ac4bc9b5 (normal
 * 0xad93d23594c93659), init and xorout all ones, refin = refout = true;
 * check value ("123456789") 0xae8b14860a799888. Table-driven slicing-by-8:
 * eight 256-entry tables, built once (pthread_once), fold eight input bytes
 * per step: 2.2 GB/s on one core here (ISA-L's folding CRC-32 runs at
 * about 45 GB/s). PCLMUL folding, as ISA-L 2.31 does, would
 * be several times faster (left for later).
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
}

uint64_t cf_crc64nvme(uint64_t crc, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    uint64_t c;

    pthread_once(&crc64_once, crc64_init_tables);
    c = ~crc;
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
    return ~c;
}

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
