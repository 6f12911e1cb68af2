/* gw_object.c: PutObject, GetObject/HeadObject, DeleteObject, DeleteObjects.
 *
 * PUT: the loop copies decoded body bytes into pool blocks of one stripe
 * each; a worker job per block hashes it (MD5 for the ETag, SHA-256 when the
 * payload is signed, the requested S3 checksum: every byte hashed once, on
 * the worker) and appends it to the erasure writer. The finish job verifies
 * every digest, makes the shards durable, then commits the catalog record
 * (synced WAL). Invariant: the 200 is sent only from the finish job's done
 * callback, after meta_object_put returned META_OK.
 *
 * GET: a prepare job resolves the version, preconditions and range and opens
 * the reader; then one read job per stripe fills a pool block which is handed
 * to the socket by reference and returned to the pool once sent. Reading
 * pauses while the socket's output holds more than buffer_size bytes, and
 * while all GETs together hold read_ahead_total bytes (srv->ra_bytes: taken
 * with the block, given back by block_release or when the block returns
 * to the pool unsent). */
#include "gw_int.h"
#include "gw_sse.h"
#include "ol.h"

#include <openssl/crypto.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared ---- */

int gw_bucket_check(struct gw_req *req, struct meta_bucket *b)
{
    enum meta_status st = meta_bucket_get(req->srv->db, req->bucket, b);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        return -1;
    }
    gw_cors_actual(req);
    if (!gw_may_access(req, b)) {
        gw_resp_error(&req->resp, GW_E_ACCESS_DENIED, NULL);
        return -1;
    }
    if (gw_lock_system_bucket(req) != 0) return -1;
    req->versioning = (int)b->versioning;
    req->lock_enabled = b->lock_enabled;
    return 0;
}

/* The id a new version gets: unique while versioning is enabled, "null"
 * otherwise (AWS). */
void gw_put_record(const struct gw_req *req, struct ec_writer *w,
                   const struct meta_version *v)
{
    char *rec = NULL;
    size_t len = 0;
    /* the shard header holds bucket, data id and key besides */
    size_t room = 4048 - strlen(req->bucket) - strlen(v->data_id) -
                  req->key_len;
    if (meta_version_record(req->bucket, v, room, &rec, &len) != META_OK ||
        ec_writer_set_record(w, rec, len) != EC_OK)
        cf_log(CF_LOG_WARN, "gw: version %s of %s: its record does not fit "
               "in the shard headers (a catalog rebuild cannot restore it)",
               v->version_id, req->bucket);
    free(rec);
}

void gw_new_version_id(const struct gw_req *req, char *out, size_t cap)
{
    unsigned char rnd[16];
    char hex[33];
    if (req->versioning != META_VERSIONING_ENABLED) {
        snprintf(out, cap, "null");
        return;
    }
    cf_random_bytes(rnd, sizeof(rnd));
    cf_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(out, cap, "%s", hex);
}

/* GET read-ahead accounting: a read of n bytes pins n bytes of its block,
 * rounded up to whole pages (what it adds to RSS). */
static size_t ra_charge(size_t n)
{
    return (n + 4095) & ~(size_t)4095;
}

/* Takes `charge` bytes of the server-wide read-ahead budget; 0 if that
 * would pass read_ahead_total. With nothing held anything is let through,
 * so a budget smaller than a stripe still makes progress. Any thread. */
static int ra_take(struct gw_server *srv, size_t charge)
{
    size_t cur = atomic_load(&srv->ra_bytes);
    do {
        if (cur > 0 && cur + charge > srv->conf->read_ahead_total) return 0;
    } while (!atomic_compare_exchange_weak(&srv->ra_bytes, &cur,
                                           cur + charge));
    return 1;
}

static void ra_give(struct gw_server *srv, size_t charge)
{
    size_t was = atomic_fetch_sub(&srv->ra_bytes, charge);
    cf_check(was >= charge);
}

/* evbuffer release callback of a GET block: the socket is done with it. */
static void block_release(const void *data, size_t len, void *arg)
{
    struct gw_server *srv = arg;
    ra_give(srv, ra_charge(len));
    cf_pool_put(srv->pool, (void *)data);
}

/* A GET block going back to the pool without being sent. */
static void get_buf_drop(struct gw_req *req)
{
    struct gw_get *g = &req->get;
    if (g->buf == NULL) return;
    ra_give(req->srv, g->buf_charge);
    cf_pool_put(req->srv->pool, g->buf);
    g->buf = NULL;
    g->buf_charge = 0;
}

void gw_req_handler_cleanup(struct gw_req *req)
{
    struct gw_put *pu = &req->put;
    struct gw_get *g = &req->get;
    int i;

    /* Runs only while no job is busy, so the loop owns all of this. An
     * unfinished writer unlinks its tmp shards (a few unlinks on the loop:
     * accepted for the rare abort path). */
    ec_writer_free(pu->writer);
    pu->writer = NULL;
    EVP_MD_CTX_free(pu->md5);
    pu->md5 = NULL;
    EVP_MD_CTX_free(pu->sha256);
    pu->sha256 = NULL;
    gw_csum_cleanup(&pu->cs);
    for (i = 0; i < pu->nready; i++) cf_pool_put(req->srv->pool, pu->ready[i]);
    pu->nready = 0;
    if (pu->cur) cf_pool_put(req->srv->pool, pu->cur);
    pu->cur = NULL;
    if (pu->job_buf) cf_pool_put(req->srv->pool, pu->job_buf);
    pu->job_buf = NULL;
    pu->held = 0;
    gw_chunked_free(pu->chunked);
    pu->chunked = NULL;
    meta_version_cleanup(&pu->ver);
    OPENSSL_cleanse(pu->sse_bkey, sizeof(pu->sse_bkey));
    OPENSSL_cleanse(g->sse_dek, sizeof(g->sse_dek));
    ec_reader_free(g->reader);
    g->reader = NULL;
    get_buf_drop(req);
    meta_version_cleanup(&g->ver);
}

/* ---- PutObject ---- */

int gw_add_stored_header(struct meta_version *v, const char *name,
                             const char *val, size_t vlen)
{
    struct meta_kv *kv = realloc(v->headers,
                                 (v->nheaders + 1) * sizeof(*v->headers));
    if (kv == NULL) return -1;
    v->headers = kv;
    kv = &v->headers[v->nheaders];
    kv->name = strdup(name);
    kv->value = malloc(vlen + 1);
    if (kv->name == NULL || kv->value == NULL) {
        free(kv->name);
        free(kv->value);
        return -1;
    }
    memcpy(kv->value, val, vlen);
    kv->value[vlen] = '\0';
    v->nheaders++;
    return 0;
}

/* Standard headers S3 stores with the object and returns on GET/HEAD. */
static const char *const stored_std[] = {
    "content-type", "content-encoding", "content-disposition",
    "content-language", "cache-control", "expires",
    "x-amz-website-redirect-location", NULL
};

/* Copies the content-encoding minus the aws-chunked token. */
static int store_content_encoding(struct meta_version *v, const char *val,
                                  size_t n)
{
    char buf[256];
    size_t o = 0, i = 0;

    while (i < n) {
        size_t s = i, e;
        while (i < n && val[i] != ',') i++;
        e = i;
        i++;
        while (s < e && (val[s] == ' ' || val[s] == '\t')) s++;
        while (e > s && (val[e - 1] == ' ' || val[e - 1] == '\t')) e--;
        if (e == s || (e - s == 11 && strncasecmp(val + s, "aws-chunked",
                                                   11) == 0))
            continue;
        if (o + (e - s) + 1 >= sizeof(buf)) return 0;
        if (o) buf[o++] = ',';
        memcpy(buf + o, val + s, e - s);
        o += e - s;
    }
    return o ? gw_add_stored_header(v, "content-encoding", buf, o) : 0;
}

