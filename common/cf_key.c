/* cf_key.c: AES-256-GCM and key wrapping, shared by the gateway's
 * server-side encryption (data keys under the master key) and iam/ (user
 * secrets under the same key). Moved from gateway/gw_sse_crypto.c (gcm,
 * wrap, unwrap) unchanged in behaviour, so that modules below the gateway
 * can use them; loading the master key stays in gateway/gw_sse_key.c
 * (cmd/ hands the bytes to iam).
 *
 * Invariants: no key byte is ever logged; every temporary copy of a key is
 * wiped (OPENSSL_cleanse); every OpenSSL failure drains the error queue
 * here, callers see only -1. */
#include "cf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Lengths above INT_MAX are cut into updates. */
int cf_gcm(int enc, const unsigned char key[CF_KEY_LEN],
           const unsigned char iv[12], const unsigned char *aad,
           size_t aadlen, unsigned char *buf, size_t len,
           unsigned char tag[CF_KEY_TAG])
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
    if (!enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CF_KEY_TAG,
                                     tag))
        goto out;
    if (!EVP_CipherFinal_ex(c, buf + off, &n)) goto out;
    if (enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CF_KEY_TAG, tag))
        goto out;
    ok = 1;
out:
    if (!ok) ERR_clear_error();
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int cf_key_wrap(const unsigned char kek[CF_KEY_LEN],
                const unsigned char key[CF_KEY_LEN], const char *aad,
                unsigned char out[CF_KEY_WRAPPED])
{
    if (RAND_bytes(out, 12) != 1) {
        ERR_clear_error();
        return -1;
    }
    memcpy(out + 12, key, CF_KEY_LEN);
    return cf_gcm(1, kek, out, (const unsigned char *)aad, strlen(aad),
                  out + 12, CF_KEY_LEN, out + 12 + CF_KEY_LEN);
}

int cf_key_unwrap(const unsigned char kek[CF_KEY_LEN],
                  const unsigned char *in, size_t len, const char *aad,
                  unsigned char key[CF_KEY_LEN])
{
    unsigned char tmp[CF_KEY_LEN], tag[CF_KEY_TAG];
    if (len != CF_KEY_WRAPPED) return -1;
    memcpy(tmp, in + 12, CF_KEY_LEN);
    memcpy(tag, in + 12 + CF_KEY_LEN, CF_KEY_TAG);
    if (cf_gcm(0, kek, in, (const unsigned char *)aad, strlen(aad), tmp,
               CF_KEY_LEN, tag) != 0) {
        OPENSSL_cleanse(tmp, sizeof(tmp));
        return -1;
    }
    memcpy(key, tmp, CF_KEY_LEN);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return 0;
}
