/* heal.h: keeping stored data whole. Joins the catalog (meta/) with the
 * erasure layer (erasure/): verifies and rebuilds the shards of every data
 * object the catalog names (`coffer heal`, the background scrubber), heals
 * versions that reads found degraded (the background healer), removes
 * shard files no version names (orphans left by a crash), takes periodic
 * catalog checkpoints onto the data disks, and rebuilds a lost catalog from
 * the newest checkpoint plus the records in the shard headers
 * (`coffer meta rebuild`).
 *
 * Threads: heal_all() and heal_rebuild() block for as long as they work
 * (call them from a CLI or a dedicated thread). heal_bg_report() may be
 * called from any thread and never blocks.
 * Ownership: everything borrows the catalog and the erasure set, which must
 * outlive the calls and the background threads. */
#ifndef HEAL_H
#define HEAL_H

#include <stdint.h>

#include "ec.h"
#include "meta.h"

enum heal_status {
    HEAL_OK = 0,
    HEAL_EDAMAGED,  /* some data could not be healed (counted in stats) */
    HEAL_EIO,       /* the catalog or a directory could not be read */
    HEAL_EINVAL,
    HEAL_ENOMEM,
};
const char *heal_strerror(enum heal_status st);

/* Totals of one pass over the stored data. */
struct heal_stats {
    uint64_t objects_total;    /* data objects the catalog names (versions'
                                  data and multipart parts) */
    uint64_t objects_checked;
    uint64_t objects_damaged;  /* with at least one bad shard */
    uint64_t shards_bad;
    uint64_t shards_rebuilt;
    uint64_t bytes_read, bytes_written;
    uint64_t unrecoverable;    /* more than M shards bad: data lost */
    uint64_t failed;           /* healable, but a rewrite failed */
};

struct heal_opts {
    const char *bucket;        /* NULL: every bucket */
    int dry_run;               /* verify and count only */
    double rate_mib_s;         /* shard bytes read per second; 0: no limit */
    /* called after each object (and once at the end); may be NULL */
    void (*progress)(const struct heal_stats *st, void *arg);
    void *arg;
    const volatile int *stop;  /* set non-zero to end the pass early */
};
/* Verifies every data object (unless dry_run, rebuilding bad shards).
 * HEAL_EDAMAGED if any object is unrecoverable or could not be rewritten
 * (the stats say which counts). */
enum heal_status heal_all(struct meta_db *db, struct ec_set *set,
                          const struct heal_opts *o, struct heal_stats *out);

/* Removes shard files that no version or upload part names and that are
 * older than before_ms (file mtime): what a crash between publishing the
 * shards and committing the catalog, or between a delete's commit and its
 * unlinks, leaves behind. Counts in *removed. Packed entries no version
 * names, written (by their header's time) before before_ms, cannot be
 * unlinked: they are put on their segments' dead lists (dead space for
 * compaction, never brought back by `coffer meta rebuild`). */
enum heal_status heal_remove_orphans(struct meta_db *db, struct ec_set *set,
                                     int64_t before_ms, uint64_t *removed);

/* ---- pack segment compaction ---- */

struct heal_pack_stats {
    uint64_t segments, bytes;   /* every pack segment, its largest copy */
    uint64_t live_bytes;        /* of entries the catalog names */
    uint64_t candidates;        /* segments with at least min_dead_pct dead */
    uint64_t reclaimable;       /* their dead bytes */
    uint64_t moved, moved_bytes;/* entries copied and switched */
    uint64_t compacted;         /* segments removed */
    uint64_t freed_bytes;       /* their size (the copies take live bytes) */
    uint64_t skipped;           /* kept: they hold an upload part */
    uint64_t failed;            /* entries not moved, segments kept */
};
/* Compacts every pack segment (but the current one) of which at least
 * min_dead_pct percent is dead: each live entry is copied, verified, into
 * the current segment, the catalog switched to the copy, and the segment
 * removed once a fresh walk of the catalog finds nothing in it
 * (heal_pack.c says why this never drops a version, locked or not, and
 * why it can be cut short and run again). dry_run: figures only. The
 * caller holds the catalog exclusively (meta_open) and opened set with
 * packing on. HEAL_EDAMAGED if anything could not be moved (counted). */
enum heal_status heal_pack_compact(struct meta_db *db, struct ec_set *set,
                                   int min_dead_pct, int dry_run,
                                   struct heal_pack_stats *out);

/* ---- catalog checkpoints and rebuild ---- */

/* Writes a checkpoint of the catalog to <disk>/.coffer/meta-backup/<ms>
 * on every disk (tmp name, renamed when complete) and keeps the newest
 * `keep` there. HEAL_OK if at least one disk holds the new checkpoint. */
enum heal_status heal_checkpoint(struct meta_db *db,
                                 const char *const *disks, int ndisks,
                                 int keep);

struct heal_rebuild_stats {
    char checkpoint[4096];     /* the checkpoint started from, "" if none */
    uint64_t from_checkpoint;  /* versions it held */
    uint64_t restored;         /* versions added from shard records */
    uint64_t lock_strengthened;/* checkpoint versions whose lock state the
                                  shard record made stronger */
    uint64_t dropped;          /* checkpoint versions without data and not
                                  locked (deleted after the checkpoint) */
    uint64_t kept_missing;     /* locked versions whose data is missing */
    uint64_t no_record;        /* shard groups without a record (older
                                  writes, upload parts): left as orphans */
};
/* Builds a new catalog in meta_dir, which must not exist: a copy of the
 * newest checkpoint on the disks (if any), then every version whose shard
 * headers carry a record and that the catalog lacks, in write order. A
 * version's lock state is the stronger of the checkpoint's and its
 * record's (later retain-until, COMPLIANCE over GOVERNANCE, legal hold if
 * either has it). now_ms judges whether retention still runs. */
enum heal_status heal_rebuild(const char *meta_dir, struct ec_set *set,
                              const char *const *disks, int ndisks,
                              int64_t now_ms,
                              struct heal_rebuild_stats *out);

/* ---- background work inside `coffer serve` ---- */

struct heal_bg_config {
    const char *status_path;   /* JSON status file (heal --status) */
    double scrub_rate_mib_s;   /* 0: scrubber off */
    int64_t scrub_interval_ms; /* pause between scrub passes */
    int64_t checkpoint_interval_ms; /* 0: no checkpoints */
    int checkpoint_keep;
    const char *const *disks;
    int ndisks;
};
struct heal_bg;
/* Starts the healer, the scrubber and the checkpointer threads. */
enum heal_status heal_bg_start(struct meta_db *db, struct ec_set *set,
                               const struct heal_bg_config *cfg,
                               struct heal_bg **out);
/* Queues a data object a read found degraded (dropped if the queue is
 * full: the scrubber finds it later). */
void heal_bg_report(struct heal_bg *bg, const char *data_id, uint64_t size);
/* Stops the threads and frees (NULL is a no-op). */
void heal_bg_stop(struct heal_bg *bg);

#endif /* HEAL_H */
