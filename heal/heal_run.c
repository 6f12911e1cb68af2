/* heal_run.c: one pass over every data object the catalog names, verifying
 * and rebuilding shards (`coffer heal`, the scrubber); orphan removal. */
#include "heal_int.h"
#include "cf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *heal_strerror(enum heal_status st)
{
    switch (st) {
    case HEAL_OK: return "ok";
    case HEAL_EDAMAGED: return "some data could not be healed";
    case HEAL_EIO: return "catalog or disk error";
    case HEAL_EINVAL: return "invalid argument";
    case HEAL_ENOMEM: return "out of memory";
    }
    return "unknown";
}

/* Calls fn(data_id, size) for the data of v: its own, or each part's.
 * size is what the erasure layer holds (larger than the object when the
 * version is encrypted: meta_data_size). */
int heal_version_data(const struct meta_version *v,
                      int (*fn)(const char *id, uint64_t size, void *arg),
                      void *arg)
{
    size_t i;
    if (v->delete_marker) return 0;
    if (v->nparts == 0)
        return fn(v->data_id[0] ? v->data_id : v->version_id,
                  meta_data_size(v->size, v->stripe_size, v->sse.alg), arg);
    for (i = 0; i < v->nparts; i++)
        if (fn(v->parts[i].data_id,
               meta_data_size(v->parts[i].size, v->stripe_size,
                              v->sse.alg),
               arg))
            return 1;
    return 0;
}

struct pass {
    struct meta_db *db;
    struct ec_set *set;
    const struct heal_opts *o;
    struct heal_stats *st;
    const char *bucket;              /* of the version being visited */
    const struct meta_version *v;
    struct timespec t0;
};

static int count_one(const char *id, uint64_t size, void *arg)
{
    ((struct pass *)arg)->st->objects_total++;
    return 0;
}

static int count_version(const char *bucket, const struct meta_version *v,
                         void *arg)
{
    if (v->nparts && v->data_id[0] && !v->delete_marker)
        count_one(v->data_id, 0, arg);
    return heal_version_data(v, count_one, arg);
}

static int count_part(const char *upload_id, const struct meta_part *p,
                      void *arg)
{
    return count_one(p->data_id, p->size, arg);
}

/* Sleeps as long as needed to keep the read rate under the limit. */
static void throttle(struct pass *ps)
{
    struct timespec now;
    double el, want;
    if (ps->o->rate_mib_s <= 0) return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    el = (double)(now.tv_sec - ps->t0.tv_sec) +
         (double)(now.tv_nsec - ps->t0.tv_nsec) / 1e9;
    want = (double)ps->st->bytes_read / (ps->o->rate_mib_s * 1048576.0);
    if (want > el) {
        double d = want - el;
        struct timespec ts;
        if (d > 5) d = 5;
        ts.tv_sec = (time_t)d;
        ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
        nanosleep(&ts, NULL);
    }
}

static int stopped(const struct pass *ps)
{
    return ps->o->stop && *ps->o->stop;
}

/* Is the version still in the catalog? (a version deleted during the
 * pass has no shards: that is not damage) */
static int still_there(struct pass *ps)
{
    struct meta_version cur;
    enum meta_status mst;
    if (ps->v == NULL) return 1; /* an upload part: assume so */
    mst = meta_object_get(ps->db, ps->bucket, ps->v->key, ps->v->key_len,
                          ps->v->version_id, &cur);
    if (mst == META_OK) meta_version_cleanup(&cur);
    return mst != META_ENOTFOUND;
}

