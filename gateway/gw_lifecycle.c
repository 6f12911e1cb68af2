/* gw_lifecycle.c: S3 lifecycle configuration (Put/Get/
 * DeleteBucketLifecycleConfiguration) and the scanner that applies it.
 *
 * Rules are validated by objlock (ol_lc_check) and stored as canonical
 * XML in the bucket record (META_BATTR_LIFECYCLE). Which version expires
 * when is objlock's decision too (ol_lc_*), judged on the compliance
 * clock, so setting the system date forward expires nothing early.
 *
 * The scanner is one thread. Every lifecycle.interval it walks the
 * buckets that have rules; for each it collects at most LC_BATCH actions
 * from one walk of the catalog, then applies them one by one, each under
 * the catalog's key lock with the condition it was chosen on checked again
 * (the version is still current / still noncurrent), so a write racing
 * with the scanner is never hidden or removed:
 *   - a current version past Expiration: a delete marker in a versioned
 *     bucket (a "null" one when suspended, replacing the null version), a
 *     permanent removal in an unversioned one;
 *   - a noncurrent version (or marker) past NoncurrentVersionExpiration:
 *     removed permanently, only if objlock allows it with no bypass, so a
 *     locked version or one under legal hold is never removed;
 *   - an expired object delete marker (the only version left of its key);
 *   - an incomplete multipart upload past AbortIncompleteMultipartUpload.
 * Permanent removals in Object Lock buckets are written to the audit log
 * ("lifecycle-expire"), after the catalog commit, as refused-delete and
 * bypass entries are. */
#include "gw_int.h"
#include "gw_xml.h"
#include "ec.h"
#include "meta.h"
#include "ol.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LC_BATCH 10000          /* actions collected per walk */
#define LC_UPLOADS_PAGE 1000

/* ---- rendering (the stored and the GET form) ---- */

static void render_filter(struct gw_xbuf *x, const struct ol_lc_rule *r)
{
    size_t conds = (r->prefix != NULL) + r->ntags + (r->size_gt >= 0) +
                   (r->size_lt >= 0), i;

    gw_xbuf_str(x, "<Filter>");
    if (conds > 1) gw_xbuf_str(x, "<And>");
    if (r->prefix) gw_xbuf_elem(x, "Prefix", r->prefix, r->prefix_len);
    for (i = 0; i < r->ntags; i++) {
        gw_xbuf_str(x, "<Tag>");
        gw_xbuf_elem(x, "Key", r->tags[i].key, strlen(r->tags[i].key));
        gw_xbuf_elem(x, "Value", r->tags[i].value, strlen(r->tags[i].value));
        gw_xbuf_str(x, "</Tag>");
    }
    if (r->size_gt >= 0)
        gw_xbuf_printf(x, "<ObjectSizeGreaterThan>%lld"
                          "</ObjectSizeGreaterThan>", (long long)r->size_gt);
    if (r->size_lt >= 0)
        gw_xbuf_printf(x, "<ObjectSizeLessThan>%lld</ObjectSizeLessThan>",
                       (long long)r->size_lt);
    if (conds > 1) gw_xbuf_str(x, "</And>");
    gw_xbuf_str(x, "</Filter>");
}

static void render(struct gw_xbuf *x, const struct ol_lc_rule *rules,
                   size_t n)
{
    size_t i;

    gw_xbuf_str(x, GW_XML_DECL "<LifecycleConfiguration xmlns=\"http://s3."
                   "amazonaws.com/doc/2006-03-01/\">");
    for (i = 0; i < n; i++) {
        const struct ol_lc_rule *r = &rules[i];
        gw_xbuf_str(x, "<Rule>");
        gw_xbuf_elem(x, "ID", r->id, strlen(r->id));
        render_filter(x, r);
        gw_xbuf_printf(x, "<Status>%s</Status>",
                       r->enabled ? "Enabled" : "Disabled");
        if (r->exp_days || r->exp_date_ms || r->exp_marker) {
            gw_xbuf_str(x, "<Expiration>");
            if (r->exp_days)
                gw_xbuf_printf(x, "<Days>%lld</Days>", (long long)r->exp_days);
            if (r->exp_date_ms) {
                char d[CF_ISO8601_LEN];
                cf_fmt_iso8601_ms(r->exp_date_ms, d);
                gw_xbuf_printf(x, "<Date>%s</Date>", d);
            }
            if (r->exp_marker)
                gw_xbuf_str(x, "<ExpiredObjectDeleteMarker>true"
                               "</ExpiredObjectDeleteMarker>");
            gw_xbuf_str(x, "</Expiration>");
        }
        if (r->nc_days) {
            gw_xbuf_printf(x, "<NoncurrentVersionExpiration><NoncurrentDays>"
                              "%lld</NoncurrentDays>", (long long)r->nc_days);
            if (r->nc_newer)
                gw_xbuf_printf(x, "<NewerNoncurrentVersions>%lld"
                                  "</NewerNoncurrentVersions>",
                               (long long)r->nc_newer);
            gw_xbuf_str(x, "</NoncurrentVersionExpiration>");
        }
        if (r->abort_days)
            gw_xbuf_printf(x, "<AbortIncompleteMultipartUpload>"
                              "<DaysAfterInitiation>%lld"
                              "</DaysAfterInitiation>"
                              "</AbortIncompleteMultipartUpload>",
                           (long long)r->abort_days);
        gw_xbuf_str(x, "</Rule>");
    }
    gw_xbuf_str(x, "</LifecycleConfiguration>");
}

