/* ol.h: the WORM policy engine and the compliance clock.
 *
 * Policy: pure functions of (version lock state, request, principal,
 * compliance time) → decision. They never read a clock and never touch
 * storage; every path that could remove or weaken the protection of a
 * version (S3 handlers, multi-delete, lifecycle, CLI) asks them first.
 * Semantics are AWS S3 Object Lock's (see the truth table in
 * tests/unit/test_ol.c, each row citing its source).
 *
 * Clock: compliance time advances only with elapsed CLOCK_BOOTTIME and is
 * persisted, so setting the system date forward never unlocks anything.
 * Only ol_clock.c reads a clock.
 *
 * Audit (ol_audit.c, ol_report.c): verification of the hash-chained audit
 * log and the compliance report of locked versions. These read the catalog
 * (meta) and the shards (erasure) and block on disk: call them from a CLI
 * or a worker thread, never from an event loop.
 *
 * Threads: everything here is thread-safe; a struct ol_report belongs to
 * one thread at a time. */
#ifndef OL_H
#define OL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct meta_db;
struct ec_set;

/* Status of the audit functions (the policy functions return decisions). */
enum ol_status {
    OL_OK = 0,
    OL_EIO,       /* the catalog or a disk could not be read (logged) */
    OL_ENOMEM,
    OL_EINVAL,
};
const char *ol_strerror(enum ol_status st);

enum ol_mode { OL_MODE_NONE = 0, OL_MODE_GOVERNANCE, OL_MODE_COMPLIANCE };

/* The lock state of one object version. */
struct ol_state {
    enum ol_mode mode;        /* NONE: no retention */
    int64_t retain_until_ms;  /* meaningful when mode != NONE */
    int legal_hold;           /* 1: ON */
};

/* Who asks, and what they sent. */
struct ol_principal {
    int bypass_governance;    /* holds s3:BypassGovernanceRetention */
};

enum ol_decision {
    OL_ALLOW = 0,
    OL_DENY_LEGAL_HOLD,       /* a legal hold is ON */
    OL_DENY_COMPLIANCE,       /* COMPLIANCE retention in force */
    OL_DENY_GOVERNANCE,       /* GOVERNANCE in force, no valid bypass */
};
const char *ol_decision_str(enum ol_decision d);

/* May this version be removed permanently (delete by version id,
 * DeleteObjects entry with a version id, lifecycle expiry)? bypass_header
 * is x-amz-bypass-governance-retention: true. */
enum ol_decision ol_decide_delete(const struct ol_state *st,
                                  const struct ol_principal *who,
                                  int bypass_header, int64_t now_ms);

/* May the retention of a version change from st to (mode, until)?
 * mode NONE removes retention. The caller has already checked that a new
 * retain-until date is in the future. */
enum ol_decision ol_decide_retention(const struct ol_state *st,
                                     enum ol_mode mode, int64_t until_ms,
                                     const struct ol_principal *who,
                                     int bypass_header, int64_t now_ms);

/* 1 if the version is protected at now (legal hold, or retention not yet
 * expired). */
int ol_is_locked(const struct ol_state *st, int64_t now_ms);

/* "GOVERNANCE" / "COMPLIANCE" ↔ mode; ol_mode_parse returns -1 if unknown
 * (case-sensitive, as AWS). */
const char *ol_mode_str(enum ol_mode m);
int ol_mode_parse(const char *s, enum ol_mode *out);

/* Adds a default retention period to now: days of 86,400 s, or calendar
 * years (the same date N years later; Feb 29 → Feb 28). AWS does not say
 * how it counts a year; a calendar year is never shorter than 365 days, so
 * this never retains less than a 365-day reading would. */
int64_t ol_add_days(int64_t now_ms, int64_t days);
int64_t ol_add_years(int64_t now_ms, int64_t years);

