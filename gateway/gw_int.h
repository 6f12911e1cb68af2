/* gw_int.h (gateway-internal): connections, requests, responses, the job
 * hand-off between loops and workers, and the S3 handlers.
 *
 * Request phases (STYLE.md §3): head → SigV4 → route → prepare (a worker job:
 * bucket lookup, later objlock policy) → body → commit (worker job) →
 * respond → log. At most one job per request is in flight at any time, so
 * per-request state needs no lock: the queue mutexes order every hand-off.
 *
 * Threads: a gw_loop, its connections and their requests belong to that
 * loop's thread. While req->job_busy, the fields the job's work() uses belong
 * to the worker; the loop touches them again only in the job's done
 * callback, which runs on the loop. */
#ifndef GW_INT_H
#define GW_INT_H

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cf.h"
#include "gw.h"
#include "gw_sigv4.h"
#include "gw_sse.h"
#include "gw_xml.h"

#define GW_MAX_HEADERS 128          /* header lines per request */
#define GW_MAX_USER_META 2048       /* x-amz-meta-* names+values, bytes */
#define GW_PUT_BUFS 3               /* stripe blocks one upload may hold */
#define GW_FEED_MAX (256 * 1024)    /* bytes handed to http_parser at once */
#define GW_RESP_HDRS_MAX 64

struct gw_server;
struct gw_loop;
struct gw_conn;
struct gw_req;

/* ---- S3 errors (gw_s3err.c holds the table) ---- */
enum gw_err {
    GW_E_NONE = 0,
    GW_E_ACCESS_DENIED,
    GW_E_AUTH_HEADER_MALFORMED,
    GW_E_AUTH_QUERY_ERROR,
    GW_E_BAD_DIGEST,
    GW_E_BUCKET_EXISTS,
    GW_E_BUCKET_OWNED,
    GW_E_BUCKET_NOT_EMPTY,
    GW_E_ENTITY_TOO_LARGE,
    GW_E_INCOMPLETE_BODY,
    GW_E_INTERNAL,
    GW_E_INVALID_ACCESS_KEY,
    GW_E_INVALID_ARGUMENT,
    GW_E_INVALID_BUCKET_NAME,
    GW_E_INVALID_DIGEST,
    GW_E_INVALID_RANGE,
    GW_E_INVALID_REQUEST,
    GW_E_INVALID_URI,
    GW_E_KEY_TOO_LONG,
    GW_E_MALFORMED_XML,
    GW_E_MAX_MESSAGE_LENGTH,
    GW_E_METADATA_TOO_LARGE,
    GW_E_METHOD_NOT_ALLOWED,
    GW_E_MISSING_CONTENT_LENGTH,
    GW_E_NO_SUCH_BUCKET,
    GW_E_NO_SUCH_KEY,
    GW_E_NOT_FOUND,          /* the console port: not the admin API */
    GW_E_NOT_IMPLEMENTED,
    GW_E_PRECONDITION_FAILED,
    GW_E_REQUEST_TIME_SKEWED,
    GW_E_REQUEST_TIMEOUT,
    GW_E_SIGNATURE_MISMATCH,
    GW_E_SERVICE_UNAVAILABLE,
    GW_E_SLOW_DOWN,
    GW_E_CONTENT_SHA256_MISMATCH,
    GW_E_HEADER_TOO_LARGE,
    GW_E_INSUFFICIENT_STORAGE,
    GW_E_INVALID_LOCATION,
    GW_E_BAD_REQUEST,
    GW_E_NO_SUCH_VERSION,
    GW_E_NO_SUCH_UPLOAD,
    GW_E_INVALID_PART,
    GW_E_INVALID_PART_ORDER,
    GW_E_ENTITY_TOO_SMALL,
    GW_E_INVALID_PART_NUMBER,
    GW_E_INVALID_BUCKET_STATE,
    GW_E_INVALID_TAG,
    GW_E_NO_LOCK_CONFIG,
    GW_E_NO_OBJECT_LOCK,
    GW_E_INVALID_RETENTION_PERIOD,
    GW_E_NO_SUCH_CORS,
    GW_E_CORS_FORBIDDEN,
    GW_E_NO_SUCH_TAG_SET,
    GW_E_NO_SSE_CONFIG,
    GW_E_MALFORMED_POLICY,
    GW_E_NO_SUCH_BUCKET_POLICY,
    GW_E_NO_SUCH_PAB,
    GW_E_MALFORMED_ACL,
    GW_E_NO_SUCH_LIFECYCLE,
    GW_E__COUNT
};
int gw_err_status(enum gw_err e);
const char *gw_err_code(enum gw_err e);
const char *gw_err_default_msg(enum gw_err e);
/* Maps a module status to the S3 error a client should see. */
enum gw_err gw_err_from_meta(enum meta_status st);
enum gw_err gw_err_from_ec(enum ec_status st);

