/* meta_object.c: object versions (V/) and current-version pointers (C/).
 *
 * Every mutation of one (bucket, key) runs under the bucket's shared lock
 * and the key's stripe lock, reads the key's versions, and commits ONE
 * synced write batch in which the V/ record(s) and the C/ pointer change
 * together; so invariants I1-I3 of meta_int.h hold after any crash, and a
 * check callback (WORM, conditional write) judges exactly the state the
 * commit replaces. Reads take no lock: a read that needs two records
 * (C/ then V/) reads both from one snapshot. */
#include "meta_int.h"
#include "cf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

void meta_version_cleanup(struct meta_version *v)
{
    size_t i;
    if (v == NULL) return;
    free(v->key);
    for (i = 0; i < v->nheaders; i++) {
        free(v->headers[i].name);
        free(v->headers[i].value);
    }
    free(v->headers);
    free(v->parts);
    memset(v, 0, sizeof(*v));
}

/* ---- records ---- */

void meta_part_encode(struct meta_buf *b, const struct meta_part *p)
{
    meta_buf_u32(b, p->number);
    meta_buf_u64(b, p->size);
    meta_buf_u64(b, (uint64_t)p->mtime_ms);
    meta_buf_str(b, p->etag, strnlen(p->etag, sizeof(p->etag) - 1));
    meta_buf_str(b, p->data_id, strnlen(p->data_id, sizeof(p->data_id) - 1));
}

void meta_part_decode(struct meta_rd *r, struct meta_part *p)
{
    memset(p, 0, sizeof(*p));
    p->number = meta_rd_u32(r);
    p->size = meta_rd_u64(r);
    p->mtime_ms = (int64_t)meta_rd_u64(r);
    meta_rd_strbuf(r, p->etag, sizeof(p->etag));
    meta_rd_strbuf(r, p->data_id, sizeof(p->data_id));
}

void meta_part_csum_encode(struct meta_buf *b, const struct meta_part *p)
{
    meta_buf_u8(b, (unsigned)p->csum_algo & 0xff);
    meta_buf_str(b, p->csum, strnlen(p->csum, sizeof(p->csum) - 1));
}

void meta_part_csum_decode(struct meta_rd *r, struct meta_part *p)
{
    p->csum_algo = (int)meta_rd_u8(r);
    meta_rd_strbuf(r, p->csum, sizeof(p->csum));
}

/* The V rec of meta_int.h, every group included. */
void meta_version_encode(struct meta_buf *b, const struct meta_version *v)
{
    size_t i;
    meta_buf_u8(b, META_FORMAT);
    meta_buf_u8(b, v->delete_marker ? 1 : 0);
    meta_buf_u64(b, v->size);
    meta_buf_u64(b, (uint64_t)v->mtime_ms);
    meta_buf_u8(b, (unsigned)v->ec_data);
    meta_buf_u8(b, (unsigned)v->ec_parity);
    meta_buf_u32(b, v->stripe_size);
    meta_buf_str(b, v->version_id, strlen(v->version_id));
    meta_buf_str(b, v->etag, strnlen(v->etag, sizeof(v->etag) - 1));
    meta_buf_str(b, v->key, v->key_len);
    meta_buf_u32(b, (uint32_t)v->nheaders);
    for (i = 0; i < v->nheaders; i++) {
        meta_buf_str(b, v->headers[i].name, strlen(v->headers[i].name));
        meta_buf_str(b, v->headers[i].value, strlen(v->headers[i].value));
    }
    meta_buf_u32(b, (uint32_t)v->nparts);
    for (i = 0; i < v->nparts; i++) meta_part_encode(b, &v->parts[i]);
    meta_buf_str(b, v->data_id, strnlen(v->data_id, sizeof(v->data_id) - 1));
    meta_buf_u8(b, (unsigned)v->lock_mode);
    meta_buf_u64(b, (uint64_t)v->retain_until_ms);
    meta_buf_u8(b, v->legal_hold ? 1 : 0);
    meta_buf_str(b, v->sha256, strnlen(v->sha256, sizeof(v->sha256) - 1));
    for (i = 0; i < v->nparts; i++) meta_part_csum_encode(b, &v->parts[i]);
    if (v->sse.alg != META_SSE_NONE) {
        meta_buf_u8(b, (unsigned)v->sse.alg & 0xff);
        meta_buf_str(b, (const char *)v->sse.salt, v->sse.salt_len);
        meta_buf_str(b, (const char *)v->sse.wkey, v->sse.wkey_len);
        meta_buf_str(b, (const char *)v->sse.kid, v->sse.kid_len);
    }
}

