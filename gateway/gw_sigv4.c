/* gw_sigv4.c: AWS Signature Version 4 verification for S3, in the two forms
 * S3 accepts on ordinary requests: the Authorization header and presigned
 * query parameters. (aws-chunked bodies are gw_chunked.c.)
 *
 * What is signed is rebuilt from what was received and streamed straight
 * into SHA-256, never assembled in memory:
 *
 *   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n
 *                      CanonicalHeaders \n SignedHeaders \n PayloadHash
 *   StringToSign     = "AWS4-HMAC-SHA256" \n amz-date \n scope \n
 *                      hex(SHA-256(CanonicalRequest))
 *   signature        = hex(HMAC(signing-key, StringToSign))
 *
 * Sources: AWS S3 API reference "Authenticating Requests (AWS Signature
 * Version 4)": "Using the Authorization Header", "Using Query Parameters";
 * AWS General Reference "Create a canonical request".
 *
 * Invariants:
 * - No allocation of our own (OpenSSL allocates its digest contexts):
 *   query parameters are borrowed slices in a bounded stack array
 *   (GW_SIGV4_MAX_QUERY_PARAMS, about 8 KiB of stack), decoded auth
 *   parameters live in fixed stack buffers, and every client-sized input
 *   is checked against a named limit before it is used.
 * - Canonical forms are computed from decoded bytes, so any encoding of the
 *   same bytes verifies alike, except that a '/' sent as %2F stays %2F (it
 *   is part of a key, not a separator; S3 clients sign it that way).
 * - Signatures are compared with CRYPTO_memcmp only.
 * - Nothing secret is written to msg or the log: not the secret, the
 *   signing key, the Authorization value or any signature. */
#include "gw_sigv4.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define SIG_HEX_LEN 64
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define MAX_NAME_LEN 128   /* one signed header name */
#define MAX_CRED_LEN 256   /* decoded X-Amz-Credential */
#define MAX_SMALL_PARAM 32 /* decoded X-Amz-Date, -Expires, -Algorithm */

static const char HEX_UPPER[] = "0123456789ABCDEF";

/* One query parameter exactly as received (still percent-encoded). */
struct qparam {
    struct cf_str name;  /* raw name, borrowed from the request */
    struct cf_str value; /* raw value, empty when there was no '=' */
};

/* SHA-256 over a canonical request, fed through a small buffer so the
 * byte-at-a-time encoders do not call into OpenSSL for every byte. */
struct hashbuf {
    EVP_MD_CTX *md; /* owned; freed by hb_final */
    int err;        /* an OpenSSL call failed: the result is unusable */
    size_t n;       /* bytes waiting in b */
    char b[512];    /* pending bytes */
};

/* Reads one percent-decoded byte of a query component or a path. */
struct enc_it {
    const char *p, *end; /* raw bytes not yet read */
    int npend;           /* hex digits still to emit after a '%' */
    char pend[2];        /* those digits */
};

/* The parsed Authorization header: slices into its value. */
struct authz {
    struct cf_str cred;        /* after "Credential=" */
    struct cf_str signed_hdrs; /* after "SignedHeaders=" */
    struct cf_str sig;         /* after "Signature=" */
};

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void log_ossl(const char *what);
static int is_unreserved(unsigned char c);
static int hexval(int c);
static int is_ws(char c);
static struct cf_str trim(struct cf_str s);
static int slice_caseeq(struct cf_str a, struct cf_str b);
static const struct gw_hdr *hdr_find(const struct gw_sigv4_req *r,
                                     const char *name, size_t *count);
static int q_decode_byte(const char **p, const char *end);
static int q_decoded_eq(struct cf_str raw, const char *lit);
static long q_decode(struct cf_str raw, char *out, size_t cap);
static int enc_next(struct enc_it *it);
static int qparam_cmp(const void *a, const void *b);
static int query_split(struct cf_str query, struct qparam *q, size_t cap,
                       size_t *n, int skip_signature);
static const struct qparam *query_get(struct cf_str query, const char *name,
                                      struct qparam *one, size_t *count);
static int hb_init(struct hashbuf *h);
static void hb_flush(struct hashbuf *h);
static void hb_put(struct hashbuf *h, char c);
static void hb_add(struct hashbuf *h, const char *p, size_t n);
static int hb_final(struct hashbuf *h, char hex[65]);
static void hb_path(struct hashbuf *h, struct cf_str path);
static void hb_component(struct hashbuf *h, struct cf_str raw);
static void hb_header_value(struct hashbuf *h, struct cf_str v);
static int hmac_sha256(const void *key, size_t klen, const void *msg,
                       size_t mlen, unsigned char out[32]);
static int canonical_hash(const struct gw_sigv4_req *r, const struct qparam *q,
                          size_t nq, struct cf_str signed_hdrs,
                          const char *payload, char hex[65]);
static int signed_list_ok(struct cf_str list, char *msg, size_t msglen);
static int signed_list_has(struct cf_str list, struct cf_str name);
static int signature_ok(struct cf_str sig, char lower[65]);
static enum gw_auth_result parse_authz(struct cf_str v, struct authz *az,
                                       char *msg, size_t msglen);
static int parse_credential(struct cf_str c, struct gw_sigv4_auth *a, char *msg,
                            size_t msglen);
static enum gw_auth_result payload_of(const struct gw_sigv4_req *r,
                                      int presigned, struct gw_sigv4_auth *a,
                                      char *msg, size_t msglen);
static enum gw_auth_result check_unsigned(const struct gw_sigv4_req *r,
                                          struct cf_str signed_hdrs, char *msg,
                                          size_t msglen);
static enum gw_auth_result finish(const struct gw_sigv4_req *r, int presigned,
                                  struct cf_str signed_hdrs, const char sig[65],
                                  gw_secret_fn secret, void *arg,
                                  struct gw_sigv4_auth *a, char *msg,
                                  size_t msglen);
