/* meta.h: the RocksDB catalog. Buckets, object versions, current-version
 * pointers and the listings built from them. A version exists iff its V/
 * record is committed: every write here is one RocksDB write batch with a
 * synced WAL, so when a call returns META_OK the change is durable.
 * Concurrent writers share WAL fsyncs (RocksDB group commit).
 *
 * Threads: a meta_db is shared by all threads after meta_open(); every call
 * is thread-safe. Calls block on disk: use them from worker threads.
 *
 * Ownership: structs passed in are borrowed for the call. Structs filled by
 * meta_* own their heap fields and are released with the matching
 * meta_*_cleanup(); cleanup of a zeroed struct is a no-op.
 *
 * Key schema: see meta/meta_int.h. */
#ifndef META_H
#define META_H

#include <stddef.h>
#include <stdint.h>

enum meta_status {
    META_OK = 0,
    META_ENOTFOUND, /* no such bucket / key / version */
    META_EEXIST,    /* bucket already exists */
    META_ENOTEMPTY, /* bucket still holds versions */
    META_EIO,       /* RocksDB error (logged with its message) */
    META_ECORRUPT,  /* a record failed to decode (logged) */
    META_EINVAL,
    META_ENOMEM,
    META_EDENIED,   /* a caller's check refused the change */
};
const char *meta_strerror(enum meta_status st);

#define META_BUCKET_NAME_MAX 63
#define META_KEY_MAX 1024
#define META_VERSION_ID_MAX 64

struct meta_db;
/* Opens or creates the catalog in dir (created if missing). */
enum meta_status meta_open(const char *dir, struct meta_db **out);
void meta_close(struct meta_db *db); /* NULL is a no-op */

/* ---- buckets ---- */

enum meta_versioning { META_VERSIONING_OFF = 0, META_VERSIONING_ENABLED,
                       META_VERSIONING_SUSPENDED };

struct meta_bucket {
    char name[META_BUCKET_NAME_MAX + 1];
    char owner[128];      /* access key of the creating user */
    char region[32];      /* LocationConstraint; "" means us-east-1 */
    int64_t created_ms;   /* wall clock at creation */
    enum meta_versioning versioning;
    int lock_enabled;     /* Object Lock on (never turned off) */
    int lock_mode;        /* default retention: enum ol_mode, 0 = none */
    uint32_t lock_days;   /* default period: days, or */
    uint32_t lock_years;  /* years (exactly one is non-zero with a mode) */
};

/* META_EEXIST (and *existing filled, if non-NULL) if the name is taken. */
enum meta_status meta_bucket_create(struct meta_db *db,
                                    const struct meta_bucket *b,
                                    struct meta_bucket *existing);
enum meta_status meta_bucket_get(struct meta_db *db, const char *name,
                                 struct meta_bucket *out);
/* Replaces the stored record (versioning changes etc.). */
enum meta_status meta_bucket_update(struct meta_db *db,
                                    const struct meta_bucket *b);
/* Optional documents of a bucket, kept in its B/ record beside the fields
 * above (so they go with the bucket) and opaque to meta: the gateway
 * validates them and chooses their encoding. */
enum meta_battr {
    META_BATTR_CORS = 1,  /* CORS rules (canonical CORSConfiguration XML) */
    META_BATTR_TAGS = 2,  /* bucket tags ("k=v&k=v", URL-encoded) */
    META_BATTR_SSE = 3,   /* default encryption ("AES256") */
    META_BATTR_POLICY = 4,/* bucket policy (JSON as the client sent it) */
    META_BATTR_ACL = 5,   /* canned bucket ACL ("public-read"; absent:
                             private) */
    META_BATTR_PAB = 6,   /* public access block: "none", or 4 of 0/1
                             (BlockPublicAcls, IgnorePublicAcls,
                             BlockPublicPolicy, RestrictPublicBuckets);
                             absent: all on, the default of new buckets */
    /* ids are stored: never reuse or renumber one */
    META_BATTR_LIFECYCLE = 8, /* lifecycle rules (canonical
                                 LifecycleConfiguration XML) */
};
#define META_BATTR_MAX_BYTES (256 * 1024)
/* *value: a malloc'ed NUL-terminated copy (free it), or NULL when the
 * bucket has no such document. META_ENOTFOUND if there is no bucket. */
