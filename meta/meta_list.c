/* meta_list.c: ListObjects (current versions, from C/) and
 * ListObjectVersions (every version, from V/).
 *
 * Both are one bounded range scan in plain byte order of the object key
 * (S3's UTF-8 binary order): the iterator's upper bound is the successor
 * of "<tag>/<bucket>\0<prefix>", so every key it yields starts with the
 * prefix. With a delimiter, a common prefix is the listing prefix plus the
 * key up to and including the first delimiter after the prefix; it is
 * reported once, counts one toward max_keys, and the scan then SEEKS past
 * every key under it (to the successor of the common prefix) instead of
 * stepping over them.
 *
 * start_after is exclusive. When it is itself a common prefix (the last
 * entry of the previous page), nothing under it is listed again; when it
 * is a key inside a common prefix, that prefix is reported again if a
 * listable key after start_after lies under it.
 *
 * ListObjects skips keys whose current version is a delete marker, and a
 * common prefix under which every key's current version is a delete
 * marker (S3 shows neither). */
#include "meta_int.h"
#include "cf.h"

#include <stdlib.h>
#include <string.h>

void meta_list_result_cleanup(struct meta_list_result *r)
{
    size_t i;
    if (r == NULL) return;
    for (i = 0; i < r->nentries; i++) free(r->entries[i].key);
    free(r->entries);
    free(r->next_marker);
    memset(r, 0, sizeof(*r));
}

void meta_versions_result_cleanup(struct meta_versions_result *r)
{
    size_t i;
    if (r == NULL) return;
    for (i = 0; i < r->n; i++) free(r->entries[i].key);
    free(r->entries);
    free(r->next_key);
    memset(r, 0, sizeof(*r));
}

/* Grows *arr (of *cap elements of size sz) to hold n + 1. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    void *np;
    size_t nc;
    if (n < *cap) return 0;
    nc = *cap ? *cap * 2 : 64;
    np = realloc(*arr, nc * sz);
    if (np == NULL) return -1;
    *arr = np;
    *cap = nc;
    return 0;
}

static char *dup_key(const char *k, size_t kl)
{
    char *d = malloc(kl + 1);
    if (d == NULL) return NULL;
    memcpy(d, k, kl);
    d[kl] = '\0';
    return d;
}

/* The length of key's common prefix (listing prefix + up to and including
 * the first delimiter after it), or 0 when the key has none. */
static size_t common_prefix(const struct meta_list_params *p, const char *key,
                            size_t klen)
{
    const char *d;
    if (p->delimiter_len == 0 || klen < p->prefix_len + p->delimiter_len)
        return 0;
    d = memmem(key + p->prefix_len, klen - p->prefix_len, p->delimiter,
               p->delimiter_len);
    return d ? (size_t)(d - key) + p->delimiter_len : 0;
}

/* Seeks it to the first key after everything that starts with
 * base + cp. cp may point into the iterator's current key (it is copied
 * into scratch before the iterator moves); scratch is reused. */
static enum meta_status seek_past(rocksdb_iterator_t *it,
                                  struct meta_buf *scratch,
                                  const char *base, size_t blen,
                                  const char *cp, size_t cpl)
{
    size_t n;
    scratch->len = 0;
    meta_buf_put(scratch, base, blen);
    meta_buf_put(scratch, cp, cpl);
    if (scratch->oom) return META_ENOMEM;
    /* never 0: base starts with a letter */
    n = meta_successor(scratch->p, scratch->len);
    rocksdb_iter_seek(it, scratch->p, n);
    return META_OK;
}

/* base + max(prefix, start_after) [+ tail]: where a listing starts. */
static void start_key(struct meta_buf *b, const struct meta_buf *base,
                      const struct meta_list_params *p, const char *tail,
                      size_t tail_len)
{
    meta_buf_put(b, base->p, base->len);
    if (p->start_after_len &&
        meta_memcmp(p->start_after, p->start_after_len, p->prefix,
                    p->prefix_len) >= 0) {
        meta_buf_put(b, p->start_after, p->start_after_len);
        meta_buf_put(b, tail, tail_len);
    } else {
        meta_buf_put(b, p->prefix, p->prefix_len);
    }
}

static int is_start_after(const struct meta_list_params *p, const char *k,
                          size_t kl)
{
    return p->start_after_len == kl && memcmp(p->start_after, k, kl) == 0;
}

