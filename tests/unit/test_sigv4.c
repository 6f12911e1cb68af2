/* test_sigv4.c: SigV4 verification against the examples AWS publishes in
 * "Authenticating Requests (AWS Signature Version 4)" for S3 — header auth
 * (GET object with Range, PUT object, GET ?lifecycle, GET list objects),
 * query auth (presigned GET), and the chunked upload example with its seed
 * and chunk signatures — plus the aws-chunked decoder's framing rules. The
 * expected signatures are AWS's, not values computed by this code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gw_sigv4.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T0 1369353600 /* 20130524T000000Z */
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char *secret(const char *ak, void *arg)
{
    return strcmp(ak, AK) == 0 ? SK : NULL;
}

#define H(n, v) { { n, sizeof(n) - 1 }, { v, sizeof(v) - 1 } }
#define S(s) ((struct cf_str){ s, sizeof(s) - 1 })

static enum gw_auth_result run(const char *method, const char *path,
                               const char *query, const struct gw_hdr *h,
                               size_t nh, int64_t now,
                               struct gw_sigv4_auth *a)
{
    struct gw_sigv4_req r;
    char msg[256];
    r.method = (struct cf_str){ method, strlen(method) };
    r.path = (struct cf_str){ path, strlen(path) };
    r.query = (struct cf_str){ query, strlen(query) };
    r.hdrs = h;
    r.nhdrs = nh;
    return gw_sigv4_verify(&r, now, secret, NULL, a, msg, sizeof(msg));
}

static void test_get_object_range(void **state)
{
    struct gw_sigv4_auth a;
    struct gw_hdr h[] = {
        H("Host", "examplebucket.s3.amazonaws.com"),
        H("Range", "bytes=0-9"),
        H("x-amz-content-sha256", EMPTY),
        H("x-amz-date", "20130524T000000Z"),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=" AK "/20130524/"
          "us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-"
          "sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f"
          "0170aba48dd91039c6036bdb41"),
    };
    assert_int_equal(run("GET", "/test.txt", "", h, 5, T0, &a), GW_AUTH_OK);
    assert_string_equal(a.access_key, AK);
    assert_int_equal(a.payload, GW_PAYLOAD_SIGNED);
    /* one byte of the range changed: mismatch */
    h[1].value = S("bytes=0-8");
    assert_int_equal(run("GET", "/test.txt", "", h, 5, T0, &a),
                     GW_AUTH_BAD_SIGNATURE);
    h[1].value = S("bytes=0-9");
    /* 15 minutes of skew pass, more does not */
    assert_int_equal(run("GET", "/test.txt", "", h, 5, T0 + 900, &a),
                     GW_AUTH_OK);
    assert_int_equal(run("GET", "/test.txt", "", h, 5, T0 + 901, &a),
                     GW_AUTH_SKEWED);
    assert_int_equal(run("GET", "/test.txt", "", h, 5, T0 - 901, &a),
                     GW_AUTH_SKEWED);
}

static void test_put_object(void **state)
{
    struct gw_sigv4_auth a;
    struct gw_hdr h[] = {
        H("Host", "examplebucket.s3.amazonaws.com"),
        H("Date", "Fri, 24 May 2013 00:00:00 GMT"),
        H("x-amz-date", "20130524T000000Z"),
        H("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        H("x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b"
                                  "4e99e42034a8b803f8b072"),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=" AK "/20130524/"
          "us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-"
          "sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c6"
          "4f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    };
    assert_int_equal(run("PUT", "/test%24file.text", "", h, 6, T0, &a),
                     GW_AUTH_OK);
    assert_string_equal(a.payload_sha256, "44ce7dd67c959e0d3524ffac1771dfbba8"
                                          "7d2b6b4b4e99e42034a8b803f8b072");
}

static void test_get_lifecycle(void **state)
{
    struct gw_sigv4_auth a;
    struct gw_hdr h[] = {
        H("Host", "examplebucket.s3.amazonaws.com"),
        H("x-amz-date", "20130524T000000Z"),
        H("x-amz-content-sha256", EMPTY),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=" AK "/20130524/"
          "us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;"
          "x-amz-date,Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f9"
          "1ac7a200a0136783543"),
    };
    assert_int_equal(run("GET", "/", "lifecycle", h, 4, T0, &a), GW_AUTH_OK);
}