enum meta_status meta_bucket_attr_get(struct meta_db *db, const char *name,
                                      enum meta_battr id, char **value,
                                      size_t *len);
/* Several documents from one read of the record (the gateway's access
 * check reads policy, ACL and public access block per request): values[i]
 * and lens[i] as meta_bucket_attr_get gives them, for ids[i], i < n; all
 * NULL on an error. */
enum meta_status meta_bucket_attrs_get(struct meta_db *db, const char *name,
                                       const enum meta_battr *ids, size_t n,
                                       char **values, size_t *lens);
/* Stores (value NULL: removes) one document, in one synced write;
 * meta_bucket_update keeps them. META_EINVAL above META_BATTR_MAX_BYTES. */
enum meta_status meta_bucket_attr_set(struct meta_db *db, const char *name,
                                      enum meta_battr id, const char *value,
                                      size_t len);
/* META_ENOTEMPTY while any version (or upload) of the bucket exists. */
enum meta_status meta_bucket_delete(struct meta_db *db, const char *name);
/* Calls fn for each bucket in name order; fn returns non-zero to stop. */
enum meta_status meta_bucket_foreach(struct meta_db *db,
                                     int (*fn)(const struct meta_bucket *b,
                                               void *arg),
                                     void *arg);

/* ---- object versions ---- */

/* One stored header of a version (Content-Type, x-amz-meta-*, ...): names
 * are stored lower-case as the gateway gives them. */
struct meta_kv {
    char *name;
    char *value;
};

/* One part of a multipart object (or of an upload in progress). Its data
 * is stored by the erasure layer under data_id. */
struct meta_part {
    uint32_t number;       /* 1..10000 */
    uint64_t size;
    int64_t mtime_ms;
    char etag[33];         /* hex MD5 of the part */
    char data_id[META_VERSION_ID_MAX + 1];
    /* The part's S3 checksum, kept when its upload names an algorithm:
     * csum_algo is opaque here (the gateway's numbering, 0 = none) and
     * csum its base64 value, "" when none. */
    int csum_algo;
    char csum[64];
    /* 1: the data is stored encrypted (see meta_data_size); set from the
     * P rec, and from the version's sse group for the parts of a V rec. */
    int enc;
};

/* Server-side encryption of a version (the gateway's choice; meta stores
 * it). alg 0: the data is stored as given. Otherwise the data is stored in
 * blocks of stripe_size - META_SSE_TAG plaintext bytes, each followed by
 * its 16-byte AES-256-GCM tag, so a block and its tag fill one stripe. */
#define META_SSE_TAG 16
enum meta_sse_alg { META_SSE_NONE = 0, META_SSE_S3 = 1, META_SSE_C = 2 };
struct meta_sse {
    int alg;                  /* enum meta_sse_alg */
    unsigned char salt[8];    /* nonce salt, random per version / upload */
    size_t salt_len;
    unsigned char wkey[96];   /* the data key, wrapped (gateway format) */
    size_t wkey_len;
    unsigned char kid[64];    /* SSE-C: salted HMAC of the customer key */
    size_t kid_len;
};
/* Bytes the erasure layer holds for plain bytes of data written with
 * stripe_size and enc (0: none): plain + META_SSE_TAG per block. */
uint64_t meta_data_size(uint64_t plain, uint32_t stripe_size, int enc);

