/* meta_int.h (meta-internal): the catalog's key schema, record formats,
 * locks and the helpers the meta_*.c files share. Nothing outside meta/
 * includes this file. `coffer meta rebuild` and any offline tool depend on
 * the tables below: change them only together with the code.
 *
 * ---- Keys ---------------------------------------------------------------
 *
 * Keys are byte strings compared bytewise (RocksDB's default comparator,
 * i.e. memcmp then length). '\0' separates the parts; neither bucket names
 * nor object keys may contain NUL (meta_object_put refuses it with
 * META_EINVAL), so every separator is unambiguous.
 *
 *   key                                       value    written by
 *   ----------------------------------------  -------  ---------------------
 *   B/<bucket>                                B rec    meta_bucket.c
 *   C/<bucket>\0<key>                         C rec    meta_object.c
 *   V/<bucket>\0<key>\0<inv:16 hex><vid>      V rec    meta_object.c
 *   U/<bucket>\0<key>\0<upload-id>            U rec    meta_upload.c
 *   P/<upload-id>\0<part:5 decimal digits>    P rec    meta_upload.c
 *   A/<seq:16 hex>                            A rec    meta_audit.c
 *   K/clock                                   u64 ms   meta_db.c
 *   K/<counter name>                          u64      meta_db.c
 *   N/<user name>                             N rec    meta_user.c
 *
 *   <inv>  16 lower-case hex digits of UINT64_MAX - s, where s is the
 *          version's write sequence: the wall clock in microseconds, made
 *          strictly increasing across the process AND strictly above the
 *          newest existing version of the same key (so a clock stepped back
 *          or a restart can never sort a new version below an older one).
 *          Lower-case hex of a fixed width sorts like the number, so the
 *          versions of one key sort NEWEST FIRST.
 *   <vid>  the version id (1..META_VERSION_ID_MAX bytes, no NUL): the rest
 *          of the key after the 16 hex digits.
 *
 * Ordering facts the code relies on:
 *   - "C/<b>\0" is a prefix of exactly the current pointers of bucket b
 *     (bucket "a" never sees bucket "ab": the '\0' ends the name).
 *   - Within a bucket, C/ keys sort by object key in plain byte order, and
 *     a key that is a prefix of another sorts first ("a" < "a/" < "ab"):
 *     this is S3's UTF-8 binary order, so ListObjects is one range scan.
 *   - "V/<b>\0<k>\0" is a prefix of exactly the versions of key k: key "a"
 *     never sees the versions of "ab" ('\0' < any key byte). The versions
 *     of "a" sort before those of any longer key starting with "a".
 *   - The smallest V/ key of any object key > s is >= "V/<b>\0" s "\x01".
 *
 * ---- Records --------------------------------------------------------------
 *
 * Little-endian binary. Scalars: u8, u32, u64 (i64 stored as its u64 bit
 * pattern). str := u32 length | bytes (no NUL stored).
 *
 * Versioning rule (forward and backward compatible):
 *   - The first byte is the record's format number, 1 for every record
 *     below. It changes only if an existing field changes meaning or
 *     position; a reader that meets an unknown format number fails with
 *     META_ECORRUPT and logs it, never guesses.
 *   - New fields are only ever APPENDED. Readers take the fields they know,
 *     treat fields missing at the end (older records) as their default
 *     (0 / "" / absent), and ignore bytes after the fields they know
 *     (newer records). Groups marked [optional] below were appended later
 *     and are present or absent as a whole.
 *
 * B rec (bucket; the name is the key):
 *   field         type  meaning
 *   format        u8    1
 *   created_ms    i64   wall clock at creation
 *   versioning    u8    enum meta_versioning
 *   owner         str   <= 127 bytes
 *   region        str   <= 31 bytes
 *   [optional: Object Lock]
 *   lock_enabled  u8    0/1
 *   lock_mode     u8    enum ol_mode, 0 = no default retention
 *   lock_days     u32
 *   lock_years    u32
 *   [optional: attributes]   (absent when the bucket has none)
 *   nattrs        u32   then nattrs of, ids ascending and unique:
 *     id          u8    enum meta_battr (1..255; unknown ids are kept)
 *     value       str   <= META_BATTR_MAX_BYTES
 *
 * V rec (one version or delete marker):
 *   field         type  meaning
 *   format        u8    1
 *   flags         u8    bit 0: delete marker; other bits 0
 *   size          u64   object bytes
 *   mtime_ms      i64   Last-Modified
 *   ec_data       u8    K of the layout
 *   ec_parity     u8    M of the layout
 *   stripe_size   u32
 *   version_id    str   <= META_VERSION_ID_MAX
 *   etag          str   <= 71 bytes, without quotes
 *   key           str   the object key again (rebuild, ListObjectVersions)
 *   nheaders      u32   <= META_MAX_HEADERS, then nheaders of:
 *     name        str
 *     value       str
 *   [optional: multipart]
 *   nparts        u32   <= META_MAX_PARTS, then nparts of: part
 *   [optional: data location]
 *   data_id       str   "" or absent: the data lives under version_id
 *   [optional: Object Lock]
 *   lock_mode     u8    enum ol_mode, 0 = none
 *   retain_until  i64   ms
 *   legal_hold    u8    0/1
 *   [optional: content hash]
 *   sha256        str   64 lower-case hex digits, or "" (not computed)
 *   [optional: part checksums]
 *   nparts times: part checksum (in the order of the parts above)
 *   [optional: encryption]   (written only for encrypted versions)
 *   sse_alg       u8    enum meta_sse_alg (1 SSE-S3, 2 SSE-C)
 *   sse_salt      str   <= 8 bytes, the nonce salt
 *   sse_key       str   <= 96 bytes, the wrapped data key
 *   sse_kid       str   <= 64 bytes, SSE-C key check value, "" for SSE-S3
 *   Every part of an encrypted version is stored encrypted (parts[].enc).
 *
 * part (inside V and P recs):
 *   number u32 | size u64 | mtime_ms i64 | etag str (<= 32) |
 *   data_id str (<= META_VERSION_ID_MAX)
 * part checksum (after the part in P recs, in their own group in V recs):
 *   csum_algo u8 (the gateway's enum gw_csum_algo: 0 none, 1 CRC32,
 *   2 CRC32C, 3 SHA1, 4 SHA256, 5 CRC64NVME) | csum str (base64, <= 63)
 *
 * C rec (current pointer; exactly what ListObjects shows, so a listing
 * needs no lookup beyond the C/ range scan):
 *   field         type  meaning
 *   format        u8    1
 *   flags         u8    bit 0: the current version is a delete marker
 *                       (listings skip the key, GET says 404)
 *   size          u64
 *   mtime_ms      i64
 *   version_id    str
 *   etag          str
 *   inv           str   the 16 hex digits of the current V/ key, so the
 *                       current record is one point lookup away
 *
 * U rec: format u8 (1) | initiated_ms i64 | owner str | key str |
 *        nheaders u32 | (name str, value str)*
 * P rec: format u8 (1) | part | [optional: part checksum] |
 *        [optional: encryption] enc u8 (1: stored encrypted)
 * N rec: opaque to meta, written by iam/ (iam/iam_user.c documents it:
 *        JSON, the secret only wrapped under the master key).
 * A rec: format u8 (1) | seq u64 | time_ms i64 | prev 32 bytes |
 *        event str (JSON) | hash 32 bytes = SHA-256(prev | seq u64 LE |
 *        time_ms i64 LE | event bytes)
 *
 * ---- Invariants ---------------------------------------------------------
 *
 * I1. A version exists iff its V/ record is committed.
 * I2. C/<b>\0<k> exists iff at least one V/<b>\0<k>\0... exists, and it
 *     names the NEWEST of them (the first in key order), delete markers
 *     included. Every change to a key's V/ records rewrites or removes C/
 *     in the same write batch, under that key's stripe lock.
 * I3. No two V/ records of one key carry the same version id (a put with
 *     an existing id replaces that record in the same batch).
 * I4. A/ entries 1..n are contiguous and hash-chained; they are appended in
 *     commit order (meta_audit.c).
 * Every mutation is ONE rocksdb_write of one write batch with sync = 1.
 *
 * ---- Locks (always taken in this order; none is held across a call out
 * of meta except the caller's check callbacks, which must not call meta) -
 *
 *   upload_locks[hash(upload-id)]   one upload's parts and completion
 *   bucket_mu                       serialises B/ record read-modify-write
 *   bucket_locks[hash(bucket)]      rwlock: object and upload writes take
 *                                   it shared, bucket delete exclusive, so
 *                                   nothing is written into a bucket while
 *                                   its emptiness is being checked
 *   stripes[hash(bucket, key)]      read-modify-write of one (bucket, key)
 *   audit_lock                      the audit chain head and commit group
 *
 * The stripe lock is held across the synced write: the next writer of the
 * same key must read the committed state. Writers of DIFFERENT keys hold
 * different stripes (256 of them, so two random keys collide 1 time in
 * 256) and reach rocksdb_write() concurrently, where RocksDB's write group
 * shares one WAL fsync among them (group commit). Striped mutexes were
 * chosen over optimistic transactions because every read-modify-write here
 * must not fail spuriously (a WORM check must not be retried against a
 * different state) and a stripe lock costs nothing when uncontended.
 * Audited commits are grouped by meta_audit.c itself (see there), since
 * their chain order must equal their commit order. */
