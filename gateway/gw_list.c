/* gw_list.c: ListObjects (v1) and ListObjectsV2 over the catalog's current
 * versions. The catalog does the scan (prefix, delimiter, start-after,
 * max-keys); this file validates parameters and renders AWS's XML.
 * ContinuationToken is the base64 of the last key or prefix returned: opaque
 * to clients, and resuming from it is the same as start-after. */
#include "gw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_LIST_MAX_KEYS 1000

struct list_args {
    const char *prefix; size_t prefix_len;
    const char *delim; size_t delim_len;
    const char *start; size_t start_len;   /* marker / start-after */
    char *token_key; size_t token_len;     /* decoded continuation token */
    long max_keys;
    int url;                               /* encoding-type=url */
    int v2;
    int fetch_owner;
};

static const char *qval(const struct gw_req *req, const char *name,
                        size_t *len)
{
    const struct gw_qparam *q = gw_req_qparam(req, name);
    if (q == NULL) {
        *len = 0;
        return NULL;
    }
    *len = q->value_len;
    return q->value;
}

/* Writes <name>value</name>, URL-encoded when the client asked for it. */
static void elem_enc(struct gw_xbuf *x, const char *name, const char *v,
                     size_t n, int url)
{
    gw_xbuf_printf(x, "<%s>", name);
    if (url) gw_xbuf_urlenc(x, v, n);
    else gw_xbuf_esc(x, v, n);
    gw_xbuf_printf(x, "</%s>", name);
}

static int parse_args(struct gw_req *req, struct list_args *a)
{
    const char *v;
    size_t n;

    memset(a, 0, sizeof(*a));
    a->v2 = req->op == GW_OP_LIST_OBJECTS_V2;
    a->prefix = qval(req, "prefix", &a->prefix_len);
    a->delim = qval(req, "delimiter", &a->delim_len);
    a->max_keys = GW_LIST_MAX_KEYS;
    v = qval(req, "max-keys", &n);
    if (v) {
        char *end;
        long mk;
        if (n == 0 || n > 10) goto bad_max;
        mk = strtol(v, &end, 10);
        if (end != v + n || mk < 0) goto bad_max;
        a->max_keys = mk > GW_LIST_MAX_KEYS ? GW_LIST_MAX_KEYS : mk;
    }
    v = qval(req, "encoding-type", &n);
    if (v) {
        if (n != 3 || memcmp(v, "url", 3) != 0) {
            gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                          "Invalid Encoding Method specified in Request");
            return -1;
        }
        a->url = 1;
    }
    if (a->v2) {
        const char *tok = qval(req, "continuation-token", &n);
        a->fetch_owner = (v = qval(req, "fetch-owner", &n)) != NULL &&
                         n == 4 && memcmp(v, "true", 4) == 0;
        if (tok) {
            long dl;
            size_t tl = strlen(tok);
            a->token_key = malloc(tl + 1);
            if (a->token_key == NULL) goto oom;
            dl = tl ? cf_base64_decode(tok, tl, a->token_key, tl) : -1;
            if (dl < 0) {
                gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                              "The continuation token provided is incorrect");
                return -1;
            }
            a->token_len = (size_t)dl;
            a->start = a->token_key;
            a->start_len = a->token_len;
        } else {
            a->start = qval(req, "start-after", &a->start_len);
        }
    } else {
        a->start = qval(req, "marker", &a->start_len);
    }
    return 0;
bad_max:
    gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                  "Provided max-keys not an integer or within integer range");
    return -1;
oom:
    gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
    return -1;
}

