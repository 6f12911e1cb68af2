/* gw_policy.c: who may do what. Every bucket-scoped request is decided
 * here (gw_may_access / gw_authorize), and the bucket policy
 * sub-resource (Put/Get/DeleteBucketPolicy) is served here.
 *
 * The decision, for a principal P, an action (the S3 permission the
 * operation needs, from op_action()) and a resource:
 *   1. an explicit Deny of the bucket's policy refuses, whoever P is
 *      (admins and the owner included: policies may only add
 *      restrictions), except that the owner and admins may always read,
 *      replace and delete the policy itself, so nobody is locked out;
 *   2. the bucket's owner and admin users are allowed;
 *   3. anyone else is allowed only if the policy allows (default deny).
 * Object Lock is decided after this, by objlock: a policy never makes a
 * locked version deletable; it can grant s3:BypassGovernanceRetention
 * (gw_policy_bypass), which only matters for GOVERNANCE retention.
 *
 * The policy of the request's bucket is loaded once per request (a
 * worker's catalog read) and kept in the request, so decisions taken
 * later under the catalog's key locks (bypass) never call meta. */
#include "gw_int.h"
#include "ol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define POLICY_OPS(op) \
    ((op) == GW_OP_PUT_BUCKET_POLICY || (op) == GW_OP_GET_BUCKET_POLICY || \
     (op) == GW_OP_DELETE_BUCKET_POLICY)

/* The permission an operation needs (AWS's "Actions, resources and
 * condition keys for Amazon S3"); versioned variants when a versionId is
 * given. */
