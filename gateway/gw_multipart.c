/* gw_multipart.c: CreateMultipartUpload, CompleteMultipartUpload,
 * AbortMultipartUpload, ListParts, ListMultipartUploads. (UploadPart is the
 * PutObject body path in gw_object.c, committing a part record instead of a
 * version.)
 *
 * Parts are erasure-coded as they arrive, each under its own data id;
 * completion writes only catalog records — the version lists its parts — so
 * it costs the same for 10 MiB and 10 GiB. Parts not named in the
 * completion, and the parts of aborted uploads, are removed after the
 * catalog commit. */
#include "gw_int.h"
#include "ol.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_MIN_PART_SIZE (5ULL << 20) /* every part but the last */
#define GW_LIST_PARTS_MAX 1000

void gw_remove_data(struct gw_server *srv, const struct meta_version *v)
{
    size_t i;
    if (v->delete_marker) return;
    /* the data, or with parts the record object (see heal/heal_int.h) */
    ec_remove(srv->set, v->data_id[0] ? v->data_id : v->version_id);
    for (i = 0; i < v->nparts; i++) ec_remove(srv->set, v->parts[i].data_id);
}

static const char *upload_id(const struct gw_req *req)
{
    const struct gw_qparam *q = gw_req_qparam(req, "uploadId");
    return q ? q->value : "";
}

static int upload_id_ok(const char *id)
{
    size_t n = strlen(id), i;
    if (n == 0 || n > META_UPLOAD_ID_MAX) return 0;
    for (i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z')))
            return 0;
    return 1;
}

static void xml_open(struct gw_xbuf *x, const char *root)
{
    gw_xbuf_printf(x, GW_XML_DECL "<%s xmlns=\"http://s3.amazonaws.com/doc/"
                      "2006-03-01/\">", root);
}

/* ---- checksums of an upload ---- */

enum gw_csum_algo gw_upload_checksum(const struct meta_kv *h, size_t n,
                                     int *full_object)
{
    enum gw_csum_algo a = GW_CSUM_NONE;
    size_t i;
    *full_object = 0;
    for (i = 0; i < n; i++) {
        if (strcmp(h[i].name, GW_MPU_CSUM_ALGO) == 0)
            a = gw_csum_lookup(h[i].value, strlen(h[i].value));
        else if (strcmp(h[i].name, GW_MPU_CSUM_TYPE) == 0)
            *full_object = strcmp(h[i].value, "FULL_OBJECT") == 0;
    }
    if (a == GW_CSUM_NONE) *full_object = 0;
    return a;
}

/* x-amz-checksum-algorithm / x-amz-checksum-type of CreateMultipartUpload
 * (AWS user guide, "Checking object integrity": CRC64NVME is FULL_OBJECT
 * only, SHA1/SHA256 COMPOSITE only, CRC32/CRC32C either, COMPOSITE by
 * default). Stores them in v's headers; 0, or -1 with an error set. */
static int create_checksum(struct gw_req *req, struct meta_version *v,
                           enum gw_csum_algo *algo, int *full)
{
    size_t al = 0, tl = 0;
    const char *a = gw_req_header(req, "x-amz-checksum-algorithm", &al);
    const char *t = gw_req_header(req, "x-amz-checksum-type", &tl);
    char msg[160];

    *algo = GW_CSUM_NONE;
    *full = 0;
    if (a == NULL && t == NULL) return 0;
    if (a == NULL) {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "The x-amz-checksum-type header can only be used with "
                      "the x-amz-checksum-algorithm header.");
        return -1;
    }
    *algo = gw_csum_lookup(a, al);
    if (*algo == GW_CSUM_NONE || (al > 6 && strncasecmp(a, "x-amz-", 6) == 0)) {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "Checksum algorithm provided is unsupported. Please try "
                      "again with any of the valid types: [CRC32, CRC32C, "
                      "CRC64NVME, SHA1, SHA256]");
        return -1;
    }
    if (t == NULL) {
        *full = *algo == GW_CSUM_CRC64NVME;
    } else if (tl == 11 && strncmp(t, "FULL_OBJECT", 11) == 0) {
        *full = 1;
    } else if (tl == 9 && strncmp(t, "COMPOSITE", 9) == 0) {
        *full = 0;
    } else {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "Value for x-amz-checksum-type header is invalid.");
        return -1;
    }
    if ((*full && !gw_csum_is_crc(*algo)) ||
        (!*full && *algo == GW_CSUM_CRC64NVME)) {
        snprintf(msg, sizeof(msg), "The %s checksum type cannot be used "
                 "with the %s checksum algorithm.",
                 *full ? "FULL_OBJECT" : "COMPOSITE", gw_csum_name(*algo));
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST, msg);
        return -1;
    }
    if (gw_add_stored_header(v, GW_MPU_CSUM_ALGO, gw_csum_name(*algo),
                             strlen(gw_csum_name(*algo))) != 0 ||
        gw_add_stored_header(v, GW_MPU_CSUM_TYPE,
                             *full ? "FULL_OBJECT" : "COMPOSITE",
                             *full ? 11 : 9) != 0) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return -1;
    }
    return 0;
}

