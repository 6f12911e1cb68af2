/* test_sse.c: the cryptography of server-side encryption
 * (gateway/gw_sse_crypto.c) and the stored-size rule (meta_data_size):
 * blocks round-trip; a flipped byte, a block moved to another index or
 * another data object, another salt or key all fail the tag; the nonce
 * changes with the index (no keystream reuse inside an object); data keys
 * wrap and unwrap, and refuse another master key, label or a damaged
 * blob; the SSE-C key check value.
 *
 * The master key (gateway/gw_sse_key.c): a KMS command's output format,
 * exit status, timeout and argument splitting; key ids; the upload entry;
 * rotation over a real catalog (every SSE-S3 version and upload re-wrapped,
 * SSE-C and plain records untouched, the catalog's key id switched), a
 * half-done rotation resumed, a record neither key opens stopping it with
 * the old key kept, and the start-up check refusing the other key. */
#include <ftw.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cf.h"
#include "gw.h"
#include "gw_sse.h"
#include "meta.h"

#define BS 4096 /* a small "stripe" */
#define PB (BS - GW_SSE_TAG)

static const unsigned char salt[GW_SSE_SALT] = { 1, 2, 3, 4 };
static const char *id = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

static void fill(unsigned char *b, size_t n, uint32_t seed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
}

static void keys(unsigned char dek[GW_SSE_KEY], unsigned char bk[GW_SSE_KEY])
{
    fill(dek, GW_SSE_KEY, 42);
    assert_int_equal(gw_sse_block_key(dek, id, bk), 0);
}

static void test_roundtrip(void **state)
{
    unsigned char dek[GW_SSE_KEY], bk[GW_SSE_KEY], plain[BS], buf[BS];
    size_t lens[] = { 1, 15, 16, 17, 1000, PB };
    size_t i;

    keys(dek, bk);
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i];
        fill(plain, n, (uint32_t)n);
        memcpy(buf, plain, n);
        assert_int_equal(gw_sse_seal(bk, salt, id, 7, buf, n), 0);
        assert_memory_not_equal(buf, plain, n); /* really encrypted */
        assert_int_equal(gw_sse_open(bk, salt, id, 7, buf, n + GW_SSE_TAG),
                         0);
        assert_memory_equal(buf, plain, n);
    }
    /* a block too short to hold a tag never opens */
    assert_int_not_equal(gw_sse_open(bk, salt, id, 0, buf, GW_SSE_TAG), 0);
}

static void test_tamper_and_binding(void **state)
{
    unsigned char dek[GW_SSE_KEY], bk[GW_SSE_KEY], bk2[GW_SSE_KEY];
    unsigned char plain[PB], sealed[BS], buf[BS];
    const unsigned char salt2[GW_SSE_SALT] = { 1, 2, 3, 5 };
    const char *id2 = "0a1b2c3d4e5f60718293a4b5c6d7e8fa";
    size_t i;

    keys(dek, bk);
    fill(plain, PB, 9);
    memcpy(sealed, plain, PB);
    assert_int_equal(gw_sse_seal(bk, salt, id, 3, sealed, PB), 0);
    /* any flipped byte: ciphertext or tag */
    for (i = 0; i < BS; i += 511) {
        memcpy(buf, sealed, BS);
        buf[i] ^= 0x01;
        assert_int_not_equal(gw_sse_open(bk, salt, id, 3, buf, BS), 0);
    }
    memcpy(buf, sealed, BS);
    buf[BS - 1] ^= 0x80;
    assert_int_not_equal(gw_sse_open(bk, salt, id, 3, buf, BS), 0);
    /* moved to another index (swapped / reordered blocks) */
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk, salt, id, 4, buf, BS), 0);
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk, salt, id, 2, buf, BS), 0);
    /* replayed into another data object: its AAD and its block key
     * differ; even with the right block key the AAD fails */
    assert_int_equal(gw_sse_block_key(dek, id2, bk2), 0);
    assert_memory_not_equal(bk, bk2, GW_SSE_KEY);
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk2, salt, id2, 3, buf, BS), 0);
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk, salt, id2, 3, buf, BS), 0);
    /* another version's salt */
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk, salt2, id, 3, buf, BS), 0);
    /* truncated */
    memcpy(buf, sealed, BS);
    assert_int_not_equal(gw_sse_open(bk, salt, id, 3, buf, BS - 1), 0);
    /* and the genuine block still opens */
    memcpy(buf, sealed, BS);
    assert_int_equal(gw_sse_open(bk, salt, id, 3, buf, BS), 0);
    assert_memory_equal(buf, plain, PB);
}

