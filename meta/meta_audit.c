/* meta_audit.c: the hash-chained audit log (A/ records) and the group
 * commit of audited changes.
 *
 * Entry n holds SHA-256(prev | seq | time | event), prev being entry n-1's
 * hash, and commits in the same write batch as the change it records.
 *
 * Why a group commit of our own: the chain's order must be its commit
 * order (entry n must never be durable without entry n-1), so entries
 * cannot be handed to RocksDB by concurrent writers, whose relative order
 * in the WAL nobody controls. Holding one lock across each synced write
 * would keep the order but serialise every audited commit on its own
 * fsync — every PUT into a locked bucket is audited. Instead:
 *
 *   - An audited commit takes audit_lock, copies its batch into the OPEN
 *     group's batch, appends its entry (chained on `tail`), and waits.
 *   - If nobody is writing, the first waiter of the open group becomes its
 *     leader: it closes the group, drops the lock, writes the whole group
 *     as ONE synced batch, then publishes the result to every member.
 *   - Commits arriving meanwhile form the next group, which is written as
 *     soon as the previous write returns: one fsync per group.
 *
 * Invariant: groups are written one at a time, in the order their entries
 * were chained, so the durable log is always a prefix of the chain; a
 * group's first entry chains on the durable head (checked before every
 * write). If a write fails, its entries never existed: `tail` rolls back
 * to the durable head and the group already collecting behind it (whose
 * entries chain on the failed ones) fails too. */
#include "meta_int.h"
#include "cf.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One batch of audited commits, written with one fsync. Guarded by
 * audit_lock; freed by the last member to read its result. */
struct meta_agroup {
    rocksdb_writebatch_t *wb;        /* members' changes and entries */
    uint64_t base_seq;               /* chain head the group builds on */
    uint64_t end_seq;                /* seq of its last entry */
    unsigned char end[32];           /* hash of its last entry */
    int members;                     /* callers yet to read st */
    int done;                        /* st is final */
    enum meta_status st;
};

void meta_audit_init(struct meta_db *m)
{
    pthread_mutex_init(&m->audit_lock, NULL);
    pthread_cond_init(&m->audit_cv, NULL);
}

void meta_audit_destroy(struct meta_db *m)
{
    /* no commit can be in flight once meta_close runs */
    cf_check(m->audit_open == NULL && !m->audit_writing);
    pthread_cond_destroy(&m->audit_cv);
    pthread_mutex_destroy(&m->audit_lock);
}

