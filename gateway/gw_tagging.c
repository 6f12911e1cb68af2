/* gw_tagging.c: object tagging — Put/Get/DeleteObjectTagging (with
 * versionId), x-amz-tagging on PutObject, x-amz-tagging-directive on
 * CopyObject, x-amz-tagging-count on GET/HEAD — and bucket tagging
 * (Put/Get/DeleteBucketTagging).
 * Object tags are kept with the version as one stored entry
 * (GW_TAGS_HEADER, never sent as a header), bucket tags in the bucket
 * record (META_BATTR_TAGS); both hold the URL-encoded "k=v&k=v" form.
 * S3's limits: at most 10 tags per object and 50 per bucket, keys 1..128
 * and values 0..256 characters, unique keys, no "aws:" prefix →
 * InvalidTag. */
#include "gw_int.h"
#include "ol.h"
#include "gw_sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_TAGS_MAX 10         /* per object */
#define GW_BUCKET_TAGS_MAX 50  /* per bucket */
#define GW_TAG_KEY_MAX 128
#define GW_TAG_VALUE_MAX 256

struct tagset {
    char *k[GW_XML_TAGS_MAX];
    char *v[GW_XML_TAGS_MAX];
    size_t n;
};

static void tagset_free(struct tagset *t)
{
    size_t i;
    for (i = 0; i < t->n; i++) {
        free(t->k[i]);
        free(t->v[i]);
    }
    t->n = 0;
}

/* UTF-8 characters in s, or -1 if s is not valid UTF-8. */
static long utf8_chars(const char *s)
{
    long n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2
                              : (*p & 0xf0) == 0xe0 ? 3
                              : (*p & 0xf8) == 0xf0 ? 4 : 0;
        int i;
        if (len == 0) return -1;
        for (i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80) return -1;
        p += len;
        n++;
    }
    return n;
}

/* max: GW_TAGS_MAX or GW_BUCKET_TAGS_MAX; too_many: the XML held more
 * tags than it kept. */
static int validate_max(struct gw_req *req, const struct tagset *t,
                        size_t max, int too_many)
{
    size_t i, j;
    const char *msg = NULL;

    if (t->n > max || too_many)
        msg = max == GW_TAGS_MAX ? "Object tags cannot be greater than 10"
                                 : "Bucket tag count cannot be greater than "
                                   "50";
    for (i = 0; i < t->n && !msg; i++) {
        long kl = utf8_chars(t->k[i]), vl = utf8_chars(t->v[i]);
        if (kl < 1 || kl > GW_TAG_KEY_MAX) msg = "The TagKey you have provided "
                                                 "is invalid";
        else if (vl < 0 || vl > GW_TAG_VALUE_MAX)
            msg = "The TagValue you have provided is invalid";
        else if (strncmp(t->k[i], "aws:", 4) == 0)
            msg = "Your TagKey cannot be prefixed with aws:";
        for (j = 0; j < i && !msg; j++)
            if (strcmp(t->k[i], t->k[j]) == 0)
                msg = "Cannot provide multiple Tags with the same key";
    }
    if (msg) {
        gw_resp_error(&req->resp, GW_E_INVALID_TAG, msg);
        return -1;
    }
    return 0;
}

static int validate(struct gw_req *req, const struct tagset *t)
{
    return validate_max(req, t, GW_TAGS_MAX, 0);
}

