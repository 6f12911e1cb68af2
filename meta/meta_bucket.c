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

/* The optional documents of a bucket (enum meta_battr), indexed by id;
 * NULL where absent. Ids the code does not know are kept as they are, so
 * an older binary rewriting the record never drops a newer one's data. */
struct battrs {
    char *val[256];   /* owned */
    size_t len[256];
};

static void battrs_free(struct battrs *a)
{
    int i;
    for (i = 0; i < 256; i++) {
        free(a->val[i]);
        a->val[i] = NULL;
    }
}

static void bucket_encode(struct meta_buf *b, const struct meta_bucket *bk,
                          const struct battrs *a)
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
    if (a) { /* [optional: attributes] */
        uint32_t n = 0;
        int i;
        for (i = 1; i < 256; i++)
            if (a->val[i]) n++;
        if (n == 0) return;
        meta_buf_u32(b, n);
        for (i = 1; i < 256; i++)
            if (a->val[i]) {
                meta_buf_u8(b, (unsigned)i);
                meta_buf_str(b, a->val[i], a->len[i]);
            }
    }
}

/* a may be NULL: the attributes are then skipped unread. */
static enum meta_status bucket_decode(const char *name, size_t nlen,
                                      const char *v, size_t vlen,
                                      struct meta_bucket *out,
                                      struct battrs *a)
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
    if (a && meta_rd_more(&r)) { /* [optional: attributes] */
        uint32_t n = meta_rd_u32(&r), i;
        for (i = 0; i < n && !r.bad; i++) {
            unsigned id = meta_rd_u8(&r);
            size_t l = 0;
            char *s = meta_rd_str(&r, &l);
            if (s == NULL) break;
            if (id == 0 || a->val[id]) {
                free(s);
                r.bad = 1;
                break;
            }
            a->val[id] = s;
            a->len[id] = l;
        }
    }
    if (r.bad) goto bad;
    return META_OK;
bad:
    cf_log(CF_LOG_ERR, "meta: bucket record %.*s is corrupt", (int)nlen,
           name);
    memset(out, 0, sizeof(*out));
    if (a) battrs_free(a);
    return META_ECORRUPT;
}

static enum meta_status bucket_get_ex(struct meta_db *m, const char *name,
                                      struct meta_bucket *out,
                                      struct battrs *a)
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
    st = bucket_decode(name, strlen(name), v, vlen, out, a);
    rocksdb_free(v);
    return st;
}

enum meta_status meta_bucket_get(struct meta_db *m, const char *name,
                                 struct meta_bucket *out)
{
    return bucket_get_ex(m, name, out, NULL);
}

static enum meta_status bucket_put(struct meta_db *m,
                                   const struct meta_bucket *b,
                                   const struct battrs *a)
{
    struct meta_buf k = { 0 }, v = { 0 };
    char *err = NULL;
    enum meta_status st;

    meta_key_b(&k, b->name);
    bucket_encode(&v, b, a);
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
        st = bucket_put(m, b, NULL);
    }
    pthread_mutex_unlock(&m->bucket_mu);
    return st;
}

enum meta_status meta_bucket_update(struct meta_db *m,
                                    const struct meta_bucket *b)
{
    struct meta_bucket cur;
    struct battrs *a;
    enum meta_status st;

    if (!meta_bucket_name_ok(b->name)) return META_ENOTFOUND;
    a = calloc(1, sizeof(*a));
    if (a == NULL) return META_ENOMEM;
    pthread_mutex_lock(&m->bucket_mu);
    /* The attributes are not in struct meta_bucket: carry them over. */
    st = bucket_get_ex(m, b->name, &cur, a);
    if (st == META_OK) st = bucket_put(m, b, a);
    pthread_mutex_unlock(&m->bucket_mu);
    battrs_free(a);
    free(a);
    return st;
}

enum meta_status meta_bucket_attr_get(struct meta_db *m, const char *name,
                                      enum meta_battr id, char **value,
                                      size_t *len)
{
    struct meta_bucket cur;
    struct battrs *a;
    enum meta_status st;

    *value = NULL;
    *len = 0;
    if ((unsigned)id == 0 || (unsigned)id > 255) return META_EINVAL;
    a = calloc(1, sizeof(*a));
    if (a == NULL) return META_ENOMEM;
    st = bucket_get_ex(m, name, &cur, a);
    if (st == META_OK) {
        *value = a->val[id];
        *len = a->len[id];
        a->val[id] = NULL;
    }
    battrs_free(a);
    free(a);
    return st;
}

enum meta_status meta_bucket_attrs_get(struct meta_db *m, const char *name,
                                       const enum meta_battr *ids, size_t n,
                                       char **values, size_t *lens)
{
    struct meta_bucket cur;
    struct battrs *a;
    enum meta_status st;
    size_t i;

    for (i = 0; i < n; i++) {
        values[i] = NULL;
        lens[i] = 0;
        if ((unsigned)ids[i] == 0 || (unsigned)ids[i] > 255) return META_EINVAL;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) return META_ENOMEM;
    st = bucket_get_ex(m, name, &cur, a);
    for (i = 0; st == META_OK && i < n; i++) {
        if (a->val[ids[i]] == NULL) continue;
        /* the same id twice gets two copies */
        values[i] = malloc(a->len[ids[i]] + 1);
        if (values[i] == NULL) {
            st = META_ENOMEM;
            break;
        }
        memcpy(values[i], a->val[ids[i]], a->len[ids[i]] + 1);
        lens[i] = a->len[ids[i]];
    }
    if (st != META_OK)
        for (i = 0; i < n; i++) {
            free(values[i]);
            values[i] = NULL;
            lens[i] = 0;
        }
    battrs_free(a);
    free(a);
    return st;
}

enum meta_status meta_bucket_attr_set(struct meta_db *m, const char *name,
                                      enum meta_battr id, const char *value,
                                      size_t len)
{
    struct meta_bucket cur;
    struct battrs *a;
    enum meta_status st;
    char *copy = NULL;

    if ((unsigned)id == 0 || (unsigned)id > 255) return META_EINVAL;
    if (value && len > META_BATTR_MAX_BYTES) return META_EINVAL;
    a = calloc(1, sizeof(*a));
    if (value) copy = malloc(len + 1);
    if (a == NULL || (value && copy == NULL)) {
        free(a);
        free(copy);
        return META_ENOMEM;
    }
    if (copy) {
        memcpy(copy, value, len);
        copy[len] = '\0';
    }
    pthread_mutex_lock(&m->bucket_mu);
    st = bucket_get_ex(m, name, &cur, a);
    if (st == META_OK) {
        free(a->val[id]);
        a->val[id] = copy;
        a->len[id] = len;
        copy = NULL;
        st = bucket_put(m, &cur, a);
    }
    pthread_mutex_unlock(&m->bucket_mu);
    free(copy);
    battrs_free(a);
    free(a);
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
        st = bucket_decode(k + 2, kl - 2, v, vl, &b, NULL);
        if (st != META_OK) break;
        if (fn(&b, arg) != 0) break;
    }
    ist = meta_iter_err(it, "list buckets");
    if (st == META_OK) st = ist;
    meta_iter_close(&mi);
    return st;
}
