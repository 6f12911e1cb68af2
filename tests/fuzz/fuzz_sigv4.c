/* fuzz_sigv4.c: libFuzzer target for SigV4 verification in
 * gateway/gw_sigv4.c: Authorization header parsing, presigned query
 * parsing, canonical request building (path, query and header
 * canonicalisation) and the signature check.
 *
 * Input: lines split at '\n' (a '\r' before it is kept, as a value byte):
 *   method \n path \n query \n header-name:value \n header-name:value ...
 * so the seeds are readable requests (tests/fuzz/corpus/sigv4/). The clock
 * is the seeds' X-Amz-Date (20130524T000000Z), and the access key of the
 * AWS examples is known, so a mutated valid request reaches the signature
 * comparison. Every slice is copied into its own allocation of exactly its
 * length so that an over-read is caught by ASan. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_sigv4.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T0 1369353600 /* 20130524T000000Z */
#define MAX_HDRS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *secret(const char *ak, void *arg)
{
    (void)arg;
    return strcmp(ak, AK) == 0 ? SK : NULL;
}

/* The next '\n'-terminated piece of [*p, end) as an exact-size copy. */
static struct cf_str take_line(const char **p, const char *end, void **mem,
                               int *nmem)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *c = malloc(n ? n : 1);
    struct cf_str s = {"", 0};

    if (c == NULL) return s;
    memcpy(c, *p, n);
    mem[(*nmem)++] = c;
    *p = nl ? nl + 1 : end;
    s.p = c;
    s.len = n;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    void *mem[3 + 2 * MAX_HDRS];
    int nmem = 0, i;
    struct gw_hdr hdrs[MAX_HDRS];
    struct gw_sigv4_req req;
    struct gw_sigv4_auth auth;
    char msg[256];
    size_t nh = 0;

    if (size > 16384) return 0; /* the head is bounded by the server */
    req.method = take_line(&p, end, mem, &nmem);
    req.path = take_line(&p, end, mem, &nmem);
    req.query = take_line(&p, end, mem, &nmem);
    /* Lines without a colon take a slot in mem too. */
    while (p < end && nh < MAX_HDRS &&
           nmem < (int)(sizeof(mem) / sizeof(mem[0]))) {
        struct cf_str line = take_line(&p, end, mem, &nmem);
        const char *colon = memchr(line.p, ':', line.len);
        if (colon == NULL) continue;
        hdrs[nh].name.p = line.p;
        hdrs[nh].name.len = (size_t)(colon - line.p);
        hdrs[nh].value.p = colon + 1;
        hdrs[nh].value.len = line.len - hdrs[nh].name.len - 1;
        nh++;
    }
    req.hdrs = hdrs;
    req.nhdrs = nh;
    memset(&auth, 0, sizeof(auth));
    msg[0] = '\0';
    if (gw_sigv4_verify(&req, T0, secret, NULL, &auth, msg, sizeof(msg)) ==
        GW_AUTH_OK) {
        /* What the gateway relies on after success. */
        if (memchr(auth.access_key, '\0', sizeof(auth.access_key)) == NULL ||
            memchr(auth.region, '\0', sizeof(auth.region)) == NULL ||
            strlen(auth.seed_signature) != 64)
            abort();
    }
    if (memchr(msg, '\0', sizeof(msg)) == NULL) abort();

    /* The encoder on raw path bytes, with a tight and a roomy buffer. */
    {
        char out[64], *big;
        size_t cap = req.path.len * 3 + 1;
        gw_sigv4_uri_encode(req.path.p, req.path.len, 1, out, sizeof(out));
        big = malloc(cap);
        if (big != NULL) {
            long n = gw_sigv4_uri_encode(req.path.p, req.path.len, 0, big, cap);
            if (n < 0 || (size_t)n >= cap || big[n] != '\0') abort();
            free(big);
        }
    }
    for (i = 0; i < nmem; i++)
        free(mem[i]);
    return 0;
}
