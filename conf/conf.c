/* conf.c: coffer's configuration: built-in defaults, the YAML file,
 * command-line overrides, and validation.
 *
 * The file is read whole (at most CONF_FILE_MAX bytes) and parsed with
 * libyaml's event API into a small tree of struct cnode, each node keeping
 * its line; every error reads "FILE:LINE: key.path: reason". We build the
 * tree ourselves rather than use libyaml's document loader because the
 * loader recurses without limit (a 1 MiB "[[[[..." runs for minutes) and
 * leaks on some allocation failures; here nesting is capped at
 * CONF_MAX_DEPTH, the node count at CONF_MAX_NODES, and aliases are refused.
 * The schema is one table per mapping (top_keys, erasure_keys, limits_keys,
 * tls_keys, user_keys). A key missing from its table is an error, so a typo
 * never falls back silently to a default; a key given twice in one mapping is
 * an error too (libyaml accepts both).
 *
 * Invariants:
 * - every heap field of struct conf is NULL or owned by it at every moment,
 *   also halfway through a failed load, so conf_cleanup() always frees all;
 * - a value from the file is range-checked when it is read, against its
 *   table row; rules joining several keys (block_size against data, the disk
 *   count against data + parity) are checked at the end of the load with the
 *   line of the key that broke them, and again by conf_finalize() for values
 *   that did not come from a file;
 * - secret keys are never copied into an error message.
 */
#include "conf.h"
#include "cf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

#define CONF_FILE_MAX (1024 * 1024) /* bigger files are refused */
#define CONF_MAX_USERS 1000         /* more belong in `coffer user add` */
#define CONF_PATH_MAX 4000          /* leaves room for "/diskNN" etc. */
#define CONF_KEY_MAX 96             /* "users[999].access_key" fits */
#define CONF_MAX_DEPTH 32           /* nesting; the schema needs 3 */
#define CONF_MAX_NODES 100000       /* values in one file */

/* ---- the schema ------------------------------------------------------ */

enum ck_kind {
    CK_STR,      /* char *, required, non-empty */
    CK_STR_OPT,  /* char *, null or empty value unsets it (NULL) */
    CK_SECRET,   /* char *, like CK_STR but never echoed in messages */
    CK_BOOL,     /* int 0/1 */
    CK_INT,      /* int in lo..hi */
    CK_SIZE,     /* size_t bytes in lo..hi, K/KiB/M/MiB/G/GiB suffixes */
    CK_SIZE64,   /* uint64_t, same syntax */
    CK_DURATION, /* int seconds in lo..hi, s/m/h suffixes */
    CK_MAP,      /* nested mapping described by sub, same base struct */
    CK_DISKS,    /* the disks list */
    CK_USERS,    /* the users list */
};

/* Keys whose line the joint checks need; 0 in loader.line = not in file. */
enum ck_mark {
    MK_NONE,
    MK_DATA,
    MK_PARITY,
    MK_BLOCK,
    MK_DISKS,
    MK_TLS_ON,
    MK_TLS_CERT,
    MK_TLS_KEY,
    MK_KEY_FILE,
    MK_KMS,
    MK_N
};

/* Returns NULL when s is acceptable, else the reason (a static string). */
typedef const char *(*ck_check_fn)(const char *s);

struct ck {
    const char *name; /* YAML key */
    enum ck_kind kind;
    size_t off;           /* field offset in the base struct */
    uint64_t lo, hi;      /* range for numbers, sizes, durations */
    const struct ck *sub; /* CK_MAP: the nested table */
    ck_check_fn check;    /* strings: extra validation, or NULL */
    enum ck_mark mark;    /* remember the key's line for joint checks */
};

static const char *check_addr(const char *s);
static const char *check_console(const char *s);
static const char *check_path(const char *s);
static const char *check_region(const char *s);
static const char *check_domain(const char *s);
static const char *check_level(const char *s);
static const char *check_access_key(const char *s);
static const char *check_bucket(const char *s);
static const char *check_secret_key(const char *s);
static const char *check_kms(const char *s);

#define OFF(f) offsetof(struct conf, f)
#define UOFF(f) offsetof(struct conf_user, f)

/* NULL if ndisks disks form erasure sets of per disks each, else the end
 * of the error message saying why not. */
static const char *sets_problem(int ndisks, int per)
{
    if (per < 1 || ndisks == per) return NULL;
    if (ndisks % per != 0)
        return " (or a multiple of it: several erasure sets)";
    if (per > 16)
        return ": several erasure sets need data + parity <= 16";
    if (ndisks / per > CONF_MAX_SETS)
        return ": at most 16 erasure sets";
    return NULL;
}

static const struct ck erasure_keys[] = {
    {"data", CK_INT, OFF(ec_data), 1, 16, NULL, NULL, MK_DATA},
    {"parity", CK_INT, OFF(ec_parity), 0, 16, NULL, NULL, MK_PARITY},
    {"block_size", CK_SIZE, OFF(stripe_size), 64 * KIB, 16 * MIB, NULL, NULL,
     MK_BLOCK},
    {"pack_threshold", CK_SIZE, OFF(pack_threshold), 0, MIB, NULL, NULL,
     MK_NONE},
    {NULL, CK_STR, 0, 0, 0, NULL, NULL, MK_NONE},
};

static const struct ck limits_keys[] = {
    {"max_header_bytes", CK_SIZE, OFF(max_header_bytes), KIB, MIB, NULL, NULL,
     MK_NONE},
    {"max_xml_bytes", CK_SIZE, OFF(max_xml_bytes), KIB, 16 * MIB, NULL, NULL,
     MK_NONE},
    {"max_object_size", CK_SIZE64, OFF(max_object_bytes), 1, 5 * GIB, NULL,
     NULL, MK_NONE},
    {"max_connections", CK_INT, OFF(max_connections), 1, 1048576, NULL, NULL,
     MK_NONE},
    {"max_connections_per_address", CK_INT, OFF(max_conns_per_addr), 0,
     1048576, NULL, NULL, MK_NONE},
    {"body_min_rate", CK_SIZE, OFF(body_min_rate), 0, GIB, NULL, NULL,
     MK_NONE},
    {"idle_timeout", CK_DURATION, OFF(idle_timeout_s), 1, 86400, NULL, NULL,
     MK_NONE},
    {"header_timeout", CK_DURATION, OFF(header_timeout_s), 1, 3600, NULL, NULL,
     MK_NONE},
    {"body_timeout", CK_DURATION, OFF(body_timeout_s), 1, 3600, NULL, NULL,
     MK_NONE},
    {"read_ahead_total", CK_SIZE, OFF(read_ahead_total), MIB, 16 * GIB, NULL,
     NULL, MK_NONE},
    {NULL, CK_STR, 0, 0, 0, NULL, NULL, MK_NONE},
};

static const struct ck heal_keys[] = {
    {"scrub_rate", CK_SIZE, OFF(scrub_rate), 0, GIB, NULL, NULL, MK_NONE},
    {"scrub_interval", CK_DURATION, OFF(scrub_interval_s), 1, 366 * 86400,
     NULL, NULL, MK_NONE},
    {"checkpoint_interval", CK_DURATION, OFF(checkpoint_interval_s), 0,
     7 * 86400, NULL, NULL, MK_NONE},
    {"checkpoint_keep", CK_INT, OFF(checkpoint_keep), 1, 100, NULL, NULL,
     MK_NONE},
    {NULL, CK_STR, 0, 0, 0, NULL, NULL, MK_NONE},
};

