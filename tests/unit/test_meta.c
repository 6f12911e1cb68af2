/* test_meta.c: the catalog through meta.h — buckets, versions, current
 * pointers, delete markers, listings (checked page by page against a
 * brute-force model over random keys), durability across reopen, and
 * concurrent writers (plain and audited).
 *
 * Two tests also open the RocksDB directory raw, behind meta's back, to
 * inject states no API call can produce (a tampered audit entry, a version
 * written by a clock far in the future); they depend on the key schema in
 * meta/meta_int.h.
 *
 * The listing test is seeded: the seed is printed, and COFFER_TEST_SEED=n
 * replays it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "meta.h"
#include <rocksdb/c.h>

static char dir[] = "/tmp/coffer-test-meta-XXXXXX";
static struct meta_db *db;

/* ---- helpers ---- */

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

/* Puts (bucket, key[0..klen)) with version id and size; dm makes it a
 * delete marker. */
static enum meta_status put_kl(const char *bucket, const char *key,
                               size_t klen, const char *id, int dm,
                               uint64_t size, struct meta_version *replaced)
{
    struct meta_version v;
    struct meta_kv kv = { "content-type", "text/plain" };
    static atomic_ullong n;
    memset(&v, 0, sizeof(v));
    snprintf(v.version_id, sizeof(v.version_id), "%s", id);
    snprintf(v.data_id, sizeof(v.data_id), "data%llu",
             atomic_fetch_add(&n, 1) + 1);
    v.key = (char *)key;
    v.key_len = klen;
    v.size = size;
    v.mtime_ms = 42;
    v.delete_marker = dm;
    snprintf(v.etag, sizeof(v.etag), "etag-%s", id);
    if (!dm) {
        v.headers = &kv;
        v.nheaders = 1;
    }
    return meta_object_put(db, bucket, &v, replaced);
}

static void put(const char *bucket, const char *key, const char *id,
                uint64_t size, struct meta_version *replaced)
{
    assert_int_equal(put_kl(bucket, key, strlen(key), id, 0, size, replaced),
                     META_OK);
}

static void put_dm(const char *bucket, const char *key, const char *id)
{
    assert_int_equal(put_kl(bucket, key, strlen(key), id, 1, 0, NULL),
                     META_OK);
}

/* The current version id of key, "" when there is none. */
static const char *cur_id(const char *bucket, const char *key)
{
    static char id[META_VERSION_ID_MAX + 1];
    struct meta_version g;
    enum meta_status st = meta_object_get(db, bucket, key, strlen(key), NULL,
                                          &g);
    if (st == META_ENOTFOUND) return "";
    assert_int_equal(st, META_OK);
    snprintf(id, sizeof(id), "%s", g.version_id);
    meta_version_cleanup(&g);
    return id;
}

/* Lists one page and renders it as "k1,k2/,..." (prefixes end in what
 * the delimiter gives them; is_prefix shown as a trailing '*'). */
static char *list_str(const char *bucket, const char *prefix,
                      const char *delim, const char *start, size_t max,
                      int *truncated, char *next, size_t nextcap)
{
    static char buf[4096];
    struct meta_list_params p = { prefix, strlen(prefix), delim,
                                  strlen(delim), start, strlen(start), max };
    struct meta_list_result r;
    size_t i, o = 0;
    assert_int_equal(meta_list_objects(db, bucket, &p, &r), META_OK);
    buf[0] = '\0';
    for (i = 0; i < r.nentries; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%.*s%s",
                              i ? "," : "", (int)r.entries[i].key_len,
                              r.entries[i].key,
                              r.entries[i].is_prefix ? "*" : "");
    if (truncated) *truncated = r.truncated;
    if (next) {
        snprintf(next, nextcap, "%.*s", (int)r.next_marker_len,
                 r.next_marker ? r.next_marker : "");
    }
    if (r.truncated)
        assert_memory_equal(r.next_marker,
                            r.entries[r.nentries - 1].key,
                            r.next_marker_len);
    else
        assert_null(r.next_marker);
    meta_list_result_cleanup(&r);
    return buf;
}

/* ---- buckets ---- */

struct names {
    char v[8][META_BUCKET_NAME_MAX + 1];
    int n, stop_at;
};

static int collect_bucket(const struct meta_bucket *b, void *arg)
{
    struct names *n = arg;
    if (n->n < 8) snprintf(n->v[n->n], sizeof(n->v[0]), "%s", b->name);
    n->n++;
    return n->n == n->stop_at;
}

/* Bucket documents (CORS, tags): round trip, removal, kept by
 * meta_bucket_update, invisible to meta_bucket_get, gone with the bucket. */
static void test_bucket_attrs(void **state)
{
    struct meta_bucket b, ex;
    char *v = NULL, *big;
    size_t n = 0;
    (void)state;

    mkbucket("attr-b", META_VERSIONING_OFF);
    assert_int_equal(meta_bucket_attr_get(db, "attr-b", META_BATTR_CORS, &v,
                                          &n), META_OK);
    assert_null(v);
    assert_int_equal(meta_bucket_attr_get(db, "attr-none", META_BATTR_CORS,
                                          &v, &n), META_ENOTFOUND);
    assert_int_equal(meta_bucket_attr_set(db, "attr-none", META_BATTR_CORS,
                                          "x", 1), META_ENOTFOUND);
    assert_int_equal(meta_bucket_attr_set(db, "attr-b", META_BATTR_CORS,
                                          "<c/>", 4), META_OK);
    assert_int_equal(meta_bucket_attr_set(db, "attr-b", META_BATTR_TAGS,
                                          "a=1&b=", 6), META_OK);
    /* meta_bucket_update rewrites the record and keeps both */
    assert_int_equal(meta_bucket_get(db, "attr-b", &b), META_OK);
    b.versioning = META_VERSIONING_ENABLED;
    assert_int_equal(meta_bucket_update(db, &b), META_OK);
    assert_int_equal(meta_bucket_get(db, "attr-b", &ex), META_OK);
    assert_int_equal(ex.versioning, META_VERSIONING_ENABLED);
    assert_int_equal(meta_bucket_attr_get(db, "attr-b", META_BATTR_CORS, &v,
                                          &n), META_OK);
    assert_non_null(v);
    assert_int_equal(n, 4);
    assert_string_equal(v, "<c/>");
    free(v);
    assert_int_equal(meta_bucket_attr_get(db, "attr-b", META_BATTR_TAGS, &v,
                                          &n), META_OK);
    assert_string_equal(v, "a=1&b=");
    free(v);
    {
        /* several from one read, absent ones NULL, an id twice */
        enum meta_battr ids[4] = { META_BATTR_TAGS, META_BATTR_POLICY,
                                   META_BATTR_CORS, META_BATTR_TAGS };
        char *vals[4];
        size_t lens[4];
        assert_int_equal(meta_bucket_attrs_get(db, "attr-b", ids, 4, vals,
                                               lens), META_OK);
        assert_string_equal(vals[0], "a=1&b=");
        assert_int_equal(lens[0], 6);
        assert_null(vals[1]);
        assert_string_equal(vals[2], "<c/>");
        assert_string_equal(vals[3], "a=1&b=");
        free(vals[0]);
        free(vals[2]);
        free(vals[3]);
        assert_int_equal(meta_bucket_attrs_get(db, "attr-none", ids, 4, vals,
                                               lens), META_ENOTFOUND);
        assert_null(vals[0]);
    }
    /* removal of one leaves the other */
    assert_int_equal(meta_bucket_attr_set(db, "attr-b", META_BATTR_CORS, NULL,
                                          0), META_OK);
    assert_int_equal(meta_bucket_attr_get(db, "attr-b", META_BATTR_CORS, &v,
                                          &n), META_OK);
    assert_null(v);
    assert_int_equal(meta_bucket_attr_get(db, "attr-b", META_BATTR_TAGS, &v,
                                          &n), META_OK);
    assert_string_equal(v, "a=1&b=");
    free(v);
    /* the size limit, both sides */
    big = calloc(1, META_BATTR_MAX_BYTES + 1);
    assert_non_null(big);
    memset(big, 'x', META_BATTR_MAX_BYTES + 1);
    assert_int_equal(meta_bucket_attr_set(db, "attr-b", META_BATTR_CORS, big,
                                          META_BATTR_MAX_BYTES + 1),
                     META_EINVAL);
    assert_int_equal(meta_bucket_attr_set(db, "attr-b", META_BATTR_CORS, big,
                                          META_BATTR_MAX_BYTES), META_OK);
    free(big);
    assert_int_equal(meta_bucket_attr_get(db, "attr-b", META_BATTR_CORS, &v,
                                          &n), META_OK);
    assert_int_equal(n, META_BATTR_MAX_BYTES);
    free(v);
    /* the documents go with the bucket */
    assert_int_equal(meta_bucket_delete(db, "attr-b"), META_OK);
    mkbucket("attr-b", META_VERSIONING_OFF);
    assert_int_equal(meta_bucket_attr_get(db, "attr-b", META_BATTR_TAGS, &v,
                                          &n), META_OK);
    assert_null(v);
    assert_int_equal(meta_bucket_delete(db, "attr-b"), META_OK);
}