static void test_nonce_per_block(void **state)
{
    unsigned char dek[GW_SSE_KEY], bk[GW_SSE_KEY], a[BS], b[BS];
    keys(dek, bk);
    /* the same plaintext at two indexes: different ciphertexts, so the
     * keystream is never reused */
    memset(a, 0, PB);
    memset(b, 0, PB);
    assert_int_equal(gw_sse_seal(bk, salt, id, 0, a, PB), 0);
    assert_int_equal(gw_sse_seal(bk, salt, id, 1, b, PB), 0);
    assert_memory_not_equal(a, b, 64);
}

static void test_wrap_unwrap(void **state)
{
    unsigned char kek[GW_SSE_KEY], kek2[GW_SSE_KEY], dek[GW_SSE_KEY];
    unsigned char w[GW_SSE_WRAPPED], w2[GW_SSE_WRAPPED], back[GW_SSE_KEY];
    size_t i;

    fill(kek, sizeof(kek), 1);
    fill(kek2, sizeof(kek2), 2);
    fill(dek, sizeof(dek), 3);
    assert_int_equal(gw_sse_wrap(kek, dek, "label", w), 0);
    assert_null(memmem(w, sizeof(w), dek, 8)); /* not in the clear */
    assert_int_equal(gw_sse_unwrap(kek, w, sizeof(w), "label", back), 0);
    assert_memory_equal(back, dek, GW_SSE_KEY);
    /* a fresh IV each time */
    assert_int_equal(gw_sse_wrap(kek, dek, "label", w2), 0);
    assert_memory_not_equal(w, w2, GW_SSE_WRAPPED);
    /* another master key, another label, a damaged blob, a bad length */
    assert_int_not_equal(gw_sse_unwrap(kek2, w, sizeof(w), "label", back), 0);
    assert_int_not_equal(gw_sse_unwrap(kek, w, sizeof(w), "other", back), 0);
    for (i = 0; i < GW_SSE_WRAPPED; i += 7) {
        memcpy(w2, w, sizeof(w));
        w2[i] ^= 0x10;
        assert_int_not_equal(gw_sse_unwrap(kek, w2, sizeof(w2), "label",
                                           back), 0);
    }
    assert_int_not_equal(gw_sse_unwrap(kek, w, sizeof(w) - 1, "label", back),
                         0);
}

/* SSE-C: the stored check value recognises the key, differs for another
 * key or salt, and does not contain the key. */
static void test_key_check(void **state)
{
    unsigned char k1[GW_SSE_KEY], k2[GW_SSE_KEY], salt1[GW_SSE_KID_SALT],
        salt2[GW_SSE_KID_SALT], a[32], b[32];
    fill(k1, sizeof(k1), 11);
    fill(k2, sizeof(k2), 12);
    fill(salt1, sizeof(salt1), 13);
    fill(salt2, sizeof(salt2), 14);
    assert_int_equal(gw_sse_key_check(k1, salt1, a), 0);
    assert_int_equal(gw_sse_key_check(k1, salt1, b), 0);
    assert_memory_equal(a, b, 32);
    assert_int_equal(gw_sse_key_check(k2, salt1, b), 0);
    assert_memory_not_equal(a, b, 32);
    assert_int_equal(gw_sse_key_check(k1, salt2, b), 0);
    assert_memory_not_equal(a, b, 32);
    assert_null(memmem(a, 32, k1, 8));
}

static void test_stored_size(void **state)
{
    /* blocks of BS - 16 plaintext bytes, each + 16 */
    assert_int_equal(meta_data_size(0, BS, 1), 0);
    assert_int_equal(meta_data_size(1, BS, 1), 17);
    assert_int_equal(meta_data_size(PB, BS, 1), BS);
    assert_int_equal(meta_data_size(PB + 1, BS, 1), BS + 17);
    assert_int_equal(meta_data_size(3 * PB, BS, 1), 3 * BS);
    assert_int_equal(meta_data_size(12345, BS, 0), 12345);
}


/* ---- the master key ---- */

