/* gw_sse.c: server-side encryption at rest, the gateway's side: the master
 * key, which writes are encrypted (x-amz-server-side-encryption, the
 * bucket's default encryption), data keys, response headers, and the
 * bucket encryption sub-resource. The cryptography is in gw_sse_crypto.c.
 *
 * Every encrypted version has its own random data key, wrapped (AES-256-GCM)
 * by the master key (SSE-S3) or by the customer's key (SSE-C), and stored
 * in its catalog record (and its shards' headers, for a catalog rebuild).
 * An SSE-C key is never stored: only a salted HMAC of it, to tell a wrong
 * key (403) from a damaged record. aws:kms is refused with 501
 * NotImplemented, never accepted and ignored. */
#include "gw_int.h"
#include "gw_sse.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRAP_AAD_C "coffer-dek-sse-c-1"
#define SSE_HDR "x-amz-server-side-encryption"
#define SSE_DEFAULT_BK "AES256;bucket-key" /* bucket attribute, see PUT */
#define SSEC "x-amz-server-side-encryption-customer-"
#define SSEC_SRC "x-amz-copy-source-server-side-encryption-customer-"

/* ---- requests ---- */

/* Operations that take x-amz-server-side-encryption (AWS refuses it on
 * the others, e.g. GET: 400 InvalidArgument). */
static int op_writes(enum gw_op op)
{
    return op == GW_OP_PUT_OBJECT || op == GW_OP_CREATE_MPU ||
           op == GW_OP_COPY_OBJECT;
}

/* Operations that take SSE-C headers (the key of the object written or
 * read), and the copy-source ones. */
static int op_ssec(enum gw_op op)
{
    return op == GW_OP_PUT_OBJECT || op == GW_OP_CREATE_MPU ||
           op == GW_OP_COPY_OBJECT || op == GW_OP_UPLOAD_PART ||
           op == GW_OP_UPLOAD_PART_COPY || op == GW_OP_GET_OBJECT ||
           op == GW_OP_HEAD_OBJECT;
}

static int prefixed(const struct cf_str *name, const char *prefix)
{
    size_t pl = strlen(prefix);
    return name->len >= pl && strncasecmp(name->p, prefix, pl) == 0;
}

/* A customer key from one set of SSE-C headers (prefix SSEC or
 * SSEC_SRC): 0 none of them given, 1 valid (key filled), -1 with the
 * error set. */
static int ssec_parse(struct gw_req *req, const char *prefix,
                      unsigned char key[GW_SSE_KEY])
{
    char n1[96], n2[96], n3[96];
    const char *alg, *k, *m;
    size_t al = 0, kl = 0, ml = 0;
    unsigned char md5[16], want[16];
    unsigned int dl = 0;

    snprintf(n1, sizeof(n1), "%salgorithm", prefix);
    snprintf(n2, sizeof(n2), "%skey", prefix);
    snprintf(n3, sizeof(n3), "%skey-md5", prefix);
    alg = gw_req_header(req, n1, &al);
    k = gw_req_header(req, n2, &kl);
    m = gw_req_header(req, n3, &ml);
    if (alg == NULL && k == NULL && m == NULL) return 0;
    if (alg == NULL || al != 6 || strncmp(alg, "AES256", 6) != 0) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "Requests specifying Server Side Encryption with "
                      "Customer provided keys must provide a valid "
                      "encryption algorithm.");
        return -1;
    }
    if (k == NULL || cf_base64_decode(k, kl, key, GW_SSE_KEY) != GW_SSE_KEY) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "The secret key was invalid for the specified "
                      "algorithm.");
        return -1;
    }
    if (m == NULL || cf_base64_decode(m, ml, want, 16) != 16 ||
        !EVP_Digest(key, GW_SSE_KEY, md5, &dl, EVP_md5(), NULL) ||
        CRYPTO_memcmp(md5, want, 16) != 0) {
        OPENSSL_cleanse(key, GW_SSE_KEY);
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "The calculated MD5 hash of the key did not match the "
                      "hash that was provided.");
        return -1;
    }
    return 1;
}

