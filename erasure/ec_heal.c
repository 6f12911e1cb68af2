/* ec_heal.c: verifying every shard of a version and rebuilding the bad
 * ones from the good (healing, scrubbing), and walking the shard files of
 * every disk (`coffer meta rebuild`, orphan cleanup). Formats: ec_int.h.
 *
 * Invariants:
 * - A rebuilt shard is written to tmp/, fdatasynced, renamed over the bad
 *   file (or into its empty place) and its directory fsynced: at every
 *   instant the name holds either the old file or the complete new one.
 * - Nothing is written unless the version is decodable (at least K good
 *   shards), so healing never replaces a shard by garbage.
 * - A rebuilt block is the same liberasurecode fragment the writer made
 *   for that stripe and position: the stripe is read back through the
 *   verified reader and encoded again, and each block is hashed with the
 *   seed of its own stripe and shard. */
#include "ec_int.h"
#include "cf.h"

#include <dirent.h>
#include <erasurecode.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xxh_x86dispatch.h>
#endif

/* Reads every block of every shard still open in r, dropping those that
 * fail (ec_read_block drops them). */
static enum ec_status verify_all(struct ec_reader *r, uint64_t *bytes)
{
    struct ec_set *s = r->set;
    char *buf = malloc(s->block_len);
    uint64_t st;
    int i;

    if (buf == NULL) return EC_ENOMEM;
    for (i = 0; i < s->n; i++) {
        for (st = 0; st < r->nstripes && r->fds[i] >= 0; st++) {
            if (ec_read_block(r, i, st, buf) != 0) break;
            *bytes += ec_block_len_of(r, st) + EC_HASH_SIZE;
            if (s->m > 0 &&
                ec_frag_payload(r, i, buf, st) !=
                    (long)(ec_block_len_of(r, st) - ec_frag_hdr_len(s))) {
                char p[4400];
                ec_shard_name(r, i, p, sizeof(p));
                cf_log(CF_LOG_WARN, "ec: shard %s: stripe %llu holds an "
                       "unexpected fragment", p, (unsigned long long)st);
                close(r->fds[i]);
                r->fds[i] = -1;
            }
        }
    }
    free(buf);
    return EC_OK;
}

/* The header and trailer shard `to` must carry, made from good shard
 * `from`'s. */
static int header_for(struct ec_reader *r, int from, int to,
                      unsigned char hdr[EC_HEADER_SIZE],
                      unsigned char tr[EC_TRAILER_SIZE])
{
    struct stat st;
    uint64_t hh, end;
    if (pread(r->fds[from], hdr, EC_HEADER_SIZE, (off_t)r->off0) !=
            EC_HEADER_SIZE ||
        fstat(r->fds[from], &st) != 0)
        return -1;
    end = r->packed ? r->off0 + r->elen : (uint64_t)st.st_size;
    if (pread(r->fds[from], tr, EC_TRAILER_SIZE,
              (off_t)(end - EC_TRAILER_SIZE)) != EC_TRAILER_SIZE)
        return -1;
    hdr[14] = (unsigned char)to;
    ec_put_le(hdr + 8, r->packed ? EC_FORMAT_PACKED : EC_FORMAT_VERSION, 4);
    hh = XXH3_64bits(hdr, EC_HEADER_SIZE - 8);
    ec_put_le(hdr + EC_HEADER_SIZE - 8, hh, 8);
    ec_put_le(tr + 32, XXH3_64bits_withSeed(tr, 32, hh), 8);
    return 0;
}

struct rebuild {
    int fd[EC_MAX_DISKS];      /* tmp file of each shard being rebuilt */
    char *tmp[EC_MAX_DISKS];
};

static int write_full(int fd, const void *p, size_t n, off_t off)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, c, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            return -1;
        }
        c += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

/* Rebuilds the shards in `bad` (bit mask) of r's version. Returns the
 * mask of shards rebuilt and published. */
static uint32_t rebuild(struct ec_reader *r, uint32_t bad,
                        struct ec_heal_result *res)
{
    struct ec_set *s = r->set;
    struct rebuild rb;
    unsigned char hdr[EC_HEADER_SIZE], tr[EC_TRAILER_SIZE];
    unsigned char rnd[8];
    char rhex[17];
    char *stripe = NULL;
    uint32_t live = 0, done = 0;
    uint64_t stn;
    int i, good = -1;