static const struct ck lifecycle_keys[] = {
    {"interval", CK_DURATION, OFF(lifecycle_interval_s), 0, 7 * 86400, NULL,
     NULL, MK_NONE},
    {NULL, CK_STR, 0, 0, 0, NULL, NULL, MK_NONE},
};

static const struct ck tls_keys[] = {
    {"enabled", CK_BOOL, OFF(tls_enabled), 0, 0, NULL, NULL, MK_TLS_ON},
    {"cert", CK_STR_OPT, OFF(tls_cert), 0, 0, NULL, check_path, MK_TLS_CERT},
    {"key", CK_STR_OPT, OFF(tls_key), 0, 0, NULL, check_path, MK_TLS_KEY},
    {NULL, CK_STR, 0, 0, 0, NULL, NULL, MK_NONE},
};

static const struct ck encryption_keys[] = {
    {"master_key_file", CK_STR_OPT, OFF(master_key_file), 0, 0, NULL,
     check_path, MK_KEY_FILE},
    {"kms_command", CK_STR_OPT, OFF(kms_command), 0, 0, NULL, check_kms,
     MK_KMS},
    {NULL, CK_STR, 0, 0, 0, NULL, NULL, MK_NONE},
};

static const struct ck audit_keys[] = {
    {"export_interval", CK_DURATION, OFF(audit_export_interval_s), 0,
     7 * 86400, NULL, NULL, MK_NONE},
    {"export_bucket", CK_STR, OFF(audit_export_bucket), 0, 0, NULL,
     check_bucket, MK_NONE},
    {"export_retention_years", CK_INT, OFF(audit_export_retain_years), 1, 100,
     NULL, NULL, MK_NONE},
    {NULL, CK_STR, 0, 0, 0, NULL, NULL, MK_NONE},
};

static const struct ck top_keys[] = {
    {"listen", CK_STR, OFF(listen), 0, 0, NULL, check_addr, MK_NONE},
    {"console_listen", CK_STR, OFF(console_listen), 0, 0, NULL,
     check_console, MK_NONE},
    {"data_dir", CK_STR, OFF(data_dir), 0, 0, NULL, check_path, MK_NONE},
    {"disks", CK_DISKS, 0, 0, 0, NULL, check_path, MK_DISKS},
    {"meta_dir", CK_STR_OPT, OFF(meta_dir), 0, 0, NULL, check_path, MK_NONE},
    {"erasure", CK_MAP, 0, 0, 0, erasure_keys, NULL, MK_NONE},
    {"max_threads", CK_INT, OFF(max_threads), 1, 256, NULL, NULL, MK_NONE},
    {"io_threads", CK_INT, OFF(io_threads), 1, 256, NULL, NULL, MK_NONE},
    {"buffer_size", CK_SIZE, OFF(buffer_size), 16 * KIB, 64 * MIB, NULL, NULL,
     MK_NONE},
    {"region", CK_STR, OFF(region), 0, 0, NULL, check_region, MK_NONE},
    {"domain", CK_STR_OPT, OFF(domain), 0, 0, NULL, check_domain, MK_NONE},
    {"log_level", CK_STR, OFF(log_level), 0, 0, NULL, check_level, MK_NONE},
    {"limits", CK_MAP, 0, 0, 0, limits_keys, NULL, MK_NONE},
    {"heal", CK_MAP, 0, 0, 0, heal_keys, NULL, MK_NONE},
    {"tls", CK_MAP, 0, 0, 0, tls_keys, NULL, MK_NONE},
    {"audit", CK_MAP, 0, 0, 0, audit_keys, NULL, MK_NONE},
    {"encryption", CK_MAP, 0, 0, 0, encryption_keys, NULL, MK_NONE},
    {"lifecycle", CK_MAP, 0, 0, 0, lifecycle_keys, NULL, MK_NONE},
    {"users", CK_USERS, 0, 0, 0, NULL, NULL, MK_NONE},
    {NULL, CK_STR, 0, 0, 0, NULL, NULL, MK_NONE},
};

static const struct ck user_keys[] = {
    {"access_key", CK_STR, UOFF(access_key), 0, 0, NULL, check_access_key,
     MK_NONE},
    {"secret_key", CK_SECRET, UOFF(secret_key), 0, 0, NULL, check_secret_key,
     MK_NONE},
    {"admin", CK_BOOL, UOFF(admin), 0, 0, NULL, NULL, MK_NONE},
    {NULL, CK_STR, 0, 0, 0, NULL, NULL, MK_NONE},
};

static const char *const log_levels[] = {"err",  "warn",  "notice",
                                         "info", "debug", NULL};

/* ---- small helpers --------------------------------------------------- */

static void put_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A value quoted back in a message: at most 48 bytes, control and non-ASCII
 * bytes shown as '?', so a message stays one printable line. */
static const char *shown(const char *s, char *buf, size_t cap)
{
    size_t i, n = 0;

    for (i = 0; s[i] != '\0' && n + 4 < cap && i < 48; i++)
        buf[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i] != '\0' && n + 4 < cap) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* "64KiB", "5GiB", or plain bytes when not a whole unit. */
static const char *fmt_size(uint64_t v, char *buf, size_t cap)
{
    if (v != 0 && v % GIB == 0)
        snprintf(buf, cap, "%" PRIu64 "GiB", v / GIB);
    else if (v != 0 && v % MIB == 0)
        snprintf(buf, cap, "%" PRIu64 "MiB", v / MIB);
    else if (v != 0 && v % KIB == 0)
        snprintf(buf, cap, "%" PRIu64 "KiB", v / KIB);
    else
        snprintf(buf, cap, "%" PRIu64, v);
    return buf;
}

static const char *fmt_duration(uint64_t v, char *buf, size_t cap)
{
    if (v != 0 && v % 3600 == 0)
        snprintf(buf, cap, "%" PRIu64 "h", v / 3600);
    else if (v != 0 && v % 60 == 0)
        snprintf(buf, cap, "%" PRIu64 "m", v / 60);
    else
        snprintf(buf, cap, "%" PRIu64 "s", v);
    return buf;
}

/* Decimal digits at s (at least one). 0 with *end past them, -1 when s
 * does not start with a digit, -2 on overflow. */
static int parse_digits(const char *s, uint64_t *v, const char **end)
{
    uint64_t x = 0;

    if (*s < '0' || *s > '9') return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (x > (UINT64_MAX - 9) / 10) return -2;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    *end = s;
    return 0;
}

/* Sizes: "65536", "64K", "64KiB", "1M", "1MiB", "5G", "5GiB", an optional
 * space before the unit. KB/MB/GB are refused: 1000 or 1024 is ambiguous.
 * 0, -1 (syntax) or -2 (too large). */
