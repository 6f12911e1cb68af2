/* ec_pack.c: pack segments for small objects: packed locators, allocating
 * entries in a set's current segment, the group fdatasync of a batch of
 * appends, and dead lists. Formats: ec_int.h ("Pack entry").
 *
 * Invariants:
 * - An offset range of a segment is handed out once (pack_tail only grows
 *   under pack_mu, and a segment id is never reused: created O_EXCL on
 *   every disk, above every id found at start), so two writers never
 *   write the same bytes and a locator names one write forever.
 * - ec_pack_sync() returns only after an fdatasync of every disk's copy
 *   of the segment that started after the caller's appends completed
 *   (ticket taken after the appends, batch snapshot taken after the
 *   ticket). A copy whose sync failed is reported for the rest of the
 *   segment's life (conservative: its pages may have been dropped).
 * - A segment's fds stay open while anyone holds a reference, so a file
 *   descriptor number is never written after it was closed. */
#include "ec_int.h"
#include "cf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int hexdig(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int hexnum(const char *p, int n, uint64_t *out)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < n; i++) {
        int d = hexdig(p[i]);
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int ec_loc_parse(const char *id, char *base, size_t cap, uint32_t *seg,
                 uint64_t *off, uint64_t *len)
{
    const char *plus = strchr(id, '+');
    uint64_t sg, o, l;
    size_t bl;
    if (plus == NULL || strlen(plus + 1) != EC_LOC_HEX) return 0;
    bl = (size_t)(plus - id);
    if (bl == 0 || bl >= cap || hexnum(plus + 1, 8, &sg) ||
        hexnum(plus + 9, 10, &o) || hexnum(plus + 19, 6, &l))
        return 0;
    memcpy(base, id, bl);
    base[bl] = '\0';
    if (!ec_valid_id(base)) return 0;
    *seg = (uint32_t)sg;
    *off = o;
    *len = l;
    return 1;
}

int ec_data_id_packed(const char *id)
{
    char b[EC_VERSION_ID_MAX];
    uint32_t sg;
    uint64_t o, l;
    return ec_loc_parse(id, b, sizeof(b), &sg, &o, &l);
}

size_t ec_data_id_base_len(const char *id)
{
    return strcspn(id, "+");
}

void ec_seg_path(const struct ec_set *s, int disk, uint32_t seg, char *out,
                 size_t cap)
{
    snprintf(out, cap, "%s/pack/%08x", s->disks[disk], seg);
}

/* 1 and *id if name is a segment's ("8 hex digits"). */
static int seg_name(const char *name, uint32_t *id)
{
    uint64_t v;
    if (strlen(name) != 8 || hexnum(name, 8, &v) != 0) return 0;
    *id = (uint32_t)v;
    return 1;
}