/* ---- CreateMultipartUpload ---- */

static void create_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct meta_upload u;
    struct meta_version hv;
    struct gw_xbuf *x = &req->resp.body;
    unsigned char rnd[16];
    enum meta_status st;
    enum gw_csum_algo ca;
    int cfull;

    memset(&u, 0, sizeof(u));
    memset(&hv, 0, sizeof(hv));
    if (gw_bucket_check(req, &b) != 0) return;
    if (gw_collect_stored_headers(req, &hv) != 0 ||
        gw_acl_for_write(req, &hv) != 0)
        goto out;
    {
        /* Explicit lock parameters are validated now, as PutObject's,
         * and stamped at completion; the bucket's default retention is
         * judged at completion (the moment the version is written). */
        struct meta_version lk;
        int r;
        memset(&lk, 0, sizeof(lk));
        r = gw_lock_explicit(req, &b, &lk);
        if (r < 0) goto out;
        if (r > 0 && gw_lock_to_upload(&lk, &hv) != 0) {
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            goto out;
        }
    }
    if (create_checksum(req, &hv, &ca, &cfull) != 0) goto out;
    {
        /* x-amz-server-side-encryption or the bucket's default: the
         * upload's data key, wrapped, rides in its headers; every part is
         * sealed under it */
        struct meta_version sv;
        unsigned char dek[32];
        int r;
        memset(&sv, 0, sizeof(sv));
        r = gw_sse_for_write(req, &sv, dek);
        OPENSSL_cleanse(dek, sizeof(dek));
        if (r < 0) goto out;
        if (r > 0 && gw_sse_to_upload(&sv.sse, &hv) != 0) {
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            goto out;
        }
        gw_sse_resp_headers(req, &sv.sse);
    }
    cf_random_bytes(rnd, sizeof(rnd));
    cf_hex_encode(rnd, sizeof(rnd), u.upload_id);
    u.key = req->key;
    u.key_len = req->key_len;
    u.initiated_ms = cf_now_ms();
    snprintf(u.owner, sizeof(u.owner), "%s",
             req->principal ? req->principal : "anonymous");
    u.headers = hv.headers;
    u.nheaders = hv.nheaders;
    st = meta_upload_create(req->srv->db, req->bucket, &u);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        goto out;
    }
    xml_open(x, "InitiateMultipartUploadResult");
    gw_xbuf_elem(x, "Bucket", req->bucket, strlen(req->bucket));
    gw_xbuf_elem(x, "Key", req->key, req->key_len);
    gw_xbuf_elem(x, "UploadId", u.upload_id, strlen(u.upload_id));
    gw_xbuf_str(x, "</InitiateMultipartUploadResult>");
    if (ca != GW_CSUM_NONE) {
        gw_resp_header(&req->resp, "x-amz-checksum-algorithm", "%s",
                       gw_csum_name(ca));
        gw_resp_header(&req->resp, "x-amz-checksum-type", "%s",
                       cfull ? "FULL_OBJECT" : "COMPOSITE");
    }
    if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
out:
    meta_version_cleanup(&hv);
}

