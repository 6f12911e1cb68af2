/* coffer-bench.c: a warp-like S3 load generator (put, get, mixed, list,
 * multipart) on libcurl's multi interface, with its own SigV4 signer.
 *
 * Design: one thread drives one curl multi handle with at most
 * --concurrency easy handles ("slots"), each closed-loop: when a request
 * finishes its slot immediately takes the next one. Connections stay in the
 * multi handle's cache and are reused (keep-alive), so the steady state is
 * --concurrency persistent TCP connections.
 *
 * Invariants:
 * - Payload bytes are never copied per request: every request body is a
 *   borrowed slice of one random buffer generated at start (b->payload),
 *   handed to curl through CURLOPT_READFUNCTION. Only small XML bodies
 *   (CompleteMultipartUpload) are allocated per request.
 * - Memory is bounded by the options, not by the run length: latencies go
 *   into fixed log-linear histograms (struct opstat), response bodies are
 *   kept only up to RESP_SMALL bytes (RESP_MAX for listings), and the only
 *   growing arrays are the per-object ids of the mixed workload.
 * - A run has phases: setup (bucket), prepare (objects for get/list/mixed),
 *   run (measured), cleanup (list the run's prefix and delete it; abort
 *   unfinished multipart uploads; delete the bucket if we created it).
 *   Each phase has its own statistics; only "run" is reported in detail.
 * - Objects of a run live under <prefix><runid>/, so cleanup never touches
 *   anything it did not create.
 *
 * Exit status: 0 when every request got an expected status, 1 when any
 * did not (the first few error bodies are printed), 2 on usage or setup
 * errors. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cf.h"
#include "gw_sigv4.h"

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

#define CB_MAX_CONCURRENCY 4096
#define CB_MAX_PARTS 10000
#define CB_MIN_PART (5 * MIB)      /* S3's minimum for all but the last */
#define CB_MAX_BODY (5 * GIB)      /* S3's single PUT / part limit */
#define CB_OFF_ALIGN 4096          /* body slices start on this alignment */
#define CB_OFF_CHOICES 16          /* distinct slice starts per length */
#define CB_HASH_CACHE 64           /* signed-payload digests kept */
#define CB_URI_MAX 4096            /* encoded path, query: bounded by us */
#define CB_KEY_MAX 1100            /* prefix (<= 512) + run id + name */
#define CB_TOKEN_MAX 2048          /* continuation token, decoded */
#define CB_RESP_SMALL 2048         /* bytes kept of an ordinary response */
#define CB_RESP_MAX (16 * MIB)     /* bytes kept of a listing / XML reply */
#define CB_ERRS_KEPT 5             /* error bodies printed at the end */
#define CB_NSTATUS 600             /* status codes counted; 0 = transport */

/* Log-linear latency histogram over microseconds: values below
 * HIST_LINEAR are exact; above, each power of two is split into
 * HIST_SUB sub-buckets (relative error < 1/HIST_SUB). 2^40 us ~ 12 days. */
#define HIST_SUB_BITS 6
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_LINEAR (2 * HIST_SUB)
#define HIST_MAX_EXP 40
#define HIST_N (HIST_LINEAR + (HIST_MAX_EXP - HIST_SUB_BITS) * HIST_SUB)

enum cb_op {
    OP_PUT, OP_GET, OP_HEAD, OP_DELETE, OP_LIST,
    OP_MPCREATE, OP_MPPART, OP_MPCOMPLETE, OP_MPABORT,
    OP_MPOBJECT, /* pseudo op: a whole multipart object, create..complete */
    OP_HEADBUCKET, OP_PUTBUCKET, OP_DELBUCKET,
    OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "PUT", "GET", "HEAD", "DELETE", "LIST",
    "MPCREATE", "MPPART", "MPCOMPLETE", "MPABORT", "MPOBJECT",
    "HEADBUCKET", "PUTBUCKET", "DELBUCKET",
};

enum cb_workload { WL_PUT, WL_GET, WL_MIXED, WL_LIST, WL_MULTIPART };

static const char *const wl_names[] = {
    "put", "get", "mixed", "list", "multipart",
};

/* Statistics of one operation type within one phase. */
struct opstat {
    uint64_t count;              /* completed requests, ok or not */
    uint64_t errors;             /* unexpected status or transport error */
    uint64_t bytes;              /* payload bytes moved by ok requests */
    uint64_t items;              /* keys listed (LIST), parts, ... */
    uint64_t max_us;             /* slowest ok request */
    uint64_t hist[HIST_N];       /* latencies of ok requests */
    uint32_t status[CB_NSTATUS]; /* by HTTP status; [0] = no response */
};

/* One phase's statistics: an opstat per operation, and the wall time. */
struct phasestat {
    struct opstat op[OP_COUNT];
    int64_t t0_us, t1_us;  /* first issue, last completion */
    uint64_t connects;     /* new connections (CURLINFO_NUM_CONNECTS) */
};

/* One in-progress multipart upload (the multipart workload). */
enum mp_state { MP_FREE, MP_CREATING, MP_PARTS, MP_COMPLETING, MP_ABORTING };
struct mp_upload {
    enum mp_state state;
    uint64_t seq;           /* start order: older uploads get parts first */
    uint32_t id;            /* object id (key name) */
    char upload_id[512];    /* from CreateMultipartUpload, raw */
    int nparts;             /* parts of this object */
    int next_part;          /* next part number to send (1-based) */
    int parts_done;         /* parts that completed ok */
    int parts_inflight;     /* parts being sent */
    int failed;             /* a part failed: abort when none in flight */
    int64_t t0_us;          /* create issued */
    char (*etags)[96];      /* [nparts] ETag of each part, with quotes */
};

/* One easy handle and the request it carries; owned by the loop. */
struct slot {
    CURL *easy;
    struct curl_slist *hdrs;   /* request headers, freed on completion */
    int index;                 /* position in b->slots */
    enum cb_op op;
    uint32_t id;               /* object id */
    int part;                  /* part number (MPPART) */
    struct mp_upload *mp;      /* upload this request belongs to */
    const char *body;          /* borrowed slice of b->payload */
    size_t body_len, body_pos;
    char *post;                /* owned small body (Complete XML) */
    size_t post_len;
    uint64_t expect_len;       /* GET: bytes we expect back */
    uint64_t rx;               /* response body bytes received */
    char *resp;                /* kept response bytes, NUL-terminated */
    size_t resp_len, resp_cap; /* resp_cap excludes the NUL */
    size_t resp_limit;         /* CB_RESP_SMALL or CB_RESP_MAX */
    char etag[96];             /* ETag response header (MPPART) */
    int64_t t0_us;             /* request handed to curl */
    char errbuf[CURL_ERROR_SIZE];
    char url[CB_URI_MAX * 2];
    char token[CB_TOKEN_MAX];  /* list workload: this slot's cursor */
    int has_token;
};

/* A recorded failure, printed at the end. */
struct cb_err {
    enum cb_op op;
    long status;
    char what[256];
    char body[512];
};

struct bench;
/* Phase callbacks. next: set up and start a request on a free slot;
 * returns 1 if it did, 0 if nothing can start now (wait for completions),
 * -1 if the phase will issue nothing more. done: after the generic
 * bookkeeping of a completed request; ok says the status was expected. */
struct phase {
    const char *name;
    int (*next)(struct bench *b, struct slot *s);
    void (*done)(struct bench *b, struct slot *s, int ok);
};

struct hash_entry {
    size_t off, len;
    int valid;
    char hex[65];
};

struct bench {
    /* options */
    enum cb_workload wl;
    char endpoint[512];        /* scheme://host[:port], no trailing '/' */
    char hostport[256];        /* Host header, signed */
    const char *access_key, *secret_key, *region, *bucket, *prefix;
    uint64_t size_min, size_max, part_size;
    int concurrency;
    int prep_concurrency;      /* prepare PUTs in flight; 0 = concurrency */
    int64_t duration_us;       /* 0 = until --ops */
    uint64_t ops_limit;        /* 0 = until --duration */
    uint32_t objects;
    int max_keys;
    int pct[4];                /* mixed: get put delete head */
    int noclean, json, signed_payload;
    int existing;              /* list: objects already under --prefix */
    long timeout_ms;
    /* derived */
    char rundir[CB_KEY_MAX];   /* prefix + run id + "/" */
    char enc_rundir[CB_URI_MAX];
    char *payload;             /* random bytes, payload_len long */
    size_t payload_len;
    uint64_t rng;              /* xorshift64* state */
    uint64_t seed;             /* per-run: sizes and slice offsets */
    EVP_MD *sha256;
    char key_date[9];          /* date of the cached signing key */
    unsigned char sign_key[32];
    struct hash_entry hcache[CB_HASH_CACHE];
    char scratch[3 * CB_URI_MAX + 1024]; /* canonical request */
    /* loop */
    CURLM *multi;
    struct slot *slots;
    int *free_slots, nfree;
    int inflight;
    struct phasestat *cur;     /* stats of the running phase */
    struct phasestat setup, prep, run, clean;
    /* run phase */
    int64_t deadline_us;
    uint64_t issued;
    uint32_t next_id;
    uint32_t prep_next;
    /* mixed: live objects and per-id state */
    uint32_t *live;            /* ids that exist and are not being deleted */
    uint32_t nlive;
    int32_t *pos;              /* [id] index in live, or -1 */
    uint16_t *refs;            /* [id] GET/HEAD in flight */
    uint32_t id_cap;
    /* multipart */
    struct mp_upload *mp;
    int mp_max;
    uint64_t mp_seq;
    int mp_nparts;
    /* cleanup */
    char **ckeys;              /* keys of the current page to delete */
    int nckeys, ckey_next, clist_inflight, cdeletes_inflight;
    int cdone, cpage_failed, cpages;
    /* setup single request */
    enum cb_op one_op;
    int one_pending;
    long one_status;
    int bucket_created;
    /* errors */
    struct cb_err errs[CB_ERRS_KEPT];
    int nerrs;
    uint64_t total_errors;
};

static volatile sig_atomic_t g_stop;

