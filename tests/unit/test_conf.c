/* test_conf.c: configuration defaults, the example file, size and duration
 * syntax, every validation error naming FILE:LINE: key, conf_finalize()
 * derivations, and (outside AddressSanitizer builds) an allocation-failure
 * loop proving that no error path leaks. Through conf.h only. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"

#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

static char dir[] = "/tmp/coffer-test-conf-XXXXXX";
static char path[256]; /* dir/c.yaml, rewritten by each case */

static const char *write_yaml(const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Defaults, then the file, then finalize; the status of the first step that
 * fails. The caller runs conf_cleanup(). */
static enum conf_status load_len(const char *text, size_t len, char *err,
                                 struct conf *c)
{
    enum conf_status st;

    assert_int_equal(conf_init_defaults(c), CONF_OK);
    st = conf_load_file(c, write_yaml(text, len), err, CONF_ERR_MAX);
    if (st == CONF_OK) st = conf_finalize(c, err, CONF_ERR_MAX);
    return st;
}

static enum conf_status load(const char *text, char *err, struct conf *c)
{
    return load_len(text, strlen(text), err, c);
}

static void load_ok(const char *text, struct conf *c)
{
    char err[CONF_ERR_MAX] = "";

    if (load(text, err, c) != CONF_OK) {
        print_error("unexpected error for:\n%s\n=> %s\n", text, err);
        fail();
    }
}

/* ---- defaults and the example ---------------------------------------- */

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static void test_defaults(void **state)
{
    struct conf c;
    char err[CONF_ERR_MAX];

    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_null(c.path);
    assert_null(c.disks);
    assert_null(c.meta_dir);
    assert_null(c.domain);
    assert_int_equal(c.max_threads, 0);
    assert_int_equal(conf_finalize(&c, err, sizeof(err)), CONF_OK);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    assert_string_equal(c.console_listen, "127.0.0.1:8443");
    assert_string_equal(c.data_dir, "./coffer-data");
    assert_int_equal(c.ndisks, 6);
    assert_string_equal(c.disks[0], "./coffer-data/disk1");
    assert_string_equal(c.disks[5], "./coffer-data/disk6");
    assert_string_equal(c.meta_dir, "./coffer-data/meta");
    assert_int_equal(c.ec_data, 4);
    assert_int_equal(c.ec_parity, 2);
    assert_int_equal(c.stripe_size, MIB);
    assert_int_equal(c.max_threads, cores());
    assert_int_equal(c.io_threads, 8);
    assert_int_equal(c.buffer_size, 256 * KIB);
    assert_string_equal(c.region, "us-east-1");
    assert_null(c.domain);
    assert_string_equal(c.log_level, "notice");
    assert_int_equal(c.max_header_bytes, 64 * KIB);
    assert_int_equal(c.max_xml_bytes, MIB);
    assert_int_equal(c.max_object_bytes, 5 * GIB);
    assert_int_equal(c.max_connections, 1024);
    assert_int_equal(c.max_conns_per_addr, 256);
    assert_int_equal(c.body_min_rate, KIB);
    assert_int_equal(c.idle_timeout_s, 60);
    assert_int_equal(c.header_timeout_s, 30);
    assert_int_equal(c.body_timeout_s, 60);
    assert_int_equal(c.read_ahead_total, 32 * MIB);
    assert_null(c.users);
    assert_int_equal(c.nusers, 0);
    /* finalize twice is harmless */
    assert_int_equal(conf_finalize(&c, err, sizeof(err)), CONF_OK);
    assert_int_equal(c.ndisks, 6);
    conf_cleanup(&c);
    conf_cleanup(&c); /* cleanup leaves a zeroed struct */
    conf_cleanup(NULL);
}

static const char *example_path(void)
{
    static const char *const tries[] = {"conf/coffer.example.yaml",
                                        "../conf/coffer.example.yaml",
                                        "../../conf/coffer.example.yaml", NULL};
    const char *p = getenv("COFFER_EXAMPLE_YAML");
    int i;

    if (p != NULL) return p;
    for (i = 0; tries[i] != NULL; i++)
        if (access(tries[i], R_OK) == 0) return tries[i];
    return tries[0];
}

/* The example documents the defaults: loading it must change nothing. */
static void test_example_loads(void **state)
{
    struct conf c, d;
    char err[CONF_ERR_MAX] = "";
    int i;

    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    if (conf_load_file(&c, example_path(), err, sizeof(err)) != CONF_OK) {
        print_error("%s\n", err);
        fail();
    }
    assert_int_equal(conf_finalize(&c, err, sizeof(err)), CONF_OK);
    assert_string_equal(c.path, example_path());
    assert_int_equal(conf_init_defaults(&d), CONF_OK);
    assert_int_equal(conf_finalize(&d, err, sizeof(err)), CONF_OK);
    assert_string_equal(c.listen, d.listen);
    assert_string_equal(c.console_listen, d.console_listen);
    assert_string_equal(c.data_dir, d.data_dir);
    assert_int_equal(c.ndisks, d.ndisks);
    for (i = 0; i < c.ndisks; i++)
        assert_string_equal(c.disks[i], d.disks[i]);
    assert_string_equal(c.meta_dir, d.meta_dir);
    assert_int_equal(c.ec_data, d.ec_data);
    assert_int_equal(c.ec_parity, d.ec_parity);
    assert_int_equal(c.stripe_size, d.stripe_size);
    assert_int_equal(c.max_threads, d.max_threads);
    assert_int_equal(c.io_threads, d.io_threads);
    assert_int_equal(c.buffer_size, d.buffer_size);
    assert_string_equal(c.region, d.region);
    assert_null(c.domain);
    assert_string_equal(c.log_level, d.log_level);
    assert_int_equal(c.max_header_bytes, d.max_header_bytes);
    assert_int_equal(c.max_xml_bytes, d.max_xml_bytes);
    assert_int_equal(c.max_object_bytes, d.max_object_bytes);
    assert_int_equal(c.max_connections, d.max_connections);
    assert_int_equal(c.lifecycle_interval_s, d.lifecycle_interval_s);
    assert_int_equal(c.max_conns_per_addr, d.max_conns_per_addr);
    assert_int_equal(c.body_min_rate, d.body_min_rate);
    assert_int_equal(c.audit_export_interval_s, d.audit_export_interval_s);
    assert_string_equal(c.audit_export_bucket, d.audit_export_bucket);
    assert_int_equal(c.audit_export_retain_years,
                     d.audit_export_retain_years);
    assert_int_equal(c.idle_timeout_s, d.idle_timeout_s);
    assert_int_equal(c.header_timeout_s, d.header_timeout_s);
    assert_int_equal(c.body_timeout_s, d.body_timeout_s);
    assert_int_equal(c.read_ahead_total, d.read_ahead_total);
    assert_int_equal(c.nusers, 0);
    assert_int_equal(c.tls_enabled, 0);
    assert_null(c.tls_cert);
    assert_null(c.tls_key);
    conf_cleanup(&c);
    conf_cleanup(&d);
}

/* ---- every key, and the value syntaxes -------------------------------- */

static const char all_keys[] =
    "listen: \"[::1]:9100\"\n"
    "console_listen: 0.0.0.0:9443\n"
    "data_dir: /srv/coffer\n"
    "disks: [/d/1, /d/2, /d/3, '/d/with space']\n"
    "meta_dir: /ssd/meta\n"
    "erasure: { data: 3, parity: 1, block_size: 768KiB }\n"
    "max_threads: 3\n"
    "io_threads: 16\n"
    "buffer_size: 1MiB\n"
    "region: eu-west-3\n"
    "domain: s3.example.com\n"
    "log_level: debug\n"
    "limits:\n"
    "  max_header_bytes: 16K\n"
    "  max_xml_bytes: 2M\n"
    "  max_object_size: 1G\n"
    "  max_connections: 50\n"
    "  max_connections_per_address: 0\n"
    "  body_min_rate: 64K\n"
    "  idle_timeout: 2m\n"
    "  header_timeout: 10\n"
    "  body_timeout: 1h\n"
    "  read_ahead_total: 8MiB\n"
    "users:\n"
    "  - access_key: backup-writer\n"
    "    secret_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n"
    "  - { access_key: Admin_1.x, secret_key: \"12345678\", admin: true }\n"
    "  - { access_key: reader, secret_key: 'p@ss:word#1', admin: No }\n";

static void test_all_keys(void **state)
{
    struct conf c;

    load_ok(all_keys, &c);
    assert_string_equal(c.path, path);
    assert_string_equal(c.listen, "[::1]:9100");
    assert_string_equal(c.console_listen, "0.0.0.0:9443");
    assert_string_equal(c.data_dir, "/srv/coffer");
    assert_int_equal(c.ndisks, 4);
    assert_string_equal(c.disks[0], "/d/1");
    assert_string_equal(c.disks[3], "/d/with space");
    assert_string_equal(c.meta_dir, "/ssd/meta");
    assert_int_equal(c.ec_data, 3);
    assert_int_equal(c.ec_parity, 1);
    assert_int_equal(c.stripe_size, 768 * KIB);
    assert_int_equal(c.max_threads, 3);
    assert_int_equal(c.io_threads, 16);
    assert_int_equal(c.buffer_size, MIB);
    assert_string_equal(c.region, "eu-west-3");
    assert_string_equal(c.domain, "s3.example.com");
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(c.max_header_bytes, 16 * KIB);
    assert_int_equal(c.max_xml_bytes, 2 * MIB);
    assert_int_equal(c.max_object_bytes, GIB);
    assert_int_equal(c.max_connections, 50);
    assert_int_equal(c.max_conns_per_addr, 0);
    assert_int_equal(c.body_min_rate, 64 * KIB);
    assert_int_equal(c.idle_timeout_s, 120);
    assert_int_equal(c.header_timeout_s, 10);
    assert_int_equal(c.body_timeout_s, 3600);
    assert_int_equal(c.read_ahead_total, 8 * MIB);
    assert_int_equal(c.nusers, 3);
    assert_string_equal(c.users[0].access_key, "backup-writer");
    assert_string_equal(c.users[0].secret_key,
                        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    assert_int_equal(c.users[0].admin, 0);
    assert_string_equal(c.users[1].access_key, "Admin_1.x");
    assert_string_equal(c.users[1].secret_key, "12345678");
    assert_int_equal(c.users[1].admin, 1);
    assert_string_equal(c.users[2].secret_key, "p@ss:word#1");
    assert_int_equal(c.users[2].admin, 0);
    conf_cleanup(&c);
}

/* tls: off by default; a certificate turns it on; enabled alone means a
 * self-signed pair (paths left NULL for the gateway to derive). */
static void test_tls_keys(void **state)
{
    struct conf c;

    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(c.tls_enabled, 0);
    assert_null(c.tls_cert);
    assert_null(c.tls_key);
    conf_cleanup(&c);
    load_ok("tls:\n  cert: /etc/c.pem\n  key: /etc/k.pem\n", &c);
    assert_int_equal(c.tls_enabled, 1);
    assert_string_equal(c.tls_cert, "/etc/c.pem");
    assert_string_equal(c.tls_key, "/etc/k.pem");
    conf_cleanup(&c);
    load_ok("tls: { enabled: true }\n", &c);
    assert_int_equal(c.tls_enabled, 1);
    assert_null(c.tls_cert);
    assert_null(c.tls_key);
    conf_cleanup(&c);
    load_ok("tls:\n  enabled: false\n  cert:\n  key: ~\n", &c);
    assert_int_equal(c.tls_enabled, 0);
    assert_null(c.tls_cert);
    conf_cleanup(&c);
    load_ok("tls:\n", &c);
    assert_int_equal(c.tls_enabled, 0);
    conf_cleanup(&c);
    /* the command line may give both files over a file that gave none */
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_set_str(&c.tls_cert, "/c.pem"), CONF_OK);
    assert_int_equal(conf_set_str(&c.tls_key, "/k.pem"), CONF_OK);
    assert_int_equal(conf_finalize(&c, NULL, 0), CONF_OK);
    assert_int_equal(c.tls_enabled, 1);
    conf_cleanup(&c);
}

static void test_sizes(void **state)
{
    static const struct {
        const char *lit;
        uint64_t want;
    } ok[] = {
        {"65536", 64 * KIB},
        {"64K", 64 * KIB},
        {"64KiB", 64 * KIB},
        {"64 KiB", 64 * KIB},
        {"1M", MIB},
        {"1MiB", MIB},
        {"3MiB", 3 * MIB},
        {"1G", GIB},
        {"1GiB", GIB},
        {"5GiB", 5 * GIB},
        {"5368709120", 5 * GIB},
        {"\"2MiB\"", 2 * MIB},
        {"1", 1},
    };
    static const char *const syntax[] = {
        "1MB", "1KB", "1GB",   "1.5MiB",  "-1", "KiB", "1kib",
        "1 ",  "1T",  "0x100", "1 MiB x", "+5", "1e6",
    };
    char text[128], err[CONF_ERR_MAX];
    struct conf c;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(text, sizeof(text), "limits:\n  max_object_size: %s\n",
                 ok[i].lit);
        load_ok(text, &c);
        assert_int_equal(c.max_object_bytes, ok[i].want);
        conf_cleanup(&c);
    }
    for (i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++) {
        snprintf(text, sizeof(text), "limits:\n  max_object_size: '%s'\n",
                 syntax[i]);
        assert_int_equal(load(text, err, &c), CONF_EINVAL);
        if (strstr(err, ":2: limits.max_object_size: must be a size: bytes "
                        "with an optional K, KiB, M, MiB, G or GiB suffix, "
                        "got '") == NULL) {
            print_error("%s => %s\n", syntax[i], err);
            fail();
        }
        conf_cleanup(&c);
    }
    /* overflow is a range error, not a wrap-around */
    assert_int_equal(load("buffer_size: 99999999999999999999999G\n", err, &c),
                     CONF_EINVAL);
    assert_non_null(strstr(err, ":1: buffer_size: must be 16KiB..64MiB, "
                                "got 99999999999999999999999G"));
    conf_cleanup(&c);
    assert_int_equal(load("buffer_size: 18014398509481984G\n", err, &c),
                     CONF_EINVAL);
    assert_non_null(strstr(err, "must be 16KiB..64MiB"));
    conf_cleanup(&c);
}