uint64_t meta_data_size(uint64_t plain, uint32_t stripe_size, int enc)
{
    uint64_t pb;
    if (!enc || stripe_size <= META_SSE_TAG) return plain;
    pb = stripe_size - META_SSE_TAG;
    return plain + META_SSE_TAG * ((plain + pb - 1) / pb);
}

/* A binary str of at most cap bytes into p; 0, or -1 when longer. */
static int rd_bytes(struct meta_rd *r, unsigned char *p, size_t cap,
                    size_t *len)
{
    size_t n = 0;
    char *s = meta_rd_str(r, &n);
    if (s == NULL || n > cap) {
        free(s);
        if (s) r->bad = 1;
        *len = 0;
        return -1;
    }
    memcpy(p, s, n);
    *len = n;
    free(s);
    return 0;
}

enum meta_status meta_version_decode(const char *p, size_t n,
                                     struct meta_version *v)
{
    struct meta_rd r;
    uint32_t nh, np, i;

    memset(v, 0, sizeof(*v));
    meta_rd_init(&r, p, n);
    if (meta_rd_u8(&r) != META_FORMAT) goto bad;
    v->delete_marker = meta_rd_u8(&r) & 1;
    v->size = meta_rd_u64(&r);
    v->mtime_ms = (int64_t)meta_rd_u64(&r);
    v->ec_data = (int)meta_rd_u8(&r);
    v->ec_parity = (int)meta_rd_u8(&r);
    v->stripe_size = meta_rd_u32(&r);
    meta_rd_strbuf(&r, v->version_id, sizeof(v->version_id));
    meta_rd_strbuf(&r, v->etag, sizeof(v->etag));
    v->key = meta_rd_str(&r, &v->key_len);
    nh = meta_rd_u32(&r);
    if (r.bad || nh > META_MAX_HEADERS) goto bad;
    if (nh) {
        v->headers = calloc(nh, sizeof(*v->headers));
        if (v->headers == NULL) goto bad;
    }
    for (i = 0; i < nh && !r.bad; i++) {
        v->nheaders = i + 1; /* cleanup frees what was read */
        v->headers[i].name = meta_rd_str(&r, NULL);
        v->headers[i].value = meta_rd_str(&r, NULL);
    }
    if (r.bad) goto bad;
    if (meta_rd_more(&r)) { /* [optional: multipart] */
        np = meta_rd_u32(&r);
        if (r.bad || np > META_MAX_PARTS) goto bad;
        if (np) {
            v->parts = calloc(np, sizeof(*v->parts));
            if (v->parts == NULL) goto bad;
            v->nparts = np;
        }
        for (i = 0; i < np && !r.bad; i++)
            meta_part_decode(&r, &v->parts[i]);
        if (r.bad) goto bad;
    }
    if (meta_rd_more(&r)) /* [optional: data location] */
        meta_rd_strbuf(&r, v->data_id, sizeof(v->data_id));
    if (meta_rd_more(&r)) { /* [optional: Object Lock] */
        v->lock_mode = (int)meta_rd_u8(&r);
        v->retain_until_ms = (int64_t)meta_rd_u64(&r);
        v->legal_hold = (int)meta_rd_u8(&r);
    }
    if (meta_rd_more(&r)) /* [optional: content hash] */
        meta_rd_strbuf(&r, v->sha256, sizeof(v->sha256));
    if (v->nparts && meta_rd_more(&r)) /* [optional: part checksums] */
        for (i = 0; i < v->nparts && !r.bad; i++)
            meta_part_csum_decode(&r, &v->parts[i]);
    if (meta_rd_more(&r)) { /* [optional: encryption] */
        v->sse.alg = (int)meta_rd_u8(&r);
        rd_bytes(&r, v->sse.salt, sizeof(v->sse.salt), &v->sse.salt_len);
        rd_bytes(&r, v->sse.wkey, sizeof(v->sse.wkey), &v->sse.wkey_len);
        rd_bytes(&r, v->sse.kid, sizeof(v->sse.kid), &v->sse.kid_len);
        for (i = 0; i < v->nparts; i++)
            v->parts[i].enc = v->sse.alg != META_SSE_NONE;
    }
    if (r.bad) goto bad;
    if (v->data_id[0] == '\0')
        memcpy(v->data_id, v->version_id, sizeof(v->data_id));
    return META_OK;
bad:
    meta_version_cleanup(v);
    cf_log(CF_LOG_ERR, "meta: version record is corrupt");
    return META_ECORRUPT;
}

