/* ec_int.h (erasure-internal): the on-disk formats. `coffer meta rebuild`
 * and healing read shards by these tables; change them only with a new
 * format version, and keep reading the old ones.
 *
 * Shard file  <disk>/obj/<h0h1>/<h2h3>/<version-id>.<shard>  (h = lower-case
 * hex of XXH3-64 of the version id, most significant digits first); while
 * written: <disk>/tmp/<version-id>.<shard>.<16 random hex>. Write-once,
 * self-describing, every integer little-endian:
 *
 *   OFFSET  SIZE  FIELD
 *        0     8  magic "COFFSHD1"
 *        8     4  format version (2 is written; 1 is still read)
 *       12     1  K (data shards)          13  1  M (parity shards)
 *       14     1  shard index (0..K+M-1)   15  1  hash kind (1 = XXH3-64)
 *       16     4  stripe size (data bytes per stripe)
 *       20     4  block length BL (bytes per shard per full stripe)
 *       24     8  mtime, ms since the epoch (signed)
 *       32     2  bucket length B          34  2  version id length V
 *       36     2  key length L             38  2  record length R (0: none)
 *       40     B  bucket, then V bytes version id, then L bytes key, then
 *                 R bytes: the catalog's record of the version, opaque
 *                 here, for `coffer meta rebuild` (ec_writer_set_record)
 *                 (40 + B + V + L + R <= 4088; readers reject anything else)
 *    ...4088     zero padding
 *     4088     8  HH = XXH3-64 of bytes 0..4087
 *     4096        S stripe blocks, stripe s at 4096 + s * (BL + 8):
 *                   BL bytes (the last stripe: LL bytes, see the trailer)
 *                   8  XXH3-64 of the block bytes, seeded (format 2) with
 *                      XXH3-64(version id) ^ (s << 8 | shard index), so
 *                      a block at the wrong offset, in the wrong shard or
 *                      in another version's file fails like bit rot;
 *                      format 1: unseeded
 *      end-40  8  trailer magic "COFFEND1"
 *      end-32  8  object size in bytes (must equal the catalog's)
 *      end-24  8  stripe count S = ceil(size / stripe size)
 *      end-16  8  LL = length of the last stripe's block (0 if S = 0)
 *      end-8   8  XXH3-64 of the 32 trailer bytes before it, seeded with HH
 *                 (format 2: the trailer belongs to this header and no
 *                 other); format 1: unseeded
 *   and the file is exactly 4096 + (S-1)*(BL+8) + LL+8 + 40 bytes long
 *   (4096 + 40 when S = 0): truncation and appended junk are both caught.
 *
 * Blocks. With parity, a block is one whole liberasurecode fragment of
 * one stripe: its 80-byte fragment_header_t (index, payload size, original
 * stripe length; checksum type NONE, our XXH3 covers it) and then the
 * payload. We keep the whole fragment, not the payload alone, so
 * liberasurecode_decode() takes blocks as they are read. Systematic: the
 * payload of data shard i holds stripe bytes [i*P, (i+1)*P), P = payload
 * size = stripe size / K for a full stripe, zero-padded at the end of the
 * last, so reads of intact data shards skip the decoder. Every stripe but
 * the last is full (BL bytes); the last is encoded at its own length, so
 * a small object costs a small block (P = its length / K rounded up to
 * the backend's alignment), not a full stripe's. With M = 0 a block is raw
 * data: stripe size / K bytes (the last: ceil(len / K), zero-padded).
 *
 * Pack entry  <disk>/pack/<segment>  (segment = 8 lower-case hex digits of
 * the segment id, unique per erasure set; the same id on every disk of the
 * set). An entry is a shard file image as above, byte for byte, with:
 *   - format version 3 (only ever written to segments), which adds
 *       4080  8  E = entry length (header + blocks + trailer) and bounds
 *                the strings: 40 + B + V + L + R <= 4080;
 *   - the version id field holding the write's data id (not the locator);
 *   - its offset a multiple of EC_PACK_ALIGN (the gap before the next
 *     entry is zero), the same offset and length E on every disk of the
 *     set, so one locator "<id>+<seg><off><E>" (ec.h) finds every shard.
 * A segment is appended to by one server at a time (new ids at each
 * start, created O_EXCL); a torn or never-committed entry is dead space
 * that no catalog record names. Scans walk a segment entry by entry and,
 * after bytes that are not a valid entry, move on EC_PACK_ALIGN bytes at a
 * time. <disk>/pack/<segment>.dead: the dead list, one locator per line
 * (a line without its newline is torn and ignored): deleted versions and
 * orphans, which scans skip and compaction drops.
 *
 * Placement: shard i lives on disk (i + rot) % N, rot = XXH3(version id) % N,
 * so data shards (systematic: they hold the plain bytes) spread over disks.
 *
 * format.json  <disk>/.coffer/format.json, written once (tmp, fdatasync,
 * rename, fsync of .coffer/) when a disk has none:
 *   {"version":1,"deployment":"<32 hex>","disk":<index>,"data":K,
 *    "parity":M,"stripe_size":<bytes>,"sets":<S>}
 * "disk" is the position in the whole disk list (set s holds disks
 * s*(K+M) .. s*(K+M)+K+M-1); "sets" the number of erasure sets (absent in
 * older files: 1).
 * At open every existing one must name the same deployment, K and M, its own
 * position in the configured disk list, and (when present: files written
 * before it existed lack it) the configured stripe size.
 */