int gw_collect_stored_headers(struct gw_req *req, struct meta_version *v)
{
    size_t meta_bytes = 0;
    int i;

    for (i = 0; i < req->nhdrs; i++) {
        const struct gw_hdr *h = &req->hdrs[i];
        char name[128];
        size_t k;
        int std = 0;

        if (h->name.len >= sizeof(name)) {
            if (h->name.len > 11 && strncasecmp(h->name.p, "x-amz-meta-",
                                                11) == 0) {
                gw_resp_error(&req->resp, GW_E_METADATA_TOO_LARGE, NULL);
                return -1;
            }
            continue;
        }
        for (k = 0; k < h->name.len; k++) {
            char c = h->name.p[k];
            name[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        name[k] = '\0';
        if (strncmp(name, "x-amz-meta-", 11) == 0) {
            meta_bytes += h->name.len - 11 + h->value.len;
            if (meta_bytes > GW_MAX_USER_META) {
                gw_resp_error(&req->resp, GW_E_METADATA_TOO_LARGE, NULL);
                return -1;
            }
            if (gw_add_stored_header(v, name, h->value.p, h->value.len))
                goto out_oom;
            continue;
        }
        if (strcmp(name, "content-encoding") == 0) {
            if (store_content_encoding(v, h->value.p, h->value.len))
                goto out_oom;
            continue;
        }
        for (k = 0; stored_std[k]; k++)
            if (strcmp(name, stored_std[k]) == 0) std = 1;
        if (std && gw_add_stored_header(v, name, h->value.p,
                                     h->value.len))
            goto out_oom;
    }

    return 0;
out_oom:
    gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
    return -1;
}

static void put_prepare_work(struct gw_req *req)
{
    struct meta_bucket b;
    if (gw_bucket_check(req, &b) != 0) return;
    if (req->op == GW_OP_PUT_OBJECT &&
        gw_acl_for_write(req, &req->put.ver) != 0)
        return;
    if (req->op == GW_OP_PUT_OBJECT) {
        /* objlock decides before any body byte is read. */
        int applies = 0;
        unsigned char dek[GW_SSE_KEY];
        int enc;
        if (gw_lock_for_write(req, &b, &req->put.ver, &applies) != 0) return;
        /* x-amz-server-side-encryption, or the bucket's default */
        enc = gw_sse_for_write(req, &req->put.ver, dek);
        if (enc < 0) return;
        if (enc > 0) {
            int rc = gw_sse_put_start(req, dek, req->put.ver.sse.salt);
            OPENSSL_cleanse(dek, sizeof(dek));
            if (rc != 0) return;
        }
        /* Every version written into a lock bucket records its content
         * SHA-256 (audit report, put-locked audit entry). The body has
         * not been read yet, so the context sees every byte. */
        if (b.lock_enabled && req->put.sha256 == NULL) {
            req->put.sha256 = EVP_MD_CTX_new();
            if (req->put.sha256 == NULL ||
                !EVP_DigestInit_ex(req->put.sha256, EVP_sha256(), NULL)) {
                gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
                return;
            }
        }
        if (applies && !req->put.has_content_md5 &&
            req->put.cs.algo == GW_CSUM_NONE) {
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                          gw_lock_md5_message());
            return;
        }
    }
    if (req->op == GW_OP_UPLOAD_PART) {
        struct meta_upload u;
        enum meta_status st = meta_upload_get(
            req->srv->db, req->bucket, req->key, req->key_len,
            gw_req_qparam(req, "uploadId")->value, &u);
        /* A part of an upload that will be locked (its own lock headers
         * or the bucket's default retention) needs an integrity header,
         * as PutObject under lock does (AWS). */
        int locked = st == META_OK &&
                     (gw_upload_locked(u.headers, u.nheaders) ||
                      (b.lock_enabled && b.lock_mode != OL_MODE_NONE));
        int full = 0;
        enum gw_csum_algo ua = st == META_OK
                                   ? gw_upload_checksum(u.headers,
                                                        u.nheaders, &full)
                                   : GW_CSUM_NONE;
        /* the upload's encryption: every part sealed under its data key
         * (SSE-C: the request must carry the upload's key) */
        if (st == META_OK)
            gw_sse_from_headers(u.headers, u.nheaders, &req->put.ver.sse);
        meta_upload_cleanup(&u);
        if (st == META_OK) {
            unsigned char dek[GW_SSE_KEY];
            int rc = gw_sse_data_key(req, &req->put.ver.sse, 0, dek);
            if (rc > 0 &&
                gw_sse_put_start(req, dek, req->put.ver.sse.salt) != 0)
                rc = -1;
            OPENSSL_cleanse(dek, sizeof(dek));
            if (rc < 0) return;
        }
        if (st != META_OK) {
            gw_resp_error(&req->resp, st == META_ENOTFOUND
                                          ? GW_E_NO_SUCH_UPLOAD
                                          : gw_err_from_meta(st),
                          NULL);
            return;
        }
        if (locked && !req->put.has_content_md5 &&
            req->put.cs.algo == GW_CSUM_NONE) {
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                          "Content-MD5 OR x-amz-checksum- HTTP header is "
                          "required for Put Part requests with Object Lock "
                          "parameters");
            return;
        }
        /* An upload created with a checksum algorithm keeps that checksum
         * for every part: the one the client sends (it must be of that
         * algorithm, as AWS requires), or, when it sends none, the one
         * computed here. */
        req->put.mpu_csum = ua;
        if (ua != GW_CSUM_NONE && req->put.cs.algo == GW_CSUM_NONE) {
            if (gw_csum_init(&req->put.cs, ua) != 0)
                gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        } else if (ua != GW_CSUM_NONE && req->put.cs.algo != ua) {
            char msg[160], e[16], g[16];
            size_t k;
            snprintf(e, sizeof(e), "%s", gw_csum_name(ua));
            snprintf(g, sizeof(g), "%s", gw_csum_name(req->put.cs.algo));
            for (k = 0; e[k]; k++) e[k] = (char)tolower((unsigned char)e[k]);
            for (k = 0; g[k]; k++) g[k] = (char)tolower((unsigned char)g[k]);
            snprintf(msg, sizeof(msg), "Checksum Type mismatch occurred, "
                     "expected checksum Type: %s, actual checksum Type: %s",
                     e, g);
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST, msg);
        }
    }
}

/* partNumber as AWS accepts it: an integer 1..10000, else 0. */
static uint32_t part_number(const struct gw_req *req)
{
    const struct gw_qparam *q = gw_req_qparam(req, "partNumber");
    char *end;
    long n;
    if (q == NULL || q->value_len == 0 || q->value_len > 5) return 0;
    n = strtol(q->value, &end, 10);
    if (*end != '\0' || n < 1 || n > META_MAX_PARTS) return 0;
    return (uint32_t)n;
}

static void put_prepare_done(struct gw_req *req)
{
    if (req->resp.err != GW_E_NONE) {
        gw_req_respond(req);
        return;
    }
    gw_req_continue_body(req);
}

static int chunked_data(const char *p, size_t n, void *arg);

