/* meta_object.c: object versions, current pointers and listings.
 * Every mutation of one (bucket, key) happens under its stripe lock and is
 * one synced write batch: the V/ record(s) and the C/ pointer change
 * together, so the invariant in meta_int.h holds after any crash. */
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

void meta_part_encode(struct meta_buf *b, const struct meta_part *p)
{
    meta_buf_u32(b, p->number);
    meta_buf_u64(b, p->size);
    meta_buf_u64(b, (uint64_t)p->mtime_ms);
    meta_buf_str(b, p->etag, strlen(p->etag));
    meta_buf_str(b, p->data_id, strlen(p->data_id));
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

static pthread_mutex_t *stripe(struct meta_db *m, const char *bucket,
                               const char *key, size_t key_len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    size_t i;
    for (i = 0; bucket[i]; i++) h = (h ^ (unsigned char)bucket[i]) * 16777619u;
    h = (h ^ 0) * 16777619u;
    for (i = 0; i < key_len; i++) h = (h ^ (unsigned char)key[i]) * 16777619u;
    return &m->stripes[h % META_LOCK_STRIPES];
}

/* A strictly increasing sequence from the wall clock in microseconds, so
 * versions written later sort first even within one microsecond. */
static uint64_t next_seq(struct meta_db *m)
{
    struct timeval tv;
    uint64_t now;
    gettimeofday(&tv, NULL);
    now = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
    pthread_mutex_lock(&m->seq_lock);
    if (now <= m->last_seq) now = m->last_seq + 1;
    m->last_seq = now;
    pthread_mutex_unlock(&m->seq_lock);
    return now;
}

static void version_encode(struct meta_buf *b, const struct meta_version *v)
{
    size_t i;
    meta_buf_u8(b, 1);
    meta_buf_u8(b, v->delete_marker ? 1 : 0);
    meta_buf_u64(b, v->size);
    meta_buf_u64(b, (uint64_t)v->mtime_ms);
    meta_buf_u8(b, (unsigned)v->ec_data);
    meta_buf_u8(b, (unsigned)v->ec_parity);
    meta_buf_u32(b, v->stripe_size);
    meta_buf_str(b, v->version_id, strlen(v->version_id));
    meta_buf_str(b, v->etag, strlen(v->etag));
    meta_buf_str(b, v->key, v->key_len);
    meta_buf_u32(b, (uint32_t)v->nheaders);
    for (i = 0; i < v->nheaders; i++) {
        meta_buf_str(b, v->headers[i].name, strlen(v->headers[i].name));
        meta_buf_str(b, v->headers[i].value, strlen(v->headers[i].value));
    }
    meta_buf_u32(b, (uint32_t)v->nparts);
    for (i = 0; i < v->nparts; i++) meta_part_encode(b, &v->parts[i]);
    meta_buf_str(b, v->data_id, strlen(v->data_id));
    meta_buf_u8(b, (unsigned)v->lock_mode);
    meta_buf_u64(b, (uint64_t)v->retain_until_ms);
    meta_buf_u8(b, v->legal_hold ? 1 : 0);
}

static enum meta_status version_decode(const char *p, size_t n,
                                       struct meta_version *v)
{
    struct meta_rd r = { (const unsigned char *)p,
                         (const unsigned char *)p + n, 0 };
    uint32_t nh, i;

    memset(v, 0, sizeof(*v));
    if (meta_rd_u8(&r) != 1) goto bad;
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
    if (r.bad || nh > 4096) goto bad;
    v->headers = calloc(nh ? nh : 1, sizeof(*v->headers));
    if (v->headers == NULL) goto bad;
    for (i = 0; i < nh && !r.bad; i++) {
        v->headers[i].name = meta_rd_str(&r, NULL);
        v->headers[i].value = meta_rd_str(&r, NULL);
        v->nheaders = i + 1;
    }
    if (r.bad) goto bad;
    if (r.p < r.end) { /* parts, for multipart objects */
        uint32_t np = meta_rd_u32(&r);
        if (r.bad || np > META_MAX_PARTS) goto bad;
        if (np) {
            v->parts = calloc(np, sizeof(*v->parts));
            if (v->parts == NULL) goto bad;
            for (i = 0; i < np && !r.bad; i++)
                meta_part_decode(&r, &v->parts[i]);
            v->nparts = np;
        }
        if (r.bad) goto bad;
    }
    if (r.p < r.end) meta_rd_strbuf(&r, v->data_id, sizeof(v->data_id));
    if (!r.bad && r.p < r.end) { /* Object Lock state */
        v->lock_mode = (int)meta_rd_u8(&r);
        v->retain_until_ms = (int64_t)meta_rd_u64(&r);
        v->legal_hold = (int)meta_rd_u8(&r);
    }
    if (r.bad) goto bad;
    if (v->data_id[0] == '\0') memcpy(v->data_id, v->version_id,
                                       sizeof(v->data_id));
    return META_OK;
bad:
    meta_version_cleanup(v);
    cf_log(CF_LOG_ERR, "meta: version record is corrupt");
    return META_ECORRUPT;
}

/* The current-pointer record. */
struct cur {
    int dm;
    uint64_t size;
    int64_t mtime_ms;
    char id[META_VERSION_ID_MAX + 1];
    char etag[72];
    char seq[META_SEQ_HEX + 1];
};

static void cur_encode(struct meta_buf *b, const struct meta_version *v,
                       const char *seq)
{
    meta_buf_u8(b, 1);
    meta_buf_u8(b, v->delete_marker ? 1 : 0);
    meta_buf_u64(b, v->size);
    meta_buf_u64(b, (uint64_t)v->mtime_ms);
    meta_buf_str(b, v->version_id, strlen(v->version_id));
    meta_buf_str(b, v->etag, strlen(v->etag));
    meta_buf_str(b, seq, META_SEQ_HEX);
}

static int cur_decode(const char *p, size_t n, struct cur *c)
{
    struct meta_rd r = { (const unsigned char *)p,
                         (const unsigned char *)p + n, 0 };
    if (meta_rd_u8(&r) != 1) return -1;
    c->dm = meta_rd_u8(&r) & 1;
    c->size = meta_rd_u64(&r);
    c->mtime_ms = (int64_t)meta_rd_u64(&r);
    meta_rd_strbuf(&r, c->id, sizeof(c->id));
    meta_rd_strbuf(&r, c->etag, sizeof(c->etag));
    meta_rd_strbuf(&r, c->seq, sizeof(c->seq));
    return r.bad ? -1 : 0;
}

static enum meta_status cur_get(struct meta_db *m, const char *bucket,
                                const char *key, size_t key_len,
                                struct cur *c)
{
    struct meta_buf k = { 0 };
    char *err = NULL, *v;
    size_t vl;
    int rc;

    meta_key_c(&k, bucket, key, key_len);
    if (k.oom) return META_ENOMEM;
    v = rocksdb_get(m->db, m->ropts, k.p, k.len, &vl, &err);
    meta_buf_free(&k);
    if (err) return meta_err(err, "get current");
    if (v == NULL) return META_ENOTFOUND;
    rc = cur_decode(v, vl, c);
    rocksdb_free(v);
    if (rc != 0) {
        cf_log(CF_LOG_ERR, "meta: current-version record is corrupt");
        return META_ECORRUPT;
    }
    return META_OK;
}

static int key_ok(const char *key, size_t key_len)
{
    return key_len > 0 && key_len <= META_KEY_MAX &&
           memchr(key, '\0', key_len) == NULL;
}

/* Scans V/<b>\0<k>\0 newest first. For each version calls fn with the seq
 * hex and the raw record; fn returns non-zero to stop. */
typedef int (*vscan_fn)(const char *seq, const char *id, const char *val,
                        size_t vlen, void *arg);

static enum meta_status vscan(struct meta_db *m, const char *bucket,
                              const char *key, size_t key_len, vscan_fn fn,
                              void *arg)
{
    struct meta_buf pre = { 0 };
    rocksdb_iterator_t *it;
    enum meta_status st = META_OK;

    meta_key_vprefix(&pre, bucket, key, key_len);
    if (pre.oom) return META_ENOMEM;
    it = rocksdb_create_iterator(m->db, m->ropts);
    for (rocksdb_iter_seek(it, pre.p, pre.len); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl), *v;
        char seq[META_SEQ_HEX + 1], id[META_VERSION_ID_MAX + 1];
        size_t idl;
        if (kl < pre.len || memcmp(k, pre.p, pre.len) != 0) break;
        if (kl < pre.len + META_SEQ_HEX) {
            st = META_ECORRUPT;
            break;
        }
        memcpy(seq, k + pre.len, META_SEQ_HEX);
        seq[META_SEQ_HEX] = '\0';
        idl = kl - pre.len - META_SEQ_HEX;
        if (idl > META_VERSION_ID_MAX) {
            st = META_ECORRUPT;
            break;
        }
        memcpy(id, k + pre.len + META_SEQ_HEX, idl);
        id[idl] = '\0';
        v = rocksdb_iter_value(it, &vl);
        if (fn(seq, id, v, vl, arg) != 0) break;
    }
    {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        if (err) st = meta_err(err, "scan versions");
    }
    rocksdb_iter_destroy(it);
    meta_buf_free(&pre);
    return st;
}