static void test_buckets(void **state)
{
    struct meta_bucket b, ex;
    struct names nm;
    char long_name[META_BUCKET_NAME_MAX + 2];
    (void)state;

    mkbucket("bkt-b", META_VERSIONING_OFF);
    mkbucket("bkt-a", META_VERSIONING_OFF);
    mkbucket("bkt-a0", META_VERSIONING_ENABLED);
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "bkt-a");
    snprintf(b.owner, sizeof(b.owner), "other");
    assert_int_equal(meta_bucket_create(db, &b, &ex), META_EEXIST);
    assert_string_equal(ex.owner, "owner1");
    assert_int_equal(meta_bucket_create(db, &b, NULL), META_EEXIST);
    /* invalid names */
    memset(&b, 0, sizeof(b));
    assert_int_equal(meta_bucket_create(db, &b, NULL), META_EINVAL);
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(meta_bucket_get(db, long_name, &b), META_ENOTFOUND);
    assert_int_equal(meta_bucket_get(db, "", &b), META_ENOTFOUND);

    assert_int_equal(meta_bucket_get(db, "bkt-a", &b), META_OK);
    assert_string_equal(b.name, "bkt-a");
    assert_int_equal(b.created_ms, 1000);
    assert_int_equal(b.versioning, META_VERSIONING_OFF);
    assert_int_equal(meta_bucket_get(db, "nope", &b), META_ENOTFOUND);
    /* a bucket whose name is a prefix of another's is its own record */
    assert_int_equal(meta_bucket_get(db, "bkt-", &b), META_ENOTFOUND);

    /* update: every field round-trips */
    assert_int_equal(meta_bucket_get(db, "bkt-b", &b), META_OK);
    b.versioning = META_VERSIONING_SUSPENDED;
    b.lock_enabled = 1;
    b.lock_mode = 2;
    b.lock_years = 7;
    snprintf(b.region, sizeof(b.region), "eu-west-1");
    assert_int_equal(meta_bucket_update(db, &b), META_OK);
    memset(&ex, 0, sizeof(ex));
    assert_int_equal(meta_bucket_get(db, "bkt-b", &ex), META_OK);
    assert_memory_equal(&ex, &b, sizeof(b));
    snprintf(b.name, sizeof(b.name), "nope");
    assert_int_equal(meta_bucket_update(db, &b), META_ENOTFOUND);

    /* listing in name order, and fn stops it */
    memset(&nm, 0, sizeof(nm));
    assert_int_equal(meta_bucket_foreach(db, collect_bucket, &nm), META_OK);
    assert_int_equal(nm.n, 3);
    assert_string_equal(nm.v[0], "bkt-a");
    assert_string_equal(nm.v[1], "bkt-a0");
    assert_string_equal(nm.v[2], "bkt-b");
    memset(&nm, 0, sizeof(nm));
    nm.stop_at = 2;
    assert_int_equal(meta_bucket_foreach(db, collect_bucket, &nm), META_OK);
    assert_int_equal(nm.n, 2);

    /* not empty while any version exists, delete markers included; a
     * version in "bkt-a0" does not keep "bkt-a" */
    put("bkt-a0", "k", "v1", 1, NULL);
    put("bkt-a", "k", "null", 1, NULL);
    assert_int_equal(meta_bucket_delete(db, "bkt-a"), META_ENOTEMPTY);
    assert_int_equal(meta_object_delete(db, "bkt-a", "k", 1, NULL, NULL),
                     META_OK);
    put_dm("bkt-a", "k", "dm");
    assert_int_equal(meta_bucket_delete(db, "bkt-a"), META_ENOTEMPTY);
    assert_int_equal(meta_object_delete(db, "bkt-a", "k", 1, "dm", NULL),
                     META_OK);
    /* ... and while an upload is in progress */
    {
        struct meta_upload u;
        struct meta_part *parts;
        size_t np;
        memset(&u, 0, sizeof(u));
        snprintf(u.upload_id, sizeof(u.upload_id), "up1");
        u.key = "big";
        u.key_len = 3;
        assert_int_equal(meta_upload_create(db, "bkt-a", &u), META_OK);
        assert_int_equal(meta_bucket_delete(db, "bkt-a"), META_ENOTEMPTY);
        assert_int_equal(meta_upload_abort(db, "bkt-a", "big", 3, "up1",
                                           &parts, &np),
                         META_OK);
        free(parts);
    }
    assert_int_equal(meta_bucket_delete(db, "bkt-a"), META_OK);
    assert_int_equal(meta_bucket_get(db, "bkt-a", &b), META_ENOTFOUND);
    assert_int_equal(meta_bucket_delete(db, "bkt-a"), META_ENOTFOUND);
    assert_int_equal(meta_bucket_delete(db, "bkt-b"), META_OK);
    assert_int_equal(meta_bucket_delete(db, "bkt-a0"), META_ENOTEMPTY);
    /* a put into a deleted bucket is refused */
    assert_int_equal(put_kl("bkt-a", "k", 1, "null", 0, 1, NULL),
                     META_ENOTFOUND);
}

/* ---- versions ---- */

static void test_fields_roundtrip(void **state)
{
    struct meta_version v, g;
    struct meta_kv kv[2] = { { "content-type", "image/png" },
                             { "x-amz-meta-\xc3\xa9", "" } };
    struct meta_part parts[2];
    (void)state;

    mkbucket("rt", META_VERSIONING_ENABLED);
    memset(&v, 0, sizeof(v));
    memset(parts, 0, sizeof(parts));
    parts[0].number = 1;
    parts[0].size = 5 << 20;
    parts[0].mtime_ms = 11;
    snprintf(parts[0].etag, sizeof(parts[0].etag), "%032d", 1);
    snprintf(parts[0].data_id, sizeof(parts[0].data_id), "p1");
    parts[0].csum_algo = 5; /* part checksums: their own V rec group */
    snprintf(parts[0].csum, sizeof(parts[0].csum), "SoXXbx67KpE=");
    parts[1].number = 3;
    parts[1].size = 7;
    snprintf(parts[1].data_id, sizeof(parts[1].data_id), "p3");
    snprintf(v.version_id, sizeof(v.version_id), "%064d", 7); /* max len */
    snprintf(v.data_id, sizeof(v.data_id), "data-rt");
    v.key = "dir/\xe2\x82\xac.png";
    v.key_len = strlen(v.key);
    v.size = (5 << 20) + 7;
    v.mtime_ms = -5; /* before 1970: the sign survives */
    snprintf(v.etag, sizeof(v.etag), "0123456789abcdef0123456789abcdef-2");
    v.ec_data = 4;
    v.ec_parity = 2;
    v.stripe_size = 1 << 20;
    v.headers = kv;
    v.nheaders = 2;
    v.parts = parts;
    v.nparts = 2;
    v.lock_mode = 2;
    v.retain_until_ms = 4102444800000LL;
    v.legal_hold = 1;
    assert_int_equal(meta_object_put(db, "rt", &v, NULL), META_OK);
    assert_int_equal(meta_object_get(db, "rt", v.key, v.key_len, NULL, &g),
                     META_OK);
    assert_string_equal(g.version_id, v.version_id);
    assert_string_equal(g.data_id, "data-rt");
    assert_int_equal(g.key_len, v.key_len);
    assert_memory_equal(g.key, v.key, v.key_len);
    assert_int_equal(g.key[g.key_len], '\0');
    assert_int_equal(g.size, v.size);
    assert_int_equal(g.mtime_ms, -5);
    assert_string_equal(g.etag, v.etag);
    assert_int_equal(g.delete_marker, 0);
    assert_int_equal(g.ec_data, 4);
    assert_int_equal(g.ec_parity, 2);
    assert_int_equal(g.stripe_size, 1 << 20);
    assert_int_equal(g.nheaders, 2);
    assert_string_equal(g.headers[0].name, "content-type");
    assert_string_equal(g.headers[0].value, "image/png");
    assert_string_equal(g.headers[1].name, "x-amz-meta-\xc3\xa9");
    assert_string_equal(g.headers[1].value, "");
    assert_int_equal(g.nparts, 2);
    assert_memory_equal(&g.parts[0], &parts[0], sizeof(parts[0]));
    assert_memory_equal(&g.parts[1], &parts[1], sizeof(parts[1]));
    assert_int_equal(g.lock_mode, 2);
    assert_int_equal(g.retain_until_ms, 4102444800000LL);
    assert_int_equal(g.legal_hold, 1);
    meta_version_cleanup(&g);
    meta_version_cleanup(&g); /* cleanup of a zeroed struct: no-op */

    /* data_id left empty means the data lives under the version id */
    memset(&v, 0, sizeof(v));
    snprintf(v.version_id, sizeof(v.version_id), "v2");
    v.key = "k";
    v.key_len = 1;
    assert_int_equal(meta_object_put(db, "rt", &v, NULL), META_OK);
    assert_int_equal(meta_object_get(db, "rt", "k", 1, NULL, &g), META_OK);
    assert_string_equal(g.data_id, "v2");
    assert_int_equal(g.nheaders, 0);
    assert_int_equal(g.nparts, 0);
    meta_version_cleanup(&g);
}