void gw_h_put_prepare(struct gw_req *req)
{
    struct gw_put *pu = &req->put;
    const struct conf *cf = req->srv->conf;
    size_t vlen;
    const char *v;
    int i;

    v = gw_req_header(req, "if-none-match", &vlen);
    if (req->op == GW_OP_PUT_OBJECT && v && !(vlen == 1 && v[0] == '*')) {
        gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                      "If-None-Match on PutObject supports only '*'.");
        goto out_respond;
    }
    if (req->op == GW_OP_UPLOAD_PART && part_number(req) == 0) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "Part number must be an integer between 1 and 10000, "
                      "inclusive");
        goto out_respond;
    }
    pu->expected = req->content_length;
    if (req->auth.payload >= GW_PAYLOAD_STREAMING_SIGNED) {
        char tmp[32] = "";
        char *end = tmp;
        v = gw_req_header(req, "x-amz-decoded-content-length", &vlen);
        if (v == NULL && req->content_length == UINT64_MAX) {
            /* Transfer-Encoding: chunked around an aws-chunked body of
             * unknown length (SDKs do this for unseekable streams). AWS
             * refuses it; coffer streams anyway, so it accepts it and
             * enforces the size limit as the bytes arrive. */
            pu->expected = UINT64_MAX;
        } else if (v == NULL || vlen == 0 || vlen >= sizeof(tmp)) {
            gw_resp_error(&req->resp, GW_E_MISSING_CONTENT_LENGTH, NULL);
            goto out_respond;
        } else {
            memcpy(tmp, v, vlen);
            tmp[vlen] = '\0';
            pu->expected = strtoull(tmp, &end, 10);
        }
        if (pu->expected != UINT64_MAX && *end != '\0') {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "Invalid x-amz-decoded-content-length");
            goto out_respond;
        }
    } else if (req->content_length == UINT64_MAX) {
        /* Transfer-Encoding: chunked without a decoded length. AWS requires
         * Content-Length for PutObject. */
        gw_resp_error(&req->resp, GW_E_MISSING_CONTENT_LENGTH, NULL);
        goto out_respond;
    }
    if (pu->expected != UINT64_MAX && pu->expected > cf->max_object_bytes) {
        gw_resp_error(&req->resp, GW_E_ENTITY_TOO_LARGE, NULL);
        goto out_respond;
    }
    v = gw_req_header(req, "content-md5", &vlen);
    if (v) {
        if (cf_base64_decode(v, vlen, pu->content_md5, 16) != 16) {
            gw_resp_error(&req->resp, GW_E_INVALID_DIGEST, NULL);
            goto out_respond;
        }
        pu->has_content_md5 = 1;
    }

    /* The version record: id, stored headers, user metadata. */
    ec_new_data_id(req->srv->set, req->bucket, req->key, req->key_len,
                   pu->ver.data_id);
    pu->ver.key = malloc(req->key_len + 1);
    if (pu->ver.key == NULL) goto out_oom;
    memcpy(pu->ver.key, req->key, req->key_len + 1);
    pu->ver.key_len = req->key_len;
    if (req->op == GW_OP_PUT_OBJECT &&
        (gw_collect_stored_headers(req, &pu->ver) != 0 ||
         gw_tagging_for_put(req, &pu->ver) != 0))
        goto out_respond;

    /* Flexible checksum: a header with the value, or a trailer named by
     * x-amz-trailer. */
    for (i = 1; i <= GW_CSUM_CRC64NVME; i++) {
        v = gw_req_header(req, gw_csum_header((enum gw_csum_algo)i), &vlen);
        if (v == NULL) continue;
        if (pu->cs.algo != GW_CSUM_NONE) {
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                          "Expecting a single x-amz-checksum- header. "
                          "Multiple checksum Types are not allowed.");
            goto out_respond;
        }
        if (vlen == 0 || vlen >= sizeof(pu->cs_expect)) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "Value for x-amz-checksum is invalid.");
            goto out_respond;
        }
        memcpy(pu->cs_expect, v, vlen);
        pu->cs_expect[vlen] = '\0';
        pu->cs.algo = (enum gw_csum_algo)i;
    }
    v = gw_req_header(req, "x-amz-trailer", &vlen);
    if (v) {
        enum gw_csum_algo a;
        while (vlen && (*v == ' ')) v++, vlen--;
        while (vlen && v[vlen - 1] == ' ') vlen--;
        a = gw_csum_lookup(v, vlen);
        if (a == GW_CSUM_NONE ||
            req->auth.payload < GW_PAYLOAD_STREAMING_SIGNED_TRAILER) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "The value specified in the x-amz-trailer header "
                          "is not supported");
            goto out_respond;
        }
        if (pu->cs.algo != GW_CSUM_NONE && pu->cs.algo != a) {
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                          "Expecting a single x-amz-checksum- header.");
            goto out_respond;
        }
        pu->cs.algo = a;
        pu->cs_trailer = 1;
    }
    v = gw_req_header(req, "x-amz-sdk-checksum-algorithm", &vlen);
    if (v) {
        /* Names the algorithm of the checksum header or trailer the SDK
         * sent; alone it promises a value that never comes (AWS). */
        enum gw_csum_algo a = gw_csum_lookup(v, vlen);
        if (a == GW_CSUM_NONE || strncasecmp(v, "x-amz-", 6) == 0) {
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                          "Value for x-amz-sdk-checksum-algorithm header is "
                          "invalid.");
            goto out_respond;
        }
        if (pu->cs.algo != a) {
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                          "x-amz-sdk-checksum-algorithm specified, but no "
                          "corresponding x-amz-checksum-* or x-amz-trailer "
                          "headers were found.");
            goto out_respond;
        }
    }
    if (gw_csum_init(&pu->cs, pu->cs.algo) != 0) goto out_oom;
    pu->md5 = EVP_MD_CTX_new();
    if (pu->md5 == NULL || !EVP_DigestInit_ex(pu->md5, EVP_md5(), NULL))
        goto out_oom;
    if (req->auth.payload == GW_PAYLOAD_SIGNED) {
        pu->sha256 = EVP_MD_CTX_new();
        if (pu->sha256 == NULL ||
            !EVP_DigestInit_ex(pu->sha256, EVP_sha256(), NULL))
            goto out_oom;
    }
    if (req->auth.payload >= GW_PAYLOAD_STREAMING_SIGNED) {
        pu->chunked = gw_chunked_new(req->auth.payload, &req->auth,
                                     chunked_data, req);
        if (pu->chunked == NULL) goto out_oom;
    }
    gw_req_post(req, put_prepare_work, put_prepare_done);
    return;
out_oom:
    gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
out_respond:
    gw_req_respond(req);
}

/* Copies decoded payload bytes into the current block. The caller fed at
 * most the room left in it (body_room), so they always fit. */
static int put_data(struct gw_req *req, const char *p, size_t n)
{
    struct gw_put *pu = &req->put;
    size_t bs = gw_put_block_cap(req);

    if (n == 0) return 0;
    if (pu->received + n > pu->expected) {
        gw_resp_error(&req->resp, GW_E_INCOMPLETE_BODY,
                      "More data than the declared length was sent.");
        req->body_error = 1;
        return -1;
    }
    if (pu->received + n > req->srv->conf->max_object_bytes) {
        gw_resp_error(&req->resp, GW_E_ENTITY_TOO_LARGE, NULL);
        req->body_error = 1;
        return -1;
    }
    cf_check(pu->cur != NULL && pu->cur_len + n <= bs);
    memcpy(pu->cur + pu->cur_len, p, n);
    pu->cur_len += n;
    pu->received += n;
    if (pu->cur_len == bs) {
        pu->ready[pu->nready] = pu->cur;
        pu->ready_len[pu->nready] = pu->cur_len;
        pu->nready++;
        pu->cur = NULL;
        pu->cur_len = 0;
    }
    return 0;
}

static int chunked_data(const char *p, size_t n, void *arg)
{
    return put_data(arg, p, n);
}

int gw_put_body(struct gw_req *req, const char *p, size_t n)
{
    struct gw_put *pu = &req->put;
    int rc = 0;

    if (pu->chunked) {
        size_t used = 0;
        enum gw_chunked_status st = gw_chunked_feed(pu->chunked, p, n, &used);
        if (req->body_error) return -1;
        switch (st) {
        case GW_CHUNKED_OK:
            break;
        case GW_CHUNKED_DONE:
            if (used != n) {
                gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                              "Data after the final aws-chunked chunk.");
                rc = -1;
            }
            break;
        case GW_CHUNKED_BAD_SIGNATURE:
            gw_resp_error(&req->resp, GW_E_SIGNATURE_MISMATCH, NULL);
            rc = -1;
            break;
        case GW_CHUNKED_TOO_LARGE:
        case GW_CHUNKED_MALFORMED:
        default:
            gw_resp_error(&req->resp, GW_E_INCOMPLETE_BODY,
                          "The aws-chunked body is malformed.");
            rc = -1;
            break;
        }
    } else {
        rc = put_data(req, p, n);
    }
    if (rc != 0) {
        req->body_error = 1;
        return -1;
    }
    gw_put_kick(req);
    return 0;
}

/* ---- PUT jobs ---- */

static void put_fail(struct gw_req *req, enum gw_err e, const char *msg)
{
    if (req->put.fail != GW_E_NONE) return;
    req->put.fail = e;
    snprintf(req->put.fail_msg, sizeof(req->put.fail_msg), "%s",
             msg ? msg : "");
}

static enum ec_status put_writer_open(struct gw_req *req)
{
    struct gw_put *pu = &req->put;
    struct ec_obj_info info;

    if (pu->writer) return EC_OK;
    info.bucket = req->bucket;
    info.key = req->key;
    info.key_len = req->key_len;
    info.version_id = pu->ver.data_id;
    info.mtime_ms = cf_now_ms();
    return ec_writer_new(req->srv->set, &info, &pu->writer);
}

