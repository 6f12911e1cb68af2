/* test_meta.c: the catalog through meta.h — buckets, versions, current
 * pointers, listings (checked against a brute-force model over random keys),
 * durability across reopen, and concurrent writers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include "meta.h"
#include <rocksdb/c.h>

static char dir[] = "/tmp/coffer-test-meta-XXXXXX";
static struct meta_db *db;

static void mkbucket(const char *name, enum meta_versioning v)
{
    struct meta_bucket b;
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "%s", name);
    snprintf(b.owner, sizeof(b.owner), "owner1");
    b.created_ms = 1000;
    b.versioning = v;
    assert_int_equal(meta_bucket_create(db, &b, NULL), META_OK);
}

static void put(const char *bucket, const char *key, const char *id,
                uint64_t size, struct meta_version *replaced)
{
    struct meta_version v;
    struct meta_kv kv = { "content-type", "text/plain" };
    static unsigned long long n;
    memset(&v, 0, sizeof(v));
    snprintf(v.version_id, sizeof(v.version_id), "%s", id);
    snprintf(v.data_id, sizeof(v.data_id), "data%llu", ++n);
    v.key = (char *)key;
    v.key_len = strlen(key);
    v.size = size;
    v.mtime_ms = 42;
    snprintf(v.etag, sizeof(v.etag), "etag-%s", id);
    v.headers = &kv;
    v.nheaders = 1;
    assert_int_equal(meta_object_put(db, bucket, &v, replaced), META_OK);
}

static void test_buckets(void **state)
{
    struct meta_bucket b, ex;
    mkbucket("bkt-b", META_VERSIONING_OFF);
    mkbucket("bkt-a", META_VERSIONING_OFF);
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "bkt-a");
    snprintf(b.owner, sizeof(b.owner), "other");
    assert_int_equal(meta_bucket_create(db, &b, &ex), META_EEXIST);
    assert_string_equal(ex.owner, "owner1");
    assert_int_equal(meta_bucket_get(db, "bkt-a", &b), META_OK);
    assert_int_equal(b.created_ms, 1000);
    assert_int_equal(meta_bucket_get(db, "nope", &b), META_ENOTFOUND);
    put("bkt-a", "k", "v1", 1, NULL);
    assert_int_equal(meta_bucket_delete(db, "bkt-a"), META_ENOTEMPTY);
    assert_int_equal(meta_object_delete(db, "bkt-a", "k", 1, NULL, NULL),
                     META_OK);
    assert_int_equal(meta_bucket_delete(db, "bkt-a"), META_OK);
    assert_int_equal(meta_bucket_delete(db, "bkt-a"), META_ENOTFOUND);
    assert_int_equal(meta_bucket_delete(db, "bkt-b"), META_OK);
}

static void test_unversioned_replace(void **state)
{
    struct meta_version r, g;
    char first_data[META_VERSION_ID_MAX + 1];
    mkbucket("unv", META_VERSIONING_OFF);
    /* unversioned writes all carry the version id "null": each replaces
     * the previous one, whose record comes back for its data */
    put("unv", "a/b", "null", 10, &r);
    assert_int_equal(r.version_id[0], 0);
    assert_int_equal(meta_object_get(db, "unv", "a/b", 3, NULL, &g), META_OK);
    snprintf(first_data, sizeof(first_data), "%s", g.data_id);
    meta_version_cleanup(&g);
    put("unv", "a/b", "null", 20, &r);
    assert_string_equal(r.version_id, "null");
    assert_string_equal(r.data_id, first_data);
    assert_int_equal(r.size, 10);
    meta_version_cleanup(&r);
    assert_int_equal(meta_object_get(db, "unv", "a/b", 3, NULL, &g), META_OK);
    assert_string_equal(g.version_id, "null");
    assert_string_not_equal(g.data_id, first_data);
    assert_int_equal(g.size, 20);
    assert_int_equal(g.nheaders, 1);
    assert_string_equal(g.headers[0].value, "text/plain");
    assert_memory_equal(g.key, "a/b", 3);
    meta_version_cleanup(&g);
    /* a versioned history keeps other ids beside the null version */
    put("unv", "a/b", "v7", 30, NULL);
    assert_int_equal(meta_object_get(db, "unv", "a/b", 3, "null", &g),
                     META_OK);
    assert_int_equal(g.size, 20);
    meta_version_cleanup(&g);
    assert_int_equal(meta_object_delete(db, "unv", "a/b", 3, "v7", NULL),
                     META_OK);
    assert_int_equal(meta_object_delete(db, "unv", "a/b", 3, NULL, &r),
                     META_OK);
    assert_string_equal(r.version_id, "null");
    meta_version_cleanup(&r);
    assert_int_equal(meta_object_get(db, "unv", "a/b", 3, NULL, &g),
                     META_ENOTFOUND);
    assert_int_equal(meta_object_delete(db, "unv", "a/b", 3, NULL, NULL),
                     META_ENOTFOUND);
    /* a NUL in a key is refused */
    {
        struct meta_version v;
        memset(&v, 0, sizeof(v));
        snprintf(v.version_id, sizeof(v.version_id), "x");
        v.key = "a\0b";
        v.key_len = 3;
        assert_int_equal(meta_object_put(db, "unv", &v, NULL), META_EINVAL);
    }
    {
        struct meta_version v;
        memset(&v, 0, sizeof(v));
        snprintf(v.version_id, sizeof(v.version_id), "x");
        v.key = "k";
        v.key_len = 1;
        assert_int_equal(meta_object_put(db, "no-such", &v, NULL),
                         META_ENOTFOUND);
    }
}