/* ---- ListObjects ---- */

static int add_entry(struct meta_list_result *r, size_t *cap, const char *k,
                     size_t kl, const struct meta_cur *c)
{
    struct meta_list_entry *e;
    if (grow((void **)&r->entries, cap, r->nentries, sizeof(*e)) != 0)
        return -1;
    e = &r->entries[r->nentries];
    memset(e, 0, sizeof(*e));
    e->key = dup_key(k, kl);
    if (e->key == NULL) return -1;
    e->key_len = kl;
    e->is_prefix = c == NULL;
    if (c) {
        e->size = c->size;
        e->mtime_ms = c->mtime_ms;
        memcpy(e->etag, c->etag, sizeof(e->etag));
        memcpy(e->version_id, c->id, sizeof(e->version_id));
    }
    r->nentries++;
    return 0;
}

/* Decodes the C rec under the iterator; -1 (logged) if corrupt. */
static int iter_cur(rocksdb_iterator_t *it, const char *bucket,
                    struct meta_cur *c)
{
    size_t vl;
    const char *v = rocksdb_iter_value(it, &vl);
    if (meta_cur_decode(v, vl, c) == 0) return 0;
    cf_log(CF_LOG_ERR, "meta: corrupt current-version record in %s", bucket);
    return -1;
}

/* The iterator is on a key under common prefix cp whose current version
 * is a delete marker: steps on until a listable key under cp (*visible =
 * 1) or the end of cp (*visible = 0). */
static enum meta_status cp_visible(rocksdb_iterator_t *it, const char *bucket,
                                   size_t blen, const char *cp, size_t cpl,
                                   int *visible)
{
    struct meta_cur c;
    *visible = 0;
    for (rocksdb_iter_next(it); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl - blen < cpl || memcmp(k + blen, cp, cpl) != 0) break;
        if (iter_cur(it, bucket, &c) != 0) return META_ECORRUPT;
        if (!c.dm) {
            *visible = 1;
            break;
        }
    }
    return META_OK;
}

enum meta_status meta_list_objects(struct meta_db *m, const char *bucket,
                                   const struct meta_list_params *p,
                                   struct meta_list_result *out)
{
    struct meta_buf base = { 0 }, range = { 0 }, seek = { 0 }, cpb = { 0 },
                    sk = { 0 };
    struct meta_iter mi = { 0 };
    rocksdb_iterator_t *it;
    enum meta_status st, ist;
    size_t cap = 0, blen;
    size_t maxk = p->max_keys > 1000 ? 1000 : p->max_keys;

    memset(out, 0, sizeof(*out));
    if (maxk == 0 || !meta_bucket_name_ok(bucket)) return META_OK;
    meta_key_base(&base, 'C', bucket);
    blen = base.len;
    meta_buf_put(&range, base.p, base.len);
    meta_buf_put(&range, p->prefix, p->prefix_len);
    start_key(&seek, &base, p, "", 0);
    if (base.oom || range.oom || seek.oom) {
        st = META_ENOMEM;
        goto out;
    }
    st = meta_iter_open(m, &mi, NULL, range.p, range.len);
    if (st != META_OK) goto out;
    it = mi.it;
    rocksdb_iter_seek(it, seek.p, seek.len);
    while (rocksdb_iter_valid(it)) {
        size_t kl, klen, cpl;
        const char *k = rocksdb_iter_key(it, &kl), *key;
        struct meta_cur c;

        /* the bound keeps us in "C/<bucket>\0<prefix>..." */
        key = k + blen;
        klen = kl - blen;
        if (p->start_after_len &&
            meta_memcmp(key, klen, p->start_after, p->start_after_len) <= 0) {
            rocksdb_iter_next(it);
            continue;
        }
        cpl = common_prefix(p, key, klen);
        if (cpl) {
            int visible = 1;
            if (is_start_after(p, key, cpl)) { /* returned last page */
                st = seek_past(it, &sk, base.p, blen, key, cpl);
                if (st != META_OK) break;
                continue;
            }
            /* key is invalidated by moving the iterator: keep cp */
            cpb.len = 0;
            meta_buf_put(&cpb, key, cpl);
            if (cpb.oom) {
                st = META_ENOMEM;
                break;
            }
            if (iter_cur(it, bucket, &c) != 0) {
                st = META_ECORRUPT;
                break;
            }
            if (c.dm) {
                st = cp_visible(it, bucket, blen, cpb.p, cpl, &visible);
                if (st != META_OK) break;
            }
            if (visible) {
                if (out->nentries == maxk) {
                    out->truncated = 1;
                    break;
                }
                if (add_entry(out, &cap, cpb.p, cpl, NULL) != 0) {
                    st = META_ENOMEM;
                    break;
                }
            }
            st = seek_past(it, &sk, base.p, blen, cpb.p, cpl);
            if (st != META_OK) break;
            continue;
        }
        if (iter_cur(it, bucket, &c) != 0) {
            st = META_ECORRUPT;
            break;
        }
        if (!c.dm) {
            if (out->nentries == maxk) {
                out->truncated = 1;
                break;
            }
            if (add_entry(out, &cap, key, klen, &c) != 0) {
                st = META_ENOMEM;
                break;
            }
        }
        rocksdb_iter_next(it);
    }
    ist = meta_iter_err(it, "list objects");
    if (st == META_OK) st = ist;
    if (st == META_OK && out->truncated) {
        /* nentries == maxk > 0 here */
        struct meta_list_entry *last = &out->entries[out->nentries - 1];
        out->next_marker = dup_key(last->key, last->key_len);
        if (out->next_marker == NULL) st = META_ENOMEM;
        else out->next_marker_len = last->key_len;
    }
out:
    meta_iter_close(&mi);
    meta_buf_free(&base);
    meta_buf_free(&range);
    meta_buf_free(&seek);
    meta_buf_free(&cpb);
    meta_buf_free(&sk);
    if (st != META_OK) meta_list_result_cleanup(out);
    return st;
}