static int parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *sfx;
        uint64_t mul;
    } units[] = {
        {"", 1},      {"K", KIB}, {"KiB", KIB}, {"M", MIB},
        {"MiB", MIB}, {"G", GIB}, {"GiB", GIB},
    };
    const char *e;
    uint64_t v;
    size_t i;
    int rc = parse_digits(s, &v, &e);

    if (rc != 0) return rc;
    if (*e == ' ' && e[1] != '\0') e++;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(e, units[i].sfx) != 0) continue;
        if (v > UINT64_MAX / units[i].mul) return -2;
        *out = v * units[i].mul;
        return 0;
    }
    return -1;
}

/* Durations in seconds: "30", "30s", "5m", "1h". 0, -1 or -2. */
static int parse_duration(const char *s, uint64_t *out)
{
    const char *e;
    uint64_t v, mul;
    int rc = parse_digits(s, &v, &e);

    if (rc != 0) return rc;
    if (strcmp(e, "") == 0 || strcmp(e, "s") == 0)
        mul = 1;
    else if (strcmp(e, "m") == 0)
        mul = 60;
    else if (strcmp(e, "h") == 0)
        mul = 3600;
    else
        return -1;
    if (v > UINT64_MAX / mul) return -2;
    *out = v * mul;
    return 0;
}

/* An optional '-' and decimal digits. 0, -1 or -2 (beyond int64). */
static int parse_int(const char *s, int64_t *out)
{
    const char *e;
    uint64_t v;
    int neg = *s == '-';
    int rc = parse_digits(s + neg, &v, &e);

    if (rc != 0) return rc;
    if (*e != '\0') return -1;
    if (v > (uint64_t)INT64_MAX) return -2;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j, d[33];

    if (la > 32 || lb > 32) return 99;
    for (j = 0; j <= lb; j++)
        d[j] = j;
    for (i = 1; i <= la; i++) {
        size_t diag = d[0];
        d[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t up = d[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (d[j - 1] + 1 < best) best = d[j - 1] + 1;
            diag = up;
            d[j] = best;
        }
    }
    return d[lb];
}

/* ---- string checks --------------------------------------------------- */

static const char *check_addr(const char *s)
{
    char host[256];
    int port;

    return conf_parse_addr(s, host, sizeof(host), &port) == 0
               ? NULL
               : "must be HOST:PORT or [IPV6]:PORT with a port 1..65535";
}

static const char *check_console(const char *s)
{
    char host[256];
    int port;

    return strcmp(s, "off") == 0 ||
                   conf_parse_addr(s, host, sizeof(host), &port) == 0
               ? NULL
               : "must be HOST:PORT, [IPV6]:PORT with a port 1..65535, or "
                 "off";
}

static const char *check_path(const char *s)
{
    return strlen(s) < CONF_PATH_MAX ? NULL
                                     : "path must be shorter than 4000 bytes";
}

/* The program is run without a shell (see gw_master_key_from_command):
 * words split at spaces and tabs, the first an absolute path. */
static const char *check_kms(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (strlen(s) >= CONF_PATH_MAX)
        return "must be shorter than 4000 bytes";
    while (*p == ' ' || *p == '\t') p++;
    if (*p != '/')
        return "must start with the absolute path of a program (it is run "
               "without a shell: words split at spaces)";
    for (; *p; p++)
        if (*p < 0x20 && *p != '\t') return "must not hold control characters";
    return NULL;
}

static const char *check_region(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
    return s[n] == '\0' && n >= 1 && n <= 31
               ? NULL
               : "must be 1..31 characters of A-Z a-z 0-9 - _ (like "
                 "us-east-1)";
}

static const char *check_domain(const char *s)
{
    static const char *const why = "must be a DNS name such as "
                                   "s3.example.com (no port, no scheme)";
    size_t label = 0, n = 0;

    for (; s[n] != '\0'; n++) {
        char ch = s[n];
        if (ch == '.') {
            if (label == 0) return why;
            label = 0;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '-') {
            if (++label > 63) return why;
        } else {
            return why;
        }
    }
    return n >= 1 && n <= 253 && label > 0 ? NULL : why;
}

static const char *check_level(const char *s)
{
    int i;

    for (i = 0; log_levels[i] != NULL; i++)
        if (strcmp(s, log_levels[i]) == 0) return NULL;
    return "must be one of err, warn, notice, info, debug";
}

/* S3 bucket naming: 3..63 of a-z 0-9 . -, starting and ending with a
 * letter or digit. */
static const char *check_bucket(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-");
    if (s[n] != '\0' || n < 3 || n > 63 || s[0] == '.' || s[0] == '-' ||
        s[n - 1] == '.' || s[n - 1] == '-')
        return "must be a bucket name: 3..63 of a-z 0-9 . -, starting and "
               "ending with a letter or digit";
    return NULL;
}

static const char *check_access_key(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
    return s[n] == '\0' && n >= 3 && n <= 128
               ? NULL
               : "must be 3..128 characters of A-Z a-z 0-9 _ . -";
}

static const char *check_secret_key(const char *s)
{
    size_t n;

    for (n = 0; s[n] != '\0'; n++)
        if (s[n] <= 0x20 || s[n] >= 0x7f)
            return "must be printable ASCII without spaces";
    return n >= 8 && n <= 128 ? NULL : "must be 8..128 characters long";
}

/* ---- defaults, setters, cleanup -------------------------------------- */

const char *conf_strerror(enum conf_status st)
{
    switch (st) {
    case CONF_OK:
        return "ok";
    case CONF_EINVAL:
        return "invalid configuration";
    case CONF_EIO:
        return "configuration file cannot be read";
    case CONF_ENOMEM:
        return "out of memory";
    }
    return "unknown conf status";
}

enum conf_status conf_set_str(char **field, const char *value)
{
    char *p = NULL;

    if (field == NULL) return CONF_EINVAL;
    if (value != NULL && (p = strdup(value)) == NULL) return CONF_ENOMEM;
    free(*field);
    *field = p;
    return CONF_OK;
}

enum conf_status conf_init_defaults(struct conf *c)
{
    memset(c, 0, sizeof(*c));
    if (conf_set_str(&c->listen, "127.0.0.1:9000") != CONF_OK ||
        conf_set_str(&c->console_listen, "127.0.0.1:8443") != CONF_OK ||
        conf_set_str(&c->data_dir, "./coffer-data") != CONF_OK ||
        conf_set_str(&c->region, "us-east-1") != CONF_OK ||
        conf_set_str(&c->log_level, "notice") != CONF_OK ||
        conf_set_str(&c->audit_export_bucket, "coffer-audit") != CONF_OK) {
        conf_cleanup(c); /* callers may simply return on failure */
        return CONF_ENOMEM;
    }
    c->ec_data = 4;
    c->ec_parity = 2;
    c->stripe_size = (size_t)MIB;
    c->pack_threshold = (size_t)(128 * KIB);
    c->max_threads = 0; /* conf_finalize(): online cores */
    c->io_threads = 8;
    c->buffer_size = (size_t)(256 * KIB);
    c->max_header_bytes = (size_t)(64 * KIB);
    c->max_xml_bytes = (size_t)MIB;
    c->max_object_bytes = 5 * GIB;
    c->max_connections = 1024;
    c->max_conns_per_addr = 256;
    c->body_min_rate = KIB;
    c->idle_timeout_s = 60;
    c->header_timeout_s = 30;
    c->body_timeout_s = 60;
    c->read_ahead_total = (size_t)(32 * MIB);
    c->scrub_rate = (size_t)(16 * MIB);
    c->scrub_interval_s = 7 * 86400;
    c->checkpoint_interval_s = 3600;
    c->checkpoint_keep = 3;
    c->audit_export_interval_s = 3600;
    c->lifecycle_interval_s = 3600;
    c->audit_export_retain_years = 7;
    return CONF_OK;
}

static void free_disks(struct conf *c)
{
    int i;

    for (i = 0; i < c->ndisks; i++)
        free(c->disks[i]);
    free(c->disks);
    c->disks = NULL;
    c->ndisks = 0;
}

static void free_users(struct conf *c)
{
    int i;

    for (i = 0; i < c->nusers; i++) {
        free(c->users[i].access_key);
        free(c->users[i].secret_key);
    }
    free(c->users);
    c->users = NULL;
    c->nusers = 0;
}

void conf_cleanup(struct conf *c)
{
    if (c == NULL) return;
    free(c->path);
    free(c->listen);
    free(c->console_listen);
    free(c->data_dir);
    free(c->meta_dir);
    free(c->region);
    free(c->domain);
    free(c->log_level);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->audit_export_bucket);
    free(c->master_key_file);
    free(c->kms_command);
    free_disks(c);
    free_users(c);
    memset(c, 0, sizeof(*c));
}