/* ---- small helpers --------------------------------------------------- */

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t rng_next(struct bench *b)
{
    uint64_t x = b->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* splitmix64 finalizer: a stateless hash for per-object choices. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* Parses "4KiB", "1MiB", "1.5MB", "100", "2G" (K/M/G alone are binary). */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v;
    double mult = 1;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || v < 0) return -1;
    while (*end == ' ') end++;
    if (*end == '\0' || strcasecmp(end, "B") == 0) mult = 1;
    else if (strcasecmp(end, "KiB") == 0 || strcasecmp(end, "K") == 0)
        mult = (double)KIB;
    else if (strcasecmp(end, "MiB") == 0 || strcasecmp(end, "M") == 0)
        mult = (double)MIB;
    else if (strcasecmp(end, "GiB") == 0 || strcasecmp(end, "G") == 0)
        mult = (double)GIB;
    else if (strcasecmp(end, "KB") == 0) mult = 1e3;
    else if (strcasecmp(end, "MB") == 0) mult = 1e6;
    else if (strcasecmp(end, "GB") == 0) mult = 1e9;
    else return -1;
    v *= mult;
    if (v > (double)CB_MAX_BODY * 2) return -1;
    *out = (uint64_t)(v + 0.5);
    return 0;
}

/* "4KiB" or "1KiB-1MiB". */
static int parse_size_range(const char *s, uint64_t *lo, uint64_t *hi)
{
    const char *dash = strchr(s, '-');
    char buf[64];
    size_t n;

    if (dash == NULL) {
        if (parse_size(s, lo) != 0) return -1;
        *hi = *lo;
        return 0;
    }
    n = (size_t)(dash - s);
    if (n >= sizeof(buf)) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (parse_size(buf, lo) != 0 || parse_size(dash + 1, hi) != 0) return -1;
    return *lo <= *hi ? 0 : -1;
}

/* "10s", "500ms", "2m", "1h", "10" (seconds). */
static int parse_duration(const char *s, int64_t *us)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || v < 0) return -1;
    if (*end == '\0' || strcmp(end, "s") == 0) v *= 1e6;
    else if (strcmp(end, "ms") == 0) v *= 1e3;
    else if (strcmp(end, "m") == 0) v *= 60e6;
    else if (strcmp(end, "h") == 0) v *= 3600e6;
    else return -1;
    if (v > 1e13) return -1;
    *us = (int64_t)v;
    return 0;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*s == '\0' || *s == '-') return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) return -1;
    *out = v;
    return 0;
}

static void fmt_size(uint64_t v, char *out, size_t cap)
{
    if (v >= GIB && v % GIB == 0)
        snprintf(out, cap, "%" PRIu64 "GiB", v / GIB);
    else if (v >= MIB && v % MIB == 0)
        snprintf(out, cap, "%" PRIu64 "MiB", v / MIB);
    else if (v >= KIB && v % KIB == 0)
        snprintf(out, cap, "%" PRIu64 "KiB", v / KIB);
    else
        snprintf(out, cap, "%" PRIu64 "B", v);
}

/* ---- histogram ------------------------------------------------------- */

static int hist_index(uint64_t v)
{
    int e, idx;

    if (v < HIST_LINEAR) return (int)v;
    e = 63 - __builtin_clzll(v);           /* >= HIST_SUB_BITS + 1 */
    if (e >= HIST_MAX_EXP) return HIST_N - 1;
    idx = HIST_LINEAR + (e - HIST_SUB_BITS - 1) * HIST_SUB +
          (int)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
    return idx < HIST_N ? idx : HIST_N - 1;
}

/* Midpoint of a bucket, in microseconds. */
static double hist_value(int idx)
{
    int e, sub;
    double lo, width;

    if (idx < HIST_LINEAR) return idx;
    e = (idx - HIST_LINEAR) / HIST_SUB + HIST_SUB_BITS + 1;
    sub = (idx - HIST_LINEAR) % HIST_SUB;
    width = (double)(1ULL << (e - HIST_SUB_BITS));
    lo = (double)(1ULL << e) + sub * width;
    return lo + width / 2;
}

/* q in (0,1]; returns milliseconds. */
static double hist_pct(const struct opstat *o, double q)
{
    uint64_t n = 0, want, seen = 0;
    double v;
    int i;

    for (i = 0; i < HIST_N; i++) n += o->hist[i];
    if (n == 0) return 0;
    want = (uint64_t)(q * (double)n + 0.999999);
    if (want < 1) want = 1;
    for (i = 0; i < HIST_N; i++) {
        seen += o->hist[i];
        if (seen >= want) break;
    }
    if (i == HIST_N) i = HIST_N - 1;
    v = hist_value(i);
    if (v > (double)o->max_us) v = (double)o->max_us;
    return v / 1000.0;
}

static uint64_t opstat_ok(const struct opstat *o)
{
    return o->count - o->errors;
}

/* ---- signing --------------------------------------------------------- */

static int sha256_hex(struct bench *b, const void *p, size_t n,
                      char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    if (!EVP_Digest(p, n, md, &mdlen, b->sha256, NULL) || mdlen != 32)
        return -1;
    cf_hex_encode(md, 32, hex);
    return 0;
}

/* Digest of a payload slice; the slice starts are few (CB_OFF_CHOICES per
 * length), so fixed-size workloads hash each slice once. */
static const char *payload_hash(struct bench *b, size_t off, size_t len)
{
    uint64_t h = mix64(((uint64_t)off << 1) ^ ((uint64_t)len << 24));
    struct hash_entry *e = &b->hcache[h % CB_HASH_CACHE];

    if (e->valid && e->off == off && e->len == len) return e->hex;
    if (sha256_hex(b, b->payload + off, len, e->hex) != 0) return NULL;
    e->off = off;
    e->len = len;
    e->valid = 1;
    return e->hex;
}

static int add_hdr(struct curl_slist **list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int add_hdr(struct curl_slist **list, const char *fmt, ...)
{
    char line[1024];
    struct curl_slist *n;
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof(line)) return -1;
    n = curl_slist_append(*list, line);
    if (n == NULL) return -1;
    *list = n;
    return 0;
}

/* Signs METHOD canon_uri?canon_query with SigV4 (headers host,
 * x-amz-content-sha256, x-amz-date) and appends the headers to *hdrs.
 * canon_uri and canon_query must already be in canonical (encoded,
 * sorted) form; they are sent exactly as signed. */
static int sign_request(struct bench *b, const char *method,
                        const char *canon_uri, const char *canon_query,
                        const char *content_sha, struct curl_slist **hdrs)
{
    char amz[CF_ISO8601_LEN], date[9], creq_hex[65], sig_hex[65];
    char sts[256];
    unsigned char sig[32];
    unsigned int siglen = 0;
    int n;

    cf_fmt_amz_date(cf_now_ms() / 1000, amz);
    memcpy(date, amz, 8);
    date[8] = '\0';
    if (strcmp(date, b->key_date) != 0) {
        gw_sigv4_signing_key(b->secret_key, date, b->region, "s3",
                             b->sign_key);
        memcpy(b->key_date, date, sizeof(date));
    }
    n = snprintf(b->scratch, sizeof(b->scratch),
                 "%s\n%s\n%s\nhost:%s\nx-amz-content-sha256:%s\n"
                 "x-amz-date:%s\n\nhost;x-amz-content-sha256;x-amz-date\n%s",
                 method, canon_uri, canon_query, b->hostport, content_sha,
                 amz, content_sha);
    if (n < 0 || (size_t)n >= sizeof(b->scratch)) return -1;
    if (sha256_hex(b, b->scratch, (size_t)n, creq_hex) != 0) return -1;
    n = snprintf(sts, sizeof(sts),
                 "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s",
                 amz, date, b->region, creq_hex);
    if (n < 0 || (size_t)n >= sizeof(sts)) return -1;
    if (HMAC(b->sha256, b->sign_key, 32, (const unsigned char *)sts,
             (size_t)n, sig, &siglen) == NULL || siglen != 32)
        return -1;
    cf_hex_encode(sig, 32, sig_hex);
    if (add_hdr(hdrs, "Host: %s", b->hostport) != 0 ||
        add_hdr(hdrs, "x-amz-date: %s", amz) != 0 ||
        add_hdr(hdrs, "x-amz-content-sha256: %s", content_sha) != 0 ||
        add_hdr(hdrs, "Authorization: AWS4-HMAC-SHA256 "
                "Credential=%s/%s/%s/s3/aws4_request, "
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                "Signature=%s", b->access_key, date, b->region,
                sig_hex) != 0 ||
        add_hdr(hdrs, "Expect:") != 0 ||
        add_hdr(hdrs, "Content-Type:") != 0 ||
        add_hdr(hdrs, "Accept:") != 0)
        return -1;
    return 0;
}

/* ---- curl callbacks -------------------------------------------------- */

static size_t cb_read(char *buf, size_t size, size_t nitems, void *arg)
{
    struct slot *s = arg;
    size_t want = size * nitems;
    size_t left = s->body_len - s->body_pos;

    if (want > left) want = left;
    memcpy(buf, s->body + s->body_pos, want);
    s->body_pos += want;
    return want;
}

static int cb_seek(void *arg, curl_off_t offset, int origin)
{
    struct slot *s = arg;

    if (origin != SEEK_SET || offset < 0 || (size_t)offset > s->body_len)
        return CURL_SEEKFUNC_FAIL;
    s->body_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t cb_write(char *p, size_t size, size_t nmemb, void *arg)
{
    struct slot *s = arg;
    size_t n = size * nmemb;

    s->rx += n;
    if (s->resp_len < s->resp_limit) {
        size_t take = s->resp_limit - s->resp_len;

        if (take > n) take = n;
        if (s->resp_len + take > s->resp_cap) {
            size_t cap = s->resp_cap ? s->resp_cap : CB_RESP_SMALL;
            char *np;

            while (cap < s->resp_len + take) cap *= 2;
            if (cap > s->resp_limit) cap = s->resp_limit;
            np = realloc(s->resp, cap + 1);
            if (np == NULL) return 0; /* aborts the transfer */
            s->resp = np;
            s->resp_cap = cap;
        }
        memcpy(s->resp + s->resp_len, p, take);
        s->resp_len += take;
        s->resp[s->resp_len] = '\0';
    }
    return n;
}

static size_t cb_header(char *p, size_t size, size_t nmemb, void *arg)
{
    struct slot *s = arg;
    size_t n = size * nmemb, i = 5, j;

    if (s->op == OP_MPPART && n > 5 && strncasecmp(p, "etag:", 5) == 0) {
        while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
        j = n;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' ||
                         p[j - 1] == ' '))
            j--;
        if (j - i < sizeof(s->etag)) {
            memcpy(s->etag, p + i, j - i);
            s->etag[j - i] = '\0';
        }
    }
    return n;
}