static void test_durations(void **state)
{
    static const struct {
        const char *lit;
        int want;
    } ok[] = {
        {"30", 30},   {"30s", 30},     {"5m", 300},
        {"1h", 3600}, {"3599s", 3599}, {"'45'", 45},
    };
    static const char *const syntax[] = {"5x",  "1d",  "-1",    "1.5h", "h",
                                         "1 h", "1hr", "1m30s", ""};
    char text[128], err[CONF_ERR_MAX];
    struct conf c;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(text, sizeof(text), "limits:\n  header_timeout: %s\n",
                 ok[i].lit);
        load_ok(text, &c);
        assert_int_equal(c.header_timeout_s, ok[i].want);
        conf_cleanup(&c);
    }
    for (i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++) {
        snprintf(text, sizeof(text), "limits:\n  header_timeout: \"%s\"\n",
                 syntax[i]);
        assert_int_equal(load(text, err, &c), CONF_EINVAL);
        if (strstr(err, ":2: limits.header_timeout: must be a duration: "
                        "seconds with an optional s, m or h suffix") == NULL) {
            print_error("%s => %s\n", syntax[i], err);
            fail();
        }
        conf_cleanup(&c);
    }
    load_ok("limits: {idle_timeout: 24h}\n", &c);
    assert_int_equal(c.idle_timeout_s, 86400);
    conf_cleanup(&c);
    assert_int_equal(
        load("limits: {idle_timeout: 99999999999999999h}\n", err, &c),
        CONF_EINVAL);
    assert_non_null(strstr(err, "limits.idle_timeout: must be 1s..24h, got "
                                "99999999999999999h"));
    conf_cleanup(&c);
}

