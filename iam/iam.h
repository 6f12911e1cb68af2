/* iam.h: users, access keys and permissions.
 *
 * Users. A directory (struct iam) of the credentials the gateway accepts:
 * built-in users (root and the configuration file's users, never stored)
 * and catalog users (N/<name> records, created by `coffer user add` or the
 * admin API). A catalog user's secret is stored only wrapped (AES-256-GCM)
 * under the master key (common/cf_key.c, the key SSE uses), bound to the
 * user's name and access key, so a stolen catalog without the key file
 * reveals no secret. Secrets are never logged.
 *
 * Principals. A user's principal name is what bucket ownership and policy
 * Principal elements name: a catalog user's name, or a built-in user's
 * access key (as buckets created before iam existed record it).
 *
 * Threads: every function is thread-safe. Lookups take a read lock over an
 * in-memory table and never block on disk (event loops may call them);
 * changes write the catalog (synced, audited) and block: call them from a
 * worker or the CLI. Ownership: iam borrows the catalog, which must outlive
 * it; results are copied into caller structs. */
#ifndef IAM_H
#define IAM_H

#include <stddef.h>
#include <stdint.h>

struct meta_db;

enum iam_status {
    IAM_OK = 0,
    IAM_EINVAL,    /* bad name or argument */
    IAM_ENOTFOUND, /* no such user */
    IAM_EEXIST,    /* the name (or access key) is taken */
    IAM_EBUILTIN,  /* root and configuration users cannot be changed here */
    IAM_EIO,       /* the catalog could not be read or written (logged) */
    IAM_EKEY,      /* a secret does not unwrap: another master key */
    IAM_ENOMEM,
};
const char *iam_strerror(enum iam_status st);

#define IAM_NAME_MAX 64   /* == META_USER_NAME_MAX */
#define IAM_KEY_MAX 128   /* access key or secret, bytes */
#define IAM_AK_LEN 20     /* generated access keys, as AWS issues them */
#define IAM_SK_LEN 40     /* generated secrets */

struct iam_user {
    char name[IAM_NAME_MAX + 1];      /* principal name (see above) */
    char access_key[IAM_KEY_MAX + 1];
    char secret_key[IAM_KEY_MAX + 1]; /* "" when not asked for */
    int admin;                        /* admin API; s3:BypassGovernance... */
    int builtin;                      /* root or configuration user */
    int64_t created_ms;               /* wall clock; 0 for built-in users */
};

struct iam;
/* Loads the catalog's users. master (32 bytes, copied) unwraps their
 * secrets; NULL opens the directory for listing only (lookups then find
 * no catalog user, changes fail with IAM_EKEY). A secret that does not
 * unwrap fails with IAM_EKEY (logged with the user's name). */
enum iam_status iam_open(struct meta_db *db, const unsigned char *master,
                         struct iam **out);
void iam_free(struct iam *iam); /* NULL is a no-op */

/* Adds a built-in user (in memory only; its principal name is its access
 * key). IAM_EEXIST when the access key, or a catalog user's name, is
 * taken. */
enum iam_status iam_add_builtin(struct iam *iam, const char *access_key,
                                const char *secret_key, int admin);

/* 1 if name is a valid user name: 1..64 of A-Z a-z 0-9 + = , . @ _ -
 * (AWS IAM's user name characters). */
int iam_name_valid(const char *name);

/* Creates a catalog user with a new random access key and secret, filled
 * into *out (the only time the secret is shown). by names who asked (the
 * audit entry's "by"). */
enum iam_status iam_user_add(struct iam *iam, const char *name, int admin,
                             const char *by, struct iam_user *out);
/* Removes a catalog user; its key stops working at once. Buckets it owns
 * stay (owned by its name). */
enum iam_status iam_user_rm(struct iam *iam, const char *name,
                            const char *by);
/* Replaces a catalog user's access key and secret with new ones (the old
 * pair stops working at once), filled into *out. */
enum iam_status iam_key_rotate(struct iam *iam, const char *name,
                               const char *by, struct iam_user *out);
/* Every user, built-in first, then catalog users by name; secret_key is
 * "" in each. *out is malloc'ed (free it); *n may be 0. */
enum iam_status iam_user_list(struct iam *iam, struct iam_user **out,
                              size_t *n);