static void put_write_work(struct gw_req *req)
{
    struct gw_put *pu = &req->put;
    enum ec_status st;

    if (pu->fail != GW_E_NONE) return;
    EVP_DigestUpdate(pu->md5, pu->job_buf, pu->job_len);
    if (pu->sha256) EVP_DigestUpdate(pu->sha256, pu->job_buf, pu->job_len);
    gw_csum_update(&pu->cs, pu->job_buf, pu->job_len);
    if (pu->sse) {
        /* sealed after hashing (ETag and checksums are of the plaintext);
         * the tag fills the block's last 16 bytes: one stripe */
        if (gw_sse_put_block(req, (unsigned char *)pu->job_buf,
                             pu->job_len) != 0) {
            put_fail(req, GW_E_INTERNAL, "encryption failed");
            return;
        }
        pu->job_len += GW_SSE_TAG;
    }
    st = put_writer_open(req);
    if (st == EC_OK) st = ec_writer_append(pu->writer, pu->job_buf,
                                           pu->job_len);
    if (st != EC_OK) put_fail(req, gw_err_from_ec(st), ec_strerror(st));
}

static void put_write_done(struct gw_req *req);
static void put_finish_work(struct gw_req *req);
static void put_finish_done(struct gw_req *req);

static void put_respond_failure(struct gw_req *req)
{
    struct gw_put *pu = &req->put;
    if (req->resp.err == GW_E_NONE)
        gw_resp_error(&req->resp, pu->fail,
                      pu->fail_msg[0] ? pu->fail_msg : NULL);
    req->close_after = !req->message_complete || req->close_after;
    gw_req_respond(req);
}

/* Starts the next job if none runs: a ready block, or the finish. */
void gw_put_kick(struct gw_req *req)
{
    struct gw_put *pu = &req->put;
    int i;

    if (req->job_busy || pu->finishing) return;
    if (pu->fail != GW_E_NONE || req->body_error) {
        if (req->body_error) return; /* the parser error path answers */
        put_respond_failure(req);
        return;
    }
    if (pu->nready > 0) {
        pu->job_buf = pu->ready[0];
        pu->job_len = pu->ready_len[0];
        for (i = 1; i < pu->nready; i++) {
            pu->ready[i - 1] = pu->ready[i];
            pu->ready_len[i - 1] = pu->ready_len[i];
        }
        pu->nready--;
        gw_req_post(req, put_write_work, put_write_done);
        return;
    }
    if (pu->body_done) {
        pu->finishing = 1;
        req->state = GW_RS_COMMIT;
        gw_req_post(req, put_finish_work, put_finish_done);
    }
}

static void put_write_done(struct gw_req *req)
{
    struct gw_put *pu = &req->put;

    cf_pool_put(req->srv->pool, pu->job_buf);
    pu->job_buf = NULL;
    pu->held--;
    if (req->body_error) {
        /* The parser failed while this job ran: answer now. */
        if (req->resp.err == GW_E_NONE)
            gw_resp_error(&req->resp, GW_E_INCOMPLETE_BODY, NULL);
        req->close_after = 1;
        gw_req_respond(req);
        return;
    }
    if (pu->fail != GW_E_NONE) {
        put_respond_failure(req); /* may free req */
        return;
    }
    gw_put_kick(req);
    /* A block came back: the body may flow again. */
    if (req->state == GW_RS_BODY) gw_req_body_resume(req);
}

void gw_put_body_end(struct gw_req *req)
{
    struct gw_put *pu = &req->put;

    if (pu->chunked && pu->fail == GW_E_NONE) {
        /* The decoder must have seen the final chunk (and trailers). */
        size_t used = 0;
        if (gw_chunked_feed(pu->chunked, "", 0, &used) != GW_CHUNKED_DONE)
            put_fail(req, GW_E_INCOMPLETE_BODY,
                     "The aws-chunked body ended before its final chunk.");
    }
    if (pu->expected != UINT64_MAX && pu->received != pu->expected)
        put_fail(req, GW_E_INCOMPLETE_BODY, NULL);
    if (pu->cur && pu->cur_len > 0) {
        pu->ready[pu->nready] = pu->cur;
        pu->ready_len[pu->nready] = pu->cur_len;
        pu->nready++;
    } else if (pu->cur) {
        cf_pool_put(req->srv->pool, pu->cur);
        pu->held--;
    }
    pu->cur = NULL;
    pu->cur_len = 0;
    pu->body_done = 1;
    gw_put_kick(req);
}

/* Conditional writes, shared with CompleteMultipartUpload (gw_int.h). */
int gw_write_cond_check(struct meta_version *cur, void *arg)
{
    struct gw_write_cond *c = arg;
    size_t n;
    const char *h = gw_req_header(c->req, "if-none-match", &n);
    if (h && cur) {
        c->err = GW_E_PRECONDITION_FAILED;
        return 1;
    }
    h = gw_req_header(c->req, "if-match", &n);
    if (h && cur == NULL) {
        c->err = GW_E_NO_SUCH_KEY;
        return 1;
    }
    if (h && !gw_etag_matches(h, n, cur->etag)) {
        c->err = GW_E_PRECONDITION_FAILED;
        return 1;
    }
    return 0;
}

