/* heal_pack.c: compaction of pack segments (`coffer pack compact`): the
 * live entries of a mostly-dead segment are copied, verified, into a new
 * segment, the catalog is switched to the copies, and only then is the old
 * segment removed.
 *
 * Invariants:
 * - Liveness comes from the catalog alone (every data id a version, a
 *   multipart record object or an upload part names): dead lists only
 *   make the space figures.
 * - A segment is removed only after a fresh walk of the catalog finds no
 *   data id in it. A locked version's entry is moved like any other and
 *   its record is never removed here, so no version is ever dropped: if an
 *   entry cannot be copied (unreadable, more than M shards bad) the
 *   segment stays.
 * - Every step can be cut short and the run repeated: a copy whose catalog
 *   switch did not happen is an orphan (dead space: its entry goes on the
 *   dead list, and the server's start-up scan marks any that remain); a
 *   segment whose entries all moved is removed by the next run.
 * - Upload parts in progress are not moved (their records are replaced by
 *   UploadPart, not updated): a segment holding one is left for later. */
#include "heal_int.h"
#include "cf.h"
#include "ec.h"
#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One packed data id the catalog names. */
struct pref {
    char loc[META_VERSION_ID_MAX + 1];
    uint64_t size;                   /* bytes the erasure layer holds */
    char bucket[META_BUCKET_NAME_MAX + 1];
    char *key;                       /* owned; NULL for an upload part */
    size_t key_len;
    char vid[META_VERSION_ID_MAX + 1];
    int set;
    uint32_t seg;
    uint64_t bytes;                  /* occupied in the segment */
};

struct prefs {
    struct ec_set *ec;
    struct pref *r;
    size_t n, cap;
    int oom;
    /* while walking one version */
    const char *bucket;
    const struct meta_version *v;
};

static int add_ref(struct prefs *p, const char *id, uint64_t size)
{
    struct pref *x;
    int set;
    uint32_t seg;
    uint64_t bytes;
    if (!ec_pack_locator(p->ec, id, &set, &seg, &bytes)) return 0;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 256;
        struct pref *nr = realloc(p->r, nc * sizeof(*nr));
        if (nr == NULL) {
            p->oom = 1;
            return 1;
        }
        p->r = nr;
        p->cap = nc;
    }
    x = &p->r[p->n];
    memset(x, 0, sizeof(*x));
    snprintf(x->loc, sizeof(x->loc), "%s", id);
    x->size = size;
    x->set = set;
    x->seg = seg;
    x->bytes = bytes;
    if (p->v) {
        snprintf(x->bucket, sizeof(x->bucket), "%s", p->bucket);
        snprintf(x->vid, sizeof(x->vid), "%s", p->v->version_id);
        x->key = malloc(p->v->key_len + 1);
        if (x->key == NULL) {
            p->oom = 1;
            return 1;
        }
        memcpy(x->key, p->v->key, p->v->key_len);
        x->key[p->v->key_len] = '\0';
        x->key_len = p->v->key_len;
    }
    p->n++;
    return 0;
}

static int ref_data(const char *id, uint64_t size, void *arg)
{
    return add_ref(arg, id, size);
}

static int ref_version(const char *bucket, const struct meta_version *v,
                       void *arg)
{
    struct prefs *p = arg;
    int rc;
    p->bucket = bucket;
    p->v = v;
    rc = heal_version_data(v, ref_data, p);
    /* a multipart version's record object */
    if (rc == 0 && v->nparts && v->data_id[0] && !v->delete_marker)
        rc = add_ref(p, v->data_id, 0);
    p->v = NULL;
    return rc;
}

static int ref_part(const char *upload_id, const struct meta_part *pt,
                    void *arg)
{
    return add_ref(arg, pt->data_id, pt->size);
}

static void refs_free(struct prefs *p)
{
    size_t i;
    for (i = 0; i < p->n; i++) free(p->r[i].key);
    free(p->r);
    p->r = NULL;
    p->n = p->cap = 0;
}

static int refs_load(struct meta_db *db, struct ec_set *ec, struct prefs *p)
{
    memset(p, 0, sizeof(*p));
    p->ec = ec;
    if (meta_version_foreach(db, NULL, ref_version, p) != META_OK ||
        p->oom || meta_upload_part_foreach(db, ref_part, p) != META_OK ||
        p->oom) {
        refs_free(p);
        return -1;
    }
    return 0;
}

/* One segment and what the catalog keeps in it. */
struct pseg {
    struct ec_seg_info si;
    uint64_t live;     /* bytes of entries the catalog names */
    uint64_t nlive;
    int upload;        /* holds an upload part in progress */
    int candidate, moved_all;
};

struct psegs {
    struct pseg *s;
    size_t n, cap;
    int oom;
};

static int seg_add(const struct ec_seg_info *si, void *arg)
{
    struct psegs *ps = arg;
    if (ps->n == ps->cap) {
        size_t nc = ps->cap ? ps->cap * 2 : 64;
        struct pseg *x = realloc(ps->s, nc * sizeof(*x));
        if (x == NULL) {
            ps->oom = 1;
            return 1;
        }
        ps->s = x;
        ps->cap = nc;
    }
    memset(&ps->s[ps->n], 0, sizeof(ps->s[0]));
    ps->s[ps->n++].si = *si;
    return 0;
}

static struct pseg *seg_find(struct psegs *ps, int set, uint32_t id)
{
    size_t i;
    for (i = 0; i < ps->n; i++)
        if (ps->s[i].si.set == set && ps->s[i].si.id == id)
            return &ps->s[i];
    return NULL;
}

