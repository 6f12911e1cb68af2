/* gw_sigv4.c: AWS Signature Version 4 verification for S3 requests: the
 * Authorization header and presigned query forms. The canonical request is
 * rebuilt from what was received: the path decoded once and re-encoded with
 * S3's rules, query parameters decoded, re-encoded and sorted, signed
 * headers trimmed and joined. Signatures are compared in constant time. */
#include "gw_sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- small helpers ---- */

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int l;
    EVP_Digest(p, n, md, &l, EVP_sha256(), NULL);
    cf_hex_encode(md, 32, out);
}

static void hmac(const void *key, size_t klen, const void *msg, size_t mlen,
                 unsigned char out[32])
{
    unsigned int l = 32;
    HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &l);
}

void gw_sigv4_signing_key(const char *secret, const char *date,
                          const char *region, const char *service,
                          unsigned char key[32])
{
    char k0[160];
    unsigned char a[32], b[32];
    int n = snprintf(k0, sizeof(k0), "AWS4%s", secret);
    hmac(k0, (size_t)n, date, strlen(date), a);
    hmac(a, 32, region, strlen(region), b);
    hmac(b, 32, service, strlen(service), a);
    hmac(a, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
}

long gw_sigv4_uri_encode(const char *in, size_t len, int keep_slash,
                         char *out, size_t outcap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, o = 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~' || (c == '/' && keep_slash)) {
            if (o + 1 >= outcap) return -1;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= outcap) return -1;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= outcap) return -1;
    out[o] = '\0';
    return (long)o;
}

/* A growable string for the canonical request. */
struct sb {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *np;
        while (cap < b->len + n + 1) cap *= 2;
        np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Appends the S3 URI-encoding of in. */
static void sb_enc(struct sb *b, const char *in, size_t n, int keep_slash)
{
    char tmp[3 * 256 + 1];
    while (n > 0) {
        size_t k = n > 256 ? 256 : n;
        long w = gw_sigv4_uri_encode(in, k, keep_slash, tmp, sizeof(tmp));
        if (w < 0) {
            b->oom = 1;
            return;
        }
        sb_add(b, tmp, (size_t)w);
        in += k;
        n -= k;
    }
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes into a malloc'ed buffer. */
static char *pct_decode(const char *in, size_t n, size_t *outlen, int plus)
{
    char *o = malloc(n + 1);
    size_t i, k = 0;
    if (o == NULL) return NULL;
    for (i = 0; i < n; i++) {
        if (in[i] == '%' && i + 2 < n &&
            hexv((unsigned char)in[i + 1]) >= 0 &&
            hexv((unsigned char)in[i + 2]) >= 0) {
            o[k++] = (char)(hexv((unsigned char)in[i + 1]) << 4 |
                            hexv((unsigned char)in[i + 2]));
            i += 2;
        } else if (in[i] == '+' && plus) {
            o[k++] = ' ';
        } else {
            o[k++] = in[i];
        }
    }
    o[k] = '\0';
    *outlen = k;
    return o;
}

/* ---- query parameters ---- */

struct qp {
    char *name, *value;   /* encoded canonical forms */
    char *dname, *dvalue; /* decoded */
    size_t dvlen;
};

static void qp_free(struct qp *q, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        free(q[i].name);
        free(q[i].value);
        free(q[i].dname);
        free(q[i].dvalue);
    }
    free(q);
}

static int qp_cmp(const void *a, const void *b)
{
    const struct qp *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *enc_dup(const char *s, size_t n)
{
    struct sb b = { 0 };
    sb_enc(&b, s, n, 0);
    if (b.p == NULL && !b.oom) {
        b.p = calloc(1, 1);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static struct qp *parse_query(struct cf_str q, size_t *nout)
{
    struct qp *v = NULL;
    size_t n = 0, cap = 0;
    const char *p = q.p, *end = q.p + q.len;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *se = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(se - p));
        size_t nl, vl;
        if (se > p) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                struct qp *np = realloc(v, nc * sizeof(*v));
                if (np == NULL) goto fail;
                v = np;
                cap = nc;
            }
            memset(&v[n], 0, sizeof(v[n]));
            n++;
            v[n - 1].dname = pct_decode(p, (size_t)((eq ? eq : se) - p), &nl,
                                        1);
            v[n - 1].dvalue = eq ? pct_decode(eq + 1, (size_t)(se - eq - 1),
                                              &vl, 1)
                                 : pct_decode("", 0, &vl, 1);
            if (!v[n - 1].dname || !v[n - 1].dvalue) goto fail;
            v[n - 1].dvlen = vl;
            v[n - 1].name = enc_dup(v[n - 1].dname, nl);
            v[n - 1].value = enc_dup(v[n - 1].dvalue, vl);
            if (!v[n - 1].name || !v[n - 1].value) goto fail;
        }
        p = amp ? amp + 1 : end;
    }
    *nout = n;
    if (v == NULL) v = calloc(1, sizeof(*v));
    return v;
fail:
    qp_free(v, n);
    return NULL;
}