void meta_cur_encode(struct meta_buf *b, const struct meta_version *v,
                     const char *inv)
{
    meta_buf_u8(b, META_FORMAT);
    meta_buf_u8(b, v->delete_marker ? 1 : 0);
    meta_buf_u64(b, v->size);
    meta_buf_u64(b, (uint64_t)v->mtime_ms);
    meta_buf_str(b, v->version_id, strlen(v->version_id));
    meta_buf_str(b, v->etag, strnlen(v->etag, sizeof(v->etag) - 1));
    meta_buf_str(b, inv, META_SEQ_HEX);
}

int meta_cur_decode(const char *p, size_t n, struct meta_cur *c)
{
    struct meta_rd r;
    meta_rd_init(&r, p, n);
    memset(c, 0, sizeof(*c));
    if (meta_rd_u8(&r) != META_FORMAT) return -1;
    c->dm = meta_rd_u8(&r) & 1;
    c->size = meta_rd_u64(&r);
    c->mtime_ms = (int64_t)meta_rd_u64(&r);
    meta_rd_strbuf(&r, c->id, sizeof(c->id));
    meta_rd_strbuf(&r, c->etag, sizeof(c->etag));
    meta_rd_strbuf(&r, c->inv, sizeof(c->inv));
    if (r.bad || strlen(c->inv) != META_SEQ_HEX) return -1;
    return 0;
}

enum meta_status meta_cur_get(struct meta_db *m, rocksdb_readoptions_t *ro,
                              const char *bucket, const char *key,
                              size_t key_len, struct meta_cur *c)
{
    struct meta_buf k = { 0 };
    char *err = NULL, *v;
    size_t vl;
    int rc;

    meta_key_c(&k, bucket, key, key_len);
    if (k.oom) return META_ENOMEM;
    v = rocksdb_get(m->db, ro, k.p, k.len, &vl, &err);
    meta_buf_free(&k);
    if (err) return meta_err(err, "get current");
    if (v == NULL) return META_ENOTFOUND;
    rc = meta_cur_decode(v, vl, c);
    rocksdb_free(v);
    if (rc != 0) {
        cf_log(CF_LOG_ERR, "meta: current-version record in %s is corrupt",
               bucket);
        return META_ECORRUPT;
    }
    return META_OK;
}

/* ---- scanning one key's versions ---- */

/* What vfind() looks for in one scan of V/<b>\0<k>\0, newest first. */
struct vfind {
    const char *want;     /* version id to find, or NULL */
    int need_other;       /* also find the newest version != want */
    int have_newest;      /* the key has at least one version: */
    char newest_inv[META_SEQ_HEX + 1]; /* the <inv> of the newest */
    int found;            /* want was found: */
    char inv[META_SEQ_HEX + 1];
    char *val;            /* malloc'ed copy of its record */
    size_t vlen;
    int other;            /* the newest other version was found: */
    char other_inv[META_SEQ_HEX + 1];
    char *oval;           /* malloc'ed copy of its record */
    size_t olen;
};

static void vfind_free(struct vfind *f)
{
    free(f->val);
    free(f->oval);
    f->val = f->oval = NULL;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *d = malloc(n ? n : 1);
    if (d) memcpy(d, p, n);
    return d;
}

static enum meta_status vfind(struct meta_db *m, const char *bucket,
                              const char *key, size_t key_len,
                              struct vfind *f)
{
    struct meta_buf pre = { 0 };
    struct meta_iter mi = { 0 };
    rocksdb_iterator_t *it;
    enum meta_status st, ist;

