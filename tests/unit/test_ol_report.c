/* test_ol_report.c: the pure parts of the compliance report — HTML and CSV
 * escaping of arbitrary key bytes, the per-bucket/mode summary and the
 * violation count, and the JSON / CSV / HTML writers over rows built by
 * hand (the catalog and disk side is covered by the integration tests). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "cf.h"
#include "ol.h"

#define FFFD "\xef\xbf\xbd"

typedef void (*esc_fn)(FILE *out, const char *s, size_t n);

static char *esc(esc_fn fn, const char *s, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(f, s, n);
    fclose(f);
    return buf;
}

static void expect(esc_fn fn, const char *in, size_t n, const char *want)
{
    char *got = esc(fn, in, n);
    if (strcmp(got, want) != 0)
        fail_msg("escape of %zu bytes: got [%s], want [%s]", n, got, want);
    free(got);
}

#define EXPECT(fn, lit, want) expect(fn, lit, sizeof(lit) - 1, want)

static void test_html_escape(void **state)
{
    (void)state;
    EXPECT(ol_html_escape, "plain/key.txt", "plain/key.txt");
    EXPECT(ol_html_escape, "<script>alert('x')</script>",
           "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    EXPECT(ol_html_escape, "a&b\"c", "a&amp;b&quot;c");
    EXPECT(ol_html_escape, "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80",
           "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80"); /* ü € 😀 kept */
    EXPECT(ol_html_escape, "\xff", FFFD);           /* bad lead */
    EXPECT(ol_html_escape, "\xc0\xaf", FFFD FFFD);  /* overlong / */
    EXPECT(ol_html_escape, "\xe0\x80\xaf", FFFD FFFD FFFD); /* overlong */
    EXPECT(ol_html_escape, "\xed\xa0\x80", FFFD FFFD FFFD); /* surrogate */
    EXPECT(ol_html_escape, "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);
    EXPECT(ol_html_escape, "a\xe2\x82", "a" FFFD FFFD);     /* truncated */
    EXPECT(ol_html_escape, "\x01\x1f\x7f", FFFD FFFD FFFD); /* C0, DEL */
    EXPECT(ol_html_escape, "\xc2\x85", FFFD);               /* C1 NEL */
    EXPECT(ol_html_escape, "tab\there", "tab" FFFD "here");
    EXPECT(ol_html_escape, "", "");
    /* a continuation byte alone, then markup: the markup is still escaped */
    EXPECT(ol_html_escape, "\x80<", FFFD "&lt;");
}

static void test_csv_field(void **state)
{
    (void)state;
    EXPECT(ol_csv_field, "plain", "\"plain\"");
    EXPECT(ol_csv_field, "", "\"\"");
    EXPECT(ol_csv_field, "a,b", "\"a,b\"");
    EXPECT(ol_csv_field, "say \"hi\"", "\"say \"\"hi\"\"\"");
    EXPECT(ol_csv_field, "\"", "\"\"\"\"");
    EXPECT(ol_csv_field, "line\r\nbreak", "\"line" FFFD FFFD "break\"");
    /* OWASP CSV injection: formulas become text */
    EXPECT(ol_csv_field, "=1+2", "\"'=1+2\"");
    EXPECT(ol_csv_field, "+1", "\"'+1\"");
    EXPECT(ol_csv_field, "-1", "\"'-1\"");
    EXPECT(ol_csv_field, "@SUM(A1)", "\"'@SUM(A1)\"");
    EXPECT(ol_csv_field, "a=b", "\"a=b\""); /* only a leading one */
    EXPECT(ol_csv_field, "\xff\xc3\xbc", "\"" FFFD "\xc3\xbc\"");
}

static struct ol_report_row mkrow(const char *bucket, const char *key,
                                  enum ol_mode mode, int expired, int hold,
                                  uint64_t size, enum ol_check check)
{
    struct ol_report_row w;
    memset(&w, 0, sizeof(w));
    snprintf(w.bucket, sizeof(w.bucket), "%s", bucket);
    w.key = (char *)key;
    w.key_len = strlen(key);
    snprintf(w.version_id, sizeof(w.version_id), "v-%s", key);
    w.size = size;
    w.mode = mode;
    w.retain_until_ms = 1800000000000LL;
    w.expired = expired;
    w.legal_hold = hold;
    w.written_ms = 1700000000123LL;
    w.check = check;
    return w;
}

static void build(struct ol_report *r)
{
    struct ol_report_row rows[] = {
        mkrow("b2", "x", OL_MODE_GOVERNANCE, 0, 0, 10, OL_CHECK_OK),
        mkrow("b1", "a", OL_MODE_COMPLIANCE, 0, 0, 1, OL_CHECK_OK),
        mkrow("b1", "b", OL_MODE_COMPLIANCE, 1, 1, 2, OL_CHECK_DEGRADED),
        mkrow("b1", "c", OL_MODE_NONE, 0, 1, 4, OL_CHECK_MISSING),
        mkrow("b1", "d", OL_MODE_GOVERNANCE, 0, 0, 8, OL_CHECK_MISMATCH),
        mkrow("b1", "e", OL_MODE_COMPLIANCE, 0, 0, 16, OL_CHECK_ERROR),
    };
    size_t i;
    ol_report_init(r);
    r->generated_ms = 1700000000000LL;
    r->clock_ms = 1700000000000LL;
    r->verified = 1;
    r->chain_checked = 1;
    r->chain.entries = 7;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(ol_report_add(r, &rows[i]), OL_OK);
    assert_int_equal(ol_report_summarize(r), OL_OK);
}