static const char *op_action(const struct gw_req *req)
{
    int v = gw_req_qparam(req, "versionId") != NULL;
    switch (req->op) {
    case GW_OP_LIST_BUCKETS: return "s3:ListAllMyBuckets";
    case GW_OP_CREATE_BUCKET: return "s3:CreateBucket";
    case GW_OP_HEAD_BUCKET:
    case GW_OP_LIST_OBJECTS:
    case GW_OP_LIST_OBJECTS_V2: return "s3:ListBucket";
    case GW_OP_DELETE_BUCKET: return "s3:DeleteBucket";
    case GW_OP_GET_BUCKET_LOCATION: return "s3:GetBucketLocation";
    case GW_OP_DELETE_OBJECTS:
    case GW_OP_DELETE_OBJECT:
        return v ? "s3:DeleteObjectVersion" : "s3:DeleteObject";
    case GW_OP_PUT_OBJECT:
    case GW_OP_UPLOAD_PART:
    case GW_OP_CREATE_MPU:
    case GW_OP_COMPLETE_MPU:
    case GW_OP_COPY_OBJECT:
    case GW_OP_UPLOAD_PART_COPY: return "s3:PutObject";
    case GW_OP_GET_OBJECT:
    case GW_OP_HEAD_OBJECT:
        return v ? "s3:GetObjectVersion" : "s3:GetObject";
    case GW_OP_ABORT_MPU: return "s3:AbortMultipartUpload";
    case GW_OP_LIST_PARTS: return "s3:ListMultipartUploadParts";
    case GW_OP_LIST_UPLOADS: return "s3:ListBucketMultipartUploads";
    case GW_OP_PUT_VERSIONING: return "s3:PutBucketVersioning";
    case GW_OP_GET_VERSIONING: return "s3:GetBucketVersioning";
    case GW_OP_LIST_VERSIONS: return "s3:ListBucketVersions";
    case GW_OP_PUT_TAGGING:
        return v ? "s3:PutObjectVersionTagging" : "s3:PutObjectTagging";
    case GW_OP_GET_TAGGING:
        return v ? "s3:GetObjectVersionTagging" : "s3:GetObjectTagging";
    case GW_OP_DELETE_TAGGING:
        return v ? "s3:DeleteObjectVersionTagging" : "s3:DeleteObjectTagging";
    case GW_OP_PUT_LOCK_CONFIG: return "s3:PutBucketObjectLockConfiguration";
    case GW_OP_GET_LOCK_CONFIG: return "s3:GetBucketObjectLockConfiguration";
    case GW_OP_PUT_RETENTION: return "s3:PutObjectRetention";
    case GW_OP_GET_RETENTION: return "s3:GetObjectRetention";
    case GW_OP_PUT_LEGAL_HOLD: return "s3:PutObjectLegalHold";
    case GW_OP_GET_LEGAL_HOLD: return "s3:GetObjectLegalHold";
    case GW_OP_PUT_CORS:
    case GW_OP_DELETE_CORS: return "s3:PutBucketCORS";
    case GW_OP_GET_CORS: return "s3:GetBucketCORS";
    case GW_OP_PUT_BUCKET_TAGGING:
    case GW_OP_DELETE_BUCKET_TAGGING: return "s3:PutBucketTagging";
    case GW_OP_GET_BUCKET_TAGGING: return "s3:GetBucketTagging";
    case GW_OP_GET_ATTRIBUTES:
        return v ? "s3:GetObjectVersionAttributes" : "s3:GetObjectAttributes";
    case GW_OP_PUT_BUCKET_ENCRYPTION:
    case GW_OP_DELETE_BUCKET_ENCRYPTION: return "s3:PutEncryptionConfiguration";
    case GW_OP_GET_BUCKET_ENCRYPTION: return "s3:GetEncryptionConfiguration";
    case GW_OP_PUT_BUCKET_ACL: return "s3:PutBucketAcl";
    case GW_OP_GET_BUCKET_ACL: return "s3:GetBucketAcl";
    case GW_OP_PUT_OBJECT_ACL:
        return v ? "s3:PutObjectVersionAcl" : "s3:PutObjectAcl";
    case GW_OP_GET_OBJECT_ACL:
        return v ? "s3:GetObjectVersionAcl" : "s3:GetObjectAcl";
    case GW_OP_PUT_LIFECYCLE:
    case GW_OP_DELETE_LIFECYCLE: return "s3:PutLifecycleConfiguration";
    case GW_OP_GET_LIFECYCLE: return "s3:GetLifecycleConfiguration";
    case GW_OP_PUT_PAB:
    case GW_OP_DELETE_PAB: return "s3:PutBucketPublicAccessBlock";
    case GW_OP_GET_PAB: return "s3:GetBucketPublicAccessBlock";
    case GW_OP_PUT_BUCKET_POLICY: return "s3:PutBucketPolicy";
    case GW_OP_GET_BUCKET_POLICY: return "s3:GetBucketPolicy";
    case GW_OP_DELETE_BUCKET_POLICY: return "s3:DeleteBucketPolicy";
    case GW_OP_ADMIN:           /* not bucket-scoped: gw_admin.c */
    case GW_OP_CORS_PREFLIGHT:
    case GW_OP_NONE:
    case GW_OP_NOT_IMPLEMENTED: break;
    }
    return "s3:Unknown"; /* matched only by s3:* and * */
}

void gw_peer_addr(const struct gw_req *req, char *out, size_t cap)
{
    snprintf(out, cap, "%s",
             req->conn && req->conn->peer[0] ? req->conn->peer : "?");
}

/* The public access block from its stored value (see META_BATTR_PAB). */
static void pab_parse(struct gw_req *req, const char *bucket, const char *v,
                      size_t n, int flags[4], int *configured)
{
    int i;
    *configured = 1;
    for (i = 0; i < 4; i++) flags[i] = 1;
    if (v && strcmp(v, "none") == 0) {
        *configured = 0;
        for (i = 0; i < 4; i++) flags[i] = 0;
    } else if (v && n == 4) {
        for (i = 0; i < 4; i++) flags[i] = v[i] == '1';
    } else if (v) {
        gw_log_req(req, CF_LOG_ERR, "bucket %s: public access block record "
                   "is corrupt: treated as all on", bucket);
    }
}

/* The bucket's public access block into flags; *configured 0 after a
 * DeletePublicAccessBlock (all off). Absent (new and older buckets): all
 * on, AWS's default for new buckets. 0, or -1 (catalog error). Worker. */
