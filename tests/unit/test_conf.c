/* test_conf.c: configuration defaults, the example file, and every
 * validation error naming FILE:LINE: key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"

static char dir[] = "/tmp/coffer-test-conf-XXXXXX";

static const char *write_yaml(const char *text)
{
    static char path[256];
    FILE *f;
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text; returns the status and leaves the message in err. */
static enum conf_status load(const char *text, char *err, struct conf *c)
{
    enum conf_status st;
    conf_init_defaults(c);
    st = conf_load_file(c, write_yaml(text), err, CONF_ERR_MAX);
    if (st == CONF_OK) st = conf_finalize(c, err, CONF_ERR_MAX);
    return st;
}

static void expect_error(const char *text, int line, const char *key,
                         const char *part)
{
    struct conf c;
    char err[CONF_ERR_MAX] = "", want[256];
    assert_int_not_equal(load(text, err, &c), CONF_OK);
    snprintf(want, sizeof(want), "c.yaml:%d: %s: ", line, key);
    if (strstr(err, want) == NULL || strstr(err, part) == NULL) {
        print_error("got '%s', want '%s...%s'\n", err, want, part);
        fail();
    }
    conf_cleanup(&c);
}

static void test_defaults(void **state)
{
    struct conf c;
    char err[CONF_ERR_MAX];
    assert_int_equal(conf_init_defaults(&c), CONF_OK);
    assert_int_equal(conf_finalize(&c, err, sizeof(err)), CONF_OK);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    assert_string_equal(c.data_dir, "./coffer-data");
    assert_int_equal(c.ndisks, 6);
    assert_string_equal(c.disks[0], "./coffer-data/disk1");
    assert_string_equal(c.disks[5], "./coffer-data/disk6");
    assert_string_equal(c.meta_dir, "./coffer-data/meta");
    assert_int_equal(c.ec_data, 4);
    assert_int_equal(c.ec_parity, 2);
    assert_int_equal(c.stripe_size, 1 << 20);
    assert_true(c.max_threads >= 1);
    assert_int_equal(c.max_header_bytes, 64 * 1024);
    assert_int_equal(c.max_object_bytes, 5ULL << 30);
    conf_cleanup(&c);
}

static void test_example_loads(void **state)
{
    struct conf c;
    char err[CONF_ERR_MAX] = "";
    const char *path = getenv("COFFER_EXAMPLE_YAML");
    conf_init_defaults(&c);
    if (path == NULL) path = "conf/coffer.example.yaml";
    if (conf_load_file(&c, path, err, sizeof(err)) != CONF_OK) {
        print_error("%s\n", err);
        fail();
    }
    assert_int_equal(conf_finalize(&c, err, sizeof(err)), CONF_OK);
    assert_int_equal(c.nusers, 1);
    assert_string_equal(c.users[0].access_key, "backup-writer");
    assert_int_equal(c.users[0].admin, 0);
    assert_int_equal(c.header_timeout_s, 30);
    conf_cleanup(&c);
}

static void test_values(void **state)
{
    struct conf c;
    char err[CONF_ERR_MAX] = "";
    assert_int_equal(load("data_dir: /srv/x\n"
                          "erasure: {data: 2, parity: 1, block_size: 128K}\n"
                          "limits:\n"
                          "  header_timeout: 2s\n"
                          "  idle_timeout: 5m\n"
                          "  max_object_size: 1GiB\n"
                          "buffer_size: 1MiB\n"
                          "listen: \"[::1]:9100\"\n",
                          err, &c),
                     CONF_OK);
    assert_int_equal(c.ndisks, 3);
    assert_string_equal(c.disks[2], "/srv/x/disk3");
    assert_int_equal(c.stripe_size, 128 * 1024);
    assert_int_equal(c.header_timeout_s, 2);
    assert_int_equal(c.idle_timeout_s, 300);
    assert_int_equal(c.max_object_bytes, 1ULL << 30);
    assert_int_equal(c.buffer_size, 1 << 20);
    conf_cleanup(&c);
}