/* ---- requests -------------------------------------------------------- */

enum body_kind { BODY_NONE, BODY_SLICE, BODY_POST };

/* Starts a request on slot s: method, canonical path and query, and body
 * (a payload slice via s->body/body_len, or s->post/post_len). Returns 0,
 * or -1 with the slot left free. */
static int req_start(struct bench *b, struct slot *s, enum cb_op op,
                     const char *method, const char *canon_uri,
                     const char *query, enum body_kind kind, size_t off)
{
    CURL *e = s->easy;
    const char *csha = "UNSIGNED-PAYLOAD";
    char hex[65];
    int n;

    s->op = op;
    s->hdrs = NULL;
    s->rx = 0;
    s->resp_len = 0;
    if (s->resp) s->resp[0] = '\0';
    s->etag[0] = '\0';
    s->errbuf[0] = '\0';
    s->body_pos = 0;
    if (kind != BODY_SLICE) {
        s->body = NULL;
        s->body_len = 0;
    }
    if (b->signed_payload) {
        if (kind == BODY_SLICE) csha = payload_hash(b, off, s->body_len);
        else if (kind == BODY_POST && s->post_len > 0)
            csha = sha256_hex(b, s->post, s->post_len, hex) == 0 ? hex
                                                                 : NULL;
        else csha = "e3b0c44298fc1c149afbf4c8996fb924"
                    "27ae41e4649b934ca495991b7852b855";
        if (csha == NULL) goto out_fail;
    }
    n = snprintf(s->url, sizeof(s->url), "%s%s%s%s", b->endpoint, canon_uri,
                 query[0] ? "?" : "", query);
    if (n < 0 || (size_t)n >= sizeof(s->url)) goto out_fail;
    s->hdrs = NULL;
    if (sign_request(b, method, canon_uri, query, csha, &s->hdrs) != 0)
        goto out_fail;

    /* The handle keeps its fixed options (slot_init); every request sets
     * the method from scratch: curl_easy_reset() would also drop curl's
     * buffers and reallocate them per request. */
    if (curl_easy_setopt(e, CURLOPT_URL, s->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->hdrs) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOBODY, 0L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_UPLOAD, 0L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK)
        goto out_fail;
    if (strcmp(method, "PUT") == 0) {
        if (curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                             (curl_off_t)s->body_len) != CURLE_OK)
            goto out_fail;
    } else if (strcmp(method, "POST") == 0) {
        if (curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                             s->post ? s->post : "") != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)s->post_len) != CURLE_OK)
            goto out_fail;
    } else if (strcmp(method, "HEAD") == 0) {
        if (curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK)
            goto out_fail;
    } else if (strcmp(method, "GET") != 0) {
        if (curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
            goto out_fail;
    }
    s->t0_us = now_us();
    if (curl_multi_add_handle(b->multi, e) != CURLM_OK) goto out_fail;
    b->inflight++;
    if (b->cur->t0_us == 0) b->cur->t0_us = s->t0_us;
    return 0;

out_fail:
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    free(s->post);
    s->post = NULL;
    s->post_len = 0;
    fprintf(stderr, "coffer-bench: cannot start %s request\n", op_names[op]);
    return -1;
}

/* Options that stay the same for every request of a slot. */
static int slot_init(struct bench *b, struct slot *s)
{
    CURL *e = curl_easy_init();

    s->easy = e;
    if (e == NULL) return -1;
    if (curl_easy_setopt(e, CURLOPT_PRIVATE, s) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE,
                         512L * 1024) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, b->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cb_write) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, s) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, cb_header) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERDATA, s) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_READFUNCTION, cb_read) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_READDATA, s) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, cb_seek) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SEEKDATA, s) != CURLE_OK)
        return -1;
    return 0;
}

