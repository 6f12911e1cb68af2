/* gw_sigv4.h (gateway-internal): AWS Signature Version 4 for S3. Parses the
 * Authorization header or presigned query, rebuilds the canonical request,
 * verifies the signature, and decodes aws-chunked bodies with their chunk
 * signature chain and trailing checksum headers.
 *
 * Pure functions over borrowed slices: no I/O, no clock (now is passed in),
 * no allocation except where noted. Thread-safe.
 * Reference: AWS "Signature Version 4 signing process" and "Authenticating
 * requests: Using the Authorization header / query parameters / chunked
 * upload (AWS4-HMAC-SHA256-PAYLOAD, -TRAILER)". */
#ifndef GW_SIGV4_H
#define GW_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include "cf.h"

/* One request header as received (name in any case, value untrimmed). */
struct gw_hdr {
    struct cf_str name;
    struct cf_str value;
};

/* What verification needs from a request. Slices are borrowed. */
struct gw_sigv4_req {
    struct cf_str method;   /* "PUT" */
    struct cf_str path;     /* raw request-target path, percent-encoded as
                               received, without the query */
    struct cf_str query;    /* raw query string without '?', may be empty */
    const struct gw_hdr *hdrs;
    size_t nhdrs;
};

enum gw_auth_result {
    GW_AUTH_OK = 0,
    GW_AUTH_ANONYMOUS,        /* no Authorization header, no X-Amz-Algorithm */
    GW_AUTH_MALFORMED,        /* AuthorizationHeaderMalformed (header) or
                                 AuthorizationQueryParametersError (query) */
    GW_AUTH_UNSUPPORTED,      /* SigV2 or unknown algorithm: InvalidRequest
                                 / AccessDenied per AWS */
    GW_AUTH_BAD_ACCESS_KEY,   /* InvalidAccessKeyId */
    GW_AUTH_BAD_SIGNATURE,    /* SignatureDoesNotMatch */
    GW_AUTH_SKEWED,           /* RequestTimeTooSkewed (> 15 min) */
    GW_AUTH_EXPIRED,          /* presigned URL past X-Amz-Expires: 403
                                 AccessDenied "Request has expired" */
    GW_AUTH_BAD_DATE,         /* missing/unparseable x-amz-date / Date:
                                 403 AccessDenied */
    GW_AUTH_BAD_CONTENT_SHA,  /* x-amz-content-sha256 not a valid value:
                                 InvalidArgument */
    GW_AUTH_MISSING_CONTENT_SHA, /* header auth without x-amz-content-sha256:
                                 InvalidRequest */
};

