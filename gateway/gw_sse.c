/* gw_sse.c: server-side encryption at rest, the gateway's side: the master
 * key, which writes are encrypted (x-amz-server-side-encryption, the
 * bucket's default encryption), data keys, response headers, and the
 * bucket encryption sub-resource. The cryptography is in gw_sse_crypto.c.
 *
 * SSE-S3 only: every encrypted version has its own random data key,
 * wrapped by the master key (AES-256-GCM) and stored in its catalog record
 * (and its shards' headers, for a catalog rebuild). SSE-C and aws:kms are
 * refused with 501 NotImplemented, never accepted and ignored. */
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

#define WRAP_AAD_S3 "coffer-dek-sse-s3-1"
#define SSE_HDR "x-amz-server-side-encryption"

/* ---- the master key ---- */

static int master_from_file(const char *path, unsigned char out[32])
{
    char e[128];
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0 && errno == ENOENT) {
        /* first start: 32 random bytes, readable by the owner only */
        unsigned char k[32];
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            cf_log(CF_LOG_ERR, "sse: cannot create the master key %s: %s",
                   path, cf_strerror(errno, e, sizeof(e)));
            return -1;
        }
        cf_random_bytes(k, sizeof(k));
        if (write(fd, k, sizeof(k)) != (ssize_t)sizeof(k) ||
            fsync(fd) != 0) {
            cf_log(CF_LOG_ERR, "sse: cannot write the master key %s: %s",
                   path, cf_strerror(errno, e, sizeof(e)));
            OPENSSL_cleanse(k, sizeof(k));
            close(fd);
            unlink(path);
            return -1;
        }
        if (close(fd) != 0) {
            cf_log(CF_LOG_ERR, "sse: cannot write the master key %s: %s",
                   path, cf_strerror(errno, e, sizeof(e)));
            OPENSSL_cleanse(k, sizeof(k));
            unlink(path);
            return -1;
        }
        memcpy(out, k, 32);
        OPENSSL_cleanse(k, sizeof(k));
        cf_log(CF_LOG_NOTICE, "sse: created the master key %s (keep a copy "
               "apart from the disks: encrypted objects are unreadable "
               "without it)", path);
        return 0;
    }
    if (fd < 0) {
        cf_log(CF_LOG_ERR, "sse: cannot open the master key %s: %s", path,
               cf_strerror(errno, e, sizeof(e)));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cf_log(CF_LOG_ERR, "sse: master key %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        cf_log(CF_LOG_ERR, "sse: master key %s: mode %03o lets others read "
               "it; chmod 600 it", path, (unsigned)(st.st_mode & 0777));
        close(fd);
        return -1;
    }
    n = read(fd, out, 32);
    if (n != 32 || st.st_size != 32) {
        cf_log(CF_LOG_ERR, "sse: master key %s: must hold exactly 32 bytes",
               path);
        OPENSSL_cleanse(out, 32);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int gw_sse_master_load(const struct conf *conf, unsigned char out[32])
{
    const char *env = getenv("COFFER_MASTER_KEY");
    if (env && *env) {
        if (strlen(env) != 64 || cf_hex_decode(env, 64, out, 32) != 0) {
            cf_log(CF_LOG_ERR, "sse: COFFER_MASTER_KEY: must be 64 hex "
                   "digits (32 bytes)");
            return -1;
        }
        return 0;
    }
    if (conf->master_key_file == NULL) {
        cf_log(CF_LOG_ERR, "sse: no master key file configured");
        return -1;
    }
    return master_from_file(conf->master_key_file, out);
}

/* ---- requests ---- */

/* Operations that take x-amz-server-side-encryption (AWS refuses it on
 * the others, e.g. GET: 400 InvalidArgument). */
static int op_writes(enum gw_op op)
{
    return op == GW_OP_PUT_OBJECT || op == GW_OP_CREATE_MPU ||
           op == GW_OP_COPY_OBJECT;
}

static int prefixed(const struct cf_str *name, const char *prefix)
{
    size_t pl = strlen(prefix);
    return name->len >= pl && strncasecmp(name->p, prefix, pl) == 0;
}

int gw_sse_check_headers(struct gw_req *req)
{
    size_t n, i;
    const char *v;

    for (i = 0; i < (size_t)req->nhdrs; i++) {
        const struct cf_str *nm = &req->hdrs[i].name;
        if (prefixed(nm, SSE_HDR "-customer-") ||
            prefixed(nm, "x-amz-copy-source-server-side-encryption-customer-")) {
            gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                          "Server-side encryption with customer-provided "
                          "keys (SSE-C) is not implemented.");
            return -1;
        }
        if (prefixed(nm, SSE_HDR "-aws-kms-") ||
            prefixed(nm, SSE_HDR "-context")) {
            gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                          "Server-side encryption with aws:kms is not "
                          "implemented.");
            return -1;
        }
    }
    v = gw_req_header(req, SSE_HDR, &n);
    if (v == NULL) return 0;
    if ((n == 7 && strncmp(v, "aws:kms", 7) == 0) ||
        (n == 12 && strncmp(v, "aws:kms:dsse", 12) == 0)) {
        gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                      "Server-side encryption with aws:kms is not "
                      "implemented.");
        return -1;
    }
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
    return 0;
}