static void test_versioned_history(void **state)
{
    struct meta_version g, r;
    mkbucket("ver", META_VERSIONING_ENABLED);
    put("ver", "k", "v1", 1, NULL);
    put("ver", "k", "v2", 2, NULL);
    put("ver", "k", "v3", 3, NULL);
    assert_int_equal(meta_object_get(db, "ver", "k", 1, NULL, &g), META_OK);
    assert_string_equal(g.version_id, "v3");
    meta_version_cleanup(&g);
    assert_int_equal(meta_object_get(db, "ver", "k", 1, "v1", &g), META_OK);
    assert_int_equal(g.size, 1);
    meta_version_cleanup(&g);
    /* deleting the current version repoints to the next newest */
    assert_int_equal(meta_object_delete(db, "ver", "k", 1, "v3", &r), META_OK);
    meta_version_cleanup(&r);
    assert_int_equal(meta_object_get(db, "ver", "k", 1, NULL, &g), META_OK);
    assert_string_equal(g.version_id, "v2");
    meta_version_cleanup(&g);
    /* deleting an older one leaves current alone */
    assert_int_equal(meta_object_delete(db, "ver", "k", 1, "v1", NULL),
                     META_OK);
    assert_int_equal(meta_object_get(db, "ver", "k", 1, NULL, &g), META_OK);
    assert_string_equal(g.version_id, "v2");
    meta_version_cleanup(&g);
    assert_int_equal(meta_object_delete(db, "ver", "k", 1, "zz", NULL),
                     META_ENOTFOUND);
}

/* ---- listing against a model ---- */

#define NKEYS 300
static char *keys[NKEYS];
static size_t nkeys;

static int cmpkey(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    return strcmp(x, y); /* byte order: strcmp compares as unsigned char */
}

/* The expected listing: every key > start with the prefix, grouped. */
static size_t model(const char *prefix, const char *delim, const char *start,
                    char out[][64], int *isp)
{
    size_t i, n = 0, pl = strlen(prefix), dl = strlen(delim);
    for (i = 0; i < nkeys; i++) {
        const char *k = keys[i], *d;
        if (strncmp(k, prefix, pl) != 0) continue;
        if (strcmp(k, start) <= 0) continue;
        d = dl ? strstr(k + pl, delim) : NULL;
        if (d) {
            size_t cl = (size_t)(d - k) + dl;
            char cp[64];
            memcpy(cp, k, cl);
            cp[cl] = '\0';
            if (strcmp(cp, start) == 0) continue;
            if (n && isp[n - 1] && strcmp(out[n - 1], cp) == 0) continue;
            snprintf(out[n], 64, "%s", cp);
            isp[n++] = 1;
        } else {
            snprintf(out[n], 64, "%s", k);
            isp[n++] = 0;
        }
    }
    return n;
}

