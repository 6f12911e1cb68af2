/* heal_ckpt.c: catalog checkpoints on the data disks, and `coffer meta
 * rebuild`: a new catalog from the newest checkpoint plus the version
 * records that shard headers carry.
 *
 * Layout: <disk>/.coffer/meta-backup/<16-digit ms>/ is a complete RocksDB
 * checkpoint; one being written is named .tmp-<ms> and renamed when
 * complete, so a crash never leaves a half checkpoint under a final name.
 *
 * Rebuild invariants:
 * - The catalog directory it writes must not exist: a rebuild never
 *   touches a catalog that might still hold something.
 * - A version is never made weaker than it was: versions come back with
 *   the lock state of the checkpoint (taken after their write, so at least
 *   their write-time state) or, when written after it, of their own
 *   record (their write-time state). A checkpoint version whose data is
 *   gone is dropped only if nothing locks it (then it was deleted after
 *   the checkpoint); a locked one is kept and reported. */
#define _XOPEN_SOURCE 700
#include "heal_int.h"
#include "cf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_cb(const char *p, const struct stat *sb, int type,
                 struct FTW *f)
{
    return remove(p) != 0 && errno != ENOENT ? -1 : 0;
}

static int rm_rf(const char *path)
{
    return nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int is_ckpt_name(const char *s)
{
    return strlen(s) == 16 && strspn(s, "0123456789") == 16;
}

static int cmpname(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the complete checkpoints in dir, sorted oldest first. */
static int list_ckpts(const char *dir, char ***out, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    size_t cnt = 0;
    *out = NULL;
    *n = 0;
    if (d == NULL) return errno == ENOENT ? 0 : -1;
    while ((e = readdir(d)) != NULL) {
        char **nv;
        if (!is_ckpt_name(e->d_name)) continue;
        nv = realloc(v, (cnt + 1) * sizeof(*v));
        if (nv == NULL) break;
        v = nv;
        if ((v[cnt] = strdup(e->d_name)) == NULL) break;
        cnt++;
    }
    closedir(d);
    qsort(v, cnt, sizeof(*v), cmpname);
    *out = v;
    *n = cnt;
    return 0;
}

static void free_names(char **v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) free(v[i]);
    free(v);
}

enum heal_status heal_checkpoint(struct meta_db *db,
                                 const char *const *disks, int ndisks,
                                 int keep)
{
    char name[32];
    int i, ok = 0;
    snprintf(name, sizeof(name), "%016lld", (long long)cf_now_ms());
    for (i = 0; i < ndisks; i++) {
        char base[4200], tmp[4300], fin[4300];
        char **names;
        size_t n, j;
        snprintf(base, sizeof(base), "%s/.coffer/meta-backup", disks[i]);
        snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", base, name);
        snprintf(fin, sizeof(fin), "%s/%s", base, name);
        if (cf_mkdir_p(base) != 0) {
            char e[128];
            cf_log(CF_LOG_WARN, "checkpoint: cannot create %s: %s", base,
                   cf_strerror(errno, e, sizeof(e)));
            continue;
        }
        /* leftovers of an interrupted checkpoint */
        {
            DIR *d = opendir(base);
            struct dirent *e;
            while (d && (e = readdir(d)) != NULL) {
                char p[4400];
                if (strncmp(e->d_name, ".tmp-", 5) != 0) continue;
                if (snprintf(p, sizeof(p), "%s/%s", base, e->d_name) <
                    (int)sizeof(p))
                    rm_rf(p);
            }
            if (d) closedir(d);
        }
        if (meta_checkpoint(db, tmp) != META_OK) {
            rm_rf(tmp);
            continue;
        }
        if (rename(tmp, fin) != 0) {
            rm_rf(tmp);
            continue;
        }
        {
            int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                if (fsync(fd) != 0)
                    cf_log(CF_LOG_WARN, "checkpoint: fsync %s failed", base);
                close(fd);
            }
        }
        ok++;
        if (list_ckpts(base, &names, &n) == 0) {
            for (j = 0; keep > 0 && j + (size_t)keep < n; j++) {
                char p[4400];
                snprintf(p, sizeof(p), "%s/%s", base, names[j]);
                rm_rf(p);
            }
            free_names(names, n);
        }
    }
    if (ok == 0) {
        cf_log(CF_LOG_ERR, "checkpoint: no disk took the catalog checkpoint");
        return HEAL_EIO;
    }
    cf_log(CF_LOG_INFO, "checkpoint: catalog checkpoint %s on %d of %d "
           "disks", name, ok, ndisks);
    return HEAL_OK;
}

/* ---- rebuild ---- */