    for (i = 0; i < s->n; i++) {
        rb.fd[i] = -1;
        rb.tmp[i] = NULL;
        if (good < 0 && r->fds[i] >= 0) good = i;
    }
    if (good < 0) return 0;
    cf_random_bytes(rnd, sizeof(rnd));
    cf_hex_encode(rnd, sizeof(rnd), rhex);
    for (i = 0; i < s->n; i++) {
        char p[4300];
        int d = ec_disk_of(s, r->id, i);
        if (!(bad & (1u << i))) continue;
        if (ec_disk_prepare(s, d) != 0 || header_for(r, good, i, hdr, tr)) {
            cf_log(CF_LOG_ERR, "ec: version %s: cannot rebuild shard %d "
                   "on %s", r->id, i, s->disks[d]);
            continue;
        }
        if (r->packed) {
            /* Rewritten in place: the entry's range of its segment on
             * this disk, which failed its checks (so a torn rewrite leaves
             * it no worse) and which no other entry shares. The segment
             * file is created if the disk lost it. */
            ec_seg_path(s, d, r->seg, p, sizeof(p));
            rb.fd[i] = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        } else {
            snprintf(p, sizeof(p), "%s/tmp/%s.%d.heal-%s", s->disks[d],
                     r->id, i, rhex);
            rb.fd[i] = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                            0600);
        }
        if (rb.fd[i] < 0) {
            ec_log_errno("create", p, errno);
            continue;
        }
        rb.tmp[i] = r->packed ? NULL : strdup(p);
        if ((!r->packed && rb.tmp[i] == NULL) ||
            write_full(rb.fd[i], hdr, sizeof(hdr), (off_t)r->off0)) {
            ec_log_errno("write", p, errno);
            continue;
        }
        live |= 1u << i;
    }
    if (live == 0) goto out;
    stripe = malloc(s->stripe_size);
    if (stripe == NULL) {
        live = 0;
        goto out;
    }
    for (stn = 0; stn < r->nstripes && live; stn++) {
        uint64_t off = stn * s->stripe_size;
        size_t len = (size_t)(r->size - off < s->stripe_size
                                  ? r->size - off
                                  : s->stripe_size);
        size_t bl = ec_block_len_of(r, stn);
        char **data = NULL, **parity = NULL;
        uint64_t flen = 0;
        int deg = 0;
        if (ec_reader_read(r, off, stripe, len, &deg) != EC_OK) {
            cf_log(CF_LOG_ERR, "ec: version %s: stripe %llu unreadable "
                   "while healing", r->id, (unsigned long long)stn);
            live = 0;
            break;
        }
        res->bytes_read += len;
        if (liberasurecode_encode(s->desc, stripe, len, &data, &parity,
                                  &flen) != 0) {
            live = 0;
            break;
        }
        if (flen != bl) {
            cf_log(CF_LOG_ERR, "ec: version %s: stripe %llu re-encodes to "
                   "%llu bytes, not %zu: not healing", r->id,
                   (unsigned long long)stn, (unsigned long long)flen, bl);
            liberasurecode_encode_cleanup(s->desc, data, parity);
            live = 0;
            break;
        }
        for (i = 0; i < s->n; i++) {
            const char *b = i < s->k ? data[i] : parity[i - s->k];
            unsigned char h[8];
            off_t at = (off_t)(r->off0 + EC_HEADER_SIZE +
                               stn * (s->block_len + EC_HASH_SIZE));
            if (!(live & (1u << i))) continue;
            ec_put_le(h, XXH3_64bits_withSeed(
                             b, bl, ec_block_seed(EC_FORMAT_VERSION,
                                                  r->vseed, stn, i)),
                      8);
            if (write_full(rb.fd[i], b, bl, at) ||
                write_full(rb.fd[i], h, 8, at + (off_t)bl)) {
                ec_log_errno("write", rb.tmp[i] ? rb.tmp[i] : r->id,
                             errno);
                live &= ~(1u << i);
                continue;
            }
            res->bytes_written += bl + 8;
        }
        liberasurecode_encode_cleanup(s->desc, data, parity);
    }
    for (i = 0; i < s->n; i++) {
        char d[4200], p[4300];
        off_t end;
        if (!(live & (1u << i))) continue;
        end = (off_t)(r->off0 + EC_HEADER_SIZE);
        if (r->nstripes > 0)
            end += (off_t)((r->nstripes - 1) *
                               (s->block_len + EC_HASH_SIZE) +
                           r->last_len + EC_HASH_SIZE);
        /* the trailer's hash is seeded with this shard's header hash */
        {
            unsigned char h2[EC_HEADER_SIZE];
            header_for(r, good, i, h2, tr);
        }
        if (write_full(rb.fd[i], tr, sizeof(tr), end) ||
            fdatasync(rb.fd[i]) != 0) {
            ec_log_errno("write", rb.tmp[i] ? rb.tmp[i] : r->id, errno);
            continue;
        }
        res->bytes_written += EC_HEADER_SIZE + EC_TRAILER_SIZE;
        if (r->packed) {
            /* the segment's name, in case it was created just now */
            snprintf(d, sizeof(d), "%s/pack",
                     s->disks[ec_disk_of(s, r->id, i)]);
            if (ec_fsync_dir(d) != 0) {
                ec_log_errno("fsync", d, errno);
                continue;
            }
            done |= 1u << i;
            ec_shard_name(r, i, p, sizeof(p));
            cf_log(CF_LOG_NOTICE, "ec: healed shard %s in place", p);
            continue;
        }
        ec_obj_dir(s, r->id, i, d, sizeof(d));
        ec_obj_path(s, r->id, i, p, sizeof(p));
        if (cf_mkdir_p(d) != 0 || rename(rb.tmp[i], p) != 0) {
            ec_log_errno("rename", p, errno);
            continue;
        }
        free(rb.tmp[i]);
        rb.tmp[i] = NULL;
        if (ec_fsync_dir(d) != 0) {
            ec_log_errno("fsync", d, errno);
            continue;
        }
        done |= 1u << i;
        cf_log(CF_LOG_NOTICE, "ec: healed shard %s", p);
    }