static enum gw_auth_result verify_header(const struct gw_sigv4_req *r,
                                         struct cf_str value, int64_t now,
                                         gw_secret_fn secret, void *arg,
                                         struct gw_sigv4_auth *a, char *msg,
                                         size_t msglen);
static enum gw_auth_result verify_query(const struct gw_sigv4_req *r,
                                        int64_t now, gw_secret_fn secret,
                                        void *arg, struct gw_sigv4_auth *a,
                                        char *msg, size_t msglen);

/* ---- small helpers ---------------------------------------------------- */

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;

    if (msg == NULL || msglen == 0) return;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

/* Logs and drains OpenSSL's error queue (STYLE.md section 3). */
static void log_ossl(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];

    ERR_error_string_n(e, buf, sizeof(buf));
    cf_log(CF_LOG_ERR, "gw: sigv4: %s failed: %s", what,
           e ? buf : "no openssl error");
    ERR_clear_error();
}

/* RFC 3986 unreserved: the only bytes SigV4 leaves unencoded. */
static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static struct cf_str trim(struct cf_str s)
{
    while (s.len && is_ws(s.p[0]))
        s.p++, s.len--;
    while (s.len && is_ws(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* ASCII case-insensitive equality of two slices. */
static int slice_caseeq(struct cf_str a, struct cf_str b)
{
    size_t i;

    if (a.len != b.len) return 0;
    for (i = 0; i < a.len; i++) {
        unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y - 'A' + 'a');
        if (x != y) return 0;
    }
    return 1;
}

/* First header called name (any case); *count says how many there are. */
static const struct gw_hdr *hdr_find(const struct gw_sigv4_req *r,
                                     const char *name, size_t *count)
{
    const struct gw_hdr *first = NULL;
    size_t i, n = 0;

    for (i = 0; i < r->nhdrs; i++)
        if (cf_str_caseeq(r->hdrs[i].name, name)) {
            if (first == NULL) first = &r->hdrs[i];
            n++;
        }
    if (count) *count = n;
    return first;
}

/* ---- query components ------------------------------------------------- */

/* One decoded byte of a query name or value. '+' is a space, as in form
 * encoding: S3 reads "prefix=a+b" as "a b" (and a literal plus must be sent
 * as %2B), so both spellings of a space canonicalise to %20. A '%' that
 * does not start a valid escape stands for itself. */
static int q_decode_byte(const char **p, const char *end)
{
    const char *s = *p;
    int hi, lo;

    if (s[0] == '%' && end - s >= 3 &&
        (hi = hexval((unsigned char)s[1])) >= 0 &&
        (lo = hexval((unsigned char)s[2])) >= 0) {
        *p = s + 3;
        return hi << 4 | lo;
    }
    *p = s + 1;
    return s[0] == '+' ? ' ' : (unsigned char)s[0];
}

/* Does the decoded form of raw equal lit exactly? */
static int q_decoded_eq(struct cf_str raw, const char *lit)
{
    const char *p = raw.p, *end = raw.p + raw.len;

    while (p < end) {
        if (*lit == '\0' || q_decode_byte(&p, end) != (unsigned char)*lit)
            return 0;
        lit++;
    }
    return *lit == '\0';
}

/* Decodes raw into out (NUL-terminated); returns the length, or -1 when
 * it does not fit in cap - 1 bytes or decodes to a NUL byte. */
static long q_decode(struct cf_str raw, char *out, size_t cap)
{
    const char *p = raw.p, *end = raw.p + raw.len;
    size_t n = 0;

    while (p < end) {
        int b = q_decode_byte(&p, end);
        if (b == 0 || n + 1 >= cap) return -1;
        out[n++] = (char)b;
    }
    out[n] = '\0';
    return (long)n;
}

/* Next byte of the canonical (re-encoded) form of a query component, or -1
 * at its end. */
static int enc_next(struct enc_it *it)
{
    int b;

    if (it->npend) return (unsigned char)it->pend[2 - it->npend--];
    if (it->p >= it->end) return -1;
    b = q_decode_byte(&it->p, it->end);
    if (is_unreserved((unsigned char)b)) return b;
    it->pend[0] = HEX_UPPER[b >> 4];
    it->pend[1] = HEX_UPPER[b & 15];
    it->npend = 2;
    return '%';
}

/* Orders parameters by encoded name, then encoded value, byte-wise. */
static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        struct cf_str sx = pass ? x->value : x->name;
        struct cf_str sy = pass ? y->value : y->name;
        struct enc_it ix = {sx.p, sx.p + sx.len, 0, {0, 0}};
        struct enc_it iy = {sy.p, sy.p + sy.len, 0, {0, 0}};
        for (;;) {
            int cx = enc_next(&ix), cy = enc_next(&iy);
            if (cx != cy) return cx < cy ? -1 : 1;
            if (cx < 0) break;
        }
    }
    return 0;
}

/* Splits a raw query string at '&' into q (at most cap entries); empty
 * pieces are skipped. skip_signature leaves out X-Amz-Signature, which a
 * presigned request cannot sign. Returns 0, or -1 past cap. */