struct meta_version {
    char version_id[META_VERSION_ID_MAX + 1]; /* as clients see it; "null"
                              for writes while versioning is off/suspended */
    char data_id[META_VERSION_ID_MAX + 1];    /* where the erasure layer
                              keeps the data (unique per write) */
    char *key;             /* owned; key_len bytes + NUL */
    size_t key_len;
    uint64_t size;         /* object bytes */
    int64_t mtime_ms;      /* Last-Modified, wall clock at commit */
    char etag[72];         /* without quotes: 32 hex, or "<hex>-<n>" */
    int delete_marker;     /* 1: a delete marker, no data */
    int ec_data, ec_parity;/* layout when written */
    uint32_t stripe_size;
    struct meta_kv *headers; /* owned array of nheaders stored headers */
    size_t nheaders;
    /* Multipart objects: the parts in order (owned); their data lives under
     * each part's data_id. nparts == 0: the data lives under version_id. */
    struct meta_part *parts;
    size_t nparts;
    /* Object Lock state (objlock/ decides what may change it) */
    int lock_mode;           /* enum ol_mode, 0 = none */
    int64_t retain_until_ms;
    int legal_hold;
    /* Content SHA-256, 64 lower-case hex digits, or "" when it was not
     * computed (the gateway computes it for every write into an Object
     * Lock bucket and for signed payloads). */
    char sha256[65];
    struct meta_sse sse;     /* alg 0 when the data is not encrypted */
};
void meta_version_cleanup(struct meta_version *v);

/* Commits v as the newest version of (bucket, key) and makes it current,
 * in one synced batch. A version of the key with the same version_id (the
 * "null" version) is removed in the same batch and copied to *replaced
 * (replaced->version_id[0] == 0 when there was none) so the caller can
 * delete its data after the commit. META_ENOTFOUND if the bucket does not
 * exist. */
enum meta_status meta_object_put(struct meta_db *db, const char *bucket,
                                 const struct meta_version *v,
                                 struct meta_version *replaced);
/* version_id NULL → the current version (META_ENOTFOUND if none). */
enum meta_status meta_object_get(struct meta_db *db, const char *bucket,
                                 const char *key, size_t key_len,
                                 const char *version_id,
                                 struct meta_version *out);
/* Removes one version (version_id NULL → the current one) and repoints the
 * current pointer to the next newest version if it was current. The removed
 * record is copied to *removed (may be NULL). META_ENOTFOUND if absent. */
enum meta_status meta_object_delete(struct meta_db *db, const char *bucket,
                                    const char *key, size_t key_len,
                                    const char *version_id,
                                    struct meta_version *removed);

/* Checks a version about to be removed or rewritten, under the key's lock
 * (so nothing changes between the check and the commit). Returns 0 to go
 * on; non-zero makes the call fail with META_EDENIED. */
typedef int (*meta_check_fn)(struct meta_version *v, void *arg);
/* meta_object_delete, refused (META_EDENIED) when check says so. */
enum meta_status meta_object_delete_if(struct meta_db *db, const char *bucket,
                                       const char *key, size_t key_len,
                                       const char *version_id,
                                       meta_check_fn check, void *arg,
                                       struct meta_version *removed);
/* Read-modify-write of one version's record (lock fields): fn may change
 * v in place and returns 0 to store it, non-zero to leave it
 * (META_EDENIED). version_id NULL: the current version. */
enum meta_status meta_object_update(struct meta_db *db, const char *bucket,
                                    const char *key, size_t key_len,
                                    const char *version_id, meta_check_fn fn,
                                    void *arg);

/* ---- the audit log ----
 * A/<seq:16 hex> records, hash-chained: each holds the SHA-256 of the one
 * before it, so removing, reordering or editing any entry breaks every
 * hash after it. An entry describing a change is committed in the same
 * synced batch as the change (see the *_audited calls); entries are
 * appended in commit order under one lock. */
struct meta_audit_entry {
    uint64_t seq;              /* 1, 2, ... */
    int64_t time_ms;           /* compliance time of the event */
    unsigned char prev[32];    /* hash of entry seq-1 (zeros for seq 1) */
    unsigned char hash[32];    /* SHA-256(prev | seq | time | event) */
    char *event;               /* owned JSON text */
};
/* Appends a standalone entry (an event that changes no data, such as a
 * refused delete). */
enum meta_status meta_audit_log(struct meta_db *db, int64_t time_ms,
                                const char *event);