out:
    free(stripe);
    for (i = 0; i < s->n; i++) {
        if (rb.fd[i] >= 0) close(rb.fd[i]);
        if (rb.tmp[i]) {
            unlink(rb.tmp[i]);
            free(rb.tmp[i]);
        }
    }
    return done;
}

enum ec_status ec_heal(struct ec_set *s, const char *id, uint64_t size,
                       int repair, struct ec_heal_result *res)
{
    struct ec_reader *r = NULL;
    enum ec_status st;
    int i, good = 0;
    uint32_t bad = 0, done;

    memset(res, 0, sizeof(*res));
    if ((!ec_valid_id(id) && !ec_data_id_packed(id)) ||
        (s = ec_pick(s, id)) == NULL)
        return EC_EINVAL;
    st = ec_reader_open(s, id, size, &r);
    if (st == EC_ETOOFEW) {
        res->shards_bad = s->n; /* at least M + 1; how many is logged */
        res->bad_mask = (1u << s->n) - 1;
        return st;
    }
    if (st != EC_OK) return st;
    st = verify_all(r, &res->bytes_read);
    if (st != EC_OK) goto out;
    for (i = 0; i < s->n; i++) {
        if (r->fds[i] >= 0) good++;
        else bad |= 1u << i;
    }
    res->bad_mask = bad;
    res->shards_bad = s->n - good;
    if (bad == 0) goto out;
    if (good < s->k || s->m == 0) {
        cf_log(CF_LOG_ERR, "ec: version %s: %d of %d shards bad, %d "
               "tolerated: it cannot be healed", id, res->shards_bad, s->n,
               s->m);
        st = EC_ETOOFEW;
        goto out;
    }
    if (!repair) goto out;
    done = rebuild(r, bad, res);
    for (i = 0; i < s->n; i++)
        if (done & (1u << i)) res->shards_rebuilt++;
    if (done != bad) st = EC_EIO;
out:
    ec_reader_free(r);
    return st;
}

/* ---- scanning ---- */

struct scan {
    struct ec_set *set;
    int (*fn)(const struct ec_shard_info *si, void *arg);
    void *arg;
    int stop;
};

/* Fills si from the shard at off in fd: a whole file (packed 0: off is 0,
 * the trailer ends the file) or a pack entry (packed 1: the trailer ends
 * the header's entry length E, which must fit in the file). si->valid says
 * whether it checks out; strings point into hdr. Returns E for a valid
 * pack entry, else 0. */
