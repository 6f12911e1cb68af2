/* test_sigv4.c: SigV4 verification and aws-chunked decoding, through
 * gw_sigv4.h only.
 *
 * Oracles (never values computed by coffer):
 * - AWS S3 API reference, "Signature Calculations for the Authorization
 *   Header: Transferring Payload in a Single Chunk": GET object with Range
 *   (f0e8bdb8...), PUT object (98ad7217...), GET bucket lifecycle
 *   (fea454ca...), GET bucket list objects (34b48302...).
 * - "Authenticating Requests: Using Query Parameters": the presigned GET
 *   (aeeed9bb...).
 * - "Transferring Payload in Multiple Chunks": seed 4f232c43..., chunk
 *   signatures ad80c730..., 0055627c..., b6c6ea8a..., 66560 bytes of 'a',
 *   Content-Length 66824.
 * - "Signature calculations for trailing headers": seed 106e2a8a...,
 *   chunks b474d886..., 1c1344b1..., 2ca2aba2..., trailer
 *   x-amz-checksum-crc32c:sOO8/Q==, trailer signature d81f82fc...
 * - AWS General Reference, deriving the signing key: c4afb1cc...
 * - Two requests signed once with botocore 1.43.11 (S3SigV4Auth, AWS's
 *   example credentials, 20130524T000000Z), an independent signer, for
 *   keys with spaces, unicode, '+', '~', '%' and %2F, and header values
 *   with runs of whitespace.
 * - Long-secret signing keys from Python's hmac module.
 * Everything is deterministic: time is passed in, splits use a fixed
 * sequence. */
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
#define CRED "Credential=" AK "/20130524/us-east-1/s3/aws4_request"
#define AUTH_PREFIX "AWS4-HMAC-SHA256 " CRED ","

#define SIG_RANGE                                                              \
    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
#define SIG_PUT                                                                \
    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
#define SIG_LIFECYCLE                                                          \
    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
#define SIG_LIST                                                               \
    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
#define SIG_PRESIGN                                                            \
    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
#define SEED_CHUNKED                                                           \
    "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define CHUNK_SIG1                                                             \
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define CHUNK_SIG2                                                             \
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define CHUNK_SIG3                                                             \
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
#define SEED_TRAILER                                                           \
    "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
#define TR_SIG1                                                                \
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2"
#define TR_SIG2                                                                \
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7"
#define TR_SIG3                                                                \
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"
#define TR_TSIG                                                                \
    "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"

#define AUTH_RANGE                                                             \
    AUTH_PREFIX "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"    \
                "Signature=" SIG_RANGE

/* ---- request builder -------------------------------------------------- */

#define MAX_H 32

struct rq {
    const char *method, *path, *query;
    struct gw_hdr h[MAX_H];
    size_t n;
};

static char last_msg[512];

static const char *secret(const char *ak, void *arg)
{
    (void)arg;
    if (strcmp(ak, AK) == 0) return SK;
    return NULL;
}

static struct cf_str S(const char *s) {
    return (struct cf_str){s, strlen(s)};
}

static void
rq_init(struct rq *r, const char *method, const char *path, const char *query)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->path = path;
    r->query = query;
}

static void rq_add(struct rq *r, const char *name, const char *value)
{
    assert_true(r->n < MAX_H);
    r->h[r->n].name = S(name);
    r->h[r->n].value = S(value);
    r->n++;
}

/* Replaces the value of the first header spelled exactly name. */
static void rq_set(struct rq *r, const char *name, const char *value)
{
    size_t i;
    for (i = 0; i < r->n; i++)
        if (strlen(name) == r->h[i].name.len &&
            memcmp(name, r->h[i].name.p, r->h[i].name.len) == 0) {
            r->h[i].value = S(value);
            return;
        }
    fail_msg("no header %s", name);
}

static void rq_del(struct rq *r, const char *name)
{
    size_t i;
    for (i = 0; i < r->n; i++)
        if (strlen(name) == r->h[i].name.len &&
            memcmp(name, r->h[i].name.p, r->h[i].name.len) == 0) {
            memmove(&r->h[i], &r->h[i + 1], (r->n - i - 1) * sizeof(r->h[0]));
            r->n--;
            return;
        }
    fail_msg("no header %s", name);
}

static enum gw_auth_result rq_verify(const struct rq *r, int64_t now,
                                     struct gw_sigv4_auth *a)
{
    struct gw_sigv4_req q;
    q.method = S(r->method);
    q.path = S(r->path);
    q.query = S(r->query);
    q.hdrs = r->h;
    q.nhdrs = r->n;
    memset(last_msg, 'x', sizeof(last_msg));
    return gw_sigv4_verify(&q, now, secret, NULL, a, last_msg,
                           sizeof(last_msg));
}

static enum gw_auth_result verify_path(struct rq *r, const char *path)
{
    struct gw_sigv4_auth a;
    r->path = path;
    return rq_verify(r, T0, &a);
}

static enum gw_auth_result verify_query(struct rq *r, const char *query)
{
    struct gw_sigv4_auth a;
    r->query = query;
    return rq_verify(r, T0, &a);
}

/* The four header-auth examples of the AWS S3 API reference. */
static void aws_get_range(struct rq *r)
{
    rq_init(r, "GET", "/test.txt", "");
    rq_add(r, "Host", "examplebucket.s3.amazonaws.com");
    rq_add(r, "Range", "bytes=0-9");
    rq_add(r, "x-amz-content-sha256", EMPTY);
    rq_add(r, "x-amz-date", "20130524T000000Z");
    rq_add(r, "Authorization", AUTH_RANGE);
}

static void aws_put_object(struct rq *r)
{
    rq_init(r, "PUT", "/test%24file.text", "");
    rq_add(r, "Host", "examplebucket.s3.amazonaws.com");
    rq_add(r, "Date", "Fri, 24 May 2013 00:00:00 GMT");
    rq_add(r, "x-amz-date", "20130524T000000Z");
    rq_add(r, "x-amz-storage-class", "REDUCED_REDUNDANCY");
    rq_add(r, "x-amz-content-sha256",
           "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    rq_add(r, "Authorization",
           AUTH_PREFIX "SignedHeaders=date;host;x-amz-content-sha256;"
                       "x-amz-date;x-amz-storage-class,Signature=" SIG_PUT);
}

static void aws_bucket_get(struct rq *r, const char *query, const char *sig)
{
    static char auth[512];
    snprintf(auth, sizeof(auth),
             AUTH_PREFIX "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
                         "Signature=%s",
             sig);
    rq_init(r, "GET", "/", query);
    rq_add(r, "Host", "examplebucket.s3.amazonaws.com");
    rq_add(r, "x-amz-date", "20130524T000000Z");
    rq_add(r, "x-amz-content-sha256", EMPTY);
    rq_add(r, "Authorization", auth);
}

/* ---- header auth: AWS's examples ------------------------------------- */

