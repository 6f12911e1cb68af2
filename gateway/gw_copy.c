/* gw_copy.c: CopyObject and UploadPartCopy, inside the server. The source
 * version (any bucket the caller may read; a specific versionId too;
 * single or multipart) is read stripe by stripe, verified, and written as
 * a new erasure-coded version of the destination — or, for UploadPartCopy,
 * as a new part of an upload, from the whole source or the
 * x-amz-copy-source-range — in one worker job, memory one stripe.
 * Metadata is copied (x-amz-metadata-directive COPY, the default) or
 * taken from the request (REPLACE); the x-amz-copy-source-if-* conditions
 * and the destination's Object Lock rules apply. */
#include "gw_int.h"
#include "gw_sse.h"
#include "ol.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_MAX_COPY_BYTES (5ULL << 30) /* AWS: CopyObject up to 5 GB */

/* Splits "/bucket/key?versionId=v" (URL-encoded) into parts. */
static int parse_source(const char *s, size_t n, char *bucket, size_t bcap,
                        char **key, size_t *klen, char **vid)
{
    const char *q = memchr(s, '?', n);
    size_t pl = q ? (size_t)(q - s) : n, dl;
    char *path = NULL, *slash;

    *key = *vid = NULL;
    if (gw_url_decode(s, pl, &path, &dl, 0) != 0) return -1;
    slash = path[0] == '/' ? path + 1 : path;
    {
        char *k = memchr(slash, '/', dl - (size_t)(slash - path));
        size_t bl;
        if (k == NULL) goto bad;
        bl = (size_t)(k - slash);
        if (bl == 0 || bl >= bcap) goto bad;
        memcpy(bucket, slash, bl);
        bucket[bl] = '\0';
        *klen = dl - (size_t)(k + 1 - path);
        if (*klen == 0 || *klen > META_KEY_MAX) goto bad;
        *key = malloc(*klen + 1);
        if (*key == NULL) goto bad;
        memcpy(*key, k + 1, *klen);
        (*key)[*klen] = '\0';
    }
    if (q) {
        const char *v = q + 1;
        size_t vl = n - pl - 1;
        if (vl > 10 && strncmp(v, "versionId=", 10) == 0) {
            size_t l;
            if (gw_url_decode(v + 10, vl - 10, vid, &l, 0) != 0) goto bad;
        }
    }
    free(path);
    return 0;
bad:
    free(path);
    free(*key);
    *key = NULL;
    return -1;
}

/* The copy-source preconditions (AWS: if-match and if-unmodified-since
 * together pass when if-match holds; likewise if-none-match with
 * if-modified-since). 0 to proceed, -1 with 412 set. */
static int copy_conditions(struct gw_req *req, const struct meta_version *v)
{
    size_t hl;
    const char *im = gw_req_header(req, "x-amz-copy-source-if-match", &hl);
    const char *h;
    int64_t since, mt = v->mtime_ms / 1000;

    if (im && !gw_etag_matches(im, hl, v->etag)) goto fail;
    h = gw_req_header(req, "x-amz-copy-source-if-unmodified-since", &hl);
    if (!im && h && cf_parse_http_date((struct cf_str){ h, hl }, &since) == 0 &&
        mt > since)
        goto fail;
    h = gw_req_header(req, "x-amz-copy-source-if-none-match", &hl);
    if (h && gw_etag_matches(h, hl, v->etag)) goto fail;
    {
        const char *nm = h;
        h = gw_req_header(req, "x-amz-copy-source-if-modified-since", &hl);
        if (!nm && h &&
            cf_parse_http_date((struct cf_str){ h, hl }, &since) == 0 &&
            mt <= since)
            goto fail;
    }
    return 0;
fail:
    gw_resp_error(&req->resp, GW_E_PRECONDITION_FAILED, NULL);
    return -1;
}

/* Encryption of a copy: the source's data key (src_enc) to open its
 * blocks, the destination's block key (dst_enc) to seal new ones. */