/* Walks the log in order; fn returns non-zero to stop. Verification is the
 * caller's (see coffer audit verify): recompute each hash, compare with the
 * next entry's prev. */
enum meta_status meta_audit_foreach(struct meta_db *db,
                                    int (*fn)(const struct meta_audit_entry *e,
                                              void *arg),
                                    void *arg);
/* The same, starting at entry `from` (entries before it are skipped
 * without being read). */
enum meta_status meta_audit_foreach_from(struct meta_db *db, uint64_t from,
                                         int (*fn)(const struct
                                                   meta_audit_entry *e,
                                                   void *arg),
                                         void *arg);
/* The hash an entry must have. */
void meta_audit_hash(const struct meta_audit_entry *e, unsigned char out[32]);
/* Opens an existing catalog read-only (alongside a running server). */
enum meta_status meta_open_readonly(const char *dir, struct meta_db **out);

/* Audited variants: the entry (event JSON, time) commits with the change.
 * event NULL behaves exactly as the plain call. */
enum meta_status meta_object_put_audited(struct meta_db *db,
                                         const char *bucket,
                                         const struct meta_version *v,
                                         struct meta_version *replaced,
                                         int64_t time_ms, const char *event);
enum meta_status meta_object_update_audited(struct meta_db *db,
                                            const char *bucket,
                                            const char *key, size_t key_len,
                                            const char *version_id,
                                            meta_check_fn fn, void *arg,
                                            int64_t time_ms,
                                            const char *event);

/* meta_object_put_audited, first asking pre (with the current version,
 * or NULL when there is none or it is a delete marker) under the key's
 * lock: non-zero refuses with META_EDENIED (conditional writes). */
enum meta_status meta_object_put_if(struct meta_db *db, const char *bucket,
                                    const struct meta_version *v,
                                    struct meta_version *replaced,
                                    meta_check_fn pre, void *pre_arg,
                                    int64_t time_ms, const char *event);

/* A small persisted value (the compliance clock). 0 when never set. */
enum meta_status meta_clock_get(struct meta_db *db, int64_t *ms);
enum meta_status meta_clock_set(struct meta_db *db, int64_t ms);
/* Small persisted counters, K/<name> (name: 1..32 of a-z 0-9 _ -), 0
 * when never set; each set is one synced write (the audit export's
 * progress). */
enum meta_status meta_counter_get(struct meta_db *db, const char *name,
                                  uint64_t *v);
enum meta_status meta_counter_set(struct meta_db *db, const char *name,
                                  uint64_t v);

/* ---- users (records of iam/, opaque here) ---- */

#define META_USER_NAME_MAX 64
#define META_USER_MAX_BYTES 4096
/* *value: a malloc'ed NUL-terminated copy (free it). META_ENOTFOUND when
 * there is no such user. */
enum meta_status meta_user_get(struct meta_db *db, const char *name,
                               char **value, size_t *len);
/* Creates or replaces the record, in one synced write; with event (JSON)
 * non-NULL, the audit entry (time_ms, event) commits in the same batch. */
enum meta_status meta_user_put(struct meta_db *db, const char *name,
                               const char *value, size_t len,
                               int64_t time_ms, const char *event);
/* META_ENOTFOUND when there is no such user; event as above. */
enum meta_status meta_user_delete(struct meta_db *db, const char *name,
                                  int64_t time_ms, const char *event);
/* Calls fn for each user in name order; fn returns non-zero to stop. */
typedef int (*meta_user_fn)(const char *name, const char *value, size_t len,
                            void *arg);
enum meta_status meta_user_foreach(struct meta_db *db, meta_user_fn fn,
                                   void *arg);

/* ---- multipart uploads ---- */

#define META_UPLOAD_ID_MAX 64
#define META_MAX_PARTS 10000

struct meta_upload {
    char upload_id[META_UPLOAD_ID_MAX + 1];
    char *key;             /* owned; key_len bytes + NUL */
    size_t key_len;
    int64_t initiated_ms;
    char owner[128];
    struct meta_kv *headers; /* owned: headers given at creation */
    size_t nheaders;
};
void meta_upload_cleanup(struct meta_upload *u);

