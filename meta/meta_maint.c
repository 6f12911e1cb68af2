/* meta_maint.c: maintenance of the catalog: walking every stored version
 * and upload part (healing, scrubbing, orphan cleanup, audit reports),
 * RocksDB checkpoints, the version record kept in shard headers, and
 * re-inserting versions while `coffer meta rebuild` runs. */
#include "meta_int.h"
#include "cf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum meta_status meta_version_foreach(struct meta_db *m, const char *bucket,
                                      meta_version_fn fn, void *arg)
{
    struct meta_buf range = { 0 };
    struct meta_iter mi = { 0 };
    enum meta_status st;
    rocksdb_iterator_t *it;

    if (bucket != NULL) meta_key_base(&range, 'V', bucket);
    else meta_buf_put(&range, "V/", 2);
    if (range.oom) {
        meta_buf_free(&range);
        return META_ENOMEM;
    }
    st = meta_iter_open(m, &mi, NULL, range.p, range.len);
    if (st != META_OK) goto out;
    it = mi.it;
    rocksdb_iter_seek(it, range.p, range.len);
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        const char *nul = memchr(k + 2, '\0', kl - 2);
        char b[META_BUCKET_NAME_MAX + 1];
        struct meta_version v;
        int stop;
        if (nul == NULL || (size_t)(nul - k - 2) > META_BUCKET_NAME_MAX) {
            cf_log(CF_LOG_ERR, "meta: malformed version key");
            st = META_ECORRUPT;
            break;
        }
        memcpy(b, k + 2, (size_t)(nul - k - 2));
        b[nul - k - 2] = '\0';
        st = meta_version_decode(val, vl, &v);
        if (st != META_OK) break;
        stop = fn(b, &v, arg);
        meta_version_cleanup(&v);
        if (stop) break;
    }
    if (st == META_OK) st = meta_iter_err(it, "iterating versions");
out:
    meta_iter_close(&mi);
    meta_buf_free(&range);
    return st;
}

enum meta_status meta_upload_part_foreach(struct meta_db *m,
                                          meta_part_fn fn, void *arg)
{
    struct meta_iter mi = { 0 };
    enum meta_status st;
    rocksdb_iterator_t *it;

    st = meta_iter_open(m, &mi, NULL, "P/", 2);
    if (st != META_OK) return st;
    it = mi.it;
    rocksdb_iter_seek(it, "P/", 2);
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        const char *nul = memchr(k + 2, '\0', kl - 2);
        char uid[META_UPLOAD_ID_MAX + 1];
        struct meta_part p;
        struct meta_rd r;
        if (nul == NULL || (size_t)(nul - k - 2) > META_UPLOAD_ID_MAX) {
            cf_log(CF_LOG_ERR, "meta: malformed part key");
            st = META_ECORRUPT;
            break;
        }
        memcpy(uid, k + 2, (size_t)(nul - k - 2));
        uid[nul - k - 2] = '\0';
        memset(&p, 0, sizeof(p));
        meta_rd_init(&r, val, vl);
        if (meta_rd_u8(&r) != META_FORMAT) r.bad = 1;
        meta_part_decode(&r, &p);
        if (meta_rd_more(&r)) meta_part_csum_decode(&r, &p);
        if (meta_rd_more(&r)) p.enc = meta_rd_u8(&r) & 1;
        if (r.bad) {
            cf_log(CF_LOG_ERR, "meta: malformed part record of upload %s",
                   uid);
            st = META_ECORRUPT;
            break;
        }
        if (fn(uid, &p, arg)) break;
    }
    if (st == META_OK) st = meta_iter_err(it, "iterating upload parts");
    meta_iter_close(&mi);
    return st;
}

enum meta_status meta_checkpoint(struct meta_db *m, const char *dir)
{
    rocksdb_checkpoint_t *cp;
    char *err = NULL;

    cp = rocksdb_checkpoint_object_create(m->db, &err);
    if (err != NULL) return meta_err(err, "creating a checkpoint object");
    /* log_size_for_flush 0: flush the memtable first, so the checkpoint
     * holds every committed write in its SST files */
    rocksdb_checkpoint_create(cp, dir, 0, &err);
    rocksdb_checkpoint_object_destroy(cp);
    if (err != NULL) return meta_err(err, dir);
    return META_OK;
}

/* ---- the record in shard headers ----
 * "CV1" | bucket str | V rec (meta_int.h), the stored headers dropped when
 * the whole would not fit in max bytes. */

enum meta_status meta_version_record(const char *bucket,
                                     const struct meta_version *v,
                                     size_t max, char **out, size_t *len)
{
    struct meta_buf b = { 0 };
    struct meta_version slim;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        const struct meta_version *w = v;
        if (pass == 1) {
            slim = *v;
            slim.headers = NULL;
            slim.nheaders = 0;
            w = &slim;
        }
        b.len = 0;
        meta_buf_put(&b, "CV1", 3);
        meta_buf_str(&b, bucket, strlen(bucket));
        meta_version_encode(&b, w);
        if (b.oom) {
            meta_buf_free(&b);
            return META_ENOMEM;
        }
        if (b.len <= max) {
            *out = b.p;
            *len = b.len;
            return META_OK;
        }
    }
    meta_buf_free(&b);
    return META_EINVAL;
}

enum meta_status meta_version_from_record(const void *p, size_t n,
                                          char bucket[META_BUCKET_NAME_MAX +
                                                      1],
                                          struct meta_version *v)
{
    struct meta_rd r;
    const char *c = p;
    memset(v, 0, sizeof(*v));
    if (n < 3 || memcmp(c, "CV1", 3) != 0) return META_ECORRUPT;
    meta_rd_init(&r, c + 3, n - 3);
    meta_rd_strbuf(&r, bucket, META_BUCKET_NAME_MAX + 1);
    if (r.bad) return META_ECORRUPT;
    return meta_version_decode((const char *)r.p, (size_t)(r.end - r.p), v);
}