/* "k=v&k2=v2" (URL-encoded) → tagset. 0 or -1. */
static int parse_query_form(const char *s, size_t n, struct tagset *t)
{
    const char *p = s, *end = s + n;
    memset(t, 0, sizeof(*t));
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *se = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(se - p));
        size_t l;
        if (se > p) {
            if (t->n == GW_XML_TAGS_MAX) return -1;
            if (gw_url_decode(p, (size_t)((eq ? eq : se) - p), &t->k[t->n],
                              &l, 1) != 0)
                return -1;
            if (gw_url_decode(eq ? eq + 1 : se, eq ? (size_t)(se - eq - 1) : 0,
                              &t->v[t->n], &l, 1) != 0) {
                free(t->k[t->n]);
                return -1;
            }
            t->n++;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

static char *encode(const struct tagset *t)
{
    struct gw_xbuf b = { 0 };
    size_t i;
    for (i = 0; i < t->n; i++) {
        char tmp[3 * 1024 + 1];
        long w;
        if (i) gw_xbuf_raw(&b, "&", 1);
        w = gw_sigv4_uri_encode(t->k[i], strlen(t->k[i]), 0, tmp, sizeof(tmp));
        if (w < 0) goto fail;
        gw_xbuf_raw(&b, tmp, (size_t)w);
        gw_xbuf_raw(&b, "=", 1);
        w = gw_sigv4_uri_encode(t->v[i], strlen(t->v[i]), 0, tmp, sizeof(tmp));
        if (w < 0) goto fail;
        gw_xbuf_raw(&b, tmp, (size_t)w);
    }
    if (b.oom) goto fail;
    if (b.p == NULL) return strdup("");
    return b.p;
fail:
    gw_xbuf_cleanup(&b);
    return NULL;
}

static const char *stored_tags(const struct meta_version *v)
{
    size_t i;
    for (i = 0; i < v->nheaders; i++)
        if (strcmp(v->headers[i].name, GW_TAGS_HEADER) == 0)
            return v->headers[i].value;
    return NULL;
}

int gw_version_tags(const struct meta_version *v, struct ol_lc_tag *out,
                    size_t max, size_t *n)
{
    const char *s = stored_tags(v);
    struct tagset t;
    size_t i;

    *n = 0;
    if (s == NULL || *s == '\0') return 0;
    if (parse_query_form(s, strlen(s), &t) != 0 || t.n > max) {
        for (i = 0; i < t.n; i++) {
            free(t.k[i]);
            free(t.v[i]);
        }
        return -1;
    }
    for (i = 0; i < t.n; i++) {
        out[i].key = t.k[i];
        out[i].value = t.v[i];
    }
    *n = t.n;
    return 0;
}

size_t gw_tag_count(const struct meta_version *v)
{
    const char *s = stored_tags(v);
    size_t n = 0;
    if (s == NULL || *s == '\0') return 0;
    for (n = 1; *s; s++)
        if (*s == '&') n++;
    return n;
}

/* Replaces (or, with enc NULL, removes) the tags entry of v. */
static int set_tags(struct meta_version *v, char *enc)
{
    size_t i;
    for (i = 0; i < v->nheaders; i++)
        if (strcmp(v->headers[i].name, GW_TAGS_HEADER) == 0) {
            free(v->headers[i].value);
            if (enc) {
                v->headers[i].value = enc;
                return 0;
            }
            free(v->headers[i].name);
            v->headers[i] = v->headers[--v->nheaders];
            return 0;
        }
    if (enc == NULL) return 0;
    {
        struct meta_kv *kv = realloc(v->headers,
                                     (v->nheaders + 1) * sizeof(*kv));
        if (kv == NULL) return -1;
        v->headers = kv;
        kv[v->nheaders].name = strdup(GW_TAGS_HEADER);
        kv[v->nheaders].value = enc;
        if (kv[v->nheaders].name == NULL) return -1;
        v->nheaders++;
    }
    return 0;
}

int gw_tagging_for_put(struct gw_req *req, struct meta_version *v)
{
    size_t n;
    const char *h = gw_req_header(req, "x-amz-tagging", &n);
    struct tagset t;
    char *enc;

    if (h == NULL) return 0;
    if (parse_query_form(h, n, &t) != 0) {
        tagset_free(&t);
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "The header 'x-amz-tagging' shall be encoded as UTF-8 "
                      "then URLEncoded URL query parameters without tag name "
                      "duplicates.");
        return -1;
    }
    if (validate(req, &t) != 0) {
        tagset_free(&t);
        return -1;
    }
    enc = encode(&t);
    tagset_free(&t);
    if (enc == NULL || set_tags(v, enc) != 0) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return -1;
    }
    return 0;
}

static const char *vid_of(const struct gw_req *req)
{
    const struct gw_qparam *q = gw_req_qparam(req, "versionId");
    return q ? q->value : NULL;
}

struct tag_change {
    char *enc;          /* new encoded tags, or NULL to delete; owned */
    char version[META_VERSION_ID_MAX + 1];
    int marker;
};

static int apply_tags(struct meta_version *v, void *arg)
{
    struct tag_change *c = arg;
    if (v->delete_marker) {
        c->marker = 1;
        return 1;
    }
    snprintf(c->version, sizeof(c->version), "%s", v->version_id);
    if (set_tags(v, c->enc) != 0) return 1;
    c->enc = NULL; /* now owned by v */
    return 0;
}

