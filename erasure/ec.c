/* ec.c: an erasure set over N disk directories: opening it (format.json),
 * writing shard files stripe by stripe, reading them back with bitrot
 * verification and decoding through parity when up to M shards are missing
 * or corrupt. Formats: ec_int.h.
 *
 * Invariants:
 * - A shard file is renamed into obj/ only once it is complete (header,
 *   every block, trailer), and it is durable before ec_writer_finish()
 *   returns EC_OK: one syncfs() per filesystem after the renames, shared
 *   by every concurrent writer (ec_group_sync). A crash before that return may leave a torn
 *   file under obj/ that no catalog record names: readers reject it by its
 *   length and hashes, the scanner removes it. Files in tmp/ are never read.
 * - A block is served only after its XXH3 matched and, with parity, its
 *   liberasurecode fragment header is the one this position must carry;
 *   a shard that fails any check is treated as missing for the rest of
 *   that reader's life.
 * - Hot path: a writer encodes a caller's whole stripe in place (no copy
 *   into its own buffer); a reader preads whole data payloads straight into
 *   the caller's buffer. XXH3 goes through libxxhash's runtime CPU dispatch
 *   (AVX2/AVX-512): the library's default SSE2 entry point is several times
 *   slower and was the largest user-space cost of both paths. */
#include "ec_int.h"
#include "cf.h"

#include <dirent.h>
#include <erasurecode.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <assert.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
/* Maps XXH3_64bits and XXH3_64bits_update to the library's dispatching
 * entry points; the hash values are the same on every implementation. */
#include <xxh_x86dispatch.h>
#endif

const char *ec_strerror(enum ec_status st)
{
    switch (st) {
    case EC_OK: return "ok";
    case EC_EIO: return "disk I/O error";
    case EC_ENOSPC: return "disk full";
    case EC_ECORRUPT: return "shard corrupt";
    case EC_ETOOFEW: return "too few disks available for this object";
    case EC_ENOTFOUND: return "no shard found";
    case EC_EINVAL: return "invalid erasure configuration";
    case EC_ENOMEM: return "out of memory";
    }
    return "unknown";
}

void ec_log_errno(const char *what, const char *path, int err)
{
    char e[128];
    cf_log(CF_LOG_ERR, "ec: %s %s: %s", what, path,
           cf_strerror(err, e, sizeof(e)));
}


void ec_put_le(unsigned char *p, uint64_t v, int n)
{
    int i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t ec_get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int ec_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    int rc;
    if (fd < 0) return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* ---- the set ---- */

/* Reads <disk>/.coffer/format.json; 1 if present (fields filled), 0 if
 * absent, -1 if unreadable or malformed. *stripe is 0 when the file
 * predates the "stripe_size" field. */
static int format_read(const char *disk, char dep[33], int *idx, int *k,
                       int *m, size_t *stripe, int *sets)
{
    char path[4200];
    json_error_t jerr;
    json_t *j, *ss;
    const char *d;

    snprintf(path, sizeof(path), "%s/.coffer/format.json", disk);
    if (access(path, F_OK) != 0) {
        if (errno == ENOENT) return 0;
        ec_log_errno("access", path, errno);
        return -1;
    }
    j = json_load_file(path, 0, &jerr);
    if (j == NULL) {
        cf_log(CF_LOG_ERR, "ec: %s:%d: %s", path, jerr.line, jerr.text);
        return -1;
    }
    d = json_string_value(json_object_get(j, "deployment"));
    if (json_integer_value(json_object_get(j, "version")) != 1 ||
        d == NULL || strlen(d) != 32 ||
        !json_is_integer(json_object_get(j, "disk")) ||
        !json_is_integer(json_object_get(j, "data")) ||
        !json_is_integer(json_object_get(j, "parity"))) {
        cf_log(CF_LOG_ERR, "ec: %s: missing or invalid fields", path);
        json_decref(j);
        return -1;
    }
    ss = json_object_get(j, "stripe_size");
    if (ss != NULL && (!json_is_integer(ss) || json_integer_value(ss) <= 0)) {
        cf_log(CF_LOG_ERR, "ec: %s: invalid stripe_size", path);
        json_decref(j);
        return -1;
    }
    *stripe = ss ? (size_t)json_integer_value(ss) : 0;
    {
        json_t *st = json_object_get(j, "sets");
        if (st != NULL && (!json_is_integer(st) ||
                           json_integer_value(st) < 1 ||
                           json_integer_value(st) > EC_MAX_SETS)) {
            cf_log(CF_LOG_ERR, "ec: %s: invalid sets", path);
            json_decref(j);
            return -1;
        }
        *sets = st ? (int)json_integer_value(st) : 1;
    }
    memcpy(dep, d, 33);
    *idx = (int)json_integer_value(json_object_get(j, "disk"));
    *k = (int)json_integer_value(json_object_get(j, "data"));
    *m = (int)json_integer_value(json_object_get(j, "parity"));
    json_decref(j);
    return 1;
}

static int format_write(const char *disk, const char *dep, int idx, int k,
                        int m, size_t stripe, int sets)
{
    char dir[4200], tmp[4300], path[4300];
    int fd, n;
    ssize_t wr;
    char body[256];

    snprintf(dir, sizeof(dir), "%s/.coffer", disk);
    if (cf_mkdir_p(dir) != 0) {
        ec_log_errno("mkdir", dir, errno);
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s/format.json.tmp", dir);
    snprintf(path, sizeof(path), "%s/format.json", dir);
    n = snprintf(body, sizeof(body),
                 "{\"version\":1,\"deployment\":\"%s\",\"disk\":%d,"
                 "\"data\":%d,\"parity\":%d,\"stripe_size\":%zu,"
                 "\"sets\":%d}\n",
                 dep, idx, k, m, stripe, sets);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        ec_log_errno("create", tmp, errno);
        return -1;
    }
    wr = write(fd, body, (size_t)n);
    if (wr != n) {
        ec_log_errno("write", tmp, wr < 0 ? errno : ENOSPC);
        goto out_close;
    }
    if (fdatasync(fd) != 0) {
        ec_log_errno("fdatasync", tmp, errno);
        goto out_close;
    }
    if (close(fd) != 0) {
        ec_log_errno("close", tmp, errno);
        goto out_unlink;
    }
    if (rename(tmp, path) != 0) {
        ec_log_errno("rename", path, errno);
        goto out_unlink;
    }
    if (ec_fsync_dir(dir) != 0) {
        ec_log_errno("fsync", dir, errno);
        return -1;
    }
    return 0;
out_close:
    close(fd);
out_unlink:
    unlink(tmp);
    return -1;
}

int ec_disk_prepare(const struct ec_set *s, int d)
{
    char p[4200], dep[33];
    static const char *const sub[] = { "tmp", "obj", "pack" };
    int j, idx, k, m, r, sets;
    size_t ss;

    for (j = 0; j < 3; j++) {
        snprintf(p, sizeof(p), "%s/%s", s->disks[d], sub[j]);
        if (cf_mkdir_p(p) != 0) {
            ec_log_errno("mkdir", p, errno);
            return -1;
        }
    }
    r = format_read(s->disks[d], dep, &idx, &k, &m, &ss, &sets);
    if (r < 0) return -1;
    if (r > 0) {
        if (strcmp(dep, s->deployment) != 0 || idx != s->disk_base + d ||
            k != s->k || m != s->m || sets != s->nsets) {
            cf_log(CF_LOG_ERR, "ec: %s now holds the format of another "
                   "disk or deployment: not writing to it", s->disks[d]);
            return -1;
        }
        return 0;
    }
    cf_log(CF_LOG_NOTICE, "ec: %s has no format.json: formatting it as "
           "disk %d of the set (a replaced disk)", s->disks[d], d + 1);
    return format_write(s->disks[d], s->deployment, s->disk_base + d, s->k,
                        s->m, s->stripe_size, s->nsets);
}

/* Shards left in tmp/ by a crash were never published (publishing is a
 * rename into obj/ after fdatasync), so no version refers to them. */
static void clean_tmp(const char *disk)
{
    char dir[4200], p[4500];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(dir, sizeof(dir), "%s/tmp", disk);
    d = opendir(dir);
    if (d == NULL) return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (unlink(p) == 0) n++;
        else ec_log_errno("unlink", p, errno);
    }
    closedir(d);
    if (n) cf_log(CF_LOG_NOTICE, "ec: removed %d unfinished shard file(s) "
                  "from %s", n, dir);
}

/* Opens erasure set number set_index (of nsets) over cfg's disks, which
 * must be exactly data + parity. want_dep: the deployment id the other
 * sets carry ("" for the first set opened: found or generated). */
static enum ec_status open_one(const struct ec_config *cfg, int set_index,
                               int nsets, const char *want_dep,
                               struct ec_set **out)
{
    struct ec_set *s;
    char dep[33] = "";
    int i, have[EC_MAX_DISKS] = { 0 };

