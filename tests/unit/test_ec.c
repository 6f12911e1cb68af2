/* test_ec.c: erasure round trips through ec.h, with shard files deleted,
 * corrupted and truncated on disk: every combination of up to M missing
 * shards must read byte-exact, more must fail cleanly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <unistd.h>
#include <cmocka.h>

#include "ec.h"

#define K 4
#define M 2
#define N (K + M)
#define STRIPE (64 * 1024)

static char root[] = "/tmp/coffer-test-ec-XXXXXX";
static char disks[N][256];
static const char *diskp[N];
static unsigned seed;

static struct ec_set *open_set(int k, int m, size_t stripe)
{
    struct ec_config c = { diskp, k + m, k, m, stripe };
    struct ec_set *s = NULL;
    assert_int_equal(ec_set_open(&c, &s), EC_OK);
    return s;
}

static char *pattern(size_t n)
{
    char *p = malloc(n ? n : 1);
    size_t i;
    for (i = 0; i < n; i++) p[i] = (char)(rand_r(&seed) >> 7);
    return p;
}

static void put(struct ec_set *s, const char *id, const char *data, size_t n)
{
    struct ec_writer *w;
    struct ec_obj_info in = { "bkt", "some/key", 8, id, 1234 };
    uint64_t size;
    size_t off = 0;
    assert_int_equal(ec_writer_new(s, &in, &w), EC_OK);
    while (off < n) { /* odd-sized appends */
        size_t k = 1 + (size_t)(rand_r(&seed) % 100000);
        if (k > n - off) k = n - off;
        assert_int_equal(ec_writer_append(w, data + off, k), EC_OK);
        off += k;
    }
    assert_int_equal(ec_writer_finish(w, &size), EC_OK);
    assert_int_equal(size, n);
    ec_writer_free(w);
}

static void check(struct ec_set *s, const char *id, const char *data,
                  size_t n, int want_degraded)
{
    struct ec_reader *r;
    char *buf = malloc(n ? n : 1);
    int deg = -1;
    assert_int_equal(ec_reader_open(s, id, n, &r), EC_OK);
    assert_int_equal(ec_reader_read(r, 0, buf, n, &deg), EC_OK);
    assert_memory_equal(buf, data, n);
    if (n) assert_int_equal(deg, want_degraded);
    /* and a few ranges, from the same reader */
    if (n > 0) {
        int k;
        for (k = 0; k < 8; k++) {
            size_t off = (size_t)rand_r(&seed) % n;
            size_t len = (size_t)rand_r(&seed) % (n - off + 1);
            assert_int_equal(ec_reader_read(r, off, buf, len, NULL), EC_OK);
            assert_memory_equal(buf, data + off, len);
        }
    }
    ec_reader_free(r);
    free(buf);
}

/* Path of shard i of a version: found with glob, so the test does not
 * depend on the placement rule. */
static int shard_path_in(const char *dirs, const char *id, int i, char *out,
                         size_t cap)
{
    glob_t g;
    char pat[512];
    int rc;
    snprintf(pat, sizeof(pat), "%s/%s/obj/*/*/%s.%d", root, dirs, id, i);
    rc = glob(pat, 0, NULL, &g);
    if (rc == 0 && g.gl_pathc == 1) snprintf(out, cap, "%s", g.gl_pathv[0]);
    else rc = -1;
    globfree(&g);
    return rc;
}

static int shard_path(const char *id, int i, char *out, size_t cap)
{
    return shard_path_in("disk*", id, i, out, cap);
}

static int count_files(const char *sub)
{
    glob_t g;
    char pat[512];
    int n;
    snprintf(pat, sizeof(pat), "%s/disk*/%s", root, sub);
    if (glob(pat, 0, NULL, &g) != 0) return 0;
    n = (int)g.gl_pathc;
    globfree(&g);
    return n;
}

