/* gw_chunked.c: incremental decoder for aws-chunked request bodies, fed
 * arbitrary splits of the body as they arrive.
 *
 * Wire format (AWS S3 API reference, "Transferring Payload in Multiple
 * Chunks" and "Signature calculations for trailing headers"):
 *
 *   body      = *chunk last-chunk *trailer CRLF
 *   chunk     = hex-size [ ";chunk-signature=" 64HEX ] CRLF data CRLF
 *   last-chunk= "0"      [ ";chunk-signature=" 64HEX ] CRLF
 *   trailer   = name ":" value CRLF        (trailer modes only)
 *
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD          every chunk signed, no
 *                                               trailers
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  every chunk signed; the
 *       trailers end with "x-amz-trailer-signature:" 64HEX
 *   STREAMING-UNSIGNED-PAYLOAD-TRAILER          "hex CRLF data CRLF", any
 *       chunk extensions ignored, trailers unsigned
 *
 * Chunk signature (chained from the request's seed signature):
 *   HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\n" amz-date "\n" scope "\n"
 *             previous-signature "\n" hex(SHA-256("")) "\n"
 *             hex(SHA-256(chunk data)))
 * Trailer signature (chained from the last, zero-size chunk's):
 *   HMAC(key, "AWS4-HMAC-SHA256-TRAILER\n" amz-date "\n" scope "\n"
 *             previous-signature "\n" hex(SHA-256(canonical trailers)))
 *   canonical trailers = each "name:value\n", names lower-case and sorted,
 *   values trimmed (AWS's example: SHA-256("x-amz-checksum-crc32c:
 *   sOO8/Q==\n")).
 *
 * Invariants:
 * - Chunk data is never buffered: it is hashed and passed to the callback
 *   as it arrives, before its signature can be checked. The caller commits
 *   nothing until gw_chunked_feed returns GW_CHUNKED_DONE.
 * - Only one chunk-size line (GW_CHUNK_HEADER_MAX with its CRLF) and the
 *   trailers (GW_TRAILER_MAX, GW_TRAILER_MAX_COUNT) are held, in fixed
 *   arrays inside the decoder.
 * - After an error the decoder is dead: every later feed returns the same
 *   status. After DONE, feeds consume nothing and return DONE, so bytes
 *   after the body show up as *consumed < n. */
#include "gw_sigv4.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY_SHA256                                                           \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_CHUNK_SIZE (1ULL << 40)
#define SIG_HEX_LEN 64
#define CHUNK_SIG_EXT ";chunk-signature="
#define TRAILER_SIG_NAME "x-amz-trailer-signature"

enum ck_state {
    CK_SIZE_LINE, /* reading "hex[;ext]\r\n" into line[] */
    CK_DATA,      /* passing chunk data through; remaining counts down */
    CK_DATA_CR,   /* the CR that ends chunk data */
    CK_DATA_LF,   /* the LF that ends chunk data */
    CK_TRAILER,   /* reading trailer lines into tbuf[] */
    CK_DONE,      /* the empty line after the trailers was read */
    CK_FAILED,    /* dead: failed holds the status */
};

enum line_result { LINE_MORE, LINE_DONE, LINE_BAD, LINE_LONG };

/* One trailer header: offsets into tbuf. */
struct ck_trailer {
    size_t noff, nlen; /* name, lower-cased in place */
    size_t voff, vlen; /* value, trimmed */
};

/* Decoder state for one request body. Owned by the thread that feeds the
 * body (the request's loop thread); not shared. */
struct gw_chunked {
    enum gw_payload_mode mode;         /* one of the STREAMING_* modes */
    const struct gw_sigv4_auth *auth;  /* borrowed; NULL in unsigned mode */
    gw_chunked_data_fn fn;             /* receives decoded data */
    void *arg;                         /* for fn */
    int is_signed;                     /* chunk signatures are checked */
    enum ck_state state;               /* where the parser is */
    enum gw_chunked_status failed;     /* the status once CK_FAILED */
    uint64_t remaining;                /* data bytes left in this chunk */
    uint64_t decoded;                  /* data bytes passed to fn */
    EVP_MD_CTX *md;                    /* SHA-256 of this chunk's data */
    char prev_sig[SIG_HEX_LEN + 1];    /* last verified signature (chain) */
    char chunk_sig[SIG_HEX_LEN + 1];   /* signature claimed for this chunk */
    char trailer_sig[SIG_HEX_LEN + 1]; /* x-amz-trailer-signature value */
    int have_trailer_sig;              /* trailer_sig was read */
    size_t line_len;                   /* bytes in line[] (may end in CR) */
    char line[GW_CHUNK_HEADER_MAX];    /* the chunk-size line so far */
    size_t twire;                      /* wire bytes of complete trailer
                                          lines, CRLFs included */
    size_t tused;                      /* tbuf bytes of complete lines */
    size_t tcur;                       /* bytes of the current line */
    int ntrailers;                     /* entries in tr[] */
    /* Trailers read so far, in arrival order. */
    struct ck_trailer tr[GW_TRAILER_MAX_COUNT];
    /* Trailer lines without their CRLFs, plus room for the CR of the
     * final empty line. */
    char tbuf[GW_TRAILER_MAX + 2];
};

