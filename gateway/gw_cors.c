/* gw_cors.c: cross-origin resource sharing — Put/Get/DeleteBucketCors,
 * the preflight OPTIONS request, and the Access-Control-* headers of
 * actual requests that carry an Origin.
 *
 * The rules are validated on PUT (S3's limits: at most 100 rules, methods
 * GET PUT HEAD POST DELETE, at most one '*' in an AllowedOrigin or
 * AllowedHeader, no '*' in an ExposeHeader, a body of at most 64 KiB) and
 * stored as canonical CORSConfiguration XML in the bucket record
 * (META_BATTR_CORS): GetBucketCors returns it as stored, and matching
 * parses it again with the same parser, so what is matched is exactly what
 * GetBucketCors shows.
 *
 * Matching (AWS "How does Amazon S3 evaluate the CORS configuration"): the
 * first rule whose AllowedOrigin matches the Origin (exactly, or around
 * its single '*'), whose AllowedMethod holds the method (the
 * Access-Control-Request-Method of a preflight, else the request's own)
 * and, for a preflight, whose AllowedHeader patterns match every header of
 * Access-Control-Request-Headers (case-insensitively). Preflights are
 * anonymous, as on AWS: they reveal only what the rules allow. */
#include "gw_int.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GW_CORS_MAX_BYTES (64 * 1024) /* AWS: CORS configuration size */
#define GW_CORS_RULES_MAX 100
#define GW_CORS_VARY "Origin, Access-Control-Request-Headers, " \
                     "Access-Control-Request-Method"

static const char *const cors_methods[] = { "GET", "PUT", "HEAD", "POST",
                                            "DELETE", NULL };

static int wildcards(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (*s == '*') n++;
    return n;
}

/* The S3 checks PutBucketCors makes beyond the XML structure; 0 or -1
 * with the error set. */
static int validate(struct gw_req *req, const struct gw_xml_cors *c)
{
    char msg[256];
    size_t i, j;
    int k;

    if (c->n > GW_CORS_RULES_MAX) {
        gw_resp_error(&req->resp, GW_E_INVALID_REQUEST,
                      "The number of CORS rules should not exceed allowed "
                      "limit of 100 rules.");
        return -1;
    }
    for (i = 0; i < c->n; i++) {
        const struct gw_xml_cors_rule *r = &c->rules[i];
        for (j = 0; j < r->methods.n; j++) {
            for (k = 0; cors_methods[k]; k++)
                if (strcmp(r->methods.v[j], cors_methods[k]) == 0) break;
            if (cors_methods[k] == NULL) {
                snprintf(msg, sizeof(msg), "Found unsupported HTTP method in "
                         "CORS config. Unsupported method is %.64s",
                         r->methods.v[j]);
                goto invalid;
            }
        }
        for (j = 0; j < r->origins.n; j++)
            if (wildcards(r->origins.v[j]) > 1) {
                snprintf(msg, sizeof(msg), "AllowedOrigin \"%.128s\" can not "
                         "have more than one wildcard.", r->origins.v[j]);
                goto invalid;
            }
        for (j = 0; j < r->headers.n; j++)
            if (wildcards(r->headers.v[j]) > 1) {
                snprintf(msg, sizeof(msg), "AllowedHeader \"%.128s\" can not "
                         "have more than one wildcard.", r->headers.v[j]);
                goto invalid;
            }
        for (j = 0; j < r->expose.n; j++)
            if (wildcards(r->expose.v[j]) > 0) {
                snprintf(msg, sizeof(msg), "ExposeHeader \"%.128s\" contains "
                         "a wildcard. Wildcards are currently not supported "
                         "for ExposeHeader.", r->expose.v[j]);
                goto invalid;
            }
    }
    return 0;
invalid:
    gw_resp_error(&req->resp, GW_E_INVALID_REQUEST, msg);
    return -1;
}