static int obj_uri(struct bench *b, uint32_t id, char *uri, size_t cap)
{
    int n = snprintf(uri, cap, "/%s/%sobj-%08" PRIu32, b->bucket,
                     b->enc_rundir, id);

    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static uint64_t obj_size(struct bench *b, uint32_t id)
{
    if (b->size_min == b->size_max) return b->size_min;
    return b->size_min +
           mix64(b->seed ^ id) % (b->size_max - b->size_min + 1);
}

/* Start of the payload slice for object id (or part) of length len. */
static size_t slice_off(struct bench *b, uint64_t salt, size_t len)
{
    size_t room = (b->payload_len - len) / CB_OFF_ALIGN + 1;

    if (room > CB_OFF_CHOICES) room = CB_OFF_CHOICES;
    return (size_t)(mix64(b->seed * 31 + salt) % room) * CB_OFF_ALIGN;
}

static int req_put(struct bench *b, struct slot *s, uint32_t id)
{
    char uri[CB_URI_MAX];
    size_t len = (size_t)obj_size(b, id), off = slice_off(b, id, len);

    if (obj_uri(b, id, uri, sizeof(uri)) != 0) return -1;
    s->id = id;
    s->body = b->payload + off;
    s->body_len = len;
    return req_start(b, s, OP_PUT, "PUT", uri, "", BODY_SLICE, off);
}

static int req_get(struct bench *b, struct slot *s, uint32_t id,
                   enum cb_op op)
{
    char uri[CB_URI_MAX];

    if (obj_uri(b, id, uri, sizeof(uri)) != 0) return -1;
    s->id = id;
    s->expect_len = obj_size(b, id);
    return req_start(b, s, op, op == OP_HEAD ? "HEAD" : "GET", uri, "",
                     BODY_NONE, 0);
}

static int req_delete_uri(struct bench *b, struct slot *s, const char *uri)
{
    return req_start(b, s, OP_DELETE, "DELETE", uri, "", BODY_NONE, 0);
}

/* ListObjectsV2 of prefix (raw), optional continuation token (raw). */
static int req_list(struct bench *b, struct slot *s, const char *prefix,
                    const char *token, int max_keys)
{
    char q[CB_URI_MAX], etok[CB_URI_MAX], epre[CB_URI_MAX / 2];
    char uri[600];
    int n;

    if (gw_sigv4_uri_encode(prefix, strlen(prefix), 0, epre,
                            sizeof(epre)) < 0)
        return -1;
    etok[0] = '\0';
    if (token && gw_sigv4_uri_encode(token, strlen(token), 0, etok,
                                     sizeof(etok)) < 0)
        return -1;
    /* canonical order: continuation-token, list-type, max-keys, prefix */
    n = snprintf(q, sizeof(q), "%s%s%slist-type=2&max-keys=%d&prefix=%s",
                 token ? "continuation-token=" : "", token ? etok : "",
                 token ? "&" : "", max_keys, epre);
    if (n < 0 || (size_t)n >= sizeof(q)) return -1;
    n = snprintf(uri, sizeof(uri), "/%s", b->bucket);
    if (n < 0 || (size_t)n >= sizeof(uri)) return -1;
    s->resp_limit = CB_RESP_MAX;
    return req_start(b, s, OP_LIST, "GET", uri, q, BODY_NONE, 0);
}

static int req_bucket(struct bench *b, struct slot *s, enum cb_op op)
{
    char uri[600];
    const char *method = op == OP_HEADBUCKET  ? "HEAD"
                         : op == OP_PUTBUCKET ? "PUT"
                                              : "DELETE";
    int n = snprintf(uri, sizeof(uri), "/%s", b->bucket);
    static char cfg[256];

    if (n < 0 || (size_t)n >= sizeof(uri)) return -1;
    if (op == OP_PUTBUCKET && strcmp(b->region, "us-east-1") != 0) {
        /* outside us-east-1 S3 wants the region in the body; the body is
         * not payload, but a PUT body goes through the slice reader */
        n = snprintf(cfg, sizeof(cfg),
                     "<CreateBucketConfiguration><LocationConstraint>%s"
                     "</LocationConstraint></CreateBucketConfiguration>",
                     b->region);
        if (n < 0 || (size_t)n >= sizeof(cfg)) return -1;
        s->body = cfg;
        s->body_len = (size_t)n;
        if (b->signed_payload) {
            /* payload_hash() only knows b->payload: sign unsigned */
            int saved = b->signed_payload;
            int rc;

            b->signed_payload = 0;
            rc = req_start(b, s, op, method, uri, "", BODY_SLICE, 0);
            b->signed_payload = saved;
            return rc;
        }
        return req_start(b, s, op, method, uri, "", BODY_SLICE, 0);
    }
    return req_start(b, s, op, method, uri, "", BODY_NONE, 0);
}

/* ---- multipart requests ---------------------------------------------- */

static int upload_query(const struct mp_upload *u, int part, char *q,
                        size_t cap)
{
    char eid[3 * sizeof(u->upload_id)];
    int n;

    if (gw_sigv4_uri_encode(u->upload_id, strlen(u->upload_id), 0, eid,
                            sizeof(eid)) < 0)
        return -1;
    if (part > 0) n = snprintf(q, cap, "partNumber=%d&uploadId=%s", part,
                               eid);
    else n = snprintf(q, cap, "uploadId=%s", eid);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int req_mp_create(struct bench *b, struct slot *s,
                         struct mp_upload *u)
{
    char uri[CB_URI_MAX];

    if (obj_uri(b, u->id, uri, sizeof(uri)) != 0) return -1;
    s->mp = u;
    s->id = u->id;
    s->resp_limit = 64 * KIB;
    return req_start(b, s, OP_MPCREATE, "POST", uri, "uploads=", BODY_POST,
                     0);
}

static int req_mp_part(struct bench *b, struct slot *s, struct mp_upload *u,
                       int part)
{
    char uri[CB_URI_MAX], q[2048];
    uint64_t size = obj_size(b, u->id);
    uint64_t start = (uint64_t)(part - 1) * b->part_size;
    size_t len = (size_t)(size - start < b->part_size ? size - start
                                                      : b->part_size);
    size_t off = slice_off(b, ((uint64_t)u->id << 14) + (uint64_t)part, len);

    if (obj_uri(b, u->id, uri, sizeof(uri)) != 0 ||
        upload_query(u, part, q, sizeof(q)) != 0)
        return -1;
    s->mp = u;
    s->id = u->id;
    s->part = part;
    s->body = b->payload + off;
    s->body_len = len;
    return req_start(b, s, OP_MPPART, "PUT", uri, q, BODY_SLICE, off);
}

static int req_mp_complete(struct bench *b, struct slot *s,
                           struct mp_upload *u)
{
    char uri[CB_URI_MAX], q[2048];
    size_t cap = 64 + (size_t)u->nparts * (64 + sizeof(u->etags[0]));
    size_t len = 0;
    int i, n;

    if (obj_uri(b, u->id, uri, sizeof(uri)) != 0 ||
        upload_query(u, 0, q, sizeof(q)) != 0)
        return -1;
    s->post = malloc(cap);
    if (s->post == NULL) return -1;
    n = snprintf(s->post, cap, "<CompleteMultipartUpload>");
    if (n < 0) goto out_free;
    len = (size_t)n;
    for (i = 0; i < u->nparts; i++) {
        n = snprintf(s->post + len, cap - len,
                     "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag>"
                     "</Part>", i + 1, u->etags[i]);
        if (n < 0 || (size_t)n >= cap - len) goto out_free;
        len += (size_t)n;
    }
    n = snprintf(s->post + len, cap - len, "</CompleteMultipartUpload>");
    if (n < 0 || (size_t)n >= cap - len) goto out_free;
    s->post_len = len + (size_t)n;
    s->mp = u;
    s->id = u->id;
    s->resp_limit = 64 * KIB;
    return req_start(b, s, OP_MPCOMPLETE, "POST", uri, q, BODY_POST, 0);

out_free:
    free(s->post);
    s->post = NULL;
    return -1;
}

static int req_mp_abort(struct bench *b, struct slot *s, struct mp_upload *u)
{
    char uri[CB_URI_MAX], q[2048];

    if (obj_uri(b, u->id, uri, sizeof(uri)) != 0 ||
        upload_query(u, 0, q, sizeof(q)) != 0)
        return -1;
    s->mp = u;
    s->id = u->id;
    return req_start(b, s, OP_MPABORT, "DELETE", uri, q, BODY_NONE, 0);
}

/* ---- XML scraps ------------------------------------------------------ */

/* Finds the text of the first <tag> at or after *pos in s; decodes the
 * basic entities into out. Returns 1 found, 0 not found, -1 too long. */
static int xml_take(const char *s, size_t len, size_t *pos, const char *tag,
                    char *out, size_t cap)
{
    char open[64], close[64];
    const char *a, *z, *p;
    size_t o = 0;
    int n1 = snprintf(open, sizeof(open), "<%s>", tag);
    int n2 = snprintf(close, sizeof(close), "</%s>", tag);

    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(open) ||
        (size_t)n2 >= sizeof(close) || *pos > len)
        return -1;
    a = memmem(s + *pos, len - *pos, open, (size_t)n1);
    if (a == NULL) return 0;
    a += n1;
    z = memmem(a, len - (size_t)(a - s), close, (size_t)n2);
    if (z == NULL) return 0;
    *pos = (size_t)(z - s) + (size_t)n2;
    for (p = a; p < z; p++) {
        char c = *p;

        if (c == '&') {
            static const struct { const char *ent; char c; } ents[] = {
                { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
                { "&quot;", '"' }, { "&apos;", '\'' },
            };
            size_t k, el;

            for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
                el = strlen(ents[k].ent);
                if ((size_t)(z - p) >= el &&
                    memcmp(p, ents[k].ent, el) == 0) {
                    c = ents[k].c;
                    p += el - 1;
                    break;
                }
            }
            if (k == sizeof(ents) / sizeof(ents[0]) && p + 2 < z &&
                p[1] == '#') {
                const char *q = p + 2;
                int base = 10;
                unsigned long v = 0;

                if (*q == 'x') {
                    base = 16;
                    q++;
                }
                while (q < z && isxdigit((unsigned char)*q)) {
                    int d = isdigit((unsigned char)*q)
                                ? *q - '0'
                                : (tolower((unsigned char)*q) - 'a' + 10);
                    if (d >= base) break;
                    v = v * (unsigned long)base + (unsigned long)d;
                    if (v > 0x7f) break;
                    q++;
                }
                if (q < z && *q == ';' && v <= 0x7f) {
                    c = (char)v;
                    p = q;
                }
            }
        }
        if (o + 1 >= cap) return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 1;
}

/* True if a 200 reply body is really an S3 error (CompleteMultipartUpload
 * may fail after the 200 has been sent). */
static int body_is_error(const struct slot *s)
{
    return s->resp_len > 0 && memmem(s->resp, s->resp_len, "<Error>", 7);
}

/* ---- the loop -------------------------------------------------------- */

static int expected(enum cb_op op, long st)
{
    switch (op) {
    case OP_DELETE:
    case OP_MPABORT:
    case OP_DELBUCKET:
        return st == 204 || st == 200;
    case OP_HEADBUCKET:
        return st == 200 || st == 404;
    default:
        return st == 200;
    }
}

static void record_error(struct bench *b, struct slot *s, long st,
                         CURLcode cc)
{
    struct cb_err *e;
    const char *why = "";
    int n;

    b->total_errors++;
    if (b->nerrs >= CB_ERRS_KEPT) return;
    e = &b->errs[b->nerrs++];
    e->op = s->op;
    e->status = st;
    if (cc != CURLE_OK)
        why = s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc);
    /* truncation is fine here: these are samples for a human */
    n = snprintf(e->what, sizeof(e->what), "%s %.100s%s%.120s",
                 op_names[s->op], s->url, why[0] ? ": " : "", why);
    if (n < 0) e->what[0] = '\0';
    n = snprintf(e->body, sizeof(e->body), "%.*s",
                 (int)(s->resp_len < sizeof(e->body) - 1
                           ? s->resp_len : sizeof(e->body) - 1),
                 s->resp ? s->resp : "");
    if (n < 0) e->body[0] = '\0';
}

static void finish(struct bench *b, const struct phase *ph, struct slot *s,
                   CURLcode cc)
{
    struct opstat *o = &b->cur->op[s->op];
    int64_t t1 = now_us();
    uint64_t lat = (uint64_t)(t1 - s->t0_us);
    long st = 0, nconn = 0;
    int ok;

    if (cc == CURLE_OK &&
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &st) != CURLE_OK)
        st = 0;
    if (curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &nconn) ==
            CURLE_OK && nconn > 0)
        b->cur->connects += (uint64_t)nconn;
    ok = cc == CURLE_OK && expected(s->op, st);
    if (ok && s->op == OP_GET && s->rx != s->expect_len) {
        snprintf(s->errbuf, sizeof(s->errbuf),
                 "GET returned %" PRIu64 " bytes, expected %" PRIu64,
                 s->rx, s->expect_len);
        cc = CURLE_PARTIAL_FILE;
        ok = 0;
    }
    if (ok && s->op == OP_MPCOMPLETE && body_is_error(s)) ok = 0;
    if (ok && s->op == OP_MPPART && s->etag[0] == '\0') {
        snprintf(s->errbuf, sizeof(s->errbuf), "UploadPart without ETag");
        cc = CURLE_WEIRD_SERVER_REPLY;
        ok = 0;
    }
    o->count++;
    o->status[st >= 0 && st < CB_NSTATUS ? st : 0]++;
    if (ok) {
        o->hist[hist_index(lat)]++;
        if (lat > o->max_us) o->max_us = lat;
        if (s->op == OP_PUT || s->op == OP_MPPART) o->bytes += s->body_len;
        else if (s->op == OP_GET) o->bytes += s->rx;
    } else {
        o->errors++;
        record_error(b, s, st, cc);
    }
    b->one_status = st;
    b->cur->t1_us = t1;
    if (ph->done) ph->done(b, s, ok);
    /* the handle must not keep a pointer to the body we free below */
    if (s->post != NULL &&
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, "") != CURLE_OK)
        fprintf(stderr, "coffer-bench: cannot reset POSTFIELDS\n");
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    free(s->post);
    s->post = NULL;
    s->post_len = 0;
    s->body = NULL;
    s->body_len = 0;
    s->mp = NULL;
    s->resp_limit = CB_RESP_SMALL;
    /* a listing may have grown the buffer to megabytes: give it back */
    if (s->resp_cap > CB_RESP_SMALL * 4) {
        free(s->resp);
        s->resp = NULL;
        s->resp_cap = 0;
        s->resp_len = 0;
    }
}

/* Runs one phase to completion. Returns 0, or -1 if curl failed. */
static int run_phase(struct bench *b, struct phasestat *ps,
                     const struct phase *ph)
{
    int exhausted = 0, rc = 0;

    b->cur = ps;
    for (;;) {
        int still = 0, nmsg = 0, progressed = 0;
        CURLMsg *m;

        /* fill free slots */
        while (b->nfree > 0 && !exhausted) {
            struct slot *s = &b->slots[b->free_slots[b->nfree - 1]];
            int r;

            b->nfree--;
            r = ph->next(b, s);
            if (r == 1) continue;
            b->free_slots[b->nfree++] = s->index;
            if (r < 0) exhausted = 1;
            break;
        }
        if (b->inflight == 0) break; /* done, or nothing can ever start */
        if (curl_multi_perform(b->multi, &still) != CURLM_OK) {
            fprintf(stderr, "coffer-bench: curl_multi_perform failed\n");
            rc = -1;
            break;
        }
        while ((m = curl_multi_info_read(b->multi, &nmsg)) != NULL) {
            struct slot *s = NULL;

            if (m->msg != CURLMSG_DONE) continue;
            if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
                                  (char **)&s) != CURLE_OK || s == NULL)
                continue;
            curl_multi_remove_handle(b->multi, s->easy);
            b->inflight--;
            finish(b, ph, s, m->data.result);
            b->free_slots[b->nfree++] = s->index;
            progressed = 1;
            if (!g_stop) exhausted = 0; /* completions may enable work */
        }
        if (!progressed &&
            curl_multi_poll(b->multi, NULL, 0, 100, NULL) != CURLM_OK) {
            fprintf(stderr, "coffer-bench: curl_multi_poll failed\n");
            rc = -1;
            break;
        }
    }
    return rc;
}