struct copy_keys {
    int src_enc;
    unsigned char src_dek[GW_SSE_KEY];
    int dst_enc;
    unsigned char dst_bkey[GW_SSE_KEY];
    unsigned char dst_salt[GW_SSE_SALT];
    const char *dst_id;
};

/* Where copied plaintext goes: straight to the writer, or gathered into
 * whole blocks that are sealed first (blocks of stripe - 16 bytes). */
struct copy_sink {
    struct ec_writer *w;
    const struct copy_keys *k;
    unsigned char *blk;       /* enc: one stripe */
    size_t len, cap;
    uint64_t idx;
};

static enum ec_status sink_flush(struct copy_sink *o)
{
    enum ec_status st;
    if (o->len == 0) return EC_OK;
    if (gw_sse_seal(o->k->dst_bkey, o->k->dst_salt, o->k->dst_id, o->idx++,
                    o->blk, o->len) != 0)
        return EC_EIO;
    st = ec_writer_append(o->w, o->blk, o->len + GW_SSE_TAG);
    o->len = 0;
    return st;
}

static enum ec_status sink_push(struct copy_sink *o, const char *p, size_t n)
{
    if (!o->k->dst_enc) return ec_writer_append(o->w, p, n);
    while (n) {
        size_t c = o->cap - o->len < n ? o->cap - o->len : n;
        memcpy(o->blk + o->len, p, c);
        o->len += c;
        p += c;
        n -= c;
        if (o->len == o->cap) {
            enum ec_status st = sink_flush(o);
            if (st != EC_OK) return st;
        }
    }
    return EC_OK;
}

/* Copies bytes [from, to) of the source into w, one stripe at a time,
 * hashing them: MD5, SHA-256 when sha is given, and the S3 checksum cs
 * when its algorithm is set. Encrypted sources are opened block by block
 * (a block failing its tag fails the copy); encrypted destinations are
 * sealed block by block. Hashes are of the plaintext. */
static enum ec_status copy_data(struct gw_req *req,
                                const struct meta_version *src,
                                uint64_t from, uint64_t to,
                                struct ec_writer *w, EVP_MD_CTX *md,
                                EVP_MD_CTX *sha, struct gw_csum *cs,
                                const struct copy_keys *k)
{
    size_t ss = ec_set_stripe_size(req->srv->set);
    size_t bs = k->src_enc ? src->stripe_size - GW_SSE_TAG : ss;
    char *buf = malloc(k->src_enc ? src->stripe_size : ss);
    enum ec_status st = EC_OK;
    size_t np = src->nparts ? src->nparts : 1, i;
    uint64_t pstart = 0; /* object offset of part i */
    struct copy_sink o;

    memset(&o, 0, sizeof(o));
    o.w = w;
    o.k = k;
    o.cap = ss - GW_SSE_TAG;
    if (k->dst_enc && (o.blk = malloc(ss)) == NULL) {
        free(buf);
        return EC_ENOMEM;
    }
    if (buf == NULL) {
        free(o.blk);
        return EC_ENOMEM;
    }
    for (i = 0; i < np && st == EC_OK; i++) {
        const char *id = src->nparts ? src->parts[i].data_id : src->data_id;
        uint64_t size = src->nparts ? src->parts[i].size : src->size, off, end;
        struct ec_reader *r = NULL;
        unsigned char bkey[GW_SSE_KEY];
        uint64_t ps = pstart;
        pstart += size;
        if (size == 0 || ps + size <= from || ps >= to) continue;
        off = from > ps ? from - ps : 0;      /* within the part */
        end = to < ps + size ? to - ps : size;
        st = ec_reader_open_data(req->srv->set, id,
                                 meta_data_size(size, src->stripe_size,
                                                k->src_enc),
                                 &r);
        if (st == EC_OK && k->src_enc &&
            gw_sse_block_key(k->src_dek, id, bkey) != 0)
            st = EC_EIO;
        while (st == EC_OK && off < end) {
            size_t n, skip = 0;
            if (k->src_enc) {
                /* the whole sealed block holding off */
                uint64_t idx = off / bs, stored;
                size_t clen;
                stored = meta_data_size(size, src->stripe_size, 1);
                clen = stored - idx * src->stripe_size < src->stripe_size
                           ? (size_t)(stored - idx * src->stripe_size)
                           : src->stripe_size;
                st = ec_reader_read(r, idx * src->stripe_size, buf, clen,
                                    NULL);
                if (st != EC_OK) break;
                if (gw_sse_open(bkey, src->sse.salt, id, idx,
                                (unsigned char *)buf, clen) != 0) {
                    cf_log(CF_LOG_ERR, "gw: copy source %s: block %llu "
                           "fails its authentication tag", id,
                           (unsigned long long)idx);
                    st = EC_ECORRUPT;
                    break;
                }
                skip = (size_t)(off % bs);
                n = clen - GW_SSE_TAG - skip;
                if (n > end - off) n = (size_t)(end - off);
            } else {
                n = end - off < bs ? (size_t)(end - off) : bs;
                st = ec_reader_read(r, off, buf, n, NULL);
                if (st != EC_OK) break;
            }
            EVP_DigestUpdate(md, buf + skip, n);
            if (sha) EVP_DigestUpdate(sha, buf + skip, n);
            gw_csum_update(cs, buf + skip, n);
            st = sink_push(&o, buf + skip, n);
            off += n;
        }
        OPENSSL_cleanse(bkey, sizeof(bkey));
        ec_reader_free(r);
    }
    if (st == EC_OK && k->dst_enc) st = sink_flush(&o);
    if (o.blk) OPENSSL_cleanse(o.blk, ss);
    free(o.blk);
    OPENSSL_cleanse(buf, k->src_enc ? src->stripe_size : ss);
    free(buf);
    return st;
}

