/* meta_db.c: opening the catalog, record encoding helpers, and buckets. */
#include "meta_int.h"
#include "cf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *meta_strerror(enum meta_status st)
{
    switch (st) {
    case META_OK: return "ok";
    case META_ENOTFOUND: return "not found";
    case META_EEXIST: return "already exists";
    case META_ENOTEMPTY: return "not empty";
    case META_EIO: return "catalog I/O error";
    case META_ECORRUPT: return "catalog record corrupt";
    case META_EINVAL: return "invalid argument";
    case META_ENOMEM: return "out of memory";
    case META_EDENIED: return "refused";
    }
    return "unknown";
}

enum meta_status meta_err(char *errptr, const char *what)
{
    if (errptr == NULL) return META_OK;
    cf_log(CF_LOG_ERR, "meta: %s: %s", what, errptr);
    rocksdb_free(errptr);
    return META_EIO;
}

/* ---- buffers ---- */

void meta_buf_put(struct meta_buf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 128;
        char *np;
        while (cap < b->len + n) cap *= 2;
        np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

void meta_buf_u8(struct meta_buf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    meta_buf_put(b, &c, 1);
}

void meta_buf_u32(struct meta_buf *b, uint32_t v)
{
    unsigned char c[4];
    int i;
    for (i = 0; i < 4; i++) c[i] = (unsigned char)(v >> (8 * i));
    meta_buf_put(b, c, 4);
}

void meta_buf_u64(struct meta_buf *b, uint64_t v)
{
    unsigned char c[8];
    int i;
    for (i = 0; i < 8; i++) c[i] = (unsigned char)(v >> (8 * i));
    meta_buf_put(b, c, 8);
}

void meta_buf_str(struct meta_buf *b, const char *s, size_t n)
{
    meta_buf_u32(b, (uint32_t)n);
    meta_buf_put(b, s, n);
}

void meta_buf_free(struct meta_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

unsigned meta_rd_u8(struct meta_rd *r)
{
    if (r->bad || r->end - r->p < 1) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

uint32_t meta_rd_u32(struct meta_rd *r)
{
    uint32_t v = 0;
    int i;
    if (r->bad || r->end - r->p < 4) {
        r->bad = 1;
        return 0;
    }
    for (i = 0; i < 4; i++) v |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    return v;
}

uint64_t meta_rd_u64(struct meta_rd *r)
{
    uint64_t v = 0;
    int i;
    if (r->bad || r->end - r->p < 8) {
        r->bad = 1;
        return 0;
    }
    for (i = 0; i < 8; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    return v;
}

char *meta_rd_str(struct meta_rd *r, size_t *len)
{
    uint32_t n = meta_rd_u32(r);
    char *s;
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    s = malloc((size_t)n + 1);
    if (s == NULL) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, r->p, n);
    s[n] = '\0';
    r->p += n;
    if (len) *len = n;
    return s;
}

void meta_rd_strbuf(struct meta_rd *r, char *out, size_t cap)
{
    uint32_t n = meta_rd_u32(r);
    if (r->bad || (size_t)(r->end - r->p) < n || n >= cap) {
        r->bad = 1;
        out[0] = '\0';
        return;
    }
    memcpy(out, r->p, n);
    out[n] = '\0';
    r->p += n;
}

void meta_key_c(struct meta_buf *b, const char *bucket, const char *key,
                size_t key_len)
{
    meta_buf_put(b, "C/", 2);
    meta_buf_put(b, bucket, strlen(bucket) + 1); /* with its '\0' */
    meta_buf_put(b, key, key_len);
}

void meta_key_vprefix(struct meta_buf *b, const char *bucket, const char *key,
                      size_t key_len)
{
    meta_buf_put(b, "V/", 2);
    meta_buf_put(b, bucket, strlen(bucket) + 1);
    meta_buf_put(b, key, key_len);
    meta_buf_put(b, "", 1);
}

/* ---- open / close ---- */

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t i, n = strlen(path);
    if (n >= sizeof(buf)) return -1;
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
            buf[i] = c;
        }
    return 0;
}

enum meta_status meta_open(const char *dir, struct meta_db **out)
{
    struct meta_db *m = calloc(1, sizeof(*m));
    char *err = NULL;
    int i;

    if (m == NULL) return META_ENOMEM;
    if (mkdir_p(dir) != 0) {
        char e[128];
        cf_log(CF_LOG_ERR, "meta: mkdir %s: %s", dir,
               cf_strerror(errno, e, sizeof(e)));
        free(m);
        return META_EIO;
    }
    m->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(m->opts, 1);
    rocksdb_options_set_max_open_files(m->opts, 512);
    rocksdb_options_set_compression(m->opts, rocksdb_lz4_compression);
    rocksdb_options_increase_parallelism(m->opts, 2);
    m->cache = rocksdb_cache_create_lru(64 << 20);
    m->topts = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(m->topts, m->cache);
    rocksdb_options_set_block_based_table_factory(m->opts, m->topts);
    m->wsync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(m->wsync, 1);
    m->ropts = rocksdb_readoptions_create();
    m->db = rocksdb_open(m->opts, dir, &err);
    if (err) {
        meta_err(err, dir);
        m->db = NULL;
        meta_close(m);
        return META_EIO;
    }
    for (i = 0; i < META_LOCK_STRIPES; i++)
        pthread_mutex_init(&m->stripes[i], NULL);
    pthread_rwlock_init(&m->buckets, NULL);
    for (i = 0; i < 64; i++) pthread_mutex_init(&m->upload_locks[i], NULL);
    pthread_mutex_init(&m->seq_lock, NULL);
    pthread_mutex_init(&m->audit_lock, NULL);
    *out = m;
    return META_OK;
}

enum meta_status meta_open_readonly(const char *dir, struct meta_db **out)
{
    struct meta_db *m = calloc(1, sizeof(*m));
    char *err = NULL;
    int i;

    if (m == NULL) return META_ENOMEM;
    m->opts = rocksdb_options_create();
    m->ropts = rocksdb_readoptions_create();
    m->wsync = rocksdb_writeoptions_create();
    m->db = rocksdb_open_for_read_only(m->opts, dir, 0, &err);
    if (err) {
        meta_err(err, dir);
        m->db = NULL;
        meta_close(m);
        return META_EIO;
    }
    for (i = 0; i < META_LOCK_STRIPES; i++)
        pthread_mutex_init(&m->stripes[i], NULL);
    for (i = 0; i < 64; i++) pthread_mutex_init(&m->upload_locks[i], NULL);
    pthread_rwlock_init(&m->buckets, NULL);
    pthread_mutex_init(&m->seq_lock, NULL);
    pthread_mutex_init(&m->audit_lock, NULL);
    m->readonly = 1;
    *out = m;
    return META_OK;
}

void meta_close(struct meta_db *m)
{
    if (m == NULL) return;
    if (m->db) rocksdb_close(m->db);
    if (m->wsync) rocksdb_writeoptions_destroy(m->wsync);
    if (m->ropts) rocksdb_readoptions_destroy(m->ropts);
    if (m->opts) rocksdb_options_destroy(m->opts);
    if (m->topts) rocksdb_block_based_options_destroy(m->topts);
    if (m->cache) rocksdb_cache_destroy(m->cache);
    free(m);
}

/* ---- buckets ---- */

static void bucket_key(struct meta_buf *b, const char *name)
{
    meta_buf_put(b, "B/", 2);
    meta_buf_put(b, name, strlen(name));
}

static void bucket_encode(struct meta_buf *b, const struct meta_bucket *bk)
{
    meta_buf_u8(b, 1);
    meta_buf_u64(b, (uint64_t)bk->created_ms);
    meta_buf_u8(b, bk->versioning);
    meta_buf_str(b, bk->owner, strlen(bk->owner));
    meta_buf_str(b, bk->region, strlen(bk->region));
    meta_buf_u8(b, bk->lock_enabled ? 1 : 0);
    meta_buf_u8(b, (unsigned)bk->lock_mode);
    meta_buf_u32(b, bk->lock_days);
    meta_buf_u32(b, bk->lock_years);
}

static enum meta_status bucket_decode(const char *name, size_t nlen,
                                      const char *v, size_t vlen,
                                      struct meta_bucket *out)
{
    struct meta_rd r = { (const unsigned char *)v,
                         (const unsigned char *)v + vlen, 0 };
    memset(out, 0, sizeof(*out));
    if (nlen > META_BUCKET_NAME_MAX) return META_ECORRUPT;
    memcpy(out->name, name, nlen);
    if (meta_rd_u8(&r) != 1) return META_ECORRUPT;
    out->created_ms = (int64_t)meta_rd_u64(&r);
    out->versioning = (enum meta_versioning)meta_rd_u8(&r);
    meta_rd_strbuf(&r, out->owner, sizeof(out->owner));
    meta_rd_strbuf(&r, out->region, sizeof(out->region));
    if (!r.bad && r.p < r.end) { /* Object Lock fields (absent in old) */
        out->lock_enabled = (int)meta_rd_u8(&r);
        out->lock_mode = (int)meta_rd_u8(&r);
        out->lock_days = meta_rd_u32(&r);
        out->lock_years = meta_rd_u32(&r);
    }
    if (r.bad) {
        cf_log(CF_LOG_ERR, "meta: bucket record %.*s is corrupt", (int)nlen,
               name);
        return META_ECORRUPT;
    }
    return META_OK;
}

enum meta_status meta_bucket_get(struct meta_db *m, const char *name,
                                 struct meta_bucket *out)
{
    struct meta_buf k = { 0 };
    char *err = NULL, *v;
    size_t vlen;
    enum meta_status st;

    if (strlen(name) > META_BUCKET_NAME_MAX || name[0] == '\0')
        return META_ENOTFOUND;
    bucket_key(&k, name);
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

    bucket_key(&k, b->name);
    bucket_encode(&v, b);
    if (k.oom || v.oom) {
        meta_buf_free(&k);
        meta_buf_free(&v);
        return META_ENOMEM;
    }
    rocksdb_put(m->db, m->wsync, k.p, k.len, v.p, v.len, &err);
    meta_buf_free(&k);
    meta_buf_free(&v);
    return meta_err(err, "put bucket");
}

enum meta_status meta_bucket_create(struct meta_db *m,
                                    const struct meta_bucket *b,
                                    struct meta_bucket *existing)
{
    struct meta_bucket cur;
    enum meta_status st;

    if (b->name[0] == '\0' || strlen(b->name) > META_BUCKET_NAME_MAX)
        return META_EINVAL;
    pthread_rwlock_wrlock(&m->buckets);
    st = meta_bucket_get(m, b->name, &cur);
    if (st == META_OK) {
        if (existing) *existing = cur;
        st = META_EEXIST;
    } else if (st == META_ENOTFOUND) {
        st = bucket_put(m, b);
    }
    pthread_rwlock_unlock(&m->buckets);
    return st;
}

enum meta_status meta_bucket_update(struct meta_db *m,
                                    const struct meta_bucket *b)
{
    struct meta_bucket cur;
    enum meta_status st;

    pthread_rwlock_wrlock(&m->buckets);
    st = meta_bucket_get(m, b->name, &cur);
    if (st == META_OK) st = bucket_put(m, b);
    pthread_rwlock_unlock(&m->buckets);
    return st;
}

/* 1 if any key starts with prefix. */
static int any_with_prefix(struct meta_db *m, const char *prefix, size_t n)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->db, m->ropts);
    int found = 0;
    rocksdb_iter_seek(it, prefix, n);
    if (rocksdb_iter_valid(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        found = kl >= n && memcmp(k, prefix, n) == 0;
    }
    rocksdb_iter_destroy(it);
    return found;
}

