/* ol_policy.c: WORM decisions as pure functions. Each rule names its
 * source: the AWS S3 user guide "Object Lock" pages (retention modes,
 * legal holds, bypassing governance mode) and Ceph's s3-tests object lock
 * cases. No clock is read here: `now` is the compliance time. */
#include "ol.h"
#include "cf.h"

#include <string.h>

const char *ol_decision_str(enum ol_decision d)
{
    switch (d) {
    case OL_ALLOW: return "allowed";
    case OL_DENY_LEGAL_HOLD: return "a legal hold is in place";
    case OL_DENY_COMPLIANCE: return "COMPLIANCE retention is in force";
    case OL_DENY_GOVERNANCE:
        return "GOVERNANCE retention is in force and was not bypassed";
    }
    return "denied";
}

int ol_is_locked(const struct ol_state *st, int64_t now_ms)
{
    return st->legal_hold ||
           (st->mode != OL_MODE_NONE && now_ms < st->retain_until_ms);
}

enum ol_decision ol_decide_delete(const struct ol_state *st,
                                  const struct ol_principal *who,
                                  int bypass_header, int64_t now_ms)
{
    /* AWS "Legal hold": prevents deletion until removed, independent of
     * retention and of any bypass. */
    if (st->legal_hold) return OL_DENY_LEGAL_HOLD;
    /* Retention ends at retain-until; afterwards the version is ordinary.
     * (s3-tests test_object_lock_delete_object_with_retention_and_..., the
     * user guide "Retention periods".) */
    if (st->mode == OL_MODE_NONE || now_ms >= st->retain_until_ms)
        return OL_ALLOW;
    /* "In compliance mode, a protected object version can't be overwritten
     * or deleted by any user, including the root user." */
    if (st->mode == OL_MODE_COMPLIANCE) return OL_DENY_COMPLIANCE;
    /* Governance: only with s3:BypassGovernanceRetention AND the
     * x-amz-bypass-governance-retention: true header. */
    if (who->bypass_governance && bypass_header) return OL_ALLOW;
    return OL_DENY_GOVERNANCE;
}

enum ol_decision ol_decide_retention(const struct ol_state *st,
                                     enum ol_mode mode, int64_t until_ms,
                                     const struct ol_principal *who,
                                     int bypass_header, int64_t now_ms)
{
    int active = st->mode != OL_MODE_NONE && now_ms < st->retain_until_ms;

    /* Nothing in force: any retention may be set. (A legal hold does not
     * restrict retention changes: the two are independent.) */
    if (!active) return OL_ALLOW;
    if (st->mode == OL_MODE_COMPLIANCE) {
        /* "you can't change its retention mode or shorten its retention
         * period" — extending (or keeping) COMPLIANCE is allowed. */
        if (mode == OL_MODE_COMPLIANCE && until_ms >= st->retain_until_ms)
            return OL_ALLOW;
        return OL_DENY_COMPLIANCE;
    }
    /* GOVERNANCE in force: upgrading to COMPLIANCE or extending needs no
     * special permission; shortening, removing, or any weakening needs
     * the bypass (user guide "Bypassing governance mode"). */
    if (mode != OL_MODE_NONE && until_ms >= st->retain_until_ms) {
        if (mode == OL_MODE_GOVERNANCE || mode == OL_MODE_COMPLIANCE)
            return OL_ALLOW;
    }
    if (who->bypass_governance && bypass_header) return OL_ALLOW;
    return OL_DENY_GOVERNANCE;
}

const char *ol_mode_str(enum ol_mode m)
{
    switch (m) {
    case OL_MODE_GOVERNANCE: return "GOVERNANCE";
    case OL_MODE_COMPLIANCE: return "COMPLIANCE";
    default: return "";
    }
}

int ol_mode_parse(const char *s, enum ol_mode *out)
{
    if (strcmp(s, "GOVERNANCE") == 0) *out = OL_MODE_GOVERNANCE;
    else if (strcmp(s, "COMPLIANCE") == 0) *out = OL_MODE_COMPLIANCE;
    else return -1;
    return 0;
}

int64_t ol_add_days(int64_t now_ms, int64_t days)
{
    return now_ms + days * 86400000LL;
}

int64_t ol_add_years(int64_t now_ms, int64_t years)
{
    int64_t day = now_ms >= 0 ? now_ms / 86400000LL
                              : (now_ms - 86399999LL) / 86400000LL;
    int64_t rest = now_ms - day * 86400000LL, y, nd;
    unsigned m, d;

    cf_civil_from_days(day, &y, &m, &d);
    y += years;
    if (m == 2 && d == 29 &&
        !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        d = 28;
    nd = cf_days_from_civil(y, m, d);
    return nd * 86400000LL + rest;
}