static void log_ossl(const char *what);
static enum gw_chunked_status fail(struct gw_chunked *c,
                                   enum gw_chunked_status st);
static enum line_result line_take(const char **pp, const char *end, char *dst,
                                  size_t cap, size_t *len);
static int hexval(int c);
static int sig_copy(const char *p, size_t n, char out[SIG_HEX_LEN + 1]);
static int hmac_hex(const unsigned char key[32], const char *msg, size_t n,
                    char out[SIG_HEX_LEN + 1]);
static int chunk_begin(struct gw_chunked *c);
static enum gw_chunked_status chunk_verify(struct gw_chunked *c);
static enum gw_chunked_status size_line(struct gw_chunked *c);
static int trailer_verify(const struct gw_chunked *c);
static enum gw_chunked_status trailer_line(struct gw_chunked *c);

static void log_ossl(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];

    ERR_error_string_n(e, buf, sizeof(buf));
    cf_log(CF_LOG_ERR, "gw: aws-chunked: %s failed: %s", what,
           e ? buf : "no openssl error");
    ERR_clear_error();
}

static enum gw_chunked_status fail(struct gw_chunked *c,
                                   enum gw_chunked_status st)
{
    c->state = CK_FAILED;
    c->failed = st;
    return st;
}

/* Appends the bytes of one CRLF-terminated line to dst, which holds *len
 * bytes and may grow to cap (the CR included, the LF never stored). On
 * LINE_DONE *len excludes the CR. A CR not followed by LF, or an LF not
 * preceded by CR, is LINE_BAD. *pp advances past what was used. */
static enum line_result line_take(const char **pp, const char *end, char *dst,
                                  size_t cap, size_t *len)
{
    const char *p = *pp;
    enum line_result res = LINE_MORE;

    while (p < end) {
        char ch = *p++;
        if (ch == '\n') {
            if (*len == 0 || dst[*len - 1] != '\r') {
                res = LINE_BAD;
                break;
            }
            (*len)--;
            res = LINE_DONE;
            break;
        }
        if (*len > 0 && dst[*len - 1] == '\r') {
            res = LINE_BAD;
            break;
        }
        if (*len >= cap) {
            res = LINE_LONG;
            break;
        }
        dst[(*len)++] = ch;
    }
    *pp = p;
    return res;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Exactly 64 hex digits, copied lower-cased; 0 or -1. */
static int sig_copy(const char *p, size_t n, char out[SIG_HEX_LEN + 1])
{
    size_t i;

    if (n != SIG_HEX_LEN) return -1;
    for (i = 0; i < n; i++) {
        if (hexval((unsigned char)p[i]) < 0) return -1;
        out[i] = (p[i] >= 'A' && p[i] <= 'F') ? (char)(p[i] - 'A' + 'a') : p[i];
    }
    out[n] = '\0';
    return 0;
}

static int hmac_hex(const unsigned char key[32], const char *msg, size_t n,
                    char out[SIG_HEX_LEN + 1])
{
    unsigned char mac[32];
    unsigned int l = 0;

    if (HMAC(EVP_sha256(), key, 32, (const unsigned char *)msg, n, mac, &l) ==
            NULL ||
        l != 32) {
        log_ossl("hmac-sha256");
        return -1;
    }
    cf_hex_encode(mac, 32, out);
    return 0;
}

struct gw_chunked *gw_chunked_new(enum gw_payload_mode mode,
                                  const struct gw_sigv4_auth *auth,
                                  gw_chunked_data_fn fn, void *arg)
{
    struct gw_chunked *c;
    int is_signed = mode == GW_PAYLOAD_STREAMING_SIGNED ||
                    mode == GW_PAYLOAD_STREAMING_SIGNED_TRAILER;

    if (fn == NULL ||
        (!is_signed && mode != GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER))
        return NULL;
    if (is_signed &&
        (auth == NULL || strlen(auth->seed_signature) != SIG_HEX_LEN))
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->mode = mode;
    c->auth = auth;
    c->fn = fn;
    c->arg = arg;
    c->is_signed = is_signed;
    c->state = CK_SIZE_LINE;
    if (is_signed) {
        c->md = EVP_MD_CTX_new();
        if (c->md == NULL) {
            log_ossl("sha256 context");
            free(c);
            return NULL;
        }
        memcpy(c->prev_sig, auth->seed_signature, SIG_HEX_LEN + 1);
    }
    return c;
}

void gw_chunked_free(struct gw_chunked *c)
{
    if (c == NULL) return;
    EVP_MD_CTX_free(c->md);
    free(c);
}

uint64_t gw_chunked_decoded_len(const struct gw_chunked *c)
{
    return c->decoded;
}

struct cf_str gw_chunked_trailer(const struct gw_chunked *c, const char *name)
{
    int i;

    for (i = 0; i < c->ntrailers; i++) {
        struct cf_str n = {c->tbuf + c->tr[i].noff, c->tr[i].nlen};
        if (cf_str_caseeq(n, name))
            return (struct cf_str){c->tbuf + c->tr[i].voff, c->tr[i].vlen};
    }
    return (struct cf_str){"", 0};
}

/* Starts hashing a chunk's data (signed modes). */
static int chunk_begin(struct gw_chunked *c)
{
    if (!c->is_signed) return 0;
    if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
        log_ossl("sha256 init");
        return -1;
    }
    return 0;
}

