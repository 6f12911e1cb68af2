/* gw.h: the S3 gateway. An HTTP/1.1 server on libevent bufferevents (one
 * event_base per loop thread, listening sockets shared by SO_REUSEPORT;
 * OpenSSL bufferevents when conf turns TLS on),
 * requests parsed incrementally with http_parser, authenticated with SigV4,
 * routed to S3 handlers. Every blocking step (catalog, shard I/O, fsync)
 * runs on a worker queue; loops only move bytes.
 *
 * Threads: gw_server_new() and gw_server_run() are called from main();
 * gw_server_stop() and gw_server_reload_tls() may be called from any thread
 * or a signal handler (they only write to a pipe).
 * Ownership: the server borrows conf, the catalog and the erasure set; they
 * must outlive it. */
#ifndef GW_H
#define GW_H

#include "conf.h"
#include "meta.h"
#include "ec.h"
#include "iam.h"

enum gw_status { GW_OK = 0, GW_EINVAL, GW_EIO, GW_ENOMEM };

struct gw_server;
/* Binds the listening sockets (so a port conflict is reported here) and
 * starts nothing else. The credentials the server accepts are iam's
 * (borrowed; it must outlive the server). master is the SSE-S3 master key
 * the caller loaded with gw_master_key_load() (copied; checked against the
 * catalog's K/sse-master here), so a KMS command runs once per start. */
enum gw_status gw_server_new(const struct conf *conf, struct meta_db *db,
                             struct ec_set *set, struct iam *iam,
                             const unsigned char master[32],
                             struct gw_server **out);
/* Runs the loops until gw_server_stop(); returns after every loop thread and
 * worker has finished. */
enum gw_status gw_server_run(struct gw_server *srv);
void gw_server_stop(struct gw_server *srv);
/* Called from a worker thread with the data id and size of each stored
 * object a read found missing or corrupt shards in (it was served from
 * parity), so it can be healed. Set before gw_server_run(). */
typedef void (*gw_degraded_fn)(const char *data_id, uint64_t size,
                               void *arg);
void gw_server_on_degraded(struct gw_server *srv, gw_degraded_fn fn,
                           void *arg);
/* Reads the TLS certificate and key again (SIGHUP), off the loops: new
 * connections get the new certificate once it has loaded, open ones keep
 * theirs; a failure is logged and the old certificate stays. Async-signal-
 * safe; a no-op without TLS. */
void gw_server_reload_tls(struct gw_server *srv);
/* With TLS on, returns 1 and fills the certificate file in use, whether it
 * is the generated self-signed one, and the SHA-256 fingerprint of the
 * certificate new connections get ("AB:CD:..."; 96 bytes suffice). Without
 * TLS returns 0. */
int gw_server_tls_info(struct gw_server *srv, char *cert, size_t certcap,
                       int *self_signed, char *fp, size_t fpcap);
void gw_server_free(struct gw_server *srv);

/* ---- the SSE-S3 master key (gw_sse_key.c) ----
 * 32 bytes that wrap every SSE-S3 data key. Sources, first that is set:
 * COFFER_MASTER_KEY (64 hex digits), encryption.kms_command (a program
 * whose stdout is 64 hex digits and at most one newline), the key file
 * encryption.master_key_file (32 raw bytes, mode 0600, created on first
 * start). The catalog records the key's id (K/sse-master) and refuses
 * any other key. Every loader logs its error and returns -1. */
#define GW_KMS_TIMEOUT_MS 30000
/* create: make a missing key file (the server's first start). */
int gw_master_key_load(const struct conf *conf, int create,
                       unsigned char out[32]);
/* A key file; create: make it (32 random bytes, mode 0600) when missing.
 * Refused when group or others may read it or it is not 32 bytes. */
int gw_master_key_from_file(const char *path, int create,
                            unsigned char out[32]);
/* Runs cmd, split at spaces and tabs (no shell; the first word is an
 * absolute path), stdin /dev/null, stderr inherited, coffer's environment
 * less COFFER_ROOT_SECRET_KEY and COFFER_MASTER_KEY; killed after
 * timeout_ms. It must exit 0 having printed the key as 64 hex digits and
 * at most one newline. */
int gw_master_key_from_command(const char *cmd, int timeout_ms,
                               unsigned char out[32]);
/* The key's public id: the first 8 bytes of HMAC-SHA256(key,
 * "coffer-master-key-id-1"), never 0. */
uint64_t gw_master_key_id(const unsigned char key[32]);
/* At start: GW_OK if the catalog's key is this one, or no SSE-S3 record
 * depends on its key (the key is then recorded; a catalog from before key
 * ids must have its records open with this key); GW_EINVAL, logged, when
 * it is another key or a rotation is unfinished; GW_EIO. */
enum gw_status gw_master_key_check(struct meta_db *db,
                                   const unsigned char key[32]);
struct gw_rotate_stats {
    uint64_t old_id, new_id;
    int resumed;                 /* an unfinished rotation was resumed */
    uint64_t versions_rewrapped; /* SSE-S3 versions re-wrapped now */
    uint64_t versions_current;   /* already under the new key */
    uint64_t uploads_rewrapped;  /* uploads in progress, likewise */
    uint64_t uploads_current;
    uint64_t failed;             /* records neither key unwraps */
};
/* Re-wraps the data key of every SSE-S3 version and upload in progress
 * from old_key to new_key, one synced write per record, then records
 * new_key as the catalog's key. Needs the catalog to itself (a stopped
 * server). Resumable: after a crash or an error, the same call finishes
 * the work (records already under new_key are skipped); until then the
 * server refuses to start. GW_EINVAL (logged) for keys that do not fit
 * the catalog or records neither key opens, GW_EIO. */
enum gw_status gw_master_key_rotate(struct meta_db *db,
                                    const unsigned char old_key[32],
                                    const unsigned char new_key[32],
                                    struct gw_rotate_stats *st);

#endif /* GW_H */