/* P recs keep the part checksum; completion carries it into the V rec. */
static void test_upload_part_checksum(void **state)
{
    struct meta_upload u;
    struct meta_part p, old, *got = NULL, *unused = NULL;
    struct meta_version v, g, replaced;
    size_t n = 0, nunused = 0;
    (void)state;

    mkbucket("mpcs", META_VERSIONING_OFF);
    memset(&u, 0, sizeof(u));
    snprintf(u.upload_id, sizeof(u.upload_id), "up1");
    u.key = "obj";
    u.key_len = 3;
    assert_int_equal(meta_upload_create(db, "mpcs", &u), META_OK);
    memset(&p, 0, sizeof(p));
    p.number = 1;
    p.size = 9;
    snprintf(p.etag, sizeof(p.etag), "%032d", 5);
    snprintf(p.data_id, sizeof(p.data_id), "d1");
    p.csum_algo = 2;
    snprintf(p.csum, sizeof(p.csum), "4waSgw==");
    p.enc = 1; /* P rec [optional: encryption] */
    assert_int_equal(meta_upload_put_part(db, "mpcs", "obj", 3, "up1", &p,
                                          &old),
                     META_OK);
    assert_int_equal(meta_upload_parts(db, "up1", 0, 10, &got, &n, NULL),
                     META_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(&got[0], &p, sizeof(p));
    memset(&v, 0, sizeof(v));
    memset(&replaced, 0, sizeof(replaced));
    snprintf(v.version_id, sizeof(v.version_id), "null");
    v.key = "obj";
    v.key_len = 3;
    v.parts = got;
    v.nparts = 1;
    /* V rec [optional: encryption], after the part checksums */
    v.sse.alg = META_SSE_S3;
    memcpy(v.sse.salt, "SALT", 4);
    v.sse.salt_len = 4;
    memset(v.sse.wkey, 0xA5, 60);
    v.sse.wkey_len = 60;
    assert_int_equal(meta_upload_complete(db, "mpcs", "up1", &v, &replaced,
                                          &unused, &nunused),
                     META_OK);
    assert_int_equal(meta_object_get(db, "mpcs", "obj", 3, NULL, &g),
                     META_OK);
    assert_int_equal(g.nparts, 1);
    assert_int_equal(g.parts[0].csum_algo, 2);
    assert_string_equal(g.parts[0].csum, "4waSgw==");
    assert_int_equal(g.parts[0].enc, 1);
    assert_memory_equal(&g.sse, &v.sse, sizeof(v.sse));
    meta_version_cleanup(&g);
    meta_version_cleanup(&replaced);
    free(unused);
    free(got);
}

static void test_key_validation(void **state)
{
    struct meta_version v, g;
    char big[META_KEY_MAX + 1];
    (void)state;

    mkbucket("kv", META_VERSIONING_OFF);
    memset(&v, 0, sizeof(v));
    snprintf(v.version_id, sizeof(v.version_id), "null");
    /* a NUL anywhere in a key is refused */
    v.key = "a\0b";
    v.key_len = 3;
    assert_int_equal(meta_object_put(db, "kv", &v, NULL), META_EINVAL);
    v.key = "\0";
    v.key_len = 1;
    assert_int_equal(meta_object_put(db, "kv", &v, NULL), META_EINVAL);
    v.key = "ab";
    v.key_len = 3; /* the terminating NUL counted in */
    assert_int_equal(meta_object_put(db, "kv", &v, NULL), META_EINVAL);
    /* empty key, empty version id */
    v.key = "";
    v.key_len = 0;
    assert_int_equal(meta_object_put(db, "kv", &v, NULL), META_EINVAL);
    v.key = "k";
    v.key_len = 1;
    v.version_id[0] = '\0';
    assert_int_equal(meta_object_put(db, "kv", &v, NULL), META_EINVAL);
    snprintf(v.version_id, sizeof(v.version_id), "null");
    /* too many headers to store */
    v.nheaders = 100000;
    v.headers = calloc(v.nheaders, sizeof(*v.headers));
    assert_int_equal(meta_object_put(db, "kv", &v, NULL), META_EINVAL);
    free(v.headers);
    v.headers = NULL;
    v.nheaders = 0;
    /* both sides of the key length limit */
    memset(big, 'k', sizeof(big));
    v.key = big;
    v.key_len = META_KEY_MAX;
    assert_int_equal(meta_object_put(db, "kv", &v, NULL), META_OK);
    assert_int_equal(meta_object_get(db, "kv", big, META_KEY_MAX, NULL, &g),
                     META_OK);
    meta_version_cleanup(&g);
    v.key_len = META_KEY_MAX + 1;
    assert_int_equal(meta_object_put(db, "kv", &v, NULL), META_EINVAL);
    /* a key that cannot exist is simply not found */
    assert_int_equal(meta_object_get(db, "kv", "a\0b", 3, NULL, &g),
                     META_ENOTFOUND);
    assert_int_equal(meta_object_delete(db, "kv", "a\0b", 3, NULL, NULL),
                     META_ENOTFOUND);
    assert_int_equal(meta_object_get(db, "kv", "", 0, NULL, &g),
                     META_ENOTFOUND);
    /* no such bucket */
    v.key = "k";
    v.key_len = 1;
    assert_int_equal(meta_object_put(db, "no-such", &v, NULL),
                     META_ENOTFOUND);
    assert_int_equal(meta_object_get(db, "no-such", "k", 1, NULL, &g),
                     META_ENOTFOUND);
}

static void test_unversioned_replace(void **state)
{
    struct meta_version r, g;
    char first_data[META_VERSION_ID_MAX + 1];
    (void)state;

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
    assert_int_equal(r.nheaders, 1);
    meta_version_cleanup(&r);
    assert_int_equal(meta_object_get(db, "unv", "a/b", 3, NULL, &g), META_OK);
    assert_string_equal(g.version_id, "null");
    assert_string_not_equal(g.data_id, first_data);
    assert_int_equal(g.size, 20);
    assert_int_equal(g.nheaders, 1);
    assert_string_equal(g.headers[0].value, "text/plain");
    assert_memory_equal(g.key, "a/b", 3);
    meta_version_cleanup(&g);
    /* exactly one version remains */
    {
        struct meta_list_params p = { "a/b", 3, "", 0, "", 0, 1000 };
        struct meta_versions_result vr;
        assert_int_equal(meta_list_versions(db, "unv", &p, NULL, &vr),
                         META_OK);
        assert_int_equal(vr.n, 1);
        assert_int_equal(vr.entries[0].size, 20);
        assert_true(vr.entries[0].is_latest);
        meta_versions_result_cleanup(&vr);
    }
    /* a suspended-style history keeps other ids beside the null version;
     * replacing the (older) null version makes the new one current */
    put("unv", "a/b", "v7", 30, NULL);
    assert_int_equal(meta_object_get(db, "unv", "a/b", 3, "null", &g),
                     META_OK);
    assert_int_equal(g.size, 20);
    meta_version_cleanup(&g);
    put("unv", "a/b", "null", 40, &r);
    assert_int_equal(r.size, 20);
    meta_version_cleanup(&r);
    assert_string_equal(cur_id("unv", "a/b"), "null");
    assert_int_equal(meta_object_delete(db, "unv", "a/b", 3, NULL, &r),
                     META_OK);
    assert_int_equal(r.size, 40);
    meta_version_cleanup(&r);
    assert_string_equal(cur_id("unv", "a/b"), "v7");
    assert_int_equal(meta_object_delete(db, "unv", "a/b", 3, NULL, NULL),
                     META_OK);
    assert_int_equal(meta_object_get(db, "unv", "a/b", 3, NULL, &g),
                     META_ENOTFOUND);
    assert_int_equal(meta_object_delete(db, "unv", "a/b", 3, NULL, NULL),
                     META_ENOTFOUND);
}

/* The version ids of key, newest first, as "v3,v2,v1" (latest marked
 * with '+', delete markers with '!'). */
static const char *history(const char *bucket, const char *key)
{
    static char buf[1024];
    struct meta_list_params p = { key, strlen(key), "", 0, "", 0, 1000 };
    struct meta_versions_result vr;
    size_t i, o = 0;
    assert_int_equal(meta_list_versions(db, bucket, &p, NULL, &vr), META_OK);
    buf[0] = '\0';
    for (i = 0; i < vr.n; i++) {
        if (vr.entries[i].key_len != strlen(key) ||
            memcmp(vr.entries[i].key, key, strlen(key)) != 0)
            continue; /* a longer key with this prefix */
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s%s%s",
                              o ? "," : "", vr.entries[i].version_id,
                              vr.entries[i].is_latest ? "+" : "",
                              vr.entries[i].delete_marker ? "!" : "");
    }
    meta_versions_result_cleanup(&vr);
    return buf;
}

static void test_versioned_history(void **state)
{
    struct meta_version g, r;
    (void)state;

    mkbucket("ver", META_VERSIONING_ENABLED);
    put("ver", "k", "v1", 1, &r);
    assert_int_equal(r.version_id[0], 0);
    put("ver", "k", "v2", 2, &r);
    assert_int_equal(r.version_id[0], 0); /* versioned: nothing replaced */
    put("ver", "k", "v3", 3, NULL);
    put("ver", "k2", "x1", 9, NULL); /* a key that extends "k" */
    assert_string_equal(history("ver", "k"), "v3+,v2,v1");
    assert_int_equal(meta_object_get(db, "ver", "k", 1, NULL, &g), META_OK);
    assert_string_equal(g.version_id, "v3");
    meta_version_cleanup(&g);
    assert_int_equal(meta_object_get(db, "ver", "k", 1, "v1", &g), META_OK);
    assert_int_equal(g.size, 1);
    meta_version_cleanup(&g);
    assert_int_equal(meta_object_get(db, "ver", "k", 1, "x1", &g),
                     META_ENOTFOUND);
    /* deleting the current version repoints to the next newest */
    assert_int_equal(meta_object_delete(db, "ver", "k", 1, "v3", &r), META_OK);
    assert_string_equal(r.version_id, "v3");
    assert_int_equal(r.size, 3);
    meta_version_cleanup(&r);
    assert_string_equal(history("ver", "k"), "v2+,v1");
    assert_string_equal(cur_id("ver", "k"), "v2");
    /* deleting an older one leaves current alone */
    assert_int_equal(meta_object_delete(db, "ver", "k", 1, "v1", NULL),
                     META_OK);
    assert_string_equal(history("ver", "k"), "v2+");
    assert_int_equal(meta_object_delete(db, "ver", "k", 1, "zz", NULL),
                     META_ENOTFOUND);
    assert_int_equal(meta_object_delete(db, "ver", "k", 1, "x1", NULL),
                     META_ENOTFOUND);
    assert_string_equal(history("ver", "k2"), "x1+");
}

