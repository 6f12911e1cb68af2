/* gw_csum.c: S3 flexible checksums (CRC32, CRC32C, CRC64NVME, SHA1,
 * SHA256): names, running computation, base64 values, and the multipart
 * object checksums built from part checksums.
 *
 * CRC-32 and CRC-32C come from ISA-L (crc32_gzip_refl, crc32_iscsi),
 * CRC-64/NVME from common/cf_crc.c, SHA-1/SHA-256 from OpenSSL. S3 sends
 * every value as base64 of the raw digest; CRCs big-endian.
 *
 * Multipart (AWS user guide, "Checking object integrity", "Using part-level
 * checksums for multipart uploads"):
 *   COMPOSITE    base64(H(raw part checksum 1 || ... || raw part checksum
 *                N)) followed by "-N", H the upload's algorithm
 *                (CRC32, CRC32C, SHA1, SHA256);
 *   FULL_OBJECT  the CRC of the whole object, which is the part CRCs
 *                combined (CRC32, CRC32C, CRC64NVME). */
#include "gw_int.h"

#include <isa-l.h>
#include <stdio.h>
#include <string.h>

static const char *const csum_hdr[] = {
    "", "x-amz-checksum-crc32", "x-amz-checksum-crc32c",
    "x-amz-checksum-sha1", "x-amz-checksum-sha256", "x-amz-checksum-crc64nvme"
};
static const char *const csum_name[] = { "", "CRC32", "CRC32C", "SHA1",
                                         "SHA256", "CRC64NVME" };
static const char *const csum_xml[] = {
    "", "ChecksumCRC32", "ChecksumCRC32C", "ChecksumSHA1", "ChecksumSHA256",
    "ChecksumCRC64NVME"
};
static const size_t csum_raw[] = { 0, 4, 4, 20, 32, 8 };

const char *gw_csum_header(enum gw_csum_algo a)
{
    return a > GW_CSUM_NONE && a <= GW_CSUM_CRC64NVME ? csum_hdr[a] : "";
}

const char *gw_csum_name(enum gw_csum_algo a)
{
    return a > GW_CSUM_NONE && a <= GW_CSUM_CRC64NVME ? csum_name[a] : "";
}

const char *gw_csum_xml(enum gw_csum_algo a)
{
    return a > GW_CSUM_NONE && a <= GW_CSUM_CRC64NVME ? csum_xml[a] : "";
}

size_t gw_csum_raw_len(enum gw_csum_algo a)
{
    return a > GW_CSUM_NONE && a <= GW_CSUM_CRC64NVME ? csum_raw[a] : 0;
}

int gw_csum_is_crc(enum gw_csum_algo a)
{
    return a == GW_CSUM_CRC32 || a == GW_CSUM_CRC32C ||
           a == GW_CSUM_CRC64NVME;
}

enum gw_csum_algo gw_csum_lookup(const char *s, size_t n)
{
    int i;
    for (i = 1; i <= GW_CSUM_CRC64NVME; i++) {
        if (n == strlen(csum_hdr[i]) && strncasecmp(s, csum_hdr[i], n) == 0)
            return (enum gw_csum_algo)i;
        if (n == strlen(csum_name[i]) && strncasecmp(s, csum_name[i], n) == 0)
            return (enum gw_csum_algo)i;
    }
    return GW_CSUM_NONE;
}

int gw_csum_init(struct gw_csum *c, enum gw_csum_algo algo)
{
    c->algo = algo;
    c->crc = algo == GW_CSUM_CRC32C ? 0xffffffffu : 0;
    c->md = NULL;
    if (algo == GW_CSUM_SHA1 || algo == GW_CSUM_SHA256) {
        c->md = EVP_MD_CTX_new();
        if (c->md == NULL ||
            !EVP_DigestInit_ex(c->md, algo == GW_CSUM_SHA1 ? EVP_sha1()
                                                           : EVP_sha256(),
                               NULL))
            return -1;
    }
    return 0;
}

void gw_csum_update(struct gw_csum *c, const void *p, size_t n)
{
    switch (c->algo) {
    case GW_CSUM_CRC32:
        c->crc = crc32_gzip_refl((uint32_t)c->crc, p, n);
        break;
    case GW_CSUM_CRC32C:
        while (n > 0) { /* ISA-L takes an int length */
            int k = n > (1u << 30) ? (1 << 30) : (int)n;
            c->crc = crc32_iscsi((unsigned char *)p, k, (uint32_t)c->crc);
            p = (const char *)p + k;
            n -= (size_t)k;
        }
        break;
    case GW_CSUM_CRC64NVME: c->crc = cf_crc64nvme(c->crc, p, n); break;
    case GW_CSUM_SHA1:
    case GW_CSUM_SHA256: EVP_DigestUpdate(c->md, p, n); break;
    default: break;
    }
}