static const struct qp *qp_get(const struct qp *q, size_t n, const char *name)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (strcmp(q[i].dname, name) == 0) return &q[i];
    return NULL;
}

/* ---- headers ---- */

static const struct gw_hdr *hdr_get(const struct gw_sigv4_req *r,
                                    const char *name)
{
    size_t i;
    for (i = 0; i < r->nhdrs; i++)
        if (cf_str_caseeq(r->hdrs[i].name, name)) return &r->hdrs[i];
    return NULL;
}

/* Value trimmed, inner runs of spaces collapsed. */
static void sb_hval(struct sb *b, struct cf_str v)
{
    size_t i = 0, n = v.len;
    int sp = 0;
    while (i < n && (v.p[i] == ' ' || v.p[i] == '\t')) i++;
    while (n > i && (v.p[n - 1] == ' ' || v.p[n - 1] == '\t')) n--;
    for (; i < n; i++) {
        char c = v.p[i];
        if (c == ' ' || c == '\t') {
            if (!sp) sb_add(b, " ", 1);
            sp = 1;
        } else {
            sb_add(b, &c, 1);
            sp = 0;
        }
    }
}

/* ---- the canonical request ---- */

/* signed: "host;x-amz-date" (as given). Builds the canonical request and
 * returns hex SHA-256 of it in out. */
static int canonical_hash(const struct gw_sigv4_req *r, const struct qp *q,
                          size_t nq, int skip_sig, const char *signed_hdrs,
                          const char *payload, char out[65])
{
    struct sb b = { 0 };
    char *path;
    size_t plen, i;
    struct qp **sorted = NULL;
    struct qp *copy = NULL;
    const char *s;

    sb_add(&b, r->method.p, r->method.len);
    sb_add(&b, "\n", 1);
    path = pct_decode(r->path.p, r->path.len, &plen, 0);
    if (path == NULL) return -1;
    if (plen == 0) sb_add(&b, "/", 1);
    else sb_enc(&b, path, plen, 1);
    free(path);
    sb_add(&b, "\n", 1);

    copy = calloc(nq ? nq : 1, sizeof(*copy));
    if (copy == NULL) goto fail;
    {
        size_t k = 0;
        for (i = 0; i < nq; i++) {
            if (skip_sig && strcmp(q[i].dname, "X-Amz-Signature") == 0)
                continue;
            copy[k++] = q[i];
        }
        qsort(copy, k, sizeof(*copy), qp_cmp);
        for (i = 0; i < k; i++) {
            if (i) sb_add(&b, "&", 1);
            sb_str(&b, copy[i].name);
            sb_add(&b, "=", 1);
            sb_str(&b, copy[i].value);
        }
    }
    sb_add(&b, "\n", 1);

    s = signed_hdrs;
    while (*s) {
        const char *semi = strchr(s, ';');
        size_t nl = semi ? (size_t)(semi - s) : strlen(s);
        char name[128];
        int first = 1;
        if (nl == 0 || nl >= sizeof(name)) goto fail;
        memcpy(name, s, nl);
        name[nl] = '\0';
        sb_add(&b, name, nl);
        sb_add(&b, ":", 1);
        for (i = 0; i < r->nhdrs; i++) {
            if (!cf_str_caseeq(r->hdrs[i].name, name)) continue;
            if (!first) sb_add(&b, ",", 1);
            sb_hval(&b, r->hdrs[i].value);
            first = 0;
        }
        sb_add(&b, "\n", 1);
        s += nl;
        if (*s == ';') s++;
    }
    sb_add(&b, "\n", 1);
    sb_str(&b, signed_hdrs);
    sb_add(&b, "\n", 1);
    sb_str(&b, payload);
    if (b.oom) goto fail;
    sha256_hex(b.p, b.len, out);
    free(b.p);
    free(copy);
    free(sorted);
    return 0;
fail:
    free(b.p);
    free(copy);
    return -1;
}