static void test_nulls_and_booleans(void **state)
{
    struct conf c;

    /* optional keys unset with an empty value or ~; empty mappings and
     * lists keep the defaults */
    load_ok("domain: s3.example.com\nmeta_dir: /m\n", &c);
    assert_string_equal(c.domain, "s3.example.com");
    conf_cleanup(&c);
    load_ok("domain:\nmeta_dir: ~\nerasure:\nlimits: null\nusers:\n"
            "disks:\n",
            &c);
    assert_null(c.domain);
    assert_string_equal(c.meta_dir, "./coffer-data/meta");
    assert_int_equal(c.ndisks, 6);
    assert_int_equal(c.nusers, 0);
    conf_cleanup(&c);
    load_ok("users: []\n", &c);
    assert_int_equal(c.nusers, 0);
    conf_cleanup(&c);
    load_ok("users:\n"
            "  - {access_key: u01, secret_key: 12345678, admin: yes}\n"
            "  - {access_key: u02, secret_key: 12345678, admin: TRUE}\n"
            "  - {access_key: u03, secret_key: 12345678, admin: off}\n"
            "  - {access_key: u04, secret_key: 12345678, admin: \"False\"}\n"
            "  - {access_key: u05, secret_key: 12345678}\n",
            &c);
    assert_int_equal(c.users[0].admin, 1);
    assert_int_equal(c.users[1].admin, 1);
    assert_int_equal(c.users[2].admin, 0);
    assert_int_equal(c.users[3].admin, 0);
    assert_int_equal(c.users[4].admin, 0);
    conf_cleanup(&c);
    /* empty file, comments only, a lone document marker: the defaults */
    load_ok("", &c);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    conf_cleanup(&c);
    load_ok("# nothing here\n\n", &c);
    conf_cleanup(&c);
    load_ok("---\n", &c);
    conf_cleanup(&c);
    load_ok("region: a\n---\n", &c);
    assert_string_equal(c.region, "a");
    conf_cleanup(&c);
}

/* ---- errors: FILE:LINE: key: reason ----------------------------------- */

struct err_row {
    const char *yaml;
    int line;
    const char *key;
    const char *reason; /* must appear right after "key: " */
};