    if (cfg->ndisks != cfg->data + cfg->parity || cfg->data < 1 ||
        cfg->parity < 0 || cfg->ndisks > EC_MAX_DISKS ||
        cfg->stripe_size == 0 || cfg->stripe_size > EC_STRIPE_MAX ||
        cfg->stripe_size % (64 * (size_t)cfg->data) != 0) {
        cf_log(CF_LOG_ERR, "ec: invalid layout: %d disks, %d+%d, stripe %zu",
               cfg->ndisks, cfg->data, cfg->parity, cfg->stripe_size);
        return EC_EINVAL;
    }
    /* liberasurecode's fragments are large mallocs: keep them out of
     * mmap so every stripe does not page-fault fresh memory. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);

    s = calloc(1, sizeof(*s));
    if (s == NULL) return EC_ENOMEM;
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_cond_init(&s->sync_cv, NULL);
    s->sync_init = 1;
    s->n = cfg->ndisks;
    s->k = cfg->data;
    s->m = cfg->parity;
    s->stripe_size = cfg->stripe_size;
    s->desc = -1;
    s->set_index = set_index;
    s->nsets = nsets;
    s->disk_base = set_index * cfg->ndisks;
    s->disks = calloc((size_t)s->n, sizeof(char *));
    if (s->disks == NULL) goto out_nomem;
    for (i = 0; i < s->n; i++) {
        s->disks[i] = strdup(cfg->disks[i]);
        if (s->disks[i] == NULL) goto out_nomem;
    }

    /* Every existing format.json must agree on deployment, layout and its
     * own position; missing ones (new or replaced disks) are written. */
    for (i = 0; i < s->n; i++) {
        char d[33];
        size_t ss;
        int idx, k, m, sets;
        int r = format_read(s->disks[i], d, &idx, &k, &m, &ss, &sets);
        if (r < 0) goto out_inval;
        if (r == 0) continue;
        if (sets != nsets) {
            cf_log(CF_LOG_ERR, "ec: %s was formatted for %d erasure set(s), "
                   "the configuration makes %d: refusing to mix layouts "
                   "(the number of disks is fixed per deployment)",
                   s->disks[i], sets, nsets);
            goto out_inval;
        }
        if (k != s->k || m != s->m) {
            cf_log(CF_LOG_ERR, "ec: %s was formatted for %d+%d, the "
                   "configuration says %d+%d: refusing to mix layouts",
                   s->disks[i], k, m, s->k, s->m);
            goto out_inval;
        }
        /* Every shard header records the stripe size and readers expect
         * the set's: another size would make every stored version
         * unreadable, so it is refused here, loudly, instead. */
        if (ss != 0 && ss != s->stripe_size) {
            cf_log(CF_LOG_ERR, "ec: %s was formatted with a stripe size "
                   "(erasure.block_size) of %zu bytes, the configuration "
                   "says %zu: stored versions could not be read",
                   s->disks[i], ss, s->stripe_size);
            goto out_inval;
        }
        if (idx != s->disk_base + i) {
            cf_log(CF_LOG_ERR, "ec: %s is disk %d of the deployment but is "
                   "listed at position %d: keep the disks in their order",
                   s->disks[i], idx + 1, s->disk_base + i + 1);
            goto out_inval;
        }
        if (dep[0] && strcmp(dep, d) != 0) {
            cf_log(CF_LOG_ERR, "ec: %s belongs to deployment %s, not %s",
                   s->disks[i], d, dep);
            goto out_inval;
        }
        memcpy(dep, d, 33);
        have[i] = 1;
    }
    if (want_dep[0] && dep[0] && strcmp(dep, want_dep) != 0) {
        cf_log(CF_LOG_ERR, "ec: erasure set %d belongs to deployment %s, "
               "the other sets to %s", set_index + 1, dep, want_dep);
        goto out_inval;
    }
    if (dep[0] == '\0' && want_dep[0]) memcpy(dep, want_dep, 33);
    if (dep[0] == '\0') {
        unsigned char r[16];
        cf_random_bytes(r, sizeof(r));
        cf_hex_encode(r, sizeof(r), dep);
    }
    memcpy(s->deployment, dep, 33);
    for (i = 0; i < s->n; i++) {
        char p[4200];
        static const char *const sub[] = { "tmp", "obj" };
        if (!cfg->shared) clean_tmp(s->disks[i]);
        int j;
        for (j = 0; j < 2; j++) {
            snprintf(p, sizeof(p), "%s/%s", s->disks[i], sub[j]);
            if (cf_mkdir_p(p) != 0) {
                ec_log_errno("mkdir", p, errno);
                goto out_inval;
            }
        }
        if (!have[i] && format_write(s->disks[i], dep, s->disk_base + i,
                                     s->k, s->m, s->stripe_size,
                                     nsets) != 0)
            goto out_inval;
    }

    /* One open directory per distinct filesystem, for group commits. */
    {
        dev_t devs[EC_MAX_DISKS];
        for (i = 0; i < s->n; i++) {
            struct stat st;
            int f;
            if (stat(s->disks[i], &st) != 0) {
                ec_log_errno("stat", s->disks[i], errno);
                goto out_inval;
            }
            for (f = 0; f < s->nfs && devs[f] != st.st_dev; f++)
                ;
            if (f == s->nfs) {
                s->fs_fds[f] = open(s->disks[i], O_RDONLY | O_DIRECTORY |
                                                     O_CLOEXEC);
                if (s->fs_fds[f] < 0) {
                    ec_log_errno("open", s->disks[i], errno);
                    goto out_inval;
                }
                devs[f] = st.st_dev;
                s->fs_path[f] = s->disks[i];
                s->nfs++;
            }
            s->disk_fs[i] = f;
        }
        cf_log(CF_LOG_INFO, "ec: %d disk(s) on %d filesystem(s): writes "
               "are made durable with one syncfs per filesystem per batch",
               s->n, s->nfs);
    }
    if (s->m > 0) {
        struct ec_args args;
        memset(&args, 0, sizeof(args));
        args.k = s->k;
        args.m = s->m;
        args.hd = s->m;
        args.w = 8;
        args.ct = CHKSUM_NONE;
        s->desc = liberasurecode_instance_create(EC_BACKEND_ISA_L_RS_VAND,
                                                 &args);
        if (s->desc < 0) {
            cf_log(CF_LOG_WARN, "ec: the ISA-L backend (isa_l_rs_vand) is "
                   "not available; falling back to liberasurecode_rs_vand, "
                   "which is about 15 times slower");
            s->desc = liberasurecode_instance_create(
                EC_BACKEND_LIBERASURECODE_RS_VAND, &args);
        }
        if (s->desc < 0) {
            cf_log(CF_LOG_ERR, "ec: no Reed-Solomon backend for %d+%d", s->k,
                   s->m);
            goto out_inval;
        }
        /* A Vandermonde generator is not MDS for every geometry: from 5
         * parity shards some loss patterns within M can leave a singular
         * decode matrix (isa-l issues #10, #46). */
        if (s->m >= 5)
            cf_log(CF_LOG_WARN, "ec: %d+%d with isa_l_rs_vand: with 5 or "
                   "more parity shards some combinations of lost shards "
                   "cannot be decoded; use at most 4 parity shards",
                   s->k, s->m);
        {
            /* The fragment length of a full stripe, learnt from the
             * library itself (payload plus its fragment header). */
            char *zero = calloc(1, s->stripe_size), **d = NULL, **p = NULL;
            uint64_t fl = 0;
            int rc = zero ? liberasurecode_encode(s->desc, zero,
                                                  s->stripe_size, &d, &p, &fl)
                          : -1;
            free(zero);
            if (rc != 0) {
                cf_log(CF_LOG_ERR, "ec: trial encode failed (%d)", rc);
                goto out_inval;
            }
            liberasurecode_encode_cleanup(s->desc, d, p);
            s->block_len = (size_t)fl;
        }
    } else {
        s->block_len = s->stripe_size / (size_t)s->k;
    }
    /* Offline tools never append (their segment ids could meet a running
     * server's); a packed version is at most one stripe. */
    s->pack_threshold = cfg->shared ? 0 : cfg->pack_threshold;
    s->pack_seg_max = cfg->pack_segment_max ? cfg->pack_segment_max
                                            : EC_PACK_SEG_MAX;
    if (s->pack_threshold > s->stripe_size)
        s->pack_threshold = s->stripe_size;
    if (s->pack_threshold > EC_PACK_MAX) s->pack_threshold = EC_PACK_MAX;
    if (ec_pack_init(s) != 0) goto out_inval;
    s->pack_init = 1;
    *out = s;
    return EC_OK;
out_nomem:
    ec_set_free(s);
    return EC_ENOMEM;
out_inval:
    ec_set_free(s);
    return EC_EINVAL;
}