static void test_delete_markers(void **state)
{
    struct meta_version g;
    int tr;
    (void)state;

    mkbucket("dm", META_VERSIONING_ENABLED);
    put("dm", "a", "a1", 1, NULL);
    put("dm", "b", "b1", 1, NULL);
    put("dm", "c", "c1", 1, NULL);
    /* a delete marker on top hides the key from listings; GET of the
     * current version returns the marker itself */
    put_dm("dm", "b", "b2");
    assert_string_equal(history("dm", "b"), "b2+!,b1");
    assert_string_equal(list_str("dm", "", "", "", 1000, &tr, NULL, 0),
                        "a,c");
    assert_int_equal(meta_object_get(db, "dm", "b", 1, NULL, &g), META_OK);
    assert_int_equal(g.delete_marker, 1);
    assert_string_equal(g.version_id, "b2");
    meta_version_cleanup(&g);
    /* removing the marker brings the key back */
    assert_int_equal(meta_object_delete(db, "dm", "b", 1, "b2", NULL),
                     META_OK);
    assert_string_equal(list_str("dm", "", "", "", 1000, &tr, NULL, 0),
                        "a,b,c");
    /* deleting the current version when the next newest is a marker:
     * the marker becomes current, and the key stays hidden */
    put_dm("dm", "c", "c2");
    put("dm", "c", "c3", 3, NULL);
    assert_string_equal(history("dm", "c"), "c3+,c2!,c1");
    assert_string_equal(list_str("dm", "", "", "", 1000, &tr, NULL, 0),
                        "a,b,c");
    assert_int_equal(meta_object_delete(db, "dm", "c", 1, NULL, NULL),
                     META_OK);
    assert_string_equal(history("dm", "c"), "c2+!,c1");
    assert_string_equal(cur_id("dm", "c"), "c2");
    assert_string_equal(list_str("dm", "", "", "", 1000, &tr, NULL, 0),
                        "a,b");
    /* a page of hidden keys is not truncated, and max_keys counts only
     * what is listed */
    assert_string_equal(list_str("dm", "", "", "", 2, &tr, NULL, 0), "a,b");
    assert_int_equal(tr, 0);
    /* a common prefix is listed only if a listable key lies under it */
    put("dm", "d/1", "d1", 1, NULL);
    put("dm", "d/2", "d2", 1, NULL);
    put_dm("dm", "d/1", "d1x");
    assert_string_equal(list_str("dm", "", "/", "", 1000, &tr, NULL, 0),
                        "a,b,d/*");
    put_dm("dm", "d/2", "d2x");
    assert_string_equal(list_str("dm", "", "/", "", 1000, &tr, NULL, 0),
                        "a,b");
    assert_string_equal(list_str("dm", "", "/", "", 2, &tr, NULL, 0), "a,b");
    assert_int_equal(tr, 0);
    /* ListObjectVersions still shows the prefix and the markers */
    {
        struct meta_list_params p = { "", 0, "/", 1, "", 0, 1000 };
        struct meta_versions_result vr;
        assert_int_equal(meta_list_versions(db, "dm", &p, NULL, &vr),
                         META_OK);
        assert_int_equal(vr.n, 5); /* a1 b1 c2 c1 d/ */
        assert_true(vr.entries[vr.n - 1].is_prefix);
        assert_memory_equal(vr.entries[vr.n - 1].key, "d/", 2);
        meta_versions_result_cleanup(&vr);
    }
}

/* Refuses when *arg is non-zero; counts calls. */
static int refuse_cb(struct meta_version *v, void *arg)
{
    int *a = arg;
    (void)v;
    return a[0] ? (a[1]++, 1) : (a[1]++, 0);
}

static int set_hold(struct meta_version *v, void *arg)
{
    v->legal_hold = *(int *)arg;
    v->size = 77; /* mirrored into the current pointer */
    return 0;
}

static int rename_cb(struct meta_version *v, void *arg)
{
    (void)arg;
    snprintf(v->version_id, sizeof(v->version_id), "other");
    return 0;
}

static void test_checked_writes(void **state)
{
    struct meta_version v, g;
    int a[2] = { 1, 0 }, on = 1, tr;
    (void)state;

    mkbucket("chk", META_VERSIONING_ENABLED);
    put("chk", "k", "v1", 1, NULL);
    /* a refused delete changes nothing */
    assert_int_equal(meta_object_delete_if(db, "chk", "k", 1, NULL, refuse_cb,
                                           a, NULL),
                     META_EDENIED);
    assert_int_equal(a[1], 1);
    assert_string_equal(history("chk", "k"), "v1+");
    /* a refused conditional put changes nothing */
    memset(&v, 0, sizeof(v));
    snprintf(v.version_id, sizeof(v.version_id), "v2");
    v.key = "k";
    v.key_len = 1;
    assert_int_equal(meta_object_put_if(db, "chk", &v, NULL, refuse_cb, a, 0,
                                        NULL),
                     META_EDENIED);
    assert_string_equal(history("chk", "k"), "v1+");
    a[0] = 0;
    assert_int_equal(meta_object_put_if(db, "chk", &v, NULL, refuse_cb, a, 0,
                                        NULL),
                     META_OK);
    assert_string_equal(history("chk", "k"), "v2+,v1");
    /* update in place: the record and the current pointer both change */
    assert_int_equal(meta_object_update(db, "chk", "k", 1, NULL, set_hold,
                                        &on),
                     META_OK);
    assert_int_equal(meta_object_get(db, "chk", "k", 1, NULL, &g), META_OK);
    assert_int_equal(g.legal_hold, 1);
    assert_int_equal(g.size, 77);
    meta_version_cleanup(&g);
    assert_string_equal(list_str("chk", "", "", "", 10, &tr, NULL, 0), "k");
    {
        struct meta_list_params p = { "", 0, "", 0, "", 0, 10 };
        struct meta_list_result r;
        assert_int_equal(meta_list_objects(db, "chk", &p, &r), META_OK);
        assert_int_equal(r.entries[0].size, 77);
        meta_list_result_cleanup(&r);
    }
    /* an older version updated in place stays where it is */
    assert_int_equal(meta_object_update(db, "chk", "k", 1, "v1", set_hold,
                                        &on),
                     META_OK);
    assert_string_equal(history("chk", "k"), "v2+,v1");
    a[0] = 1;
    assert_int_equal(meta_object_update(db, "chk", "k", 1, "v1", refuse_cb,
                                        a),
                     META_EDENIED);
    assert_int_equal(meta_object_update(db, "chk", "k", 1, "v1", rename_cb,
                                        NULL),
                     META_EINVAL);
    assert_int_equal(meta_object_update(db, "chk", "k", 1, "nope", set_hold,
                                        &on),
                     META_ENOTFOUND);
    assert_string_equal(history("chk", "k"), "v2+,v1");
}

/* ---- listing: examples ---- */

static void test_listing_examples(void **state)
{
    static const char *const keys[] = {
        "a", "a/", "a/b", "a/c", "a/d/e", "ab", "b/x/y", "b/z", "c",
        "\xc3\xa9t\xc3\xa9", "\xe2\x82\xac", "\xff", "\xff\xff/x",
    };
    char next[256];
    int tr;
    size_t i;
    (void)state;

    mkbucket("ex", META_VERSIONING_OFF);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        put("ex", keys[i], "null", i, NULL);
    /* plain byte order; a key that is a prefix of another sorts first;
     * UTF-8 sorts as bytes, above ASCII */
    assert_string_equal(list_str("ex", "", "", "", 1000, &tr, NULL, 0),
                        "a,a/,a/b,a/c,a/d/e,ab,b/x/y,b/z,c,"
                        "\xc3\xa9t\xc3\xa9,\xe2\x82\xac,\xff,\xff\xff/x");
    assert_int_equal(tr, 0);
    /* grouping */
    assert_string_equal(list_str("ex", "", "/", "", 1000, &tr, NULL, 0),
                        "a,a/*,ab,b/*,c,\xc3\xa9t\xc3\xa9,\xe2\x82\xac,\xff,"
                        "\xff\xff/*");
    assert_string_equal(list_str("ex", "a/", "/", "", 1000, &tr, NULL, 0),
                        "a/,a/b,a/c,a/d/*");
    assert_string_equal(list_str("ex", "b", "/", "", 1000, &tr, NULL, 0),
                        "b/*");
    assert_string_equal(list_str("ex", "b/", "/", "", 1000, &tr, NULL, 0),
                        "b/x/*,b/z");
    assert_string_equal(list_str("ex", "", "/x", "", 1000, &tr, NULL, 0),
                        "a,a/,a/b,a/c,a/d/e,ab,b/x*,b/z,c,"
                        "\xc3\xa9t\xc3\xa9,\xe2\x82\xac,\xff,\xff\xff/x*");
    assert_string_equal(list_str("ex", "\xff", "", "", 1000, &tr, NULL, 0),
                        "\xff,\xff\xff/x");
    assert_string_equal(list_str("ex", "zz", "/", "", 1000, &tr, NULL, 0),
                        "");
    assert_string_equal(list_str("ex", "a/b", "", "", 1000, &tr, NULL, 0),
                        "a/b");
    /* a common prefix counts one toward max_keys; next_marker is it */
    assert_string_equal(list_str("ex", "", "/", "", 2, &tr, next,
                                 sizeof(next)),
                        "a,a/*");
    assert_int_equal(tr, 1);
    assert_string_equal(next, "a/");
    /* start_after AT a returned common prefix: continue after everything
     * under it */
    assert_string_equal(list_str("ex", "", "/", next, 2, &tr, next,
                                 sizeof(next)),
                        "ab,b/*");
    assert_int_equal(tr, 1);
    assert_string_equal(next, "b/");
    assert_string_equal(list_str("ex", "", "/", next, 1000, &tr, NULL, 0),
                        "c,\xc3\xa9t\xc3\xa9,\xe2\x82\xac,\xff,\xff\xff/*");
    assert_int_equal(tr, 0);
    /* start_after INSIDE a common prefix: the prefix is listed again when
     * a key after start_after lies under it */
    assert_string_equal(list_str("ex", "", "/", "a/b", 3, &tr, NULL, 0),
                        "a/*,ab,b/*");
    assert_string_equal(list_str("ex", "", "/", "a/d/e", 2, &tr, NULL, 0),
                        "ab,b/*");
    assert_string_equal(list_str("ex", "a/", "/", "a/c", 1000, &tr, NULL, 0),
                        "a/d/*");
    /* start_after before the prefix, past it, and exactly a key */
    assert_string_equal(list_str("ex", "b/", "", "a", 1000, &tr, NULL, 0),
                        "b/x/y,b/z");
    assert_string_equal(list_str("ex", "b/", "", "c", 1000, &tr, NULL, 0),
                        "");
    assert_string_equal(list_str("ex", "", "", "c", 2, &tr, NULL, 0),
                        "\xc3\xa9t\xc3\xa9,\xe2\x82\xac");
    assert_int_equal(tr, 1);
    assert_string_equal(list_str("ex", "", "", "\xff\xff/x", 2, &tr, NULL, 0),
                        "");
    assert_int_equal(tr, 0);
    /* a page that ends exactly at the last entry is not truncated */
    assert_string_equal(list_str("ex", "b/", "/", "", 2, &tr, NULL, 0),
                        "b/x/*,b/z");
    assert_int_equal(tr, 0);
    /* max_keys 0: nothing, not truncated; above 1000: capped (below) */
    assert_string_equal(list_str("ex", "", "", "", 0, &tr, NULL, 0), "");
    assert_int_equal(tr, 0);
    /* other buckets' keys never show: "ex" vs "ex2" */
    mkbucket("ex2", META_VERSIONING_OFF);
    put("ex2", "a", "null", 1, NULL);
    assert_string_equal(list_str("ex2", "", "", "", 1000, &tr, NULL, 0),
                        "a");
    assert_string_equal(list_str("no-such", "", "", "", 1000, &tr, NULL, 0),
                        "");
}