/* ---- the S3 operations ---- */

static void put_lifecycle_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct gw_xml_lifecycle l;
    struct gw_xbuf x = { 0 };
    enum meta_status st;
    enum ol_lc_error e;
    size_t i, j, bad;

    memset(&l, 0, sizeof(l));
    if (gw_bucket_check(req, &b) != 0) return;
    /* AWS requires Content-MD5 (or a checksum) on this operation. */
    if (gw_xml_body_integrity(req) != 0) return;
    if (gw_xml_parse_lifecycle(req->xml.p ? req->xml.p : "", req->xml.len,
                               &l) != GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    if (l.transition) {
        /* One storage class: a transition cannot be honoured, so it is
         * refused rather than accepted and ignored. */
        gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                      "Lifecycle Transition and NoncurrentVersionTransition "
                      "are not implemented: coffer has one storage class");
        goto out;
    }
    for (i = 0; i < l.n; i++) {
        struct ol_lc_rule *r = &l.rules[i];
        if (r->id == NULL || r->id[0] == '\0') {
            /* AWS names a rule without ID itself. */
            unsigned char rnd[12];
            char hex[25];
            free(r->id);
            cf_random_bytes(rnd, sizeof(rnd));
            cf_hex_encode(rnd, sizeof(rnd), hex);
            r->id = strdup(hex);
            if (r->id == NULL) {
                gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
                goto out;
            }
        }
        for (j = 0; j < r->ntags; j++)
            if (strlen(r->tags[j].key) > 128 ||
                strlen(r->tags[j].value) > 256) {
                gw_resp_error(&req->resp, GW_E_INVALID_TAG,
                              "The TagKey or TagValue you have provided is "
                              "too long");
                goto out;
            }
    }
    e = ol_lc_check(l.rules, l.n, &bad);
    if (e != OL_LC_OK) {
        gw_resp_error(&req->resp,
                      e == OL_LC_NO_ACTION || e == OL_LC_TAG_FILTER
                          ? GW_E_INVALID_REQUEST
                          : GW_E_INVALID_ARGUMENT,
                      ol_lc_error_str(e));
        goto out;
    }
    render(&x, l.rules, l.n);
    if (x.oom) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        goto out;
    }
    if (x.len > META_BATTR_MAX_BYTES) {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "The lifecycle configuration is too large to store "
                      "(256 KiB once normalised)");
        goto out;
    }
    st = meta_bucket_attr_set(req->srv->db, req->bucket,
                              META_BATTR_LIFECYCLE, x.p, x.len);
    if (st != META_OK)
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
    else
        gw_log_req(req, CF_LOG_NOTICE, "lifecycle of %s set: %zu rule(s)",
                   req->bucket, l.n);
out:
    gw_xbuf_cleanup(&x);
    gw_xml_lifecycle_cleanup(&l);
}

void gw_h_put_lifecycle(struct gw_req *req)
{
    gw_req_post(req, put_lifecycle_work, gw_done_respond);
}

static void get_lifecycle_work(struct gw_req *req)
{
    gw_bucket_doc_get(req, META_BATTR_LIFECYCLE, GW_E_NO_SUCH_LIFECYCLE);
}

void gw_h_get_lifecycle(struct gw_req *req)
{
    gw_req_post(req, get_lifecycle_work, gw_done_respond);
}

static void delete_lifecycle_work(struct gw_req *req)
{
    gw_bucket_doc_delete(req, META_BATTR_LIFECYCLE);
}