static int query_split(struct cf_str query, struct qparam *q, size_t cap,
                       size_t *n, int skip_signature)
{
    const char *p = query.p, *end = query.p + query.len;

    *n = 0;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *se = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(se - p));
        struct qparam one;

        if (se > p) {
            one.name = (struct cf_str){p, (size_t)((eq ? eq : se) - p)};
            one.value = eq ? (struct cf_str){eq + 1, (size_t)(se - eq - 1)}
                           : (struct cf_str){"", 0};
            if (!(skip_signature &&
                  q_decoded_eq(one.name, "X-Amz-Signature"))) {
                if (*n == cap) return -1;
                q[(*n)++] = one;
            }
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

/* Finds the parameter whose decoded name is name; copies it into *one and
 * returns one, or NULL. *count says how many there are. */
static const struct qparam *query_get(struct cf_str query, const char *name,
                                      struct qparam *one, size_t *count)
{
    const char *p = query.p, *end = query.p + query.len;
    int found = 0;

    *count = 0;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *se = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(se - p));
        struct cf_str nm = {p, (size_t)((eq ? eq : se) - p)};

        if (se > p && q_decoded_eq(nm, name)) {
            if (!found) {
                one->name = nm;
                one->value = eq ? (struct cf_str){eq + 1, (size_t)(se - eq - 1)}
                                : (struct cf_str){"", 0};
                found = 1;
            }
            (*count)++;
        }
        p = amp ? amp + 1 : end;
    }
    return found ? one : NULL;
}

/* ---- hashing the canonical request ----------------------------------- */

static int hb_init(struct hashbuf *h)
{
    h->n = 0;
    h->err = 0;
    h->md = EVP_MD_CTX_new();
    if (h->md == NULL || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        log_ossl("sha256 init");
        EVP_MD_CTX_free(h->md);
        h->md = NULL;
        return -1;
    }
    return 0;
}

static void hb_flush(struct hashbuf *h)
{
    if (h->n && !h->err && EVP_DigestUpdate(h->md, h->b, h->n) != 1) h->err = 1;
    h->n = 0;
}

static void hb_put(struct hashbuf *h, char c)
{
    if (h->n == sizeof(h->b)) hb_flush(h);
    h->b[h->n++] = c;
}

static void hb_add(struct hashbuf *h, const char *p, size_t n)
{
    if (n >= sizeof(h->b)) {
        hb_flush(h);
        if (!h->err && EVP_DigestUpdate(h->md, p, n) != 1) h->err = 1;
        return;
    }
    if (h->n + n > sizeof(h->b)) hb_flush(h);
    memcpy(h->b + h->n, p, n);
    h->n += n;
}

/* Finishes the digest and frees the context; 0, or -1 on an OpenSSL
 * failure (already logged). */
static int hb_final(struct hashbuf *h, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    hb_flush(h);
    if (h->err || EVP_DigestFinal_ex(h->md, md, &mdlen) != 1 || mdlen != 32) {
        log_ossl("sha256");
        EVP_MD_CTX_free(h->md);
        h->md = NULL;
        return -1;
    }
    EVP_MD_CTX_free(h->md);
    h->md = NULL;
    cf_hex_encode(md, 32, hex);
    return 0;
}

/* The canonical URI: each byte of the decoded path URI-encoded once with
 * S3's rules. A literal '/' separates segments and stays; a %2F is a slash
 * inside a key name and stays %2F. '+' in a path is a plus. No '.' or '//'
 * normalisation (S3 does not do it). An empty path is "/". */
static void hb_path(struct hashbuf *h, struct cf_str path)
{
    const char *p = path.p, *end = path.p + path.len;

    if (path.len == 0) {
        hb_put(h, '/');
        return;
    }
    while (p < end) {
        int b, hi, lo;
        if (p[0] == '%' && end - p >= 3 &&
            (hi = hexval((unsigned char)p[1])) >= 0 &&
            (lo = hexval((unsigned char)p[2])) >= 0) {
            b = hi << 4 | lo;
            p += 3;
        } else {
            b = (unsigned char)*p++;
            if (b == '/') {
                hb_put(h, '/');
                continue;
            }
        }
        if (is_unreserved((unsigned char)b)) {
            hb_put(h, (char)b);
        } else {
            hb_put(h, '%');
            hb_put(h, HEX_UPPER[b >> 4]);
            hb_put(h, HEX_UPPER[b & 15]);
        }
    }
}

static void hb_component(struct hashbuf *h, struct cf_str raw)
{
    struct enc_it it = {raw.p, raw.p + raw.len, 0, {0, 0}};
    int c;

    while ((c = enc_next(&it)) >= 0)
        hb_put(h, (char)c);
}

/* A header value trimmed, with every run of spaces and tabs inside it
 * collapsed to one space (AWS "Trimall"; botocore does the same). */
static void hb_header_value(struct hashbuf *h, struct cf_str v)
{
    size_t i;
    int space = 0;

    v = trim(v);
    for (i = 0; i < v.len; i++) {
        if (is_ws(v.p[i])) {
            space = 1;
            continue;
        }
        if (space) hb_put(h, ' ');
        space = 0;
        hb_put(h, v.p[i]);
    }
}

static int hmac_sha256(const void *key, size_t klen, const void *msg,
                       size_t mlen, unsigned char out[32])
{
    unsigned int outlen = 0;

    if (klen > (size_t)INT32_MAX ||
        HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &outlen) == NULL ||
        outlen != 32) {
        log_ossl("hmac-sha256");
        return -1;
    }
    return 0;
}

