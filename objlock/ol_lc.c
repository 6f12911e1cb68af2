/* ol_lc.c: S3 lifecycle decisions as pure functions of (rules, version,
 * compliance time). The semantics are AWS's (user guide "Managing your
 * storage lifecycle", "Lifecycle configuration elements", and the API
 * reference for LifecycleRule, LifecycleExpiration,
 * NoncurrentVersionExpiration and AbortIncompleteMultipartUpload). No clock
 * is read here and nothing is removed: the gateway acts on the answers,
 * and every permanent removal still asks ol_decide_delete(). */
#include "ol.h"

#include <string.h>

#define DAY_MS 86400000LL

const char *ol_lc_error_str(enum ol_lc_error e)
{
    switch (e) {
    case OL_LC_OK: return "ok";
    case OL_LC_NO_ACTION:
        return "At least one action needs to be specified in a rule";
    case OL_LC_BAD_VALUE:
        return "A lifecycle value is out of range: ID at most 255 "
               "characters, Days, NoncurrentDays and "
               "DaysAfterInitiation must be positive integers, "
               "NewerNoncurrentVersions 1..100, a Date midnight UTC, "
               "ObjectSizeLessThan above ObjectSizeGreaterThan";
    case OL_LC_MARKER_WITH_DAYS:
        return "ExpiredObjectDeleteMarker cannot be specified with Days or "
               "Date in a Lifecycle Expiration Policy";
    case OL_LC_TAG_FILTER:
        return "Tag-based and object size filters cannot be used with "
               "ExpiredObjectDeleteMarker or AbortIncompleteMultipartUpload";
    case OL_LC_DUP_ID: return "Rule ID must be unique";
    case OL_LC_TOO_MANY: return "A lifecycle configuration holds at most "
                                "1000 rules";
    }
    return "invalid lifecycle configuration";
}

/* Days are bounded so due times stay far inside int64 milliseconds. */
#define DAYS_MAX 3650000LL   /* 10,000 years */

static int days_ok(int64_t d)
{
    return d >= 0 && d <= DAYS_MAX;
}

enum ol_lc_error ol_lc_check(const struct ol_lc_rule *r, size_t n,
                             size_t *bad_rule)
{
    size_t i, j;

    *bad_rule = 0;
    if (n > OL_LC_RULES_MAX) return OL_LC_TOO_MANY;
    for (i = 0; i < n; i++) {
        const struct ol_lc_rule *x = &r[i];
        *bad_rule = i;
        if (x->id == NULL || strlen(x->id) > OL_LC_ID_MAX)
            return OL_LC_BAD_VALUE;
        if (x->exp_days == 0 && x->exp_date_ms == 0 && !x->exp_marker &&
            x->nc_days == 0 && x->abort_days == 0)
            return OL_LC_NO_ACTION;
        if (!days_ok(x->exp_days) || !days_ok(x->nc_days) ||
            !days_ok(x->abort_days))
            return OL_LC_BAD_VALUE;
        if (x->exp_date_ms < 0 || x->exp_date_ms % DAY_MS != 0)
            return OL_LC_BAD_VALUE;
        if (x->exp_days && x->exp_date_ms) return OL_LC_BAD_VALUE;
        if (x->nc_newer < 0 || x->nc_newer > OL_LC_NEWER_MAX ||
            (x->nc_newer && x->nc_days == 0))
            return OL_LC_BAD_VALUE;
        if (x->size_gt < -1 || x->size_lt < -1 ||
            (x->size_gt >= 0 && x->size_lt >= 0 && x->size_lt <= x->size_gt))
            return OL_LC_BAD_VALUE;
        if (x->exp_marker && (x->exp_days || x->exp_date_ms))
            return OL_LC_MARKER_WITH_DAYS;
        if ((x->ntags || x->size_gt >= 0 || x->size_lt >= 0) &&
            (x->exp_marker || x->abort_days))
            return OL_LC_TAG_FILTER;
        for (j = 0; j < i; j++)
            if (strcmp(r[j].id, x->id) == 0) return OL_LC_DUP_ID;
    }
    return OL_LC_OK;
}

