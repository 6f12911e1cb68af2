/* ol_export.c: exports the hash-chained audit log, on a schedule, as
 * JSON-lines objects into a system bucket that is itself WORM (Object Lock
 * with a COMPLIANCE default retention), written through the internal
 * store (ol_store_put), so the evidence cannot be deleted or shortened by
 * anyone, root included.
 *
 * Progress, in the catalog (meta counters):
 *   audit_export_done     last entry whose export object is committed
 *   audit_export_pending  last entry of the object being written
 * A pass takes the range done+1..; before writing it records pending = its
 * last seq; after the object commits it records done = pending. After a
 * crash in between (pending > done), the next pass rebuilds exactly the
 * same range (the content is a pure function of the immutable entries),
 * and writes it only if no version of that key already holds content with
 * the same SHA-256. So every entry is exported once, none is skipped, and
 * an object placed under that name by a client is never mistaken for an
 * export.
 *
 * Each export writes one audit entry of its own (put-locked of the export
 * object). A pass whose new entries are only such entries writes nothing:
 * they ride along with the next real events, so an idle server does not
 * write an object every interval forever. */
#include "ol.h"
#include "cf.h"
#include "meta.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define K_DONE "audit_export_done"
#define K_PENDING "audit_export_pending"

/* ---- one pass ---- */

struct collect {
    uint64_t first, last_max; /* wanted range */
    uint64_t n, last;         /* entries taken, seq of the last */
    int all_self;             /* every entry was written by the exporter */
    int broken;               /* a seq gap: the chain is damaged */
    FILE *f;                  /* the object's bytes (open_memstream) */
    int oom;
};

static int by_exporter(const char *event)
{
    json_t *o = json_loads(event, 0, NULL);
    const char *by = o ? json_string_value(json_object_get(o, "by")) : NULL;
    int self = by && strcmp(by, OL_EXPORT_BY) == 0;
    json_decref(o);
    return self;
}

static int collect_one(const struct meta_audit_entry *e, void *arg)
{
    struct collect *c = arg;
    char prev[65], hash[65], t[CF_ISO8601_LEN], *line;
    json_t *o;

    if (e->seq > c->last_max) return 1;
    if (e->seq != c->first + c->n) {
        c->broken = 1;
        return 1;
    }
    cf_hex_encode(e->prev, 32, prev);
    cf_hex_encode(e->hash, 32, hash);
    cf_fmt_iso8601_ms(e->time_ms, t);
    o = json_object();
    if (o == NULL) {
        c->oom = 1;
        return 1;
    }
    json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
    json_object_set_new(o, "time_ms", json_integer((json_int_t)e->time_ms));
    json_object_set_new(o, "time", json_string(t));
    json_object_set_new(o, "prev", json_string(prev));
    json_object_set_new(o, "hash", json_string(hash));
    /* the exact text the hash covers (not re-serialised) */
    json_object_set_new(o, "event", json_string(e->event));
    line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (line == NULL) {
        c->oom = 1;
        return 1;
    }
    fputs(line, c->f);
    fputc('\n', c->f);
    free(line);
    if (!by_exporter(e->event)) c->all_self = 0;
    c->n++;
    c->last = e->seq;
    return c->n >= OL_EXPORT_MAX_ENTRIES;
}

/* 1 if some version of key already holds content with this SHA-256. */
static int already_there(struct meta_db *db, const char *bucket,
                         const char *key, const char *sha)
{
    struct meta_list_params p;
    struct meta_versions_result r;
    size_t i;
    int found = 0;

    memset(&p, 0, sizeof(p));
    memset(&r, 0, sizeof(r));
    p.prefix = key;
    p.prefix_len = strlen(key);
    p.delimiter = "";
    p.start_after = "";
    p.max_keys = 1000;
    if (meta_list_versions(db, bucket, &p, NULL, &r) != META_OK) return 0;
    for (i = 0; i < r.n && !found; i++) {
        struct meta_version v;
        if (r.entries[i].delete_marker || r.entries[i].key_len != p.prefix_len)
            continue;
        if (meta_object_get(db, bucket, key, p.prefix_len,
                            r.entries[i].version_id, &v) != META_OK)
            continue;
        found = strcmp(v.sha256, sha) == 0;
        meta_version_cleanup(&v);
    }
    meta_versions_result_cleanup(&r);
    return found;
}