/* META_ENOTFOUND if the bucket does not exist. */
enum meta_status meta_upload_create(struct meta_db *db, const char *bucket,
                                    const struct meta_upload *u);
/* META_ENOTFOUND if no such upload for that key. */
enum meta_status meta_upload_get(struct meta_db *db, const char *bucket,
                                 const char *key, size_t key_len,
                                 const char *upload_id,
                                 struct meta_upload *out);
/* Records a part (replacing one with the same number, copied to *replaced,
 * whose data the caller removes). META_ENOTFOUND if the upload is gone. */
enum meta_status meta_upload_put_part(struct meta_db *db, const char *bucket,
                                      const char *key, size_t key_len,
                                      const char *upload_id,
                                      const struct meta_part *p,
                                      struct meta_part *replaced);
/* Parts with number > after, ascending, at most max; *truncated set when
 * more follow. *parts is malloc'ed (free it). */
enum meta_status meta_upload_parts(struct meta_db *db, const char *upload_id,
                                   uint32_t after, size_t max,
                                   struct meta_part **parts, size_t *nparts,
                                   int *truncated);
/* Completes: in one batch removes the upload and its part records and
 * commits v (whose parts[] must be a subset of the recorded parts) as
 * meta_object_put does. Parts not used are copied to *unused / *nunused
 * (malloc'ed) so the caller removes their data. */
enum meta_status meta_upload_complete(struct meta_db *db, const char *bucket,
                                      const char *upload_id,
                                      const struct meta_version *v,
                                      struct meta_version *replaced,
                                      struct meta_part **unused,
                                      size_t *nunused);
/* meta_upload_complete, asking pre first as meta_object_put_if does
 * (META_EDENIED when it refuses; the upload is left as it was), and
 * committing the audit entry event (NULL: none) with the version. */
enum meta_status meta_upload_complete_if(struct meta_db *db,
                                         const char *bucket,
                                         const char *upload_id,
                                         const struct meta_version *v,
                                         struct meta_version *replaced,
                                         struct meta_part **unused,
                                         size_t *nunused, meta_check_fn pre,
                                         void *pre_arg, int64_t time_ms,
                                         const char *event);
/* Aborts: removes the upload and its parts; the parts are returned. */
enum meta_status meta_upload_abort(struct meta_db *db, const char *bucket,
                                   const char *key, size_t key_len,
                                   const char *upload_id,
                                   struct meta_part **parts, size_t *nparts);
/* Uploads of a bucket in (key, upload id) order after the markers. */
struct meta_upload_list {
    struct meta_upload *uploads; /* owned */
    size_t n;
    int truncated;
};
enum meta_status meta_upload_list(struct meta_db *db, const char *bucket,
                                  const char *prefix, size_t prefix_len,
                                  const char *key_marker, size_t km_len,
                                  const char *id_marker, size_t max,
                                  struct meta_upload_list *out);
void meta_upload_list_cleanup(struct meta_upload_list *l);
/* Read-modify-write of one upload's record under the key's lock: fn may
 * change u's stored headers in place (nothing else) and returns 0 to
 * store it (one synced write), non-zero to leave it (META_EDENIED). */
typedef int (*meta_upload_fn)(struct meta_upload *u, void *arg);
enum meta_status meta_upload_update(struct meta_db *db, const char *bucket,
                                    const char *key, size_t key_len,
                                    const char *upload_id,
                                    meta_upload_fn fn, void *arg);
/* Every upload in progress, of every bucket, in catalog order; fn returns
 * non-zero to stop. u is valid only during the call. */
typedef int (*meta_upload_each_fn)(const char *bucket,
                                   const struct meta_upload *u, void *arg);
enum meta_status meta_upload_foreach(struct meta_db *db,
                                     meta_upload_each_fn fn, void *arg);

/* ---- listings (ListObjects v1 / v2 semantics, current versions only) ---- */