static void list_work(struct gw_req *req)
{
    struct list_args a;
    struct meta_bucket b;
    struct meta_list_params p;
    struct meta_list_result r;
    struct gw_xbuf *x = &req->resp.body;
    enum meta_status st;
    size_t i, nkeys = 0;

    memset(&r, 0, sizeof(r));
    if (parse_args(req, &a) != 0) goto out;
    st = meta_bucket_get(req->srv->db, req->bucket, &b);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        goto out;
    }
    gw_cors_actual(req);
    if (!gw_may_access(req, &b)) {
        gw_resp_error(&req->resp, GW_E_ACCESS_DENIED, NULL);
        goto out;
    }
    memset(&p, 0, sizeof(p));
    p.prefix = a.prefix ? a.prefix : "";
    p.prefix_len = a.prefix_len;
    p.delimiter = a.delim ? a.delim : "";
    p.delimiter_len = a.delim_len;
    p.start_after = a.start ? a.start : "";
    p.start_after_len = a.start_len;
    p.max_keys = (size_t)a.max_keys;
    st = meta_list_objects(req->srv->db, req->bucket, &p, &r);
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        goto out;
    }

    gw_xbuf_str(x, GW_XML_DECL "<ListBucketResult xmlns=\"http://s3."
                   "amazonaws.com/doc/2006-03-01/\">");
    gw_xbuf_elem(x, "Name", req->bucket, strlen(req->bucket));
    elem_enc(x, "Prefix", p.prefix, p.prefix_len, a.url);
    if (a.v2) {
        const struct gw_qparam *tok = gw_req_qparam(req, "continuation-token");
        const struct gw_qparam *sa = gw_req_qparam(req, "start-after");
        if (tok) gw_xbuf_elem(x, "ContinuationToken", tok->value,
                              tok->value_len);
        if (sa) elem_enc(x, "StartAfter", sa->value, sa->value_len, a.url);
    } else {
        elem_enc(x, "Marker", p.start_after, p.start_after_len, a.url);
    }
    for (i = 0; i < r.nentries; i++) nkeys++;
    if (a.v2) gw_xbuf_printf(x, "<KeyCount>%zu</KeyCount>", nkeys);
    gw_xbuf_printf(x, "<MaxKeys>%ld</MaxKeys>", a.max_keys);
    if (a.delim) elem_enc(x, "Delimiter", a.delim, a.delim_len, a.url);
    if (a.url) gw_xbuf_str(x, "<EncodingType>url</EncodingType>");
    gw_xbuf_printf(x, "<IsTruncated>%s</IsTruncated>",
                   r.truncated ? "true" : "false");
    if (r.truncated && a.v2) {
        char *tok = malloc(4 * ((r.next_marker_len + 2) / 3) + 1);
        if (tok == NULL) {
            gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
            goto out;
        }
        cf_base64_encode(r.next_marker, r.next_marker_len, tok);
        gw_xbuf_elem(x, "NextContinuationToken", tok, strlen(tok));
        free(tok);
    } else if (r.truncated && a.delim) {
        /* v1 returns NextMarker only when a delimiter was given. */
        elem_enc(x, "NextMarker", r.next_marker, r.next_marker_len, a.url);
    }
    for (i = 0; i < r.nentries; i++) {
        const struct meta_list_entry *e = &r.entries[i];
        char date[CF_ISO8601_LEN];
        if (e->is_prefix) continue;
        cf_fmt_iso8601_ms(e->mtime_ms, date);
        gw_xbuf_str(x, "<Contents>");
        elem_enc(x, "Key", e->key, e->key_len, a.url);
        gw_xbuf_elem(x, "LastModified", date, strlen(date));
        gw_xbuf_str(x, "<ETag>&quot;");
        gw_xbuf_esc(x, e->etag, strlen(e->etag));
        gw_xbuf_str(x, "&quot;</ETag>");
        gw_xbuf_printf(x, "<Size>%llu</Size>", (unsigned long long)e->size);
        if (!a.v2 || a.fetch_owner) gw_owner_xml(req, x, b.owner);
        gw_xbuf_str(x, "<StorageClass>STANDARD</StorageClass></Contents>");
    }
    for (i = 0; i < r.nentries; i++) {
        const struct meta_list_entry *e = &r.entries[i];
        if (!e->is_prefix) continue;
        gw_xbuf_str(x, "<CommonPrefixes>");
        elem_enc(x, "Prefix", e->key, e->key_len, a.url);
        gw_xbuf_str(x, "</CommonPrefixes>");
    }
    gw_xbuf_str(x, "</ListBucketResult>");
    if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
out:
    meta_list_result_cleanup(&r);
    free(a.token_key);
}

void gw_h_list_objects(struct gw_req *req)
{
    gw_req_post(req, list_work, gw_done_respond);
}

/* ---- ListObjectVersions ---- */