static void test_round_trip_sizes(void **state)
{
    static const size_t sizes[] = { 0, 1, STRIPE - 1, STRIPE, STRIPE + 1,
                                    3 * STRIPE + 7 };
    struct ec_set *s = open_set(K, M, STRIPE);
    size_t i;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char id[32];
        char *d = pattern(sizes[i]);
        snprintf(id, sizeof(id), "size%zu", i);
        put(s, id, d, sizes[i]);
        check(s, id, d, sizes[i], 0);
        /* ranged reads anywhere */
        if (sizes[i] > 0) {
            struct ec_reader *r;
            int k;
            assert_int_equal(ec_reader_open(s, id, sizes[i], &r), EC_OK);
            for (k = 0; k < 50; k++) {
                size_t off = (size_t)rand_r(&seed) % sizes[i];
                size_t n = (size_t)rand_r(&seed) % (sizes[i] - off + 1);
                char *b = malloc(n + 1);
                assert_int_equal(ec_reader_read(r, off, b, n, NULL), EC_OK);
                assert_memory_equal(b, d + off, n);
                free(b);
            }
            ec_reader_free(r);
        }
        free(d);
    }
    assert_int_equal(count_files("tmp/*"), 0);
    ec_set_free(s);
}

static void test_every_missing_pair(void **state)
{
    struct ec_set *s = open_set(K, M, STRIPE);
    size_t n = 2 * STRIPE + 999;
    char *d = pattern(n);
    int a, b, v = 0;

    for (a = 0; a < N; a++)
        for (b = a; b < N; b++) {
            char id[32], p[512];
            snprintf(id, sizeof(id), "pair%d", v++);
            put(s, id, d, n);
            assert_int_equal(shard_path(id, a, p, sizeof(p)), 0);
            assert_int_equal(unlink(p), 0);
            if (b != a) {
                assert_int_equal(shard_path(id, b, p, sizeof(p)), 0);
                assert_int_equal(unlink(p), 0);
            }
            /* a data shard gone means a rebuilt read */
            check(s, id, d, n, a < K || b < K);
        }
    free(d);
    ec_set_free(s);
}