void gw_h_delete_lifecycle(struct gw_req *req)
{
    gw_req_post(req, delete_lifecycle_work, gw_done_respond);
}

/* ---- the scanner ---- */

enum lc_kind {
    LC_MARKER,        /* add a delete marker over current version vid */
    LC_REMOVE_CURRENT,/* unversioned: remove current version vid */
    LC_REMOVE_NONCUR, /* remove noncurrent version (or marker) vid */
    LC_REMOVE_MARKER, /* remove vid, the key's only version, a marker */
};

struct lc_action {
    enum lc_kind kind;
    char *key;
    size_t key_len;
    char vid[META_VERSION_ID_MAX + 1];
    char data_id[META_VERSION_ID_MAX + 1]; /* unique per write: a "null"
                                 version written since is another one */
    char rule[OL_LC_ID_MAX + 1];
};

struct lc_walk {
    const struct ol_lc_rule *rules;
    size_t nrules;
    enum meta_versioning versioning;
    int64_t now;
    struct lc_action *acts;
    size_t nacts;
    int full;
    /* the key being walked: its versions come newest first */
    char *key;
    size_t key_len;
    size_t idx;              /* versions of this key seen so far */
    int64_t prev_mtime;      /* creation of the version seen before */
    size_t noncurrent;       /* noncurrent versions seen so far */
    int first_marker;        /* the current version is a delete marker */
    char first_vid[META_VERSION_ID_MAX + 1];
    char first_data_id[META_VERSION_ID_MAX + 1];
    int oom;
};

struct gw_lc {
    struct gw_server *srv;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int started;
    uint64_t passes;
};

static int add_action(struct lc_walk *w, enum lc_kind kind, const char *key,
                      size_t key_len, const char *vid, const char *data_id,
                      const char *rule)
{
    struct lc_action *a;
    if (w->nacts == LC_BATCH) {
        w->full = 1;
        return -1;
    }
    a = &w->acts[w->nacts];
    a->key = malloc(key_len + 1);
    if (a->key == NULL) {
        w->oom = 1;
        return -1;
    }
    memcpy(a->key, key, key_len);
    a->key[key_len] = '\0';
    a->key_len = key_len;
    a->kind = kind;
    snprintf(a->vid, sizeof(a->vid), "%s", vid);
    snprintf(a->data_id, sizeof(a->data_id), "%s", data_id);
    snprintf(a->rule, sizeof(a->rule), "%s", rule);
    w->nacts++;
    return 0;
}

/* The key whose versions just ended: an expired object delete marker? */
static int end_key(struct lc_walk *w)
{
    struct ol_lc_obj o;
    const struct ol_lc_rule *r;

    if (w->key == NULL || w->idx != 1 || !w->first_marker) return 0;
    memset(&o, 0, sizeof(o));
    o.key = w->key;
    o.key_len = w->key_len;
    o.delete_marker = 1;
    r = ol_lc_expire_marker(w->rules, w->nrules, &o);
    if (r == NULL) return 0;
    return add_action(w, LC_REMOVE_MARKER, w->key, w->key_len, w->first_vid,
                      w->first_data_id, r->id);
}