static void test_errors(void **state)
{
    expect_error("listen: 127.0.0.1:9000\nlisten: 1.2.3.4:5\n", 2, "listen",
                 "duplicate");
    expect_error("listn: 1\n", 1, "listn", "unknown key");
    expect_error("erasure:\n  data: 4\n  parity: 40\n", 3, "erasure.parity",
                 "0..16");
    expect_error("erasure:\n  dta: 4\n", 2, "erasure", "unknown key 'dta'");
    expect_error("erasure:\n  block_size: 3MB7\n", 2, "erasure.block_size",
                 "suffix");
    expect_error("erasure:\n  block_size: 1KiB\n", 2, "erasure.block_size",
                 "between");
    expect_error("max_threads: many\n", 1, "max_threads", "number");
    expect_error("listen: localhost\n", 1, "listen", "HOST:PORT");
    expect_error("listen: 1.2.3.4:70000\n", 1, "listen", "1..65535");
    expect_error("log_level: loud\n", 1, "log_level", "one of");
    expect_error("limits:\n  header_timeout: 0s\n", 2, "limits.header_timeout",
                 "1s..");
    expect_error("limits:\n  max_object_size: 6GiB\n", 2,
                 "limits.max_object_size", "between");
    expect_error("users:\n  - access_key: ab\n    secret_key: 12345678\n", 2,
                 "users[0].access_key", "3..128");
    expect_error("users:\n  - access_key: abc\n    secret_key: 1234\n", 3,
                 "users[0].secret_key", "8..128");
    expect_error("users:\n  - {access_key: abc, secret_key: 12345678}\n"
                 "  - {access_key: abc, secret_key: 87654321}\n",
                 3, "users[1]", "used twice");
    expect_error("users:\n  - {secret_key: 12345678}\n", 2, "users[0]",
                 "access_key is required");
    expect_error("users:\n  - {access_key: abc, secret_key: 12345678, "
                 "admin: maybe}\n",
                 2, "users[0].admin", "true or false");
    expect_error("erasure: [1, 2]\n", 1, "erasure", "mapping");
    /* YAML syntax error: libyaml's problem and line */
    expect_error("listen: [unclosed\nregion: x\n", 2, "yaml", "expected");
}

static void test_finalize_errors(void **state)
{
    struct conf c;
    char err[CONF_ERR_MAX] = "";
    assert_int_equal(load("disks: [/a, /b, /c]\n", err, &c), CONF_EINVAL);
    assert_non_null(strstr(err, "disks: 3 directories"));
    conf_cleanup(&c);
    assert_int_equal(load("erasure: {data: 3, block_size: 64KiB}\n", err, &c),
                     CONF_EINVAL);
    assert_non_null(strstr(err, "multiple of 64 * data"));
    conf_cleanup(&c);
}

static void test_missing_file(void **state)
{
    struct conf c;
    char err[CONF_ERR_MAX] = "";
    conf_init_defaults(&c);
    assert_int_equal(conf_load_file(&c, "/nonexistent/coffer.yaml", err,
                                    sizeof(err)),
                     CONF_EIO);
    assert_non_null(strstr(err, "/nonexistent/coffer.yaml: "));
    conf_cleanup(&c);
}

static void test_parse_addr(void **state)
{
    char host[64];
    int port;
    assert_int_equal(conf_parse_addr("127.0.0.1:9000", host, 64, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9000);
    assert_int_equal(conf_parse_addr("[::1]:80", host, 64, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(conf_parse_addr("::1:80", host, 64, &port), -1);
    assert_int_equal(conf_parse_addr("host:", host, 64, &port), -1);
    assert_int_equal(conf_parse_addr("host:0", host, 64, &port), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_example_loads),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_finalize_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_parse_addr),
    };
    int rc;
    if (mkdtemp(dir) == NULL) return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    {
        char p[300];
        snprintf(p, sizeof(p), "%s/c.yaml", dir);
        unlink(p);
        rmdir(dir);
    }
    return rc;
}