static const char *HEX =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void test_kms_command(void **state)
{
    unsigned char k[GW_SSE_KEY], want[GW_SSE_KEY];
    char cmd[256];
    int64_t t0;
    size_t i;
    static const char *bad[] = {
        "/bin/false",                         /* exit status 1 */
        "/bin/echo 0001",                     /* too short */
        "/bin/printf %s\\n\\n 000102030405060708090a0b0c0d0e0f10111213141516"
        "1718191a1b1c1d1e1f",                 /* two newlines */
        "/bin/echo 000102030405060708090a0b0c0d0e0f101112131415161718191a1b"
        "1c1d1e1f extra",                     /* more words printed */
        "/bin/echo zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b"
        "1c1d1e1f",                           /* not hex */
        "/bin/true",                          /* nothing printed */
        "echo 00",                            /* not an absolute path */
        "/nonexistent/kms",                   /* cannot run */
        "/usr/bin/yes",                       /* endless output */
        "",
    };

    for (i = 0; i < GW_SSE_KEY; i++) want[i] = (unsigned char)i;
    /* 64 hex digits and one newline (echo), or none (printf); the words
     * are split at spaces and tabs, no shell */
    snprintf(cmd, sizeof(cmd), "/bin/echo %s", HEX);
    assert_int_equal(gw_master_key_from_command(cmd, 5000, k), 0);
    assert_memory_equal(k, want, GW_SSE_KEY);
    memset(k, 0, sizeof(k));
    snprintf(cmd, sizeof(cmd), "  /usr/bin/printf\t%%s %s", HEX);
    assert_int_equal(gw_master_key_from_command(cmd, 5000, k), 0);
    assert_memory_equal(k, want, GW_SSE_KEY);
    /* upper-case hex is hex */
    snprintf(cmd, sizeof(cmd), "/bin/echo %s",
             "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    assert_int_equal(gw_master_key_from_command(cmd, 5000, k), 0);
    assert_memory_equal(k, want, GW_SSE_KEY);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (gw_master_key_from_command(bad[i], 5000, k) == 0) {
            print_error("accepted: %s\n", bad[i]);
            fail();
        }
    }
    /* coffer's own secrets stay out of the command's environment */
    setenv("COFFER_ROOT_SECRET_KEY", "root-secret", 1);
    {
        char script[] = "/tmp/coffer-test-kms-XXXXXX";
        FILE *f;
        int fd = mkstemp(script);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fprintf(f, "#!/bin/sh\n[ -z \"$COFFER_ROOT_SECRET_KEY\" ] || exit 9\n"
                "[ \"$KMS_TOKEN\" = t0k ] || exit 8\necho %s\n", HEX);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(script, 0700), 0);
        setenv("KMS_TOKEN", "t0k", 1);
        assert_int_equal(gw_master_key_from_command(script, 5000, k), 0);
        assert_memory_equal(k, want, GW_SSE_KEY);
        unlink(script);
        unsetenv("KMS_TOKEN");
    }
    unsetenv("COFFER_ROOT_SECRET_KEY");
    /* a command that does not answer is killed at the deadline */
    t0 = cf_monotonic_ms();
    assert_int_equal(gw_master_key_from_command("/bin/sleep 30", 200, k), -1);
    assert_true(cf_monotonic_ms() - t0 < 5000);
    /* one that answers, closes its stdout and lingers, too */
    {
        char script[] = "/tmp/coffer-test-kms-XXXXXX";
        FILE *f;
        int fd = mkstemp(script);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fprintf(f, "#!/bin/sh\necho %s\nexec >/dev/null\nexec sleep 30\n",
                HEX);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(script, 0700), 0);
        t0 = cf_monotonic_ms();
        assert_int_equal(gw_master_key_from_command(script, 300, k), -1);
        assert_true(cf_monotonic_ms() - t0 < 5000);
        unlink(script);
    }
}