static void vkey(struct meta_buf *b, const char *bucket, const char *key,
                 size_t key_len, const char *seq, const char *id)
{
    meta_key_vprefix(b, bucket, key, key_len);
    meta_buf_put(b, seq, META_SEQ_HEX);
    meta_buf_put(b, id, strlen(id));
}

struct find_ctx {
    const char *want;     /* version id, or NULL for the first */
    const char *skip;     /* version id to pass over, or NULL */
    char seq[META_SEQ_HEX + 1];
    char *val;            /* malloc'ed copy of the record */
    size_t vlen;
    int found;
};

static int find_cb(const char *seq, const char *id, const char *val,
                   size_t vlen, void *arg)
{
    struct find_ctx *f = arg;
    if (f->skip && strcmp(id, f->skip) == 0) return 0;
    if (f->want && strcmp(id, f->want) != 0) return 0;
    f->val = malloc(vlen ? vlen : 1);
    if (f->val == NULL) return 1;
    memcpy(f->val, val, vlen);
    f->vlen = vlen;
    memcpy(f->seq, seq, sizeof(f->seq));
    f->found = 1;
    return 1;
}

enum meta_status meta_object_put(struct meta_db *m, const char *bucket,
                                 const struct meta_version *v,
                                 struct meta_version *replaced)
{
    return meta_object_put_ex(m, bucket, v, replaced, NULL, NULL);
}