static void test_aws_get_object_range(void **state)
{
    struct rq r;
    struct gw_sigv4_auth a;

    aws_get_range(&r);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    assert_string_equal(a.access_key, AK);
    assert_string_equal(a.region, "us-east-1");
    assert_string_equal(a.date, "20130524");
    assert_string_equal(a.amz_date, "20130524T000000Z");
    assert_string_equal(a.scope, "20130524/us-east-1/s3/aws4_request");
    assert_string_equal(a.seed_signature, SIG_RANGE);
    assert_int_equal(a.payload, GW_PAYLOAD_SIGNED);
    assert_string_equal(a.payload_sha256, EMPTY);
    assert_int_equal(a.presigned, 0);

    /* The same bytes however they are percent-encoded. */
    assert_int_equal(verify_path(&r, "/%74est.txt"), GW_AUTH_OK);
    assert_int_equal(verify_path(&r, "/test%2Etxt"), GW_AUTH_OK);
    assert_int_equal(verify_path(&r, "/%74%65%73%74%2e%74%78%74"), GW_AUTH_OK);
    /* S3 does not normalise paths, and keys are case-sensitive. */
    assert_int_equal(verify_path(&r, "//test.txt"), GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_path(&r, "/./test.txt"), GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_path(&r, "/test.txt/"), GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_path(&r, "/Test.txt"), GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_path(&r, "/test%252Etxt"), GW_AUTH_BAD_SIGNATURE);
    r.path = "/test.txt";
    assert_int_equal(verify_query(&r, "x=1"), GW_AUTH_BAD_SIGNATURE);
    r.query = "";

    /* Header names in any case; values trimmed. */
    r.h[0].name = S("HOST");
    r.h[1].name = S("rAnGe");
    rq_set(&r, "rAnGe", " \t bytes=0-9 \t");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    /* Tolerant whitespace in the Authorization header. */
    rq_set(&r, "Authorization",
           "  AWS4-HMAC-SHA256   " CRED " ,  SignedHeaders = host;range;"
           "x-amz-content-sha256;x-amz-date ,\tSignature=" SIG_RANGE "  ");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    /* Upper-case hex in the signature is the same signature. */
    rq_set(&r, "Authorization",
           AUTH_PREFIX "SignedHeaders=host;range;x-amz-content-sha256;"
                       "x-amz-date,Signature=F0E8BDB87C964420E857BD35B5D6ED31"
                       "0BD44F0170ABA48DD91039C6036BDB41");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    assert_string_equal(a.seed_signature, SIG_RANGE);

    /* Anything signed changes: mismatch. */
    aws_get_range(&r);
    rq_set(&r, "Range", "bytes=0-8");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    assert_non_null(strstr(last_msg, "does not match"));
    aws_get_range(&r);
    r.method = "HEAD";
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    aws_get_range(&r);
    rq_set(&r, "Host", "otherbucket.s3.amazonaws.com");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    /* A signed header missing from the request. */
    aws_get_range(&r);
    rq_del(&r, "Range");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    /* A repeated signed header is joined with ',': not the signed value. */
    aws_get_range(&r);
    rq_add(&r, "range", "bytes=0-9");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    /* An unsigned x-amz-* header is refused; other headers are not. */
    aws_get_range(&r);
    rq_add(&r, "X-Amz-Bypass-Governance-Retention", "true");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    assert_non_null(strstr(last_msg, "not signed"));
    aws_get_range(&r);
    rq_add(&r, "User-Agent", "test");
    rq_add(&r, "X-Amzn-Trace-Id", "Root=1-abc");
    rq_add(&r, "x-amz-decoded-content-length", "0");
    rq_add(&r, "Expect", "100-continue");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
}

static void test_aws_put_object(void **state)
{
    struct rq r;
    struct gw_sigv4_auth a;

    aws_put_object(&r);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    assert_int_equal(a.payload, GW_PAYLOAD_SIGNED);
    assert_string_equal(a.payload_sha256, "44ce7dd67c959e0d3524ffac1771dfbba8"
                                          "7d2b6b4b4e99e42034a8b803f8b072");
    /* "/test$file.text": '$' is encoded in the canonical URI however it
     * was sent. */
    assert_int_equal(verify_path(&r, "/test$file.text"), GW_AUTH_OK);
    assert_int_equal(verify_path(&r, "/test%24file%2etext"), GW_AUTH_OK);
    assert_int_equal(verify_path(&r, "/test%2524file.text"),
                     GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_path(&r, "/test+file.text"), GW_AUTH_BAD_SIGNATURE);
    /* Within the skew, either side. */
    r.path = "/test%24file.text";
    assert_int_equal(rq_verify(&r, T0 + GW_SIGV4_MAX_SKEW_S, &a), GW_AUTH_OK);
    assert_int_equal(rq_verify(&r, T0 - GW_SIGV4_MAX_SKEW_S, &a), GW_AUTH_OK);
}

static void test_aws_get_bucket_lifecycle(void **state)
{
    struct rq r;
    struct gw_sigv4_auth a;

    aws_bucket_get(&r, "lifecycle", SIG_LIFECYCLE);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    /* "lifecycle" and "lifecycle=" are both "lifecycle=". */
    assert_int_equal(verify_query(&r, "lifecycle="), GW_AUTH_OK);
    assert_int_equal(verify_query(&r, "lifecycle&"), GW_AUTH_OK);
    assert_int_equal(verify_query(&r, "lifecycle=x"), GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_query(&r, "Lifecycle"), GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_query(&r, ""), GW_AUTH_BAD_SIGNATURE);
}

static void test_aws_get_bucket_list_objects(void **state)
{
    struct rq r;
    struct gw_sigv4_auth a;

    aws_bucket_get(&r, "max-keys=2&prefix=J", SIG_LIST);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    /* Order on the wire does not matter; encodings of the same bytes
     * neither. */
    assert_int_equal(verify_query(&r, "prefix=J&max-keys=2"), GW_AUTH_OK);
    assert_int_equal(verify_query(&r, "prefix=%4A&max%2Dkeys=%32"), GW_AUTH_OK);
    assert_int_equal(verify_query(&r, "&prefix=J&&max-keys=2&"), GW_AUTH_OK);
    assert_int_equal(verify_query(&r, "max-keys=3&prefix=J"),
                     GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_query(&r, "max-keys=2&prefix=j"),
                     GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_query(&r, "max-keys=2&prefix=J&prefix=J"),
                     GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_query(&r, "max-keys=2"), GW_AUTH_BAD_SIGNATURE);
}

/* ---- botocore-signed requests: encodings ------------------------------ */

static void test_botocore_key_encodings(void **state)
{
    struct rq r;
    struct gw_sigv4_auth a;

    /* botocore: GET .../my%20key%2B~%25%C3%A9%E2%9C%93.txt?delimiter=%2F&
     * prefix=a%20b, SignedHeaders host;x-amz-content-sha256;x-amz-date. */
    rq_init(&r, "GET", "/my%20key%2B~%25%C3%A9%E2%9C%93.txt",
            "delimiter=%2F&prefix=a%20b");
    rq_add(&r, "Host", "examplebucket.s3.amazonaws.com");
    rq_add(&r, "X-Amz-Date", "20130524T000000Z");
    rq_add(&r, "X-Amz-Content-SHA256", EMPTY);
    rq_add(&r, "Authorization",
           AUTH_PREFIX " SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
                       " Signature=88178f6b5b5c3294e735a512c8fff0f3c8aa71f340"
                       "9b812a8dac69a6eb77b542");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    /* Lower-case escapes, raw UTF-8, a raw space, '~' encoded, '+' as
     * itself in a path: all the same key. */
    assert_int_equal(verify_path(&r, "/my%20key%2b~%25%c3%a9%e2%9c%93.txt"),
                     GW_AUTH_OK);
    assert_int_equal(verify_path(&r, "/my key+%7E%25\xc3\xa9\xe2\x9c\x93.txt"),
                     GW_AUTH_OK);
    /* '%' must be encoded; a bare '%' not followed by hex is itself. */
    assert_int_equal(verify_path(&r, "/my%20key%2B~%\xc3\xa9\xe2\x9c\x93.txt"),
                     GW_AUTH_OK);
    /* A different key. */
    assert_int_equal(verify_path(&r, "/my%20key%20~%25%C3%A9%E2%9C%93.txt"),
                     GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_path(&r, "/my%20key%2B~%2525%C3%A9%E2%9C%93.txt"),
                     GW_AUTH_BAD_SIGNATURE);
    r.path = "/my%20key%2B~%25%C3%A9%E2%9C%93.txt";
    /* In a query '+' and %20 are both a space; '/' and %2F alike. */
    assert_int_equal(verify_query(&r, "prefix=a+b&delimiter=/"), GW_AUTH_OK);
    assert_int_equal(verify_query(&r, "delimiter=%2f&prefix=a%20b"),
                     GW_AUTH_OK);
    /* A literal plus (sent as %2B) is not a space. */
    assert_int_equal(verify_query(&r, "delimiter=%2F&prefix=a%2Bb"),
                     GW_AUTH_BAD_SIGNATURE);

    /* botocore: PUT .../dir/a%2Fb with x-amz-meta-note "  two   words\t
     * here ": '%2F' is part of the key (not a separator) and header
     * whitespace runs collapse to one space. */
    rq_init(&r, "PUT", "/dir/a%2Fb", "");
    rq_add(&r, "x-amz-meta-note", "  two   words\there ");
    rq_add(&r, "Host", "examplebucket.s3.amazonaws.com");
    rq_add(&r, "X-Amz-Date", "20130524T000000Z");
    rq_add(&r, "X-Amz-Content-SHA256", EMPTY);
    rq_add(&r, "Authorization",
           AUTH_PREFIX " SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
                       "x-amz-meta-note, Signature=cb8742f1b0f4a0b9e0cbc0eba6"
                       "6b660abcee10963ea2c4190fe2deeece03111f");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    assert_int_equal(verify_path(&r, "/dir/a%2fb"), GW_AUTH_OK);
    assert_int_equal(verify_path(&r, "/dir/a/b"), GW_AUTH_BAD_SIGNATURE);
    assert_int_equal(verify_path(&r, "/dir%2Fa%2Fb"), GW_AUTH_BAD_SIGNATURE);
    r.path = "/dir/a%2Fb";
    rq_set(&r, "x-amz-meta-note", "two words here");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    rq_set(&r, "x-amz-meta-note", "\ttwo \t words  here");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    rq_set(&r, "x-amz-meta-note", "twowords here");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
}