static void change_tags(struct gw_req *req, char *enc)
{
    struct meta_bucket b;
    struct tag_change c;
    enum meta_status st;

    memset(&c, 0, sizeof(c));
    c.enc = enc;
    if (gw_bucket_check(req, &b) != 0) goto out;
    st = meta_object_update(req->srv->db, req->bucket, req->key, req->key_len,
                            vid_of(req), apply_tags, &c);
    if (st == META_ENOTFOUND)
        gw_resp_error(&req->resp, vid_of(req) ? GW_E_NO_SUCH_VERSION
                                              : GW_E_NO_SUCH_KEY, NULL);
    else if (st == META_EDENIED && c.marker)
        gw_resp_error(&req->resp, GW_E_METHOD_NOT_ALLOWED, NULL);
    else if (st != META_OK)
        gw_resp_error(&req->resp, gw_err_from_meta(st), NULL);
    else if (req->versioning != META_VERSIONING_OFF)
        gw_resp_header(&req->resp, "x-amz-version-id", "%s", c.version);
out:
    free(c.enc);
}

static void put_tagging_work(struct gw_req *req)
{
    struct gw_xml_tags x;
    struct tagset t;
    size_t i;
    char *enc;

    if (gw_xml_parse_tagging(req->xml.p ? req->xml.p : "", req->xml.len,
                             &x) != GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    memset(&t, 0, sizeof(t));
    for (i = 0; i < x.n; i++) {
        t.k[i] = x.tags[i].key;
        t.v[i] = x.tags[i].value;
    }
    t.n = x.n;
    if (validate_max(req, &t, GW_TAGS_MAX, x.too_many) != 0) {
        gw_xml_tags_cleanup(&x);
        return;
    }
    enc = encode(&t);
    gw_xml_tags_cleanup(&x);
    if (enc == NULL) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return;
    }
    change_tags(req, enc);
}

void gw_h_put_tagging(struct gw_req *req)
{
    gw_req_post(req, put_tagging_work, gw_done_respond);
}

static void delete_tagging_work(struct gw_req *req)
{
    change_tags(req, NULL);
    if (req->resp.err == GW_E_NONE) req->resp.status = 204;
}

void gw_h_delete_tagging(struct gw_req *req)
{
    gw_req_post(req, delete_tagging_work, gw_done_respond);
}

static void get_tagging_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct meta_version v;
    struct tagset t;
    struct gw_xbuf *x = &req->resp.body;
    enum meta_status st;
    const char *s;
    size_t i;

    if (gw_bucket_check(req, &b) != 0) return;
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
        if (st == META_OK) meta_version_cleanup(&v);
        return;
    }
    s = stored_tags(&v);
    memset(&t, 0, sizeof(t));
    if (s && parse_query_form(s, strlen(s), &t) != 0) {
        tagset_free(&t);
        meta_version_cleanup(&v);
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return;
    }
    if (req->versioning != META_VERSIONING_OFF)
        gw_resp_header(&req->resp, "x-amz-version-id", "%s", v.version_id);
    gw_xbuf_str(x, GW_XML_DECL "<Tagging xmlns=\"http://s3.amazonaws.com/doc/"
                   "2006-03-01/\"><TagSet>");
    for (i = 0; i < t.n; i++) {
        gw_xbuf_str(x, "<Tag>");
        gw_xbuf_elem(x, "Key", t.k[i], strlen(t.k[i]));
        gw_xbuf_elem(x, "Value", t.v[i], strlen(t.v[i]));
        gw_xbuf_str(x, "</Tag>");
    }
    gw_xbuf_str(x, "</TagSet></Tagging>");
    tagset_free(&t);
    meta_version_cleanup(&v);
}

void gw_h_get_tagging(struct gw_req *req)
{
    gw_req_post(req, get_tagging_work, gw_done_respond);
}

/* ---- x-amz-tagging-directive on CopyObject ---- */

int gw_tagging_for_copy(struct gw_req *req, const struct meta_version *src,
                        struct meta_version *dst)
{
    size_t n;
    const char *d = gw_req_header(req, "x-amz-tagging-directive", &n);
    const char *s;
    char *enc;

