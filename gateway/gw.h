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
 * (borrowed; it must outlive the server). */
enum gw_status gw_server_new(const struct conf *conf, struct meta_db *db,
                             struct ec_set *set, struct iam *iam,
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

#endif /* GW_H */
