/* meta_int.h (meta-internal): the catalog's key schema and record format.
 *
 * Keys (byte strings; '\0' separates parts, so bucket names and object keys
 * never contain NUL):
 *
 *   B/<bucket>                                   bucket record
 *   V/<bucket>\0<key>\0<seq:16 hex><version-id>  one version; seq is
 *                        UINT64_MAX - a strictly increasing counter (wall
 *                        clock microseconds, bumped past the last value), so
 *                        a key's versions sort newest first
 *   U/<bucket>\0<key>\0<upload-id>              multipart upload in progress
 *   P/<upload-id>\0<part:5 digits>               one uploaded part
 *   A/<seq:16 hex>                               audit log entry (hash chain)
 *   K/clock                                      compliance clock (u64 ms)
 *   C/<bucket>\0<key>                            current version of the key,
 *                        carrying what a listing shows (one range scan lists
 *                        a bucket; no per-entry lookups)
 *
 * Records are little-endian binary, each starting with a format byte:
 *
 *   str   := u32 length, bytes
 *   B rec := u8 1 | i64 created_ms | u8 versioning | str owner | str region
 *   V rec := u8 1 | u8 flags(1 = delete marker) | u64 size | i64 mtime_ms |
 *            u8 ec_data | u8 ec_parity | u32 stripe_size | str version_id |
 *            str etag | str key | u32 nheaders | (str name, str value)* |
 *            u32 nparts | part* | str data_id  (both absent in old records;
 *            data_id absent or empty means data_id = version_id)
 *   part  := u32 number | u64 size | i64 mtime_ms | str etag | str data_id
 *   U rec := u8 1 | i64 initiated_ms | str owner | str key | u32 nheaders |
 *            (str name, str value)*
 *   P rec := u8 1 | part
 *   A rec := u8 1 | u64 seq | i64 time_ms | 32 prev | str event | 32 hash
 *   C rec := u8 1 | u8 flags | u64 size | i64 mtime_ms | str version_id |
 *            str etag | str seq (the 16 hex digits of the V key)
 *
 * Invariant: C/<b>\0<k> exists iff at least one V/<b>\0<k>\0... exists, and
 * it names the newest of them. Both change in the same write batch. */
#ifndef META_INT_H
#define META_INT_H

#include <pthread.h>
#include <rocksdb/c.h>

#include "meta.h"

#define META_LOCK_STRIPES 256
#define META_SEQ_HEX 16

struct meta_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wsync;   /* sync = 1: every commit is durable */
    rocksdb_readoptions_t *ropts;
    rocksdb_cache_t *cache;
    rocksdb_block_based_table_options_t *topts;
    /* Read-modify-write of one (bucket, key) runs under its stripe lock;
     * different keys commit concurrently and share WAL fsyncs. */
    pthread_mutex_t stripes[META_LOCK_STRIPES];
    /* Bucket create/delete take it for writing, object writes for reading,
     * so an object cannot be written into a bucket being deleted. */
    pthread_rwlock_t buckets;
    /* Part records and completion of one upload run under its lock
     * (taken before `buckets` and the key stripes, never after). */
    pthread_mutex_t upload_locks[64];
    pthread_mutex_t seq_lock;        /* guards last_seq */
    /* Held from building an audit entry until its batch is written, so
     * the chain's order is the commit order; guards audit_*. */
    pthread_mutex_t audit_lock;
    int audit_loaded;                /* audit_seq/audit_head read */
    uint64_t audit_seq;              /* last entry's seq, 0 if none */
    unsigned char audit_head[32];    /* last entry's hash */
    int readonly;                    /* opened with meta_open_readonly */
    uint64_t last_seq;
};

/* A growable byte buffer for keys and records. */
struct meta_buf {
    char *p;
    size_t len, cap;
    int oom;
};
void meta_buf_put(struct meta_buf *b, const void *p, size_t n);
void meta_buf_u8(struct meta_buf *b, unsigned v);
void meta_buf_u32(struct meta_buf *b, uint32_t v);
void meta_buf_u64(struct meta_buf *b, uint64_t v);
void meta_buf_str(struct meta_buf *b, const char *s, size_t n);
void meta_buf_free(struct meta_buf *b);

/* Sequential reader over a record. */
struct meta_rd {
    const unsigned char *p, *end;
    int bad;
};
unsigned meta_rd_u8(struct meta_rd *r);
uint32_t meta_rd_u32(struct meta_rd *r);
uint64_t meta_rd_u64(struct meta_rd *r);
/* A malloc'ed NUL-terminated copy, or NULL (and r->bad) on error. */
char *meta_rd_str(struct meta_rd *r, size_t *len);
/* Copies into a fixed field; too long → bad. */
void meta_rd_strbuf(struct meta_rd *r, char *out, size_t cap);

/* "C/<bucket>\0<key>" etc. */
void meta_key_c(struct meta_buf *b, const char *bucket, const char *key,
                size_t key_len);
void meta_key_vprefix(struct meta_buf *b, const char *bucket, const char *key,
                      size_t key_len);
enum meta_status meta_err(char *errptr, const char *what);

void meta_part_encode(struct meta_buf *b, const struct meta_part *p);
void meta_part_decode(struct meta_rd *r, struct meta_part *p);

/* meta_object_put, plus extra changes added to the same batch by fn while
 * the bucket and key locks are held; a non-OK return aborts the commit. */
typedef enum meta_status (*meta_batch_fn)(struct meta_db *m,
                                          rocksdb_writebatch_t *wb,
                                          void *arg);
enum meta_status meta_object_put_ex(struct meta_db *m, const char *bucket,
                                    const struct meta_version *v,
                                    struct meta_version *replaced,
                                    meta_batch_fn fn, void *arg);

/* Audit plumbing (meta_audit.c): with audit_lock held, add the next entry
 * to wb; after a successful write, meta_audit_commit() advances the head.
 * meta_audit_begin returns META_OK with the lock held, or an error
 * without it. */
struct meta_audit_pending {
    uint64_t seq;
    unsigned char hash[32];
};
enum meta_status meta_audit_begin(struct meta_db *m, rocksdb_writebatch_t *wb,
                                  int64_t time_ms, const char *event,
                                  struct meta_audit_pending *p);
void meta_audit_end(struct meta_db *m, const struct meta_audit_pending *p,
                    int committed);

#endif /* META_INT_H */