static void put_finish_work(struct gw_req *req)
{
    struct gw_put *pu = &req->put;
    struct meta_version replaced;
    unsigned char md5[16], sha[32];
    unsigned int n;
    enum ec_status est;
    enum meta_status mst;
    uint64_t size = 0;
    char got[64];

    memset(&replaced, 0, sizeof(replaced));
    if (pu->fail != GW_E_NONE) goto out_abort;
    EVP_DigestFinal_ex(pu->md5, md5, &n);
    cf_hex_encode(md5, 16, pu->ver.etag);
    if (pu->has_content_md5 &&
        CRYPTO_memcmp(md5, pu->content_md5, 16) != 0) {
        put_fail(req, GW_E_BAD_DIGEST, NULL);
        goto out_abort;
    }
    if (pu->sha256) {
        char hex[65];
        EVP_DigestFinal_ex(pu->sha256, sha, &n);
        cf_hex_encode(sha, 32, hex);
        if (req->auth.payload == GW_PAYLOAD_SIGNED &&
            strcasecmp(hex, req->auth.payload_sha256) != 0) {
            put_fail(req, GW_E_CONTENT_SHA256_MISMATCH, NULL);
            goto out_abort;
        }
        memcpy(pu->ver.sha256, hex, sizeof(pu->ver.sha256));
    }
    if (pu->cs.algo != GW_CSUM_NONE) {
        struct cf_str want;
        char msg[128];
        gw_csum_final(&pu->cs, got);
        if (pu->cs_trailer) {
            want = gw_chunked_trailer(pu->chunked,
                                      gw_csum_header(pu->cs.algo));
            if (want.len == 0) {
                put_fail(req, GW_E_INVALID_REQUEST,
                         "The trailing checksum header was not sent.");
                goto out_abort;
            }
        } else {
            want.p = pu->cs_expect;
            want.len = strlen(pu->cs_expect);
        }
        /* want is empty only for a part whose checksum is computed here
         * (its upload names the algorithm; the client sent none). */
        if (want.len == 0 && pu->mpu_csum == GW_CSUM_NONE) {
            put_fail(req, GW_E_INTERNAL, NULL);
            goto out_abort;
        }
        if (want.len != 0 && (want.len != strlen(got) ||
                              memcmp(want.p, got, want.len) != 0)) {
            snprintf(msg, sizeof(msg), "The %s you specified did not match "
                     "the calculated checksum.", gw_csum_name(pu->cs.algo));
            put_fail(req, GW_E_BAD_DIGEST, msg);
            goto out_abort;
        }
        if (req->op == GW_OP_PUT_OBJECT &&
            gw_add_stored_header(&pu->ver, gw_csum_header(pu->cs.algo), got,
                                 strlen(got)) != 0) {
            put_fail(req, GW_E_INTERNAL, NULL);
            goto out_abort;
        }
    }
    est = put_writer_open(req);
    if (est == EC_OK && req->op != GW_OP_UPLOAD_PART) {
        /* The version's identity is fixed before its shards are published,
         * so their headers can carry its record (coffer meta rebuild). */
        gw_new_version_id(req, pu->ver.version_id,
                          sizeof(pu->ver.version_id));
        pu->ver.size = pu->received;
        pu->ver.mtime_ms = cf_now_ms();
        pu->ver.ec_data = ec_set_data_shards(req->srv->set);
        pu->ver.ec_parity = ec_set_parity_shards(req->srv->set);
        pu->ver.stripe_size = (uint32_t)ec_set_stripe_size(req->srv->set);
        gw_put_record(req, pu->writer, &pu->ver);
    }
    if (est == EC_OK) est = ec_writer_finish(pu->writer, &size);
    if (est != EC_OK) {
        put_fail(req, gw_err_from_ec(est), ec_strerror(est));
        goto out_abort;
    }
    /* a small version was packed: the catalog keeps its locator */
    snprintf(pu->ver.data_id, sizeof(pu->ver.data_id), "%s",
             ec_writer_data_id(pu->writer));
    if (ec_writer_missing(pu->writer) && req->srv->on_degraded)
        /* written with fewer shards than disks: heal once committed */
        req->srv->on_degraded(pu->ver.data_id, size,
                              req->srv->on_degraded_arg);
    ec_writer_free(pu->writer);
    pu->writer = NULL;
    if (req->op == GW_OP_UPLOAD_PART) {
        /* The part's data is durable; record it in the upload. */
        struct meta_part part, old;
        memset(&part, 0, sizeof(part));
        part.number = part_number(req);
        part.size = pu->sse ? pu->received : size;
        part.enc = pu->sse;
        part.mtime_ms = cf_now_ms();
        memcpy(part.etag, pu->ver.etag, 33);
        memcpy(part.data_id, pu->ver.data_id, sizeof(part.data_id));
        if (pu->mpu_csum != GW_CSUM_NONE) {
            part.csum_algo = (int)pu->mpu_csum;
            snprintf(part.csum, sizeof(part.csum), "%s", got);
        }
        mst = meta_upload_put_part(req->srv->db, req->bucket, req->key,
                                   req->key_len,
                                   gw_req_qparam(req, "uploadId")->value,
                                   &part, &old);
        if (mst != META_OK) {
            ec_remove(req->srv->set, part.data_id);
            put_fail(req, mst == META_ENOTFOUND ? GW_E_NO_SUCH_UPLOAD
                                                : gw_err_from_meta(mst),
                     NULL);
            goto out;
        }
        if (old.data_id[0]) ec_remove(req->srv->set, old.data_id);
        gw_resp_header(&req->resp, "ETag", "\"%s\"", pu->ver.etag);
        if (pu->cs.algo != GW_CSUM_NONE)
            gw_resp_header(&req->resp, gw_csum_header(pu->cs.algo), "%s", got);
        gw_sse_resp_headers(req, &pu->ver.sse);
        goto out;
    }
    /* The shards are durable under their final names; now the version
     * comes into existence with one synced catalog batch. */
    pu->ver.size = pu->sse ? pu->received : size; /* plaintext bytes */
    {
        /* Written under lock: the audit entry commits with the version.
         * Conditional writes are judged under the same key lock. */
        struct gw_write_cond pc = { req, GW_E_NONE };
        char *ev = NULL;
        int cond = gw_req_header(req, "if-none-match", NULL) ||
                   gw_req_header(req, "if-match", NULL);
        if (pu->ver.lock_mode != OL_MODE_NONE || pu->ver.legal_hold) {
            ev = gw_audit_event(req, "put-locked", req->key, req->key_len,
                                &pu->ver, NULL);
            if (ev == NULL) {
                put_fail(req, GW_E_INTERNAL, NULL);
                goto out_abort_published;
            }
        }
        mst = meta_object_put_if(req->srv->db, req->bucket, &pu->ver,
                                 &replaced, cond ? gw_write_cond_check : NULL, &pc,
                                 ol_clock_now(), ev);
        free(ev);
        if (mst == META_EDENIED) {
            put_fail(req, pc.err, NULL);
            goto out_abort_published;
        }
    }
    if (mst != META_OK) {
        ec_remove(req->srv->set, pu->ver.data_id);
        put_fail(req, mst == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                            : gw_err_from_meta(mst),
                 NULL);
        goto out;
    }
    if (replaced.version_id[0]) gw_remove_data(req->srv, &replaced);
    gw_resp_header(&req->resp, "ETag", "\"%s\"", pu->ver.etag);
    gw_sse_resp_headers(req, &pu->ver.sse);
    if (req->versioning != META_VERSIONING_OFF)
        gw_resp_header(&req->resp, "x-amz-version-id", "%s",
                       pu->ver.version_id);
    if (pu->cs.algo != GW_CSUM_NONE) {
        gw_resp_header(&req->resp, gw_csum_header(pu->cs.algo), "%s", got);
        /* AWS: a PutObject checksum is always FULL_OBJECT */
        gw_resp_header(&req->resp, "x-amz-checksum-type", "FULL_OBJECT");
    }
    goto out;
out_abort_published:
    ec_remove(req->srv->set, pu->ver.data_id);
    goto out;
out_abort:
    ec_writer_free(pu->writer);
    pu->writer = NULL;
out:
    meta_version_cleanup(&replaced);
}

static void put_finish_done(struct gw_req *req)
{
    if (req->put.fail != GW_E_NONE) {
        put_respond_failure(req);
        return;
    }
    gw_req_respond(req);
}

/* ---- GetObject / HeadObject ---- */

static const char *find_stored(const struct meta_version *v,
                               const char *name)
{
    size_t i;
    for (i = 0; i < v->nheaders; i++)
        if (strcmp(v->headers[i].name, name) == 0) return v->headers[i].value;
    return NULL;
}

/* Does an If-Match / If-None-Match list match the ETag? */
int gw_etag_matches(const char *hdr, size_t n, const char *etag)
{
    size_t i = 0, el = strlen(etag);
    while (i < n) {
        size_t s, e;
        while (i < n && (hdr[i] == ' ' || hdr[i] == ',')) i++;
        s = i;
        while (i < n && hdr[i] != ',') i++;
        e = i;
        while (e > s && hdr[e - 1] == ' ') e--;
        if (e - s == 1 && hdr[s] == '*') return 1;
        if (e - s >= 2 && hdr[s] == 'W' && hdr[s + 1] == '/') s += 2;
        if (e - s >= 2 && hdr[s] == '"' && hdr[e - 1] == '"') s++, e--;
        if (e - s == el && memcmp(hdr + s, etag, el) == 0) return 1;
    }
    return 0;
}

/* Parses a single "bytes=" range against size. Returns 1 for a range,
 * 0 to serve the whole object (absent, unparseable or multiple ranges),
 * -1 for unsatisfiable. */
static int parse_range(const char *h, size_t n, uint64_t size, uint64_t *off,
                       uint64_t *end)
{
    char buf[128], *p, *dash, *e1;
    unsigned long long a, b;

    if (n >= sizeof(buf) || n < 7 || strncmp(h, "bytes=", 6) != 0) return 0;
    memcpy(buf, h + 6, n - 6);
    buf[n - 6] = '\0';
    if (strchr(buf, ',')) return 0;
    p = buf;
    while (*p == ' ') p++;
    dash = strchr(p, '-');
    if (dash == NULL) return 0;
    if (dash == p) { /* suffix: last N bytes */
        b = strtoull(dash + 1, &e1, 10);
        if (*e1 != '\0' || dash[1] == '\0') return 0;
        if (b == 0) return -1;
        if (size == 0) return -1;
        *off = b >= size ? 0 : size - b;
        *end = size;
        return 1;
    }
    *dash = '\0';
    a = strtoull(p, &e1, 10);
    if (*e1 != '\0') return 0;
    if (dash[1] == '\0') {
        b = UINT64_MAX;
    } else {
        b = strtoull(dash + 1, &e1, 10);
        if (*e1 != '\0') return 0;
        if (b < a) return 0; /* invalid: ignored, as RFC 7233 says */
    }
    if (a >= size) return -1;
    *off = a;
    *end = (b == UINT64_MAX || b >= size) ? size : b + 1;
    return 1;
}

/* Makes g->reader the reader of the part holding g->off (the whole object
 * for single-part versions). Runs on a worker. */
static enum ec_status get_open_for(struct gw_req *req)
{
    struct gw_get *g = &req->get;
    size_t i;
    uint64_t start = 0;

    if (g->ver.nparts == 0) {
        if (g->reader) return EC_OK;
        return ec_reader_open_data(req->srv->set, g->ver.data_id,
                                   meta_data_size(g->ver.size,
                                                  g->ver.stripe_size,
                                                  g->sse),
                                   &g->reader);
    }
    for (i = 0; i < g->ver.nparts; i++) {
        if (g->off < start + g->ver.parts[i].size) break;
        start += g->ver.parts[i].size;
    }
    if (i == g->ver.nparts) return EC_EINVAL;
    if (g->reader && g->part == i) return EC_OK;
    ec_reader_free(g->reader);
    g->reader = NULL;
    g->part = i;
    g->part_start = start;
    return ec_reader_open_data(req->srv->set, g->ver.parts[i].data_id,
                               meta_data_size(g->ver.parts[i].size,
                                              g->ver.stripe_size, g->sse),
                               &g->reader);
}