    meta_key_vprefix(&pre, bucket, key, key_len);
    if (pre.oom) return META_ENOMEM;
    st = meta_iter_open(m, &mi, NULL, pre.p, pre.len);
    if (st != META_OK) goto out;
    it = mi.it;
    for (rocksdb_iter_seek(it, pre.p, pre.len); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl, idl;
        const char *k = rocksdb_iter_key(it, &kl), *v, *id;
        int is_want;

        if (kl <= pre.len + META_SEQ_HEX ||
            kl - pre.len - META_SEQ_HEX > META_VERSION_ID_MAX) {
            cf_log(CF_LOG_ERR, "meta: malformed version key in %s", bucket);
            st = META_ECORRUPT;
            break;
        }
        id = k + pre.len + META_SEQ_HEX;
        idl = kl - pre.len - META_SEQ_HEX;
        if (!f->have_newest) {
            f->have_newest = 1;
            memcpy(f->newest_inv, k + pre.len, META_SEQ_HEX);
            f->newest_inv[META_SEQ_HEX] = '\0';
        }
        is_want = f->want && strlen(f->want) == idl &&
                  memcmp(f->want, id, idl) == 0;
        if (is_want && !f->found) {
            v = rocksdb_iter_value(it, &vl);
            f->val = dup_bytes(v, vl);
            if (f->val == NULL) {
                st = META_ENOMEM;
                break;
            }
            f->vlen = vl;
            memcpy(f->inv, k + pre.len, META_SEQ_HEX);
            f->inv[META_SEQ_HEX] = '\0';
            f->found = 1;
        } else if (!is_want && f->need_other && !f->other) {
            v = rocksdb_iter_value(it, &vl);
            f->oval = dup_bytes(v, vl);
            if (f->oval == NULL) {
                st = META_ENOMEM;
                break;
            }
            f->olen = vl;
            memcpy(f->other_inv, k + pre.len, META_SEQ_HEX);
            f->other_inv[META_SEQ_HEX] = '\0';
            f->other = 1;
        }
        if ((f->want == NULL || f->found) && (!f->need_other || f->other))
            break;
    }
    ist = meta_iter_err(it, "scan versions");
    if (st == META_OK) st = ist;
out:
    meta_iter_close(&mi);
    meta_buf_free(&pre);
    return st;
}

/* The <inv> for a new version of a key whose newest version has
 * newest_inv (NULL: none): below both the process-wide sequence and the
 * newest existing one, so the new version sorts first however the wall
 * clock moved (stepped back, or a restart with a slower clock). */
static void new_inv(struct meta_db *m, const char *newest_inv,
                    char out[META_SEQ_HEX + 1])
{
    struct timeval tv;
    uint64_t now, inv;

    gettimeofday(&tv, NULL);
    now = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
    pthread_mutex_lock(&m->seq_lock);
    if (now <= m->last_seq) now = m->last_seq + 1;
    m->last_seq = now;
    pthread_mutex_unlock(&m->seq_lock);
    inv = UINT64_MAX - now;
    if (newest_inv) {
        uint64_t newest = strtoull(newest_inv, NULL, 16);
        /* cf_check: an <inv> of 0 would leave no room below it; it takes
         * 2^64 versions of one key */
        cf_check(newest > 0);
        if (inv >= newest) inv = newest - 1;
    }
    snprintf(out, META_SEQ_HEX + 1, "%016llx", (unsigned long long)inv);
}

/* ---- put ---- */

static int version_ok(const struct meta_version *v)
{
    size_t i, idl = strnlen(v->version_id, sizeof(v->version_id));
    if (!meta_key_ok(v->key, v->key_len)) return 0;
    if (idl == 0 || idl > META_VERSION_ID_MAX) return 0;
    if (strnlen(v->data_id, sizeof(v->data_id)) > META_VERSION_ID_MAX)
        return 0;
    if (v->nheaders > META_MAX_HEADERS || v->nparts > META_MAX_PARTS)
        return 0;
    if (v->nheaders && v->headers == NULL) return 0;
    if (v->nparts && v->parts == NULL) return 0;
    for (i = 0; i < v->nheaders; i++)
        if (v->headers[i].name == NULL || v->headers[i].value == NULL)
            return 0;
    return 1;
}