struct swap {
    const char *from, *to;
    int done;
};

/* Points the version's data id (or the part's) from the old locator to
 * the verified copy; refuses (the version changed) if none names it. */
static int swap_id(struct meta_version *v, void *arg)
{
    struct swap *sw = arg;
    size_t i;
    if (strcmp(v->data_id, sw->from) == 0) {
        snprintf(v->data_id, sizeof(v->data_id), "%s", sw->to);
        sw->done = 1;
    }
    for (i = 0; i < v->nparts; i++) {
        if (strcmp(v->parts[i].data_id, sw->from) == 0) {
            snprintf(v->parts[i].data_id, sizeof(v->parts[i].data_id), "%s",
                     sw->to);
            sw->done = 1;
        }
    }
    return sw->done ? 0 : 1;
}

enum heal_status heal_pack_compact(struct meta_db *db, struct ec_set *set,
                                   int min_dead_pct, int dry_run,
                                   struct heal_pack_stats *out)
{
    struct prefs refs;
    struct psegs segs = { 0 };
    enum heal_status hs = HEAL_OK;
    size_t i, j;

    memset(out, 0, sizeof(*out));
    if (ec_pack_list(set, seg_add, &segs) != EC_OK || segs.oom) {
        free(segs.s);
        return HEAL_ENOMEM;
    }
    if (refs_load(db, set, &refs) != 0) {
        free(segs.s);
        return HEAL_EIO;
    }
    for (i = 0; i < refs.n; i++) {
        struct pseg *g = seg_find(&segs, refs.r[i].set, refs.r[i].seg);
        if (g == NULL) continue; /* data missing: heal's business */
        g->live += refs.r[i].bytes;
        g->nlive++;
        if (refs.r[i].key == NULL) g->upload = 1;
    }
    for (i = 0; i < segs.n; i++) {
        struct pseg *g = &segs.s[i];
        uint64_t dead = g->si.bytes > g->live ? g->si.bytes - g->live : 0;
        out->segments++;
        out->bytes += g->si.bytes;
        out->live_bytes += g->live;
        if (g->si.current || g->si.bytes == 0 ||
            dead * 100 < (uint64_t)min_dead_pct * g->si.bytes)
            continue;
        if (g->upload) {
            out->skipped++;
            cf_log(CF_LOG_NOTICE, "pack: segment %08x holds a part of an "
                   "upload in progress: left for later", g->si.id);
            continue;
        }
        g->candidate = 1;
        out->candidates++;
        out->reclaimable += dead;
    }
    if (dry_run) goto out;
    for (i = 0; i < segs.n; i++) {
        struct pseg *g = &segs.s[i];
        int ok = 1;
        if (!g->candidate) continue;
        for (j = 0; j < refs.n; j++) {
            struct pref *r = &refs.r[j];
            char nloc[EC_VERSION_ID_MAX + 1];
            struct swap sw;
            enum ec_status est;
            enum meta_status mst;
            if (r->set != g->si.set || r->seg != g->si.id) continue;
            est = ec_pack_move(set, r->loc, r->size, nloc, sizeof(nloc));
            if (est != EC_OK) {
                cf_log(CF_LOG_ERR, "pack: %s/%s version %s (%s): cannot be "
                       "copied: %s; segment %08x kept", r->bucket, r->key,
                       r->vid, r->loc, ec_strerror(est), g->si.id);
                ok = 0;
                out->failed++;
                continue;
            }
            sw.from = r->loc;
            sw.to = nloc;
            sw.done = 0;
            mst = meta_object_update(db, r->bucket, r->key, r->key_len,
                                     r->vid, swap_id, &sw);
            if (mst != META_OK) {
                cf_log(CF_LOG_ERR, "pack: %s/%s version %s: catalog not "
                       "switched to %s: %s; segment %08x kept", r->bucket,
                       r->key, r->vid, nloc, meta_strerror(mst), g->si.id);
                ec_remove(set, nloc); /* the copy is dead space */
                ok = 0;
                out->failed++;
                continue;
            }
            out->moved++;
            out->moved_bytes += r->bytes;
        }
        g->moved_all = ok;
    }
    /* Removal: only segments a fresh walk of the catalog finds empty. */
    refs_free(&refs);
    if (refs_load(db, set, &refs) != 0) {
        hs = HEAL_EIO;
        goto out;
    }
    for (i = 0; i < segs.n; i++) {
        struct pseg *g = &segs.s[i];
        int named = 0;
        if (!g->candidate || !g->moved_all) continue;
        for (j = 0; j < refs.n && !named; j++)
            named = refs.r[j].set == g->si.set && refs.r[j].seg == g->si.id;
        if (named) {
            cf_log(CF_LOG_ERR, "pack: segment %08x is still named by the "
                   "catalog (%s): kept", g->si.id, refs.r[j - 1].loc);
            out->failed++;
            continue;
        }
        if (ec_pack_drop_segment(set, g->si.set, g->si.id) != EC_OK) {
            out->failed++;
            continue;
        }
        out->compacted++;
        out->freed_bytes += g->si.bytes;
        cf_log(CF_LOG_NOTICE, "pack: segment %08x compacted (%llu entries "
               "moved)", g->si.id, (unsigned long long)g->nlive);
    }
out:
    if (hs == HEAL_OK && out->failed) hs = HEAL_EDAMAGED;
    refs_free(&refs);
    free(segs.s);
    return hs;
}