/* ---- setup: bucket --------------------------------------------------- */

static int one_next(struct bench *b, struct slot *s)
{
    if (!b->one_pending) return -1;
    b->one_pending = 0;
    return req_bucket(b, s, b->one_op) == 0 ? 1 : -1;
}

static const struct phase ph_one = { "setup", one_next, NULL };

static long one_request(struct bench *b, enum cb_op op)
{
    b->one_op = op;
    b->one_pending = 1;
    b->one_status = -1;
    if (run_phase(b, &b->setup, &ph_one) != 0) return -1;
    return b->one_status;
}

/* ---- prepare: objects for get/list/mixed ----------------------------- */

static int live_reserve(struct bench *b, uint32_t id)
{
    uint32_t cap = b->id_cap ? b->id_cap : 1024, i;
    void *p;

    if (id < b->id_cap) return 0;
    while (cap <= id) cap *= 2;
    p = realloc(b->live, (size_t)cap * sizeof(*b->live));
    if (p == NULL) return -1;
    b->live = p;
    p = realloc(b->pos, (size_t)cap * sizeof(*b->pos));
    if (p == NULL) return -1;
    b->pos = p;
    p = realloc(b->refs, (size_t)cap * sizeof(*b->refs));
    if (p == NULL) return -1;
    b->refs = p;
    for (i = b->id_cap; i < cap; i++) {
        b->pos[i] = -1;
        b->refs[i] = 0;
    }
    b->id_cap = cap;
    return 0;
}

static void live_add(struct bench *b, uint32_t id)
{
    if (id >= b->id_cap || b->pos[id] >= 0) return;
    b->pos[id] = (int32_t)b->nlive;
    b->live[b->nlive++] = id;
}

static void live_remove(struct bench *b, uint32_t id)
{
    int32_t p;
    uint32_t last;

    if (id >= b->id_cap || (p = b->pos[id]) < 0) return;
    last = b->live[--b->nlive];
    b->live[p] = last;
    b->pos[last] = p;
    b->pos[id] = -1;
}

static int prep_next(struct bench *b, struct slot *s)
{
    if (g_stop || b->prep_next >= b->objects) return -1;
    if (b->prep_concurrency && b->inflight >= b->prep_concurrency) return 0;
    if (req_put(b, s, b->prep_next) != 0) return -1;
    b->prep_next++;
    return 1;
}

static void prep_done(struct bench *b, struct slot *s, int ok)
{
    if (ok && b->wl == WL_MIXED) live_add(b, s->id);
}

static const struct phase ph_prep = { "prepare", prep_next, prep_done };

/* ---- run phase workloads --------------------------------------------- */

static int run_over(struct bench *b)
{
    if (g_stop) return 1;
    if (b->ops_limit && b->issued >= b->ops_limit) return 1;
    if (b->duration_us && now_us() >= b->deadline_us) return 1;
    return 0;
}

static int put_next(struct bench *b, struct slot *s)
{
    if (run_over(b)) return -1;
    if (req_put(b, s, b->next_id) != 0) return -1;
    b->next_id++;
    b->issued++;
    return 1;
}

static int get_next(struct bench *b, struct slot *s)
{
    if (run_over(b)) return -1;
    if (req_get(b, s, (uint32_t)(rng_next(b) % b->objects), OP_GET) != 0)
        return -1;
    b->issued++;
    return 1;
}

static int mixed_next(struct bench *b, struct slot *s)
{
    int total = b->pct[0] + b->pct[1] + b->pct[2] + b->pct[3];
    int r, i;
    uint32_t id = 0;
    enum cb_op op;

    if (run_over(b)) return -1;
    r = (int)(rng_next(b) % (uint64_t)total);
    if (r < b->pct[0]) op = OP_GET;
    else if (r < b->pct[0] + b->pct[1]) op = OP_PUT;
    else if (r < b->pct[0] + b->pct[1] + b->pct[2]) op = OP_DELETE;
    else op = OP_HEAD;
    if (op != OP_PUT && b->nlive == 0) op = OP_PUT;
    if (op == OP_DELETE) {
        /* only a key nobody is reading: a racing GET would see 404 */
        for (i = 0; i < 8; i++) {
            id = b->live[rng_next(b) % b->nlive];
            if (b->refs[id] == 0) break;
        }
        if (i == 8) op = OP_GET;
    }
    if (op == OP_PUT) {
        if (live_reserve(b, b->next_id) != 0) return -1;
        if (req_put(b, s, b->next_id) != 0) return -1;
        b->next_id++;
    } else if (op == OP_DELETE) {
        char uri[CB_URI_MAX];

        if (obj_uri(b, id, uri, sizeof(uri)) != 0) return -1;
        s->id = id;
        if (req_delete_uri(b, s, uri) != 0) return -1;
        live_remove(b, id);
    } else {
        id = b->live[rng_next(b) % b->nlive];
        if (req_get(b, s, id, op) != 0) return -1;
        b->refs[id]++;
    }
    b->issued++;
    return 1;
}

static void mixed_done(struct bench *b, struct slot *s, int ok)
{
    if (s->op == OP_PUT && ok) live_add(b, s->id);
    else if ((s->op == OP_GET || s->op == OP_HEAD) && s->id < b->id_cap &&
             b->refs[s->id] > 0)
        b->refs[s->id]--;
}

static int list_next(struct bench *b, struct slot *s)
{
    if (run_over(b)) return -1;
    if (req_list(b, s, b->rundir, s->has_token ? s->token : NULL,
                 b->max_keys) != 0)
        return -1;
    b->issued++;
    return 1;
}

static void list_done(struct bench *b, struct slot *s, int ok)
{
    size_t pos = 0;
    char trunc[16];
    uint64_t keys = 0;
    const char *p;

    s->has_token = 0;
    if (!ok || s->resp == NULL) return;
    for (p = s->resp; (p = strstr(p, "<Key>")) != NULL; p += 5) keys++;
    b->cur->op[OP_LIST].items += keys;
    if (xml_take(s->resp, s->resp_len, &pos, "IsTruncated", trunc,
                 sizeof(trunc)) == 1 &&
        strcmp(trunc, "true") == 0) {
        pos = 0;
        if (xml_take(s->resp, s->resp_len, &pos, "NextContinuationToken",
                     s->token, sizeof(s->token)) == 1)
            s->has_token = 1;
    }
}

/* Multipart: older uploads get their parts first; a new upload starts when
 * fewer than mp_max are active. */
static int mp_next(struct bench *b, struct slot *s)
{
    struct mp_upload *best = NULL, *u;
    int i, nactive = 0;

    for (i = 0; i < b->mp_max; i++) {
        u = &b->mp[i];
        if (u->state == MP_FREE) continue;
        nactive++;
        if (u->state == MP_PARTS && !u->failed &&
            u->next_part <= u->nparts && (!best || u->seq < best->seq))
            best = u;
    }
    if (best) {
        if (req_mp_part(b, s, best, best->next_part) != 0) {
            best->failed = 1;
            return 0;
        }
        best->next_part++;
        best->parts_inflight++;
        return 1;
    }
    for (i = 0; i < b->mp_max; i++) {
        u = &b->mp[i];
        if (u->state != MP_PARTS || u->parts_inflight > 0) continue;
        if (!u->failed && u->parts_done == u->nparts) {
            if (req_mp_complete(b, s, u) != 0) {
                u->failed = 1;
                return 0;
            }
            u->state = MP_COMPLETING;
            return 1;
        }
        if (u->failed) {
            if (req_mp_abort(b, s, u) != 0) {
                u->state = MP_FREE; /* leave it to the cleanup listing */
                return 0;
            }
            u->state = MP_ABORTING;
            return 1;
        }
    }
    if (run_over(b)) return nactive ? 0 : -1;
    for (i = 0; i < b->mp_max; i++) {
        u = &b->mp[i];
        if (u->state != MP_FREE) continue;
        u->id = b->next_id;
        u->nparts = (int)((obj_size(b, u->id) + b->part_size - 1) /
                          b->part_size);
        if (u->nparts < 1) u->nparts = 1;
        u->next_part = 1;
        u->parts_done = 0;
        u->parts_inflight = 0;
        u->failed = 0;
        u->upload_id[0] = '\0';
        u->seq = b->mp_seq++;
        u->t0_us = now_us();
        if (req_mp_create(b, s, u) != 0) return -1;
        u->state = MP_CREATING;
        b->next_id++;
        b->issued++;
        return 1;
    }
    return 0;
}

static void mp_done(struct bench *b, struct slot *s, int ok)
{
    struct mp_upload *u = s->mp;
    size_t pos = 0;

    if (u == NULL) return;
    switch (s->op) {
    case OP_MPCREATE:
        if (ok && s->resp &&
            xml_take(s->resp, s->resp_len, &pos, "UploadId", u->upload_id,
                     sizeof(u->upload_id)) == 1) {
            u->state = MP_PARTS;
        } else {
            if (ok) {
                b->cur->op[OP_MPCREATE].errors++;
                record_error(b, s, 200, CURLE_OK);
            }
            u->state = MP_FREE;
        }
        break;
    case OP_MPPART:
        u->parts_inflight--;
        if (ok && s->part >= 1 && s->part <= u->nparts) {
            memcpy(u->etags[s->part - 1], s->etag, sizeof(s->etag));
            u->parts_done++;
            b->cur->op[OP_MPPART].items++;
        } else {
            u->failed = 1;
        }
        break;
    case OP_MPCOMPLETE:
        if (ok) {
            struct opstat *o = &b->cur->op[OP_MPOBJECT];
            uint64_t lat = (uint64_t)(now_us() - u->t0_us);

            o->count++;
            o->status[200]++;
            o->bytes += obj_size(b, u->id);
            o->hist[hist_index(lat)]++;
            if (lat > o->max_us) o->max_us = lat;
            u->state = MP_FREE;
        } else {
            u->failed = 1;
            u->state = MP_PARTS; /* abort it */
        }
        break;
    case OP_MPABORT:
    default:
        u->state = MP_FREE;
        break;
    }
}