/* The chunk whose data just ended (or the zero-size last chunk) against
 * its claimed signature; on success it becomes the chain's previous one. */
static enum gw_chunked_status chunk_verify(struct gw_chunked *c)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[65], sts[512], want[SIG_HEX_LEN + 1];
    int n;

    if (EVP_DigestFinal_ex(c->md, md, &mdlen) != 1 || mdlen != 32) {
        log_ossl("sha256");
        return fail(c, GW_CHUNKED_BAD_SIGNATURE);
    }
    cf_hex_encode(md, 32, hex);
    n = snprintf(sts, sizeof(sts),
                 "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n" EMPTY_SHA256 "\n%s",
                 c->auth->amz_date, c->auth->scope, c->prev_sig, hex);
    if (n < 0 || (size_t)n >= sizeof(sts) ||
        hmac_hex(c->auth->signing_key, sts, (size_t)n, want) != 0)
        return fail(c, GW_CHUNKED_BAD_SIGNATURE);
    if (CRYPTO_memcmp(want, c->chunk_sig, SIG_HEX_LEN) != 0)
        return fail(c, GW_CHUNKED_BAD_SIGNATURE);
    memcpy(c->prev_sig, want, SIG_HEX_LEN + 1);
    return GW_CHUNKED_OK;
}

/* A complete chunk-size line is in line[0..line_len). */
static enum gw_chunked_status size_line(struct gw_chunked *c)
{
    const char *p = c->line, *end = c->line + c->line_len;
    uint64_t size = 0;
    int v;

    if (p == end || hexval((unsigned char)*p) < 0)
        return fail(c, GW_CHUNKED_MALFORMED);
    while (p < end && (v = hexval((unsigned char)*p)) >= 0) {
        if (size > MAX_CHUNK_SIZE >> 4) return fail(c, GW_CHUNKED_MALFORMED);
        size = size << 4 | (uint64_t)v;
        p++;
    }
    if (size > MAX_CHUNK_SIZE) return fail(c, GW_CHUNKED_MALFORMED);
    if (c->is_signed) {
        /* Exactly ";chunk-signature=" and 64 hex digits. */
        size_t kl = sizeof(CHUNK_SIG_EXT) - 1;
        if ((size_t)(end - p) != kl + SIG_HEX_LEN ||
            memcmp(p, CHUNK_SIG_EXT, kl) != 0 ||
            sig_copy(p + kl, SIG_HEX_LEN, c->chunk_sig) != 0)
            return fail(c, GW_CHUNKED_MALFORMED);
    } else if (p < end) {
        /* Unsigned: extensions are allowed and ignored, but must be
         * extensions (';' then visible characters). */
        if (*p != ';') return fail(c, GW_CHUNKED_MALFORMED);
        for (; p < end; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
                return fail(c, GW_CHUNKED_MALFORMED);
    }
    if (chunk_begin(c) != 0) return fail(c, GW_CHUNKED_BAD_SIGNATURE);
    c->remaining = size;
    if (size > 0) {
        c->state = CK_DATA;
        return GW_CHUNKED_OK;
    }
    if (c->is_signed && chunk_verify(c) != GW_CHUNKED_OK) return c->failed;
    c->state = CK_TRAILER;
    return GW_CHUNKED_OK;
}

/* SHA-256 over the canonical trailers, then the chained signature. */
static int trailer_verify(const struct gw_chunked *c)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hlen = 0;
    char hex[65], sts[512], want[SIG_HEX_LEN + 1];
    int order[GW_TRAILER_MAX_COUNT];
    int i, j, n, ok;

