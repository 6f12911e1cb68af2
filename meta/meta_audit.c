/* meta_audit.c: the hash-chained audit log in the catalog.
 *
 * Entry n holds SHA-256(prev | seq | time | event) where prev is entry
 * n-1's hash. The head (last seq and hash) is cached in memory and
 * advanced only after the batch carrying the entry was written; the audit
 * lock is held in between, so two commits can never interleave entries. */
#include "meta_int.h"
#include "cf.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void meta_audit_hash(const struct meta_audit_entry *e, unsigned char out[32])
{
    unsigned char b[16];
    unsigned int n;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int i;

    for (i = 0; i < 8; i++) b[i] = (unsigned char)(e->seq >> (8 * i));
    for (i = 0; i < 8; i++)
        b[8 + i] = (unsigned char)((uint64_t)e->time_ms >> (8 * i));
    cf_check(md != NULL);
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, e->prev, 32);
    EVP_DigestUpdate(md, b, 16);
    EVP_DigestUpdate(md, e->event, strlen(e->event));
    EVP_DigestFinal_ex(md, out, &n);
    EVP_MD_CTX_free(md);
}

static void akey(char out[19], uint64_t seq)
{
    snprintf(out, 19, "A/%016llx", (unsigned long long)seq);
}

static int decode(const char *v, size_t vl, struct meta_audit_entry *e)
{
    struct meta_rd r = { (const unsigned char *)v,
                         (const unsigned char *)v + vl, 0 };
    memset(e, 0, sizeof(*e));
    if (meta_rd_u8(&r) != 1) return -1;
    e->seq = meta_rd_u64(&r);
    e->time_ms = (int64_t)meta_rd_u64(&r);
    if (r.bad || r.end - r.p < 32) return -1;
    memcpy(e->prev, r.p, 32);
    r.p += 32;
    e->event = meta_rd_str(&r, NULL);
    if (r.bad || r.end - r.p != 32) {
        free(e->event);
        e->event = NULL;
        return -1;
    }
    memcpy(e->hash, r.p, 32);
    return 0;
}

/* Reads the last entry into the cached head. audit_lock held. */
static enum meta_status load_head(struct meta_db *m)
{
    rocksdb_iterator_t *it;
    enum meta_status st = META_OK;

    if (m->audit_loaded) return META_OK;
    it = rocksdb_create_iterator(m->db, m->ropts);
    rocksdb_iter_seek_for_prev(it, "A/\xff", 3);
    if (rocksdb_iter_valid(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl > 2 && memcmp(k, "A/", 2) == 0) {
            struct meta_audit_entry e;
            const char *v = rocksdb_iter_value(it, &vl);
            if (decode(v, vl, &e) != 0) {
                cf_log(CF_LOG_ERR, "meta: the last audit entry is corrupt");
                st = META_ECORRUPT;
            } else {
                m->audit_seq = e.seq;
                memcpy(m->audit_head, e.hash, 32);
                free(e.event);
            }
        }
    }
    rocksdb_iter_destroy(it);
    if (st == META_OK) m->audit_loaded = 1;
    return st;
}

enum meta_status meta_audit_begin(struct meta_db *m, rocksdb_writebatch_t *wb,
                                  int64_t time_ms, const char *event,
                                  struct meta_audit_pending *p)
{
    struct meta_audit_entry e;
    struct meta_buf v = { 0 };
    char k[19];
    enum meta_status st;

    pthread_mutex_lock(&m->audit_lock);
    st = load_head(m);
    if (st != META_OK) {
        pthread_mutex_unlock(&m->audit_lock);
        return st;
    }
    e.seq = m->audit_seq + 1;
    e.time_ms = time_ms;
    memcpy(e.prev, m->audit_head, 32);
    e.event = (char *)event;
    meta_audit_hash(&e, e.hash);
    meta_buf_u8(&v, 1);
    meta_buf_u64(&v, e.seq);
    meta_buf_u64(&v, (uint64_t)e.time_ms);
    meta_buf_put(&v, e.prev, 32);
    meta_buf_str(&v, event, strlen(event));
    meta_buf_put(&v, e.hash, 32);
    if (v.oom) {
        meta_buf_free(&v);
        pthread_mutex_unlock(&m->audit_lock);
        return META_ENOMEM;
    }
    akey(k, e.seq);
    rocksdb_writebatch_put(wb, k, 18, v.p, v.len);
    meta_buf_free(&v);
    p->seq = e.seq;
    memcpy(p->hash, e.hash, 32);
    return META_OK;
}

void meta_audit_end(struct meta_db *m, const struct meta_audit_pending *p,
                    int committed)
{
    if (committed) {
        m->audit_seq = p->seq;
        memcpy(m->audit_head, p->hash, 32);
    }
    pthread_mutex_unlock(&m->audit_lock);
}

enum meta_status meta_audit_log(struct meta_db *m, int64_t time_ms,
                                const char *event)
{
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    struct meta_audit_pending p;
    enum meta_status st;
    char *err = NULL;

    st = meta_audit_begin(m, wb, time_ms, event, &p);
    if (st == META_OK) {
        rocksdb_write(m->db, m->wsync, wb, &err);
        st = meta_err(err, "audit log");
        meta_audit_end(m, &p, st == META_OK);
    }
    rocksdb_writebatch_destroy(wb);
    return st;
}

enum meta_status meta_audit_foreach(struct meta_db *m,
                                    int (*fn)(const struct meta_audit_entry *e,
                                              void *arg),
                                    void *arg)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->db, m->ropts);
    enum meta_status st = META_OK;

    for (rocksdb_iter_seek(it, "A/", 2); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl), *v;
        struct meta_audit_entry e;
        int stop;
        if (kl < 2 || memcmp(k, "A/", 2) != 0) break;
        v = rocksdb_iter_value(it, &vl);
        if (decode(v, vl, &e) != 0) {
            st = META_ECORRUPT;
            break;
        }
        stop = fn(&e, arg);
        free(e.event);
        if (stop) break;
    }
    rocksdb_iter_destroy(it);
    return st;
}
