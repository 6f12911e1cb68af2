/* ec.h: stripe object versions over the N = K + M shard files of one erasure
 * set (Reed–Solomon through liberasurecode, ISA-L backend), each shard block
 * followed by its XXH3-64 bitrot hash; systematic reads, degraded reads that
 * decode through parity when up to M shards are missing or corrupt.
 *
 * Threads: an ec_set is immutable after ec_set_open() and may be shared by
 * all threads. An ec_writer or ec_reader is used by one thread at a time
 * (it may move between threads with a happens-before, e.g. a queue mutex).
 * Everything here blocks on disks: call it from worker threads, not loops.
 *
 * Ownership: a writer or reader borrows its ec_set, which must outlive it.
 * A writer owns its shard files in <disk>/tmp/ until ec_writer_finish()
 * renames them into <disk>/obj/ or ec_writer_free() unlinks them.
 *
 * Layout (see erasure/ec_int.h for the byte-level tables):
 *   <disk>/.coffer/format.json   deployment id, disk index, K, M, written once
 *   <disk>/tmp/                  shards being written
 *   <disk>/obj/<2hex>/<2hex>/<version-id>.<shard-index>
 *   <disk>/pack/<segment>        small objects' shards, appended (below)
 * Object keys never become paths: only version ids (hex) do.
 *
 * Small objects (pack segments). A version of at most pack_threshold bytes
 * is erasure-coded the same way, but each shard, with the same header,
 * bitrot hashes and trailer, is appended to segment <segment> on its disk
 * at the same offset on every disk of the set; concurrent writers share
 * one fdatasync per disk per batch. Its data id then becomes a *packed
 * locator*, "<id>+<segment:8 hex><offset:10 hex><length:6 hex>", which
 * ec_writer_data_id() returns and the caller stores in the catalog in
 * place of the id it gave: every function here that takes a data id takes
 * a locator too. Bytes of a packed locator's segments are never rewritten
 * except a shard that fails its checks, rebuilt in place by ec_heal(). */
#ifndef EC_H
#define EC_H

#include <stddef.h>
#include <stdint.h>

enum ec_status {
    EC_OK = 0,
    EC_EIO,       /* a disk operation failed (logged with path and errno) */
    EC_ENOSPC,    /* a disk is full */
    EC_ECORRUPT,  /* a shard failed its bitrot hash or header check */
    EC_ETOOFEW,   /* more than M shards missing/corrupt: data unavailable */
    EC_ENOTFOUND, /* no shard of that version exists at all */
    EC_EINVAL,    /* bad argument or configuration (logged) */
    EC_ENOMEM,
};
const char *ec_strerror(enum ec_status st);

#define EC_MAX_DISKS 32     /* in one erasure set */
#define EC_MAX_SETS 16      /* erasure sets per deployment */
#define EC_MAX_SET_DISKS 16 /* disks per set when there are several */
#define EC_VERSION_ID_MAX 64 /* version ids are [0-9a-zA-Z._-], < 64 bytes */

struct ec_config {
    const char *const *disks; /* directory paths, created if missing */
    int ndisks;               /* data + parity, or a multiple of it: then
                                 the disks form ndisks / (data + parity)
                                 erasure sets of at most 16 disks, each
                                 object version in one of them */
    int data;                 /* K, >= 1 */
    int parity;               /* M, >= 0 */
    size_t stripe_size;       /* data bytes per stripe; multiple of K*64 */
    int shared;               /* 1: a running server may be writing (an
                                 offline tool): leave tmp/ alone, and
                                 never append to pack segments */
    size_t pack_threshold;    /* versions of at most this many bytes go to
                                 pack segments; 0: never (capped at
                                 stripe_size and EC_PACK_MAX) */
    uint64_t pack_segment_max; /* roll to a new segment past this many
                                 bytes per disk; 0: 64 MiB (tests make it
                                 small to roll often) */
};
#define EC_PACK_MAX ((size_t)1 << 20) /* largest packable version */

struct ec_set;
/* Opens (creating on first use) every disk directory with its tmp/, obj/ and
 * .coffer/format.json; checks that existing format.json files agree on K and
 * M and on the deployment id. Removes whatever a crash left in tmp/: the
 * caller must hold the deployment's exclusive lock (cmd/ opens the catalog,
 * whose RocksDB LOCK admits one server, before the disks). Loads liberasurecode's isa_l_rs_vand backend
 * and warns loudly if only the slow built-in backend loads. */
enum ec_status ec_set_open(const struct ec_config *cfg, struct ec_set **out);
void ec_set_free(struct ec_set *set);
/* A new data id (the version_id of an ec_obj_info: 32 hex digits) for an
 * object of bucket/key: with several erasure sets its first two digits
 * name the set, chosen by a stable hash of bucket and key. Every id given
 * to a multi-set deployment must come from here. */