static const struct err_row err_rows[] = {
    /* erasure */
    {"erasure:\n  data: 4\n  parity: 40\n", 3, "erasure.parity",
     "must be 0..16, got 40"},
    {"erasure:\n  parity: -1\n", 2, "erasure.parity", "must be 0..16, got -1"},
    {"erasure: {data: 0}\n", 1, "erasure.data", "must be 1..16, got 0"},
    {"erasure: {data: 17}\n", 1, "erasure.data", "must be 1..16, got 17"},
    {"erasure:\n  block_size: 1KiB\n", 2, "erasure.block_size",
     "must be 64KiB..16MiB, got 1KiB"},
    {"erasure:\n  block_size: 32MiB\n", 2, "erasure.block_size",
     "must be 64KiB..16MiB, got 32MiB"},
    {"erasure:\n  data: 3\n  block_size: 1MiB\n", 3, "erasure.block_size",
     "must be a multiple of 64 * erasure.data = 192, got 1MiB"},
    {"erasure:\n  block_size: 65600\n", 2, "erasure.block_size",
     "must be a multiple of 64 * erasure.data = 256, got 65600"},
    {"erasure:\n  parity: 1\n  data: 3\n", 3, "erasure.data",
     "block_size 1MiB is not a multiple of 64 * data = 192; "
     "set erasure.block_size (e.g. 768KiB)"},
    {"erasure: [1, 2]\n", 1, "erasure",
     "must be a mapping (key: value), got a list"},
    {"erasure: 4+2\n", 1, "erasure",
     "must be a mapping (key: value), got a single value"},
    {"erasure:\n  dta: 4\n", 2, "erasure.dta",
     "unknown key; did you mean 'data'?"},
    {"erasure:\n  data: 4\n  data: 5\n", 3, "erasure.data",
     "duplicate key (first given on line 2)"},
    /* numbers */
    {"max_threads: 0\n", 1, "max_threads", "must be 1..256, got 0"},
    {"max_threads: 257\n", 1, "max_threads", "must be 1..256, got 257"},
    {"max_threads: many\n", 1, "max_threads", "must be an integer, got 'many'"},
    {"max_threads: 4.5\n", 1, "max_threads", "must be an integer, got '4.5'"},
    {"max_threads: 99999999999999999999999\n", 1, "max_threads",
     "must be 1..256, got 99999999999999999999999"},
    {"max_threads:\n", 1, "max_threads", "must be an integer, got nothing"},
    {"max_threads: [1]\n", 1, "max_threads", "must be an integer, got a list"},
    {"io_threads: 0\n", 1, "io_threads", "must be 1..256, got 0"},
    {"io_threads: 300\n", 1, "io_threads", "must be 1..256, got 300"},
    {"buffer_size: 1KiB\n", 1, "buffer_size", "must be 16KiB..64MiB, got 1KiB"},
    {"buffer_size: {a: 1}\n", 1, "buffer_size",
     "must be a size, got a mapping"},
    /* limits */
    {"limits:\n  max_header_bytes: 512\n", 2, "limits.max_header_bytes",
     "must be 1KiB..1MiB, got 512"},
    {"limits:\n  max_header_bytes: 2MiB\n", 2, "limits.max_header_bytes",
     "must be 1KiB..1MiB, got 2MiB"},
    {"limits:\n  max_xml_bytes: 17MiB\n", 2, "limits.max_xml_bytes",
     "must be 1KiB..16MiB, got 17MiB"},
    {"limits:\n  max_object_size: 6GiB\n", 2, "limits.max_object_size",
     "must be 1..5GiB, got 6GiB"},
    {"limits:\n  max_object_size: 5368709121\n", 2, "limits.max_object_size",
     "must be 1..5GiB, got 5368709121"},
    {"limits:\n  max_object_size: 0\n", 2, "limits.max_object_size",
     "must be 1..5GiB, got 0"},
    {"limits:\n  max_connections: 0\n", 2, "limits.max_connections",
     "must be 1..1048576, got 0"},
    {"limits:\n  idle_timeout: 0s\n", 2, "limits.idle_timeout",
     "must be 1s..24h, got 0s"},
    {"audit:\n  export_interval: 169h\n", 2, "audit.export_interval",
     "must be 0s..168h, got 169h"},
    {"audit:\n  export_retention_years: 0\n", 2,
     "audit.export_retention_years", "must be 1..100, got 0"},
    {"audit:\n  export_bucket: Bad_Name\n", 2, "audit.export_bucket",
     "must be a bucket name"},
    {"limits:\n  idle_timeout: 25h\n", 2, "limits.idle_timeout",
     "must be 1s..24h, got 25h"},
    {"limits:\n  header_timeout: 2h\n", 2, "limits.header_timeout",
     "must be 1s..1h, got 2h"},
    {"limits:\n  body_timeout: 3601\n", 2, "limits.body_timeout",
     "must be 1s..1h, got 3601"},
    {"limits:\n  max_object_bytes: 1\n", 2, "limits.max_object_bytes",
     "unknown key; valid keys: max_header_bytes, max_xml_bytes, "
     "max_object_size, max_connections, max_connections_per_address, "
     "body_min_rate, idle_timeout, header_timeout, body_timeout, "
     "read_ahead_total"},
    {"limits:\n  read_ahead_total: 512KiB\n", 2, "limits.read_ahead_total",
     "must be 1MiB..16GiB, got 512KiB"},
    {"limits:\n  max_connections_per_address: -1\n", 2,
     "limits.max_connections_per_address", "must be 0..1048576, got -1"},
    {"limits:\n  body_min_rate: 2GiB\n", 2, "limits.body_min_rate",
     "must be 0..1GiB, got 2GiB"},
    {"limits:\n  idle_timeout: 1m\n  idle_timeout: 2m\n", 3,
     "limits.idle_timeout", "duplicate key (first given on line 2)"},
    /* strings */
    {"log_level: loud\n", 1, "log_level",
     "must be one of err, warn, notice, info, debug, got 'loud'"},
    {"log_level: NOTICE\n", 1, "log_level",
     "must be one of err, warn, notice, info, debug, got 'NOTICE'"},
    {"log_level:\n", 1, "log_level", "must not be empty"},
    {"region: \"\"\n", 1, "region", "must not be empty"},
    {"region: us east\n", 1, "region",
     "must be 1..31 characters of A-Z a-z 0-9 - _ (like us-east-1), got "
     "'us east'"},
    {"region: aaaaaaaaaabbbbbbbbbbccccccccccdd\n", 1, "region",
     "must be 1..31 characters"},
    {"region: \"us\\0east\"\n", 1, "region",
     "must be a string, got a string with a NUL byte"},
    {"region: [a]\n", 1, "region", "must be a string, got a list"},
    {"domain: http://s3.example.com\n", 1, "domain",
     "must be a DNS name such as s3.example.com (no port, no scheme), got "
     "'http://s3.example.com'"},
    {"domain: s3.example.com:9000\n", 1, "domain", "must be a DNS name"},
    {"domain: s3..example.com\n", 1, "domain", "must be a DNS name"},
    {"domain: .example.com\n", 1, "domain", "must be a DNS name"},
    {"domain: example.com.\n", 1, "domain", "must be a DNS name"},
    {"data_dir:\n", 1, "data_dir", "must not be empty"},
    {"meta_dir: [a, b]\n", 1, "meta_dir", "must be a string, got a list"},
    /* listen addresses */
    {"listen: localhost\n", 1, "listen",
     "must be HOST:PORT or [IPV6]:PORT with a port 1..65535, got "
     "'localhost'"},
    {"listen: 1.2.3.4:70000\n", 1, "listen",
     "must be HOST:PORT or [IPV6]:PORT with a port 1..65535, got "
     "'1.2.3.4:70000'"},
    {"listen: 1.2.3.4:0\n", 1, "listen",
     "must be HOST:PORT or [IPV6]:PORT with a port 1..65535, got "
     "'1.2.3.4:0'"},
    {"listen: \"::1:80\"\n", 1, "listen", "must be HOST:PORT"},
    {"listen: \"[::1]\"\n", 1, "listen", "must be HOST:PORT"},
    {"listen: \"host name:80\"\n", 1, "listen", "must be HOST:PORT"},
    {"console_listen: 127.0.0.1:x\n", 1, "console_listen", "must be HOST:PORT"},
    {"console_listen: [127.0.0.1, 9000]\n", 1, "console_listen",
     "must be a string, got a list"},
    /* tls */
    {"tls:\n  cert: /c.pem\n", 2, "tls.cert",
     "tls.cert and tls.key must be given together"},
    {"tls:\n  enabled: true\n  key: /k.pem\n", 3, "tls.key",
     "tls.cert and tls.key must be given together"},
    {"tls:\n  enabled: false\n  cert: /c.pem\n  key: /k.pem\n", 2,
     "tls.enabled", "is false, but tls.cert is set"},
    {"tls:\n  enabled: maybe\n", 2, "tls.enabled", "must be true or false"},
    {"tls:\n  cert: [a]\n", 2, "tls.cert", "must be a string, got a list"},
    {"tls: yes\n", 1, "tls", "must be a mapping (key: value)"},
    {"tls:\n  certificate: /c.pem\n", 2, "tls.certificate",
     "unknown key; valid keys: enabled, cert, key"},
    /* encryption: a KMS command is run without a shell */
    {"encryption:\n  kms_command: vault read key\n", 2,
     "encryption.kms_command", "must start with the absolute path of a "
     "program"},
    {"encryption:\n  kms_command: \"/bin/kms\\x01\"\n", 2,
     "encryption.kms_command", "must not hold control characters"},
    {"encryption:\n  master_key_file: /k\n  kms_command: /bin/kms get\n", 3,
     "encryption.kms_command", "give either it or "
     "encryption.master_key_file (line 2), not both"},
    {"encryption:\n  kms_command: [/bin/kms]\n", 2,
     "encryption.kms_command", "must be a string, got a list"},
    /* disks */
    {"disks: /one\n", 1, "disks",
     "must be a list of directories, got a single value"},
    {"disks: []\n", 1, "disks", "must list 1..256 directories, got 0"},
    {"disks: [/a, /b, /c]\n", 1, "disks",
     "3 directories listed, but erasure.data + erasure.parity = 6"},
    {"erasure: {data: 2, parity: 1}\ndisks:\n  - /a\n  - /b\n", 2, "disks",
     "2 directories listed, but erasure.data + erasure.parity = 3 (or a "
     "multiple of it: several erasure sets)"},
    {"erasure: {data: 2, parity: 1}\ndisks: [/a, /b, /c, /d]\n", 2, "disks",
     "4 directories listed, but erasure.data + erasure.parity = 3 (or a "
     "multiple of it: several erasure sets)"},
    {"erasure: {data: 16, parity: 1}\ndisks: [/1, /2, /3, /4, /5, /6, /7, "
     "/8, /9, /10, /11, /12, /13, /14, /15, /16, /17, /18, /19, /20, /21, "
     "/22, /23, /24, /25, /26, /27, /28, /29, /30, /31, /32, /33, /34]\n", 2,
     "disks", "34 directories listed, but erasure.data + erasure.parity = "
     "17: several erasure sets need data + parity <= 16"},
    {"disks: [/a, /b, /a, /c, /d, /e]\n", 1, "disks[2]",
     "'/a' is listed twice (also disks[0])"},
    {"disks:\n  - /a\n  - ''\n", 3, "disks[1]", "must not be empty"},
    {"disks:\n  - /a\n  - [x]\n", 3, "disks[1]",
     "must be a string, got a list"},
    /* users */
    {"users:\n  - access_key: ab\n    secret_key: 12345678\n", 2,
     "users[0].access_key",
     "must be 3..128 characters of A-Z a-z 0-9 _ . -, got 'ab'"},
    {"users:\n  - access_key: 'bad key!'\n    secret_key: 12345678\n", 2,
     "users[0].access_key", "must be 3..128 characters"},
    {"users:\n  - access_key: abc\n    secret_key: s3cr3t\n", 3,
     "users[0].secret_key", "must be 8..128 characters long"},
    {"users:\n  - access_key: abc\n    secret_key: 'has a space'\n", 3,
     "users[0].secret_key", "must be printable ASCII without spaces"},
    {"users:\n  - {access_key: abc, secret_key: 12345678}\n"
     "  - {access_key: abd, secret_key: 12345678}\n"
     "  - {access_key: abc, secret_key: 87654321}\n",
     4, "users[2].access_key", "'abc' is already used by users[0]"},
    {"users:\n  - access_key: abc\n    secret_key: 12345678\n"
     "  - access_key: abc\n    secret_key: 87654321\n",
     4, "users[1].access_key", "'abc' is already used by users[0]"},
    {"users:\n  - {secret_key: 12345678}\n", 2, "users[0].access_key",
     "is required"},
    {"users:\n  - {access_key: abc}\n", 2, "users[0].secret_key",
     "is required"},
    {"users:\n  - {access_key: abc, secret_key: 12345678, admin: maybe}\n", 2,
     "users[0].admin", "must be true or false"},
    {"users:\n  - {access_key: abc, secret_key: 12345678, admn: true}\n", 2,
     "users[0].admn", "unknown key; did you mean 'admin'?"},
    {"users:\n  - {access_key: abc, access_key: abd}\n", 2,
     "users[0].access_key", "duplicate key (first given on line 2)"},
    {"users:\n  access_key: abc\n", 2, "users",
     "must be a list of users, got a mapping"},
    {"users:\n  - abc\n", 2, "users[0]",
     "must be a mapping with access_key and secret_key, got a single "
     "value"},
    {"users:\n  -\n", 2, "users[0]",
     "must be a mapping with access_key and secret_key, got nothing"},
    /* unknown and duplicate keys at the top */
    {"listn: 127.0.0.1:9000\n", 1, "listn",
     "unknown key; did you mean 'listen'?"},
    {"region: x\nlog-level: info\n", 2, "log-level",
     "unknown key; did you mean 'log_level'?"},
    {"frobnicate: 1\n", 1, "frobnicate",
     "unknown key; valid keys: listen, console_listen, data_dir, disks, "
     "meta_dir, erasure, max_threads, io_threads, buffer_size, region, "
     "domain, log_level, limits, heal, tls, audit, encryption, lifecycle, users"},
    {"listen: 127.0.0.1:9000\nregion: x\nlisten: 1.2.3.4:5\n", 3, "listen",
     "duplicate key (first given on line 1)"},
    {"erasure: {data: 4}\n\nerasure: {parity: 2}\n", 3, "erasure",
     "duplicate key (first given on line 1)"},
    {"? [a, b]\n: c\n", 1, "top level", "keys must be plain names, got a list"},
    /* the document itself */
    {"- listen\n- region\n", 1, "top level",
     "must be a mapping (key: value), got a list"},
    {"hello\n", 1, "top level",
     "must be a mapping (key: value), got a single value"},
    {"region: a\n---\nregion: b\n", 3, "yaml",
     "only one document is allowed (a second '---' starts another)"},
    /* YAML syntax: libyaml's problem and the line it found it on */
    {"listen: [unclosed\nregion: x\n", 2, "yaml",
     "did not find expected ',' or ']' (while parsing a flow sequence "
     "started on line 1)"},
    {"erasure:\n  data: 4\n   parity: 2\n", 3, "yaml",
     "mapping values are not allowed in this context"},
    {"region: a\nlisten: *nope\n", 2, "yaml",
     "aliases (*nope) are not supported"},
    {"region: &r eu-west-1\nlisten: x\ndomain: *r\n", 3, "yaml",
     "aliases (*r) are not supported"},
    /* top mapping + erasure + 31 lists: 33 levels */
    {"erasure:\n  data: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     2, "yaml", "nested more than 32 levels deep"},
    /* top mapping + erasure + 30 lists: 32 levels */
    {"erasure:\n  data: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     2, "erasure.data", "must be an integer, got a list"},
    {"region: a\nlog_level: 'unterminated\n", 3, "yaml",
     "found unexpected end of stream (while scanning a quoted scalar "
     "started on line 2)"},
    {"region: a\n\tlisten: x\n", 2, "yaml",
     "found a tab character that violates indentation (while scanning a "
     "plain scalar started on line 1)"},
    {"region: a\n@listen: x\n", 2, "yaml",
     "found character that cannot start any token (while scanning for the "
     "next token)"},
    {"region: a\n\n# ok\ndomain: caf\xc3\n", 4, "yaml",
     "invalid trailing UTF-8 octet"},
    {"region: a\n\n# ok\ndomain: \xff\n", 4, "yaml",
     "invalid leading UTF-8 octet (byte 0xff)"},
    /* the whole file must parse before any key is looked at */
    {"region: a\nregion: b\n---\nc: [\n", 5, "yaml",
     "did not find expected node content (while parsing a flow node)"},
    {"region: a\n---\nc: [\n", 4, "yaml", "did not find expected node"},
};

static void test_errors(void **state)
{
    size_t i;

    for (i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++) {
        const struct err_row *r = &err_rows[i];
        struct conf c;
        char err[CONF_ERR_MAX] = "", want[CONF_ERR_MAX];
        enum conf_status st = load(r->yaml, err, &c);

        snprintf(want, sizeof(want), "%s:%d: %s: %s", path, r->line, r->key,
                 r->reason);
        if (st != CONF_EINVAL || strncmp(err, want, strlen(want)) != 0) {
            print_error("row %zu:\n%s\n got st=%d '%s'\nwant '%s...'\n", i,
                        r->yaml, st, err, want);
            fail();
        }
        conf_cleanup(&c);
    }
}

/* Secrets never appear in a message, whatever is wrong with them. */
static void test_secret_not_echoed(void **state)
{
    static const char *const texts[] = {
        "users:\n  - {access_key: abc, secret_key: 'SECRET x'}\n",
        "users:\n  - {access_key: abc, secret_key: SECRET}\n",
        "users:\n  - {access_key: abc, secret_key: \"SECRET\\t1234567\"}\n",
    };
    struct conf c;
    char err[CONF_ERR_MAX];
    size_t i;

    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        assert_int_equal(load(texts[i], err, &c), CONF_EINVAL);
        assert_non_null(strstr(err, "users[0].secret_key: "));
        assert_null(strstr(err, "SECRET"));
        conf_cleanup(&c);
    }
}

/* Values echoed in messages are printable and bounded. */
static void test_echo_sanitised(void **state)
{
    struct conf c;
    char err[CONF_ERR_MAX], text[512];
    size_t i;

    assert_int_equal(load("region: \"a\\nb\\u00e9\"\n", err, &c), CONF_EINVAL);
    assert_non_null(strstr(err, "got 'a?b?"
                                "?'"));
    conf_cleanup(&c);
    i = (size_t)snprintf(text, sizeof(text), "log_level: ");
    memset(text + i, 'x', 300);
    memcpy(text + i + 300, "\n", 2);
    assert_int_equal(load(text, err, &c), CONF_EINVAL);
    assert_non_null(strstr(err, "got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxx...'"));
    conf_cleanup(&c);
}

#define TEXT_CAP (64 * 1024)

static void test_limits_on_lists(void **state)
{
    char *text = malloc(TEXT_CAP);
    size_t n = 0;
    struct conf c;
    char err[CONF_ERR_MAX];
    int i;

    assert_non_null(text);
    /* 256 disks is the most (16 sets of 8 + 8), 257 one too many */
    n = (size_t)snprintf(text, TEXT_CAP,
                         "erasure: {data: 8, parity: 8}\ndisks:\n");
    for (i = 0; i < 256; i++)
        n += (size_t)snprintf(text + n, TEXT_CAP - n, "  - /d%d\n", i);
    load_ok(text, &c);
    assert_int_equal(c.ndisks, 256);
    assert_string_equal(c.disks[255], "/d255");
    conf_cleanup(&c);
    snprintf(text + n, TEXT_CAP - n, "  - /d256\n");
    assert_int_equal(load(text, err, &c), CONF_EINVAL);
    assert_non_null(strstr(err, ":3: disks: must list 1..256 directories, "
                                "got 257"));
    conf_cleanup(&c);
    /* two sets of 2 + 1 */
    load_ok("erasure: {data: 2, parity: 1}\n"
            "disks: [/a, /b, /c, /d, /e, /f]\n", &c);
    assert_int_equal(c.ndisks, 6);
    conf_cleanup(&c);
    /* 1000 users is the most, 1001 too many */
    n = (size_t)snprintf(text, TEXT_CAP, "users:\n");
    for (i = 0; i < 1000; i++)
        n += (size_t)snprintf(text + n, TEXT_CAP - n,
                              "  - {access_key: user%04d, secret_key: "
                              "12345678}\n",
                              i);
    load_ok(text, &c);
    assert_int_equal(c.nusers, 1000);
    assert_string_equal(c.users[999].access_key, "user0999");
    conf_cleanup(&c);
    snprintf(text + n, TEXT_CAP - n,
             "  - {access_key: userx, secret_key: 12345678}\n");
    assert_int_equal(load(text, err, &c), CONF_EINVAL);
    assert_non_null(strstr(err, ":2: users: at most 1000 users here, got "
                                "1001"));
    conf_cleanup(&c);
    free(text);
}

/* Hostile shapes fail fast: libyaml's own document loader would recurse
 * for minutes on the first one. */
static void test_pathological(void **state)
{
    size_t n = 1000 * 1000, i;
    char *text = malloc(n + 16), err[CONF_ERR_MAX];
    struct conf c;

    if (text == NULL) {
        fail();
        return;
    }
    memcpy(text, "a: ", 3);
    memset(text + 3, '[', n);
    assert_int_equal(load_len(text, n + 3, err, &c), CONF_EINVAL);
    assert_non_null(strstr(err, ":1: yaml: nested more than 32 levels deep"));
    conf_cleanup(&c);
    /* 100001 values (the list and 100000 items) */
    memcpy(text, "a: [", 4);
    for (i = 0; i < 100000; i++)
        memcpy(text + 4 + 2 * i, "1,", 2);
    memcpy(text + 4 + 2 * i - 1, "]\n", 2);
    assert_int_equal(load_len(text, 4 + 2 * i + 1, err, &c), CONF_EINVAL);
    assert_non_null(strstr(err, ":1: yaml: more than 100000 values in one "
                                "file"));
    conf_cleanup(&c);
    free(text);
}

/* ---- files ---------------------------------------------------------- */

static void test_file_errors(void **state)
{
    struct conf c;
    char err[CONF_ERR_MAX] = "", want[512], *big;
    size_t n = 1024 * 1024 + 1;

    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(
        conf_load_file(&c, "/nonexistent/coffer.yaml", err, sizeof(err)),
        CONF_EIO);
    assert_string_equal(err,
                        "/nonexistent/coffer.yaml: No such file or directory");
    assert_int_equal(conf_load_file(&c, dir, err, sizeof(err)), CONF_EIO);
    snprintf(want, sizeof(want), "%s: Is a directory", dir);
    assert_string_equal(err, want);
    /* a failed load keeps the values it had and no path */
    assert_null(c.path);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    /* err may be NULL */
    assert_int_equal(conf_load_file(&c, "/nonexistent/x", NULL, 0), CONF_EIO);
    conf_cleanup(&c);

    big = malloc(n);
    assert_non_null(big);
    memset(big, '#', n);
    big[n - 1] = '\n';
    assert_int_equal(load_len(big, n, err, &c), CONF_EINVAL);
    snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
    assert_non_null(strstr(err, want));
    conf_cleanup(&c);
    load_len(big, n - 2, err, &c); /* just under the cap: fine */
    conf_cleanup(&c);
    free(big);
}

/* A second file loads over the first. */
static void test_two_files(void **state)
{
    struct conf c;
    char err[CONF_ERR_MAX], p2[300];
    const char *first;
    FILE *f;

    snprintf(p2, sizeof(p2), "%s/second.yaml", dir);
    f = fopen(p2, "w");
    assert_non_null(f);
    fputs("listen: 0.0.0.0:9999\nusers:\n"
          "  - {access_key: two, secret_key: 12345678}\n",
          f);
    fclose(f);
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    first = "region: r1\nusers:\n  - {access_key: one, secret_key: "
            "12345678}\n";
    assert_int_equal(
        conf_load_file(&c, write_yaml(first, strlen(first)), err, sizeof(err)),
        CONF_OK);
    assert_int_equal(conf_load_file(&c, p2, err, sizeof(err)), CONF_OK);
    assert_string_equal(c.path, p2);
    assert_string_equal(c.region, "r1");
    assert_string_equal(c.listen, "0.0.0.0:9999");
    assert_int_equal(c.nusers, 1);
    assert_string_equal(c.users[0].access_key, "two");
    conf_cleanup(&c);
    unlink(p2);
}

/* ---- finalize -------------------------------------------------------- */

static void test_finalize_derivations(void **state)
{
    struct conf c;
    char err[CONF_ERR_MAX];

    load_ok("data_dir: /srv/x/\nerasure: {data: 2, parity: 1, "
            "block_size: 128K}\n",
            &c);
    assert_int_equal(c.ndisks, 3);
    assert_string_equal(c.disks[0], "/srv/x/disk1");
    assert_string_equal(c.disks[2], "/srv/x/disk3");
    assert_string_equal(c.meta_dir, "/srv/x/meta");
    assert_string_equal(c.master_key_file, "/srv/x/master.key");
    conf_cleanup(&c);
    /* the master key file may be placed anywhere but inside a disk */
    load_ok("encryption: {master_key_file: /etc/coffer/master.key}\n", &c);
    assert_string_equal(c.master_key_file, "/etc/coffer/master.key");
    conf_cleanup(&c);
    /* a KMS command replaces the default key file */
    load_ok("encryption: {kms_command: /usr/local/bin/kms get coffer}\n", &c);
    assert_string_equal(c.kms_command, "/usr/local/bin/kms get coffer");
    assert_null(c.master_key_file);
    conf_cleanup(&c);
    load_ok("data_dir: /\nerasure: {data: 1, parity: 0}\n", &c);
    assert_int_equal(c.ndisks, 1);
    assert_string_equal(c.disks[0], "/disk1");
    assert_string_equal(c.meta_dir, "/meta");
    conf_cleanup(&c);
    /* given values are kept */
    load_ok("disks: [/a, /b, /c, /d, /e, /f]\nmeta_dir: /m\nmax_threads: 7\n",
            &c);
    assert_string_equal(c.disks[5], "/f");
    assert_string_equal(c.meta_dir, "/m");
    assert_int_equal(c.max_threads, 7);
    conf_cleanup(&c);
    /* the command line's data_dir moves the derived paths */
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_set_str(&c.data_dir, "/cli"), CONF_OK);
    assert_int_equal(conf_finalize(&c, err, sizeof(err)), CONF_OK);
    assert_string_equal(c.disks[3], "/cli/disk4");
    assert_string_equal(c.meta_dir, "/cli/meta");
    conf_cleanup(&c);
}