/* ---- dates and skew --------------------------------------------------- */

static void test_dates_and_skew(void **state)
{
    struct rq r;
    struct gw_sigv4_auth a;

    aws_get_range(&r);
    assert_int_equal(rq_verify(&r, T0 + 900, &a), GW_AUTH_OK);
    assert_int_equal(rq_verify(&r, T0 - 900, &a), GW_AUTH_OK);
    assert_int_equal(rq_verify(&r, T0 + 901, &a), GW_AUTH_SKEWED);
    assert_int_equal(rq_verify(&r, T0 - 901, &a), GW_AUTH_SKEWED);
    assert_int_equal(rq_verify(&r, T0 + 86400 * 365, &a), GW_AUTH_SKEWED);

    /* x-amz-date unparseable, repeated, or absent with no Date. */
    rq_set(&r, "x-amz-date", "2013-05-24T00:00:00Z");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_DATE);
    rq_set(&r, "x-amz-date", "20130524T250000Z");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_DATE);
    aws_get_range(&r);
    rq_add(&r, "X-Amz-Date", "20130524T000000Z");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_DATE);
    aws_get_range(&r);
    rq_del(&r, "x-amz-date");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_DATE);

    /* The Date header when there is no x-amz-date (RFC 7231 forms). Its
     * time is checked for skew before the signature. */
    rq_add(&r, "Date", "Fri, 24 May 2013 00:00:00 GMT");
    assert_int_equal(rq_verify(&r, T0 + 901, &a), GW_AUTH_SKEWED);
    rq_set(&r, "Date", "Friday, 24-May-13 00:00:00 GMT");
    assert_int_equal(rq_verify(&r, T0 - 901, &a), GW_AUTH_SKEWED);
    rq_set(&r, "Date", "Fri May 24 00:00:00 2013");
    assert_int_equal(rq_verify(&r, T0 + 901, &a), GW_AUTH_SKEWED);
    rq_set(&r, "Date", "yesterday");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_DATE);
    /* Within the skew the signature is checked (here it covers an
     * x-amz-date that is no longer sent). */
    rq_set(&r, "Date", "Fri, 24 May 2013 00:00:00 GMT");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    assert_string_equal(a.amz_date, "20130524T000000Z");

    /* The credential's date must be the request's date. */
    aws_get_range(&r);
    rq_set(&r, "x-amz-date", "20130525T000000Z");
    assert_int_equal(rq_verify(&r, T0 + 86400, &a), GW_AUTH_MALFORMED);
    assert_non_null(strstr(last_msg, "credential date"));
}

/* ---- malformed and unsupported Authorization headers ------------------ */

static void test_malformed_authorization(void **state)
{
    static const struct {
        const char *auth;
        enum gw_auth_result want;
    } rows[] = {
        {"AWS " AK ":frJIUN8DYpKDtOLCwo//yllqDzg=", GW_AUTH_UNSUPPORTED},
        {"AWS4-ECDSA-P256-SHA256 " CRED
         ",SignedHeaders=host,Signature=" SIG_RANGE,
         GW_AUTH_UNSUPPORTED},
        {"Bearer abc", GW_AUTH_UNSUPPORTED},
        {"", GW_AUTH_UNSUPPORTED},
        {"AWS4-HMAC-SHA256", GW_AUTH_MALFORMED},
        {"AWS4-HMAC-SHA256 " CRED, GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=host;range;x-amz-content-sha256;"
                     "x-amz-date",
         GW_AUTH_MALFORMED},
        {"AWS4-HMAC-SHA256 SignedHeaders=host,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=host,Signature=" SIG_RANGE
                     ",Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=host,Signature=" SIG_RANGE ",Foo=bar",
         GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=host,Signature=" SIG_RANGE ",",
         GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders host,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        /* Credential */
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3,"
         "SignedHeaders=host,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/ec2/"
         "aws4_request,SignedHeaders=host,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
         "aws4_request/x,SignedHeaders=host,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
         "aws5_request,SignedHeaders=host,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/2013052/us-east-1/s3/"
         "aws4_request,SignedHeaders=host,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/2013O524/us-east-1/s3/"
         "aws4_request,SignedHeaders=host,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/"
         "aws4_request,SignedHeaders=host,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524//s3/"
         "aws4_request,SignedHeaders=host,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        /* SignedHeaders */
        {AUTH_PREFIX "SignedHeaders=range;x-amz-date,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=,Signature=" SIG_RANGE, GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=Host;Range,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=host;;range,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=host;range;,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=host;ra nge,Signature=" SIG_RANGE,
         GW_AUTH_MALFORMED},
        /* Signature */
        {AUTH_PREFIX "SignedHeaders=host,Signature=f0e8", GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=host,Signature=" SIG_RANGE "0",
         GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=host,Signature=g0e8bdb87c964420e857bd35"
                     "b5d6ed310bd44f0170aba48dd91039c6036bdb41",
         GW_AUTH_MALFORMED},
        {AUTH_PREFIX "SignedHeaders=host,Signature=", GW_AUTH_MALFORMED},
    };
    struct rq r;
    struct gw_sigv4_auth a;
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        aws_get_range(&r);
        rq_set(&r, "Authorization", rows[i].auth);
        if (rq_verify(&r, T0, &a) != rows[i].want)
            fail_msg("row %zu: %s: got %d (%s)", i, rows[i].auth,
                     (int)rq_verify(&r, T0, &a), last_msg);
        /* Every refusal says why, in a bounded NUL-terminated message. */
        assert_true(strlen(last_msg) > 0 && strlen(last_msg) < 512);
    }

    /* Two Authorization headers. */
    aws_get_range(&r);
    rq_add(&r, "authorization", AUTH_RANGE);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_MALFORMED);
    /* Header and query auth together. */
    aws_get_range(&r);
    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256";
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_MALFORMED);
    /* An unknown access key, once the request is well formed. */
    aws_get_range(&r);
    rq_set(&r, "Authorization",
           "AWS4-HMAC-SHA256 Credential=AKIANOTKNOWN/20130524/us-east-1/s3/"
           "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;"
           "x-amz-date,Signature=" SIG_RANGE);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_ACCESS_KEY);
    /* Any region verifies here (the server checks it against its own);
     * the signature then does not match the us-east-1 one. */
    rq_set(&r, "Authorization",
           "AWS4-HMAC-SHA256 Credential=" AK "/20130524/eu-west-1/s3/"
           "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;"
           "x-amz-date,Signature=" SIG_RANGE);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    assert_string_equal(a.region, "eu-west-1");
    /* No Authorization and no presign parameters: anonymous. */
    aws_get_range(&r);
    rq_del(&r, "Authorization");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_ANONYMOUS);
    r.query = "prefix=X-Amz-Algorithm&list-type=2";
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_ANONYMOUS);
    /* SigV2 query authentication. */
    r.query = "AWSAccessKeyId=" AK "&Expires=1369357200&Signature=abc%3D";
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_UNSUPPORTED);
}

static void test_content_sha256(void **state)
{
    static const char *const bad[] = {
        "not-a-hash",
        "",
        "unsigned-payload",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
        "z3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    };
    static const struct {
        const char *v;
        enum gw_payload_mode mode;
    } good[] = {
        {"UNSIGNED-PAYLOAD", GW_PAYLOAD_UNSIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", GW_PAYLOAD_STREAMING_SIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
         GW_PAYLOAD_STREAMING_SIGNED_TRAILER},
        {"STREAMING-UNSIGNED-PAYLOAD-TRAILER",
         GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
        {"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
         GW_PAYLOAD_SIGNED},
    };
    struct rq r;
    struct gw_sigv4_auth a;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        aws_get_range(&r);
        rq_set(&r, "x-amz-content-sha256", bad[i]);
        assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_CONTENT_SHA);
    }
    /* Each valid value gets past the check (and then fails the signature,
     * which covered EMPTY). */
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        aws_get_range(&r);
        rq_set(&r, "x-amz-content-sha256", good[i].v);
        assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
        assert_int_equal(a.payload, good[i].mode);
    }
    /* Header auth requires the header (S3: InvalidRequest). */
    aws_get_range(&r);
    rq_del(&r, "x-amz-content-sha256");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_MISSING_CONTENT_SHA);
    /* Twice is not a valid value. */
    aws_get_range(&r);
    rq_add(&r, "X-Amz-Content-Sha256", EMPTY);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_CONTENT_SHA);
}