/* Exports one object's worth. *more: entries may remain. */
static enum ol_status export_one(struct meta_db *db, struct ec_set *set,
                                 const struct ol_export_config *cfg, int *wrote,
                                 int *more)
{
    struct collect c;
    struct ol_store_obj o;
    uint64_t done, pending;
    char *buf = NULL, key[64], sha[65];
    unsigned char dig[32];
    unsigned int dl;
    size_t len = 0;
    int recovery;
    enum ol_status st = OL_EIO;
    const char *bucket = cfg->bucket;

    *wrote = *more = 0;
    if (meta_counter_get(db, K_DONE, &done) != META_OK ||
        meta_counter_get(db, K_PENDING, &pending) != META_OK)
        return OL_EIO;
    recovery = pending > done;
    memset(&c, 0, sizeof(c));
    c.first = done + 1;
    c.last_max = recovery ? pending : UINT64_MAX;
    c.all_self = 1;
    c.f = open_memstream(&buf, &len);
    if (c.f == NULL) return OL_ENOMEM;
    if (meta_audit_foreach_from(db, c.first, collect_one, &c) != META_OK) {
        fclose(c.f);
        goto out;
    }
    if (fclose(c.f) != 0 || c.oom) {
        st = OL_ENOMEM;
        goto out;
    }
    if (c.broken || (recovery && c.last != pending)) {
        cf_log(CF_LOG_ERR,
               "ol: audit export: the audit log has a gap after "
               "entry %llu: not exported (run coffer audit verify)",
               (unsigned long long)(c.first + c.n - 1));
        goto out;
    }
    if (c.n == 0 || (!recovery && c.all_self)) {
        st = OL_OK; /* nothing worth an object */
        goto out;
    }
    snprintf(key, sizeof(key), "audit/%020llu-%020llu.jsonl",
             (unsigned long long)c.first, (unsigned long long)c.last);
    if (!recovery && meta_counter_set(db, K_PENDING, c.last) != META_OK)
        goto out;
    EVP_Digest(buf, len, dig, &dl, EVP_sha256(), NULL);
    cf_hex_encode(dig, 32, sha);
    if (!(recovery && already_there(db, bucket, key, sha))) {
        memset(&o, 0, sizeof(o));
        o.bucket = bucket;
        o.key = key;
        o.key_len = strlen(key);
        o.data = buf;
        o.len = len;
        o.content_type = "application/x-ndjson";
        o.by = OL_EXPORT_BY;
        /* never weaker than configured, whatever the bucket default */
        o.lock_mode = OL_MODE_COMPLIANCE;
        o.retain_until_ms = ol_add_years(ol_clock_now(), cfg->retain_years);
        st = ol_store_put(db, set, &o, NULL);
        if (st != OL_OK) goto out;
        *wrote = 1;
    }
    if (meta_counter_set(db, K_DONE, c.last) != META_OK) {
        st = OL_EIO;
        goto out;
    }
    cf_log(CF_LOG_INFO, "audit export: %s/%s (%llu entries)", bucket, key,
           (unsigned long long)c.n);
    /* after a recovered range, go on with what arrived since */
    *more = recovery || c.n >= OL_EXPORT_MAX_ENTRIES;
    st = OL_OK;
out:
    free(buf);
    return st;
}

enum ol_status ol_export_run(struct meta_db *db, struct ec_set *set,
                             const struct ol_export_config *cfg,
                             unsigned *objects)
{
    enum ol_status st;
    int wrote, more;

    if (objects) *objects = 0;
    do {
        st = export_one(db, set, cfg, &wrote, &more);
        if (st == OL_OK && wrote && objects) (*objects)++;
    } while (st == OL_OK && more);
    return st;
}

/* ---- the bucket ---- */