void gw_h_create_mpu(struct gw_req *req)
{
    gw_req_post(req, create_work, gw_done_respond);
}

/* ---- CompleteMultipartUpload ---- */

static void lower_name(enum gw_csum_algo a, char out[16])
{
    size_t k;
    snprintf(out, 16, "%s", gw_csum_name(a));
    for (k = 0; out[k]; k++)
        if (out[k] >= 'A' && out[k] <= 'Z') out[k] = (char)(out[k] - 'A' + 'a');
}

/* The object checksum of a completion (AWS user guide, "Checking object
 * integrity", and CompleteMultipartUpload): for an upload created with an
 * algorithm, each part the client lists must carry that checksum when the
 * type is COMPOSITE (optional for FULL_OBJECT) and it must equal the
 * part's stored one (else InvalidPart); COMPOSITE also needs the parts
 * numbered 1..N without gaps (InvalidPartOrder). An x-amz-checksum-type
 * or x-amz-checksum-<algo> header on the request must match (BadDigest).
 * parts[] are the recorded parts in the listed order. Sets *algo (NONE
 * when the upload has none) and out; 0, or -1 with an error set. */
static int complete_checksum(struct gw_req *req, const struct meta_upload *u,
                             const struct gw_xml_complete *c,
                             const struct meta_part *parts,
                             enum gw_csum_algo *algo, int *full,
                             char out[GW_CSUM_B64_MAX + 8])
{
    const char **vals = NULL;
    uint64_t *sizes = NULL;
    const char *h;
    size_t hl, i;
    char name[16], msg[200];
    int rc = -1;

    out[0] = '\0';
    *algo = gw_upload_checksum(u->headers, u->nheaders, full);
    h = gw_req_header(req, "x-amz-checksum-type", &hl);
    if (h && *algo == GW_CSUM_NONE) {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "The upload was created without a checksum algorithm; "
                      "x-amz-checksum-type cannot be used.");
        return -1;
    }
    if (h && !(*full ? (hl == 11 && strncmp(h, "FULL_OBJECT", 11) == 0)
                     : (hl == 9 && strncmp(h, "COMPOSITE", 9) == 0))) {
        gw_resp_error(&req->resp, GW_E_BAD_DIGEST,
                      "The checksum type specified does not match the "
                      "checksum type of the upload.");
        return -1;
    }
    if (*algo == GW_CSUM_NONE) return 0;
    lower_name(*algo, name);
    for (i = 0; i < c->nparts; i++) {
        const struct gw_xml_part *xp = &c->parts[i];
        if (!*full && xp->number != (long)i + 1) {
            gw_resp_error(&req->resp, GW_E_INVALID_PART_ORDER,
                          "The part numbers of an upload with a COMPOSITE "
                          "checksum must start at 1 and be consecutive.");
            return -1;
        }
        if ((xp->csum_elem[0] == '\0' && !*full) ||
            (xp->csum_elem[0] &&
             strcmp(xp->csum_elem, gw_csum_xml(*algo)) != 0)) {
            snprintf(msg, sizeof(msg), "The upload was created using a %s "
                     "checksum. The complete request must include the "
                     "checksum for each part. It was missing for part %ld "
                     "in the request.", name, xp->number);
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST, msg);
            return -1;
        }
        if (parts[i].csum_algo != (int)*algo || parts[i].csum[0] == '\0' ||
            (xp->csum_elem[0] && strcmp(xp->csum, parts[i].csum) != 0)) {
            gw_resp_error(&req->resp, GW_E_INVALID_PART, NULL);
            return -1;
        }
    }
    vals = calloc(c->nparts, sizeof(*vals));
    sizes = calloc(c->nparts, sizeof(*sizes));
    if (vals == NULL || sizes == NULL) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        goto out;
    }
    for (i = 0; i < c->nparts; i++) {
        vals[i] = parts[i].csum;
        sizes[i] = parts[i].size;
    }
    if (gw_csum_multipart(*algo, *full, vals, sizes, c->nparts, out) != 0) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        goto out;
    }
    h = gw_req_header(req, gw_csum_header(*algo), &hl);
    if (h) {
        /* COMPOSITE: with or without the "-N" suffix */
        size_t ol = strlen(out), bl = strcspn(out, "-");
        if (!((hl == ol && memcmp(h, out, hl) == 0) ||
              (!*full && hl == bl && memcmp(h, out, hl) == 0))) {
            snprintf(msg, sizeof(msg), "The %s you specified did not match "
                     "the calculated checksum.", gw_csum_name(*algo));
            gw_resp_error(&req->resp, GW_E_BAD_DIGEST, msg);
            goto out;
        }
    }
    rc = 0;