static int heal_one(const char *id, uint64_t size, void *arg)
{
    struct pass *ps = arg;
    struct heal_stats *st = ps->st;
    struct ec_heal_result hr;
    enum ec_status est;

    if (stopped(ps)) return 1;
    est = ec_heal(ps->set, id, size, !ps->o->dry_run, &hr);
    st->objects_checked++;
    st->bytes_read += hr.bytes_read;
    st->bytes_written += hr.bytes_written;
    st->shards_rebuilt += (uint64_t)hr.shards_rebuilt;
    switch (est) {
    case EC_OK:
        if (hr.shards_bad) {
            st->objects_damaged++;
            st->shards_bad += (uint64_t)hr.shards_bad;
        }
        break;
    case EC_ENOTFOUND:
        if (!still_there(ps)) break;
        /* every shard is gone */
        __attribute__((fallthrough));
    case EC_ETOOFEW:
        st->objects_damaged++;
        st->shards_bad += (uint64_t)hr.shards_bad;
        st->unrecoverable++;
        if (ps->v)
            cf_log(CF_LOG_ERR, "heal: %s/%.*s version %s (data %s): "
                   "unrecoverable: %s", ps->bucket, (int)ps->v->key_len,
                   ps->v->key, ps->v->version_id, id, ec_strerror(est));
        else
            cf_log(CF_LOG_ERR, "heal: upload part data %s: unrecoverable: "
                   "%s", id, ec_strerror(est));
        break;
    default:
        st->objects_damaged++;
        st->shards_bad += (uint64_t)hr.shards_bad;
        st->failed++;
        cf_log(CF_LOG_ERR, "heal: data %s: %s", id, ec_strerror(est));
        break;
    }
    if (ps->o->progress) ps->o->progress(st, ps->o->arg);
    throttle(ps);
    return stopped(ps);
}

static int heal_version(const char *bucket, const struct meta_version *v,
                        void *arg)
{
    struct pass *ps = arg;
    int r;
    ps->bucket = bucket;
    ps->v = v;
    r = heal_version_data(v, heal_one, ps);
    /* a multipart version's record object (heal_int.h) */
    if (r == 0 && v->nparts && v->data_id[0] && !v->delete_marker)
        r = heal_one(v->data_id, 0, ps);
    ps->v = NULL;
    return r;
}

static int heal_part(const char *upload_id, const struct meta_part *p,
                     void *arg)
{
    struct pass *ps = arg;
    return heal_one(p->data_id,
                    meta_data_size(p->size,
                                   (uint32_t)ec_set_stripe_size(ps->set),
                                   p->enc),
                    arg);
}

enum heal_status heal_all(struct meta_db *db, struct ec_set *set,
                          const struct heal_opts *o, struct heal_stats *out)
{
    struct pass ps;
    enum meta_status mst;

    memset(out, 0, sizeof(*out));
    memset(&ps, 0, sizeof(ps));
    ps.db = db;
    ps.set = set;
    ps.o = o;
    ps.st = out;
    clock_gettime(CLOCK_MONOTONIC, &ps.t0);
    mst = meta_version_foreach(db, o->bucket, count_version, &ps);
    if (mst == META_OK && o->bucket == NULL)
        mst = meta_upload_part_foreach(db, count_part, &ps);
    if (mst != META_OK) return HEAL_EIO;
    mst = meta_version_foreach(db, o->bucket, heal_version, &ps);
    if (mst == META_OK && o->bucket == NULL && !stopped(&ps))
        mst = meta_upload_part_foreach(db, heal_part, &ps);
    if (o->progress) o->progress(out, o->arg);
    if (mst != META_OK) return HEAL_EIO;
    return out->unrecoverable || out->failed ? HEAL_EDAMAGED : HEAL_OK;
}

/* ---- orphans ---- */

struct idset {
    char **ids;
    size_t n, cap;
    int oom;
};

static int idset_add(const char *id, uint64_t size, void *arg)
{
    struct idset *s = arg;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        char **p = realloc(s->ids, nc * sizeof(*p));
        if (p == NULL) {
            s->oom = 1;
            return 1;
        }
        s->ids = p;
        s->cap = nc;
    }
    if ((s->ids[s->n] = strdup(id)) == NULL) {
        s->oom = 1;
        return 1;
    }
    s->n++;
    return 0;
}

static int idset_version(const char *bucket, const struct meta_version *v,
                         void *arg)
{
    if (heal_version_data(v, idset_add, arg)) return 1;
    /* a multipart version's record object (see heal_int.h) */
    if (v->nparts && v->data_id[0]) return idset_add(v->data_id, 0, arg);
    return 0;
}