static const struct phase ph_put = { "run", put_next, NULL };
static const struct phase ph_get = { "run", get_next, NULL };
static const struct phase ph_mixed = { "run", mixed_next, mixed_done };
static const struct phase ph_list = { "run", list_next, list_done };
static const struct phase ph_mp = { "run", mp_next, mp_done };

/* ---- cleanup: list the run directory and delete it ------------------- */

static void ckeys_clear(struct bench *b)
{
    int i;

    for (i = 0; i < b->nckeys; i++) free(b->ckeys[i]);
    b->nckeys = 0;
    b->ckey_next = 0;
}

static int clean_next(struct bench *b, struct slot *s)
{
    if (b->ckey_next < b->nckeys) {
        char uri[CB_URI_MAX];
        char enc[CB_URI_MAX];
        const char *key = b->ckeys[b->ckey_next];
        int n;

        if (gw_sigv4_uri_encode(key, strlen(key), 1, enc, sizeof(enc)) < 0)
            return -1;
        n = snprintf(uri, sizeof(uri), "/%s/%s", b->bucket, enc);
        if (n < 0 || (size_t)n >= sizeof(uri)) return -1;
        if (req_delete_uri(b, s, uri) != 0) return -1;
        b->ckey_next++;
        b->cdeletes_inflight++;
        return 1;
    }
    if (b->cdone) return -1;
    if (b->clist_inflight || b->cdeletes_inflight) return 0;
    /* deletes of the last page are done: list from the start again.
     * A page whose deletes failed would come back: stop then. */
    if (b->cpage_failed || b->cpages >= 1000000) {
        b->cdone = 1;
        return -1;
    }
    ckeys_clear(b);
    if (req_list(b, s, b->rundir, NULL, 1000) != 0) return -1;
    b->clist_inflight = 1;
    b->cpages++;
    return 1;
}

static void clean_done(struct bench *b, struct slot *s, int ok)
{
    size_t pos = 0;
    char key[CB_KEY_MAX + 64];
    int r;

    if (s->op == OP_DELETE) {
        b->cdeletes_inflight--;
        if (!ok) b->cpage_failed = 1;
        return;
    }
    b->clist_inflight = 0;
    if (!ok || s->resp == NULL) {
        b->cdone = 1;
        return;
    }
    while (b->nckeys < 1000 &&
           (r = xml_take(s->resp, s->resp_len, &pos, "Key", key,
                         sizeof(key))) != 0) {
        if (r < 0) break;
        b->ckeys[b->nckeys] = strdup(key);
        if (b->ckeys[b->nckeys] == NULL) break;
        b->nckeys++;
    }
    if (b->nckeys == 0) b->cdone = 1;
}

static const struct phase ph_clean = { "cleanup", clean_next, clean_done };

/* Aborts uploads the run phase left behind (it drains, so only after
 * interruption or failures). */
static int abort_next(struct bench *b, struct slot *s)
{
    int i;

    for (i = 0; i < b->mp_max; i++) {
        struct mp_upload *u = &b->mp[i];

        if (u->state == MP_FREE || u->upload_id[0] == '\0') continue;
        u->state = MP_FREE;
        if (req_mp_abort(b, s, u) == 0) return 1;
    }
    return -1;
}

static const struct phase ph_abort = { "cleanup", abort_next, NULL };

/* ---- output ---------------------------------------------------------- */

