/* meta_upload.c: multipart uploads in progress and their parts.
 *
 * U/<bucket>\0<key>\0<upload-id> holds the upload, P/<upload-id>\0<nnnnn>
 * each part. Completion removes both kinds of record in the same synced
 * batch that commits the object version, so a completed upload can never
 * also be listed as in progress, and a crash leaves one or the other. */
#include "meta_int.h"
#include "cf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void meta_upload_cleanup(struct meta_upload *u)
{
    size_t i;
    if (u == NULL) return;
    free(u->key);
    for (i = 0; i < u->nheaders; i++) {
        free(u->headers[i].name);
        free(u->headers[i].value);
    }
    free(u->headers);
    memset(u, 0, sizeof(*u));
}

static void ukey(struct meta_buf *b, const char *bucket, const char *key,
                 size_t key_len, const char *id)
{
    meta_buf_put(b, "U/", 2);
    meta_buf_put(b, bucket, strlen(bucket) + 1);
    meta_buf_put(b, key, key_len);
    meta_buf_put(b, "", 1);
    meta_buf_put(b, id, strlen(id));
}

static void pprefix(struct meta_buf *b, const char *id)
{
    meta_buf_put(b, "P/", 2);
    meta_buf_put(b, id, strlen(id) + 1);
}

static void pkey(struct meta_buf *b, const char *id, uint32_t number)
{
    char num[8];
    pprefix(b, id);
    snprintf(num, sizeof(num), "%05u", number);
    meta_buf_put(b, num, 5);
}

static enum meta_status upload_decode(const char *id, const char *p, size_t n,
                                      struct meta_upload *u)
{
    struct meta_rd r = { (const unsigned char *)p,
                         (const unsigned char *)p + n, 0 };
    uint32_t nh, i;

    memset(u, 0, sizeof(*u));
    snprintf(u->upload_id, sizeof(u->upload_id), "%s", id);
    if (meta_rd_u8(&r) != 1) goto bad;
    u->initiated_ms = (int64_t)meta_rd_u64(&r);
    meta_rd_strbuf(&r, u->owner, sizeof(u->owner));
    u->key = meta_rd_str(&r, &u->key_len);
    nh = meta_rd_u32(&r);
    if (r.bad || nh > META_MAX_HEADERS) goto bad;
    u->headers = calloc(nh ? nh : 1, sizeof(*u->headers));
    if (u->headers == NULL) goto bad;
    for (i = 0; i < nh && !r.bad; i++) {
        u->headers[i].name = meta_rd_str(&r, NULL);
        u->headers[i].value = meta_rd_str(&r, NULL);
        u->nheaders = i + 1;
    }
    if (r.bad) goto bad;
    return META_OK;
bad:
    meta_upload_cleanup(u);
    cf_log(CF_LOG_ERR, "meta: upload record %s is corrupt", id);
    return META_ECORRUPT;
}

static void upload_encode(struct meta_buf *v, const struct meta_upload *u)
{
    size_t i;
    meta_buf_u8(v, 1);
    meta_buf_u64(v, (uint64_t)u->initiated_ms);
    meta_buf_str(v, u->owner, strlen(u->owner));
    meta_buf_str(v, u->key, u->key_len);
    meta_buf_u32(v, (uint32_t)u->nheaders);
    for (i = 0; i < u->nheaders; i++) {
        meta_buf_str(v, u->headers[i].name, strlen(u->headers[i].name));
        meta_buf_str(v, u->headers[i].value, strlen(u->headers[i].value));
    }
}