static enum meta_status put_impl(struct meta_db *m, const char *bucket,
                                 const struct meta_version *v,
                                 struct meta_version *replaced,
                                 meta_batch_fn extra, void *extra_arg,
                                 int64_t audit_ms, const char *audit_event,
                                 meta_check_fn pre, void *pre_arg);

enum meta_status meta_object_put_ex(struct meta_db *m, const char *bucket,
                                    const struct meta_version *v,
                                    struct meta_version *replaced,
                                    meta_batch_fn extra, void *extra_arg)
{
    return put_impl(m, bucket, v, replaced, extra, extra_arg, 0, NULL, NULL,
                    NULL);
}

enum meta_status meta_object_put_audited(struct meta_db *m,
                                         const char *bucket,
                                         const struct meta_version *v,
                                         struct meta_version *replaced,
                                         int64_t time_ms, const char *event)
{
    return put_impl(m, bucket, v, replaced, NULL, NULL, time_ms, event, NULL,
                    NULL);
}

enum meta_status meta_object_put_if(struct meta_db *m, const char *bucket,
                                    const struct meta_version *v,
                                    struct meta_version *replaced,
                                    meta_check_fn pre, void *pre_arg,
                                    int64_t time_ms, const char *event)
{
    return put_impl(m, bucket, v, replaced, NULL, NULL, time_ms, event, pre,
                    pre_arg);
}