#ifndef EC_INT_H
#define EC_INT_H

#include <pthread.h>
#include <sys/types.h>

#include "ec.h"

#define EC_MAGIC "COFFSHD1"
#define EC_TRAILER_MAGIC "COFFEND1"
#define EC_HEADER_SIZE 4096
#define EC_TRAILER_SIZE 40
#define EC_HASH_SIZE 8
#define EC_HASH_XXH3 1
#define EC_FORMAT_VERSION 2 /* written; 1 is still read */
#define EC_FORMAT_PACKED 3  /* pack segment entries */
#define EC_PACK_LEN_OFF 4080 /* where a packed header keeps E */
#define EC_PACK_ALIGN 512
#define EC_PACK_SEG_MAX ((uint64_t)64 << 20) /* roll to a new segment past
                                                this many bytes */
#define EC_LOC_HEX 24       /* hex digits after '+' in a locator */
#define EC_PACK_RETRY_MS 10000 /* a segment missing disks is replaced after
                                  this long, to try them again */
/* Largest stripe: the header stores stripe size and block length in 32
 * bits, and liberasurecode sizes its buffers with int. */
#define EC_STRIPE_MAX ((size_t)256 << 20)

/* One pack segment open for appending, on every disk of a set.
 * Refcounted under its set's pack_mu: the set's current segment holds one
 * reference, each writer between its allocation and its sync another, and
 * a batch's dirty list another. */
struct ec_seg {
    uint32_t id;
    int fd[EC_MAX_DISKS];    /* -1: that disk's copy failed (not created or
                                a failed write/sync): its shards are lost */
    int err[EC_MAX_DISKS];   /* fd -1: why it could not be created */
    int missing;             /* disks without a copy (fd -1) */
    int64_t born_ms;         /* CLOCK_MONOTONIC at creation */
    uint32_t bad;            /* disks whose fdatasync failed (bit d) */
    int refs;
    int dirty;               /* on the set's dirty list */
    struct ec_seg *next_dirty; /* that list's link (pack_mu) */
    struct ec_seg *next_batch; /* the syncing batch's own link: a segment
                                  written to during the sync is put on the
                                  dirty list again, through next_dirty,
                                  while the batch still walks this one */
};