/* ---- listing: property test against a model ---- */

#define NKEYS 400
#define KMAX 48

struct mkey {
    char k[KMAX];
    size_t len;
    int visible;       /* current version is not a delete marker */
    uint64_t size;     /* of the current version */
    const char *vid;   /* its version id */
};
static struct mkey mk[NKEYS];
static size_t nmk;

static int bcmp_(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al < bl ? -1 : al > bl);
}

static int mkey_cmp(const void *a, const void *b)
{
    const struct mkey *x = a, *y = b;
    return bcmp_(x->k, x->len, y->k, y->len);
}

struct ment {
    char k[KMAX];
    size_t len;
    int isp;
    uint64_t size;
    const char *vid;
};

/* The expected page. */
static size_t model(const char *pre, size_t pl, const char *del, size_t dl,
                    const char *sa, size_t sal, size_t max, struct ment *out,
                    int *truncated)
{
    size_t i, n = 0;
    if (max > 1000) max = 1000;
    *truncated = 0;
    if (max == 0) return 0; /* nothing, and not truncated */
    for (i = 0; i < nmk; i++) {
        const struct mkey *k = &mk[i];
        const char *d = NULL;
        size_t el;
        int isp = 0;
        if (!k->visible || k->len < pl || memcmp(k->k, pre, pl) != 0)
            continue;
        if (sal && bcmp_(k->k, k->len, sa, sal) <= 0) continue;
        if (dl && k->len >= pl + dl)
            d = memmem(k->k + pl, k->len - pl, del, dl);
        el = k->len;
        if (d) {
            el = (size_t)(d - k->k) + dl;
            isp = 1;
            if (el == sal && memcmp(k->k, sa, sal) == 0) continue;
            if (n && out[n - 1].isp && out[n - 1].len == el &&
                memcmp(out[n - 1].k, k->k, el) == 0)
                continue;
        }
        if (n == max) {
            *truncated = 1;
            break;
        }
        memcpy(out[n].k, k->k, el);
        out[n].len = el;
        out[n].isp = isp;
        out[n].size = k->size;
        out[n].vid = k->vid;
        n++;
    }
    return n;
}

static unsigned seed;  /* the generator's state */
static unsigned seed0; /* the seed the test started from (printed) */

static void print_bytes(const char *what, const char *p, size_t n)
{
    size_t i;
    print_error("%s '", what);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f) print_error("%c", c);
        else print_error("\\x%02x", c);
    }
    print_error("'\n");
}

/* One page against the model; returns the page's truncated flag and
 * copies next_marker to next. */
static int check_page(const char *pre, size_t pl, const char *del, size_t dl,
                      const char *sa, size_t sal, size_t max, char *next,
                      size_t *next_len)
{
    static struct ment want[NKEYS + 1];
    struct meta_list_params p = { pre, pl, del, dl, sa, sal, max };
    struct meta_list_result r;
    int tr;
    size_t nw = model(pre, pl, del, dl, sa, sal, max, want, &tr), i;
    int bad = 0;

    assert_int_equal(meta_list_objects(db, "lst", &p, &r), META_OK);
    if (r.nentries != nw || r.truncated != tr) bad = 1;
    for (i = 0; !bad && i < nw; i++) {
        const struct meta_list_entry *e = &r.entries[i];
        if (e->key_len != want[i].len ||
            memcmp(e->key, want[i].k, want[i].len) != 0 ||
            e->is_prefix != want[i].isp ||
            (!e->is_prefix && (e->size != want[i].size ||
                               strcmp(e->version_id, want[i].vid) != 0)))
            bad = 1;
    }
    if (bad) {
        print_error("listing mismatch, seed %u (COFFER_TEST_SEED=%u)\n",
                    seed0, seed0);
        print_bytes("prefix", pre, pl);
        print_bytes("delimiter", del, dl);
        print_bytes("start_after", sa, sal);
        print_error("max %zu: got %zu entries truncated %d, want %zu "
                    "truncated %d\n", max, r.nentries, r.truncated, nw, tr);
        for (i = 0; i < r.nentries || i < nw; i++) {
            if (i < r.nentries)
                print_bytes(r.entries[i].is_prefix ? " got P" : " got K",
                            r.entries[i].key, r.entries[i].key_len);
            if (i < nw)
                print_bytes(want[i].isp ? "want P" : "want K", want[i].k,
                            want[i].len);
        }
        meta_list_result_cleanup(&r);
        fail();
    }
    if (tr) {
        assert_int_equal(r.next_marker_len, want[nw - 1].len);
        assert_memory_equal(r.next_marker, want[nw - 1].k, want[nw - 1].len);
        memcpy(next, r.next_marker, r.next_marker_len);
        *next_len = r.next_marker_len;
    } else {
        assert_null(r.next_marker);
    }
    meta_list_result_cleanup(&r);
    return tr;
}

/* Pages through the whole listing (start_after = next_marker, as v1 and
 * v2 clients do) and checks it equals the unpaged one. */
static void check_paging(const char *pre, const char *del, size_t page)
{
    static struct ment full[NKEYS + 1];
    char sa[KMAX] = "";
    size_t sal = 0, got = 0, pl = strlen(pre), dl = strlen(del);
    int tr, more = 1;
    size_t nf = model(pre, pl, del, dl, "", 0, 1000, full, &tr);

    assert_int_equal(tr, 0);
    while (more) {
        struct meta_list_params p = { pre, pl, del, dl, sa, sal, page };
        struct meta_list_result r;
        size_t i;
        assert_int_equal(meta_list_objects(db, "lst", &p, &r), META_OK);
        assert_true(r.nentries <= page);
        for (i = 0; i < r.nentries; i++, got++) {
            assert_true(got < nf);
            if (r.entries[i].key_len != full[got].len ||
                memcmp(r.entries[i].key, full[got].k, full[got].len) != 0 ||
                r.entries[i].is_prefix != full[got].isp) {
                print_error("paging mismatch, seed %u, page %zu, entry %zu\n",
                            seed0, page, got);
                print_bytes("prefix", pre, pl);
                print_bytes("delimiter", del, dl);
                print_bytes("got", r.entries[i].key, r.entries[i].key_len);
                print_bytes("want", full[got].k, full[got].len);
                fail();
            }
        }
        more = r.truncated;
        if (more) {
            assert_int_equal(r.nentries, page);
            memcpy(sa, r.next_marker, r.next_marker_len);
            sal = r.next_marker_len;
        }
        meta_list_result_cleanup(&r);
    }
    assert_int_equal(got, nf);
}

static unsigned rnd(unsigned n)
{
    return (unsigned)rand_r(&seed) % n;
}