static enum meta_status put_impl(struct meta_db *m, const char *bucket,
                                 const struct meta_version *v,
                                 struct meta_version *replaced,
                                 meta_batch_fn extra, void *extra_arg,
                                 int64_t audit_ms, const char *audit_event,
                                 meta_check_fn pre, void *pre_arg)
{
    struct meta_bucket b;
    struct meta_buf kv = { 0 }, kc = { 0 }, rv = { 0 }, rc = { 0 },
                    kold = { 0 };
    pthread_mutex_t *lk;
    rocksdb_writebatch_t *wb = NULL;
    char seq[META_SEQ_HEX + 1], *err = NULL;
    enum meta_status st;

    if (replaced) memset(replaced, 0, sizeof(*replaced));
    if (!key_ok(v->key, v->key_len) || v->version_id[0] == '\0')
        return META_EINVAL;
    pthread_rwlock_rdlock(&m->buckets);
    st = meta_bucket_get(m, bucket, &b);
    if (st != META_OK) goto out_unlock_b;
    lk = stripe(m, bucket, v->key, v->key_len);
    pthread_mutex_lock(lk);
    if (pre) {
        /* Conditional write: judged on the current version under the key
         * lock, so no other write can slip in between. */
        struct meta_version cur_v;
        enum meta_status gs;
        int refuse;
        memset(&cur_v, 0, sizeof(cur_v));
        gs = meta_object_get(m, bucket, v->key, v->key_len, NULL, &cur_v);
        if (gs != META_OK && gs != META_ENOTFOUND) {
            st = gs;
            goto out;
        }
        refuse = pre(gs == META_OK && !cur_v.delete_marker ? &cur_v : NULL,
                     pre_arg);
        meta_version_cleanup(&cur_v);
        if (refuse) {
            st = META_EDENIED;
            goto out;
        }
    }
    snprintf(seq, sizeof(seq), "%016llx",
             (unsigned long long)(UINT64_MAX - next_seq(m)));
    wb = rocksdb_writebatch_create();
    /* A version with the same id is replaced: the "null" version of an
     * unversioned or suspended bucket (AWS semantics). */
    {
        struct find_ctx f;
        memset(&f, 0, sizeof(f));
        f.want = v->version_id;
        st = vscan(m, bucket, v->key, v->key_len, find_cb, &f);
        if (st != META_OK) goto out;
        if (f.found) {
            vkey(&kold, bucket, v->key, v->key_len, f.seq, v->version_id);
            if (replaced) st = version_decode(f.val, f.vlen, replaced);
            free(f.val);
            if (kold.oom) st = META_ENOMEM;
            if (st != META_OK) goto out;
            rocksdb_writebatch_delete(wb, kold.p, kold.len);
        }
    }
    vkey(&kv, bucket, v->key, v->key_len, seq, v->version_id);
    meta_key_c(&kc, bucket, v->key, v->key_len);
    version_encode(&rv, v);
    cur_encode(&rc, v, seq);
    if (kv.oom || kc.oom || rv.oom || rc.oom) {
        st = META_ENOMEM;
        goto out;
    }
    rocksdb_writebatch_put(wb, kv.p, kv.len, rv.p, rv.len);
    rocksdb_writebatch_put(wb, kc.p, kc.len, rc.p, rc.len);
    if (extra) {
        /* More changes that must commit with this version (a completed
         * multipart upload's records), checked under the same locks. */
        st = extra(m, wb, extra_arg);
        if (st != META_OK) goto out;
    }
    if (audit_event) {
        struct meta_audit_pending ap;
        st = meta_audit_begin(m, wb, audit_ms, audit_event, &ap);
        if (st != META_OK) goto out;
        rocksdb_write(m->db, m->wsync, wb, &err);
        st = meta_err(err, "commit version");
        meta_audit_end(m, &ap, st == META_OK);
        goto out;
    }
    rocksdb_write(m->db, m->wsync, wb, &err);
    st = meta_err(err, "commit version");
out:
    if (st != META_OK && replaced) meta_version_cleanup(replaced);
    pthread_mutex_unlock(lk);
out_unlock_b:
    pthread_rwlock_unlock(&m->buckets);
    if (wb) rocksdb_writebatch_destroy(wb);
    meta_buf_free(&kv);
    meta_buf_free(&kc);
    meta_buf_free(&rv);
    meta_buf_free(&rc);
    meta_buf_free(&kold);
    return st;
}

enum meta_status meta_object_get(struct meta_db *m, const char *bucket,
                                 const char *key, size_t key_len,
                                 const char *version_id,
                                 struct meta_version *out)
{
    struct find_ctx f;
    enum meta_status st;