static void list_versions_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct meta_list_params p;
    struct meta_versions_result r;
    struct gw_xbuf *x = &req->resp.body;
    const struct gw_qparam *pre = gw_req_qparam(req, "prefix");
    const struct gw_qparam *del = gw_req_qparam(req, "delimiter");
    const struct gw_qparam *km = gw_req_qparam(req, "key-marker");
    const struct gw_qparam *vm = gw_req_qparam(req, "version-id-marker");
    struct list_args a;
    enum meta_status st;
    size_t i;

    memset(&r, 0, sizeof(r));
    if (parse_args(req, &a) != 0) goto out; /* max-keys, encoding-type */
    st = meta_bucket_get(req->srv->db, req->bucket, &b);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        goto out;
    }
    gw_cors_actual(req);
    if (!gw_may_access(req, &b)) {
        gw_resp_error(&req->resp, GW_E_ACCESS_DENIED, NULL);
        goto out;
    }
    if (vm && vm->value_len && (km == NULL || km->value_len == 0)) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "A version-id marker cannot be specified without a key "
                      "marker.");
        goto out;
    }
    memset(&p, 0, sizeof(p));
    p.prefix = pre ? pre->value : "";
    p.prefix_len = pre ? pre->value_len : 0;
    p.delimiter = del ? del->value : "";
    p.delimiter_len = del ? del->value_len : 0;
    p.start_after = km ? km->value : "";
    p.start_after_len = km ? km->value_len : 0;
    p.max_keys = (size_t)a.max_keys;
    st = meta_list_versions(req->srv->db, req->bucket, &p,
                            vm ? vm->value : NULL, &r);
    if (st != META_OK) {
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
        goto out;
    }
    gw_xbuf_str(x, GW_XML_DECL "<ListVersionsResult xmlns=\"http://s3."
                   "amazonaws.com/doc/2006-03-01/\">");
    gw_xbuf_elem(x, "Name", req->bucket, strlen(req->bucket));
    elem_enc(x, "Prefix", p.prefix, p.prefix_len, a.url);
    elem_enc(x, "KeyMarker", p.start_after, p.start_after_len, a.url);
    gw_xbuf_elem(x, "VersionIdMarker", vm ? vm->value : "",
                 vm ? vm->value_len : 0);
    if (r.truncated) {
        elem_enc(x, "NextKeyMarker", r.next_key, r.next_key_len, a.url);
        if (r.next_version_id[0])
            gw_xbuf_elem(x, "NextVersionIdMarker", r.next_version_id,
                         strlen(r.next_version_id));
    }
    gw_xbuf_printf(x, "<MaxKeys>%ld</MaxKeys>", a.max_keys);
    if (del) elem_enc(x, "Delimiter", del->value, del->value_len, a.url);
    if (a.url) gw_xbuf_str(x, "<EncodingType>url</EncodingType>");
    gw_xbuf_printf(x, "<IsTruncated>%s</IsTruncated>",
                   r.truncated ? "true" : "false");
    for (i = 0; i < r.n; i++) {
        const struct meta_version_entry *e = &r.entries[i];
        char date[CF_ISO8601_LEN];
        if (e->is_prefix) continue;
        cf_fmt_iso8601_ms(e->mtime_ms, date);
        gw_xbuf_str(x, e->delete_marker ? "<DeleteMarker>" : "<Version>");
        elem_enc(x, "Key", e->key, e->key_len, a.url);
        gw_xbuf_elem(x, "VersionId", e->version_id, strlen(e->version_id));
        gw_xbuf_printf(x, "<IsLatest>%s</IsLatest>",
                       e->is_latest ? "true" : "false");
        gw_xbuf_elem(x, "LastModified", date, strlen(date));
        if (!e->delete_marker) {
            gw_xbuf_printf(x, "<ETag>&quot;%s&quot;</ETag><Size>%llu</Size>"
                              "<StorageClass>STANDARD</StorageClass>",
                           e->etag, (unsigned long long)e->size);
        }
        gw_owner_xml(req, x, b.owner);
        gw_xbuf_str(x, e->delete_marker ? "</DeleteMarker>" : "</Version>");
    }
    for (i = 0; i < r.n; i++) {
        const struct meta_version_entry *e = &r.entries[i];
        if (!e->is_prefix) continue;
        gw_xbuf_str(x, "<CommonPrefixes>");
        elem_enc(x, "Prefix", e->key, e->key_len, a.url);
        gw_xbuf_str(x, "</CommonPrefixes>");
    }
    gw_xbuf_str(x, "</ListVersionsResult>");
    if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
out:
    meta_versions_result_cleanup(&r);
    free(a.token_key);
}

void gw_h_list_versions(struct gw_req *req)
{
    gw_req_post(req, list_versions_work, gw_done_respond);
}