/* ---- S3 lifecycle rules (ol_lc.c) ----
 * Pure functions deciding which versions and uploads a bucket's lifecycle
 * configuration expires at compliance time now. The gateway parses the XML
 * into these structs and acts on the decisions; permanent removals still
 * pass ol_decide_delete() (with no bypass), so lifecycle never removes a
 * locked version. Due times follow AWS: the number of days is added to
 * the reference time (creation, becoming noncurrent, initiation) and the
 * result rounded up to the next midnight UTC. */
#define OL_LC_RULES_MAX 1000
#define OL_LC_TAGS_MAX 10
#define OL_LC_ID_MAX 255
#define OL_LC_NEWER_MAX 100

struct ol_lc_tag {
    char *key, *value;        /* owned by whoever filled the rule */
};

struct ol_lc_rule {
    char *id;                 /* 1..OL_LC_ID_MAX bytes */
    int enabled;              /* Status Enabled */
    /* Filter: all given conditions must hold */
    char *prefix;             /* NULL or "" matches every key */
    size_t prefix_len;
    struct ol_lc_tag tags[OL_LC_TAGS_MAX];
    size_t ntags;
    int64_t size_gt, size_lt; /* -1 when not given */
    /* Actions; 0 when not given */
    int64_t exp_days;         /* current version: days after creation */
    int64_t exp_date_ms;      /* current version: from this midnight UTC */
    int exp_marker;           /* ExpiredObjectDeleteMarker true */
    int64_t nc_days;          /* noncurrent: days after becoming so */
    int64_t nc_newer;         /* ...but keep this many newer noncurrent */
    int64_t abort_days;       /* uploads: days after initiation */
};

/* What a rule may look at in a version. Delete markers have no size and
 * no tags: a rule with a tag or size condition never matches one. */
struct ol_lc_obj {
    const char *key;
    size_t key_len;
    uint64_t size;
    int delete_marker;
    const struct ol_lc_tag *tags;
    size_t ntags;
};

enum ol_lc_error {
    OL_LC_OK = 0,
    OL_LC_NO_ACTION,      /* a rule without any action (InvalidRequest) */
    OL_LC_BAD_VALUE,      /* days/newer out of range, date not midnight,
                             size bounds crossed (InvalidArgument) */
    OL_LC_MARKER_WITH_DAYS, /* ExpiredObjectDeleteMarker with Days or Date
                             (InvalidArgument) */
    OL_LC_TAG_FILTER,     /* a tag or size filter with
                             ExpiredObjectDeleteMarker or
                             AbortIncompleteMultipartUpload (InvalidRequest):
                             markers and uploads have neither */
    OL_LC_DUP_ID,         /* two rules with one ID (InvalidArgument) */
    OL_LC_TOO_MANY,       /* more than OL_LC_RULES_MAX rules */
};
/* Checks a whole configuration as PutBucketLifecycleConfiguration must;
 * *bad_rule receives the index of the first offending rule. */
enum ol_lc_error ol_lc_check(const struct ol_lc_rule *r, size_t n,
                             size_t *bad_rule);
const char *ol_lc_error_str(enum ol_lc_error e);

/* since + days, rounded up to the next midnight UTC (a time exactly at
 * midnight stays). */
int64_t ol_lc_due(int64_t since_ms, int64_t days);
/* 1 if the rule is enabled and its filter matches the object. */
int ol_lc_match(const struct ol_lc_rule *r, const struct ol_lc_obj *o);

/* The current version o (not a delete marker), created at created_ms,
 * expires at now: returns the rule deciding it, or NULL. */
const struct ol_lc_rule *ol_lc_expire_current(const struct ol_lc_rule *r,
                                              size_t n,
                                              const struct ol_lc_obj *o,
                                              int64_t created_ms,
                                              int64_t now_ms);
/* A noncurrent version (or delete marker) o that became noncurrent at
 * since_ms (its successor's creation) and has newer noncurrent versions
 * newer than it is removed at now: the rule, or NULL. */
const struct ol_lc_rule *ol_lc_expire_noncurrent(const struct ol_lc_rule *r,
                                                 size_t n,
                                                 const struct ol_lc_obj *o,
                                                 int64_t since_ms,
                                                 size_t newer,
                                                 int64_t now_ms);