static void test_list_objects(void **state)
{
    struct gw_sigv4_auth a;
    struct gw_hdr h[] = {
        H("Host", "examplebucket.s3.amazonaws.com"),
        H("x-amz-date", "20130524T000000Z"),
        H("x-amz-content-sha256", EMPTY),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=" AK "/20130524/"
          "us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;"
          "x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db"
          "6670ed5711ef69dc6f7"),
    };
    /* Query order on the wire does not matter: it is sorted. */
    assert_int_equal(run("GET", "/", "prefix=J&max-keys=2", h, 4, T0, &a),
                     GW_AUTH_OK);
    assert_int_equal(run("GET", "/", "max-keys=2&prefix=J", h, 4, T0, &a),
                     GW_AUTH_OK);
    assert_int_equal(run("GET", "/", "max-keys=3&prefix=J", h, 4, T0, &a),
                     GW_AUTH_BAD_SIGNATURE);
}

static void test_errors(void **state)
{
    struct gw_sigv4_auth a;
    struct gw_hdr h[] = {
        H("Host", "examplebucket.s3.amazonaws.com"),
        H("x-amz-date", "20130524T000000Z"),
        H("x-amz-content-sha256", EMPTY),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=AKIANOTKNOWN/20130524/"
          "us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;"
          "x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db"
          "6670ed5711ef69dc6f7"),
    };
    assert_int_equal(run("GET", "/", "", h, 4, T0, &a),
                     GW_AUTH_BAD_ACCESS_KEY);
    h[3].value = S("AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
                   "aws4_request,Signature=00");
    assert_int_equal(run("GET", "/", "", h, 4, T0, &a), GW_AUTH_MALFORMED);
    h[3].value = S("AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/"
                   "ec2/aws4_request,SignedHeaders=host;x-amz-date,Signature="
                   "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef6"
                   "9dc6f7");
    assert_int_equal(run("GET", "/", "", h, 4, T0, &a), GW_AUTH_MALFORMED);
    /* credential date must be the x-amz-date's date */
    h[3].value = S("AWS4-HMAC-SHA256 Credential=" AK "/20130525/us-east-1/s3/"
                   "aws4_request,SignedHeaders=host;x-amz-date,Signature="
                   "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef6"
                   "9dc6f7");
    assert_int_equal(run("GET", "/", "", h, 4, T0, &a), GW_AUTH_MALFORMED);
    h[3].value = S("AWS " AK ":frJIUN8DYpKDtOLCwo//yllqDzg=");
    assert_int_equal(run("GET", "/", "", h, 4, T0, &a), GW_AUTH_UNSUPPORTED);
    /* no auth at all */
    assert_int_equal(run("GET", "/", "", h, 3, T0, &a), GW_AUTH_ANONYMOUS);
    /* bad x-amz-content-sha256 */
    h[2].value = S("not-a-hash");
    h[3].value = S("AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
                   "aws4_request,SignedHeaders=host;x-amz-date,Signature="
                   "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef6"
                   "9dc6f7");
    assert_int_equal(run("GET", "/", "", h, 4, T0, &a),
                     GW_AUTH_BAD_CONTENT_SHA);
}

#define PRESIGN_Q                                                             \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"  \
    "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z" \
    "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbcc" \
    "d4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

