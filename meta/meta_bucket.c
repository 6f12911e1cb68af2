/* meta_bucket.c: bucket records (B/<bucket>).
 *
 * Invariants: a B/ record is only removed while no V/ or U/ record of the
 * bucket exists, and the check and the removal happen under the bucket's
 * exclusive lock, which every object or upload write takes shared; so a
 * bucket is never deleted with a version in it (S3 BucketNotEmpty), and a
 * version is never committed into a bucket that is gone. */
#include "meta_int.h"
#include "cf.h"

#include <stdlib.h>
#include <string.h>

static void bucket_encode(struct meta_buf *b, const struct meta_bucket *bk)
{
    meta_buf_u8(b, META_FORMAT);
    meta_buf_u64(b, (uint64_t)bk->created_ms);
    meta_buf_u8(b, (unsigned)bk->versioning);
    meta_buf_str(b, bk->owner, strnlen(bk->owner, sizeof(bk->owner) - 1));
    meta_buf_str(b, bk->region, strnlen(bk->region, sizeof(bk->region) - 1));
    meta_buf_u8(b, bk->lock_enabled ? 1 : 0);
    meta_buf_u8(b, (unsigned)bk->lock_mode);
    meta_buf_u32(b, bk->lock_days);
    meta_buf_u32(b, bk->lock_years);
}

static enum meta_status bucket_decode(const char *name, size_t nlen,
                                      const char *v, size_t vlen,
                                      struct meta_bucket *out)
{
    struct meta_rd r;
    unsigned fmt;

    memset(out, 0, sizeof(*out));
    meta_rd_init(&r, v, vlen);
    if (nlen == 0 || nlen > META_BUCKET_NAME_MAX) goto bad;
    memcpy(out->name, name, nlen);
    fmt = meta_rd_u8(&r);
    if (fmt != META_FORMAT) goto bad;
    out->created_ms = (int64_t)meta_rd_u64(&r);
    out->versioning = (enum meta_versioning)meta_rd_u8(&r);
    meta_rd_strbuf(&r, out->owner, sizeof(out->owner));
    meta_rd_strbuf(&r, out->region, sizeof(out->region));
    if (meta_rd_more(&r)) { /* [optional: Object Lock] */
        out->lock_enabled = (int)meta_rd_u8(&r);
        out->lock_mode = (int)meta_rd_u8(&r);
        out->lock_days = meta_rd_u32(&r);
        out->lock_years = meta_rd_u32(&r);
    }
    if (r.bad) goto bad;
    return META_OK;
bad:
    cf_log(CF_LOG_ERR, "meta: bucket record %.*s is corrupt", (int)nlen,
           name);
    memset(out, 0, sizeof(*out));
    return META_ECORRUPT;
}

enum meta_status meta_bucket_get(struct meta_db *m, const char *name,
                                 struct meta_bucket *out)
{
    struct meta_buf k = { 0 };
    char *err = NULL, *v;
    size_t vlen;
    enum meta_status st;

    memset(out, 0, sizeof(*out));
    if (!meta_bucket_name_ok(name)) return META_ENOTFOUND;
    meta_key_b(&k, name);
    if (k.oom) return META_ENOMEM;
    v = rocksdb_get(m->db, m->ropts, k.p, k.len, &vlen, &err);
    meta_buf_free(&k);
    if (err) return meta_err(err, "get bucket");
    if (v == NULL) return META_ENOTFOUND;
    st = bucket_decode(name, strlen(name), v, vlen, out);
    rocksdb_free(v);
    return st;
}

static enum meta_status bucket_put(struct meta_db *m,
                                   const struct meta_bucket *b)
{
    struct meta_buf k = { 0 }, v = { 0 };
    char *err = NULL;
    enum meta_status st;

    meta_key_b(&k, b->name);
    bucket_encode(&v, b);
    if (k.oom || v.oom) {
        st = META_ENOMEM;
        goto out;
    }
    rocksdb_put(m->db, m->wsync, k.p, k.len, v.p, v.len, &err);
    st = meta_err(err, "put bucket");
out:
    meta_buf_free(&k);
    meta_buf_free(&v);
    return st;
}

enum meta_status meta_bucket_create(struct meta_db *m,
                                    const struct meta_bucket *b,
                                    struct meta_bucket *existing)
{
    struct meta_bucket cur;
    enum meta_status st;

