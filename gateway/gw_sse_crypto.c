/* gw_sse_crypto.c: block sealing and data-key wrapping for server-side
 * encryption (see gw_sse.h for the layout). Every OpenSSL failure drains
 * the error queue here; callers see only -1. */
#include "gw_sse.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#define BLOCK_LABEL "coffer-sse-block-1"
#define AAD_LABEL "coffer-sse-1"

int gw_sse_block_key(const unsigned char dek[GW_SSE_KEY], const char *data_id,
                     unsigned char out[GW_SSE_KEY])
{
    unsigned char msg[sizeof(BLOCK_LABEL) + 80];
    size_t ll = sizeof(BLOCK_LABEL) - 1, dl = strcspn(data_id, "+");
    unsigned int n = 0;

    if (dl > sizeof(msg) - ll) return -1;
    memcpy(msg, BLOCK_LABEL, ll);
    memcpy(msg + ll, data_id, dl);
    if (HMAC(EVP_sha256(), dek, GW_SSE_KEY, msg, ll + dl, out, &n) == NULL ||
        n != GW_SSE_KEY) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static void be64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* nonce and aad of block idx; returns the aad length, 0 if it is too long */
static size_t block_params(const unsigned char salt[GW_SSE_SALT],
                           const char *data_id, uint64_t idx,
                           unsigned char nonce[12], unsigned char *aad,
                           size_t cap)
{
    size_t ll = sizeof(AAD_LABEL) - 1, dl = strcspn(data_id, "+");
    if (ll + dl + 9 > cap) return 0;
    memcpy(nonce, salt, GW_SSE_SALT);
    be64(nonce + GW_SSE_SALT, idx);
    memcpy(aad, AAD_LABEL, ll);
    memcpy(aad + ll, data_id, dl);
    aad[ll + dl] = 0;
    be64(aad + ll + dl + 1, idx);
    return ll + dl + 9;
}

/* One AES-256-GCM operation in place: enc 1 seals (tag out), 0 opens
 * (tag in). Lengths above INT_MAX are cut into updates. */
static int gcm(int enc, const unsigned char key[GW_SSE_KEY],
               const unsigned char iv[12], const unsigned char *aad,
               size_t aadlen, unsigned char *buf, size_t len,
               unsigned char tag[GW_SSE_TAG])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = 0, n = 0;
    size_t off = 0;

    if (c == NULL) goto out;
    if (!EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) ||
        !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) ||
        !EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc))
        goto out;
    if (aadlen && !EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen)) goto out;
    while (off < len) {
        size_t chunk = len - off > (1u << 30) ? (1u << 30) : len - off;
        if (!EVP_CipherUpdate(c, buf + off, &n, buf + off, (int)chunk) ||
            (size_t)n != chunk)
            goto out;
        off += chunk;
    }
    if (!enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GW_SSE_TAG,
                                     tag))
        goto out;
    if (!EVP_CipherFinal_ex(c, buf + off, &n)) goto out;
    if (enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GW_SSE_TAG, tag))
        goto out;
    ok = 1;
out:
    if (!ok) ERR_clear_error();
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int gw_sse_seal(const unsigned char bkey[GW_SSE_KEY],
                const unsigned char salt[GW_SSE_SALT], const char *data_id,
                uint64_t idx, unsigned char *buf, size_t len)
{
    unsigned char nonce[12], aad[128];
    size_t al = block_params(salt, data_id, idx, nonce, aad, sizeof(aad));
    if (al == 0) return -1;
    return gcm(1, bkey, nonce, aad, al, buf, len, buf + len);
}

int gw_sse_open(const unsigned char bkey[GW_SSE_KEY],
                const unsigned char salt[GW_SSE_SALT], const char *data_id,
                uint64_t idx, unsigned char *buf, size_t clen)
{
    unsigned char nonce[12], aad[128], tag[GW_SSE_TAG];
    size_t al = block_params(salt, data_id, idx, nonce, aad, sizeof(aad));
    if (al == 0 || clen <= GW_SSE_TAG) return -1;
    memcpy(tag, buf + clen - GW_SSE_TAG, GW_SSE_TAG);
    return gcm(0, bkey, nonce, aad, al, buf, clen - GW_SSE_TAG, tag);
}

int gw_sse_wrap(const unsigned char kek[GW_SSE_KEY],
                const unsigned char dek[GW_SSE_KEY], const char *aad,
                unsigned char out[GW_SSE_WRAPPED])
{
    if (RAND_bytes(out, 12) != 1) {
        ERR_clear_error();
        return -1;
    }
    memcpy(out + 12, dek, GW_SSE_KEY);
    return gcm(1, kek, out, (const unsigned char *)aad, strlen(aad),
               out + 12, GW_SSE_KEY, out + 12 + GW_SSE_KEY);
}

int gw_sse_unwrap(const unsigned char kek[GW_SSE_KEY],
                  const unsigned char *in, size_t len, const char *aad,
                  unsigned char dek[GW_SSE_KEY])
{
    unsigned char tmp[GW_SSE_KEY], tag[GW_SSE_TAG];
    if (len != GW_SSE_WRAPPED) return -1;
    memcpy(tmp, in + 12, GW_SSE_KEY);
    memcpy(tag, in + 12 + GW_SSE_KEY, GW_SSE_TAG);
    if (gcm(0, kek, in, (const unsigned char *)aad, strlen(aad), tmp,
            GW_SSE_KEY, tag) != 0) {
        OPENSSL_cleanse(tmp, sizeof(tmp));
        return -1;
    }
    memcpy(dek, tmp, GW_SSE_KEY);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return 0;
}

int gw_sse_key_check(const unsigned char key[GW_SSE_KEY],
                     const unsigned char salt[GW_SSE_KID_SALT],
                     unsigned char out[32])
{
    static const char label[] = "coffer-sse-c-kid-1";
    unsigned char msg[GW_SSE_KID_SALT + sizeof(label)];
    unsigned int n = 0;

    memcpy(msg, salt, GW_SSE_KID_SALT);
    memcpy(msg + GW_SSE_KID_SALT, label, sizeof(label) - 1);
    if (HMAC(EVP_sha256(), key, GW_SSE_KEY, msg,
             GW_SSE_KID_SALT + sizeof(label) - 1, out, &n) == NULL ||
        n != 32) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}