static void flip(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static void test_corrupt_and_truncated(void **state)
{
    struct ec_set *s = open_set(K, M, STRIPE);
    size_t n = 3 * STRIPE;
    char *d = pattern(n);
    char p[512];
    struct ec_reader *r;

    /* a flipped byte inside a data block in two shards */
    put(s, "corrupt", d, n);
    assert_int_equal(shard_path("corrupt", 0, p, sizeof(p)), 0);
    flip(p, 4096 + 100);
    assert_int_equal(shard_path("corrupt", 3, p, sizeof(p)), 0);
    flip(p, 4096 + 3 * 16000);
    check(s, "corrupt", d, n, 1);

    /* a truncated shard plus a corrupt header */
    put(s, "trunc", d, n);
    assert_int_equal(shard_path("trunc", 1, p, sizeof(p)), 0);
    assert_int_equal(truncate(p, 5000), 0);
    assert_int_equal(shard_path("trunc", 4, p, sizeof(p)), 0);
    flip(p, 10);
    check(s, "trunc", d, n, 1);

    /* three bad shards: too few, never wrong bytes */
    put(s, "three", d, n);
    assert_int_equal(shard_path("three", 0, p, sizeof(p)), 0);
    unlink(p);
    assert_int_equal(shard_path("three", 1, p, sizeof(p)), 0);
    unlink(p);
    assert_int_equal(shard_path("three", 5, p, sizeof(p)), 0);
    flip(p, 4096 + 7);
    assert_int_equal(ec_reader_open(s, "three", n, &r), EC_OK);
    {
        char *b = malloc(n);
        assert_int_equal(ec_reader_read(r, 0, b, n, NULL), EC_ETOOFEW);
        free(b);
    }
    ec_reader_free(r);
    assert_int_equal(shard_path("three", 2, p, sizeof(p)), 0);
    unlink(p);
    assert_int_equal(ec_reader_open(s, "three", n, &r), EC_ETOOFEW);

    /* nothing at all */
    assert_int_equal(ec_reader_open(s, "never-written", 10, &r),
                     EC_ENOTFOUND);
    /* a wrong size from the catalog fails every shard's trailer check */
    assert_int_equal(ec_reader_open(s, "corrupt", n + 1, &r), EC_ETOOFEW);

    /* remove takes every shard */
    assert_int_equal(ec_remove(s, "corrupt"), EC_OK);
    assert_int_not_equal(shard_path("corrupt", 2, p, sizeof(p)), 0);
    free(d);
    ec_set_free(s);
}

/* A read touches only the data blocks of its range; blocks it does not
 * need (parity, other data shards) cannot make it degraded. */
static void test_systematic_reads(void **state)
{
    struct ec_set *s = open_set(K, M, STRIPE);
    size_t n = 2 * STRIPE + 5000, q = STRIPE / K;
    char *d = pattern(n), *b = malloc(n), p[512];
    struct ec_reader *r;
    int deg;

    put(s, "sys", d, n);
    /* a flipped byte in a parity block: never read, never noticed */
    assert_int_equal(shard_path("sys", K, p, sizeof(p)), 0);
    flip(p, 4096 + 500);
    check(s, "sys", d, n, 0);
    /* a flipped byte in data shard 2, stripe 0 */
    assert_int_equal(shard_path("sys", 2, p, sizeof(p)), 0);
    flip(p, 4096 + 200);
    assert_int_equal(ec_reader_open(s, "sys", n, &r), EC_OK);
    deg = -1; /* shard 0's part of stripe 0 only */
    assert_int_equal(ec_reader_read(r, 10, b, q - 10, &deg), EC_OK);
    assert_memory_equal(b, d + 10, q - 10);
    assert_int_equal(deg, 0);
    deg = -1; /* stripe 1, every data shard */
    assert_int_equal(ec_reader_read(r, STRIPE, b, STRIPE, &deg), EC_OK);
    assert_memory_equal(b, d + STRIPE, STRIPE);
    assert_int_equal(deg, 0);
    deg = -1; /* across shard 2 of stripe 0: decoded from parity shard 5 */
    assert_int_equal(ec_reader_read(r, 2 * q - 3, b, q + 6, &deg), EC_OK);
    assert_memory_equal(b, d + 2 * q - 3, q + 6);
    assert_int_equal(deg, 1);
    /* the whole object, the short last stripe included */
    assert_int_equal(ec_reader_read(r, 0, b, n, &deg), EC_OK);
    assert_memory_equal(b, d, n);
    ec_reader_free(r);

    /* a corrupt trailer drops the shard at open: still exact */
    put(s, "trailer", d, n);
    assert_int_equal(shard_path("trailer", 1, p, sizeof(p)), 0);
    {
        int fd = open(p, O_RDONLY);
        off_t end = lseek(fd, 0, SEEK_END);
        close(fd);
        flip(p, end - 30);
    }
    check(s, "trailer", d, n, 1);
    /* corrupt blocks in the short last stripe of two shards */
    put(s, "tail", d, n);
    assert_int_equal(shard_path("tail", 0, p, sizeof(p)), 0);
    flip(p, 4096 + 2 * (STRIPE / K + 80 + 8) + 81);
    assert_int_equal(shard_path("tail", 1, p, sizeof(p)), 0);
    flip(p, 4096 + 2 * (STRIPE / K + 80 + 8) + 100);
    check(s, "tail", d, n, 1);

    assert_int_equal(ec_remove(s, "nothing-here"), EC_ENOTFOUND);
    free(b);
    free(d);
    ec_set_free(s);
}

static void test_abandoned_writer(void **state)
{
    struct ec_set *s = open_set(K, M, STRIPE);
    struct ec_writer *w;
    struct ec_obj_info in = { "bkt", "k", 1, "abandoned", 1 };
    char *d = pattern(STRIPE * 2);
    assert_int_equal(ec_writer_new(s, &in, &w), EC_OK);
    assert_int_equal(ec_writer_append(w, d, STRIPE * 2), EC_OK);
    assert_int_equal(count_files("tmp/*"), N);
    ec_writer_free(w);
    assert_int_equal(count_files("tmp/*"), 0);
    /* ids that could escape the directory are refused */
    in.version_id = "../x";
    assert_int_equal(ec_writer_new(s, &in, &w), EC_EINVAL);
    /* what a crash leaves in tmp/ is removed when the set is opened */
    in.version_id = "crashed";
    assert_int_equal(ec_writer_new(s, &in, &w), EC_OK);
    assert_int_equal(ec_writer_append(w, d, 100), EC_OK);
    assert_int_equal(count_files("tmp/*"), N);
    {
        /* a restarted server opens the set again */
        struct ec_set *again = open_set(K, M, STRIPE);
        assert_int_equal(count_files("tmp/*"), 0);
        ec_set_free(again);
    }
    ec_writer_free(w); /* its files are already gone: no error */
    free(d);
    ec_set_free(s);
}

static void test_no_parity_and_format_mismatch(void **state)
{
    struct ec_config c = { diskp, N, 5, 1, 5 * 64 * 100 };
    struct ec_set *s = NULL;
    char *d;
    /* the disks were formatted 4+2: a 5+1 layout is refused */
    assert_int_equal(ec_set_open(&c, &s), EC_EINVAL);
    /* a disk out of order is refused */
    {
        const char *swapped[N];
        struct ec_config c2 = { swapped, N, K, M, STRIPE };
        memcpy(swapped, diskp, sizeof(swapped));
        swapped[0] = diskp[1];
        swapped[1] = diskp[0];
        assert_int_equal(ec_set_open(&c2, &s), EC_EINVAL);
    }
    /* a disk of another deployment, or an unreadable format.json */
    {
        char fp[512], body[512], orig;
        FILE *f;
        size_t len;
        snprintf(fp, sizeof(fp), "%s/.coffer/format.json", disks[3]);
        f = fopen(fp, "r");
        assert_non_null(f);
        len = fread(body, 1, sizeof(body) - 1, f);
        fclose(f);
        body[len] = '\0';
        {
            char *dep = strstr(body, "\"deployment\":\"");
            assert_non_null(dep);
            dep += 14;
            orig = dep[0];
            dep[0] = orig == 'a' ? 'b' : 'a';
        }
        f = fopen(fp, "w");
        assert_non_null(f);
        fputs(body, f);
        fclose(f);
        assert_int_equal(ec_set_open(&(struct ec_config){ diskp, N, K, M,
                                                           STRIPE }, &s),
                         EC_EINVAL);
        f = fopen(fp, "w");
        assert_non_null(f);
        fputs("{\"version\":1,", f);
        fclose(f);
        assert_int_equal(ec_set_open(&(struct ec_config){ diskp, N, K, M,
                                                           STRIPE }, &s),
                         EC_EINVAL);
        /* restored, the set opens again */
        {
            char *dep = strstr(body, "\"deployment\":\"") + 14;
            dep[0] = orig;
        }
        f = fopen(fp, "w");
        assert_non_null(f);
        fputs(body, f);
        fclose(f);
        s = open_set(K, M, STRIPE);
        ec_set_free(s);
    }
    /* M = 0 on fresh disks: plain striping */
    {
        static char d0[256], d1[256];
        const char *two[2] = { d0, d1 };
        struct ec_config c3 = { two, 2, 2, 0, 2 * 64 * 10 };
        snprintf(d0, sizeof(d0), "%s/m0a", root);
        snprintf(d1, sizeof(d1), "%s/m0b", root);
        assert_int_equal(ec_set_open(&c3, &s), EC_OK);
        d = pattern(5000);
        put(s, "plain", d, 5000);
        check(s, "plain", d, 5000, 0);
        /* without parity one lost shard loses the object, cleanly */
        {
            char p[512];
            struct ec_reader *r;
            char *b = malloc(5000);
            assert_int_equal(shard_path_in("m0*", "plain", 1, p, sizeof(p)),
                             0);
            flip(p, 4096 + 10);
            assert_int_equal(ec_reader_open(s, "plain", 5000, &r), EC_OK);
            assert_int_equal(ec_reader_read(r, 0, b, 100, NULL), EC_OK);
            assert_memory_equal(b, d, 100);
            assert_int_equal(ec_reader_read(r, 0, b, 5000, NULL),
                             EC_ETOOFEW);
            ec_reader_free(r);
            free(b);
        }
        free(d);
        ec_set_free(s);
    }
}

static void test_write_quorum(void **state)
{
    struct ec_set *s = open_set(K, M, STRIPE);
    struct ec_writer *w;
    struct ec_obj_info in = { "bkt", "k", 1, "quorum5", 1 };
    size_t n = 2 * STRIPE + 11;
    char *d = pattern(n), cmd[600];
    uint64_t size;
    struct ec_reader *r;

    /* one disk gone: written with 5 of 6 shards, reads back exact */
    snprintf(cmd, sizeof(cmd), "rm -rf %s", disks[2]);
    assert_int_equal(system(cmd), 0);
    put(s, "quorum5", d, n);
    {
        char *b = malloc(n);
        int deg = 0;
        assert_int_equal(ec_reader_open(s, "quorum5", n, &r), EC_OK);
        assert_int_equal(ec_reader_read(r, 0, b, n, &deg), EC_OK);
        assert_memory_equal(b, d, n);
        ec_reader_free(r);
        free(b);
    }
    /* two disks gone: below the K+1 quorum, refused, nothing left */
    snprintf(cmd, sizeof(cmd), "rm -rf %s", disks[4]);
    assert_int_equal(system(cmd), 0);
    in.version_id = "quorum4";
    {
        enum ec_status st = ec_writer_new(s, &in, &w);
        if (st == EC_OK) {
            assert_int_equal(ec_writer_append(w, d, n), EC_OK);
            assert_int_equal(ec_writer_finish(w, &size), EC_ETOOFEW);
            ec_writer_free(w);
        } else {
            assert_int_equal(st, EC_ETOOFEW);
        }
    }
    assert_int_equal(count_files("tmp/*"), 0);
    assert_int_equal(ec_reader_open(s, "quorum4", n, &r), EC_ENOTFOUND);
    ec_set_free(s);
    /* the disks come back (empty) when the set is opened again */
    s = open_set(K, M, STRIPE);
    check(s, "quorum5", d, n, 1);
    free(d);
    ec_set_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_sizes),
        cmocka_unit_test(test_every_missing_pair),
        cmocka_unit_test(test_corrupt_and_truncated),
        cmocka_unit_test(test_systematic_reads),
        cmocka_unit_test(test_abandoned_writer),
        cmocka_unit_test(test_no_parity_and_format_mismatch),
        cmocka_unit_test(test_write_quorum),
    };
    int i, rc;
    char cmd[300];
    const char *env = getenv("COFFER_TEST_SEED");
    seed = env ? (unsigned)strtoul(env, NULL, 10) : 20261123u;
    print_message("test_ec seed %u (COFFER_TEST_SEED to repeat)\n", seed);
    if (mkdtemp(root) == NULL) return 1;
    for (i = 0; i < N; i++) {
        snprintf(disks[i], sizeof(disks[i]), "%s/disk%d", root, i + 1);
        diskp[i] = disks[i];
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0) return 1;
    return rc;
}