static void check_listing(const char *prefix, const char *delim,
                          size_t page)
{
    static char want[NKEYS][64];
    static int isp[NKEYS];
    size_t nw = model(prefix, delim, "", want, isp), got = 0, i;
    char start[128] = "";
    int truncated = 1;

    while (truncated) {
        struct meta_list_params p = { prefix, strlen(prefix), delim,
                                      strlen(delim), start, strlen(start),
                                      page };
        struct meta_list_result r;
        assert_int_equal(meta_list_objects(db, "lst", &p, &r), META_OK);
        assert_true(r.nentries <= page);
        for (i = 0; i < r.nentries; i++, got++) {
            assert_true(got < nw);
            if (strcmp(r.entries[i].key, want[got]) != 0 ||
                r.entries[i].is_prefix != isp[got]) {
                print_error("prefix '%s' delim '%s' page %zu: entry %zu is "
                            "'%s' want '%s'\n",
                            prefix, delim, page, got, r.entries[i].key,
                            want[got]);
                fail();
            }
        }
        truncated = r.truncated;
        if (truncated) {
            assert_int_equal(r.nentries, page);
            snprintf(start, sizeof(start), "%s", r.next_marker);
        }
        meta_list_result_cleanup(&r);
    }
    assert_int_equal(got, nw);
}

static void test_listing(void **state)
{
    static const char *const parts[] = { "a", "b", "a/", "/", "\xc3\xa9",
                                         "z", "ab", "-", "a/b/" };
    unsigned seed = (unsigned)getpid();
    size_t i, j;
    struct meta_list_params p0 = { "", 0, "", 0, "", 0, 0 };
    struct meta_list_result r;

    print_message("test_listing seed %u\n", seed);
    mkbucket("lst", META_VERSIONING_OFF);
    for (i = 0; i < NKEYS; i++) {
        char k[64] = "";
        size_t n = 1 + (size_t)(rand_r(&seed) % 4);
        for (j = 0; j < n; j++)
            strcat(k, parts[rand_r(&seed) % (sizeof(parts) /
                                             sizeof(parts[0]))]);
        for (j = 0; j < nkeys; j++)
            if (strcmp(keys[j], k) == 0) break;
        if (j < nkeys) continue;
        keys[nkeys++] = strdup(k);
        put("lst", k, "v", 1, NULL);
    }
    qsort(keys, nkeys, sizeof(keys[0]), cmpkey);
    check_listing("", "", 1000);
    check_listing("", "", 7);
    check_listing("", "/", 1000);
    check_listing("", "/", 3);
    check_listing("a", "/", 5);
    check_listing("a/", "/", 2);
    check_listing("", "b", 4);
    check_listing("zz", "", 10);
    assert_int_equal(meta_list_objects(db, "lst", &p0, &r), META_OK);
    assert_int_equal(r.nentries, 0);
    assert_int_equal(r.truncated, 0);
    meta_list_result_cleanup(&r);
    for (i = 0; i < nkeys; i++) free(keys[i]);
}

struct worker {
    int id;
};