int conf_parse_addr(const char *s, char *host, size_t hostcap, int *port)
{
    const char *h, *p;
    size_t hl, i;
    uint64_t v;
    const char *end;

    if (s == NULL || host == NULL || port == NULL) return -1;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':') return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        p = rb + 2;
        /* an IPv6 literal: hex digits, ':' and dots (v4-mapped) */
        if (hl < 2 || memchr(h, ':', hl) == NULL) return -1;
        for (i = 0; i < hl; i++)
            if (strchr("0123456789abcdefABCDEF:.", h[i]) == NULL) return -1;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL) return -1;
        h = s;
        hl = (size_t)(colon - s);
        p = colon + 1;
        /* a name, an IPv4 address, "*" or "" (both: every interface);
         * a bare IPv6 address needs brackets */
        for (i = 0; i < hl; i++)
            if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789.-_*",
                       h[i]) == NULL)
                return -1;
    }
    if (strlen(p) > 5 || parse_digits(p, &v, &end) != 0 || *end != '\0' ||
        v < 1 || v > 65535)
        return -1;
    if (hl >= hostcap) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return 0;
}

/* ---- loading --------------------------------------------------------- */

/* One YAML node of the file, built from libyaml's events. A tree belongs
 * to the conf_load_file() call that built it, and dies with it. */
enum cn_type { CN_SCALAR, CN_SEQ, CN_MAP };
struct cnode {
    enum cn_type type;
    size_t line;         /* 1-based line where the node starts */
    char *value;         /* CN_SCALAR: owned copy, NUL-terminated */
    size_t len;          /* CN_SCALAR: bytes, which may include NULs */
    int plain;           /* CN_SCALAR: unquoted, so "", ~, null mean null */
    struct cnode **kids; /* CN_SEQ: items; CN_MAP: key, value, key, ... */
    size_t nkids;        /* entries used in kids */
    size_t cap;          /* entries allocated in kids */
};

/* The state of one conf_load_file() call, on its stack. */
struct loader {
    const char *file; /* path as given, for messages */
    char *err;        /* caller's buffer, errlen bytes; may be NULL */
    size_t errlen;
    enum conf_status st; /* CONF_EINVAL or CONF_ENOMEM once failed */
    size_t nnodes;       /* nodes built so far, capped by CONF_MAX_NODES */
    size_t line[MK_N];   /* line of keys the joint checks name; 0 = absent */
};

static int bad(struct loader *L, size_t line, const char *key, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));