/* A current delete marker o with no other version of its key is an
 * expired object delete marker: the rule removing it, or NULL. */
const struct ol_lc_rule *ol_lc_expire_marker(const struct ol_lc_rule *r,
                                             size_t n,
                                             const struct ol_lc_obj *o);
/* An upload of key initiated at initiated_ms is aborted at now: the rule,
 * or NULL. */
const struct ol_lc_rule *ol_lc_abort_upload(const struct ol_lc_rule *r,
                                            size_t n, const char *key,
                                            size_t key_len,
                                            int64_t initiated_ms,
                                            int64_t now_ms);

/* ---- compliance clock (ol_clock.c) ---- */

/* Persistence is the caller's: load returns the last persisted value (0 if
 * none), save stores one. Both may be called from any thread. */
typedef int64_t (*ol_clock_load_fn)(void *arg);
typedef int (*ol_clock_save_fn)(int64_t ms, void *arg);

/* Starts the clock: compliance time = max(persisted, wall clock at first
 * ever start) + elapsed boot time since. The wall clock is read only when
 * nothing was ever persisted. */
int ol_clock_start(ol_clock_load_fn load, ol_clock_save_fn save, void *arg);
/* Current compliance time in ms since the epoch; never goes backwards. */
int64_t ol_clock_now(void);
/* Persists the current value (call periodically and at shutdown). */
int ol_clock_persist(void);
/* Test builds only (-DCOFFER_TEST_CLOCK): shift the compliance clock
 * forward. Production builds do not have this function. */
#ifdef COFFER_TEST_CLOCK
void ol_clock_test_advance(int64_t ms);
#endif
/* The system clock (CLOCK_REALTIME) in ms. Never used to judge retention:
 * only to show when a report was made and how far the system clock has
 * drifted from compliance time. */
int64_t ol_clock_wall_ms(void);
/* |system clock - compliance time| above which the server warns. */
#define OL_CLOCK_DRIFT_WARN_MS (5 * 60 * 1000LL)
/* Logs the drift (system clock minus compliance time): at_start logs it
 * once at NOTICE (WARN beyond the threshold); otherwise it logs only when
 * the drift crosses the threshold, in either direction, so a clock that
 * stays wrong is reported once rather than every minute. Returns the
 * drift in ms. */
int64_t ol_clock_check_drift(int at_start);

/* Fills *ts with CLOCK_MONOTONIC now + ms, for pthread_cond_timedwait on
 * a condition variable set to CLOCK_MONOTONIC (timers that the system
 * date cannot move). */
void ol_clock_deadline(struct timespec *ts, int64_t ms);

/* ---- internal store: one whole object into a bucket (ol_store.c) ----
 * The write path for data that originates inside the server (the audit
 * export; later ingest): the same steps and order as an S3 PutObject —
 * the bucket's default retention stamped on the compliance clock, data
 * erasure-coded and made durable (ec_writer), MD5 (ETag) and SHA-256
 * recorded, then one synced catalog batch carrying the put-locked audit
 * entry (meta_object_put_audited). Blocks on disk: worker threads only. */
struct ol_store_obj {
    const char *bucket;
    const char *key;
    size_t key_len;
    const void *data;          /* borrowed for the call */
    size_t len;
    const char *content_type;  /* or NULL */
    const char *by;            /* who writes, for the audit entry */
    /* Explicit retention (lock_mode != NONE), used instead of the bucket
     * default when it is at least as strong (COMPLIANCE, and at least as
     * long); NONE: the bucket default alone. */
    enum ol_mode lock_mode;
    int64_t retain_until_ms;
};
/* OL_EINVAL if the bucket does not exist; OL_EIO if the data or the
 * catalog could not be written (nothing is left behind). vid (65 bytes,
 * may be NULL) receives the new version id. */