/* ---- presigned -------------------------------------------------------- */

#define PQ_ALG "X-Amz-Algorithm=AWS4-HMAC-SHA256"
#define PQ_CRED                                                                \
    "X-Amz-Credential=" AK "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
#define PQ_DATE "X-Amz-Date=20130524T000000Z"
#define PQ_EXP "X-Amz-Expires=86400"
#define PQ_SH "X-Amz-SignedHeaders=host"
#define PQ_SIG "X-Amz-Signature=" SIG_PRESIGN
#define PRESIGN_Q PQ_ALG "&" PQ_CRED "&" PQ_DATE "&" PQ_EXP "&" PQ_SH "&" PQ_SIG

static void presigned_get(struct rq *r, const char *query)
{
    rq_init(r, "GET", "/test.txt", query);
    rq_add(r, "Host", "examplebucket.s3.amazonaws.com");
}

static void test_aws_presigned(void **state)
{
    static const struct {
        const char *q;
        enum gw_auth_result want;
    } rows[] = {
        {PRESIGN_Q, GW_AUTH_OK},
        /* any order, '/' unencoded in the credential */
        {PQ_SIG "&" PQ_SH "&" PQ_EXP "&" PQ_DATE "&" PQ_CRED "&" PQ_ALG,
         GW_AUTH_OK},
        {PQ_ALG "&X-Amz-Credential=" AK "/20130524/us-east-1/s3/"
                "aws4_request&" PQ_DATE "&" PQ_EXP "&" PQ_SH "&" PQ_SIG,
         GW_AUTH_OK},
        /* a parameter more is signed, so it must have been signed */
        {PRESIGN_Q "&versionId=1", GW_AUTH_BAD_SIGNATURE},
        /* missing, repeated, out of range */
        {PQ_ALG "&" PQ_CRED "&" PQ_DATE "&" PQ_EXP "&" PQ_SH,
         GW_AUTH_MALFORMED},
        {PQ_CRED "&" PQ_DATE "&" PQ_EXP "&" PQ_SH "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&" PQ_DATE "&" PQ_SH "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PRESIGN_Q "&" PQ_EXP, GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&" PQ_DATE "&X-Amz-Expires=0&" PQ_SH "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&" PQ_DATE "&X-Amz-Expires=604801&" PQ_SH
                "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&" PQ_DATE "&X-Amz-Expires=-5&" PQ_SH "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&" PQ_DATE "&X-Amz-Expires=abc&" PQ_SH "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&" PQ_DATE "&X-Amz-Expires=&" PQ_SH "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&" PQ_DATE "&X-Amz-Expires=99999999999999&" PQ_SH
                "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {"X-Amz-Algorithm=AWS4-HMAC-SHA1&" PQ_CRED "&" PQ_DATE "&" PQ_EXP
         "&" PQ_SH "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&X-Amz-Date=20130524&" PQ_EXP "&" PQ_SH "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&X-Amz-Date=20130525T000000Z&" PQ_EXP "&" PQ_SH
                "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&X-Amz-Credential=" AK "%2F20130524%2Fus-east-1%2Fs3&" PQ_DATE
                "&" PQ_EXP "&" PQ_SH "&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&" PQ_DATE "&" PQ_EXP
                "&X-Amz-SignedHeaders=x-amz-date&" PQ_SIG,
         GW_AUTH_MALFORMED},
        {PQ_ALG "&" PQ_CRED "&" PQ_DATE "&" PQ_EXP "&" PQ_SH
                "&X-Amz-Signature=aeeed9",
         GW_AUTH_MALFORMED},
    };
    struct rq r;
    struct gw_sigv4_auth a;
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        presigned_get(&r, rows[i].q);
        if (rq_verify(&r, T0, &a) != rows[i].want)
            fail_msg("row %zu: %s: got %d (%s)", i, rows[i].q,
                     (int)rq_verify(&r, T0, &a), last_msg);
        /* the server picks AuthorizationQueryParametersError from this */
        assert_int_equal(a.presigned, 1);
    }

    presigned_get(&r, PRESIGN_Q);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    assert_int_equal(a.payload, GW_PAYLOAD_UNSIGNED);
    assert_string_equal(a.payload_sha256, "UNSIGNED-PAYLOAD");
    assert_string_equal(a.seed_signature, SIG_PRESIGN);
    /* Valid from X-Amz-Date through X-Amz-Date + X-Amz-Expires. */
    assert_int_equal(rq_verify(&r, T0 + 86400, &a), GW_AUTH_OK);
    assert_int_equal(rq_verify(&r, T0 + 86401, &a), GW_AUTH_EXPIRED);
    assert_non_null(strstr(last_msg, "expired"));
    assert_int_equal(rq_verify(&r, T0 + 86400 * 30, &a), GW_AUTH_EXPIRED);
    /* Dated in the future: 15 minutes of tolerance, then S3's AccessDenied
     * "Request is not valid yet". */
    assert_int_equal(rq_verify(&r, T0 - 900, &a), GW_AUTH_OK);
    assert_int_equal(rq_verify(&r, T0 - 901, &a), GW_AUTH_BAD_DATE);
    assert_non_null(strstr(last_msg, "not valid yet"));
    /* Another key, another method, another host: mismatch. */
    assert_int_equal(verify_path(&r, "/test2.txt"), GW_AUTH_BAD_SIGNATURE);
    r.path = "/test.txt";
    r.method = "PUT";
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    presigned_get(&r, PRESIGN_Q);
    rq_set(&r, "Host", "examplebucket.s3.amazonaws.com:443");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    /* A tampered signature. */
    presigned_get(&r, PQ_ALG
                  "&" PQ_CRED "&" PQ_DATE "&" PQ_EXP "&" PQ_SH
                  "&X-Amz-Signature=beeed9bbccd4d02ee5c0109b86d86835f9953"
                  "30da4c265957d157751f604d404");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    /* x-amz-content-sha256, when sent, is what was signed (botocore). */
    presigned_get(&r, PRESIGN_Q);
    rq_add(&r, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_OK);
    rq_set(&r, "x-amz-content-sha256", EMPTY);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    rq_set(&r, "x-amz-content-sha256", "nonsense");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_CONTENT_SHA);
    /* An unsigned x-amz-* header rides along: refused. */
    presigned_get(&r, PRESIGN_Q);
    rq_add(&r, "x-amz-tagging", "a=b");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    /* An unknown key. */
    presigned_get(&r, PQ_ALG "&X-Amz-Credential=AKIANOPE%2F20130524%2F"
                             "us-east-1%2Fs3%2Faws4_request&" PQ_DATE "&" PQ_EXP
                             "&" PQ_SH "&" PQ_SIG);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_ACCESS_KEY);
}

/* ---- limits ----------------------------------------------------------- */

static void test_limits(void **state)
{
    static char q[GW_SIGV4_MAX_QUERY_PARAMS * 8 + 64];
    static char auth[GW_SIGV4_MAX_SIGNED_HEADERS_LEN + 512];
    static char list[GW_SIGV4_MAX_SIGNED_HEADERS_LEN + 16];
    struct rq r;
    struct gw_sigv4_auth a;
    size_t n, i;

    /* Query parameters: the limit verifies (and mismatches), one more is
     * refused before any work. */
    for (i = 0, n = 0; i < GW_SIGV4_MAX_QUERY_PARAMS; i++)
        n += (size_t)snprintf(q + n, sizeof(q) - n, "%sp%zu", i ? "&" : "", i);
    aws_bucket_get(&r, q, SIG_LIST);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    snprintf(q + n, sizeof(q) - n, "&one-more");
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_MALFORMED);

    /* SignedHeaders: exactly the limit ("host" and 292 ";x-NNNN"), then
     * one byte more. */
    n = (size_t)snprintf(list, sizeof(list), "host");
    for (i = 0; i < 292; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, ";x-%04zu", i);
    assert_int_equal(n, GW_SIGV4_MAX_SIGNED_HEADERS_LEN);
    aws_get_range(&r);
    snprintf(auth, sizeof(auth),
             AUTH_PREFIX "SignedHeaders=%s,Signature=" SIG_RANGE, list);
    rq_set(&r, "Authorization", auth);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_BAD_SIGNATURE);
    snprintf(auth, sizeof(auth),
             AUTH_PREFIX "SignedHeaders=%sz,Signature=" SIG_RANGE, list);
    rq_set(&r, "Authorization", auth);
    assert_int_equal(rq_verify(&r, T0, &a), GW_AUTH_MALFORMED);
}