static uint64_t shard_read_at(int fd, const struct stat *st, uint64_t off,
                              int packed, unsigned char hdr[EC_HEADER_SIZE],
                              char *strs, struct ec_shard_info *si)
{
    unsigned char tr[EC_TRAILER_SIZE];
    size_t bl, vl, kl, rl;
    uint64_t hh, fmt, flen, size = (uint64_t)st->st_size;

    si->valid = 0;
    si->file_mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 +
                        st->st_mtim.tv_nsec / 1000000;
    if (size < off + EC_HEADER_SIZE + EC_TRAILER_SIZE ||
        pread(fd, hdr, EC_HEADER_SIZE, (off_t)off) != EC_HEADER_SIZE)
        return 0;
    hh = XXH3_64bits(hdr, EC_HEADER_SIZE - 8);
    fmt = ec_get_le(hdr + 8, 4);
    if (memcmp(hdr, EC_MAGIC, 8) != 0 ||
        ec_get_le(hdr + EC_HEADER_SIZE - 8, 8) != hh || fmt < 1 ||
        (packed ? fmt != EC_FORMAT_PACKED : fmt > EC_FORMAT_VERSION))
        return 0;
    flen = packed ? ec_get_le(hdr + EC_PACK_LEN_OFF, 8) : size;
    if (flen < EC_HEADER_SIZE + EC_TRAILER_SIZE || flen > size - off ||
        pread(fd, tr, sizeof(tr), (off_t)(off + flen - EC_TRAILER_SIZE)) !=
            (ssize_t)sizeof(tr))
        return 0;
    bl = (size_t)ec_get_le(hdr + 32, 2);
    vl = (size_t)ec_get_le(hdr + 34, 2);
    kl = (size_t)ec_get_le(hdr + 36, 2);
    rl = fmt >= 2 ? (size_t)ec_get_le(hdr + 38, 2) : 0;
    if (40 + bl + vl + kl + rl >
            (packed ? EC_PACK_LEN_OFF : EC_HEADER_SIZE - 8) ||
        bl == 0 || vl == 0 || vl >= EC_VERSION_ID_MAX)
        return 0;
    if (memcmp(tr, EC_TRAILER_MAGIC, 8) != 0 ||
        ec_get_le(tr + 32, 8) !=
            XXH3_64bits_withSeed(tr, 32, fmt >= 2 ? hh : 0))
        return 0;
    /* NUL-terminated copies: bucket, version id, key */
    memcpy(strs, hdr + 40, bl);
    strs[bl] = '\0';
    memcpy(strs + bl + 1, hdr + 40 + bl, vl);
    strs[bl + 1 + vl] = '\0';
    memcpy(strs + bl + vl + 2, hdr + 40 + bl + vl, kl);
    strs[bl + vl + 2 + kl] = '\0';
    si->bucket = strs;
    si->version_id = strs + bl + 1;
    si->key = strs + bl + vl + 2;
    si->key_len = kl;
    si->shard = hdr[14];
    si->mtime_ms = (int64_t)ec_get_le(hdr + 24, 8);
    si->size = ec_get_le(tr + 8, 8);
    si->record = rl ? hdr + 40 + bl + vl + kl : NULL;
    si->record_len = rl;
    si->valid = 1;
    return flen;
}

static void shard_read(int fd, unsigned char hdr[EC_HEADER_SIZE],
                       char *strs, struct ec_shard_info *si)
{
    struct stat st;
    si->valid = 0;
    if (fstat(fd, &st) != 0) return;
    shard_read_at(fd, &st, 0, 0, hdr, strs, si);
}

static void scan_dir(struct scan *sc, int disk, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL) {
        if (errno != ENOENT) ec_log_errno("opendir", dir, errno);
        return;
    }
    while (!sc->stop && (e = readdir(d)) != NULL) {
        char p[4400];
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (depth < 2) {
            scan_dir(sc, disk, p, depth + 1);
            continue;
        }
        {
            unsigned char hdr[EC_HEADER_SIZE];
            char strs[EC_HEADER_SIZE + 4];
            struct ec_shard_info si;
            int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            memset(&si, 0, sizeof(si));
            si.path = p;
            si.disk = disk;
            if (fd < 0) {
                ec_log_errno("open", p, errno);
            } else {
                shard_read(fd, hdr, strs, &si);
                close(fd);
            }
            if (sc->fn(&si, sc->arg) != 0) sc->stop = 1;
        }
    }
    closedir(d);
}

/* ---- pack segments ---- */