enum ol_status ol_store_put(struct meta_db *db, struct ec_set *set,
                            const struct ol_store_obj *o, char *vid);

/* ---- audit export into a locked bucket (ol_export.c) ----
 * Entries of the audit log are exported as JSON-lines objects named
 * audit/<first seq>-<last seq>.jsonl (20-digit zero-padded decimals), one
 * line per entry: {"seq","time_ms","time","prev","hash","event"}, where
 * event is the exact event text and hash = SHA-256(prev | seq u64 LE |
 * time_ms i64 LE | event), so an export verifies against the chain and
 * its first prev links to the previous export's last hash. Progress is
 * persisted in the catalog (K/audit_export_done, and _pending while an
 * object is being written) so that, across crashes and restarts, every
 * entry is exported exactly once. */
#define OL_EXPORT_BY "coffer:audit-export"
#define OL_EXPORT_MAX_ENTRIES 10000 /* per object */
struct ol_export_config {
    const char *bucket;        /* system bucket, e.g. "coffer-audit" */
    int64_t interval_ms;       /* between exports; 0: never */
    uint32_t retain_years;     /* COMPLIANCE default retention */
    const char *owner;         /* access key owning the bucket (root) */
};
/* Creates the bucket when missing (versioned, Object Lock on, COMPLIANCE
 * default retention of retain_years; the creation is audited); refuses
 * (OL_EINVAL, logged) an existing bucket without a COMPLIANCE default
 * retention. */
enum ol_status ol_export_prepare(struct meta_db *db,
                                 const struct ol_export_config *cfg);
/* One export pass: writes objects until every entry up to the head is
 * exported (entries written by the exporter itself alone do not make an
 * object). Each object is COMPLIANCE-locked for cfg->retain_years from
 * the compliance clock, or longer if the bucket default says so.
 * *objects (may be NULL) counts objects written. */
enum ol_status ol_export_run(struct meta_db *db, struct ec_set *set,
                             const struct ol_export_config *cfg,
                             unsigned *objects);
struct ol_exporter;
/* Prepares the bucket and starts a thread that exports at start, every
 * interval, and once more at ol_export_stop(). db and set are borrowed
 * and must outlive the exporter. */
enum ol_status ol_export_start(struct meta_db *db, struct ec_set *set,
                               const struct ol_export_config *cfg,
                               struct ol_exporter **out);
void ol_export_stop(struct ol_exporter *x); /* NULL is a no-op */

/* ---- audit chain verification (ol_audit.c) ---- */

struct ol_chain {
    uint64_t entries;          /* entries checked and intact */
    uint64_t bad_seq;          /* first broken entry, 0 when intact */
    const char *why;           /* static text naming the break, or NULL */
    unsigned char head[32];    /* hash of the last intact entry */
    int64_t head_time_ms;      /* its compliance time, 0 if none */
};
/* Walks the whole log: each entry's seq must follow the previous one, its
 * prev must be the previous entry's hash and its own hash must recompute.
 * An entry that does not decode counts as a break (why says so). OL_OK
 * when the walk completed (out->why says whether the chain is intact);
 * OL_EIO when the catalog could not be read. */
enum ol_status ol_chain_verify(struct meta_db *db, struct ol_chain *out);

/* ---- compliance report (ol_report.c) ---- */

enum ol_report_format { OL_REPORT_JSON = 0, OL_REPORT_CSV, OL_REPORT_HTML };
/* "json" / "csv" / "html" → format; -1 if unknown. */
int ol_report_format_parse(const char *s, enum ol_report_format *out);

/* Result of re-reading one version's data. */
enum ol_check {
    OL_CHECK_NONE = 0,  /* not checked (no --verify-data) */
    OL_CHECK_OK,        /* every block verified, hashes match */
    OL_CHECK_DEGRADED,  /* content intact, but some shard is missing or
                           corrupt: readable through parity, needs heal */
    OL_CHECK_MISSING,   /* data unreadable: too few good shards */
    OL_CHECK_MISMATCH,  /* data read, but its SHA-256 or MD5 differs from
                           what was recorded at write time */
    OL_CHECK_ERROR,     /* could not be checked (I/O error, memory) */
};
/* "not-checked", "ok", "degraded", "missing-data", "hash-mismatch",
 * "error". */