out:
    free(vals);
    free(sizes);
    return rc;
}

/* The completed version's headers: the upload's, minus its checksum
 * settings, plus the object's checksum and its type. */
static int complete_headers(struct meta_version *v, enum gw_csum_algo algo,
                            int full, const char *val)
{
    size_t i, o = 0;
    for (i = 0; i < v->nheaders; i++) {
        if (strncmp(v->headers[i].name, "x-coffer-mpu-", 13) == 0) {
            free(v->headers[i].name);
            free(v->headers[i].value);
            continue;
        }
        v->headers[o++] = v->headers[i];
    }
    v->nheaders = o;
    if (algo == GW_CSUM_NONE) return 0;
    if (gw_add_stored_header(v, gw_csum_header(algo), val, strlen(val)) != 0)
        return -1;
    return gw_add_stored_header(v, "x-amz-checksum-type",
                                full ? "FULL_OBJECT" : "COMPOSITE",
                                full ? 11 : 9);
}

static void complete_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct meta_upload u;
    struct gw_xml_complete c;
    struct meta_part *rec = NULL, *unused = NULL;
    size_t nrec = 0, nunused = 0, i, j;
    struct meta_version v, replaced;
    struct gw_xbuf *x = &req->resp.body;
    EVP_MD_CTX *md = NULL;
    unsigned char dig[16];
    unsigned int dl;
    enum meta_status st;
    const char *id = upload_id(req);
    enum gw_csum_algo calgo = GW_CSUM_NONE;
    int cfull = 0;
    char cval[GW_CSUM_B64_MAX + 8];

    memset(&u, 0, sizeof(u));
    memset(&c, 0, sizeof(c));
    memset(&v, 0, sizeof(v));
    memset(&replaced, 0, sizeof(replaced));
    if (gw_bucket_check(req, &b) != 0) return;
    {
        size_t hl;
        const char *h = gw_req_header(req, "if-none-match", &hl);
        if (h && !(hl == 1 && h[0] == '*')) {
            gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                          "If-None-Match on CompleteMultipartUpload supports "
                          "only '*'.");
            return;
        }
    }
    st = upload_id_ok(id) ? meta_upload_get(req->srv->db, req->bucket,
                                            req->key, req->key_len, id, &u)
                          : META_ENOTFOUND;
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_UPLOAD
                                                       : gw_err_from_meta(st),
                      NULL);
        goto out;
    }
    if (gw_xml_parse_complete(req->xml.p ? req->xml.p : "", req->xml.len,
                              &c) != GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        goto out;
    }
    st = meta_upload_parts(req->srv->db, id, 0, META_MAX_PARTS, &rec, &nrec,
                           NULL);
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        goto out;
    }
    v.parts = calloc(c.nparts, sizeof(*v.parts));
    md = EVP_MD_CTX_new();
    if (v.parts == NULL || md == NULL ||
        !EVP_DigestInit_ex(md, EVP_md5(), NULL)) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        goto out;
    }
    /* AWS's checks, in its order: ascending numbers, each part uploaded
     * with that ETag, every part but the last at least 5 MiB. */
    for (i = 0; i < c.nparts; i++) {
        if (c.parts[i].number < 1 || c.parts[i].number > META_MAX_PARTS) {
            gw_resp_error(&req->resp, GW_E_INVALID_PART, NULL);
            goto out;
        }
        if (i > 0 && c.parts[i].number <= c.parts[i - 1].number) {
            gw_resp_error(&req->resp, GW_E_INVALID_PART_ORDER, NULL);
            goto out;
        }
    }
    for (i = 0; i < c.nparts; i++) {
        unsigned char raw[16];
        for (j = 0; j < nrec; j++)
            if (rec[j].number == (uint32_t)c.parts[i].number) break;
        if (j == nrec || strcasecmp(rec[j].etag, c.parts[i].etag) != 0) {
            gw_resp_error(&req->resp, GW_E_INVALID_PART, NULL);
            goto out;
        }
        if (i + 1 < c.nparts && rec[j].size < GW_MIN_PART_SIZE) {
            char msg[160];
            snprintf(msg, sizeof(msg), "Your proposed upload is smaller than "
                     "the minimum allowed size (part %ld is %llu bytes)",
                     c.parts[i].number, (unsigned long long)rec[j].size);
            gw_resp_error(&req->resp, GW_E_ENTITY_TOO_SMALL, msg);
            goto out;
        }
        v.parts[i] = rec[j];
        v.size += rec[j].size;
        if (cf_hex_decode(rec[j].etag, 32, raw, 16) != 0) {
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            goto out;
        }
        EVP_DigestUpdate(md, raw, 16);
    }
    v.nparts = c.nparts;
    if (v.size > (5ULL << 40)) { /* AWS: 5 TiB per object */
        gw_resp_error(&req->resp, GW_E_ENTITY_TOO_LARGE, NULL);
        goto out;
    }
    EVP_DigestFinal_ex(md, dig, &dl);
    cf_hex_encode(dig, 16, v.etag);
    snprintf(v.etag + 32, sizeof(v.etag) - 32, "-%zu", c.nparts);
    gw_new_version_id(req, v.version_id, sizeof(v.version_id));
    /* the record object's (heal/heal_int.h); the data is in the parts */
    ec_new_data_id(req->srv->set, req->bucket, req->key, req->key_len,
                   v.data_id);
    v.key = req->key;
    v.key_len = req->key_len;
    v.mtime_ms = cf_now_ms();
    v.ec_data = ec_set_data_shards(req->srv->set);
    v.ec_parity = ec_set_parity_shards(req->srv->set);
    v.stripe_size = (uint32_t)ec_set_stripe_size(req->srv->set);
    if (complete_checksum(req, &u, &c, v.parts, &calgo, &cfull, cval) != 0)
        goto out_keep; /* v.key is borrowed */
    gw_sse_from_headers(u.headers, u.nheaders, &v.sse);
    for (i = 0; i < v.nparts; i++) {
        if (v.parts[i].enc == (v.sse.alg != META_SSE_NONE)) continue;
        cf_log(CF_LOG_ERR, "gw: upload %s: part %u does not match the "
               "upload's encryption", id, v.parts[i].number);
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        goto out_keep;
    }
    v.headers = u.headers;
    v.nheaders = u.nheaders;
    if (complete_headers(&v, calgo, cfull, cval) != 0) {
        u.headers = v.headers;
        u.nheaders = v.nheaders;
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        goto out_keep;
    }
    u.headers = v.headers; /* v borrows them until the commit */
    u.nheaders = v.nheaders;
    {
        /* The upload's explicit lock parameters, else the bucket's
         * default retention as of now; a locked version is audited in
         * the completion's batch. Conditional completion is judged under
         * the key lock. */
        struct gw_write_cond cc = { req, GW_E_NONE };
        int applies = 0, cond;
        char *ev = NULL;
        gw_lock_from_upload(&v);
        u.nheaders = v.nheaders; /* the entry left the shared array */
        gw_lock_default(&b, &v, &applies);
        {
            /* The record object: no data, the version's record (lock
             * state included) in its shard headers, so a catalog rebuild
             * can restore a multipart object (heal/heal_int.h). */
            struct ec_obj_info info = { req->bucket, req->key, req->key_len,
                                        v.data_id, v.mtime_ms };
            struct ec_writer *w = NULL;
            uint64_t zero;
            enum ec_status est = ec_writer_new(req->srv->set, &info, &w);
            if (est == EC_OK) {
                gw_put_record(req, w, &v);
                est = ec_writer_finish(w, &zero);
            }
            if (est == EC_OK) /* packed: the catalog keeps the locator */
                snprintf(v.data_id, sizeof(v.data_id), "%s",
                         ec_writer_data_id(w));
            ec_writer_free(w);
            if (est != EC_OK) {
                gw_resp_error(&req->resp, gw_err_from_ec(est),
                              ec_strerror(est));
                goto out_keep;
            }
        }
        if (applies) {
            ev = gw_audit_event(req, "put-locked", req->key, req->key_len,
                                &v, "multipart");
            if (ev == NULL) {
                gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
                goto out_keep;
            }
        }
        cond = gw_req_header(req, "if-none-match", NULL) ||
               gw_req_header(req, "if-match", NULL);
        st = meta_upload_complete_if(req->srv->db, req->bucket, id, &v,
                                     &replaced, &unused, &nunused,
                                     cond ? gw_write_cond_check : NULL, &cc,
                                     ol_clock_now(), ev);
        free(ev);
        if (st != META_OK) ec_remove(req->srv->set, v.data_id);
        if (st == META_EDENIED) {
            gw_resp_error(&req->resp, cc.err, NULL);
            goto out_keep;
        }
    }
    v.key = NULL;
    v.headers = NULL;
    v.nheaders = 0;
    if (st == META_EINVAL) {
        /* a part was replaced while we checked: the client retries */
        gw_resp_error(&req->resp, GW_E_INVALID_PART, NULL);
        goto out;
    }
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_UPLOAD
                                                       : gw_err_from_meta(st),
                      NULL);
        goto out;
    }
    for (i = 0; i < nunused; i++) ec_remove(req->srv->set, unused[i].data_id);
    if (replaced.version_id[0]) gw_remove_data(req->srv, &replaced);
    if (req->versioning != META_VERSIONING_OFF)
        gw_resp_header(&req->resp, "x-amz-version-id", "%s", v.version_id);
    gw_sse_resp_headers(req, &v.sse);
    xml_open(x, "CompleteMultipartUploadResult");
    gw_xbuf_str(x, "<Location>/");
    gw_xbuf_urlenc(x, req->bucket, strlen(req->bucket));
    gw_xbuf_str(x, "/");
    gw_xbuf_urlenc(x, req->key, req->key_len);
    gw_xbuf_str(x, "</Location>");
    gw_xbuf_elem(x, "Bucket", req->bucket, strlen(req->bucket));
    gw_xbuf_elem(x, "Key", req->key, req->key_len);
    gw_xbuf_printf(x, "<ETag>&quot;%s&quot;</ETag>", v.etag);
    if (calgo != GW_CSUM_NONE) {
        gw_xbuf_elem(x, gw_csum_xml(calgo), cval, strlen(cval));
        gw_xbuf_printf(x, "<ChecksumType>%s</ChecksumType>",
                       cfull ? "FULL_OBJECT" : "COMPOSITE");
    }
    gw_xbuf_str(x, "</CompleteMultipartUploadResult>");
    if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
    goto out;