/* ---- building blocks -------------------------------------------------- */

static void test_uri_encode(void **state)
{
    char out[128];

    assert_int_equal(
        gw_sigv4_uri_encode("a b+c~d/e%f", 11, 1, out, sizeof(out)), 17);
    assert_string_equal(out, "a%20b%2Bc~d/e%25f");
    assert_int_equal(
        gw_sigv4_uri_encode("a b+c~d/e%f", 11, 0, out, sizeof(out)), 19);
    assert_string_equal(out, "a%20b%2Bc~d%2Fe%25f");
    /* unicode: UTF-8 bytes, upper-case hex */
    assert_int_equal(
        gw_sigv4_uri_encode("\xc3\xa9\xe2\x9c\x93", 5, 1, out, sizeof(out)),
        15);
    assert_string_equal(out, "%C3%A9%E2%9C%93");
    /* the unreserved set passes through */
    assert_int_equal(gw_sigv4_uri_encode("AZaz09-._~", 10, 0, out, sizeof(out)),
                     10);
    assert_string_equal(out, "AZaz09-._~");
    assert_int_equal(
        gw_sigv4_uri_encode("$&'()*,;=:@!", 12, 1, out, sizeof(out)), 36);
    assert_string_equal(out, "%24%26%27%28%29%2A%2C%3B%3D%3A%40%21");
    /* an embedded NUL is a byte like any other */
    assert_int_equal(gw_sigv4_uri_encode("a\0b", 3, 1, out, sizeof(out)), 5);
    assert_string_equal(out, "a%00b");
    assert_int_equal(gw_sigv4_uri_encode("", 0, 1, out, 1), 0);
    assert_string_equal(out, "");
    /* room for the NUL is needed: "%20%20%20" is 9 bytes */
    assert_int_equal(gw_sigv4_uri_encode("   ", 3, 1, out, 9), -1);
    assert_int_equal(gw_sigv4_uri_encode("   ", 3, 1, out, 10), 9);
    assert_int_equal(gw_sigv4_uri_encode("abc", 3, 1, out, 3), -1);
    assert_int_equal(gw_sigv4_uri_encode("abc", 3, 1, out, 4), 3);
    assert_int_equal(gw_sigv4_uri_encode("a", 1, 1, out, 0), -1);
}

static void key_hex(const unsigned char k[32], char hex[65])
{
    static const char d[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 32; i++) {
        hex[2 * i] = d[k[i] >> 4];
        hex[2 * i + 1] = d[k[i] & 15];
    }
    hex[64] = '\0';
}

static void test_signing_key(void **state)
{
    unsigned char k[32];
    char hex[65];
    char longsecret[101];
    int i;

    /* AWS General Reference, "derive a signing key" example. */
    gw_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830",
                         "us-east-1", "iam", k);
    key_hex(k, hex);
    assert_string_equal(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e"
                             "86da6ed3c154a4b9");
    /* Secrets around and past the HMAC block size (Python hmac). */
    for (i = 0; i < 100; i++)
        longsecret[i] = (char)('0' + i % 10);
    longsecret[100] = '\0';
    gw_sigv4_signing_key(longsecret, "20130524", "us-east-1", "s3", k);
    key_hex(k, hex);
    assert_string_equal(hex, "f6238a7cfcdb3008e6429e7ef788b1c22f8cfdffaea668a3"
                             "827f1f7cb76fac1c");
    memset(longsecret, 'a', 60);
    longsecret[60] = '\0';
    gw_sigv4_signing_key(longsecret, "20130524", "us-east-1", "s3", k);
    key_hex(k, hex);
    assert_string_equal(hex, "0829e9c7c9a956fec9945e1bb2056c5f38780ae65169b0d0"
                             "6819c1f68500ded5");
    longsecret[60] = 'a';
    longsecret[61] = '\0';
    gw_sigv4_signing_key(longsecret, "20130524", "us-east-1", "s3", k);
    key_hex(k, hex);
    assert_string_equal(hex, "9f71130d3c0284d9694a74042bcd15c005eaf2a3927b24bd"
                             "3993471066441334");
}

/* ---- aws-chunked ------------------------------------------------------ */

/* Collects decoded bytes: counts them and checks they are all 'a' (or
 * keeps a copy when small). */
struct sink {
    uint64_t n;      /* bytes received */
    int not_a;       /* a byte other than 'a' arrived */
    int calls;       /* callback invocations */
    int abort_after; /* return non-zero on this call (0: never) */
    char copy[256];  /* first bytes received */
};

static int sink_fn(const char *p, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t i;

    assert_true(n > 0);
    for (i = 0; i < n; i++) {
        if (p[i] != 'a') s->not_a = 1;
        if (s->n + i < sizeof(s->copy)) s->copy[s->n + i] = p[i];
    }
    s->n += n;
    s->calls++;
    return s->abort_after && s->calls >= s->abort_after;
}