const char *ol_check_str(enum ol_check c);
/* 1 for the results an auditor must treat as a violation. */
int ol_check_is_violation(enum ol_check c);

/* One locked version: retention (in force or expired) and/or legal hold. */
struct ol_report_row {
    char bucket[64];
    char *key;                 /* owned, key_len bytes + NUL; any bytes */
    size_t key_len;
    char version_id[65];
    uint64_t size;
    char etag[72];             /* without quotes */
    size_t nparts;             /* 0: single-part */
    char sha256[65];           /* recorded at write time, "" if none */
    enum ol_mode mode;         /* NONE: legal hold only */
    int64_t retain_until_ms;
    int legal_hold;
    int64_t written_ms;        /* Last-Modified */
    int expired;               /* retention ended at the report's clock */
    enum ol_check check;
    char computed_sha256[65];  /* from the data when checked, else "" */
    char detail[160];          /* what went wrong, "" when ok */
};

/* Counts per (bucket, mode); mode NONE counts versions under legal hold
 * only. */
struct ol_report_sum {
    char bucket[64];
    enum ol_mode mode;
    uint64_t versions, bytes;
    uint64_t active, expired;  /* retention in force / ended */
    uint64_t legal_holds;
    uint64_t ok, degraded, missing, mismatch, errors; /* checks */
};

struct ol_report {
    int64_t generated_ms;      /* system clock when collected */
    int64_t clock_ms;          /* compliance time the state is judged at */
    char bucket[64];           /* filter; "" for every bucket */
    int verified;              /* data was re-read */
    int chain_checked;         /* chain holds a verification result */
    struct ol_chain chain;
    struct ol_report_row *rows; /* owned, bucket then key then version */
    size_t nrows, cap;
    struct ol_report_sum *sums; /* owned, filled by ol_report_summarize */
    size_t nsums;
    struct ol_report_sum total; /* every row (bucket "", mode NONE) */
    uint64_t violations;       /* violating rows, plus 1 for a broken
                                  chain */
};
void ol_report_init(struct ol_report *r);
void ol_report_cleanup(struct ol_report *r); /* zeroed struct: no-op */
/* Appends a copy of row (the key is copied). */
enum ol_status ol_report_add(struct ol_report *r,
                             const struct ol_report_row *row);
/* Adds every locked version of `bucket` (NULL: of every bucket) as the
 * catalog holds it now, judged at r->clock_ms. With a set, re-reads each
 * version's data through the erasure layer (verifying every block's
 * bitrot hash) and re-hashes it: SHA-256 against the recorded one, MD5
 * against the ETag (each part's for multipart). Then verifies the chain
 * and summarises. */
enum ol_status ol_report_collect(struct ol_report *r, struct meta_db *db,
                                 struct ec_set *set, const char *bucket);
/* (Re)computes sums, total and violations from the rows and the chain. */
enum ol_status ol_report_summarize(struct ol_report *r);
/* Writes the report: JSON (one document), CSV (header row, one row per
 * version), or HTML (one self-contained page: inline CSS, no script, no
 * external resource). OL_EIO if out failed. */
enum ol_status ol_report_write(const struct ol_report *r,
                               enum ol_report_format f, FILE *out);

/* Escaping, exposed for tests. Both take arbitrary bytes: invalid UTF-8
 * and control characters become U+FFFD (the key's exact bytes are given
 * in hex beside it). HTML: & < > " ' become entities. CSV: the field is
 * quoted (RFC 4180, quotes doubled) and a leading = + - @ or tab, which
 * spreadsheets would run as a formula, is preceded by '. */
void ol_html_escape(FILE *out, const char *s, size_t n);
void ol_csv_field(FILE *out, const char *s, size_t n);

#endif /* OL_H */
