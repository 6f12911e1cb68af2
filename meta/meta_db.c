/* meta_db.c: opening and closing the catalog, the byte-level helpers every
 * record and key is built with, lock striping and the persisted clock.
 *
 * Invariant: a RocksDB error message (errptr) is logged and freed where it
 * is returned (meta_err); callers only ever see META_EIO. */
#include "meta_int.h"
#include "cf.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

enum meta_status meta_iter_err(rocksdb_iterator_t *it, const char *what)
{
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    return meta_err(err, what);
}

enum meta_status meta_write(struct meta_db *m, rocksdb_writebatch_t *wb,
                            const char *what)
{
    char *err = NULL;
    rocksdb_write(m->db, m->wsync, wb, &err);
    return meta_err(err, what);
}

enum meta_status meta_iter_open(struct meta_db *m, struct meta_iter *mi,
                                const rocksdb_snapshot_t *snap,
                                const char *prefix, size_t n)
{
    size_t hl;

    memset(mi, 0, sizeof(*mi));
    mi->hi = malloc(n ? n : 1);
    if (mi->hi == NULL) return META_ENOMEM;
    memcpy(mi->hi, prefix, n);
    hl = meta_successor(mi->hi, n);
    mi->ro = rocksdb_readoptions_create();
    if (snap) rocksdb_readoptions_set_snapshot(mi->ro, snap);
    /* The bound must outlive the iterator: mi->hi does. */
    if (hl) rocksdb_readoptions_set_iterate_upper_bound(mi->ro, mi->hi, hl);
    mi->it = rocksdb_create_iterator(m->db, mi->ro);
    return META_OK;
}

void meta_iter_close(struct meta_iter *mi)
{
    if (mi->it) rocksdb_iter_destroy(mi->it);
    if (mi->ro) rocksdb_readoptions_destroy(mi->ro);
    free(mi->hi);
    memset(mi, 0, sizeof(*mi));
}

/* ---- buffers ---- */