int64_t ol_lc_due(int64_t since_ms, int64_t days)
{
    int64_t t = since_ms + days * DAY_MS;
    int64_t q = t / DAY_MS;
    if (t % DAY_MS != 0 && t > 0) q++;
    return q * DAY_MS;
}

static int has_tag(const struct ol_lc_obj *o, const struct ol_lc_tag *t)
{
    size_t i;
    for (i = 0; i < o->ntags; i++)
        if (strcmp(o->tags[i].key, t->key) == 0 &&
            strcmp(o->tags[i].value, t->value) == 0)
            return 1;
    return 0;
}

int ol_lc_match(const struct ol_lc_rule *r, const struct ol_lc_obj *o)
{
    size_t i;

    if (!r->enabled) return 0;
    if (r->prefix_len && (o->key_len < r->prefix_len ||
                          memcmp(o->key, r->prefix, r->prefix_len) != 0))
        return 0;
    if (o->delete_marker)
        return r->ntags == 0 && r->size_gt < 0 && r->size_lt < 0;
    for (i = 0; i < r->ntags; i++)
        if (!has_tag(o, &r->tags[i])) return 0;
    if (r->size_gt >= 0 && o->size <= (uint64_t)r->size_gt) return 0;
    if (r->size_lt >= 0 && o->size >= (uint64_t)r->size_lt) return 0;
    return 1;
}

const struct ol_lc_rule *ol_lc_expire_current(const struct ol_lc_rule *r,
                                              size_t n,
                                              const struct ol_lc_obj *o,
                                              int64_t created_ms,
                                              int64_t now_ms)
{
    size_t i;
    if (o->delete_marker) return NULL;
    for (i = 0; i < n; i++) {
        if (!ol_lc_match(&r[i], o)) continue;
        if (r[i].exp_days && now_ms >= ol_lc_due(created_ms, r[i].exp_days))
            return &r[i];
        if (r[i].exp_date_ms && now_ms >= r[i].exp_date_ms) return &r[i];
    }
    return NULL;
}

const struct ol_lc_rule *ol_lc_expire_noncurrent(const struct ol_lc_rule *r,
                                                 size_t n,
                                                 const struct ol_lc_obj *o,
                                                 int64_t since_ms,
                                                 size_t newer,
                                                 int64_t now_ms)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (r[i].nc_days == 0 || !ol_lc_match(&r[i], o)) continue;
        /* NewerNoncurrentVersions: that many newer noncurrent versions
         * are kept whatever their age. */
        if (r[i].nc_newer && newer < (size_t)r[i].nc_newer) continue;
        if (now_ms >= ol_lc_due(since_ms, r[i].nc_days)) return &r[i];
    }
    return NULL;
}

const struct ol_lc_rule *ol_lc_expire_marker(const struct ol_lc_rule *r,
                                             size_t n,
                                             const struct ol_lc_obj *o)
{
    size_t i;
    if (!o->delete_marker) return NULL;
    for (i = 0; i < n; i++)
        if (r[i].exp_marker && ol_lc_match(&r[i], o)) return &r[i];
    return NULL;
}

const struct ol_lc_rule *ol_lc_abort_upload(const struct ol_lc_rule *r,
                                            size_t n, const char *key,
                                            size_t key_len,
                                            int64_t initiated_ms,
                                            int64_t now_ms)
{
    struct ol_lc_obj o;
    size_t i;

    memset(&o, 0, sizeof(o));
    o.key = key;
    o.key_len = key_len;
    for (i = 0; i < n; i++) {
        if (r[i].abort_days == 0) continue;
        if (!ol_lc_match(&r[i], &o)) continue;
        if (now_ms >= ol_lc_due(initiated_ms, r[i].abort_days)) return &r[i];
    }
    return NULL;
}