/* The keys of a copy from src into a new data object dst_id: opens the
 * source's data key, and decides the destination's encryption (dst_sse
 * non-NULL: request header or bucket default, filling *dst_sse; NULL: an
 * upload's, given as up). Returns 0 or -1 with the error set. */
static int copy_keys_init(struct gw_req *req, struct copy_keys *k,
                          const struct meta_version *src,
                          struct meta_version *dst, const struct meta_sse *up,
                          const char *dst_id)
{
    unsigned char dek[GW_SSE_KEY];
    int r = 0;

    memset(k, 0, sizeof(*k));
    if (src->sse.alg != META_SSE_NONE &&
        (src->stripe_size != ec_set_stripe_size(req->srv->set) ||
         src->stripe_size <= GW_SSE_TAG)) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return -1;
    }
    /* an SSE-C source needs x-amz-copy-source-server-side-encryption-
     * customer-* (400 without, 403 when wrong) */
    r = gw_sse_data_key(req, &src->sse, 1, k->src_dek);
    if (r < 0) return -1;
    k->src_enc = r > 0;
    if (up == NULL) {
        r = gw_sse_for_write(req, dst, dek);
        if (r < 0) return -1;
        up = &dst->sse;
    } else {
        r = gw_sse_data_key(req, up, 0, dek);
        if (r < 0) return -1;
    }
    if (r > 0) {
        k->dst_enc = 1;
        k->dst_id = dst_id;
        memcpy(k->dst_salt, up->salt, GW_SSE_SALT);
        r = gw_sse_block_key(dek, dst_id, k->dst_bkey);
        OPENSSL_cleanse(dek, sizeof(dek));
        if (r != 0) {
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            return -1;
        }
    }
    return 0;
}