void meta_audit_hash(const struct meta_audit_entry *e, unsigned char out[32])
{
    unsigned char b[16];
    unsigned int n;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int i;

    cf_check(md != NULL);
    for (i = 0; i < 8; i++) b[i] = (unsigned char)(e->seq >> (8 * i));
    for (i = 0; i < 8; i++)
        b[8 + i] = (unsigned char)((uint64_t)e->time_ms >> (8 * i));
    cf_check(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
    cf_check(EVP_DigestUpdate(md, e->prev, 32) == 1);
    cf_check(EVP_DigestUpdate(md, b, 16) == 1);
    cf_check(EVP_DigestUpdate(md, e->event, strlen(e->event)) == 1);
    cf_check(EVP_DigestFinal_ex(md, out, &n) == 1);
    EVP_MD_CTX_free(md);
}

static void akey(char out[19], uint64_t seq)
{
    snprintf(out, 19, "A/%016llx", (unsigned long long)seq);
}

static int decode(const char *v, size_t vl, struct meta_audit_entry *e)
{
    struct meta_rd r;
    meta_rd_init(&r, v, vl);
    memset(e, 0, sizeof(*e));
    if (meta_rd_u8(&r) != META_FORMAT) return -1;
    e->seq = meta_rd_u64(&r);
    e->time_ms = (int64_t)meta_rd_u64(&r);
    if (r.bad || r.end - r.p < 32) return -1;
    memcpy(e->prev, r.p, 32);
    r.p += 32;
    e->event = meta_rd_str(&r, NULL);
    if (r.bad || r.end - r.p < 32) {
        free(e->event);
        e->event = NULL;
        return -1;
    }
    memcpy(e->hash, r.p, 32);
    return 0;
}

/* Reads the last entry into both heads. audit_lock held. */
static enum meta_status load_head(struct meta_db *m)
{
    struct meta_iter mi;
    enum meta_status st;

    st = meta_iter_open(m, &mi, NULL, "A/", 2);
    if (st != META_OK) return st;
    rocksdb_iter_seek_to_last(mi.it); /* the last key below "A0" */
    if (rocksdb_iter_valid(mi.it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(mi.it, &kl);
        if (kl > 2 && memcmp(k, "A/", 2) == 0) {
            struct meta_audit_entry e;
            const char *v = rocksdb_iter_value(mi.it, &vl);
            if (decode(v, vl, &e) != 0) {
                cf_log(CF_LOG_ERR, "meta: the last audit entry is corrupt");
                st = META_ECORRUPT;
            } else {
                m->audit_durable_seq = e.seq;
                memcpy(m->audit_durable, e.hash, 32);
                free(e.event);
            }
        }
    }
    if (st == META_OK) st = meta_iter_err(mi.it, "read audit head");
    meta_iter_close(&mi);
    if (st == META_OK) {
        m->audit_tail_seq = m->audit_durable_seq;
        memcpy(m->audit_tail, m->audit_durable, 32);
        m->audit_loaded = 1;
    }
    return st;
}

/* Copies a caller's batch into its group's batch. */
struct replay {
    rocksdb_writebatch_t *to;
    int n;
};

static void replay_put(void *arg, const char *k, size_t kl, const char *v,
                       size_t vl)
{
    struct replay *r = arg;
    rocksdb_writebatch_put(r->to, k, kl, v, vl);
    r->n++;
}

static void replay_delete(void *arg, const char *k, size_t kl)
{
    struct replay *r = arg;
    rocksdb_writebatch_delete(r->to, k, kl);
    r->n++;
}

/* Encodes the next entry (chained on tail) into v and its key into k.
 * audit_lock held. */
static void encode_entry(struct meta_db *m, int64_t time_ms,
                         const char *event, struct meta_buf *v, char k[19],
                         unsigned char hash[32])
{
    struct meta_audit_entry e;

    e.seq = m->audit_tail_seq + 1;
    e.time_ms = time_ms;
    memcpy(e.prev, m->audit_tail, 32);
    e.event = (char *)event;
    meta_audit_hash(&e, hash);
    meta_buf_u8(v, META_FORMAT);
    meta_buf_u64(v, e.seq);
    meta_buf_u64(v, (uint64_t)e.time_ms);
    meta_buf_put(v, e.prev, 32);
    meta_buf_str(v, event, strlen(event));
    meta_buf_put(v, hash, 32);
    akey(k, e.seq);
}

/* Writes g as its leader. Called and returns with audit_lock held. */
static void lead(struct meta_db *m, struct meta_agroup *g)
{
    enum meta_status st;

    m->audit_open = NULL;
    m->audit_writing = 1;
    /* I4: the group continues exactly the durable chain */
    cf_check(g->base_seq == m->audit_durable_seq);
    pthread_mutex_unlock(&m->audit_lock);
    st = meta_write(m, g->wb, "commit audited batch");
    pthread_mutex_lock(&m->audit_lock);
    m->audit_writing = 0;
    if (st == META_OK) {
        m->audit_durable_seq = g->end_seq;
        memcpy(m->audit_durable, g->end, 32);
    } else {
        /* The entries never existed: roll the chain back, and fail the
         * group that chained on them. */
        m->audit_tail_seq = m->audit_durable_seq;
        memcpy(m->audit_tail, m->audit_durable, 32);
        if (m->audit_open) {
            m->audit_open->st = META_EIO;
            m->audit_open->done = 1;
            m->audit_open = NULL;
        }
    }
    g->st = st;
    g->done = 1;
    pthread_cond_broadcast(&m->audit_cv);
}

enum meta_status meta_audit_commit(struct meta_db *m,
                                   rocksdb_writebatch_t *wb, int64_t time_ms,
                                   const char *event)
{
    struct meta_agroup *g;
    struct meta_buf v = { 0 };
    struct replay r;
    unsigned char hash[32];
    char k[19];
    enum meta_status st = META_OK;

    if (event == NULL) return META_EINVAL;
    if (m->readonly) return META_EIO;
    pthread_mutex_lock(&m->audit_lock);
    if (!m->audit_loaded) {
        /* heads are loaded before the first group exists */
        cf_check(m->audit_open == NULL && !m->audit_writing);
        st = load_head(m);
        if (st != META_OK) goto out_unlock;
    }
    /* Everything that can fail happens before joining a group. */
    encode_entry(m, time_ms, event, &v, k, hash);
    if (v.oom) {
        st = META_ENOMEM;
        goto out_unlock;
    }
    g = m->audit_open;
    if (g == NULL) {
        g = calloc(1, sizeof(*g));
        if (g == NULL) {
            st = META_ENOMEM;
            goto out_unlock;
        }
        g->wb = rocksdb_writebatch_create();
        g->base_seq = m->audit_tail_seq;
        m->audit_open = g;
    }
    g->members++;
    if (wb) {
        r.to = g->wb;
        r.n = 0;
        rocksdb_writebatch_iterate(wb, &r, replay_put, replay_delete);
        /* only puts and deletes are ever batched in meta */
        cf_check(r.n == rocksdb_writebatch_count(wb));
    }
    rocksdb_writebatch_put(g->wb, k, 18, v.p, v.len);
    m->audit_tail_seq++;
    memcpy(m->audit_tail, hash, 32);
    g->end_seq = m->audit_tail_seq;
    memcpy(g->end, hash, 32);
    while (!g->done) {
        if (!m->audit_writing && m->audit_open == g)
            lead(m, g);
        else
            pthread_cond_wait(&m->audit_cv, &m->audit_lock);
    }
    st = g->st;
    if (--g->members == 0) {
        rocksdb_writebatch_destroy(g->wb);
        free(g);
    }
out_unlock:
    pthread_mutex_unlock(&m->audit_lock);
    meta_buf_free(&v);
    return st;
}

enum meta_status meta_audit_log(struct meta_db *m, int64_t time_ms,
                                const char *event)
{
    return meta_audit_commit(m, NULL, time_ms, event);
}

enum meta_status meta_audit_foreach(struct meta_db *m,
                                    int (*fn)(const struct meta_audit_entry *e,
                                              void *arg),
                                    void *arg)
{
    return meta_audit_foreach_from(m, 1, fn, arg);
}

enum meta_status meta_audit_foreach_from(struct meta_db *m, uint64_t from,
                                         int (*fn)(const struct
                                                   meta_audit_entry *e,
                                                   void *arg),
                                         void *arg)
{
    struct meta_iter mi;
    enum meta_status st, ist;
    char k[19];

    akey(k, from);
    st = meta_iter_open(m, &mi, NULL, "A/", 2);
    if (st != META_OK) return st;
    for (rocksdb_iter_seek(mi.it, k, 18); rocksdb_iter_valid(mi.it);
         rocksdb_iter_next(mi.it)) {
        size_t vl;
        const char *v = rocksdb_iter_value(mi.it, &vl);
        struct meta_audit_entry e;
        int stop;
        if (decode(v, vl, &e) != 0) {
            cf_log(CF_LOG_ERR, "meta: audit entry is corrupt");
            st = META_ECORRUPT;
            break;
        }
        stop = fn(&e, arg);
        free(e.event);
        if (stop) break;
    }
    ist = meta_iter_err(mi.it, "read audit log");
    if (st == META_OK) st = ist;
    meta_iter_close(&mi);
    return st;
}