static void test_key_id(void **state)
{
    unsigned char a[GW_SSE_KEY], b[GW_SSE_KEY], id8[8];
    fill(a, sizeof(a), 1);
    fill(b, sizeof(b), 2);
    assert_true(gw_master_key_id(a) != 0);
    assert_true(gw_master_key_id(a) == gw_master_key_id(a));
    assert_true(gw_master_key_id(a) != gw_master_key_id(b));
    gw_master_key_id_bytes(0x0102030405060708ull, id8);
    assert_memory_equal(id8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
}

static void test_upload_entry(void **state)
{
    struct meta_sse s, d;
    char hex[2 * GW_SSE_UPLOAD_MAX + 1], bad[2 * GW_SSE_UPLOAD_MAX + 8];
    size_t kids[] = { 0, 8, GW_SSE_KID_SALT + 32 };
    size_t i;

    for (i = 0; i < 3; i++) {
        memset(&s, 0, sizeof(s));
        s.alg = i == 2 ? META_SSE_C : META_SSE_S3;
        fill(s.salt, GW_SSE_SALT, 3);
        s.salt_len = GW_SSE_SALT;
        fill(s.wkey, GW_SSE_WRAPPED, 4);
        s.wkey_len = GW_SSE_WRAPPED;
        fill(s.kid, kids[i], 5);
        s.kid_len = kids[i];
        assert_int_equal(gw_sse_upload_encode(&s, hex), 0);
        assert_int_equal(gw_sse_upload_decode(hex, &d), 0);
        assert_int_equal(d.alg, s.alg);
        assert_memory_equal(d.salt, s.salt, GW_SSE_SALT);
        assert_memory_equal(d.wkey, s.wkey, GW_SSE_WRAPPED);
        assert_int_equal(d.kid_len, kids[i]);
        assert_memory_equal(d.kid, s.kid, kids[i]);
        /* one byte short, odd, or a bad digit */
        hex[strlen(hex) - 2] = '\0';
        assert_int_equal(gw_sse_upload_decode(hex, &d), -1);
        assert_int_equal(d.alg, 0);
    }
    /* SSE-S3 with a 48-byte kid, SSE-C with an 8-byte one, alg 7 */
    s.alg = META_SSE_S3;
    assert_int_equal(gw_sse_upload_encode(&s, hex), 0);
    assert_int_equal(gw_sse_upload_decode(hex, &d), -1);
    s.alg = META_SSE_C;
    s.kid_len = 8;
    assert_int_equal(gw_sse_upload_encode(&s, hex), 0);
    assert_int_equal(gw_sse_upload_decode(hex, &d), -1);
    s.alg = 7;
    assert_int_equal(gw_sse_upload_encode(&s, hex), 0);
    assert_int_equal(gw_sse_upload_decode(hex, &d), -1);
    s.alg = META_SSE_S3;
    assert_int_equal(gw_sse_upload_encode(&s, hex), 0);
    snprintf(bad, sizeof(bad), "%sa", hex);
    assert_int_equal(gw_sse_upload_decode(bad, &d), -1);
    hex[3] = 'g';
    assert_int_equal(gw_sse_upload_decode(hex, &d), -1);
}

/* ---- rotation over a real catalog ---- */

static char dbdir[] = "/tmp/coffer-test-sse-XXXXXX";
static struct meta_db *db;
static unsigned char k_old[GW_SSE_KEY], k_new[GW_SSE_KEY], k_other[GW_SSE_KEY];

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int db_setup(void **state)
{
    struct meta_bucket b;
    (void)state;
    memcpy(dbdir + strlen(dbdir) - 6, "XXXXXX", 6);
    if (mkdtemp(dbdir) == NULL || meta_open(dbdir, &db) != META_OK) return -1;
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "rot");
    snprintf(b.owner, sizeof(b.owner), "o");
    b.versioning = META_VERSIONING_ENABLED;
    fill(k_old, GW_SSE_KEY, 11);
    fill(k_new, GW_SSE_KEY, 12);
    fill(k_other, GW_SSE_KEY, 13);
    return meta_bucket_create(db, &b, NULL) == META_OK ? 0 : -1;
}