static void test_presigned(void **state)
{
    struct gw_sigv4_auth a;
    struct gw_hdr h[] = { H("Host", "examplebucket.s3.amazonaws.com") };
    assert_int_equal(run("GET", "/test.txt", PRESIGN_Q, h, 1, T0 + 10, &a),
                     GW_AUTH_OK);
    assert_int_equal(a.presigned, 1);
    assert_int_equal(run("GET", "/test.txt", PRESIGN_Q, h, 1, T0 + 86400, &a),
                     GW_AUTH_OK);
    assert_int_equal(run("GET", "/test.txt", PRESIGN_Q, h, 1, T0 + 86401, &a),
                     GW_AUTH_EXPIRED);
    assert_int_equal(run("GET", "/test2.txt", PRESIGN_Q, h, 1, T0, &a),
                     GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(
        run("GET", "/test.txt",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7"
            "EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
            "20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&"
            "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c26595"
            "7d157751f604d404",
            h, 1, T0, &a),
        GW_AUTH_MALFORMED);
}

static void test_uri_encode(void **state)
{
    char out[128];
    assert_int_equal(gw_sigv4_uri_encode("a b+c~d/e%f", 11, 1, out,
                                         sizeof(out)),
                     17);
    assert_string_equal(out, "a%20b%2Bc~d/e%25f");
    gw_sigv4_uri_encode("a/b", 3, 0, out, sizeof(out));
    assert_string_equal(out, "a%2Fb");
    gw_sigv4_uri_encode("\xe1\x88\xb4", 3, 1, out, sizeof(out));
    assert_string_equal(out, "%E1%88%B4");
    assert_int_equal(gw_sigv4_uri_encode("   ", 3, 1, out, 9), -1);
}

/* ---- aws-chunked: AWS's 64 KiB + 1 KiB example ---- */

struct sink {
    size_t n;
    int bad;
};

static int sink_fn(const char *p, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != 'a') s->bad = 1;
    s->n += n;
    return 0;
}

static const char seed[] =
    "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