    /* Insertion sort by name; names are unique (trailer_line refuses
     * repeats), so the order is total. */
    for (i = 0; i < c->ntrailers; i++) {
        for (j = i; j > 0; j--) {
            const struct ck_trailer *a = &c->tr[order[j - 1]];
            const struct ck_trailer *b = &c->tr[i];
            size_t m = a->nlen < b->nlen ? a->nlen : b->nlen;
            int cmp = memcmp(c->tbuf + a->noff, c->tbuf + b->noff, m);
            if (cmp < 0 || (cmp == 0 && a->nlen < b->nlen)) break;
            order[j] = order[j - 1];
        }
        order[j] = i;
    }
    ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    for (i = 0; ok && i < c->ntrailers; i++) {
        const struct ck_trailer *t = &c->tr[order[i]];
        ok = EVP_DigestUpdate(md, c->tbuf + t->noff, t->nlen) == 1 &&
             EVP_DigestUpdate(md, ":", 1) == 1 &&
             EVP_DigestUpdate(md, c->tbuf + t->voff, t->vlen) == 1 &&
             EVP_DigestUpdate(md, "\n", 1) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(md, h, &hlen) == 1 && hlen == 32;
    EVP_MD_CTX_free(md);
    if (!ok) {
        log_ossl("sha256 of trailers");
        return -1;
    }
    cf_hex_encode(h, 32, hex);
    n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s",
                 c->auth->amz_date, c->auth->scope, c->prev_sig, hex);
    if (n < 0 || (size_t)n >= sizeof(sts) ||
        hmac_hex(c->auth->signing_key, sts, (size_t)n, want) != 0)
        return -1;
    return CRYPTO_memcmp(want, c->trailer_sig, SIG_HEX_LEN) == 0 ? 0 : -1;
}

/* A complete trailer line is at tbuf + tused, tcur bytes (no CRLF). */
static enum gw_chunked_status trailer_line(struct gw_chunked *c)
{
    char *line = c->tbuf + c->tused;
    size_t len = c->tcur, nlen, i;
    const char *colon;
    size_t voff, vlen;

    if (len == 0) {
        /* The empty line: end of the body. */
        if (c->mode == GW_PAYLOAD_STREAMING_SIGNED_TRAILER) {
            if (!c->have_trailer_sig) return fail(c, GW_CHUNKED_MALFORMED);
            if (trailer_verify(c) != 0)
                return fail(c, GW_CHUNKED_BAD_SIGNATURE);
        }
        c->state = CK_DONE;
        return GW_CHUNKED_DONE;
    }
    if (c->twire + len + 2 > GW_TRAILER_MAX)
        return fail(c, GW_CHUNKED_TOO_LARGE);
    /* No trailers in the plain signed mode; nothing after the trailer
     * signature, which closes the signed trailers. */
    if (c->mode == GW_PAYLOAD_STREAMING_SIGNED || c->have_trailer_sig)
        return fail(c, GW_CHUNKED_MALFORMED);
    colon = memchr(line, ':', len);
    if (colon == NULL || colon == line) return fail(c, GW_CHUNKED_MALFORMED);
    nlen = (size_t)(colon - line);
    for (i = 0; i < nlen; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch <= ' ' || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch))
            return fail(c, GW_CHUNKED_MALFORMED);
        if (ch >= 'A' && ch <= 'Z') line[i] = (char)(ch - 'A' + 'a');
    }
    voff = nlen + 1;
    vlen = len - voff;
    while (vlen && (line[voff] == ' ' || line[voff] == '\t'))
        voff++, vlen--;
    while (vlen &&
           (line[voff + vlen - 1] == ' ' || line[voff + vlen - 1] == '\t'))
        vlen--;
    for (i = 0; i < vlen; i++) {
        unsigned char ch = (unsigned char)line[voff + i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return fail(c, GW_CHUNKED_MALFORMED);
    }
    if (nlen == sizeof(TRAILER_SIG_NAME) - 1 &&
        memcmp(line, TRAILER_SIG_NAME, nlen) == 0) {
        if (c->mode != GW_PAYLOAD_STREAMING_SIGNED_TRAILER ||
            sig_copy(line + voff, vlen, c->trailer_sig) != 0)
            return fail(c, GW_CHUNKED_MALFORMED);
        c->have_trailer_sig = 1;
    } else {
        int k;
        for (k = 0; k < c->ntrailers; k++)
            if (c->tr[k].nlen == nlen &&
                memcmp(c->tbuf + c->tr[k].noff, line, nlen) == 0)
                return fail(c, GW_CHUNKED_MALFORMED);
        if (c->ntrailers == GW_TRAILER_MAX_COUNT)
            return fail(c, GW_CHUNKED_TOO_LARGE);
        c->tr[c->ntrailers].noff = c->tused;
        c->tr[c->ntrailers].nlen = nlen;
        c->tr[c->ntrailers].voff = c->tused + voff;
        c->tr[c->ntrailers].vlen = vlen;
        c->ntrailers++;
    }
    c->twire += len + 2;
    c->tused += len;
    c->tcur = 0;
    return GW_CHUNKED_OK;
}