out_keep:
    v.key = NULL;
    v.headers = NULL;
    v.nheaders = 0;
out:
    EVP_MD_CTX_free(md);
    free(rec);
    free(unused);
    meta_version_cleanup(&v);
    meta_version_cleanup(&replaced);
    meta_upload_cleanup(&u);
    gw_xml_complete_cleanup(&c);
}

void gw_h_complete_mpu(struct gw_req *req)
{
    gw_req_post(req, complete_work, gw_done_respond);
}

/* ---- AbortMultipartUpload ---- */

static void abort_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct meta_part *parts = NULL;
    size_t n = 0, i;
    enum meta_status st;
    const char *id = upload_id(req);

    if (gw_bucket_check(req, &b) != 0) return;
    st = upload_id_ok(id) ? meta_upload_abort(req->srv->db, req->bucket,
                                              req->key, req->key_len, id,
                                              &parts, &n)
                          : META_ENOTFOUND;
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_UPLOAD
                                                       : gw_err_from_meta(st),
                      NULL);
        return;
    }
    for (i = 0; i < n; i++) ec_remove(req->srv->set, parts[i].data_id);
    free(parts);
    req->resp.status = 204;
}

void gw_h_abort_mpu(struct gw_req *req)
{
    gw_req_post(req, abort_work, gw_done_respond);
}

