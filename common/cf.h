/* cf.h: small shared utilities every coffer module may use: logging, the
 * always-on check macro, borrowed string slices, hex, randomness, time
 * formatting, a fixed-size buffer pool and a bounded worker queue.
 *
 * Threads: every function here is thread-safe unless its comment says
 * otherwise. This module depends on nothing but libc, pthreads and OpenSSL's
 * RAND_bytes. */
#ifndef CF_H
#define CF_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

/* ---- logging ---------------------------------------------------------- */

enum cf_log_level { CF_LOG_ERR, CF_LOG_WARN, CF_LOG_NOTICE, CF_LOG_INFO,
                    CF_LOG_DEBUG };

#define CF_LOG_MAX_LINE 2048 /* longer lines are truncated */

extern int cf_log_verbosity; /* lines above this level are not formatted */

void cf_log_set_level(enum cf_log_level level);
void cf_log_raw(enum cf_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cf_log(level, fmt, ...): one bounded line to stderr, lower case, no final
 * period. The level is checked before the arguments are formatted. */
#define cf_log(level, ...)                                                   \
    do {                                                                     \
        if ((int)(level) <= cf_log_verbosity) cf_log_raw((level), __VA_ARGS__); \
    } while (0)

/* cf_check(cond): stays on in release builds. Use it for WORM and durability
 * invariants: on failure it logs file:line and the condition, then aborts. */
#define cf_check(cond)                                                       \
    do {                                                                     \
        if (!(cond)) cf_check_failed(#cond, __FILE__, __LINE__);             \
    } while (0)
void cf_check_failed(const char *cond, const char *file, int line)
    __attribute__((noreturn));

/* ---- borrowed slices ------------------------------------------------- */

/* A borrowed (ptr, len) view of bytes owned by someone else; never NUL
 * terminated by contract. */
struct cf_str {
    const char *p; /* first byte, may be NULL when len == 0 */
    size_t len;    /* byte count */
};
#define CF_STR_LIT(s) ((struct cf_str){ (s), sizeof(s) - 1 })
int cf_str_eq(struct cf_str a, const char *lit);      /* exact */
int cf_str_caseeq(struct cf_str a, const char *lit);  /* ASCII case-fold */
/* Copy into a freshly malloc'ed NUL-terminated string; NULL on ENOMEM. */
char *cf_str_dup(struct cf_str s);

/* errno text, thread-safe, whichever strerror_r the C library has. Returns
 * a string valid until buf is reused. */
const char *cf_strerror(int err, char *buf, size_t len);

/* ---- hex, random ----------------------------------------------------- */

/* Writes 2*len lower-case hex digits plus a NUL to out (size >= 2*len+1). */
void cf_hex_encode(const void *in, size_t len, char *out);
/* Decodes 2*outlen hex digits; returns 0, or -1 on a bad digit. */
int cf_hex_decode(const char *in, size_t inlen, void *out, size_t outlen);
/* Cryptographically strong random bytes (OpenSSL RAND_bytes); aborts via
 * cf_check on failure, which only happens when the system has no entropy. */
void cf_random_bytes(void *out, size_t len);

/* ---- base64 ---------------------------------------------------------- */

/* Encodes len bytes; out must hold 4*((len+2)/3)+1 bytes. Returns length. */
size_t cf_base64_encode(const void *in, size_t len, char *out);
/* Decodes standard base64 (with padding); returns decoded length or -1 on
 * malformed input or if it would exceed outcap. */
long cf_base64_decode(const char *in, size_t len, void *out, size_t outcap);

/* ---- keys: AES-256-GCM key wrapping ---------------------------------
 * Moved here from gateway/gw_sse_crypto.c so that iam/ wraps user secrets
 * under the SSE master key without depending on the gateway. Keys are
 * borrowed for the call; callers wipe their copies (OPENSSL_cleanse). */

#define CF_KEY_LEN 32        /* AES-256 */
#define CF_KEY_TAG 16        /* GCM tag */
#define CF_KEY_WRAPPED 60    /* a wrapped key: iv 12 | ct 32 | tag 16 */

/* One AES-256-GCM operation in place over len bytes of buf: enc 1 seals
 * (writes tag), 0 opens (checks tag). 0, or -1 (bad tag, OpenSSL error;
 * the error queue is drained). */
int cf_gcm(int enc, const unsigned char key[CF_KEY_LEN],
           const unsigned char iv[12], const unsigned char *aad,
           size_t aadlen, unsigned char *buf, size_t len,
           unsigned char tag[CF_KEY_TAG]);
/* Wraps a 32-byte key under kek (AES-256-GCM, random IV) with aad (a short
 * NUL-terminated label binding the key's use). 0 or -1. */
int cf_key_wrap(const unsigned char kek[CF_KEY_LEN],
                const unsigned char key[CF_KEY_LEN], const char *aad,
                unsigned char out[CF_KEY_WRAPPED]);
/* Unwraps; -1 when len is wrong, or kek or aad differ (tag failure). */
int cf_key_unwrap(const unsigned char kek[CF_KEY_LEN],
                  const unsigned char *in, size_t len, const char *aad,
                  unsigned char key[CF_KEY_LEN]);

/* ---- time ------------------------------------------------------------ */

/* mkdir -p with mode 0700 for every missing component: 0, or -1 with
 * errno (ENAMETOOLONG beyond 4095 bytes). */
int cf_mkdir_p(const char *path);
int64_t cf_now_ms(void);        /* CLOCK_REALTIME, milliseconds since epoch */
int64_t cf_monotonic_ms(void);  /* CLOCK_MONOTONIC, for timeouts */

#define CF_ISO8601_LEN 32
/* "2026-11-23T05:50:53.123Z" (UTC, milliseconds); 64-bit safe to year 9999. */
void cf_fmt_iso8601_ms(int64_t ms, char out[CF_ISO8601_LEN]);
/* "Mon, 23 Nov 2026 05:50:53 GMT" (RFC 7231 IMF-fixdate). */
void cf_fmt_http_date(int64_t sec, char out[CF_ISO8601_LEN]);
/* "20261123T055053Z" (SigV4 x-amz-date) and "20261123". */
void cf_fmt_amz_date(int64_t sec, char out[CF_ISO8601_LEN]);
/* Parse IMF-fixdate (and RFC 850 / asctime as RFC 7231 requires of
 * recipients); returns 0 and sets *sec, or -1. */
int cf_parse_http_date(struct cf_str s, int64_t *sec);
/* Parse "YYYYMMDDTHHMMSSZ"; returns 0 or -1. */
int cf_parse_amz_date(struct cf_str s, int64_t *sec);
/* Parse ISO 8601 "YYYY-MM-DDTHH:MM:SS[.fff]Z" (or +00:00); 0 or -1. */
int cf_parse_iso8601_ms(struct cf_str s, int64_t *ms);
/* Days since 1970-01-01 for a proleptic Gregorian date, and back; no
 * dependency on time_t width or the C library's gmtime. */
int64_t cf_days_from_civil(int64_t y, unsigned m, unsigned d);
void cf_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* ---- buffer pool ----------------------------------------------------- */

/* A fixed set of count equal-size blocks, allocated once. Thread-safe.
 * Blocks are handed out whole; cf_pool_get returns NULL when all are in
 * use (the caller pauses and retries when one is put back). */
struct cf_pool;
struct cf_pool *cf_pool_new(size_t block_size, size_t count);
void cf_pool_free(struct cf_pool *pool); /* all blocks must be back */
void *cf_pool_get(struct cf_pool *pool);
void cf_pool_put(struct cf_pool *pool, void *block);
size_t cf_pool_block_size(const struct cf_pool *pool);
size_t cf_pool_available(struct cf_pool *pool);

/* ---- worker queue ---------------------------------------------------- */

/* A bounded FIFO of jobs run by a fixed set of worker threads. A job is
 * embedded in the caller's struct; the queue never allocates per job.
 * work() runs on a worker thread and may block on disks; then complete() runs
 * on the same worker thread and is where the caller hands the job back to
 * its owner (for the gateway: push onto the loop's done-queue and wake it).
 * Ownership: from cf_workq_post() until complete() the job and everything it
 * points to belong to the worker. */
struct cf_job;
typedef void (*cf_job_fn)(struct cf_job *job);
struct cf_job {
    cf_job_fn work;         /* runs on a worker thread */
    cf_job_fn complete;     /* runs right after work, same thread */
    struct cf_job *next;    /* queue link, owned by the queue */
};
struct cf_workq;
struct cf_workq *cf_workq_new(int threads, size_t max_queued);
/* Returns 0, or -1 when max_queued jobs are already waiting (the caller keeps
 * the job and must retry later). */
int cf_workq_post(struct cf_workq *q, struct cf_job *job);
/* Runs every queued job to completion, then joins the threads. */
void cf_workq_free(struct cf_workq *q);

/* ---- CRCs ------------------------------------------------------------ */

/* Reflected polynomials of the CRCs S3 uses (init = xorout = all ones). */
#define CF_CRC32_POLY 0xedb88320u             /* CRC-32 (zlib, gzip) */
#define CF_CRC32C_POLY 0x82f63b78u            /* CRC-32C (Castagnoli) */
#define CF_CRC64NVME_POLY 0x9a6c9329ac4bc9b5ULL /* CRC-64/NVME */

/* CRC-64/NVME of n bytes, continuing from crc, the value returned for the
 * bytes before (0 for none), like zlib's crc32(): feeding a buffer in
 * pieces gives the same value as feeding it whole. Table-driven
 * (slicing-by-8); the tables are built on first use, thread-safely. */
uint64_t cf_crc64nvme(uint64_t crc, const void *p, size_t n);

/* CRC(A||B) from crc_a = CRC(A), crc_b = CRC(B) and len_b = |B| bytes, for
 * any reflected CRC of width bits (9..64, e.g. 32 or 64) whose init equals
 * its xorout (CRC-32, CRC-32C, CRC-64/NVME): poly is the reflected
 * polynomial (CF_CRC*_POLY). Costs O(width * log len_b) shifts. */
uint64_t cf_crc_combine(uint64_t poly, unsigned width, uint64_t crc_a,
                        uint64_t crc_b, uint64_t len_b);

#endif /* CF_H */