enum meta_status meta_bucket_delete(struct meta_db *m, const char *name)
{
    struct meta_bucket cur;
    struct meta_buf k = { 0 }, vp = { 0 };
    enum meta_status st;
    char *err = NULL;

    pthread_rwlock_wrlock(&m->buckets);
    st = meta_bucket_get(m, name, &cur);
    if (st != META_OK) goto out;
    meta_buf_put(&vp, "V/", 2);
    meta_buf_put(&vp, name, strlen(name) + 1);
    if (vp.oom) {
        st = META_ENOMEM;
        goto out;
    }
    if (any_with_prefix(m, vp.p, vp.len)) {
        st = META_ENOTEMPTY;
        goto out;
    }
    /* Uploads in progress keep the bucket too: their parts hold data. */
    vp.p[0] = 'U';
    if (any_with_prefix(m, vp.p, vp.len)) {
        st = META_ENOTEMPTY;
        goto out;
    }
    bucket_key(&k, name);
    rocksdb_delete(m->db, m->wsync, k.p, k.len, &err);
    st = meta_err(err, "delete bucket");
out:
    pthread_rwlock_unlock(&m->buckets);
    meta_buf_free(&k);
    meta_buf_free(&vp);
    return st;
}

enum meta_status meta_bucket_foreach(struct meta_db *m,
                                     int (*fn)(const struct meta_bucket *b,
                                               void *arg),
                                     void *arg)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->db, m->ropts);
    enum meta_status st = META_OK;

    for (rocksdb_iter_seek(it, "B/", 2); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v;
        struct meta_bucket b;
        if (kl < 2 || memcmp(k, "B/", 2) != 0) break;
        v = rocksdb_iter_value(it, &vl);
        st = bucket_decode(k + 2, kl - 2, v, vl, &b);
        if (st != META_OK) break;
        if (fn(&b, arg) != 0) break;
    }
    rocksdb_iter_destroy(it);
    return st;
}

enum meta_status meta_clock_get(struct meta_db *m, int64_t *ms)
{
    char *err = NULL, *v;
    size_t vl;
    struct meta_rd r;

    *ms = 0;
    v = rocksdb_get(m->db, m->ropts, "K/clock", 7, &vl, &err);
    if (err) return meta_err(err, "get clock");
    if (v == NULL) return META_OK;
    r.p = (const unsigned char *)v;
    r.end = r.p + vl;
    r.bad = 0;
    *ms = (int64_t)meta_rd_u64(&r);
    rocksdb_free(v);
    return r.bad ? META_ECORRUPT : META_OK;
}

enum meta_status meta_clock_set(struct meta_db *m, int64_t ms)
{
    struct meta_buf b = { 0 };
    char *err = NULL;
    meta_buf_u64(&b, (uint64_t)ms);
    if (b.oom) return META_ENOMEM;
    rocksdb_put(m->db, m->wsync, "K/clock", 7, b.p, b.len, &err);
    meta_buf_free(&b);
    return meta_err(err, "set clock");
}
