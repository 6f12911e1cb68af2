/* gw_chunked.c: incremental decoder for aws-chunked request bodies.
 *
 *   chunk   := hex-size [";chunk-signature=" 64hex] CRLF data CRLF
 *   body    := chunk* "0" [";chunk-signature=" 64hex] CRLF trailer* CRLF
 *   trailer := name ":" value CRLF   (trailer modes; the signed trailer mode
 *              ends with "x-amz-trailer-signature:" 64hex CRLF)
 *
 * Data is handed to the caller as it arrives; each chunk's SHA-256 is
 * computed incrementally and its signature checked when the chunk ends
 * (signed modes), chaining from the request's seed signature. Nothing is
 * buffered but one header or trailer line, bounded by GW_CHUNK_HEADER_MAX /
 * GW_TRAILER_MAX. */
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
#define MAX_CHUNK_SIZE (1ULL << 40)
#define MAX_TRAILERS 16

enum cstate { CS_HEADER, CS_DATA, CS_DATA_CR, CS_DATA_LF, CS_TRAILER,
              CS_DONE, CS_ERROR };

struct gw_chunked {
    enum gw_payload_mode mode;
    const struct gw_sigv4_auth *auth; /* borrowed */
    gw_chunked_data_fn fn;
    void *arg;
    enum cstate state;
    enum gw_chunked_status err;
    char line[GW_CHUNK_HEADER_MAX];   /* header or trailer line so far */
    size_t line_len;
    uint64_t remaining;               /* data bytes left in this chunk */
    int final;                        /* the size-0 chunk was seen */
    char chunk_sig[65];               /* signature claimed for this chunk */
    char prev_sig[65];                /* previous signature in the chain */
    EVP_MD_CTX *sha;                  /* over this chunk's data */
    uint64_t decoded;
    struct { char name[64]; char value[256]; } trailers[MAX_TRAILERS];
    int ntrailers;
    size_t trailer_bytes;
    char trailer_sig[65];
};

static int signed_mode(const struct gw_chunked *c)
{
    return c->mode == GW_PAYLOAD_STREAMING_SIGNED ||
           c->mode == GW_PAYLOAD_STREAMING_SIGNED_TRAILER;
}

struct gw_chunked *gw_chunked_new(enum gw_payload_mode mode,
                                  const struct gw_sigv4_auth *auth,
                                  gw_chunked_data_fn fn, void *arg)
{
    struct gw_chunked *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->mode = mode;
    c->auth = auth;
    c->fn = fn;
    c->arg = arg;
    c->state = CS_HEADER;
    if (signed_mode(c)) {
        c->sha = EVP_MD_CTX_new();
        if (c->sha == NULL) {
            free(c);
            return NULL;
        }
        memcpy(c->prev_sig, auth->seed_signature, 65);
    }
    return c;
}

void gw_chunked_free(struct gw_chunked *c)
{
    if (c == NULL) return;
    EVP_MD_CTX_free(c->sha);
    free(c);
}

uint64_t gw_chunked_decoded_len(const struct gw_chunked *c)
{
    return c->decoded;
}

struct cf_str gw_chunked_trailer(const struct gw_chunked *c, const char *name)
{
    int i;
    for (i = 0; i < c->ntrailers; i++)
        if (strcasecmp(c->trailers[i].name, name) == 0)
            return (struct cf_str){ c->trailers[i].value,
                                    strlen(c->trailers[i].value) };
    return (struct cf_str){ "", 0 };
}

static void hmac_hex(const unsigned char key[32], const char *msg, size_t n,
                     char out[65])
{
    unsigned char mac[32];
    unsigned int l = 32;
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)msg, n, mac, &l);
    cf_hex_encode(mac, 32, out);
}