void ec_new_data_id(const struct ec_set *set, const char *bucket,
                    const char *key, size_t key_len, char out[33]);
/* Number of erasure sets (1 when the disks form one). */
int ec_set_count(const struct ec_set *set);
size_t ec_set_stripe_size(const struct ec_set *set);
int ec_set_data_shards(const struct ec_set *set);
int ec_set_parity_shards(const struct ec_set *set);
/* Number of disks currently believed usable (for health reporting). */
int ec_set_disks_online(const struct ec_set *set);

/* What a writer records in each shard header so the catalog can be rebuilt
 * from shards alone. Strings are borrowed for the call. */
struct ec_obj_info {
    const char *bucket;
    const char *key;        /* any bytes up to 1024, not NUL-containing */
    size_t key_len;
    const char *version_id; /* NUL-terminated, see EC_VERSION_ID_MAX */
    int64_t mtime_ms;
};

struct ec_writer;
/* Creates the N tmp shard files. A shard whose disk fails (missing, full,
 * unwritable) at any point of the write is dropped from it; the write
 * fails with EC_ETOOFEW (EC_ENOSPC if a disk was full) once fewer than the
 * write quorum remain: K + 1 shards with parity, all N without. A version
 * published with dropped shards reads through parity until healed. On
 * error nothing is left behind. */
enum ec_status ec_writer_new(struct ec_set *set, const struct ec_obj_info *info,
                             struct ec_writer **out);
/* Append len bytes. Whole stripes are encoded and written as they fill; the
 * writer holds at most one partial stripe internally. Callers get the best
 * throughput appending exactly ec_set_stripe_size() bytes at a time. After an
 * error the writer is dead: only ec_writer_free() may be called. */
enum ec_status ec_writer_append(struct ec_writer *w, const void *p, size_t len);
/* Stores rec (len bytes, opaque here: the catalog's record of the
 * version) in every shard's header, so `coffer meta rebuild` can restore
 * the version from its shards alone. Call it before ec_writer_finish().
 * EC_EINVAL if it does not fit in the header beside the bucket, key and
 * version id (4048 bytes in all); the writer then goes on without it. */
enum ec_status ec_writer_set_record(struct ec_writer *w, const void *rec,
                                    size_t len);
/* Encodes the final partial stripe, writes the trailer with the total size,
 * fdatasyncs every shard, renames each into obj/ and fsyncs the directories.
 * On EC_OK the shards are durable under their final names (the caller then
 * commits the catalog; if that fails it calls ec_remove()). */
enum ec_status ec_writer_finish(struct ec_writer *w, uint64_t *size_out);
/* The data id under which the version now lives: the id given to
 * ec_writer_new(), or, when ec_writer_finish() packed it, its packed
 * locator (see the top of this file). The catalog must record this one.
 * Valid until ec_writer_free(). */
const char *ec_writer_data_id(const struct ec_writer *w);
/* 1 if id is a packed locator. */
int ec_data_id_packed(const char *id);
/* Length of the part of a data id that names the write (all of it, or a
 * packed locator's id before '+'): what block hashes and SSE bind to. */
size_t ec_data_id_base_len(const char *id);
/* Shards dropped from this write (failed or full disks): after a
 * successful finish, non-zero means the version needs healing. */
int ec_writer_missing(const struct ec_writer *w);
/* Unlinks whatever tmp files remain and frees. NULL is a no-op. */
void ec_writer_free(struct ec_writer *w);

struct ec_reader;
/* Opens a committed version of the given size. Missing shards (up to M) are
 * tolerated here and at read time. */
enum ec_status ec_reader_open(struct ec_set *set, const char *version_id,
                              uint64_t size, struct ec_reader **out);
/* The same for serving reads: when the K data shards pass their checks,
 * the parity shards are opened only once a read needs them (a data shard
 * fails later), saving M opens and header reads per request. Missing or
 * damaged parity then goes unnoticed here (a read only reports data
 * shards as degraded anyway); heal and scrub use ec_reader_open(). */
enum ec_status ec_reader_open_data(struct ec_set *set, const char *version_id,
                                   uint64_t size, struct ec_reader **out);
/* Reads exactly len bytes at offset off (off + len <= size) into buf,
 * verifying every block's hash; corrupt or missing shards are reconstructed
 * from parity. *degraded is set to 1 if any shard had to be reconstructed
 * (the caller may queue the version for healing); may be NULL. */
enum ec_status ec_reader_read(struct ec_reader *r, uint64_t off, void *buf,
                              size_t len, int *degraded);
void ec_reader_free(struct ec_reader *r);
/* Shards that passed their header and trailer checks at open (N when all
 * are present and sound; fewer means reads go, or may go, through parity
 * and the version needs healing). Parity not opened yet by a reader of
 * ec_reader_open_data() does not count. */