static void copy_work(struct gw_req *req)
{
    struct meta_bucket db, sb;
    struct meta_version src, dst, replaced;
    char sbucket[64], *skey = NULL, *svid = NULL;
    size_t sklen = 0, hl;
    const char *h = gw_req_header(req, "x-amz-copy-source", &hl);
    const char *dir;
    struct ec_writer *w = NULL;
    struct ec_obj_info info;
    EVP_MD_CTX *md = NULL, *sha = NULL;
    enum meta_status mst;
    enum ec_status est;
    unsigned char dig[16], sdig[32];
    unsigned int dl;
    uint64_t size = 0;
    int replace = 0, applies = 0, same;
    size_t i;
    char date[CF_ISO8601_LEN], csv[GW_CSUM_B64_MAX];
    struct gw_csum cs;
    struct copy_keys keys;

    memset(&keys, 0, sizeof(keys));
    memset(&cs, 0, sizeof(cs));
    memset(&src, 0, sizeof(src));
    memset(&dst, 0, sizeof(dst));
    memset(&replaced, 0, sizeof(replaced));
    if (gw_bucket_check(req, &db) != 0) return;
    if (parse_source(h, hl, sbucket, sizeof(sbucket), &skey, &sklen,
                     &svid) != 0) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "Copy Source must mention the source bucket and key: "
                      "sourcebucket/sourcekey");
        goto out;
    }
    dir = gw_req_header(req, "x-amz-metadata-directive", &hl);
    if (dir) {
        if (hl == 7 && strncmp(dir, "REPLACE", 7) == 0) replace = 1;
        else if (!(hl == 4 && strncmp(dir, "COPY", 4) == 0)) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "Unknown metadata directive.");
            goto out;
        }
    }
    mst = meta_bucket_get(req->srv->db, sbucket, &sb);
    if (mst != META_OK ||
        !gw_authorize(req, &sb, svid ? "s3:GetObjectVersion" : "s3:GetObject",
                      skey)) {
        gw_resp_error(&req->resp, mst == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                  : mst == META_OK      ? GW_E_ACCESS_DENIED
                                                   : gw_err_from_meta(mst),
                      NULL);
        goto out;
    }
    mst = meta_object_get(req->srv->db, sbucket, skey, sklen, svid, &src);
    if (mst != META_OK || src.delete_marker) {
        gw_resp_error(&req->resp,
                      mst == META_OK || mst == META_ENOTFOUND
                          ? (svid ? GW_E_NO_SUCH_VERSION : GW_E_NO_SUCH_KEY)
                          : gw_err_from_meta(mst),
                      NULL);
        goto out;
    }
    if (copy_conditions(req, &src) != 0) goto out;
    if (src.size > GW_MAX_COPY_BYTES) {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "The specified copy source is larger than the maximum "
                      "allowable size for a copy source: 5368709120");
        goto out;
    }
    same = strcmp(sbucket, req->bucket) == 0 && sklen == req->key_len &&
           memcmp(skey, req->key, sklen) == 0 && svid == NULL;
    if (same && !replace &&
        !gw_req_header(req, "x-amz-object-lock-mode", NULL) &&
        !gw_req_header(req, "x-amz-server-side-encryption", NULL) &&
        !gw_req_header(req, "x-amz-server-side-encryption-customer-key",
                       NULL)) {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "This copy request is illegal because it is trying to "
                      "copy an object to itself without changing the "
                      "object's metadata, storage class, website redirect "
                      "location or encryption attributes.");
        goto out;
    }
    /* Metadata of the new version. */
    if (replace) {
        if (gw_collect_stored_headers(req, &dst) != 0) goto out;
    } else {
        dst.headers = calloc(src.nheaders ? src.nheaders : 1,
                             sizeof(*dst.headers));
        if (dst.headers == NULL) goto out_oom;
        for (i = 0; i < src.nheaders; i++) {
            if (strncmp(src.headers[i].name, "x-amz-checksum-", 15) == 0)
                continue; /* recomputed data, not carried over */
            dst.headers[dst.nheaders].name = strdup(src.headers[i].name);
            dst.headers[dst.nheaders].value = strdup(src.headers[i].value);
            if (!dst.headers[dst.nheaders].name ||
                !dst.headers[dst.nheaders].value) {
                dst.nheaders++;
                goto out_oom;
            }
            dst.nheaders++;
        }
    }
    /* the ACL is not copied: x-amz-acl, else private (AWS) */
    if (gw_acl_for_write(req, &dst) != 0) goto out;
    if (gw_tagging_for_copy(req, &src, &dst) != 0) goto out;
    /* The checksum of the new version (AWS CopyObject): the algorithm the
     * request names (x-amz-checksum-algorithm), else the source's; always a
     * FULL_OBJECT checksum of the copied bytes, computed as they pass. */
    h = gw_req_header(req, "x-amz-checksum-algorithm", &hl);
    if (h) {
        enum gw_csum_algo a = gw_csum_lookup(h, hl);
        if (a == GW_CSUM_NONE || strncasecmp(h, "x-amz-", 6) == 0) {
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                          "Checksum algorithm provided is unsupported. Please "
                          "try again with any of the valid types: [CRC32, "
                          "CRC32C, CRC64NVME, SHA1, SHA256]");
            goto out;
        }
        cs.algo = a;
    } else {
        for (i = 0; i < src.nheaders && cs.algo == GW_CSUM_NONE; i++)
            if (strcmp(src.headers[i].name, "x-amz-checksum-type") != 0)
                cs.algo = strncmp(src.headers[i].name, "x-amz-checksum-",
                                  15) == 0
                              ? gw_csum_lookup(src.headers[i].name,
                                               strlen(src.headers[i].name))
                              : GW_CSUM_NONE;
    }
    if (gw_csum_init(&cs, cs.algo) != 0) goto out_oom;
    if (gw_lock_for_write(req, &db, &dst, &applies) != 0) goto out;
    /* The data. */
    ec_new_data_id(req->srv->set, req->bucket, req->key, req->key_len,
                   dst.data_id);
    /* the destination is encrypted as the request or its bucket says,
     * whatever the source was */
    if (copy_keys_init(req, &keys, &src, &dst, NULL, dst.data_id) != 0)
        goto out;
    info.bucket = req->bucket;
    info.key = req->key;
    info.key_len = req->key_len;
    info.version_id = dst.data_id;
    info.mtime_ms = cf_now_ms();
    md = EVP_MD_CTX_new();
    if (md == NULL || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) goto out_oom;
    if (db.lock_enabled) {
        /* a version written into a lock bucket records its SHA-256 (the
         * audit report and the put-locked audit entry carry it) */
        sha = EVP_MD_CTX_new();
        if (sha == NULL || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL))
            goto out_oom;
    }
    est = ec_writer_new(req->srv->set, &info, &w);
    if (est == EC_OK)
        est = copy_data(req, &src, 0, src.size, w, md, sha, &cs, &keys);
    if (est == EC_OK) {
        EVP_DigestFinal_ex(md, dig, &dl);
        cf_hex_encode(dig, 16, dst.etag);
        if (sha) {
            EVP_DigestFinal_ex(sha, sdig, &dl);
            cf_hex_encode(sdig, 32, dst.sha256);
        }
        csv[0] = '\0';
        if (cs.algo != GW_CSUM_NONE) {
            gw_csum_final(&cs, csv);
            if (gw_add_stored_header(&dst, gw_csum_header(cs.algo), csv,
                                     strlen(csv)) != 0)
                est = EC_ENOMEM;
        }
        gw_new_version_id(req, dst.version_id, sizeof(dst.version_id));
        dst.key = req->key;
        dst.key_len = req->key_len;
        dst.size = src.size;
        dst.mtime_ms = cf_now_ms();
        dst.ec_data = ec_set_data_shards(req->srv->set);
        dst.ec_parity = ec_set_parity_shards(req->srv->set);
        dst.stripe_size = (uint32_t)ec_set_stripe_size(req->srv->set);
        gw_put_record(req, w, &dst);
        if (est == EC_OK) est = ec_writer_finish(w, &size);
        if (est == EC_OK) /* packed: the catalog keeps the locator */
            snprintf(dst.data_id, sizeof(dst.data_id), "%s",
                     ec_writer_data_id(w));
    }
    ec_writer_free(w);
    w = NULL;
    if (est != EC_OK) {
        dst.key = NULL;
        gw_resp_error(&req->resp, gw_err_from_ec(est), ec_strerror(est));
        goto out;
    }
    dst.size = keys.dst_enc ? src.size : size; /* plaintext bytes */
    if (applies) {
        char *ev = gw_audit_event(req, "put-locked", req->key, req->key_len,
                                  &dst, "copy");
        mst = ev ? meta_object_put_audited(req->srv->db, req->bucket, &dst,
                                           &replaced, ol_clock_now(), ev)
                 : META_ENOMEM;
        free(ev);
    } else {
        mst = meta_object_put(req->srv->db, req->bucket, &dst, &replaced);
    }
    dst.key = NULL;
    if (mst != META_OK) {
        ec_remove(req->srv->set, dst.data_id);
        gw_resp_error(&req->resp, gw_err_from_meta(mst), NULL);
        goto out;
    }
    if (replaced.version_id[0]) gw_remove_data(req->srv, &replaced);
    if (req->versioning != META_VERSIONING_OFF)
        gw_resp_header(&req->resp, "x-amz-version-id", "%s", dst.version_id);
    gw_sse_resp_headers(req, &dst.sse);
    if (svid)
        gw_resp_header(&req->resp, "x-amz-copy-source-version-id", "%s",
                       src.version_id);
    cf_fmt_iso8601_ms(dst.mtime_ms, date);
    gw_xbuf_printf(&req->resp.body,
                   GW_XML_DECL "<CopyObjectResult xmlns=\"http://s3.amazonaws."
                               "com/doc/2006-03-01/\"><LastModified>%s"
                               "</LastModified><ETag>&quot;%s&quot;</ETag>",
                   date, dst.etag);
    if (csv[0])
        gw_xbuf_printf(&req->resp.body, "<%s>%s</%s><ChecksumType>FULL_OBJECT"
                                        "</ChecksumType>",
                       gw_csum_xml(cs.algo), csv, gw_csum_xml(cs.algo));
    gw_xbuf_str(&req->resp.body, "</CopyObjectResult>");
    goto out;