enum meta_status meta_upload_create(struct meta_db *m, const char *bucket,
                                    const struct meta_upload *u)
{
    struct meta_bucket b;
    struct meta_buf k = { 0 }, v = { 0 };
    pthread_rwlock_t *bl;
    enum meta_status st;
    char *err = NULL;

    if (u->key_len == 0 || u->key_len > META_KEY_MAX ||
        memchr(u->key, '\0', u->key_len) || u->upload_id[0] == '\0')
        return META_EINVAL;
    if (!meta_bucket_name_ok(bucket)) return META_ENOTFOUND;
    bl = meta_bucket_lock(m, bucket);
    pthread_rwlock_rdlock(bl);
    st = meta_bucket_get(m, bucket, &b);
    if (st != META_OK) goto out;
    ukey(&k, bucket, u->key, u->key_len, u->upload_id);
    upload_encode(&v, u);
    if (k.oom || v.oom) {
        st = META_ENOMEM;
        goto out;
    }
    rocksdb_put(m->db, m->wsync, k.p, k.len, v.p, v.len, &err);
    st = meta_err(err, "create upload");
out:
    pthread_rwlock_unlock(bl);
    meta_buf_free(&k);
    meta_buf_free(&v);
    return st;
}

enum meta_status meta_upload_get(struct meta_db *m, const char *bucket,
                                 const char *key, size_t key_len,
                                 const char *upload_id,
                                 struct meta_upload *out)
{
    struct meta_buf k = { 0 };
    char *err = NULL, *v;
    size_t vl;
    enum meta_status st;

    memset(out, 0, sizeof(*out));
    if (strlen(upload_id) > META_UPLOAD_ID_MAX) return META_ENOTFOUND;
    ukey(&k, bucket, key, key_len, upload_id);
    if (k.oom) return META_ENOMEM;
    v = rocksdb_get(m->db, m->ropts, k.p, k.len, &vl, &err);
    meta_buf_free(&k);
    if (err) return meta_err(err, "get upload");
    if (v == NULL) return META_ENOTFOUND;
    st = upload_decode(upload_id, v, vl, out);
    rocksdb_free(v);
    return st;
}

static enum meta_status part_get(struct meta_db *m, const char *id,
                                 uint32_t number, struct meta_part *p)
{
    struct meta_buf k = { 0 };
    char *err = NULL, *v;
    size_t vl;
    struct meta_rd r;

    pkey(&k, id, number);
    if (k.oom) return META_ENOMEM;
    v = rocksdb_get(m->db, m->ropts, k.p, k.len, &vl, &err);
    meta_buf_free(&k);
    if (err) return meta_err(err, "get part");
    if (v == NULL) return META_ENOTFOUND;
    r.p = (const unsigned char *)v;
    r.end = r.p + vl;
    r.bad = 0;
    if (meta_rd_u8(&r) != 1) r.bad = 1;
    meta_part_decode(&r, p);
    if (meta_rd_more(&r)) meta_part_csum_decode(&r, p);
    if (meta_rd_more(&r)) p->enc = meta_rd_u8(&r) & 1;
    rocksdb_free(v);
    return r.bad ? META_ECORRUPT : META_OK;
}

enum meta_status meta_upload_put_part(struct meta_db *m, const char *bucket,
                                      const char *key, size_t key_len,
                                      const char *upload_id,
                                      const struct meta_part *p,
                                      struct meta_part *replaced)
{
    pthread_mutex_t *lk = meta_upload_lock(m, upload_id);
    struct meta_upload u;
    struct meta_buf k = { 0 }, v = { 0 };
    enum meta_status st;
    char *err = NULL;

    if (replaced) memset(replaced, 0, sizeof(*replaced));
    if (p->number < 1 || p->number > META_MAX_PARTS) return META_EINVAL;
    pthread_mutex_lock(lk);
    st = meta_upload_get(m, bucket, key, key_len, upload_id, &u);
    meta_upload_cleanup(&u);
    if (st != META_OK) goto out;
    if (replaced) {
        st = part_get(m, upload_id, p->number, replaced);
        if (st == META_ENOTFOUND) memset(replaced, 0, sizeof(*replaced));
        else if (st != META_OK) goto out;
    }
    pkey(&k, upload_id, p->number);
    meta_buf_u8(&v, 1);
    meta_part_encode(&v, p);
    meta_part_csum_encode(&v, p);
    meta_buf_u8(&v, p->enc ? 1 : 0);
    if (k.oom || v.oom) {
        st = META_ENOMEM;
        goto out;
    }
    rocksdb_put(m->db, m->wsync, k.p, k.len, v.p, v.len, &err);
    st = meta_err(err, "put part");
out:
    pthread_mutex_unlock(lk);
    meta_buf_free(&k);
    meta_buf_free(&v);
    return st;
}