int gw_sse_check_headers(struct gw_req *req)
{
    size_t n, i;
    const char *v;
    unsigned char key[GW_SSE_KEY];
    int c, cs;

    for (i = 0; i < (size_t)req->nhdrs; i++) {
        const struct cf_str *nm = &req->hdrs[i].name;
        if (prefixed(nm, SSE_HDR "-aws-kms-") ||
            prefixed(nm, SSE_HDR "-context")) {
            gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                          "Server-side encryption with aws:kms is not "
                          "implemented.");
            return -1;
        }
    }
    v = gw_req_header(req, SSE_HDR, &n);
    if (v && ((n == 7 && strncmp(v, "aws:kms", 7) == 0) ||
              (n == 12 && strncmp(v, "aws:kms:dsse", 12) == 0))) {
        gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                      "Server-side encryption with aws:kms is not "
                      "implemented.");
        return -1;
    }
    /* SSE-C: well-formed, and only where it means something */
    c = ssec_parse(req, SSEC, key);
    if (c < 0) return -1;
    cs = ssec_parse(req, SSEC_SRC, key);
    OPENSSL_cleanse(key, sizeof(key));
    if (cs < 0) return -1;
    if ((c && !op_ssec(req->op)) ||
        (cs && req->op != GW_OP_COPY_OBJECT &&
         req->op != GW_OP_UPLOAD_PART_COPY)) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "Server Side Encryption with Customer provided key is "
                      "not supported for this operation.");
        return -1;
    }
    if (v == NULL) return 0;
    if (!op_writes(req->op)) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "x-amz-server-side-encryption header is not supported "
                      "for this operation.");
        return -1;
    }
    if (!(n == 6 && strncmp(v, "AES256", 6) == 0)) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "The encryption method specified is not supported");
        return -1;
    }
    if (c) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "Server Side Encryption with Customer provided key is "
                      "incompatible with the encryption method specified");
        return -1;
    }
    return 0;
}

int gw_sse_for_write(struct gw_req *req, struct meta_version *v,
                     unsigned char dek[32])
{
    int want = gw_req_header(req, SSE_HDR, NULL) != NULL;
    unsigned char ckey[GW_SSE_KEY];
    int c;

    memset(&v->sse, 0, sizeof(v->sse));
    c = ssec_parse(req, SSEC, ckey);
    if (c < 0) return -1;
    if (c > 0) {
        /* SSE-C: the data key wrapped by the customer's key, which is
         * recognised later by a salted HMAC, never stored */
        cf_random_bytes(dek, 32);
        cf_random_bytes(v->sse.salt, GW_SSE_SALT);
        v->sse.salt_len = GW_SSE_SALT;
        cf_random_bytes(v->sse.kid, GW_SSE_KID_SALT);
        if (gw_sse_key_check(ckey, v->sse.kid, v->sse.kid + GW_SSE_KID_SALT) !=
                0 ||
            gw_sse_wrap(ckey, dek, WRAP_AAD_C, v->sse.wkey) != 0) {
            OPENSSL_cleanse(ckey, sizeof(ckey));
            OPENSSL_cleanse(dek, 32);
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            return -1;
        }
        OPENSSL_cleanse(ckey, sizeof(ckey));
        v->sse.kid_len = GW_SSE_KID_SALT + 32;
        v->sse.wkey_len = GW_SSE_WRAPPED;
        v->sse.alg = META_SSE_C;
        return 1;
    }
    if (!want) {
        char *doc = NULL;
        size_t n = 0;
        enum meta_status st = meta_bucket_attr_get(
            req->srv->db, req->bucket, META_BATTR_SSE, &doc, &n);
        if (st != META_OK) {
            gw_resp_error(&req->resp, st == META_ENOTFOUND
                                          ? GW_E_NO_SUCH_BUCKET
                                          : gw_err_from_meta(st),
                          NULL);
            return -1;
        }
        want = doc != NULL && (strcmp(doc, "AES256") == 0 ||
                               strcmp(doc, SSE_DEFAULT_BK) == 0);
        free(doc);
    }
    if (!want) return 0;
    cf_random_bytes(dek, 32);
    cf_random_bytes(v->sse.salt, GW_SSE_SALT);
    v->sse.salt_len = GW_SSE_SALT;
    if (gw_sse_wrap(req->srv->sse_master, dek, GW_SSE_AAD_S3, v->sse.wkey) !=
        0) {
        OPENSSL_cleanse(dek, 32);
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return -1;
    }
    v->sse.wkey_len = GW_SSE_WRAPPED;
    /* the record names its master key, so a rotation knows what it did */
    gw_master_key_id_bytes(req->srv->sse_master_id, v->sse.kid);
    v->sse.kid_len = 8;
    v->sse.alg = META_SSE_S3;
    return 1;
}

