/* test_ol.c: the WORM policy as a truth table (each row cites its source),
 * then an exhaustive sweep asserting the properties that must hold for
 * every input, and the compliance clock's monotonicity. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <cmocka.h>

#include "cf.h"
#include "ol.h"

#define NOW 1000000000000LL /* compliance time used by the table */
#define G OL_MODE_GOVERNANCE
#define C OL_MODE_COMPLIANCE
#define N OL_MODE_NONE

static const struct del_row {
    enum ol_mode mode;
    int64_t until_rel;   /* retain-until relative to NOW, ms */
    int hold, bypass_hdr, bypass_perm;
    enum ol_decision want;
    const char *src;
} del_rows[] = {
    { N, 0, 0, 0, 0, OL_ALLOW, "no lock: ordinary version" },
    { G, +60000, 0, 0, 0, OL_DENY_GOVERNANCE,
      "s3-tests test_object_lock_delete_object_with_retention" },
    { G, +60000, 0, 1, 1, OL_ALLOW,
      "s3-tests test_object_lock_delete_object_with_retention_and_bypass" },
    { G, +60000, 0, 1, 0, OL_DENY_GOVERNANCE,
      "user guide: bypass needs s3:BypassGovernanceRetention" },
    { G, +60000, 0, 0, 1, OL_DENY_GOVERNANCE,
      "user guide: bypass needs the x-amz-bypass-governance-retention header" },
    { C, +60000, 0, 1, 1, OL_DENY_COMPLIANCE,
      "user guide: compliance mode, no user can delete, not even root" },
    { C, 0, 0, 0, 0, OL_ALLOW, "retention ends at retain-until" },
    { C, -1, 0, 0, 0, OL_ALLOW, "expired compliance retention" },
    { G, +1, 0, 0, 0, OL_DENY_GOVERNANCE, "one ms before expiry" },
    { N, 0, 1, 1, 1, OL_DENY_LEGAL_HOLD,
      "s3-tests test_object_lock_delete_object_with_legal_hold_on" },
    { G, -5000, 1, 1, 1, OL_DENY_LEGAL_HOLD,
      "user guide: legal hold independent of retention" },
    { C, +60000, 1, 0, 0, OL_DENY_LEGAL_HOLD, "hold and compliance" },
};

static void test_delete_table(void **state)
{
    size_t i;
    for (i = 0; i < sizeof(del_rows) / sizeof(del_rows[0]); i++) {
        const struct del_row *r = &del_rows[i];
        struct ol_state st = { r->mode, NOW + r->until_rel, r->hold };
        struct ol_principal who = { r->bypass_perm };
        enum ol_decision d = ol_decide_delete(&st, &who, r->bypass_hdr, NOW);
        if (d != r->want) {
            print_error("row %zu (%s): got %s\n", i, r->src,
                        ol_decision_str(d));
            fail();
        }
    }
}

static const struct ret_row {
    enum ol_mode mode;
    int64_t until_rel;
    enum ol_mode new_mode;
    int64_t new_rel;
    int bypass_hdr, bypass_perm;
    enum ol_decision want;
    const char *src;
} ret_rows[] = {
    { N, 0, G, +1000, 0, 0, OL_ALLOW, "first retention on a version" },
    { C, +1000, C, +2000, 0, 0, OL_ALLOW,
      "s3-tests test_object_lock_put_obj_retention_increase_period" },
    { C, +1000, C, +1000, 0, 0, OL_ALLOW, "same compliance period" },
    { C, +2000, C, +1000, 1, 1, OL_DENY_COMPLIANCE,
      "s3-tests test_object_lock_put_obj_retention_shorten_period" },
    { C, +2000, G, +3000, 1, 1, OL_DENY_COMPLIANCE,
      "user guide: compliance mode can't be changed" },
    { C, +2000, N, 0, 1, 1, OL_DENY_COMPLIANCE, "compliance can't be removed" },
    { G, +2000, G, +3000, 0, 0, OL_ALLOW, "extend governance" },
    { G, +2000, C, +2000, 0, 0, OL_ALLOW, "governance → compliance upgrade" },
    { G, +2000, G, +1000, 0, 0, OL_DENY_GOVERNANCE,
      "s3-tests test_object_lock_put_obj_retention_shorten_period" },
    { G, +2000, G, +1000, 1, 1, OL_ALLOW,
      "s3-tests test_object_lock_put_obj_retention_shorten_period_bypass" },
    { G, +2000, N, 0, 1, 1, OL_ALLOW, "governance removed with bypass" },
    { G, +2000, N, 0, 0, 1, OL_DENY_GOVERNANCE, "removal without header" },
    { G, +2000, C, +1000, 0, 0, OL_DENY_GOVERNANCE,
      "an upgrade that shortens is a weakening" },
    { C, -1, G, +10, 0, 0, OL_ALLOW, "expired compliance: any new setting" },
};