static int walk_version(const char *bucket, const struct meta_version *v,
                        void *arg)
{
    struct lc_walk *w = arg;
    struct ol_lc_tag tags[OL_LC_TAGS_MAX];
    struct ol_lc_obj o;
    const struct ol_lc_rule *r;
    int rc = 0;
    size_t i;

    (void)bucket;
    if (w->key == NULL || w->key_len != v->key_len ||
        memcmp(w->key, v->key, v->key_len) != 0) {
        if (end_key(w) != 0) return 1;
        free(w->key);
        w->key = malloc(v->key_len + 1);
        if (w->key == NULL) {
            w->oom = 1;
            return 1;
        }
        memcpy(w->key, v->key, v->key_len);
        w->key[v->key_len] = '\0';
        w->key_len = v->key_len;
        w->idx = 0;
        w->noncurrent = 0;
        w->first_marker = v->delete_marker;
        snprintf(w->first_vid, sizeof(w->first_vid), "%s", v->version_id);
        snprintf(w->first_data_id, sizeof(w->first_data_id), "%s",
                 v->data_id);
    }
    memset(&o, 0, sizeof(o));
    o.key = v->key;
    o.key_len = v->key_len;
    o.size = v->size;
    o.delete_marker = v->delete_marker;
    o.tags = tags;
    if (!v->delete_marker &&
        gw_version_tags(v, tags, OL_LC_TAGS_MAX, &o.ntags) != 0)
        o.ntags = 0;   /* unreadable tags: only tagless rules match */
    if (w->idx == 0) {
        r = ol_lc_expire_current(w->rules, w->nrules, &o, v->mtime_ms,
                                 w->now);
        if (r)
            rc = add_action(w, w->versioning == META_VERSIONING_OFF
                                   ? LC_REMOVE_CURRENT : LC_MARKER,
                            v->key, v->key_len, v->version_id, v->data_id,
                            r->id);
    } else {
        struct ol_state st;
        st.mode = (enum ol_mode)v->lock_mode;
        st.retain_until_ms = v->retain_until_ms;
        st.legal_hold = v->legal_hold;
        /* The successor's creation is when this one became noncurrent;
         * `noncurrent` newer noncurrent versions exist. */
        r = ol_lc_expire_noncurrent(w->rules, w->nrules, &o, w->prev_mtime,
                                    w->noncurrent, w->now);
        /* A locked version is not collected (it would only be refused):
         * so a batch never fills up with versions that cannot go. */
        if (r && !ol_is_locked(&st, w->now))
            rc = add_action(w, LC_REMOVE_NONCUR, v->key, v->key_len,
                            v->version_id, v->data_id, r->id);
        w->noncurrent++;
    }
    for (i = 0; i < o.ntags; i++) {
        free(tags[i].key);
        free(tags[i].value);
    }
    w->idx++;
    w->prev_mtime = v->mtime_ms;
    return rc != 0 || w->oom;
}

struct lc_check {
    struct gw_server *srv;
    const char *bucket;
    enum lc_kind kind;
    const char *data_id;
    int64_t now;
    int must_not_be_current;
};

/* Under the key lock: the version may still be removed as chosen. */
static int check_remove(struct meta_version *v, void *arg)
{
    struct lc_check *c = arg;
    struct ol_state st;
    struct ol_principal who = { 0 };

    if (strcmp(v->data_id, c->data_id) != 0) return 1; /* rewritten since */
    st.mode = (enum ol_mode)v->lock_mode;
    st.retain_until_ms = v->retain_until_ms;
    st.legal_hold = v->legal_hold;
    if (!v->delete_marker &&
        ol_decide_delete(&st, &who, 0, c->now) != OL_ALLOW)
        return 1;
    if (c->must_not_be_current) {
        struct meta_version cur;
        int same;
        /* A read without the key lock: the key lock we hold keeps writers
         * of this key out, so the answer cannot change under us. */
        if (meta_object_get(c->srv->db, c->bucket, v->key, v->key_len, NULL,
                            &cur) != META_OK)
            return 1;
        same = strcmp(cur.version_id, v->version_id) == 0;
        meta_version_cleanup(&cur);
        if (same) return 1;
    }
    if (c->kind == LC_REMOVE_MARKER && !v->delete_marker) return 1;
    return 0;
}

struct marker_pre {
    const char *want, *data_id;
    int ok;
};

/* Under the key lock: the current version is still the one that expired. */
static int check_current(struct meta_version *cur, void *arg)
{
    struct marker_pre *p = arg;
    p->ok = cur != NULL && strcmp(cur->version_id, p->want) == 0 &&
            strcmp(cur->data_id, p->data_id) == 0;
    return p->ok ? 0 : 1;
}

static void audit_removal(struct gw_server *srv, const char *bucket,
                          const struct lc_action *a,
                          const struct meta_version *v)
{
    char *ev = gw_audit_event_for(bucket, "lifecycle", "", "lifecycle-expire",
                                  a->key, a->key_len, v, a->rule);
    if (ev) {
        meta_audit_log(srv->db, ol_clock_now(), ev);
        free(ev);
    }
}