/* Copies (or hard-links) every file of checkpoint directory src into dst. */
static int copy_ckpt(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    struct dirent *e;
    int rc = 0;
    if (d == NULL) return -1;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char a[4400], b[4400], buf[65536];
        int in, out;
        ssize_t n;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(a, sizeof(a), "%s/%s", src, e->d_name);
        snprintf(b, sizeof(b), "%s/%s", dst, e->d_name);
        /* RocksDB never rewrites a .sst: those may be shared by a link;
         * everything else (MANIFEST, CURRENT, OPTIONS, logs) is copied,
         * since the new catalog will write to it. */
        if (strstr(e->d_name, ".sst") && link(a, b) == 0) continue;
        in = open(a, O_RDONLY | O_CLOEXEC);
        out = in < 0 ? -1
                     : open(b, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (in < 0 || out < 0) rc = -1;
        while (rc == 0 && (n = read(in, buf, sizeof(buf))) > 0)
            if (write(out, buf, (size_t)n) != n) rc = -1;
        if (rc == 0 && n < 0) rc = -1;
        if (out >= 0 && (fsync(out) != 0 || close(out) != 0)) rc = -1;
        if (in >= 0) close(in);
    }
    closedir(d);
    return rc;
}

/* The newest complete checkpoint on any disk, into path; 0 if none. */
static int newest_ckpt(const char *const *disks, int ndisks, char *path,
                       size_t cap)
{
    char best[32] = "";
    int i, found = 0;
    for (i = 0; i < ndisks; i++) {
        char base[4200], cur[4400];
        char **names;
        size_t n, j;
        snprintf(base, sizeof(base), "%s/.coffer/meta-backup", disks[i]);
        if (list_ckpts(base, &names, &n) != 0) continue;
        for (j = n; j-- > 0;) {
            snprintf(cur, sizeof(cur), "%s/%s/CURRENT", base, names[j]);
            if (access(cur, R_OK) != 0) continue;
            if (strcmp(names[j], best) > 0) {
                snprintf(best, sizeof(best), "%s", names[j]);
                found = snprintf(path, cap, "%s/%s", base, names[j]) <
                        (int)cap;
            }
            break;
        }
        free_names(names, n);
    }
    return found;
}

struct found {                /* a data object met in the shard scan */
    char id[EC_VERSION_ID_MAX + 1];
    int64_t mtime_ms;
    void *record;             /* owned copy, or NULL */
    size_t record_len;
};

struct rscan {
    struct heal_idset ids;    /* data ids the checkpoint names */
    unsigned char *present;   /* per ids entry: a valid shard was seen */
    struct found *f;          /* data ids the checkpoint lacks */
    size_t nf, capf;
    size_t *slot;             /* open-addressing index into f: i + 1, 0
                                 empty; hcap slots, a power of two */
    size_t hcap;
    int oom;
};

static uint64_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

/* The found entry for id, added if new; NULL on ENOMEM. */
static struct found *found_get(struct rscan *rs, const char *id,
                               int64_t mtime_ms)
{
    size_t h, i;
    if (2 * (rs->nf + 1) > rs->hcap) {
        size_t nc = rs->hcap ? rs->hcap * 2 : 1024, j;
        size_t *ns = calloc(nc, sizeof(*ns));
        if (ns == NULL) return NULL;
        for (j = 0; j < rs->nf; j++) {
            h = id_hash(rs->f[j].id) & (nc - 1);
            while (ns[h]) h = (h + 1) & (nc - 1);
            ns[h] = j + 1;
        }
        free(rs->slot);
        rs->slot = ns;
        rs->hcap = nc;
    }
    h = id_hash(id) & (rs->hcap - 1);
    while ((i = rs->slot[h]) != 0) {
        if (strcmp(rs->f[i - 1].id, id) == 0) return &rs->f[i - 1];
        h = (h + 1) & (rs->hcap - 1);
    }
    if (rs->nf == rs->capf) {
        size_t nc = rs->capf ? rs->capf * 2 : 256;
        struct found *nf = realloc(rs->f, nc * sizeof(*nf));
        if (nf == NULL) return NULL;
        rs->f = nf;
        rs->capf = nc;
    }
    i = rs->nf++;
    memset(&rs->f[i], 0, sizeof(rs->f[i]));
    snprintf(rs->f[i].id, sizeof(rs->f[i].id), "%s", id);
    rs->f[i].mtime_ms = mtime_ms;
    rs->slot[h] = i + 1;
    return &rs->f[i];
}