enum ec_status ec_set_open(const struct ec_config *cfg, struct ec_set **out)
{
    struct ec_set *top;
    struct ec_config one;
    int per = cfg->data + cfg->parity, nsets, i;
    enum ec_status st;

    if (per < 1 || cfg->ndisks < per || cfg->ndisks % per != 0) {
        cf_log(CF_LOG_ERR, "ec: %d disks do not divide into erasure sets of "
               "%d+%d", cfg->ndisks, cfg->data, cfg->parity);
        return EC_EINVAL;
    }
    nsets = cfg->ndisks / per;
    if (nsets == 1) return open_one(cfg, 0, 1, "", out);
    if (nsets > EC_MAX_SETS || per > EC_MAX_SET_DISKS) {
        cf_log(CF_LOG_ERR, "ec: %d sets of %d disks: at most %d sets of at "
               "most %d disks", nsets, per, EC_MAX_SETS, EC_MAX_SET_DISKS);
        return EC_EINVAL;
    }
    top = calloc(1, sizeof(*top));
    if (top == NULL) return EC_ENOMEM;
    top->sub = calloc((size_t)nsets, sizeof(*top->sub));
    if (top->sub == NULL) {
        free(top);
        return EC_ENOMEM;
    }
    top->nsub = nsets;
    top->desc = -1;
    one = *cfg;
    one.ndisks = per;
    for (i = 0; i < nsets; i++) {
        one.disks = cfg->disks + (size_t)i * (size_t)per;
        st = open_one(&one, i, nsets, i ? top->sub[0]->deployment : "",
                      &top->sub[i]);
        if (st != EC_OK) {
            ec_set_free(top);
            return st;
        }
    }
    top->n = per;
    top->k = cfg->data;
    top->m = cfg->parity;
    top->nsets = nsets;
    top->stripe_size = cfg->stripe_size;
    top->block_len = top->sub[0]->block_len;
    memcpy(top->deployment, top->sub[0]->deployment, 33);
    cf_log(CF_LOG_INFO, "ec: %d erasure sets of %d+%d", nsets, cfg->data,
           cfg->parity);
    *out = top;
    return EC_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

struct ec_set *ec_pick(struct ec_set *s, const char *id)
{
    int hi, lo;
    if (s->nsub == 0) return s;
    hi = hexval(id[0]);
    lo = hi < 0 ? -1 : hexval(id[1]);
    if (lo < 0 || hi * 16 + lo >= s->nsub) {
        cf_log(CF_LOG_ERR, "ec: data id %s names no erasure set of %d", id,
               s->nsub);
        return NULL;
    }
    return s->sub[hi * 16 + lo];
}

void ec_new_data_id(const struct ec_set *s, const char *bucket,
                    const char *key, size_t key_len, char out[33])
{
    unsigned char r[16];
    cf_random_bytes(r, sizeof(r));
    cf_hex_encode(r, sizeof(r), out);
    if (s->nsub > 0) {
        /* the set: a stable hash of bucket and key, in the first two hex
         * digits, so readers find it from the id alone */
        XXH3_state_t st;
        uint64_t h;
        static const char hex[] = "0123456789abcdef";
        int set;
        XXH3_64bits_reset(&st);
        XXH3_64bits_update(&st, bucket, strlen(bucket) + 1);
        XXH3_64bits_update(&st, key, key_len);
        h = XXH3_64bits_digest(&st);
        set = (int)(h % (uint64_t)s->nsub);
        out[0] = hex[set >> 4];
        out[1] = hex[set & 15];
    }
}

int ec_set_count(const struct ec_set *s)
{
    return s->nsub ? s->nsub : 1;
}

void ec_set_free(struct ec_set *s)
{
    int i;
    if (s == NULL) return;
    for (i = 0; i < s->nsub; i++) ec_set_free(s->sub[i]);
    free(s->sub);
    for (i = 0; i < s->nfs; i++) close(s->fs_fds[i]);
    if (s->pack_init) ec_pack_cleanup(s);
    if (s->sync_init) {
        pthread_mutex_destroy(&s->sync_mu);
        pthread_cond_destroy(&s->sync_cv);
    }
    if (s->desc >= 0) liberasurecode_instance_destroy(s->desc);
    for (i = 0; s->disks && i < s->n; i++) free(s->disks[i]);
    free(s->disks);
    free(s);
}

size_t ec_set_stripe_size(const struct ec_set *s) { return s->stripe_size; }
int ec_set_data_shards(const struct ec_set *s) { return s->k; }
int ec_set_parity_shards(const struct ec_set *s) { return s->m; }

int ec_set_disks_online(const struct ec_set *s)
{
    int i, n = 0;
    if (s->nsub) {
        for (i = 0; i < s->nsub; i++) n += ec_set_disks_online(s->sub[i]);
        return n;
    }
    for (i = 0; i < s->n; i++) {
        char p[4200];
        snprintf(p, sizeof(p), "%s/obj", s->disks[i]);
        if (access(p, W_OK) == 0) n++;
    }
    return n;
}

/* ---- paths ---- */

int ec_valid_id(const char *id)
{
    size_t i, n = strlen(id);
    if (n == 0 || n >= EC_VERSION_ID_MAX) return 0;
    for (i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return id[0] != '.';
}

int ec_disk_of(const struct ec_set *s, const char *id, int shard)
{
    uint64_t rot = XXH3_64bits(id, strlen(id)) % (uint64_t)s->n;
    return (int)(((uint64_t)shard + rot) % (uint64_t)s->n);
}

void ec_obj_dir(const struct ec_set *s, const char *id, int shard,
                    char *out, size_t cap)
{
    char h[17];
    uint64_t x = XXH3_64bits(id, strlen(id));
    snprintf(h, sizeof(h), "%016llx", (unsigned long long)x);
    snprintf(out, cap, "%s/obj/%.2s/%.2s", s->disks[ec_disk_of(s, id, shard)], h,
             h + 2);
}

void ec_obj_path(const struct ec_set *s, const char *id, int shard,
                     char *out, size_t cap)
{
    char d[4200];
    ec_obj_dir(s, id, shard, d, sizeof(d));
    snprintf(out, cap, "%s/%s.%d", d, id, shard);
}

/* Seed of the hash of block `stripe` of shard `shard` (format 2, see
 * ec_int.h): it binds each block to its version, stripe and shard, so a
 * block written to or read from the wrong place (a misdirected write, two
 * blocks swapped) fails its hash like a flipped bit. Format 1 blocks were
 * hashed unseeded, and XXH3 with seed 0 is plain XXH3-64. */
uint64_t ec_block_seed(int fmt, uint64_t vseed, uint64_t stripe,
                           int shard)
{
    return fmt >= 2 ? vseed ^ ((stripe << 8) | (uint64_t)shard) : 0;
}

/* ---- writer ---- */

struct ec_writer {
    struct ec_set *set;                 /* borrowed */
    char id[EC_VERSION_ID_MAX];
    int fds[EC_MAX_DISKS];              /* -1 once closed */
    char *tmp[EC_MAX_DISKS];            /* tmp paths, owned */
    char *stripe;                       /* stripe_size bytes, owned; NULL
                                           until a partial stripe is held */
    size_t fill;                        /* bytes in stripe */
    uint64_t size;                      /* object bytes appended */
    uint64_t nstripes;
    uint64_t last_len;                  /* block length of the last stripe */
    uint64_t vseed;                     /* XXH3 of the version id */
    uint64_t hhash[EC_MAX_DISKS];       /* each shard's header hash */
    int failed;                         /* shards dropped from this write */
    int enospc;                         /* a dropped shard's disk was full */
    int dead;                           /* an error happened */
    int published;                      /* renamed into obj/, or packed */
    int deferred;                       /* 1: no shard file created yet:
                                           the version may still be packed
                                           (its bytes are all in stripe) */
    int packed;                         /* finished into a pack segment */
    char loc[EC_VERSION_ID_MAX + 32];   /* packed: its locator (< 64) */
    unsigned char *hdr;                 /* the header as written (shard
                                           index and hash per shard), owned */
    uint64_t unflushed;                 /* object bytes written since the
                                           last writeback kick */
};

/* Every EC_WRITEBACK_BYTES of object data a writer asks the kernel to
 * start writing its shard files back (sync_file_range, WRITE only: it
 * does not wait for the writes, though it may block while the device's
 * queue is full; pages already under writeback are skipped). Durability still comes from the sync in
 * ec_writer_finish(); this only lets the disk work while the rest of the
 * object is still arriving, instead of the whole object waiting for that
 * sync at the end. */
#define EC_WRITEBACK_BYTES (8u << 20)

static void writeback_kick(struct ec_writer *w, size_t len)
{
    int i;
    w->unflushed += len;
    if (w->unflushed < EC_WRITEBACK_BYTES) return;
    w->unflushed = 0;
    for (i = 0; i < w->set->n; i++)
        if (w->fds[i] >= 0)
            (void)sync_file_range(w->fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
}

/* Shards that must be written for a write to succeed: K + 1 when there is
 * parity (one more failure stays survivable), all of them without. */
int ec_write_quorum(const struct ec_set *s)
{
    return s->m > 0 ? s->k + 1 : s->n;
}

/* A shard could not be written (failed or full disk): drop it from this
 * write. Returns EC_OK while the write quorum still holds, else the
 * status that ends the write (EC_ENOSPC if any disk was full). */
static enum ec_status shard_fail(struct ec_writer *w, int i, int err,
                                 const char *what)
{
    ec_log_errno(what, w->tmp[i] ? w->tmp[i] : w->id, err);
    if (w->fds[i] >= 0) close(w->fds[i]);
    w->fds[i] = -1;
    if (w->tmp[i]) {
        unlink(w->tmp[i]);
        free(w->tmp[i]);
        w->tmp[i] = NULL;
    }
    w->failed++;
    if (err == ENOSPC || err == EDQUOT) w->enospc = 1;
    if (w->set->n - w->failed >= ec_write_quorum(w->set)) return EC_OK;
    cf_log(CF_LOG_ERR, "ec: version %s: only %d of %d shards writable, %d "
           "needed", w->id, w->set->n - w->failed, w->set->n,
           ec_write_quorum(w->set));
    return w->enospc ? EC_ENOSPC : EC_ETOOFEW;
}

/* Moves the window iov[*at..n) past got bytes written (a short write). */
static void iov_advance(struct iovec *iov, int *at, int n, size_t got)
{
    while (*at < n && got >= iov[*at].iov_len) {
        got -= iov[*at].iov_len;
        (*at)++;
    }
    if (*at < n) {
        iov[*at].iov_base = (char *)iov[*at].iov_base + got;
        iov[*at].iov_len -= got;
    }
}

/* Writes every byte of iov[0..n) (n <= 4) to shard i, going on after a
 * short write (what a filling disk or a signal produces); drops the shard
 * on failure. */
static enum ec_status write_all(struct ec_writer *w, int i,
                                const struct iovec *iov_in, int n)
{
    struct iovec iov[4];
    int at = 0;
    if (w->fds[i] < 0) return EC_OK; /* already dropped from this write */
    assert(n >= 1 && n <= 4);
    memcpy(iov, iov_in, (size_t)n * sizeof(iov[0]));
    while (at < n) {
        ssize_t got = writev(w->fds[i], iov + at, n - at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) /* 0: no progress, as good as full */
            return shard_fail(w, i, got < 0 ? errno : ENOSPC, "write");
        iov_advance(iov, &at, n, (size_t)got);
    }
    return EC_OK;
}

/* Creates the N tmp shard files and writes w->hdr (with each shard's
 * index and hash) to them. */
static enum ec_status writer_files(struct ec_writer *w)
{
    struct ec_set *set = w->set;
    unsigned char hdr[EC_HEADER_SIZE];
    unsigned char rnd[8];
    char rhex[17];
    enum ec_status st = EC_OK;
    int i;

    w->deferred = 0;
    memcpy(hdr, w->hdr, EC_HEADER_SIZE);
    cf_random_bytes(rnd, sizeof(rnd));
    cf_hex_encode(rnd, sizeof(rnd), rhex);
    for (i = 0; i < set->n; i++) {
        char p[4300];
        struct iovec iov;
        hdr[14] = (unsigned char)i;
        w->hhash[i] = XXH3_64bits(hdr, EC_HEADER_SIZE - 8);
        ec_put_le(hdr + EC_HEADER_SIZE - 8, w->hhash[i], 8);
        snprintf(p, sizeof(p), "%s/tmp/%s.%d.%s",
                 set->disks[ec_disk_of(set, w->id, i)], w->id, i, rhex);
        w->tmp[i] = strdup(p);
        if (w->tmp[i] == NULL) return EC_ENOMEM;
        w->fds[i] = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (w->fds[i] < 0) {
            st = shard_fail(w, i, errno, "create");
            if (st != EC_OK) return st;
            continue;
        }
        iov.iov_base = hdr;
        iov.iov_len = sizeof(hdr);
        st = write_all(w, i, &iov, 1);
        if (st != EC_OK) return st;
    }
    return EC_OK;
}

enum ec_status ec_writer_new(struct ec_set *set, const struct ec_obj_info *in,
                             struct ec_writer **out)
{
    struct ec_writer *w;
    unsigned char hdr[EC_HEADER_SIZE];
    size_t bl = strlen(in->bucket), vl = strlen(in->version_id);
    enum ec_status st = EC_OK;
    int i;

    if (!ec_valid_id(in->version_id) || bl > 255 || in->key_len > 2048 ||
        40 + bl + vl + in->key_len > EC_HEADER_SIZE - 8)
        return EC_EINVAL;
    if ((set = ec_pick(set, in->version_id)) == NULL) return EC_EINVAL;
    w = calloc(1, sizeof(*w));
    if (w == NULL) return EC_ENOMEM;
    w->set = set;
    snprintf(w->id, sizeof(w->id), "%s", in->version_id);
    for (i = 0; i < EC_MAX_DISKS; i++) w->fds[i] = -1;
    w->vseed = XXH3_64bits(w->id, strlen(w->id));
    w->hdr = malloc(EC_HEADER_SIZE);
    if (w->hdr == NULL) {
        free(w);
        return EC_ENOMEM;
    }
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, EC_MAGIC, 8);
    ec_put_le(hdr + 8, EC_FORMAT_VERSION, 4);
    hdr[12] = (unsigned char)set->k;
    hdr[13] = (unsigned char)set->m;
    hdr[15] = EC_HASH_XXH3;
    ec_put_le(hdr + 16, set->stripe_size, 4);
    ec_put_le(hdr + 20, set->block_len, 4);
    ec_put_le(hdr + 24, (uint64_t)in->mtime_ms, 8);
    ec_put_le(hdr + 32, bl, 2);
    ec_put_le(hdr + 34, vl, 2);
    ec_put_le(hdr + 36, in->key_len, 2);
    memcpy(hdr + 40, in->bucket, bl);
    memcpy(hdr + 40 + bl, in->version_id, vl);
    memcpy(hdr + 40 + bl + vl, in->key, in->key_len);
    memcpy(w->hdr, hdr, EC_HEADER_SIZE);
    /* A version that may end up small enough to pack creates no file
     * until it is known not to (more than pack_threshold bytes) */
    if (set->pack_threshold > 0 &&
        vl + 1 + EC_LOC_HEX < EC_VERSION_ID_MAX) {
        w->deferred = 1;
        *out = w;
        return EC_OK;
    }
    st = writer_files(w);
    if (st != EC_OK) {
        ec_writer_free(w);
        return st;
    }
    *out = w;
    return EC_OK;
}

enum ec_status ec_writer_set_record(struct ec_writer *w, const void *rec,
                                    size_t len)
{
    unsigned char *h = w->hdr;
    size_t at = 40 + ec_get_le(h + 32, 2) + ec_get_le(h + 34, 2) +
                ec_get_le(h + 36, 2);
    enum ec_status st;
    int i;

    if (w->dead) return EC_EIO;
    if (len > 0xffff || at + len > EC_HEADER_SIZE - 8) return EC_EINVAL;
    memset(h + at, 0, EC_HEADER_SIZE - 8 - at);
    memcpy(h + at, rec, len);
    ec_put_le(h + 38, len, 2);
    if (w->deferred) return EC_OK; /* written with the shards */
    for (i = 0; i < w->set->n; i++) {
        ssize_t n;
        if (w->fds[i] < 0) continue;
        h[14] = (unsigned char)i;
        w->hhash[i] = XXH3_64bits(h, EC_HEADER_SIZE - 8);
        ec_put_le(h + EC_HEADER_SIZE - 8, w->hhash[i], 8);
        n = pwrite(w->fds[i], h, EC_HEADER_SIZE, 0);
        if (n != EC_HEADER_SIZE) {
            st = shard_fail(w, i, n < 0 ? errno : ENOSPC, "write header");
            if (st != EC_OK) {
                w->dead = 1;
                return st;
            }
        }
    }
    return EC_OK;
}

/* Encodes len bytes at src (a full stripe, or the last one) and appends one
 * block to every shard. A short stripe must be in w->stripe: without parity
 * its last block is zero-padded there. */
static enum ec_status flush_stripe(struct ec_writer *w, const char *src,
                                   size_t len)
{
    struct ec_set *s = w->set;
    char **data = NULL, **parity = NULL;
    uint64_t flen = 0;
    enum ec_status st = EC_OK;
    int i, rc;

    if (s->m == 0) {
        size_t blk = (len + (size_t)s->k - 1) / (size_t)s->k;
        if (blk * (size_t)s->k != len) {
            assert(src == w->stripe);
            memset(w->stripe + len, 0, blk * (size_t)s->k - len);
        }
        for (i = 0; i < s->k && st == EC_OK; i++) {
            const char *b = src + (size_t)i * blk;
            unsigned char h[8];
            struct iovec iov[2];
            ec_put_le(h, XXH3_64bits_withSeed(b, blk,
                                           ec_block_seed(EC_FORMAT_VERSION,
                                                      w->vseed, w->nstripes,
                                                      i)),
                   8);
            iov[0].iov_base = (void *)b; /* writev does not write to it */
            iov[0].iov_len = blk;
            iov[1].iov_base = h;
            iov[1].iov_len = 8;
            st = write_all(w, i, iov, 2);
        }
        w->nstripes++;
        w->last_len = blk;
        if (st == EC_OK) writeback_kick(w, len);
        return st;
    }
    rc = liberasurecode_encode(s->desc, src, len, &data, &parity, &flen);
    if (rc != 0 || (len == s->stripe_size && flen != s->block_len) ||
        flen > s->block_len) {
        cf_log(CF_LOG_ERR, "ec: encode failed (%d, fragment %llu)", rc,
               (unsigned long long)flen);
        if (rc == 0) liberasurecode_encode_cleanup(s->desc, data, parity);
        return EC_EIO;
    }
    for (i = 0; i < s->n && st == EC_OK; i++) {
        char *b = i < s->k ? data[i] : parity[i - s->k];
        unsigned char h[8];
        struct iovec iov[2];
        ec_put_le(h, XXH3_64bits_withSeed(b, flen,
                                       ec_block_seed(EC_FORMAT_VERSION, w->vseed,
                                                  w->nstripes, i)),
               8);
        iov[0].iov_base = b;
        iov[0].iov_len = flen;
        iov[1].iov_base = h;
        iov[1].iov_len = 8;
        st = write_all(w, i, iov, 2);
    }
    liberasurecode_encode_cleanup(s->desc, data, parity);
    w->nstripes++;
    w->last_len = flen;
    if (st == EC_OK) writeback_kick(w, len);
    return st;
}

enum ec_status ec_writer_append(struct ec_writer *w, const void *p,
                                size_t len)
{
    const char *c = p;
    size_t ss = w->set->stripe_size;
    enum ec_status st;
    if (w->dead) return EC_EIO;
    if (w->deferred) {
        if (w->size + len <= w->set->pack_threshold) {
            /* still small: keep every byte (threshold <= stripe size) */
            if (w->stripe == NULL && (w->stripe = malloc(ss)) == NULL) {
                st = EC_ENOMEM;
                goto out_dead;
            }
            memcpy(w->stripe + w->fill, c, len);
            w->fill += len;
            w->size += len;
            return EC_OK;
        }
        st = writer_files(w);
        if (st != EC_OK) goto out_dead;
    }
    while (len > 0) {
        size_t k;
        if (w->fill == 0 && len >= ss) {
            /* Whole stripes of the caller's are encoded where they lie. */
            st = flush_stripe(w, c, ss);
            if (st != EC_OK) goto out_dead;
            w->size += ss;
            c += ss;
            len -= ss;
            continue;
        }
        if (w->stripe == NULL && (w->stripe = malloc(ss)) == NULL) {
            st = EC_ENOMEM;
            goto out_dead;
        }
        k = ss - w->fill;
        if (k > len) k = len;
        memcpy(w->stripe + w->fill, c, k);
        w->fill += k;
        w->size += k;
        c += k;
        len -= k;
        if (w->fill == ss) {
            st = flush_stripe(w, w->stripe, w->fill);
            w->fill = 0;
            if (st != EC_OK) goto out_dead;
        }
    }
    return EC_OK;
out_dead:
    w->dead = 1;
    return st;
}

uint32_t ec_group_sync(struct ec_set *s)
{
    uint64_t t;
    uint32_t failed = 0;
    int f;
    pthread_mutex_lock(&s->sync_mu);
    t = ++s->sync_requested;
    while (s->sync_done < t) {
        if (!s->sync_running) {
            /* lead a batch: it covers every ticket taken so far, whose
             * writes and renames all happened before this point */
            uint64_t to = s->sync_requested;
            int err[EC_MAX_DISKS];
            s->sync_running = 1;
            pthread_mutex_unlock(&s->sync_mu);
            for (f = 0; f < s->nfs; f++) {
                err[f] = syncfs(s->fs_fds[f]) != 0 ? errno : 0;
                if (err[f]) ec_log_errno("syncfs", s->fs_path[f], err[f]);
            }
            pthread_mutex_lock(&s->sync_mu);
            for (f = 0; f < s->nfs; f++)
                if (err[f]) s->fs_bad_upto[f] = to;
            s->sync_done = to;
            s->sync_running = 0;
            pthread_cond_broadcast(&s->sync_cv);
        } else {
            pthread_cond_wait(&s->sync_cv, &s->sync_mu);
        }
    }
    for (f = 0; f < s->nfs; f++)
        if (s->fs_bad_upto[f] >= t) failed |= 1u << f;
    pthread_mutex_unlock(&s->sync_mu);
    return failed;
}

/* Writes every byte of iov[0..n) at off, going on after short writes;
 * 0, or errno (ENOSPC for no progress). */
static int pwritev_all(int fd, struct iovec *iov, int n, off_t off)
{
    int at = 0;
    while (at < n) {
        ssize_t got = pwritev(fd, iov + at, n - at, off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return got < 0 ? errno : ENOSPC;
        off += got;
        iov_advance(iov, &at, n, (size_t)got);
    }
    return 0;
}

/* Finishes a deferred writer (all its bytes, at most pack_threshold, in
 * w->stripe) as one entry per shard in the set's current pack segment,
 * at the same offset on every disk, then joins the batch fdatasync. On
 * EC_OK the entries are durable and w->loc names them. On failure what was
 * appended is dead space no catalog record names (and is put on the dead
 * list). */
static enum ec_status finish_packed(struct ec_writer *w, uint64_t *size_out)
{
    struct ec_set *s = w->set;
    char **data = NULL, **parity = NULL, *frag[EC_MAX_DISKS];
    unsigned char hdr[EC_HEADER_SIZE], tr[EC_TRAILER_SIZE], bh[8];
    size_t len = w->fill;
    uint64_t flen = 0, elen, off = 0, nstr = len > 0;
    uint32_t lost = 0; /* disks whose entry is not durable */
    struct ec_seg *g;
    enum ec_status st = EC_OK;
    int i;

    if (nstr && s->m == 0) {
        size_t blk = (len + (size_t)s->k - 1) / (size_t)s->k;
        memset(w->stripe + len, 0, blk * (size_t)s->k - len);
        for (i = 0; i < s->k; i++) frag[i] = w->stripe + (size_t)i * blk;
        flen = blk;
    } else if (nstr) {
        int rc = liberasurecode_encode(s->desc, w->stripe, len, &data,
                                       &parity, &flen);
        if (rc != 0 || flen > s->block_len) {
            cf_log(CF_LOG_ERR, "ec: encode failed (%d, fragment %llu)", rc,
                   (unsigned long long)flen);
            if (rc == 0) liberasurecode_encode_cleanup(s->desc, data, parity);
            w->dead = 1;
            return EC_EIO;
        }
        for (i = 0; i < s->n; i++)
            frag[i] = i < s->k ? data[i] : parity[i - s->k];
    }
    elen = EC_HEADER_SIZE + (nstr ? flen + EC_HASH_SIZE : 0) +
           EC_TRAILER_SIZE;
    memcpy(hdr, w->hdr, EC_HEADER_SIZE);
    ec_put_le(hdr + 8, EC_FORMAT_PACKED, 4);
    ec_put_le(hdr + EC_PACK_LEN_OFF, elen, 8);
    memcpy(tr, EC_TRAILER_MAGIC, 8);
    ec_put_le(tr + 8, w->size, 8);
    ec_put_le(tr + 16, nstr, 8);
    ec_put_le(tr + 24, flen, 8);
    g = ec_pack_alloc(s, (elen + EC_PACK_ALIGN - 1) /
                             EC_PACK_ALIGN * EC_PACK_ALIGN, &off);
    if (g == NULL) {
        st = EC_ETOOFEW;
        goto out;
    }
    snprintf(w->loc, sizeof(w->loc), "%s+%08x%010llx%06llx", w->id, g->id,
             (unsigned long long)off, (unsigned long long)elen);
    for (i = 0; i < s->n; i++) {
        int d = ec_disk_of(s, w->id, i), err;
        uint64_t hh;
        struct iovec iov[4];
        int niov = 0;
        if (g->fd[d] < 0 || (g->bad & (1u << d))) {
            if (g->fd[d] < 0 &&
                (g->err[d] == ENOSPC || g->err[d] == EDQUOT))
                w->enospc = 1;
            lost |= 1u << d;
            continue;
        }
        hdr[14] = (unsigned char)i;
        hh = XXH3_64bits(hdr, EC_HEADER_SIZE - 8);
        ec_put_le(hdr + EC_HEADER_SIZE - 8, hh, 8);
        ec_put_le(tr + 32, XXH3_64bits_withSeed(tr, 32, hh), 8);
        iov[niov].iov_base = hdr;
        iov[niov++].iov_len = EC_HEADER_SIZE;
        if (nstr) {
            ec_put_le(bh, XXH3_64bits_withSeed(
                              frag[i], flen,
                              ec_block_seed(EC_FORMAT_PACKED, w->vseed, 0,
                                            i)),
                      8);
            iov[niov].iov_base = frag[i];
            iov[niov++].iov_len = flen;
            iov[niov].iov_base = bh;
            iov[niov++].iov_len = EC_HASH_SIZE;
        }
        iov[niov].iov_base = tr;
        iov[niov++].iov_len = EC_TRAILER_SIZE;
        err = pwritev_all(g->fd[d], iov, niov, (off_t)off);
        if (err) {
            char p[4300];
            ec_seg_path(s, d, g->id, p, sizeof(p));
            ec_log_errno("write", p, err);
            if (err == ENOSPC || err == EDQUOT) w->enospc = 1;
            ec_pack_disk_failed(s, g, d);
            lost |= 1u << d;
        }
    }
    if (s->n - __builtin_popcount(lost) >= ec_write_quorum(s))
        lost |= ec_pack_sync(s, g);
    ec_pack_release(s, g);
    w->failed = __builtin_popcount(lost);
    if (s->n - w->failed < ec_write_quorum(s)) {
        cf_log(CF_LOG_ERR, "ec: version %s: only %d of %d packed shards "
               "durable, %d needed", w->id, s->n - w->failed, s->n,
               ec_write_quorum(s));
        st = w->enospc ? EC_ENOSPC : EC_ETOOFEW;
        ec_pack_dead_add(s, w->loc, -1);
        goto out;
    }
    w->packed = 1;
    w->published = 1;
    if (w->failed)
        cf_log(CF_LOG_WARN, "ec: version %s packed with %d of %d shards "
               "(needs heal)", w->loc, s->n - w->failed, s->n);
    *size_out = w->size;
out:
    if (data) liberasurecode_encode_cleanup(s->desc, data, parity);
    if (st != EC_OK) w->dead = 1;
    return st;
}

/* Room for the record in a packed header (which also holds E). */
static int fits_packed(const struct ec_writer *w)
{
    const unsigned char *h = w->hdr;
    return 40 + ec_get_le(h + 32, 2) + ec_get_le(h + 34, 2) +
               ec_get_le(h + 36, 2) + ec_get_le(h + 38, 2) <=
           EC_PACK_LEN_OFF;
}

const char *ec_writer_data_id(const struct ec_writer *w)
{
    return w->packed ? w->loc : w->id;
}

enum ec_status ec_writer_finish(struct ec_writer *w, uint64_t *size_out)
{
    struct ec_set *s = w->set;
    unsigned char tr[EC_TRAILER_SIZE];
    enum ec_status st;
    uint32_t live = 0; /* shards published under obj/ */
    int i;

    if (w->dead) return EC_EIO;
    if (w->deferred) {
        if (fits_packed(w)) return finish_packed(w, size_out);
        st = writer_files(w);
        if (st != EC_OK) goto out_dead;
    }
    if (w->fill > 0) {
        st = flush_stripe(w, w->stripe, w->fill);
        w->fill = 0;
        if (st != EC_OK) goto out_dead;
    }
    memcpy(tr, EC_TRAILER_MAGIC, 8);
    ec_put_le(tr + 8, w->size, 8);
    ec_put_le(tr + 16, w->nstripes, 8);
    ec_put_le(tr + 24, w->last_len, 8);
    for (i = 0; i < s->n; i++) {
        struct iovec iov = { tr, sizeof(tr) };
        /* seeded with this shard's header hash: the trailer belongs to
         * that header and no other */
        ec_put_le(tr + 32, XXH3_64bits_withSeed(tr, 32, w->hhash[i]), 8);
        st = write_all(w, i, &iov, 1);
        if (st != EC_OK) goto out_dead;
    }
    /* Close, publish the names, then make data and names durable with
     * one syncfs() per filesystem, shared by every writer that arrived
     * before it started (group commit, ec_group_sync). Nothing is
     * acknowledged before it returns. A crash before then may leave a
     * torn file under obj/ that no catalog record names: readers reject
     * it by its length and hashes, the orphan scan removes it. */
    for (i = 0; i < s->n; i++) {
        int fd = w->fds[i];
        if (fd < 0) continue;
        /* close() releases the fd even when it fails: never close twice
         * (another thread may already own the number) */
        w->fds[i] = -1;
        if (close(fd) != 0) {
            st = shard_fail(w, i, errno, "close");
            if (st != EC_OK) goto out_dead;
        }
    }
    for (i = 0; i < s->n; i++) {
        char d[4200], p[4300];
        if (w->tmp[i] == NULL) continue;
        ec_obj_dir(s, w->id, i, d, sizeof(d));
        ec_obj_path(s, w->id, i, p, sizeof(p));
        if (cf_mkdir_p(d) != 0 || rename(w->tmp[i], p) != 0) {
            st = shard_fail(w, i, errno, "publish");
            if (st != EC_OK) goto out_dead;
            continue;
        }
        free(w->tmp[i]);
        w->tmp[i] = NULL;
        live |= 1u << i;
    }
    {
        uint32_t bad = ec_group_sync(s);
        for (i = 0; i < s->n; i++) {
            char p[4300];
            int f;
            if (!(live & (1u << i))) continue;
            f = s->disk_fs[ec_disk_of(s, w->id, i)];
            if (!(bad & (1u << f))) continue;
            /* its filesystem failed to sync: the shard may not survive a
             * crash, so it counts as lost */
            ec_obj_path(s, w->id, i, p, sizeof(p));
            unlink(p);
            w->failed++;
        }
        if (s->n - w->failed < ec_write_quorum(s)) {
            cf_log(CF_LOG_ERR, "ec: version %s: only %d of %d shards "
                   "durable, %d needed", w->id, s->n - w->failed, s->n,
                   ec_write_quorum(s));
            st = EC_EIO;
            goto out_dead;
        }
    }
    w->published = 1;
    if (w->failed)
        cf_log(CF_LOG_WARN, "ec: version %s written with %d of %d shards "
               "(needs heal)", w->id, s->n - w->failed, s->n);
    *size_out = w->size;
    return EC_OK;
out_dead:
    w->dead = 1;
    if (!w->published) ec_remove(s, w->id);
    return st;
}

int ec_writer_missing(const struct ec_writer *w)
{
    return w->failed;
}

void ec_writer_free(struct ec_writer *w)
{
    int i;
    if (w == NULL) return;
    for (i = 0; i < EC_MAX_DISKS; i++) {
        if (w->fds[i] >= 0) close(w->fds[i]);
        if (w->tmp[i]) {
            unlink(w->tmp[i]);
            free(w->tmp[i]);
        }
    }
    free(w->stripe);
    free(w->hdr);
    free(w);
}

enum ec_status ec_remove(struct ec_set *s, const char *id)
{
    int i, found = 0;
    if (ec_data_id_packed(id)) {
        /* the bytes stay until compaction; the dead list keeps scans
         * (coffer meta rebuild) from bringing the version back */
        if ((s = ec_pick(s, id)) == NULL) return EC_EINVAL;
        ec_pack_dead_add(s, id, -1);
        return EC_OK;
    }
    if (!ec_valid_id(id) || (s = ec_pick(s, id)) == NULL) return EC_EINVAL;
    for (i = 0; i < s->n; i++) {
        char p[4300];
        ec_obj_path(s, id, i, p, sizeof(p));
        if (unlink(p) == 0) found++;
        else if (errno != ENOENT) ec_log_errno("unlink", p, errno);
    }
    return found ? EC_OK : EC_ENOTFOUND;
}

/* ---- reader ---- */

void ec_shard_name(const struct ec_reader *r, int i, char *out, size_t cap)
{
    if (r->packed) {
        char p[4300];
        ec_seg_path(r->set, ec_disk_of(r->set, r->id, i), r->seg, p,
                    sizeof(p));
        snprintf(out, cap, "%s@%llu (version %s.%d)", p,
                 (unsigned long long)r->off0, r->id, i);
        return;
    }
    ec_obj_path(r->set, r->id, i, out, cap);
}

static void shard_drop(struct ec_reader *r, int i, const char *why)
{
    char p[4400];
    ec_shard_name(r, i, p, sizeof(p));
    cf_log(CF_LOG_WARN, "ec: shard %s: %s (%s)", p, why,
           r->set->m > 0 ? "reading through parity" : "no parity");
    if (r->fds[i] >= 0) close(r->fds[i]);
    r->fds[i] = -1;
}

/* Checks shard i's header, trailer and length against this reader's
 * version, size and the set's layout. Returns NULL if the shard is usable,
 * else what is wrong with it (for the log). */
static const char *shard_check(struct ec_reader *r, int i)
{
    struct ec_set *s = r->set;
    unsigned char hdr[EC_HEADER_SIZE], tr[EC_TRAILER_SIZE];
    struct stat st;
    size_t vl, bl, kl;
    uint64_t want, last, hh, fmt, th, flen;

    {
        ssize_t n = pread(r->fds[i], hdr, sizeof(hdr), (off_t)r->off0);
        if (n < 0)
            return errno == EIO ? "header read failed: Input/output error"
                                : "header read failed";
        if (n != (ssize_t)sizeof(hdr)) return "header short";
    }
    hh = XXH3_64bits(hdr, EC_HEADER_SIZE - 8);
    fmt = ec_get_le(hdr + 8, 4);
    if (memcmp(hdr, EC_MAGIC, 8) != 0 ||
        ec_get_le(hdr + EC_HEADER_SIZE - 8, 8) != hh)
        return "header failed its magic or hash";
    if (fmt < 1 || fmt > EC_FORMAT_PACKED || hdr[15] != EC_HASH_XXH3)
        return "unknown format version or hash kind";
    if ((fmt == EC_FORMAT_PACKED) != r->packed)
        return "a pack entry where a shard file should be, or the reverse";
    if (r->packed && ec_get_le(hdr + EC_PACK_LEN_OFF, 8) != r->elen)
        return "pack entry length differs from its locator's";
    if (hdr[12] != s->k || hdr[13] != s->m || hdr[14] != i ||
        ec_get_le(hdr + 16, 4) != s->stripe_size ||
        ec_get_le(hdr + 20, 4) != s->block_len)
        return "header names another layout or shard index";
    /* The lengths are bounded before they are used: a header with a valid
     * XXH3 (not a MAC) is not proof that its fields are sane. */
    bl = (size_t)ec_get_le(hdr + 32, 2);
    vl = (size_t)ec_get_le(hdr + 34, 2);
    kl = (size_t)ec_get_le(hdr + 36, 2);
    if (40 + bl + vl + kl > (r->packed ? EC_PACK_LEN_OFF : EC_HEADER_SIZE - 8))
        return "header string lengths out of bounds";
    if (vl != strlen(r->id) || memcmp(hdr + 40 + bl, r->id, vl) != 0)
        return "header names another version";
    if (fstat(r->fds[i], &st) != 0) return "fstat failed";
    /* flen: the shard's length (the file's, or the entry's) */
    flen = r->packed ? r->elen : (uint64_t)st.st_size;
    if (flen < EC_HEADER_SIZE + EC_TRAILER_SIZE ||
        (uint64_t)st.st_size < r->off0 + flen ||
        pread(r->fds[i], tr, sizeof(tr),
              (off_t)(r->off0 + flen - EC_TRAILER_SIZE)) !=
            (ssize_t)sizeof(tr))
        return "truncated: no trailer";
    th = XXH3_64bits_withSeed(tr, 32, fmt >= 2 ? hh : 0);
    if (memcmp(tr, EC_TRAILER_MAGIC, 8) != 0 || ec_get_le(tr + 32, 8) != th)
        return "trailer failed its magic or hash (truncated or torn)";
    if (ec_get_le(tr + 8, 8) != r->size || ec_get_le(tr + 16, 8) != r->nstripes)
        return "trailer size differs from the catalog's";
    last = ec_get_le(tr + 24, 8);
    if (last > s->block_len || (r->nstripes > 0 && last == 0) ||
        (r->last_len && last != r->last_len))
        return "trailer's last block length is inconsistent";
    want = EC_HEADER_SIZE + EC_TRAILER_SIZE;
    if (r->nstripes > 0)
        want += (r->nstripes - 1) * (s->block_len + EC_HASH_SIZE) + last +
                EC_HASH_SIZE;
    if (flen != want) return "file length is wrong";
    r->last_len = last;
    r->fmt[i] = (int)fmt;
    return NULL;
}

/* fds[i] of a parity shard an ec_reader_open_data() reader has not opened */
#define EC_FD_LATER (-2)

/* Opens and checks shard i: 1 usable, 0 present but dropped (logged), -1
 * absent. */
static int reader_shard_open(struct ec_reader *r, int i)
{
    struct ec_set *s = r->set;
    char p[4300];
    const char *why;

    if (r->packed)
        ec_seg_path(s, ec_disk_of(s, r->id, i), r->seg, p, sizeof(p));
    else
        ec_obj_path(s, r->id, i, p, sizeof(p));
    r->fds[i] = open(p, O_RDONLY | O_CLOEXEC);
    if (r->fds[i] < 0) {
        if (errno == ENOENT) return -1;
        ec_log_errno("open", p, errno);
        return 0;
    }
    why = shard_check(r, i);
    if (why != NULL) {
        shard_drop(r, i, why);
        return 0;
    }
    return 1;
}

static enum ec_status reader_open(struct ec_set *s, const char *id,
                                  uint64_t size, int parity_later,
                                  struct ec_reader **out)
{
    struct ec_reader *r;
    int i, rc, good = 0, present = 0;
    char base[EC_VERSION_ID_MAX];
    uint32_t seg = 0;
    uint64_t off0 = 0, elen = 0;
    int packed = ec_loc_parse(id, base, sizeof(base), &seg, &off0, &elen);

    if (packed) id = base;
    if (!ec_valid_id(id) || (s = ec_pick(s, id)) == NULL) return EC_EINVAL;
    r = calloc(1, sizeof(*r));
    if (r == NULL) return EC_ENOMEM;
    r->set = s;
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->size = size;
    r->nstripes = (size + s->stripe_size - 1) / s->stripe_size;
    r->vseed = XXH3_64bits(id, strlen(id));
    r->packed = packed;
    r->seg = seg;
    r->off0 = off0;
    r->elen = elen;
    for (i = 0; i < s->n; i++) {
        if (parity_later && i >= s->k && good == s->k && s->m > 0) {
            /* K shards are usable already (all the data shards, or
             * with a bad one, the parity opened so far): the rest of
             * the parity waits until a read needs it */
            r->fds[i] = EC_FD_LATER;
            continue;
        }
        rc = reader_shard_open(r, i);
        if (rc >= 0) present++;
        if (rc > 0) good++;
    }
    if (present == 0) {
        ec_reader_free(r);
        return EC_ENOTFOUND;
    }
    if (good < s->k) {
        cf_log(CF_LOG_ERR, "ec: version %s: only %d of %d shards usable, "
               "%d needed", id, good, s->n, s->k);
        ec_reader_free(r);
        return EC_ETOOFEW;
    }
    *out = r;
    return EC_OK;
}

enum ec_status ec_reader_open(struct ec_set *s, const char *id, uint64_t size,
                              struct ec_reader **out)
{
    return reader_open(s, id, size, 0, out);
}

enum ec_status ec_reader_open_data(struct ec_set *s, const char *id,
                                   uint64_t size, struct ec_reader **out)
{
    return reader_open(s, id, size, 1, out);
}

/* Length of shard blocks in stripe `stripe` (the last may be shorter). */
size_t ec_block_len_of(const struct ec_reader *r, uint64_t stripe)
{
    return stripe + 1 == r->nstripes ? (size_t)r->last_len
                                     : r->set->block_len;
}

/* Bytes of liberasurecode's fragment header at the start of each block. */
size_t ec_frag_hdr_len(const struct ec_set *s)
{
    return s->m > 0 ? sizeof(fragment_header_t) : 0;
}

/* Reads block `stripe` of shard i, its fragment header (ec_frag_hdr_len()
 * bytes) into fh and its payload into pay, and verifies the XXH3 of the
 * two together. pay == fh + ec_frag_hdr_len() reads the block whole. On
 * failure the shard is dropped for the rest of this reader's life and the
 * bytes at fh and pay are undefined. */
static int read_block2(struct ec_reader *r, int i, uint64_t stripe,
                       char *fh, char *pay)
{
    struct ec_set *s = r->set;
    size_t bl = ec_block_len_of(r, stripe), hl = ec_frag_hdr_len(s);
    unsigned char h[8];
    struct iovec iov[3] = { { fh, hl }, { pay, bl - hl }, { h, 8 } };
    off_t off = (off_t)(r->off0 + EC_HEADER_SIZE +
                        stripe * (s->block_len + EC_HASH_SIZE));
    ssize_t n = preadv(r->fds[i], iov, 3, off);
    uint64_t want, seed = ec_block_seed(r->fmt[i], r->vseed, stripe, i);
    if (n != (ssize_t)(bl + 8)) {
        shard_drop(r, i, n < 0 ? "read error" : "short read");
        return -1;
    }
    if (pay == fh + hl) {
        want = XXH3_64bits_withSeed(fh, bl, seed);
    } else {
        XXH3_state_t xs;
        XXH3_64bits_reset_withSeed(&xs, seed);
        XXH3_64bits_update(&xs, fh, hl);
        XXH3_64bits_update(&xs, pay, bl - hl);
        want = XXH3_64bits_digest(&xs);
    }
    if (ec_get_le(h, 8) != want) {
        shard_drop(r, i, "block failed its bitrot hash");
        return -1;
    }
    return 0;
}

int ec_read_block(struct ec_reader *r, int i, uint64_t stripe, char *dst)
{
    return read_block2(r, i, stripe, dst, dst + ec_frag_hdr_len(r->set));
}

/* Data bytes in stripe `stripe` (the last one may be short). */
static uint64_t stripe_data_len(const struct ec_reader *r, uint64_t stripe)
{
    uint64_t ss = r->set->stripe_size;
    return stripe + 1 == r->nstripes ? r->size - stripe * ss : ss;
}

/* Payload bytes of shard i's block whose fragment header is at fh, or -1
 * if it is not the fragment this position must hold (then we decode
 * instead, without it). Reads only the ec_frag_hdr_len() bytes at fh: the
 * checksum type is checked first because liberasurecode would otherwise
 * checksum md.size bytes after the header. */
long ec_frag_payload(const struct ec_reader *r, int i, const char *fh,
                         uint64_t stripe)
{
    fragment_header_t hd;
    fragment_metadata_t md;
    size_t bl = ec_block_len_of(r, stripe);
    if (r->set->m == 0) return (long)bl;
    memcpy(&hd, fh, sizeof(hd)); /* fh need not be aligned */
    if (hd.meta.chksum_type != CHKSUM_NONE ||
        liberasurecode_get_fragment_metadata((char *)&hd, &md) != 0 ||
        md.idx != (uint32_t)i || md.frag_backend_metadata_size != 0 ||
        (size_t)md.size + sizeof(fragment_header_t) != bl ||
        md.orig_data_size != stripe_data_len(r, stripe))
        return -1;
    return (long)md.size;
}

/* The reader's block scratch, allocated on first use: whole-stripe reads
 * of intact data shards never need it. NULL on ENOMEM. */
static char *ec_scratch(struct ec_reader *r)
{
    if (r->blocks == NULL)
        r->blocks = malloc((size_t)r->set->n * r->set->block_len);
    return r->blocks;
}

/* Copies [from, from + n) of stripe `stripe` to out. Systematic path: the
 * data shards covering the range are read, verified and copied as they
 * are, a payload the range covers whole straight into out; if one of them
 * is missing or bad, K good blocks (data first, then parity) are decoded
 * and out is rewritten from the decoded stripe. */
static enum ec_status read_stripe(struct ec_reader *r, uint64_t stripe,
                                  size_t from, size_t n, char *out,
                                  int *degraded)
{
    struct ec_set *s = r->set;
    char *frags[EC_MAX_DISKS];
    int good[EC_MAX_DISKS] = { 0 }; /* 1: verified, whole in r->blocks */
    size_t bl = ec_block_len_of(r, stripe);
    size_t hdr = ec_frag_hdr_len(s);
    size_t pay = bl - hdr;
    int nf = 0, i, first, last, fast = 1;

    if (n == 0) return EC_OK;
    if (bl <= hdr) return EC_ECORRUPT; /* checked at open; defensive */
    first = (int)(from / pay);
    last = (int)((from + n - 1) / pay);
    if (last >= s->k) fast = 0; /* layout other than expected: decode */
    for (i = first; fast && i <= last; i++) {
        size_t lo = (size_t)i * pay; /* payload i is stripe [lo, lo+pay) */
        char *blk = NULL;
        _Alignas(16) char fh[sizeof(fragment_header_t)];
        int direct = lo >= from && lo + pay <= from + n;
        int rc;
        if (r->fds[i] < 0) {
            *degraded = 1;
            fast = 0;
            break;
        }
        if (!direct) {
            if (ec_scratch(r) == NULL) return EC_ENOMEM;
            blk = r->blocks + (size_t)i * s->block_len;
        }
        rc = direct ? read_block2(r, i, stripe, fh, out + (lo - from))
                    : ec_read_block(r, i, stripe, blk);
        if (rc != 0) {
            *degraded = 1;
            fast = 0;
            break;
        }
        good[i] = !direct;
        if (ec_frag_payload(r, i, direct ? fh : blk, stripe) != (long)pay) {
            cf_log(CF_LOG_DEBUG, "ec: version %s stripe %llu shard %d: "
                   "unexpected fragment layout, decoding", r->id,
                   (unsigned long long)stripe, i);
            good[i] = 0;
            fast = 0;
        }
        if (!direct) {
            /* the part of payload i inside the range */
            size_t a = from > lo ? from : lo;
            size_t e = from + n < lo + pay ? from + n : lo + pay;
            memcpy(out + (a - from), blk + hdr + (a - lo), e - a);
        }
    }
    if (fast) return EC_OK;

    /* Degraded: gather K verified blocks, reusing those already read whole
     * (a payload read into out is read again: this path is rare). */
    if (ec_scratch(r) == NULL) return EC_ENOMEM;
    for (i = 0; i < s->n && nf < s->k; i++) {
        char *dst = r->blocks + (size_t)i * s->block_len;
        if (!good[i]) {
            if (r->fds[i] == EC_FD_LATER && reader_shard_open(r, i) < 0)
                r->fds[i] = -1; /* absent */
            if (r->fds[i] < 0) {
                if (i < s->k) *degraded = 1;
                continue;
            }
            if (ec_read_block(r, i, stripe, dst) != 0) {
                *degraded = 1;
                continue;
            }
            if (ec_frag_payload(r, i, dst, stripe) != (long)pay) {
                /* not a fragment of this stripe and position: never hand
                 * it to the decoder */
                shard_drop(r, i, "unexpected fragment header");
                *degraded = 1;
                continue;
            }
        }
        frags[nf++] = dst;
    }
    if (nf < s->k || s->m == 0) {
        cf_log(CF_LOG_ERR, "ec: version %s stripe %llu: too few good shards",
               r->id, (unsigned long long)stripe);
        return EC_ETOOFEW;
    }
    {
        char *data = NULL;
        uint64_t dlen = 0;
        int rc = liberasurecode_decode(s->desc, frags, nf, bl, 0, &data,
                                       &dlen);
        if (rc != 0 || dlen < from + n) {
            cf_log(CF_LOG_ERR, "ec: version %s stripe %llu: decode failed "
                   "(%d)", r->id, (unsigned long long)stripe, rc);
            if (rc == 0) liberasurecode_decode_cleanup(s->desc, data);
            return EC_ECORRUPT;
        }
        memcpy(out, data + from, n);
        liberasurecode_decode_cleanup(s->desc, data);
    }
    return EC_OK;
}

enum ec_status ec_reader_read(struct ec_reader *r, uint64_t off, void *buf,
                              size_t len, int *degraded)
{
    struct ec_set *s = r->set;
    char *out = buf;
    int deg = 0;

    if (degraded) *degraded = 0;
    if (off > r->size || len > r->size - off) return EC_EINVAL;
    while (len > 0) {
        uint64_t stripe = off / s->stripe_size;
        size_t from = (size_t)(off % s->stripe_size);
        size_t n = s->stripe_size - from;
        enum ec_status st;
        if (n > len) n = len;
        st = read_stripe(r, stripe, from, n, out, &deg);
        if (st != EC_OK) {
            if (degraded) *degraded = deg;
            return st;
        }
        out += n;
        off += n;
        len -= n;
    }
    if (degraded) *degraded = deg;
    return EC_OK;
}

void ec_reader_free(struct ec_reader *r)
{
    int i;
    if (r == NULL) return;
    for (i = 0; i < r->set->n; i++)
        if (r->fds[i] >= 0) close(r->fds[i]);
    free(r->blocks);
    free(r);
}

int ec_reader_shards_usable(const struct ec_reader *r)
{
    int i, n = 0;
    for (i = 0; i < r->set->n; i++)
        if (r->fds[i] >= 0) n++;
    return n;
}