static void expect_finalize(struct conf *c, const char *want)
{
    char err[CONF_ERR_MAX] = "";

    assert_int_equal(conf_finalize(c, err, sizeof(err)), CONF_EINVAL);
    if (strcmp(err, want) != 0) {
        print_error("got  '%s'\nwant '%s'\n", err, want);
        fail();
    }
    conf_cleanup(c);
}

static void test_finalize_errors(void **state)
{
    struct conf c;
    char want[512];
    int i;

    /* ndisks set by a caller, not a file */
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    c.disks = calloc(3, sizeof(char *));
    assert_non_null(c.disks);
    for (i = 0; i < 3; i++) {
        assert_int_equal(conf_set_str(&c.disks[i], "/x"), CONF_OK);
        c.disks[i][1] = (char)('a' + i);
        c.ndisks = i + 1;
    }
    expect_finalize(&c, "built-in defaults: disks: 3 directories listed, but "
                        "erasure.data + erasure.parity = 6 (or a multiple of "
                        "it: several erasure sets)");
    /* command-line overrides */
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_set_str(&c.listen, "nope"), CONF_OK);
    expect_finalize(&c, "command line: listen: must be HOST:PORT or "
                        "[IPV6]:PORT with a port 1..65535, got 'nope'");
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_set_str(&c.console_listen, "1.2.3.4:99999"), CONF_OK);
    expect_finalize(&c, "command line: console_listen: must be HOST:PORT, "
                        "[IPV6]:PORT with a port 1..65535, or off, got "
                        "'1.2.3.4:99999'");
    /* off: no console port */
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_set_str(&c.console_listen, "off"), CONF_OK);
    assert_int_equal(conf_finalize(&c, want, sizeof(want)), CONF_OK);
    assert_string_equal(c.console_listen, "off");
    conf_cleanup(&c);
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_set_str(&c.data_dir, ""), CONF_OK);
    expect_finalize(&c, "command line: data_dir: must not be empty, got ''");
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_set_str(&c.region, NULL), CONF_OK);
    expect_finalize(&c, "command line: region: must not be empty, got ''");
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_set_str(&c.tls_cert, "/c.pem"), CONF_OK);
    expect_finalize(&c, "command line: tls.key: tls.cert and tls.key must be "
                        "given together (--tls-cert, --tls-key)");
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_set_str(&c.data_dir, "/d"), CONF_OK);
    assert_int_equal(conf_set_str(&c.master_key_file, "/d/disk2/k"),
                     CONF_OK);
    expect_finalize(&c, "built-in defaults: encryption.master_key_file: "
                        "must not be inside disk directory /d/disk2, got "
                        "'/d/disk2/k'");
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_set_str(&c.master_key_file, ""), CONF_OK);
    expect_finalize(&c, "command line: encryption.master_key_file: must not "
                        "be empty, got ''");
    /* numbers set by a caller are range-checked too */
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    c.io_threads = 0;
    expect_finalize(&c, "built-in defaults: io_threads: must be 1..256, got "
                        "0");
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    c.max_header_bytes = 10;
    expect_finalize(&c, "built-in defaults: limits.max_header_bytes: must be "
                        "1KiB..1MiB, got 10");
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    c.ec_data = 3;
    expect_finalize(&c, "built-in defaults: erasure.block_size: must be a "
                        "multiple of 64 * erasure.data = 192, got 1048576");
    /* after a file, its name labels what is not a command-line string */
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_load_file(&c, write_yaml("region: r\n", 10), NULL, 0),
                     CONF_OK);
    c.ec_parity = 17;
    snprintf(want, sizeof(want), "%s: erasure.parity: must be 0..16, got 17",
             path);
    expect_finalize(&c, want);
    /* the same directory twice */
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_finalize(&c, NULL, 0), CONF_OK);
    assert_int_equal(conf_set_str(&c.disks[4], c.disks[1]), CONF_OK);
    expect_finalize(&c, "built-in defaults: disks[4]: same directory as "
                        "disks[1]");
}

