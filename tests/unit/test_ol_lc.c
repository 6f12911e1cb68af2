/* test_ol_lc.c: lifecycle decisions (objlock/ol_lc.c): due-time rounding
 * as the AWS user guide's example gives it, filters, each action, the
 * configuration checks, and a sweep asserting that no rule ever expires a
 * version before its due time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cf.h"
#include "ol.h"

#define DAY 86400000LL

static int64_t at(int y, unsigned mo, unsigned d, int h, int mi)
{
    return (cf_days_from_civil(y, mo, d) * 86400LL + h * 3600 + mi * 60) *
           1000;
}

static struct ol_lc_rule rule(const char *id)
{
    struct ol_lc_rule r;
    memset(&r, 0, sizeof(r));
    r.id = (char *)id;
    r.enabled = 1;
    r.size_gt = r.size_lt = -1;
    return r;
}

static struct ol_lc_obj obj(const char *key, uint64_t size)
{
    struct ol_lc_obj o;
    memset(&o, 0, sizeof(o));
    o.key = key;
    o.key_len = strlen(key);
    o.size = size;
    return o;
}

static void test_due_rounds_up_to_midnight(void **state)
{
    (void)state;
    /* AWS user guide: an object created 1/15/2014 10:30 AM UTC with a
     * 3-day rule expires 1/19/2014 00:00 UTC. */
    assert_int_equal(ol_lc_due(at(2014, 1, 15, 10, 30), 3),
                     at(2014, 1, 19, 0, 0));
    /* exactly at midnight stays */
    assert_int_equal(ol_lc_due(at(2014, 1, 15, 0, 0), 1),
                     at(2014, 1, 16, 0, 0));
    /* one millisecond after midnight rounds to the next */
    assert_int_equal(ol_lc_due(at(2014, 1, 15, 0, 0) + 1, 1),
                     at(2014, 1, 17, 0, 0));
}

static void test_filters(void **state)
{
    struct ol_lc_rule r = rule("r");
    struct ol_lc_obj o = obj("logs/a", 100);
    struct ol_lc_tag t1 = { "class", "tmp" }, t2 = { "team", "x" };
    struct ol_lc_tag have[2] = { { "team", "x" }, { "class", "tmp" } };
    (void)state;

    assert_true(ol_lc_match(&r, &o));           /* empty filter */
    r.prefix = "logs/";
    r.prefix_len = 5;
    assert_true(ol_lc_match(&r, &o));
    o = obj("log", 100);
    assert_false(ol_lc_match(&r, &o));          /* shorter than prefix */
    o = obj("data/logs/a", 100);
    assert_false(ol_lc_match(&r, &o));
    o = obj("logs/a", 100);
    r.tags[0] = t1;
    r.tags[1] = t2;
    r.ntags = 2;
    assert_false(ol_lc_match(&r, &o));          /* no tags on the object */
    o.tags = have;
    o.ntags = 1;
    assert_false(ol_lc_match(&r, &o));          /* all tags must match */
    o.ntags = 2;
    assert_true(ol_lc_match(&r, &o));
    r.size_gt = 100;
    assert_false(ol_lc_match(&r, &o));          /* strictly greater */
    r.size_gt = 99;
    assert_true(ol_lc_match(&r, &o));
    r.size_lt = 100;
    assert_false(ol_lc_match(&r, &o));          /* strictly less */
    r.size_lt = 101;
    assert_true(ol_lc_match(&r, &o));
    r.enabled = 0;
    assert_false(ol_lc_match(&r, &o));          /* Disabled */
    /* a delete marker matches only a rule without tag or size */
    r = rule("m");
    o = obj("k", 0);
    o.delete_marker = 1;
    assert_true(ol_lc_match(&r, &o));
    r.size_lt = 10;
    assert_false(ol_lc_match(&r, &o));
}

static void test_expire_current(void **state)
{
    struct ol_lc_rule r[2] = { rule("days"), rule("date") };
    struct ol_lc_obj o = obj("a", 1);
    int64_t created = at(2026, 3, 1, 12, 0);
    (void)state;

    r[0].exp_days = 2;
    r[0].prefix = "a";
    r[0].prefix_len = 1;
    assert_null(ol_lc_expire_current(r, 1, &o, created,
                                     at(2026, 3, 3, 23, 59)));
    assert_ptr_equal(ol_lc_expire_current(r, 1, &o, created,
                                          at(2026, 3, 4, 0, 0)), &r[0]);
    /* Date: everything matching from that midnight on, whatever its age */
    r[1].exp_date_ms = at(2026, 3, 2, 0, 0);
    o = obj("b", 1);
    assert_null(ol_lc_expire_current(r, 2, &o, created,
                                     at(2026, 3, 1, 23, 0)));
    assert_ptr_equal(ol_lc_expire_current(r, 2, &o, created,
                                          at(2026, 3, 2, 0, 0)), &r[1]);
    /* never a delete marker */
    o.delete_marker = 1;
    assert_null(ol_lc_expire_current(r, 2, &o, created, at(2030, 1, 1, 0, 0)));
}