static void test_summary(void **state)
{
    struct ol_report r;
    (void)state;
    build(&r);
    /* sorted by bucket, then COMPLIANCE, GOVERNANCE, hold only */
    assert_int_equal(r.nsums, 4);
    assert_string_equal(r.sums[0].bucket, "b1");
    assert_int_equal(r.sums[0].mode, OL_MODE_COMPLIANCE);
    assert_int_equal(r.sums[0].versions, 3);
    assert_int_equal(r.sums[0].bytes, 19);
    assert_int_equal(r.sums[0].active, 2);
    assert_int_equal(r.sums[0].expired, 1);
    assert_int_equal(r.sums[0].legal_holds, 1);
    assert_int_equal(r.sums[0].ok, 1);
    assert_int_equal(r.sums[0].degraded, 1);
    assert_int_equal(r.sums[0].errors, 1);
    assert_int_equal(r.sums[1].mode, OL_MODE_GOVERNANCE);
    assert_int_equal(r.sums[1].mismatch, 1);
    assert_int_equal(r.sums[2].mode, OL_MODE_NONE);
    assert_int_equal(r.sums[2].active + r.sums[2].expired, 0);
    assert_int_equal(r.sums[2].legal_holds, 1);
    assert_int_equal(r.sums[2].missing, 1);
    assert_string_equal(r.sums[3].bucket, "b2");
    assert_int_equal(r.total.versions, 6);
    assert_int_equal(r.total.bytes, 41);
    /* missing + mismatch + error; degraded is not a violation */
    assert_int_equal(r.violations, 3);
    /* a broken chain is one more */
    r.chain.why = "entry altered";
    r.chain.bad_seq = 3;
    assert_int_equal(ol_report_summarize(&r), OL_OK);
    assert_int_equal(r.violations, 4);
    /* summarising twice gives the same sums */
    assert_int_equal(r.nsums, 4);
    assert_int_equal(r.total.versions, 6);
    ol_report_cleanup(&r);
    ol_report_cleanup(&r); /* zeroed: no-op */
}

static void test_checks_and_formats(void **state)
{
    enum ol_report_format f;
    (void)state;
    assert_int_equal(ol_check_is_violation(OL_CHECK_NONE), 0);
    assert_int_equal(ol_check_is_violation(OL_CHECK_OK), 0);
    assert_int_equal(ol_check_is_violation(OL_CHECK_DEGRADED), 0);
    assert_int_equal(ol_check_is_violation(OL_CHECK_MISSING), 1);
    assert_int_equal(ol_check_is_violation(OL_CHECK_MISMATCH), 1);
    assert_int_equal(ol_check_is_violation(OL_CHECK_ERROR), 1);
    assert_string_equal(ol_check_str(OL_CHECK_MISSING), "missing-data");
    assert_int_equal(ol_report_format_parse("html", &f), 0);
    assert_int_equal(f, OL_REPORT_HTML);
    assert_int_equal(ol_report_format_parse("csv", &f), 0);
    assert_int_equal(f, OL_REPORT_CSV);
    assert_int_equal(ol_report_format_parse("JSON", &f), -1);
}

static char *render(const struct ol_report *r, enum ol_report_format f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    assert_int_equal(ol_report_write(r, f, out), OL_OK);
    fclose(out);
    return buf;
}

static void test_writers_escape_keys(void **state)
{
    struct ol_report r;
    struct ol_report_row w =
        mkrow("b1", "", OL_MODE_COMPLIANCE, 0, 0, 3, OL_CHECK_OK);
    static const char key[] = "<i>\xff\"k\",=x";
    json_t *doc, *v;
    json_error_t je;
    char *s;
    (void)state;

    ol_report_init(&r);
    r.chain_checked = 1;
    w.key = (char *)key;
    w.key_len = sizeof(key) - 1;
    assert_int_equal(ol_report_add(&r, &w), OL_OK);
    assert_int_equal(ol_report_summarize(&r), OL_OK);

    s = render(&r, OL_REPORT_JSON);
    doc = json_loads(s, 0, &je);
    assert_non_null(doc);
    v = json_array_get(json_object_get(doc, "versions"), 0);
    /* not UTF-8: no text form, exact hex */
    assert_true(json_is_null(json_object_get(v, "key")));
    assert_string_equal(json_string_value(json_object_get(v, "key_hex")),
                        "3c693eff226b222c3d78");
    assert_string_equal(json_string_value(json_object_get(v, "mode")),
                        "COMPLIANCE");
    assert_string_equal(json_string_value(json_object_get(v, "retain_until")),
                        "2027-01-15T08:00:00.000Z");
    assert_true(
        json_is_true(json_object_get(json_object_get(doc, "chain"), "intact")));
    json_decref(doc);
    free(s);

    s = render(&r, OL_REPORT_HTML);
    assert_non_null(strstr(s, "&lt;i&gt;" FFFD "&quot;k&quot;,=x"));
    assert_null(strstr(s, "<i>"));
    assert_null(strstr(s, "<script"));
    assert_non_null(strstr(s, "hex 3c693eff"));
    free(s);

    s = render(&r, OL_REPORT_CSV);
    assert_non_null(strstr(s, "\"<i>" FFFD "\"\"k\"\",=x\""));
    assert_true(strncmp(s, "bucket,key,key_hex,", 19) == 0);
    free(s);
    ol_report_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_csv_field),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_checks_and_formats),
        cmocka_unit_test(test_writers_escape_keys),
    };
    cf_log_set_level(CF_LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
