/* ec_int.h (erasure-internal): the on-disk formats.
 *
 * Shard file  <disk>/obj/<h0h1>/<h2h3>/<version-id>.<shard>  (h = hex of
 * XXH3-64 of the version id); while written: <disk>/tmp/<version-id>.<shard>
 * .<random>. Write-once, self-describing, little-endian:
 *
 *   OFFSET  SIZE  FIELD
 *        0     8  magic "COFFSHD1"
 *        8     4  format version (1)
 *       12     1  K (data shards)          13  1  M (parity shards)
 *       14     1  shard index (0..K+M-1)   15  1  hash kind (1 = XXH3-64)
 *       16     4  stripe size (data bytes per stripe)
 *       20     4  block length (bytes per shard per stripe, see below)
 *       24     8  mtime, ms since the epoch
 *       32     2  bucket length B          34  2  version id length V
 *       36     2  key length L             38  2  reserved (0)
 *       40     B  bucket, then V bytes version id, then L bytes key
 *    ...4088     zero padding
 *     4088     8  XXH3-64 of bytes 0..4087
 *     4096        stripe blocks: per stripe, block length bytes followed
 *                 by the 8-byte XXH3-64 of those bytes (bitrot check)
 *      end-40  8  trailer magic "COFFEND1"
 *      end-32  8  object size in bytes
 *      end-24  8  stripe count
 *      end-16  8  length of the last stripe's block
 *      end-8   8  XXH3-64 of the 32 trailer bytes before it
 *
 * A block is one liberasurecode fragment (its own 80-byte header included)
 * of one stripe. Every stripe but the last is full (block length in the
 * header); the last is encoded at its own size, so a small object costs
 * a small block, not a full stripe's. With M = 0 a block is the raw
 * stripe_size/K bytes of data (ceil(len/K), zero-padded, for the last).
 *
 * Placement: shard i lives on disk (i + rot) % N, rot = XXH3(version id) % N,
 * so data shards (systematic: they hold the plain bytes) spread over disks.
 *
 * format.json  <disk>/.coffer/format.json, written once:
 *   {"version":1,"deployment":"<32 hex>","disk":<index>,"data":K,"parity":M}
 */
#ifndef EC_INT_H
#define EC_INT_H

#include "ec.h"

#define EC_MAGIC "COFFSHD1"
#define EC_TRAILER_MAGIC "COFFEND1"
#define EC_HEADER_SIZE 4096
#define EC_TRAILER_SIZE 40
#define EC_HASH_SIZE 8
#define EC_HASH_XXH3 1

struct ec_set {
    char **disks;          /* N directory paths, owned */
    int n, k, m;
    size_t stripe_size;    /* data bytes per stripe */
    size_t block_len;      /* bytes per shard per stripe (fragment) */
    int desc;              /* liberasurecode instance, -1 when M == 0 */
    char deployment[33];
    /* All disks on one filesystem (the default layout: directories of one
     * data dir): a write is made durable with one syncfs() instead of an
     * fdatasync per shard and an fsync per directory. fs_fd is an open
     * directory on it, or -1. */
    int fs_fd;
};

#endif /* EC_INT_H */