int gw_pab_flags(struct gw_req *req, const char *bucket, int flags[4],
                 int *configured)
{
    char *v = NULL;
    size_t n = 0;
    enum meta_status st = meta_bucket_attr_get(req->srv->db, bucket,
                                               META_BATTR_PAB, &v, &n);
    if (st != META_OK && st != META_ENOTFOUND) return -1;
    pab_parse(req, bucket, v, n, flags, configured);
    free(v);
    return 0;
}

/* Loads (once per request and bucket, with one catalog read) the bucket's
 * policy, canned ACL and public access block into the request. A stored
 * policy that no longer parses is logged and treated as denying everyone
 * but the owner and admins. Worker. */
static int policy_load(struct gw_req *req, const char *bucket)
{
    static const enum meta_battr ids[3] = { META_BATTR_POLICY,
                                            META_BATTR_ACL, META_BATTR_PAB };
    char *v[3], err[256];
    size_t n[3];
    int configured;
    enum meta_status st;

    if (req->policy_loaded && strcmp(req->policy_bucket, bucket) == 0)
        return req->policy_bad ? -1 : 0;
    iam_policy_free(req->policy);
    req->policy = NULL;
    req->policy_bad = 0;
    req->policy_loaded = 1;
    snprintf(req->policy_bucket, sizeof(req->policy_bucket), "%s", bucket);
    st = meta_bucket_attrs_get(req->srv->db, bucket, ids, 3, v, n);
    if (st != META_OK) {
        req->policy_bad = 1;
        return -1;
    }
    req->bucket_public = v[1] && strcmp(v[1], "public-read") == 0;
    pab_parse(req, bucket, v[2], n[2], req->pab, &configured);
    if (v[0] && iam_policy_parse(v[0], n[0], bucket, &req->policy, err,
                                 sizeof(err)) != IAM_OK) {
        gw_log_req(req, CF_LOG_ERR, "the stored policy of bucket %s does not "
                   "parse: %s", bucket, err);
        req->policy_bad = 1;
    }
    free(v[0]);
    free(v[1]);
    free(v[2]);
    return req->policy_bad ? -1 : 0;
}

static void lock_params(const struct gw_req *req, struct iam_ctx *c,
                        char *mode, size_t modecap)
{
    const char *m = NULL, *u = NULL;
    size_t ml = 0, ul = 0;
    char ubuf[64];
    int64_t until;

    c->lock_days = -1;
    if (req->op == GW_OP_PUT_RETENTION && req->xml.len) {
        if (gw_xml_parse_retention(req->xml.p, req->xml.len, mode, modecap,
                                   ubuf, sizeof(ubuf)) == GW_XML_OK) {
            if (mode[0]) c->lock_mode = mode;
            u = ubuf;
            ul = strlen(ubuf);
        }
    } else {
        m = gw_req_header(req, "x-amz-object-lock-mode", &ml);
        u = gw_req_header(req, "x-amz-object-lock-retain-until-date", &ul);
        if (m && ml < modecap) {
            memcpy(mode, m, ml);
            mode[ml] = '\0';
            c->lock_mode = mode;
        }
    }
    if (u && ul && cf_parse_iso8601_ms((struct cf_str){ u, ul }, &until) == 0) {
        int64_t now = ol_clock_now(), left = until - now;
        c->lock_days = left <= 0 ? 0 : (left + 86399999) / 86400000;
    }
}

static enum iam_effect evaluate(struct gw_req *req, const char *bucket,
                                const char *action, const char *key)
{
    struct iam_ctx c;
    char ip[64], mode[32];
    const struct gw_qparam *pfx;

    memset(&c, 0, sizeof(c));
    c.principal = req->principal;
    c.action = action;
    c.bucket = bucket;
    c.key = key;
    c.secure_transport = req->conn ? req->conn->tls : 0;
    gw_peer_addr(req, ip, sizeof(ip));
    c.source_ip = ip[0] != '?' ? ip : NULL;
    if (req->op == GW_OP_LIST_OBJECTS || req->op == GW_OP_LIST_OBJECTS_V2 ||
        req->op == GW_OP_LIST_VERSIONS || req->op == GW_OP_LIST_UPLOADS) {
        pfx = gw_req_qparam(req, "prefix");
        if (pfx) c.prefix = pfx->value;
    }
    lock_params(req, &c, mode, sizeof(mode));
    c.restrict_public = req->pab[GW_PAB_RESTRICT] &&
                        iam_policy_is_public(req->policy);
    return iam_policy_eval(req->policy, &c);
}