int gw_sse_for_write(struct gw_req *req, struct meta_version *v,
                     unsigned char dek[32])
{
    int want = gw_req_header(req, SSE_HDR, NULL) != NULL;

    memset(&v->sse, 0, sizeof(v->sse));
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
        want = doc != NULL && strcmp(doc, "AES256") == 0;
        free(doc);
    }
    if (!want) return 0;
    cf_random_bytes(dek, 32);
    cf_random_bytes(v->sse.salt, GW_SSE_SALT);
    v->sse.salt_len = GW_SSE_SALT;
    if (gw_sse_wrap(req->srv->sse_master, dek, WRAP_AAD_S3, v->sse.wkey) !=
        0) {
        OPENSSL_cleanse(dek, 32);
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return -1;
    }
    v->sse.wkey_len = GW_SSE_WRAPPED;
    v->sse.alg = META_SSE_S3;
    return 1;
}

int gw_sse_data_key(struct gw_req *req, const struct meta_sse *s,
                    unsigned char dek[32])
{
    if (s->alg != META_SSE_S3 || s->salt_len != GW_SSE_SALT ||
        gw_sse_unwrap(req->srv->sse_master, s->wkey, s->wkey_len,
                      WRAP_AAD_S3, dek) != 0) {
        cf_log(CF_LOG_ERR, "sse: %s/%.*s: the data key does not unwrap "
               "with this master key", req->bucket, (int)req->key_len,
               req->key ? req->key : "");
        gw_resp_error(&req->resp, GW_E_INTERNAL,
                      "The object's data key cannot be unwrapped with "
                      "this server's master key.");
        return -1;
    }
    return 0;
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
    if (s->alg == META_SSE_S3) gw_resp_header(&req->resp, SSE_HDR, "AES256");
}

int gw_sse_to_upload(const struct meta_sse *s, struct meta_version *hv)
{
    unsigned char raw[1 + GW_SSE_SALT + GW_SSE_WRAPPED];
    char hex[2 * sizeof(raw) + 1];

    if (s->salt_len != GW_SSE_SALT || s->wkey_len != GW_SSE_WRAPPED)
        return -1;
    raw[0] = (unsigned char)s->alg;
    memcpy(raw + 1, s->salt, GW_SSE_SALT);
    memcpy(raw + 1 + GW_SSE_SALT, s->wkey, GW_SSE_WRAPPED);
    cf_hex_encode(raw, sizeof(raw), hex);
    return gw_add_stored_header(hv, GW_UPLOAD_SSE_HEADER, hex, strlen(hex));
}

int gw_sse_from_headers(const struct meta_kv *h, size_t n,
                        struct meta_sse *s)
{
    unsigned char raw[1 + GW_SSE_SALT + GW_SSE_WRAPPED];
    size_t i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < n; i++) {
        if (strcmp(h[i].name, GW_UPLOAD_SSE_HEADER) != 0) continue;
        if (strlen(h[i].value) != 2 * sizeof(raw) ||
            cf_hex_decode(h[i].value, 2 * sizeof(raw), raw, sizeof(raw)) !=
                0)
            return 0;
        s->alg = raw[0];
        memcpy(s->salt, raw + 1, GW_SSE_SALT);
        s->salt_len = GW_SSE_SALT;
        memcpy(s->wkey, raw + 1 + GW_SSE_SALT, GW_SSE_WRAPPED);
        s->wkey_len = GW_SSE_WRAPPED;
        return 1;
    }
    return 0;
}

/* ---- Put/Get/DeleteBucketEncryption ---- */

static void put_enc_work(struct gw_req *req)
{
    struct meta_bucket b;
    char algo[32];
    int kms = 0;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    if (gw_xml_parse_encryption(req->xml.p ? req->xml.p : "", req->xml.len,
                                algo, &kms) != GW_XML_OK) {
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
    st = meta_bucket_attr_set(req->srv->db, req->bucket, META_BATTR_SSE,
                              "AES256", 6);
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
    free(doc);
    gw_xbuf_str(&req->resp.body,
                GW_XML_DECL "<ServerSideEncryptionConfiguration xmlns=\""
                "http://s3.amazonaws.com/doc/2006-03-01/\"><Rule>"
                "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256"
                "</SSEAlgorithm></ApplyServerSideEncryptionByDefault>"
                "<BucketKeyEnabled>false</BucketKeyEnabled></Rule>"
                "</ServerSideEncryptionConfiguration>");
    if (req->resp.body.oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
}

void gw_h_get_bucket_encryption(struct gw_req *req)
{
    gw_req_post(req, get_enc_work, gw_done_respond);
}

static void delete_enc_work(struct gw_req *req)
{
    struct meta_bucket b;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    st = meta_bucket_attr_set(req->srv->db, req->bucket, META_BATTR_SSE,
                              NULL, 0);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        return;
    }
    req->resp.status = 204;
}

void gw_h_delete_bucket_encryption(struct gw_req *req)
{
    gw_req_post(req, delete_enc_work, gw_done_respond);
}