    memset(out, 0, sizeof(*out));
    if (!key_ok(key, key_len)) return META_ENOTFOUND;
    memset(&f, 0, sizeof(f));
    if (version_id == NULL) {
        struct cur c;
        struct meta_buf k = { 0 };
        char *err = NULL, *v;
        size_t vl;
        st = cur_get(m, bucket, key, key_len, &c);
        if (st != META_OK) return st;
        vkey(&k, bucket, key, key_len, c.seq, c.id);
        if (k.oom) return META_ENOMEM;
        v = rocksdb_get(m->db, m->ropts, k.p, k.len, &vl, &err);
        meta_buf_free(&k);
        if (err) return meta_err(err, "get version");
        if (v == NULL) {
            /* A pointer with no version breaks the invariant. */
            cf_log(CF_LOG_ERR, "meta: current version %s of a key in %s is "
                   "missing", c.id, bucket);
            return META_ECORRUPT;
        }
        st = version_decode(v, vl, out);
        rocksdb_free(v);
        return st;
    }
    f.want = version_id;
    st = vscan(m, bucket, key, key_len, find_cb, &f);
    if (st == META_OK && !f.found) st = META_ENOTFOUND;
    if (st == META_OK) st = version_decode(f.val, f.vlen, out);
    free(f.val);
    return st;
}

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
    struct find_ctx f, nx;
    struct cur c;
    struct meta_buf kd = { 0 }, kc = { 0 }, nk = { 0 }, rc = { 0 };
    pthread_mutex_t *lk;
    rocksdb_writebatch_t *wb = NULL;
    struct meta_version victim, next;
    char *err = NULL;
    enum meta_status st;
    int have_cur;

    if (removed) memset(removed, 0, sizeof(*removed));
    memset(&victim, 0, sizeof(victim));
    memset(&next, 0, sizeof(next));
    memset(&f, 0, sizeof(f));
    memset(&nx, 0, sizeof(nx));
    if (!key_ok(key, key_len)) return META_ENOTFOUND;
    pthread_rwlock_rdlock(&m->buckets);
    lk = stripe(m, bucket, key, key_len);
    pthread_mutex_lock(lk);
    st = cur_get(m, bucket, key, key_len, &c);
    have_cur = st == META_OK;
    if (st != META_OK && st != META_ENOTFOUND) goto out;
    if (version_id == NULL) {
        if (!have_cur) {
            st = META_ENOTFOUND;
            goto out;
        }
        f.want = c.id;
    } else {
        f.want = version_id;
    }
    st = vscan(m, bucket, key, key_len, find_cb, &f);
    if (st != META_OK) goto out;
    if (!f.found) {
        st = META_ENOTFOUND;
        goto out;
    }
    st = version_decode(f.val, f.vlen, &victim);
    if (st != META_OK) goto out;
    /* The WORM check runs under the key's lock: nothing can change the
     * version between the decision and the commit. */
    if (check && check(&victim, check_arg) != 0) {
        st = META_EDENIED;
        goto out;
    }
    wb = rocksdb_writebatch_create();
    vkey(&kd, bucket, key, key_len, f.seq, victim.version_id);
    meta_key_c(&kc, bucket, key, key_len);
    if (kd.oom || kc.oom) {
        st = META_ENOMEM;
        goto out;
    }
    rocksdb_writebatch_delete(wb, kd.p, kd.len);
    if (have_cur && strcmp(c.id, victim.version_id) == 0) {
        /* The current version goes: the next newest becomes current. */
        nx.skip = victim.version_id;
        st = vscan(m, bucket, key, key_len, find_cb, &nx);
        if (st != META_OK) goto out;
        if (nx.found) {
            st = version_decode(nx.val, nx.vlen, &next);
            if (st != META_OK) goto out;
            cur_encode(&rc, &next, nx.seq);
            if (rc.oom) {
                st = META_ENOMEM;
                goto out;
            }
            rocksdb_writebatch_put(wb, kc.p, kc.len, rc.p, rc.len);
        } else {
            rocksdb_writebatch_delete(wb, kc.p, kc.len);
        }
    }
    rocksdb_write(m->db, m->wsync, wb, &err);
    st = meta_err(err, "delete version");
    if (st == META_OK && removed) {
        *removed = victim;
        memset(&victim, 0, sizeof(victim));
    }
out:
    pthread_mutex_unlock(lk);
    pthread_rwlock_unlock(&m->buckets);
    if (wb) rocksdb_writebatch_destroy(wb);
    meta_version_cleanup(&victim);
    meta_version_cleanup(&next);
    free(f.val);
    free(nx.val);
    meta_buf_free(&kd);
    meta_buf_free(&kc);
    meta_buf_free(&nk);
    meta_buf_free(&rc);
    return st;
}

/* ---- listings ---- */

void meta_list_result_cleanup(struct meta_list_result *r)
{
    size_t i;
    if (r == NULL) return;
    for (i = 0; i < r->nentries; i++) free(r->entries[i].key);
    free(r->entries);
    free(r->next_marker);
    memset(r, 0, sizeof(*r));
}

/* Smallest string greater than every string that starts with s: s with its
 * last non-0xff byte incremented and the rest dropped. 0 if none exists. */
static size_t successor(char *s, size_t n)
{
    while (n > 0 && (unsigned char)s[n - 1] == 0xff) n--;
    if (n == 0) return 0;
    s[n - 1] = (char)((unsigned char)s[n - 1] + 1);
    return n;
}

static int mem_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

static int add_entry(struct meta_list_result *r, size_t *cap, const char *k,
                     size_t kl, int is_prefix, const struct cur *c)
{
    struct meta_list_entry *e;
    if (r->nentries == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        void *np = realloc(r->entries, nc * sizeof(*r->entries));
        if (np == NULL) return -1;
        r->entries = np;
        *cap = nc;
    }
    e = &r->entries[r->nentries];
    memset(e, 0, sizeof(*e));
    e->key = malloc(kl + 1);
    if (e->key == NULL) return -1;
    memcpy(e->key, k, kl);
    e->key[kl] = '\0';
    e->key_len = kl;
    e->is_prefix = is_prefix;
    if (c) {
        e->size = c->size;
        e->mtime_ms = c->mtime_ms;
        memcpy(e->etag, c->etag, sizeof(e->etag));
        memcpy(e->version_id, c->id, sizeof(e->version_id));
    }
    r->nentries++;
    return 0;
}