int ec_pack_init(struct ec_set *s)
{
    int d;
    pthread_mutex_init(&s->pack_mu, NULL);
    pthread_cond_init(&s->pack_cv, NULL);
    s->pack_next_id = 1;
    for (d = 0; d < s->n; d++) {
        char p[4200];
        DIR *dir;
        struct dirent *e;
        snprintf(p, sizeof(p), "%s/pack", s->disks[d]);
        if (s->pack_threshold > 0 && cf_mkdir_p(p) != 0) {
            ec_log_errno("mkdir", p, errno);
            return -1;
        }
        dir = opendir(p);
        if (dir == NULL) continue;
        while ((e = readdir(dir)) != NULL) {
            uint32_t id;
            if (seg_name(e->d_name, &id) && id >= s->pack_next_id)
                s->pack_next_id = id + 1;
        }
        closedir(dir);
    }
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void seg_free(struct ec_seg *g)
{
    int d;
    for (d = 0; d < EC_MAX_DISKS; d++)
        if (g->fd[d] >= 0) close(g->fd[d]);
    free(g);
}

void ec_pack_cleanup(struct ec_set *s)
{
    if (s->pack_cur && --s->pack_cur->refs == 0) seg_free(s->pack_cur);
    s->pack_cur = NULL;
    pthread_mutex_destroy(&s->pack_mu);
    pthread_cond_destroy(&s->pack_cv);
}

/* A new segment on every disk (called with pack_mu held: once per
 * EC_PACK_SEG_MAX bytes). A disk where it cannot be created gets fd -1:
 * its shards of this segment are lost (the write quorum decides). The
 * names are made durable before any entry is handed out. */
static struct ec_seg *seg_new(struct ec_set *s)
{
    struct ec_seg *g = calloc(1, sizeof(*g));
    int d, tries, ok = 0;
    if (g == NULL) return NULL;
    for (d = 0; d < EC_MAX_DISKS; d++) g->fd[d] = -1;
    for (tries = 0; tries < 1000; tries++) {
        int clash = 0;
        g->id = s->pack_next_id++;
        for (d = 0; d < s->n; d++) {
            char p[4300];
            ec_seg_path(s, d, g->id, p, sizeof(p));
            g->fd[d] = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (g->fd[d] < 0 && errno == EEXIST) {
                clash = 1;
                break;
            }
            if (g->fd[d] < 0) {
                g->err[d] = errno;
                ec_log_errno("create", p, errno);
            }
        }
        if (!clash) break;
        /* another process made this id: never share a segment */
        for (d = 0; d < s->n; d++) {
            if (g->fd[d] >= 0) {
                char p[4300];
                ec_seg_path(s, d, g->id, p, sizeof(p));
                close(g->fd[d]);
                unlink(p);
            }
            g->fd[d] = -1;
        }
    }
    for (d = 0; d < s->n; d++) {
        char p[4200];
        if (g->fd[d] < 0) continue;
        snprintf(p, sizeof(p), "%s/pack", s->disks[d]);
        if (ec_fsync_dir(p) != 0) {
            g->err[d] = errno;
            ec_log_errno("fsync", p, errno);
            close(g->fd[d]);
            g->fd[d] = -1;
            continue;
        }
        ok++;
    }
    if (ok == 0)
        cf_log(CF_LOG_ERR, "ec: no disk could hold pack segment %08x",
               g->id);
    g->missing = s->n - ok;
    g->born_ms = mono_ms();
    g->refs = 1; /* the set's */
    cf_log(CF_LOG_INFO, "ec: pack segment %08x started on %d of %d disks",
           g->id, ok, s->n);
    return g;
}

struct ec_seg *ec_pack_alloc(struct ec_set *s, uint64_t len, uint64_t *off)
{
    struct ec_seg *g;
    pthread_mutex_lock(&s->pack_mu);
    if (s->pack_cur == NULL || s->pack_cur->bad != 0 ||
        s->pack_tail + len > s->pack_seg_max ||
        (s->pack_cur->missing &&
         mono_ms() - s->pack_cur->born_ms >= EC_PACK_RETRY_MS)) {
        /* full, or a disk's copy failed since it started: a fresh segment
         * gets every disk that works again */
        struct ec_seg *n = seg_new(s);
        if (n == NULL) {
            pthread_mutex_unlock(&s->pack_mu);
            return NULL;
        }
        if (s->pack_cur && --s->pack_cur->refs == 0) seg_free(s->pack_cur);
        s->pack_cur = n;
        s->pack_tail = 0;
    }
    g = s->pack_cur;
    *off = s->pack_tail;
    s->pack_tail += len;
    g->refs++;
    pthread_mutex_unlock(&s->pack_mu);
    return g;
}

void ec_pack_release(struct ec_set *s, struct ec_seg *g)
{
    int last;
    if (g == NULL) return;
    pthread_mutex_lock(&s->pack_mu);
    last = --g->refs == 0;
    pthread_mutex_unlock(&s->pack_mu);
    if (last) seg_free(g);
}

void ec_pack_disk_failed(struct ec_set *s, struct ec_seg *g, int d)
{
    pthread_mutex_lock(&s->pack_mu);
    g->bad |= 1u << d;
    pthread_mutex_unlock(&s->pack_mu);
}

uint32_t ec_pack_sync(struct ec_set *s, struct ec_seg *g)
{
    uint64_t t;
    uint32_t bad = 0;
    int d;
    pthread_mutex_lock(&s->pack_mu);
    t = ++s->pack_requested;
    if (!g->dirty) {
        g->dirty = 1;
        g->refs++; /* the batch's */
        g->next_dirty = s->pack_dirty;
        s->pack_dirty = g;
    }
    while (s->pack_done < t) {
        if (!s->pack_running) {
            /* lead a batch: it covers every ticket taken so far, whose
             * appends all completed before their tickets */
            uint64_t to = s->pack_requested;
            struct ec_seg *list = s->pack_dirty, *x, *nx;
            int list_synced = 0;
            s->pack_dirty = NULL;
            for (x = list; x; x = x->next_dirty) {
                x->dirty = 0;
                x->next_batch = x->next_dirty;
            }
            s->pack_running = 1;
            pthread_mutex_unlock(&s->pack_mu);
            if (s->nfs < s->n) {
                /* several disks share a filesystem (the default layout
                 * has one): one syncfs() per filesystem covers every
                 * copy on it, where N fdatasyncs would each flush the
                 * device (measured: 2.4 times fewer small PUTs/s) */
                uint32_t failed = 0;
                int f;
                for (f = 0; f < s->nfs; f++) {
                    if (syncfs(s->fs_fds[f]) == 0) continue;
                    ec_log_errno("syncfs", s->fs_path[f], errno);
                    for (d = 0; d < s->n; d++)
                        if (s->disk_fs[d] == f) failed |= 1u << d;
                }
                if (failed) {
                    pthread_mutex_lock(&s->pack_mu);
                    for (x = list; x; x = x->next_batch) x->bad |= failed;
                    pthread_mutex_unlock(&s->pack_mu);
                }
                list_synced = 1;
            }
            for (x = list; x && !list_synced; x = x->next_batch) {
                uint32_t failed = 0;
                for (d = 0; d < s->n; d++) {
                    char p[4300];
                    if (x->fd[d] < 0) continue;
                    if (fdatasync(x->fd[d]) == 0) continue;
                    ec_seg_path(s, d, x->id, p, sizeof(p));
                    ec_log_errno("fdatasync", p, errno);
                    failed |= 1u << d;
                }
                if (failed) {
                    pthread_mutex_lock(&s->pack_mu);
                    x->bad |= failed;
                    pthread_mutex_unlock(&s->pack_mu);
                }
            }
            pthread_mutex_lock(&s->pack_mu);
            for (x = list; x; x = nx) {
                nx = x->next_batch;
                if (--x->refs == 0) seg_free(x);
            }
            s->pack_done = to;
            s->pack_running = 0;
            pthread_cond_broadcast(&s->pack_cv);
        } else {
            pthread_cond_wait(&s->pack_cv, &s->pack_mu);
        }
    }
    bad = g->bad;
    for (d = 0; d < s->n; d++)
        if (g->fd[d] < 0) bad |= 1u << d;
    pthread_mutex_unlock(&s->pack_mu);
    return bad;
}

void ec_pack_dead_add(struct ec_set *s, const char *id, int only)
{
    char base[EC_VERSION_ID_MAX];
    uint32_t seg;
    uint64_t off, len;
    size_t n = strlen(id);
    int d;
    if (!ec_loc_parse(id, base, sizeof(base), &seg, &off, &len)) return;
    for (d = 0; d < s->n; d++) {
        char p[4300], line[EC_VERSION_ID_MAX + 2];
        int fd;
        if (only >= 0 && d != only) continue;
        snprintf(p, sizeof(p), "%s/pack/%08x.dead", s->disks[d], seg);
        memcpy(line, id, n);
        line[n] = '\n';
        fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno != ENOENT) ec_log_errno("open", p, errno);
            continue;
        }
        if (write(fd, line, n + 1) != (ssize_t)(n + 1))
            ec_log_errno("write", p, errno);
        if (close(fd) != 0) ec_log_errno("close", p, errno);
    }
}