static int idset_part(const char *upload_id, const struct meta_part *p,
                      void *arg)
{
    return idset_add(p->data_id, p->size, arg);
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int heal_idset_load(struct meta_db *db, struct heal_idset *out)
{
    struct idset s = { 0 };
    enum meta_status mst = meta_version_foreach(db, NULL, idset_version, &s);
    if (mst == META_OK && !s.oom)
        mst = meta_upload_part_foreach(db, idset_part, &s);
    if (mst != META_OK || s.oom) {
        struct heal_idset t = { s.ids, s.n };
        heal_idset_free(&t);
        return -1;
    }
    qsort(s.ids, s.n, sizeof(char *), cmpstr);
    out->ids = s.ids;
    out->n = s.n;
    return 0;
}

ssize_t heal_idset_find(const struct heal_idset *s, const char *id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->ids[mid], id);
        if (c == 0) return (ssize_t)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

void heal_idset_free(struct heal_idset *s)
{
    size_t i;
    for (i = 0; i < s->n; i++) free(s->ids[i]);
    free(s->ids);
    s->ids = NULL;
    s->n = 0;
}

/* "<id>.<shard>" from a shard file path; 0 if the name is not one. */
int heal_shard_name(const char *path, char *id, size_t cap)
{
    const char *base = strrchr(path, '/'), *dot;
    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    if (dot == NULL || dot == base || (size_t)(dot - base) >= cap ||
        dot[1] == '\0' || strspn(dot + 1, "0123456789") != strlen(dot + 1))
        return 0;
    memcpy(id, base, (size_t)(dot - base));
    id[dot - base] = '\0';
    return 1;
}

struct orphans {
    struct ec_set *set;
    struct heal_idset ids;
    int64_t before_ms;
    uint64_t removed;
    uint64_t dead; /* packed entries put on dead lists */
};

static int orphan_cb(const struct ec_shard_info *si, void *arg)
{
    struct orphans *o = arg;
    char id[EC_VERSION_ID_MAX + 1];
    if (si->packed) {
        /* Appended but never committed (a crash, or a failed catalog
         * write): dead space, never visible. Judged by the version's
         * own time, as the segment's mtime moves with every append. */
        if (!si->valid || heal_idset_find(&o->ids, si->version_id) >= 0 ||
            si->mtime_ms >= o->before_ms)
            return 0;
        ec_pack_mark_dead(o->set, si);
        o->dead++;
        return 0;
    }
    if (!heal_shard_name(si->path, id, sizeof(id))) return 0;
    if (heal_idset_find(&o->ids, id) >= 0) return 0;
    if (si->file_mtime_ms >= o->before_ms) return 0;
    if (unlink(si->path) == 0) {
        o->removed++;
        cf_log(CF_LOG_INFO, "heal: removed orphan shard %s", si->path);
    } else {
        char e[128];
        cf_log(CF_LOG_WARN, "heal: cannot remove orphan %s: %s", si->path,
               cf_strerror(errno, e, sizeof(e)));
    }
    return 0;
}

enum heal_status heal_remove_orphans(struct meta_db *db, struct ec_set *set,
                                     int64_t before_ms, uint64_t *removed)
{
    struct orphans o;
    memset(&o, 0, sizeof(o));
    o.set = set;
    o.before_ms = before_ms;
    *removed = 0;
    if (heal_idset_load(db, &o.ids) != 0) return HEAL_EIO;
    ec_scan(set, orphan_cb, &o);
    heal_idset_free(&o.ids);
    *removed = o.removed;
    if (o.removed)
        cf_log(CF_LOG_NOTICE, "heal: removed %llu orphan shard file(s)",
               (unsigned long long)o.removed);
    if (o.dead)
        cf_log(CF_LOG_NOTICE, "heal: %llu uncommitted pack entr%s marked "
               "dead", (unsigned long long)o.dead, o.dead == 1 ? "y" : "ies");
    return HEAL_OK;
}