enum meta_status meta_upload_parts(struct meta_db *m, const char *upload_id,
                                   uint32_t after, size_t max,
                                   struct meta_part **parts, size_t *nparts,
                                   int *truncated)
{
    struct meta_buf pre = { 0 }, seek = { 0 };
    rocksdb_iterator_t *it;
    struct meta_part *v = NULL;
    size_t n = 0, cap = 0;
    enum meta_status st = META_OK;
    char *err = NULL;

    *parts = NULL;
    *nparts = 0;
    if (truncated) *truncated = 0;
    pprefix(&pre, upload_id);
    pkey(&seek, upload_id, after + 1 > META_MAX_PARTS ? META_MAX_PARTS + 1
                                                       : after + 1);
    if (pre.oom || seek.oom) {
        meta_buf_free(&pre);
        meta_buf_free(&seek);
        return META_ENOMEM;
    }
    it = rocksdb_create_iterator(m->db, m->ropts);
    for (rocksdb_iter_seek(it, seek.p, seek.len); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val;
        struct meta_rd r;
        if (kl < pre.len || memcmp(k, pre.p, pre.len) != 0) break;
        if (n == max) {
            if (truncated) *truncated = 1;
            break;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct meta_part *np = realloc(v, nc * sizeof(*v));
            if (np == NULL) {
                st = META_ENOMEM;
                break;
            }
            v = np;
            cap = nc;
        }
        val = rocksdb_iter_value(it, &vl);
        r.p = (const unsigned char *)val;
        r.end = r.p + vl;
        r.bad = 0;
        if (meta_rd_u8(&r) != 1) r.bad = 1;
        meta_part_decode(&r, &v[n]);
        if (meta_rd_more(&r)) meta_part_csum_decode(&r, &v[n]);
        if (meta_rd_more(&r)) v[n].enc = meta_rd_u8(&r) & 1;
        if (r.bad) {
            st = META_ECORRUPT;
            break;
        }
        n++;
    }
    rocksdb_iter_get_error(it, &err);
    if (err) st = meta_err(err, "list parts");
    rocksdb_iter_destroy(it);
    meta_buf_free(&pre);
    meta_buf_free(&seek);
    if (st != META_OK) {
        free(v);
        return st;
    }
    *parts = v;
    *nparts = n;
    return META_OK;
}

struct finish_ctx {
    const char *bucket, *key, *id;
    size_t key_len;
    struct meta_part *all;
    size_t nall;
};

/* Adds the removal of the upload and part records to the commit batch. */
static enum meta_status finish_records(struct meta_db *m,
                                       rocksdb_writebatch_t *wb, void *arg)
{
    struct finish_ctx *f = arg;
    struct meta_buf k = { 0 };
    size_t i;

    ukey(&k, f->bucket, f->key, f->key_len, f->id);
    if (k.oom) return META_ENOMEM;
    rocksdb_writebatch_delete(wb, k.p, k.len);
    for (i = 0; i < f->nall; i++) {
        k.len = 0;
        pkey(&k, f->id, f->all[i].number);
        if (k.oom) {
            meta_buf_free(&k);
            return META_ENOMEM;
        }
        rocksdb_writebatch_delete(wb, k.p, k.len);
    }
    meta_buf_free(&k);
    return META_OK;
}

