/* cf_key.c: the master key and AES-256-GCM key wrapping, shared by the
 * gateway's server-side encryption (data keys) and iam/ (user secrets).
 * Moved from gateway/gw_sse.c (master key) and gateway/gw_sse_crypto.c
 * (gcm, wrap, unwrap) unchanged in behaviour, so that modules below the
 * gateway can use them.
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

static int master_create(const char *path, unsigned char out[CF_KEY_LEN])
{
    char e[128];
    unsigned char k[CF_KEY_LEN];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0) {
        cf_log(CF_LOG_ERR, "key: cannot create the master key %s: %s", path,
               cf_strerror(errno, e, sizeof(e)));
        return -1;
    }
    cf_random_bytes(k, sizeof(k));
    if (write(fd, k, sizeof(k)) != (ssize_t)sizeof(k) || fsync(fd) != 0) {
        cf_log(CF_LOG_ERR, "key: cannot write the master key %s: %s", path,
               cf_strerror(errno, e, sizeof(e)));
        OPENSSL_cleanse(k, sizeof(k));
        close(fd);
        unlink(path);
        return -1;
    }
    if (close(fd) != 0) {
        cf_log(CF_LOG_ERR, "key: cannot write the master key %s: %s", path,
               cf_strerror(errno, e, sizeof(e)));
        OPENSSL_cleanse(k, sizeof(k));
        unlink(path);
        return -1;
    }
    memcpy(out, k, CF_KEY_LEN);
    OPENSSL_cleanse(k, sizeof(k));
    cf_log(CF_LOG_NOTICE, "key: created the master key %s (keep a copy "
           "apart from the disks: encrypted objects and user secrets are "
           "unreadable without it)", path);
    return 0;
}

static int master_from_file(const char *path, int create,
                            unsigned char out[CF_KEY_LEN])
{
    char e[128];
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0 && errno == ENOENT && create)
        return master_create(path, out); /* first start */
    if (fd < 0) {
        cf_log(CF_LOG_ERR, "key: cannot open the master key %s: %s", path,
               cf_strerror(errno, e, sizeof(e)));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cf_log(CF_LOG_ERR, "key: master key %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        cf_log(CF_LOG_ERR, "key: master key %s: mode %03o lets others read "
               "it; chmod 600 it", path, (unsigned)(st.st_mode & 0777));
        close(fd);
        return -1;
    }
    n = read(fd, out, CF_KEY_LEN);
    if (n != CF_KEY_LEN || st.st_size != CF_KEY_LEN) {
        cf_log(CF_LOG_ERR, "key: master key %s: must hold exactly 32 bytes",
               path);
        OPENSSL_cleanse(out, CF_KEY_LEN);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int cf_master_key_load(const char *file, int create,
                       unsigned char out[CF_KEY_LEN])
{
    const char *env = getenv("COFFER_MASTER_KEY");
    if (env && *env) {
        if (strlen(env) != 2 * CF_KEY_LEN ||
            cf_hex_decode(env, 2 * CF_KEY_LEN, out, CF_KEY_LEN) != 0) {
            cf_log(CF_LOG_ERR, "key: COFFER_MASTER_KEY: must be 64 hex "
                   "digits (32 bytes)");
            return -1;
        }
        return 0;
    }
    if (file == NULL) {
        cf_log(CF_LOG_ERR, "key: no master key file configured");
        return -1;
    }
    return master_from_file(file, create, out);
}

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
