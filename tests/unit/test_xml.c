/* test_xml.c: the XML output buffer (escaping, URL encoding) checked
 * against libxml2 itself, and the request-body parsers: location,
 * DeleteObjects (quiet, version ids, the 1000-object limit, DOCTYPE and
 * entity attacks, namespaces, exact keys), and the others more briefly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "gw_xml.h"

#define S3NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

/* ---- helpers ---------------------------------------------------------- */

static char *esc(const char *s, size_t n, size_t *outlen)
{
    struct gw_xbuf b = {0};
    char *p;

    gw_xbuf_esc(&b, s, n);
    assert_false(b.oom);
    p = b.p ? b.p : strdup("");
    *outlen = b.len;
    return p;
}

/* Parses "<a>" body "</a>" strictly (XML 1.0, UTF-8); returns the text
 * libxml2 reads back (malloc'd, *len bytes), or NULL if not well-formed. */
static char *reparse(const char *body, size_t n, size_t *len)
{
    struct gw_xbuf b = {0};
    xmlDocPtr doc;
    xmlChar *t;
    char *out = NULL;

    gw_xbuf_str(&b, GW_XML_DECL "<a>");
    gw_xbuf_raw(&b, body, n);
    gw_xbuf_str(&b, "</a>");
    assert_false(b.oom);
    doc = xmlReadMemory(b.p, (int)b.len, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    gw_xbuf_cleanup(&b);
    if (doc == NULL) return NULL;
    t = xmlNodeGetContent(xmlDocGetRootElement(doc));
    if (t != NULL) {
        *len = strlen((const char *)t);
        out = malloc(*len + 1);
        assert_non_null(out);
        memcpy(out, t, *len + 1);
        xmlFree(t);
    }
    xmlFreeDoc(doc);
    return out;
}

static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Appends code point cp as UTF-8. */
static size_t put_utf8(char *p, uint32_t cp)
{
    if (cp < 0x80) {
        p[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (char)(0xc0 | cp >> 6);
        p[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (char)(0xe0 | cp >> 12);
        p[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        p[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    p[0] = (char)(0xf0 | cp >> 18);
    p[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    p[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    p[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- the output buffer ------------------------------------------------ */

static void test_xbuf_basic(void **state)
{
    struct gw_xbuf b = {0};
    char big[1000];
    int i;

    gw_xbuf_raw(&b, "", 0);
    assert_int_equal(b.len, 0);
    gw_xbuf_str(&b, GW_XML_DECL);
    gw_xbuf_printf(&b, "<n>%d</n>", 42);
    gw_xbuf_elem(&b, "Key", "a<b", 3);
    assert_string_equal(b.p, GW_XML_DECL "<n>42</n><Key>a&lt;b</Key>");
    assert_int_equal(b.len, strlen(b.p));
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (i = 0; i < 1000; i++)
        gw_xbuf_printf(&b, "%s", big);
    assert_int_equal(b.len, strlen(GW_XML_DECL) + 26 + 999 * 1000);
    assert_int_equal(b.p[b.len], '\0');
    assert_true(b.cap > b.len);
    assert_false(b.oom);
    gw_xbuf_cleanup(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    gw_xbuf_cleanup(&b);
    /* after oom every append is a no-op */
    b.oom = 1;
    gw_xbuf_str(&b, "x");
    gw_xbuf_printf(&b, "%d", 1);
    gw_xbuf_esc(&b, "<", 1);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

struct esc_row {
    const char *in;
    size_t len;
    const char *out;
};
#define ROW(in, out)                                                           \
    {                                                                          \
        in, sizeof(in) - 1, out                                                \
    }

static const struct esc_row esc_rows[] = {
    ROW("plain key/with/slashes", "plain key/with/slashes"),
    ROW("a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f"),
    ROW("&amp;", "&amp;amp;"), ROW("tab\tnl\n", "tab\tnl\n"),
    ROW("cr\r", "cr&#xD;"), ROW("\x01", "&#x1;"),
    ROW("a\x1f"
        "b",
        "a&#x1F;b"),
    ROW("\x7f", "\x7f"), ROW("nul\0x", "nul&#x0;x"),
    ROW("\x0b\x0c\x1b", "&#xB;&#xC;&#x1B;"),
    /* valid UTF-8 passes through */
    ROW("caf\xc3\xa9", "caf\xc3\xa9"), ROW("\xe2\x82\xac", "\xe2\x82\xac"),
    ROW("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"),
    ROW("\xc2\x80\xc2\x9f", "\xc2\x80\xc2\x9f"), /* C1 controls are Chars */
    ROW("\xef\xbf\xbd", "\xef\xbf\xbd"),
    ROW("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"), /* U+10FFFF */
    /* not UTF-8: each byte as a reference */
    ROW("\xff", "&#xFF;"), ROW("a\x80z", "a&#x80;z"),
    ROW("caf\xc3", "caf&#xC3;"), ROW("\xc3(", "&#xC3;("),
    ROW("\xc0\xaf", "&#xC0;&#xAF;"),                     /* overlong '/' */
    ROW("\xe0\x80\xaf", "&#xE0;&#x80;&#xAF;"),           /* overlong */
    ROW("\xed\xa0\x80", "&#xED;&#xA0;&#x80;"),           /* surrogate D800 */
    ROW("\xef\xbf\xbe", "&#xEF;&#xBF;&#xBE;"),           /* U+FFFE */
    ROW("\xef\xbf\xbf", "&#xEF;&#xBF;&#xBF;"),           /* U+FFFF */
    ROW("\xf4\x90\x80\x80", "&#xF4;&#x90;&#x80;&#x80;"), /* > U+10FFFF */
    ROW("\xf8\x88\x80\x80\x80", "&#xF8;&#x88;&#x80;&#x80;&#x80;"),
    ROW("\xe2\x82", "&#xE2;&#x82;"), /* truncated */
};

static void test_esc_table(void **state)
{
    size_t i, n;

    for (i = 0; i < sizeof(esc_rows) / sizeof(esc_rows[0]); i++) {
        char *out = esc(esc_rows[i].in, esc_rows[i].len, &n);
        if (strcmp(out, esc_rows[i].out) != 0 || n != strlen(out)) {
            print_error("row %zu: got '%s' want '%s'\n", i, out,
                        esc_rows[i].out);
            fail();
        }
        free(out);
    }
}

/* Everything but C0 controls (the S3 exception) comes out well-formed and
 * reads back as: the input itself when it is UTF-8 (CR included), else
 * each bad byte as the Latin-1 character of its value. */
static void test_esc_wellformed(void **state)
{
    char in[8], *out, *back;
    size_t n, bl;
    unsigned c, d;

    for (c = 0; c < 256; c++) {
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') continue;
        in[0] = (char)c;
        out = esc(in, 1, &n);
        back = reparse(out, n, &bl);
        if (back == NULL) {
            print_error("byte 0x%02x -> '%s' is not well-formed\n", c, out);
            fail();
        }
        if (c < 0x80) {
            assert_int_equal(bl, 1);
            assert_int_equal((unsigned char)back[0], c);
        } else { /* a lone high byte: U+00c0.. as UTF-8 */
            char want[4];
            size_t wl = put_utf8(want, c);
            assert_int_equal(bl, wl);
            assert_memory_equal(back, want, wl);
        }
        free(out);
        free(back);
    }
    /* every two-byte pair starting with a lead byte */
    for (c = 0x80; c < 0x100; c++) {
        for (d = 0x20; d < 0x100; d++) {
            in[0] = (char)c;
            in[1] = (char)d;
            out = esc(in, 2, &n);
            back = reparse(out, n, &bl);
            if (back == NULL) {
                print_error("%02x %02x -> '%s' is not well-formed\n", c, d,
                            out);
                fail();
            }
            free(out);
            free(back);
        }
    }
}

/* C0 controls come out as references, as S3 writes them; XML 1.0 parsers
 * refuse them, which is why clients list with encoding-type=url. */
static void test_esc_controls(void **state)
{
    char in[1], want[16], *out;
    size_t n;
    unsigned c;

    for (c = 0; c < 0x20; c++) {
        if (c == '\t' || c == '\n') continue;
        in[0] = (char)c;
        out = esc(in, 1, &n);
        snprintf(want, sizeof(want), "&#x%X;", c);
        assert_string_equal(out, want);
        free(out);
    }
}

/* Random valid keys survive esc() and libxml2 byte for byte. */
static void test_esc_roundtrip_random(void **state)
{
    static const uint32_t specials[] = {'&',  '<',  '>', '"', '\'', '\t',
                                        '\n', '\r', ' ', '/', ';',  '#'};
    char in[512], *out, *back;
    size_t n, len, bl;
    uint64_t seed;
    int iter;

    for (iter = 0; iter < 2000; iter++) {
        seed = 0x9e3779b97f4a7c15ULL + (uint64_t)iter * 7919;
        rng_state = seed;
        len = 0;
        while (len < sizeof(in) - 4 && rng() % 64 != 0) {
            uint32_t cp;
            switch (rng() % 4) {
            case 0:
                cp = specials[rng() % 12];
                break;
            case 1:
                cp = 0x20 + (uint32_t)(rng() % 0x5f);
                break;
            case 2:
                cp = 0x80 + (uint32_t)(rng() % (0xd800 - 0x80));
                break;
            default:
                cp = 0xe000 + (uint32_t)(rng() % (0x110000 - 0xe000));
                if (cp == 0xfffe || cp == 0xffff) cp = 0xfffd;
            }
            len += put_utf8(in + len, cp);
        }
        out = esc(in, len, &n);
        back = reparse(out, n, &bl);
        if (back == NULL || bl != len || memcmp(back, in, len) != 0) {
            print_error("seed 0x%llx: '%s' did not round-trip\n",
                        (unsigned long long)seed, out);
            fail();
        }
        free(out);
        free(back);
    }
}

/* Random bytes, C0 controls aside, always give a well-formed document. */
static void test_esc_random_bytes(void **state)
{
    char in[256], *out, *back;
    size_t n, i, bl;
    uint64_t seed;
    int iter;

    for (iter = 0; iter < 2000; iter++) {
        seed = 0x2545f4914f6cdd1dULL + (uint64_t)iter * 104729;
        rng_state = seed;
        for (i = 0; i < sizeof(in); i++) {
            unsigned char c = (unsigned char)(rng() & 0xff);
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') c |= 0x40;
            in[i] = (char)c;
        }
        out = esc(in, sizeof(in), &n);
        back = reparse(out, n, &bl);
        if (back == NULL) {
            print_error("seed 0x%llx: not well-formed\n",
                        (unsigned long long)seed);
            fail();
        }
        free(out);
        free(back);
    }
}

static void test_urlenc(void **state)
{
    static const struct esc_row rows[] = {
        ROW("photos/2026/a.jpg", "photos/2026/a.jpg"),
        ROW("AZaz09-_.~", "AZaz09-_.~"),
        ROW("a b", "a%20b"),
        ROW("a+b", "a%2Bb"),
        ROW("&<>\"'", "%26%3C%3E%22%27"),
        ROW("%", "%25"),
        ROW("?#=:@", "%3F%23%3D%3A%40"),
        ROW("caf\xc3\xa9", "caf%C3%A9"),
        ROW("\x01\n\r\t", "%01%0A%0D%09"),
        ROW("\xff\x80", "%FF%80"),
        ROW("nul\0", "nul%00"),
    };
    struct gw_xbuf b = {0};
    size_t i, bl;
    char *back;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        gw_xbuf_urlenc(&b, rows[i].in, rows[i].len);
        if (strcmp(b.p, rows[i].out) != 0) {
            print_error("row %zu: got '%s' want '%s'\n", i, b.p, rows[i].out);
            fail();
        }
        /* always well-formed, and reads back unchanged */
        back = reparse(b.p, b.len, &bl);
        assert_non_null(back);
        assert_string_equal(back, rows[i].out);
        free(back);
        gw_xbuf_cleanup(&b);
    }
}

/* ---- CreateBucketConfiguration --------------------------------------- */

static enum gw_xml_status location(const char *body, char *region, size_t cap)
{
    return gw_xml_parse_location(body, strlen(body), region, cap);
}

static void test_location(void **state)
{
    char r[32];

    assert_int_equal(
        location("<CreateBucketConfiguration " S3NS "><LocationConstraint>"
                 "us-west-2</LocationConstraint></CreateBucketConfiguration>",
                 r, sizeof(r)),
        GW_XML_OK);
    assert_string_equal(r, "us-west-2");
    assert_int_equal(
        location(GW_XML_DECL
                 "<CreateBucketConfiguration>\n  "
                 "<LocationConstraint>eu-central-1</LocationConstraint>\n"
                 "</CreateBucketConfiguration>\n",
                 r, sizeof(r)),
        GW_XML_OK);
    assert_string_equal(r, "eu-central-1");
    /* empty constraint, or none at all */
    snprintf(r, sizeof(r), "junk");
    assert_int_equal(location("<CreateBucketConfiguration><LocationConstraint>"
                              "</LocationConstraint>"
                              "</CreateBucketConfiguration>",
                              r, sizeof(r)),
                     GW_XML_OK);
    assert_string_equal(r, "");
    assert_int_equal(location("<CreateBucketConfiguration><LocationConstraint/>"
                              "</CreateBucketConfiguration>",
                              r, sizeof(r)),
                     GW_XML_OK);
    assert_string_equal(r, "");
    assert_int_equal(location("<CreateBucketConfiguration/>", r, sizeof(r)),
                     GW_XML_OK);
    assert_string_equal(r, "");
    /* the region must fit with its NUL */
    assert_int_equal(location("<CreateBucketConfiguration><LocationConstraint>"
                              "us-west-2</LocationConstraint>"
                              "</CreateBucketConfiguration>",
                              r, 10),
                     GW_XML_OK);
    assert_int_equal(location("<CreateBucketConfiguration><LocationConstraint>"
                              "us-west-2</LocationConstraint>"
                              "</CreateBucketConfiguration>",
                              r, 9),
                     GW_XML_MALFORMED);
    /* malformed */
    assert_int_equal(gw_xml_parse_location("", 0, r, sizeof(r)),
                     GW_XML_MALFORMED);
    assert_int_equal(location("<CreateBucketConfiguration>", r, sizeof(r)),
                     GW_XML_MALFORMED);
    assert_int_equal(location("us-west-2", r, sizeof(r)), GW_XML_MALFORMED);
    assert_int_equal(location("<Foo><LocationConstraint>us-west-2"
                              "</LocationConstraint></Foo>",
                              r, sizeof(r)),
                     GW_XML_MALFORMED);
    assert_int_equal(location("<CreateBucketConfiguration><LocationConstraint>"
                              "<x/></LocationConstraint>"
                              "</CreateBucketConfiguration>",
                              r, sizeof(r)),
                     GW_XML_MALFORMED);
    assert_int_equal(location("<CreateBucketConfiguration>junk"
                              "</CreateBucketConfiguration>",
                              r, sizeof(r)),
                     GW_XML_MALFORMED);
    assert_int_equal(location("<!DOCTYPE CreateBucketConfiguration>"
                              "<CreateBucketConfiguration/>",
                              r, sizeof(r)),
                     GW_XML_MALFORMED);
}

/* ---- DeleteObjects ---------------------------------------------------- */

static enum gw_xml_status del(const char *body, struct gw_xml_delete *d)
{
    return gw_xml_parse_delete(body, strlen(body), d);
}

static void expect_del_malformed(const char *body)
{
    struct gw_xml_delete d;

    if (del(body, &d) != GW_XML_MALFORMED) {
        print_error("accepted: %s\n", body);
        fail();
    }
    assert_null(d.objs);
    assert_int_equal(d.nobjs, 0);
    gw_xml_delete_cleanup(&d);
}

static void test_delete_basic(void **state)
{
    struct gw_xml_delete d;

    /* with the S3 namespace, as the SDKs send it */
    assert_int_equal(del(GW_XML_DECL
                         "<Delete " S3NS ">\n"
                         "  <Object><Key>a.txt</Key></Object>\n"
                         "  <Object><Key>b/c</Key><VersionId>"
                         "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY</VersionId>"
                         "</Object>\n"
                         "  <Object><Key>n</Key><VersionId>null</VersionId>"
                         "</Object>\n"
                         "</Delete>\n",
                         &d),
                     GW_XML_OK);
    assert_int_equal(d.quiet, 0);
    assert_int_equal(d.nobjs, 3);
    assert_string_equal(d.objs[0].key, "a.txt");
    assert_int_equal(d.objs[0].key_len, 5);
    assert_null(d.objs[0].version_id);
    assert_string_equal(d.objs[1].key, "b/c");
    assert_string_equal(d.objs[1].version_id,
                        "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY");
    assert_string_equal(d.objs[2].version_id, "null");
    gw_xml_delete_cleanup(&d);
    assert_null(d.objs);
    assert_int_equal(d.nobjs, 0);
    gw_xml_delete_cleanup(&d);

    /* without a namespace, and with a prefixed one */
    assert_int_equal(del("<Delete><Object><Key>k</Key></Object></Delete>", &d),
                     GW_XML_OK);
    assert_string_equal(d.objs[0].key, "k");
    gw_xml_delete_cleanup(&d);
    assert_int_equal(del("<s3:Delete xmlns:s3=\"http://s3.amazonaws.com/doc/"
                         "2006-03-01/\"><s3:Object><s3:Key>k</s3:Key>"
                         "</s3:Object></s3:Delete>",
                         &d),
                     GW_XML_OK);
    assert_string_equal(d.objs[0].key, "k");
    gw_xml_delete_cleanup(&d);
    /* conditional-delete fields are accepted (and ignored) */
    assert_int_equal(del("<Delete><Object><Key>k</Key><ETag>\"e\"</ETag>"
                         "<Size>3</Size></Object></Delete>",
                         &d),
                     GW_XML_OK);
    gw_xml_delete_cleanup(&d);
}

static void test_delete_quiet(void **state)
{
    static const struct {
        const char *v;
        int quiet;
    } ok[] = {
        {"true", 1},   {"TRUE", 1},       {"True", 1},
        {"false", 0},  {"FALSE", 0},      {"False", 0},
        {" true ", 1}, {"\n  true\n", 1}, {"\tfalse", 0},
    };
    static const char *const bad[] = {
        "yes", "1", "", "tru", "true false", "t rue", "<b>true</b>"};
    char body[256];
    struct gw_xml_delete d;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(body, sizeof(body),
                 "<Delete><Quiet>%s</Quiet><Object><Key>k</Key></Object>"
                 "</Delete>",
                 ok[i].v);
        assert_int_equal(del(body, &d), GW_XML_OK);
        assert_int_equal(d.quiet, ok[i].quiet);
        gw_xml_delete_cleanup(&d);
    }
    /* Quiet may follow the objects */
    assert_int_equal(del("<Delete><Object><Key>k</Key></Object>"
                         "<Quiet>true</Quiet></Delete>",
                         &d),
                     GW_XML_OK);
    assert_int_equal(d.quiet, 1);
    gw_xml_delete_cleanup(&d);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body),
                 "<Delete><Quiet>%s</Quiet><Object><Key>k</Key></Object>"
                 "</Delete>",
                 bad[i]);
        expect_del_malformed(body);
    }
    expect_del_malformed("<Delete><Quiet>true</Quiet><Quiet>true</Quiet>"
                         "<Object><Key>k</Key></Object></Delete>");
}

/* Builds a DeleteObjects body with n objects. */
static char *delete_body(size_t n, size_t *len)
{
    struct gw_xbuf b = {0};
    size_t i;

    gw_xbuf_str(&b, "<Delete " S3NS "><Quiet>true</Quiet>");
    for (i = 0; i < n; i++)
        gw_xbuf_printf(&b, "<Object><Key>dir/key-%05zu</Key></Object>", i);
    gw_xbuf_str(&b, "</Delete>");
    assert_false(b.oom);
    *len = b.len;
    return b.p;
}

static void test_delete_limit(void **state)
{
    struct gw_xml_delete d;
    size_t len;
    char *body;

    body = delete_body(GW_XML_DELETE_MAX, &len);
    assert_int_equal(gw_xml_parse_delete(body, len, &d), GW_XML_OK);
    assert_int_equal(d.nobjs, 1000);
    assert_string_equal(d.objs[0].key, "dir/key-00000");
    assert_string_equal(d.objs[999].key, "dir/key-00999");
    gw_xml_delete_cleanup(&d);
    free(body);
    body = delete_body(GW_XML_DELETE_MAX + 1, &len);
    assert_int_equal(gw_xml_parse_delete(body, len, &d), GW_XML_MALFORMED);
    assert_null(d.objs);
    assert_int_equal(d.nobjs, 0);
    free(body);
}

/* Keys are kept exactly: no trimming, any UTF-8, entities decoded. */
static void test_delete_keys_exact(void **state)
{
    static const struct {
        const char *xml, *key;
        size_t len;
    } rows[] = {
        {"my key with spaces", "my key with spaces", 18},
        {"  leading and trailing  ", "  leading and trailing  ", 24},
        {" ", " ", 1},
        {"line1\nline2\n", "line1\nline2\n", 12},
        {"\ttab", "\ttab", 4},
        {"cr&#xD;lf&#xA;", "cr\rlf\n", 6},
        {"crlf\r\nliteral", "crlf\nliteral", 12}, /* XML end-of-line */
        {"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87/\xe6\x97\xa5\xe6\x9c\xac/"
         "\xf0\x9f\x98\x80.txt",
         "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87/\xe6\x97\xa5\xe6\x9c\xac/"
         "\xf0\x9f\x98\x80.txt",
         24},
        {"a&amp;b&lt;c&gt;d&quot;e&apos;f", "a&b<c>d\"e'f", 11},
        {"&#x263A;&#65;",
         "\xe2\x98\xba"
         "A",
         4},
        {"<![CDATA[<not> &a tag]]>", "<not> &a tag", 12},
        {"a<!-- comment -->b", "ab", 2},
        {"a<?pi x?>b", "ab", 2},
        {"%2F..%2F/../x", "%2F..%2F/../x", 13},
    };
    char body[512];
    struct gw_xml_delete d;
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(body, sizeof(body),
                 "<Delete><Object><Key>%s</Key></Object></Delete>",
                 rows[i].xml);
        if (del(body, &d) != GW_XML_OK) {
            print_error("row %zu refused: %s\n", i, body);
            fail();
        }
        assert_int_equal(d.nobjs, 1);
        assert_int_equal(d.objs[0].key_len, rows[i].len);
        assert_memory_equal(d.objs[0].key, rows[i].key, rows[i].len);
        assert_int_equal(d.objs[0].key[rows[i].len], '\0');
        gw_xml_delete_cleanup(&d);
    }
    /* a declared Latin-1 body arrives as UTF-8 */
    assert_int_equal(del("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
                         "<Delete><Object><Key>caf\xe9</Key></Object>"
                         "</Delete>",
                         &d),
                     GW_XML_OK);
    assert_string_equal(d.objs[0].key, "caf\xc3\xa9");
    gw_xml_delete_cleanup(&d);
    /* a 1024-byte key (S3's longest) */
    {
        struct gw_xbuf b = {0};
        char key[1025];
        memset(key, 'k', 1024);
        key[1024] = '\0';
        gw_xbuf_printf(&b, "<Delete><Object><Key>%s</Key></Object></Delete>",
                       key);
        assert_int_equal(gw_xml_parse_delete(b.p, b.len, &d), GW_XML_OK);
        assert_int_equal(d.objs[0].key_len, 1024);
        gw_xml_delete_cleanup(&d);
        gw_xbuf_cleanup(&b);
    }
}

static void test_delete_malformed(void **state)
{
    /* structure */
    expect_del_malformed("<Delete></Delete>");
    expect_del_malformed("<Delete><Quiet>true</Quiet></Delete>");
    expect_del_malformed("<Delete><Object></Object></Delete>");
    expect_del_malformed("<Delete><Object><VersionId>v</VersionId></Object>"
                         "</Delete>");
    expect_del_malformed("<Delete><Object><Key></Key></Object></Delete>");
    expect_del_malformed("<Delete><Object><Key/></Object></Delete>");
    expect_del_malformed("<Delete><Object><Key>a</Key><Key>b</Key></Object>"
                         "</Delete>");
    expect_del_malformed("<Delete><Object><Key>a<b/></Key></Object>"
                         "</Delete>");
    expect_del_malformed("<Delete><Object><Key>a</Key><Foo/></Object>"
                         "</Delete>");
    expect_del_malformed("<Delete><Object><Key>a</Key>junk</Object>"
                         "</Delete>");
    expect_del_malformed("<Delete>junk<Object><Key>a</Key></Object>"
                         "</Delete>");
    expect_del_malformed("<Delete><Objects><Key>a</Key></Objects></Delete>");
    expect_del_malformed("<DeleteObjects><Object><Key>a</Key></Object>"
                         "</DeleteObjects>");
    /* one of the objects bad: the whole request is refused */
    expect_del_malformed("<Delete><Object><Key>a</Key></Object>"
                         "<Object><Key></Key></Object></Delete>");
    /* not XML, or not well-formed */
    expect_del_malformed("hello");
    expect_del_malformed("{\"Objects\": [{\"Key\": \"a\"}]}");
    expect_del_malformed("<Delete><Object><Key>a</Key></Object>");
    expect_del_malformed("<Delete><Object><Key>a</Key></Object></Delete>"
                         "<Delete/>");
    expect_del_malformed("<Delete><Object><Key>a&b</Key></Object></Delete>");
    expect_del_malformed("<Delete><Object><Key>&nbsp;</Key></Object>"
                         "</Delete>");
    expect_del_malformed("<Delete><Object><Key>&#x1;</Key></Object>"
                         "</Delete>");
    expect_del_malformed("<Delete><Object><Key>\xff</Key></Object></Delete>");
    {
        struct gw_xml_delete d;
        static const char nul[] = "<Delete><Object><Key>a\0b</Key></Object>"
                                  "</Delete>";
        assert_int_equal(gw_xml_parse_delete(nul, sizeof(nul) - 1, &d),
                         GW_XML_MALFORMED);
        assert_int_equal(gw_xml_parse_delete(NULL, 0, &d), GW_XML_MALFORMED);
        assert_int_equal(gw_xml_parse_delete("", 0, &d), GW_XML_MALFORMED);
    }
}

/* No DOCTYPE of any kind: the entity attacks never reach an entity. */
static void test_delete_doctype(void **state)
{
    struct gw_xbuf b = {0};
    int i, j;

    expect_del_malformed("<!DOCTYPE Delete><Delete><Object><Key>a</Key>"
                         "</Object></Delete>");
    expect_del_malformed("<?xml version=\"1.0\"?>\n<!DOCTYPE Delete [\n"
                         "<!ENTITY k \"key\">\n]>\n<Delete><Object><Key>&k;"
                         "</Key></Object></Delete>");
    /* external entity (XXE) */
    expect_del_malformed("<!DOCTYPE Delete [<!ENTITY x SYSTEM "
                         "\"file:///etc/passwd\">]><Delete><Object><Key>&x;"
                         "</Key></Object></Delete>");
    expect_del_malformed("<!DOCTYPE Delete SYSTEM \"http://127.0.0.1:1/x.dtd\">"
                         "<Delete><Object><Key>a</Key></Object></Delete>");
    /* parameter entities */
    expect_del_malformed("<!DOCTYPE Delete [<!ENTITY % p SYSTEM "
                         "\"file:///etc/passwd\"> %p;]><Delete><Object><Key>a"
                         "</Key></Object></Delete>");
    /* billion laughs: refused at once */
    gw_xbuf_str(&b, "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n"
                    "<!ENTITY lol \"lol\">\n");
    for (i = 1; i < 10; i++) { /* lolN is ten lol(N-1): 10^9 in all */
        gw_xbuf_printf(&b, "<!ENTITY lol%d \"", i);
        for (j = 0; j < 10; j++) {
            if (i == 1)
                gw_xbuf_str(&b, "&lol;");
            else
                gw_xbuf_printf(&b, "&lol%d;", i - 1);
        }
        gw_xbuf_str(&b, "\">\n");
    }
    gw_xbuf_str(&b, "]>\n<Delete><Object><Key>&lol9;</Key></Object>"
                    "</Delete>");
    assert_false(b.oom);
    expect_del_malformed(b.p);
    gw_xbuf_cleanup(&b);
}

/* ---- the other documents ---------------------------------------------- */

static void test_complete(void **state)
{
    struct gw_xml_complete c;
    struct gw_xbuf b = {0};
    const char *body = "<CompleteMultipartUpload " S3NS ">"
                       "<Part><PartNumber>2</PartNumber>"
                       "<ETag>\"0123456789abcdef0123456789abcdef\"</ETag>"
                       "</Part>"
                       "<Part><ETag>&quot;aa&quot;</ETag>"
                       "<PartNumber>1</PartNumber>"
                       "<ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>"
                       "</CompleteMultipartUpload>";
    size_t i;

    assert_int_equal(gw_xml_parse_complete(body, strlen(body), &c), GW_XML_OK);
    assert_int_equal(c.nparts, 2);
    assert_int_equal(c.parts[0].number, 2);
    assert_string_equal(c.parts[0].etag, "0123456789abcdef0123456789abcdef");
    assert_int_equal(c.parts[1].number, 1);
    assert_string_equal(c.parts[1].etag, "aa");
    assert_string_equal(c.parts[0].csum_elem, "");
    assert_string_equal(c.parts[1].csum_elem, "ChecksumCRC32");
    assert_string_equal(c.parts[1].csum, "AAAAAA==");
    gw_xml_complete_cleanup(&c);
    /* two checksums for one part */
    body = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
           "<ETag>e</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32>"
           "<ChecksumSHA1>AAAAAA==</ChecksumSHA1></Part>"
           "</CompleteMultipartUpload>";
    assert_int_equal(gw_xml_parse_complete(body, strlen(body), &c),
                     GW_XML_MALFORMED);
    body = "<CompleteMultipartUpload></CompleteMultipartUpload>";
    assert_int_equal(gw_xml_parse_complete(body, strlen(body), &c),
                     GW_XML_MALFORMED);
    body = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
           "</CompleteMultipartUpload>";
    assert_int_equal(gw_xml_parse_complete(body, strlen(body), &c),
                     GW_XML_MALFORMED);
    /* 10000 parts ok, 10001 refused */
    gw_xbuf_str(&b, "<CompleteMultipartUpload>");
    for (i = 1; i <= GW_XML_PARTS_MAX; i++)
        gw_xbuf_printf(&b,
                       "<Part><PartNumber>%zu</PartNumber><ETag>e</ETag>"
                       "</Part>",
                       i);
    gw_xbuf_str(&b, "</CompleteMultipartUpload>");
    assert_int_equal(gw_xml_parse_complete(b.p, b.len, &c), GW_XML_OK);
    assert_int_equal(c.nparts, GW_XML_PARTS_MAX);
    gw_xml_complete_cleanup(&c);
    b.len -= strlen("</CompleteMultipartUpload>");
    gw_xbuf_str(&b, "<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>"
                    "</CompleteMultipartUpload>");
    assert_int_equal(gw_xml_parse_complete(b.p, b.len, &c), GW_XML_MALFORMED);
    gw_xbuf_cleanup(&b);
}

static void test_versioning_and_holds(void **state)
{
    int v = -1;
    const char *body;

    body = "<VersioningConfiguration " S3NS "><Status>Enabled</Status>"
           "</VersioningConfiguration>";
    assert_int_equal(gw_xml_parse_versioning(body, strlen(body), &v),
                     GW_XML_OK);
    assert_int_equal(v, 1);
    body = "<VersioningConfiguration><Status>Suspended</Status><MfaDelete>"
           "Disabled</MfaDelete></VersioningConfiguration>";
    assert_int_equal(gw_xml_parse_versioning(body, strlen(body), &v),
                     GW_XML_OK);
    assert_int_equal(v, 0);
    body = "<VersioningConfiguration><Status>enabled</Status>"
           "</VersioningConfiguration>";
    assert_int_equal(gw_xml_parse_versioning(body, strlen(body), &v),
                     GW_XML_MALFORMED);
    body = "<VersioningConfiguration><Status>Enabled</Status><MfaDelete>"
           "Enabled</MfaDelete></VersioningConfiguration>";
    assert_int_equal(gw_xml_parse_versioning(body, strlen(body), &v),
                     GW_XML_MALFORMED);

    body = "<LegalHold " S3NS "><Status>ON</Status></LegalHold>";
    assert_int_equal(gw_xml_parse_legal_hold(body, strlen(body), &v),
                     GW_XML_OK);
    assert_int_equal(v, 1);
    body = "<LegalHold><Status>OFF</Status></LegalHold>";
    assert_int_equal(gw_xml_parse_legal_hold(body, strlen(body), &v),
                     GW_XML_OK);
    assert_int_equal(v, 0);
    body = "<LegalHold><Status>on</Status></LegalHold>";
    assert_int_equal(gw_xml_parse_legal_hold(body, strlen(body), &v),
                     GW_XML_MALFORMED);
}

static void test_lock_and_retention(void **state)
{
    struct gw_xml_lock_config lc;
    char mode[16], until[40];
    const char *body;

    body = "<ObjectLockConfiguration " S3NS "><ObjectLockEnabled>Enabled"
           "</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE"
           "</Mode><Days>30</Days></DefaultRetention></Rule>"
           "</ObjectLockConfiguration>";
    assert_int_equal(gw_xml_parse_lock_config(body, strlen(body), &lc),
                     GW_XML_OK);
    assert_int_equal(lc.enabled, 1);
    assert_int_equal(lc.has_rule, 1);
    assert_string_equal(lc.mode, "COMPLIANCE");
    assert_int_equal(lc.days, 30);
    assert_int_equal(lc.years, -1);
    body = "<ObjectLockConfiguration><Rule><DefaultRetention><Mode>GOVERNANCE"
           "</Mode><Days>1</Days><Years>1</Years></DefaultRetention></Rule>"
           "</ObjectLockConfiguration>";
    assert_int_equal(gw_xml_parse_lock_config(body, strlen(body), &lc),
                     GW_XML_MALFORMED);

    body = "<Retention " S3NS "><Mode>GOVERNANCE</Mode><RetainUntilDate>"
           "2030-01-01T00:00:00.000Z</RetainUntilDate></Retention>";
    assert_int_equal(gw_xml_parse_retention(body, strlen(body), mode,
                                            sizeof(mode), until, sizeof(until)),
                     GW_XML_OK);
    assert_string_equal(mode, "GOVERNANCE");
    assert_string_equal(until, "2030-01-01T00:00:00.000Z");
    body = "<Retention/>";
    assert_int_equal(gw_xml_parse_retention(body, strlen(body), mode,
                                            sizeof(mode), until, sizeof(until)),
                     GW_XML_OK);
    assert_string_equal(mode, "");
    assert_string_equal(until, "");
}

static void test_tagging(void **state)
{
    struct gw_xml_tags t;
    struct gw_xbuf b = {0};
    const char *body = "<Tagging " S3NS "><TagSet>"
                       "<Tag><Key> project </Key><Value>a b&amp;c</Value></Tag>"
                       "<Tag><Key>empty</Key><Value></Value></Tag>"
                       "</TagSet></Tagging>";
    int i;

    assert_int_equal(gw_xml_parse_tagging(body, strlen(body), &t), GW_XML_OK);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.tags[0].key, " project ");
    assert_string_equal(t.tags[0].value, "a b&c");
    assert_string_equal(t.tags[1].value, "");
    gw_xml_tags_cleanup(&t);
    body = "<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>";
    assert_int_equal(gw_xml_parse_tagging(body, strlen(body), &t),
                     GW_XML_MALFORMED);
    gw_xbuf_str(&b, "<Tagging><TagSet>");
    for (i = 0; i <= GW_XML_TAGS_MAX; i++)
        gw_xbuf_printf(&b, "<Tag><Key>k%d</Key><Value>v</Value></Tag>", i);
    gw_xbuf_str(&b, "</TagSet></Tagging>");
    assert_int_equal(gw_xml_parse_tagging(b.p, b.len, &t), GW_XML_OK);
    assert_int_equal(t.n, GW_XML_TAGS_MAX);
    assert_int_equal(t.too_many, 1);
    gw_xml_tags_cleanup(&t);
    gw_xbuf_cleanup(&b);
}

static void test_cors(void **state)
{
    struct gw_xml_cors c;
    const char *body =
        "<CORSConfiguration " S3NS "><CORSRule><ID>r1</ID>"
        "<AllowedOrigin>https://*.example.com</AllowedOrigin>"
        "<AllowedOrigin>http://a</AllowedOrigin>"
        "<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>"
        "<AllowedHeader>x-amz-*</AllowedHeader>"
        "<MaxAgeSeconds>3000</MaxAgeSeconds>"
        "<ExposeHeader>ETag</ExposeHeader></CORSRule>"
        "<CORSRule><AllowedOrigin>*</AllowedOrigin>"
        "<AllowedMethod>HEAD</AllowedMethod></CORSRule></CORSConfiguration>";
    static const char *const bad[] = {
        "<CORSConfiguration/>",
        "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod>"
        "</CORSRule></CORSConfiguration>",
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
        "</CORSRule></CORSConfiguration>",
        "<CORSConfiguration><CORSRule><AllowedOrigin></AllowedOrigin>"
        "<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
        "<AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>-1</MaxAgeSeconds>"
        "</CORSRule></CORSConfiguration>",
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
        "<AllowedMethod>GET</AllowedMethod><Foo/></CORSRule>"
        "</CORSConfiguration>",
        "<CORSConfiguration><Rule/></CORSConfiguration>",
        "<Other><CORSRule/></Other>",
        "<CORSConfiguration><CORSRule>",
    };
    size_t i;
    (void)state;

    assert_int_equal(gw_xml_parse_cors(body, strlen(body), &c), GW_XML_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.rules[0].id, "r1");
    assert_int_equal(c.rules[0].origins.n, 2);
    assert_string_equal(c.rules[0].origins.v[0], "https://*.example.com");
    assert_int_equal(c.rules[0].methods.n, 2);
    assert_string_equal(c.rules[0].methods.v[1], "PUT");
    assert_string_equal(c.rules[0].headers.v[0], "x-amz-*");
    assert_string_equal(c.rules[0].expose.v[0], "ETag");
    assert_int_equal(c.rules[0].max_age, 3000);
    assert_null(c.rules[1].id);
    assert_int_equal(c.rules[1].max_age, -1);
    assert_int_equal(c.rules[1].headers.n, 0);
    gw_xml_cors_cleanup(&c);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(gw_xml_parse_cors(bad[i], strlen(bad[i]), &c),
                         GW_XML_MALFORMED);
}

static void test_encryption(void **state)
{
    static const struct {
        const char *xml;
        enum gw_xml_status want;
        const char *algo;
        int kms, bk;
    } rows[] = {
        {"<ServerSideEncryptionConfiguration><Rule>"
         "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256"
         "</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
         "</ServerSideEncryptionConfiguration>", GW_XML_OK, "AES256", 0, 0},
        {"<ServerSideEncryptionConfiguration><Rule>"
         "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256"
         "</SSEAlgorithm></ApplyServerSideEncryptionByDefault>"
         "<BucketKeyEnabled>true</BucketKeyEnabled></Rule>"
         "</ServerSideEncryptionConfiguration>", GW_XML_OK, "AES256", 0, 1},
        {"<ServerSideEncryptionConfiguration><Rule>"
         "<BucketKeyEnabled>false</BucketKeyEnabled>"
         "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms"
         "</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID>"
         "</ApplyServerSideEncryptionByDefault></Rule>"
         "</ServerSideEncryptionConfiguration>", GW_XML_OK, "aws:kms", 1, 0},
        {"<ServerSideEncryptionConfiguration><Rule>"
         "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256"
         "</SSEAlgorithm></ApplyServerSideEncryptionByDefault>"
         "<BucketKeyEnabled>yes</BucketKeyEnabled></Rule>"
         "</ServerSideEncryptionConfiguration>", GW_XML_MALFORMED, "", 0, 0},
        {"<ServerSideEncryptionConfiguration><Rule>"
         "<BucketKeyEnabled>true</BucketKeyEnabled></Rule>"
         "</ServerSideEncryptionConfiguration>", GW_XML_MALFORMED, "", 0, 0},
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char algo[32];
        int kms = -1, bk = -1;
        enum gw_xml_status st = gw_xml_parse_encryption(
            rows[i].xml, strlen(rows[i].xml), algo, &kms, &bk);
        assert_int_equal(st, rows[i].want);
        if (st != GW_XML_OK) continue;
        assert_string_equal(algo, rows[i].algo);
        assert_int_equal(kms, rows[i].kms);
        assert_int_equal(bk, rows[i].bk);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xbuf_basic),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_esc_table),
        cmocka_unit_test(test_esc_wellformed),
        cmocka_unit_test(test_esc_controls),
        cmocka_unit_test(test_esc_roundtrip_random),
        cmocka_unit_test(test_esc_random_bytes),
        cmocka_unit_test(test_urlenc),
        cmocka_unit_test(test_location),
        cmocka_unit_test(test_delete_basic),
        cmocka_unit_test(test_delete_quiet),
        cmocka_unit_test(test_delete_limit),
        cmocka_unit_test(test_delete_keys_exact),
        cmocka_unit_test(test_delete_malformed),
        cmocka_unit_test(test_delete_doctype),
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_versioning_and_holds),
        cmocka_unit_test(test_lock_and_retention),
        cmocka_unit_test(test_tagging),
        cmocka_unit_test(test_encryption),
    };
    int rc;

    gw_xml_init();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