static int rscan_cb(const struct ec_shard_info *si, void *arg)
{
    struct rscan *rs = arg;
    struct found *f;
    ssize_t at;
    if (!si->valid) return 0;
    at = heal_idset_find(&rs->ids, si->version_id);
    if (at >= 0) {
        rs->present[at] = 1;
        return 0;
    }
    f = found_get(rs, si->version_id, si->mtime_ms);
    if (f == NULL) {
        rs->oom = 1;
        return 1;
    }
    if (si->record && f->record == NULL) {
        f->record = malloc(si->record_len);
        if (f->record == NULL) {
            rs->oom = 1;
            return 1;
        }
        memcpy(f->record, si->record, si->record_len);
        f->record_len = si->record_len;
    }
    return 0;
}

static int cmp_found(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    if (x->mtime_ms != y->mtime_ms) return x->mtime_ms < y->mtime_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

struct drop {
    char bucket[META_BUCKET_NAME_MAX + 1];
    char *key;
    size_t key_len;
    char vid[META_VERSION_ID_MAX + 1];
};

struct check {
    struct rscan *rs;
    struct heal_rebuild_stats *out;
    int64_t now_ms;
    struct drop *d;
    size_t nd, capd;
    int missing, oom;
};

static int check_data(const char *id, uint64_t size, void *arg)
{
    struct check *c = arg;
    ssize_t at = heal_idset_find(&c->rs->ids, id);
    if (at < 0 || !c->rs->present[at]) c->missing = 1;
    return 0;
}

static int check_version(const char *bucket, const struct meta_version *v,
                         void *arg)
{
    struct check *c = arg;
    struct drop *d;
    c->out->from_checkpoint++;
    if (v->delete_marker) return 0;
    c->missing = 0;
    heal_version_data(v, check_data, c);
    if (!c->missing) return 0;
    if (v->legal_hold || (v->lock_mode && v->retain_until_ms > c->now_ms)) {
        c->out->kept_missing++;
        cf_log(CF_LOG_ERR, "rebuild: %s/%.*s version %s is locked but its "
               "data is missing: kept", bucket, (int)v->key_len, v->key,
               v->version_id);
        return 0;
    }
    if (c->nd == c->capd) {
        size_t nc = c->capd ? c->capd * 2 : 64;
        struct drop *nd = realloc(c->d, nc * sizeof(*nd));
        if (nd == NULL) {
            c->oom = 1;
            return 1;
        }
        c->d = nd;
        c->capd = nc;
    }
    d = &c->d[c->nd];
    snprintf(d->bucket, sizeof(d->bucket), "%s", bucket);
    snprintf(d->vid, sizeof(d->vid), "%s", v->version_id);
    d->key = malloc(v->key_len + 1);
    if (d->key == NULL) {
        c->oom = 1;
        return 1;
    }
    memcpy(d->key, v->key, v->key_len + 1);
    d->key_len = v->key_len;
    c->nd++;
    return 0;
}

/* Creates the bucket a restored version names if the catalog lacks it. */
static enum meta_status ensure_bucket(struct meta_db *db, const char *name,
                                      const struct meta_version *v)
{
    struct meta_bucket b;
    enum meta_status st = meta_bucket_get(db, name, &b);
    if (st != META_ENOTFOUND) return st;
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "%s", name);
    b.created_ms = v->mtime_ms;
    b.versioning = strcmp(v->version_id, "null") != 0
                       ? META_VERSIONING_ENABLED
                       : META_VERSIONING_OFF;
    b.lock_enabled = v->lock_mode != 0 || v->legal_hold;
    if (b.lock_enabled) b.versioning = META_VERSIONING_ENABLED;
    cf_log(CF_LOG_NOTICE, "rebuild: recreating bucket %s (created after the "
           "checkpoint; owner unknown: admins only until changed)", name);
    st = meta_bucket_create(db, &b, NULL);
    return st == META_EEXIST ? META_OK : st;
}