struct put_args {
    meta_batch_fn extra;      /* more changes for the batch, or NULL */
    void *extra_arg;
    const char *event;        /* audit entry, or NULL */
    int64_t time_ms;
    meta_check_fn pre;        /* conditional write check, or NULL */
    void *pre_arg;
};

static enum meta_status put_impl(struct meta_db *m, const char *bucket,
                                 const struct meta_version *v,
                                 struct meta_version *replaced,
                                 const struct put_args *a)
{
    struct meta_bucket b;
    struct meta_buf kv = { 0 }, kc = { 0 }, rv = { 0 }, rc = { 0 },
                    kold = { 0 };
    struct vfind f;
    pthread_rwlock_t *bl;
    pthread_mutex_t *lk;
    rocksdb_writebatch_t *wb = NULL;
    char inv[META_SEQ_HEX + 1];
    enum meta_status st;

    if (replaced) memset(replaced, 0, sizeof(*replaced));
    memset(&f, 0, sizeof(f));
    if (!version_ok(v)) return META_EINVAL;
    if (!meta_bucket_name_ok(bucket)) return META_ENOTFOUND;
    bl = meta_bucket_lock(m, bucket);
    pthread_rwlock_rdlock(bl);
    st = meta_bucket_get(m, bucket, &b);
    if (st != META_OK) goto out_unlock_bucket;
    lk = meta_stripe(m, bucket, v->key, v->key_len);
    pthread_mutex_lock(lk);
    if (a->pre) {
        /* Conditional write, judged on the current version under the key
         * lock: no other write can slip in between. */
        struct meta_version cv;
        enum meta_status gs;
        int refuse;
        gs = meta_object_get(m, bucket, v->key, v->key_len, NULL, &cv);
        if (gs != META_OK && gs != META_ENOTFOUND) {
            st = gs;
            goto out;
        }
        refuse = a->pre(gs == META_OK && !cv.delete_marker ? &cv : NULL,
                        a->pre_arg);
        meta_version_cleanup(&cv);
        if (refuse) {
            st = META_EDENIED;
            goto out;
        }
    }
    /* One scan: the version with the same id (I3: it is replaced — the
     * "null" version of an unversioned or suspended bucket), and the
     * newest version, which the new one must sort before. */
    f.want = v->version_id;
    st = vfind(m, bucket, v->key, v->key_len, &f);
    if (st != META_OK) goto out;
    new_inv(m, f.have_newest ? f.newest_inv : NULL, inv);
    wb = rocksdb_writebatch_create();
    if (f.found) {
        meta_key_v(&kold, bucket, v->key, v->key_len, f.inv, v->version_id);
        if (kold.oom) {
            st = META_ENOMEM;
            goto out;
        }
        if (replaced) {
            st = meta_version_decode(f.val, f.vlen, replaced);
            if (st != META_OK) goto out;
        }
        rocksdb_writebatch_delete(wb, kold.p, kold.len);
    }
    meta_key_v(&kv, bucket, v->key, v->key_len, inv, v->version_id);
    meta_key_c(&kc, bucket, v->key, v->key_len);
    meta_version_encode(&rv, v);
    meta_cur_encode(&rc, v, inv);
    if (kv.oom || kc.oom || rv.oom || rc.oom) {
        st = META_ENOMEM;
        goto out;
    }
    /* I2: the new version is the newest, so it is current. */
    rocksdb_writebatch_put(wb, kv.p, kv.len, rv.p, rv.len);
    rocksdb_writebatch_put(wb, kc.p, kc.len, rc.p, rc.len);
    if (a->extra) {
        /* More changes that must commit with this version (a completed
         * multipart upload's records), made under the same locks. */
        st = a->extra(m, wb, a->extra_arg);
        if (st != META_OK) goto out;
    }
    if (a->event)
        st = meta_audit_commit(m, wb, a->time_ms, a->event);
    else
        st = meta_write(m, wb, "commit version");
out:
    pthread_mutex_unlock(lk);
out_unlock_bucket:
    pthread_rwlock_unlock(bl);
    if (st != META_OK && replaced) meta_version_cleanup(replaced);
    if (wb) rocksdb_writebatch_destroy(wb);
    vfind_free(&f);
    meta_buf_free(&kv);
    meta_buf_free(&kc);
    meta_buf_free(&rv);
    meta_buf_free(&rc);
    meta_buf_free(&kold);
    return st;
}