/* Checks the chunk that just ended against its claimed signature. */
static int chunk_verify(struct gw_chunked *c)
{
    unsigned char md[32];
    unsigned int l;
    char hex[65], sts[512], want[65];
    int n;

    EVP_DigestFinal_ex(c->sha, md, &l);
    cf_hex_encode(md, 32, hex);
    n = snprintf(sts, sizeof(sts),
                 "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n" EMPTY_SHA256 "\n%s",
                 c->auth->amz_date, c->auth->scope, c->prev_sig, hex);
    hmac_hex(c->auth->signing_key, sts, (size_t)n, want);
    if (CRYPTO_memcmp(want, c->chunk_sig, 64) != 0) return -1;
    memcpy(c->prev_sig, want, 65);
    return 0;
}

static int set_error(struct gw_chunked *c, enum gw_chunked_status st)
{
    c->state = CS_ERROR;
    c->err = st;
    return -1;
}

/* "hex[;ext]" with optional chunk-signature. */
static int header_line(struct gw_chunked *c)
{
    const char *p = c->line, *end = c->line + c->line_len;
    uint64_t size = 0;
    int digits = 0;

    while (p < end && *p != ';') {
        int v;
        char ch = *p;
        if (ch >= '0' && ch <= '9') v = ch - '0';
        else if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
        else return set_error(c, GW_CHUNKED_MALFORMED);
        size = size * 16 + (uint64_t)v;
        if (size > MAX_CHUNK_SIZE) return set_error(c, GW_CHUNKED_MALFORMED);
        digits++;
        p++;
    }
    if (digits == 0) return set_error(c, GW_CHUNKED_MALFORMED);
    c->chunk_sig[0] = '\0';
    if (p < end) {
        static const char key[] = ";chunk-signature=";
        size_t kl = sizeof(key) - 1;
        if ((size_t)(end - p) == kl + 64 && memcmp(p, key, kl) == 0) {
            memcpy(c->chunk_sig, p + kl, 64);
            c->chunk_sig[64] = '\0';
        } else if (signed_mode(c)) {
            return set_error(c, GW_CHUNKED_MALFORMED);
        }
    }
    if (signed_mode(c)) {
        if (c->chunk_sig[0] == '\0') return set_error(c, GW_CHUNKED_MALFORMED);
        EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL);
    }
    c->remaining = size;
    if (size == 0) {
        c->final = 1;
        if (signed_mode(c) && chunk_verify(c) != 0)
            return set_error(c, GW_CHUNKED_BAD_SIGNATURE);
        c->state = CS_TRAILER;
    } else {
        c->state = CS_DATA;
    }
    return 0;
}

static int trailers_verify(struct gw_chunked *c)
{
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    unsigned char md[32];
    unsigned int l;
    char hex[65], sts[512], want[65];
    int i, n;

    if (h == NULL) return -1;
    EVP_DigestInit_ex(h, EVP_sha256(), NULL);
    for (i = 0; i < c->ntrailers; i++) {
        EVP_DigestUpdate(h, c->trailers[i].name, strlen(c->trailers[i].name));
        EVP_DigestUpdate(h, ":", 1);
        EVP_DigestUpdate(h, c->trailers[i].value,
                         strlen(c->trailers[i].value));
        EVP_DigestUpdate(h, "\n", 1);
    }
    EVP_DigestFinal_ex(h, md, &l);
    EVP_MD_CTX_free(h);
    cf_hex_encode(md, 32, hex);
    n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s",
                 c->auth->amz_date, c->auth->scope, c->prev_sig, hex);
    hmac_hex(c->auth->signing_key, sts, (size_t)n, want);
    return CRYPTO_memcmp(want, c->trailer_sig, 64) == 0 ? 0 : -1;
}