/* Hashes the canonical request. q holds the parameters to sign, sorted. */
static int canonical_hash(const struct gw_sigv4_req *r, const struct qparam *q,
                          size_t nq, struct cf_str signed_hdrs,
                          const char *payload, char hex[65])
{
    struct hashbuf h;
    const char *p = signed_hdrs.p, *end = signed_hdrs.p + signed_hdrs.len;
    size_t i;

    if (hb_init(&h) != 0) return -1;
    hb_add(&h, r->method.p, r->method.len);
    hb_put(&h, '\n');
    hb_path(&h, r->path);
    hb_put(&h, '\n');
    for (i = 0; i < nq; i++) {
        if (i) hb_put(&h, '&');
        hb_component(&h, q[i].name);
        hb_put(&h, '=');
        hb_component(&h, q[i].value);
    }
    hb_put(&h, '\n');
    /* One "name:value\n" per signed name, in the order the client listed
     * them. Repeated headers are joined with ',' in arrival order; a signed
     * header that is absent signs as empty, so the signature (made over
     * whatever value the client had) does not match. */
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        struct cf_str name = {p, (size_t)((semi ? semi : end) - p)};
        int first = 1;

        hb_add(&h, name.p, name.len);
        hb_put(&h, ':');
        for (i = 0; i < r->nhdrs; i++) {
            if (!slice_caseeq(r->hdrs[i].name, name)) continue;
            if (!first) hb_put(&h, ',');
            hb_header_value(&h, r->hdrs[i].value);
            first = 0;
        }
        hb_put(&h, '\n');
        p = semi ? semi + 1 : end;
    }
    hb_put(&h, '\n');
    hb_add(&h, signed_hdrs.p, signed_hdrs.len);
    hb_put(&h, '\n');
    hb_add(&h, payload, strlen(payload));
    return hb_final(&h, hex);
}

/* ---- public building blocks ------------------------------------------ */

long gw_sigv4_uri_encode(const char *in, size_t len, int keep_slash, char *out,
                         size_t outcap)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (is_unreserved(c) || (c == '/' && keep_slash)) {
            if (o + 1 >= outcap) return -1;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= outcap) return -1;
            out[o++] = '%';
            out[o++] = HEX_UPPER[c >> 4];
            out[o++] = HEX_UPPER[c & 15];
        }
    }
    if (o >= outcap) return -1;
    out[o] = '\0';
    return (long)o;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request"). An HMAC key longer than SHA-256's 64-byte block is used
 * as its SHA-256 (RFC 2104), so a long secret is hashed in place instead of
 * being copied. If OpenSSL fails, the key is filled with random bytes so
 * that nothing can verify against it (the failure is logged). */
void gw_sigv4_signing_key(const char *secret, const char *date,
                          const char *region, const char *service,
                          unsigned char key[32])
{
    unsigned char k0[4 + 60], a[32], b[32];
    size_t slen = strlen(secret), k0len;
    int ok;

    if (slen <= sizeof(k0) - 4) {
        memcpy(k0, "AWS4", 4);
        memcpy(k0 + 4, secret, slen);
        k0len = 4 + slen;
    } else {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned int l = 0;
        ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, "AWS4", 4) == 1 &&
             EVP_DigestUpdate(md, secret, slen) == 1 &&
             EVP_DigestFinal_ex(md, k0, &l) == 1 && l == 32;
        EVP_MD_CTX_free(md);
        if (!ok) {
            log_ossl("sha256 of a long secret");
            cf_random_bytes(key, 32);
            return;
        }
        k0len = 32;
    }
    ok = hmac_sha256(k0, k0len, date, strlen(date), a) == 0 &&
         hmac_sha256(a, 32, region, strlen(region), b) == 0 &&
         hmac_sha256(b, 32, service, strlen(service), a) == 0 &&
         hmac_sha256(a, 32, "aws4_request", 12, key) == 0;
    if (!ok) cf_random_bytes(key, 32);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
}

/* ---- parsing ---------------------------------------------------------- */

/* SignedHeaders: lower-case header names separated by ';', host among
 * them. Returns 0, or -1 with msg set. */
static int signed_list_ok(struct cf_str list, char *msg, size_t msglen)
{
    const char *p = list.p, *end = list.p + list.len;
    static const char tchar[] = "!#$%&'*+-.^_`|~";

    if (list.len == 0 || list.len > GW_SIGV4_MAX_SIGNED_HEADERS_LEN) {
        set_msg(msg, msglen,
                "SignedHeaders must list between 1 and %d "
                "bytes of header names",
                GW_SIGV4_MAX_SIGNED_HEADERS_LEN);
        return -1;
    }
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *e = semi ? semi : end;
        const char *s;
        if (e == p || e - p > MAX_NAME_LEN) {
            set_msg(msg, msglen,
                    "SignedHeaders has an empty or over-long "
                    "header name");
            return -1;
        }
        for (s = p; s < e; s++) {
            char c = *s;
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (c != '\0' && strchr(tchar, c) != NULL))) {
                set_msg(msg, msglen,
                        "SignedHeaders must be lower-case "
                        "header names separated by ';'");
                return -1;
            }
        }
        p = semi ? semi + 1 : end;
        if (semi && p == end) {
            set_msg(msg, msglen, "SignedHeaders ends with ';'");
            return -1;
        }
    }
    if (!signed_list_has(list, CF_STR_LIT("host"))) {
        set_msg(msg, msglen, "SignedHeaders must include host");
        return -1;
    }
    return 0;
}

/* Is name (any case) in the ';'-separated list? */
static int signed_list_has(struct cf_str list, struct cf_str name)
{
    const char *p = list.p, *end = list.p + list.len;

    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        struct cf_str one = {p, (size_t)((semi ? semi : end) - p)};
        if (slice_caseeq(one, name)) return 1;
        p = semi ? semi + 1 : end;
    }
    return 0;
}