static void get_prepare_work(struct gw_req *req)
{
    struct gw_get *g = &req->get;
    struct meta_bucket b;
    const struct gw_qparam *vid = gw_req_qparam(req, "versionId");
    enum meta_status st;
    const char *h, *ct;
    size_t hl, i;
    char date[CF_ISO8601_LEN];
    int64_t since, mtime_s;
    int r, cmode, whole_cs;
    uint32_t pn_given = 0; /* partNumber asked for and valid */
    static const char *const overrides[][2] = {
        { "response-content-type", "Content-Type" },
        { "response-content-language", "Content-Language" },
        { "response-expires", "Expires" },
        { "response-cache-control", "Cache-Control" },
        { "response-content-disposition", "Content-Disposition" },
        { "response-content-encoding", "Content-Encoding" },
    };

    if (gw_bucket_check(req, &b) != 0) return;
    if (vid && (vid->value_len == 0 || vid->value_len > META_VERSION_ID_MAX)) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT, "Invalid version id "
                      "specified");
        return;
    }
    st = meta_object_get(req->srv->db, req->bucket, req->key, req->key_len,
                         vid ? vid->value : NULL, &g->ver);
    if (req->acl_pending && (st != META_OK || g->ver.delete_marker ||
                             !gw_acl_public(&g->ver))) {
        /* allowed only by a public-read version: anything else, a missing
         * key included, is AccessDenied (no listing permission) */
        gw_resp_error(&req->resp, GW_E_ACCESS_DENIED, NULL);
        return;
    }
    if (st == META_ENOTFOUND) {
        gw_resp_error(&req->resp, vid ? GW_E_NO_SUCH_VERSION
                                      : GW_E_NO_SUCH_KEY, NULL);
        return;
    }
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        return;
    }
    if (req->versioning != META_VERSIONING_OFF || vid)
        gw_resp_header(&req->resp, "x-amz-version-id", "%s",
                       g->ver.version_id);
    if (!g->ver.delete_marker) gw_lock_headers(req, &g->ver);
    if (gw_tag_count(&g->ver))
        gw_resp_header(&req->resp, "x-amz-tagging-count", "%zu",
                       gw_tag_count(&g->ver));
    if (g->ver.delete_marker) {
        gw_resp_header(&req->resp, "x-amz-delete-marker", "true");
        if (vid) gw_resp_header(&req->resp, "Allow", "DELETE");
        gw_resp_error(&req->resp, vid ? GW_E_METHOD_NOT_ALLOWED
                                      : GW_E_NO_SUCH_KEY, NULL);
        return;
    }
    if (g->ver.sse.alg != META_SSE_NONE) {
        /* blocks are one stripe of the pool's size with their tags */
        if (g->ver.stripe_size != cf_pool_block_size(req->srv->pool)) {
            cf_log(CF_LOG_ERR, "gw: %s/%s version %s: encrypted with "
                   "%u-byte blocks, the server now uses %zu",
                   req->bucket, req->key, g->ver.version_id,
                   g->ver.stripe_size, cf_pool_block_size(req->srv->pool));
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            return;
        }
    }
    /* SSE-C objects need their key (400 without, 403 when wrong); SSE-C
     * headers on other objects are refused */
    r = gw_sse_data_key(req, &g->ver.sse, 0, g->sse_dek);
    if (r < 0) return;
    if (r > 0) {
        g->sse = 1;
        gw_sse_resp_headers(req, &g->ver.sse);
    }
    mtime_s = g->ver.mtime_ms / 1000;
    cf_fmt_http_date(mtime_s, date);

    /* Preconditions, in the order RFC 7232 §6 and S3 evaluate them. */
    h = gw_req_header(req, "if-match", &hl);
    if (h && !gw_etag_matches(h, hl, g->ver.etag)) {
        gw_resp_error(&req->resp, GW_E_PRECONDITION_FAILED, NULL);
        return;
    }
    if (h == NULL && (h = gw_req_header(req, "if-unmodified-since", &hl)) &&
        cf_parse_http_date((struct cf_str){ h, hl }, &since) == 0 &&
        mtime_s > since) {
        gw_resp_error(&req->resp, GW_E_PRECONDITION_FAILED, NULL);
        return;
    }
    h = gw_req_header(req, "if-none-match", &hl);
    if ((h && gw_etag_matches(h, hl, g->ver.etag)) ||
        (h == NULL && (h = gw_req_header(req, "if-modified-since", &hl)) &&
         cf_parse_http_date((struct cf_str){ h, hl }, &since) == 0 &&
         mtime_s <= since)) {
        req->resp.status = 304;
        req->resp.no_body = 1;
        gw_resp_header(&req->resp, "ETag", "\"%s\"", g->ver.etag);
        gw_resp_header(&req->resp, "Last-Modified", "%s", date);
        return;
    }

    g->off = 0;
    g->end = g->ver.size;
    h = gw_req_header(req, "range", &hl);
    r = h ? parse_range(h, hl, g->ver.size, &g->off, &g->end) : 0;
    if (gw_req_qparam(req, "partNumber")) {
        uint32_t pn = part_number(req);
        size_t np = g->ver.nparts ? g->ver.nparts : 1;
        if (pn == 0) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "Part number must be an integer between 1 and "
                          "10000, inclusive");
            return;
        }
        if (h) {
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                          "Cannot specify both Range header and partNumber "
                          "query parameter");
            return;
        }
        if (pn > np) {
            gw_resp_error(&req->resp, GW_E_INVALID_PART_NUMBER, NULL);
            return;
        }
        if (g->ver.nparts) {
            for (i = 0; i + 1 < pn; i++) g->off += g->ver.parts[i].size;
            g->end = g->off + g->ver.parts[pn - 1].size;
        }
        gw_resp_header(&req->resp, "x-amz-mp-parts-count", "%zu", np);
        pn_given = pn;
        r = 1;
    }
    if (r < 0) {
        gw_resp_header(&req->resp, "Content-Range", "bytes */%llu",
                       (unsigned long long)g->ver.size);
        gw_resp_error(&req->resp, GW_E_INVALID_RANGE, NULL);
        return;
    }
    if (r > 0) {
        req->resp.status = 206;
        gw_resp_header(&req->resp, "Content-Range", "bytes %llu-%llu/%llu",
                       (unsigned long long)g->off,
                       (unsigned long long)g->end - 1,
                       (unsigned long long)g->ver.size);
    }
    gw_resp_header(&req->resp, "Last-Modified", "%s", date);
    gw_resp_header(&req->resp, "ETag", "\"%s\"", g->ver.etag);
    gw_resp_header(&req->resp, "Accept-Ranges", "bytes");
    ct = find_stored(&g->ver, "content-type");
    h = gw_req_header(req, "x-amz-checksum-mode", &hl);
    cmode = h && hl == 7 && strncasecmp(h, "ENABLED", 7) == 0;
    /* The stored checksum covers the whole object: sent only when asked
     * for and when the whole object is sent (not for ranges, as AWS); a
     * part of a multipart object gets its own part's checksum. A
     * single-part object's checksum without a stored type is FULL_OBJECT
     * (AWS: PutObject checksums are always FULL_OBJECT). */
    whole_cs = cmode && (r == 0 || (pn_given && g->ver.nparts == 0));
    if (cmode && pn_given && g->ver.nparts) {
        const struct meta_part *mp = &g->ver.parts[pn_given - 1];
        if (mp->csum_algo && mp->csum[0])
            gw_resp_header(&req->resp,
                           gw_csum_header((enum gw_csum_algo)mp->csum_algo),
                           "%s", mp->csum);
    }
    for (i = 0; i < g->ver.nheaders; i++) {
        const struct meta_kv *kv = &g->ver.headers[i];
        size_t k;
        int overridden = 0;
        if (strcmp(kv->name, GW_TAGS_HEADER) == 0 ||
            strcmp(kv->name, GW_ACL_HEADER) == 0)
            continue;
        if (strncmp(kv->name, "x-amz-checksum-", 15) == 0) {
            if (!whole_cs) continue;
            if (strcmp(kv->name, "x-amz-checksum-type") != 0 &&
                find_stored(&g->ver, "x-amz-checksum-type") == NULL)
                gw_resp_header(&req->resp, "x-amz-checksum-type",
                               "FULL_OBJECT");
        }
        for (k = 0; k < sizeof(overrides) / sizeof(overrides[0]); k++)
            if (strcasecmp(kv->name, overrides[k][1]) == 0 &&
                gw_req_qparam(req, overrides[k][0]))
                overridden = 1;
        if (!overridden) gw_resp_header(&req->resp, kv->name, "%s", kv->value);
    }
    if (ct == NULL && !gw_req_qparam(req, "response-content-type"))
        gw_resp_header(&req->resp, "Content-Type", "binary/octet-stream");
    for (i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++) {
        const struct gw_qparam *q = gw_req_qparam(req, overrides[i][0]);
        if (q && memchr(q->value, '\r', q->value_len) == NULL &&
            memchr(q->value, '\n', q->value_len) == NULL)
            gw_resp_header(&req->resp, overrides[i][1], "%s", q->value);
    }
    req->resp.streamed = 1;
    req->resp.stream_len = g->end - g->off;
    if (req->method == HTTP_GET && g->end > g->off) {
        enum ec_status est = get_open_for(req);
        if (est != EC_OK) {
            gw_resp_error(&req->resp, gw_err_from_ec(est), ec_strerror(est));
            return;
        }
    }
}