int gw_sse_data_key(struct gw_req *req, const struct meta_sse *s,
                    int copy_source, unsigned char dek[32])
{
    unsigned char ckey[GW_SSE_KEY], chk[32];
    int c = ssec_parse(req, copy_source ? SSEC_SRC : SSEC, ckey);

    if (c < 0) return -1;
    if (s->alg != META_SSE_C && c > 0) {
        OPENSSL_cleanse(ckey, sizeof(ckey));
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "The encryption parameters are not applicable to this "
                      "object.");
        return -1;
    }
    if (s->alg == META_SSE_NONE) return 0;
    if (s->alg == META_SSE_C) {
        if (c == 0) {
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                          "The object was stored using a form of Server Side "
                          "Encryption. The correct parameters must be "
                          "provided to retrieve the object.");
            return -1;
        }
        if (s->kid_len != GW_SSE_KID_SALT + 32 ||
            gw_sse_key_check(ckey, s->kid, chk) != 0 ||
            CRYPTO_memcmp(chk, s->kid + GW_SSE_KID_SALT, 32) != 0) {
            OPENSSL_cleanse(ckey, sizeof(ckey));
            gw_resp_error(&req->resp, GW_E_ACCESS_DENIED,
                          "The provided encryption key does not match the "
                          "one the object was stored with.");
            return -1;
        }
        c = s->salt_len == GW_SSE_SALT
                ? gw_sse_unwrap(ckey, s->wkey, s->wkey_len, WRAP_AAD_C, dek)
                : -1;
        OPENSSL_cleanse(ckey, sizeof(ckey));
        if (c != 0) {
            cf_log(CF_LOG_ERR, "sse: %s/%.*s: the SSE-C data key does not "
                   "unwrap with a matching key (damaged record)",
                   req->bucket, (int)req->key_len, req->key ? req->key : "");
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            return -1;
        }
        return 1;
    }
    if (s->alg != META_SSE_S3 || s->salt_len != GW_SSE_SALT ||
        gw_sse_unwrap(req->srv->sse_master, s->wkey, s->wkey_len,
                      GW_SSE_AAD_S3, dek) != 0) {
        cf_log(CF_LOG_ERR, "sse: %s/%.*s: the data key does not unwrap "
               "with this master key", req->bucket, (int)req->key_len,
               req->key ? req->key : "");
        gw_resp_error(&req->resp, GW_E_INTERNAL,
                      "The object's data key cannot be unwrapped with "
                      "this server's master key.");
        return -1;
    }
    return 1;
}

int gw_sse_put_start(struct gw_req *req, const unsigned char dek[32],
                     const unsigned char *salt)
{
    struct gw_put *pu = &req->put;
    if (gw_sse_block_key(dek, pu->ver.data_id, pu->sse_bkey) != 0) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return -1;
    }
    memcpy(pu->sse_salt, salt, GW_SSE_SALT);
    pu->sse = 1;
    pu->sse_block = 0;
    return 0;
}

int gw_sse_put_block(struct gw_req *req, unsigned char *buf, size_t len)
{
    struct gw_put *pu = &req->put;
    return gw_sse_seal(pu->sse_bkey, pu->sse_salt, pu->ver.data_id,
                       pu->sse_block++, buf, len);
}

size_t gw_put_block_cap(const struct gw_req *req)
{
    size_t bs = cf_pool_block_size(req->srv->pool);
    return req->put.sse ? bs - GW_SSE_TAG : bs;
}