/* The AWS streaming example's headers; returns the auth for the decoder. */
static void chunked_auth(struct gw_sigv4_auth *a, int trailer)
{
    struct rq r;

    rq_init(&r, "PUT", "/examplebucket/chunkObject.txt", "");
    rq_add(&r, "Host", "s3.amazonaws.com");
    rq_add(&r, "x-amz-date", "20130524T000000Z");
    rq_add(&r, "x-amz-storage-class", "REDUCED_REDUNDANCY");
    rq_add(&r, "Content-Encoding", "aws-chunked");
    rq_add(&r, "x-amz-decoded-content-length", "66560");
    rq_add(&r, "Content-Length", "66824");
    if (!trailer) {
        rq_add(&r, "x-amz-content-sha256",
               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
        rq_add(&r, "Authorization",
               AUTH_PREFIX "SignedHeaders=content-encoding;content-length;"
                           "host;x-amz-content-sha256;x-amz-date;"
                           "x-amz-decoded-content-length;x-amz-storage-class,"
                           "Signature=" SEED_CHUNKED);
    } else {
        /* The trailer page's canonical request signs these headers (its
         * printed Authorization header lists the other example's). */
        rq_add(&r, "x-amz-content-sha256",
               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
        rq_add(&r, "x-amz-trailer", "x-amz-checksum-crc32c");
        rq_add(&r, "Authorization",
               AUTH_PREFIX "SignedHeaders=content-encoding;host;"
                           "x-amz-content-sha256;x-amz-date;"
                           "x-amz-decoded-content-length;x-amz-storage-class;"
                           "x-amz-trailer,Signature=" SEED_TRAILER);
    }
    assert_int_equal(rq_verify(&r, T0, a), GW_AUTH_OK);
    assert_int_equal(a->payload, trailer ? GW_PAYLOAD_STREAMING_SIGNED_TRAILER
                                         : GW_PAYLOAD_STREAMING_SIGNED);
    assert_string_equal(a->seed_signature,
                        trailer ? SEED_TRAILER : SEED_CHUNKED);
}

static char body[70000];

/* 64 KiB and 1 KiB of 'a' framed as in the AWS examples, then the final
 * chunk, trailer lines (may be ""), and the closing CRLF. */
static size_t build_body(const char *s1, const char *s2, const char *s3,
                         const char *trailers)
{
    size_t o = 0;

    o += (size_t)snprintf(body + o, sizeof(body) - o,
                          "10000;chunk-signature=%s\r\n", s1);
    memset(body + o, 'a', 65536);
    o += 65536;
    o += (size_t)snprintf(body + o, sizeof(body) - o,
                          "\r\n400;chunk-signature=%s\r\n", s2);
    memset(body + o, 'a', 1024);
    o += 1024;
    o += (size_t)snprintf(body + o, sizeof(body) - o,
                          "\r\n0;chunk-signature=%s\r\n%s\r\n", s3, trailers);
    return o;
}

/* Feeds p in pieces ending at each cut (ascending), then the rest;
 * returns the final status, and checks that every earlier piece was
 * consumed whole with GW_CHUNKED_OK. */
static enum gw_chunked_status feed_cuts(struct gw_chunked *c, const char *p,
                                        size_t n, const size_t *cuts,
                                        size_t ncuts)
{
    size_t at = 0, i, used;
    enum gw_chunked_status st;

    for (i = 0; i < ncuts; i++) {
        if (cuts[i] <= at || cuts[i] >= n) continue;
        st = gw_chunked_feed(c, p + at, cuts[i] - at, &used);
        if (st != GW_CHUNKED_OK) return st;
        assert_int_equal(used, cuts[i] - at);
        at = cuts[i];
    }
    st = gw_chunked_feed(c, p + at, n - at, &used);
    if (st == GW_CHUNKED_DONE) assert_int_equal(used, n - at);
    return st;
}

static enum gw_chunked_status
decode(enum gw_payload_mode mode, const struct gw_sigv4_auth *a, const char *p,
       size_t n, const size_t *cuts, size_t ncuts, struct sink *s)
{
    struct gw_chunked *c;
    enum gw_chunked_status st;

    memset(s, 0, sizeof(*s));
    c = gw_chunked_new(mode, a, sink_fn, s);
    assert_non_null(c);
    st = feed_cuts(c, p, n, cuts, ncuts);
    if (st == GW_CHUNKED_DONE)
        assert_int_equal(gw_chunked_decoded_len(c), s->n);
    gw_chunked_free(c);
    return st;
}

static enum gw_chunked_status decode_str(enum gw_payload_mode mode,
                                         const char *p, struct sink *s)
{
    return decode(mode, NULL, p, strlen(p), NULL, 0, s);
}

static void test_chunked_aws_example(void **state)
{
    struct gw_sigv4_auth a;
    struct gw_chunked *c;
    struct sink s;
    size_t len, used, i, cut;
    enum gw_chunked_status st;
    uint32_t x = 12345; /* fixed LCG seed for the random splits */

    chunked_auth(&a, 0);
    len = build_body(CHUNK_SIG1, CHUNK_SIG2, CHUNK_SIG3, "");
    assert_int_equal(len, 66824); /* the example's Content-Length */

    /* Whole. */
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_DONE);
    assert_int_equal(s.n, 66560);
    assert_int_equal(s.not_a, 0);

    /* One byte at a time. */
    memset(&s, 0, sizeof(s));
    c = gw_chunked_new(a.payload, &a, sink_fn, &s);
    for (i = 0; i + 1 < len; i++) {
        st = gw_chunked_feed(c, body + i, 1, &used);
        if (st != GW_CHUNKED_OK || used != 1) fail_msg("byte %zu: %d", i, st);
    }
    assert_int_equal(gw_chunked_feed(c, body + len - 1, 1, &used),
                     GW_CHUNKED_DONE);
    assert_int_equal(s.n, 66560);
    assert_int_equal(gw_chunked_decoded_len(c), 66560);
    /* After DONE: nothing more is consumed, a zero feed still says DONE. */
    assert_int_equal(gw_chunked_feed(c, "", 0, &used), GW_CHUNKED_DONE);
    assert_int_equal(gw_chunked_feed(c, "x", 1, &used), GW_CHUNKED_DONE);
    assert_int_equal(used, 0);
    gw_chunked_free(c);

    /* Two pieces, cut at every position around the framing: the first
     * header, both chunk boundaries and the tail. */
    for (cut = 1; cut < len; cut++) {
        int near = cut < 200 || (cut > 65536 && cut < 65536 + 300) ||
                   (cut > 66560 && cut < 66560 + 400) || cut % 997 == 0;
        if (!near) continue;
        st = decode(a.payload, &a, body, len, &cut, 1, &s);
        if (st != GW_CHUNKED_DONE || s.n != 66560)
            fail_msg("cut at %zu: %d", cut, st);
    }
    /* Random splits into many pieces (LCG seed 12345). */
    for (i = 0; i < 20; i++) {
        size_t cuts[64], k, at = 0;
        for (k = 0; k < 64; k++) {
            x = x * 1103515245u + 12345u;
            at += 1 + (x >> 8) % 3000;
            cuts[k] = at;
        }
        assert_int_equal(decode(a.payload, &a, body, len, cuts, 64, &s),
                         GW_CHUNKED_DONE);
        assert_int_equal(s.n, 66560);
    }

    /* Bytes after the body are left unconsumed: the caller's error. */
    memcpy(body + len, "0\r\n\r\n", 5);
    memset(&s, 0, sizeof(s));
    c = gw_chunked_new(a.payload, &a, sink_fn, &s);
    assert_int_equal(gw_chunked_feed(c, body, len + 5, &used), GW_CHUNKED_DONE);
    assert_int_equal(used, len);
    gw_chunked_free(c);

    /* Without its final chunk the body never completes. */
    memset(&s, 0, sizeof(s));
    c = gw_chunked_new(a.payload, &a, sink_fn, &s);
    assert_int_equal(gw_chunked_feed(c, body, len - 88, &used), GW_CHUNKED_OK);
    assert_int_equal(gw_chunked_feed(c, "", 0, &used), GW_CHUNKED_OK);
    gw_chunked_free(c);
}

static void test_chunked_tampered(void **state)
{
    struct gw_sigv4_auth a, other;
    struct sink s;
    size_t len;

    chunked_auth(&a, 0);
    /* A changed data byte in the first chunk: its data has been passed
     * on, and its signature fails as it ends. */
    len = build_body(CHUNK_SIG1, CHUNK_SIG2, CHUNK_SIG3, "");
    body[5000] = 'b';
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_BAD_SIGNATURE);
    assert_int_equal(s.n, 65536);
    body[5000] = 'a';
    /* In the second chunk: its data starts after the first header (88
     * bytes), the first chunk, CRLF and the second header (86). */
    body[88 + 65536 + 2 + 86 + 10] = 'b';
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_BAD_SIGNATURE);
    assert_int_equal(s.n, 65536 + 1024);
    body[88 + 65536 + 2 + 86 + 10] = 'a';
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_DONE);
    /* Each chunk signature changed in turn. */
    len = build_body("bd80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a6548"
                     "5a288648",
                     CHUNK_SIG2, CHUNK_SIG3, "");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_BAD_SIGNATURE);
    len = build_body(CHUNK_SIG1, CHUNK_SIG1, CHUNK_SIG3, "");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_BAD_SIGNATURE);
    len = build_body(CHUNK_SIG1, CHUNK_SIG2, CHUNK_SIG2, "");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_BAD_SIGNATURE);
    /* The chain starts at the seed: another seed, every chunk fails. */
    other = a;
    memcpy(other.seed_signature, SIG_RANGE, 65);
    len = build_body(CHUNK_SIG1, CHUNK_SIG2, CHUNK_SIG3, "");
    assert_int_equal(decode(a.payload, &other, body, len, NULL, 0, &s),
                     GW_CHUNKED_BAD_SIGNATURE);
    /* Another signing key. */
    other = a;
    other.signing_key[0] ^= 1;
    assert_int_equal(decode(a.payload, &other, body, len, NULL, 0, &s),
                     GW_CHUNKED_BAD_SIGNATURE);
    /* Chunks reordered (the 1 KiB one first, with its own signature). */
    {
        size_t o = 0;
        o += (size_t)snprintf(body, sizeof(body),
                              "400;chunk-signature=" CHUNK_SIG2 "\r\n");
        memset(body + o, 'a', 1024);
        o += 1024;
        o += (size_t)snprintf(body + o, sizeof(body) - o, "\r\n");
        assert_int_equal(decode(a.payload, &a, body, o, NULL, 0, &s),
                         GW_CHUNKED_BAD_SIGNATURE);
    }
    /* Trailer lines are not part of this mode. */
    len = build_body(CHUNK_SIG1, CHUNK_SIG2, CHUNK_SIG3,
                     "x-amz-checksum-crc32:AAAAAA==\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_MALFORMED);
    /* A chunk without its signature. */
    assert_int_equal(decode(a.payload, &a, "5\r\naaaaa\r\n", 10, NULL, 0, &s),
                     GW_CHUNKED_MALFORMED);
    assert_int_equal(
        decode(a.payload, &a, "5;chunk-signature=abc\r\n", 23, NULL, 0, &s),
        GW_CHUNKED_MALFORMED);
    assert_int_equal(decode(a.payload, &a,
                            "5;chunk-signature=" SIG_RANGE ";x=y\r\n",
                            18 + 64 + 6, NULL, 0, &s),
                     GW_CHUNKED_MALFORMED);
}