enum heal_status heal_rebuild(const char *meta_dir, struct ec_set *set,
                              const char *const *disks, int ndisks,
                              int64_t now_ms, struct heal_rebuild_stats *out)
{
    struct meta_db *db = NULL;
    struct rscan rs;
    struct check ck;
    enum heal_status hs = HEAL_OK;
    struct stat st;
    size_t i;

    memset(out, 0, sizeof(*out));
    memset(&rs, 0, sizeof(rs));
    memset(&ck, 0, sizeof(ck));
    if (stat(meta_dir, &st) == 0 || errno != ENOENT) {
        cf_log(CF_LOG_ERR, "rebuild: %s exists: move it away first (a "
               "rebuild never writes over a catalog)", meta_dir);
        return HEAL_EINVAL;
    }
    if (cf_mkdir_p(meta_dir) != 0) {
        cf_log(CF_LOG_ERR, "rebuild: cannot create %s", meta_dir);
        return HEAL_EIO;
    }
    if (newest_ckpt(disks, ndisks, out->checkpoint,
                    sizeof(out->checkpoint))) {
        cf_log(CF_LOG_NOTICE, "rebuild: starting from checkpoint %s",
               out->checkpoint);
        if (copy_ckpt(out->checkpoint, meta_dir) != 0) {
            cf_log(CF_LOG_ERR, "rebuild: cannot copy %s", out->checkpoint);
            return HEAL_EIO;
        }
    } else {
        cf_log(CF_LOG_WARN, "rebuild: no checkpoint found: rebuilding from "
               "shard records alone");
    }
    if (meta_open(meta_dir, &db) != META_OK) return HEAL_EIO;
    {
        /* the checkpoint's compliance clock, if behind: a version counts
         * as locked by the earlier of the two times (never unlock early) */
        int64_t clk = 0;
        if (meta_clock_get(db, &clk) == META_OK && clk > 0 && clk < now_ms)
            now_ms = clk;
    }
    if (heal_idset_load(db, &rs.ids) != 0) {
        hs = HEAL_EIO;
        goto out;
    }
    rs.present = calloc(rs.ids.n + 1, 1);
    if (rs.present == NULL) {
        hs = HEAL_ENOMEM;
        goto out;
    }
    ec_scan(set, rscan_cb, &rs);
    if (rs.oom) {
        hs = HEAL_ENOMEM;
        goto out;
    }
    /* checkpoint versions whose data is gone */
    ck.rs = &rs;
    ck.out = out;
    ck.now_ms = now_ms;
    if (meta_version_foreach(db, NULL, check_version, &ck) != META_OK ||
        ck.oom) {
        hs = ck.oom ? HEAL_ENOMEM : HEAL_EIO;
        goto out;
    }
    for (i = 0; i < ck.nd; i++) {
        if (meta_object_delete(db, ck.d[i].bucket, ck.d[i].key,
                               ck.d[i].key_len, ck.d[i].vid,
                               NULL) == META_OK)
            out->dropped++;
    }
    /* versions written after the checkpoint, oldest first */
    free(rs.slot); /* the index dies with the order */
    rs.slot = NULL;
    qsort(rs.f, rs.nf, sizeof(*rs.f), cmp_found);
    for (i = 0; i < rs.nf; i++) {
        char bucket[META_BUCKET_NAME_MAX + 1];
        struct meta_version v, old, replaced;
        enum meta_status mst;
        if (rs.f[i].record == NULL) {
            out->no_record++;
            continue;
        }
        if (meta_version_from_record(rs.f[i].record, rs.f[i].record_len,
                                     bucket, &v) != META_OK) {
            cf_log(CF_LOG_WARN, "rebuild: data %s: unreadable record",
                   rs.f[i].id);
            out->no_record++;
            continue;
        }
        /* a packed version: its record names the id it was written
         * under; the catalog needs the locator it was found at */
        if (ec_data_id_packed(rs.f[i].id)) {
            size_t bl = ec_data_id_base_len(rs.f[i].id);
            const char *want = v.data_id[0] ? v.data_id : v.version_id;
            if (strlen(want) == bl &&
                memcmp(want, rs.f[i].id, bl) == 0)
                snprintf(v.data_id, sizeof(v.data_id), "%s", rs.f[i].id);
        }
        /* a part of a multipart object whose record came earlier, or the
         * same version already back: nothing to add */
        mst = meta_object_get(db, bucket, v.key, v.key_len, v.version_id,
                              &old);
        if (mst == META_OK) {
            meta_version_cleanup(&old);
            meta_version_cleanup(&v);
            continue;
        }
        memset(&replaced, 0, sizeof(replaced));
        mst = ensure_bucket(db, bucket, &v);
        if (mst == META_OK) mst = meta_object_put(db, bucket, &v, &replaced);
        if (mst == META_OK) {
            out->restored++;
        } else {
            cf_log(CF_LOG_ERR, "rebuild: %s/%.*s version %s: %s", bucket,
                   (int)v.key_len, v.key, v.version_id, meta_strerror(mst));
            hs = HEAL_EDAMAGED;
        }
        meta_version_cleanup(&replaced);
        meta_version_cleanup(&v);
    }
out:
    for (i = 0; i < rs.nf; i++) free(rs.f[i].record);
    free(rs.f);
    free(rs.slot);
    free(rs.present);
    heal_idset_free(&rs.ids);
    for (i = 0; i < ck.nd; i++) free(ck.d[i].key);
    free(ck.d);
    meta_close(db);
    return hs;
}