enum meta_status meta_list_objects(struct meta_db *m, const char *bucket,
                                   const struct meta_list_params *p,
                                   struct meta_list_result *out)
{
    struct meta_buf base = { 0 }, seek = { 0 };
    rocksdb_iterator_t *it;
    enum meta_status st = META_OK;
    size_t cap = 0, blen, maxk = p->max_keys > 1000 ? 1000 : p->max_keys;
    char *err = NULL;

    memset(out, 0, sizeof(*out));
    if (maxk == 0) return META_OK;
    meta_buf_put(&base, "C/", 2);
    meta_buf_put(&base, bucket, strlen(bucket) + 1);
    blen = base.len;
    /* Start at the later of prefix and start_after. */
    meta_buf_put(&seek, base.p, base.len);
    if (p->start_after_len &&
        mem_cmp(p->start_after, p->start_after_len, p->prefix,
                p->prefix_len) >= 0)
        meta_buf_put(&seek, p->start_after, p->start_after_len);
    else
        meta_buf_put(&seek, p->prefix, p->prefix_len);
    if (base.oom || seek.oom) {
        meta_buf_free(&base);
        meta_buf_free(&seek);
        return META_ENOMEM;
    }
    it = rocksdb_create_iterator(m->db, m->ropts);
    rocksdb_iter_seek(it, seek.p, seek.len);
    while (rocksdb_iter_valid(it)) {
        size_t kl, vl, klen;
        const char *k = rocksdb_iter_key(it, &kl), *key, *v;
        const char *d;
        struct cur c;

        if (kl < blen || memcmp(k, base.p, blen) != 0) break;
        key = k + blen;
        klen = kl - blen;
        if (klen < p->prefix_len ||
            memcmp(key, p->prefix, p->prefix_len) != 0)
            break; /* past the prefix: keys sort, nothing later matches */
        if (p->start_after_len &&
            mem_cmp(key, klen, p->start_after, p->start_after_len) <= 0) {
            rocksdb_iter_next(it);
            continue;
        }
        d = NULL;
        if (p->delimiter_len && klen >= p->prefix_len + p->delimiter_len)
            d = memmem(key + p->prefix_len, klen - p->prefix_len,
                       p->delimiter, p->delimiter_len);
        if (d) {
            size_t cpl = (size_t)(d - key) + p->delimiter_len;
            char *succ;
            size_t sl;
            int skip = p->start_after_len == cpl &&
                       memcmp(p->start_after, key, cpl) == 0;
            if (!skip) {
                if (out->nentries == maxk) {
                    out->truncated = 1;
                    break;
                }
                if (add_entry(out, &cap, key, cpl, 1, NULL) != 0) {
                    st = META_ENOMEM;
                    break;
                }
            }
            /* Jump past every key under this common prefix. */
            succ = malloc(blen + cpl);
            if (succ == NULL) {
                st = META_ENOMEM;
                break;
            }
            memcpy(succ, base.p, blen);
            memcpy(succ + blen, key, cpl);
            sl = successor(succ + blen, cpl);
            if (sl == 0) {
                free(succ);
                break;
            }
            rocksdb_iter_seek(it, succ, blen + sl);
            free(succ);
            continue;
        }
        v = rocksdb_iter_value(it, &vl);
        if (cur_decode(v, vl, &c) != 0) {
            cf_log(CF_LOG_ERR, "meta: corrupt current record in %s", bucket);
            st = META_ECORRUPT;
            break;
        }
        if (!c.dm) {
            if (out->nentries == maxk) {
                out->truncated = 1;
                break;
            }
            if (add_entry(out, &cap, key, klen, 0, &c) != 0) {
                st = META_ENOMEM;
                break;
            }
        }
        rocksdb_iter_next(it);
    }
    rocksdb_iter_get_error(it, &err);
    if (err) st = meta_err(err, "list");
    rocksdb_iter_destroy(it);
    meta_buf_free(&base);
    meta_buf_free(&seek);
    if (st == META_OK && out->truncated && out->nentries > 0) {
        struct meta_list_entry *last = &out->entries[out->nentries - 1];
        out->next_marker = malloc(last->key_len + 1);
        if (out->next_marker == NULL) st = META_ENOMEM;
        else {
            memcpy(out->next_marker, last->key, last->key_len + 1);
            out->next_marker_len = last->key_len;
        }
    }
    if (st != META_OK) meta_list_result_cleanup(out);
    return st;
}

/* ---- ListObjectVersions ---- */

void meta_versions_result_cleanup(struct meta_versions_result *r)
{
    size_t i;
    if (r == NULL) return;
    for (i = 0; i < r->n; i++) free(r->entries[i].key);
    free(r->entries);
    free(r->next_key);
    memset(r, 0, sizeof(*r));
}