static double phase_secs(const struct phasestat *ps)
{
    double d = (double)(ps->t1_us - ps->t0_us) / 1e6;

    return d > 0 ? d : 1e-9;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void print_statuses(FILE *f, const struct phasestat *ps,
                           const char *label)
{
    int i, k, any = 0;

    for (i = 0; i < OP_COUNT; i++) {
        const struct opstat *o = &ps->op[i];

        if (o->errors == 0) continue;
        for (k = 0; k < CB_NSTATUS; k++) {
            if (o->status[k] == 0 || (k != 0 && expected((enum cb_op)i, k)))
                continue;
            fprintf(f, "%s %s %d: %" PRIu32, any ? "," : label,
                    op_names[i], k, o->status[k]);
            any = 1;
        }
    }
    if (any) fputc('\n', f);
}

static uint64_t phase_total(const struct phasestat *ps, uint64_t *errs)
{
    uint64_t n = 0;
    int i;

    *errs = 0;
    for (i = 0; i < OP_COUNT; i++) {
        if (i == OP_MPOBJECT) continue;
        n += ps->op[i].count;
        *errs += ps->op[i].errors;
    }
    return n;
}

static void print_human(struct bench *b)
{
    const struct phasestat *ps = &b->run;
    double secs = phase_secs(ps);
    char smin[32], smax[32];
    uint64_t tot_ops = 0, tot_bytes = 0, n, errs;
    int i;

    fmt_size(b->size_min, smin, sizeof(smin));
    fmt_size(b->size_max, smax, sizeof(smax));
    printf("coffer-bench %s: %s/%s size=%s%s%s concurrency=%d "
           "%s elapsed=%.2fs\n",
           wl_names[b->wl], b->endpoint, b->bucket, smin,
           b->size_min != b->size_max ? "-" : "",
           b->size_min != b->size_max ? smax : "", b->concurrency,
           b->signed_payload ? "signed-payload" : "unsigned-payload", secs);
    n = phase_total(&b->prep, &errs);
    if (n)
        printf("prepare: %" PRIu64 " PUT in %.2fs (%.0f ops/s), %" PRIu64
               " errors\n",
               n, phase_secs(&b->prep), (double)n / phase_secs(&b->prep),
               errs);
    printf("%-10s %9s %7s %10s %9s %8s %8s %8s %9s\n", "op", "ops",
           "errors", "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms",
           "max ms");
    for (i = 0; i < OP_COUNT; i++) {
        const struct opstat *o = &ps->op[i];

        if (o->count == 0) continue;
        printf("%-10s %9" PRIu64 " %7" PRIu64 " %10.1f %9.2f %8.2f %8.2f "
               "%8.2f %9.2f\n",
               op_names[i], o->count, o->errors,
               (double)opstat_ok(o) / secs,
               (double)o->bytes / (double)MIB / secs, hist_pct(o, 0.50),
               hist_pct(o, 0.90), hist_pct(o, 0.99),
               (double)o->max_us / 1000.0);
        if (i != OP_MPOBJECT) {
            tot_ops += opstat_ok(o);
            tot_bytes += o->bytes;
        }
    }
    printf("%-10s %9s %7s %10.1f %9.2f   (%" PRIu64 " connections "
           "opened)\n", "TOTAL", "", "", (double)tot_ops / secs,
           (double)tot_bytes / (double)MIB / secs, ps->connects);
    if (ps->op[OP_LIST].items)
        printf("listed %" PRIu64 " keys (%.0f keys/s)\n",
               ps->op[OP_LIST].items,
               (double)ps->op[OP_LIST].items / secs);
    print_statuses(stdout, ps, "errors by status:");
    print_statuses(stdout, &b->prep, "prepare errors by status:");
    n = phase_total(&b->clean, &errs);
    if (n)
        printf("cleanup: %" PRIu64 " requests in %.2fs, %" PRIu64
               " errors\n", n, phase_secs(&b->clean), errs);
    print_statuses(stdout, &b->clean, "cleanup errors by status:");
    print_statuses(stdout, &b->setup, "setup errors by status:");
}

static void print_json_ops(FILE *f, const struct phasestat *ps, double secs)
{
    int i, k, first = 1;

    fputc('{', f);
    for (i = 0; i < OP_COUNT; i++) {
        const struct opstat *o = &ps->op[i];
        int fs = 1;

        if (o->count == 0) continue;
        fprintf(f, "%s\"%s\":{\"count\":%" PRIu64 ",\"errors\":%" PRIu64
                ",\"ops_per_s\":%.3f,\"bytes\":%" PRIu64
                ",\"mib_per_s\":%.3f,\"items\":%" PRIu64
                ",\"items_per_s\":%.3f,\"lat_ms\":{\"p50\":%.3f,"
                "\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"status\":{",
                first ? "" : ",", op_names[i], o->count, o->errors,
                (double)opstat_ok(o) / secs, o->bytes,
                (double)o->bytes / (double)MIB / secs, o->items,
                (double)o->items / secs, hist_pct(o, 0.50),
                hist_pct(o, 0.90), hist_pct(o, 0.99),
                (double)o->max_us / 1000.0);
        for (k = 0; k < CB_NSTATUS; k++) {
            if (o->status[k] == 0) continue;
            fprintf(f, "%s\"%d\":%" PRIu32, fs ? "" : ",", k, o->status[k]);
            fs = 0;
        }
        fputs("}}", f);
        first = 0;
    }
    fputc('}', f);
}

static void print_json(struct bench *b)
{
    const struct phasestat *ps = &b->run;
    double secs = phase_secs(ps);
    uint64_t tot_ops = 0, tot_bytes = 0, n, errs;
    int i;

    for (i = 0; i < OP_COUNT; i++) {
        if (i == OP_MPOBJECT) continue;
        tot_ops += opstat_ok(&ps->op[i]);
        tot_bytes += ps->op[i].bytes;
    }
    printf("{\"workload\":\"%s\",\"endpoint\":", wl_names[b->wl]);
    json_str(stdout, b->endpoint);
    printf(",\"bucket\":");
    json_str(stdout, b->bucket);
    printf(",\"size_min\":%" PRIu64 ",\"size_max\":%" PRIu64
           ",\"part_size\":%" PRIu64 ",\"concurrency\":%d"
           ",\"signed_payload\":%s,\"elapsed_s\":%.3f,\"ops\":",
           b->size_min, b->size_max, b->part_size, b->concurrency,
           b->signed_payload ? "true" : "false", secs);
    print_json_ops(stdout, ps, secs);
    printf(",\"total\":{\"ops\":%" PRIu64 ",\"ops_per_s\":%.3f"
           ",\"mib_per_s\":%.3f,\"connections\":%" PRIu64 "}", tot_ops,
           (double)tot_ops / secs, (double)tot_bytes / (double)MIB / secs,
           ps->connects);
    n = phase_total(&b->prep, &errs);
    printf(",\"prepare\":{\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
           ",\"elapsed_s\":%.3f}", n, errs,
           n ? phase_secs(&b->prep) : 0.0);
    n = phase_total(&b->clean, &errs);
    printf(",\"cleanup\":{\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
           "}", n, errs);
    printf(",\"errors\":%" PRIu64 ",\"error_samples\":[", b->total_errors);
    for (i = 0; i < b->nerrs; i++) {
        printf("%s{\"op\":\"%s\",\"status\":%ld,\"request\":",
               i ? "," : "", op_names[b->errs[i].op], b->errs[i].status);
        json_str(stdout, b->errs[i].what);
        printf(",\"body\":");
        json_str(stdout, b->errs[i].body);
        putchar('}');
    }
    printf("]}\n");
}

static void print_errors(struct bench *b)
{
    int i;

    if (b->total_errors == 0) return;
    fprintf(stderr, "coffer-bench: %" PRIu64 " failed requests; first %d:\n",
            b->total_errors, b->nerrs);
    for (i = 0; i < b->nerrs; i++) {
        const struct cb_err *e = &b->errs[i];
        char *p, flat[sizeof(e->body)];

        snprintf(flat, sizeof(flat), "%s", e->body);
        for (p = flat; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        fprintf(stderr, "  [%d] status %ld %s\n      %s\n", i + 1, e->status,
                e->what, flat[0] ? flat : "(no body)");
    }
}

/* ---- options --------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
"usage: coffer-bench WORKLOAD [options]\n"
"workloads:\n"
"  put        PUT new objects\n"
"  get        PUT --objects objects, then GET them at random\n"
"  mixed      PUT --objects objects, then GET/PUT/DELETE/HEAD by ratio\n"
"  list       PUT --objects objects, then ListObjectsV2 pages over them\n"
"  multipart  CreateMultipartUpload, parallel UploadPart, Complete\n"
"options:\n"
"  --endpoint URL       default http://127.0.0.1:9000 (path-style)\n"
"  --access-key K       default $AWS_ACCESS_KEY_ID\n"
"  --secret-key S       default $AWS_SECRET_ACCESS_KEY\n"
"  --region R           default us-east-1\n"
"  --bucket B           default coffer-bench (created if missing,\n"
"                       deleted at the end if created and --noclean unset)\n"
"  --prefix P           key prefix, default cbench/ (objects go under\n"
"                       P<run-id>/)\n"
"  --size S|LO-HI       object size, e.g. 4KiB or 1KiB-1MiB (uniform);\n"
"                       default 4KiB, multipart 64MiB\n"
"  --part-size S        multipart part size, default 8MiB\n"
"  --concurrency N      requests in flight (connections), default 8\n"
"  --duration D         run time, e.g. 10s, 500ms, 2m; default 10s\n"
"  --ops N              stop after N operations (objects for multipart)\n"
"  --objects N          objects prepared for get/mixed/list, default 1000\n"
"  --prepare-concurrency N\n"
"                       prepare PUTs in flight, default --concurrency\n"
"  --max-keys N         list page size, default 1000\n"
"  --get/--put/--delete/--head PCT\n"
"                       mixed ratios, default 45/15/10/30\n"
"  --signed-payload     sign the SHA-256 of each body (default\n"
"                       UNSIGNED-PAYLOAD)\n"
"  --timeout D          per-request timeout, default 120s\n"
"  --noclean            keep the objects (and a bucket we created)\n"
"  --existing           list: page over the objects already under --prefix\n"
"                       (used as is, no run id), no prepare, no cleanup\n"
"  --json               print one JSON object instead of the table\n"
"exit status: 0 ok, 1 if any request failed, 2 usage or setup error\n");
}

static int parse_endpoint(struct bench *b, const char *url)
{
    const char *hp = strstr(url, "://");
    size_t n;
    int w;

    if (hp == NULL || (strncmp(url, "http://", 7) != 0 &&
                       strncmp(url, "https://", 8) != 0))
        return -1;
    hp += 3;
    n = strcspn(hp, "/?#");
    if (n == 0 || n >= sizeof(b->hostport)) return -1;
    if (hp[n] == '/' && hp[n + 1] != '\0') return -1; /* no base path */
    memcpy(b->hostport, hp, n);
    b->hostport[n] = '\0';
    w = snprintf(b->endpoint, sizeof(b->endpoint), "%.*s",
                 (int)(hp - url) + (int)n, url);
    return w < 0 || (size_t)w >= sizeof(b->endpoint) ? -1 : 0;
}

static int valid_bucket(const char *s)
{
    size_t n = strlen(s), i;

    if (n < 3 || n > 63) return 0;
    for (i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
              s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

static int parse_args(struct bench *b, int argc, char **argv)
{
    int i, size_set = 0, dur_set = 0;
    const char *endpoint = "http://127.0.0.1:9000";
    uint64_t v;

    b->access_key = getenv("AWS_ACCESS_KEY_ID");
    b->secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    b->region = "us-east-1";
    b->bucket = "coffer-bench";
    b->prefix = "cbench/";
    b->size_min = b->size_max = 4 * KIB;
    b->part_size = 8 * MIB;
    b->concurrency = 8;
    b->duration_us = 10 * 1000000LL;
    b->objects = 1000;
    b->max_keys = 1000;
    b->pct[0] = 45;
    b->pct[1] = 15;
    b->pct[2] = 10;
    b->pct[3] = 30;
    b->timeout_ms = 120000;
    if (argc < 2) return -1;
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        exit(0);
    }
    for (i = 0; i < (int)(sizeof(wl_names) / sizeof(wl_names[0])); i++)
        if (strcmp(argv[1], wl_names[i]) == 0) break;
    if (i == (int)(sizeof(wl_names) / sizeof(wl_names[0]))) {
        fprintf(stderr, "coffer-bench: unknown workload '%s'\n", argv[1]);
        return -1;
    }
    b->wl = (enum cb_workload)i;

    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        char name[32];
        size_t nl;

        if (strncmp(a, "--", 2) != 0) goto bad;
        eq = strchr(a, '=');
        nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof(name)) goto bad;
        memcpy(name, a, nl);
        name[nl] = '\0';
        if (strcmp(name, "--noclean") == 0) { b->noclean = 1; continue; }
        if (strcmp(name, "--existing") == 0) { b->existing = 1; continue; }
        if (strcmp(name, "--json") == 0) { b->json = 1; continue; }
        if (strcmp(name, "--signed-payload") == 0) {
            b->signed_payload = 1;
            continue;
        }
        if (strcmp(name, "--help") == 0) { usage(stdout); exit(0); }
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else goto bad;

        if (strcmp(name, "--endpoint") == 0) endpoint = val;
        else if (strcmp(name, "--access-key") == 0) b->access_key = val;
        else if (strcmp(name, "--secret-key") == 0) b->secret_key = val;
        else if (strcmp(name, "--region") == 0) b->region = val;
        else if (strcmp(name, "--bucket") == 0) b->bucket = val;
        else if (strcmp(name, "--prefix") == 0) b->prefix = val;
        else if (strcmp(name, "--size") == 0) {
            if (parse_size_range(val, &b->size_min, &b->size_max) != 0)
                goto bad;
            size_set = 1;
        } else if (strcmp(name, "--part-size") == 0) {
            if (parse_size(val, &b->part_size) != 0) goto bad;
        } else if (strcmp(name, "--concurrency") == 0) {
            if (parse_uint(val, CB_MAX_CONCURRENCY, &v) != 0 || v == 0)
                goto bad;
            b->concurrency = (int)v;
        } else if (strcmp(name, "--prepare-concurrency") == 0) {
            if (parse_uint(val, CB_MAX_CONCURRENCY, &v) != 0 || v == 0)
                goto bad;
            b->prep_concurrency = (int)v;
        } else if (strcmp(name, "--duration") == 0) {
            if (parse_duration(val, &b->duration_us) != 0) goto bad;
            dur_set = 1;
        } else if (strcmp(name, "--timeout") == 0) {
            int64_t t;

            if (parse_duration(val, &t) != 0 || t < 1000) goto bad;
            b->timeout_ms = (long)(t / 1000);
        } else if (strcmp(name, "--ops") == 0) {
            if (parse_uint(val, UINT32_MAX, &b->ops_limit) != 0 ||
                b->ops_limit == 0)
                goto bad;
        } else if (strcmp(name, "--objects") == 0) {
            if (parse_uint(val, 100000000, &v) != 0 || v == 0) goto bad;
            b->objects = (uint32_t)v;
        } else if (strcmp(name, "--max-keys") == 0) {
            if (parse_uint(val, 1000, &v) != 0 || v == 0) goto bad;
            b->max_keys = (int)v;
        } else if (strcmp(name, "--get") == 0 || strcmp(name, "--put") == 0 ||
                   strcmp(name, "--delete") == 0 ||
                   strcmp(name, "--head") == 0) {
            int k = name[2] == 'g' ? 0 : name[2] == 'p' ? 1
                    : name[2] == 'd' ? 2 : 3;

            if (parse_uint(val, 100000, &v) != 0) goto bad;
            b->pct[k] = (int)v;
        } else {
            goto bad;
        }
        continue;
bad:
        fprintf(stderr, "coffer-bench: bad option or value: %s%s%s\n", a,
                val && !eq ? " " : "", val && !eq ? val : "");
        return -1;
    }
    if (b->ops_limit && !dur_set) b->duration_us = 0;
    if (b->wl == WL_MULTIPART && !size_set)
        b->size_min = b->size_max = 64 * MIB;
    if (parse_endpoint(b, endpoint) != 0) {
        fprintf(stderr, "coffer-bench: bad --endpoint '%s' (want "
                "http://host:port)\n", endpoint);
        return -1;
    }
    if (b->access_key == NULL || b->secret_key == NULL ||
        !b->access_key[0] || !b->secret_key[0]) {
        fprintf(stderr, "coffer-bench: no credentials (--access-key/"
                "--secret-key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)\n");
        return -1;
    }
    if (strlen(b->access_key) > 128 || strlen(b->region) > 32 ||
        strlen(b->prefix) > 512) {
        fprintf(stderr, "coffer-bench: access key, region or prefix too "
                "long\n");
        return -1;
    }
    if (b->existing && b->wl != WL_LIST) {
        fprintf(stderr, "coffer-bench: --existing is for the list "
                "workload\n");
        return -1;
    }
    if (!valid_bucket(b->bucket)) {
        fprintf(stderr, "coffer-bench: bad bucket name '%s'\n", b->bucket);
        return -1;
    }
    if (b->size_max > CB_MAX_BODY) {
        fprintf(stderr, "coffer-bench: --size above 5GiB\n");
        return -1;
    }
    if (b->wl == WL_MULTIPART) {
        if (b->part_size < CB_MIN_PART || b->part_size > CB_MAX_BODY) {
            fprintf(stderr, "coffer-bench: --part-size must be 5MiB..5GiB\n");
            return -1;
        }
        if (b->size_min == 0 ||
            (b->size_max + b->part_size - 1) / b->part_size > CB_MAX_PARTS) {
            fprintf(stderr, "coffer-bench: multipart --size must be >0 and "
                    "at most %d parts\n", CB_MAX_PARTS);
            return -1;
        }
    }
    if (b->wl == WL_MIXED &&
        b->pct[0] + b->pct[1] + b->pct[2] + b->pct[3] == 0) {
        fprintf(stderr, "coffer-bench: mixed ratios are all zero\n");
        return -1;
    }
    return 0;
}