struct deadset {
    char **ids;
    size_t n, cap;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads the dead lists of segment seg from every disk of s (complete
 * lines only: a torn last line is ignored). */
static void dead_load(struct ec_set *s, uint32_t seg, struct deadset *ds)
{
    int d;
    for (d = 0; d < s->n; d++) {
        char p[4300], line[256];
        FILE *f;
        snprintf(p, sizeof(p), "%s/pack/%08x.dead", s->disks[d], seg);
        f = fopen(p, "re");
        if (f == NULL) continue;
        while (fgets(line, sizeof(line), f) != NULL) {
            size_t n = strlen(line);
            char *c;
            if (n == 0 || line[n - 1] != '\n') break;
            line[n - 1] = '\0';
            if (ds->n == ds->cap) {
                size_t nc = ds->cap ? ds->cap * 2 : 64;
                char **x = realloc(ds->ids, nc * sizeof(*x));
                if (x == NULL) break;
                ds->ids = x;
                ds->cap = nc;
            }
            if ((c = strdup(line)) == NULL) break;
            ds->ids[ds->n++] = c;
        }
        fclose(f);
    }
    if (ds->n) qsort(ds->ids, ds->n, sizeof(char *), cmp_str);
}

static int dead_has(const struct deadset *ds, const char *id)
{
    return ds->n && bsearch(&id, ds->ids, ds->n, sizeof(char *),
                            cmp_str) != NULL;
}

static void dead_free(struct deadset *ds)
{
    size_t i;
    for (i = 0; i < ds->n; i++) free(ds->ids[i]);
    free(ds->ids);
    memset(ds, 0, sizeof(*ds));
}

/* Walks one segment file: each valid entry at an EC_PACK_ALIGN boundary
 * is reported (unless dead), and the walk jumps over it; anything else
 * (a torn append, a hole) is stepped over EC_PACK_ALIGN bytes at a time. */
static void scan_segment(struct scan *sc, int disk, const char *path,
                         uint32_t seg, const struct deadset *ds)
{
    unsigned char hdr[EC_HEADER_SIZE];
    char strs[EC_HEADER_SIZE + 4];
    struct stat st;
    uint64_t off = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        ec_log_errno("open", path, errno);
        return;
    }
    if (fstat(fd, &st) != 0) {
        close(fd);
        return;
    }
    while (!sc->stop &&
           off + EC_HEADER_SIZE + EC_TRAILER_SIZE <= (uint64_t)st.st_size) {
        struct ec_shard_info si;
        char loc[EC_VERSION_ID_MAX + 32];
        uint64_t e;
        memset(&si, 0, sizeof(si));
        e = shard_read_at(fd, &st, off, 1, hdr, strs, &si);
        if (e == 0) {
            off += EC_PACK_ALIGN;
            continue;
        }
        snprintf(loc, sizeof(loc), "%s+%08x%010llx%06llx", si.version_id,
                 seg, (unsigned long long)off, (unsigned long long)e);
        off += (e + EC_PACK_ALIGN - 1) / EC_PACK_ALIGN * EC_PACK_ALIGN;
        if (strlen(loc) >= EC_VERSION_ID_MAX || dead_has(ds, loc)) continue;
        si.version_id = loc;
        si.path = path;
        si.disk = disk;
        si.packed = 1;
        if (sc->fn(&si, sc->arg) != 0) sc->stop = 1;
    }
    close(fd);
}

static void scan_packs(struct scan *sc)
{
    struct ec_set *s = sc->set;
    int d;
    for (d = 0; d < s->n && !sc->stop; d++) {
        char dir[4200];
        DIR *dh;
        struct dirent *e;
        snprintf(dir, sizeof(dir), "%s/pack", s->disks[d]);
        dh = opendir(dir);
        if (dh == NULL) {
            if (errno != ENOENT) ec_log_errno("opendir", dir, errno);
            continue;
        }
        while (!sc->stop && (e = readdir(dh)) != NULL) {
            char p[4500];
            char *end;
            unsigned long id;
            struct deadset ds = { 0 };
            if (strlen(e->d_name) != 8 ||
                strspn(e->d_name, "0123456789abcdef") != 8)
                continue;
            id = strtoul(e->d_name, &end, 16);
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            dead_load(s, (uint32_t)id, &ds);
            scan_segment(sc, s->disk_base + d, p, (uint32_t)id, &ds);
            dead_free(&ds);
        }
        closedir(dh);
    }
}

enum ec_status ec_scan(struct ec_set *s,
                       int (*fn)(const struct ec_shard_info *si, void *arg),
                       void *arg)
{
    struct scan sc = { s, fn, arg, 0 };
    int i;
    if (s->nsub) {
        for (i = 0; i < s->nsub; i++) ec_scan(s->sub[i], fn, arg);
        return EC_OK;
    }
    for (i = 0; i < s->n && !sc.stop; i++) {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/obj", s->disks[i]);
        scan_dir(&sc, s->disk_base + i, dir, 0);
    }
    if (!sc.stop) scan_packs(&sc);
    return EC_OK;
}