enum meta_status meta_upload_complete(struct meta_db *m, const char *bucket,
                                      const char *upload_id,
                                      const struct meta_version *v,
                                      struct meta_version *replaced,
                                      struct meta_part **unused,
                                      size_t *nunused)
{
    return meta_upload_complete_if(m, bucket, upload_id, v, replaced, unused,
                                   nunused, NULL, NULL, 0, NULL);
}

enum meta_status meta_upload_complete_if(struct meta_db *m,
                                         const char *bucket,
                                         const char *upload_id,
                                         const struct meta_version *v,
                                         struct meta_version *replaced,
                                         struct meta_part **unused,
                                         size_t *nunused, meta_check_fn pre,
                                         void *pre_arg, int64_t time_ms,
                                         const char *event)
{
    pthread_mutex_t *lk = meta_upload_lock(m, upload_id);
    struct finish_ctx f;
    struct meta_upload u;
    enum meta_status st;
    size_t i, j, nu = 0;
    struct meta_part *un = NULL;

    *unused = NULL;
    *nunused = 0;
    memset(&f, 0, sizeof(f));
    pthread_mutex_lock(lk);
    st = meta_upload_get(m, bucket, v->key, v->key_len, upload_id, &u);
    meta_upload_cleanup(&u);
    if (st != META_OK) goto out;
    st = meta_upload_parts(m, upload_id, 0, META_MAX_PARTS, &f.all, &f.nall,
                           NULL);
    if (st != META_OK) goto out;
    /* Every part named must be a recorded part (same data). */
    for (i = 0; i < v->nparts; i++) {
        for (j = 0; j < f.nall; j++)
            if (f.all[j].number == v->parts[i].number &&
                strcmp(f.all[j].data_id, v->parts[i].data_id) == 0)
                break;
        if (j == f.nall) {
            st = META_EINVAL;
            goto out;
        }
    }
    un = calloc(f.nall ? f.nall : 1, sizeof(*un));
    if (un == NULL) {
        st = META_ENOMEM;
        goto out;
    }
    for (j = 0; j < f.nall; j++) {
        for (i = 0; i < v->nparts; i++)
            if (v->parts[i].number == f.all[j].number) break;
        if (i == v->nparts) un[nu++] = f.all[j];
    }
    f.bucket = bucket;
    f.key = v->key;
    f.key_len = v->key_len;
    f.id = upload_id;
    st = meta_object_put_full(m, bucket, v, replaced, finish_records, &f,
                              pre, pre_arg, time_ms, event);
out:
    pthread_mutex_unlock(lk);
    free(f.all);
    if (st == META_OK) {
        *unused = un;
        *nunused = nu;
    } else {
        free(un);
    }
    return st;
}

enum meta_status meta_upload_abort(struct meta_db *m, const char *bucket,
                                   const char *key, size_t key_len,
                                   const char *upload_id,
                                   struct meta_part **parts, size_t *nparts)
{
    pthread_mutex_t *lk = meta_upload_lock(m, upload_id);
    struct finish_ctx f;
    struct meta_upload u;
    rocksdb_writebatch_t *wb = NULL;
    enum meta_status st;
    char *err = NULL;

    *parts = NULL;
    *nparts = 0;
    memset(&f, 0, sizeof(f));
    pthread_mutex_lock(lk);
    st = meta_upload_get(m, bucket, key, key_len, upload_id, &u);
    meta_upload_cleanup(&u);
    if (st != META_OK) goto out;
    st = meta_upload_parts(m, upload_id, 0, META_MAX_PARTS, &f.all, &f.nall,
                           NULL);
    if (st != META_OK) goto out;
    f.bucket = bucket;
    f.key = key;
    f.key_len = key_len;
    f.id = upload_id;
    wb = rocksdb_writebatch_create();
    st = finish_records(m, wb, &f);
    if (st != META_OK) goto out;
    rocksdb_write(m->db, m->wsync, wb, &err);
    st = meta_err(err, "abort upload");
out:
    pthread_mutex_unlock(lk);
    if (wb) rocksdb_writebatch_destroy(wb);
    if (st == META_OK) {
        *parts = f.all;
        *nparts = f.nall;
    } else {
        free(f.all);
    }
    return st;
}

