/* gw_route.c: from request target and Host to (bucket, key, operation).
 * Path-style (/bucket/key) always works; virtual-hosted-style
 * (bucket.<domain>/key) when conf->domain is set. Keys are percent-decoded
 * once and never become file paths. Query parameters are decoded into
 * req->qp; a known sub-resource selects its operation, and sub-resources
 * coffer does not serve yet answer 501 NotImplemented. */
#include "gw_int.h"

#include <stdlib.h>
#include <string.h>

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int gw_url_decode(const char *in, size_t len, char **out, size_t *outlen,
                  int plus_is_space)
{
    char *o = malloc(len + 1);
    size_t i, n = 0;

    if (o == NULL) return -1;
    for (i = 0; i < len; i++) {
        if (in[i] == '%') {
            int hi, lo;
            if (i + 2 >= len) {
                free(o);
                return -1;
            }
            hi = hexv((unsigned char)in[i + 1]);
            lo = hexv((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0) {
                free(o);
                return -1;
            }
            o[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (in[i] == '+' && plus_is_space) {
            o[n++] = ' ';
        } else {
            o[n++] = in[i];
        }
    }
    o[n] = '\0';
    *out = o;
    *outlen = n;
    return 0;
}

/* AWS bucket naming rules (general purpose buckets): 3-63 chars of a-z 0-9
 * . -, begins and ends with a letter or digit, no "..", not an IPv4
 * address, no "xn--", "sthree-" or "amzn-s3-demo-" prefix, no
 * "-s3alias" / "--ol-s3" suffix. */
int gw_bucket_name_valid(const char *name, size_t len)
{
    size_t i;
    int digits_dots = 1, dots = 0;

    if (len < 3 || len > 63) return 0;
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '-'))
            return 0;
        if (c == '.') {
            dots++;
            if (i > 0 && name[i - 1] == '.') return 0;
            if (i > 0 && name[i - 1] == '-') return 0;
        }
        if (c == '-' && i > 0 && name[i - 1] == '.') return 0;
        if (!((c >= '0' && c <= '9') || c == '.')) digits_dots = 0;
    }
    if (!((name[0] >= 'a' && name[0] <= 'z') ||
          (name[0] >= '0' && name[0] <= '9')))
        return 0;
    if (!((name[len - 1] >= 'a' && name[len - 1] <= 'z') ||
          (name[len - 1] >= '0' && name[len - 1] <= '9')))
        return 0;
    if (digits_dots && dots == 3) return 0; /* looks like an IP address */
    if (len >= 4 && memcmp(name, "xn--", 4) == 0) return 0;
    if (len >= 7 && memcmp(name, "sthree-", 7) == 0) return 0;
    if (len >= 13 && memcmp(name, "amzn-s3-demo-", 13) == 0) return 0;
    if (len >= 8 && memcmp(name + len - 8, "-s3alias", 8) == 0) return 0;
    if (len >= 7 && memcmp(name + len - 7, "--ol-s3", 7) == 0) return 0;
    return 1;
}