void gw_sse_resp_headers(struct gw_req *req, const struct meta_sse *s)
{
    const char *m;
    size_t ml = 0;
    if (s->alg == META_SSE_S3) gw_resp_header(&req->resp, SSE_HDR, "AES256");
    if (s->alg != META_SSE_C) return;
    gw_resp_header(&req->resp, SSEC "algorithm", "AES256");
    /* the request's, checked against its key by ssec_parse */
    m = gw_req_header(req, SSEC "key-md5", &ml);
    if (m && ml < 64) gw_resp_header(&req->resp, SSEC "key-MD5", "%.*s",
                                     (int)ml, m);
}

int gw_sse_to_upload(const struct meta_sse *s, struct meta_version *hv)
{
    char hex[2 * GW_SSE_UPLOAD_MAX + 1];
    if (gw_sse_upload_encode(s, hex) != 0) return -1;
    return gw_add_stored_header(hv, GW_UPLOAD_SSE_HEADER, hex, strlen(hex));
}

int gw_sse_from_headers(const struct meta_kv *h, size_t n,
                        struct meta_sse *s)
{
    size_t i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < n; i++) {
        if (strcmp(h[i].name, GW_UPLOAD_SSE_HEADER) != 0) continue;
        return gw_sse_upload_decode(h[i].value, s) == 0;
    }
    return 0;
}

/* ---- Put/Get/DeleteBucketEncryption ---- */

static void put_enc_work(struct gw_req *req)
{
    struct meta_bucket b;
    char algo[32];
    int kms = 0, bk = 0;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    if (gw_xml_parse_encryption(req->xml.p ? req->xml.p : "", req->xml.len,
                                algo, &kms, &bk) != GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    if (strncmp(algo, "aws:kms", 7) == 0) {
        gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                      "Default encryption with aws:kms is not implemented.");
        return;
    }
    if (strcmp(algo, "AES256") != 0 || kms) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML,
                      "The XML you provided was not well-formed or did not "
                      "validate against our published schema");
        return;
    }
    /* the attribute: "AES256", or "AES256;bucket-key" to give back the
     * BucketKeyEnabled that was set (it changes nothing without KMS) */
    st = meta_bucket_attr_set(req->srv->db, req->bucket, META_BATTR_SSE,
                              bk ? SSE_DEFAULT_BK : "AES256",
                              bk ? sizeof(SSE_DEFAULT_BK) - 1 : 6);
    if (st != META_OK)
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
}

void gw_h_put_bucket_encryption(struct gw_req *req)
{
    gw_req_post(req, put_enc_work, gw_done_respond);
}

static void get_enc_work(struct gw_req *req)
{
    struct meta_bucket b;
    char *doc = NULL;
    size_t n = 0;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    st = meta_bucket_attr_get(req->srv->db, req->bucket, META_BATTR_SSE,
                              &doc, &n);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        return;
    }
    if (doc == NULL) {
        gw_resp_error(&req->resp, GW_E_NO_SSE_CONFIG, NULL);
        return;
    }
    gw_xbuf_str(&req->resp.body,
                GW_XML_DECL "<ServerSideEncryptionConfiguration xmlns=\""
                "http://s3.amazonaws.com/doc/2006-03-01/\"><Rule>"
                "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256"
                "</SSEAlgorithm></ApplyServerSideEncryptionByDefault>"
                "<BucketKeyEnabled>");
    gw_xbuf_str(&req->resp.body,
                strcmp(doc, SSE_DEFAULT_BK) == 0 ? "true" : "false");
    gw_xbuf_str(&req->resp.body, "</BucketKeyEnabled></Rule>"
                "</ServerSideEncryptionConfiguration>");
    free(doc);
    if (req->resp.body.oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
}

void gw_h_get_bucket_encryption(struct gw_req *req)
{
    gw_req_post(req, get_enc_work, gw_done_respond);
}

static void delete_enc_work(struct gw_req *req)
{
    gw_bucket_doc_delete(req, META_BATTR_SSE);
}

void gw_h_delete_bucket_encryption(struct gw_req *req)
{
    gw_req_post(req, delete_enc_work, gw_done_respond);
}