/* Records "FILE:LINE: key: reason" and returns -1. */
static int bad(struct loader *L, size_t line, const char *key, const char *fmt,
               ...)
{
    char msg[CONF_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    put_err(L->err, L->errlen, "%s:%zu: %s: %s", L->file, line,
            *key ? key : "top level", msg);
    if (L->st == CONF_OK) L->st = CONF_EINVAL;
    return -1;
}

static int oom(struct loader *L, size_t line, const char *key)
{
    bad(L, line, key, "out of memory");
    L->st = CONF_ENOMEM;
    return -1;
}

static size_t line_of(const struct cnode *n)
{
    return n ? n->line : 0;
}

/* The scalar's text, or NULL for lists, mappings and scalars holding a NUL
 * byte (a "\0" escape), which C strings cannot carry. */
static const char *scalar(const struct cnode *n)
{
    if (n == NULL || n->type != CN_SCALAR || strlen(n->value) != n->len)
        return NULL;
    return n->value;
}

/* A plain "", "~" or "null": the key is present with no value. */
static int is_null(const struct cnode *n)
{
    const char *s;

    if (n == NULL) return 1;
    if (n->type != CN_SCALAR || !n->plain) return 0;
    s = n->value;
    return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *what(const struct cnode *n)
{
    if (n == NULL) return "nothing";
    switch (n->type) {
    case CN_SCALAR:
        return scalar(n) ? "a single value" : "a string with a NUL byte";
    case CN_SEQ:
        return "a list";
    case CN_MAP:
        return "a mapping";
    }
    return "nothing";
}

/* Key paths ("users[2].access_key") are short by construction; one that
 * does not fit is cut, which only shortens a message. */
static void keyf(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void keyf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
}

static void join_key(char *out, size_t cap, const char *path, const char *name)
{
    keyf(out, cap, "%s%s%s", path, *path ? "." : "", name);
}

static int unknown_key(struct loader *L, const struct cnode *kn,
                       const char *full, const struct ck *keys,
                       const char *name)
{
    char valid[CONF_ERR_MAX / 2];
    const struct ck *k, *best = NULL;
    size_t d, bestd = 3, n = 0;

    for (k = keys; k->name != NULL; k++) {
        d = edit_distance(name, k->name);
        if (d < bestd) bestd = d, best = k;
        n += (size_t)snprintf(valid + n,
                              n < sizeof(valid) ? sizeof(valid) - n : 0, "%s%s",
                              n ? ", " : "", k->name);
        if (n >= sizeof(valid)) n = sizeof(valid) - 1;
    }
    if (best != NULL)
        return bad(L, line_of(kn), full, "unknown key; did you mean '%s'?",
                   best->name);
    return bad(L, line_of(kn), full, "unknown key; valid keys: %s", valid);
}

static int load_map(struct loader *L, struct cnode *map, const char *path,
                    const struct ck *keys, void *base);

static int load_string(struct loader *L, const struct ck *key, struct cnode *vn,
                       const char *full, char **field)
{
    const char *s = scalar(vn), *why;
    char b[64];

    if (key->kind == CK_STR_OPT && is_null(vn)) {
        free(*field);
        *field = NULL;
        return 0;
    }
    if (is_null(vn)) return bad(L, line_of(vn), full, "must not be empty");
    if (s == NULL)
        return bad(L, line_of(vn), full, "must be a string, got %s", what(vn));
    if (*s == '\0') return bad(L, line_of(vn), full, "must not be empty");
    if (key->check != NULL && (why = key->check(s)) != NULL) {
        if (key->kind == CK_SECRET) return bad(L, line_of(vn), full, "%s", why);
        return bad(L, line_of(vn), full, "%s, got '%s'", why,
                   shown(s, b, sizeof(b)));
    }
    if (conf_set_str(field, s) != CONF_OK) return oom(L, line_of(vn), full);
    return 0;
}

static int load_number(struct loader *L, const struct ck *key, struct cnode *vn,
                       const char *full, void *field)
{
    const char *s = scalar(vn);
    char b[64], lo[32], hi[32];
    int64_t i = 0;
    uint64_t v = 0;
    int rc;

    if (s == NULL || is_null(vn))
        return bad(L, line_of(vn), full, "must be %s, got %s",
                   key->kind == CK_INT        ? "an integer"
                   : key->kind == CK_DURATION ? "a duration"
                                              : "a size",
                   is_null(vn) ? "nothing" : what(vn));
    switch (key->kind) {
    case CK_INT:
        rc = parse_int(s, &i);
        if (rc == -1)
            return bad(L, line_of(vn), full, "must be an integer, got '%s'",
                       shown(s, b, sizeof(b)));
        if (rc == -2 || i < (int64_t)key->lo || i > (int64_t)key->hi)
            return bad(L, line_of(vn), full,
                       "must be %" PRIu64 "..%" PRIu64 ", got %s", key->lo,
                       key->hi, shown(s, b, sizeof(b)));
        *(int *)field = (int)i;
        return 0;
    case CK_DURATION:
        rc = parse_duration(s, &v);
        if (rc == -1)
            return bad(L, line_of(vn), full,
                       "must be a duration: seconds with an optional s, m "
                       "or h suffix, got '%s'",
                       shown(s, b, sizeof(b)));
        if (rc == -2 || v < key->lo || v > key->hi)
            return bad(L, line_of(vn), full, "must be %s..%s, got %s",
                       fmt_duration(key->lo, lo, sizeof(lo)),
                       fmt_duration(key->hi, hi, sizeof(hi)),
                       shown(s, b, sizeof(b)));
        *(int *)field = (int)v;
        return 0;
    default: /* CK_SIZE, CK_SIZE64 */
        rc = parse_size(s, &v);
        if (rc == -1)
            return bad(L, line_of(vn), full,
                       "must be a size: bytes with an optional K, KiB, M, "
                       "MiB, G or GiB suffix, got '%s'",
                       shown(s, b, sizeof(b)));
        if (rc == -2 || v < key->lo || v > key->hi)
            return bad(L, line_of(vn), full, "must be %s..%s, got %s",
                       fmt_size(key->lo, lo, sizeof(lo)),
                       fmt_size(key->hi, hi, sizeof(hi)),
                       shown(s, b, sizeof(b)));
        if (key->kind == CK_SIZE)
            *(size_t *)field = (size_t)v;
        else
            *(uint64_t *)field = v;
        return 0;
    }
}

static int load_bool(struct loader *L, struct cnode *vn, const char *full,
                     int *field)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    const char *s = scalar(vn);
    int i;

    for (i = 0; s != NULL && yes[i] != NULL; i++) {
        if (strcasecmp(s, yes[i]) == 0) return *field = 1, 0;
        if (strcasecmp(s, no[i]) == 0) return *field = 0, 0;
    }
    return bad(L, line_of(vn), full, "must be true or false");
}

/* Disks replace any earlier list; a null value unsets them (derived by
 * conf_finalize). The list is built in place in c, so a failure halfway
 * leaves only owned entries behind. */
static int load_disks(struct loader *L, const struct ck *key, struct cnode *vn,
                      const char *full, struct conf *c)
{
    int n, i, j;

    free_disks(c);
    if (is_null(vn)) return 0;
    if (vn->type != CN_SEQ)
        return bad(L, line_of(vn), full,
                   "must be a list of directories, got %s", what(vn));
    n = vn->nkids > CONF_MAX_DISKS ? CONF_MAX_DISKS + 1 : (int)vn->nkids;
    if (n < 1 || n > CONF_MAX_DISKS)
        return bad(L, line_of(vn), full, "must list 1..%d directories, got %zu",
                   CONF_MAX_DISKS, vn->nkids);
    c->disks = calloc((size_t)n, sizeof(*c->disks));
    if (c->disks == NULL) return oom(L, line_of(vn), full);
    for (i = 0; i < n; i++) {
        struct cnode *d = vn->kids[i];
        char sub[CONF_KEY_MAX];
        keyf(sub, sizeof(sub), "%s[%d]", full, i);
        c->ndisks = i + 1;
        if (load_string(L, key, d, sub, &c->disks[i]) != 0) return -1;
        for (j = 0; j < i; j++)
            if (strcmp(c->disks[j], c->disks[i]) == 0)
                return bad(L, line_of(d), sub,
                           "'%s' is listed twice (also %s[%d])", c->disks[i],
                           full, j);
    }
    return 0;
}

/* Users replace any earlier list. */
static int load_users(struct loader *L, struct cnode *vn, const char *full,
                      struct conf *c)
{
    int n, i, j;

    free_users(c);
    if (is_null(vn)) return 0;
    if (vn->type != CN_SEQ)
        return bad(L, line_of(vn), full, "must be a list of users, got %s",
                   what(vn));
    if (vn->nkids > CONF_MAX_USERS)
        return bad(L, line_of(vn), full,
                   "at most %d users here, got %zu (use `coffer user add`)",
                   CONF_MAX_USERS, vn->nkids);
    n = (int)vn->nkids;
    c->users = calloc((size_t)n + 1, sizeof(*c->users));
    if (c->users == NULL) return oom(L, line_of(vn), full);
    for (i = 0; i < n; i++) {
        struct cnode *u = vn->kids[i];
        struct conf_user *cu = &c->users[i];
        char sub[CONF_KEY_MAX], k[CONF_KEY_MAX];

        keyf(sub, sizeof(sub), "%s[%d]", full, i);
        c->nusers = i + 1;
        if (is_null(u) || u->type != CN_MAP)
            return bad(
                L, line_of(u), sub,
                "must be a mapping with access_key and secret_key, got %s",
                is_null(u) ? "nothing" : what(u));
        if (load_map(L, u, sub, user_keys, cu) != 0) return -1;
        if (cu->access_key == NULL || cu->secret_key == NULL) {
            join_key(k, sizeof(k), sub,
                     cu->access_key == NULL ? "access_key" : "secret_key");
            return bad(L, line_of(u), k, "is required");
        }
        for (j = 0; j < i; j++) {
            if (strcmp(c->users[j].access_key, cu->access_key) != 0) continue;
            join_key(k, sizeof(k), sub, "access_key");
            return bad(L, line_of(u), k, "'%s' is already used by %s[%d]",
                       cu->access_key, full, j);
        }
    }
    return 0;
}

static int load_value(struct loader *L, const struct ck *key, struct cnode *vn,
                      const char *full, void *base)
{
    void *field = (char *)base + key->off;

    switch (key->kind) {
    case CK_STR:
    case CK_STR_OPT:
    case CK_SECRET:
        return load_string(L, key, vn, full, field);
    case CK_BOOL:
        return load_bool(L, vn, full, field);
    case CK_INT:
    case CK_SIZE:
    case CK_SIZE64:
    case CK_DURATION:
        return load_number(L, key, vn, full, field);
    case CK_MAP:
        return load_map(L, vn, full, key->sub, base);
    case CK_DISKS:
        return load_disks(L, key, vn, full, base);
    case CK_USERS:
        return load_users(L, vn, full, base);
    }
    return bad(L, line_of(vn), full, "internal error: unknown key kind");
}

/* Loads one mapping against its table. A null value (the key alone, as in
 * "limits:") keeps every default. */
static int load_map(struct loader *L, struct cnode *map, const char *path,
                    const struct ck *keys, void *base)
{
    size_t p, q;

    if (is_null(map)) return 0;
    if (map->type != CN_MAP)
        return bad(L, line_of(map), path,
                   "must be a mapping (key: value), got %s", what(map));
    for (p = 0; p + 1 < map->nkids; p += 2) {
        struct cnode *kn = map->kids[p], *vn = map->kids[p + 1];
        const char *name = scalar(kn);
        const struct ck *key;
        char full[CONF_KEY_MAX];

        if (name == NULL || is_null(kn))
            return bad(L, line_of(kn), path, "keys must be plain names, got %s",
                       what(kn));
        join_key(full, sizeof(full), path, name);
        /* Every earlier key was known and distinct (or we would have
         * stopped), so this loop runs at most the table's length. */
        for (q = 0; q < p; q += 2) {
            struct cnode *qn = map->kids[q];
            if (strcmp(scalar(qn), name) == 0)
                return bad(L, line_of(kn), full,
                           "duplicate key (first given on line %zu)",
                           line_of(qn));
        }
        for (key = keys; key->name != NULL; key++)
            if (strcmp(key->name, name) == 0) break;
        if (key->name == NULL) return unknown_key(L, kn, full, keys, name);
        if (key->mark != MK_NONE) L->line[key->mark] = line_of(kn);
        if (load_value(L, key, vn, full, base) != 0) return -1;
    }
    return 0;
}

/* Rules joining several keys, reported at the line of a key this file set.
 * Values that did not come from this file are left to conf_finalize(). */
static int joint_checks(struct loader *L, struct conf *c)
{
    size_t *ln = L->line;
    size_t unit = 64 * (size_t)c->ec_data;
    int n = c->ec_data + c->ec_parity;
    char b[32], eg[32];

    if ((ln[MK_DATA] || ln[MK_PARITY]) && n > CONF_MAX_SET_DISKS)
        return bad(L, ln[MK_PARITY] ? ln[MK_PARITY] : ln[MK_DATA],
                   ln[MK_PARITY] ? "erasure.parity" : "erasure.data",
                   "data + parity must be at most %d, got %d",
                   CONF_MAX_SET_DISKS, n);
    if ((ln[MK_DATA] || ln[MK_BLOCK]) && unit != 0 &&
        c->stripe_size % unit != 0) {
        if (ln[MK_BLOCK])
            return bad(L, ln[MK_BLOCK], "erasure.block_size",
                       "must be a multiple of 64 * erasure.data = %zu, got %s",
                       unit, fmt_size(c->stripe_size, b, sizeof(b)));
        return bad(L, ln[MK_DATA], "erasure.data",
                   "block_size %s is not a multiple of 64 * "
                   "data = %zu; set erasure.block_size (e.g. %s)",
                   fmt_size(c->stripe_size, b, sizeof(b)), unit,
                   fmt_size(256 * KIB * (uint64_t)c->ec_data, eg, sizeof(eg)));
    }
    if ((ln[MK_TLS_CERT] || ln[MK_TLS_KEY]) &&
        (c->tls_cert == NULL) != (c->tls_key == NULL))
        return bad(L, ln[MK_TLS_CERT] ? ln[MK_TLS_CERT] : ln[MK_TLS_KEY],
                   ln[MK_TLS_CERT] ? "tls.cert" : "tls.key",
                   "tls.cert and tls.key must be given together");
    if (ln[MK_KMS] && ln[MK_KEY_FILE] && c->kms_command != NULL &&
        c->master_key_file != NULL)
        return bad(L, ln[MK_KMS], "encryption.kms_command",
                   "give either it or encryption.master_key_file (line "
                   "%zu), not both",
                   ln[MK_KEY_FILE]);
    if (ln[MK_TLS_ON] && !c->tls_enabled && c->tls_cert != NULL)
        return bad(L, ln[MK_TLS_ON], "tls.enabled",
                   "is false, but tls.cert is set (a certificate turns TLS "
                   "on); remove one of them");
    if (ln[MK_DISKS] && c->disks != NULL) {
        const char *why = sets_problem(c->ndisks, n);
        if (why)
            return bad(L, ln[MK_DISKS], "disks",
                       "%d directories listed, but erasure.data + "
                       "erasure.parity = %d%s",
                       c->ndisks, n, why);
    }
    return 0;
}

/* Reads the whole file into a NUL-terminated buffer. */
static enum conf_status read_file(const char *path, char **out, size_t *outlen,
                                  char *err, size_t errlen)
{
    char eb[128], *buf = NULL, *nb;
    size_t len = 0, cap = 0;
    struct stat st;
    ssize_t r;
    int fd, e;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        put_err(err, errlen, "%s: %s", path, cf_strerror(e, eb, sizeof(eb)));
        return CONF_EIO;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        put_err(err, errlen, "%s: %s", path,
                cf_strerror(EISDIR, eb, sizeof(eb)));
        close(fd);
        return CONF_EIO;
    }
    for (;;) {
        if (len + 1 >= cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > CONF_FILE_MAX + 2) cap = CONF_FILE_MAX + 2;
            if ((nb = realloc(buf, cap)) == NULL) {
                put_err(err, errlen, "%s: out of memory", path);
                goto out_nomem;
            }
            buf = nb;
        }
        r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            e = errno;
            put_err(err, errlen, "%s: %s", path,
                    cf_strerror(e, eb, sizeof(eb)));
            free(buf);
            close(fd);
            return CONF_EIO;
        }
        if (r == 0) break;
        len += (size_t)r;
        if (len > CONF_FILE_MAX) {
            put_err(err, errlen,
                    "%s: larger than %d bytes; is this a "
                    "configuration file?",
                    path, CONF_FILE_MAX);
            free(buf);
            close(fd);
            return CONF_EINVAL;
        }
    }
    close(fd); /* read-only: nothing to lose */
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return CONF_OK;
out_nomem:
    free(buf);
    close(fd);
    return CONF_ENOMEM;
}