    if (d && !(n == 4 && memcmp(d, "COPY", 4) == 0) &&
        !(n == 7 && memcmp(d, "REPLACE", 7) == 0)) {
        gw_resp_error(&req->resp, GW_E_INVALID_ARGUMENT,
                      "Unknown tagging directive.");
        return -1;
    }
    if (set_tags(dst, NULL) != 0) goto out_oom;
    if (d && n == 7) /* REPLACE: the request's x-amz-tagging, or none */
        return gw_tagging_for_put(req, dst);
    s = stored_tags(src); /* COPY (the default): the source's tags */
    if (s == NULL) return 0;
    enc = strdup(s);
    if (enc == NULL || set_tags(dst, enc) != 0) {
        free(enc);
        goto out_oom;
    }
    return 0;
out_oom:
    gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
    return -1;
}

/* ---- Put/Get/DeleteBucketTagging ---- */

static void put_bucket_tagging_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct gw_xml_tags x;
    struct tagset t;
    enum meta_status st;
    size_t i, hl;
    const char *h;
    char *enc;

    if (gw_bucket_check(req, &b) != 0) return;
    h = gw_req_header(req, "content-md5", &hl);
    if (h) {
        unsigned char want[16], got[16];
        unsigned int dl;
        if (cf_base64_decode(h, hl, want, sizeof(want)) != 16) {
            gw_resp_error(&req->resp, GW_E_INVALID_DIGEST, NULL);
            return;
        }
        EVP_Digest(req->xml.p ? req->xml.p : "", req->xml.len, got, &dl,
                   EVP_md5(), NULL);
        if (CRYPTO_memcmp(want, got, 16) != 0) {
            gw_resp_error(&req->resp, GW_E_BAD_DIGEST, NULL);
            return;
        }
    }
    if (gw_xml_parse_tagging(req->xml.p ? req->xml.p : "", req->xml.len,
                             &x) != GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    memset(&t, 0, sizeof(t));
    for (i = 0; i < x.n; i++) {
        t.k[i] = x.tags[i].key;
        t.v[i] = x.tags[i].value;
    }
    t.n = x.n;
    if (validate_max(req, &t, GW_BUCKET_TAGS_MAX, x.too_many) != 0) {
        gw_xml_tags_cleanup(&x);
        return;
    }
    enc = encode(&t);
    gw_xml_tags_cleanup(&x);
    if (enc == NULL) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return;
    }
    st = meta_bucket_attr_set(req->srv->db, req->bucket, META_BATTR_TAGS,
                              enc, strlen(enc));
    free(enc);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        return;
    }
    req->resp.status = 204;
}

void gw_h_put_bucket_tagging(struct gw_req *req)
{
    gw_req_post(req, put_bucket_tagging_work, gw_done_respond);
}

static void get_bucket_tagging_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct tagset t;
    struct gw_xbuf *x = &req->resp.body;
    enum meta_status st;
    char *s = NULL;
    size_t n = 0, i;

    if (gw_bucket_check(req, &b) != 0) return;
    st = meta_bucket_attr_get(req->srv->db, req->bucket, META_BATTR_TAGS, &s,
                              &n);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        return;
    }
    if (s == NULL) {
        gw_resp_error(&req->resp, GW_E_NO_SUCH_TAG_SET, NULL);
        return;
    }
    if (parse_query_form(s, n, &t) != 0) {
        tagset_free(&t);
        free(s);
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        return;
    }
    free(s);
    gw_xbuf_str(x, GW_XML_DECL "<Tagging xmlns=\"http://s3.amazonaws.com/doc/"
                   "2006-03-01/\"><TagSet>");
    for (i = 0; i < t.n; i++) {
        gw_xbuf_str(x, "<Tag>");
        gw_xbuf_elem(x, "Key", t.k[i], strlen(t.k[i]));
        gw_xbuf_elem(x, "Value", t.v[i], strlen(t.v[i]));
        gw_xbuf_str(x, "</Tag>");
    }
    gw_xbuf_str(x, "</TagSet></Tagging>");
    tagset_free(&t);
    if (x->oom) gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
}

void gw_h_get_bucket_tagging(struct gw_req *req)
{
    gw_req_post(req, get_bucket_tagging_work, gw_done_respond);
}

static void delete_bucket_tagging_work(struct gw_req *req)
{
    gw_bucket_doc_delete(req, META_BATTR_TAGS);
}

void gw_h_delete_bucket_tagging(struct gw_req *req)
{
    gw_req_post(req, delete_bucket_tagging_work, gw_done_respond);
}