/* The user holding access_key, secret included: 1 found, 0 not. Never
 * blocks on disk. */
int iam_lookup(struct iam *iam, const char *access_key,
               struct iam_user *out);
/* The user named name (a principal name), secret left "": 1 found, 0 not. */
int iam_lookup_name(struct iam *iam, const char *name, struct iam_user *out);

/* A master key rotation: re-wraps every catalog user's secret from
 * old_key to new_key, one synced write per user; users already under
 * new_key are counted in *current and left alone, so an interrupted run is
 * finished by running it again. IAM_EKEY (logged) when a record opens
 * with neither key. Blocks on disk; needs the catalog to itself. */
enum iam_status iam_rewrap(struct meta_db *db,
                           const unsigned char old_key[32],
                           const unsigned char new_key[32],
                           size_t *rewrapped, size_t *current);

/* ---- bucket policies (iam_policy.c) ----
 *
 * AWS's policy language for S3 bucket policies, evaluated as AWS does:
 * default deny, an explicit Deny wins over any Allow. Supported: Version,
 * Id, Statement (object or array) with Sid, Effect, Principal or
 * NotPrincipal ("*", {"AWS": ...}, {"CanonicalUser": ...}; a user is named
 * by its principal name or "arn:aws:iam::<account>:user/<name>"), Action
 * or NotAction ("s3:..." with * and ? wildcards, case-insensitive),
 * Resource or NotResource (arn:aws:s3:::bucket[/key], wildcards), and
 * Condition with the String*, Numeric*, Bool, IpAddress/NotIpAddress and
 * Null operators (and their ...IfExists forms) over the keys
 * aws:SecureTransport, aws:SourceIp, s3:prefix,
 * s3:object-lock-remaining-retention-days and s3:object-lock-mode.
 * Anything else (another operator or key, ForAnyValue:/ForAllValues:,
 * policy variables, a resource outside the bucket) is refused at parse
 * time, never ignored. A parsed policy is immutable: any thread may
 * evaluate it. */

#define IAM_POLICY_MAX_BYTES (20 * 1024) /* AWS's bucket policy limit */

struct iam_policy;
/* Parses a policy for bucket. On IAM_EINVAL, err holds a message for the
 * client's MalformedPolicy error. */
enum iam_status iam_policy_parse(const char *json, size_t len,
                                 const char *bucket, struct iam_policy **out,
                                 char *err, size_t errcap);
void iam_policy_free(struct iam_policy *p); /* NULL is a no-op */

/* The request context a policy is evaluated against. Absent values are
 * NULL / -1: a condition on an absent key is false, except for negated
 * operators, ...IfExists and Null (as AWS). */
struct iam_ctx {
    const char *principal;   /* principal name, NULL for anonymous */
    const char *action;      /* "s3:GetObject" */
    const char *bucket;
    const char *key;         /* NULL for bucket-level actions */
    int secure_transport;    /* 1: the request came over TLS */
    const char *source_ip;   /* textual IPv4 / IPv6 address, or NULL */
    const char *prefix;      /* s3:prefix (list requests), or NULL */
    const char *lock_mode;   /* s3:object-lock-mode, or NULL */
    int64_t lock_days;       /* s3:object-lock-remaining-retention-days,
                                -1 when absent */
    int restrict_public;     /* RestrictPublicBuckets: Allow statements
                                that grant to everyone ("*", NotPrincipal)
                                grant nothing; Deny still applies */
};

enum iam_effect {
    IAM_IMPLICIT_DENY = 0,   /* no statement applies */
    IAM_ALLOW,
    IAM_EXPLICIT_DENY,       /* a Deny statement applies: wins */
};
enum iam_effect iam_policy_eval(const struct iam_policy *p,
                                const struct iam_ctx *c);
/* 1 if the policy is "public" in S3's sense: an Allow statement grants to
 * everyone ("*" or NotPrincipal) without an IpAddress condition fixing
 * the source to ranges of /8 (IPv4) or /32 (IPv6) or narrower. */
int iam_policy_is_public(const struct iam_policy *p);
/* 1 if pattern (with * and ?) matches s; nocase folds ASCII case. */
int iam_glob(const char *pattern, const char *s, int nocase);

#endif /* IAM_H */