/* Canonical XML of validated rules: what is stored and returned. */
static void render(struct gw_xbuf *x, const struct gw_xml_cors *c)
{
    size_t i, j;

    gw_xbuf_str(x, GW_XML_DECL "<CORSConfiguration xmlns=\"http://s3."
                   "amazonaws.com/doc/2006-03-01/\">");
    for (i = 0; i < c->n; i++) {
        const struct gw_xml_cors_rule *r = &c->rules[i];
        gw_xbuf_str(x, "<CORSRule>");
        if (r->id && r->id[0]) gw_xbuf_elem(x, "ID", r->id, strlen(r->id));
        for (j = 0; j < r->headers.n; j++)
            gw_xbuf_elem(x, "AllowedHeader", r->headers.v[j],
                         strlen(r->headers.v[j]));
        for (j = 0; j < r->methods.n; j++)
            gw_xbuf_elem(x, "AllowedMethod", r->methods.v[j],
                         strlen(r->methods.v[j]));
        for (j = 0; j < r->origins.n; j++)
            gw_xbuf_elem(x, "AllowedOrigin", r->origins.v[j],
                         strlen(r->origins.v[j]));
        for (j = 0; j < r->expose.n; j++)
            gw_xbuf_elem(x, "ExposeHeader", r->expose.v[j],
                         strlen(r->expose.v[j]));
        if (r->max_age >= 0)
            gw_xbuf_printf(x, "<MaxAgeSeconds>%ld</MaxAgeSeconds>",
                           r->max_age);
        gw_xbuf_str(x, "</CORSRule>");
    }
    gw_xbuf_str(x, "</CORSConfiguration>");
}

/* Does value (n bytes) match pattern, exactly or around its single '*'?
 * fold: compare ASCII case-insensitively (header names). */
static int pattern_match(const char *pat, const char *value, size_t n,
                         int fold)
{
    const char *star = strchr(pat, '*');
    size_t pl = strlen(pat), pre, suf;
    int (*cmp)(const char *, const char *, size_t) = fold ? strncasecmp
                                                          : strncmp;
    if (star == NULL) return pl == n && cmp(pat, value, n) == 0;
    pre = (size_t)(star - pat);
    suf = pl - pre - 1;
    return n >= pre + suf && cmp(pat, value, pre) == 0 &&
           cmp(star + 1, value + n - suf, suf) == 0;
}

/* Each name of a comma-separated header list matches some pattern of
 * r->headers. */
static int headers_allowed(const struct gw_xml_cors_rule *r, const char *h,
                           size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t s, e, j;
        int ok = 0;
        while (i < n && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) i++;
        s = i;
        while (i < n && h[i] != ',') i++;
        e = i;
        while (e > s && (h[e - 1] == ' ' || h[e - 1] == '\t')) e--;
        if (e == s) continue;
        for (j = 0; j < r->headers.n && !ok; j++)
            ok = pattern_match(r->headers.v[j], h + s, e - s, 1);
        if (!ok) return 0;
    }
    return 1;
}

/* The first rule allowing (origin, method[, request headers]), or NULL. */
static const struct gw_xml_cors_rule *
find_rule(const struct gw_xml_cors *c, const char *origin, size_t olen,
          const char *method, size_t mlen, const char *hdrs, size_t hlen)
{
    size_t i, j;
    for (i = 0; i < c->n; i++) {
        const struct gw_xml_cors_rule *r = &c->rules[i];
        int ok = 0;
        for (j = 0; j < r->methods.n && !ok; j++)
            ok = strlen(r->methods.v[j]) == mlen &&
                 memcmp(r->methods.v[j], method, mlen) == 0;
        if (!ok) continue;
        ok = 0;
        for (j = 0; j < r->origins.n && !ok; j++)
            ok = pattern_match(r->origins.v[j], origin, olen, 0);
        if (!ok) continue;
        if (hdrs && !headers_allowed(r, hdrs, hlen)) continue;
        return r;
    }
    return NULL;
}

static void join(struct gw_xbuf *b, const struct gw_xml_strs *l)
{
    size_t i;
    for (i = 0; i < l->n; i++) {
        if (i) gw_xbuf_raw(b, ", ", 2);
        gw_xbuf_str(b, l->v[i]);
    }
}

/* Header values come from the stored rules and the request's own header
 * lines: neither holds CR or LF (the parser refuses them in headers, the
 * XML parser normalises line ends, and rules with them would never
 * match); checked again here so nothing can split a response header. */
static void add_header(struct gw_req *req, const char *name, const char *v,
                       size_t n)
{
    if (memchr(v, '\r', n) || memchr(v, '\n', n)) return;
    gw_resp_header(&req->resp, name, "%.*s", (int)n, v);
}