/* ---- addresses, statuses -------------------------------------------- */

static void test_parse_addr(void **state)
{
    static const struct {
        const char *s;
        const char *host;
        int port;
    } ok[] = {
        {"127.0.0.1:9000", "127.0.0.1", 9000},
        {"[::1]:80", "::1", 80},
        {"[2001:db8::1]:443", "2001:db8::1", 443},
        {"[::ffff:10.0.0.1]:1", "::ffff:10.0.0.1", 1},
        {"localhost:9000", "localhost", 9000},
        {"s3.example-1.com:65535", "s3.example-1.com", 65535},
        {":9000", "", 9000},
        {"*:9000", "*", 9000},
        {"0.0.0.0:00080", "0.0.0.0", 80},
    };
    static const char *const bad[] = {
        "",         "host",        "::1:80",       "host:",
        "host:0",   "host:65536",  "host:+80",     "host: 80",
        "host:80x", "host:-1",     "[::1]80",      "[::1",
        "[]:80",    "[zz::1]:80",  "[1.2.3.4]:80", "host name:80",
        "ho/st:80", "host:000080", "[::1]:",       "[::1]:99999",
    };
    char host[64];
    int port;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        port = -1;
        if (conf_parse_addr(ok[i].s, host, sizeof(host), &port) != 0) {
            print_error("'%s' refused\n", ok[i].s);
            fail();
        }
        assert_string_equal(host, ok[i].host);
        assert_int_equal(port, ok[i].port);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (conf_parse_addr(bad[i], host, sizeof(host), &port) == 0) {
            print_error("'%s' accepted\n", bad[i]);
            fail();
        }
    }
    assert_int_equal(conf_parse_addr(NULL, host, sizeof(host), &port), -1);
    /* the host must fit with its NUL */
    assert_int_equal(conf_parse_addr("abcd:1", host, 5, &port), 0);
    assert_int_equal(conf_parse_addr("abcde:1", host, 5, &port), -1);
}