static void get_prepare_done(struct gw_req *req)
{
    if (req->resp.err != GW_E_NONE || req->resp.status == 304 ||
        req->method == HTTP_HEAD) {
        if (req->method == HTTP_HEAD) req->resp.no_body = 1;
        gw_req_respond(req);
        return;
    }
    gw_req_respond(req); /* the head; data follows */
    if (req->state == GW_RS_RESPOND) gw_get_next(req);
}

/* Reads the sealed block holding g->off into g->buf, opens it, and moves
 * the g->buf_len requested bytes to the front. A block that fails its tag
 * is never served. */
static enum ec_status get_read_sealed(struct gw_req *req, int *degraded)
{
    struct gw_get *g = &req->get;
    size_t ss = g->ver.stripe_size, pb = ss - GW_SSE_TAG, clen;
    uint64_t in_part = g->off - g->part_start, idx = in_part / pb, stored;
    uint64_t plain = g->ver.nparts ? g->ver.parts[g->part].size : g->ver.size;
    const char *id = g->ver.nparts ? g->ver.parts[g->part].data_id
                                   : g->ver.data_id;
    unsigned char bkey[GW_SSE_KEY];
    enum ec_status st;
    int rc;

    stored = meta_data_size(plain, (uint32_t)ss, 1);
    clen = stored - idx * ss < ss ? (size_t)(stored - idx * ss) : ss;
    st = ec_reader_read(g->reader, idx * ss, g->buf, clen, degraded);
    if (st != EC_OK) return st;
    rc = gw_sse_block_key(g->sse_dek, id, bkey);
    if (rc == 0)
        rc = gw_sse_open(bkey, g->ver.sse.salt, id, idx,
                         (unsigned char *)g->buf, clen);
    OPENSSL_cleanse(bkey, sizeof(bkey));
    if (rc != 0) {
        cf_log(CF_LOG_ERR, "gw: %s/%s version %s: block %llu of %s fails "
               "its authentication tag (not served)", req->bucket, req->key,
               g->ver.version_id, (unsigned long long)idx, id);
        return EC_ECORRUPT;
    }
    if (in_part % pb)
        memmove(g->buf, g->buf + in_part % pb, g->buf_len);
    return EC_OK;
}

static void get_read_work(struct gw_req *req)
{
    struct gw_get *g = &req->get;
    int degraded = 0;
    enum ec_status st = get_open_for(req);
    if (st == EC_OK && g->sse)
        st = get_read_sealed(req, &degraded);
    else if (st == EC_OK)
        st = ec_reader_read(g->reader, g->off - g->part_start, g->buf,
                            g->buf_len, &degraded);
    if (st != EC_OK) {
        cf_log(CF_LOG_ERR, "gw: read %s/%s version %s at %llu: %s",
               req->bucket, req->key, g->ver.version_id,
               (unsigned long long)g->off, ec_strerror(st));
        g->buf_len = 0;
    } else if (degraded && !g->degraded) {
        g->degraded = 1; /* once per request, not per stripe */
        cf_log(CF_LOG_WARN, "gw: degraded read of version %s (needs heal)",
               g->ver.version_id);
        if (req->srv->on_degraded) {
            if (g->ver.nparts)
                req->srv->on_degraded(g->ver.parts[g->part].data_id,
                                      meta_data_size(
                                          g->ver.parts[g->part].size,
                                          g->ver.stripe_size, g->sse),
                                      req->srv->on_degraded_arg);
            else
                req->srv->on_degraded(g->ver.data_id[0] ? g->ver.data_id
                                                        : g->ver.version_id,
                                      meta_data_size(g->ver.size,
                                                     g->ver.stripe_size,
                                                     g->sse),
                                      req->srv->on_degraded_arg);
        }
    }
}

static void get_read_done(struct gw_req *req)
{
    struct gw_get *g = &req->get;
    struct bufferevent *bev = gw_req_bev(req);

    if (g->buf_len == 0 || bev == NULL) {
        /* Headers are gone already: all we can do is cut the connection so
         * the client sees a short body, never wrong bytes. */
        get_buf_drop(req);
        req->close_after = 1;
        if (bev) bufferevent_disable(bev, EV_READ);
        gw_req_stream_end(req);
        return;
    }
    /* block_release gives back ra_charge(buf_len) == buf_charge */
    evbuffer_add_reference(bufferevent_get_output(bev), g->buf, g->buf_len,
                           block_release, req->srv);
    g->buf = NULL;
    g->buf_charge = 0;
    g->off += g->buf_len;
    req->bytes_out += g->buf_len;
    gw_get_next(req);
}

static void get_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *conn = arg;
    if (conn->req) gw_get_next(conn->req);
}

void gw_get_next(struct gw_req *req)
{
    struct gw_get *g = &req->get;
    struct bufferevent *bev = gw_req_bev(req);
    /* plaintext bytes per stripe: sealed blocks carry a tag */
    size_t bs = cf_pool_block_size(req->srv->pool) -
                (req->get.sse ? GW_SSE_TAG : 0);
    uint64_t n;

    if (req->job_busy || bev == NULL || req->state != GW_RS_RESPOND) return;
    if (g->off >= g->end) {
        if (!g->eof) {
            g->eof = 1;
            gw_req_stream_end(req);
        }
        return;
    }
    /* Backpressure: wait for the write callback below the low mark. */
    if (evbuffer_get_length(bufferevent_get_output(bev)) >
        req->srv->conf->buffer_size)
        return;
    /* Stripe-aligned reads within one part: the reader's fast path. */
    {
        uint64_t in_part = g->off, part_end = g->end;
        if (g->ver.nparts) {
            size_t i;
            uint64_t start = 0;
            for (i = 0; i < g->ver.nparts; i++) {
                if (g->off < start + g->ver.parts[i].size) break;
                start += g->ver.parts[i].size;
            }
            in_part = g->off - start;
            if (i < g->ver.nparts && start + g->ver.parts[i].size < part_end)
                part_end = start + g->ver.parts[i].size;
        }
        n = bs - in_part % bs;
        if (n > part_end - g->off) n = part_end - g->off;
    }
    /* Server-wide bound, then a block: when either is out, wait for blocks
     * to come back (from any loop, hence the timer). */
    if (!ra_take(req->srv, ra_charge((size_t)n))) {
        gw_conn_timer(req->conn, get_retry_cb, 5);
        return;
    }
    g->buf = cf_pool_get(req->srv->pool);
    if (g->buf == NULL) {
        ra_give(req->srv, ra_charge((size_t)n));
        gw_conn_timer(req->conn, get_retry_cb, 5); /* pool exhausted */
        return;
    }
    g->buf_charge = ra_charge((size_t)n);
    g->buf_len = (size_t)n;
    gw_req_post(req, get_read_work, get_read_done);
}

void gw_h_get_object(struct gw_req *req)
{
    gw_req_post(req, get_prepare_work, get_prepare_done);
}

/* ---- DeleteObject ---- */

/* Deletes one key (or one version of it) as the bucket's versioning
 * state says: a version id removes that version; otherwise an unversioned
 * bucket removes the object, an enabled one adds a delete marker, a
 * suspended one adds a "null" delete marker replacing the null version.
 * Runs on a worker after gw_bucket_check(). Fills *res. */