static int trailer_line(struct gw_chunked *c)
{
    const char *colon;
    size_t nl, vl;
    const char *v;

    if (c->line_len == 0) {
        /* End of the body. */
        if (c->mode == GW_PAYLOAD_STREAMING_SIGNED_TRAILER &&
            c->ntrailers > 0) {
            if (c->trailer_sig[0] == '\0' || trailers_verify(c) != 0)
                return set_error(c, GW_CHUNKED_BAD_SIGNATURE);
        }
        c->state = CS_DONE;
        return 0;
    }
    c->trailer_bytes += c->line_len + 2;
    if (c->trailer_bytes > GW_TRAILER_MAX)
        return set_error(c, GW_CHUNKED_TOO_LARGE);
    if (c->mode != GW_PAYLOAD_STREAMING_SIGNED_TRAILER &&
        c->mode != GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER)
        return set_error(c, GW_CHUNKED_MALFORMED);
    colon = memchr(c->line, ':', c->line_len);
    if (colon == NULL || colon == c->line)
        return set_error(c, GW_CHUNKED_MALFORMED);
    nl = (size_t)(colon - c->line);
    v = colon + 1;
    vl = c->line_len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
    if (nl == 23 && strncasecmp(c->line, "x-amz-trailer-signature", 23) == 0) {
        if (vl != 64) return set_error(c, GW_CHUNKED_MALFORMED);
        memcpy(c->trailer_sig, v, 64);
        c->trailer_sig[64] = '\0';
        return 0;
    }
    if (c->ntrailers == MAX_TRAILERS || nl >= sizeof(c->trailers[0].name) ||
        vl >= sizeof(c->trailers[0].value))
        return set_error(c, GW_CHUNKED_TOO_LARGE);
    {
        size_t i;
        for (i = 0; i < nl; i++) {
            char ch = c->line[i];
            c->trailers[c->ntrailers].name[i] =
                (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
        }
        c->trailers[c->ntrailers].name[nl] = '\0';
    }
    memcpy(c->trailers[c->ntrailers].value, v, vl);
    c->trailers[c->ntrailers].value[vl] = '\0';
    c->ntrailers++;
    return 0;
}

/* Accumulates a CRLF-terminated line; returns 1 when complete. */
static int take_line(struct gw_chunked *c, const char **p, const char *end,
                     size_t max)
{
    while (*p < end) {
        char ch = *(*p)++;
        if (ch == '\n') {
            if (c->line_len == 0 || c->line[c->line_len - 1] != '\r') {
                set_error(c, GW_CHUNKED_MALFORMED);
                return -1;
            }
            c->line_len--;
            return 1;
        }
        if (c->line_len + 1 >= max) {
            set_error(c, GW_CHUNKED_TOO_LARGE);
            return -1;
        }
        c->line[c->line_len++] = ch;
    }
    return 0;
}

enum gw_chunked_status gw_chunked_feed(struct gw_chunked *c, const char *p,
                                       size_t n, size_t *consumed)
{
    const char *start = p, *end = p + n;
    int r;

    *consumed = 0;
    while (p < end && c->state != CS_DONE && c->state != CS_ERROR) {
        switch (c->state) {
        case CS_HEADER:
            r = take_line(c, &p, end, sizeof(c->line));
            if (r < 0) break;
            if (r == 1) {
                header_line(c);
                c->line_len = 0;
            }
            break;
        case CS_DATA: {
            size_t k = (size_t)(end - p) < c->remaining ? (size_t)(end - p)
                                                        : (size_t)c->remaining;
            if (c->sha) EVP_DigestUpdate(c->sha, p, k);
            c->decoded += k;
            if (c->fn(p, k, c->arg) != 0) {
                set_error(c, GW_CHUNKED_MALFORMED);
                break;
            }
            p += k;
            c->remaining -= k;
            if (c->remaining == 0) c->state = CS_DATA_CR;
            break;
        }
        case CS_DATA_CR:
            if (*p++ != '\r') set_error(c, GW_CHUNKED_MALFORMED);
            else c->state = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (*p++ != '\n') {
                set_error(c, GW_CHUNKED_MALFORMED);
                break;
            }
            if (signed_mode(c) && chunk_verify(c) != 0) {
                set_error(c, GW_CHUNKED_BAD_SIGNATURE);
                break;
            }
            c->state = CS_HEADER;
            break;
        case CS_TRAILER:
            r = take_line(c, &p, end, sizeof(c->line));
            if (r < 0) break;
            if (r == 1) {
                trailer_line(c);
                c->line_len = 0;
            }
            break;
        default:
            break;
        }
    }
    *consumed = (size_t)(p - start);
    if (c->state == CS_ERROR) return c->err;
    if (c->state == CS_DONE) return GW_CHUNKED_DONE;
    return GW_CHUNKED_OK;
}