static struct meta_version_entry *vent_add(struct meta_versions_result *r,
                                           size_t *cap, const char *k,
                                           size_t kl)
{
    struct meta_version_entry *e;
    if (r->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        void *np = realloc(r->entries, nc * sizeof(*r->entries));
        if (np == NULL) return NULL;
        r->entries = np;
        *cap = nc;
    }
    e = &r->entries[r->n];
    memset(e, 0, sizeof(*e));
    e->key = malloc(kl + 1);
    if (e->key == NULL) return NULL;
    memcpy(e->key, k, kl);
    e->key[kl] = '\0';
    e->key_len = kl;
    r->n++;
    return e;
}

enum meta_status meta_list_versions(struct meta_db *m, const char *bucket,
                                    const struct meta_list_params *p,
                                    const char *vid_marker,
                                    struct meta_versions_result *out)
{
    struct meta_buf base = { 0 }, seek = { 0 };
    rocksdb_iterator_t *it;
    enum meta_status st = META_OK;
    size_t cap = 0, blen, maxk = p->max_keys > 1000 ? 1000 : p->max_keys;
    int passed_marker = vid_marker == NULL || *vid_marker == '\0';
    char *err = NULL;
    /* the current version of the key being walked */
    char cur_key_id[META_VERSION_ID_MAX + 1] = "";
    char *last_key = NULL;
    size_t last_len = 0;

