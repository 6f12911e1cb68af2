/* fuzz_shard.c: libFuzzer target for the shard file format
 * (erasure/ec_int.h): the reader's header and trailer checks
 * (shard_check() in ec.c via ec_reader_open), block reads and decoding
 * (ec_reader_read), healing (ec_heal, verify and repair) and the scanner's
 * header parsing (shard_read() in ec_heal.c via ec_scan).
 *
 * At start a real version is written by ec_writer into a temp 2+1 disk
 * layout (under /dev/shm when it exists) and its three shard files are
 * kept. Each run restores them, replaces one with the input, and reads.
 *
 * Input: byte 0 is a set of flags, the rest the shard file.
 *   bits 0-1  which shard the file replaces (mod 3)
 *   bit 2     recompute the header hash HH over the fuzzed header
 *   bit 3     recompute the trailer hash (seeded with HH, format 2)
 *   bit 4     recompute every block hash from the trailer's S and LL
 *             (then changed data reads back: the check below is off)
 *   bit 5     give the reader the trailer's object size (capped), not the
 *             catalog's
 *   bit 6     ec_heal with repair
 * Without the fix-ups a mutation would rarely get past XXH3 (though
 * libFuzzer learns hash values from comparisons; see forged_block()): the
 * hashes detect bit rot, they are not a MAC, so the parser must stay safe
 * behind them too. */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cf.h"
#include "ec_int.h"