void meta_upload_list_cleanup(struct meta_upload_list *l)
{
    size_t i;
    if (l == NULL) return;
    for (i = 0; i < l->n; i++) meta_upload_cleanup(&l->uploads[i]);
    free(l->uploads);
    memset(l, 0, sizeof(*l));
}

enum meta_status meta_upload_list(struct meta_db *m, const char *bucket,
                                  const char *prefix, size_t prefix_len,
                                  const char *key_marker, size_t km_len,
                                  const char *id_marker, size_t max,
                                  struct meta_upload_list *out)
{
    struct meta_buf base = { 0 }, seek = { 0 };
    rocksdb_iterator_t *it;
    enum meta_status st = META_OK;
    size_t cap = 0, blen;
    char *err = NULL;

    memset(out, 0, sizeof(*out));
    meta_buf_put(&base, "U/", 2);
    meta_buf_put(&base, bucket, strlen(bucket) + 1);
    blen = base.len;
    meta_buf_put(&seek, base.p, base.len);
    if (km_len) {
        /* after the marker key: its uploads after id_marker, or none */
        meta_buf_put(&seek, key_marker, km_len);
        meta_buf_put(&seek, "", 1);
        if (id_marker && *id_marker) meta_buf_put(&seek, id_marker,
                                                  strlen(id_marker));
        else meta_buf_put(&seek, "\xff", 1);
    } else {
        meta_buf_put(&seek, prefix, prefix_len);
    }
    if (base.oom || seek.oom) {
        st = META_ENOMEM;
        goto out;
    }
    it = rocksdb_create_iterator(m->db, m->ropts);
    for (rocksdb_iter_seek(it, seek.p, seek.len); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl), *v, *nul;
        char id[META_UPLOAD_ID_MAX + 1];
        size_t keyl, idl;
        if (kl < blen || memcmp(k, base.p, blen) != 0) break;
        nul = memchr(k + blen, '\0', kl - blen);
        if (nul == NULL) continue;
        keyl = (size_t)(nul - (k + blen));
        idl = kl - blen - keyl - 1;
        if (keyl < prefix_len || memcmp(k + blen, prefix, prefix_len) != 0) {
            if (memcmp(k + blen, prefix, keyl < prefix_len ? keyl
                                                           : prefix_len) > 0)
                break;
            continue;
        }
        /* skip the marker itself */
        if (km_len && keyl == km_len && memcmp(k + blen, key_marker, km_len) ==
                                            0 &&
            id_marker && idl == strlen(id_marker) &&
            memcmp(nul + 1, id_marker, idl) == 0)
            continue;
        if (idl > META_UPLOAD_ID_MAX) continue;
        if (out->n == max) {
            out->truncated = 1;
            break;
        }
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct meta_upload *np = realloc(out->uploads,
                                             nc * sizeof(*np));
            if (np == NULL) {
                st = META_ENOMEM;
                break;
            }
            out->uploads = np;
            cap = nc;
        }
        memcpy(id, nul + 1, idl);
        id[idl] = '\0';
        v = rocksdb_iter_value(it, &vl);
        st = upload_decode(id, v, vl, &out->uploads[out->n]);
        if (st != META_OK) break;
        out->n++;
    }
    rocksdb_iter_get_error(it, &err);
    if (err) st = meta_err(err, "list uploads");
    rocksdb_iter_destroy(it);
out:
    meta_buf_free(&base);
    meta_buf_free(&seek);
    if (st != META_OK) meta_upload_list_cleanup(out);
    return st;
}

