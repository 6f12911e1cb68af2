/* gw_sse.h: the cryptography of server-side encryption at rest, as pure
 * functions over caller buffers (no I/O, no globals), AES-256-GCM through
 * OpenSSL EVP. The gateway's policy (headers, master key, bucket default)
 * lives in gw_sse.c; the on-disk layout is described in
 * docs/architecture.md ("Encryption at rest").
 *
 * Threads: any. Keys are borrowed for the call; callers wipe their copies
 * (OPENSSL_cleanse) when done.
 *
 * Layout: a version's data is cut into blocks of (stripe_size - 16)
 * plaintext bytes, the last one short; each block i is sealed with
 *   key   = HMAC-SHA256(data key, "coffer-sse-block-1" | data id)
 *   nonce = salt (4 random bytes per version or upload) | be64(i)
 *   aad   = "coffer-sse-1" | data id | 0 | be64(i)
 * and stored as ciphertext followed by its 16-byte tag, so one block and its
 * tag fill exactly one erasure stripe. The data id is unique per write (and
 * per multipart part), so no (key, nonce) pair is ever used twice, and a
 * block moved to another index or another object fails its tag. "data id"
 * is the id the write was made under: for a packed version, the part of
 * its locator before '+' (ec.h), which the data keeps when it moves. */
#ifndef GW_SSE_H
#define GW_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

#define GW_SSE_KEY 32        /* AES-256 */
#define GW_SSE_TAG 16        /* GCM tag per block (== META_SSE_TAG) */
#define GW_SSE_SALT 4        /* nonce salt bytes */
#define GW_SSE_WRAPPED 60    /* wrapped data key: iv 12 | ct 32 | tag 16 */
/* Associated data binding a wrapped data key to SSE-S3 (master key). */
#define GW_SSE_AAD_S3 "coffer-dek-sse-s3-1"

/* The key of the blocks of one data object. 0, or -1 (OpenSSL error). */
int gw_sse_block_key(const unsigned char dek[GW_SSE_KEY], const char *data_id,
                     unsigned char out[GW_SSE_KEY]);
/* Encrypts block idx (len plaintext bytes at buf) in place and writes its
 * tag at buf + len (the buffer must hold len + GW_SSE_TAG). 0 or -1. */
int gw_sse_seal(const unsigned char bkey[GW_SSE_KEY],
                const unsigned char salt[GW_SSE_SALT], const char *data_id,
                uint64_t idx, unsigned char *buf, size_t len);
/* Decrypts block idx in place: clen stored bytes (ciphertext + tag, clen >
 * GW_SSE_TAG) become clen - GW_SSE_TAG plaintext bytes. -1 when the tag
 * does not verify (the buffer then holds no usable bytes) or on error. */
int gw_sse_open(const unsigned char bkey[GW_SSE_KEY],
                const unsigned char salt[GW_SSE_SALT], const char *data_id,
                uint64_t idx, unsigned char *buf, size_t clen);
/* cf_key_wrap() / cf_key_unwrap() (common/cf_key.c, where they moved so
 * iam/ can share them) under the SSE names. */
int gw_sse_wrap(const unsigned char kek[GW_SSE_KEY],
                const unsigned char dek[GW_SSE_KEY], const char *aad,
                unsigned char out[GW_SSE_WRAPPED]);
int gw_sse_unwrap(const unsigned char kek[GW_SSE_KEY],
                  const unsigned char *in, size_t len, const char *aad,
                  unsigned char dek[GW_SSE_KEY]);

/* SSE-C: the value that recognises a customer key without storing it,
 * HMAC-SHA256(key, salt | "coffer-sse-c-kid-1"). 0 or -1. */
#define GW_SSE_KID_SALT 16
int gw_sse_key_check(const unsigned char key[GW_SSE_KEY],
                     const unsigned char salt[GW_SSE_KID_SALT],
                     unsigned char out[32]);

/* A multipart upload's encryption rides in its stored headers as this
 * internal entry until completion moves it into the version: hex of
 *   alg u8 | salt 4 | wrapped key 60 | kid
 * where kid is, for SSE-S3, the 8-byte id of the master key that wraps
 * the data key (absent in uploads created before ids) and, for SSE-C, the
 * key check value (16-byte salt | HMAC, 48 bytes). */
#define GW_UPLOAD_SSE_HEADER "x-coffer-mpu-sse" /* removed at completion */
#define GW_SSE_UPLOAD_BASE (1 + GW_SSE_SALT + GW_SSE_WRAPPED)
#define GW_SSE_UPLOAD_MAX (GW_SSE_UPLOAD_BASE + GW_SSE_KID_SALT + 32)
/* 0, or -1 when s does not fit the entry. */
int gw_sse_upload_encode(const struct meta_sse *s,
                         char hex[2 * GW_SSE_UPLOAD_MAX + 1]);
/* 0, or -1 (s zeroed) when hex is not such an entry. */
int gw_sse_upload_decode(const char *hex, struct meta_sse *s);

/* The 8 big-endian bytes of a master key id, as SSE-S3 records keep it
 * in their kid field (gw_sse_key.c). */
void gw_master_key_id_bytes(uint64_t id, unsigned char out[8]);

#endif /* GW_SSE_H */