static int parse_query(struct gw_req *req)
{
    const char *p = req->query.p, *end = req->query.p + req->query.len;
    int cap = 0;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *seg_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(seg_end - p));
        struct gw_qparam *q;
        size_t nlen;

        if (seg_end == p) {
            p = seg_end + 1;
            continue;
        }
        if (req->nqp == 256) return -1; /* bounded: the head is too */
        if (req->nqp == cap) {
            int ncap = cap ? cap * 2 : 8;
            void *np = realloc(req->qp, (size_t)ncap * sizeof(*req->qp));
            if (np == NULL) return -1;
            req->qp = np;
            cap = ncap;
        }
        q = &req->qp[req->nqp];
        memset(q, 0, sizeof(*q));
        if (gw_url_decode(p, (size_t)((eq ? eq : seg_end) - p), &q->name,
                          &nlen, 1) != 0)
            return -1;
        req->nqp++;
        if (eq) {
            q->has_value = 1;
            if (gw_url_decode(eq + 1, (size_t)(seg_end - eq - 1), &q->value,
                              &q->value_len, 1) != 0)
                return -1;
        } else {
            q->value = calloc(1, 1);
            if (q->value == NULL) return -1;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

/* Sub-resources of S3 that select an operation other than the plain one.
 * Those coffer serves are handled below; the rest are NotImplemented. */
static const char *const subresources[] = {
    "accelerate", "acl", "analytics", "attributes", "cors", "delete",
    "encryption", "intelligent-tiering", "inventory", "legal-hold",
    "lifecycle", "location", "logging", "metrics", "notification",
    "object-lock", "ownershipControls", "partNumber", "policy",
    "policyStatus", "publicAccessBlock", "replication", "requestPayment",
    "restore", "retention", "select", "session", "tagging", "torrent",
    "uploadId", "uploads", "versioning", "versions", "website", NULL
};

static const char *first_subresource(const struct gw_req *req)
{
    int i, k;
    for (i = 0; i < req->nqp; i++)
        for (k = 0; subresources[k]; k++)
            if (strcmp(req->qp[i].name, subresources[k]) == 0)
                return subresources[k];
    return NULL;
}

static int has(const struct gw_req *req, const char *name)
{
    return gw_req_qparam(req, name) != NULL;
}

static void pick_op(struct gw_req *req)
{
    const char *sub = first_subresource(req);
    int copy = gw_req_header(req, "x-amz-copy-source", NULL) != NULL;

    /* The admin API lives under /coffer/admin/v1/ (gw_admin.c). */
    if (strcmp(req->bucket, GW_ADMIN_BUCKET) == 0 && req->key &&
        strncmp(req->key, GW_ADMIN_PREFIX, sizeof(GW_ADMIN_PREFIX) - 1) ==
            0 &&
        (req->key[sizeof(GW_ADMIN_PREFIX) - 1] == '\0' ||
         req->key[sizeof(GW_ADMIN_PREFIX) - 1] == '/')) {
        req->op = GW_OP_ADMIN;
        return;
    }
    /* A CORS preflight, on a bucket or an object, whatever the query. */
    if (req->method != HTTP_OPTIONS && req->bucket[0] && has(req, "acl")) {
        int obj = req->key != NULL;
        req->op = req->method == HTTP_PUT
                      ? (obj ? GW_OP_PUT_OBJECT_ACL : GW_OP_PUT_BUCKET_ACL)
                  : req->method == HTTP_GET
                      ? (obj ? GW_OP_GET_OBJECT_ACL : GW_OP_GET_BUCKET_ACL)
                      : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->method == HTTP_OPTIONS && req->bucket[0]) {
        req->op = GW_OP_CORS_PREFLIGHT;
        return;
    }
    /* Multipart sub-resources first: they combine with partNumber. */
    if (req->key != NULL && has(req, "uploadId")) {
        switch (req->method) {
        case HTTP_PUT:
            req->op = !has(req, "partNumber") ? GW_OP_NOT_IMPLEMENTED
                      : copy                  ? GW_OP_UPLOAD_PART_COPY
                                              : GW_OP_UPLOAD_PART;
            return;
        case HTTP_POST: req->op = GW_OP_COMPLETE_MPU; return;
        case HTTP_DELETE: req->op = GW_OP_ABORT_MPU; return;
        case HTTP_GET: req->op = GW_OP_LIST_PARTS; return;
        default: req->op = GW_OP_NOT_IMPLEMENTED; return;
        }
    }
    if (req->key != NULL && req->method == HTTP_POST && has(req, "uploads")) {
        req->op = GW_OP_CREATE_MPU;
        return;
    }
    if (req->key == NULL && req->bucket[0] && req->method == HTTP_GET &&
        has(req, "uploads")) {
        req->op = GW_OP_LIST_UPLOADS;
        return;
    }
    if (req->key == NULL && req->bucket[0] && has(req, "object-lock")) {
        req->op = req->method == HTTP_PUT   ? GW_OP_PUT_LOCK_CONFIG
                  : req->method == HTTP_GET ? GW_OP_GET_LOCK_CONFIG
                                            : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key == NULL && req->bucket[0] && has(req, "publicAccessBlock")) {
        req->op = req->method == HTTP_PUT      ? GW_OP_PUT_PAB
                  : req->method == HTTP_GET    ? GW_OP_GET_PAB
                  : req->method == HTTP_DELETE ? GW_OP_DELETE_PAB
                                               : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key == NULL && req->bucket[0] && has(req, "policy")) {
        req->op = req->method == HTTP_PUT      ? GW_OP_PUT_BUCKET_POLICY
                  : req->method == HTTP_GET    ? GW_OP_GET_BUCKET_POLICY
                  : req->method == HTTP_DELETE ? GW_OP_DELETE_BUCKET_POLICY
                                               : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key == NULL && req->bucket[0] && has(req, "encryption")) {
        req->op = req->method == HTTP_PUT   ? GW_OP_PUT_BUCKET_ENCRYPTION
                  : req->method == HTTP_GET ? GW_OP_GET_BUCKET_ENCRYPTION
                  : req->method == HTTP_DELETE
                      ? GW_OP_DELETE_BUCKET_ENCRYPTION
                      : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key == NULL && req->bucket[0] && has(req, "lifecycle")) {
        req->op = req->method == HTTP_PUT      ? GW_OP_PUT_LIFECYCLE
                  : req->method == HTTP_GET    ? GW_OP_GET_LIFECYCLE
                  : req->method == HTTP_DELETE ? GW_OP_DELETE_LIFECYCLE
                                               : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key == NULL && req->bucket[0] && has(req, "cors")) {
        req->op = req->method == HTTP_PUT      ? GW_OP_PUT_CORS
                  : req->method == HTTP_GET    ? GW_OP_GET_CORS
                  : req->method == HTTP_DELETE ? GW_OP_DELETE_CORS
                                               : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key == NULL && req->bucket[0] && has(req, "tagging")) {
        req->op = req->method == HTTP_PUT      ? GW_OP_PUT_BUCKET_TAGGING
                  : req->method == HTTP_GET    ? GW_OP_GET_BUCKET_TAGGING
                  : req->method == HTTP_DELETE ? GW_OP_DELETE_BUCKET_TAGGING
                                               : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key != NULL && has(req, "retention")) {
        req->op = req->method == HTTP_PUT   ? GW_OP_PUT_RETENTION
                  : req->method == HTTP_GET ? GW_OP_GET_RETENTION
                                            : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key != NULL && has(req, "tagging")) {
        req->op = req->method == HTTP_PUT      ? GW_OP_PUT_TAGGING
                  : req->method == HTTP_GET    ? GW_OP_GET_TAGGING
                  : req->method == HTTP_DELETE ? GW_OP_DELETE_TAGGING
                                               : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key != NULL && has(req, "legal-hold")) {
        req->op = req->method == HTTP_PUT   ? GW_OP_PUT_LEGAL_HOLD
                  : req->method == HTTP_GET ? GW_OP_GET_LEGAL_HOLD
                                            : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key != NULL && req->method == HTTP_GET &&
        has(req, "attributes")) {
        req->op = GW_OP_GET_ATTRIBUTES;
        return;
    }
    if (req->key == NULL && req->bucket[0] && has(req, "versioning")) {
        req->op = req->method == HTTP_PUT   ? GW_OP_PUT_VERSIONING
                  : req->method == HTTP_GET ? GW_OP_GET_VERSIONING
                                            : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (req->key == NULL && req->bucket[0] && req->method == HTTP_GET &&
        has(req, "versions")) {
        req->op = GW_OP_LIST_VERSIONS;
        return;
    }
    if (req->key != NULL &&
        (req->method == HTTP_GET || req->method == HTTP_HEAD) &&
        sub != NULL && strcmp(sub, "partNumber") == 0) {
        /* partNumber alone is a plain GET/HEAD of one part */
        int i, other = 0;
        for (i = 0; i < req->nqp; i++) {
            int k;
            for (k = 0; subresources[k]; k++)
                if (strcmp(req->qp[i].name, subresources[k]) == 0 &&
                    strcmp(subresources[k], "partNumber") != 0)
                    other = 1;
        }
        if (!other) sub = NULL;
    }
    int is_key = req->key != NULL;

    if (req->bucket[0] == '\0') {
        req->op = req->method == HTTP_GET ? GW_OP_LIST_BUCKETS
                                          : GW_OP_NOT_IMPLEMENTED;
        return;
    }
    if (!is_key) {
        switch (req->method) {
        case HTTP_PUT:
            req->op = sub ? GW_OP_NOT_IMPLEMENTED : GW_OP_CREATE_BUCKET;
            return;
        case HTTP_HEAD:
            req->op = GW_OP_HEAD_BUCKET;
            return;
        case HTTP_DELETE:
            req->op = sub ? GW_OP_NOT_IMPLEMENTED : GW_OP_DELETE_BUCKET;
            return;
        case HTTP_GET:
            if (sub == NULL) {
                const struct gw_qparam *lt = gw_req_qparam(req, "list-type");
                req->op = lt && strcmp(lt->value, "2") == 0
                              ? GW_OP_LIST_OBJECTS_V2
                              : GW_OP_LIST_OBJECTS;
            } else if (strcmp(sub, "location") == 0) {
                req->op = GW_OP_GET_BUCKET_LOCATION;
            } else {
                req->op = GW_OP_NOT_IMPLEMENTED;
            }
            return;
        case HTTP_POST:
            req->op = sub && strcmp(sub, "delete") == 0
                          ? GW_OP_DELETE_OBJECTS
                          : GW_OP_NOT_IMPLEMENTED;
            return;
        default:
            req->op = GW_OP_NOT_IMPLEMENTED;
            return;
        }
    }
    switch (req->method) {
    case HTTP_PUT:
        req->op = sub ? GW_OP_NOT_IMPLEMENTED
                  : copy ? GW_OP_COPY_OBJECT
                         : GW_OP_PUT_OBJECT;
        return;
    case HTTP_GET:
        req->op = sub ? GW_OP_NOT_IMPLEMENTED : GW_OP_GET_OBJECT;
        return;
    case HTTP_HEAD:
        req->op = sub ? GW_OP_NOT_IMPLEMENTED : GW_OP_HEAD_OBJECT;
        return;
    case HTTP_DELETE:
        req->op = sub ? GW_OP_NOT_IMPLEMENTED : GW_OP_DELETE_OBJECT;
        return;
    default:
        req->op = GW_OP_NOT_IMPLEMENTED;
        return;
    }
}

int gw_route(struct gw_req *req)
{
    const char *url = req->head.p + req->url_off;
    const char *q = memchr(url, '?', req->url_len);
    const char *path, *host;
    size_t path_len, host_len = 0;
    const char *domain = req->srv->conf->domain;
    char *decoded = NULL;
    size_t dlen;

    req->path.p = url;
    req->path.len = q ? (size_t)(q - url) : req->url_len;
    req->query.p = q ? q + 1 : "";
    req->query.len = q ? req->url_len - req->path.len - 1 : 0;
    if (req->path.len == 0 || req->path.p[0] != '/') {
        /* absolute-form targets are not used by S3 clients */
        gw_resp_error(&req->resp, GW_E_INVALID_URI, NULL);
        return -1;
    }
    if (parse_query(req) != 0) {
        gw_resp_error(&req->resp, GW_E_INVALID_URI, NULL);
        return -1;
    }
    if (gw_url_decode(req->path.p, req->path.len, &decoded, &dlen, 0) != 0) {
        gw_resp_error(&req->resp, GW_E_INVALID_URI, NULL);
        return -1;
    }
    path = decoded + 1; /* skip '/' */
    path_len = dlen - 1;

    host = gw_req_header(req, "host", &host_len);
    if (domain && host) {
        size_t dl = strlen(domain), hl = host_len;
        const char *colon = memchr(host, ':', host_len);
        if (colon) hl = (size_t)(colon - host);
        if (hl > dl + 1 && host[hl - dl - 1] == '.' &&
            strncasecmp(host + hl - dl, domain, dl) == 0) {
            size_t bl = hl - dl - 1;
            if (bl >= sizeof(req->bucket)) {
                free(decoded);
                gw_resp_error(&req->resp, GW_E_INVALID_BUCKET_NAME, NULL);
                return -1;
            }
            memcpy(req->bucket, host, bl);
            req->bucket[bl] = '\0';
            if (path_len > 0) {
                req->key = malloc(path_len + 1);
                if (req->key == NULL) goto out_oom;
                memcpy(req->key, path, path_len);
                req->key[path_len] = '\0';
                req->key_len = path_len;
            }
            goto have_target;
        }
    }
    {
        const char *slash = memchr(path, '/', path_len);
        size_t bl = slash ? (size_t)(slash - path) : path_len;
        if (bl >= sizeof(req->bucket)) {
            free(decoded);
            gw_resp_error(&req->resp, GW_E_INVALID_BUCKET_NAME, NULL);
            return -1;
        }
        memcpy(req->bucket, path, bl);
        req->bucket[bl] = '\0';
        if (slash && (size_t)(slash - path) + 1 < path_len) {
            size_t kl = path_len - bl - 1;
            req->key = malloc(kl + 1);
            if (req->key == NULL) goto out_oom;
            memcpy(req->key, slash + 1, kl);
            req->key[kl] = '\0';
            req->key_len = kl;
        }
    }
have_target:
    free(decoded);
    pick_op(req);
    if (req->key && req->key_len > META_KEY_MAX) {
        gw_resp_error(&req->resp, GW_E_KEY_TOO_LONG, NULL);
        return -1;
    }
    if (req->key && memchr(req->key, '\0', req->key_len)) {
        gw_resp_error(&req->resp, GW_E_INVALID_URI, NULL);
        return -1;
    }
    return 0;
out_oom:
    free(decoded);
    gw_resp_error(&req->resp, GW_E_INTERNAL, NULL);
    return -1;
}