/* How the body is protected. */
enum gw_payload_mode {
    GW_PAYLOAD_UNSIGNED = 0,       /* UNSIGNED-PAYLOAD, or presigned */
    GW_PAYLOAD_SIGNED,             /* hex SHA-256 given: verify on body end */
    GW_PAYLOAD_STREAMING_SIGNED,   /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    GW_PAYLOAD_STREAMING_SIGNED_TRAILER, /* ...-PAYLOAD-TRAILER */
    GW_PAYLOAD_STREAMING_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

#define GW_SIGV4_MAX_SKEW_S (15 * 60)
#define GW_SIGV4_MAX_EXPIRES_S (7 * 24 * 3600)
/* Limits on client-sized inputs of a signed request (more is
 * GW_AUTH_MALFORMED): query parameters, and the bytes of the SignedHeaders
 * / X-Amz-SignedHeaders list. */
#define GW_SIGV4_MAX_QUERY_PARAMS 256
#define GW_SIGV4_MAX_SIGNED_HEADERS_LEN 2048

/* Returns the secret for an access key (NUL-terminated, owned by the
 * caller of gw_sigv4_verify), or NULL if unknown. */
typedef const char *(*gw_secret_fn)(const char *access_key, void *arg);

/* Result of a successful verification: what the body decoder needs. */
struct gw_sigv4_auth {
    char access_key[129];
    char region[64];
    char date[9];             /* YYYYMMDD of the credential scope */
    char amz_date[17];        /* YYYYMMDDTHHMMSSZ */
    char scope[160];          /* date/region/s3/aws4_request */
    unsigned char signing_key[32];
    char seed_signature[65];  /* the request's signature, hex */
    enum gw_payload_mode payload;
    char payload_sha256[65];  /* hex, when payload == GW_PAYLOAD_SIGNED */
    int presigned;            /* 1 when authenticated by query parameters */
};

/* Verifies req at time now (unix seconds). On failure writes a short
 * human-readable reason into msg (for the S3 error Message; never contains
 * secrets). */
enum gw_auth_result gw_sigv4_verify(const struct gw_sigv4_req *req,
                                    int64_t now, gw_secret_fn secret,
                                    void *arg, struct gw_sigv4_auth *out,
                                    char *msg, size_t msglen);

/* Building blocks, exposed for tests and for coffer-bench's signer. */
/* S3 URI-encoding: every byte except A-Za-z0-9-._~ as %XX (upper hex);
 * '/' kept when keep_slash. Returns bytes written (excl. NUL) or -1 if
 * outcap is too small. */
long gw_sigv4_uri_encode(const char *in, size_t len, int keep_slash,
                         char *out, size_t outcap);
/* Derives the signing key HMAC chain ("AWS4"+secret, date, region, service,
 * "aws4_request"). */
void gw_sigv4_signing_key(const char *secret, const char *date,
                          const char *region, const char *service,
                          unsigned char key[32]);

/* ---- aws-chunked body decoding ---------------------------------------- */

#define GW_CHUNK_HEADER_MAX 4096  /* "hex;chunk-signature=...\r\n" bound */
#define GW_TRAILER_MAX 8192       /* all trailer lines together */
#define GW_TRAILER_MAX_COUNT 16   /* trailer headers, not counting
                                     x-amz-trailer-signature */

enum gw_chunked_status {
    GW_CHUNKED_OK = 0,        /* consumed everything given, want more */
    GW_CHUNKED_DONE,          /* final chunk and trailers parsed, verified */
    GW_CHUNKED_MALFORMED,     /* framing error: 400 IncompleteBody/
                                 InvalidRequest */
    GW_CHUNKED_BAD_SIGNATURE, /* a chunk or trailer signature mismatch:
                                 403 SignatureDoesNotMatch */
    GW_CHUNKED_TOO_LARGE,     /* a header or trailer exceeded its limit */
};

/* Called for each run of decoded payload bytes (borrowed for the call).
 * Return non-zero to abort decoding (gw_chunked_feed then returns
 * GW_CHUNKED_MALFORMED). */
typedef int (*gw_chunked_data_fn)(const char *p, size_t n, void *arg);

struct gw_chunked; /* opaque decoder state, one per request body */

/* mode is one of the STREAMING_* payload modes; auth supplies the signing
 * key, scope, amz_date and seed signature for signed modes (borrowed; must
 * outlive the decoder). */
struct gw_chunked *gw_chunked_new(enum gw_payload_mode mode,
                                  const struct gw_sigv4_auth *auth,
                                  gw_chunked_data_fn fn, void *arg);
void gw_chunked_free(struct gw_chunked *c); /* NULL is a no-op */
/* Feed raw body bytes; *consumed is how many were used (always n unless
 * DONE or an error). Data is delivered through fn before returning. */
enum gw_chunked_status gw_chunked_feed(struct gw_chunked *c, const char *p,
                                       size_t n, size_t *consumed);
/* After DONE: the trailer value for a lower-case name (e.g.
 * "x-amz-checksum-crc32"), or a zero-length slice if absent. */
struct cf_str gw_chunked_trailer(const struct gw_chunked *c, const char *name);
/* Decoded payload bytes delivered so far. */
uint64_t gw_chunked_decoded_len(const struct gw_chunked *c);

#endif /* GW_SIGV4_H */