out_oom:
    gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
out:
    OPENSSL_cleanse(&keys, sizeof(keys));
    gw_csum_cleanup(&cs);
    ec_writer_free(w);
    EVP_MD_CTX_free(md);
    EVP_MD_CTX_free(sha);
    meta_version_cleanup(&src);
    meta_version_cleanup(&dst);
    meta_version_cleanup(&replaced);
    free(skey);
    free(svid);
}

void gw_h_copy_object(struct gw_req *req)
{
    gw_req_post(req, copy_work, gw_done_respond);
}

/* ---- UploadPartCopy ---- */

/* "bytes=first-last", both given, first <= last. 0 or -1. */
static int parse_copy_range(const char *h, size_t n, uint64_t *first,
                            uint64_t *last)
{
    char buf[64], *dash, *e;
    if (n <= 6 || n >= sizeof(buf) || strncmp(h, "bytes=", 6) != 0)
        return -1;
    memcpy(buf, h + 6, n - 6);
    buf[n - 6] = '\0';
    dash = strchr(buf, '-');
    if (dash == NULL || dash == buf || dash[1] == '\0') return -1;
    *dash = '\0';
    if (strspn(buf, "0123456789") != strlen(buf) ||
        strspn(dash + 1, "0123456789") != strlen(dash + 1) ||
        strlen(buf) > 19 || strlen(dash + 1) > 19)
        return -1;
    *first = strtoull(buf, &e, 10);
    *last = strtoull(dash + 1, &e, 10);
    return *first <= *last ? 0 : -1;
}

