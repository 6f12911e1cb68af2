/* ol_store.c: the internal store — one whole object written into a bucket
 * by the server itself (the audit export now; ingest later), with the
 * same steps, in the same order, as an S3 PutObject:
 *
 *   1. the bucket's Object Lock default retention is stamped on the new
 *      version from the compliance clock (as gw_lock_for_write does);
 *   2. the data is erasure-coded into shard files and made durable
 *      (ec_writer_finish: fdatasync/syncfs, rename) — MD5 (the ETag) and
 *      SHA-256 are computed in the same pass;
 *   3. one synced catalog batch commits the version record, the current
 *      pointer and the put-locked audit entry (meta_object_put_audited).
 *
 * Invariant (as for S3 PUT): the version exists iff step 3 committed; on
 * any failure before, its shards are removed.
 *
 * Why not the gateway's PUT code itself: it is a streaming state machine
 * bound to a request (SigV4, chunk decoding, backpressure, conditional
 * headers); the steps that matter for WORM — default retention from the
 * bucket, durable data before the catalog, audit entry in the same batch
 * — are the ones reproduced here, using the same module calls. */
#include "ol.h"
#include "cf.h"
#include "ec.h"
#include "meta.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* The put-locked audit entry, in the shape gw_audit_event writes. */
static char *store_event(const char *bucket, const struct meta_version *v,
                         const char *by)
{
    json_t *o = json_object();
    json_t *k = json_stringn(v->key, v->key_len);
    char date[CF_ISO8601_LEN], *out;

    if (o == NULL) {
        json_decref(k);
        return NULL;
    }
    json_object_set_new(o, "event", json_string("put-locked"));
    json_object_set_new(o, "bucket", json_string(bucket));
    json_object_set_new(o, "key", k ? k : json_null());
    json_object_set_new(o, "version", json_string(v->version_id));
    if (v->lock_mode != OL_MODE_NONE) {
        cf_fmt_iso8601_ms(v->retain_until_ms, date);
        json_object_set_new(
            o, "mode", json_string(ol_mode_str((enum ol_mode)v->lock_mode)));
        json_object_set_new(o, "retain_until", json_string(date));
    }
    json_object_set_new(o, "legal_hold", json_boolean(v->legal_hold));
    json_object_set_new(o, "etag", json_string(v->etag));
    json_object_set_new(o, "sha256", json_string(v->sha256));
    json_object_set_new(o, "size", json_integer((json_int_t)v->size));
    json_object_set_new(o, "by", json_string(by ? by : ""));
    json_object_set_new(o, "request", json_string(""));
    out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return out;
}

static void random_id(char out[33])
{
    unsigned char r[16];
    cf_random_bytes(r, sizeof(r));
    cf_hex_encode(r, sizeof(r), out);
}

