/* fuzz_chunked.c: libFuzzer target for the aws-chunked body decoder
 * (gateway/gw_chunked.c): chunk size lines, chunk signatures, the chunk
 * signature chain, trailers and the trailer signature.
 *
 * Input: byte 0 picks the mode (0 STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
 * 1 ...-PAYLOAD-TRAILER, 2 STREAMING-UNSIGNED-PAYLOAD-TRAILER), byte 1
 * seeds the piece sizes, the rest is the body. The body is fed in pieces
 * of 1..256 bytes, each in its own exact-size allocation, as a socket
 * would deliver it. The signed modes start from the seed signature of
 * the AWS documentation's chunked-upload examples (the same requests as
 * tests/unit/test_sigv4.c), so the examples' bodies verify. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_sigv4.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T0 1369353600 /* 20130524T000000Z */
#define AUTH_PREFIX                                                            \
    "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request,"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct gw_sigv4_auth auth_plain, auth_trailer;

static const char *secret(const char *ak, void *arg)
{
    (void)arg;
    return strcmp(ak, AK) == 0 ? SK : NULL;
}

static struct cf_str S(const char *s) {
    return (struct cf_str){s, strlen(s)};
}

static void
make_auth(struct gw_sigv4_auth *a, int trailer)
{
    struct gw_hdr h[10];
    struct gw_sigv4_req r;
    size_t n = 0;
    char msg[256];

#define ADD(k, v) (h[n].name = S(k), h[n].value = S(v), n++)
    ADD("Host", "s3.amazonaws.com");
    ADD("x-amz-date", "20130524T000000Z");
    ADD("x-amz-storage-class", "REDUCED_REDUNDANCY");
    ADD("Content-Encoding", "aws-chunked");
    ADD("x-amz-decoded-content-length", "66560");
    ADD("Content-Length", "66824");
    if (!trailer) {
        ADD("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
        ADD("Authorization",
            AUTH_PREFIX "SignedHeaders=content-encoding;content-length;"
                        "host;x-amz-content-sha256;x-amz-date;"
                        "x-amz-decoded-content-length;x-amz-storage-class,"
                        "Signature=4f232c4386841ef735655705268965c44a0e4690"
                        "baa4adea153f7db9fa80a0a9");
    } else {
        ADD("x-amz-content-sha256",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
        ADD("x-amz-trailer", "x-amz-checksum-crc32c");
        ADD("Authorization",
            AUTH_PREFIX "SignedHeaders=content-encoding;host;"
                        "x-amz-content-sha256;x-amz-date;"
                        "x-amz-decoded-content-length;x-amz-storage-class;"
                        "x-amz-trailer,Signature=106e2a8a18243abcf37539882f"
                        "36619c00e2dfc72633413f02d3b74544bfeb8e");
    }
#undef ADD
    r.method = S("PUT");
    r.path = S("/examplebucket/chunkObject.txt");
    r.query = S("");
    r.hdrs = h;
    r.nhdrs = n;
    if (gw_sigv4_verify(&r, T0, secret, NULL, a, msg, sizeof(msg)) !=
        GW_AUTH_OK)
        abort(); /* the harness itself is broken */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    make_auth(&auth_plain, 0);
    make_auth(&auth_trailer, 1);
    return 0;
}

struct sink {
    uint64_t n;
};

static int sink_fn(const char *p, size_t n, void *arg)
{
    struct sink *s = arg;
    volatile char c;
    if (n > 0) c = p[0], c = p[n - 1]; /* touch both ends */
    (void)c;
    s->n += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum gw_payload_mode modes[] = {
        GW_PAYLOAD_STREAMING_SIGNED, GW_PAYLOAD_STREAMING_SIGNED_TRAILER,
        GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    enum gw_payload_mode mode;
    const struct gw_sigv4_auth *a;
    struct gw_chunked *c;
    struct sink s = {0};
    enum gw_chunked_status st = GW_CHUNKED_OK;
    uint32_t rng;
    size_t at = 2;

    if (size < 2) return 0;
    mode = modes[data[0] % 3];
    a = mode == GW_PAYLOAD_STREAMING_SIGNED ? &auth_plain : &auth_trailer;
    rng = data[1] * 2654435761u + 1;
    c = gw_chunked_new(mode,
                       mode == GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER ? NULL : a,
                       sink_fn, &s);
    if (c == NULL) abort();
    while (at < size && st == GW_CHUNKED_OK) {
        size_t n, used = 0;
        char *piece;
        rng = rng * 1103515245u + 12345u;
        n = data[1] == 0 ? size - at : 1 + (rng >> 16) % 256;
        if (n > size - at) n = size - at;
        piece = malloc(n);
        if (piece == NULL) break;
        memcpy(piece, data + at, n);
        st = gw_chunked_feed(c, piece, n, &used);
        free(piece);
        if (used > n) abort();
        if (st == GW_CHUNKED_OK && used != n) abort(); /* gw_sigv4.h */
        at += n;
    }
    if (st == GW_CHUNKED_DONE) {
        struct cf_str v = gw_chunked_trailer(c, "x-amz-checksum-crc32c");
        volatile char ch;
        if (v.len) ch = v.p[v.len - 1], (void)ch;
        if (gw_chunked_decoded_len(c) != s.n) abort();
    }
    gw_chunked_free(c);
    return 0;
}