static int db_teardown(void **state)
{
    (void)state;
    meta_close(db);
    db = NULL;
    return nftw(dbdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* data key of record n */
static void dek_of(int n, unsigned char dek[GW_SSE_KEY])
{
    fill(dek, GW_SSE_KEY, 1000u + (uint32_t)n);
}

/* An SSE-S3 record n, wrapped by kek; with_id: it names kek's id. */
static void s3_sse(int n, const unsigned char *kek, int with_id,
                   struct meta_sse *s)
{
    unsigned char dek[GW_SSE_KEY];
    memset(s, 0, sizeof(*s));
    dek_of(n, dek);
    s->alg = META_SSE_S3;
    fill(s->salt, GW_SSE_SALT, (uint32_t)n);
    s->salt_len = GW_SSE_SALT;
    assert_int_equal(gw_sse_wrap(kek, dek, GW_SSE_AAD_S3, s->wkey), 0);
    s->wkey_len = GW_SSE_WRAPPED;
    if (with_id) {
        gw_master_key_id_bytes(gw_master_key_id(kek), s->kid);
        s->kid_len = 8;
    }
}

static void put_v(const char *key, const char *vid, const struct meta_sse *s)
{
    struct meta_version v;
    memset(&v, 0, sizeof(v));
    snprintf(v.version_id, sizeof(v.version_id), "%s", vid);
    snprintf(v.data_id, sizeof(v.data_id), "d-%s", vid);
    v.key = (char *)key;
    v.key_len = strlen(key);
    v.size = 10;
    snprintf(v.etag, sizeof(v.etag), "e");
    v.lock_mode = 2; /* a locked version is re-wrapped all the same */
    v.retain_until_ms = 4102444800000;
    if (s) v.sse = *s;
    assert_int_equal(meta_object_put(db, "rot", &v, NULL), META_OK);
}

static void put_upload(const char *key, const char *uid,
                       const struct meta_sse *s)
{
    struct meta_upload u;
    struct meta_kv kv[2];
    char hex[2 * GW_SSE_UPLOAD_MAX + 1];
    memset(&u, 0, sizeof(u));
    snprintf(u.upload_id, sizeof(u.upload_id), "%s", uid);
    u.key = (char *)key;
    u.key_len = strlen(key);
    assert_int_equal(gw_sse_upload_encode(s, hex), 0);
    kv[0].name = "content-type";
    kv[0].value = "text/plain";
    kv[1].name = GW_UPLOAD_SSE_HEADER;
    kv[1].value = hex;
    u.headers = kv;
    u.nheaders = 2;
    assert_int_equal(meta_upload_create(db, "rot", &u), META_OK);
}

/* The record's data key unwraps with kek to data key n, and the record
 * names kek. */
static void expect_v(const char *key, const char *vid,
                     const unsigned char *kek, int n)
{
    struct meta_version v;
    unsigned char dek[GW_SSE_KEY], want[GW_SSE_KEY], id8[8];
    assert_int_equal(meta_object_get(db, "rot", key, strlen(key), vid, &v),
                     META_OK);
    assert_int_equal(v.sse.alg, META_SSE_S3);
    assert_int_equal(gw_sse_unwrap(kek, v.sse.wkey, v.sse.wkey_len,
                                   GW_SSE_AAD_S3, dek), 0);
    dek_of(n, want);
    assert_memory_equal(dek, want, GW_SSE_KEY);
    gw_master_key_id_bytes(gw_master_key_id(kek), id8);
    assert_int_equal(v.sse.kid_len, 8);
    assert_memory_equal(v.sse.kid, id8, 8);
    /* the lock state is untouched */
    assert_int_equal(v.lock_mode, 2);
    assert_int_equal(v.retain_until_ms, 4102444800000);
    meta_version_cleanup(&v);
}

static void expect_upload(const char *key, const char *uid,
                          const unsigned char *kek, int n)
{
    struct meta_upload u;
    struct meta_sse s;
    unsigned char dek[GW_SSE_KEY], want[GW_SSE_KEY];
    assert_int_equal(meta_upload_get(db, "rot", key, strlen(key), uid, &u),
                     META_OK);
    assert_int_equal(u.nheaders, 2);
    assert_string_equal(u.headers[0].value, "text/plain");
    assert_int_equal(gw_sse_upload_decode(u.headers[1].value, &s), 0);
    assert_int_equal(gw_sse_unwrap(kek, s.wkey, s.wkey_len, GW_SSE_AAD_S3,
                                   dek), 0);
    dek_of(n, want);
    assert_memory_equal(dek, want, GW_SSE_KEY);
    assert_int_equal(s.kid_len, 8);
    meta_upload_cleanup(&u);
}

static void test_start_check(void **state)
{
    struct meta_sse s;
    uint64_t cur = 0;

    (void)state;
    /* nothing depends on the key yet: any key is taken and recorded */
    put_v("plain", "p1", NULL);
    assert_int_equal(gw_master_key_check(db, k_old), GW_OK);
    assert_int_equal(gw_master_key_check(db, k_new), GW_OK);
    assert_int_equal(meta_counter_get(db, "sse-master", &cur), META_OK);
    assert_true(cur == gw_master_key_id(k_new));
    /* an upload in progress under k_new: now only k_new */
    s3_sse(30, k_new, 1, &s);
    put_upload("pending", "u9", &s);
    assert_int_equal(gw_master_key_check(db, k_old), GW_EINVAL);
    assert_int_equal(gw_master_key_check(db, k_new), GW_OK);
    /* a catalog from before key ids (nothing recorded, a record without
     * an id): the key must open its records */
    assert_int_equal(meta_counter_set(db, "sse-master", 0), META_OK);
    s3_sse(31, k_new, 0, &s);
    put_v("legacy", "l1", &s);
    assert_int_equal(gw_master_key_check(db, k_other), GW_EINVAL);
    assert_int_equal(meta_counter_get(db, "sse-master", &cur), META_OK);
    assert_true(cur == 0);
    assert_int_equal(gw_master_key_check(db, k_new), GW_OK);
    assert_int_equal(meta_counter_get(db, "sse-master", &cur), META_OK);
    assert_true(cur == gw_master_key_id(k_new));
}

static int find_rotated(const struct meta_audit_entry *e, void *arg)
{
    int *found = arg;
    char want[128];
    snprintf(want, sizeof(want), "master key %016llx replaced by %016llx: 2 "
             "versions and 1 uploads",
             (unsigned long long)gw_master_key_id(k_old),
             (unsigned long long)gw_master_key_id(k_new));
    if (strstr(e->event, "\"event\":\"sse-key-rotated\"") &&
        strstr(e->event, want))
        (*found)++;
    return 0;
}

static void test_rotate(void **state)
{
    struct meta_sse s, c;
    struct meta_version v;
    struct gw_rotate_stats st;

    (void)state;
    s3_sse(1, k_old, 1, &s);
    put_v("a", "v1", &s);
    s3_sse(2, k_old, 0, &s); /* written before records named their key */
    put_v("a", "v2", &s);
    put_v("plain", "v3", NULL);
    memset(&c, 0, sizeof(c)); /* SSE-C: wrapped by the customer's key */
    c.alg = META_SSE_C;
    fill(c.salt, GW_SSE_SALT, 7);
    c.salt_len = GW_SSE_SALT;
    fill(c.wkey, GW_SSE_WRAPPED, 8);
    c.wkey_len = GW_SSE_WRAPPED;
    fill(c.kid, 48, 9);
    c.kid_len = 48;
    put_v("c", "v4", &c);
    s3_sse(5, k_old, 1, &s);
    put_upload("up", "u1", &s);
    put_upload("upc", "u2", &c);

    /* the first start records the key; another key is refused */
    assert_int_equal(gw_master_key_check(db, k_old), GW_OK);
    assert_int_equal(gw_master_key_check(db, k_new), GW_EINVAL);
    assert_int_equal(gw_master_key_check(db, k_old), GW_OK);
    /* a rotation from a key that is not the catalog's is refused */
    assert_int_equal(gw_master_key_rotate(db, k_other, k_new, &st),
                     GW_EINVAL);
    assert_int_equal(gw_master_key_rotate(db, k_old, k_old, &st), GW_EINVAL);

    assert_int_equal(gw_master_key_rotate(db, k_old, k_new, &st), GW_OK);
    assert_int_equal(st.resumed, 0);
    assert_int_equal(st.versions_rewrapped, 2);
    assert_int_equal(st.versions_current, 0);
    assert_int_equal(st.uploads_rewrapped, 1);
    assert_int_equal(st.failed, 0);
    expect_v("a", "v1", k_new, 1);
    expect_v("a", "v2", k_new, 2);
    expect_upload("up", "u1", k_new, 5);
    /* SSE-C untouched, byte for byte */
    assert_int_equal(meta_object_get(db, "rot", "c", 1, "v4", &v), META_OK);
    assert_memory_equal(v.sse.wkey, c.wkey, GW_SSE_WRAPPED);
    assert_memory_equal(v.sse.kid, c.kid, 48);
    meta_version_cleanup(&v);
    /* the audit log says so */
    {
        int found = 0;
        assert_int_equal(meta_audit_foreach(db, find_rotated, &found),
                         META_OK);
        assert_int_equal(found, 1);
    }
    /* the old key is retired */
    assert_int_equal(gw_master_key_check(db, k_old), GW_EINVAL);
    assert_int_equal(gw_master_key_check(db, k_new), GW_OK);
    /* again: nothing left to do */
    assert_int_equal(gw_master_key_rotate(db, k_old, k_new, &st), GW_OK);
    assert_int_equal(st.versions_rewrapped, 0);
    assert_int_equal(st.versions_current, 2);
    assert_int_equal(st.uploads_current, 1);
}

static void test_rotate_resume_and_stop(void **state)
{
    struct meta_sse s;
    struct gw_rotate_stats st;
    uint64_t to = 0;
    int i;
    char k[8];

    (void)state;
    /* the catalog is under k_new (test_rotate); rotate on to k_other */
    for (i = 0; i < 6; i++) {
        snprintf(k, sizeof(k), "r%d", i);
        s3_sse(10 + i, k_new, 1, &s);
        put_v(k, "v", &s);
    }
    /* half done, as a crash leaves it: the marker, and two records under
     * the new key */
    assert_int_equal(meta_counter_set(db, "sse-rotate-to",
                                      gw_master_key_id(k_other)), META_OK);
    s3_sse(10, k_other, 1, &s);
    put_v("r0", "v", &s);
    s3_sse(13, k_other, 0, &s); /* no id: recognised by the new key */
    put_v("r3", "v", &s);
    /* the server refuses to start with either key meanwhile */
    assert_int_equal(gw_master_key_check(db, k_new), GW_EINVAL);
    assert_int_equal(gw_master_key_check(db, k_other), GW_EINVAL);
    /* a rotation to a third key is refused until this one is finished */
    assert_int_equal(gw_master_key_rotate(db, k_new, k_old, &st), GW_EINVAL);

    /* a record neither key opens stops it, and the old key stays */
    s3_sse(20, k_old, 1, &s);
    put_v("stray", "v", &s);
    assert_int_equal(gw_master_key_rotate(db, k_new, k_other, &st),
                     GW_EINVAL);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.failed, 1);
    assert_int_equal(meta_counter_get(db, "sse-rotate-to", &to), META_OK);
    assert_true(to == gw_master_key_id(k_other));
    assert_int_equal(gw_master_key_check(db, k_other), GW_EINVAL);

    /* everything else was done on the way: r0 already, r3 only stamped
     * with its id, r1 r2 r4 r5, a/v1, a/v2 and the upload re-wrapped */
    assert_int_equal(st.versions_current, 1);
    assert_int_equal(st.versions_rewrapped, 5 + 2);
    assert_int_equal(st.uploads_rewrapped, 1);
    /* without the stray record, the resumed rotation finishes */
    assert_int_equal(meta_object_delete(db, "rot", "stray", 5, "v", NULL),
                     META_OK);
    assert_int_equal(gw_master_key_rotate(db, k_new, k_other, &st), GW_OK);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.versions_current, 8);
    assert_int_equal(st.versions_rewrapped, 0);
    assert_int_equal(st.uploads_current, 1);
    for (i = 0; i < 6; i++) {
        snprintf(k, sizeof(k), "r%d", i);
        expect_v(k, "v", k_other, 10 + i);
    }
    expect_v("a", "v1", k_other, 1);
    expect_upload("up", "u1", k_other, 5);
    assert_int_equal(meta_counter_get(db, "sse-rotate-to", &to), META_OK);
    assert_true(to == 0);
    assert_int_equal(gw_master_key_check(db, k_new), GW_EINVAL);
    assert_int_equal(gw_master_key_check(db, k_other), GW_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tamper_and_binding),
        cmocka_unit_test(test_nonce_per_block),
        cmocka_unit_test(test_wrap_unwrap),
        cmocka_unit_test(test_key_check),
        cmocka_unit_test(test_stored_size),
        cmocka_unit_test(test_kms_command),
        cmocka_unit_test(test_key_id),
        cmocka_unit_test(test_upload_entry),
    };
    /* in order: the second continues from the first one's catalog */
    const struct CMUnitTest rot[] = {
        cmocka_unit_test(test_rotate),
        cmocka_unit_test(test_rotate_resume_and_stop),
    };
    const struct CMUnitTest start[] = {
        cmocka_unit_test(test_start_check),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rc += cmocka_run_group_tests_name("start", start, db_setup, db_teardown);
    return rc + cmocka_run_group_tests_name("rotation", rot, db_setup,
                                            db_teardown);
}