void ec_pack_mark_dead(struct ec_set *set, const struct ec_shard_info *si)
{
    struct ec_set *s;
    if (!si->packed || (s = ec_pick(set, si->version_id)) == NULL) return;
    ec_pack_dead_add(s, si->version_id, si->disk - s->disk_base);
}

int ec_pack_locator(struct ec_set *set, const char *id, int *set_index,
                    uint32_t *seg, uint64_t *bytes)
{
    char base[EC_VERSION_ID_MAX];
    uint64_t off, len;
    struct ec_set *s;
    if (!ec_loc_parse(id, base, sizeof(base), seg, &off, &len)) return 0;
    if ((s = ec_pick(set, base)) == NULL) return 0;
    *set_index = s->set_index;
    *bytes = (len + EC_PACK_ALIGN - 1) / EC_PACK_ALIGN * EC_PACK_ALIGN;
    return 1;
}

struct seg_row {
    uint32_t id;
    uint64_t bytes;
};

static int cmp_row(const void *a, const void *b)
{
    const struct seg_row *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

enum ec_status ec_pack_list(struct ec_set *set,
                            int (*fn)(const struct ec_seg_info *si, void *arg),
                            void *arg)
{
    int i, d, stop = 0;
    if (set->nsub) {
        for (i = 0; i < set->nsub && !stop; i++) {
            enum ec_status st = ec_pack_list(set->sub[i], fn, arg);
            if (st != EC_OK) return st;
        }
        return EC_OK;
    }
    {
        struct seg_row *rows = NULL;
        size_t n = 0, cap = 0, j;
        for (d = 0; d < set->n; d++) {
            char dir[4200];
            DIR *dh;
            struct dirent *e;
            snprintf(dir, sizeof(dir), "%s/pack", set->disks[d]);
            if ((dh = opendir(dir)) == NULL) continue;
            while ((e = readdir(dh)) != NULL) {
                char p[4500];
                struct stat st;
                uint32_t id;
                if (!seg_name(e->d_name, &id)) continue;
                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                if (stat(p, &st) != 0) continue;
                for (j = 0; j < n && rows[j].id != id; j++)
                    ;
                if (j == n) {
                    if (n == cap) {
                        size_t nc = cap ? cap * 2 : 64;
                        struct seg_row *x = realloc(rows, nc * sizeof(*x));
                        if (x == NULL) {
                            closedir(dh);
                            free(rows);
                            return EC_ENOMEM;
                        }
                        rows = x;
                        cap = nc;
                    }
                    rows[n].id = id;
                    rows[n++].bytes = 0;
                }
                if ((uint64_t)st.st_size > rows[j].bytes)
                    rows[j].bytes = (uint64_t)st.st_size;
            }
            closedir(dh);
        }
        if (n) qsort(rows, n, sizeof(*rows), cmp_row);
        for (j = 0; j < n && !stop; j++) {
            struct ec_seg_info si;
            si.set = set->set_index;
            si.id = rows[j].id;
            si.bytes = rows[j].bytes;
            pthread_mutex_lock(&set->pack_mu);
            si.current = set->pack_cur && set->pack_cur->id == si.id;
            pthread_mutex_unlock(&set->pack_mu);
            stop = fn(&si, arg);
        }
        free(rows);
    }
    return EC_OK;
}

enum ec_status ec_pack_drop_segment(struct ec_set *set, int set_index,
                                    uint32_t seg)
{
    struct ec_set *s = set->nsub ? (set_index >= 0 && set_index < set->nsub
                                         ? set->sub[set_index]
                                         : NULL)
                                 : set;
    int d, cur;
    enum ec_status st = EC_OK;
    if (s == NULL) return EC_EINVAL;
    pthread_mutex_lock(&s->pack_mu);
    cur = s->pack_cur && s->pack_cur->id == seg;
    pthread_mutex_unlock(&s->pack_mu);
    if (cur) return EC_EINVAL;
    for (d = 0; d < s->n; d++) {
        char p[4300], dir[4200];
        ec_seg_path(s, d, seg, p, sizeof(p));
        if (unlink(p) != 0 && errno != ENOENT) {
            ec_log_errno("unlink", p, errno);
            st = EC_EIO;
        }
        snprintf(p, sizeof(p), "%s/pack/%08x.dead", s->disks[d], seg);
        if (unlink(p) != 0 && errno != ENOENT) ec_log_errno("unlink", p, errno);
        snprintf(dir, sizeof(dir), "%s/pack", s->disks[d]);
        if (ec_fsync_dir(dir) != 0 && errno != ENOENT) {
            ec_log_errno("fsync", dir, errno);
            st = EC_EIO;
        }
    }
    return st;
}