enum gw_chunked_status gw_chunked_feed(struct gw_chunked *c, const char *p,
                                       size_t n, size_t *consumed)
{
    const char *start = p, *end = p + n;
    enum line_result lr;

    *consumed = 0;
    if (c->state == CK_FAILED) return c->failed;
    while (p < end && c->state != CK_DONE && c->state != CK_FAILED) {
        switch (c->state) {
        case CK_SIZE_LINE:
            lr = line_take(&p, end, c->line, sizeof(c->line) - 1, &c->line_len);
            if (lr == LINE_BAD) {
                fail(c, GW_CHUNKED_MALFORMED);
            } else if (lr == LINE_LONG) {
                fail(c, GW_CHUNKED_TOO_LARGE);
            } else if (lr == LINE_DONE) {
                size_line(c);
                c->line_len = 0;
            }
            break;
        case CK_DATA: {
            size_t k = (size_t)(end - p);
            if ((uint64_t)k > c->remaining) k = (size_t)c->remaining;
            if (c->is_signed && EVP_DigestUpdate(c->md, p, k) != 1) {
                log_ossl("sha256 update");
                fail(c, GW_CHUNKED_BAD_SIGNATURE);
                break;
            }
            c->decoded += k;
            c->remaining -= k;
            if (c->fn(p, k, c->arg) != 0) {
                p += k;
                fail(c, GW_CHUNKED_MALFORMED);
                break;
            }
            p += k;
            if (c->remaining == 0) c->state = CK_DATA_CR;
            break;
        }
        case CK_DATA_CR:
            if (*p++ != '\r')
                fail(c, GW_CHUNKED_MALFORMED);
            else
                c->state = CK_DATA_LF;
            break;
        case CK_DATA_LF:
            if (*p++ != '\n') {
                fail(c, GW_CHUNKED_MALFORMED);
                break;
            }
            if (c->is_signed && chunk_verify(c) != GW_CHUNKED_OK) break;
            c->state = CK_SIZE_LINE;
            break;
        case CK_TRAILER:
            /* Room for this line: what is left of GW_TRAILER_MAX, plus one
             * so the CR of the final empty line always fits; trailer_line
             * checks the exact bound on complete lines. */
            lr = line_take(&p, end, c->tbuf + c->tused,
                           GW_TRAILER_MAX + 1 - c->twire, &c->tcur);
            if (lr == LINE_BAD)
                fail(c, GW_CHUNKED_MALFORMED);
            else if (lr == LINE_LONG)
                fail(c, GW_CHUNKED_TOO_LARGE);
            else if (lr == LINE_DONE)
                trailer_line(c);
            break;
        case CK_DONE:
        case CK_FAILED:
            break;
        }
    }
    *consumed = (size_t)(p - start);
    if (c->state == CK_FAILED) return c->failed;
    if (c->state == CK_DONE) return GW_CHUNKED_DONE;
    return GW_CHUNKED_OK;
}