/* ---- ListParts ---- */

static long int_param(const struct gw_req *req, const char *name, long dflt,
                      long max, int *bad)
{
    const struct gw_qparam *q = gw_req_qparam(req, name);
    char *end;
    long v;
    if (q == NULL) return dflt;
    v = strtol(q->value, &end, 10);
    if (q->value_len == 0 || *end != '\0' || v < 0) {
        *bad = 1;
        return dflt;
    }
    return v > max ? max : v;
}

static void list_parts_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct meta_upload u;
    struct meta_part *parts = NULL;
    size_t n = 0, i;
    int truncated = 0, bad = 0;
    struct gw_xbuf *x = &req->resp.body;
    enum meta_status st;
    const char *id = upload_id(req);
    long maxp = int_param(req, "max-parts", GW_LIST_PARTS_MAX,
                          GW_LIST_PARTS_MAX, &bad);
    long marker = int_param(req, "part-number-marker", 0, META_MAX_PARTS,
                            &bad);

    memset(&u, 0, sizeof(u));
    if (bad) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "max-parts and part-number-marker must be "
                      "non-negative integers");
        return;
    }
    if (gw_bucket_check(req, &b) != 0) return;
    st = upload_id_ok(id) ? meta_upload_get(req->srv->db, req->bucket,
                                            req->key, req->key_len, id, &u)
                          : META_ENOTFOUND;
    if (st == META_OK)
        st = meta_upload_parts(req->srv->db, id, (uint32_t)marker,
                               (size_t)maxp, &parts, &n, &truncated);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_UPLOAD
                                                       : gw_err_from_meta(st),
                      NULL);
        goto out;
    }
    xml_open(x, "ListPartsResult");
    gw_xbuf_elem(x, "Bucket", req->bucket, strlen(req->bucket));
    gw_xbuf_elem(x, "Key", req->key, req->key_len);
    gw_xbuf_elem(x, "UploadId", id, strlen(id));
    gw_xbuf_str(x, "<Initiator>");
    gw_xbuf_elem(x, "ID", u.owner, strlen(u.owner));
    gw_xbuf_elem(x, "DisplayName", u.owner, strlen(u.owner));
    gw_xbuf_str(x, "</Initiator>");
    gw_owner_xml(req, x, u.owner);
    gw_xbuf_str(x, "<StorageClass>STANDARD</StorageClass>");
    {
        int full = 0;
        enum gw_csum_algo a = gw_upload_checksum(u.headers, u.nheaders,
                                                 &full);
        if (a != GW_CSUM_NONE)
            gw_xbuf_printf(x, "<ChecksumAlgorithm>%s</ChecksumAlgorithm>"
                              "<ChecksumType>%s</ChecksumType>",
                           gw_csum_name(a), full ? "FULL_OBJECT"
                                                 : "COMPOSITE");
    }
    gw_xbuf_printf(x, "<PartNumberMarker>%ld</PartNumberMarker>", marker);
    if (n)
        gw_xbuf_printf(x, "<NextPartNumberMarker>%u</NextPartNumberMarker>",
                       parts[n - 1].number);
    gw_xbuf_printf(x, "<MaxParts>%ld</MaxParts><IsTruncated>%s</IsTruncated>",
                   maxp, truncated ? "true" : "false");
    for (i = 0; i < n; i++) {
        char date[CF_ISO8601_LEN];
        cf_fmt_iso8601_ms(parts[i].mtime_ms, date);
        gw_xbuf_printf(x, "<Part><PartNumber>%u</PartNumber><LastModified>%s"
                          "</LastModified><ETag>&quot;%s&quot;</ETag><Size>"
                          "%llu</Size>",
                       parts[i].number, date, parts[i].etag,
                       (unsigned long long)parts[i].size);
        if (parts[i].csum_algo && parts[i].csum[0])
            gw_xbuf_elem(x, gw_csum_xml((enum gw_csum_algo)parts[i].csum_algo),
                         parts[i].csum, strlen(parts[i].csum));
        gw_xbuf_str(x, "</Part>");
    }
    gw_xbuf_str(x, "</ListPartsResult>");
    if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