static void signature(const unsigned char key[32], const char *amz_date,
                      const char *scope, const char *creq_hash, char out[65])
{
    char sts[512];
    unsigned char mac[32];
    int n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s",
                     amz_date, scope, creq_hash);
    hmac(key, 32, sts, (size_t)n, mac);
    cf_hex_encode(mac, 32, out);
}

/* Splits "AK/20130524/us-east-1/s3/aws4_request". */
static int parse_credential(const char *c, size_t n, struct gw_sigv4_auth *a,
                            char *msg, size_t msglen)
{
    const char *parts[5];
    size_t lens[5];
    size_t i, k = 0, start = 0;

    for (i = 0; i <= n && k < 5; i++) {
        if (i == n || c[i] == '/') {
            parts[k] = c + start;
            lens[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    /* The access key itself may not contain '/', so exactly five parts. */
    if (k != 5 || start != n + 1) {
        snprintf(msg, msglen, "Error parsing the X-Amz-Credential parameter; "
                 "the Credential is mal-formed; expecting "
                 "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
        return -1;
    }
    if (lens[0] == 0 || lens[0] >= sizeof(a->access_key) || lens[1] != 8 ||
        lens[2] == 0 || lens[2] >= sizeof(a->region)) {
        snprintf(msg, msglen, "the Credential is mal-formed");
        return -1;
    }
    if (lens[3] != 2 || memcmp(parts[3], "s3", 2) != 0) {
        snprintf(msg, msglen, "The authorization header is malformed; "
                 "incorrect service \"%.*s\". This endpoint belongs to "
                 "\"s3\".", (int)(lens[3] > 32 ? 32 : lens[3]), parts[3]);
        return -1;
    }
    if (lens[4] != 12 || memcmp(parts[4], "aws4_request", 12) != 0) {
        snprintf(msg, msglen, "The authorization header is malformed; "
                 "incorrect terminal. This endpoint uses \"aws4_request\".");
        return -1;
    }
    memcpy(a->access_key, parts[0], lens[0]);
    a->access_key[lens[0]] = '\0';
    memcpy(a->date, parts[1], 8);
    a->date[8] = '\0';
    memcpy(a->region, parts[2], lens[2]);
    a->region[lens[2]] = '\0';
    snprintf(a->scope, sizeof(a->scope), "%s/%s/s3/aws4_request", a->date,
             a->region);
    return 0;
}

static int signed_headers_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 2048) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == ';' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static int has_signed(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *s = list;
    while ((s = strstr(s, name)) != NULL) {
        if ((s == list || s[-1] == ';') && (s[n] == ';' || s[n] == '\0'))
            return 1;
        s += n;
    }
    return 0;
}

static enum gw_auth_result payload_mode(const struct gw_sigv4_req *r,
                                        struct gw_sigv4_auth *a, int presign,
                                        char *msg, size_t msglen)
{
    const struct gw_hdr *h = hdr_get(r, "x-amz-content-sha256");
    static const struct {
        const char *v;
        enum gw_payload_mode m;
    } modes[] = {
        { "UNSIGNED-PAYLOAD", GW_PAYLOAD_UNSIGNED },
        { "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", GW_PAYLOAD_STREAMING_SIGNED },
        { "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
          GW_PAYLOAD_STREAMING_SIGNED_TRAILER },
        { "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
          GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER },
    };
    size_t i;

    if (h == NULL) {
        if (presign) {
            a->payload = GW_PAYLOAD_UNSIGNED;
            snprintf(a->payload_sha256, sizeof(a->payload_sha256),
                     "UNSIGNED-PAYLOAD");
            return GW_AUTH_OK;
        }
        snprintf(msg, msglen, "Missing required header for this request: "
                 "x-amz-content-sha256");
        return GW_AUTH_MISSING_CONTENT_SHA;
    }
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (cf_str_eq(h->value, modes[i].v)) {
            a->payload = modes[i].m;
            snprintf(a->payload_sha256, sizeof(a->payload_sha256), "%s",
                     modes[i].v);
            return GW_AUTH_OK;
        }
    if (h->value.len == 64) {
        for (i = 0; i < 64; i++)
            if (hexv((unsigned char)h->value.p[i]) < 0) break;
        if (i == 64) {
            a->payload = GW_PAYLOAD_SIGNED;
            memcpy(a->payload_sha256, h->value.p, 64);
            a->payload_sha256[64] = '\0';
            return GW_AUTH_OK;
        }
    }
    snprintf(msg, msglen, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
             "STREAMING-*, or a valid sha256 value.");
    return GW_AUTH_BAD_CONTENT_SHA;
}

static enum gw_auth_result verify_common(const struct gw_sigv4_req *r,
                                         const struct qp *q, size_t nq,
                                         int presign, const char *signed_hdrs,
                                         const char *sig, gw_secret_fn secret,
                                         void *arg, struct gw_sigv4_auth *a,
                                         char *msg, size_t msglen)
{
    const char *sk;
    char creq[65], want[65];

    if (!signed_headers_ok(signed_hdrs) || !has_signed(signed_hdrs, "host")) {
        snprintf(msg, msglen, "SignedHeaders must include host and be "
                 "lower-case names separated by ';'.");
        return GW_AUTH_MALFORMED;
    }
    if (strlen(sig) != 64) {
        snprintf(msg, msglen, "The signature must be 64 hex digits.");
        return GW_AUTH_MALFORMED;
    }
    sk = secret(a->access_key, arg);
    if (sk == NULL) return GW_AUTH_BAD_ACCESS_KEY;
    if (canonical_hash(r, q, nq, presign, signed_hdrs,
                       presign && a->payload == GW_PAYLOAD_UNSIGNED &&
                               hdr_get(r, "x-amz-content-sha256") == NULL
                           ? "UNSIGNED-PAYLOAD"
                           : a->payload_sha256,
                       creq) != 0) {
        snprintf(msg, msglen, "out of memory");
        return GW_AUTH_MALFORMED;
    }
    gw_sigv4_signing_key(sk, a->date, a->region, "s3", a->signing_key);
    signature(a->signing_key, a->amz_date, a->scope, creq, want);
    if (CRYPTO_memcmp(want, sig, 64) != 0) return GW_AUTH_BAD_SIGNATURE;
    memcpy(a->seed_signature, sig, 64);
    a->seed_signature[64] = '\0';
    return GW_AUTH_OK;
}

static enum gw_auth_result verify_header(const struct gw_sigv4_req *r,
                                         const struct gw_hdr *auth,
                                         int64_t now, gw_secret_fn secret,
                                         void *arg, struct gw_sigv4_auth *a,
                                         char *msg, size_t msglen)
{
    char buf[4096], signed_hdrs[2049] = "", sig[65] = "";
    const char *p, *cred = NULL;
    size_t cred_len = 0;
    const struct gw_hdr *dh;
    struct qp *q;
    size_t nq;
    int64_t t;
    enum gw_auth_result res;
    int have_sh = 0, have_sig = 0;

    if (auth->value.len >= sizeof(buf)) {
        snprintf(msg, msglen, "The authorization header is too long.");
        return GW_AUTH_MALFORMED;
    }
    memcpy(buf, auth->value.p, auth->value.len);
    buf[auth->value.len] = '\0';
    if (strncmp(buf, "AWS ", 4) == 0) {
        snprintf(msg, msglen, "Signature Version 2 is not supported; use "
                 "AWS4-HMAC-SHA256.");
        return GW_AUTH_UNSUPPORTED;
    }
    if (strncmp(buf, "AWS4-HMAC-SHA256 ", 17) != 0) {
        snprintf(msg, msglen, "Unsupported authorization type.");
        return GW_AUTH_UNSUPPORTED;
    }
    p = buf + 17;
    while (*p) {
        const char *e;
        size_t n;
        while (*p == ' ' || *p == ',') p++;
        e = p;
        while (*e && *e != ',') e++;
        n = (size_t)(e - p);
        while (n && p[n - 1] == ' ') n--;
        if (n > 11 && strncmp(p, "Credential=", 11) == 0) {
            cred = p + 11;
            cred_len = n - 11;
        } else if (n > 14 && strncmp(p, "SignedHeaders=", 14) == 0 &&
                   n - 14 < sizeof(signed_hdrs)) {
            memcpy(signed_hdrs, p + 14, n - 14);
            signed_hdrs[n - 14] = '\0';
            have_sh = 1;
        } else if (n > 10 && strncmp(p, "Signature=", 10) == 0 &&
                   n - 10 < sizeof(sig)) {
            memcpy(sig, p + 10, n - 10);
            sig[n - 10] = '\0';
            have_sig = 1;
        } else if (n > 0) {
            snprintf(msg, msglen, "The authorization header is malformed; "
                     "unexpected component.");
            return GW_AUTH_MALFORMED;
        }
        p = e;
    }
    if (cred == NULL || !have_sh || !have_sig) {
        snprintf(msg, msglen, "The authorization header is malformed; it "
                 "must contain Credential, SignedHeaders and Signature.");
        return GW_AUTH_MALFORMED;
    }
    if (parse_credential(cred, cred_len, a, msg, msglen) != 0)
        return GW_AUTH_MALFORMED;

    dh = hdr_get(r, "x-amz-date");
    if (dh) {
        if (cf_parse_amz_date(dh->value, &t) != 0) {
            snprintf(msg, msglen, "AWS authentication requires a valid Date "
                     "or x-amz-date header");
            return GW_AUTH_BAD_DATE;
        }
    } else if ((dh = hdr_get(r, "date")) != NULL) {
        if (cf_parse_http_date(dh->value, &t) != 0) {
            snprintf(msg, msglen, "AWS authentication requires a valid Date "
                     "or x-amz-date header");
            return GW_AUTH_BAD_DATE;
        }
    } else {
        snprintf(msg, msglen, "AWS authentication requires a valid Date or "
                 "x-amz-date header");
        return GW_AUTH_BAD_DATE;
    }
    {
        char d[CF_ISO8601_LEN];
        cf_fmt_amz_date(t, d);
        memcpy(a->amz_date, d, 17);
    }
    if (memcmp(a->amz_date, a->date, 8) != 0) {
        snprintf(msg, msglen, "The authorization header is malformed; "
                 "Invalid credential date. Date is not the same as "
                 "X-Amz-Date: \"%.8s\".", a->amz_date);
        return GW_AUTH_MALFORMED;
    }
    if (t > now + GW_SIGV4_MAX_SKEW_S || t < now - GW_SIGV4_MAX_SKEW_S)
        return GW_AUTH_SKEWED;
    res = payload_mode(r, a, 0, msg, msglen);
    if (res != GW_AUTH_OK) return res;
    q = parse_query(r->query, &nq);
    if (q == NULL) {
        snprintf(msg, msglen, "out of memory");
        return GW_AUTH_MALFORMED;
    }
    res = verify_common(r, q, nq, 0, signed_hdrs, sig, secret, arg, a, msg,
                        msglen);
    qp_free(q, nq);
    return res;
}

static enum gw_auth_result verify_query(const struct gw_sigv4_req *r,
                                        struct qp *q, size_t nq, int64_t now,
                                        gw_secret_fn secret, void *arg,
                                        struct gw_sigv4_auth *a, char *msg,
                                        size_t msglen)
{
    const struct qp *alg = qp_get(q, nq, "X-Amz-Algorithm");
    const struct qp *cred = qp_get(q, nq, "X-Amz-Credential");
    const struct qp *date = qp_get(q, nq, "X-Amz-Date");
    const struct qp *exp = qp_get(q, nq, "X-Amz-Expires");
    const struct qp *sh = qp_get(q, nq, "X-Amz-SignedHeaders");
    const struct qp *sig = qp_get(q, nq, "X-Amz-Signature");
    int64_t t;
    long expires;
    char *end;
    enum gw_auth_result res;

    a->presigned = 1;
    if (strcmp(alg->dvalue, "AWS4-HMAC-SHA256") != 0) {
        snprintf(msg, msglen, "X-Amz-Algorithm only supports "
                 "\"AWS4-HMAC-SHA256\"");
        return GW_AUTH_MALFORMED;
    }
    if (!cred || !date || !exp || !sh || !sig) {
        snprintf(msg, msglen, "Query-string authentication version 4 "
                 "requires the X-Amz-Algorithm, X-Amz-Credential, "
                 "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                 "X-Amz-Expires parameters.");
        return GW_AUTH_MALFORMED;
    }
    if (parse_credential(cred->dvalue, strlen(cred->dvalue), a, msg, msglen))
        return GW_AUTH_MALFORMED;
    if (cf_parse_amz_date((struct cf_str){ date->dvalue,
                                           strlen(date->dvalue) },
                          &t) != 0) {
        snprintf(msg, msglen, "X-Amz-Date must be in the ISO8601 Long "
                 "Format \"yyyyMMdd'T'HHmmss'Z'\"");
        return GW_AUTH_MALFORMED;
    }
    {
        char d[CF_ISO8601_LEN];
        cf_fmt_amz_date(t, d);
        memcpy(a->amz_date, d, 17);
    }
    if (memcmp(a->amz_date, a->date, 8) != 0) {
        snprintf(msg, msglen, "Invalid credential date. Date is not the "
                 "same as X-Amz-Date.");
        return GW_AUTH_MALFORMED;
    }
    expires = strtol(exp->dvalue, &end, 10);
    if (exp->dvalue[0] == '\0' || *end != '\0' || expires < 0) {
        snprintf(msg, msglen, "X-Amz-Expires should be a number");
        return GW_AUTH_MALFORMED;
    }
    if (expires > GW_SIGV4_MAX_EXPIRES_S) {
        snprintf(msg, msglen, "X-Amz-Expires must be less than a week (in "
                 "seconds) that is 604800");
        return GW_AUTH_MALFORMED;
    }
    if (t > now + GW_SIGV4_MAX_SKEW_S) {
        snprintf(msg, msglen, "Request is not valid yet");
        return GW_AUTH_BAD_DATE;
    }
    if (now > t + expires) {
        snprintf(msg, msglen, "Request has expired");
        return GW_AUTH_EXPIRED;
    }
    res = payload_mode(r, a, 1, msg, msglen);
    if (res != GW_AUTH_OK) return res;
    if (strlen(sh->dvalue) > 2048) {
        snprintf(msg, msglen, "X-Amz-SignedHeaders is too long");
        return GW_AUTH_MALFORMED;
    }
    return verify_common(r, q, nq, 1, sh->dvalue, sig->dvalue, secret, arg, a,
                         msg, msglen);
}

enum gw_auth_result gw_sigv4_verify(const struct gw_sigv4_req *req,
                                    int64_t now, gw_secret_fn secret,
                                    void *arg, struct gw_sigv4_auth *out,
                                    char *msg, size_t msglen)
{
    const struct gw_hdr *auth = hdr_get(req, "authorization");
    struct qp *q;
    size_t nq;
    enum gw_auth_result res;

    memset(out, 0, sizeof(*out));
    if (msglen) msg[0] = '\0';
    if (auth) return verify_header(req, auth, now, secret, arg, out, msg,
                                   msglen);
    q = parse_query(req->query, &nq);
    if (q == NULL) {
        snprintf(msg, msglen, "out of memory");
        return GW_AUTH_MALFORMED;
    }
    if (qp_get(q, nq, "X-Amz-Algorithm"))
        res = verify_query(req, q, nq, now, secret, arg, out, msg, msglen);
    else if (qp_get(q, nq, "AWSAccessKeyId") || qp_get(q, nq, "Signature")) {
        snprintf(msg, msglen, "Signature Version 2 is not supported.");
        res = GW_AUTH_UNSUPPORTED;
    } else
        res = GW_AUTH_ANONYMOUS;
    qp_free(q, nq);
    return res;
}