/* ---- main ------------------------------------------------------------ */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int bench_init(struct bench *b)
{
    unsigned char rnd[16];
    char runid[17];
    size_t maxbody, i;
    int n;

    cf_random_bytes(rnd, sizeof(rnd));
    memcpy(&b->rng, rnd, 8);
    memcpy(&b->seed, rnd + 8, 8);
    b->rng |= 1;
    cf_hex_encode(rnd + 8, 4, runid);
    if (b->existing)
        n = snprintf(b->rundir, sizeof(b->rundir), "%s", b->prefix);
    else
        n = snprintf(b->rundir, sizeof(b->rundir), "%s%s/", b->prefix, runid);
    if (n < 0 || (size_t)n >= sizeof(b->rundir)) return -1;
    if (gw_sigv4_uri_encode(b->rundir, strlen(b->rundir), 1, b->enc_rundir,
                            sizeof(b->enc_rundir)) < 0)
        return -1;

    maxbody = (size_t)(b->wl == WL_MULTIPART
                           ? (b->part_size < b->size_max ? b->part_size
                                                         : b->size_max)
                           : b->size_max);
    b->payload_len = maxbody + CB_OFF_ALIGN * CB_OFF_CHOICES;
    b->payload = malloc(b->payload_len);
    if (b->payload == NULL) {
        fprintf(stderr, "coffer-bench: cannot allocate %zu payload bytes\n",
                b->payload_len);
        return -1;
    }
    for (i = 0; i + 8 <= b->payload_len; i += 8) {
        uint64_t r = rng_next(b);

        memcpy(b->payload + i, &r, 8);
    }
    for (; i < b->payload_len; i++) b->payload[i] = (char)rng_next(b);

    b->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (b->sha256 == NULL) {
        fprintf(stderr, "coffer-bench: OpenSSL has no SHA256\n");
        return -1;
    }
    b->multi = curl_multi_init();
    if (b->multi == NULL) return -1;
    if (curl_multi_setopt(b->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                          (long)b->concurrency) != CURLM_OK ||
        curl_multi_setopt(b->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          (long)b->concurrency) != CURLM_OK ||
        curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS,
                          (long)b->concurrency) != CURLM_OK)
        return -1;
    b->slots = calloc((size_t)b->concurrency, sizeof(*b->slots));
    b->free_slots = calloc((size_t)b->concurrency, sizeof(*b->free_slots));
    if (b->slots == NULL || b->free_slots == NULL) return -1;
    for (n = 0; n < b->concurrency; n++) {
        struct slot *s = &b->slots[n];

        s->index = n;
        s->resp_limit = CB_RESP_SMALL;
        if (slot_init(b, s) != 0) return -1;
        b->free_slots[b->nfree++] = n;
    }
    b->ckeys = calloc(1000, sizeof(*b->ckeys));
    if (b->ckeys == NULL) return -1;
    if (b->wl == WL_MULTIPART) {
        int np = (int)((b->size_max + b->part_size - 1) / b->part_size);

        b->mp_nparts = np;
        b->mp_max = (b->concurrency + np - 1) / np + 1;
        if (b->mp_max > b->concurrency) b->mp_max = b->concurrency;
        if (b->mp_max < 1) b->mp_max = 1;
        b->mp = calloc((size_t)b->mp_max, sizeof(*b->mp));
        if (b->mp == NULL) return -1;
        for (n = 0; n < b->mp_max; n++) {
            b->mp[n].etags = calloc((size_t)np, sizeof(b->mp[n].etags[0]));
            if (b->mp[n].etags == NULL) return -1;
        }
    }
    if (b->wl == WL_MIXED && live_reserve(b, b->objects) != 0) return -1;
    return 0;
}

static void bench_free(struct bench *b)
{
    int i;

    if (b->slots) {
        for (i = 0; i < b->concurrency; i++) {
            if (b->slots[i].easy) curl_easy_cleanup(b->slots[i].easy);
            free(b->slots[i].resp);
        }
    }
    if (b->multi) curl_multi_cleanup(b->multi);
    free(b->slots);
    free(b->free_slots);
    if (b->ckeys) ckeys_clear(b);
    free(b->ckeys);
    if (b->mp)
        for (i = 0; i < b->mp_max; i++) free(b->mp[i].etags);
    free(b->mp);
    free(b->live);
    free(b->pos);
    free(b->refs);
    free(b->payload);
    EVP_MD_free(b->sha256);
}

int main(int argc, char **argv)
{
    static struct bench bench; /* large (histograms): not on the stack */
    struct bench *b = &bench;
    struct sigaction sa;
    const struct phase *run = NULL;
    long st;
    int rc = 2, interrupted = 0;

    if (parse_args(b, argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    /* curl allocates its receive/upload buffers (256/512 KiB) at each
     * transfer's start and frees them at its end; keep such blocks in the
     * heap instead of mmap/brk-trimming them per request. */
    /* A refusal (ASan's allocator refuses) only costs speed. */
    (void)mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
    (void)mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "coffer-bench: curl_global_init failed\n");
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 ||
        sigaction(SIGTERM, &sa, NULL) != 0)
        fprintf(stderr, "coffer-bench: cannot install signal handlers\n");
    signal(SIGPIPE, SIG_IGN);

    if (bench_init(b) != 0) {
        fprintf(stderr, "coffer-bench: initialisation failed\n");
        goto out;
    }

    st = one_request(b, OP_HEADBUCKET);
    if (st == 404) {
        st = one_request(b, OP_PUTBUCKET);
        if (st != 200) {
            fprintf(stderr, "coffer-bench: cannot create bucket %s "
                    "(status %ld)\n", b->bucket, st);
            print_errors(b);
            goto out;
        }
        b->bucket_created = 1;
    } else if (st != 200) {
        fprintf(stderr, "coffer-bench: HEAD bucket %s: status %ld%s\n",
                b->bucket, st, st == 0 ? " (is the endpoint up?)" : "");
        print_errors(b);
        goto out;
    }

    if ((b->wl == WL_GET || b->wl == WL_MIXED || b->wl == WL_LIST) &&
        !b->existing) {
        if (!b->json)
            fprintf(stderr, "coffer-bench: preparing %" PRIu32
                    " objects...\n", b->objects);
        if (run_phase(b, &b->prep, &ph_prep) != 0) goto out_clean;
        b->next_id = b->objects;
        if (b->prep.op[OP_PUT].errors) {
            fprintf(stderr, "coffer-bench: %" PRIu64 " of %" PRIu32
                    " prepare PUTs failed; not running\n",
                    b->prep.op[OP_PUT].errors, b->objects);
            rc = 1;
            goto out_clean;
        }
    }

    switch (b->wl) {
    case WL_PUT: run = &ph_put; break;
    case WL_GET: run = &ph_get; break;
    case WL_MIXED: run = &ph_mixed; break;
    case WL_LIST: run = &ph_list; break;
    case WL_MULTIPART: run = &ph_mp; break;
    }
    b->deadline_us = now_us() + b->duration_us;
    if (!g_stop && run_phase(b, &b->run, run) != 0) goto out_clean;
    rc = 0;

out_clean:
    interrupted = g_stop;
    g_stop = 0; /* an interrupted run still cleans up */
    if (b->mp) {
        if (run_phase(b, &b->clean, &ph_abort) != 0) rc = 2;
    }
    if (b->existing) {
        /* the objects were there before: never touched */
    } else if (!b->noclean) {
        if (run_phase(b, &b->clean, &ph_clean) != 0) rc = 2;
        if (b->bucket_created) {
            st = one_request(b, OP_DELBUCKET);
            if (st != 204 && st != 200)
                fprintf(stderr, "coffer-bench: cannot delete bucket %s "
                        "(status %ld)\n", b->bucket, st);
        }
    } else if (!b->json) {
        fprintf(stderr, "coffer-bench: kept objects under %s/%s\n",
                b->bucket, b->rundir);
    }
    if (interrupted && !b->json)
        fprintf(stderr, "coffer-bench: interrupted; results cover the "
                "time run\n");
    if (rc == 0) {
        if (b->json) print_json(b);
        else print_human(b);
    }
    print_errors(b);
    if (rc == 0 && b->total_errors) rc = 1;
out:
    bench_free(b);
    curl_global_cleanup();
    return rc;
}