/* Turns libyaml's error into "FILE:LINE: yaml: problem (context)". */
static enum conf_status yaml_failed(struct loader *L, const yaml_parser_t *p,
                                    const char *buf, size_t len)
{
    const char *problem = p->problem ? p->problem : "syntax error";
    size_t line, i;

    /* A failure without an error code can only be an allocation that
     * libyaml did not report (its document loader has such a path). */
    if (p->error == YAML_MEMORY_ERROR || p->error == YAML_NO_ERROR) {
        put_err(L->err, L->errlen, "%s: out of memory", L->file);
        return L->st = CONF_ENOMEM;
    }
    if (p->error == YAML_READER_ERROR) {
        /* The reader runs ahead of the marks: count lines to the offset. */
        for (i = 0, line = 1; i < p->problem_offset && i < len; i++)
            line += buf[i] == '\n';
        if (p->problem_value >= 0)
            bad(L, line, "yaml", "%s (byte 0x%02x)", problem,
                (unsigned)p->problem_value & 0xffu);
        else
            bad(L, line, "yaml", "%s", problem);
        return CONF_EINVAL;
    }
    line = p->problem_mark.line + 1;
    if (p->context != NULL && p->context_mark.line + 1 != line)
        bad(L, line, "yaml", "%s (%s started on line %zu)", problem, p->context,
            p->context_mark.line + 1);
    else if (p->context != NULL)
        bad(L, line, "yaml", "%s (%s)", problem, p->context);
    else
        bad(L, line, "yaml", "%s", problem);
    return CONF_EINVAL;
}