/* ---- compaction: moving one packed version ---- */

enum ec_status ec_pack_move(struct ec_set *set, const char *loc,
                            uint64_t size, char *out, size_t cap)
{
    struct ec_reader *r = NULL, *r2 = NULL;
    struct ec_writer *w = NULL;
    struct ec_heal_result hr;
    unsigned char hdr[EC_HEADER_SIZE];
    char bucket[256], *key = NULL, *buf = NULL, *back = NULL;
    const char *nloc;
    size_t bl, vl, kl, rl;
    uint64_t wrote;
    enum ec_status st;
    int i, good = -1, deg = 0;

    st = ec_reader_open(set, loc, size, &r);
    if (st != EC_OK) return st;
    if (!r->packed || r->set->pack_threshold == 0 ||
        size > r->set->pack_threshold) {
        st = EC_EINVAL;
        goto out;
    }
    /* the data, every block read verified (through parity if need be) */
    buf = malloc(size ? size : 1);
    back = malloc(size ? size : 1);
    if (buf == NULL || back == NULL) {
        st = EC_ENOMEM;
        goto out;
    }
    st = ec_reader_read(r, 0, buf, size, &deg);
    if (st != EC_OK) goto out;
    /* the header of a shard that passed its checks at open */
    for (i = 0; i < r->set->n && good < 0; i++)
        if (r->fds[i] >= 0) good = i;
    if (good < 0 || pread(r->fds[good], hdr, EC_HEADER_SIZE,
                          (off_t)r->off0) != EC_HEADER_SIZE) {
        st = EC_EIO;
        goto out;
    }
    bl = (size_t)ec_get_le(hdr + 32, 2);
    vl = (size_t)ec_get_le(hdr + 34, 2);
    kl = (size_t)ec_get_le(hdr + 36, 2);
    rl = (size_t)ec_get_le(hdr + 38, 2);
    if (bl == 0 || bl >= sizeof(bucket) ||
        40 + bl + vl + kl + rl > EC_PACK_LEN_OFF) {
        st = EC_ECORRUPT;
        goto out;
    }
    memcpy(bucket, hdr + 40, bl);
    bucket[bl] = '\0';
    key = malloc(kl + 1);
    if (key == NULL) {
        st = EC_ENOMEM;
        goto out;
    }
    memcpy(key, hdr + 40 + bl + vl, kl);
    key[kl] = '\0';
    {
        struct ec_obj_info in = { bucket, key, kl, r->id,
                                  (int64_t)ec_get_le(hdr + 24, 8) };
        st = ec_writer_new(set, &in, &w);
    }
    if (st == EC_OK && rl)
        st = ec_writer_set_record(w, hdr + 40 + bl + vl + kl, rl);
    if (st == EC_OK && size) st = ec_writer_append(w, buf, size);
    if (st == EC_OK) st = ec_writer_finish(w, &wrote);
    if (st != EC_OK) goto out;
    nloc = ec_writer_data_id(w);
    if (!ec_data_id_packed(nloc) || strlen(nloc) >= cap) {
        /* a file write: remove it, this is not a move */
        ec_remove(set, nloc);
        st = EC_EINVAL;
        goto out;
    }
    /* the copy, verified whole before anyone may point at it */
    st = ec_heal(set, nloc, size, 0, &hr);
    if (st == EC_OK && hr.shards_bad > 0 && ec_writer_missing(w) == 0)
        st = EC_ECORRUPT; /* written whole, read back damaged */
    if (st == EC_OK) st = ec_reader_open(set, nloc, size, &r2);
    if (st == EC_OK) st = ec_reader_read(r2, 0, back, size, NULL);
    if (st == EC_OK && memcmp(buf, back, size) != 0) st = EC_ECORRUPT;
    if (st != EC_OK) {
        cf_log(CF_LOG_ERR, "ec: copy %s of %s failed its verification: %s",
               nloc, loc, ec_strerror(st));
        ec_remove(set, nloc);
        goto out;
    }
    snprintf(out, cap, "%s", nloc);
out:
    ec_reader_free(r2);
    ec_reader_free(r);
    ec_writer_free(w);
    free(key);
    free(back);
    free(buf);
    return st;
}
