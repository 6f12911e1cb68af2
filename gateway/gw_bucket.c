/* gw_bucket.c: bucket-level operations — ListBuckets, CreateBucket,
 * HeadBucket, DeleteBucket, GetBucketLocation. Each runs its catalog work
 * in one worker job and renders its XML there; the loop only sends it.
 * Access: a bucket belongs to the user who created it; admin users may use
 * every bucket, others what its policy grants (gw_policy.c). ListBuckets
 * shows a user the buckets it owns (admins: all), as AWS lists an
 * account's own buckets whatever other buckets' policies grant. */
#include "gw_int.h"

#include <stdio.h>
#include <string.h>

void gw_done_respond(struct gw_req *req)
{
    gw_req_respond(req);
}

void gw_owner_xml(const struct gw_req *req, struct gw_xbuf *x,
                  const char *owner)
{
    gw_xbuf_str(x, "<Owner>");
    gw_xbuf_elem(x, "ID", owner, strlen(owner));
    gw_xbuf_elem(x, "DisplayName", owner, strlen(owner));
    gw_xbuf_str(x, "</Owner>");
}

/* Looks the bucket up and checks access; on failure sets the response
 * error and returns -1. Runs on a worker. */
static int bucket_load(struct gw_req *req, struct meta_bucket *b)
{
    enum meta_status st = meta_bucket_get(req->srv->db, req->bucket, b);
    if (st == META_ENOTFOUND) {
        gw_resp_error(&req->resp, GW_E_NO_SUCH_BUCKET, NULL);
        return -1;
    }
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        return -1;
    }
    gw_cors_actual(req);
    if (!gw_may_access(req, b)) {
        gw_resp_error(&req->resp, GW_E_ACCESS_DENIED, NULL);
        return -1;
    }
    return gw_lock_system_bucket(req);
}

/* ---- ListBuckets ---- */

static int list_one(const struct meta_bucket *b, void *arg)
{
    struct gw_req *req = arg;
    struct gw_xbuf *x = &req->resp.body;
    char date[CF_ISO8601_LEN];

    if (!req->is_admin && !gw_owns(req, b)) return 0;
    cf_fmt_iso8601_ms(b->created_ms, date);
    gw_xbuf_str(x, "<Bucket>");
    gw_xbuf_elem(x, "Name", b->name, strlen(b->name));
    gw_xbuf_elem(x, "CreationDate", date, strlen(date));
    gw_xbuf_str(x, "</Bucket>");
    return 0;
}

static void list_buckets_work(struct gw_req *req)
{
    struct gw_xbuf *x = &req->resp.body;
    enum meta_status st;

    gw_xbuf_str(x, GW_XML_DECL "<ListAllMyBucketsResult xmlns=\"http://s3."
                   "amazonaws.com/doc/2006-03-01/\">");
    gw_owner_xml(req, x, req->principal);
    gw_xbuf_str(x, "<Buckets>");
    st = meta_bucket_foreach(req->srv->db, list_one, req);
    gw_xbuf_str(x, "</Buckets></ListAllMyBucketsResult>");
    if (st != META_OK) gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
    else if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
}

void gw_h_list_buckets(struct gw_req *req)
{
    gw_req_post(req, list_buckets_work, gw_done_respond);
}

/* ---- CreateBucket ---- */

static void create_bucket_work(struct gw_req *req)
{
    struct meta_bucket b, existing;
    enum meta_status st;

    memset(&b, 0, sizeof(b));
    memset(&existing, 0, sizeof(existing));
    if (gw_acl_create_bucket(req) != 0) return;
    snprintf(b.name, sizeof(b.name), "%s", req->bucket);
    snprintf(b.owner, sizeof(b.owner), "%s", req->principal);
    b.created_ms = cf_now_ms();
    b.versioning = META_VERSIONING_OFF;
    {
        size_t n;
        const char *v = gw_req_header(req, "x-amz-bucket-object-lock-enabled",
                                      &n);
        if (v && n == 4 && strncasecmp(v, "true", 4) == 0) {
            /* Object Lock implies versioning, enabled for good. */
            b.lock_enabled = 1;
            b.versioning = META_VERSIONING_ENABLED;
        } else if (v && !(n == 5 && strncasecmp(v, "false", 5) == 0)) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "x-amz-bucket-object-lock-enabled must be true or "
                          "false");
            return;
        }
    }
    if (req->xml.len > 0) {
        char region[sizeof(b.region)];
        if (gw_xml_parse_location(req->xml.p, req->xml.len, region,
                                  sizeof(region)) != GW_XML_OK) {
            gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
            return;
        }
        /* Any region name is recorded and returned by GetBucketLocation:
         * coffer is one site, clients configured for another region name
         * still work. "us-east-1" is stored as "" as AWS reports it. */
        if (strcmp(region, "us-east-1") != 0)
            snprintf(b.region, sizeof(b.region), "%s", region);
    }
    st = meta_bucket_create(req->srv->db, &b, &existing);
    if (st == META_EEXIST) {
        gw_resp_error(&req->resp,
                      strcmp(existing.owner, req->principal) == 0
                          ? GW_E_BUCKET_OWNED
                          : GW_E_BUCKET_EXISTS,
                      NULL);
        return;
    }
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        return;
    }
    gw_resp_header(&req->resp, "Location", "/%s", req->bucket);
}