static void test_listing_model(void **state)
{
    static const char *const parts[] = {
        "a", "b", "a/", "/", "\xc3\xa9", "z", "ab", "-", "a/b/", "\xff",
        "\x7f", "\xe2\x82\xac", ".", "\x01",
    };
    static const char *const delims[] = { "", "/", "b", "a/", "\xc3",
                                           "\xff", "/b" };
    static const size_t pages[] = { 1, 2, 3, 7, 50, 1000 };
    const size_t np = sizeof(parts) / sizeof(parts[0]);
    const size_t nd = sizeof(delims) / sizeof(delims[0]);
    const char *env = getenv("COFFER_TEST_SEED");
    size_t i, j, q;
    (void)state;

    seed = env ? (unsigned)strtoul(env, NULL, 10)
               : (unsigned)time(NULL) ^ (unsigned)getpid();
    seed0 = seed;
    print_message("test_listing_model seed %u (COFFER_TEST_SEED=%u to "
                  "replay)\n", seed, seed);
    mkbucket("lst", META_VERSIONING_ENABLED);
    /* random distinct keys built from parts, so many keys are prefixes of
     * others and share delimiters; some end on a delete marker (hidden),
     * some had their marker removed or overwritten (listed again) */
    nmk = 0;
    for (i = 0; i < NKEYS; i++) {
        struct mkey *k = &mk[nmk];
        size_t n = 1 + rnd(5), len = 0;
        unsigned kind = rnd(10);
        for (j = 0; j < n; j++) {
            const char *pt = parts[rnd((unsigned)np)];
            size_t l = strlen(pt);
            if (len + l >= KMAX) break;
            memcpy(k->k + len, pt, l);
            len += l;
        }
        k->len = len;
        for (j = 0; j < nmk; j++)
            if (mk[j].len == len && memcmp(mk[j].k, k->k, len) == 0) break;
        if (j < nmk) continue;
        k->size = i;
        k->visible = 1;
        k->vid = "cur";
        if (kind < 3) {
            assert_int_equal(put_kl("lst", k->k, len, "old", 0, i, NULL),
                             META_OK);
            assert_int_equal(put_kl("lst", k->k, len, "dm", 1, 0, NULL),
                             META_OK);
            k->visible = 0;
            if (kind == 2) {
                /* the marker goes: "old" is current again */
                assert_int_equal(meta_object_delete(db, "lst", k->k, len,
                                                    NULL, NULL),
                                 META_OK);
                k->visible = 1;
                k->vid = "old";
            }
        } else {
            if (kind == 3) /* a marker first, then a real version */
                assert_int_equal(put_kl("lst", k->k, len, "dm", 1, 0, NULL),
                                 META_OK);
            assert_int_equal(put_kl("lst", k->k, len, "cur", 0, i, NULL),
                             META_OK);
        }
        nmk++;
    }
    qsort(mk, nmk, sizeof(mk[0]), mkey_cmp);
    print_message("test_listing_model: %zu keys\n", nmk);

    /* full paging equals the unpaged listing */
    for (i = 0; i < nd; i++)
        for (j = 0; j < sizeof(pages) / sizeof(pages[0]); j++) {
            check_paging("", delims[i], pages[j]);
            check_paging("a", delims[i], pages[j]);
        }
    check_paging("a/", "/", 2);
    check_paging("\xc3\xa9", "", 3);
    check_paging("\xff", "\xff", 1);
    check_paging("zz", "/", 1);

    /* random single pages: prefix, delimiter, start_after and max drawn
     * from keys, common prefixes and arbitrary strings */
    for (q = 0; q < 600; q++) {
        char pre[KMAX] = "", sa[KMAX] = "", next[KMAX];
        size_t pl = 0, sal = 0, nl, max;
        const char *del = delims[rnd((unsigned)nd)];
        const struct mkey *k = &mk[rnd((unsigned)nmk)];
        switch (rnd(4)) {
        case 0: break;
        case 1:
            pl = rnd((unsigned)k->len + 1);
            memcpy(pre, k->k, pl);
            break;
        case 2: {
            const char *pt = parts[rnd((unsigned)np)];
            pl = strlen(pt);
            memcpy(pre, pt, pl);
            break;
        }
        default:
            pre[0] = (char)('a' + rnd(3));
            pl = 1;
            break;
        }
        k = &mk[rnd((unsigned)nmk)];
        switch (rnd(5)) {
        case 0: break;
        case 1: memcpy(sa, k->k, k->len); sal = k->len; break;
        case 2: /* a key's prefix up to and including a delimiter */
            if (*del) {
                const char *d = memmem(k->k, k->len, del, strlen(del));
                if (d) {
                    sal = (size_t)(d - k->k) + strlen(del);
                    memcpy(sa, k->k, sal);
                }
            }
            break;
        case 3: /* a prefix of a key, its last byte maybe bumped */
            sal = rnd((unsigned)k->len + 1);
            memcpy(sa, k->k, sal);
            if (sal && rnd(2)) sa[sal - 1]++;
            break;
        default: /* one arbitrary byte */
            sa[0] = (char)rnd(256);
            sal = sa[0] ? 1 : 0;
            break;
        }
        max = rnd(4) == 0 ? 1 + rnd(3) : rnd(2) ? 1 + rnd(60) : rnd(1200);
        if (check_page(pre, pl, del, strlen(del), sa, sal, max, next, &nl)) {
            /* and the next page, from next_marker */
            check_page(pre, pl, del, strlen(del), next, nl, max, next, &nl);
        }
    }
    print_message("test_listing_model: done, seed %u\n", seed0);
}

/* ---- durability ---- */

static void test_reopen(void **state)
{
    struct meta_version g;
    struct meta_bucket b;
    char before[4096], hist[1024];
    int tr;
    (void)state;

    mkbucket("reo", META_VERSIONING_ENABLED);
    put("reo", "x/1", "a", 1, NULL);
    put("reo", "x/1", "b", 2, NULL);
    put("reo", "y", "c", 3, NULL);
    put_dm("reo", "y", "d");
    put("reo", "z\xc3\xa9", "e", 4, NULL);
    snprintf(before, sizeof(before), "%s",
             list_str("reo", "", "/", "", 1000, &tr, NULL, 0));
    assert_string_equal(before, "x/*,z\xc3\xa9");
    snprintf(hist, sizeof(hist), "%s", history("reo", "y"));
    meta_close(db);
    db = NULL;
    assert_int_equal(meta_open(dir, &db), META_OK);
    assert_int_equal(meta_bucket_get(db, "reo", &b), META_OK);
    assert_int_equal(b.versioning, META_VERSIONING_ENABLED);
    assert_string_equal(cur_id("reo", "x/1"), "b");
    assert_string_equal(history("reo", "x/1"), "b+,a");
    assert_string_equal(history("reo", "y"), hist);
    assert_string_equal(list_str("reo", "", "/", "", 1000, &tr, NULL, 0),
                        before);
    /* after a restart new versions still sort first */
    put("reo", "x/1", "f", 5, NULL);
    assert_string_equal(history("reo", "x/1"), "f+,b,a");
    /* a read-only instance beside the writer sees the same catalog and
     * cannot write */
    {
        struct meta_db *ro;
        assert_int_equal(meta_open_readonly(dir, &ro), META_OK);
        assert_int_equal(meta_object_get(ro, "reo", "x/1", 3, "b", &g),
                         META_OK);
        assert_int_equal(g.size, 2);
        meta_version_cleanup(&g);
        assert_int_equal(meta_audit_log(ro, 1, "{}"), META_EIO);
        meta_close(ro);
    }
    /* opening something that is not a directory fails cleanly */
    {
        struct meta_db *bad = (struct meta_db *)1;
        assert_int_equal(meta_open("/dev/null/x", &bad), META_EIO);
        assert_null(bad);
    }
}

/* A version written by a clock far ahead of ours (or before a restart on
 * a machine whose clock then stepped back) must still sort below every
 * version written later. The test rewrites a version's key raw to carry
 * a sequence from the year ~2500. */
static void test_clock_independent_order(void **state)
{
    rocksdb_options_t *o;
    rocksdb_t *raw;
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo;
    rocksdb_iterator_t *it;
    char *err = NULL;
    const char pre[] = "V/clk\0k\0"; /* see meta/meta_int.h */
    const size_t pl = sizeof(pre) - 1;
    (void)state;

    mkbucket("clk", META_VERSIONING_ENABLED);
    put("clk", "k", "future", 1, NULL);
    meta_close(db);
    db = NULL;
    o = rocksdb_options_create();
    raw = rocksdb_open(o, dir, &err);
    assert_null(err);
    ro = rocksdb_readoptions_create();
    wo = rocksdb_writeoptions_create();
    it = rocksdb_create_iterator(raw, ro);
    rocksdb_iter_seek(it, pre, pl);
    assert_true(rocksdb_iter_valid(it));
    {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        char nk[64], *cv;
        size_t cvl;
        /* UINT64_MAX - 1.7e16 us (year ~2508) */
        const char inv[] = "ffc3a3a7b2b2ffff";
        assert_int_equal(kl, pl + 16 + 6);
        assert_memory_equal(k, pre, pl);
        memcpy(nk, pre, pl);
        memcpy(nk + pl, inv, 16);
        memcpy(nk + pl + 16, "future", 6);
        rocksdb_put(raw, wo, nk, kl, v, vl, &err);
        assert_null(err);
        rocksdb_delete(raw, wo, k, kl, &err);
        assert_null(err);
        /* the current pointer names the moved key's <inv>: its last 16
         * bytes are the inv string */
        cv = rocksdb_get(raw, ro, "C/clk\0k", 7, &cvl, &err);
        assert_non_null(cv);
        memcpy(cv + cvl - 16, inv, 16);
        rocksdb_put(raw, wo, "C/clk\0k", 7, cv, cvl, &err);
        assert_null(err);
        rocksdb_free(cv);
    }
    rocksdb_iter_destroy(it);
    rocksdb_close(raw);
    rocksdb_options_destroy(o);
    rocksdb_readoptions_destroy(ro);
    rocksdb_writeoptions_destroy(wo);
    assert_int_equal(meta_open(dir, &db), META_OK);
    assert_string_equal(history("clk", "k"), "future+");
    put("clk", "k", "now", 2, NULL);
    put("clk", "k", "later", 3, NULL);
    assert_string_equal(history("clk", "k"), "later+,now,future");
    assert_int_equal(meta_object_delete(db, "clk", "k", 1, NULL, NULL),
                     META_OK);
    assert_string_equal(cur_id("clk", "k"), "now");
}

/* ---- concurrency ---- */

#define NTHREADS 4
#define NPUTS 50

struct worker {
    int id;
    const char *bucket;
    int versioned;
    int audited;
    int replaced;     /* puts that returned a replaced version */
    int fails;
};

static void *writer(void *arg)
{
    struct worker *w = arg;
    int i;
    for (i = 0; i < NPUTS; i++) {
        char key[32], event[64];
        struct meta_version v, r;
        enum meta_status st;
        memset(&v, 0, sizeof(v));
        /* odd puts all go to one shared key, even ones to our own */
        if (i % 2) snprintf(key, sizeof(key), "shared");
        else snprintf(key, sizeof(key), "own-%d", w->id);
        if (w->versioned)
            snprintf(v.version_id, sizeof(v.version_id), "w%d-%03d", w->id,
                     i);
        else
            snprintf(v.version_id, sizeof(v.version_id), "null");
        snprintf(v.data_id, sizeof(v.data_id), "w%d-%d", w->id, i);
        v.key = key;
        v.key_len = strlen(key);
        v.size = (uint64_t)i;
        snprintf(event, sizeof(event), "{\"w\":%d,\"i\":%d}", w->id, i);
        st = w->audited ? meta_object_put_audited(db, w->bucket, &v, &r, i,
                                                  event)
                        : meta_object_put(db, w->bucket, &v, &r);
        if (st != META_OK) w->fails++;
        if (r.version_id[0]) w->replaced++;
        meta_version_cleanup(&r);
        if (w->audited && i % 10 == 0 &&
            meta_audit_log(db, i, "{\"standalone\":1}") != META_OK)
            w->fails++;
    }
    return NULL;
}