int ec_reader_shards_usable(const struct ec_reader *r);

/* Removes every shard file of a version (best effort; logs failures). A
 * packed version's bytes stay in their segments until compaction: its
 * locator is appended to the segment's dead list on every disk, so scans
 * (coffer meta rebuild) never bring it back. */
enum ec_status ec_remove(struct ec_set *set, const char *version_id);

/* ---- healing, scrubbing, scanning ---- */

struct ec_heal_result {
    int shards_bad;         /* missing, unreadable or corrupt shards */
    int shards_rebuilt;     /* rewritten from the others */
    uint32_t bad_mask;      /* bit i: shard i was bad */
    uint64_t bytes_read;    /* shard bytes read to verify and rebuild */
    uint64_t bytes_written; /* shard bytes written */
};
/* Verifies every block of every shard of a version of `size` bytes
 * (header, trailer, length, bitrot hashes, fragment headers). With repair,
 * rebuilds each bad shard from the good ones into tmp/, makes it durable
 * and renames it over the bad one (a reader holding the old file keeps
 * it); a replaced, empty disk gets its format.json first. Returns EC_OK
 * when every shard is good or was rebuilt; EC_ETOOFEW when more than M are
 * bad (nothing written: the data is lost); EC_ENOTFOUND when no shard
 * exists; EC_EIO when a bad shard could not be rewritten (its disk is
 * failing). out is filled in every case. Safe beside a running server. */
enum ec_status ec_heal(struct ec_set *set, const char *version_id,
                       uint64_t size, int repair, struct ec_heal_result *out);

/* One shard file met by ec_scan(). Strings are NUL-terminated and valid
 * only during the callback. */
struct ec_shard_info {
    const char *path;
    int disk;               /* index of the disk it was found on */
    int valid;              /* header and trailer check out; when 0 only
                               path, disk and file_mtime_ms are meaningful */
    int shard;              /* shard index from the header */
    const char *bucket;
    const char *key;
    size_t key_len;
    const char *version_id;
    int64_t mtime_ms;       /* the version's, from the header */
    int64_t file_mtime_ms;  /* the file's (orphan ages) */
    uint64_t size;          /* object bytes, from the trailer */
    const void *record;     /* see ec_writer_set_record(); NULL if none */
    size_t record_len;
    int packed;             /* 1: an entry in a pack segment (path names
                               the segment; version_id is the locator) */
};
/* Calls fn for every file under every disk's obj/ tree, and for every
 * entry of every pack segment that checks out and no dead list names, in
 * no particular order; fn returns non-zero to stop. Unreadable
 * directories are logged and skipped. */
enum ec_status ec_scan(struct ec_set *set,
                       int (*fn)(const struct ec_shard_info *si, void *arg),
                       void *arg);

/* Marks the packed entry si (met by ec_scan) dead on its own disk: what
 * the orphan scan does with an entry no catalog record names (appended,
 * never committed). Best effort, logged. */
void ec_pack_mark_dead(struct ec_set *set, const struct ec_shard_info *si);

/* ---- pack segment compaction (heal/ decides what is live) ---- */

/* A pack segment of the deployment: the largest of its copies. */
struct ec_seg_info {
    int set;                /* erasure set index */
    uint32_t id;            /* segment id */
    uint64_t bytes;         /* size of its largest copy on any disk */
    int current;            /* 1: this process appends to it */
};
/* Calls fn for every segment of every set, in (set, id) order; fn returns
 * non-zero to stop. */
enum ec_status ec_pack_list(struct ec_set *set,
                            int (*fn)(const struct ec_seg_info *si, void *arg),
                            void *arg);
/* 1 if id is a packed locator, with the erasure set, segment and entry
 * length (rounded up to the alignment: the bytes it occupies) it names. */
int ec_pack_locator(struct ec_set *set, const char *id, int *set_index,
                    uint32_t *seg, uint64_t *bytes);
/* Copies the packed version at loc (size bytes) into the set's current
 * segment: every block read is verified (decoding through parity when
 * needed), the same header (bucket, key, time, record) and data id are
 * written, and the copy is verified whole (every shard's blocks, and its
 * bytes against the original's) before its locator is written to out.
 * The set must have been opened with packing on. Nothing is changed at
 * loc. On failure a partial copy is put on the dead list. */
enum ec_status ec_pack_move(struct ec_set *set, const char *loc,
                            uint64_t size, char *out, size_t cap);
/* Unlinks segment seg of set set_index (and its dead lists) on every disk
 * and fsyncs the pack directories; the caller has made sure nothing
 * names it. EC_EINVAL for this process's current segment. */
enum ec_status ec_pack_drop_segment(struct ec_set *set, int set_index,
                                    uint32_t seg);

#endif /* EC_H */