/* 64 hex digits; copies them lower-cased (what signers produce). */
static int signature_ok(struct cf_str sig, char lower[65])
{
    size_t i;

    if (sig.len != SIG_HEX_LEN) return 0;
    for (i = 0; i < SIG_HEX_LEN; i++) {
        char c = sig.p[i];
        if (hexval((unsigned char)c) < 0) return 0;
        lower[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    lower[SIG_HEX_LEN] = '\0';
    return 1;
}

/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." with
 * any spaces or tabs around the algorithm, commas and '='. */
static enum gw_auth_result parse_authz(struct cf_str v, struct authz *az,
                                       char *msg, size_t msglen)
{
    const char *p = v.p, *end = v.p + v.len;
    struct cf_str alg;
    int have_cred = 0, have_sh = 0, have_sig = 0;

    while (p < end && !is_ws(*p))
        p++;
    alg = (struct cf_str){v.p, (size_t)(p - v.p)};
    if (cf_str_eq(alg, "AWS")) {
        set_msg(msg, msglen,
                "Signature Version 2 is not supported; sign "
                "requests with AWS4-HMAC-SHA256");
        return GW_AUTH_UNSUPPORTED;
    }
    if (!cf_str_eq(alg, ALGORITHM)) {
        set_msg(msg, msglen, "Unsupported Authorization Type");
        return GW_AUTH_UNSUPPORTED;
    }
    /* Every comma-separated part, including an empty one after a
     * trailing comma, must be Key=Value. */
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *se = comma ? comma : end;
        const char *eq = memchr(p, '=', (size_t)(se - p));
        struct cf_str key, val;

        if (eq == NULL) {
            set_msg(msg, msglen,
                    "The authorization header is malformed; "
                    "each component must be Key=Value");
            return GW_AUTH_MALFORMED;
        }
        key = trim((struct cf_str){p, (size_t)(eq - p)});
        val = trim((struct cf_str){eq + 1, (size_t)(se - eq - 1)});
        if (cf_str_eq(key, "Credential") && !have_cred) {
            az->cred = val;
            have_cred = 1;
        } else if (cf_str_eq(key, "SignedHeaders") && !have_sh) {
            az->signed_hdrs = val;
            have_sh = 1;
        } else if (cf_str_eq(key, "Signature") && !have_sig) {
            az->sig = val;
            have_sig = 1;
        } else {
            set_msg(msg, msglen,
                    "The authorization header is malformed; "
                    "unexpected or repeated component '%.*s'",
                    (int)(key.len > 32 ? 32 : key.len), key.p);
            return GW_AUTH_MALFORMED;
        }
        if (comma == NULL) break;
        p = comma + 1;
    }
    if (!have_cred || !have_sh || !have_sig) {
        set_msg(msg, msglen,
                "The authorization header is malformed; "
                "missing %s",
                !have_cred ? "Credential"
                : !have_sh ? "SignedHeaders"
                           : "Signature");
        return GW_AUTH_MALFORMED;
    }
    return GW_AUTH_OK;
}

/* "AKID/YYYYMMDD/region/s3/aws4_request" into a's key, date, region and
 * scope. Any region is accepted here: the server compares it with its own
 * (and answers AuthorizationHeaderMalformed, as AWS does). */
static int parse_credential(struct cf_str c, struct gw_sigv4_auth *a, char *msg,
                            size_t msglen)
{
    struct cf_str part[5];
    const char *p = c.p, *end = c.p + c.len;
    size_t k = 0, i;

    while (k < 5) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = (k < 4 && slash) ? slash : end;
        part[k++] = (struct cf_str){p, (size_t)(e - p)};
        if (e == end) break;
        p = e + 1;
    }
    if (k != 5 || memchr(part[4].p, '/', part[4].len) != NULL) {
        set_msg(msg, msglen,
                "the Credential is mal-formed; expecting "
                "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"");
        return -1;
    }
    if (part[0].len == 0 || part[0].len >= sizeof(a->access_key)) {
        set_msg(msg, msglen, "the Credential is mal-formed; bad access key");
        return -1;
    }
    for (i = 0; i < part[0].len; i++)
        if ((unsigned char)part[0].p[i] <= ' ' ||
            (unsigned char)part[0].p[i] >= 0x7f) {
            set_msg(msg, msglen,
                    "the Credential is mal-formed; bad access "
                    "key");
            return -1;
        }
    if (part[1].len != 8) {
        set_msg(msg, msglen,
                "the Credential is mal-formed; the date must be "
                "YYYYMMDD");
        return -1;
    }
    for (i = 0; i < 8; i++)
        if (part[1].p[i] < '0' || part[1].p[i] > '9') {
            set_msg(msg, msglen,
                    "the Credential is mal-formed; the date "
                    "must be YYYYMMDD");
            return -1;
        }
    if (part[2].len == 0 || part[2].len >= sizeof(a->region)) {
        set_msg(msg, msglen, "the Credential is mal-formed; bad region");
        return -1;
    }
    for (i = 0; i < part[2].len; i++)
        if ((unsigned char)part[2].p[i] <= ' ' ||
            (unsigned char)part[2].p[i] >= 0x7f) {
            set_msg(msg, msglen, "the Credential is mal-formed; bad region");
            return -1;
        }
    if (!cf_str_eq(part[3], "s3")) {
        set_msg(msg, msglen,
                "incorrect service \"%.*s\"; this endpoint "
                "belongs to \"s3\"",
                (int)(part[3].len > 32 ? 32 : part[3].len), part[3].p);
        return -1;
    }
    if (!cf_str_eq(part[4], "aws4_request")) {
        set_msg(msg, msglen,
                "incorrect terminal \"%.*s\"; this endpoint "
                "uses \"aws4_request\"",
                (int)(part[4].len > 32 ? 32 : part[4].len), part[4].p);
        return -1;
    }
    memcpy(a->access_key, part[0].p, part[0].len);
    a->access_key[part[0].len] = '\0';
    memcpy(a->date, part[1].p, 8);
    a->date[8] = '\0';
    memcpy(a->region, part[2].p, part[2].len);
    a->region[part[2].len] = '\0';
    snprintf(a->scope, sizeof(a->scope), "%s/%s/s3/aws4_request", a->date,
             a->region);
    return 0;
}

/* x-amz-content-sha256: one of the five payload modes. Header auth must
 * send it (S3: InvalidRequest); a presigned request without it signs
 * UNSIGNED-PAYLOAD, with it signs its value (as botocore does). */
static enum gw_auth_result payload_of(const struct gw_sigv4_req *r,
                                      int presigned, struct gw_sigv4_auth *a,
                                      char *msg, size_t msglen)
{
    static const struct {
        const char *value;
        enum gw_payload_mode mode;
    } modes[] = {
        {UNSIGNED_PAYLOAD, GW_PAYLOAD_UNSIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", GW_PAYLOAD_STREAMING_SIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
         GW_PAYLOAD_STREAMING_SIGNED_TRAILER},
        {"STREAMING-UNSIGNED-PAYLOAD-TRAILER",
         GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
    };
    size_t n, i;
    const struct gw_hdr *h = hdr_find(r, "x-amz-content-sha256", &n);
    struct cf_str v;

    if (h == NULL) {
        if (presigned) {
            a->payload = GW_PAYLOAD_UNSIGNED;
            snprintf(a->payload_sha256, sizeof(a->payload_sha256), "%s",
                     UNSIGNED_PAYLOAD);
            return GW_AUTH_OK;
        }
        set_msg(msg, msglen,
                "Missing required header for this request: "
                "x-amz-content-sha256");
        return GW_AUTH_MISSING_CONTENT_SHA;
    }
    v = trim(h->value);
    if (n == 1) {
        for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
            if (cf_str_eq(v, modes[i].value)) {
                a->payload = modes[i].mode;
                snprintf(a->payload_sha256, sizeof(a->payload_sha256), "%s",
                         modes[i].value);
                return GW_AUTH_OK;
            }
        if (v.len == 64) {
            for (i = 0; i < 64 && hexval((unsigned char)v.p[i]) >= 0; i++)
                ;
            if (i == 64) {
                a->payload = GW_PAYLOAD_SIGNED;
                memcpy(a->payload_sha256, v.p, 64);
                a->payload_sha256[64] = '\0';
                return GW_AUTH_OK;
            }
        }
    }
    set_msg(msg, msglen,
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER], "
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER, or a valid sha256 value");
    return GW_AUTH_BAD_CONTENT_SHA;
}

/* S3 refuses a request carrying an x-amz-* header it did not sign ("There
 * were headers present in the request which were not signed"): otherwise
 * anyone holding a signed request could add x-amz-bypass-governance-
 * retention, x-amz-object-lock-*, x-amz-copy-source... to it. Exempt are
 * the framing headers SDKs may add around a signed request; x-amzn-*
 * (trace ids) is a different prefix. AWS answers 403 AccessDenied; with no
 * such status in gw_auth_result this is 403 SignatureDoesNotMatch. */
static enum gw_auth_result check_unsigned(const struct gw_sigv4_req *r,
                                          struct cf_str signed_hdrs, char *msg,
                                          size_t msglen)
{
    static const char *const exempt[] = {
        "x-amz-content-sha256",
        "x-amz-decoded-content-length",
        "x-amz-trailer",
        "x-amz-sdk-checksum-algorithm",
    };
    size_t i, k;

    for (i = 0; i < r->nhdrs; i++) {
        struct cf_str name = r->hdrs[i].name;
        int skip = 0;
        if (name.len < 6 ||
            !slice_caseeq((struct cf_str){name.p, 6}, CF_STR_LIT("x-amz-")))
            continue;
        for (k = 0; k < sizeof(exempt) / sizeof(exempt[0]); k++)
            if (cf_str_caseeq(name, exempt[k])) skip = 1;
        if (skip || signed_list_has(signed_hdrs, name)) continue;
        set_msg(msg, msglen,
                "There were headers present in the request "
                "which were not signed: %.*s",
                (int)(name.len > 64 ? 64 : name.len), name.p);
        return GW_AUTH_BAD_SIGNATURE;
    }
    return GW_AUTH_OK;
}

/* Common tail: unsigned x-amz-* headers, the secret, the canonical request
 * and the comparison. a holds the credential, dates and payload. */
static enum gw_auth_result finish(const struct gw_sigv4_req *r, int presigned,
                                  struct cf_str signed_hdrs, const char sig[65],
                                  gw_secret_fn secret, void *arg,
                                  struct gw_sigv4_auth *a, char *msg,
                                  size_t msglen)
{
    struct qparam q[GW_SIGV4_MAX_QUERY_PARAMS];
    size_t nq;
    const char *sk;
    char creq[65], sts[256], want[65];
    unsigned char mac[32];
    enum gw_auth_result res;
    int n;

    if (query_split(r->query, q, GW_SIGV4_MAX_QUERY_PARAMS, &nq, presigned) !=
        0) {
        set_msg(msg, msglen, "more than %d query parameters",
                GW_SIGV4_MAX_QUERY_PARAMS);
        return GW_AUTH_MALFORMED;
    }
    res = check_unsigned(r, signed_hdrs, msg, msglen);
    if (res != GW_AUTH_OK) return res;
    sk = secret(a->access_key, arg);
    if (sk == NULL) {
        set_msg(msg, msglen,
                "The AWS Access Key Id you provided does not "
                "exist in our records.");
        return GW_AUTH_BAD_ACCESS_KEY;
    }
    qsort(q, nq, sizeof(q[0]), qparam_cmp);
    gw_sigv4_signing_key(sk, a->date, a->region, "s3", a->signing_key);
    n = snprintf(sts, sizeof(sts), ALGORITHM "\n%s\n%s\n", a->amz_date,
                 a->scope);
    if (canonical_hash(r, q, nq, signed_hdrs, a->payload_sha256, creq) != 0 ||
        n < 0 || (size_t)n + 64 >= sizeof(sts)) {
        OPENSSL_cleanse(a->signing_key, sizeof(a->signing_key));
        set_msg(msg, msglen, "the signature could not be computed");
        return GW_AUTH_BAD_SIGNATURE;
    }
    memcpy(sts + n, creq, 64);
    if (hmac_sha256(a->signing_key, 32, sts, (size_t)n + 64, mac) != 0) {
        OPENSSL_cleanse(a->signing_key, sizeof(a->signing_key));
        set_msg(msg, msglen, "the signature could not be computed");
        return GW_AUTH_BAD_SIGNATURE;
    }
    cf_hex_encode(mac, 32, want);
    if (CRYPTO_memcmp(want, sig, SIG_HEX_LEN) != 0) {
        OPENSSL_cleanse(a->signing_key, sizeof(a->signing_key));
        set_msg(msg, msglen,
                "The request signature we calculated does not "
                "match the signature you provided. Check your key and "
                "signing method.");
        return GW_AUTH_BAD_SIGNATURE;
    }
    memcpy(a->seed_signature, sig, 65);
    return GW_AUTH_OK;
}

/* ---- the two forms ---------------------------------------------------- */

static enum gw_auth_result verify_header(const struct gw_sigv4_req *r,
                                         struct cf_str value, int64_t now,
                                         gw_secret_fn secret, void *arg,
                                         struct gw_sigv4_auth *a, char *msg,
                                         size_t msglen)
{
    struct authz az;
    struct qparam one;
    const struct gw_hdr *dh;
    size_t n;
    int64_t t;
    char sig[65];
    enum gw_auth_result res;

    res = parse_authz(trim(value), &az, msg, msglen);
    if (res != GW_AUTH_OK) return res;
    if (parse_credential(az.cred, a, msg, msglen) != 0)
        return GW_AUTH_MALFORMED;
    if (signed_list_ok(az.signed_hdrs, msg, msglen) != 0)
        return GW_AUTH_MALFORMED;
    if (!signature_ok(az.sig, sig)) {
        set_msg(msg, msglen,
                "The authorization header is malformed; the "
                "Signature must be 64 hex digits");
        return GW_AUTH_MALFORMED;
    }
    if (query_get(r->query, "X-Amz-Algorithm", &one, &n) != NULL ||
        query_get(r->query, "X-Amz-Signature", &one, &n) != NULL) {
        set_msg(msg, msglen,
                "Only one auth mechanism allowed; only the "
                "X-Amz-Algorithm query parameter or the Authorization header "
                "should be specified");
        return GW_AUTH_MALFORMED;
    }

    /* The request time: x-amz-date, else Date (RFC 7231). The string to
     * sign carries it in ISO 8601 basic form either way. */
    dh = hdr_find(r, "x-amz-date", &n);
    if (dh != NULL) {
        struct cf_str v = trim(dh->value);
        if (n != 1 || cf_parse_amz_date(v, &t) != 0) {
            set_msg(msg, msglen,
                    "AWS authentication requires a valid Date "
                    "or x-amz-date header");
            return GW_AUTH_BAD_DATE;
        }
        memcpy(a->amz_date, v.p, 16); /* the parse checked it is 16 long */
        a->amz_date[16] = '\0';
    } else if ((dh = hdr_find(r, "date", &n)) != NULL && n == 1 &&
               cf_parse_http_date(trim(dh->value), &t) == 0) {
        char d[CF_ISO8601_LEN];
        cf_fmt_amz_date(t, d);
        if (strlen(d) != 16) {
            set_msg(msg, msglen,
                    "AWS authentication requires a valid Date "
                    "or x-amz-date header");
            return GW_AUTH_BAD_DATE;
        }
        memcpy(a->amz_date, d, 17);
    } else {
        set_msg(msg, msglen,
                "AWS authentication requires a valid Date or "
                "x-amz-date header");
        return GW_AUTH_BAD_DATE;
    }
    if (memcmp(a->amz_date, a->date, 8) != 0) {
        set_msg(msg, msglen,
                "Invalid credential date \"%s\"; it is not the "
                "same as X-Amz-Date \"%.8s\"",
                a->date, a->amz_date);
        return GW_AUTH_MALFORMED;
    }
    if (t > now + GW_SIGV4_MAX_SKEW_S || t < now - GW_SIGV4_MAX_SKEW_S) {
        set_msg(msg, msglen,
                "The difference between the request time and "
                "the current time is too large.");
        return GW_AUTH_SKEWED;
    }
    res = payload_of(r, 0, a, msg, msglen);
    if (res != GW_AUTH_OK) return res;
    return finish(r, 0, az.signed_hdrs, sig, secret, arg, a, msg, msglen);
}

/* Presigned: X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders
 * and -Signature in the query. AWS answers a malformed one with
 * AuthorizationQueryParametersError (the server picks it from presigned). */
static enum gw_auth_result verify_query(const struct gw_sigv4_req *r,
                                        int64_t now, gw_secret_fn secret,
                                        void *arg, struct gw_sigv4_auth *a,
                                        char *msg, size_t msglen)
{
    static const char *const names[] = {
        "X-Amz-Algorithm", "X-Amz-Credential",    "X-Amz-Date",
        "X-Amz-Expires",   "X-Amz-SignedHeaders", "X-Amz-Signature",
    };
    struct qparam p[6];
    char alg[MAX_SMALL_PARAM], cred[MAX_CRED_LEN], date[MAX_SMALL_PARAM];
    char expires[MAX_SMALL_PARAM], sh[GW_SIGV4_MAX_SIGNED_HEADERS_LEN + 1];
    char sigraw[SIG_HEX_LEN + 1], sig[65];
    long len[6];
    int64_t t, exp = 0;
    size_t i, n;
    enum gw_auth_result res;
    char *bufs[6];
    size_t caps[6];

    a->presigned = 1;
    bufs[0] = alg, caps[0] = sizeof(alg);
    bufs[1] = cred, caps[1] = sizeof(cred);
    bufs[2] = date, caps[2] = sizeof(date);
    bufs[3] = expires, caps[3] = sizeof(expires);
    bufs[4] = sh, caps[4] = sizeof(sh);
    bufs[5] = sigraw, caps[5] = sizeof(sigraw);
    for (i = 0; i < 6; i++) {
        if (query_get(r->query, names[i], &p[i], &n) == NULL) {
            set_msg(msg, msglen,
                    "Query-string authentication version 4 "
                    "requires the X-Amz-Algorithm, X-Amz-Credential, "
                    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                    "X-Amz-Expires parameters.");
            return GW_AUTH_MALFORMED;
        }
        if (n != 1) {
            set_msg(msg, msglen, "%s appears more than once", names[i]);
            return GW_AUTH_MALFORMED;
        }
        len[i] = q_decode(p[i].value, bufs[i], caps[i]);
        if (len[i] < 0) {
            set_msg(msg, msglen, "%s is too long or not valid", names[i]);
            return GW_AUTH_MALFORMED;
        }
    }
    if (strcmp(alg, ALGORITHM) != 0) {
        set_msg(msg, msglen, "X-Amz-Algorithm only supports \"" ALGORITHM "\"");
        return GW_AUTH_MALFORMED;
    }
    if (parse_credential((struct cf_str){cred, (size_t)len[1]}, a, msg,
                         msglen) != 0)
        return GW_AUTH_MALFORMED;
    if (cf_parse_amz_date((struct cf_str){date, (size_t)len[2]}, &t) != 0) {
        set_msg(msg, msglen,
                "X-Amz-Date must be in the ISO8601 Long Format "
                "\"yyyyMMdd'T'HHmmss'Z'\"");
        return GW_AUTH_MALFORMED;
    }
    memcpy(a->amz_date, date, 17);
    if (memcmp(a->amz_date, a->date, 8) != 0) {
        set_msg(msg, msglen,
                "Invalid credential date \"%s\"; it is not the "
                "same as X-Amz-Date \"%.8s\"",
                a->date, a->amz_date);
        return GW_AUTH_MALFORMED;
    }
    /* 1..604800 seconds (AWS: "The minimum value you can set is 1, and the
     * maximum is 604800 (seven days)"). */
    for (i = 0; i < (size_t)len[3]; i++) {
        if (expires[i] < '0' || expires[i] > '9' || i >= 9) break;
        exp = exp * 10 + (expires[i] - '0');
    }
    if (len[3] == 0 || i != (size_t)len[3] || exp < 1) {
        set_msg(msg, msglen,
                "X-Amz-Expires should be a number between 1 "
                "and %d",
                GW_SIGV4_MAX_EXPIRES_S);
        return GW_AUTH_MALFORMED;
    }
    if (exp > GW_SIGV4_MAX_EXPIRES_S) {
        set_msg(msg, msglen,
                "X-Amz-Expires must be less than a week (in "
                "seconds) that is; the given X-Amz-Expires must be less than "
                "%d seconds",
                GW_SIGV4_MAX_EXPIRES_S);
        return GW_AUTH_MALFORMED;
    }
    if (signed_list_ok((struct cf_str){sh, (size_t)len[4]}, msg, msglen) != 0)
        return GW_AUTH_MALFORMED;
    if (!signature_ok((struct cf_str){sigraw, (size_t)len[5]}, sig)) {
        set_msg(msg, msglen, "X-Amz-Signature must be 64 hex digits");
        return GW_AUTH_MALFORMED;
    }
    /* Only the future side has a tolerance: a URL dated more than 15
     * minutes ahead is refused as S3 does (403 AccessDenied "Request is
     * not valid yet"), so a future date cannot stretch its lifetime. It
     * is valid through date + expires inclusive. */
    if (t > now + GW_SIGV4_MAX_SKEW_S) {
        set_msg(msg, msglen, "Request is not valid yet");
        return GW_AUTH_BAD_DATE;
    }
    if (now > t + exp) {
        set_msg(msg, msglen, "Request has expired");
        return GW_AUTH_EXPIRED;
    }
    res = payload_of(r, 1, a, msg, msglen);
    if (res != GW_AUTH_OK) return res;
    return finish(r, 1, (struct cf_str){sh, (size_t)len[4]}, sig, secret, arg,
                  a, msg, msglen);
}

enum gw_auth_result gw_sigv4_verify(const struct gw_sigv4_req *req, int64_t now,
                                    gw_secret_fn secret, void *arg,
                                    struct gw_sigv4_auth *out, char *msg,
                                    size_t msglen)
{
    const struct gw_hdr *auth;
    struct qparam one;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (msg && msglen) msg[0] = '\0';
    auth = hdr_find(req, "authorization", &n);
    if (n > 1) {
        set_msg(msg, msglen, "more than one Authorization header");
        return GW_AUTH_MALFORMED;
    }
    if (auth != NULL)
        return verify_header(req, auth->value, now, secret, arg, out, msg,
                             msglen);
    if (query_get(req->query, "X-Amz-Algorithm", &one, &n) != NULL ||
        query_get(req->query, "X-Amz-Signature", &one, &n) != NULL ||
        query_get(req->query, "X-Amz-Credential", &one, &n) != NULL)
        return verify_query(req, now, secret, arg, out, msg, msglen);
    if (query_get(req->query, "AWSAccessKeyId", &one, &n) != NULL) {
        set_msg(msg, msglen,
                "Signature Version 2 is not supported; sign "
                "requests with AWS4-HMAC-SHA256");
        return GW_AUTH_UNSUPPORTED;
    }
    return GW_AUTH_ANONYMOUS;
}
