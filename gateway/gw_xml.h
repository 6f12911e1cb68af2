/* gw_xml.h (gateway-internal): S3 XML in and out. Request bodies are parsed
 * with libxml2 (no network, no entities, no DTD), bounded by the caller's
 * size limit before parsing; responses are built into a growable buffer with
 * escaping, never by pasting unescaped client bytes.
 * Thread-safe; call gw_xml_init() once at start (libxml2's xmlInitParser). */
#ifndef GW_XML_H
#define GW_XML_H

#include <stddef.h>
#include <stdint.h>

/* A growable output buffer. Zero-initialise, append, then take p/len.
 * After an allocation failure every later append is a no-op and oom stays
 * set: check it once at the end. */
struct gw_xbuf {
    char *p;       /* owned, NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    int oom;
};
void gw_xbuf_cleanup(struct gw_xbuf *b);
void gw_xbuf_raw(struct gw_xbuf *b, const char *s, size_t n);
void gw_xbuf_str(struct gw_xbuf *b, const char *s); /* raw, NUL-terminated */
void gw_xbuf_printf(struct gw_xbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s XML-escaped (& < > " ' and control characters as &#xN;; bytes
 * that are not valid UTF-8 are escaped too so the document stays
 * well-formed). */
void gw_xbuf_esc(struct gw_xbuf *b, const char *s, size_t n);
/* <name>escaped value</name> */
void gw_xbuf_elem(struct gw_xbuf *b, const char *name, const char *s,
                  size_t n);
/* Appends s with S3 encoding-type=url rules (URL-encode everything except
 * unreserved characters and '/'), then XML-escaped. */
void gw_xbuf_urlenc(struct gw_xbuf *b, const char *s, size_t n);
/* The standard declaration line. */
#define GW_XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

enum gw_xml_status {
    GW_XML_OK = 0,
    GW_XML_MALFORMED,   /* not well-formed or wrong structure: MalformedXML */
    GW_XML_ENOMEM,
};

void gw_xml_init(void);

/* <CreateBucketConfiguration><LocationConstraint>r</LocationConstraint>
 * </CreateBucketConfiguration>. An empty body is not handled here. Copies the
 * constraint (possibly empty) into region. Constraint longer than regioncap-1
 * → MALFORMED. */
enum gw_xml_status gw_xml_parse_location(const char *body, size_t len,
                                         char *region, size_t regioncap);

/* DeleteObjects request: <Delete><Quiet>true</Quiet><Object><Key>k</Key>
 * <VersionId>v</VersionId></Object>...</Delete>. */
#define GW_XML_DELETE_MAX 1000
struct gw_xml_del_obj {
    char *key;          /* owned, key_len bytes + NUL */
    size_t key_len;
    char *version_id;   /* owned or NULL */
};
struct gw_xml_delete {
    int quiet;
    struct gw_xml_del_obj *objs; /* owned array */
    size_t nobjs;                /* 1..GW_XML_DELETE_MAX */
};
/* No <Object>, more than GW_XML_DELETE_MAX objects, an Object without Key,
 * an empty key, or unknown structure → MALFORMED. */
enum gw_xml_status gw_xml_parse_delete(const char *body, size_t len,
                                       struct gw_xml_delete *out);
void gw_xml_delete_cleanup(struct gw_xml_delete *d);

/* CompleteMultipartUpload: <CompleteMultipartUpload><Part><PartNumber>1
 * </PartNumber><ETag>"hex"</ETag>[<ChecksumXXX>..]</Part>...
 * </CompleteMultipartUpload>. ETags are stored without quotes. A part's
 * Checksum* element is kept by name (two of them → MALFORMED). No parts,
 * more than GW_XML_PARTS_MAX, or a part without number or ETag →
 * MALFORMED. Order is kept as sent (the caller checks it). */
#define GW_XML_PARTS_MAX 10000
struct gw_xml_part {
    long number;        /* as sent; may be out of range (caller checks) */
    char etag[80];      /* unquoted */
    char csum_elem[24]; /* "ChecksumCRC32" etc. as sent, "" when none */
    char csum[72];      /* its value, trimmed (a longer one is cut: it
                         * cannot match any checksum) */
};
struct gw_xml_complete {
    struct gw_xml_part *parts; /* owned */
    size_t nparts;
};
enum gw_xml_status gw_xml_parse_complete(const char *body, size_t len,
                                         struct gw_xml_complete *out);
void gw_xml_complete_cleanup(struct gw_xml_complete *c);

/* <VersioningConfiguration><Status>Enabled|Suspended</Status>
 * [<MfaDelete>Disabled</MfaDelete>]</VersioningConfiguration>. *enabled is
 * 1 for Enabled, 0 for Suspended; a missing or other Status, or MfaDelete
 * Enabled (not supported), → MALFORMED. */
enum gw_xml_status gw_xml_parse_versioning(const char *body, size_t len,
                                           int *enabled);

/* <ServerSideEncryptionConfiguration><Rule>
 * <ApplyServerSideEncryptionByDefault><SSEAlgorithm>A</SSEAlgorithm>
 * [<KMSMasterKeyID>..</KMSMasterKeyID>]</ApplyServerSideEncryptionByDefault>
 * [<BucketKeyEnabled>true|false</BucketKeyEnabled>]</Rule>
 * </ServerSideEncryptionConfiguration>: exactly one Rule with a default.
 * algo receives SSEAlgorithm as sent (the caller judges it); *kms_key is
 * set when a KMSMasterKeyID was given, *bucket_key when BucketKeyEnabled
 * is true. */
enum gw_xml_status gw_xml_parse_encryption(const char *body, size_t len,
                                           char algo[32], int *kms_key,
                                           int *bucket_key);

/* Object Lock documents. Modes are "GOVERNANCE" / "COMPLIANCE" (as sent;
 * the caller validates). Missing elements stay zero / empty. */
struct gw_xml_lock_config {
    int enabled;            /* ObjectLockEnabled was "Enabled" */
    int has_rule;           /* a Rule/DefaultRetention was given */
    char mode[16];          /* DefaultRetention/Mode */
    long days, years;       /* -1 when absent */
};
/* MALFORMED also for: ObjectLockEnabled other than "Enabled", both Days
 * and Years, a DefaultRetention without Mode or without a period, unknown
 * elements. Zero/negative periods are returned for the caller to refuse
 * with InvalidRetentionPeriod. */
enum gw_xml_status gw_xml_parse_lock_config(const char *body, size_t len,
                                            struct gw_xml_lock_config *out);
/* <Retention><Mode>..</Mode><RetainUntilDate>..</RetainUntilDate>
 * </Retention>; both may be absent (removal). */
enum gw_xml_status gw_xml_parse_retention(const char *body, size_t len,
                                          char *mode, size_t modecap,
                                          char *until, size_t untilcap);
/* <LegalHold><Status>ON|OFF</Status></LegalHold> → *on. */
enum gw_xml_status gw_xml_parse_legal_hold(const char *body, size_t len,
                                           int *on);

/* <Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag>...</TagSet>
 * </Tagging>. Keys and values are kept exactly (no trimming); the caller
 * applies S3's tag limits. Tags past the 50th are checked for structure
 * and counted in too_many, not kept (the caller answers InvalidTag). */
#define GW_XML_TAGS_MAX 50
struct gw_xml_tag {
    char *key, *value; /* owned */
};
struct gw_xml_tags {
    struct gw_xml_tag tags[GW_XML_TAGS_MAX];
    size_t n;
    int too_many;      /* more than GW_XML_TAGS_MAX were sent */
};
enum gw_xml_status gw_xml_parse_tagging(const char *body, size_t len,
                                        struct gw_xml_tags *out);
void gw_xml_tags_cleanup(struct gw_xml_tags *t);

/* PutBucketCors: <CORSConfiguration><CORSRule>[<ID>] <AllowedOrigin>+
 * <AllowedMethod>+ <AllowedHeader>* [<MaxAgeSeconds>] <ExposeHeader>*
 * </CORSRule>+</CORSConfiguration>. Values are kept exactly; the caller
 * applies S3's rules (methods, wildcards, rule count: it bounds the body
 * size first). MALFORMED: no rule, a rule without an origin or a method,
 * an empty origin, method or allowed header, unknown elements, a second
 * ID or MaxAgeSeconds, a MaxAgeSeconds that is not a non-negative
 * integer. */
struct gw_xml_strs {
    char **v;          /* owned strings */
    size_t n;
};
struct gw_xml_cors_rule {
    char *id;                      /* owned, NULL when absent */
    struct gw_xml_strs origins;    /* AllowedOrigin, >= 1 */
    struct gw_xml_strs methods;    /* AllowedMethod, >= 1 */
    struct gw_xml_strs headers;    /* AllowedHeader */
    struct gw_xml_strs expose;     /* ExposeHeader */
    long max_age;                  /* MaxAgeSeconds, -1 when absent */
};
struct gw_xml_cors {
    struct gw_xml_cors_rule *rules; /* owned, n >= 1 after GW_XML_OK */
    size_t n;
};
enum gw_xml_status gw_xml_parse_cors(const char *body, size_t len,
                                     struct gw_xml_cors *out);
void gw_xml_cors_cleanup(struct gw_xml_cors *c);

/* <PublicAccessBlockConfiguration>: flags[0..3] = BlockPublicAcls,
 * IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets (absent:
 * false). Unknown elements or values other than true/false: MALFORMED. */
enum gw_xml_status gw_xml_parse_pab(const char *body, size_t len,
                                    int flags[4]);
/* PutBucketLifecycleConfiguration: <LifecycleConfiguration><Rule>+
 * </LifecycleConfiguration>, each Rule with [ID], Filter (Prefix | Tag |
 * ObjectSizeGreaterThan | ObjectSizeLessThan | And of them) or the legacy
 * top-level Prefix, Status Enabled|Disabled, and the actions Expiration
 * (Days | Date | ExpiredObjectDeleteMarker), NoncurrentVersionExpiration
 * (NoncurrentDays [NewerNoncurrentVersions]) and
 * AbortIncompleteMultipartUpload (DaysAfterInitiation). Into objlock's
 * rule structs (strings owned by the result). Values that are present
 * but out of range are stored as -1 (Days, NoncurrentDays,
 * NewerNoncurrentVersions, DaysAfterInitiation, a Date that does not
 * parse) for ol_lc_check() to refuse with InvalidArgument. MALFORMED:
 * not a lifecycle document, no rule, unknown elements, a rule without
 * Status or with both or neither of Filter and Prefix, a Filter with two
 * conditions outside And, a second occurrence of a single element, a
 * non-numeric number, more than OL_LC_TAGS_MAX tags or OL_LC_RULES_MAX
 * rules. Transition and NoncurrentVersionTransition set *transition
 * (coffer has one storage class: the caller answers 501). */
struct ol_lc_rule;
struct gw_xml_lifecycle {
    struct ol_lc_rule *rules;  /* owned */
    size_t n;
    int transition;
};
enum gw_xml_status gw_xml_parse_lifecycle(const char *body, size_t len,
                                          struct gw_xml_lifecycle *out);
void gw_xml_lifecycle_cleanup(struct gw_xml_lifecycle *l);

#endif /* GW_XML_H */
