/* gw_acl.c: canned ACLs, private (the default) and public-read, on buckets
 * and objects: x-amz-acl on CreateBucket, PutObject,
 * CreateMultipartUpload and CopyObject, Put/GetBucketAcl and
 * Put/GetObjectAcl. Other canned ACLs, x-amz-grant-* headers and grant
 * XML bodies answer 501 NotImplemented.
 *
 * Storage: a bucket's ACL is the bucket attribute META_BATTR_ACL
 * ("public-read"; absent: private); an object version's is the stored
 * header GW_ACL_HEADER (never sent to clients; absent: private).
 *
 * Effect (gw_policy.c): unless IgnorePublicAcls, a public-read bucket
 * lets anyone list it (s3:ListBucket, s3:ListBucketVersions,
 * s3:ListBucketMultipartUploads) and a public-read version lets anyone
 * read it (GetObject, HeadObject); an explicit policy Deny still wins.
 * BlockPublicAcls refuses (403 AccessDenied) every request that would set
 * public-read, as AWS documents; it is on for new buckets, so CreateBucket
 * with public-read is always refused. */
#include "gw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const other_canned[] = {
    "public-read-write", "authenticated-read", "aws-exec-read",
    "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write",
    NULL
};

int gw_acl_requested(struct gw_req *req, int *public_read)
{
    size_t n, i;
    const char *v = gw_req_header(req, "x-amz-acl", &n);
    int k;

    *public_read = 0;
    for (k = 0; k < req->nhdrs; k++)
        if (req->hdrs[k].name.len > 12 &&
            strncasecmp(req->hdrs[k].name.p, "x-amz-grant-", 12) == 0) {
            gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                          "x-amz-grant-* headers are not implemented; use "
                          "the canned ACLs private or public-read.");
            return -1;
        }
    if (v == NULL) return 0;
    if (n == 7 && strncmp(v, "private", 7) == 0) return 1;
    if (n == 11 && strncmp(v, "public-read", 11) == 0) {
        *public_read = 1;
        return 1;
    }
    for (i = 0; other_canned[i]; i++)
        if (n == strlen(other_canned[i]) &&
            strncmp(v, other_canned[i], n) == 0) {
            gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                          "Only the canned ACLs private and public-read are "
                          "implemented.");
            return -1;
        }
    gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT, "Invalid canned ACL.");
    return -1;
}

/* 403 when public-read is asked for while bucket's BlockPublicAcls is on
 * (new_bucket: the bucket is being created, so its default, on, holds). */
static int block_public(struct gw_req *req, const char *bucket,
                        int new_bucket)
{
    int flags[4], configured;
    if (new_bucket) flags[GW_PAB_BLOCK_ACLS] = 1;
    else if (gw_pab_flags(req, bucket, flags, &configured) != 0) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return -1;
    }
    if (flags[GW_PAB_BLOCK_ACLS]) {
        gw_resp_error(&req->resp, GW_E_ACCESS_DENIED,
                      "Public ACLs are blocked by the bucket's "
                      "BlockPublicAcls setting.");
        return -1;
    }
    return 0;
}

int gw_acl_create_bucket(struct gw_req *req)
{
    int pub, rc = gw_acl_requested(req, &pub);
    if (rc < 0) return -1;
    return pub ? block_public(req, req->bucket, 1) : 0;
}

/* Sets (pub) or removes the entry of v. 0 or -1 (ENOMEM). */
static int set_version_acl(struct meta_version *v, int pub)
{
    size_t i;
    for (i = 0; i < v->nheaders; i++)
        if (strcmp(v->headers[i].name, GW_ACL_HEADER) == 0) {
            free(v->headers[i].name);
            free(v->headers[i].value);
            v->headers[i] = v->headers[--v->nheaders];
            break;
        }
    return pub ? gw_add_stored_header(v, GW_ACL_HEADER, "public-read", 11)
               : 0;
}

int gw_acl_for_write(struct gw_req *req, struct meta_version *v)
{
    int pub, rc = gw_acl_requested(req, &pub);
    if (rc < 0) return -1;
    if (pub && block_public(req, req->bucket, 0) != 0) return -1;
    if (set_version_acl(v, pub) != 0) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return -1;
    }
    return 0;
}

int gw_acl_public(const struct meta_version *v)
{
    size_t i;
    for (i = 0; i < v->nheaders; i++)
        if (strcmp(v->headers[i].name, GW_ACL_HEADER) == 0)
            return strcmp(v->headers[i].value, "public-read") == 0;
    return 0;
}

/* ---- Put/GetBucketAcl, Put/GetObjectAcl ---- */

static void acl_xml(struct gw_req *req, const char *owner, int pub)
{
    struct gw_xbuf *x = &req->resp.body;
    gw_xbuf_str(x, GW_XML_DECL "<AccessControlPolicy xmlns=\"http://s3."
                   "amazonaws.com/doc/2006-03-01/\">");
    gw_owner_xml(req, x, owner);
    gw_xbuf_str(x, "<AccessControlList><Grant><Grantee xmlns:xsi=\"http://"
                   "www.w3.org/2001/XMLSchema-instance\" xsi:type=\""
                   "CanonicalUser\">");
    gw_xbuf_elem(x, "ID", owner, strlen(owner));
    gw_xbuf_elem(x, "DisplayName", owner, strlen(owner));
    gw_xbuf_str(x, "</Grantee><Permission>FULL_CONTROL</Permission></Grant>");
    if (pub)
        gw_xbuf_str(x, "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/"
                       "XMLSchema-instance\" xsi:type=\"Group\"><URI>http://"
                       "acs.amazonaws.com/groups/global/AllUsers</URI>"
                       "</Grantee><Permission>READ</Permission></Grant>");
    gw_xbuf_str(x, "</AccessControlList></AccessControlPolicy>");
    if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
}