static void test_chunked_aws_trailer_example(void **state)
{
    struct gw_sigv4_auth a;
    struct gw_chunked *c;
    struct sink s;
    struct cf_str v;
    size_t len, used, i, cut;
    const char *tr = "x-amz-checksum-crc32c:sOO8/Q==\r\n"
                     "x-amz-trailer-signature:" TR_TSIG "\r\n";

    chunked_auth(&a, 1);
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3, tr);
    memset(&s, 0, sizeof(s));
    c = gw_chunked_new(a.payload, &a, sink_fn, &s);
    assert_int_equal(gw_chunked_feed(c, body, len, &used), GW_CHUNKED_DONE);
    assert_int_equal(used, len);
    assert_int_equal(s.n, 66560);
    v = gw_chunked_trailer(c, "x-amz-checksum-crc32c");
    assert_int_equal(v.len, 8);
    assert_memory_equal(v.p, "sOO8/Q==", 8);
    v = gw_chunked_trailer(c, "X-Amz-Checksum-CRC32C");
    assert_int_equal(v.len, 8);
    assert_int_equal(gw_chunked_trailer(c, "x-amz-trailer-signature").len, 0);
    assert_int_equal(gw_chunked_trailer(c, "x-amz-checksum-crc32").len, 0);
    gw_chunked_free(c);

    /* One byte at a time, and cut everywhere in the tail. */
    memset(&s, 0, sizeof(s));
    c = gw_chunked_new(a.payload, &a, sink_fn, &s);
    for (i = 0; i + 1 < len; i++)
        assert_int_equal(gw_chunked_feed(c, body + i, 1, &used), GW_CHUNKED_OK);
    assert_int_equal(gw_chunked_feed(c, body + len - 1, 1, &used),
                     GW_CHUNKED_DONE);
    gw_chunked_free(c);
    for (cut = 66560; cut < len; cut++)
        assert_int_equal(decode(a.payload, &a, body, len, &cut, 1, &s),
                         GW_CHUNKED_DONE);

    /* Whitespace around the value and upper-case names canonicalise. */
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3,
                     "X-Amz-Checksum-CRC32C:  sOO8/Q== \r\n"
                     "x-amz-trailer-signature: " TR_TSIG "\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_DONE);
    /* A changed trailer value. */
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3,
                     "x-amz-checksum-crc32c:AAAAAA==\r\n"
                     "x-amz-trailer-signature:" TR_TSIG "\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_BAD_SIGNATURE);
    /* An added trailer. */
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3,
                     "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-meta-a:b\r\n"
                     "x-amz-trailer-signature:" TR_TSIG "\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_BAD_SIGNATURE);
    /* No trailer signature, one not last, two, or a short one. */
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3,
                     "x-amz-checksum-crc32c:sOO8/Q==\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_MALFORMED);
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3,
                     "x-amz-trailer-signature:" TR_TSIG "\r\n"
                     "x-amz-checksum-crc32c:sOO8/Q==\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_MALFORMED);
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3,
                     "x-amz-checksum-crc32c:sOO8/Q==\r\n"
                     "x-amz-trailer-signature:" TR_TSIG "\r\n"
                     "x-amz-trailer-signature:" TR_TSIG "\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_MALFORMED);
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3,
                     "x-amz-checksum-crc32c:sOO8/Q==\r\n"
                     "x-amz-trailer-signature:d81f82fc\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_MALFORMED);
    /* Several trailers are signed in canonical order (names sorted), not
     * in the order sent; no trailers at all signs the empty string. These
     * two signatures come from Python's hmac over the AWS example's key,
     * chained from TR_SIG3 (the same script reproduces TR_TSIG). */
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3,
                     "x-amz-meta-b:2\r\nx-amz-checksum-crc32c:sOO8/Q==\r\n"
                     "x-amz-trailer-signature:b975a626d61222a0f797e9de510dc7"
                     "5337b1a7888f16c8f429c8cc753d64c765\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_DONE);
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3,
                     "x-amz-trailer-signature:4473a2a8e96dc7a3dd547ee4f63fcf"
                     "a4c87c15f9078c3d69927873a340c8daa8\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_DONE);
    /* The trailer signature chains from the final chunk's. */
    len = build_body(TR_SIG1, TR_SIG2, TR_SIG3,
                     "x-amz-checksum-crc32c:sOO8/Q==\r\n"
                     "x-amz-trailer-signature:" TR_SIG3 "\r\n");
    assert_int_equal(decode(a.payload, &a, body, len, NULL, 0, &s),
                     GW_CHUNKED_BAD_SIGNATURE);
}

/* STREAMING-UNSIGNED-PAYLOAD-TRAILER as botocore frames it. */
static void test_unsigned_trailer(void **state)
{
    static const char ok[] = "5\r\naaaaa\r\n3;ext=1\r\naaa\r\n0\r\n"
                             "x-amz-checksum-crc32:AAAAAA==\r\n\r\n";
    const size_t n = sizeof(ok) - 1;
    enum gw_payload_mode m = GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    struct gw_chunked *c;
    struct sink s;
    struct cf_str v;
    size_t i, j, used;

    memset(&s, 0, sizeof(s));
    c = gw_chunked_new(m, NULL, sink_fn, &s);
    assert_non_null(c);
    assert_int_equal(gw_chunked_feed(c, ok, n, &used), GW_CHUNKED_DONE);
    assert_int_equal(used, n);
    assert_int_equal(s.n, 8);
    v = gw_chunked_trailer(c, "x-amz-checksum-crc32");
    assert_int_equal(v.len, 8);
    assert_memory_equal(v.p, "AAAAAA==", 8);
    assert_int_equal(gw_chunked_trailer(c, "x-amz-checksum-sha1").len, 0);
    gw_chunked_free(c);

    /* Every split into two pieces, and every split into three. */
    for (i = 1; i < n; i++) {
        assert_int_equal(decode(m, NULL, ok, n, &i, 1, &s), GW_CHUNKED_DONE);
        assert_int_equal(s.n, 8);
        for (j = i + 1; j < n; j++) {
            size_t cuts[2] = {i, j};
            assert_int_equal(decode(m, NULL, ok, n, cuts, 2, &s),
                             GW_CHUNKED_DONE);
            assert_int_equal(s.n, 8);
            assert_memory_equal(s.copy, "aaaaaaaa", 8);
        }
    }
    /* One byte at a time. */
    memset(&s, 0, sizeof(s));
    c = gw_chunked_new(m, NULL, sink_fn, &s);
    for (i = 0; i + 1 < n; i++)
        assert_int_equal(gw_chunked_feed(c, ok + i, 1, &used), GW_CHUNKED_OK);
    assert_int_equal(gw_chunked_feed(c, ok + n - 1, 1, &used), GW_CHUNKED_DONE);
    gw_chunked_free(c);

    /* Other accepted shapes. */
    assert_int_equal(decode_str(m, "0\r\n\r\n", &s), GW_CHUNKED_DONE);
    assert_int_equal(s.n, 0);
    assert_int_equal(decode_str(m, "000A\r\naaaaaaaaaa\r\n0\r\n\r\n", &s),
                     GW_CHUNKED_DONE);
    assert_int_equal(s.n, 10);
    assert_int_equal(decode_str(m, "0\r\na:1\r\nB:2\r\nc: \t3 \r\n\r\n", &s),
                     GW_CHUNKED_DONE);
    {
        c = gw_chunked_new(m, NULL, sink_fn, &s);
        const char *t = "0\r\nB:2\r\nc: \t3 \r\n\r\n";
        assert_int_equal(gw_chunked_feed(c, t, strlen(t), &used),
                         GW_CHUNKED_DONE);
        v = gw_chunked_trailer(c, "b");
        assert_int_equal(v.len, 1);
        assert_memory_equal(v.p, "2", 1);
        v = gw_chunked_trailer(c, "C");
        assert_int_equal(v.len, 1);
        assert_memory_equal(v.p, "3", 1);
        gw_chunked_free(c);
    }
    /* Exactly 2^40 is a size; the data is then awaited. */
    assert_int_equal(decode_str(m, "10000000000\r\naaaa", &s), GW_CHUNKED_OK);
}