int gw_owns(const struct gw_req *req, const struct meta_bucket *b)
{
    return req->principal && strcmp(b->owner, req->principal) == 0;
}

/* Public-read canned ACLs (gw_acl.c), unless IgnorePublicAcls: the
 * bucket's opens its listings; an object's is known only once its version
 * is read, so GET/HEAD of the request's own key go on with acl_pending
 * and gw_h_get_object decides. */
static int acl_grants(struct gw_req *req, const struct meta_bucket *b,
                      const char *action, const char *key)
{
    if (req->pab[GW_PAB_IGNORE_ACLS]) return 0;
    if (key == NULL && req->bucket_public &&
        (strcmp(action, "s3:ListBucket") == 0 ||
         strcmp(action, "s3:ListBucketVersions") == 0 ||
         strcmp(action, "s3:ListBucketMultipartUploads") == 0))
        return 1;
    if (key && (req->op == GW_OP_GET_OBJECT || req->op == GW_OP_HEAD_OBJECT) &&
        strcmp(b->name, req->bucket) == 0 && key == req->key) {
        req->acl_pending = 1;
        return 1;
    }
    return 0;
}

int gw_authorize(struct gw_req *req, const struct meta_bucket *b,
                 const char *action, const char *key)
{
    int owner = gw_owns(req, b);
    enum iam_effect eff;

    if (POLICY_OPS(req->op) && strcmp(b->name, req->bucket) == 0 &&
        (owner || req->is_admin))
        return 1;
    if (policy_load(req, b->name) != 0) return owner || req->is_admin;
    eff = evaluate(req, b->name, action, key);
    if (eff == IAM_EXPLICIT_DENY) {
        gw_log_req(req, CF_LOG_INFO, "policy of %s denies %s to %s", b->name,
                   action, req->principal ? req->principal : "anonymous");
        return 0;
    }
    if (owner || req->is_admin || eff == IAM_ALLOW) return 1;
    return acl_grants(req, b, action, key);
}

int gw_may_access(struct gw_req *req, const struct meta_bucket *b)
{
    if (req->op == GW_OP_DELETE_OBJECTS) {
        /* AWS decides DeleteObjects key by key (gw_may_delete_key); the
         * bucket step only loads the policy. */
        (void)policy_load(req, b->name);
        return 1;
    }
    return gw_authorize(req, b, op_action(req), req->key);
}

int gw_may_delete_key(struct gw_req *req, const struct meta_bucket *b,
                      const char *key, int versioned)
{
    return gw_authorize(req, b, versioned ? "s3:DeleteObjectVersion"
                                          : "s3:DeleteObject", key);
}

int gw_policy_bypass(struct gw_req *req, const char *key)
{
    enum iam_effect eff = IAM_IMPLICIT_DENY;
    /* the policy was loaded by the access check of this request */
    if (req->policy_loaded && !req->policy_bad &&
        strcmp(req->policy_bucket, req->bucket) == 0)
        eff = evaluate(req, req->bucket, "s3:BypassGovernanceRetention", key);
    if (eff == IAM_EXPLICIT_DENY) return 0;
    return req->is_admin || eff == IAM_ALLOW;
}

/* ---- Put/Get/DeleteBucketPolicy ---- */

/* Stores (doc NULL: removes) the policy; 204, or the error. Worker. */
static void store_policy(struct gw_req *req, const char *doc, size_t len)
{
    enum meta_status st = meta_bucket_attr_set(
        req->srv->db, req->bucket, META_BATTR_POLICY, doc, len);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        return;
    }
    req->resp.status = 204;
}