/* The ACL a Put*Acl asks for: x-amz-acl; a grant body is not implemented;
 * neither is MalformedACLError. 0 or -1 with the error set. */
static int put_acl_args(struct gw_req *req, int *pub)
{
    int rc = gw_acl_requested(req, pub);
    if (rc < 0) return -1;
    if (req->xml.len > 0) {
        gw_resp_error(&req->resp, GW_E_NOT_IMPLEMENTED,
                      "ACL grant documents are not implemented; use the "
                      "x-amz-acl header with private or public-read.");
        return -1;
    }
    if (rc == 0) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_ACL, NULL);
        return -1;
    }
    return 0;
}

static void put_bucket_acl_work(struct gw_req *req)
{
    struct meta_bucket b;
    int pub;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    if (put_acl_args(req, &pub) != 0) return;
    if (pub && block_public(req, req->bucket, 0) != 0) return;
    st = meta_bucket_attr_set(req->srv->db, req->bucket, META_BATTR_ACL,
                              pub ? "public-read" : NULL, pub ? 11 : 0);
    if (st != META_OK)
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
}

void gw_h_put_bucket_acl(struct gw_req *req)
{
    gw_req_post(req, put_bucket_acl_work, gw_done_respond);
}

static void get_bucket_acl_work(struct gw_req *req)
{
    struct meta_bucket b;
    char *v = NULL;
    size_t n = 0;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    st = meta_bucket_attr_get(req->srv->db, req->bucket, META_BATTR_ACL, &v,
                              &n);
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        return;
    }
    acl_xml(req, b.owner, v && strcmp(v, "public-read") == 0);
    free(v);
}

void gw_h_get_bucket_acl(struct gw_req *req)
{
    gw_req_post(req, get_bucket_acl_work, gw_done_respond);
}

static const char *vid_of(const struct gw_req *req)
{
    const struct gw_qparam *q = gw_req_qparam(req, "versionId");
    return q ? q->value : NULL;
}

struct acl_change {
    int pub;
    int marker;                   /* the version is a delete marker */
    char version[META_VERSION_ID_MAX + 1];
};

static int apply_acl(struct meta_version *v, void *arg)
{
    struct acl_change *c = arg;
    if (v->delete_marker) {
        c->marker = 1;
        return 1;
    }
    snprintf(c->version, sizeof(c->version), "%s", v->version_id);
    return set_version_acl(v, c->pub) != 0;
}

static void put_object_acl_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct acl_change c;
    enum meta_status st;

    memset(&c, 0, sizeof(c));
    if (gw_bucket_check(req, &b) != 0) return;
    if (put_acl_args(req, &c.pub) != 0) return;
    if (c.pub && block_public(req, req->bucket, 0) != 0) return;
    st = meta_object_update(req->srv->db, req->bucket, req->key, req->key_len,
                            vid_of(req), apply_acl, &c);
    if (st == META_ENOTFOUND)
        gw_resp_error(&req->resp, vid_of(req) ? GW_E_NO_SUCH_VERSION
                                              : GW_E_NO_SUCH_KEY, NULL);
    else if (st == META_EDENIED && c.marker)
        gw_resp_error(&req->resp, GW_E_METHOD_NOT_ALLOWED, NULL);
    else if (st != META_OK)
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
    else if (req->versioning != META_VERSIONING_OFF)
        gw_resp_header(&req->resp, "x-amz-version-id", "%s", c.version);
}

void gw_h_put_object_acl(struct gw_req *req)
{
    gw_req_post(req, put_object_acl_work, gw_done_respond);
}

static void get_object_acl_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct meta_version v;
    enum meta_status st;

    if (gw_bucket_check(req, &b) != 0) return;
    memset(&v, 0, sizeof(v));
    st = meta_object_get(req->srv->db, req->bucket, req->key, req->key_len,
                         vid_of(req), &v);
    if (st != META_OK || v.delete_marker) {
        gw_resp_error(&req->resp,
                      st == META_OK ? GW_E_METHOD_NOT_ALLOWED
                      : st == META_ENOTFOUND
                          ? (vid_of(req) ? GW_E_NO_SUCH_VERSION
                                         : GW_E_NO_SUCH_KEY)
                          : gw_err_from_meta(st),
                      NULL);
        meta_version_cleanup(&v);
        return;
    }
    if (req->versioning != META_VERSIONING_OFF || vid_of(req))
        gw_resp_header(&req->resp, "x-amz-version-id", "%s", v.version_id);
    acl_xml(req, b.owner, gw_acl_public(&v));
    meta_version_cleanup(&v);
}

void gw_h_get_object_acl(struct gw_req *req)
{
    gw_req_post(req, get_object_acl_work, gw_done_respond);
}