void gw_h_create_bucket(struct gw_req *req)
{
    if (!gw_bucket_name_valid(req->bucket, strlen(req->bucket))) {
        gw_resp_error(&req->resp, GW_E_INVALID_BUCKET_NAME, NULL);
        gw_req_respond(req);
        return;
    }
    gw_req_post(req, create_bucket_work, gw_done_respond);
}

/* ---- HeadBucket ---- */

static void head_bucket_work(struct gw_req *req)
{
    struct meta_bucket b;
    if (bucket_load(req, &b) != 0) return;
    gw_resp_header(&req->resp, "x-amz-bucket-region", "%s",
                   b.region[0] ? b.region : req->srv->conf->region);
}

void gw_h_head_bucket(struct gw_req *req)
{
    req->resp.no_body = 1;
    gw_req_post(req, head_bucket_work, gw_done_respond);
}

/* ---- DeleteBucket ---- */

static void delete_bucket_work(struct gw_req *req)
{
    struct meta_bucket b;
    enum meta_status st;

    if (bucket_load(req, &b) != 0) return;
    st = meta_bucket_delete(req->srv->db, req->bucket);
    if (st == META_ENOTFOUND) {
        gw_resp_error(&req->resp, GW_E_NO_SUCH_BUCKET, NULL);
        return;
    }
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        return;
    }
    req->resp.status = 204;
}

void gw_h_delete_bucket(struct gw_req *req)
{
    gw_req_post(req, delete_bucket_work, gw_done_respond);
}

/* ---- GetBucketLocation ---- */

static void location_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct gw_xbuf *x = &req->resp.body;

    if (bucket_load(req, &b) != 0) return;
    gw_xbuf_str(x, GW_XML_DECL "<LocationConstraint xmlns=\"http://s3."
                   "amazonaws.com/doc/2006-03-01/\">");
    gw_xbuf_esc(x, b.region, strlen(b.region));
    gw_xbuf_str(x, "</LocationConstraint>");
}

void gw_h_get_bucket_location(struct gw_req *req)
{
    gw_req_post(req, location_work, gw_done_respond);
}

/* ---- Put/GetBucketVersioning ---- */

static void put_versioning_work(struct gw_req *req)
{
    struct meta_bucket b;
    enum meta_status st;
    int enabled = 0;

    if (bucket_load(req, &b) != 0) return;
    if (gw_xml_parse_versioning(req->xml.p ? req->xml.p : "", req->xml.len,
                                &enabled) != GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    if (!enabled && b.lock_enabled) {
        gw_resp_error(&req->resp, GW_E_INVALID_BUCKET_STATE,
                      "An Object Lock configuration is present on this "
                      "bucket, so the versioning state cannot be changed.");
        return;
    }
    /* Once enabled, versioning can be suspended but never turned off. */
    b.versioning = enabled ? META_VERSIONING_ENABLED
                           : META_VERSIONING_SUSPENDED;
    st = meta_bucket_update(req->srv->db, &b);
    if (st != META_OK)
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
}

void gw_h_put_versioning(struct gw_req *req)
{
    gw_req_post(req, put_versioning_work, gw_done_respond);
}

static void get_versioning_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct gw_xbuf *x = &req->resp.body;

    if (bucket_load(req, &b) != 0) return;
    gw_xbuf_str(x, GW_XML_DECL "<VersioningConfiguration xmlns=\"http://s3."
                   "amazonaws.com/doc/2006-03-01/\">");
    if (b.versioning == META_VERSIONING_ENABLED)
        gw_xbuf_str(x, "<Status>Enabled</Status>");
    else if (b.versioning == META_VERSIONING_SUSPENDED)
        gw_xbuf_str(x, "<Status>Suspended</Status>");
    gw_xbuf_str(x, "</VersioningConfiguration>");
}

void gw_h_get_versioning(struct gw_req *req)
{
    gw_req_post(req, get_versioning_work, gw_done_respond);
}

/* ---- bucket documents stored as they are served (CORS, lifecycle) ---- */

void gw_bucket_doc_get(struct gw_req *req, enum meta_battr id,
                       enum gw_err missing)
{
    struct meta_bucket b;
    char *doc = NULL;
    size_t n = 0;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    st = meta_bucket_attr_get(req->srv->db, req->bucket, id, &doc, &n);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        return;
    }
    if (doc == NULL) {
        gw_resp_error(&req->resp, missing, NULL);
        return;
    }
    gw_xbuf_raw(&req->resp.body, doc, n);
    free(doc);
    if (req->resp.body.oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
}

void gw_bucket_doc_delete(struct gw_req *req, enum meta_battr id)
{
    struct meta_bucket b;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    st = meta_bucket_attr_set(req->srv->db, req->bucket, id, NULL, 0);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        return;
    }
    req->resp.status = 204;
}