#ifndef META_INT_H
#define META_INT_H

#include <pthread.h>
#include <rocksdb/c.h>

#include "meta.h"

#define META_LOCK_STRIPES 256   /* (bucket, key) stripe mutexes */
#define META_BUCKET_STRIPES 64  /* bucket rwlocks */
#define META_UPLOAD_STRIPES 64  /* upload mutexes */
#define META_SEQ_HEX 16         /* hex digits of <inv> in a V/ key */
#define META_MAX_HEADERS 4096   /* stored headers per version or upload */
#define META_FORMAT 1           /* format byte of every record */

struct meta_agroup;

/* The open catalog. Every field is set in meta_open() and read-only after,
 * except where a comment names the lock that guards it. */
struct meta_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wsync;   /* sync = 1: every commit is durable */
    rocksdb_readoptions_t *ropts;    /* plain reads, no snapshot */
    rocksdb_cache_t *cache;          /* block cache */
    rocksdb_filterpolicy_t *filter;  /* owned by topts once set */
    rocksdb_block_based_table_options_t *topts;
    int readonly;                    /* opened with meta_open_readonly */
    char secondary_dir[512];         /* readonly: the secondary instance's
                                      * own directory (info log), removed
                                      * at close; "" otherwise */
    pthread_mutex_t stripes[META_LOCK_STRIPES];
    pthread_rwlock_t bucket_locks[META_BUCKET_STRIPES];
    pthread_mutex_t bucket_mu;
    pthread_mutex_t upload_locks[META_UPLOAD_STRIPES];
    pthread_mutex_t seq_lock;        /* guards last_seq */
    uint64_t last_seq;               /* last write sequence handed out */
    /* audit_lock guards everything below. The chain head exists twice:
     * `tail` includes entries appended to a group not yet written,
     * `durable` only committed ones; they differ only while a group is
     * open or being written. */
    pthread_mutex_t audit_lock;
    pthread_cond_t audit_cv;         /* a group finished writing */
    int audit_loaded;                /* heads read from the catalog */
    uint64_t audit_tail_seq;
    unsigned char audit_tail[32];
    uint64_t audit_durable_seq;
    unsigned char audit_durable[32];
    struct meta_agroup *audit_open;  /* collecting entries, or NULL */
    int audit_writing;               /* a group leader is in rocksdb_write */
};