static void upload_part_copy_work(struct gw_req *req)
{
    struct meta_bucket db, sb;
    struct meta_version src;
    struct meta_upload u;
    struct meta_part part, old;
    char sbucket[64], *skey = NULL, *svid = NULL;
    size_t sklen = 0, hl;
    const char *h = gw_req_header(req, "x-amz-copy-source", &hl);
    const struct gw_qparam *pn = gw_req_qparam(req, "partNumber");
    const struct gw_qparam *up = gw_req_qparam(req, "uploadId");
    struct ec_writer *w = NULL;
    struct ec_obj_info info;
    EVP_MD_CTX *md = NULL;
    enum meta_status mst;
    enum ec_status est;
    unsigned char dig[16];
    unsigned int dl;
    uint64_t from = 0, to, size = 0;
    char date[CF_ISO8601_LEN], *end = NULL;
    long number;
    struct gw_csum cs;
    enum gw_csum_algo ua = GW_CSUM_NONE;
    int full = 0;
    struct meta_sse usse;
    struct copy_keys keys;

    memset(&keys, 0, sizeof(keys));
    memset(&usse, 0, sizeof(usse));
    memset(&cs, 0, sizeof(cs));
    memset(&src, 0, sizeof(src));
    memset(&u, 0, sizeof(u));
    memset(&part, 0, sizeof(part));
    memset(&old, 0, sizeof(old));
    if (gw_bucket_check(req, &db) != 0) return;
    number = pn && pn->value_len && pn->value_len <= 5
                 ? strtol(pn->value, &end, 10) : 0;
    if (end == NULL || *end != '\0' || number < 1 ||
        number > META_MAX_PARTS) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "Part number must be an integer between 1 and 10000, "
                      "inclusive");
        return;
    }
    mst = up && up->value_len && up->value_len <= META_UPLOAD_ID_MAX
              ? meta_upload_get(req->srv->db, req->bucket, req->key,
                                req->key_len, up->value, &u)
              : META_ENOTFOUND;
    /* an upload created with a checksum algorithm: the part gets its
     * checksum, as an uploaded part does */
    if (mst == META_OK) {
        ua = gw_upload_checksum(u.headers, u.nheaders, &full);
        gw_sse_from_headers(u.headers, u.nheaders, &usse);
    }
    meta_upload_cleanup(&u);
    if (mst != META_OK) {
        gw_resp_error(&req->resp, mst == META_ENOTFOUND ? GW_E_NO_SUCH_UPLOAD
                                                        : gw_err_from_meta(mst),
                      NULL);
        return;
    }
    if (parse_source(h, hl, sbucket, sizeof(sbucket), &skey, &sklen,
                     &svid) != 0) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "Copy Source must mention the source bucket and key: "
                      "sourcebucket/sourcekey");
        goto out;
    }
    mst = meta_bucket_get(req->srv->db, sbucket, &sb);
    if (mst != META_OK ||
        !gw_authorize(req, &sb, svid ? "s3:GetObjectVersion" : "s3:GetObject",
                      skey)) {
        gw_resp_error(&req->resp, mst == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                  : mst == META_OK      ? GW_E_ACCESS_DENIED
                                                   : gw_err_from_meta(mst),
                      NULL);
        goto out;
    }
    mst = meta_object_get(req->srv->db, sbucket, skey, sklen, svid, &src);
    if (mst != META_OK || src.delete_marker) {
        gw_resp_error(&req->resp,
                      mst == META_OK || mst == META_ENOTFOUND
                          ? (svid ? GW_E_NO_SUCH_VERSION : GW_E_NO_SUCH_KEY)
                          : gw_err_from_meta(mst),
                      NULL);
        goto out;
    }
    if (copy_conditions(req, &src) != 0) goto out;
    to = src.size;
    h = gw_req_header(req, "x-amz-copy-source-range", &hl);
    if (h) {
        uint64_t last;
        if (parse_copy_range(h, hl, &from, &last) != 0) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "The x-amz-copy-source-range value must be of the "
                          "form bytes=first-last where first and last are "
                          "the zero-based offsets of the first and last "
                          "bytes to copy");
            goto out;
        }
        if (last >= src.size) {
            char msg[128];
            snprintf(msg, sizeof(msg), "Range specified is not valid for "
                     "source object of size: %llu",
                     (unsigned long long)src.size);
            gw_resp_error(&req->resp, GW_E_INVALID_RANGE, msg);
            goto out;
        }
        to = last + 1;
    }
    if (to - from > GW_MAX_COPY_BYTES) {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "The specified copy source is larger than the maximum "
                      "allowable size for a copy source: 5368709120");
        goto out;
    }
    /* The part's data: a new erasure-coded part under its own data id. */
    ec_new_data_id(req->srv->set, req->bucket, req->key, req->key_len,
                   part.data_id);
    if (copy_keys_init(req, &keys, &src, NULL, &usse, part.data_id) != 0)
        goto out;
    info.bucket = req->bucket;
    info.key = req->key;
    info.key_len = req->key_len;
    info.version_id = part.data_id;
    info.mtime_ms = cf_now_ms();
    md = EVP_MD_CTX_new();
    if (md == NULL || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        goto out;
    }
    est = ec_writer_new(req->srv->set, &info, &w);
    if (gw_csum_init(&cs, ua) != 0) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        goto out;
    }
    if (est == EC_OK)
        est = copy_data(req, &src, from, to, w, md, NULL, &cs, &keys);
    if (est == EC_OK) est = ec_writer_finish(w, &size);
    if (est == EC_OK) /* packed: the upload keeps the locator */
        snprintf(part.data_id, sizeof(part.data_id), "%s",
                 ec_writer_data_id(w));
    ec_writer_free(w);
    w = NULL;
    if (est != EC_OK) {
        gw_resp_error(&req->resp, gw_err_from_ec(est), ec_strerror(est));
        goto out;
    }
    EVP_DigestFinal_ex(md, dig, &dl);
    cf_hex_encode(dig, 16, part.etag);
    if (ua != GW_CSUM_NONE) {
        char v[GW_CSUM_B64_MAX];
        gw_csum_final(&cs, v);
        part.csum_algo = (int)ua;
        snprintf(part.csum, sizeof(part.csum), "%s", v);
    }
    part.number = (uint32_t)number;
    part.size = keys.dst_enc ? to - from : size; /* plaintext bytes */
    part.enc = keys.dst_enc;
    part.mtime_ms = cf_now_ms();
    mst = meta_upload_put_part(req->srv->db, req->bucket, req->key,
                               req->key_len, up->value, &part, &old);
    if (mst != META_OK) {
        ec_remove(req->srv->set, part.data_id);
        gw_resp_error(&req->resp, mst == META_ENOTFOUND ? GW_E_NO_SUCH_UPLOAD
                                                        : gw_err_from_meta(mst),
                      NULL);
        goto out;
    }
    if (old.data_id[0]) ec_remove(req->srv->set, old.data_id);
    if (svid)
        gw_resp_header(&req->resp, "x-amz-copy-source-version-id", "%s",
                       src.version_id);
    cf_fmt_iso8601_ms(part.mtime_ms, date);
    gw_xbuf_printf(&req->resp.body,
                   GW_XML_DECL "<CopyPartResult xmlns=\"http://s3.amazonaws."
                               "com/doc/2006-03-01/\"><LastModified>%s"
                               "</LastModified><ETag>&quot;%s&quot;</ETag>",
                   date, part.etag);
    if (ua != GW_CSUM_NONE)
        gw_xbuf_printf(&req->resp.body, "<%s>%s</%s>", gw_csum_xml(ua),
                       part.csum, gw_csum_xml(ua));
    gw_xbuf_str(&req->resp.body, "</CopyPartResult>");
    gw_sse_resp_headers(req, &usse);
out:
    OPENSSL_cleanse(&keys, sizeof(keys));
    gw_csum_cleanup(&cs);
    ec_writer_free(w);
    EVP_MD_CTX_free(md);
    meta_version_cleanup(&src);
    free(skey);
    free(svid);
}

void gw_h_upload_part_copy(struct gw_req *req)
{
    gw_req_post(req, upload_part_copy_work, gw_done_respond);
}