enum ol_status ol_export_prepare(struct meta_db *db,
                                 const struct ol_export_config *cfg)
{
    struct meta_bucket b;
    enum meta_status st = meta_bucket_get(db, cfg->bucket, &b);
    char ev[512];

    if (st == META_OK) {
        /* Invariant: export objects are only ever written under a
         * COMPLIANCE default, which nobody can shorten or remove. */
        if (!b.lock_enabled || b.lock_mode != OL_MODE_COMPLIANCE) {
            cf_log(CF_LOG_ERR,
                   "audit export: bucket %s exists without "
                   "Object Lock COMPLIANCE default retention; refusing to "
                   "export the audit log into it (set audit.export_bucket "
                   "to another name)",
                   cfg->bucket);
            return OL_EINVAL;
        }
        return OL_OK;
    }
    if (st != META_ENOTFOUND) return OL_EIO;
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "%s", cfg->bucket);
    snprintf(b.owner, sizeof(b.owner), "%s", cfg->owner ? cfg->owner : "");
    b.created_ms = ol_clock_wall_ms();
    b.versioning = META_VERSIONING_ENABLED;
    b.lock_enabled = 1;
    b.lock_mode = OL_MODE_COMPLIANCE;
    b.lock_years = cfg->retain_years;
    st = meta_bucket_create(db, &b, NULL);
    if (st == META_EEXIST) return ol_export_prepare(db, cfg);
    if (st != META_OK) {
        cf_log(CF_LOG_ERR, "audit export: cannot create bucket %s: %s",
               cfg->bucket, meta_strerror(st));
        return OL_EIO;
    }
    snprintf(ev, sizeof(ev),
             "{\"bucket\":\"%s\",\"by\":\"%s\",\"detail\":"
             "\"audit export bucket created: Object Lock, COMPLIANCE %u "
             "years\",\"event\":\"lock-config\",\"request\":\"\"}",
             cfg->bucket, OL_EXPORT_BY, (unsigned)cfg->retain_years);
    if (meta_audit_log(db, ol_clock_now(), ev) != META_OK)
        cf_log(CF_LOG_ERR, "audit export: cannot audit the creation of %s",
               cfg->bucket);
    cf_log(CF_LOG_NOTICE,
           "audit export: created bucket %s (Object Lock, "
           "COMPLIANCE %u years)",
           cfg->bucket, (unsigned)cfg->retain_years);
    return OL_OK;
}

/* ---- the thread ---- */

struct ol_exporter {
    struct meta_db *db; /* borrowed */
    struct ec_set *set; /* borrowed */
    char bucket[64];
    struct ol_export_config cfg; /* cfg.bucket points at bucket */
    int64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t lock; /* guards stop */
    pthread_cond_t cond;  /* CLOCK_MONOTONIC */
    int stop;
};

static void pass(struct ol_exporter *x)
{
    unsigned n = 0;
    enum ol_status st = ol_export_run(x->db, x->set, &x->cfg, &n);
    if (st != OL_OK)
        cf_log(CF_LOG_ERR,
               "audit export into %s failed: %s (retried at the "
               "next interval)",
               x->bucket, ol_strerror(st));
}

static void *export_main(void *arg)
{
    struct ol_exporter *x = arg;

    pass(x);
    pthread_mutex_lock(&x->lock);
    while (!x->stop) {
        struct timespec ts;
        ol_clock_deadline(&ts, x->interval_ms);
        while (!x->stop && pthread_cond_timedwait(&x->cond, &x->lock, &ts) == 0)
            ;
        if (x->stop) break;
        pthread_mutex_unlock(&x->lock);
        pass(x);
        pthread_mutex_lock(&x->lock);
    }
    pthread_mutex_unlock(&x->lock);
    pass(x); /* what happened since the last pass, before shutdown */
    return NULL;
}

enum ol_status ol_export_start(struct meta_db *db, struct ec_set *set,
                               const struct ol_export_config *cfg,
                               struct ol_exporter **out)
{
    struct ol_exporter *x;
    pthread_condattr_t ca;
    enum ol_status st;

    *out = NULL;
    if (cfg->interval_ms <= 0) return OL_OK;
    st = ol_export_prepare(db, cfg);
    if (st != OL_OK) return st;
    x = calloc(1, sizeof(*x));
    if (x == NULL) return OL_ENOMEM;
    x->db = db;
    x->set = set;
    snprintf(x->bucket, sizeof(x->bucket), "%s", cfg->bucket);
    x->cfg = *cfg;
    x->cfg.bucket = x->bucket;
    x->cfg.owner = NULL; /* not kept: only prepare uses it */
    x->interval_ms = cfg->interval_ms;
    pthread_mutex_init(&x->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&x->thread, NULL, export_main, x) != 0) {
        pthread_cond_destroy(&x->cond);
        pthread_mutex_destroy(&x->lock);
        free(x);
        return OL_ENOMEM;
    }
    *out = x;
    return OL_OK;
}

void ol_export_stop(struct ol_exporter *x)
{
    if (x == NULL) return;
    pthread_mutex_lock(&x->lock);
    x->stop = 1;
    pthread_cond_signal(&x->cond);
    pthread_mutex_unlock(&x->lock);
    pthread_join(x->thread, NULL);
    pthread_cond_destroy(&x->cond);
    pthread_mutex_destroy(&x->lock);
    free(x);
}