/* ---- responses ---- */
struct gw_resp {
    int status;              /* HTTP status; 0 until decided */
    enum gw_err err;         /* error to render instead of body, or NONE */
    char err_msg[256];       /* Message override, "" for the default */
    struct gw_xbuf hdrs;     /* extra "Name: value\r\n" lines */
    struct gw_xbuf body;     /* small bodies (XML) */
    uint64_t stream_len;     /* GET: Content-Length of a streamed body */
    int streamed;            /* 1: body comes from read jobs */
    int no_body;             /* HEAD / 304 / 204: never send a body */
    const char *content_type;/* of body; NULL: application/xml */
};
void gw_resp_header(struct gw_resp *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gw_resp_error(struct gw_resp *r, enum gw_err e, const char *msg);
void gw_resp_cleanup(struct gw_resp *r);

/* ---- jobs ---- */
typedef void (*gw_job_fn)(struct gw_req *req);
struct gw_job {
    struct cf_job base;      /* must be first */
    struct gw_req *req;      /* the request the job belongs to */
    gw_job_fn work;          /* runs on a worker */
    gw_job_fn done;          /* runs on req's loop afterwards */
    struct gw_job *next_done;/* link on the loop's done queue */
};

/* ---- operations ---- */
enum gw_op {
    GW_OP_NONE = 0,
    GW_OP_LIST_BUCKETS,
    GW_OP_CREATE_BUCKET,
    GW_OP_HEAD_BUCKET,
    GW_OP_DELETE_BUCKET,
    GW_OP_GET_BUCKET_LOCATION,
    GW_OP_LIST_OBJECTS,
    GW_OP_LIST_OBJECTS_V2,
    GW_OP_DELETE_OBJECTS,
    GW_OP_PUT_OBJECT,
    GW_OP_GET_OBJECT,
    GW_OP_HEAD_OBJECT,
    GW_OP_DELETE_OBJECT,
    GW_OP_CREATE_MPU,
    GW_OP_UPLOAD_PART,
    GW_OP_COMPLETE_MPU,
    GW_OP_ABORT_MPU,
    GW_OP_LIST_PARTS,
    GW_OP_LIST_UPLOADS,
    GW_OP_PUT_VERSIONING,
    GW_OP_GET_VERSIONING,
    GW_OP_LIST_VERSIONS,
    GW_OP_COPY_OBJECT,
    GW_OP_PUT_TAGGING,
    GW_OP_GET_TAGGING,
    GW_OP_DELETE_TAGGING,
    GW_OP_PUT_LOCK_CONFIG,
    GW_OP_GET_LOCK_CONFIG,
    GW_OP_PUT_RETENTION,
    GW_OP_GET_RETENTION,
    GW_OP_PUT_LEGAL_HOLD,
    GW_OP_GET_LEGAL_HOLD,
    GW_OP_PUT_CORS,
    GW_OP_GET_CORS,
    GW_OP_DELETE_CORS,
    GW_OP_CORS_PREFLIGHT,         /* OPTIONS: anonymous */
    GW_OP_PUT_BUCKET_TAGGING,
    GW_OP_GET_BUCKET_TAGGING,
    GW_OP_DELETE_BUCKET_TAGGING,
    GW_OP_UPLOAD_PART_COPY,
    GW_OP_GET_ATTRIBUTES,
    GW_OP_PUT_BUCKET_ENCRYPTION,
    GW_OP_GET_BUCKET_ENCRYPTION,
    GW_OP_DELETE_BUCKET_ENCRYPTION,
    GW_OP_PUT_BUCKET_POLICY,
    GW_OP_GET_BUCKET_POLICY,
    GW_OP_DELETE_BUCKET_POLICY,
    GW_OP_PUT_BUCKET_ACL,         /* canned ACLs (gw_acl.c) */
    GW_OP_GET_BUCKET_ACL,
    GW_OP_PUT_OBJECT_ACL,
    GW_OP_GET_OBJECT_ACL,
    GW_OP_PUT_PAB,                /* Put/Get/DeletePublicAccessBlock */
    GW_OP_GET_PAB,
    GW_OP_DELETE_PAB,
    GW_OP_ADMIN,                  /* /coffer/admin/v1/... (gw_admin.c) */
    GW_OP_PUT_LIFECYCLE,
    GW_OP_GET_LIFECYCLE,
    GW_OP_DELETE_LIFECYCLE,
    GW_OP_NOT_IMPLEMENTED,
};

/* How the request body is consumed. */
enum gw_body_kind {
    GW_BODY_DISCARD = 0, /* ignored (must be small) */
    GW_BODY_XML,         /* collected up to max_xml_bytes, then one job */
    GW_BODY_STREAM,      /* PutObject: stripes through worker jobs */
};

/* A decoded query parameter. */
struct gw_qparam {
    char *name;              /* owned */
    char *value;             /* owned, "" when absent */
    size_t value_len;
    int has_value;
};

/* An S3 flexible checksum being computed (gw_csum.c). */
enum gw_csum_algo { GW_CSUM_NONE = 0, GW_CSUM_CRC32, GW_CSUM_CRC32C,
                    GW_CSUM_SHA1, GW_CSUM_SHA256, GW_CSUM_CRC64NVME };
#define GW_CSUM_B64_MAX 64        /* base64 value + NUL, SHA-256 needs 45 */
struct gw_csum {
    enum gw_csum_algo algo;
    uint64_t crc;                 /* CRC32 / CRC32C / CRC64NVME running value */
    EVP_MD_CTX *md;               /* SHA1 / SHA256, owned */
};
/* Names of an algorithm: "x-amz-checksum-crc32", "CRC32", "ChecksumCRC32";
 * "" for GW_CSUM_NONE. Raw digest length in bytes (0 for NONE). */
const char *gw_csum_header(enum gw_csum_algo a);
const char *gw_csum_name(enum gw_csum_algo a);
const char *gw_csum_xml(enum gw_csum_algo a);
size_t gw_csum_raw_len(enum gw_csum_algo a);
int gw_csum_is_crc(enum gw_csum_algo a);
/* "CRC32" or "x-amz-checksum-crc32" (any case) → algo, else NONE. */
enum gw_csum_algo gw_csum_lookup(const char *s, size_t n);
/* init: 0 or -1 (ENOMEM); gw_csum_cleanup is needed either way. */
int gw_csum_init(struct gw_csum *c, enum gw_csum_algo algo);
void gw_csum_update(struct gw_csum *c, const void *p, size_t n);
/* Final value, raw (returns its length) or base64 as S3 sends it. */
size_t gw_csum_final_raw(struct gw_csum *c, unsigned char raw[64]);
void gw_csum_final(struct gw_csum *c, char out[GW_CSUM_B64_MAX]);
void gw_csum_cleanup(struct gw_csum *c);
/* base64 value of algorithm a → raw; -1 when it is not a valid one. */
int gw_csum_decode(enum gw_csum_algo a, const char *b64, size_t n,
                   unsigned char raw[64]);
/* The checksum of a multipart object from its parts' base64 checksums:
 * full_object → the parts' CRCs combined (CRCs only); otherwise the
 * COMPOSITE "base64(H(raw1||...||rawN))-N". 0, or -1 on a bad part value
 * or an algorithm the type does not allow. */
int gw_csum_multipart(enum gw_csum_algo a, int full_object,
                      const char *const *part_b64, const uint64_t *part_size,
                      size_t nparts, char out[GW_CSUM_B64_MAX + 8]);

/* PutObject state (gw_object.c). */
struct gw_put {
    struct ec_writer *writer;     /* worker-owned while a job runs */
    EVP_MD_CTX *md5;              /* ETag */
    EVP_MD_CTX *sha256;           /* signed payload or lock bucket, or NULL */
    struct gw_csum cs;            /* the requested S3 checksum */
    enum gw_csum_algo mpu_csum;   /* UploadPart: the upload's algorithm */
    char cs_expect[GW_CSUM_B64_MAX]; /* base64 from the header, or "" */
    int cs_trailer;               /* expected value comes as a trailer */
    char *ready[GW_PUT_BUFS + 1]; /* full blocks waiting for a job, FIFO */
    size_t ready_len[GW_PUT_BUFS + 1];
    int nready;
    char *cur;                    /* block being filled, or NULL */
    size_t cur_len;
    int held;                     /* blocks held: ready + cur + in job */
    char *job_buf;                /* block the running job consumes */
    size_t job_len;
    uint64_t received;            /* decoded payload bytes so far */
    uint64_t expected;            /* Content-Length or decoded length */
    int body_done;                /* the whole body has been received */
    int finishing;                /* the finish job was posted */
    struct gw_chunked *chunked;   /* aws-chunked decoder, or NULL */
    struct meta_version ver;      /* the record to commit */
    char content_md5[16];         /* Content-MD5 when given */
    int has_content_md5;
    enum gw_err fail;             /* first error seen by a job */
    char fail_msg[200];
    /* server-side encryption (gw_sse.c): set by the prepare job */
    int sse;                      /* 1: blocks are sealed before writing */
    unsigned char sse_bkey[32];   /* block key of this data id */
    unsigned char sse_salt[4];
    uint64_t sse_block;           /* index of the next block */
};

/* GetObject state (gw_object.c). */
struct gw_get {
    struct ec_reader *reader;     /* worker-owned while a job runs */
    struct meta_version ver;
    uint64_t off, end;            /* next byte to read, one past the last */
    size_t part;                  /* multipart: part the reader is open on */
    uint64_t part_start;          /* object offset where that part starts */
    char *buf;                    /* block read by the running job */
    size_t buf_len;
    size_t buf_charge;            /* its share of srv->ra_bytes */
    int eof;                      /* all bytes handed to the socket */
    int degraded;                 /* a stripe was rebuilt from parity */
    int sse;                      /* 1: stored encrypted (ver.sse) */
    unsigned char sse_dek[32];    /* the version's data key */
};

enum gw_req_state {
    GW_RS_HEAD = 0,  /* reading the request head */
    GW_RS_PREPARE,   /* prepare job running; input paused */
    GW_RS_BODY,      /* consuming the body */
    GW_RS_COMMIT,    /* body done, commit job(s) running */
    GW_RS_RESPOND,   /* response being written */
    GW_RS_DONE,
};

struct gw_req {
    struct gw_conn *conn;         /* owner; NULL once the client went away */
    struct gw_server *srv;
    char id[17];                  /* x-amz-request-id */
    int64_t start_ms;             /* monotonic, for the access log */
    enum gw_req_state state;
    /* head, copied out of the socket into one bounded buffer */
    struct gw_xbuf head;          /* url, then header names/values */
    size_t url_off, url_len;
    struct { size_t noff, nlen, voff, vlen; } hoff[GW_MAX_HEADERS];
    int nhdrs;
    int last_was_value;           /* http_parser header state */
    int too_many_headers;
    int head_overflow;            /* head exceeded max_header_bytes */
    struct gw_hdr hdrs[GW_MAX_HEADERS]; /* slices into head, after parse */
    enum http_method method;
    struct cf_str path, query;    /* raw, into head */
    struct gw_qparam *qp;         /* decoded query parameters */
    int nqp;
    /* routing */
    char bucket[64];              /* "" for service-level requests */
    char *key;                    /* decoded key, NUL-terminated, or NULL */
    size_t key_len;
    enum gw_op op;
    struct gw_sigv4_auth auth;
    const char *principal;        /* user.name once authenticated, or NULL
                                     (anonymous) */
    int is_admin;
    struct iam_user user;         /* the signer, secret included (wiped in
                                     req_free) */
    /* the bucket policy, loaded by the first access check (gw_policy.c) */
    struct iam_policy *policy;    /* owned; NULL: none */
    char policy_bucket[64];       /* the bucket it belongs to */
    int policy_loaded;
    int policy_bad;               /* unreadable: owner and admins only */
    int pab[4];                   /* the bucket's public access block, as
                                     enum gw_pab indexes; loaded with it */
    int bucket_public;            /* its canned ACL is public-read */
    int acl_pending;              /* GET/HEAD allowed only if the version's
                                     ACL is public-read (gw_acl.c) */
    int versioning;               /* the bucket's, set by gw_bucket_check */
    int lock_enabled;             /* the bucket's, set by gw_bucket_check */
    enum gw_err lock_denied;      /* why gw_lock_check_delete refused */
    int cors_checked;             /* gw_cors_actual ran (or a preflight) */
    int lock_bypassed;            /* a protected version was removed */
    /* body */
    enum gw_body_kind body_kind;
    uint64_t content_length;      /* or UINT64_MAX when chunked/absent */
    int expect_continue;
    struct gw_xbuf xml;           /* GW_BODY_XML */
    uint64_t discarded;
    int started;                  /* req_start ran */
    int message_complete;         /* http_parser saw the end of the body */
    int body_error;               /* stop consuming: answer and close */
    /* one job at a time */
    struct gw_job job;
    int job_busy;
    /* handler state */
    struct gw_put put;
    struct gw_get get;
    struct gw_resp resp;
    uint64_t bytes_out;           /* body bytes sent, for the access log */
    int close_after;              /* Connection: close after this response */
};

struct gw_conn {
    struct gw_loop *loop;
    struct bufferevent *bev;      /* NULL after close */
    http_parser parser;
    uint64_t id;                  /* connection number, for logs */
    struct gw_req *req;           /* current request or NULL */
    struct event *timer;          /* header deadline / retry timer */
    int paused;                   /* parser paused at a request boundary */
    int closing;                  /* close once output drains */
    int lingering;                /* FIN sent, discarding input */
    int refs;                     /* 1 for the socket + 1 per busy job */
    int in_read;                  /* guard against re-entrant reads */
    int tls;                      /* bev is an OpenSSL bufferevent */
    int handshaken;               /* tls: the handshake has completed */
    int admin;                    /* accepted on the admin socket */
    int console;                  /* accepted on the console port */
    char peer[INET6_ADDRSTRLEN];  /* the client's address, formatted at
                                     accept on the loop ("?" if unknown):
                                     workers read this, never the socket */
    unsigned char addr[16];       /* peer address key (gw_addr_acquire) */
    int addr_held;                /* 1: counted in srv's address table */
    struct event *rate_timer;     /* body_min_rate check, or NULL */
    uint64_t rate_bytes;          /* body bytes parsed in this window */
    int rate_held;                /* the server held input this window */
    size_t rate_inlen;            /* unparsed input at the window's start */
    size_t lowmark;               /* read low watermark set (read_lowmark) */
};

/* Open connections of one peer address (or IPv6 /64), in the server's
 * table (guarded by gw_server.addr_lock). */
struct gw_addr_count {
    unsigned char a[16];
    int n;
    struct gw_addr_count *next;
};
#define GW_ADDR_BUCKETS 1024

struct gw_loop {
    struct gw_server *srv;
    int index;
    pthread_t thread;
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *wake;           /* activated by workers: done queue */
    pthread_mutex_t done_lock;    /* guards done_head/tail */
    struct gw_job *done_head, *done_tail;
    struct event *stop_ev;
};

struct gw_server {
    const struct conf *conf;
    struct meta_db *db;
    struct ec_set *set;
    struct iam *iam;              /* users and keys (borrowed) */
    atomic_ulong auth_failures;   /* failed authentications since start */
    struct gw_loop *loops;
    int nloops;
    struct cf_workq *workq;
    struct cf_pool *pool;         /* stripe-size blocks */
    atomic_size_t ra_bytes;       /* GET read-ahead held by all loops:
                                     blocks taken for reads and not yet
                                     sent, in ra_charge() units (gw_object.c); kept
                                     <= conf->read_ahead_total except
                                     that one block may always be held */
    atomic_int nconns;
    atomic_int nrefusals;         /* refused connections being answered */
    atomic_ulong next_conn_id;
    atomic_int stopping;
    int stop_pipe[2];
    gw_degraded_fn on_degraded;   /* may be NULL */
    void *on_degraded_arg;
    struct gw_tls *tls;           /* NULL: plain HTTP */
    unsigned char sse_master[32]; /* wraps SSE-S3 data keys (gw_sse.c) */
    struct evconnlistener *admin_listener; /* <data>/admin.sock, loop 0 */
    struct evconnlistener *console_listener; /* console_listen, loop 0 */
    char admin_path[4096];        /* its path, "" when not listening */
    uint64_t sse_master_id;       /* its id, kept in each SSE-S3 record */
    pthread_mutex_t addr_lock;    /* guards addr_tab */
    struct gw_addr_count *addr_tab[GW_ADDR_BUCKETS]; /* per-address counts */
    atomic_llong addr_log_ms;     /* last "per-address limit" log line */
    pthread_mutex_t refusal_lock; /* guards the three below (gw_admin.c) */
    long long refusal_sec;        /* the second refusal_n counts in */
    unsigned refusal_n;           /* unauthenticated admin calls audited */
    unsigned long refusal_unaudited; /* left out since the last entry */
};

/* gw_server.c */
/* The http_parser callbacks that copy a request head into p->data's
 * (a struct gw_conn) current request and pause at its end; exposed so the
 * fuzz target (tests/fuzz/fuzz_head.c) drives them without a socket. */
const http_parser_settings *gw_parser_settings(void);
void gw_req_post(struct gw_req *req, gw_job_fn work, gw_job_fn done);
void gw_done_respond(struct gw_req *req);      /* done: just respond */
/* gw_policy.c: authorization (see the file comment). 1 allowed, 0 not.
 * gw_may_access: the request's own operation on its bucket and key. */
int gw_may_access(struct gw_req *req, const struct meta_bucket *b);
int gw_authorize(struct gw_req *req, const struct meta_bucket *b,
                 const char *action, const char *key);
/* DeleteObjects, one key (NUL-terminated). */
int gw_may_delete_key(struct gw_req *req, const struct meta_bucket *b,
                      const char *key, int versioned);
/* 1 if the principal owns the bucket (ListBuckets shows only those). */
int gw_owns(const struct gw_req *req, const struct meta_bucket *b);
/* Holds s3:BypassGovernanceRetention on key of the request's bucket:
 * admins unless the policy denies it, others when it allows it. Uses the
 * policy already loaded; never calls meta (runs under key locks). */
int gw_policy_bypass(struct gw_req *req, const char *key);
/* The client's address as text, "?" when unknown. */
/* The client's address as text (IPv4 dotted, IPv6 without brackets, "?"
 * when unknown); safe on any thread (it copies gw_conn.peer). */
void gw_peer_addr(const struct gw_req *req, char *out, size_t cap);
/* gw_admin.c: the admin API (JSON), on the admin socket and under
 * /coffer/admin/v1/ on the S3 port (admin users only). */
#define GW_ADMIN_SOCK "admin.sock"
#define GW_ADMIN_BUCKET "coffer"   /* path-style: /coffer/admin/v1/... */
#define GW_ADMIN_PREFIX "admin/v1"
void gw_h_admin(struct gw_req *req);           /* after the body */
/* An admin call refused before anyone was authenticated (anonymous, or a
 * signature that failed), its error already in req->resp: audited on a
 * worker (at most GW_ADMIN_REFUSALS_AUDITED_PER_S a second; the next
 * entry counts the ones left out), then done(req) answers it. */
#define GW_ADMIN_REFUSALS_AUDITED_PER_S 20
void gw_admin_refuse(struct gw_req *req, gw_job_fn done);
enum gw_pab { GW_PAB_BLOCK_ACLS, GW_PAB_IGNORE_ACLS, GW_PAB_BLOCK_POLICY,
              GW_PAB_RESTRICT };
/* The bucket's public access block; *configured 0 after a delete. 0 or
 * -1. Worker. */
int gw_pab_flags(struct gw_req *req, const char *bucket, int flags[4],
                 int *configured);
/* gw_acl.c: canned ACLs (see the file comment). */
#define GW_ACL_HEADER "x-coffer-acl" /* stored, never sent as a header */
/* x-amz-acl of the request: 1 given (*public_read set), 0 absent, -1
 * with the error set (501 for other canned ACLs and x-amz-grant-*). */
int gw_acl_requested(struct gw_req *req, int *public_read);
/* CreateBucket's x-amz-acl: 0, or -1 with the error set. Worker. */
int gw_acl_create_bucket(struct gw_req *req);
/* The ACL of a new version (PutObject, CreateMultipartUpload,
 * CopyObject) into v's stored headers, replacing any copied one; 0 or -1
 * with the error set. Worker. */
int gw_acl_for_write(struct gw_req *req, struct meta_version *v);
int gw_acl_public(const struct meta_version *v);
void gw_h_put_bucket_acl(struct gw_req *req);     /* after the body */
void gw_h_get_bucket_acl(struct gw_req *req);
void gw_h_put_object_acl(struct gw_req *req);     /* after the body */
void gw_h_get_object_acl(struct gw_req *req);
void gw_h_put_pab(struct gw_req *req);            /* after the body */
void gw_h_get_pab(struct gw_req *req);
void gw_h_delete_pab(struct gw_req *req);
void gw_h_put_bucket_policy(struct gw_req *req);  /* after the body */
void gw_h_get_bucket_policy(struct gw_req *req);
void gw_h_delete_bucket_policy(struct gw_req *req);
void gw_owner_xml(const struct gw_req *req, struct gw_xbuf *x,
                  const char *owner);
void gw_req_respond(struct gw_req *req);       /* send resp head (+body) */
void gw_req_stream_end(struct gw_req *req);    /* GET: all data queued */
void gw_req_body_resume(struct gw_req *req);   /* PUT: room for more input */
void gw_req_continue_body(struct gw_req *req); /* after prepare: read body */
struct bufferevent *gw_req_bev(struct gw_req *req);
void gw_conn_timer(struct gw_conn *conn,
                   void (*cb)(evutil_socket_t, short, void *), long ms);
const char *gw_req_header(const struct gw_req *req, const char *name,
                          size_t *len);
const struct gw_qparam *gw_req_qparam(const struct gw_req *req,
                                      const char *name);
void gw_log_req(const struct gw_req *req, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* gw_tls.c: the shared SSL_CTX (see the file comment). Threads: any. */
#define GW_TLS_FP_LEN 96 /* "AB:CD:...:EF" of a SHA-256, with its NUL */
struct gw_tls;
/* Loads conf's certificate and key (with no files: generates or reuses the
 * self-signed pair in data_dir/tls/) and starts the reloader thread.
 * Errors are logged; *out is NULL then. */
enum gw_status gw_tls_new(const struct conf *conf, struct gw_tls **out);
/* An SSL for a new connection, from the current ctx; NULL on failure. */
SSL *gw_tls_ssl_new(struct gw_tls *t);
/* Asks the reloader to read the files again. Async-signal-safe. */
void gw_tls_reload(struct gw_tls *t);
/* The certificate path (borrowed, lives as long as t), whether it is the
 * self-signed one, and the current certificate's fingerprint. */
void gw_tls_info(struct gw_tls *t, const char **cert, int *self_signed,
                 char fp[GW_TLS_FP_LEN]);
/* Stops the reloader and drops the server's reference to the ctx; open
 * connections keep theirs. NULL is a no-op. */
void gw_tls_free(struct gw_tls *t);

/* gw_route.c */
int gw_route(struct gw_req *req);              /* 0 or sets resp error */
int gw_bucket_name_valid(const char *name, size_t len);
int gw_url_decode(const char *in, size_t len, char **out, size_t *outlen,
                  int plus_is_space);

/* handlers: gw_bucket.c, gw_list.c, gw_object.c. Each start function runs
 * on the loop after authentication; it posts jobs or responds. */
void gw_h_list_buckets(struct gw_req *req);
void gw_h_create_bucket(struct gw_req *req);   /* after XML body */
void gw_h_head_bucket(struct gw_req *req);
void gw_h_delete_bucket(struct gw_req *req);
void gw_h_get_bucket_location(struct gw_req *req);
void gw_h_list_objects(struct gw_req *req);
void gw_h_delete_objects(struct gw_req *req);  /* after XML body */
void gw_h_put_prepare(struct gw_req *req);     /* before the body */
int gw_put_body(struct gw_req *req, const char *p, size_t n);
void gw_put_body_end(struct gw_req *req);
void gw_put_kick(struct gw_req *req);
void gw_h_get_object(struct gw_req *req);      /* GET and HEAD */
void gw_get_next(struct gw_req *req);          /* post the next read */
void gw_h_delete_object(struct gw_req *req);
void gw_req_handler_cleanup(struct gw_req *req);
/* gw_tagging.c */
#define GW_TAGS_HEADER "x-coffer-tags" /* stored, never sent as a header */
void gw_h_put_tagging(struct gw_req *req);      /* after XML body */
void gw_h_get_tagging(struct gw_req *req);
void gw_h_delete_tagging(struct gw_req *req);
/* x-amz-tagging on a write → stored tags of v; -1 with an error set. */
int gw_tagging_for_put(struct gw_req *req, struct meta_version *v);
size_t gw_tag_count(const struct meta_version *v);
/* x-amz-tagging-directive of a CopyObject: COPY (default) gives dst the
 * tags of src, REPLACE those of x-amz-tagging (or none); anything else is
 * InvalidArgument. -1 with the error set. */
int gw_tagging_for_copy(struct gw_req *req, const struct meta_version *src,
                        struct meta_version *dst);
void gw_h_put_bucket_tagging(struct gw_req *req); /* after XML body */
void gw_h_get_bucket_tagging(struct gw_req *req);
void gw_h_delete_bucket_tagging(struct gw_req *req);
/* gw_attrs.c */
void gw_h_get_attributes(struct gw_req *req);
/* gw_copy.c */
void gw_h_copy_object(struct gw_req *req);
void gw_h_upload_part_copy(struct gw_req *req);
/* gw_object.c helpers shared with gw_copy.c */
int gw_etag_matches(const char *hdr, size_t n, const char *etag);
/* gw_multipart.c */
void gw_h_create_mpu(struct gw_req *req);
void gw_h_complete_mpu(struct gw_req *req);    /* after XML body */
void gw_h_abort_mpu(struct gw_req *req);
void gw_h_list_parts(struct gw_req *req);
void gw_h_list_uploads(struct gw_req *req);
/* Removes the stored data of a version (every part of a multipart one). */
void gw_remove_data(struct gw_server *srv, const struct meta_version *v);
/* A version's tags, decoded into malloc'd strings (free each key and
 * value); 0, or -1 when they do not decode or exceed max. */
struct ol_lc_tag;
int gw_version_tags(const struct meta_version *v, struct ol_lc_tag *out,
                    size_t max, size_t *n);
/* Collects the headers a PUT or CreateMultipartUpload stores with the
 * object into v (content-type etc., x-amz-meta-*); 0 or sets an error. */
int gw_collect_stored_headers(struct gw_req *req, struct meta_version *v);
/* Appends one stored header (copies name and vlen bytes of val); 0 or -1
 * (ENOMEM, v unchanged). */
int gw_add_stored_header(struct meta_version *v, const char *name,
                         const char *val, size_t vlen);
/* The checksum algorithm a multipart upload was created with (stored in
 * its headers), GW_CSUM_NONE when none; *full_object is set for
 * FULL_OBJECT uploads. */
enum gw_csum_algo gw_upload_checksum(const struct meta_kv *h, size_t n,
                                     int *full_object);
#define GW_MPU_CSUM_ALGO "x-coffer-mpu-checksum-algorithm" /* upload only */
#define GW_MPU_CSUM_TYPE "x-coffer-mpu-checksum-type"      /* upload only */
int gw_bucket_check(struct gw_req *req, struct meta_bucket *b);
/* A new version's id: random while versioning is enabled, else "null". */
void gw_new_version_id(const struct gw_req *req, char *out, size_t cap);
/* Stores v's catalog record in the headers of w's shards, so `coffer meta
 * rebuild` can restore the version (with its lock state) without the
 * catalog. Call before ec_writer_finish(); a record that does not fit is
 * logged and left out. */
void gw_put_record(const struct gw_req *req, struct ec_writer *w,
                   const struct meta_version *v);
/* gw_lock.c: Object Lock */
void gw_h_put_lock_config(struct gw_req *req);  /* after XML body */
void gw_h_get_lock_config(struct gw_req *req);
void gw_h_put_retention(struct gw_req *req);    /* after XML body */
void gw_h_get_retention(struct gw_req *req);
void gw_h_put_legal_hold(struct gw_req *req);   /* after XML body */
void gw_h_get_legal_hold(struct gw_req *req);
/* Lock parameters of a write: explicit x-amz-object-lock-* headers, else
 * the bucket's default retention, stamped into v. On error sets the
 * response error and returns -1. *applies is set when v ends up locked
 * (the caller then requires Content-MD5 or a checksum). Worker. */
int gw_lock_for_write(struct gw_req *req, const struct meta_bucket *b,
                      struct meta_version *v, int *applies);
/* gw_lock_for_write in two steps. gw_lock_explicit: the
 * x-amz-object-lock-* headers only (1 if any was given, 0 if none, -1
 * with the error set). gw_lock_default: the bucket's default retention
 * when v has no mode, stamped now; *applies as above. */
int gw_lock_explicit(struct gw_req *req, const struct meta_bucket *b,
                     struct meta_version *v);
void gw_lock_default(const struct meta_bucket *b, struct meta_version *v,
                     int *applies);
/* The explicit lock parameters of a multipart upload ride in its stored
 * headers as this internal entry until completion. */
#define GW_UPLOAD_LOCK_HEADER "x-coffer-lock"
/* Appends lk's lock fields to hv's headers as that entry; 0 or -1. */
int gw_lock_to_upload(const struct meta_version *lk, struct meta_version *hv);
/* 1 if an upload's headers carry lock parameters. */
int gw_upload_locked(const struct meta_kv *h, size_t n);
/* Moves the entry (if any) from v's headers into v's lock fields; 1 if
 * there was one. Removing it never reallocates v->headers. */
int gw_lock_from_upload(struct meta_version *v);
/* Response headers for a version's lock state. */
void gw_lock_headers(struct gw_req *req, const struct meta_version *v);
/* x-amz-bypass-governance-retention: true was sent. */
int gw_bypass_header(const struct gw_req *req);
/* meta_check_fn refusing the removal of a protected version; arg is the
 * request. */
int gw_lock_check_delete(struct meta_version *v, void *arg);
const char *gw_lock_md5_message(void);
/* The audit export's bucket (audit.export_bucket) is written only by
 * coffer: a request that would add, hide or change anything in it (PUT,
 * copy into it, multipart, delete, delete marker, tagging, versioning or
 * lock configuration, DeleteBucket) gets AccessDenied; reads, retention
 * extension and legal holds (which only strengthen) pass. Returns 0 to go
 * on, -1 with the error set. */
int gw_lock_system_bucket(struct gw_req *req);
/* The same for work done by the server itself (by: "lifecycle", ...). */
char *gw_audit_event_for(const char *bucket, const char *by,
                         const char *request, const char *what,
                         const char *key, size_t key_len,
                         const struct meta_version *v, const char *detail);
char *gw_audit_event(const struct gw_req *req, const char *what,
                     const char *key, size_t key_len,
                     const struct meta_version *v, const char *detail);
/* gw_sse.c: server-side encryption (SSE-S3). See gw_sse.h for the
 * cryptography and docs/architecture.md for the layout. */
/* Refuses what is not implemented (aws:kms) with 501, malformed values
 * (SSE-C headers included) and encryption headers on operations that do
 * not take them with 400; 0 to go on, -1 with the error set. Loop. */
int gw_sse_check_headers(struct gw_req *req);
/* The encryption of a new version or upload: the request's SSE-C key or
 * x-amz-server-side-encryption, else the bucket's default. With
 * encryption, fills v->sse (a new wrapped data key and salt) and dek.
 * Returns 1 encrypted, 0 not, -1 with the error set. Worker. */
int gw_sse_for_write(struct gw_req *req, struct meta_version *v,
                     unsigned char dek[32]);
/* The data key of a version (or upload) being read or added to, with the
 * request's SSE-C headers (copy_source: the x-amz-copy-source-* ones):
 * 1 (dek filled), 0 not encrypted, -1 with the error set (SSE-C key
 * missing: 400 InvalidRequest; wrong: 403 AccessDenied; SSE-C headers for
 * an object that is not SSE-C: 400; a key that does not unwrap: 500). */
int gw_sse_data_key(struct gw_req *req, const struct meta_sse *s,
                    int copy_source, unsigned char dek[32]);
/* Prepares pu to seal the blocks of pu->ver.data_id under dek. 0 or -1. */
int gw_sse_put_start(struct gw_req *req, const unsigned char dek[32],
                     const unsigned char *salt);
/* Seals one block in place (len plaintext bytes; the buffer holds 16
 * more); 0 or -1. Worker. */
int gw_sse_put_block(struct gw_req *req, unsigned char *buf, size_t len);
/* x-amz-server-side-encryption on a response for an encrypted version. */
void gw_sse_resp_headers(struct gw_req *req, const struct meta_sse *s);
int gw_sse_to_upload(const struct meta_sse *s, struct meta_version *hv);
/* Reads the entry from an upload's headers into *s; 1 found, 0 none. */
int gw_sse_from_headers(const struct meta_kv *h, size_t n,
                        struct meta_sse *s);
/* Plain bytes per PUT block: the pool's block size, less the tag when the
 * upload is encrypted. */
size_t gw_put_block_cap(const struct gw_req *req);
void gw_h_put_bucket_encryption(struct gw_req *req); /* after XML body */
void gw_h_get_bucket_encryption(struct gw_req *req);
void gw_h_delete_bucket_encryption(struct gw_req *req);
/* gw_object.c: If-None-Match: * / If-Match of PutObject and
 * CompleteMultipartUpload (AWS conditional writes), judged under the key
 * lock against the current version (NULL: none, or a delete marker): a
 * meta_check_fn; err receives PreconditionFailed or NoSuchKey. */
struct gw_write_cond {
    struct gw_req *req;
    enum gw_err err;
};
int gw_write_cond_check(struct meta_version *cur, void *arg);

/* gw_bucket.c: GET of a bucket document kept as it is served (the body,
 * or error `missing` when the bucket has none) and its DELETE (204). Run
 * on a worker. */
void gw_bucket_doc_get(struct gw_req *req, enum meta_battr id,
                       enum gw_err missing);
void gw_bucket_doc_delete(struct gw_req *req, enum meta_battr id);

/* gw_lifecycle.c: lifecycle configuration and its scanner thread (started
 * by gw_server_run, stopped when it returns; lifecycle.interval 0: none). */
struct gw_lc;
void gw_h_put_lifecycle(struct gw_req *req);    /* after XML body */
void gw_h_get_lifecycle(struct gw_req *req);
void gw_h_delete_lifecycle(struct gw_req *req);
enum gw_status gw_lc_start(struct gw_server *srv, struct gw_lc **out);
void gw_lc_stop(struct gw_lc *lc);              /* NULL: no-op */
/* gw_object.c: Content-MD5 or an x-amz-checksum-* header, required and
 * verified on an XML body; non-zero with the error set. */
int gw_xml_body_integrity(struct gw_req *req);

/* gw_cors.c */
void gw_h_put_cors(struct gw_req *req);         /* after XML body */
void gw_h_get_cors(struct gw_req *req);
void gw_h_delete_cors(struct gw_req *req);
void gw_h_cors_preflight(struct gw_req *req);   /* OPTIONS, anonymous */
/* An actual request with an Origin: adds the Access-Control-* headers of
 * the bucket's first matching rule to the response (errors included).
 * Called by the bucket lookups once the bucket exists; runs once per
 * request. Worker. */
void gw_cors_actual(struct gw_req *req);
/* gw_bucket.c */
void gw_h_put_versioning(struct gw_req *req);   /* after XML body */
void gw_h_get_versioning(struct gw_req *req);
void gw_h_list_versions(struct gw_req *req);

#endif /* GW_INT_H */