/* Immutable after ec_set_open(): shared by every thread without a lock
 * (liberasurecode's encode/decode on one instance are thread-safe). */
struct ec_set {
    char **disks;          /* N directory paths, owned */
    int n, k, m;           /* N = K + M disks, K data, M parity shards */
    size_t stripe_size;    /* data bytes per stripe */
    size_t block_len;      /* BL: bytes per shard per full stripe (a whole
                              fragment with parity, see above) */
    int desc;              /* liberasurecode instance, -1 when M == 0 */
    char deployment[33];   /* 32 hex digits + NUL, from format.json */
    uint64_t pack_seg_max; /* ec_config.pack_segment_max, or
                              EC_PACK_SEG_MAX */
    /* Group commit (ec_group_sync): shard files are made durable with one
     * syncfs() per filesystem per batch of concurrent writers. fs_fds
     * holds an open directory on each distinct filesystem of the disks
     * (nfs of them; the default layout has one); disk_fs maps a disk to
     * its filesystem. fs_bad_upto[f]: the last batch (ticket) in which
     * filesystem f failed to sync. Guarded by sync_mu. */
    int nfs;
    int fs_fds[EC_MAX_DISKS];
    const char *fs_path[EC_MAX_DISKS];   /* borrowed from disks[] */
    int disk_fs[EC_MAX_DISKS];
    uint64_t fs_bad_upto[EC_MAX_DISKS];
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    int sync_init;
    uint64_t sync_requested, sync_done;
    int sync_running;
    /* Pack segments (ec_pack.c), guarded by pack_mu: the current segment,
     * its append offset, and the batch of segments written since the last
     * fdatasync (one per disk per batch, led like ec_group_sync). */
    size_t pack_threshold;  /* 0: packing off (and in offline tools) */
    int pack_init;          /* pack_mu and pack_cv exist */
    pthread_mutex_t pack_mu;
    pthread_cond_t pack_cv;
    struct ec_seg *pack_cur;
    uint64_t pack_tail;
    uint32_t pack_next_id;  /* first id not used by any segment on disk */
    struct ec_seg *pack_dirty;
    uint64_t pack_requested, pack_done;
    int pack_running;
    /* Several erasure sets (more disks than one set holds): the handle
     * ec_set_open() returns has nsub > 0 and only dispatches, by the set
     * index in the first two hex digits of a data id (ec_new_data_id), to
     * sub[i], each a complete set as above; a single set has nsub == 0. */
    struct ec_set **sub;
    int nsub;
    int set_index, nsets;  /* this set's place among the deployment's */
    int disk_base;         /* index of its first disk in the disk list */
};
/* Makes everything written to the set's disks so far durable: joins (or
 * leads) a batch of syncfs() calls, one per filesystem, that starts after
 * the call. Returns the mask of filesystems (bit f) whose sync failed in
 * a batch that covered the call (conservatively: or in a later one). */
uint32_t ec_group_sync(struct ec_set *s);
/* The set that holds data id id (s itself with one set); NULL (logged) if
 * the id names none. */
struct ec_set *ec_pick(struct ec_set *s, const char *id);


/* A reader of one version (ec.c); healing (ec_heal.c) walks it block by
 * block. */
struct ec_reader {
    struct ec_set *set;
    char id[EC_VERSION_ID_MAX];
    uint64_t size, nstripes;
    uint64_t last_len;       /* block length of the last stripe, 0: unknown */
    uint64_t vseed;          /* XXH3 of the version id (block hash seeds) */
    int fds[EC_MAX_DISKS];   /* -1: missing or failed a check */
    int fmt[EC_MAX_DISKS];   /* each open shard's format version */
    char *blocks;            /* n * block_len scratch, owned; allocated on
                                first need (partial or degraded reads) */
    int packed;              /* 1: shards are entries of a pack segment */
    uint32_t seg;            /* packed: segment id */
    uint64_t off0;           /* where each shard starts in its file (0, or
                                the entry's offset in the segment) */
    uint64_t elen;           /* packed: entry length E */
};