/* The CRC value of a running CRC (final conditioning applied). */
static uint64_t crc_value(const struct gw_csum *c)
{
    return c->algo == GW_CSUM_CRC32C ? (c->crc ^ 0xffffffffu) : c->crc;
}

static size_t crc_to_raw(enum gw_csum_algo a, uint64_t v, unsigned char *raw)
{
    size_t n = gw_csum_raw_len(a), i;
    for (i = 0; i < n; i++) raw[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    return n;
}

size_t gw_csum_final_raw(struct gw_csum *c, unsigned char raw[64])
{
    unsigned int n = 0;
    if (gw_csum_is_crc(c->algo)) return crc_to_raw(c->algo, crc_value(c), raw);
    if (c->md && EVP_DigestFinal_ex(c->md, raw, &n)) return n;
    return 0;
}

void gw_csum_final(struct gw_csum *c, char out[GW_CSUM_B64_MAX])
{
    unsigned char raw[64];
    size_t n = gw_csum_final_raw(c, raw);
    if (n == 0) {
        out[0] = '\0';
        return;
    }
    cf_base64_encode(raw, n, out);
}

void gw_csum_cleanup(struct gw_csum *c)
{
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
    c->algo = GW_CSUM_NONE;
}

/* base64 of one checksum of algorithm a → raw bytes; -1 if it is not one. */
int gw_csum_decode(enum gw_csum_algo a, const char *b64, size_t n,
                   unsigned char raw[64])
{
    size_t want = gw_csum_raw_len(a);
    long got;
    if (want == 0 || n == 0 || n > GW_CSUM_B64_MAX - 1) return -1;
    got = cf_base64_decode(b64, n, raw, 64);
    return got == (long)want ? 0 : -1;
}

static uint64_t raw_to_crc(const unsigned char *raw, size_t n)
{
    uint64_t v = 0;
    size_t i;
    for (i = 0; i < n; i++) v = (v << 8) | raw[i];
    return v;
}

int gw_csum_multipart(enum gw_csum_algo a, int full_object,
                      const char *const *part_b64, const uint64_t *part_size,
                      size_t nparts, char out[GW_CSUM_B64_MAX + 8])
{
    unsigned char raw[64];
    size_t i, rl = gw_csum_raw_len(a);

    if (rl == 0 || nparts == 0) return -1;
    if (full_object) {
        uint64_t poly = a == GW_CSUM_CRC32    ? CF_CRC32_POLY
                        : a == GW_CSUM_CRC32C ? CF_CRC32C_POLY
                                              : CF_CRC64NVME_POLY;
        unsigned width = a == GW_CSUM_CRC64NVME ? 64 : 32;
        uint64_t acc = 0;
        if (!gw_csum_is_crc(a)) return -1;
        for (i = 0; i < nparts; i++) {
            if (gw_csum_decode(a, part_b64[i], strlen(part_b64[i]), raw))
                return -1;
            acc = i == 0 ? raw_to_crc(raw, rl)
                         : cf_crc_combine(poly, width, acc,
                                          raw_to_crc(raw, rl), part_size[i]);
        }
        crc_to_raw(a, acc, raw);
        cf_base64_encode(raw, rl, out);
        return 0;
    } else {
        struct gw_csum h;
        char v[GW_CSUM_B64_MAX];
        if (a == GW_CSUM_CRC64NVME) return -1; /* FULL_OBJECT only */
        if (gw_csum_init(&h, a) != 0) {
            gw_csum_cleanup(&h);
            return -1;
        }
        for (i = 0; i < nparts; i++) {
            if (gw_csum_decode(a, part_b64[i], strlen(part_b64[i]), raw)) {
                gw_csum_cleanup(&h);
                return -1;
            }
            gw_csum_update(&h, raw, rl);
        }
        gw_csum_final(&h, v);
        gw_csum_cleanup(&h);
        /* v is at most 64 base64 characters: "-10000" always fits */
        if (snprintf(out, GW_CSUM_B64_MAX + 8, "%s-%zu", v, nparts) >=
            GW_CSUM_B64_MAX + 8)
            return -1;
        return 0;
    }
}
