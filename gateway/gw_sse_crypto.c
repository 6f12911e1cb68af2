/* gw_sse_crypto.c: block sealing and data-key wrapping for server-side
 * encryption (see gw_sse.h for the layout). Every OpenSSL failure drains
 * the error queue here; callers see only -1. */
#include "gw_sse.h"
#include "cf.h"

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

/* The GCM primitive lives in common/cf_key.c (shared with key wrapping
 * for iam/). */
static int gcm(int enc, const unsigned char key[GW_SSE_KEY],
               const unsigned char iv[12], const unsigned char *aad,
               size_t aadlen, unsigned char *buf, size_t len,
               unsigned char tag[GW_SSE_TAG])
{
    return cf_gcm(enc, key, iv, aad, aadlen, buf, len, tag);
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
    return cf_key_wrap(kek, dek, aad, out);
}

int gw_sse_unwrap(const unsigned char kek[GW_SSE_KEY],
                  const unsigned char *in, size_t len, const char *aad,
                  unsigned char dek[GW_SSE_KEY])
{
    return cf_key_unwrap(kek, in, len, aad, dek);
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