void meta_buf_put(struct meta_buf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap * 2 : 128;
        char *np;
        while (cap - b->len < n) cap *= 2;
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

/* ---- record reader ---- */

void meta_rd_init(struct meta_rd *r, const char *p, size_t n)
{
    r->p = (const unsigned char *)p;
    r->end = r->p + n;
    r->bad = 0;
}

int meta_rd_more(const struct meta_rd *r)
{
    return !r->bad && r->p < r->end;
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

/* ---- keys ---- */

void meta_key_base(struct meta_buf *b, char tag, const char *bucket)
{
    char t[2] = { tag, '/' };
    meta_buf_put(b, t, 2);
    meta_buf_put(b, bucket, strlen(bucket) + 1); /* with its '\0' */
}

void meta_key_b(struct meta_buf *b, const char *bucket)
{
    meta_buf_put(b, "B/", 2);
    meta_buf_put(b, bucket, strlen(bucket));
}

void meta_key_c(struct meta_buf *b, const char *bucket, const char *key,
                size_t key_len)
{
    meta_key_base(b, 'C', bucket);
    meta_buf_put(b, key, key_len);
}

void meta_key_vprefix(struct meta_buf *b, const char *bucket, const char *key,
                      size_t key_len)
{
    meta_key_base(b, 'V', bucket);
    meta_buf_put(b, key, key_len);
    meta_buf_put(b, "", 1);
}

void meta_key_v(struct meta_buf *b, const char *bucket, const char *key,
                size_t key_len, const char *inv, const char *vid)
{
    meta_key_vprefix(b, bucket, key, key_len);
    meta_buf_put(b, inv, META_SEQ_HEX);
    meta_buf_put(b, vid, strlen(vid));
}

size_t meta_successor(char *s, size_t n)
{
    while (n > 0 && (unsigned char)s[n - 1] == 0xff) n--;
    if (n == 0) return 0;
    s[n - 1] = (char)((unsigned char)s[n - 1] + 1);
    return n;
}

int meta_memcmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

int meta_key_ok(const char *key, size_t key_len)
{
    return key != NULL && key_len > 0 && key_len <= META_KEY_MAX &&
           memchr(key, '\0', key_len) == NULL;
}

int meta_bucket_name_ok(const char *name)
{
    size_t n = strnlen(name, META_BUCKET_NAME_MAX + 1);
    return n > 0 && n <= META_BUCKET_NAME_MAX;
}

/* ---- locks ---- */

static uint32_t fnv1a(uint32_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

pthread_mutex_t *meta_stripe(struct meta_db *m, const char *bucket,
                             const char *key, size_t key_len)
{
    /* bucket and its '\0', then the key: ("a","bc") != ("ab","c") */
    uint32_t h = fnv1a(2166136261u, bucket, strlen(bucket) + 1);
    h = fnv1a(h, key, key_len);
    return &m->stripes[h % META_LOCK_STRIPES];
}

pthread_rwlock_t *meta_bucket_lock(struct meta_db *m, const char *bucket)
{
    uint32_t h = fnv1a(2166136261u, bucket, strlen(bucket));
    return &m->bucket_locks[h % META_BUCKET_STRIPES];
}

pthread_mutex_t *meta_upload_lock(struct meta_db *m, const char *upload_id)
{
    uint32_t h = fnv1a(2166136261u, upload_id, strlen(upload_id));
    return &m->upload_locks[h % META_UPLOAD_STRIPES];
}

/* ---- open / close ---- */

static void locks_init(struct meta_db *m)
{
    int i;
    for (i = 0; i < META_LOCK_STRIPES; i++)
        pthread_mutex_init(&m->stripes[i], NULL);
    for (i = 0; i < META_BUCKET_STRIPES; i++)
        pthread_rwlock_init(&m->bucket_locks[i], NULL);
    for (i = 0; i < META_UPLOAD_STRIPES; i++)
        pthread_mutex_init(&m->upload_locks[i], NULL);
    pthread_mutex_init(&m->bucket_mu, NULL);
    pthread_mutex_init(&m->seq_lock, NULL);
    meta_audit_init(m);
}

static void locks_destroy(struct meta_db *m)
{
    int i;
    for (i = 0; i < META_LOCK_STRIPES; i++)
        pthread_mutex_destroy(&m->stripes[i]);
    for (i = 0; i < META_BUCKET_STRIPES; i++)
        pthread_rwlock_destroy(&m->bucket_locks[i]);
    for (i = 0; i < META_UPLOAD_STRIPES; i++)
        pthread_mutex_destroy(&m->upload_locks[i]);
    pthread_mutex_destroy(&m->bucket_mu);
    pthread_mutex_destroy(&m->seq_lock);
    meta_audit_destroy(m);
}

/* Options for a small server: 64 MiB block cache with a bloom filter (the
 * point lookups of B/ and C/ records skip files that lack the key), at
 * most 512 open files, level compaction (RocksDB's default) with LZ4
 * (Debian's librocksdb links liblz4), two background jobs for two cores,
 * and point-in-time WAL recovery: after a crash the catalog is every
 * acknowledged commit, stopping at the first torn record. */
static void options_set(struct meta_db *m)
{
    m->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(m->opts, 1);
    rocksdb_options_set_max_open_files(m->opts, 512);
    rocksdb_options_increase_parallelism(m->opts, 2);
    rocksdb_options_set_compaction_style(m->opts,
                                         rocksdb_level_compaction);
    rocksdb_options_set_compression(m->opts, rocksdb_lz4_compression);
    rocksdb_options_set_wal_recovery_mode(
        m->opts, rocksdb_point_in_time_recovery);
    rocksdb_options_set_keep_log_file_num(m->opts, 4);
    rocksdb_options_set_max_log_file_size(m->opts, 8 << 20);
    m->cache = rocksdb_cache_create_lru(64 << 20);
    m->topts = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(m->topts, m->cache);
    m->filter = rocksdb_filterpolicy_create_bloom(10);
    /* the table options take ownership of the filter policy */
    rocksdb_block_based_options_set_filter_policy(m->topts, m->filter);
    rocksdb_options_set_block_based_table_factory(m->opts, m->topts);
    m->wsync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(m->wsync, 1);
    m->ropts = rocksdb_readoptions_create();
}

/* Removes the secondary instance's private directory (it only holds
 * RocksDB's info LOG files). */
static void remove_secondary_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char f[4096];

    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if ((size_t)snprintf(f, sizeof(f), "%s/%s", path, e->d_name) <
                sizeof(f))
                unlink(f);
        }
        closedir(d);
    }
    if (rmdir(path) != 0 && errno != ENOENT) {
        char eb[128];
        cf_log(CF_LOG_WARN, "meta: rmdir %s: %s", path,
               cf_strerror(errno, eb, sizeof(eb)));
    }
}

/* A read-only view beside a running server is a RocksDB SECONDARY
 * instance. A plain read-only open reads the MANIFEST once and then opens
 * table files lazily, so a flush or compaction of the live primary can
 * delete a file it still needs ("Corruption: Can't access 000008.sst").
 * A secondary keeps every table file open (max_open_files = -1), so files
 * the primary deletes stay readable; it needs a directory of its own for
 * its info log. Opening can still race with a file deletion, so it is
 * retried a few times. */
static enum meta_status open_secondary(struct meta_db *m, const char *dir)
{
    const char *tmp = getenv("TMPDIR");
    char *err = NULL;
    int attempt;

