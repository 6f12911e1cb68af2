/* conf.h: coffer's configuration: built-in defaults, the YAML file (libyaml),
 * command-line overrides, and validation. Every error names the file, line
 * and key: "coffer.yaml:12: erasure.parity: must be between 0 and 16".
 *
 * Threads: a struct conf is built once at start by one thread, then read-only
 * and shared by every thread.
 * Ownership: conf_cleanup() frees every heap field; the caller owns the
 * struct itself. */
#ifndef CONF_H
#define CONF_H

#include <stddef.h>
#include <stdint.h>

enum conf_status { CONF_OK = 0, CONF_EINVAL, CONF_EIO, CONF_ENOMEM };
/* A short text for st ("invalid configuration"); never NULL. */
const char *conf_strerror(enum conf_status st);

#define CONF_MAX_DISKS 256    /* in the disks list */
#define CONF_MAX_SET_DISKS 32 /* data + parity, one erasure set */
#define CONF_MAX_SETS 16      /* erasure sets (then of at most 16 disks) */
#define CONF_ERR_MAX 512

struct conf_user {
    char *access_key;      /* 3..128 chars [A-Za-z0-9_.-] */
    char *secret_key;      /* 8..128 chars */
    int admin;             /* may use the admin API, bypass governance */
};

struct conf {
    char *path;            /* config file read, or NULL */
    char *listen;          /* "127.0.0.1:9000" */
    char *console_listen;  /* "127.0.0.1:8443" */
    char *data_dir;        /* "./coffer-data" */
    char **disks;          /* ndisks paths; default data_dir/disk1..N;
                              a multiple of data + parity: several erasure
                              sets (of at most 16 disks) */
    int ndisks;
    char *meta_dir;        /* default data_dir/meta */
    int ec_data;           /* K, default 4 */
    int ec_parity;         /* M, default 2 */
    size_t stripe_size;    /* erasure.block_size: data bytes per stripe,
                              default 1 MiB, 64 KiB..16 MiB, multiple of
                              64*K */
    size_t pack_threshold; /* erasure.pack_threshold: versions of at most
                              this many bytes go to pack segments; default
                              128 KiB, 0 (off)..1 MiB, capped at the
                              block size */
    int max_threads;       /* event-loop threads, default = online cores */
    int io_threads;        /* disk worker threads, default 8 */
    size_t buffer_size;    /* socket read/write high watermark, default
                              256 KiB */
    char *region;          /* "us-east-1" */
    char *domain;          /* virtual-host base, e.g. "s3.example.com";
                              NULL: path-style only */
    char *log_level;       /* err|warn|notice|info|debug, default notice */
    /* limits */
    size_t max_header_bytes;   /* 64 KiB */
    size_t max_xml_bytes;      /* 1 MiB */
    uint64_t max_object_bytes; /* single PUT, 5 GiB */
    int max_connections;       /* 1024 */
    int max_conns_per_addr;    /* max_connections_per_address: open
                                  connections from one IPv4 address or
                                  IPv6 /64, 256; 0 = no limit */
    size_t body_min_rate;      /* bytes/s a body must average over each
                                  body_timeout window (unless the server
                                  held it back), 1 KiB; 0 = no minimum */
    int idle_timeout_s;        /* keep-alive idle, 60 */
    int header_timeout_s;      /* whole request head must arrive, 30 */
    int body_timeout_s;        /* no body byte for this long, 60 */
    size_t read_ahead_total;   /* GET data read from disk and not yet sent,
                                  all connections together, 32 MiB */
    /* heal: background scrubbing and catalog checkpoints */
    size_t scrub_rate;         /* bytes/s the scrubber reads, 16 MiB; 0 off */
    int scrub_interval_s;      /* pause between scrub passes, 7 days */
    int checkpoint_interval_s; /* catalog checkpoints, 1 h; 0 off */
    int checkpoint_keep;       /* newest checkpoints kept per disk, 3 */
    /* lifecycle: the scanner applying buckets' lifecycle rules */
    int lifecycle_interval_s;  /* pause between passes, 1 h; 0 off */
    /* audit log export (audit:) */
    int audit_export_interval_s;   /* export_interval: 1h; 0 disables */
    char *audit_export_bucket;     /* export_bucket: "coffer-audit" */
    int audit_export_retain_years; /* export_retention_years: 7, 1..100 */
    struct conf_user *users;   /* from the file; root is added by cmd/ */
    int nusers;
    /* TLS (tls: in the file). Off by default: plain HTTP. */
    int tls_enabled;       /* tls.enabled / --tls; conf_finalize() sets it
                              when tls_cert is given */
    char *tls_cert;        /* tls.cert: PEM certificate (chain), or NULL */
    char *tls_key;         /* tls.key: PEM private key, or NULL; given
                              together with tls_cert. Enabled without
                              either: a self-signed pair in data_dir/tls/ */
    /* server-side encryption (encryption: in the file) */
    char *master_key_file; /* encryption.master_key_file: 32 raw bytes,
                              mode 0600, created on first start; default
                              data_dir/master.key; never inside a disk
                              directory. COFFER_MASTER_KEY (64 hex digits)
                              in the environment overrides it. NULL
                              when kms_command is set. */
    char *kms_command;     /* encryption.kms_command: a program printing
                              the master key as 64 hex digits, run without
                              a shell at start; NULL: none. Overrides
                              master_key_file (both in one file is an
                              error); COFFER_MASTER_KEY overrides it. */
};

/* Fills every field with the built-in default (data_dir "./coffer-data";
 * disks, meta_dir left NULL until conf_finalize()). */
enum conf_status conf_init_defaults(struct conf *c);
/* Reads a YAML file over the current values. On error writes
 * "file:line: key: reason" into err (errlen bytes) and returns CONF_EINVAL
 * (or CONF_EIO if the file cannot be read). */
enum conf_status conf_load_file(struct conf *c, const char *path, char *err,
                                size_t errlen);
/* Replaces a string field (for command-line flags); takes a copy. */
enum conf_status conf_set_str(char **field, const char *value);
/* Derives what was left unset (disks = data_dir/disk1..K+M, meta_dir =
 * data_dir/meta, max_threads = cores, tls_enabled when a certificate is
 * given) and validates cross-field rules (ndisks == K + M, listen addresses
 * parse, tls.cert and tls.key together). On error fills err. */
enum conf_status conf_finalize(struct conf *c, char *err, size_t errlen);
void conf_cleanup(struct conf *c);

/* Parses "host:port" or "[v6]:port"; host copied into host (hostcap). */
int conf_parse_addr(const char *s, char *host, size_t hostcap, int *port);

#endif /* CONF_H */