out:
    free(parts);
    meta_upload_cleanup(&u);
}

void gw_h_list_parts(struct gw_req *req)
{
    gw_req_post(req, list_parts_work, gw_done_respond);
}

/* ---- ListMultipartUploads ---- */

static void list_uploads_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct meta_upload_list l;
    struct gw_xbuf *x = &req->resp.body;
    const struct gw_qparam *pre = gw_req_qparam(req, "prefix");
    const struct gw_qparam *km = gw_req_qparam(req, "key-marker");
    const struct gw_qparam *im = gw_req_qparam(req, "upload-id-marker");
    int bad = 0;
    long max = int_param(req, "max-uploads", 1000, 1000, &bad);
    enum meta_status st;
    size_t i;

    if (bad) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "max-uploads must be a non-negative integer");
        return;
    }
    if (gw_bucket_check(req, &b) != 0) return;
    st = meta_upload_list(req->srv->db, req->bucket, pre ? pre->value : "",
                          pre ? pre->value_len : 0, km ? km->value : "",
                          km ? km->value_len : 0, im ? im->value : NULL,
                          (size_t)max, &l);
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        return;
    }
    xml_open(x, "ListMultipartUploadsResult");
    gw_xbuf_elem(x, "Bucket", req->bucket, strlen(req->bucket));
    gw_xbuf_elem(x, "KeyMarker", km ? km->value : "", km ? km->value_len : 0);
    gw_xbuf_elem(x, "UploadIdMarker", im ? im->value : "",
                 im ? im->value_len : 0);
    if (l.n) {
        gw_xbuf_elem(x, "NextKeyMarker", l.uploads[l.n - 1].key,
                     l.uploads[l.n - 1].key_len);
        gw_xbuf_elem(x, "NextUploadIdMarker", l.uploads[l.n - 1].upload_id,
                     strlen(l.uploads[l.n - 1].upload_id));
    }
    if (pre) gw_xbuf_elem(x, "Prefix", pre->value, pre->value_len);
    gw_xbuf_printf(x, "<MaxUploads>%ld</MaxUploads><IsTruncated>%s"
                      "</IsTruncated>",
                   max, l.truncated ? "true" : "false");
    for (i = 0; i < l.n; i++) {
        const struct meta_upload *u = &l.uploads[i];
        char date[CF_ISO8601_LEN];
        cf_fmt_iso8601_ms(u->initiated_ms, date);
        gw_xbuf_str(x, "<Upload>");
        gw_xbuf_elem(x, "Key", u->key, u->key_len);
        gw_xbuf_elem(x, "UploadId", u->upload_id, strlen(u->upload_id));
        gw_xbuf_str(x, "<Initiator>");
        gw_xbuf_elem(x, "ID", u->owner, strlen(u->owner));
        gw_xbuf_elem(x, "DisplayName", u->owner, strlen(u->owner));
        gw_xbuf_str(x, "</Initiator>");
        gw_owner_xml(req, x, u->owner);
        gw_xbuf_str(x, "<StorageClass>STANDARD</StorageClass>");
        gw_xbuf_elem(x, "Initiated", date, strlen(date));
        {
            int full = 0;
            enum gw_csum_algo a = gw_upload_checksum(u->headers,
                                                     u->nheaders, &full);
            if (a != GW_CSUM_NONE)
                gw_xbuf_printf(x, "<ChecksumAlgorithm>%s</ChecksumAlgorithm>"
                                  "<ChecksumType>%s</ChecksumType>",
                               gw_csum_name(a),
                               full ? "FULL_OBJECT" : "COMPOSITE");
        }
        gw_xbuf_str(x, "</Upload>");
    }
    gw_xbuf_str(x, "</ListMultipartUploadsResult>");
    if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
    meta_upload_list_cleanup(&l);
}

void gw_h_list_uploads(struct gw_req *req)
{
    gw_req_post(req, list_uploads_work, gw_done_respond);
}