    if (snprintf(m->secondary_dir, sizeof(m->secondary_dir),
                 "%s/coffer-meta-ro-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp") >= (int)sizeof(m->secondary_dir)
        || mkdtemp(m->secondary_dir) == NULL) {
        char eb[128];
        cf_log(CF_LOG_ERR, "meta: mkdtemp %s: %s", m->secondary_dir,
               cf_strerror(errno, eb, sizeof(eb)));
        m->secondary_dir[0] = '\0';
        return META_EIO;
    }
    rocksdb_options_set_create_if_missing(m->opts, 0);
    rocksdb_options_set_max_open_files(m->opts, -1);
    for (attempt = 1; attempt <= 3; attempt++) {
        m->db = rocksdb_open_as_secondary(m->opts, dir, m->secondary_dir,
                                          &err);
        if (err == NULL) return META_OK;
        if (attempt < 3) {
            cf_log(CF_LOG_NOTICE, "meta: open %s read-only (attempt %d): %s",
                   dir, attempt, err);
            rocksdb_free(err);
            err = NULL;
        }
    }
    m->db = NULL;
    return meta_err(err, dir);
}

static enum meta_status open_common(const char *dir, int readonly,
                                    struct meta_db **out)
{
    struct meta_db *m;
    enum meta_status st;
    char *err = NULL;

    *out = NULL;
    m = calloc(1, sizeof(*m));
    if (m == NULL) return META_ENOMEM;
    if (!readonly && cf_mkdir_p(dir) != 0) {
        char e[128];
        cf_log(CF_LOG_ERR, "meta: mkdir %s: %s", dir,
               cf_strerror(errno, e, sizeof(e)));
        free(m);
        return META_EIO;
    }
    options_set(m);
    locks_init(m);
    m->readonly = readonly;
    if (readonly) {
        st = open_secondary(m, dir);
    } else {
        m->db = rocksdb_open(m->opts, dir, &err);
        st = meta_err(err, dir);
        if (st != META_OK) m->db = NULL;
    }
    if (st != META_OK) {
        meta_close(m);
        return st;
    }
    *out = m;
    return META_OK;
}

enum meta_status meta_open(const char *dir, struct meta_db **out)
{
    return open_common(dir, 0, out);
}

enum meta_status meta_open_readonly(const char *dir, struct meta_db **out)
{
    return open_common(dir, 1, out);
}

void meta_close(struct meta_db *m)
{
    if (m == NULL) return;
    if (m->db) rocksdb_close(m->db);
    if (m->wsync) rocksdb_writeoptions_destroy(m->wsync);
    if (m->ropts) rocksdb_readoptions_destroy(m->ropts);
    if (m->opts) rocksdb_options_destroy(m->opts);
    /* also releases the filter policy */
    if (m->topts) rocksdb_block_based_options_destroy(m->topts);
    if (m->cache) rocksdb_cache_destroy(m->cache);
    if (m->secondary_dir[0]) remove_secondary_dir(m->secondary_dir);
    locks_destroy(m);
    free(m);
}

/* ---- the persisted clock ---- */

enum meta_status meta_clock_get(struct meta_db *m, int64_t *ms)
{
    char *err = NULL, *v;
    size_t vl;
    struct meta_rd r;

    *ms = 0;
    v = rocksdb_get(m->db, m->ropts, "K/clock", 7, &vl, &err);
    if (err) return meta_err(err, "get clock");
    if (v == NULL) return META_OK;
    meta_rd_init(&r, v, vl);
    *ms = (int64_t)meta_rd_u64(&r);
    rocksdb_free(v);
    if (r.bad) {
        cf_log(CF_LOG_ERR, "meta: the clock record is corrupt");
        *ms = 0;
        return META_ECORRUPT;
    }
    return META_OK;
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

/* ---- small persisted counters ---- */

static int counter_key(const char *name, char k[40])
{
    size_t n = strlen(name);
    if (n == 0 || n > 32 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n ||
        strcmp(name, "clock") == 0)
        return -1;
    snprintf(k, 40, "K/%s", name);
    return 0;
}

enum meta_status meta_counter_get(struct meta_db *m, const char *name,
                                  uint64_t *out)
{
    char *err = NULL, *v, k[40];
    size_t vl;
    struct meta_rd r;

    *out = 0;
    if (counter_key(name, k) != 0) return META_EINVAL;
    v = rocksdb_get(m->db, m->ropts, k, strlen(k), &vl, &err);
    if (err) return meta_err(err, "get counter");
    if (v == NULL) return META_OK;
    meta_rd_init(&r, v, vl);
    *out = meta_rd_u64(&r);
    rocksdb_free(v);
    if (r.bad) {
        cf_log(CF_LOG_ERR, "meta: counter %s is corrupt", name);
        *out = 0;
        return META_ECORRUPT;
    }
    return META_OK;
}

enum meta_status meta_counter_set(struct meta_db *m, const char *name,
                                  uint64_t val)
{
    struct meta_buf b = { 0 };
    char *err = NULL, k[40];
    if (counter_key(name, k) != 0) return META_EINVAL;
    if (m->readonly) return META_EIO;
    meta_buf_u64(&b, val);
    if (b.oom) return META_ENOMEM;
    rocksdb_put(m->db, m->wsync, k, strlen(k), b.p, b.len, &err);
    meta_buf_free(&b);
    return meta_err(err, "set counter");
}