static void test_retention_table(void **state)
{
    size_t i;
    for (i = 0; i < sizeof(ret_rows) / sizeof(ret_rows[0]); i++) {
        const struct ret_row *r = &ret_rows[i];
        struct ol_state st = { r->mode, NOW + r->until_rel, 0 };
        struct ol_principal who = { r->bypass_perm };
        enum ol_decision d = ol_decide_retention(&st, r->new_mode,
                                                 NOW + r->new_rel, &who,
                                                 r->bypass_hdr, NOW);
        if (d != r->want) {
            print_error("row %zu (%s): got %s\n", i, r->src,
                        ol_decision_str(d));
            fail();
        }
    }
}

/* Every combination: the properties that must never fail. */
static void test_sweep_properties(void **state)
{
    static const enum ol_mode modes[] = { N, G, C };
    static const int64_t rel[] = { -100000, -1, 0, 1, 100000,
                                   3155760000000LL /* ~100 years */ };
    size_t a, b, c, e;
    int hold, hdr, perm;

    for (a = 0; a < 3; a++)
        for (b = 0; b < 6; b++)
            for (hold = 0; hold < 2; hold++)
                for (hdr = 0; hdr < 2; hdr++)
                    for (perm = 0; perm < 2; perm++) {
                        struct ol_state st = { modes[a], NOW + rel[b], hold };
                        struct ol_principal who = { perm };
                        enum ol_decision d =
                            ol_decide_delete(&st, &who, hdr, NOW);
                        int active = modes[a] != N && rel[b] > 0;
                        /* P1: a held version is never deletable */
                        if (hold) assert_int_not_equal(d, OL_ALLOW);
                        /* P2: active COMPLIANCE is never deletable */
                        if (modes[a] == C && active)
                            assert_int_not_equal(d, OL_ALLOW);
                        /* P3: an unlocked version is always deletable */
                        if (!hold && !active) assert_int_equal(d, OL_ALLOW);
                        /* P4: ol_is_locked agrees with the decision for a
                         * principal without bypass */
                        if (!perm)
                            assert_int_equal(ol_is_locked(&st, NOW),
                                             d != OL_ALLOW);
                        for (c = 0; c < 3; c++)
                            for (e = 0; e < 6; e++) {
                                enum ol_decision r = ol_decide_retention(
                                    &st, modes[c], NOW + rel[e], &who, hdr,
                                    NOW);
                                /* P5: active COMPLIANCE never gets weaker */
                                if (modes[a] == C && active && r == OL_ALLOW)
                                    assert_true(modes[c] == C &&
                                                rel[e] >= rel[b]);
                                /* P6: weakening GOVERNANCE needs bypass */
                                if (modes[a] == G && active &&
                                    r == OL_ALLOW &&
                                    (modes[c] == N || rel[e] < rel[b]))
                                    assert_true(hdr && perm);
                            }
                    }
}

static void test_dates(void **state)
{
    /* 2024-02-29 + 1 year → 2025-02-28; + 4 years → 2028-02-29 */
    int64_t leap = 1709164800000LL; /* 2024-02-29T00:00:00Z */
    char buf[CF_ISO8601_LEN];
    cf_fmt_iso8601_ms(ol_add_years(leap, 1), buf);
    assert_string_equal(buf, "2025-02-28T00:00:00.000Z");
    cf_fmt_iso8601_ms(ol_add_years(leap, 4), buf);
    assert_string_equal(buf, "2028-02-29T00:00:00.000Z");
    /* 99-year retention lands past 2106 and formats exactly */
    cf_fmt_iso8601_ms(ol_add_years(leap + 1234, 99), buf);
    assert_string_equal(buf, "2123-02-28T00:00:01.234Z");
    assert_int_equal(ol_add_days(leap, 1) - leap, 86400000LL);
    {
        enum ol_mode m;
        assert_int_equal(ol_mode_parse("COMPLIANCE", &m), 0);
        assert_int_equal(m, C);
        assert_int_equal(ol_mode_parse("compliance", &m), -1);
        assert_string_equal(ol_mode_str(G), "GOVERNANCE");
    }
}

static int64_t stored;
static int64_t load(void *arg) { return stored; }
static int save(int64_t ms, void *arg)
{
    stored = ms;
    return 0;
}

static void test_clock(void **state)
{
    int64_t a, b;
    stored = 4102444800000LL; /* a persisted time in 2100 */
    assert_int_equal(ol_clock_start(load, save, NULL), 0);
    a = ol_clock_now();
    /* starts from the persisted value, not from the wall clock */
    assert_true(a >= 4102444800000LL && a < 4102444800000LL + 60000);
    b = ol_clock_now();
    assert_true(b >= a);
    assert_int_equal(ol_clock_persist(), 0);
    assert_true(stored >= b);
    /* nothing persisted: the wall clock seeds it once */
    stored = 0;
    assert_int_equal(ol_clock_start(load, save, NULL), 0);
    assert_true(ol_clock_now() >= (int64_t)time(NULL) * 1000 - 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delete_table),
        cmocka_unit_test(test_retention_table),
        cmocka_unit_test(test_sweep_properties),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