enum ol_status ol_store_put(struct meta_db *db, struct ec_set *set,
                            const struct ol_store_obj *o, char *vid)
{
    struct meta_bucket b;
    struct meta_version v, replaced;
    struct meta_kv hdr;
    struct ec_obj_info info;
    struct ec_writer *w = NULL;
    EVP_MD_CTX *md5 = NULL, *sha = NULL;
    unsigned char dig[32];
    unsigned int dl;
    size_t off, bs = ec_set_stripe_size(set);
    uint64_t size = 0;
    enum ec_status est;
    enum meta_status mst;
    enum ol_status st = OL_EIO;
    char *ev = NULL;
    int64_t now;

    memset(&v, 0, sizeof(v));
    memset(&replaced, 0, sizeof(replaced));
    mst = meta_bucket_get(db, o->bucket, &b);
    if (mst != META_OK) {
        cf_log(CF_LOG_ERR, "ol: store into %s: %s", o->bucket,
               meta_strerror(mst));
        return mst == META_ENOTFOUND ? OL_EINVAL : OL_EIO;
    }
    /* 1. lock state, from the bucket default, on the compliance clock */
    now = ol_clock_now();
    if (b.lock_enabled && b.lock_mode != OL_MODE_NONE) {
        v.lock_mode = b.lock_mode;
        v.retain_until_ms = b.lock_days ? ol_add_days(now, b.lock_days)
                                        : ol_add_years(now, b.lock_years);
    }
    /* An explicit retention replaces the default only when it is at least
     * as strong: COMPLIANCE beats GOVERNANCE, then the later date. */
    if (o->lock_mode != OL_MODE_NONE) {
        if (!b.lock_enabled) {
            cf_log(CF_LOG_ERR,
                   "ol: store into %s: retention asked for, "
                   "but the bucket has no Object Lock",
                   o->bucket);
            return OL_EINVAL;
        }
        if ((int)o->lock_mode > v.lock_mode ||
            ((int)o->lock_mode == v.lock_mode &&
             o->retain_until_ms > v.retain_until_ms)) {
            v.lock_mode = o->lock_mode;
            v.retain_until_ms = o->retain_until_ms;
        }
    }
    if (b.versioning == META_VERSIONING_ENABLED)
        random_id(v.version_id);
    else
        snprintf(v.version_id, sizeof(v.version_id), "null");
    random_id(v.data_id);

    /* 2. durable data, hashed in the same pass */
    md5 = EVP_MD_CTX_new();
    sha = EVP_MD_CTX_new();
    if (md5 == NULL || sha == NULL ||
        !EVP_DigestInit_ex(md5, EVP_md5(), NULL) ||
        !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
        st = OL_ENOMEM;
        goto out;
    }
    info.bucket = o->bucket;
    info.key = o->key;
    info.key_len = o->key_len;
    info.version_id = v.data_id;
    info.mtime_ms = ol_clock_wall_ms();
    est = ec_writer_new(set, &info, &w);
    for (off = 0; est == EC_OK && off < o->len; off += bs) {
        size_t n = o->len - off < bs ? o->len - off : bs;
        const char *p = (const char *)o->data + off;
        EVP_DigestUpdate(md5, p, n);
        EVP_DigestUpdate(sha, p, n);
        est = ec_writer_append(w, p, n);
    }
    if (est == EC_OK) est = ec_writer_finish(w, &size);
    if (est == EC_OK) /* packed: the catalog keeps the locator */
        snprintf(v.data_id, sizeof(v.data_id), "%s", ec_writer_data_id(w));
    ec_writer_free(w);
    w = NULL;
    if (est != EC_OK) {
        cf_log(CF_LOG_ERR, "ol: store into %s: data: %s", o->bucket,
               ec_strerror(est));
        goto out;
    }
    EVP_DigestFinal_ex(md5, dig, &dl);
    cf_hex_encode(dig, 16, v.etag);
    EVP_DigestFinal_ex(sha, dig, &dl);
    cf_hex_encode(dig, 32, v.sha256);

    /* 3. the version comes into existence with one synced batch */
    v.key = (char *)o->key;
    v.key_len = o->key_len;
    v.size = size;
    v.mtime_ms = ol_clock_wall_ms();
    v.ec_data = ec_set_data_shards(set);
    v.ec_parity = ec_set_parity_shards(set);
    v.stripe_size = (uint32_t)bs;
    if (o->content_type) {
        hdr.name = (char *)"content-type";
        hdr.value = (char *)o->content_type;
        v.headers = &hdr;
        v.nheaders = 1;
    }
    if (v.lock_mode != OL_MODE_NONE) {
        ev = store_event(o->bucket, &v, o->by);
        if (ev == NULL) {
            ec_remove(set, v.data_id);
            st = OL_ENOMEM;
            goto out;
        }
    }
    mst = meta_object_put_audited(db, o->bucket, &v, &replaced, ol_clock_now(),
                                  ev);
    if (mst != META_OK) {
        cf_log(CF_LOG_ERR, "ol: store into %s: catalog: %s", o->bucket,
               meta_strerror(mst));
        ec_remove(set, v.data_id);
        st = mst == META_ENOMEM ? OL_ENOMEM : OL_EIO;
        goto out;
    }
    /* an unversioned bucket's "null" version was replaced */
    if (replaced.version_id[0]) {
        size_t i;
        if (replaced.nparts == 0) ec_remove(set, replaced.data_id);
        for (i = 0; i < replaced.nparts; i++)
            ec_remove(set, replaced.parts[i].data_id);
    }
    if (vid) memcpy(vid, v.version_id, sizeof(v.version_id));
    st = OL_OK;
out:
    free(ev);
    EVP_MD_CTX_free(md5);
    EVP_MD_CTX_free(sha);
    meta_version_cleanup(&replaced);
    return st;
}
