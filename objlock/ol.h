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
 * Threads: everything here is thread-safe. */
#ifndef OL_H
#define OL_H

#include <stdint.h>

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

#endif /* OL_H */