/* The Access-Control-* headers of a matched rule. req_hdrs: the
 * preflight's Access-Control-Request-Headers (echoed back), or NULL. */
static void rule_headers(struct gw_req *req, const struct gw_xml_cors_rule *r,
                         const char *origin, size_t olen,
                         const char *req_hdrs, size_t rhlen)
{
    struct gw_xbuf b = { 0 };
    size_t j;
    int any = 0;

    for (j = 0; j < r->origins.n; j++)
        if (strcmp(r->origins.v[j], "*") == 0) any = 1;
    if (any) {
        gw_resp_header(&req->resp, "Access-Control-Allow-Origin", "*");
    } else {
        add_header(req, "Access-Control-Allow-Origin", origin, olen);
        gw_resp_header(&req->resp, "Access-Control-Allow-Credentials",
                       "true");
    }
    join(&b, &r->methods);
    if (b.len && !b.oom)
        add_header(req, "Access-Control-Allow-Methods", b.p, b.len);
    gw_xbuf_cleanup(&b);
    if (req_hdrs && rhlen) {
        /* echoed in lower case, as S3 does */
        char *lc = malloc(rhlen);
        if (lc) {
            for (j = 0; j < rhlen; j++)
                lc[j] = (req_hdrs[j] >= 'A' && req_hdrs[j] <= 'Z')
                            ? (char)(req_hdrs[j] - 'A' + 'a')
                            : req_hdrs[j];
            add_header(req, "Access-Control-Allow-Headers", lc, rhlen);
            free(lc);
        }
    }
    if (r->expose.n) {
        join(&b, &r->expose);
        if (!b.oom)
            add_header(req, "Access-Control-Expose-Headers", b.p, b.len);
        gw_xbuf_cleanup(&b);
    }
    if (r->max_age >= 0)
        gw_resp_header(&req->resp, "Access-Control-Max-Age", "%ld",
                       r->max_age);
    gw_resp_header(&req->resp, "Vary", GW_CORS_VARY);
}

/* The bucket's stored rules, parsed. 1 when there are some, 0 when none,
 * -1 on a catalog error (logged). Worker. */
static int load_rules(struct gw_req *req, struct gw_xml_cors *c,
                      enum meta_status *stp)
{
    char *doc = NULL;
    size_t n = 0;
    enum meta_status st = meta_bucket_attr_get(req->srv->db, req->bucket,
                                               META_BATTR_CORS, &doc, &n);
    memset(c, 0, sizeof(*c));
    if (stp) *stp = st;
    if (st != META_OK) return -1;
    if (doc == NULL) return 0;
    if (gw_xml_parse_cors(doc, n, c) != GW_XML_OK) {
        gw_log_req(req, CF_LOG_ERR, "cors: stored rules of %s do not parse",
                   req->bucket);
        free(doc);
        return -1;
    }
    free(doc);
    return 1;
}

void gw_cors_actual(struct gw_req *req)
{
    struct gw_xml_cors c;
    const struct gw_xml_cors_rule *r;
    size_t olen;
    const char *origin = gw_req_header(req, "origin", &olen);
    const char *m;

    if (origin == NULL || req->cors_checked || req->bucket[0] == '\0') return;
    req->cors_checked = 1;
    if (load_rules(req, &c, NULL) != 1) return;
    m = http_method_str(req->method);
    r = find_rule(&c, origin, olen, m, strlen(m), NULL, 0);
    if (r) rule_headers(req, r, origin, olen, NULL, 0);
    gw_xml_cors_cleanup(&c);
}

/* ---- preflight: OPTIONS /bucket[/key] ---- */