/* Pack segments (ec_pack.c). */
/* Parses a packed locator; 0 if id is not one. base gets the id before
 * '+' (NUL-terminated, cap >= EC_VERSION_ID_MAX). */
int ec_loc_parse(const char *id, char *base, size_t cap, uint32_t *seg,
                 uint64_t *off, uint64_t *len);
void ec_seg_path(const struct ec_set *s, int disk, uint32_t seg, char *out,
                 size_t cap);
/* Opens the pack state of set s (after its disks): finds the first free
 * segment id. -1 (logged) on failure. */
int ec_pack_init(struct ec_set *s);
void ec_pack_cleanup(struct ec_set *s);
/* Reserves len bytes (a multiple of EC_PACK_ALIGN) in the current segment
 * (rolling to a new one when full, when a disk's copy failed, or when it
 * has lacked a disk for EC_PACK_RETRY_MS): returns the segment with a
 * reference held (its copies may all be missing: fd -1, err says why),
 * NULL only without memory. */
struct ec_seg *ec_pack_alloc(struct ec_set *s, uint64_t len, uint64_t *off);
/* Makes every append to seg so far durable: one fdatasync per disk per
 * batch of concurrent callers. Returns the mask of disks whose copy of seg
 * is not durable (failed sync or failed earlier). */
uint32_t ec_pack_sync(struct ec_set *s, struct ec_seg *seg);
void ec_pack_release(struct ec_set *s, struct ec_seg *seg);
/* A disk's copy failed a write: no more appends to it. */
void ec_pack_disk_failed(struct ec_set *s, struct ec_seg *seg, int d);
/* Appends locator id to the dead list of its segment on disk d (d < 0:
 * every disk of the set). */
void ec_pack_dead_add(struct ec_set *s, const char *id, int d);

/* Shared by ec.c and ec_heal.c. */
/* Shard i of r for logs: its file, or its segment and offset. */
void ec_shard_name(const struct ec_reader *r, int i, char *out, size_t cap);
void ec_log_errno(const char *what, const char *path, int err);
void ec_put_le(unsigned char *p, uint64_t v, int n);
uint64_t ec_get_le(const unsigned char *p, int n);
int ec_fsync_dir(const char *path); /* 0, or -1 with errno */
int ec_valid_id(const char *id);
void ec_obj_dir(const struct ec_set *s, const char *id, int shard,
                char *out, size_t cap);
void ec_obj_path(const struct ec_set *s, const char *id, int shard,
                 char *out, size_t cap);
uint64_t ec_block_seed(int fmt, uint64_t vseed, uint64_t stripe, int shard);
int ec_write_quorum(const struct ec_set *s);
/* Disk (index into set->disks) holding shard `shard` of a version. */
int ec_disk_of(const struct ec_set *s, const char *id, int shard);
/* Makes disk d writable for healing: tmp/ and obj/ exist, and a missing
 * format.json (a replaced, empty disk) is written; -1 (logged) if the disk
 * cannot be used or holds another disk's format. */
int ec_disk_prepare(const struct ec_set *s, int d);
/* Block length of stripe `stripe` (the last may be shorter). */
size_t ec_block_len_of(const struct ec_reader *r, uint64_t stripe);
size_t ec_frag_hdr_len(const struct ec_set *s);
/* Reads and verifies block `stripe` of shard i whole into dst; -1 (and
 * the shard dropped from the reader) if unreadable or corrupt. */
int ec_read_block(struct ec_reader *r, int i, uint64_t stripe, char *dst);
/* Payload length of the fragment whose header is at fh, or -1 if it is
 * not the fragment shard i must hold for that stripe. */
long ec_frag_payload(const struct ec_reader *r, int i, const char *fh,
                     uint64_t stripe);

#endif /* EC_INT_H */