/* ---- byte buffers and record readers (meta_db.c) ---- */

/* A growable byte buffer for keys and records; oom sticks, so a sequence
 * of puts is checked once at the end. */
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

/* Sequential reader over a record; bad sticks on the first overrun. */
struct meta_rd {
    const unsigned char *p, *end;
    int bad;
};
void meta_rd_init(struct meta_rd *r, const char *p, size_t n);
unsigned meta_rd_u8(struct meta_rd *r);
uint32_t meta_rd_u32(struct meta_rd *r);
uint64_t meta_rd_u64(struct meta_rd *r);
/* A malloc'ed NUL-terminated copy, or NULL (and r->bad) on error. */
char *meta_rd_str(struct meta_rd *r, size_t *len);
/* Copies into a fixed field of cap bytes (NUL included); too long → bad. */
void meta_rd_strbuf(struct meta_rd *r, char *out, size_t cap);
/* 1 while fields remain (for [optional] groups). */
int meta_rd_more(const struct meta_rd *r);

/* ---- keys (meta_db.c) ---- */

/* "<tag>/<bucket>\0" — the prefix of one bucket's C/, V/ or U/ records. */
void meta_key_base(struct meta_buf *b, char tag, const char *bucket);
void meta_key_b(struct meta_buf *b, const char *bucket);
void meta_key_c(struct meta_buf *b, const char *bucket, const char *key,
                size_t key_len);
/* "V/<bucket>\0<key>\0": the prefix of one key's versions. */
void meta_key_vprefix(struct meta_buf *b, const char *bucket, const char *key,
                      size_t key_len);
void meta_key_v(struct meta_buf *b, const char *bucket, const char *key,
                size_t key_len, const char *inv, const char *vid);
/* Turns s[0..n) into the smallest string greater than every string that
 * starts with it (drop trailing 0xff bytes, increment the last); returns
 * the new length, 0 if no such string exists (s was all 0xff). */
size_t meta_successor(char *s, size_t n);
/* memcmp order with the shorter string first on a tie (RocksDB's order). */
int meta_memcmp(const char *a, size_t al, const char *b, size_t bl);
/* 1 if key is a storable object key: 1..META_KEY_MAX bytes, no NUL. */
int meta_key_ok(const char *key, size_t key_len);
int meta_bucket_name_ok(const char *name);