static void *writer(void *arg)
{
    struct worker *w = arg;
    int i;
    for (i = 0; i < 50; i++) {
        char key[32], id[32];
        struct meta_version v, r;
        memset(&v, 0, sizeof(v));
        snprintf(key, sizeof(key), i % 2 ? "shared" : "own-%d", w->id);
        snprintf(id, sizeof(id), "w%d-%d", w->id, i);
        snprintf(v.version_id, sizeof(v.version_id), "null");
        snprintf(v.data_id, sizeof(v.data_id), "%s", id);
        v.key = key;
        v.key_len = strlen(key);
        v.size = (uint64_t)i;
        if (meta_object_put(db, "conc", &v, &r) != META_OK) return (void *)1;
        meta_version_cleanup(&r);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    pthread_t t[4];
    struct worker w[4];
    struct meta_list_params p = { "", 0, "", 0, "", 0, 1000 };
    struct meta_list_result r;
    int i;
    void *rv;

    mkbucket("conc", META_VERSIONING_OFF);
    for (i = 0; i < 4; i++) {
        w[i].id = i;
        pthread_create(&t[i], NULL, writer, &w[i]);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    /* unversioned: exactly one version per key survives */
    assert_int_equal(meta_list_objects(db, "conc", &p, &r), META_OK);
    assert_int_equal(r.nentries, 5);
    meta_list_result_cleanup(&r);
    for (i = 0; i < 5; i++) {
        char key[32];
        struct meta_version g;
        snprintf(key, sizeof(key), i < 4 ? "own-%d" : "shared", i);
        assert_int_equal(meta_object_delete(db, "conc", key, strlen(key),
                                            NULL, &g),
                         META_OK);
        meta_version_cleanup(&g);
        assert_int_equal(meta_object_delete(db, "conc", key, strlen(key),
                                            NULL, NULL),
                         META_ENOTFOUND);
    }
    assert_int_equal(meta_bucket_delete(db, "conc"), META_OK);
}

static void test_reopen(void **state)
{
    struct meta_version g;
    meta_close(db);
    db = NULL;
    assert_int_equal(meta_open(dir, &db), META_OK);
    assert_int_equal(meta_object_get(db, "ver", "k", 1, NULL, &g), META_OK);
    assert_string_equal(g.version_id, "v2");
    meta_version_cleanup(&g);
}

/* Verifies the chain; returns the seq of the first bad entry, 0 if intact,
 * and the count in *n. */
struct chain { uint64_t n, bad; unsigned char prev[32]; };
static int chain_step(const struct meta_audit_entry *e, void *arg)
{
    struct chain *c = arg;
    unsigned char h[32];
    c->n++;
    meta_audit_hash(e, h);
    if (e->seq != c->n || memcmp(e->prev, c->prev, 32) != 0 ||
        memcmp(h, e->hash, 32) != 0) {
        c->bad = e->seq;
        return 1;
    }
    memcpy(c->prev, e->hash, 32);
    return 0;
}

static void test_audit_chain(void **state)
{
    struct chain c;
    struct meta_version v;
    char *err = NULL;
    rocksdb_options_t *o;
    rocksdb_t *raw;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
    char *val;
    size_t vl;

    mkbucket("aud", META_VERSIONING_ENABLED);
    assert_int_equal(meta_audit_log(db, 1000, "{\"event\":\"one\"}"), META_OK);
    /* an audited write: entry and version in one batch */
    memset(&v, 0, sizeof(v));
    snprintf(v.version_id, sizeof(v.version_id), "va");
    snprintf(v.data_id, sizeof(v.data_id), "da");
    v.key = "k";
    v.key_len = 1;
    v.lock_mode = 2;
    v.retain_until_ms = 99999999999999LL;
    assert_int_equal(meta_object_put_audited(db, "aud", &v, NULL, 2000,
                                             "{\"event\":\"two\"}"),
                     META_OK);
    assert_int_equal(meta_audit_log(db, 3000, "{\"event\":\"three\"}"),
                     META_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(meta_audit_foreach(db, chain_step, &c), META_OK);
    assert_true(c.n >= 3);
    assert_int_equal(c.bad, 0);
    {
        struct meta_version g;
        assert_int_equal(meta_object_get(db, "aud", "k", 1, NULL, &g),
                         META_OK);
        assert_int_equal(g.lock_mode, 2);
        assert_int_equal(g.retain_until_ms, 99999999999999LL);
        meta_version_cleanup(&g);
    }
    /* tamper with entry 2 behind the catalog's back */
    meta_close(db);
    db = NULL;
    o = rocksdb_options_create();
    raw = rocksdb_open(o, dir, &err);
    assert_null(err);
    ro = rocksdb_readoptions_create();
    wo = rocksdb_writeoptions_create();
    val = rocksdb_get(raw, ro, "A/0000000000000002", 18, &vl, &err);
    assert_non_null(val);
    {
        char *p = memmem(val, vl, "two", 3);
        assert_non_null(p);
        memcpy(p, "TWO", 3);
    }
    rocksdb_put(raw, wo, "A/0000000000000002", 18, val, vl, &err);
    assert_null(err);
    rocksdb_free(val);
    rocksdb_close(raw);
    rocksdb_options_destroy(o);
    rocksdb_readoptions_destroy(ro);
    rocksdb_writeoptions_destroy(wo);
    assert_int_equal(meta_open(dir, &db), META_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(meta_audit_foreach(db, chain_step, &c), META_OK);
    assert_int_equal(c.bad, 2);
    /* appending continues the stored chain (the head is re-read) */
    assert_int_equal(meta_audit_log(db, 4000, "{\"event\":\"four\"}"),
                     META_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_unversioned_replace),
        cmocka_unit_test(test_versioned_history),
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_audit_chain),
    };
    int rc;
    char cmd[128];
    if (mkdtemp(dir) == NULL) return 1;
    if (meta_open(dir, &db) != META_OK) return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    meta_close(db);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return rc;
}