enum meta_status meta_object_put(struct meta_db *m, const char *bucket,
                                 const struct meta_version *v,
                                 struct meta_version *replaced)
{
    const struct put_args a = { 0 };
    return put_impl(m, bucket, v, replaced, &a);
}

enum meta_status meta_object_put_ex(struct meta_db *m, const char *bucket,
                                    const struct meta_version *v,
                                    struct meta_version *replaced,
                                    meta_batch_fn extra, void *extra_arg)
{
    const struct put_args a = { .extra = extra, .extra_arg = extra_arg };
    return put_impl(m, bucket, v, replaced, &a);
}

enum meta_status meta_object_put_full(struct meta_db *m, const char *bucket,
                                      const struct meta_version *v,
                                      struct meta_version *replaced,
                                      meta_batch_fn extra, void *extra_arg,
                                      meta_check_fn pre, void *pre_arg,
                                      int64_t time_ms, const char *event)
{
    const struct put_args a = { .extra = extra, .extra_arg = extra_arg,
                                .event = event, .time_ms = time_ms,
                                .pre = pre, .pre_arg = pre_arg };
    return put_impl(m, bucket, v, replaced, &a);
}

enum meta_status meta_object_put_audited(struct meta_db *m,
                                         const char *bucket,
                                         const struct meta_version *v,
                                         struct meta_version *replaced,
                                         int64_t time_ms, const char *event)
{
    const struct put_args a = { .event = event, .time_ms = time_ms };
    return put_impl(m, bucket, v, replaced, &a);
}

enum meta_status meta_object_put_if(struct meta_db *m, const char *bucket,
                                    const struct meta_version *v,
                                    struct meta_version *replaced,
                                    meta_check_fn pre, void *pre_arg,
                                    int64_t time_ms, const char *event)
{
    const struct put_args a = { .event = event, .time_ms = time_ms,
                                .pre = pre, .pre_arg = pre_arg };
    return put_impl(m, bucket, v, replaced, &a);
}

/* ---- get ---- */

/* The current version: C/ then the V/ record it names, both read from one
 * snapshot. Without it a concurrent overwrite could remove the V/ record
 * between the two reads and a healthy catalog would look corrupt. */
static enum meta_status get_current(struct meta_db *m, const char *bucket,
                                    const char *key, size_t key_len,
                                    struct meta_version *out)
{
    /* a secondary instance has no snapshots; its view is fixed at open */
    const rocksdb_snapshot_t *snap =
        m->readonly ? NULL : rocksdb_create_snapshot(m->db);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    struct meta_buf k = { 0 };
    struct meta_cur c;
    char *err = NULL, *v = NULL;
    size_t vl;
    enum meta_status st;

    if (snap) rocksdb_readoptions_set_snapshot(ro, snap);
    st = meta_cur_get(m, ro, bucket, key, key_len, &c);
    if (st != META_OK) goto out;
    meta_key_v(&k, bucket, key, key_len, c.inv, c.id);
    if (k.oom) {
        st = META_ENOMEM;
        goto out;
    }
    v = rocksdb_get(m->db, ro, k.p, k.len, &vl, &err);
    if (err) {
        st = meta_err(err, "get version");
        goto out;
    }
    if (v == NULL) {
        /* I2 broken: a pointer without its version */
        cf_log(CF_LOG_ERR, "meta: current version %s of a key in %s is "
               "missing", c.id, bucket);
        st = META_ECORRUPT;
        goto out;
    }
    st = meta_version_decode(v, vl, out);
out:
    rocksdb_free(v);
    meta_buf_free(&k);
    rocksdb_readoptions_destroy(ro);
    if (snap) rocksdb_release_snapshot(m->db, snap);
    return st;
}