    memset(out, 0, sizeof(*out));
    if (maxk == 0) return META_OK;
    meta_buf_put(&base, "V/", 2);
    meta_buf_put(&base, bucket, strlen(bucket) + 1);
    blen = base.len;
    meta_buf_put(&seek, base.p, base.len);
    if (p->start_after_len &&
        mem_cmp(p->start_after, p->start_after_len, p->prefix,
                p->prefix_len) >= 0)
        meta_buf_put(&seek, p->start_after, p->start_after_len);
    else
        meta_buf_put(&seek, p->prefix, p->prefix_len);
    if (base.oom || seek.oom) {
        st = META_ENOMEM;
        goto out;
    }
    it = rocksdb_create_iterator(m->db, m->ropts);
    rocksdb_iter_seek(it, seek.p, seek.len);
    while (rocksdb_iter_valid(it)) {
        size_t kl, vl, klen, idl;
        const char *k = rocksdb_iter_key(it, &kl), *key, *nul, *d = NULL;
        char id[META_VERSION_ID_MAX + 1];
        struct meta_version v;
        struct meta_version_entry *e;
        int cmp;

        if (kl < blen || memcmp(k, base.p, blen) != 0) break;
        key = k + blen;
        nul = memchr(key, '\0', kl - blen);
        if (nul == NULL) break;
        klen = (size_t)(nul - key);
        if (klen < p->prefix_len || memcmp(key, p->prefix, p->prefix_len))
            break;
        idl = kl - blen - klen - 1 - META_SEQ_HEX;
        if (kl < blen + klen + 1 + META_SEQ_HEX || idl > META_VERSION_ID_MAX) {
            st = META_ECORRUPT;
            break;
        }
        memcpy(id, nul + 1 + META_SEQ_HEX, idl);
        id[idl] = '\0';
        cmp = p->start_after_len ? mem_cmp(key, klen, p->start_after,
                                           p->start_after_len)
                                 : 1;
        if (cmp < 0 || (cmp == 0 && passed_marker &&
                        (vid_marker == NULL || *vid_marker == '\0'))) {
            rocksdb_iter_next(it);
            continue;
        }
        if (cmp == 0 && !passed_marker) {
            if (strcmp(id, vid_marker) == 0) passed_marker = 1;
            rocksdb_iter_next(it);
            continue;
        }
        if (p->delimiter_len && klen >= p->prefix_len + p->delimiter_len)
            d = memmem(key + p->prefix_len, klen - p->prefix_len,
                       p->delimiter, p->delimiter_len);
        if (d) {
            size_t cpl = (size_t)(d - key) + p->delimiter_len;
            char *succ;
            size_t sl;
            int skip = p->start_after_len == cpl &&
                       memcmp(p->start_after, key, cpl) == 0;
            if (!skip) {
                if (out->n == maxk) {
                    out->truncated = 1;
                    break;
                }
                e = vent_add(out, &cap, key, cpl);
                if (e == NULL) {
                    st = META_ENOMEM;
                    break;
                }
                e->is_prefix = 1;
            }
            succ = malloc(blen + cpl);
            if (succ == NULL) {
                st = META_ENOMEM;
                break;
            }
            memcpy(succ, base.p, blen);
            memcpy(succ + blen, key, cpl);
            sl = successor(succ + blen, cpl);
            if (sl == 0) {
                free(succ);
                break;
            }
            rocksdb_iter_seek(it, succ, blen + sl);
            free(succ);
            continue;
        }
        if (out->n == maxk) {
            out->truncated = 1;
            break;
        }
        if (last_key == NULL || last_len != klen ||
            memcmp(last_key, key, klen) != 0) {
            /* a new key: which of its versions is current? */
            struct cur c;
            free(last_key);
            last_key = malloc(klen + 1);
            if (last_key == NULL) {
                st = META_ENOMEM;
                break;
            }
            memcpy(last_key, key, klen);
            last_len = klen;
            cur_key_id[0] = '\0';
            if (cur_get(m, bucket, key, klen, &c) == META_OK)
                memcpy(cur_key_id, c.id, sizeof(cur_key_id));
        }
        {
            const char *val = rocksdb_iter_value(it, &vl);
            if (version_decode(val, vl, &v) != META_OK) {
                st = META_ECORRUPT;
                break;
            }
        }
        e = vent_add(out, &cap, key, klen);
        if (e == NULL) {
            meta_version_cleanup(&v);
            st = META_ENOMEM;
            break;
        }
        memcpy(e->version_id, v.version_id, sizeof(e->version_id));
        e->is_latest = strcmp(cur_key_id, v.version_id) == 0;
        e->delete_marker = v.delete_marker;
        e->size = v.size;
        e->mtime_ms = v.mtime_ms;
        memcpy(e->etag, v.etag, sizeof(e->etag));
        meta_version_cleanup(&v);
        rocksdb_iter_next(it);
    }
    rocksdb_iter_get_error(it, &err);
    if (err) st = meta_err(err, "list versions");
    rocksdb_iter_destroy(it);
    if (st == META_OK && out->truncated && out->n > 0) {
        struct meta_version_entry *last = &out->entries[out->n - 1];
        out->next_key = malloc(last->key_len + 1);
        if (out->next_key == NULL) st = META_ENOMEM;
        else {
            memcpy(out->next_key, last->key, last->key_len + 1);
            out->next_key_len = last->key_len;
            memcpy(out->next_version_id, last->version_id,
                   sizeof(out->next_version_id));
        }
    }
out:
    free(last_key);
    meta_buf_free(&base);
    meta_buf_free(&seek);
    if (st != META_OK) meta_versions_result_cleanup(out);
    return st;
}

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
    pthread_mutex_t *lk;
    struct find_ctx f;
    struct cur c;
    struct meta_version v;
    struct meta_buf k = { 0 }, val = { 0 };
    enum meta_status st;
    char *err = NULL;

    memset(&f, 0, sizeof(f));
    memset(&v, 0, sizeof(v));
    if (!key_ok(key, key_len)) return META_ENOTFOUND;
    pthread_rwlock_rdlock(&m->buckets);
    lk = stripe(m, bucket, key, key_len);
    pthread_mutex_lock(lk);
    if (version_id == NULL) {
        st = cur_get(m, bucket, key, key_len, &c);
        if (st != META_OK) goto out;
        f.want = c.id;
    } else {
        f.want = version_id;
    }
    st = vscan(m, bucket, key, key_len, find_cb, &f);
    if (st == META_OK && !f.found) st = META_ENOTFOUND;
    if (st != META_OK) goto out;
    st = version_decode(f.val, f.vlen, &v);
    if (st != META_OK) goto out;
    if (fn(&v, arg) != 0) {
        st = META_EDENIED;
        goto out;
    }
    vkey(&k, bucket, key, key_len, f.seq, v.version_id);
    version_encode(&val, &v);
    if (k.oom || val.oom) {
        st = META_ENOMEM;
        goto out;
    }
    if (event) {
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        struct meta_audit_pending ap;
        rocksdb_writebatch_put(wb, k.p, k.len, val.p, val.len);
        st = meta_audit_begin(m, wb, time_ms, event, &ap);
        if (st == META_OK) {
            rocksdb_write(m->db, m->wsync, wb, &err);
            st = meta_err(err, "update version");
            meta_audit_end(m, &ap, st == META_OK);
        }
        rocksdb_writebatch_destroy(wb);
        goto out;
    }
    rocksdb_put(m->db, m->wsync, k.p, k.len, val.p, val.len, &err);
    st = meta_err(err, "update version");
out:
    pthread_mutex_unlock(lk);
    pthread_rwlock_unlock(&m->buckets);
    free(f.val);
    meta_version_cleanup(&v);
    meta_buf_free(&k);
    meta_buf_free(&val);
    return st;
}