static void test_strerror(void **state)
{
    assert_string_equal(conf_strerror(CONF_OK), "ok");
    assert_string_equal(conf_strerror(CONF_EINVAL), "invalid configuration");
    assert_non_null(conf_strerror(CONF_EIO));
    assert_non_null(conf_strerror(CONF_ENOMEM));
    assert_non_null(conf_strerror((enum conf_status)99));
}

/* ---- allocation failures ---------------------------------------------
 * glibc lets a program replace malloc; these forward to glibc's own and
 * fail the Nth call when asked, counting live blocks. The loop fails each
 * allocation of a full load in turn (libyaml's included): every run must
 * end in CONF_ENOMEM with nothing leaked, until one run sees no failure.
 * AddressSanitizer owns malloc itself, so those builds skip this; their
 * leak checker covers the other error paths. */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_OOM_TEST 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_OOM_TEST 0
#endif
#endif
#ifndef HAVE_OOM_TEST
#define HAVE_OOM_TEST 1
#endif

#if HAVE_OOM_TEST
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static int tracking; /* count and inject only inside the loop */
static long nallocs; /* allocations seen while tracking */
static long fail_at; /* index of the allocation to fail, -1: none */
static int injected; /* a failure was injected in this run */
static long live;    /* blocks allocated minus blocks freed */