static void apply(struct gw_server *srv, const char *bucket, int lock_bucket,
                  enum meta_versioning versioning, const struct lc_action *a,
                  int64_t now, uint64_t *done)
{
    struct meta_version removed;
    enum meta_status st;

    memset(&removed, 0, sizeof(removed));
    if (a->kind == LC_MARKER) {
        struct meta_version dm;
        struct marker_pre pre = { a->vid, a->data_id, 0 };
        unsigned char rnd[16];

        memset(&dm, 0, sizeof(dm));
        if (versioning == META_VERSIONING_ENABLED) {
            cf_random_bytes(rnd, sizeof(rnd));
            cf_hex_encode(rnd, sizeof(rnd), dm.version_id);
        } else {
            snprintf(dm.version_id, sizeof(dm.version_id), "null");
        }
        cf_random_bytes(rnd, sizeof(rnd));
        cf_hex_encode(rnd, sizeof(rnd), dm.data_id);
        dm.key = a->key;
        dm.key_len = a->key_len;
        dm.delete_marker = 1;
        dm.mtime_ms = cf_now_ms();
        st = meta_object_put_if(srv->db, bucket, &dm, &removed,
                                check_current, &pre, 0, NULL);
        if (st == META_OK) {
            /* Suspended: the null version the marker replaced goes. */
            if (removed.version_id[0]) gw_remove_data(srv, &removed);
            (*done)++;
        }
    } else {
        struct lc_check c;
        c.srv = srv;
        c.bucket = bucket;
        c.kind = a->kind;
        c.data_id = a->data_id;
        c.now = now;
        c.must_not_be_current = a->kind == LC_REMOVE_NONCUR;
        st = meta_object_delete_if(srv->db, bucket, a->key, a->key_len,
                                   a->vid, check_remove, &c, &removed);
        if (st == META_OK) {
            if (lock_bucket) audit_removal(srv, bucket, a, &removed);
            gw_remove_data(srv, &removed);
            (*done)++;
        }
    }
    if (st != META_OK && st != META_EDENIED && st != META_ENOTFOUND)
        cf_log(CF_LOG_WARN, "lifecycle: %s/%.200s version %s: %s", bucket,
               a->key, a->vid, meta_strerror(st));
    meta_version_cleanup(&removed);
}

static void abort_uploads(struct gw_server *srv, const char *bucket,
                          const struct ol_lc_rule *rules, size_t n,
                          int64_t now, uint64_t *done)
{
    char *km = NULL, *im = NULL;
    size_t kml = 0, i, j;
    int more = 1;

    while (more) {
        struct meta_upload_list l;
        memset(&l, 0, sizeof(l));
        if (meta_upload_list(srv->db, bucket, NULL, 0, km, kml, im,
                             LC_UPLOADS_PAGE, &l) != META_OK)
            break;
        for (i = 0; i < l.n; i++) {
            const struct meta_upload *u = &l.uploads[i];
            struct meta_part *parts = NULL;
            size_t np = 0;
            if (ol_lc_abort_upload(rules, n, u->key, u->key_len,
                                   u->initiated_ms, now) == NULL)
                continue;
            if (meta_upload_abort(srv->db, bucket, u->key, u->key_len,
                                  u->upload_id, &parts, &np) != META_OK)
                continue;
            for (j = 0; j < np; j++) ec_remove(srv->set, parts[j].data_id);
            free(parts);
            (*done)++;
        }
        more = l.truncated && l.n > 0;
        if (more) {
            free(km);
            free(im);
            km = malloc(l.uploads[l.n - 1].key_len + 1);
            im = strdup(l.uploads[l.n - 1].upload_id);
            if (km == NULL || im == NULL) more = 0;
            else {
                kml = l.uploads[l.n - 1].key_len;
                memcpy(km, l.uploads[l.n - 1].key, kml + 1);
            }
        }
        meta_upload_list_cleanup(&l);
    }
    free(km);
    free(im);
}

static int lc_stopping(struct gw_lc *lc)
{
    int s;
    pthread_mutex_lock(&lc->mu);
    s = lc->stop;
    pthread_mutex_unlock(&lc->mu);
    return s;
}

/* One bucket: walks, acts on what the walk collected, and walks again
 * while a walk filled its batch (what was acted on is gone, locked
 * versions are never collected, so each round makes progress). */