/* ---- ListObjectVersions ---- */

static struct meta_version_entry *vent_add(struct meta_versions_result *r,
                                           size_t *cap, const char *k,
                                           size_t kl)
{
    struct meta_version_entry *e;
    if (grow((void **)&r->entries, cap, r->n, sizeof(*e)) != 0) return NULL;
    e = &r->entries[r->n];
    memset(e, 0, sizeof(*e));
    e->key = dup_key(k, kl);
    if (e->key == NULL) return NULL;
    e->key_len = kl;
    r->n++;
    return e;
}

enum meta_status meta_list_versions(struct meta_db *m, const char *bucket,
                                    const struct meta_list_params *p,
                                    const char *vid_marker,
                                    struct meta_versions_result *out)
{
    struct meta_buf base = { 0 }, range = { 0 }, seek = { 0 }, sk = { 0 };
    struct meta_iter mi = { 0 };
    const rocksdb_snapshot_t *snap = NULL;
    rocksdb_readoptions_t *ro = NULL;
    rocksdb_iterator_t *it;
    enum meta_status st, ist;
    size_t cap = 0, blen;
    size_t maxk = p->max_keys > 1000 ? 1000 : p->max_keys;
    int has_vm = vid_marker != NULL && *vid_marker != '\0';
    int passed = !has_vm;
    /* the key being walked and its current version id */
    char *last_key = NULL, latest[META_VERSION_ID_MAX + 1] = "";
    size_t last_len = 0;