static int inject(void)
{
    if (!tracking) return 0;
    if (nallocs++ == fail_at) {
        injected = 1;
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    void *p = inject() ? NULL : __libc_malloc(n);
    if (p && tracking) live++;
    return p;
}

void *calloc(size_t n, size_t size)
{
    void *p = inject() ? NULL : __libc_calloc(n, size);
    if (p && tracking) live++;
    return p;
}

void *realloc(void *old, size_t n)
{
    void *p;

    if (inject()) return NULL;
    p = __libc_realloc(old, n);
    if (tracking && old == NULL && p != NULL) live++;
    if (tracking && old != NULL && n == 0) live--;
    return p;
}

void free(void *p)
{
    if (p && tracking) live--;
    __libc_free(p);
}

static void test_oom_no_leaks(void **state)
{
    enum conf_status st;
    struct conf c;
    char err[CONF_ERR_MAX];
    long n;

    write_yaml(all_keys, strlen(all_keys));
    for (n = 0;; n++) {
        tracking = 1;
        nallocs = 0;
        fail_at = n;
        injected = 0;
        live = 0;
        st = conf_init_defaults(&c);
        if (st == CONF_OK) {
            st = conf_load_file(&c, path, err, sizeof(err));
            if (st == CONF_OK) st = conf_finalize(&c, err, sizeof(err));
            conf_cleanup(&c);
        }
        tracking = 0;
        if (live != 0) {
            print_error("failing allocation %ld: %ld blocks leaked\n", n, live);
            fail();
        }
        if (!injected) break;
        if (st != CONF_ENOMEM) {
            print_error("failing allocation %ld: status %d, '%s'\n", n, st,
                        err);
            fail();
        }
    }
    assert_int_equal(st, CONF_OK);
    assert_true(n > 20); /* the loop really went through the load */
}
#else
static void test_oom_no_leaks(void **state)
{
    skip();
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_example_loads),
        cmocka_unit_test(test_all_keys),
        cmocka_unit_test(test_tls_keys),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_nulls_and_booleans),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_secret_not_echoed),
        cmocka_unit_test(test_echo_sanitised),
        cmocka_unit_test(test_limits_on_lists),
        cmocka_unit_test(test_pathological),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_two_files),
        cmocka_unit_test(test_finalize_derivations),
        cmocka_unit_test(test_finalize_errors),
        cmocka_unit_test(test_parse_addr),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_oom_no_leaks),
    };
    int rc;

    if (mkdtemp(dir) == NULL) return 1;
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    rmdir(dir);
    return rc;
}