static void test_expire_noncurrent(void **state)
{
    struct ol_lc_rule r = rule("nc");
    struct ol_lc_obj o = obj("a", 1);
    int64_t since = at(2026, 5, 10, 8, 0);
    (void)state;

    r.nc_days = 1;
    assert_null(ol_lc_expire_noncurrent(&r, 1, &o, since, 0,
                                        at(2026, 5, 11, 23, 59)));
    assert_non_null(ol_lc_expire_noncurrent(&r, 1, &o, since, 0,
                                            at(2026, 5, 12, 0, 0)));
    /* keep 2 newer noncurrent versions whatever their age */
    r.nc_newer = 2;
    assert_null(ol_lc_expire_noncurrent(&r, 1, &o, since, 1,
                                        at(2027, 1, 1, 0, 0)));
    assert_non_null(ol_lc_expire_noncurrent(&r, 1, &o, since, 2,
                                            at(2027, 1, 1, 0, 0)));
    /* noncurrent delete markers too */
    o.delete_marker = 1;
    assert_non_null(ol_lc_expire_noncurrent(&r, 1, &o, since, 5,
                                            at(2027, 1, 1, 0, 0)));
    /* a rule without NoncurrentVersionExpiration never removes one */
    r = rule("cur");
    r.exp_days = 1;
    assert_null(ol_lc_expire_noncurrent(&r, 1, &o, since, 5,
                                        at(2027, 1, 1, 0, 0)));
}

static void test_marker_and_abort(void **state)
{
    struct ol_lc_rule r = rule("m");
    struct ol_lc_obj o = obj("x/k", 0);
    int64_t init = at(2026, 7, 1, 6, 0);
    (void)state;

    r.exp_marker = 1;
    assert_null(ol_lc_expire_marker(&r, 1, &o));     /* not a marker */
    o.delete_marker = 1;
    assert_ptr_equal(ol_lc_expire_marker(&r, 1, &o), &r);
    r.prefix = "y/";
    r.prefix_len = 2;
    assert_null(ol_lc_expire_marker(&r, 1, &o));

    r = rule("abort");
    r.abort_days = 7;
    r.prefix = "x/";
    r.prefix_len = 2;
    assert_null(ol_lc_abort_upload(&r, 1, "x/k", 3, init,
                                   at(2026, 7, 8, 23, 0)));
    assert_ptr_equal(ol_lc_abort_upload(&r, 1, "x/k", 3, init,
                                        at(2026, 7, 9, 0, 0)), &r);
    assert_null(ol_lc_abort_upload(&r, 1, "z/k", 3, init,
                                   at(2030, 1, 1, 0, 0)));
}

static void test_check(void **state)
{
    struct ol_lc_rule r[2] = { rule("a"), rule("b") };
    struct ol_lc_tag t = { "k", "v" };
    size_t bad;
    (void)state;

    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_NO_ACTION);
    r[0].exp_days = 1;
    r[1].nc_days = 3;
    assert_int_equal(ol_lc_check(r, 2, &bad), OL_LC_OK);
    r[1].id = "a";
    assert_int_equal(ol_lc_check(r, 2, &bad), OL_LC_DUP_ID);
    assert_int_equal(bad, 1);
    r[1].id = "b";
    r[0].exp_days = -1;
    assert_int_equal(ol_lc_check(r, 2, &bad), OL_LC_BAD_VALUE);
    assert_int_equal(bad, 0);
    r[0].exp_days = 0;
    r[0].exp_date_ms = at(2026, 1, 1, 0, 0) + 1000;   /* not midnight */
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_BAD_VALUE);
    r[0].exp_date_ms = at(2026, 1, 1, 0, 0);
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_OK);
    r[0].exp_marker = 1;
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_MARKER_WITH_DAYS);
    r[0].exp_date_ms = 0;
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_OK);
    r[0].tags[0] = t;
    r[0].ntags = 1;
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_TAG_FILTER);
    r[0].ntags = 0;
    r[0].size_gt = 5;
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_TAG_FILTER);
    r[0] = rule("a");
    r[0].abort_days = 1;
    r[0].tags[0] = t;
    r[0].ntags = 1;
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_TAG_FILTER);
    r[0] = rule("a");
    r[0].nc_days = 1;
    r[0].nc_newer = 101;
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_BAD_VALUE);
    r[0].nc_newer = 100;
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_OK);
    r[0].size_gt = 10;
    r[0].size_lt = 10;
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_BAD_VALUE);
    r[0].size_lt = 11;
    assert_int_equal(ol_lc_check(r, 1, &bad), OL_LC_OK);
    assert_int_equal(ol_lc_check(r, OL_LC_RULES_MAX + 1, &bad),
                     OL_LC_TOO_MANY);
}

/* Whatever the creation time and the rule, nothing expires before
 * creation + days, and everything has expired one day after it. */
static void test_sweep_never_early(void **state)
{
    struct ol_lc_rule r = rule("s");
    struct ol_lc_obj o = obj("k", 1);
    int64_t created, days, now;
    (void)state;

    for (created = at(2025, 12, 31, 0, 0); created < at(2026, 1, 3, 0, 0);
         created += 3600000LL + 17) {
        for (days = 1; days <= 40; days += 13) {
            r.exp_days = days;
            r.nc_days = days;
            for (now = created; now < created + (days + 2) * DAY;
                 now += 1800000LL) {
                int early = now < created + days * DAY;
                int late = now >= created + (days + 1) * DAY;
                const struct ol_lc_rule *c =
                    ol_lc_expire_current(&r, 1, &o, created, now);
                const struct ol_lc_rule *nc =
                    ol_lc_expire_noncurrent(&r, 1, &o, created, 0, now);
                if (early) {
                    assert_null(c);
                    assert_null(nc);
                }
                if (late) {
                    assert_non_null(c);
                    assert_non_null(nc);
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_rounds_up_to_midnight),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_expire_current),
        cmocka_unit_test(test_expire_noncurrent),
        cmocka_unit_test(test_marker_and_abort),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_sweep_never_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