    memset(out, 0, sizeof(*out));
    if (maxk == 0 || !meta_bucket_name_ok(bucket)) return META_OK;
    meta_key_base(&base, 'V', bucket);
    blen = base.len;
    meta_buf_put(&range, base.p, base.len);
    meta_buf_put(&range, p->prefix, p->prefix_len);
    /* With a version marker start at the marker key's versions; without,
     * after all of them ("<key>\x01" is past "<key>\0..." and not past any
     * later key). */
    start_key(&seek, &base, p, has_vm ? "" : "\x01", 1);
    if (base.oom || range.oom || seek.oom) {
        st = META_ENOMEM;
        goto out;
    }
    /* One snapshot for the scan and the C/ lookups behind is_latest. A
     * secondary (read-only) instance has none and needs none: its view
     * stays the one caught up at open. */
    snap = m->readonly ? NULL : rocksdb_create_snapshot(m->db);
    ro = rocksdb_readoptions_create();
    if (snap) rocksdb_readoptions_set_snapshot(ro, snap);
    st = meta_iter_open(m, &mi, snap, range.p, range.len);
    if (st != META_OK) goto out;
    it = mi.it;
    rocksdb_iter_seek(it, seek.p, seek.len);
    while (rocksdb_iter_valid(it)) {
        size_t kl, vl, klen, idl, cpl;
        const char *k = rocksdb_iter_key(it, &kl), *key, *nul, *val;
        struct meta_version v;
        struct meta_version_entry *e;
        int cmp;

        key = k + blen;
        nul = memchr(key, '\0', kl - blen);
        if (nul == NULL ||
            kl - blen - (size_t)(nul - key) - 1 <= META_SEQ_HEX ||
            kl - blen - (size_t)(nul - key) - 1 - META_SEQ_HEX >
                META_VERSION_ID_MAX) {
            cf_log(CF_LOG_ERR, "meta: malformed version key in %s", bucket);
            st = META_ECORRUPT;
            break;
        }
        klen = (size_t)(nul - key);
        idl = kl - blen - klen - 1 - META_SEQ_HEX;
        cmp = p->start_after_len ? meta_memcmp(key, klen, p->start_after,
                                               p->start_after_len)
                                 : 1;
        if (cmp < 0 || (cmp == 0 && !has_vm)) {
            rocksdb_iter_next(it);
            continue;
        }
        if (cmp == 0 && !passed) {
            /* versions of the marker key up to the marker itself */
            if (strlen(vid_marker) == idl &&
                memcmp(nul + 1 + META_SEQ_HEX, vid_marker, idl) == 0)
                passed = 1;
            rocksdb_iter_next(it);
            continue;
        }
        cpl = common_prefix(p, key, klen);
        if (cpl) {
            int again = is_start_after(p, key, cpl);
            if (!again) {
                if (out->n == maxk) {
                    out->truncated = 1;
                    break;
                }
                e = vent_add(out, &cap, key, cpl);
                if (e == NULL) {
                    st = META_ENOMEM;
                    break;
                }
                e->is_prefix = 1;
            }
            /* seek_past copies key before the iterator moves */
            st = seek_past(it, &sk, base.p, blen, key, cpl);
            if (st != META_OK) break;
            continue;
        }
        if (out->n == maxk) {
            out->truncated = 1;
            break;
        }
        if (last_key == NULL || last_len != klen ||
            memcmp(last_key, key, klen) != 0) {
            /* a new key: which of its versions is current? */
            struct meta_cur c;
            enum meta_status cs;
            free(last_key);
            last_key = dup_key(key, klen);
            if (last_key == NULL) {
                st = META_ENOMEM;
                break;
            }
            last_len = klen;
            latest[0] = '\0';
            cs = meta_cur_get(m, ro, bucket, key, klen, &c);
            if (cs == META_OK)
                memcpy(latest, c.id, sizeof(latest));
            else if (cs != META_ENOTFOUND) {
                st = cs;
                break;
            }
        }
        val = rocksdb_iter_value(it, &vl);
        st = meta_version_decode(val, vl, &v);
        if (st != META_OK) break;
        e = vent_add(out, &cap, key, klen);
        if (e == NULL) {
            meta_version_cleanup(&v);
            st = META_ENOMEM;
            break;
        }
        memcpy(e->version_id, v.version_id, sizeof(e->version_id));
        e->is_latest = strcmp(latest, v.version_id) == 0;
        e->delete_marker = v.delete_marker;
        e->size = v.size;
        e->mtime_ms = v.mtime_ms;
        memcpy(e->etag, v.etag, sizeof(e->etag));
        meta_version_cleanup(&v);
        rocksdb_iter_next(it);
    }
    ist = meta_iter_err(it, "list versions");
    if (st == META_OK) st = ist;
    if (st == META_OK && out->truncated) {
        struct meta_version_entry *last = &out->entries[out->n - 1];
        out->next_key = dup_key(last->key, last->key_len);
        if (out->next_key == NULL) st = META_ENOMEM;
        else {
            out->next_key_len = last->key_len;
            /* "" after a common prefix: vent_add zeroed it */
            memcpy(out->next_version_id, last->version_id,
                   sizeof(out->next_version_id));
        }
    }
out:
    meta_iter_close(&mi);
    if (ro) rocksdb_readoptions_destroy(ro);
    if (snap) rocksdb_release_snapshot(m->db, snap);
    free(last_key);
    meta_buf_free(&base);
    meta_buf_free(&range);
    meta_buf_free(&seek);
    meta_buf_free(&sk);
    if (st != META_OK) meta_versions_result_cleanup(out);
    return st;
}