static int scan_bucket(struct gw_lc *lc, const char *bucket,
                       uint64_t *total)
{
    struct gw_server *srv = lc->srv;
    struct meta_bucket b;
    struct gw_xml_lifecycle l;
    struct lc_walk w;
    char *doc = NULL;
    size_t n = 0, i;
    uint64_t done = 0;
    int rounds = 0;

    memset(&l, 0, sizeof(l));
    if (meta_bucket_get(srv->db, bucket, &b) != META_OK) return 0;
    if (meta_bucket_attr_get(srv->db, bucket, META_BATTR_LIFECYCLE, &doc,
                             &n) != META_OK || doc == NULL)
        return 0;
    if (gw_xml_parse_lifecycle(doc, n, &l) != GW_XML_OK) {
        cf_log(CF_LOG_ERR, "lifecycle: the stored rules of bucket %s do not "
               "parse; skipped", bucket);
        free(doc);
        return 0;
    }
    free(doc);
    do {
        memset(&w, 0, sizeof(w));
        w.rules = l.rules;
        w.nrules = l.n;
        w.versioning = b.versioning;
        w.now = ol_clock_now();
        w.acts = calloc(LC_BATCH, sizeof(*w.acts));
        if (w.acts == NULL) break;
        if (meta_version_foreach(srv->db, bucket, walk_version, &w) ==
                META_OK &&
            !w.full && !w.oom)
            end_key(&w);
        for (i = 0; i < w.nacts && !lc_stopping(lc); i++)
            apply(srv, bucket, b.lock_enabled, b.versioning, &w.acts[i],
                  w.now, &done);
        for (i = 0; i < w.nacts; i++) free(w.acts[i].key);
        free(w.acts);
        free(w.key);
    } while (w.full && !w.oom && !lc_stopping(lc) && ++rounds < 1000);
    if (!lc_stopping(lc))
        abort_uploads(srv, bucket, l.rules, l.n, ol_clock_now(), &done);
    if (done)
        cf_log(CF_LOG_NOTICE, "lifecycle: bucket %s: %llu version(s), "
               "marker(s) or upload(s) expired", bucket,
               (unsigned long long)done);
    gw_xml_lifecycle_cleanup(&l);
    *total += done;
    return 1;
}

struct names {
    char (*v)[META_BUCKET_NAME_MAX + 1];
    size_t n, cap;
};

static int collect_bucket(const struct meta_bucket *b, void *arg)
{
    struct names *nm = arg;
    if (nm->n == nm->cap) {
        size_t cap = nm->cap ? nm->cap * 2 : 64;
        void *p = realloc(nm->v, cap * sizeof(*nm->v));
        if (p == NULL) return 1;
        nm->v = p;
        nm->cap = cap;
    }
    memcpy(nm->v[nm->n++], b->name, sizeof(nm->v[0]));
    return 0;
}

static void *lc_main(void *arg)
{
    struct gw_lc *lc = arg;
    int interval = lc->srv->conf->lifecycle_interval_s;

    for (;;) {
        struct names nm = { 0 };
        struct timespec ts;
        size_t i, with_rules = 0;
        uint64_t total = 0;

        if (meta_bucket_foreach(lc->srv->db, collect_bucket, &nm) == META_OK)
            for (i = 0; i < nm.n && !lc_stopping(lc); i++)
                with_rules += (size_t)scan_bucket(lc, nm.v[i], &total);
        free(nm.v);
        pthread_mutex_lock(&lc->mu);
        lc->passes++;
        /* Quiet while no bucket has rules; tests wait for this line. */
        if (with_rules)
            cf_log(CF_LOG_NOTICE, "lifecycle: pass %llu done: %zu bucket(s) "
                   "with rules, %llu expired",
                   (unsigned long long)lc->passes, with_rules,
                   (unsigned long long)total);
        pthread_cond_broadcast(&lc->cv);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += interval;
        while (!lc->stop)
            if (pthread_cond_timedwait(&lc->cv, &lc->mu, &ts) == ETIMEDOUT)
                break;
        if (lc->stop) {
            pthread_mutex_unlock(&lc->mu);
            break;
        }
        pthread_mutex_unlock(&lc->mu);
    }
    return NULL;
}

enum gw_status gw_lc_start(struct gw_server *srv, struct gw_lc **out)
{
    struct gw_lc *lc;
    pthread_condattr_t ca;

    *out = NULL;
    if (srv->conf->lifecycle_interval_s <= 0) return GW_OK;
    lc = calloc(1, sizeof(*lc));
    if (lc == NULL) return GW_ENOMEM;
    lc->srv = srv;
    pthread_mutex_init(&lc->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lc->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&lc->th, NULL, lc_main, lc) != 0) {
        pthread_cond_destroy(&lc->cv);
        pthread_mutex_destroy(&lc->mu);
        free(lc);
        return GW_EIO;
    }
    lc->started = 1;
    *out = lc;
    return GW_OK;
}

void gw_lc_stop(struct gw_lc *lc)
{
    if (lc == NULL) return;
    pthread_mutex_lock(&lc->mu);
    lc->stop = 1;
    pthread_cond_broadcast(&lc->cv);
    pthread_mutex_unlock(&lc->mu);
    if (lc->started) pthread_join(lc->th, NULL);
    pthread_cond_destroy(&lc->cv);
    pthread_mutex_destroy(&lc->mu);
    free(lc);
}