struct meta_list_params {
    const char *prefix;     size_t prefix_len;     /* may be empty */
    const char *delimiter;  size_t delimiter_len;  /* empty: no grouping */
    const char *start_after; size_t start_after_len; /* exclusive; marker */
    size_t max_keys;        /* 0..1000; 0 returns nothing, not truncated */
};
struct meta_list_entry {
    char *key; size_t key_len;   /* owned */
    int is_prefix;               /* 1: a CommonPrefix (key holds it) */
    uint64_t size;
    int64_t mtime_ms;
    char etag[72];
    char version_id[META_VERSION_ID_MAX + 1];
};
struct meta_list_result {
    struct meta_list_entry *entries; /* keys and prefixes, in byte order */
    size_t nentries;                 /* <= max_keys (prefixes count too) */
    int truncated;
    /* When truncated: the last key or prefix returned; listing resumes after
     * it (and after everything that shares the prefix). */
    char *next_marker; size_t next_marker_len;
};
enum meta_status meta_list_objects(struct meta_db *db, const char *bucket,
                                   const struct meta_list_params *p,
                                   struct meta_list_result *out);
void meta_list_result_cleanup(struct meta_list_result *r);

/* ---- ListObjectVersions ---- */

struct meta_version_entry {
    char *key; size_t key_len;   /* owned; a CommonPrefix when is_prefix */
    int is_prefix;
    char version_id[META_VERSION_ID_MAX + 1];
    int is_latest;
    int delete_marker;
    uint64_t size;
    int64_t mtime_ms;
    char etag[72];
};
struct meta_versions_result {
    struct meta_version_entry *entries; /* key order, newest first per key */
    size_t n;
    int truncated;
    /* when truncated: where the next page starts after */
    char *next_key; size_t next_key_len;
    char next_version_id[META_VERSION_ID_MAX + 1]; /* "" after a prefix */
};
/* Versions and delete markers of a bucket after (key_marker,
 * version_id_marker) — with no version id marker, after every version of
 * key_marker — at most max entries (prefixes count one). */
enum meta_status meta_list_versions(struct meta_db *db, const char *bucket,
                                    const struct meta_list_params *p,
                                    const char *version_id_marker,
                                    struct meta_versions_result *out);
void meta_versions_result_cleanup(struct meta_versions_result *r);

/* ---- maintenance (meta_maint.c) ---- */

/* Called with each version or delete marker; non-zero stops the walk.
 * v is valid only during the call. */
typedef int (*meta_version_fn)(const char *bucket,
                               const struct meta_version *v, void *arg);
/* Every version of one bucket (bucket NULL: of every bucket), in catalog
 * order (bucket, key, newest first). */
enum meta_status meta_version_foreach(struct meta_db *db, const char *bucket,
                                      meta_version_fn fn, void *arg);
typedef int (*meta_part_fn)(const char *upload_id, const struct meta_part *p,
                            void *arg);
/* Every recorded part of every upload in progress. */
enum meta_status meta_upload_part_foreach(struct meta_db *db,
                                          meta_part_fn fn, void *arg);
/* A RocksDB checkpoint of the catalog into dir (which must not exist): a
 * complete catalog that meta_open() opens, hard-linked where dir is on the
 * catalog's filesystem, copied otherwise. */
enum meta_status meta_checkpoint(struct meta_db *db, const char *dir);
/* The record of a version kept with its data (the erasure layer stores it
 * in every shard header) so `coffer meta rebuild` can restore the version,
 * its lock state included, without the catalog: at most max bytes (the
 * stored headers are dropped first if it would not fit; META_EINVAL if it
 * still does not). *out is malloc'ed. */
enum meta_status meta_version_record(const char *bucket,
                                     const struct meta_version *v,
                                     size_t max, char **out, size_t *len);
/* Decodes such a record into bucket and *v (cleanup with
 * meta_version_cleanup); META_ECORRUPT if it is not one. */
enum meta_status meta_version_from_record(const void *p, size_t n,
                                          char bucket[META_BUCKET_NAME_MAX +
                                                      1],
                                          struct meta_version *v);

#endif /* META_H */