enum meta_status meta_object_get(struct meta_db *m, const char *bucket,
                                 const char *key, size_t key_len,
                                 const char *version_id,
                                 struct meta_version *out)
{
    struct vfind f;
    enum meta_status st;

    memset(out, 0, sizeof(*out));
    /* A key that cannot be stored is not there. */
    if (!meta_key_ok(key, key_len) || !meta_bucket_name_ok(bucket))
        return META_ENOTFOUND;
    if (version_id == NULL)
        return get_current(m, bucket, key, key_len, out);
    memset(&f, 0, sizeof(f));
    f.want = version_id;
    st = vfind(m, bucket, key, key_len, &f); /* an iterator: one snapshot */
    if (st == META_OK && !f.found) st = META_ENOTFOUND;
    if (st == META_OK) st = meta_version_decode(f.val, f.vlen, out);
    vfind_free(&f);
    return st;
}

/* ---- delete ---- */

enum meta_status meta_object_delete(struct meta_db *m, const char *bucket,
                                    const char *key, size_t key_len,
                                    const char *version_id,
                                    struct meta_version *removed)
{
    return meta_object_delete_if(m, bucket, key, key_len, version_id, NULL,
                                 NULL, removed);
}

enum meta_status meta_object_delete_if(struct meta_db *m, const char *bucket,
                                       const char *key, size_t key_len,
                                       const char *version_id,
                                       meta_check_fn check, void *check_arg,
                                       struct meta_version *removed)
{
    struct vfind f;
    struct meta_cur c;
    struct meta_buf kd = { 0 }, kc = { 0 }, rc = { 0 };
    pthread_rwlock_t *bl;
    pthread_mutex_t *lk;
    rocksdb_writebatch_t *wb = NULL;
    struct meta_version victim, next;
    enum meta_status st;
    int have_cur;

    if (removed) memset(removed, 0, sizeof(*removed));
    memset(&victim, 0, sizeof(victim));
    memset(&next, 0, sizeof(next));
    memset(&f, 0, sizeof(f));
    if (!meta_key_ok(key, key_len) || !meta_bucket_name_ok(bucket))
        return META_ENOTFOUND;
    bl = meta_bucket_lock(m, bucket);
    pthread_rwlock_rdlock(bl);
    lk = meta_stripe(m, bucket, key, key_len);
    pthread_mutex_lock(lk);
    st = meta_cur_get(m, m->ropts, bucket, key, key_len, &c);
    have_cur = st == META_OK;
    if (st != META_OK && st != META_ENOTFOUND) goto out;
    if (version_id == NULL && !have_cur) {
        st = META_ENOTFOUND;
        goto out;
    }
    f.want = version_id ? version_id : c.id;
    /* If the current version goes, the next newest (delete markers
     * included) becomes current: find it in the same scan. */
    f.need_other = have_cur && strcmp(f.want, c.id) == 0;
    st = vfind(m, bucket, key, key_len, &f);
    if (st != META_OK) goto out;
    if (!f.found) {
        st = META_ENOTFOUND;
        goto out;
    }
    st = meta_version_decode(f.val, f.vlen, &victim);
    if (st != META_OK) goto out;
    /* The WORM check runs under the key's lock: nothing can change the
     * version between the decision and the commit. */
    if (check && check(&victim, check_arg) != 0) {
        st = META_EDENIED;
        goto out;
    }
    wb = rocksdb_writebatch_create();
    meta_key_v(&kd, bucket, key, key_len, f.inv, victim.version_id);
    meta_key_c(&kc, bucket, key, key_len);
    if (kd.oom || kc.oom) {
        st = META_ENOMEM;
        goto out;
    }
    rocksdb_writebatch_delete(wb, kd.p, kd.len);
    if (f.need_other) {
        if (f.other) {
            st = meta_version_decode(f.oval, f.olen, &next);
            if (st != META_OK) goto out;
            meta_cur_encode(&rc, &next, f.other_inv);
            if (rc.oom) {
                st = META_ENOMEM;
                goto out;
            }
            rocksdb_writebatch_put(wb, kc.p, kc.len, rc.p, rc.len);
        } else {
            /* I2: the last version went, so does the pointer */
            rocksdb_writebatch_delete(wb, kc.p, kc.len);
        }
    }
    st = meta_write(m, wb, "delete version");
    if (st == META_OK && removed) {
        *removed = victim;
        memset(&victim, 0, sizeof(victim));
    }
out:
    pthread_mutex_unlock(lk);
    pthread_rwlock_unlock(bl);
    if (wb) rocksdb_writebatch_destroy(wb);
    meta_version_cleanup(&victim);
    meta_version_cleanup(&next);
    vfind_free(&f);
    meta_buf_free(&kd);
    meta_buf_free(&kc);
    meta_buf_free(&rc);
    return st;
}