enum meta_status meta_upload_update(struct meta_db *m, const char *bucket,
                                    const char *key, size_t key_len,
                                    const char *upload_id,
                                    meta_upload_fn fn, void *arg)
{
    struct meta_buf k = { 0 }, v = { 0 };
    struct meta_upload u;
    pthread_rwlock_t *bl;
    pthread_mutex_t *lk;
    enum meta_status st;
    char *err = NULL;
    size_t i;

    memset(&u, 0, sizeof(u));
    if (!meta_key_ok(key, key_len) || !meta_bucket_name_ok(bucket))
        return META_ENOTFOUND;
    bl = meta_bucket_lock(m, bucket);
    pthread_rwlock_rdlock(bl);
    lk = meta_stripe(m, bucket, key, key_len);
    pthread_mutex_lock(lk);
    st = meta_upload_get(m, bucket, key, key_len, upload_id, &u);
    if (st != META_OK) goto out;
    if (fn(&u, arg) != 0) {
        st = META_EDENIED;
        goto out;
    }
    /* its identity stays: only the stored headers may change */
    if (u.key_len != key_len || memcmp(u.key, key, key_len) != 0 ||
        strcmp(u.upload_id, upload_id) != 0 ||
        u.nheaders > META_MAX_HEADERS) {
        st = META_EINVAL;
        goto out;
    }
    for (i = 0; i < u.nheaders; i++) {
        if (u.headers[i].name == NULL || u.headers[i].value == NULL) {
            st = META_EINVAL;
            goto out;
        }
    }
    ukey(&k, bucket, key, key_len, upload_id);
    upload_encode(&v, &u);
    if (k.oom || v.oom) {
        st = META_ENOMEM;
        goto out;
    }
    rocksdb_put(m->db, m->wsync, k.p, k.len, v.p, v.len, &err);
    st = meta_err(err, "update upload");
out:
    pthread_mutex_unlock(lk);
    pthread_rwlock_unlock(bl);
    meta_upload_cleanup(&u);
    meta_buf_free(&k);
    meta_buf_free(&v);
    return st;
}

enum meta_status meta_upload_foreach(struct meta_db *m,
                                     meta_upload_each_fn fn, void *arg)
{
    struct meta_iter mi = { 0 };
    enum meta_status st;
    rocksdb_iterator_t *it;

    st = meta_iter_open(m, &mi, NULL, "U/", 2);
    if (st != META_OK) return st;
    it = mi.it;
    for (rocksdb_iter_seek(it, "U/", 2); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl, bl, keyl, idl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        const char *nul = memchr(k + 2, '\0', kl - 2), *nul2;
        char b[META_BUCKET_NAME_MAX + 1], id[META_UPLOAD_ID_MAX + 1];
        struct meta_upload u;
        int stop;
        nul2 = nul ? memchr(nul + 1, '\0', kl - (size_t)(nul + 1 - k)) : NULL;
        bl = nul ? (size_t)(nul - k - 2) : 0;
        keyl = nul2 ? (size_t)(nul2 - nul - 1) : 0;
        idl = nul2 ? kl - (size_t)(nul2 + 1 - k) : 0;
        if (nul2 == NULL || bl > META_BUCKET_NAME_MAX || keyl == 0 ||
            idl == 0 || idl > META_UPLOAD_ID_MAX) {
            cf_log(CF_LOG_ERR, "meta: malformed upload key");
            st = META_ECORRUPT;
            break;
        }
        memcpy(b, k + 2, bl);
        b[bl] = '\0';
        memcpy(id, nul2 + 1, idl);
        id[idl] = '\0';
        st = upload_decode(id, val, vl, &u);
        if (st != META_OK) break;
        stop = fn(b, &u, arg);
        meta_upload_cleanup(&u);
        if (stop) break;
    }
    if (st == META_OK) st = meta_iter_err(it, "iterating uploads");
    meta_iter_close(&mi);
    return st;
}