static void put_policy_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct iam_policy *p = NULL;
    char err[300];
    enum iam_status ist;

    if (gw_bucket_check(req, &b) != 0) return;
    if (req->xml.len == 0) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_POLICY,
                      "Policies must be valid JSON and the first byte must "
                      "be '{'");
        return;
    }
    ist = iam_policy_parse(req->xml.p, req->xml.len, req->bucket, &p, err,
                           sizeof(err));
    if (ist != IAM_OK) {
        gw_resp_error(&req->resp, ist == IAM_EINVAL ? GW_E_MALFORMED_POLICY
                                                    : GW_E_INTERNAL,
                      ist == IAM_EINVAL ? err : NULL);
        return;
    }
    {
        /* BlockPublicPolicy refuses a public policy (S3 API reference,
         * PublicAccessBlockConfiguration) */
        int flags[4], configured, pub = iam_policy_is_public(p);
        iam_policy_free(p);
        if (gw_pab_flags(req, req->bucket, flags, &configured) != 0) {
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            return;
        }
        if (pub && flags[GW_PAB_BLOCK_POLICY]) {
            gw_resp_error(&req->resp, GW_E_ACCESS_DENIED,
                          "User does not have permission to put a public "
                          "policy while BlockPublicPolicy is on.");
            return;
        }
    }
    store_policy(req, req->xml.p, req->xml.len);
}

void gw_h_put_bucket_policy(struct gw_req *req)
{
    gw_req_post(req, put_policy_work, gw_done_respond);
}

static void get_policy_work(struct gw_req *req)
{
    gw_bucket_doc_get(req, META_BATTR_POLICY, GW_E_NO_SUCH_BUCKET_POLICY);
    if (req->resp.err == GW_E_NONE) req->resp.content_type = "application/json";
}

void gw_h_get_bucket_policy(struct gw_req *req)
{
    gw_req_post(req, get_policy_work, gw_done_respond);
}

static void delete_policy_work(struct gw_req *req)
{
    struct meta_bucket b;

    if (gw_bucket_check(req, &b) != 0) return;
    store_policy(req, NULL, 0); /* 204 also when there was none, as AWS */
}

void gw_h_delete_bucket_policy(struct gw_req *req)
{
    gw_req_post(req, delete_policy_work, gw_done_respond);
}

/* ---- Put/Get/DeletePublicAccessBlock ---- */

static void put_pab_work(struct gw_req *req)
{
    struct meta_bucket b;
    int flags[4], i;
    char v[5];
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    if (gw_xml_parse_pab(req->xml.p ? req->xml.p : "", req->xml.len,
                         flags) != GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    for (i = 0; i < 4; i++) v[i] = flags[i] ? '1' : '0';
    v[4] = '\0';
    st = meta_bucket_attr_set(req->srv->db, req->bucket, META_BATTR_PAB, v,
                              4);
    if (st != META_OK)
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
}

void gw_h_put_pab(struct gw_req *req)
{
    gw_req_post(req, put_pab_work, gw_done_respond);
}

static void get_pab_work(struct gw_req *req)
{
    static const char *const names[4] = { "BlockPublicAcls",
                                          "IgnorePublicAcls",
                                          "BlockPublicPolicy",
                                          "RestrictPublicBuckets" };
    struct meta_bucket b;
    int flags[4], configured, i;
    struct gw_xbuf *x = &req->resp.body;

    if (gw_bucket_check(req, &b) != 0) return;
    if (gw_pab_flags(req, req->bucket, flags, &configured) != 0) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return;
    }
    if (!configured) {
        gw_resp_error(&req->resp, GW_E_NO_SUCH_PAB, NULL);
        return;
    }
    gw_xbuf_str(x, GW_XML_DECL "<PublicAccessBlockConfiguration xmlns=\""
                   "http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (i = 0; i < 4; i++)
        gw_xbuf_printf(x, "<%s>%s</%s>", names[i],
                       flags[i] ? "true" : "false", names[i]);
    gw_xbuf_str(x, "</PublicAccessBlockConfiguration>");
    if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
}

void gw_h_get_pab(struct gw_req *req)
{
    gw_req_post(req, get_pab_work, gw_done_respond);
}

static void delete_pab_work(struct gw_req *req)
{
    struct meta_bucket b;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    st = meta_bucket_attr_set(req->srv->db, req->bucket, META_BATTR_PAB,
                              "none", 4);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        return;
    }
    req->resp.status = 204;
}

void gw_h_delete_pab(struct gw_req *req)
{
    gw_req_post(req, delete_pab_work, gw_done_respond);
}