/* ---- update in place ---- */

enum meta_status meta_object_update(struct meta_db *m, const char *bucket,
                                    const char *key, size_t key_len,
                                    const char *version_id, meta_check_fn fn,
                                    void *arg)
{
    return meta_object_update_audited(m, bucket, key, key_len, version_id,
                                      fn, arg, 0, NULL);
}

enum meta_status meta_object_update_audited(struct meta_db *m,
                                            const char *bucket,
                                            const char *key, size_t key_len,
                                            const char *version_id,
                                            meta_check_fn fn, void *arg,
                                            int64_t time_ms, const char *event)
{
    pthread_rwlock_t *bl;
    pthread_mutex_t *lk;
    struct vfind f;
    struct meta_cur c;
    struct meta_version v;
    struct meta_buf k = { 0 }, val = { 0 }, kc = { 0 }, rc = { 0 };
    rocksdb_writebatch_t *wb = NULL;
    char vid[META_VERSION_ID_MAX + 1];
    enum meta_status st;

    memset(&f, 0, sizeof(f));
    memset(&v, 0, sizeof(v));
    if (!meta_key_ok(key, key_len) || !meta_bucket_name_ok(bucket))
        return META_ENOTFOUND;
    bl = meta_bucket_lock(m, bucket);
    pthread_rwlock_rdlock(bl);
    lk = meta_stripe(m, bucket, key, key_len);
    pthread_mutex_lock(lk);
    if (version_id == NULL) {
        st = meta_cur_get(m, m->ropts, bucket, key, key_len, &c);
        if (st != META_OK) goto out;
        f.want = c.id;
    } else {
        f.want = version_id;
    }
    st = vfind(m, bucket, key, key_len, &f);
    if (st == META_OK && !f.found) st = META_ENOTFOUND;
    if (st != META_OK) goto out;
    st = meta_version_decode(f.val, f.vlen, &v);
    if (st != META_OK) goto out;
    memcpy(vid, v.version_id, sizeof(vid));
    if (fn(&v, arg) != 0) {
        st = META_EDENIED;
        goto out;
    }
    /* The record stays where it is: its identity may not change. */
    if (!version_ok(&v) || strcmp(vid, v.version_id) != 0 ||
        v.key_len != key_len || memcmp(v.key, key, key_len) != 0) {
        st = META_EINVAL;
        goto out;
    }
    wb = rocksdb_writebatch_create();
    meta_key_v(&k, bucket, key, key_len, f.inv, vid);
    meta_version_encode(&val, &v);
    if (strcmp(f.inv, f.newest_inv) == 0) {
        /* I2: the current pointer mirrors the newest version's fields */
        meta_key_c(&kc, bucket, key, key_len);
        meta_cur_encode(&rc, &v, f.inv);
    }
    if (k.oom || val.oom || kc.oom || rc.oom) {
        st = META_ENOMEM;
        goto out;
    }
    rocksdb_writebatch_put(wb, k.p, k.len, val.p, val.len);
    if (kc.len) rocksdb_writebatch_put(wb, kc.p, kc.len, rc.p, rc.len);
    if (event)
        st = meta_audit_commit(m, wb, time_ms, event);
    else
        st = meta_write(m, wb, "update version");
out:
    pthread_mutex_unlock(lk);
    pthread_rwlock_unlock(bl);
    if (wb) rocksdb_writebatch_destroy(wb);
    vfind_free(&f);
    meta_version_cleanup(&v);
    meta_buf_free(&k);
    meta_buf_free(&val);
    meta_buf_free(&kc);
    meta_buf_free(&rc);
    return st;
}