static void cnode_free(struct cnode *n)
{
    size_t i;

    if (n == NULL) return;
    for (i = 0; i < n->nkids; i++)
        cnode_free(n->kids[i]); /* depth capped */
    free(n->kids);
    free(n->value);
    free(n);
}

/* Appends kid to parent, or frees kid and returns -1. */
static int cnode_add(struct cnode *parent, struct cnode *kid)
{
    struct cnode **nk;
    size_t ncap;

    if (parent->nkids == parent->cap) {
        ncap = parent->cap ? parent->cap * 2 : 8;
        nk = realloc(parent->kids, ncap * sizeof(*nk));
        if (nk == NULL) {
            cnode_free(kid);
            return -1;
        }
        parent->kids = nk;
        parent->cap = ncap;
    }
    parent->kids[parent->nkids++] = kid;
    return 0;
}

/* A new node for a scalar or collection event, attached to the tree under
 * construction (the open collection on top of the stack, or the document
 * root), so the tree owns it from the start. NULL after an error. */
static struct cnode *cnode_new(struct loader *L, const yaml_event_t *ev,
                               struct cnode **stack, int depth,
                               struct cnode **doc)
{
    size_t line = ev->start_mark.line + 1;
    struct cnode *n;

    if (++L->nnodes > CONF_MAX_NODES) {
        bad(L, line, "yaml", "more than %d values in one file", CONF_MAX_NODES);
        return NULL;
    }
    if ((n = calloc(1, sizeof(*n))) == NULL) {
        oom(L, line, "yaml");
        return NULL;
    }
    n->line = line;
    n->type = ev->type == YAML_SCALAR_EVENT           ? CN_SCALAR
              : ev->type == YAML_SEQUENCE_START_EVENT ? CN_SEQ
                                                      : CN_MAP;
    if (n->type == CN_SCALAR) {
        n->len = ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if ((n->value = malloc(n->len + 1)) == NULL) {
            free(n);
            oom(L, line, "yaml");
            return NULL;
        }
        if (n->len) memcpy(n->value, ev->data.scalar.value, n->len);
        n->value[n->len] = '\0';
    }
    if (depth > 0) {
        if (cnode_add(stack[depth - 1], n) != 0) {
            oom(L, line, "yaml");
            return NULL;
        }
    } else if (*doc == NULL) {
        *doc = n;
    } else { /* libyaml gives one root per document */
        cnode_free(n);
        bad(L, line, "yaml", "internal error: two roots in one document");
        return NULL;
    }
    return n;
}

/* Parses the whole stream into *out, the first document's root (NULL for
 * an empty file). A later document that is not empty is refused: it would
 * otherwise be ignored silently. 0, or -1 with L->st and the message set. */