static size_t build_example(char *body, const char *sig2)
{
    size_t o = 0;
    o += (size_t)snprintf(body + o, 200, "10000;chunk-signature=ad80c730a21e5b8d04586"
                         "a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
    memset(body + o, 'a', 65536);
    o += 65536;
    o += (size_t)snprintf(body + o, 200, "\r\n400;chunk-signature=%s\r\n", sig2);
    memset(body + o, 'a', 1024);
    o += 1024;
    o += (size_t)snprintf(body + o, 200, "\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb"
                         "7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
    return o;
}

static void chunk_auth(struct gw_sigv4_auth *a)
{
    struct gw_hdr h[] = {
        H("Host", "s3.amazonaws.com"),
        H("x-amz-date", "20130524T000000Z"),
        H("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=" AK "/20130524/"
          "us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-"
          "length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-"
          "length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965"
          "c44a0e4690baa4adea153f7db9fa80a0a9"),
        H("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        H("Content-Encoding", "aws-chunked"),
        H("x-amz-decoded-content-length", "66560"),
        H("Content-Length", "66824"),
    };
    assert_int_equal(run("PUT", "/examplebucket/chunkObject.txt", "", h, 8, T0,
                         a),
                     GW_AUTH_OK);
    assert_int_equal(a->payload, GW_PAYLOAD_STREAMING_SIGNED);
    assert_string_equal(a->seed_signature, seed);
}

static void test_chunked_example(void **state)
{
    struct gw_sigv4_auth a;
    static char body[70000];
    size_t len, used, i;
    struct sink s = { 0, 0 };
    struct gw_chunked *c;

    chunk_auth(&a);
    len = build_example(body, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b"
                              "7d234b86a503ef5497");
    assert_int_equal(len, 66824); /* AWS's Content-Length */
    c = gw_chunked_new(a.payload, &a, sink_fn, &s);
    assert_int_equal(gw_chunked_feed(c, body, len, &used), GW_CHUNKED_DONE);
    assert_int_equal(used, len);
    assert_int_equal(s.n, 66560);
    assert_int_equal(s.bad, 0);
    gw_chunked_free(c);

    /* One byte at a time: same result. */
    memset(&s, 0, sizeof(s));
    c = gw_chunked_new(a.payload, &a, sink_fn, &s);
    for (i = 0; i < len - 1; i++)
        assert_int_equal(gw_chunked_feed(c, body + i, 1, &used),
                         GW_CHUNKED_OK);
    assert_int_equal(gw_chunked_feed(c, body + len - 1, 1, &used),
                     GW_CHUNKED_DONE);
    assert_int_equal(s.n, 66560);
    gw_chunked_free(c);

    /* A changed data byte breaks the chain. */
    memset(&s, 0, sizeof(s));
    c = gw_chunked_new(a.payload, &a, sink_fn, &s);
    body[200] = 'b';
    assert_int_equal(gw_chunked_feed(c, body, len, &used),
                     GW_CHUNKED_BAD_SIGNATURE);
    body[200] = 'a';
    gw_chunked_free(c);

    /* So does a wrong chunk signature. */
    len = build_example(body, "1055627c9e194cb4542bae2aa5492e3c1575bbb81b612b"
                              "7d234b86a503ef5497");
    c = gw_chunked_new(a.payload, &a, sink_fn, &s);
    assert_int_equal(gw_chunked_feed(c, body, len, &used),
                     GW_CHUNKED_BAD_SIGNATURE);
    gw_chunked_free(c);

    /* A missing signature in a signed stream is malformed. */
    c = gw_chunked_new(a.payload, &a, sink_fn, &s);
    assert_int_equal(gw_chunked_feed(c, "5\r\naaaaa\r\n", 10, &used),
                     GW_CHUNKED_MALFORMED);
    gw_chunked_free(c);
}

static void test_unsigned_trailer(void **state)
{
    struct gw_sigv4_auth a;
    struct sink s = { 0, 0 };
    size_t used;
    struct gw_chunked *c;
    const char ok[] = "5\r\naaaaa\r\n3\r\naaa\r\n0\r\n"
                      "x-amz-checksum-crc32:sOO8/Q==\r\n\r\n";
    struct cf_str v;
    size_t i;

    memset(&a, 0, sizeof(a));
    c = gw_chunked_new(GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER, &a, sink_fn, &s);
    assert_int_equal(gw_chunked_feed(c, ok, sizeof(ok) - 1, &used),
                     GW_CHUNKED_DONE);
    assert_int_equal(s.n, 8);
    v = gw_chunked_trailer(c, "x-amz-checksum-crc32");
    assert_int_equal(v.len, 8);
    assert_memory_equal(v.p, "sOO8/Q==", 8);
    assert_int_equal(gw_chunked_trailer(c, "x-amz-checksum-sha1").len, 0);
    gw_chunked_free(c);

    /* every split point */
    for (i = 1; i < sizeof(ok) - 1; i++) {
        memset(&s, 0, sizeof(s));
        c = gw_chunked_new(GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER, &a, sink_fn,
                           &s);
        assert_int_equal(gw_chunked_feed(c, ok, i, &used), GW_CHUNKED_OK);
        assert_int_equal(gw_chunked_feed(c, ok + i, sizeof(ok) - 1 - i,
                                         &used),
                         GW_CHUNKED_DONE);
        assert_int_equal(s.n, 8);
        gw_chunked_free(c);
    }

    static const char *const bad[] = {
        "zz\r\naaaaa\r\n0\r\n\r\n",          /* not hex */
        "5\r\naaaaaX\r\n0\r\n\r\n",          /* data overruns */
        "5\naaaaa\r\n0\r\n\r\n",             /* bare LF */
        "20000000000\r\n",                   /* size beyond 2^40 */
        "0\r\nno-colon-here\r\n\r\n",        /* trailer without ':' */
    };
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = gw_chunked_new(GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER, &a, sink_fn,
                           &s);
        assert_int_equal(gw_chunked_feed(c, bad[i], strlen(bad[i]), &used),
                         GW_CHUNKED_MALFORMED);
        gw_chunked_free(c);
    }
    /* an over-long chunk header is refused, not buffered */
    {
        static char big[GW_CHUNK_HEADER_MAX + 10];
        memset(big, '0', sizeof(big));
        c = gw_chunked_new(GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER, &a, sink_fn,
                           &s);
        assert_int_equal(gw_chunked_feed(c, big, sizeof(big), &used),
                         GW_CHUNKED_TOO_LARGE);
        gw_chunked_free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_object_range),
        cmocka_unit_test(test_put_object),
        cmocka_unit_test(test_get_lifecycle),
        cmocka_unit_test(test_list_objects),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_presigned),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_chunked_example),
        cmocka_unit_test(test_unsigned_trailer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