struct reader {
    const char *bucket;
    atomic_int stop;
    int bad, reads;     /* the reader thread's own */
};

/* GETs of the key being overwritten must see one version or the other,
 * never a pointer without its version. */
static void *reader_fn(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(&r->stop)) {
        struct meta_version g;
        enum meta_status st = meta_object_get(db, r->bucket, "shared", 6,
                                              NULL, &g);
        if (st != META_OK && st != META_ENOTFOUND) r->bad++;
        meta_version_cleanup(&g);
        r->reads++;
    }
    return NULL;
}

static void run_writers(const char *bucket, int versioned, int audited,
                        struct worker *w)
{
    pthread_t t[NTHREADS], rt;
    struct reader rd = { .bucket = bucket };
    int i;

    atomic_init(&rd.stop, 0);
    pthread_create(&rt, NULL, reader_fn, &rd);
    for (i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].id = i;
        w[i].bucket = bucket;
        w[i].versioned = versioned;
        w[i].audited = audited;
        pthread_create(&t[i], NULL, writer, &w[i]);
    }
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].fails, 0);
    }
    atomic_store(&rd.stop, 1);
    pthread_join(rt, NULL);
    assert_int_equal(rd.bad, 0);
}

static void test_concurrent_unversioned(void **state)
{
    struct worker w[NTHREADS];
    struct meta_list_params p = { "", 0, "", 0, "", 0, 1000 };
    struct meta_list_result r;
    struct meta_versions_result vr;
    int i, replaced = 0;
    (void)state;

    mkbucket("conc", META_VERSIONING_OFF);
    run_writers("conc", 0, 0, w);
    for (i = 0; i < NTHREADS; i++) replaced += w[i].replaced;
    /* every put but the first of each key replaced exactly one version */
    assert_int_equal(replaced, NTHREADS * NPUTS - (NTHREADS + 1));
    assert_int_equal(meta_list_objects(db, "conc", &p, &r), META_OK);
    assert_int_equal(r.nentries, NTHREADS + 1);
    meta_list_result_cleanup(&r);
    /* exactly one version per key survives, and it is current */
    assert_int_equal(meta_list_versions(db, "conc", &p, NULL, &vr), META_OK);
    assert_int_equal(vr.n, NTHREADS + 1);
    for (i = 0; i < (int)vr.n; i++) assert_true(vr.entries[i].is_latest);
    meta_versions_result_cleanup(&vr);
    for (i = 0; i <= NTHREADS; i++) {
        char key[32];
        struct meta_version g;
        if (i < NTHREADS) snprintf(key, sizeof(key), "own-%d", i);
        else snprintf(key, sizeof(key), "shared");
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

/* Each writer's versions must appear newest first in its own write order
 * within the shared key's history; the newest overall is current. */
static void check_history_order(const char *bucket)
{
    struct meta_list_params p = { "shared", 6, "", 0, "", 0, 1000 };
    struct meta_versions_result vr;
    struct meta_version g;
    int last[NTHREADS], i, n = 0;

    assert_int_equal(meta_list_versions(db, bucket, &p, NULL, &vr), META_OK);
    for (i = 0; i < NTHREADS; i++) last[i] = NPUTS;
    for (i = 0; i < (int)vr.n; i++) {
        int t, seq;
        assert_int_equal(sscanf(vr.entries[i].version_id, "w%d-%d", &t,
                                &seq),
                         2);
        assert_true(t >= 0 && t < NTHREADS);
        assert_true(seq < last[t]);
        last[t] = seq;
        assert_int_equal(vr.entries[i].is_latest, i == 0);
        n++;
    }
    assert_int_equal(n, NTHREADS * NPUTS / 2);
    assert_int_equal(meta_object_get(db, bucket, "shared", 6, NULL, &g),
                     META_OK);
    assert_string_equal(g.version_id, vr.entries[0].version_id);
    meta_version_cleanup(&g);
    meta_versions_result_cleanup(&vr);
}

static void test_concurrent_versioned(void **state)
{
    struct worker w[NTHREADS];
    (void)state;
    mkbucket("concv", META_VERSIONING_ENABLED);
    run_writers("concv", 1, 0, w);
    check_history_order("concv");
}

/* Verifies the chain; the seq of the first bad entry in bad (0: intact),
 * the count in n. */
struct chain {
    uint64_t n, bad;
    unsigned char prev[32];
};

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

/* Audited commits from several threads are grouped into shared writes;
 * the chain must stay contiguous, and every commit's entry present. */
static void test_concurrent_audited(void **state)
{
    struct worker w[NTHREADS];
    struct chain c0, c;
    (void)state;

    memset(&c0, 0, sizeof(c0));
    assert_int_equal(meta_audit_foreach(db, chain_step, &c0), META_OK);
    assert_int_equal(c0.bad, 0);
    mkbucket("conca", META_VERSIONING_ENABLED);
    run_writers("conca", 1, 1, w);
    check_history_order("conca");
    memset(&c, 0, sizeof(c));
    assert_int_equal(meta_audit_foreach(db, chain_step, &c), META_OK);
    assert_int_equal(c.bad, 0);
    /* a put entry each, plus a standalone one every tenth put */
    assert_int_equal(c.n - c0.n, NTHREADS * (NPUTS + NPUTS / 10));
}

/* max_keys above 1000 is capped at 1000 (keys written by 8 threads, so
 * the 1001 synced commits share fsyncs). */
struct filler {
    int from, to;
};

static void *fill(void *arg)
{
    struct filler *f = arg;
    int i;
    for (i = f->from; i < f->to; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%05d", i);
        if (put_kl("cap", key, strlen(key), "null", 0, 1, NULL) != META_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_max_keys_cap(void **state)
{
    pthread_t t[8];
    struct filler f[8];
    struct meta_list_params p = { "", 0, "", 0, "", 0, 5000 };
    struct meta_list_result r;
    void *rv;
    int i;
    (void)state;

    mkbucket("cap", META_VERSIONING_OFF);
    for (i = 0; i < 8; i++) {
        f[i].from = i * 126;
        f[i].to = i == 7 ? 1001 : (i + 1) * 126;
        pthread_create(&t[i], NULL, fill, &f[i]);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    assert_int_equal(meta_list_objects(db, "cap", &p, &r), META_OK);
    assert_int_equal(r.nentries, 1000);
    assert_int_equal(r.truncated, 1);
    assert_string_equal(r.next_marker, "k00999");
    meta_list_result_cleanup(&r);
    p.max_keys = 1000;
    p.start_after = "k00999";
    p.start_after_len = 6;
    assert_int_equal(meta_list_objects(db, "cap", &p, &r), META_OK);
    assert_int_equal(r.nentries, 1);
    assert_int_equal(r.truncated, 0);
    assert_string_equal(r.entries[0].key, "k01000");
    meta_list_result_cleanup(&r);
}

/* ---- audit chain ---- */

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
    uint64_t n0;
    char akey[19];
    (void)state;

    memset(&c, 0, sizeof(c));
    assert_int_equal(meta_audit_foreach(db, chain_step, &c), META_OK);
    n0 = c.n;
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
    assert_int_equal(c.n, n0 + 3);
    assert_int_equal(c.bad, 0);
    {
        struct meta_version g;
        assert_int_equal(meta_object_get(db, "aud", "k", 1, NULL, &g),
                         META_OK);
        assert_int_equal(g.lock_mode, 2);
        assert_int_equal(g.retain_until_ms, 99999999999999LL);
        meta_version_cleanup(&g);
    }
    /* tamper with the "two" entry behind the catalog's back */
    meta_close(db);
    db = NULL;
    o = rocksdb_options_create();
    raw = rocksdb_open(o, dir, &err);
    assert_null(err);
    ro = rocksdb_readoptions_create();
    wo = rocksdb_writeoptions_create();
    snprintf(akey, sizeof(akey), "A/%016llx", (unsigned long long)(n0 + 2));
    val = rocksdb_get(raw, ro, akey, 18, &vl, &err);
    assert_non_null(val);
    {
        char *p = memmem(val, vl, "two", 3);
        assert_non_null(p);
        memcpy(p, "TWO", 3);
    }
    rocksdb_put(raw, wo, akey, 18, val, vl, &err);
    assert_null(err);
    rocksdb_free(val);
    rocksdb_close(raw);
    rocksdb_options_destroy(o);
    rocksdb_readoptions_destroy(ro);
    rocksdb_writeoptions_destroy(wo);
    assert_int_equal(meta_open(dir, &db), META_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(meta_audit_foreach(db, chain_step, &c), META_OK);
    assert_int_equal(c.bad, n0 + 2);
    /* appending continues the stored chain (the head is re-read) */
    assert_int_equal(meta_audit_log(db, 4000, "{\"event\":\"four\"}"),
                     META_OK);
}

struct from_ctx {
    uint64_t first, n;
};

static int from_step(const struct meta_audit_entry *e, void *arg)
{
    struct from_ctx *f = arg;
    if (f->n == 0) f->first = e->seq;
    f->n++;
    return 0;
}

/* Counters (the audit export's progress), the content hash field, and a
 * walk of the log from a given entry. */
static void test_counters_and_hash(void **state)
{
    struct meta_version v, g;
    struct from_ctx f = { 0, 0 }, all = { 0, 0 };
    uint64_t x;
    (void)state;

    assert_int_equal(meta_counter_get(db, "audit_export_done", &x), META_OK);
    assert_int_equal(x, 0);
    assert_int_equal(meta_counter_set(db, "audit_export_done", 42), META_OK);
    assert_int_equal(meta_counter_get(db, "audit_export_done", &x), META_OK);
    assert_int_equal(x, 42);
    assert_int_equal(meta_counter_get(db, "other", &x), META_OK);
    assert_int_equal(x, 0);
    /* names: a-z 0-9 _ -, 1..32; "clock" is the compliance clock's */
    assert_int_equal(meta_counter_set(db, "clock", 1), META_EINVAL);
    assert_int_equal(meta_counter_set(db, "", 1), META_EINVAL);
    assert_int_equal(meta_counter_set(db, "A/x", 1), META_EINVAL);

    mkbucket("hashed", META_VERSIONING_ENABLED);
    memset(&v, 0, sizeof(v));
    snprintf(v.version_id, sizeof(v.version_id), "vh");
    v.key = "k";
    v.key_len = 1;
    snprintf(v.sha256, sizeof(v.sha256), "%064d", 7);
    assert_int_equal(meta_object_put(db, "hashed", &v, NULL), META_OK);
    assert_int_equal(meta_object_get(db, "hashed", "k", 1, "vh", &g),
                     META_OK);
    assert_string_equal(g.sha256, v.sha256);
    meta_version_cleanup(&g);

    assert_int_equal(meta_audit_log(db, 1, "{\"event\":\"a\"}"), META_OK);
    assert_int_equal(meta_audit_log(db, 2, "{\"event\":\"b\"}"), META_OK);
    assert_int_equal(meta_audit_foreach(db, from_step, &all), META_OK);
    assert_true(all.n >= 2);
    assert_int_equal(meta_audit_foreach_from(db, all.n - 1, from_step, &f),
                     META_OK);
    assert_int_equal(f.first, all.n - 1);
    assert_int_equal(f.n, 2);
    f.n = 0;
    assert_int_equal(meta_audit_foreach_from(db, all.n + 1, from_step, &f),
                     META_OK);
    assert_int_equal(f.n, 0);
}

static void test_clock(void **state)
{
    int64_t ms;
    (void)state;
    assert_int_equal(meta_clock_get(db, &ms), META_OK);
    assert_int_equal(ms, 0);
    assert_int_equal(meta_clock_set(db, 1234567890123LL), META_OK);
    assert_int_equal(meta_clock_get(db, &ms), META_OK);
    assert_int_equal(ms, 1234567890123LL);
}

/* ---- maintenance: records, walks, checkpoints ---- */

/* A version's record (kept in shard headers) decodes to the same version,
 * lock state included; headers are dropped before the essentials when
 * space is short, and a record that cannot fit at all is refused. */
static void test_version_record(void **state)
{
    struct meta_version v, back;
    struct meta_kv kv[2] = { { "content-type", "text/x" },
                             { "x-amz-meta-big", NULL } };
    struct meta_part parts[2];
    char bucket[META_BUCKET_NAME_MAX + 1], *rec = NULL, big[600];
    size_t len, full;
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    kv[1].value = big;
    memset(&v, 0, sizeof(v));
    memset(parts, 0, sizeof(parts));
    snprintf(v.version_id, sizeof(v.version_id), "ver-1");
    snprintf(v.data_id, sizeof(v.data_id), "data-1");
    v.key = "some/key";
    v.key_len = 8;
    v.size = 12345;
    v.mtime_ms = 1700000000123;
    snprintf(v.etag, sizeof(v.etag), "0123456789abcdef0123456789abcdef-2");
    v.headers = kv;
    v.nheaders = 2;
    v.lock_mode = 2;
    v.retain_until_ms = 4102444800000; /* 2100 */
    v.legal_hold = 1;
    parts[0].number = 1;
    parts[0].size = 5 << 20;
    snprintf(parts[0].data_id, sizeof(parts[0].data_id), "p1");
    parts[1].number = 2;
    parts[1].size = 7;
    snprintf(parts[1].data_id, sizeof(parts[1].data_id), "p2");
    v.parts = parts;
    v.nparts = 2;
    assert_int_equal(meta_version_record("bkt", &v, 4000, &rec, &len),
                     META_OK);
    full = len;
    assert_int_equal(meta_version_from_record(rec, len, bucket, &back),
                     META_OK);
    free(rec);
    assert_string_equal(bucket, "bkt");
    assert_string_equal(back.version_id, "ver-1");
    assert_string_equal(back.data_id, "data-1");
    assert_memory_equal(back.key, "some/key", 8);
    assert_int_equal(back.size, 12345);
    assert_int_equal(back.mtime_ms, 1700000000123);
    assert_string_equal(back.etag, v.etag);
    assert_int_equal(back.nheaders, 2);
    assert_string_equal(back.headers[1].value, big);
    assert_int_equal(back.lock_mode, 2);
    assert_int_equal(back.retain_until_ms, 4102444800000);
    assert_int_equal(back.legal_hold, 1);
    assert_int_equal(back.nparts, 2);
    assert_string_equal(back.parts[1].data_id, "p2");
    meta_version_cleanup(&back);
    /* too little room for the headers: they go, the lock state stays */
    assert_int_equal(meta_version_record("bkt", &v, full - 100, &rec, &len),
                     META_OK);
    assert_true(len < full - 100);
    assert_int_equal(meta_version_from_record(rec, len, bucket, &back),
                     META_OK);
    free(rec);
    assert_int_equal(back.nheaders, 0);
    assert_int_equal(back.legal_hold, 1);
    assert_int_equal(back.retain_until_ms, 4102444800000);
    meta_version_cleanup(&back);
    assert_int_equal(meta_version_record("bkt", &v, 20, &rec, &len),
                     META_EINVAL);
    /* not a record */
    assert_int_equal(meta_version_from_record("XY", 2, bucket, &back),
                     META_ECORRUPT);
    assert_int_equal(meta_version_from_record("CV1\xff\xff\xff\xff", 7,
                                              bucket, &back),
                     META_ECORRUPT);
}

struct walk {
    char seen[512];
};

static int walk_cb(const char *bucket, const struct meta_version *v,
                   void *arg)
{
    struct walk *w = arg;
    size_t n = strlen(w->seen);
    snprintf(w->seen + n, sizeof(w->seen) - n, "%s/%.*s@%s%s;", bucket,
             (int)v->key_len, v->key, v->version_id,
             v->delete_marker ? "(dm)" : "");
    return 0;
}

static int stop_cb(const char *bucket, const struct meta_version *v,
                   void *arg)
{
    ++*(int *)arg;
    return 1;
}

/* Every version of every bucket, in catalog order; one bucket; stopping;
 * and a checkpoint that opens as a catalog holding the same. */
static void test_walk_and_checkpoint(void **state)
{
    struct walk w;
    struct meta_db *cp;
    char cpdir[300];
    int n = 0;
    mkbucket("walk-a", META_VERSIONING_ENABLED);
    mkbucket("walk-b", META_VERSIONING_OFF);
    put("walk-a", "k", "v1", 1, NULL);
    put("walk-a", "k", "v2", 2, NULL);
    put_dm("walk-a", "k", "v3");
    put("walk-b", "x", "null", 3, NULL);
    memset(&w, 0, sizeof(w));
    assert_int_equal(meta_version_foreach(db, "walk-a", walk_cb, &w), META_OK);
    assert_string_equal(w.seen, "walk-a/k@v3(dm);walk-a/k@v2;walk-a/k@v1;");
    memset(&w, 0, sizeof(w));
    assert_int_equal(meta_version_foreach(db, "walk-b", walk_cb, &w), META_OK);
    assert_string_equal(w.seen, "walk-b/x@null;");
    assert_int_equal(meta_version_foreach(db, NULL, stop_cb, &n), META_OK);
    assert_int_equal(n, 1);
    memset(&w, 0, sizeof(w));
    assert_int_equal(meta_version_foreach(db, "walk-nobody", walk_cb, &w),
                     META_OK);
    assert_string_equal(w.seen, "");

    snprintf(cpdir, sizeof(cpdir), "%s-ckpt", dir);
    assert_int_equal(meta_checkpoint(db, cpdir), META_OK);
    assert_int_not_equal(meta_checkpoint(db, cpdir), META_OK); /* exists */
    put("walk-b", "y", "null", 4, NULL); /* after: not in the checkpoint */
    assert_int_equal(meta_open(cpdir, &cp), META_OK);
    memset(&w, 0, sizeof(w));
    assert_int_equal(meta_version_foreach(cp, "walk-b", walk_cb, &w), META_OK);
    assert_string_equal(w.seen, "walk-b/x@null;");
    meta_close(cp);
    {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", cpdir);
        assert_int_equal(system(cmd), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_bucket_attrs),
        cmocka_unit_test(test_counters_and_hash),
        cmocka_unit_test(test_fields_roundtrip),
        cmocka_unit_test(test_key_validation),
        cmocka_unit_test(test_upload_part_checksum),
        cmocka_unit_test(test_unversioned_replace),
        cmocka_unit_test(test_versioned_history),
        cmocka_unit_test(test_delete_markers),
        cmocka_unit_test(test_checked_writes),
        cmocka_unit_test(test_listing_examples),
        cmocka_unit_test(test_listing_model),
        cmocka_unit_test(test_concurrent_unversioned),
        cmocka_unit_test(test_concurrent_versioned),
        cmocka_unit_test(test_concurrent_audited),
        cmocka_unit_test(test_max_keys_cap),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_clock_independent_order),
        cmocka_unit_test(test_audit_chain),
        cmocka_unit_test(test_version_record),
        cmocka_unit_test(test_walk_and_checkpoint),
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