#define K 2
#define M 1
#define N (K + M)
#define STRIPE 256
#define OBJ_SIZE 600 /* three stripes, the last short */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[128];
static char disks[N][160];
static const char *diskp[N];
static struct ec_set *set;
static char id[33];
static char paths[N][4300];
static unsigned char *orig[N];
static size_t orig_len[N];
static unsigned char object[OBJ_SIZE];

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL) return;
    while ((e = readdir(d)) != NULL) {
        char p[4400];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_rf(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void cleanup(void)
{
    int i;
    ec_set_free(set);
    for (i = 0; i < N; i++)
        free(orig[i]);
    rm_rf(root);
}

static unsigned char *slurp(const char *p, size_t *len)
{
    int fd = open(p, O_RDONLY);
    struct stat st;
    unsigned char *b;
    if (fd < 0 || fstat(fd, &st) != 0) abort();
    b = malloc((size_t)st.st_size);
    if (b == NULL || pread(fd, b, (size_t)st.st_size, 0) != (ssize_t)st.st_size)
        abort();
    close(fd);
    *len = (size_t)st.st_size;
    return b;
}

static void put_file(const char *p, const void *b, size_t n)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (n && write(fd, b, n) != (ssize_t)n) || close(fd) != 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    struct ec_config cfg;
    struct ec_writer *w;
    struct ec_obj_info in = {"bkt", "some/key", 8, NULL, 1234};
    uint64_t sz;
    int i;

    if (getenv("TMPDIR")) tmp = getenv("TMPDIR");
    snprintf(root, sizeof(root), "%s/fuzz_shard.XXXXXX", tmp);
    if (mkdtemp(root) == NULL) abort();
    atexit(cleanup);
    cf_log_verbosity = -1; /* corrupt shards are the point: no log lines */
    for (i = 0; i < N; i++) {
        snprintf(disks[i], sizeof(disks[i]), "%s/d%d", root, i);
        diskp[i] = disks[i];
    }
    cfg = (struct ec_config){.disks = diskp, .ndisks = N, .data = K,
                             .parity = M, .stripe_size = STRIPE};
    if (ec_set_open(&cfg, &set) != EC_OK) abort();
    /* A fixed id (the form ec_new_data_id() makes), so that seeds and
     * crash inputs name the version of every later run. */
    snprintf(id, sizeof(id), "%s", "00c0ffee00c0ffee00c0ffee00c0ffee");
    in.version_id = id;
    for (i = 0; i < OBJ_SIZE; i++)
        object[i] = (unsigned char)(i * 7 + 3);
    if (ec_writer_new(set, &in, &w) != EC_OK ||
        ec_writer_set_record(w, "rec", 3) != EC_OK ||
        ec_writer_append(w, object, OBJ_SIZE) != EC_OK ||
        ec_writer_finish(w, &sz) != EC_OK || sz != OBJ_SIZE)
        abort();
    ec_writer_free(w);
    for (i = 0; i < N; i++) {
        ec_obj_path(set, id, i, paths[i], sizeof(paths[i]));
        orig[i] = slurp(paths[i], &orig_len[i]);
    }
    /* FUZZ_SHARD_DUMP=dir: write the pristine shards there (seeds). */
    if (getenv("FUZZ_SHARD_DUMP")) {
        for (i = 0; i < N; i++) {
            char p[300];
            unsigned char *b = malloc(orig_len[i] + 1);
            b[0] = (unsigned char)i;
            memcpy(b + 1, orig[i], orig_len[i]);
            snprintf(p, sizeof(p), "%s/shard%d", getenv("FUZZ_SHARD_DUMP"), i);
            put_file(p, b, orig_len[i] + 1);
            free(b);
        }
    }
    return 0;
}

/* Makes the hashes of file f (n bytes, shard `shard`) match its contents,
 * as flags ask. */
static void fix_hashes(unsigned char *f, size_t n, int shard, unsigned flags)
{
    uint64_t hh, vseed, s, nstripes, last, off;
    int fmt;

    if (n < EC_HEADER_SIZE + EC_TRAILER_SIZE) return;
    if (flags & 4) {
        hh = XXH3_64bits(f, EC_HEADER_SIZE - 8);
        ec_put_le(f + EC_HEADER_SIZE - 8, hh, 8);
    }
    hh = ec_get_le(f + EC_HEADER_SIZE - 8, 8);
    fmt = (int)ec_get_le(f + 8, 4);
    if (flags & 16) {
        unsigned char *tr = f + n - EC_TRAILER_SIZE;
        vseed = XXH3_64bits(id, strlen(id));
        nstripes = ec_get_le(tr + 16, 8);
        last = ec_get_le(tr + 24, 8);
        off = EC_HEADER_SIZE;
        for (s = 0; s < nstripes; s++) {
            uint64_t bl = s + 1 == nstripes ? last : set->block_len;
            if (bl > n || off + bl + EC_HASH_SIZE > n - EC_TRAILER_SIZE) break;
            ec_put_le(f + off + bl,
                      XXH3_64bits_withSeed(f + off, bl,
                                           ec_block_seed(fmt, vseed, s, shard)),
                      8);
            off += bl + EC_HASH_SIZE;
        }
    }
    if (flags & 8) {
        unsigned char *tr = f + n - EC_TRAILER_SIZE;
        ec_put_le(tr + 32, XXH3_64bits_withSeed(tr, 32, fmt >= 2 ? hh : 0), 8);
    }
}

/* 1 when file f (n bytes, shard `shard`) holds a block that differs from
 * the pristine shard's yet carries the right XXH3 for its new bytes. The
 * fix-up bits forge such hashes on purpose; libFuzzer also learns them by
 * itself, from the operands of the reader's hash comparison (-use_cmp).
 * XXH3 detects bit rot, not tampering, so a forged block may be decoded
 * into wrong data; any other damage must never be. Blocks are compared
 * where the pristine shard has them (same length files only). */
static int forged_block(const unsigned char *f, size_t n, int shard)
{
    const unsigned char *o = orig[shard];
    uint64_t vseed = XXH3_64bits(id, strlen(id)), s, nstripes, last, off;
    int fmt;

    if (n != orig_len[shard] || n < EC_HEADER_SIZE + EC_TRAILER_SIZE)
        return 0;
    fmt = (int)ec_get_le(o + 8, 4);
    nstripes = ec_get_le(o + n - EC_TRAILER_SIZE + 16, 8);
    last = ec_get_le(o + n - EC_TRAILER_SIZE + 24, 8);
    off = EC_HEADER_SIZE;
    for (s = 0; s < nstripes; s++) {
        uint64_t bl = s + 1 == nstripes ? last : set->block_len;
        if (off + bl + EC_HASH_SIZE > n - EC_TRAILER_SIZE) break;
        if (memcmp(f + off, o + off, bl + EC_HASH_SIZE) != 0 &&
            ec_get_le(f + off + bl, 8) ==
                XXH3_64bits_withSeed(f + off, bl,
                                     ec_block_seed(fmt, vseed, s, shard)))
            return 1;
        off += bl + EC_HASH_SIZE;
    }
    return 0;
}

struct scan_seen {
    int n;
    size_t bytes;
};

static int scan_fn(const struct ec_shard_info *si, void *arg)
{
    struct scan_seen *ss = arg;
    ss->n++;
    if (si->valid) {
        /* Everything promised to be NUL-terminated and in bounds. */
        ss->bytes += strlen(si->bucket) + strlen(si->version_id) + si->key_len +
                     strlen(si->key) + si->record_len;
        if (si->record_len) {
            volatile unsigned char c =
                ((const unsigned char *)si->record)[si->record_len - 1];
            (void)c;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned flags;
    int shard, i, deg, forged;
    unsigned char *f;
    size_t n;
    uint64_t objsize = OBJ_SIZE;
    struct ec_reader *r = NULL;
    struct ec_heal_result hr;
    struct scan_seen ss = {0, 0};

    if (size < 1 || size > 16384) return 0;
    flags = data[0];
    shard = (int)(flags & 3) % N;
    n = size - 1;
    f = malloc(n ? n : 1);
    if (f == NULL) return 0;
    memcpy(f, data + 1, n);
    fix_hashes(f, n, shard, flags);
    forged = forged_block(f, n, shard);
    if ((flags & 32) && n >= EC_HEADER_SIZE + EC_TRAILER_SIZE) {
        objsize = ec_get_le(f + n - EC_TRAILER_SIZE + 8, 8);
        if (objsize > 4 * OBJ_SIZE) objsize = OBJ_SIZE;
    }
    for (i = 0; i < N; i++)
        put_file(paths[i], i == shard ? f : orig[i],
                 i == shard ? n : orig_len[i]);
    free(f);

    if (ec_reader_open(set, id, objsize, &r) == EC_OK) {
        unsigned char *buf = malloc(objsize ? objsize : 1);
        if (buf != NULL) {
            /* Unless a block hash was forged (bit 4, or learned by the
             * fuzzer), a bad shard must never be decoded into wrong
             * data. */
            if (ec_reader_read(r, 0, buf, objsize, &deg) == EC_OK &&
                !(flags & 16) && !forged && objsize == OBJ_SIZE &&
                memcmp(buf, object, OBJ_SIZE) != 0)
                abort();
            if (objsize > 10) ec_reader_read(r, objsize - 10, buf, 10, &deg);
            free(buf);
        }
        ec_reader_shards_usable(r);
        ec_reader_free(r);
    }
    memset(&hr, 0, sizeof(hr));
    ec_heal(set, id, objsize, (flags & 64) != 0, &hr);
    ec_scan(set, scan_fn, &ss);
    if (ss.n < 1) abort();
    return 0;
}