static void preflight_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct gw_xml_cors c;
    const struct gw_xml_cors_rule *r;
    enum meta_status st;
    size_t olen, mlen, hlen = 0;
    const char *origin = gw_req_header(req, "origin", &olen);
    const char *m = gw_req_header(req, "access-control-request-method", &mlen);
    const char *h = gw_req_header(req, "access-control-request-headers",
                                  &hlen);
    int k, rc;

    req->cors_checked = 1;
    if (origin == NULL) {
        gw_resp_error(&req->resp, GW_E_BAD_REQUEST,
                      "Insufficient information. Origin request header "
                      "needed.");
        return;
    }
    for (k = 0; m && cors_methods[k]; k++)
        if (strlen(cors_methods[k]) == mlen &&
            memcmp(cors_methods[k], m, mlen) == 0)
            break;
    if (m == NULL || cors_methods[k] == NULL) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Invalid Access-Control-Request-Method: "
                 "%.*s", m ? (int)(mlen > 64 ? 64 : mlen) : 4,
                 m ? m : "null");
        gw_resp_error(&req->resp, GW_E_BAD_REQUEST, msg);
        return;
    }
    st = meta_bucket_get(req->srv->db, req->bucket, &b);
    if (st != META_OK) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
        return;
    }
    rc = load_rules(req, &c, &st);
    if (rc < 0) {
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : GW_E_INTERNAL,
                      NULL);
        return;
    }
    if (rc == 0) {
        gw_resp_error(&req->resp, GW_E_CORS_FORBIDDEN,
                      "CORSResponse: CORS is not enabled for this bucket.");
        return;
    }
    r = find_rule(&c, origin, olen, m, mlen, h, hlen);
    if (r == NULL) {
        gw_resp_error(&req->resp, GW_E_CORS_FORBIDDEN, NULL);
    } else {
        rule_headers(req, r, origin, olen, h, hlen);
    }
    gw_xml_cors_cleanup(&c);
}

void gw_h_cors_preflight(struct gw_req *req)
{
    gw_req_post(req, preflight_work, gw_done_respond);
}

/* ---- Put/Get/DeleteBucketCors ---- */

static void put_cors_work(struct gw_req *req)
{
    struct meta_bucket b;
    struct gw_xml_cors c;
    struct gw_xbuf x = { 0 };
    enum meta_status st;
    size_t hl;
    const char *h;

    memset(&c, 0, sizeof(c));
    if (gw_bucket_check(req, &b) != 0) return;
    if (req->xml.len > GW_CORS_MAX_BYTES) {
        gw_resp_error(&req->resp, GW_E_MAX_MESSAGE_LENGTH,
                      "The CORS configuration exceeds the maximum size of "
                      "65536 bytes.");
        return;
    }
    h = gw_req_header(req, "content-md5", &hl);
    if (h) {
        unsigned char want[16], got[16];
        unsigned int n;
        if (cf_base64_decode(h, hl, want, sizeof(want)) != 16) {
            gw_resp_error(&req->resp, GW_E_INVALID_DIGEST, NULL);
            return;
        }
        EVP_Digest(req->xml.p ? req->xml.p : "", req->xml.len, got, &n,
                   EVP_md5(), NULL);
        if (CRYPTO_memcmp(want, got, 16) != 0) {
            gw_resp_error(&req->resp, GW_E_BAD_DIGEST, NULL);
            return;
        }
    }
    if (gw_xml_parse_cors(req->xml.p ? req->xml.p : "", req->xml.len, &c) !=
        GW_XML_OK) {
        gw_resp_error(&req->resp, GW_E_MALFORMED_XML, NULL);
        return;
    }
    if (validate(req, &c) != 0) goto out;
    render(&x, &c);
    if (x.oom) {
        gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
        goto out;
    }
    st = meta_bucket_attr_set(req->srv->db, req->bucket, META_BATTR_CORS,
                              x.p, x.len);
    if (st != META_OK)
        gw_resp_error(&req->resp, st == META_ENOTFOUND ? GW_E_NO_SUCH_BUCKET
                                                       : gw_err_from_meta(st),
                      NULL);
out:
    gw_xbuf_cleanup(&x);
    gw_xml_cors_cleanup(&c);
}

void gw_h_put_cors(struct gw_req *req)
{
    gw_req_post(req, put_cors_work, gw_done_respond);
}

static void get_cors_work(struct gw_req *req)
{
    gw_bucket_doc_get(req, META_BATTR_CORS, GW_E_NO_SUCH_CORS);
}

void gw_h_get_cors(struct gw_req *req)
{
    gw_req_post(req, get_cors_work, gw_done_respond);
}

static void delete_cors_work(struct gw_req *req)
{
    gw_bucket_doc_delete(req, META_BATTR_CORS);
}

void gw_h_delete_cors(struct gw_req *req)
{
    gw_req_post(req, delete_cors_work, gw_done_respond);
}