static void test_chunked_malformed(void **state)
{
    static const struct {
        const char *body;
        enum gw_chunked_status want;
    } rows[] = {
        {"zz\r\naaaaa\r\n0\r\n\r\n", GW_CHUNKED_MALFORMED}, /* not hex */
        {"\r\n", GW_CHUNKED_MALFORMED},                     /* no size */
        {";x=1\r\n", GW_CHUNKED_MALFORMED},                 /* no size */
        {"-5\r\n", GW_CHUNKED_MALFORMED},
        {"0x5\r\n", GW_CHUNKED_MALFORMED},
        {"5 \r\naaaaa\r\n0\r\n\r\n", GW_CHUNKED_MALFORMED}, /* junk */
        {"5;a\x01\r\n", GW_CHUNKED_MALFORMED},              /* CTL */
        {"5\r\naaaaaX\r\n0\r\n\r\n", GW_CHUNKED_MALFORMED}, /* overrun */
        {"5\r\naaaaa\n0\r\n\r\n", GW_CHUNKED_MALFORMED},    /* no CR */
        {"5\r\naaaaa\rX0\r\n\r\n", GW_CHUNKED_MALFORMED},   /* no LF */
        {"5\naaaaa\r\n0\r\n\r\n", GW_CHUNKED_MALFORMED},    /* bare LF */
        {"5\rX\naaaaa\r\n", GW_CHUNKED_MALFORMED},          /* bare CR */
        {"10000000001\r\n", GW_CHUNKED_MALFORMED},          /* > 2^40 */
        {"FFFFFFFFFFFFFFFFFFFFFFFF\r\n", GW_CHUNKED_MALFORMED},
        {"0\r\nno-colon\r\n\r\n", GW_CHUNKED_MALFORMED},
        {"0\r\n:value\r\n\r\n", GW_CHUNKED_MALFORMED},
        {"0\r\nbad name:v\r\n\r\n", GW_CHUNKED_MALFORMED},
        {"0\r\nname :v\r\n\r\n", GW_CHUNKED_MALFORMED},
        {"0\r\nna(me:v\r\n\r\n", GW_CHUNKED_MALFORMED},
        {"0\r\nname:v\x01\r\n\r\n", GW_CHUNKED_MALFORMED},
        {"0\r\na:1\r\nA:2\r\n\r\n", GW_CHUNKED_MALFORMED}, /* repeat */
        {"0\r\nx-amz-trailer-signature:" SIG_RANGE "\r\n\r\n",
         GW_CHUNKED_MALFORMED}, /* signed in unsigned */
        {"0\r\nname:v\n\r\n", GW_CHUNKED_MALFORMED},
        {"0\r\n\n", GW_CHUNKED_MALFORMED},
    };
    enum gw_payload_mode m = GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    struct gw_chunked *c;
    struct sink s;
    size_t i, k, used;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t n = strlen(rows[i].body);
        enum gw_chunked_status st;

        st = decode(m, NULL, rows[i].body, n, NULL, 0, &s);
        if (st != rows[i].want) fail_msg("row %zu: got %d", i, st);
        /* The same, one byte at a time: the error surfaces, never DONE. */
        memset(&s, 0, sizeof(s));
        c = gw_chunked_new(m, NULL, sink_fn, &s);
        for (k = 0, st = GW_CHUNKED_OK; k < n && st == GW_CHUNKED_OK; k++)
            st = gw_chunked_feed(c, rows[i].body + k, 1, &used);
        if (st != rows[i].want) fail_msg("row %zu bytewise: got %d", i, st);
        /* Dead after an error. */
        assert_int_equal(gw_chunked_feed(c, "0\r\n\r\n", 5, &used), st);
        assert_int_equal(used, 0);
        gw_chunked_free(c);
    }

    /* Data after the final chunk is left unconsumed. */
    memset(&s, 0, sizeof(s));
    c = gw_chunked_new(m, NULL, sink_fn, &s);
    assert_int_equal(gw_chunked_feed(c, "0\r\n\r\nXYZ", 8, &used),
                     GW_CHUNKED_DONE);
    assert_int_equal(used, 5);
    gw_chunked_free(c);

    /* The callback can stop decoding. */
    memset(&s, 0, sizeof(s));
    s.abort_after = 2;
    c = gw_chunked_new(m, NULL, sink_fn, &s);
    assert_int_equal(gw_chunked_feed(c, "5\r\naa", 5, &used), GW_CHUNKED_OK);
    assert_int_equal(gw_chunked_feed(c, "aaa\r\n0\r\n\r\n", 10, &used),
                     GW_CHUNKED_MALFORMED);
    gw_chunked_free(c);

    /* Constructor contract. */
    assert_null(gw_chunked_new(GW_PAYLOAD_SIGNED, NULL, sink_fn, &s));
    assert_null(gw_chunked_new(GW_PAYLOAD_UNSIGNED, NULL, sink_fn, &s));
    assert_null(gw_chunked_new(GW_PAYLOAD_STREAMING_SIGNED, NULL, sink_fn, &s));
    assert_null(gw_chunked_new(m, NULL, NULL, &s));
    gw_chunked_free(NULL);
}

static void test_chunked_limits(void **state)
{
    static char buf[GW_TRAILER_MAX * 2 + GW_CHUNK_HEADER_MAX * 2];
    enum gw_payload_mode m = GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    struct sink s;
    size_t n, i, line;
    int extra;

    /* A chunk-size line of exactly GW_CHUNK_HEADER_MAX bytes with its
     * CRLF, then one byte more. */
    for (extra = 0; extra <= 1; extra++) {
        line = GW_CHUNK_HEADER_MAX + (size_t)extra;
        memcpy(buf, "1;", 2);
        memset(buf + 2, 'x', line - 4);
        memcpy(buf + line - 2, "\r\na\r\n0\r\n\r\n", 10);
        n = line + 8;
        assert_int_equal(decode(m, NULL, buf, n, NULL, 0, &s),
                         extra ? GW_CHUNKED_TOO_LARGE : GW_CHUNKED_DONE);
    }
    /* A line that never ends is refused once past the bound, not held. */
    memset(buf, '0', GW_CHUNK_HEADER_MAX * 2);
    assert_int_equal(decode(m, NULL, buf, GW_CHUNK_HEADER_MAX * 2, NULL, 0, &s),
                     GW_CHUNKED_TOO_LARGE);

    /* Trailer lines totalling exactly GW_TRAILER_MAX bytes (CRLFs
     * included), then one byte more: in one line and in several. */
    for (extra = 0; extra <= 1; extra++) {
        line = GW_TRAILER_MAX + (size_t)extra;
        memcpy(buf, "0\r\nx-amz-meta-pad:", 18);
        memset(buf + 18, 'v', line - 15 - 2);
        n = 3 + line;
        memcpy(buf + n - 2, "\r\n\r\n", 4);
        n += 2;
        assert_int_equal(decode(m, NULL, buf, n, NULL, 0, &s),
                         extra ? GW_CHUNKED_TOO_LARGE : GW_CHUNKED_DONE);
    }
    for (extra = 0; extra <= 1; extra++) {
        /* 8 lines "pN:" + value + CRLF of GW_TRAILER_MAX / 8 bytes each */
        size_t each = GW_TRAILER_MAX / 8;
        n = (size_t)snprintf(buf, sizeof(buf), "0\r\n");
        for (i = 0; i < 8; i++) {
            size_t l = each + (i == 7 ? (size_t)extra : 0);
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "p%zu:", i);
            memset(buf + n, 'v', l - 3 - 2);
            n += l - 3 - 2;
            memcpy(buf + n, "\r\n", 2);
            n += 2;
        }
        memcpy(buf + n, "\r\n", 2);
        n += 2;
        assert_int_equal(decode(m, NULL, buf, n, NULL, 0, &s),
                         extra ? GW_CHUNKED_TOO_LARGE : GW_CHUNKED_DONE);
    }
    /* GW_TRAILER_MAX_COUNT trailers, then one more. */
    for (extra = 0; extra <= 1; extra++) {
        n = (size_t)snprintf(buf, sizeof(buf), "0\r\n");
        for (i = 0; i < (size_t)(GW_TRAILER_MAX_COUNT + extra); i++)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "t%zu:v\r\n", i);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
        assert_int_equal(decode(m, NULL, buf, n, NULL, 0, &s),
                         extra ? GW_CHUNKED_TOO_LARGE : GW_CHUNKED_DONE);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_get_object_range),
        cmocka_unit_test(test_aws_put_object),
        cmocka_unit_test(test_aws_get_bucket_lifecycle),
        cmocka_unit_test(test_aws_get_bucket_list_objects),
        cmocka_unit_test(test_botocore_key_encodings),
        cmocka_unit_test(test_dates_and_skew),
        cmocka_unit_test(test_malformed_authorization),
        cmocka_unit_test(test_content_sha256),
        cmocka_unit_test(test_aws_presigned),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_signing_key),
        cmocka_unit_test(test_chunked_aws_example),
        cmocka_unit_test(test_chunked_tampered),
        cmocka_unit_test(test_chunked_aws_trailer_example),
        cmocka_unit_test(test_unsigned_trailer),
        cmocka_unit_test(test_chunked_malformed),
        cmocka_unit_test(test_chunked_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