/* An iterator over the keys starting with one prefix: RocksDB is given the
 * prefix's successor as upper bound, so a scan stops at the end of its
 * range without stepping over the tombstones of the next one. */
struct meta_iter {
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it;
    char *hi;                  /* owned upper bound, or NULL for none */
};
/* snap may be NULL (latest state). Leaves the iterator unpositioned. */
enum meta_status meta_iter_open(struct meta_db *m, struct meta_iter *mi,
                                const rocksdb_snapshot_t *snap,
                                const char *prefix, size_t n);
void meta_iter_close(struct meta_iter *mi); /* zeroed struct: no-op */

/* Logs errptr (if set) with what, frees it, returns META_EIO; META_OK when
 * errptr is NULL. RocksDB messages never leave meta. */
enum meta_status meta_err(char *errptr, const char *what);
/* The same for an iterator's status. */
enum meta_status meta_iter_err(rocksdb_iterator_t *it, const char *what);
/* Writes wb with the synced write options. */
enum meta_status meta_write(struct meta_db *m, rocksdb_writebatch_t *wb,
                            const char *what);

/* ---- locks (meta_db.c) ---- */

pthread_mutex_t *meta_stripe(struct meta_db *m, const char *bucket,
                             const char *key, size_t key_len);
pthread_rwlock_t *meta_bucket_lock(struct meta_db *m, const char *bucket);
pthread_mutex_t *meta_upload_lock(struct meta_db *m, const char *upload_id);

/* ---- records (meta_object.c) ---- */

void meta_part_encode(struct meta_buf *b, const struct meta_part *p);
void meta_part_decode(struct meta_rd *r, struct meta_part *p);
void meta_part_csum_encode(struct meta_buf *b, const struct meta_part *p);
void meta_part_csum_decode(struct meta_rd *r, struct meta_part *p);
void meta_version_encode(struct meta_buf *b, const struct meta_version *v);
/* Fills *v (owning its heap fields); META_ECORRUPT (logged) on a bad
 * record, leaving *v zeroed. */
enum meta_status meta_version_decode(const char *p, size_t n,
                                     struct meta_version *v);

/* The decoded C rec. */
struct meta_cur {
    int dm;                               /* current is a delete marker */
    uint64_t size;
    int64_t mtime_ms;
    char id[META_VERSION_ID_MAX + 1];     /* version id */
    char etag[72];
    char inv[META_SEQ_HEX + 1];           /* <inv> of its V/ key */
};
void meta_cur_encode(struct meta_buf *b, const struct meta_version *v,
                     const char *inv);
int meta_cur_decode(const char *p, size_t n, struct meta_cur *c);
/* Reads C/<bucket>\0<key> with ro (which may carry a snapshot). */
enum meta_status meta_cur_get(struct meta_db *m, rocksdb_readoptions_t *ro,
                              const char *bucket, const char *key,
                              size_t key_len, struct meta_cur *c);

/* meta_object_put plus extra changes that fn adds to the same batch while
 * the bucket and key locks are held; a non-OK return aborts the commit. */
typedef enum meta_status (*meta_batch_fn)(struct meta_db *m,
                                          rocksdb_writebatch_t *wb,
                                          void *arg);
enum meta_status meta_object_put_ex(struct meta_db *m, const char *bucket,
                                    const struct meta_version *v,
                                    struct meta_version *replaced,
                                    meta_batch_fn fn, void *arg);

/* Everything put_impl can do at once: extra batch changes, a conditional
 * check under the key lock, an audit entry (each NULL when unused). */
enum meta_status meta_object_put_full(struct meta_db *m, const char *bucket,
                                      const struct meta_version *v,
                                      struct meta_version *replaced,
                                      meta_batch_fn fn, void *arg,
                                      meta_check_fn pre, void *pre_arg,
                                      int64_t time_ms, const char *event);

/* ---- the audit log (meta_audit.c) ---- */

/* Commits wb plus the next audit entry (time_ms, event) as one synced
 * write, grouped with concurrent audited commits (one fsync for all).
 * wb may only hold puts and deletes; the caller keeps ownership of wb and
 * may hold stripe locks (never audit_lock). A failed write fails every
 * commit of its group and any group built on it: their entries were
 * chained on entries that never became durable. */
enum meta_status meta_audit_commit(struct meta_db *m,
                                   rocksdb_writebatch_t *wb, int64_t time_ms,
                                   const char *event);
void meta_audit_init(struct meta_db *m);
void meta_audit_destroy(struct meta_db *m);

#endif /* META_INT_H */