static int parse_stream(struct loader *L, yaml_parser_t *p, const char *buf,
                        size_t len, struct cnode **out)
{
    struct cnode *stack[CONF_MAX_DEPTH], *doc = NULL, *first = NULL, *n;
    int depth = 0, ndocs = 0, done = 0;
    yaml_event_t ev;

    *out = NULL;
    while (!done) {
        if (!yaml_parser_parse(p, &ev)) {
            yaml_failed(L, p, buf, len);
            goto out_free;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            depth = 0;
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (ndocs++ == 0) {
                first = doc;
            } else if (!is_null(doc)) {
                bad(L, line_of(doc), "yaml",
                    "only one document is allowed "
                    "(a second '---' starts another)");
                goto out_event;
            } else {
                cnode_free(doc);
            }
            doc = NULL;
            break;
        case YAML_ALIAS_EVENT:
            bad(L, ev.start_mark.line + 1, "yaml",
                "aliases (*%s) are not supported",
                (const char *)ev.data.alias.anchor);
            goto out_event;
        case YAML_SCALAR_EVENT:
            if (cnode_new(L, &ev, stack, depth, &doc) == NULL) goto out_event;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if ((n = cnode_new(L, &ev, stack, depth, &doc)) == NULL)
                goto out_event;
            if (depth == CONF_MAX_DEPTH) {
                bad(L, n->line, "yaml", "nested more than %d levels deep",
                    CONF_MAX_DEPTH);
                goto out_event;
            }
            stack[depth++] = n;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0) depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    *out = first;
    return 0;
out_event:
    yaml_event_delete(&ev);
out_free:
    cnode_free(doc);
    cnode_free(first);
    return -1;
}

enum conf_status conf_load_file(struct conf *c, const char *path, char *err,
                                size_t errlen)
{
    struct loader L;
    yaml_parser_t parser;
    struct cnode *root = NULL;
    char *buf = NULL;
    size_t len = 0;
    enum conf_status st;

    memset(&L, 0, sizeof(L));
    L.file = path;
    L.err = err;
    L.errlen = errlen;
    put_err(err, errlen, "%s", "");
    st = read_file(path, &buf, &len, err, errlen);
    if (st != CONF_OK) return st;
    if (!yaml_parser_initialize(&parser)) {
        put_err(err, errlen, "%s: out of memory", path);
        st = CONF_ENOMEM;
        goto out_free;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (parse_stream(&L, &parser, buf, len, &root) != 0) {
        st = L.st;
        goto out_parser;
    }
    if (root != NULL &&
        (load_map(&L, root, "", top_keys, c) != 0 || joint_checks(&L, c))) {
        st = L.st;
        goto out_tree;
    }
    if (conf_set_str(&c->path, path) != CONF_OK) {
        put_err(err, errlen, "%s: out of memory", path);
        st = CONF_ENOMEM;
    }
out_tree:
    cnode_free(root);
out_parser:
    yaml_parser_delete(&parser);
out_free:
    free(buf);
    return st;
}

/* ---- finalize -------------------------------------------------------- */

/* "dir/disk3" without doubling a trailing '/'. */
static char *path_join(const char *dir, const char *name, int n)
{
    size_t dl = strlen(dir), cap = dl + strlen(name) + 16;
    char *p = malloc(cap);

    if (p == NULL) return NULL;
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    if (n > 0)
        snprintf(p, cap, "%.*s%s%s%d", (int)dl, dir,
                 dir[dl - 1] == '/' ? "" : "/", name, n);
    else
        snprintf(p, cap, "%.*s%s%s", (int)dl, dir,
                 dir[dl - 1] == '/' ? "" : "/", name);
    return p;
}

/* Range checks again for every number, from the tables: values may have
 * been set without a file (callers own the struct). */
static int check_ranges(const struct conf *c, const struct ck *keys,
                        const char *path, const char *src, char *err,
                        size_t errlen)
{
    const struct ck *k;
    char full[CONF_KEY_MAX], lo[32], hi[32], got[32];
    uint64_t v;

    for (k = keys; k->name != NULL; k++) {
        const void *f = (const char *)c + k->off;
        join_key(full, sizeof(full), path, k->name);
        if (k->kind == CK_MAP) {
            if (check_ranges(c, k->sub, full, src, err, errlen) != 0) return -1;
            continue;
        }
        if (k->kind == CK_INT || k->kind == CK_DURATION) {
            int i = *(const int *)f;
            if (i >= (int64_t)k->lo && i <= (int64_t)k->hi) continue;
            put_err(err, errlen,
                    "%s: %s: must be %" PRIu64 "..%" PRIu64 ", got %d", src,
                    full, k->lo, k->hi, i);
            return -1;
        }
        if (k->kind != CK_SIZE && k->kind != CK_SIZE64) continue;
        v = k->kind == CK_SIZE ? (uint64_t) * (const size_t *)f
                               : *(const uint64_t *)f;
        if (v >= k->lo && v <= k->hi) continue;
        put_err(err, errlen, "%s: %s: must be %s..%s, got %s", src, full,
                fmt_size(k->lo, lo, sizeof(lo)),
                fmt_size(k->hi, hi, sizeof(hi)), fmt_size(v, got, sizeof(got)));
        return -1;
    }
    return 0;
}

enum conf_status conf_finalize(struct conf *c, char *err, size_t errlen)
{
    /* String fields the command line may override through conf_set_str();
     * a value from a file was checked when loaded, so a bad one here came
     * from the command line. */
    static const struct {
        const char *name;
        size_t off;
        ck_check_fn check;
        int optional;
    } strs[] = {
        {"listen", OFF(listen), check_addr, 0},
        {"console_listen", OFF(console_listen), check_console, 0},
        {"data_dir", OFF(data_dir), check_path, 0},
        {"meta_dir", OFF(meta_dir), check_path, 1},
        {"region", OFF(region), check_region, 0},
        {"domain", OFF(domain), check_domain, 1},
        {"log_level", OFF(log_level), check_level, 0},
        {"tls.cert", OFF(tls_cert), check_path, 1},
        {"tls.key", OFF(tls_key), check_path, 1},
        {"audit.export_bucket", OFF(audit_export_bucket), check_bucket, 0},
        {"encryption.master_key_file", OFF(master_key_file), check_path, 1},
    };
    const char *src = c->path ? c->path : "built-in defaults";
    const char *why;
    char b[64], **disks;
    size_t i;
    int n, j, k;

    put_err(err, errlen, "%s", "");
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char *s = *(char *const *)((const char *)c + strs[i].off);
        if (s == NULL && strs[i].optional) continue;
        if (s == NULL || *s == '\0')
            why = "must not be empty";
        else
            why = strs[i].check(s);
        if (why == NULL) continue;
        put_err(err, errlen, "command line: %s: %s, got '%s'", strs[i].name,
                why, s ? shown(s, b, sizeof(b)) : "");
        return CONF_EINVAL;
    }
    if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
        /* A file with only one of them was refused when loaded. */
        put_err(err, errlen,
                "command line: %s: tls.cert and tls.key must be given "
                "together (--tls-cert, --tls-key)",
                c->tls_cert ? "tls.key" : "tls.cert");
        return CONF_EINVAL;
    }
    if (c->tls_cert != NULL) c->tls_enabled = 1;
    if (c->max_threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        c->max_threads = cores < 1 ? 1 : cores > 256 ? 256 : (int)cores;
    }
    if (check_ranges(c, top_keys, "", src, err, errlen) != 0)
        return CONF_EINVAL;
    n = c->ec_data + c->ec_parity;
    if (n > CONF_MAX_SET_DISKS) {
        put_err(err, errlen,
                "%s: erasure: data + parity must be at most %d, got %d", src,
                CONF_MAX_SET_DISKS, n);
        return CONF_EINVAL;
    }
    if (c->stripe_size % (64 * (size_t)c->ec_data) != 0) {
        put_err(err, errlen,
                "%s: erasure.block_size: must be a multiple of "
                "64 * erasure.data = %zu, got %zu",
                src, 64 * (size_t)c->ec_data, c->stripe_size);
        return CONF_EINVAL;
    }
    if (c->disks == NULL) {
        /* Built aside and published whole, so a failure leaves disks
         * unset rather than half-derived. */
        disks = calloc((size_t)n, sizeof(*disks));
        if (disks == NULL) goto out_nomem;
        for (j = 0; j < n; j++) {
            if ((disks[j] = path_join(c->data_dir, "disk", j + 1)) != NULL)
                continue;
            while (j-- > 0)
                free(disks[j]);
            free(disks);
            goto out_nomem;
        }
        c->disks = disks;
        c->ndisks = n;
    }
    if (sets_problem(c->ndisks, n)) {
        put_err(err, errlen,
                "%s: disks: %d directories listed, but "
                "erasure.data + erasure.parity = %d%s",
                src, c->ndisks, n, sets_problem(c->ndisks, n));
        return CONF_EINVAL;
    }
    for (j = 0; j < c->ndisks; j++) {
        if (c->disks[j] == NULL || c->disks[j][0] == '\0') {
            put_err(err, errlen, "%s: disks[%d]: must not be empty", src, j);
            return CONF_EINVAL;
        }
        for (k = 0; k < j; k++) {
            if (strcmp(c->disks[j], c->disks[k]) != 0) continue;
            put_err(err, errlen, "%s: disks[%d]: same directory as disks[%d]",
                    src, j, k);
            return CONF_EINVAL;
        }
    }
    if (c->meta_dir == NULL &&
        (c->meta_dir = path_join(c->data_dir, "meta", 0)) == NULL)
        goto out_nomem;
    if (c->master_key_file == NULL && c->kms_command == NULL &&
        (c->master_key_file = path_join(c->data_dir, "master.key", 0)) ==
            NULL)
        goto out_nomem;
    for (j = 0; j < c->ndisks; j++) {
        /* whoever walks off with the disks must not find the key there */
        size_t dl = strlen(c->disks[j]);
        if (c->master_key_file == NULL) break; /* kms_command */
        while (dl > 1 && c->disks[j][dl - 1] == '/') dl--;
        if (strncmp(c->master_key_file, c->disks[j], dl) != 0 ||
            c->master_key_file[dl] != '/')
            continue;
        put_err(err, errlen,
                "%s: encryption.master_key_file: must not be inside disk "
                "directory %s, got '%s'",
                src, c->disks[j], shown(c->master_key_file, b, sizeof(b)));
        return CONF_EINVAL;
    }
    return CONF_OK;
out_nomem:
    put_err(err, errlen, "%s: out of memory", src);
    return CONF_ENOMEM;
}