struct del_result {
    int delete_marker;      /* the removed or created version is a marker */
    int marker_created;
    char version_id[META_VERSION_ID_MAX + 1];
};

static enum meta_status delete_one(struct gw_req *req, const char *key,
                                   size_t key_len, const char *vid,
                                   struct del_result *res)
{
    struct meta_version removed;
    enum meta_status st;

    memset(res, 0, sizeof(*res));
    memset(&removed, 0, sizeof(removed));
    if (vid == NULL && req->versioning != META_VERSIONING_OFF) {
        struct meta_version dm;
        unsigned char rnd[16];
        memset(&dm, 0, sizeof(dm));
        gw_new_version_id(req, dm.version_id, sizeof(dm.version_id));
        cf_random_bytes(rnd, sizeof(rnd));
        cf_hex_encode(rnd, sizeof(rnd), dm.data_id);
        dm.key = (char *)key;
        dm.key_len = key_len;
        dm.delete_marker = 1;
        dm.mtime_ms = cf_now_ms();
        st = meta_object_put(req->srv->db, req->bucket, &dm, &removed);
        if (st == META_OK) {
            if (removed.version_id[0]) gw_remove_data(req->srv, &removed);
            res->delete_marker = res->marker_created = 1;
            memcpy(res->version_id, dm.version_id, sizeof(res->version_id));
        }
        meta_version_cleanup(&removed);
        return st;
    }
    /* Removing a version permanently is objlock's decision, taken under
     * the catalog's key lock. */
    req->lock_denied = GW_E_NONE;
    req->lock_bypassed = 0;
    st = meta_object_delete_if(req->srv->db, req->bucket, key, key_len, vid,
                               gw_lock_check_delete, req, &removed);
    if (st == META_OK && req->lock_bypassed) {
        char *ev = gw_audit_event(req, "delete-bypass", key, key_len,
                                  &removed, "governance bypass");
        if (ev) {
            meta_audit_log(req->srv->db, ol_clock_now(), ev);
            free(ev);
        }
    }
    if (st == META_OK) {
        gw_remove_data(req->srv, &removed);
        res->delete_marker = removed.delete_marker;
        if (vid) memcpy(res->version_id, removed.version_id,
                        sizeof(res->version_id));
    }
    meta_version_cleanup(&removed);
    return st == META_ENOTFOUND ? META_OK : st;
}

static void delete_work(struct gw_req *req)
{
    struct meta_bucket b;
    const struct gw_qparam *vid = gw_req_qparam(req, "versionId");
    struct del_result r;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    if (gw_bypass_header(req) && !b.lock_enabled) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "x-amz-bypass-governance-retention is only for buckets "
                      "with Object Lock");
        return;
    }
    st = delete_one(req, req->key, req->key_len, vid ? vid->value : NULL, &r);
    if (st == META_EDENIED) {
        gw_resp_error(&req->resp, req->lock_denied ? req->lock_denied
                                                   : GW_E_ACCESS_DENIED,
                      NULL);
        return;
    }
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        return;
    }
    if (r.delete_marker)
        gw_resp_header(&req->resp, "x-amz-delete-marker", "true");
    if (r.version_id[0])
        gw_resp_header(&req->resp, "x-amz-version-id", "%s", r.version_id);
    req->resp.status = 204;
}

void gw_h_delete_object(struct gw_req *req)
{
    gw_req_post(req, delete_work, gw_done_respond);
}

/* ---- DeleteObjects ---- */

/* The integrity header an XML body must carry where AWS requires one
 * (DeleteObjects, PutBucketLifecycleConfiguration): Content-MD5, or any
 * x-amz-checksum-* header, verified against the body. Non-zero with the
 * error set: InvalidDigest, BadDigest, or InvalidRequest when none. */
int gw_xml_body_integrity(struct gw_req *req)
{
    const char *h;
    size_t hl;

    h = gw_req_header(req, "content-md5", &hl);
    if (h) {
        unsigned char want[16], got[16];
        unsigned int n;
        if (cf_base64_decode(h, hl, want, sizeof(want)) != 16) {
            gw_resp_error(&req->resp, GW_E_INVALID_DIGEST, NULL);
            return -1;
        }
        EVP_Digest(req->xml.p ? req->xml.p : "", req->xml.len, got, &n,
                   EVP_md5(), NULL);
        if (CRYPTO_memcmp(want, got, 16) != 0) {
            gw_resp_error(&req->resp, GW_E_BAD_DIGEST, NULL);
            return -1;
        }
    } else {
        int k, found = 0;
        for (k = 1; k <= GW_CSUM_CRC64NVME; k++) {
            struct gw_csum cs;
            char got[GW_CSUM_B64_MAX];
            h = gw_req_header(req, gw_csum_header((enum gw_csum_algo)k),
                              &hl);
            if (h == NULL) continue;
            found = 1;
            if (gw_csum_init(&cs, (enum gw_csum_algo)k) != 0) {
                gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
                return -1;
            }
            gw_csum_update(&cs, req->xml.p ? req->xml.p : "", req->xml.len);
            gw_csum_final(&cs, got);
            gw_csum_cleanup(&cs);
            if (hl != strlen(got) || memcmp(h, got, hl) != 0) {
                gw_resp_error(&req->resp, GW_E_BAD_DIGEST, NULL);
                return -1;
            }
        }
        if (!found) {
            gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                          "Missing required header for this request: "
                          "Content-MD5");
            return -1;
        }
    }
    return 0;
}

static void delete_objects_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct gw_xml_delete d;
    struct gw_xbuf *x = &req->resp.body;
    size_t i;

    memset(&d, 0, sizeof(d));
    if (gw_bucket_check(req, &b) != 0) return;
    /* AWS requires an integrity header on DeleteObjects. */
    if (gw_xml_body_integrity(req) != 0) return;
    if (gw_xml_parse_delete(req->xml.p ? req->xml.p : "", req->xml.len, &d) !=
        GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    gw_xbuf_str(x, GW_XML_DECL "<DeleteResult xmlns=\"http://s3.amazonaws."
                   "com/doc/2006-03-01/\">");
    for (i = 0; i < d.nobjs; i++) {
        struct gw_xml_del_obj *o = &d.objs[i];
        struct meta_version removed;
        enum meta_status st;

        struct del_result dr;
        memset(&removed, 0, sizeof(removed));
        if (o->key_len > META_KEY_MAX) {
            gw_xbuf_str(x, "<Error>");
            gw_xbuf_elem(x, "Key", o->key, o->key_len);
            gw_xbuf_str(x, "<Code>KeyTooLongError</Code><Message>Your key is "
                           "too long</Message></Error>");
            continue;
        }
        {
            /* AWS authorizes each key of a DeleteObjects on its own */
            char *k = strndup(o->key, o->key_len);
            int ok = k && gw_may_delete_key(req, &b, k, o->version_id != NULL);
            free(k);
            st = ok ? delete_one(req, o->key, o->key_len, o->version_id, &dr)
                    : META_EDENIED;
        }
        if (st == META_OK) {
            if (d.quiet) continue;
            gw_xbuf_str(x, "<Deleted>");
            gw_xbuf_elem(x, "Key", o->key, o->key_len);
            if (o->version_id)
                gw_xbuf_elem(x, "VersionId", o->version_id,
                             strlen(o->version_id));
            if (dr.delete_marker) {
                gw_xbuf_str(x, "<DeleteMarker>true</DeleteMarker>");
                if (dr.marker_created)
                    gw_xbuf_elem(x, "DeleteMarkerVersionId", dr.version_id,
                                 strlen(dr.version_id));
            }
            gw_xbuf_str(x, "</Deleted>");
        } else {
            enum gw_err e = st == META_EDENIED ? GW_E_ACCESS_DENIED
                                               : gw_err_from_meta(st);
            gw_xbuf_str(x, "<Error>");
            gw_xbuf_elem(x, "Key", o->key, o->key_len);
            gw_xbuf_printf(x, "<Code>%s</Code>", gw_err_code(e));
            gw_xbuf_elem(x, "Message", gw_err_default_msg(e),
                         strlen(gw_err_default_msg(e)));
            gw_xbuf_str(x, "</Error>");
        }
    }
    gw_xbuf_str(x, "</DeleteResult>");
    gw_xml_delete_cleanup(&d);
    if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
}

void gw_h_delete_objects(struct gw_req *req)
{
    gw_req_post(req, delete_objects_work, gw_done_respond);
}