    if (!meta_bucket_name_ok(b->name)) return META_EINVAL;
    /* Only B/ records are touched: object writes never wait for this. */
    pthread_mutex_lock(&m->bucket_mu);
    st = meta_bucket_get(m, b->name, &cur);
    if (st == META_OK) {
        if (existing) *existing = cur;
        st = META_EEXIST;
    } else if (st == META_ENOTFOUND) {
        st = bucket_put(m, b);
    }
    pthread_mutex_unlock(&m->bucket_mu);
    return st;
}

enum meta_status meta_bucket_update(struct meta_db *m,
                                    const struct meta_bucket *b)
{
    struct meta_bucket cur;
    enum meta_status st;

    if (!meta_bucket_name_ok(b->name)) return META_ENOTFOUND;
    pthread_mutex_lock(&m->bucket_mu);
    st = meta_bucket_get(m, b->name, &cur);
    if (st == META_OK) st = bucket_put(m, b);
    pthread_mutex_unlock(&m->bucket_mu);
    return st;
}

/* Sets *found to 1 if any key starts with prefix. The iterator is
 * bounded above, so a bucket full of tombstones costs no scan past its own
 * range. */
static enum meta_status any_with_prefix(struct meta_db *m, const char *prefix,
                                        size_t n, int *found)
{
    struct meta_iter mi;
    enum meta_status st;

    *found = 0;
    st = meta_iter_open(m, &mi, NULL, prefix, n);
    if (st != META_OK) return st;
    rocksdb_iter_seek(mi.it, prefix, n);
    *found = rocksdb_iter_valid(mi.it);
    st = meta_iter_err(mi.it, "check bucket empty");
    meta_iter_close(&mi);
    return st;
}

enum meta_status meta_bucket_delete(struct meta_db *m, const char *name)
{
    struct meta_bucket cur;
    struct meta_buf k = { 0 }, vb = { 0 };
    pthread_rwlock_t *bl;
    enum meta_status st;
    char *err = NULL;
    int found;

    if (!meta_bucket_name_ok(name)) return META_ENOTFOUND;
    bl = meta_bucket_lock(m, name);
    pthread_mutex_lock(&m->bucket_mu);
    pthread_rwlock_wrlock(bl);
    st = meta_bucket_get(m, name, &cur);
    if (st != META_OK) goto out_unlock;
    /* Versions (delete markers included) keep the bucket... */
    meta_key_base(&vb, 'V', name);
    if (vb.oom) {
        st = META_ENOMEM;
        goto out_unlock;
    }
    st = any_with_prefix(m, vb.p, vb.len, &found);
    if (st != META_OK) goto out_unlock;
    if (found) {
        st = META_ENOTEMPTY;
        goto out_unlock;
    }
    /* ...and so do uploads in progress: their parts hold data. */
    vb.p[0] = 'U';
    st = any_with_prefix(m, vb.p, vb.len, &found);
    if (st != META_OK) goto out_unlock;
    if (found) {
        st = META_ENOTEMPTY;
        goto out_unlock;
    }
    /* I2: no V/ record means no C/ record either; only B/ goes. */
    meta_key_b(&k, name);
    if (k.oom) {
        st = META_ENOMEM;
        goto out_unlock;
    }
    rocksdb_delete(m->db, m->wsync, k.p, k.len, &err);
    st = meta_err(err, "delete bucket");
out_unlock:
    pthread_rwlock_unlock(bl);
    pthread_mutex_unlock(&m->bucket_mu);
    meta_buf_free(&k);
    meta_buf_free(&vb);
    return st;
}

enum meta_status meta_bucket_foreach(struct meta_db *m,
                                     int (*fn)(const struct meta_bucket *b,
                                               void *arg),
                                     void *arg)
{
    struct meta_iter mi;
    rocksdb_iterator_t *it;
    enum meta_status st, ist;

    st = meta_iter_open(m, &mi, NULL, "B/", 2);
    if (st != META_OK) return st;
    it = mi.it;
    for (rocksdb_iter_seek(it, "B/", 2); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        struct meta_bucket b;
        st = bucket_decode(k + 2, kl - 2, v, vl, &b);
        if (st != META_OK) break;
        if (fn(&b, arg) != 0) break;
    }
    ist = meta_iter_err(it, "list buckets");
    if (st == META_OK) st = ist;
    meta_iter_close(&mi);
    return st;
}
